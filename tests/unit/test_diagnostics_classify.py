"""What may run on a device, decided from the symbol (mangled, as declared)
and its demangled name (as llvm-cxxfilt prints it, hash suffix dropped)."""

from __future__ import annotations

import pytest

from cargo_mlir.pipeline.diagnostics import classify

HOST, AMD, NV = "host", "amdgpu", "nvptx"
ALL = (HOST, AMD, NV)


@pytest.mark.parametrize("name, demangled", [
    ("_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc", "__rustc::__rust_alloc"),             # rustc 1.95 (v0)
    ("__rust_alloc", "__rust_alloc"),                                                      # older rustc
    ("_RNvCsfLfy6EI15iL_7___rustc14___rust_dealloc", "__rustc::__rust_dealloc"),
    ("_RNvCsfLfy6EI15iL_7___rustc35___rust_no_alloc_shim_is_unstable_v2",
     "__rustc::__rust_no_alloc_shim_is_unstable_v2"),
    ("_RNvNtCslNYArtu3iFV_5alloc7raw_vec12handle_error", "alloc::raw_vec::handle_error"),
    ("_ZN5alloc5alloc18handle_alloc_error17h0123456789abcdefE", "alloc::alloc::handle_alloc_error"),
    ("malloc", "malloc"),
])
def test_heap_allocation_is_an_error_everywhere(name, demangled):
    for kind in ALL:
        assert classify(name, demangled, kind) == ("error", "heap allocation")


@pytest.mark.parametrize("name, demangled", [
    ("_ZN3std2io5stdio6_print17h0123456789abcdefE", "std::io::stdio::_print"),
    ("_ZN3std2io5stdio7_eprint17h0123456789abcdefE", "std::io::stdio::_eprint"),
    ("_RNvNtNtCsjrHSEGnQ3l9_3std2io5stdio6__print", "std::io::stdio::_print"),          # rustc 1.95 (v0)
    ("printf", "printf"),
])
def test_io_is_an_error(name, demangled):
    assert classify(name, demangled, HOST) == ("error", "I/O")
    assert classify(name, demangled, NV) == ("error", "I/O")


@pytest.mark.parametrize("name, demangled", [
    ("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"),
    ("_ZN4core3fmt9Formatter3pad17h0123456789abcdefE", "core::fmt::Formatter::pad"),
    # trait impls demangle to `<T as Trait>::fmt`: only the end says "formatting"
    ("_RNvXsd_NtNtNtCsgEmfK2I1SDS_4core3fmt3num3impyNtB9_7Display3fmt", "<u64 as core::fmt::Display>::fmt"),
    ("_RNvXsg_NtNtCsgEmfK2I1SDS_4core3fmt3numhNtB7_8UpperHex3fmt", "<u8 as core::fmt::UpperHex>::fmt"),
    # unwrap() on Err formats the error with Debug
    ("_RNvNtCsgEmfK2I1SDS_4core6result13unwrap_failed", "core::result::unwrap_failed"),
])
def test_formatting_is_an_error(name, demangled):
    assert classify(name, demangled, AMD) == ("error", "formatting")


@pytest.mark.parametrize("name, demangled", [
    ("_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE", "core::panicking::panic_bounds_check"),
    ("_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check", "core::panicking::panic_bounds_check"),
    ("_RNvNtNtCsgEmfK2I1SDS_4core9panicking11panic_const24panic_const_add_overflow",
     "core::panicking::panic_const::panic_const_add_overflow"),
    ("_ZN4core6option13unwrap_failed17h0123456789abcdefE", "core::option::unwrap_failed"),
    ("_ZN4core5slice5index24slice_end_index_len_fail17h0123456789abcdefE",
     "core::slice::index::slice_end_index_len_fail"),
    # panic_fmt formats nothing itself: the message is a constant
    ("_ZN4core9panicking9panic_fmt17h0123456789abcdefE", "core::panicking::panic_fmt"),
])
def test_message_free_panics(name, demangled):
    assert classify(name, demangled, HOST) is None            # the ordinary Rust panic on the CPU
    assert classify(name, demangled, AMD) == ("warning", "panic")     # a trap: the kernel stops silently
    assert classify(name, demangled, NV) == ("warning", "panic")


@pytest.mark.parametrize("fn", ["sinf", "sin", "expf", "powf", "atan2", "fmod", "tanhf", "cbrt", "hypotf"])
def test_libm(fn):
    # the host links libm; GPU code calls the vendor's device library (stages/gpu_math.py)
    for kind in ALL:
        assert classify(fn, fn, kind) is None


@pytest.mark.parametrize("name", ["llvm.sqrt.f32", "llvm.memcpy.p0.p0.i64", "cargo_mlir_gpu_global_id_x",
                                  "rust_eh_personality"])
def test_always_fine(name):
    for kind in ALL:
        assert classify(name, name, kind) is None


def test_unknown_external_is_an_error():
    # a function the crate declares but whose body is elsewhere: nothing to compile
    assert classify("_ZN5other4work17h0123456789abcdefE", "other::work", NV) == (
        "error", "external function with no device code")
    # a libm-looking name that is not libm
    assert classify("sinx", "sinx", HOST) == ("error", "external function with no device code")
