"""End to end: the real `cargo mlir ci` on a copy of sample_crates/saxpy (real
cargo, rustc and LLVM/MLIR tools). The JUnit report is checked against the
real test run's own lines, the summary against report.json; a failing test
and a compile error make it exit non-zero and name their step last."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomlkit

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "cargo-mlir"
SUPPORT_CRATE = REPO / "templates" / "cargo-mlir"
TEST_LINE = re.compile(r"^test (.+?) \.\.\. (ok|FAILED|ignored)", re.M)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's cargo/rustc settings removed (CARGO_HOME kept: the toolchain lives there)."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("CARGO_") and k != "CARGO_HOME") and not k.startswith("__CARGO_MLIR")
           and k not in ("RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "GITHUB_STEP_SUMMARY")}
    env.update(extra)
    return env


def copy_saxpy(dst: Path) -> Path:
    shutil.copytree(REPO / "sample_crates" / "saxpy", dst, ignore=shutil.ignore_patterns("target"))
    manifest = dst / "Cargo.toml"
    doc = tomlkit.parse(manifest.read_text())
    doc["dependencies"]["cargo-mlir"]["path"] = str(SUPPORT_CRATE)
    manifest.write_text(tomlkit.dumps(doc))
    return dst


def cargo_mlir_ci(crate: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess:
    out = crate.parent / "out"
    env.setdefault("CARGO_MLIR_TOOLCHAIN_FILE", str(crate.parent / "toolchain.toml"))
    return subprocess.run([str(CLI), "mlir", "ci", "--junit", str(out / "junit.xml"),
                           "--summary", str(out / "summary.md"), *map(str, args)],
                          cwd=crate, env=clean_env(**env), capture_output=True, text=True, timeout=600)


def junit_root(crate: Path) -> ET.Element:
    root = ET.parse(crate.parent / "out" / "junit.xml").getroot()
    assert root.tag == "testsuites"
    for key in ("tests", "failures", "errors", "skipped"):     # every level adds up
        assert int(root.get(key)) == sum(int(s.get(key)) for s in root.findall("testsuite"))
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert len(cases) == int(suite.get("tests")) and len(list(suite)) == len(cases)
        assert sum(c.find("failure") is not None for c in cases) == int(suite.get("failures"))
        assert sum(c.find("skipped") is not None for c in cases) == int(suite.get("skipped"))
        assert all(c.get("classname") is not None and c.get("name") and float(c.get("time")) >= 0 for c in cases)
    return root


def rust_cases(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter("testcase") if not c.get("classname").startswith("cargo-mlir.")]


@pytest.fixture(scope="module")
def passing(tmp_path_factory):
    """One passing run, with an earlier step's text already in GITHUB_STEP_SUMMARY."""
    base = tmp_path_factory.mktemp("ci")
    crate = copy_saxpy(base / "saxpy")
    step_summary = base / "step_summary.md"
    step_summary.write_text("## an earlier step\n")
    result = cargo_mlir_ci(crate, "--release", GITHUB_STEP_SUMMARY=str(step_summary))
    return crate, result, step_summary


def test_passing_run_exits_zero_and_records_the_toolchain(passing):
    crate, result, _ = passing
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.split()[0] == "Finished" and "2 tests passed" in last
    assert (crate.parent / "toolchain.toml").is_file()


def test_junit_has_a_case_for_each_test_line_of_the_real_test_run(passing):
    crate, result, _ = passing
    lines = TEST_LINE.findall(result.stdout)
    assert lines, result.stdout
    totals = [tuple(map(int, m)) for m in re.findall(r"^test result: \w+\. (\d+) passed; (\d+) failed; "
                                                    r"(\d+) ignored", result.stdout, re.M)]
    root = junit_root(crate)
    cases = rust_cases(root)
    assert sorted(c.get("name") for c in cases) == sorted(name for name, _ in lines)
    assert sum(c.find("failure") is None and c.find("skipped") is None for c in cases) == \
        sum(s == "ok" for _, s in lines) == sum(t[0] for t in totals)
    # one suite per test binary, as `Running …` / `Doc-tests …` in the output
    headers = re.findall(r"^\s+(?:Running .+ \(|Doc-tests )", result.stdout, re.M)
    rust_suites = [s for s in root.findall("testsuite") if not s.get("name").startswith("cargo")]
    assert len(rust_suites) == len(headers) == len(totals)


def test_junit_has_a_case_per_stage_of_every_kernel_and_target(passing):
    crate, _, _ = passing
    report = json.loads((crate / "target" / "cargo-mlir" / "report.json").read_text())
    assert report["kernels"]
    root = junit_root(crate)
    for entry in report["kernels"]:
        classname = f"cargo-mlir.stages.{entry['kernel']}.{entry['target']}"
        stage_cases = [c for c in root.iter("testcase") if c.get("classname") == classname]
        assert set(entry["timings"]) | {"check"} <= {c.get("name") for c in stage_cases}
    expected = sum(len(e["timings"]) + 1 for e in report["kernels"])
    assert len([c for c in root.iter("testcase") if c.get("classname").startswith("cargo-mlir.stages.")]) \
        == expected
    steps = {c.get("name"): c for c in root.iter("testcase") if c.get("classname") == "cargo-mlir.ci"}
    assert list(steps) == ["toolchain", "build", "test"]
    assert all(len(c) == 0 for c in steps.values())        # no failure, no skip


def test_summary_lists_every_kernel_and_target(passing):
    crate, _, _ = passing
    text = (crate.parent / "out" / "summary.md").read_text()
    report = json.loads((crate / "target" / "cargo-mlir" / "report.json").read_text())
    header = next(l for l in text.splitlines() if l.startswith("| kernel |"))
    for target in {e["target"] for e in report["kernels"]}:
        assert f" {target} |" in header
    for kernel in {e["kernel"] for e in report["kernels"]}:
        assert re.search(rf"^\| `{kernel}` \| saxpy \| \d+\.\d\d s", text, re.M), text
    assert "| `saxpy` |" in text and "host" in header
    rustc = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, env=clean_env()).stdout
    release = re.search(r"^release: (\S+)", rustc, re.M)[1]
    assert f"rustc {release}" in text
    assert text.splitlines()[0] == "## cargo mlir ci: passed"
    assert "### Tests: 2 passed, 0 failed, 0 ignored" in text


def test_summary_is_appended_to_github_step_summary(passing):
    crate, _, step_summary = passing
    summary = (crate.parent / "out" / "summary.md").read_text()
    assert step_summary.read_text() == "## an earlier step\n" + summary


def test_a_test_name_filter_reaches_the_tests_and_not_the_build(tmp_path):
    crate = copy_saxpy(tmp_path / "saxpy")
    result = cargo_mlir_ci(crate, "empty_input")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unexpected argument" not in result.stdout + result.stderr
    assert TEST_LINE.findall(result.stdout) == [("tests::empty_input_is_a_no_op", "ok")]
    assert re.search(r"^test result: ok\. 1 passed; .* 1 filtered out", result.stdout, re.M), result.stdout
    root = junit_root(crate)
    assert [c.get("name") for c in rust_cases(root)] == ["tests::empty_input_is_a_no_op"]
    steps = {c.get("name"): len(c) for c in root.iter("testcase") if c.get("classname") == "cargo-mlir.ci"}
    assert steps == {"toolchain": 0, "build": 0, "test": 0}


def test_failing_test_fails_the_run_at_step_test(tmp_path):
    crate = copy_saxpy(tmp_path / "saxpy")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("assert!(y.is_empty());", "assert!(!y.is_empty(), \"planted failure\");"))
    result = cargo_mlir_ci(crate)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cargo mlir ci failed at step `test`"), result.stderr
    assert "tests::empty_input_is_a_no_op" in last
    root = junit_root(crate)
    statuses = {c.get("name"): "failed" if c.find("failure") is not None else "ok" for c in rust_cases(root)}
    assert statuses == {name: {"FAILED": "failed"}.get(s, s) for name, s in TEST_LINE.findall(result.stdout)}
    assert statuses["tests::empty_input_is_a_no_op"] == "failed"
    failure = root.find(".//testcase[@name='tests::empty_input_is_a_no_op']/failure")
    assert failure.get("message") == "planted failure"
    step = root.find(".//testcase[@classname='cargo-mlir.ci'][@name='test']/failure")
    assert step is not None and "tests::empty_input_is_a_no_op" in step.get("message")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.splitlines()[0] == "## cargo mlir ci: failed at step `test`"
    assert "| `saxpy` | saxpy |" in summary         # the build's kernels are still reported


def test_compile_error_fails_the_run_at_step_build_and_skips_tests(tmp_path):
    crate = copy_saxpy(tmp_path / "saxpy")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\nfn broken() -> u32 { \"not a number\" }\n")
    result = cargo_mlir_ci(crate)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: cargo mlir ci failed at step `build`")
    root = junit_root(crate)
    build = root.find(".//testcase[@classname='cargo-mlir.ci'][@name='build']/failure")
    assert "mismatched types" in build.text
    assert root.find(".//testcase[@classname='cargo-mlir.ci'][@name='test']/skipped") is not None
    assert rust_cases(root) == []
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "No device report" in summary and "| test | skipped |" in summary
