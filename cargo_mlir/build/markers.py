"""Markers: what `#[offload_kernel]` leaves in the compiled crate, read from
the unit's bitcode with llvmlite (not from source text).

A marker is a `#[used]` byte string global `__cargo_mlir_marker_<kind>_<name>`:
`cargo-mlir-marker/1;kernel;NAME;ENTRY;PARAM,PARAM,…;FILE:LINE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.errors import CargoMlirError

MARKER_PREFIX = "__cargo_mlir_marker_"
MARKER_MAGIC = "cargo-mlir-marker/1"

SCALAR_LLVM = {"f32": "f32", "f64": "f64", "i32": "i32", "u32": "i32", "i64": "i64", "u64": "i64",
               "usize": "i64", "isize": "i64", "bool": "i8"}

_PARAM = re.compile(r"^(?:(?P<scalar>\w+)|&(?P<mut>mut )?\[(?P<elem>\w+)(?:; (?P<len>.+))?\])$")


@dataclass(frozen=True)
class Param:
    """One kernel parameter as written in Rust, and its flattened C-ABI form."""
    text: str
    scalar: str | None = None       # f32, bool, …
    elem: str | None = None         # element type of a slice or array
    length: str | None = None       # array length (None for slices)
    mutable: bool = False


    def flat_types(self) -> tuple[str, ...]:
        """MLIR LLVM-dialect types of the entry's flattened parameters."""
        if self.scalar:
            return (SCALAR_LLVM[self.scalar],)
        return ("!llvm.ptr",) if self.length is not None else ("!llvm.ptr", "i64")


def parse_param(text: str) -> Param:
    m = _PARAM.match(text.strip())
    if not m:
        raise CargoMlirError(f"malformed kernel parameter `{text}` in a marker")
    if m["scalar"]:
        if m["scalar"] not in SCALAR_LLVM:
            raise CargoMlirError(f"unsupported kernel parameter type `{text}` in a marker")
        return Param(text, scalar=m["scalar"])
    if m["elem"] not in SCALAR_LLVM:
        raise CargoMlirError(f"unsupported element type in `{text}` in a marker")
    return Param(text, elem=m["elem"], length=m["len"], mutable=bool(m["mut"]))


@dataclass(frozen=True)
class Marker:
    kind: str            # "kernel"
    name: str            # the Rust function
    entry: str           # the C-ABI symbol the pipeline compiles
    params: tuple[Param, ...]
    file: str
    line: int

    @property
    def key(self) -> str:
        """Unique in the program (crate, name, position): for file names."""
        return self.entry.removeprefix("__cargo_mlir_kernel_")

    @property
    def flat_types(self) -> tuple[str, ...]:
        return tuple(t for p in self.params for t in p.flat_types())

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


def _split_params(text: str) -> list[str]:
    # commas inside `[T; N]` never occur (N is one expression), so split at top level
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def parse_marker(text: str) -> Marker:
    fields = text.rstrip("\0").split(";")
    # `[T; N]` contains ';' too: rejoin the parameter field
    if len(fields) < 6 or fields[0] != MARKER_MAGIC:
        raise CargoMlirError(f"unrecognised cargo-mlir marker {text!r}: the support crate and "
                             f"cargo-mlir come from different versions",
                             hint="run `cargo mlir init` again to point the crate at this cargo-mlir's support crate")
    kind, name, entry = fields[1:4]
    params_text = ";".join(fields[4:-1])
    file, _, line = fields[-1].rpartition(":")
    if not line.isdigit():      # int() would escape as a ValueError traceback
        raise CargoMlirError(f"malformed location `{fields[-1]}` in cargo-mlir marker {text!r}: expected FILE:LINE")
    params = tuple(parse_param(p) for p in _split_params(params_text))
    return Marker(kind, name, entry, params, file, int(line))


_CSTRING = re.compile(r'c"((?:[^"\\]|\\[0-9A-Fa-f]{2}|\\\\)*)"')


def _decode_c_string(body: str) -> str:
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "\\":
            if body[i + 1] == "\\":
                out.append(0x5C)
                i += 2
            else:
                out.append(int(body[i + 1:i + 3], 16))
                i += 3
        else:
            out.extend(body[i].encode())
            i += 1
    return out.decode()


def read_markers(bitcode: Path) -> list[Marker]:
    import llvmlite.binding as llvm

    try:
        module = llvm.parse_bitcode(Path(bitcode).read_bytes())
    except RuntimeError as exc:
        raise CargoMlirError(f"cannot read bitcode {bitcode}: {exc}") from None
    markers = []
    for gv in module.global_variables:
        if gv.name.startswith(MARKER_PREFIX):
            m = _CSTRING.search(str(gv))
            if m:
                markers.append(parse_marker(_decode_c_string(m.group(1))))
    return sorted(markers, key=lambda m: m.name)
