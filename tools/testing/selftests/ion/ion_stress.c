// SPDX-License-Identifier: GPL-2.0
/*
 * ion_stress: many threads doing a seeded random mix on every heap that
 * HEAP_QUERY lists, cached and uncached, while children fork, write a
 * secret into their own buffers, read it back and exit. Every new buffer
 * must read zero, every write must read back whole through a second
 * mapping, and every error must be ENOMEM on a heap of bounded memory that
 * is past FILL_PERCENT full. At the end every counter in debugfs is back to
 * zero.
 *
 *   ion_stress [-t threads] [-s seconds] [-n ops per thread] [-S seed]
 *
 * The environment's ION_SEED and ION_STRESS_SECONDS set the defaults.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest.h"
#include "ion_util.h"

#define SECRET 0xa5
/*
 * A bounded heap may say ENOMEM only when it is at least this full, counted
 * as the larger of its usage just before and just after the failed call,
 * plus the length asked for. No thread holds more than one buffer of at
 * most a sixteenth of the region (see pick_len), so with first fit a
 * quarter full still leaves a hole large enough for any request. A heap
 * whose size 7.3 does not tell (CMA: max_alloc 0) may say ENOMEM only when
 * it holds FILL_UNSIZED bytes, two of the largest requests.
 */
#define FILL_PERCENT 25
#define FILL_UNSIZED (8LL << 20)

static struct ion_heap_data heaps[ION_NUM_HEAP_IDS];
static int nheaps, ion, card = -1, closer_pipe[2];
static uint64_t seed = 1;
static long max_ops = 1L << 40;
static double seconds = 15;
static atomic_int stop;
static atomic_long ops, allocs, enomem, bytes_checked, vgem_imports, dups,
	partial_unmaps, offset_maps, syncs, forks, forks_enomem, failures;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

#define FAIL(...)                                                       \
	do {                                                            \
		ksft_print_msg(__VA_ARGS__);                            \
		atomic_fetch_add(&failures, 1);                         \
	} while (0)

/* Heaps whose memory is a bounded region may run out under 8 threads. */
static int bounded(uint32_t type)
{
	return type != ION_HEAP_TYPE_SYSTEM;
}

static size_t pick_len(uint64_t *r, const struct ion_heap_data *h)
{
	long long max = ion_heap_stat(ion, h->heap_id, "max_alloc");
	size_t cap = 4UL << 20, len;

	/* Leave room for the other threads on a small region. */
	if (max > 0 && (size_t)max / 16 < cap)
		cap = (size_t)max / 16;
	if (cap < ION_PAGE)
		cap = ION_PAGE;
	/* Log-uniform from 4 KiB up to cap, in whole pages. */
	len = ION_PAGE << (ion_rand(r) % 11);
	len += (ion_rand(r) % 4) * ION_PAGE;
	return len > cap ? cap & ~(ION_PAGE - 1) : len;
}

static int zero(const uint8_t *p, size_t len)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (q[i])
			return 0;
	return 1;
}

/*
 * ALLOC on @h: the fd, or -ENOMEM where bounded() and the heap is
 * FILL_PERCENT full (see above). Any other error is reported here as a
 * failure and returned as it came (a refused ENOMEM as -EIO), so that the
 * caller only stops.
 */
static int alloc_bounded(const struct ion_heap_data *h, size_t len, uint32_t flags)
{
	long long before = 0, after, max, fill;
	int fd;

	if (bounded(h->type))
		before = ion_heap_stat(ion, h->heap_id, "bytes");
	fd = ion_alloc(ion, len, 1U << h->heap_id, flags);
	if (fd >= 0)
		return fd;
	if (fd != -ENOMEM) {
		FAIL("ALLOC %zu on %s: %s\n", len, h->name, strerror(-fd));
		return fd;
	}
	if (!bounded(h->type)) {
		FAIL("ALLOC %zu on %s: ENOMEM on an unbounded heap\n", len, h->name);
		return -EIO;
	}
	after = ion_heap_stat(ion, h->heap_id, "bytes");
	max = ion_heap_stat(ion, h->heap_id, "max_alloc");
	fill = (before > after ? before : after) + (long long)len;
	if (max > 0 ? fill * 100 < max * FILL_PERCENT : fill < FILL_UNSIZED) {
		FAIL("ALLOC %zu on %s: ENOMEM at %lld of %lld bytes (under %d%%, or %lld)\n",
		     len, h->name, fill, max, FILL_PERCENT, FILL_UNSIZED);
		return -EIO;
	}
	return -ENOMEM;
}

/* The first byte of @p[0..len) that is not @v, or -1. */
static long not_all(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return i;
	return -1;
}

static void sync_or_fail(int fd, uint64_t flags)
{
	int r = dmabuf_sync(fd, flags);

	atomic_fetch_add(&syncs, 1);
	if (r)
		FAIL("DMA_BUF_IOCTL_SYNC %#llx: %s\n", (unsigned long long)flags, strerror(-r));
}

static void one_buffer(uint64_t *r)
{
	const struct ion_heap_data *h = &heaps[ion_rand(r) % nheaps];
	uint32_t flags = ion_rand(r) & 1 ? ION_FLAG_CACHED : 0, handle;
	static const uint64_t dirs[] = { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW };
	uint64_t dir = dirs[ion_rand(r) % 3];
	size_t len = pick_len(r, h), off;
	int fd, imported = 0, head_unmapped = 0;
	uint8_t *p, *q, v = (ion_rand(r) | 1) & 0xff;

	fd = alloc_bounded(h, len, flags);
	if (fd == -ENOMEM) {
		atomic_fetch_add(&enomem, 1);
		return;
	}
	if (fd < 0)
		return;
	atomic_fetch_add(&allocs, 1);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		FAIL("mmap %zu on %s: %s\n", len, h->name, strerror(errno));
		close(fd);
		return;
	}
	sync_or_fail(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	if (!zero(p, len))
		FAIL("a new %zu-byte buffer on %s is not zero\n", len, h->name);
	atomic_fetch_add(&bytes_checked, len);
	sync_or_fail(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);

	if (card >= 0 && ion_rand(r) % 4 == 0) {
		int e = vgem_import(card, fd, &handle);

		if (e)
			FAIL("vgem import on %s: %s\n", h->name, strerror(-e));
		else
			imported = 1, atomic_fetch_add(&vgem_imports, 1);
	}
	sync_or_fail(fd, DMA_BUF_SYNC_START | dir);
	memset(p, v, len);
	sync_or_fail(fd, DMA_BUF_SYNC_END | dir);

	/* A second mapping at a page offset sees what the first wrote. */
	off = (ion_rand(r) % (len / ION_PAGE)) * ION_PAGE;
	q = mmap(NULL, len - off, PROT_READ, MAP_SHARED, fd, off);
	if (q == MAP_FAILED) {
		FAIL("mmap at offset %zu of %zu: %s\n", off, len, strerror(errno));
	} else {
		long bad;

		atomic_fetch_add(&offset_maps, 1);
		sync_or_fail(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
		bad = not_all(q, len - off, v);
		sync_or_fail(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		if (bad >= 0)
			FAIL("the mapping at offset %zu of %zu on %s: byte %ld is %#x, not %#x\n",
			     off, len, h->name, bad, q[bad], v);
		munmap(q, len - off);
	}
	if (len > ION_PAGE && ion_rand(r) % 3 == 0) {
		munmap(p, ION_PAGE);
		head_unmapped = 1;
		atomic_fetch_add(&partial_unmaps, 1);
		if (p[len - 1] != v)
			FAIL("the tail changed after a partial munmap\n");
	}
	if (ion_rand(r) % 4 == 0) {
		int d = dup(fd);

		if (d >= 0 && write(closer_pipe[1], &d, sizeof(d)) == sizeof(d))
			atomic_fetch_add(&dups, 1);
		else if (d >= 0)
			close(d);
	}
	/* Close the fd, the GEM handle and the mapping in a random order. */
	switch (ion_rand(r) % 3) {
	case 0:
		close(fd);
		if (imported)
			vgem_close(card, handle);
		break;
	case 1:
		if (imported)
			vgem_close(card, handle);
		close(fd);
		break;
	default:
		close(fd);
		if (p[len - 1] != v)
			FAIL("the mapping lost its data after close\n");
		if (imported)
			vgem_close(card, handle);
	}
	if (head_unmapped)
		munmap(p + ION_PAGE, len - ION_PAGE);
	else
		munmap(p, len);
	atomic_fetch_add(&ops, 1);
}

static void *worker(void *arg)
{
	uint64_t r = seed * 0x9e3779b97f4a7c15ULL + (uintptr_t)arg + 1;
	double end = now() + seconds;

	for (long i = 0; i < max_ops && !atomic_load(&stop) && now() < end; i++)
		one_buffer(&r);
	return NULL;
}

static void *closer(void *arg)
{
	int fd;

	(void)arg;
	while (read(closer_pipe[0], &fd, sizeof(fd)) == sizeof(fd))
		close(fd);
	return NULL;
}

/* Children write a secret into buffers of their own and exit holding them. */
static void *forker(void *arg)
{
	uint64_t r = seed + 77;

	(void)arg;
	while (!atomic_load(&stop)) {
		const struct ion_heap_data *h = &heaps[ion_rand(&r) % nheaps];
		size_t len = pick_len(&r, h);
		pid_t pid = fork();

		if (pid == 0) {
			/* 0: written and read back, 3: bounded ENOMEM, else failed. */
			int fd = alloc_bounded(h, len, ION_FLAG_CACHED);
			uint8_t *p;

			if (fd == -ENOMEM)
				_exit(3);
			if (fd < 0)
				_exit(1);
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				_exit(2);
			memset(p, SECRET, len);
			_exit(not_all(p, len, SECRET) < 0 ? 0 : 4);
		}
		if (pid > 0) {
			int status;

			if (waitpid(pid, &status, 0) != pid)
				FAIL("waitpid: %s\n", strerror(errno));
			else if (!WIFEXITED(status))
				FAIL("a secret writer on %s died: status %#x\n", h->name, status);
			else if (WEXITSTATUS(status) == 3)
				atomic_fetch_add(&forks_enomem, 1);
			else if (WEXITSTATUS(status))
				FAIL("a secret writer on %s (%zu bytes) failed: exit %d\n",
				     h->name, len, WEXITSTATUS(status));
			atomic_fetch_add(&forks, 1);
		} else {
			FAIL("fork: %s\n", strerror(errno));
		}
		usleep(20000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 8, c;
	pthread_t t[64], ct, ft;
	double t0;

	if (getenv("ION_SEED"))
		seed = strtoull(getenv("ION_SEED"), NULL, 0);
	if (getenv("ION_STRESS_SECONDS"))
		seconds = atof(getenv("ION_STRESS_SECONDS"));
	while ((c = getopt(argc, argv, "t:s:n:S:")) != -1) {
		switch (c) {
		case 't':
			threads = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'n':
			max_ops = atol(optarg);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			return 2;
		}
	}
	if (threads < 1 || threads > 64)
		threads = 8;
	ksft_print_header();
	ksft_set_plan(2);
	ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	if (ion < 0)
		ksft_exit_fail_msg("open /dev/ion: %s\n", strerror(errno));
	nheaps = ion_query(ion, heaps, ION_NUM_HEAP_IDS);
	if (nheaps <= 0)
		ksft_exit_fail_msg("HEAP_QUERY: %d\n", nheaps);
	/* vgem is in every guest kernel (configs/): its absence is a failure. */
	card = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (card < 0)
		ksft_exit_fail_msg("no vgem: /dev/dri/card0: %s\n", strerror(errno));
	if (pipe(closer_pipe))
		ksft_exit_fail_perror("pipe");
	ksft_print_msg("seed %llu, %d threads, %.0f s, %d heaps, vgem %s\n",
		       (unsigned long long)seed, threads, seconds, nheaps,
		       card >= 0 ? "yes" : "no");
	t0 = now();
	pthread_create(&ct, NULL, closer, NULL);
	pthread_create(&ft, NULL, forker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(ft, NULL);
	close(closer_pipe[1]);
	pthread_join(ct, NULL);
	close(closer_pipe[0]);
	if (card >= 0)
		close(card);
	ksft_print_msg("ion_stress: %ld operations (%ld buffers, %ld ENOMEM on bounded heaps)\n",
		       atomic_load(&ops), atomic_load(&allocs), atomic_load(&enomem));
	ksft_print_msg("in %.1f s: %ld MiB checked zero, %ld syncs, %ld offset maps\n",
		       now() - t0, atomic_load(&bytes_checked) >> 20, atomic_load(&syncs),
		       atomic_load(&offset_maps));
	ksft_print_msg("%ld partial munmaps, %ld vgem imports, %ld dups closed elsewhere\n",
		       atomic_load(&partial_unmaps), atomic_load(&vgem_imports),
		       atomic_load(&dups));
	ksft_print_msg("%ld forked secret writers, %ld of them refused ENOMEM\n",
		       atomic_load(&forks), atomic_load(&forks_enomem));
	ksft_test_result(atomic_load(&failures) == 0 && atomic_load(&ops) > 0 &&
			 atomic_load(&forks) > atomic_load(&forks_enomem),
			 "stress: %ld operations, no error, every new buffer zero\n",
			 atomic_load(&ops));
	ksft_test_result(ion_all_counters_zero(ion), "stress: every counter back to 0\n");
	close(ion);
	ksft_finished();
}
