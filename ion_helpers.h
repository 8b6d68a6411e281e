/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of ion_helpers.c, the C side of rust-ion's FFI (see ffi.rs). */
#ifndef _ION_HELPERS_H
#define _ION_HELPERS_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;
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
bool rust_ion_swiotlb_forced(struct device *dev);
unsigned long rust_ion_totalram_pages(void);
int rust_ion_dma_mapping_error(struct device *dev, dma_addr_t addr);

extern const gfp_t rust_ion_gfp_highuser;
extern const gfp_t rust_ion_gfp_comp;
extern const gfp_t rust_ion_gfp_noretry;
extern const gfp_t rust_ion_gfp_reclaim;

#endif /* _ION_HELPERS_H */
