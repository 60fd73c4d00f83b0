// Shapes beyond the sample kernels: single-block loops (x.len() reductions),
// raw-pointer matmul, 2-D element-wise, a break, data-dependent bounds, and
// the precise reasons of loops that stay unchanged. Made with (Rust source at the end)
//   rustc --crate-type=lib --edition=2021 -C opt-level=3 -C no-vectorize-loops -C no-vectorize-slp
//     -C llvm-args=-unroll-runtime=false -C llvm-args=-unroll-threshold=0 -C panic=abort
//     -C debuginfo=0 --emit=llvm-ir src/lib.rs && mlir-translate-22 --import-llvm lib.ll
// RUN: %raise %s --entry __cargo_mlir_accel_dot --explain 2>&1 | filecheck %s --check-prefix=DOT
// RUN: %raise %s --entry __cargo_mlir_accel_sum | filecheck %s --check-prefix=SUM
// RUN: %raise %s --entry __cargo_mlir_accel_mm_raw --explain 2>&1 | filecheck %s --check-prefix=RAW
// RUN: %raise %s --entry __cargo_mlir_accel_scale2d | filecheck %s --check-prefix=SCALE
// RUN: %raise %s --entry __cargo_mlir_accel_find | filecheck %s --check-prefix=FIND
// RUN: %raise %s --entry __cargo_mlir_accel_prefix --explain 2>&1 | filecheck %s --check-prefix=PREFIX
// RUN: %raise %s --entry __cargo_mlir_accel_membound --explain 2>&1 | filecheck %s --check-prefix=MEM
// RUN: %raise %s --entry __cargo_mlir_accel_gather --explain 2>&1 | filecheck %s --check-prefix=GATHER
// RUN: %raise %s --entry __cargo_mlir_accel_scatter --explain 2>&1 | filecheck %s --check-prefix=SCATTER
// RUN: %raise %s --entry __cargo_mlir_accel_find | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
// RUN: %raise %s --entry __cargo_mlir_accel_mm_raw | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
//
// for i in 0..x.len() { acc += x[i] * y[i] }: one block, the check hoisted by LLVM.
// DOT: func.func @__cargo_mlir_accel_dot(
// DOT: scf.if
// DOT: scf.for unsigned {{.*}} iter_args({{.*}}) -> (f32)
// DOT: memref.load
// DOT: memref.load
// DOT: arith.mulf
// DOT: arith.addf
// DOT: llvm.call @__cargo_mlir_accel_dot.slow(
// DOT: __cargo_mlir_accel_dot: raised
// DOT-NEXT: precondition: arg3 > (arg1 + -1)
// DOT: loop at <function>: raised
// DOT-NEXT: fast path can panic: false
//
// A scalar f64 accumulator without any check: no precondition at all.
// SUM: func.func @__cargo_mlir_accel_sum(
// SUM-NOT: llvm.call
// SUM: scf.for unsigned {{.*}} iter_args({{.*}}) -> (f64)
// SUM: memref.load
// SUM: arith.addf
//
// Raw pointers: no lengths, so no bounds preconditions (2-D views only); the
// fast path keeps the order of accesses, so overlap is reported, not checked.
// RAW: func.func @__cargo_mlir_accel_mm_raw(
// RAW: scf.for unsigned
// RAW: scf.for unsigned
// RAW: scf.for unsigned {{.*}} iter_args({{.*}}) -> (f32)
// RAW: __cargo_mlir_accel_mm_raw: raised
// RAW-NOT: precondition: {{.*}}overlap
// RAW: not checked (accesses keep their order): arg2 and arg0 do not overlap
// RAW-NEXT: not checked (accesses keep their order): arg2 and arg1 do not overlap
// RAW-COUNT-3: loop at <function>: raised
//
// SCALE: func.func @__cargo_mlir_accel_scale2d(
// SCALE: to memref<?x?xf64>
// SCALE: scf.for unsigned
// SCALE: scf.for unsigned
// SCALE: memref.load {{.*}}[{{.*}}, {{.*}}] : memref<?x?xf64>
// SCALE: memref.store {{.*}}[{{.*}}, {{.*}}] : memref<?x?xf64>
//
// A break: the counting exit is tested at the top, the other exit ends the
// loop early; the loop stays an scf.while with both exits.
// FIND: func.func @__cargo_mlir_accel_find(
// FIND: scf.while
// FIND: arith.cmpi eq
// FIND: scf.if
// FIND: memref.load
// FIND: arith.cmpf oeq
// FIND: scf.condition
//
// for i in 0..n.min(x.len()): the bound is a symbol (umin of two arguments).
// PREFIX: __cargo_mlir_accel_prefix: raised
// PREFIX: loop at <function>: raised
//
// let n = *np; for i in 0..n: the bound is loaded at the entry, before any store.
// MEM: __cargo_mlir_accel_membound: raised
// MEM: precondition: load(arg4) < 2^40
// MEM: loop at <function>: raised
//
// GATHER: __cargo_mlir_accel_gather: not raised: a loop cannot be raised
// GATHER-NEXT: loop at <function>: not raised: index depends on loaded data
// SCATTER: __cargo_mlir_accel_scatter: not raised: a loop cannot be raised
// SCATTER-NEXT: loop at <function>: not raised: index depends on loaded data
//
// LLVM: define {{.*}} @__cargo_mlir_accel_
//
// use core::slice::{from_raw_parts, from_raw_parts_mut};
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_mm_raw(a: *const f32, b: *const f32, c: *mut f32,
//                                                    m: usize, n: usize, k: usize) {
//     for i in 0..m {
//         for j in 0..n {
//             let mut acc = 0.0f32;
//             for p in 0..k {
//                 acc += *a.add(i * k + p) * *b.add(p * n + j);
//             }
//             *c.add(i * n + j) = acc;
//         }
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_scale2d(x: *const f64, lx: usize, y: *mut f64, ly: usize,
//                                                     rows: usize, cols: usize) {
//     let (x, y) = (from_raw_parts(x, lx), from_raw_parts_mut(y, ly));
//     for i in 0..rows {
//         for j in 0..cols {
//             y[i * cols + j] = 2.0 * x[i * cols + j] + 1.0;
//         }
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_sum(x: *const f64, lx: usize) -> f64 {
//     let x = from_raw_parts(x, lx);
//     let mut s = 0.0;
//     for i in 0..x.len() {
//         s += x[i];
//     }
//     s
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_find(x: *const f32, lx: usize, v: f32) -> usize {
//     let x = from_raw_parts(x, lx);
//     let mut at = lx;
//     for i in 0..x.len() {
//         if x[i] == v {
//             at = i;
//             break;
//         }
//     }
//     at
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_prefix(x: *const f32, lx: usize, y: *mut f32, ly: usize, n: usize) {
//     let (x, y) = (from_raw_parts(x, lx), from_raw_parts_mut(y, ly));
//     for i in 0..n.min(x.len()) {
//         y[i] = x[i] * 3.0;
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_membound(x: *const f32, lx: usize, y: *mut f32, ly: usize, np: *const usize) {
//     let (x, y) = (from_raw_parts(x, lx), from_raw_parts_mut(y, ly));
//     let n = *np;
//     for i in 0..n {
//         y[i] = x[i] + 1.0;
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_gather(x: *const f32, lx: usize, idx: *const u32, li: usize, y: *mut f32, ly: usize) {
//     let (x, idx, y) = (from_raw_parts(x, lx), from_raw_parts(idx, li), from_raw_parts_mut(y, ly));
//     for i in 0..y.len() {
//         y[i] = x[idx[i] as usize];
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_scatter(x: *const f32, lx: usize, idx: *const u32, li: usize, y: *mut f32, ly: usize) {
//     let (x, idx, y) = (from_raw_parts(x, lx), from_raw_parts(idx, li), from_raw_parts_mut(y, ly));
//     for i in 0..x.len() {
//         y[idx[i] as usize] = x[i];
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_alias(x: *mut f32, lx: usize, idx: *const u32, li: usize) {
//     let (x, idx) = (from_raw_parts_mut(x, lx), from_raw_parts(idx, li));
//     for i in 0..idx.len() {
//         let p = idx[i] as *const u32 as usize;
//         x[i] = *(p as *const f32);
//     }
// }
// 
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_dot(x: *const f32, lx: usize, y: *const f32, ly: usize) -> f32 {
//     let (x, y) = (from_raw_parts(x, lx), from_raw_parts(y, ly));
//     let mut acc = 0.0f32;
//     for i in 0..x.len() {
//         acc += x[i] * y[i];
//     }
//     acc
// }
module attributes {dlti.dl_spec = #dlti.dl_spec<!llvm.ptr<270> = dense<32> : vector<4xi64>, !llvm.ptr<271> = dense<32> : vector<4xi64>, !llvm.ptr<272> = dense<64> : vector<4xi64>, i64 = dense<64> : vector<2xi64>, i128 = dense<128> : vector<2xi64>, f80 = dense<128> : vector<2xi64>, !llvm.ptr = dense<64> : vector<4xi64>, i1 = dense<8> : vector<2xi64>, i8 = dense<8> : vector<2xi64>, i16 = dense<16> : vector<2xi64>, i32 = dense<32> : vector<2xi64>, f16 = dense<16> : vector<2xi64>, f64 = dense<64> : vector<2xi64>, f128 = dense<128> : vector<2xi64>, "dlti.endianness" = "little", "dlti.mangling_mode" = "e", "dlti.legal_int_widths" = array<i32: 8, 16, 32, 64>, "dlti.stack_alignment" = 128 : i64>, llvm.ident = "rustc version 1.95.0 (59807616e 2026-04-14)", llvm.module_asm = [], llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.mlir.global private unnamed_addr constant @alloc_466e6e10d4d5a95679ab35d1156aa54e("src/lib.rs\00") {addr_space = 0 : i32, alignment = 1 : i64, dso_local}
  llvm.mlir.global private unnamed_addr constant @alloc_f76e5288113e22bfe695b4d68629241f() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00Y\00\00\00\09\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_4c97848071c1f273704a006d8b2a5f7a() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00b\00\00\00\17\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_ffac70e8dc882ceb6f2b2d4ca01c75f9() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00H\00\00\00\12\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_34ee5e849ac87751120cc681a32aafbe() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00H\00\00\00\10\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_a36068ce4f80f3b5ab7b89b401fcdff6() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00@\00\00\00\10\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_eda568b9ccd3b140becea369d0e8b625() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00@\00\00\00\09\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_f3342294a591a10a1a20e9f713396b04() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\007\00\00\00\09\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_917eae8968c211bbb7e182bd3e338b66() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\17\00\00\00%\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_c8c498ff2a38d6bad340c2135e27d94d() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\17\00\00\00\0D\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_aacd5c48a3ebaa6d1040f2d2bf403a6c() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00P\00\00\00\0B\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_2de52b4fc85befb7f9192c2d7e7481c6() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00P\00\00\00\09\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.module_flags [#llvm.mlir.module_flag<min, "PIC Level", 2 : i32>, #llvm.mlir.module_flag<warning, "RtLibUseGOT", 1 : i32>]
  llvm.func unnamed_addr @__cargo_mlir_accel_alias(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg3: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.addressof @alloc_f76e5288113e22bfe695b4d68629241f : !llvm.ptr
    %3 = llvm.icmp "eq" %arg3, %0 : i64
    llvm.cond_br %3, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb3
    llvm.return
  ^bb2(%4: i64):  // 2 preds: ^bb0, ^bb3
    %5 = llvm.icmp "eq" %4, %arg1 : i64
    llvm.cond_br %5, ^bb4, ^bb3
  ^bb3:  // pred: ^bb2
    %6 = llvm.add %4, %1 overflow<nuw> : i64
    %7 = llvm.getelementptr inbounds|nuw %arg2[%4] : (!llvm.ptr, i64) -> !llvm.ptr, i32
    %8 = llvm.load %7 {alignment = 4 : i64} : !llvm.ptr -> i32
    %9 = llvm.zext %8 : i32 to i64
    %10 = llvm.inttoptr %9 : i64 to !llvm.ptr
    %11 = llvm.load %10 {alignment = 4 : i64} : !llvm.ptr -> f32
    %12 = llvm.getelementptr inbounds|nuw %arg0[%4] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %11, %12 {alignment = 4 : i64} : f32, !llvm.ptr
    %13 = llvm.icmp "eq" %6, %arg3 : i64
    llvm.cond_br %13, ^bb1, ^bb2(%6 : i64)
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg1, %arg1, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_dot(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg3: i64 {llvm.noundef}) -> (f32 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(0.000000e+00 : f32) : f32
    %2 = llvm.mlir.constant(-1 : i64) : i64
    %3 = llvm.mlir.addressof @alloc_4c97848071c1f273704a006d8b2a5f7a : !llvm.ptr
    %4 = llvm.mlir.constant(1 : i64) : i64
    %5 = llvm.icmp "eq" %arg1, %0 : i64
    llvm.cond_br %5, ^bb2(%1 : f32), ^bb1
  ^bb1:  // pred: ^bb0
    %6 = llvm.add %arg1, %2 : i64
    %7 = llvm.icmp "ugt" %arg3, %6 : i64
    llvm.cond_br %7, ^bb3(%1, %0 : f32, i64), ^bb4
  ^bb2(%8: f32):  // 2 preds: ^bb0, ^bb3
    llvm.return %8 : f32
  ^bb3(%9: f32, %10: i64):  // 2 preds: ^bb1, ^bb3
    %11 = llvm.add %10, %4 overflow<nuw> : i64
    %12 = llvm.getelementptr inbounds|nuw %arg0[%10] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %13 = llvm.load %12 {alignment = 4 : i64} : !llvm.ptr -> f32
    %14 = llvm.getelementptr inbounds|nuw %arg2[%10] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %15 = llvm.load %14 {alignment = 4 : i64} : !llvm.ptr -> f32
    %16 = llvm.fmul %13, %15 : f32
    %17 = llvm.fadd %9, %16 : f32
    %18 = llvm.icmp "eq" %11, %arg1 : i64
    llvm.cond_br %18, ^bb2(%17 : f32), ^bb3(%17, %11 : f32, i64)
  ^bb4:  // pred: ^bb1
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_find(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: f32 {llvm.noundef}) -> (i64 {llvm.noundef}) attributes {memory_effects = #llvm.memory_effects<other = none, argMem = read, inaccessibleMem = none, errnoMem = none, targetMem0 = none, targetMem1 = none>, no_unwind, passthrough = ["nofree", "norecurse", "nosync", "nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    llvm.br ^bb1(%0 : i64)
  ^bb1(%2: i64):  // 2 preds: ^bb0, ^bb2
    %3 = llvm.icmp "eq" %2, %arg1 : i64
    llvm.cond_br %3, ^bb3(%arg1 : i64), ^bb2
  ^bb2:  // pred: ^bb1
    %4 = llvm.add %2, %1 : i64
    %5 = llvm.getelementptr inbounds|nuw %arg0[%2] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %6 = llvm.load %5 {alignment = 4 : i64} : !llvm.ptr -> f32
    %7 = llvm.fcmp "oeq" %6, %arg2 : f32
    llvm.cond_br %7, ^bb3(%2 : i64), ^bb1(%4 : i64)
  ^bb3(%8: i64):  // 2 preds: ^bb1, ^bb2
    llvm.return %8 : i64
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_gather(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg3: i64 {llvm.noundef}, %arg4: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg5: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.addressof @alloc_34ee5e849ac87751120cc681a32aafbe : !llvm.ptr
    %3 = llvm.mlir.addressof @alloc_ffac70e8dc882ceb6f2b2d4ca01c75f9 : !llvm.ptr
    %4 = llvm.icmp "eq" %arg5, %0 : i64
    llvm.cond_br %4, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb6
    llvm.return
  ^bb2(%5: i64):  // 2 preds: ^bb0, ^bb6
    %6 = llvm.add %5, %1 overflow<nuw> : i64
    %7 = llvm.icmp "eq" %5, %arg3 : i64
    llvm.cond_br %7, ^bb4, ^bb3
  ^bb3:  // pred: ^bb2
    %8 = llvm.getelementptr inbounds|nuw %arg2[%5] : (!llvm.ptr, i64) -> !llvm.ptr, i32
    %9 = llvm.load %8 {alignment = 4 : i64} : !llvm.ptr -> i32
    %10 = llvm.zext %9 : i32 to i64
    %11 = llvm.icmp "ugt" %arg1, %10 : i64
    llvm.cond_br %11, ^bb6, ^bb5
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb5:  // pred: ^bb3
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%10, %arg1, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb6:  // pred: ^bb3
    %12 = llvm.getelementptr inbounds|nuw %arg0[%10] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %13 = llvm.load %12 {alignment = 4 : i64} : !llvm.ptr -> f32
    %14 = llvm.getelementptr inbounds|nuw %arg4[%5] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %13, %14 {alignment = 4 : i64} : f32, !llvm.ptr
    %15 = llvm.icmp "eq" %6, %arg5 : i64
    llvm.cond_br %15, ^bb1, ^bb2(%6 : i64)
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_membound(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg3: i64 {llvm.noundef}, %arg4: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.constant(1.000000e+00 : f32) : f32
    %3 = llvm.mlir.addressof @alloc_eda568b9ccd3b140becea369d0e8b625 : !llvm.ptr
    %4 = llvm.mlir.addressof @alloc_a36068ce4f80f3b5ab7b89b401fcdff6 : !llvm.ptr
    %5 = llvm.load %arg4 {alignment = 8 : i64} : !llvm.ptr -> i64
    %6 = llvm.icmp "eq" %5, %0 : i64
    llvm.cond_br %6, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb5
    llvm.return
  ^bb2(%7: i64):  // 2 preds: ^bb0, ^bb5
    %8 = llvm.add %7, %1 overflow<nuw> : i64
    %9 = llvm.icmp "eq" %7, %arg1 : i64
    llvm.cond_br %9, ^bb4, ^bb3
  ^bb3:  // pred: ^bb2
    %10 = llvm.icmp "eq" %7, %arg3 : i64
    llvm.cond_br %10, ^bb6, ^bb5
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg1, %arg1, %4) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb5:  // pred: ^bb3
    %11 = llvm.getelementptr inbounds|nuw %arg0[%7] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %12 = llvm.load %11 {alignment = 4 : i64} : !llvm.ptr -> f32
    %13 = llvm.getelementptr inbounds|nuw %arg2[%7] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %14 = llvm.fadd %12, %2 : f32
    llvm.store %14, %13 {alignment = 4 : i64} : f32, !llvm.ptr
    %15 = llvm.icmp "eq" %8, %5 : i64
    llvm.cond_br %15, ^bb1, ^bb2(%8 : i64)
  ^bb6:  // pred: ^bb3
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_mm_raw(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg3: i64 {llvm.noundef}, %arg4: i64 {llvm.noundef}, %arg5: i64 {llvm.noundef}) attributes {memory_effects = #llvm.memory_effects<other = none, argMem = readwrite, inaccessibleMem = none, errnoMem = none, targetMem0 = none, targetMem1 = none>, no_unwind, passthrough = ["nofree", "norecurse", "nosync", "nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(0.000000e+00 : f32) : f32
    %2 = llvm.mlir.constant(1 : i64) : i64
    %3 = llvm.mlir.constant(2 : i64) : i64
    %4 = llvm.mlir.constant(0 : i8) : i8
    %5 = llvm.icmp "eq" %arg3, %0 : i64
    %6 = llvm.icmp "eq" %arg4, %0 : i64
    %7 = llvm.or %5, %6 : i1
    llvm.cond_br %7, ^bb8, ^bb1
  ^bb1:  // pred: ^bb0
    %8 = llvm.icmp "eq" %arg5, %0 : i64
    llvm.cond_br %8, ^bb2, ^bb3(%0 : i64)
  ^bb2:  // pred: ^bb1
    %9 = llvm.mul %arg4, %arg3 : i64
    %10 = llvm.shl %9, %3 : i64
    "llvm.intr.memset"(%arg2, %4, %10) <{arg_attrs = [{llvm.align = 4 : i64}, {}, {}], isVolatile = false}> : (!llvm.ptr, i8, i64) -> ()
    llvm.br ^bb8
  ^bb3(%11: i64):  // 2 preds: ^bb1, ^bb7
    %12 = llvm.mul %11, %arg5 : i64
    %13 = llvm.getelementptr %arg0[%12] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %14 = llvm.mul %11, %arg4 : i64
    %15 = llvm.getelementptr %arg2[%14] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.br ^bb4(%0 : i64)
  ^bb4(%16: i64):  // 2 preds: ^bb3, ^bb6
    %17 = llvm.getelementptr %arg1[%16] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.br ^bb5(%0, %1 : i64, f32)
  ^bb5(%18: i64, %19: f32):  // 2 preds: ^bb4, ^bb5
    %20 = llvm.add %18, %2 overflow<nuw> : i64
    %21 = llvm.getelementptr %13[%18] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %22 = llvm.load %21 {alignment = 4 : i64} : !llvm.ptr -> f32
    %23 = llvm.mul %18, %arg4 : i64
    %24 = llvm.getelementptr %17[%23] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %25 = llvm.load %24 {alignment = 4 : i64} : !llvm.ptr -> f32
    %26 = llvm.fmul %22, %25 : f32
    %27 = llvm.fadd %19, %26 : f32
    %28 = llvm.icmp "eq" %20, %arg5 : i64
    llvm.cond_br %28, ^bb6, ^bb5(%20, %27 : i64, f32)
  ^bb6:  // pred: ^bb5
    %29 = llvm.add %16, %2 overflow<nuw> : i64
    %30 = llvm.getelementptr %15[%16] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %27, %30 {alignment = 4 : i64} : f32, !llvm.ptr
    %31 = llvm.icmp "eq" %29, %arg4 : i64
    llvm.cond_br %31, ^bb7, ^bb4(%29 : i64)
  ^bb7:  // pred: ^bb6
    %32 = llvm.add %11, %2 overflow<nuw> : i64
    %33 = llvm.icmp "eq" %32, %arg3 : i64
    llvm.cond_br %33, ^bb8, ^bb3(%32 : i64)
  ^bb8:  // 3 preds: ^bb0, ^bb2, ^bb7
    llvm.return
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_prefix(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg3: i64 {llvm.noundef}, %arg4: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], personality = @rust_eh_personality, target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.constant(3.000000e+00 : f32) : f32
    %3 = llvm.mlir.addressof @alloc_f3342294a591a10a1a20e9f713396b04 : !llvm.ptr
    %4 = llvm.intr.umin(%arg1, %arg4) : (i64, i64) -> i64
    %5 = llvm.icmp "eq" %4, %0 : i64
    llvm.cond_br %5, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb3
    llvm.return
  ^bb2(%6: i64):  // 2 preds: ^bb0, ^bb3
    %7 = llvm.icmp "eq" %6, %arg3 : i64
    llvm.cond_br %7, ^bb4, ^bb3
  ^bb3:  // pred: ^bb2
    %8 = llvm.add %6, %1 overflow<nuw> : i64
    %9 = llvm.getelementptr inbounds|nuw %arg0[%6] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %10 = llvm.load %9 {alignment = 4 : i64} : !llvm.ptr -> f32
    %11 = llvm.getelementptr inbounds|nuw %arg2[%6] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %12 = llvm.fmul %10, %2 : f32
    llvm.store %12, %11 {alignment = 4 : i64} : f32, !llvm.ptr
    %13 = llvm.icmp "eq" %8, %4 : i64
    llvm.cond_br %13, ^bb1, ^bb2(%8 : i64)
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_scale2d(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg3: i64 {llvm.noundef}, %arg4: i64 {llvm.noundef}, %arg5: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.addressof @alloc_917eae8968c211bbb7e182bd3e338b66 : !llvm.ptr
    %3 = llvm.mlir.addressof @alloc_c8c498ff2a38d6bad340c2135e27d94d : !llvm.ptr
    %4 = llvm.mlir.constant(2.000000e+00 : f64) : f64
    %5 = llvm.mlir.constant(1.000000e+00 : f64) : f64
    %6 = llvm.icmp "eq" %arg4, %0 : i64
    %7 = llvm.icmp "eq" %arg5, %0 : i64
    %8 = llvm.or %6, %7 : i1
    llvm.cond_br %8, ^bb6, ^bb1(%0 : i64)
  ^bb1(%9: i64):  // 2 preds: ^bb0, ^bb5
    %10 = llvm.add %9, %1 overflow<nuw> : i64
    %11 = llvm.mul %9, %arg5 : i64
    llvm.br ^bb2(%0 : i64)
  ^bb2(%12: i64):  // 2 preds: ^bb1, ^bb4
    %13 = llvm.add %12, %1 overflow<nuw> : i64
    %14 = llvm.add %12, %11 overflow<nuw> : i64
    %15 = llvm.icmp "ult" %14, %arg1 : i64
    llvm.cond_br %15, ^bb3, ^bb7
  ^bb3:  // pred: ^bb2
    %16 = llvm.icmp "ult" %14, %arg3 : i64
    llvm.cond_br %16, ^bb4, ^bb8
  ^bb4:  // pred: ^bb3
    %17 = llvm.getelementptr inbounds|nuw %arg0[%14] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %18 = llvm.load %17 {alignment = 8 : i64} : !llvm.ptr -> f64
    %19 = llvm.fmul %18, %4 : f64
    %20 = llvm.getelementptr inbounds|nuw %arg2[%14] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %21 = llvm.fadd %19, %5 : f64
    llvm.store %21, %20 {alignment = 8 : i64} : f64, !llvm.ptr
    %22 = llvm.icmp "eq" %13, %arg5 : i64
    llvm.cond_br %22, ^bb5, ^bb2(%13 : i64)
  ^bb5:  // pred: ^bb4
    %23 = llvm.icmp "eq" %10, %arg4 : i64
    llvm.cond_br %23, ^bb6, ^bb1(%10 : i64)
  ^bb6:  // 2 preds: ^bb0, ^bb5
    llvm.return
  ^bb7:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%14, %arg1, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb8:  // pred: ^bb3
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%14, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_scatter(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg3: i64 {llvm.noundef}, %arg4: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg5: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.addressof @alloc_2de52b4fc85befb7f9192c2d7e7481c6 : !llvm.ptr
    %3 = llvm.mlir.addressof @alloc_aacd5c48a3ebaa6d1040f2d2bf403a6c : !llvm.ptr
    %4 = llvm.icmp "eq" %arg1, %0 : i64
    llvm.cond_br %4, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb5
    llvm.return
  ^bb2(%5: i64):  // 2 preds: ^bb0, ^bb5
    %6 = llvm.add %5, %1 overflow<nuw> : i64
    %7 = llvm.getelementptr inbounds|nuw %arg0[%5] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %8 = llvm.load %7 {alignment = 4 : i64} : !llvm.ptr -> f32
    %9 = llvm.icmp "eq" %5, %arg3 : i64
    llvm.cond_br %9, ^bb4, ^bb3
  ^bb3:  // pred: ^bb2
    %10 = llvm.getelementptr inbounds|nuw %arg2[%5] : (!llvm.ptr, i64) -> !llvm.ptr, i32
    %11 = llvm.load %10 {alignment = 4 : i64} : !llvm.ptr -> i32
    %12 = llvm.zext %11 : i32 to i64
    %13 = llvm.icmp "ugt" %arg5, %12 : i64
    llvm.cond_br %13, ^bb5, ^bb6
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb5:  // pred: ^bb3
    %14 = llvm.getelementptr inbounds|nuw %arg4[%12] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %8, %14 {alignment = 4 : i64} : f32, !llvm.ptr
    %15 = llvm.icmp "eq" %6, %arg1 : i64
    llvm.cond_br %15, ^bb1, ^bb2(%6 : i64)
  ^bb6:  // pred: ^bb3
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%12, %arg5, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_sum(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}) -> (f64 {llvm.noundef}) attributes {memory_effects = #llvm.memory_effects<other = none, argMem = read, inaccessibleMem = none, errnoMem = none, targetMem0 = none, targetMem1 = none>, no_unwind, passthrough = ["nofree", "norecurse", "nosync", "nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(0.000000e+00 : f64) : f64
    %2 = llvm.mlir.constant(1 : i64) : i64
    %3 = llvm.icmp "eq" %arg1, %0 : i64
    llvm.cond_br %3, ^bb1(%1 : f64), ^bb2(%1, %0 : f64, i64)
  ^bb1(%4: f64):  // 2 preds: ^bb0, ^bb2
    llvm.return %4 : f64
  ^bb2(%5: f64, %6: i64):  // 2 preds: ^bb0, ^bb2
    %7 = llvm.add %6, %2 overflow<nuw> : i64
    %8 = llvm.getelementptr inbounds|nuw %arg0[%6] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %9 = llvm.load %8 {alignment = 8 : i64} : !llvm.ptr -> f64
    %10 = llvm.fadd %5, %9 : f64
    %11 = llvm.icmp "eq" %7, %arg1 : i64
    llvm.cond_br %11, ^bb1(%10 : f64), ^bb2(%10, %7 : f64, i64)
  }
  llvm.func unnamed_addr @rust_eh_personality(i32 {llvm.noundef}, i32 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.noundef}, !llvm.ptr {llvm.noundef}) -> (i32 {llvm.noundef, llvm.range = #llvm.constant_range<i32, 0, 10>}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "minsize", "noreturn", "nonlazybind", "optsize", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>}
}
