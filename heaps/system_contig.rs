// SPDX-License-Identifier: GPL-2.0

//! The system-contig heap: one physically contiguous, zeroed run of exactly
//! the buffer's size from the page allocator, up to its largest order.

use crate::{ffi, sg::Chunk};
use core::ptr::NonNull;
use kernel::{page::PAGE_SIZE, prelude::*};

pub(crate) struct SystemContigHeap;

impl SystemContigHeap {
    pub(crate) fn max_alloc() -> usize {
        // SAFETY: A constant of the kernel.
        PAGE_SIZE << unsafe { ffi::rust_ion_max_order() }
    }

    pub(crate) fn allocate(&self, len: usize) -> Result<KVec<Chunk>> {
        if len > Self::max_alloc() {
            return Err(ENOMEM);
        }
        // SAFETY: Any size may be asked for; we own the pages on success.
        let page = NonNull::new(unsafe { ffi::rust_ion_alloc_exact(len) }).ok_or(ENOMEM)?;
        let chunk = Chunk { page, len };
        let mut v = KVec::new();
        if let Err(e) = v.push(chunk, GFP_KERNEL) {
            Self::release(chunk);
            return Err(e.into());
        }
        Ok(v)
    }

    fn release(c: Chunk) {
        // SAFETY: `c` came from `alloc_pages_exact` with this size.
        unsafe { ffi::rust_ion_free_exact(c.page.as_ptr(), c.len) };
    }

    pub(crate) fn free(&self, chunks: &mut KVec<Chunk>) {
        for c in chunks.drain_all() {
            Self::release(c);
        }
    }
}
