// SPDX-License-Identifier: GPL-2.0

//! Shrinkers: caches that give memory back under pressure.
//!
//! C header: [`include/linux/shrinker.h`](srctree/include/linux/shrinker.h)
//!
//! A [`Shrinker`] counts and frees objects; a [`Registration`] registers
//! it with the kernel and unregisters it on drop, after its last callback
//! has returned.

use core::ptr::NonNull;
use kernel::{bindings, ffi::c_ulong, prelude::*, str::CStr, sync::Arc};

/// What reclaim asks of a shrinker (`struct shrink_control`).
///
/// # Invariants
///
/// `raw` is the control block of the running callback.
pub(crate) struct ShrinkControl<'a> {
    raw: &'a bindings::shrink_control,
}

impl ShrinkControl<'_> {
    /// The NUMA node being reclaimed (a shrinker that is not NUMA-aware is
    /// asked for node 0 only).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn nid(&self) -> i32 {
        self.raw.nid
    }

    /// The allocation flags of the reclaim (`gfp_mask`): what the freeing
    /// may do, such as whether it may enter the file system.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn gfp(&self) -> bindings::gfp_t {
        self.raw.gfp_mask
    }

    /// How many objects a scan should free.
    pub(crate) fn nr_to_scan(&self) -> usize {
        self.raw.nr_to_scan
    }
}

/// What [`Shrinker::count`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    /// Nothing to free: the shrinker may be skipped (`SHRINK_EMPTY`).
    Empty,
    /// This many objects could be freed now.
    Objects(usize),
}

/// What [`Shrinker::scan`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// This many objects were freed, maybe none.
    Freed(usize),
    /// No progress is possible this round: stop asking (`SHRINK_STOP`).
    Stop,
}

/// A cache that the kernel may shrink.
///
/// Both callbacks may run concurrently with anything else, from reclaim:
/// they must not allocate memory that could reclaim into them.
pub(crate) trait Shrinker: Send + Sync + 'static {
    /// How many objects could be freed now.
    fn count(&self, sc: &ShrinkControl<'_>) -> Count;

    /// Frees up to [`ShrinkControl::nr_to_scan`] objects.
    fn scan(&self, sc: &ShrinkControl<'_>) -> Scan;
}

/// A registered shrinker over `T`.
///
/// # Invariants
///
/// `raw` was allocated by `shrinker_alloc` and registered, with
/// `private_data` pointing to the `T` inside `data`; it is freed exactly
/// once, on drop, before `data` goes.
pub(crate) struct Registration<T: Shrinker> {
    raw: NonNull<bindings::shrinker>,
    data: Arc<T>,
}

// SAFETY: The shrinker may be freed from any thread; `T` is `Send + Sync`.
unsafe impl<T: Shrinker> Send for Registration<T> {}
// SAFETY: Shared references only reach `T`, which is `Sync`.
unsafe impl<T: Shrinker> Sync for Registration<T> {}

impl<T: Shrinker> Registration<T> {
    /// Registers a shrinker named `name` over `data`.
    pub(crate) fn register(name: &CStr, data: Arc<T>) -> Result<Self> {
        // SAFETY: `name` is a C string; the format is a plain "%s".
        let raw = unsafe { bindings::shrinker_alloc(0, c"%s".as_char_ptr(), name.as_char_ptr()) };
        let raw = NonNull::new(raw).ok_or(ENOMEM)?;
        let private: *const T = &*data;
        // SAFETY: The shrinker is new and not registered; these are the
        // fields it needs. `private` stays valid until `shrinker_free` in
        // drop, which waits for running callbacks.
        unsafe {
            let s = raw.as_ptr();
            (*s).count_objects = Some(Self::count_objects);
            (*s).scan_objects = Some(Self::scan_objects);
            (*s).private_data = private.cast_mut().cast();
            bindings::shrinker_register(s);
        }
        // INVARIANT: Registered above, over `data`.
        Ok(Self { raw, data })
    }

    /// The cache the shrinker works on.
    pub(crate) fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// The `T` behind a shrinker of this type.
    ///
    /// # Safety
    ///
    /// `shrink` must be a shrinker registered by [`Registration::register`]
    /// for this `T` and not yet freed.
    unsafe fn data_of<'a>(shrink: *mut bindings::shrinker) -> &'a T {
        // SAFETY: `private_data` is the `T` of the registration, alive until
        // the shrinker is freed (caller).
        unsafe { &*(*shrink).private_data.cast::<T>() }
    }

    /// `shrinker.count_objects`.
    ///
    /// # Safety
    ///
    /// Called by the shrinker core only, on a shrinker of this type.
    unsafe extern "C" fn count_objects(
        shrink: *mut bindings::shrinker,
        sc: *mut bindings::shrink_control,
    ) -> c_ulong {
        // SAFETY: The core passes a valid control block for the call.
        let raw = unsafe { &*sc };
        let sc = ShrinkControl { raw };
        // SAFETY: A registered shrinker of ours (caller).
        match unsafe { Self::data_of(shrink) }.count(&sc) {
            Count::Empty => bindings::SHRINK_EMPTY as c_ulong,
            // The two top values are the special answers.
            Count::Objects(n) => {
                core::cmp::min(n as c_ulong, bindings::SHRINK_EMPTY as c_ulong - 1)
            }
        }
    }

    /// `shrinker.scan_objects`.
    ///
    /// # Safety
    ///
    /// Called by the shrinker core only, on a shrinker of this type, with a
    /// valid control block.
    unsafe extern "C" fn scan_objects(
        shrink: *mut bindings::shrinker,
        sc: *mut bindings::shrink_control,
    ) -> c_ulong {
        // SAFETY: The core passes a valid control block for the call.
        let raw = unsafe { &*sc };
        let sc = ShrinkControl { raw };
        // SAFETY: A registered shrinker of ours (caller).
        match unsafe { Self::data_of(shrink) }.scan(&sc) {
            Scan::Stop => bindings::SHRINK_STOP as c_ulong,
            Scan::Freed(n) => core::cmp::min(n as c_ulong, bindings::SHRINK_EMPTY as c_ulong - 1),
        }
    }
}

impl<T: Shrinker> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered (invariant), freed once; this waits for running
        // callbacks, after which none can reach `data`.
        unsafe { bindings::shrinker_free(self.raw.as_ptr()) };
    }
}

#[kunit_tests(rust_kernel_shrinker)]
mod tests {
    use super::*;
    use kernel::sync::atomic::{Atomic, Relaxed};

    /// A cache of `n` objects that stops when asked to free on node 1, or
    /// by a reclaim that may not sleep.
    struct Cache(Atomic<usize>);

    impl Shrinker for Cache {
        fn count(&self, _sc: &ShrinkControl<'_>) -> Count {
            match self.0.load(Relaxed) {
                0 => Count::Empty,
                n => Count::Objects(n),
            }
        }
        fn scan(&self, sc: &ShrinkControl<'_>) -> Scan {
            if sc.nid() == 1 || sc.gfp() & (1 << bindings::___GFP_DIRECT_RECLAIM_BIT) == 0 {
                return Scan::Stop;
            }
            let n = core::cmp::min(sc.nr_to_scan(), self.0.load(Relaxed));
            self.0.store(self.0.load(Relaxed) - n, Relaxed);
            Scan::Freed(n)
        }
    }

    /// Counts and scans reach the cache with the control block; "freed
    /// none" is 0, not `SHRINK_STOP`, and an empty cache is
    /// `SHRINK_EMPTY`.
    #[test]
    fn callbacks_reach_the_cache_and_keep_zero_apart_from_stop() -> Result {
        let cache = Arc::new(Cache(Atomic::new(5)), GFP_KERNEL)?;
        let reg = Registration::register(c"rust_kernel_shrinker_test", cache)?;
        let raw = reg.raw.as_ptr();
        let mut sc: bindings::shrink_control = pin_init::zeroed();
        sc.nr_to_scan = 3;
        sc.gfp_mask = bindings::GFP_KERNEL;
        let call = |sc: &mut bindings::shrink_control| {
            // SAFETY: `raw` is our registered shrinker; `sc` is valid.
            unsafe {
                (
                    Registration::<Cache>::count_objects(raw, sc),
                    Registration::<Cache>::scan_objects(raw, sc),
                )
            }
        };
        let first = call(&mut sc);
        let second = call(&mut sc);
        let empty = call(&mut sc);
        sc.nid = 1;
        let stop = call(&mut sc);
        let (e, s) = (
            bindings::SHRINK_EMPTY as c_ulong,
            bindings::SHRINK_STOP as c_ulong,
        );
        assert_eq!(
            [first, second, empty, stop],
            [(5, 3), (2, 2), (e, 0), (e, s)]
        );
        Ok(())
    }
}
