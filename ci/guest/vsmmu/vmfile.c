// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu: What a VMM sees when it closes the VM fd while a device is
 * open, with and without a vIOMMU.
 *
 * Closing the VM's last file reference runs kvm_vm_release(), which
 * releases the VM's irqfds; the VM itself lives on while VFIO (an open
 * device) or a vCPU holds it. An irqfd shows which happened: while KVM
 * listens on the eventfd, a write to it is consumed (the count reads back
 * as EAGAIN); once the irqfd is released, the count stays and reads back.
 *
 *   vmfd-close-device: no vIOMMU. Upstream, VFIO holds the struct kvm and
 *     not the file, so closing the VM fd releases its irqfds at once. The
 *     series keeps that (patch 4 only passes the struct kvm to iommufd).
 *   vmfd-close-viommu: a vIOMMU holds the VM's file from its allocation
 *     (patch 5, as the iommufd TSM series), so the irqfds stay until the
 *     vIOMMU is destroyed, with or without the modules. Without the series
 *     (--vm-file pristine, on the unpatched kernel) nothing holds the file:
 *     they are released at the close.
 *   vmfd-viommu-alloc-fails (with the series): an IOMMU_VIOMMU_ALLOC that
 *     the driver refuses after iommufd took the VM's file (an unknown
 *     input flag: EOPNOTSUPP) gives the file back, so the irqfds go at the
 *     close.
 */
#include <sys/eventfd.h>

#include "ksv-vsmmu.h"

#define GICD_IPA 0x08000000ULL
#define GICR_IPA 0x080a0000ULL

/*
 * A VM with a vGICv3, one vCPU that never runs, and an irqfd on @efd: a
 * vGIC can only be created before any vCPU has run, and irqfds need it
 * initialised.
 */
static int vm_open_irqfd(struct vm *v, int *efd)
{
	struct kvm_create_device gic = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	uint64_t dist = GICD_IPA, redist = GICR_IPA;
	struct kvm_device_attr a_dist = {
		.group = KVM_DEV_ARM_VGIC_GRP_ADDR,
		.attr = KVM_VGIC_V3_ADDR_TYPE_DIST,
		.addr = (uint64_t)&dist,
	};
	struct kvm_device_attr a_redist = {
		.group = KVM_DEV_ARM_VGIC_GRP_ADDR,
		.attr = KVM_VGIC_V3_ADDR_TYPE_REDIST,
		.addr = (uint64_t)&redist,
	};
	struct kvm_device_attr a_init = {
		.group = KVM_DEV_ARM_VGIC_GRP_CTRL,
		.attr = KVM_DEV_ARM_VGIC_CTRL_INIT,
	};
	struct kvm_vcpu_init init;
	struct kvm_irqfd irqfd = { .gsi = 0 };
	int r = -1;

	memset(v, 0, sizeof(*v));
	v->vm = v->vcpu = -1;
	*efd = -1;
	v->vm = IOC(kvm_fd, KVM_CREATE_VM, NULL);
	if (v->vm < 0 || IOC(v->vm, KVM_CREATE_DEVICE, &gic))
		goto out;
	v->vcpu = IOC(v->vm, KVM_CREATE_VCPU, (void *)0);
	if (v->vcpu < 0 || IOC(v->vm, KVM_ARM_PREFERRED_TARGET, &init) ||
	    IOC(v->vcpu, KVM_ARM_VCPU_INIT, &init) ||
	    IOC(gic.fd, KVM_SET_DEVICE_ATTR, &a_dist) ||
	    IOC(gic.fd, KVM_SET_DEVICE_ATTR, &a_redist) ||
	    IOC(gic.fd, KVM_SET_DEVICE_ATTR, &a_init))
		goto out;
	*efd = eventfd(0, EFD_NONBLOCK);
	if (*efd < 0) {
		say("step eventfd failed: %s\n", strerror(errno));
		goto out;
	}
	irqfd.fd = *efd;
	r = IOC(v->vm, KVM_IRQFD, &irqfd);
out:
	/* The vGIC device fd holds the VM (not its file); it is not needed. */
	if (gic.fd > 0)
		close(gic.fd);
	return r;
}

/* 1 if KVM still listens on the irqfd @efd, 0 if not, -1 on error. */
static int irqfd_live(int efd)
{
	uint64_t one = 1, cnt;

	if (write(efd, &one, sizeof(one)) != sizeof(one))
		return -1;
	if (read(efd, &cnt, sizeof(cnt)) == sizeof(cnt))
		return 0;
	return errno == EAGAIN ? 1 : -1;
}

int vm_file_pristine;

static const char *live_str(int live)
{
	return live > 0 ? "irqfd live" : live == 0 ? "irqfd released" : "error";
}

/*
 * The VMM's setup up to the bind, with the vGIC VM, then (@viommu) a nest
 * parent and a vIOMMU; then the VM fd is closed. The vCPU fd stays open.
 */
static void vm_file(const char *name, int viommu)
{
	int efd = -1, before, after_close, after_destroy = -1, ok;
	struct vmm m;

	vmm_init(&m);
	if (vm_open_irqfd(&m.vm, &efd) || vmm_open_dev(&m) || vmm_kvfio(&m) || vmm_bind(&m) ||
	    (viommu && (vmm_ioas(&m, 0) || parent_alloc(&m, &m.parent) ||
			viommu_alloc_data(&m, m.parent, &m.viommu, NULL)))) {
		check(name, 0, "setup failed: %s", strerror(errno));
		goto out;
	}
	before = irqfd_live(efd);
	close(m.vm.vm);
	m.vm.vm = -1;
	after_close = irqfd_live(efd);
	if (viommu) {
		destroy(&m, m.viommu, "viommu");
		m.viommu = 0;
		after_destroy = irqfd_live(efd);
		ok = before == 1 && after_close == !vm_file_pristine && after_destroy == 0;
		check(name, ok,
		      "device open, vIOMMU allocated: %s; VM fd closed: %s (want %s); vIOMMU destroyed: %s (want released)",
		      live_str(before), live_str(after_close),
		      vm_file_pristine ? "released: without the series nothing holds the VM file" :
					 "live: the vIOMMU holds the VM file",
		      live_str(after_destroy));
	} else {
		ok = before == 1 && after_close == 0;
		check(name, ok,
		      "device open and bound, no vIOMMU: %s; VM fd closed: %s (want released, as upstream: VFIO holds the VM, not its file)",
		      live_str(before), live_str(after_close));
	}
out:
	if (efd >= 0)
		close(efd);
	vmm_close(&m);
}

/* The driver refuses the vIOMMU after iommufd took the VM's file. */
static void vm_file_alloc_fails(const char *name)
{
	/* An input flag this kernel does not know */
	struct iommu_viommu_arm_smmuv3 data = { .flags = 1u << 31 };
	int efd = -1, r, e, before, after_close;
	uint32_t id;
	struct vmm m;

	vmm_init(&m);
	if (vm_open_irqfd(&m.vm, &efd) || vmm_open_dev(&m) || vmm_kvfio(&m) || vmm_bind(&m) ||
	    vmm_ioas(&m, 0) || parent_alloc(&m, &m.parent)) {
		check(name, 0, "setup failed");
		goto out;
	}
	r = viommu_alloc_data(&m, m.parent, &id, &data);
	e = errno;
	before = irqfd_live(efd);
	close(m.vm.vm);
	m.vm.vm = -1;
	after_close = irqfd_live(efd);
	check(name, r < 0 && e == EOPNOTSUPP && before == 1 && after_close == 0,
	      "IOMMU_VIOMMU_ALLOC with an unknown input flag: %s (want EOPNOTSUPP); %s; VM fd closed: %s (want released: the refused vIOMMU gave the VM file back)",
	      r < 0 ? errname(e) : "SUCCEEDED", live_str(before), live_str(after_close));
out:
	if (efd >= 0)
		close(efd);
	vmm_close(&m);
}

void test_vm_file(void)
{
	vm_file("vmfd-close-device", 0);
	vm_file("vmfd-close-viommu", 1);
	if (!vm_file_pristine)
		vm_file_alloc_fails("vmfd-viommu-alloc-fails");
}
