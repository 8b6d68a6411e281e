// SPDX-License-Identifier: GPL-2.0
/*
 * The system heap's page pools: hits after a free, cached and uncached
 * pools kept apart, the bound, drain_pools and the shrinker (through
 * CONFIG_SHRINKER_DEBUG's debugfs files, or vm.drop_caches without them).
 * Memory that comes back from a pool reads as zero, also when it is taken
 * while the background zeroer works; uncached runs the zeroer cleaned need no maintenance when they
 * are handed out. ION_POOL_ZERO_ON_ALLOC=1 says the module was loaded with
 * pool_zero_on_alloc=1 (runs are zeroed, and cleaned, when they leave).
 */
#include <dirent.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "ion_util.h"

#define SZ_1M (1024UL * 1024)
#define POOL(what) ion_stat("heap.ion_system_heap." what)

static void drain(struct __test_metadata *_metadata)
{
	int fd = open("/sys/kernel/debug/ion/drain_pools", O_WRONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "1", 1));
	close(fd);
	ASSERT_EQ(0, POOL("pool_pages"));
}

FIXTURE(pool) {
	int ion;
	uint32_t mask;
};

FIXTURE_SETUP(pool)
{
	self->ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->ion);
	self->mask = 1U << ion_heap_by_type(self->ion, ION_HEAP_TYPE_SYSTEM);
	drain(_metadata);
}

FIXTURE_TEARDOWN(pool)
{
	EXPECT_EQ(0, POOL("bytes"));
	drain(_metadata);
	close(self->ion);
}

/* Allocate, dirty every byte, free: the pages go to the pool. */
static void dirty_and_free(struct __test_metadata *_metadata, int ion, uint32_t mask,
			   size_t len, uint32_t flags)
{
	int fd = ion_alloc(ion, len, mask, flags);
	unsigned char *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	memset(p, 0xee, len);
	munmap(p, len);
	close(fd);
}

/*
 * The background zeroer zeroes freed runs a jiffy after close(); a run it
 * holds is in no list until it is done. Wait for it, a bounded time, so
 * that what follows sees every run in its pool.
 */
static void wait_zeroed(struct __test_metadata *_metadata)
{
	for (int i = 0; i < 5000 && POOL("pool_dirty_pages"); i++)
		usleep(1000);
	ASSERT_EQ(0, POOL("pool_dirty_pages"));
}

static int all_zero(int fd, size_t len)
{
	unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	int ok = p != MAP_FAILED;

	for (size_t i = 0; ok && i < len; i++)
		ok = !p[i];
	if (p != MAP_FAILED)
		munmap(p, len);
	return ok;
}

TEST_F(pool, freed_pages_are_reused_zeroed)
{
	long long hits = ion_pool_stat("cached", SZ_1M, "hits");
	int fd;

	dirty_and_free(_metadata, self->ion, self->mask, 8 * SZ_1M, ION_FLAG_CACHED);
	wait_zeroed(_metadata);
	ASSERT_EQ(8 * SZ_1M / ION_PAGE, POOL("pool_pages"));
	ASSERT_EQ(8, ion_pool_stat("cached", SZ_1M, "runs"));
	fd = ion_alloc(self->ion, 8 * SZ_1M, self->mask, ION_FLAG_CACHED);
	ASSERT_LE(0, fd);
	ASSERT_EQ(hits + 8, ion_pool_stat("cached", SZ_1M, "hits"));
	ASSERT_EQ(0, POOL("pool_pages"));
	ASSERT_TRUE(all_zero(fd, 8 * SZ_1M));
	close(fd);
}

TEST_F(pool, cached_and_uncached_pools_are_apart)
{
	long long misses = ion_pool_stat("uncached", SZ_1M, "misses");
	int fd;

	dirty_and_free(_metadata, self->ion, self->mask, SZ_1M, ION_FLAG_CACHED);
	ASSERT_EQ(1, ion_pool_stat("cached", SZ_1M, "runs"));
	fd = ion_alloc(self->ion, SZ_1M, self->mask, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(misses + 1, ion_pool_stat("uncached", SZ_1M, "misses"));
	ASSERT_EQ(1, ion_pool_stat("cached", SZ_1M, "runs"));
	ASSERT_TRUE(all_zero(fd, SZ_1M));
	close(fd);
	ASSERT_EQ(1, ion_pool_stat("uncached", SZ_1M, "runs"));
}

TEST_F(pool, the_pools_are_bounded)
{
	int fds[4];

	/* 128 MiB freed at once; the pools keep at most 64 MiB (default). */
	for (int i = 0; i < 4; i++) {
		fds[i] = ion_alloc(self->ion, 32 * SZ_1M, self->mask, ION_FLAG_CACHED);
		ASSERT_LE(0, fds[i]);
	}
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	ASSERT_EQ(64 * SZ_1M / ION_PAGE, POOL("pool_pages"));
}

/* The debugfs directory of our shrinker, under /sys/kernel/debug/shrinker. */
static int shrinker_dir(char *out, size_t len)
{
	DIR *d = opendir("/sys/kernel/debug/shrinker");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "ion_rs-pool-", 12)) {
			snprintf(out, len, "/sys/kernel/debug/shrinker/%s", e->d_name);
			found++;
		}
	closedir(d);
	return found;
}

TEST_F(pool, the_shrinker_gives_pages_back)
{
	char dir[300], path[340], buf[512], *save;
	unsigned long id, count, total;
	ssize_t n;
	int fd;

	dirty_and_free(_metadata, self->ion, self->mask, 32 * SZ_1M, ION_FLAG_CACHED);
	ASSERT_EQ(32 * SZ_1M / ION_PAGE, POOL("pool_pages"));
	if (access("/sys/kernel/debug/shrinker", F_OK)) {
		/*
		 * No CONFIG_SHRINKER_DEBUG (Debian's kernel): reclaim reaches
		 * the shrinker the way drop_caches does (2: reclaimable slab
		 * objects, every shrinker of every node), and the pools must
		 * come back empty all the same.
		 */
		TH_LOG("no /sys/kernel/debug/shrinker: through vm.drop_caches");
		wait_zeroed(_metadata);
		ASSERT_EQ(0, ion_write_file("/proc/sys/vm/drop_caches", "2"));
		ASSERT_EQ(0, POOL("pool_pages"));
		fd = ion_alloc(self->ion, 32 * SZ_1M, self->mask, ION_FLAG_CACHED);
		ASSERT_LE(0, fd);
		ASSERT_TRUE(all_zero(fd, 32 * SZ_1M));
		close(fd);
		return;
	}
	ASSERT_EQ(1, shrinker_dir(dir, sizeof(dir)));
	/*
	 * Pressure, once the deferred-zeroing work (if any) has put every run
	 * back on a list the shrinker can see. The shrinker is NUMA- and
	 * memcg-aware: its count has a line per cgroup holding pages, "id"
	 * then one count per node, and a scan names the cgroup and the node.
	 */
	wait_zeroed(_metadata);
	snprintf(path, sizeof(path), "%s/count", dir);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = 0;
	snprintf(path, sizeof(path), "%s/scan", dir);
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	total = 0;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *end;
		int nid = 0;

		id = strtoul(p, &end, 10);
		ASSERT_NE(p, end);
		for (p = end; (count = strtoul(p, &end, 10)), end != p; p = end, nid++) {
			total += count;
			if (count)
				ASSERT_LT(0, dprintf(fd, "%lu %d %lu", id, nid, count));
		}
	}
	close(fd);
	/* What the shrinker reported is what the pools held. */
	ASSERT_EQ(32 * SZ_1M / ION_PAGE, total);
	ASSERT_EQ(0, POOL("pool_pages"));
	/* Nothing was lost and new memory is still zeroed. */
	fd = ion_alloc(self->ion, 32 * SZ_1M, self->mask, ION_FLAG_CACHED);
	ASSERT_LE(0, fd);
	ASSERT_TRUE(all_zero(fd, 32 * SZ_1M));
	close(fd);
}

TEST_F(pool, uncached_hits_need_no_cache_maintenance)
{
	const char *z = getenv("ION_POOL_ZERO_ON_ALLOC");
	int zero_on_alloc = z && !strcmp(z, "1");
	long long cleaned;
	int fd;

	dirty_and_free(_metadata, self->ion, self->mask, 2 * SZ_1M, 0);
	wait_zeroed(_metadata);
	ASSERT_EQ(2, ion_pool_stat("uncached", SZ_1M, "runs"));
	cleaned = ion_stat("cleaned_at_alloc");
	fd = ion_alloc(self->ion, 2 * SZ_1M, self->mask, 0);
	ASSERT_LE(0, fd);
	/* Zeroed and cleaned in the background; dirty runs are cleaned now. */
	ASSERT_EQ(zero_on_alloc ? 2 : 0, ion_stat("cleaned_at_alloc") - cleaned);
	ASSERT_TRUE(all_zero(fd, 2 * SZ_1M));
	close(fd);
	/* From the page allocator, a run is cleaned at allocation. */
	wait_zeroed(_metadata);
	drain(_metadata);
	cleaned = ion_stat("cleaned_at_alloc");
	fd = ion_alloc(self->ion, SZ_1M, self->mask, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, ion_stat("cleaned_at_alloc") - cleaned);
	close(fd);
}

/*
 * A run freed a moment ago may be pending, being zeroed, or zeroed: an
 * allocation at any of those moments must still hand out zeroes.
 */
TEST_F(pool, zero_when_taken_while_the_zeroer_runs)
{
	const char *seed = getenv("ION_SEED");
	uint64_t s = seed ? strtoull(seed, NULL, 0) + 1 : 1;

	for (int i = 0; i < 100; i++) {
		size_t len = (ion_rand(&s) % 3 + 1) * SZ_1M + (ion_rand(&s) % 17) * 65536;
		uint32_t flags = ion_rand(&s) & 1 ? ION_FLAG_CACHED : 0;
		int fd;

		dirty_and_free(_metadata, self->ion, self->mask, len, flags);
		usleep(ion_rand(&s) % 6000);
		fd = ion_alloc(self->ion, len, self->mask, flags);
		ASSERT_LE(0, fd);
		ASSERT_TRUE(all_zero(fd, len)) TH_LOG("round %d, %zu bytes", i, len);
		close(fd);
	}
}

TEST_HARNESS_MAIN
