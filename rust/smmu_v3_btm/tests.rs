// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the SMMUv3 BTM rules: the register table, and the hooks
//! on a fake SMMU device with real VMs and KVM's real VMID allocator.

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(smmu_v3_btm)]
mod suite {
    use super::test_vm::TestVm;
    use crate::{
        hooks,
        ops,
        regs::*, //
    };
    use kernel::{
        bindings,
        prelude::*,
        types::Opaque, //
    };

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

    /// A fake SMMU device, reset through the hook with `idr0`.
    struct FakeSmmu {
        dev: KBox<Opaque<bindings::device>>,
        cr2: u32,
    }

    const FULL: u32 = IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_HYP | IDR0_VMID16;

    impl FakeSmmu {
        fn reset(idr0: u32, vmid_bits: u32) -> Result<Self> {
            let dev = KBox::new(Opaque::zeroed(), GFP_KERNEL)?;
            let e2h = if hooks::host_vhe() { CR2_E2H } else { 0 };
            let cr2 = ops::decide_smmu(
                dev.get(),
                idr0,
                idr0 & IDR0_BTM != 0,
                vmid_bits,
                CR2_PTM | CR2_RECINVSID | e2h,
            )?;
            Ok(Self { dev, cr2 })
        }

        fn key(&self) -> usize {
            self.dev.get() as usize
        }
    }

    impl Drop for FakeSmmu {
        fn drop(&mut self) {
            ops::forget(self.key());
        }
    }

    #[test]
    fn reset_clears_ptm_only_with_btm() -> Result {
        let kvm_bits = hooks::kvm_vmid_bits().ok_or(ENODEV)?;
        let with = FakeSmmu::reset(FULL, 16)?;
        assert_eq!(with.cr2 & CR2_PTM, 0);
        let without = FakeSmmu::reset(FULL & !IDR0_BTM, 16)?;
        assert_eq!(without.cr2 & CR2_PTM, CR2_PTM);
        // KVM wider than the SMMU: no sharing, so no BTM either.
        let narrow = FakeSmmu::reset(FULL & !IDR0_VMID16, 8)?;
        assert_eq!(narrow.cr2 & CR2_PTM, if kvm_bits > 8 { CR2_PTM } else { 0 });
        Ok(())
    }

    #[test]
    fn vsmmu_uses_the_pinned_vm_vmid() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        let viommu = KBox::new(Opaque::<bindings::iommufd_viommu>::zeroed(), GFP_KERNEL)?;
        let v = ops::vsmmu_vmid(smmu.key(), viommu.get() as usize, kvm.as_raw())?;
        assert!(v >= 1);
        // The VMID is the VM's own stage-2 VMID in KVM.
        // SAFETY: the VM is alive (we hold `kvm`).
        let id =
            unsafe { bindings::atomic64_read(&raw const (*kvm.as_raw()).arch.mmu.vmid.id) } as u64;
        let bits = hooks::kvm_vmid_bits().ok_or(ENODEV)?;
        assert_eq!(id & ((1 << bits) - 1), u64::from(v));
        // The pin holds the VM, also once the VMM closed it.
        assert_eq!(kvm.users(), users + 1);
        vm.close();
        assert_eq!(kvm.users(), users);
        ops::vsmmu_release(viommu.get() as usize);
        assert_eq!(kvm.users(), users - 1);
        // Unknown vIOMMU: a no-op.
        ops::vsmmu_release(viommu.get() as usize);
        Ok(())
    }

    #[test]
    fn btm_without_a_vm_is_einval() -> Result {
        let btm = FakeSmmu::reset(FULL, 16)?;
        assert_eq!(
            ops::vsmmu_vmid(btm.key(), 1, core::ptr::null_mut()),
            Err(EINVAL)
        );
        // Without BTM, a VM-less vSMMU keeps its parent's (reserved) VMID.
        let no_btm = FakeSmmu::reset(FULL & !IDR0_BTM, 16)?;
        assert_eq!(
            ops::vsmmu_vmid(no_btm.key(), 1, core::ptr::null_mut()),
            Ok(0)
        );
        Ok(())
    }

    #[test]
    fn narrow_smmu_keeps_upstream_vmids() -> Result {
        let kvm_bits = hooks::kvm_vmid_bits().ok_or(ENODEV)?;
        let narrow = FakeSmmu::reset(FULL & !IDR0_VMID16, 8)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let v = ops::vsmmu_vmid(narrow.key(), 2, kvm.as_raw())?;
        if kvm_bits > 8 {
            // Refused: the driver keeps its own VMIDs for this SMMU.
            assert_eq!(v, 0);
            assert_eq!(ops::s2_vmid(narrow.key())?, None);
        } else {
            assert!(v >= 1);
            ops::vsmmu_release(2);
        }
        Ok(())
    }

    #[test]
    fn private_vmids_never_alias_kvm_vmids() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let mut keys = KVec::new();
        let mut vmids = KVec::new();
        for _ in 0..8 {
            let (v, key) = ops::s2_vmid(smmu.key())?.ok_or(EINVAL)?;
            vmids.push(v, GFP_KERNEL)?;
            keys.push(key, GFP_KERNEL)?;
        }
        let vm_vmid = ops::vsmmu_vmid(smmu.key(), 3, kvm.as_raw())?;
        for (i, a) in vmids.iter().enumerate() {
            assert!(*a != vm_vmid);
            for b in vmids.iter().skip(i + 1) {
                assert!(a != b);
            }
        }
        ops::vsmmu_release(3);
        for k in keys.iter() {
            ops::s2_vmid_release(*k);
        }
        Ok(())
    }
}
