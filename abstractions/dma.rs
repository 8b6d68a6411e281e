// SPDX-License-Identifier: GPL-2.0

//! DMA mapping operations on any [`Device`], beyond what `kernel::dma`
//! offers for bound bus devices.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! An exporter maps memory for its importers' devices, which are not bound
//! to it; and it cleans new buffers for a device of its own
//! ([`OwnedDevice`]), which needs a DMA mask. What maps takes a
//! `&Device<Bound>`; what only asks takes a plain `&Device`, kept alive by
//! the caller's reference for the call.

use super::{
    helpers,
    page::{Contiguous, PhysAddr},
};
use kernel::{
    bindings,
    device::{Bound, Device},
    dma::{attrs, Attrs, DataDirection, DmaAddress, DmaMask},
    error::to_result,
    faux,
    prelude::*,
    str::CStr,
};

/// The C `struct device` behind `dev`.
///
/// `Device` is a transparent wrapper of `Opaque<struct device>`. 7.3's
/// `Device::as_raw` is `pub(crate)` to the kernel crate, so a module that
/// calls C with a device needs this one (as it needs [`attrs_raw`] for
/// `Attrs::as_raw`, and [`no_attrs`] for the private `Attrs(0)`). Each goes
/// once 7.3's own is public.
pub(crate) fn raw(dev: &Device) -> *mut bindings::device {
    core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut()
}

/// The attribute word of `a`, as the C API takes it. `dma::Attrs` keeps
/// its raw value to the kernel crate, so it is rebuilt here from the
/// attributes 7.3 defines.
pub(crate) fn attrs_raw(a: Attrs) -> usize {
    [
        (
            attrs::DMA_ATTR_WEAK_ORDERING,
            bindings::DMA_ATTR_WEAK_ORDERING,
        ),
        (
            attrs::DMA_ATTR_WRITE_COMBINE,
            bindings::DMA_ATTR_WRITE_COMBINE,
        ),
        (
            attrs::DMA_ATTR_SKIP_CPU_SYNC,
            bindings::DMA_ATTR_SKIP_CPU_SYNC,
        ),
        (
            attrs::DMA_ATTR_FORCE_CONTIGUOUS,
            bindings::DMA_ATTR_FORCE_CONTIGUOUS,
        ),
        (
            attrs::DMA_ATTR_ALLOC_SINGLE_PAGES,
            bindings::DMA_ATTR_ALLOC_SINGLE_PAGES,
        ),
        (attrs::DMA_ATTR_NO_WARN, bindings::DMA_ATTR_NO_WARN),
        (attrs::DMA_ATTR_PRIVILEGED, bindings::DMA_ATTR_PRIVILEGED),
        (attrs::DMA_ATTR_MMIO, bindings::DMA_ATTR_MMIO),
    ]
    .into_iter()
    .filter(|(f, _)| a.contains(*f))
    .fold(0, |w, (_, r)| w | r as usize)
}

/// No attribute at all (`dma::Attrs` has no public empty value).
pub(crate) fn no_attrs() -> Attrs {
    let a = attrs::DMA_ATTR_NO_WARN;
    a & !a
}

/// The direction of a C `enum dma_data_direction`; `DMA_NONE` and values
/// outside the enum are `EINVAL`.
pub(crate) fn direction_from_raw(d: bindings::dma_data_direction) -> Result<DataDirection> {
    [
        DataDirection::Bidirectional,
        DataDirection::ToDevice,
        DataDirection::FromDevice,
    ]
    .into_iter()
    .find(|x| bindings::dma_data_direction::from(*x) == d)
    .ok_or(EINVAL)
}

/// Sets the streaming and coherent DMA masks of `dev` to `mask`, even for a
/// device that has no mask storage of its own (a misc or virtual device):
/// `dma_coerce_mask_and_coherent()`.
///
/// # Safety
///
/// The caller owns `dev` (its driver, or the code that created it), and
/// nothing maps memory for `dev` while the mask changes.
pub(crate) unsafe fn coerce_mask_and_coherent(dev: &Device, mask: DmaMask) -> Result {
    // SAFETY: `dev` is a live device (the reference) that the caller owns
    // and that maps nothing meanwhile (caller).
    to_result(unsafe { helpers::rust_helper_dma_coerce_mask_and_coherent(raw(dev), mask.value()) })
}

/// A device of the caller's own, for streaming DMA mappings that are not
/// made for any importer (cache maintenance of new buffers): a faux device,
/// bound for as long as the value lives, whose DMA mask is set before
/// anyone else can reach it.
///
/// # Invariants
///
/// The registration's device has its streaming and coherent masks set.
pub(crate) struct OwnedDevice {
    reg: faux::Registration,
}

impl OwnedDevice {
    /// A new faux device named `name`, with `mask`.
    pub(crate) fn new(name: &CStr, mask: DmaMask) -> Result<Self> {
        let reg = faux::Registration::new(name, None)?;
        let fdev: &faux::Device<Bound> = reg.as_ref();
        // SAFETY: The device was created just now and is ours; nothing has
        // been handed its address, so nothing maps for it yet.
        unsafe { coerce_mask_and_coherent(fdev.as_ref(), mask) }?;
        // INVARIANT: The mask is set.
        Ok(Self { reg })
    }

    /// The device, bound while `self` is borrowed.
    pub(crate) fn device(&self) -> &Device<Bound> {
        let fdev: &faux::Device<Bound> = self.reg.as_ref();
        fdev.as_ref()
    }
}

/// Whether `dev`'s streaming mappings go through an IOMMU's DMA API
/// (`use_dma_iommu`).
pub(crate) fn uses_iommu(dev: &Device) -> bool {
    // SAFETY: `dev` is live (the reference).
    unsafe { helpers::rust_helper_use_dma_iommu(raw(dev)) }
}

/// Whether `dev` is a PCI device behind an external-facing port, which the
/// IOMMU DMA API bounces through swiotlb.
pub(crate) fn is_untrusted(dev: &Device) -> bool {
    // SAFETY: `dev` is live (the reference).
    unsafe { helpers::rust_helper_dev_is_untrusted_pci(raw(dev)) }
}

/// Whether `dev` has `dma_map_ops` of its own (not dma-direct).
pub(crate) fn has_dma_ops(dev: &Device) -> bool {
    // SAFETY: `dev` is live (the reference).
    unsafe { helpers::rust_helper_dev_has_dma_ops(raw(dev)) }
}

/// Whether a streaming mapping of `dev` at `addr` needs syncs to be
/// coherent (`dma_need_sync`).
pub(crate) fn need_sync(dev: &Device, addr: DmaAddress) -> bool {
    // SAFETY: `dev` is live (the reference); the answer reads only the
    // device's DMA state.
    unsafe { helpers::rust_helper_dma_need_sync(raw(dev), addr) }
}

/// The physical address behind `dev`'s device address `addr`, as
/// dma-direct translates it (`dma_to_phys`). Meaningful for a device
/// without `dma_map_ops` of its own ([`has_dma_ops`]).
pub(crate) fn to_phys(dev: &Device, addr: DmaAddress) -> PhysAddr {
    // SAFETY: `dev` is live (the reference); the translation reads only
    // the device's DMA ranges.
    unsafe { helpers::rust_helper_dma_to_phys(raw(dev), addr) }
}

/// The largest streaming mapping that `dev` makes at once
/// (`dma_max_mapping_size`): smaller than a run where swiotlb bounces.
pub(crate) fn max_mapping_size(dev: &Device) -> usize {
    // SAFETY: `dev` is live (the reference).
    unsafe { bindings::dma_max_mapping_size(raw(dev)) }
}

/// A streaming DMA mapping of one run of pages for a device
/// (`dma_map_page_attrs`), unmapped on drop.
///
/// # Invariants
///
/// `addr` maps the `size` bytes of `run` for `dev` in `dir`; the run's pages
/// and `dev`'s binding outlive the value (`'a`), which unmaps once, on drop.
pub(crate) struct MappedRun<'a> {
    dev: &'a Device<Bound>,
    addr: DmaAddress,
    size: usize,
    dir: DataDirection,
    _run: Contiguous<'a>,
}

impl<'a> MappedRun<'a> {
    /// Maps `run` for `dev` in `dir`. A run larger than `dev` maps at once
    /// ([`max_mapping_size`]) fails, as the DMA API does.
    pub(crate) fn new(
        dev: &'a Device<Bound>,
        run: Contiguous<'a>,
        dir: DataDirection,
    ) -> Result<Self> {
        let d = raw(dev);
        // SAFETY: `d` is live and bound (the reference); the run's pages stay
        // allocated for `'a`.
        let addr =
            unsafe { bindings::dma_map_page_attrs(d, run.as_raw(), 0, run.len(), dir.into(), 0) };
        // SAFETY: `addr` was just returned by a map for `d`.
        to_result(unsafe { helpers::rust_helper_dma_mapping_error(d, addr) })?;
        // INVARIANT: Mapped just now.
        Ok(Self {
            dev,
            addr,
            size: run.len(),
            dir,
            _run: run,
        })
    }
}

impl Drop for MappedRun<'_> {
    fn drop(&mut self) {
        // SAFETY: Mapped for `dev` with these arguments, unmapped once
        // (invariant); `dev` is still bound (`'a`).
        unsafe {
            bindings::dma_unmap_page_attrs(raw(self.dev), self.addr, self.size, self.dir.into(), 0)
        };
    }
}

/// What tests need to see through the DMA API, and a device that does not
/// bounce: not for drivers.
#[cfg(ion_rs_kunit)]
pub(crate) mod testing {
    use super::*;

    /// Whether every streaming mapping for `dev` goes through swiotlb bounce
    /// buffers (`swiotlb=force`).
    pub(crate) fn swiotlb_force_bounce(dev: &Device) -> bool {
        // SAFETY: `dev` is live (the reference).
        unsafe { helpers::rust_helper_is_swiotlb_force_bounce(raw(dev)) }
    }

    /// The CPU address behind a device address, for a device that reaches
    /// memory directly. Only dereferenced by tests that know the memory
    /// behind it.
    pub(crate) fn dma_to_virt(dev: &Device, addr: DmaAddress) -> *mut u8 {
        // SAFETY: Translating an address has no precondition.
        unsafe { helpers::rust_helper_phys_to_virt(to_phys(dev, addr)).cast() }
    }

    /// Makes `dev` reach memory directly even under `swiotlb=force`, as a
    /// device does on a machine without swiotlb. For tests that need a
    /// device whose mappings are the pages themselves.
    ///
    /// # Safety
    ///
    /// The caller owns `dev`, which must have mapped nothing, and nothing
    /// may map for it meanwhile.
    pub(crate) unsafe fn bypass_swiotlb(dev: &Device) {
        #[cfg(CONFIG_SWIOTLB)]
        // SAFETY: No mapping uses the field now or concurrently (caller).
        unsafe {
            (*raw(dev)).dma_io_tlb_mem = core::ptr::null_mut()
        };
        #[cfg(not(CONFIG_SWIOTLB))]
        let _ = dev;
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_dma_any_device)]
pub(crate) mod tests {
    use super::*;
    use kernel::{device::Bound, faux};

    /// The device of a faux registration, with a 64-bit DMA mask: an
    /// importer's stand-in for the layer's tests.
    pub(crate) fn masked(reg: &faux::Registration) -> Result<&Device<Bound>> {
        let fdev: &faux::Device<Bound> = reg.as_ref();
        let bound: &Device<Bound> = fdev.as_ref();
        // SAFETY: The test created the device and maps nothing for it yet.
        unsafe { coerce_mask_and_coherent(bound, DmaMask::new::<64>()) }?;
        Ok(bound)
    }

    #[test]
    fn attrs_convert_to_the_c_word() {
        let a = attrs::DMA_ATTR_SKIP_CPU_SYNC | attrs::DMA_ATTR_NO_WARN;
        let want = (bindings::DMA_ATTR_SKIP_CPU_SYNC | bindings::DMA_ATTR_NO_WARN) as usize;
        assert_eq!(attrs_raw(a), want);
        assert_eq!(
            attrs_raw(a & !attrs::DMA_ATTR_NO_WARN),
            bindings::DMA_ATTR_SKIP_CPU_SYNC as usize
        );
    }

    #[test]
    fn directions_round_trip_and_none_is_refused() {
        for d in [
            DataDirection::Bidirectional,
            DataDirection::ToDevice,
            DataDirection::FromDevice,
        ] {
            assert_eq!(direction_from_raw(d.into()), Ok(d));
        }
        assert_eq!(direction_from_raw(DataDirection::None.into()), Err(EINVAL));
    }

    /// An owned device has its mask before anyone sees it, and maps a run;
    /// a run larger than one mapping may be is refused, not truncated.
    #[test]
    fn owned_device_maps_a_run() -> Result {
        use super::super::page::{ContiguousPages, Gfp, Pages};
        let owned = OwnedDevice::new(c"rust_kernel_dma_test", DmaMask::new::<64>())?;
        let dev = owned.device();
        let p = Pages::alloc(4, Gfp::KERNEL)?;
        let max = max_mapping_size(dev);
        let m = MappedRun::new(dev, p.contiguous(), DataDirection::ToDevice);
        let ok = m.is_ok();
        drop(m);
        drop(p);
        assert!(max >= kernel::page::PAGE_SIZE);
        assert_eq!(ok, 16 * kernel::page::PAGE_SIZE <= max);
        Ok(())
    }
}
