#!/usr/bin/env python3
"""Fault-injection matrix (issue 10): damage cargo-mlir's build state in every
way a crash, a full disk or a user can, then build again, and check that the
binary still prints what plain cargo's build of the same crate prints, with
no manual `cargo clean`.

    .venv/bin/python tests/fault_matrix.py [--crate DIR] [--quick] [--only TEXT] [--keep]

The crate (default: sample_crates/saxpy, as users have it: gfx90a and sm_90
images and the host) is copied to a temporary directory and built once with
`cargo mlir build --release`; that state is the snapshot every case starts
from. The cases:

- each file under target/cargo-mlir (`--quick`: one per directory) and the
  toolchain record: deleted, truncated to half, overwritten with garbage;
- an interrupt (SIGINT, as Ctrl-C) of a rebuild after 0.5, 1, 2, 4 and 8 s;
- two rebuilds at once.

After a fault the crate is built and run twice: once as it is, once after an
edit of src/lib.rs (a rebuild of its unit). A case passes when every run's
output equals plain cargo's. A build that fails is retried once; if the retry
fails too, the case "needs a clean". Prints one line per case and a summary;
the exit status is 1 when any case failed. Takes minutes (each case builds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from conftest import CLI, copy_crate, clean_env  # noqa: E402


@dataclass
class Case:
    name: str
    verdict: str = "ok"
    detail: str = ""


class Matrix:
    def __init__(self, crate: Path, work: Path):
        self.crate = crate
        self.work = work
        self.record = work / "toolchain.toml"
        self.env = clean_env(CARGO_MLIR_TOOLCHAIN_FILE=str(self.record))
        self.snapshot = work / "snapshot"
        self.expected = ""
        self.cases: list[Case] = []

    # ------------------------------------------------------------ running
    def cargo_mlir(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), "mlir", *args], cwd=self.crate, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def run_binary(self) -> subprocess.CompletedProcess:
        binary = self.crate / "target" / "release" / self.crate.name
        return subprocess.run([binary], cwd=self.crate, env=self.env, capture_output=True, text=True, timeout=300)

    def prepare(self) -> None:
        plain = subprocess.run(["cargo", "run", "--release", "-q", "--target-dir", str(self.work / "plain")],
                               cwd=self.crate, env=self.env, capture_output=True, text=True, timeout=900)
        if plain.returncode != 0:
            raise SystemExit(f"plain cargo failed:\n{plain.stderr}")
        self.expected = plain.stdout
        built = self.cargo_mlir("build", "--release", "-q")
        if built.returncode != 0:
            raise SystemExit(f"the first cargo mlir build failed:\n{built.stderr}")
        self.check_output("baseline")
        self.save()

    def save(self) -> None:
        shutil.rmtree(self.snapshot, ignore_errors=True)
        shutil.copytree(self.crate, self.snapshot / "crate", symlinks=True)
        shutil.copy2(self.record, self.snapshot / "toolchain.toml")

    def restore(self) -> None:
        shutil.rmtree(self.crate)
        shutil.copytree(self.snapshot / "crate", self.crate, symlinks=True)
        shutil.copy2(self.snapshot / "toolchain.toml", self.record)

    def check_output(self, what: str) -> str | None:
        """None when the binary prints plain cargo's output, else why not."""
        ran = self.run_binary()
        if ran.returncode != 0 or ran.stdout != self.expected:
            return f"{what}: the binary printed {ran.stdout.strip()!r} (exit {ran.returncode}), " \
                   f"plain cargo {self.expected.strip()!r}"
        return None

    def build_and_check(self, case: Case, what: str) -> None:
        built = self.cargo_mlir("build", "--release", "-q")
        if built.returncode != 0:
            retry = self.cargo_mlir("build", "--release", "-q")
            if retry.returncode != 0:
                case.verdict, case.detail = "NEEDS CLEAN", f"{what}: {_first_error(retry.stderr)}"
                return
            if case.verdict == "ok":
                case.verdict, case.detail = "ok after a retry", f"{what}: {_first_error(built.stderr)}"
        if "Traceback" in built.stderr:
            case.verdict, case.detail = "TRACEBACK", what
            return
        wrong = self.check_output(what)
        if wrong:
            case.verdict, case.detail = "WRONG OUTPUT", wrong

    def after_fault(self, case: Case) -> None:
        """The build as it is, then after an edit of the kernel's source."""
        self.build_and_check(case, "as it was")
        if case.verdict not in ("ok", "ok after a retry"):
            return
        lib = self.crate / "src" / "lib.rs"
        lib.write_text(lib.read_text() + "\n// edited\n")
        self.build_and_check(case, "after an edit")

    def case(self, name: str, fault) -> None:
        case = Case(name)
        self.restore()
        try:
            fault()
            self.after_fault(case)
        except subprocess.TimeoutExpired as exc:
            case.verdict, case.detail = "HANGS", str(exc)
        self.cases.append(case)
        print(f"{case.verdict:<17} {case.name}" + (f"  ({case.detail})" if case.detail else ""), flush=True)

    # ------------------------------------------------------------ faults
    def file_faults(self, quick: bool, only: str = "") -> None:
        state = self.crate / "target" / "cargo-mlir"
        files = sorted(p.relative_to(self.crate) for p in state.rglob("*") if p.is_file() and only in str(p))
        if quick:
            seen, picked = set(), []
            for f in files:
                if f.parent not in seen:
                    seen.add(f.parent)
                    picked.append(f)
            files = picked
        files.append(Path("<toolchain record>"))
        for rel in files:
            for fault in ("delete", "truncate", "garbage"):
                self.case(f"{fault} {rel}", lambda rel=rel, fault=fault: self._damage(rel, fault))

    def _damage(self, rel: Path, fault: str) -> None:
        path = self.record if str(rel) == "<toolchain record>" else self.crate / rel
        if fault == "delete":
            path.unlink()
        elif fault == "truncate":
            data = path.read_bytes()
            path.write_bytes(data[:len(data) // 2])
        else:
            path.write_bytes(os.urandom(max(64, min(path.stat().st_size, 4096))))

    def interrupts(self) -> None:
        for delay in (0.5, 1, 2, 4, 8):
            self.case(f"interrupt a rebuild after {delay} s", lambda delay=delay: self._interrupt(delay))

    def _interrupt(self, delay: float) -> None:
        lib = self.crate / "src" / "lib.rs"
        lib.write_text(lib.read_text() + "\n// interrupted\n")
        proc = subprocess.Popen([str(CLI), "mlir", "build", "--release", "-q"], cwd=self.crate, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)          # Ctrl-C reaches the whole process group
        proc.wait(timeout=300)

    def concurrent(self) -> None:
        self.case("two rebuilds at once", self._concurrent)

    def _concurrent(self) -> None:
        lib = self.crate / "src" / "lib.rs"
        lib.write_text(lib.read_text() + "\n// concurrent\n")
        procs = [subprocess.Popen([str(CLI), "mlir", "build", "--release", "-q"], cwd=self.crate, env=self.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"a concurrent build failed:\n{err}")


def _first_error(stderr: str) -> str:
    lines = [l for l in stderr.splitlines() if l.startswith("error")]
    return (lines[0] if lines else stderr.strip().splitlines()[-1] if stderr.strip() else "no output")[:200]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crate", type=Path, default=REPO / "sample_crates" / "saxpy")
    ap.add_argument("--quick", action="store_true", help="one file per directory of target/cargo-mlir")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only", default="", help="the file cases whose path contains this (e.g. .sum)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    try:
        crate = copy_crate(args.crate.resolve(), work / args.crate.resolve().name)
        m = Matrix(crate, work)
        start = time.monotonic()
        m.prepare()
        m.file_faults(args.quick, args.only)
        if not args.only:
            m.interrupts()
            m.concurrent()
        bad = [c for c in m.cases if c.verdict not in ("ok", "ok after a retry")]
        retried = sum(c.verdict == "ok after a retry" for c in m.cases)
        print(f"\n{len(m.cases)} cases in {time.monotonic() - start:.0f} s: {len(m.cases) - len(bad)} passed "
              f"({retried} after one failed build), {len(bad)} failed")
        return 1 if bad else 0
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
