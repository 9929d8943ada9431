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
        unsafe { bindings::iommufd_kvm_ops_unregister() };
    }
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
