// SPDX-License-Identifier: GPL-2.0

//! KUnit suites, run when the module loads (CONFIG_ION_RS_KUNIT_TEST, the
//! `ion_rs_kunit` cfg).

use kernel::prelude::*;

#[kunit_tests(rust_ion_sizes)]
mod sizes {
    use crate::heaps::system::{max_alloc_for, order_for, order_of, ORDERS};
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

    /// The orders are 1 MiB, 64 KiB and a page, in pages of this kernel.
    #[test]
    fn orders_are_sizes_not_numbers() {
        assert_eq!(PAGE_SIZE << ORDERS[0], kernel::sizes::SZ_1M);
        assert_eq!(PAGE_SIZE << ORDERS[1], kernel::sizes::SZ_64K);
        assert_eq!(ORDERS[2], 0);
        assert_eq!(order_of(PAGE_SIZE), 0);
        assert_eq!(order_of(PAGE_SIZE / 2), 0);
        assert_eq!(order_of(PAGE_SIZE << 3), 3);
    }

    #[test]
    fn order_picks_largest_that_fits() {
        let (big, mid) = (ORDERS[0], ORDERS[1]);
        assert_eq!(order_for(PAGE_SIZE << big, big), Some(big));
        assert_eq!(order_for((PAGE_SIZE << big) - PAGE_SIZE, big), Some(mid));
        assert_eq!(order_for((PAGE_SIZE << mid) - PAGE_SIZE, big), Some(0));
        assert_eq!(order_for(PAGE_SIZE, big), Some(0));
        assert_eq!(order_for(PAGE_SIZE - 1, big), None);
        assert_eq!(order_for(0, big), None);
    }

    #[test]
    fn order_never_goes_back_up() {
        let (big, mid) = (ORDERS[0], ORDERS[1]);
        assert_eq!(order_for(PAGE_SIZE << (big + 1), mid), Some(mid));
        assert_eq!(order_for(PAGE_SIZE << (big + 1), mid - 1), Some(0));
    }

    /// Module parameters in MiB become bytes, or `EINVAL` where a `usize`
    /// cannot hold them (a 32-bit kernel), never a wrapped size.
    #[test]
    fn mib_parameters_never_overflow() {
        assert_eq!(crate::mib(0), Ok(0));
        assert_eq!(crate::mib(64), Ok(64 * kernel::sizes::SZ_1M));
        let fits = u64::from(u32::MAX) << 20 <= usize::MAX as u64;
        assert_eq!(crate::mib(u32::MAX).is_ok(), fits);
    }

    /// `cma=` as `early_cma` reads it: the last one, `memparse`'s K, M and
    /// G, a placement after `@`, and nothing for what does not parse.
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    #[test]
    fn cma_size_from_the_command_line() {
        use crate::heaps::cma::cmdline_cma_size as size;
        let m = kernel::sizes::SZ_1M;
        assert_eq!(size(b"console=ttyAMA0 cma=64M panic=-1"), Some(64 * m));
        assert_eq!(
            size(b"cma=32M cma=128M@0x80000000-0xc0000000"),
            Some(128 * m)
        );
        assert_eq!(size(b"cma=1G"), Some(1024 * m));
        assert_eq!(size(b"cma=4096K\n"), Some(4 * m));
        assert_eq!(size(b"cma=1048576"), Some(m));
        assert_eq!(size(b"xcma=64M hugetlb_cma=64M"), None);
        assert_eq!(size(b"cma=0 "), None);
        assert_eq!(size(b"cma=64Q"), None);
        assert_eq!(size(b"cma=99999999999999999999G"), None);
        assert_eq!(size(b""), None);
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
            dma::{testing as dma_testing, testing::dma_to_virt, OwnedDevice},
            dma_buf::{
                testing::{flush_releases, with_vmap, Importer, Mapping},
                Attachment, DmaBuf,
            },
            scatterlist::{SgTable, SyncFor},
            vmalloc::{Caching, VMap},
        },
        buffer::Buffer,
        dma_buf_ops, heaps, stats,
        stats::Relaxed,
        uapi::ION_FLAG_CACHED,
    };
    use kernel::{
        device::{Bound, Device},
        dma::{DataDirection, DmaMask},
        fs::file::flags::O_RDWR,
        page::PAGE_SIZE,
        prelude::*,
        sync::{aref::ARef, Arc},
    };

    /// A faux device with a 64-bit DMA mask, standing in for an importer.
    pub(super) struct TestDev(OwnedDevice);

    impl TestDev {
        pub(super) fn new() -> Result<Self> {
            Ok(Self(OwnedDevice::new(
                c"rust_ion_test",
                DmaMask::new::<64>(),
            )?))
        }

        /// A device that reaches memory directly even under swiotlb=force,
        /// as devices do on a machine without swiotlb.
        fn direct() -> Result<Self> {
            let dev = Self::new()?;
            // SAFETY: The device is new and ours, and has mapped nothing.
            unsafe { dma_testing::bypass_swiotlb(dev.dev()) };
            Ok(dev)
        }

        pub(super) fn dev(&self) -> &Device<Bound> {
            self.0.device()
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

    /// A new buffer of `len` bytes from `heap`, exported.
    pub(super) fn exported(
        heap: &Arc<heaps::Heap>,
        len: usize,
        flags: u32,
    ) -> Result<ARef<DmaBuf<Buffer>>> {
        dma_buf_ops::export(heap.allocate(len, flags)?, len, O_RDWR)
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

    /// A heap pools its pages whether it charges memory cgroups or not
    /// (charged pages on their cgroup's lists): the second buffer is the
    /// first one's pages, and only one buffer's worth stays pooled. A buffer
    /// that never reached userspace pools nothing.
    #[test]
    fn both_accounting_modes_pool() -> Result {
        let len = 2 * kernel::sizes::SZ_1M;
        for (account, pooled) in [
            (heaps::Account::Off, len / PAGE_SIZE),
            (heaps::Account::Memcg, len / PAGE_SIZE),
        ] {
            let heap = heaps::system_heap(heaps::system::PoolConfig::DEFAULT, account)?;
            drop(Buffer::boxed(&heap, len, ION_FLAG_CACHED)?);
            assert_eq!(pooled_pages(&heap)?, 0);
            for _ in 0..2 {
                let buf = Buffer::boxed(&heap, len, ION_FLAG_CACHED)?;
                buf.handed_out();
                drop(buf);
            }
            assert_eq!(pooled_pages(&heap)?, pooled);
            heap.drain();
            assert_eq!(pooled_pages(&heap)?, 0);
        }
        Ok(())
    }

    /// A table describes every run, and holds the pages, never the buffer:
    /// a table or a mapping that outlives its buffer keeps the pages until
    /// it goes, and no cycle keeps either alive. Each mapping has a table
    /// of its own, and a second mapping of an attachment is `EBUSY`.
    #[test]
    fn tables_hold_the_pages_not_the_buffer() -> Result {
        let dev = TestDev::new()?;
        let heap = system_heap()?;
        let (maps, unmaps) = (counter(&stats::MAPS), counter(&stats::UNMAPS));
        let (m, k) = (kernel::sizes::SZ_1M, kernel::sizes::SZ_64K);
        let bytes = || heap.bytes.load(Relaxed);
        let none = crate::abstractions::dma::no_attrs();
        let bidi = DataDirection::Bidirectional;
        let mut seen = [false; 7];
        let big = Buffer::boxed(&heap, m + k + PAGE_SIZE, ION_FLAG_CACHED)?;
        let t = SgTable::new(big.pages().clone())?;
        seen[0] = t.entries().map(|e| e.len()).eq([m, k, PAGE_SIZE]);
        drop(big);
        seen[1] = bytes() == (m + k + PAGE_SIZE) as i64;
        drop(t);
        seen[2] = bytes() == 0;
        // Mapped segments no longer than a faux device's 64 KiB.
        let buf = Buffer::boxed(&heap, k + PAGE_SIZE, ION_FLAG_CACHED)?;
        {
            let m1 = buf.map(dev.dev(), 0, bidi, buf.map_attrs(none))?;
            let m2 = buf.map(dev.dev(), 0, bidi, buf.map_attrs(none))?;
            seen[3] = m1.as_raw() != m2.as_raw();
            seen[4] = buf.map(dev.dev(), 1, bidi, buf.map_attrs(none)).err() == Some(EBUSY);
            drop(buf);
            seen[5] = bytes() == (k + PAGE_SIZE) as i64;
            Buffer::unmap(m1);
            Buffer::unmap(m2);
        }
        seen[6] = bytes() == 0;
        drop(dev);
        assert_eq!(seen, [true; 7]);
        assert_eq!(heap.buffers.load(Relaxed), 0);
        // Every mapping counted is counted undone (the selftests compare
        // the two after every test).
        assert_eq!(counter(&stats::MAPS) - maps, 2);
        assert_eq!(counter(&stats::UNMAPS) - unmaps, 2);
        Ok(())
    }

    #[test]
    fn mapped_state_follows_map_and_unmap() -> Result {
        let dev = TestDev::new()?;
        let heap = system_heap()?;
        let buf = exported(&heap, 16 * PAGE_SIZE, ION_FLAG_CACHED)?;
        let (maps, unmaps) = (counter(&stats::MAPS), counter(&stats::UNMAPS));
        let bidi = DataDirection::Bidirectional;
        // Recorded first and asserted once the device is gone (see
        // swiotlb_shows_that_syncs_move_data), so that a failure here does
        // not leave the device registered for the next test.
        let mut seen = [false; 7];
        let attachments = || counter(&stats::ATTACHMENTS);
        let base = attachments();
        {
            let i1 = Importer::attach(&buf, dev.dev())?;
            let i2 = Importer::attach(&buf, dev.dev())?;
            seen[0] = attachments() - base == 2;
            let t = i1.map(bidi)?;
            seen[1] = i1.attachment().is_mapped() && !i2.attachment().is_mapped();
            // One mapping per attachment at a time: the driver's rule.
            seen[2] = i1.map(bidi).err() == Some(EBUSY);
            i1.unmap(t);
            seen[3] = !i1.attachment().is_mapped();
            let t = i1.map(bidi)?;
            i1.unmap(t);
            // A detach without unmap still undoes the mapping.
            let _left: Mapping = i2.map(DataDirection::ToDevice)?;
        }
        seen[4] = attachments() == base;
        seen[5] = (
            counter(&stats::MAPS) - maps,
            counter(&stats::UNMAPS) - unmaps,
        ) == (3, 3);
        drop(buf);
        flush_releases();
        seen[6] = heap.bytes.load(Relaxed) == 0;
        drop(dev);
        assert_eq!(seen, [true; 7]);
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
            let buf = exported(&heap, 4 * PAGE_SIZE, flags)?;
            let i1 = Importer::attach(&buf, dev.dev())?;
            let _i2 = Importer::attach(&buf, dev.dev())?;
            let t = i1.map(bidi)?;
            let (cpu, devs) = (
                counter(&stats::SYNCS_FOR_CPU),
                counter(&stats::SYNCS_FOR_DEVICE),
            );
            crate::abstractions::dma_buf::testing::begin_cpu_access(&buf, bidi)?;
            crate::abstractions::dma_buf::testing::end_cpu_access(&buf, bidi)?;
            *g = (
                counter(&stats::SYNCS_FOR_CPU) - cpu,
                counter(&stats::SYNCS_FOR_DEVICE) - devs,
            );
            i1.unmap(t);
        }
        flush_releases();
        drop(dev);
        assert_eq!(got, [(1, 1), (0, 0)]);
        assert_eq!(counter(&stats::BOUNCED_MAPS), bounced);
        assert_eq!(heap.bytes.load(Relaxed), 0);
        Ok(())
    }

    /// The core's kernel mapping reaches the driver once for all its users,
    /// is as long as the buffer, and sees the pages.
    #[test]
    fn vmap_sees_the_pages() -> Result {
        let heap = system_heap()?;
        let len = kernel::sizes::SZ_64K + PAGE_SIZE;
        let buf = exported(&heap, len, ION_FLAG_CACHED)?;
        let v0 = counter(&stats::VMAPS);
        let run = {
            let b: &Buffer = buf.exporter();
            let run = b.entries().last().ok_or(EINVAL)?;
            let page = run.page(0).ok_or(EINVAL)?;
            cpu_fill(&page, 0x42)?;
            run.len()
        };
        let (live, seen, size) = with_vmap(&buf, |p, size| {
            let live = counter(&stats::VMAPS) - v0;
            // SAFETY: The mapping covers the dma-buf's `size` bytes (the
            // layer checks), the last run at `size - run`.
            let seen = unsafe { all(p.as_ptr().add(size - run), 0x42) };
            (live, seen, size)
        })?;
        let after = counter(&stats::VMAPS) - v0;
        drop(buf);
        flush_releases();
        assert_eq!((live, after, seen, size), (1, 0, true, len));
        assert_eq!(heap.bytes.load(Relaxed), 0);
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
        let mut addr = None;
        a.with_mappings(|m| addr = addr.or(m.dma().iter().next().map(|e| e.dma_address())));
        Ok(dma_to_virt(dev.dev(), addr.ok_or(EINVAL)?))
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
        let buf = exported(&heap, PAGE_SIZE, 0)?;
        let mut seen = [false; 3];
        {
            let imp = Importer::attach(&buf, dev.dev())?;
            let t = imp.map(DataDirection::Bidirectional)?;
            let b: &Buffer = buf.exporter();
            let run = b.entries().next().ok_or(EINVAL)?;
            let mut addr = None;
            imp.attachment()
                .with_mappings(|m| addr = addr.or(m.dma().iter().next().map(|e| e.dma_address())));
            let addr = addr.ok_or(EINVAL)?;
            seen[0] = crate::abstractions::dma::to_phys(dev.dev(), addr) == run.phys();
            // The device's page is the buffer's (seen[0]): map it once more.
            if seen[0] {
                let alias = VMap::new(b.pages().clone(), Caching::Cached)?;
                let devp = alias.as_ptr().as_ptr().cast::<u8>();
                let page = run.page(0).ok_or(EINVAL)?;
                cpu_fill(&page, 0x77)?;
                // SAFETY: `devp` maps the whole page.
                seen[1] = unsafe { all(devp, 0x77) };
                // SAFETY: As above.
                unsafe { fill(devp, 0x88) };
                seen[2] = cpu_all(&page, 0x88)?;
            }
            imp.unmap(t);
        }
        drop(buf);
        flush_releases();
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
            let buf = exported(&heap, PAGE_SIZE, ION_FLAG_CACHED)?;
            let b: &Buffer = buf.exporter();
            let imp = Importer::attach(&buf, dev.dev())?;
            let t = imp.map(dir)?;
            let devp = device_view(&imp.attachment(), &dev)?;
            let run = b.entries().next().ok_or(EINVAL)?;
            let page = run.page(0).ok_or(EINVAL)?;
            if dir == DataDirection::ToDevice {
                cpu_fill(&page, 0x11)?;
                b.cpu_access(SyncFor::Cpu, DataDirection::FromDevice, None);
                b.cpu_access(SyncFor::Device, DataDirection::Bidirectional, None);
                // SAFETY: `devp` maps at least one page of the mapping.
                seen[i] = unsafe { all(devp, 0x11) };
            } else {
                // SAFETY: As above.
                unsafe { fill(devp, 0x22) };
                b.cpu_access(SyncFor::Cpu, DataDirection::ToDevice, None);
                seen[i] = cpu_all(&page, 0x22)?;
                b.cpu_access(SyncFor::Device, DataDirection::Bidirectional, None);
            }
            imp.unmap(t);
        }
        flush_releases();
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
        let buf = exported(heap, PAGE_SIZE, flags)?;
        let b: &Buffer = buf.exporter();
        let imp = Importer::attach(&buf, dev.dev())?;
        let t = imp.map(bidi)?;
        let devp = device_view(&imp.attachment(), dev)?;
        let run = b.entries().next().ok_or(EINVAL)?;
        let page = run.page(0).ok_or(EINVAL)?;
        cpu_fill(&page, 0xa5)?;
        // SAFETY: `devp` maps at least one page of the live mapping.
        unsafe {
            seen[0] = !all(devp, 0xa5);
            b.cpu_access(SyncFor::Device, bidi, None);
            seen[1] = all(devp, 0xa5);
            fill(devp, 0x5a);
        }
        seen[2] = cpu_all(&page, 0xa5)?;
        b.cpu_access(SyncFor::Cpu, bidi, None);
        seen[3] = cpu_all(&page, 0x5a)?;
        seen[4] = b.attachment_counts() == (1, 1);
        imp.unmap(t);
        seen[5] = b.attachment_counts() == (1, 0);
        Ok(())
    }

    /// Maps a buffer with its attributes, writes on the device side and
    /// unmaps; returns whether the write reached the CPU's page.
    pub(super) fn step_unmap(heap: &Arc<heaps::Heap>, dev: &TestDev, flags: u32) -> Result<bool> {
        let buf = exported(heap, PAGE_SIZE, flags)?;
        let b: &Buffer = buf.exporter();
        let imp = Importer::attach(&buf, dev.dev())?;
        let t = imp.map(DataDirection::Bidirectional)?;
        let devp = device_view(&imp.attachment(), dev)?;
        // SAFETY: `devp` maps the bounce page of the live mapping.
        unsafe { fill(devp, 0x3c) };
        imp.unmap(t);
        let run = b.entries().next().ok_or(EINVAL)?;
        let page = run.page(0).ok_or(EINVAL)?;
        cpu_all(&page, 0x3c)
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
        if !abstractions::dma::testing::swiotlb_force_bounce(dev.dev()) {
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
        abstractions::dma_buf::testing::flush_releases();
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

/// Reserved regions: free space reads as zero whatever drops a range.
#[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
#[kunit_tests(rust_ion_region)]
mod region {
    use crate::{
        abstractions::page::{Gfp, Pages},
        heaps::pool::Region,
    };
    use kernel::{page::PAGE_SIZE, prelude::*};

    /// A range that drops on its own, not through a heap's `free`, goes
    /// back zeroed: the next owner of the same pages reads zeroes.
    #[test]
    fn ranges_go_back_zeroed() -> Result {
        let backing = KBox::new(Pages::alloc(2, Gfp::KERNEL)?, GFP_KERNEL)?;
        let region = Region::new(backing, PAGE_SIZE.trailing_zeros())?;
        let pat = [0x5au8; 64];
        let mut before = [0u8; 64];
        {
            let runs = region.take(1, 4 * PAGE_SIZE)?;
            let run = runs.first().ok_or(EINVAL)?.pages();
            let last = run.page(3).ok_or(EINVAL)?;
            // SAFETY: 64 bytes inside the page, ours through `runs`.
            unsafe { last.write_raw(pat.as_ptr(), PAGE_SIZE - 64, 64) }?;
            // SAFETY: As above.
            unsafe { last.read_raw(before.as_mut_ptr(), PAGE_SIZE - 64, 64) }?;
        }
        let runs = region.take(1, 4 * PAGE_SIZE)?;
        let last = runs.first().ok_or(EINVAL)?.pages().page(3).ok_or(EINVAL)?;
        let mut after = [0xffu8; 64];
        // SAFETY: As above.
        unsafe { last.read_raw(after.as_mut_ptr(), PAGE_SIZE - 64, 64) }?;
        assert_eq!((before, after), (pat, [0u8; 64]));
        Ok(())
    }
}
