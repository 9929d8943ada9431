// SPDX-License-Identifier: GPL-2.0
/*
 * make run, guest side: real VMs from userspace through /dev/kvm.
 *
 * 1. create VM A and run its vcpu once (it gets a VMID);
 * 2. insmod kvm_vmid_pin_demo.ko vm_fd=<A>: the demo module pins A's VMID;
 * 3. create, run and close more VMs than there are VMIDs: a real rollover;
 * 4. run A again: it kept its VMID; 5. rmmod the demo: the pin is released.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ksv-util.h"

#define STATE "/sys/kernel/debug/kvm_vmid_pin/state"
#define say(...) (printf("KSV: " __VA_ARGS__), fflush(stdout))

struct vm {
	int vm, vcpu;
	void *mem;
	struct kvm_run *run;
};

static int kvm, run_size;

static void die(const char *what)
{
	say("demo FAILED: %s\n", what);
	exit(1);
}

static void vm_create(struct vm *v)
{
	/* x1 = 0x100000 (no memslot there); str x0, [x1]: an MMIO exit. */
	static const uint32_t code[] = { 0xd2a00201, 0xf9000020, 0x14000000 };
	struct kvm_userspace_memory_region r = { .memory_size = 0x10000 };
	struct kvm_vcpu_init init;
	uint64_t pc = 0;
	struct kvm_one_reg reg = {
		.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
		      KVM_REG_ARM_CORE_REG(regs.pc),
		.addr = (uint64_t)&pc,
	};

	v->vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		die("KVM_CREATE_VM");
	v->mem = mmap(NULL, r.memory_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (v->mem == MAP_FAILED)
		die("mmap");
	memcpy(v->mem, code, sizeof(code));
	r.userspace_addr = (uint64_t)v->mem;
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r))
		die("KVM_SET_USER_MEMORY_REGION");
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0 || ioctl(v->vm, KVM_ARM_PREFERRED_TARGET, &init) ||
	    ioctl(v->vcpu, KVM_ARM_VCPU_INIT, &init) ||
	    ioctl(v->vcpu, KVM_SET_ONE_REG, &reg))
		die("vcpu setup");
	v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		die("mmap kvm_run");
}

/* One vcpu load + run: this is where KVM (re)assigns the VMID. */
static void vm_run(struct vm *v)
{
	uint64_t pc = 0;
	struct kvm_one_reg reg = {
		.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
		      KVM_REG_ARM_CORE_REG(regs.pc),
		.addr = (uint64_t)&pc,
	};

	if (ioctl(v->vcpu, KVM_SET_ONE_REG, &reg) || ioctl(v->vcpu, KVM_RUN, 0))
		die("KVM_RUN");
	if (v->run->exit_reason != KVM_EXIT_MMIO)
		die("unexpected exit");
}

static void vm_destroy(struct vm *v)
{
	munmap(v->run, run_size);
	close(v->vcpu);
	close(v->vm);
	munmap(v->mem, 0x10000);
}

/* Print the state lines that matter for the demo. */
static long state(const char *key, int print)
{
	char line[4096];
	long val = -1;
	FILE *f = fopen(STATE, "r");

	if (!f)
		die("open " STATE);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, strlen(key)))
			val = strtol(line + strlen(key) + 1, NULL, 0);
		if (print && (!strncmp(line, "pinned:", 7) || !strncmp(line, "rollovers:", 10) ||
			      !strncmp(line, "vmid refs:", 10)))
			say("    %s", line);
	}
	fclose(f);
	return val;
}

/* QEMU's pci-testdev (1b36:0005), behind the emulated SMMUv3. */
static int find_testdev(char *bdf, size_t len)
{
	char path[512], id[16];
	struct dirent *d;
	DIR *dir = opendir("/sys/bus/pci/devices");
	int found = 0;

	while (dir && (d = readdir(dir)) && !found) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(id, sizeof(id), f) && !strncmp(id, "0x0005", 6)) {
			snprintf(bdf, len, "%s", d->d_name);
			found = 1;
		}
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return found;
}

/* iommufd learns the VM of a VFIO device bound for it. */
static void vfio_demo(void)
{
	char bdf[300], path[600];
	int vm, devfd, iommufd;
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_FILE,
		.attr = KVM_DEV_VFIO_FILE_ADD,
	};
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
	};

	if (!find_testdev(bdf, sizeof(bdf))) {
		say("vfio: no pci-testdev found, skipping the iommufd demo\n");
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (write_file(path, "vfio-pci") ||
	    write_file("/sys/bus/pci/drivers_probe", bdf))
		die("bind the test device to vfio-pci");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	{
		DIR *dir = opendir(path);
		struct dirent *d;

		path[0] = 0;
		while (dir && (d = readdir(dir)))
			if (!strncmp(d->d_name, "vfio", 4))
				snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->d_name);
		if (dir)
			closedir(dir);
	}
	say("vfio: PCI device %s bound to vfio-pci (%s)\n", bdf, path);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	devfd = open(path, O_RDWR);
	iommufd = open("/dev/iommu", O_RDWR);
	if (vm < 0 || devfd < 0 || iommufd < 0 || ioctl(vm, KVM_CREATE_DEVICE, &cd))
		die("VM, VFIO cdev or /dev/iommu");
	attr.addr = (uint64_t)&devfd;
	if (ioctl(cd.fd, KVM_SET_DEVICE_ATTR, &attr))
		die("KVM_DEV_VFIO_FILE_ADD");
	bind.iommufd = iommufd;
	if (ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		die("VFIO_DEVICE_BIND_IOMMUFD");
	say("vfio: VM file added to kvm-vfio, device bound to iommufd (dev_id %u)\n", bind.out_devid);
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas))
		die("IOMMU_IOAS_ALLOC");
	attach.pt_id = ioas.out_ioas_id;
	hwpt.dev_id = bind.out_devid;
	hwpt.pt_id = ioas.out_ioas_id;
	if (ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &hwpt))
		say("vfio: no nesting parent on this SMMU (%s): QEMU 7.2's SMMUv3 has stage 1 only, so no vIOMMU\n",
		    strerror(errno));
	/* kvm-vfio holds the device file: it is unbound when the VM goes. */
	close(devfd);
	close(cd.fd);
	close(vm);
	close(iommufd);
	say("vfio: device and VM closed; the device was unbound from iommufd\n");
}

/*
 * --pin-only: a driver (the demo module) asks kvm_arm_vmid_pin()
 * for a VM's VMID, nothing else: under protected KVM the answer must be
 * -EOPNOTSUPP from KVM itself, whatever module is loaded.
 */
static int pin_only(void)
{
	struct vm a;
	char cmd[128];

	vm_create(&a);
	if (fcntl(a.vm, F_SETFD, 0))
		die("fcntl");
	snprintf(cmd, sizeof(cmd), "insmod /lib/modules/ksv/kvm_vmid_pin_demo.ko vm_fd=%d", a.vm);
	say("pin-only: %s: %s\n", cmd, system(cmd) ? "refused" : "loaded");
	system("rmmod kvm_vmid_pin_demo 2>/dev/null");
	vm_destroy(&a);
	return 0;
}

int main(int argc, char **argv)
{
	struct vm a, t;
	char cmd[128];
	long bits, n, r0, vmid;

	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		die("open /dev/kvm");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (argc > 1 && !strcmp(argv[1], "--pin-only"))
		return pin_only();
	bits = state("vmid_bits", 0);
	say("demo: VM A created from userspace (fd %d), its vcpu ran once\n", (vm_create(&a), vm_run(&a), a.vm));

	/* KVM_CREATE_VM returns an O_CLOEXEC descriptor: let insmod inherit it. */
	if (fcntl(a.vm, F_SETFD, 0))
		die("fcntl");
	snprintf(cmd, sizeof(cmd), "insmod /lib/modules/ksv/kvm_vmid_pin_demo.ko vm_fd=%d", a.vm);
	if (system(cmd))
		die(cmd);
	system("dmesg | grep 'kvm_vmid_pin_demo: pinned' | sed 's/^\\[[ 0-9.]*\\] /KSV:   dmesg: /'");
	vmid = state("vmid refs", 1);
	if (system("rmmod kvm_vmid_pin 2>/dev/null") == 0)
		die("kvm_vmid_pin unloaded while a pin is held");
	say("demo: rmmod kvm_vmid_pin refused while the pin is held (as it must be)\n");

	n = (1L << bits) + 16;
	r0 = state("rollovers", 0);
	say("demo: creating, running and closing %ld more VMs (%ld-bit VMIDs) ...\n", n, bits);
	for (long i = 0; i < n; i++) {
		vm_create(&t);
		vm_run(&t);
		vm_destroy(&t);
	}
	vm_run(&a);
	if (state("rollovers", 0) <= r0)
		die("no rollover happened");
	if (state("vmid refs", 0) != vmid)
		die("the pinned VMID changed across the rollover");
	say("demo: %ld rollover(s) happened; VM A ran again with the same VMID %ld:\n",
	    state("rollovers", 0) - r0, vmid);
	state("", 1);

	if (system("rmmod kvm_vmid_pin_demo"))
		die("rmmod kvm_vmid_pin_demo");
	system("dmesg | grep 'kvm_vmid_pin_demo: released' | sed 's/^\\[[ 0-9.]*\\] /KSV:   dmesg: /'");
	say("demo: pin released:\n");
	state("", 1);
	vm_destroy(&a);
	vfio_demo();
	return 0;
}
