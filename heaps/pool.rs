// SPDX-License-Identifier: GPL-2.0

//! A reserved physical region managed by the kernel's genalloc, for the
//! carveout and chunk heaps.
//!
//! A region comes from a device-tree `reserved-memory` node with a rust-ion
//! compatible (see Documentation/devicetree/bindings/rust-ion.yaml), or, on
//! a board without one, is carved out of the default CMA area at load
//! (module parameter `carveout_cma_mb`). It never points at arbitrary
//! physical memory.

use crate::{
    ffi,
    sg::{Chunk, Chunks},
};
use core::ptr::NonNull;
use kernel::{bindings, ffi::c_ulong, page::PAGE_SIZE, prelude::*};

/// Where a region's memory came from, and so how it is given back.
enum Backing {
    /// A reserved-memory node: the memory stays reserved.
    DeviceTree,
    /// Pages carved out of a CMA area, released on drop.
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    Cma {
        cma: NonNull<ffi::Cma>,
        page: NonNull<bindings::page>,
        count: usize,
    },
}

impl Backing {
    /// Gives back what the backing holds: CMA pages go back to their area,
    /// a reserved-memory node stays reserved. Called once, by the region
    /// that owns the backing, or by [`Region::new`] when it fails.
    fn release(&self) {
        match self {
            Backing::DeviceTree => {}
            #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
            Backing::Cma { cma, page, count } => {
                // SAFETY: The pages came from `cma_alloc` on this area, and
                // are released once (see above).
                unsafe {
                    ffi::rust_ion_cma_release(cma.as_ptr(), page.as_ptr(), *count as c_ulong)
                };
            }
        }
    }
}

/// A gen_pool over one physically contiguous region with struct pages.
///
/// # Invariants
///
/// - `pool` manages exactly `[base, base + size)`, in granules of
///   `1 << order` bytes, and is destroyed once, on drop, after every
///   allocation was freed: a heap's buffers keep the heap, and so the
///   region, alive.
/// - The region is in the linear map (not `no-map`), `base != 0` (genalloc
///   reports failure as 0) and every byte of it that is free in the pool is
///   zero.
pub(crate) struct Region {
    pool: NonNull<ffi::GenPool>,
    size: usize,
    backing: Backing,
}

// SAFETY: genalloc is safe to call from any thread (it takes its own lock),
// and the CMA backing is only released on drop.
unsafe impl Send for Region {}
// SAFETY: As above.
unsafe impl Sync for Region {}

impl Region {
    /// The region of a device-tree node, in granules of `1 << order` bytes.
    pub(crate) fn from_node(node: &super::dt::Node, order: u32) -> Result<Self> {
        Self::new(node.base, node.size, order, Backing::DeviceTree)
    }

    /// A region of `bytes` carved out of the default CMA area.
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    pub(crate) fn from_cma(bytes: usize, order: u32) -> Result<Self> {
        let count = bytes / PAGE_SIZE;
        // SAFETY: Looking up the area has no precondition.
        let cma = NonNull::new(unsafe { ffi::rust_ion_default_cma_area() }).ok_or(ENODEV)?;
        // SAFETY: `cma` is a live CMA area; we own the pages on success.
        let page = unsafe { ffi::rust_ion_cma_alloc(cma.as_ptr(), count as c_ulong, 0) };
        let page = NonNull::new(page).ok_or(ENOMEM)?;
        // SAFETY: `page` heads `count` pages that we own.
        let base = unsafe { ffi::rust_ion_page_to_phys(page.as_ptr()) };
        Self::new(
            base,
            count * PAGE_SIZE,
            order,
            Backing::Cma { cma, page, count },
        )
    }

    fn new(base: bindings::phys_addr_t, size: usize, order: u32, backing: Backing) -> Result<Self> {
        if base == 0 || size < PAGE_SIZE || base % PAGE_SIZE as u64 != 0 {
            backing.release();
            return Err(EINVAL);
        }
        // SAFETY: The region is ours and in the linear map (invariant of the
        // sources above); zero it so that free space reads as zero.
        unsafe {
            ffi::rust_ion_zero_pages(
                ffi::rust_ion_phys_to_page(base),
                (size / PAGE_SIZE) as c_ulong,
            )
        };
        // SAFETY: Creating a pool over our own region.
        let pool = unsafe { ffi::rust_ion_pool_create(base, size, order) };
        let Some(pool) = NonNull::new(pool) else {
            backing.release();
            return Err(ENOMEM);
        };
        // INVARIANT: a new pool over the zeroed region.
        Ok(Self {
            pool,
            size,
            backing,
        })
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// `size` zeroed bytes from the region, contiguous.
    pub(crate) fn alloc(&self, size: usize) -> Option<NonNull<bindings::page>> {
        // SAFETY: `pool` is live (invariant).
        let addr = unsafe { ffi::rust_ion_pool_alloc(self.pool.as_ptr(), size) };
        if addr == 0 {
            return None;
        }
        // SAFETY: `addr` is inside the region, which has struct pages.
        NonNull::new(unsafe { ffi::rust_ion_phys_to_page(addr) })
    }

    /// Gives back `size` bytes from `page`, zeroing them first (invariant:
    /// free space reads as zero).
    ///
    /// # Safety
    ///
    /// `page` and `size` must come from one [`Region::alloc`] on this region
    /// and must not be used afterwards.
    pub(crate) unsafe fn free(&self, page: NonNull<bindings::page>, size: usize) {
        // SAFETY: The pages are ours until freed (caller).
        unsafe {
            ffi::rust_ion_zero_pages(page.as_ptr(), (size / PAGE_SIZE) as c_ulong);
            let addr = ffi::rust_ion_page_to_phys(page.as_ptr());
            ffi::rust_ion_pool_free(self.pool.as_ptr(), addr, size);
        }
    }

    /// `count` runs of `size` bytes each, each contiguous: the carveout
    /// heap takes one run of the whole length, the chunk heap one per
    /// chunk. `ENOMEM` with nothing taken if the region cannot give them
    /// all.
    pub(crate) fn take(&self, count: usize, size: usize) -> Result<Chunks> {
        let mut runs = Chunks::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            let Some(page) = self.alloc(size) else {
                // SAFETY: Every run in `runs` was taken above, from here.
                unsafe { self.give_back(&mut runs) };
                return Err(ENOMEM);
            };
            // Never fails: there is capacity for all `count`.
            if runs.push_within_capacity(Chunk::new(page, size)).is_err() {
                // SAFETY: Just allocated from this region, not handed out;
                // every run in `runs` was taken above, from here.
                unsafe {
                    self.free(page, size);
                    self.give_back(&mut runs);
                }
                return Err(ENOMEM);
            }
        }
        Ok(runs)
    }

    /// Gives back every run of `runs`, leaving it empty.
    ///
    /// # Safety
    ///
    /// Every run of `runs` must come from [`Region::take`] on this region
    /// and must not be used afterwards.
    pub(crate) unsafe fn give_back(&self, runs: &mut Chunks) {
        for c in runs.drain_all() {
            // SAFETY: From one `alloc` of `c.len` bytes here (caller).
            unsafe { self.free(c.page, c.len) };
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: Every allocation was freed (invariant); destroyed once.
        unsafe { ffi::rust_ion_pool_destroy(self.pool.as_ptr()) };
        self.backing.release();
    }
}
