//! What every reader and writer shares about files and memory (layer 5):
//! atomic writes under one temporary-name policy ([`atomic`](self) helpers),
//! the one [`MemoryLimits`] type every budget comes from, and the decode
//! [`cache`] for formats that cannot be mapped (`.nii.gz`, PNG/JPEG), kept
//! under [`CacheLimits`] by least-recently-used eviction, and the stamp
//! (size, modification time, identity) by which a volume tells that an
//! input file changed while it was open. Imports only the crate's error
//! type.

mod atomic;
pub mod cache;
mod limits;
mod stamp;

#[allow(unused_imports)]
pub(crate) use atomic::{
    is_temp_name, remove_if_exists, resumable_temp_path, resumable_temp_path_for, sync_dir,
    temp_path, temp_target, write_atomic, write_atomic_via, write_dir_atomic, TMP_SUFFIX,
};
pub use cache::{CacheLimits, DecodeCache};
pub use limits::MemoryLimits;
pub(crate) use stamp::FileStamp;
