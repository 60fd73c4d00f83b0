//! `offload!` and `#[offload_kernel]`, as `core::offload`.

pub use cargo_mlir_macros::{offload, offload_kernel};

/// Grid sizes accepted by `workgroup_dim` and `thread_dim`.
pub trait IntoDims {
    fn into_dims(self) -> [u32; 3];
}

macro_rules! into_dims {
    ($($t:ty),*) => {$(
        impl IntoDims for [$t; 3] {
            #[inline]
            fn into_dims(self) -> [u32; 3] {
                let mut out = [0u32; 3];
                for (o, v) in out.iter_mut().zip(self) {
                    *o = u32::try_from(v).unwrap_or_else(|_| {
                        panic!("cargo-mlir: grid dimension {} does not fit in u32", v)
                    });
                }
                out
            }
        }
    )*};
}
into_dims!(i32, u32, i64, u64, usize, isize);

/// One launch: what `offload!` was given.
#[derive(Clone, Copy, Debug)]
pub struct Launch {
    pub workgroup_dim: [u32; 3],
    pub thread_dim: [u32; 3],
    pub dyn_cache: u32,
    pub device: Option<u32>,
}

impl Launch {
    #[doc(hidden)]
    pub fn new(workgroup_dim: [u32; 3], thread_dim: [u32; 3], dyn_cache: u32, device: Option<u32>) -> Self {
        // the types of `core::offload::offload!`: `[u32; 3]`, `u32`, a constant `i32 >= 0`
        Launch { workgroup_dim, thread_dim, dyn_cache, device }
    }

    pub fn workgroups(&self) -> u64 {
        self.workgroup_dim.iter().map(|&d| d as u64).product()
    }

    pub fn threads_per_workgroup(&self) -> u64 {
        self.thread_dim.iter().map(|&d| d as u64).product()
    }
}
