// SPDX-License-Identifier: GPL-2.0

//! Heaps: each hands out runs of zeroed pages and takes them back. None of
//! them touches dma-buf; `buffer` and `dma_buf_ops` do that for all heaps.

#[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
mod carveout;
#[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
mod chunk;
#[cfg(CONFIG_ION_RS_HEAP_CMA)]
mod cma;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
mod page_pool;
#[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
mod pool;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
pub(crate) mod system;
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
mod system_contig;

use crate::sg::{Chunk, Chunks};
use kernel::{
    prelude::*,
    str::CStr,
    sync::{atomic::Atomic, atomic::Relaxed, Arc},
};

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
    /// [`HeapOps::max_alloc`] when that is known), written for a cached
    /// (`cached`) or an uncached buffer. A heap may round up (the chunk
    /// heap does); the runs say what it gave.
    fn allocate(&self, len: usize, cached: bool) -> Result<Chunks>;

    /// Takes back every run of `chunks`, which came from
    /// [`HeapOps::allocate`] on this heap with the same `cached`, and
    /// leaves `chunks` empty.
    fn free(&self, chunks: &mut Chunks, cached: bool);

    /// The largest single allocation the heap can give, 0 if unknown.
    fn max_alloc(&self) -> usize;

    /// The granule of the heap's buffers.
    fn chunk_size(&self) -> usize {
        kernel::page::PAGE_SIZE
    }

    /// Empties the heap's page pools, if it has any.
    fn drain(&self) {}

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
    pub(crate) name: &'static CStr,
    /// Bytes in live buffers.
    pub(crate) bytes: Atomic<i64>,
    /// Live buffers.
    pub(crate) buffers: Atomic<i64>,
    /// Physically contiguous runs held by live buffers.
    pub(crate) runs: Atomic<i64>,
    ops: KBox<dyn HeapOps>,
}

impl Heap {
    fn new(
        id: u32,
        ty: HeapType,
        name: &'static CStr,
        ops: KBox<dyn HeapOps>,
    ) -> Result<Arc<Self>> {
        if id >= crate::uapi::ION_NUM_HEAP_IDS {
            return Err(EINVAL);
        }
        Ok(Arc::new(
            Heap {
                id,
                ty,
                name,
                bytes: Atomic::new(0),
                buffers: Atomic::new(0),
                runs: Atomic::new(0),
                ops,
            },
            GFP_KERNEL,
        )?)
    }

    /// Allocates zeroed pages for `len` bytes (a multiple of `PAGE_SIZE`).
    ///
    /// A length above what the heap can ever give is `ENOMEM` before the
    /// heap sees it, so that no heap sizes its metadata from an absurd
    /// length (a warning from the page allocator is a crash under
    /// `panic_on_warn`).
    pub(crate) fn allocate(self: &Arc<Self>, len: usize, flags: u32) -> Result<Pages> {
        let cached = flags & crate::uapi::ION_FLAG_CACHED != 0;
        let max = self.ops.max_alloc();
        if max != 0 && len > max {
            return Err(ENOMEM);
        }
        let chunks = self.ops.allocate(len, cached)?;
        // What the heap really gave out (a chunk heap rounds up to chunks).
        let len = chunks.iter().map(|c| c.len).sum();
        self.bytes.add(len as i64, Relaxed);
        self.buffers.add(1, Relaxed);
        self.runs.add(chunks.len() as i64, Relaxed);
        Ok(Pages {
            heap: self.clone(),
            chunks,
            len,
            cached,
        })
    }

    /// Empties the heap's page pools, if it has any.
    pub(crate) fn drain(&self) {
        self.ops.drain();
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

/// The pages of one buffer, given back to their heap on drop.
///
/// # Invariants
///
/// `chunks` were allocated by `heap`, total `len` bytes, and are owned by
/// this value alone.
pub(crate) struct Pages {
    heap: Arc<Heap>,
    chunks: Chunks,
    len: usize,
    cached: bool,
}

// SAFETY: The chunks are owned pages that any thread may free; the raw page
// pointers are not shared outside this value and the tables built from it.
unsafe impl Send for Pages {}
// SAFETY: Shared access only reads the chunk list.
unsafe impl Sync for Pages {}

impl Pages {
    pub(crate) fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.heap.runs.add(-(self.chunks.len() as i64), Relaxed);
        self.heap.ops.free(&mut self.chunks, self.cached);
        self.heap.bytes.add(-(self.len as i64), Relaxed);
        self.heap.buffers.add(-1, Relaxed);
    }
}

/// The system heap alone (for the KUnit suites, which run before init).
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
pub(crate) fn system_heap(pools: system::PoolConfig) -> Result<Arc<Heap>> {
    let ops = boxed(system::SystemHeap::new(pools)?)?;
    Heap::new(0, HeapType::System, c"ion_system_heap", ops)
}

/// Registers `ops` as the heap `(id, type, name)` if it has memory here
/// (`Some`); `None` is a heap whose memory this machine does not have.
#[cfg_attr(
    not(any(
        CONFIG_ION_RS_HEAP_SYSTEM_CONTIG,
        CONFIG_ION_RS_HEAP_CARVEOUT,
        CONFIG_ION_RS_HEAP_CHUNK,
        CONFIG_ION_RS_HEAP_CMA
    )),
    allow(dead_code)
)]
fn register<T: HeapOps + 'static>(
    heaps: &mut KVec<Arc<Heap>>,
    (id, ty, name): (u32, HeapType, &'static CStr),
    ops: Option<T>,
) -> Result {
    match ops {
        Some(o) => add(heaps, Heap::new(id, ty, name, boxed(o)?)?),
        None => Ok(()),
    }
}

/// `ops` boxed as a heap.
fn boxed<T: HeapOps + 'static>(ops: T) -> Result<KBox<dyn HeapOps>> {
    Ok(KBox::new(ops, GFP_KERNEL)?)
}

/// Creates every heap that this build has and the machine can back,
/// highest id first (the order in which ALLOC tries them). A heap whose
/// memory is absent (no reserved-memory node, no CMA area) is not
/// registered; that is no error. `carveout_cma` bytes of the default CMA
/// area back the carveout heap on a board whose device tree has no
/// carveout.
pub(crate) fn create_all(p: &Params) -> Result<KVec<Arc<Heap>>> {
    let mut heaps = KVec::new();
    let _ = p;
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    add(&mut heaps, system_heap(p.pools)?)?;
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
    register(
        &mut heaps,
        (1, HeapType::SystemContig, c"ion_system_contig_heap"),
        Some(system_contig::SystemContigHeap),
    )?;
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    register(
        &mut heaps,
        (2, HeapType::Carveout, c"ion_carveout_heap"),
        carveout::CarveoutHeap::probe(p.carveout_cma)?,
    )?;
    #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
    register(
        &mut heaps,
        (3, HeapType::Chunk, c"ion_chunk_heap"),
        chunk::ChunkHeap::probe()?,
    )?;
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    register(
        &mut heaps,
        (4, HeapType::Dma, c"ion_cma_heap"),
        cma::CmaHeap::probe(),
    )?;
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
