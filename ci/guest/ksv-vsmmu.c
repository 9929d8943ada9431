// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end test of a vSMMU, guest side: a tiny VMM that gives QEMU's
 * edu device (PCI 1234:11e8, behind the emulated nested SMMUv3) to a VM
 * through VFIO cdev + iommufd, with an iommufd vIOMMU, and checks DMA,
 * VMIDs, invalidation and object lifetimes.
 *
 *   ksv-vsmmu --expect kvm|upstream [--rollovers N]
 *
 * --expect kvm: our modules are loaded and assume BTM, so a vSMMU must use
 * its VM's pinned KVM VMID. --expect upstream: the vSMMU uses its stage-2
 * parent's VMID and nothing is pinned.
 *
 * Every line starts with "KSV: e2e: "; each check prints one
 * "CHECK <name> ok|FAIL <details>" line. Around each DMA whose SMMU VMID
 * the host checks in QEMU's trace: "DMA-BEGIN <label> expect-vmid=<N or
 * upstream>" and "DMA-END <label>".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksv-util.h"

#define PIN_STATE "/sys/kernel/debug/kvm_vmid_pin/state"
#define BTM_STATE "/sys/kernel/debug/smmu_v3_btm/state"
#define ASSOC "/sys/kernel/debug/iommufd_kvm/associations"
#define CANWBS_KO "/lib/modules/ksv/test/ksv_canwbs.ko"

#define say(...) (printf("KSV: e2e: " __VA_ARGS__), fflush(stdout))

/*
 * Guest physical layout of the test VM. IOVA = IPA. The last page is
 * left out of the main IOAS area: the unmap test maps it on its own
 * (iommufd does not split an area at unmap).
 */
#define RAM_IPA 0x400000ULL
#define RAM_SIZE 0x40000ULL
#define PAGE 0x1000ULL
#define MAIN_LEN (RAM_SIZE - PAGE)
#define EXTRA_IPA (RAM_IPA + MAIN_LEN)
#define MMIO_EXIT 0x100000ULL
/*
 * Pages of the VM's RAM used by DMA: each DMA checked against QEMU's
 * trace uses pages no DMA touched before, so the SMMU's IOTLB misses.
 */
#define PG(n) (RAM_IPA + (n) * PAGE)
#define VIRT_SID 0x10

/* edu: BAR0 registers and its DMA buffer (device side). */
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_CMD_RUN 0x1
#define EDU_CMD_TO_RAM 0x2
#define EDU_BUF 0x40000ULL

static const char *const modnames[3] = { "kvm_vmid_pin", "iommufd_kvm", "smmu_v3_btm" };

static int kvm_fd, run_size, expect_kvm, failures;
static char bdf[300], cdev_path[300];
static struct timespec t_start;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9;
}

static void check(const char *name, int ok, const char *fmt, ...)
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

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

/* An ioctl that must succeed: a failure names it and says why. */
#define IOC(fd, req, arg) xioctl(fd, req, arg, #req)
static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int r = ioctl(fd, req, arg);

	if (r < 0) {
		int e = errno;

		say("step %s failed: %s (%s)\n", name, strerror(e), errname(e));
		errno = e;
	}
	return r;
}

/* ---------------------------------------------------------------- */
/* The modules' debugfs and sysfs views. Absent file = module absent. */

struct pins {
	int present;
	long pinned, rollovers;
	int n;
	int vmid[1024];
};

static void read_pins(struct pins *p)
{
	char line[16384];
	FILE *f = fopen(PIN_STATE, "r");

	memset(p, 0, sizeof(*p));
	p->pinned = p->rollovers = -1;
	if (!f)
		return;
	p->present = 1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "pinned:", 7)) {
			p->pinned = strtol(line + 7, NULL, 0);
		} else if (!strncmp(line, "rollovers:", 10)) {
			p->rollovers = strtol(line + 10, NULL, 0);
		} else if (!strncmp(line, "vmid refs:", 10)) {
			char *s = line + 10, *end;

			for (;;) {
				long v = strtol(s, &end, 0);

				if (end == s || *end != ':')
					break;
				if (p->n < (int)(sizeof(p->vmid) / sizeof(p->vmid[0])))
					p->vmid[p->n++] = (int)v;
				strtol(end + 1, &s, 0);
			}
		}
	}
	fclose(f);
}

static int pins_has(const struct pins *p, int vmid)
{
	for (int i = 0; i < p->n; i++)
		if (p->vmid[i] == vmid)
			return 1;
	return 0;
}

/* The VMIDs pinned in @after but not in @before: the first, and how many. */
static int pins_new(const struct pins *before, const struct pins *after, int *count)
{
	int first = -1;

	*count = 0;
	for (int i = 0; i < after->n; i++)
		if (!pins_has(before, after->vmid[i])) {
			if (first < 0)
				first = after->vmid[i];
			(*count)++;
		}
	return first;
}

static void pins_str(const struct pins *p, char *buf, size_t len)
{
	size_t o;

	if (!p->present) {
		snprintf(buf, len, "absent");
		return;
	}
	o = snprintf(buf, len, "pinned=%ld vmids=[", p->pinned);
	for (int i = 0; i < p->n && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%d", i ? "," : "", p->vmid[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

/* smmu_v3_btm: one "vsmmu <key>: vmid <N> ..." line per vSMMU. */
struct vsmmus {
	int present, n;
	char key[64][64];
	int vmid[64];
};

static void read_vsmmus(struct vsmmus *v)
{
	char line[1024];
	FILE *f = fopen(BTM_STATE, "r");

	memset(v, 0, sizeof(*v));
	if (!f)
		return;
	v->present = 1;
	while (fgets(line, sizeof(line), f) && v->n < 64) {
		char *p = strstr(line, "vsmmu "), *q;
		size_t k;

		if (!p)
			continue;
		p += 6;
		q = strstr(p, "vmid ");
		if (!q)
			continue;
		k = strcspn(p, ": \n");
		snprintf(v->key[v->n], sizeof(v->key[0]), "%.*s", (int)k, p);
		v->vmid[v->n++] = atoi(q + 5);
	}
	fclose(f);
}

/* The VMID of the first vSMMU in @after not in @before, or -1. */
static int vsmmu_new(const struct vsmmus *before, const struct vsmmus *after, int *count)
{
	int first = -1;

	*count = 0;
	for (int i = 0; i < after->n; i++) {
		int known = 0;

		for (int j = 0; j < before->n; j++)
			known |= !strcmp(before->key[j], after->key[i]);
		if (!known) {
			if (first < 0)
				first = after->vmid[i];
			(*count)++;
		}
	}
	return first;
}

static long assoc(const char *key)
{
	char line[1024];
	long val = -1;
	FILE *f = fopen(ASSOC, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			val = strtol(line + strlen(key) + 1, NULL, 0);
	fclose(f);
	return val;
}

static long refcnt(const char *mod)
{
	char path[256];
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", mod);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* Everything the lifetime checks compare. */
struct snap {
	long pinned, viommus, refs[3];
};

static void take_snap(struct snap *s)
{
	struct pins p;

	read_pins(&p);
	s->pinned = p.pinned;
	s->viommus = assoc("viommus");
	for (int i = 0; i < 3; i++)
		s->refs[i] = refcnt(modnames[i]);
}

static int snap_eq(const struct snap *a, const struct snap *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void snap_str(const struct snap *s, char *buf, size_t len)
{
	snprintf(buf, len, "pinned=%ld viommus=%ld refcnt %s=%ld %s=%ld %s=%ld",
		 s->pinned, s->viommus, modnames[0], s->refs[0], modnames[1],
		 s->refs[1], modnames[2], s->refs[2]);
}

/* Number of SMMU event reports in the kernel log so far. */
static int smmu_events(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n = 0;
	char *buf, *p;

	if (len <= 0)
		return -1;
	buf = malloc(len + 1);
	if (!buf)
		return -1;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (len < 0) {
		free(buf);
		return -1;
	}
	buf[len] = 0;
	for (p = buf; (p = strstr(p, "event 0x")); p++)
		n++;
	free(buf);
	return n;
}

/* ---------------------------------------------------------------- */
/* VMs */

struct vm {
	int vm, vcpu;
	void *mem;
	size_t size;
	uint64_t ipa;
	struct kvm_run *run;
};

static void vm_close(struct vm *v)
{
	if (v->run && v->run != MAP_FAILED)
		munmap(v->run, run_size);
	v->run = NULL;
	if (v->vcpu >= 0)
		close(v->vcpu);
	if (v->vm >= 0)
		close(v->vm);
	v->vcpu = v->vm = -1;
}

static void vm_free_mem(struct vm *v)
{
	if (v->mem && v->mem != MAP_FAILED)
		munmap(v->mem, v->size);
	v->mem = NULL;
}

/* One vcpu load + run: this is where KVM (re)assigns the VMID. */
static int vm_run(struct vm *v)
{
	uint64_t pc = v->ipa;
	struct kvm_one_reg reg = {
		.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
		      KVM_REG_ARM_CORE_REG(regs.pc),
		.addr = (uint64_t)&pc,
	};

	if (IOC(v->vcpu, KVM_SET_ONE_REG, &reg) || IOC(v->vcpu, KVM_RUN, NULL))
		return -1;
	if (v->run->exit_reason != KVM_EXIT_MMIO || v->run->mmio.phys_addr != MMIO_EXIT) {
		say("step KVM_RUN: unexpected exit reason %u (phys_addr %#llx)\n",
		    v->run->exit_reason, (unsigned long long)v->run->mmio.phys_addr);
		return -1;
	}
	return 0;
}

/* A VM with @size bytes of RAM at @ipa and one vcpu that ran once. */
static int vm_open(struct vm *v, uint64_t ipa, size_t size)
{
	/* x1 = 0x100000 (no memslot there); str x0, [x1]: an MMIO exit. */
	static const uint32_t code[] = { 0xd2a00201, 0xf9000020, 0x14000000 };
	struct kvm_userspace_memory_region r = { .guest_phys_addr = ipa, .memory_size = size };
	struct kvm_vcpu_init init;

	memset(v, 0, sizeof(*v));
	v->vm = v->vcpu = -1;
	v->ipa = ipa;
	v->size = size;
	v->vm = IOC(kvm_fd, KVM_CREATE_VM, NULL);
	if (v->vm < 0)
		return -1;
	v->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (v->mem == MAP_FAILED) {
		say("step mmap of the VM's RAM failed: %s\n", strerror(errno));
		goto fail;
	}
	memcpy(v->mem, code, sizeof(code));
	r.userspace_addr = (uint64_t)v->mem;
	if (IOC(v->vm, KVM_SET_USER_MEMORY_REGION, &r))
		goto fail;
	v->vcpu = IOC(v->vm, KVM_CREATE_VCPU, (void *)0);
	if (v->vcpu < 0 || IOC(v->vm, KVM_ARM_PREFERRED_TARGET, &init) ||
	    IOC(v->vcpu, KVM_ARM_VCPU_INIT, &init))
		goto fail;
	v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		say("step mmap of kvm_run failed: %s\n", strerror(errno));
		goto fail;
	}
	if (vm_run(v))
		goto fail;
	return 0;
fail:
	vm_close(v);
	vm_free_mem(v);
	return -1;
}

/* ---------------------------------------------------------------- */
/* The edu device */

static int read_id(const char *bdfname, const char *what, char *out, size_t len)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdfname, what);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fgets(out, len, f) != NULL;
	fclose(f);
	return ok ? 0 : -1;
}

/* Find edu, bind it to vfio-pci, find its VFIO cdev. */
static int edu_prepare(void)
{
	char path[512], id[32], drv[512];
	struct dirent *d;
	DIR *dir = opendir("/sys/bus/pci/devices");
	ssize_t n;

	while (dir && (d = readdir(dir)) && !bdf[0]) {
		char dev[32];

		if (!read_id(d->d_name, "vendor", id, sizeof(id)) && !strncmp(id, "0x1234", 6) &&
		    !read_id(d->d_name, "device", dev, sizeof(dev)) && !strncmp(dev, "0x11e8", 6))
			snprintf(bdf, sizeof(bdf), "%s", d->d_name);
	}
	if (dir)
		closedir(dir);
	if (!bdf[0]) {
		say("no edu device (PCI 1234:11e8): boot QEMU with -device edu\n");
		return -1;
	}
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK) &&
	    system("modprobe vfio-pci 2>/dev/null") != 0)
		say("modprobe vfio-pci failed\n");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, drv, sizeof(drv) - 1);
	drv[n > 0 ? n : 0] = 0;
	if (!strstr(drv, "vfio-pci")) {
		if (n > 0) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
			write_file(path, bdf);
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
		if (write_file(path, "vfio-pci") || write_file("/sys/bus/pci/drivers_probe", bdf)) {
			say("binding %s to vfio-pci failed\n", bdf);
			return -1;
		}
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	while (dir && (d = readdir(dir)))
		if (!strncmp(d->d_name, "vfio", 4))
			snprintf(cdev_path, sizeof(cdev_path), "/dev/vfio/devices/%s", d->d_name);
	if (dir)
		closedir(dir);
	if (!cdev_path[0]) {
		say("%s has no VFIO cdev (%s)\n", bdf, path);
		return -1;
	}
	say("edu %s bound to vfio-pci, cdev %s\n", bdf, cdev_path);
	return 0;
}

/* TEST ONLY: mark edu CANWBS, or IOMMU_VIOMMU_ALLOC is EOPNOTSUPP on QEMU. */
static void canwbs(void)
{
	char cmd[512];

	if (!access("/sys/module/ksv_canwbs", F_OK)) {
		say("ksv_canwbs already loaded\n");
		return;
	}
	if (access(CANWBS_KO, R_OK)) {
		say("%s missing: IOMMU_VIOMMU_ALLOC will likely fail with EOPNOTSUPP\n", CANWBS_KO);
		return;
	}
	snprintf(cmd, sizeof(cmd), "insmod %s dev=%s", CANWBS_KO, bdf);
	if (system(cmd))
		say("%s failed\n", cmd);
	else
		say("%s: TEST ONLY, edu marked CANWBS\n", cmd);
}

/* ---------------------------------------------------------------- */
/* One VMM: a VM, the VFIO device, iommufd objects. */

struct vmm {
	struct vm vm;
	int has_vm, kvfio, dev, iommufd;
	uint32_t dev_id, ioas, parent, viommu, vdev, nested;
	uint64_t bar0, cfg;
	int attached;
};

static void vmm_init(struct vmm *m)
{
	memset(m, 0, sizeof(*m));
	m->vm.vm = m->vm.vcpu = -1;
	m->kvfio = m->dev = m->iommufd = -1;
}

/*
 * Closes everything: the device is unbound from iommufd once both the
 * cdev fd and the kvm-vfio device (which holds the cdev file) are gone.
 */
static void vmm_close(struct vmm *m)
{
	if (m->dev >= 0)
		close(m->dev);
	if (m->kvfio >= 0)
		close(m->kvfio);
	vm_close(&m->vm);
	if (m->iommufd >= 0)
		close(m->iommufd);
	vm_free_mem(&m->vm);
	vmm_init(m);
}

static int vmm_vm(struct vmm *m)
{
	if (vm_open(&m->vm, RAM_IPA, RAM_SIZE))
		return -1;
	m->has_vm = 1;
	return 0;
}

/* kvm-vfio device with the cdev file added: must precede the bind. */
static int vmm_kvfio(struct vmm *m)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_FILE,
		.attr = KVM_DEV_VFIO_FILE_ADD,
		.addr = (uint64_t)&m->dev,
	};

	if (IOC(m->vm.vm, KVM_CREATE_DEVICE, &cd))
		return -1;
	m->kvfio = cd.fd;
	return IOC(m->kvfio, KVM_SET_DEVICE_ATTR, &attr);
}

static int vmm_open_dev(struct vmm *m)
{
	m->dev = open(cdev_path, O_RDWR);
	if (m->dev < 0) {
		say("step open %s failed: %s\n", cdev_path, strerror(errno));
		return -1;
	}
	m->iommufd = open("/dev/iommu", O_RDWR);
	if (m->iommufd < 0) {
		say("step open /dev/iommu failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int vmm_bind(struct vmm *m)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = m->iommufd };
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cfg = {
		.argsz = sizeof(cfg),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};

	if (IOC(m->dev, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -1;
	m->dev_id = bind.out_devid;
	if (IOC(m->dev, VFIO_DEVICE_GET_REGION_INFO, &bar) ||
	    IOC(m->dev, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		return -1;
	m->bar0 = bar.offset;
	m->cfg = cfg.offset;
	return 0;
}

#ifndef IOMMU_HW_CAP_BTM_KVM_VMID
#define IOMMU_HW_CAP_BTM_KVM_VMID (1 << 4)
#endif

/* IOMMU_GET_HW_INFO: 1 if the BTM capability is reported, 0 if not, -1. */
static int hw_cap_btm(struct vmm *m)
{
	struct iommu_hw_info_arm_smmuv3 data = {};
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.dev_id = m->dev_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};

	if (IOC(m->iommufd, IOMMU_GET_HW_INFO, &info))
		return -1;
	return !!(info.out_capabilities & IOMMU_HW_CAP_BTM_KVM_VMID);
}

static int ioas_map(struct vmm *m, uint64_t ipa, uint64_t len)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = m->ioas,
		.user_va = (uint64_t)m->vm.mem + (ipa - RAM_IPA),
		.length = len,
		.iova = ipa,
	};

	return IOC(m->iommufd, IOMMU_IOAS_MAP, &map);
}

static int vmm_ioas(struct vmm *m, int map)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };

	if (IOC(m->iommufd, IOMMU_IOAS_ALLOC, &ioas))
		return -1;
	m->ioas = ioas.out_ioas_id;
	return map ? ioas_map(m, RAM_IPA, MAIN_LEN) : 0;
}

static int parent_alloc(struct vmm *m, uint32_t *id)
{
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = m->dev_id,
		.pt_id = m->ioas,
	};

	if (IOC(m->iommufd, IOMMU_HWPT_ALLOC, &hwpt))
		return -1;
	*id = hwpt.out_hwpt_id;
	return 0;
}

/* No message: some callers expect a failure. */
static int viommu_alloc(struct vmm *m, uint32_t parent, uint32_t *id)
{
	struct iommu_viommu_alloc v = {
		.size = sizeof(v),
		.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = m->dev_id,
		.hwpt_id = parent,
	};

	if (ioctl(m->iommufd, IOMMU_VIOMMU_ALLOC, &v))
		return -1;
	*id = v.out_viommu_id;
	return 0;
}

static int vmm_vdev(struct vmm *m)
{
	struct iommu_vdevice_alloc v = {
		.size = sizeof(v),
		.viommu_id = m->viommu,
		.dev_id = m->dev_id,
		.virt_id = VIRT_SID,
	};

	if (IOC(m->iommufd, IOMMU_VDEVICE_ALLOC, &v))
		return -1;
	m->vdev = v.out_vdevice_id;
	return 0;
}

/* Nested domain with a bypass vSTE (V=1, Cfg=bypass): stage 2 only. */
static int vmm_nested(struct vmm *m)
{
	struct iommu_hwpt_arm_smmuv3 ste = { .ste = { 0x9, 0 } };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.dev_id = m->dev_id,
		.pt_id = m->viommu,
		.data_type = IOMMU_HWPT_DATA_ARM_SMMUV3,
		.data_len = sizeof(ste),
		.data_uptr = (uint64_t)&ste,
	};

	if (IOC(m->iommufd, IOMMU_HWPT_ALLOC, &hwpt))
		return -1;
	m->nested = hwpt.out_hwpt_id;
	return 0;
}

static int vmm_attach(struct vmm *m, uint32_t pt)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = pt };

	if (IOC(m->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -1;
	m->attached = 1;
	return 0;
}

static int vmm_detach(struct vmm *m)
{
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };

	if (IOC(m->dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt))
		return -1;
	m->attached = 0;
	return 0;
}

static int destroy(struct vmm *m, uint32_t id, const char *what)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	if (ioctl(m->iommufd, IOMMU_DESTROY, &d)) {
		int e = errno;

		say("step IOMMU_DESTROY (%s %u) failed: %s (%s)\n", what, id, strerror(e),
		    errname(e));
		errno = e;
		return -1;
	}
	return 0;
}

/* Detach, then nested hwpt, vDEVICE, vIOMMU: the right order. */
static int vmm_teardown_viommu(struct vmm *m)
{
	int r = 0;

	if (m->attached)
		r |= vmm_detach(m);
	if (m->nested)
		r |= destroy(m, m->nested, "nested hwpt");
	if (m->vdev)
		r |= destroy(m, m->vdev, "vdevice");
	if (m->viommu)
		r |= destroy(m, m->viommu, "viommu");
	m->nested = m->vdev = m->viommu = 0;
	return r;
}

/* ---------------------------------------------------------------- */
/* DMA with edu */

static int bar_write(struct vmm *m, uint64_t reg, uint64_t val)
{
	if (pwrite(m->dev, &val, 8, m->bar0 + reg) != 8) {
		say("step pwrite BAR0+%#llx failed: %s\n", (unsigned long long)reg,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int bar_read(struct vmm *m, uint64_t reg, uint64_t *val)
{
	if (pread(m->dev, val, 8, m->bar0 + reg) != 8) {
		say("step pread BAR0+%#llx failed: %s\n", (unsigned long long)reg, strerror(errno));
		return -1;
	}
	return 0;
}

static int bus_master(struct vmm *m)
{
	uint16_t cmd;

	if (pread(m->dev, &cmd, 2, m->cfg + 4) != 2) {
		say("step pread PCI_COMMAND failed: %s\n", strerror(errno));
		return -1;
	}
	cmd |= 0x6;
	if (pwrite(m->dev, &cmd, 2, m->cfg + 4) != 2) {
		say("step pwrite PCI_COMMAND failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* One edu DMA; runs from a QEMU timer (~100 ms), poll until done. */
static int edu_dma(struct vmm *m, uint64_t src, uint64_t dst, uint64_t cnt, int to_ram)
{
	uint64_t cmd = 0;

	if (bar_write(m, EDU_DMA_SRC, src) || bar_write(m, EDU_DMA_DST, dst) ||
	    bar_write(m, EDU_DMA_CNT, cnt) ||
	    bar_write(m, EDU_DMA_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0)))
		return -1;
	for (int i = 0; i < 2000; i++) {
		if (bar_read(m, EDU_DMA_CMD, &cmd))
			return -1;
		if (!(cmd & EDU_CMD_RUN))
			return 0;
		usleep(5000);
	}
	say("edu DMA did not complete within 10 s (cmd %#llx)\n", (unsigned long long)cmd);
	return -1;
}

static uint8_t *at(struct vmm *m, uint64_t ipa)
{
	return (uint8_t *)m->vm.mem + (ipa - RAM_IPA);
}

static void fill(uint8_t *p, unsigned int seed)
{
	for (unsigned int i = 0; i < PAGE; i++)
		p[i] = (uint8_t)(seed * 37 + i * 13 + (i >> 8));
}

/* RAM at @src -> device buffer -> RAM at @dst, one page. */
static int dma_copy(struct vmm *m, uint64_t src, uint64_t dst)
{
	if (edu_dma(m, src, EDU_BUF, PAGE, 0))
		return -1;
	return edu_dma(m, EDU_BUF, dst, PAGE, 1);
}

/* A pattern at @src copied by the device to @dst: 0 if it arrived. */
static int dma_check(struct vmm *m, uint64_t src, uint64_t dst, unsigned int seed, char *why,
		     size_t len)
{
	fill(at(m, src), seed);
	memset(at(m, dst), 0xee, PAGE);
	if (dma_copy(m, src, dst)) {
		snprintf(why, len, "edu DMA failed");
		return -1;
	}
	if (memcmp(at(m, src), at(m, dst), PAGE)) {
		snprintf(why, len, "pattern from IPA %#llx did not arrive at IPA %#llx",
			 (unsigned long long)src, (unsigned long long)dst);
		return -1;
	}
	snprintf(why, len, "%llu bytes IPA %#llx -> edu -> IPA %#llx", PAGE,
		 (unsigned long long)src, (unsigned long long)dst);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Setup for the VMM tests */

/* VM (optional), kvm-vfio, bind, IOAS with the VM's RAM, nest parent. */
static int vmm_base(struct vmm *m, int with_vm)
{
	vmm_init(m);
	if (with_vm && vmm_vm(m))
		return -1;
	if (vmm_open_dev(m))
		return -1;
	if (with_vm && vmm_kvfio(m))
		return -1;
	if (vmm_bind(m) || vmm_ioas(m, with_vm) || parent_alloc(m, &m->parent))
		return -1;
	return 0;
}

/* vIOMMU, vDEVICE, nested hwpt, attach. */
static int vmm_nest(struct vmm *m)
{
	if (viommu_alloc(m, m->parent, &m->viommu)) {
		int e = errno;

		say("step IOMMU_VIOMMU_ALLOC failed: %s (%s)\n", strerror(e), errname(e));
		return -1;
	}
	return vmm_vdev(m) || vmm_nested(m) || vmm_attach(m, m->nested) || bus_master(m);
}

static const char *expect_str(int vmid)
{
	static char buf[32];

	if (!expect_kvm)
		return "upstream";
	snprintf(buf, sizeof(buf), "%d", vmid);
	return buf;
}

/* ---------------------------------------------------------------- */
/* The tests */

static int rollovers_wanted, reserve_only;

/* Checks vmid, dma-s2, rollover, unmap-faults, vm-closed-first. */
static void test_main(void)
{
	struct vmm m;
	struct pins p0, p1, p2;
	struct vsmmus v0, v1;
	char why[512], s0[256], s1[256];
	int vmid = -1, vs = -1, npin = 0, nvs = 0, ok;

	if (vmm_base(&m, 1)) {
		check("vmid", 0, "VMM setup failed before IOMMU_VIOMMU_ALLOC");
		goto fail_all;
	}
	/* The VMM may tell its guest about BTM only if the kernel says so. */
	ok = hw_cap_btm(&m);
	check("hw-info-btm", ok == expect_kvm,
	      "IOMMU_GET_HW_INFO out_capabilities BTM_KVM_VMID %s (want %s: %s)",
	      ok < 0 ? "unreadable" : ok ? "set" : "clear", expect_kvm ? "set" : "clear",
	      expect_kvm ? "BTM in use, device bound with a VM" : "no BTM in use");
	read_pins(&p0);
	read_vsmmus(&v0);
	if (viommu_alloc(&m, m.parent, &m.viommu)) {
		int e = errno;

		say("step IOMMU_VIOMMU_ALLOC failed: %s (%s)\n", strerror(e), errname(e));
		check("vmid", 0, "IOMMU_VIOMMU_ALLOC failed: %s", strerror(e));
		goto fail_all;
	}
	read_pins(&p1);
	read_vsmmus(&v1);
	if (p1.present)
		vmid = pins_new(&p0, &p1, &npin);
	if (v1.present)
		vs = vsmmu_new(&v0, &v1, &nvs);
	snprintf(s0, sizeof(s0), "%d", vmid);
	snprintf(s1, sizeof(s1), "%d", vs);
	say("VMID kvm=%s vsmmu=%s\n", vmid >= 0 ? s0 : "none", vs >= 0 ? s1 : "none");
	pins_str(&p0, s0, sizeof(s0));
	pins_str(&p1, s1, sizeof(s1));
	if (expect_kvm)
		check("vmid",
		      p1.present && npin == 1 && p1.pinned == p0.pinned + 1 && vs == vmid &&
			      nvs == 1,
		      "pinned before {%s} after IOMMU_VIOMMU_ALLOC {%s}; new pinned VMID %d, vSMMU VMID %d",
		      s0, s1, vmid, vs);
	else
		check("vmid", (!p1.present || p1.pinned == 0) && nvs == 0,
		      "nothing pinned (kvm_vmid_pin %s), %d vSMMU with a KVM VMID", s1, nvs);

	if (vmm_vdev(&m) || vmm_nested(&m) || vmm_attach(&m, m.nested) || bus_master(&m)) {
		check("dma-s2", 0, "VMM setup after IOMMU_VIOMMU_ALLOC failed");
		goto fail_rest;
	}
	say("DMA-BEGIN dma-s2 expect-vmid=%s\n", expect_str(vmid));
	ok = !dma_check(&m, PG(1), PG(2), 1, why, sizeof(why));
	say("DMA-END dma-s2\n");
	check("dma-s2", ok, "%s (nested hwpt %u, bypass vSTE, vIOMMU %u, vSID %#x)", why, m.nested,
	      m.viommu, VIRT_SID);

	/* rollover */
	if (!expect_kvm) {
		check("rollover", 1, "skipped (upstream)");
	} else if (rollovers_wanted <= 0) {
		check("rollover", 1, "skipped (no --rollovers)");
	} else {
		long r0, r;
		int n = 0, err = 0;
		double t0 = now_s();

		read_pins(&p1);
		r0 = r = p1.rollovers;
		if (!p1.present) {
			check("rollover", 0, "kvm_vmid_pin state absent");
		} else {
			while (r - r0 < rollovers_wanted && n < 5000) {
				struct vm t;

				if (vm_open(&t, 0, 0x10000)) {
					err = 1;
					break;
				}
				vm_close(&t);
				vm_free_mem(&t);
				if (++n % 50 == 0) {
					read_pins(&p2);
					r = p2.rollovers;
				}
			}
			read_pins(&p2);
			r = p2.rollovers;
			pins_str(&p2, s1, sizeof(s1));
			if (err || r - r0 < rollovers_wanted) {
				check("rollover", 0, "%ld rollovers after %d VMs (%s)", r - r0, n,
				      err ? "a VM failed" : "gave up");
			} else {
				int run_ok = !vm_run(&m.vm), dma_ok;

				say("DMA-BEGIN rollover expect-vmid=%s\n", expect_str(vmid));
				dma_ok = !dma_check(&m, PG(3), PG(4), 2, why, sizeof(why));
				say("DMA-END rollover\n");
				check("rollover",
				      run_ok && dma_ok && pins_has(&p2, vmid) &&
					      p2.pinned == p1.pinned,
				      "%ld rollovers after %d VMs in %.1fs; pinned VMID %d %s {%s}; VM's vcpu %s; DMA: %s",
				      r - r0, n, now_s() - t0, vmid,
				      pins_has(&p2, vmid) ? "kept" : "LOST", s1,
				      run_ok ? "ran (MMIO exit)" : "FAILED to run", why);
			}
		}
	}

	/* unmap-faults */
	{
		uint8_t *x = at(&m, EXTRA_IPA), saved[PAGE];
		struct iommu_ioas_unmap un = {
			.size = sizeof(un),
			.ioas_id = m.ioas,
			.iova = EXTRA_IPA,
			.length = PAGE,
		};
		int ev0, ev1, first, same, dev_had;

		memset(x, 0, PAGE);
		if (ioas_map(&m, EXTRA_IPA, PAGE)) {
			check("unmap-faults", 0, "IOMMU_IOAS_MAP of the extra page failed");
			goto closed_first;
		}
		fill(at(&m, PG(5)), 3);
		first = !dma_copy(&m, PG(5), EXTRA_IPA) && !memcmp(x, at(&m, PG(5)), PAGE);
		memcpy(saved, x, PAGE);
		if (IOC(m.iommufd, IOMMU_IOAS_UNMAP, &un)) {
			check("unmap-faults", 0, "IOMMU_IOAS_UNMAP failed");
			goto closed_first;
		}
		ev0 = smmu_events();
		/* The device gets another pattern, writes it to the unmapped page. */
		fill(at(&m, PG(6)), 4);
		memset(at(&m, PG(7)), 0xee, PAGE);
		if (dma_copy(&m, PG(6), EXTRA_IPA)) {
			check("unmap-faults", 0, "edu DMA failed");
			goto closed_first;
		}
		same = !memcmp(x, saved, PAGE);
		/* Show the device did hold the new pattern: copy it to a mapped page. */
		dev_had = !edu_dma(&m, EDU_BUF, PG(7), PAGE, 1) &&
			  !memcmp(at(&m, PG(7)), at(&m, PG(6)), PAGE);
		usleep(100000);
		ev1 = smmu_events();
		check("unmap-faults", first && same && dev_had,
		      "DMA to IPA %#llx before unmap %s; after IOMMU_IOAS_UNMAP the page %s; device held the new pattern: %s; dmesg SMMU event lines +%d",
		      (unsigned long long)EXTRA_IPA, first ? "landed" : "DID NOT land",
		      same ? "is unchanged" : "CHANGED (DMA went through)", dev_had ? "yes" : "NO",
		      ev1 - ev0);
	}

closed_first:
	/* vm-closed-first */
	{
		int held, back, rc;

		read_pins(&p0);
		vm_close(&m.vm);
		close(m.kvfio);
		m.kvfio = -1;
		read_pins(&p1);
		held = !expect_kvm || (pins_has(&p1, vmid) && p1.pinned == p0.pinned);
		rc = vmm_teardown_viommu(&m);
		read_pins(&p2);
		back = !expect_kvm || (!pins_has(&p2, vmid) && p2.pinned == p0.pinned - 1);
		if (!expect_kvm && p2.present && p2.pinned != 0)
			back = 0;
		pins_str(&p1, s0, sizeof(s0));
		pins_str(&p2, s1, sizeof(s1));
		check("vm-closed-first", held && back && !rc,
		      "VM, vcpu and kvm-vfio fds closed: {%s}%s; destroys (nested hwpt, vdevice, vIOMMU) %s: {%s}%s",
		      s0, expect_kvm ? (held ? " VMID still pinned" : " VMID NOT pinned") : "",
		      rc ? "FAILED" : "ok", s1,
		      expect_kvm ? (back ? " pin released" : " pin NOT released") :
				   (back ? "" : " (upstream: nothing may be pinned)"));
	}
	vmm_close(&m);
	return;

fail_all:
	check("dma-s2", 0, "no vIOMMU");
fail_rest:
	check("rollover", !expect_kvm, expect_kvm ? "no vIOMMU" : "skipped (upstream)");
	check("unmap-faults", 0, "no vIOMMU");
	check("vm-closed-first", 0, "no vIOMMU");
	vmm_close(&m);
}

static void test_no_vm(void)
{
	struct vmm m;
	uint32_t id;
	int r, e;

	if (vmm_base(&m, 0)) {
		check("no-vm", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	r = hw_cap_btm(&m);
	check("hw-info-no-vm", r == 0,
	      "device bound without a VM: IOMMU_GET_HW_INFO BTM_KVM_VMID %s (want clear)",
	      r < 0 ? "unreadable" : r ? "set" : "clear");
	r = viommu_alloc(&m, m.parent, &id);
	e = errno;
	if (expect_kvm)
		check("no-vm", r < 0 && e == EINVAL,
		      "device bound without a VM: IOMMU_VIOMMU_ALLOC %s (want EINVAL)",
		      r < 0 ? errname(e) : "succeeded");
	else
		check("no-vm", r == 0, "device bound without a VM: IOMMU_VIOMMU_ALLOC %s%s",
		      r < 0 ? "failed: " : "succeeded", r < 0 ? strerror(e) : "");
	if (r == 0 && destroy(&m, id, "viommu"))
		check("no-vm-destroy", 0, "IOMMU_DESTROY of the vIOMMU failed");
	vmm_close(&m);
}

static void test_second_parent(void)
{
	struct vmm m;
	struct pins p0, p1;
	struct vsmmus v0, v1;
	uint32_t p2, id1 = 0, id2 = 0, id3 = 0;
	int r1, r2, r3, e2 = 0, e3 = 0, vmid = -1, vs3 = -1, n, ok;
	char s[256];

	if (vmm_base(&m, 1) || parent_alloc(&m, &p2)) {
		check("second-parent", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	read_pins(&p0);
	r1 = viommu_alloc(&m, m.parent, &id1);
	if (r1)
		say("step IOMMU_VIOMMU_ALLOC (first parent) failed: %s\n", strerror(errno));
	read_pins(&p1);
	if (p1.present)
		vmid = pins_new(&p0, &p1, &n);
	r2 = viommu_alloc(&m, p2, &id2);
	e2 = errno;
	read_vsmmus(&v0);
	r3 = viommu_alloc(&m, m.parent, &id3);
	e3 = errno;
	read_vsmmus(&v1);
	if (v1.present)
		vs3 = vsmmu_new(&v0, &v1, &n);
	pins_str(&p1, s, sizeof(s));
	if (expect_kvm)
		ok = !r1 && r2 < 0 && e2 == EEXIST && !r3 && vmid >= 0 && vs3 == vmid;
	else
		ok = !r1 && !r2 && !r3 && vs3 < 0;
	check("second-parent", ok,
	      "vIOMMU on parent %u: %s; on a second parent %u of the same VM: %s%s; another on parent %u: %s%s, its VMID %d (pinned VMID %d) {%s}",
	      m.parent, r1 ? "FAILED" : "ok", p2, r2 ? "failed " : "ok", r2 ? errname(e2) : "",
	      m.parent, r3 ? "failed " : "ok", r3 ? errname(e3) : "", vs3, vmid, s);
	if ((id3 && destroy(&m, id3, "viommu")) || (id2 && destroy(&m, id2, "viommu")) ||
	    (id1 && destroy(&m, id1, "viommu")))
		check("second-parent-destroy", 0, "IOMMU_DESTROY failed");
	vmm_close(&m);
}

static void test_wrong_order(void)
{
	struct vmm m;
	struct pins p0 = { 0 }, p1;
	struct iommu_destroy d = { .size = sizeof(d) };
	int r, e, rc;
	char s[256];

	if (!vmm_base(&m, 1))
		read_pins(&p0);
	if (!m.parent || vmm_nest(&m)) {
		check("wrong-order", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	d.id = m.viommu;
	r = ioctl(m.iommufd, IOMMU_DESTROY, &d);
	e = errno;
	if (r == 0)
		m.viommu = 0;
	rc = vmm_teardown_viommu(&m);
	read_pins(&p1);
	pins_str(&p1, s, sizeof(s));
	check("wrong-order", r < 0 && e == EBUSY && !rc && p1.pinned == p0.pinned,
	      "IOMMU_DESTROY of the vIOMMU with its vDEVICE and nested hwpt alive: %s (want EBUSY); then detach, nested hwpt, vdevice, vIOMMU: %s {%s}",
	      r < 0 ? errname(e) : "SUCCEEDED", rc ? "FAILED" : "ok", s);
	vmm_close(&m);
}

/*
 * unbind-first: the VMM closes the device (cdev and kvm-vfio: the device is
 * unbound from iommufd) and the VM while the vIOMMU lives. The vIOMMU holds
 * the VM's file: the VMID stays pinned until the vIOMMU is destroyed.
 */
static void test_unbind_first(void)
{
	struct vmm m;
	struct pins p0 = { 0 }, p1, p2, p3;
	long v1, v2;
	int held, back, rc;
	char s1[256], s2[256];

	if (!vmm_base(&m, 1))
		read_pins(&p0);
	if (!m.parent || vmm_nest(&m)) {
		check("unbind-first", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	read_pins(&p1);
	close(m.dev);
	close(m.kvfio);
	m.dev = m.kvfio = -1;
	m.attached = 0;
	vm_close(&m.vm);
	read_pins(&p2);
	v1 = assoc("viommus");
	held = !expect_kvm || (p1.pinned == p0.pinned + 1 && p2.pinned == p1.pinned && v1 >= 1);
	/* The vDEVICE and the attachment went with the device. */
	if (m.nested)
		destroy(&m, m.nested, "nested hwpt");
	m.nested = m.vdev = 0;
	rc = m.viommu ? destroy(&m, m.viommu, "viommu") : -1;
	m.viommu = 0;
	read_pins(&p3);
	v2 = assoc("viommus");
	back = !expect_kvm || (p3.pinned == p0.pinned && v2 == v1 - 1);
	pins_str(&p2, s1, sizeof(s1));
	pins_str(&p3, s2, sizeof(s2));
	check("unbind-first", held && back && !rc,
	      "device fds and VM closed with the vIOMMU alive: {%s} viommus %ld%s; vIOMMU destroy %s: {%s} viommus %ld%s",
	      s1, v1, expect_kvm ? (held ? " VMID still pinned" : " VMID NOT pinned") : "",
	      rc ? "FAILED" : "ok", s2, v2,
	      expect_kvm ? (back ? " pin released" : " pin NOT released") : "");
	vmm_close(&m);
}

/* The child: a whole VMM, one DMA, then wait to be killed. */
static void killed_child(int wfd)
{
	struct vmm m;
	char why[256];

	if (vmm_base(&m, 1) || vmm_nest(&m)) {
		say("killed-vmm child: setup failed\n");
		_exit(1);
	}
	if (dma_check(&m, PG(8), PG(9), 5, why, sizeof(why))) {
		say("killed-vmm child: %s\n", why);
		_exit(1);
	}
	if (write(wfd, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static void test_killed_vmm(void)
{
	struct snap before, during, after;
	struct pollfd pfd;
	char s0[512], s1[512], s2[512], c;
	int pfds[2], status, ready = 0, back = 0;
	double t0;
	pid_t pid;

	take_snap(&before);
	if (pipe(pfds)) {
		check("killed-vmm", 0, "pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		check("killed-vmm", 0, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(pfds[0]);
		killed_child(pfds[1]);
	}
	close(pfds[1]);
	pfd.fd = pfds[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 120000) == 1 && read(pfds[0], &c, 1) == 1)
		ready = 1;
	close(pfds[0]);
	take_snap(&during);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	t0 = now_s();
	do {
		take_snap(&after);
		if (snap_eq(&before, &after)) {
			back = 1;
			break;
		}
		usleep(50000);
	} while (now_s() - t0 < 3.0);
	snap_str(&before, s0, sizeof(s0));
	snap_str(&during, s1, sizeof(s1));
	snap_str(&after, s2, sizeof(s2));
	/* The child pins its VM's VMID (and a reserved one for its parent). */
	if (expect_kvm && ready &&
	    (during.pinned <= before.pinned || during.viommus != before.viommus + 1)) {
		check("killed-vmm", 0, "the child's vIOMMU is not seen: before {%s} during {%s}", s0,
		      s1);
		return;
	}
	check("killed-vmm", ready && back,
	      "child %s, SIGKILLed; before {%s} during {%s} after %.2fs {%s}",
	      ready ? "set up and did a DMA" : "FAILED to set up", s0, s1, now_s() - t0, s2);
}

/*
 * A VMID rollover outside vCPU context, with no VM alive: VMs run and go
 * (filling the generation with stale VMIDs), then stage-2 nest parents,
 * which under BTM reserve VMIDs from KVM, until a reservation rolls the
 * generation over. With kvm.enable_virt_at_load=0 on nVHE, EL2 is torn
 * down once the last VM is gone; the rollover must not call into it (the
 * boot check fails on any WARN).
 */
static void test_reserve_rollover(void)
{
	static uint32_t ids[300];
	struct pins p0, p1;
	struct vmm m;
	int n = 0, vms = 0;

	for (; vms < 120; vms++) {
		struct vm t;

		if (vm_open(&t, 0, 0x10000) || vm_run(&t)) {
			check("reserve-rollover", 0, "VM %d failed", vms);
			return;
		}
		vm_close(&t);
		vm_free_mem(&t);
	}
	if (vmm_base(&m, 0)) {
		check("reserve-rollover", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	read_pins(&p0);
	p1 = p0;
	while (n < (int)(sizeof(ids) / sizeof(ids[0])) && p1.rollovers == p0.rollovers) {
		if (parent_alloc(&m, &ids[n]))
			break;
		n++;
		read_pins(&p1);
	}
	check("reserve-rollover", p1.rollovers > p0.rollovers,
	      "%d VMs ran and closed, then %d nest parents reserved VMIDs with no VM alive: rollovers %ld -> %ld",
	      vms, n, p0.rollovers, p1.rollovers);
	while (n > 0)
		destroy(&m, ids[--n], "nest parent");
	vmm_close(&m);
}

static void usage(void)
{
	say("usage: ksv-vsmmu --expect kvm|upstream [--rollovers N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long refs0[3], refs1[3];
	int have = 0, same = 1, expect_set = 0;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "kvm"))
				expect_kvm = 1;
			else if (strcmp(argv[i], "upstream"))
				usage();
			expect_set = 1;
		} else if (!strcmp(argv[i], "--rollovers") && i + 1 < argc) {
			rollovers_wanted = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--reserve-rollover")) {
			reserve_only = 1;
		} else {
			usage();
		}
	}
	if (!expect_set)
		usage();
	say("start: expect %s, rollovers %d\n", expect_kvm ? "kvm" : "upstream", rollovers_wanted);
	for (int i = 0; i < 3; i++)
		refs0[i] = refcnt(modnames[i]);
	say("modules: %s refcnt %ld, %s refcnt %ld, %s refcnt %ld (-1: not loaded)\n", modnames[0],
	    refs0[0], modnames[1], refs0[1], modnames[2], refs0[2]);

	kvm_fd = open("/dev/kvm", O_RDWR);
	if (kvm_fd < 0) {
		say("open /dev/kvm: %s\n", strerror(errno));
		check("setup", 0, "no /dev/kvm");
		say("DONE\n");
		return 1;
	}
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (edu_prepare()) {
		check("setup", 0, "no edu device bound to vfio-pci");
		say("DONE\n");
		return 1;
	}
	canwbs();
	if (reserve_only) {
		test_reserve_rollover();
		say("summary: %d check(s) failed\n", failures);
		say("DONE\n");
		return failures ? 1 : 0;
	}

	/*
	 * A few VMs first: KVM hands out VMIDs from 1 up, and the SMMU's own
	 * VMIDs (upstream: an IDA) also start at 1; make the test VM's VMID
	 * differ from those so QEMU's trace tells them apart.
	 */
	for (int i = 0; i < 4; i++) {
		struct vm t;

		if (vm_open(&t, 0, 0x10000)) {
			check("setup", 0, "a warm-up VM failed");
			break;
		}
		vm_close(&t);
		vm_free_mem(&t);
	}

	test_main();
	test_no_vm();
	test_second_parent();
	test_wrong_order();
	test_unbind_first();
	test_killed_vmm();

	for (int i = 0; i < 3; i++) {
		refs1[i] = refcnt(modnames[i]);
		have |= refs0[i] >= 0;
		same &= refs0[i] == refs1[i];
	}
	if (have)
		check("refs", same, "refcnt at start/end: %s %ld/%ld, %s %ld/%ld, %s %ld/%ld",
		      modnames[0], refs0[0], refs1[0], modnames[1], refs0[1], refs1[1], modnames[2],
		      refs0[2], refs1[2]);
	else
		check("refs", 1, "skipped (modules not loaded)");
	say("summary: %d check(s) failed\n", failures);
	say("DONE\n");
	return failures ? 1 : 0;
}
