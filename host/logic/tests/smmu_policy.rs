// SPDX-License-Identifier: GPL-2.0

//! The BTM policy checked against a table written out by hand.
//!
//! The oracle is not the rule restated: each row is an SMMU/host
//! configuration and the outcome the Arm SMMUv3 specification (IHI 0070:
//! IDR0.BTM bit 5, IDR0.HYP bit 9, IDR0.S1P bit 1, IDR0.S2P bit 0,
//! IDR0.VMID16 bit 18) and the RFC's conditions give for it.

use ksv_logic::smmu_policy::*;

/// Raw IDR0 values, spelled out in hex from the bit positions above.
const QEMU10_NESTED: u32 = 0x0d44_101b; // S1P S2P VMID16, no BTM, no HYP (measured)
const QEMU72_S1: u32 = 0x0d40_101a; // S1P only, 8-bit VMIDs (measured)
const S1_S2_BTM: u32 = 0x0000_0023; // S2P S1P BTM
const S1_S2_BTM_HYP_V16: u32 = 0x0004_0223; // S2P S1P BTM HYP VMID16
const S2_BTM_V16: u32 = 0x0004_0021; // S2P BTM VMID16, no stage 1

const B: Pinning = Pinning::Available;

#[rustfmt::skip]
const TABLE: &[(u32, bool, bool, u32, Option<u32>, Pinning, Option<NoBtm>)] = &[
    // idr0, vhe, erratum, smmu bits, kvm bits, pinning => None: BTM used, Some(why): not
    (QEMU10_NESTED,     false, false, 16, Some(8),  B, Some(NoBtm::NotSupported)),
    (QEMU10_NESTED,     true,  false, 16, Some(16), B, Some(NoBtm::NotSupported)),
    (QEMU72_S1,         false, false, 8,  Some(8),  B, Some(NoBtm::NotSupported)),
    (S1_S2_BTM,         false, false, 8,  Some(8),  B, None),
    (S1_S2_BTM,         true,  false, 8,  Some(8),  B, Some(NoBtm::NoHypWithVhe)),
    (S1_S2_BTM,         false, true,  8,  Some(8),  B, Some(NoBtm::Erratum)),
    (S1_S2_BTM,         false, false, 8,  Some(16), B, Some(NoBtm::KvmWider)),
    (S1_S2_BTM,         false, false, 8,  None,     B, Some(NoBtm::NoHostVmids)),
    (S1_S2_BTM_HYP_V16, true,  false, 16, Some(16), B, None),
    (S1_S2_BTM_HYP_V16, true,  false, 16, Some(8),  B, None),
    (S1_S2_BTM_HYP_V16, false, false, 16, Some(16), B, None),
    (S1_S2_BTM_HYP_V16, true,  true,  16, Some(16), B, Some(NoBtm::Erratum)),
    (S1_S2_BTM_HYP_V16, true,  false, 16, Some(16), Pinning::NotLoaded, Some(NoBtm::PinNotLoaded)),
    (S2_BTM_V16,        false, false, 16, Some(8),  B, Some(NoBtm::NoStage1)),
    // Without BTM, nothing is taken from KVM whatever KVM offers.
    (QEMU10_NESTED,     false, false, 16, Some(8),  Pinning::NotLoaded, Some(NoBtm::NotSupported)),
    (QEMU10_NESTED,     false, false, 16, None,     B, Some(NoBtm::NotSupported)),
];

#[test]
fn decisions_match_the_table() {
    for (i, &(reg, vhe, erratum, smmu_bits, kvm_bits, pinning, want)) in TABLE.iter().enumerate() {
        let d = decide(
            Idr0::decode(reg),
            erratum,
            vhe,
            smmu_bits,
            kvm_bits,
            pinning,
        );
        assert_eq!(d.use_btm, want.is_none(), "row {i}: {d:?}");
        if let Some(why) = want {
            assert_eq!(d.reason, why.reason(), "row {i}");
        }
    }
}

#[test]
fn idr0_fields_by_hand() {
    // (raw, s1, s2, btm, hyp, vmid bits), decoded by hand from IHI 0070.
    #[rustfmt::skip]
    let rows = [
        (QEMU10_NESTED,     true,  true,  false, false, 16),
        (QEMU72_S1,         true,  false, false, false, 8),
        (S1_S2_BTM,         true,  true,  true,  false, 8),
        (S1_S2_BTM_HYP_V16, true,  true,  true,  true,  16),
        (S2_BTM_V16,        false, true,  true,  false, 16),
        (0x0000_0020,       false, false, true,  false, 8),
        (0x0000_0200,       false, false, false, true,  8),
    ];
    for (reg, s1, s2, btm, hyp, bits) in rows {
        let id = Idr0::decode(reg);
        assert_eq!(
            (id.s1, id.s2, id.btm, id.hyp, id.vmid_bits),
            (s1, s2, btm, hyp, bits),
            "{reg:#x}"
        );
    }
}

#[test]
fn vmid_width_by_hand() {
    for (vmid, bits, fits) in [
        (255u16, 8, true),
        (256, 8, false),
        (1, 8, true),
        (0xffff, 16, true),
        (0x1234, 16, true),
        (0x100, 16, true),
    ] {
        assert_eq!(vmid_fits(vmid, bits), fits, "{vmid} {bits}");
    }
    for (kvm, smmu, fits) in [(8, 8, true), (8, 16, true), (16, 16, true), (16, 8, false)] {
        assert_eq!(kvm_vmids_fit(kvm, smmu), fits);
    }
}
