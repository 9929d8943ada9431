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
        ffi::{
            self,
            Parent, //
        },
        ops::{
            self,
            VsmmuVmid, //
        },
        policy::*, //
    };
    use core::{
        mem::ManuallyDrop,
        ptr::NonNull, //
    };
    use kernel::{
        bindings,
        device::Device,
        prelude::*,
        sync::{
            aref::ARef,
            atomic::{
                Acquire,
                Atomic,
                Release, //
            },
        },
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
        /// Ours until the drop, which puts it before it waits.
        dev: ManuallyDrop<ARef<Device>>,
        btm: bool,
        /// Set by [`fake_release`], which the drop waits for.
        released: Pin<KBox<Atomic<bool>>>,
    }

    /// The fake device's memory: the device, then where its release says
    /// it ran.
    #[repr(C)]
    struct FakeDev {
        dev: Opaque<bindings::device>,
        released: *const Atomic<bool>,
    }

    const FULL: u32 = IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_HYP | IDR0_VMID16;

    /// The fake device's release, once its last reference is put: frees
    /// the device's memory, then says so to the [`FakeSmmu`], whose drop
    /// waits for it: `CONFIG_DEBUG_KOBJECT_RELEASE` delays the release by
    /// seconds, and it must not run after this module is gone.
    ///
    /// # Safety
    ///
    /// `dev` is the device of a [`FakeDev`] that [`FakeSmmu::reset`]
    /// allocated with `KBox` and gave up; the driver core calls this once
    /// no reference is left, while the `FakeSmmu` waits.
    unsafe extern "C" fn fake_release(dev: *mut bindings::device) {
        // SAFETY: per the contract, `dev` is the first field of the box
        // `reset` gave up (`repr(C)`), and nothing uses it any more.
        let fake = unsafe { KBox::from_raw(dev.cast::<FakeDev>()) };
        let released = fake.released;
        drop(fake);
        // SAFETY: the `FakeSmmu` keeps the flag until it sees it set.
        unsafe { &*released }.store(true, Release);
    }

    impl FakeSmmu {
        fn reset(idr0: u32, vmid_bits: u32) -> Result<Self> {
            let released = KBox::pin(Atomic::new(false), GFP_KERNEL)?;
            let fake = FakeDev {
                dev: Opaque::zeroed(),
                released: core::ptr::from_ref(&*released),
            };
            let dev = KBox::into_raw(KBox::new(fake, GFP_KERNEL)?).cast::<bindings::device>();
            // SAFETY: a zeroed device that we own: initialised, with one
            // reference, a name that needs no allocation and a release that
            // frees the box.
            unsafe {
                bindings::device_initialize(dev);
                (*dev).init_name = c"ksv-fake-smmu".as_char_ptr();
                (*dev).release = Some(fake_release);
            }
            // SAFETY: `dev` is non-null (from a box), and the reference
            // `device_initialize()` gave us is owned by the `ARef` from here:
            // its drop puts it, and the last put frees the device.
            let dev: ARef<Device> = unsafe { ARef::from_raw(NonNull::new_unchecked(dev.cast())) };
            let mut smmu = Self {
                dev: ManuallyDrop::new(dev),
                btm: false,
                released,
            };
            smmu.btm =
                ops::decide_smmu(smmu.device(), idr0, idr0, idr0 & IDR0_BTM != 0, vmid_bits)?;
            Ok(smmu)
        }

        fn device(&self) -> &Device {
            &self.dev
        }
    }

    impl Drop for FakeSmmu {
        fn drop(&mut self) {
            // The record's device reference goes first, then ours, and the
            // release runs (perhaps later, from a workqueue) before the flag
            // it sets goes.
            ops::forget(&self.dev);
            // SAFETY: dropped once, here, and not used after.
            unsafe { ManuallyDrop::drop(&mut self.dev) };
            while !self.released.load(Acquire) {
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
            }
        }
    }

    /// The number of vSMMU records, each owned by a cookie that owns a pin
    /// of its VM's VMID.
    fn vsmmu_records() -> usize {
        crate::state::STATE.lock().vsmmus.len()
    }

    /// The VMID a vSMMU got: 0 for its parent's (no cookie), or the error.
    fn vmid(r: &Result<Option<VsmmuVmid>>) -> Result<u16> {
        match r {
            Ok(Some(c)) => Ok(c.value()),
            Ok(None) => Ok(0),
            Err(e) => Err(*e),
        }
    }

    /// A cookie that cannot be allocated after the VM's VMID is pinned
    /// gives the pin back and leaves no record (the cookie owns them).
    /// Before, the record and its pin stayed behind. The allocation fails
    /// by the kernel's fault injection (fail-nth of this task: the
    /// cookie's box is its next fault-injectable call).
    #[test]
    fn failed_cookie_gives_the_vmid_back() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let before = vsmmu_records();
        // SAFETY: `kvm` keeps the VM alive until after the cookie is dropped.
        let held = unsafe { ops::vsmmu_vmid(smmu.device(), 31, Some(&kvm), Parent::fake(1)) };
        let while_held = vsmmu_records();
        let pinned_while = ffi::vm_vmid_pinned(&kvm);
        let failed = match held {
            Ok(Some(h)) => {
                ffi::fail_nth(1);
                let failed = ops::cookie(h).is_err();
                ffi::fail_nth(0);
                failed
            }
            _ => false,
        };
        let after = vsmmu_records();
        let pinned_after = ffi::vm_vmid_pinned(&kvm);
        drop((smmu, kvm, vm));
        assert!(failed);
        assert_eq!(while_held, before + 1);
        assert!(pinned_while.is_some());
        assert_eq!(after, before);
        assert_eq!(pinned_after, None);
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
        // An SMMU without BTM, e.g. stage 2 only with 8-bit VMIDs: a vSMMU
        // with a VM, and KVM is never asked for a pin.
        let smmu = FakeSmmu::reset(IDR0_S2P, 8)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        // SAFETY: `kvm` keeps the VM alive until after the cookie is dropped.
        let cookie = unsafe { ops::vsmmu_vmid(smmu.device(), 10, Some(&kvm), Parent::fake(1)) };
        let v = vmid(&cookie);
        drop(cookie);
        drop(smmu);
        drop(kvm);
        drop(vm);
        assert_eq!(v, Ok(0));
        Ok(())
    }

    #[test]
    fn second_parent_for_one_vm_is_eexist() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let dev = smmu.device();
        // SAFETY: `kvm` keeps the VM alive until after the cookies are
        // dropped, below.
        let a = unsafe { ops::vsmmu_vmid(dev, 20, Some(&kvm), Parent::fake(5)) };
        // SAFETY: as above.
        let b = unsafe { ops::vsmmu_vmid(dev, 21, Some(&kvm), Parent::fake(6)) };
        // SAFETY: as above.
        let c = unsafe { ops::vsmmu_vmid(dev, 22, Some(&kvm), Parent::fake(5)) };
        let (va, vb, vc) = (vmid(&a), vmid(&b), vmid(&c));
        drop((a, b, c));
        // Another VM may use the other parent.
        let other = TestVm::take()?;
        let other_kvm = other.kvm();
        // SAFETY: `other_kvm` keeps the VM alive until after the cookie.
        let d = unsafe { ops::vsmmu_vmid(dev, 23, Some(&other_kvm), Parent::fake(6)) };
        let vd = vmid(&d);
        drop(d);
        drop((smmu, kvm, vm, other_kvm, other));
        let va = va?;
        assert!(va >= 1);
        assert_eq!(vb, Err(EEXIST));
        assert_eq!(vc, Ok(va));
        assert!(vd? >= 1);
        Ok(())
    }

    #[test]
    fn vsmmu_uses_the_pinned_vm_vmid() -> Result {
        let smmu = FakeSmmu::reset(FULL, 16)?;
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        // SAFETY: `kvm` keeps the VM alive until after the cookie is dropped.
        let cookie = unsafe { ops::vsmmu_vmid(smmu.device(), 1, Some(&kvm), Parent::fake(1)) };
        // SAFETY: the VM is alive (we hold `kvm`).
        let id =
            unsafe { bindings::atomic64_read(&raw const (*kvm.as_raw()).arch.mmu.vmid.id) } as u64;
        let v = vmid(&cookie);
        drop(cookie);
        drop((smmu, kvm, vm));
        let bits = ffi::Host::query().kvm_vmid_bits.ok_or(ENODEV)?;
        let v = v?;
        assert!(v >= 1);
        // The VMID is the VM's own stage-2 VMID in KVM.
        assert_eq!(id & ((1 << bits) - 1), u64::from(v));
        Ok(())
    }

    #[test]
    fn btm_without_a_vm_is_einval() -> Result {
        let btm = FakeSmmu::reset(FULL, 16)?;
        // SAFETY: no VM.
        let with_btm = vmid(&unsafe { ops::vsmmu_vmid(btm.device(), 1, None, Parent::fake(1)) });
        // Without BTM, a VM-less vSMMU keeps its parent's VMID (upstream).
        let no_btm = FakeSmmu::reset(FULL & !IDR0_BTM, 16)?;
        // SAFETY: no VM.
        let without = vmid(&unsafe { ops::vsmmu_vmid(no_btm.device(), 1, None, Parent::fake(1)) });
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
        // SAFETY: `kvm` keeps the VM alive until after the cookie is dropped.
        let cookie = unsafe { ops::vsmmu_vmid(narrow.device(), 2, Some(&kvm), Parent::fake(1)) };
        let v = vmid(&cookie);
        drop(cookie);
        drop((narrow, kvm, vm));
        let v = v?;
        if kvm_bits > 8 {
            // Refused: the driver keeps its own VMIDs for this SMMU.
            assert_eq!(v, 0);
        } else {
            assert!(v >= 1);
        }
        Ok(())
    }
}
