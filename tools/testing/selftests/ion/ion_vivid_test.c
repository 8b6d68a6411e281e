// SPDX-License-Identifier: GPL-2.0
/*
 * A real importer that maps: V4L2's vivid, with its dma-contig allocator
 * (vivid.allocators=1), imports rust-ion buffers as V4L2_MEMORY_DMABUF on
 * its HDMI video output and HDMI video capture, which are looped together.
 * vb2-dma-contig attaches each buffer and maps it for vivid's device at
 * QBUF (dma_buf_map_attachment), and vivid moves the frames through the
 * kernel mapping (vmap).
 *
 * Every heap that HEAP_QUERY lists is tried, cached and uncached.
 * - A heap whose buffers are contiguous (system-contig, carveout, CMA, a
 *   chunk heap whose chunk holds a frame) must loop: a pattern written
 *   through mmap, bracketed by DMA_BUF_IOCTL_SYNC, into the output buffers
 *   comes back in the capture buffers.
 * - A chunk heap with smaller chunks gets a hole first (one chunk held
 *   between two free ones), so that the first capture buffer is scattered
 *   for certain: QBUF must refuse it with EFAULT (the importer's
 *   "contiguous chunk is too small"), leaving nothing attached or mapped.
 * - The system heap's runs may or may not happen to be adjacent: either
 *   outcome is checked as strictly as above.
 *
 * Runs where DMA does not bounce (Debian's kernel, the qemu kernel's
 * direct boot; scripts/vm.sh): vivid writes frames through the
 * CPU behind its own mapping, which is only coherent where the mapping does
 * not bounce (Documentation/ion.rst, "A real importer").
 */
#include <dirent.h>
#include <poll.h>
#include <sys/mman.h>
#include <linux/videodev2.h>

#include "kselftest_harness.h"
#include "ion_util.h"

#define HEAP_SLOTS 8
#define NBUF 3
/* Frames that must come back with the pattern, out of at most MAX_FRAMES. */
#define GOOD_FRAMES 4
#define MAX_FRAMES 40

/* vivid's own controls (drivers/media/test-drivers/vivid/vivid-ctrls.c). */
#define VIVID_CID_VIVID_BASE (0x00f00000 | 0xf000)
#define VIVID_CID_OSD_TEXT_MODE (VIVID_CID_VIVID_BASE + 1)
#define VIVID_CID_HDMI_IS_CONNECTED_TO_OUTPUT(input) (VIVID_CID_VIVID_BASE + 113 + (input))
/* Menu values: "None" for the OSD; the first HDMI output for the input. */
#define OSD_NONE 2
#define FIRST_HDMI_OUTPUT 2

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* The vivid node with capability @cap, or -1. */
static int open_vivid(uint32_t cap)
{
	for (int i = 0; i < 64; i++) {
		struct v4l2_capability c;
		char path[32];
		int fd;

		snprintf(path, sizeof(path), "/dev/video%d", i);
		/* Non-blocking: DQBUF says EAGAIN, poll() waits. */
		fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (!xioctl(fd, VIDIOC_QUERYCAP, &c) && !strcmp((char *)c.driver, "vivid") &&
		    (c.device_caps & cap))
			return fd;
		close(fd);
	}
	return -1;
}

static int set_ctrl(int fd, uint32_t id, int32_t value)
{
	struct v4l2_ext_control c = { .id = id, .value = value };
	struct v4l2_ext_controls cs = {
		.which = V4L2_CTRL_WHICH_CUR_VAL, .count = 1, .controls = &c,
	};

	return xioctl(fd, VIDIOC_S_EXT_CTRLS, &cs);
}

FIXTURE(vivid) {
	int ion, cap, out;
	int id;
	uint32_t type;
	size_t size;
	uint32_t sizeimage;
	int fds[2][NBUF];
	unsigned char *maps[2][NBUF];
	unsigned char *pattern;
	/* Contiguous for certain (1), scattered for certain (0), or either. */
	int contiguous;
	/* The chunk that holds the hole open, or -1. */
	int hole;
};

FIXTURE_VARIANT(vivid) {
	/* The heap's place in HEAP_QUERY's answer: every heap is tried. */
	int index;
	uint32_t flags;
};

FIXTURE_VARIANT_ADD(vivid, heap0_cached) { .index = 0, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap0_uncached) { .index = 0, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap1_cached) { .index = 1, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap1_uncached) { .index = 1, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap2_cached) { .index = 2, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap2_uncached) { .index = 2, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap3_cached) { .index = 3, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap3_uncached) { .index = 3, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap4_cached) { .index = 4, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap4_uncached) { .index = 4, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap5_cached) { .index = 5, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap5_uncached) { .index = 5, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap6_cached) { .index = 6, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap6_uncached) { .index = 6, .flags = 0 };
FIXTURE_VARIANT_ADD(vivid, heap7_cached) { .index = 7, .flags = ION_FLAG_CACHED };
FIXTURE_VARIANT_ADD(vivid, heap7_uncached) { .index = 7, .flags = 0 };

/* 640x480 YUYV progressive on the queue @type of @fd; one sizeimage. */
static int set_format(int fd, uint32_t type, uint32_t *sizeimage)
{
	struct v4l2_format f = { .type = type };
	int r;

	f.fmt.pix.width = 640;
	f.fmt.pix.height = 480;
	f.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	f.fmt.pix.field = V4L2_FIELD_NONE;
	r = xioctl(fd, VIDIOC_S_FMT, &f);
	if (r)
		return r;
	if (f.fmt.pix.width != 640 || f.fmt.pix.height != 480 ||
	    f.fmt.pix.pixelformat != V4L2_PIX_FMT_YUYV ||
	    (*sizeimage && *sizeimage != f.fmt.pix.sizeimage))
		return -EINVAL;
	*sizeimage = f.fmt.pix.sizeimage;
	return 0;
}

/* HDMI in and out at 640x480p60, YUYV, looped, no OSD text. */
static int setup_loop(int cap, int out, uint32_t *sizeimage)
{
	struct v4l2_enum_dv_timings e = { 0 };
	uint32_t zero = 0;
	int r;

	r = xioctl(cap, VIDIOC_S_INPUT, &zero);
	r = r ? r : xioctl(out, VIDIOC_S_OUTPUT, &zero);
	for (e.index = 0; !r; e.index++) {
		r = xioctl(cap, VIDIOC_ENUM_DV_TIMINGS, &e);
		if (!r && e.timings.bt.width == 640 && e.timings.bt.height == 480 &&
		    !e.timings.bt.interlaced)
			break;
	}
	r = r ? r : xioctl(cap, VIDIOC_S_DV_TIMINGS, &e.timings);
	r = r ? r : xioctl(out, VIDIOC_S_DV_TIMINGS, &e.timings);
	r = r ? r : set_format(cap, V4L2_BUF_TYPE_VIDEO_CAPTURE, sizeimage);
	r = r ? r : set_format(out, V4L2_BUF_TYPE_VIDEO_OUTPUT, sizeimage);
	r = r ? r : set_ctrl(cap, VIVID_CID_OSD_TEXT_MODE, OSD_NONE);
	return r ? r : set_ctrl(cap, VIVID_CID_HDMI_IS_CONNECTED_TO_OUTPUT(0), FIRST_HDMI_OUTPUT);
}

static int reqbufs(int fd, uint32_t type, uint32_t count)
{
	struct v4l2_requestbuffers rb = {
		.count = count, .type = type, .memory = V4L2_MEMORY_DMABUF,
	};
	int r = xioctl(fd, VIDIOC_REQBUFS, &rb);

	return r ? r : (rb.count == count ? 0 : -ENOMEM);
}

static int qbuf(int fd, uint32_t type, uint32_t index, int dmabuf, uint32_t len, uint32_t used)
{
	struct v4l2_buffer b = {
		.index = index, .type = type, .memory = V4L2_MEMORY_DMABUF,
		.m.fd = dmabuf, .length = len, .bytesused = used,
		.field = V4L2_FIELD_NONE,
	};

	return xioctl(fd, VIDIOC_QBUF, &b);
}

/* DQBUF; the buffer's index, or -errno. */
static int dqbuf(int fd, uint32_t type)
{
	struct v4l2_buffer b = { .type = type, .memory = V4L2_MEMORY_DMABUF };
	int r = xioctl(fd, VIDIOC_DQBUF, &b);

	return r ? r : (int)b.index;
}

static int heap_contiguity(struct _test_data_vivid *self)
{
	switch (self->type) {
	case ION_HEAP_TYPE_SYSTEM_CONTIG:
	case ION_HEAP_TYPE_CARVEOUT:
	case ION_HEAP_TYPE_DMA:
		return 1;
	case ION_HEAP_TYPE_CHUNK:
		return ion_heap_stat(self->ion, self->id, "chunk_size") >= (long long)self->size;
	default:
		return -1;
	}
}

FIXTURE_SETUP(vivid)
{
	struct ion_heap_data h[ION_NUM_HEAP_IDS];
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (variant->index * 2 + !!variant->flags + 1);
	long pg = sysconf(_SC_PAGESIZE);
	int n;

	memset(self->fds, -1, sizeof(self->fds));
	self->ion = open("/dev/ion", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->ion);
	self->id = -1;
	self->cap = open_vivid(V4L2_CAP_VIDEO_CAPTURE);
	self->out = open_vivid(V4L2_CAP_VIDEO_OUTPUT);
	ASSERT_LE(0, self->cap) TH_LOG("no vivid capture node (vivid.allocators=1?)");
	ASSERT_LE(0, self->out) TH_LOG("no vivid output node");
	n = ion_query(self->ion, h, ION_NUM_HEAP_IDS);
	ASSERT_GE(HEAP_SLOTS, n);
	if (variant->index >= n)
		SKIP(return, "%d heaps: no heap %d", n, variant->index);
	self->id = h[variant->index].heap_id;
	self->type = h[variant->index].type;
	TH_LOG("heap %s (id %d, type %u)", h[variant->index].name, self->id, self->type);
	self->sizeimage = 0;
	ASSERT_EQ(0, setup_loop(self->cap, self->out, &self->sizeimage));
	self->size = (self->sizeimage + pg - 1) / pg * pg;
	self->pattern = malloc(self->size);
	ASSERT_TRUE(!!self->pattern);
	for (size_t i = 0; i < self->size; i += 8) {
		uint64_t v = ion_rand(&seed);

		memcpy(self->pattern + i, &v, 8);
	}
	self->hole = -1;
	self->contiguous = heap_contiguity(self);
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < NBUF; i++) {
			int fd;

			if (d == 1 && i == 0 && !self->contiguous) {
				/* Chunks are first fit: free, held, free. */
				long long c = ion_heap_stat(self->ion, self->id, "chunk_size");
				uint32_t mask = 1U << self->id;
				int x = ion_alloc(self->ion, c, mask, variant->flags);

				self->hole = ion_alloc(self->ion, c, mask, variant->flags);
				ASSERT_LE(0, x);
				ASSERT_LE(0, self->hole);
				close(x);
			}
			fd = ion_alloc(self->ion, self->size, 1U << self->id, variant->flags);

			ASSERT_LE(0, fd) TH_LOG("alloc: %s", strerror(-fd));
			self->fds[d][i] = fd;
			self->maps[d][i] = mmap(NULL, self->size, PROT_READ | PROT_WRITE,
						MAP_SHARED, fd, 0);
			ASSERT_NE(MAP_FAILED, self->maps[d][i]);
		}
}

FIXTURE_TEARDOWN(vivid)
{
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < NBUF; i++) {
			if (self->fds[d][i] < 0)
				continue;
			munmap(self->maps[d][i], self->size);
			close(self->fds[d][i]);
		}
	free(self->pattern);
	if (self->hole >= 0)
		close(self->hole);
	if (self->cap >= 0)
		close(self->cap);
	if (self->out >= 0)
		close(self->out);
	/* The importer is gone: every attachment and mapping with it. */
	if (self->id >= 0) {
		EXPECT_EQ(0, ion_heap_stat(self->ion, self->id, "bytes"));
		EXPECT_EQ(0, ion_heap_stat(self->ion, self->id, "buffers"));
	}
	EXPECT_EQ(0, ion_stat("attachments"));
	EXPECT_EQ(ion_stat("maps"), ion_stat("unmaps"));
	close(self->ion);
}

TEST_F(vivid, loops_through_the_importers_mapping)
{
	const uint32_t OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT, CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	long long maps0 = ion_stat("maps"), unmaps0 = ion_stat("unmaps");
	long long bounced0 = ion_stat("bounced_maps");
	int good = 0, frames = 0, r;
	int types[2] = { OUT, CAP };

	/* The pattern into the output buffers, zeroes stay in the capture ones. */
	for (int i = 0; i < NBUF; i++) {
		ASSERT_EQ(0, dmabuf_sync(self->fds[0][i], DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE));
		memcpy(self->maps[0][i], self->pattern, self->size);
		ASSERT_EQ(0, dmabuf_sync(self->fds[0][i], DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE));
	}
	ASSERT_EQ(0, reqbufs(self->out, OUT, NBUF));
	ASSERT_EQ(0, reqbufs(self->cap, CAP, NBUF));

	/* The first QBUF attaches and maps; scattered pages are refused. */
	r = qbuf(self->cap, CAP, 0, self->fds[1][0], self->size, 0);
	if (self->contiguous >= 0)
		ASSERT_EQ(self->contiguous ? 0 : -EFAULT, r);
	if (r) {
		ASSERT_EQ(-EFAULT, r);
		TH_LOG("refused: not contiguous");
		/* Mapped, found scattered, unmapped and detached. */
		EXPECT_EQ(1, ion_stat("maps") - maps0);
		EXPECT_EQ(1, ion_stat("unmaps") - unmaps0);
		EXPECT_EQ(0, ion_stat("attachments"));
		EXPECT_EQ(0, reqbufs(self->cap, CAP, 0));
		EXPECT_EQ(0, reqbufs(self->out, OUT, 0));
		return;
	}
	for (int d = 0; d < 2; d++)
		for (int i = d; i < NBUF; i++) {
			r = qbuf(d ? self->cap : self->out, types[d], i, self->fds[d][i],
				 self->size, d ? 0 : self->sizeimage);
			if (r && self->contiguous < 0) {
				/* The system heap: this one's runs were scattered. */
				ASSERT_EQ(-EFAULT, r);
				TH_LOG("refused: buffer %d.%d not contiguous", d, i);
				goto release;
			}
			ASSERT_EQ(0, r) TH_LOG("QBUF %s %d", d ? "capture" : "output", i);
		}
	/* Each buffer attached and mapped once, for vivid's device. */
	EXPECT_EQ(2 * NBUF, ion_stat("attachments"));
	EXPECT_EQ(2 * NBUF, ion_stat("maps") - maps0);
	ASSERT_EQ(0, xioctl(self->out, VIDIOC_STREAMON, &types[0]));
	ASSERT_EQ(0, xioctl(self->cap, VIDIOC_STREAMON, &types[1]));

	while (good < GOOD_FRAMES && frames < MAX_FRAMES) {
		struct pollfd p = { .fd = self->cap, .events = POLLIN };
		int i;

		ASSERT_EQ(1, poll(&p, 1, 5000)) TH_LOG("no frame from vivid");
		/* Displayed output buffers go back in, pattern unchanged. */
		while ((i = dqbuf(self->out, OUT)) >= 0)
			ASSERT_EQ(0, qbuf(self->out, OUT, i, self->fds[0][i], self->size,
					  self->sizeimage));
		i = dqbuf(self->cap, CAP);
		ASSERT_LE(0, i) TH_LOG("DQBUF: %s", strerror(-i));
		frames++;
		ASSERT_EQ(0, dmabuf_sync(self->fds[1][i], DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
		if (!memcmp(self->maps[1][i], self->pattern, self->sizeimage)) {
			good++;
		} else {
			/* What came instead, for a run that never sees the pattern. */
			const uint8_t *f = self->maps[1][i];
			size_t first = 0;

			while (first < self->sizeimage && f[first] == self->pattern[first])
				first++;
			if (frames <= 2 || frames == MAX_FRAMES)
				TH_LOG("frame %d: differs from byte %zu: %02x, not %02x",
				       frames, first, f[first], self->pattern[first]);
			good = 0;
		}
		ASSERT_EQ(0, dmabuf_sync(self->fds[1][i], DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
		ASSERT_EQ(0, qbuf(self->cap, CAP, i, self->fds[1][i], self->size, 0));
	}
	TH_LOG("%d frames, the last %d with the pattern", frames, good);
	EXPECT_EQ(GOOD_FRAMES, good);

	ASSERT_EQ(0, xioctl(self->cap, VIDIOC_STREAMOFF, &types[1]));
	ASSERT_EQ(0, xioctl(self->out, VIDIOC_STREAMOFF, &types[0]));
	/* vb2 keeps the mappings until the buffers go; then each is undone. */
	EXPECT_EQ(2 * NBUF, ion_stat("maps") - maps0);
	EXPECT_EQ(0, ion_stat("unmaps") - unmaps0);
	EXPECT_EQ(0, reqbufs(self->cap, CAP, 0));
	EXPECT_EQ(0, reqbufs(self->out, OUT, 0));
	EXPECT_EQ(2 * NBUF, ion_stat("unmaps") - unmaps0);
	EXPECT_EQ(0, ion_stat("attachments"));
	/* This mapping reaches memory directly: uncached keeps the cheap path. */
	EXPECT_EQ(0, ion_stat("bounced_maps") - bounced0);
	return;
release:
	EXPECT_EQ(0, reqbufs(self->cap, CAP, 0));
	EXPECT_EQ(0, reqbufs(self->out, OUT, 0));
	EXPECT_EQ(ion_stat("maps") - maps0, ion_stat("unmaps") - unmaps0);
	EXPECT_EQ(0, ion_stat("attachments"));
}

TEST_HARNESS_MAIN
