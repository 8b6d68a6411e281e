// SPDX-License-Identifier: GPL-2.0

//! The dma-heap face: every rust-ion heap under `/dev/dma_heap/` as well as
//! behind `/dev/ion`, through the kernel's own dma-heap core
//! (`dma_heap_add`). The same heaps, `Buffer`s and `dma_buf_ops` serve both
//! faces; only the way in differs.
//!
//! A dma-heap has no cache-mode flag, so each heap is two nodes: `<name>`
//! (cached) and `<name>-uncached`, where `<name>` is the Ion name without
//! its `_heap` suffix, starting with `ion_` (`ion_system`,
//! `ion_system-uncached`, `ion_camera_carveout`, ...). The `ion_` prefix
//! keeps them apart from the kernel's own heaps (`system`,
//! `default_cma_region`, one per CMA region named after its node).
//!
//! Lifetime: 7.3 cannot remove a dma-heap. A node, its name and the heap it
//! allocates from are therefore never freed once added, and each node added
//! pins the module (see `rust_ion_dma_heap_add`), so that rmmod is refused
//! cleanly instead of leaving a heap whose code is gone. The face is off
//! unless the `dma_heaps` module parameter asks for it.

use crate::{export_new, ffi, heaps::Heap, uapi::ION_FLAG_CACHED};
use kernel::{
    bindings,
    ffi::{c_ulong, c_void},
    prelude::*,
    str::CString,
    sync::Arc,
};

/// One node under `/dev/dma_heap`: a rust-ion heap in one cache mode.
///
/// # Invariants
///
/// - `dev` is the module's misc device, with its DMA mask set; it lives as
///   long as the module, which a registered node pins for good.
/// - A node that was added to the dma-heap core is never freed: the core
///   keeps `name` and a pointer to the node for the life of the kernel.
struct Node {
    heap: Arc<Heap>,
    flags: u32,
    dev: *mut bindings::device,
    name: CString,
}

// SAFETY: `dev` is only passed to the DMA API, which any thread may call
// while the device lives (invariant); the rest is `Send` and `Sync`.
unsafe impl Send for Node {}
// SAFETY: As above; the node is only read after it is added.
unsafe impl Sync for Node {}

impl Node {
    fn allocate(&self, len: usize, fd_flags: u32) -> Result<*mut bindings::dma_buf> {
        let buffer = crate::buffer::Buffer::new(&self.heap, len, self.flags)?;
        // SAFETY: `dev` is the module's misc device with its DMA mask set
        // (invariant).
        let exported = unsafe { export_new(buffer, self.dev, fd_flags) }?;
        Ok(exported.into_raw())
    }
}

/// The node name of `heap` in one cache mode.
fn node_name(heap: &Heap, cached: bool) -> Result<CString> {
    let name = heap.name.to_str().map_err(|_| EINVAL)?;
    let base = name.strip_suffix("_heap").unwrap_or(name);
    let prefix = if base.starts_with("ion_") { "" } else { "ion_" };
    let suffix = if cached { "" } else { "-uncached" };
    CString::try_from_fmt(fmt!("{prefix}{base}{suffix}"))
}

/// Adds every heap in both cache modes; returns how many nodes were added.
/// A node that cannot be added (a name already taken, no memory) is logged
/// and skipped: nodes added before it cannot be taken back, so loading goes
/// on.
///
/// # Safety
///
/// `dev` must be the module's misc device, with its DMA mask set, which
/// lives as long as the module.
pub(crate) unsafe fn register_all(heaps: &[Arc<Heap>], dev: *mut bindings::device) -> usize {
    let mut added = 0;
    for heap in heaps {
        for cached in [true, false] {
            let node = node_name(heap, cached).and_then(|name| {
                Ok(KBox::new(
                    // INVARIANT: `dev` is the misc device (caller).
                    Node {
                        heap: heap.clone(),
                        flags: if cached { ION_FLAG_CACHED } else { 0 },
                        dev,
                        name,
                    },
                    GFP_KERNEL,
                )?)
            });
            let node = match node {
                Ok(n) => n,
                Err(e) => {
                    pr_err!("dma-heap node for {:?}: {:?}\n", heap.name, e);
                    continue;
                }
            };
            let name = node.name.as_char_ptr();
            let raw = KBox::into_raw(node);
            // SAFETY: `name` and `raw` stay valid for good if this succeeds
            // (the node is leaked below); the callback below expects a
            // `Node` behind `priv`.
            let r = unsafe { ffi::rust_ion_dma_heap_add(name, raw.cast()) };
            if r != 0 {
                // SAFETY: Not added: the core kept nothing of it, and we own
                // the box again.
                let node = unsafe { KBox::from_raw(raw) };
                pr_err!("dma-heap {:?}: error {}\n", node.name, r);
                continue;
            }
            // INVARIANT: added, so never freed: `raw` is not used again here.
            added += 1;
        }
    }
    added
}

/// `dma_heap_ops.allocate` for a node, called by `ion_helpers.c`.
///
/// # Safety
///
/// `priv_` must be a node added by [`register_all`]. The dma-heap core has
/// checked the arguments: `len` is page-aligned and not zero, `heap_flags`
/// is zero and `fd_flags` has only `O_ACCMODE` and `O_CLOEXEC` bits.
#[no_mangle]
unsafe extern "C" fn rust_ion_dma_heap_allocate(
    priv_: *mut c_void,
    len: c_ulong,
    fd_flags: u32,
    _heap_flags: u64,
) -> *mut bindings::dma_buf {
    // SAFETY: `priv_` is a node that is never freed (caller, invariant).
    let node = unsafe { &*priv_.cast::<Node>() };
    match node.allocate(len, fd_flags) {
        Ok(p) => p,
        Err(e) => e.to_ptr(),
    }
}
