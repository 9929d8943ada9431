// SPDX-License-Identifier: GPL-2.0

//! The `struct arm_smmu_btm_ops` this module registers with the SMMUv3
//! driver. The driver calls them in process context, holding the hooks'
//! rwsem for read.

use crate::device;
use crate::hooks::{
    self,
    Reserved,
    VmPin, //
};
use crate::module_ref;
use crate::regs::{
    self,
    Idr0, //
};
use crate::state::{
    Private,
    Smmu,
    Vsmmu,
    STATE, //
};
use kernel::{
    bindings,
    prelude::*, //
};

/// The ops table handed to `arm_smmu_btm_register()`.
pub(crate) static OPS: bindings::arm_smmu_btm_ops = bindings::arm_smmu_btm_ops {
    cr2: Some(cr2),
    s2_vmid_get: Some(s2_vmid_get),
    s2_vmid_put: Some(s2_vmid_put),
    vsmmu_vmid_get: Some(vsmmu_vmid_get),
    vsmmu_vmid_put: Some(vsmmu_vmid_put),
    remove: Some(remove),
};

/// Whether VMIDs can be pinned: probes a reservation.
fn pinning_available() -> bool {
    Reserved::new().is_ok()
}

/// Decides for an SMMU at reset; see [`regs::decide`].
pub(crate) fn decide_smmu(
    dev: *mut bindings::device,
    idr0: u32,
    btm: bool,
    vmid_bits: u32,
    cr2: u32,
) -> Result<u32> {
    let id = Idr0::decode(idr0);
    let kvm_bits = hooks::kvm_vmid_bits();
    let decision = regs::decide(
        id,
        id.btm && !btm,
        hooks::host_vhe(),
        vmid_bits,
        kvm_bits,
        pinning_available(),
    );
    let value = regs::cr2(decision.use_btm, cr2 & regs::CR2_E2H != 0);
    // SAFETY: the driver passes its SMMU device.
    let name = unsafe { device::dev_name(dev) }?;
    pr_info!(
        "{}: {} (IDR0.BTM {}, CR2 {:#x})\n",
        name.to_str().unwrap_or("?"),
        decision.reason,
        u8::from(id.btm),
        value
    );
    let smmu = Smmu {
        dev: dev as usize,
        name,
        idr0,
        btm_detected: id.btm,
        vmid_bits,
        kvm_bits,
        cr2: value,
        decision,
    };
    let mut st = STATE.lock();
    st.smmus.retain(|s| s.dev != dev as usize);
    st.smmus.push(smmu, GFP_KERNEL)?;
    Ok(value)
}

/// `arm_smmu_btm_ops::cr2`.
///
/// # Safety
///
/// Called by `arm_smmu_device_reset()` with its SMMU device.
pub(crate) unsafe extern "C" fn cr2(
    dev: *mut bindings::device,
    idr0: u32,
    btm: bool,
    vmid_bits: u32,
    cr2: u32,
) -> u32 {
    // On failure the SMMU keeps the upstream value (PTM set) and this
    // module does not manage its VMIDs (it has no record of it).
    decide_smmu(dev, idr0, btm, vmid_bits, cr2).unwrap_or(cr2)
}

/// A VMID for a private stage-2 domain.
pub(crate) fn s2_vmid(dev: usize) -> Result<Option<(u16, usize)>> {
    let mut st = STATE.lock();
    if !st.smmu(dev).is_some_and(|s| s.decision.share_vmids) {
        return Ok(None);
    }
    let res =
        Reserved::new().inspect_err(|e| pr_err!("no KVM VMID for a stage-2 domain: {:?}\n", e))?;
    if !module_ref::get::<crate::SmmuV3Btm>() {
        return Err(ENODEV);
    }
    let vmid = res.value();
    let key = res.key();
    st.private
        .push(Private { smmu: dev, res }, GFP_KERNEL)
        .inspect_err(|_| module_ref::put::<crate::SmmuV3Btm>())?;
    Ok(Some((vmid, key)))
}

/// `arm_smmu_btm_ops::s2_vmid_get`.
///
/// # Safety
///
/// Called by the driver when it finalises a stage-2 domain; `cookie` is
/// writable.
pub(crate) unsafe extern "C" fn s2_vmid_get(
    dev: *mut bindings::device,
    cookie: *mut *mut c_void,
) -> c_int {
    match s2_vmid(dev as usize) {
        Ok(None) => 0,
        Ok(Some((vmid, key))) => {
            // SAFETY: `cookie` is writable, per the caller.
            unsafe { *cookie = key as *mut c_void };
            c_int::from(vmid)
        }
        Err(e) => e.to_errno(),
    }
}

/// Releases a private domain's VMID.
pub(crate) fn s2_vmid_release(key: usize) {
    let entry = {
        let mut st = STATE.lock();
        let i = st.private.iter().position(|p| p.res.key() == key);
        i.and_then(|i| st.private.remove(i).ok())
    };
    if entry.is_some() {
        drop(entry);
        module_ref::put::<crate::SmmuV3Btm>();
    }
}

/// `arm_smmu_btm_ops::s2_vmid_put`.
///
/// # Safety
///
/// Called by the driver when it frees a domain whose VMID came from
/// [`s2_vmid_get`], with that cookie.
pub(crate) unsafe extern "C" fn s2_vmid_put(_dev: *mut bindings::device, cookie: *mut c_void) {
    s2_vmid_release(cookie as usize);
}

/// The VMID of a new vSMMU: `Ok(0)` to keep the stage-2 parent's.
pub(crate) fn vsmmu_vmid(dev: usize, viommu: usize, kvm: *mut bindings::kvm) -> Result<u16> {
    let (use_btm, bits) = {
        let st = STATE.lock();
        match st.smmu(dev) {
            Some(s) if s.decision.share_vmids => (s.decision.use_btm, s.vmid_bits),
            _ => return Ok(0),
        }
    };
    if kvm.is_null() {
        if use_btm {
            pr_err!("BTM is in use: a vSMMU needs the VM of its device (add the VM file to kvm-vfio before binding)\n");
            return Err(EINVAL);
        }
        // The parent's VMID is a KVM reservation: no alias either way.
        return Ok(0);
    }
    // SAFETY: iommufd_kvm holds a reference on `viommu->kvm`.
    let pin = unsafe { VmPin::new(kvm) }
        .inspect_err(|e| pr_err!("cannot pin the VM's VMID: {:?}\n", e))?;
    if u32::from(pin.value()) >= 1 << bits {
        pr_err!(
            "VMID {} does not fit the SMMU's {} bits\n",
            pin.value(),
            bits
        );
        return Err(ERANGE);
    }
    if !module_ref::get::<crate::SmmuV3Btm>() {
        return Err(ENODEV);
    }
    let vmid = pin.value();
    STATE
        .lock()
        .vsmmus
        .push(
            Vsmmu {
                smmu: dev,
                viommu,
                pin,
            },
            GFP_KERNEL,
        )
        .inspect_err(|_| module_ref::put::<crate::SmmuV3Btm>())?;
    Ok(vmid)
}

/// `arm_smmu_btm_ops::vsmmu_vmid_get`.
///
/// # Safety
///
/// Called by `arm_vsmmu_init()` for a vIOMMU being initialised.
pub(crate) unsafe extern "C" fn vsmmu_vmid_get(
    dev: *mut bindings::device,
    viommu: *mut bindings::iommufd_viommu,
    _s2_vmid: u16,
) -> c_int {
    // SAFETY: `viommu` is being initialised, per the caller.
    let kvm = unsafe { hooks::viommu_kvm(viommu) };
    match vsmmu_vmid(dev as usize, viommu as usize, kvm) {
        Ok(v) => c_int::from(v),
        Err(e) => e.to_errno(),
    }
}

/// Drops a vSMMU's pin; a no-op for an unknown vIOMMU.
pub(crate) fn vsmmu_release(viommu: usize) {
    let entry = {
        let mut st = STATE.lock();
        let i = st.vsmmus.iter().position(|v| v.viommu == viommu);
        i.and_then(|i| st.vsmmus.remove(i).ok())
    };
    if let Some(entry) = entry {
        // May drop the last VM reference: outside the lock.
        drop(entry);
        module_ref::put::<crate::SmmuV3Btm>();
    }
}

/// `arm_smmu_btm_ops::vsmmu_vmid_put`.
///
/// # Safety
///
/// Called by the vSMMU's destroy.
pub(crate) unsafe extern "C" fn vsmmu_vmid_put(
    _dev: *mut bindings::device,
    viommu: *mut bindings::iommufd_viommu,
) {
    vsmmu_release(viommu as usize);
}

/// Forgets an SMMU.
pub(crate) fn forget(dev: usize) {
    STATE.lock().smmus.retain(|s| s.dev != dev);
}

/// `arm_smmu_btm_ops::remove`.
///
/// # Safety
///
/// Called when the SMMU device is removed.
pub(crate) unsafe extern "C" fn remove(dev: *mut bindings::device) {
    forget(dev as usize);
}
