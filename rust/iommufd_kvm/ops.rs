// SPDX-License-Identifier: GPL-2.0

//! The `struct iommufd_kvm_ops` this module registers with iommufd.
//!
//! iommufd calls them in process context, holding its ops rwsem for read.

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
    bind: Some(bind),
    unbind: Some(unbind),
    viommu_init: Some(viommu_init),
    viommu_destroy: Some(viommu_destroy),
});

/// `iommufd_kvm_ops::bind`.
///
/// # Safety
///
/// Called by `iommufd_device_bind()` with valid `idev` and `dev`; `kvm` is
/// NULL or referenced by the caller until unbind.
pub(crate) unsafe extern "C" fn bind(
    idev: *mut bindings::iommufd_device,
    dev: *mut bindings::device,
    kvm: *mut bindings::kvm,
) {
    if let Err(e) = registry::bind(idev as usize, dev, kvm) {
        pr_err!("cannot record a device binding: {:?}\n", e);
    }
}

/// `iommufd_kvm_ops::unbind`.
///
/// # Safety
///
/// Called by `iommufd_device_unbind()`.
pub(crate) unsafe extern "C" fn unbind(idev: *mut bindings::iommufd_device) {
    registry::unbind(idev as usize);
}

/// `iommufd_kvm_ops::viommu_init`.
///
/// # Safety
///
/// Called by `iommufd_viommu_alloc_ioctl()` before the driver's init, with a
/// valid `viommu`, the `idev` it is created with and that device's VM.
pub(crate) unsafe extern "C" fn viommu_init(
    viommu: *mut bindings::iommufd_viommu,
    idev: *mut bindings::iommufd_device,
    kvm: *mut bindings::kvm,
) -> c_int {
    // SAFETY: iommufd is initialising `viommu`.
    let id = unsafe { ffi::viommu_id(viommu) };
    match registry::viommu_init(viommu as usize, id, idev as usize, kvm) {
        Ok(vm) => {
            // SAFETY: iommufd is initialising `viommu`.
            unsafe { ffi::set_viommu_kvm(viommu, vm) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `iommufd_kvm_ops::viommu_destroy`.
///
/// # Safety
///
/// Called by `iommufd_viommu_destroy()`, after the driver's destroy.
pub(crate) unsafe extern "C" fn viommu_destroy(viommu: *mut bindings::iommufd_viommu) {
    // SAFETY: iommufd is destroying `viommu`.
    unsafe { ffi::set_viommu_kvm(viommu, core::ptr::null_mut()) };
    registry::viommu_destroy(viommu as usize);
}
