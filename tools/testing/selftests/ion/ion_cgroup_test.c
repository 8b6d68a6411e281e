// SPDX-License-Identifier: GPL-2.0
/*
 * Who pays for a buffer: cgroup v2 limits on rust-ion's heaps, on both
 * faces (/dev/ion and /dev/dma_heap).
 *
 * - memory: with mem_accounting on, system and system-contig buffers are
 *   charged to the allocating task's memory cgroup and uncharged when the
 *   pages leave rust-ion; a cgroup at its memory.max gets ENOMEM, never an
 *   OOM kill. The system heap's pools are per cgroup: a freed page stays
 *   charged to its cgroup, only that cgroup's allocations take it back, the
 *   cgroup's reclaim frees it, and a removed cgroup's pages go to its
 *   parent.
 * - dmem: every carveout, chunk and CMA heap is a region of the dmem
 *   controller (dma_heap/<memory name>); dmem.current follows allocation
 *   and free to the byte, and a cgroup past its dmem.max gets ENOMEM while
 *   its parent still allocates.
 * - With /proc/thread-self/fail-nth (fault injection), every failure on
 *   the way, the controllers' own allocations included, leaves the heap's
 *   counters and the cgroup's usage as they were.
 *
 * Runs with ion_rs loaded with dma_heaps=1 and mem_accounting at its
 * default (on), as root, with cgroup2 mounted on /sys/fs/cgroup; skips what
 * the kernel lacks.
 */
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ion_util.h"

#define SZ_1M (1024UL * 1024)
#define CG "/sys/fs/cgroup"

enum face { FACE_ION, FACE_DMA_HEAP };
static const char *const face_name[] = { "/dev/ion", "/dev/dma_heap" };

static int cg_put(const char *cg, const char *file, const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), CG "/%s/%s", cg, file);
	return ion_write_file(path, val);
}

/* The value of "key value" line @key of @file, or of its first line if
 * @key is NULL; -1 if absent.
 */
static long long cg_get(const char *cg, const char *file, const char *key)
{
	char path[160], line[256], k[160];
	long long v, found = -1;
	FILE *f;

	snprintf(path, sizeof(path), CG "/%s/%s", cg, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		if (!key) {
			char *end;

			v = strtoll(line, &end, 10);
			if (end != line)
				found = v;
			break;
		}
		if (sscanf(line, "%159s %lld", k, &v) == 2 && !strcmp(k, key))
			found = v;
	}
	fclose(f);
	return found;
}

/* dmem.current of @region in @cg: a region never charged there reads 0. */
static long long dmem_current(const char *cg, const char *region)
{
	long long v = cg_get(cg, "dmem.current", region);

	return v < 0 ? 0 : v;
}

/* A fresh, empty child cgroup @cg of the root. */
static int cg_fresh(const char *cg)
{
	char path[160];

	snprintf(path, sizeof(path), CG "/%s", cg);
	rmdir(path);
	return mkdir(path, 0755) ? -errno : 0;
}

static void cg_remove(const char *cg)
{
	char path[160];

	snprintf(path, sizeof(path), CG "/%s", cg);
	rmdir(path);
}

/* Moves the calling process into @cg ("." for the root). */
static int cg_enter(const char *cg)
{
	return cg_put(cg, "cgroup.procs", "0");
}

/* Whether the root offers @controller, and enables it for its children. */
static int controller(const char *controller)
{
	char line[256], plus[32];
	FILE *f = fopen(CG "/cgroup.controllers", "re");
	int have = 0;

	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		for (char *t = strtok(line, "\n "); t; t = strtok(NULL, "\n "))
			have |= !strcmp(t, controller);
	fclose(f);
	snprintf(plus, sizeof(plus), "+%s", controller);
	return have && !cg_put(".", "cgroup.subtree_control", plus);
}

/* A buffer of @len from heap @id through @face; the fd or -errno (-ENOENT:
 * the heap has no node of its own in that mode on the dma-heap face).
 */
static int alloc_on(enum face face, int ion, int id, uint32_t flags, size_t len)
{
	char path[96];
	int node, fd;

	if (face == FACE_ION)
		return ion_alloc(ion, len, 1U << id, flags);
	if (ion_dma_heap_path(ion, id, flags, path, sizeof(path)))
		return -ENOENT;
	node = open(path, O_RDONLY | O_CLOEXEC);
	if (node < 0)
		return -errno;
	fd = dma_heap_alloc(node, len, O_RDWR | O_CLOEXEC);
	close(node);
	return fd;
}

/* A cached buffer, or an uncached one where the cached node is not ours. */
static int alloc_cached_if_ours(enum face face, int ion, int id, size_t len)
{
	int fd = alloc_on(face, ion, id, ION_FLAG_CACHED, len);

	return fd == -ENOENT ? alloc_on(face, ion, id, 0, len) : fd;
}

static long long mem_now(const char *cg)
{
	return cg_get(cg, "memory.current", NULL);
}

/* Bytes in the system heap's pools, of every cgroup. */
static long long pooled(void)
{
	return ion_stat("heap.ion_system_heap.pool_pages") * ion_page_size();
}

/* Empties the pools (of every cgroup). */
static int drain(void)
{
	return ion_write_file("/sys/kernel/debug/ion/drain_pools", "1");
}

/* Runs of @bytes taken from the pool of @mode so far. */
static long long hits(const char *mode, size_t bytes)
{
	return ion_pool_stat(mode, bytes, "hits");
}

/* Waits up to 5 s for the zeroer: a run it zeroes is off its list. */
static int wait_zeroed(void)
{
	for (int i = 0; i < 500 && ion_stat("heap.ion_system_heap.pool_dirty_pages"); i++)
		usleep(10 * 1000);
	return ion_stat("heap.ion_system_heap.pool_dirty_pages") ? -EBUSY : 0;
}

#define NEAR(a, b) (llabs((long long)(a) - (long long)(b)) <= (long long)SZ_1M)

FIXTURE(cg) {
	int ion;
	int memcg, dmem;
};

FIXTURE_SETUP(cg)
{
	self->ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->ion);
	self->memcg = controller("memory");
	self->dmem = controller("dmem");
	if (!self->memcg && !self->dmem)
		SKIP(return, "no cgroup2 with the memory or dmem controller");
	/* The load charges memory cgroups: rust-ion's default. */
	if (self->memcg)
		ASSERT_EQ(1, ion_stat("mem_accounting"));
	ASSERT_EQ(0, cg_fresh("ion_a"));
	ASSERT_EQ(0, cg_fresh("ion_b"));
}

FIXTURE_TEARDOWN(cg)
{
	cg_enter(".");
	cg_remove("ion_a");
	cg_remove("ion_b");
	EXPECT_TRUE(ion_all_counters_zero(self->ion));
	close(self->ion);
}

/*
 * memory.current of the allocating cgroup rises by the buffer's size, and
 * after close stays up by what went into the pools (still charged to it),
 * within 1 MiB; after the pools are drained it is back: system (one 16 MiB
 * buffer) and system-contig (eight of 512 KiB, never pooled), both faces,
 * both cache modes.
 */
TEST_F(cg, memcg_charges_the_allocator_until_the_last_close)
{
	static const struct { int type; size_t len; int n; } kinds[] = {
		{ ION_HEAP_TYPE_SYSTEM, 16 * SZ_1M, 1 },
		{ ION_HEAP_TYPE_SYSTEM_CONTIG, SZ_1M / 2, 8 },
	};
	int checked = 0;

	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	ASSERT_EQ(0, cg_enter("ion_a"));
	for (unsigned int k = 0; k < ARRAY_SIZE(kinds); k++) {
		int id = ion_heap_by_type(self->ion, kinds[k].type);

		if (id < 0)
			continue;
		for (int face = FACE_ION; face <= FACE_DMA_HEAP; face++)
			for (int cached = 0; cached < 2; cached++) {
				uint32_t flags = cached ? ION_FLAG_CACHED : 0;
				long long before, during, after, kept;
				int fds[8] = { 0 };

				ASSERT_EQ(0, drain());
				before = mem_now("ion_a");

				for (int i = 0; i < kinds[k].n; i++) {
					fds[i] = alloc_on(face, self->ion, id, flags, kinds[k].len);
					if (fds[i] == -ENOENT)
						break;
					ASSERT_LE(0, fds[i])
						TH_LOG("%s heap %d: %s", face_name[face], id,
						       strerror(-fds[i]));
				}
				if (fds[0] == -ENOENT)
					continue;
				during = mem_now("ion_a");
				for (int i = 0; i < kinds[k].n; i++)
					close(fds[i]);
				after = mem_now("ion_a");
				kept = pooled();
				ASSERT_EQ(0, drain());
				ksft_print_msg("%s heap %d %s: +%lld, %+lld (%lld pooled), %+lld\n",
					       face_name[face], id, cached ? "cached" : "uncached",
					       (during - before) / 1024, (after - before) / 1024,
					       kept / 1024, (mem_now("ion_a") - before) / 1024);
				EXPECT_TRUE(NEAR(during - before, kinds[k].len * kinds[k].n));
				EXPECT_TRUE(NEAR(after - before, kept));
				if (kinds[k].type == ION_HEAP_TYPE_SYSTEM)
					EXPECT_LE(kinds[k].len / 2, kept);
				EXPECT_TRUE(NEAR(mem_now("ion_a"), before));
				checked++;
			}
	}
	ASSERT_LE(4, checked);
}

/*
 * A child at memory.max=64M cannot hold 128 MiB of buffers: the allocation
 * that would cross the limit fails with ENOMEM after reclaim, the cgroup
 * sees no OOM kill, and everything is uncharged when the child exits.
 */
TEST_F(cg, memcg_limit_is_enomem_not_an_oom_kill)
{
	int id = ion_heap_by_type(self->ion, ION_HEAP_TYPE_SYSTEM);

	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	ASSERT_LE(0, id);
	ASSERT_EQ(0, cg_put("ion_b", "memory.max", "64M"));
	for (int face = FACE_ION; face <= FACE_DMA_HEAP; face++) {
		int status, got = 0, err = 0, p[2];
		long long kept;

		pid_t pid;

		ASSERT_EQ(0, pipe(p));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			int fds[128], n = 0, r[2];

			close(p[0]);
			if (cg_enter("ion_b"))
				_exit(2);
			for (; n < 128; n++) {
				fds[n] = alloc_on(face, self->ion, id, 0, SZ_1M);
				if (fds[n] < 0)
					break;
			}
			r[0] = n;
			r[1] = n < 128 ? -fds[n] : 0;
			if (write(p[1], r, sizeof(r)) != sizeof(r))
				_exit(3);
			_exit(0);
		}
		close(p[1]);
		if (read(p[0], &got, sizeof(got)) != sizeof(got) ||
		    read(p[0], &err, sizeof(err)) != sizeof(err))
			got = -1;
		close(p[0]);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ksft_print_msg("%s: %d MiB held at memory.max 64M, then %s\n", face_name[face],
			       got, err ? strerror(err) : "no failure");
		ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the child was killed");
		ASSERT_EQ(0, WEXITSTATUS(status));
		EXPECT_EQ(ENOMEM, err);
		EXPECT_LE(48, got);
		EXPECT_GT(64, got);
		EXPECT_EQ(0, cg_get("ion_b", "memory.events", "oom_kill"));
		/* What the child freed is pooled, charged to ion_b. */
		kept = pooled();
		EXPECT_TRUE(NEAR(mem_now("ion_b"), kept));
		ASSERT_EQ(0, drain());
		EXPECT_TRUE(NEAR(mem_now("ion_b"), 0));
	}
	/* The parent was never limited. */
	{
		int fd = ion_alloc(self->ion, 128 * SZ_1M, 1U << id, 0);

		ASSERT_LE(0, fd);
		close(fd);
	}
}

/*
 * A frees and B allocates the same size from the same heap: B never gets
 * A's pages (no pool hit), each pays for its own, and A's freed pages stay
 * charged to A, pooled. Then A allocates again: its own pages back, all
 * pool hits, and A's memory.current does not move.
 */
TEST_F(cg, memcg_pools_keep_each_cgroups_pages)
{
	int id = ion_heap_by_type(self->ion, ION_HEAP_TYPE_SYSTEM);
	const size_t len = 8 * SZ_1M, runs = len / SZ_1M;
	long long a0, b0, h0, a_pooled;
	const char *mode;
	int fd;

	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	ASSERT_LE(0, id);
	for (int face = FACE_ION; face <= FACE_DMA_HEAP; face++) {
		/* The dma-heap face's cached node may be the kernel's heap. */
		fd = alloc_on(face, self->ion, id, ION_FLAG_CACHED, SZ_1M);
		mode = fd == -ENOENT ? "uncached" : "cached";
		if (fd >= 0)
			close(fd);
		ASSERT_EQ(0, drain());
		ASSERT_EQ(0, cg_enter("ion_a"));
		a0 = mem_now("ion_a");
		b0 = mem_now("ion_b");
		fd = alloc_cached_if_ours(face, self->ion, id, len);
		ASSERT_LE(0, fd);
		EXPECT_TRUE(NEAR(mem_now("ion_a") - a0, len));
		close(fd);
		ASSERT_EQ(0, wait_zeroed());
		a_pooled = pooled();
		EXPECT_EQ(len, a_pooled);
		EXPECT_TRUE(NEAR(mem_now("ion_a") - a0, len));
		/* B allocates: misses A's pool, pays its own. */
		ASSERT_EQ(0, cg_enter("ion_b"));
		h0 = hits(mode, SZ_1M);
		fd = alloc_cached_if_ours(face, self->ion, id, len);
		ASSERT_LE(0, fd);
		EXPECT_EQ(h0, hits(mode, SZ_1M));
		EXPECT_TRUE(NEAR(mem_now("ion_b") - b0, len));
		EXPECT_TRUE(NEAR(mem_now("ion_a") - a0, len));
		close(fd);
		ASSERT_EQ(0, wait_zeroed());
		EXPECT_EQ(2 * len, pooled());
		/* A allocates again: its own runs, all of them hits. */
		ASSERT_EQ(0, cg_enter("ion_a"));
		fd = alloc_cached_if_ours(face, self->ion, id, len);
		ASSERT_LE(0, fd);
		ksft_print_msg("%s: A %+lld KiB in use again, B %+lld KiB pooled, %lld hits\n",
			       face_name[face], (mem_now("ion_a") - a0) / 1024,
			       (mem_now("ion_b") - b0) / 1024, hits(mode, SZ_1M) - h0);
		EXPECT_EQ(h0 + (long long)runs, hits(mode, SZ_1M));
		EXPECT_TRUE(NEAR(mem_now("ion_a") - a0, len));
		EXPECT_EQ(len, pooled());
		close(fd);
		ASSERT_EQ(0, drain());
		EXPECT_TRUE(NEAR(mem_now("ion_a"), a0));
		EXPECT_TRUE(NEAR(mem_now("ion_b"), b0));
	}
	ASSERT_EQ(0, cg_enter("."));
}

/*
 * A at memory.max with its pool full of pages it cannot use (uncached,
 * while it allocates cached): the charge reclaims A's own pool through
 * the memcg-aware shrinker, and the allocation succeeds, with no OOM kill
 * and A never above its limit.
 */
TEST_F(cg, memcg_limit_reclaims_the_cgroups_pool_first)
{
	int id = ion_heap_by_type(self->ion, ION_HEAP_TYPE_SYSTEM);
	const size_t len = 32 * SZ_1M;
	long long kept, max = 48 * SZ_1M;
	int fd;

	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	ASSERT_LE(0, id);
	ASSERT_EQ(0, drain());
	ASSERT_EQ(0, cg_put("ion_a", "memory.max", "48M"));
	ASSERT_EQ(0, cg_enter("ion_a"));
	fd = ion_alloc(self->ion, len, 1U << id, 0);
	ASSERT_LE(0, fd);
	close(fd);
	kept = pooled();
	EXPECT_LE((long long)len / 2, kept);
	fd = ion_alloc(self->ion, len, 1U << id, ION_FLAG_CACHED);
	ksft_print_msg("%lld KiB pooled; cached %zu MiB: %s, at %lld KiB, pool %lld KiB\n",
		       kept / 1024, len / SZ_1M, fd < 0 ? strerror(-fd) : "allocated",
		       mem_now("ion_a") / 1024, pooled() / 1024);
	ASSERT_LE(0, fd);
	EXPECT_GE(max, mem_now("ion_a"));
	EXPECT_GT(kept, pooled());
	EXPECT_EQ(0, cg_get("ion_a", "memory.events", "oom_kill"));
	close(fd);
	ASSERT_EQ(0, cg_enter("."));
	ASSERT_EQ(0, drain());
}

/* Cgroups that are going away (dying) under the root. */
static long long dying(void)
{
	return cg_get(".", "cgroup.stat", "nr_dying_descendants");
}

/*
 * A's cgroup is removed with its pages pooled: they go to the parent (the
 * root), whose allocation takes them back as pool hits; drained, nothing
 * is left (the counters, and on the debug kernel kmemleak).
 */
TEST_F(cg, memcg_removed_cgroups_pages_go_to_the_parent)
{
	int id = ion_heap_by_type(self->ion, ION_HEAP_TYPE_SYSTEM);
	const size_t len = 8 * SZ_1M;
	long long h0, d0;
	int fd;

	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	ASSERT_LE(0, id);
	ASSERT_EQ(0, drain());
	ASSERT_EQ(0, cg_enter("ion_a"));
	fd = ion_alloc(self->ion, len, 1U << id, ION_FLAG_CACHED);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, wait_zeroed());
	ASSERT_EQ(len, pooled());
	ASSERT_EQ(0, cg_enter("."));
	d0 = dying();
	cg_remove("ion_a");
	/* Offlining is asynchronous: wait until A is gone or 5 s. */
	for (int i = 0; i < 50 && dying() > d0; i++)
		usleep(100 * 1000);
	usleep(200 * 1000);
	EXPECT_EQ(len, pooled());
	h0 = hits("cached", SZ_1M);
	fd = ion_alloc(self->ion, len, 1U << id, ION_FLAG_CACHED);
	ASSERT_LE(0, fd);
	ksft_print_msg("after rmdir: %lld of %zu runs from the parent's pool\n",
		       hits("cached", SZ_1M) - h0, len / SZ_1M);
	EXPECT_EQ(h0 + (long long)(len / SZ_1M), hits("cached", SZ_1M));
	close(fd);
	ASSERT_EQ(0, drain());
	EXPECT_EQ(0, pooled());
	ASSERT_EQ(0, cg_fresh("ion_a"));
}

/* Heap @i's dmem region (heap.<name>.dmem) into @region; 0, or -1 if none. */
static int region_of(int ion, int id, char *region, size_t size)
{
	return ion_heap_stat_str(ion, id, "dmem", region, size);
}

/*
 * dmem.capacity lists a region for every heap of reserved memory, as big as
 * the heap (carveout and chunk; a CMA area's size is its node's), and a heap
 * of the page allocator has none.
 */
TEST_F(cg, dmem_capacity_lists_every_region)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(self->ion, h, ION_NUM_HEAP_IDS), regions = 0;

	if (!self->dmem)
		SKIP(return, "no dmem controller (CONFIG_CGROUP_DMEM)");
	for (int i = 0; i < n; i++) {
		char region[96];
		long long cap;

		if (region_of(self->ion, h[i].heap_id, region, sizeof(region))) {
			/*
			 * Every heap of reserved memory is a region: the default
			 * CMA area too, sized by its linux,cma-default node or
			 * cma= (every test boot has one or the other).
			 */
			EXPECT_TRUE(h[i].type <= ION_HEAP_TYPE_SYSTEM_CONTIG)
				TH_LOG("heap %s has no dmem region", h[i].name);
			continue;
		}
		EXPECT_LT(ION_HEAP_TYPE_SYSTEM_CONTIG, h[i].type);
		cap = cg_get(".", "dmem.capacity", region);
		ksft_print_msg("%s: %s, %lld MiB\n", h[i].name, region, cap >> 20);
		EXPECT_LT(0, cap) TH_LOG("%s not in dmem.capacity", region);
		if (h[i].type != ION_HEAP_TYPE_DMA)
			EXPECT_EQ(ion_heap_stat(self->ion, h[i].heap_id, "max_alloc"), cap);
		regions++;
	}
	ASSERT_LE(1, regions);
}

/*
 * dmem.current of the allocating cgroup follows every buffer of every
 * region to the byte (whole chunks for a chunk heap), on both faces.
 */
TEST_F(cg, dmem_current_follows_allocation_and_free)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(self->ion, h, ION_NUM_HEAP_IDS), checked = 0;

	if (!self->dmem)
		SKIP(return, "no dmem controller (CONFIG_CGROUP_DMEM)");
	ASSERT_EQ(0, cg_enter("ion_a"));
	for (int i = 0; i < n; i++) {
		char region[96];
		long long chunk, want;

		if (region_of(self->ion, h[i].heap_id, region, sizeof(region)))
			continue;
		chunk = ion_heap_stat(self->ion, h[i].heap_id, "chunk_size");
		want = (3 * SZ_1M / 2 + chunk - 1) / chunk * chunk;
		for (int face = FACE_ION; face <= FACE_DMA_HEAP; face++) {
			int fd = alloc_on(face, self->ion, h[i].heap_id, 0, 3 * SZ_1M / 2);

			if (fd == -ENOENT)
				continue;
			ASSERT_LE(0, fd) TH_LOG("%s %s: %s", face_name[face], h[i].name,
						strerror(-fd));
			EXPECT_EQ(want, dmem_current("ion_a", region))
				TH_LOG("%s %s", face_name[face], region);
			EXPECT_EQ(0, dmem_current("ion_b", region));
			close(fd);
			EXPECT_EQ(0, dmem_current("ion_a", region));
			checked++;
		}
	}
	ASSERT_LE(2, checked);
}

/*
 * A child whose dmem.max for a carveout region is 8M holds eight 1 MiB
 * buffers and gets ENOMEM for the ninth, on both faces; its parent still
 * allocates from the region meanwhile.
 */
TEST_F(cg, dmem_max_limits_the_child_not_the_parent)
{
	int id = ion_heap_by_type(self->ion, ION_HEAP_TYPE_CARVEOUT);
	char region[96], limit[128];

	if (!self->dmem)
		SKIP(return, "no dmem controller (CONFIG_CGROUP_DMEM)");
	if (id < 0 || region_of(self->ion, id, region, sizeof(region)))
		SKIP(return, "no carveout heap with a dmem region");
	snprintf(limit, sizeof(limit), "%s 8M", region);
	ASSERT_EQ(0, cg_put("ion_b", "dmem.max", limit));
	for (int face = FACE_ION; face <= FACE_DMA_HEAP; face++) {
		int fds[9], parent;

		ASSERT_EQ(0, cg_enter("ion_b"));
		for (int i = 0; i < 8; i++) {
			fds[i] = alloc_on(face, self->ion, id, 0, SZ_1M);
			ASSERT_LE(0, fds[i]) TH_LOG("%s buffer %d: %s", face_name[face], i,
						    strerror(-fds[i]));
		}
		EXPECT_EQ(8 * SZ_1M, dmem_current("ion_b", region));
		fds[8] = alloc_on(face, self->ion, id, 0, SZ_1M);
		EXPECT_EQ(-ENOMEM, fds[8]);
		EXPECT_EQ(8 * SZ_1M, dmem_current("ion_b", region));
		ASSERT_EQ(0, cg_enter("."));
		parent = alloc_on(face, self->ion, id, 0, SZ_1M);
		EXPECT_LE(0, parent);
		EXPECT_EQ(8 * SZ_1M, dmem_current("ion_b", region));
		if (parent >= 0)
			close(parent);
		for (int i = 0; i < 8; i++)
			close(fds[i]);
		if (fds[8] >= 0)
			close(fds[8]);
		EXPECT_EQ(0, dmem_current("ion_b", region));
	}
}

static void fault_attr(const char *kind, const char *attr, const char *val)
{
	char path[128];
	int r;

	snprintf(path, sizeof(path), "/sys/kernel/debug/%s/%s", kind, attr);
	r = ion_write_file(path, val);
	if (r && r != -ENOENT)
		ksft_print_msg("%s: %s\n", path, strerror(-r));
}

/*
 * ALLOC with its N-th fault-injectable call failing, for N = 1, 2, ... until
 * ALLOC makes fewer than N such calls, each in a new cgroup (so that the
 * dmem controller allocates its per-cgroup state on the way): every failure
 * is ENOMEM and leaves the heap's counters at zero, dmem.current at zero
 * and memory.current below the buffer's size (the charge batch aside). A
 * failure the heap absorbs (a smaller order) still charges exactly. System
 * (memcg) and the first heap of each region kind (dmem).
 */
TEST_F(cg, failed_charges_leave_nothing_behind)
{
	static const int types[] = { ION_HEAP_TYPE_SYSTEM, ION_HEAP_TYPE_CARVEOUT,
				     ION_HEAP_TYPE_CHUNK, ION_HEAP_TYPE_DMA };
	int nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC), walked = 0, failed = 0;
	static const char *const kinds[] = { "failslab", "fail_page_alloc" };

	if (nth < 0)
		SKIP(return, "no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	for (unsigned int k = 0; k < ARRAY_SIZE(kinds); k++) {
		fault_attr(kinds[k], "verbose", "0");
		fault_attr(kinds[k], "ignore-gfp-wait", "N");
	}
	fault_attr("fail_page_alloc", "ignore-gfp-highmem", "N");
	fault_attr("fail_page_alloc", "min-order", "0");
	for (unsigned int t = 0; t < ARRAY_SIZE(types); t++) {
		int id = ion_heap_by_type(self->ion, types[t]), n, fd;
		char region[96] = "", buf[16];

		if (id < 0)
			continue;
		region_of(self->ion, id, region, sizeof(region));
		for (n = 1; n < 1000; n++) {
			long long m0;
			long left;

			ASSERT_EQ(0, cg_enter("."));
			ASSERT_EQ(0, cg_fresh("ion_a"));
			ASSERT_EQ(0, cg_enter("ion_a"));
			m0 = mem_now("ion_a");
			snprintf(buf, sizeof(buf), "%d", n);
			ASSERT_LT(0, pwrite(nth, buf, strlen(buf), 0));
			fd = ion_alloc(self->ion, SZ_1M, 1U << id, ION_FLAG_CACHED);
			memset(buf, 0, sizeof(buf));
			if (pread(nth, buf, sizeof(buf) - 1, 0) < 0)
				buf[0] = 0;
			left = atol(buf);
			pwrite(nth, "0", 1, 0);
			if (fd >= 0) {
				/*
				 * A failure the heap absorbed (a smaller order, or
				 * a run that no pool will keep).
				 */
				if (region[0])
					EXPECT_EQ(SZ_1M, dmem_current("ion_a", region));
				close(fd);
				ASSERT_EQ(0, drain());
			} else {
				failed++;
				ASSERT_EQ(-ENOMEM, fd) TH_LOG("heap %d, call %d: %s", id, n,
							      strerror(-fd));
			}
			ASSERT_EQ(0, ion_heap_stat(self->ion, id, "bytes"));
			ASSERT_EQ(0, ion_heap_stat(self->ion, id, "buffers"));
			if (region[0])
				ASSERT_EQ(0, dmem_current("ion_a", region));
			/*
			 * Less than the buffer: a charge takes a batch of 64
			 * pages into a per-CPU stock (MEMCG_CHARGE_BATCH), so a
			 * cgroup's first charge shows 256 KiB however small.
			 */
			ASSERT_GT((long long)SZ_1M / 2, mem_now("ion_a") - m0)
				TH_LOG("heap %d, call %d: %lld bytes still charged", id, n,
				       mem_now("ion_a") - m0);
			/* ALLOC made fewer than n calls: every one has failed once. */
			if (left > 0)
				break;
		}
		ASSERT_GT(1000, n) TH_LOG("heap %d: the walk did not end", id);
		ksft_print_msg("heap %d (%s): %d fault-injectable calls, %d failures, each clean\n",
			       id, region[0] ? region : "memcg", n - 1, failed);
		walked += failed;
		failed = 0;
	}
	close(nth);
	ASSERT_LE(4, walked);
}

/*
 * Unprivileged users: what rust-ion lists in /sys/devices/faux/ion_rs/charged
 * is what udev/70-ion-rs.rules gives console users (uaccess). The test
 * gives two users, each in a cgroup of its own, those nodes and no other,
 * as the rules would.
 */
#define CHARGED "/sys/devices/faux/ion_rs/charged"
#define USER_A 60001
#define USER_B 60002
#define MAX_NODES 32

/* The paths CHARGED lists; their number, or -errno. */
static int charged_nodes(char nodes[][96], int max)
{
	FILE *f = fopen(CHARGED, "re");
	char line[96];
	int n = 0;

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		snprintf(nodes[n++], 96, "%s", line);
	}
	fclose(f);
	return n;
}

/* Whether @path is one of @nodes. */
static int listed(char nodes[][96], int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(nodes[i], path))
			return 1;
	return 0;
}

/* Sets dmem.max of every dma_heap/ region to @max in @cg. */
static int dmem_max_all(const char *cg, const char *max)
{
	FILE *f = fopen(CG "/dmem.capacity", "re");
	char line[256], region[160], val[200];
	int err = 0;

	if (!f)
		return 0;
	while (!err && fgets(line, sizeof(line), f))
		if (sscanf(line, "%159s", region) == 1 && !strncmp(region, "dma_heap/", 9)) {
			snprintf(val, sizeof(val), "%s %s", region, max);
			err = cg_put(cg, "dmem.max", val);
		}
	fclose(f);
	return err;
}

/* Whether @cg is within memory.max and every dmem.max; -1 and a line if not. */
static int within(const char *cg)
{
	FILE *f;
	char path[160], line[256], region[160];
	long long cur = mem_now(cg), max = cg_get(cg, "memory.max", NULL), lim;

	if (max >= 0 && cur > max) {
		fprintf(stderr, "# %s: memory.current %lld > memory.max %lld\n", cg, cur, max);
		return -1;
	}
	snprintf(path, sizeof(path), CG "/%s/dmem.max", cg);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%159s %lld", region, &lim) == 2 &&
		    dmem_current(cg, region) > lim) {
			fprintf(stderr, "# %s: %s at %lld > dmem.max %lld\n", cg, region,
				dmem_current(cg, region), lim);
			fclose(f);
			return -1;
		}
	fclose(f);
	return 0;
}

/* Moves the caller into @cg and becomes @uid; 0 or -1. */
static int become(const char *cg, uid_t uid)
{
	if (cg_enter(cg) || setgroups(0, NULL) || setgid(uid) || setuid(uid))
		return -1;
	return geteuid() == uid ? 0 : -1;
}

/*
 * In a user's child: 1 MiB buffers from @path (with heap @id and @flags on
 * /dev/ion) until refused, up to @limit of them; holds them in @fds.
 * Returns how many it got, or -1 (with a line) if the refusal was not
 * ENOMEM or the cgroup went past a limit.
 */
static int fill(const char *cg, const char *path, int id, uint32_t flags, int *fds, int limit)
{
	int dev = open(path, O_RDWR | O_CLOEXEC), n = 0, fd = 0;

	if (dev < 0) {
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (; n < limit; n++) {
		fd = id < 0 ? dma_heap_alloc(dev, SZ_1M, O_RDWR | O_CLOEXEC) :
			      ion_alloc(dev, SZ_1M, 1U << id, flags);
		if (fd < 0)
			break;
		fds[n] = fd;
		if (within(cg)) {
			n = -1;
			break;
		}
	}
	close(dev);
	if (n >= 0 && fd != -ENOMEM) {
		fprintf(stderr, "# %s heap %d flags %u: %d buffers, then %s\n", path, id, flags, n,
			fd < 0 ? strerror(-fd) : "never refused");
		n = -1;
	}
	return n;
}

static void close_all(int *fds, int n)
{
	while (n > 0)
		close(fds[--n]);
}

/*
 * User A, in cgroup ion_a at memory.max 32M and dmem.max 4M of every
 * region, allocates from every listed node (every /dev/ion heap, cached and
 * uncached) until refused: ENOMEM each time, never past a limit, pools
 * included, and never an OOM kill. Then, holding a system heap's worth, A
 * waits while user B, in ion_b, allocates 4 MiB from every listed node:
 * B's cgroup pays for B alone, A's is untouched, and a node that is not
 * listed (the kernel's own system heap, say) stays closed to B.
 */
TEST_F(cg, unprivileged_users_are_held_to_their_limits)
{
	char nodes[MAX_NODES][96], path[96], hold[96] = "", shut[96] = "";
	int n = charged_nodes(nodes, MAX_NODES), go[2], ready[2], status, all = 1, held = -1;
	int sys = ion_heap_by_type(self->ion, ION_HEAP_TYPE_SYSTEM), hold_id = -1;
	struct ion_heap_data heaps[32];
	int nheaps = ion_query(self->ion, heaps, 32);
	mode_t modes[MAX_NODES];
	struct stat st;
	long long a_before;
	pid_t a, b;

	ASSERT_LE(0, n) TH_LOG(CHARGED ": %s", strerror(-n));
	ASSERT_LT(0, nheaps);
	for (int i = 0; i < n; i++)
		ksft_print_msg("charged: %s\n", nodes[i]);
	if (!self->memcg)
		SKIP(return, "no memory controller (CONFIG_MEMCG, cgroup2)");
	ASSERT_LE(0, sys);
	/* With accounting on, every system node of ours is listed. */
	for (int i = 0; i < nheaps; i++)
		for (int c = 0; c < 2; c++)
			if (heaps[i].type <= ION_HEAP_TYPE_SYSTEM_CONTIG &&
			    !ion_dma_heap_path(self->ion, heaps[i].heap_id, c ? ION_FLAG_CACHED : 0,
					       path, sizeof(path)))
				EXPECT_TRUE(listed(nodes, n, path))
					TH_LOG("%s is not listed", path);
	/* /dev/ion is listed exactly when every heap is charged. */
	for (int i = 0; i < nheaps; i++) {
		char region[96] = "";

		if (heaps[i].type > ION_HEAP_TYPE_SYSTEM_CONTIG &&
		    region_of(self->ion, heaps[i].heap_id, region, sizeof(region)))
			all = 0;
	}
	EXPECT_EQ(all, listed(nodes, n, "/dev/ion"));
	/* What A holds while B runs: the system heap, through a listed node. */
	if (listed(nodes, n, "/dev/ion")) {
		snprintf(hold, sizeof(hold), "/dev/ion");
		hold_id = sys;
	} else if (!ion_dma_heap_path(self->ion, sys, 0, path, sizeof(path)) &&
		   listed(nodes, n, path)) {
		snprintf(hold, sizeof(hold), "%s", path);
	}
	/* What B must not open: a heap node (or /dev/ion) that is not listed. */
	if (!listed(nodes, n, "/dev/ion"))
		snprintf(shut, sizeof(shut), "/dev/ion");
	else if (!listed(nodes, n, "/dev/dma_heap/system") && !access("/dev/dma_heap/system", F_OK))
		snprintf(shut, sizeof(shut), "/dev/dma_heap/system");
	ASSERT_EQ(0, cg_put("ion_a", "memory.max", "32M"));
	ASSERT_EQ(0, cg_put("ion_b", "memory.max", "32M"));
	if (self->dmem) {
		ASSERT_EQ(0, dmem_max_all("ion_a", "4M"));
		ASSERT_EQ(0, dmem_max_all("ion_b", "4M"));
	}
	/* uaccess, as the rules would give it: the listed nodes only. */
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(0, stat(nodes[i], &st)) TH_LOG("%s: %s", nodes[i], strerror(errno));
		modes[i] = st.st_mode & 07777;
		ASSERT_EQ(0, chmod(nodes[i], 0666));
	}
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	a = fork();
	ASSERT_LE(0, a);
	if (!a) {
		static int fds[1024];
		int got = 0;
		char c;

		close(go[1]);
		close(ready[0]);
		if (become("ion_a", USER_A))
			_exit(2);
		for (int i = 0; i < n; i++) {
			int ion = !strcmp(nodes[i], "/dev/ion");

			for (int h = 0; h < (ion ? nheaps : 1); h++)
				for (int c = 0; c < (ion ? 2 : 1); c++) {
					int id = ion ? (int)heaps[h].heap_id : -1;

					got = fill("ion_a", nodes[i], id, c ? ION_FLAG_CACHED : 0,
						   fds, 1024);
					if (got < 0)
						_exit(3);
					close_all(fds, got);
				}
		}
		/* Full again, and held while B allocates. */
		got = hold[0] ? fill("ion_a", hold, hold_id, 0, fds, 1024) : 0;
		if (got < 0)
			_exit(4);
		if (write(ready[1], &got, sizeof(got)) != sizeof(got) || read(go[0], &c, 1) != 1)
			_exit(5);
		_exit(within("ion_a") ? 6 : 0);
	}
	close(go[0]);
	close(ready[1]);
	ASSERT_EQ(sizeof(held), read(ready[0], &held, sizeof(held)))
		TH_LOG("user A stopped early");
	ksft_print_msg("user A: ENOMEM on each of %d nodes, within its limits\n", n);
	ksft_print_msg("user A holds %d MiB of %s\n", held, hold[0] ? hold : "nothing");
	a_before = mem_now("ion_a");
	b = fork();
	ASSERT_LE(0, b);
	if (!b) {
		static int fds[4];

		if (become("ion_b", USER_B))
			_exit(2);
		if (shut[0] && (open(shut, O_RDWR | O_CLOEXEC) >= 0 || errno != EACCES)) {
			fprintf(stderr, "# user B opened %s, which is not listed\n", shut);
			_exit(3);
		}
		for (int i = 0; i < n; i++) {
			int ion = !strcmp(nodes[i], "/dev/ion");
			int dev = open(nodes[i], O_RDWR | O_CLOEXEC);

			if (dev < 0)
				_exit(4);
			for (int h = 0; h < (ion ? nheaps : 1); h++) {
				for (int k = 0; k < 4; k++) {
					uint32_t mask = 1U << heaps[h].heap_id;

					fds[k] = ion ? ion_alloc(dev, SZ_1M, mask, 0) :
						dma_heap_alloc(dev, SZ_1M, O_RDWR | O_CLOEXEC);
					if (fds[k] < 0) {
						fprintf(stderr, "# user B: %s: %s\n", nodes[i],
							strerror(-fds[k]));
						_exit(5);
					}
				}
				if (within("ion_b"))
					_exit(6);
				close_all(fds, 4);
			}
			close(dev);
		}
		_exit(0);
	}
	ASSERT_EQ(b, waitpid(b, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("user B was killed");
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* B paid for its own: its freed system pages are pooled, charged to it. */
	if (hold[0])
		EXPECT_LE((long long)(3 * SZ_1M), mem_now("ion_b"));
	/* A's cgroup is untouched by B: what it held, within 1 MiB. */
	EXPECT_TRUE(NEAR(mem_now("ion_a"), a_before))
		TH_LOG("ion_a %lld, was %lld", mem_now("ion_a"), a_before);
	ASSERT_EQ(1, write(go[1], "x", 1));
	ASSERT_EQ(a, waitpid(a, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("user A was killed");
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, cg_get("ion_a", "memory.events", "oom_kill"));
	EXPECT_EQ(0, cg_get("ion_b", "memory.events", "oom_kill"));
	for (int i = 0; i < n; i++)
		chmod(nodes[i], modes[i]);
	close(go[1]);
	close(ready[0]);
	ASSERT_EQ(0, drain());
}

TEST_HARNESS_MAIN
