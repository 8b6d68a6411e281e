// SPDX-License-Identifier: GPL-2.0

//! Kernel virtual mappings of pages (`vmap`).
//!
//! C header: [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h)

use super::{helpers, scatterlist::Segments};
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

/// A contiguous kernel mapping of the page runs of `P`, which it owns.
///
/// Owning the pages (an `Arc` of a buffer's pages, typically) is what makes
/// the constructor safe: the pages outlive the mapping because the mapping
/// holds them, and it unmaps before it lets go of them.
///
/// # Invariants
///
/// `addr` was returned by `vmap` for the `len` bytes of the runs of `pages`,
/// in order, and is unmapped exactly once, on drop, before `_pages` drops.
pub(crate) struct VMap<P: Segments> {
    addr: NonNull<c_void>,
    len: usize,
    /// Kept for its drop, after the unmap.
    _pages: P,
}

// SAFETY: A kernel mapping may be used and unmapped from any thread; the
// pages are `Send` (`Segments`).
unsafe impl<P: Segments> Send for VMap<P> {}
// SAFETY: Shared references only read the address and the pages (`Sync`).
unsafe impl<P: Segments> Sync for VMap<P> {}

impl<P: Segments> VMap<P> {
    /// Maps the runs of `pages`, one after the other, with `caching`. No run
    /// is `EINVAL`.
    pub(crate) fn new(pages: P, caching: Caching) -> Result<Self> {
        // Sized by the caller: `kvmalloc`, never a high-order allocation.
        let mut list = KVVec::new();
        for r in (0..pages.count()).map_while(|i| pages.segment(i)) {
            list.reserve(r.npages(), GFP_KERNEL)?;
            for i in 0..r.npages() {
                let p = r.page(i).ok_or(EINVAL)?;
                list.push(p.as_ptr(), GFP_KERNEL)?;
            }
        }
        let count = u32::try_from(list.len()).map_err(|_| ENOMEM)?;
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
        // SAFETY: `list` holds `count` valid pages, those of `pages`, which
        // the new value owns and drops only after the unmap; `VM_MAP` as
        // `vmap` documents.
        let addr =
            unsafe { helpers::vmap(list.as_mut_ptr(), count, helpers::rust_helper_vm_map, prot) };
        // INVARIANT: A new mapping of the `count` pages of `pages`.
        Ok(Self {
            addr: NonNull::new(addr).ok_or(ENOMEM)?,
            len: count as usize * kernel::page::PAGE_SIZE,
            _pages: pages,
        })
    }

    /// The pages the mapping maps.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn pages(&self) -> &P {
        &self._pages
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

impl<P: Segments> Drop for VMap<P> {
    fn drop(&mut self) {
        // SAFETY: From `vmap`, unmapped once (invariant), before `pages`
        // drops after this.
        unsafe { helpers::vunmap(self.addr.as_ptr()) };
    }
}

#[cfg(ion_rs_kunit)]
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
        let mut runs = KVec::new();
        runs.push(a, GFP_KERNEL)?;
        runs.push(b, GFP_KERNEL)?;
        let v = VMap::new(runs, Caching::Cached)?;
        assert_eq!(v.len(), 3 * PAGE_SIZE);
        assert_eq!(v.pages().count(), 2);
        // SAFETY: The mapping covers 3 pages; the third is `b`'s.
        let seen = unsafe {
            core::ptr::read_volatile(v.as_ptr().as_ptr().cast::<u8>().add(2 * PAGE_SIZE))
        };
        assert_eq!(seen, 0x77);
        v.flush();
        v.invalidate();
        drop(v);
        assert!(VMap::new(KVec::<Pages>::new(), Caching::WriteCombine).is_err());
        Ok(())
    }
}
