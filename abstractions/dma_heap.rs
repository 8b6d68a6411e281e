// SPDX-License-Identifier: GPL-2.0

//! DMA-buf heaps: allocators under `/dev/dma_heap/`.
//!
//! C header: [`include/linux/dma-heap.h`](srctree/include/linux/dma-heap.h)
//!
//! 7.3 cannot remove a dma-heap: the core keeps its name, its ops and its
//! private data for the life of the kernel. [`add`] is honest about that.
//! The heap and its name become `'static` (they are leaked), and it takes
//! a [`ModulePin`] that it never lets go, so that rmmod is refused rather
//! than leaving a heap whose code is gone. When to pin, and whether to add
//! heaps at all, is the caller's decision.

use super::{
    dma_buf::{DmaBuf, Exporter},
    helpers,
};
use core::marker::PhantomData;
use kernel::{bindings, ffi::c_ulong, prelude::*, str::CString, sync::aref::ARef, ThisModule};

/// A heap that allocates dma-bufs.
pub(crate) trait Heap: Send + Sync + 'static {
    /// The buffers the heap exports.
    type Buffer: Exporter;

    /// A new buffer of `len` bytes (page-aligned and not zero, checked by
    /// the core), whose file gets `fd_flags` (`O_ACCMODE` and `O_CLOEXEC`
    /// bits only, checked by the core). `heap_flags` is zero today.
    fn allocate(
        &self,
        len: usize,
        fd_flags: u32,
        heap_flags: u64,
    ) -> Result<ARef<DmaBuf<Self::Buffer>>>;
}

/// The kernel's `dma_heap.mem_accounting` switch: whether heaps charge
/// their buffers to the allocating task's memory cgroup. It is set on the
/// command line and read-only after boot.
pub(crate) fn mem_accounting() -> bool {
    // SAFETY: A `bool` module parameter with mode 0444: written once while
    // the kernel parses its command line, before any module loads.
    unsafe { helpers::mem_accounting }
}

/// A reference on a module that its holder owns: the module stays loaded
/// while the value lives, and [`add`] keeps it for good.
///
/// # Invariants
///
/// This value owns one reference on `module`, put on drop.
pub(crate) struct ModulePin {
    module: &'static ThisModule,
}

impl ModulePin {
    /// Takes a reference on `module` (`__module_get`).
    pub(crate) fn new(module: &'static ThisModule) -> Self {
        // SAFETY: The module is live (the `'static` reference, from code of
        // the module itself).
        unsafe { bindings::__module_get(module.as_ptr()) };
        // INVARIANT: The reference taken above.
        Self { module }
    }
}

impl Drop for ModulePin {
    fn drop(&mut self) {
        // SAFETY: The reference this value owns (invariant), put once.
        unsafe { bindings::module_put(self.module.as_ptr()) };
    }
}

/// Adds `heap` as `/dev/dma_heap/<name>`, for good.
///
/// 7.3 cannot remove a dma-heap, so the code of `H` must stay: `pin` is
/// the reference on the module that holds it, and on success it is never
/// put, nor are the heap and its name freed; the heap is returned as
/// `'static`. A name that a heap already has is refused by the core
/// (`EEXIST`, after it created and removed a device of that name). On
/// failure the heap, the name and the pin come back to the caller's drop.
pub(crate) fn add<H: Heap>(pin: ModulePin, name: CString, heap: KBox<H>) -> Result<&'static H> {
    let heap = KBox::into_raw(heap);
    let info = helpers::DmaHeapExportInfo {
        name: name.as_char_ptr(),
        ops: &Vtable::<H>::OPS,
        priv_: heap.cast(),
    };
    // SAFETY: `info` is fully set; on success the core keeps `name`, the
    // ops and `heap` for good, which the leaks below make true, and `pin`
    // keeps the ops' module loaded.
    let r = unsafe { helpers::dma_heap_add(&info) };
    if let Err(e) = kernel::error::from_err_ptr(r) {
        // SAFETY: Not added: the core kept nothing; the box is ours again.
        drop(unsafe { KBox::from_raw(heap) });
        return Err(e);
    }
    core::mem::forget(name);
    core::mem::forget(pin);
    // SAFETY: The heap is never freed from here on (leaked above).
    Ok(unsafe { &*heap })
}

/// The generated `struct dma_heap_ops` of `H`.
struct Vtable<H: Heap>(PhantomData<H>);

impl<H: Heap> Vtable<H> {
    const OPS: helpers::DmaHeapOps = helpers::DmaHeapOps {
        allocate: Some(Self::allocate),
    };

    /// # Safety
    ///
    /// Called by the dma-heap core only, on a heap added by [`add`], with
    /// arguments it has checked.
    unsafe extern "C" fn allocate(
        heap: *mut helpers::DmaHeap,
        len: c_ulong,
        fd_flags: u32,
        heap_flags: u64,
    ) -> *mut bindings::dma_buf {
        // SAFETY: The heap's private data is the leaked `H` from `add`.
        let h = unsafe { &*helpers::dma_heap_get_drvdata(heap).cast::<H>() };
        match h.allocate(len, fd_flags, heap_flags) {
            Ok(b) => DmaBuf::into_raw(b),
            Err(e) => e.to_ptr(),
        }
    }
}
