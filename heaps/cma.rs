// SPDX-License-Identifier: GPL-2.0

//! The CMA heap: every buffer is one contiguous, zeroed run from a CMA area,
//! the one a `rust-ion,cma` node names with `memory-region`, or else the
//! default area.

use super::{CacheMode, HeapOps, Run, Runs, Source};
use crate::abstractions::{cma::Area, page::ContiguousPages};
use kernel::{page::PAGE_SIZE, prelude::*};

/// `CONFIG_CMA_ALIGNMENT`'s default: buffers are aligned to their order,
/// up to this.
const MAX_ALIGN_ORDER: u32 = 8;

pub(crate) struct CmaHeap {
    area: Area,
    /// The area's size, from its device-tree node, or for the default
    /// area from what the board declared ([`default_area_size`]); 0 where
    /// nothing says (7.3 does not export `cma_get_size`).
    size: usize,
}

/// The size of the default CMA area as the board declared it, and where
/// that was said: the `linux,cma-default` reserved-memory node, or `cma=`
/// on the kernel command line. `None` where neither says (the area then
/// has the kernel's configured default size, which a module cannot read).
pub(crate) fn default_area_size() -> Option<(usize, &'static str)> {
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    for np in crate::abstractions::of::Node::compatible(c"shared-dma-pool") {
        if np.is_available() && np.fwnode().property_present(c"linux,cma-default") {
            let size = np.reserved_mem().map(|r| r.size())?;
            return Some((usize::try_from(size).ok()?, "the linux,cma-default node"));
        }
    }
    let mut buf = [0u8; 1024];
    let n = crate::abstractions::fs::read(c"/proc/cmdline", &mut buf).ok()?;
    Some((cmdline_cma_size(buf.get(..n)?)?, "cma= on the command line"))
}

/// The size that the last `cma=` of a kernel command line asks for
/// (`cma=nn[KMG][@start[-end]]`, as `early_cma` parses it with
/// `memparse`); `None` without one or for a size that does not parse.
pub(crate) fn cmdline_cma_size(cmdline: &[u8]) -> Option<usize> {
    let arg = cmdline
        .split(|c| c.is_ascii_whitespace())
        .filter_map(|w| w.strip_prefix(b"cma="))
        .last()?;
    let digits = arg.iter().take_while(|c| c.is_ascii_digit()).count();
    let n: usize = core::str::from_utf8(arg.get(..digits)?)
        .ok()?
        .parse()
        .ok()?;
    let shift = match arg.get(digits) {
        Some(b'K' | b'k') => 10,
        Some(b'M' | b'm') => 20,
        Some(b'G' | b'g') => 30,
        None | Some(b'@') => 0,
        Some(_) => return None,
    };
    n.checked_mul(1usize.checked_shl(shift)?).filter(|&s| s > 0)
}

impl CmaHeap {
    /// The heap over a CMA area of `size` bytes: a `rust-ion,cma` node's,
    /// or the default area's (`None`: no such area).
    pub(crate) fn new(area: Option<Area>, size: usize) -> Option<Self> {
        area.map(|area| Self { area, size })
    }

    /// The default CMA area's heap, if there is a default area, with its
    /// size where the board declared it (which the log line names).
    pub(crate) fn default_area() -> Option<Self> {
        let area = Area::default_area()?;
        let size = match default_area_size() {
            Some((size, from)) => {
                pr_info!(
                    "default CMA area {}: {} MiB, from {}\n",
                    area.name(),
                    size >> 20,
                    from
                );
                size
            }
            None => 0,
        };
        Self::new(Some(area), size)
    }
}

impl HeapOps for CmaHeap {
    /// Unknown: 7.3 does not export the size of a CMA area.
    fn max_alloc(&self) -> usize {
        0
    }

    /// The dmem capacity: the area's size, or unknown (a default area whose
    /// size nothing declared).
    fn reserved(&self) -> Option<usize> {
        Some(self.size)
    }

    fn allocate(&self, len: usize, _mode: CacheMode) -> Result<Runs> {
        let count = len / PAGE_SIZE;
        let align = core::cmp::min(count.next_power_of_two().trailing_zeros(), MAX_ALIGN_ORDER);
        let mut pages = self.area.alloc(count, align)?;
        // CMA pages may hold old data.
        pages.zero();
        let mut runs = Runs::new();
        runs.push(Run::new(Source::Cma(pages)))?;
        Ok(runs)
    }
}
