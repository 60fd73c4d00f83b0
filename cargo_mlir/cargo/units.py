"""What the rustc wrapper (pass 1) tells the driver: one record per compiled
unit (crate × profile × test/non-test) that uses the support crate, and the
environment through which pass 2 makes cargo rebuild exactly those units."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

# shared with the support crate's macros (read by option_env!, so a changed kernel
# library or configuration rebuilds the crate): defined in abi.py
from cargo_mlir.abi import ENV_CONFIG as CONFIG_ENV
from cargo_mlir.abi import ENV_KERNELS_PREFIX as KERNELS_ENV_PREFIX
from cargo_mlir.abi import ENV_UNIT as UNIT_ENV
from cargo_mlir.fsutil import read_json, write_atomic

SUPPORT_CRATE = "cargo_mlir"
WRAPPER_ENV = "__CARGO_MLIR_WRAPPER"       # set: cargo runs us as the rustc wrapper
STATE_ENV = "__CARGO_MLIR_STATE_DIR"
PASS_ENV = "__CARGO_MLIR_PASS"
CHAIN_ENV = "__CARGO_MLIR_CHAINED_WRAPPER"
BUILD_ENV = "__CARGO_MLIR_BUILD_ID"            # which `cargo mlir` run wrote a unit record


@dataclass(frozen=True)
class Unit:
    unit_id: str            # cargo's -C metadata value: stable per unit
    crate_name: str
    package: str
    crate_types: tuple[str, ...]
    test: bool
    bitcode: str            # device-friendly bitcode from pass 1 ("" when that compile failed)
    build_id: str = ""      # the cargo mlir run whose pass 1 wrote this record

    @property
    def label(self) -> str:
        kind = "test" if self.test else "/".join(self.crate_types) or "lib"
        return f"{self.package} ({kind} `{self.crate_name}`)"


def units_dir(state: Path) -> Path:
    return state / "units"


def bitcode_dir(state: Path) -> Path:
    return state / "bitcode"


def kernels_dir(state: Path, unit_id: str) -> Path:
    return state / "kernels" / unit_id


def library_name(unit_id: str) -> str:
    return f"cargo_mlir_kernels_{unit_id}"


def write_unit(state: Path, unit: Unit) -> None:
    write_atomic(units_dir(state) / f"{unit.unit_id}.json", json.dumps(asdict(unit), indent=1))


def read_units(state: Path) -> list[Unit]:
    out = []
    for p in sorted(units_dir(state).glob("*.json")):
        try:
            data = json.loads(p.read_text())
            data["crate_types"] = tuple(data["crate_types"])
            out.append(Unit(**data))
        except (ValueError, TypeError, KeyError):
            p.unlink()      # a record from another cargo-mlir version: pass 1 writes it again
    return out


def library_hashes(state: Path) -> dict[str, str]:
    """unit id -> content hash of its kernel library, as recorded by the driver."""
    return read_json(state / "libraries.json")


def save_library_hashes(state: Path, hashes: dict[str, str]) -> None:
    write_atomic(state / "libraries.json", json.dumps(hashes, indent=1, sort_keys=True))


def producer(source_hash: str, versions_key: str) -> str:
    """Which cargo-mlir and tools made a library: part of each library hash."""
    import hashlib
    return hashlib.sha256(f"{source_hash};{versions_key}".encode()).hexdigest()[:8]


def kernels_env(state: Path, made_by: str) -> dict[str, str]:
    """The variables that pass 1 and pass 2 both see, so an unchanged
    library leaves cargo's fingerprints alone. Libraries another cargo-mlir
    or toolchain made are left out: pass 1 then builds without them (an old
    library may not even link) and the device work replaces them."""
    return {KERNELS_ENV_PREFIX + uid: h for uid, h in library_hashes(state).items() if h.startswith(made_by + "-")}
