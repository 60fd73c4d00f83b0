"""The device step's closing lines (build/device.py `_finish`): no "Fresh"
after a failed device compile; a stage's bug is an error of its function."""

from __future__ import annotations

import io

from cargo_mlir.build import device
from cargo_mlir.term import Shell


class _Tools:
    def has(self, name):
        return True


def finish(run, verbosity=0) -> str:
    shell = Shell(verbosity=verbosity, color="never", stream=io.StringIO())
    device._finish(shell, run, {}, _Tools())
    return shell.stream.getvalue()


def _run(tmp_path, **kw):
    return device._Run(tmp_path, {}, {}, {}, **kw)


def test_no_fresh_after_a_failed_device_compile(tmp_path):
    assert "Fresh" in finish(_run(tmp_path))
    assert "Fresh" not in finish(_run(tmp_path, failed_compiles=1))


def test_a_stage_bug_is_an_error_of_its_function_not_a_traceback():
    from types import SimpleNamespace
    from cargo_mlir.pipeline import runner
    from cargo_mlir.pipeline.targets import HOST, parse_target
    job = SimpleNamespace(marker=SimpleNamespace(kind="kernel", name="k", location="src/lib.rs:3"))
    gfx = parse_target("gfx90a")
    out = runner._failed(job, (gfx,), AttributeError("type object 'VectorType' has no attribute 'isinstance'"))
    (finding,) = out["gfx90a"].findings
    assert finding.level == "error"
    assert finding.message.startswith("kernel `k` (src/lib.rs:3) for gfx90a: internal error in cargo-mlir: "
                                      "AttributeError: type object 'VectorType' has no attribute 'isinstance'\n"
                                      "help: this is a cargo-mlir bug")
    both = runner._failed(job, (HOST, gfx), ValueError("x"))
    assert set(both) == {"host", "gfx90a"} and "for gfx90a" not in both["host"].findings[0].message


def test_a_cache_entry_with_a_garbage_digest_file_is_made_again(tmp_path):
    """(tests/fault_matrix.py) bytes that are not text in `<entry>.sum` crashed the build."""
    from cargo_mlir.pipeline import runner
    entry = tmp_path / "k.o"
    runner._put(entry, b"object")
    assert runner._intact(entry)
    runner._sum_path(entry).write_bytes(b"\xae\xfc\x00garbage")
    assert not runner._intact(entry)


def test_errors_name_temporary_files_by_what_they_are_unless_verbose(tmp_path):
    import tempfile

    import pytest

    from cargo_mlir.errors import CargoMlirError

    from cargo_mlir.build.device import without_temporary_paths
    scratch = f"{tempfile.gettempdir()}/cargo-mlir-k3x_9q"
    error = (f"optimising kernel `k`: `opt -passes=default<O3> {scratch}/contained.ll -o {scratch}/optimized.bc` "
             f"exited with status 1\n--- errors it reported ---\n{scratch}/contained.ll:12:5: error: bad")
    assert without_temporary_paths(error) == (
        "optimising kernel `k`: `opt -passes=default<O3> <temporary contained.ll> -o <temporary optimized.bc>` "
        "exited with status 1\n--- errors it reported ---\n<temporary contained.ll>:12:5: error: bad")
    # the user's own files, and other directories, are left as they are
    assert without_temporary_paths("/home/u/crate/t.mlir:4:14: error") == "/home/u/crate/t.mlir:4:14: error"
    for verbosity, shown in ((0, "<temporary contained.ll>:12:5"), (1, f"{scratch}/contained.ll:12:5")):
        run = _run(tmp_path)
        run.errors.append(error)
        shell = Shell(verbosity=verbosity, color="never", stream=io.StringIO())
        with pytest.raises(CargoMlirError):
            device._finish(shell, run, {}, _Tools())
        assert f"{shown}: error: bad" in shell.stream.getvalue()


def test_every_error_of_a_function_names_its_rust_line():
    from types import SimpleNamespace
    from cargo_mlir.pipeline.runner import _at_source
    m = SimpleNamespace(kind="kernel", name="k", location="src/lib.rs:3")
    assert _at_source(m, "optimising kernel `k` for host: `opt` exited with status 1") == \
        "optimising kernel `k` (src/lib.rs:3) for host: `opt` exited with status 1"
    assert _at_source(m, "kernel `k` (src/lib.rs:3) cannot run on a device") == \
        "kernel `k` (src/lib.rs:3) cannot run on a device"
    assert _at_source(m, "ptxas fatal: out of registers") == "kernel `k` (src/lib.rs:3): ptxas fatal: out of registers"
