// SPDX-License-Identifier: GPL-2.0

//! Path lookups.
//!
//! C header: [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::helpers;
use kernel::{bindings, prelude::*, str::CStr};

/// Whether `path` names something that exists, as the calling task sees
/// the file system (`kern_path`): a kernel thread resolves it from the
/// kernel's first root, where what userspace mounted may be absent.
pub(crate) fn path_exists(path: &CStr) -> bool {
    let mut p: bindings::path = pin_init::zeroed();
    // SAFETY: `path` is a C string; `p` is written on success and then
    // holds references that `path_put` drops.
    if unsafe { helpers::kern_path(path.as_char_ptr(), 0, &mut p) } != 0 {
        return false;
    }
    // SAFETY: `p` was filled by the successful lookup above.
    unsafe { bindings::path_put(&p) };
    true
}

#[kunit_tests(rust_kernel_fs_path)]
mod tests {
    use super::*;

    /// The root exists for every task; a path under a name nobody made
    /// does not.
    #[test]
    fn only_existing_paths_exist() {
        assert!(path_exists(c"/"));
        assert!(!path_exists(c"/rust-kernel-test/no/such/path"));
    }
}
