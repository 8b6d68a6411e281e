// SPDX-License-Identifier: GPL-2.0

//! Memory cgroups (`struct mem_cgroup`), by counted reference.
//!
//! C header: [`include/linux/memcontrol.h`](srctree/include/linux/memcontrol.h)
//!
//! A [`MemCgroup`] is only ever seen through an `ARef<MemCgroup>`, which
//! holds a reference on the cgroup's css, or borrowed from a caller that
//! holds one (such as reclaim, for the shrinker it calls). A reference
//! keeps the structure alive, not the cgroup online: a cgroup that is
//! removed goes offline and hands its charges and its `list_lru` items to
//! its parent while references to it remain.

use super::helpers;
use core::ptr::NonNull;
use kernel::{
    bindings,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// A memory cgroup.
///
/// # Invariants
///
/// Every `&MemCgroup` points to a live `struct mem_cgroup` on which the
/// holder of the reference, or one it borrows from, has a css reference.
#[repr(transparent)]
pub(crate) struct MemCgroup(Opaque<bindings::mem_cgroup>);

// SAFETY: A css reference may be taken and dropped from any thread.
unsafe impl Send for MemCgroup {}
// SAFETY: `MemCgroup` offers nothing that mutates through `&self`.
unsafe impl Sync for MemCgroup {}

// SAFETY: `css_get` and `mem_cgroup_put` are the cgroup's own reference
// count; the structure is freed only after the last put.
unsafe impl AlwaysRefCounted for MemCgroup {
    fn inc_ref(&self) {
        // SAFETY: `self` is live and referenced (invariant).
        unsafe { helpers::rust_helper_mem_cgroup_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference that it owns.
        unsafe { helpers::rust_helper_mem_cgroup_put(obj.cast().as_ptr()) };
    }
}

impl MemCgroup {
    /// The cgroup that the current task's charged allocations
    /// (`__GFP_ACCOUNT`) go to: the active memory cgroup if one is set,
    /// else the task's own; `None` when memory cgroups are disabled or not
    /// built. The root cgroup charges nothing.
    pub(crate) fn charged() -> Option<ARef<Self>> {
        // SAFETY: No precondition; a non-null result carries a reference,
        // which the `ARef` takes over.
        let raw = NonNull::new(unsafe { helpers::rust_helper_get_mem_cgroup_charged() })?;
        // SAFETY: `raw` is live, and its reference is ours to give.
        Some(unsafe { ARef::from_raw(raw.cast()) })
    }

    /// Borrows the cgroup that `raw` points to.
    ///
    /// # Safety
    ///
    /// `raw` must point to a live `struct mem_cgroup` on which someone holds
    /// a reference for `'a`.
    pub(crate) unsafe fn from_raw<'a>(raw: *mut bindings::mem_cgroup) -> &'a Self {
        // SAFETY: Transparent over the C struct; live and referenced for
        // `'a` (caller).
        unsafe { &*raw.cast() }
    }

    /// The C `struct mem_cgroup *`.
    pub(crate) fn as_raw(&self) -> *mut bindings::mem_cgroup {
        self.0.get()
    }

    /// Whether this is the root cgroup, which charges nothing.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn is_root(&self) -> bool {
        // SAFETY: `self` is live (invariant).
        unsafe { helpers::rust_helper_mem_cgroup_is_root(self.as_raw()) }
    }
}

#[cfg(ion_rs_kunit)]
#[kernel::macros::kunit_tests(rust_kernel_memcg)]
mod tests {
    use super::*;
    use kernel::prelude::*;

    /// A kernel thread charges the root cgroup (or nothing, with memory
    /// cgroups off), and a second reference is the same cgroup.
    #[test]
    fn a_kernel_thread_charges_the_root() -> Result {
        if let Some(m) = MemCgroup::charged() {
            assert!(m.is_root());
            let again: ARef<MemCgroup> = m.clone();
            assert_eq!(again.as_raw(), m.as_raw());
        }
        Ok(())
    }
}
