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
//! Per cgroup: each pool is a memcg-aware [`ListLru`]. A run of a pooled
//! order travels with a node of its pool's list ([`Pooled`]), allocated
//! with the run, in the allocating task's context: with accounting on, the
//! node and the pages are charged to the same cgroup, so the run goes back
//! on that cgroup's list whoever frees it, still charged, and only that
//! cgroup's allocations take it. A cgroup's reclaim (at `memory.high` or
//! `memory.max`) reaches its own lists through the memcg-aware shrinker;
//! when the cgroup goes offline the core hands its runs to the parent, as
//! it does their charges. With accounting off nothing is charged and every
//! run is on the root's list: one global pool.
//!
//! Locks: the lists' spinlocks are the core's, and leaves. Nothing is
//! allocated and nothing is zeroed under them (the walks hand runs over
//! after unlocking), so reclaim, and with it our own shrinker, cannot be
//! entered under one.

use super::{Account, CacheMode, Run, Source};
use crate::{
    abstractions::{
        dma::OwnedDevice,
        list_lru::{Item, ListLru, Nid, NodeCache, Walk},
        memcg::MemCgroup,
        page::{ContiguousPages, Gfp, Pages},
        shrinker::{Count, Scan, ShrinkControl, Shrinker, Unregistered},
        workqueue::{flush_delayed, system_dfl},
    },
    stats::Relaxed,
};
use core::fmt;
use kernel::{
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic, Release},
        Arc, SetOnce,
    },
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

/// A block of a pooled order and its state.
pub(crate) struct Kept {
    pages: Pages,
    /// Zeroed since its last owner gave it up.
    zeroed: bool,
    /// Zeroed and written back from the CPU caches (see [`Run::clean`]).
    clean: bool,
}

impl Kept {
    /// The block.
    pub(crate) fn pages(&self) -> &Pages {
        &self.pages
    }
}

/// A run that its pool will take back: the block in a node of the list of
/// its order and cache mode, allocated with it (and charged with it).
pub(crate) type Pooled = Item<Kept>;

/// # Invariants
///
/// `lists[i]` holds blocks of order `order_of(i)`, zeroed if `zeroed`
/// (and then written back if `clean`). `runs[i]` counts the blocks of pool
/// `i`, on its lists or being zeroed; `dirty[i]` those of them not zeroed
/// or not yet back on a list after zeroing (none with `zero_on_alloc`,
/// whose blocks are zeroed on the way out);
/// `pages` all of their pages, at most `max_pages`.
#[pin_data(PinnedDrop)]
pub(crate) struct Pools {
    lists: [Arc<ListLru<Kept>>; NPOOLS],
    #[pin]
    work: DelayedWork<Pools>,
    max_pages: usize,
    zero_on_alloc: bool,
    account: Account,
    pages: Atomic<i64>,
    runs: [Atomic<i64>; NPOOLS],
    dirty: [Atomic<i64>; NPOOLS],
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

/// How many runs the zeroer takes off a list at a time.
const ZERO_BATCH: usize = 8;

impl WorkItem for Pools {
    type Pointer = Arc<Pools>;

    /// Zeroes the pending runs of every cgroup, cleans the uncached ones,
    /// and puts them back on their lists, a few at a time.
    fn run(this: Arc<Pools>) {
        for i in 0..NPOOLS {
            for nid in Nid::possible() {
                while this.dirty[i].load(Relaxed) > 0 {
                    let mut n = 0;
                    let took = this.lists[i].walk_node(
                        nid,
                        usize::MAX,
                        |k| match (n < ZERO_BATCH, k.zeroed) {
                            (false, _) => Walk::Stop,
                            (true, true) => Walk::Skip,
                            (true, false) => {
                                n += 1;
                                Walk::Take
                            }
                        },
                        |mut k| {
                            k.pages.zero();
                            k.zeroed = true;
                            k.clean = is_uncached(i)
                                && this.clean_dev.as_ref().is_some_and(|dev| {
                                    super::write_back(dev.device(), k.pages.contiguous()).is_ok()
                                });
                            // Never refused: the run came off this list.
                            // If it were, it would drop, back to the page
                            // allocator.
                            if let Err(k) = this.lists[i].add(k) {
                                this.forget(i, &k);
                            }
                            // Only now, with the run back on its list: a
                            // reader that sees no dirty run then finds
                            // every run on a list (the release pairs with
                            // `write_stats`' acquire).
                            this.dirty[i].fetch_add(-1, Release);
                        },
                    );
                    if took == 0 {
                        break;
                    }
                }
            }
        }
    }
}

/// Tells the instances' slab caches apart.
static INSTANCE: Atomic<i64> = Atomic::new(0);

impl Pools {
    /// Pools holding at most `max_bytes`, zeroing pages before they go back
    /// in (or, with `zero_on_alloc`, on the way out), and charging their
    /// runs' nodes as `account` says; walked by `shrinker`, whose data they
    /// are.
    pub(crate) fn new(
        max_bytes: usize,
        zero_on_alloc: bool,
        account: Account,
        shrinker: &Unregistered<'_>,
    ) -> Result<Arc<Self>> {
        let max_pages = max_bytes / kernel::page::PAGE_SIZE;
        let instance = INSTANCE.fetch_add(1, Relaxed);
        // One slab cache for the nodes of every list: a cache is slow to
        // make and to destroy (an RCU barrier), and its name is unique.
        let cache = NodeCache::new(&CString::try_from_fmt(fmt!("ion_rs_pool{instance}"))?)?;
        let list = || ListLru::new(&cache, Some(shrinker));
        const _: () = assert!(NPOOLS == 4);
        let lists = [list()?, list()?, list()?, list()?];
        Arc::pin_init(
            try_pin_init!(Pools {
                lists,
                work <- new_delayed_work!("ion_rs::Pools::work"),
                max_pages,
                zero_on_alloc,
                account,
                pages: Atomic::new(0),
                runs: [const { Atomic::new(0) }; NPOOLS],
                dirty: [const { Atomic::new(0) }; NPOOLS],
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

    /// Whether the pools keep runs of `order` (in either mode).
    pub(crate) fn keeps(&self, order: u32) -> bool {
        ORDERS.contains(&order)
    }

    /// The cgroup whose runs an allocation of the current task may take:
    /// the one it is charged to with accounting on; the root (`None`), where
    /// every run is, with it off.
    pub(crate) fn cgroup(&self) -> Option<ARef<MemCgroup>> {
        match self.account {
            Account::Off => None,
            Account::Memcg => MemCgroup::charged(),
        }
    }

    /// The block `pages` as a run its pool will take back, with a node
    /// charged as the pools charge; a block of an order they do not keep,
    /// or whose node cannot be had, is a plain block.
    pub(crate) fn wrap(&self, pages: Pages, mode: CacheMode) -> Source {
        let Some(i) = index(pages.order(), mode) else {
            return Source::Block(pages);
        };
        let gfp = Gfp::KERNEL | Gfp::NOWARN | self.account.gfp();
        let kept = Kept {
            pages,
            zeroed: false,
            clean: false,
        };
        match self.lists[i].alloc(gfp, kept) {
            Ok(item) => Source::Pooled(item),
            Err(kept) => Source::Block(kept.pages),
        }
    }

    /// Drops the counts of a run of pool `i` that leaves the pools.
    fn forget(&self, i: usize, k: &Kept) {
        self.uncount(i, 1, usize::from(!k.zeroed));
    }

    /// Drops the counts of `runs` runs of pool `i` that left the pools,
    /// `dirty` of them not zeroed.
    fn uncount(&self, i: usize, runs: usize, dirty: usize) {
        self.pages.add(-((runs as i64) << order_of(i)), Relaxed);
        self.runs[i].add(-(runs as i64), Relaxed);
        if dirty > 0 && !self.zero_on_alloc {
            self.dirty[i].add(-(dirty as i64), Relaxed);
        }
    }

    /// Up to `want` zeroed runs of `1 << order` pages from the pool of
    /// `memcg` (the root's for `None`), taken in one walk of its list on
    /// each node and handed to `each`, after the list is unlocked: zeroed
    /// runs if the zeroer got to them, else pending ones, zeroed here.
    /// Returns how many; the runs it could not give count as misses.
    pub(crate) fn take(
        &self,
        order: u32,
        mode: CacheMode,
        memcg: Option<&MemCgroup>,
        want: usize,
        mut each: impl FnMut(Run),
    ) -> usize {
        let Some(i) = index(order, mode) else {
            return 0;
        };
        let (mut got, mut dirty) = (0, 0);
        for nid in Nid::possible() {
            if got == want {
                break;
            }
            got += self.lists[i].walk_one(
                nid,
                memcg,
                want - got,
                |_| Walk::Take,
                |k| {
                    dirty += usize::from(!k.zeroed);
                    each(Self::hand_out(k));
                },
            );
        }
        // Counted once for the walk, after the runs left the lists.
        if got > 0 {
            self.uncount(i, got, dirty);
        }
        self.hits[i].add(got as i64, Relaxed);
        if got < want {
            self.misses[i].add((want - got) as i64, Relaxed);
        }
        got
    }

    /// A run that a walk took off a pool, zeroed, as the run it leaves as
    /// (its pool's counts are the walk's to drop).
    fn hand_out(mut k: Pooled) -> Run {
        if !k.zeroed {
            k.pages.zero();
        }
        let clean = k.clean && k.zeroed;
        k.zeroed = false;
        k.clean = false;
        let mut run = Run::new(Source::Pooled(k));
        run.clean = clean;
        run
    }

    /// Keeps the runs that their owner gives up (a buffer's, when it is
    /// freed), each on the list of the cgroup its node is charged to, to be
    /// zeroed later by the work item, armed once for them all (or on the
    /// way out). A run the pools do not keep (full, or of another mode)
    /// drops, back to the page allocator.
    pub(crate) fn give(self: &Arc<Self>, runs: impl IntoIterator<Item = Pooled>, mode: CacheMode) {
        let mut kept = false;
        for k in runs {
            kept |= self.keep(k, mode);
        }
        if kept && !self.zero_on_alloc {
            // Already armed is fine: the zeroer sees these runs too.
            let _ = system_dfl().enqueue_delayed(self.clone(), ZERO_DELAY);
        }
    }

    /// Lists `k` as a dirty run of `mode`; whether it was kept.
    fn keep(&self, mut k: Pooled, mode: CacheMode) -> bool {
        let Some(i) = index(k.pages.order(), mode) else {
            return false;
        };
        let n = 1i64 << order_of(i);
        if self.pages.fetch_add(n, Relaxed) + n > self.max_pages as i64 {
            self.pages.add(-n, Relaxed);
            return false;
        }
        k.zeroed = false;
        k.clean = false;
        self.runs[i].add(1, Relaxed);
        if !self.zero_on_alloc {
            self.dirty[i].add(1, Relaxed);
        }
        match self.lists[i].add(k) {
            Ok(()) => true,
            Err(k) => {
                // A run of the other mode: not ours to keep.
                self.forget(i, &k);
                false
            }
        }
    }

    /// Frees up to `nr` pages of the lists that `walk` walks (whole runs,
    /// pending ones first, the largest first); returns how many pages were
    /// freed.
    fn free_runs(
        &self,
        nr: usize,
        mut walk: impl FnMut(&Arc<ListLru<Kept>>, &mut dyn FnMut(&Kept) -> Walk, &mut dyn FnMut(Pooled)),
    ) -> usize {
        let mut freed = 0;
        for pass in 0..2 * NPOOLS {
            let i = pass % NPOOLS;
            let pending_only = pass < NPOOLS;
            let want = |freed: usize| freed < nr;
            let mut planned = freed;
            walk(
                &self.lists[i],
                &mut |k| {
                    if !want(planned) {
                        Walk::Stop
                    } else if pending_only && k.zeroed {
                        Walk::Skip
                    } else {
                        planned += 1 << order_of(i);
                        Walk::Take
                    }
                },
                &mut |k| {
                    self.forget(i, &k);
                    // Freeing pages does not sleep.
                    drop(k);
                    freed += 1 << order_of(i);
                },
            );
        }
        freed
    }

    /// Empties the pools of every cgroup.
    pub(crate) fn drain(&self) -> usize {
        let mut freed = 0;
        for nid in Nid::possible() {
            freed += self.free_runs(usize::MAX, |l, f, then| {
                l.walk_node(nid, usize::MAX, f, then);
            });
        }
        freed
    }

    /// Writes each pool's size and its hit and miss counters.
    pub(crate) fn write_stats(&self, f: &mut fmt::Formatter<'_>, heap: &str) -> fmt::Result {
        let runs: [i64; NPOOLS] = core::array::from_fn(|i| self.runs[i].load(Relaxed));
        let dirty: [i64; NPOOLS] = core::array::from_fn(|i| self.dirty[i].load(Acquire));
        let pages = |runs: &[i64; NPOOLS]| -> i64 {
            runs.iter().enumerate().map(|(i, n)| n << order_of(i)).sum()
        };
        writeln!(f, "heap.{heap}.pool_pages {}", pages(&runs))?;
        // Pages that the work item has yet to zero and put back: a run it
        // is zeroing can be handed out by no one until it is done.
        writeln!(f, "heap.{heap}.pool_dirty_pages {}", pages(&dirty))?;
        for (i, n) in runs.iter().enumerate() {
            let mode = if is_uncached(i) { "uncached" } else { "cached" };
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
        self.drain();
    }
}

/// The shrinker (registered by the owner, which drops it before the pools)
/// counts and frees the pages of the node and cgroup that reclaim asks
/// for.
impl Shrinker for Pools {
    fn count(&self, sc: &ShrinkControl<'_>) -> Count {
        let n: usize = (0..NPOOLS)
            .map(|i| self.lists[i].shrink_count(sc) << order_of(i))
            .sum();
        match n {
            0 => Count::Empty,
            n => Count::Objects(n),
        }
    }

    /// Whole runs go, so a scan frees at least one run while any page of
    /// the cgroup is pooled: nothing freed means its pools are empty, and
    /// reclaim need not ask again this round.
    fn scan(&self, sc: &ShrinkControl<'_>) -> Scan {
        let freed = self.free_runs(sc.nr_to_scan(), |l, f, then| {
            l.shrink_walk(sc, usize::MAX, f, then);
        });
        match freed {
            0 => Scan::Stop,
            n => Scan::Freed(n),
        }
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(ion_rs_page_pool)]
mod tests {
    use super::*;
    use crate::abstractions::shrinker::Registration;

    fn pools(max_runs: usize, account: Account) -> Result<Registration<Pools>> {
        let max = max_runs * (kernel::page::PAGE_SIZE << ORDERS[0]);
        Registration::register_lru_aware(c"ion_rs_page_pool_test", |s| {
            Pools::new(max, false, account, s)
        })
    }

    /// A run of the largest pooled order, as the system heap makes one.
    fn run(p: &Pools, mode: CacheMode) -> Result<Pooled> {
        let pages = Pages::alloc(ORDERS[0], Gfp::KERNEL | p.account.gfp())?;
        match p.wrap(pages, mode) {
            Source::Pooled(k) => Ok(k),
            _ => Err(ENOMEM),
        }
    }

    fn give_back(p: &Arc<Pools>, r: Run, mode: CacheMode) {
        if let Source::Pooled(k) = r.source {
            p.give([k], mode);
        }
    }

    /// At most one run of the largest order from the pool of `memcg`.
    fn take_one(p: &Pools, mode: CacheMode, memcg: Option<&MemCgroup>) -> Option<Run> {
        let mut got = None;
        p.take(ORDERS[0], mode, memcg, 1, |r| got = Some(r));
        got
    }

    /// Runs go back to the pool of their order and mode, up to the bound;
    /// the zeroer zeroes them; a take of the same cgroup hits, clean for
    /// an uncached run once a device is set, and another mode misses. One
    /// take walks for several runs, and what it cannot give are misses.
    #[test]
    fn runs_come_back_to_their_pool() -> Result {
        for account in [Account::Off, Account::Memcg] {
            let reg = pools(2, account)?;
            let p = reg.data();
            let memcg = p.cgroup();
            for _ in 0..3 {
                p.give([run(p, CacheMode::Cached)?], CacheMode::Cached);
            }
            // The third run was over the bound: back to the page allocator.
            assert_eq!(p.runs[0].load(Relaxed), 2);
            assert_eq!(p.pages.load(Relaxed), 2 << ORDERS[0]);
            p.flush();
            assert_eq!(p.dirty[0].load(Relaxed), 0);
            assert!(take_one(p, CacheMode::Uncached, memcg.as_deref()).is_none());
            let r = take_one(p, CacheMode::Cached, memcg.as_deref()).ok_or(ENOMEM)?;
            assert_eq!((p.hits[0].load(Relaxed), p.misses[2].load(Relaxed)), (1, 1));
            assert_eq!(p.runs[0].load(Relaxed), 1);
            // A run given back is taken again, dirty (and zeroed on the way
            // out) or zeroed, whether or not the zeroer ran in between;
            // with the other one, in one walk that asked for three.
            give_back(p, r, CacheMode::Cached);
            let mut again = KVec::new();
            let n = p.take(ORDERS[0], CacheMode::Cached, memcg.as_deref(), 3, |r| {
                assert!(again.push(r, GFP_KERNEL).is_ok());
            });
            assert_eq!((n, again.len()), (2, 2));
            assert_eq!((p.hits[0].load(Relaxed), p.misses[0].load(Relaxed)), (3, 1));
            assert_eq!((p.runs[0].load(Relaxed), p.pages.load(Relaxed)), (0, 0));
            for r in again.drain_all() {
                give_back(p, r, CacheMode::Cached);
            }
            p.flush();
            assert_eq!(p.dirty[0].load(Relaxed), 0);
            assert_eq!(p.drain(), 2 << ORDERS[0]);
            assert_eq!((p.runs[0].load(Relaxed), p.pages.load(Relaxed)), (0, 0));
        }
        Ok(())
    }

    /// The shrinker counts the root's pooled pages on the node reclaim
    /// asks about and frees whole runs; an empty pool is `Empty`, and a
    /// scan that frees nothing is `Stop`. The zeroer has run first (and
    /// runs again before the drain): a run it is zeroing is off its list,
    /// out of the count's and the drain's sight, and back on it after.
    #[test]
    fn the_shrinker_frees_what_it_counts() -> Result {
        let reg = pools(4, Account::Memcg)?;
        let p = reg.data();
        for _ in 0..3 {
            p.give([run(p, CacheMode::Uncached)?], CacheMode::Uncached);
        }
        p.flush();
        let per_run = 1usize << ORDERS[0];
        let mut counted = 0;
        let mut freed = 0;
        for nid in Nid::possible() {
            counted += match ShrinkControl::with_root(nid, 0, |sc| p.count(sc)) {
                Count::Objects(n) => n,
                Count::Empty => 0,
            };
            freed += match ShrinkControl::with_root(nid, per_run + 1, |sc| p.scan(sc)) {
                Scan::Freed(n) => n,
                Scan::Stop => 0,
            };
        }
        assert_eq!(counted, 3 * per_run);
        // Asked for a page more than a run: whole runs, so two.
        assert_eq!(freed, 2 * per_run);
        assert_eq!(p.runs[2].load(Relaxed), 1);
        p.flush();
        p.drain();
        for nid in Nid::possible() {
            assert_eq!(
                ShrinkControl::with_root(nid, 0, |sc| p.count(sc)),
                Count::Empty
            );
            assert_eq!(
                ShrinkControl::with_root(nid, 8, |sc| p.scan(sc)),
                Scan::Stop
            );
        }
        assert_eq!(p.pages.load(Relaxed), 0);
        Ok(())
    }
}
