"""Pass pipelines, run in-process through the MLIR bindings' PassManager, and
cargo-mlir's own Python passes, registered by name so a pipeline string can
mix both: `raise-to-scf,canonicalize,func.func(cse)` runs our raising, then
the two MLIR passes in one PassManager. Transform-dialect scripts run through
the bindings' transform interpreter."""

from __future__ import annotations

import re

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cargo_mlir.config import PassSpec
from cargo_mlir.errors import CargoMlirError

PythonPass = Callable[["object", "object"], None]     # (module, ctx) -> None: rewrites in place


@dataclass(frozen=True)
class Registered:
    name: str
    run: PythonPass
    what: str


def _registry() -> dict[str, Registered]:
    """The Python passes, by the name pipelines use. Imported on use: the
    passes pull in the MLIR bindings."""
    from cargo_mlir.pipeline.stages import autodiff, chain, fusion, raise_stage, schedule_host
    return {p.name: p for p in (
        Registered("raise-to-scf", raise_stage.raise_to_scf,
                   "loops to scf.for, buffers to memref, bounds checks versioned (cargo-mlir)"),
        Registered("recognise-matmul", raise_stage.recognise_matmul,
                   "naive matmul loop nests to linalg.matmul, guarded (cargo-mlir)"),
        Registered("reorder-matmul-chains", chain.reorder_matmul_chains,
                   "chains of recognised matmuls re-associated by cost, under accelerate(reassociate) (cargo-mlir)"),
        Registered("fuse-elementwise", fusion.fuse_elementwise,
                   "element-wise loop nests fused into the matmul or nest that produces their input (cargo-mlir)"),
        Registered("differentiate", autodiff.differentiate_pass,
                   "derivative functions (#[autodiff_forward]/#[autodiff_reverse]) from their primal (cargo-mlir)"),
        Registered("schedule-matmul-host", schedule_host.schedule_matmuls,
                   "linalg.matmul to packed, vectorised, threaded host code (cargo-mlir; "
                   "templates/schedules/host-matmul.mlir)"),
    )}


def python_pass_names() -> tuple[str, ...]:
    return tuple(_registry())


def split_top_level(text: str) -> list[str]:
    """`a,b{x=1,y=2},c(d,e)` → ["a", "b{x=1,y=2}", "c(d,e)"]."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "({"
        depth -= ch in ")}"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return [p for p in parts if p]


def plan(pipeline: str) -> list[tuple[str, str]]:
    """Consecutive MLIR passes grouped into one `("mlir", "builtin.module(…)")`
    run; each Python pass a `("python", name)` run."""
    registry = _registry()
    runs: list[tuple[str, str]] = []
    mlir: list[str] = []
    for item in split_top_level(pipeline):
        if item in registry:
            if mlir:
                runs.append(("mlir", f"builtin.module({','.join(mlir)})"))
                mlir = []
            runs.append(("python", item))
        else:
            mlir.append(item)
    if mlir:
        runs.append(("mlir", f"builtin.module({','.join(mlir)})"))
    return runs


def run_spec(spec: PassSpec, module, ctx, stage: str) -> None:
    """Run `spec` on `module` in place; errors name the stage, the function and the passes."""
    from mlir import ir, passmanager

    m, where = ctx.marker, f" for {ctx.target.name}" if ctx.target else ""
    what = f"stage `{stage}` of {m.kind} `{m.name}` ({m.location}){where} ({spec.describe()})"
    if spec.transform is not None:
        return _run_transform(spec.transform, module, what)
    registry = _registry()
    for kind, text in plan(spec.pipeline or ""):
        if kind == "python":
            registry[text].run(module, ctx)
            continue
        try:
            pm = passmanager.PassManager.parse(text)
        except (ValueError, ir.MLIRError) as exc:
            raise CargoMlirError(f"{what}: invalid pass pipeline `{text}`: {exc}",
                                 hint=f"MLIR pass names as `mlir-opt --help` lists them, or "
                                      f"cargo-mlir's: {', '.join(registry)}") from None
        try:
            pm.run(module.operation)
        except ir.MLIRError as exc:
            raise CargoMlirError(f"{what} failed:\n{_diagnostics(exc)}",
                                 hint="`--emit-ir DIR` writes the IR each stage received") from None


def _run_transform(script: Path, module, what: str) -> None:
    from mlir import ir
    from mlir.dialects.transform import interpreter

    try:
        library = ir.Module.parseFile(str(script))        # its diagnostics then say script:line:column
    except ir.MLIRError as exc:
        raise CargoMlirError(f"{what}: {script} is not a transform script MLIR can read:\n{_diagnostics(exc)}",
                             hint=f"check {script}: it needs a `transform.named_sequence @__transform_main`") from None
    try:
        interpreter.apply_named_sequence(module.operation, _entry_point(library), library.operation)
    except (ir.MLIRError, ValueError) as exc:     # the bindings raise ValueError for a failed sequence
        raise CargoMlirError(f"{what} failed:\n{_diagnostics(exc)}",
                             hint=f"the failing step is at the {script} line named above; `--emit-ir DIR` "
                                  "writes the IR the script ran on") from None


def _entry_point(library):
    from mlir import ir
    for op in library.body.operations:
        if op.operation.name == "transform.named_sequence" and \
                ir.StringAttr(op.operation.attributes["sym_name"]).value == "__transform_main":
            return op.operation
    raise CargoMlirError("the transform script has no `transform.named_sequence @__transform_main`")


def _diagnostics(exc) -> str:
    lines = []
    for d in getattr(exc, "error_diagnostics", []) or []:
        lines.append(f"  {d.location}: {d.message}")
        lines.extend(f"    {n.location}: {n.message}" for n in d.notes)
    text = "\n".join(lines) or "\n".join(f"  {line}" for line in str(exc).splitlines())
    return _PLACE.sub(lambda m: _place_text(m[1], m[2], m[3]), text)


# `loc("file":line:col)`, as MLIR prints a location
_PLACE = re.compile(r'loc\("([^"]*)":(\d+):(\d+)\)')


def _place_text(file: str, line: str, column: str) -> str:
    """A file's place as `file:line:column`; IR parsed from text ("-") is the stage's input IR."""
    return f"{file}:{line}:{column}" if file != "-" else f"the stage's input IR, line {line}"
