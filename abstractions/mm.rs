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

/// Checks a remap of `size` bytes at `addr`, from byte `skip` of a run of
/// `run_len` bytes, into a VMA over `[start, end)`: every number
/// page-aligned, `size` not zero, the range inside the VMA and inside the
/// run. `EINVAL` otherwise.
pub(crate) fn check_remap(
    (start, end): (usize, usize),
    addr: usize,
    run_len: usize,
    skip: usize,
    size: usize,
) -> Result {
    let aligned = [addr, skip, size].iter().all(|n| n % PAGE_SIZE == 0);
    let inside_vma = addr >= start && addr.checked_add(size).is_some_and(|e| e <= end);
    let inside_run = skip.checked_add(size).is_some_and(|e| e <= run_len);
    if size == 0 || !aligned || !inside_vma || !inside_run {
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
        check_remap((self.start(), self.end()), addr, run.len(), skip, size)?;
        if self.flags() & flags::MIXEDMAP != 0 {
            return Err(EINVAL);
        }
        let vma = self.as_ptr();
        let pfn = run.pfn() + skip / PAGE_SIZE;
        // SAFETY: `[addr, addr + size)` is a non-empty, page-aligned range
        // inside the VMA being set up (checked), which is not MIXEDMAP
        // (checked); its pages are the run's from `skip` on (checked), which
        // the caller keeps for the VMA's life.
        to_result(unsafe { bindings::remap_pfn_range(vma, addr, pfn, size, (*vma).vm_page_prot) })
    }
}

#[kunit_tests(rust_kernel_mm_remap)]
mod tests {
    use super::*;

    /// The refusals that reach no VMA: an empty range (which would reach
    /// `BUG_ON` in `remap_pfn_range`), unaligned numbers, and ranges past
    /// the VMA or the run.
    #[test]
    fn remaps_outside_the_vma_or_the_run_are_refused() {
        let p = PAGE_SIZE;
        let vma = (16 * p, 20 * p);
        assert_eq!(check_remap(vma, 16 * p, 4 * p, 0, 4 * p), Ok(()));
        assert_eq!(check_remap(vma, 17 * p, 8 * p, 4 * p, 3 * p), Ok(()));
        assert_eq!(check_remap(vma, 16 * p, 4 * p, 0, 0), Err(EINVAL));
        assert_eq!(check_remap(vma, 16 * p + 1, 4 * p, 0, p), Err(EINVAL));
        assert_eq!(check_remap(vma, 16 * p, 4 * p, 1, p), Err(EINVAL));
        assert_eq!(check_remap(vma, 16 * p, 4 * p, 0, p + 1), Err(EINVAL));
        assert_eq!(check_remap(vma, 15 * p, 4 * p, 0, p), Err(EINVAL));
        assert_eq!(check_remap(vma, 17 * p, 4 * p, 0, 4 * p), Err(EINVAL));
        assert_eq!(check_remap(vma, 16 * p, 4 * p, p, 4 * p), Err(EINVAL));
        assert_eq!(
            check_remap(vma, usize::MAX - p + 1, 4 * p, 0, p),
            Err(EINVAL)
        );
        assert_eq!(
            check_remap(vma, 16 * p, 4 * p, usize::MAX - p + 1, p),
            Err(EINVAL)
        );
    }
}
