"""Stage `autodiff` (function scope): derivative functions made from their
primal's LLVM-dialect IR (docs/autodiff.md). Its default pipeline is the
Python pass `differentiate`, which defines every `__cargo_mlir_grad_<key>` the
module needs: an autodiff marker's own derivative (host code, reached through
the runtime's direct entry) and the derivatives a kernel or accelerate
function calls (their declarations, left by the extract stage, become
definitions). forward.py and reverse.py are the two modes, rules.py the local
derivatives both use."""

from __future__ import annotations

from cargo_mlir.abi import GRAD_PREFIX
from cargo_mlir.build.markers import Marker
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stages.autodiff.spec import (FORWARD_ARG, FORWARD_RET, REVERSE_ARG, REVERSE_RET, Arg,
                                                      Derivative)

SCALAR_MLIR = {"f32": "f32", "f64": "f64"}


def derivative_for(marker: Marker, tape: str = "heap") -> Derivative:
    """What an autodiff marker asks for, as the engine takes it."""
    acts = marker.activities
    args_ok, ret_ok = (FORWARD_ARG, FORWARD_RET) if marker.mode == "forward" else (REVERSE_ARG, REVERSE_RET)
    what = f"`{marker.name}` (the derivative of `{marker.primal_name}`, {marker.location})"
    bad = [a for a in acts[:-1] if a not in args_ok] + ([acts[-1]] if acts[-1] not in ret_ok else [])
    if bad:
        raise CargoMlirError(f"{what}: activity `{bad[0]}` is not one of {marker.mode} mode's")
    args = tuple(Arg(act, p.flat_types(), None if p.scalar else _elem(p.elem)) for p, act in zip(marker.params, acts))
    return Derivative(marker.mode, marker.width, marker.primal_entry, marker.entry, args, marker.ret_type,
                      acts[-1], what, tape)


def _elem(rust: str | None) -> str | None:
    from cargo_mlir.build.markers import SCALAR_LLVM
    return SCALAR_LLVM.get(rust) if rust else None


def differentiate(module, d: Derivative) -> None:
    """Define `d.name` in `module` (replacing a declaration of it)."""
    old = U.find(module.body, d.name)
    if old is not None:
        if not U.is_declaration(old):
            raise CargoMlirError(f"{d.what}: `{d.name}` is defined twice")
        old.operation.erase()
    if d.mode == "forward":
        from cargo_mlir.pipeline.stages.autodiff.forward import differentiate_forward
        differentiate_forward(module, d)
    else:
        from cargo_mlir.pipeline.stages.autodiff.reverse import differentiate_reverse
        differentiate_reverse(module, d)


def differentiate_pass(module, ctx) -> None:
    """Python pass `differentiate`: every derivative the module needs."""
    m = ctx.marker
    # device code has no allocator: kernels keep their tapes on the stack
    tape = "stack" if m.kind == "kernel" else "heap"
    wanted: list[Derivative] = []
    if m.kind == "autodiff":
        wanted.append(derivative_for(m, tape))
    by_entry = {d.entry: d for d in ctx.derivatives}
    for op in list(module.body.operations):
        name = U.sym_name(op)
        if name and name.startswith(GRAD_PREFIX) and U.is_declaration(op) and name != m.entry:
            if name not in by_entry:
                raise CargoMlirError(f"{m.kind} `{m.name}` ({m.location}) calls a derivative made in another crate "
                                     f"(`{name}`); device code can call derivatives of its own crate only",
                                     hint="move the #[autodiff_*] function into the crate of its caller")
            wanted.append(derivative_for(by_entry[name], tape))
    for d in wanted:
        differentiate(module, d)
    if wanted:
        ctx.notes.append(_note(m, wanted))


def _note(m: Marker, made: list[Derivative]):
    from cargo_mlir.pipeline.stage import Finding
    names = ", ".join(f"{d.mode} {d.what}" for d in made)
    return Finding("note", f"{m.kind} `{m.name}` ({m.location}): made {names}")
