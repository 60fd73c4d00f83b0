"""Tool detection: the version parsers on captured `--version` output, the
search order on a fake PATH, and the wrong-LLVM report (with stand-in tools
that are small shell scripts printing a version)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargo_mlir.toolchain import tools
from cargo_mlir.errors import CargoMlirError

RUSTC_STABLE = """\
rustc 1.95.0 (59807616e 2026-04-14)
binary: rustc
commit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860
commit-date: 2026-04-14
host: x86_64-unknown-linux-gnu
release: 1.95.0
LLVM version: 22.1.2
"""

RUSTC_NIGHTLY = """\
rustc 1.97.0-nightly (e50aa6fba 2026-05-19)
binary: rustc
commit-hash: e50aa6fba4e63ab34c72bf9acfd2c307c1155d1a
commit-date: 2026-05-19
host: aarch64-unknown-linux-gnu
release: 1.97.0-nightly
LLVM version: 22.1.4
"""

MLIR_OPT = "Debian LLVM version 22.1.8\n  Optimized build.\n"
UPSTREAM_MLIR_OPT = "LLVM (http://llvm.org/):\n  LLVM version 23.0.0git\n  Optimized build with assertions.\n"
CLANG = ("Debian clang version 22.1.8 (1~deb12u1)\nTarget: x86_64-pc-linux-gnu\nThread model: posix\n"
         "InstalledDir: /usr/lib/llvm-22/bin\n")
LLD = "Debian LLD 22.1.8 (compatible with GNU linkers)\n"
PTXAS = ("ptxas: NVIDIA (R) Ptx optimizing assembler\nCopyright (c) 2005-2025 NVIDIA Corporation\n"
         "Built on Wed_Aug_20_01:55:12_PM_PDT_2025\nCuda compilation tools, release 13.0, V13.0.88\n"
         "Build cuda_13.0.r13.0/compiler.36424714_0\n")

MLIR_OPT_SPEC = next(s for s in tools.TOOLS if s.key == "mlir-opt")


def test_rustc_stable():
    info = tools.parse_rustc_vv(RUSTC_STABLE)
    assert info == tools.RustcInfo("1.95.0", "x86_64-unknown-linux-gnu", "22.1.2",
                                   "59807616e1fa2540724bfbac14d7976d7e4a3860")
    assert info.llvm_major == 22


def test_rustc_nightly():
    info = tools.parse_rustc_vv(RUSTC_NIGHTLY)
    assert (info.release, info.host, info.llvm_version, info.llvm_major) == (
        "1.97.0-nightly", "aarch64-unknown-linux-gnu", "22.1.4", 22)


def test_rustc_output_without_llvm_version_names_what_is_missing():
    text = RUSTC_STABLE.replace("LLVM version: 22.1.2\n", "")
    with pytest.raises(CargoMlirError) as err:
        tools.parse_rustc_vv(text)
    assert "'LLVM version'" in err.value.message and "release: 1.95.0" in err.value.message


@pytest.mark.parametrize("text, version", [
    (MLIR_OPT, "22.1.8"), (UPSTREAM_MLIR_OPT, "23.0.0"), (CLANG, "22.1.8"), (LLD, "22.1.8"), (PTXAS, "13.0.88"),
    ("mlir-opt: unknown option --version\n", None),
])
def test_tool_versions(text, version):
    assert tools.parse_tool_version(text) == version


def test_ptxas_copyright_year_is_not_its_version():
    # "2005-2025" and "release 13.0" come first; the version is V13.0.88
    assert tools.major_of(tools.parse_tool_version(PTXAS)) == 13


def test_env_var_names():
    assert MLIR_OPT_SPEC.env_var == "CARGO_MLIR_MLIR_OPT"
    assert next(s for s in tools.TOOLS if s.key == "ld.lld").env_var == "CARGO_MLIR_LD_LLD"


# ---------------------------------------------------------------- search order

def fake_tool(path: Path, output: str) -> Path:
    """A stand-in tool: prints `output` for --version (with the shell's own
    printf: PATH holds only the fake directories)."""
    assert "'" not in output
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = " ".join(f"'{line}'" for line in output.splitlines())
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' {lines}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(first), str(second)]))
    monkeypatch.delenv(MLIR_OPT_SPEC.env_var, raising=False)
    return first, second


def test_earlier_path_dir_wins_over_a_versioned_name_later(fake_path):
    first, second = fake_path
    plain = fake_tool(first / "mlir-opt", MLIR_OPT)
    versioned = fake_tool(second / "mlir-opt-22", MLIR_OPT)
    found = tools.candidates(MLIR_OPT_SPEC, 22)
    assert found[:2] == [str(plain), str(versioned)]
    # LLVM's own bin dir is the last resort, after PATH
    assert all(not p.startswith("/usr/lib/llvm-22/") for p in found[:2])


def test_versioned_name_first_within_one_dir(fake_path):
    first, _ = fake_path
    plain = fake_tool(first / "mlir-opt", MLIR_OPT)
    versioned = fake_tool(first / "mlir-opt-22", MLIR_OPT)
    assert tools.candidates(MLIR_OPT_SPEC, 22)[:2] == [str(versioned), str(plain)]


def test_non_executable_files_are_not_candidates(fake_path):
    first, _ = fake_path
    fake_tool(first / "mlir-opt", MLIR_OPT).chmod(0o644)
    assert str(first / "mlir-opt") not in tools.candidates(MLIR_OPT_SPEC, 22)


def test_wrong_llvm_major_names_both_versions_and_the_better_tool(fake_path):
    first, second = fake_path
    old = fake_tool(first / "mlir-opt", "Ubuntu LLVM version 19.1.7\n  Optimized build.\n")
    good = fake_tool(second / "mlir-opt-22", MLIR_OPT)
    result = tools.find_tool(MLIR_OPT_SPEC, 22)
    assert isinstance(result, tools.Problem)
    assert result.message == (f"{old} is LLVM 19.1.7, but rustc uses LLVM 22; a matching one is at {good}: "
                              f"put it first on PATH or set CARGO_MLIR_MLIR_OPT")
    assert result.fix.startswith("set CARGO_MLIR_MLIR_OPT=/path/to/mlir-opt of LLVM 22")


def test_override_variable_beats_path(fake_path, tmp_path, monkeypatch):
    first, _ = fake_path
    fake_tool(first / "mlir-opt-22", MLIR_OPT)
    mine = fake_tool(tmp_path / "elsewhere" / "my-mlir-opt", "LLVM version 22.1.0\n")
    monkeypatch.setenv("CARGO_MLIR_MLIR_OPT", str(mine))
    assert tools.find_tool(MLIR_OPT_SPEC, 22) == tools.Found("mlir-opt", str(mine), "22.1.0")


def test_unreadable_version_output_is_a_problem_not_a_crash(fake_path):
    first, _ = fake_path
    fake_tool(first / "mlir-opt-22", "this is not a version\n")
    result = tools.find_tool(MLIR_OPT_SPEC, 22)
    assert isinstance(result, tools.Problem)
    assert "unrecognised version output" in result.message and result.required


def test_optional_tool_missing_is_not_required(fake_path, monkeypatch):
    ptxas = next(s for s in tools.TOOLS if s.key == "ptxas")
    monkeypatch.setattr(tools, "CUDA_DIRS", ())        # this machine may have a real CUDA
    monkeypatch.delenv(ptxas.env_var, raising=False)
    result = tools.find_tool(ptxas, 22)
    assert result == tools.Problem("ptxas", "not found", fix=tools.install_hint(22, ptxas), required=False)
    assert "CUDA toolkit" in result.fix


@pytest.mark.parametrize("version, driver", [("13.0.88", 580), ("12.4.131", 525), ("11.8.89", 450), ("10.2.89", None)])
def test_the_oldest_driver_for_a_ptxas_release(version, driver):
    assert tools.min_driver(version) == driver
