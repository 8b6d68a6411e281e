// SPDX-License-Identifier: GPL-2.0

//! Lists that reclaim walks, per NUMA node and per memory cgroup
//! (`struct list_lru`).
//!
//! C header: [`include/linux/list_lru.h`](srctree/include/linux/list_lru.h)
//!
//! A [`ListLru<T>`] keeps [`Item<T>`]s, each a `T` in a node of a slab
//! cache ([`NodeCache<T>`]) that several lists may share. The list is memcg-aware when the shrinker that walks it
//! is ([`Registration::register_lru_aware`]): an item is filed on the list
//! of the memory cgroup that its node is charged to, and a cgroup's list
//! exists once an item was allocated for it ([`ListLru::alloc`] with
//! [`Gfp::ACCOUNT`], in the cgroup's task). That is how 7.3 lets a module
//! file per cgroup: `memcg_list_lru_alloc()` is not exported, and
//! `kmem_cache_alloc_lru()` is.
//!
//! When a cgroup goes offline, the core moves its items to its parent's
//! list, as it moves the charges of its objects (and so of the nodes) to
//! the parent.
//!
//! [`Registration::register_lru_aware`]: super::shrinker::Registration::register_lru_aware

use super::{
    helpers,
    memcg::MemCgroup,
    page::Gfp,
    shrinker::{ShrinkControl, Unregistered},
};
use core::{
    marker::PhantomData,
    mem::ManuallyDrop,
    ops::{Deref, DerefMut},
    ptr::{addr_of_mut, NonNull},
};
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_ulong, c_void},
    prelude::*,
    str::CStr,
    sync::Arc,
    types::Opaque,
};

/// A NUMA node that has a list in every [`ListLru`]: a possible node.
///
/// # Invariants
///
/// `0 <= self.0 < nr_node_ids` and `node_possible(self.0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Nid(i32);

impl Nid {
    /// `nid`, if it is a possible node.
    pub(crate) fn new(nid: i32) -> Option<Self> {
        // SAFETY: Reading a boot-time constant has no precondition.
        let ids = unsafe { helpers::rust_helper_nr_node_ids() };
        if !u32::try_from(nid).is_ok_and(|n| n < ids) {
            return None;
        }
        // SAFETY: `nid` is in range: `node_possible` reads a bit of a node
        // mask of `nr_node_ids` bits.
        let possible = unsafe { helpers::rust_helper_node_possible(nid) };
        // INVARIANT: Checked just above.
        possible.then_some(Self(nid))
    }

    /// The node's number.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn as_raw(self) -> i32 {
        self.0
    }

    /// Every possible node, in order.
    ///
    /// `nr_node_ids` is one more than the highest possible node, so the
    /// last id needs no lookup: on a kernel with one node, the walk asks
    /// nothing at all.
    pub(crate) fn possible() -> impl Iterator<Item = Nid> {
        // SAFETY: As in `new`.
        let ids = unsafe { helpers::rust_helper_nr_node_ids() };
        (0..ids).filter_map(move |n| {
            let nid = i32::try_from(n).ok()?;
            // SAFETY: `nid` is below `nr_node_ids`, as in `new`.
            let possible = n + 1 == ids || unsafe { helpers::rust_helper_node_possible(nid) };
            // INVARIANT: Below `nr_node_ids`, and possible: checked, or the
            // highest possible node.
            possible.then_some(Self(nid))
        })
    }
}

/// What a walk does with the item it is shown (`enum lru_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Take the item off the list; the walk hands it over once the list
    /// is unlocked (`LRU_REMOVED`).
    Take,
    /// Move the item to the tail and go on (`LRU_ROTATE`).
    #[cfg(ion_rs_kunit)]
    Rotate,
    /// Leave the item and go on (`LRU_SKIP`).
    Skip,
    /// Leave the item and end the walk, on every list (`LRU_STOP`).
    Stop,
}

/// A node: the link first, so that the link's address is the node's and
/// the slab object's.
#[repr(C)]
struct Node<T> {
    link: bindings::list_head,
    value: T,
}

/// A slab cache of the nodes of [`ListLru<T>`]s, shared by the lists made
/// with it; it goes with the last of them.
///
/// # Invariants
///
/// `0` was made by `kmem_cache_create` for `Node<T>`s and is destroyed
/// once, on drop.
pub(crate) struct NodeCache<T>(NonNull<bindings::kmem_cache>, PhantomData<T>);

// SAFETY: A slab cache allocates and frees from any thread; the cache
// holds no `T` of its own (nodes are owned by lists and items).
unsafe impl<T: Send> Send for NodeCache<T> {}
// SAFETY: As above.
unsafe impl<T: Send> Sync for NodeCache<T> {}

impl<T: Send + 'static> NodeCache<T> {
    /// A new cache named `name`, which should be unique (a debug kernel
    /// warns about a duplicate, and slab reports a failure with a stack
    /// dump).
    pub(crate) fn new(name: &CStr) -> Result<Arc<Self>> {
        let size = u32::try_from(core::mem::size_of::<Node<T>>())?;
        let mut args: bindings::kmem_cache_args = pin_init::zeroed();
        args.align = u32::try_from(core::mem::align_of::<Node<T>>())?;
        // SAFETY: `name` is a C string (the cache copies it); `args` is
        // valid for the call.
        let raw =
            unsafe { bindings::__kmem_cache_create_args(name.as_char_ptr(), size, &mut args, 0) };
        // INVARIANT: Made just above, for `Node<T>`s.
        let cache = Self(NonNull::new(raw).ok_or(ENOMEM)?, PhantomData);
        Ok(Arc::new(cache, GFP_KERNEL)?)
    }

    /// Drops the value of `node`, then frees the node.
    ///
    /// # Safety
    ///
    /// `node` is a live node of this cache whose value is initialised, on
    /// no list and owned by the caller, who never uses it again.
    unsafe fn free_node(&self, node: *mut Node<T>) {
        // SAFETY: By the caller: the value is live and dropped once, then
        // the node goes back to the cache it came from, once.
        unsafe {
            core::ptr::drop_in_place(addr_of_mut!((*node).value));
            bindings::kmem_cache_free(self.0.as_ptr(), node.cast());
        }
    }
}

impl<T> Drop for NodeCache<T> {
    fn drop(&mut self) {
        // SAFETY: Made by `kmem_cache_create` (invariant); every list made
        // with it holds it and freed its nodes when it went, and every item
        // holds its list.
        unsafe { bindings::kmem_cache_destroy(self.0.as_ptr()) };
    }
}

/// A `list_lru` of `T`s.
///
/// # Invariants
///
/// `raw` is initialised (memcg-aware if `memcg_aware`) and destroyed on
/// drop. Every item on it is the link of a live `Node<T>` of `cache`,
/// allocated for this list and owned by it: no [`Item`] refers to it.
#[pin_data(PinnedDrop)]
pub(crate) struct ListLru<T: Send + 'static> {
    #[pin]
    raw: Opaque<bindings::list_lru>,
    cache: Arc<NodeCache<T>>,
    _items: PhantomData<T>,
}

// SAFETY: The lists are locked by the core; items are `Send` and taken off
// them whole.
unsafe impl<T: Send + 'static> Send for ListLru<T> {}
// SAFETY: As above: every method through `&self` locks the lists.
unsafe impl<T: Send + 'static> Sync for ListLru<T> {}

/// The state of a walk, which the walk callback reaches through `cb_arg`.
struct WalkState<F> {
    f: F,
    /// Taken items, linked here by `list_lru_isolate_move`.
    taken: bindings::list_head,
    /// The walk's budget, which `Walk::Stop` sets to zero.
    nr: *mut c_ulong,
}

impl<T: Send + 'static> ListLru<T> {
    /// A list whose nodes come from `cache`, walked by `shrinker`, and
    /// memcg-aware if `shrinker` is.
    pub(crate) fn new(
        cache: &Arc<NodeCache<T>>,
        shrinker: Option<&Unregistered<'_>>,
    ) -> Result<Arc<Self>> {
        let memcg_aware = shrinker.is_some_and(|s| s.memcg_aware());
        let shrinker = shrinker.map_or(core::ptr::null_mut(), |s| s.as_raw());
        Arc::pin_init(
            try_pin_init!(Self {
                cache: cache.clone(),
                raw <- Opaque::try_ffi_init(|slot: *mut bindings::list_lru| {
                    // SAFETY: `slot` is ours to initialise; a zeroed
                    // `list_lru` has no lockdep key. `shrinker` is
                    // allocated and unregistered, or null.
                    to_result(unsafe {
                        slot.write_bytes(0, 1);
                        bindings::__list_lru_init(slot, memcg_aware, shrinker)
                    })
                }),
                _items: PhantomData,
            }),
            GFP_KERNEL,
        )
    }

    /// Allocates a node for `value`, with `gfp` (`GFP_KERNEL` and maybe
    /// [`Gfp::ACCOUNT`], which charges the node to the current task's
    /// cgroup and creates that cgroup's list); gives `value` back if it
    /// fails.
    pub(crate) fn alloc(self: &Arc<Self>, gfp: Gfp, value: T) -> Result<Item<T>, T> {
        // SAFETY: The cache and the list are live (invariant); `gfp` is
        // what the caller may sleep with.
        let raw = unsafe {
            bindings::kmem_cache_alloc_lru_noprof(
                self.cache.0.as_ptr(),
                self.raw.get(),
                gfp.as_raw(),
            )
        };
        let Some(node) = NonNull::new(raw.cast::<Node<T>>()) else {
            return Err(value);
        };
        let p = node.as_ptr();
        // SAFETY: A new object of the cache, sized and aligned for a
        // `Node<T>`: an empty link points to itself.
        unsafe {
            let link = addr_of_mut!((*p).link);
            link.write(bindings::list_head {
                next: link,
                prev: link,
            });
            addr_of_mut!((*p).value).write(value);
        }
        // INVARIANT: A node of this list's cache, off every list, ours.
        Ok(Item {
            node,
            lru: self.clone(),
        })
    }

    /// Puts `item` on the tail of the list of the cgroup that its node is
    /// charged to (the root's if none), on the node of its memory. Gives it
    /// back if it was allocated for another list.
    pub(crate) fn add(&self, item: Item<T>) -> Result<(), Item<T>> {
        if !core::ptr::eq(&*item.lru, self) {
            return Err(item);
        }
        let item = ManuallyDrop::new(item);
        let link = item.node.as_ptr().cast::<bindings::list_head>();
        // SAFETY: The list is live (`&self`); `link` is the empty link of a
        // node of its cache, allocated for it. From here the list owns the
        // node (invariant).
        unsafe { bindings::list_lru_add_obj(self.raw.get(), link) };
        // SAFETY: `item` is not used again: its reference to the list goes.
        drop(unsafe { core::ptr::read(&item.lru) });
        Ok(())
    }

    /// Walks at most `nr` items of the list of `memcg` (the root's for
    /// `None`) on `nid`, from the head, asking `f` what to do with each,
    /// then hands every item taken to `then`, after the list is unlocked.
    /// Returns how many were taken.
    ///
    /// `f` runs under the list's spinlock: it must not sleep.
    pub(crate) fn walk_one(
        self: &Arc<Self>,
        nid: Nid,
        memcg: Option<&MemCgroup>,
        nr: usize,
        f: impl FnMut(&T) -> Walk,
        then: impl FnMut(Item<T>),
    ) -> usize {
        let memcg = memcg.map_or(core::ptr::null_mut(), MemCgroup::as_raw);
        self.walk(nr, f, then, |cb, arg, nr| {
            // SAFETY: The list is live; `nid` is a possible node (its
            // invariant); `memcg` is referenced by the caller or null; `cb`
            // and `arg` are a walk callback and its state.
            unsafe { bindings::list_lru_walk_one(self.raw.get(), nid.0, memcg, cb, arg, nr) }
        })
    }

    /// As [`ListLru::walk_one`], over the lists of every cgroup on `nid`
    /// (the root's first).
    pub(crate) fn walk_node(
        self: &Arc<Self>,
        nid: Nid,
        nr: usize,
        f: impl FnMut(&T) -> Walk,
        then: impl FnMut(Item<T>),
    ) -> usize {
        self.walk(nr, f, then, |cb, arg, nr| {
            // SAFETY: As in `walk_one`.
            unsafe { bindings::list_lru_walk_node(self.raw.get(), nid.0, cb, arg, nr) }
        })
    }

    /// As [`ListLru::walk_one`], on the node and cgroup that reclaim asks
    /// a shrinker for.
    pub(crate) fn shrink_walk(
        self: &Arc<Self>,
        sc: &ShrinkControl<'_>,
        nr: usize,
        f: impl FnMut(&T) -> Walk,
        then: impl FnMut(Item<T>),
    ) -> usize {
        match Nid::new(sc.nid()) {
            Some(nid) => self.walk_one(nid, sc.memcg(), nr, f, then),
            None => 0,
        }
    }

    fn walk<F: FnMut(&T) -> Walk>(
        self: &Arc<Self>,
        nr: usize,
        f: F,
        mut then: impl FnMut(Item<T>),
        run: impl FnOnce(bindings::list_lru_walk_cb, *mut c_void, *mut c_ulong) -> c_ulong,
    ) -> usize {
        self.walk_raw(nr, f, run, |node| {
            // INVARIANT: Off every list, a node of this list's cache, and
            // the walk gave it to us.
            then(Item {
                node,
                lru: self.clone(),
            })
        })
    }

    /// Runs the walk `run` with `f`, then hands each node it took to
    /// `each`, which owns it from then on.
    fn walk_raw<F: FnMut(&T) -> Walk>(
        &self,
        nr: usize,
        f: F,
        run: impl FnOnce(bindings::list_lru_walk_cb, *mut c_void, *mut c_ulong) -> c_ulong,
        mut each: impl FnMut(NonNull<Node<T>>),
    ) -> usize {
        let mut nr: c_ulong = nr as c_ulong;
        let mut st = WalkState {
            f,
            taken: bindings::list_head {
                next: core::ptr::null_mut(),
                prev: core::ptr::null_mut(),
            },
            nr: &mut nr,
        };
        let st: *mut WalkState<F> = &mut st;
        // SAFETY: `st` stays here, unmoved, until the end of the function;
        // an empty list points to itself.
        let taken = unsafe { addr_of_mut!((*st).taken) };
        // SAFETY: As above.
        unsafe {
            taken.write(bindings::list_head {
                next: taken,
                prev: taken,
            })
        };
        // SAFETY: `st` outlives the walk, which passes it to `isolate`
        // only; `nr` is the walk's budget.
        let n = run(Some(Self::isolate::<F>), st.cast(), unsafe { (*st).nr });
        // The list is unlocked: hand the taken nodes over, in walk order
        // (each was moved to the head of `taken`: the last is the first).
        // SAFETY: `taken` heads a list of links of this list's nodes, which
        // the walk took off it (and so owns), or is empty. Each is unlinked
        // and left empty before it goes.
        unsafe {
            loop {
                let link = (*taken).prev;
                if link == taken {
                    break;
                }
                (*(*link).next).prev = (*link).prev;
                (*(*link).prev).next = (*link).next;
                (*link).next = link;
                (*link).prev = link;
                each(NonNull::new_unchecked(link.cast()));
            }
        }
        n as usize
    }

    /// The walk callback (`list_lru_walk_cb`).
    ///
    /// # Safety
    ///
    /// Called by a walk of this list only, with the list `list` locked,
    /// `item` on it, and `arg` the walk's `WalkState<F>`.
    unsafe extern "C" fn isolate<F: FnMut(&T) -> Walk>(
        item: *mut bindings::list_head,
        list: *mut bindings::list_lru_one,
        arg: *mut c_void,
    ) -> bindings::lru_status {
        // SAFETY: The walk's state (caller), used by this call only.
        let st = unsafe { &mut *arg.cast::<WalkState<F>>() };
        // SAFETY: Every item is the link, and so the start, of a live node
        // (type invariant), which the locked list keeps.
        let value = unsafe { &(*item.cast::<Node<T>>()).value };
        match (st.f)(value) {
            Walk::Take => {
                // SAFETY: `item` is on `list`, which is locked (caller).
                unsafe { bindings::list_lru_isolate_move(list, item, &mut st.taken) };
                bindings::lru_status::LRU_REMOVED
            }
            #[cfg(ion_rs_kunit)]
            Walk::Rotate => bindings::lru_status::LRU_ROTATE,
            Walk::Skip => bindings::lru_status::LRU_SKIP,
            Walk::Stop => {
                // SAFETY: 7.3's walk returns on `LRU_STOP` without
                // unlocking: the callback unlocks (as zswap's does). The
                // budget is the walk's own; zero ends a walk of several
                // cgroups too.
                unsafe {
                    bindings::spin_unlock(addr_of_mut!((*list).lock));
                    *st.nr = 0;
                }
                bindings::lru_status::LRU_STOP
            }
        }
    }

    /// Items on the list of `memcg` (the root's for `None`) on `nid`.
    pub(crate) fn count_one(&self, nid: Nid, memcg: Option<&MemCgroup>) -> usize {
        let memcg = memcg.map_or(core::ptr::null_mut(), MemCgroup::as_raw);
        // SAFETY: As in `walk_one`.
        unsafe { bindings::list_lru_count_one(self.raw.get(), nid.0, memcg) as usize }
    }

    /// Items on the list that reclaim asks a shrinker about.
    pub(crate) fn shrink_count(&self, sc: &ShrinkControl<'_>) -> usize {
        Nid::new(sc.nid()).map_or(0, |nid| self.count_one(nid, sc.memcg()))
    }

    /// Items on every list of every node.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn count(&self) -> usize {
        Nid::possible()
            // SAFETY: The list is live; `nid` is a possible node.
            .map(|nid| unsafe { bindings::list_lru_count_node(self.raw.get(), nid.0) } as usize)
            .sum()
    }
}

#[pinned_drop]
impl<T: Send + 'static> PinnedDrop for ListLru<T> {
    fn drop(self: Pin<&mut Self>) {
        // No `Item` refers to the list (each holds it), so every node
        // allocated for it is on it: free them all, then the lists.
        let raw = self.raw.get();
        let cache = &self.cache;
        for nid in Nid::possible() {
            // A cgroup that is going away moves its items to its parent
            // while the walk passes: walk again until none is left.
            for _ in 0..8 {
                // SAFETY: Live and initialised (invariant); `nid` possible.
                if unsafe { bindings::list_lru_count_node(raw, nid.0) } == 0 {
                    break;
                }
                self.walk_raw(
                    usize::MAX,
                    |_| Walk::Take,
                    |cb, arg, nr| {
                        // SAFETY: As in `walk_node`.
                        unsafe { bindings::list_lru_walk_node(raw, nid.0, cb, arg, nr) }
                    },
                    // SAFETY: A node of the cache, with its value, that the
                    // walk took off the list: ours, and never used again.
                    |node| unsafe { cache.free_node(node.as_ptr()) },
                );
            }
        }
        // SAFETY: Initialised (invariant) and now empty; destroyed once.
        unsafe { bindings::list_lru_destroy(self.raw.get()) };
    }
}

/// A `T` in a node of a [`ListLru`], off the list: the item owns the node,
/// and frees it (after dropping `T`) when it drops.
///
/// # Invariants
///
/// `node` is a live node of `lru`'s cache, allocated for `lru`, on no list
/// and owned by this item.
pub(crate) struct Item<T: Send + 'static> {
    node: NonNull<Node<T>>,
    lru: Arc<ListLru<T>>,
}

// SAFETY: The item owns its `T`; the list is `Send + Sync`.
unsafe impl<T: Send + 'static> Send for Item<T> {}
// SAFETY: `&Item` only gives `&T`.
unsafe impl<T: Send + Sync + 'static> Sync for Item<T> {}

impl<T: Send + 'static> Item<T> {
    /// The value, out of its node (which is freed).
    #[cfg(ion_rs_kunit)]
    pub(crate) fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        let node = this.node.as_ptr();
        // SAFETY: The node is ours (invariant): its value is read out once
        // and the node freed once; the reference to the list drops after.
        unsafe {
            let value = addr_of_mut!((*node).value).read();
            bindings::kmem_cache_free(this.lru.cache.0.as_ptr(), node.cast());
            drop(core::ptr::read(&this.lru));
            value
        }
    }
}

impl<T: Send + 'static> Deref for Item<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: The node is live and ours (invariant).
        unsafe { &(*self.node.as_ptr()).value }
    }
}

impl<T: Send + 'static> DerefMut for Item<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: As in `deref`, and `&mut self` is exclusive.
        unsafe { &mut (*self.node.as_ptr()).value }
    }
}

impl<T: Send + 'static> Drop for Item<T> {
    fn drop(&mut self) {
        // SAFETY: The node is live, off the list and ours (invariant), and
        // never used after the item.
        unsafe { self.lru.cache.free_node(self.node.as_ptr()) };
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_list_lru)]
mod tests {
    use super::*;
    use kernel::sync::atomic::{Atomic, Relaxed};

    /// A value that counts its drops.
    struct Counted(u32, Arc<Atomic<u32>>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.add(1, Relaxed);
        }
    }

    fn list() -> Result<Arc<ListLru<Counted>>> {
        ListLru::new(&NodeCache::new(c"rust_kernel_list_lru_test")?, None)
    }

    fn fill(lru: &Arc<ListLru<Counted>>, drops: &Arc<Atomic<u32>>, n: u32) -> Result {
        for v in 1..=n {
            let item = lru
                .alloc(Gfp::KERNEL, Counted(v, drops.clone()))
                .map_err(|_| ENOMEM)?;
            lru.add(item).map_err(|_| EINVAL)?;
        }
        Ok(())
    }

    /// Every item taken by a walk of every node, in walk order.
    fn take_all(lru: &Arc<ListLru<Counted>>, mut f: impl FnMut(&Counted) -> Walk) -> KVec<u32> {
        let mut got = KVec::new();
        for nid in Nid::possible() {
            lru.walk_node(nid, usize::MAX, &mut f, |item| {
                let _ = got.push(item.0, GFP_KERNEL);
            });
        }
        got
    }

    /// Items go on in order and come off as the walk decides: taken ones
    /// are handed over, skipped ones stay, and the count follows.
    #[test]
    fn walks_take_what_they_are_told() -> Result {
        let drops = Arc::new(Atomic::new(0), GFP_KERNEL)?;
        let lru = list()?;
        fill(&lru, &drops, 6)?;
        assert_eq!(lru.count(), 6);
        let even = take_all(&lru, |c| if c.0 % 2 == 0 { Walk::Take } else { Walk::Skip });
        assert_eq!(&even[..], &[2, 4, 6]);
        // Taken items were handed over and dropped by the handler.
        assert_eq!(drops.load(Relaxed), 3);
        assert_eq!(lru.count(), 3);
        // Rotating the head moves it behind the others.
        let rotated = take_all(&lru, |c| if c.0 == 1 { Walk::Rotate } else { Walk::Skip });
        assert!(rotated.is_empty());
        // `f` runs under the list's spinlock: no allocation there.
        let mut order = KVec::with_capacity(6, GFP_KERNEL)?;
        take_all(&lru, |c| {
            let _ = order.push_within_capacity(c.0);
            Walk::Skip
        });
        assert_eq!(&order[..], &[3, 5, 1]);
        // `Stop` ends the walk: nothing after it is shown or taken.
        let mut shown = 0;
        let taken = take_all(&lru, |c| {
            shown += 1;
            if c.0 == 5 {
                Walk::Stop
            } else {
                Walk::Take
            }
        });
        assert_eq!((&taken[..], shown), (&[3][..], 2));
        assert_eq!(lru.count(), 2);
        // The list frees what it still holds when it goes.
        drop(lru);
        assert_eq!(drops.load(Relaxed), 6);
        Ok(())
    }

    /// An item is its value's owner off the list: it derefs, gives the
    /// value back, and frees it on drop; another list, even of the same
    /// cache, refuses it.
    #[test]
    fn items_own_their_values_and_know_their_list() -> Result {
        let drops = Arc::new(Atomic::new(0), GFP_KERNEL)?;
        let cache = NodeCache::new(c"rust_kernel_list_lru_test")?;
        let (a, b) = (ListLru::new(&cache, None)?, ListLru::new(&cache, None)?);
        let mut item = a
            .alloc(Gfp::KERNEL, Counted(7, drops.clone()))
            .map_err(|_| ENOMEM)?;
        item.0 += 1;
        let item = b.add(item).err().ok_or(EINVAL)?;
        assert_eq!((item.0, b.count()), (8, 0));
        let value = item.into_inner();
        assert_eq!((value.0, drops.load(Relaxed)), (8, 0));
        drop(value);
        drop(a.alloc(Gfp::KERNEL, Counted(9, drops.clone())));
        assert_eq!(drops.load(Relaxed), 2);
        Ok(())
    }

    /// A kernel thread's items go on the root's list, which is the list of
    /// the root cgroup and of `None`; a walk of one cgroup sees only its
    /// own list.
    #[test]
    fn a_kernel_threads_items_are_the_roots() -> Result {
        let drops = Arc::new(Atomic::new(0), GFP_KERNEL)?;
        let lru = list()?;
        fill(&lru, &drops, 3)?;
        let root = MemCgroup::charged();
        let on = |m: Option<&MemCgroup>| -> usize {
            Nid::possible().map(|nid| lru.count_one(nid, m)).sum()
        };
        assert_eq!(on(None), 3);
        assert_eq!(on(root.as_deref()), 3);
        let mut taken = 0;
        for nid in Nid::possible() {
            taken += lru.walk_one(nid, root.as_deref(), 2, |_| Walk::Take, drop);
        }
        assert!(taken >= 2 && lru.count() == 3 - taken);
        Ok(())
    }

    /// Node numbers are checked: only possible nodes are lists.
    #[test]
    fn only_possible_nodes_are_nodes() {
        assert!(Nid::possible().next().is_some());
        assert!(Nid::new(-1).is_none());
        assert!(Nid::new(i32::MAX).is_none());
    }
}
