// SPDX-License-Identifier: GPL-2.0

//! The chunk heap: a reserved region (`rust-ion,chunk`) cut into chunks of
//! a fixed size, a power of two of at least a page (`rust-ion,chunk-size`,
//! 64 KiB if absent). A buffer is as many chunks as it needs, wherever
//! they are; chunks are zeroed when freed.

use super::{pool::Region, CacheMode, HeapOps, Runs};

use kernel::{page::PAGE_SIZE, prelude::*};

/// The chunk size when the node does not say.
const DEFAULT_CHUNK: usize = kernel::sizes::SZ_64K;

pub(crate) struct ChunkHeap {
    region: Region,
    chunk: usize,
}

impl ChunkHeap {
    /// The heap over a `rust-ion,chunk` node's region. A chunk size that
    /// is not a power of two of at least a page, or a region smaller than
    /// one chunk, is `EINVAL` with the reason.
    pub(crate) fn from_node(node: super::dt::Node) -> Result<Self, (Error, &'static str)> {
        let chunk = match node.chunk_size {
            0 => DEFAULT_CHUNK,
            n => n as usize,
        };
        if !chunk.is_power_of_two() || chunk < PAGE_SIZE {
            return Err((
                EINVAL,
                "chunk size is not a power of two of at least a page",
            ));
        }
        if node.size < chunk {
            return Err((EINVAL, "region smaller than one chunk"));
        }
        let backing = node.claim().map_err(|e| (e, "cannot claim the region"))?;
        let region = Region::new(backing, chunk.trailing_zeros())
            .map_err(|e| (e, "cannot manage the region"))?;
        Ok(Self { region, chunk })
    }
}

impl HeapOps for ChunkHeap {
    fn max_alloc(&self) -> usize {
        self.region.size()
    }

    fn reserved(&self) -> Option<usize> {
        Some(self.region.size())
    }

    fn chunk_size(&self) -> usize {
        self.chunk
    }

    /// `len` is at most the region's size (`Heap::allocate` checks it
    /// against `max_alloc`), so the list below is never absurdly long.
    fn allocate(&self, len: usize, _mode: CacheMode) -> Result<Runs> {
        // `chunk` is a power of two (checked at probe): shift and mask, so
        // that no division (and no panic path for a zero divisor) is here.
        let n = (len >> self.chunk.trailing_zeros())
            + usize::from(len & self.chunk.wrapping_sub(1) != 0);
        self.region.take(n, self.chunk)
    }
}
