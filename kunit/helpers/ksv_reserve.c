// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: reserve VMIDs from KVM for no VM, as the SMMUv3 driver does
 * for a private stage 2 where its VMIDs are as wide as KVM's, so that a
 * test can force a VMID rollover while no VM exists. An 8-bit KVM on
 * QEMU's 16-bit SMMU takes its private VMIDs above KVM's instead, so the
 * SMMU alone cannot do it there. The VMIDs are given back at unload. Built
 * only for the tests (kunit/helpers/, ci/env.sh HMAKE).
 */
#include <linux/kvm_host.h>
#include <linux/module.h>
#include <linux/slab.h>

static unsigned int nr;
module_param(nr, uint, 0444);
MODULE_PARM_DESC(nr, "VMIDs to reserve (stops at the first refusal)");

static struct kvm_vmid *vmids;
static unsigned int reserved;

static int __init ksv_reserve_init(void)
{
	int ret = 0;

	vmids = kcalloc(nr, sizeof(*vmids), GFP_KERNEL);
	if (!vmids)
		return -ENOMEM;
	while (reserved < nr) {
		ret = kvm_arm_vmid_pin(&vmids[reserved]);
		if (ret < 0)
			break;
		reserved++;
	}
	pr_info("%u of %u VMIDs reserved (last: %d)\n", reserved, nr, ret);
	return 0;
}

static void __exit ksv_reserve_exit(void)
{
	while (reserved)
		kvm_arm_vmid_unpin(&vmids[--reserved]);
	kfree(vmids);
}

module_init(ksv_reserve_init);
module_exit(ksv_reserve_exit);
MODULE_DESCRIPTION("TEST ONLY: reserve KVM VMIDs for no VM");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("KVM_ARM_VMID_PIN");
