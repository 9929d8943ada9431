// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over iommufd's KVM hooks (the only FFI of this module).
//!
//! C header: [`include/linux/iommufd.h`](srctree/include/linux/iommufd.h)
//!
//! The hooks come from `patches/0005-iommufd-viommu-*`.

use kernel::{
    bindings,
    prelude::*, //
};

/// iommufd's KVM ops, registered for as long as this value lives.
pub(crate) type Registration = crate::ops_table::Registration<bindings::iommufd_kvm_ops>;

/// Registers `ops` with iommufd; `EBUSY` if another module did.
pub(crate) fn register(
    ops: &'static crate::ops_table::OpsTable<bindings::iommufd_kvm_ops>,
) -> Result<Registration> {
    // SAFETY: `iommufd_kvm_ops_register()` registers an ops table, and
    // unregisters it (waiting for callers, its rwsem) when given NULL.
    unsafe { Registration::new(ops, bindings::iommufd_kvm_ops_register) }
}

/// The VM of a VM file (`file->private_data`), or NULL for NULL.
///
/// # Safety
///
/// `file` is NULL or a KVM VM file (iommufd only passes the file that VFIO
/// took from the VM), held for the call.
pub(crate) unsafe fn file_kvm(file: *mut bindings::file) -> *const crate::kvm::Kvm {
    if file.is_null() {
        return core::ptr::null();
    }
    // SAFETY: `file` is valid, per the caller; a VM file's `private_data`
    // is its `struct kvm`, and `Kvm` wraps it transparently.
    unsafe { (*file).private_data.cast() }
}

/// The iommufd object id of `viommu`, for messages and debugfs.
///
/// # Safety
///
/// `viommu` is a valid vIOMMU.
pub(crate) unsafe fn viommu_id(viommu: *mut bindings::iommufd_viommu) -> u32 {
    // SAFETY: `viommu` is valid, per the caller.
    unsafe { (*viommu).obj.id }
}

/// This module's reference count.
pub(crate) fn module_refcount() -> i32 {
    // SAFETY: `THIS_MODULE` is this module.
    unsafe {
        bindings::module_refcount(
            <crate::IommufdKvm as kernel::ModuleMetadata>::THIS_MODULE.as_ptr(),
        )
    }
}
