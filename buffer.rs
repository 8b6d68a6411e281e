// SPDX-License-Identifier: GPL-2.0

//! An Ion buffer: pages from one heap, and the exporter's logic, in safe
//! code over `abstractions`.
//!
//! The caching model (see Documentation/ion.rst):
//! - every mapping of an attachment gets its own sg_table of the buffer's
//!   page runs (as the kernel's heaps duplicate theirs); the buffer keeps
//!   the runs, not a table that nobody maps;
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
//! vmap and vunmap), then the layer's kernel-mapping lock, come before
//! `Buffer::inner`, which comes before an attachment's own lock
//! (`dma_buf::Attachment`). Map and unmap take only the attachment's.

use crate::{
    abstractions::{
        dma::{self, OwnedDevice},
        dma_buf::Attachment,
        mm::VmaNewExt,
        page::Contiguous,
        scatterlist::{MappedSgTable, SgTable, SyncFor},
        vmalloc::{Caching, VMap},
    },
    heaps::{self, Allocation, CacheMode, Run},
    stats,
};
use kernel::{
    device::{Bound, Device},
    dma::{attrs, Attrs, DataDirection},
    mm::virt::VmaNew,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex},
};

/// What the tables of the attachments and the kernel mapping hold: the
/// buffer's pages, never the buffer.
pub(crate) type Pages = Arc<Allocation>;

struct Inner {
    /// The attachments, for syncs; each hangs off its importer's
    /// `dma_buf_attachment`, which holds the other reference.
    /// `None` until the first attach: even an empty kernel `Vec` calls the
    /// allocator to free itself, and most buffers are never attached.
    attachments: Option<KVec<Arc<Attachment<Buffer>>>>,
}

/// A buffer: page runs from one heap.
///
/// It lives in the dma-buf that exports it, from export to release.
/// Its pages live in an `Arc` of their own, which every table of an
/// attachment and the kernel mapping hold too, so the pages outlive every
/// table and mapping. Nothing the buffer owns holds the buffer.
#[pin_data]
pub(crate) struct Buffer {
    pages: Pages,
    #[pin]
    inner: Mutex<Inner>,
}

/// Whether the device sees copies of the pages (bounce buffers) that only
/// syncs keep current, even for memory the CPU never caches.
///
/// dma-direct maps each entry on its own: a device address that is not the
/// entry's own page is a swiotlb slot. dma-iommu bounces only for untrusted
/// (external PCI) devices. Other `dma_map_ops` are asked, which is
/// conservative: they answer yes whenever any sync would work.
fn bounces(m: &MappedSgTable<'_, Pages>) -> bool {
    let dev = m.device();
    if dma::uses_iommu(dev) {
        return dma::is_untrusted(dev);
    }
    let ops = dma::has_dma_ops(dev);
    m.dma().iter().zip(m.table().entries()).any(|(e, run)| {
        if ops {
            dma::need_sync(dev, e.dma_address())
        } else {
            dma::to_phys(dev, e.dma_address()) != run.phys()
        }
    })
}

/// Cleans the CPU caches of the pages of a new uncached buffer for `dev`,
/// so that memory the CPU zeroed is ready for DMA before anyone maps it
/// without sync. Runs that the pools' background zeroer already cleaned
/// are skipped.
pub(crate) fn clean_for_device(pages: &Allocation, dev: &OwnedDevice) -> Result {
    for r in pages.runs().iter().filter(|r| !r.clean) {
        heaps::write_back(dev.device(), r.pages())?;
        stats::CLEANED_AT_ALLOC.add(1, stats::Relaxed);
    }
    Ok(())
}

impl Buffer {
    /// A buffer over `pages`, to be initialised in place: in the dma-buf
    /// that exports it ([`crate::dma_buf_ops::export`]), whose size is the
    /// length asked for (a heap may give more, which no mapping reaches).
    pub(crate) fn new(pages: Pages) -> impl PinInit<Self, Error> {
        try_pin_init!(Buffer {
            pages,
            inner <- new_mutex!(Inner {
                attachments: None,
            }),
        }? Error)
    }

    /// A buffer of `len` bytes from `heap`, alone in a box (the KUnit
    /// suites' buffers that no dma-buf exports).
    #[cfg(ion_rs_kunit)]
    pub(crate) fn boxed(
        heap: &Arc<heaps::Heap>,
        len: usize,
        flags: u32,
    ) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(Self::new(heap.allocate(len, flags)?), GFP_KERNEL)
    }

    /// Records that the buffer has reached userspace, so that its pages go
    /// back to the heap's pools when they drop. A buffer dropped before (a
    /// failed ALLOC, export or copy-out) gives them to the page allocator,
    /// and leaves no pool entry and no charge behind.
    pub(crate) fn handed_out(&self) {
        self.pages.handed_out();
    }

    pub(crate) fn cached(&self) -> bool {
        self.pages.mode() == CacheMode::Cached
    }

    /// The heap the pages came from.
    pub(crate) fn heap(&self) -> &crate::heaps::Heap {
        self.pages.heap()
    }

    /// The pages, as the tables and the kernel mapping hold them.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn pages(&self) -> &Pages {
        &self.pages
    }

    /// The page runs, in order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Contiguous<'_>> + '_ {
        self.pages.runs().iter().map(Run::pages)
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

    /// Keeps `a` for syncs.
    pub(crate) fn attach(&self, a: &Arc<Attachment<Buffer>>) -> Result {
        self.inner
            .lock()
            .attachments
            .get_or_insert_with(KVec::new)
            .push(a.clone(), GFP_KERNEL)?;
        stats::ATTACHMENTS.add(1, stats::Relaxed);
        Ok(())
    }

    /// Forgets `a`, whose mappings the layer has undone.
    pub(crate) fn detach(&self, a: &Arc<Attachment<Buffer>>) {
        let mut inner = self.inner.lock();
        let Some(list) = inner.attachments.as_mut() else {
            return;
        };
        if let Some(i) = list.iter().position(|x| Arc::ptr_eq(x, a)) {
            drop(list.remove(i));
            stats::ATTACHMENTS.add(-1, stats::Relaxed);
        }
    }

    /// Maps a new table of the buffer's runs for an importer's device: one
    /// mapping per attachment at a time (`EBUSY` while `mapped`), as the
    /// kernel's heaps do.
    ///
    /// A mapping without CPU sync is only right where the device reaches
    /// the pages themselves. Where it bounces, it is undone (nothing to copy
    /// back yet) and made again with sync, which copies the pages in; that
    /// mapping is then synced and unmapped like a cached buffer's.
    pub(crate) fn map<'a>(
        &self,
        dev: &'a Device<Bound>,
        mapped: usize,
        dir: DataDirection,
        attrs: Attrs,
    ) -> Result<MappedSgTable<'a, Pages>> {
        if mapped > 0 {
            return Err(EBUSY);
        }
        let table = SgTable::new(self.pages.clone())?;
        let m = table.map(dev, dir, attrs).map_err(|(e, _)| e)?;
        let m = if m.skips_cpu_sync() && bounces(&m) {
            let table = m.unmap();
            let m = table
                .map(dev, dir, attrs & !attrs::DMA_ATTR_SKIP_CPU_SYNC)
                .map_err(|(e, _)| e)?;
            stats::BOUNCED_MAPS.add(1, stats::Relaxed);
            m
        } else {
            m
        };
        stats::MAPS.add(1, stats::Relaxed);
        Ok(m)
    }

    /// Undoes a mapping, exactly as it was made. The mapping holds the
    /// pages, so it needs no buffer: it may outlive it.
    pub(crate) fn unmap(m: MappedSgTable<'_, Pages>) {
        stats::UNMAPS.add(1, stats::Relaxed);
        drop(m);
    }

    /// Makes the buffer coherent for the CPU or for the devices.
    ///
    /// The kernel mapping `vmap`, if any, is synced. Each mapped attachment
    /// is synced, unless it was made without CPU sync for an uncached
    /// buffer (which has no cached alias to maintain and does not bounce).
    pub(crate) fn cpu_access(&self, to: SyncFor, dir: DataDirection, vmap: Option<&VMap<Pages>>) {
        if let Some(v) = vmap {
            match to {
                SyncFor::Cpu => v.invalidate(),
                SyncFor::Device => v.flush(),
            }
        }
        let inner = self.inner.lock();
        let cached = self.cached();
        for a in inner.attachments.iter().flatten() {
            a.with_mappings(|m| {
                if cached || !m.skips_cpu_sync() {
                    m.sync(to, dir);
                    match to {
                        SyncFor::Cpu => stats::SYNCS_FOR_CPU.add(1, stats::Relaxed),
                        SyncFor::Device => stats::SYNCS_FOR_DEVICE.add(1, stats::Relaxed),
                    };
                }
            });
        }
    }

    /// The number of attachments, and of those that are mapped.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn attachment_counts(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        let all = || inner.attachments.iter().flatten();
        (all().count(), all().filter(|a| a.is_mapped()).count())
    }

    /// A kernel mapping of the whole buffer; the dma-buf layer keeps it
    /// until its last user is gone.
    pub(crate) fn vmap(&self) -> Result<VMap<Pages>> {
        let caching = if self.cached() {
            Caching::Cached
        } else {
            Caching::WriteCombine
        };
        let v = VMap::new(self.pages.clone(), caching)?;
        stats::VMAPS.add(1, stats::Relaxed);
        Ok(v)
    }

    /// The kernel mapping's last user is gone.
    pub(crate) fn vunmap(&self, v: VMap<Pages>) {
        drop(v);
        stats::VMAPS.add(-1, stats::Relaxed);
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
            // SAFETY: The pages are the buffer's, which the dma-buf keeps
            // until release; the VMA holds the dma-buf's file until it is
            // closed, so they outlive the mapping and go to no one else
            // meanwhile. Nothing here makes the VMA MIXEDMAP.
            unsafe { vma.remap_run(addr, run, skip, size) }?;
            addr += size;
            skip = 0;
        }
        if addr < end {
            return Err(EINVAL);
        }
        Ok(())
    }
}
