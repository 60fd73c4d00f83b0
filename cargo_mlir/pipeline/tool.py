"""A stage runner for IR-level (lit) tests:

    python -m cargo_mlir.pipeline.tool STAGE INPUT --target host --marker MARKER [-o OUT] [--until STAGE]
    python -m cargo_mlir.pipeline.tool resume x.host.retarget.mlir --target host --marker MARKER [--until STAGE]
    python -m cargo_mlir.pipeline.tool check INPUT.ll --target gfx90a --marker MARKER

`STAGE` runs that stage alone (through `--until` when given) on INPUT; `resume`
starts after the stage whose dump INPUT is (`driver.resume`). The output IR
goes to stdout (and to `-o`); an object or GPU image only to `-o`. `check` runs the
device-compatibility diagnostics on a `.ll` with debug info and prints one
finding per line; it exits 1 when any is an error. INPUT `-` reads stdin, so
stages can be piped. The stages, the toolchain and the driver's resume are the
real ones: this module only names files the way the driver does."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from cargo_mlir.toolchain import record
from cargo_mlir.config import Pipelines
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.build.markers import parse_marker
from cargo_mlir.pipeline import diagnostics, driver
from cargo_mlir.pipeline.job import KernelJob
from cargo_mlir.pipeline.stages import stages_for
from cargo_mlir.pipeline.targets import parse_target
from cargo_mlir.term import Shell


BINARY = {"o", "hsaco", "cubin"}      # stage outputs that are not text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cargo_mlir.pipeline.tool",
                                description="Run cargo-mlir pipeline stages on one IR file (for lit tests).")
    p.add_argument("action", metavar="STAGE", help="a stage name, `resume` or `check`")
    p.add_argument("input", metavar="INPUT", help="IR file (`-` reads stdin)")
    p.add_argument("--target", default="host", help="host, gfx90a, sm_90, … (default: host)")
    p.add_argument("--marker", required=True, help="the kernel's marker string: "
                   "'cargo-mlir-marker/1;kernel;NAME;ENTRY;PARAMS;FILE:LINE'")
    p.add_argument("-o", "--output", type=Path, help="also write the last stage's output here")
    p.add_argument("--until", metavar="STAGE", help="keep going through this stage")
    return p


def _read_input(arg: str, work: Path, name: str) -> Path:
    """A copy of the input under `name` in `work`: the driver tells stages
    apart by file name, and a test file's own name says nothing."""
    dst = work / name
    if arg == "-":
        dst.write_bytes(sys.stdin.buffer.read())
    else:
        src = Path(arg)
        if not src.is_file():
            raise CargoMlirError(f"no such input file: {src}")
        shutil.copyfile(src, dst)
    return dst


def run_stages(job: KernelJob, first: str, input_arg: str, work: Path, until: str | None) -> Path:
    stages = stages_for(job.target)
    names = [s.name for s in stages]
    start = names.index(first)
    if until is not None and names.index(until) < start:
        raise CargoMlirError(f"--until {until} comes before stage `{first}`",
                             hint=f"the stages, in order: {', '.join(names)}")
    last = until or first
    if start == 0:
        # nothing writes extract's input (the crate's bitcode), so resume
        # cannot start there: run it from the table, then resume after it
        stage = stages[0]
        src = _read_input(input_arg, work, f"input.{stage.name}.bc")
        cur = work / driver.dump_name(job.marker, job.target.name, stage, job)
        stage.run(job, src, cur)
        return cur if last == stage.name else driver.resume(job, cur, work, stop_after=last)
    before = stages[start - 1]
    # named as the dump of the stage before, so resume starts exactly at `first`
    src = _read_input(input_arg, work, driver.dump_name(job.marker, job.target.name, before, job))
    return driver.resume(job, src, work, stop_after=last)


def check(job: KernelJob, input_arg: str, work: Path) -> int:
    ir = _read_input(input_arg, work, "input.dbg.ll").read_text()
    findings = diagnostics.check(job, ir)
    for f in findings:
        print(f"{f.level}: {f.message}")
    return 1 if any(f.level == "error" for f in findings) else 0


def _emit(result: Path, output: Path | None) -> None:
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result, output)
    if result.suffix[1:] not in BINARY:     # binaries only go to -o (checked before running)
        sys.stdout.write(result.read_text())


def _validate(args: argparse.Namespace, job: KernelJob) -> None:
    """Check the stage names and the output before anything runs."""
    try:
        stages = stages_for(job.target)
    except KeyError:
        raise CargoMlirError(f"no stages for {job.target.kind} targets yet") from None
    names = [s.name for s in stages]
    for s in (args.action, args.until):
        if s is not None and s not in names and not (s == "resume" and s is args.action):
            raise CargoMlirError(f"unknown stage `{s}` for {job.target.name}",
                                 hint=f"stages: {', '.join(names)} (STAGE may also be `resume` or `check`)")
    last = args.until or (names[-1] if args.action == "resume" else args.action)
    if args.output is None and stages[names.index(last)].ext_for(job) in BINARY:
        raise CargoMlirError(f"stage `{last}` writes a binary, not text", hint="pass -o FILE")


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    job = KernelJob(parse_marker(args.marker), parse_target(args.target), Pipelines(),
                    record.resolve(Shell(verbosity=-1)))
    if args.action != "check":
        _validate(args, job)
    with tempfile.TemporaryDirectory(prefix="cargo-mlir-stage-") as tmp:
        work = Path(tmp)
        if args.action == "check":
            return check(job, args.input, work)
        if args.action == "resume":
            src = Path(args.input)
            if not src.is_file():
                raise CargoMlirError(f"no such input file: {src}")
            result = driver.resume(job, src, work, stop_after=args.until)
        else:
            result = run_stages(job, args.action, args.input, work, args.until)
        _emit(result, args.output)
    return 0


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:]))
    except CargoMlirError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
