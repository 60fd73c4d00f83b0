// Sanity check of the harness itself: mlir-opt is found and its output
// reaches filecheck. If this fails, the other tests' failures mean nothing.
// RUN: %mlir-opt %s -split-input-file -canonicalize | filecheck %s

// CHECK-LABEL: func.func @fold_add
// CHECK-NEXT:    %[[C:.*]] = arith.constant 5 : i64
// CHECK-NEXT:    return %[[C]] : i64
func.func @fold_add() -> i64 {
  %a = arith.constant 2 : i64
  %b = arith.constant 3 : i64
  %c = arith.addi %a, %b : i64
  return %c : i64
}

// -----

// The rustc shapes the pipeline sees are llvm dialect: canonicalisation must
// not touch a bounds check it cannot decide.
// CHECK-LABEL: llvm.func @keep_bounds_check
// CHECK:         llvm.icmp "ult" %arg0, %arg1 : i64
// CHECK:         llvm.cond_br
llvm.func @keep_bounds_check(%i: i64, %n: i64) -> i64 {
  %c = llvm.icmp "ult" %i, %n : i64
  llvm.cond_br %c, ^ok, ^panic
^ok:
  llvm.return %i : i64
^panic:
  llvm.unreachable
}

// -----

// The host wrapper's loops are scf: one with an empty body goes away.
// CHECK-LABEL: func.func @drop_empty_loop
// CHECK-NOT:     scf.for
// CHECK:         return
func.func @drop_empty_loop(%lb: i64, %ub: i64) {
  %c1 = arith.constant 1 : i64
  scf.for %i = %lb to %ub step %c1 : i64 {
  }
  return
}
