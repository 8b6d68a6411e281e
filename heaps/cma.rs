// SPDX-License-Identifier: GPL-2.0

//! The CMA heap: every buffer is one contiguous, zeroed run from a CMA area,
//! the one a `rust-ion,cma` node names with `memory-region`, or else the
//! default area.

use super::{CacheMode, HeapOps, Run, Runs, Source};
use crate::abstractions::{cma::Area, page::ContiguousPages};
use kernel::{page::PAGE_SIZE, prelude::*};

/// `CONFIG_CMA_ALIGNMENT`'s default: buffers are aligned to their order,
/// up to this.
const MAX_ALIGN_ORDER: u32 = 8;

pub(crate) struct CmaHeap {
    area: Area,
    /// The area's size, from its device-tree node; 0 for the default area,
    /// whose size 7.3 does not export (`cma_get_size`).
    size: usize,
}

impl CmaHeap {
    /// The heap over a CMA area of `size` bytes: a `rust-ion,cma` node's,
    /// or the default area's (`None`: no such area).
    pub(crate) fn new(area: Option<Area>, size: usize) -> Option<Self> {
        area.map(|area| Self { area, size })
    }

    /// The default CMA area's heap, if there is a default area.
    pub(crate) fn default_area() -> Option<Self> {
        Self::new(Area::default_area(), 0)
    }
}

impl HeapOps for CmaHeap {
    /// Unknown: 7.3 does not export the size of a CMA area.
    fn max_alloc(&self) -> usize {
        0
    }

    /// The dmem capacity: the area's size, or unknown (the default area).
    fn reserved(&self) -> Option<usize> {
        Some(self.size)
    }

    fn allocate(&self, len: usize, _mode: CacheMode) -> Result<Runs> {
        let count = len / PAGE_SIZE;
        let align = core::cmp::min(count.next_power_of_two().trailing_zeros(), MAX_ALIGN_ORDER);
        let mut pages = self.area.alloc(count, align)?;
        // CMA pages may hold old data.
        pages.zero();
        let mut runs = Runs::new();
        runs.push(Run::new(Source::Cma(pages)), GFP_KERNEL)?;
        Ok(runs)
    }
}
