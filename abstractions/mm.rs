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
    /// `size` bytes (`remap_pfn_range`, which makes the VMA `VM_PFNMAP`).
    /// `addr`, `skip` and `size` must be page-aligned, `size` not zero, and
    /// the range inside the VMA and inside the run; a VMA that is already
    /// `VM_MIXEDMAP` is refused too (`EINVAL` for each, see
    /// [`check_remap`]).
    ///
    /// # Safety
    ///
    /// `remap_pfn_range` takes no reference on the pages. The caller must
    /// keep them allocated, and give them to no one else, for as long as
    /// the VMA may map them: until the VMA is closed, which for a file's
    /// mapping is when the VMA lets go of the file (so an owner that the
    /// file keeps alive does). The caller must also not make the VMA
    /// `VM_MIXEDMAP` afterwards ([`VmaNew::set_mixedmap`]), whose own
    /// safety argument is that nothing sets `VM_PFNMAP`.
    unsafe fn remap_run(
        &self,
        addr: usize,
        run: Contiguous<'_>,
        skip: usize,
        size: usize,
    ) -> Result;
}

/// Checks the VMA side of a remap of `size` bytes at `addr` into a VMA over
/// `[start, end)`: both page-aligned, `size` not zero, the range inside the
/// VMA. `EINVAL` otherwise. (The run side is [`Contiguous::slice`]'s.)
pub(crate) fn check_remap((start, end): (usize, usize), addr: usize, size: usize) -> Result {
    let aligned = addr % PAGE_SIZE == 0 && size % PAGE_SIZE == 0;
    let inside_vma = addr >= start && addr.checked_add(size).is_some_and(|e| e <= end);
    if size == 0 || !aligned || !inside_vma {
        return Err(EINVAL);
    }
    Ok(())
}

impl VmaNewExt for VmaNew {
    fn is_shared(&self) -> bool {
        self.flags() & flags::SHARED != 0
    }

    fn pgoff(&self) -> usize {
        // SAFETY: The VMA is valid while borrowed, and the mmap handler holds
        // the mmap lock, so the read races with no writer. `remap_pfn_range`
        // rewrites `vm_pgoff` of a copy-on-write mapping, so the value is
        // the file offset only until a private mapping is remapped.
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

    unsafe fn remap_run(
        &self,
        addr: usize,
        run: Contiguous<'_>,
        skip: usize,
        size: usize,
    ) -> Result {
        check_remap((self.start(), self.end()), addr, size)?;
        let pages = run.slice(skip, size).ok_or(EINVAL)?;
        if self.flags() & flags::MIXEDMAP != 0 {
            return Err(EINVAL);
        }
        let vma = self.as_ptr();
        // SAFETY: `[addr, addr + size)` is a non-empty, page-aligned range
        // inside the VMA being set up (checked), which is not MIXEDMAP
        // (checked); its pages are `pages`, the run's from `skip` on
        // (`slice` checked that they are inside it), which the caller keeps
        // for the VMA's life.
        to_result(unsafe {
            bindings::remap_pfn_range(vma, addr, pages.pfn(), size, (*vma).vm_page_prot)
        })
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_mm_remap)]
mod tests {
    use super::*;

    /// The refusals that reach no VMA: an empty range (which would reach
    /// `BUG_ON` in `remap_pfn_range`), unaligned numbers, ranges past the
    /// VMA, and (through `Contiguous::slice`, which `remap_run` asks) ranges
    /// past the run.
    #[test]
    fn remaps_outside_the_vma_or_the_run_are_refused() -> Result {
        let p = PAGE_SIZE;
        let vma = (16 * p, 20 * p);
        assert_eq!(check_remap(vma, 16 * p, 4 * p), Ok(()));
        assert_eq!(check_remap(vma, 17 * p, 3 * p), Ok(()));
        assert_eq!(check_remap(vma, 16 * p, 0), Err(EINVAL));
        assert_eq!(check_remap(vma, 16 * p + 1, p), Err(EINVAL));
        assert_eq!(check_remap(vma, 16 * p, p + 1), Err(EINVAL));
        assert_eq!(check_remap(vma, 15 * p, p), Err(EINVAL));
        assert_eq!(check_remap(vma, 17 * p, 4 * p), Err(EINVAL));
        assert_eq!(check_remap(vma, usize::MAX - p + 1, p), Err(EINVAL));
        let block = super::super::page::Pages::alloc(2, super::super::page::Gfp::KERNEL)?;
        let run = super::super::page::ContiguousPages::contiguous(&block);
        assert_eq!(run.slice(p, 3 * p).map(|s| s.pfn()), Some(run.pfn() + 1));
        assert!(run.slice(0, 4 * p).is_some());
        assert!(run.slice(1, p).is_none());
        assert!(run.slice(0, 0).is_none());
        assert!(run.slice(p, 4 * p).is_none());
        assert!(run.slice(usize::MAX - p + 1, p).is_none());
        Ok(())
    }
}
