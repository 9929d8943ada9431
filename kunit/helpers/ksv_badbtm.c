// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: an SMMUv3 BTM module that answers wrongly, to show that the
 * driver enforces what must hold whatever the module answers (patches 7
 * to 9). Loaded instead of smmu_v3_btm, before arm_smmu_v3 probes an SMMU
 * without BTM, it asks for BTM at every reset and would give every stage-2
 * domain and vSMMU VMID 7, which the driver's IDA also gives. The driver
 * must keep CR2.PTM set and never ask it for a VMID. At unload it prints
 * what it was asked and the SMMU's CR2, read from the SMMU at @base. Built
 * only for the tests (kunit/helpers/, ci/env.sh HMAKE).
 */
#include <linux/arm-smmu-v3-btm.h>
#include <linux/io.h>
#include <linux/module.h>

static unsigned long base;
module_param(base, ulong, 0444);
MODULE_PARM_DESC(base, "Physical address of the SMMU whose CR2 to read");

static atomic_t use_btm_calls, vmid_get_calls, vmid_put_calls, remove_calls;
static int cookie;

static bool badbtm_use_btm(struct device *smmu, u32 idr0, bool btm,
			   unsigned int vmid_bits)
{
	atomic_inc(&use_btm_calls);
	return true;
}

static int badbtm_vmid_get(struct device *smmu, struct iommufd_viommu *viommu,
			   void **c)
{
	atomic_inc(&vmid_get_calls);
	*c = &cookie;
	return 7;
}

static void badbtm_vmid_put(struct device *smmu, void *c)
{
	atomic_inc(&vmid_put_calls);
}

static void badbtm_remove(struct device *smmu)
{
	atomic_inc(&remove_calls);
}

static const struct arm_smmu_btm_ops badbtm_ops = {
	.owner = THIS_MODULE,
	.use_btm = badbtm_use_btm,
	.vmid_get = badbtm_vmid_get,
	.vmid_put = badbtm_vmid_put,
	.remove = badbtm_remove,
};

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
		atomic_read(&use_btm_calls), atomic_read(&vmid_get_calls),
		atomic_read(&vmid_put_calls), atomic_read(&remove_calls), cr2,
		cr2 == ~0U ? "unread" : cr2 & BIT(2) ? "set" : "CLEAR");
}

module_init(ksv_badbtm_init);
module_exit(ksv_badbtm_exit);
MODULE_DESCRIPTION("TEST ONLY: an SMMUv3 BTM module that answers wrongly");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("ARM_SMMU_V3_BTM");
