// SPDX-License-Identifier: GPL-2.0

//! The heaps that the device tree describes: every available node
//! compatible with `rust-ion,carveout`, `rust-ion,chunk` or `rust-ion,cma`
//! is one heap (see Documentation/devicetree/bindings/rust-ion.yaml).
//!
//! A node that cannot back a heap is skipped with one line in the log, and
//! loading goes on: a board's device tree must not keep Ion from loading.

use crate::ffi;
use core::ptr::NonNull;
use kernel::{bindings, prelude::*, str::CStr, str::CString};

/// One heap's node, read and checked for what the device tree alone says.
/// A build with only the CMA heap reads no region.
#[cfg_attr(
    not(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK)),
    allow(dead_code)
)]
pub(crate) struct Node {
    /// The node's name, for messages (`ion-carveout@...`).
    pub(crate) node: CString,
    /// `rust-ion,name`, if the node has one.
    pub(crate) name: Option<CString>,
    /// `rust-ion,heap-id`, if the node has one.
    pub(crate) id: Option<u32>,
    /// The reserved region (carveout and chunk).
    pub(crate) base: bindings::phys_addr_t,
    pub(crate) size: usize,
    /// `rust-ion,chunk-size`, 0 if absent.
    pub(crate) chunk_size: u32,
    /// The CMA area that `memory-region` names (cma).
    #[cfg_attr(not(CONFIG_ION_RS_HEAP_CMA), allow(dead_code))]
    pub(crate) cma: Option<NonNull<ffi::Cma>>,
}

/// A NUL-terminated byte array from C as a `CStr`.
fn c_str(bytes: &[u8]) -> &CStr {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    CStr::from_bytes_with_nul(&bytes[..=end]).unwrap_or(c"?")
}

/// Every available node compatible with `compatible`, in device-tree order;
/// the nodes that cannot back a heap are logged and left out. `any` says
/// whether there was a node at all, usable or not.
pub(crate) fn nodes(compatible: &CStr) -> Result<(KVec<Node>, bool)> {
    let mut out = KVec::new();
    let mut any = false;
    for index in 0u32.. {
        // SAFETY: `DtHeap` is plain data, valid when zeroed.
        let mut d: ffi::DtHeap = unsafe { core::mem::zeroed() };
        // SAFETY: `compatible` is a C string and `d` is writable; the helper
        // fills `d` and returns an errno.
        let r = unsafe { ffi::rust_ion_dt_heap(compatible.as_char_ptr(), index, &mut d) };
        if r == ENOENT.to_errno() {
            break;
        }
        any = true;
        let node = CString::try_from(c_str(&d.node))?;
        if r != 0 {
            let why = if d.why.is_null() {
                c"unreadable"
            } else {
                // SAFETY: `why` points to one of the helper's string literals.
                unsafe { CStr::from_char_ptr(d.why) }
            };
            pr_warn!("{} {}: skipped: {}\n", compatible, &*node, why);
            continue;
        }
        let name = if d.named {
            Some(CString::try_from(c_str(&d.name))?)
        } else {
            None
        };
        let Ok(size) = usize::try_from(d.size) else {
            pr_warn!("{} {}: skipped: too large\n", compatible, &*node);
            continue;
        };
        out.push(
            Node {
                node,
                name,
                id: u32::try_from(d.id).ok(),
                base: d.base,
                size,
                chunk_size: d.chunk_size,
                cma: NonNull::new(d.cma),
            },
            GFP_KERNEL,
        )?;
    }
    Ok((out, any))
}
