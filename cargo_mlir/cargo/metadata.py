"""`cargo metadata`, and the environment of the two cargo passes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.cargo import units
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.process import cmd

@dataclass(frozen=True)
class Package:
    name: str
    manifest_path: Path
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Metadata:
    workspace_root: Path
    target_directory: Path
    packages: tuple[Package, ...]
    workspace_metadata: dict


def metadata(manifest_path: Path | None, cwd: Path | None = None) -> Metadata:
    c = cmd("cargo", "metadata", "--format-version", "1", "--no-deps")
    if manifest_path:
        c = c.arg("--manifest-path", manifest_path)
    if cwd:
        c = c.in_dir(cwd)
    result = c.run(check=False, hint=None)
    if result.returncode != 0:
        raise CargoMlirError(f"`cargo metadata` failed:\n{result.stderr.strip()}",
                             hint="run it in a crate directory, or pass --manifest-path path/to/Cargo.toml")
    data = json.loads(result.stdout)
    packages = tuple(
        Package(p["name"], Path(p["manifest_path"]), p.get("metadata") or {})
        for p in data["packages"])
    return Metadata(Path(data["workspace_root"]), Path(data["target_directory"]), packages,
                    data.get("metadata") or {})


def rustc_wrapper_env(wrapper: Path, state: Path, pass_no: int, kernels_env: dict[str, str]) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "RUSTC_WORKSPACE_WRAPPER": str(wrapper), units.WRAPPER_ENV: "1",
        units.STATE_ENV: str(state), units.PASS_ENV: str(pass_no), **kernels_env,
    }
    existing = os.environ.get("RUSTC_WORKSPACE_WRAPPER")
    if existing and existing != str(wrapper):
        env[units.CHAIN_ENV] = existing      # keep the user's own wrapper in the chain
    return env
