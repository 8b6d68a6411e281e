// SPDX-License-Identifier: GPL-2.0

//! Heaps: each hands out runs of zeroed pages and takes them back. None of
//! them touches dma-buf; `buffer` and `dma_buf_ops` do that for all heaps.

#[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
pub(crate) mod system;

use crate::sg::Chunk;
use kernel::{
    prelude::*,
    str::CStr,
    sync::{atomic::Atomic, atomic::Relaxed, Arc},
};

/// Heap types of the UAPI (`enum ion_heap_type`). Ids equal types for the
/// standard heaps.
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
                kind,
            },
            GFP_KERNEL,
        )?)
    }

    /// Allocates zeroed pages for `len` bytes (a multiple of `PAGE_SIZE`).
    pub(crate) fn allocate(self: &Arc<Self>, len: usize, flags: u32) -> Result<Pages> {
        let chunks = match &self.kind {
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Kind::System(h) => h.allocate(len, flags)?,
        };
        self.bytes.add(len as i64, Relaxed);
        self.buffers.add(1, Relaxed);
        Ok(Pages {
            heap: self.clone(),
            chunks,
            len,
        })
    }

    fn free(&self, chunks: &mut KVec<Chunk>) {
        match &self.kind {
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            Kind::System(h) => h.free(chunks),
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
        self.heap.free(&mut self.chunks);
        self.heap.bytes.add(-(self.len as i64), Relaxed);
        self.heap.buffers.add(-1, Relaxed);
    }
}

/// Creates every heap that this build has and the machine can back,
/// highest id first (the order in which ALLOC tries them).
pub(crate) fn create_all() -> Result<KVec<Arc<Heap>>> {
    let mut heaps = KVec::new();
    #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
    add(
        &mut heaps,
        Heap::new(
            0,
            HeapType::System,
            c"ion_system_heap",
            Kind::System(system::SystemHeap),
        )?,
    )?;
    Ok(heaps)
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
