"""A non-editable `pip install .` ships every subpackage: pyproject.toml lists
them by hand (templates/ and bootstrap/ are mapped in as package data), so a
new subpackage that is not listed would be missing from the wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "cargo_mlir").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
