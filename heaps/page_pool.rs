// SPDX-License-Identifier: GPL-2.0

//! Page pools for the system heap, with a shrinker.
//!
//! Freed runs of pages are kept per order and per cache mode (cached and
//! uncached pages are never mixed), so that the next allocation skips the
//! page allocator, and, when the CPU had time in between, the zeroing too.
//!
//! Freeing only queues a run as *pending* (dirty). A background zeroer, a
//! delayed work item on the unbound system workqueue, zeroes pending runs
//! and moves them into their pools; uncached runs are also written back
//! from the CPU caches there, once, so that an uncached pool hit needs no
//! cache maintenance. The zeroer is armed when a run is freed and fires a
//! jiffy later: a back-to-back loop takes its runs back before that, dirty,
//! and zeroes them itself (the cost of a free stays a list push and an
//! armed timer); a pipeline that allocates at a pace finds them zeroed.
//! An allocation takes zeroed runs first, then pending ones (zeroing them
//! itself), and only then goes to the page allocator. With
//! `pool_zero_on_alloc`, runs go into the pools dirty and are zeroed when
//! they leave instead.
//!
//! The pools are bounded (`pool_max_mb`, pending runs included); a shrinker
//! gives their pages back under memory pressure (pending runs first), and
//! `/sys/kernel/debug/ion/drain_pools` empties them.
//!
//! Lock order: `Pools::lists` is a spinlock and a leaf. Nothing is allocated
//! and nothing is zeroed while it is held (every list reserved capacity for
//! the bound up front), so reclaim, and with it our own shrinker, cannot be
//! entered under it.

use crate::{ffi, sg::Chunk, stats::Relaxed};
use core::{fmt, ptr::NonNull};
use kernel::{
    bindings,
    ffi::c_ulong,
    new_spinlock,
    page::PAGE_SIZE,
    prelude::*,
    sync::{atomic::Atomic, Arc, SpinLock},
    workqueue::{self, impl_has_delayed_work, new_delayed_work, DelayedWork, WorkItem},
};

/// The orders the pools keep, largest first: the system heap's orders but
/// single pages, which go straight back to the page allocator. Its per-CPU
/// lists hand a page back as fast as a pool would, without our lock, and
/// the page is zeroed inline either way.
const ORDERS: [u32; 2] = [8, 4];

/// The queue the zeroing work runs on: 7.3's unbound default queue. It is
/// background work that any CPU may do (`system_wq` and
/// `system_unbound_wq` are deprecated in 7.3 and warn when used).
fn zeroing_queue() -> &'static workqueue::Queue {
    // SAFETY: `system_dfl_wq` is a C global, created at boot and never
    // destroyed.
    unsafe { workqueue::Queue::from_raw(bindings::system_dfl_wq) }
}

const NPOOLS: usize = 2 * ORDERS.len();

/// The pool of runs of `order` pages in one cache mode.
fn index(order: u32, cached: bool) -> Option<usize> {
    let i = ORDERS.iter().position(|&o| o == order)?;
    Some(if cached { i } else { ORDERS.len() + i })
}

fn order_of(i: usize) -> u32 {
    ORDERS[i % ORDERS.len()]
}

fn is_uncached(i: usize) -> bool {
    i >= ORDERS.len()
}

/// A run in a pool, and whether it is clean for DMA (see [`Chunk::clean`]).
#[derive(Clone, Copy)]
struct Run {
    page: NonNull<bindings::page>,
    clean: bool,
}

/// # Invariants
///
/// Every run in `runs[i]` and `pending[i]` is `1 << order_of(i)` pages that
/// the pools own (from `alloc_pages` with that order); those in `runs[i]`
/// are zeroed unless `zero_on_alloc`, and written back from the CPU caches
/// if marked clean; those in `pending[i]` are not zeroed. `zeroing[i]` runs
/// are out of `pending[i]`, being zeroed by the work item. `pages` counts
/// them all.
struct Lists {
    runs: [KVec<Run>; NPOOLS],
    pending: [KVec<NonNull<bindings::page>>; NPOOLS],
    zeroing: [usize; NPOOLS],
    pages: usize,
}

// SAFETY: The pages are owned by the pools and may be freed from any thread.
unsafe impl Send for Lists {}

#[pin_data(PinnedDrop)]
pub(crate) struct Pools {
    #[pin]
    lists: SpinLock<Lists>,
    #[pin]
    work: DelayedWork<Pools>,
    max_pages: usize,
    zero_on_alloc: bool,
    hits: [Atomic<i64>; NPOOLS],
    misses: [Atomic<i64>; NPOOLS],
    /// Our registered shrinker, or null (before registration).
    shrinker: Atomic<*mut bindings::shrinker>,
    /// The device that uncached runs are cleaned for, or null (then they
    /// are cleaned at allocation, as runs from elsewhere are).
    clean_dev: Atomic<*mut bindings::device>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Pools { self.work }
}

/// How long the zeroer waits after a free, in jiffies: long enough for a
/// back-to-back loop to take its runs back, short against a frame period.
const ZERO_DELAY: kernel::time::Jiffies = 1;

impl WorkItem for Pools {
    type Pointer = Arc<Pools>;

    /// Zeroes the pending runs, cleans the uncached ones, and moves them
    /// into their pools.
    fn run(this: Arc<Pools>) {
        let dev = this.clean_dev.load(Relaxed);
        while let Some((i, page)) = this.pop_pending() {
            let order = order_of(i);
            // SAFETY: A pending run is the pools' alone once popped.
            unsafe { zero(page, order) };
            let chunk = Chunk::new(page, PAGE_SIZE << order);
            let clean = is_uncached(i) && !dev.is_null() && {
                // SAFETY: `dev` is the module's device (see
                // `set_clean_device`), alive while work of ours can run; the
                // run is the pools'.
                unsafe { chunk.clean_for_device(dev) }.is_ok()
            };
            let mut l = this.lists.lock();
            l.zeroing[i] -= 1;
            // Never fails: `runs[i]` has room for the bound, and `pages`
            // already counts this run.
            if l.runs[i].push_within_capacity(Run { page, clean }).is_err() {
                l.pages -= 1 << order;
                drop(l);
                // SAFETY: The run is ours (popped above) and goes nowhere else.
                unsafe { free(page, order) };
            }
        }
    }
}

// SAFETY: `lists` is locked; the counters are atomic; `shrinker` is only
// written before the pools are shared and freed on drop.
unsafe impl Send for Pools {}
// SAFETY: As above.
unsafe impl Sync for Pools {}

impl Pools {
    /// Pools holding at most `max_bytes`, zeroing pages before they go back
    /// in (or, with `zero_on_alloc`, on the way out), with a shrinker.
    pub(crate) fn new(max_bytes: usize, zero_on_alloc: bool) -> Result<Arc<Self>> {
        let max_pages = max_bytes / PAGE_SIZE;
        fn lists<T>(max_pages: usize) -> Result<[KVec<T>; NPOOLS]> {
            let mut l: [KVec<T>; NPOOLS] = core::array::from_fn(|_| KVec::new());
            for (i, r) in l.iter_mut().enumerate() {
                r.reserve(max_pages >> order_of(i), GFP_KERNEL)?;
            }
            Ok(l)
        }
        let (runs, pending) = (lists(max_pages)?, lists(max_pages)?);
        let pools = Arc::pin_init(
            try_pin_init!(Pools {
                lists <- new_spinlock!(Lists { runs, pending, zeroing: [0; NPOOLS], pages: 0 }),
                work <- new_delayed_work!("ion_rs::Pools::work"),
                max_pages,
                zero_on_alloc,
                hits: [const { Atomic::new(0) }; NPOOLS],
                misses: [const { Atomic::new(0) }; NPOOLS],
                shrinker: Atomic::new(core::ptr::null_mut()),
                clean_dev: Atomic::new(core::ptr::null_mut()),
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
        pools.shrinker.store(shrinker, Relaxed);
        Ok(pools)
    }

    /// Runs the zeroing work now if it is armed, and waits for it. The
    /// owner calls it before it lets go of the pools, so that no work of
    /// this module runs after it is unloaded.
    pub(crate) fn flush(&self) {
        let dwork: *const DelayedWork<Pools> = &self.work;
        // SAFETY: `work` is a valid, initialised delayed work item of ours;
        // `DelayedWork` is a transparent wrapper of `struct delayed_work`.
        unsafe { bindings::flush_delayed_work(dwork.cast_mut().cast()) };
    }

    /// Has the zeroer clean uncached runs for `dev` from now on.
    ///
    /// # Safety
    ///
    /// `dev` must have a DMA mask and stay alive until the pools have been
    /// flushed for the last time (their owner flushes them before it goes).
    pub(crate) unsafe fn set_clean_device(&self, dev: *mut bindings::device) {
        self.clean_dev.store(dev, Relaxed);
    }

    fn pop_pending(&self) -> Option<(usize, NonNull<bindings::page>)> {
        let mut l = self.lists.lock();
        let (i, p) = (0..NPOOLS).find_map(|i| l.pending[i].pop().map(|p| (i, p)))?;
        l.zeroing[i] += 1;
        Some((i, p))
    }

    /// A zeroed run of `1 << order` pages from the pool, if it has one.
    pub(crate) fn take(&self, order: u32, cached: bool) -> Option<Chunk> {
        let i = index(order, cached)?;
        // A zeroed run if there is one, else a pending (dirty) one.
        let run = {
            let mut l = self.lists.lock();
            let r = match l.runs[i].pop() {
                Some(r) => Some((r, self.zero_on_alloc)),
                None => l.pending[i]
                    .pop()
                    .map(|page| (Run { page, clean: false }, true)),
            };
            if r.is_some() {
                l.pages -= 1 << order;
            }
            r
        };
        let Some((run, dirty)) = run else {
            self.misses[i].add(1, Relaxed);
            return None;
        };
        self.hits[i].add(1, Relaxed);
        if dirty {
            // SAFETY: The run was taken from the pools: it is ours alone.
            unsafe { zero(run.page, order) };
        }
        let mut chunk = Chunk::new(run.page, PAGE_SIZE << order);
        chunk.clean = run.clean && !dirty;
        Some(chunk)
    }

    /// Keeps a run of `1 << order` pages that its owner gives up, to be
    /// zeroed later by the work item (or on the way out); gives it back if
    /// the pool is full.
    pub(crate) fn give(
        self: &Arc<Self>,
        page: NonNull<bindings::page>,
        order: u32,
        cached: bool,
    ) -> core::result::Result<(), NonNull<bindings::page>> {
        let Some(i) = index(order, cached) else {
            return Err(page);
        };
        {
            let mut l = self.lists.lock();
            if l.pages + (1 << order) > self.max_pages {
                return Err(page);
            }
            // Never allocates: capacity for the bound was reserved.
            // INVARIANT: dirty runs go to `pending`, or to `runs` (not
            // clean) when they are zeroed on the way out.
            if self.zero_on_alloc {
                let run = Run { page, clean: false };
                l.runs[i].push_within_capacity(run).map_err(|_| page)?;
            } else {
                l.pending[i].push_within_capacity(page).map_err(|_| page)?;
            }
            l.pages += 1 << order;
        }
        if !self.zero_on_alloc {
            // Already armed is fine: the zeroer sees this run too.
            let _ = zeroing_queue().enqueue_delayed(self.clone(), ZERO_DELAY);
        }
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
        let l = &mut *l;
        // Pending runs first: they have not been zeroed yet.
        for pass in 0..2 * NPOOLS {
            let (i, order) = (pass % NPOOLS, order_of(pass % NPOOLS));
            while freed < nr {
                let p = if pass < NPOOLS {
                    l.pending[i].pop()
                } else {
                    l.runs[i].pop().map(|r| r.page)
                };
                let Some(p) = p else { break };
                l.pages -= 1 << order;
                // Freeing pages does not sleep: fine under the spinlock.
                // SAFETY: Popped from the pools, so ours, and dropped here.
                unsafe { free(p, order) };
                freed += 1 << order;
            }
        }
        freed
    }

    /// Writes each pool's size and its hit and miss counters.
    pub(crate) fn write_stats(&self, f: &mut fmt::Formatter<'_>, heap: &str) -> fmt::Result {
        let (lens, dirty): ([usize; NPOOLS], [usize; NPOOLS]) = {
            let l = self.lists.lock();
            (
                core::array::from_fn(|i| l.runs[i].len() + l.pending[i].len() + l.zeroing[i]),
                core::array::from_fn(|i| l.pending[i].len() + l.zeroing[i]),
            )
        };
        let pages = |runs: &[usize; NPOOLS]| -> usize {
            runs.iter().enumerate().map(|(i, n)| n << order_of(i)).sum()
        };
        writeln!(f, "heap.{heap}.pool_pages {}", pages(&lens))?;
        // Pages that the work item has yet to zero: a run it is zeroing can
        // be handed out by no one until it is done.
        writeln!(f, "heap.{heap}.pool_dirty_pages {}", pages(&dirty))?;
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

/// Gives a run back to the page allocator.
///
/// # Safety
///
/// The caller owns the run at `page`, allocated with `order`, and gives it
/// up: nothing uses it afterwards.
unsafe fn free(page: NonNull<bindings::page>, order: u32) {
    // SAFETY: By the caller.
    unsafe { bindings::__free_pages(page.as_ptr(), order) };
}

/// Zeroes a run.
///
/// # Safety
///
/// The caller owns the run of `1 << order` pages at `page`, and nothing
/// else reads or writes it meanwhile.
unsafe fn zero(page: NonNull<bindings::page>, order: u32) {
    // SAFETY: By the caller.
    unsafe { ffi::rust_ion_zero_pages(page.as_ptr(), 1 << order) };
}

#[pinned_drop]
impl PinnedDrop for Pools {
    fn drop(self: Pin<&mut Self>) {
        let shrinker = self.shrinker.load(Relaxed);
        if !shrinker.is_null() {
            // SAFETY: Registered in `new`; this waits for running callbacks,
            // after which none can see `self`.
            unsafe { bindings::shrinker_free(shrinker) };
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
