// SPDX-License-Identifier: GPL-2.0

//! Physically contiguous runs of pages: borrowed views and owned blocks.
//!
//! C header: [`include/linux/gfp.h`](srctree/include/linux/gfp.h)
//!
//! [`Contiguous`] borrows a run of pages that something else owns; the
//! owned kinds are [`Pages`] (`alloc_pages`, a power-of-two block) and
//! [`ExactPages`] (`alloc_pages_exact`, any number of pages). Both give
//! their pages back when they drop. Other owners of runs (CMA areas,
//! genalloc pools) hand out their own types that borrow as [`Contiguous`].

use super::helpers;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    alloc::AllocError,
    bindings,
    page::{BorrowedPage, PAGE_SIZE},
    prelude::*,
};

/// Physical address, as the kernel's `phys_addr_t`.
pub(crate) type PhysAddr = bindings::phys_addr_t;

/// Allocation flags of the page allocator (`gfp_t`), with the modifiers
/// that `kernel::alloc::Flags` does not offer.
///
/// Not 7.3's `Flags` itself: its raw value (`Flags::as_raw`) is
/// `pub(crate)` to the kernel crate and it has no constructor from a raw
/// value, so a module can neither hand a `Flags` to `alloc_pages` nor add
/// `__GFP_COMP`, `__GFP_NORETRY` or `__GFP_RETRY_MAYFAIL` to one. This
/// type is the one place those bits are, and goes once `Flags` can carry
/// them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gfp(bindings::gfp_t);

impl Gfp {
    /// `GFP_HIGHUSER`: memory for userspace, may sleep and reclaim.
    pub(crate) fn highuser() -> Self {
        // SAFETY: Reading a constant that C initialised at build time.
        Self(unsafe { helpers::rust_helper_gfp_highuser })
    }

    /// No flags: nothing to add.
    pub(crate) const NONE: Self = Self(0);

    /// `GFP_KERNEL`.
    pub(crate) const KERNEL: Self = Self(bindings::GFP_KERNEL);

    /// `__GFP_ZERO`: the pages come zeroed.
    pub(crate) const ZERO: Self = Self(bindings::__GFP_ZERO);

    /// `__GFP_NOWARN`: a failure is not reported in the log.
    pub(crate) const NOWARN: Self = Self(bindings::__GFP_NOWARN);

    /// `__GFP_ACCOUNT`: the pages are charged to the current task's memory
    /// cgroup, and uncharged when they are freed. Without `CONFIG_MEMCG`,
    /// or in the root cgroup, nothing is charged.
    pub(crate) const ACCOUNT: Self = Self(bindings::GFP_KERNEL_ACCOUNT & !bindings::GFP_KERNEL);

    /// `__GFP_RETRY_MAYFAIL`: the allocator retries while reclaim makes
    /// progress, then fails; it never invokes the OOM killer, and neither
    /// does a memory cgroup's charge of the pages.
    pub(crate) fn retry_mayfail() -> Self {
        // SAFETY: As in `highuser`.
        Self(unsafe { helpers::rust_helper_gfp_retry_mayfail })
    }

    /// `__GFP_NORETRY`: the allocator gives up early instead of retrying.
    pub(crate) fn noretry() -> Self {
        // SAFETY: As in `highuser`.
        Self(unsafe { helpers::rust_helper_gfp_noretry })
    }

    /// `__GFP_COMP`: a high-order block is one compound page.
    pub(crate) fn comp() -> Self {
        // SAFETY: As in `highuser`.
        Self(unsafe { helpers::rust_helper_gfp_comp })
    }

    /// `__GFP_RECLAIM`: direct and background reclaim.
    pub(crate) fn reclaim() -> Self {
        // SAFETY: As in `highuser`.
        Self(unsafe { helpers::rust_helper_gfp_reclaim })
    }

    /// The C `gfp_t`.
    pub(crate) fn as_raw(self) -> bindings::gfp_t {
        self.0
    }

    /// Whether every flag of `other` is set in `self`.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Gfp {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::Sub for Gfp {
    type Output = Self;
    /// The flags of `self` without those of `rhs`.
    fn sub(self, rhs: Self) -> Self {
        Self(self.0 & !rhs.0)
    }
}

/// The number of pages of RAM the kernel manages (`totalram_pages()`).
pub(crate) fn totalram_pages() -> usize {
    // SAFETY: Reading a counter has no precondition.
    unsafe { helpers::rust_helper_totalram_pages() as usize }
}

/// The largest order the page allocator hands out (`MAX_PAGE_ORDER`).
pub(crate) fn max_page_order() -> u32 {
    // SAFETY: Reading a constant has no precondition.
    unsafe { helpers::rust_helper_max_page_order() }
}

/// A borrowed run of physically contiguous pages.
///
/// # Invariants
///
/// `first` heads `len / PAGE_SIZE` physically contiguous pages (`len` is a
/// non-zero multiple of `PAGE_SIZE`) whose `struct page`s are contiguous in
/// the memmap too (page `i` is `first + i`; 7.3 has no `nth_page()`), and
/// which stay allocated for `'a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Contiguous<'a> {
    first: NonNull<bindings::page>,
    len: usize,
    _owner: PhantomData<&'a ()>,
}

// SAFETY: A view of pages carries no thread affinity; the pages outlive it.
unsafe impl Send for Contiguous<'_> {}
// SAFETY: As above; the view only reads page metadata.
unsafe impl Sync for Contiguous<'_> {}

impl<'a> Contiguous<'a> {
    /// A view of `len` bytes of pages from `first`.
    ///
    /// # Safety
    ///
    /// `first` must head `len / PAGE_SIZE` physically contiguous pages whose
    /// `struct page`s are contiguous in the memmap, `len` must be a non-zero
    /// multiple of `PAGE_SIZE`, and the pages must stay allocated for `'a`.
    pub(crate) unsafe fn from_raw(first: NonNull<bindings::page>, len: usize) -> Self {
        // INVARIANT: By the caller.
        Self {
            first,
            len,
            _owner: PhantomData,
        }
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The number of pages.
    pub(crate) fn npages(&self) -> usize {
        self.len / PAGE_SIZE
    }

    /// The first page, as the C `struct page *`.
    pub(crate) fn as_raw(&self) -> *mut bindings::page {
        self.first.as_ptr()
    }

    /// The page frame number of the first page.
    pub(crate) fn pfn(&self) -> usize {
        // SAFETY: `first` is a valid page (invariant).
        unsafe { helpers::rust_helper_page_to_pfn(self.first.as_ptr()) as usize }
    }

    /// The physical address of the first page.
    pub(crate) fn phys(&self) -> PhysAddr {
        // SAFETY: `first` is a valid page (invariant).
        unsafe { helpers::rust_helper_page_to_phys(self.first.as_ptr()) }
    }

    /// The `len` bytes of the run from byte `skip` on, or `None` unless both
    /// are page-aligned, `len` is not zero and the range is inside the run.
    pub(crate) fn slice(&self, skip: usize, len: usize) -> Option<Contiguous<'a>> {
        let end = skip.checked_add(len)?;
        if len == 0 || end > self.len || skip % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 {
            return None;
        }
        let first = self.page(skip / PAGE_SIZE)?;
        // SAFETY: `[skip, end)` is a page-aligned, non-empty part of the
        // run, whose pages are contiguous and allocated for `'a`
        // (invariant).
        Some(unsafe { Self::from_raw(NonNull::new(first.as_ptr())?, len) })
    }

    /// Page `i` of the run, or `None` past its end.
    pub(crate) fn page(&self, i: usize) -> Option<BorrowedPage<'a>> {
        if i >= self.npages() {
            return None;
        }
        // SAFETY: `i` is inside the run, whose pages are contiguous in the
        // memmap (invariant).
        let p = unsafe { helpers::rust_helper_nth_page(self.first.as_ptr(), i) };
        // SAFETY: `p` is a page of the run, allocated for `'a` (invariant).
        NonNull::new(p).map(|p| unsafe { BorrowedPage::from_raw(p) })
    }
}

/// Zeroes a run of pages, with a chance to reschedule every 128 KiB.
///
/// # Context
///
/// Process context: may sleep.
///
/// # Safety
///
/// Nothing else may read or write the pages meanwhile.
unsafe fn zero(run: Contiguous<'_>) {
    kernel::task::might_sleep();
    // Pages cleared between two chances to reschedule: 128 KiB.
    const BATCH: usize = 32;
    let n = run.npages();
    let mut i = 0;
    while i < n {
        let k = core::cmp::min(BATCH, n - i);
        // SAFETY: Pages `i..i + k` of the run are valid (invariant) and ours
        // to write (caller). Without highmem every page is in the linear
        // map, so `clear_pages` clears the `k` of them from one address.
        #[cfg(not(CONFIG_HIGHMEM))]
        unsafe {
            let first = helpers::rust_helper_nth_page(run.as_raw(), i);
            helpers::rust_helper_clear_pages(helpers::rust_helper_page_address(first), k as u32)
        };
        #[cfg(CONFIG_HIGHMEM)]
        for j in i..i + k {
            // SAFETY: As above; `clear_highpage` maps each page.
            unsafe {
                helpers::rust_helper_clear_highpage(helpers::rust_helper_nth_page(run.as_raw(), j))
            };
        }
        i += k;
        if i < n {
            // SAFETY: `cond_resched` has no memory-safety precondition. It
            // is a scheduling point, so a caller in atomic context would be
            // a bug (as it is for `Mutex::lock`), which `might_sleep` above
            // reports; the context is documented, not assumed.
            unsafe { helpers::rust_helper_cond_resched() };
        }
    }
}

/// Owned memory that is one physically contiguous run of pages.
///
/// # Safety
///
/// An implementor owns the run that [`ContiguousPages::contiguous`]
/// returns, the same run on every call, exclusively: while the value
/// lives, no other value reads or writes those pages except through a
/// borrow of it. So `&mut self` is exclusive access to the pages, which
/// [`ContiguousPages::zero`] relies on. (A shared owner, such as an `Arc`
/// of pages, must not implement it.)
pub(crate) unsafe trait ContiguousPages {
    /// A view of the run.
    fn contiguous(&self) -> Contiguous<'_>;

    /// Writes zeroes over the whole run.
    ///
    /// # Context
    ///
    /// Process context: may sleep (it reschedules on long runs).
    fn zero(&mut self) {
        // SAFETY: `&mut self` is exclusive access to the pages (the trait's
        // safety requirement).
        unsafe { zero(self.contiguous()) };
    }
}

// SAFETY: A box owns its value exclusively, so it owns the value's run
// exclusively too, and returns the same one.
unsafe impl<T: ContiguousPages + ?Sized> ContiguousPages for KBox<T> {
    fn contiguous(&self) -> Contiguous<'_> {
        (**self).contiguous()
    }
}

/// A block of `1 << order` pages from the page allocator.
///
/// # Invariants
///
/// `first` heads a block that `alloc_pages` returned for `order`, owned by
/// this value and freed once, on drop.
pub(crate) struct Pages {
    first: NonNull<bindings::page>,
    order: u32,
}

// SAFETY: Pages may be freed from any thread.
unsafe impl Send for Pages {}
// SAFETY: Shared references only read page metadata.
unsafe impl Sync for Pages {}

impl Pages {
    /// Allocates `1 << order` pages with `gfp`.
    pub(crate) fn alloc(order: u32, gfp: Gfp) -> Result<Self, AllocError> {
        // SAFETY: `alloc_pages` may be called with any flags and order.
        let p = unsafe { bindings::alloc_pages(gfp.0, order) };
        // INVARIANT: A new block of this order, ours.
        Ok(Self {
            first: NonNull::new(p).ok_or(AllocError)?,
            order,
        })
    }

    /// The order of the block.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }
}

// SAFETY: The block is this value's alone (invariant), always the same.
unsafe impl ContiguousPages for Pages {
    fn contiguous(&self) -> Contiguous<'_> {
        // SAFETY: The block is ours while `self` is borrowed (invariant).
        unsafe { Contiguous::from_raw(self.first, PAGE_SIZE << self.order) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: Allocated with this order and freed once (invariant).
        unsafe { bindings::__free_pages(self.first.as_ptr(), self.order) };
    }
}

/// An exact number of contiguous pages from the page allocator
/// (`alloc_pages_exact`), given back in the largest blocks they hold.
///
/// # Invariants
///
/// `first` heads `size / PAGE_SIZE` pages from `alloc_pages_exact(size)`,
/// owned by this value and freed once, on drop.
pub(crate) struct ExactPages {
    first: NonNull<bindings::page>,
    size: usize,
}

// SAFETY: As for `Pages`.
unsafe impl Send for ExactPages {}
// SAFETY: As for `Pages`.
unsafe impl Sync for ExactPages {}

impl ExactPages {
    /// `size` bytes (a non-zero multiple of `PAGE_SIZE`) of zeroed,
    /// contiguous pages, allocated with `GFP_KERNEL` and the modifiers of
    /// `extra` (such as [`Gfp::ACCOUNT`]); a failure is not reported in
    /// the log.
    pub(crate) fn alloc_zeroed(size: usize, extra: Gfp) -> Result<Self, AllocError> {
        if size == 0 || size % PAGE_SIZE != 0 {
            return Err(AllocError);
        }
        let gfp = Gfp::KERNEL | Gfp::ZERO | Gfp::NOWARN | extra;
        // SAFETY: Any size may be asked for; we own the pages on success.
        let p = unsafe { helpers::rust_helper_alloc_pages_exact(size, gfp.0) };
        // INVARIANT: `size` bytes of new pages, ours.
        Ok(Self {
            first: NonNull::new(p).ok_or(AllocError)?,
            size,
        })
    }
}

// SAFETY: The pages are this value's alone (invariant), always the same.
unsafe impl ContiguousPages for ExactPages {
    fn contiguous(&self) -> Contiguous<'_> {
        // SAFETY: The pages are ours while `self` is borrowed (invariant).
        unsafe { Contiguous::from_raw(self.first, self.size) }
    }
}

impl Drop for ExactPages {
    /// Gives the run back in the largest aligned blocks it holds
    /// (`free_contig_range`), not page by page: order-0 frees go through
    /// the per-CPU lists, where other allocations take them before they can
    /// merge, and without compaction the large blocks would be lost.
    fn drop(&mut self) {
        #[cfg(CONFIG_CONTIG_ALLOC)]
        // SAFETY: From `alloc_pages_exact(size)`, freed once (invariant):
        // `size / PAGE_SIZE` pages from this pfn, which are ours.
        unsafe {
            bindings::free_contig_range(
                helpers::rust_helper_page_to_pfn(self.first.as_ptr()),
                self.size / PAGE_SIZE,
            )
        };
        #[cfg(not(CONFIG_CONTIG_ALLOC))]
        // SAFETY: As above, through the run's linear-map address.
        unsafe {
            bindings::free_pages_exact(
                helpers::rust_helper_page_address(self.first.as_ptr()),
                self.size,
            )
        };
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_page_runs)]
mod tests {
    use super::*;

    fn all(p: &BorrowedPage<'_>, v: u8) -> Result<bool> {
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is valid for 64 bytes of writes, inside one page.
        unsafe { p.read_raw(buf.as_mut_ptr(), PAGE_SIZE - 64, 64) }?;
        Ok(buf.iter().all(|&b| b == v))
    }

    #[test]
    fn pages_are_contiguous_and_zeroed_on_request() -> Result {
        let mut p = Pages::alloc(2, Gfp::KERNEL)?;
        let c = p.contiguous();
        assert_eq!((c.len(), c.npages()), (4 * PAGE_SIZE, 4));
        assert!(c.page(4).is_none());
        let last = c.page(3).ok_or(EINVAL)?;
        // SAFETY: The page is ours; 64 bytes at the end of it.
        unsafe { last.fill_zero_raw(0, PAGE_SIZE) }?;
        let pat = [0x5au8; 64];
        // SAFETY: As above.
        unsafe { last.write_raw(pat.as_ptr(), PAGE_SIZE - 64, 64) }?;
        assert!(all(&last, 0x5a)?);
        assert_eq!(c.pfn() + 3, {
            let (first, l) = (c.phys(), c.page(3).ok_or(EINVAL)?);
            let _ = l;
            (first as usize / PAGE_SIZE) + 3
        });
        p.zero();
        assert!(all(&p.contiguous().page(3).ok_or(EINVAL)?, 0)?);
        Ok(())
    }

    #[test]
    fn exact_pages_refuse_odd_sizes() -> Result {
        assert!(ExactPages::alloc_zeroed(0, Gfp::NONE).is_err());
        assert!(ExactPages::alloc_zeroed(PAGE_SIZE + 1, Gfp::NONE).is_err());
        let e = ExactPages::alloc_zeroed(3 * PAGE_SIZE, Gfp::ACCOUNT)?;
        assert_eq!(e.contiguous().npages(), 3);
        assert!(all(&e.contiguous().page(2).ok_or(EINVAL)?, 0)?);
        Ok(())
    }

    #[test]
    fn gfp_flags_compose() {
        let g = Gfp::highuser() | Gfp::ZERO;
        assert!(g.contains(Gfp::ZERO));
        assert!(!(g - Gfp::ZERO).contains(Gfp::ZERO));
        assert!(max_page_order() >= 8 && totalram_pages() > 0);
        // `ACCOUNT` is the one bit that `GFP_KERNEL_ACCOUNT` adds.
        assert!(Gfp::ACCOUNT != Gfp::NONE && !Gfp::KERNEL.contains(Gfp::ACCOUNT));
        assert!((Gfp::KERNEL | Gfp::ACCOUNT).0 == bindings::GFP_KERNEL_ACCOUNT);
        assert!(!Gfp::highuser().contains(Gfp::retry_mayfail()));
    }
}
