// cargo-mlir's host schedule for a recognised matmul (C += A·B on the CPU).
//
// `schedule_matmuls` (cargo_mlir/pipeline/stages/schedule_host.py) turns each
// dynamic-shape `linalg.matmul` into a GotoBLAS-style loop nest: B packed into
// NR-wide panels, A into MR-tall panels of an MC×KC block, and one micro-kernel
// step per k: a static MR×NR×1 `linalg.generic` (marked `cargo_mlir.micro_step`)
// that accumulates into an MR×NR scratch tile. This script makes that step a
// register-blocked micro-kernel: vectorise it, hoist the scratch tile's
// read/write out of the k loop (the MR×NR accumulators then live in registers
// across k), and lower the contraction to outer products (broadcast A × B row).
//
// The tile sizes live here, per element type: [MR, NR, KC, MC].
//   f32: 6×16 = 12 ymm accumulators (AVX2), KC 256, MC 144 (A block 144 KiB, L2)
//   f64: 6×8  = 12 ymm accumulators,        KC 256, MC 72  (A block 144 KiB, L2)
module attributes {transform.with_named_sequence,
                   cargo_mlir.tiles = {f32 = array<i64: 6, 16, 256, 144>, f64 = array<i64: 6, 8, 256, 72>}} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %steps = transform.structured.match ops{["linalg.generic"]} attributes {cargo_mlir.micro_step}
      in %root : (!transform.any_op) -> !transform.any_op
    %funcs = transform.get_parent_op %steps {isolated_from_above, deduplicate}
      : (!transform.any_op) -> !transform.any_op
    %vf = transform.structured.vectorize_children_and_apply_patterns %funcs
      : (!transform.any_op) -> !transform.any_op
    %hf = transform.structured.hoist_redundant_vector_transfers %vf
      : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %hf {
      transform.apply_patterns.vector.lower_contraction lowering_strategy = "outerproduct"
      transform.apply_patterns.vector.transfer_permutation_patterns
      transform.apply_patterns.vector.transfer_to_scf max_transfer_rank = 1 full_unroll = true
      transform.apply_patterns.vector.lower_transfer max_transfer_rank = 1
      transform.apply_patterns.vector.lower_outerproduct
      transform.apply_patterns.vector.lower_broadcast
      transform.apply_patterns.vector.lower_transpose
      transform.apply_patterns.vector.lower_shape_cast
    } : !transform.any_op
    // No canonicalization here: it folds the accumulator's insert chain into
    // vector.from_elements of 96 scalars, which LLVM does not turn back into rows.
    // Unit dims dropped, A's MR-wide row is a 1-D load; schedule_host.py then makes
    // each element a scalar load (sink_mem_ops only rewrites single-use loads).
    transform.apply_patterns to %hf {
      transform.apply_patterns.vector.drop_unit_dims_with_shape_cast
    } : !transform.any_op
    transform.yield
  }
}
