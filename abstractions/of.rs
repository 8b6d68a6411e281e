// SPDX-License-Identifier: GPL-2.0

//! Device-tree nodes and their reserved-memory regions.
//!
//! C headers: [`include/linux/of.h`](srctree/include/linux/of.h) and
//! [`include/linux/of_reserved_mem.h`](srctree/include/linux/of_reserved_mem.h)
//!
//! 7.3's `kernel::of` only matches drivers; this walks nodes by compatible
//! string, reads their properties and finds the reserved memory behind
//! them.

use super::helpers;
#[cfg(CONFIG_OF_RESERVED_MEM)]
use super::page::PhysAddr;
use core::ptr::NonNull;
use kernel::{bindings, prelude::*, str::CStr};

/// A device-tree node, with a reference held.
///
/// # Invariants
///
/// `raw` is a node on which this value holds one reference, put on drop.
pub(crate) struct Node {
    raw: NonNull<bindings::device_node>,
}

// SAFETY: Node references may be taken and put from any thread.
unsafe impl Send for Node {}
// SAFETY: Shared references only read the node.
unsafe impl Sync for Node {}

impl Clone for Node {
    fn clone(&self) -> Self {
        // SAFETY: The node is live (invariant); the new reference is ours.
        unsafe { helpers::rust_helper_of_node_get(self.raw.as_ptr()) };
        Self { raw: self.raw }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: We hold one reference (invariant), put once.
        unsafe { helpers::rust_helper_of_node_put(self.raw.as_ptr()) };
    }
}

/// The nodes compatible with a string, in device-tree order.
pub(crate) struct Compatible<'a> {
    compat: &'a CStr,
    prev: Option<Node>,
    done: bool,
}

impl Iterator for Compatible<'_> {
    type Item = Node;

    fn next(&mut self) -> Option<Node> {
        if self.done {
            return None;
        }
        let from = match self.prev.take() {
            Some(n) => {
                let raw = n.raw.as_ptr();
                // The search puts the reference of `from`.
                core::mem::forget(n);
                raw
            }
            None => core::ptr::null_mut(),
        };
        // SAFETY: `from` is null or a node whose reference we hand over;
        // `compat` is a C string.
        let raw = unsafe {
            bindings::of_find_compatible_node(from, core::ptr::null(), self.compat.as_char_ptr())
        };
        let Some(raw) = NonNull::new(raw) else {
            self.done = true;
            return None;
        };
        // INVARIANT: The search returned a new reference.
        let node = Node { raw };
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

    /// Whether the node is enabled (`status` absent or "okay").
    pub(crate) fn is_available(&self) -> bool {
        // SAFETY: The node is live (invariant).
        unsafe { bindings::of_device_is_available(self.raw.as_ptr()) }
    }

    /// The node's name with its unit address (`camera@80000000`).
    pub(crate) fn full_name(&self) -> &CStr {
        // SAFETY: The node is live (invariant) and its name is a C string
        // that lives as long as the node.
        let p = unsafe { (*self.raw.as_ptr()).full_name };
        if p.is_null() {
            return c"";
        }
        // SAFETY: As above.
        unsafe { CStr::from_char_ptr(p) }
    }

    /// A string property, if present and a string.
    pub(crate) fn read_string(&self, prop: &CStr) -> Option<&CStr> {
        let mut out: *const kernel::ffi::c_char = core::ptr::null();
        // SAFETY: The node is live; `out` is written on success.
        let r = unsafe {
            bindings::of_property_read_string(self.raw.as_ptr(), prop.as_char_ptr(), &mut out)
        };
        if r != 0 || out.is_null() {
            return None;
        }
        // SAFETY: The value is a NUL-terminated string inside the node's
        // property, which lives as long as the node.
        Some(unsafe { CStr::from_char_ptr(out) })
    }

    /// A one-cell property, if present and that long.
    pub(crate) fn read_u32(&self, prop: &CStr) -> Option<u32> {
        let mut v = 0u32;
        // SAFETY: The node is live; `v` has room for the one value asked.
        let r = unsafe {
            bindings::of_property_read_variable_u32_array(
                self.raw.as_ptr(),
                prop.as_char_ptr(),
                &mut v,
                1,
                0,
            )
        };
        (r >= 0).then_some(v)
    }

    /// Whether the node has the property at all (a boolean property).
    pub(crate) fn has_property(&self, prop: &CStr) -> bool {
        // SAFETY: The node is live; a null length pointer is allowed.
        !unsafe {
            bindings::of_find_property(self.raw.as_ptr(), prop.as_char_ptr(), core::ptr::null_mut())
        }
        .is_null()
    }

    /// The node that entry `index` of the phandle list `prop` points to.
    pub(crate) fn parse_phandle(&self, prop: &CStr, index: u32) -> Option<Node> {
        let mut args: bindings::of_phandle_args = Default::default();
        // SAFETY: The node is live; `args` is written on success, with a
        // reference on `args.np`.
        let r = unsafe {
            bindings::__of_parse_phandle_with_args(
                self.raw.as_ptr(),
                prop.as_char_ptr(),
                core::ptr::null(),
                0,
                i32::try_from(index).ok()?,
                &mut args,
            )
        };
        // INVARIANT: A reference taken by the parse.
        (r == 0).then_some(())?;
        NonNull::new(args.np).map(|raw| Node { raw })
    }

    /// The reserved-memory region that this node describes, if it is one.
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    pub(crate) fn reserved_mem(&self) -> Option<ReservedMem> {
        // SAFETY: The node is live; regions are never freed.
        let r = unsafe { helpers::of_reserved_mem_lookup(self.raw.as_ptr()) };
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
/// `first` heads the `len / PAGE_SIZE` pages of a region in the linear map
/// that this value's creator uses alone; reserved memory is never freed,
/// so dropping the value only ends the claim.
pub(crate) struct ReservedPages {
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
impl ReservedPages {
    /// Claims the pages of `region`. A region whose base or size is not
    /// page-aligned, or that is empty, is `EINVAL`.
    ///
    /// # Safety
    ///
    /// The region must be in the linear map (its node is not `no-map` and
    /// not `reusable`), and nothing else may use it while the value lives.
    pub(crate) unsafe fn claim(region: ReservedMem) -> Result<Self> {
        let page = kernel::page::PAGE_SIZE as PhysAddr;
        let (base, size) = (region.base(), region.size());
        if base == 0 || size == 0 || base % page != 0 || size % page != 0 {
            return Err(EINVAL);
        }
        let len = usize::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: The region is in the linear map (caller): it has pages.
        let first = unsafe { helpers::rust_helper_phys_to_page(base) };
        let first = NonNull::new(first).ok_or(EINVAL)?;
        // INVARIANT: The region's pages, ours alone (caller).
        Ok(Self { first, len })
    }
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
impl super::page::ContiguousPages for ReservedPages {
    fn contiguous(&self) -> super::page::Contiguous<'_> {
        // SAFETY: The region's pages, never freed, ours while borrowed.
        unsafe { super::page::Contiguous::from_raw(self.first, self.len) }
    }
}

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
            assert_eq!(np.read_string(c"compatible"), Some(c"shared-dma-pool"));
            assert!(np.read_u32(c"no-such-property").is_none());
            let again = np.clone();
            assert!(again.raw == np.raw);
            #[cfg(CONFIG_OF_RESERVED_MEM)]
            {
                let r = np.reserved_mem().ok_or(ENOENT)?;
                assert!(r.size() > 0);
                assert_eq!(r.name(), np.full_name());
                // A CMA pool is reusable: not a region any heap may claim.
                assert!(
                    np.has_property(c"reusable") || np.has_property(c"no-map") || r.base() != 0
                );
            }
        }
        if seen == 0 {
            super::super::kunit::mark_skipped(c"no shared-dma-pool node in this device tree");
        }
        Ok(())
    }
}
