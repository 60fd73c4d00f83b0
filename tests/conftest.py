"""Shared test helpers: the real CLI, fixture crates copied into a temporary
directory, and an environment without the caller's cargo/rustc settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

REPO = Path(__file__).resolve().parent.parent
SUPPORT_CRATE = REPO / "templates" / "cargo-mlir"
CLI = Path(sys.executable).parent / "cargo-mlir"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("CARGO_") and k != "CARGO_HOME") and k not in ("RUSTFLAGS", "RUSTC_WRAPPER",
                                                                                 "RUSTC_WORKSPACE_WRAPPER")
           and not k.startswith("__CARGO_MLIR")}
    env.update(extra)
    return env


def copy_crate(src: Path, dst: Path) -> Path:
    """Copy a crate without its target/ and point its cargo-mlir dependency at this checkout."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    manifest = dst / "Cargo.toml"
    doc = tomlkit.parse(manifest.read_text())
    deps = doc.get("dependencies", {})
    if "cargo-mlir" in deps:
        deps["cargo-mlir"]["path"] = str(SUPPORT_CRATE)
    manifest.write_text(tomlkit.dumps(doc))
    return dst


def write_crate(crate: Path, name: str, files: dict[str, str], crate_types: tuple[str, ...] = ()) -> Path:
    """A crate of `files` (path -> text) that uses this checkout's support crate,
    host code only; `crate_types`: its library's, when not the default."""
    lib = f"\n[lib]\ncrate-type = [{', '.join(f'{t!r}' for t in crate_types)}]\n" if crate_types else ""
    files = {"Cargo.toml": f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n{lib}\n'
                           f'[dependencies]\ncargo-mlir = {{ path = "{SUPPORT_CRATE}" }}\n\n'
                           '[package.metadata.cargo-mlir]\noffload-arch = []\n', **files}
    for path, text in files.items():
        (crate / path).parent.mkdir(parents=True, exist_ok=True)
        (crate / path).write_text(text)
    return crate


def lines(out: str, *prefixes: str) -> list[str]:
    """The lines of `out` that start with one of `prefixes`."""
    return [x for x in out.splitlines() if x.startswith(prefixes)]


def line_of(src: str, fn: str, marker: str) -> int:
    """The line of `marker` in `fn <name>(` of the Rust source `src`."""
    start = src.index(f"fn {fn}(")
    return src[:src.index(marker, start)].count("\n") + 1


def llvm(tool: str, *args: str | Path) -> str:
    """stdout of one of Debian's LLVM 22 tools (llvm-readelf, llvm-objdump, llvm-nm, …)."""
    return subprocess.run([f"/usr/lib/llvm-22/bin/{tool}", *map(str, args)], capture_output=True, text=True,
                          check=True).stdout


def run(argv: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(**env), capture_output=True,
                          text=True, timeout=600)


def mlir(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`cargo-mlir mlir ARGS…` in `cwd`, in a clean environment plus `env`."""
    return run([CLI, "mlir", *args], cwd, **env)


def host_only(crate: Path) -> Path:
    """The crate's `offload-arch` emptied: host code only."""
    manifest = crate / "Cargo.toml"
    manifest.write_text(re.sub(r"offload-arch = \[[^\]]*\]", "offload-arch = []", manifest.read_text()))
    return crate


@pytest.fixture
def cli():
    def call(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
        return run([CLI, "mlir", *args], cwd, **env)
    return call
