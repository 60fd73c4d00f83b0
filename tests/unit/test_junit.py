"""The reports of `cargo mlir ci` built from literal captured output:
libtest's text (rustc 1.95, stdout and stderr merged as ci runs it) parsed into
suites and cases, report.json turned into stage cases, JUnit XML checked
against the JUnit schema's structure, and the Markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cargo_mlir.ci import junit
from cargo_mlir.ci.junit import Case, Suite

# `cargo test --no-fail-fast` (RUST_BACKTRACE=0) of a crate with a library
# (pass, 2 failures, 2 ignored, should_panic), a binary, an integration test
# and two doc tests, one failing
DEMO = """\
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.02s
     Running unittests src/lib.rs (target/debug/deps/demo-8348ca7a80742723)

running 6 tests
test tests::fails ... FAILED
test tests::also_fails ... FAILED
test tests::ignored ... ignored
test tests::ignored_reason ... ignored, slow
test tests::panics - should panic ... ok
test tests::passes ... ok

failures:

---- tests::fails stdout ----
some stdout

thread 'tests::fails' (25744) panicked at src/lib.rs:16:51:
assertion `left == right` failed: math is broken
  left: 4
 right: 5

---- tests::also_fails stdout ----

thread 'tests::also_fails' (25743) panicked at src/lib.rs:20:31:
second
line two
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::also_fails
    tests::fails

test result: FAILED. 2 passed; 2 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`
     Running unittests src/bin/tool.rs (target/debug/deps/tool-405adbda125a27fe)

running 1 test
test bin_ok ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/integ.rs (target/debug/deps/integ-f2dec75baa62ff8c)

running 2 tests
test integ_ok ... ok
test integ_fail ... FAILED

failures:

---- integ_fail stdout ----

thread 'integ_fail' (25750) panicked at tests/integ.rs:2:27:
assertion failed: false
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    integ_fail

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--test integ`
   Doc-tests demo

running 2 tests
test src/lib.rs - add (line 3) ... ok
test src/lib.rs - add (line 7) ... FAILED

failures:

---- src/lib.rs - add (line 7) stdout ----
Test executable failed (exit status: 101).

stderr:

thread 'main' (25783) panicked at /tmp/rustdoctestN7YAoE/doctest_bundle_2024.rs:14:1:
assertion `left == right` failed
  left: 3
 right: 4
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace



failures:
    src/lib.rs - add (line 7)

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

all doctests ran in 0.32s; merged doctests compilation took 0.31s
error: doctest failed, to rerun pass `--doc`
error: 3 targets failed:
    `--lib`
    `--test integ`
    `--doc`
"""

# `cargo mlir test --release` of sample_crates/saxpy (after pass 1)
SAXPY = """\
  Executable unittests src/lib.rs (target/release/deps/saxpy-7ca6c019d741c46f)
  Executable unittests src/main.rs (target/release/deps/saxpy-0f0eb717c3cd66d2)
    Lowering 1 kernel of saxpy (test `saxpy`)
   Compiling saxpy v0.1.0 (/work/main/sample_crates/saxpy)
    Finished `release` profile [optimized] target(s) in 0.43s
     Running unittests src/lib.rs (target/release/deps/saxpy-7ca6c019d741c46f)

running 2 tests
test tests::empty_input_is_a_no_op ... ok
test tests::matches_sequential_rust ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running unittests src/main.rs (target/release/deps/saxpy-0f0eb717c3cd66d2)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests saxpy

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

"""

# a test binary killed by a signal: no `test result:` line
CRASH = """\
   Compiling crash v0.1.0 (/work/crash)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.39s
     Running unittests src/lib.rs (target/debug/deps/crash-13c7f3b4a2d242ba)

running 2 tests
test tests::fine ... ok
error: test failed, to rerun pass `--lib`

Caused by:
  process didn't exit successfully: `/work/crash/target/debug/deps/crash-13c7f3b4a2d242ba` (signal: 6, SIGABRT: process abort signal)
"""

# CARGO_TERM_COLOR=always (GitHub Actions setups often set it), and `cargo -v`
# lines that look like headers but belong to no test binary
COLORED = (
    "\x1b[1m\x1b[92m     Running\x1b[0m `rustc --crate-name saxpy --edition=2021 src/lib.rs (x)`\n"
    "\x1b[1m\x1b[92m     Running\x1b[0m unittests src/lib.rs (target/debug/deps/saxpy-7ca6c019d741c46f)\n"
    "\n"
    "running 1 test\n"
    "test tests::colored ... \x1b[32mok\x1b[0m\n"
    "\n"
    "test result: \x1b[32mok\x1b[0m. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n"
)

REPORT = {"kernels": [
    {"unit": "35e440dafbe16756", "package": "saxpy", "crate": "saxpy", "test": False, "kernel": "saxpy",
     "location": "src/lib.rs:7", "target": "host", "cached": False, "artifact": "/x/a.o",
     "timings": {"extract": 0.11, "import": 0.09, "retarget": 0.22, "raise": 0.001, "autodiff": 0.0003,
                 "lower": 0.09, "translate": 0.08, "codegen": 0.09},
     "findings": []},
    {"unit": "35e440dafbe16756", "package": "saxpy", "crate": "saxpy", "test": False, "kernel": "saxpy",
     "location": "src/lib.rs:7", "target": "sm_90", "cached": True, "artifact": "/x/b.cubin",
     "timings": {"extract": 0.1}, "findings": [{"level": "warning", "message": "no ptxas: PTX only"}]},
    {"unit": "572065b2330f214a", "package": "saxpy", "crate": "saxpy", "test": True, "kernel": "bad",
     "location": "src/lib.rs:30", "target": "host", "cached": False, "artifact": "/x/c.o",
     "timings": {"extract": 0.05},
     "findings": [{"level": "error", "message": "kernel `bad` calls `alloc::alloc` (allocation)"}]},
]}


def by_name(suites: list[Suite]) -> dict[str, Suite]:
    return {s.name: s for s in suites}


def statuses(suite: Suite) -> dict[str, str]:
    return {c.name: c.status for c in suite.cases}


def test_every_test_binary_is_a_suite_with_libtests_own_counts():
    suites = by_name(junit.parse_libtest(DEMO))
    assert list(suites) == ["demo: unittests src/lib.rs", "tool: unittests src/bin/tool.rs",
                            "integ: tests/integ.rs", "Doc-tests demo"]
    for s in suites.values():
        assert s.reported is not None
        assert (s.count("passed"), s.count("failed"), s.count("skipped")) == \
            (s.reported["passed"], s.reported["failed"], s.reported["ignored"]), s.name
    assert statuses(suites["demo: unittests src/lib.rs"]) == {
        "tests::also_fails": "failed", "tests::ignored": "skipped", "tests::ignored_reason": "skipped",
        "tests::fails": "failed", "tests::panics": "passed", "tests::passes": "passed"}
    assert statuses(suites["Doc-tests demo"]) == {"src/lib.rs - add (line 3)": "passed",
                                                  "src/lib.rs - add (line 7)": "failed"}


def test_cases_carry_the_binary_as_class_and_libtests_path_as_name():
    suites = by_name(junit.parse_libtest(DEMO))
    lib = {c.name: c for c in suites["demo: unittests src/lib.rs"].cases}
    assert lib["tests::passes"].classname == "demo"
    assert [c.classname for c in suites["integ: tests/integ.rs"].cases] == ["integ", "integ"]
    assert {c.classname for c in suites["Doc-tests demo"].cases} == {"demo.doctests"}
    assert lib["tests::ignored_reason"].message == "slow"
    assert lib["tests::ignored"].message == "ignored"


def test_failure_sections_become_message_and_output():
    lib = {c.name: c for c in by_name(junit.parse_libtest(DEMO))["demo: unittests src/lib.rs"].cases}
    fails = lib["tests::fails"]
    assert fails.message == "assertion `left == right` failed: math is broken"
    assert fails.output.startswith("some stdout\n")
    assert " right: 5" in fails.output and "failures:" not in fails.output
    also = lib["tests::also_fails"]
    assert also.message == "second"
    assert "line two" in also.output and "math is broken" not in also.output
    assert lib["tests::passes"].output == ""
    doc = by_name(junit.parse_libtest(DEMO))["Doc-tests demo"].cases[1]
    assert doc.message == "assertion `left == right` failed"
    assert doc.output.startswith("Test executable failed (exit status: 101).")


def test_saxpy_output_as_cargo_mlir_test_prints_it():
    suites = junit.parse_libtest(SAXPY)
    assert [s.name for s in suites] == ["saxpy: unittests src/lib.rs", "saxpy: unittests src/main.rs",
                                        "Doc-tests saxpy"]
    assert statuses(suites[0]) == {"tests::empty_input_is_a_no_op": "passed",
                                   "tests::matches_sequential_rust": "passed"}
    assert [len(s.cases) for s in suites] == [2, 0, 0]
    # `Executable …` lines of `cargo test --no-run` (pass 1) start no suite
    assert all(not s.tail for s in suites)


def test_a_binary_that_dies_gets_an_error_case_with_the_reason():
    (suite,) = junit.parse_libtest(CRASH)
    assert suite.reported is None
    assert statuses(suite) == {"tests::fine": "passed", "(test binary)": "error"}
    assert "SIGABRT" in suite.cases[-1].output


def test_colours_are_stripped_and_verbose_cargo_lines_start_no_suite():
    (suite,) = junit.parse_libtest(COLORED)
    assert suite.name == "saxpy: unittests src/lib.rs"
    assert statuses(suite) == {"tests::colored": "passed"}
    assert suite.time == pytest.approx(0.01)


@pytest.mark.parametrize("output, message", [
    ("thread 'a' (1) panicked at src/lib.rs:1:2:\nboom\nnote: …", "boom"),
    ("thread 'a' panicked at 'old style', src/lib.rs:1:2", "'old style', src/lib.rs:1:2"),
    ("Error: custom error from a test returning Result", "Error: custom error from a test returning Result"),
    ("", "test failed"),
])
def test_panic_message(output, message):
    assert junit.panic_message(output) == message


def test_stage_suites_have_a_case_per_stage_and_a_check_per_kernel_target():
    suites = by_name(junit.stage_suites(REPORT))
    lib = suites["cargo-mlir stages: saxpy (lib `saxpy`) [35e440dafbe16756]"]
    host = [c for c in lib.cases if c.classname == "cargo-mlir.stages.saxpy.host"]
    assert [c.name for c in host] == ["extract", "import", "retarget", "raise", "autodiff", "lower",
                                      "translate", "codegen", "check"]
    assert host[2].time == pytest.approx(0.22)
    sm90 = [c for c in lib.cases if c.classname == "cargo-mlir.stages.saxpy.sm_90"]
    assert [(c.name, c.status) for c in sm90] == [("extract", "passed"), ("check", "passed")]
    assert "warning: no ptxas" in sm90[-1].output
    test = suites["cargo-mlir stages: saxpy (test `saxpy`) [572065b2330f214a]"]
    check = test.cases[-1]
    assert (check.classname, check.name, check.status) == ("cargo-mlir.stages.bad.host", "check", "failed")
    assert "allocation" in check.message
    assert lib.time == pytest.approx(sum(c.time for c in lib.cases))


# ---- JUnit XML: the structure of the JUnit schema (Jenkins junit.xsd, which
# GitHub test reporters, GitLab and Jenkins read) --------------------------

CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}


def check_junit(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        assert suite.get("name")
        float(suite.get("time"))
        cases = list(suite)
        assert all(c.tag == "testcase" for c in cases), [c.tag for c in cases]
        kinds = [[d.tag for d in c] for c in cases]
        counts = {"tests": len(cases), "failures": sum("failure" in k for k in kinds),
                  "errors": sum("error" in k for k in kinds), "skipped": sum("skipped" in k for k in kinds)}
        for key, n in counts.items():
            assert int(suite.get(key)) == n, (suite.get("name"), key)
            totals[key] += n
        for c in cases:
            assert c.get("name") and c.get("classname") is not None
            assert float(c.get("time")) >= 0
            children = [d.tag for d in c]
            assert set(children) <= CASE_CHILDREN
            assert len([t for t in children if t in ("skipped", "error", "failure")]) <= 1
            for d in c:
                if d.tag in ("failure", "error"):
                    assert d.get("message") and d.get("type")
    for key, n in totals.items():
        assert int(root.get(key)) == n, key
    assert float(root.get("time")) == pytest.approx(sum(float(s.get("time")) for s in root), abs=0.01)
    return root


def test_junit_of_libtest_and_stages_is_valid_and_counts_agree():
    suites = junit.parse_libtest(DEMO) + junit.stage_suites(REPORT)
    root = check_junit(junit.to_junit(suites, timestamp="2026-01-01T00:00:00+00:00"))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("24", "5", "2")
    lib = root.find("testsuite[@name='demo: unittests src/lib.rs']")
    failure = lib.find("testcase[@name='tests::fails']/failure")
    assert failure.get("message") == "assertion `left == right` failed: math is broken"
    assert "right: 5" in failure.text
    assert lib.find("testcase[@name='tests::ignored_reason']/skipped").get("message") == "slow"
    assert lib.get("timestamp") == "2026-01-01T00:00:00+00:00"
    check = root.find(".//testcase[@classname='cargo-mlir.stages.bad.host'][@name='check']/failure")
    assert "allocation" in check.get("message")


def test_junit_error_case_and_characters_xml_forbids():
    suites = junit.parse_libtest(CRASH)
    suites.append(Suite("odd", [Case("c", "ansi", "failed", message="bell \x07", output="nul \x00 esc \x1b[0m")]))
    root = check_junit(junit.to_junit(suites))
    assert root.find(".//testcase[@name='(test binary)']/error") is not None
    assert root.get("errors") == "1" and root.get("failures") == "1"
    odd = root.find(".//testcase[@name='ansi']/failure")
    assert "\x00" not in odd.text and odd.text.startswith("nul ")


def test_junit_of_nothing_is_still_valid():
    root = check_junit(junit.to_junit([]))
    assert root.get("tests") == "0"


# ---- the Markdown summary -------------------------------------------------

def test_summary_lists_kernels_targets_counts_and_the_failing_step():
    steps = [Case("cargo-mlir.ci", "toolchain", time=0.5), Case("cargo-mlir.ci", "build", time=3.0),
             Case("cargo-mlir.ci", "test", "failed", 2.0, message="5 tests failed")]
    text = junit.summary_markdown(steps=steps, tests=junit.parse_libtest(DEMO), report=REPORT,
                                  versions={"rustc": "1.95.0", "LLVM": "22.1.2"}, failed=steps[2])
    lines = text.splitlines()
    assert lines[0] == "## cargo mlir ci: failed at step `test`"
    assert "rustc 1.95.0 · LLVM 22.1.2" in lines
    header = next(l for l in lines if l.startswith("| kernel |"))
    assert header == "| kernel | package | host | sm_90 |"
    assert "| `saxpy` | saxpy | 0.68 s | 0.10 s (cached) |" in lines
    assert "| `bad` | saxpy | error | – |" in lines
    assert "### Tests: 5 passed, 4 failed, 2 ignored" in lines
    assert "| demo: unittests src/lib.rs | 2 | 2 | 2 | 0.00 s |" in lines
    assert "| test | failed | 2.00 s |" in lines
    assert "- `demo` `tests::fails`: assertion `left == right` failed: math is broken" in lines
    assert lines[-1] == "- step `test`: 5 tests failed"


def test_summary_without_a_device_report_says_why():
    text = junit.summary_markdown(steps=[Case("cargo-mlir.ci", "build", "failed", message="error[E0425]")],
                                  tests=[], report=None, versions={}, failed=None)
    assert "No device report: the build did not reach the device step." in text
    assert "No test results." in text


def test_kernel_matrix_adds_up_units():
    twice = {"kernels": REPORT["kernels"][:1] * 2}
    targets, rows = junit.kernel_matrix(twice)
    assert targets == ["host"]
    cell = rows[("saxpy", "saxpy")]["host"]
    assert cell["units"] == 2 and cell["seconds"] == pytest.approx(2 * 0.6813)
