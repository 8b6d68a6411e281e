/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by rust-ion's selftests, benchmark and demo tool. */
#ifndef ION_UTIL_H
#define ION_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <drm/drm.h>

#include "ion.h"

#define ION_STATS "/sys/kernel/debug/ion/stats"

/*
 * The page size of the kernel under test. Every length and offset that
 * means "a page" is this, never 4096: the same binaries run on 4 KiB and
 * 16 KiB-page kernels.
 */
static inline size_t ion_page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

#define ION_PAGE ion_page_size()

/* The order of a block of @bytes (a power of two of at least a page). */
static inline unsigned int ion_order(size_t bytes)
{
	unsigned int o = 0;

	while ((ion_page_size() << o) < bytes)
		o++;
	return o;
}

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* ALLOC; returns the fd or -errno. */
static inline int ion_alloc(int ion, uint64_t len, uint32_t mask, uint32_t flags)
{
	struct ion_allocation_data d = {
		.len = len, .heap_id_mask = mask, .flags = flags,
	};

	if (ioctl(ion, ION_IOC_ALLOC, &d) < 0)
		return -errno;
	return d.fd;
}

/* HEAP_QUERY into @heaps (up to @max); returns the count or -errno. */
static inline int ion_query(int ion, struct ion_heap_data *heaps, uint32_t max)
{
	struct ion_heap_query q = { .cnt = max, .heaps = (uintptr_t)heaps };

	if (ioctl(ion, ION_IOC_HEAP_QUERY, &q) < 0)
		return -errno;
	return q.cnt;
}

/* The id of the first heap of @type, or -1. */
static inline int ion_heap_by_type(int ion, uint32_t type)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS);

	for (int i = 0; i < n; i++)
		if (h[i].type == type)
			return h[i].heap_id;
	return -1;
}

/*
 * A value from /sys/kernel/debug/ion/stats. Every test compares these, and
 * a key that is missing (the file, the heap or the counter gone) must not
 * read the same on both sides of a comparison: it ends the process with
 * SIGABRT, which the kselftest harness reports as a failed test and a
 * plain kselftest as a plan that was not finished.
 */
static inline long long ion_stat(const char *key)
{
	char line[256], k[200];
	long long v;
	int found = 0;
	FILE *f = fopen(ION_STATS, "r");

	if (f) {
		while (!found && fgets(line, sizeof(line), f))
			found = sscanf(line, "%199s %lld", k, &v) == 2 && !strcmp(k, key);
		fclose(f);
	}
	if (!found) {
		fprintf(stdout, "# %s: no key %s\n", ION_STATS, key);
		fflush(stdout);
		abort();
	}
	return v;
}

/* ion_stat() of the system heap's pool counter @what for @mode (cached or
 * uncached) and the order of @bytes blocks: heap.ion_system_heap.pool.
 * <mode>.order<n>.<what>.
 */
static inline long long ion_pool_stat(const char *mode, size_t bytes, const char *what)
{
	char key[128];

	snprintf(key, sizeof(key), "heap.ion_system_heap.pool.%s.order%u.%s", mode,
		 ion_order(bytes), what);
	return ion_stat(key);
}

/* heap.<name>.<what> for the heap with @id; as ion_stat() if there is none. */
static inline long long ion_heap_stat(int ion, int id, const char *what)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS);
	char key[128];

	snprintf(key, sizeof(key), "heap.id%d.%.40s", id, what);
	for (int i = 0; i < n; i++)
		if ((int)h[i].heap_id == id)
			snprintf(key, sizeof(key), "heap.%.*s.%.40s", MAX_HEAP_NAME,
				 h[i].name, what);
	return ion_stat(key);
}

/* Writes @val to the file @path (sysfs, debugfs, cgroupfs); 0, -errno, or
 * -EIO for a short write.
 */
static inline int ion_write_file(const char *path, const char *val)
{
	ssize_t n, len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	ret = n == len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

static inline int dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &s) < 0 ? -errno : 0;
}

#define ION_KO "/lib/modules/ion_rs.ko"

/* Loads ion_rs from ION_KO with @params; 0 or -errno. */
static inline int ion_module_load(const char *params)
{
	int fd = open(ION_KO, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

/* Unloads ion_rs without waiting; 0 or -errno. */
static inline int ion_module_unload(void)
{
	return syscall(SYS_delete_module, "ion_rs", O_NONBLOCK) ? -errno : 0;
}

/* DMA_HEAP_IOCTL_ALLOC on the node @heap; returns the fd or -errno. */
static inline int dma_heap_alloc(int heap, uint64_t len, uint32_t fd_flags)
{
	struct dma_heap_allocation_data d = { .len = len, .fd_flags = fd_flags };

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &d) < 0)
		return -errno;
	return d.fd;
}

/*
 * A string value from /sys/kernel/debug/ion/stats into @out; 0, or -1 if
 * the key is absent (unlike ion_stat(), absence is an answer here).
 */
static inline int ion_stat_str(const char *key, char *out, size_t size)
{
	char line[256], k[200], v[200];
	int found = 0;
	FILE *f = fopen(ION_STATS, "r");

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%199s %199s", k, v) == 2 && !strcmp(k, key);
	fclose(f);
	if (!found || !size)
		return -1;
	found = strnlen(v, size - 1);
	memcpy(out, v, found);
	out[found] = 0;
	return 0;
}

/* heap.<name>.<what> of heap @id as a string; as ion_stat_str(). */
static inline int ion_heap_stat_str(int ion, int id, const char *what, char *out, size_t size)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS);
	char key[128];

	for (int i = 0; i < n; i++)
		if ((int)h[i].heap_id == id) {
			snprintf(key, sizeof(key), "heap.%.*s.%.40s", MAX_HEAP_NAME,
				 h[i].name, what);
			return ion_stat_str(key, out, size);
		}
	return -1;
}

/*
 * /dev/dma_heap/<node> of heap @id in the cache mode of @flags, as rust-ion
 * added it (<memory> or <memory>-uncached, see Documentation/ion.rst): 0,
 * or -1 if it added none (the name was taken, or the face is off).
 */
static inline int ion_dma_heap_path(int ion, int id, uint32_t flags, char *path, size_t size)
{
	char node[64];

	if (ion_heap_stat_str(ion, id, flags & ION_FLAG_CACHED ? "dma_heap.cached" :
			      "dma_heap.uncached", node, sizeof(node)))
		return -1;
	snprintf(path, size, "/dev/dma_heap/%s", node);
	return 0;
}

/*
 * Whether heap @id has no node of its own in the cache mode of @flags
 * because the name is another heap's (the kernel's system or CMA heap).
 */
static inline int ion_dma_heap_name_taken(int ion, int id, uint32_t flags)
{
	char name[64], path[96];

	if (ion_heap_stat_str(ion, id, "exp_name", name, sizeof(name)))
		return 0;
	snprintf(path, sizeof(path), "/dev/dma_heap/%s%s", name,
		 flags & ION_FLAG_CACHED ? "" : "-uncached");
	return !access(path, F_OK) && ion_dma_heap_path(ion, id, flags, path, sizeof(path));
}

/* Imports dma-buf @fd into vgem (@card: /dev/dri/card0); 0 or -errno. */
static inline int vgem_import(int card, int fd, uint32_t *handle)
{
	struct drm_prime_handle p = { .fd = fd };

	if (ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p) < 0)
		return -errno;
	*handle = p.handle;
	return 0;
}

static inline void vgem_close(int card, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	ioctl(card, DRM_IOCTL_GEM_CLOSE, &c);
}

/* Every global counter and every heap's usage is zero, else prints it. */
static inline int ion_all_counters_zero(int ion)
{
	static const char *const globals[] = { "attachments", "vmaps" };
	static const char *const per_heap[] = { "bytes", "buffers", "runs" };
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS), ok = n > 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(globals); i++)
		if (ion_stat(globals[i]) != 0) {
			printf("# %s = %lld\n", globals[i], ion_stat(globals[i]));
			ok = 0;
		}
	if (ion_stat("maps") != ion_stat("unmaps")) {
		printf("# maps %lld != unmaps %lld\n", ion_stat("maps"), ion_stat("unmaps"));
		ok = 0;
	}
	for (int i = 0; i < n; i++)
		for (unsigned int j = 0; j < ARRAY_SIZE(per_heap); j++) {
			long long v = ion_heap_stat(ion, h[i].heap_id, per_heap[j]);

			if (v != 0) {
				printf("# heap.%s.%s = %lld\n", h[i].name, per_heap[j], v);
				ok = 0;
			}
		}
	return ok;
}

/* xorshift64*: the tests' seeded random numbers. */
static inline uint64_t ion_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

#endif
