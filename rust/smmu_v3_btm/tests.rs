// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the SMMUv3 BTM rules: the register table, and the hooks
//! on a fake SMMU device with real VMs and KVM's real VMID allocator.
//!
//! A failed KUnit assertion ends the test's thread without running
//! destructors, so the tests that hold fake SMMUs, VMs, pins or buffers
//! observe into locals, give everything back, and only then assert: a
//! failing test leaks no pin, module reference or memory.

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(smmu_v3_btm)]
mod suite {
    use super::test_vm::TestVm;
    use crate::{
        ffi,
        ops,
        policy::*, //
    };
    use kernel::{
        bindings,
        prelude::*,
        types::Opaque, //
    };

    #[test]
    fn idr0_table_to_btm() {
        // (IDR0, host VHE, erratum, BTM used), written out by hand; KVM
        // 8-bit VMIDs, pinning available.
        let table: [(u32, bool, bool, bool); 8] = [
            (IDR0_S1P | IDR0_S2P, false, false, false),
            (IDR0_S1P | IDR0_BTM, false, false, true),
            (IDR0_S1P | IDR0_BTM, true, false, false),
            (IDR0_S1P | IDR0_BTM | IDR0_HYP, true, false, true),
            (IDR0_S1P | IDR0_BTM | IDR0_HYP, true, true, false),
            (IDR0_S2P | IDR0_BTM, false, false, false),
            (IDR0_S2P | IDR0_BTM | IDR0_HYP, true, false, false),
            (
                IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_HYP,
                false,
                false,
                true,
            ),
        ];
        for (idr0, vhe, errata, want) in table {
            let d = decide(
                Idr0::decode(idr0),
                errata,
                vhe,
                8,
                Some(8),
                Pinning::Available,
            );
            assert_eq!(d.use_btm, want);
        }
    }

    /// The widths from raw register values and the boundaries, written
    /// out by hand (IDR0.VMID16 is bit 18).
    #[test]
    fn vmid_widths() {
        assert_eq!(Idr0::decode(0x0004_0000).vmid_bits, 16);
        // Every other bit set, bit 18 clear.
        assert_eq!(Idr0::decode(0xfffb_ffff).vmid_bits, 8);
        assert!(vmid_fits(255, 8));
        assert!(!vmid_fits(256, 8));
        assert!(vmid_fits(0xffff, 16));
        assert!(kvm_vmids_fit(8, 16));
        assert!(kvm_vmids_fit(16, 16));
        assert!(!kvm_vmids_fit(16, 8));
    }

    /// A fake SMMU device, reset through the hook with `idr0`.
    struct FakeSmmu {
        dev: FakeDev,
        btm: bool,
    }

    const FULL: u32 = IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_HYP | IDR0_VMID16;

    /// The fake device's release: the box frees its memory.
    ///
    /// # Safety
    ///
    /// Called by the driver core once the last reference is put.
    unsafe extern "C" fn fake_release(_dev: *mut bindings::device) {}

    impl FakeSmmu {
        fn reset(idr0: u32, vmid_bits: u32) -> Result<Self> {
            let dev = KBox::new(Opaque::<bindings::device>::zeroed(), GFP_KERNEL)?;
            // SAFETY: a zeroed device that we own: initialised (one
            // reference, put in `drop`), with a name that needs no
            // allocation and a release that frees nothing.
            unsafe {
                bindings::device_initialize(dev.get());
                (*dev.get()).init_name = c"ksv-fake-smmu".as_char_ptr();
                (*dev.get()).release = Some(fake_release);
            }
            let dev = FakeDev(dev);
            // SAFETY: `dev` is a device we own, boxed, forgotten in `drop`.
            let btm = unsafe {
                ops::decide_smmu(dev.get(), idr0, idr0, idr0 & IDR0_BTM != 0, vmid_bits)
            }?;
            Ok(Self { dev, btm })
        }

        fn key(&self) -> usize {
            self.dev.get() as usize
        }
    }

    impl Drop for FakeSmmu {
        fn drop(&mut self) {
            // The record's device reference goes first, then ours.
            ops::forget(self.key());
        }
    }

    /// An initialised fake device; puts its reference when dropped.
    struct FakeDev(KBox<Opaque<bindings::device>>);

    impl FakeDev {
        fn get(&self) -> *mut bindings::device {
            self.0.get()
        }
    }

    impl Drop for FakeDev {
        fn drop(&mut self) {
            // SAFETY: `device_initialize()` gave us this reference; the
            // release frees nothing, the box frees the memory after.
            unsafe { bindings::put_device(self.0.get()) };
        }
    }

    /// The number of private stage-2 records, each owning a VMID pinned
    /// from KVM.
    fn private_records() -> usize {
        crate::state::STATE.lock().private.len()
    }

    /// A cookie that cannot be allocated after the VMID is reserved gives
    /// the VMID back and leaves no record (the cookie owns them); the next
    /// get and put work. Before, the record and its pin stayed behind.
    #[test]
    fn failed_cookie_gives_the_vmid_back() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let dev = smmu.dev.get();
        let before = private_records();
        ops::FAIL_NEXT_COOKIE.store(true, kernel::sync::atomic::Relaxed);
        let mut cookie = core::ptr::null_mut();
        // SAFETY: a private stage 2 (no vIOMMU) of the fake SMMU, which the
        // hook knows (reset above); `cookie` is writable.
        let failed = unsafe { ops::vmid_get(dev, core::ptr::null_mut(), &mut cookie) };
        let after_failure = private_records();
        // SAFETY: as above.
        let ok = unsafe { ops::vmid_get(dev, core::ptr::null_mut(), &mut cookie) };
        let while_held = private_records();
        if ok > 0 {
            // SAFETY: the cookie the successful get gave, put once.
            unsafe { ops::vmid_put(dev, cookie) };
        }
        let at_end = private_records();
        drop(smmu);
        assert_eq!(failed, ENOMEM.to_errno());
        assert_eq!(after_failure, before);
        assert!(ok > 0);
        assert_eq!(while_held, before + 1);
        assert_eq!(at_end, before);
        Ok(())
    }

    #[test]
    fn reset_uses_btm_only_with_btm() -> Result {
        let kvm_bits = ffi::Host::query().kvm_vmid_bits.ok_or(ENODEV)?;
        let with = FakeSmmu::reset(FULL, 16)?.btm;
        let without = FakeSmmu::reset(FULL & !IDR0_BTM, 16)?.btm;
        // KVM wider than the SMMU: no KVM VMIDs, so no BTM either.
        let narrow = FakeSmmu::reset(FULL & !IDR0_VMID16, 8)?.btm;
        assert!(with);
        assert!(!without);
        assert_eq!(narrow, kvm_bits <= 8);
        Ok(())
    }

    #[test]
    fn no_btm_takes_nothing_from_kvm() -> Result {
        // An SMMU without BTM, e.g. stage 2 only with 8-bit VMIDs: 300
        // stage-2 domains and a vSMMU with a VM, and KVM is never asked.
        let smmu = FakeSmmu::reset(IDR0_S2P, 8)?;
        let mut from_kvm = 0;
        for _ in 0..300 {
            if ops::s2_vmid(smmu.key())?.is_some() {
                from_kvm += 1;
            }
        }
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let v = unsafe { ops::vsmmu_vmid(smmu.key(), 10, 10, kvm.as_raw(), 1) }?;
        let users_after = kvm.users();
        drop(smmu);
        drop(kvm);
        drop(vm);
        assert_eq!(from_kvm, 0);
        assert_eq!(v, 0);
        assert_eq!(users_after, users);
        Ok(())
    }

    #[test]
    fn second_parent_for_one_vm_is_eexist() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let a = unsafe { ops::vsmmu_vmid(smmu.key(), 20, 20, kvm.as_raw(), 5) };
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let b = unsafe { ops::vsmmu_vmid(smmu.key(), 21, 21, kvm.as_raw(), 6) };
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let c = unsafe { ops::vsmmu_vmid(smmu.key(), 22, 22, kvm.as_raw(), 5) };
        ops::vsmmu_release(20);
        ops::vsmmu_release(21);
        ops::vsmmu_release(22);
        // Another VM may use the other parent.
        let other = TestVm::take()?;
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let d = unsafe { ops::vsmmu_vmid(smmu.key(), 23, 23, other.kvm().as_raw(), 6) };
        ops::vsmmu_release(23);
        drop((smmu, kvm, vm, other));
        let a = a?;
        assert!(a >= 1);
        assert_eq!(b, Err(EEXIST));
        assert_eq!(c, Ok(a));
        assert!(d? >= 1);
        Ok(())
    }

    #[test]
    fn vsmmu_uses_the_pinned_vm_vmid() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        let viommu = KBox::new(Opaque::<bindings::iommufd_viommu>::zeroed(), GFP_KERNEL)?;
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let v = unsafe { ops::vsmmu_vmid(smmu.key(), viommu.get() as usize, 1, kvm.as_raw(), 1) };
        // SAFETY: the VM is alive (we hold `kvm`).
        let id =
            unsafe { bindings::atomic64_read(&raw const (*kvm.as_raw()).arch.mmu.vmid.id) } as u64;
        // The pin holds no VM reference: the vIOMMU holds the VM's file.
        let users_pinned = kvm.users();
        ops::vsmmu_release(viommu.get() as usize);
        // Unknown vIOMMU: a no-op.
        ops::vsmmu_release(viommu.get() as usize);
        drop((smmu, kvm, vm, viommu));
        let bits = ffi::Host::query().kvm_vmid_bits.ok_or(ENODEV)?;
        let v = v?;
        assert!(v >= 1);
        // The VMID is the VM's own stage-2 VMID in KVM.
        assert_eq!(id & ((1 << bits) - 1), u64::from(v));
        assert_eq!(users_pinned, users);
        Ok(())
    }

    #[test]
    fn btm_without_a_vm_is_einval() -> Result {
        let btm = FakeSmmu::reset(FULL, 16)?;
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let with_btm = unsafe { ops::vsmmu_vmid(btm.key(), 1, 1, core::ptr::null_mut(), 1) };
        // Without BTM, a VM-less vSMMU keeps its parent's VMID (upstream).
        let no_btm = FakeSmmu::reset(FULL & !IDR0_BTM, 16)?;
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let without = unsafe { ops::vsmmu_vmid(no_btm.key(), 1, 1, core::ptr::null_mut(), 1) };
        drop((btm, no_btm));
        assert_eq!(with_btm, Err(EINVAL));
        assert_eq!(without, Ok(0));
        Ok(())
    }

    #[test]
    fn narrow_smmu_keeps_upstream_vmids() -> Result {
        let kvm_bits = ffi::Host::query().kvm_vmid_bits.ok_or(ENODEV)?;
        let narrow = FakeSmmu::reset(FULL & !IDR0_VMID16, 8)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let v = unsafe { ops::vsmmu_vmid(narrow.key(), 2, 2, kvm.as_raw(), 1) }?;
        let s2 = ops::s2_vmid(narrow.key())?;
        ops::vsmmu_release(2);
        let s2_from_kvm = s2.is_some();
        if let Some((_, p)) = s2 {
            ops::private_release(p);
        }
        drop((narrow, kvm, vm));
        if kvm_bits > 8 {
            // Refused: the driver keeps its own VMIDs for this SMMU.
            assert_eq!(v, 0);
            assert!(!s2_from_kvm);
        } else {
            assert!(v >= 1);
            assert!(s2_from_kvm);
        }
        Ok(())
    }

    #[test]
    fn private_vmids_never_alias_kvm_vmids() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let mut held = KVec::new();
        let mut vmids = KVec::new();
        for _ in 0..8 {
            let (v, p) = ops::s2_vmid(smmu.key())?.ok_or(EINVAL)?;
            vmids.push(v, GFP_KERNEL)?;
            held.push(p, GFP_KERNEL)?;
        }
        // SAFETY: the VM (or NULL) stays alive until the vSMMU's release.
        let vm_vmid = unsafe { ops::vsmmu_vmid(smmu.key(), 3, 3, kvm.as_raw(), 1) }?;
        ops::vsmmu_release(3);
        for p in held.drain_all() {
            ops::private_release(p);
        }
        let mut aliases = 0;
        for (i, a) in vmids.iter().enumerate() {
            aliases += usize::from(*a == vm_vmid);
            aliases += vmids.iter().skip(i + 1).filter(|b| a == *b).count();
        }
        drop((smmu, kvm, vm, held, vmids));
        assert_eq!(aliases, 0);
        Ok(())
    }
}
