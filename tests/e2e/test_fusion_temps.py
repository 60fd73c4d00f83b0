"""Function-local temporaries between fused nests, end to end: a matmul into
`let mut t = vec![0.0; m * n]` read by one element-wise nest that writes the
output is fused with the product going straight to the output (t never written
or read, its zero fill dropped); element-wise nests chained through a temporary
become one loop that passes the values on. Results equal plain Rust's bit for
bit over many shapes (empty and 1-element ones included), out-of-bounds calls
panic as in plain Rust, outputs overlapping inputs (raw pointers) give the
code as written; a temporary read after the nests, a side effect between, or
one handed to the caller keeps the code as written, and `--explain` says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CLI, copy_crate, line_of, lines, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"

# function -> (the matmul's marker, [(kind, marker)], the temporary's marker)
FUSED = {
    "mlp_temp": ("acc += w", [("bias add + relu", ".max(0.0)")], "vec![0.0f32"),
    "mlp_temp_raw": ("acc += *w", [("bias add + relu", ".max(0.0)")], "vec![0.0f32"),
    "mlp_temp3": ("acc += w", [("bias add", "+= b[i]"), ("relu", ".max(0.0)")], "vec![0.0f32"),
    "residual_temp": ("acc += a", [("scaling + add", "* s + r"), ("clamp", ".min(1.0)")], "vec![0.0f64"),
}
CHAINS = {   # function -> ([(kind, marker)], the temporary's marker)
    "ew_temp": ([("scaling + add", "x[i] * 2.0"), ("tanh", ".tanh()"), ("element-wise", "v[i] * u[i]"),
                 ("clamp", ".min(0.75)")], ("let mut u", "let mut v")),
    "ew_temp2": ([("element-wise", "x[i * n + j] * x"), ("bias add", "- c[j]")], "vec![0.0f64"),
    "ew_temp_raw": ([("scaling", "* 3.0"), ("add", "+ 0.5")], "vec![0.0f32"),
}
KEPT = {   # function -> (why, {name in why: the line's marker})
    "temp_read_after": ("the loop nest at src/lib.rs:{nest}: it writes another array than the matmul's C, and the "
                        "temporary is also read after (`memref.load` at src/lib.rs:{after})",
                        {"nest": "y[i * n + j] = t", "after": "last[i] = t"}),
    "temp_side_effect": ("a store at src/lib.rs:{mark} comes between them", {"mark": "mark[0]"}),
}


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "fusion_temps", tmp_path_factory.mktemp("fusion_temps") / "fusion_temps")


@pytest.fixture(scope="module")
def plain(crate):
    result = run(["cargo", "run", "--release", "-q", "--target-dir", "target/plain"], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def fused(crate):
    result = run([CLI, "mlir", "run", "--release", "--explain"], crate, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_plain_rust_passes_its_own_checks(plain):
    assert plain.rstrip().endswith("failed 0"), plain
    assert len(lines(plain, "panic: index out of bounds")) == 6, plain


def test_fused_code_gives_plain_rusts_bits_and_panics(fused, plain):
    out = fused.stdout
    assert out.rstrip().endswith("failed 0") and "FAIL" not in out, out
    assert len(lines(out, "ok temps ")) == 17 and len(lines(out, "ok chains ")) == 7 \
        and len(lines(out, "ok aliasing ")) == 4, out
    assert lines(out, "bits ") == lines(plain, "bits ") and len(lines(out, "bits ")) > 190
    assert lines(out, "panic", "mlp_temp ", "residual_temp ", "ew_temp ") == \
        lines(plain, "panic", "mlp_temp ", "residual_temp ", "ew_temp ")
    for fn in list(FUSED) + list(CHAINS) + list(KEPT):
        assert f"accelerate `{fn}` uses MLIR code" in fused.stderr, fused.stderr


def test_explain_says_what_was_fused_and_which_temporary_was_bypassed(crate, fused):
    src = (crate / "src" / "lib.rs").read_text()
    out = fused.stdout + fused.stderr
    for fn, (mm, parts, temp) in FUSED.items():
        what = ", ".join(f"{k} (src/lib.rs:{line_of(src, fn, marker)})" for k, marker in parts)
        want = (f"accelerate `{fn}`: fused into the matmul at src/lib.rs:{line_of(src, fn, mm)}: {what} (applied to "
                f"each C tile as it is written; guarded: their other operands must not overlap C; the product goes "
                f"straight to the array the last nest writes; the temporary at src/lib.rs:{line_of(src, fn, temp)} "
                f"never written or read on that path (zero fill dropped))")
        assert want in out, (want, out)
    for fn, (parts, temps) in CHAINS.items():
        what = ", ".join(f"{k} (src/lib.rs:{line_of(src, fn, marker)})" for k, marker in parts)
        temps = (temps,) if isinstance(temps, str) else temps
        at = ", ".join(f"src/lib.rs:{line_of(src, fn, t)}" for t in temps)
        want = (f"accelerate `{fn}`: element-wise nests fused into one loop at src/lib.rs:"
                f"{line_of(src, fn, parts[0][1])}: {what} (guarded: their other operands must not overlap the "
                f"arrays they write; the temporar{'ies' if len(temps) > 1 else 'y'} at {at} never written or "
                f"read on that path (zero fill dropped))")
        assert want in out, (want, out)
    for fn, (why, markers) in KEPT.items():
        why = why.format(**{key: line_of(src, fn, marker) for key, marker in markers.items()})
        want = f"accelerate `{fn}`: not fused into the matmul at src/lib.rs:{line_of(src, fn, 'acc += w')}: {why}"
        assert want in out, (want, out)
        assert f"accelerate `{fn}`: fused" not in out
    # handed to the caller: the raise keeps the whole function as plain Rust
    assert "accelerate `temp_stored` (src/lib.rs:" in out and "`temp_stored`: fused" not in out
