// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu: the kernel's fault injection (FAILSLAB, FAIL_PAGE_ALLOC and
 * /proc/thread-self/fail-nth, Documentation/fault-injection/) on each
 * call of this series' paths. For n = 1, 2, ... the n-th allocation of
 * the call fails, until the call runs through without reaching an n-th.
 * After each failed call its errno must be ENOMEM (or ENOENT or EINVAL
 * where iommufd's own injection point, an object lookup, failed, or EFAULT
 * where a nest parent pins the IOAS's pages) and everything as before the
 * call (pins, vSMMU records, module references, VMs, open files);
 * after each teardown as before the first call. A call that succeeds
 * although an allocation failed took a fallback: counted, then checked
 * the same way at teardown.
 *
 *   --fail-nth            the ioctls: VFIO bind with the VM, nest parent,
 *                         vIOMMU, vDEVICE, nested HWPT
 *   --fail-nth-insmod KO  finit_module of KO (not loaded before)
 *
 * One "CHECK failnth-<path> ok|FAIL" line per path, with the number of
 * injection points hit.
 */
#include <sys/syscall.h>

#include "ksv-vsmmu.h"



static int nth_fd = -1;

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* The SMMUs smmu_v3_btm has a record of (debugfs), or -1. */
static int btm_smmus(void)
{
	char line[512];
	FILE *f = fopen(BTM_STATE, "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, "cr2_ptm:");
	fclose(f);
	return n;
}

void fstate_take(struct fstate *f)
{
	take_snap(&f->s);
	f->vms = count_dir("/sys/kernel/debug/kvm");
	f->fds = count_dir("/proc/self/fd");
	f->smmus = btm_smmus();
}

int fstate_eq(const struct fstate *a, const struct fstate *b)
{
	return snap_eq(&a->s, &b->s) && a->vms == b->vms && a->fds == b->fds &&
	       a->smmus == b->smmus;
}

void fstate_str(const struct fstate *f, char *buf, size_t len)
{
	char s[256];

	snap_str(&f->s, s, sizeof(s));
	snprintf(buf, len, "%s, SMMU records %d, kvm debugfs entries %d, open fds %d", s, f->smmus,
		 f->vms, f->fds);
}

/*
 * Fault injection as iommufd_fail_nth sets it up: sleeping allocations
 * too, and no report per injected fault from any fail* attribute (among
 * them fail_iommufd: with IOMMUFD_TEST, iommufd's object lookups are
 * injection points too, and fail with ENOENT).
 */
int nth_setup(void)
{
	static const char *const files[][2] = {
		{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
	};
	DIR *d = opendir("/sys/kernel/debug");
	struct dirent *e;
	char path[300];

	for (unsigned int i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (write_file(files[i][0], files[i][1])) {
			say("cannot write %s: %s (FAILSLAB, FAIL_PAGE_ALLOC, FAULT_INJECTION_DEBUG_FS?)\n",
			    files[i][0], strerror(errno));
			if (d)
				closedir(d);
			return -1;
		}
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "fail", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s/verbose", e->d_name);
		write_file(path, "0");
	}
	if (d)
		closedir(d);
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth_fd < 0)
		say("open /proc/thread-self/fail-nth: %s\n", strerror(errno));
	return nth_fd < 0 ? -1 : 0;
}

/* The @n-th fault-injectable call of this thread fails. */
void nth_arm(int n)
{
	char b[16];
	int l = snprintf(b, sizeof(b), "%d", n);

	if (pwrite(nth_fd, b, l, 0) != l)
		say("writing fail-nth: %s\n", strerror(errno));
}

/* 1 if the armed fault was injected; disarms. Keeps errno. */
int nth_hit(void)
{
	char b[16] = "";
	int e = errno, left;

	if (pread(nth_fd, b, sizeof(b) - 1, 0) < 0)
		say("reading fail-nth: %s\n", strerror(errno));
	left = atoi(b);
	if (pwrite(nth_fd, "0", 1, 0) != 1)
		say("disarming fail-nth: %s\n", strerror(errno));
	errno = e;
	return left == 0;
}

enum path { P_BIND, P_PARENT, P_VIOMMU, P_VDEVICE, P_NESTED, P_NR };
static const char *const path_name[P_NR] = { "bind", "parent", "viommu", "vdevice", "nested" };

/* A VMM set up to just before @p's call. */
static int prepare(struct vmm *m, enum path p)
{
	vmm_init(m);
	if (vmm_vm(m) || vmm_open_dev(m) || vmm_kvfio(m))
		return -1;
	if (p == P_BIND)
		return 0;
	if (vmm_bind(m) || vmm_ioas(m, 1))
		return -1;
	if (p == P_PARENT)
		return 0;
	if (parent_alloc(m, &m->parent))
		return -1;
	if (p == P_VIOMMU)
		return 0;
	if (viommu_alloc(m, m->parent, &m->viommu))
		return -1;
	if (p == P_VDEVICE)
		return 0;
	return vmm_vdev(m);
}

/* @p's call alone: no message, no other syscall (errno is the result). */
static int call(struct vmm *m, enum path p, int *fell_back)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = m->iommufd };
	struct iommu_hwpt_alloc parent = {
		.size = sizeof(parent),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = m->dev_id,
		.pt_id = m->ioas,
	};
	struct iommu_viommu_arm_smmuv3 data = {};
	struct iommu_viommu_alloc viommu = {
		.size = sizeof(viommu),
		.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = m->dev_id,
		.hwpt_id = m->parent,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct iommu_vdevice_alloc vdev = {
		.size = sizeof(vdev),
		.viommu_id = m->viommu,
		.dev_id = m->dev_id,
		.virt_id = VIRT_SID,
	};
	struct iommu_hwpt_arm_smmuv3 ste = { .ste = { 0x9, 0 } };
	struct iommu_hwpt_alloc nested = {
		.size = sizeof(nested),
		.dev_id = m->dev_id,
		.pt_id = m->viommu,
		.data_type = IOMMU_HWPT_DATA_ARM_SMMUV3,
		.data_len = sizeof(ste),
		.data_uptr = (uint64_t)&ste,
	};
	int r = -1;

	*fell_back = 0;
	switch (p) {
	case P_BIND:
		r = ioctl(m->dev, VFIO_DEVICE_BIND_IOMMUFD, &bind);
		break;
	case P_PARENT:
		r = ioctl(m->iommufd, IOMMU_HWPT_ALLOC, &parent);
		break;
	case P_VIOMMU:
		r = ioctl(m->iommufd, IOMMU_VIOMMU_ALLOC, &viommu);
		/* BTM is an offer: a failed pin leaves the parent's VMID. */
		*fell_back = !r && expect_kvm && !(data.out_flags & IOMMU_VIOMMU_ARM_SMMUV3_BTM);
		break;
	case P_VDEVICE:
		r = ioctl(m->iommufd, IOMMU_VDEVICE_ALLOC, &vdev);
		break;
	case P_NESTED:
		r = ioctl(m->iommufd, IOMMU_HWPT_ALLOC, &nested);
		break;
	default:
		break;
	}
	return r;
}

static void sweep(enum path p, const struct fstate *base)
{
	int hits = 0, failed = 0, absorbed = 0, fell_back = 0, bad = 0, lookups = 0, efault = 0, n;
	char why[1200] = "", s0[384], s1[384];

	for (n = 1; n <= NTH_MAX; n++) {
		struct fstate before, after;
		struct vmm m;
		int r, e, hit, fb;

		if (prepare(&m, p)) {
			snprintf(why, sizeof(why), "setup before the call failed at n=%d", n);
			bad++;
			vmm_close(&m);
			break;
		}
		fstate_take(&before);
		nth_arm(n);
		r = call(&m, p, &fb);
		e = errno;
		hit = nth_hit();
		if (hit) {
			hits++;
			if (r) {
				failed++;
				fstate_take(&after);
				/*
				 * iommufd's own injection point, an object
				 * lookup, fails with ENOENT, or EINVAL where
				 * IOMMU_HWPT_ALLOC reports a pt_id it cannot
				 * look up (the same on the unpatched kernel).
				 */
				lookups += (e == ENOENT || e == EINVAL) && p != P_BIND;
				/*
				 * EFAULT: a new paging domain is filled from
				 * the IOAS's user pages, and pinning them
				 * allocates (the same on the unpatched kernel).
				 */
				efault += e == EFAULT && p == P_PARENT;
				if ((e != ENOMEM && ((e != ENOENT && e != EINVAL) || p == P_BIND) &&
				     (e != EFAULT || p != P_PARENT)) ||
				    !fstate_eq(&before, &after)) {
					fstate_str(&before, s0, sizeof(s0));
					fstate_str(&after, s1, sizeof(s1));
					if (!bad++)
						snprintf(why, sizeof(why), "n=%d: %s (%s); before: %s; after: %s",
							 n, strerror(e), errname(e), s0, s1);
				}
			} else {
				absorbed++;
				fell_back += fb;
			}
		} else if (r) {
			if (!bad++)
				snprintf(why, sizeof(why), "n=%d: no fault injected, yet %s (%s)", n,
					 strerror(e), errname(e));
		}
		vmm_close(&m);
		fstate_take(&after);
		if (!fstate_eq(base, &after)) {
			fstate_str(base, s0, sizeof(s0));
			fstate_str(&after, s1, sizeof(s1));
			if (!bad++)
				snprintf(why, sizeof(why), "after the teardown at n=%d: %s; at the start: %s",
					 n, s1, s0);
		}
		if (!hit)
			break;
	}
	say("CHECK failnth-%s %s %d injection points: %d failed cleanly (%d with ENOMEM, %d at an iommufd object lookup: ENOENT or EINVAL, %d EFAULT pinning the IOAS's pages), %d succeeded anyway (%d of them without BTM: the fallback); the call ran through at n=%d%s%s\n",
	    path_name[p], !bad && n <= NTH_MAX && hits ? "ok" : "FAIL", hits, failed,
	    failed - lookups - efault, lookups, efault, absorbed, fell_back, n, bad ? "; " : "", why);
	if (bad || n > NTH_MAX || !hits)
		failures++;
}

void test_fail_nth(void)
{
	struct fstate base;

	if (nth_setup()) {
		check("failnth-setup", 0, "no fault injection in this kernel");
		return;
	}
	fstate_take(&base);
	for (int p = 0; p < P_NR; p++)
		sweep(p, &base);
}

/* finit_module of @ko (by its file name's module), swept like a call. */
void test_fail_nth_insmod(const char *ko)
{
	char name[64], why[512] = "", sys[128];
	const char *b = strrchr(ko, '/');
	int hits = 0, failed = 0, absorbed = 0, bad = 0, n;

	snprintf(name, sizeof(name), "%s", b ? b + 1 : ko);
	if (strchr(name, '.'))
		*strchr(name, '.') = 0;
	snprintf(sys, sizeof(sys), "/sys/module/%s", name);
	if (nth_setup() || !access(sys, F_OK)) {
		check("failnth-insmod-setup", 0, "no fault injection, or %s already loaded", name);
		return;
	}
	for (n = 1; n <= NTH_MAX; n++) {
		int fd = open(ko, O_RDONLY), r, e, hit;

		if (fd < 0) {
			snprintf(why, sizeof(why), "open %s: %s", ko, strerror(errno));
			bad++;
			break;
		}
		nth_arm(n);
		r = syscall(SYS_finit_module, fd, "", 0);
		e = errno;
		hit = nth_hit();
		close(fd);
		if (hit && r) {
			hits++;
			failed++;
			if ((e != ENOMEM || !access(sys, F_OK)) && !bad++)
				snprintf(why, sizeof(why), "n=%d: %s (%s), %s", n, strerror(e), errname(e),
					 access(sys, F_OK) ? "not loaded" : "yet loaded");
		} else if (r) {
			if (!bad++)
				snprintf(why, sizeof(why), "n=%d: no fault injected, yet %s (%s)", n,
					 strerror(e), errname(e));
			break;
		} else {
			hits += hit;
			absorbed += hit;
			if (syscall(SYS_delete_module, name, O_NONBLOCK) && !bad++)
				snprintf(why, sizeof(why), "n=%d: rmmod %s: %s", n, name, strerror(errno));
			if (!hit)
				break;
		}
	}
	say("CHECK failnth-insmod-%s %s %d injection points: %d failed with ENOMEM, %d loaded anyway (then unloaded); loaded at n=%d%s%s\n",
	    name, !bad && n <= NTH_MAX && hits ? "ok" : "FAIL", hits, failed, absorbed, n,
	    bad ? "; " : "", why);
	if (bad || n > NTH_MAX || !hits)
		failures++;
}
