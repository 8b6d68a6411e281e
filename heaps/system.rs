// SPDX-License-Identifier: GPL-2.0

//! The system heap: zeroed pages from the page allocator, in blocks of
//! 1 MiB, 64 KiB and one page, whatever the page size: orders 8, 4 and 0
//! with 4 KiB pages, 6, 2 and 0 with 16 KiB pages.

use super::{page_pool::Pools, Account, CacheMode, HeapOps, Run, Runs, Source};
use crate::abstractions::{
    dma::OwnedDevice,
    page::{totalram_pages, Gfp, Pages},
    shrinker,
};
use core::fmt;
use kernel::{
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    sizes::{SZ_1M, SZ_64K},
    sync::Arc,
};

/// The order of a block of `bytes` (a power of two): how many times a page
/// it is, as a power of two; 0 for a page or less.
pub(crate) const fn order_of(bytes: usize) -> u32 {
    bytes
        .trailing_zeros()
        .saturating_sub(PAGE_SIZE.trailing_zeros())
}

/// The orders the heap allocates in, largest first: 1 MiB, 64 KiB and one
/// page, from the sizes and the page size, not fixed numbers (a kernel with
/// 64 KiB pages has the last two equal, which changes nothing).
pub(crate) const ORDERS: [u32; 3] = [order_of(SZ_1M), order_of(SZ_64K), 0];

/// The largest order in [`ORDERS`] that fits in `remaining` bytes and is not
/// above `max_order`, or `None` when nothing fits (less than a page left).
///
/// Orders only go down within one buffer: once an order has failed or no
/// longer fits, larger ones are not tried again.
pub(crate) fn order_for(remaining: usize, max_order: u32) -> Option<u32> {
    ORDERS
        .iter()
        .copied()
        .find(|&o| o <= max_order && (PAGE_SIZE << o) <= remaining)
}

/// The largest single allocation with `totalram_pages` pages of RAM: half
/// of it, as staging Ion allowed. `Heap::allocate` refuses longer ones
/// before the heap sees them.
pub(crate) fn max_alloc_for(totalram_pages: usize) -> usize {
    totalram_pages / 2 * PAGE_SIZE
}

/// The heap, with its page pools and their shrinker.
pub(crate) struct SystemHeap {
    pools: shrinker::Registration<Pools>,
    account: Account,
}

impl Drop for SystemHeap {
    fn drop(&mut self) {
        // No zeroing work may outlive the heap (and the module).
        self.pools.data().flush();
    }
}

/// Pool settings (module parameters).
#[derive(Clone, Copy)]
pub(crate) struct PoolConfig {
    pub(crate) max_bytes: usize,
    pub(crate) zero_on_alloc: bool,
}

#[cfg(ion_rs_kunit)]
impl PoolConfig {
    pub(crate) const DEFAULT: Self = Self {
        max_bytes: 64 * kernel::sizes::SZ_1M,
        zero_on_alloc: false,
    };
}

impl SystemHeap {
    pub(crate) fn new(cfg: PoolConfig, account: Account) -> Result<Self> {
        Ok(Self {
            pools: shrinker::Registration::register_lru_aware(c"ion_rs-pool", |shrinker| {
                Pools::new(cfg.max_bytes, cfg.zero_on_alloc, account, shrinker)
            })?,
            account,
        })
    }

    fn pools(&self) -> &Arc<Pools> {
        self.pools.data()
    }

    fn gfp(&self, order: u32) -> Gfp {
        let base = Gfp::highuser() | Gfp::ZERO;
        if order == 0 {
            base | self.account.gfp()
        } else {
            // High orders are opportunistic: no reclaim, no retry, no warning.
            (((base | Gfp::NOWARN | Gfp::noretry()) - Gfp::reclaim()) | Gfp::comp())
                | (self.account.gfp() - Gfp::retry_mayfail())
        }
    }
}

impl HeapOps for SystemHeap {
    fn allocate(&self, len: usize, mode: CacheMode) -> Result<Runs> {
        // Room for the runs of the largest orders, so that the list is
        // allocated once unless the page allocator falls back to smaller.
        // Shifts and masks: no division, so no panic path for a divisor.
        let runs = ORDERS
            .iter()
            .fold((len, 0), |(left, n), &o| {
                let run = PAGE_SIZE << o;
                (left & (run - 1), n + (left >> run.trailing_zeros()))
            })
            .1;
        let mut list = Runs::with_capacity(runs)?;
        let pools = self.pools();
        // The cgroup whose pool the runs come from, looked up at the first
        // pooled order (see [`Pools::cgroup`]).
        let mut memcg = None;
        // The orders whose pool this allocation has emptied.
        let mut dry = 0u32;
        let mut failed = false;
        let mut remaining = len;
        let mut max_order = ORDERS[0];
        while remaining > 0 {
            let mut got = 0;
            while let Some(order) = order_for(remaining, max_order) {
                let shift = PAGE_SHIFT + order as usize;
                // Every whole run of `order` still wanted that its pool
                // has, in one walk; the page allocator gives the rest.
                if pools.keeps(order) && dry & (1 << order) == 0 {
                    let memcg = memcg.get_or_insert_with(|| pools.cgroup());
                    let want = remaining >> shift;
                    got = pools.take(order, mode, memcg.as_deref(), want, |run| {
                        // A run that cannot be listed drops. `list` has
                        // room for the runs of the largest orders: it grows
                        // only after the page allocator fell back.
                        failed |= list.push(run).is_err();
                    }) << shift;
                    if got < want << shift {
                        dry |= 1 << order;
                    }
                }
                if got == 0 {
                    if let Ok(pages) = Pages::alloc(order, self.gfp(order)) {
                        got = PAGE_SIZE << order;
                        failed |= list.push(Run::new(pools.wrap(pages, mode))).is_err();
                    }
                }
                if got > 0 || order == 0 {
                    break;
                }
                max_order = order - 1;
            }
            // On failure `list` drops: its runs go back to the page
            // allocator, not to the pools (see `discard`).
            if got == 0 || failed {
                return Err(ENOMEM);
            }
            remaining -= got;
        }
        Ok(list)
    }

    /// Gives the runs to their pools; a run that no pool keeps (a single
    /// page, or a pool is full) drops, back to the page allocator.
    fn free(&self, runs: &mut Runs, mode: CacheMode) {
        let pooled = runs.take_all().filter_map(|r| match r.source {
            Source::Pooled(k) => Some(k),
            _ => None,
        });
        self.pools().give(pooled, mode);
    }

    /// The runs of a buffer that never reached userspace go back to the
    /// page allocator, not to the pools: under the pressure that failed it,
    /// the pages (and their charge) are better free than cached, and the
    /// pools hold no more than before.
    fn discard(&self, runs: &mut Runs, _mode: CacheMode) {
        runs.clear();
    }

    fn max_alloc(&self) -> usize {
        max_alloc_for(totalram_pages())
    }

    /// Empties the pools, after the zeroing work. Process context only
    /// (the shrinker does not wait for the work).
    fn drain(&self) {
        self.pools().flush();
        self.pools().drain();
    }

    fn write_pool_stats(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        self.pools().write_stats(f, name)
    }

    fn set_clean_device(&self, dev: Arc<OwnedDevice>) {
        self.pools().set_clean_device(dev);
    }
}
