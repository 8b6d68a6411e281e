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

#[cfg(ion_rs_kunit)]
#[kernel::macros::kunit_tests(rust_kernel_workqueue_flush)]
mod tests {
    use super::*;
    use kernel::{
        new_delayed_work,
        prelude::*,
        sync::{
            atomic::{Atomic, Relaxed},
            Arc,
        },
        workqueue::{impl_has_delayed_work, WorkItem},
    };

    #[pin_data]
    struct Counter {
        #[pin]
        work: DelayedWork<Counter>,
        runs: Atomic<u32>,
    }

    impl_has_delayed_work! {
        impl HasDelayedWork<Self> for Counter { self.work }
    }

    impl WorkItem for Counter {
        type Pointer = Arc<Counter>;

        fn run(this: Arc<Counter>) {
            this.runs.add(1, Relaxed);
        }
    }

    /// A flush runs a work item armed far in the future at once, and waits
    /// for it; a second flush finds nothing to wait for. (Whether the first
    /// one had to wait depends on whether a worker took the item first.)
    #[test]
    fn flush_runs_a_pending_delayed_work_now() -> Result {
        let c = Arc::pin_init(
            pin_init!(Counter {
                work <- new_delayed_work!("rust_kernel_workqueue_flush"),
                runs: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        let queued = system_dfl().enqueue_delayed(c.clone(), 100_000).is_ok();
        flush_delayed(&c.work);
        let runs = c.runs.load(Relaxed);
        let again = flush_delayed(&c.work);
        // Asserted once the item is let go: a failed assertion does not
        // unwind.
        drop(c);
        assert_eq!((queued, runs, again), (true, 1, false));
        Ok(())
    }
}
