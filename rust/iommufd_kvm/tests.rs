// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the iommufd ⇄ KVM rules, on real VM files.
//!
//! The tests call the registered ops exactly as iommufd does, with a
//! zeroed `struct iommufd_viommu` of their own. iommufd itself takes and
//! drops the VM file reference; the end-to-end vSMMU test covers that.

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(iommufd_kvm)]
mod suite {
    use super::test_vm::TestVm;
    use crate::{
        ops,
        registry, //
    };
    use core::ptr::null_mut;
    use kernel::{
        bindings,
        prelude::*,
        types::Opaque, //
    };

    /// A fake vIOMMU.
    struct Fake(KBox<Opaque<bindings::iommufd_viommu>>);

    impl Fake {
        fn new() -> Result<Self> {
            Ok(Self(KBox::new(Opaque::zeroed(), GFP_KERNEL)?))
        }

        fn init(&self, kvm_file: *mut bindings::file) -> i32 {
            // SAFETY: as iommufd_viommu_alloc_ioctl() does: `kvm_file` is
            // NULL or a VM file the caller holds.
            unsafe { ops::viommu_init(self.0.get(), kvm_file) }
        }

        fn destroy(&self) {
            // SAFETY: as iommufd_viommu_destroy() does.
            unsafe { ops::viommu_destroy(self.0.get()) };
        }
    }

    #[test]
    fn no_vm_means_the_viommu_holds_none() -> Result {
        let f = Fake::new()?;
        let nr = registry::nr_viommus();
        let held = f.init(null_mut());
        let nr_after = registry::nr_viommus();
        assert_eq!(held, 0);
        assert_eq!(nr_after, nr);
        Ok(())
    }

    #[test]
    fn a_device_vm_is_held_until_destroy() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let f = Fake::new()?;
        let (nr, users) = (registry::nr_viommus(), kvm.users());
        let held = f.init(vm.file());
        let nr_held = registry::nr_viommus();
        // The module takes no VM reference: iommufd holds the VM file.
        let users_held = kvm.users();
        f.destroy();
        let nr_destroyed = registry::nr_viommus();
        drop(kvm);
        drop(vm);
        assert_eq!(held, 1);
        assert_eq!(nr_held, nr + 1);
        assert_eq!(users_held, users);
        assert_eq!(nr_destroyed, nr);
        Ok(())
    }

    /// Destroying a vIOMMU that holds no VM leaves another vIOMMU's
    /// record alone; destroying that one removes it.
    #[test]
    fn destroy_removes_only_its_own_record() -> Result {
        let vm = TestVm::take()?;
        let holder = Fake::new()?;
        let other = Fake::new()?;
        let nr = registry::nr_viommus();
        let held = holder.init(vm.file());
        let none = other.init(null_mut());
        other.destroy();
        let kept = registry::holds(holder.0.get() as usize);
        holder.destroy();
        let gone = !registry::holds(holder.0.get() as usize);
        let nr_end = registry::nr_viommus();
        drop(vm);
        assert_eq!((held, none), (1, 0));
        assert!(kept);
        assert!(gone);
        assert_eq!(nr_end, nr);
        Ok(())
    }
}
