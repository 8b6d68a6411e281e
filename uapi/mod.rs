// SPDX-License-Identifier: GPL-2.0

//! The Rust mirror of `uapi/ion.h`, checked against the header's layout at
//! compile time: sizes, field offsets and ioctl numbers.

use core::mem::{offset_of, size_of};
use kernel::{
    ioctl::{_IOR, _IOWR},
    transmute::{AsBytes, FromBytes},
};

pub(crate) const ION_IOC_MAGIC: u32 = b'I' as u32;
pub(crate) const MAX_HEAP_NAME: usize = 32;
/// `ION_FLAG_CACHED`: CPU mappings are cached and CPU access is synced;
/// without it they are write-combined and nothing is synced.
pub(crate) const ION_FLAG_CACHED: u32 = 1;
/// `ION_NUM_HEAP_IDS`: one bit of `heap_id_mask` per id.
pub(crate) const ION_NUM_HEAP_IDS: u32 = 32;

/// `struct ion_allocation_data`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct IonAllocationData {
    pub(crate) len: u64,
    pub(crate) heap_id_mask: u32,
    pub(crate) flags: u32,
    pub(crate) fd: u32,
    pub(crate) unused: u32,
}

/// `struct ion_heap_data`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct IonHeapData {
    pub(crate) name: [u8; MAX_HEAP_NAME],
    pub(crate) type_: u32,
    pub(crate) heap_id: u32,
    pub(crate) reserved0: u32,
    pub(crate) reserved1: u32,
    pub(crate) reserved2: u32,
}

/// `struct ion_heap_query`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct IonHeapQuery {
    pub(crate) cnt: u32,
    pub(crate) reserved0: u32,
    pub(crate) heaps: u64,
    pub(crate) reserved1: u32,
    pub(crate) reserved2: u32,
}

// SAFETY: Plain integers with no padding (checked below): any bytes are a
// valid value, and every byte of a value is initialised.
unsafe impl FromBytes for IonAllocationData {}
// SAFETY: As above.
unsafe impl AsBytes for IonAllocationData {}
// SAFETY: As above.
unsafe impl FromBytes for IonHeapQuery {}
// SAFETY: As above.
unsafe impl AsBytes for IonHeapQuery {}
// SAFETY: As above; `name` is a byte array.
unsafe impl AsBytes for IonHeapData {}

pub(crate) const ION_IOC_ALLOC: u32 = _IOWR::<IonAllocationData>(ION_IOC_MAGIC, 0);
pub(crate) const ION_IOC_HEAP_QUERY: u32 = _IOWR::<IonHeapQuery>(ION_IOC_MAGIC, 8);
/// The legacy (pre-4.12) `ION_IOC_FREE`, which userspace probes to tell the
/// ABIs apart; it must fail with -ENOTTY like any unknown ioctl.
pub(crate) const ION_IOC_FREE_LEGACY: u32 = _IOWR::<u32>(ION_IOC_MAGIC, 1);
#[allow(dead_code)]
pub(crate) const ION_IOC_ABI_VERSION: u32 = _IOR::<u32>(ION_IOC_MAGIC, 9);

// The layout of the final staging ABI (4.12 to 5.10), field by field.
const _: () = {
    assert!(size_of::<IonAllocationData>() == 24);
    assert!(offset_of!(IonAllocationData, len) == 0);
    assert!(offset_of!(IonAllocationData, heap_id_mask) == 8);
    assert!(offset_of!(IonAllocationData, flags) == 12);
    assert!(offset_of!(IonAllocationData, fd) == 16);
    assert!(offset_of!(IonAllocationData, unused) == 20);

    assert!(size_of::<IonHeapData>() == 52);
    assert!(offset_of!(IonHeapData, name) == 0);
    assert!(offset_of!(IonHeapData, type_) == 32);
    assert!(offset_of!(IonHeapData, heap_id) == 36);
    assert!(offset_of!(IonHeapData, reserved0) == 40);
    assert!(offset_of!(IonHeapData, reserved1) == 44);
    assert!(offset_of!(IonHeapData, reserved2) == 48);

    assert!(size_of::<IonHeapQuery>() == 24);
    assert!(offset_of!(IonHeapQuery, cnt) == 0);
    assert!(offset_of!(IonHeapQuery, reserved0) == 4);
    assert!(offset_of!(IonHeapQuery, heaps) == 8);
    assert!(offset_of!(IonHeapQuery, reserved1) == 16);
    assert!(offset_of!(IonHeapQuery, reserved2) == 20);

    assert!(ION_IOC_ALLOC == 0xc018_4900);
    assert!(ION_IOC_HEAP_QUERY == 0xc018_4908);
    assert!(ION_IOC_ABI_VERSION == 0x8004_4909);
    assert!(ION_IOC_FREE_LEGACY == 0xc004_4901);
};
