// SPDX-License-Identifier: GPL-2.0
/*
 * ion_fault_test: failslab and fail_page_alloc at 1%, 5% and 10%, scoped to
 * this task (task-filter and /proc/thread-self/make-it-fail) and switched on
 * only around the calls into the kernel, looping allocate, mmap, sync, vgem
 * import and close on every heap in both cache modes. Every failure must be
 * a documented errno, every buffer that is handed out must read zero, and
 * once injection stops every counter is back to zero.
 *
 * Needs CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and
 * CONFIG_FAULT_INJECTION_DEBUG_FS; skips without them.
 */
#include <sys/mman.h>

#include "kselftest.h"
#include "ion_util.h"

#define DBG "/sys/kernel/debug/"
#define TIMES 1000000000L

static const char *const kinds[] = { "failslab", "fail_page_alloc" };
static int make_it_fail = -1;
static long unexpected;

static int put(const char *kind, const char *attr, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), DBG "%s/%s", kind, attr);
	return ion_write_file(path, val);
}

/* A fault attribute's value, or -1 if it cannot be read as a number. */
static long get(const char *kind, const char *attr)
{
	char path[128], buf[32] = "", *end;
	ssize_t n;
	long v;
	int fd;

	snprintf(path, sizeof(path), DBG "%s/%s", kind, attr);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	v = strtol(buf, &end, 10);
	return end == buf || v < 0 ? -1 : v;
}

/* Injection for this thread only; the fd is opened once, so that turning
 * it off allocates nothing (and so cannot itself fail).
 */
static void inject(int on)
{
	while (pwrite(make_it_fail, on ? "1" : "0", 1, 0) != 1)
		;
}

static int configure(int probability)
{
	char p[16];
	int r = 0;

	snprintf(p, sizeof(p), "%d", probability);
	for (unsigned int i = 0; i < ARRAY_SIZE(kinds); i++) {
		r |= put(kinds[i], "task-filter", "Y");
		r |= put(kinds[i], "ignore-gfp-wait", "N");
		r |= put(kinds[i], "verbose", "0");
		r |= put(kinds[i], "interval", "1");
		r |= put(kinds[i], "space", "0");
		r |= put(kinds[i], "probability", p);
	}
	r |= put("fail_page_alloc", "ignore-gfp-highmem", "N");
	r |= put("fail_page_alloc", "min-order", "0");
	return r;
}

/* Failures injected since reset_times(), or -1 if that cannot be told. */
static long injected(void)
{
	long n = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(kinds); i++) {
		long t = get(kinds[i], "times");

		if (t < 0 || t > TIMES)
			return -1;
		n += TIMES - t;
	}
	return n;
}

static int reset_times(void)
{
	char t[32];
	int r = 0;

	snprintf(t, sizeof(t), "%ld", TIMES);
	for (unsigned int i = 0; i < ARRAY_SIZE(kinds); i++)
		r |= put(kinds[i], "times", t);
	for (unsigned int i = 0; i < ARRAY_SIZE(kinds); i++)
		r |= get(kinds[i], "times") != TIMES;
	return r;
}

static void expect(int err, const char *what, const int *ok, int nok)
{
	for (int i = 0; i < nok; i++)
		if (err == ok[i])
			return;
	unexpected++;
	ksft_print_msg("unexpected errno from %s: %d (%s)\n", what, err, strerror(err));
}

static const int enomem[] = { ENOMEM };
static const int mmap_errs[] = { ENOMEM, EAGAIN };

struct counts {
	long loops, allocated, failed_alloc, failed_mmap, failed_import, nonzero;
};

static void one(int ion, int card, const struct ion_heap_data *h, uint32_t flags,
		uint64_t *r, struct counts *c)
{
	size_t len = ION_PAGE << (ion_rand(r) % 9);
	long long max = ion_heap_stat(ion, h->heap_id, "max_alloc");
	uint32_t handle = 0;
	int fd, e, imported = 0;
	uint8_t *p;

	if (max > 0 && len > (size_t)max / 4)
		len = ION_PAGE;
	c->loops++;
	inject(1);
	fd = ion_alloc(ion, len, 1U << h->heap_id, flags);
	inject(0);
	if (fd < 0) {
		c->failed_alloc++;
		expect(-fd, "ALLOC", enomem, 1);
		return;
	}
	c->allocated++;
	inject(1);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	e = errno;
	inject(0);
	if (p == MAP_FAILED) {
		c->failed_mmap++;
		expect(e, "mmap", mmap_errs, 2);
	} else {
		for (size_t i = 0; i < len; i += 8)
			if (*(uint64_t *)(p + i)) {
				c->nonzero++;
				break;
			}
		memset(p, 0x5a, len);
	}
	inject(1);
	e = -vgem_import(card, fd, &handle);
	inject(0);
	if (e) {
		c->failed_import++;
		expect(e, "vgem import", enomem, 1);
	} else {
		imported = 1;
	}
	inject(1);
	e = -dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	if (!e)
		e = -dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	inject(0);
	if (e)
		expect(e, "DMA_BUF_IOCTL_SYNC", enomem, 1);
	if (imported)
		vgem_close(card, handle);
	if (p != MAP_FAILED)
		munmap(p, len);
	close(fd);
}

int main(void)
{
	static const int levels[] = { 1, 5, 10 };
	struct ion_heap_data heaps[ION_NUM_HEAP_IDS];
	uint64_t seed = getenv("ION_SEED") ? strtoull(getenv("ION_SEED"), NULL, 0) : 1;
	int loops = getenv("ION_FAULT_LOOPS") ? atoi(getenv("ION_FAULT_LOOPS")) : 25;
	int ion, card, n;
	long total = 0;

	ksft_print_header();
	if (access(DBG "failslab/probability", W_OK) ||
	    access(DBG "fail_page_alloc/probability", W_OK))
		ksft_exit_skip("no failslab/fail_page_alloc in debugfs\n");
	ksft_set_plan(ARRAY_SIZE(levels) + 1);
	make_it_fail = open("/proc/thread-self/make-it-fail", O_WRONLY);
	ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	if (make_it_fail < 0 || ion < 0)
		ksft_exit_fail_msg("open: %s\n", strerror(errno));
	/* vgem is in every guest kernel (configs/): its absence is a failure. */
	card = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (card < 0)
		ksft_exit_fail_msg("no vgem: /dev/dri/card0: %s\n", strerror(errno));
	n = ion_query(ion, heaps, ION_NUM_HEAP_IDS);
	ksft_print_msg("seed %llu, %d loops per heap, cache mode and level, %d heaps\n",
		       (unsigned long long)seed, loops, n);
	for (unsigned int l = 0; l < ARRAY_SIZE(levels); l++) {
		struct counts c = { 0 };
		uint64_t r = seed + l;
		long before = unexpected, hits;

		if (configure(levels[l]) || reset_times())
			ksft_exit_fail_msg("cannot configure fault injection\n");
		for (int i = 0; i < n; i++)
			for (int cached = 0; cached < 2; cached++)
				for (int k = 0; k < loops; k++)
					one(ion, card, &heaps[i],
					    cached ? ION_FLAG_CACHED : 0, &r, &c);
		hits = injected();
		total += hits;
		ksft_print_msg("%d%%: %ld loops, %ld injected failures, %ld buffers\n",
			       levels[l], c.loops, hits, c.allocated);
		ksft_print_msg("%d%%: failed %ld alloc, %ld mmap, %ld import\n",
			       levels[l], c.failed_alloc, c.failed_mmap, c.failed_import);
		/*
		 * Injection must have reached rust-ion's own ALLOC path, and
		 * some allocations must still have worked.
		 */
		ksft_test_result(unexpected == before && !c.nonzero && hits > 0 &&
				 c.failed_alloc > 0 && c.allocated > 0,
				 "fault injection at %d%%: ALLOC failed %ld times, every error documented, every buffer zero\n",
				 levels[l], c.failed_alloc);
	}
	configure(0);
	ksft_print_msg("%ld injected failures in all\n", total);
	ksft_test_result(ion_all_counters_zero(ion), "after fault injection every counter is 0\n");
	close(card);
	close(ion);
	ksft_finished();
}
