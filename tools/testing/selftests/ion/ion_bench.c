// SPDX-License-Identifier: GPL-2.0
/*
 * ion_bench: rust-ion's /dev/ion against the kernel's dma-buf system heap
 * (/dev/dma_heap/system), interleaved in the same boot.
 *
 *   ion_bench [-o out.json] [-r rounds]
 *
 * For each size: allocate + close latency (median, p99), warm (pools as
 * they are) and cold (rust-ion's pools drained first); first touch of every
 * page through mmap; a DMA_BUF_IOCTL_SYNC start/end cycle with 0 and 1 vgem
 * attachments; and the guest's memset bandwidth, the floor for handing out
 * zeroed memory.
 */
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>
#include <drm/drm.h>
#include <linux/dma-heap.h>

#include "ion_util.h"

#define DRAIN "/sys/kernel/debug/ion/drain_pools"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[(int)((n - 1) * p + 0.5)];
}

static int heap_alloc(int heap, size_t len)
{
	struct dma_heap_allocation_data d = {
		.len = len, .fd_flags = O_RDWR | O_CLOEXEC,
	};

	return ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &d) < 0 ? -errno : (int)d.fd;
}

struct alloc_ctx {
	int ion, heap, id;
};

/* -1 on failure; else the fd. */
static int alloc_one(struct alloc_ctx *c, bool ion, size_t len)
{
	if (ion)
		return ion_alloc(c->ion, len, 1U << c->id, ION_FLAG_CACHED);
	return heap_alloc(c->heap, len);
}

static void drain(void)
{
	int fd = open(DRAIN, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror(DRAIN);
		close(fd);
	}
}

static FILE *json;
static bool first_json = true;

static void record(const char *what, size_t size, const char *alloc, double med, double p99)
{
	printf("%-14s %9zu %-10s %12.1f %12.1f\n", what, size, alloc, med, p99);
	fprintf(json, "%s\n  {\"test\": \"%s\", \"size\": %zu, \"allocator\": \"%s\", ",
		first_json ? "" : ",", what, size, alloc);
	fprintf(json, "\"median_us\": %.2f, \"p99_us\": %.2f}", med, p99);
	first_json = false;
}

/* Allocate + close, ion and dma-heap interleaved; @cold drains first. */
static void bench_alloc(struct alloc_ctx *c, size_t len, int n, bool cold)
{
	double *t[2] = { calloc(n, sizeof(double)), calloc(n, sizeof(double)) };

	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			double t0;
			int fd;

			if (cold)
				drain();
			t0 = now_us();
			fd = alloc_one(c, k == 0, len);
			if (fd < 0) {
				fprintf(stderr, "alloc %zu: %s\n", len, strerror(-fd));
				exit(1);
			}
			close(fd);
			t[k][i] = now_us() - t0;
		}
	}
	for (int k = 0; k < 2; k++) {
		double med = pct(t[k], n, 0.5), p99 = pct(t[k], n, 0.99);

		record(cold ? "alloc_cold" : "alloc_warm", len, k ? "dma-heap" : "ion", med, p99);
	}
	free(t[0]);
	free(t[1]);
}

static void bench_touch(struct alloc_ctx *c, size_t len, int n)
{
	double *t[2] = { calloc(n, sizeof(double)), calloc(n, sizeof(double)) };

	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			int fd = alloc_one(c, k == 0, len);
			unsigned char *p;
			double t0;

			if (fd < 0)
				exit(1);
			t0 = now_us();
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				exit(1);
			for (size_t o = 0; o < len; o += 4096)
				p[o] = 1;
			/* Keep the compiler from dropping the stores. */
			__asm__ volatile("" : : "r"(p) : "memory");
			munmap(p, len);
			t[k][i] = now_us() - t0;
			close(fd);
		}
	}
	for (int k = 0; k < 2; k++)
		record("first_touch", len, k ? "dma-heap" : "ion", pct(t[k], n, 0.5),
		       pct(t[k], n, 0.99));
	free(t[0]);
	free(t[1]);
}

static void bench_sync(struct alloc_ctx *c, size_t len, int n, int card)
{
	for (int att = 0; att < 2; att++) {
		double *t[2] = { calloc(n, sizeof(double)), calloc(n, sizeof(double)) };
		char name[32];

		for (int k = 0; k < 2; k++) {
			int fd = alloc_one(c, k == 0, len);
			struct drm_prime_handle h = { .fd = fd };

			if (fd < 0)
				exit(1);
			if (att && (card < 0 || ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, &h))) {
				fprintf(stderr, "vgem import failed\n");
				exit(1);
			}
			for (int i = 0; i < n; i++) {
				double t0 = now_us();

				dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
				dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
				t[k][i] = now_us() - t0;
			}
			if (att) {
				struct drm_gem_close gc = { .handle = h.handle };

				ioctl(card, DRM_IOCTL_GEM_CLOSE, &gc);
			}
			close(fd);
		}
		snprintf(name, sizeof(name), "sync_%datt", att);
		for (int k = 0; k < 2; k++)
			record(name, len, k ? "dma-heap" : "ion", pct(t[k], n, 0.5),
			       pct(t[k], n, 0.99));
		free(t[0]);
		free(t[1]);
	}
}

static void bench_memset(size_t len, int n)
{
	unsigned char *p = malloc(len);
	double *t = calloc(n, sizeof(double));

	memset(p, 1, len);
	for (int i = 0; i < n; i++) {
		double t0 = now_us();

		memset(p, i, len);
		__asm__ volatile("" : : "r"(p) : "memory");
		t[i] = now_us() - t0;
	}
	record("memset", len, "cpu", pct(t, n, 0.5), pct(t, n, 0.99));
	free(t);
	free(p);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 4096, 65536, 1 << 20, 8 << 20, 32 << 20 };
	const char *out = "bench.json";
	struct alloc_ctx c;
	int rounds = 1, card, opt;

	while ((opt = getopt(argc, argv, "o:r:")) != -1) {
		if (opt == 'o')
			out = optarg;
		else if (opt == 'r')
			rounds = atoi(optarg);
	}
	c.ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	c.heap = open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
	card = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (c.ion < 0 || c.heap < 0) {
		perror("open /dev/ion or /dev/dma_heap/system");
		return 1;
	}
	c.id = ion_heap_by_type(c.ion, ION_HEAP_TYPE_SYSTEM);
	json = fopen(out, "w");
	if (!json)
		return 1;
	fprintf(json, "[");
	printf("%-14s %9s %-10s %12s %12s\n", "test", "size", "allocator", "median_us", "p99_us");
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			int n = sizes[i] <= (1 << 20) ? 200 : sizes[i] <= (8 << 20) ? 40 : 12;

			bench_alloc(&c, sizes[i], n, false);
			bench_alloc(&c, sizes[i], n, true);
		}
		bench_touch(&c, 8 << 20, 20);
		bench_sync(&c, 1 << 20, 200, card);
		bench_memset(32 << 20, 20);
	}
	fprintf(json, "\n]\n");
	fclose(json);
	return 0;
}
