// SPDX-License-Identifier: GPL-2.0

//! Page pools for the system heap, with a shrinker.
//!
//! Freed runs of pages are kept per order and per cache mode (cached and
//! uncached pages are never mixed), already zeroed, so that the next
//! allocation skips both the page allocator and the zeroing. The pools are
//! bounded (`pool_max_mb`); a shrinker gives their pages back under memory
//! pressure, and `/sys/kernel/debug/ion/drain_pools` empties them.
//!
//! Lock order: `Pools::lists` is a spinlock and a leaf. Nothing is allocated
//! while it is held (every list reserved capacity for the bound up front),
//! so reclaim, and with it our own shrinker, cannot be entered under it.

use super::system::ORDERS;
use crate::{ffi, stats::Relaxed};
use core::{fmt, ptr::NonNull};
use kernel::{
    bindings,
    ffi::c_ulong,
    new_spinlock,
    page::PAGE_SIZE,
    prelude::*,
    sync::{atomic::Atomic, SpinLock},
};

const NPOOLS: usize = 2 * ORDERS.len();

/// The pool of runs of `order` pages in one cache mode.
fn index(order: u32, cached: bool) -> Option<usize> {
    let i = ORDERS.iter().position(|&o| o == order)?;
    Some(if cached { i } else { ORDERS.len() + i })
}

fn order_of(i: usize) -> u32 {
    ORDERS[i % ORDERS.len()]
}

/// # Invariants
///
/// Every run in `runs[i]` is `1 << order_of(i)` zeroed pages that the pools
/// own (from `alloc_pages` with that order), and `pages` counts them all.
struct Lists {
    runs: [KVec<NonNull<bindings::page>>; NPOOLS],
    pages: usize,
}

// SAFETY: The pages are owned by the pools and may be freed from any thread.
unsafe impl Send for Lists {}

#[pin_data(PinnedDrop)]
pub(crate) struct Pools {
    #[pin]
    lists: SpinLock<Lists>,
    max_pages: usize,
    zero_on_alloc: bool,
    hits: [Atomic<i64>; NPOOLS],
    misses: [Atomic<i64>; NPOOLS],
    /// Our registered shrinker, or null (before registration).
    shrinker: *mut bindings::shrinker,
}

// SAFETY: `lists` is locked; the counters are atomic; `shrinker` is only
// written before the pools are shared and freed on drop.
unsafe impl Send for Pools {}
// SAFETY: As above.
unsafe impl Sync for Pools {}

impl Pools {
    /// Pools holding at most `max_bytes`, zeroing pages before they go back
    /// in (or, with `zero_on_alloc`, on the way out), with a shrinker.
    pub(crate) fn new(max_bytes: usize, zero_on_alloc: bool) -> Result<Pin<KBox<Self>>> {
        let max_pages = max_bytes / PAGE_SIZE;
        let mut runs: [KVec<NonNull<bindings::page>>; NPOOLS] =
            core::array::from_fn(|_| KVec::new());
        for (i, r) in runs.iter_mut().enumerate() {
            r.reserve(max_pages >> order_of(i), GFP_KERNEL)?;
        }
        let mut pools = KBox::pin_init(
            try_pin_init!(Pools {
                lists <- new_spinlock!(Lists { runs, pages: 0 }),
                max_pages,
                zero_on_alloc,
                hits: [const { Atomic::new(0) }; NPOOLS],
                misses: [const { Atomic::new(0) }; NPOOLS],
                shrinker: core::ptr::null_mut(),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The name is a valid C string.
        let shrinker = unsafe { bindings::shrinker_alloc(0, c"ion_rs-pool".as_char_ptr()) };
        if shrinker.is_null() {
            return Err(ENOMEM);
        }
        let private: *const Pools = &*pools;
        // SAFETY: The shrinker is new and not registered; these are the
        // fields it needs (the rest is zeroed). `private` stays valid until
        // `shrinker_free` in drop, which waits for running callbacks.
        unsafe {
            (&raw mut (*shrinker).count_objects).write(Some(shrink_count));
            (&raw mut (*shrinker).scan_objects).write(Some(shrink_scan));
            (&raw mut (*shrinker).private_data).write(private.cast_mut().cast());
            bindings::shrinker_register(shrinker);
        }
        // SAFETY: Setting a plain field does not move the pinned value.
        unsafe { pools.as_mut().get_unchecked_mut() }.shrinker = shrinker;
        Ok(pools)
    }

    /// A zeroed run of `1 << order` pages from the pool, if it has one.
    pub(crate) fn take(&self, order: u32, cached: bool) -> Option<NonNull<bindings::page>> {
        let i = index(order, cached)?;
        let page = {
            let mut l = self.lists.lock();
            let p = l.runs[i].pop();
            if p.is_some() {
                l.pages -= 1 << order;
            }
            p
        };
        match page {
            Some(p) => {
                self.hits[i].add(1, Relaxed);
                if self.zero_on_alloc {
                    zero(p, order);
                }
                Some(p)
            }
            None => {
                self.misses[i].add(1, Relaxed);
                None
            }
        }
    }

    /// Keeps a run of `1 << order` pages that its owner gives up; gives it
    /// back if the pool is full.
    pub(crate) fn give(
        &self,
        page: NonNull<bindings::page>,
        order: u32,
        cached: bool,
    ) -> core::result::Result<(), NonNull<bindings::page>> {
        let Some(i) = index(order, cached) else {
            return Err(page);
        };
        if self.count() + (1 << order) > self.max_pages {
            return Err(page);
        }
        if !self.zero_on_alloc {
            zero(page, order);
        }
        let mut l = self.lists.lock();
        if l.pages + (1 << order) > self.max_pages {
            return Err(page);
        }
        // Never allocates: capacity for the bound was reserved.
        l.runs[i].push_within_capacity(page).map_err(|_| page)?;
        // INVARIANT: a zeroed run (zeroed above, or on the way out).
        l.pages += 1 << order;
        Ok(())
    }

    /// Pages held by the pools.
    pub(crate) fn count(&self) -> usize {
        self.lists.lock().pages
    }

    /// Frees up to `nr` pages (whole runs, the largest first); returns how
    /// many pages were freed.
    pub(crate) fn shrink(&self, nr: usize) -> usize {
        let mut freed = 0;
        let mut l = self.lists.lock();
        for i in 0..NPOOLS {
            let order = order_of(i);
            while freed < nr {
                let Some(p) = l.runs[i].pop() else { break };
                l.pages -= 1 << order;
                // SAFETY: The run is ours (invariant) with this order; freeing
                // pages does not sleep, so it may happen under the spinlock.
                unsafe { bindings::__free_pages(p.as_ptr(), order) };
                freed += 1 << order;
            }
        }
        freed
    }

    /// Writes each pool's size and its hit and miss counters.
    pub(crate) fn write_stats(&self, f: &mut fmt::Formatter<'_>, heap: &str) -> fmt::Result {
        let lens: [usize; NPOOLS] = {
            let l = self.lists.lock();
            core::array::from_fn(|i| l.runs[i].len())
        };
        writeln!(
            f,
            "heap.{heap}.pool_pages {}",
            lens.iter()
                .enumerate()
                .map(|(i, n)| n << order_of(i))
                .sum::<usize>()
        )?;
        for (i, n) in lens.iter().enumerate() {
            let mode = if i < ORDERS.len() {
                "cached"
            } else {
                "uncached"
            };
            let o = order_of(i);
            writeln!(f, "heap.{heap}.pool.{mode}.order{o}.runs {n}")?;
            let hits = self.hits[i].load(Relaxed);
            writeln!(f, "heap.{heap}.pool.{mode}.order{o}.hits {hits}")?;
            let misses = self.misses[i].load(Relaxed);
            writeln!(f, "heap.{heap}.pool.{mode}.order{o}.misses {misses}")?;
        }
        Ok(())
    }
}

fn zero(page: NonNull<bindings::page>, order: u32) {
    // SAFETY: The run of `1 << order` pages is owned by the caller.
    unsafe { ffi::rust_ion_zero_pages(page.as_ptr(), 1 << order) };
}

#[pinned_drop]
impl PinnedDrop for Pools {
    fn drop(self: Pin<&mut Self>) {
        if !self.shrinker.is_null() {
            // SAFETY: Registered in `new`; this waits for running callbacks,
            // after which none can see `self`.
            unsafe { bindings::shrinker_free(self.shrinker) };
        }
        self.shrink(usize::MAX);
    }
}

/// The pools behind a shrinker of ours.
///
/// # Safety
///
/// `shrink` must be a shrinker registered by [`Pools::new`] and not freed.
unsafe fn pools<'a>(shrink: *mut bindings::shrinker) -> &'a Pools {
    // SAFETY: `private_data` is the pinned `Pools`, alive until the shrinker
    // is freed (caller).
    unsafe { &*(*shrink).private_data.cast::<Pools>() }
}

/// `shrinker.count_objects`: the pages in the pools.
///
/// # Safety
///
/// Called by the shrinker core, on a shrinker of ours.
unsafe extern "C" fn shrink_count(
    shrink: *mut bindings::shrinker,
    _sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: Our shrinker, registered and not yet freed.
    match unsafe { pools(shrink) }.count() {
        0 => !0 - 1, // SHRINK_EMPTY
        n => n,
    }
}

/// `shrinker.scan_objects`: frees up to `nr_to_scan` pages.
///
/// # Safety
///
/// Called by the shrinker core, on a shrinker of ours, with a valid `sc`.
unsafe extern "C" fn shrink_scan(
    shrink: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: The core passes a valid control block.
    let nr: c_ulong = unsafe { (*sc).nr_to_scan };
    // SAFETY: Our shrinker, registered and not yet freed.
    match unsafe { pools(shrink) }.shrink(nr) {
        0 => !0, // SHRINK_STOP
        n => n,
    }
}
