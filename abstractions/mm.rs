// SPDX-License-Identifier: GPL-2.0

//! What an mmap handler does to a new VMA beyond 7.3's [`VmaNew`]: its
//! page offset, write-combining, and `remap_pfn_range` of page runs.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::{helpers, page::Contiguous};
use kernel::{
    bindings,
    error::to_result,
    mm::virt::{flags, VmaNew},
    page::PAGE_SIZE,
    prelude::*,
};

/// Extensions of [`VmaNew`], a VMA being set up by `mmap`.
pub(crate) trait VmaNewExt {
    /// Whether the mapping is shared (`VM_SHARED`): writes reach the
    /// memory behind it rather than private copies.
    fn is_shared(&self) -> bool;

    /// The offset of the mapping in its file, in pages (`vm_pgoff`).
    fn pgoff(&self) -> usize;

    /// Makes the mapping write-combined (uncached for the CPU).
    fn set_writecombine(&self);

    /// Maps the pages of `run`, from byte `skip` of it on, at `addr` for
    /// `size` bytes. The range must lie inside the VMA and inside the run
    /// (`EINVAL` otherwise). The caller keeps the pages allocated for as
    /// long as the mapping may exist, which for a file's mapping is as long
    /// as the VMA holds the file.
    fn remap_run(&self, addr: usize, run: Contiguous<'_>, skip: usize, size: usize) -> Result;
}

impl VmaNewExt for VmaNew {
    fn is_shared(&self) -> bool {
        self.flags() & flags::SHARED != 0
    }

    fn pgoff(&self) -> usize {
        // SAFETY: The VMA is valid while borrowed; `vm_pgoff` is set before
        // the mmap handler runs and not changed during it.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }

    fn set_writecombine(&self) {
        let vma = self.as_ptr();
        // SAFETY: A VMA being set up may have its protection changed by the
        // mmap handler, which runs under the mmap lock.
        unsafe {
            (*vma).vm_page_prot = helpers::rust_helper_pgprot_writecombine((*vma).vm_page_prot)
        };
    }

    fn remap_run(&self, addr: usize, run: Contiguous<'_>, skip: usize, size: usize) -> Result {
        let end = addr.checked_add(size).ok_or(EINVAL)?;
        let inside_run = skip.checked_add(size).is_some_and(|e| e <= run.len());
        if addr < self.start() || end > self.end() || !inside_run || skip % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let vma = self.as_ptr();
        let pfn = run.pfn() + skip / PAGE_SIZE;
        // SAFETY: `[addr, end)` is inside the VMA being set up, and the
        // pages are the caller's to map (see above).
        to_result(unsafe { bindings::remap_pfn_range(vma, addr, pfn, size, (*vma).vm_page_prot) })
    }
}
