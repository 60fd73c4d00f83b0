"""The toolchain record: it round-trips, and every way it can go stale
(corrupt, incomplete, another rustc, a tool replaced) is reported with the
reason and never trusted; resolve() then probes and records again."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import tomlkit

from cargo_mlir.toolchain import record as toolchain
from cargo_mlir.toolchain import tools
from cargo_mlir.term import Shell
from cargo_mlir.toolchain.record import StaleRecord, Toolchain

RUSTC = tools.RustcInfo("1.95.0", "x86_64-unknown-linux-gnu", "22.1.2", "59807616e1fa2540724bfbac14d7976d7e4a3860")


@pytest.fixture
def fake_toolchain(tmp_path) -> Toolchain:
    """Every tool and library as a small file: the record looks at paths,
    sizes and mtimes, never runs them."""
    def found(key: str, version: str) -> tools.Found:
        p = tmp_path / "bin" / key
        p.parent.mkdir(exist_ok=True)
        p.write_text(f"#!/bin/sh\necho {key}\n")
        return tools.Found(key, str(p), version)

    return Toolchain(RUSTC, {s.key: found(s.key, "22.1.8") for s in tools.TOOLS}, "system",
                     {k: found(k, "22.1") for k, _ in tools.LIBRARIES}
                     | {s.key: found(s.key, "0123456789") for s in tools.DEVICE_LIBRARIES})


@pytest.fixture
def record(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "state" / "toolchain.toml"
    monkeypatch.setenv("CARGO_MLIR_TOOLCHAIN_FILE", str(path))
    return path


def edit(path: Path, change) -> None:
    doc = tomlkit.parse(path.read_text())
    change(doc)
    path.write_text(tomlkit.dumps(doc))


def stale_reason(path: Path, rustc: tools.RustcInfo = RUSTC) -> str:
    with pytest.raises(StaleRecord) as err:
        toolchain.load(path, rustc)
    return str(err.value)


def test_record_path_follows_the_variable(record):
    assert toolchain.record_path() == record


def test_round_trip(fake_toolchain, record):
    assert toolchain.save(fake_toolchain) == record
    text = record.read_text()
    assert text.startswith("# written by cargo-mlir")          # says who wrote it and how to reset it
    assert toolchain.load(record, RUSTC) == fake_toolchain
    assert toolchain.load(record, RUSTC).tool("mlir-opt") == fake_toolchain.tools["mlir-opt"].path


def test_corrupt_file(record):
    record.parent.mkdir(parents=True)
    record.write_text("schema = 1\n[rustc\nrelease = ")
    assert stale_reason(record).startswith("it is corrupt (")


@pytest.mark.parametrize("drop, what", [
    (lambda d: d.remove("rustc"), "'rustc'"),
    (lambda d: d["tools"]["opt"].remove("mtime"), "'mtime'"),
    (lambda d: d.remove("libraries"), "'libraries'"),
])
def test_missing_key(fake_toolchain, record, drop, what):
    toolchain.save(fake_toolchain)
    edit(record, drop)
    assert stale_reason(record) == f"it is corrupt (missing or malformed {what})"


def test_missing_required_tool(fake_toolchain, record):
    toolchain.save(fake_toolchain)
    edit(record, lambda d: d["tools"].remove("mlir-translate"))
    assert stale_reason(record) == "it lacks mlir-translate"


def test_optional_tool_may_be_absent(fake_toolchain, record, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(tools, "CUDA_DIRS", ())
    toolchain.save(fake_toolchain)
    edit(record, lambda d: d["tools"].remove("ptxas"))
    assert not toolchain.load(record, RUSTC).has("ptxas")


def test_an_optional_tool_installed_later_makes_the_record_stale(fake_toolchain, record, monkeypatch, tmp_path):
    bin_dir = tmp_path / "cuda"
    bin_dir.mkdir()
    (bin_dir / "ptxas").write_text("#!/bin/sh\n")
    (bin_dir / "ptxas").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(tools, "CUDA_DIRS", ())
    toolchain.save(fake_toolchain)
    edit(record, lambda d: d["tools"].remove("ptxas"))
    assert stale_reason(record) == f"ptxas is now available ({bin_dir / 'ptxas'})"


def test_a_device_library_installed_later_makes_the_record_stale(fake_toolchain, record, monkeypatch, tmp_path):
    bitcode = tmp_path / "bitcode"
    bitcode.mkdir()
    monkeypatch.setenv("CARGO_MLIR_ROCM_DEVICE_LIBS", str(bitcode))
    toolchain.save(fake_toolchain)
    edit(record, lambda d: d["libraries"].remove("rocm-device-libs"))
    assert toolchain.load(record, RUSTC).library("rocm-device-libs") is None      # optional: absent is fine
    (bitcode / "ocml.bc").write_bytes(b"BC\xc0\xde")
    assert stale_reason(record) == f"rocm-device-libs is now available ({bitcode / 'ocml.bc'})"


def test_device_libraries_are_found_by_override_then_vendor_then_distribution(monkeypatch, tmp_path):
    spec = tools.device_library_spec("rocm-device-libs")
    mine, rocm = tmp_path / "mine", tmp_path / "rocm" / "amdgcn" / "bitcode"
    for d in (mine, rocm):
        d.mkdir(parents=True)
        (d / "ocml.bc").write_bytes(d.name.encode())
    monkeypatch.setenv("ROCM_PATH", str(tmp_path / "rocm"))
    assert tools.find_device_library(spec, 22).path == str(rocm / "ocml.bc")
    monkeypatch.setenv(spec.env_var, str(mine))
    found = tools.find_device_library(spec, 22)
    assert found.path == str(mine / "ocml.bc") and len(found.version) == 10      # a digest: part of cache keys
    monkeypatch.setenv(spec.env_var, str(tmp_path / "nowhere"))
    problem = tools.find_device_library(spec, 22)
    assert problem.message == f"not found (looked in {spec.env_var}={tmp_path / 'nowhere'})" and not problem.required
    libdevice = tools.device_library_spec("libdevice")
    cuda = tmp_path / "cuda-13.0"
    (cuda / "bin").mkdir(parents=True)
    (cuda / "nvvm" / "libdevice").mkdir(parents=True)
    (cuda / "nvvm" / "libdevice" / "libdevice.10.bc").write_bytes(b"BC")
    assert tools.device_library_dirs(libdevice, 22, str(cuda / "bin" / "ptxas"))[0] == cuda / "nvvm" / "libdevice"


def test_changed_overrides_make_the_record_stale(fake_toolchain, record, monkeypatch):
    toolchain.save(fake_toolchain)
    monkeypatch.setenv("CARGO_MLIR_LLC", "/opt/llvm/bin/llc")
    assert "overrides differ" in stale_reason(record) and "CARGO_MLIR_LLC" in stale_reason(record)


def test_other_schema(fake_toolchain, record):
    toolchain.save(fake_toolchain)
    edit(record, lambda d: d.__setitem__("schema", 0))
    assert stale_reason(record) == f"it has schema 0, this cargo-mlir writes {toolchain.RECORD_SCHEMA}"


def test_recorded_for_another_rustc(fake_toolchain, record):
    toolchain.save(fake_toolchain)
    newer = tools.RustcInfo("1.96.0", RUSTC.host, "22.1.6")
    assert stale_reason(record, newer) == ("it was made for rustc 1.95.0 (LLVM 22.1.2), "
                                           "rustc is now 1.96.0 (LLVM 22.1.6)")


def test_tool_changed_since_recorded(fake_toolchain, record):
    toolchain.save(fake_toolchain)
    opt = Path(fake_toolchain.tools["opt"].path)
    st = opt.stat()
    os.utime(opt, (st.st_atime, st.st_mtime + 100))     # an upgrade in place, same size
    assert stale_reason(record) == f"opt at {opt} has changed since it was recorded"


def test_tool_removed_since_recorded(fake_toolchain, record):
    toolchain.save(fake_toolchain)
    lib = Path(fake_toolchain.libraries["libomptarget"].path)
    lib.unlink()
    assert stale_reason(record) == f"libomptarget at {lib} no longer exists"


def test_resolve_uses_a_valid_record_without_probing(fake_toolchain, record, monkeypatch):
    toolchain.save(fake_toolchain)
    monkeypatch.setattr(toolchain, "probe", lambda rustc=None: pytest.fail("probed despite a valid record"))
    assert toolchain.resolve(Shell(stream=io.StringIO()), rustc=RUSTC) == fake_toolchain


def test_resolve_warns_and_replaces_a_corrupt_record(fake_toolchain, record, monkeypatch):
    record.parent.mkdir(parents=True)
    record.write_text("not = [toml")
    found = {**fake_toolchain.tools, **fake_toolchain.libraries}
    monkeypatch.setattr(toolchain, "probe", lambda rustc=None: toolchain.Probe(rustc, found, ()))
    out = io.StringIO()
    shell = Shell(stream=out, color="never")

    assert toolchain.resolve(shell, rustc=RUSTC) == fake_toolchain
    assert out.getvalue().startswith(f"warning: toolchain record {record} cannot be used: it is corrupt (")
    assert out.getvalue().rstrip().endswith("; resolving the toolchain again")
    assert shell.warnings == 1
    assert toolchain.load(record, RUSTC) == fake_toolchain       # replaced by a good one


def test_resolve_reports_every_missing_tool(record, monkeypatch):
    problems = (tools.Problem("mlir-opt", "not found", "apt-get install mlir-22-tools"),
                tools.Problem("ld.lld", "not found", "apt-get install lld-22"),
                tools.Problem("ptxas", "not found", "install CUDA", required=False))
    monkeypatch.setattr(toolchain, "probe", lambda rustc=None: toolchain.Probe(rustc, {}, problems))
    with pytest.raises(toolchain.CargoMlirError) as err:
        toolchain.resolve(Shell(stream=io.StringIO()), rustc=RUSTC)
    assert "mlir-opt: not found\n      fix: apt-get install mlir-22-tools" in err.value.message
    assert "ld.lld: not found" in err.value.message
    assert "ptxas" not in err.value.message                       # optional: not a reason to stop
    assert not record.exists()
