"""Test harness for the autodiff stage: hand-written Rust primals through the
pipeline's own front half (rustc with the device flags, llvm-extract +
internalize, mlir-translate --import-llvm), a derivative made on the imported
module, then the module lowered to a shared object that ctypes loads.

    from autodiff_harness import build, derivative, call, array, central_difference
    from cargo_mlir.pipeline.stages.autodiff.forward import differentiate_forward

    SRC = '''
    #[no_mangle]
    pub extern "C" fn __cargo_mlir_primal_sq(x: f64) -> f64 { x * x }
    '''
    d = derivative("forward", "__cargo_mlir_primal_sq", ["Dual:f64"], ret_activity="Dual")
    lib = build(SRC, d, differentiate_forward)
    primal, tangent = call(lib, d, 3.0, 1.0)       # the flat non-result parameters in order
    assert abs(tangent - central_difference(lib.primal, 3.0)) < 1e-6   # lib.primal: the primal via ctypes

Argument shorthands for `derivative`: "ACTIVITY:TYPE", TYPE one of `f64`,
`f32`, `i64`/`usize`, `i32`/`u32`, `u8`/`bool`, `slice<f64>` (pointer +
length), `ptr<f64>` (`&T`, `&mut T`, array or raw pointer). Also:
`build(text, d, f, mlir=True)` takes MLIR text instead of Rust;
`differentiate_text` only differentiates (for error tests); `Built.text` is
the module after differentiation; `array` makes ctypes arrays for pointer
parameters; `directional_difference` / `central_difference_at` / `close` for
checks. Tools: rustc from PATH with the pipeline's DEVICE_FLAGS and
panic=abort, LLVM 22 (`NAME-22` on PATH, else /usr/lib/llvm-22/bin), clang
-O2 -shared -fPIC -lm. Compiled Rust (bitcode, extracted IR)
is cached per source text and primal for the test session; every `build`
imports afresh, so a derivative never sees another test's changes.
Panic entry points (and any other undefined non-libm function) are stubbed
with `abort()` so the shared object loads; a test that panics kills the test
process, so tests call derivatives with inputs that do not panic."""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import itertools
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cargo_mlir.cargo.wrapper import DEVICE_FLAGS, PANIC_ABORT
from cargo_mlir.pipeline.stages.autodiff.spec import Arg, Derivative
from cargo_mlir.pipeline.stages.import_ import _DI_METADATA, drop_debug_intrinsics

LLVM_BIN = Path("/usr/lib/llvm-22/bin")
_WORK = Path(tempfile.mkdtemp(prefix="cargo-mlir-autodiff-tests-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)
_COUNTER = itertools.count()

# libm (and libc: the heap tape's allocator) functions the shared object may call (linked, not stubbed)
_LIBM = {f + s for f in ("tanh", "sinh", "cosh", "atan", "asin", "acos", "tan", "exp", "log", "expm1",
                         "log1p", "cbrt", "hypot", "atan2", "sin", "cos", "pow", "sqrt", "fabs", "fmod",
                         "exp2", "log2", "log10", "floor", "ceil", "trunc", "round", "fma", "fmin", "fmax")
         for s in ("", "f")} | {"memcpy", "memset", "memmove", "abort",
                                                        "malloc", "realloc", "free"}


def tool(name: str) -> str:
    """LLVM 22's `name` (the versioned binary on PATH, else Debian's directory)."""
    found = shutil.which(f"{name}-22") or (str(LLVM_BIN / name) if (LLVM_BIN / name).exists() else None)
    return found or name


def _run(argv: list, what: str) -> None:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {' '.join(map(str, argv))}\n{proc.stderr[-4000:]}")


# ------------------------------------------------------------ Rust → LLVM IR

@functools.lru_cache(maxsize=None)
def _bitcode(source: str) -> Path:
    """The source compiled as a library with the device flags (cached)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    src, bc = _WORK / f"{key}.rs", _WORK / f"{key}.bc"
    src.write_text(source)
    _run(["rustc", "--edition=2021", "--crate-type=lib", f"--crate-name=adtest_{key}", *DEVICE_FLAGS,
          *PANIC_ABORT, f"--emit=llvm-bc={bc}", "-o", _WORK / f"{key}.rlib", src], "rustc")
    return bc


@functools.lru_cache(maxsize=None)
def extracted_ll(source: str, primal: str) -> str:
    """The primal and what it reaches, internalised (as stages/extract.py does)."""
    bc = _bitcode(source)
    stem = _WORK / f"{bc.stem}.{primal}"
    _run([tool("llvm-extract"), f"--func={primal}", "--recursive", "--keep-const-init", bc, "-o",
          f"{stem}.x.bc"], "llvm-extract")
    _run([tool("opt"), "-passes=internalize,globaldce", f"-internalize-public-api-list={primal}",
          f"{stem}.x.bc", "-S", "-o", f"{stem}.ll"], "opt")
    return Path(f"{stem}.ll").read_text()


@functools.lru_cache(maxsize=None)
def _imported_text(source: str, primal: str) -> str:
    stem = _WORK / f"{hashlib.sha256((source + primal).encode()).hexdigest()[:16]}"
    Path(f"{stem}.import.ll").write_text(extracted_ll(source, primal))
    _run([tool("mlir-translate"), "--import-llvm", "--mlir-print-debuginfo", f"{stem}.import.ll", "-o",
          f"{stem}.mlir"], "mlir-translate --import-llvm")
    return _DI_METADATA.sub("fused", Path(f"{stem}.mlir").read_text())


def import_primal(source: str, primal: str):
    """A fresh `ir.Module` (in the current context) of the primal, as the
    import stage makes it."""
    from mlir import ir
    module = ir.Module.parse(_imported_text(source, primal))
    drop_debug_intrinsics(module)
    return module


# ------------------------------------------------------------ module → .so

def lower(module, exports: list[str]) -> ctypes.CDLL:
    """The module as a shared object with `exports` given external linkage;
    undefined non-libm functions become abort() stubs."""
    from mlir import ir
    n = next(_COUNTER)
    stem = _WORK / f"lib{n}"
    stubs = []
    for op in module.body.operations:
        if op.operation.name != "llvm.func":
            continue
        name = ir.StringAttr(op.operation.attributes["sym_name"]).value
        if name in exports:
            attrs = op.operation.attributes
            if "linkage" in attrs:
                attrs["linkage"] = ir.Attribute.parse("#llvm.linkage<external>")
        elif len(op.operation.regions[0].blocks) == 0 and name not in _LIBM and not name.startswith("llvm."):
            stubs.append(name)
    Path(f"{stem}.mlir").write_text(str(module))
    _run([tool("mlir-translate"), "--mlir-to-llvmir", f"{stem}.mlir", "-o", f"{stem}.ll"],
         "mlir-translate --mlir-to-llvmir")
    c = "#include <stdlib.h>\n" + "".join(
        f'void stub{i}(void) __asm__("{s}");\nvoid stub{i}(void) {{ abort(); }}\n' for i, s in enumerate(stubs))
    Path(f"{stem}.stubs.c").write_text(c)
    _run([tool("clang"), "-O2", "-shared", "-fPIC", "-Wno-override-module", f"{stem}.ll", f"{stem}.stubs.c",
          "-o", f"{stem}.so", "-lm"], "clang")
    return ctypes.CDLL(f"{stem}.so")


class Built:
    """The loaded shared object: `primal` (ctypes, typed from the derivative's
    description), `derivative` (ctypes, typed from `d.flat_types`), `text` (the
    module after differentiation)."""

    def __init__(self, lib: ctypes.CDLL, d: Derivative, text: str):
        self.lib, self.d, self.text = lib, d, text
        self.primal = getattr(lib, d.primal)
        self.primal.argtypes = [_ctype(t) for a in d.args for t in a.types]
        self.primal.restype = _ctype(d.ret) if d.ret else None
        self.derivative = getattr(lib, d.name)
        self.derivative.argtypes = [_ctype(t) for t in d.flat_types]
        self.derivative.restype = ctypes.c_uint8


def build(source: str, d: Derivative, differentiate, check=None, mlir: bool = False) -> Built:
    """Import `d.primal` from `source`, run `differentiate(module, d)`, verify,
    lower and load. `check(module)`, when given, looks at the module before
    lowering (e.g. to assert on its text). With `mlir=True`, `source` is the
    module's MLIR text itself (for ops rustc does not spell)."""
    from mlir import ir
    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(source) if mlir else import_primal(source, d.primal)
        differentiate(module, d)
        module.operation.verify()
        if check:
            check(module)
        text = str(module)
        return Built(lower(module, [d.primal, d.name]), d, text)


def differentiate_text(source: str, d: Derivative, differentiate) -> str:
    """Only differentiate (no lowering): the module's text. Errors propagate."""
    from mlir import ir
    with ir.Context(), ir.Location.unknown():
        module = import_primal(source, d.primal)
        differentiate(module, d)
        module.operation.verify()
        return str(module)


# ------------------------------------------------------------ describing and calling

_TYPES = {"f64": ("f64",), "f32": ("f32",), "i64": ("i64",), "usize": ("i64",), "i32": ("i32",), "u32": ("i32",),
          "u8": ("i8",), "bool": ("i8",)}


def arg(spec: str | Arg) -> Arg:
    """"Dual:f64", "Const:slice<f64>", "Duplicated:ptr<f32>" → an `Arg`."""
    if isinstance(spec, Arg):
        return spec
    activity, ty = spec.split(":", 1)
    if m := re.fullmatch(r"slice<(\w+)>", ty):
        return Arg(activity, ("!llvm.ptr", "i64"), _TYPES[m[1]][0])
    if m := re.fullmatch(r"ptr<(\w+)>", ty):
        return Arg(activity, ("!llvm.ptr",), _TYPES[m[1]][0])
    return Arg(activity, _TYPES[ty])


def derivative(mode: str, primal: str, args: list, ret: str | None = "f64", ret_activity: str = "Const",
               width: int = 1, name: str | None = None, tape: str = "heap") -> Derivative:
    return Derivative(mode=mode, width=width, primal=primal, name=name or primal.replace("primal", "grad"),
                      args=tuple(arg(a) for a in args), ret=_TYPES.get(ret, (ret,))[0] if ret else None,
                      ret_activity=ret_activity, what=f"`{primal}` (test)", tape=tape)


def _ctype(t: str):
    return {"f64": ctypes.c_double, "f32": ctypes.c_float, "i64": ctypes.c_int64, "i32": ctypes.c_int32,
            "i8": ctypes.c_uint8, "!llvm.ptr": ctypes.c_void_p}[t]


def array(values, ty: str = "f64"):
    """A ctypes array (pass it for a pointer parameter; read it back with list())."""
    c = _ctype(_TYPES[ty][0])
    return (c * len(values))(*values)


def call(built: Built, d: Derivative, *args) -> list:
    """Call the derivative with its non-result flat parameters `args` (in
    `d.flat_params()` order); result slots are allocated here and their values
    returned in `d.results()` order (a list, possibly empty). Asserts it returned 1."""
    slots = [_ctype(t)() for _, t in d.results()]
    n_in = len(d.flat_types) - len(slots)
    assert len(args) == n_in, f"{d.name} takes {n_in} non-result parameters, got {len(args)}"
    rc = built.derivative(*args, *[ctypes.cast(ctypes.pointer(s), ctypes.c_void_p) for s in slots])
    assert rc == 1, f"{d.name} returned {rc}"
    return [s.value for s in slots]


# ------------------------------------------------------------ numerical checks

def central_difference(f, x: float, h: float = 1e-5) -> float:
    """(f(x + h) - f(x - h)) / 2h, h relative to |x| (at least h)."""
    h = h * max(1.0, abs(x))
    return (f(x + h) - f(x - h)) / (2 * h)


def central_difference_at(f, xs: list[float], i: int, h: float = 1e-5) -> float:
    """∂f/∂xs[i] of a function of a list, by central differences."""
    step = h * max(1.0, abs(xs[i]))
    up, down = list(xs), list(xs)
    up[i] += step
    down[i] -= step
    return (f(up) - f(down)) / (2 * step)


def directional_difference(f, xs: list[float], v: list[float], h: float = 1e-5) -> float:
    """The derivative of f at xs along v (what forward mode computes), by central differences."""
    scale = max(1.0, max(abs(x) for x in xs))
    step = h * scale
    return (f([x + step * d for x, d in zip(xs, v)]) - f([x - step * d for x, d in zip(xs, v)])) / (2 * step)


def close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
