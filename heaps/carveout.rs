// SPDX-License-Identifier: GPL-2.0

//! The carveout heap: every buffer is one contiguous run of a reserved
//! region (`rust-ion,carveout`), zeroed when the heap is created and when a
//! buffer's range drops (`pool::Range`).

use super::{pool::Region, CacheMode, HeapOps, Runs};
use kernel::{page::PAGE_SIZE, prelude::*};

pub(crate) struct CarveoutHeap {
    region: Region,
}

impl CarveoutHeap {
    /// The heap over `cma_bytes` carved out of the default CMA area (the
    /// module parameter `carveout_cma_mb`).
    pub(crate) fn from_cma(cma_bytes: usize) -> Result<Self> {
        Ok(Self {
            region: Region::from_cma(cma_bytes, PAGE_SIZE.trailing_zeros())?,
        })
    }

    /// The heap over a `rust-ion,carveout` node's region.
    pub(crate) fn from_node(node: super::dt::Node) -> Result<Self> {
        Ok(Self {
            region: Region::new(node.claim()?, PAGE_SIZE.trailing_zeros())?,
        })
    }
}

impl HeapOps for CarveoutHeap {
    fn max_alloc(&self) -> usize {
        self.region.size()
    }

    fn reserved(&self) -> Option<usize> {
        Some(self.region.size())
    }

    fn allocate(&self, len: usize, _mode: CacheMode) -> Result<Runs> {
        self.region.take(1, len)
    }
}
