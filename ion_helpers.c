// SPDX-License-Identifier: GPL-2.0
/*
 * The static inlines and macros that 7.3's Rust bindings do not reach, one
 * wrapper each, with the contract of what it wraps. Named like the kernel's
 * own rust/helpers/; declared in abstractions/helpers.rs. No policy here:
 * every decision is made in Rust.
 */
#include <linux/cma.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/genalloc.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/iommu-dma.h>
#include <linux/memcontrol.h>
#include <linux/nodemask.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/swiotlb.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>
#include <kunit/test.h>

#include "ion_helpers.h"

void rust_helper_dma_sync_sgtable_for_cpu(struct device *dev,
					  struct sg_table *sgt,
					  enum dma_data_direction dir)
{
	dma_sync_sgtable_for_cpu(dev, sgt, dir);
}

void rust_helper_dma_sync_sgtable_for_device(struct device *dev,
					     struct sg_table *sgt,
					     enum dma_data_direction dir)
{
	dma_sync_sgtable_for_device(dev, sgt, dir);
}

int rust_helper_dma_mapping_error(struct device *dev, dma_addr_t addr)
{
	return dma_mapping_error(dev, addr);
}

int rust_helper_dma_coerce_mask_and_coherent(struct device *dev, u64 mask)
{
	return dma_coerce_mask_and_coherent(dev, mask);
}

void rust_helper_get_dma_buf(struct dma_buf *dmabuf)
{
	get_dma_buf(dmabuf);
}

bool rust_helper_use_dma_iommu(struct device *dev)
{
	return use_dma_iommu(dev);
}

bool rust_helper_dev_is_untrusted_pci(struct device *dev)
{
	return dev_is_pci(dev) && to_pci_dev(dev)->untrusted;
}

bool rust_helper_dev_has_dma_ops(struct device *dev)
{
	return get_dma_ops(dev);
}

bool rust_helper_dma_need_sync(struct device *dev, dma_addr_t addr)
{
	return dma_need_sync(dev, addr);
}

phys_addr_t rust_helper_dma_to_phys(struct device *dev, dma_addr_t addr)
{
	return dma_to_phys(dev, addr);
}

bool rust_helper_is_swiotlb_force_bounce(struct device *dev)
{
	return is_swiotlb_force_bounce(dev);
}

void rust_helper_sg_set_page(struct scatterlist *sg, struct page *page,
			     unsigned int len, unsigned int offset)
{
	sg_set_page(sg, page, len, offset);
}

unsigned long rust_helper_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

phys_addr_t rust_helper_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

struct page *rust_helper_phys_to_page(phys_addr_t addr)
{
	return pfn_to_page(PHYS_PFN(addr));
}

struct page *rust_helper_nth_page(struct page *page, unsigned long n)
{
	return page + n;
}

void rust_helper_clear_highpage(struct page *page)
{
	clear_highpage(page);
}

void rust_helper_clear_pages(void *addr, unsigned int npages)
{
	clear_pages(addr, npages);
}

void rust_helper_cond_resched(void)
{
	cond_resched();
}

void *rust_helper_page_address(struct page *page)
{
	return page_address(page);
}

struct page *rust_helper_alloc_pages_exact(size_t size, gfp_t gfp)
{
	void *va = alloc_pages_exact(size, gfp);

	return va ? virt_to_page(va) : NULL;
}

unsigned long rust_helper_totalram_pages(void)
{
	return totalram_pages();
}

unsigned int rust_helper_max_page_order(void)
{
	return MAX_PAGE_ORDER;
}

/* GFP composites that bindgen does not turn into constants. */
const gfp_t rust_helper_gfp_highuser = GFP_HIGHUSER;
const gfp_t rust_helper_gfp_comp = __GFP_COMP;
const gfp_t rust_helper_gfp_noretry = __GFP_NORETRY;
const gfp_t rust_helper_gfp_reclaim = __GFP_RECLAIM;
const gfp_t rust_helper_gfp_retry_mayfail = __GFP_RETRY_MAYFAIL;

/* shrinker_alloc()'s flags for a shrinker that walks list_lrus. */
const unsigned int rust_helper_shrinker_lru_aware = SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE;
const unsigned int rust_helper_shrinker_memcg_aware = SHRINKER_MEMCG_AWARE;

unsigned int rust_helper_nr_node_ids(void)
{
	return nr_node_ids;
}

bool rust_helper_node_possible(int nid)
{
	return node_possible(nid);
}

/*
 * The memory cgroup that a __GFP_ACCOUNT allocation of the current task is
 * charged to (current_obj_cgroup()'s choice), with a reference; NULL when
 * memory cgroups are off. get_mem_cgroup_from_current() is not exported.
 */
struct mem_cgroup *rust_helper_get_mem_cgroup_charged(void)
{
#ifdef CONFIG_MEMCG
	struct mem_cgroup *memcg;

	if (mem_cgroup_disabled())
		return NULL;
	/* The active memcg first, as the charge does. */
	if (!in_task() || current->active_memcg)
		return get_mem_cgroup_from_mm(NULL);
	rcu_read_lock();
	do {
		memcg = mem_cgroup_from_task(current);
	} while (!css_tryget(&memcg->css));
	rcu_read_unlock();
	return memcg;
#else
	return NULL;
#endif
}

void rust_helper_mem_cgroup_get(struct mem_cgroup *memcg)
{
#ifdef CONFIG_MEMCG
	css_get(&memcg->css);
#endif
}

void rust_helper_mem_cgroup_put(struct mem_cgroup *memcg)
{
	mem_cgroup_put(memcg);
}

bool rust_helper_mem_cgroup_is_root(struct mem_cgroup *memcg)
{
	return mem_cgroup_is_root(memcg);
}

/*
 * A sysfs attribute outside static storage needs a static lockdep key
 * (sysfs_attr_init); one key serves every attribute set up here.
 */
void rust_helper_sysfs_attr_init(struct attribute *attr)
{
	sysfs_attr_init(attr);
}

/* vmap()'s flag for a mapping of pages that the caller owns. */
const unsigned long rust_helper_vm_map = VM_MAP;

pgprot_t rust_helper_pgprot_writecombine(pgprot_t prot)
{
	return pgprot_writecombine(prot);
}

pgprot_t rust_helper_page_kernel(void)
{
	return PAGE_KERNEL;
}

void rust_helper_invalidate_kernel_vmap_range(void *vaddr, int size)
{
	invalidate_kernel_vmap_range(vaddr, size);
}

void rust_helper_flush_kernel_vmap_range(void *vaddr, int size)
{
	flush_kernel_vmap_range(vaddr, size);
}

void *rust_helper_phys_to_virt(phys_addr_t addr)
{
	return phys_to_virt(addr);
}

unsigned long rust_helper_gen_pool_alloc(struct gen_pool *pool, size_t size)
{
	return gen_pool_alloc(pool, size);
}

struct cma *rust_helper_dev_get_cma_area(struct device *dev)
{
	return dev_get_cma_area(dev);
}

struct device_node *rust_helper_of_node_get(struct device_node *node)
{
	return of_node_get(node);
}

void rust_helper_of_node_put(struct device_node *node)
{
	of_node_put(node);
}

void rust_helper_kunit_mark_skipped(struct kunit *test, const char *why)
{
	kunit_mark_skipped(test, "%s", why);
}

/*
 * abstractions/helpers.rs declares these structs, which 7.3's bindings
 * leave out; a change of their layout must fail the build, not the kernel.
 */
#include <linux/cgroup_dmem.h>
#include <linux/dma-heap.h>
#include <linux/of_reserved_mem.h>

static_assert(offsetof(struct reserved_mem, name) == 0);
static_assert(offsetof(struct reserved_mem, base) == 2 * sizeof(void *));
static_assert(offsetof(struct reserved_mem, size) ==
	      2 * sizeof(void *) + sizeof(phys_addr_t));

#ifdef CONFIG_OF_RESERVED_MEM
/*
 * A region that no reserved-memory driver manages (ops is NULL) leaves its
 * priv unused: a claim is an atomic owner there, so that one user at a time
 * has the region. True if @owner now holds it.
 */
bool rust_helper_rmem_claim(struct reserved_mem *rmem, void *owner)
{
	return !cmpxchg(&rmem->priv, NULL, owner);
}

void rust_helper_rmem_release(struct reserved_mem *rmem, void *owner)
{
	cmpxchg(&rmem->priv, owner, NULL);
}
#endif

static_assert(offsetof(struct dma_heap_export_info, name) == 0);
static_assert(offsetof(struct dma_heap_export_info, ops) == sizeof(void *));
static_assert(offsetof(struct dma_heap_export_info, priv) == 2 * sizeof(void *));
static_assert(sizeof(struct dma_heap_export_info) == 3 * sizeof(void *));
static_assert(sizeof(struct dma_heap_ops) == sizeof(void *));
static_assert(offsetof(struct dmem_cgroup_init, size) == 0);
static_assert(offsetof(struct dmem_cgroup_init, ops) == sizeof(u64));
static_assert(offsetof(struct dmem_cgroup_init, reclaim_priv) ==
	      sizeof(u64) + sizeof(void *));
static_assert(sizeof(struct dmem_cgroup_init) == sizeof(u64) + 2 * sizeof(void *));
