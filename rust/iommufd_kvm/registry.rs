// SPDX-License-Identifier: GPL-2.0

//! Which VM each bound device and each vIOMMU belongs to.
//!
//! # Rules
//!
//! - A device is bound to iommufd with the file of the VM it belongs to
//!   (VFIO's, held from the device's open to its close), or with none.
//! - A vIOMMU created with a device that has a VM holds that VM's file
//!   (iommufd takes the reference when [`viommu_init`] says so, and drops
//!   it after [`viommu_destroy`]), even if the VMM closes the VM or unbinds
//!   the device first. A vIOMMU whose device has no VM holds none.
//! - iommufd holds a reference on this module (the ops' `owner`) for every
//!   vIOMMU holding a VM, so the module cannot be unloaded while one does.
//! - This module holds no reference of its own: the VM pointers recorded
//!   here are only read while their vIOMMU holds the VM's file.

use crate::ffi;
use crate::kvm::Kvm;
use kernel::prelude::*;

/// A vIOMMU holding a VM's file.
pub(crate) struct ViommuVm {
    viommu: usize,
    viommu_id: u32,
    /// `file->private_data` of the VM file the vIOMMU holds.
    kvm: *const Kvm,
}

// SAFETY: `kvm` is only dereferenced under the registry lock while the
// vIOMMU holds the VM's file, from any thread.
unsafe impl Send for ViommuVm {}

/// All associations.
pub(crate) struct Registry {
    viommus: KVVec<ViommuVm>,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any use.
    pub(crate) unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry {
        viommus: KVVec::new(),
    };
}

/// Frees what [`REGISTRY`] holds when dropped: a static is never dropped
/// by itself, so without this its vectors and names would leak at unload.
/// The module drops it after unregistering the ops.
pub(crate) struct Records(pub(crate) ());

impl Drop for Records {
    fn drop(&mut self) {
        let old = core::mem::take(&mut REGISTRY.lock().viommus);
        drop(old);
    }
}

/// Decides whether `viommu` holds `kvm`, the VM of its device, and records
/// it: `true` if it does (iommufd then holds the VM's file).
///
/// A vIOMMU whose device has no VM holds none.
///
/// # Safety
///
/// `kvm` is NULL or a live VM that stays alive until [`viommu_destroy`] of
/// `viommu` (iommufd holds the VM's file for as long when this returns
/// `true`): [`show`] reads it.
pub(crate) unsafe fn viommu_init(viommu: usize, viommu_id: u32, kvm: *const Kvm) -> Result<bool> {
    if kvm.is_null() {
        return Ok(false);
    }
    REGISTRY.lock().viommus.push(
        ViommuVm {
            viommu,
            viommu_id,
            kvm,
        },
        GFP_KERNEL,
    )?;
    Ok(true)
}

/// Forgets `viommu`, before iommufd drops the VM file it holds.
pub(crate) fn viommu_destroy(viommu: usize) {
    let mut r = REGISTRY.lock();
    if let Some(i) = r.viommus.iter().position(|v| v.viommu == viommu) {
        let _ = r.viommus.remove(i);
    }
}

/// Writes the associations, for debugfs.
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let r = REGISTRY.lock();
    writeln!(f, "viommus: {}", r.viommus.len())?;
    for v in r.viommus.iter() {
        // SAFETY: the vIOMMU holds the VM's file until `viommu_destroy`
        // removes this entry under the lock held here.
        let kvm = unsafe { &*v.kvm };
        writeln!(
            f,
            "  viommu {} vm {} vm_users {}",
            v.viommu_id,
            kvm.stats_id(),
            kvm.users()
        )?;
    }
    writeln!(f, "module_refs: {}", ffi::module_refcount())
}

/// Number of vIOMMUs holding a VM.
#[cfg(ksv_test)]
pub(crate) fn nr_viommus() -> usize {
    REGISTRY.lock().viommus.len()
}

/// Whether `viommu` has a record (holds a VM).
#[cfg(ksv_test)]
pub(crate) fn holds(viommu: usize) -> bool {
    REGISTRY.lock().viommus.iter().any(|v| v.viommu == viommu)
}
