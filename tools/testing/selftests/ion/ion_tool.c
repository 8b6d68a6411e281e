// SPDX-License-Identifier: GPL-2.0
/*
 * ion_tool: a small client of /dev/ion.
 *   ion_tool heaps     list the heaps
 *   ion_tool demo      list the heaps, then allocate, map, write, sync,
 *                      read back through a second mapping and free a buffer
 */
#include <sys/mman.h>

#include "ion_util.h"

static const char *type_name(uint32_t t)
{
	static const char *const n[] = {
		"system", "system-contig", "carveout", "chunk", "dma (cma)", "custom",
	};

	return t < ARRAY_SIZE(n) ? n[t] : "custom";
}

static int heaps(int ion)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS);

	if (n < 0) {
		fprintf(stderr, "HEAP_QUERY: %s\n", strerror(-n));
		return 1;
	}
	printf("%-3s %-14s %-24s %12s %8s\n", "id", "type", "name", "bytes", "buffers");
	for (int i = 0; i < n; i++)
		printf("%-3u %-14s %-24s %12lld %8lld\n", h[i].heap_id, type_name(h[i].type),
		       h[i].name, ion_heap_stat(ion, h[i].heap_id, "bytes"),
		       ion_heap_stat(ion, h[i].heap_id, "buffers"));
	return 0;
}

static int demo(int ion)
{
	const size_t len = 1 << 20;
	int id = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM), fd;
	unsigned char *a, *b;

	if (heaps(ion) || id < 0)
		return 1;
	fd = ion_alloc(ion, len, 1U << id, ION_FLAG_CACHED);
	if (fd < 0) {
		fprintf(stderr, "ALLOC: %s\n", strerror(-fd));
		return 1;
	}
	printf("allocated %zu bytes, cached, from heap %d: dma-buf fd %d\n", len, id, fd);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE))
		return 1;
	for (size_t i = 0; i < len; i++)
		a[i] = (unsigned char)(i * 7);
	if (dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE))
		return 1;
	for (size_t i = 0; i < len; i++)
		if (b[i] != (unsigned char)(i * 7)) {
			fprintf(stderr, "mismatch at %zu\n", i);
			return 1;
		}
	printf("wrote 1 MiB through one mapping, synced, read it back through another: ok\n");
	heaps(ion);
	munmap(a, len);
	munmap(b, len);
	close(fd);
	printf("freed; heap usage now %lld bytes\n", ion_heap_stat(ion, id, "bytes"));
	return ion_heap_stat(ion, id, "bytes") != 0;
}

int main(int argc, char **argv)
{
	int ion = open("/dev/ion", O_RDWR | O_CLOEXEC);

	if (ion < 0) {
		perror("/dev/ion");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "heaps"))
		return heaps(ion);
	if (argc > 1 && !strcmp(argv[1], "demo"))
		return demo(ion);
	fprintf(stderr, "usage: ion_tool heaps|demo\n");
	return 2;
}
