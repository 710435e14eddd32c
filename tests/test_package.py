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
