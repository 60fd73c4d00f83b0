"""Talking to cargo: our flags apart from cargo's (which pass through in
order, everything after `--` untouched), `cargo metadata`, and the
environment of the two passes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.process import cmd

OUR_VALUE_FLAGS = ("--emit-ir", "--offload-arch")
OUR_BOOL_FLAGS = ("--print-pipeline",)


@dataclass(frozen=True)
class Args:
    command: str                        # build | run | test
    cargo_args: tuple[str, ...]         # forwarded to cargo, before `--`
    trailing: tuple[str, ...] = ()      # after `--`, untouched
    emit_ir: Path | None = None
    offload_arch: tuple[str, ...] | None = None
    print_pipeline: bool = False
    verbosity: int = 0
    color: str = "auto"
    manifest_path: Path | None = None
    target_dir: Path | None = None
    help: bool = False


def _value(args: list[str], i: int, flag: str) -> tuple[str, int]:
    a = args[i]
    if a.startswith(flag + "="):
        return a[len(flag) + 1:], i + 1
    if i + 1 >= len(args):
        raise CargoMlirError(f"`{flag}` needs a value")
    return args[i + 1], i + 2


def parse_args(command: str, argv: list[str]) -> Args:
    head, tail = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    forward: list[str] = []
    found: dict = {"verbosity": 0}
    i = 0
    while i < len(head):
        a = head[i]
        name = a.split("=", 1)[0]
        if name in OUR_VALUE_FLAGS:
            v, i = _value(head, i, name)
            if name == "--emit-ir":
                found["emit_ir"] = Path(v).resolve()
            else:
                found["offload_arch"] = tuple(x for x in v.split(",") if x)
            continue
        if a in OUR_BOOL_FLAGS:
            found["print_pipeline"] = True
            i += 1
            continue
        if a in ("-h", "--help"):
            found["help"] = True
        elif a in ("-q", "--quiet"):
            found["verbosity"] = -1
        elif a.startswith("-v") and set(a[1:]) == {"v"}:
            found["verbosity"] += len(a) - 1
        elif a == "--verbose":
            found["verbosity"] += 1
        elif name in ("--manifest-path", "--target-dir", "--color"):
            v, nxt = _value(head, i, name)
            key = {"--manifest-path": "manifest_path", "--target-dir": "target_dir", "--color": "color"}[name]
            found[key] = v if key == "color" else Path(v).resolve()
            forward.extend(head[i:nxt])
            i = nxt
            continue
        forward.append(a)
        i += 1
    return Args(command, tuple(forward), tuple(tail), **found)


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
    from cargo_mlir import units
    from cargo_mlir.cli import WRAPPER_ENV

    env: dict[str, str | None] = {
        "RUSTC_WORKSPACE_WRAPPER": str(wrapper), WRAPPER_ENV: "1",
        units.STATE_ENV: str(state), units.PASS_ENV: str(pass_no), **kernels_env,
    }
    existing = os.environ.get("RUSTC_WORKSPACE_WRAPPER")
    if existing and existing != str(wrapper):
        env[units.CHAIN_ENV] = existing      # keep the user's own wrapper in the chain
    return env
