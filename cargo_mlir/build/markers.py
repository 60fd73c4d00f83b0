"""Markers: what `#[offload_kernel]`, `#[accelerate]` and the autodiff macros leave in the compiled
crate, read from the unit's bitcode with llvmlite (not from source text).
The format (one versioned string per marked function) is in `cargo_mlir.abi`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.abi import (ACCELERATE_FLAGS, AUTODIFF_MODES, ENTRY_PREFIXES, GRAD_PREFIX, MARKER_KINDS, MARKER_MAGIC,
                            MARKER_PREFIX, PRIMAL_PREFIX)
from cargo_mlir.errors import CargoMlirError

SCALAR_LLVM = {"f32": "f32", "f64": "f64", "i32": "i32", "u32": "i32", "i64": "i64", "u64": "i64",
               "usize": "i64", "isize": "i64", "bool": "i8"}

_PARAM = re.compile(r"^(?:(?P<scalar>\w+)|&(?P<mut>mut )?\[(?P<elem>\w+)(?:; (?P<len>.+))?\]"
                    r"|\*(?P<ptr>const|mut) (?P<pointee>\w+)|&(?P<refmut>mut )?(?P<referent>\w+))$")


@dataclass(frozen=True)
class Param:
    """One kernel parameter as written in Rust, and its flattened C-ABI form."""
    text: str
    scalar: str | None = None       # f32, bool, …
    elem: str | None = None         # element type of a slice or array
    length: str | None = None       # array length (None for slices)
    mutable: bool = False
    pointer: bool = False           # *const T / *mut T (accelerate functions); &T / &mut T (autodiff)

    def flat_types(self) -> tuple[str, ...]:
        """MLIR LLVM-dialect types of the entry's flattened parameters."""
        if self.scalar:
            return (SCALAR_LLVM[self.scalar],)
        return ("!llvm.ptr",) if self.length is not None or self.pointer else ("!llvm.ptr", "i64")


def parse_param(text: str) -> Param:
    m = _PARAM.match(text.strip())
    if not m:
        raise CargoMlirError(f"malformed kernel parameter `{text}` in a marker")
    if m["ptr"]:
        if m["pointee"] not in SCALAR_LLVM:
            raise CargoMlirError(f"unsupported pointee type in `{text}` in a marker")
        return Param(text, elem=m["pointee"], mutable=m["ptr"] == "mut", pointer=True)
    if m["referent"]:
        if m["referent"] not in SCALAR_LLVM:
            raise CargoMlirError(f"unsupported referent type in `{text}` in a marker")
        return Param(text, elem=m["referent"], mutable=bool(m["refmut"]), pointer=True)
    if m["scalar"]:
        if m["scalar"] not in SCALAR_LLVM:
            raise CargoMlirError(f"unsupported kernel parameter type `{text}` in a marker")
        return Param(text, scalar=m["scalar"])
    if m["elem"] not in SCALAR_LLVM:
        raise CargoMlirError(f"unsupported element type in `{text}` in a marker")
    return Param(text, elem=m["elem"], length=m["len"], mutable=bool(m["mut"]))


@dataclass(frozen=True)
class Marker:
    kind: str            # "kernel" | "accelerate" | "autodiff"
    name: str            # the Rust function (autodiff: the derivative)
    entry: str           # the C-ABI symbol the pipeline compiles
    params: tuple[Param, ...]
    file: str
    line: int
    ret: str | None = None              # scalar return type (accelerate, autodiff's primal)
    flags: tuple[str, ...] = ()         # accelerate options: exact, reassociate;
                                        # autodiff: MODE, WIDTH, PRIMAL, activities…, return activity

    @property
    def key(self) -> str:
        """Unique in the program (crate, name, position): for file names."""
        return self.entry.removeprefix(ENTRY_PREFIXES[self.kind])

    @property
    def ret_type(self) -> str | None:
        """The entry's MLIR result type (None: returns nothing)."""
        return SCALAR_LLVM[self.ret] if self.ret else None

    @property
    def flat_types(self) -> tuple[str, ...]:
        return tuple(t for p in self.params for t in p.flat_types())

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    # autodiff markers (docs/autodiff.md)
    @property
    def mode(self) -> str:
        return self.flags[0]

    @property
    def width(self) -> int:
        return int(self.flags[1])

    @property
    def primal_name(self) -> str:
        return self.flags[2]

    @property
    def activities(self) -> tuple[str, ...]:
        """One per primal parameter, then the return's."""
        return self.flags[3:]

    @property
    def primal_entry(self) -> str:
        return PRIMAL_PREFIX + self.key


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
    if len(fields) < 8 or fields[0] != MARKER_MAGIC:
        raise CargoMlirError(f"unrecognised cargo-mlir marker {text!r}: the support crate and "
                             f"cargo-mlir come from different versions",
                             hint="run `cargo mlir init` again to point the crate at this cargo-mlir's support crate")
    kind, name, entry = fields[1:4]
    if kind not in MARKER_KINDS:
        raise CargoMlirError(f"unknown marker kind `{kind}` in {text!r}: the support crate is newer than this "
                             f"cargo-mlir (kinds: {', '.join(MARKER_KINDS)})")
    params_text, ret, flags = ";".join(fields[4:-3]), fields[-3], fields[-2]
    file, _, line = fields[-1].rpartition(":")
    if not line.isdigit():      # int() would escape as a ValueError traceback
        raise CargoMlirError(f"malformed location `{fields[-1]}` in cargo-mlir marker {text!r}: expected FILE:LINE")
    if ret and ret not in SCALAR_LLVM:
        raise CargoMlirError(f"unsupported return type `{ret}` in cargo-mlir marker {text!r}")
    flag_list = tuple(f for f in flags.split(",") if f)
    params = tuple(parse_param(p) for p in _split_params(params_text))
    if kind == "autodiff":
        _check_autodiff(flag_list, len(params), text)
    else:
        for f in flag_list:
            if f not in ACCELERATE_FLAGS:
                raise CargoMlirError(f"unknown option `{f}` in cargo-mlir marker {text!r}")
    return Marker(kind, name, entry, params, file, int(line), ret or None, flag_list)


_ACTIVITIES = ("Const", "Active", "ActiveOnly", "Duplicated", "DuplicatedOnly", "Dual", "DualOnly")


def _check_autodiff(flags: tuple[str, ...], n_params: int, text: str) -> None:
    ok = (len(flags) == 4 + n_params and flags[0] in AUTODIFF_MODES and flags[1].isdigit() and int(flags[1]) >= 1
          and all(a in _ACTIVITIES for a in flags[3:]))
    if not ok:
        raise CargoMlirError(f"malformed autodiff marker {text!r}: the support crate and cargo-mlir come from "
                             "different versions",
                             hint="run `cargo mlir init` again to point the crate at this cargo-mlir's support crate")


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


def read_unit(bitcode: Path) -> tuple[list[Marker], dict[str, str]]:
    """The markers of a unit's bitcode, and for each entry a fingerprint of the
    code it reaches: equal fingerprints mean the function need not be extracted,
    imported or raised again."""
    markers, text = read_module(bitcode)
    return markers, fingerprints(text, markers)


def read_module(bitcode: Path) -> tuple[list[Marker], str]:
    """The markers of a bitcode file, and its text ("" when it has none)."""
    module = _parse(bitcode)
    markers = []
    for gv in module.global_variables:
        if gv.name.startswith(MARKER_PREFIX):
            m = _CSTRING.search(str(gv))
            if m:
                markers.append(parse_marker(_decode_c_string(m.group(1))))
    markers.sort(key=lambda m: m.name)
    return markers, str(module) if markers else ""


def module_text(bitcode: Path) -> str:
    return str(_parse(bitcode))


def _parse(bitcode: Path):
    import llvmlite.binding as llvm

    try:
        return llvm.parse_bitcode(Path(bitcode).read_bytes())
    except RuntimeError as exc:
        raise CargoMlirError(f"cannot read bitcode {bitcode}: {exc}") from None


def fingerprints(text: str, markers: list[Marker]) -> dict[str, str]:
    """`fingerprint` of each marked function (the module's tables made once)."""
    tables = _entities(text), _metadata(text)
    return {m.entry: fingerprint(text, m.entry, tables) for m in markers}


def read_markers(bitcode: Path) -> list[Marker]:
    return read_unit(bitcode)[0]


# a definition runs to its closing `}` line; a declaration or a global is one line
_ENTITY = re.compile(r'^define [^\n]*?@(?P<fn>"[^"]+"|[\w.$-]+)\(.*?^}$'
                     r'|^declare [^\n]*?@(?P<decl>"[^"]+"|[\w.$-]+)\([^\n]*$'
                     r'|^@(?P<gv>"[^"]+"|[\w.$-]+) = [^\n]*$', re.M | re.S)
_REF = re.compile(r'@("[^"]+"|[\w.$-]+)')
_META = re.compile(r"^!(\d+) = (.*)$", re.M)
_META_REF = re.compile(r"!(\d+)\b")


def _entities(module_text: str) -> dict[str, str]:
    return {(m["fn"] or m["decl"] or m["gv"]).strip('"'): m.group(0) for m in _ENTITY.finditer(module_text)}


def _reached(entities: dict[str, str], roots: list[str]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in entities:
            continue
        seen.add(name)
        todo.extend(r.strip('"') for r in _REF.findall(entities[name]))
        if name.startswith(GRAD_PREFIX):    # the pipeline makes a derivative from its primal
            todo.append(PRIMAL_PREFIX + name.removeprefix(GRAD_PREFIX))
    return seen


def _metadata(module_text: str) -> dict[str, str]:
    return {m[1]: m[2] for m in _META.finditer(module_text)}


def fingerprint(module_text: str, entry: str, tables: tuple[dict, dict] | None = None) -> str:
    """sha256 of the entry and everything it reaches (functions, globals, and
    the metadata they name, resolved one level, so renumbered nodes elsewhere in
    the crate do not change it). `tables`: the module's `_entities` and
    `_metadata`, when the caller has them."""
    import hashlib

    entities, meta = tables or (_entities(module_text), _metadata(module_text))
    h = hashlib.sha256()
    for name in sorted(_reached(entities, [entry])):
        body = _META_REF.sub(lambda r: "!{" + _META_REF.sub("!_", meta.get(r[1], "")) + "}", entities[name])
        h.update(body.encode())
    return h.hexdigest()


def declared_functions(module_text: str, roots: list[str]) -> list[str]:
    """The functions the roots reach that the module only declares."""
    entities = _entities(module_text)
    return sorted(n for n in _reached(entities, roots) if entities[n].startswith("declare "))
