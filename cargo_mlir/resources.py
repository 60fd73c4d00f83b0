"""Where cargo-mlir's package data lives, and the support crate's stable copy.

pyproject.toml ships the top-level `templates/` and `bootstrap/` folders as the
packages `cargo_mlir._templates` and `cargo_mlir._bootstrap`. A wheel install
finds them by import; an editable install (setuptools' editable finder does not
resolve these mapped namespace packages) and a plain source checkout find them
beside the `cargo_mlir` package.

Users' Cargo.toml files point at the support crate by path. That path must not
be inside a virtual environment (recreating the venv would break every crate
that uses it), and an upgrade must not change the sources under crates that
still expect the old version. So the crate is copied once to
`<data home>/crates/cargo-mlir-<version>-<content hash>` and used from there;
versions coexist side by side.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import cargo_mlir
from cargo_mlir import __version__
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import data_home

SUPPORT_CRATE = "cargo-mlir"
STARTER = "starter"

# What makes up the support crate: manifests and Rust sources. Never target/ or
# Cargo.lock, which appear when someone builds inside the template folder.
_CRATE_FILES = ("Cargo.toml", "macros/Cargo.toml")
_CRATE_TREES = ("src", "macros/src")


def _package_data_dir(package: str, source_name: str) -> Path:
    # find_spec rather than importlib.resources.files(): the data folders have no
    # __init__.py, and for such namespace packages Python 3.11's files() returns
    # a MultiplexedPath whose str() is not a filesystem path.
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    beside = Path(cargo_mlir.__file__).resolve().parent.parent / source_name
    if beside.is_dir():
        return beside
    raise CargoMlirError(f"cargo-mlir's data folder `{source_name}` is missing "
                         f"(looked for the package {package} and {beside})",
                         hint="reinstall cargo-mlir: `pip install --force-reinstall cargo-mlir`")


def templates_dir() -> Path:
    return _package_data_dir("cargo_mlir._templates", "templates")


def bootstrap_dir() -> Path:
    return _package_data_dir("cargo_mlir._bootstrap", "bootstrap")


def starter_dir() -> Path:
    return templates_dir() / STARTER


def support_crate_files(src: Path) -> list[str]:
    """The crate's files as sorted POSIX paths relative to `src`."""
    found = [f for f in _CRATE_FILES if (src / f).is_file()]
    for tree in _CRATE_TREES:
        found += [p.relative_to(src).as_posix() for p in (src / tree).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
    if "Cargo.toml" not in found:
        raise CargoMlirError(f"the support crate template {src} has no Cargo.toml",
                             hint="reinstall cargo-mlir: `pip install --force-reinstall cargo-mlir`")
    return sorted(found)


def content_hash(src: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0")
        h.update((src / rel).read_bytes() + b"\0")
    return h.hexdigest()[:12]


def support_crate_path() -> Path:
    """The stable copy of the support crate, made on first use."""
    src = templates_dir() / SUPPORT_CRATE
    files = support_crate_files(src)
    dest = data_home() / "crates" / f"{SUPPORT_CRATE}-{__version__}-{content_hash(src, files)}"
    if dest.is_dir():
        return dest         # only ever created by the rename below, so it is complete
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, tmp / rel)
        os.chmod(tmp, 0o755)        # mkdtemp makes it 0700; other users may share the data home
        try:
            os.rename(tmp, dest)
        except OSError as exc:
            # Another cargo-mlir process made the same copy first: use theirs.
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not dest.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
