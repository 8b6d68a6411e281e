// SPDX-License-Identifier: GPL-2.0

//! Special-purpose memory pools over a run of pages (genalloc).
//!
//! C header: [`include/linux/genalloc.h`](srctree/include/linux/genalloc.h)
//!
//! A [`GenPool`] owns a run of pages (its backing, any [`ContiguousPages`])
//! and hands out sub-runs of it as [`Allocation`]s, which give themselves
//! back on drop. Each allocation holds the pool, so the pool, and the
//! backing with it, outlives every allocation.

use super::{
    helpers,
    page::{Contiguous, ContiguousPages, PhysAddr},
};
use core::ptr::NonNull;
use kernel::{bindings, page::PAGE_SIZE, prelude::*, sync::Arc};

/// A genalloc pool over the pages of `B`.
///
/// # Invariants
///
/// `raw` is a pool created by `gen_pool_create` that manages exactly the
/// physical range of `backing`, in granules of `1 << order` bytes (at
/// least a page); it is destroyed once, on drop, when no allocation is
/// left (each holds an `Arc` of the pool).
pub(crate) struct GenPool<B: ContiguousPages> {
    raw: NonNull<helpers::GenPool>,
    backing: B,
}

// SAFETY: genalloc takes its own lock; any thread may call it.
unsafe impl<B: ContiguousPages + Send> Send for GenPool<B> {}
// SAFETY: As above; shared references only allocate and free.
unsafe impl<B: ContiguousPages + Sync> Sync for GenPool<B> {}

impl<B: ContiguousPages> GenPool<B> {
    /// A pool over all of `backing`, in granules of `1 << order` bytes.
    /// `order` below the page shift is `EINVAL`.
    pub(crate) fn new(backing: B, order: u32) -> Result<Arc<Self>> {
        if order < PAGE_SIZE.trailing_zeros() || order >= usize::BITS {
            return Err(EINVAL);
        }
        let run = backing.contiguous();
        let (base, size) = (run.phys(), run.len());
        // SAFETY: Creating a pool has no precondition.
        let raw = unsafe { helpers::gen_pool_create(order as i32, -1) };
        let raw = NonNull::new(raw).ok_or(ENOMEM)?;
        // SAFETY: `raw` is a new pool; the range is the backing's, which
        // the pool owns from here.
        let r = unsafe {
            helpers::gen_pool_add_owner(
                raw.as_ptr(),
                base as usize,
                base,
                size,
                -1,
                core::ptr::null_mut(),
            )
        };
        if r != 0 {
            // SAFETY: Created above, nothing allocated from it.
            unsafe { helpers::gen_pool_destroy(raw.as_ptr()) };
            return Err(Error::from_errno(r));
        }
        // INVARIANT: The pool manages exactly the backing's range.
        Ok(Arc::new(Self { raw, backing }, GFP_KERNEL)?)
    }

    /// The size of the pool in bytes.
    pub(crate) fn size(&self) -> usize {
        self.backing.contiguous().len()
    }

    /// `size` contiguous bytes from the pool (rounded up to whole pages;
    /// genalloc rounds up to granules), or `None` if no free range is that
    /// large.
    pub(crate) fn alloc(self: &Arc<Self>, size: usize) -> Option<Allocation<B>> {
        let len = size.checked_next_multiple_of(PAGE_SIZE)?;
        if len == 0 {
            return None;
        }
        // SAFETY: `raw` is a live pool (invariant).
        let addr = unsafe { helpers::rust_helper_gen_pool_alloc(self.raw.as_ptr(), len) };
        if addr == 0 {
            return None;
        }
        // The range's pages, found from the backing's first page: the pool
        // manages exactly the backing (invariant), whose pages are
        // contiguous in the memmap (`Contiguous`'s invariant).
        let backing = self.backing.contiguous();
        let first = (addr as PhysAddr)
            .checked_sub(backing.phys())
            .and_then(|off| usize::try_from(off).ok())
            .and_then(|off| backing.slice(off, len))
            .map(|run| NonNull::new(run.as_raw()));
        // INVARIANT: A range of the pool, ours until freed; `first` is set
        // below, or the value is refused.
        let mut a = Allocation {
            pool: self.clone(),
            addr: addr as PhysAddr,
            size: len,
            first: NonNull::dangling(),
        };
        // A range outside the backing is impossible for a pool that manages
        // only the backing, and refused all the same: it goes back as `a`
        // drops.
        a.first = first.flatten()?;
        Some(a)
    }
}

impl<B: ContiguousPages> Drop for GenPool<B> {
    fn drop(&mut self) {
        // SAFETY: No allocation is left (invariant); destroyed once.
        unsafe { helpers::gen_pool_destroy(self.raw.as_ptr()) };
    }
}

/// A range of a [`GenPool`], given back on drop.
///
/// # Invariants
///
/// `[addr, addr + size)` was returned by `gen_pool_alloc` on `pool` and is
/// owned by this value; `size` is a non-zero multiple of `PAGE_SIZE`. Unless
/// the value is being refused by [`GenPool::alloc`] (and so never handed
/// out), it lies inside the pool's backing, whose pages `pool` keeps
/// allocated, and `first` is its first page there.
pub(crate) struct Allocation<B: ContiguousPages> {
    pool: Arc<GenPool<B>>,
    addr: PhysAddr,
    size: usize,
    first: NonNull<bindings::page>,
}

// SAFETY: The range is plain memory of the pool, owned by this value; genalloc
// takes its own lock, so it may be given back from any thread.
unsafe impl<B: ContiguousPages + Send + Sync> Send for Allocation<B> {}
// SAFETY: Shared references only read page metadata.
unsafe impl<B: ContiguousPages + Send + Sync> Sync for Allocation<B> {}

// SAFETY: genalloc hands out disjoint ranges, and this one is this value's
// alone until it drops (invariant); `contiguous` always returns it.
unsafe impl<B: ContiguousPages> ContiguousPages for Allocation<B> {
    fn contiguous(&self) -> Contiguous<'_> {
        // SAFETY: `size` bytes from `first` are this allocation's pages, part
        // of the backing (so contiguous in the memmap), allocated while the
        // pool lives, which `self` keeps (invariant).
        unsafe { Contiguous::from_raw(self.first, self.size) }
    }
}

impl<B: ContiguousPages> Drop for Allocation<B> {
    fn drop(&mut self) {
        // SAFETY: Allocated from this pool with this size (invariant), freed
        // once.
        unsafe {
            helpers::gen_pool_free_owner(
                self.pool.raw.as_ptr(),
                self.addr as usize,
                self.size,
                core::ptr::null_mut(),
            )
        };
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_genalloc)]
mod tests {
    use super::super::page::{Gfp, Pages};
    use super::*;

    #[test]
    fn pool_hands_out_and_takes_back_its_backing() -> Result {
        let backing = Pages::alloc(3, Gfp::KERNEL | Gfp::ZERO)?;
        let base = backing.contiguous().phys();
        let pool = GenPool::new(backing, PAGE_SIZE.trailing_zeros())?;
        assert_eq!(pool.size(), 8 * PAGE_SIZE);
        assert!(pool.alloc(0).is_none());
        let a = pool.alloc(4 * PAGE_SIZE).ok_or(ENOMEM)?;
        let b = pool.alloc(4 * PAGE_SIZE).ok_or(ENOMEM)?;
        assert!(pool.alloc(PAGE_SIZE).is_none());
        let (pa, pb) = (a.contiguous().phys(), b.contiguous().phys());
        assert!(pa >= base && pb >= base && pa != pb);
        assert_eq!(a.contiguous().npages(), 4);
        drop(a);
        let c = pool.alloc(2 * PAGE_SIZE).ok_or(ENOMEM)?;
        assert_eq!(c.contiguous().phys(), pa);
        assert!(GenPool::new(Pages::alloc(0, Gfp::KERNEL)?, 4).is_err());
        Ok(())
    }
}
