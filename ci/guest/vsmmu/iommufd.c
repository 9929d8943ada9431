// SPDX-License-Identifier: GPL-2.0
/* ksv-vsmmu: The edu device, bound to vfio-pci, and one VMM's iommufd objects. */
#include "ksv-vsmmu.h"

int read_id(const char *bdfname, const char *what, char *out, size_t len)
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

/* Bind the edu device @name to vfio-pci and find its VFIO cdev. */
static int edu_bind(struct edu *e, const char *name)
{
	char path[512], drv[512];
	struct dirent *d;
	ssize_t n;
	DIR *dir;

	snprintf(e->bdf, sizeof(e->bdf), "%s", name);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", name);
	n = readlink(path, drv, sizeof(drv) - 1);
	drv[n > 0 ? n : 0] = 0;
	if (!strstr(drv, "vfio-pci")) {
		if (n > 0) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", name);
			write_file(path, name);
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", name);
		if (write_file(path, "vfio-pci") || write_file("/sys/bus/pci/drivers_probe", name)) {
			say("binding %s to vfio-pci failed\n", name);
			return -1;
		}
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", name);
	dir = opendir(path);
	while (dir && (d = readdir(dir)))
		if (!strncmp(d->d_name, "vfio", 4))
			snprintf(e->cdev, sizeof(e->cdev), "/dev/vfio/devices/%s", d->d_name);
	if (dir)
		closedir(dir);
	if (!e->cdev[0]) {
		say("%s has no VFIO cdev (%s)\n", name, path);
		return -1;
	}
	say("edu %s bound to vfio-pci, cdev %s\n", e->bdf, e->cdev);
	return 0;
}

/*
 * Find the edu devices (QEMU's -device edu, KSV_EDU= of them), bind each
 * to vfio-pci; the first one is the device of every test (bdf, cdev_path),
 * the others are for the other VMM processes of the random sequences.
 */
int edu_prepare(void)
{
	char id[32], dev[32], names[MAX_EDU][300];
	struct dirent *d;
	DIR *dir = opendir("/sys/bus/pci/devices");
	int n = 0;

	while (dir && (d = readdir(dir)) && n < MAX_EDU)
		if (!read_id(d->d_name, "vendor", id, sizeof(id)) && !strncmp(id, "0x1234", 6) &&
		    !read_id(d->d_name, "device", dev, sizeof(dev)) && !strncmp(dev, "0x11e8", 6))
			snprintf(names[n++], sizeof(names[0]), "%s", d->d_name);
	if (dir)
		closedir(dir);
	if (!n) {
		say("no edu device (PCI 1234:11e8): boot QEMU with -device edu\n");
		return -1;
	}
	/* readdir's order is not the bus order: the lowest BDF is the first. */
	qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK) &&
	    system("modprobe vfio-pci 2>/dev/null") != 0)
		say("modprobe vfio-pci failed\n");
	for (n_edu = 0; n_edu < n; n_edu++)
		if (edu_bind(&edus[n_edu], names[n_edu]))
			return -1;
	snprintf(bdf, sizeof(bdf), "%s", edus[0].bdf);
	snprintf(cdev_path, sizeof(cdev_path), "%s", edus[0].cdev);
	return 0;
}

/* TEST ONLY: mark edu CANWBS, or IOMMU_VIOMMU_ALLOC is EOPNOTSUPP on QEMU. */
void canwbs(void)
{
	char cmd[512], devs[MAX_EDU * 32] = "";

	if (!access("/sys/module/ksv_canwbs", F_OK)) {
		say("ksv_canwbs already loaded\n");
		return;
	}
	if (access(CANWBS_KO, R_OK)) {
		say("%s missing: IOMMU_VIOMMU_ALLOC will likely fail with EOPNOTSUPP\n", CANWBS_KO);
		return;
	}
	for (int i = 0, o = 0; i < n_edu; i++)
		o += snprintf(devs + o, sizeof(devs) - o, "%s%s", i ? "," : "", edus[i].bdf);
	snprintf(cmd, sizeof(cmd), "insmod %s dev=%s", CANWBS_KO, devs);
	if (system(cmd))
		say("%s failed\n", cmd);
	else
		say("%s: TEST ONLY, edu marked CANWBS\n", cmd);
}

/* ---------------------------------------------------------------- */
/* One VMM: a VM, the VFIO device, iommufd objects. */

void vmm_init(struct vmm *m)
{
	memset(m, 0, sizeof(*m));
	m->vm.vm = m->vm.vcpu = -1;
	m->kvfio = m->dev = m->iommufd = -1;
}

/*
 * Closes everything: the device is unbound from iommufd once both the
 * cdev fd and the kvm-vfio device (which holds the cdev file) are gone.
 */
void vmm_close(struct vmm *m)
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

int vmm_vm(struct vmm *m)
{
	if (vm_open(&m->vm, RAM_IPA, RAM_SIZE))
		return -1;
	m->has_vm = 1;
	return 0;
}

/* kvm-vfio device with the cdev file added: must precede the bind. */
int vmm_kvfio(struct vmm *m)
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

int vmm_open_dev(struct vmm *m)
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

int vmm_bind(struct vmm *m)
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

/*
 * IOMMU_GET_HW_INFO: 1 if the SMMU reports BTM with KVM VMIDs for its
 * ARM_SMMUV3 vIOMMUs (IOMMU_HW_INFO_ARM_SMMUV3_BTM_KVM_VMID), 0 if not, -1.
 */
int hw_cap_btm(struct vmm *m)
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
	return !!(data.flags & IOMMU_HW_INFO_ARM_SMMUV3_BTM_KVM_VMID);
}

int ioas_map(struct vmm *m, uint64_t ipa, uint64_t len)
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

int vmm_ioas(struct vmm *m, int map)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };

	if (IOC(m->iommufd, IOMMU_IOAS_ALLOC, &ioas))
		return -1;
	m->ioas = ioas.out_ioas_id;
	return map ? ioas_map(m, RAM_IPA, MAIN_LEN) : 0;
}

int parent_alloc(struct vmm *m, uint32_t *id)
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

/*
 * IOMMU_VIOMMU_ALLOC of an ARM_SMMUV3 vIOMMU on @parent, with @data as its
 * driver data, or none (NULL: as an unpatched kernel takes it). No
 * message: some callers expect a failure, with errno.
 */
int viommu_alloc_data(struct vmm *m, uint32_t parent, uint32_t *id,
		      struct iommu_viommu_arm_smmuv3 *data)
{
	struct iommu_viommu_alloc v = {
		.size = sizeof(v),
		.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = m->dev_id,
		.hwpt_id = parent,
		.data_len = data ? sizeof(*data) : 0,
		.data_uptr = (uintptr_t)data,
	};

	if (ioctl(m->iommufd, IOMMU_VIOMMU_ALLOC, &v))
		return -1;
	*id = v.out_viommu_id;
	return 0;
}

/*
 * The same with the driver's report: m->viommu_btm says whether the kernel
 * says this vIOMMU has BTM (IOMMU_VIOMMU_ARM_SMMUV3_BTM).
 */
int viommu_alloc(struct vmm *m, uint32_t parent, uint32_t *id)
{
	struct iommu_viommu_arm_smmuv3 data = {};

	if (viommu_alloc_data(m, parent, id, &data))
		return -1;
	m->viommu_btm = !!(data.out_flags & IOMMU_VIOMMU_ARM_SMMUV3_BTM);
	return 0;
}

/*
 * What a VMM does for its guest's trapped CMD_TLBI_NH_VA without BTM:
 * IOMMU_HWPT_INVALIDATE on the vIOMMU with the one command (the kernel
 * puts the vIOMMU's VMID in it, then CMD_SYNC on the host's queue).
 */
int vmm_inv_va(struct vmm *m, uint16_t asid, uint64_t va)
{
	struct iommu_viommu_arm_smmuv3_invalidate cmd = {
		.cmd = { 0x12 | ((uint64_t)asid << 48), (va & ~0xfffULL) | 1 },
	};
	struct iommu_hwpt_invalidate inv = {
		.size = sizeof(inv),
		.hwpt_id = m->viommu,
		.data_uptr = (uintptr_t)&cmd,
		.data_type = IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
		.entry_len = sizeof(cmd),
		.entry_num = 1,
	};

	return IOC(m->iommufd, IOMMU_HWPT_INVALIDATE, &inv);
}

int vmm_vdev(struct vmm *m)
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

/* A nested domain on the vIOMMU with the vSTE @ste0, @ste1. */
static int vmm_nested_ste(struct vmm *m, uint64_t ste0, uint64_t ste1)
{
	struct iommu_hwpt_arm_smmuv3 ste = { .ste = { ste0, ste1 } };
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

/* Nested domain with a bypass vSTE (V=1, Cfg=bypass): stage 2 only. */
int vmm_nested(struct vmm *m)
{
	return vmm_nested_ste(m, 0x9, 0);
}

/*
 * Nested domain with a stage-1 vSTE: V=1, Cfg=S1 translate, one CD at
 * IPA @cd (S1CDMax 0, linear), S1STALLD 0: the guest's stage 1 on top of
 * the host's stage 2, as QEMU's nested SMMU walks it. STE1: S1CIR, S1COR
 * write-back, S1CSH inner shareable.
 */
int vmm_nested_cd(struct vmm *m, uint64_t cd)
{
	return vmm_nested_ste(m, 1 | (5 << 1) | (cd & 0xfffffffffffc0ULL),
			      (1 << 2) | (1 << 4) | (3 << 6));
}

int vmm_attach(struct vmm *m, uint32_t pt)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = pt };

	if (IOC(m->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -1;
	m->attached = 1;
	return 0;
}

int vmm_detach(struct vmm *m)
{
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };

	if (IOC(m->dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt))
		return -1;
	m->attached = 0;
	return 0;
}

int destroy(struct vmm *m, uint32_t id, const char *what)
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
int vmm_teardown_viommu(struct vmm *m)
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
/* Setup for the VMM tests */

/* VM (optional), kvm-vfio, bind, IOAS with the VM's RAM, nest parent. */
int vmm_base(struct vmm *m, int with_vm)
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
int vmm_nest(struct vmm *m)
{
	if (viommu_alloc(m, m->parent, &m->viommu)) {
		int e = errno;

		say("step IOMMU_VIOMMU_ALLOC failed: %s (%s)\n", strerror(e), errname(e));
		return -1;
	}
	return vmm_vdev(m) || vmm_nested(m) || vmm_attach(m, m->nested) || bus_master(m);
}

const char *expect_str(int vmid)
{
	static char buf[32];

	if (!expect_kvm)
		return "upstream";
	snprintf(buf, sizeof(buf), "%d", vmid);
	return buf;
}
