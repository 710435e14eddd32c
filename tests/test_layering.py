"""Imports flow downward only: the layer order of docs/architecture.md, checked on the source.

Every `import` / `from … import` of inv_tf/ and trainers/ is read with `ast` (function-level
ones included), so a lazy import cannot hide an upward dependency or a cycle.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Lowest first. A module may import modules of its own component and of lower layers; the
# components of one layer do not import each other.
LAYERS = (
    ("inv_tf.families", "inv_tf.catalog"),
    ("inv_tf.transforms", "inv_tf.seeds"),
    ("inv_tf.config", "inv_tf.data"),
    ("inv_tf.models", "inv_tf.export", "inv_tf.keras", "inv_tf.config_flags"),
    ("inv_tf.evaluation",),
    ("inv_tf.training",),
    ("inv_tf.experiments", "inv_tf.runs"),
    ("inv_tf",),  # The package facade (inv_tf/__init__.py: `load`, `flagfile_path`).
    ("trainers",),
)
RANK = {component: rank for rank, layer in enumerate(LAYERS) for component in layer}


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


MODULES = {_module_name(p): p for top in ("inv_tf", "trainers")
           for p in sorted((ROOT / top).rglob("*.py"))}


def _component(module: str) -> str:
  """The longest LAYERS component that `module` is or lies in."""
  parts = module.split(".")
  for n in range(len(parts), 0, -1):
    if ".".join(parts[:n]) in RANK:
      return ".".join(parts[:n])
  raise AssertionError(f"{module} is in no layer of LAYERS: add it there and to "
                       "docs/architecture.md")


def _imported_names(node) -> list | None:
  """The names an import statement imports (a `from pkg import name` counts as pkg.name when that
  is a project module, else as pkg); None for any other node."""
  if isinstance(node, ast.Import):
    return [alias.name for alias in node.names]
  if isinstance(node, ast.ImportFrom) and node.module and not node.level:
    return [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
            else node.module for alias in node.names]
  return None


def _imports(module: str) -> set:
  """The project modules `module` imports, anywhere in it."""
  found = set()
  for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
    names = _imported_names(node) or ()
    found |= {name for name in names if name.split(".")[0] in ("inv_tf", "trainers")}
  return found - {module}


GRAPH = {module: _imports(module) for module in MODULES}


def test_every_module_is_in_a_layer():
  for module in MODULES:
    _component(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_downward(module):
  source = _component(module)
  upward = sorted(target for target in GRAPH[module]
                  if _component(target) != source and RANK[_component(target)] >= RANK[source])
  assert not upward, f"{module} ({source}) imports from its own layer or above: {upward}"


def test_transforms_import_nothing_else_of_inv_tf_but_the_families():
  for module in MODULES:
    if module.startswith("inv_tf.transforms"):
      assert all(t.startswith(("inv_tf.transforms", "inv_tf.families")) for t in GRAPH[module]), (
          module)


def test_the_families_the_catalog_and_the_config_import_no_other_module_of_inv_tf():
  # They are what the trainers import before TensorFlow (tests/test_cli.py checks the imports).
  assert GRAPH["inv_tf.families"] == set()
  assert GRAPH["inv_tf.catalog"] == set()
  assert GRAPH["inv_tf.config"] == {"inv_tf.families"}


# What the trainers import before TensorFlow, to check a command line in well under a second.
TF_FREE = ("inv_tf.families", "inv_tf.catalog", "inv_tf.config", "inv_tf.config_flags",
           "inv_tf.experiments.plan", "inv_tf.training.rundir", "inv_tf.training.preflight",
           "trainers.cli", "trainers.flags", "trainers.train", "trainers.evaluate",
           "trainers.experiment")
# Packages that take seconds to import (TensorFlow and what imports it) or pull in NumPy.
HEAVY = ("tensorflow", "numpy", "keras", "tf_keras", "tensorflow_probability",
         "tensorflow_datasets")


def _import_time_imports(module: str):
  """(project modules, other packages' top-level names) that importing `module` imports: its
  imports outside function bodies (a function's own imports run when it is called)."""
  project, other = set(), set()

  def visit(node):
    for child in ast.iter_child_nodes(node):
      if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        continue
      names = _imported_names(child)
      if names is None:
        visit(child)
        continue
      for name in names:
        (project if name.split(".")[0] in ("inv_tf", "trainers") else other).add(name)

  visit(ast.parse(MODULES[module].read_text(encoding="utf-8")))
  return project, {name.split(".")[0] for name in other}


def _loaded_by(module: str) -> dict:
  """{project module: other packages it imports} for every project module that importing
  `module` runs: its imports, theirs, and the packages (`__init__`) each lies in."""
  loaded, todo = {}, [module]
  while todo:
    name = todo.pop()
    if name in loaded or name not in MODULES:
      continue
    project, loaded[name] = _import_time_imports(name)
    parts = name.split(".")
    todo += sorted(project) + [".".join(parts[:n]) for n in range(1, len(parts))]
  return loaded


@pytest.mark.parametrize("module", TF_FREE)
def test_what_the_trainers_import_before_tensorflow_imports_neither_tensorflow_nor_numpy(module):
  heavy = {name: sorted(packages & set(HEAVY)) for name, packages in _loaded_by(module).items()
           if packages & set(HEAVY)}
  assert not heavy, f"importing {module} imports {heavy}"


def test_the_import_time_check_sees_imports_through_other_modules_and_packages():
  loaded = _loaded_by("inv_tf.training.checkpoints")
  assert "tensorflow" in loaded["inv_tf.training.checkpoints"]
  assert "inv_tf.models.sgm" in loaded and "inv_tf.training" in loaded and "inv_tf" in loaded
  # inv_tf.load imports the model code when it is called, not when inv_tf is imported.
  assert "inv_tf.runs" not in _loaded_by("inv_tf")


def test_there_are_no_import_cycles():
  # Depth-first search over the module graph (a package's __init__ counts as its own module).
  state, stack = {}, []

  def visit(module):
    state[module] = "open"
    stack.append(module)
    for target in sorted(GRAPH.get(module, ())):
      if target not in MODULES:
        continue
      if state.get(target) == "open":
        cycle = stack[stack.index(target):] + [target]
        raise AssertionError("import cycle: " + " → ".join(cycle))
      if target not in state:
        visit(target)
    stack.pop()
    state[module] = "done"

  for module in sorted(MODULES):
    if module not in state:
      visit(module)


def test_test_modules_do_not_import_each_other():
  # Shared fixtures live in tests/conftest.py, shared helpers in tests/support.py.
  for path in sorted((ROOT / "tests").glob("test_*.py")):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
               else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
      assert not [n for n in names if n.split(".")[0].startswith("test_") or n == "tests"
                  or n.startswith("tests.") or n == "conftest"], f"{path.name} imports {names}"


def _tf_function_calls(tree):
  """(line, has autograph=False) of every `tf.function(...)` call or decorator in `tree`; a bare
  `@tf.function` decorator counts as a call without arguments."""
  def is_tf_function(node):
    return (isinstance(node, ast.Attribute) and node.attr == "function"
            and isinstance(node.value, ast.Name) and node.value.id == "tf")

  for node in ast.walk(tree):
    if isinstance(node, ast.Call) and is_tf_function(node.func):
      off = any(k.arg == "autograph" and isinstance(k.value, ast.Constant)
                and k.value.value is False for k in node.keywords)
      yield node.lineno, off
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      yield from ((d.lineno, False) for d in node.decorator_list if is_tf_function(d))


def test_every_tf_function_of_the_library_is_traced_without_autograph():
  # The library writes its control flow with TensorFlow ops (docs: inv_tf/training/distribute.py);
  # AutoGraph's conversion would only add tracing time, and converted code could hide a Python
  # `if` on a tensor that the library's own steps would refuse.
  found = {}
  for module, path in MODULES.items():
    for line, off in _tf_function_calls(ast.parse(path.read_text(encoding="utf-8"))):
      found[f"{module}:{line}"] = off
  assert len(found) >= 10, sorted(found)
  assert [where for where, off in found.items() if not off] == []


def test_the_autograph_check_catches_a_tf_function_with_autograph():
  source = ("@tf.function\ndef f(x): return x\n"
            "g = tf.function(f, jit_compile=True)\n"
            "h = tf.function(f, autograph=False)\n")
  assert sorted(_tf_function_calls(ast.parse(source))) == [(1, False), (3, False), (4, True)]
