// SPDX-License-Identifier: GPL-2.0
/*
 * ion_fuzz: seeded random ioctls on /dev/ion and on rust-ion's dma-buf fds,
 * and random mmaps of those fds: random numbers and argument structs,
 * reserved fields, bad pointers (NULL, unmapped, kernel, read-only, a
 * struct that runs off the end of a mapping) and huge counts. Every errno
 * must be one that Documentation/ion.rst lists for that target; anything
 * else fails the test and is printed.
 *
 *   ION_SEED (default 1), ION_FUZZ_CALLS (default 20000)
 */
#include <sys/mman.h>

#include "kselftest.h"
#include "ion_util.h"

#define SZ_4K 4096UL
#define MAX_LIVE 16

static uint64_t r;
static long calls, bad, ok_calls;
static long hist[160];
static uint8_t *page_rw, *page_ro, *edge;
static int live[MAX_LIVE], nlive;

/* Documentation/ion.rst, "Errors". */
static const int ion_errs[] = { EINVAL, ENODEV, ENOMEM, EFAULT, EMFILE, ENOTTY };
static const int buf_errs[] = { EINVAL, EFAULT, ENOMEM, EBADF, EMFILE, EBUSY, ENOTTY };

static void check(const char *what, unsigned long cmd, int ret, int err,
		  const int *allowed, int n)
{
	calls++;
	if (ret >= 0) {
		ok_calls++;
		return;
	}
	if (err > 0 && err < (int)ARRAY_SIZE(hist))
		hist[err]++;
	for (int i = 0; i < n; i++)
		if (err == allowed[i])
			return;
	bad++;
	ksft_print_msg("%s %#lx: undocumented errno %d (%s)\n", what, cmd, err, strerror(err));
}

/* An argument pointer: mostly good, often bad in one of many ways. */
static void *pick_ptr(size_t size, int *good)
{
	*good = 0;
	switch (ion_rand(&r) % 10) {
	case 0:
		return NULL;
	case 1:
		return (void *)8;
	case 2:
		/* kernel */
		return (void *)(~(uintptr_t)0 - 4095);
	case 3:
		/* not writable */
		return page_ro;
	case 4:
		/* runs off the end */
		return edge + SZ_4K - size / 2;
	case 5:
		/* anything */
		return (void *)(uintptr_t)ion_rand(&r);
	default:
		*good = 1;
		return page_rw + (ion_rand(&r) % 64) * 8;
	}
}

static void random_bytes(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = ion_rand(&r);
}

static void keep(int fd)
{
	if (nlive < MAX_LIVE) {
		live[nlive++] = fd;
		return;
	}
	close(fd);
}

static void fuzz_alloc(int ion)
{
	struct ion_allocation_data *d;
	int good;

	d = pick_ptr(sizeof(*d), &good);
	if (good) {
		random_bytes(d, sizeof(*d));
		switch (ion_rand(&r) % 4) {
		case 0:
			d->len = ion_rand(&r) % (1 << 20);
			break;
		case 1:
			d->len = 1ULL << (ion_rand(&r) % 64);
			break;
		case 2:
			d->len = ~0ULL - (ion_rand(&r) % 8192);
			break;
		}
		if (ion_rand(&r) % 2)
			d->heap_id_mask = 1U << (ion_rand(&r) % 32);
		/* Keep big allocations from eating the guest. */
		if (d->len > (16 << 20) && d->len < (1ULL << 34))
			d->len = 16 << 20;
	}
	if (ioctl(ion, ION_IOC_ALLOC, d) < 0) {
		check("ALLOC", ION_IOC_ALLOC, -1, errno, ion_errs, ARRAY_SIZE(ion_errs));
		return;
	}
	check("ALLOC", ION_IOC_ALLOC, 0, 0, NULL, 0);
	keep(d->fd);
}

static void fuzz_query(int ion)
{
	struct ion_heap_query *q;
	int good;

	q = pick_ptr(sizeof(*q), &good);
	if (good) {
		random_bytes(q, sizeof(*q));
		if (ion_rand(&r) % 2) {
			q->reserved0 = 0;
			q->reserved1 = 0;
			q->reserved2 = 0;
		}
		switch (ion_rand(&r) % 4) {
		case 0:
			q->heaps = 0;
			break;
		case 1:
			q->heaps = (uintptr_t)page_rw + 1024;
			q->cnt %= 32;
			break;
		case 2:
			q->heaps = (uintptr_t)edge + SZ_4K - 60;
			break;
		}
	}
	check("HEAP_QUERY", ION_IOC_HEAP_QUERY, ioctl(ion, ION_IOC_HEAP_QUERY, q), errno,
	      ion_errs, ARRAY_SIZE(ion_errs));
}

static void fuzz_ion_other(int ion)
{
	unsigned long cmd;
	int good;
	void *arg = pick_ptr(64, &good);

	switch (ion_rand(&r) % 3) {
	case 0:
		cmd = _IOC(ion_rand(&r) % 4, 'I', ion_rand(&r) % 16,
			   ion_rand(&r) % 256);
		break;
	case 1:
		/* legacy FREE */
		cmd = 0xc0044901;
		break;
	default:
		cmd = (uint32_t)ion_rand(&r);
		break;
	}
	if (cmd == ION_IOC_ALLOC || cmd == ION_IOC_HEAP_QUERY)
		return;
	if (good)
		random_bytes(arg, 64);
	check("ion ioctl", cmd, ioctl(ion, cmd, arg), errno, ion_errs, ARRAY_SIZE(ion_errs));
}

static void fuzz_buf(void)
{
	int fd = live[ion_rand(&r) % nlive], good;
	unsigned long cmd;
	void *arg = pick_ptr(64, &good);

	if (good)
		random_bytes(arg, 64);
	switch (ion_rand(&r) % 8) {
	case 0:
	case 1: {
		static const uint64_t fl[] = {
			DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
			DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
			DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
		};
		if (good && ion_rand(&r) % 2)
			((struct dma_buf_sync *)arg)->flags = fl[ion_rand(&r) % 4];
		cmd = DMA_BUF_IOCTL_SYNC;
		break;
	}
	case 2:
		if (good)
			((char *)arg)[ion_rand(&r) % 40] = 0;
		cmd = ion_rand(&r) % 2 ? DMA_BUF_SET_NAME_A : DMA_BUF_SET_NAME_B;
		break;
	case 3:
		cmd = DMA_BUF_IOCTL_EXPORT_SYNC_FILE;
		break;
	case 4:
		cmd = DMA_BUF_IOCTL_IMPORT_SYNC_FILE;
		break;
	case 5:
		cmd = _IOC(ion_rand(&r) % 4, 'b', ion_rand(&r) % 8, ion_rand(&r) % 64);
		break;
	case 6: {
		size_t len = (ion_rand(&r) % 8) * SZ_4K + (ion_rand(&r) % 2);
		off_t off = (ion_rand(&r) % 8) * SZ_4K;
		int prot = ion_rand(&r) % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
		int flags = ion_rand(&r) % 4 ? MAP_SHARED : MAP_PRIVATE;
		void *p = mmap(NULL, len, prot, flags, fd, off);

		if (p == MAP_FAILED) {
			check("mmap", flags, -1, errno, buf_errs, ARRAY_SIZE(buf_errs));
		} else {
			check("mmap", flags, 0, 0, NULL, 0);
			munmap(p, len);
		}
		return;
	}
	default:
		cmd = (uint32_t)ion_rand(&r);
	}
	if (cmd == DMA_BUF_IOCTL_EXPORT_SYNC_FILE && good) {
		struct dma_buf_export_sync_file *s = arg;
		int ret = ioctl(fd, cmd, s);

		check("dma-buf ioctl", cmd, ret, errno, buf_errs, ARRAY_SIZE(buf_errs));
		if (!ret)
			close(s->fd);
		return;
	}
	check("dma-buf ioctl", cmd, ioctl(fd, cmd, arg), errno, buf_errs, ARRAY_SIZE(buf_errs));
}

int main(void)
{
	uint64_t seed = getenv("ION_SEED") ? strtoull(getenv("ION_SEED"), NULL, 0) : 1;
	long n = getenv("ION_FUZZ_CALLS") ? atol(getenv("ION_FUZZ_CALLS")) : 20000;
	int ion, sys, compat = sizeof(long) == 4;

	ksft_print_header();
	ksft_set_plan(2);
	r = seed * 0x9e3779b97f4a7c15ULL + 1;
	ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	if (ion < 0)
		ksft_exit_fail_msg("open /dev/ion: %s\n", strerror(errno));
	page_rw = mmap(NULL, 3 * SZ_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page_rw == MAP_FAILED)
		ksft_exit_fail_perror("mmap");
	page_ro = page_rw + SZ_4K;
	edge = page_rw + SZ_4K;	/* the page after it is unmapped */
	mprotect(page_ro, SZ_4K, PROT_READ);
	munmap(page_rw + 2 * SZ_4K, SZ_4K);
	sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	for (int i = 0; i < 4; i++)
		keep(ion_alloc(ion, SZ_4K << i, 1U << sys, i % 2));
	for (long i = 0; i < n; i++) {
		switch (ion_rand(&r) % 6) {
		case 0:
			fuzz_alloc(ion);
			break;
		case 1:
			fuzz_query(ion);
			break;
		case 2:
			fuzz_ion_other(ion);
			break;
		default:
			fuzz_buf();
			break;
		}
		/* Now and then, drop a buffer so that fds and memory turn over. */
		if (nlive > 4 && ion_rand(&r) % 8 == 0) {
			int k = ion_rand(&r) % nlive;

			close(live[k]);
			live[k] = live[--nlive];
		}
	}
	ksft_print_msg("ion_fuzz%s: seed %llu, %ld calls, %ld succeeded; errnos:",
		       compat ? " (compat)" : "", (unsigned long long)seed, calls, ok_calls);
	for (unsigned int e = 0; e < ARRAY_SIZE(hist); e++)
		if (hist[e])
			printf(" %s %ld", strerror(e), hist[e]);
	printf("\n");
	ksft_test_result(bad == 0 && calls > n / 2,
			 "fuzz: %ld calls, every errno documented\n", calls);
	while (nlive)
		close(live[--nlive]);
	ksft_test_result(ion_all_counters_zero(ion), "fuzz: every counter back to 0\n");
	close(ion);
	ksft_finished();
}
