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

use super::{CacheMode, Run, Source};
use crate::{
    abstractions::{
        dma::OwnedDevice,
        page::{ContiguousPages, Pages},
        shrinker::{Count, Scan, ShrinkControl, Shrinker},
        workqueue::{flush_delayed, system_dfl},
    },
    stats::Relaxed,
};
use core::fmt;
use kernel::{
    new_spinlock,
    prelude::*,
    sync::{atomic::Atomic, Arc, SetOnce, SpinLock},
    workqueue::{impl_has_delayed_work, new_delayed_work, DelayedWork, WorkItem},
};

/// The orders the pools keep, largest first: the system heap's orders but
/// single pages, which go straight back to the page allocator. Its per-CPU
/// lists hand a page back as fast as a pool would, without our lock, and
/// the page is zeroed inline either way.
const ORDERS: [u32; 2] = [super::system::ORDERS[0], super::system::ORDERS[1]];

const NPOOLS: usize = 2 * ORDERS.len();

/// The pool of runs of `order` pages in one cache mode.
fn index(order: u32, mode: CacheMode) -> Option<usize> {
    let i = ORDERS.iter().position(|&o| o == order)?;
    Some(match mode {
        CacheMode::Cached => i,
        CacheMode::Uncached => ORDERS.len() + i,
    })
}

fn order_of(i: usize) -> u32 {
    ORDERS[i % ORDERS.len()]
}

fn is_uncached(i: usize) -> bool {
    i >= ORDERS.len()
}

/// A block in a pool, and whether it is clean for DMA (see [`Run::clean`]).
struct Kept {
    pages: Pages,
    clean: bool,
}

/// # Invariants
///
/// Every block in `runs[i]` and `pending[i]` has order `order_of(i)`; those
/// in `runs[i]` are zeroed unless `zero_on_alloc`, and written back from
/// the CPU caches if marked clean; those in `pending[i]` are not zeroed.
/// `zeroing[i]` blocks are out of `pending[i]`, being zeroed by the work
/// item. `pages` counts them all.
struct Lists {
    runs: [KVec<Kept>; NPOOLS],
    pending: [KVec<Pages>; NPOOLS],
    zeroing: [usize; NPOOLS],
    pages: usize,
}

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
    /// The device that uncached runs are cleaned for; until it is set they
    /// are cleaned at allocation, as runs from elsewhere are.
    clean_dev: SetOnce<Arc<OwnedDevice>>,
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
        while let Some((i, mut pages)) = this.pop_pending() {
            pages.zero();
            let clean = is_uncached(i)
                && this
                    .clean_dev
                    .as_ref()
                    .is_some_and(|dev| super::write_back(dev.device(), pages.contiguous()).is_ok());
            let order = order_of(i);
            let mut l = this.lists.lock();
            l.zeroing[i] -= 1;
            // Never fails: `runs[i]` has room for the bound, and `pages`
            // already counts this block. If it did, the block would drop,
            // back to the page allocator.
            if l.runs[i]
                .push_within_capacity(Kept { pages, clean })
                .is_err()
            {
                l.pages -= 1 << order;
            }
        }
    }
}

impl Pools {
    /// Pools holding at most `max_bytes`, zeroing pages before they go back
    /// in (or, with `zero_on_alloc`, on the way out). The owner registers
    /// them with a shrinker.
    pub(crate) fn new(max_bytes: usize, zero_on_alloc: bool) -> Result<Arc<Self>> {
        let max_pages = max_bytes / kernel::page::PAGE_SIZE;
        fn lists<T>(max_pages: usize) -> Result<[KVec<T>; NPOOLS]> {
            let mut l: [KVec<T>; NPOOLS] = core::array::from_fn(|_| KVec::new());
            for (i, r) in l.iter_mut().enumerate() {
                r.reserve(max_pages >> order_of(i), GFP_KERNEL)?;
            }
            Ok(l)
        }
        let (runs, pending) = (lists(max_pages)?, lists(max_pages)?);
        Arc::pin_init(
            try_pin_init!(Pools {
                lists <- new_spinlock!(Lists { runs, pending, zeroing: [0; NPOOLS], pages: 0 }),
                work <- new_delayed_work!("ion_rs::Pools::work"),
                max_pages,
                zero_on_alloc,
                hits: [const { Atomic::new(0) }; NPOOLS],
                misses: [const { Atomic::new(0) }; NPOOLS],
                clean_dev: SetOnce::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// Runs the zeroing work now if it is armed, and waits for it. The
    /// owner calls it before it lets go of the pools, so that no work of
    /// this module runs after it is unloaded.
    pub(crate) fn flush(&self) {
        flush_delayed(&self.work);
    }

    /// Has the zeroer clean uncached runs for `dev` (which has a DMA mask)
    /// from now on. Only the first device set counts.
    pub(crate) fn set_clean_device(&self, dev: Arc<OwnedDevice>) {
        self.clean_dev.populate(dev);
    }

    fn pop_pending(&self) -> Option<(usize, Pages)> {
        let mut l = self.lists.lock();
        let (i, p) = (0..NPOOLS).find_map(|i| l.pending[i].pop().map(|p| (i, p)))?;
        l.zeroing[i] += 1;
        Some((i, p))
    }

    /// A zeroed run of `1 << order` pages from the pool, if it has one.
    pub(crate) fn take(&self, order: u32, mode: CacheMode) -> Option<Run> {
        let i = index(order, mode)?;
        // A zeroed run if there is one, else a pending (dirty) one.
        let kept = {
            let mut l = self.lists.lock();
            let k = match l.runs[i].pop() {
                Some(k) => Some((k, self.zero_on_alloc)),
                None => l.pending[i].pop().map(|pages| {
                    (
                        Kept {
                            pages,
                            clean: false,
                        },
                        true,
                    )
                }),
            };
            if k.is_some() {
                l.pages -= 1 << order;
            }
            k
        };
        let Some((mut kept, dirty)) = kept else {
            self.misses[i].add(1, Relaxed);
            return None;
        };
        self.hits[i].add(1, Relaxed);
        if dirty {
            kept.pages.zero();
        }
        let mut run = Run::new(Source::Block(kept.pages));
        run.clean = kept.clean && !dirty;
        Some(run)
    }

    /// Keeps a block that its owner gives up, to be zeroed later by the
    /// work item (or on the way out). A block the pools do not keep (full,
    /// or an order they do not pool) drops, back to the page allocator.
    pub(crate) fn give(self: &Arc<Self>, pages: Pages, mode: CacheMode) {
        let order = pages.order();
        let Some(i) = index(order, mode) else {
            return;
        };
        {
            let mut l = self.lists.lock();
            if l.pages + (1 << order) > self.max_pages {
                return;
            }
            // Never allocates: capacity for the bound was reserved.
            // INVARIANT: dirty blocks go to `pending`, or to `runs` (not
            // clean) when they are zeroed on the way out.
            let kept = if self.zero_on_alloc {
                l.runs[i]
                    .push_within_capacity(Kept {
                        pages,
                        clean: false,
                    })
                    .is_ok()
            } else {
                l.pending[i].push_within_capacity(pages).is_ok()
            };
            if !kept {
                return;
            }
            l.pages += 1 << order;
        }
        if !self.zero_on_alloc {
            // Already armed is fine: the zeroer sees this block too.
            let _ = system_dfl().enqueue_delayed(self.clone(), ZERO_DELAY);
        }
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
                    l.runs[i].pop().map(|k| k.pages)
                };
                let Some(p) = p else { break };
                l.pages -= 1 << order;
                // Freeing pages does not sleep: fine under the spinlock.
                drop(p);
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

#[pinned_drop]
impl PinnedDrop for Pools {
    fn drop(self: Pin<&mut Self>) {
        self.shrink(usize::MAX);
    }
}

/// The shrinker (registered by the owner, which drops it before the pools)
/// counts and frees pages, of any node.
impl Shrinker for Pools {
    fn count(&self, _sc: &ShrinkControl<'_>) -> Count {
        match Pools::count(self) {
            0 => Count::Empty,
            n => Count::Objects(n),
        }
    }

    /// Whole runs go, so a scan frees at least one run while any page is
    /// pooled: nothing freed means the pools are empty, and reclaim need
    /// not ask again this round.
    fn scan(&self, sc: &ShrinkControl<'_>) -> Scan {
        match self.shrink(sc.nr_to_scan()) {
            0 => Scan::Stop,
            n => Scan::Freed(n),
        }
    }
}
