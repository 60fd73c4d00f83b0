"""A stage runner for IR-level (lit) tests:

    python -m cargo_mlir.pipeline.tool STAGE INPUT --marker MARKER [--target T] [--until STAGE] [-o OUT]
    python -m cargo_mlir.pipeline.tool resume x.<target|any>.<stage>.<ext> --marker MARKER [--target T] [--until STAGE]
    python -m cargo_mlir.pipeline.tool check INPUT.ll --target gfx90a --marker MARKER

`STAGE` runs that stage alone (through `--until` when given) on INPUT; `resume`
starts after the stage whose dump INPUT is. The output goes to stdout (and to
`-o`); an object or GPU image only to `-o`. `check` runs the device
diagnostics on a `.ll` with debug info, one finding per line, and exits 1 when
any is an error. INPUT `-` reads stdin, so stages can be piped. Stages, table
and toolchain are the real ones (pipeline/table.py, pipeline/runner.py)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from cargo_mlir.build.markers import parse_marker
from cargo_mlir.config import Pipelines
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline import diagnostics
from cargo_mlir.pipeline.runner import run_stages
from cargo_mlir.pipeline.stage import Context
from cargo_mlir.pipeline.table import stages_for
from cargo_mlir.pipeline.targets import parse_target
from cargo_mlir.term import Shell
from cargo_mlir.toolchain import record

BINARY = {"o", "hsaco", "cubin"}      # stage outputs that are not text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cargo_mlir.pipeline.tool",
                                description="Run cargo-mlir pipeline stages on one IR file (for lit tests).")
    p.add_argument("action", metavar="STAGE", help="a stage name, `resume` or `check`")
    p.add_argument("input", metavar="INPUT", help="IR file (`-` reads stdin)")
    p.add_argument("--target", default="host", help="host, gfx90a, sm_90, … (default: host)")
    p.add_argument("--marker", required=True, help="the function's marker string: "
                   "'cargo-mlir-marker/2;kernel;NAME;ENTRY;PARAMS;RET;FLAGS;FILE:LINE'")
    p.add_argument("-o", "--output", type=Path, help="also write the last stage's output here")
    p.add_argument("--until", metavar="STAGE", help="keep going through this stage")
    return p


def _read(arg: str, binary: bool):
    if arg == "-":
        return sys.stdin.buffer.read() if binary else sys.stdin.read()
    path = Path(arg)
    if not path.is_file():
        raise CargoMlirError(f"no such input file: {path}")
    return path if binary else path.read_text()


def _first_stage(args: argparse.Namespace, names: list[str]) -> str:
    if args.action != "resume":
        return args.action
    parts = Path(args.input).name.split(".")
    done = parts[-2] if len(parts) >= 3 and parts[-2] in names else None
    if done is None:
        raise CargoMlirError(f"cannot tell which stage wrote {args.input}",
                             hint=f"name it <fn>.<target>.<stage>.<ext>, stage one of {', '.join(names)}")
    if names.index(done) + 1 >= len(names):
        raise CargoMlirError(f"{args.input} is the output of the last stage: nothing to resume")
    return names[names.index(done) + 1]


def _validate(args, names: list[str], stages, ctx: Context) -> tuple[int, int]:
    first = _first_stage(args, names)
    for s in (first, args.until):
        if s is not None and s not in names:
            raise CargoMlirError(f"unknown stage `{s}` for {ctx.target.name}",
                                 hint=f"stages: {', '.join(names)} (STAGE may also be `resume` or `check`)")
    start = names.index(first)
    end = names.index(args.until) if args.until else (len(names) - 1 if args.action == "resume" else start)
    if end < start:
        raise CargoMlirError(f"--until {args.until} comes before stage `{first}`",
                             hint=f"the stages, in order: {', '.join(names)}")
    if args.output is None and stages[end].ext_for(ctx) in BINARY:
        raise CargoMlirError(f"stage `{names[end]}` writes a binary, not text", hint="pass -o FILE")
    return start, end


def _input_for(stage_name: str, text_or_path):
    """What the stage takes: the bitcode's path (extract), LLVM IR text (import,
    codegen), or a parsed MLIR module."""
    from mlir import ir
    if stage_name in ("extract", "import", "codegen"):
        return text_or_path
    return ir.Module.parse(text_or_path)


def run(argv: list[str]) -> int:
    from mlir import ir

    args = _parser().parse_args(argv)
    ctx = Context(parse_marker(args.marker), Pipelines(), record.resolve(Shell(verbosity=-1)),
                  parse_target(args.target))
    with tempfile.TemporaryDirectory(prefix="cargo-mlir-stage-") as tmp:
        ctx.scratch = Path(tmp)
        if args.action == "check":
            findings = diagnostics.check(ctx, _read(args.input, False))
            for f in findings:
                print(f"{f.level}: {f.message}")
            return 1 if any(f.level == "error" for f in findings) else 0
        stages = stages_for(ctx.target)
        names = [s.name for s in stages]
        start, end = _validate(args, names, stages, ctx)
        with ir.Context() as mctx, ir.Location.unknown():
            ctx.mlir = mctx
            first = names[start]
            data = _read(args.input, first == "extract")
            if first == "extract" and isinstance(data, bytes):
                (ctx.scratch / "stdin.bc").write_bytes(data)
                data = ctx.scratch / "stdin.bc"
            out = run_stages(stages[start:end + 1], _input_for(first, data), ctx, {})
            if out is None:
                raise CargoMlirError(f"stage `{names[end]}` produced nothing for {ctx.what}: "
                                     + "; ".join(n.message for n in ctx.notes))
            data = out if isinstance(out, bytes) else str(out).encode()
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(data)
    if stages[end].ext_for(ctx) not in BINARY:
        sys.stdout.write(data.decode())
    return 0


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:]))
    except CargoMlirError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
