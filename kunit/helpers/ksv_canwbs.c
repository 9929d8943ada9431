// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: mark PCI devices as fully cache coherent for the SMMUv3
 * (IOMMU_FWSPEC_PCI_RC_CANWBS), so that IOMMU_VIOMMU_ALLOC works on QEMU.
 *
 * arm_smmu_get_viommu_size() requires S2FWB or CANWBS. QEMU's SMMUv3 has
 * no S2FWB and only ACPI IORT sets CANWBS (QEMU's IORT leaves it clear).
 * Under TCG, device DMA and CPU accesses go to the same coherent memory,
 * so the flag is true there. This module is built only for the tests
 * (kunit/helpers/, ci/env.sh HMAKE) and is never part of a production
 * build.
 */
#include <linux/device.h>
#include <linux/iommu.h>
#include <linux/module.h>
#include <linux/pci.h>

#define KSV_CANWBS_MAX 4

static char *dev_names[KSV_CANWBS_MAX];
static int nr_dev_names;
module_param_array_named(dev, dev_names, charp, &nr_dev_names, 0444);
MODULE_PARM_DESC(dev, "PCI device names, e.g. 0000:00:02.0,0000:00:03.0");

static struct device *marked[KSV_CANWBS_MAX];

static void ksv_canwbs_unmark(int n)
{
	while (n--) {
		struct iommu_fwspec *fwspec = dev_iommu_fwspec_get(marked[n]);

		if (fwspec)
			fwspec->flags &= ~IOMMU_FWSPEC_PCI_RC_CANWBS;
		put_device(marked[n]);
	}
}

static int __init ksv_canwbs_init(void)
{
	struct iommu_fwspec *fwspec;
	struct device *dev;
	int i;

	if (!nr_dev_names)
		return -EINVAL;
	for (i = 0; i < nr_dev_names; i++) {
		dev = bus_find_device_by_name(&pci_bus_type, NULL, dev_names[i]);
		if (!dev) {
			pr_err("ksv_canwbs: no PCI device %s\n", dev_names[i]);
			ksv_canwbs_unmark(i);
			return -ENODEV;
		}
		fwspec = dev_iommu_fwspec_get(dev);
		if (!fwspec) {
			pr_err("ksv_canwbs: %s is not behind an IOMMU\n", dev_names[i]);
			put_device(dev);
			ksv_canwbs_unmark(i);
			return -ENODEV;
		}
		fwspec->flags |= IOMMU_FWSPEC_PCI_RC_CANWBS;
		marked[i] = dev;
		dev_warn(dev, "TEST ONLY: marked IOMMU_FWSPEC_PCI_RC_CANWBS (TCG memory is coherent)\n");
	}
	return 0;
}

static void __exit ksv_canwbs_exit(void)
{
	ksv_canwbs_unmark(nr_dev_names);
}

module_init(ksv_canwbs_init);
module_exit(ksv_canwbs_exit);
MODULE_DESCRIPTION("TEST ONLY: mark a PCI device CANWBS for vIOMMU tests on QEMU");
MODULE_LICENSE("GPL");
