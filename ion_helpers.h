/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of ion_helpers.c, the C side of rust-ion's FFI (see ffi.rs). */
#ifndef _ION_HELPERS_H
#define _ION_HELPERS_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct cma;
struct device;
struct dma_buf;
struct gen_pool;
struct kunit;
struct page;
struct scatterlist;
struct sg_table;
struct vm_area_struct;

void rust_ion_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
				   enum dma_data_direction dir);
void rust_ion_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
				      enum dma_data_direction dir);
void rust_ion_sg_set_page(struct scatterlist *sg, struct page *page,
			  unsigned int len, unsigned int offset);
struct page *rust_ion_sg_page(struct scatterlist *sg);
unsigned int rust_ion_sg_length(struct scatterlist *sg);
unsigned int rust_ion_sg_offset(struct scatterlist *sg);
unsigned long rust_ion_page_to_pfn(struct page *page);
struct page *rust_ion_nth_page(struct page *page, unsigned long n);
int rust_ion_dma_coerce_mask(struct device *dev);
bool rust_ion_vma_shared(struct vm_area_struct *vma);
void rust_ion_vma_writecombine(struct vm_area_struct *vma);
unsigned long rust_ion_vma_pgoff(struct vm_area_struct *vma);
unsigned long rust_ion_vma_start(struct vm_area_struct *vma);
unsigned long rust_ion_vma_end(struct vm_area_struct *vma);
int rust_ion_remap_pfn_range(struct vm_area_struct *vma, unsigned long addr,
			     unsigned long pfn, unsigned long size);
void *rust_ion_vmap(struct page **pages, unsigned int count, bool writecombine);
void rust_ion_vunmap(const void *addr);
void rust_ion_invalidate_vmap(void *vaddr, int size);
void rust_ion_flush_vmap(void *vaddr, int size);
void *rust_ion_dma_to_virt(struct device *dev, dma_addr_t addr);
phys_addr_t rust_ion_dma_to_phys(struct device *dev, dma_addr_t addr);
bool rust_ion_swiotlb_forced(struct device *dev);
void rust_ion_kunit_skip(struct kunit *test, const char *why);
bool rust_ion_sgtable_bounces(struct device *dev, struct sg_table *sgt);
void rust_ion_test_dev_direct(struct device *dev);
unsigned long rust_ion_totalram_pages(void);
int rust_ion_dma_mapping_error(struct device *dev, dma_addr_t addr);
/* A heap's device-tree node, as rust_ion_dt_heap() reads it (ffi.rs). */
struct rust_ion_dt_heap {
	char name[32];
	char node[64];
	const char *why;
	phys_addr_t base;
	phys_addr_t size;
	struct cma *cma;
	s32 id;
	u32 chunk_size;
	bool named;
};

int rust_ion_dt_heap(const char *compatible, unsigned int index,
		     struct rust_ion_dt_heap *out);
struct gen_pool *rust_ion_pool_create(phys_addr_t base, size_t size,
				      unsigned int order);
phys_addr_t rust_ion_pool_alloc(struct gen_pool *pool, size_t size);
void rust_ion_pool_free(struct gen_pool *pool, phys_addr_t addr, size_t size);
void rust_ion_pool_destroy(struct gen_pool *pool);
struct page *rust_ion_phys_to_page(phys_addr_t addr);
phys_addr_t rust_ion_page_to_phys(struct page *page);
void rust_ion_zero_pages(struct page *page, unsigned long npages);
struct page *rust_ion_alloc_exact(size_t size);
void rust_ion_free_exact(struct page *page, size_t size);
unsigned long rust_ion_max_order(void);
struct cma *rust_ion_default_cma_area(void);
struct page *rust_ion_cma_alloc(struct cma *cma, unsigned long count,
				unsigned int align);
bool rust_ion_cma_release(struct cma *cma, struct page *page,
			  unsigned long count);

int rust_ion_dma_heap_add(const char *name, void *priv);
/* In Rust (dma_heap.rs): allocates for the node @priv. */
struct dma_buf *rust_ion_dma_heap_allocate(void *priv, unsigned long len,
					   u32 fd_flags, u64 heap_flags);

extern const gfp_t rust_ion_gfp_highuser;
extern const gfp_t rust_ion_gfp_comp;
extern const gfp_t rust_ion_gfp_noretry;
extern const gfp_t rust_ion_gfp_reclaim;

#endif /* _ION_HELPERS_H */
