// SPDX-License-Identifier: GPL-2.0

//! The heaps that the device tree describes: every available node
//! compatible with `rust-ion,carveout`, `rust-ion,chunk` or `rust-ion,cma`
//! is one heap (see Documentation/devicetree/bindings/rust-ion.yaml).
//!
//! A node that cannot back a heap is skipped with one line in the log, and
//! loading goes on: a board's device tree must not keep Ion from loading.

#[cfg(CONFIG_ION_RS_HEAP_CMA)]
use crate::abstractions::cma::Area;
use kernel::{prelude::*, str::CStr, str::CString};

/// One heap's node, read and checked for what the device tree alone says.
/// A build with only the CMA heap reads no region.
#[cfg_attr(
    not(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK)),
    allow(dead_code)
)]
pub(crate) struct Node {
    /// The node's name without its unit address, for messages.
    pub(crate) node: CString,
    /// The name of the memory: the reserved-memory node's full name (with
    /// its unit address), as 7.3's CMA heaps name theirs. For a CMA heap,
    /// the node that `memory-region` names.
    pub(crate) memory: CString,
    /// `rust-ion,name`, if the node has one.
    pub(crate) name: Option<CString>,
    /// `rust-ion,heap-id`, if the node has one.
    pub(crate) id: Option<u32>,
    /// The size of the reserved region (carveout and chunk), or of the CMA
    /// area's (cma).
    pub(crate) size: usize,
    /// `rust-ion,chunk-size`, 0 if absent.
    pub(crate) chunk_size: u32,
    /// The CMA area that `memory-region` names (cma).
    #[cfg(CONFIG_ION_RS_HEAP_CMA)]
    pub(crate) cma: Option<Area>,
    /// The reserved region's node (carveout and chunk), checked to be in
    /// the linear map and not CMA's; `claim` checks it all again.
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    region: Option<kernel::sync::aref::ARef<crate::abstractions::of::Node>>,
}

impl Node {
    /// The region's pages, for the one heap that this node backs.
    #[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
    pub(crate) fn claim(self) -> Result<super::pool::Backing> {
        #[cfg(CONFIG_OF_RESERVED_MEM)]
        if let Some(np) = self.region {
            return Ok(KBox::new(np.claim_reserved()?, GFP_KERNEL)?);
        }
        Err(ENODEV)
    }
}

/// A NUL-terminated name up to its unit address (`%pOFn`).
#[cfg(CONFIG_OF)]
fn short_name(full: &CStr) -> Result<CString> {
    let b = full.to_bytes();
    let end = b.iter().position(|&c| c == b'@').unwrap_or(b.len());
    let mut v = KVec::with_capacity(end + 1, GFP_KERNEL)?;
    v.extend_from_slice(&b[..end], GFP_KERNEL)?;
    v.push(0, GFP_KERNEL)?;
    Ok(CString::try_from(
        CStr::from_bytes_with_nul(&v).map_err(|_| EINVAL)?,
    )?)
}

/// Reads what `np` says about its memory into `out`, or says why it cannot
/// back a heap.
#[cfg(CONFIG_OF)]
fn read_memory(
    np: &crate::abstractions::of::Node,
    cma: bool,
    out: &mut Node,
) -> core::result::Result<(), &'static CStr> {
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    {
        if cma {
            let mem = np
                .parse_phandle(c"memory-region", 0)
                .ok_or(c"no memory-region")?;
            let not_cma = c"memory-region is not a CMA area";
            let rmem = mem.reserved_mem().ok_or(not_cma)?;
            out.memory = CString::try_from(mem.full_name()).map_err(|_| c"no memory")?;
            out.size = usize::try_from(rmem.size()).map_err(|_| c"too large")?;
            #[cfg(CONFIG_ION_RS_HEAP_CMA)]
            {
                out.cma = Some(Area::by_name(rmem.name()).ok_or(not_cma)?);
                return Ok(());
            }
            #[cfg(not(CONFIG_ION_RS_HEAP_CMA))]
            {
                let _ = rmem;
                return Err(not_cma);
            }
        }
        let no_map = np.fwnode().property_present(c"no-map");
        let reusable = np.fwnode().property_present(c"reusable");
        let rmem = np.reserved_mem().ok_or(c"not a reserved-memory region")?;
        if no_map {
            return Err(c"no-map: its pages are not in the linear map");
        }
        if reusable {
            return Err(c"reusable: the region belongs to CMA, not to the heap");
        }
        out.size = usize::try_from(rmem.size()).map_err(|_| c"too large")?;
        out.region = Some(np.into());
        Ok(())
    }
    #[cfg(not(CONFIG_OF_RESERVED_MEM))]
    {
        let _ = (np, cma, out);
        Err(c"not a reserved-memory region")
    }
}

/// Every available node compatible with `compatible`, in device-tree order;
/// the nodes that cannot back a heap are logged and left out. `any` says
/// whether there was a node at all, usable or not.
#[cfg(CONFIG_OF)]
pub(crate) fn nodes(compatible: &CStr) -> Result<(KVec<Node>, bool)> {
    let mut out = KVec::new();
    let mut any = false;
    for np in crate::abstractions::of::Node::compatible(compatible) {
        if !np.is_available() {
            continue;
        }
        any = true;
        let fw = np.fwnode();
        let mut n = Node {
            node: short_name(np.full_name())?,
            memory: CString::try_from(np.full_name())?,
            name: fw.property_read::<CString>(c"rust-ion,name").optional(),
            id: fw.property_read::<u32>(c"rust-ion,heap-id").optional(),
            size: 0,
            chunk_size: fw.property_read::<u32>(c"rust-ion,chunk-size").or(0),
            #[cfg(CONFIG_ION_RS_HEAP_CMA)]
            cma: None,
            #[cfg(CONFIG_OF_RESERVED_MEM)]
            region: None,
        };
        let cma = compatible.to_bytes() == b"rust-ion,cma";
        if let Err(why) = read_memory(&np, cma, &mut n) {
            pr_warn!("{} {}: skipped: {}\n", compatible, &*n.node, why);
            continue;
        }
        out.push(n, GFP_KERNEL)?;
    }
    Ok((out, any))
}

/// A kernel without a device tree has no such node.
#[cfg(not(CONFIG_OF))]
pub(crate) fn nodes(_compatible: &CStr) -> Result<(KVec<Node>, bool)> {
    Ok((KVec::new(), false))
}
