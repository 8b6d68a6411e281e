// SPDX-License-Identifier: GPL-2.0

//! DMA mapping operations on any [`Device`], beyond what `kernel::dma`
//! offers for bound bus devices.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! An exporter maps memory for its importers' devices, which are not bound
//! to it; and a misc device that cleans buffers needs a DMA mask. These
//! functions take a plain `&Device`: the caller's reference keeps it alive
//! for the call.

use super::{helpers, page::Contiguous, page::PhysAddr};
use kernel::{
    bindings,
    device::Device,
    dma::{attrs, Attrs, DataDirection, DmaAddress},
    error::to_result,
    page::PAGE_SIZE,
    prelude::*,
};

/// The C `struct device` behind `dev`.
///
/// `Device` is a transparent wrapper of `Opaque<struct device>`.
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

/// Sets the streaming and coherent DMA masks of `dev` to `bits` bits, even
/// for a device that has no mask storage of its own (a misc or virtual
/// device): `dma_coerce_mask_and_coherent()`.
pub(crate) fn coerce_mask_and_coherent(dev: &Device, bits: u32) -> Result {
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    // SAFETY: `dev` is a live device (the reference).
    to_result(unsafe { helpers::rust_helper_dma_coerce_mask_and_coherent(raw(dev), mask) })
}

/// Writes `run` back from the CPU caches for `dev`: a map and an unmap
/// towards the device, segment by segment, no larger than `dev` maps at
/// once, so that it also works where the DMA API bounces (swiotlb).
///
/// The pages are the caller's: only the caches change, not the contents.
pub(crate) fn write_back(dev: &Device, run: Contiguous<'_>) -> Result {
    let d = raw(dev);
    let dir = bindings::dma_data_direction::from(DataDirection::ToDevice);
    // SAFETY: `d` is live (the reference).
    let max = unsafe { bindings::dma_max_mapping_size(d) };
    let seg = core::cmp::max(PAGE_SIZE, max & !(PAGE_SIZE - 1));
    let mut off = 0;
    while off < run.len() {
        let size = core::cmp::min(seg, run.len() - off);
        // SAFETY: `[off, off + size)` lies inside the run, whose pages stay
        // allocated for the borrow; `d` is live.
        let addr = unsafe { bindings::dma_map_page_attrs(d, run.as_raw(), off, size, dir, 0) };
        // SAFETY: `addr` was just returned by a map for `d`.
        to_result(unsafe { helpers::rust_helper_dma_mapping_error(d, addr) })?;
        // SAFETY: `addr` was mapped for `d` with these arguments.
        unsafe { bindings::dma_unmap_page_attrs(d, addr, size, dir, 0) };
        off += size;
    }
    Ok(())
}

/// Whether every streaming mapping for `dev` goes through swiotlb bounce
/// buffers (`swiotlb=force`).
pub(crate) fn swiotlb_force_bounce(dev: &Device) -> bool {
    // SAFETY: `dev` is live (the reference).
    unsafe { helpers::rust_helper_is_swiotlb_force_bounce(raw(dev)) }
}

/// The physical address behind the device address `addr` of `dev`.
pub(crate) fn dma_to_phys(dev: &Device, addr: DmaAddress) -> PhysAddr {
    // SAFETY: `dev` is live (the reference); the translation reads only
    // the device's DMA ranges.
    unsafe { helpers::rust_helper_dma_to_phys(raw(dev), addr) }
}

/// Makes `dev` reach memory directly even under `swiotlb=force`, as a
/// device does on a machine without swiotlb. For tests that need a device
/// whose mappings are the pages themselves.
///
/// # Safety
///
/// `dev` must have mapped nothing, and nothing may map for it meanwhile.
pub(crate) unsafe fn bypass_swiotlb(dev: &Device) {
    #[cfg(CONFIG_SWIOTLB)]
    // SAFETY: No mapping uses the field now or concurrently (caller).
    unsafe {
        (*raw(dev)).dma_io_tlb_mem = core::ptr::null_mut()
    };
    #[cfg(not(CONFIG_SWIOTLB))]
    let _ = dev;
}

#[kunit_tests(rust_kernel_dma_any_device)]
pub(crate) mod tests {
    use super::*;
    use kernel::{device::Bound, faux};

    /// The device of a faux registration, with a 64-bit DMA mask: an
    /// importer's stand-in for the layer's tests.
    pub(crate) fn masked(reg: &faux::Registration) -> Result<&Device> {
        let fdev: &faux::Device<Bound> = reg.as_ref();
        let bound: &Device<Bound> = fdev.as_ref();
        coerce_mask_and_coherent(bound, 64)?;
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

    #[test]
    fn write_back_maps_a_run_for_a_device() -> Result {
        let faux = faux::Registration::new(c"rust_kernel_dma_test", None)?;
        let dev = masked(&faux)?;
        let p = super::super::page::Pages::alloc(4, super::super::page::Gfp::KERNEL)?;
        use super::super::page::ContiguousPages;
        write_back(dev, p.contiguous())
    }
}
