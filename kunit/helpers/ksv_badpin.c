// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: a VMID pin module that answers wrongly, to show that KVM
 * enforces what must hold whatever a pin module answers (patch 2). Loaded
 * where kvm_vmid_pin is not, it registers its own ops, runs its checks at
 * init, prints one "ksv_badpin: CHECK <name> ok|FAIL" line per check, and
 * unregisters: KVM must refuse an index that is not the VMID's own, or a
 * pin the module does not then report (-EPROTO, with one warning each),
 * and give the pin back, so that the unregistering succeeds with no pin
 * left. Built only for the tests
 * (kunit/helpers/, ci/env.sh HMAKE).
 */
#include <linux/kvm_host.h>
#include <linux/module.h>

/* What the pin op returns: the VMID's index plus this (0: the right one) */
static int pin_skew;
/* Whether the pin op records the pin it reports */
static bool pin_records = true;
static int pins, unpins;
/* The one VMID this module has pinned, or NULL */
static const struct kvm_vmid *pinned;

static bool badpin_is_pinned(const struct kvm_vmid *kvm_vmid)
{
	return kvm_vmid == pinned;
}

static int badpin_may_pin(const struct kvm_vmid *kvm_vmid)
{
	return 0;
}

static int badpin_pin(struct kvm_vmid *kvm_vmid)
{
	u64 idx = atomic64_read(&kvm_vmid->id) & (BIT(kvm_arm_vmid_bits) - 1);

	pins++;
	if (pin_records)
		pinned = kvm_vmid;
	return idx + pin_skew;
}

static bool badpin_unpin(struct kvm_vmid *kvm_vmid)
{
	unpins++;
	if (kvm_vmid == pinned)
		pinned = NULL;
	return true;
}

static unsigned long badpin_rollover(unsigned long *vmid_map,
				     unsigned long *last)
{
	return 1;
}

static const struct kvm_vmid_pin_ops badpin_ops = {
	.owner = THIS_MODULE,
	.is_pinned = badpin_is_pinned,
	.may_pin = badpin_may_pin,
	.pin = badpin_pin,
	.unpin = badpin_unpin,
	.rollover = badpin_rollover,
};

#define check(name, ok, fmt, ...) \
	pr_info("ksv_badpin: CHECK %s %s: " fmt "\n", name, (ok) ? "ok" : "FAIL", \
		##__VA_ARGS__)

static int __init ksv_badpin_init(void)
{
	struct kvm_vmid v = {};
	int ret, idx;

	ret = kvm_arm_vmid_pin_register(&badpin_ops);
	if (ret) {
		pr_info("ksv_badpin: CHECK register FAIL: %d (is a pin module loaded?)\n", ret);
		return ret;
	}
	/* A wrong index: refused, and the pin is given back */
	pin_skew = 1;
	ret = kvm_arm_vmid_pin(&v);
	check("wrong-index", ret == -EPROTO && pins == unpins,
	      "kvm_arm_vmid_pin() %d (want -EPROTO), unpins %d", ret, unpins);
	/* Index 0 (never a VMID's): refused too */
	pin_skew = -(int)(atomic64_read(&v.id) & (BIT(kvm_arm_vmid_bits) - 1));
	ret = kvm_arm_vmid_pin(&v);
	check("index-zero", ret == -EPROTO && pins == unpins,
	      "kvm_arm_vmid_pin() %d (want -EPROTO), pins - unpins %d", ret, pins - unpins);
	/* The right index, but not recorded as pinned: refused too */
	pin_skew = 0;
	pin_records = false;
	ret = kvm_arm_vmid_pin(&v);
	check("unrecorded", ret == -EPROTO && pins == unpins,
	      "kvm_arm_vmid_pin() %d (want -EPROTO), pins - unpins %d", ret, pins - unpins);
	pin_records = true;
	/* The right index: taken, and kvm_arm_vmid_pinned() sees it */
	ret = kvm_arm_vmid_pin(&v);
	idx = kvm_arm_vmid_pinned(&v);
	check("right-index", ret > 0 && idx == ret,
	      "kvm_arm_vmid_pin() %d, kvm_arm_vmid_pinned() %d", ret, idx);
	if (ret > 0)
		kvm_arm_vmid_unpin(&v);
	idx = kvm_arm_vmid_pinned(&v);
	check("unpinned", idx == -ENOENT, "kvm_arm_vmid_pinned() %d after the unpin", idx);
	/* A hold counts as a pin until it is released */
	ret = kvm_arm_vmid_pin_hold();
	if (!ret)
		kvm_arm_vmid_pin_release();
	check("hold", !ret, "kvm_arm_vmid_pin_hold() %d", ret);
	/* With every pin and hold given back, unregistering succeeds */
	ret = kvm_arm_vmid_pin_register(NULL);
	check("unregister", !ret, "kvm_arm_vmid_pin_register(NULL) %d (want 0: no pin left)", ret);
	return 0;
}

static void __exit ksv_badpin_exit(void)
{
}

module_init(ksv_badpin_init);
module_exit(ksv_badpin_exit);
MODULE_DESCRIPTION("TEST ONLY: a VMID pin module that answers wrongly");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("KVM_ARM_VMID_PIN");
