// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the iommufd ⇄ KVM rules, on real VMs.
//!
//! The tests call the registered ops exactly as iommufd does, with a
//! zeroed `struct iommufd_viommu` and `struct device` of their own.

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(iommufd_kvm)]
mod suite {
    use super::test_vm::TestVm;
    use crate::{
        ffi,
        ops,
        registry, //
    };
    use core::ptr::null_mut;
    use kernel::{
        bindings,
        prelude::*,
        types::Opaque, //
    };

    /// A fake device and vIOMMU; the idev is only an identity.
    struct Fakes {
        dev: KBox<Opaque<bindings::device>>,
        viommu: KBox<Opaque<bindings::iommufd_viommu>>,
    }

    impl Fakes {
        fn new() -> Result<Self> {
            Ok(Self {
                dev: KBox::new(Opaque::zeroed(), GFP_KERNEL)?,
                viommu: KBox::new(Opaque::zeroed(), GFP_KERNEL)?,
            })
        }

        fn idev(&self) -> *mut bindings::iommufd_device {
            // An address nobody else uses as an idev.
            self.dev.get().cast()
        }

        fn bind(&self, kvm: *mut bindings::kvm) {
            // SAFETY: as iommufd_device_bind() does.
            unsafe { ops::bind(self.idev(), self.dev.get(), kvm) };
        }

        fn unbind(&self) {
            // SAFETY: as iommufd_device_unbind() does.
            unsafe { ops::unbind(self.idev()) };
        }

        fn viommu_init(&self, kvm: *mut bindings::kvm) -> i32 {
            // SAFETY: as iommufd_viommu_alloc_ioctl() does.
            unsafe { ops::viommu_init(self.viommu.get(), self.idev(), kvm) }
        }

        fn viommu_destroy(&self) {
            // SAFETY: as iommufd_viommu_destroy() does.
            unsafe { ops::viommu_destroy(self.viommu.get()) };
        }

        fn viommu_kvm(&self) -> *mut bindings::kvm {
            // SAFETY: the fake is ours.
            unsafe { (*self.viommu.get()).kvm }
        }
    }

    #[test]
    fn no_vm_known_means_viommu_has_none() -> Result {
        let f = Fakes::new()?;
        let refs = ffi::module_refcount();
        f.bind(null_mut());
        assert_eq!(f.viommu_init(null_mut()), 0);
        assert!(f.viommu_kvm().is_null());
        assert_eq!(registry::nr_viommus(), 0);
        f.viommu_destroy();
        f.unbind();
        assert_eq!(ffi::module_refcount(), refs);
        Ok(())
    }

    #[test]
    fn viommu_reference_is_balanced() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let f = Fakes::new()?;
        let users = kvm.users();
        f.bind(kvm.as_raw());
        // The device's VM is VFIO's reference, not ours.
        assert_eq!(kvm.users(), users);
        assert_eq!(f.viommu_init(kvm.as_raw()), 0);
        assert_eq!(f.viommu_kvm(), kvm.as_raw());
        assert_eq!(kvm.users(), users + 1);
        f.viommu_destroy();
        assert!(f.viommu_kvm().is_null());
        assert_eq!(kvm.users(), users);
        f.unbind();
        Ok(())
    }

    #[test]
    fn vm_closed_while_viommu_alive_stays_allocated() -> Result {
        let vm = TestVm::take()?;
        let f = Fakes::new()?;
        let raw = {
            let kvm = vm.kvm();
            f.bind(kvm.as_raw());
            assert_eq!(f.viommu_init(kvm.as_raw()), 0);
            kvm.as_raw()
        };
        // The VMM exits: its VM file is closed, the device unbound.
        vm.close();
        f.unbind();
        // SAFETY: the vIOMMU's reference keeps the VM allocated.
        let users = unsafe { bindings::atomic_read(&raw const (*raw).users_count.refs) };
        assert_eq!(users, 1);
        // Dropping the vIOMMU's reference frees the VM (KASAN would see a
        // use after free in the debug build if it were freed earlier).
        f.viommu_destroy();
        Ok(())
    }

    #[test]
    fn repeated_and_unknown_calls_are_no_ops() -> Result {
        let f = Fakes::new()?;
        let refs = ffi::module_refcount();
        let bound = registry::nr_bindings();
        f.bind(null_mut());
        f.bind(null_mut());
        assert_eq!(registry::nr_bindings(), bound + 1);
        // The ops take no module reference: iommufd holds their owner.
        assert_eq!(ffi::module_refcount(), refs);
        f.unbind();
        f.unbind();
        f.viommu_destroy();
        assert_eq!(registry::nr_bindings(), bound);
        assert_eq!(ffi::module_refcount(), refs);
        Ok(())
    }
}
