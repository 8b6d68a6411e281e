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
//! pins the module (see `abstractions::dma_heap::add`), so that rmmod is refused
//! cleanly instead of leaving a heap whose code is gone. The face is off
//! unless the `dma_heaps` module parameter asks for it.

use crate::{
    abstractions::{dma_buf::DmaBuf, dma_heap},
    buffer::Buffer,
    export_new,
    heaps::Heap,
    uapi::ION_FLAG_CACHED,
};
use kernel::{
    device::Device,
    prelude::*,
    str::CString,
    sync::{aref::ARef, Arc},
};

/// One node under `/dev/dma_heap`: a rust-ion heap in one cache mode.
struct Node {
    heap: Arc<Heap>,
    flags: u32,
    /// The module's misc device, with its DMA mask set: new uncached
    /// buffers are cleaned for it.
    dev: ARef<Device>,
}

impl dma_heap::Heap for Node {
    type Buffer = Buffer;

    /// The dma-heap core has checked the arguments: `len` is page-aligned
    /// and not zero, `heap_flags` is zero and `fd_flags` has only
    /// `O_ACCMODE` and `O_CLOEXEC` bits.
    fn allocate(&self, len: usize, fd_flags: u32, _heap_flags: u64) -> Result<DmaBuf<Buffer>> {
        let buffer = Buffer::new(&self.heap, len, self.flags)?;
        export_new(buffer, &self.dev, fd_flags)
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
/// on. `dev` is the module's misc device, with its DMA mask set.
pub(crate) fn register_all(heaps: &[Arc<Heap>], dev: &Device) -> usize {
    let module = kernel::module::this_module::<crate::LocalModule>();
    let mut added = 0;
    for heap in heaps {
        for cached in [true, false] {
            let r = node_name(heap, cached).and_then(|name| {
                let shown = CString::try_from(&*name)?;
                let node = KBox::new(
                    Node {
                        heap: heap.clone(),
                        flags: if cached { ION_FLAG_CACHED } else { 0 },
                        dev: dev.into(),
                    },
                    GFP_KERNEL,
                )?;
                dma_heap::add(module, name, node).inspect_err(|e| {
                    pr_err!("dma-heap {:?}: error {}\n", shown, e.to_errno());
                })
            });
            match r {
                Ok(_) => added += 1,
                Err(e) if e == ENOMEM => pr_err!("dma-heap node for {:?}: {:?}\n", heap.name, e),
                Err(_) => {}
            }
        }
    }
    added
}
