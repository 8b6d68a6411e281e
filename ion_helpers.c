// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for rust-ion: the static inlines and macros that 7.3's Rust
 * bindings do not reach. Each is a thin wrapper with the same contract as
 * the function it wraps; the Rust callers document their side.
 */
#include <linux/cma.h>
#include <linux/dma-heap.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/genalloc.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/iommu-dma.h>
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>
#include <kunit/test.h>

#include "ion_helpers.h"

void rust_ion_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
				   enum dma_data_direction dir)
{
	dma_sync_sgtable_for_cpu(dev, sgt, dir);
}

void rust_ion_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
				      enum dma_data_direction dir)
{
	dma_sync_sgtable_for_device(dev, sgt, dir);
}

void rust_ion_sg_set_page(struct scatterlist *sg, struct page *page,
			  unsigned int len, unsigned int offset)
{
	sg_set_page(sg, page, len, offset);
}

struct page *rust_ion_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

unsigned int rust_ion_sg_length(struct scatterlist *sg)
{
	return sg->length;
}

unsigned int rust_ion_sg_offset(struct scatterlist *sg)
{
	return sg->offset;
}

unsigned long rust_ion_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

struct page *rust_ion_nth_page(struct page *page, unsigned long n)
{
	/* The pages of one buddy allocation are contiguous in the memmap. */
	return page + n;
}

int rust_ion_dma_coerce_mask(struct device *dev)
{
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64));
}

bool rust_ion_vma_shared(struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_SHARED;
}

void rust_ion_vma_writecombine(struct vm_area_struct *vma)
{
	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
}

unsigned long rust_ion_vma_pgoff(struct vm_area_struct *vma)
{
	return vma->vm_pgoff;
}

unsigned long rust_ion_vma_start(struct vm_area_struct *vma)
{
	return vma->vm_start;
}

unsigned long rust_ion_vma_end(struct vm_area_struct *vma)
{
	return vma->vm_end;
}

int rust_ion_remap_pfn_range(struct vm_area_struct *vma, unsigned long addr,
			     unsigned long pfn, unsigned long size)
{
	return remap_pfn_range(vma, addr, pfn, size, vma->vm_page_prot);
}

void *rust_ion_vmap(struct page **pages, unsigned int count, bool writecombine)
{
	return vmap(pages, count, VM_MAP,
		    writecombine ? pgprot_writecombine(PAGE_KERNEL) : PAGE_KERNEL);
}

void rust_ion_vunmap(const void *addr)
{
	vunmap(addr);
}

void rust_ion_invalidate_vmap(void *vaddr, int size)
{
	invalidate_kernel_vmap_range(vaddr, size);
}

void rust_ion_flush_vmap(void *vaddr, int size)
{
	flush_kernel_vmap_range(vaddr, size);
}

/* For the self-test: the kernel address behind a device (bus) address. */
void *rust_ion_dma_to_virt(struct device *dev, dma_addr_t addr)
{
	return phys_to_virt(dma_to_phys(dev, addr));
}

/* For the self-test: the physical address behind a device (bus) address. */
phys_addr_t rust_ion_dma_to_phys(struct device *dev, dma_addr_t addr)
{
	return dma_to_phys(dev, addr);
}

/*
 * Whether the mapping of @sgt for @dev goes through bounce buffers, so that
 * the device sees copies that only the DMA API's syncs keep current, even
 * for memory that the CPU never caches.
 *
 * dma-direct maps each entry on its own: a device address that is not the
 * entry's own page is a swiotlb slot. dma-iommu bounces only for untrusted
 * (external PCI) devices. Other dma_map_ops are asked, which is
 * conservative: they say yes whenever any sync would do work.
 */
bool rust_ion_sgtable_bounces(struct device *dev, struct sg_table *sgt)
{
	struct scatterlist *sg;
	int i;

	if (use_dma_iommu(dev))
		return dev_is_pci(dev) && to_pci_dev(dev)->untrusted;
	for_each_sgtable_dma_sg(sgt, sg, i) {
		dma_addr_t addr = sg_dma_address(sg);

		if (get_dma_ops(dev) ? dma_need_sync(dev, addr) :
		    dma_to_phys(dev, addr) != sg_phys(sg))
			return true;
	}
	return false;
}

/*
 * For the self-test: make @dev reach memory directly even under
 * swiotlb=force, as a device does on a machine without swiotlb. Only for a
 * device that has mapped nothing yet.
 */
void rust_ion_test_dev_direct(struct device *dev)
{
#ifdef CONFIG_SWIOTLB
	dev->dma_io_tlb_mem = NULL;
#endif
}

/*
 * For the self-test: kunit_mark_skipped() (a macro) on @test. The caller
 * finds @test with the kernel's own kunit_get_current_test() helper, so
 * that this module holds no reference to the kunit_running static key: a
 * module that does gets a jump-label entry at load, whose allocation
 * failure the kernel reports with a WARN (seen in the insmod walk).
 */
void rust_ion_kunit_skip(struct kunit *test, const char *why)
{
	kunit_mark_skipped(test, "%s", why);
}

bool rust_ion_swiotlb_forced(struct device *dev)
{
	return is_swiotlb_force_bounce(dev);
}

unsigned long rust_ion_totalram_pages(void)
{
	return totalram_pages();
}

/* GFP composites that bindgen does not turn into constants. */
const gfp_t rust_ion_gfp_highuser = GFP_HIGHUSER;
const gfp_t rust_ion_gfp_comp = __GFP_COMP;
const gfp_t rust_ion_gfp_noretry = __GFP_NORETRY;
const gfp_t rust_ion_gfp_reclaim = __GFP_RECLAIM;

int rust_ion_dma_mapping_error(struct device *dev, dma_addr_t addr)
{
	return dma_mapping_error(dev, addr);
}

/*
 * Heaps over reserved memory. A region is a device-tree reserved-memory
 * node (not no-map, so that its pages are in the linear map) with a
 * rust-ion compatible.
 */
/*
 * The @index-th available node compatible with @compatible ("rust-ion,
 * carveout", "rust-ion,chunk" or "rust-ion,cma"), described in @out.
 * Returns 0, -ENOENT past the last node, or -EINVAL for a node that cannot
 * back a heap, with @out->why saying why (the caller logs it and goes on).
 */
int rust_ion_dt_heap(const char *compatible, unsigned int index,
		     struct rust_ion_dt_heap *out)
{
	struct device_node *np = NULL, *mem;
	struct reserved_mem *rmem;
	const char *name;
	bool cma = !strcmp(compatible, "rust-ion,cma"), no_map, reusable;
	unsigned int i = 0;
	struct cma *area;
	u32 id;

	memset(out, 0, sizeof(*out));
	for_each_compatible_node(np, NULL, compatible) {
		if (!of_device_is_available(np))
			continue;
		if (i++ == index)
			break;
	}
	if (!np)
		return -ENOENT;
	snprintf(out->node, sizeof(out->node), "%pOFn", np);
	if (!of_property_read_string(np, "rust-ion,name", &name)) {
		strscpy(out->name, name, sizeof(out->name));
		out->named = true;
	}
	out->id = of_property_read_u32(np, "rust-ion,heap-id", &id) ? -1 : (s32)id;
	of_property_read_u32(np, "rust-ion,chunk-size", &out->chunk_size);
	if (cma) {
		mem = of_parse_phandle(np, "memory-region", 0);
		of_node_put(np);
		if (!mem) {
			out->why = "no memory-region";
			return -EINVAL;
		}
		rmem = of_reserved_mem_lookup(mem);
		of_node_put(mem);
		out->why = "memory-region is not a CMA area";
		if (!rmem)
			return -EINVAL;
		for (i = 0; (area = dma_contiguous_get_area_by_idx(i)); i++)
			if (!strcmp(cma_get_name(area), rmem->name)) {
				out->cma = area;
				out->why = NULL;
				return 0;
			}
		return -EINVAL;
	}
	no_map = of_property_read_bool(np, "no-map");
	reusable = of_property_read_bool(np, "reusable");
	rmem = of_reserved_mem_lookup(np);
	of_node_put(np);
	if (!rmem) {
		out->why = "not a reserved-memory region";
		return -EINVAL;
	}
	if (no_map) {
		out->why = "no-map: its pages are not in the linear map";
		return -EINVAL;
	}
	if (reusable) {
		out->why = "reusable: the region belongs to CMA, not to the heap";
		return -EINVAL;
	}
	out->base = rmem->base;
	out->size = rmem->size;
	return 0;
}

struct gen_pool *rust_ion_pool_create(phys_addr_t base, size_t size,
				      unsigned int order)
{
	struct gen_pool *pool = gen_pool_create(order, -1);

	if (!pool)
		return NULL;
	if (gen_pool_add(pool, base, size, -1)) {
		gen_pool_destroy(pool);
		return NULL;
	}
	return pool;
}

phys_addr_t rust_ion_pool_alloc(struct gen_pool *pool, size_t size)
{
	return gen_pool_alloc(pool, size);
}

void rust_ion_pool_free(struct gen_pool *pool, phys_addr_t addr, size_t size)
{
	gen_pool_free(pool, addr, size);
}

void rust_ion_pool_destroy(struct gen_pool *pool)
{
	gen_pool_destroy(pool);
}

struct page *rust_ion_phys_to_page(phys_addr_t addr)
{
	return pfn_to_page(PHYS_PFN(addr));
}

phys_addr_t rust_ion_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

void rust_ion_zero_pages(struct page *page, unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		clear_highpage(page + i);
		/* Every 128 KiB: a chance to reschedule, not a call per page. */
		if (i % 32 == 31)
			cond_resched();
	}
}

/* Exact-size, physically contiguous, zeroed pages from the page allocator. */
struct page *rust_ion_alloc_exact(size_t size)
{
	void *va = alloc_pages_exact(size, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);

	return va ? virt_to_page(va) : NULL;
}

/*
 * Gives an alloc_pages_exact() run back in the largest aligned blocks it
 * holds (free_contig_range), not page by page: order-0 frees go through the
 * per-cpu lists, where other allocations take them before they can merge,
 * and without compaction the large blocks were lost for good.
 */
void rust_ion_free_exact(struct page *page, size_t size)
{
#ifdef CONFIG_CONTIG_ALLOC
	free_contig_range(page_to_pfn(page), PAGE_ALIGN(size) >> PAGE_SHIFT);
#else
	free_pages_exact(page_address(page), size);
#endif
}

unsigned long rust_ion_max_order(void)
{
	return MAX_PAGE_ORDER;
}

/*
 * The default CMA area (cma= or the "shared-dma-pool" node with
 * linux,cma-default), which carveout_cma_mb carves from: never the CMA
 * heap's own area.
 */
struct cma *rust_ion_default_cma_area(void)
{
	return dev_get_cma_area(NULL);
}

/* <linux/cma.h> has no stubs: without CONFIG_CMA there is no area to use. */
struct page *rust_ion_cma_alloc(struct cma *cma, unsigned long count,
				unsigned int align)
{
#ifdef CONFIG_CMA
	return cma_alloc(cma, count, align, true);
#else
	return NULL;
#endif
}

bool rust_ion_cma_release(struct cma *cma, struct page *page,
			  unsigned long count)
{
#ifdef CONFIG_CMA
	return cma_release(cma, page, count);
#else
	return false;
#endif
}

#ifdef CONFIG_DMABUF_HEAPS
static struct dma_buf *rust_ion_dma_heap_allocate_c(struct dma_heap *heap,
						    unsigned long len,
						    u32 fd_flags, u64 heap_flags)
{
	return rust_ion_dma_heap_allocate(dma_heap_get_drvdata(heap), len,
					  fd_flags, heap_flags);
}

static const struct dma_heap_ops rust_ion_dma_heap_ops = {
	.allocate = rust_ion_dma_heap_allocate_c,
};

/*
 * Adds /dev/dma_heap/@name, which allocates through @priv. 7.3 cannot remove
 * a dma-heap, and the core keeps @name, @priv and the ops for good: each
 * heap added takes a reference on this module that is never put, so that
 * rmmod is refused rather than leaving a heap whose code is gone.
 */
int rust_ion_dma_heap_add(const char *name, void *priv)
{
	struct dma_heap_export_info info = {
		.name = name,
		.ops = &rust_ion_dma_heap_ops,
		.priv = priv,
	};
	struct dma_heap *heap;

	__module_get(THIS_MODULE);
	heap = dma_heap_add(&info);
	if (IS_ERR(heap)) {
		module_put(THIS_MODULE);
		return PTR_ERR(heap);
	}
	return 0;
}
#endif
