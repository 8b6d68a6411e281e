// SPDX-License-Identifier: GPL-2.0

//! The system heap: zeroed pages from the page allocator, in orders 8, 4
//! and 0 (1 MiB, 64 KiB and 4 KiB with 4 KiB pages).

use crate::{ffi, sg::Chunk};
use core::ptr::NonNull;
use kernel::{bindings, page::PAGE_SIZE, prelude::*};

/// The orders the heap allocates in, largest first.
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

pub(crate) struct SystemHeap;

impl SystemHeap {
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

    fn alloc_chunk(order: u32) -> Option<Chunk> {
        // SAFETY: `alloc_pages` may be called with any flags and order; it
        // returns null or `1 << order` pages that we now own.
        let page = unsafe { bindings::alloc_pages(Self::gfp(order), order) };
        NonNull::new(page).map(|page| Chunk {
            page,
            len: PAGE_SIZE << order,
        })
    }

    pub(crate) fn allocate(&self, len: usize, _flags: u32) -> Result<KVec<Chunk>> {
        // SAFETY: Reading a counter has no precondition.
        let ram = unsafe { ffi::rust_ion_totalram_pages() } as usize;
        if !len_allowed(len, ram) {
            return Err(ENOMEM);
        }
        let mut chunks = KVec::new();
        let mut remaining = len;
        let mut max_order = ORDERS[0];
        while remaining > 0 {
            let mut got = None;
            while let Some(order) = order_for(remaining, max_order) {
                if let Some(c) = Self::alloc_chunk(order) {
                    got = Some(c);
                    break;
                }
                if order == 0 {
                    break;
                }
                max_order = order - 1;
            }
            let Some(chunk) = got else {
                self.free(&mut chunks);
                return Err(ENOMEM);
            };
            max_order = (chunk.len / PAGE_SIZE).trailing_zeros();
            remaining -= chunk.len;
            if let Err(e) = chunks.push(chunk, GFP_KERNEL) {
                Self::free_chunk(chunk);
                self.free(&mut chunks);
                return Err(e.into());
            }
        }
        Ok(chunks)
    }

    fn free_chunk(c: Chunk) {
        let order = c.pages().trailing_zeros();
        // SAFETY: `c` was allocated by `alloc_chunk` with this order (its
        // length is `PAGE_SIZE << order`) and its owner gives it up here.
        unsafe { bindings::__free_pages(c.page.as_ptr(), order) };
    }

    pub(crate) fn free(&self, chunks: &mut KVec<Chunk>) {
        for c in chunks.drain_all() {
            Self::free_chunk(c);
        }
    }
}
