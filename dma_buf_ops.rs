// SPDX-License-Identifier: GPL-2.0

//! The dma-buf exporter: [`Buffer`] as an [`Exporter`], in safe code. The
//! `struct dma_buf_ops` and its trampolines are generated from this by
//! `abstractions::dma_buf`.

use crate::{
    abstractions::{
        dma_buf::{self, Attachment, DmaBuf, Exporter},
        scatterlist::{MapResult, MappedSgTable, SgTable, SyncFor},
    },
    buffer::Buffer,
};
use core::ptr::NonNull;
use kernel::{
    device::Device,
    dma::DataDirection,
    ffi::c_void,
    mm::virt::VmaNew,
    prelude::*,
    str::CStr,
    sync::{Arc, ArcBorrow},
};

impl Exporter for Buffer {
    type Pages = Arc<Buffer>;

    /// The heap's memory name, on both faces (as the kernel's heaps report
    /// `dma_heap_get_name`): what `dmabuf_dump` totals by.
    fn exp_name(&self) -> &CStr {
        &self.heap().dma_name
    }

    fn attach(this: ArcBorrow<'_, Self>, _dev: &Device) -> Result<SgTable<Arc<Buffer>>> {
        Buffer::attach(this)
    }

    fn attached(&self, a: &Arc<Attachment<Self>>) -> Result {
        Buffer::attached(self, a)
    }

    fn detach(&self, a: &Arc<Attachment<Self>>) {
        Buffer::detach(self, a);
    }

    fn map(
        &self,
        dev: &Device,
        table: SgTable<Arc<Buffer>>,
        dir: DataDirection,
    ) -> MapResult<Arc<Buffer>> {
        Buffer::map(
            self,
            dev,
            table,
            dir,
            self.map_attrs(crate::abstractions::dma::no_attrs()),
        )
    }

    fn unmap(&self, mapped: MappedSgTable<Arc<Buffer>>) -> SgTable<Arc<Buffer>> {
        Buffer::unmap(self, mapped)
    }

    fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        self.cpu_access(SyncFor::Cpu, dir);
        Ok(())
    }

    fn end_cpu_access(&self, dir: DataDirection) -> Result {
        self.cpu_access(SyncFor::Device, dir);
        Ok(())
    }

    fn mmap(&self, vma: &VmaNew) -> Result {
        Buffer::mmap(self, vma)
    }

    fn vmap(&self) -> Result<NonNull<c_void>> {
        Buffer::vmap(self)
    }

    fn vunmap(&self) {
        Buffer::vunmap(self);
    }
}

/// Exports `buffer` as a new dma-buf whose file has `file_flags` (the
/// access mode, and `O_CLOEXEC` as the fd will have it).
pub(crate) fn export(buffer: Arc<Buffer>, file_flags: u32) -> Result<DmaBuf<Buffer>> {
    let size = buffer.len();
    dma_buf::export(
        buffer,
        kernel::module::this_module::<crate::LocalModule>(),
        size,
        file_flags,
    )
}
