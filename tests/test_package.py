"""Package metadata: the version, the licence and the changelog agree with setup.py."""

import os
import re

import inv_tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name):
  with open(os.path.join(REPO, name), encoding="utf-8") as f:
    return f.read()


def test_version_is_pep440_and_the_changelog_has_it():
  assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", inv_tf.__version__)
  release = re.match(r"\d+\.\d+\.\d+", inv_tf.__version__).group(0)
  assert f"## {release} " in _read("CHANGELOG.md")


def test_setup_reads_the_package_version_and_declares_the_licence_of_LICENSE():
  setup = _read("setup.py")
  assert "version=_version()" in setup
  assert 'license="MIT"' in setup
  assert _read("LICENSE").startswith("MIT License")


def _setup_requirements():
  """Requirement strings of setup.py's INSTALL_REQUIRES and test extra (read, not executed)."""
  import ast
  tree = ast.parse(_read("setup.py"))
  found = {}
  for node in ast.walk(tree):
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
      found[node.targets[0].id] = ast.literal_eval(node.value) if node.targets[0].id in (
          "INSTALL_REQUIRES", "EXTRAS_REQUIRE") else None
  return found["INSTALL_REQUIRES"] + found["EXTRAS_REQUIRE"]["test"]


def test_constraints_pin_every_requirement_inside_its_range():
  """setup.py gives ranges, constraints.txt the one tested version of each: every requirement is
  pinned, and each pin satisfies its range (else CI would test what users cannot install)."""
  from packaging.requirements import Requirement
  from packaging.utils import canonicalize_name
  pins = {}
  for line in _read("constraints.txt").splitlines():
    line = line.split("#")[0].strip()
    if line:
      req = Requirement(line)
      (spec,) = req.specifier
      assert spec.operator == "==", line
      pins[canonicalize_name(req.name)] = spec.version
  for text in _setup_requirements():
    req = Requirement(text)
    name = canonicalize_name(req.name)
    assert name in pins, f"{req.name} has no pin in constraints.txt"
    assert req.specifier.contains(pins[name]), (text, pins[name])


def test_readme_and_ci_install_with_the_constraints():
  readme_commands = [line for line in _read("README.md").splitlines()[:8]
                     if line.startswith("python3.11 -m venv")]
  assert len(readme_commands) == 2
  assert all("-c constraints.txt" in line for line in readme_commands)
  test_command = readme_commands[1].split(" && ")[-1]
  assert test_command in _read(".ci/run")
  assert 'pip install -e ".[test]" -c constraints.txt' in _read(".ci/run")
