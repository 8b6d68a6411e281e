// SPDX-License-Identifier: GPL-2.0

//! An Ion buffer: pages from one heap, and the exporter's logic, in safe
//! code over `abstractions`.
//!
//! The caching model (see Documentation/ion.rst):
//! - every attachment gets its own sg_table of the buffer's page runs,
//!   made at attach (as the kernel's heaps duplicate theirs); the buffer
//!   keeps the runs, not a table that nobody maps;
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
//! vmap and vunmap) comes before `Buffer::inner`, which comes before an
//! attachment's own lock (`dma_buf::Attachment`). Map and unmap take only
//! the attachment's.

use crate::{
    abstractions::{
        dma,
        dma_buf::Attachment,
        mm::VmaNewExt,
        page::Contiguous,
        scatterlist::{MapResult, MappedSgTable, Segments, SgTable, SyncFor},
        vmalloc::{Caching, Vmap},
    },
    heaps::{Allocation, CacheMode, Heap, Run},
    stats,
};
use core::ptr::NonNull;
use kernel::{
    device::Device,
    dma::{attrs, Attrs, DataDirection},
    ffi::c_void,
    mm::virt::VmaNew,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
};

/// The kernel's vmap alias of the whole buffer and its users.
struct KernelMap {
    vmap: Vmap,
    users: usize,
}

struct Inner {
    /// The attachments, for syncs; each hangs off its importer's
    /// `dma_buf_attachment`, which holds the other reference.
    attachments: KVec<Arc<Attachment<Buffer>>>,
    vmap: Option<KernelMap>,
}

/// A buffer: page runs from one heap.
///
/// It lives in an `Arc`. The dma-buf holds one reference from export to
/// release, and each attachment's table one from attach to detach (the
/// dma-buf core detaches every importer before release), so the pages
/// outlive every table and mapping; the buffer is freed when the last
/// reference goes. The kernel mapping in `inner` maps pages of `pages`.
#[pin_data]
pub(crate) struct Buffer {
    pages: Allocation,
    /// The length asked for: the dma-buf's size. A heap may give more (the
    /// chunk heap rounds up to chunks), which no mapping reaches.
    len: usize,
    #[pin]
    inner: Mutex<Inner>,
}

impl Buffer {
    /// Allocates `len` bytes (page-aligned, non-zero) from `heap`.
    pub(crate) fn new(heap: &Arc<Heap>, len: usize, flags: u32) -> Result<Arc<Self>> {
        let pages = heap.allocate(len, flags)?;
        Arc::pin_init(
            pin_init!(Buffer {
                pages,
                len,
                inner <- new_mutex!(Inner {
                    attachments: KVec::new(),
                    vmap: None,
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// The length in bytes, as asked for.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn cached(&self) -> bool {
        self.pages.mode() == CacheMode::Cached
    }

    /// The heap the pages came from.
    pub(crate) fn heap(&self) -> &crate::heaps::Heap {
        self.pages.heap()
    }

    /// The page runs, in order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Contiguous<'_>> + '_ {
        self.pages.runs().iter().map(Run::pages)
    }

    /// Cleans the CPU caches of a new uncached buffer for `dev`, so that
    /// memory the CPU zeroed is ready for DMA before anyone maps it without
    /// sync. Runs that the pools' background zeroer already cleaned are
    /// skipped.
    pub(crate) fn clean_for_device(&self, dev: &Device) -> Result {
        for r in self.pages.runs().iter().filter(|r| !r.clean) {
            dma::write_back(dev, r.pages())?;
            stats::CLEANED_AT_ALLOC.add(1, stats::Relaxed);
        }
        Ok(())
    }

    /// The attributes a mapping for an importer gets.
    ///
    /// Uncached buffers skip CPU sync: their CPU mappings are write-combined
    /// and the buffer was cleaned once at allocation (`map` drops the
    /// attribute again where the mapping bounces). Mainline 7.3 has no
    /// per-attachment `dma_map_attrs` (Android's kernels do); `requested`
    /// is where such a request comes in.
    pub(crate) fn map_attrs(&self, requested: Attrs) -> Attrs {
        if self.cached() {
            requested & attrs::DMA_ATTR_SKIP_CPU_SYNC
        } else {
            attrs::DMA_ATTR_SKIP_CPU_SYNC
        }
    }

    /// A new, unmapped table of the buffer's runs for an importer; it
    /// holds the buffer.
    pub(crate) fn attach(this: ArcBorrow<'_, Self>) -> Result<SgTable<Arc<Buffer>>> {
        SgTable::new(this.into())
    }

    /// Keeps `a` for syncs.
    pub(crate) fn attached(&self, a: &Arc<Attachment<Buffer>>) -> Result {
        self.inner.lock().attachments.push(a.clone(), GFP_KERNEL)?;
        stats::ATTACHMENTS.add(1, stats::Relaxed);
        Ok(())
    }

    /// Forgets `a`. A mapping the importer left is undone when the last
    /// reference to `a` goes, and counted as an unmap here.
    pub(crate) fn detach(&self, a: &Arc<Attachment<Buffer>>) {
        let mut inner = self.inner.lock();
        if let Some(i) = inner.attachments.iter().position(|x| Arc::ptr_eq(x, a)) {
            drop(inner.attachments.remove(i));
            if a.is_mapped() {
                stats::UNMAPS.add(1, stats::Relaxed);
            }
            stats::ATTACHMENTS.add(-1, stats::Relaxed);
        }
    }

    /// Maps an attachment's table for its device.
    ///
    /// A mapping without CPU sync is only right where the device reaches
    /// the pages themselves. Where it bounces, it is undone (nothing to copy
    /// back yet) and made again with sync, which copies the pages in; that
    /// mapping is then synced and unmapped like a cached buffer's.
    pub(crate) fn map(
        &self,
        dev: &Device,
        table: SgTable<Arc<Buffer>>,
        dir: DataDirection,
        attrs: Attrs,
    ) -> MapResult<Arc<Buffer>> {
        let m = table.map(dev, dir, attrs)?;
        let m = if m.skips_cpu_sync() && m.bounces() {
            let table = m.unmap();
            let m = table.map(dev, dir, attrs & !attrs::DMA_ATTR_SKIP_CPU_SYNC)?;
            stats::BOUNCED_MAPS.add(1, stats::Relaxed);
            m
        } else {
            m
        };
        stats::MAPS.add(1, stats::Relaxed);
        Ok(m)
    }

    /// Undoes a mapping, exactly as it was made.
    pub(crate) fn unmap(&self, m: MappedSgTable<Arc<Buffer>>) -> SgTable<Arc<Buffer>> {
        stats::UNMAPS.add(1, stats::Relaxed);
        m.unmap()
    }

    /// Makes the buffer coherent for the CPU or for the devices.
    ///
    /// Each mapped attachment is synced, unless it was made without CPU
    /// sync for an uncached buffer (which has no cached alias to maintain
    /// and does not bounce).
    pub(crate) fn cpu_access(&self, to: SyncFor, dir: DataDirection) {
        let inner = self.inner.lock();
        if let Some(k) = &inner.vmap {
            match to {
                SyncFor::Cpu => k.vmap.invalidate(),
                SyncFor::Device => k.vmap.flush(),
            }
        }
        let cached = self.cached();
        for a in inner.attachments.iter() {
            let synced = a.with_mapping(|m| {
                if cached || !m.skips_cpu_sync() {
                    m.sync(to, dir);
                    true
                } else {
                    false
                }
            });
            if synced == Some(true) {
                match to {
                    SyncFor::Cpu => stats::SYNCS_FOR_CPU.add(1, stats::Relaxed),
                    SyncFor::Device => stats::SYNCS_FOR_DEVICE.add(1, stats::Relaxed),
                };
            }
        }
    }

    /// The number of attachments, and of those that are mapped.
    pub(crate) fn attachment_counts(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        let mapped = inner.attachments.iter().filter(|a| a.is_mapped()).count();
        (inner.attachments.len(), mapped)
    }

    /// A kernel mapping of the whole buffer, refcounted.
    pub(crate) fn vmap(&self) -> Result<NonNull<c_void>> {
        let mut inner = self.inner.lock();
        if let Some(k) = &mut inner.vmap {
            k.users += 1;
            return Ok(k.vmap.as_ptr());
        }
        let caching = if self.cached() {
            Caching::Cached
        } else {
            Caching::WriteCombine
        };
        // SAFETY: The pages belong to `self.pages`, which outlives `inner`
        // and so the mapping (dropped in `vunmap` or with the buffer).
        let vmap = unsafe { Vmap::new(self.entries(), caching) }?;
        let addr = vmap.as_ptr();
        inner.vmap = Some(KernelMap { vmap, users: 1 });
        stats::VMAPS.add(1, stats::Relaxed);
        Ok(addr)
    }

    /// Drops one user of the kernel mapping.
    pub(crate) fn vunmap(&self) {
        let mut inner = self.inner.lock();
        let last = inner.vmap.as_mut().is_some_and(|k| {
            k.users -= 1;
            k.users == 0
        });
        if last {
            inner.vmap = None;
            stats::VMAPS.add(-1, stats::Relaxed);
        }
    }

    /// Maps the buffer into `vma`, from the VMA's page offset on.
    ///
    /// Only shared mappings: a private (copy-on-write) mapping of a buffer
    /// is `EINVAL` for every buffer. Writes to one would go to anonymous
    /// copies that no device sees, and `remap_pfn_range` can map such a
    /// mapping only in one piece, so accepting it would work for one-run
    /// buffers and fail for the others.
    pub(crate) fn mmap(&self, vma: &VmaNew) -> Result {
        if !vma.is_shared() {
            return Err(EINVAL);
        }
        if !self.cached() {
            vma.set_writecombine();
        }
        let (start, end) = (vma.start(), vma.end());
        let mut skip = vma.pgoff().checked_mul(PAGE_SIZE).ok_or(EINVAL)?;
        let mut addr = start;
        for run in self.entries() {
            if addr >= end {
                break;
            }
            if skip >= run.len() {
                skip -= run.len();
                continue;
            }
            let size = core::cmp::min(run.len() - skip, end - addr);
            // The pages live as long as the buffer, which the dma-buf file
            // (held by the VMA) keeps.
            vma.remap_run(addr, run, skip, size)?;
            addr += size;
            skip = 0;
        }
        if addr < end {
            return Err(EINVAL);
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Every attachment is detached before release, but an unbalanced
        // vmap must not leak the mapping (it drops with `vmap`).
        if self.vmap.take().is_some() {
            stats::VMAPS.add(-1, stats::Relaxed);
        }
    }
}

/// The runs an attachment's table describes: the buffer's own.
impl Segments for Buffer {
    fn count(&self) -> usize {
        self.pages.runs().len()
    }

    fn segment(&self, i: usize) -> Option<Contiguous<'_>> {
        self.pages.runs().get(i).map(Run::pages)
    }
}
