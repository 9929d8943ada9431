// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: an SMMUv3 BTM module that answers wrongly, to show that the
 * driver enforces what must hold whatever the module answers (patches 7
 * to 9). Loaded instead of smmu_v3_btm, before arm_smmu_v3 probes, it asks
 * for BTM at every reset and gives every stage-2 domain and vSMMU VMID 7,
 * which is neither a VM's pinned VMID nor one KVM reserved. On an SMMU
 * without BTM the driver must keep CR2.PTM set and never ask it for a
 * VMID; on one with BTM it must refuse VMID 7 for a vSMMU, give it back,
 * and keep the parent's. The counts of the calls are parameters (sysfs);
 * at unload it also prints them and the SMMU's CR2, read from the SMMU at
 * @base. Built only for the tests (kunit/helpers/, ci/env.sh HMAKE).
 */
#include <linux/arm-smmu-v3-btm.h>
#include <linux/io.h>
#include <linux/module.h>

static unsigned long base;
module_param(base, ulong, 0444);
MODULE_PARM_DESC(base, "Physical address of the SMMU whose CR2 to read");

static int use_btm_calls, vmid_get_calls, vmid_put_calls, remove_calls;
module_param(use_btm_calls, int, 0444);
module_param(vmid_get_calls, int, 0444);
module_param(vmid_put_calls, int, 0444);
module_param(remove_calls, int, 0444);
static int cookie;

/* The driver calls the ops one at a time in these tests */
static void count(int *n)
{
	WRITE_ONCE(*n, READ_ONCE(*n) + 1);
}

static bool badbtm_use_btm(struct device *smmu, u32 idr0, bool btm,
			   unsigned int vmid_bits)
{
	count(&use_btm_calls);
	return true;
}

static int badbtm_vmid_get(struct device *smmu, struct iommufd_viommu *viommu,
			   void **c)
{
	count(&vmid_get_calls);
	*c = &cookie;
	return 7;
}

static void badbtm_vmid_put(struct device *smmu, void *c)
{
	count(&vmid_put_calls);
}

static void badbtm_remove(struct device *smmu)
{
	count(&remove_calls);
}

static const struct arm_smmu_btm_ops badbtm_ops = {
	.owner = THIS_MODULE,
	.use_btm = badbtm_use_btm,
	.vmid_get = badbtm_vmid_get,
	.vmid_put = badbtm_vmid_put,
	.remove = badbtm_remove,
};

/*
 * Writing try_unregister unregisters the ops, as a module that misbehaves
 * could at any time; unregister_ret says what arm_smmu_btm_register(NULL)
 * returned: -EBUSY while an SMMU or a VMID holds this module.
 */
static int unregister_ret = 1;
module_param(unregister_ret, int, 0444);

static int try_unregister_set(const char *val, const struct kernel_param *kp)
{
	unregister_ret = arm_smmu_btm_register(NULL);
	return 0;
}

static const struct kernel_param_ops try_unregister_ops = {
	.set = try_unregister_set,
};
module_param_cb(try_unregister, &try_unregister_ops, NULL, 0200);

static int __init ksv_badbtm_init(void)
{
	return arm_smmu_btm_register(&badbtm_ops);
}

static void __exit ksv_badbtm_exit(void)
{
	void __iomem *regs;
	u32 cr2 = ~0;

	arm_smmu_btm_register(NULL);
	regs = base ? ioremap(base, SZ_4K) : NULL;
	if (regs) {
		cr2 = readl(regs + 0x2c);	/* SMMU_CR2 */
		iounmap(regs);
	}
	pr_info("ksv_badbtm: use_btm %d, vmid_get %d, vmid_put %d, remove %d; CR2 %#x (PTM %s)\n",
		use_btm_calls, vmid_get_calls, vmid_put_calls, remove_calls, cr2,
		cr2 == ~0U ? "unread" : cr2 & BIT(2) ? "set" : "CLEAR");
}

module_init(ksv_badbtm_init);
module_exit(ksv_badbtm_exit);
MODULE_DESCRIPTION("TEST ONLY: an SMMUv3 BTM module that answers wrongly");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("ARM_SMMU_V3_BTM");
