// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu: broadcast TLB maintenance, end to end. The guest owns a
 * stage 1 (s1.c) that the device uses through a nested vSTE; the guest's
 * vCPU moves a PTE and runs TLBI VAE1IS, and the device's next DMA must
 * follow it with no command-queue invalidation (--btm yes), or must not
 * (--btm no: the SMMU has no BTM, so the device keeps the stale entry).
 *
 * Checks: btm-report, dma-s1, then btm-guest-tlbi (VAE1IS), btm-other-vm,
 * btm-vale1is, btm-vaae1is, btm-vaale1is, btm-asid, btm-vmalle1is and
 * btm-after-rollovers, btm-ipas2 and btm-vmalls12 (KVM's own, on stage 2),
 * or no-btm-stale and no-btm-forwarded. Each shows
 * first that the SMMU's entry is cached (a DMA after a PTE move without
 * a TLBI lands in the old page, with no IOTLB fill), then the TLBI's effect.
 * Around each guest TLBI whose SMMU side the host checks in QEMU's trace:
 * "BTM-BEGIN <label> vmid=<N> asid=<A> va=<VA>" and "BTM-END <label>".
 */
#include <termios.h>

#include "ksv-vsmmu.h"

int btm_expected = -1;

/* The markers must reach the console before QEMU's trace lines that follow. */
static void marker(const char *fmt, ...)
{
	va_list ap;

	printf("KSV: e2e: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	usleep(50000);
}

enum { LANDED_ERR = -1, LANDED_NOWHERE, LANDED_OLD, LANDED_NEW };
static const char *const landed_str[] = { "neither page", "the old page", "the new page" };

/*
 * Where a DMA of a fresh pattern to S1_VA_DST lands. @vmid: the VMID the
 * SMMU's IOTLB fills must carry, or -2 if the DMA must hit the IOTLB.
 */
static int dma_lands(struct vmm *m, unsigned int seed, const char *label, int vmid)
{
	uint8_t *src = at(m, S1_SRC), *old = at(m, S1_OLD), *new = at(m, S1_NEW);
	int r, o, n;

	fill(src, seed);
	memset(old, 0xee, PAGE);
	memset(new, 0xee, PAGE);
	say("DMA-BEGIN %s expect-vmid=%s\n", label, vmid == -2 ? "cached" : expect_str(vmid));
	r = dma_copy(m, S1_VA_SRC, S1_VA_DST);
	say("DMA-END %s\n", label);
	if (r)
		return LANDED_ERR;
	o = !memcmp(old, src, PAGE);
	n = !memcmp(new, src, PAGE);
	return o == n ? LANDED_NOWHERE : o ? LANDED_OLD : LANDED_NEW;
}

static const char *where(int r)
{
	return r < 0 ? "nowhere (DMA failed)" : landed_str[r];
}

/* Real KVM rollovers: new VMs until the pin module counted @n more. */
/*
 * The serial of the forcer's next VM: counted on across its runs (a loop
 * of them, one at a time) in a file, so that no two of its VMs share one.
 */
#define FORCED_SERIALS "/tmp/ksv-forced-serial"
static unsigned int forced_serial(void)
{
	unsigned int s = 0;
	FILE *f = fopen(FORCED_SERIALS, "r+");

	if (!f)
		f = fopen(FORCED_SERIALS, "w+");
	if (!f)
		return 0x800000;
	if (fscanf(f, "%u", &s) != 1)
		s = 0;
	rewind(f);
	fprintf(f, "%u\n", s + 1);
	fclose(f);
	return 0x800000 | (s & 0x7fffff);
}

/*
 * Creates and closes VMs until KVM rolled its VMIDs over @n times; @mark:
 * each VM's vCPU also runs a TLBI marked with its serial (random.c), so
 * that QEMU's trace shows every VMID these VMs ran on next to the walks'.
 */
int force_rollovers(int n, int mark, char *why, size_t len)
{
	struct pins p;
	long r0;
	int vms = 0;
	double t0 = now_s();

	read_pins(&p);
	if (!p.present) {
		snprintf(why, len, "kvm_vmid_pin state absent");
		return -1;
	}
	r0 = p.rollovers;
	while (p.rollovers - r0 < n && vms < 5000) {
		struct vm t;

		if (vm_open(&t, 0, 0x10000)) {
			snprintf(why, len, "VM %d failed", vms);
			return -1;
		}
		if (mark && guest_tlbi_va(&t, tlbi_mark(forced_serial(), 0))) {
			snprintf(why, len, "VM %d: the marked TLBI failed", vms);
			return -1;
		}
		vm_close(&t);
		vm_free_mem(&t);
		if (++vms % 25 == 0)
			read_pins(&p);
	}
	read_pins(&p);
	snprintf(why, len, "%ld rollovers after %d VMs in %.1fs", p.rollovers - r0, vms,
		 now_s() - t0);
	return p.rollovers - r0 >= n ? 0 : -1;
}

/* The page S1_VA_DST does not map now. */
static uint64_t other_page(uint64_t page)
{
	return page == S1_OLD ? S1_NEW : S1_OLD;
}

static int landed(uint64_t page)
{
	return page == S1_OLD ? LANDED_OLD : LANDED_NEW;
}

/*
 * One broadcast scope, shown. First the precondition: the guest moves its
 * PTE from *@page to the other page without a TLBI, and the DMA still
 * lands in *@page with no IOTLB fill (the SMMU's entry is cached). Then
 * the guest runs @prog's TLBI alone, between markers whose window the
 * host checks in QEMU's trace, and the DMA lands, with BTM, in the other
 * page with a fill of @vmid; without BTM, in *@page again, from the IOTLB.
 * *@page becomes the page S1_VA_DST maps; 0 if both DMAs landed as wanted.
 */
static int scope(struct vmm *m, const char *label, const char *tlbi, enum s1_prog prog, int vmid,
		 uint64_t *page, unsigned int seed, char *why, size_t len)
{
	uint64_t to = other_page(*page);
	char cached[64];
	int c, r;

	snprintf(cached, sizeof(cached), "%s-cached", label);
	c = s1_guest(&m->vm, S1_SET_PTE, s1_pte(to)) ? LANDED_ERR :
						       dma_lands(m, seed, cached, -2);
	marker("BTM-BEGIN %s vmid=%d asid=%d va=%#llx\n", label, vmid, S1_ASID,
	       (unsigned long long)S1_VA_DST);
	r = s1_guest(&m->vm, prog, 0) ? LANDED_ERR :
					dma_lands(m, seed + 1, label, btm_expected ? vmid : -2);
	marker("BTM-END %s\n", label);
	snprintf(why, len,
		 "the guest moved its PTE to %s without a TLBI: the DMA landed in %s (want %s, cached); after its TLBI %s, DSB ISH in %s (want %s)",
		 landed_str[landed(to)], where(c), landed_str[landed(*page)], tlbi, where(r),
		 landed_str[landed(btm_expected ? to : *page)]);
	if (c != landed(*page) || r != landed(btm_expected ? to : *page))
		return -1;
	*page = to;
	return 0;
}

/* The scopes a guest runs on its own stage 1, after guest-tlbi (VAE1IS). */
static const struct {
	const char *check, *label, *tlbi;
	enum s1_prog prog;
} scopes[] = {
	{ "btm-vale1is", "vale1is", "VALE1IS", S1_TLBI_VAL },
	{ "btm-vaae1is", "vaae1is", "VAAE1IS (any ASID)", S1_TLBI_VAA },
	{ "btm-vaale1is", "vaale1is", "VAALE1IS (any ASID)", S1_TLBI_VAAL },
	{ "btm-asid", "asid", "ASIDE1IS", S1_TLBI_ASID },
	{ "btm-vmalle1is", "vmalle1is", "VMALLE1IS", S1_VMALL },
};

/*
 * A DMA S2_SRC -> S2_DST through stage 2 alone; 0 if the pattern arrived.
 * @why says what the DMA did, or why it failed.
 */
static int s2_dma(struct vmm *m, unsigned int seed, const char *label, int vmid, char *why,
		  size_t len)
{
	int r;

	say("DMA-BEGIN %s expect-vmid=%s\n", label, vmid == -2 ? "cached" : expect_str(vmid));
	r = dma_check(m, S2_SRC, S2_DST, seed, why, len);
	say("DMA-END %s\n", label);
	return r;
}

/*
 * KVM's own stage-2 broadcasts, under the VM's VMID. The device goes
 * through a bypass vSTE (stage 2 alone, IOVA = IPA), so the SMMU caches
 * stage-2 entries, which only the IPA and the VMID scopes remove (a
 * VMALLE1IS does not). Each is shown cached first (a DMA with no IOTLB
 * fill), then removed by what KVM does for the VMM: a page of the VM's
 * RAM unmapped (MADV_DONTNEED: IPAS2E1IS for the page the guest touched,
 * then VMALLE1IS), and dirty logging turned on for the memslot
 * (VMALLS12E1IS: no FEAT_TLBIRANGE on -cpu cortex-a57). The RAM is shared
 * memory, so the page keeps its data and stays what the IOAS maps: the
 * DMA lands as before, and only QEMU's trace, checked by the host, shows
 * the entry filled again.
 */
static void test_btm_s2(struct vmm *m, int vmid)
{
	struct kvm_userspace_memory_region slot = {
		.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES, .guest_phys_addr = RAM_IPA,
		.memory_size = RAM_SIZE, .userspace_addr = (uint64_t)m->vm.mem,
	};
	char w1[128], w2[128];
	int r, c;

	if (vmm_detach(m) || destroy(m, m->nested, "nested hwpt")) {
		check("btm-ipas2", 0, "detaching the stage-1 vSTE failed: %s", strerror(errno));
		return;
	}
	m->nested = 0;
	if (vmm_nested(m) || vmm_attach(m, m->nested)) {
		check("btm-ipas2", 0, "the bypass vSTE failed: %s", strerror(errno));
		return;
	}
	if (guest_load(&m->vm, S2_DST)) {
		check("btm-ipas2", 0, "the guest's load of IPA %#llx failed", (unsigned long long)S2_DST);
		return;
	}
	if (s2_dma(m, 40, "s2-first", vmid, w1, sizeof(w1))) {
		check("btm-ipas2", 0, "the first DMA through stage 2: %s", w1);
		return;
	}
	c = s2_dma(m, 41, "ipas2-cached", -2, w1, sizeof(w1));
	marker("BTM-BEGIN ipas2 vmid=%d asid=0 va=%#llx\n", vmid, (unsigned long long)S2_DST);
	if (madvise(at(m, S2_DST), PAGE, MADV_DONTNEED)) {
		r = -1;
		snprintf(w2, sizeof(w2), "madvise(MADV_DONTNEED) failed: %s", strerror(errno));
	} else {
		r = s2_dma(m, 42, "ipas2", vmid, w2, sizeof(w2));
	}
	marker("BTM-END ipas2\n");
	check("btm-ipas2", !c && !r,
	      "before: %s (cached, in the host's trace); the VMM unmapped the page from its memory (KVM: IPAS2E1IS); after: %s (filled again, in the host's trace)",
	      w1, w2);

	c = s2_dma(m, 43, "vmalls12-cached", -2, w1, sizeof(w1));
	marker("BTM-BEGIN vmalls12 vmid=%d asid=0 va=%#llx\n", vmid, (unsigned long long)S2_DST);
	if (IOC(m->vm.vm, KVM_SET_USER_MEMORY_REGION, &slot)) {
		r = -1;
		snprintf(w2, sizeof(w2), "KVM_SET_USER_MEMORY_REGION with dirty logging failed: %s",
			 strerror(errno));
	} else {
		r = s2_dma(m, 44, "vmalls12", vmid, w2, sizeof(w2));
	}
	marker("BTM-END vmalls12\n");
	check("btm-vmalls12", !c && !r,
	      "before: %s (cached, in the host's trace); the VMM turned on dirty logging for the memslot (KVM: VMALLS12E1IS); after: %s (filled again, in the host's trace)",
	      w1, w2);
}

/* One guest page invalidation's cost, in ns: instructions under -icount. */
static long long run_ns(struct vmm *m, enum s1_prog prog, int forward)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (s1_guest(&m->vm, prog, 0) || (forward && vmm_inv_va(m, S1_ASID, S1_VA_DST)))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/*
 * --bench (make bench, -icount shift=0: 1 ns is one instruction): one
 * guest page invalidation with BTM (the guest's TLBI VAE1IS and DSB ISH,
 * S1_LOOPS of them in a loop, against the same loop with NOPs: the
 * clock ticks at 16 ns) against what a VMM does for a trapped
 * CMD_TLBI_NH_VA without it (the exit, IOMMU_HWPT_INVALIDATE with one
 * command, the host's command queue and CMD_SYNC). Medians of 15 runs.
 * -icount counts a TLBI as one instruction: the loop shows only that the
 * guest side is what the NOPs cost, not what a TLBI costs on hardware.
 */
void bench_btm(void)
{
	enum { N = 15 };
	long long base[N], fwd[N], loop[N], nops[N];
	struct vmm m;

	if (vmm_base(&m, 1) || (s1_build(&m.vm), viommu_alloc(&m, m.parent, &m.viommu)) ||
	    vmm_vdev(&m) || vmm_nested_cd(&m, S1_CD) || vmm_attach(&m, m.nested) ||
	    bus_master(&m) || dma_lands(&m, 21, "bench", -1) != LANDED_OLD || !m.viommu_btm) {
		say("bench: setup failed (vIOMMU BTM %s)\n", m.viommu_btm ? "yes" : "no");
		goto out;
	}
	for (int i = 0; i < N; i++) {
		base[i] = run_ns(&m, S1_EXIT, 0);
		fwd[i] = run_ns(&m, S1_EXIT, 1);
		loop[i] = run_ns(&m, S1_TLBI_LOOP, 0);
		nops[i] = run_ns(&m, S1_NOP_LOOP, 0);
	}
	qsort(loop, N, sizeof(loop[0]), cmp_ll);
	qsort(nops, N, sizeof(nops[0]), cmp_ll);
	qsort(base, N, sizeof(base[0]), cmp_ll);
	qsort(fwd, N, sizeof(fwd[0]), cmp_ll);
	say("bench: guest run with an MMIO exit, no invalidation: %lld instructions\n", base[N / 2]);
	/* No ratio: -icount counts a TLBI as one instruction, as a NOP. */
	say("bench: %d invalidations with BTM in a guest loop: %lld instructions; the same loop with NOPs: %lld (-icount cannot see a TLBI's cost)\n",
	    S1_LOOPS, loop[N / 2] - base[N / 2], nops[N / 2] - base[N / 2]);
	say("bench: one page invalidation without BTM (trap exit + IOMMU_HWPT_INVALIDATE + CMD_SYNC): %lld instructions\n",
	    fwd[N / 2]);
out:
	vmm_teardown_viommu(&m);
	vmm_close(&m);
}

void test_btm(void)
{
	struct vmm m;
	struct vsmmus v0, v1;
	struct pins p;
	char why[256];
	int vmid = -1, nvs = 0, report, first, r, r1, r2, want;
	uint64_t page;

	if (btm_expected < 0)
		return;
	if (vmm_base(&m, 1)) {
		check("btm-report", 0, "VMM setup failed");
		goto out;
	}
	s1_build(&m.vm);
	read_vsmmus(&v0);
	if (viommu_alloc(&m, m.parent, &m.viommu)) {
		check("btm-report", 0, "IOMMU_VIOMMU_ALLOC failed: %s", strerror(errno));
		goto out;
	}
	read_vsmmus(&v1);
	if (v1.present)
		vmid = vsmmu_new(&v0, &v1, &nvs);
	/* The VMM relies on BTM only where the kernel reports it, per vIOMMU. */
	report = hw_cap_btm(&m);
	check("btm-report", report == btm_expected && m.viommu_btm == btm_expected,
	      "IOMMU_GET_HW_INFO flags BTM_KVM_VMID %s, IOMMU_VIOMMU_ALLOC out_flags BTM %s (want %s); vSMMU VMID %d",
	      report < 0 ? "unreadable" : report ? "set" : "clear", m.viommu_btm ? "set" : "clear",
	      btm_expected ? "both set" : "both clear", vmid);
	if (vmm_vdev(&m) || vmm_nested_cd(&m, S1_CD) || vmm_attach(&m, m.nested) || bus_master(&m)) {
		check("dma-s1", 0, "VMM setup after IOMMU_VIOMMU_ALLOC failed");
		goto out;
	}
	/* The device uses the old page; the SMMU's IOTLB caches the VA. */
	first = dma_lands(&m, 11, "s1-first", vmid);
	check("dma-s1", first == LANDED_OLD,
	      "DMA to VA %#llx through the guest's stage 1 (CD at IPA %#llx, ASID %#x) landed in %s",
	      (unsigned long long)S1_VA_DST, (unsigned long long)S1_CD, S1_ASID, where(first));
	if (first != LANDED_OLD)
		goto out;

	page = S1_OLD;
	r = scope(&m, "guest-tlbi", "VAE1IS", S1_TLBI_VA, vmid, &page, 12, why, sizeof(why));
	if (!btm_expected) {
		check("no-btm-stale", !r, "%s: the stale IOTLB entry, without BTM", why);
		/* What the VMM must do instead: forward the guest's command. */
		r = vmm_inv_va(&m, S1_ASID, S1_VA_DST) ? LANDED_ERR : dma_lands(&m, 17, "forwarded", vmid);
		check("no-btm-forwarded", r == LANDED_NEW,
		      "the VMM forwarded CMD_TLBI_NH_VA (ASID %#x, VA %#llx) with IOMMU_HWPT_INVALIDATE: the DMA landed in %s (want the new page)",
		      S1_ASID, (unsigned long long)S1_VA_DST, where(r));
		goto out;
	}
	check("btm-guest-tlbi", !r, "%s", why);
	if (r)
		goto out;

	/*
	 * Another VM's TLBIs, by the same ASID and VA and by its VMID, must
	 * leave this VM's entry cached: the guest moves its PTE without a
	 * TLBI, and the DMA stays in the page of the cached entry.
	 */
	{
		struct vm o;

		if (vm_open(&o, 0, 0x10000)) {
			check("btm-other-vm", 0, "the other VM failed");
			goto out;
		}
		r = s1_guest(&m.vm, S1_SET_PTE, s1_pte(other_page(page))) ? LANDED_ERR :
									     dma_lands(&m, 13, "other-vm-cached", -2);
		marker("BTM-BEGIN other-vm vmid=%d asid=%d va=%#llx\n", vmid, S1_ASID,
		       (unsigned long long)S1_VA_DST);
		r1 = s1_guest(&o, S1_TLBI_EACH, 0) ? LANDED_ERR : dma_lands(&m, 14, "other-vm", -2);
		marker("BTM-END other-vm\n");
		r2 = s1_guest(&m.vm, S1_TLBI_VA, 0) ? LANDED_ERR : dma_lands(&m, 15, "own-tlbi", vmid);
		vm_close(&o);
		vm_free_mem(&o);
		check("btm-other-vm", r == landed(page) && r1 == landed(page) && r2 == landed(other_page(page)),
		      "the guest moved its PTE to %s without a TLBI: the DMA landed in %s (want %s, cached); another VM ran TLBI VAE1IS, VALE1IS, VAAE1IS, VAALE1IS (the same ASID and VA), ASIDE1IS and VMALLE1IS: the DMA landed in %s (want %s, still cached); after the guest's own TLBI VAE1IS in %s (want %s)",
		      landed_str[landed(other_page(page))], where(r), landed_str[landed(page)], where(r1),
		      landed_str[landed(page)], where(r2), landed_str[landed(other_page(page))]);
		if (r2 != landed(other_page(page)))
			goto out;
		page = other_page(page);
	}

	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		r = scope(&m, scopes[i].label, scopes[i].tlbi, scopes[i].prog, vmid, &page, 20 + 2 * i, why,
			  sizeof(why));
		check(scopes[i].check, !r, "%s", why);
		if (r)
			goto out;
	}

	/*
	 * The same after real rollovers: the VM's VMID is pinned. Each
	 * rollover's TLBI ALLE1IS empties the IOTLB: the entry, cached before
	 * (no fill), is filled again after them.
	 */
	want = landed(page);
	first = dma_lands(&m, 30, "before-rollovers", -2);
	if (force_rollovers(3, 0, why, sizeof(why))) {
		check("btm-after-rollovers", 0, "%s", why);
		goto out;
	}
	r1 = dma_lands(&m, 31, "rollovers-refill", vmid);
	{
		char why2[256];

		r = scope(&m, "after-rollovers", "VAE1IS", S1_TLBI_VA, vmid, &page, 32, why2, sizeof(why2));
		read_pins(&p);
		check("btm-after-rollovers", first == want && r1 == want && !r && pins_has(&p, vmid),
		      "%s; VMID %d %s; the DMA landed in %s (cached) before them, in %s after them (refilled: the host checks the fill); %s",
		      why, vmid, pins_has(&p, vmid) ? "still pinned" : "NOT pinned", where(first), where(r1), why2);
	}
	test_btm_s2(&m, vmid);
out:
	vmm_teardown_viommu(&m);
	vmm_close(&m);
}
