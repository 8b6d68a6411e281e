// SPDX-License-Identifier: GPL-2.0

//! The device-memory cgroup controller (dmem): limits on memory that a
//! driver manages itself.
//!
//! C header: [`include/linux/cgroup_dmem.h`](srctree/include/linux/cgroup_dmem.h)
//!
//! A driver registers each region it allocates from ([`Region::register`]);
//! the region then appears in `dmem.capacity` of the root cgroup, and every
//! cgroup gets `dmem.current`, `dmem.max`, `dmem.min` and `dmem.low` lines
//! for it. Each allocation is charged to the allocating task's cgroup
//! first ([`Region::try_charge`]) and uncharged when the [`Charge`] drops.
//!
//! Without `CONFIG_CGROUP_DMEM`, [`Region::register`] registers nothing and
//! returns `None`, as the C stubs do; there is then nothing to charge.

use kernel::{prelude::*, str::CStr};

#[cfg(CONFIG_CGROUP_DMEM)]
use super::helpers;
#[cfg(CONFIG_CGROUP_DMEM)]
use core::ptr::{self, NonNull};
#[cfg(CONFIG_CGROUP_DMEM)]
use kernel::error::{from_err_ptr, to_result};

/// A region of device memory, registered with the dmem controller.
///
/// # Invariants
///
/// `ptr` is a region that `dmem_cgroup_register_region` returned, owned by
/// this value and unregistered once, on drop.
pub(crate) struct Region {
    #[cfg(CONFIG_CGROUP_DMEM)]
    ptr: NonNull<helpers::DmemCgroupRegion>,
    /// Never built without the controller.
    #[cfg(not(CONFIG_CGROUP_DMEM))]
    _never: core::convert::Infallible,
}

// SAFETY: The controller locks its own state; a region may be charged and
// unregistered from any thread.
unsafe impl Send for Region {}
// SAFETY: As above: charging through a shared reference is what the
// controller is for.
unsafe impl Sync for Region {}

impl Region {
    /// Registers a region of `size` bytes named `name` (by convention
    /// `<subsystem>/<device>/<region>`, no spaces).
    ///
    /// `Ok(None)` without the controller (or for a size of 0), where
    /// nothing will ever be charged.
    pub(crate) fn register(size: u64, name: &CStr) -> Result<Option<Self>> {
        #[cfg(CONFIG_CGROUP_DMEM)]
        {
            let init = helpers::DmemCgroupInit {
                size,
                ops: ptr::null(),
                reclaim_priv: ptr::null_mut(),
            };
            // SAFETY: `init` and both strings are valid for the call; the
            // controller copies the name (`kvasprintf`) and the size.
            let r = unsafe {
                helpers::dmem_cgroup_register_region(&init, c"%s".as_char_ptr(), name.as_char_ptr())
            };
            // INVARIANT: A region that was just registered, ours.
            Ok(NonNull::new(from_err_ptr(r)?).map(|ptr| Self { ptr }))
        }
        #[cfg(not(CONFIG_CGROUP_DMEM))]
        {
            let _ = (size, name);
            Ok(None)
        }
    }

    /// Charges `size` bytes to the current task's cgroup.
    ///
    /// `EAGAIN` when that would take the cgroup, or one of its ancestors,
    /// over its `dmem.max` for this region; `ENOMEM` when the controller
    /// cannot allocate its own state.
    pub(crate) fn try_charge(&self, size: u64) -> Result<Charge> {
        #[cfg(CONFIG_CGROUP_DMEM)]
        {
            let mut pool = ptr::null_mut();
            // SAFETY: The region is registered (invariant); `pool` is
            // written by the call. No limiting pool is asked for, so none
            // needs to be put.
            to_result(unsafe {
                helpers::dmem_cgroup_try_charge(self.ptr.as_ptr(), size, &mut pool, ptr::null_mut())
            })?;
            // INVARIANT: `pool` is charged with `size`, ours to uncharge.
            Ok(Charge { pool, size })
        }
        #[cfg(not(CONFIG_CGROUP_DMEM))]
        {
            let _ = size;
            match self._never {}
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(CONFIG_CGROUP_DMEM)]
        // SAFETY: Registered and unregistered once (invariant). Charges
        // that outlive it hold their pool, and the pool the region's
        // memory, so they may still be uncharged afterwards.
        unsafe {
            helpers::dmem_cgroup_unregister_region(self.ptr.as_ptr())
        };
    }
}

/// Bytes charged to one cgroup's pool of a [`Region`], uncharged on drop.
///
/// # Invariants
///
/// `pool` came from a successful `dmem_cgroup_try_charge` of `size` bytes
/// and is uncharged once, on drop. It holds its own references (to the
/// cgroup and the region), so it may outlive the [`Region`].
pub(crate) struct Charge {
    #[cfg(CONFIG_CGROUP_DMEM)]
    pool: *mut helpers::DmemCgroupPoolState,
    #[cfg(CONFIG_CGROUP_DMEM)]
    size: u64,
    /// Never built without the controller.
    #[cfg(not(CONFIG_CGROUP_DMEM))]
    _never: core::convert::Infallible,
}

// SAFETY: Uncharging is lockless (a page counter) and allowed from any
// thread.
unsafe impl Send for Charge {}
// SAFETY: A shared reference only reads `size`.
unsafe impl Sync for Charge {}

impl Charge {
    /// The bytes charged.
    #[cfg(all(CONFIG_CGROUP_DMEM, ion_rs_kunit))]
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        #[cfg(CONFIG_CGROUP_DMEM)]
        // SAFETY: Charged with `size` and uncharged once (invariant).
        unsafe {
            helpers::dmem_cgroup_uncharge(self.pool, self.size)
        };
    }
}

#[cfg(ion_rs_kunit)]
#[kernel::macros::kunit_tests(rust_kernel_cgroup_dmem)]
mod tests {
    use super::*;

    /// A region registers, takes charges in the root cgroup (which has no
    /// limit) and unregisters with a charge still held, which is uncharged
    /// afterwards: the order in which a heap and its last buffer may go.
    #[test]
    fn charge_outlives_region() -> Result {
        let Some(region) = Region::register(1 << 20, c"kunit/rust_kernel_cgroup_dmem")? else {
            super::super::kunit::mark_skipped(c"no dmem controller");
            return Ok(());
        };
        let a = region.try_charge(4096)?;
        let b = region.try_charge(1 << 20)?;
        assert_eq!(a.size() + b.size(), 4096 + (1 << 20));
        drop(a);
        drop(region);
        drop(b);
        Ok(())
    }

    /// A size of 0 is not a region: nothing is registered.
    #[test]
    fn empty_region_is_none() -> Result {
        assert!(Region::register(0, c"kunit/empty")?.is_none());
        Ok(())
    }
}
