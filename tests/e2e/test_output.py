"""End to end: what `cargo mlir` prints is what plain cargo prints, once:
rustc's warnings once per build (pass 1's messages are shown only when pass 1
fails), `--message-format=json` with each message once and one
`build-finished`; no warning for kernels that may panic; no "Fresh"
after a failed device compile; a broken target/cargo-mlir is a clear error or
is repaired; a missing kernel is named as the user wrote it."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from conftest import REPO, copy_crate, host_only, mlir, run

pytestmark = pytest.mark.e2e

WARN = "\npub fn warn_me() -> i32 { let unused = 1; 2 }\n"


@pytest.fixture
def warned(tmp_path):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + WARN)
    return crate


def warnings_in(stderr: str) -> int:
    return stderr.count("unused variable: `unused`")


def test_rustc_warnings_are_printed_once_per_build(warned):
    lib = warned / "src" / "lib.rs"
    first = mlir("run", cwd=warned)
    assert first.returncode == 0, first.stderr
    assert warnings_in(first.stderr) == 1, first.stderr
    assert first.stderr.count("generated 1 warning") == 1, first.stderr
    # a rebuild of the crate (pass 1 compiles, pass 2 links the kernels) and a no-op build (cargo replays)
    lib.write_text(lib.read_text().replace("let unused = 1; 2", "let unused = 1; 3"))
    for command in ("run", "build", "build", "test"):
        again = mlir(command, cwd=warned)
        assert again.returncode == 0, again.stderr
        assert warnings_in(again.stderr) == 1, (command, again.stderr)


def _messages(stdout: str) -> list[dict]:
    return [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]


def _key(m: dict) -> tuple:
    target = m.get("target") or {}
    msg = (m.get("message") or {}).get("message")
    return m["reason"], m.get("package_id", "").rsplit("#", 1)[-1], target.get("name"), tuple(target.get("kind", ())), msg


def test_message_format_json_equals_plain_cargos_message_set(warned, tmp_path):
    plain = run(["cargo", "build", "--message-format=json", "--target-dir", tmp_path / "plain"], warned)
    assert plain.returncode == 0, plain.stderr
    expected = collections.Counter(_key(m) for m in _messages(plain.stdout))
    for attempt in ("first build", "no-op build"):
        result = mlir("build", "--message-format=json", cwd=warned)
        assert result.returncode == 0, result.stderr
        got = _messages(result.stdout)
        assert collections.Counter(_key(m) for m in got) == expected, attempt
        assert sum(m["reason"] == "build-finished" for m in got) == 1, attempt
        assert warnings_in(result.stderr) == 0, result.stderr           # JSON mode: on stdout only
        for m in got:
            for f in m.get("filenames", []):
                assert Path(f).exists(), f
    ran = mlir("run", "--message-format=json", cwd=warned)
    assert ran.returncode == 0, ran.stderr
    got = _messages(ran.stdout)
    assert sum(m["reason"] == "build-finished" for m in got) == 1, ran.stdout
    assert sum(m["reason"] == "compiler-message" for m in got) == 1, ran.stdout
    assert "checksum=" in ran.stdout


def test_a_failed_build_shows_pass_1s_messages_once(warned):
    lib = warned / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\npub fn broken() -> u8 { \"not a number\" }\n")
    human = mlir("build", cwd=warned)
    assert human.returncode != 0
    assert human.stderr.count("error[E0308]: mismatched types") == 1, human.stderr
    assert warnings_in(human.stderr) == 1, human.stderr
    as_json = mlir("build", "--message-format=json", cwd=warned)
    assert as_json.returncode != 0
    got = _messages(as_json.stdout)
    assert [m["success"] for m in got if m["reason"] == "build-finished"] == [False], as_json.stdout
    assert sum(m["reason"] == "compiler-message" and m["message"]["level"] == "error" for m in got) == 1


def test_a_missing_kernel_is_named_as_the_user_wrote_it(tmp_path):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("kernel = saxpy,", "kernel = saxpyy,"))
    result = mlir("build", cwd=crate)
    assert result.returncode != 0
    assert "__cargo_mlir_launch" not in result.stderr, result.stderr
    assert "cannot find #[offload_kernel] function `saxpyy`" in result.stderr, result.stderr
    as_json = mlir("build", "--message-format=json", cwd=crate)
    assert "__cargo_mlir_launch" not in as_json.stdout and "`saxpyy`" in as_json.stdout


def test_no_fresh_device_code_after_a_failed_device_compile(tmp_path):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + '\n#[cfg(panic = "abort")]\nconst _: () = panic!("device compile only");\n')
    result = mlir("build", cwd=crate)
    assert result.returncode == 0, result.stderr
    assert "the device compile of `saxpy` failed" in result.stderr
    assert "Fresh" not in result.stderr, result.stderr


def test_a_garbage_wrapper_is_rewritten_and_a_broken_state_dir_is_a_clear_error(tmp_path):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    assert mlir("build", cwd=crate).returncode == 0
    state = crate / "target" / "cargo-mlir"
    (state / "rustc-wrapper").write_bytes(b"\xff\xfe\x00garbage")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n// changed\n")
    repaired = mlir("build", cwd=crate)
    assert repaired.returncode == 0, repaired.stderr
    assert "Traceback" not in repaired.stderr
    # state the wrapper cannot write (as root, permissions do not stop us: a file where a directory goes)
    import shutil
    shutil.rmtree(state / "units")
    (state / "units").write_text("not a directory")
    lib.write_text(lib.read_text() + "\n// changed again\n")
    broken = mlir("build", cwd=crate)
    assert broken.returncode != 0
    assert "Traceback" not in broken.stderr, broken.stderr
    assert "cannot write cargo-mlir's build state" in broken.stderr, broken.stderr
    assert str(state) in broken.stderr and "build again" in broken.stderr


def test_kernels_that_may_panic_build_for_gpus_without_a_warning(tmp_path):
    """Bounds checks in two kernels: on GPUs the launcher raises them as Rust panics
    (retarget_gpu.py), so there is nothing to warn about (there was a "become traps" warning)."""
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    manifest.write_text(re.sub(r"offload-arch = \[[^\]]*\]", 'offload-arch = ["gfx90a"]', manifest.read_text()))
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + '''
#[offload_kernel]
fn scale(a: f32, y: &mut [f32]) {
    let i = gpu::global_id_x();
    if i < y.len() { y[i] *= a; }
}
''')
    result = mlir("build", cwd=crate)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and "trap" not in result.stderr, result.stderr
