// SPDX-License-Identifier: GPL-2.0

//! iommufd and KVM: decide which vIOMMUs hold their device's VM.
//!
//! `patches/0004-*` binds each device to iommufd with its VM's file (VFIO
//! holds it from open to close), and `patches/0005-*` lets a vIOMMU hold
//! that file from its allocation to its destroy, as the iommufd TSM series
//! does, when this module's `viommu_init` op says so. Without the module no
//! vIOMMU holds a VM, as upstream. [`registry`] holds the rules; the module
//! holds no VM reference of its own.
//!
//! debugfs: `/sys/kernel/debug/iommufd_kvm/associations`.

use kernel::{
    debugfs,
    prelude::*, //
};

#[path = "iommufd_kvm/ffi.rs"]
mod ffi;
#[path = "common/kvm.rs"]
mod kvm;
#[path = "iommufd_kvm/ops.rs"]
mod ops;
#[path = "common/ops_table.rs"]
mod ops_table;
#[path = "iommufd_kvm/registry.rs"]
mod registry;
// KUnit tests, which create VMs at load: test builds only (--cfg ksv_test).
#[cfg(all(ksv_test, CONFIG_KUNIT))]
#[path = "iommufd_kvm/tests.rs"]
mod tests;

#[cfg(not(ksv_test))]
module! {
    type: IommufdKvm,
    name: "iommufd_kvm",
    authors: ["kvm-smmu-vmid developers"],
    description: "iommufd glue that ties a KVM VM to devices and vIOMMUs",
    license: "GPL",
    imports_ns: ["IOMMUFD"],
}

// The test build (`--cfg ksv_test`) only.
#[cfg(ksv_test)]
module! {
    type: IommufdKvm,
    name: "iommufd_kvm",
    authors: ["kvm-smmu-vmid developers"],
    description: "iommufd glue that ties a KVM VM to devices and vIOMMUs (TEST BUILD)",
    license: "GPL",
    imports_ns: ["IOMMUFD"],
    params: {
        test_vms: bool {
            default: false,
            description: "TEST ONLY: create the VMs that the KUnit tests take (the KUnit boots set it)",
        },
    },
}

/// The module: the registered ops and the debugfs view.
///
/// Fields drop in order: the ops are unregistered first.
struct IommufdKvm {
    _ops: ffi::Registration,
    _records: registry::Records,
    _view: Pin<KBox<debugfs::File<View>>>,
    _dir: debugfs::Dir,
    #[cfg(all(ksv_test, CONFIG_KUNIT))]
    _test_vms: tests::test_vm::Pool,
}

/// The contents of the debugfs `associations` file.
struct View;

impl core::fmt::Debug for View {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        registry::show(f)
    }
}

impl kernel::Module for IommufdKvm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the module initializer runs once.
        unsafe { registry::REGISTRY.init() };
        let records = registry::Records(());
        #[cfg(all(ksv_test, CONFIG_KUNIT))]
        let test_vms = tests::test_vm::Pool::fill(module_parameters::test_vms.value())
            .inspect_err(|e| pr_err!("test VMs: {:?}\n", e))?;
        let dir = debugfs::Dir::new(c"iommufd_kvm");
        let view = KBox::pin_init(dir.read_only_file(c"associations", View), GFP_KERNEL)?;
        // Last: nothing after it can fail, and dropping it unregisters.
        let ops = ffi::register(&ops::OPS).inspect_err(|&e| {
            ops_table::say_why(
                e,
                "iommufd_kvm_ops_register",
                "iommufd already has KVM ops (another module registered them)",
            )
        })?;
        pr_info!("iommufd: vIOMMUs now hold their device's KVM VM file\n");
        Ok(Self {
            _ops: ops,
            _records: records,
            _view: view,
            _dir: dir,
            #[cfg(all(ksv_test, CONFIG_KUNIT))]
            _test_vms: test_vms,
        })
    }
}
