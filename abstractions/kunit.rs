// SPDX-License-Identifier: GPL-2.0

//! What 7.3's `kernel::kunit` lacks: marking the running case skipped.
//!
//! C header: [`include/kunit/test.h`](srctree/include/kunit/test.h)

use super::helpers;
use kernel::str::{CStr, CStrExt};

/// Marks the running KUnit case as skipped, with `why`; the caller then
/// returns. Outside a KUnit case it does nothing.
pub(crate) fn mark_skipped(why: &CStr) {
    // SAFETY: Always safe to call; it returns the running case or null.
    let test = unsafe { kernel::bindings::kunit_get_current_test() };
    if !test.is_null() {
        // SAFETY: `test` is the running case; `why` is read during the call.
        unsafe { helpers::rust_helper_kunit_mark_skipped(test, why.as_char_ptr()) };
    }
}
