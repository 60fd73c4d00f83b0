"""What cannot run on a device: heap allocation, I/O, formatting, unknown
external functions. Each finding names the kernel, the call and, when the
IR carries debug locations, the Rust source line. Panics that need no
formatting (bounds checks, overflow, unwrap on None) are fine: on GPUs they are
recorded and raised by the launcher as Rust panics (retarget_gpu.py)."""

from __future__ import annotations

import functools
import os
import re

from cargo_mlir.abi import GRAD_PREFIX
from cargo_mlir.pipeline.stage import Context, Finding
from cargo_mlir.pipeline.stages.gpu_math import LIBM
from cargo_mlir.process import cmd

# personality: referenced, never called (panic=abort); derivatives: the autodiff stage defines them
ALWAYS_OK = re.compile(rf"^(llvm\.|cargo_mlir_gpu_|{GRAD_PREFIX}|rust_eh_personality$)")

# demangled-name patterns → what it is
# what a derivative's Rust body calls when the pipeline made no code for it: once
# the autodiff stage defines the derivative in the same module, that call is dead
NOT_BUILT = "cargo_mlir::autodiff::__not_built"
TRAPPABLE = re.compile(r"^core::(panicking::(panic_bounds_check|panic_const::|panic_nounwind|panic_cannot_unwind|panic_in_cleanup|panic$|panic_fmt$"
                       r"|panic_misaligned_pointer_dereference|panic_null_pointer_dereference)"
                       r"|slice::index::|option::unwrap_failed|option::expect_failed)")
CATEGORIES = (
    (re.compile(r"__rust_(alloc|dealloc|realloc|alloc_zeroed|no_alloc_shim)|^alloc::alloc::|handle_alloc_error"
                r"|^alloc::raw_vec::|^(malloc|calloc|realloc|free)$"), "heap allocation"),
    (re.compile(r"^std::io::|_print$|_eprint$|^(write|read|printf|puts|fwrite)$"), "I/O"),
    (re.compile(r"^core::fmt::|^alloc::fmt::|::fmt$|result::unwrap_failed"), "formatting"),
)



Loc = tuple[int, int, str, str]     # line, column, file, inlinedAt id ("" if none)


def _locations(ir: str) -> dict[str, Loc]:
    """Every DILocation, with its file as the user's crate names it: relative to
    the directory rustc ran in for the unit (the first compile unit's), and
    absolute for crates compiled elsewhere (path dependencies, whose device code
    dependencies.py linked in, name their files relative to their own directory)."""
    found = re.findall(r'^(![0-9]+) = !DIFile\(filename: "([^"]*)"(?:, directory: "([^"]*)")?', ir, re.M)
    unit_dir = found[0][2] if found else ""
    files = {i: (name if name.startswith("/") or directory in (unit_dir, "") else os.path.join(directory, name))
             for i, name, directory in found}
    scopes = {}
    for m in re.finditer(r"^(![0-9]+) = (?:distinct )?!(?:DISubprogram|DILexicalBlock\w*)\((.*)\)$", ir, re.M):
        f = re.search(r"file: (![0-9]+)", m[2])
        scopes[m[1]] = f[1] if f else ""
    locs = {}
    # inlinedAt targets are `distinct !DILocation`s: without them the chain
    # out of std stops before it reaches the user's line
    for m in re.finditer(r"^(![0-9]+) = (?:distinct )?!DILocation\(line: (\d+), column: (\d+), scope: (![0-9]+)"
                         r"(?:, inlinedAt: (![0-9]+))?", ir, re.M):
        locs[m[1]] = (int(m[2]), int(m[3]), files.get(scopes.get(m[4], ""), "?"), m[5] or "")
    return locs


def _is_library(file: str) -> bool:
    return file.startswith(("library/", "/rustc/")) or "/.cargo/registry/" in file or "/.rustup/" in file


def user_location(locs: dict[str, Loc], loc_id: str) -> str | None:
    """Follow the inlining chain out of std/core to the user's own source line."""
    seen = set()
    while loc_id in locs and loc_id not in seen:
        seen.add(loc_id)
        line, col, file, parent = locs[loc_id]
        if not _is_library(file):
            return f"{file}:{line}:{col}"
        loc_id = parent
    return None


def demangle(job: Context, names: list[str]) -> dict[str, str]:
    """Readable names for symbols: one llvm-cxxfilt run per set of names (every
    target of a kernel asks for the same ones)."""
    return dict(_demangled(job.toolchain.tool("llvm-cxxfilt"), tuple(names)))


@functools.lru_cache(maxsize=64)
def _demangled(cxxfilt: str, names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if not names:
        return ()
    out = cmd(cxxfilt).run(input="\n".join(names) + "\n").stdout.splitlines()
    # legacy Rust symbols end in ::h<16 hex>; drop it for readable messages
    return tuple((n, re.sub(r"::h[0-9a-f]{16}$", "", d)) for n, d in zip(names, out))


def classify(name: str, demangled: str, target_kind: str) -> tuple[str, str] | None:
    """(level, what) for a declared external function, None when it is fine."""
    if ALWAYS_OK.match(name) or demangled.startswith(NOT_BUILT):
        return None
    for pattern, what in CATEGORIES:
        if pattern.search(demangled) or pattern.search(name):
            return "error", what
    if TRAPPABLE.match(demangled):
        return ("warning", "panic") if target_kind != "host" else None
    if name in LIBM:       # libm: the host links it, GPU code calls the vendor's device library
        return None
    return "error", "external function with no device code"


# a global the extracted code only declares: a mutable static or a thread_local! of the
# crate (immutable statics and consts are extracted with their values)
_EXTERNAL_GLOBAL = re.compile(r'^@("[^"]+"|[\w.$-]+) = external [^\n]*?\b(thread_local\b[^\n]*?)?global\b', re.M)


def _statics(job: Context, ir: str, locs) -> list[Finding]:
    """One error per mutable static or thread-local the kernel touches, at its source lines."""
    found = [(m[1].strip('"'), bool(m[2])) for m in _EXTERNAL_GLOBAL.finditer(ir)]
    readable = demangle(job, [name for name, _ in found])
    findings = []
    for name, tls in found:
        sites = {}
        for m in re.finditer(rf'^[^\n]*@"?{re.escape(name)}\b[^\n]*?!dbg (![0-9]+)', ir, re.M):
            if not m[0].startswith("@") and (where := user_location(locs, m[1])):
                sites[where] = None
        what = re.split(r"::(?:\{\{|_\$u7b\$)", readable.get(name, name))[0]      # `krate::TL`, not its internals
        kind = "the thread_local!" if tls else "the mutable static"
        where = f" at {', '.join(sites)}" if sites else ""
        findings.append(Finding("error", f"kernel `{job.marker.name}` ({job.marker.location}) cannot run on a device: "
                                         f"it uses {kind} `{what}`{where}; a device cannot see the host's statics "
                                         f"(pass the value as an argument; immutable statics and consts work)"))
    return findings


def check(job: Context, ir: str) -> list[Finding]:
    declared = [d.strip('"') for d in re.findall(r"^declare [^@]*@(\"[^\"]+\"|[\w.$]+)\(", ir, re.M)]
    demangled = demangle(job, [d for d in declared if not ALWAYS_OK.match(d)])
    locs = _locations(ir)
    groups: dict[str, tuple[dict[str, None], dict[str, None]]] = {}   # what -> (calls, sites)
    for name in declared:
        readable = demangled.get(name, name)
        verdict = classify(name, readable, job.target.kind)
        if verdict is None:
            continue
        level, what = verdict
        if level == "warning":      # a panic: reported on GPUs (retarget_gpu.py), ordinary on the host
            continue
        calls, sites = groups.setdefault(what, ({}, {}))
        calls[readable] = None
        for m in re.finditer(rf"(?:call|invoke) [^\n]*@{re.escape(name)}\b[^\n]*?!dbg (![0-9]+)", ir):
            if where := user_location(locs, m[1]):
                sites[where] = None
    findings = _statics(job, ir, locs)
    for what, (calls, sites) in groups.items():
        where = f" at {', '.join(sites)}" if sites else ""
        names = ", ".join(f"`{c}`" for c in calls)
        findings.append(Finding("error", f"kernel `{job.marker.name}` ({job.marker.location}) cannot run on a "
                                         f"device: {what}{where} (calls {names})"))
    return findings
