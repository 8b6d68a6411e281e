// SPDX-License-Identifier: GPL-2.0

//! What 7.3's `kernel::workqueue` lacks: the default unbound queue and
//! flushing a delayed work item.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use kernel::{
    bindings,
    workqueue::{DelayedWork, Queue},
};

/// `system_dfl_wq`: the unbound default queue, for background work that
/// any CPU may do (`system_wq` and `system_unbound_wq` are deprecated in
/// 7.3 and warn when used).
pub(crate) fn system_dfl() -> &'static Queue {
    // SAFETY: `system_dfl_wq` is created at boot and never destroyed.
    unsafe { Queue::from_raw(bindings::system_dfl_wq) }
}

/// Runs `work` now if it is pending, and waits until it has finished
/// (`flush_delayed_work`). Returns whether it was pending.
pub(crate) fn flush_delayed<T: ?Sized, const ID: u64>(work: &DelayedWork<T, ID>) -> bool {
    let w: *const DelayedWork<T, ID> = work;
    // SAFETY: `DelayedWork` is a transparent wrapper of an initialised
    // `struct delayed_work`, alive while borrowed.
    unsafe { bindings::flush_delayed_work(w.cast_mut().cast()) }
}
