// SPDX-License-Identifier: GPL-2.0

//! The C wrappers of static inlines and macros (`ion_helpers.c`), and the
//! exported C functions that 7.3's `bindings` crate does not declare.
//!
//! Each has the contract of the C function it wraps or names; the safe
//! wrappers in the other files of this folder state their side of it.

// Every struct here crosses by pointer only (or is `pgprot_t`, one word);
// the lint looks at what the bindgen structs would be by value, which never
// happens. The kernel's own `bindings` crate allows it for the same reason.
#![allow(improper_ctypes)]

use kernel::bindings::{
    device, dma_addr_t, dma_data_direction, gfp_t, page, pgprot_t, phys_addr_t, scatterlist,
    sg_table,
};
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

extern "C" {
    pub(crate) fn rust_helper_dma_sync_sgtable_for_cpu(
        dev: *mut device,
        sgt: *mut sg_table,
        dir: dma_data_direction,
    );
    pub(crate) fn rust_helper_dma_sync_sgtable_for_device(
        dev: *mut device,
        sgt: *mut sg_table,
        dir: dma_data_direction,
    );
    pub(crate) fn rust_helper_dma_mapping_error(dev: *mut device, addr: dma_addr_t) -> c_int;
    pub(crate) fn rust_helper_dma_coerce_mask_and_coherent(dev: *mut device, mask: u64) -> c_int;
    pub(crate) fn rust_helper_get_dma_buf(dmabuf: *mut kernel::bindings::dma_buf);
    pub(crate) fn rust_helper_use_dma_iommu(dev: *mut device) -> bool;
    pub(crate) fn rust_helper_dev_is_untrusted_pci(dev: *mut device) -> bool;
    pub(crate) fn rust_helper_dev_has_dma_ops(dev: *mut device) -> bool;
    pub(crate) fn rust_helper_dma_need_sync(dev: *mut device, addr: dma_addr_t) -> bool;
    pub(crate) fn rust_helper_dma_to_phys(dev: *mut device, addr: dma_addr_t) -> phys_addr_t;
    #[cfg(ion_rs_kunit)]
    pub(crate) fn rust_helper_is_swiotlb_force_bounce(dev: *mut device) -> bool;

    pub(crate) fn rust_helper_sg_set_page(
        sg: *mut scatterlist,
        page: *mut page,
        len: c_uint,
        off: c_uint,
    );

    pub(crate) fn rust_helper_page_to_pfn(page: *mut page) -> c_ulong;
    pub(crate) fn rust_helper_page_to_phys(page: *mut page) -> phys_addr_t;
    #[cfg(CONFIG_OF_RESERVED_MEM)]
    pub(crate) fn rust_helper_phys_to_page(addr: phys_addr_t) -> *mut page;
    pub(crate) fn rust_helper_nth_page(page: *mut page, n: c_ulong) -> *mut page;
    #[cfg(CONFIG_HIGHMEM)]
    pub(crate) fn rust_helper_clear_highpage(page: *mut page);
    pub(crate) fn rust_helper_clear_pages(addr: *mut c_void, npages: c_uint);
    pub(crate) fn rust_helper_page_address(page: *mut page) -> *mut c_void;
    pub(crate) fn rust_helper_cond_resched();
    pub(crate) fn rust_helper_alloc_pages_exact(size: usize, gfp: gfp_t) -> *mut page;
    pub(crate) fn rust_helper_totalram_pages() -> c_ulong;
    pub(crate) fn rust_helper_max_page_order() -> c_uint;

    pub(crate) static rust_helper_gfp_highuser: gfp_t;
    pub(crate) static rust_helper_gfp_comp: gfp_t;
    pub(crate) static rust_helper_gfp_noretry: gfp_t;
    pub(crate) static rust_helper_gfp_reclaim: gfp_t;
    pub(crate) static rust_helper_gfp_retry_mayfail: gfp_t;
    pub(crate) static rust_helper_vm_map: c_ulong;
    pub(crate) static rust_helper_shrinker_lru_aware: c_uint;
    pub(crate) static rust_helper_shrinker_memcg_aware: c_uint;

    pub(crate) fn rust_helper_nr_node_ids() -> c_uint;
    pub(crate) fn rust_helper_node_possible(nid: c_int) -> bool;
    pub(crate) fn rust_helper_get_mem_cgroup_charged() -> *mut kernel::bindings::mem_cgroup;
    pub(crate) fn rust_helper_mem_cgroup_get(memcg: *mut kernel::bindings::mem_cgroup);
    pub(crate) fn rust_helper_mem_cgroup_put(memcg: *mut kernel::bindings::mem_cgroup);
    #[cfg(ion_rs_kunit)]
    pub(crate) fn rust_helper_mem_cgroup_is_root(memcg: *mut kernel::bindings::mem_cgroup) -> bool;
    pub(crate) fn rust_helper_sysfs_attr_init(attr: *mut kernel::bindings::attribute);

    pub(crate) fn rust_helper_pgprot_writecombine(prot: pgprot_t) -> pgprot_t;
    pub(crate) fn rust_helper_page_kernel() -> pgprot_t;
    pub(crate) fn rust_helper_invalidate_kernel_vmap_range(vaddr: *mut c_void, size: c_int);
    pub(crate) fn rust_helper_flush_kernel_vmap_range(vaddr: *mut c_void, size: c_int);
    #[cfg(ion_rs_kunit)]
    pub(crate) fn rust_helper_phys_to_virt(addr: phys_addr_t) -> *mut c_void;

    pub(crate) fn rust_helper_gen_pool_alloc(pool: *mut GenPool, size: usize) -> c_ulong;
    pub(crate) fn rust_helper_dev_get_cma_area(dev: *mut device) -> *mut Cma;
    #[cfg(ion_rs_kunit)]
    pub(crate) fn rust_helper_kunit_mark_skipped(
        test: *mut kernel::bindings::kunit,
        why: *const c_char,
    );
}

/// `struct gen_pool`, used by pointer only.
#[repr(C)]
pub(crate) struct GenPool {
    _opaque: [u8; 0],
}

/// `struct cma`, used by pointer only.
#[repr(C)]
pub(crate) struct Cma {
    _opaque: [u8; 0],
}

/// `struct dma_heap`, used by pointer only.
#[cfg(CONFIG_DMABUF_HEAPS)]
#[repr(C)]
pub(crate) struct DmaHeap {
    _opaque: [u8; 0],
}

/// `struct dma_heap_ops` (`include/linux/dma-heap.h`);
/// `ion_helpers.c` checks its layout at build time.
#[cfg(CONFIG_DMABUF_HEAPS)]
#[repr(C)]
pub(crate) struct DmaHeapOps {
    pub(crate) allocate: Option<
        unsafe extern "C" fn(
            heap: *mut DmaHeap,
            len: c_ulong,
            fd_flags: u32,
            heap_flags: u64,
        ) -> *mut kernel::bindings::dma_buf,
    >,
}

/// `struct dma_heap_export_info` (`include/linux/dma-heap.h`);
/// `ion_helpers.c` checks its layout at build time.
#[cfg(CONFIG_DMABUF_HEAPS)]
#[repr(C)]
pub(crate) struct DmaHeapExportInfo {
    pub(crate) name: *const c_char,
    pub(crate) ops: *const DmaHeapOps,
    pub(crate) priv_: *mut c_void,
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
extern "C" {
    pub(crate) fn rust_helper_rmem_claim(rmem: *mut ReservedMem, owner: *mut c_void) -> bool;
    pub(crate) fn rust_helper_rmem_release(rmem: *mut ReservedMem, owner: *mut c_void);
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
/// `struct reserved_mem` (`include/linux/of_reserved_mem.h`), up to the
/// last field read here. `ion_helpers.c` checks the offsets at build time.
#[repr(C)]
pub(crate) struct ReservedMem {
    pub(crate) name: *const c_char,
    pub(crate) ops: *const c_void,
    pub(crate) base: phys_addr_t,
    pub(crate) size: phys_addr_t,
}

// Exported C functions outside 7.3's `bindings`.
extern "C" {
    pub(crate) fn vmap(
        pages: *mut *mut page,
        count: c_uint,
        flags: c_ulong,
        prot: pgprot_t,
    ) -> *mut c_void;
    pub(crate) fn vunmap(addr: *const c_void);

    pub(crate) fn gen_pool_create(min_alloc_order: c_int, nid: c_int) -> *mut GenPool;
    pub(crate) fn gen_pool_add_owner(
        pool: *mut GenPool,
        addr: c_ulong,
        phys: phys_addr_t,
        size: usize,
        nid: c_int,
        owner: *mut c_void,
    ) -> c_int;
    pub(crate) fn gen_pool_free_owner(
        pool: *mut GenPool,
        addr: c_ulong,
        size: usize,
        owner: *mut *mut c_void,
    );
    pub(crate) fn gen_pool_destroy(pool: *mut GenPool);
}

#[cfg(CONFIG_CMA)]
extern "C" {
    pub(crate) fn cma_alloc(
        cma: *mut Cma,
        count: c_ulong,
        align: c_uint,
        no_warn: bool,
    ) -> *mut page;
    pub(crate) fn cma_release(cma: *mut Cma, pages: *const page, count: c_ulong) -> bool;
    pub(crate) fn cma_get_name(cma: *const Cma) -> *const c_char;
}

#[cfg(all(CONFIG_DMA_CMA, any(CONFIG_OF, ion_rs_kunit)))]
extern "C" {
    pub(crate) fn dma_contiguous_get_area_by_idx(idx: c_uint) -> *mut Cma;
}

#[cfg(CONFIG_OF)]
extern "C" {
    pub(crate) fn rust_helper_of_node_get(
        node: *mut kernel::bindings::device_node,
    ) -> *mut kernel::bindings::device_node;
    pub(crate) fn rust_helper_of_node_put(node: *mut kernel::bindings::device_node);
}

#[cfg(CONFIG_OF_RESERVED_MEM)]
extern "C" {
    pub(crate) fn of_reserved_mem_lookup(
        np: *mut kernel::bindings::device_node,
    ) -> *mut ReservedMem;
}

#[cfg(CONFIG_DMABUF_HEAPS)]
extern "C" {
    pub(crate) fn kern_path(
        name: *const c_char,
        flags: c_uint,
        path: *mut kernel::bindings::path,
    ) -> c_int;
}

#[cfg(CONFIG_DMABUF_HEAPS)]
extern "C" {
    pub(crate) fn dma_heap_add(info: *const DmaHeapExportInfo) -> *mut DmaHeap;
    pub(crate) fn dma_heap_get_drvdata(heap: *mut DmaHeap) -> *mut c_void;
}

#[cfg(CONFIG_DMABUF_HEAPS)]
extern "C" {
    /// `dma_heap.mem_accounting`, a read-only module parameter.
    pub(crate) static mem_accounting: bool;
}

/// `struct dmem_cgroup_region`, used by pointer only.
#[cfg(CONFIG_CGROUP_DMEM)]
#[repr(C)]
pub(crate) struct DmemCgroupRegion {
    _opaque: [u8; 0],
}

/// `struct dmem_cgroup_pool_state`, used by pointer only.
#[cfg(CONFIG_CGROUP_DMEM)]
#[repr(C)]
pub(crate) struct DmemCgroupPoolState {
    _opaque: [u8; 0],
}

/// `struct dmem_cgroup_init` (`include/linux/cgroup_dmem.h`);
/// `ion_helpers.c` checks its layout at build time.
#[cfg(CONFIG_CGROUP_DMEM)]
#[repr(C)]
pub(crate) struct DmemCgroupInit {
    pub(crate) size: u64,
    pub(crate) ops: *const c_void,
    pub(crate) reclaim_priv: *mut c_void,
}

#[cfg(CONFIG_CGROUP_DMEM)]
extern "C" {
    pub(crate) fn dmem_cgroup_register_region(
        init: *const DmemCgroupInit,
        fmt: *const c_char,
        ...
    ) -> *mut DmemCgroupRegion;
    pub(crate) fn dmem_cgroup_unregister_region(region: *mut DmemCgroupRegion);
    pub(crate) fn dmem_cgroup_try_charge(
        region: *mut DmemCgroupRegion,
        size: u64,
        ret_pool: *mut *mut DmemCgroupPoolState,
        ret_limit_pool: *mut *mut DmemCgroupPoolState,
    ) -> c_int;
    pub(crate) fn dmem_cgroup_uncharge(pool: *mut DmemCgroupPoolState, size: u64);
}
