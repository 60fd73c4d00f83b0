"""The raise of a function-local `vec!` temporary and `reorder-matmul-chains` on
committed rustc IR (tests/unit/fixtures/chain: tests/e2e/fixtures/chain's
functions as cargo mlir imports them), without external tools: what is
allocated where, which chains are re-associated and why the others are not."""

from pathlib import Path

import pytest

ir = pytest.importorskip("mlir.ir")
from mlir.passmanager import PassManager  # noqa: E402

from cargo_mlir.pipeline.stages.chain import reorder  # noqa: E402
from cargo_mlir.pipeline.stages.matmul import recognise  # noqa: E402
from cargo_mlir.pipeline.stages.raise_ import raise_function  # noqa: E402
from cargo_mlir.pipeline.stages.raise_.__main__ import default_entry  # noqa: E402
from cargo_mlir.pipeline.stages.raise_.rewrite import location  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "chain"


def _fast(text: str, entry: str) -> str:
    """The raised function's text."""
    start = text.index(f"func.func @{entry}(")
    return text[start:text.index("\n  }\n", start)]


def _pipeline(name: str, reassociate: bool = True, chain: bool = True):
    """raise-to-scf, canonicalize, cse, recognise-matmul, reorder-matmul-chains (the raise stage)."""
    with ir.Context() as ctx, ir.Location.unknown():
        module = ir.Module.parse((FIXTURES / f"{name}.mlir").read_text(), ctx)
        entry = default_entry(module)
        raised = raise_function(module, entry)
        assert raised.raised, raised.reason
        PassManager.parse("builtin.module(canonicalize,cse)").run(module.operation)
        before = str(module)
        recognise(module, entry, False, location)
        report = reorder(module, entry, reassociate, location, name) if chain else None
        module.operation.verify()
        return raised, report, before, _fast(str(module), entry)


def test_a_local_vec_is_raised_with_the_allocation_before_the_fast_path():
    raised, _, before, _ = _pipeline("abx", chain=False)
    assert not raised.fast_path_can_panic
    assert "1 local buffer allocated" in raised.preconditions
    # capacity overflow: a precondition (else Rust's code runs, and panics as Rust does)
    assert any("4611686018427387903" in p for p in raised.preconditions), raised.preconditions
    fast = _fast(before, default_entry_of("abx"))
    assert "memref.alloc" in fast and "cargo_mlir.local_buffer = 0" in fast
    assert fast.count("memref.dealloc") == 2        # after the fast path, and when the allocation failed
    assert "__rust_alloc" not in fast and "__rust_dealloc" not in fast and "handle_error" not in fast
    assert "llvm.intr.memset" in fast               # vec![0.0; …] is zeroed where Rust zeroed it
    assert fast.count("scf.for") == 5


def default_entry_of(name: str) -> str:
    with ir.Context() as ctx:
        return default_entry(ir.Module.parse((FIXTURES / f"{name}.mlir").read_text(), ctx))


def test_the_chain_is_reassociated_under_reassociate():
    _, report, _, fast = _pipeline("abx")
    assert report.kept == []
    assert len(report.reordered) == 1 and "(A·B)·x re-associated as A·(B·x)" in report.reordered[0]
    assert "zero fill is dropped" in report.reordered[0]
    assert "llvm.intr.memset" not in fast               # every element read is written first
    assert "fastmath<reassoc,contract>" in fast         # the matrix-vector products' sums
    assert "linalg.matmul" in fast                      # the code as written stays, behind the guard
    assert fast.count("memref.alloc") == 2              # the local t, and B·x
    assert "arith.cmpf olt" in fast                     # the cost model, at run time


def test_without_reassociate_the_chain_stays_and_says_why():
    _, report, _, fast = _pipeline("abx", reassociate=False)
    assert report.reordered == []
    assert len(report.kept) == 1 and "not `#[cargo_mlir::accelerate(reassociate)]`" in report.kept[0]
    assert "fastmath<reassoc" not in fast and "llvm.intr.memset" in fast


@pytest.mark.parametrize("name,why", [
    ("abx_scratch", "the temporary escapes"),
    ("abx_read_after", "the temporary is also read after the chain (`memref.load`"),
])
def test_negative_chains_stay(name, why):
    _, report, _, fast = _pipeline(name)
    assert report.reordered == [], report.reordered
    assert len(report.kept) == 1 and why in report.kept[0], report.kept
    assert "fastmath<reassoc" not in fast


def test_kernels_keep_rust_allocations_unraised():
    """Only accelerate functions (host code) get local buffers: a kernel entry with a
    `vec!` is not raised (its allocation has no device equivalent)."""
    with ir.Context() as ctx, ir.Location.unknown():
        text = (FIXTURES / "abx.mlir").read_text().replace("__cargo_mlir_accel_", "__cargo_mlir_kernel_")
        module = ir.Module.parse(text, ctx)
        report = raise_function(module, default_entry(module))
        assert not report.raised
