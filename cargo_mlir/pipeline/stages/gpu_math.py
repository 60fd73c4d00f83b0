"""Float math in GPU code (part of stage `retarget` for GPUs).

rustc's IR uses LLVM intrinsics (`llvm.intr.exp`, `llvm.intr.fabs`, …), the
`frem` instruction for `%`, and libm calls for the rest (`tanhf`, `atan2`, …).
The GPU lowerings (`convert-gpu-to-nvvm`, `convert-gpu-to-rocdl`) reject most
of the intrinsics, and a GPU has no libm. Here:

- the intrinsics every GPU backend selects to correctly rounded instructions
  (`NATIVE`: abs, copysign, fma, min/max, floor, ceil, trunc, round, sqrt) stay
  intrinsics, as `llvm.call_intrinsic` (which the lowerings leave alone);
- everything else (`LIBRARY`: exp, ln, powf, sin, tanh, `%`, …) becomes a call
  to the vendor's device library: CUDA's libdevice (`__nv_expf`) on NVIDIA,
  ROCm's OCML (`__ocml_exp_f32`) on AMD. Stage `serialize` links the library
  (`check_library`, below, checks it has what the chip needs); the toolchain
  record says where it is (`cargo mlir doctor`, `toolchain/tools.py`).

docs/gpu-math.md states each function's accuracy on each target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.errors import CargoMlirError

# LLVM intrinsics both backends select natively, correctly rounded
NATIVE = frozenset("fabs copysign fma fmuladd minnum maxnum minimum maximum minimumnum maximumnum floor ceil trunc "
                   "round roundeven rint nearbyint sqrt".split())

# canonical name -> (libdevice base, OCML base); libdevice's f32 variant adds `f`
LIBRARY = {name: (name, name) for name in
           "exp exp2 exp10 expm1 log log2 log10 log1p pow sin cos tan asin acos atan atan2 sinh cosh tanh "
           "asinh acosh atanh hypot cbrt fmod erf erfc tgamma lgamma".split()}
LIBRARY["powi"] = ("powi", "pown")
# the libm functions (and their `f` variants) among them: the host links libm for these
LIBM = frozenset(n for name in LIBRARY if name != "powi" for n in (name, name + "f"))
# intrinsics and instructions that mean a LIBRARY function of another name
_ALIASES = {"frem": "fmod"}
# the same functions as raised code has them (math and arith ops)
_STRUCTURED = {"math.absf": "fabs", "math.copysign": "copysign", "math.fma": "fma", "math.floor": "floor",
               "math.ceil": "ceil", "math.trunc": "trunc", "math.round": "round", "math.roundeven": "roundeven",
               "math.sqrt": "sqrt", "arith.maxnumf": "maxnum", "arith.minnumf": "minnum",
               "arith.maximumf": "maximum", "arith.minimumf": "minimum",
               "math.powf": "pow", "math.fpowi": "powi", "arith.remf": "fmod",
               **{f"math.{n}": n for n in LIBRARY}}

# how Rust code spells the functions whose C names differ (messages)
RUST_NAMES = {"log": "ln", "log1p": "ln_1p", "expm1": "exp_m1", "pow": "powf", "fmod": "% (rem)",
              "tgamma": "gamma", "lgamma": "ln_gamma"}

# where each target's library comes from (toolchain keys in toolchain/tools.py)
LIBRARY_KEY = {"nvptx": "libdevice", "amdgpu": "rocm-device-libs"}


def library_function(name: str) -> str | None:
    """The canonical LIBRARY name of a libm function (`tanhf` -> `tanh`), or None."""
    if name not in LIBM:
        return None
    return name if name in LIBRARY else name[:-1]


def device_name(kind: str, name: str, elem: str) -> str:
    """`__nv_tanhf`, `__ocml_tanh_f32`, … for canonical `name` on element type f32/f64."""
    nv, ocml = LIBRARY[name]
    if kind == "nvptx":
        return f"__nv_{nv}" + ("f" if elem == "f32" else "")
    return f"__ocml_{ocml}_{elem}"


@dataclass(frozen=True)
class MathUse:
    """What `rewrite` did to one module: the device-library functions it calls
    (empty: nothing to link) and the Rust-level names, for messages."""
    functions: frozenset[str]
    names: frozenset[str]

    def rust_names(self) -> str:
        """`exp, ln, tanh`: the functions as the Rust code calls them."""
        return ", ".join(sorted(RUST_NAMES.get(n, n) for n in self.names))


def _element(t) -> str:
    from mlir import ir
    if isinstance(t, ir.VectorType):
        return str(ir.VectorType(t).element_type)
    return str(t)


def _mangle(t) -> str:
    """LLVM's overload suffix for a float or vector type: f32, v4f64."""
    from mlir import ir
    if isinstance(t, ir.VectorType):
        v = ir.VectorType(t)
        return f"v{v.shape[0]}{v.element_type}"
    return str(t)


def _callee(op) -> str | None:
    from mlir import ir
    if op.name == "llvm.call" and "callee" in op.attributes:
        return ir.FlatSymbolRefAttr(op.attributes["callee"]).value
    return None


def _target_function(op, externals: set[str]) -> tuple[str, str] | None:
    """("native", intrinsic) or ("library", canonical name) for a math op
    (a libm call: to one of `externals`, the module's declarations), else None."""
    if op.name == "llvm.frem":
        return "library", "fmod"
    if op.name in _STRUCTURED:
        name = _STRUCTURED[op.name]
        return ("native" if name in NATIVE else "library"), name
    if op.name.startswith("llvm.intr."):
        intr = op.name.removeprefix("llvm.intr.")
        if intr in NATIVE:
            return "native", intr
        if intr in LIBRARY or intr in _ALIASES:
            return "library", _ALIASES.get(intr, intr)
        return None
    callee = _callee(op)
    if callee in externals and (name := library_function(callee)) is not None:
        return "library", name
    return None


def _native(op, intr: str) -> None:
    """The same intrinsic as a generic `llvm.call_intrinsic`."""
    from mlir import ir
    t = op.results[0].type
    operands = list(op.operands)
    new = ir.Operation.create("llvm.call_intrinsic", results=[t], operands=operands, attributes={
        "intrin": ir.StringAttr.get(f"llvm.{intr}.{_mangle(t)}"),
        "operandSegmentSizes": ir.DenseI32ArrayAttr.get([len(operands), 0]),
        "op_bundle_sizes": ir.DenseI32ArrayAttr.get([])}, loc=op.location, ip=ir.InsertionPoint(op))
    op.results[0].replace_all_uses_with(new.results[0])
    op.erase()


def _call(symbol: str, t, args, loc):
    from mlir import ir
    return ir.Operation.create("llvm.call", results=[t], operands=args, attributes={
        "callee": ir.FlatSymbolRefAttr.get(symbol),
        "operandSegmentSizes": ir.DenseI32ArrayAttr.get([len(args), 0]),
        "op_bundle_sizes": ir.DenseI32ArrayAttr.get([])}, loc=loc).results[0]


def _library(op, kind: str, name: str, declare: dict[str, str]) -> str:
    """A call to the device library's function (element-wise for vectors)."""
    from mlir import ir
    from mlir.dialects import llvm

    t = op.results[0].type
    elem = _element(t)
    if elem not in ("f32", "f64"):
        raise CargoMlirError(f"`{name}` on {t} has no device-library function (only f32 and f64 do)")
    symbol = device_name(kind, name, elem)
    params = [elem] + (["i32"] if name == "powi" else [elem] * (len(op.operands) - 1))
    declare[symbol] = f"llvm.func @{symbol}({', '.join(params)}) -> {elem} attributes {{no_unwind}}\n"
    with ir.InsertionPoint(op), op.location:
        if not isinstance(t, ir.VectorType):
            result = _call(symbol, t, list(op.operands), op.location)
        else:
            result = llvm.mlir_undef(t)
            i64 = ir.IntegerType.get_signless(64)
            for k in range(ir.VectorType(t).shape[0]):
                at = llvm.mlir_constant(ir.IntegerAttr.get(i64, k))
                lanes = [llvm.extractelement(a, at) if isinstance(a.type, ir.VectorType) else a for a in op.operands]
                result = llvm.insertelement(result, _call(symbol, ir.Type.parse(elem), lanes, op.location), at)
    op.results[0].replace_all_uses_with(result)
    op.erase()
    return symbol


def rewrite(body, root, kind: str) -> MathUse:
    """Rewrite the math of the gpu.module `root` (its block `body`) for
    target kind `kind` ("nvptx", "amdgpu"); libm declarations it no longer
    calls go."""
    from cargo_mlir.pipeline import mlir_util as U
    from mlir import ir

    externals = {U.sym_name(op) for op in body.operations if U.is_declaration(op)}
    found = []
    root.walk(lambda op: (found.append((op, t)) if (t := _target_function(op, externals)) else None)
              or ir.WalkResult.ADVANCE)
    declare: dict[str, str] = {}
    names: set[str] = set()
    for op, (how, name) in found:
        if how == "native":
            _native(op, name)
        else:
            names.add(name)
            _library(op, kind, name, declare)
    for op in list(body.operations):
        if U.is_declaration(op) and library_function(U.sym_name(op) or "") and not _called(root, U.sym_name(op)):
            op.operation.erase()
    if declare:
        U.append(body, "".join(declare.values()))
    return MathUse(frozenset(declare), frozenset(names))


def _called(root, symbol: str) -> bool:
    from mlir import ir
    hits = []
    root.walk(lambda op: (hits.append(op) if _callee(op) == symbol else None) or ir.WalkResult.ADVANCE)
    return bool(hits)


# ---------------------------------------------------------------- libraries

def check_library(kind: str, chip: str, found: Path, what: str) -> None:
    """The library the toolchain found (libdevice.10.bc, or OCML's ocml.bc in
    its bitcode directory) has what `chip` needs; stage `serialize` lays it
    out where `gpu-module-to-binary` looks (serialize.py). The AMD
    serialiser links ocml, ockl and the chip's oclc_isa_version file, and
    makes OCML's other switches itself (denormals kept, no finite-only or
    unsafe shortcuts, correctly rounded sqrt)."""
    if kind == "nvptx":
        return
    d = found.parent
    files = [d / f"{w}.bc" for w in ("ocml", "ockl", f"oclc_isa_version_{chip.removeprefix('gfx')}")]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise CargoMlirError(
            f"{what}: the ROCm device libraries in {d} lack {', '.join(missing)}, needed for {chip} code",
            hint="install device libraries that know this GPU (ROCm's, under /opt/rocm/amdgcn/bitcode), or set "
                 "CARGO_MLIR_ROCM_DEVICE_LIBS to their directory; `cargo mlir doctor` shows what was found")
