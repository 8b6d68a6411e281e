// SPDX-License-Identifier: GPL-2.0

//! The C side of rust-ion: `ion_helpers.c`, linked into the same module.
//!
//! Each function wraps a static inline or macro that 7.3's bindings do not
//! reach, with the contract of the function it wraps.

use kernel::bindings::{
    device, dma_addr_t, dma_data_direction, gfp_t, page, scatterlist, sg_table, vm_area_struct,
};
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};

/// `struct gen_pool`, used by pointer only.
#[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
#[repr(C)]
pub(crate) struct GenPool {
    _opaque: [u8; 0],
}

/// `struct rust_ion_dt_heap`: a heap's device-tree node as
/// `rust_ion_dt_heap()` reads it (see `ion_helpers.h`).
#[cfg(any(
    CONFIG_ION_RS_HEAP_CARVEOUT,
    CONFIG_ION_RS_HEAP_CHUNK,
    CONFIG_ION_RS_HEAP_CMA
))]
#[repr(C)]
pub(crate) struct DtHeap {
    pub(crate) name: [u8; 32],
    pub(crate) node: [u8; 64],
    pub(crate) why: *const kernel::ffi::c_char,
    pub(crate) base: kernel::bindings::phys_addr_t,
    pub(crate) size: kernel::bindings::phys_addr_t,
    pub(crate) cma: *mut Cma,
    pub(crate) id: i32,
    pub(crate) chunk_size: u32,
    pub(crate) named: bool,
}

/// `struct cma`, used by pointer only.
#[repr(C)]
pub(crate) struct Cma {
    _opaque: [u8; 0],
}

// Every struct here crosses by pointer only. The lint looks at what the
// bindgen structs would be by value (lockdep maps, zero-sized arrays), which
// never happens; the kernel's own `bindings` crate allows it for the same
// reason.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn rust_ion_sync_sgtable_for_cpu(
        dev: *mut device,
        sgt: *mut sg_table,
        dir: dma_data_direction,
    );
    pub(crate) fn rust_ion_sync_sgtable_for_device(
        dev: *mut device,
        sgt: *mut sg_table,
        dir: dma_data_direction,
    );
    pub(crate) fn rust_ion_sg_set_page(
        sg: *mut scatterlist,
        page: *mut page,
        len: c_uint,
        off: c_uint,
    );
    pub(crate) fn rust_ion_sg_page(sg: *mut scatterlist) -> *mut page;
    pub(crate) fn rust_ion_sg_length(sg: *mut scatterlist) -> c_uint;
    pub(crate) fn rust_ion_sg_offset(sg: *mut scatterlist) -> c_uint;
    pub(crate) fn rust_ion_page_to_pfn(page: *mut page) -> c_ulong;
    pub(crate) fn rust_ion_nth_page(page: *mut page, n: c_ulong) -> *mut page;
    pub(crate) fn rust_ion_dma_coerce_mask(dev: *mut device) -> c_int;
    pub(crate) fn rust_ion_vma_shared(vma: *mut vm_area_struct) -> bool;
    pub(crate) fn rust_ion_vma_writecombine(vma: *mut vm_area_struct);
    pub(crate) fn rust_ion_vma_pgoff(vma: *mut vm_area_struct) -> c_ulong;
    pub(crate) fn rust_ion_vma_start(vma: *mut vm_area_struct) -> c_ulong;
    pub(crate) fn rust_ion_vma_end(vma: *mut vm_area_struct) -> c_ulong;
    pub(crate) fn rust_ion_remap_pfn_range(
        vma: *mut vm_area_struct,
        addr: c_ulong,
        pfn: c_ulong,
        size: c_ulong,
    ) -> c_int;
    pub(crate) fn rust_ion_vmap(pages: *mut *mut page, count: c_uint, wc: bool) -> *mut c_void;
    pub(crate) fn rust_ion_vunmap(addr: *const c_void);
    pub(crate) fn rust_ion_invalidate_vmap(vaddr: *mut c_void, size: c_int);
    pub(crate) fn rust_ion_flush_vmap(vaddr: *mut c_void, size: c_int);
    pub(crate) fn rust_ion_dma_to_virt(dev: *mut device, addr: dma_addr_t) -> *mut c_void;
    pub(crate) fn rust_ion_dma_to_phys(
        dev: *mut device,
        addr: dma_addr_t,
    ) -> kernel::bindings::phys_addr_t;
    pub(crate) fn rust_ion_swiotlb_forced(dev: *mut device) -> bool;
    pub(crate) fn rust_ion_kunit_skip(
        test: *mut kernel::bindings::kunit,
        why: *const kernel::ffi::c_char,
    );
    pub(crate) fn rust_ion_sgtable_bounces(dev: *mut device, sgt: *mut sg_table) -> bool;
    pub(crate) fn rust_ion_test_dev_direct(dev: *mut device);
    pub(crate) fn rust_ion_totalram_pages() -> c_ulong;
    pub(crate) fn rust_ion_dma_mapping_error(dev: *mut device, addr: dma_addr_t) -> c_int;

    pub(crate) fn rust_ion_zero_pages(page: *mut page, npages: c_ulong);
    pub(crate) fn rust_ion_alloc_exact(size: usize) -> *mut page;
    pub(crate) fn rust_ion_free_exact(page: *mut page, size: usize);
    pub(crate) fn rust_ion_max_order() -> c_ulong;
    pub(crate) fn rust_ion_cma_alloc(cma: *mut Cma, count: c_ulong, align: c_uint) -> *mut page;
    pub(crate) fn rust_ion_cma_release(cma: *mut Cma, page: *mut page, count: c_ulong) -> bool;

    pub(crate) static rust_ion_gfp_highuser: gfp_t;
    pub(crate) static rust_ion_gfp_comp: gfp_t;
    pub(crate) static rust_ion_gfp_noretry: gfp_t;
    pub(crate) static rust_ion_gfp_reclaim: gfp_t;
}

// The dma-heap face (dma_heap.rs): adds a heap whose allocations call
// `rust_ion_dma_heap_allocate` with `priv`.
#[cfg(CONFIG_DMABUF_HEAPS)]
extern "C" {
    pub(crate) fn rust_ion_dma_heap_add(
        name: *const kernel::ffi::c_char,
        priv_: *mut c_void,
    ) -> c_int;
}

// The default CMA area: `carveout_cma_mb` carves a carveout from it, and the
// CMA heap uses it when no `rust-ion,cma` node names another.
#[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CMA))]
extern "C" {
    pub(crate) fn rust_ion_default_cma_area() -> *mut Cma;
}

// The heaps' device-tree nodes.
#[cfg(any(
    CONFIG_ION_RS_HEAP_CARVEOUT,
    CONFIG_ION_RS_HEAP_CHUNK,
    CONFIG_ION_RS_HEAP_CMA
))]
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn rust_ion_dt_heap(
        compatible: *const kernel::ffi::c_char,
        index: c_uint,
        out: *mut DtHeap,
    ) -> c_int;
}

// The reserved-region helpers, for the carveout and chunk heaps.
#[cfg(any(CONFIG_ION_RS_HEAP_CARVEOUT, CONFIG_ION_RS_HEAP_CHUNK))]
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn rust_ion_pool_create(
        base: kernel::bindings::phys_addr_t,
        size: usize,
        order: c_uint,
    ) -> *mut GenPool;
    pub(crate) fn rust_ion_pool_alloc(
        pool: *mut GenPool,
        size: usize,
    ) -> kernel::bindings::phys_addr_t;
    pub(crate) fn rust_ion_pool_free(
        pool: *mut GenPool,
        addr: kernel::bindings::phys_addr_t,
        size: usize,
    );
    pub(crate) fn rust_ion_pool_destroy(pool: *mut GenPool);
    pub(crate) fn rust_ion_phys_to_page(addr: kernel::bindings::phys_addr_t) -> *mut page;
}

// A page's physical address: the reserved heaps and the KUnit tests.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn rust_ion_page_to_phys(page: *mut page) -> kernel::bindings::phys_addr_t;
}
