// SPDX-License-Identifier: GPL-2.0

//! The CMA heap: every buffer is one contiguous, zeroed run from a CMA area,
//! the one a `rust-ion,cma` node names with `memory-region`, or else the
//! default area.

use super::HeapOps;
use crate::{
    ffi,
    sg::{Chunk, Chunks},
};
use core::ptr::NonNull;
use kernel::{ffi::c_ulong, page::PAGE_SIZE, prelude::*};

/// `CONFIG_CMA_ALIGNMENT`'s default: buffers are aligned to their order,
/// up to this.
const MAX_ALIGN_ORDER: u32 = 8;

/// # Invariants
///
/// `cma` is a CMA area; areas live as long as the kernel.
pub(crate) struct CmaHeap {
    cma: NonNull<ffi::Cma>,
}

// SAFETY: cma_alloc and cma_release may be called from any thread.
unsafe impl Send for CmaHeap {}
// SAFETY: As above.
unsafe impl Sync for CmaHeap {}

impl CmaHeap {
    /// The heap over a CMA area: a `rust-ion,cma` node's, or the default
    /// area's (`None`: no such area).
    pub(crate) fn new(cma: Option<NonNull<ffi::Cma>>) -> Option<Self> {
        // INVARIANT: CMA areas live as long as the kernel.
        cma.map(|cma| Self { cma })
    }

    /// The default CMA area's heap, if there is a default area.
    pub(crate) fn default_area() -> Option<Self> {
        // SAFETY: Looking up the area has no precondition.
        Self::new(NonNull::new(unsafe { ffi::rust_ion_default_cma_area() }))
    }

    fn release(&self, c: Chunk) {
        // SAFETY: `c` came from `cma_alloc` on this area and is given up.
        unsafe {
            ffi::rust_ion_cma_release(self.cma.as_ptr(), c.page.as_ptr(), c.pages() as c_ulong)
        };
    }
}

impl HeapOps for CmaHeap {
    /// Unknown: 7.3 does not export the size of a CMA area.
    fn max_alloc(&self) -> usize {
        0
    }

    fn allocate(&self, len: usize, _cached: bool) -> Result<Chunks> {
        let count = len / PAGE_SIZE;
        let align = core::cmp::min(count.next_power_of_two().trailing_zeros(), MAX_ALIGN_ORDER);
        // SAFETY: `cma` is an area (invariant); we own the pages on success.
        let page = unsafe { ffi::rust_ion_cma_alloc(self.cma.as_ptr(), count as c_ulong, align) };
        let page = NonNull::new(page).ok_or(ENOMEM)?;
        // SAFETY: The `count` pages are ours; CMA pages may hold old data.
        unsafe { ffi::rust_ion_zero_pages(page.as_ptr(), count as c_ulong) };
        let chunk = Chunk::new(page, len);
        let mut v = Chunks::new();
        if let Err(e) = v.push(chunk, GFP_KERNEL) {
            self.release(chunk);
            return Err(e.into());
        }
        Ok(v)
    }

    fn free(&self, chunks: &mut Chunks, _cached: bool) {
        for c in chunks.drain_all() {
            self.release(c);
        }
    }
}
