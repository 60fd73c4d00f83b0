"""Runs the IR-level lit suite (tests/lit) and reads lit's summary: the suite
must run at least a handful of tests (a broken lit.cfg.py that discovers
nothing, or marks everything UNSUPPORTED, would otherwise "pass")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LIT = Path(sys.executable).parent / "lit"
SUITE = Path(__file__).resolve().parent / "lit"

# lit's result categories that mean "the test ran" and "something is wrong"
NOT_RUN = {"Unsupported", "Skipped", "Excluded"}
BAD = {"Failed", "Unresolved", "Timed Out", "Unexpectedly Passed"}


def parse_summary(output: str) -> dict[str, int]:
    """`Total Discovered Tests: 7` followed by `  Passed: 6 (85.71%)` lines."""
    _, sep, tail = output.rpartition("Total Discovered Tests:")
    assert sep, f"no lit summary in the output:\n{output}"
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s+([A-Za-z][A-Za-z ]*): (\d+)", tail, re.M)}


def test_parse_summary_reads_every_category():
    # the per-test lines above the summary ("FAIL: …") must not be counted
    text = ("FAIL: cargo-mlir :: x.mlir (3 of 4)\n\nTotal Discovered Tests: 4\n"
            "  Unsupported: 1 (25.00%)\n  Passed: 2 (50.00%)\n  Failed: 1 (25.00%)\n")
    assert parse_summary(text) == {"Unsupported": 1, "Passed": 2, "Failed": 1}


def test_lit_suite_passes():
    assert LIT.exists(), f"{LIT} is missing: pip install -e '.[test]'"
    proc = subprocess.run([str(LIT), "-v", str(SUITE)], capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    counts = parse_summary(output)
    executed = sum(n for k, n in counts.items() if k not in NOT_RUN)
    bad = {k: n for k, n in counts.items() if k in BAD and n}
    assert not bad and proc.returncode == 0, f"lit reported {bad}:\n{output[-6000:]}"
    assert executed >= 5, f"only {executed} lit tests ran ({counts}):\n{output[-3000:]}"
