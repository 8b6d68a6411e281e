// SPDX-License-Identifier: GPL-2.0
/*
 * The dma-heap face (module parameter dma_heaps=1): every rust-ion heap is
 * /dev/dma_heap/<name> and <name>-uncached beside the kernel's own heaps,
 * named after its memory (system, system-uncached, a region's node name),
 * a name that the kernel's own heap holds left out,
 * DMA_HEAP_IOCTL_ALLOC behaves as on the kernel's heaps, buffers from
 * either face share the heaps' accounting, and rmmod is refused while the
 * face is on (7.3 cannot remove a dma-heap). Runs last: the module stays.
 */
#include <dirent.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "ion_util.h"

#define SZ_1M 0x100000UL

static int open_node(const char *name)
{
	char path[96];

	snprintf(path, sizeof(path), "/dev/dma_heap/%s", name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

TEST(a_node_per_heap_and_cache_mode)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int ion = open("/dev/ion", O_RDWR), n, ours = 0, taken = 0;

	ASSERT_LE(0, ion);
	n = ion_query(ion, h, ION_NUM_HEAP_IDS);
	ASSERT_LE(1, n);
	for (int i = 0; i < n; i++)
		for (int cached = 0; cached < 2; cached++) {
			uint32_t flags = cached ? ION_FLAG_CACHED : 0;
			char path[96];

			/* Left out only where the kernel's heap has the name. */
			if (ion_dma_heap_name_taken(ion, h[i].heap_id, flags)) {
				taken++;
				continue;
			}
			ASSERT_EQ(0, ion_dma_heap_path(ion, h[i].heap_id, flags,
						       path, sizeof(path)))
				TH_LOG("heap %u has no node", h[i].heap_id);
			ASSERT_EQ(0, access(path, R_OK)) TH_LOG("%s", path);
			/* No implementation in the name. */
			ASSERT_NE(0, strncmp(path + 14, "ion_", 4));
			ASSERT_TRUE(!strstr(path + 14, "carveout"));
			ASSERT_TRUE(!strstr(path + 14, "chunk"));
			ours++;
		}
	ksft_print_msg("%d nodes of ours, %d names taken by the kernel's heaps\n",
		       ours, taken);
	ASSERT_EQ(2 * n, ours + taken);
	/* Every uncached face is ours: mainline has none. */
	ASSERT_GE(n, taken);
	ASSERT_EQ(0, access("/dev/dma_heap/system", R_OK));
	ASSERT_EQ(0, access("/dev/dma_heap/system-uncached", R_OK));
	close(ion);
}

TEST(alloc_semantics_are_the_kernel_heaps)
{
	int node = open_node("system-uncached"), fd;
	struct dma_heap_allocation_data d;
	void *p;

	ASSERT_LE(0, node);
	fd = dma_heap_alloc(node, SZ_1M, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	close(fd);
	/* A read-only buffer: no fd flag asked, no CLOEXEC, no writable map. */
	fd = dma_heap_alloc(node, SZ_1M, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(O_RDONLY, fcntl(fd, F_GETFL) & O_ACCMODE);
	p = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p == MAP_FAILED);
	ASSERT_EQ(EACCES, errno);
	close(fd);
	ASSERT_EQ(-EINVAL, dma_heap_alloc(node, 0, O_RDWR));
	ASSERT_EQ(-EINVAL, dma_heap_alloc(node, SZ_1M, O_RDWR | O_APPEND));
	d = (struct dma_heap_allocation_data){ .len = SZ_1M, .fd_flags = O_RDWR, .heap_flags = 1 };
	ASSERT_EQ(-1, ioctl(node, DMA_HEAP_IOCTL_ALLOC, &d));
	ASSERT_EQ(EINVAL, errno);
	d = (struct dma_heap_allocation_data){ .len = SZ_1M, .fd = 3, .fd_flags = O_RDWR };
	ASSERT_EQ(-1, ioctl(node, DMA_HEAP_IOCTL_ALLOC, &d));
	ASSERT_EQ(EINVAL, errno);
	/* More than the heap can ever give. */
	ASSERT_EQ(-ENOMEM, dma_heap_alloc(node, 1ULL << 40, O_RDWR));
	close(node);
}

/* One heap, two faces: the same accounting, zeroing and data. */
TEST(both_faces_share_the_heaps)
{
	int ion = open("/dev/ion", O_RDWR), sys, node, a, b;
	long long before, buffers;
	uint8_t *p, *q;

	ASSERT_LE(0, ion);
	sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	node = open_node("system-uncached");
	ASSERT_LE(0, node);
	before = ion_heap_stat(ion, sys, "bytes");
	buffers = ion_heap_stat(ion, sys, "buffers");
	a = dma_heap_alloc(node, SZ_1M, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, a);
	b = ion_alloc(ion, SZ_1M, 1U << sys, 0);
	ASSERT_LE(0, b);
	ASSERT_EQ(before + 2 * (long long)SZ_1M, ion_heap_stat(ion, sys, "bytes"));
	ASSERT_EQ(buffers + 2, ion_heap_stat(ion, sys, "buffers"));
	p = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	q = mmap(NULL, SZ_1M / 2, PROT_READ, MAP_SHARED, a, SZ_1M / 2);
	ASSERT_TRUE(p != MAP_FAILED && q != MAP_FAILED);
	for (size_t i = 0; i < SZ_1M; i++)
		ASSERT_EQ(0, p[i]);
	ASSERT_EQ(0, dmabuf_sync(a, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE));
	memset(p, 0x3c, SZ_1M);
	ASSERT_EQ(0, dmabuf_sync(a, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE));
	ASSERT_EQ(0x3c, q[0]);
	ASSERT_EQ(0x3c, q[SZ_1M / 2 - 1]);
	munmap(p, SZ_1M);
	munmap(q, SZ_1M / 2);
	close(a);
	close(b);
	ASSERT_EQ(before, ion_heap_stat(ion, sys, "bytes"));
	ASSERT_EQ(buffers, ion_heap_stat(ion, sys, "buffers"));
	close(node);
	close(ion);
}

TEST(rmmod_is_refused_while_the_face_is_on)
{
	ASSERT_EQ(-1, syscall(SYS_delete_module, "ion_rs", O_NONBLOCK));
	ASSERT_EQ(EWOULDBLOCK, errno);
	ASSERT_EQ(0, access("/dev/ion", F_OK));
	ASSERT_EQ(0, access("/dev/dma_heap/system-uncached", F_OK));
}

TEST_HARNESS_MAIN
