// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu --random SEED --steps N [--procs P]: a seeded, repeatable
 * random sequence of the uapi steps a VMM takes, in any order, with
 * malformed driver data among them: the practical substitute for syzkaller
 * here. P VMM processes at once (1), each with its own edu device when
 * there are enough (KSV_EDU=), its own VMs, and children that build a
 * whole VMM and are SIGKILLed.
 *
 * After every step (the others' steps complete first: steps hold a shared
 * lock, the check takes it exclusively):
 *   - a refusal is a clean errno of the call's documented set;
 *   - every vSMMU record's VMID is pinned in KVM (its VM's pin), and KVM
 *     holds no more pins than the vSMMU records and the nest parents of
 *     the VMMs (with equal VMID widths) account for;
 *   - a vSMMU record of this VMM's VM keeps its VMID while it lives;
 *   - no splat (the boot check reads the kernel log).
 * The step "run" has a VM's vCPU run TLBI VAE1IS with an operand that
 * names the VM and the VMID it must carry (its pinned VMID, or 0 when it
 * has none): ci/check_boot.py reads QEMU's trace of the broadcasts that
 * reach the SMMU and checks that a pinned VM's vCPU runs on its pinned
 * VMID, and that between two rollovers (TLBI ALLE1IS) no two VMs share a
 * VMID and no VM changes it.
 * At the end everything is closed and pins, records and module
 * references are back where they started.
 *
 * Prints "CHECK random-<seed>[/<process>] ok|FAIL ...", and on a failure
 * the step and the command that repeats the run.
 */
#include "ksv-vsmmu.h"

#include <pthread.h>

static uint64_t rng;
/* The RAM the IOAS maps (a VM's, possibly closed since): DMA lands there. */
static void *mapped;
/* A second VM of this VMM (A_EXTRA_VM). */
static struct vm extra;
static int extra_open;

#define MAX_PROCS 8
/* What the VMM processes of one run share (a MAP_SHARED page). */
struct shared {
	pthread_rwlock_t lock;		/* steps: shared; checks: exclusive */
	int parents[MAX_PROCS];		/* the nest parents each VMM holds */
	unsigned int vm_serial;		/* names every VM in the TLBI marks */
	int stop;			/* the walks are done: the steady VMM ends */
};
static struct shared *sh;
static int me;
/* This VMM's VMs: serial numbers for the TLBI marks. */
static unsigned int vm_serial, extra_serial;

/*
 * The TLBI VAE1IS operand of A_RUN: ASID MARK_ASID, VA[55:52] = 5 (no
 * kernel or user VA of the host has it), the VM's serial (24 bits: the
 * walks' below 0x800000, the rollover forcer's above) and the VMID its
 * vCPU must run on (0: any; the VM has no pin).
 */
#define MARK_ASID 0x5a
uint64_t tlbi_mark(unsigned int serial, int vmid)
{
	return ((uint64_t)MARK_ASID << 48) | (0x5ULL << 40) |
	       ((uint64_t)(serial & 0xffffff) << 16) | (vmid & 0xffff);
}

static unsigned int new_serial(void)
{
	return __atomic_add_fetch(&sh->vm_serial, 1, __ATOMIC_RELAXED);
}

static int parents_total(void)
{
	int n = 0;

	for (int i = 0; i < MAX_PROCS; i++)
		n += __atomic_load_n(&sh->parents[i], __ATOMIC_RELAXED);
	return n;
}

/*
 * This VMM's vIOMMUs that use a pinned VMID: the VM they were bound with
 * (its serial) and that VMID. The records name a VM by KVM's stats_id,
 * "kvm-<pid>", so the walk keeps track of which VM each vIOMMU holds.
 */
static struct {
	uint32_t id;
	unsigned int serial;
	int vmid;
} pv[64];
static int n_pv;
/* The VM the device was bound with (its kvm-vfio device), or 0. */
static unsigned int bound_serial;

/* The VMID of this VMM's vSMMU record of vIOMMU @id: -1 none, -2 several. */
static int record_vmid(const struct vsmmus *s, uint32_t id)
{
	char name[32], key[16];
	int vmid = -1;

	snprintf(name, sizeof(name), "kvm-%d", getpid());
	snprintf(key, sizeof(key), "%u", id);
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->vm[i], name) && !strcmp(s->key[i], key))
			vmid = vmid == -1 ? s->vmid[i] : -2;
	return vmid;
}

/* The VMID @serial's vCPU must run on: a live vIOMMU's pin, or 0. */
static int pinned_vmid(unsigned int serial)
{
	struct vsmmus s;

	read_vsmmus(&s);
	for (int i = 0; i < n_pv; i++)
		if (pv[i].serial == serial && record_vmid(&s, pv[i].id) == pv[i].vmid)
			return pv[i].vmid;
	return 0;
}

static void pv_forget(uint32_t id)
{
	for (int i = 0; i < n_pv; i++)
		if (!id || pv[i].id == id)
			pv[i--] = pv[--n_pv];
}

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
	A_EXTRA_VM, A_KILLED_CHILD, A_RUN, A_NR
};

static const char *const act_name[A_NR] = {
	"vm", "close-vm", "open-dev", "bind", "ioas", "parent", "viommu", "viommu-bad",
	"vdevice", "nested", "attach", "dma", "destroy", "close-dev", "close-iommufd",
	"hw-info-bad", "extra-vm", "killed-child", "run",
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
	[A_HW_INFO_BAD] = 2, [A_EXTRA_VM] = 1, [A_KILLED_CHILD] = 1, [A_RUN] = 8,
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

/*
 * The vSMMU records' VMIDs must all be pinned; the pin count accounted;
 * a record of this VMM's vIOMMU keeps the VMID it had.
 */
static int invariants(char *why, size_t len)
{
	struct vsmmus v;
	struct pins p;
	int parents;

	pthread_rwlock_wrlock(&sh->lock);
	read_vsmmus(&v);
	read_pins(&p);
	parents = parents_total();
	pthread_rwlock_unlock(&sh->lock);
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
	/* A pinned VMID never changes while its vIOMMU lives. */
	for (int i = 0; i < n_pv; i++) {
		int now = record_vmid(&v, pv[i].id);

		if (now >= 0 && now != pv[i].vmid) {
			snprintf(why, len, "vIOMMU %u (VM %u) moved from pinned VMID %d to %d",
				 pv[i].id, pv[i].serial, pv[i].vmid, now);
			return -1;
		}
	}
	return 0;
}

static int step(struct vmm *m, enum act a)
{
	int r = 0, *parents = &sh->parents[me];

	switch (a) {
	case A_VM:
		if (m->has_vm || m->dev >= 0)
			return 1;
		if (vm_open(&m->vm, RAM_IPA, RAM_SIZE))
			return -1;
		m->has_vm = 1;
		vm_serial = new_serial();
		return 0;
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
		bound_serial = 0;
		if (!m->has_vm || m->vm.vm < 0 || !rnd(4))
			return 0;
		if (vmm_kvfio(m))
			return -1;
		bound_serial = vm_serial;
		return 0;
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
		struct vsmmus s;
		int vmid;

		if (m->iommufd < 0)
			return 1;
		if (viommu_alloc_data(m, m->parent, &m->viommu, &d))
			return -1;
		read_vsmmus(&s);
		vmid = record_vmid(&s, m->viommu);
		if (vmid > 0 && n_pv < 64) {
			pv[n_pv].id = m->viommu;
			pv[n_pv].serial = bound_serial;
			pv[n_pv++].vmid = vmid;
		}
		return 0;
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
		if (id == &m->viommu)
			pv_forget(m->viommu);
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
		/* Its vIOMMUs go with it (once no bound device holds it). */
		pv_forget(0);
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
	case A_EXTRA_VM:
		/* Another VM of this VMM, opened and run, or closed again. */
		if (extra_open) {
			vm_close(&extra);
			vm_free_mem(&extra);
			extra_open = 0;
			return 0;
		}
		if (vm_open(&extra, 0, 0x10000))
			return -1;
		extra_open = 1;
		extra_serial = new_serial();
		return 0;
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
	case A_RUN: {
		/*
		 * A vCPU runs TLBI VAE1IS marked with its VM and the VMID it
		 * must run on: its vSMMU's pinned VMID, if it has one.
		 */
		int main_ok = m->has_vm && m->vm.vm >= 0;
		int use_extra = extra_open && (!main_ok || !rnd(3));
		struct vm *v = use_extra ? &extra : &m->vm;

		if (!use_extra && !main_ok)
			return 1;
		unsigned int serial = use_extra ? extra_serial : vm_serial;

		return guest_tlbi_va(v, tlbi_mark(serial, pinned_vmid(serial)));
	}
	default:
		return 1;
	}
}

/* One VMM's run: steps until @steps or the first failure (@why). */
static int walk(unsigned long seed, int steps, char *counts, size_t clen, char *why, size_t wlen)
{
	int done[A_NR] = { 0 }, refused[A_NR] = { 0 }, i;
	char s0[512];
	struct vmm m;

	rng = seed * 2654435761u + 1 + (uint64_t)me * 0x9e3779b97f4a7c15ULL;
	vmm_init(&m);
	for (i = 0; i < steps && !why[0]; i++) {
		enum act a = draw();
		int r, e;

		pthread_rwlock_rdlock(&sh->lock);
		r = step(&m, a);
		e = errno;
		pthread_rwlock_unlock(&sh->lock);
		if (r < 0) {
			refused[a]++;
			if (!allowed(e))
				snprintf(why, wlen, "step %d (%s): refused with %s (%s)", i,
					 act_name[a], strerror(e), errname(e));
		} else if (r == 0) {
			done[a]++;
		}
		/* A release that a worker completes gets up to 2 s. */
		for (int t = 0; !why[0] && invariants(s0, sizeof(s0)); t++) {
			if (t == 20) {
				snprintf(why, wlen, "after step %d (%s): %s", i, act_name[a], s0);
				break;
			}
			usleep(100000);
		}
	}
	pthread_rwlock_rdlock(&sh->lock);
	if (extra_open)
		step(&m, A_EXTRA_VM);
	vmm_close(&m);
	sh->parents[me] = 0;
	pthread_rwlock_unlock(&sh->lock);
	counts[0] = 0;
	for (int a = 0, o = 0; a < A_NR && o < (int)clen; a++)
		o += snprintf(counts + o, clen - o, "%s%s %d/%d", a ? ", " : "", act_name[a],
			      done[a], refused[a]);
	return i;
}

/*
 * The steady VMM (--procs > 1): a VMM that keeps its VM, device and
 * vIOMMU for the whole run, as a real VM does, while the walks churn and
 * KVM rolls over. Its vCPU runs marked TLBIs (QEMU's trace must show them
 * on its pinned VMID in every generation), its vSMMU record must keep that
 * VMID, and its DMA must land, until the walks are done.
 */
static void steady_vmm(unsigned long seed, double t0)
{
	int vmid = 0, runs = 0, dmas = 0;
	char why[512] = "", name[64], dma[256];
	unsigned int serial;
	struct vsmmus v;
	struct pins p;
	struct vmm m;

	pthread_rwlock_rdlock(&sh->lock);
	if (vmm_base(&m, 1) || vmm_nest(&m)) {
		snprintf(why, sizeof(why), "setup failed");
	} else {
		sh->parents[me] = 1;
		read_vsmmus(&v);
		vmid = record_vmid(&v, m.viommu);
		if (vmid <= 0)
			snprintf(why, sizeof(why), "its vIOMMU has no pinned VMID (record: %d)", vmid);
	}
	pthread_rwlock_unlock(&sh->lock);
	serial = new_serial();
	while (!why[0] && !__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		int now;

		if (guest_tlbi_va(&m.vm, tlbi_mark(serial, vmid))) {
			snprintf(why, sizeof(why), "run %d: KVM_RUN failed", runs);
			break;
		}
		runs++;
		if (runs % 16)
			continue;
		read_vsmmus(&v);
		read_pins(&p);
		now = record_vmid(&v, m.viommu);
		if (now != vmid || !pins_has(&p, vmid))
			snprintf(why, sizeof(why), "run %d: its vSMMU's VMID %d, was %d, %s", runs,
				 now, vmid, pins_has(&p, vmid) ? "pinned" : "not pinned");
		else if (dma_check(&m, PG(8), PG(9), runs, dma, sizeof(dma)))
			snprintf(why, sizeof(why), "run %d: %s", runs, dma);
		dmas++;
		usleep(20000);
	}
	pthread_rwlock_rdlock(&sh->lock);
	vmm_close(&m);
	sh->parents[me] = 0;
	pthread_rwlock_unlock(&sh->lock);
	snprintf(name, sizeof(name), "random-%lu/steady", seed);
	check(name, !why[0], "%d marked TLBIs and %d DMAs in %.1fs on VMID %d (%s)%s%s", runs, dmas,
	      now_s() - t0, vmid, edus[me % n_edu].bdf, why[0] ? "; " : "", why);
	_exit(why[0] ? 1 : 0);
}

/* Everything back where it was at the start: a worker may drop the last file reference. */
static void all_back(const struct snap *before, char *why, size_t len)
{
	char s0[512], s1[512];
	struct snap after;

	for (int t = 0; t < 50; t++) {
		take_snap(&after);
		if (snap_eq(before, &after))
			return;
		usleep(100000);
	}
	snap_str(before, s0, sizeof(s0));
	snap_str(&after, s1, sizeof(s1));
	snprintf(why, len, "after closing everything: %s; at the start: %s", s1, s0);
}

static struct shared *shared_new(void)
{
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_rwlockattr_t attr;

	if (s == MAP_FAILED)
		return NULL;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	/* The checks must not starve behind the other VMMs' steps. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return s;
}

void test_random(unsigned long seed, int steps, int procs)
{
	char why[1200] = "", counts[512], name[64];
	int n = 0, failed = 0, status;
	double t0 = now_s();
	struct snap before;

	if (procs < 1 || procs >= MAX_PROCS || !(sh = shared_new())) {
		check("random", 0, "--procs %d: 1 to %d VMM processes, and a shared page", procs,
		      MAX_PROCS - 1);
		return;
	}
	/* VM serials differ between the runs (seeds) of one boot. */
	sh->vm_serial = (seed & 0x7f) << 16;
	take_snap(&before);
	if (procs == 1) {
		n = walk(seed, steps, counts, sizeof(counts), why, sizeof(why));
	} else {
		pid_t steady;

		/* The steady VMM: the device after the walks' ones. */
		me = procs;
		fflush(stdout);
		steady = fork();
		if (steady == 0) {
			snprintf(cdev_path, sizeof(cdev_path), "%s", edus[me % n_edu].cdev);
			steady_vmm(seed, t0);
		}
		for (me = 0; me < procs; me++) {
			fflush(stdout);
			if (fork() == 0) {
				/* Each VMM its own edu device, while there are enough. */
				snprintf(cdev_path, sizeof(cdev_path), "%s", edus[me % n_edu].cdev);
				n = walk(seed, steps, counts, sizeof(counts), why, sizeof(why));
				snprintf(name, sizeof(name), "random-%lu/%d", seed, me);
				check(name, !why[0], "%d steps in %.1fs on %s (done/refused: %s)%s%s", n,
				      now_s() - t0, edus[me % n_edu].bdf, counts, why[0] ? "; " : "",
				      why);
				_exit(why[0] ? 1 : n == steps ? 0 : 2);
			}
		}
		for (int i = 0; i < procs; i++)
			if (wait(&status) == steady || !WIFEXITED(status) || WEXITSTATUS(status))
				failed++;
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
		while (wait(&status) > 0)
			failed += !WIFEXITED(status) || WEXITSTATUS(status);
		n = steps * procs;
		snprintf(counts, sizeof(counts),
			 "%d VMM processes at once and a steady one on %d edu devices", procs,
			 n_edu < procs + 1 ? n_edu : procs + 1);
		if (failed)
			snprintf(why, sizeof(why), "%d of %d VMM processes failed", failed, procs);
	}
	if (!why[0])
		all_back(&before, why, sizeof(why));
	snprintf(name, sizeof(name), "random-%lu", seed);
	check(name, !why[0], "%d steps in %.1fs (%s%s)%s%s", n, now_s() - t0,
	      procs == 1 ? "done/refused: " : "", counts, why[0] ? "; " : "", why);
	if (why[0])
		say("repeat: KSV_SEED=%lu KSV_STEPS=%d KSV_PROCS=%d bash ci/random.sh\n", seed,
		    steps, procs);
	munmap(sh, sizeof(*sh));
}
