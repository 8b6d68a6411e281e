// SPDX-License-Identifier: GPL-2.0

//! An Ion buffer and its attachments: the exporter's logic, in safe code
//! but for the DMA API calls, each with its argument.
//!
//! The caching model (see Documentation/ion.rst):
//! - every attachment gets its own copy of the buffer's sg_table;
//! - `map` maps that copy for the importer's device with `dma_map_sgtable`,
//!   adding `DMA_ATTR_SKIP_CPU_SYNC` for uncached buffers, unless the
//!   mapping bounces (then the data moves only with syncs, so it is made
//!   again without the attribute); `unmap` undoes exactly that mapping,
//!   with the same direction and attributes;
//! - `begin_cpu_access`/`end_cpu_access` sync every *mapped* attachment of
//!   a cached buffer, every bounced one of an uncached buffer, and the
//!   kernel vmap alias;
//! - nothing syncs on page faults (there are none: mmap maps it all).
//!
//! Lock order: the dma-buf core's `dma_resv` lock (held around map, unmap,
//! vmap and vunmap) comes before `Buffer::inner`. `inner` is a leaf: no
//! other lock is taken under it.

use crate::{
    ffi,
    heaps::{Heap, Pages},
    sg::{Entry, SgTable},
    stats,
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_ulong, c_void},
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex},
};

/// A DMA direction, checked when it comes from C.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Direction(bindings::dma_data_direction);

impl Direction {
    pub(crate) const BIDIRECTIONAL: Self = Self(bindings::dma_data_direction::DMA_BIDIRECTIONAL);
    pub(crate) const TO_DEVICE: Self = Self(bindings::dma_data_direction::DMA_TO_DEVICE);
    pub(crate) const FROM_DEVICE: Self = Self(bindings::dma_data_direction::DMA_FROM_DEVICE);

    pub(crate) fn from_raw(d: bindings::dma_data_direction) -> Result<Self> {
        [Self::BIDIRECTIONAL, Self::TO_DEVICE, Self::FROM_DEVICE]
            .into_iter()
            .find(|x| x.0 == d)
            .ok_or(EINVAL)
    }
}

/// Whom a sync makes the memory coherent for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncFor {
    /// The CPU, before it reads or writes (`begin_cpu_access`): what the
    /// devices wrote becomes visible to it.
    Cpu,
    /// The devices, once the CPU is done (`end_cpu_access`): what the CPU
    /// wrote reaches them.
    Device,
}

/// `DMA_ATTR_SKIP_CPU_SYNC`, as the attribute word holds it.
const SKIP_CPU_SYNC: usize = bindings::DMA_ATTR_SKIP_CPU_SYNC as usize;

/// How an attachment's table is mapped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) dir: Direction,
    pub(crate) attrs: usize,
}

impl Mapping {
    fn skips_sync(&self) -> bool {
        self.attrs & SKIP_CPU_SYNC != 0
    }
}

/// One importer's view of the buffer.
///
/// # Invariants
///
/// - `dev` is the importer's device, valid from attach to detach: the
///   dma-buf core hands it to us in `attach` and the importer keeps it
///   alive until `detach`, which drops this value.
/// - `table` is mapped for `dev` exactly when `mapped` is `Some`, with
///   those direction and attributes.
pub(crate) struct Attachment {
    /// The `struct dma_buf_attachment` this belongs to, as a key only.
    key: usize,
    dev: NonNull<bindings::device>,
    table: SgTable,
    mapped: Option<Mapping>,
}

// SAFETY: `dev` is only used for DMA API calls, which any thread may make
// while the device is alive (see the invariants).
unsafe impl Send for Attachment {}

impl Attachment {
    /// A new, unmapped attachment, counted in `attachments` from here until
    /// it drops: whatever path drops it (a failed attach included), the
    /// count goes down exactly once for the once it went up.
    ///
    /// # Safety
    ///
    /// `dev` must stay valid until the value is dropped.
    unsafe fn new(key: usize, dev: NonNull<bindings::device>, table: SgTable) -> Self {
        stats::ATTACHMENTS.add(1, stats::Relaxed);
        // INVARIANT: `dev` lives until drop (caller); the table is unmapped.
        Self {
            key,
            dev,
            table,
            mapped: None,
        }
    }

    /// Maps the table for the device with `m`.
    ///
    /// A mapping without CPU sync is only right where the device reaches
    /// the pages themselves. Where it bounces, it is undone (nothing to copy
    /// back yet) and made again with sync, which copies the pages in; that
    /// mapping is then synced and unmapped like a cached buffer's.
    fn map(&mut self, m: Mapping) -> Result {
        if self.mapped.is_some() {
            return Err(EBUSY);
        }
        // SAFETY: `table` is unmapped (invariant: `mapped` is `None`).
        unsafe { self.dma_map(m) }?;
        let mut m = m;
        // Only a mapping made without sync can need making again.
        let bounces = m.skips_sync() && {
            // SAFETY: `table` was just mapped for `dev`, which is alive.
            unsafe { ffi::rust_ion_sgtable_bounces(self.dev.as_ptr(), self.table.as_raw()) }
        };
        if bounces {
            // SAFETY: mapped just now with `m`.
            unsafe { self.dma_unmap(m) };
            m.attrs &= !SKIP_CPU_SYNC;
            // SAFETY: unmapped just now.
            unsafe { self.dma_map(m) }?;
            stats::BOUNCED_MAPS.add(1, stats::Relaxed);
        }
        // INVARIANT: mapped just now, with `m`.
        self.mapped = Some(m);
        stats::MAPS.add(1, stats::Relaxed);
        Ok(())
    }

    /// `dma_map_sgtable` of the table for the device.
    ///
    /// # Safety
    ///
    /// The table must not be mapped.
    unsafe fn dma_map(&mut self, m: Mapping) -> Result {
        // SAFETY: `dev` is alive (invariant) and `table` is a valid,
        // unmapped table (caller).
        to_result(unsafe {
            bindings::dma_map_sgtable(self.dev.as_ptr(), self.table.as_raw(), m.dir.0, m.attrs)
        })
    }

    /// `dma_unmap_sgtable` of the table for the device.
    ///
    /// # Safety
    ///
    /// The table must be mapped for the device with `m`.
    unsafe fn dma_unmap(&mut self, m: Mapping) {
        // SAFETY: `table` is mapped for `dev` with `m` (caller), and `dev`
        // is alive (invariant).
        unsafe {
            bindings::dma_unmap_sgtable(self.dev.as_ptr(), self.table.as_raw(), m.dir.0, m.attrs)
        };
    }

    fn unmap(&mut self) -> Result {
        let m = self.mapped.take().ok_or(EINVAL)?;
        // SAFETY: `table` is mapped with `m` (invariant).
        unsafe { self.dma_unmap(m) };
        stats::UNMAPS.add(1, stats::Relaxed);
        Ok(())
    }

    /// Syncs the mapping for the CPU or for the device, unless it was made
    /// without CPU sync for an uncached buffer (which has no cached alias to
    /// maintain and does not bounce).
    ///
    /// A one-way mapping is synced in its own direction: the DMA API allows
    /// no other, and the other way has nothing to move.
    fn sync(&self, to: SyncFor, dir: Direction, cached: bool) {
        let Some(m) = self.mapped else {
            return;
        };
        if !cached && m.skips_sync() {
            return;
        }
        let dir = if m.dir == Direction::BIDIRECTIONAL {
            dir
        } else {
            m.dir
        };
        // SAFETY: `table` is mapped for `dev` (invariant), which is alive.
        unsafe {
            match to {
                SyncFor::Cpu => ffi::rust_ion_sync_sgtable_for_cpu(
                    self.dev.as_ptr(),
                    self.table.as_raw(),
                    dir.0,
                ),
                SyncFor::Device => ffi::rust_ion_sync_sgtable_for_device(
                    self.dev.as_ptr(),
                    self.table.as_raw(),
                    dir.0,
                ),
            }
        }
        match to {
            SyncFor::Cpu => stats::SYNCS_FOR_CPU.add(1, stats::Relaxed),
            SyncFor::Device => stats::SYNCS_FOR_DEVICE.add(1, stats::Relaxed),
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // An importer that detaches without unmapping still gets its mapping
        // undone before the table is freed.
        let _ = self.unmap();
        stats::ATTACHMENTS.add(-1, stats::Relaxed);
    }
}

/// The kernel's vmap alias of the whole buffer.
///
/// # Invariants
///
/// `vaddr` was returned by `vmap` for the buffer's pages and is unmapped
/// once, when the last user goes (`count` drops to zero).
struct Vmap {
    vaddr: NonNull<c_void>,
    count: usize,
}

// SAFETY: The address is a kernel mapping usable from any thread.
unsafe impl Send for Vmap {}

struct Inner {
    attachments: KVec<Attachment>,
    vmap: Option<Vmap>,
}

impl Inner {
    /// The attachment `key`; an unknown one is `EINVAL`, as the dma-buf
    /// documentation asks of a map without attach.
    fn attachment(&mut self, key: usize) -> Result<&mut Attachment> {
        self.attachments
            .iter_mut()
            .find(|a| a.key == key)
            .ok_or(EINVAL)
    }
}

/// A buffer: pages from one heap, described by one sg_table.
///
/// It lives in an `Arc`, whose one reference the dma-buf holds from export
/// to release; it is freed when the last dma-buf reference goes.
#[pin_data(PinnedDrop)]
pub(crate) struct Buffer {
    /// The buffer's own table; attachments get copies, it is never mapped.
    sgt: SgTable,
    pages: Pages,
    len: usize,
    flags: u32,
    #[pin]
    inner: Mutex<Inner>,
}

impl Buffer {
    /// Allocates `len` bytes (page-aligned, non-zero) from `heap`.
    pub(crate) fn new(heap: &Arc<Heap>, len: usize, flags: u32) -> Result<Arc<Self>> {
        let pages = heap.allocate(len, flags)?;
        // A scatterlist entry holds at most `u32::MAX` bytes.
        if pages.chunks().iter().any(|c| u32::try_from(c.len).is_err()) {
            return Err(EINVAL);
        }
        let sgt = SgTable::new(pages.chunks().iter().map(|c| Entry {
            page: c.page,
            len: c.len as u32,
            offset: 0,
        }))?;
        Arc::pin_init(
            pin_init!(Buffer {
                sgt,
                pages,
                len,
                flags,
                inner <- new_mutex!(Inner {
                    attachments: KVec::new(),
                    vmap: None,
                }),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn cached(&self) -> bool {
        self.flags & crate::uapi::ION_FLAG_CACHED != 0
    }

    pub(crate) fn table(&self) -> &SgTable {
        &self.sgt
    }

    /// Cleans the CPU caches of a new uncached buffer, so that memory that
    /// the CPU zeroed is ready for DMA before anyone maps it without sync.
    /// Runs that the pools' background zeroer already cleaned are skipped.
    ///
    /// # Safety
    ///
    /// `dev` must be a live device with a DMA mask.
    pub(crate) unsafe fn clean_for_device(&self, dev: *mut bindings::device) -> Result {
        for c in self.pages.chunks().iter().filter(|c| !c.clean) {
            // SAFETY: `dev` is live (caller); the run is this buffer's.
            unsafe { c.clean_for_device(dev) }?;
            stats::CLEANED_AT_ALLOC.add(1, stats::Relaxed);
        }
        Ok(())
    }

    /// The attributes a mapping for an importer gets.
    ///
    /// Uncached buffers skip CPU sync: their CPU mappings are write-combined
    /// and the buffer was cleaned once at allocation (`Attachment::map`
    /// drops the attribute again where the mapping bounces). Mainline 7.3 has no
    /// per-attachment `dma_map_attrs` (Android's kernels do); `requested`
    /// is where such a request comes in.
    pub(crate) fn map_attrs(&self, requested: usize) -> usize {
        if self.cached() {
            requested & SKIP_CPU_SYNC
        } else {
            SKIP_CPU_SYNC
        }
    }

    /// A new attachment for `dev`, with its own copy of the table.
    ///
    /// # Safety
    ///
    /// `dev` must stay valid until [`Buffer::detach`] is called with `key`.
    pub(crate) unsafe fn attach(&self, key: usize, dev: NonNull<bindings::device>) -> Result {
        let table = self.sgt.dup()?;
        let mut inner = self.inner.lock();
        if inner.attachments.iter().any(|a| a.key == key) {
            return Err(EEXIST);
        }
        // SAFETY: `dev` lives until detach (caller), which drops the value;
        // if the push fails, the value is dropped here, before we return.
        let a = unsafe { Attachment::new(key, dev, table) };
        inner.attachments.push(a, GFP_KERNEL)?;
        Ok(())
    }

    /// Drops the attachment `key`, unmapping it if the importer did not.
    pub(crate) fn detach(&self, key: usize) {
        let mut inner = self.inner.lock();
        if let Some(i) = inner.attachments.iter().position(|a| a.key == key) {
            // Dropped (and unmapped if need be) under the lock, so that no
            // sync can see it half gone.
            drop(inner.attachments.remove(i));
        }
    }

    /// Maps attachment `key` for its device; returns its table.
    pub(crate) fn map(
        &self,
        key: usize,
        dir: Direction,
        attrs: usize,
    ) -> Result<*mut bindings::sg_table> {
        let mut inner = self.inner.lock();
        let a = inner.attachment(key)?;
        a.map(Mapping { dir, attrs })?;
        Ok(a.table.as_raw())
    }

    /// Unmaps attachment `key`, exactly as it was mapped.
    pub(crate) fn unmap(&self, key: usize, table: *mut bindings::sg_table) -> Result {
        let mut inner = self.inner.lock();
        let a = inner.attachment(key)?;
        if a.table.as_raw() != table {
            return Err(EINVAL);
        }
        a.unmap()
    }

    /// Makes the buffer coherent for the CPU or for the devices.
    pub(crate) fn cpu_access(&self, to: SyncFor, dir: Direction) {
        let inner = self.inner.lock();
        if let Some(v) = &inner.vmap {
            let len = self.len as i32;
            // SAFETY: `vaddr` maps `len` bytes (invariant of `Vmap`).
            unsafe {
                match to {
                    SyncFor::Cpu => ffi::rust_ion_invalidate_vmap(v.vaddr.as_ptr(), len),
                    SyncFor::Device => ffi::rust_ion_flush_vmap(v.vaddr.as_ptr(), len),
                }
            }
        }
        for a in inner.attachments.iter() {
            a.sync(to, dir, self.cached());
        }
    }

    /// The number of attachments, and of those that are mapped.
    pub(crate) fn attachment_counts(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        let mapped = inner
            .attachments
            .iter()
            .filter(|a| a.mapped.is_some())
            .count();
        (inner.attachments.len(), mapped)
    }

    /// A kernel mapping of the whole buffer, refcounted.
    pub(crate) fn vmap(&self) -> Result<NonNull<c_void>> {
        let mut inner = self.inner.lock();
        if let Some(v) = &mut inner.vmap {
            v.count += 1;
            return Ok(v.vaddr);
        }
        let npages = self.len / PAGE_SIZE;
        // Sized by the buffer: `kvmalloc`, never a high-order allocation.
        let mut pages = KVVec::with_capacity(npages, GFP_KERNEL)?;
        for c in self.pages.chunks() {
            for i in 0..c.pages() {
                // SAFETY: `i` is inside the chunk's run of pages.
                let p = unsafe { ffi::rust_ion_nth_page(c.page.as_ptr(), i as c_ulong) };
                pages.push(p, GFP_KERNEL)?;
            }
        }
        let count = u32::try_from(pages.len()).map_err(|_| ENOMEM)?;
        // SAFETY: `pages` holds `count` valid pages of this buffer, which
        // outlive the mapping (unmapped in `vunmap` or on drop).
        let vaddr = unsafe { ffi::rust_ion_vmap(pages.as_mut_ptr(), count, !self.cached()) };
        let vaddr = NonNull::new(vaddr).ok_or(ENOMEM)?;
        // INVARIANT: a fresh mapping of the buffer with one user.
        inner.vmap = Some(Vmap { vaddr, count: 1 });
        stats::VMAPS.add(1, stats::Relaxed);
        Ok(vaddr)
    }

    /// Drops one user of the kernel mapping.
    pub(crate) fn vunmap(&self) {
        let mut inner = self.inner.lock();
        let last = match &mut inner.vmap {
            Some(v) => {
                v.count -= 1;
                v.count == 0
            }
            None => false,
        };
        if last {
            if let Some(v) = inner.vmap.take() {
                // SAFETY: the last user is gone; `vaddr` came from `vmap`.
                unsafe { ffi::rust_ion_vunmap(v.vaddr.as_ptr()) };
                stats::VMAPS.add(-1, stats::Relaxed);
            }
        }
    }

    /// Maps the buffer into `vma`, from page offset `pgoff` of the buffer.
    ///
    /// Only shared mappings: a private (copy-on-write) mapping of a buffer
    /// is `EINVAL` for every buffer. Writes to one would go to anonymous
    /// copies that no device sees, and `remap_pfn_range` can map such a
    /// mapping only in one piece, so accepting it would work for one-run
    /// buffers and fail for the others.
    ///
    /// # Safety
    ///
    /// `vma` must be a VMA being set up by mmap, whose size and offset the
    /// dma-buf core has checked against the buffer's size.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        // SAFETY: `vma` is valid (caller).
        if !unsafe { ffi::rust_ion_vma_shared(vma) } {
            return Err(EINVAL);
        }
        // SAFETY: `vma` is valid (caller).
        let (pgoff, start, end) = unsafe {
            (
                ffi::rust_ion_vma_pgoff(vma) as usize,
                ffi::rust_ion_vma_start(vma) as usize,
                ffi::rust_ion_vma_end(vma) as usize,
            )
        };
        if !self.cached() {
            // SAFETY: `vma` is being set up; changing its protection is allowed.
            unsafe { ffi::rust_ion_vma_writecombine(vma) };
        }
        let mut skip = pgoff.checked_mul(PAGE_SIZE).ok_or(EINVAL)?;
        let mut addr = start;
        for c in self.pages.chunks() {
            if addr >= end {
                break;
            }
            let len = c.len;
            if skip >= len {
                skip -= len;
                continue;
            }
            let size = core::cmp::min(len - skip, end - addr);
            // SAFETY: the chunk's pages are ours and live as long as the
            // buffer, which the dma-buf file (pinned by the VMA) keeps.
            let first = unsafe { ffi::rust_ion_page_to_pfn(c.page.as_ptr()) } as usize;
            let pfn = first + skip / PAGE_SIZE;
            // SAFETY: `[addr, addr + size)` is inside the VMA.
            to_result(unsafe {
                ffi::rust_ion_remap_pfn_range(vma, addr as c_ulong, pfn as c_ulong, size as c_ulong)
            })?;
            addr += size;
            skip = 0;
        }
        if addr < end {
            return Err(EINVAL);
        }
        Ok(())
    }
}

#[pinned_drop]
impl PinnedDrop for Buffer {
    fn drop(self: Pin<&mut Self>) {
        // Every attachment is detached before release, but an unbalanced
        // vmap must not leak the mapping.
        let mut inner = self.inner.lock();
        if let Some(v) = inner.vmap.take() {
            // SAFETY: `vaddr` came from `vmap` and no user can be left now.
            unsafe { ffi::rust_ion_vunmap(v.vaddr.as_ptr()) };
            stats::VMAPS.add(-1, stats::Relaxed);
        }
    }
}
