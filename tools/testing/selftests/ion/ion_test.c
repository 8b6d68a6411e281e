// SPDX-License-Identifier: GPL-2.0
/*
 * rust-ion's selftests: the ABI of staging Ion (4.12 - 5.10) and the dma-buf
 * caching model, against every registered heap and both cache modes.
 * Every test checks that heap usage is back to zero when it is done.
 */
#include <limits.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "ion_util.h"

#define SZ_64K	0x10000UL
#define SZ_1M	0x100000UL

/* Variants heap0 .. heap7: a machine with more heaps fails heap_slots. */
#define HEAP_SLOTS 8

static int open_ion(struct __test_metadata *_metadata)
{
	int fd = open("/dev/ion", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd) TH_LOG("open /dev/ion: %s", strerror(errno));
	return fd;
}

static long long total_bytes(int ion)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS);
	long long sum = 0;

	for (int i = 0; i < n; i++)
		sum += ion_heap_stat(ion, h[i].heap_id, "bytes");
	return sum;
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* ---- HEAP_QUERY ---- */

TEST(heap_query_count)
{
	struct ion_heap_query q = { 0 };
	int ion = open_ion(_metadata);

	ASSERT_EQ(0, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_LE(1, q.cnt);
	ASSERT_GE(ION_NUM_HEAP_IDS, q.cnt);
	close(ion);
}

/*
 * Ion-era userspace sizes its HEAP_QUERY array for the five standard types
 * (ION_HEAP_TYPE_CUSTOM entries) and looks in it for a heap by type: the
 * answer comes lowest id first, so on the eight-heap test board those five
 * are ids 0 to 4, one heap of each standard type.
 */
TEST(heap_query_of_five_finds_the_standard_heaps)
{
	struct ion_heap_data h[ION_HEAP_TYPE_CUSTOM];
	struct ion_heap_query q = { .cnt = ION_HEAP_TYPE_CUSTOM, .heaps = (uintptr_t)h };
	const char *which = getenv("ION_HEAPS");
	int ion = open_ion(_metadata);

	ASSERT_EQ(0, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_LE(1, q.cnt);
	ASSERT_GE(ION_HEAP_TYPE_CUSTOM, q.cnt);
	for (unsigned int i = 1; i < q.cnt; i++)
		ASSERT_LT(h[i - 1].heap_id, h[i].heap_id);
	if (which && !strcmp(which, "dt")) {
		ASSERT_EQ(ION_HEAP_TYPE_CUSTOM, q.cnt);
		for (unsigned int i = 0; i < q.cnt; i++) {
			ASSERT_EQ(i, h[i].heap_id);
			ASSERT_EQ(i, h[i].type);
		}
	}
	close(ion);
}

TEST(heap_query_records)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS + 1];
	struct ion_heap_query q = { .cnt = ION_NUM_HEAP_IDS + 1, .heaps = (uintptr_t)h };
	int ion = open_ion(_metadata), found = 0;

	memset(h, 0xff, sizeof(h));
	ASSERT_EQ(0, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_LE(1, q.cnt);
	for (unsigned int i = 0; i < q.cnt; i++) {
		size_t l = strnlen(h[i].name, MAX_HEAP_NAME);

		ASSERT_GT(MAX_HEAP_NAME, l);
		for (size_t j = l; j < MAX_HEAP_NAME; j++)
			ASSERT_EQ(0, h[i].name[j]);
		ASSERT_EQ(0, h[i].reserved0);
		ASSERT_EQ(0, h[i].reserved1);
		ASSERT_EQ(0, h[i].reserved2);
		ASSERT_GT(ION_NUM_HEAP_IDS, h[i].heap_id);
		/* Ids are unique, lowest first. */
		if (i)
			ASSERT_LT(h[i - 1].heap_id, h[i].heap_id);
		if (h[i].heap_id == 0) {
			ASSERT_STREQ("ion_system_heap", h[i].name);
			ASSERT_EQ(ION_HEAP_TYPE_SYSTEM, h[i].type);
			found = 1;
		}
	}
	/* The first heap of each standard type (its lowest id) keeps id == type. */
	for (unsigned int t = 0; t <= ION_HEAP_TYPE_DMA; t++) {
		int first = -1;

		for (unsigned int i = 0; i < q.cnt; i++)
			if (h[i].type == t && (first < 0 || (int)h[i].heap_id < first))
				first = h[i].heap_id;
		if (first >= 0)
			ASSERT_EQ(t, first);
	}
	/* Nothing is written past the records that were copied. */
	ASSERT_EQ((char)0xff, h[q.cnt].name[0]);
	ASSERT_TRUE(found);
	close(ion);
}

TEST(heap_query_partial)
{
	struct ion_heap_data h[2];
	struct ion_heap_query q = { .cnt = 1, .heaps = (uintptr_t)h };
	int ion = open_ion(_metadata);

	memset(h, 0xee, sizeof(h));
	ASSERT_EQ(0, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_EQ(1, q.cnt);
	ASSERT_EQ((char)0xee, h[1].name[0]);
	close(ion);
}

TEST(heap_query_errors)
{
	struct ion_heap_data h[4];
	struct ion_heap_query q;
	int ion = open_ion(_metadata);

	q = (struct ion_heap_query){ .cnt = 0, .heaps = (uintptr_t)h };
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_EQ(EINVAL, errno);
	q = (struct ion_heap_query){ .cnt = 4, .heaps = (uintptr_t)h, .reserved0 = 1 };
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_EQ(EINVAL, errno);
	q = (struct ion_heap_query){ .cnt = 4, .heaps = (uintptr_t)h, .reserved1 = 1 };
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_EQ(EINVAL, errno);
	q = (struct ion_heap_query){ .cnt = 4, .heaps = (uintptr_t)h, .reserved2 = 1 };
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_EQ(EINVAL, errno);
	q = (struct ion_heap_query){ .cnt = 4, .heaps = 8 };
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_HEAP_QUERY, &q));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_HEAP_QUERY, (void *)8));
	ASSERT_EQ(EFAULT, errno);
	close(ion);
}

/* ---- ALLOC errors and fd hygiene ---- */

TEST(alloc_errno_table)
{
	int ion = open_ion(_metadata);
	int sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	uint32_t all = 0;
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n = ion_query(ion, h, ION_NUM_HEAP_IDS), before = count_fds();
	uint32_t legacy = 0;

	ASSERT_LE(0, sys);
	for (int i = 0; i < n; i++)
		all |= 1U << h[i].heap_id;
	ASSERT_EQ(-EINVAL, ion_alloc(ion, 0, 1U << sys, 0));
	ASSERT_EQ(-EINVAL, ion_alloc(ion, ~0ULL, 1U << sys, 0));
	ASSERT_EQ(-EINVAL, ion_alloc(ion, ~0ULL - ION_PAGE + 2, 1U << sys, 0));
	ASSERT_EQ(-ENODEV, ion_alloc(ion, ION_PAGE, 0, 0));
	if (~all)
		ASSERT_EQ(-ENODEV, ion_alloc(ion, ION_PAGE, ~all, 0));
	/* More than half of RAM in one buffer. */
	ASSERT_EQ(-ENOMEM, ion_alloc(ion, (uint64_t)sysconf(_SC_PHYS_PAGES) *
				     sysconf(_SC_PAGESIZE), 1U << sys, 0));
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_ALLOC, (void *)8));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(ion, _IOWR(ION_IOC_MAGIC, 42, struct ion_allocation_data), NULL));
	ASSERT_EQ(ENOTTY, errno);
	/* The legacy FREE, which libion probes to tell the ABIs apart. */
	ASSERT_EQ(-1, ioctl(ion, 0xc0044901, &legacy));
	ASSERT_EQ(ENOTTY, errno);
	ASSERT_EQ(before, count_fds());
	ASSERT_EQ(0, total_bytes(ion));
	close(ion);
}

TEST(alloc_fd_flags_and_legacy_flag)
{
	int ion = open_ion(_metadata);
	int sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	int fd = ion_alloc(ion, ION_PAGE, 1U << sys, 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	close(fd);
	/* ION_FLAG_CACHED_NEEDS_SYNC (2), removed in 4.12, still succeeds. */
	fd = ion_alloc(ion, ION_PAGE, 1U << sys, 3);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, total_bytes(ion));
	close(ion);
}

/*
 * ALLOC's length has no page size in the ABI: the buffer is the length
 * rounded up to whole pages of the running kernel, so a 4 KiB buffer is
 * 16 KiB on a 16 KiB-page kernel. The dma-buf's size says so.
 */
TEST(alloc_rounds_up_to_the_kernels_pages)
{
	int ion = open_ion(_metadata);
	int sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	/* 4 KiB as a length userspace asks for, whatever the page size. */
	const uint64_t kib4 = 4 << 10;
	const uint64_t lens[] = { 1, kib4, ION_PAGE, ION_PAGE + 1, 3 * kib4 };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		uint64_t want = (lens[i] + ION_PAGE - 1) / ION_PAGE * ION_PAGE;
		int fd = ion_alloc(ion, lens[i], 1U << sys, 0);

		ASSERT_LE(0, fd);
		EXPECT_EQ((off_t)want, lseek(fd, 0, SEEK_END))
			TH_LOG("ALLOC %llu on %zu-byte pages",
			       (unsigned long long)lens[i], ION_PAGE);
		close(fd);
	}
	ASSERT_EQ(0, total_bytes(ion));
	close(ion);
}

TEST(alloc_result_not_copyable_leaves_no_fd)
{
	int ion = open_ion(_metadata);
	int sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	struct ion_allocation_data *d;
	int before, probe;

	d = mmap(NULL, ION_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(d != MAP_FAILED);
	*d = (struct ion_allocation_data){ .len = SZ_64K, .heap_id_mask = 1U << sys };
	ASSERT_EQ(0, mprotect(d, ION_PAGE, PROT_READ));
	before = count_fds();
	probe = dup(0);
	close(probe);
	ASSERT_EQ(-1, ioctl(ion, ION_IOC_ALLOC, d));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(before, count_fds());
	/* The lowest free fd is still free: nothing was installed there. */
	ASSERT_EQ(probe, dup(0));
	close(probe);
	ASSERT_EQ(0, total_bytes(ion));
	munmap(d, ION_PAGE);
	close(ion);
}

/*
 * unused: staging Ion never checked it, so rust-ion ignores it too (old
 * userspace that leaves it unset keeps working) and copies it back as is.
 */
TEST(alloc_unused_field_is_ignored)
{
	int ion = open_ion(_metadata);
	int sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	struct ion_allocation_data d = {
		.len = ION_PAGE, .heap_id_mask = 1U << sys, .unused = 0xdeadbeef,
	};

	ASSERT_EQ(0, ioctl(ion, ION_IOC_ALLOC, &d));
	ASSERT_EQ(0xdeadbeef, d.unused);
	ASSERT_LE(0, (int)d.fd);
	close(d.fd);
	ASSERT_EQ(0, total_bytes(ion));
	close(ion);
}

/* Free blocks of at least @order pages in /proc/buddyinfo, all zones. */
static long free_blocks_from(int order)
{
	char line[512];
	long sum = 0;
	FILE *f = fopen("/proc/buddyinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "zone");
		int o = 0, n;
		long v;

		if (!p)
			continue;
		p += 4;
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;	/* the zone's name */
		while (sscanf(p, " %ld%n", &v, &n) == 1) {
			if (o++ >= order)
				sum += v << (o - 1 - order);
			p += n;
		}
	}
	fclose(f);
	return sum;
}

/*
 * The contig heap gives its runs back whole: 1024 rounds of a 2 MiB buffer
 * leave about as many free 2 MiB blocks as before, even without compaction
 * (the debug kernel has none). Page-by-page freeing lost them to the per-cpu
 * lists, and ran out after about 500 rounds.
 */
TEST(contig_rounds_give_whole_blocks_back)
{
	int ion = open_ion(_metadata), id = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM_CONTIG);
	int order = 21 - __builtin_ctzl(sysconf(_SC_PAGESIZE));
	long before, after;

	if (id < 0)
		SKIP(return, "no system-contig heap");
	before = free_blocks_from(order);
	ASSERT_LT(8, before);
	for (int i = 0; i < 1024; i++) {
		int fd = ion_alloc(ion, 2 * SZ_1M, 1U << id, ION_FLAG_CACHED);

		ASSERT_LE(0, fd) TH_LOG("round %d: %s", i, strerror(-fd));
		close(fd);
	}
	after = free_blocks_from(order);
	TH_LOG("free 2 MiB blocks: %ld before, %ld after 1024 rounds", before, after);
	ASSERT_LE(before * 9 / 10, after);
	close(ion);
}

struct want_heap {
	uint32_t id, type;
	const char *name;
};

/*
 * Every device-tree node is one heap (scripts/guest/ion-heaps.dtsi): the
 * first of each kind keeps its kind's id and name, video asks for id 12
 * and a name, the others take the lowest free id and the Ion name their
 * node gives (rust-ion,name: old userspace's names stay).
 */
static const struct want_heap dt_heaps[] = {
	{ 0, ION_HEAP_TYPE_SYSTEM, "ion_system_heap" },
	{ 1, ION_HEAP_TYPE_SYSTEM_CONTIG, "ion_system_contig_heap" },
	{ 2, ION_HEAP_TYPE_CARVEOUT, "ion_carveout_heap" },
	{ 3, ION_HEAP_TYPE_CHUNK, "ion_chunk_heap" },
	{ 4, ION_HEAP_TYPE_DMA, "ion_cma_heap" },
	{ 5, ION_HEAP_TYPE_CARVEOUT, "camera_carveout_heap" },
	{ 6, ION_HEAP_TYPE_DMA, "display_cma_heap" },
	{ 12, ION_HEAP_TYPE_CHUNK, "video_chunk_heap" },
};

/*
 * x86 has no device tree: the carveout is carved out of the default CMA
 * area (carveout_cma_mb), the CMA heap uses that area, and there is no
 * chunk heap.
 */
static const struct want_heap x86_heaps[] = {
	{ 0, ION_HEAP_TYPE_SYSTEM, "ion_system_heap" },
	{ 1, ION_HEAP_TYPE_SYSTEM_CONTIG, "ion_system_contig_heap" },
	{ 2, ION_HEAP_TYPE_CARVEOUT, "ion_carveout_heap" },
	{ 4, ION_HEAP_TYPE_DMA, "ion_cma_heap" },
};

/*
 * The guest names the heaps it must have (ION_HEAPS, from the kernel
 * command line): a heap that failed to register, or one too many, fails
 * here instead of turning the per-heap tests into skips.
 */
TEST(expected_heaps)
{
	const char *which = getenv("ION_HEAPS");
	const struct want_heap *want;
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int ion, n, count;

	if (!which || !*which)
		SKIP(return, "ION_HEAPS is not set: not one of rust-ion's guests");
	if (!strcmp(which, "dt")) {
		want = dt_heaps;
		count = ARRAY_SIZE(dt_heaps);
		ASSERT_EQ(0, access("/proc/device-tree/reserved-memory/camera", F_OK))
			TH_LOG("ION_HEAPS=dt without the test device tree");
	} else if (!strcmp(which, "x86")) {
		want = x86_heaps;
		count = ARRAY_SIZE(x86_heaps);
	} else {
		ASSERT_TRUE(0) TH_LOG("ION_HEAPS=%s: want dt or x86", which);
	}
	ion = open_ion(_metadata);
	n = ion_query(ion, h, ION_NUM_HEAP_IDS);
	for (int i = 0; i < n; i++)
		TH_LOG("heap %u %s type %u", h[i].heap_id, h[i].name, h[i].type);
	ASSERT_EQ(count, n);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(want[i].id, h[i].heap_id);
		ASSERT_EQ(want[i].type, h[i].type);
		ASSERT_STREQ(want[i].name, h[i].name);
	}
	/* The second chunk heap has its own chunk size. */
	if (want == dt_heaps)
		ASSERT_EQ(1 << 20, ion_heap_stat(ion, 12, "chunk_size"));
	close(ion);
}

/* Every heap has a variant below: none goes untested. */
TEST(heap_slots)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int ion = open_ion(_metadata);

	ASSERT_GE(HEAP_SLOTS, ion_query(ion, h, ION_NUM_HEAP_IDS));
	close(ion);
}

/* ---- Per heap and cache mode ---- */

FIXTURE(heap) {
	int ion;
	int id;
	uint32_t type;
	/* The heap's /dev/dma_heap node when ION_FACE=dma_heap, else -1. */
	int node;
};

FIXTURE_VARIANT(heap) {
	/* The heap's place in HEAP_QUERY's answer: every heap is tested. */
	int index;
	uint32_t flags;
};

FIXTURE_VARIANT_ADD(heap, heap0_cached) {
	.index = 0, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap0_uncached) {
	.index = 0, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap1_cached) {
	.index = 1, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap1_uncached) {
	.index = 1, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap2_cached) {
	.index = 2, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap2_uncached) {
	.index = 2, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap3_cached) {
	.index = 3, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap3_uncached) {
	.index = 3, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap4_cached) {
	.index = 4, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap4_uncached) {
	.index = 4, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap5_cached) {
	.index = 5, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap5_uncached) {
	.index = 5, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap6_cached) {
	.index = 6, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap6_uncached) {
	.index = 6, .flags = 0,
};

FIXTURE_VARIANT_ADD(heap, heap7_cached) {
	.index = 7, .flags = ION_FLAG_CACHED,
};

FIXTURE_VARIANT_ADD(heap, heap7_uncached) {
	.index = 7, .flags = 0,
};

/* The largest buffer a test asks of a heap: half of what it can give. */
static size_t heap_cap(int ion, int id)
{
	long long m = ion_heap_stat(ion, id, "max_alloc");

	return m > 0 ? (size_t)m / 2 : 8 * SZ_1M;
}

/* What the heap accounts for a buffer of @len bytes. */
static long long heap_bytes_for(int ion, int id, size_t len)
{
	long long c = ion_heap_stat(ion, id, "chunk_size");

	return (len + c - 1) / c * c;
}

static int is_region_heap(uint32_t type)
{
	return type == ION_HEAP_TYPE_CARVEOUT || type == ION_HEAP_TYPE_CHUNK ||
	       type == ION_HEAP_TYPE_DMA;
}

/*
 * With ION_FACE=dma_heap every per-heap test allocates through the heap's
 * /dev/dma_heap node for the variant's cache mode, so that both faces pass
 * the same tests.
 */
static int open_node(int ion, int id, uint32_t flags)
{
	const char *face = getenv("ION_FACE");
	char path[96];

	if (!face || strcmp(face, "dma_heap"))
		return -1;
	if (ion_dma_heap_name_taken(ion, id, flags))
		return -3;
	if (ion_dma_heap_path(ion, id, flags, path, sizeof(path)))
		return -2;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* @self is FIXTURE_DATA(heap), spelt as the harness defines it. */
static int heap_alloc(struct _test_data_heap *self, uint64_t len, uint32_t flags)
{
	if (self->node >= 0)
		return dma_heap_alloc(self->node, len, O_RDWR | O_CLOEXEC);
	return ion_alloc(self->ion, len, 1U << self->id, flags);
}

FIXTURE_SETUP(heap)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	int n;

	self->node = -1;
	self->ion = open_ion(_metadata);
	self->id = -1;
	n = ion_query(self->ion, h, ION_NUM_HEAP_IDS);
	if (variant->index >= n)
		SKIP(return, "%d heaps: no heap %d", n, variant->index);
	self->id = h[variant->index].heap_id;
	self->type = h[variant->index].type;
	self->node = open_node(self->ion, self->id, variant->flags);
	/* The heap's memory is the kernel heap's of the same name: no node. */
	if (self->node == -3)
		SKIP(return, "its dma-heap name is taken by the kernel's own heap");
	ASSERT_NE(-2, self->node);
	if (getenv("ION_FACE"))
		ASSERT_LE(0, self->node) TH_LOG("no dma-heap node: %s", strerror(errno));
	ASSERT_EQ(0, ion_heap_stat(self->ion, self->id, "bytes"));
}

FIXTURE_TEARDOWN(heap)
{
	/* Whatever the test did, the heap is empty again. */
	if (self->id >= 0) {
		EXPECT_EQ(0, ion_heap_stat(self->ion, self->id, "bytes"));
		EXPECT_EQ(0, ion_heap_stat(self->ion, self->id, "buffers"));
	}
	EXPECT_EQ(0, ion_stat("attachments"));
	EXPECT_EQ(ion_stat("maps"), ion_stat("unmaps"));
	if (self->node >= 0)
		close(self->node);
	close(self->ion);
}

static int all_bytes(const unsigned char *p, size_t len, unsigned char v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/* The value of "@key:\t" in /proc/self/fdinfo/@fd, or "" if absent. */
static void fdinfo_value(int fd, const char *key, char *out, size_t size)
{
	char path[64], line[256];
	size_t l = strlen(key);
	FILE *f;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, l) && line[l] == ':') {
			const char *v = line + l + 1 + strspn(line + l + 1, " \t");
			size_t n = strcspn(v, "\n");

			if (n >= size)
				n = size - 1;
			memcpy(out, v, n);
			out[n] = 0;
			break;
		}
	fclose(f);
}

/*
 * A buffer's exporter name is its heap's memory name, on both faces (what
 * Android's dmabuf_dump totals by), never "ion"; DMA_BUF_SET_NAME still
 * names the buffer itself.
 */
TEST_F(heap, exp_name_in_fdinfo_names_the_heap)
{
	char want[128], got[128];
	int fd = heap_alloc(self, ION_PAGE, variant->flags);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ion_heap_stat_str(self->ion, self->id, "exp_name", want, sizeof(want)));
	ASSERT_NE(0, strcmp(want, "ion"));
	fdinfo_value(fd, "exp_name", got, sizeof(got));
	ASSERT_STREQ(want, got);
	ASSERT_EQ(0, ioctl(fd, DMA_BUF_SET_NAME_B, "ion_test-buffer"));
	fdinfo_value(fd, "name", got, sizeof(got));
	ASSERT_STREQ("ion_test-buffer", got);
	fdinfo_value(fd, "exp_name", got, sizeof(got));
	ASSERT_STREQ(want, got);
	close(fd);
}

TEST_F(heap, zeroed_at_every_size_and_after_reuse)
{
	const size_t sizes[] = {
		ION_PAGE, 2 * ION_PAGE, SZ_64K - ION_PAGE, SZ_64K, SZ_1M, SZ_1M + SZ_64K + ION_PAGE,
		8 * SZ_1M, 64 * SZ_1M,
	};

	size_t cap = heap_cap(self->ion, self->id);

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(sizes) && sizes[i] <= cap; i++) {
			int fd = heap_alloc(self, sizes[i], variant->flags);
			unsigned char *p;

			ASSERT_LE(0, fd) TH_LOG("size %zu: %s", sizes[i], strerror(-fd));
			ASSERT_EQ(heap_bytes_for(self->ion, self->id, sizes[i]),
				  ion_heap_stat(self->ion, self->id, "bytes"));
			p = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			ASSERT_TRUE(p != MAP_FAILED);
			ASSERT_TRUE(all_bytes(p, sizes[i], 0))
				TH_LOG("size %zu round %d", sizes[i], round);
			/* Dirty it, so that reuse in the next round would show. */
			memset(p, 0xab, sizes[i]);
			munmap(p, sizes[i]);
			close(fd);
		}
	}
}

TEST_F(heap, two_mappings_at_an_offset_and_partial_munmap)
{
	size_t len = SZ_1M + 16 * ION_PAGE;
	int fd = heap_alloc(self, len, variant->flags);
	unsigned char *a, *b;

	ASSERT_LE(0, fd);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(a != MAP_FAILED);
	/* B maps two pages that straddle the first (1 MiB) chunk's end. */
	b = mmap(NULL, 2 * ION_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, SZ_1M - ION_PAGE);
	ASSERT_TRUE(b != MAP_FAILED);
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW));
	memset(a + SZ_1M - ION_PAGE, 0x11, ION_PAGE);
	memset(a + SZ_1M, 0x22, ION_PAGE);
	ASSERT_TRUE(all_bytes(b, ION_PAGE, 0x11));
	ASSERT_TRUE(all_bytes(b + ION_PAGE, ION_PAGE, 0x22));
	memset(b + 100, 0x33, 10);
	ASSERT_TRUE(all_bytes(a + SZ_1M - ION_PAGE + 100, 10, 0x33));
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW));
	/* Partial munmap: the rest of A stays mapped and right. */
	ASSERT_EQ(0, munmap(a + ION_PAGE, ION_PAGE));
	ASSERT_TRUE(all_bytes(a + SZ_1M, ION_PAGE, 0x22));
	a[0] = 0x44;
	ASSERT_EQ(0x44, a[0]);
	/* Past the end is refused. */
	ASSERT_TRUE(mmap(NULL, 2 * ION_PAGE, PROT_READ, MAP_SHARED, fd, len - ION_PAGE) ==
		    MAP_FAILED);
	munmap(a, ION_PAGE);
	munmap(a + 2 * ION_PAGE, len - 2 * ION_PAGE);
	munmap(b, 2 * ION_PAGE);
	close(fd);
}

/*
 * Lengths no heap can give are ENOMEM before any metadata is sized from
 * them: the chunk heap used to ask kmalloc for a list sized by len and
 * warn (a crash under panic_on_warn). The console check fails on the
 * WARNING; the errno is checked here.
 */
TEST_F(heap, absurd_lengths_are_enomem_without_a_warning)
{
	const uint64_t lens[] = { 0x500000000ULL, 1ULL << 40, 1ULL << 46 };
	long long max = ion_heap_stat(self->ion, self->id, "max_alloc");

	for (unsigned int i = 0; i < ARRAY_SIZE(lens); i++) {
		uint64_t len = lens[i];

		ASSERT_EQ(-ENOMEM, heap_alloc(self, len, variant->flags))
			TH_LOG("len %#llx", (unsigned long long)len);
	}
	if (max > 0)
		ASSERT_EQ(-ENOMEM, heap_alloc(self, max + ION_PAGE, variant->flags));
}

/* Private mappings are EINVAL on every buffer, one run or many. */
TEST_F(heap, private_mappings_are_einval)
{
	size_t len = heap_cap(self->ion, self->id) < 4 * SZ_1M ?
		     heap_cap(self->ion, self->id) : 4 * SZ_1M;
	int fd = heap_alloc(self, len, variant->flags);
	void *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(p == MAP_FAILED);
	ASSERT_EQ(EINVAL, errno);
	p = mmap(NULL, ION_PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(p == MAP_FAILED);
	ASSERT_EQ(EINVAL, errno);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	munmap(p, len);
	close(fd);
}

TEST_F(heap, mapping_keeps_the_buffer_after_close)
{
	int fd = heap_alloc(self, SZ_64K, variant->flags);
	unsigned char *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, SZ_64K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	close(fd);
	/* The mapping holds the last reference: the buffer is still there. */
	p[SZ_64K - 1] = 0x5e;
	ASSERT_EQ(0x5e, p[SZ_64K - 1]);
	ASSERT_EQ(heap_bytes_for(self->ion, self->id, SZ_64K),
		  ion_heap_stat(self->ion, self->id, "bytes"));
	ASSERT_EQ(0, munmap(p, SZ_64K));
	ASSERT_EQ(0, ion_heap_stat(self->ion, self->id, "bytes"));
}

TEST_F(heap, sync_ioctl_without_importers)
{
	int fd = heap_alloc(self, SZ_64K, variant->flags);
	long long cpu = ion_stat("syncs_for_cpu"), dev = ion_stat("syncs_for_device");

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE));
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE));
	ASSERT_EQ(-EINVAL, dmabuf_sync(fd, 0x80));
	/* Nothing is mapped for a device, so nothing is synced. */
	ASSERT_EQ(cpu, ion_stat("syncs_for_cpu"));
	ASSERT_EQ(dev, ion_stat("syncs_for_device"));
	close(fd);
}

/*
 * vgem in 7.3 imports with drm_gem_shmem_prime_import_no_map(): it attaches
 * and never maps. That makes it the check that only *mapped* attachments
 * are synced: with a live, unmapped attachment, SYNC syncs nothing. (The
 * mapped path is proven by the rust_ion_buffer KUnit suite under swiotlb.)
 */
TEST_F(heap, vgem_import_sync_and_close_in_every_order)
{
	int card = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, card) TH_LOG("vgem: %s", strerror(errno));
	for (int order = 0; order < 2; order++) {
		int fd = heap_alloc(self, SZ_64K * 2, variant->flags);
		long long maps = ion_stat("maps"), cpu, dev;
		uint32_t handle = 0;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, vgem_import(card, fd, &handle));
		ASSERT_EQ(1, ion_stat("attachments"));
		ASSERT_EQ(maps, ion_stat("maps"));
		cpu = ion_stat("syncs_for_cpu");
		dev = ion_stat("syncs_for_device");
		ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW));
		ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW));
		ASSERT_EQ(cpu, ion_stat("syncs_for_cpu"));
		ASSERT_EQ(dev, ion_stat("syncs_for_device"));
		if (order == 0) {
			vgem_close(card, handle);
			ASSERT_EQ(0, ion_stat("attachments"));
			ASSERT_EQ(heap_bytes_for(self->ion, self->id, SZ_64K * 2),
				  ion_heap_stat(self->ion, self->id, "bytes"));
			close(fd);
		} else {
			/* The importer keeps the buffer alive after the fd is gone. */
			close(fd);
			ASSERT_EQ(heap_bytes_for(self->ion, self->id, SZ_64K * 2),
				  ion_heap_stat(self->ion, self->id, "bytes"));
			ASSERT_EQ(1, ion_stat("attachments"));
			vgem_close(card, handle);
		}
		ASSERT_EQ(0, ion_heap_stat(self->ion, self->id, "bytes"));
	}
	close(card);
}

TEST_F(heap, fork_and_exit_with_live_buffers)
{
	int fd = heap_alloc(self, SZ_1M, variant->flags);
	unsigned char *p;
	pid_t pid;
	int status;

	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child maps the inherited buffer, allocates its own and exits. */
		int mine;

		p = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		mine = heap_alloc(self, 2 * SZ_1M, variant->flags);

		if (p == MAP_FAILED || mine < 0)
			_exit(1);
		p[0] = 0x77;
		if (mmap(NULL, 2 * SZ_1M, PROT_READ, MAP_SHARED, mine, 0) == MAP_FAILED)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(SZ_1M, ion_heap_stat(self->ion, self->id, "bytes"));
	p = mmap(NULL, SZ_1M, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_EQ(0x77, p[0]);
	munmap(p, SZ_1M);
	close(fd);
}

static int send_fd(int sock, int fd)
{
	char byte = 'f', cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -errno;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * The way Android and Linux processes share buffers: the fd travels over a
 * unix socket (SCM_RIGHTS); each side maps it and sees what the other
 * wrote, with the writes bracketed by DMA_BUF_IOCTL_SYNC.
 */
TEST_F(heap, fd_passed_over_a_unix_socket_shares_the_data)
{
	int sv[2], fd, status;
	unsigned char *p;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The importer: gets the fd, checks the first half, writes the second. */
		int got = recv_fd(sv[1]);

		if (got < 0)
			_exit(1);
		p = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, got, 0);
		if (p == MAP_FAILED)
			_exit(2);
		dmabuf_sync(got, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
		for (size_t i = 0; i < SZ_1M / 2; i++)
			if (p[i] != 0xa1)
				_exit(3);
		memset(p + SZ_1M / 2, 0xb2, SZ_1M / 2);
		dmabuf_sync(got, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
		_exit(write(sv[1], "d", 1) == 1 ? 0 : 4);
	}
	fd = heap_alloc(self, SZ_1M, variant->flags);
	ASSERT_LE(0, fd);
	p = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE));
	memset(p, 0xa1, SZ_1M / 2);
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE));
	ASSERT_EQ(0, send_fd(sv[0], fd));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	for (size_t i = SZ_1M / 2; i < SZ_1M; i++)
		ASSERT_EQ(0xb2, p[i]);
	ASSERT_EQ(0, dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	munmap(p, SZ_1M);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* ---- Heaps with a region of their own ---- */

TEST_F(heap, exhaustion_is_enomem_and_recovers)
{
	size_t len = heap_cap(self->ion, self->id) / 2;
	int fds[64], n = 0, fd;

	if (!is_region_heap(self->type))
		SKIP(return, "the heap has no region of its own to exhaust");
	for (n = 0; n < 64; n++) {
		fds[n] = heap_alloc(self, len, variant->flags);
		if (fds[n] < 0)
			break;
	}
	ASSERT_GT(64, n);
	ASSERT_LE(1, n);
	ASSERT_EQ(-ENOMEM, fds[n]);
	close(fds[n - 1]);
	fd = heap_alloc(self, len, variant->flags);
	ASSERT_LE(0, fd);
	fds[n - 1] = fd;
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

TEST_F(heap, fragmentation_then_a_large_buffer)
{
	size_t region = heap_cap(self->ion, self->id) * 2, piece = region / 16;
	int fds[16], fd;

	if (self->type != ION_HEAP_TYPE_CARVEOUT)
		SKIP(return, "carveout only");
	for (int i = 0; i < 16; i++) {
		fds[i] = heap_alloc(self, piece, variant->flags);
		ASSERT_LE(0, fds[i]) TH_LOG("piece %d", i);
	}
	for (int i = 0; i < 16; i += 2)
		close(fds[i]);
	/* Half the region is free, but in pieces: no large run. */
	ASSERT_EQ(-ENOMEM, heap_alloc(self, 2 * piece, variant->flags));
	for (int i = 1; i < 16; i += 2)
		close(fds[i]);
	fd = heap_alloc(self, region / 2, variant->flags);
	ASSERT_LE(0, fd);
	close(fd);
}

/*
 * Each heap counts the physically contiguous runs its live buffers hold
 * (heap.<name>.runs). /proc/self/pagemap cannot show them: the buffers are
 * mapped VM_PFNMAP, which the page walker skips.
 *
 * What each kind promises for 1 MiB + 64 KiB:
 * - system: orders 8, 4 and 0, so no run is larger than 1 MiB: at least
 *   two runs, and at most one run per page;
 * - system-contig, carveout and CMA: one run;
 * - chunk: one run per chunk the length rounds up to.
 * Every run is given back when the buffer goes.
 */
TEST_F(heap, contiguous_where_promised)
{
	size_t len = SZ_1M + SZ_64K;
	int fd = heap_alloc(self, len, variant->flags);
	long long runs, chunk;

	ASSERT_LE(0, fd);
	runs = ion_heap_stat(self->ion, self->id, "runs");
	switch (self->type) {
	case ION_HEAP_TYPE_SYSTEM:
		ASSERT_LE(2, runs);
		ASSERT_GE((long long)(len / ION_PAGE), runs);
		break;
	case ION_HEAP_TYPE_CHUNK:
		chunk = ion_heap_stat(self->ion, self->id, "chunk_size");
		ASSERT_LT(0, chunk);
		ASSERT_EQ((long long)((len + chunk - 1) / chunk), runs);
		break;
	default:
		ASSERT_EQ(1, runs);
	}
	close(fd);
	ASSERT_EQ(0, ion_heap_stat(self->ion, self->id, "runs"));
}

TEST_F(heap, memory_freed_by_another_process_reads_as_zero)
{
	size_t len = heap_cap(self->ion, self->id) / 2;
	unsigned char *p;
	pid_t pid;
	int status, fd;

	if (len > 8 * SZ_1M)
		len = 8 * SZ_1M;
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int mine = heap_alloc(self, len, variant->flags);

		if (mine < 0)
			_exit(1);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mine, 0);
		if (p == MAP_FAILED)
			_exit(2);
		memset(p, 0xcd, len);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, ion_heap_stat(self->ion, self->id, "bytes"));
	fd = heap_alloc(self, len, variant->flags);
	ASSERT_LE(0, fd);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_TRUE(all_bytes(p, len, 0));
	munmap(p, len);
	close(fd);
}

TEST_HARNESS_MAIN
