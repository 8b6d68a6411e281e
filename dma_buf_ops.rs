// SPDX-License-Identifier: GPL-2.0

//! The dma-buf exporter: [`Buffer`] as an [`Exporter`], in safe code. The
//! `struct dma_buf_ops` and its trampolines are generated from this by
//! `abstractions::dma_buf`.

use crate::{
    abstractions::{
        dma,
        dma_buf::{self, Attachment, DmaBuf, Exporter},
        scatterlist::{MappedSgTable, SyncFor},
        vmalloc::VMap,
    },
    buffer::{Buffer, Pages},
};
use kernel::{
    device::{Bound, Device},
    dma::DataDirection,
    mm::virt::VmaNew,
    prelude::*,
    str::CStr,
    sync::{aref::ARef, Arc},
};

#[vtable]
impl Exporter for Buffer {
    type Pages = Pages;

    /// The heap's memory name, on both faces (as the kernel's heaps report
    /// `dma_heap_get_name`): what `dmabuf_dump` totals by.
    fn exp_name(&self) -> &CStr {
        &self.heap().dma_name
    }

    fn attach(&self, a: &Arc<Attachment<Self>>) -> Result {
        Buffer::attach(self, a)
    }

    fn detach(&self, a: &Arc<Attachment<Self>>) {
        Buffer::detach(self, a);
    }

    fn map<'a>(
        &self,
        dev: &'a Device<Bound>,
        mapped: usize,
        dir: DataDirection,
    ) -> Result<MappedSgTable<'a, Pages>> {
        // No attribute is requested: mainline has no per-attachment ones.
        Buffer::map(self, dev, mapped, dir, self.map_attrs(dma::no_attrs()))
    }

    fn unmap(&self, mapped: MappedSgTable<'_, Pages>) {
        Buffer::unmap(mapped);
    }

    fn begin_cpu_access(&self, dir: DataDirection, vmap: Option<&VMap<Pages>>) -> Result {
        self.cpu_access(SyncFor::Cpu, dir, vmap);
        Ok(())
    }

    fn end_cpu_access(&self, dir: DataDirection, vmap: Option<&VMap<Pages>>) -> Result {
        self.cpu_access(SyncFor::Device, dir, vmap);
        Ok(())
    }

    fn mmap(&self, vma: &VmaNew) -> Result {
        Buffer::mmap(self, vma)
    }

    fn vmap(&self) -> Result<VMap<Pages>> {
        Buffer::vmap(self)
    }

    fn vunmap(&self, map: VMap<Pages>) {
        Buffer::vunmap(self, map);
    }
}

/// Exports a new buffer of `len` bytes (as asked for) over `pages` as a
/// dma-buf whose file has `file_flags` (the access mode, and `O_CLOEXEC`
/// as the fd will have it).
pub(crate) fn export(pages: Pages, len: usize, file_flags: u32) -> Result<ARef<DmaBuf<Buffer>>> {
    dma_buf::export(
        Buffer::new(pages),
        kernel::module::this_module::<crate::LocalModule>(),
        len,
        file_flags,
    )
}
