// SPDX-License-Identifier: GPL-2.0

//! Shrinkers: caches that give memory back under pressure.
//!
//! C header: [`include/linux/shrinker.h`](srctree/include/linux/shrinker.h)
//!
//! A [`Shrinker`] counts and frees objects; a [`Registration`] registers
//! it with the kernel and unregisters it on drop, after its last callback
//! has returned. A shrinker over [`ListLru`](super::list_lru::ListLru)s
//! is NUMA- and memcg-aware ([`Registration::register_lru_aware`]): reclaim
//! asks it per node and per memory cgroup, and only for the cgroups whose
//! lists hold items.

use super::{helpers, memcg::MemCgroup};
use core::{marker::PhantomData, ptr::NonNull};
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
    pub(crate) fn nid(&self) -> i32 {
        self.raw.nid
    }

    /// The memory cgroup being reclaimed, for a memcg-aware shrinker;
    /// `None` for the root or global reclaim.
    pub(crate) fn memcg(&self) -> Option<&MemCgroup> {
        let raw = self.raw.memcg;
        // SAFETY: Reclaim holds a reference on the cgroup it shrinks for
        // the whole call, which `self` borrows.
        (!raw.is_null()).then(|| unsafe { MemCgroup::from_raw(raw) })
    }

    /// The allocation flags of the reclaim (`gfp_mask`): what the freeing
    /// may do, such as whether it may enter the file system.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn gfp(&self) -> bindings::gfp_t {
        self.raw.gfp_mask
    }

    /// How many objects a scan should free.
    pub(crate) fn nr_to_scan(&self) -> usize {
        self.raw.nr_to_scan
    }

    /// Runs `f` with the control block of a reclaim of the root cgroup on
    /// `nid`, asking for `nr_to_scan` objects, as `kswapd` would: for tests
    /// of a shrinker's callbacks.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn with_root<R>(
        nid: super::list_lru::Nid,
        nr_to_scan: usize,
        f: impl FnOnce(&ShrinkControl<'_>) -> R,
    ) -> R {
        let mut raw: bindings::shrink_control = pin_init::zeroed();
        raw.gfp_mask = bindings::GFP_KERNEL;
        raw.nid = nid.as_raw();
        raw.nr_to_scan = nr_to_scan;
        // INVARIANT: A control block for the calls `f` makes; a null
        // cgroup is the root.
        f(&ShrinkControl { raw: &raw })
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

/// A shrinker allocated and not yet registered, lent to the constructor
/// of the data it will shrink: lists that it walks
/// ([`ListLru`](super::list_lru::ListLru)) learn its id from it.
///
/// # Invariants
///
/// `raw` was allocated by `shrinker_alloc` and is not registered for `'a`.
pub(crate) struct Unregistered<'a> {
    raw: NonNull<bindings::shrinker>,
    _borrow: PhantomData<&'a ()>,
}

impl Unregistered<'_> {
    /// The C `struct shrinker *`, for `list_lru_init_memcg`.
    pub(crate) fn as_raw(&self) -> *mut bindings::shrinker {
        self.raw.as_ptr()
    }

    /// Whether reclaim will ask the shrinker per memory cgroup: asked for,
    /// and not turned off (`cgroup.memory=nokmem`, or no `CONFIG_MEMCG`).
    pub(crate) fn memcg_aware(&self) -> bool {
        // SAFETY: Allocated (invariant); reading its flags races nothing,
        // it is not registered yet.
        let flags = unsafe { (*self.raw.as_ptr()).flags };
        // SAFETY: Reading a constant that C initialised at build time.
        flags & unsafe { helpers::rust_helper_shrinker_memcg_aware } != 0
    }
}

impl<T: Shrinker> Registration<T> {
    /// Registers a shrinker named `name` over `data`, asked about node 0
    /// and the root cgroup only (the driver's shrinker is
    /// [`Registration::register_lru_aware`]).
    #[cfg(ion_rs_kunit)]
    pub(crate) fn register(name: &CStr, data: Arc<T>) -> Result<Self> {
        Self::register_with(name, 0, |_| Ok(data))
    }

    /// Registers a NUMA- and memcg-aware shrinker named `name` over the data
    /// that `init` makes, with the shrinker in hand (to set up the
    /// [`ListLru`](super::list_lru::ListLru)s it walks). Its callbacks are
    /// asked per node ([`ShrinkControl::nid`]) and per memory cgroup
    /// ([`ShrinkControl::memcg`]), and for a cgroup only once a list of it
    /// has held an item.
    pub(crate) fn register_lru_aware(
        name: &CStr,
        init: impl FnOnce(&Unregistered<'_>) -> Result<Arc<T>>,
    ) -> Result<Self> {
        // SAFETY: Reading a constant that C initialised at build time.
        let flags = unsafe { helpers::rust_helper_shrinker_lru_aware };
        Self::register_with(name, flags, init)
    }

    fn register_with(
        name: &CStr,
        flags: u32,
        init: impl FnOnce(&Unregistered<'_>) -> Result<Arc<T>>,
    ) -> Result<Self> {
        // SAFETY: `name` is a C string; the format is a plain "%s".
        let raw =
            unsafe { bindings::shrinker_alloc(flags, c"%s".as_char_ptr(), name.as_char_ptr()) };
        let raw = NonNull::new(raw).ok_or(ENOMEM)?;
        // INVARIANT: Allocated above, registered only below.
        let data = match init(&Unregistered {
            raw,
            _borrow: PhantomData,
        }) {
            Ok(data) => data,
            Err(e) => {
                // SAFETY: Allocated and never registered; freed once.
                unsafe { bindings::shrinker_free(raw.as_ptr()) };
                return Err(e);
            }
        };
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
    /// `shrink` must be a shrinker that a [`Registration<T>`] registered,
    /// not yet freed.
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

#[cfg(ion_rs_kunit)]
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
