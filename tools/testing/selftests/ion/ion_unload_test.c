// SPDX-License-Identifier: GPL-2.0
/*
 * The module cannot be unloaded while a buffer lives, and unloads cleanly
 * after. Runs last: it unloads ion_rs and loads it again from
 * /lib/modules/ion_rs.ko.
 */
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "ion_util.h"

TEST(rmmod_refused_while_a_buffer_lives)
{
	int ion = open("/dev/ion", O_RDWR), fd;

	ASSERT_LE(0, ion);
	fd = ion_alloc(ion, 0x10000, 1U << ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM), 0);
	ASSERT_LE(0, fd);
	/* An open /dev/ion pins the module as well; only the buffer is left. */
	close(ion);
	ASSERT_EQ(-EWOULDBLOCK, ion_module_unload());
	ASSERT_EQ(0, access("/dev/ion", F_OK));
	close(fd);
	ASSERT_EQ(0, ion_module_unload());
	ASSERT_EQ(-1, access("/dev/ion", F_OK));
	ASSERT_EQ(0, ion_module_load(""));
	ion = open("/dev/ion", O_RDWR);
	ASSERT_LE(0, ion);
	close(ion);
	/* The dma-heap face is off by default: no node, nothing pins us. */
	ASSERT_EQ(-1, access("/dev/dma_heap/ion_system", F_OK));
}

/* A board without a carveout node carves one out of CMA at load. */
TEST(carveout_carved_out_of_cma_by_parameter)
{
	const size_t len = 1 << 20;
	int ion, id, fd;
	unsigned char *p;

	ASSERT_EQ(0, ion_module_unload());
	ASSERT_EQ(0, ion_module_load("carveout_cma_mb=8"));
	ion = open("/dev/ion", O_RDWR);
	ASSERT_LE(0, ion);
	id = ion_heap_by_type(ion, ION_HEAP_TYPE_CARVEOUT);
	ASSERT_EQ(ION_HEAP_TYPE_CARVEOUT, id);
	ASSERT_EQ(8 << 20, ion_heap_stat(ion, id, "max_alloc"));
	fd = ion_alloc(ion, len, 1U << id, ION_FLAG_CACHED);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, ion_heap_stat(ion, id, "runs"));
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	for (size_t i = 0; i < len; i++)
		ASSERT_EQ(0, p[i]);
	munmap(p, len);
	close(fd);
	ASSERT_EQ(-ENOMEM, ion_alloc(ion, 9 << 20, 1U << id, 0));
	close(ion);
	/* Unloading gives the CMA pages back; /init unloads at the end. */
}

/*
 * carveout_cma_mb carves from the default CMA area, never from the CMA
 * heap's own (rust-ion,cma names a 16 MiB area in the test device tree):
 * 32 MiB must load, and the CMA heap must still allocate beside it.
 */
TEST(carveout_cma_mb_leaves_the_cma_heap_its_area)
{
	int ion, carve, cma, a, b;

	ASSERT_EQ(0, ion_module_unload());
	ASSERT_EQ(0, ion_module_load("carveout_cma_mb=32"));
	ion = open("/dev/ion", O_RDWR);
	ASSERT_LE(0, ion);
	carve = ion_heap_by_type(ion, ION_HEAP_TYPE_CARVEOUT);
	cma = ion_heap_by_type(ion, ION_HEAP_TYPE_DMA);
	ASSERT_LE(0, carve);
	ASSERT_LE(0, cma);
	ASSERT_EQ(32 << 20, ion_heap_stat(ion, carve, "max_alloc"));
	a = ion_alloc(ion, 32 << 20, 1U << carve, 0);
	ASSERT_LE(0, a);
	b = ion_alloc(ion, 8 << 20, 1U << cma, 0);
	ASSERT_LE(0, b) TH_LOG("the CMA heap lost its area: %s", strerror(-b));
	close(a);
	close(b);
	ASSERT_EQ(0, ion_heap_stat(ion, carve, "bytes"));
	ASSERT_EQ(0, ion_heap_stat(ion, cma, "bytes"));
	close(ion);
}

TEST_HARNESS_MAIN
