// SPDX-License-Identifier: GPL-2.0

//! The system-contig heap: one physically contiguous, zeroed run of exactly
//! the buffer's size from the page allocator, up to its largest order.

use super::{Account, CacheMode, HeapOps, Run, Runs, Source};
use crate::abstractions::page::{max_page_order, ExactPages};
use kernel::{page::PAGE_SIZE, prelude::*};

/// The heap; it has no pools, so charging a cgroup changes only the flags.
pub(crate) struct SystemContigHeap {
    pub(crate) account: Account,
}

impl HeapOps for SystemContigHeap {
    fn max_alloc(&self) -> usize {
        PAGE_SIZE << max_page_order()
    }

    /// `len` is at most `MAX_PAGE_ORDER` pages: `Heap::allocate` checks it
    /// against `max_alloc`.
    fn allocate(&self, len: usize, _mode: CacheMode) -> Result<Runs> {
        let pages = ExactPages::alloc_zeroed(len, self.account.gfp())?;
        let mut runs = Runs::new();
        runs.push(Run::new(Source::Exact(pages)))?;
        Ok(runs)
    }
}
