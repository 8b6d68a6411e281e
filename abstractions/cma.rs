// SPDX-License-Identifier: GPL-2.0

//! Contiguous Memory Allocator areas.
//!
//! C header: [`include/linux/cma.h`](srctree/include/linux/cma.h)

use super::{
    helpers,
    page::{Contiguous, ContiguousPages},
};
use core::ptr::NonNull;
use kernel::{page::PAGE_SIZE, prelude::*, str::CStr};

/// A CMA area.
///
/// # Invariants
///
/// `raw` is a CMA area; areas are set up at boot and never freed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    raw: NonNull<helpers::Cma>,
}

// SAFETY: `cma_alloc` and `cma_release` may be called from any thread.
unsafe impl Send for Area {}
// SAFETY: As above.
unsafe impl Sync for Area {}

impl Area {
    /// The default area (`cma=` or the `linux,cma-default` node), which
    /// devices without an area of their own use.
    pub(crate) fn default_area() -> Option<Self> {
        // SAFETY: A null device asks for the default area.
        let raw = unsafe { helpers::rust_helper_dev_get_cma_area(core::ptr::null_mut()) };
        // INVARIANT: The kernel's own area.
        NonNull::new(raw).map(|raw| Self { raw })
    }

    /// The area named `name` (a reserved-memory node's name), if any. Names
    /// come from the device tree, so only a kernel with OF (or the tests)
    /// has it.
    #[cfg(all(CONFIG_DMA_CMA, any(CONFIG_OF, ion_rs_kunit)))]
    pub(crate) fn by_name(name: &CStr) -> Option<Self> {
        (0..)
            // SAFETY: Looking up an index has no precondition; past the
            // last area the answer is null.
            .map(|i| NonNull::new(unsafe { helpers::dma_contiguous_get_area_by_idx(i) }))
            .take_while(Option::is_some)
            .flatten()
            // INVARIANT: The kernel's own areas.
            .map(|raw| Self { raw })
            .find(|a| a.name() == name)
    }

    /// The name of the area.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: Areas are valid forever (invariant); the name is a C
        // string inside the area.
        unsafe { CStr::from_char_ptr(helpers::cma_get_name(self.raw.as_ptr())) }
    }

    /// `count` contiguous pages, aligned to `1 << align_order` pages.
    /// Their contents are whatever the pages held: not zeroed. No page, more
    /// pages than an address space holds, or an alignment of a word's bits
    /// or more (a shift that C could not do) is `EINVAL`.
    pub(crate) fn alloc(&self, count: usize, align_order: u32) -> Result<CmaPages> {
        if count == 0 || count.checked_mul(PAGE_SIZE).is_none() || align_order >= usize::BITS {
            return Err(EINVAL);
        }
        // SAFETY: `raw` is an area (invariant); `align_order` is below the
        // bits of the word that `cma_bitmap_aligned_mask` shifts; we own the
        // pages on success.
        let p = unsafe { helpers::cma_alloc(self.raw.as_ptr(), count, align_order, true) };
        // INVARIANT: `count` pages of this area, ours.
        Ok(CmaPages {
            area: *self,
            first: NonNull::new(p).ok_or(ENOMEM)?,
            count,
        })
    }
}

/// Pages from a CMA area, released on drop.
///
/// # Invariants
///
/// `first` heads `count` pages (`count * PAGE_SIZE` does not overflow) that
/// `cma_alloc` gave from `area`, owned by this value and released once, on
/// drop. 7.3's CMA hands out only ranges whose memmap is contiguous.
pub(crate) struct CmaPages {
    area: Area,
    first: NonNull<kernel::bindings::page>,
    count: usize,
}

// SAFETY: As for `Area`.
unsafe impl Send for CmaPages {}
// SAFETY: Shared references only read page metadata.
unsafe impl Sync for CmaPages {}

// SAFETY: The pages are this value's alone (invariant), always the same.
unsafe impl ContiguousPages for CmaPages {
    fn contiguous(&self) -> Contiguous<'_> {
        // SAFETY: The pages are ours while `self` is borrowed (invariant).
        unsafe { Contiguous::from_raw(self.first, self.count * PAGE_SIZE) }
    }
}

impl Drop for CmaPages {
    fn drop(&mut self) {
        // SAFETY: From `cma_alloc` on this area, released once (invariant).
        unsafe { helpers::cma_release(self.area.raw.as_ptr(), self.first.as_ptr(), self.count) };
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_cma)]
mod tests {
    use super::*;

    #[test]
    fn default_area_allocates_aligned_runs() -> Result {
        let Some(area) = Area::default_area() else {
            super::super::kunit::mark_skipped(c"no default CMA area");
            return Ok(());
        };
        assert!(area.alloc(0, 0).is_err());
        assert_eq!(area.alloc(1, usize::BITS).err(), Some(EINVAL));
        assert_eq!(
            area.alloc(usize::MAX / PAGE_SIZE + 1, 0).err(),
            Some(EINVAL)
        );
        let mut p = area.alloc(16, 4)?;
        p.zero();
        assert_eq!(p.contiguous().npages(), 16);
        assert_eq!(p.contiguous().pfn() % 16, 0);
        #[cfg(CONFIG_DMA_CMA)]
        assert!(Area::by_name(area.name()) == Some(area));
        Ok(())
    }
}
