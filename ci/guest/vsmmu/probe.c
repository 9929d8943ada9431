// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu --fail-nth-probe KO: the kernel's fault injection on loading
 * arm_smmu_v3 (KO) with smmu_v3_btm loaded: the module's load and the
 * SMMU's probe, which runs in the same task (finit_module, the platform
 * driver's registration, the probe, the device reset where smmu_v3_btm
 * decides BTM and clears CR2.PTM, the IOMMU registration and the probe of
 * the PCI devices behind it). For n = 1, 2, ... the n-th allocation fails,
 * until the load and probe run through without reaching an n-th.
 *
 * A failure ends one of three ways, each checked against the state before
 * the load (pins, vSMMU records, smmu_v3_btm's SMMU records, module
 * references, VMs, open files):
 *   - the load fails: ENOMEM, or EINVAL where the driver core fails to
 *     link the driver into the module's sysfs directory
 *     (module_add_driver()); nothing of ours may be held;
 *   - the module loads but the probe failed: nothing of ours may be held,
 *     before and after rmmod;
 *   - the probe absorbed the failure (a warning, a smaller queue, BTM
 *     not used): the SMMU record and its references are there with BTM
 *     in use, or neither is; then the PCI devices behind the SMMU (each
 *     holds arm_smmu_v3) are removed, the module unloaded, the bus
 *     rescanned, and everything must be as before.
 * smmu_v3_btm is reloaded before every load, so that its SMMU record is
 * allocated each time rather than once. Without smmu_v3_btm (the
 * unpatched kernel) the same sweep runs, and none of our state may show. A load without injection first
 * takes the allocations made once per boot (the SMMU's IRQ mappings).
 *
 * Prints "CHECK failnth-probe ok|FAIL <counts>". The SMMU stays probed.
 */
#include <sys/syscall.h>

#include "ksv-vsmmu.h"

#define SMMU_DRV "/sys/bus/platform/drivers/arm-smmu-v3"

/* Whether arm-smmu-v3 is bound to the SMMU. */
static int smmu_bound(void)
{
	DIR *d = opendir(SMMU_DRV);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !!strstr(e->d_name, "smmuv3");
	if (d)
		closedir(d);
	return n > 0;
}

static int loaded(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return !access(path, F_OK);
}

static int load(const char *ko)
{
	int fd = open(ko, O_RDONLY), r, e;

	if (fd < 0)
		return -1;
	r = syscall(SYS_finit_module, fd, "", 0);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/*
 * Unloads arm_smmu_v3. A bound SMMU cannot go while the PCI devices
 * behind it hold the module (iommu_init_device()): they are removed
 * first and found again by a rescan once the module is gone.
 */
static int smmu_unload(char *why, size_t len)
{
	int removed = 0;

	if (smmu_bound()) {
		DIR *d = opendir("/sys/bus/pci/devices");
		struct dirent *e;
		char path[300];

		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", e->d_name);
			removed += !write_file(path, "1");
		}
		if (d)
			closedir(d);
	}
	if (syscall(SYS_delete_module, "arm_smmu_v3", O_NONBLOCK)) {
		snprintf(why, len, "rmmod arm_smmu_v3: %s (%d PCI devices removed)", strerror(errno),
			 removed);
		return -1;
	}
	if (removed && write_file("/sys/bus/pci/rescan", "1")) {
		snprintf(why, len, "PCI rescan: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* smmu_v3_btm afresh: its vector of SMMU records starts empty. */
static int btm_reload(int with_btm, char *why, size_t len)
{
	if (!with_btm)
		return 0;
	if (syscall(SYS_delete_module, "smmu_v3_btm", O_NONBLOCK) || load(BTM_KO)) {
		snprintf(why, len, "reloading smmu_v3_btm: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void test_fail_nth_probe(const char *ko)
{
	int hits = 0, load_failed = 0, einval = 0, probe_failed = 0, absorbed = 0, btm_kept = 0;
	int bad = 0, n, base_refs[2];
	char why[1200] = "", s0[384], s1[384];
	struct fstate base, now;

	int with_btm = loaded("smmu_v3_btm");

	if (nth_setup() || loaded("arm_smmu_v3")) {
		check("failnth-probe-setup", 0, "fault injection, and arm_smmu_v3 not loaded wanted");
		return;
	}
	/* The allocations made once per boot, outside the sweep. */
	if (load(ko) || !smmu_bound() || smmu_unload(why, sizeof(why)) ||
	    btm_reload(with_btm, why, sizeof(why))) {
		check("failnth-probe-setup", 0, "a first load and unload of %s: %s", ko,
		      why[0] ? why : strerror(errno));
		return;
	}
	fstate_take(&base);
	for (int i = 0; i < 2; i++)
		base_refs[i] = base.s.refs[i];
	for (n = 1; n <= NTH_MAX; n++) {
		int r, e, hit, bound;

		nth_arm(n);
		r = load(ko);
		e = errno;
		hit = nth_hit();
		bound = !r && smmu_bound();
		fstate_take(&now);
		hits += hit;
		if (r) {
			load_failed++;
			einval += e == EINVAL;
			if (!hit || (e != ENOMEM && e != EINVAL) || loaded("arm_smmu_v3") ||
			    !fstate_eq(&base, &now)) {
				fstate_str(&now, s1, sizeof(s1));
				if (!bad++)
					snprintf(why, sizeof(why), "n=%d: the load failed: %s (%s)%s; %s",
						 n, strerror(e), errname(e),
						 hit ? "" : ", no fault injected", s1);
			}
		} else if (!bound) {
			/* The probe failed, the module stayed: nothing held. */
			probe_failed++;
			if (!hit || !fstate_eq(&base, &now)) {
				fstate_str(&now, s1, sizeof(s1));
				if (!bad++)
					snprintf(why, sizeof(why), "n=%d: the probe failed%s; %s", n,
						 hit ? "" : " with no fault injected", s1);
			}
		} else {
			/*
			 * Bound: one SMMU record with a reference on each of
			 * our modules (BTM in use), or none (BTM not used).
			 */
			int btm = with_btm && now.smmus == base.smmus + 1 &&
				  now.s.refs[0] == base_refs[0] + 1 && now.s.refs[1] == base_refs[1] + 1;
			int none = now.smmus == base.smmus && now.s.refs[0] == base_refs[0] &&
				   now.s.refs[1] == base_refs[1];

			/* Without smmu_v3_btm (upstream): none, always. */
			if (!btm && !((hit || !with_btm) && none)) {
				fstate_str(&now, s1, sizeof(s1));
				if (!bad++)
					snprintf(why, sizeof(why),
						 "n=%d: probed%s, with neither BTM in use nor none of its state: %s",
						 n, hit ? " (a fault absorbed)" : "", s1);
			}
			if (!hit)
				break; /* ran through: the SMMU stays probed */
			absorbed++;
			btm_kept += btm;
		}
		/* Back to the start: unload, and smmu_v3_btm afresh. */
		if (loaded("arm_smmu_v3") && smmu_unload(s0, sizeof(s0)) && !bad++)
			snprintf(why, sizeof(why), "n=%d: %s", n, s0);
		if (bad || btm_reload(with_btm, s0, sizeof(s0))) {
			if (!bad++)
				snprintf(why, sizeof(why), "n=%d: %s", n, s0);
			break;
		}
		fstate_take(&now);
		if (!fstate_eq(&base, &now)) {
			fstate_str(&base, s0, sizeof(s0));
			fstate_str(&now, s1, sizeof(s1));
			if (!bad++)
				snprintf(why, sizeof(why), "after unloading at n=%d: %s; at the start: %s",
					 n, s1, s0);
			break;
		}
	}
	say("CHECK failnth-probe %s %d injection points: %d failed the load (%d with EINVAL), %d failed the probe, %d absorbed by the probe (%d of them with BTM in use); probed%s at n=%d%s%s\n",
	    !bad && n <= NTH_MAX && hits ? "ok" : "FAIL", hits, load_failed, einval, probe_failed,
	    absorbed, btm_kept, with_btm ? " with BTM" : "", n, bad ? "; " : "", why);
	if (bad || n > NTH_MAX || !hits)
		failures++;
}
