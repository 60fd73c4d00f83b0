"""Kernels that call functions of other crates: a workspace member without the
support crate, path dependencies outside the workspace, and a crate reached
only through a generic function (fixture `cross_crate`). Their device code
comes from each crate's own device bitcode (build/dependencies.py); results,
panics and overflow behaviour are plain cargo's, in debug and release."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import CLI, SUPPORT_CRATE, llvm, run

FIXTURE = Path(__file__).parent / "fixtures" / "cross_crate"


@pytest.fixture
def ws(tmp_path) -> Path:
    root = tmp_path / "cross_crate"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    manifest = root / "ws" / "app" / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace("../../../../../../templates/cargo-mlir", str(SUPPORT_CRATE)))
    return root / "ws"


def cargo(ws: Path, *args: str, **env: str):
    return run(["cargo", *args], ws, RUST_BACKTRACE="0", **env)


def cargo_mlir(ws: Path, *args: str, **env: str):
    return run([CLI, "mlir", *args], ws, RUST_BACKTRACE="0", **env)


def _masked(text: str) -> str:
    return re.sub(r"thread 'main' \(\d+\)", "thread 'main' (N)", text)


@pytest.mark.parametrize("profile", [[], ["--release"]], ids=["debug", "release"])
def test_kernels_call_functions_of_other_crates_with_plain_cargos_results(ws, profile):
    built = cargo_mlir(ws, "run", *profile, CARGO_MLIR_LOG="info")
    assert built.returncode == 0, built.stderr
    assert "kernel `apply` ran on host (MLIR code" in built.stderr
    assert "no device code" not in built.stderr
    for args in ([], ["overflow"]):      # overflow: a panic in a helper of `mathx` in debug, wrapping in release
        ours = cargo_mlir(ws, "run", "-q", *profile, "--", *args)
        plain = cargo(ws, "run", "-q", *profile, "--", *args)
        assert (ours.returncode, ours.stdout, _masked(ours.stderr)) == \
               (plain.returncode, plain.stdout, _masked(plain.stderr)), ours.stderr
    if not profile:
        assert "panicked at mathx/src/lib.rs:27:5:\nattempt to add with overflow" in ours.stderr
    # the NVIDIA image has the helpers' code: a call to `never` (inline(never)) is to a
    # function defined in the PTX, and nothing is left external but the runtime's panic hook
    ptx = next((ws / "target/cargo-mlir/kernels").glob("*/app_apply_*.sm_90.s")).read_text()
    assert re.search(r"^\.func +\(.*\) _ZN5mathx5never", ptx, re.M)
    assert not re.findall(r"^\.extern \.func[^\n]*_ZN", ptx, re.M)
    # the AMD code object: `never` and `deep::twice` defined in it, nothing undefined
    amd = next((ws / "target/cargo-mlir/kernels").glob("*/app_apply_*.gfx90a.o"))
    symbols = llvm("llvm-readelf", "-s", "--wide", amd)
    assert re.search(r"FUNC +LOCAL .* _ZN5mathx5never", symbols) and re.search(r"FUNC .* _ZN4deep5twice", symbols)
    assert not [line for line in symbols.splitlines() if " UND " in line and line.split()[-1] != "UND"]


def test_a_crate_that_plain_cargo_compiled_first_is_compiled_again_once(ws):
    assert cargo(ws, "build").returncode == 0          # extmath and deep: no record of how
    built = cargo_mlir(ws, "run")
    assert built.returncode == 0, built.stderr
    assert re.search(r"Recompiling extmath-[0-9a-f]+ \(cargo-mlir needs how cargo compiles it", built.stderr)
    assert built.stdout == cargo(ws, "run", "-q").stdout
    again = cargo_mlir(ws, "build")
    assert again.returncode == 0 and "Recompiling" not in again.stderr and "Compiling" not in again.stderr
    # records lost: the next build with device work recompiles what it needs, once
    shutil.rmtree(ws / "target/cargo-mlir/rustc")
    main = ws / "app/src/main.rs"
    main.write_text(main.read_text().replace("+ mathx::doubled(x);", "+ mathx::doubled(x) + 1.0;"))
    lost = cargo_mlir(ws, "run")
    assert lost.returncode == 0, lost.stderr
    assert "Recompiling" in lost.stderr and lost.stdout == cargo(ws, "run", "-q").stdout


def test_editing_a_helper_in_another_crate_rebuilds_the_kernel(ws):
    first = cargo_mlir(ws, "run", "--release")
    assert first.returncode == 0, first.stderr
    deep = ws.parent / "deep" / "src" / "lib.rs"
    deep.write_text(deep.read_text().replace("x * 2.0", "x * 3.0"))
    second = cargo_mlir(ws, "run", "--release", CARGO_MLIR_LOG="info")
    assert second.returncode == 0, second.stderr
    assert "MLIR code" in second.stderr
    assert second.stdout != first.stdout and second.stdout == cargo(ws, "run", "-q", "--release").stdout
    deep.write_text(deep.read_text().replace("x * 3.0", "x * 2.0"))       # and back
    third = cargo_mlir(ws, "run", "--release")
    assert third.returncode == 0 and third.stdout == first.stdout


def test_a_mutable_static_of_another_crate_is_an_error_at_its_line_until_it_is_gone(ws):
    ext = ws.parent / "extmath" / "src" / "lib.rs"
    original = ext.read_text()
    ext.write_text(original + '''
pub static HITS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

pub fn counted(x: f32) -> f32 {
    HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    x
}
''')
    line = len(original.splitlines()) + 5
    main = ws / "app/src/main.rs"
    main.write_text(main.read_text().replace("let x = v[i];", "let x = extmath::counted(v[i]);"))
    failed = cargo_mlir(ws, "build")
    assert failed.returncode != 0
    assert re.search(rf"kernel `apply` \(app/src/main.rs:5\) cannot run on a device: it uses the mutable static "
                     rf"`extmath::HITS` at \S*extmath/src/lib.rs:{line}:\d+", failed.stderr), failed.stderr
    main.write_text(main.read_text().replace("let x = extmath::counted(v[i]);", "let x = v[i];"))
    fixed = cargo_mlir(ws, "run")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout == cargo(ws, "run", "-q").stdout
