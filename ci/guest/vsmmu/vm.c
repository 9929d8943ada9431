// SPDX-License-Identifier: GPL-2.0
/* ksv-vsmmu: KVM VMs: guest RAM, one vCPU, and guest code that ends in an MMIO exit. */
#include "ksv-vsmmu.h"

void vm_close(struct vm *v)
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

void vm_free_mem(struct vm *v)
{
	if (v->mem && v->mem != MAP_FAILED)
		munmap(v->mem, v->size);
	v->mem = NULL;
}

/*
 * Runs the guest code at IPA @pc, with x0-x4 = @x (x1 must be MMIO_EXIT),
 * until its MMIO exit. Each run is a vcpu load: this is where KVM
 * (re)assigns the VMID.
 *
 * The code must start with a NOP: KVM completes the previous MMIO exit at
 * the next KVM_RUN by stepping the PC over one instruction, and that step
 * lands on the PC set here.
 */
int vm_exec(struct vm *v, uint64_t pc, const uint64_t x[5])
{
	struct kvm_one_reg reg = {
		.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
		      KVM_REG_ARM_CORE_REG(regs.pc),
		.addr = (uint64_t)&pc,
	};

	if (IOC(v->vcpu, KVM_SET_ONE_REG, &reg))
		return -1;
	for (int i = 0; x && i < 5; i++) {
		reg.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
			 KVM_REG_ARM_CORE_REG(regs.regs[i]);
		reg.addr = (uint64_t)&x[i];
		if (IOC(v->vcpu, KVM_SET_ONE_REG, &reg))
			return -1;
	}
	if (IOC(v->vcpu, KVM_RUN, NULL))
		return -1;
	if (v->run->exit_reason != KVM_EXIT_MMIO || v->run->mmio.phys_addr != MMIO_EXIT) {
		say("step KVM_RUN: unexpected exit reason %u (phys_addr %#llx)\n",
		    v->run->exit_reason, (unsigned long long)v->run->mmio.phys_addr);
		return -1;
	}
	return 0;
}

/* Runs the code vm_open() put at the start of the VM's RAM. */
int vm_run(struct vm *v)
{
	return vm_exec(v, v->ipa, NULL);
}

/* A VM with @size bytes of RAM at @ipa and one vcpu that ran once. */
int vm_open(struct vm *v, uint64_t ipa, size_t size)
{
	/* nop; x1 = 0x100000 (no memslot there); str x0, [x1]: an MMIO exit. */
	static const uint32_t code[] = { 0xd503201f, 0xd2a00201, 0xf9000020, 0x14000000 };
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
