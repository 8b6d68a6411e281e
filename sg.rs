// SPDX-License-Identifier: GPL-2.0

//! Owned scatter-gather tables and the page runs they describe.

use crate::ffi;
use core::ptr::NonNull;
use kernel::{bindings, error::to_result, page::PAGE_SIZE, prelude::*, types::Opaque};

/// A physically contiguous run of pages: `len` bytes (a multiple of
/// `PAGE_SIZE`) from `page` on.
///
/// A `Chunk` is a plain description; the heap that allocated it owns it
/// (see [`crate::heaps::Pages`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) page: NonNull<bindings::page>,
    pub(crate) len: usize,
    /// The run is zeroed and already written back from the CPU caches, so
    /// an uncached buffer needs no maintenance for it (a pool run that the
    /// background zeroer cleaned).
    pub(crate) clean: bool,
}

impl Chunk {
    /// A run that may still have the CPU's writes in the cache.
    pub(crate) fn new(page: NonNull<bindings::page>, len: usize) -> Self {
        Self {
            page,
            len,
            clean: false,
        }
    }

    /// The number of pages in the run.
    pub(crate) fn pages(&self) -> usize {
        self.len / PAGE_SIZE
    }

    /// Writes the run back from the CPU caches, so that memory the CPU
    /// zeroed is ready for DMA before anyone maps it without sync. A map and
    /// unmap for `dev` (TO_DEVICE) does exactly the maintenance needed. It
    /// goes segment by segment, no larger than the device can map at once,
    /// so that it also works where the DMA API bounces (swiotlb).
    ///
    /// # Safety
    ///
    /// `dev` must be a live device with a DMA mask, and the run must be
    /// owned by the caller.
    pub(crate) unsafe fn clean_for_device(&self, dev: *mut bindings::device) -> Result {
        let dir = bindings::dma_data_direction::DMA_TO_DEVICE;
        // SAFETY: `dev` is live (caller).
        let max = unsafe { bindings::dma_max_mapping_size(dev) };
        let seg = core::cmp::max(PAGE_SIZE, max & !(PAGE_SIZE - 1));
        let mut off = 0;
        while off < self.len {
            let size = core::cmp::min(seg, self.len - off);
            // SAFETY: `[off, off + size)` lies inside the run, which the
            // caller owns; `dev` is live (caller).
            let addr =
                unsafe { bindings::dma_map_page_attrs(dev, self.page.as_ptr(), off, size, dir, 0) };
            // SAFETY: `addr` was just returned by a map for `dev`.
            to_result(unsafe { ffi::rust_ion_dma_mapping_error(dev, addr) })?;
            // SAFETY: `addr` was mapped for `dev` with these arguments.
            unsafe { bindings::dma_unmap_page_attrs(dev, addr, size, dir, 0) };
            off += size;
        }
        Ok(())
    }
}

/// The runs of one buffer. Its length follows the buffer's, which userspace
/// chooses: `kvmalloc` memory, so that a long list never asks the page
/// allocator for a high order (and never warns).
pub(crate) type Chunks = KVVec<Chunk>;

/// One entry of a table: a page, a length and an offset into the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) page: NonNull<bindings::page>,
    pub(crate) len: u32,
    pub(crate) offset: u32,
}

/// An owned `struct sg_table`.
///
/// It is created unmapped. A table that is mapped for a device is unmapped
/// by its owner (see `buffer::Attachment`) before it is dropped.
///
/// # Invariants
///
/// `table` was initialised by a successful `sg_alloc_table` with
/// `orig_nents` entries, every one of which has had its page set; it is
/// freed exactly once, by `Drop`.
pub(crate) struct SgTable {
    table: KBox<Opaque<bindings::sg_table>>,
}

// SAFETY: An `sg_table` is plain memory that any thread may read or free;
// the pages it points to are owned elsewhere and outlive it.
unsafe impl Send for SgTable {}
// SAFETY: Shared references only read the table (`entries`, `as_raw` for a
// mapping that the owner serialises under its lock).
unsafe impl Sync for SgTable {}

impl SgTable {
    /// Describes `entries` in a new table, one scatterlist entry each.
    pub(crate) fn new(entries: impl ExactSizeIterator<Item = Entry>) -> Result<Self> {
        let n = u32::try_from(entries.len()).map_err(|_| EINVAL)?;
        if n == 0 {
            return Err(EINVAL);
        }
        let table = KBox::new(Opaque::<bindings::sg_table>::uninit(), GFP_KERNEL)?;
        // SAFETY: `table.get()` is valid for writes; `sg_alloc_table`
        // initialises the whole struct, and frees what it allocated on error.
        to_result(unsafe { bindings::sg_alloc_table(table.get(), n, bindings::GFP_KERNEL) })?;
        // Each of the `n` entries gets its page below; if the iterator lies
        // about its length we fail before the table is used.
        let this = SgTable { table };
        // SAFETY: The table was just initialised.
        let mut sg = unsafe { (*this.table.get()).sgl };
        let mut set = 0;
        for e in entries {
            if sg.is_null() {
                return Err(EINVAL);
            }
            // SAFETY: `sg` is one of the table's `n` entries.
            unsafe { ffi::rust_ion_sg_set_page(sg, e.page.as_ptr(), e.len, e.offset) };
            // SAFETY: `sg` is a valid entry of this table; `sg_next` returns
            // the next one, or null after the last.
            sg = unsafe { bindings::sg_next(sg) };
            set += 1;
        }
        if set != n {
            return Err(EINVAL);
        }
        // INVARIANT: allocated with `n` entries, and all `n` have a page.
        Ok(this)
    }

    /// A new table with the same pages, lengths and offsets, not mapped.
    pub(crate) fn dup(&self) -> Result<Self> {
        Self::new(self.entries())
    }

    /// The entries of the table, as the heap set them (CPU view).
    pub(crate) fn entries(&self) -> Entries<'_> {
        // SAFETY: By the type invariants the table is initialised.
        let t = unsafe { &*self.table.get() };
        Entries {
            sg: t.sgl,
            left: t.orig_nents,
            _table: self,
        }
    }

    /// Total length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.entries().map(|e| e.len as usize).sum()
    }

    /// The raw table, for the DMA API and for importers.
    pub(crate) fn as_raw(&self) -> *mut bindings::sg_table {
        self.table.get()
    }
}

impl Drop for SgTable {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the table is initialised and this is
        // the only place it is freed.
        unsafe { bindings::sg_free_table(self.table.get()) };
    }
}

/// Iterator over the entries of an [`SgTable`].
pub(crate) struct Entries<'a> {
    sg: *mut bindings::scatterlist,
    left: u32,
    _table: &'a SgTable,
}

impl Iterator for Entries<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.left == 0 || self.sg.is_null() {
            return None;
        }
        let sg = self.sg;
        // SAFETY: `sg` is one of the `orig_nents` entries of a live table,
        // and by the table's invariants its page is set.
        let (page, len, offset) = unsafe {
            (
                ffi::rust_ion_sg_page(sg),
                ffi::rust_ion_sg_length(sg),
                ffi::rust_ion_sg_offset(sg),
            )
        };
        // SAFETY: As above; `sg_next` walks chained tables too.
        self.sg = unsafe { bindings::sg_next(sg) };
        self.left -= 1;
        Some(Entry {
            page: NonNull::new(page)?,
            len,
            offset,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Entries<'_> {}
