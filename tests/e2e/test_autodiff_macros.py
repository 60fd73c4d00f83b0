"""`cargo_mlir::autodiff::{autodiff_forward, autodiff_reverse}` under PLAIN
cargo: std::autodiff's syntax and generated signatures (each checked by the
compiler in the fixture, cases from rust-lang/rust's tests/pretty/autodiff and
std's docs), the flat layout of `__cargo_mlir_grad_<key>` (docs/autodiff.md:
hand-registered direct entries in the fixture's tests/direct.rs, and the
pipeline's own reading of the markers against the compiled entries), the
panic that says how to build derivatives, and misuses as compile errors at
the offending token."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cargo_mlir.build.markers import parse_marker
from conftest import copy_crate, llvm, run

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent / "fixtures"
BUILD_MESSAGE = ("is the derivative of `{primal}` made by #[{attr}]; derivatives are made by cargo-mlir's pipeline: "
                 "build with `cargo mlir build`/`run`/`test` (a plain cargo build has no derivative code)")


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "autodiff_syntax", tmp_path_factory.mktemp("autodiff") / "autodiff_syntax")


def position(src: str, needle: str) -> tuple[int, int]:
    """1-based line and column of `needle`, its only occurrence in `src`."""
    starts = [m.start() for m in re.finditer(re.escape(needle), src)]
    assert len(starts) == 1, needle
    before = src[:starts[0]]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def file_hash(path: str) -> str:
    """The macros' short stable hash of a source path (FNV-1a, 32 bits) in symbols."""
    h = 0x811C9DC5
    for b in path.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def test_signatures_compile_and_the_flat_layout_carries_the_results(crate):
    """Every `const _: fn(…) = derivative;` in src/lib.rs type-checks; tests/direct.rs
    runs derivatives through hand-written direct entries; tests/plain.rs checks
    the panics; no warning anywhere (an `unsafe { … }` around a derivative that
    is not `unsafe` would be one)."""
    result = run(["cargo", "test"], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr, result.stderr
    assert len(re.findall(r"test result: ok\. 2 passed; 0 failed", result.stdout)) == 2, result.stdout
    for name in ("reverse_mode_layouts", "forward_mode_layouts", "derivatives_say_how_to_build_them",
                 "shadows_have_their_primals_length"):
        assert f"test {name} ... ok" in result.stdout, name


@pytest.mark.parametrize("which, primal, attr", [("d_square", "square", "autodiff_reverse"),
                                                 ("d_sumsq", "sumsq", "autodiff_reverse"),
                                                 ("d_cube", "cube", "autodiff_forward")])
def test_plain_cargo_derivatives_panic_saying_how_to_build_them(crate, which, primal, attr):
    ok = run(["cargo", "run", "-q"], crate)
    assert ok.returncode == 0 and ok.stdout == "primals ok\n", ok.stderr
    ran = run(["cargo", "run", "-q", "--", which], crate)
    assert ran.returncode == 101, ran.stderr
    src = (crate / "src" / "lib.rs").read_text()
    line, col = position(src, f"#[{attr}({which},")
    # at the attribute, with the message that says what to do
    assert f"panicked at src/lib.rs:{line}:{col}:\n`{which}` " + BUILD_MESSAGE.format(primal=primal, attr=attr) \
        in ran.stderr, ran.stderr


def test_a_shadow_of_another_length_panics_naming_both(crate):
    ran = run(["cargo", "run", "-q", "--", "short_shadow"], crate)
    assert ran.returncode == 101
    assert "`d_sumsq`: the shadow `dx_0` has length 2 but `x` has length 3: a shadow has its primal's length" \
        in ran.stderr, ran.stderr


# derivative: (PARAMS, RET, FLAGS) of its marker, as the pipeline reads them
MARKERS = {
    "d_square": ("f64", "f64", "reverse,1,square,Active,Active"),
    "d_sumsq": ("&[f64]", "f64", "reverse,1,sumsq,Duplicated,Active"),
    "d_cube": ("f64", "f64", "forward,1,cube,Dual,Dual"),
    "bar": ("f32", "f32", "reverse,1,foo,Active,Active"),
    "f8_3": ("&f32", "f32", "forward,4,f8,Dual,Dual"),
    "f8_2": ("&f32", "f32", "forward,4,f8,Dual,DualOnly"),
    "df5_rev": ("&[f64],f64", "f64", "reverse,1,f5,Duplicated,Const,Active"),
    "df5_y": ("&[f64],f64", "f64", "forward,1,f5,Const,Dual,Const"),
    "rdf2": ("", "", "reverse,1,rf2,Const"),
    "df7": ("f32", "", "forward,1,f7,Const,Const"),
    "rdf5": ("*const f32,&f32", "", "reverse,1,rf5,DuplicatedOnly,Duplicated,Const"),
    "rb_inp_fwd": ("f64,f64,&mut f64", "", "forward,1,rosenbrock_inp,Dual,Dual,Dual,Const"),
    "d_only": ("f64,usize,bool", "f64", "reverse,1,scaled,Active,Const,Const,ActiveOnly"),
    "d_flag": ("f64", "bool", "forward,1,positive,Dual,Const"),
    "d_arr": ("&[f64; 3],&mut [f64; 3],i32", "", "reverse,1,arr,Duplicated,Duplicated,Const,Const"),
    "d_arr_f": ("&[f64; 3],&mut [f64; 3],i32", "", "forward,2,arr_f,Dual,Dual,Const,Const"),
    "d_ptr": ("*const f32,usize", "f32", "reverse,1,ptr_sum,Duplicated,Const,Active"),
    "d_life": ("&[f64],f64", "f64", "reverse,1,life,Duplicated,Active,Active"),
    "d_refs": ("&f64,&mut f64,&mut [f32]", "", "reverse,1,refs,Duplicated,Duplicated,DuplicatedOnly,Const"),
    "d_r_match": ("f32", "f32", "forward,1,match,Dual,Dual"),
    "d_inner_1": ("f32", "f32", "forward,1,inner,Dual,DualOnly"),
    "d_twice": ("f64", "f64", "reverse,1,twice,Active,Active"),
}
LLVM_TYPE = {"float": "f32", "double": "f64", "ptr": "!llvm.ptr", "i8": "i8", "i32": "i32", "i64": "i64"}


def test_markers_entries_and_the_pipelines_reading_of_them(crate):
    """Each derivative leaves its marker (the primal's PARAMS and RET; FLAGS
    MODE,WIDTH,PRIMAL,activities,RET_ACT), `__cargo_mlir_grad_<key>` and
    `__cargo_mlir_primal_<key>`; the pipeline parses every marker, and the flat
    signature it derives (cargo_mlir.pipeline.stages.autodiff) is the one the
    macro compiled."""
    from cargo_mlir.pipeline.stages.autodiff import derivative_for

    build = run(["cargo", "rustc", "--lib", "--", "--emit=llvm-ir,link"], crate)
    assert build.returncode == 0, build.stderr
    rlib = crate / "target" / "debug" / "libautodiff_syntax.rlib"
    src = (crate / "src" / "lib.rs").read_text()
    found = {m.decode() for m in re.findall(rb"cargo-mlir-marker/2;autodiff;[^\0]*\0", rlib.read_bytes())}
    # one per attribute (not the `use` lines)
    assert len(found) == len(re.findall(r"#\[(?:cargo_mlir::autodiff::)?autodiff_(?:forward|reverse)\(", src))
    nm = llvm("llvm-nm", "--defined-only", rlib)
    ir = "\n".join(p.read_text() for p in (crate / "target" / "debug" / "deps").glob("autodiff_syntax-*.ll"))
    for name, (params, ret, flags) in MARKERS.items():
        hits = [m.start() for m in re.finditer(rf"autodiff_(?:forward|reverse)\({name}[,)]", src)]
        assert len(hits) == 1, name
        before = src[:hits[0]]
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n") + len("autodiff_forward(")
        key = f"autodiff_syntax_{name}_{file_hash('src/lib.rs')}_{line}_{col}"
        marker = f"cargo-mlir-marker/2;autodiff;{name};__cargo_mlir_grad_{key};{params};{ret};{flags};src/lib.rs:{line}\0"
        assert marker in found, (marker, sorted(found))
        for sym in (f"__cargo_mlir_grad_{key}", f"__cargo_mlir_primal_{key}"):
            assert re.search(rf"^[0-9a-f]+ T {sym}$", nm, re.M), (sym, nm)
        assert re.search(rf"^[0-9a-f]+ [DdRr] __cargo_mlir_marker_autodiff_{key}$", nm, re.M), key
        m = parse_marker(marker)
        assert (m.kind, m.name, m.primal_entry) == ("autodiff", name, f"__cargo_mlir_primal_{key}")
        compiled = re.search(rf"^define [^@\n]*@__cargo_mlir_grad_{key}\(([^)]*)\)", ir, re.M)
        assert compiled, name
        types = [LLVM_TYPE[p.split()[0]] for p in compiled.group(1).split(", ") if p]
        assert tuple(types) == derivative_for(m).flat_types, (name, types)
    for text in found:                      # the pipeline reads every marker
        parse_marker(text)


MISUSES = [
    # (message, where in misuse/lib.rs, the token it points at: its last occurrence in that)
    ("`Active` is for floats passed by value, and `x: &[f64]` is not: use `Duplicated` (its shadow `dx_0` receives "
     "the gradient)", "(d_slice_active, Active", "Active"),
    ("`Duplicated` is for references and raw pointers, and `x: f64` is passed by value: use `Active` (its gradient is "
     "returned)", "(d_dup_value, Duplicated", "Duplicated"),
    ("`Dual` needs floats (f32, f64): `n: usize` carries no derivative; use `Const`", "(d_dual_int, Dual", "Dual"),
    ("#[autodiff_reverse] on `too_few` expects 3 activities (one per parameter, then one for the return `f64`), "
     "found 1", "(d_too_few, Active", "Active"),
    ("#[autodiff_reverse] on `void_ret_act` expects 1 activity (one per parameter), found 2; `void_ret_act` returns "
     "nothing, so it takes no return activity", "(d_void_ret_act, Active, Const", "Const"),
    ("`Active` on the return needs a float return type (f32, f64): `int_ret` returns `i32`; use `Const`",
     "(d_int_ret, Active, Active)", "Active)"),
    ("unknown activity `Activ`; #[autodiff_reverse] takes Const, Active, Duplicated or DuplicatedOnly for parameters "
     "and Const, Active or ActiveOnly for the return", "(d_unknown, Activ", "Activ"),
    ("#[autodiff_reverse] in cargo-mlir goes on free functions, not on methods (`self`)", "method(&self", "self"),
    ("#[autodiff_reverse]: a differentiated function cannot be generic", "generic<T", "T"),
    ("`Dual` is a forward-mode activity (#[autodiff_forward]): #[autodiff_reverse] takes Const, Active, Duplicated or "
     "DuplicatedOnly for a parameter", "(d_dual_rev, Dual", "Dual"),
    ("`Active` is a reverse-mode activity (#[autodiff_reverse]): #[autodiff_forward] takes Const, Dual or DualOnly "
     "for a parameter", "(d_active_fwd, Active", "Active"),
    ("#[autodiff_reverse] takes no width (`2`)", "(d_rev_width, 2", "2"),
    ("`Dualv` (one shadow WIDTH times larger) is not supported by cargo-mlir", "(d_dualv, 2, Dualv", "Dualv"),
    ("unsupported parameter type `&Vec<f64>` for a differentiated function", "v: &Vec", "&"),
    ("#[autodiff_reverse]: unsupported return type `Vec<f64>`", "-> Vec<f64>", "Vec"),
    ("the width of #[autodiff_forward] is a positive integer (`0` is not)", "(d_width0, 0", "0"),
    ("a parameter of a differentiated function is a plain name (`x` or `mut x`), not `_`", "wild(_", "_"),
    ("`Duplicated` needs floats (f32, f64): `x: &[i32]` carries no derivative; use `Const`",
     "(d_int_slice, Duplicated", "Duplicated"),
    ("`ActiveOnly` is a return activity", "(d_active_only_in, ActiveOnly", "ActiveOnly"),
    ("#[autodiff_forward]: a differentiated function cannot be `const`", "pub const fn", "const"),
    ("#[autodiff_reverse] goes on a function: `fn name(args) -> ret { … }`", "pub struct NotAFunction", "struct"),
    ("`Dual` on the return needs a float return type (f32, f64): `bool_ret` returns `bool`; use `Const`",
     "(d_bool_ret, Dual, Dual)", "Dual)"),
    ("`None` is not written: a function that returns nothing takes no return activity", "(d_none, Const, None", "None"),
    ("expected the derivative's name and the activities: #[autodiff_reverse(NAME, ACTIVITY…, RETURN_ACTIVITY)]",
     "#[autodiff_reverse]\n", "#"),
    ("#[autodiff_forward] in cargo-mlir goes on free functions, not on associated functions (this function names "
     "`Self`)", "Self::k()", "Self"),
]


def test_misuses_are_compile_errors_at_the_offending_token(tmp_path):
    crate = copy_crate(FIXTURES / "autodiff_syntax", tmp_path / "autodiff_misuse")
    shutil.copy(crate / "misuse" / "lib.rs", crate / "src" / "lib.rs")
    (crate / "src" / "main.rs").unlink()
    shutil.rmtree(crate / "tests")
    result = run(["cargo", "build"], crate)
    assert result.returncode != 0
    err = result.stderr
    src = (crate / "src" / "lib.rs").read_text()
    for message, anchor, token in MISUSES:
        assert message in err, (message, err)
        at = err[err.rindex("\nerror: ", 0, err.index(message)) + 1:]
        assert at.splitlines()[0].startswith("error: ") and message in at.splitlines()[0], at[:400]
        line, col = position(src, anchor)
        col += anchor.rindex(token)
        assert at.splitlines()[1].strip() == f"--> src/lib.rs:{line}:{col}", (message, at[:400])
    # nothing else: each misuse is one error, the functions themselves still compile
    assert f"due to {len(MISUSES)} previous errors" in err, err


def test_the_expansion_is_clippy_clean(crate):
    if subprocess.run(["cargo", "clippy", "--version"], capture_output=True).returncode != 0:
        pytest.skip("clippy is not installed")
    result = run(["cargo", "clippy", "--all-targets", "--", "-D", "warnings"], crate)
    assert result.returncode == 0, result.stderr
