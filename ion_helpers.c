// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for rust-ion: the static inlines and macros that 7.3's Rust
 * bindings do not reach. Each is a thin wrapper with the same contract as
 * the function it wraps; the Rust callers document their side.
 */
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>

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
