"""`cargo mlir ci`: one CI step. Check the toolchain (as `doctor`), provision
it when incomplete (`bootstrap install`), `cargo mlir build`, `cargo mlir
test`, then write a JUnit XML report and a Markdown summary. Every step runs
even when reporting fails later; the first failing step is named on the last
line of stderr and makes the exit status non-zero.

Toolchain and bootstrap run in-process. Build and test run as the real CLI in
a subprocess with stdout and stderr merged into one pipe: that keeps cargo's
`Running …` headers (stderr) in order with libtest's lines (stdout) for the
parser, shows them live, and keeps the build's output for the JUnit failure
text, which an in-process `driver.main` (inherited stdio) cannot give."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cargo_mlir.cargo.metadata import metadata
from cargo_mlir.cargo.args import CARGO_VALUE_FLAGS, OUR_VALUE_FLAGS, TEST_ONLY_FLAGS, Args, take_value
from cargo_mlir.cargo.args import parse_args as parse_cargo_args
from cargo_mlir.cargo import units
from cargo_mlir.ci import junit
from cargo_mlir.toolchain import record
from cargo_mlir.errors import CargoMlirError, ToolError
from cargo_mlir.ci.junit import Case, Suite
from cargo_mlir.process import cmd
from cargo_mlir.term import Shell, setup_logging

HELP = """\
Usage: cargo mlir ci [--junit PATH] [--summary PATH] [CARGO OPTIONS] [TESTNAME] [-- TEST ARGS]

Checks the toolchain (installing it with `cargo mlir bootstrap install` when
incomplete), runs `cargo mlir build` and `cargo mlir test` (with
--no-fail-fast), and reports. Exits non-zero when any step fails and names it
on the last line.

Options:
      --junit PATH      write a JUnit XML report: one test case per Rust test,
                        per pipeline stage of each kernel × target, per step
      --summary PATH    write a Markdown summary (also appended to
                        $GITHUB_STEP_SUMMARY when that is set)
  -h, --help            this text
All other options go to `cargo mlir build` and `cargo mlir test` unchanged
(e.g. --release, --manifest-path, --offload-arch, --features); a TESTNAME
filter goes to `cargo mlir test` only, arguments after `--` to the test
binaries only.
"""

STEP_CLASS = "cargo-mlir.ci"
OUTPUT_TAIL = 60


@dataclass(frozen=True)
class Options:
    cargo_args: tuple[str, ...]
    junit: Path | None = None
    summary: Path | None = None
    help: bool = False


def parse_args(argv: list[str]) -> Options:
    """Our flags (before `--`) apart; everything else stays in order for cargo."""
    head, tail = (argv[:argv.index("--")], argv[argv.index("--"):]) if "--" in argv else (argv, [])
    found: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(head):
        a = head[i]
        name = a.split("=", 1)[0]
        if name in ("--junit", "--summary"):
            value, i = take_value(head, i, name)
            found[name[2:]] = Path(value).resolve()
            continue
        if a in ("-h", "--help"):
            found["help"] = True
        rest.append(a)
        i += 1
    return Options(tuple(rest + tail), **found)


def build_argv(cargo_args: tuple[str, ...]) -> list[str]:
    """`cargo mlir build` arguments: no test-only flags, no positional arguments
    (`cargo test`'s test-name filter; `cargo build` takes none), nothing after
    `--`. Values of options (`-p saxpy`) stay."""
    head = list(cargo_args[:cargo_args.index("--")]) if "--" in cargo_args else list(cargo_args)
    out: list[str] = []
    i = 0
    while i < len(head):
        a = head[i]
        if a in CARGO_VALUE_FLAGS + OUR_VALUE_FLAGS and i + 1 < len(head) and \
                not head[i + 1].startswith("-"):
            out.extend(head[i:i + 2])
            i += 2
            continue
        if a.startswith("-") and a not in TEST_ONLY_FLAGS:
            out.append(a)
        i += 1
    return out


def test_argv(cargo_args: tuple[str, ...]) -> list[str]:
    """`cargo mlir test` arguments: every test binary runs, even after a failure."""
    args = list(cargo_args)
    cut = args.index("--") if "--" in args else len(args)
    if "--no-fail-fast" not in args[:cut]:
        args.insert(cut, "--no-fail-fast")
    return args


def _last_error(lines: list[str], fallback: str) -> str:
    errors = [l for l in lines if junit.strip_ansi(l).startswith("error")]
    return junit.strip_ansi(errors[-1]).strip() if errors else fallback


class Run:
    """One `cargo mlir ci`: the steps in order, then the reports."""

    def __init__(self, shell: Shell, opts: Options, args: Args):
        self.shell, self.opts, self.args = shell, opts, args
        self.steps: list[Case] = []
        self.tests: list[Suite] = []
        self.probe: record.Probe | None = None
        self.started = time.time()

    @property
    def failed(self) -> Case | None:
        return next((s for s in self.steps if s.status != "passed"), None)

    def step(self, name: str, fn) -> None:
        """Run `fn() -> (ok, message, output)` as step `name`, timed."""
        start = time.perf_counter()
        try:
            ok, message, output = fn()
        except CargoMlirError as exc:
            self.shell.error(str(exc))
            ok, message, output = False, exc.message.splitlines()[0], str(exc)
        # a passing step's output is noise in the report; a failing one's is the reason
        self.steps.append(Case(STEP_CLASS, name, "passed" if ok else "failed", time.perf_counter() - start,
                               "" if ok else message, "" if ok else output))

    def check_toolchain(self):
        self.shell.status("Checking", "toolchain (rustc, LLVM/MLIR tools, Python bindings)")
        self.probe = record.probe()
        rustc = self.probe.rustc
        if self.probe.ok:
            record.save(record.from_probe(self.probe))
            self.shell.status("Fresh", f"toolchain for rustc {rustc.release} (LLVM {rustc.llvm_version}), "
                                       f"{len(self.probe.found)} items found")
        else:
            for p in self.probe.problems:
                if p.required:
                    self.shell.warn(f"{p.key}: {p.message}")
        return True, "", ""

    def bootstrap(self):
        from cargo_mlir.bootstrap import install as bootstrap_install

        self.shell.status("Installing", "the toolchain (cargo mlir bootstrap install)")
        status = bootstrap_install.run(self.shell)
        if status == 0:
            self.probe = record.probe()
        return status == 0, f"cargo mlir bootstrap install exited with status {status}", ""

    def cli(self, command: str, argv: list[str]) -> tuple[int, list[str]]:
        """The real CLI in a subprocess; its merged output shown live and kept."""
        lines: list[str] = []

        def echo(line: str) -> None:
            lines.append(line)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        c = cmd(sys.executable, "-m", "cargo_mlir", command, *argv)
        try:
            c.stream_lines(echo)
            return 0, lines
        except ToolError as exc:
            if exc.returncode is None:
                raise
            return exc.returncode, lines

    def build(self):
        argv = build_argv(self.opts.cargo_args)
        self.shell.status("Building", f"cargo mlir build {' '.join(argv)}".rstrip())
        status, lines = self.cli("build", argv)
        tail = "\n".join(lines[-OUTPUT_TAIL:])
        return status == 0, _last_error(lines, f"cargo mlir build exited with status {status}"), tail

    def test(self):
        argv = test_argv(self.opts.cargo_args)
        self.shell.status("Testing", f"cargo mlir test {' '.join(argv)}")
        status, lines = self.cli("test", argv)
        self.tests = junit.parse_libtest("\n".join(lines))
        for s in self.tests:
            if s.reported and s.reported["passed"] + s.reported["failed"] + s.reported["ignored"] > len(s.cases):
                self.shell.warn(f"`{s.name}` printed fewer `test … ok` lines than it counted (libtest `-q`, or "
                                f"--nocapture output on a result line?): the reports list only those it printed")
        bad = [c for s in self.tests for c in s.cases if c.status in ("failed", "error")]
        if bad:
            names = ", ".join(f"{c.classname} {c.name}" for c in bad[:3]) + (", …" if len(bad) > 3 else "")
            message = f"{_n(len(bad), 'test')} failed: {names}"
        else:
            message = _last_error(lines, f"cargo mlir test exited with status {status}")
        return status == 0, message, "\n".join(lines[-OUTPUT_TAIL:])

    def steps_all(self) -> None:
        self.step("toolchain", self.check_toolchain)
        if self.failed is None and self.probe is not None and not self.probe.ok:
            self.step("bootstrap", self.bootstrap)
        for name, fn in (("build", self.build), ("test", self.test)):
            if self.failed is None:
                self.step(name, fn)
            else:
                self.steps.append(Case(STEP_CLASS, name, "skipped", message=f"not run: step "
                                                                              f"`{self.failed.name}` failed"))

    def device_report(self) -> dict | None:
        """report.json of this run's build; None when the build did not reach
        the device step (an older file is not this run's)."""
        from cargo_mlir.build import device

        try:
            target_dir = self.args.target_dir or metadata(self.args.manifest_path).target_directory
        except CargoMlirError:
            return None
        path = device.report_path(units.state_dir(target_dir))
        try:
            if path.stat().st_mtime < self.started - 1:
                return None
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def versions(self) -> dict[str, str]:
        if self.probe is None:
            return {}
        out = {"rustc": self.probe.rustc.release, "LLVM": self.probe.rustc.llvm_version}
        if "mlir-opt" in self.probe.found:
            out["mlir-opt"] = self.probe.found["mlir-opt"].version
        return out

    def write_reports(self) -> dict | None:
        report = self.device_report()
        suites = [Suite("cargo mlir ci steps", self.steps, sum(s.time for s in self.steps), "cargo-mlir")]
        suites += self.tests + junit.stage_suites(report or {})
        if self.opts.junit:
            stamp = datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds")
            _write(self.opts.junit, junit.to_junit(suites, timestamp=stamp))
            self.shell.status("Reported", f"JUnit XML in {self.opts.junit}")
        text = junit.summary_markdown(steps=self.steps, tests=self.tests, report=report,
                                      versions=self.versions(), failed=self.failed)
        if self.opts.summary:
            _write(self.opts.summary, text)
            self.shell.status("Reported", f"Markdown summary in {self.opts.summary}")
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
                f.write(text)
        return report

    def counts(self, report: dict | None) -> str:
        passed, ignored = (sum(x.count(s) for x in self.tests) for s in ("passed", "skipped"))
        targets, kernels = junit.kernel_matrix(report or {})
        return (f"{_n(passed, 'test')} passed, {ignored} ignored; {_n(len(kernels), 'kernel')} × "
                f"{_n(len(targets), 'target')}")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    try:
        opts = parse_args(argv)
        args = parse_cargo_args("test", list(opts.cargo_args))
    except CargoMlirError as exc:
        Shell().error(str(exc))
        return 1
    shell = Shell(verbosity=args.verbosity, color=args.color)
    setup_logging(max(args.verbosity, 0))
    if opts.help:
        shell.out(HELP)
        return 0
    run = Run(shell, opts, args)
    run.steps_all()
    try:
        report = run.write_reports()
    except OSError as exc:
        shell.error(f"cargo mlir ci failed at step `report`: could not write the reports: {exc}")
        return 1
    failed = run.failed
    if failed is not None:
        shell.error(f"cargo mlir ci failed at step `{failed.name}`: {failed.message}")
        return 1
    shell.status("Finished", f"cargo mlir ci in {time.time() - run.started:.2f}s: {run.counts(report)}")
    return 0
