// SPDX-License-Identifier: GPL-2.0
/*
 * ion_fuzz: seeded random ioctls on /dev/ion and on rust-ion's dma-buf fds,
 * and random mmaps of those fds: random numbers and argument structs,
 * reserved fields, bad pointers (NULL, unmapped, kernel, read-only, a
 * struct that runs off the end of a mapping) and huge counts. Every errno
 * must be one that Documentation/ion.rst lists for that command, and a call
 * that could not have been valid (a pointer it cannot use, a reserved field
 * set, an unknown number, a private or out-of-range mmap) must not succeed;
 * anything else fails the test and is printed.
 *
 *   ION_SEED (default 1), ION_FUZZ_CALLS (default 20000)
 */
#include <sys/mman.h>

#include "kselftest.h"
#include "ion_util.h"

#define MAX_LIVE 16

static uint64_t r;
static long calls, bad, ok_calls;
static long hist[160];
static uint8_t *page_rw, *page_ro, *edge;
static int live[MAX_LIVE], nlive;
static size_t live_len[MAX_LIVE];
static uint32_t registered;
static int nheaps;

/* Documentation/ion.rst, "Errors", per command. */
static const int alloc_errs[] = { EINVAL, ENODEV, ENOMEM, EFAULT, EMFILE };
static const int query_errs[] = { EINVAL, EFAULT };
static const int other_errs[] = { ENOTTY };
static const int sync_errs[] = { EINVAL, EFAULT };
static const int name_errs[] = { EINVAL, EFAULT, ENOMEM, EBUSY };
static const int export_errs[] = { EINVAL, EFAULT, ENOMEM, EMFILE };
static const int import_errs[] = { EINVAL, EFAULT, ENOMEM, EBADF };
static const int mmap_errs[] = { EINVAL, ENOMEM };

/* What a pointer allows, as far as this process knows its address space. */
enum access { NO, YES, UNKNOWN };

static enum access can(const void *ptr, size_t n, int write)
{
	uintptr_t p = (uintptr_t)ptr, rw = (uintptr_t)page_rw, ro = (uintptr_t)page_ro;
	uintptr_t pg = ION_PAGE;

	if (p >= rw && p < rw + pg)
		return p + n <= rw + pg ? YES : (write ? NO : p + n <= ro + pg ? YES : NO);
	if (p >= ro && p < ro + pg)
		return !write && p + n <= ro + pg ? YES : NO;
	/* NULL, 8 and the kernel's half; the page after page_ro is unmapped. */
	if (p < pg || p >= ~(uintptr_t)0 - (pg - 1) || (p >= ro + pg && p < ro + 2 * pg))
		return NO;
	return UNKNOWN;
}

/*
 * Judges one call: a failure must carry an errno of @allowed, and a success
 * is wrong when @ok_if_success is 0 (the call could not have been valid).
 */
static void check(const char *what, unsigned long cmd, int ret, int err,
		  const int *allowed, int n, int ok_if_success)
{
	calls++;
	if (ret >= 0) {
		ok_calls++;
		if (!ok_if_success) {
			bad++;
			ksft_print_msg("%s %#lx: succeeded (%d) where it must fail\n",
				       what, cmd, ret);
		}
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
		return (void *)(~(uintptr_t)0 - (ION_PAGE - 1));
	case 3:
		/* not writable */
		return page_ro;
	case 4:
		/* runs off the end */
		return edge + ION_PAGE - size / 2;
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

static void keep(int fd, size_t len)
{
	if (nlive < MAX_LIVE) {
		live_len[nlive] = (len + ION_PAGE - 1) & ~(ION_PAGE - 1);
		live[nlive++] = fd;
		return;
	}
	close(fd);
}

static void fuzz_alloc(int ion)
{
	struct ion_allocation_data *d;
	int good, ret, valid;

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
	/* The fd is written back: a struct it cannot write must fail. */
	valid = can(d, sizeof(*d), 1) != NO;
	if (good)
		valid = d->len && d->len < (1ULL << 34) && (d->heap_id_mask & registered);
	ret = ioctl(ion, ION_IOC_ALLOC, d);
	check("ALLOC", ION_IOC_ALLOC, ret, errno, alloc_errs, ARRAY_SIZE(alloc_errs), valid);
	if (ret < 0)
		return;
	/* Behind a pointer this process does not know, the fd is lost. */
	if (can(d, sizeof(*d), 0) != YES)
		return;
	if (fcntl(d->fd, F_GETFD) >= 0) {
		keep(d->fd, d->len);
	} else {
		bad++;
		ksft_print_msg("ALLOC succeeded with fd %d, which is not open\n", d->fd);
	}
}

static void fuzz_query(int ion)
{
	struct ion_heap_query *q;
	int good, valid;

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
			q->heaps = (uintptr_t)edge + ION_PAGE - 60;
			break;
		}
	}
	/*
	 * cnt is written back; reserved fields must be zero; without a heaps
	 * array it only counts, with one it fills min(cnt, heaps) entries.
	 */
	valid = can(q, sizeof(*q), 1) != NO;
	if (good) {
		uint32_t fill = q->cnt < (uint32_t)nheaps ? q->cnt : (uint32_t)nheaps;

		valid = !q->reserved0 && !q->reserved1 && !q->reserved2 &&
			(!q->heaps || (q->cnt && can((void *)(uintptr_t)q->heaps,
			 fill * sizeof(struct ion_heap_data), 1) != NO));
	}
	check("HEAP_QUERY", ION_IOC_HEAP_QUERY, ioctl(ion, ION_IOC_HEAP_QUERY, q), errno,
	      query_errs, ARRAY_SIZE(query_errs), valid);
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
	/* /dev/ion has two ioctls: no other number may succeed. */
	check("ion ioctl", cmd, ioctl(ion, cmd, arg), errno, other_errs, ARRAY_SIZE(other_errs), 0);
}

/* A buffer ioctl (the dma-buf core's), judged by what its number is. */
static void buf_ioctl(int fd, unsigned long cmd, void *arg, int good)
{
	int ret = ioctl(fd, cmd, arg), err = errno, valid;

	switch (cmd) {
	case DMA_BUF_IOCTL_SYNC: {
		const struct dma_buf_sync *s = arg;

		valid = can(arg, sizeof(*s), 0) != NO;
		if (good)
			valid = !(s->flags & ~(uint64_t)(DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END)) &&
				(s->flags & DMA_BUF_SYNC_RW);
		check("SYNC", cmd, ret, err, sync_errs, ARRAY_SIZE(sync_errs), valid);
		break;
	}
	case DMA_BUF_SET_NAME_A:
	case DMA_BUF_SET_NAME_B:
		/* The name is read up to its NUL, at most DMA_BUF_NAME_LEN. */
		valid = can(arg, 1, 0) != NO;
		if (good)
			valid = strnlen(arg, DMA_BUF_NAME_LEN) < DMA_BUF_NAME_LEN;
		check("SET_NAME", cmd, ret, err, name_errs, ARRAY_SIZE(name_errs), valid);
		break;
	case DMA_BUF_IOCTL_EXPORT_SYNC_FILE: {
		struct dma_buf_export_sync_file *s = arg;

		check("EXPORT_SYNC_FILE", cmd, ret, err, export_errs, ARRAY_SIZE(export_errs),
		      can(arg, sizeof(*s), 1) != NO);
		if (!ret && can(arg, sizeof(*s), 0) == YES)
			close(s->fd);
		break;
	}
	case DMA_BUF_IOCTL_IMPORT_SYNC_FILE:
		/* No sync file is open (exported ones are closed at once). */
		check("IMPORT_SYNC_FILE", cmd, ret, err, import_errs, ARRAY_SIZE(import_errs), 0);
		break;
	default:
		check("dma-buf ioctl", cmd, ret, err, other_errs, ARRAY_SIZE(other_errs), 0);
	}
}

static void fuzz_buf(void)
{
	int k = ion_rand(&r) % nlive, fd = live[k], good;
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
		size_t len = (ion_rand(&r) % 8) * ION_PAGE + (ion_rand(&r) % 2);
		off_t off = (ion_rand(&r) % 8) * ION_PAGE;
		int prot = ion_rand(&r) % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
		int flags = ion_rand(&r) % 4 ? MAP_SHARED : MAP_PRIVATE;
		size_t pages = (len + ION_PAGE - 1) & ~(ION_PAGE - 1);
		void *p = mmap(NULL, len, prot, flags, fd, off);
		/* Shared, not empty, and inside the buffer. */
		int valid = flags == MAP_SHARED && len && off + pages <= live_len[k];

		check("mmap", flags, p == MAP_FAILED ? -1 : 0, errno, mmap_errs,
		      ARRAY_SIZE(mmap_errs), valid);
		if (p != MAP_FAILED)
			munmap(p, len);
		return;
	}
	default:
		cmd = (uint32_t)ion_rand(&r);
	}
	buf_ioctl(fd, cmd, arg, good);
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
	page_rw = mmap(NULL, 3 * ION_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (page_rw == MAP_FAILED)
		ksft_exit_fail_perror("mmap");
	page_ro = page_rw + ION_PAGE;
	edge = page_rw + ION_PAGE;	/* the page after it is unmapped */
	mprotect(page_ro, ION_PAGE, PROT_READ);
	munmap(page_rw + 2 * ION_PAGE, ION_PAGE);
	{
		struct ion_heap_data h[ION_NUM_HEAP_IDS];
		int nh = ion_query(ion, h, ION_NUM_HEAP_IDS);

		for (int i = 0; i < nh; i++)
			registered |= 1U << h[i].heap_id;
		nheaps = nh;
	}
	sys = ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM);
	if (sys < 0)
		ksft_exit_fail_msg("no system heap\n");
	/* The buffers to fuzz: without them the buffer half fuzzes nothing. */
	for (int i = 0; i < 4; i++) {
		int fd = ion_alloc(ion, ION_PAGE << i, 1U << sys, i % 2);

		if (fd < 0)
			ksft_exit_fail_msg("ALLOC %zu: %s\n", ION_PAGE << i, strerror(-fd));
		keep(fd, ION_PAGE << i);
	}
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
			live_len[k] = live_len[nlive];
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
