// SPDX-License-Identifier: GPL-2.0
/* ksv-vsmmu: The checks, and main(). */
#include "ksv-vsmmu.h"

static int rollovers_wanted, reserve_only, bench_only, vm_file_only, bad_vmid_only;

/* Checks vmid, dma-s2, rollover, unmap-faults, vm-closed-first. */
void test_main(void)
{
	struct vmm m;
	struct pins p0, p1, p2;
	struct vsmmus v0, v1;
	char why[512], s0[256], s1[256];
	int vmid = -1, vs = -1, npin = 0, nvs = 0, ok;

	if (vmm_base(&m, 1)) {
		check("vmid", 0, "VMM setup failed before IOMMU_VIOMMU_ALLOC");
		goto fail_all;
	}
	/* The VMM may tell its guest about BTM only if the kernel says so. */
	ok = hw_cap_btm(&m);
	check("hw-info-btm", ok == expect_kvm,
	      "IOMMU_GET_HW_INFO flags BTM_KVM_VMID %s (want %s: %s)",
	      ok < 0 ? "unreadable" : ok ? "set" : "clear", expect_kvm ? "set" : "clear",
	      expect_kvm ? "BTM in use, device bound with a VM" : "no BTM in use");
	read_pins(&p0);
	read_vsmmus(&v0);
	if (viommu_alloc(&m, m.parent, &m.viommu)) {
		int e = errno;

		say("step IOMMU_VIOMMU_ALLOC failed: %s (%s)\n", strerror(e), errname(e));
		check("vmid", 0, "IOMMU_VIOMMU_ALLOC failed: %s", strerror(e));
		goto fail_all;
	}
	read_pins(&p1);
	read_vsmmus(&v1);
	if (p1.present)
		vmid = pins_new(&p0, &p1, &npin);
	if (v1.present)
		vs = vsmmu_new(&v0, &v1, &nvs);
	snprintf(s0, sizeof(s0), "%d", vmid);
	snprintf(s1, sizeof(s1), "%d", vs);
	say("VMID kvm=%s vsmmu=%s\n", vmid >= 0 ? s0 : "none", vs >= 0 ? s1 : "none");
	pins_str(&p0, s0, sizeof(s0));
	pins_str(&p1, s1, sizeof(s1));
	if (expect_kvm)
		check("vmid",
		      p1.present && npin == 1 && p1.pinned == p0.pinned + 1 && vs == vmid &&
			      nvs == 1,
		      "pinned before {%s} after IOMMU_VIOMMU_ALLOC {%s}; new pinned VMID %d, vSMMU VMID %d",
		      s0, s1, vmid, vs);
	else
		check("vmid", (!p1.present || p1.pinned == 0) && nvs == 0,
		      "nothing pinned (kvm_vmid_pin %s), %d vSMMU with a KVM VMID", s1, nvs);

	if (vmm_vdev(&m) || vmm_nested(&m) || vmm_attach(&m, m.nested) || bus_master(&m)) {
		check("dma-s2", 0, "VMM setup after IOMMU_VIOMMU_ALLOC failed");
		goto fail_rest;
	}
	say("DMA-BEGIN dma-s2 expect-vmid=%s\n", expect_str(vmid));
	ok = !dma_check(&m, PG(1), PG(2), 1, why, sizeof(why));
	say("DMA-END dma-s2\n");
	check("dma-s2", ok, "%s (nested hwpt %u, bypass vSTE, vIOMMU %u, vSID %#x)", why, m.nested,
	      m.viommu, VIRT_SID);

	/* rollover */
	if (!expect_kvm) {
		check("rollover", 1, "skipped (upstream)");
	} else if (rollovers_wanted <= 0) {
		check("rollover", 1, "skipped (no --rollovers)");
	} else {
		long r0, r;
		int n = 0, err = 0;
		double t0 = now_s();

		read_pins(&p1);
		r0 = r = p1.rollovers;
		if (!p1.present) {
			check("rollover", 0, "kvm_vmid_pin state absent");
		} else {
			while (r - r0 < rollovers_wanted && n < 5000) {
				struct vm t;

				if (vm_open(&t, 0, 0x10000)) {
					err = 1;
					break;
				}
				vm_close(&t);
				vm_free_mem(&t);
				if (++n % 50 == 0) {
					read_pins(&p2);
					r = p2.rollovers;
				}
			}
			read_pins(&p2);
			r = p2.rollovers;
			pins_str(&p2, s1, sizeof(s1));
			if (err || r - r0 < rollovers_wanted) {
				check("rollover", 0, "%ld rollovers after %d VMs (%s)", r - r0, n,
				      err ? "a VM failed" : "gave up");
			} else {
				int run_ok = !vm_run(&m.vm), dma_ok;

				say("DMA-BEGIN rollover expect-vmid=%s\n", expect_str(vmid));
				dma_ok = !dma_check(&m, PG(3), PG(4), 2, why, sizeof(why));
				say("DMA-END rollover\n");
				check("rollover",
				      run_ok && dma_ok && pins_has(&p2, vmid) &&
					      p2.pinned == p1.pinned,
				      "%ld rollovers after %d VMs in %.1fs; pinned VMID %d %s {%s}; VM's vcpu %s; DMA: %s",
				      r - r0, n, now_s() - t0, vmid,
				      pins_has(&p2, vmid) ? "kept" : "LOST", s1,
				      run_ok ? "ran (MMIO exit)" : "FAILED to run", why);
			}
		}
	}

	/* unmap-faults */
	{
		uint8_t *x = at(&m, EXTRA_IPA), saved[PAGE];
		struct iommu_ioas_unmap un = {
			.size = sizeof(un),
			.ioas_id = m.ioas,
			.iova = EXTRA_IPA,
			.length = PAGE,
		};
		int ev0, ev1, first, same, dev_had;

		memset(x, 0, PAGE);
		if (ioas_map(&m, EXTRA_IPA, PAGE)) {
			check("unmap-faults", 0, "IOMMU_IOAS_MAP of the extra page failed");
			goto closed_first;
		}
		fill(at(&m, PG(5)), 3);
		first = !dma_copy(&m, PG(5), EXTRA_IPA) && !memcmp(x, at(&m, PG(5)), PAGE);
		memcpy(saved, x, PAGE);
		if (IOC(m.iommufd, IOMMU_IOAS_UNMAP, &un)) {
			check("unmap-faults", 0, "IOMMU_IOAS_UNMAP failed");
			goto closed_first;
		}
		ev0 = smmu_events();
		/* The device gets another pattern, writes it to the unmapped page. */
		fill(at(&m, PG(6)), 4);
		memset(at(&m, PG(7)), 0xee, PAGE);
		if (dma_copy(&m, PG(6), EXTRA_IPA)) {
			check("unmap-faults", 0, "edu DMA failed");
			goto closed_first;
		}
		same = !memcmp(x, saved, PAGE);
		/* Show the device did hold the new pattern: copy it to a mapped page. */
		dev_had = !edu_dma(&m, EDU_BUF, PG(7), PAGE, 1) &&
			  !memcmp(at(&m, PG(7)), at(&m, PG(6)), PAGE);
		usleep(100000);
		ev1 = smmu_events();
		check("unmap-faults", first && same && dev_had,
		      "DMA to IPA %#llx before unmap %s; after IOMMU_IOAS_UNMAP the page %s; device held the new pattern: %s; dmesg SMMU event lines +%d",
		      (unsigned long long)EXTRA_IPA, first ? "landed" : "DID NOT land",
		      same ? "is unchanged" : "CHANGED (DMA went through)", dev_had ? "yes" : "NO",
		      ev1 - ev0);
	}

closed_first:
	/* vm-closed-first */
	{
		int held, back, rc;

		read_pins(&p0);
		vm_close(&m.vm);
		close(m.kvfio);
		m.kvfio = -1;
		read_pins(&p1);
		held = !expect_kvm || (pins_has(&p1, vmid) && p1.pinned == p0.pinned);
		rc = vmm_teardown_viommu(&m);
		read_pins(&p2);
		back = !expect_kvm || (!pins_has(&p2, vmid) && p2.pinned == p0.pinned - 1);
		if (!expect_kvm && p2.present && p2.pinned != 0)
			back = 0;
		pins_str(&p1, s0, sizeof(s0));
		pins_str(&p2, s1, sizeof(s1));
		check("vm-closed-first", held && back && !rc,
		      "VM, vcpu and kvm-vfio fds closed: {%s}%s; destroys (nested hwpt, vdevice, vIOMMU) %s: {%s}%s",
		      s0, expect_kvm ? (held ? " VMID still pinned" : " VMID NOT pinned") : "",
		      rc ? "FAILED" : "ok", s1,
		      expect_kvm ? (back ? " pin released" : " pin NOT released") :
				   (back ? "" : " (upstream: nothing may be pinned)"));
	}
	vmm_close(&m);
	return;

fail_all:
	check("dma-s2", 0, "no vIOMMU");
fail_rest:
	check("rollover", !expect_kvm, expect_kvm ? "no vIOMMU" : "skipped (upstream)");
	check("unmap-faults", 0, "no vIOMMU");
	check("vm-closed-first", 0, "no vIOMMU");
	vmm_close(&m);
}

/*
 * Checks no-vm, hw-info-no-vm: BTM is an offer. A device bound without a
 * VM still gets its vIOMMU, with the parent's VMID, no pin and no BTM.
 */
void test_no_vm(void)
{
	struct pins p0, p1;
	struct vmm m;
	uint32_t id = 0;
	int r, e;

	if (vmm_base(&m, 0)) {
		check("no-vm", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	/* The SMMU's report holds for a device without a VM. */
	r = hw_cap_btm(&m);
	check("hw-info-no-vm", r == expect_kvm,
	      "device bound without a VM: IOMMU_GET_HW_INFO flags BTM_KVM_VMID %s (want %s: the SMMU's property)",
	      r < 0 ? "unreadable" : r ? "set" : "clear", expect_kvm ? "set" : "clear");
	read_pins(&p0);
	r = viommu_alloc(&m, m.parent, &id);
	e = errno;
	read_pins(&p1);
	check("no-vm", r == 0 && !m.viommu_btm && p1.pinned == p0.pinned,
	      "device bound without a VM: IOMMU_VIOMMU_ALLOC %s%s, out_flags BTM %s (want clear), pinned %ld -> %ld (want unchanged: the parent's VMID)",
	      r < 0 ? "failed: " : "succeeded", r < 0 ? errname(e) : "", m.viommu_btm ? "set" : "clear",
	      p0.pinned, p1.pinned);
	if (r == 0 && destroy(&m, id, "viommu"))
		check("no-vm-destroy", 0, "IOMMU_DESTROY of the vIOMMU failed");
	vmm_close(&m);
}

/*
 * Checks viommu-no-btm, viommu-out-flags-in: a VMM that declines BTM
 * (IOMMU_VIOMMU_ARM_SMMUV3_NO_BTM) takes no pin; out_flags given back on
 * input, as from an earlier call, is ignored, not refused.
 */
void test_viommu_flags(void)
{
	struct iommu_viommu_arm_smmuv3 no = { .flags = IOMMU_VIOMMU_ARM_SMMUV3_NO_BTM };
	struct iommu_viommu_arm_smmuv3 stale = { .out_flags = IOMMU_VIOMMU_ARM_SMMUV3_BTM };
	struct pins p0, p1, p2;
	uint32_t id1 = 0, id2 = 0;
	int r1, r2, e1, e2;
	struct vmm m;

	if (vmm_base(&m, 1)) {
		check("viommu-no-btm", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	read_pins(&p0);
	r1 = viommu_alloc_data(&m, m.parent, &id1, &no);
	e1 = errno;
	read_pins(&p1);
	check("viommu-no-btm", r1 == 0 && !(no.out_flags & IOMMU_VIOMMU_ARM_SMMUV3_BTM) &&
				       p1.pinned == p0.pinned,
	      "IOMMU_VIOMMU_ALLOC with NO_BTM: %s%s, out_flags BTM %s (want clear), pinned %ld -> %ld (want unchanged)",
	      r1 < 0 ? "failed: " : "succeeded", r1 < 0 ? errname(e1) : "",
	      no.out_flags & IOMMU_VIOMMU_ARM_SMMUV3_BTM ? "set" : "clear", p0.pinned, p1.pinned);
	if (id1 && destroy(&m, id1, "viommu"))
		check("viommu-no-btm-destroy", 0, "IOMMU_DESTROY failed");
	r2 = viommu_alloc_data(&m, m.parent, &id2, &stale);
	e2 = errno;
	read_pins(&p2);
	check("viommu-out-flags-in",
	      r2 == 0 && !!(stale.out_flags & IOMMU_VIOMMU_ARM_SMMUV3_BTM) == expect_kvm,
	      "IOMMU_VIOMMU_ALLOC with out_flags set on input: %s%s, out_flags BTM %s (want %s)",
	      r2 < 0 ? "failed: " : "succeeded", r2 < 0 ? errname(e2) : "",
	      stale.out_flags & IOMMU_VIOMMU_ARM_SMMUV3_BTM ? "set" : "clear",
	      expect_kvm ? "set" : "clear");
	if (id2 && destroy(&m, id2, "viommu"))
		check("viommu-out-flags-in-destroy", 0, "IOMMU_DESTROY failed");
	vmm_close(&m);
}

void test_second_parent(void)
{
	struct vmm m;
	struct pins p0, p1;
	struct vsmmus v0, v1;
	uint32_t p2, id1 = 0, id2 = 0, id3 = 0;
	int r1, r2, r3, e2 = 0, e3 = 0, vmid = -1, vs3 = -1, n, ok, btm2 = 0;
	char s[256];

	if (vmm_base(&m, 1)) {
		check("second-parent", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	/*
	 * A nest parent's VMID: on an SMMU with BTM whose VMIDs are as wide as
	 * KVM's, one the driver pins from KVM for no VM; else the driver's own
	 * (above KVM's with BTM), which takes no pin.
	 */
	{
		long kbits = debugfs_value(PIN_STATE, "vmid_bits");
		long sbits = debugfs_value(BTM_STATE, "vmid_bits");
		int btm = hw_cap_btm(&m) == 1, want = btm && kbits == sbits;

		read_pins(&p0);
		r1 = parent_alloc(&m, &p2);
		read_pins(&p1);
		check("parent-vmid", !r1 && p1.pinned - p0.pinned == want,
		      "nest parent %s; SMMU BTM %s, VMIDs: KVM %ld bits, SMMU %ld bits; pinned %ld -> %ld (want %d more: %s)",
		      r1 ? "FAILED" : "allocated", btm ? "on" : "off", kbits, sbits, p0.pinned,
		      p1.pinned, want, want ? "a VMID reserved from KVM" : "the driver's own VMID");
		if (r1) {
			vmm_close(&m);
			return;
		}
	}
	read_pins(&p0);
	r1 = viommu_alloc(&m, m.parent, &id1);
	if (r1)
		say("step IOMMU_VIOMMU_ALLOC (first parent) failed: %s\n", strerror(errno));
	read_pins(&p1);
	if (p1.present)
		vmid = pins_new(&p0, &p1, &n);
	r2 = viommu_alloc(&m, p2, &id2);
	e2 = errno;
	btm2 = m.viommu_btm;
	read_vsmmus(&v0);
	r3 = viommu_alloc(&m, m.parent, &id3);
	e3 = errno;
	read_vsmmus(&v1);
	if (v1.present)
		vs3 = vsmmu_new(&v0, &v1, &n);
	pins_str(&p1, s, sizeof(s));
	if (expect_kvm)
		ok = !r1 && !r2 && !btm2 && !r3 && vmid >= 0 && vs3 == vmid;
	else
		ok = !r1 && !r2 && !btm2 && !r3 && vs3 < 0;
	check("second-parent", ok,
	      "vIOMMU on parent %u: %s; on a second parent %u of the same VM: %s%s (want ok, BTM clear: its parent's VMID), BTM %s; another on parent %u: %s%s, its VMID %d (pinned VMID %d) {%s}",
	      m.parent, r1 ? "FAILED" : "ok", p2, r2 ? "failed " : "ok", r2 ? errname(e2) : "",
	      btm2 ? "set" : "clear",
	      m.parent, r3 ? "failed " : "ok", r3 ? errname(e3) : "", vs3, vmid, s);
	if ((id3 && destroy(&m, id3, "viommu")) || (id2 && destroy(&m, id2, "viommu")) ||
	    (id1 && destroy(&m, id1, "viommu")))
		check("second-parent-destroy", 0, "IOMMU_DESTROY failed");
	vmm_close(&m);
}

void test_wrong_order(void)
{
	struct vmm m;
	struct pins p0 = { 0 }, p1;
	struct iommu_destroy d = { .size = sizeof(d) };
	int r, e, rc;
	char s[256];

	if (!vmm_base(&m, 1))
		read_pins(&p0);
	if (!m.parent || vmm_nest(&m)) {
		check("wrong-order", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	d.id = m.viommu;
	r = ioctl(m.iommufd, IOMMU_DESTROY, &d);
	e = errno;
	if (r == 0)
		m.viommu = 0;
	rc = vmm_teardown_viommu(&m);
	read_pins(&p1);
	pins_str(&p1, s, sizeof(s));
	check("wrong-order", r < 0 && e == EBUSY && !rc && p1.pinned == p0.pinned,
	      "IOMMU_DESTROY of the vIOMMU with its vDEVICE and nested hwpt alive: %s (want EBUSY); then detach, nested hwpt, vdevice, vIOMMU: %s {%s}",
	      r < 0 ? errname(e) : "SUCCEEDED", rc ? "FAILED" : "ok", s);
	vmm_close(&m);
}

/*
 * unbind-first: the VMM closes the device (cdev and kvm-vfio: the device is
 * unbound from iommufd) and the VM while the vIOMMU lives. The vIOMMU holds
 * the VM's file: the VMID stays pinned until the vIOMMU is destroyed.
 */
void test_unbind_first(void)
{
	struct vmm m;
	struct pins p0 = { 0 }, p1, p2, p3;
	struct vsmmus vs;
	long v1, v2;
	int held, back, rc;
	char s1[256], s2[256];

	if (!vmm_base(&m, 1))
		read_pins(&p0);
	if (!m.parent || vmm_nest(&m)) {
		check("unbind-first", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	read_pins(&p1);
	close(m.dev);
	close(m.kvfio);
	m.dev = m.kvfio = -1;
	m.attached = 0;
	vm_close(&m.vm);
	read_pins(&p2);
	read_vsmmus(&vs);
	v1 = vs.n;
	held = !expect_kvm || (p1.pinned == p0.pinned + 1 && p2.pinned == p1.pinned && v1 >= 1);
	/* The vDEVICE and the attachment went with the device. */
	if (m.nested)
		destroy(&m, m.nested, "nested hwpt");
	m.nested = m.vdev = 0;
	rc = m.viommu ? destroy(&m, m.viommu, "viommu") : -1;
	m.viommu = 0;
	read_pins(&p3);
	read_vsmmus(&vs);
	v2 = vs.n;
	back = !expect_kvm || (p3.pinned == p0.pinned && v2 == v1 - 1);
	pins_str(&p2, s1, sizeof(s1));
	pins_str(&p3, s2, sizeof(s2));
	check("unbind-first", held && back && !rc,
	      "device fds and VM closed with the vIOMMU alive: {%s} vSMMUs %ld%s; vIOMMU destroy %s: {%s} vSMMUs %ld%s",
	      s1, v1, expect_kvm ? (held ? " VMID still pinned" : " VMID NOT pinned") : "",
	      rc ? "FAILED" : "ok", s2, v2,
	      expect_kvm ? (back ? " pin released" : " pin NOT released") : "");
	vmm_close(&m);
}

/* The child: a whole VMM, one DMA, then wait to be killed. */
void killed_child(int wfd)
{
	struct vmm m;
	char why[256];

	if (vmm_base(&m, 1) || vmm_nest(&m)) {
		say("killed-vmm child: setup failed\n");
		_exit(1);
	}
	if (dma_check(&m, PG(8), PG(9), 5, why, sizeof(why))) {
		say("killed-vmm child: %s\n", why);
		_exit(1);
	}
	if (write(wfd, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

void test_killed_vmm(void)
{
	struct snap before, during, after;
	struct pollfd pfd;
	char s0[512], s1[512], s2[512], c;
	int pfds[2], status, ready = 0, back = 0;
	double t0;
	pid_t pid;

	take_snap(&before);
	if (pipe(pfds)) {
		check("killed-vmm", 0, "pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		check("killed-vmm", 0, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(pfds[0]);
		killed_child(pfds[1]);
	}
	close(pfds[1]);
	pfd.fd = pfds[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 120000) == 1 && read(pfds[0], &c, 1) == 1)
		ready = 1;
	close(pfds[0]);
	take_snap(&during);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	t0 = now_s();
	do {
		take_snap(&after);
		if (snap_eq(&before, &after)) {
			back = 1;
			break;
		}
		usleep(50000);
	} while (now_s() - t0 < 3.0);
	snap_str(&before, s0, sizeof(s0));
	snap_str(&during, s1, sizeof(s1));
	snap_str(&after, s2, sizeof(s2));
	/* The child pins its VM's VMID (and a reserved one for its parent). */
	if (expect_kvm && ready &&
	    (during.pinned <= before.pinned || during.vsmmus != before.vsmmus + 1)) {
		check("killed-vmm", 0, "the child's vIOMMU is not seen: before {%s} during {%s}", s0,
		      s1);
		return;
	}
	check("killed-vmm", ready && back,
	      "child %s, SIGKILLed; before {%s} during {%s} after %.2fs {%s}",
	      ready ? "set up and did a DMA" : "FAILED to set up", s0, s1, now_s() - t0, s2);
}

/* Runs one VM once and closes it: it takes a VMID of the generation. */
static int stale_vm(void)
{
	struct vm t;

	if (vm_open(&t, 0, 0x10000) || vm_run(&t))
		return -1;
	vm_close(&t);
	vm_free_mem(&t);
	return 0;
}

/*
 * A VMID rollover outside vCPU context, with no VM alive: VMs run and go
 * (filling the generation with stale VMIDs), then VMIDs reserved from KVM
 * for no VM (ksv_reserve, as the SMMU does for a private stage 2 where
 * its VMIDs are as wide as KVM's; QEMU's 16-bit SMMU takes its private
 * VMIDs above an 8-bit KVM's instead) until a reservation rolls the
 * generation over. With kvm.enable_virt_at_load=0 on nVHE, EL2 is torn
 * down once the last VM is gone; the rollover must not call into it (the
 * boot check fails on any WARN).
 *
 * The 120 VMs must start a generation, whatever ran before (make soak
 * runs this in a loop): VMs run first until one rolls the generation
 * over (at most two 8-bit generations' worth).
 */
void test_reserve_rollover(void)
{
	struct pins p0, p1, p2;
	int vms = 0, pre = 0, r;

	read_pins(&p0);
	for (p1 = p0; pre < 512 && p1.rollovers == p0.rollovers; pre++) {
		if (stale_vm()) {
			check("reserve-rollover", 0, "VM %d before the generation's start failed", pre);
			return;
		}
		read_pins(&p1);
	}
	if (p1.rollovers == p0.rollovers) {
		check("reserve-rollover", 0, "%d VMs ran without a rollover: no generation to start from",
		      pre);
		return;
	}
	for (; vms < 120; vms++) {
		if (stale_vm()) {
			check("reserve-rollover", 0, "VM %d failed", vms);
			return;
		}
	}
	read_pins(&p0);
	r = system("insmod /lib/modules/ksv/test/ksv_reserve.ko nr=200");
	read_pins(&p1);
	check("reserve-rollover", !r && p1.rollovers > p0.rollovers,
	      "%d VMs (after %d that started a generation) ran and closed, then VMIDs reserved for no VM with no VM alive (insmod ksv_reserve nr=200: %d): rollovers %ld -> %ld, pinned %ld -> %ld",
	      vms, pre, r, p0.rollovers, p1.rollovers, p0.pinned, p1.pinned);
	r = system("rmmod ksv_reserve");
	read_pins(&p2);
	check("reserve-given-back", !r && p2.pinned == p0.pinned,
	      "rmmod ksv_reserve: %d, pinned %ld -> %ld (want %ld)", r, p1.pinned, p2.pinned,
	      p0.pinned);
}

/*
 * Check bad-vmid-refused: with a BTM module that gives every vSMMU VMID 7
 * (kunit/helpers/ksv_badbtm.c) on an SMMU with BTM, a vIOMMU for a device
 * bound with its VM still gets its parent's VMID and no BTM report: 7 is
 * not the VM's pinned VMID, and the driver checks that whatever the module
 * says. The module's counters show it was asked and given the VMID back.
 */
void test_bad_vmid(void)
{
	struct vmm m;
	uint32_t id = 0;
	int r, e, hw;

	if (vmm_base(&m, 1)) {
		check("bad-vmid-refused", 0, "setup failed");
		vmm_close(&m);
		return;
	}
	hw = hw_cap_btm(&m);
	r = viommu_alloc(&m, m.parent, &id);
	e = errno;
	check("bad-vmid-refused", r == 0 && hw == 1 && !m.viommu_btm,
	      "SMMU with BTM (IOMMU_GET_HW_INFO BTM_KVM_VMID %s), a module that offers VMID 7: IOMMU_VIOMMU_ALLOC %s%s, out_flags BTM %s (want clear: the parent's VMID)",
	      hw < 0 ? "unreadable" : hw ? "set" : "clear", r < 0 ? "failed: " : "succeeded",
	      r < 0 ? errname(e) : "", m.viommu_btm ? "SET" : "clear");
	if (id && destroy(&m, id, "viommu"))
		check("bad-vmid-destroy", 0, "IOMMU_DESTROY failed");
	vmm_close(&m);
}

/* The last lines of a run: the number of failed checks, DONE, the exit code. */
static int summary(void)
{
	say("summary: %d check(s) failed\n", failures);
	say("DONE\n");
	return failures ? 1 : 0;
}

void usage(void)
{
	say("usage: ksv-vsmmu --expect kvm|upstream [--rollovers N] [--btm yes|no] [--vm-file series|pristine]\n"
	    "       ksv-vsmmu --force-rollovers N [--mark]\n"
	    "       ksv-vsmmu --expect kvm|upstream --fail-nth | --fail-nth-insmod KO | --fail-nth-probe KO\n"
	    "       ksv-vsmmu --expect kvm|upstream --random SEED [--steps N] [--procs P]\n"
	    "       ksv-vsmmu --expect kvm --reserve-rollover [--migrate-faults N]\n"
	    "       ksv-vsmmu --expect upstream --vm-file series|pristine [--migrate-faults N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long refs0[2], refs1[2];
	int have = 0, same = 1, expect_set = 0, force = 0, fail_nth = 0, mark = 0;
	const char *insmod_ko = NULL, *probe_ko = NULL;
	unsigned long seed = 0;
	int random_run = 0, steps = 300, procs = 1, migrate_vms = 0;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "kvm"))
				expect_kvm = 1;
			else if (strcmp(argv[i], "upstream"))
				usage();
			expect_set = 1;
		} else if (!strcmp(argv[i], "--rollovers") && i + 1 < argc) {
			rollovers_wanted = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--mark")) {
			mark = 1;
		} else if (!strcmp(argv[i], "--force-rollovers") && i + 1 < argc) {
			/* Only N real rollovers, while another VMM runs (ci/realvmm/). */
			force = atoi(argv[++i]);
			expect_set = 1;
		} else if (!strcmp(argv[i], "--random") && i + 1 < argc) {
			seed = strtoul(argv[++i], NULL, 0);
			random_run = 1;
		} else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			steps = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--procs") && i + 1 < argc) {
			procs = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--fail-nth")) {
			fail_nth = 1;
		} else if (!strcmp(argv[i], "--fail-nth-insmod") && i + 1 < argc) {
			insmod_ko = argv[++i];
		} else if (!strcmp(argv[i], "--fail-nth-probe") && i + 1 < argc) {
			probe_ko = argv[++i];
		} else if (!strcmp(argv[i], "--bench")) {
			bench_only = 1;
		} else if (!strcmp(argv[i], "--btm") && i + 1 < argc) {
			i++;
			btm_expected = !strcmp(argv[i], "yes");
		} else if (!strcmp(argv[i], "--reserve-rollover")) {
			reserve_only = 1;
		} else if (!strcmp(argv[i], "--migrate-faults") && i + 1 < argc) {
			/* After the mode's checks: migrate.c, with N VMs a round. */
			migrate_vms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--bad-vmid")) {
			bad_vmid_only = 1;
		} else if (!strcmp(argv[i], "--vm-file") && i + 1 < argc) {
			/* Only the VM-file checks; "pristine": the unpatched kernel. */
			i++;
			vm_file_only = 1;
			vm_file_pristine = !strcmp(argv[i], "pristine");
		} else {
			usage();
		}
	}
	if (!expect_set)
		usage();
	if (insmod_ko) {
		test_fail_nth_insmod(insmod_ko);
		return summary();
	}
	if (probe_ko) {
		test_fail_nth_probe(probe_ko);
		return summary();
	}
	say("start: expect %s, rollovers %d\n", expect_kvm ? "kvm" : "upstream", rollovers_wanted);
	for (int i = 0; i < 2; i++)
		refs0[i] = refcnt(modnames[i]);
	say("modules: %s refcnt %ld, %s refcnt %ld (-1: not loaded)\n", modnames[0], refs0[0],
	    modnames[1], refs0[1]);

	kvm_fd = open("/dev/kvm", O_RDWR);
	if (kvm_fd < 0) {
		say("open /dev/kvm: %s\n", strerror(errno));
		check("setup", 0, "no /dev/kvm");
		say("DONE\n");
		return 1;
	}
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (force > 0) {
		char why[200];
		int r = force_rollovers(force, mark, why, sizeof(why));

		check("forced-rollovers", !r, "%s", why);
		say("DONE\n");
		return r ? 1 : 0;
	}
	if (edu_prepare()) {
		check("setup", 0, "no edu device bound to vfio-pci");
		say("DONE\n");
		return 1;
	}
	canwbs();
	if (random_run) {
		test_random(seed, steps, procs);
		return summary();
	}
	if (fail_nth) {
		test_fail_nth();
		return summary();
	}
	if (bench_only) {
		bench_btm();
		say("DONE\n");
		return 0;
	}
	if (vm_file_only) {
		test_vm_file();
		if (migrate_vms > 0)
			test_migrate_faults(migrate_vms);
		return summary();
	}
	if (bad_vmid_only) {
		test_bad_vmid();
		return summary();
	}
	if (reserve_only) {
		test_reserve_rollover();
		if (migrate_vms > 0)
			test_migrate_faults(migrate_vms);
		return summary();
	}

	/*
	 * A few VMs first: KVM hands out VMIDs from 1 up, and the SMMU's own
	 * VMIDs (upstream: an IDA) also start at 1; make the test VM's VMID
	 * differ from those so QEMU's trace tells them apart.
	 */
	for (int i = 0; i < 4; i++) {
		struct vm t;

		if (vm_open(&t, 0, 0x10000)) {
			check("setup", 0, "a warm-up VM failed");
			break;
		}
		vm_close(&t);
		vm_free_mem(&t);
	}

	test_main();
	test_btm();
	test_no_vm();
	test_viommu_flags();
	test_second_parent();
	test_wrong_order();
	test_unbind_first();
	test_vm_file();
	test_killed_vmm();

	for (int i = 0; i < 2; i++) {
		refs1[i] = refcnt(modnames[i]);
		have |= refs0[i] >= 0;
		same &= refs0[i] == refs1[i];
	}
	if (have)
		check("refs", same, "refcnt at start/end: %s %ld/%ld, %s %ld/%ld", modnames[0],
		      refs0[0], refs1[0], modnames[1], refs0[1], refs1[1]);
	else
		check("refs", 1, "skipped (modules not loaded)");
	say("summary: %d check(s) failed\n", failures);
	say("DONE\n");
	return failures ? 1 : 0;
}
