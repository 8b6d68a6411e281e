// SPDX-License-Identifier: GPL-2.0

//! The dma-heap face: every rust-ion heap under `/dev/dma_heap/` as well as
//! behind `/dev/ion`, through the kernel's own dma-heap core
//! (`dma_heap_add`). The same heaps, `Buffer`s and `dma_buf_ops` serve both
//! faces; only the way in differs.
//!
//! A dma-heap has no cache-mode flag, so each heap is two nodes, named
//! after the memory as Documentation/userspace-api/dma-buf-heaps.rst asks
//! (`Heap::dma_name`): `<name>` (cached) and `<name>-uncached`. The system
//! heap is `system` and `system-uncached` (Android's name, which mainline
//! lacks); system-contig is `system-contiguous`; a device-tree heap takes
//! its region's node name, as 7.3's CMA heaps do. A name that is taken
//! (the kernel's own `system`, its CMA heap of the same region) is left
//! out with one line in the log; the load goes on. Documentation/ion.rst
//! has the table.
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
    heaps::{CacheMode, Heap},
};
use kernel::{
    device::Device,
    prelude::*,
    str::CString,
    sync::{aref::ARef, atomic::Relaxed, Arc},
};

/// One node under `/dev/dma_heap`: a rust-ion heap in one cache mode.
struct Node {
    heap: Arc<Heap>,
    mode: CacheMode,
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
        let buffer = Buffer::new(&self.heap, len, self.mode.flags())?;
        export_new(buffer, &self.dev, fd_flags)
    }
}

/// Adds every heap in both cache modes; returns how many nodes were added.
/// A node whose name is taken is left out with one line in the log, and so
/// is one that cannot be added (no memory): nodes added before it cannot
/// be taken back, so loading goes on. `dev` is the module's misc device,
/// with its DMA mask set.
pub(crate) fn register_all(heaps: &[Arc<Heap>], dev: &Device) -> usize {
    let module = kernel::module::this_module::<crate::LocalModule>();
    let mut added = 0;
    for heap in heaps {
        for mode in [CacheMode::Cached, CacheMode::Uncached] {
            let (memory, suffix) = (&*heap.dma_name, mode.node_suffix());
            let r = CString::try_from_fmt(fmt!("{}{}", memory, suffix)).and_then(|name| {
                let node = KBox::new(
                    Node {
                        heap: heap.clone(),
                        mode,
                        dev: dev.into(),
                    },
                    GFP_KERNEL,
                )?;
                dma_heap::add(module, name, node).inspect_err(|e| {
                    if *e == EEXIST {
                        pr_info!(
                            "dma-heap {}{}: the name is another heap's, left out\n",
                            memory,
                            suffix
                        );
                    } else {
                        pr_err!("dma-heap {}{}: error {}\n", memory, suffix, e.to_errno());
                    }
                })
            });
            if r.is_ok() {
                heap.dma_nodes.add(mode.node_bit(), Relaxed);
                added += 1;
            }
        }
    }
    added
}
