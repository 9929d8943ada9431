// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: take an IOMMU sysfs name (e.g. "smmu3.0x0000000009050000")
 * before the SMMUv3 driver probes, so that its probe fails after the
 * device reset, in iommu_device_sysfs_add() (-EEXIST). The test checks
 * that the failed probe gives back what the reset took from smmu_v3_btm.
 * Built only for the tests (kunit/helpers/), never in production.
 */
#include <linux/iommu.h>
#include <linux/module.h>

static char *name_param;
module_param_named(name, name_param, charp, 0444);
MODULE_PARM_DESC(name, "the IOMMU sysfs name to take, e.g. smmu3.0x0000000009050000");

static struct iommu_device taken;

static int __init ksv_iommu_name_init(void)
{
	int ret;

	if (!name_param)
		return -EINVAL;
	ret = iommu_device_sysfs_add(&taken, NULL, NULL, "%s", name_param);
	if (ret)
		return ret;
	pr_warn("ksv_iommu_name: TEST ONLY: took the IOMMU name %s\n", name_param);
	return 0;
}

static void __exit ksv_iommu_name_exit(void)
{
	iommu_device_sysfs_remove(&taken);
}

module_init(ksv_iommu_name_init);
module_exit(ksv_iommu_name_exit);
MODULE_DESCRIPTION("TEST ONLY: take an IOMMU sysfs name to fail an SMMUv3 probe after reset");
MODULE_LICENSE("GPL");
