"""Pipelines mix MLIR passes and cargo-mlir's Python passes by name; MLIR
passes run in-process through the bindings' PassManager."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cargo_mlir.config import PassSpec
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline.passes import plan, python_pass_names, run_spec, split_top_level


def test_split_keeps_nested_options_and_anchors_together():
    assert split_top_level("a, b{x=1,y=2} ,func.func(c,d)") == ["a", "b{x=1,y=2}", "func.func(c,d)"]
    assert split_top_level("") == []


def test_consecutive_mlir_passes_share_one_pass_manager():
    assert "raise-to-scf" in python_pass_names()
    assert plan("canonicalize,raise-to-scf,cse,func.func(canonicalize)") == [
        ("mlir", "builtin.module(canonicalize)"), ("python", "raise-to-scf"),
        ("mlir", "builtin.module(cse,func.func(canonicalize))")]
    assert plan("") == []


class _Ctx:
    what = "kernel `k`"
    marker = SimpleNamespace(kind="kernel", name="k", location="src/lib.rs:3")
    target = None


def test_passes_run_in_process_and_errors_name_the_stage():
    from mlir import ir
    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse("func.func @f() -> i32 {\n %a = arith.constant 1 : i32\n"
                                 " %b = arith.constant 1 : i32\n %c = arith.addi %a, %b : i32\n return %c : i32\n}")
        run_spec(PassSpec(pipeline="canonicalize"), module, _Ctx(), "raise")
        assert "arith.constant 2 : i32" in str(module) and "arith.addi" not in str(module)
        with pytest.raises(CargoMlirError) as err:
            run_spec(PassSpec(pipeline="cse,not-a-pass"), module, _Ctx(), "lower")
    assert "stage `lower` of kernel `k` (src/lib.rs:3)" in err.value.message
    assert "invalid pass pipeline `builtin.module(cse,not-a-pass)`" in err.value.message
    assert "raise-to-scf" in err.value.hint


