// SPDX-License-Identifier: GPL-2.0

//! KUnit suites, run when the module loads (CONFIG_ION_RS_KUNIT_TEST).

use kernel::prelude::*;

#[kunit_tests(rust_ion_sizes)]
mod sizes {
    use crate::heaps::system::{max_alloc_for, order_for};
    use crate::page_align;
    use kernel::{page::PAGE_SIZE, prelude::*};

    /// Test only: with `kunit_warn=1` this case WARNs. The test run must
    /// then fail on the console's report, on every kernel: the proof that
    /// kernel warnings reach the judged log (`RUST_ION_ARGS=kunit_warn=1`).
    #[test]
    fn warns_only_when_asked() {
        kernel::warn_on!(crate::module_parameters::kunit_warn.value());
    }

    #[test]
    fn page_align_rounds_up() {
        assert_eq!(page_align(1), Ok(PAGE_SIZE));
        assert_eq!(page_align(PAGE_SIZE as u64), Ok(PAGE_SIZE));
        assert_eq!(page_align(PAGE_SIZE as u64 + 1), Ok(2 * PAGE_SIZE));
    }

    #[test]
    fn page_align_rejects_zero_and_overflow() {
        assert_eq!(page_align(0), Err(EINVAL));
        assert_eq!(page_align(u64::MAX), Err(EINVAL));
        assert_eq!(page_align(u64::MAX - PAGE_SIZE as u64 + 2), Err(EINVAL));
    }

    #[test]
    fn order_picks_largest_that_fits() {
        assert_eq!(order_for(PAGE_SIZE << 8, 8), Some(8));
        assert_eq!(order_for((PAGE_SIZE << 8) - PAGE_SIZE, 8), Some(4));
        assert_eq!(order_for((PAGE_SIZE << 4) - PAGE_SIZE, 8), Some(0));
        assert_eq!(order_for(PAGE_SIZE, 8), Some(0));
        assert_eq!(order_for(PAGE_SIZE - 1, 8), None);
        assert_eq!(order_for(0, 8), None);
    }

    #[test]
    fn order_never_goes_back_up() {
        assert_eq!(order_for(PAGE_SIZE << 9, 4), Some(4));
        assert_eq!(order_for(PAGE_SIZE << 9, 3), Some(0));
    }

    #[test]
    fn half_of_ram_is_the_limit() {
        assert_eq!(max_alloc_for(1024), 512 * PAGE_SIZE);
        assert_eq!(max_alloc_for(1025), 512 * PAGE_SIZE);
    }
}

#[kunit_tests(rust_ion_buffer)]
mod buffer {
    use crate::{
        abstractions::{
            dma,
            dma_buf::Attachment,
            scatterlist::{dma_to_virt, SyncFor},
            vmalloc::{Caching, Vmap},
        },
        buffer::Buffer,
        heaps, stats,
        stats::Relaxed,
        uapi::ION_FLAG_CACHED,
    };
    use kernel::{
        device::{Bound, Device},
        dma::DataDirection,
        faux,
        page::PAGE_SIZE,
        prelude::*,
        sync::Arc,
    };

    /// A faux device with a 64-bit DMA mask, standing in for an importer.
    pub(super) struct TestDev(faux::Registration);

    impl TestDev {
        pub(super) fn new() -> Result<Self> {
            let dev = Self(faux::Registration::new(c"rust_ion_test", None)?);
            dma::coerce_mask_and_coherent(dev.dev(), 64)?;
            Ok(dev)
        }

        /// A device that reaches memory directly even under swiotlb=force,
        /// as devices do on a machine without swiotlb.
        fn direct() -> Result<Self> {
            let dev = Self::new()?;
            // SAFETY: The device is new and has mapped nothing.
            unsafe { dma::bypass_swiotlb(dev.dev()) };
            Ok(dev)
        }

        pub(super) fn dev(&self) -> &Device {
            let fdev: &faux::Device<Bound> = self.0.as_ref();
            let bound: &Device<Bound> = fdev.as_ref();
            bound
        }
    }

    pub(super) fn system_heap() -> Result<Arc<heaps::Heap>> {
        heaps::system_heap(
            crate::heaps::system::PoolConfig::DEFAULT,
            crate::heaps::Account::Off,
        )
    }

    pub(super) fn counter(c: &stats::Counter) -> i64 {
        c.load(Relaxed)
    }

    /// The pages in the heap's pools, from its statistics.
    fn pooled_pages(heap: &heaps::Heap) -> Result<usize> {
        struct Stats<'a>(&'a heaps::Heap);
        impl kernel::fmt::Display for Stats<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.0.write_pool_stats(f)
            }
        }
        let text = kernel::str::CString::try_from_fmt(fmt!("{}", Stats(heap)))?;
        let text = text.to_str().map_err(|_| EINVAL)?;
        let line = text
            .lines()
            .find_map(|l| l.split_once(".pool_pages "))
            .ok_or(EINVAL)?;
        line.1.trim().parse().map_err(|_| EINVAL)
    }

    /// A heap that charges memory cgroups never pools a page, either way:
    /// a pooled page would still be charged to the cgroup that freed it.
    /// The same buffers from a heap that does not charge are pooled.
    #[test]
    fn charging_heap_bypasses_its_pools() -> Result {
        let len = 2 * (PAGE_SIZE << 8);
        for (account, pooled) in [
            (heaps::Account::Off, len / PAGE_SIZE),
            (heaps::Account::Memcg, 0),
        ] {
            let heap = heaps::system_heap(heaps::system::PoolConfig::DEFAULT, account)?;
            for _ in 0..2 {
                drop(Buffer::new(&heap, len, ION_FLAG_CACHED)?);
            }
            assert_eq!(pooled_pages(&heap)?, pooled);
            heap.drain();
            assert_eq!(pooled_pages(&heap)?, 0);
        }
        Ok(())
    }

    #[test]
    fn attach_copies_every_run() -> Result {
        let heap = system_heap()?;
        let len = (PAGE_SIZE << 8) + (PAGE_SIZE << 4) + PAGE_SIZE;
        let buf = Buffer::new(&heap, len, ION_FLAG_CACHED)?;
        let (a, b) = (
            Buffer::attach(buf.as_arc_borrow())?,
            Buffer::attach(buf.as_arc_borrow())?,
        );
        assert_eq!(a.entries().count(), 3);
        assert!(a.entries().eq(b.entries()));
        assert!(a.entries().eq(buf.entries()));
        let want = [PAGE_SIZE << 8, PAGE_SIZE << 4, PAGE_SIZE];
        assert!(a.entries().map(|e| e.len()).eq(want));
        assert_eq!(b.len(), len);
        assert_eq!(heap.bytes.load(Relaxed), len as i64);
        // The tables hold the buffer: its pages go when all are gone.
        drop(buf);
        drop(a);
        assert_eq!(heap.bytes.load(Relaxed), len as i64);
        drop(b);
        assert_eq!(heap.bytes.load(Relaxed), 0);
        assert_eq!(heap.buffers.load(Relaxed), 0);
        Ok(())
    }

    #[test]
    fn mapped_state_follows_map_and_unmap() -> Result {
        let dev = TestDev::new()?;
        let heap = system_heap()?;
        let buf = Buffer::new(&heap, 16 * PAGE_SIZE, ION_FLAG_CACHED)?;
        let (maps, unmaps) = (counter(&stats::MAPS), counter(&stats::UNMAPS));
        let bidi = DataDirection::Bidirectional;
        let a1 = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
        let a2 = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
        // Recorded first and asserted once the device is gone (see
        // swiotlb_shows_that_syncs_move_data), so that a failure here does
        // not leave the device registered for the next test.
        let mut seen = [false; 9];
        seen[0] = buf.attachment_counts() == (2, 0);
        let t = a1.map(&buf, bidi)?;
        seen[1] = buf.attachment_counts() == (2, 1);
        seen[2] = a1.map(&buf, bidi).err() == Some(EBUSY);
        seen[4] = a2.unmap(&buf, t).err() == Some(EINVAL);
        a1.unmap(&buf, t)?;
        seen[5] = a1.unmap(&buf, t).err() == Some(EINVAL);
        seen[6] = buf.attachment_counts() == (2, 0);
        // The attachment keeps its one copy of the table across mappings.
        seen[3] = a1.map(&buf, bidi)? == t;
        a1.unmap(&buf, t)?;
        // A detach without unmap still undoes the mapping.
        a2.map(&buf, DataDirection::ToDevice)?;
        a2.detach(&buf);
        a1.detach(&buf);
        seen[7] = buf.attachment_counts() == (0, 0);
        seen[8] = (
            counter(&stats::MAPS) - maps,
            counter(&stats::UNMAPS) - unmaps,
        ) == (3, 3);
        drop(buf);
        drop(dev);
        assert_eq!(seen, [true; 9]);
        Ok(())
    }

    /// On a device that reaches memory directly, begin/end_cpu_access sync
    /// the mapped attachments of cached buffers only: an uncached buffer
    /// keeps the cheap path.
    #[test]
    fn cpu_access_syncs_only_mapped_attachments() -> Result {
        let dev = TestDev::direct()?;
        let bounced = counter(&stats::BOUNCED_MAPS);
        let heap = system_heap()?;
        let bidi = DataDirection::Bidirectional;
        // (syncs for the CPU, for the device) per buffer, asserted once the
        // device is gone.
        let mut got = [(0, 0); 2];
        for (g, flags) in got.iter_mut().zip([ION_FLAG_CACHED, 0]) {
            let buf = Buffer::new(&heap, 4 * PAGE_SIZE, flags)?;
            let a1 = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
            let a2 = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
            let t = a1.map(&buf, bidi)?;
            let (cpu, devs) = (
                counter(&stats::SYNCS_FOR_CPU),
                counter(&stats::SYNCS_FOR_DEVICE),
            );
            buf.cpu_access(SyncFor::Cpu, bidi);
            buf.cpu_access(SyncFor::Device, bidi);
            *g = (
                counter(&stats::SYNCS_FOR_CPU) - cpu,
                counter(&stats::SYNCS_FOR_DEVICE) - devs,
            );
            a1.unmap(&buf, t)?;
            a1.detach(&buf);
            a2.detach(&buf);
        }
        drop(dev);
        assert_eq!(got, [(1, 1), (0, 0)]);
        assert_eq!(counter(&stats::BOUNCED_MAPS), bounced);
        Ok(())
    }

    #[test]
    fn vmap_is_refcounted_and_sees_the_pages() -> Result {
        let heap = system_heap()?;
        let len = (PAGE_SIZE << 4) + PAGE_SIZE;
        let buf = Buffer::new(&heap, len, ION_FLAG_CACHED)?;
        let v0 = counter(&stats::VMAPS);
        let a = buf.vmap()?;
        let b = buf.vmap()?;
        let live = counter(&stats::VMAPS) - v0;
        let run = buf.entries().last().ok_or(EINVAL)?;
        let page = run.page(0).ok_or(EINVAL)?;
        cpu_fill(&page, 0x42)?;
        // SAFETY: `a` maps all `len` bytes, the last page at
        // `len - PAGE_SIZE`.
        let seen = unsafe { all(a.as_ptr().cast::<u8>().add(len - PAGE_SIZE), 0x42) };
        buf.vunmap();
        let after_one = counter(&stats::VMAPS) - v0;
        buf.vunmap();
        let after_two = counter(&stats::VMAPS) - v0;
        assert_eq!(
            (a == b, live, after_one, after_two, seen),
            (true, 1, 1, 0, true)
        );
        Ok(())
    }

    const N: usize = 64;

    /// Writes `v` over the first `N` bytes of `page` through the CPU.
    fn cpu_fill(page: &kernel::page::Page, v: u8) -> Result {
        let pat = [v; N];
        // SAFETY: `pat` is valid for `N` bytes of reads.
        unsafe { page.write_raw(pat.as_ptr(), 0, N) }
    }

    /// Whether the first `N` bytes of `page` all equal `v`, read through
    /// the CPU.
    fn cpu_all(page: &kernel::page::Page, v: u8) -> Result<bool> {
        let mut got = [0u8; N];
        // SAFETY: `got` is valid for `N` bytes of writes.
        unsafe { page.read_raw(got.as_mut_ptr(), 0, N) }?;
        Ok(got.iter().all(|&b| b == v))
    }

    /// Fills `N` bytes at `p` with `v`.
    ///
    /// # Safety
    ///
    /// `p` must be valid for `N` bytes of writes.
    unsafe fn fill(p: *mut u8, v: u8) {
        // SAFETY: By the caller.
        unsafe { core::ptr::write_bytes(p, v, N) };
    }

    /// Whether `N` bytes at `p` all equal `v`.
    ///
    /// # Safety
    ///
    /// `p` must be valid for `N` bytes of reads.
    unsafe fn all(p: *const u8, v: u8) -> bool {
        // SAFETY: By the caller.
        unsafe { core::slice::from_raw_parts(p, N) }
            .iter()
            .all(|&b| b == v)
    }

    /// The device's view of the first page of a mapped attachment: the
    /// kernel address behind its device address.
    fn device_view(a: &Attachment<Buffer>, dev: &TestDev) -> Result<*mut u8> {
        let addr = a
            .with_mapping(|m| m.dma().iter().next().map(|e| e.dma_address()))
            .flatten()
            .ok_or(EINVAL)?;
        Ok(dma_to_virt(dev.dev(), addr))
    }

    /// A device that reaches the pages sees an uncached buffer's CPU writes
    /// at once and its own writes land in the pages: no sync, no bounce.
    ///
    /// The device's view is read through a path of its own: the physical
    /// page that the device address names must be the buffer's page (a
    /// bounce slot would be another), mapped a second time with `vmap` at
    /// an address that is not the CPU's.
    #[test]
    fn direct_mapping_of_uncached_buffer_needs_no_sync() -> Result {
        let dev = TestDev::direct()?;
        let heap = system_heap()?;
        let bounced = counter(&stats::BOUNCED_MAPS);
        let buf = Buffer::new(&heap, PAGE_SIZE, 0)?;
        let a = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
        let t = a.map(&buf, DataDirection::Bidirectional)?;
        let run = buf.entries().next().ok_or(EINVAL)?;
        let addr = a
            .with_mapping(|m| m.dma().iter().next().map(|e| e.dma_address()))
            .flatten()
            .ok_or(EINVAL)?;
        let mut seen = [
            dma::dma_to_phys(dev.dev(), addr) == run.phys(),
            false,
            false,
        ];
        // The device's page is the buffer's (seen[0]): map it once more.
        if seen[0] {
            // SAFETY: The page belongs to `buf`, which outlives the alias.
            let alias = unsafe { Vmap::new(core::iter::once(run), Caching::Cached) }?;
            let devp = alias.as_ptr().as_ptr().cast::<u8>();
            let page = run.page(0).ok_or(EINVAL)?;
            cpu_fill(&page, 0x77)?;
            // SAFETY: `devp` maps the whole page.
            seen[1] = unsafe { all(devp, 0x77) };
            // SAFETY: As above.
            unsafe { fill(devp, 0x88) };
            seen[2] = cpu_all(&page, 0x88)?;
        }
        a.unmap(&buf, t)?;
        a.detach(&buf);
        drop(buf);
        drop(dev);
        assert_eq!(seen, [true; 3]);
        assert_eq!(counter(&stats::BOUNCED_MAPS), bounced);
        assert_eq!(heap.bytes.load(Relaxed), 0);
        Ok(())
    }

    /// A one-way mapping is synced in its own direction whatever the CPU
    /// asks for: the DMA API allows no other (CONFIG_DMA_API_DEBUG warns),
    /// and the data still moves the way the mapping goes.
    #[test]
    fn one_way_mappings_sync_in_their_own_direction() -> Result {
        let dev = TestDev::new()?;
        let heap = system_heap()?;
        let mut seen = [false; 2];
        for (i, dir) in [DataDirection::ToDevice, DataDirection::FromDevice]
            .into_iter()
            .enumerate()
        {
            let buf = Buffer::new(&heap, PAGE_SIZE, ION_FLAG_CACHED)?;
            let a = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
            let t = a.map(&buf, dir)?;
            let devp = device_view(&a, &dev)?;
            let run = buf.entries().next().ok_or(EINVAL)?;
            let page = run.page(0).ok_or(EINVAL)?;
            if dir == DataDirection::ToDevice {
                cpu_fill(&page, 0x11)?;
                buf.cpu_access(SyncFor::Cpu, DataDirection::FromDevice);
                buf.cpu_access(SyncFor::Device, DataDirection::Bidirectional);
                // SAFETY: `devp` maps at least one page of the mapping.
                seen[i] = unsafe { all(devp, 0x11) };
            } else {
                // SAFETY: As above.
                unsafe { fill(devp, 0x22) };
                buf.cpu_access(SyncFor::Cpu, DataDirection::ToDevice);
                seen[i] = cpu_all(&page, 0x22)?;
                buf.cpu_access(SyncFor::Device, DataDirection::Bidirectional);
            }
            a.unmap(&buf, t)?;
            a.detach(&buf);
        }
        drop(dev);
        assert_eq!(seen, [true, true]);
        Ok(())
    }

    /// end_cpu_access moves CPU writes to the device, begin_cpu_access moves
    /// device writes to the CPU, and neither happens before the call.
    pub(super) fn step_sync(
        heap: &Arc<heaps::Heap>,
        dev: &TestDev,
        flags: u32,
        seen: &mut [bool; 7],
    ) -> Result {
        let bidi = DataDirection::Bidirectional;
        let buf = Buffer::new(heap, PAGE_SIZE, flags)?;
        let a = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
        let t = a.map(&buf, bidi)?;
        let devp = device_view(&a, dev)?;
        let run = buf.entries().next().ok_or(EINVAL)?;
        let page = run.page(0).ok_or(EINVAL)?;
        cpu_fill(&page, 0xa5)?;
        // SAFETY: `devp` maps at least one page of the live mapping.
        unsafe {
            seen[0] = !all(devp, 0xa5);
            buf.cpu_access(SyncFor::Device, bidi);
            seen[1] = all(devp, 0xa5);
            fill(devp, 0x5a);
        }
        seen[2] = cpu_all(&page, 0xa5)?;
        buf.cpu_access(SyncFor::Cpu, bidi);
        seen[3] = cpu_all(&page, 0x5a)?;
        seen[4] = buf.attachment_counts() == (1, 1);
        a.unmap(&buf, t)?;
        seen[5] = buf.attachment_counts() == (1, 0);
        a.detach(&buf);
        Ok(())
    }

    /// Maps a buffer with its attributes, writes on the device side and
    /// unmaps; returns whether the write reached the CPU's page.
    pub(super) fn step_unmap(heap: &Arc<heaps::Heap>, dev: &TestDev, flags: u32) -> Result<bool> {
        let buf = Buffer::new(heap, PAGE_SIZE, flags)?;
        let a = Attachment::new(buf.as_arc_borrow(), dev.dev())?;
        let t = a.map(&buf, DataDirection::Bidirectional)?;
        let devp = device_view(&a, dev)?;
        // SAFETY: `devp` maps the bounce page of the live mapping.
        unsafe { fill(devp, 0x3c) };
        a.unmap(&buf, t)?;
        let run = buf.entries().next().ok_or(EINVAL)?;
        let page = run.page(0).ok_or(EINVAL)?;
        let copied = cpu_all(&page, 0x3c)?;
        a.detach(&buf);
        Ok(copied)
    }
}

/// The case that needs every DMA mapping to bounce (`swiotlb=force` on the
/// kernel command line), in a suite of its own: without it, it is skipped.
#[kunit_tests(rust_ion_swiotlb)]
mod swiotlb {
    use super::buffer::{counter, step_sync, step_unmap, system_heap, TestDev};
    use crate::{abstractions, stats, stats::Relaxed, uapi::ION_FLAG_CACHED};
    use kernel::prelude::*;

    /// With swiotlb=force a mapping bounces: the device sees a copy that
    /// only the DMA API's syncs update, so the syncs become observable. An
    /// uncached buffer's bounced mapping must move data like a cached one's.
    ///
    /// KUnit assertions end the test without unwinding, so every check is
    /// recorded first and asserted after the buffers and device are gone.
    #[test]
    fn swiotlb_shows_that_syncs_move_data() -> Result {
        let dev = TestDev::new()?;
        if !abstractions::dma::swiotlb_force_bounce(dev.dev()) {
            drop(dev);
            abstractions::kunit::mark_skipped(c"needs swiotlb=force on the kernel command line");
            return Ok(());
        }
        let heap = system_heap()?;
        let syncs = (
            counter(&stats::SYNCS_FOR_CPU),
            counter(&stats::SYNCS_FOR_DEVICE),
        );
        let maps = (counter(&stats::MAPS), counter(&stats::UNMAPS));
        let bounced = counter(&stats::BOUNCED_MAPS);
        let mut seen = [[false; 7]; 2];
        for (s, flags) in seen.iter_mut().zip([ION_FLAG_CACHED, 0]) {
            step_sync(&heap, &dev, flags, s)?;
            s[6] = step_unmap(&heap, &dev, flags)?;
        }
        pr_info!(
            "swiotlb test: maps +{}, unmaps +{}, bounced_maps +{}, syncs_for_cpu +{}, syncs_for_device +{}\n",
            counter(&stats::MAPS) - maps.0,
            counter(&stats::UNMAPS) - maps.1,
            counter(&stats::BOUNCED_MAPS) - bounced,
            counter(&stats::SYNCS_FOR_CPU) - syncs.0,
            counter(&stats::SYNCS_FOR_DEVICE) - syncs.1
        );
        // A failed assertion ends the test on the spot: let go of the
        // device first, so that the next test can register its own.
        drop(dev);
        assert_eq!(seen, [[true; 7]; 2]);
        // Two uncached mappings bounced; each of the two step_syncs synced
        // once each way.
        assert_eq!(counter(&stats::BOUNCED_MAPS) - bounced, 2);
        assert_eq!(counter(&stats::SYNCS_FOR_CPU) - syncs.0, 2);
        assert_eq!(counter(&stats::SYNCS_FOR_DEVICE) - syncs.1, 2);
        assert_eq!(heap.bytes.load(Relaxed), 0);
        Ok(())
    }
}
