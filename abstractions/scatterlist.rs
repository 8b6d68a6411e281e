// SPDX-License-Identifier: GPL-2.0

//! Scatter-gather tables that own what they describe, and their DMA
//! mappings as a typestate.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)
//!
//! 7.3's [`kernel::scatterlist::SGTable<Owned<P>>`] maps its pages once, at
//! creation, for a bound device of the driver. An exporter of DMA buffers
//! needs another life cycle: a table for each importer, made before the
//! importer's device is known, mapped and unmapped for that device any
//! number of times, and synced in between. Here that is two types:
//!
//! - [`SgTable<P>`]: a table over the page runs of `P`, which it owns (an
//!   `Arc` of the buffer's pages, typically), so that the pages outlive it.
//!   It is not mapped.
//! - [`MappedSgTable<P>`]: the same table mapped for one device with a
//!   direction and attributes. It syncs for the CPU or the device, and is
//!   unmapped exactly once, by [`MappedSgTable::unmap`] (which gives the
//!   [`SgTable`] back) or on drop. Its DMA side is 7.3's borrowed
//!   [`kernel::scatterlist::SGTable`].

use super::{
    dma, helpers,
    page::{Contiguous, ContiguousPages},
};
use core::{marker::PhantomData, mem::ManuallyDrop};
use kernel::{
    bindings,
    device::{Bound, Device},
    dma::{attrs, Attrs, DataDirection},
    error::to_result,
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};

/// Owned page runs that a table or a mapping can describe.
///
/// # Safety
///
/// An implementor owns its runs: those that [`Segments::segment`] returns
/// stay allocated, and are the same (as do their number), for as long as
/// the value lives, whether or not it is borrowed. Tables and mappings keep
/// the value and point to its pages past any one borrow of it.
pub(crate) unsafe trait Segments: Send + Sync {
    /// The number of runs.
    fn count(&self) -> usize;

    /// Run `i`, for `i` below [`Segments::count`].
    fn segment(&self, i: usize) -> Option<Contiguous<'_>>;
}

// SAFETY: Each element owns its run (`ContiguousPages`), and the vector's
// elements change only through `&mut`, which the tables and mappings that
// own the vector never take.
unsafe impl<P: ContiguousPages + Send + Sync> Segments for KVec<P> {
    fn count(&self) -> usize {
        self.len()
    }

    fn segment(&self, i: usize) -> Option<Contiguous<'_>> {
        self.get(i).map(ContiguousPages::contiguous)
    }
}

// SAFETY: The `Arc` keeps the `T` alive while it lives, and `T` owns its
// runs (`Segments`).
unsafe impl<T: Segments> Segments for kernel::sync::Arc<T> {
    fn count(&self) -> usize {
        (**self).count()
    }

    fn segment(&self, i: usize) -> Option<Contiguous<'_>> {
        (**self).segment(i)
    }
}

/// A `struct sg_table` over the runs of `P`, not mapped.
///
/// # Invariants
///
/// `table` was initialised by a successful `sg_alloc_table` with
/// `orig_nents` entries, entry `i` set to the whole of run `i` of `pages`
/// (which this value owns, so the pages outlive the table); it is not
/// mapped for any device, and is freed exactly once, on drop.
pub(crate) struct SgTable<P: Segments> {
    table: KBox<Opaque<bindings::sg_table>>,
    pages: P,
}

// SAFETY: An `sg_table` is plain memory that any thread may read or free;
// the runs it points to are owned by `pages`, which is `Send`.
unsafe impl<P: Segments> Send for SgTable<P> {}
// SAFETY: Shared references only read the table.
unsafe impl<P: Segments> Sync for SgTable<P> {}

impl<P: Segments> SgTable<P> {
    /// A table with one entry per run of `pages`. A run of 4 GiB or more
    /// (more than an entry holds) or no run at all is `EINVAL`.
    pub(crate) fn new(pages: P) -> Result<Self> {
        let n = pages.count();
        let n32 = u32::try_from(n).ok().filter(|&n| n > 0).ok_or(EINVAL)?;
        let table = KBox::new(Opaque::<bindings::sg_table>::uninit(), GFP_KERNEL)?;
        // SAFETY: `table.get()` is valid for writes; `sg_alloc_table`
        // initialises the whole struct, and frees what it allocated on error.
        to_result(unsafe { bindings::sg_alloc_table(table.get(), n32, bindings::GFP_KERNEL) })?;
        // SAFETY: The table was just initialised.
        let mut sg = unsafe { (*table.get()).sgl };
        // One pass: each run is looked up and checked once, as it is set.
        let filled = (0..n).try_for_each(|i| {
            let run = pages.segment(i).ok_or(EINVAL)?;
            let len = u32::try_from(run.len()).map_err(|_| EINVAL)?;
            if sg.is_null() {
                return Err(EINVAL);
            }
            // SAFETY: `sg` is one of the table's `n` entries.
            unsafe { helpers::rust_helper_sg_set_page(sg, run.as_raw(), len, 0) };
            // SAFETY: `sg` is a valid entry; `sg_next` returns the next one
            // or null after the last.
            sg = unsafe { bindings::sg_next(sg) };
            Ok(())
        });
        if let Err(e) = filled {
            // SAFETY: Initialised above and not used again.
            unsafe { bindings::sg_free_table(table.get()) };
            return Err(e);
        }
        // INVARIANT: `n` entries, entry `i` is run `i` of `pages`, owned.
        Ok(Self { table, pages })
    }

    /// The runs the table describes.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn pages(&self) -> &P {
        &self.pages
    }

    /// The entries as the CPU sees them: the runs, in order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Contiguous<'_>> + '_ {
        (0..self.pages.count()).filter_map(move |i| self.pages.segment(i))
    }

    /// Total length in bytes.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn len(&self) -> usize {
        self.entries().map(|e| e.len()).sum()
    }

    /// Maps the table for `dev` (`dma_map_sgtable`), for as long as `dev`
    /// is borrowed as bound. On failure the table comes back with the
    /// error.
    pub(crate) fn map<'a>(
        self,
        dev: &'a Device<Bound>,
        dir: DataDirection,
        attrs: Attrs,
    ) -> MapResult<'a, P> {
        // SAFETY: `dev` is live and bound (the reference) and the table is
        // valid and unmapped (invariant).
        let r = to_result(unsafe {
            bindings::dma_map_sgtable(
                dma::raw(dev),
                self.table.get(),
                dir.into(),
                dma::attrs_raw(attrs),
            )
        });
        match r {
            // INVARIANT: mapped just now for `dev`, with `dir` and `attrs`;
            // `ARef` keeps `dev` alive until the unmap, and `'a` bounds the
            // mapping to the time `dev` is bound.
            Ok(()) => Ok(MappedSgTable {
                table: self,
                dev: ARef::from(&**dev),
                dir,
                attrs,
                _bound: PhantomData,
            }),
            Err(e) => Err((e, self)),
        }
    }
}

impl<P: Segments> Drop for SgTable<P> {
    fn drop(&mut self) {
        // SAFETY: Initialised and not mapped (invariant); freed only here.
        unsafe { bindings::sg_free_table(self.table.get()) };
    }
}

/// What [`SgTable::map`] returns: the mapped table, or the error and the
/// table back.
pub(crate) type MapResult<'a, P> = Result<MappedSgTable<'a, P>, (Error, SgTable<P>)>;

/// Whom a sync makes memory coherent for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncFor {
    /// The CPU, before it reads or writes: what the device wrote becomes
    /// visible to it (`dma_sync_sgtable_for_cpu`).
    Cpu,
    /// The device, once the CPU is done: what the CPU wrote reaches it
    /// (`dma_sync_sgtable_for_device`).
    Device,
}

/// An [`SgTable`] mapped for a device that is bound for `'a`.
///
/// The DMA state of a device is torn down when its driver unbinds
/// (`device_unbind_cleanup`), so a mapping must be undone before that. 7.3's
/// owned `SGTable` keeps its mapping in `Devres` for this; here the
/// lifetime does it: the mapping cannot outlive the `&'a Device<Bound>` it
/// was made with. An owner that can prove a longer binding (the dma-buf
/// layer, by the importer's contract) says so with
/// [`MappedSgTable::extend`].
///
/// # Invariants
///
/// `table` is mapped for `dev` with `dir` and `attrs`, `dev` is bound for
/// `'a`, and the table is unmapped with the same arguments exactly once (by
/// [`MappedSgTable::unmap`] or on drop).
pub(crate) struct MappedSgTable<'a, P: Segments> {
    table: SgTable<P>,
    dev: ARef<Device>,
    dir: DataDirection,
    attrs: Attrs,
    _bound: PhantomData<&'a Device<Bound>>,
}

impl<'a, P: Segments> MappedSgTable<'a, P> {
    /// The same mapping, for a longer binding.
    ///
    /// # Safety
    ///
    /// The device must stay bound for `'b`: the mapping must be dropped or
    /// unmapped before its driver unbinds.
    pub(crate) unsafe fn extend<'b>(self) -> MappedSgTable<'b, P> {
        let this = ManuallyDrop::new(self);
        // SAFETY: Each field is moved out once and `this` is not used again
        // (nor dropped).
        let (table, dev) = unsafe { (core::ptr::read(&this.table), core::ptr::read(&this.dev)) };
        // INVARIANT: the same mapping; bound for `'b` (caller).
        MappedSgTable {
            table,
            dev,
            dir: this.dir,
            attrs: this.attrs,
            _bound: PhantomData,
        }
    }

    /// The C table, valid until the value is unmapped or dropped.
    pub(crate) fn as_raw(&self) -> *mut bindings::sg_table {
        self.table.table.get()
    }

    /// The device the table is mapped for.
    pub(crate) fn device(&self) -> &Device {
        &self.dev
    }

    /// The direction of the mapping.
    pub(crate) fn direction(&self) -> DataDirection {
        self.dir
    }

    /// Whether the mapping was made without CPU cache maintenance.
    pub(crate) fn skips_cpu_sync(&self) -> bool {
        self.attrs.contains(attrs::DMA_ATTR_SKIP_CPU_SYNC)
    }

    /// The DMA side of the table: device addresses and lengths.
    pub(crate) fn dma(&self) -> &kernel::scatterlist::SGTable {
        // SAFETY: The table is mapped and valid for as long as `self` is
        // borrowed, and nothing changes it meanwhile (invariant).
        unsafe { kernel::scatterlist::SGTable::from_raw(self.as_raw()) }
    }

    /// Syncs the mapping for the CPU or the device, in `dir`. A one-way
    /// mapping syncs only in its own direction (the DMA API allows no
    /// other), so `dir` is taken only for a bidirectional mapping.
    pub(crate) fn sync(&self, to: SyncFor, dir: DataDirection) {
        let dir = if self.dir == DataDirection::Bidirectional {
            dir
        } else {
            self.dir
        };
        let (d, t) = (dma::raw(&self.dev), self.as_raw());
        // SAFETY: `t` is mapped for `d` (invariant), which `ARef` keeps
        // alive; `dir` is the mapping's or it is bidirectional.
        unsafe {
            match to {
                SyncFor::Cpu => helpers::rust_helper_dma_sync_sgtable_for_cpu(d, t, dir.into()),
                SyncFor::Device => {
                    helpers::rust_helper_dma_sync_sgtable_for_device(d, t, dir.into())
                }
            }
        }
    }

    /// The table as the CPU sees it: the runs it describes.
    pub(crate) fn table(&self) -> &SgTable<P> {
        &self.table
    }

    /// Undoes the mapping, with the arguments it was made with, and gives
    /// the table back.
    pub(crate) fn unmap(self) -> SgTable<P> {
        let this = ManuallyDrop::new(self);
        // SAFETY: Mapped for `dev` with `dir` and `attrs` (invariant); `this`
        // does not drop, so this is the only unmap.
        unsafe { Self::dma_unmap(&this.dev, &this.table, this.dir, this.attrs) };
        // SAFETY: Each field is moved out once and `this` is not used again
        // (nor dropped).
        let (table, dev) = unsafe { (core::ptr::read(&this.table), core::ptr::read(&this.dev)) };
        drop(dev);
        table
    }

    /// `dma_unmap_sgtable`.
    ///
    /// # Safety
    ///
    /// `t` must be mapped for `dev` with `dir` and `attrs`; it is not
    /// mapped afterwards.
    unsafe fn dma_unmap(dev: &Device, t: &SgTable<P>, dir: DataDirection, attrs: Attrs) {
        // SAFETY: By the caller.
        unsafe {
            bindings::dma_unmap_sgtable(
                dma::raw(dev),
                t.table.get(),
                dir.into(),
                dma::attrs_raw(attrs),
            )
        };
    }
}

impl<P: Segments> Drop for MappedSgTable<'_, P> {
    fn drop(&mut self) {
        // SAFETY: Still mapped (invariant); unmapped once, here.
        unsafe { Self::dma_unmap(&self.dev, &self.table, self.dir, self.attrs) };
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_sg_table)]
mod tests {
    use super::super::page::{Gfp, Pages};
    use super::*;
    use kernel::page::PAGE_SIZE;

    fn runs(orders: &[u32]) -> Result<KVec<Pages>> {
        let mut v = KVec::new();
        for &o in orders {
            v.push(Pages::alloc(o, Gfp::KERNEL)?, GFP_KERNEL)?;
        }
        Ok(v)
    }

    #[test]
    fn table_describes_every_run() -> Result {
        let t = SgTable::new(runs(&[4, 0, 2])?)?;
        assert_eq!(t.pages().count(), 3);
        assert_eq!(t.len(), 21 * PAGE_SIZE);
        assert!(t.entries().map(|e| e.npages()).eq([16, 1, 4]));
        assert!(SgTable::new(KVec::<Pages>::new()).is_err());
        Ok(())
    }

    #[test]
    fn map_sync_unmap_round_trip() -> Result {
        let faux = kernel::faux::Registration::new(c"rust_kernel_sg_test", None)?;
        let dev = dma::tests::masked(&faux)?;
        let t = SgTable::new(runs(&[1, 0])?)?;
        let m = t
            .map(
                dev,
                DataDirection::Bidirectional,
                attrs::DMA_ATTR_SKIP_CPU_SYNC,
            )
            .map_err(|(e, _)| e)?;
        assert!(m.skips_cpu_sync());
        assert!(core::ptr::eq(m.device(), &**dev));
        let n = m.dma().iter().count();
        assert!((1..=2).contains(&n));
        m.sync(SyncFor::Cpu, DataDirection::FromDevice);
        m.sync(SyncFor::Device, DataDirection::ToDevice);
        let t = m.unmap();
        // Mapped again, and unmapped by drop this time.
        let m = t
            .map(dev, DataDirection::ToDevice, dma::no_attrs())
            .map_err(|(e, _)| e)?;
        assert_eq!(m.direction(), DataDirection::ToDevice);
        drop(m);
        Ok(())
    }
}
