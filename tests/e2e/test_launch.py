"""The launch path (fixtures/launch): many launches in a loop, grids of every
shape (empty, one point, odd sizes, more workgroups than CPU threads), several
CPU thread counts and several launching threads give plain Rust's results,
with plain cargo (the `offload!` fallback) and with cargo mlir (the pipeline's
host code on the worker pool); a panicking kernel is an ordinary panic in the
fallback and a clean abort, not a hang, on the pool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CLI, copy_crate, run

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parent / "fixtures" / "launch"


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The fixture built twice (release): with plain cargo and with cargo mlir."""
    root = tmp_path_factory.mktemp("launch")
    plain = copy_crate(FIXTURE, root / "plain")
    built = run(["cargo", "build", "--release"], plain)
    assert built.returncode == 0, built.stderr
    mlir = copy_crate(FIXTURE, root / "mlir")
    built = run([CLI, "mlir", "build", "--release"], mlir)
    assert built.returncode == 0, built.stderr
    return {"plain": plain / "target/release/launch", "mlir": mlir / "target/release/launch"}


def launch(binary: Path, *args: str, **env: str):
    return run([binary, *args], binary.parent, **env)


@pytest.fixture(scope="module")
def reference(builds):
    result = launch(builds["plain"], "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("hash=") == 14
    return result.stdout


@pytest.mark.parametrize("threads", ["1", "2", "3", None])
def test_grids_of_every_shape_match_plain_rust(builds, reference, threads):
    env = {"CARGO_MLIR_HOST_THREADS": threads} if threads else {}
    result = launch(builds["mlir"], "check", CARGO_MLIR_LOG="info", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference    # and the binary compared each grid with plain sequential Rust
    ran = [l for l in result.stderr.splitlines() if "ran on host" in l]
    assert len(ran) == 14 and all("MLIR code" in l for l in ran), result.stderr
    # the big grids use the pool (up to the asked number of threads), tiny ones run inline
    big = next(l for l in ran if "257 workgroups x 256 threads" in l)
    assert big.endswith(f"{threads} CPU threads)" if threads else "CPU threads)"), big
    tiny = next(l for l in ran if "1 workgroups x 7 threads" in l)
    assert tiny.endswith("1 CPU threads)"), tiny


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_many_launches_in_a_loop(builds, threads):
    plain = launch(builds["plain"], "loop")
    assert plain.returncode == 0, plain.stderr
    mlir = launch(builds["mlir"], "loop", CARGO_MLIR_HOST_THREADS=threads)
    assert mlir.returncode == 0, mlir.stderr
    assert mlir.stdout == plain.stdout and "loop ok" in mlir.stdout


@pytest.mark.parametrize("kind", ["plain", "mlir"])
def test_launches_from_several_threads_at_once(builds, kind):
    result = launch(builds[kind], "threads", CARGO_MLIR_HOST_THREADS="2")
    assert result.returncode == 0, result.stderr
    assert "threads ok" in result.stdout


def test_pool_threads_take_the_stack_size_asked_for(builds, reference):
    result = launch(builds["mlir"], "check", CARGO_MLIR_HOST_THREADS="3", CARGO_MLIR_HOST_STACK="262144")
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference


def test_a_panicking_kernel_in_the_plain_fallback_is_catchable(builds):
    result = launch(builds["plain"], "panic")
    assert result.returncode == 0, result.stderr
    assert "caught: index out of bounds: the len is 100 but the index is 100" in result.stdout
    # ids were restored and later launches (fallback) work
    assert "after the panic ok" in result.stdout


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_panicking_host_kernel_unwinds_to_the_launch_like_plain_rust(builds, threads):
    # the pipeline's host code unwinds: the panic reaches offload! with Rust's
    # message and the kernel's line, catch_unwind takes it, later launches work
    result = launch(builds["mlir"], "panic", CARGO_MLIR_HOST_THREADS=threads)
    assert result.returncode == 0, result.stderr
    # with 2 threads another worker may panic first, at a later index
    caught = re.search(r"^caught: index out of bounds: the len is 100 but the index is (\d+)$", result.stdout, re.M)
    assert caught and int(caught[1]) >= 100, result.stdout
    assert "after the panic ok" in result.stdout
    assert re.search(rf"panicked at .*src/lib.rs:48:\d+:\nindex out of bounds: the len is 100 but the index is {caught[1]}",
                     result.stderr), result.stderr


def test_plain_build_reads_the_environment_once_and_still_checks_it(builds):
    bad = launch(builds["plain"], "check", CARGO_MLIR_DEVICE="tpu")
    assert bad.returncode != 0 and "CARGO_MLIR_DEVICE=\"tpu\" is not a device choice" in bad.stderr
    gpu = launch(builds["plain"], "check", CARGO_MLIR_DEVICE="gpu")
    assert gpu.returncode != 0 and "has no device code" in gpu.stderr
