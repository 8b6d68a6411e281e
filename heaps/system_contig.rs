// SPDX-License-Identifier: GPL-2.0

//! The system-contig heap: one physically contiguous, zeroed run of exactly
//! the buffer's size from the page allocator, up to its largest order.

use super::HeapOps;
use crate::{
    ffi,
    sg::{Chunk, Chunks},
};
use core::ptr::NonNull;
use kernel::{page::PAGE_SIZE, prelude::*};

pub(crate) struct SystemContigHeap;

impl SystemContigHeap {
    fn release(c: Chunk) {
        // SAFETY: `c` came from `alloc_pages_exact` with this size.
        unsafe { ffi::rust_ion_free_exact(c.page.as_ptr(), c.len) };
    }
}

impl HeapOps for SystemContigHeap {
    fn max_alloc(&self) -> usize {
        // SAFETY: A constant of the kernel.
        PAGE_SIZE << unsafe { ffi::rust_ion_max_order() }
    }

    /// `len` is at most `MAX_PAGE_ORDER` pages: `Heap::allocate` checks it
    /// against `max_alloc`.
    fn allocate(&self, len: usize, _cached: bool) -> Result<Chunks> {
        // SAFETY: Any size may be asked for; we own the pages on success.
        let page = NonNull::new(unsafe { ffi::rust_ion_alloc_exact(len) }).ok_or(ENOMEM)?;
        let chunk = Chunk::new(page, len);
        let mut v = Chunks::new();
        if let Err(e) = v.push(chunk, GFP_KERNEL) {
            Self::release(chunk);
            return Err(e.into());
        }
        Ok(v)
    }

    fn free(&self, chunks: &mut Chunks, _cached: bool) {
        for c in chunks.drain_all() {
            Self::release(c);
        }
    }
}
