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
//! - Every association holds a module reference, so the module cannot be
//!   unloaded while iommufd objects point at it.

use crate::device;
use crate::glue;
use crate::kvm::Kvm;
use crate::module_ref;
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
    if !module_ref::get::<crate::IommufdKvm>() {
        return Err(ENODEV);
    }
    r.bindings
        .push(
            Binding {
                idev,
                dev,
                kvm: kvm as usize,
            },
            GFP_KERNEL,
        )
        .inspect_err(|_| module_ref::put::<crate::IommufdKvm>())?;
    Ok(())
}

/// Forgets `idev`; a no-op if it is unknown.
pub(crate) fn unbind(idev: usize) {
    let mut r = REGISTRY.lock();
    if let Some(i) = r.bindings.iter().position(|b| b.idev == idev) {
        r.bindings.remove(i).ok();
        module_ref::put::<crate::IommufdKvm>();
    }
}

/// Gives `viommu` a reference on `kvm`, the VM of device `idev`.
///
/// Returns the VM to store in `viommu->kvm`, or NULL if no VM is known.
pub(crate) fn viommu_init(
    viommu: usize,
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
    if !module_ref::get::<crate::IommufdKvm>() {
        return Err(ENODEV);
    }
    let raw = vm.as_raw();
    let mut r = REGISTRY.lock();
    if let Err(e) = r.viommus.push(
        ViommuVm {
            viommu,
            idev,
            kvm: vm,
        },
        GFP_KERNEL,
    ) {
        drop(r);
        module_ref::put::<crate::IommufdKvm>();
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
    if let Some(entry) = entry {
        // The last reference may destroy the VM: outside the lock.
        drop(entry);
        module_ref::put::<crate::IommufdKvm>();
    }
}

/// Writes the associations, for debugfs.
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let r = REGISTRY.lock();
    writeln!(f, "devices: {}", r.bindings.len())?;
    for b in r.bindings.iter() {
        let dev = b.dev.to_str().unwrap_or("?");
        write!(f, "  device {} idev {:#x} vm ", dev, b.idev)?;
        if b.kvm == 0 {
            writeln!(f, "none")?;
        } else {
            writeln!(f, "{:#x}", b.kvm)?;
        }
    }
    writeln!(f, "viommus: {}", r.viommus.len())?;
    for v in r.viommus.iter() {
        let dev = r.bindings.iter().find(|b| b.idev == v.idev);
        writeln!(
            f,
            "  viommu {:#x} device {} vm {:#x} vm_users {}",
            v.viommu,
            dev.map_or("(unbound)", |b| b.dev.to_str().unwrap_or("?")),
            v.kvm.as_raw() as usize,
            v.kvm.users()
        )?;
    }
    writeln!(f, "module_refs: {}", glue::module_refcount())
}

/// Number of vIOMMUs holding a VM.
pub(crate) fn nr_viommus() -> usize {
    REGISTRY.lock().viommus.len()
}

/// Number of bound devices known.
pub(crate) fn nr_bindings() -> usize {
    REGISTRY.lock().bindings.len()
}
