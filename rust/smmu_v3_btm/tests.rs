// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the SMMUv3 BTM rules.

#[kernel::macros::kunit_tests(smmu_v3_btm)]
mod suite {
    use crate::regs::*;

    #[test]
    fn idr0_table_to_cr2() {
        // (IDR0, host VHE, errata, expected CR2)
        let table: [(u32, bool, bool, u32); 8] = [
            (IDR0_S1P | IDR0_S2P, false, false, CR2_PTM | CR2_RECINVSID),
            (IDR0_S1P | IDR0_BTM, false, false, CR2_RECINVSID),
            (IDR0_S1P | IDR0_BTM, true, false, CR2_PTM | CR2_RECINVSID),
            (
                IDR0_S1P | IDR0_BTM | IDR0_HYP,
                true,
                false,
                CR2_RECINVSID | CR2_E2H,
            ),
            (
                IDR0_S1P | IDR0_BTM | IDR0_HYP,
                true,
                true,
                CR2_PTM | CR2_RECINVSID | CR2_E2H,
            ),
            (IDR0_S2P | IDR0_BTM, false, false, CR2_PTM | CR2_RECINVSID),
            (
                IDR0_S2P | IDR0_BTM | IDR0_HYP,
                true,
                false,
                CR2_PTM | CR2_RECINVSID | CR2_E2H,
            ),
            (
                IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_HYP,
                false,
                false,
                CR2_RECINVSID,
            ),
        ];
        for (idr0, vhe, errata, want) in table {
            let idr0 = Idr0::decode(idr0);
            let use_btm = btm_usable(idr0, vhe, errata).is_ok();
            // The driver sets E2H only for an SMMU with the EL2 regime.
            assert_eq!(cr2(use_btm, vhe && idr0.hyp), want);
        }
    }

    #[test]
    fn vmid_widths() {
        assert_eq!(Idr0::decode(IDR0_VMID16).vmid_bits, 16);
        assert_eq!(Idr0::decode(0).vmid_bits, 8);
        assert!(kvm_vmids_fit(8, 16));
        assert!(kvm_vmids_fit(16, 16));
        assert!(!kvm_vmids_fit(16, 8));
    }
}
