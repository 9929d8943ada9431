// SPDX-License-Identifier: GPL-2.0
/* ksv-vsmmu: What every part shares: globals, check(), ioctl errors. */
#include "ksv-vsmmu.h"

const char *const modnames[2] = { "kvm_vmid_pin", "smmu_v3_btm" };

int kvm_fd, run_size, expect_kvm, failures;
char bdf[300], cdev_path[300];
struct edu edus[MAX_EDU];
int n_edu;
struct timespec t_start;

double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9;
}

void check(const char *name, int ok, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!ok)
		failures++;
	say("CHECK %s %s %s (t=%.1fs)\n", name, ok ? "ok" : "FAIL", buf, now_s());
}

const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int r = ioctl(fd, req, arg);

	if (r < 0) {
		int e = errno;

		say("step %s failed: %s (%s)\n", name, strerror(e), errname(e));
		errno = e;
	}
	return r;
}
