#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check one QEMU boot log of the test initramfs.

Usage: check_boot.py KSRC LOG MODE EXPECT...

EXPECT is "section=suite[,suite...]" (a module whose KUnit suites must
all pass) or "refused=section" (an insmod that must fail). Prints one line
per check and, last, "COUNTS <passed> <failed>".
"""
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
OURS = ("kvm_vmid_pin", "iommufd_kvm", "smmu_v3_btm")


def main():
    ksrc, log, mode = sys.argv[1:4]
    expects = sys.argv[4:]
    text = open(log, errors="replace").read()
    lines = text.splitlines()
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
        out, inside = [], False
        for ln in lines:
            if ln.endswith(f"KSV: BEGIN {name}"):
                inside = True
            elif ln.endswith(f"KSV: END {name}"):
                inside = False
            elif inside and "KSV-KMSG: " in ln:
                out.append(ln.split("KSV-KMSG: ", 1)[1])
            elif inside and "KSV: " in ln:
                out.append(ln)
        return out

    check(any(l.endswith("KSV: DONE") for l in lines), "guest ran to the end",
          "no 'KSV: DONE' (crash or timeout)")
    for pat in SPLATS:
        hits = [l for l in lines if re.search(pat, l)]
        if hits:
            check(False, f"no kernel splat /{pat}/", hits[0].strip())
    if not any(re.search(p, text) for p in SPLATS):
        check(True, "no WARN/BUG/lockdep/KASAN splat")
    leaks = [l for l in lines if "KSV: kmemleak:" in l and any(m in l for m in OURS)]
    check(not leaks, "kmemleak: nothing leaked by our modules", leaks[0] if leaks else "")

    for exp in expects:
        kind, _, arg = exp.partition("=")
        if kind == "selftest":
            # Upstream iommufd selftests: failures must all be environmental
            # (they fail on unpatched 7.3 under TCG too) and at least as many
            # must pass as on unpatched 7.3 (207, test-environment notes).
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
            check(f"rmmod iommufd_kvm ok" in body, "iommufd_kvm unloads after the selftest")
            continue
        if kind == "refused":
            sec = "\n".join(section("protected"))
            check(f"insmod {arg} refused" in sec, f"{arg} refuses to load", sec[-300:])
            check("protected mode" in sec, f"{arg} says why in dmesg")
            continue
        sec_name, suites = kind, arg.split(",")
        sec = section(sec_name)
        body = "\n".join(sec)
        if sec_name.startswith("arm-smmu"):
            check(f"modprobe {sec_name} ok" in body, f"modprobe {sec_name}")
        else:
            check(f"insmod {sec_name} ok" in body, f"insmod {sec_name}", body[-300:])
            check(f"KSV: rmmod {sec_name} ok" in text, f"rmmod {sec_name}")
        for suite in suites:
            if suite == "ptm-set":
                # smmu_v3_btm's debugfs after arm_smmu_v3 probed QEMU's
                # SMMUv3, which has no BTM: CR2 must keep PTM set.
                cr2 = re.findall(r"smmu_v3_btm/state:   cr2_written: (0x[0-9a-f]+)", text)
                check(bool(cr2) and all(int(c, 16) & 4 for c in cr2),
                      f"QEMU SMMUv3 probed with CR2.PTM set (CR2 {', '.join(cr2) or 'not shown'})")
                continue
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


main()
