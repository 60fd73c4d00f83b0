"""The CI templates in ci/ (GitHub Actions, GitLab CI, Dockerfile): they parse,
every `cargo mlir …` they run is a command of the real CLI with arguments it
accepts, the JUnit path they publish is the one `cargo mlir ci` writes, and
their caches hold the toolchain record and the device cache, keyed by rustc
and LLVM versions. Also `cargo mlir ci`'s own arguments, and its steps with
the toolchain and the CLI runs replaced (the real runs: tests/e2e/test_ci.py)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from cargo_mlir.bootstrap import install as bootstrap_install
from cargo_mlir.ci import command as ci
from cargo_mlir import cli
from cargo_mlir.cargo import units
from cargo_mlir.toolchain import record
from cargo_mlir.toolchain import tools
from cargo_mlir.errors import CargoMlirError

CI_DIR = Path(__file__).resolve().parents[2] / "ci"
GITHUB = CI_DIR / "github-actions.yml"
GITLAB = CI_DIR / "gitlab-ci.yml"
DOCKERFILE = CI_DIR / "Dockerfile"
DEVICE_CACHE = str(units.state_dir(Path("target")) / "cache")     # where the pipeline caches images
CARGO_MLIR = re.compile(r"\bcargo mlir\b(?P<rest>[^\n;&|]*)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def check_cargo_mlir(line: str) -> list[str]:
    """Each `cargo mlir X …` in `line` must be a real command with valid arguments;
    returns the words after `cargo mlir` of each."""
    commands = _subcommands(cli.build_parser())
    found = []
    for m in CARGO_MLIR.finditer(line):
        words = shlex.split(m["rest"])
        assert words, line
        name = words[0]
        if name == "ci":                    # dispatched before the parser (cli.dispatch)
            try:
                opts = ci.parse_args(words[1:])
            except CargoMlirError as exc:
                raise AssertionError(f"`cargo mlir {' '.join(words)}`: {exc}") from None
            assert not opts.help
        elif name in cli.CARGO_COMMANDS:
            pass                            # cargo's own arguments pass through unchecked
        else:
            assert name in commands, f"`cargo mlir {name}` is not a command: {line}"
            try:
                cli.build_parser().parse_args(words)
            except SystemExit:
                raise AssertionError(f"`cargo mlir {' '.join(words)}` does not parse") from None
        found.append(" ".join(words))
    return found


def github() -> dict:
    return yaml.safe_load(GITHUB.read_text())


def gitlab() -> dict:
    return yaml.safe_load(GITLAB.read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in DOCKERFILE.read_text().splitlines()
                                           if not l.lstrip().startswith("#")))
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1]) for l in text.splitlines() if l.strip()]


def test_github_workflow_runs_cargo_mlir_ci_and_uploads_its_junit():
    wf = github()
    on = wf.get("on", wf.get(True))         # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(on)
    (job,) = wf["jobs"].values()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    commands = [c for r in runs for c in check_cargo_mlir(r)]
    ci_runs = [c for c in commands if c.startswith("ci")]
    assert len(ci_runs) == 1
    junit_arg = ci.parse_args(shlex.split(ci_runs[0])[1:]).junit
    assert junit_arg is not None and junit_arg.name == "junit.xml"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert f"{upload['with']['path']}/junit.xml" == f"{wf['env']['CI_REPORTS']}/junit.xml"
    assert any("pip install" in r for r in runs)
    check_pip_source(wf["env"]["CARGO_MLIR_PIP"], "\n".join(runs))


def check_pip_source(source: str, script: str) -> None:
    """cargo-mlir is not on PyPI: what the template installs is a path or a VCS
    URL, never the bare name, and an unedited placeholder stops the job."""
    assert source != "cargo-mlir" and re.match(r"(git\+https://|\.|/)", source), source
    assert 'pip install "$CARGO_MLIR_PIP"' in script
    if "EDIT-ME" in source:
        guard = re.search(r'case "\$CARGO_MLIR_PIP" in \*EDIT-ME\*\)(.*?)esac', script, re.S)
        assert guard and "exit 1" in guard[1] and "not on PyPI" in guard[1], script
        assert script.index(guard[0]) < script.index('pip install "$CARGO_MLIR_PIP"')


def test_check_pip_source_rejects_pypi_and_an_unguarded_placeholder():
    install = 'pip install "$CARGO_MLIR_PIP"'
    with pytest.raises(AssertionError):
        check_pip_source("cargo-mlir", install)
    with pytest.raises(AssertionError):
        check_pip_source("git+https://EDIT-ME.example/cargo-mlir.git", install)
    check_pip_source(".", install)


def test_github_caches_the_record_and_device_artifacts_by_rustc_and_llvm():
    wf = github()
    (job,) = wf["jobs"].values()
    versions = next(s for s in job["steps"] if s.get("id") == "versions")
    assert "rustc -vV" in versions["run"] and "LLVM version" in versions["run"]
    caches = {s["with"]["path"]: s["with"] for s in job["steps"] if s.get("uses", "").startswith("actions/cache")}
    assert set(caches) == {".cargo-mlir", DEVICE_CACHE}
    for c in caches.values():
        assert "steps.versions.outputs.rustc" in c["key"] and "steps.versions.outputs.llvm" in c["key"]
    # the record lives where the cache looks (set through GITHUB_ENV)
    install = "\n".join(s["run"] for s in job["steps"] if "run" in s)
    assert "CARGO_MLIR_TOOLCHAIN_FILE=$GITHUB_WORKSPACE/.cargo-mlir/toolchain.toml" in install
    assert steps_order(job) == sorted(steps_order(job))


def steps_order(job: dict) -> list[int]:
    """Indices of: versions, each cache, the ci run — caches restore before ci runs."""
    steps = job["steps"]
    idx = [i for i, s in enumerate(steps) if s.get("id") == "versions"]
    idx += [i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/cache")]
    idx += [i for i, s in enumerate(steps) if "cargo mlir ci" in s.get("run", "")]
    return idx


def test_gitlab_job_runs_cargo_mlir_ci_and_reports_its_junit():
    (name, job), = gitlab().items()
    lines = job["before_script"] + job["script"]
    commands = [c for l in lines for c in check_cargo_mlir(l)]
    (ci_run,) = [c for c in commands if c.startswith("ci")]
    assert ci.parse_args(shlex.split(ci_run)[1:]).junit is not None
    junit_path = job["artifacts"]["reports"]["junit"]
    assert junit_path == f"{job['variables']['CI_REPORTS']}/junit.xml"
    assert job["artifacts"]["when"] == "always"
    assert any("pip install" in l for l in lines)
    check_pip_source(job["variables"]["CARGO_MLIR_PIP"], "\n".join(job["before_script"]))


def test_gitlab_caches_the_record_and_device_artifacts_by_rustc_and_llvm():
    job = next(iter(gitlab().values()))
    variables = job["variables"]
    assert variables["CARGO_MLIR_TOOLCHAIN_FILE"].endswith(".cargo-mlir/toolchain.toml")
    paths = {}
    for c in job["cache"]:
        key = c["key"] if isinstance(c["key"], str) else c["key"]["prefix"]
        assert "$RUST_TOOLCHAIN" in key and "$LLVM_VERSION" in key
        paths.update(dict.fromkeys(p.rstrip("/") for p in c["paths"]))
    assert set(paths) == {".cargo-mlir", DEVICE_CACHE}
    # the pinned versions are the ones the before_script checks and installs
    script = "\n".join(job["before_script"])
    assert '"$RUST_TOOLCHAIN"' in script and "LLVM version: $LLVM_VERSION" in script
    assert re.fullmatch(r"\d+\.\d+\.\d+", variables["RUST_TOOLCHAIN"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", variables["LLVM_VERSION"])


def test_dockerfile_is_debian_12_with_rustup_the_package_and_the_toolchain():
    instr = dockerfile_instructions()
    assert instr[0] == ("FROM", "debian:12")
    runs = [args for op, args in instr if op == "RUN"]
    commands = [c for r in runs for c in check_cargo_mlir(r)]
    assert commands == ["bootstrap install", "doctor"]
    assert any("sh.rustup.rs" in r and '--default-toolchain "$RUST_TOOLCHAIN"' in r for r in runs)
    assert ("ARG", "RUST_TOOLCHAIN=stable") in instr
    pip_run = next(i for i, r in enumerate(runs) if "pip install" in r)
    boot_run = next(i for i, r in enumerate(runs) if "cargo mlir bootstrap install" in r)
    assert pip_run < boot_run                   # the CLI exists before it provisions
    # the package comes from the checkout the image is built from, not PyPI
    copy_dst = next(args.split()[-1] for op, args in instr if op == "COPY" and args.split()[0] == ".")
    assert f"pip install --no-cache-dir {copy_dst}" in runs[pip_run]
    env = " ".join(args for op, args in instr if op == "ENV")
    assert "/opt/cargo-mlir/bin" in env and "CARGO_MLIR_TOOLCHAIN_FILE=" in env
    ignore = (CI_DIR / "Dockerfile.dockerignore").read_text().split()
    assert "**/target" in ignore and ".venv" in ignore


def test_a_command_that_does_not_exist_is_caught():
    with pytest.raises(AssertionError):
        check_cargo_mlir("cargo mlir deploy --now")
    with pytest.raises(AssertionError, match="`--junit` needs a value"):
        check_cargo_mlir("cargo mlir ci --junit")
    assert check_cargo_mlir("cargo mlir bootstrap install --dry-run && cargo mlir test --release") == [
        "bootstrap install --dry-run", "test --release"]


# ---- `cargo mlir ci` arguments ----------------------------------------------

def test_ci_takes_its_flags_and_keeps_the_rest_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = ci.parse_args(["--release", "--junit", "out/j.xml", "-p", "saxpy", "--summary=s.md", "--",
                          "--junit", "x"])
    assert opts.junit == tmp_path / "out" / "j.xml" and opts.summary == tmp_path / "s.md"
    assert opts.cargo_args == ("--release", "-p", "saxpy", "--", "--junit", "x")
    assert ci.parse_args(["-h"]).help


@pytest.mark.parametrize("argv", [["--summary"], ["--release", "--junit"]])
def test_ci_flag_without_a_value_is_an_error(argv):
    with pytest.raises(CargoMlirError, match=f"`{argv[-1]}` needs a value"):
        ci.parse_args(argv)


def test_build_gets_no_test_only_flags_and_test_runs_every_binary():
    args = ("--release", "--no-fail-fast", "--doc", "--offload-arch", "sm_90", "--", "--nocapture")
    assert ci.build_argv(args) == ["--release", "--offload-arch", "sm_90"]
    assert ci.test_argv(args) == list(args)
    assert ci.test_argv(("--release", "--", "--no-fail-fast")) == [
        "--release", "--no-fail-fast", "--", "--no-fail-fast"]
    assert ci.test_argv(()) == ["--no-fail-fast"]


def test_a_test_name_filter_goes_to_the_test_step_only():
    args = ("my_test", "--release", "-p", "saxpy", "--features", "gpu", "--offload-arch", "sm_90",
            "--target-dir=t", "-j", "4", "--test", "integration", "--bin", "--color", "never", "--",
            "--exact", "other")
    assert ci.build_argv(args) == ["--release", "-p", "saxpy", "--features", "gpu", "--offload-arch", "sm_90",
                                   "--target-dir=t", "-j", "4", "--test", "integration", "--bin",
                                   "--color", "never"]
    assert ci.test_argv(args)[0] == "my_test" and ci.test_argv(args)[-3:] == ["--", "--exact", "other"]
    assert ci.build_argv(("--no-run", "filter")) == []


# ---- `cargo mlir ci` steps, toolchain and CLI runs replaced ------------------

RUSTC = tools.RustcInfo("1.95.0", "x86_64-unknown-linux-gnu", "22.1.2")
MISSING = record.Probe(RUSTC, {}, (tools.Problem("mlir-opt", "not found", "apt-get install mlir-22-tools"),))
COMPLETE = record.Probe(RUSTC, {}, ())
TEST_OUTPUT = [
    "     Running unittests src/lib.rs (target/debug/deps/saxpy-7ca6c019d741c46f)", "", "running 1 test",
    "test tests::it_works ... ok", "",
    "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"]


@pytest.fixture
def steps(monkeypatch, tmp_path):
    """ci.main with probes answering from a list and the CLI runs recorded."""
    monkeypatch.setenv("CARGO_MLIR_TOOLCHAIN_FILE", str(tmp_path / "toolchain.toml"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    state = {"probes": [], "installs": 0, "runs": []}
    monkeypatch.setattr(record, "probe", lambda rustc=None: state["probes"].pop(0))

    def install(shell, **kw):
        state["installs"] += 1
        return state["install_status"]

    def cli_run(self, command, argv):
        state["runs"].append((command, argv))
        return 0, TEST_OUTPUT if command == "test" else []

    monkeypatch.setattr(bootstrap_install, "run", install)
    monkeypatch.setattr(ci.Run, "cli", cli_run)
    junit = tmp_path / "junit.xml"
    state["main"] = lambda: ci.main(["--junit", str(junit), "--manifest-path",
                                     str(tmp_path / "absent" / "Cargo.toml")])
    state["junit"] = junit
    return state


def step_results(junit: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET
    root = ET.parse(junit).getroot()
    return {c.get("name"): (c[0].tag if len(c) else "ok")
            for c in root.iter("testcase") if c.get("classname") == ci.STEP_CLASS}


def test_a_failed_install_names_step_bootstrap_and_runs_nothing_else(steps, capsys):
    steps["probes"] = [MISSING]
    steps["install_status"] = 1
    assert steps["main"]() == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: cargo mlir ci failed at step `bootstrap`: " \
                      "cargo mlir bootstrap install exited with status 1"
    assert any("mlir-opt: not found" in l for l in err)
    assert steps["installs"] == 1 and steps["runs"] == []
    assert step_results(steps["junit"]) == {"toolchain": "ok", "bootstrap": "failure", "build": "skipped",
                                            "test": "skipped"}


def test_a_provisioned_toolchain_goes_on_to_build_and_test(steps, capsys):
    steps["probes"] = [MISSING, COMPLETE]
    steps["install_status"] = 0
    assert steps["main"]() == 0
    assert steps["installs"] == 1
    assert [c for c, _ in steps["runs"]] == ["build", "test"]
    assert "--no-fail-fast" in steps["runs"][1][1]
    assert step_results(steps["junit"]) == {"toolchain": "ok", "bootstrap": "ok", "build": "ok", "test": "ok"}
    assert "1 test passed, 0 ignored" in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_complete_toolchain_is_not_provisioned_and_is_recorded(steps, tmp_path):
    steps["probes"] = [COMPLETE]
    assert steps["main"]() == 0
    assert steps["installs"] == 0
    assert (tmp_path / "toolchain.toml").is_file()
    assert list(step_results(steps["junit"])) == ["toolchain", "build", "test"]
