// SPDX-License-Identifier: GPL-2.0

//! The system heap: zeroed pages from the page allocator, in orders 8, 4
//! and 0 (1 MiB, 64 KiB and 4 KiB with 4 KiB pages).

use super::{page_pool::Pools, HeapOps};
use crate::{
    ffi,
    sg::{Chunk, Chunks},
};
use core::{fmt, ptr::NonNull};
use kernel::{bindings, page::PAGE_SIZE, prelude::*, sync::Arc};

/// The orders the heap allocates in, largest first (1 MiB, 64 KiB and 4 KiB
/// with 4 KiB pages).
pub(crate) const ORDERS: [u32; 3] = [8, 4, 0];

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

/// The largest single allocation: half of RAM.
pub(crate) fn max_alloc() -> usize {
    // SAFETY: Reading a counter has no precondition.
    let ram = unsafe { ffi::rust_ion_totalram_pages() } as usize;
    ram / 2 * PAGE_SIZE
}

/// Whether `len` bytes may be allocated at all: a single allocation above
/// half of RAM is refused, as staging Ion did.
pub(crate) fn len_allowed(len: usize, totalram_pages: usize) -> bool {
    len / PAGE_SIZE <= totalram_pages / 2
}

/// The heap, with its page pools.
pub(crate) struct SystemHeap {
    pools: Arc<Pools>,
}

impl Drop for SystemHeap {
    fn drop(&mut self) {
        // No zeroing work may outlive the heap (and the module).
        self.pools.flush();
    }
}

/// Pool settings (module parameters).
#[derive(Clone, Copy)]
pub(crate) struct PoolConfig {
    pub(crate) max_bytes: usize,
    pub(crate) zero_on_alloc: bool,
}

impl PoolConfig {
    pub(crate) const DEFAULT: Self = Self {
        max_bytes: 64 << 20,
        zero_on_alloc: false,
    };
}

impl SystemHeap {
    pub(crate) fn new(cfg: PoolConfig) -> Result<Self> {
        Ok(Self {
            pools: Pools::new(cfg.max_bytes, cfg.zero_on_alloc)?,
        })
    }

    fn gfp(order: u32) -> bindings::gfp_t {
        // SAFETY: These are constants initialised at build time.
        let (highuser, comp, noretry, reclaim) = unsafe {
            (
                ffi::rust_ion_gfp_highuser,
                ffi::rust_ion_gfp_comp,
                ffi::rust_ion_gfp_noretry,
                ffi::rust_ion_gfp_reclaim,
            )
        };
        let base = highuser | bindings::__GFP_ZERO;
        if order == 0 {
            base
        } else {
            // High orders are opportunistic: no reclaim, no retry, no warning.
            ((base | bindings::__GFP_NOWARN | noretry) & !reclaim) | comp
        }
    }

    fn alloc_chunk(&self, order: u32, cached: bool) -> Option<Chunk> {
        self.pools.take(order, cached).or_else(|| {
            // SAFETY: `alloc_pages` may be called with any flags and order;
            // it returns null or `1 << order` zeroed pages that we now own.
            let page = NonNull::new(unsafe { bindings::alloc_pages(Self::gfp(order), order) })?;
            Some(Chunk::new(page, PAGE_SIZE << order))
        })
    }

    /// Gives a chunk to the pool, or back to the page allocator if the
    /// pool is full.
    fn free_chunk(&self, c: Chunk, cached: bool) {
        let order = c.pages().trailing_zeros();
        if let Err(page) = self.pools.give(c.page, order, cached) {
            // SAFETY: `c` was allocated with this order (its length is
            // `PAGE_SIZE << order`) and its owner gives it up here.
            unsafe { bindings::__free_pages(page.as_ptr(), order) };
        }
    }
}

impl HeapOps for SystemHeap {
    fn allocate(&self, len: usize, cached: bool) -> Result<Chunks> {
        // SAFETY: Reading a counter has no precondition.
        let ram = unsafe { ffi::rust_ion_totalram_pages() } as usize;
        if !len_allowed(len, ram) {
            return Err(ENOMEM);
        }
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
        let mut chunks = Chunks::with_capacity(runs, GFP_KERNEL)?;
        let mut remaining = len;
        let mut max_order = ORDERS[0];
        while remaining > 0 {
            let mut got = None;
            while let Some(order) = order_for(remaining, max_order) {
                if let Some(c) = self.alloc_chunk(order, cached) {
                    got = Some(c);
                    break;
                }
                if order == 0 {
                    break;
                }
                max_order = order - 1;
            }
            let Some(chunk) = got else {
                self.free(&mut chunks, cached);
                return Err(ENOMEM);
            };
            max_order = (chunk.len / PAGE_SIZE).trailing_zeros();
            remaining -= chunk.len;
            if let Err(e) = chunks.push(chunk, GFP_KERNEL) {
                self.free_chunk(chunk, cached);
                self.free(&mut chunks, cached);
                return Err(e.into());
            }
        }
        Ok(chunks)
    }

    fn free(&self, chunks: &mut Chunks, cached: bool) {
        for c in chunks.drain_all() {
            self.free_chunk(c, cached);
        }
    }

    fn max_alloc(&self) -> usize {
        max_alloc()
    }

    /// Empties the pools, after the zeroing work. Process context only
    /// (the shrinker does not wait for the work).
    fn drain(&self) {
        self.pools.flush();
        self.pools.shrink(usize::MAX);
    }

    fn write_pool_stats(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        self.pools.write_stats(f, name)
    }

    unsafe fn set_clean_device(&self, dev: *mut bindings::device) {
        // SAFETY: As the caller promises; `drop` flushes the pools.
        unsafe { self.pools.set_clean_device(dev) };
    }
}
