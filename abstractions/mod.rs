// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the C APIs that an exporter of DMA buffers needs.
//!
//! Every raw call of the module lives in this folder, one file per kernel
//! subsystem. Each file is written as if it were part of 7.3's
//! `rust/kernel/`: it names no driver, documents every public item and the
//! invariants of its types, and carries KUnit tests of its own. Where 7.3
//! already has an API (`dma::DataDirection`, `dma::attrs`,
//! `scatterlist::SGTable`, `mm::virt::VmaNew`, `device::Device`,
//! `workqueue::Queue`), these files build on it instead of replacing it.
//!
//! The few static inlines and macros that 7.3's bindings cannot reach are
//! wrapped in C (`helpers.c`, one short function each) and declared in
//! [`helpers`].

pub(crate) mod cgroup_dmem;
#[cfg(CONFIG_CMA)]
pub(crate) mod cma;
pub(crate) mod dma;
pub(crate) mod dma_buf;
#[cfg(CONFIG_DMABUF_HEAPS)]
pub(crate) mod dma_heap;
pub(crate) mod fs;
pub(crate) mod genalloc;
pub(crate) mod helpers;
#[cfg(ion_rs_kunit)]
pub(crate) mod kunit;
pub(crate) mod list_lru;
pub(crate) mod memcg;
pub(crate) mod mm;
#[cfg(CONFIG_OF)]
pub(crate) mod of;
pub(crate) mod page;
pub(crate) mod scatterlist;
pub(crate) mod shrinker;
pub(crate) mod sysfs;
pub(crate) mod vmalloc;
pub(crate) mod workqueue;
