// SPDX-License-Identifier: GPL-2.0
/*
 * ion_bench: rust-ion's /dev/ion against the kernel's dma-buf system heap
 * (/dev/dma_heap/system), interleaved in the same boot.
 *
 *   ion_bench [-o out.json] [-r rounds] [-f paced frames] [-q] [-t]
 *   ion_bench -c count -F ion|dma-heap [-L bytes]
 *
 * -q measures only allocate + close at 4 KiB and 64 KiB, 3000 times each:
 * the fixed cost of an allocation. -t (for make profile, under the
 * function tracer) allocates and closes one buffer of each face, 4 KiB
 * then 8 MiB, between "ion_bench: <face>-<KiB>k begin" and "end" lines in
 * the trace. -c (for make icount, under a QEMU plugin that counts every
 * instruction) allocates and closes @count buffers of @bytes (4096) on one
 * face and prints where rust-ion's module text is, nothing else.
 *
 * For each size: allocate + close latency (median, p99), warm (pools as
 * they are) and cold (rust-ion's pools drained first), cached and uncached
 * (_uc: rust-ion's uncached buffers against the same dma-heap system
 * buffers, since mainline has no uncached heap); first touch of every page
 * through mmap; a DMA_BUF_IOCTL_SYNC start/end cycle with 0 and 1 vgem
 * attachments; and the guest's memset bandwidth, the floor for handing out
 * zeroed memory.
 *
 * The paced loop is how a camera or codec pipeline allocates: K buffers in
 * flight, one allocated and the oldest closed every period, with the CPUs
 * idle in between. It reports the ALLOC ioctl's p50 and p99, and the CPU
 * time the whole machine spent per allocated MiB (busy time in /proc/stat
 * over the loop and a settle time after it, so that zeroing moved to a
 * kworker still counts). paced_refused is its floor: an ALLOC that each
 * face refuses at once, after the same idle period. The burst is a stream
 * start: 8 x 8 MiB allocated back to back after one idle second (the
 * median of five).
 */
#include <dirent.h>
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
	/* rust-ion's flags: ION_FLAG_CACHED, or 0 for the _uc rows. */
	uint32_t flags;
	/* "" or "_uc", appended to every row's name. */
	const char *suffix;
};

/* -errno on failure; else the fd. */
static int alloc_one(struct alloc_ctx *c, bool ion, size_t len)
{
	if (ion)
		return ion_alloc(c->ion, len, 1U << c->id, c->flags);
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
		char name[32];

		snprintf(name, sizeof(name), "%s%s", cold ? "alloc_cold" : "alloc_warm", c->suffix);
		record(name, len, k ? "dma-heap" : "ion", med, p99);
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

/*
 * An ALLOC that each allocator refuses at once (an empty heap mask; a
 * dma-heap flag that does not exist): the ioctl path without allocating.
 * Anything but that refusal ends the benchmark.
 */
static void refused_alloc(struct alloc_ctx *c, bool ion)
{
	struct dma_heap_allocation_data d = {
		.len = 4096, .fd_flags = O_RDWR | O_CLOEXEC, .heap_flags = 1ULL << 63,
	};

	if (ion ? ion_alloc(c->ion, 4096, 0, 0) != -ENODEV :
		  ioctl(c->heap, DMA_HEAP_IOCTL_ALLOC, &d) == 0 || errno != EINVAL)
		exit(1);
}

/*
 * Records each face's median and p99 of its @n samples in @t as @what, and
 * frees the samples.
 */
static void record_faces(const char *what, double *t[2], int n)
{
	for (int k = 0; k < 2; k++) {
		record(what, 0, k ? "dma-heap" : "ion", pct(t[k], n, 0.5), pct(t[k], n, 0.99));
		free(t[k]);
	}
}

/* refused_alloc(), back to back. */
static void bench_refused(struct alloc_ctx *c, int n)
{
	double *t[2] = { calloc(n, sizeof(double)), calloc(n, sizeof(double)) };

	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			double t0 = now_us();

			refused_alloc(c, k == 0);
			t[k][i] = now_us() - t0;
		}
	}
	record_faces("alloc_refused", t, n);
}

/*
 * The CPU time the whole machine has spent so far: the sum of every
 * process's CPU clock (kernel threads, the background zeroer's kworkers
 * among them, are processes of their own). These clocks count the
 * scheduler's nanoseconds; the guest kernels' /proc/stat samples at the
 * tick, which cannot see an allocation that starts right after one, as
 * paced ones do.
 */
static double machine_cpu_us(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	double us = 0;

	if (!d) {
		perror("/proc");
		exit(1);
	}
	while ((e = readdir(d))) {
		pid_t pid = atoi(e->d_name);
		struct timespec ts;
		clockid_t clk;

		if (pid <= 0 || clock_getcpuclockid(pid, &clk) || clock_gettime(clk, &ts))
			continue;
		us += ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
	}
	closedir(d);
	return us;
}

static void sleep_until(double us)
{
	struct timespec ts = { .tv_sec = us / 1e6 };

	ts.tv_nsec = (long)((us - ts.tv_sec * 1e6) * 1e3);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * refused_alloc() after an idle period, paced as bench_paced() paces: the
 * floor that any paced ALLOC of the same face pays under the same
 * conditions, whatever it allocates.
 */
static void bench_paced_refused(struct alloc_ctx *c, int frames)
{
	double *t[2] = { calloc(frames, sizeof(double)), calloc(frames, sizeof(double)) };

	for (int k = 0; k < 2; k++) {
		double next = now_us() + 16667;

		for (int f = 0; f < frames; f++) {
			double t0;

			sleep_until(next);
			next += 16667;
			t0 = now_us();
			refused_alloc(c, k == 0);
			t[k][f] = now_us() - t0;
		}
	}
	record_faces("paced_refused", t, frames);
}

#define PACED_K 4

/* From the first measured frame to one period after the last. */
struct window {
	double start, end;
	/* The machine's CPU time then. */
	double cpu0, cpu1;
};

/*
 * @frames frames of @len bytes, one every @period_us, PACED_K in flight,
 * for rust-ion (@ion) or the dma-heap. The first PACED_K + 1 frames start
 * the stream (the first PACED_K close nothing, so the next allocation is
 * the first to follow a close) and are not measured: the figures are the
 * steady state's (the burst measures a stream start). Fills @lat with each
 * ALLOC's latency, if given, and @w. The ring is closed after the window.
 */
static void paced_run(struct alloc_ctx *c, bool ion, size_t len, int frames,
		      double period_us, double *lat, struct window *w)
{
	int ring[PACED_K] = { -1, -1, -1, -1 };
	double next = now_us();

	for (int f = -PACED_K - 1; f < frames; f++) {
		int slot = (f + PACED_K + 1) % PACED_K, fd;
		double t0;

		/*
		 * The measured frames start on a fresh schedule, so that a slow
		 * stream start is not caught up with back to back.
		 */
		if (!f)
			next = now_us() + period_us;
		sleep_until(next);
		if (!f) {
			w->start = now_us();
			w->cpu0 = machine_cpu_us();
		}
		next += period_us;
		t0 = now_us();
		fd = alloc_one(c, ion, len);
		if (f >= 0 && lat)
			lat[f] = now_us() - t0;
		if (fd < 0) {
			fprintf(stderr, "paced alloc %zu: %s\n", len, strerror(-fd));
			exit(1);
		}
		if (ring[slot] >= 0)
			close(ring[slot]);
		ring[slot] = fd;
	}
	sleep_until(next);
	w->end = now_us();
	w->cpu1 = machine_cpu_us();
	for (int i = 0; i < PACED_K; i++)
		close(ring[i]);
}

/*
 * The paced loop: the ALLOC latency (p50, p99) and the machine's CPU time
 * per allocated MiB over the measured frames.
 */
static void bench_paced(struct alloc_ctx *c, bool ion, size_t len, int frames,
			double period_us)
{
	const char *who = ion ? "ion" : "dma-heap";
	double *t = calloc(frames, sizeof(double)), cpu_us;
	struct window w = { 0 };
	char name[40];

	paced_run(c, ion, len, frames, period_us, t, &w);
	cpu_us = w.cpu1 - w.cpu0;
	/* The slowest frames and the CPU time, for the log. */
	for (int k = 0; k < 3; k++) {
		int worst = 0;

		for (int f = 1; f < frames; f++)
			if (t[f] > t[worst])
				worst = f;
		printf("# paced %s %zu: frame %d took %.0f us\n", who, len, worst, t[worst]);
		t[worst] = -t[worst];
	}
	printf("# paced %s %zu: %.0f us of CPU in %.0f us\n", who, len, cpu_us, w.end - w.start);
	for (int f = 0; f < frames; f++)
		t[f] = t[f] < 0 ? -t[f] : t[f];
	snprintf(name, sizeof(name), "paced_p50%s", c->suffix);
	record(name, len, who, pct(t, frames, 0.5), pct(t, frames, 0.5));
	snprintf(name, sizeof(name), "paced_p99%s", c->suffix);
	record(name, len, who, pct(t, frames, 0.99), pct(t, frames, 0.99));
	snprintf(name, sizeof(name), "paced_cpu_per_mib%s", c->suffix);
	cpu_us /= (double)frames * len / (1 << 20);
	record(name, len, who, cpu_us, cpu_us);
	free(t);
}

/*
 * The pools' hits and misses so far, summed over every pool of every heap
 * (/sys/kernel/debug/ion/stats): whether a burst came from the pools.
 */
static void pool_counts(long *hits, long *misses)
{
	FILE *f = fopen(ION_STATS, "r");
	char line[256];

	*hits = *misses = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v = strrchr(line, ' ');

		if (!v)
			continue;
		if (strstr(line, ".hits "))
			*hits += atol(v);
		else if (strstr(line, ".misses "))
			*misses += atol(v);
	}
	fclose(f);
}

#define BURSTS 5

/*
 * 8 x 8 MiB back to back after an idle second: a stream start. One burst
 * is one sample, and a single late wake-up under TCG can make it ten times
 * slower: the median of BURSTS of them, each after its idle second.
 */
static void bench_burst(struct alloc_ctx *c, bool ion)
{
	const size_t len = 8 << 20;
	double t[BURSTS];
	int fds[8];
	char name[40];
	long h0, m0, h1, m1;

	pool_counts(&h0, &m0);
	for (int b = 0; b < BURSTS; b++) {
		double t0;

		sleep_until(now_us() + 1e6);
		t0 = now_us();
		for (int i = 0; i < 8; i++) {
			fds[i] = alloc_one(c, ion, len);
			if (fds[i] < 0) {
				fprintf(stderr, "burst alloc: %s\n", strerror(-fds[i]));
				exit(1);
			}
		}
		t[b] = now_us() - t0;
		for (int i = 0; i < 8; i++)
			close(fds[i]);
	}
	pool_counts(&h1, &m1);
	if (ion)
		printf("# burst ion%s: %ld pool hits, %ld misses\n", c->suffix, h1 - h0, m1 - m0);
	snprintf(name, sizeof(name), "burst_8x8M%s", c->suffix);
	record(name, len, ion ? "ion" : "dma-heap", pct(t, BURSTS, 0.5), pct(t, BURSTS, 1));
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

/* Back to back, paced and burst, in the cache mode of @c. */
static void bench_cache_mode(struct alloc_ctx *c, int paced_frames)
{
	static const size_t sizes[] = { 4096, 65536, 1 << 20, 8 << 20, 32 << 20 };
	/* 4 KiB: the floor, what any allocation costs after an idle period. */
	static const size_t paced[] = { 4096, 1 << 20, 8 << 20, 32 << 20 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		int n = sizes[i] <= (1 << 20) ? 200 : sizes[i] <= (8 << 20) ? 40 : 12;

		bench_alloc(c, sizes[i], n, false);
		bench_alloc(c, sizes[i], n, true);
	}
	/*
	 * Frames at 60 Hz, 32 MiB ones at 30 Hz: the period the dma-heap's
	 * inline clearing fits in under TCG.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(paced); i++)
		for (int k = 0; k < 2; k++)
			bench_paced(c, k == 0, paced[i], paced_frames,
				    paced[i] > (8 << 20) ? 33333 : 16667);
	for (int k = 0; k < 2; k++)
		bench_burst(c, k == 0);
}

/*
 * One warm allocate + close of each face, 4 KiB and 8 MiB (pool hits for
 * rust-ion), between markers in the trace: make profile counts the kernel
 * functions each one calls.
 */
static void trace_one(struct alloc_ctx *c)
{
	static const size_t sizes[] = { 4096, 8 << 20 };
	int m = open("/sys/kernel/tracing/trace_marker", O_WRONLY);

	if (m < 0) {
		perror("trace_marker");
		exit(1);
	}
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (int k = 0; k < 2; k++) {
			const char *who = k ? "dma-heap" : "ion";
			char line[64];

			/* Warm: the same path, not traced. */
			for (int i = 0; i < 20; i++)
				close(alloc_one(c, k == 0, sizes[s]));
			snprintf(line, sizeof(line), "ion_bench: %s-%zuk begin\n", who,
				 sizes[s] >> 10);
			if (write(m, line, strlen(line)) < 0)
				exit(1);
			close(alloc_one(c, k == 0, sizes[s]));
			snprintf(line, sizeof(line), "ion_bench: %s-%zuk end\n", who,
				 sizes[s] >> 10);
			if (write(m, line, strlen(line)) < 0)
				exit(1);
		}
	}
	close(m);
}

/* -c: @n allocate + close of @len bytes on one face, and nothing else. */
static int count_only(struct alloc_ctx *c, int n, bool ion, size_t len)
{
	char text[64] = "";
	FILE *f = fopen("/sys/module/ion_rs/sections/.text", "r");

	if (!f || !fgets(text, sizeof(text), f)) {
		perror("/sys/module/ion_rs/sections/.text");
		return 1;
	}
	fclose(f);
	printf("icount: ion_rs .text %s", text);
	c->flags = ION_FLAG_CACHED;
	for (int i = 0; i < n; i++) {
		int fd = alloc_one(c, ion, len);

		if (fd < 0) {
			fprintf(stderr, "alloc %zu: %s\n", len, strerror(-fd));
			return 1;
		}
		close(fd);
	}
	printf("icount: %d x %zu on %s\n", n, len, ion ? "ion" : "dma-heap");
	return 0;
}

int main(int argc, char **argv)
{
	const char *out = "bench.json";
	struct alloc_ctx c;
	int rounds = 1, card, opt;

	int paced_frames = 200, count = -1;
	bool quick = false, trace = false, count_ion = true;
	size_t count_len = 4096;

	while ((opt = getopt(argc, argv, "o:r:f:qtc:F:L:")) != -1) {
		if (opt == 'c')
			count = atoi(optarg);
		else if (opt == 'F')
			count_ion = strcmp(optarg, "dma-heap");
		else if (opt == 'L')
			count_len = strtoul(optarg, NULL, 0);
		else if (opt == 'o')
			out = optarg;
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'f')
			paced_frames = atoi(optarg);
		else if (opt == 'q')
			quick = true;
		else if (opt == 't')
			trace = true;
	}
	c.ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	c.heap = open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
	card = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (c.ion < 0 || c.heap < 0) {
		perror("open /dev/ion or /dev/dma_heap/system");
		return 1;
	}
	c.id = ion_heap_by_type(c.ion, ION_HEAP_TYPE_SYSTEM);
	if (count >= 0)
		return count_only(&c, count, count_ion, count_len);
	if (trace) {
		c.flags = ION_FLAG_CACHED;
		trace_one(&c);
		return 0;
	}
	json = fopen(out, "w");
	if (!json)
		return 1;
	fprintf(json, "[");
	printf("%-14s %9s %-10s %12s %12s\n", "test", "size", "allocator", "median_us", "p99_us");
	for (int r = 0; r < rounds && quick; r++) {
		/* -q: the fixed cost of an allocation only, with many samples. */
		c.flags = ION_FLAG_CACHED;
		c.suffix = "";
		for (size_t len = 4096; len <= 65536; len *= 16) {
			bench_alloc(&c, len, 3000, false);
			bench_alloc(&c, len, 3000, true);
		}
		bench_refused(&c, 3000);
	}
	for (int r = 0; r < rounds && !quick; r++) {
		for (int uc = 0; uc < 2; uc++) {
			c.flags = uc ? 0 : ION_FLAG_CACHED;
			c.suffix = uc ? "_uc" : "";
			bench_cache_mode(&c, paced_frames);
		}
		c.flags = ION_FLAG_CACHED;
		c.suffix = "";
		bench_paced_refused(&c, paced_frames);
		bench_touch(&c, 8 << 20, 20);
		bench_sync(&c, 1 << 20, 200, card);
		bench_memset(32 << 20, 20);
	}
	fprintf(json, "\n]\n");
	fclose(json);
	return 0;
}
