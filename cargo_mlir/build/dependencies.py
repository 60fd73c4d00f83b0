"""Device code of other crates (unit scope, before the pipeline): a marked
function that calls a non-generic, non-inline function of another crate (a
workspace member, a path or a registry dependency) gets that function's code
from the crate's own device bitcode, linked into a copy of the unit's bitcode.

- Which crate: the functions the marked functions reach but the unit only
  declares, that the pipeline could not build otherwise (diagnostics.classify:
  no I/O, allocation, formatting or panics), are looked up in the symbol
  tables of the rlibs of the crates their names mention (cargo's
  `-L dependency=` directories).
- Its bitcode: the rustc command cargo ran for it, as the wrapper scripts
  recorded it (cargo/rustc_record.py), with the device flags of the unit's own
  device compile (so the profile's overflow checks hold); cached by the record
  and the rlib's content.
- A crate cargo compiled before cargo-mlir recorded how (a plain `cargo build`
  into the same target directory) is reported in `unrecorded`: the build
  removes its outputs and runs pass 1 again, once (build/command.py).

The crates are linked with `llvm-link --only-needed`, round by round, until
nothing more is found; the extract stage then takes what each function reaches.
Their mutable statics stay declarations there, so using one is the same error
as in the unit itself."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.build.markers import Marker, declared_functions, module_text
from cargo_mlir.cargo import rustc_record, units
from cargo_mlir.fsutil import sha256_file, sha256_text, write_atomic
from cargo_mlir.process import cmd
from cargo_mlir.term import Shell
from cargo_mlir.toolchain.record import Toolchain

NO_DEVICE_CODE = "external function with no device code"
_ROUNDS = 16
# the support crate is never linked: its GPU functions are the pipeline's hooks
# (defined per target), the rest of it is the host's runtime
_SUPPORT_PREFIX = f"lib{units.SUPPORT_CRATE}-"
# `krate::` at the start of a path in a demangled name
_CRATE = re.compile(r"(?:^|[<\s(&*,\[;])([A-Za-z_][A-Za-z0-9_]*)::")


@dataclass(frozen=True)
class Dependency:
    crate: str
    rlib: str
    stat: tuple[int, int]          # the rlib's mtime (ns) and size when it was linked

    def to_json(self) -> dict:
        return {"crate": self.crate, "rlib": self.rlib, "stat": list(self.stat)}


@dataclass(frozen=True)
class Linked:
    bitcode: Path                  # the unit's bitcode, or a copy with the dependencies' code
    text: str                      # its text
    dependencies: tuple[Dependency, ...] = ()
    unrecorded: tuple[Path, ...] = ()     # rlibs that define what is missing, with no record of their compile


def unchanged(recorded: list) -> bool:
    """Whether the rlibs a unit's device code was linked with are the same files
    (cargo rebuilds a unit whose dependency changed; its own bitcode may not change)."""
    try:
        return all(_stat(Path(d["rlib"])) == tuple(d["stat"]) for d in recorded)
    except (OSError, KeyError, TypeError):
        return False


def _stat(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_mtime_ns, st.st_size


def roots_of(markers: list[Marker]) -> list[str]:
    return [m.primal_entry if m.kind == "autodiff" else m.entry for m in markers]


def link(shell: Shell, state: Path, unit: units.Unit, markers: list[Marker], text: str, tc: Toolchain) -> Linked:
    unit_bitcode = Path(unit.bitcode)
    linked = Linked(unit_bitcode, text)
    dirs = [Path(d) for d in unit.dependency_dirs]
    if not dirs:
        return linked
    roots = roots_of(markers)
    deps: list[tuple[Dependency, Path]] = []
    unrecorded: list[Path] = []
    tried: set[str] = set()          # functions looked for
    for _ in range(_ROUNDS):
        missing = _missing(tc, linked.text, roots)
        if not missing or tried.issuperset(missing):
            break
        tried.update(missing)
        providers = _providers(tc, dirs, missing)
        known = {Path(d.rlib) for d, _ in deps} | set(unrecorded)
        for rlib in (r for r in providers if r not in known):
            record = rustc_record.read(state, rustc_record.stem_of(rlib))
            if record is None:
                unrecorded.append(rlib)
                continue
            bitcode = _device_bitcode(shell, state, record, rlib, unit, tc)
            if bitcode is not None:
                deps.append((Dependency(record.crate_name, str(rlib), _stat(rlib)), bitcode))
        if not any(Path(d.rlib) in providers for d, _ in deps):
            break
        # what the code linked so far still needs, from every crate found so far
        # (a crate's function may call one of a crate linked in an earlier round)
        out = units.bitcode_dir(state) / f"{unit_bitcode.stem}.linked.bc"
        tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
        cmd(tc.tool("llvm-link"), "--only-needed", linked.bitcode, *(bc for _, bc in deps), "-o", tmp).run(
            what=f"linking the device code of {', '.join(f'`{d.crate}`' for d, _ in deps)} into {unit.label}")
        os.replace(tmp, out)
        linked = Linked(out, module_text(out))
    return Linked(linked.bitcode, linked.text, tuple(d for d, _ in deps), tuple(unrecorded))


def _missing(tc: Toolchain, text: str, roots: list[str]) -> dict[str, str]:
    """name -> demangled name of each function the roots reach that has no code here."""
    from cargo_mlir.pipeline.diagnostics import ALWAYS_OK, _demangled, classify
    declared = [d for d in declared_functions(text, roots) if not ALWAYS_OK.match(d)]
    if not declared:
        return {}
    readable = dict(_demangled(tc.tool("llvm-cxxfilt"), tuple(declared)))
    return {n: readable.get(n, n) for n in declared
            if classify(n, readable.get(n, n), "host") == ("error", NO_DEVICE_CODE)}


def _providers(tc: Toolchain, dirs: list[Path], missing: dict[str, str]) -> list[Path]:
    """The rlibs in `dirs` whose code defines one of the missing functions: those
    of the crates the names mention (every rlib for a name that is not Rust's)."""
    crates: set[str] | None = set()
    for name, readable in missing.items():
        mentioned = set(_CRATE.findall(readable))
        if not mentioned or readable == name:       # `#[no_mangle]`: any crate may define it
            crates = None
            break
        crates |= mentioned
    rlibs: dict[Path, None] = {}
    for d in dirs:
        patterns = ["lib*.rlib"] if crates is None else [p for c in sorted(crates) for p in (f"lib{c}-*.rlib", f"lib{c}.rlib")]
        for pattern in patterns:
            for r in sorted(d.glob(pattern)):
                rlibs[r] = None
    wanted = set(missing)
    found = []
    for r in rlibs:
        if r.name.startswith(_SUPPORT_PREFIX):
            continue
        try:
            st = _stat(r)
        except OSError:
            continue
        if wanted & _defined(tc.tool("llvm-nm"), str(r), st):
            found.append(r)
    return found


@functools.lru_cache(maxsize=256)
def _defined(nm: str, rlib: str, stat: tuple[int, int]) -> frozenset[str]:
    result = cmd(nm, "--defined-only", "--extern-only", "--format=just-symbols", rlib).run(check=False, hint=None)
    return frozenset(line.strip() for line in result.stdout.splitlines()
                     if line.strip() and not line.endswith(":"))


def _device_bitcode(shell: Shell, state: Path, record: rustc_record.RustcRecord, rlib: Path,
                    unit: units.Unit, tc: Toolchain) -> Path | None:
    """The crate's device bitcode (None, with a warning, when rustc cannot make it)."""
    from cargo_mlir.cargo.wrapper import OPT_FLAGS, dependency_device_args, unoptimised
    out = units.bitcode_dir(state) / "deps" / f"{record.stem}.bc"
    key_file = out.with_suffix(".key")
    args = dependency_device_args(record.args, out)     # the key's; the compile writes `tmp`
    key = sha256_text(sha256_file(rustc_record.record_path(state, record.stem)), sha256_file(rlib), "\0".join(args))
    try:        # the key and the bitcode's own hash: a damaged file is made again, never linked
        if key_file.read_text() == f"{key} {sha256_file(out)}":
            return out
    except (OSError, ValueError):
        pass
    shell.status("Compiling", f"{record.crate_name} (device code, called from {unit.label})")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    result = cmd(record.rustc, *(f"--emit=llvm-bc={tmp}" if a == f"--emit=llvm-bc={out}" else a for a in args)).in_dir(Path(record.cwd)).with_env(
        **record.environ()).run(check=False, hint=None)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        shell.warn(f"the device compile of `{record.crate_name}` failed, so kernels of {unit.label} cannot call "
                   f"its functions:\n{result.stderr[-4000:].rstrip()}")
        return None
    if unoptimised(record.args):      # compiled at opt-level 0 (see dependency_device_args)
        cmd(tc.tool("opt"), *OPT_FLAGS, tmp, "-o", tmp).run(what=f"optimising the device code of `{record.crate_name}`")
    digest = sha256_file(tmp)
    os.replace(tmp, out)
    write_atomic(key_file, f"{key} {digest}")
    return out
