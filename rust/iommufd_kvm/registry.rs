// SPDX-License-Identifier: GPL-2.0

//! Which VM each bound device and each vIOMMU belongs to.
//!
//! # Rules
//!
//! - A device is associated with the VM its driver bound it for
//!   (`vdev->kvm` for VFIO), or with none. VFIO references that VM from open
//!   to close, so the device's VM needs no reference of ours. Adding or
//!   removing the VM file on the kvm-vfio device afterwards changes nothing
//!   for a bound device: VFIO reads it at the next open.
//! - A vIOMMU created with a device that has a VM takes its own reference
//!   on the VM ([`ARef<Kvm>`]) and keeps it until it is destroyed, even if
//!   the VMM closes the VM or unbinds the device first. A vIOMMU whose
//!   device has no VM gets `viommu->kvm == NULL`.
//! - A VM that is already being destroyed cannot be attached: `EINVAL`.
//! - A second bind of the same device, an unbind or destroy of something
//!   unknown (bound before this module was loaded), are no-ops.
//! - iommufd holds a reference on this module (the ops' `owner`) for every
//!   bound device and every vIOMMU given a VM, so the module cannot be
//!   unloaded while iommufd objects point at it.

use crate::device;
use crate::ffi;
use crate::kvm::Kvm;
use kernel::{bindings, prelude::*, str::CString, sync::aref::ARef};

/// A device bound to iommufd.
pub(crate) struct Binding {
    idev: usize,
    dev: CString,
    kvm: usize,
}

/// A vIOMMU holding a VM.
pub(crate) struct ViommuVm {
    viommu: usize,
    viommu_id: u32,
    idev: usize,
    kvm: ARef<Kvm>,
}

/// All associations.
pub(crate) struct Registry {
    bindings: KVVec<Binding>,
    viommus: KVVec<ViommuVm>,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any use.
    pub(crate) unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry {
        bindings: KVVec::new(),
        viommus: KVVec::new(),
    };
}

/// Frees what [`REGISTRY`] holds when dropped: a static is never dropped
/// by itself, so without this its vectors and names would leak at unload.
/// The module drops it after unregistering the ops.
pub(crate) struct Records(pub(crate) ());

impl Drop for Records {
    fn drop(&mut self) {
        let old = {
            let mut r = REGISTRY.lock();
            (
                core::mem::take(&mut r.bindings),
                core::mem::take(&mut r.viommus),
            )
        };
        // VM and module references are dropped outside the lock.
        drop(old);
    }
}

/// Records that `idev` (device `dev`) was bound for `kvm` (maybe NULL).
pub(crate) fn bind(idev: usize, dev: *mut bindings::device, kvm: *mut bindings::kvm) -> Result {
    // SAFETY: iommufd passes the bound device.
    let dev = unsafe { device::dev_name(dev) }?;
    let mut r = REGISTRY.lock();
    if r.bindings.iter().any(|b| b.idev == idev) {
        pr_warn!(
            "device {} bound twice (ignored)\n",
            dev.to_str().unwrap_or("?")
        );
        return Ok(());
    }
    r.bindings.push(
        Binding {
            idev,
            dev,
            kvm: kvm as usize,
        },
        GFP_KERNEL,
    )?;
    Ok(())
}

/// Forgets `idev`; a no-op if it is unknown.
pub(crate) fn unbind(idev: usize) {
    let old = {
        let mut r = REGISTRY.lock();
        let i = r.bindings.iter().position(|b| b.idev == idev);
        i.and_then(|i| r.bindings.remove(i).ok())
    };
    drop(old);
}

/// Gives `viommu` a reference on `kvm`, the VM of device `idev`.
///
/// Returns the VM to store in `viommu->kvm`, or NULL if no VM is known.
pub(crate) fn viommu_init(
    viommu: usize,
    viommu_id: u32,
    idev: usize,
    kvm: *mut bindings::kvm,
) -> Result<*mut bindings::kvm> {
    if kvm.is_null() {
        return Ok(core::ptr::null_mut());
    }
    // SAFETY: the binding driver holds a reference on `kvm` while `idev` is
    // bound, so its memory is valid.
    let vm = unsafe { Kvm::try_get(kvm) }.ok_or_else(|| {
        pr_warn!("vIOMMU refused: its device's VM is being destroyed\n");
        EINVAL
    })?;
    let raw = vm.as_raw();
    let entry = ViommuVm {
        viommu,
        viommu_id,
        idev,
        kvm: vm,
    };
    let mut r = REGISTRY.lock();
    if let Err(e) = r.viommus.push(entry, GFP_KERNEL) {
        drop(r);
        // The entry (VM and module references) was dropped by the failed
        // push; `kvm_put_kvm()` may sleep, which the mutex allows.
        return Err(e.into());
    }
    Ok(raw)
}

/// Drops the VM reference of `viommu`; a no-op if it holds none.
pub(crate) fn viommu_destroy(viommu: usize) {
    let entry = {
        let mut r = REGISTRY.lock();
        let i = r.viommus.iter().position(|v| v.viommu == viommu);
        i.and_then(|i| r.viommus.remove(i).ok())
    };
    // The last reference may destroy the VM: outside the lock.
    drop(entry);
}

/// Writes the associations, for debugfs.
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let r = REGISTRY.lock();
    writeln!(f, "devices: {}", r.bindings.len())?;
    for b in r.bindings.iter() {
        let dev = b.dev.to_str().unwrap_or("?");
        writeln!(
            f,
            "  device {} vm {}",
            dev,
            if b.kvm == 0 { "none" } else { "yes" }
        )?;
    }
    writeln!(f, "viommus: {}", r.viommus.len())?;
    for v in r.viommus.iter() {
        let dev = r.bindings.iter().find(|b| b.idev == v.idev);
        writeln!(
            f,
            "  viommu {} device {} vm {} vm_users {}",
            v.viommu_id,
            dev.map_or("(unbound)", |b| b.dev.to_str().unwrap_or("?")),
            v.kvm.stats_id(),
            v.kvm.users()
        )?;
    }
    writeln!(f, "module_refs: {}", ffi::module_refcount())
}

/// Number of vIOMMUs holding a VM.
#[cfg(ksv_test)]
pub(crate) fn nr_viommus() -> usize {
    REGISTRY.lock().viommus.len()
}

/// Number of bound devices known.
#[cfg(ksv_test)]
pub(crate) fn nr_bindings() -> usize {
    REGISTRY.lock().bindings.len()
}
