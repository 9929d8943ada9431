// SPDX-License-Identifier: GPL-2.0

//! Exhaustive check of the BTM and CR2 rules over every relevant IDR0.

use ksv_logic::smmu_regs::*;

#[test]
fn every_idr0_combination() {
    let bits = [IDR0_S1P, IDR0_S2P, IDR0_BTM, IDR0_HYP, IDR0_VMID16];
    for m in 0..(1u32 << bits.len()) {
        let reg = bits
            .iter()
            .enumerate()
            .filter(|(i, _)| m & (1 << i) != 0)
            .fold(0, |r, (_, b)| r | b);
        let idr0 = Idr0::decode(reg);
        for vhe in [false, true] {
            for errata in [false, true] {
                let use_btm = btm_usable(idr0, vhe, errata).is_ok();
                // BTM only with stage 1, without errata, and with HYP under VHE.
                assert_eq!(
                    use_btm,
                    idr0.btm && idr0.s1 && !errata && (!vhe || idr0.hyp)
                );
                let e2h = vhe && idr0.hyp;
                let v = cr2(use_btm, e2h);
                // Upstream value exactly, unless BTM is used: then only PTM differs.
                let upstream = CR2_PTM | CR2_RECINVSID | if e2h { CR2_E2H } else { 0 };
                assert_eq!(v ^ upstream, if use_btm { CR2_PTM } else { 0 });
            }
        }
    }
}

#[test]
fn refusal_reasons() {
    let s1btm = Idr0::decode(IDR0_S1P | IDR0_BTM);
    assert_eq!(
        btm_usable(Idr0::decode(IDR0_S1P), false, false),
        Err(NoBtm::NotSupported)
    );
    assert_eq!(btm_usable(s1btm, true, false), Err(NoBtm::NoHypWithVhe));
    assert_eq!(btm_usable(s1btm, false, true), Err(NoBtm::Erratum));
    assert_eq!(
        btm_usable(Idr0::decode(IDR0_S2P | IDR0_BTM), false, false),
        Err(NoBtm::NoStage1)
    );
    assert_eq!(btm_usable(s1btm, false, false), Ok(()));
}

#[test]
fn vmid_width_rule() {
    for (kvm, smmu, fits) in [(8, 8, true), (8, 16, true), (16, 16, true), (16, 8, false)] {
        assert_eq!(kvm_vmids_fit(kvm, smmu), fits);
    }
}

#[test]
fn decide_shares_vmids_before_btm() {
    let full = Idr0::decode(IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_HYP | IDR0_VMID16);
    for kvm_bits in [None, Some(8), Some(16)] {
        for smmu_bits in [8, 16] {
            for pinning in [false, true] {
                for errata in [false, true] {
                    let d = decide(full, errata, true, smmu_bits, kvm_bits, pinning);
                    let share = kvm_bits.is_some_and(|k| k <= smmu_bits) && pinning;
                    assert_eq!(d.share_vmids, share, "{kvm_bits:?} {smmu_bits} {pinning}");
                    // BTM never without shared VMIDs, and never with errata.
                    assert_eq!(d.use_btm, share && !errata);
                }
            }
        }
    }
    let no_btm = decide(
        Idr0::decode(IDR0_S1P | IDR0_VMID16),
        false,
        false,
        16,
        Some(16),
        true,
    );
    assert!(no_btm.share_vmids && !no_btm.use_btm);
    let s2_only = decide(
        Idr0::decode(IDR0_S2P | IDR0_BTM),
        false,
        false,
        8,
        Some(8),
        true,
    );
    assert!(s2_only.share_vmids && !s2_only.use_btm);
}
