//! GPU index functions, as on a GPU: resolved per target by the cargo-mlir
//! pipeline (the `cargo_mlir_gpu_*` symbols are its hooks). On the host
//! fallback path they read the ids of the grid point being run.

use std::cell::Cell;

/// workitem id (3), workgroup id (3), workgroup size (3), number of workgroups (3)
#[derive(Clone, Copy, Default)]
pub(crate) struct Ids(pub [usize; 12]);

thread_local! {
    pub(crate) static IDS: Cell<Ids> = const { Cell::new(Ids([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])) };
}

#[inline(always)]
fn slot(i: usize) -> usize {
    IDS.with(|c| c.get().0[i])
}

macro_rules! hooks {
    ($($(#[$doc:meta])* $public:ident => $hook:ident = $body:expr;)*) => {$(
        #[doc(hidden)]
        #[inline(never)]
        #[unsafe(no_mangle)]
        pub extern "C" fn $hook() -> usize { $body }

        $(#[$doc])*
        #[inline(always)]
        pub fn $public() -> usize { $hook() }
    )*};
}

hooks! {
    /// Index of this thread within its workgroup (x).
    workitem_id_x => cargo_mlir_gpu_workitem_id_x = slot(0);
    /// Index of this thread within its workgroup (y).
    workitem_id_y => cargo_mlir_gpu_workitem_id_y = slot(1);
    /// Index of this thread within its workgroup (z).
    workitem_id_z => cargo_mlir_gpu_workitem_id_z = slot(2);
    /// Index of this workgroup in the grid (x).
    workgroup_id_x => cargo_mlir_gpu_workgroup_id_x = slot(3);
    /// Index of this workgroup in the grid (y).
    workgroup_id_y => cargo_mlir_gpu_workgroup_id_y = slot(4);
    /// Index of this workgroup in the grid (z).
    workgroup_id_z => cargo_mlir_gpu_workgroup_id_z = slot(5);
    /// Threads per workgroup (x).
    workgroup_size_x => cargo_mlir_gpu_workgroup_size_x = slot(6);
    /// Threads per workgroup (y).
    workgroup_size_y => cargo_mlir_gpu_workgroup_size_y = slot(7);
    /// Threads per workgroup (z).
    workgroup_size_z => cargo_mlir_gpu_workgroup_size_z = slot(8);
    /// Workgroups in the grid (x).
    num_workgroups_x => cargo_mlir_gpu_num_workgroups_x = slot(9);
    /// Workgroups in the grid (y).
    num_workgroups_y => cargo_mlir_gpu_num_workgroups_y = slot(10);
    /// Workgroups in the grid (z).
    num_workgroups_z => cargo_mlir_gpu_num_workgroups_z = slot(11);
    /// `workgroup_id_x * workgroup_size_x + workitem_id_x`
    global_id_x => cargo_mlir_gpu_global_id_x = slot(3) * slot(6) + slot(0);
    /// `workgroup_id_y * workgroup_size_y + workitem_id_y`
    global_id_y => cargo_mlir_gpu_global_id_y = slot(4) * slot(7) + slot(1);
    /// `workgroup_id_z * workgroup_size_z + workitem_id_z`
    global_id_z => cargo_mlir_gpu_global_id_z = slot(5) * slot(8) + slot(2);
}
