// SPDX-License-Identifier: GPL-2.0

//! DMA-buf heaps: allocators under `/dev/dma_heap/`.
//!
//! C header: [`include/linux/dma-heap.h`](srctree/include/linux/dma-heap.h)
//!
//! 7.3 cannot remove a dma-heap: the core keeps its name, its ops and its
//! private data for the life of the kernel. [`add`] is honest about that.
//! The heap and its name become `'static` (they are leaked), and each heap
//! added takes a reference on its module that is never put, so that rmmod
//! is refused rather than leaving a heap whose code is gone.

use super::{
    dma_buf::{DmaBuf, Exporter},
    helpers,
};
use core::marker::PhantomData;
use kernel::{
    bindings,
    ffi::c_ulong,
    prelude::*,
    str::{CStr, CString},
    ThisModule,
};

/// A heap that allocates dma-bufs.
pub(crate) trait Heap: Send + Sync + 'static {
    /// The buffers the heap exports.
    type Buffer: Exporter;

    /// A new buffer of `len` bytes (page-aligned and not zero, checked by
    /// the core), whose file gets `fd_flags` (`O_ACCMODE` and `O_CLOEXEC`
    /// bits only, checked by the core). `heap_flags` is zero today.
    fn allocate(&self, len: usize, fd_flags: u32, heap_flags: u64) -> Result<DmaBuf<Self::Buffer>>;
}

/// The kernel's `dma_heap.mem_accounting` switch: whether heaps charge
/// their buffers to the allocating task's memory cgroup. It is set on the
/// command line and read-only after boot.
pub(crate) fn mem_accounting() -> bool {
    // SAFETY: A `bool` module parameter with mode 0444: written once while
    // the kernel parses its command line, before any module loads.
    unsafe { helpers::mem_accounting }
}

/// Whether a dma-heap named `name` exists already, whoever added it: its
/// class device in sysfs (`/sys/class/dma_heap/<name>`).
///
/// 7.3 exports no lookup, and `dma_heap_add` of a taken name creates the
/// device before it compares names, so sysfs reports the duplicate with a
/// stack dump before the add fails: [`add`] asks here first. Where sysfs
/// is not mounted for the caller (a kernel thread resolves paths from the
/// kernel's first root), the answer is "no".
pub(crate) fn name_taken(name: &CStr) -> bool {
    let Ok(path) = CString::try_from_fmt(fmt!("/sys/class/dma_heap/{}", name)) else {
        return false;
    };
    let mut p: bindings::path = pin_init::zeroed();
    // SAFETY: `path` is a C string; `p` is written on success and then
    // holds references that `path_put` drops.
    if unsafe { helpers::kern_path(path.as_char_ptr(), 0, &mut p) } != 0 {
        return false;
    }
    // SAFETY: `p` was filled by the successful lookup above.
    unsafe { bindings::path_put(&p) };
    true
}

/// Adds `heap` as `/dev/dma_heap/<name>`, for good.
///
/// On success, the heap and its name are never freed and `module` stays
/// loaded; the heap is returned as `'static`. A name that a heap already
/// has is `EEXIST`, without asking the core (see [`name_taken`]). On
/// failure both come back to the caller's drop and the module reference is
/// put.
pub(crate) fn add<H: Heap>(
    module: &'static ThisModule,
    name: CString,
    heap: KBox<H>,
) -> Result<&'static H> {
    if name_taken(&name) {
        return Err(EEXIST);
    }
    let heap = KBox::into_raw(heap);
    let info = helpers::DmaHeapExportInfo {
        name: name.as_char_ptr(),
        ops: &Vtable::<H>::OPS,
        priv_: heap.cast(),
    };
    // SAFETY: The module is live (the `'static` reference); this reference
    // is the heap's, put below only if the heap is not added.
    unsafe { bindings::__module_get(module.as_ptr()) };
    // SAFETY: `info` is fully set; on success the core keeps `name`, the
    // ops and `heap` for good, which the leaks below make true.
    let r = unsafe { helpers::dma_heap_add(&info) };
    if let Err(e) = kernel::error::from_err_ptr(r) {
        // SAFETY: Not added: the core kept nothing; the box is ours again.
        drop(unsafe { KBox::from_raw(heap) });
        // SAFETY: The reference taken above.
        unsafe { bindings::module_put(module.as_ptr()) };
        return Err(e);
    }
    core::mem::forget(name);
    // SAFETY: The heap is never freed from here on (leaked above).
    Ok(unsafe { &*heap })
}

#[kunit_tests(rust_kernel_dma_heap_names)]
mod tests {
    use super::super::dma_buf::{test_exporter::Obj, DmaBuf, Exporter};
    use super::*;

    /// A heap that allocates nothing: [`add`] must refuse it before the
    /// dma-heap core sees it, since a heap added is there for good.
    struct Never<T>(PhantomData<T>);

    impl<T: Exporter> Heap for Never<T> {
        type Buffer = T;
        fn allocate(&self, _len: usize, _fd: u32, _flags: u64) -> Result<DmaBuf<T>> {
            Err(ENODEV)
        }
    }

    /// A name no heap has is free; the name of a heap that exists is taken,
    /// and `add` refuses it with `EEXIST`, never asking the core. Skipped
    /// where this thread sees no sysfs: a kernel thread, as the KUnit
    /// thread of a module's suites is, resolves paths from the kernel's
    /// first root, where `kern_path("/sys")` is `-ENOENT` in the test guest
    /// (its init mounts sysfs in the root it runs in). The module's own
    /// init, in the process that loads it, sees it.
    #[test]
    fn taken_names_are_refused_before_the_core() -> Result {
        assert!(!name_taken(c"rust-kernel-test-no-such-heap"));
        let Some(name) = [c"system", c"default_cma_region", c"reserved"]
            .into_iter()
            .find(|n| name_taken(n))
        else {
            super::super::kunit::mark_skipped(c"no kernel heap (or no sysfs) to collide with");
            return Ok(());
        };
        let module = kernel::module::this_module::<crate::LocalModule>();
        let heap = KBox::new(Never::<Obj>(PhantomData), GFP_KERNEL)?;
        let r = add(module, CString::try_from(name)?, heap).map(|_| ());
        assert_eq!(r, Err(EEXIST));
        Ok(())
    }
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
            Ok(b) => b.into_raw(),
            Err(e) => e.to_ptr(),
        }
    }
}
