// SPDX-License-Identifier: GPL-2.0
/*
 * ion_insmod_walk: loads ion_rs with its N-th fault-injectable call failing
 * (/proc/thread-self/fail-nth), for N = 1, 1 + stride, ... until a load
 * makes fewer calls than N. Every load must fail with an errno or work,
 * and a module that loaded must unload; afterwards a plain load and unload
 * work. KUnit is filtered out for the walk (its suites allocate too, and
 * their failures are not the driver's), through kunit's filter_glob.
 *
 *   ion_insmod_walk [params]     ION_WALK_STRIDE (default 1)
 *
 * Needs CONFIG_FAULT_INJECTION; skips without it. Runs with ion_rs
 * unloaded and leaves it unloaded.
 */

#include "kselftest.h"
#include "ion_util.h"

#define GLOB "/sys/module/kunit/parameters/filter_glob"

static void put(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, val, strlen(val)) < 0)
			ksft_print_msg("write %s: %s\n", path, strerror(errno));
		close(fd);
	}
}

static char old_glob[128];

static void save_glob(void)
{
	int fd = open(GLOB, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, old_glob, sizeof(old_glob) - 1) : -1;

	old_glob[n > 0 ? n : 0] = 0;
	if (n > 0 && old_glob[n - 1] == '\n')
		old_glob[n - 1] = 0;
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *params = argc > 1 ? argv[1] : "";
	long stride = getenv("ION_WALK_STRIDE") ? atol(getenv("ION_WALK_STRIDE")) : 1;
	long loads = 0, loaded = 0, failed = 0, bad = 0, errs[160] = { 0 }, n;
	int nth = open("/proc/thread-self/fail-nth", O_RDWR);
	char buf[32];

	ksft_print_header();
	if (nth < 0)
		ksft_exit_skip("no /proc/thread-self/fail-nth\n");
	ksft_set_plan(2);
	if (stride < 1)
		stride = 1;
	save_glob();
	put(GLOB, "none-during-the-walk");
	for (n = 1;; n += stride) {
		long left;
		int r;

		snprintf(buf, sizeof(buf), "%ld", n);
		if (pwrite(nth, buf, strlen(buf), 0) < 0)
			ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
		r = ion_module_load(params);
		memset(buf, 0, sizeof(buf));
		if (pread(nth, buf, sizeof(buf) - 1, 0) < 0)
			buf[0] = 0;
		left = atol(buf);
		/* Nothing left to fail: stop counting calls for the next one. */
		pwrite(nth, "0", 1, 0);
		loads++;
		if (r == 0) {
			loaded++;
			if (ion_module_unload()) {
				bad++;
				ksft_print_msg("call %ld: loaded but would not unload\n", n);
			}
		} else {
			failed++;
			if (-r > 0 && -r < (int)ARRAY_SIZE(errs))
				errs[-r]++;
		}
		/* The load made fewer than n calls: the walk is complete. */
		if (left > 0)
			break;
	}
	put(GLOB, old_glob);
	ksft_print_msg("walk: %ld loads over %ld fault-injectable calls (stride %ld)\n",
		       loads, n - 1, stride);
	ksft_print_msg("%ld loaded, %ld failed:", loaded, failed);
	for (unsigned int e = 0; e < ARRAY_SIZE(errs); e++)
		if (errs[e])
			printf(" %s %ld", strerror(e), errs[e]);
	printf("\n");
	ksft_test_result(!bad && failed > 0,
			 "insmod with each fault-injectable call failing: clean every time\n");
	ksft_test_result(ion_module_load(params) == 0 && ion_module_unload() == 0,
			 "insmod and rmmod work after the walk\n");
	ksft_finished();
}
