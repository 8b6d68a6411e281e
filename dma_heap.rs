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
//! out with one line in the log, before the core sees it ([`name_taken`]);
//! the load goes on. Documentation/ion.rst has the table.
//!
//! Lifetime: 7.3 cannot remove a dma-heap. A node, its name and the heap it
//! allocates from are therefore never freed once added, and each node added
//! pins the module (`abstractions::dma_heap::ModulePin`), so that rmmod is refused
//! cleanly instead of leaving a heap whose code is gone. The face is off
//! unless the `dma_heaps` module parameter asks for it.

use crate::{
    abstractions::{dma::OwnedDevice, dma_buf::DmaBuf, dma_heap, fs},
    buffer::Buffer,
    export_new,
    heaps::{CacheMode, Heap},
    Ion,
};
use kernel::{
    prelude::*,
    str::{CStr, CString},
    sync::{aref::ARef, atomic::Relaxed, Arc},
};

/// One node under `/dev/dma_heap`: a rust-ion heap in one cache mode.
struct Node {
    heap: Arc<Heap>,
    mode: CacheMode,
    /// The module's own device, with its DMA mask set: new uncached
    /// buffers are cleaned for it.
    dev: Arc<OwnedDevice>,
}

impl dma_heap::Heap for Node {
    type Buffer = Buffer;

    /// The dma-heap core has checked the arguments: `len` is page-aligned
    /// and not zero, `heap_flags` is zero and `fd_flags` has only
    /// `O_ACCMODE` and `O_CLOEXEC` bits.
    fn allocate(
        &self,
        len: usize,
        fd_flags: u32,
        _heap_flags: u64,
    ) -> Result<ARef<DmaBuf<Buffer>>> {
        let pages = self.heap.allocate(len, self.mode.flags())?;
        let exported = export_new(pages, len, &self.dev, fd_flags)?;
        // The core installs the fd. If that fails (EMFILE) it releases the
        // buffer, whose pages then go to the pools, still charged to the
        // caller's cgroup and reclaimable: the one failure seen too late.
        exported.exporter().handed_out();
        Ok(exported)
    }
}

/// Whether a dma-heap named `name` exists already, whoever added it: its
/// class device in sysfs (`/sys/class/dma_heap/<name>`).
///
/// 7.3 exports no lookup, and `dma_heap_add` of a taken name creates the
/// device before it compares names, so sysfs reports the duplicate with a
/// stack dump before the add fails: [`register_all`] asks here first. Where
/// sysfs is not mounted for the caller (a kernel thread resolves paths from
/// the kernel's first root), the answer is "no".
pub(crate) fn name_taken(name: &CStr) -> bool {
    CString::try_from_fmt(fmt!("/sys/class/dma_heap/{}", name))
        .is_ok_and(|path| fs::path_exists(&path))
}

/// Adds `name` for `node`, unless the name is taken (`EEXIST`, without
/// asking the core). Each node added pins the module for good.
///
/// The node is marked in its heap's `dma_nodes` once its name is known to
/// be free and before the core creates it, so that its uevent finds it
/// listed as ours (the `charged` file that udev reads); a failed add
/// unmarks it.
fn add(name: CString, node: KBox<Node>) -> Result {
    if name_taken(&name) {
        return Err(EEXIST);
    }
    let (heap, bit) = (node.heap.clone(), node.mode.node_bit());
    heap.dma_nodes.add(bit, Relaxed);
    let module = kernel::module::this_module::<crate::LocalModule>();
    dma_heap::add(dma_heap::ModulePin::new(module), name, node)
        .map(|_| ())
        // Unmarked: adding the two's complement clears the bit.
        .inspect_err(|_| heap.dma_nodes.add(bit.wrapping_neg(), Relaxed))
}

/// Adds every heap in both cache modes; returns how many nodes were added.
/// A node whose name is taken is left out with one line in the log, and so
/// is one that cannot be added (no memory): nodes added before it cannot
/// be taken back, so loading goes on.
pub(crate) fn register_all(ion: &Ion) -> usize {
    let mut added = 0;
    for heap in ion.heaps.iter() {
        for mode in [CacheMode::Cached, CacheMode::Uncached] {
            let (memory, suffix) = (&*heap.dma_name, mode.node_suffix());
            let r = CString::try_from_fmt(fmt!("{}{}", memory, suffix)).and_then(|name| {
                let node = KBox::new(
                    Node {
                        heap: heap.clone(),
                        mode,
                        dev: ion.dev.clone(),
                    },
                    GFP_KERNEL,
                )?;
                add(name, node).inspect_err(|e| {
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
                added += 1;
            }
        }
    }
    added
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_ion_dma_heap_names)]
mod tests {
    use super::*;

    /// A name no heap has is free; the name of a heap that exists is taken,
    /// and `add` refuses it with `EEXIST`, never asking the core (a heap
    /// added is there for good). Skipped where this thread sees no sysfs:
    /// a kernel thread, as the KUnit thread of a module's suites is,
    /// resolves paths from the kernel's first root, where
    /// `kern_path("/sys")` is `-ENOENT` in the test guest (its init mounts
    /// sysfs in the root it runs in). The module's own init, in the process
    /// that loads it, sees it.
    #[test]
    fn taken_names_are_refused_before_the_core() -> Result {
        assert!(!name_taken(c"rust-ion-test-no-such-heap"));
        let Some(name) = [c"system", c"default_cma_region", c"reserved"]
            .into_iter()
            .find(|n| name_taken(n))
        else {
            crate::abstractions::kunit::mark_skipped(
                c"no kernel heap (or no sysfs) to collide with",
            );
            return Ok(());
        };
        let heap = crate::heaps::system_heap(
            crate::heaps::system::PoolConfig::DEFAULT,
            crate::heaps::Account::Off,
        )?;
        let dev = Arc::new(
            OwnedDevice::new(c"rust_ion_names", kernel::dma::DmaMask::new::<64>())?,
            GFP_KERNEL,
        )?;
        let node = KBox::new(
            Node {
                heap,
                mode: CacheMode::Cached,
                dev,
            },
            GFP_KERNEL,
        )?;
        assert_eq!(add(CString::try_from(name)?, node), Err(EEXIST));
        Ok(())
    }
}
