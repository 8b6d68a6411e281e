// SPDX-License-Identifier: GPL-2.0

//! A reserved physical region managed by the kernel's genalloc, for the
//! carveout and chunk heaps.
//!
//! A region comes from a device-tree `reserved-memory` node with a rust-ion
//! compatible (see Documentation/devicetree/bindings/rust-ion.yaml), or, on
//! a board without one, is carved out of the default CMA area at load
//! (module parameter `carveout_cma_mb`). It never points at arbitrary
//! physical memory.
//!
//! Free space reads as zero, by construction: the region is zeroed when it
//! is made, and a [`Range`] zeroes itself as it drops, before genalloc
//! takes it back. No path can give a range back with the last owner's data.

use super::{Run, Runs, Source};
use crate::abstractions::{
    genalloc::{Allocation, GenPool},
    page::{Contiguous, ContiguousPages},
};
use kernel::{prelude::*, sync::Arc};

/// Where a region's memory came from: a `reserved-memory` node's pages
/// (which stay reserved) or pages carved out of a CMA area (which go back
/// to it as they drop).
pub(crate) type Backing = KBox<dyn ContiguousPages + Send + Sync>;

/// A range of a region, zeroed and given back to it on drop.
pub(crate) struct Range(Allocation<Backing>);

impl Range {
    /// The pages of the range.
    pub(crate) fn contiguous(&self) -> Contiguous<'_> {
        self.0.contiguous()
    }
}

impl Drop for Range {
    /// Zeroes the range before genalloc takes it back (the allocation drops
    /// after this), so that free space reads as zero.
    fn drop(&mut self) {
        self.0.zero();
    }
}

/// A gen_pool over one physically contiguous region with struct pages.
///
/// # Invariants
///
/// Every byte of the region that is free in the pool is zero.
pub(crate) struct Region {
    pool: Arc<GenPool<Backing>>,
}

impl Region {
    /// A region over `backing`, zeroed, in granules of `1 << order` bytes.
    pub(crate) fn new(mut backing: Backing, order: u32) -> Result<Self> {
        backing.zero();
        // INVARIANT: zeroed just now, and nothing is allocated yet; every
        // range zeroes itself before it is free again.
        Ok(Self {
            pool: GenPool::new(backing, order)?,
        })
    }

    /// A region of `bytes` carved out of the default CMA area.
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    pub(crate) fn from_cma(bytes: usize, order: u32) -> Result<Self> {
        #[cfg(CONFIG_CMA)]
        {
            let area = crate::abstractions::cma::Area::default_area().ok_or(ENODEV)?;
            let pages = area.alloc(bytes / kernel::page::PAGE_SIZE, 0)?;
            Self::new(KBox::new(pages, GFP_KERNEL)?, order)
        }
        #[cfg(not(CONFIG_CMA))]
        {
            let _ = (bytes, order);
            Err(ENODEV)
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.pool.size()
    }

    /// `count` runs of `size` bytes each, each contiguous: the carveout
    /// heap takes one run of the whole length, the chunk heap one per
    /// chunk. `ENOMEM` with nothing taken if the region cannot give them
    /// all (the runs taken so far drop, zeroed, back to the region).
    pub(crate) fn take(&self, count: usize, size: usize) -> Result<Runs> {
        let mut runs = Runs::with_capacity(count)?;
        for _ in 0..count {
            let range = Range(self.pool.alloc(size).ok_or(ENOMEM)?);
            // Never fails: there is capacity for all `count`.
            runs.push_within_capacity(Run::new(Source::Region(range)))
                .map_err(|_| ENOMEM)?;
        }
        Ok(runs)
    }
}
