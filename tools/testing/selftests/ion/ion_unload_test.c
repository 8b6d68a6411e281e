// SPDX-License-Identifier: GPL-2.0
/*
 * The module cannot be unloaded while a buffer lives, and unloads cleanly
 * after. Runs last: it unloads ion_rs and loads it again from
 * /lib/modules/ion_rs.ko.
 */
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "ion_util.h"

#define KO "/lib/modules/ion_rs.ko"

static int unload(void)
{
	return syscall(SYS_delete_module, "ion_rs", O_NONBLOCK) ? -errno : 0;
}

static int load(void)
{
	int fd = open(KO, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

TEST(rmmod_refused_while_a_buffer_lives)
{
	int ion = open("/dev/ion", O_RDWR), fd;

	ASSERT_LE(0, ion);
	fd = ion_alloc(ion, 0x10000, 1U << ion_heap_by_type(ion, ION_HEAP_TYPE_SYSTEM), 0);
	ASSERT_LE(0, fd);
	/* An open /dev/ion pins the module as well; only the buffer is left. */
	close(ion);
	ASSERT_EQ(-EWOULDBLOCK, unload());
	ASSERT_EQ(0, access("/dev/ion", F_OK));
	close(fd);
	ASSERT_EQ(0, unload());
	ASSERT_EQ(-1, access("/dev/ion", F_OK));
	ASSERT_EQ(0, load());
	ion = open("/dev/ion", O_RDWR);
	ASSERT_LE(0, ion);
	close(ion);
}

TEST_HARNESS_MAIN
