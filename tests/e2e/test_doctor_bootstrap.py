"""`cargo mlir doctor` and `cargo mlir bootstrap install` with the real tools,
and the toolchain record as later commands see it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import tomlkit

from conftest import CLI, REPO, copy_crate, run

pytestmark = pytest.mark.e2e
REQUIRED = ("mlir-opt", "mlir-translate", "opt", "llc", "llvm-extract", "llvm-link", "llvm-objdump",
            "llvm-readelf", "ld.lld", "clang", "llvm-offload-binary", "llvm-offload-wrapper",
            "libomptarget", "libLLVMOffload")


def test_doctor_finds_every_tool_at_rustcs_llvm_major(tmp_path):
    result = run([CLI, "doctor"], tmp_path, CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("rustc 1.") and "tools must be LLVM 22" in lines[0]
    for key in REQUIRED:
        row = next(l for l in lines if l.split()[1:2] == [key])
        assert row.split()[0] == "ok" and row.split()[2].startswith("22."), row
    assert "toolchain complete" in lines[-1]
    # what drivers the GPU images need, and the device math libraries (docs/gpu-math.md)
    assert re.search(r"cubins from it need NVIDIA driver >= \d+; PTX images need >= 520", result.stdout)
    for key in ("libdevice", "rocm-device-libs"):
        assert next(l for l in lines if l.split()[1:2] == [key]).split()[0] == "ok", result.stdout
    record = tomlkit.parse((tmp_path / "tc.toml").read_text())
    assert record["tools"]["mlir-opt"]["version"].startswith("22.")


def fake_tool(dir: Path, name: str, version: str) -> None:
    dir.mkdir(exist_ok=True)
    script = dir / name
    script.write_text(f"#!/bin/sh\nprintf 'LLVM (http://llvm.org/):\\n  LLVM version {version}\\n'\n")
    script.chmod(0o755)


def test_doctor_fails_on_a_wrong_major_first_on_path_and_names_both(tmp_path):
    fake_tool(tmp_path / "bin", "mlir-opt", "19.1.7")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CARGO_MLIR_TOOLCHAIN_FILE": str(tmp_path / "tc.toml")}
    result = run([CLI, "doctor"], tmp_path, **env)
    assert result.returncode == 1
    row = next(l for l in result.stdout.splitlines() if " mlir-opt " in l)
    assert row.split()[0] == "MISSING"
    assert "is LLVM 19.1.7, but rustc uses LLVM 22" in row
    assert "a matching one is at /usr/bin/mlir-opt-22" in row
    assert not (tmp_path / "tc.toml").exists()         # nothing recorded from a broken toolchain
    as_json = json.loads(run([CLI, "doctor", "--json"], tmp_path, **env).stdout)
    assert as_json["ok"] is False
    assert [p["key"] for p in as_json["problems"] if p["required"]] == ["mlir-opt"]


def test_bootstrap_install_is_idempotent_and_records_the_toolchain(tmp_path):
    record = tmp_path / "tc.toml"
    dry = run([CLI, "bootstrap", "install", "--dry-run"], tmp_path, CARGO_MLIR_TOOLCHAIN_FILE=str(record))
    assert dry.returncode == 0
    result = run([CLI, "bootstrap", "install"], tmp_path, CARGO_MLIR_TOOLCHAIN_FILE=str(record))
    assert result.returncode == 0, result.stderr
    assert "already installed (llvm-22, mlir-22-tools, lld-22, clang-22, liboffload-22, libomp-22-dev)" in result.stderr
    doc = tomlkit.parse(record.read_text())
    assert doc["source"] == "debian" and doc["rustc"]["llvm-version"].startswith("22.")
    assert set(REQUIRED) <= set(doc["tools"]) | set(doc["libraries"])


def test_a_corrupt_toolchain_record_is_reported_and_replaced(tmp_path):
    record = tmp_path / "tc.toml"
    record.write_text("schema = 1\n[tools\nmlir-opt = ")
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    result = run([CLI, "mlir", "build"], crate, CARGO_MLIR_TOOLCHAIN_FILE=str(record))
    assert result.returncode == 0, result.stderr
    assert f"toolchain record {record} cannot be used: it is corrupt" in result.stderr
    assert tomlkit.parse(record.read_text())["tools"]["llc"]["version"].startswith("22.")
    # the replaced record is used silently next time
    again = run([CLI, "mlir", "build"], crate, CARGO_MLIR_TOOLCHAIN_FILE=str(record))
    assert "cannot be used" not in again.stderr


def test_a_record_pointing_at_a_changed_tool_is_not_trusted(tmp_path):
    record = tmp_path / "tc.toml"
    assert run([CLI, "doctor"], tmp_path, CARGO_MLIR_TOOLCHAIN_FILE=str(record)).returncode == 0
    doc = tomlkit.parse(record.read_text())
    doc["tools"]["opt"]["mtime"] = 1
    record.write_text(tomlkit.dumps(doc))
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    result = run([CLI, "mlir", "build"], crate, CARGO_MLIR_TOOLCHAIN_FILE=str(record))
    assert result.returncode == 0, result.stderr
    assert "opt at" in result.stderr and "has changed since it was recorded" in result.stderr
