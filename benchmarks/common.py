"""What the benchmark scripts share: where cargo-mlir is, and an environment
without the caller's cargo and cargo-mlir settings."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUPPORT = REPO / "templates" / "cargo-mlir"


def cli() -> Path:
    """The cargo-mlir entry point of this interpreter's environment (else the repo's venv)."""
    for c in (Path(sys.executable).parent / "cargo-mlir", REPO / ".venv" / "bin" / "cargo-mlir"):
        if c.exists():
            return c
    found = shutil.which("cargo-mlir")
    if not found:
        raise SystemExit("cargo-mlir not found: run with .venv/bin/python or put .venv/bin on PATH")
    return Path(found)


CLI = cli()


def write_manifest(crate: Path, name: str, arches: tuple[str, ...] = ()) -> None:
    """A Cargo.toml for a generated benchmark crate using this checkout's support crate."""
    listed = ", ".join(f'"{a}"' for a in arches)
    (crate / "Cargo.toml").write_text(f"""[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
cargo-mlir = {{ path = "{SUPPORT}" }}

[package.metadata.cargo-mlir]
offload-arch = [{listed}]
""")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without cargo's and cargo-mlir's knobs (CARGO_HOME
    kept), cargo-mlir's bin directory first on PATH, unbuffered Python output."""
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("CARGO_") and k != "CARGO_HOME") and k != "RUSTFLAGS"
         and not k.startswith("__CARGO_MLIR")}
    e["PATH"] = f"{CLI.parent}{os.pathsep}{e.get('PATH', '')}"
    e["PYTHONUNBUFFERED"] = "1"
    return {**e, **(extra or {})}


def copy_crate(src: Path, dst: Path) -> Path:
    """A crate (a sample) without its target/ and lock file, its cargo-mlir dependency
    pointed at this checkout's support crate."""
    import re
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    manifest = dst / "Cargo.toml"
    manifest.write_text(re.sub(r'cargo-mlir = \{ path = "[^"]*" \}', f'cargo-mlir = {{ path = "{SUPPORT}" }}',
                               manifest.read_text()))
    return dst
