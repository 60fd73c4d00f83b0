// Loop nests from rustc (see the Rust source at the end of this header), made with
//   rustc --crate-type=lib -C opt-level=3 -C no-vectorize-loops -C no-vectorize-slp
//     -C llvm-args=-unroll-runtime=false -C llvm-args=-unroll-threshold=0 -C panic=abort
//     -C debuginfo=0 --emit=llvm-ir k.rs && mlir-translate-22 --import-llvm k.ll
// RUN: %raise %s --entry __cargo_mlir_accel_mm_ijk | filecheck %s --check-prefix=IJK
// RUN: %raise %s --entry __cargo_mlir_accel_mm_ikj | filecheck %s --check-prefix=IKJ
// RUN: %raise %s --entry __cargo_mlir_accel_mm_ijk | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
// RUN: %raise %s --entry __cargo_mlir_accel_mm_ikj | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM2
// RUN: %raise %s --entry __cargo_mlir_accel_square --explain 2>&1 | filecheck %s --check-prefix=SQUARE
// RUN: %raise %s --entry __cargo_mlir_accel_sidefx --explain 2>&1 | filecheck %s --check-prefix=SIDEFX
// RUN: %raise %s --entry __cargo_mlir_accel_alias --explain 2>&1 | filecheck %s --check-prefix=ALIAS
//
// i-j-k with a scalar accumulator: three scf.for, 2-D views, the k == 0 copy too.
// IJK-LABEL: func.func @__cargo_mlir_accel_mm_ijk(
// IJK: scf.if
// IJK: to memref<?x?xf32>
// IJK: scf.for unsigned
// IJK: scf.for unsigned
// IJK: scf.for unsigned {{.*}} iter_args({{.*}}) -> (f32)
// IJK-NOT: llvm.br
// IJK: memref.load {{.*}} : memref<?x?xf32>
// IJK: memref.load {{.*}} : memref<?x?xf32>
// IJK: arith.mulf
// IJK: arith.addf
// IJK: scf.yield
// IJK: memref.store {{.*}} : memref<?x?xf32>
// IJK: llvm.call @__cargo_mlir_accel_mm_ijk.slow(
// LLVM: define void @__cargo_mlir_accel_mm_ijk(
//
// i-k-j: c[i*n+j] += a[i*k+p] * b[p*n+j]
// IKJ-LABEL: func.func @__cargo_mlir_accel_mm_ikj(
// IKJ: scf.for unsigned
// IKJ: scf.for unsigned
// IKJ: memref.load
// IKJ: scf.for unsigned
// IKJ-NOT: llvm.br
// IKJ: memref.load
// IKJ: arith.mulf
// IKJ: memref.load
// IKJ: arith.addf
// IKJ: memref.store
// LLVM2: define void @__cargo_mlir_accel_mm_ikj(
//
// Negatives: left as they were, with the reason.
// SQUARE: __cargo_mlir_accel_square: not raised
// SQUARE: loop at <function>: not raised: index not affine
// SQUARE-NOT: func.func
// SIDEFX: __cargo_mlir_accel_sidefx: not raised
// SIDEFX: not raised: call with side effects in the loop
// ALIAS: __cargo_mlir_accel_alias: not raised
// ALIAS: loop at <function>: not raised
//
// use std::slice::from_raw_parts as sl;
// use std::slice::from_raw_parts_mut as slm;
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_mm_ijk(m: usize, n: usize, k: usize, a: *const f32, al: usize, b: *const f32, bl: usize, c: *mut f32, cl: usize) {
//     let (a, b, c) = (sl(a, al), sl(b, bl), slm(c, cl));
//     for i in 0..m { for j in 0..n { let mut s = 0.0f32; for p in 0..k { s += a[i * k + p] * b[p * n + j]; } c[i * n + j] = s; } }
// }
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_mm_ikj(m: usize, n: usize, k: usize, a: *const f32, al: usize, b: *const f32, bl: usize, c: *mut f32, cl: usize) {
//     let (a, b, c) = (sl(a, al), sl(b, bl), slm(c, cl));
//     for i in 0..m { for p in 0..k { let x = a[i * k + p]; for j in 0..n { c[i * n + j] += x * b[p * n + j]; } } }
// }
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_sum(x: *const f64, xl: usize) -> f64 {
//     let x = sl(x, xl); let mut s = 0.0; for i in 0..x.len() { s += x[i] * x[i]; } s
// }
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_square(n: usize, x: *const f32, xl: usize) -> f32 {
//     let x = sl(x, xl); let mut s = 0.0; for i in 0..n { s += x[i * i]; } s
// }
// extern "C" { fn observe(i: usize); }
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_sidefx(n: usize, x: *mut f32, xl: usize) {
//     let x = slm(x, xl); for i in 0..n { observe(i); x[i] += 1.0; }
// }
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_alias(dst: *const *mut f32, src: *const f32, n: usize) {
//     for i in 0..n { *(*dst).add(i) = *src.add(i) + 1.0; }
// }
// #[no_mangle]
// pub unsafe extern "C" fn __cargo_mlir_accel_mm_raw(m: usize, n: usize, k: usize, a: *const f32, b: *const f32, c: *mut f32) {
//     for i in 0..m { for j in 0..n { let mut s = 0.0f32; for p in 0..k { s += *a.add(i * k + p) * *b.add(p * n + j); } *c.add(i * n + j) = s; } }
// }
module attributes {dlti.dl_spec = #dlti.dl_spec<!llvm.ptr<270> = dense<32> : vector<4xi64>, !llvm.ptr<271> = dense<32> : vector<4xi64>, !llvm.ptr<272> = dense<64> : vector<4xi64>, i64 = dense<64> : vector<2xi64>, i128 = dense<128> : vector<2xi64>, f80 = dense<128> : vector<2xi64>, !llvm.ptr = dense<64> : vector<4xi64>, i1 = dense<8> : vector<2xi64>, i8 = dense<8> : vector<2xi64>, i16 = dense<16> : vector<2xi64>, i32 = dense<32> : vector<2xi64>, f16 = dense<16> : vector<2xi64>, f64 = dense<64> : vector<2xi64>, f128 = dense<128> : vector<2xi64>, "dlti.endianness" = "little", "dlti.mangling_mode" = "e", "dlti.legal_int_widths" = array<i32: 8, 16, 32, 64>, "dlti.stack_alignment" = 128 : i64>, llvm.ident = "rustc version 1.95.0 (59807616e 2026-04-14)", llvm.module_asm = [], llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.mlir.global private unnamed_addr constant @alloc_95f3c6766d53569cd855d1c6e6b1ee7b("k.rs\00") {addr_space = 0 : i32, alignment = 1 : i64, dso_local}
  llvm.mlir.global private unnamed_addr constant @alloc_e35088c7ba5cbece48da61cfbd368e16() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\06\00\00\00m\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_4e504442c30d52ea329a1979da0565b0() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\06\00\00\00N\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_6231da2d00674480b6abcdddccdb2697() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\06\00\00\00]\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_d45d0e950ea1613d9271e52cc390670c() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\0B\00\00\00-\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_55b8ed7d0cdae61dc89763a21662caf4() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\0B\00\00\00_\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_3f8d4fdd9263190a06cd48464b0af249() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\0B\00\00\00K\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_6b8813c4cc878d8b9909934e77b1096c() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\18\00\00\005\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global private unnamed_addr constant @alloc_ce17cd355ee0bcf06d1d88a23140519e() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\04\00\00\00\00\00\00\00\13\00\00\00>\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_95f3c6766d53569cd855d1c6e6b1ee7b : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.module_flags [#llvm.mlir.module_flag<min, "PIC Level", 2 : i32>, #llvm.mlir.module_flag<warning, "RtLibUseGOT", 1 : i32>]
  llvm.func unnamed_addr @__cargo_mlir_accel_alias(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg1: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg2: i64 {llvm.noundef}) attributes {memory_effects = #llvm.memory_effects<other = write, argMem = readwrite, inaccessibleMem = none, errnoMem = write, targetMem0 = none, targetMem1 = none>, no_unwind, passthrough = ["nofree", "norecurse", "nosync", "nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.constant(1.000000e+00 : f32) : f32
    %3 = llvm.icmp "eq" %arg2, %0 : i64
    llvm.cond_br %3, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb2
    llvm.return
  ^bb2(%4: i64):  // 2 preds: ^bb0, ^bb2
    %5 = llvm.add %4, %1 overflow<nuw> : i64
    %6 = llvm.getelementptr inbounds|nuw %arg1[%4] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %7 = llvm.load %6 {alignment = 4 : i64} : !llvm.ptr -> f32
    %8 = llvm.load %arg0 {alignment = 8 : i64} : !llvm.ptr -> !llvm.ptr
    %9 = llvm.getelementptr inbounds|nuw %8[%4] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %10 = llvm.fadd %7, %2 : f32
    llvm.store %10, %9 {alignment = 4 : i64} : f32, !llvm.ptr
    %11 = llvm.icmp "eq" %5, %arg2 : i64
    llvm.cond_br %11, ^bb1, ^bb2(%5 : i64)
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_mm_ijk(%arg0: i64 {llvm.noundef}, %arg1: i64 {llvm.noundef}, %arg2: i64 {llvm.noundef}, %arg3: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg4: i64 {llvm.noundef}, %arg5: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg6: i64 {llvm.noundef}, %arg7: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}, %arg8: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.constant(0.000000e+00 : f32) : f32
    %3 = llvm.mlir.addressof @alloc_4e504442c30d52ea329a1979da0565b0 : !llvm.ptr
    %4 = llvm.mlir.addressof @alloc_6231da2d00674480b6abcdddccdb2697 : !llvm.ptr
    %5 = llvm.mlir.addressof @alloc_e35088c7ba5cbece48da61cfbd368e16 : !llvm.ptr
    %6 = llvm.icmp "eq" %arg0, %0 : i64
    %7 = llvm.icmp "eq" %arg1, %0 : i64
    %8 = llvm.or %6, %7 : i1
    llvm.cond_br %8, ^bb14, ^bb1
  ^bb1:  // pred: ^bb0
    %9 = llvm.icmp "eq" %arg2, %0 : i64
    llvm.cond_br %9, ^bb10(%0 : i64), ^bb2(%0, %0 : i64, i64)
  ^bb2(%10: i64, %11: i64):  // 2 preds: ^bb1, ^bb9
    %12 = llvm.add %11, %1 overflow<nuw> : i64
    %13 = llvm.mul %11, %arg2 : i64
    %14 = llvm.mul %11, %arg1 : i64
    llvm.br ^bb3(%0 : i64)
  ^bb3(%15: i64):  // 2 preds: ^bb2, ^bb4
    %16 = llvm.add %15, %1 overflow<nuw> : i64
    llvm.br ^bb5(%0, %2 : i64, f32)
  ^bb4:  // pred: ^bb8
    %17 = llvm.getelementptr inbounds|nuw %arg7[%34] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %32, %17 {alignment = 4 : i64} : f32, !llvm.ptr
    %18 = llvm.icmp "eq" %16, %arg1 : i64
    llvm.cond_br %18, ^bb9, ^bb3(%16 : i64)
  ^bb5(%19: i64, %20: f32):  // 2 preds: ^bb3, ^bb7
    %21 = llvm.add %19, %1 overflow<nuw> : i64
    %22 = llvm.add %19, %13 overflow<nuw> : i64
    %23 = llvm.icmp "ult" %22, %arg4 : i64
    llvm.cond_br %23, ^bb6, ^bb16
  ^bb6:  // pred: ^bb5
    %24 = llvm.mul %19, %arg1 : i64
    %25 = llvm.add %24, %15 : i64
    %26 = llvm.icmp "ult" %25, %arg6 : i64
    llvm.cond_br %26, ^bb7, ^bb17
  ^bb7:  // pred: ^bb6
    %27 = llvm.getelementptr inbounds|nuw %arg3[%22] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %28 = llvm.load %27 {alignment = 4 : i64} : !llvm.ptr -> f32
    %29 = llvm.getelementptr inbounds|nuw %arg5[%25] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %30 = llvm.load %29 {alignment = 4 : i64} : !llvm.ptr -> f32
    %31 = llvm.fmul %28, %30 : f32
    %32 = llvm.fadd %20, %31 : f32
    %33 = llvm.icmp "eq" %21, %arg2 : i64
    llvm.cond_br %33, ^bb8, ^bb5(%21, %32 : i64, f32)
  ^bb8:  // pred: ^bb7
    %34 = llvm.add %15, %14 overflow<nuw> : i64
    %35 = llvm.icmp "ult" %34, %arg8 : i64
    llvm.cond_br %35, ^bb4, ^bb15(%34 : i64)
  ^bb9:  // pred: ^bb4
    %36 = llvm.add %10, %arg2 : i64
    %37 = llvm.icmp "eq" %12, %arg0 : i64
    llvm.cond_br %37, ^bb14, ^bb2(%36, %12 : i64, i64)
  ^bb10(%38: i64):  // 2 preds: ^bb1, ^bb13
    %39 = llvm.add %38, %1 overflow<nuw> : i64
    %40 = llvm.mul %38, %arg1 : i64
    llvm.br ^bb11(%0 : i64)
  ^bb11(%41: i64):  // 2 preds: ^bb10, ^bb12
    %42 = llvm.add %41, %40 overflow<nuw> : i64
    %43 = llvm.icmp "ult" %42, %arg8 : i64
    llvm.cond_br %43, ^bb12, ^bb15(%42 : i64)
  ^bb12:  // pred: ^bb11
    %44 = llvm.add %41, %1 overflow<nuw> : i64
    %45 = llvm.getelementptr inbounds|nuw %arg7[%42] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %2, %45 {alignment = 4 : i64} : f32, !llvm.ptr
    %46 = llvm.icmp "eq" %44, %arg1 : i64
    llvm.cond_br %46, ^bb13, ^bb11(%44 : i64)
  ^bb13:  // pred: ^bb12
    %47 = llvm.icmp "eq" %39, %arg0 : i64
    llvm.cond_br %47, ^bb14, ^bb10(%39 : i64)
  ^bb14:  // 3 preds: ^bb0, ^bb9, ^bb13
    llvm.return
  ^bb15(%48: i64):  // 2 preds: ^bb8, ^bb11
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%48, %arg8, %5) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb16:  // pred: ^bb5
    %49 = llvm.intr.umax(%arg4, %10) : (i64, i64) -> i64
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%49, %arg4, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb17:  // pred: ^bb6
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%25, %arg6, %4) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_mm_ikj(%arg0: i64 {llvm.noundef}, %arg1: i64 {llvm.noundef}, %arg2: i64 {llvm.noundef}, %arg3: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg4: i64 {llvm.noundef}, %arg5: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg6: i64 {llvm.noundef}, %arg7: !llvm.ptr {llvm.nocapture, llvm.noundef}, %arg8: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.addressof @alloc_55b8ed7d0cdae61dc89763a21662caf4 : !llvm.ptr
    %3 = llvm.mlir.addressof @alloc_3f8d4fdd9263190a06cd48464b0af249 : !llvm.ptr
    %4 = llvm.mlir.addressof @alloc_d45d0e950ea1613d9271e52cc390670c : !llvm.ptr
    %5 = llvm.icmp "eq" %arg0, %0 : i64
    %6 = llvm.icmp "eq" %arg2, %0 : i64
    %7 = llvm.or %5, %6 : i1
    llvm.cond_br %7, ^bb14, ^bb1
  ^bb1:  // pred: ^bb0
    %8 = llvm.icmp "eq" %arg1, %0 : i64
    llvm.cond_br %8, ^bb10(%0 : i64), ^bb2(%0 : i64)
  ^bb2(%9: i64):  // 2 preds: ^bb1, ^bb9
    %10 = llvm.add %9, %1 overflow<nuw> : i64
    %11 = llvm.mul %9, %arg2 : i64
    %12 = llvm.mul %9, %arg1 : i64
    llvm.br ^bb3(%0 : i64)
  ^bb3(%13: i64):  // 2 preds: ^bb2, ^bb8
    %14 = llvm.add %13, %1 overflow<nuw> : i64
    %15 = llvm.add %13, %11 overflow<nuw> : i64
    %16 = llvm.icmp "ult" %15, %arg4 : i64
    llvm.cond_br %16, ^bb4, ^bb15(%15 : i64)
  ^bb4:  // pred: ^bb3
    %17 = llvm.getelementptr inbounds|nuw %arg3[%15] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %18 = llvm.load %17 {alignment = 4 : i64} : !llvm.ptr -> f32
    %19 = llvm.mul %13, %arg1 : i64
    llvm.br ^bb5(%0 : i64)
  ^bb5(%20: i64):  // 2 preds: ^bb4, ^bb7
    %21 = llvm.add %20, %1 overflow<nuw> : i64
    %22 = llvm.add %20, %19 overflow<nuw> : i64
    %23 = llvm.icmp "ult" %22, %arg6 : i64
    llvm.cond_br %23, ^bb6, ^bb16
  ^bb6:  // pred: ^bb5
    %24 = llvm.add %20, %12 overflow<nuw> : i64
    %25 = llvm.icmp "ult" %24, %arg8 : i64
    llvm.cond_br %25, ^bb7, ^bb17
  ^bb7:  // pred: ^bb6
    %26 = llvm.getelementptr inbounds|nuw %arg5[%22] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %27 = llvm.load %26 {alignment = 4 : i64} : !llvm.ptr -> f32
    %28 = llvm.fmul %18, %27 : f32
    %29 = llvm.getelementptr inbounds|nuw %arg7[%24] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %30 = llvm.load %29 {alignment = 4 : i64} : !llvm.ptr -> f32
    %31 = llvm.fadd %30, %28 : f32
    llvm.store %31, %29 {alignment = 4 : i64} : f32, !llvm.ptr
    %32 = llvm.icmp "eq" %21, %arg1 : i64
    llvm.cond_br %32, ^bb8, ^bb5(%21 : i64)
  ^bb8:  // pred: ^bb7
    %33 = llvm.icmp "eq" %14, %arg2 : i64
    llvm.cond_br %33, ^bb9, ^bb3(%14 : i64)
  ^bb9:  // pred: ^bb8
    %34 = llvm.icmp "eq" %10, %arg0 : i64
    llvm.cond_br %34, ^bb14, ^bb2(%10 : i64)
  ^bb10(%35: i64):  // 2 preds: ^bb1, ^bb13
    %36 = llvm.add %35, %1 overflow<nuw> : i64
    %37 = llvm.mul %35, %arg2 : i64
    llvm.br ^bb11(%0 : i64)
  ^bb11(%38: i64):  // 2 preds: ^bb10, ^bb12
    %39 = llvm.add %38, %37 overflow<nuw> : i64
    %40 = llvm.icmp "ult" %39, %arg4 : i64
    llvm.cond_br %40, ^bb12, ^bb15(%39 : i64)
  ^bb12:  // pred: ^bb11
    %41 = llvm.add %38, %1 overflow<nuw> : i64
    %42 = llvm.icmp "eq" %41, %arg2 : i64
    llvm.cond_br %42, ^bb13, ^bb11(%41 : i64)
  ^bb13:  // pred: ^bb12
    %43 = llvm.icmp "eq" %36, %arg0 : i64
    llvm.cond_br %43, ^bb14, ^bb10(%36 : i64)
  ^bb14:  // 3 preds: ^bb0, ^bb9, ^bb13
    llvm.return
  ^bb15(%44: i64):  // 2 preds: ^bb3, ^bb11
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%44, %arg4, %4) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb16:  // pred: ^bb5
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%22, %arg6, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb17:  // pred: ^bb6
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%24, %arg8, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_mm_raw(%arg0: i64 {llvm.noundef}, %arg1: i64 {llvm.noundef}, %arg2: i64 {llvm.noundef}, %arg3: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg4: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg5: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly}) attributes {memory_effects = #llvm.memory_effects<other = none, argMem = readwrite, inaccessibleMem = none, errnoMem = none, targetMem0 = none, targetMem1 = none>, no_unwind, passthrough = ["nofree", "norecurse", "nosync", "nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(0.000000e+00 : f32) : f32
    %2 = llvm.mlir.constant(1 : i64) : i64
    %3 = llvm.mlir.constant(2 : i64) : i64
    %4 = llvm.mlir.constant(0 : i8) : i8
    %5 = llvm.icmp "eq" %arg0, %0 : i64
    %6 = llvm.icmp "eq" %arg1, %0 : i64
    %7 = llvm.or %5, %6 : i1
    llvm.cond_br %7, ^bb8, ^bb1
  ^bb1:  // pred: ^bb0
    %8 = llvm.icmp "eq" %arg2, %0 : i64
    llvm.cond_br %8, ^bb2, ^bb3(%0 : i64)
  ^bb2:  // pred: ^bb1
    %9 = llvm.mul %arg1, %arg0 : i64
    %10 = llvm.shl %9, %3 : i64
    "llvm.intr.memset"(%arg5, %4, %10) <{arg_attrs = [{llvm.align = 4 : i64}, {}, {}], isVolatile = false}> : (!llvm.ptr, i8, i64) -> ()
    llvm.br ^bb8
  ^bb3(%11: i64):  // 2 preds: ^bb1, ^bb7
    %12 = llvm.mul %11, %arg2 : i64
    %13 = llvm.getelementptr %arg3[%12] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %14 = llvm.mul %11, %arg1 : i64
    %15 = llvm.getelementptr %arg5[%14] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.br ^bb4(%0 : i64)
  ^bb4(%16: i64):  // 2 preds: ^bb3, ^bb6
    %17 = llvm.getelementptr %arg4[%16] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.br ^bb5(%0, %1 : i64, f32)
  ^bb5(%18: i64, %19: f32):  // 2 preds: ^bb4, ^bb5
    %20 = llvm.add %18, %2 overflow<nuw> : i64
    %21 = llvm.getelementptr %13[%18] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %22 = llvm.load %21 {alignment = 4 : i64} : !llvm.ptr -> f32
    %23 = llvm.mul %18, %arg1 : i64
    %24 = llvm.getelementptr %17[%23] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %25 = llvm.load %24 {alignment = 4 : i64} : !llvm.ptr -> f32
    %26 = llvm.fmul %22, %25 : f32
    %27 = llvm.fadd %19, %26 : f32
    %28 = llvm.icmp "eq" %20, %arg2 : i64
    llvm.cond_br %28, ^bb6, ^bb5(%20, %27 : i64, f32)
  ^bb6:  // pred: ^bb5
    %29 = llvm.add %16, %2 overflow<nuw> : i64
    %30 = llvm.getelementptr %15[%16] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    llvm.store %27, %30 {alignment = 4 : i64} : f32, !llvm.ptr
    %31 = llvm.icmp "eq" %29, %arg1 : i64
    llvm.cond_br %31, ^bb7, ^bb4(%29 : i64)
  ^bb7:  // pred: ^bb6
    %32 = llvm.add %11, %2 overflow<nuw> : i64
    %33 = llvm.icmp "eq" %32, %arg0 : i64
    llvm.cond_br %33, ^bb8, ^bb3(%32 : i64)
  ^bb8:  // 3 preds: ^bb0, ^bb2, ^bb7
    llvm.return
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_sidefx(%arg0: i64 {llvm.noundef}, %arg1: !llvm.ptr {llvm.nocapture, llvm.noundef}, %arg2: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(1 : i64) : i64
    %2 = llvm.mlir.constant(1.000000e+00 : f32) : f32
    %3 = llvm.mlir.addressof @alloc_6b8813c4cc878d8b9909934e77b1096c : !llvm.ptr
    %4 = llvm.icmp "eq" %arg0, %0 : i64
    llvm.cond_br %4, ^bb1, ^bb2(%0 : i64)
  ^bb1:  // 2 preds: ^bb0, ^bb3
    llvm.return
  ^bb2(%5: i64):  // 2 preds: ^bb0, ^bb3
    llvm.call tail @observe(%5) {no_unwind} : (i64 {llvm.noundef}) -> ()
    %6 = llvm.icmp "eq" %5, %arg2 : i64
    llvm.cond_br %6, ^bb4, ^bb3
  ^bb3:  // pred: ^bb2
    %7 = llvm.add %5, %1 overflow<nuw> : i64
    %8 = llvm.getelementptr inbounds|nuw %arg1[%5] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %9 = llvm.load %8 {alignment = 4 : i64} : !llvm.ptr -> f32
    %10 = llvm.fadd %9, %2 : f32
    llvm.store %10, %8 {alignment = 4 : i64} : f32, !llvm.ptr
    %11 = llvm.icmp "eq" %7, %arg0 : i64
    llvm.cond_br %11, ^bb1, ^bb2(%7 : i64)
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg2, %arg2, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_accel_square(%arg0: i64 {llvm.noundef}, %arg1: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg2: i64 {llvm.noundef}) -> (f32 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(0.000000e+00 : f32) : f32
    %2 = llvm.mlir.addressof @alloc_ce17cd355ee0bcf06d1d88a23140519e : !llvm.ptr
    %3 = llvm.mlir.constant(1 : i64) : i64
    %4 = llvm.icmp "eq" %arg0, %0 : i64
    llvm.cond_br %4, ^bb1(%1 : f32), ^bb2(%1, %0 : f32, i64)
  ^bb1(%5: f32):  // 2 preds: ^bb0, ^bb3
    llvm.return %5 : f32
  ^bb2(%6: f32, %7: i64):  // 2 preds: ^bb0, ^bb3
    %8 = llvm.mul %7, %7 : i64
    %9 = llvm.icmp "ult" %8, %arg2 : i64
    llvm.cond_br %9, ^bb3, ^bb4
  ^bb3:  // pred: ^bb2
    %10 = llvm.add %7, %3 overflow<nuw> : i64
    %11 = llvm.getelementptr inbounds|nuw %arg1[%8] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %12 = llvm.load %11 {alignment = 4 : i64} : !llvm.ptr -> f32
    %13 = llvm.fadd %6, %12 : f32
    %14 = llvm.icmp "eq" %10, %arg0 : i64
    llvm.cond_br %14, ^bb1(%13 : f32), ^bb2(%13, %10 : f32, i64)
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%8, %arg2, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
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
    %10 = llvm.fmul %9, %9 : f64
    %11 = llvm.fadd %5, %10 : f64
    %12 = llvm.icmp "eq" %7, %arg1 : i64
    llvm.cond_br %12, ^bb1(%11 : f64), ^bb2(%11, %7 : f64, i64)
  }
  llvm.func unnamed_addr @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "minsize", "noreturn", "nonlazybind", "optsize", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @observe(i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>}
}
