// SPDX-License-Identifier: GPL-2.0

//! Kernel virtual mappings of pages (`vmap`).
//!
//! C header: [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h)

use super::{helpers, page::Contiguous};
use core::ptr::NonNull;
use kernel::{ffi::c_void, prelude::*};

/// How the CPU caches a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caching {
    /// Normal, cached memory (`PAGE_KERNEL`).
    Cached,
    /// Write-combined: uncached, writes may be merged.
    WriteCombine,
}

/// A contiguous kernel mapping of a list of page runs.
///
/// # Invariants
///
/// `addr` was returned by `vmap` for `len` bytes and is unmapped exactly
/// once, on drop. The pages it maps are not owned: the creator keeps them
/// allocated for as long as the mapping exists (see [`Vmap::new`]).
pub(crate) struct Vmap {
    addr: NonNull<c_void>,
    len: usize,
}

// SAFETY: A kernel mapping may be used and unmapped from any thread.
unsafe impl Send for Vmap {}
// SAFETY: Shared references only read the address.
unsafe impl Sync for Vmap {}

impl Vmap {
    /// Maps `runs`, one after the other, with `caching`.
    ///
    /// # Safety
    ///
    /// The pages of `runs` must stay allocated until the mapping drops.
    pub(crate) unsafe fn new<'a>(
        runs: impl Iterator<Item = Contiguous<'a>>,
        caching: Caching,
    ) -> Result<Self> {
        // Sized by the caller: `kvmalloc`, never a high-order allocation.
        let mut pages = KVVec::new();
        for r in runs {
            pages.reserve(r.npages(), GFP_KERNEL)?;
            for i in 0..r.npages() {
                let p = r.page(i).ok_or(EINVAL)?;
                pages.push(p.as_ptr(), GFP_KERNEL)?;
            }
        }
        let count = u32::try_from(pages.len()).map_err(|_| ENOMEM)?;
        if count == 0 {
            return Err(EINVAL);
        }
        // SAFETY: Building a protection value has no precondition.
        let prot = unsafe {
            match caching {
                Caching::Cached => helpers::rust_helper_page_kernel(),
                Caching::WriteCombine => {
                    helpers::rust_helper_pgprot_writecombine(helpers::rust_helper_page_kernel())
                }
            }
        };
        // SAFETY: `pages` holds `count` valid pages, allocated until the
        // mapping drops (caller); `VM_MAP` as `vmap` documents.
        let addr =
            unsafe { helpers::vmap(pages.as_mut_ptr(), count, helpers::rust_helper_vm_map, prot) };
        // INVARIANT: A new mapping of `count` pages.
        Ok(Self {
            addr: NonNull::new(addr).ok_or(ENOMEM)?,
            len: count as usize * kernel::page::PAGE_SIZE,
        })
    }

    /// The start of the mapping.
    pub(crate) fn as_ptr(&self) -> NonNull<c_void> {
        self.addr
    }

    /// The length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Discards the CPU's cached lines of the mapping, so that it sees what
    /// a device wrote (`invalidate_kernel_vmap_range`).
    pub(crate) fn invalidate(&self) {
        // SAFETY: `addr` maps `len` bytes (invariant).
        unsafe {
            helpers::rust_helper_invalidate_kernel_vmap_range(self.addr.as_ptr(), self.len as i32)
        };
    }

    /// Writes the mapping's dirty lines back, so that a device sees what
    /// the CPU wrote through it (`flush_kernel_vmap_range`).
    pub(crate) fn flush(&self) {
        // SAFETY: `addr` maps `len` bytes (invariant).
        unsafe {
            helpers::rust_helper_flush_kernel_vmap_range(self.addr.as_ptr(), self.len as i32)
        };
    }
}

impl Drop for Vmap {
    fn drop(&mut self) {
        // SAFETY: From `vmap`, unmapped once (invariant).
        unsafe { helpers::vunmap(self.addr.as_ptr()) };
    }
}

#[kunit_tests(rust_kernel_vmap_runs)]
mod tests {
    use super::super::page::{ContiguousPages, Gfp, Pages};
    use super::*;
    use kernel::page::PAGE_SIZE;

    #[test]
    fn vmap_joins_runs_in_order() -> Result {
        let (a, b) = (Pages::alloc(1, Gfp::KERNEL)?, Pages::alloc(0, Gfp::KERNEL)?);
        let pat = [0x77u8; 8];
        let last = b.contiguous().page(0).ok_or(EINVAL)?;
        // SAFETY: The page is ours; 8 bytes at its start.
        unsafe { last.write_raw(pat.as_ptr(), 0, 8) }?;
        // SAFETY: `a` and `b` outlive the mapping (dropped after it).
        let v = unsafe {
            Vmap::new(
                [a.contiguous(), b.contiguous()].into_iter(),
                Caching::Cached,
            )
        }?;
        assert_eq!(v.len(), 3 * PAGE_SIZE);
        // SAFETY: The mapping covers 3 pages; the third is `b`.
        let seen = unsafe {
            core::ptr::read_volatile(v.as_ptr().as_ptr().cast::<u8>().add(2 * PAGE_SIZE))
        };
        assert_eq!(seen, 0x77);
        v.flush();
        v.invalidate();
        drop(v);
        Ok(())
    }
}
