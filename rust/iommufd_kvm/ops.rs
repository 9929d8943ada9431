// SPDX-License-Identifier: GPL-2.0

//! The `struct iommufd_kvm_ops` this module registers with iommufd.
//!
//! iommufd calls them in process context, holding its ops rwsem for read.
//! iommufd itself takes and drops the VM file references.

use crate::ffi;
use crate::ops_table::OpsTable;
use crate::registry;
use kernel::{
    bindings,
    prelude::*, //
};

/// The ops table handed to `iommufd_kvm_ops_register()`.
pub(crate) static OPS: OpsTable<bindings::iommufd_kvm_ops> = OpsTable(bindings::iommufd_kvm_ops {
    owner: kernel::module::this_module::<crate::IommufdKvm>().as_ptr(),
    viommu_init: Some(viommu_init),
    viommu_destroy: Some(viommu_destroy),
});

/// `iommufd_kvm_ops::viommu_init`: 1 if `viommu` is to hold `kvm_file`.
///
/// # Safety
///
/// Called by `iommufd_viommu_alloc_ioctl()` before the driver's init, with
/// a valid `viommu` and the VM file its device was bound with (NULL if
/// none), which the device's driver holds for the call.
pub(crate) unsafe extern "C" fn viommu_init(
    viommu: *mut bindings::iommufd_viommu,
    kvm_file: *mut bindings::file,
) -> c_int {
    // SAFETY: iommufd is initialising `viommu`.
    let id = unsafe { ffi::viommu_id(viommu) };
    // SAFETY: `kvm_file` is NULL or a VM file, held for the call.
    let kvm = unsafe { ffi::file_kvm(kvm_file) };
    // SAFETY: when this returns 1, iommufd holds the VM's file, and with
    // it the VM, until after the vIOMMU's destroy op.
    match unsafe { registry::viommu_init(viommu as usize, id, kvm) } {
        Ok(hold) => c_int::from(hold),
        Err(e) => e.to_errno(),
    }
}

/// `iommufd_kvm_ops::viommu_destroy`.
///
/// # Safety
///
/// Called by `iommufd_viommu_destroy()`, after the driver's destroy and
/// before the VM file is dropped, for a vIOMMU that holds one.
pub(crate) unsafe extern "C" fn viommu_destroy(viommu: *mut bindings::iommufd_viommu) {
    registry::viommu_destroy(viommu as usize);
}
