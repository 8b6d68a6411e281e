// SPDX-License-Identifier: GPL-2.0

//! Counters behind /sys/kernel/debug/ion/stats. The tests read them to prove
//! that maps, syncs and attachments balance and that nothing leaks.

use kernel::sync::atomic::Atomic;
pub(crate) use kernel::sync::atomic::Relaxed;

/// A global event or object counter.
#[cfg(ion_rs_kunit)]
pub(crate) type Counter = Atomic<i64>;

pub(crate) static MAPS: Atomic<i64> = Atomic::new(0);
pub(crate) static UNMAPS: Atomic<i64> = Atomic::new(0);
pub(crate) static SYNCS_FOR_CPU: Atomic<i64> = Atomic::new(0);
pub(crate) static SYNCS_FOR_DEVICE: Atomic<i64> = Atomic::new(0);
/// Mappings of uncached buffers that bounce, so made with CPU sync.
pub(crate) static BOUNCED_MAPS: Atomic<i64> = Atomic::new(0);
/// Runs of new uncached buffers cleaned at allocation (pool runs that the
/// background zeroer cleaned are not).
pub(crate) static CLEANED_AT_ALLOC: Atomic<i64> = Atomic::new(0);
/// Live attachments.
pub(crate) static ATTACHMENTS: Atomic<i64> = Atomic::new(0);
/// Live kernel mappings (vmap).
pub(crate) static VMAPS: Atomic<i64> = Atomic::new(0);

/// `(name, counter)` for every global counter, in the order printed.
pub(crate) fn all() -> [(&'static str, &'static Atomic<i64>); 8] {
    [
        ("maps", &MAPS),
        ("unmaps", &UNMAPS),
        ("bounced_maps", &BOUNCED_MAPS),
        ("cleaned_at_alloc", &CLEANED_AT_ALLOC),
        ("syncs_for_cpu", &SYNCS_FOR_CPU),
        ("syncs_for_device", &SYNCS_FOR_DEVICE),
        ("attachments", &ATTACHMENTS),
        ("vmaps", &VMAPS),
    ]
}
