// SPDX-License-Identifier: GPL-2.0

//! iommufd and KVM: tie a VM to each `iommufd_device` and let the vIOMMU
//! hold the VM for its whole life.
//!
//! [`kvm`] is the refcounted VM handle the vIOMMU will hold. iommufd has no
//! hook for this module yet, so loading it changes nothing: it says so in
//! dmesg.

use kernel::prelude::*;

#[path = "common/kvm.rs"]
mod kvm;
#[path = "iommufd_kvm/tests.rs"]
mod tests;

module! {
    type: IommufdKvm,
    name: "iommufd_kvm",
    authors: ["kvm-smmu-vmid developers"],
    description: "iommufd glue that ties a KVM VM to devices and vIOMMUs",
    license: "GPL",
    imports_ns: ["IOMMUFD"],
}

/// The module.
struct IommufdKvm;

impl kernel::Module for IommufdKvm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("no iommufd hook in this kernel yet: nothing to do\n");
        #[cfg(CONFIG_KUNIT)]
        tests::test_vm::fill_pool().inspect_err(|e| pr_err!("test VMs: {:?}\n", e))?;
        Ok(Self)
    }
}

impl Drop for IommufdKvm {
    fn drop(&mut self) {
        #[cfg(CONFIG_KUNIT)]
        tests::test_vm::drain_pool();
    }
}
