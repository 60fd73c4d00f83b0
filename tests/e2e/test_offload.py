"""End to end: the sample crates built by the real `cargo mlir` (real rustc,
LLVM/MLIR tools), compared with plain `cargo` builds of the same crates."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, copy_crate, llvm, run

pytestmark = pytest.mark.e2e
SAMPLES = ("saxpy", "stencil", "dot")
FIXTURES = Path(__file__).parent / "fixtures"


def checksum_line(out: str) -> str:
    lines = [l for l in out.splitlines() if "checksum=" in l]
    assert len(lines) == 1, out
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each sample copied once and built with cargo mlir (release)."""
    crates = {}
    for name in SAMPLES:
        crate = copy_crate(REPO / "sample_crates" / name, tmp_path_factory.mktemp(name) / name)
        crates[name] = crate
    return crates


def cargo_mlir(*args, cwd: Path, **env) -> subprocess.CompletedProcess:
    from conftest import CLI
    return run([CLI, "mlir", *args], cwd, **env)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_runs_through_mlir_and_matches_plain_cargo(built, name):
    crate = built[name]
    plain = run(["cargo", "run", "--release", "-q"], crate)
    assert plain.returncode == 0, plain.stderr
    mlir = cargo_mlir("run", "--release", "-q", cwd=crate, CARGO_MLIR_LOG="info")
    assert mlir.returncode == 0, mlir.stderr
    assert checksum_line(mlir.stdout) == checksum_line(plain.stdout)
    # the launch really ran the MLIR-compiled host code, on every launch (dot's tree
    # reduction needs its workgroups' threads at once: they run as fibers)
    launches = [l for l in mlir.stderr.splitlines() if "ran on host" in l]
    how = "(Rust; each workgroup's 256 threads at once, as fibers)" if name == "dot" else "(MLIR code"
    assert launches and all(f"ran on host {how}" in l for l in launches), mlir.stderr
    # the plain build ran the kernels as ordinary Rust
    plain_log = run(["cargo", "run", "--release", "-q"], crate, CARGO_MLIR_LOG="info")
    assert "plain Rust, not built by cargo mlir" in plain_log.stderr


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_tests_pass_under_cargo_mlir_test(built, name):
    result = cargo_mlir("test", "--release", "--", "--nocapture", cwd=built[name], CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"test result: ok\. 2 passed; 0 failed", result.stdout), result.stdout
    how = "(Rust; each workgroup's 256 threads at once, as fibers)" if name == "dot" else "(MLIR code"
    assert f"ran on host {how}" in result.stdout + result.stderr


def test_second_build_does_no_device_work(built):
    crate = built["saxpy"]
    first = cargo_mlir("build", "--release", cwd=crate)
    assert first.returncode == 0, first.stderr
    second = cargo_mlir("build", "--release", cwd=crate)
    assert second.returncode == 0, second.stderr
    assert "no device work" in second.stderr
    assert "Lowering" not in second.stderr and "Compiling" not in second.stderr


def test_changed_kernel_is_rebuilt_and_relinked(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    assert cargo_mlir("build", cwd=crate).returncode == 0
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("y[i] = a * x[i] + y[i];", "y[i] = a * x[i] - y[i];"))
    again = cargo_mlir("run", cwd=crate, CARGO_MLIR_LOG="info")
    assert again.returncode == 0, again.stderr
    assert "Lowering" in again.stderr and "MLIR code" in again.stderr
    plain = run(["cargo", "run", "-q"], crate)
    assert checksum_line(again.stdout) == checksum_line(plain.stdout)


def test_emit_ir_writes_every_stage(built, tmp_path):
    dump = tmp_path / "ir"
    result = cargo_mlir("build", "--release", "--emit-ir", dump, cwd=built["stencil"])
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in dump.iterdir())
    for stage in ("extract", "import", "raise", "autodiff"):      # once per function
        assert f"jacobi.any.{stage}.{'ll' if stage == 'extract' else 'mlir'}" in names, names
    for stage, ext in (("entry", "mlir"), ("retarget", "mlir"), ("schedule", "mlir"), ("lower", "mlir"),
                       ("translate", "ll"), ("codegen", "o")):
        assert f"jacobi.host.{stage}.{ext}" in names, names
    filecheck(dump / "jacobi.any.extract.ll", """
        CHECK: define {{.*}}void @__cargo_mlir_kernel_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(i64 {{.*}}, ptr {{.*}}, i64 {{.*}}, ptr {{.*}}, i64
        CHECK: declare {{.*}}@cargo_mlir_gpu_global_id_x()
    """)
    filecheck(dump / "jacobi.host.retarget.mlir", """
        CHECK: func.func @__cargo_mlir_host_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64, %arg3: i64)
        CHECK: scf.for
        CHECK: func.call @__cargo_mlir_kernel_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}
        CHECK: llvm.func internal @cargo_mlir_gpu_global_id_{{[xy]}}() -> i64 attributes {always_inline}
    """)
    filecheck(dump / "jacobi.any.import.mlir", """
        CHECK-DAG: llvm.func {{.*}}@__cargo_mlir_kernel_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(%arg0: i64
        CHECK-DAG: llvm.func {{.*}}@cargo_mlir_gpu_global_id_x() -> (i64
        CHECK-DAG: llvm.func {{.*}}@cargo_mlir_gpu_global_id_y() -> (i64
        CHECK-DAG: llvm.call {{.*}}@cargo_mlir_gpu_global_id_x()
    """)
    # no autodiff or schedule passes by default: their input unchanged
    assert (dump / "jacobi.any.autodiff.mlir").read_text() == (dump / "jacobi.any.raise.mlir").read_text()
    assert (dump / "jacobi.host.schedule.mlir").read_text() == (dump / "jacobi.host.retarget.mlir").read_text()
    filecheck(dump / "jacobi.host.lower.mlir", """
        CHECK-NOT: scf.for
        CHECK-NOT: func.func
        CHECK: llvm.func @__cargo_mlir_host_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(
    """)
    filecheck(dump / "jacobi.host.translate.ll", """
        CHECK: @__cargo_mlir_ids = internal thread_local global [12 x i64]
        CHECK: define void @__cargo_mlir_host_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(ptr %0, ptr %1, i64 %2, i64 %3)
        CHECK: call void @__cargo_mlir_kernel_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(
    """)
    nm = llvm("llvm-nm", dump / "jacobi.host.codegen.o")
    assert re.search(r"^[0-9a-f]+ T __cargo_mlir_host_stencil_jacobi_[0-9a-f]+_\d+_\d+$", nm, re.M), nm
    # only the grid entry is global: the crate's own copies of these functions cannot clash
    assert [l for l in nm.splitlines() if re.match(r"^[0-9a-f]+ [TDRB] ", l)] == \
        [l for l in nm.splitlines() if re.search(r" T __cargo_mlir_host_stencil_jacobi_[0-9a-f]+_\d+_\d+$", l)], nm


def filecheck(path: Path, checks: str) -> None:
    import sys
    spec = path.with_suffix(path.suffix + ".checks")
    spec.write_text("\n".join(l.strip() for l in checks.strip().splitlines()) + "\n")
    fc = Path(sys.executable).parent / "filecheck"
    result = subprocess.run([fc, spec], stdin=path.open(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout


def test_kernel_with_unsupported_calls_fails_with_located_errors(tmp_path):
    crate = copy_crate(FIXTURES / "bad_kernel", tmp_path / "bad_kernel")
    result = cargo_mlir("build", cwd=crate)
    assert result.returncode != 0
    err = result.stderr
    alloc = [l for l in err.splitlines() if l.startswith("error: kernel `grows`")]
    assert alloc and "heap allocation at " in alloc[0] and "src/main.rs:7:17" in alloc[0], err
    # the allocator calls it names (a debug build, with its checks, reaches the shim first)
    assert "__rust_alloc" in alloc[0] or "__rust_no_alloc_shim" in alloc[0], alloc[0]
    io = [l for l in err.splitlines() if l.startswith("error: kernel `talks`")]
    assert io and "I/O" in io[0] and "_print" in io[0], err
    assert re.search(r"src/main\.rs:15:\d+", io[0]), io[0]       # the println! line
    assert "could not compile device code (3 errors)" in err    # alloc; I/O; formatting
    # the same crate still builds and runs with plain cargo
    assert run(["cargo", "build", "-q"], crate).returncode == 0


def test_misused_macros_are_compile_errors_at_the_right_spans(tmp_path):
    crate = copy_crate(FIXTURES / "misuse", tmp_path / "misuse")
    err = run(["cargo", "build"], crate).stderr
    expect = [
        ("unsupported kernel argument type `Vec < f32 >`", "src/main.rs:4:"),
        ("offload! needs `kernel = ", "src/main.rs:15:"),
        ("duplicate offload! argument `kernel`", "src/main.rs:16:"),
        ("expected a tuple with 2 elements, found one with 1 element", ""),
        ("unknown offload! argument `grid`; expected one of: kernel, workgroup_dim", "src/main.rs:18:"),
    ]
    for message, where in expect:
        assert message in err, err
        if where:
            after = err[err.index(message):]
            assert after.splitlines()[1].strip().startswith(f"--> {where}"), after[:300]


def test_gpu_forced_without_gpu_is_a_clear_error(built):
    crate = built["saxpy"]
    assert cargo_mlir("build", "--release", "-q", cwd=crate).returncode == 0
    result = run([crate / "target" / "release" / "saxpy"], crate, CARGO_MLIR_DEVICE="gpu")
    assert result.returncode != 0
    assert "CARGO_MLIR_DEVICE=gpu" in result.stderr and "saxpy" in result.stderr


def test_unknown_config_key_lists_valid_keys(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace("offload-arch = [", "offload-arhc = ["))
    result = cargo_mlir("build", cwd=crate)
    assert result.returncode == 1
    assert "unknown key `offload-arhc`" in result.stderr and "did you mean `offload-arch`" in result.stderr
    assert "offload-arch, pipeline, kernel" in result.stderr


def test_print_pipeline_shows_configured_passes(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[package.metadata.cargo-mlir.pipeline]\nraise = "canonicalize,cse"\n')
    result = cargo_mlir("build", "--print-pipeline", cwd=crate)
    assert result.returncode == 0, result.stderr
    assert "per target: host" in result.stdout
    assert "raise     PassManager builtin.module(canonicalize,cse)   [configured]" in result.stdout
    assert "lower     PassManager builtin.module(convert-linalg-to-loops," in result.stdout
    # and the configured passes really run (and replace the default raising)
    dump = tmp_path / "ir"
    assert cargo_mlir("build", "--emit-ir", dump, cwd=crate).returncode == 0
    assert "memref" not in (dump / "saxpy.any.raise.mlir").read_text()


def test_workspace_kernels_in_a_library_reach_the_binary(tmp_path):
    """Kernels in one member, the binary in another; config from the workspace;
    `-p` and trailing `-- args` pass through to cargo and the program."""
    ws = tmp_path / "workspace"
    import shutil
    shutil.copytree(FIXTURES / "workspace", ws)
    manifest = ws / "kernels" / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace("../../../../../templates/cargo-mlir", str(REPO / "templates" / "cargo-mlir")))
    result = cargo_mlir("run", "-p", "app", "--", "3", cwd=ws, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sum={3 * sum(range(1000))}"
    assert "kernel `scale` ran on host (MLIR code" in result.stderr
    assert "Lowering 1 kernel of kernels (lib `kernels`)" in result.stderr
    listing = llvm("llvm-objdump", "--offloading", ws / "target/debug/app")
    assert "arch            sm_90" in listing            # offload-arch from [workspace.metadata.cargo-mlir]


def test_lto_and_panic_abort_profiles_link_and_host_panics_say_what_rust_says(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[profile.release]\nlto = true\npanic = "abort"\ncodegen-units = 1\n')
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + '''
#[offload_kernel]
fn past_the_end(y: &mut [f32]) {
    let i = gpu::global_id_x();
    y[i + 1] = 1.0; // the last thread writes out of bounds
}

pub fn overflow(y: &mut [f32]) {
    offload! { kernel = past_the_end, workgroup_dim = [1, 1, 1], thread_dim = [y.len() as u32, 1, 1], args = (y,) };
}
''')
    main = crate / "src" / "main.rs"
    main.write_text(main.read_text().replace("fn main() {", "fn main() {\n    if std::env::args().nth(1).as_deref() == Some(\"overflow\") { saxpy::overflow(&mut [0.0; 8]); }"))
    built = cargo_mlir("run", "--release", "-q", cwd=crate, CARGO_MLIR_LOG="info")
    assert built.returncode == 0, built.stderr
    assert "saxpy n=1048576 checksum=28311526.0" in built.stdout and "MLIR code" in built.stderr
    crashed = run([crate / "target/release/saxpy", "overflow"], crate)
    assert crashed.returncode != 0
    # core's panic functions are internal under LTO: the runtime's hook says what they would
    # (message, the kernel's line); panic = "abort" then stops the program
    line = lib.read_text().splitlines().index("    y[i + 1] = 1.0; // the last thread writes out of bounds") + 1
    assert f"panicked at src/lib.rs:{line}:5:\nindex out of bounds: the len is 8 but the index is 8" in crashed.stderr


def test_kernels_with_the_same_name_in_two_modules_and_two_crates(tmp_path):
    """Kernel symbols are program-wide (#[no_mangle]): crate and position keep them apart."""
    ws = tmp_path / "workspace"
    import shutil
    shutil.copytree(FIXTURES / "workspace", ws)
    manifest = ws / "kernels" / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace("../../../../../templates/cargo-mlir", str(REPO / "templates" / "cargo-mlir")))
    app = ws / "app"
    (app / "Cargo.toml").write_text((app / "Cargo.toml").read_text() + f'cargo-mlir = {{ path = "{REPO / "templates" / "cargo-mlir"}" }}\n')
    (app / "src" / "main.rs").write_text('''
use cargo_mlir::offload::offload;

mod a {
    use cargo_mlir::{gpu, offload::offload_kernel};
    #[offload_kernel]
    pub fn scale(factor: f64, v: &mut [f64]) { let i = gpu::global_id_x(); if i < v.len() { v[i] *= factor + 1.0; } }
}
mod b {
    use cargo_mlir::{gpu, offload::offload_kernel};
    #[offload_kernel]
    pub fn scale(factor: f64, v: &mut [f64]) { let i = gpu::global_id_x(); if i < v.len() { v[i] *= factor + 2.0; } }
}

fn main() {
    let lib: f64 = kernels::scaled(2.0, 10).iter().sum();            // kernels::scale: × 2
    let mut v = vec![1.0f64; 10];
    offload! { kernel = a::scale, workgroup_dim = [1, 1, 1], thread_dim = [10, 1, 1], args = (2.0, &mut v[..]) };
    offload! { kernel = b::scale, workgroup_dim = [1, 1, 1], thread_dim = [10, 1, 1], args = (2.0, &mut v[..]) };
    println!("lib={lib} app={}", v.iter().sum::<f64>());
}
''')
    result = cargo_mlir("run", "-p", "app", cwd=ws, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lib=90 app=120"                  # 2·45; 10·3·4
    assert result.stderr.count("ran on host (MLIR code") == 3


def test_a_failed_device_compile_links_no_stale_kernels(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    assert cargo_mlir("build", cwd=crate).returncode == 0
    lib = crate / "src" / "lib.rs"
    # a new kernel body, and code that only the device compile (panic=abort) rejects
    lib.write_text(lib.read_text().replace("y[i] = a * x[i] + y[i];", "y[i] = a * x[i] + y[i] + 1.0;")
                   + '\n#[cfg(panic = "abort")]\nconst _: () = panic!("device compile only");\n')
    result = cargo_mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stderr
    assert "the device compile of `saxpy` failed; its kernels will run as plain Rust" in result.stderr
    assert "ran on host (plain Rust" in result.stderr           # not the previous build's kernel library
    assert checksum_line(result.stdout) == checksum_line(run(["cargo", "run", "-q"], crate).stdout)


def test_interrupted_device_work_is_redone_by_the_next_build(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    broken = tmp_path / "bin" / "llvm-extract"
    broken.parent.mkdir()
    broken.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "LLVM version 22.1.8"; exit 0; }\n'
                      'echo "extraction failed on purpose" >&2; exit 1\n')
    broken.chmod(0o755)
    record = str(tmp_path / "tc.toml")
    failed = cargo_mlir("build", cwd=crate, CARGO_MLIR_LLVM_EXTRACT=str(broken), CARGO_MLIR_TOOLCHAIN_FILE=record)
    assert failed.returncode == 1 and "extraction failed on purpose" in failed.stderr
    # cargo now finds the crate fresh, but the unit's device work is still owed
    again = cargo_mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info", CARGO_MLIR_TOOLCHAIN_FILE=record)
    assert again.returncode == 0, again.stderr
    assert "ran on host (MLIR code" in again.stderr


def test_emit_ir_keeps_same_named_kernels_apart(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + '''
mod other {
    use cargo_mlir::{gpu, offload::offload_kernel};
    #[offload_kernel]
    fn saxpy(a: f32, x: &[f32], y: &mut [f32]) { let i = gpu::global_id_x(); if i < y.len() { y[i] = a * x[i]; } }
}
''')
    dump = tmp_path / "ir"
    result = cargo_mlir("test", "--emit-ir", dump, "--no-run", cwd=crate)
    assert result.returncode == 0, result.stderr
    retargeted = sorted(p.name for p in dump.glob("saxpy*.host.retarget.mlir"))
    # the lib and its unit tests, two kernels each: four distinct dumps, none overwritten
    assert len(retargeted) == 4 and "saxpy.host.retarget.mlir" in retargeted, retargeted
    assert len({(dump / n).read_text() for n in retargeted}) >= 2
