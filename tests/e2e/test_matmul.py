"""Matmul recognition, end to end: the naive matmuls users write (both forms,
three loop orders, transposed B, leading dimensions, raw pointers, f32/f64,
`exact`) are recognised and replaced, results match plain Rust (bit for bit
under `exact`) over many shapes, out-of-bounds calls panic exactly as plain
Rust does, overlapping C runs the loop as written, and nests that are close
to a matmul but are not one are left alone with the reason."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from conftest import copy_crate, llvm, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"

RECOGNISED = {   # function -> (element type, form, transposed B)
    "sgemm": ("f32", "C = A·B", False), "dgemm": ("f64", "C = A·B", False),
    "sgemm_exact": ("f32", "C = A·B", False), "dgemm_ikj_exact": ("f64", "C += A·B", False),
    "sgemm_update": ("f32", "C += A·B", False), "sgemm_ikj": ("f32", "C += A·B", False),
    "sgemm_bt": ("f32", "C = A·B", True), "dgemm_ld": ("f64", "C = A·B", False),
    "sgemm_raw": ("f32", "C = A·B", False), "mm_kernel": ("f32", "C = A·B", False),
}
CLOSE = {"max_plus": "arith.maxnumf", "with_trace": "stores 2 times", "minus": "arith.subf",
         "diag": "arith.uitofp"}


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "matmul", tmp_path_factory.mktemp("matmul") / "matmul")


@pytest.fixture(scope="module")
def plain(crate):
    result = run(["cargo", "run", "--release", "-q", "--target-dir", "target/plain"], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def panic_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("panic:", "sgemm short", "dgemm_ld short"))]


def update_line(src: str, fn: str) -> int:
    """The line of the multiply-add (`+=`) in `fn <name>(`."""
    start = src.index(f"fn {fn}(")
    return src[:src.index("+=", start)].count("\n") + 1


def test_plain_rust_passes_its_own_checks(plain):
    assert plain.rstrip().endswith("failed 0"), plain
    assert panic_lines(plain) == [
        "panic: index out of bounds: the len is 15 but the index is 15 at src/lib.rs:11",
        "sgemm short b: panicked",
        "panic: index out of bounds: the len is 14 but the index is 14 at src/lib.rs:79",
        "dgemm_ld short c: panicked"], plain


@pytest.mark.parametrize("profile", ["release", "dev"])
def test_recognised_matmuls_give_plain_rusts_results(cli, crate, plain, profile):
    result = cli("run", "--profile", profile, "--explain", cwd=crate, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stdout + result.stderr
    out, log = result.stdout, result.stderr
    err = out + log             # --explain writes to stdout, the run log to stderr
    assert out.rstrip().endswith("failed 0"), out
    assert "FAIL" not in out
    assert len(re.findall(r"^ok matmuls ", out, re.M)) == 15
    assert panic_lines(out) == panic_lines(plain)
    if profile == "dev":
        # debug builds keep overflow checks inside the loops, which the raise does not
        # hoist: the functions run as plain Rust there (still the same results)
        return
    src = (crate / "src" / "lib.rs").read_text()
    for fn, (elem, form, bt) in RECOGNISED.items():
        line = update_line(src, fn)
        want = (f"matmul recognised in {fn} (src/lib.rs:{line}) → linalg.matmul {elem} [m,n,k dynamic]"
                f"{', B transposed' if bt else ''} ({form}), guarded (C must not overlap A or B; m·n·k ≥ 512)")
        assert want in err, (want, err)
        if fn == "mm_kernel":     # no GPU here: the host code (scheduled) runs it
            assert "kernel `mm_kernel` ran on host (MLIR code" in err, err
        else:
            assert f"accelerate `{fn}` uses MLIR code" in err, err
    for fn, why in CLOSE.items():
        said = [l for l in err.splitlines() if l.startswith(f"accelerate `{fn}`: the loop nest at ")]
        assert len(said) == 1 and "looks like a matmul but is not recognised" in said[0] and why in said[0], err
        assert f"matmul recognised in {fn} " not in err
    assert "matmul recognised in nonaffine" not in err


def embedded_images(data: bytes) -> list[bytes]:
    """The ELF files (cubins, HSACOs) embedded in an object file's data."""
    out, at = [], data.find(b"\x7fELF", 1)
    while at > 0:
        shoff, = struct.unpack_from("<Q", data, at + 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, at + 0x3A)
        end = at + shoff + shentsize * shnum
        if data[at + 4] == 2 and 0 < end <= len(data):       # ELF64
            out.append(data[at:end])
            at = data.find(b"\x7fELF", end)
        else:
            at = data.find(b"\x7fELF", at + 4)
    return out


def test_gpu_images_ride_in_the_host_code_and_the_cpu_runs_without_a_gpu(cli, tmp_path):
    """With offload architectures, a recognised matmul's host code carries the GPU
    kernel for each (the same binary runs it on a GPU when one matches); on this
    machine (no GPU) the CPU runs it, and CARGO_MLIR_DEVICE=host does not even try."""
    crate = copy_crate(FIXTURES / "matmul", tmp_path / "matmul")
    built = cli("build", "--release", "--offload-arch", "sm_90,gfx90a", cwd=crate)
    assert built.returncode == 0, built.stderr
    cubins, hsacos = [], []
    for obj in (crate / "target" / "cargo-mlir" / "cache").glob("*.o"):
        for image in embedded_images(obj.read_bytes()):
            machine, = struct.unpack_from("<H", image, 0x12)
            (cubins if machine == 190 else hsacos if machine == 224 else []).append(image)
    # one kernel per accelerate function with a matmul (9; the offload kernel gets none)
    assert len(cubins) >= 5 and len(hsacos) == len(cubins), (len(cubins), len(hsacos))
    for n, (cubin, hsaco) in enumerate(zip(cubins, hsacos)):
        c, h = tmp_path / f"k{n}.cubin", tmp_path / f"k{n}.hsaco"
        c.write_bytes(cubin)
        h.write_bytes(hsaco)
        sections = llvm("llvm-readelf", "-S", c)
        assert ".nv.shared.cargo_mlir_matmul" in sections       # tiles staged in shared memory
        assert ".nv.local.cargo_mlir_matmul" not in sections    # no spills to local memory
        assert "cargo_mlir_matmul" in llvm("llvm-readelf", "-s", c)
        notes = llvm("llvm-readelf", "--notes", h)
        assert ".name:           cargo_mlir_matmul" in notes and "cargo_mlir_matmul.kd" in notes, notes
        assert ".private_segment_fixed_size: 0" in notes
        group = re.search(r"\.group_segment_fixed_size: (\d+)", notes)
        assert group and int(group[1]) > 0, notes
    ran = run([crate / "target" / "release" / "matmul"], crate, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0 and ran.stdout.rstrip().endswith("failed 0"), ran.stdout + ran.stderr
    assert "no GPU for its matmul" in ran.stderr and "using the CPU" in ran.stderr, ran.stderr
    host = run([crate / "target" / "release" / "matmul"], crate, CARGO_MLIR_LOG="info", CARGO_MLIR_DEVICE="host")
    assert host.returncode == 0 and host.stdout.rstrip().endswith("failed 0")
    assert "for its matmul" not in host.stderr and "matmul " not in host.stderr, host.stderr


def test_the_schedule_is_replaceable_in_the_configuration(cli, tmp_path):
    """A copy of the shipped schedule with other tile sizes replaces it; `schedule = ""`
    leaves the matmul to plain loops. Both give the same results."""
    from cargo_mlir.resources import templates_dir

    crate = copy_crate(FIXTURES / "matmul", tmp_path / "matmul")
    script = (templates_dir() / "schedules" / "host-matmul.mlir").read_text()
    mine = re.sub(r"f32 = array<i64: 6, 16, 256, 144>", "f32 = array<i64: 6, 16, 128, 96>", script)
    assert mine != script
    (crate / "tiles.mlir").write_text(mine)
    manifest = crate / "Cargo.toml"
    base = manifest.read_text()
    manifest.write_text(base + '\n[package.metadata.cargo-mlir.pipeline.host]\nschedule = { transform = "tiles.mlir" }\n')
    result = cli("run", "--release", "-v", cwd=crate)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("failed 0"), result.stdout + result.stderr
    assert "f32 6×16 kc 128 mc 96" in result.stderr, result.stderr
    manifest.write_text(base + '\n[package.metadata.cargo-mlir.pipeline.host]\nschedule = ""\n')
    result = cli("run", "--release", "-v", cwd=crate)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("failed 0"), result.stdout + result.stderr
    assert "host schedule" not in result.stderr
