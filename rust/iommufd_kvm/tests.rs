// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the VM handle, on real VMs.

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(iommufd_kvm)]
mod suite {
    use super::test_vm::TestVm;
    use kernel::prelude::*;

    #[test]
    fn handle_refcount_is_balanced() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        {
            let more = kvm.clone();
            assert_eq!(more.users(), users + 1);
        }
        assert_eq!(kvm.users(), users);
        Ok(())
    }

    #[test]
    fn vm_outlives_its_file_while_held() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        vm.close();
        // The file's reference is gone; ours keeps the VM allocated.
        assert_eq!(kvm.users(), users - 1);
        assert!(kvm.users() >= 1);
        Ok(())
    }
}
