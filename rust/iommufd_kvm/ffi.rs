// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over iommufd's KVM hooks (the only FFI of this module).
//!
//! C header: [`include/linux/iommufd.h`](srctree/include/linux/iommufd.h)
//!
//! The hooks come from `patches/0005-iommufd-viommu-*`.

use kernel::{
    bindings,
    error::to_result,
    prelude::*, //
};

/// iommufd's KVM ops, registered for as long as this value lives.
///
/// # Invariants
///
/// `iommufd_kvm_ops_register()` succeeded with this module's ops, which
/// stay registered until drop.
pub(crate) struct Registration(());

impl Registration {
    /// Registers `ops`; `EBUSY` if another module did.
    pub(crate) fn new(
        ops: &'static crate::ops_table::OpsTable<bindings::iommufd_kvm_ops>,
    ) -> Result<Self> {
        // SAFETY: `ops` is a static table of valid functions.
        to_result(unsafe { bindings::iommufd_kvm_ops_register(&ops.0) })?;
        // INVARIANT: registered just above.
        Ok(Self(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: by the type invariant our ops are registered. This waits
        // for callers (the rwsem), so no call runs in this module after it.
        unsafe { bindings::iommufd_kvm_ops_register(core::ptr::null()) };
    }
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
