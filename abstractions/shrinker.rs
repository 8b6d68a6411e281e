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

/// A cache that the kernel may shrink.
///
/// Both callbacks may run concurrently with anything else, from reclaim:
/// they must not allocate memory that could reclaim into them.
pub(crate) trait Shrinker: Send + Sync + 'static {
    /// How many objects could be freed now; 0 is reported as empty
    /// (`SHRINK_EMPTY`).
    fn count(&self) -> usize;

    /// Frees up to `nr` objects and returns how many were freed; 0 tells
    /// the kernel to stop asking this round (`SHRINK_STOP`).
    fn scan(&self, nr: usize) -> usize;
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
        _sc: *mut bindings::shrink_control,
    ) -> c_ulong {
        // SAFETY: A registered shrinker of ours (caller).
        match unsafe { Self::data_of(shrink) }.count() {
            0 => bindings::SHRINK_EMPTY as c_ulong,
            n => n as c_ulong,
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
        // SAFETY: The core passes a valid control block.
        let nr = unsafe { (*sc).nr_to_scan };
        // SAFETY: A registered shrinker of ours (caller).
        match unsafe { Self::data_of(shrink) }.scan(nr) {
            0 => bindings::SHRINK_STOP as c_ulong,
            n => n as c_ulong,
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

    struct Cache(Atomic<usize>);

    impl Shrinker for Cache {
        fn count(&self) -> usize {
            self.0.load(Relaxed)
        }
        fn scan(&self, nr: usize) -> usize {
            let n = core::cmp::min(nr, self.0.load(Relaxed));
            self.0.store(self.0.load(Relaxed) - n, Relaxed);
            n
        }
    }

    #[test]
    fn callbacks_reach_the_cache_and_map_zero() -> Result {
        let cache = Arc::new(Cache(Atomic::new(5)), GFP_KERNEL)?;
        let reg = Registration::register(c"rust_kernel_shrinker_test", cache)?;
        let raw = reg.raw.as_ptr();
        let mut sc: bindings::shrink_control = pin_init::zeroed();
        sc.nr_to_scan = 3;
        // SAFETY: `raw` is our registered shrinker; `sc` is valid.
        let (c, s) = unsafe {
            (
                Registration::<Cache>::count_objects(raw, &mut sc),
                Registration::<Cache>::scan_objects(raw, &mut sc),
            )
        };
        assert_eq!((c, s), (5, 3));
        // SAFETY: As above.
        let c = unsafe { Registration::<Cache>::scan_objects(raw, &mut sc) };
        assert_eq!(c, 2);
        // SAFETY: As above.
        let (c, s) = unsafe {
            (
                Registration::<Cache>::count_objects(raw, &mut sc),
                Registration::<Cache>::scan_objects(raw, &mut sc),
            )
        };
        assert_eq!(
            (c, s),
            (
                bindings::SHRINK_EMPTY as c_ulong,
                bindings::SHRINK_STOP as c_ulong
            )
        );
        assert_eq!(reg.data().count(), 0);
        Ok(())
    }
}
