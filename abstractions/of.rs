// SPDX-License-Identifier: GPL-2.0

//! Device-tree nodes and their reserved-memory regions.
//!
//! C headers: [`include/linux/of.h`](srctree/include/linux/of.h) and
//! [`include/linux/of_reserved_mem.h`](srctree/include/linux/of_reserved_mem.h)
//!
//! 7.3's `kernel::of` only matches drivers; this walks nodes by compatible
//! string and finds the reserved memory behind them. Properties are read
//! through 7.3's [`FwNode`] ([`Node::fwnode`]), and nodes are counted with
//! `AlwaysRefCounted`, as 7.3's own objects are.

use super::helpers;
#[cfg(CONFIG_OF_RESERVED_MEM)]
use super::page::PhysAddr;
use core::ptr::NonNull;
use kernel::{
    bindings,
    device::property::FwNode,
    prelude::*,
    str::CStr,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// A device-tree node (`struct device_node`), counted: an `ARef<Node>` holds
/// one reference. Its properties are read through 7.3's [`FwNode`].
///
/// # Invariants
///
/// The value is a live `struct device_node`, alive while a reference is
/// held.
#[repr(transparent)]
pub(crate) struct Node(Opaque<bindings::device_node>);

// SAFETY: Node references may be taken and put from any thread.
unsafe impl Send for Node {}
// SAFETY: Shared references only read the node.
unsafe impl Sync for Node {}

// SAFETY: `of_node_get` and `of_node_put` are the node's reference count,
// and it lives while one is held.
unsafe impl AlwaysRefCounted for Node {
    fn inc_ref(&self) {
        // SAFETY: The node is live while borrowed (invariant).
        unsafe { helpers::rust_helper_of_node_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference, given up here.
        unsafe { helpers::rust_helper_of_node_put(obj.cast().as_ptr()) };
    }
}

/// The nodes compatible with a string, in device-tree order.
pub(crate) struct Compatible<'a> {
    compat: &'a CStr,
    prev: Option<ARef<Node>>,
    done: bool,
}

impl Iterator for Compatible<'_> {
    type Item = ARef<Node>;

    fn next(&mut self) -> Option<ARef<Node>> {
        if self.done {
            return None;
        }
        // The search puts the reference of `from`, which is handed over.
        let from = self
            .prev
            .take()
            .map_or(core::ptr::null_mut(), |n| ARef::into_raw(n).cast().as_ptr());
        // SAFETY: `from` is null or a node whose reference we hand over;
        // `compat` is a C string.
        let raw = unsafe {
            bindings::of_find_compatible_node(from, core::ptr::null(), self.compat.as_char_ptr())
        };
        let Some(raw) = NonNull::new(raw) else {
            self.done = true;
            return None;
        };
        // SAFETY: The search returned a new reference, which is ours.
        let node: ARef<Node> = unsafe { ARef::from_raw(raw.cast()) };
        self.prev = Some(node.clone());
        Some(node)
    }
}

impl Node {
    /// Every node compatible with `compat`, available or not.
    pub(crate) fn compatible(compat: &CStr) -> Compatible<'_> {
        Compatible {
            compat,
            prev: None,
            done: false,
        }
    }

    fn as_raw(&self) -> *mut bindings::device_node {
        self.0.get()
    }

    /// The node as a firmware node, for its properties.
    pub(crate) fn fwnode(&self) -> &FwNode {
        // SAFETY: The node is live while borrowed (invariant), and its
        // `fwnode` with it; `FwNode` is a transparent wrapper of `struct
        // fwnode_handle`.
        unsafe { &*core::ptr::addr_of_mut!((*self.as_raw()).fwnode).cast::<FwNode>() }
    }

    /// Whether the node is enabled (`status` absent or "okay").
    pub(crate) fn is_available(&self) -> bool {
        // SAFETY: The node is live (invariant).
        unsafe { bindings::of_device_is_available(self.as_raw()) }
    }

    /// The node's name with its unit address (`camera@80000000`).
    pub(crate) fn full_name(&self) -> &CStr {
        // SAFETY: The node is live (invariant) and its name is a C string
        // that lives as long as the node.
        let p = unsafe { (*self.as_raw()).full_name };
        if p.is_null() {
            return c"";
        }
        // SAFETY: As above.
        unsafe { CStr::from_char_ptr(p) }
    }

    /// The node that entry `index` of the phandle list `prop` points to.
    pub(crate) fn parse_phandle(&self, prop: &CStr, index: u32) -> Option<ARef<Node>> {
        let mut args: bindings::of_phandle_args = Default::default();
        // SAFETY: The node is live; `args` is written on success, with a
        // reference on `args.np`.
        let r = unsafe {
            bindings::__of_parse_phandle_with_args(
                self.as_raw(),
                prop.as_char_ptr(),
                core::ptr::null(),
                0,
                i32::try_from(index).ok()?,
                &mut args,
            )
        };
        (r == 0).then_some(())?;
        // SAFETY: The parse took a reference on `args.np`, which is ours.
        NonNull::new(args.np).map(|raw| unsafe { ARef::from_raw(raw.cast()) })
    }

    /// The reserved-memory region that this node describes, if it is one.
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    pub(crate) fn reserved_mem(&self) -> Option<ReservedMem> {
        // SAFETY: The node is live; regions are never freed.
        let r = unsafe { helpers::of_reserved_mem_lookup(self.as_raw()) };
        // INVARIANT: A region of the kernel's table.
        NonNull::new(r).map(|raw| ReservedMem { raw })
    }
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
/// A reserved-memory region (`/reserved-memory` child node).
///
/// # Invariants
///
/// `raw` is an entry of the kernel's reserved-memory table, which is never
/// freed.
#[derive(Clone, Copy)]
pub(crate) struct ReservedMem {
    raw: NonNull<helpers::ReservedMem>,
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
impl ReservedMem {
    /// The region's name (its node's name).
    pub(crate) fn name(&self) -> &'static CStr {
        // SAFETY: The entry lives for good (invariant); its name is a C
        // string from the flattened device tree, which is kept.
        unsafe { CStr::from_char_ptr((*self.raw.as_ptr()).name) }
    }

    /// The physical base address.
    pub(crate) fn base(&self) -> PhysAddr {
        // SAFETY: As above.
        unsafe { (*self.raw.as_ptr()).base }
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> PhysAddr {
        // SAFETY: As above.
        unsafe { (*self.raw.as_ptr()).size }
    }
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
/// The pages of a reserved-memory region, claimed by one user.
///
/// # Invariants
///
/// `first` heads the `len / PAGE_SIZE` pages of `region`, which are in the
/// linear map and contiguous in the memmap. The region is managed by no
/// reserved-memory driver (`ops` is null, so no device can take it with
/// `of_reserved_mem_device_init`, and the region's `priv` is free), and
/// its `priv` holds `first` as the mark of this value's claim. Reserved
/// memory is never freed: dropping the value only ends the claim.
pub(crate) struct ReservedPages {
    region: ReservedMem,
    first: NonNull<bindings::page>,
    len: usize,
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
// SAFETY: The pages are plain memory, claimed by this value alone.
unsafe impl Send for ReservedPages {}
#[cfg(CONFIG_OF_RESERVED_MEM)]
// SAFETY: Shared references only read page metadata.
unsafe impl Sync for ReservedPages {}

#[cfg(CONFIG_OF_RESERVED_MEM)]
impl Node {
    /// Claims the pages of the reserved-memory region that this node
    /// describes, for the caller alone. Refused with `EINVAL`: a node that
    /// is no region, a `no-map` region (its pages are not in the linear
    /// map), a `reusable` one (CMA's), one that a reserved-memory driver
    /// manages (`shared-dma-pool` and the like: devices take those), one
    /// whose base or size is not page-aligned or that is empty, and one
    /// whose `struct page`s are not contiguous in the memmap (across sparse
    /// sections without a virtual memmap). A region claimed already is
    /// `EBUSY`.
    pub(crate) fn claim_reserved(&self) -> Result<ReservedPages> {
        let region = self.reserved_mem().ok_or(EINVAL)?;
        let fw = self.fwnode();
        if fw.property_present(c"no-map") || fw.property_present(c"reusable") {
            return Err(EINVAL);
        }
        // SAFETY: Entries of the reserved-memory table live for good.
        if !unsafe { (*region.raw.as_ptr()).ops }.is_null() {
            return Err(EINVAL);
        }
        let page = kernel::page::PAGE_SIZE as PhysAddr;
        let (base, size) = (region.base(), region.size());
        if base == 0 || size == 0 || base % page != 0 || size % page != 0 {
            return Err(EINVAL);
        }
        let len = usize::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: Neither `no-map` nor `reusable` (checked): the region is
        // memory of the linear map, with struct pages.
        let first = unsafe { helpers::rust_helper_phys_to_page(base) };
        let first = NonNull::new(first).ok_or(EINVAL)?;
        let contiguous = (0..len / kernel::page::PAGE_SIZE).all(|i| {
            // SAFETY: Every page of the region is in the linear map (above).
            let p = unsafe { helpers::rust_helper_phys_to_page(base + i as PhysAddr * page) };
            p == first.as_ptr().wrapping_add(i)
        });
        if !contiguous {
            return Err(EINVAL);
        }
        // SAFETY: The entry lives for good; its `priv` is free while no
        // driver manages the region (checked), and the claim is atomic.
        if !unsafe { helpers::rust_helper_rmem_claim(region.raw.as_ptr(), first.as_ptr().cast()) } {
            return Err(EBUSY);
        }
        // INVARIANT: The region's pages, in the linear map and contiguous
        // (checked), managed by no driver (checked), claimed with `first`.
        Ok(ReservedPages { region, first, len })
    }
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
impl Drop for ReservedPages {
    fn drop(&mut self) {
        // SAFETY: The entry lives for good; the claim is ours (invariant).
        unsafe {
            helpers::rust_helper_rmem_release(self.region.raw.as_ptr(), self.first.as_ptr().cast())
        };
    }
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
// SAFETY: The region is claimed by this value alone (invariant), always the
// same run.
unsafe impl super::page::ContiguousPages for ReservedPages {
    fn contiguous(&self) -> super::page::Contiguous<'_> {
        // SAFETY: The region's pages, never freed, ours while borrowed.
        unsafe { super::page::Contiguous::from_raw(self.first, self.len) }
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_of_reserved_mem)]
mod tests {
    use super::*;

    /// Every available `shared-dma-pool` node is a reserved-memory region
    /// with a size, whose name is the node's; nodes are refcounted.
    #[test]
    fn shared_dma_pools_are_reserved_regions() -> Result {
        let mut seen = 0;
        for np in Node::compatible(c"shared-dma-pool") {
            if !np.is_available() {
                continue;
            }
            seen += 1;
            let fw = np.fwnode();
            let compat = fw
                .property_read::<kernel::str::CString>(c"compatible")
                .optional();
            assert!(compat.is_some_and(|c| c.to_bytes() == b"shared-dma-pool"));
            assert!(fw
                .property_read::<u32>(c"no-such-property")
                .optional()
                .is_none());
            let again = np.clone();
            assert!(core::ptr::eq(&*again, &*np));
            #[cfg(CONFIG_OF_RESERVED_MEM)]
            {
                // A region that a reserved-memory driver manages is that
                // driver's: no claim.
                assert_eq!(np.claim_reserved().err(), Some(EINVAL));
                let r = np.reserved_mem().ok_or(ENOENT)?;
                assert!(r.size() > 0);
                assert_eq!(r.name(), np.full_name());
                // A CMA pool is reusable: not a region any heap may claim.
                assert!(
                    fw.property_present(c"reusable")
                        || fw.property_present(c"no-map")
                        || r.base() != 0
                );
            }
        }
        if seen == 0 {
            super::super::kunit::mark_skipped(c"no shared-dma-pool node in this device tree");
        }
        Ok(())
    }

    /// A region that no driver manages is claimed by one value at a time:
    /// while one holds it (this test, or a driver that claimed it before
    /// the suite ran), another claim is `EBUSY`; a claim that ends frees it.
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    #[test]
    fn a_region_has_one_claim_at_a_time() -> Result {
        let Some(np) = Node::compatible(c"rust-ion,chunk").find(|n| n.is_available()) else {
            super::super::kunit::mark_skipped(c"no unmanaged reserved-memory node to claim");
            return Ok(());
        };
        let first = np.claim_reserved();
        let again = np.claim_reserved().err();
        let held_here = first.is_ok();
        drop(first);
        let after = if held_here {
            np.claim_reserved().map(drop)
        } else {
            Ok(())
        };
        assert_eq!((again, after), (Some(EBUSY), Ok(())));
        Ok(())
    }
}
