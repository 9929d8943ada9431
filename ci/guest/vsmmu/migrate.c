// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu: the reproducer of the mark_page_dirty_in_slot WARN
 * (Documentation/known-issues.md): a vCPU thread moved to the other CPU
 * while it waits inside its own stage-2 fault.
 *
 * Each VM runs guest code that writes to MIG_PAGES pages of a memslot
 * whose memory is registered with userfaultfd. Each write is a stage-2
 * fault, in which KVM's get_user_pages() waits on the userfaultfd. The
 * mover thread reads the fault, moves the waiting vCPU thread to the
 * other CPU (sched_setaffinity) and only then fills the page, so the
 * vCPU thread completes the fault, and calls mark_page_dirty_in_slot(),
 * on another CPU than the one it faulted on. KVM's kvm_sched_in() must
 * have made the vCPU that CPU's running vCPU, or the function warns.
 *
 * Two rounds: VMs one at a time (each creation and destruction patches
 * preempt_notifier_key and, with kvm.enable_virt_at_load=0, sets up and
 * tears down EL2: what the reserve test does), then the same with an
 * idle VM held open (neither happens). The boot check fails on any WARN;
 * each round also counts the kernel log's WARNs itself, with the
 * WARN_ON_ONCE state cleared before it.
 */
#include "ksv-vsmmu.h"

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#define MIG_IPA 0x200000ULL
#define MIG_PAGES 16
/* Where the loop below goes in the VM's first page (after vm_open's code). */
#define MIG_CODE 0x100

struct mover {
	int uffd;
	pid_t tid;		/* the vCPU thread */
	int ncpus;
	int cpu;		/* the CPU it was last moved to */
	long faults, moved;	/* faults filled; of them, with the thread moved */
	int copy_err;		/* errno of a UFFDIO_COPY that failed, or 0 */
	struct uffdio_range range;	/* the registered memory */
	int stop;		/* set by the vCPU thread, atomically */
	char page[PAGE];
};

/* The CPU @tid last ran on (/proc/.../stat field 39), or -1. */
static int task_cpu(pid_t tid)
{
	char path[64], buf[1024], *p;
	int fd, n, field = 2, cpu = -1;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* Field 2 (comm) may hold spaces: count from its closing paren. */
	p = strrchr(buf, ')');
	for (; p && *p; p++) {
		if (*p == ' ' && ++field == 39) {
			cpu = atoi(p + 1);
			break;
		}
	}
	return cpu;
}

/* How often the scheduler moved @tid to another CPU (/proc/.../sched), or -1. */
static long task_migrations(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/sched", tid);
	return debugfs_value(path, "se.nr_migrations");
}

static void *mover_run(void *arg)
{
	struct mover *m = arg;

	while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .fd = m->uffd, .events = POLLIN };
		struct uffd_msg msg;
		struct uffdio_copy copy;
		cpu_set_t set;
		int from, to;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(m->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		from = task_cpu(m->tid);
		to = (from + 1) % m->ncpus;
		CPU_ZERO(&set);
		CPU_SET(to, &set);
		if (sched_setaffinity(m->tid, sizeof(set), &set))
			to = -1;
		else
			m->cpu = to;
		copy = (struct uffdio_copy){
			.dst = msg.arg.pagefault.address & ~(PAGE - 1),
			.src = (uint64_t)m->page,
			.len = PAGE,
		};
		if (!ioctl(m->uffd, UFFDIO_COPY, &copy)) {
			m->faults++;
			if (from >= 0 && to >= 0 && from != to)
				m->moved++;
		} else if (!m->copy_err) {
			/*
			 * Unregistering wakes the waiting fault, which then
			 * completes as an ordinary one: the VM fails its
			 * check, with this errno, instead of hanging.
			 */
			m->copy_err = errno;
			ioctl(m->uffd, UFFDIO_UNREGISTER, &m->range);
		}
	}
	return NULL;
}

/*
 * One VM: its vCPU writes MIG_PAGES pages that are not there yet. Returns
 * 0 if every write faulted, was filled by the mover and the vCPU thread
 * came back on the CPU it was last moved to; @why says what went wrong.
 */
static int migrate_vm(long *faults, long *moved, long *migrations, char *why, size_t len)
{
	/*
	 * nop; loop: str x0, [x2]; add x2, x2, #0x1000; subs x3, x3, #1;
	 * b.ne loop; str x0, [x1] (x1 = MMIO_EXIT: the exit); b .
	 */
	static const uint32_t code[] = { 0xd503201f, 0xf9000040, 0x91400442, 0xf1000463,
					 0x54ffffa1, 0xf9000020, 0x14000000 };
	const uint64_t x[5] = { 0x6b7376, MMIO_EXIT, MIG_IPA, MIG_PAGES, 0 };
	struct mover m = { .tid = gettid(), .ncpus = sysconf(_SC_NPROCESSORS_ONLN), .cpu = -1 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct kvm_userspace_memory_region r = {
		.slot = 1, .guest_phys_addr = MIG_IPA, .memory_size = MIG_PAGES * PAGE,
	};
	long mig0, mig1;
	pthread_t th;
	struct vm v;
	void *mem;
	int ret = -1;

	*why = 0;
	if (vm_open(&v, 0, 0x10000)) {
		snprintf(why, len, "vm_open failed");
		return -1;
	}
	mem = mmap(NULL, MIG_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	m.uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (mem == MAP_FAILED || m.uffd < 0 || ioctl(m.uffd, UFFDIO_API, &api)) {
		snprintf(why, len, "mmap or userfaultfd: %s", strerror(errno));
		goto out;
	}
	reg.range.start = (uint64_t)mem;
	reg.range.len = MIG_PAGES * PAGE;
	m.range = reg.range;
	r.userspace_addr = (uint64_t)mem;
	if (ioctl(m.uffd, UFFDIO_REGISTER, &reg) ||
	    IOC(v.vm, KVM_SET_USER_MEMORY_REGION, &r)) {
		snprintf(why, len, "UFFDIO_REGISTER or the memslot: %s", strerror(errno));
		goto out;
	}
	memset(m.page, 0x5a, PAGE);
	memcpy((char *)v.mem + MIG_CODE, code, sizeof(code));
	if (pthread_create(&th, NULL, mover_run, &m)) {
		snprintf(why, len, "pthread_create failed");
		goto out;
	}
	mig0 = task_migrations(m.tid);
	ret = vm_exec(&v, v.ipa + MIG_CODE, x);
	mig1 = task_migrations(m.tid);
	__atomic_store_n(&m.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	*faults += m.faults;
	*moved += m.moved;
	*migrations += mig1 - mig0;
	if (ret)
		snprintf(why, len, "KVM_RUN failed");
	else if (m.copy_err)
		snprintf(why, len, "UFFDIO_COPY failed: %s", strerror(m.copy_err));
	else if (m.faults != MIG_PAGES || m.moved != MIG_PAGES)
		snprintf(why, len, "%ld faults filled, %ld with the thread moved (want %d)",
			 m.faults, m.moved, MIG_PAGES);
	else if (mig0 < 0 || mig1 - mig0 < MIG_PAGES)
		snprintf(why, len, "the scheduler moved the vCPU thread %ld times (want %d or more)",
			 mig1 - mig0, MIG_PAGES);
	else if (sched_getcpu() != m.cpu)
		snprintf(why, len, "the vCPU thread is on CPU %d, not %d", sched_getcpu(), m.cpu);
	ret = *why ? -1 : 0;
out:
	if (m.uffd >= 0)
		close(m.uffd);
	if (mem != MAP_FAILED)
		munmap(mem, MIG_PAGES * PAGE);
	vm_close(&v);
	vm_free_mem(&v);
	return ret;
}

static void migrate_round(const char *name, int vms, int hold)
{
	long faults = 0, moved = 0, migrations = 0;
	double t0 = now_s();
	char why[200] = "";
	int fd, w0, w1, i;
	cpu_set_t all;
	struct vm idle;

	/* A WARN_ON_ONCE that fired earlier in this boot may fire again. */
	fd = open("/sys/kernel/debug/clear_warn_once", O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		check(name, 0, "clear_warn_once: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	w0 = klog_count("WARNING:");

	if (hold && vm_open(&idle, 0, 0x10000)) {
		check(name, 0, "the idle VM failed");
		return;
	}
	sched_getaffinity(0, sizeof(all), &all);
	for (i = 0; i < vms && !migrate_vm(&faults, &moved, &migrations, why, sizeof(why)); i++)
		;
	sched_setaffinity(0, sizeof(all), &all);
	if (hold) {
		vm_close(&idle);
		vm_free_mem(&idle);
	}
	w1 = klog_count("WARNING:");
	check(name, i == vms && w1 == w0,
	      "%d of %d VMs%s: %ld stage-2 faults waited in userfaultfd, the vCPU thread moved to the other CPU in %ld before the fault completed (%ld migrations); kernel WARNs %d -> %d in %.0f s%s%s",
	      i, vms, hold ? " beside an idle VM" : " one at a time", faults, moved, migrations,
	      w0, w1, now_s() - t0, *why ? ": " : "", why);
}

void test_migrate_faults(int vms)
{
	migrate_round("migrate-faults", vms, 0);
	migrate_round("migrate-faults-held", vms, 1);
}
