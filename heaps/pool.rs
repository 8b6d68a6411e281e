// SPDX-License-Identifier: GPL-2.0

//! A reserved physical region managed by the kernel's genalloc, for the
//! carveout and chunk heaps.
//!
//! A region comes from a device-tree `reserved-memory` node with a rust-ion
//! compatible (see Documentation/devicetree/bindings/rust-ion.yaml), or, on
//! a board without one, is carved out of the default CMA area at load
//! (module parameter `carveout_cma_mb`). It never points at arbitrary
//! physical memory.

use super::{Run, Runs, Source};
use crate::abstractions::{
    genalloc::{Allocation, GenPool},
    page::{Contiguous, ContiguousPages},
};
use kernel::{prelude::*, sync::Arc};

/// Where a region's memory came from. Each kind gives its memory back as
/// it drops: CMA pages go back to their area, a reserved-memory node stays
/// reserved.
pub(crate) enum Backing {
    /// A `reserved-memory` node's region.
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    DeviceTree(crate::abstractions::of::ReservedPages),
    /// Pages carved out of a CMA area.
    #[cfg(CONFIG_CMA)]
    Cma(crate::abstractions::cma::CmaPages),
}

impl ContiguousPages for Backing {
    fn contiguous(&self) -> Contiguous<'_> {
        match self {
            #[cfg(CONFIG_OF_RESERVED_MEM)]
            Backing::DeviceTree(p) => p.contiguous(),
            #[cfg(CONFIG_CMA)]
            Backing::Cma(p) => p.contiguous(),
        }
    }
}

/// A range of a region, given back to it on drop.
pub(crate) type Range = Allocation<Backing>;

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
        // INVARIANT: zeroed just now, and nothing is allocated yet.
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
            Self::new(Backing::Cma(pages), order)
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
    /// all.
    pub(crate) fn take(&self, count: usize, size: usize) -> Result<Runs> {
        let mut runs = Runs::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            let Some(range) = self.pool.alloc(size) else {
                self.give_back(&mut runs);
                return Err(ENOMEM);
            };
            // Never fails: there is capacity for all `count`. If it did, the
            // range would go back unzeroed, so zero it first.
            if let Err(e) = runs.push_within_capacity(Run::new(Source::Region(range))) {
                self.give_back_run(e.0);
                self.give_back(&mut runs);
                return Err(ENOMEM);
            }
        }
        Ok(runs)
    }

    /// Gives one run back, zeroed (invariant: free space reads as zero).
    fn give_back_run(&self, run: Run) {
        if let Source::Region(mut range) = run.source {
            range.zero();
        }
    }

    /// Gives back every run of `runs`, zeroed, leaving it empty.
    pub(crate) fn give_back(&self, runs: &mut Runs) {
        for r in runs.drain_all() {
            self.give_back_run(r);
        }
    }
}
