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

use crate::sg::Chunk;
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

/// What a heap does: hand out pages and take them back.
enum Kind {
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    System(system::SystemHeap),
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
    SystemContig(system_contig::SystemContigHeap),
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    Carveout(carveout::CarveoutHeap),
    #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
    Chunk(chunk::ChunkHeap),
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    Cma(cma::CmaHeap),
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
    kind: Kind,
}

impl Heap {
    fn new(id: u32, ty: HeapType, name: &'static CStr, kind: Kind) -> Result<Arc<Self>> {
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
                kind,
            },
            GFP_KERNEL,
        )?)
    }

    /// Allocates zeroed pages for `len` bytes (a multiple of `PAGE_SIZE`).
    pub(crate) fn allocate(self: &Arc<Self>, len: usize, flags: u32) -> Result<Pages> {
        let cached = flags & crate::buffer::ION_FLAG_CACHED != 0;
        let chunks = match &self.kind {
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Kind::System(h) => h.allocate(len, cached)?,
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
            Kind::SystemContig(h) => h.allocate(len)?,
            #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
            Kind::Carveout(h) => h.allocate(len)?,
            #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
            Kind::Chunk(h) => h.allocate(len)?,
            #[cfg(CONFIG_ION_RS_HEAP_CMA)]
            Kind::Cma(h) => h.allocate(len)?,
        };
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

    fn free(&self, chunks: &mut KVec<Chunk>, cached: bool) {
        let _ = cached;
        match &self.kind {
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Kind::System(h) => h.free(chunks, cached),
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
            Kind::SystemContig(h) => h.free(chunks),
            #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
            Kind::Carveout(h) => h.free(chunks),
            #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
            Kind::Chunk(h) => h.free(chunks),
            #[cfg(CONFIG_ION_RS_HEAP_CMA)]
            Kind::Cma(h) => h.free(chunks),
        }
    }

    /// Empties the heap's page pools, if it has any.
    pub(crate) fn drain(&self) {
        #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
        if let Kind::System(h) = &self.kind {
            h.drain();
        }
    }

    /// Writes the heap's pool statistics, if it has pools.
    pub(crate) fn write_pool_stats(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
        if let Kind::System(h) = &self.kind {
            return h.write_stats(f, self.name.to_str().unwrap_or("?"));
        }
        let _ = f;
        Ok(())
    }

    /// The largest single allocation the heap can give, 0 if unknown.
    pub(crate) fn max_alloc(&self) -> usize {
        match &self.kind {
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Kind::System(_) => system::max_alloc(),
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
            Kind::SystemContig(_) => system_contig::SystemContigHeap::max_alloc(),
            #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
            Kind::Carveout(h) => h.max_alloc(),
            #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
            Kind::Chunk(h) => h.max_alloc(),
            #[cfg(CONFIG_ION_RS_HEAP_CMA)]
            Kind::Cma(_) => 0,
        }
    }

    /// The granule of the heap's buffers.
    pub(crate) fn chunk_size(&self) -> usize {
        match &self.kind {
            #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
            Kind::Chunk(h) => h.chunk_size(),
            _ => kernel::page::PAGE_SIZE,
        }
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
    chunks: KVec<Chunk>,
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
        self.heap.free(&mut self.chunks, self.cached);
        self.heap.bytes.add(-(self.len as i64), Relaxed);
        self.heap.buffers.add(-1, Relaxed);
    }
}

/// The system heap alone (for the KUnit suites, which run before init).
#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
pub(crate) fn system_heap(pools: system::PoolConfig) -> Result<Arc<Heap>> {
    let kind = Kind::System(system::SystemHeap::new(pools)?);
    Heap::new(0, HeapType::System, c"ion_system_heap", kind)
}

/// Creates every heap that this build has and the machine can back,
/// highest id first (the order in which ALLOC tries them). A heap whose
/// memory is absent (no reserved-memory node, no CMA area) is not
/// registered; that is no error. `carveout_cma` bytes of CMA back the
/// carveout heap on a board whose device tree has no carveout.
pub(crate) fn create_all(p: &Params) -> Result<KVec<Arc<Heap>>> {
    let mut heaps = KVec::new();
    let _ = p;
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    add(&mut heaps, system_heap(p.pools)?)?;
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM_CONTIG)]
    add(
        &mut heaps,
        Heap::new(
            1,
            HeapType::SystemContig,
            c"ion_system_contig_heap",
            Kind::SystemContig(system_contig::SystemContigHeap),
        )?,
    )?;
    #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
    if let Some(h) = carveout::CarveoutHeap::probe(p.carveout_cma)? {
        let kind = Kind::Carveout(h);
        add(
            &mut heaps,
            Heap::new(2, HeapType::Carveout, c"ion_carveout_heap", kind)?,
        )?;
    }
    #[cfg(CONFIG_ION_RS_HEAP_CHUNK)]
    if let Some(h) = chunk::ChunkHeap::probe()? {
        add(
            &mut heaps,
            Heap::new(3, HeapType::Chunk, c"ion_chunk_heap", Kind::Chunk(h))?,
        )?;
    }
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    if let Some(h) = cma::CmaHeap::probe() {
        add(
            &mut heaps,
            Heap::new(4, HeapType::Dma, c"ion_cma_heap", Kind::Cma(h))?,
        )?;
    }
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
