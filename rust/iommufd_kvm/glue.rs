// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over iommufd's KVM hooks (the only FFI of this module).
//!
//! C header: [`include/linux/iommufd.h`](srctree/include/linux/iommufd.h)
//!
//! The hooks come from `patches/0002-iommufd-*` and are exported to this
//! module only.

use kernel::{
    bindings,
    error::to_result,
    prelude::*, //
};

/// Registers the ops with iommufd; `EBUSY` if another module did.
pub(crate) fn register(ops: &'static bindings::iommufd_kvm_ops) -> Result {
    // SAFETY: `ops` is a static table of valid functions.
    to_result(unsafe { bindings::iommufd_kvm_ops_register(ops) })
}

/// Unregisters the ops; returns once no caller is inside them.
pub(crate) fn unregister() {
    // SAFETY: no precondition.
    unsafe { bindings::iommufd_kvm_ops_unregister() };
}

/// Sets `viommu->kvm`, which the IOMMU driver's `viommu_init()` reads.
///
/// # Safety
///
/// `viommu` is a vIOMMU being initialised or destroyed by iommufd, which
/// calls this module's ops for it one at a time.
pub(crate) unsafe fn set_viommu_kvm(
    viommu: *mut bindings::iommufd_viommu,
    kvm: *mut bindings::kvm,
) {
    // SAFETY: `viommu` is valid and not accessed concurrently, per the caller.
    unsafe { (*viommu).kvm = kvm };
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
