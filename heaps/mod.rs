// SPDX-License-Identifier: GPL-2.0

//! Heaps: each hands out runs of zeroed pages and takes them back. None of
//! them touches dma-buf; `buffer` and `dma_buf_ops` do that for all heaps.

#[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
mod carveout;
#[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
mod chunk;
#[cfg(CONFIG_ION_RS_HEAP_CMA)]
pub(crate) mod cma;
#[cfg(any(
    CONFIG_ION_RS_HEAP_CARVEOUT,
    CONFIG_ION_RS_HEAP_CHUNK,
    CONFIG_ION_RS_HEAP_CMA
))]
mod dt;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
mod page_pool;
#[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
pub(crate) mod pool;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
pub(crate) mod system;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
mod system_contig;

#[cfg(any(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG, CONFIG_ION_RS_HEAP_CMA))]
use crate::abstractions::page::ContiguousPages;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
use crate::abstractions::page::ExactPages;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
use crate::abstractions::page::Pages;
use crate::abstractions::{
    cgroup_dmem::{Charge, Region},
    dma::{self, MappedRun, OwnedDevice},
    page::{Contiguous, Gfp},
    scatterlist::Segments,
};
use kernel::{
    device::{Bound, Device},
    dma::DataDirection,
    page::PAGE_SIZE,
    prelude::*,
    str::{CStr, CString},
    sync::{atomic::Atomic, atomic::Relaxed, Arc},
};

/// Where the pages of a [`Run`] come from, and so how they go back: each
/// kind gives its pages back when it drops.
pub(crate) enum Source {
    /// A block of the page allocator (system heap) that no pool keeps.
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    Block(Pages),
    /// A block of the page allocator that goes back to its pool (system
    /// heap).
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    Pooled(page_pool::Pooled),
    /// An exact-size run of the page allocator (system-contig heap).
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
    Exact(ExactPages),
    /// A run of a CMA area (CMA heap).
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    Cma(crate::abstractions::cma::CmaPages),
    /// A range of a reserved region (carveout and chunk heaps).
    #[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
    Region(pool::Range),
}

/// One physically contiguous piece of a buffer, owned.
pub(crate) struct Run {
    pub(crate) source: Source,
    /// The run is zeroed and already written back from the CPU caches, so
    /// an uncached buffer needs no maintenance for it (a pool run that the
    /// background zeroer cleaned).
    pub(crate) clean: bool,
}

impl Run {
    /// A run that may still have the CPU's writes in the cache.
    pub(crate) fn new(source: Source) -> Self {
        Self {
            source,
            clean: false,
        }
    }

    /// The pages of the run.
    pub(crate) fn pages(&self) -> Contiguous<'_> {
        match &self.source {
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Source::Block(p) => p.contiguous(),
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Source::Pooled(p) => p.pages().contiguous(),
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
            Source::Exact(p) => p.contiguous(),
            #[cfg(CONFIG_ION_RS_HEAP_CMA)]
            Source::Cma(p) => p.contiguous(),
            #[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
            Source::Region(p) => p.contiguous(),
        }
    }

    /// The length of the run in bytes.
    pub(crate) fn len(&self) -> usize {
        self.pages().len()
    }
}

/// Whether the system heaps charge their buffers to the allocating task's
/// memory cgroup (`mem_accounting`), fixed for the life of a heap.
///
/// A charged page stays charged to the cgroup that allocated it until it
/// is freed (7.3 exports no way to move a charge). So the system heap's
/// pools keep a charged page on the list of the cgroup it is charged to
/// (see `page_pool`): only that cgroup's allocations take it back, its
/// reclaim frees it, and when the cgroup goes offline the page follows its
/// charge to the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Account {
    /// Nothing is charged; one pool serves every cgroup.
    Off,
    /// Every page is charged (`__GFP_ACCOUNT`); the pools are per cgroup.
    Memcg,
}

impl Account {
    /// The mode that `mem_accounting` asks for: 1 (the default) on, 0 off,
    /// and any other value (-1) follows the kernel's
    /// `dma_heap.mem_accounting`, which 7.3 defaults to off and which
    /// cannot tell "off" from "not set". Charging is the default because
    /// it costs the pools' lead nothing measurable (Documentation/ion.rst,
    /// "Memory cgroups").
    pub(crate) fn from_param(param: i32) -> Self {
        let on = match param {
            0 => false,
            1 => true,
            #[cfg(CONFIG_DMABUF_HEAPS)]
            _ => crate::abstractions::dma_heap::mem_accounting(),
            #[cfg(not(CONFIG_DMABUF_HEAPS))]
            _ => false,
        };
        if on {
            Self::Memcg
        } else {
            Self::Off
        }
    }

    /// The extra allocation flags of the mode: `__GFP_ACCOUNT`, and
    /// `__GFP_RETRY_MAYFAIL`, so that a cgroup at its limit gets `ENOMEM`
    /// after reclaim, not the OOM killer on one of its processes.
    pub(crate) fn gfp(self) -> Gfp {
        match self {
            Self::Off => Gfp::NONE,
            Self::Memcg => Gfp::ACCOUNT | Gfp::retry_mayfail(),
        }
    }
}

/// How the CPU maps a buffer: its pages are kept apart by this, so that
/// the pools never hand an uncached buffer a page with dirty cache lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheMode {
    /// Cached CPU mappings (`ION_FLAG_CACHED`): syncs do the maintenance.
    Cached,
    /// Write-combined CPU mappings: the pages are clean for DMA when handed
    /// out.
    Uncached,
}

impl CacheMode {
    /// The mode that ALLOC's `flags` ask for.
    pub(crate) fn from_flags(flags: u32) -> Self {
        if flags & crate::uapi::ION_FLAG_CACHED != 0 {
            Self::Cached
        } else {
            Self::Uncached
        }
    }

    /// ALLOC's flags for the mode (the dma-heap face's nodes have a mode).
    #[cfg(CONFIG_DMABUF_HEAPS)]
    pub(crate) fn flags(self) -> u32 {
        match self {
            Self::Cached => crate::uapi::ION_FLAG_CACHED,
            Self::Uncached => 0,
        }
    }

    /// What follows a heap's memory name in its `/dev/dma_heap` node for
    /// this mode: nothing, or `-uncached`.
    pub(crate) fn node_suffix(self) -> &'static str {
        match self {
            Self::Cached => "",
            Self::Uncached => "-uncached",
        }
    }

    /// The mode's bit in [`Heap::dma_nodes`].
    pub(crate) fn node_bit(self) -> u32 {
        match self {
            Self::Cached => 1,
            Self::Uncached => 2,
        }
    }
}

/// The runs of one buffer, in order.
///
/// The first run is kept inline, so that a buffer of one run (every buffer
/// of the contiguous heaps, and every system-heap buffer of one block)
/// costs no list. The others are in `kvmalloc` memory: their number
/// follows the buffer's length, which userspace chooses, and a long list
/// never asks the page allocator for a high order (and never warns). The
/// list exists only from the second run on: even an empty kernel `Vec`
/// calls the allocator to free itself when it drops.
///
/// # Invariants
///
/// `rest` holds no run while `first` is `None` (it may hold room for
/// some, from [`Runs::with_capacity`]).
#[derive(Default)]
pub(crate) struct Runs {
    first: Option<Run>,
    rest: Option<KVVec<Run>>,
}

impl Runs {
    /// No runs.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// No runs, with room for `n` without allocating again.
    pub(crate) fn with_capacity(n: usize) -> Result<Self> {
        let rest = match n {
            0 | 1 => None,
            n => Some(KVVec::with_capacity(n - 1, GFP_KERNEL)?),
        };
        Ok(Self { first: None, rest })
    }

    /// Appends `run`. If there is no room for it and none can be had, the
    /// run drops (its pages go back where they came from).
    pub(crate) fn push(&mut self, run: Run) -> Result {
        match self.first {
            None => self.first = Some(run),
            Some(_) => self
                .rest
                .get_or_insert_with(KVVec::new)
                .push(run, GFP_KERNEL)?,
        }
        Ok(())
    }

    /// Appends `run` if there is room without allocating; gives it back
    /// otherwise.
    #[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
    pub(crate) fn push_within_capacity(&mut self, run: Run) -> core::result::Result<(), Run> {
        match (&self.first, &mut self.rest) {
            (None, _) => {
                self.first = Some(run);
                Ok(())
            }
            (Some(_), Some(rest)) => rest.push_within_capacity(run).map_err(|e| e.0),
            (Some(_), None) => Err(run),
        }
    }

    /// The number of runs.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |r| r.len())
    }

    /// The run at `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&Run> {
        match i {
            0 => self.first.as_ref(),
            i => self.rest.as_ref()?.get(i - 1),
        }
    }

    /// The first run.
    #[cfg(all(
        ion_rs_kunit,
        any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK)
    ))]
    pub(crate) fn first(&self) -> Option<&Run> {
        self.first.as_ref()
    }

    /// The runs, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Run> + '_ {
        Iterator::chain(self.first.iter(), self.rest.iter().flatten())
    }

    /// Takes every run out, in order, leaving none.
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = Run> {
        Iterator::chain(
            self.first.take().into_iter(),
            self.rest.take().into_iter().flatten(),
        )
    }

    /// Drops every run: each gives its pages back.
    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.rest = None;
    }
}

/// Heap types of the UAPI (`enum ion_heap_type`). Ids equal types for the
/// standard heaps. The enum is the UAPI's, whole, whichever heaps a
/// configuration builds.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum HeapType {
    System = 0,
    SystemContig = 1,
    Carveout = 2,
    Chunk = 3,
    Dma = 4,
}

/// What every heap file implements: give me pages, take them back, describe
/// yourself. `heaps/mod.rs` sees heaps through this trait only, so that a
/// heap kind is one file and one line in [`create_all`].
pub(crate) trait HeapOps: Send + Sync {
    /// Zeroed runs for `len` bytes (a multiple of `PAGE_SIZE`, at most
    /// [`HeapOps::max_alloc`] when that is known: [`Heap::allocate`], the
    /// only caller, refuses longer ones first), for a buffer of `mode`. A heap may round up (the chunk
    /// heap does); the runs say what it gave.
    fn allocate(&self, len: usize, mode: CacheMode) -> Result<Runs>;

    /// Takes back every run of `runs`, which came from
    /// [`HeapOps::allocate`] on this heap with the same `mode`, and
    /// leaves `runs` empty. By default each run gives its pages back as it
    /// drops.
    fn free(&self, runs: &mut Runs, _mode: CacheMode) {
        runs.clear();
    }

    /// Takes back the runs of a buffer that never reached userspace (a
    /// failed ALLOC or export), as [`HeapOps::free`] does, except that a
    /// heap with pools gives them to the page allocator: a failure leaves
    /// no pool entry, and no charge, behind.
    fn discard(&self, runs: &mut Runs, mode: CacheMode) {
        self.free(runs, mode);
    }

    /// The largest single allocation the heap can give, 0 if unknown.
    fn max_alloc(&self) -> usize;

    /// The bytes of reserved memory that the heap allocates from (its
    /// capacity for the dmem cgroup controller): `None` for a heap of the
    /// page allocator, `Some(0)` for reserved memory of unknown size.
    fn reserved(&self) -> Option<usize> {
        None
    }

    /// The granule of the heap's buffers.
    fn chunk_size(&self) -> usize {
        kernel::page::PAGE_SIZE
    }

    /// Empties the heap's page pools, if it has any.
    fn drain(&self) {}

    /// Has the heap's background work clean uncached runs for `dev` (which
    /// has a DMA mask), if it does any.
    fn set_clean_device(&self, _dev: Arc<OwnedDevice>) {}

    /// Writes the heap's pool statistics, if it has pools, as
    /// `heap.<name>.<key> <value>` lines.
    fn write_pool_stats(
        &self,
        _f: &mut core::fmt::Formatter<'_>,
        _name: &str,
    ) -> core::fmt::Result {
        Ok(())
    }
}

/// A registered heap, with its usage counters.
pub(crate) struct Heap {
    pub(crate) id: u32,
    pub(crate) ty: HeapType,
    pub(crate) name: CString,
    /// The name of the memory it allocates from, by the dma-heap naming
    /// convention (`system`, a device-tree region's node name): its
    /// `/dev/dma_heap` nodes are this and `<this>-uncached`, and every
    /// buffer's exporter name is this, on both faces.
    pub(crate) dma_name: CString,
    /// The `/dev/dma_heap` nodes added for it, a [`CacheMode::node_bit`]
    /// each (a name that is taken is left out).
    pub(crate) dma_nodes: Atomic<u32>,
    /// Bytes in live buffers.
    pub(crate) bytes: Atomic<i64>,
    /// Live buffers.
    pub(crate) buffers: Atomic<i64>,
    /// Physically contiguous runs held by live buffers.
    pub(crate) runs: Atomic<i64>,
    /// The heap's reserved memory as a dmem cgroup region
    /// (`dma_heap/<dma_name>`), which every buffer is charged to; `None`
    /// for the system heaps, or when it could not be registered.
    pub(crate) dmem: Option<Region>,
    ops: KBox<dyn HeapOps>,
}

impl Heap {
    fn new(
        id: u32,
        ty: HeapType,
        (name, dma_name): (CString, CString),
        ops: KBox<dyn HeapOps>,
    ) -> Result<Arc<Self>> {
        if id >= crate::uapi::ION_NUM_HEAP_IDS {
            return Err(EINVAL);
        }
        let dmem = match ops.reserved() {
            Some(size) => dmem_region(&name, &dma_name, size)?,
            None => None,
        };
        Ok(Arc::new(
            Heap {
                id,
                ty,
                name,
                dma_name,
                dma_nodes: Atomic::new(0),
                bytes: Atomic::new(0),
                buffers: Atomic::new(0),
                runs: Atomic::new(0),
                dmem,
                ops,
            },
            GFP_KERNEL,
        )?)
    }

    /// Allocates zeroed pages for `len` bytes (a multiple of `PAGE_SIZE`),
    /// in the `Arc` that a buffer, its tables and its kernel mapping share.
    ///
    /// A length above what the heap can ever give is `ENOMEM` before the
    /// heap sees it, so that no heap sizes its metadata from an absurd
    /// length (a warning from the page allocator is a crash under
    /// `panic_on_warn`).
    pub(crate) fn allocate(self: &Arc<Self>, len: usize, flags: u32) -> Result<Arc<Allocation>> {
        let mode = CacheMode::from_flags(flags);
        let max = self.ops.max_alloc();
        if max != 0 && len > max {
            return Err(ENOMEM);
        }
        // The cgroup pays before the region is touched: what the heap will
        // give, whole granules. A cgroup at its dmem.max gets ENOMEM, as a
        // full heap does: the controller's EAGAIN would send a caller that
        // retries on it (drmIoctl does) round for ever.
        let charge = match &self.dmem {
            Some(region) => {
                let whole = len
                    .checked_next_multiple_of(self.ops.chunk_size())
                    .ok_or(ENOMEM)?;
                Some(region.try_charge(whole as u64).map_err(|e| {
                    if e == EAGAIN {
                        ENOMEM
                    } else {
                        e
                    }
                })?)
            }
            None => None,
        };
        let mut runs = self.ops.allocate(len, mode)?;
        // What the heap really gave out (a chunk heap rounds up to chunks);
        // a scatterlist entry holds less than 4 GiB.
        let len = runs.iter().try_fold(0, |len, r| {
            let n = r.len();
            u32::try_from(n)
                .ok()
                .and_then(|_| usize::checked_add(len, n))
        });
        let Some(len) = len else {
            self.ops.free(&mut runs, mode);
            return Err(EINVAL);
        };
        let n = runs.len() as i64;
        // Built in place. If there is no memory for it, `runs` drops
        // unlisted: back to the page allocator, uncounted.
        let alloc = Arc::init(
            init!(Allocation {
                heap: self.clone(),
                runs,
                len,
                mode,
                handed_out: Atomic::new(false),
                _charge: charge,
            }),
            GFP_KERNEL,
        )?;
        // Counted from here: the allocation's drop uncounts it.
        self.bytes.add(len as i64, Relaxed);
        self.buffers.add(1, Relaxed);
        self.runs.add(n, Relaxed);
        Ok(alloc)
    }

    /// Whether every byte of the heap's buffers is charged to a cgroup: to
    /// the allocating task's memory cgroup for a heap of the page allocator
    /// (with `account` on), to its dmem cgroup for reserved memory (when
    /// its region is registered).
    pub(crate) fn charged(&self, account: Account) -> bool {
        match self.ops.reserved() {
            None => account == Account::Memcg,
            Some(_) => self.dmem.is_some(),
        }
    }

    /// Empties the heap's page pools, if it has any.
    pub(crate) fn drain(&self) {
        self.ops.drain();
    }

    /// Has the heap's background work clean uncached runs for `dev`, which
    /// has a DMA mask.
    pub(crate) fn set_clean_device(&self, dev: Arc<OwnedDevice>) {
        self.ops.set_clean_device(dev);
    }

    /// Writes the heap's pool statistics, if it has pools.
    pub(crate) fn write_pool_stats(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.ops
            .write_pool_stats(f, self.name.to_str().unwrap_or("?"))
    }

    /// The largest single allocation the heap can give, 0 if unknown.
    pub(crate) fn max_alloc(&self) -> usize {
        self.ops.max_alloc()
    }

    /// The granule of the heap's buffers.
    pub(crate) fn chunk_size(&self) -> usize {
        self.ops.chunk_size()
    }
}

/// The pages of one buffer, given back to their heap on drop. The buffer
/// holds it in an `Arc`, and so do the tables of its attachments and its
/// kernel mapping, so the pages outlive every table and mapping; none of
/// them holds the buffer, so no cycle keeps a buffer alive.
///
/// Its drop gives the runs back with [`HeapOps::free`] (to the pools)
/// only once the buffer has reached userspace ([`Allocation::handed_out`]);
/// before that, with [`HeapOps::discard`].
///
/// # Invariants
///
/// `runs` were allocated by `heap` for `mode`, total `len` bytes, and
/// are owned by this value alone.
pub(crate) struct Allocation {
    heap: Arc<Heap>,
    runs: Runs,
    len: usize,
    mode: CacheMode,
    handed_out: Atomic<bool>,
    /// What the allocating task's dmem cgroup was charged; it drops after
    /// `drop` has given the runs back.
    _charge: Option<Charge>,
}

impl Allocation {
    /// The cache mode the pages were allocated for.
    pub(crate) fn mode(&self) -> CacheMode {
        self.mode
    }

    /// The heap the pages came from.
    pub(crate) fn heap(&self) -> &Heap {
        &self.heap
    }

    /// The runs, in order.
    pub(crate) fn runs(&self) -> &Runs {
        &self.runs
    }

    /// Records that the buffer has reached userspace: from now on the runs
    /// go back to the heap's pools when the pages drop.
    pub(crate) fn handed_out(&self) {
        self.handed_out.store(true, Relaxed);
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        self.heap.runs.add(-(self.runs.len() as i64), Relaxed);
        if self.handed_out.load(Relaxed) {
            self.heap.ops.free(&mut self.runs, self.mode);
        } else {
            self.heap.ops.discard(&mut self.runs, self.mode);
        }
        self.heap.bytes.add(-(self.len as i64), Relaxed);
        self.heap.buffers.add(-1, Relaxed);
    }
}

// SAFETY: The runs are this value's alone (invariant) and change only in
// `drop`; each run owns its pages (`Run::pages`), which stay allocated until
// the run drops.
unsafe impl Segments for Allocation {
    fn count(&self) -> usize {
        self.runs.len()
    }

    fn segment(&self, i: usize) -> Option<Contiguous<'_>> {
        self.runs.get(i).map(Run::pages)
    }
}

/// Writes `run` back from the CPU caches for `dev`, without changing its
/// contents: a map and an unmap towards the device, in pieces no larger
/// than `dev` maps at once, so that it also works where the DMA API
/// bounces (swiotlb).
pub(crate) fn write_back(dev: &Device<Bound>, run: Contiguous<'_>) -> Result {
    let seg = core::cmp::max(PAGE_SIZE, dma::max_mapping_size(dev) & !(PAGE_SIZE - 1));
    let mut off = 0;
    while off < run.len() {
        let size = core::cmp::min(seg, run.len() - off);
        let piece = run.slice(off, size).ok_or(EINVAL)?;
        drop(MappedRun::new(dev, piece, DataDirection::ToDevice)?);
        off += size;
    }
    Ok(())
}

/// The system heap alone (for the KUnit suites, which run before init).
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
pub(crate) fn system_heap(pools: system::PoolConfig, account: Account) -> Result<Arc<Heap>> {
    let ops = boxed(system::SystemHeap::new(pools, account)?)?;
    Heap::new(
        0,
        HeapType::System,
        names(c"ion_system_heap", c"system")?,
        ops,
    )
}

/// The dmem cgroup region of a heap of reserved memory, named
/// `dma_heap/<dma_name>`. A heap whose region cannot be registered (its
/// size is unknown, or the controller fails) still serves, uncharged, and
/// says so once.
fn dmem_region(name: &CStr, dma_name: &CStr, size: usize) -> Result<Option<Region>> {
    if !cfg!(CONFIG_CGROUP_DMEM) {
        return Ok(None);
    }
    if size == 0 {
        pr_info!(
            "{}: its size is unknown (no linux,cma-default node, no cma=), so it is no dmem cgroup region: its buffers are not charged\n",
            name
        );
        return Ok(None);
    }
    let region = CString::try_from_fmt(fmt!("dma_heap/{}", dma_name))?;
    Region::register(size as u64, &region).or_else(|e| {
        pr_info!(
            "{}: cannot register dmem cgroup region {} ({:?}): its buffers are not charged\n",
            name,
            &*region,
            e
        );
        Ok(None)
    })
}

/// A heap's Ion name and the name of its memory.
fn names(ion: &CStr, memory: &CStr) -> Result<(CString, CString)> {
    Ok((CString::try_from(ion)?, CString::try_from(memory)?))
}

/// `ops` boxed as a heap.
fn boxed<T: HeapOps + 'static>(ops: T) -> Result<KBox<dyn HeapOps>> {
    Ok(KBox::new(ops, GFP_KERNEL)?)
}

/// A heap that waits for its id: the device tree's heaps get theirs once
/// all of them are known.
struct Pending {
    ty: HeapType,
    /// The id the node asks for.
    id: Option<u32>,
    /// The first heap of its kind, which keeps the kind's id and name.
    first: bool,
    name: CString,
    /// The memory's name (see [`Heap::dma_name`]).
    dma_name: CString,
    /// The device-tree node, for messages.
    node: CString,
    ops: KBox<dyn HeapOps>,
}

impl Pending {
    /// The first heap of its kind, from no device-tree node (`carveout_cma_mb`,
    /// the default CMA area): the kind's id and legacy name.
    #[cfg_attr(
        not(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CMA)),
        allow(dead_code)
    )]
    fn legacy(
        ty: HeapType,
        (name, dma_name): (&CStr, &CStr),
        source: &CStr,
        ops: KBox<dyn HeapOps>,
    ) -> Result<Self> {
        Ok(Self {
            ty,
            id: None,
            first: true,
            name: CString::try_from(name)?,
            dma_name: CString::try_from(dma_name)?,
            node: CString::try_from(source)?,
            ops,
        })
    }
}

/// A heap name from a node name: `camera-carveout@0` is
/// `camera_carveout_heap`.
#[cfg(any(
    CONFIG_ION_RS_HEAP_CARVEOUT,
    CONFIG_ION_RS_HEAP_CHUNK,
    CONFIG_ION_RS_HEAP_CMA
))]
fn name_from_node(node: &CStr) -> Result<CString> {
    let bytes = node.to_bytes();
    let base = bytes.split(|&b| b == b'@').next().unwrap_or(bytes);
    let mut v = KVec::with_capacity(base.len() + 6, GFP_KERNEL)?;
    for &b in base {
        v.push(if b == b'-' { b'_' } else { b }, GFP_KERNEL)?;
    }
    if !v.ends_with(b"_heap") {
        v.extend_from_slice(b"_heap", GFP_KERNEL)?;
    }
    v.push(0, GFP_KERNEL)?;
    Ok(CString::try_from(
        CStr::from_bytes_with_nul(&v).map_err(|_| EINVAL)?,
    )?)
}

/// Reads the nodes compatible with `compatible` as heaps of type `ty`
/// (`make` builds one from a node, or says why it cannot) into `pending`;
/// returns whether there was any node at all.
#[cfg(any(
    CONFIG_ION_RS_HEAP_CARVEOUT,
    CONFIG_ION_RS_HEAP_CHUNK,
    CONFIG_ION_RS_HEAP_CMA
))]
fn dt_heaps<T: HeapOps + 'static>(
    pending: &mut KVec<Pending>,
    compatible: &CStr,
    (ty, legacy): (HeapType, &CStr),
    make: impl Fn(dt::Node) -> core::result::Result<T, (Error, &'static str)>,
) -> Result<bool> {
    let (nodes, any) = dt::nodes(compatible)?;
    let mut first = true;
    for mut n in nodes {
        let (node, name, id) = (CString::try_from(&*n.node)?, n.name.take(), n.id);
        let dma_name = CString::try_from(&*n.memory)?;
        let ops = match make(n) {
            Ok(o) => o,
            Err((e, why)) => {
                pr_warn!("{} {}: skipped: {} ({:?})\n", compatible, &*node, why, e);
                continue;
            }
        };
        let name = match name {
            Some(name) => name,
            None if first => CString::try_from(legacy)?,
            None => name_from_node(&node)?,
        };
        pending.push(
            Pending {
                ty,
                id,
                first,
                name,
                dma_name,
                node,
                ops: boxed(ops)?,
            },
            GFP_KERNEL,
        )?;
        first = false;
    }
    Ok(any)
}

/// Gives every pending heap an id and registers it. Ids are unique and
/// below 32: first the ids that nodes ask for, then the first heap of each
/// kind keeps its kind's id (carveout 2, chunk 3, CMA 4, as old userspace
/// expects), and the others take the lowest free id. A node whose id or
/// name is taken is skipped with a line in the log.
fn assign_and_add(heaps: &mut KVec<Arc<Heap>>, pending: KVec<Pending>) -> Result {
    let mut used = heaps.iter().fold(0u32, |m, h| m | (1 << h.id));
    let mut ids = KVec::with_capacity(pending.len(), GFP_KERNEL)?;
    for p in pending.iter() {
        let id = match p.id {
            Some(id) if id < crate::uapi::ION_NUM_HEAP_IDS && used & (1 << id) == 0 => {
                used |= 1 << id;
                Ok(Some(id))
            }
            Some(id) => Err(id),
            None => Ok(None),
        };
        ids.push(id, GFP_KERNEL)?;
    }
    for (p, id) in pending.iter().zip(ids.iter_mut()) {
        let want = p.ty as u32;
        if p.first && matches!(id, Ok(None)) && used & (1 << want) == 0 {
            used |= 1 << want;
            *id = Ok(Some(want));
        }
    }
    for id in ids.iter_mut() {
        if matches!(id, Ok(None)) {
            let free = (!used).trailing_zeros();
            if free < crate::uapi::ION_NUM_HEAP_IDS {
                used |= 1 << free;
                *id = Ok(Some(free));
            }
        }
    }
    for (p, id) in pending.into_iter().zip(ids.iter()) {
        let id = match id {
            Ok(Some(id)) => *id,
            Ok(None) => {
                pr_warn!("{}: skipped: no free heap id\n", &*p.node);
                continue;
            }
            Err(id) => {
                pr_warn!(
                    "{}: skipped: heap id {} is taken or not below 32\n",
                    &*p.node,
                    id
                );
                continue;
            }
        };
        if heaps.iter().any(|h| h.name.to_bytes() == p.name.to_bytes()) {
            pr_warn!("{}: skipped: heap name {} is taken\n", &*p.node, &*p.name);
            continue;
        }
        add(heaps, Heap::new(id, p.ty, (p.name, p.dma_name), p.ops)?)?;
    }
    Ok(())
}

/// Creates every heap that this build has and the machine can back,
/// highest id first (the order in which ALLOC tries them): system (0) and
/// system-contig (1), then one heap per device-tree node (see `dt`). A heap
/// whose memory is absent is not registered; that is no error, and neither
/// is a node that cannot back a heap. `carveout_cma` bytes of the default
/// CMA area make the carveout heap instead of the device tree's nodes; the
/// CMA heap uses the default area when no `rust-ion,cma` node exists.
pub(crate) fn create_all(p: &Params) -> Result<KVec<Arc<Heap>>> {
    let mut heaps = KVec::new();
    let mut pending = KVec::new();
    // A build without some heaps reads neither all of `p` nor writes
    // `pending` before handing it on.
    let _ = (p, &mut pending);
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    add(&mut heaps, system_heap(p.pools, p.account)?)?;
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
    add(
        &mut heaps,
        Heap::new(
            1,
            HeapType::SystemContig,
            names(c"ion_system_contig_heap", c"system-contiguous")?,
            boxed(system_contig::SystemContigHeap { account: p.account })?,
        )?,
    )?;
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    if p.carveout_cma >= kernel::page::PAGE_SIZE {
        let ops = boxed(carveout::CarveoutHeap::from_cma(p.carveout_cma)?)?;
        pending.push(
            Pending::legacy(
                HeapType::Carveout,
                (c"ion_carveout_heap", c"reserved"),
                c"carveout_cma_mb",
                ops,
            )?,
            GFP_KERNEL,
        )?;
    } else {
        dt_heaps(
            &mut pending,
            c"rust-ion,carveout",
            (HeapType::Carveout, c"ion_carveout_heap"),
            |n| carveout::CarveoutHeap::from_node(n).map_err(|e| (e, "cannot manage the region")),
        )?;
    }
    #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
    dt_heaps(
        &mut pending,
        c"rust-ion,chunk",
        (HeapType::Chunk, c"ion_chunk_heap"),
        chunk::ChunkHeap::from_node,
    )?;
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    {
        let any = dt_heaps(
            &mut pending,
            c"rust-ion,cma",
            (HeapType::Dma, c"ion_cma_heap"),
            |n| cma::CmaHeap::new(n.cma, n.size).ok_or((ENODEV, "no CMA area")),
        )?;
        if !any {
            if let Some(h) = cma::CmaHeap::default_area() {
                let ops = boxed(h)?;
                pending.push(
                    Pending::legacy(
                        HeapType::Dma,
                        (c"ion_cma_heap", c"default_cma_region"),
                        c"default CMA area",
                        ops,
                    )?,
                    GFP_KERNEL,
                )?;
            }
        }
    }
    assign_and_add(&mut heaps, pending)?;
    Ok(heaps)
}

/// What the module parameters say about the heaps.
pub(crate) struct Params {
    /// Bytes of CMA to back the carveout heap with instead of the device
    /// tree's region (0: use the device tree).
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    pub(crate) carveout_cma: usize,
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    pub(crate) pools: system::PoolConfig,
    /// Whether the system heaps charge memory cgroups.
    pub(crate) account: Account,
}

/// Inserts `heap` keeping `heaps` sorted by id, highest first.
fn add(heaps: &mut KVec<Arc<Heap>>, heap: Arc<Heap>) -> Result {
    let at = heaps
        .iter()
        .position(|h| h.id < heap.id)
        .unwrap_or(heaps.len());
    heaps.reserve(1, GFP_KERNEL)?;
    heaps.insert_within_capacity(at, heap).map_err(|_| ENOMEM)
}
