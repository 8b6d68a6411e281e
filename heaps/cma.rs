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
}

impl CmaHeap {
    /// The heap over a CMA area: a `rust-ion,cma` node's, or the default
    /// area's (`None`: no such area).
    pub(crate) fn new(area: Option<Area>) -> Option<Self> {
        area.map(|area| Self { area })
    }

    /// The default CMA area's heap, if there is a default area.
    pub(crate) fn default_area() -> Option<Self> {
        Self::new(Area::default_area())
    }
}

impl HeapOps for CmaHeap {
    /// Unknown: 7.3 does not export the size of a CMA area.
    fn max_alloc(&self) -> usize {
        0
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
