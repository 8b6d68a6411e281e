/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prototypes of ion_helpers.c, the C wrappers that abstractions/helpers.rs
 * declares for Rust.
 */
#ifndef _ION_HELPERS_H
#define _ION_HELPERS_H

#include <linux/dma-direction.h>
#include <linux/pgtable.h>
#include <linux/types.h>

struct cma;
struct device;
struct device_node;
struct dma_buf;
struct gen_pool;
struct kunit;
struct page;
struct scatterlist;
struct sg_table;

void rust_helper_dma_sync_sgtable_for_cpu(struct device *dev,
					  struct sg_table *sgt,
					  enum dma_data_direction dir);
void rust_helper_dma_sync_sgtable_for_device(struct device *dev,
					     struct sg_table *sgt,
					     enum dma_data_direction dir);
int rust_helper_dma_mapping_error(struct device *dev, dma_addr_t addr);
int rust_helper_dma_coerce_mask_and_coherent(struct device *dev, u64 mask);
void rust_helper_get_dma_buf(struct dma_buf *dmabuf);
bool rust_helper_use_dma_iommu(struct device *dev);
bool rust_helper_dev_is_untrusted_pci(struct device *dev);
bool rust_helper_dev_has_dma_ops(struct device *dev);
bool rust_helper_dma_need_sync(struct device *dev, dma_addr_t addr);
phys_addr_t rust_helper_dma_to_phys(struct device *dev, dma_addr_t addr);
bool rust_helper_is_swiotlb_force_bounce(struct device *dev);
void rust_helper_sg_set_page(struct scatterlist *sg, struct page *page,
			     unsigned int len, unsigned int offset);
unsigned long rust_helper_page_to_pfn(struct page *page);
phys_addr_t rust_helper_page_to_phys(struct page *page);
struct page *rust_helper_phys_to_page(phys_addr_t addr);
struct page *rust_helper_nth_page(struct page *page, unsigned long n);
void rust_helper_clear_highpage(struct page *page);
void rust_helper_clear_pages(void *addr, unsigned int npages);
void rust_helper_cond_resched(void);
void *rust_helper_page_address(struct page *page);
struct page *rust_helper_alloc_pages_exact(size_t size, gfp_t gfp);
unsigned long rust_helper_totalram_pages(void);
unsigned int rust_helper_max_page_order(void);
pgprot_t rust_helper_pgprot_writecombine(pgprot_t prot);
pgprot_t rust_helper_page_kernel(void);
void rust_helper_invalidate_kernel_vmap_range(void *vaddr, int size);
void rust_helper_flush_kernel_vmap_range(void *vaddr, int size);
void *rust_helper_phys_to_virt(phys_addr_t addr);
unsigned long rust_helper_gen_pool_alloc(struct gen_pool *pool, size_t size);
struct cma *rust_helper_dev_get_cma_area(struct device *dev);
struct device_node *rust_helper_of_node_get(struct device_node *node);
void rust_helper_of_node_put(struct device_node *node);
void rust_helper_kunit_mark_skipped(struct kunit *test, const char *why);
struct reserved_mem;
bool rust_helper_rmem_claim(struct reserved_mem *rmem, void *owner);
void rust_helper_rmem_release(struct reserved_mem *rmem, void *owner);

extern const gfp_t rust_helper_gfp_highuser;
extern const gfp_t rust_helper_gfp_comp;
extern const gfp_t rust_helper_gfp_noretry;
extern const gfp_t rust_helper_gfp_reclaim;
extern const unsigned long rust_helper_vm_map;
extern const unsigned int rust_helper_shrinker_lru_aware;
extern const unsigned int rust_helper_shrinker_memcg_aware;
struct mem_cgroup;
unsigned int rust_helper_nr_node_ids(void);
bool rust_helper_node_possible(int nid);
struct mem_cgroup *rust_helper_get_mem_cgroup_charged(void);
void rust_helper_mem_cgroup_get(struct mem_cgroup *memcg);
void rust_helper_mem_cgroup_put(struct mem_cgroup *memcg);
bool rust_helper_mem_cgroup_is_root(struct mem_cgroup *memcg);
struct attribute;
void rust_helper_sysfs_attr_init(struct attribute *attr);

#endif /* _ION_HELPERS_H */
