"""Markers as the support crate's macro writes them: literal strings in,
the kernel's signature and its flattened C-ABI parameter types out."""

from __future__ import annotations

import pytest

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.build.markers import Param, parse_marker, parse_param

SAXPY = "cargo-mlir-marker/2;kernel;saxpy;__cargo_mlir_kernel_saxpy;f32,&[f32],&mut [f32];;;src/lib.rs:6"


def test_saxpy_marker():
    m = parse_marker(SAXPY)
    assert (m.kind, m.name, m.entry, m.file, m.line) == ("kernel", "saxpy", "__cargo_mlir_kernel_saxpy",
                                                         "src/lib.rs", 6)
    assert m.location == "src/lib.rs:6"
    assert m.params == (Param("f32", scalar="f32"), Param("&[f32]", elem="f32"),
                        Param("&mut [f32]", elem="f32", mutable=True))
    # a slice is (pointer, length); the scalar stays itself
    assert m.flat_types == ("f32", "!llvm.ptr", "i64", "!llvm.ptr", "i64")


def test_array_parameter_contains_the_field_separator():
    # `[f32; 4]` puts a ';' inside the parameter field: it must not split it
    m = parse_marker("cargo-mlir-marker/2;kernel;fill;__cargo_mlir_kernel_fill;&mut [f32; 4],u32;;;src/fill.rs:12")
    assert m.params[0] == Param("&mut [f32; 4]", elem="f32", length="4", mutable=True)
    assert m.params[1] == Param("u32", scalar="u32")
    # an array has a known length: one pointer, no length argument
    assert m.flat_types == ("!llvm.ptr", "i32")
    assert (m.file, m.line) == ("src/fill.rs", 12)


def test_two_arrays_with_length_expressions():
    m = parse_marker("cargo-mlir-marker/2;kernel;k;e;&[f64; N * 2],&mut [i32; 3];;;a.rs:1")
    assert [(p.elem, p.length, p.mutable) for p in m.params] == [("f64", "N * 2", False), ("i32", "3", True)]
    assert m.flat_types == ("!llvm.ptr", "!llvm.ptr")


def test_no_parameters_and_c_string_terminator():
    # read from a C string global: the trailing NUL comes along
    m = parse_marker("cargo-mlir-marker/2;kernel;noop;__cargo_mlir_kernel_noop;;;;src/main.rs:40\0")
    assert m.params == ()
    assert m.flat_types == ()
    assert m.line == 40


def test_file_name_with_a_colon_keeps_it():
    m = parse_marker("cargo-mlir-marker/2;kernel;k;e;bool;;;C:/work/src/lib.rs:7")
    assert (m.file, m.line) == ("C:/work/src/lib.rs", 7)


@pytest.mark.parametrize("text, llvm", [
    ("f32", ("f32",)), ("f64", ("f64",)), ("i32", ("i32",)), ("u32", ("i32",)), ("i64", ("i64",)),
    ("u64", ("i64",)), ("usize", ("i64",)), ("isize", ("i64",)),
    ("bool", ("i8",)),                      # Rust passes bool as a zero-extended i8 in memory
    ("&[f64]", ("!llvm.ptr", "i64")), ("&mut [usize]", ("!llvm.ptr", "i64")), ("&[bool; 2]", ("!llvm.ptr",)),
])
def test_flat_types(text, llvm):
    assert parse_param(text).flat_types() == llvm


def test_buffers_and_scalars_apart():
    assert parse_param("&[f32]").elem == "f32" and parse_param("&[f32]").scalar is None
    assert parse_param("f32").scalar == "f32" and parse_param("f32").elem is None


@pytest.mark.parametrize("text, says", [
    ("cargo-mlir-marker/1;kernel;k;e;f32;a.rs:1", "different versions"),      # another protocol version
    ("cargo-mlir-marker/1;kernel;k;e;f32", "different versions"),             # a field short
    ("hello", "different versions"),
    ("cargo-mlir-marker/2;kernel;k;e;String;;;a.rs:1", "unsupported kernel parameter type `String`"),
    ("cargo-mlir-marker/2;kernel;k;e;&[u8];;;a.rs:1", "unsupported element type in `&[u8]`"),
    ("cargo-mlir-marker/2;kernel;k;e;&&[f32];;;a.rs:1", "malformed kernel parameter `&&[f32]`"),
    ("cargo-mlir-marker/2;kernel;k;e;Vec<f32>;;;a.rs:1", "malformed kernel parameter `Vec<f32>`"),
    ("cargo-mlir-marker/2;kernel;k;e;f32;;;a.rs", "malformed location `a.rs`"),
    ("cargo-mlir-marker/2;kernel;k;e;f32;;;a.rs:x", "malformed location `a.rs:x`"),
])
def test_bad_markers_are_user_errors(text, says):
    with pytest.raises(CargoMlirError) as err:
        parse_marker(text)
    assert says in err.value.message


def test_version_mismatch_says_how_to_fix():
    with pytest.raises(CargoMlirError) as err:
        parse_marker("cargo-mlir-marker/1;kernel;k;e;f32;a.rs:1")
    assert "cargo mlir init" in err.value.hint


def test_accelerate_marker_with_return_type_flags_and_raw_pointers():
    m = parse_marker("cargo-mlir-marker/2;accelerate;dot;__cargo_mlir_accel_c_dot_3_1;usize,*const f32,&[f32];f32;"
                     "exact;src/lib.rs:3\0")
    assert (m.kind, m.ret, m.flags, m.key) == ("accelerate", "f32", ("exact",), "c_dot_3_1")
    assert m.params[1] == Param("*const f32", elem="f32", pointer=True)
    assert m.flat_types == ("i64", "!llvm.ptr", "!llvm.ptr", "i64")
    assert m.ret_type == "f32"


@pytest.mark.parametrize("text, says", [
    ("cargo-mlir-marker/2;hessian;k;e;f32;;;a.rs:1", "unknown marker kind `hessian`"),
    ("cargo-mlir-marker/2;accelerate;k;e;f32;String;;a.rs:1", "unsupported return type `String`"),
    ("cargo-mlir-marker/2;accelerate;k;e;f32;;fast;a.rs:1", "unknown option `fast`"),
])
def test_bad_v2_fields(text, says):
    with pytest.raises(CargoMlirError) as err:
        parse_marker(text)
    assert says in err.value.message


REVERSE = ("cargo-mlir-marker/2;autodiff;d_rosen;__cargo_mlir_grad_c_d_rosen_1a2b3c4d_7_19;f64,&mut f64,&[f32];;"
           "reverse,1,rosen,Active,Duplicated,Const,Const;src/lib.rs:8")


def test_autodiff_marker_names_derivative_primal_mode_and_activities():
    m = parse_marker(REVERSE)
    assert (m.kind, m.name, m.mode, m.width, m.primal_name) == ("autodiff", "d_rosen", "reverse", 1, "rosen")
    assert m.activities == ("Active", "Duplicated", "Const", "Const")
    assert m.key == "c_d_rosen_1a2b3c4d_7_19"
    assert m.primal_entry == "__cargo_mlir_primal_c_d_rosen_1a2b3c4d_7_19"
    # `&mut f64` is one pointer, like a raw pointer
    assert m.params[1] == Param("&mut f64", elem="f64", mutable=True, pointer=True)
    assert m.flat_types == ("f64", "!llvm.ptr", "!llvm.ptr", "i64")


def test_the_derivatives_flat_signature_follows_docs_autodiff_md():
    from cargo_mlir.pipeline.stages.autodiff import derivative_for
    d = derivative_for(parse_marker(REVERSE))
    # x, (out, its shadow), the slice; no seed (the return is Const); x's gradient out
    assert d.flat_types == ("f64", "!llvm.ptr", "!llvm.ptr", "!llvm.ptr", "i64", "!llvm.ptr")
    assert [r for r, _ in d.results()] == ["out.grad0"]
    fwd = parse_marker("cargo-mlir-marker/2;autodiff;df;__cargo_mlir_grad_k;&[f64],f64;f64;"
                       "forward,2,f,Dual,Dual,Dual;src/lib.rs:3")
    d = derivative_for(fwd)
    # the slice and its 2 shadows, the scalar and its 2 tangents, then primal + 2 tangents out
    assert d.flat_types == ("!llvm.ptr", "i64") * 3 + ("f64",) * 3 + ("!llvm.ptr",) * 3
    rev = parse_marker("cargo-mlir-marker/2;autodiff;bar;__cargo_mlir_grad_k;f32;f32;reverse,1,foo,Active,Active;a.rs:1")
    d = derivative_for(rev)
    assert d.flat_types == ("f32", "f32", "!llvm.ptr", "!llvm.ptr")     # x, seed; primal and dx out


@pytest.mark.parametrize("flags", ["sideways,1,f,Const,Const", "reverse,0,f,Const,Const", "reverse,1,f,Const",
                                   "reverse,1,f,Const,Wobbly"])
def test_malformed_autodiff_markers_are_refused(flags):
    with pytest.raises(CargoMlirError, match="malformed autodiff marker"):
        parse_marker(f"cargo-mlir-marker/2;autodiff;d;__cargo_mlir_grad_k;f64;f64;{flags};a.rs:1")


def test_a_derivatives_fingerprint_covers_its_primal():
    from cargo_mlir.build.markers import fingerprint
    ir = ("define i8 @__cargo_mlir_grad_k(double %x) {\n  ret i8 0\n}\n"
          "define double @__cargo_mlir_primal_k(double %x) {\n  %y = call double @helper(double %x)\n  ret double %y\n}\n"
          "define double @helper(double %x) {\n  ret double %x\n}\n")
    changed = ir.replace("ret double %x\n}\n", "%z = fmul double %x, %x\n  ret double %z\n}\n")
    assert fingerprint(ir, "__cargo_mlir_grad_k") != fingerprint(changed, "__cargo_mlir_grad_k")
