#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check one QEMU boot log of the test initramfs.

Usage: check_boot.py KSRC LOG MODE EXPECT...

EXPECT is "section=suite[,suite...]" (a module whose KUnit suites must
all pass), "refused=section" (an insmod that must fail), "e2e=kvm" or
"e2e=upstream" (the end-to-end vSMMU test, ci/guest/vsmmu/, and the
VMIDs QEMU's SMMU tagged its IOTLB with), "e2e=vmfile" (its VM-file
checks alone, on the unpatched kernel), "btm=in-use" (under the test
override), "btm=emulated" (QEMU's SMMUv3 with IDR0.BTM, qemu/) or
"btm=upstream" (what smmu_v3_btm decided for QEMU's SMMUv3), and
"btm-e2e=yes|no" (in QEMU's trace, the guest's TLBIs of the guest-stage-1
test reach the SMMU's IOTLB, and no command-queue invalidation does), and
"realvmm=series|upstream" (Debian's QEMU 11.1 and a Linux guest,
ci/realvmm/, with our modules or without).
Prints one line per check and, last, "COUNTS <passed> <failed>".
"""
import os
import re
import subprocess
import sys

SPLATS = [
    r"\bWARNING: ", r"\bBUG: ", r"Internal error: Oops", r"Kernel panic",
    r"\bKASAN: ", r"\bUBSAN: ", r"possible (circular|recursive) locking",
    r"inconsistent lock state", r"INFO: lockdep", r"DEBUG_LOCKS_WARN_ON",
    r"suspicious RCU usage", r"sleeping function called from invalid context",
    r"Invalid wait context", r"rcu: INFO: rcu_.* stall",
]
OURS = ("kvm_vmid_pin", "smmu_v3_btm")
# QEMU's SMMU trace events that ci/qemu.sh enables. QEMU writes each as one
# whole line to stderr, the same file as the console, which it writes as
# the guest's UART sends it: a trace line can land inside a console line.
TRACE = re.compile(r"(?:smmu_iotlb_insert|smmu_iotlb_inv_vmid|smmu_iotlb_inv_all|smmuv3_range_inval|smmuv3_cmdq_tlbi_\w+"
                   r"|smmuv3_record_event|smmuv3_btm_inval)(?= |$)")


def demux(raw):
    """Split QEMU's trace lines out of the console lines they cut.

    "KSV: BEGIN bad" + trace line + "btm" becomes the trace line, then
    "KSV: BEGIN badbtm": each trace line keeps its place in the stream, and
    each console line is whole again, where it ends.
    """
    out, cut = [], ""
    for ln in raw:
        m = TRACE.search(ln)
        if m:
            cut += ln[:m.start()]
            out.append(ln[m.start():])
        else:
            out.append(cut + ln)
            cut = ""
    if cut:
        out.append(cut)
    return out


def main():
    ksrc, log, mode = sys.argv[1:4]
    expects = sys.argv[4:]
    lines = demux(open(log, errors="replace").read().splitlines())
    text = "\n".join(lines)
    ok = bad = 0

    def check(cond, what, detail=""):
        nonlocal ok, bad
        if cond:
            ok += 1
            print(f"  ok    {what}")
        else:
            bad += 1
            print(f"  FAIL  {what}{': ' + detail if detail else ''}")

    def section(name):
        # Our own lines, and the kernel log of the load replayed from dmesg
        # ("KSV-KMSG: "), which keeps its order unlike the console.
        # A printk may follow our marker on its console line.
        begin = re.compile(rf"KSV: BEGIN {re.escape(name)}(?![\w-])")
        end = re.compile(rf"KSV: END {re.escape(name)}(?![\w-])")
        out, inside = [], False
        for ln in lines:
            if begin.search(ln):
                inside = True
            elif end.search(ln):
                inside = False
            elif inside and "KSV-KMSG: " in ln:
                out.append(ln.split("KSV-KMSG: ", 1)[1])
            elif inside and "KSV: " in ln:
                out.append(ln)
        return out

    # The console may put kernel text right after it on the same line.
    check(any(re.search(r"KSV: DONE(\[|$)", l) for l in lines), "guest ran to the end",
          "no 'KSV: DONE' (crash or timeout)")
    # badmods: ksv_badpin makes KVM warn three times, on purpose (a pin
    # module that returns another index than the VMID's, or 0, or a pin it
    # does not record); those three are expected.
    expected_warn = r"WARNING: .*kvm_arm_vmid_pin\b"
    splat_lines = [l for l in lines
                   if not ("badmods=yes" in expects and re.search(expected_warn, l))]
    # Upstream's, shown by the same sweep on the unpatched kernel
    # (probesweep-pristine): when an allocation in the SMMUv3 driver's
    # first domain attach fails during the probe, iommu_setup_default_domain()
    # warns ("Drivers are not allowed to fail the first domain attach"), and
    # the unwinding then warns in arm_smmu_invs_unref().
    # Documentation/known-issues.md. Known only with the probe in the call
    # trace, in the probe's fault-injection boots, and no frame of ours.
    if any(e.startswith("failnth=probe") for e in expects):
        known_warn = [r"WARNING: drivers/iommu/iommu\.c:\d+ at iommu_setup_default_domain\+",
                      r"WARNING: drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3\.c:\d+ at arm_smmu_invs_unref\+"]
        kept, block, known = [], None, {}
        for ln in splat_lines:
            if block is None and "WARNING:" in ln:
                block = [ln]
                continue
            if block is not None:
                block.append(ln)
                if "---[ end trace" not in ln:
                    continue
                trace = "\n".join(block[next((i for i, l in enumerate(block) if "Call trace:" in l),
                                             len(block)):])
                k = [w for w in known_warn if re.search(w, block[0])]
                if k and "arm_smmu_device_probe+" in trace and not any(m in trace for m in OURS):
                    name = re.search(r" at (\w+)\+", block[0]).group(1)
                    known[name] = known.get(name, 0) + 1
                else:
                    kept.extend(block)
                block = None
                continue
            kept.append(ln)
        splat_lines = kept + (block or [])
        if known:
            print("        known upstream WARNs under fault injection in the probe: " +
                  ", ".join(f"{n} in {f}()" for f, n in sorted(known.items())))
    for pat in SPLATS:
        hits = [l for l in splat_lines if re.search(pat, l)]
        if hits:
            check(False, f"no kernel splat /{pat}/", hits[0].strip())
    if not any(re.search(p, l) for p in SPLATS for l in splat_lines):
        check(True, "no WARN/BUG/lockdep/KASAN splat")
    # kmemleak, scanned by ci/guest-init.sh after our modules are unloaded:
    # one report per "unreferenced object", with its backtrace. A frame in an
    # unloaded module has no symbol left ("0xffff..." or, on older kernels,
    # "[<ffff...>] 0xffff..."), so a leak by our modules looks like that, or
    # names them if they are still loaded. Such reports always fail; so does
    # any other one, unless KMEMLEAK_KNOWN (regexes on the report's frames)
    # lists it as a known kernel-internal boot leak. None is known: the test
    # boots (VHE and nVHE, two scans) report nothing.
    KMEMLEAK_KNOWN = []
    # Upstream's, shown on the unpatched kernel too (failnth-pristine):
    # under iommufd_fail_nth, iommu_fwspec_init() allocates dev->iommu and
    # then fails, and iommu_mock_device_add() (CONFIG_IOMMUFD_TEST only)
    # returns without freeing it. Documentation/known-issues.md.
    if any(e.startswith("failnth=") for e in expects):
        KMEMLEAK_KNOWN.append(r"iommu_fwspec_init\+.*\n(.*\n)?.*iommu_mock_device_add\+")
    raw_frame = re.compile(r"^(\[<[0-9a-f]+>\]\s+)?(0x)?[0-9a-f]{8,}$")
    reports, frames = [], None
    for ln in lines:
        if "KSV: kmemleak: " not in ln:
            continue
        body = ln.split("KSV: kmemleak: ", 1)[1].strip()
        if body.startswith("unreferenced object"):
            reports.append((body, []))
            frames = None
        elif body.startswith("backtrace") and reports:
            frames = reports[-1][1]
        elif frames is not None and body:
            frames.append(body)
    leaks = []
    for head, fr in reports:
        raw = [f for f in fr if raw_frame.match(f)]
        ours = [f for f in fr if any(m in f for m in OURS)]
        known = any(re.search(k, "\n".join(fr)) for k in KMEMLEAK_KNOWN)
        if raw or ours or not known:
            why = (f"frame without a symbol (unloaded module) {raw[0]}" if raw else
                   f"frame in our module {ours[0]}" if ours else "not a known kernel-internal leak")
            leaks.append(f"{head.rstrip(':')}: {why}; backtrace: {' < '.join(fr[:8])}")
    scanned = any(l.endswith("KSV: kmemleak scanned") for l in lines)
    check(not leaks, f"kmemleak: no leak ({len(reports)} reports, "
          f"{len(reports) - len(leaks)} known kernel-internal{'' if scanned else '; not scanned'})",
          f"{len(leaks)} leaks, first: {leaks[0]}" if leaks else "")

    def raw_lines(begin, end):
        # Every console line between the markers (regexes), QEMU's SMMU
        # trace among them, unlike section() which keeps our lines only.
        raw, inside = [], False
        for ln in lines:
            if re.search(begin, ln):
                inside = True
            elif re.search(end, ln):
                inside = False
            elif inside:
                raw.append(ln)
        return raw

    def e2e(expect):
        raw = raw_lines(r"KSV: BEGIN e2e(?![\w-])", r"KSV: END e2e(?![\w-])")
        check(any("KSV: e2e: DONE" in l for l in raw), f"e2e ({expect}): ran to the end",
              "\n".join(raw[-5:]))
        for ln in raw:
            m = re.search(r"KSV: e2e: CHECK (\S+) (ok|FAIL)(.*)", ln)
            if m:
                check(m.group(2) == "ok", f"e2e ({expect}): {m.group(1)}{m.group(3)}", m.group(3))
        # A check that never printed would pass unseen: these must be there.
        ran = {m.group(1) for m in (re.search(r"KSV: e2e: CHECK (\S+) ", l) for l in raw) if m}
        want = {"vmfile": ["vmfd-close-device", "vmfd-close-viommu", "migrate-faults", "migrate-faults-held"],
                "reserve": ["reserve-rollover", "reserve-given-back", "migrate-faults", "migrate-faults-held"],
                "kvm": ["vmid", "no-vm", "viommu-no-btm", "viommu-out-flags-in", "second-parent", "parent-vmid",
                        "vmfd-close-device", "vmfd-close-viommu", "vmfd-viommu-alloc-fails", "killed-vmm", "refs"],
                "upstream": ["vmid", "no-vm", "viommu-no-btm", "viommu-out-flags-in", "second-parent", "parent-vmid",
                             "vmfd-close-device", "vmfd-close-viommu", "vmfd-viommu-alloc-fails", "killed-vmm"],
                }.get(expect, [])
        missing = [n for n in want if n not in ran]
        if want:
            check(not missing, f"e2e ({expect}): the checks {', '.join(want)} ran", f"missing {missing}")
        # Every IOTLB fill during a marked DMA carries the expected VMID:
        # the STE's S2VMID, read by QEMU from the real stream table.
        dma, label, want, seen = 0, None, None, []
        for ln in raw:
            m = re.search(r"KSV: e2e: DMA-BEGIN (\S+) expect-vmid=(\S+)", ln)
            if m:
                label, want, seen = m.group(1), m.group(2), []
                continue
            if label is None:
                continue
            m = re.search(r"smmu_iotlb_insert.*\bvmid=(\d+)", ln)
            if m:
                seen.append(int(m.group(1)))
            elif re.search(rf"KSV: e2e: DMA-END {re.escape(label)}\b", ln):
                dma += 1
                vm = sorted(set(seen))
                if want == "cached":
                    # The DMA must hit the IOTLB entry that survived: no fill.
                    check(vm == [], f"e2e ({expect}): DMA {label}: served from the IOTLB (no fill)",
                          f"fills with vmids {vm}")
                elif want == "upstream":
                    # Upstream: the nest parent's IDA VMID, 1 (first S2 domain).
                    check(vm == [1], f"e2e ({expect}): DMA {label}: IOTLB tagged with the parent's VMID 1",
                          f"vmids {vm}")
                else:
                    check(vm == [int(want)], f"e2e ({expect}): DMA {label}: IOTLB tagged with VMID {want}",
                          f"vmids {vm}")
                label = None
        if expect not in ("reserve", "vmfile"):
            check(dma > 0, f"e2e ({expect}): DMAs checked against QEMU's SMMU trace: {dma}")
        # A CHECK line cut by a trace line would vanish: the program's own
        # count of failures and its exit code must agree that none failed.
        summ = [m.group(1) for m in (re.search(r"KSV: e2e: summary: (\d+) check\(s\) failed", l)
                                     for l in raw) if m]
        check(summ == ["0"], f"e2e ({expect}): the VMM's summary: 0 checks failed", f"summaries {summ}")
        codes = [m.group(1) for m in (re.search(r"KSV: ksv-vsmmu exit (\d+)", l) for l in lines) if m]
        check(codes == ["0"], f"e2e ({expect}): the VMM exited 0", f"exit codes {codes}")

    def btm_e2e(want):
        # The guest-stage-1 BTM checks (ci/guest/vsmmu/btm.c) must all have
        # printed: one that never ran would otherwise pass unseen.
        ran = {m.group(1) for m in (re.search(r"KSV: e2e: CHECK (\S+) ", l) for l in lines) if m}
        must = (["btm-report", "dma-s1", "btm-guest-tlbi", "btm-other-vm", "btm-vale1is", "btm-vaae1is",
                 "btm-vaale1is", "btm-asid", "btm-vmalle1is", "btm-after-rollovers", "btm-ipas2", "btm-vmalls12"]
                if want == "yes" else ["btm-report", "dma-s1", "no-btm-stale", "no-btm-forwarded"])
        missing = [n for n in must if n not in ran]
        check(not missing, f"e2e BTM: the checks {', '.join(must)} ran", f"missing {missing}")
        # The windows around the guest's TLBIs and what QEMU's SMMU traced
        # in them.
        windows, cur = [], None
        for ln in lines:
            m = re.search(r"KSV: e2e: BTM-BEGIN (\S+) vmid=(-?\d+) asid=(\d+) va=(0x[0-9a-f]+)", ln)
            if m:
                cur = dict(label=m.group(1), vmid=m.group(2), asid=m.group(3), va=m.group(4), btm=[], cmdq=[])
                continue
            if cur is None:
                continue
            if re.search(rf"KSV: e2e: BTM-END {re.escape(cur['label'])}\b", ln):
                windows.append(cur)
                cur = None
                continue
            m = re.search(r"smmuv3_btm_inval op=(\S+) vmid=(-?\d+) asid=(-?\d+) addr=(0x[0-9a-f]+)", ln)
            if m:
                cur["btm"].append(m.groups())
            elif re.search(r"smmuv3_(cmdq_tlbi|range_inval)", ln):
                cur["cmdq"].append(ln.strip())
            elif re.search(r"^smmu_iotlb_inv_all\b", ln):
                # Unless the next line is a fill: QEMU empties a full IOTLB
                # (SMMU_IOTLB_MAX_SIZE) before it inserts.
                cur["all"] = cur.get("all", 0) + 1
                cur["all_last"] = True
                continue
            if cur.get("all_last") and re.search(r"^smmu_iotlb_insert\b", ln):
                cur["all"] -= 1
            cur["all_last"] = False
        labels = [w["label"] for w in windows]
        # Each scope's window: the broadcasts of the VM's VMID that its TLBI
        # must make, and no other: (op, ASID: the VM's, or -1 for any, VA
        # compared). KVM's own, on stage 2: an unmapped page is IPAS2E1IS
        # then VMALLE1IS; dirty logging without FEAT_TLBIRANGE VMALLS12E1IS.
        guest_va, any_va = [("va", True, True)], [("va", False, True)]
        scopes = {"guest-tlbi": guest_va, "vale1is": guest_va, "vaae1is": any_va, "vaale1is": any_va,
                  "asid": [("asid", True, False)], "vmalle1is": [("vmall-s1", False, False)],
                  "after-rollovers": guest_va,
                  "ipas2": [("ipa", False, True), ("vmall-s1", False, False)],
                  "vmalls12": [("vmall-s12", False, False)]}
        stage2 = ("ipas2", "vmalls12")
        want_labels = (["guest-tlbi", "other-vm", "vale1is", "vaae1is", "vaale1is", "asid", "vmalle1is",
                        "after-rollovers", "ipas2", "vmalls12"] if want == "yes" else ["guest-tlbi"])
        check(labels == want_labels, f"e2e BTM: guest TLBI windows {want_labels}", str(labels))
        for w in windows:
            v, a = w["vmid"], w["asid"]
            mine = [b for b in w["btm"] if b[1] == v]
            key = rf"\b(vmid={v})\b" if w["label"] in stage2 else rf"\b(vmid={v}|asid={a})\b"
            for_it = [c for c in w["cmdq"] if re.search(key, c)]
            # The whole IOTLB emptied (smmu_iotlb_inv_all) is no scope's.
            for_it += ["smmu_iotlb_inv_all"] * w.get("all", 0)
            if w["label"] == "other-vm":
                # VAE1IS, VALE1IS, VAAE1IS, VAALE1IS, ASIDE1IS, VMALLE1IS.
                other = [b for b in w["btm"] if b[1] != v]
                ops = sorted(b[0] for b in other)
                vmids = sorted({b[1] for b in other})
                check(ops == ["asid", "va", "va", "va", "va", "vmall-s1"] and len(vmids) == 1 and
                      not mine and not for_it,
                      f"e2e BTM other-vm: another VM's 6 TLBIs reached the SMMU with its VMID "
                      f"({vmids[0] if len(vmids) == 1 else '?'}), none of VMID {v} did, no command for it",
                      f"other {other}, VMID {v}'s {mine}, commands {for_it}")
                continue
            if want != "yes":
                check(not w["btm"] and not for_it,
                      f"e2e no BTM {w['label']}: neither a broadcast nor a command-queue invalidation "
                      f"for ASID {a} reached the SMMU",
                      f"broadcasts {w['btm']}; commands {for_it}")
                continue
            exp = scopes.get(w["label"], [("?", True, True)])
            ok = len(mine) == len(exp) and all(
                b[0] == op and b[2] == (a if by_asid else "-1") and (not by_va or int(b[3], 16) == int(w["va"], 16))
                for b, (op, by_asid, by_va) in zip(mine, exp))
            what = ", then ".join(f"op={op} vmid={v} asid={a if by_asid else -1}{' va=' + w['va'] if by_va else ''}"
                                  for op, by_asid, by_va in exp)
            by = "KVM's" if w["label"] in stage2 else "the guest's"
            check(ok and not for_it,
                  f"e2e BTM {w['label']}: QEMU's SMMU got {by} TLBIs as these broadcasts ({what}), no other of "
                  f"VMID {v}, and no command-queue invalidation for it ({len(w['cmdq'])} commands in the window)",
                  f"broadcasts of VMID {v}: {mine}; commands for it: {for_it}")

    def ran_checks(src, pat, what):
        # One check per "CHECK <name> ok|FAIL <rest>" line of src that pat
        # (groups: name, ok|FAIL, rest) finds; what(m) words it. Returns the
        # names.
        ran = set()
        for ln in src:
            m = re.search(pat, ln)
            if m:
                ran.add(m.group(1))
                check(m.group(2) == "ok", what(m))
        return ran

    def realvmm(kind):
        # Debian's QEMU 11.1 with a Linux guest (ci/realvmm/host.sh): its
        # checks, and QEMU's SMMU trace in the windows it marked.
        raw = raw_lines(r"KSV: real-vmm: BEGIN ", r"KSV: real-vmm: END ")
        check(any(re.search(r"KSV: real-vmm: END ", l) for l in lines), f"real VMM ({kind}): ran to the end")
        ran = ran_checks(raw, r"KSV: real-vmm: CHECK (\S+) (ok|FAIL)(.*)",
                         lambda m: f"real VMM ({kind}): {m.group(1)}{m.group(3)}")
        want = ["real-vmm-probe", "real-vmm-vmid", "real-vmm-dma-read-all", "real-vmm-dma-write-read",
                "real-vmm-quit"]
        if kind == "series":
            want += ["real-vmm-dma-after-rollovers", "real-vmm-rollovers", "real-vmm-kill"]
        missing = [n for n in want if n not in ran]
        check(not missing, f"real VMM ({kind}): the checks {', '.join(want)} ran", f"missing {missing}")
        summ = [m.group(1) for m in (re.search(r"KSV: real-vmm: summary: (\d+) check", l) for l in raw) if m]
        check(summ == ["0"], f"real VMM ({kind}): the script's summary: 0 checks failed", f"summaries {summ}")
        # Each QEMU run: the IOTLB fills of the guest's I/O, the invalidations
        # its unmaps sent, and (series) the guest CPU's broadcast TLBIs.
        runs, cur, win = [], None, None
        for ln in raw:
            m = re.search(r"KSV: real-vmm: RUN-BEGIN (\S+)", ln)
            if m:
                cur = dict(label=m.group(1), fills=[], inval=[], btm={}, windows=[], qinv={})
                continue
            if cur is None:
                continue
            m = re.search(r"KSV: real-vmm: DMA-BEGIN (\S+) expect-vmid=(\S+)", ln)
            if m:
                win = dict(label=m.group(1), want=m.group(2), fills=[], inval=[])
                continue
            m = re.search(r"KSV: real-vmm: INVALIDATIONS (\S+) (\d+)", ln)
            if m:
                cur["qinv"][m.group(1)] = int(m.group(2))
            if win and re.search(rf"KSV: real-vmm: DMA-END {re.escape(win['label'])}\b", ln):
                cur["windows"].append(win)
                win = None
            m = re.search(r"smmu_iotlb_insert IOTLB \+\+ asid=(-?\d+) vmid=(\d+) addr=(0x[0-9a-f]+)", ln)
            if m:
                f = (int(m.group(1)), int(m.group(2)), int(m.group(3), 16))
                cur["fills"].append(f)
                if win:
                    win["fills"].append(f)
            m = re.search(r"smmuv3_range_inval vmid=(-?\d+) asid=(-?\d+) addr=(0x[0-9a-f]+) .*stage=1", ln)
            if m and win:
                win["inval"].append((int(m.group(2)), int(m.group(1)), int(m.group(3), 16)))
            m = re.search(r"smmuv3_btm_inval op=\S+ vmid=(-?\d+)", ln)
            if m:
                cur["btm"][int(m.group(1))] = cur["btm"].get(int(m.group(1)), 0) + 1
            if re.search(r"KSV: real-vmm: RUN-END ", ln):
                runs.append(cur)
                cur = None
        want_runs = ["quit", "kill"] if kind == "series" else ["quit"]
        check([r["label"] for r in runs] == want_runs, f"real VMM ({kind}): QEMU runs {want_runs}",
              str([r["label"] for r in runs]))
        for r in runs:
            wins = r["windows"]
            fills = [f for w in wins for f in w["fills"]]
            vmids = sorted({f[1] for f in fills})
            # asid -1: stage 2 alone, QEMU's cache of the stage-1 table
            # walk's IPAs; every other fill must be the guest's one ASID.
            asids = sorted({f[0] for f in fills if f[0] >= 0})
            walk = sum(1 for f in fills if f[0] < 0)
            want = sorted({w["want"] for w in wins})
            if kind == "series":
                ok = fills and len(want) == 1 and vmids == [int(want[0])] if want and want[0].isdigit() else False
                what = f"VMID {want[0] if want else '?'} (the VM's pinned one)"
            else:
                ok = fills and len(vmids) == 1
                what = "one VMID (the nest parent's)"
            check(ok and len(asids) == 1 and asids[0] >= 0,
                  f"real VMM ({kind}) {r['label']}: the {len(fills)} IOTLB fills of the guest's I/O are nested: "
                  f"the guest's ASID {asids} ({walk} of them stage 2 alone: the table walk) and {what}, {vmids}",
                  f"vmids {vmids}, asids {asids}, windows {[w['label'] for w in wins]}")
            if not fills:
                continue
            if not asids:
                continue
            asid, vmid = asids[0], vmids[0]
            used = {f[2] for f in r["fills"]}
            for w in wins:
                inv = w["inval"]
                mine = [i for i in inv if i[0] == asid and i[1] == vmid]
                q = r["qinv"].get(w["label"], 0)
                check(q > 0 and mine and len(mine) == len(inv) and all(i[2] in used for i in mine),
                      f"real VMM ({kind}) {r['label']} {w['label']}: the guest's unmaps reached the SMMU through "
                      f"QEMU's IOMMU_HWPT_INVALIDATE ({q} calls) as {len(mine)} invalidations of ASID {asid} "
                      f"VMID {vmid}, each of an IOVA the device used",
                      f"QEMU calls {q}, invalidations {inv[:5]}")
            if kind == "series":
                n = r["btm"].get(vmid, 0)
                check(n > 0, f"real VMM ({kind}) {r['label']}: the guest's own CPU TLBIs reached the SMMU as "
                      f"broadcasts with VMID {vmid} (BTM): {n}")

    def failnth(kind):
        # ci/guest/vsmmu/failnth.c and upstream's iommufd_fail_nth.
        sec = section("failnth")
        ran = ran_checks(sec, r"KSV: e2e: CHECK (failnth-\S+) (ok|FAIL) (.*)",
                         lambda m: f"fault injection ({kind}): {m.group(1)}: {m.group(3)}")
        want = ["failnth-bind", "failnth-parent", "failnth-viommu", "failnth-vdevice", "failnth-nested"]
        if kind == "series":
            want = ["failnth-insmod-kvm_vmid_pin", "failnth-insmod-smmu_v3_btm"] + want
        if kind.startswith("probe"):
            want = ["failnth-probe"]
        missing = [n for n in want if n not in ran]
        check(not missing, f"fault injection ({kind}): the sweeps {', '.join(want)} ran", f"missing {missing}")
        codes = [m.group(1) for m in (re.search(r"KSV: ksv-vsmmu exit (\d+)", l) for l in sec) if m]
        check(codes == ["0"], f"fault injection ({kind}): the sweep exited 0", f"exit codes {codes}")
        body = "\n".join(sec)
        if kind.startswith("probe"):
            t = re.search(r"the probe's sweep took (\d+) s", body)
            if t:
                print(f"        the probe's sweep took {t.group(1)} s")
            if kind == "probe":
                check(re.search(r"smmu_v3_btm/state:   cr2_ptm: cleared", body) is not None,
                      "fault injection (probe): at the end the SMMU is probed with BTM (CR2.PTM cleared)")
            return
        m = re.search(r"# Totals: pass:(\d+) fail:(\d+) xfail:\d+ xpass:\d+ skip:(\d+) error:(\d+)", body)
        t = re.search(r"iommufd_fail_nth took (\d+) s", body)
        took = f" in {t.group(1)} s" if t else ""
        check(m is not None and m.group(2) == "0" and m.group(4) == "0",
              f"iommufd_fail_nth ({kind}): pass {m.group(1) if m else '?'} fail {m.group(2) if m else '?'} "
              f"skip {m.group(3) if m else '?'}{took}",
              " ".join(re.findall(r"not ok \d+ (\S+)", body)) or body[-300:])

    def tlbi_marks():
        # random.c's step "run": a vCPU's TLBI VAE1IS whose operand names its
        # VM (a serial) and the VMID it must carry (its pin, or 0), in QEMU's
        # trace of the broadcasts (KSV_TRACE=btm, a file of its own). TLBI
        # ALLE1IS (op=all: KVM's flush at a rollover) starts a generation;
        # within one, a VMID is one VM's and a VM has one VMID.
        path = re.sub(r"boot-([^/]*)\.log$", r"trace-\1.log", log)
        if not os.path.exists(path):
            check(False, "random: QEMU's trace of the broadcast TLBIs", f"no {path}")
            return
        marks = pinned = gens = 0
        owner, vmid_of, vms, bad = {}, {}, set(), []
        with open(path, errors="replace") as f:
            for ln in f:
                m = re.search(r"smmuv3_btm_inval op=(\S+) vmid=(-?\d+) asid=(-?\d+) addr=0x([0-9a-f]+)", ln)
                if not m:
                    continue
                op, vmid, asid, page = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4), 16) >> 12
                if op == "all":
                    gens += 1
                    owner.clear()
                    vmid_of.clear()
                    continue
                if op != "va" or asid != 0x5a or (page >> 40) & 0xf != 5:
                    continue
                serial, want = (page >> 16) & 0xffffff, page & 0xffff
                marks += 1
                vms.add(serial)
                if want:
                    pinned += 1
                    if vmid != want:
                        bad.append(f"VM {serial}: pinned VMID {want}, its vCPU ran on {vmid}")
                if owner.get(vmid, serial) != serial:
                    bad.append(f"VMID {vmid}: VMs {owner[vmid]} and {serial} in one generation")
                if vmid_of.get(serial, vmid) != vmid:
                    bad.append(f"VM {serial}: VMIDs {vmid_of[serial]} and {vmid} in one generation")
                owner[vmid], vmid_of[serial] = serial, vmid
        check(marks > 0 and pinned > 0 and not bad,
              f"random: QEMU's trace: {marks} marked guest TLBIs of {len(vms)} VMs ({pinned} on a pinned VMID), "
              f"{gens} TLBI ALLE1IS: every pinned VM's vCPU on its pinned VMID, no VMID shared or changed "
              f"between two ALLE1IS",
              f"{len(bad)} wrong: {bad[:5]}")

    def random_runs(n):
        # ci/guest/vsmmu/random.c: one run per seed, each must pass; with
        # several VMM processes, each process's run too.
        sec = section("random")
        runs = ran_checks(sec, r"KSV: e2e: CHECK (random-\d+(?:/(?:\d+|steady))?) (ok|FAIL) (.*)",
                          lambda m: f"random uapi sequence {m.group(1)}: {m.group(3)}")
        runs = [r for r in runs if "/" not in r]
        tlbi_marks()
        rep = [l.split("repeat: ", 1)[1] for l in sec if "repeat: " in l]
        if rep:
            print(f"        repeat a failing seed: {rep[0]}")
        check(len(runs) == int(n), f"random uapi sequences: {n} seeds ran", f"{len(runs)} ran")
        codes = [m.group(1) for m in (re.search(r"KSV: ksv-vsmmu exit (\d+)", l) for l in sec) if m]
        check(codes == ["0"] * int(n), "random uapi sequences: every run exited 0", f"exit codes {codes}")
        m = [l for l in sec if re.search(r"KSV: random: \d+ s, \d+ KVM rollovers", l)]
        if m:
            print(f"        {m[0].split('KSV: ', 1)[1]}")
        after = "\n".join(sec)
        check(re.search(r"kvm_vmid_pin/state: pinned: 0\b", after) is not None and
              re.search(r"smmu_v3_btm/state: vsmmu_fallbacks: \d+", after) is not None and
              not re.search(r"smmu_v3_btm/state:   vsmmu ", after),
              "random uapi sequences: nothing pinned and no vSMMU record left at the end")

    for exp in expects:
        kind, _, arg = exp.partition("=")
        if kind == "e2e":
            e2e(arg)
            continue
        if kind == "btm-e2e":
            btm_e2e(arg)
            continue
        if kind == "realvmm":
            realvmm(arg)
            continue
        if kind == "failnth":
            failnth(arg)
            continue
        if kind == "random":
            random_runs(arg)
            continue
        if kind == "reserve-loop":
            # ci/guest-init.sh reserve-loop: the reserve test, looped.
            sec = section("reserve-loop")
            m = [x for x in (re.search(r"KSV: (reserve-loop: (\d+) runs .*, (\d+) failed, \d+ WARNs)", l)
                             for l in sec) if x]
            check(bool(m) and int(m[0].group(2)) > 0 and m[0].group(3) == "0",
                  f"reserve test looped: {m[0].group(1) if m else 'no summary'}")
            continue
        if kind == "badmods":
            # Modules that answer wrongly (kunit/helpers/ksv_bad*.c): C
            # enforces what must hold whatever they say.
            sec = "\n".join(section("badmods"))
            check("KSV: rmmod ksv_badbtm ok" in sec,
                  "the SMMU holds no BTM module that asked for BTM on an SMMU without IDR0.BTM",
                  "\n".join(l for l in sec.splitlines() if "ksv_badbtm" in l)[-300:])
            m = re.search(r"ksv_badbtm: use_btm (\d+), vmid_get (\d+), vmid_put (\d+), remove (\d+); "
                          r"CR2 (\S+) \(PTM (\w+)\)", sec)
            check(m is not None and int(m.group(1)) >= 1 and m.group(6) == "set",
                  "a BTM module that always asks for BTM: CR2.PTM stays set on an SMMU without IDR0.BTM",
                  m.group(0) if m else "no ksv_badbtm line")
            check(m is not None and m.group(2) == "0",
                  "the driver never asks a BTM module for a VMID on an SMMU without BTM",
                  m.group(0) if m else "no ksv_badbtm line")
            for name in ("wrong-index", "index-zero", "unrecorded", "right-index", "unpinned", "hold",
                         "unregister"):
                c = re.search(rf"ksv_badpin: CHECK {name} (ok|FAIL)(.*)", sec)
                check(c is not None and c.group(1) == "ok",
                      f"KVM with a pin module that answers wrongly: {name}{c.group(2) if c else ''}",
                      c.group(0) if c else "not printed")
            # On the console; the dmesg replay ("KSV-KMSG: ") repeats them.
            warns = [l for l in lines if re.search(expected_warn, l) and "KSV-KMSG: " not in l]
            check(len(warns) == 3, "KVM warned once per refused pin (3)", f"{len(warns)} warnings")
            continue
        if kind == "badbtm":
            # The BTM module that answers wrongly, on an SMMU with BTM.
            sec = "\n".join(section("badbtm"))
            c = re.search(r"KSV: e2e: CHECK bad-vmid-refused (ok|FAIL)(.*)", sec)
            check(c is not None and c.group(1) == "ok",
                  f"a vSMMU refuses a module's VMID that is not its VM's pinned one{c.group(2) if c else ''}",
                  c.group(0) if c else "not printed")
            calls = dict(re.findall(r"KSV: ksv_badbtm (\w+) calls: (\d+)", sec))
            check(calls.get("use_btm", "0") != "0" and calls.get("vmid_get", "0") != "0" and
                  calls.get("vmid_get") == calls.get("vmid_put"),
                  "the module was asked at reset and for the vSMMU, and got every VMID back", str(calls))
            check("not its VM's pinned one" in sec, "the driver says why, once", sec[-300:])
            m = re.search(r"ksv_badbtm unregistering while held: (-?\d+)", sec)
            check(m is not None and m.group(1) == "-16",
                  "unregistering BTM ops while the SMMU holds their module: -EBUSY",
                  m.group(0) if m else "not printed")
            continue
        if kind == "btm":
            used = re.findall(r"smmu_v3_btm/state:   cr2_ptm: (\S+)", text)
            over = "TEST OVERRIDE" in text
            if "KSV: BEGIN arm-smmu-v3-test" in text:
                m = re.search(r"KSV: kvm_vmid_pin pins taken by the SMMU probe: (-?\d+)", text)
                check(m is not None and m.group(1) == "0",
                      "the SMMU probe asks about pinning without taking a VMID",
                      m.group(0) if m else "not shown")
            if arg == "emulated":
                idr0 = [int(x, 16) for x in re.findall(r"smmu_v3_btm/state:   idr0: (0x[0-9a-f]+)", text)]
                check(not over and used and all(u == "cleared" for u in used) and idr0 and
                      all(i & (1 << 5) for i in idr0),
                      "QEMU SMMUv3 with IDR0.BTM (btm=on, no override): BTM in use (CR2.PTM cleared)",
                      f"cr2 {used}, idr0 {[hex(i) for i in idr0]}, override {over}")
                for mod in ("smmu_v3_btm", "kvm_vmid_pin"):
                    check(f"KSV: rmmod {mod} refused while an SMMU runs with BTM" in text,
                          f"rmmod {mod} refused while an SMMU runs with BTM")
            elif arg == "in-use":
                check(over and used and all(u == "cleared" for u in used),
                      "QEMU SMMUv3 under the TEST OVERRIDE: BTM in use (CR2.PTM cleared)", str(used))
                for mod in ("smmu_v3_btm", "kvm_vmid_pin"):
                    check(f"KSV: rmmod {mod} refused while an SMMU runs with BTM" in text,
                          f"rmmod {mod} refused while an SMMU runs with BTM")
            else:
                check(not over and used and all(u == "set" for u in used),
                      "QEMU SMMUv3 (no BTM): upstream behaviour, CR2.PTM set", str(used))
            continue
        if kind == "selftest":
            # Upstream iommufd selftests: failures must all be environmental
            # (they fail on unpatched 7.3 under TCG too) and at least as many
            # must pass as on unpatched 7.3 with 64 hugepages (233 on QEMU
            # 7.2 and 10.0, test-environment notes).
            body = "\n".join(section("iommufd-selftest"))
            m = re.search(r"# Totals: pass:(\d+) fail:(\d+) xfail:\d+ xpass:\d+ skip:(\d+) error:(\d+)", body)
            if not m:
                check(False, "iommufd selftest ran", body[-300:])
                continue
            p, f, sk, e = map(int, m.groups())
            env = re.compile(r"dmabuf_|hugepage|_huge|dirty128M|access_domain_destory")
            fails = re.findall(r"not ok \d+ (\S+)", body)
            unexpected = [t for t in fails if not env.search(t)]
            check(not unexpected and e == 0, f"iommufd selftest: no unexpected failure", " ".join(unexpected))
            check(p >= int(arg), f"iommufd selftest: pass {p} fail {f} skip {sk} (unpatched 7.3: pass {arg})")
            check(all(f"rmmod {m} ok" in body for m in OURS), "our modules unload after the selftest")
            continue
        if kind == "probefail":
            sec = "\n".join(section("probefail"))
            check("the SMMU's IOMMU name is taken" in sec, "a test helper took the SMMU's IOMMU name", sec[-300:])
            check("CR2.PTM cleared" in sec, "the SMMU's reset asked smmu_v3_btm and uses BTM (QEMU's SMMU with IDR0.BTM)")
            check(re.search(r"9050000\.smmuv3: probe with driver arm-smmu-v3 failed with error -17", sec) is not None,
                  "the probe failed after the reset (iommu_device_sysfs_add: -EEXIST)",
                  "\n".join(l for l in sec.splitlines() if "smmu" in l)[-300:])
            m = re.search(r"smmu_v3_btm refcnt after the failed probe: (\d+)", sec)
            check(m is not None and m.group(1) == "0",
                  "the failed probe gave back smmu_v3_btm's module reference", m.group(0) if m else "not shown")
            check("KSV: debugfs smmu_v3_btm/state: smmus: 0" in sec,
                  "the failed probe removed the SMMU's record in smmu_v3_btm")
            m = re.search(r"kvm_vmid_pin refcnt after the failed probe: (\d+)", sec)
            check(m is not None and m.group(1) == "0",
                  "the failed probe gave back kvm_vmid_pin's module reference (the SMMU's hold)",
                  m.group(0) if m else "not shown")
            check("KSV: rmmod smmu_v3_btm ok" in sec, "rmmod smmu_v3_btm after the failed probe")
            continue
        if kind == "refused":
            sec = "\n".join(section("protected"))
            check(f"insmod {arg} refused" in sec, f"{arg} refuses to load", sec[-300:])
            check("protected mode" in sec, f"{arg} says why in dmesg")
            check("kvm_arm_vmid_pin: EOPNOTSUPP" in sec,
                  "kvm_arm_vmid_pin() returns -EOPNOTSUPP under protected KVM (checked in C)",
                  "\n".join(l for l in sec.splitlines() if "pin" in l)[-300:])
            continue
        sec_name, suites = kind, arg.split(",")
        sec = section(sec_name)
        body = "\n".join(sec)
        if sec_name.startswith("arm-smmu"):
            check(f"modprobe {sec_name} ok" in body, f"modprobe {sec_name}")
        else:
            check(f"insmod {sec_name} ok" in body, f"insmod {sec_name}", body[-300:])
            btm_used = re.search(r"smmu_v3_btm/state:   btm_in_use: yes", text)
            if sec_name not in ("smmu_v3_btm", "kvm_vmid_pin") or not btm_used:
                check(f"KSV: rmmod {sec_name} ok" in text, f"rmmod {sec_name}")
        for suite in suites:
            check(f"# Subtest: {suite}" in body, f"suite {suite} ran")
        res = subprocess.run(
            [sys.executable, f"{ksrc}/tools/testing/kunit/kunit.py", "parse"],
            input=body, capture_output=True, text=True)
        out = res.stdout
        m = re.search(r"Ran (\d+) tests?: (.*)", out)
        if not m:
            check(False, f"KTAP of {sec_name} parses", out[-500:])
            continue
        counts = dict((k, int(v)) for k, v in re.findall(r"(\w+): (\d+)", m.group(2)))
        passed = counts.get("passed", 0)
        failed = sum(v for k, v in counts.items() if k not in ("passed", "skipped"))
        for ln in out.splitlines():
            if "[FAILED]" in ln or "[CRASHED]" in ln:
                print("        " + re.sub(r"\x1b\[[0-9;]*m", "", ln))
        ok += passed
        bad += failed
        print(f"  {'ok  ' if failed == 0 and passed else 'FAIL'}  KUnit {sec_name}: "
              f"{passed} passed, {failed} failed, {counts.get('skipped', 0)} skipped")
        if passed == 0 and failed == 0:
            bad += 1
    print(f"COUNTS {ok} {bad}")


if __name__ == "__main__":
    main()
