// SPDX-License-Identifier: GPL-2.0

//! Path lookups and reading a small file, as the calling task sees the
//! file system.
//!
//! C headers: [`include/linux/namei.h`](srctree/include/linux/namei.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h)

#[cfg(CONFIG_DMABUF_HEAPS)]
use super::helpers;
use kernel::{bindings, error::from_err_ptr, prelude::*, str::CStr};

/// Reads up to `buf.len()` bytes from the start of the file at `path`
/// (`filp_open` and `kernel_read`, read-only); returns how many were read.
/// Works for files whose size the inode does not know (`/proc/cmdline`).
pub(crate) fn read(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `path` is a C string; a read-only open has no other input.
    let f = from_err_ptr(unsafe {
        bindings::filp_open(path.as_char_ptr(), bindings::O_RDONLY as i32, 0)
    })?;
    let mut pos: bindings::loff_t = 0;
    // SAFETY: `f` is the open file (checked above); `buf` is valid for
    // `buf.len()` bytes of writes; `pos` is ours.
    let n = unsafe { bindings::kernel_read(f, buf.as_mut_ptr().cast(), buf.len(), &mut pos) };
    // SAFETY: Opened above and closed once; no owner id (not an fd).
    unsafe { bindings::filp_close(f, core::ptr::null_mut()) };
    usize::try_from(n).map_err(|_| Error::from_errno(n as i32))
}

/// Whether `path` names something that exists, as the calling task sees
/// the file system (`kern_path`): a kernel thread resolves it from the
/// kernel's first root, where what userspace mounted may be absent.
#[cfg(CONFIG_DMABUF_HEAPS)]
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

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_fs_path)]
mod tests {
    use super::*;

    /// The root exists for every task; a path under a name nobody made
    /// does not.
    #[cfg(CONFIG_DMABUF_HEAPS)]
    #[test]
    fn only_existing_paths_exist() {
        assert!(path_exists(c"/"));
        assert!(!path_exists(c"/rust-kernel-test/no/such/path"));
    }

    /// A missing file is `ENOENT`; the root directory is no file to read.
    #[test]
    fn reads_report_what_is_missing() {
        let mut buf = [0u8; 16];
        assert_eq!(
            read(c"/rust-kernel-test/no/such/file", &mut buf),
            Err(ENOENT)
        );
        assert!(read(c"/", &mut buf).is_err());
    }
}
