/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Ion userspace ABI: binary-compatible with staging Ion as it was from 4.12
 * to 5.10. Every field is fixed-width, so 32-bit (compat) userspace shares
 * the 64-bit layout.
 */
#ifndef _UAPI_LINUX_ION_H
#define _UAPI_LINUX_ION_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * enum ion_heap_type - list of all possible types of heaps
 * @ION_HEAP_TYPE_SYSTEM:	memory allocated via vmalloc
 * @ION_HEAP_TYPE_SYSTEM_CONTIG: memory allocated via kmalloc
 * @ION_HEAP_TYPE_CARVEOUT:	memory allocated from a prereserved
 *				carveout heap, allocations are physically
 *				contiguous
 * @ION_HEAP_TYPE_CHUNK:	memory allocated in fixed-size chunks
 * @ION_HEAP_TYPE_DMA:		memory allocated via DMA API (CMA)
 * @ION_HEAP_TYPE_CUSTOM:	must be last so device specific heaps always
 *				are at the end of this enum
 */
enum ion_heap_type {
	ION_HEAP_TYPE_SYSTEM,
	ION_HEAP_TYPE_SYSTEM_CONTIG,
	ION_HEAP_TYPE_CARVEOUT,
	ION_HEAP_TYPE_CHUNK,
	ION_HEAP_TYPE_DMA,
	ION_HEAP_TYPE_CUSTOM,
};

#define ION_NUM_HEAP_IDS		(sizeof(unsigned int) * 8)

/*
 * Allocation flags: the lower 16 bits belong to the core, the upper 16 to
 * the heaps.
 */

/*
 * Mappings of this buffer should be cached; ion does cache maintenance
 * through the dma-buf begin/end_cpu_access operations.
 */
#define ION_FLAG_CACHED 1

/**
 * struct ion_allocation_data - metadata passed from userspace for allocations
 * @len:		size of the allocation
 * @heap_id_mask:	mask of heap ids to allocate from
 * @flags:		flags passed to heap
 * @fd:			a dma-buf file descriptor for the buffer (out)
 * @unused:		ignored, as staging Ion ignored it; set it to zero
 *
 * Provided by userspace as an argument to the ioctl
 */
struct ion_allocation_data {
	__u64 len;
	__u32 heap_id_mask;
	__u32 flags;
	__u32 fd;
	__u32 unused;
};

#define MAX_HEAP_NAME			32

/**
 * struct ion_heap_data - data about a heap
 * @name:	first 32 characters of the heap name
 * @type:	heap type
 * @heap_id:	heap id for the heap
 * @reserved0:	reserved, zero
 * @reserved1:	reserved, zero
 * @reserved2:	reserved, zero
 */
struct ion_heap_data {
	char name[MAX_HEAP_NAME];
	__u32 type;
	__u32 heap_id;
	__u32 reserved0;
	__u32 reserved1;
	__u32 reserved2;
};

/**
 * struct ion_heap_query - collection of data about all heaps
 * @cnt:	total number of heaps to be copied (in), copied (out)
 * @reserved0:	must be zero
 * @heaps:	user pointer to an array of struct ion_heap_data
 * @reserved1:	must be zero
 * @reserved2:	must be zero
 */
struct ion_heap_query {
	__u32 cnt;
	__u32 reserved0;
	__u64 heaps;
	__u32 reserved1;
	__u32 reserved2;
};

#define ION_IOC_MAGIC		'I'

/**
 * DOC: ION_IOC_ALLOC - allocate memory
 *
 * Takes an ion_allocation_data struct and returns it with the fd field
 * set to a dma-buf file descriptor for the new buffer.
 */
#define ION_IOC_ALLOC		_IOWR(ION_IOC_MAGIC, 0, \
				      struct ion_allocation_data)

/**
 * DOC: ION_IOC_HEAP_QUERY - information about available heaps
 *
 * Takes an ion_heap_query structure and populates information about
 * available Ion heaps.
 */
#define ION_IOC_HEAP_QUERY     _IOWR(ION_IOC_MAGIC, 8, \
					struct ion_heap_query)

#endif /* _UAPI_LINUX_ION_H */
