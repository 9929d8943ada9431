// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu --random SEED --steps N: a seeded, repeatable random sequence
 * of the uapi steps a VMM takes, in any order, with malformed driver data
 * among them: the practical substitute for syzkaller here. One VMM (the
 * edu device can be bound once at a time), plus VMs of its own, plus
 * children that build a whole VMM and are SIGKILLed.
 *
 * After every step:
 *   - a refusal is a clean errno of the call's documented set;
 *   - every vSMMU record's VMID is pinned in KVM (its VM's pin), and KVM
 *     holds no more pins than the vSMMU records and the nest parents of
 *     this VMM (with equal VMID widths) account for;
 *   - no splat (the boot check reads the kernel log).
 * At the end everything is closed and pins, records and module
 * references are back where they started.
 *
 * Prints "CHECK random-<seed> ok|FAIL ...", and on a failure the step
 * and the command that repeats the run.
 */
#include "ksv-vsmmu.h"

static uint64_t rng;
/* The RAM the IOAS maps (a VM's, possibly closed since): DMA lands there. */
static void *mapped;

static unsigned int rnd(unsigned int n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned int)(rng % n);
}

enum act {
	A_VM, A_CLOSE_VM, A_OPEN, A_BIND, A_IOAS, A_PARENT, A_VIOMMU, A_VIOMMU_BAD, A_VDEV,
	A_NESTED, A_ATTACH, A_DMA, A_DESTROY, A_CLOSE_DEV, A_CLOSE_IOMMUFD, A_HW_INFO_BAD,
	A_EXTRA_VM, A_KILLED_CHILD, A_NR
};

static const char *const act_name[A_NR] = {
	"vm", "close-vm", "open-dev", "bind", "ioas", "parent", "viommu", "viommu-bad",
	"vdevice", "nested", "attach", "dma", "destroy", "close-dev", "close-iommufd",
	"hw-info-bad", "extra-vm", "killed-child",
};

/*
 * How often each step is drawn: building up (the VM, the device, the
 * objects, DMA) more than tearing down, so that runs reach the vIOMMU,
 * its vDEVICE and nested domain, and DMA, and then lose them again.
 */
static const unsigned int weight[A_NR] = {
	[A_VM] = 6, [A_CLOSE_VM] = 1, [A_OPEN] = 6, [A_BIND] = 6, [A_IOAS] = 6, [A_PARENT] = 6,
	[A_VIOMMU] = 6, [A_VIOMMU_BAD] = 2, [A_VDEV] = 6, [A_NESTED] = 6, [A_ATTACH] = 6,
	[A_DMA] = 6, [A_DESTROY] = 2, [A_CLOSE_DEV] = 1, [A_CLOSE_IOMMUFD] = 1,
	[A_HW_INFO_BAD] = 2, [A_EXTRA_VM] = 1, [A_KILLED_CHILD] = 1,
};

static enum act draw(void)
{
	unsigned int total = 0, x;
	int a;

	for (a = 0; a < A_NR; a++)
		total += weight[a];
	x = rnd(total);
	for (a = 0; x >= weight[a]; a++)
		x -= weight[a];
	return a;
}

/* Errnos a refused call may return (its documented set); 0 ends it. */
static int allowed(int e)
{
	static const int ok[] = { EINVAL, ENOENT, EBUSY, EEXIST, EOPNOTSUPP, ENOSPC, EFAULT,
				  ENODEV, EPERM, EBADF, ENOTTY, E2BIG, ENXIO, 0 };

	for (int i = 0; ok[i]; i++)
		if (e == ok[i])
			return 1;
	return 0;
}

/* The vSMMU records' VMIDs must all be pinned; the pin count accounted. */
static int invariants(int parents, char *why, size_t len)
{
	struct vsmmus v;
	struct pins p;

	read_vsmmus(&v);
	read_pins(&p);
	if (!p.present || !v.present)
		return 0; /* upstream: nothing to account */
	for (int i = 0; i < v.n; i++)
		if (!pins_has(&p, v.vmid[i])) {
			snprintf(why, len, "vSMMU %s uses VMID %d, which KVM has not pinned", v.key[i],
				 v.vmid[i]);
			return -1;
		}
	if (p.pinned > v.n + parents) {
		snprintf(why, len, "KVM holds %ld pins; %d vSMMU records and %d nest parents own pins",
			 p.pinned, v.n, parents);
		return -1;
	}
	return 0;
}

static int step(struct vmm *m, enum act a, int *extra_vm, int *parents)
{
	int r = 0;

	switch (a) {
	case A_VM:
		if (m->has_vm || m->dev >= 0)
			return 1;
		return vm_open(&m->vm, RAM_IPA, RAM_SIZE) ? -1 : (m->has_vm = 1, 0);
	case A_CLOSE_VM:
		if (!m->has_vm)
			return 1;
		/* The VMM closes its VM fd; the vIOMMU keeps the VM alive. */
		vm_close(&m->vm);
		m->has_vm = 0;
		return 0;
	case A_OPEN:
		if (m->dev >= 0)
			return 1;
		/* The device, and an iommufd unless this VMM still has one. */
		m->dev = open(cdev_path, O_RDWR);
		if (m->dev < 0)
			return -1;
		if (m->iommufd < 0) {
			m->iommufd = open("/dev/iommu", O_RDWR);
			if (m->iommufd < 0)
				return -1;
		}
		return m->has_vm && m->vm.vm >= 0 && rnd(4) ? vmm_kvfio(m) : 0;
	case A_BIND:
		if (m->dev < 0)
			return 1;
		return vmm_bind(m);
	case A_IOAS:
		if (m->iommufd < 0 || m->ioas)
			return 1;
		r = vmm_ioas(m, m->has_vm && m->vm.mem);
		mapped = !r && m->has_vm ? m->vm.mem : NULL;
		return r;
	case A_PARENT:
		if (m->iommufd < 0)
			return 1;
		r = parent_alloc(m, &m->parent);
		*parents += !r;
		return r;
	case A_VIOMMU: {
		struct iommu_viommu_arm_smmuv3 d = { .flags = rnd(3) ? 0 : IOMMU_VIOMMU_ARM_SMMUV3_NO_BTM };

		if (m->iommufd < 0)
			return 1;
		return viommu_alloc_data(m, m->parent, &m->viommu, &d);
	}
	case A_VIOMMU_BAD: {
		/* Malformed driver data: sizes, unknown flags, out_flags, types. */
		uint32_t data[8], id;
		struct iommu_viommu_alloc v = {
			.size = sizeof(v),
			.type = rnd(3) ? IOMMU_VIOMMU_TYPE_ARM_SMMUV3 : rnd(8),
			.dev_id = m->dev_id,
			.hwpt_id = m->parent,
			.data_len = rnd(5) * 4,
			.data_uptr = rnd(8) ? (uintptr_t)data : 8,
		};

		if (m->iommufd < 0)
			return 1;
		for (int i = 0; i < 8; i++)
			data[i] = rnd(2) ? 1u << rnd(32) : 0;
		if (ioctl(m->iommufd, IOMMU_VIOMMU_ALLOC, &v))
			return -1;
		id = v.out_viommu_id;
		return destroy(m, id, "malformed-data viommu");
	}
	case A_VDEV:
		if (m->iommufd < 0)
			return 1;
		return vmm_vdev(m);
	case A_NESTED:
		if (m->iommufd < 0)
			return 1;
		return vmm_nested(m);
	case A_ATTACH:
		if (m->dev < 0)
			return 1;
		return vmm_attach(m, rnd(2) ? m->nested : m->parent);
	case A_DMA: {
		char why[256];

		/* Only where the data can be read back: the current VM's RAM. */
		if (!m->attached || !mapped || mapped != m->vm.mem)
			return 1;
		/* Either path (bypass vSTE or the parent): stage 2, IOVA = IPA. */
		if (bus_master(m))
			return -1;
		if (dma_check(m, PG(8), PG(9), rnd(1000), why, sizeof(why))) {
			say("random: DMA: %s\n", why);
			errno = EIO; /* not in the allowed set: fails the run */
			return -1;
		}
		return 0;
	}
	case A_DESTROY: {
		uint32_t *ids[] = { &m->nested, &m->vdev, &m->viommu, &m->parent, &m->ioas };
		uint32_t *id = ids[rnd(5)];

		if (m->iommufd < 0 || !*id)
			return 1;
		if (destroy(m, *id, "random object"))
			return -1; /* in use: EBUSY */
		if (id == &m->parent)
			(*parents)--;
		if (id == &m->ioas)
			mapped = NULL;
		if (*id == m->nested && m->attached)
			m->attached = 0;
		*id = 0;
		return 0;
	}
	case A_CLOSE_DEV:
		if (m->dev < 0)
			return 1;
		close(m->dev);
		if (m->kvfio >= 0)
			close(m->kvfio);
		m->dev = m->kvfio = -1;
		m->attached = 0;
		m->dev_id = 0;
		/* The last holder of a closed iommufd: its objects go now. */
		if (m->iommufd < 0)
			*parents = 0;
		return 0;
	case A_CLOSE_IOMMUFD:
		if (m->iommufd < 0)
			return 1;
		close(m->iommufd);
		m->iommufd = -1;
		m->ioas = m->parent = m->viommu = m->vdev = m->nested = 0;
		/* A bound device keeps the iommufd, and its objects, alive. */
		if (m->dev < 0)
			*parents = 0;
		mapped = NULL;
		return 0;
	case A_HW_INFO_BAD: {
		uint32_t data[16];
		struct iommu_hw_info info = {
			.size = sizeof(info),
			.dev_id = m->dev_id,
			.data_len = rnd(17) * 4,
			.data_uptr = (uintptr_t)data,
			.flags = rnd(4) ? 0 : 1u << rnd(32),
		};

		if (m->iommufd < 0)
			return 1;
		return ioctl(m->iommufd, IOMMU_GET_HW_INFO, &info);
	}
	case A_EXTRA_VM: {
		/* Another VM of this VMM, opened and run, or closed again. */
		static struct vm extra;

		if (*extra_vm) {
			vm_close(&extra);
			vm_free_mem(&extra);
			*extra_vm = 0;
			return 0;
		}
		if (vm_open(&extra, 0, 0x10000))
			return -1;
		*extra_vm = 1;
		return 0;
	}
	case A_KILLED_CHILD: {
		int pfds[2], status;
		char c;
		pid_t pid;

		/* The child needs the device: only while this VMM has none. */
		if (m->dev >= 0 || pipe(pfds))
			return 1;
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			close(pfds[0]);
			killed_child(pfds[1]);
		}
		close(pfds[1]);
		r = pid > 0 && read(pfds[0], &c, 1) == 1 ? 0 : -1;
		close(pfds[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		/* A child that could not set up (e.g. the device is busy). */
		errno = EBUSY;
		return r;
	}
	default:
		return 1;
	}
}

void test_random(unsigned long seed, int steps)
{
	int extra_vm = 0, parents = 0, done[A_NR] = { 0 }, refused[A_NR] = { 0 }, i;
	struct snap before, after;
	char why[1200] = "", s0[512], s1[512];
	double t0 = now_s();
	struct vmm m;

	rng = seed * 2654435761u + 1;
	vmm_init(&m);
	take_snap(&before);
	for (i = 0; i < steps && !why[0]; i++) {
		enum act a = draw();
		int r = step(&m, a, &extra_vm, &parents), e = errno;

		if (r < 0) {
			refused[a]++;
			if (!allowed(e))
				snprintf(why, sizeof(why), "step %d (%s): refused with %s (%s)", i,
					 act_name[a], strerror(e), errname(e));
		} else if (r == 0) {
			done[a]++;
		}
		/* A release that a worker completes gets up to 2 s. */
		for (int t = 0; !why[0] && invariants(parents, s0, sizeof(s0)); t++) {
			if (t == 20) {
				snprintf(why, sizeof(why), "after step %d (%s): %s", i, act_name[a], s0);
				break;
			}
			usleep(100000);
		}
	}
	if (extra_vm)
		step(&m, A_EXTRA_VM, &extra_vm, &parents);
	vmm_close(&m);
	/* A file's last reference may be dropped by a worker: wait up to 5 s. */
	for (int t = 0; t < 50; t++) {
		take_snap(&after);
		if (snap_eq(&before, &after))
			break;
		usleep(100000);
	}
	if (!why[0] && !snap_eq(&before, &after)) {
		snap_str(&before, s0, sizeof(s0));
		snap_str(&after, s1, sizeof(s1));
		snprintf(why, sizeof(why), "after closing everything: %s; at the start: %s", s1, s0);
	}
	s1[0] = 0;
	for (int a = 0, o = 0; a < A_NR && o < (int)sizeof(s1); a++)
		o += snprintf(s1 + o, sizeof(s1) - o, "%s%s %d/%d", a ? ", " : "", act_name[a],
			      done[a], refused[a]);
	snprintf(s0, sizeof(s0), "random-%lu", seed);
	check(s0, !why[0], "%d steps in %.1fs (done/refused: %s)%s%s", i, now_s() - t0, s1,
	      why[0] ? "; " : "", why);
	if (why[0])
		say("repeat: KSV_SEED=%lu KSV_STEPS=%d bash ci/random.sh\n", seed, steps);
}
