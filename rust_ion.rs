// SPDX-License-Identifier: GPL-2.0

//! rust-ion: the Ion memory allocator, in Rust.
//!
//! `/dev/ion` allocates buffers from heaps and exports them as dma-bufs,
//! with the userspace ABI of staging Ion from 4.12 to 5.10 (`uapi/ion.h`).
//! This file holds the module, the misc device and the ioctl dispatch; the
//! logic lives in `buffer.rs`, `dma_buf_ops.rs` and `heaps/`.

// With CLIPPY=1 the kernel warns on undocumented unsafe blocks; here both
// lints are errors. A function that dereferences a raw pointer it is given
// is `unsafe fn`, whether or not clippy sees it (it checks public ones).
#![deny(clippy::not_unsafe_ptr_arg_deref, clippy::undocumented_unsafe_blocks)]

mod abstractions;
mod buffer;
mod dma_buf_ops;
#[cfg(CONFIG_DMABUF_HEAPS)]
mod dma_heap;
mod heaps;
mod stats;
#[cfg(ion_rs_kunit)]
mod tests;
mod uapi;

use abstractions::{
    dma::OwnedDevice,
    dma_buf::DmaBuf,
    sysfs::{DeviceFile, Show},
};
use buffer::{Buffer, Pages};
use core::{fmt, mem::size_of};
use heaps::{CacheMode, Heap};
use kernel::{
    debugfs::{self, Dir, Writer},
    dma::DmaMask,
    fs::{
        file::{flags, FileDescriptorReservation},
        File,
    },
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    sizes::SZ_1M,
    sync::{aref::ARef, atomic::Relaxed, Arc},
    uaccess::{UserPtr, UserSlice},
};
use uapi::{IonAllocationData, IonHeapData, IonHeapQuery};

module! {
    type: IonModule,
    name: "ion_rs",
    authors: ["rust-ion developers"],
    description: "Ion memory allocator",
    license: "GPL",
    imports_ns: ["DMA_BUF", "DMA_BUF_HEAP"],
    params: {
        carveout_cma_mb: u32 {
            default: 0,
            description: "MiB of CMA to back the carveout heap instead of a rust-ion,carveout node",
        },
        pool_max_mb: u32 {
            default: 64,
            description: "MiB of freed pages the system heap keeps in its pools",
        },
        dma_heaps: bool {
            default: false,
            description: "Also serve every heap under /dev/dma_heap (cached and -uncached); pins the module, since 7.3 cannot remove a dma-heap",
        },
        pool_zero_on_alloc: bool {
            default: false,
            description: "Zero pool pages when they leave the pool instead of in the background zeroer after free (default off)",
        },
        mem_accounting: i32 {
            default: 1,
            description: "Charge system and system-contig buffers to the allocating task's memory cgroup (the page pools then keep each cgroup's pages apart): 1 on (the default), 0 off, -1 as dma_heap.mem_accounting",
        },
        kunit_warn: bool {
            default: false,
            description: "Test only: the KUnit case rust_ion_sizes.warns_only_when_asked WARNs, so that a test run proves it sees kernel warnings",
        },
    },
}

/// The state shared by every open `/dev/ion`: the heaps, highest id first.
pub(crate) struct Ion {
    heaps: KVec<Arc<Heap>>,
    /// Whether the system heaps charge memory cgroups.
    account: heaps::Account,
    /// The module's own device, with its DMA mask set before `/dev/ion`
    /// exists: new uncached buffers are cleaned for it.
    dev: Arc<OwnedDevice>,
}

/// `mb` MiB in bytes; a number that does not fit is `EINVAL` (a 32-bit
/// kernel holds less than 4096 MiB in a `usize`).
fn mib(mb: u32) -> Result<usize> {
    usize::try_from(mb)
        .ok()
        .and_then(|m| m.checked_mul(SZ_1M))
        .ok_or(EINVAL)
}

/// Rounds `len` up to whole pages; 0 and overflow are `EINVAL`.
pub(crate) fn page_align(len: u64) -> Result<usize> {
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    let aligned = kernel::page::page_align(len).ok_or(EINVAL)?;
    if aligned == 0 {
        return Err(EINVAL);
    }
    Ok(aligned)
}

impl Ion {
    /// Tries the heaps in `mask` from the highest id down; the first success
    /// wins. No heap in the mask is `ENODEV`; otherwise the last heap's error.
    fn allocate(&self, len: usize, mask: u32, flags: u32) -> Result<Pages> {
        let mut last = ENODEV;
        for heap in self.heaps.iter().filter(|h| mask & (1 << h.id) != 0) {
            match heap.allocate(len, flags) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Exports a new buffer of `len` bytes over `pages` with `file_flags`,
/// ready for userspace: uncached pages are cleaned for `dev` (the module's
/// own device, with its DMA mask set) first. Both faces come here.
pub(crate) fn export_new(
    pages: Pages,
    len: usize,
    dev: &OwnedDevice,
    file_flags: u32,
) -> Result<ARef<DmaBuf<Buffer>>> {
    if pages.mode() == CacheMode::Uncached {
        buffer::clean_for_device(&pages, dev)?;
    }
    dma_buf_ops::export(pages, len, file_flags)
}

/// `/sys/devices/faux/ion_rs/charged`: the module's device nodes whose
/// every byte is charged to a cgroup, one path per line: the dma-heap nodes
/// of every heap that charges ([`Heap::charged`]), and `/dev/ion` when
/// every heap does. `udev/70-ion-rs.rules` gives console users
/// these nodes, and only these.
struct ChargedNodes(Arc<Ion>);

impl Show for ChargedNodes {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ion = &self.0;
        if ion.heaps.iter().all(|h| h.charged(ion.account)) {
            writeln!(f, "/dev/ion")?;
        }
        for h in ion.heaps.iter().filter(|h| h.charged(ion.account)) {
            let memory = h.dma_name.to_str().unwrap_or("?");
            let nodes = h.dma_nodes.load(Relaxed);
            for mode in [CacheMode::Cached, CacheMode::Uncached] {
                if nodes & mode.node_bit() != 0 {
                    writeln!(f, "/dev/dma_heap/{memory}{}", mode.node_suffix())?;
                }
            }
        }
        Ok(())
    }
}

/// `/sys/kernel/debug/ion/stats`: one `key value` per line.
struct StatsView(Arc<Ion>);

impl Writer for StatsView {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for h in self.0.heaps.iter() {
            let name = h.name.to_str().unwrap_or("?");
            writeln!(f, "heap.{name}.id {}", h.id)?;
            // Strings: the memory's name (every buffer's exporter name) and
            // the /dev/dma_heap nodes that were added for the heap.
            let memory = h.dma_name.to_str().unwrap_or("?");
            writeln!(f, "heap.{name}.exp_name {memory}")?;
            let nodes = h.dma_nodes.load(Relaxed);
            for (mode, key) in [
                (CacheMode::Cached, "cached"),
                (CacheMode::Uncached, "uncached"),
            ] {
                if nodes & mode.node_bit() != 0 {
                    let suffix = mode.node_suffix();
                    writeln!(f, "heap.{name}.dma_heap.{key} {memory}{suffix}")?;
                }
            }
            if h.dmem.is_some() {
                writeln!(f, "heap.{name}.dmem dma_heap/{memory}")?;
            }
            writeln!(f, "heap.{name}.type {}", h.ty as u32)?;
            writeln!(f, "heap.{name}.bytes {}", h.bytes.load(Relaxed))?;
            writeln!(f, "heap.{name}.buffers {}", h.buffers.load(Relaxed))?;
            writeln!(f, "heap.{name}.runs {}", h.runs.load(Relaxed))?;
            writeln!(f, "heap.{name}.max_alloc {}", h.max_alloc())?;
            writeln!(f, "heap.{name}.chunk_size {}", h.chunk_size())?;
            h.write_pool_stats(f)?;
        }
        let memcg = u8::from(self.0.account == heaps::Account::Memcg);
        writeln!(f, "mem_accounting {memcg}")?;
        for (name, c) in stats::all() {
            writeln!(f, "{name} {}", c.load(Relaxed))?;
        }
        Ok(())
    }
}

/// `/sys/kernel/debug/ion/drain_pools`: any write empties the page pools.
struct DrainPools(Arc<Ion>);

impl debugfs::Reader for DrainPools {
    fn read_from_slice(&self, reader: &mut kernel::uaccess::UserSliceReader) -> Result {
        reader.skip(reader.len())?;
        for h in self.0.heaps.iter() {
            h.drain();
        }
        Ok(())
    }
}

/// The module. Fields drop in this order: `/dev/ion` goes first, so that
/// no new file reaches the heaps; the heaps and the device that the pools'
/// background zeroer cleans uncached runs for go with the last reference
/// to `Ion` (the heaps flush the zeroer when they go).
#[pin_data]
struct IonModule {
    #[pin]
    miscdev: MiscDeviceRegistration<IonFile>,
    _charged: Pin<KBox<DeviceFile<ChargedNodes>>>,
    ion: Arc<Ion>,
    _stats: Pin<KBox<debugfs::File<StatsView>>>,
    _drain: Pin<KBox<debugfs::File<DrainPools>>>,
    _debugfs: Dir,
}

impl Ion {
    /// The heaps, and the device that new uncached buffers are cleaned for,
    /// with its DMA mask set (as dma-buf heaps' devices have one).
    fn new() -> Result<Arc<Self>> {
        let account = heaps::Account::from_param(module_parameters::mem_accounting.value());
        let dev = Arc::new(
            OwnedDevice::new(c"ion_rs", DmaMask::new::<64>())?,
            GFP_KERNEL,
        )?;
        let heaps = heaps::create_all(&heaps::Params {
            #[cfg(CONFIG_ION_RS_HEAP_CARVEOUT)]
            carveout_cma: mib(module_parameters::carveout_cma_mb.value())?,
            #[cfg(CONFIG_ION_RS_HEAP_SYSTEM)]
            pools: heaps::system::PoolConfig {
                max_bytes: mib(module_parameters::pool_max_mb.value())?,
                zero_on_alloc: module_parameters::pool_zero_on_alloc.value(),
            },
            account,
        })?;
        for h in heaps.iter() {
            h.set_clean_device(dev.clone());
        }
        Ok(Arc::new(
            Ion {
                heaps,
                account,
                dev,
            },
            GFP_KERNEL,
        )?)
    }
}

impl kernel::InPlaceModule for IonModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ion: Ion::new()?,
            _debugfs: Dir::new(c"ion"),
            _drain: KBox::pin_init(
                _debugfs.write_only_file(c"drain_pools", DrainPools(ion.clone())),
                GFP_KERNEL
            )?,
            _stats: KBox::pin_init(_debugfs.read_only_file(c"stats", StatsView(ion.clone())), GFP_KERNEL)?,
            _charged: KBox::pin_init(
                DeviceFile::new(ion.dev.device(), c"charged", ChargedNodes(ion.clone())),
                GFP_KERNEL
            )?,
            // Last: `/dev/ion` appears only once everything it reaches is
            // ready, the device's DMA mask included.
            miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"ion" }),
        })
        .pin_chain(|this| {
            // Last, and never failing the load: a dma-heap added cannot be
            // taken back, so nothing after it may unload the module.
            #[cfg(CONFIG_DMABUF_HEAPS)]
            if module_parameters::dma_heaps.value() {
                let n = dma_heap::register_all(&this.ion);
                pr_info!("{n} dma-heaps under /dev/dma_heap; the module stays loaded\n");
            }
            #[cfg(not(CONFIG_DMABUF_HEAPS))]
            let _ = this;
            Ok(())
        })
    }
}

/// An open `/dev/ion`.
struct IonFile {
    ion: Arc<Ion>,
}

impl IonFile {
    fn alloc(&self, arg: usize) -> Result<isize> {
        let (mut r, mut w) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<IonAllocationData>()).reader_writer();
        let mut data: IonAllocationData = r.read()?;
        let len = page_align(data.len)?;
        let pages = self.ion.allocate(len, data.heap_id_mask, data.flags)?;
        let fd = FileDescriptorReservation::get_unused_fd_flags(flags::O_CLOEXEC)?;
        let exported = export_new(pages, len, &self.ion.dev, flags::O_RDWR)?;
        data.fd = fd.reserved_fd();
        // If the result cannot be copied back, `fd` and `exported` drop here:
        // the fd is returned unused and the buffer is freed.
        w.write(&data)?;
        exported.exporter().handed_out();
        DmaBuf::install(exported, fd);
        Ok(0)
    }

    fn heap_query(&self, arg: usize) -> Result<isize> {
        let (mut r, mut w) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<IonHeapQuery>()).reader_writer();
        let mut q: IonHeapQuery = r.read()?;
        if q.reserved0 != 0 || q.reserved1 != 0 || q.reserved2 != 0 {
            return Err(EINVAL);
        }
        let heaps = &self.ion.heaps;
        if q.heaps == 0 {
            q.cnt = heaps.len() as u32;
        } else {
            if q.cnt == 0 {
                return Err(EINVAL);
            }
            let n = core::cmp::min(q.cnt as usize, heaps.len());
            let addr = usize::try_from(q.heaps).map_err(|_| EFAULT)?;
            let mut out =
                UserSlice::new(UserPtr::from_addr(addr), n * size_of::<IonHeapData>()).writer();
            // Lowest id first: Ion-era userspace sizes its array for the
            // five standard types (ION_HEAP_TYPE_CUSTOM) and looks there for
            // a heap by type, so ids 0-4 must come first on a board with
            // more heaps. ALLOC still tries a mask highest id first.
            for h in heaps.iter().rev().take(n) {
                // Every byte that reaches userspace is set: the name is
                // NUL-padded and the reserved fields are zero.
                let mut name = [0u8; uapi::MAX_HEAP_NAME];
                let bytes = h.name.to_bytes();
                let l = core::cmp::min(bytes.len(), uapi::MAX_HEAP_NAME - 1);
                name[..l].copy_from_slice(&bytes[..l]);
                out.write(&IonHeapData {
                    name,
                    type_: h.ty as u32,
                    heap_id: h.id,
                    reserved0: 0,
                    reserved1: 0,
                    reserved2: 0,
                })?;
            }
            q.cnt = n as u32;
        }
        w.write(&q)?;
        Ok(0)
    }
}

#[vtable]
impl MiscDevice for IonFile {
    type Ptr = KBox<Self>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        // SAFETY: The only registration of this type is the `miscdev` field
        // of the module, which outlives every open file.
        let module =
            unsafe { &*kernel::container_of!(core::ptr::from_ref(misc), IonModule, miscdev) };
        Ok(KBox::new(
            IonFile {
                ion: module.ion.clone(),
            },
            GFP_KERNEL,
        )?)
    }

    fn ioctl(me: &IonFile, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::ION_IOC_ALLOC => me.alloc(arg),
            uapi::ION_IOC_HEAP_QUERY => me.heap_query(arg),
            // Userspace probes the legacy FREE to tell the ABIs apart.
            uapi::ION_IOC_FREE_LEGACY => Err(ENOTTY),
            _ => Err(ENOTTY),
        }
    }
}
