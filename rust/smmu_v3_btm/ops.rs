// SPDX-License-Identifier: GPL-2.0

//! The `struct arm_smmu_btm_ops` this module registers with the SMMUv3
//! driver. The driver calls them in process context, holding the hooks'
//! rwsem for read.
//!
//! Each VMID this module gives the driver is a vSMMU's: owned by the
//! cookie the driver holds until `vmid_put`, a [`VsmmuVmid`] (a pin of the
//! VM's VMID), which also owns the VMID's debugfs record ([`Shown`]). The
//! driver gives private stage-2 domains their VMIDs itself.
//!
//! A VMM can ask for vIOMMUs at will, so a refusal is said once per reason
//! (`pr_warn_once!`), with the details at debug level (`dev_dbg!`). The
//! driver then falls back to the stage-2 parent's VMID, without BTM
//! (counted in debugfs as `vsmmu_fallbacks`).

use crate::ffi::{
    self,
    Parent,
    Viommu,
    VmPin, //
};
use crate::kvm::Kvm;
use crate::ops_table::OpsTable;
use crate::policy::{
    self,
    Idr0, //
};
use crate::state::{
    DevKey,
    Shown,
    Smmu,
    VmKey,
    Vsmmu,
    STATE, //
};
use kernel::{
    alloc::AllocError,
    bindings,
    device::Device,
    prelude::*,
    str::CString,
    sync::aref::ARef,
    types::ForeignOwnable, //
};

/// The ops table handed to `arm_smmu_btm_register()`.
pub(crate) static OPS: OpsTable<bindings::arm_smmu_btm_ops> =
    OpsTable(bindings::arm_smmu_btm_ops {
        owner: kernel::module::this_module::<crate::SmmuV3Btm>().as_ptr(),
        use_btm: Some(use_btm),
        vmid_get: Some(vmid_get),
        vmid_put: Some(vmid_put),
        remove: Some(remove),
    });

/// TEST ONLY (built with `--cfg ksv_test`, never in production): treat
/// every SMMU as if `IDR0.HYP` were set, so that the BTM-in-use path runs
/// on QEMU's SMMUv3, which has no HYP, in an nVHE host too. It never
/// assumes `IDR0.BTM`: the driver clears CR2.PTM only on an SMMU that has
/// BTM after its errata, so the test boots run QEMU with BTM emulated.
#[cfg(ksv_test)]
fn test_override(idr0: u32) -> u32 {
    if crate::module_parameters::test_assume_btm.value() {
        idr0 | policy::IDR0_HYP
    } else {
        idr0
    }
}

/// Decides for an SMMU at reset; see [`policy::decide`].
///
/// With BTM in use the driver holds a reference on this module (the ops'
/// `owner`) until the SMMU is removed: CR2.PTM cannot be set again while it
/// runs, and without this module its new stage-2 VMIDs would alias KVM's.
///
/// `idr0` is what the decision reads; in test builds the driver's call
/// passes it through [`test_override`], the KUnit tests' fake SMMUs never
/// do. `idr0_read` is what the SMMU has, for debugfs.
///
/// `dev` is the driver's SMMU, or a test's fake; the record keeps a
/// reference on it until [`forget`].
pub(crate) fn decide_smmu(
    dev: &Device,
    idr0_read: u32,
    idr0: u32,
    btm: bool,
    vmid_bits: u32,
) -> Result<bool> {
    let id = Idr0::decode(idr0);
    let host = ffi::Host::query();
    let decision = policy::decide(
        id,
        id.btm && !btm,
        host.vhe,
        vmid_bits,
        host.kvm_vmid_bits,
        host.pinning,
    );
    // The record's own reference, until `forget`.
    let device: ARef<Device> = dev.into();
    #[cfg(ksv_test)]
    if idr0 != idr0_read {
        dev_warn!(
            device,
            "smmu_v3_btm: TEST OVERRIDE test_assume_btm: IDR0 {:#010x} treated as {:#010x}\n",
            idr0_read,
            idr0
        );
    }
    dev_info!(
        device,
        "smmu_v3_btm: {} (IDR0.BTM {}, CR2.PTM {})\n",
        decision.reason,
        u8::from(id.btm),
        if decision.use_btm { "cleared" } else { "set" }
    );
    if decision.use_btm {
        dev_info!(
            device,
            "smmu_v3_btm cannot be unloaded while this SMMU runs with BTM\n"
        );
    }
    let key = DevKey::of(dev);
    let smmu = Smmu {
        dev: key,
        device,
        idr0: idr0_read,
        #[cfg(ksv_test)]
        test_override: idr0 != idr0_read,
        btm_detected: id.btm,
        vmid_bits,
        kvm_bits: host.kvm_vmid_bits,
        decision,
    };
    let old = {
        let mut st = STATE.lock();
        let old = st
            .smmus
            .iter()
            .position(|s| s.dev == key)
            .and_then(|i| st.smmus.remove(i).ok());
        st.smmus.push(smmu, GFP_KERNEL)?;
        old
    };
    drop(old);
    Ok(decision.use_btm)
}

/// `arm_smmu_btm_ops::use_btm`.
///
/// # Safety
///
/// Called by `arm_smmu_device_reset()` with its SMMU device.
pub(crate) unsafe extern "C" fn use_btm(
    dev: *mut bindings::device,
    idr0: u32,
    btm: bool,
    vmid_bits: u32,
) -> bool {
    #[cfg(ksv_test)]
    let idr0_used = test_override(idr0);
    #[cfg(not(ksv_test))]
    let idr0_used = idr0;
    // SAFETY: the driver passes its SMMU device, with a reference held for
    // the call.
    let dev = unsafe { Device::from_raw(dev) };
    // On failure the SMMU keeps upstream behaviour (PTM set) and this
    // module does not manage its VMIDs (it has no record of it).
    decide_smmu(dev, idr0, idr0_used, btm, vmid_bits)
        .inspect_err(|e| {
            dev_err!(
                dev,
                "smmu_v3_btm: no decision ({:?}): CR2.PTM stays set\n",
                e
            )
        })
        .unwrap_or(false)
}

/// A vSMMU's VMID, its VM's pinned VMID: the cookie the driver holds for
/// the vIOMMU.
///
/// Fields drop in order: the record goes, then the pin.
pub(crate) struct VsmmuVmid {
    _shown: Shown,
    pin: VmPin,
}

impl VsmmuVmid {
    /// The VMID.
    pub(crate) fn value(&self) -> u16 {
        self.pin.value()
    }
}

/// The VMID width of the SMMU at `key` if it runs with BTM, whose
/// stage-2 VMIDs this module gives; `None` otherwise.
fn btm_vmid_bits(key: DevKey) -> Option<u32> {
    let st = STATE.lock();
    st.smmu(key)
        .filter(|s| s.decision.use_btm)
        .map(|s| s.vmid_bits)
}

/// The VMID of a new vSMMU, its VM's pinned VMID: `Ok(None)` to keep the
/// stage-2 parent's (the SMMU does not use BTM).
///
/// `viommu_id` is the vIOMMU's iommufd id, `vm` the VM whose file it holds,
/// `parent` its stage-2 parent. Two vSMMUs of one VM on one SMMU share the
/// VM's VMID, so they must share the stage 2 too: another parent is
/// refused with `EEXIST`. Every refusal is said once per reason; the
/// driver then falls back to the parent's VMID.
///
/// # Safety
///
/// `vm`, if any, stays alive until the returned cookie is dropped (its
/// vIOMMU holds the VM's file until after `vmid_put`).
pub(crate) unsafe fn vsmmu_vmid(
    dev: &Device,
    viommu_id: u32,
    vm: Option<&Kvm>,
    parent: Parent,
) -> Result<Option<VsmmuVmid>> {
    let key = DevKey::of(dev);
    let Some(bits) = btm_vmid_bits(key) else {
        return Ok(None);
    };
    let Some(kvm) = vm else {
        kernel::pr_warn_once!(
            "a vIOMMU without a VM gets its stage-2 parent's VMID, without BTM (add the VM file to kvm-vfio before binding)\n"
        );
        dev_dbg!(dev, "smmu_v3_btm: vIOMMU {}: no VM\n", viommu_id);
        return Err(EINVAL);
    };
    // SAFETY: the VM stays alive until the cookie, which owns the pin, is
    // dropped, per the caller. `VmPin::new` says why it failed, once.
    let pin = unsafe { VmPin::new(kvm) }
        .inspect_err(|e| dev_dbg!(dev, "smmu_v3_btm: vIOMMU {}: pin: {:?}\n", viommu_id, e))?;
    if !policy::vmid_fits(pin.value(), bits) {
        kernel::pr_err_once!(
            "VMID {} does not fit the SMMU's {} bits (bug)\n",
            pin.value(),
            bits
        );
        return Err(ERANGE);
    }
    let vmid = pin.value();
    let record = Vsmmu {
        smmu: key,
        viommu_id,
        vm: VmKey::of(kvm),
        parent,
        vmid,
        vm_name: CString::try_from_fmt(fmt!("{}", pin.vm_name()))?,
    };
    let mut st = STATE.lock();
    let conflict = st
        .vsmmus
        .iter()
        .find(|(_, v)| v.smmu == key && v.vm == record.vm && v.parent != parent)
        .map(|(_, v)| v.viommu_id);
    if let Some(other_id) = conflict {
        drop(st);
        kernel::pr_warn_once!(
            "a second stage-2 parent for one VM on one SMMU: that vIOMMU gets its parent's VMID, without BTM\n"
        );
        dev_dbg!(
            dev,
            "smmu_v3_btm: vIOMMU {}: vIOMMU {} of the same VM uses VMID {} with another stage-2 parent\n",
            viommu_id,
            other_id,
            vmid
        );
        // The pin goes after the lock.
        return Err(EEXIST);
    }
    let shown = st.add_vsmmu(record)?;
    drop(st);
    Ok(Some(VsmmuVmid { _shown: shown, pin }))
}

/// What a VMID cookie given to the driver holds: a vSMMU's pin of its
/// VM's VMID. Dropping it gives the VMID back and removes its record, on
/// every path: [`vmid_put`], or a cookie that could not be allocated in
/// [`vmid_get`].
type Held = VsmmuVmid;

/// The cookie's box.
pub(crate) fn cookie(held: Held) -> Result<KBox<Held>, AllocError> {
    KBox::new(held, GFP_KERNEL)
}

/// Counts a vIOMMU that gets no VMID from this module, for debugfs.
fn vsmmu_fallback() {
    STATE.lock().vsmmu_fallbacks += 1;
}

/// `arm_smmu_btm_ops::vmid_get`: the VMID of a vSMMU (`viommu`), with a
/// cookie for [`vmid_put`]; 0 for its stage-2 parent's VMID. The driver
/// gives private stage-2 domains their VMIDs itself.
///
/// An error (e.g. no VM, the pin cap, `EEXIST`) is a "no": the driver
/// falls back to the stage-2 parent's VMID, without BTM.
///
/// # Safety
///
/// Called by the driver for its SMMU `dev`, with a vIOMMU it is
/// initialising (which holds its VM's file, if any, until after the
/// [`vmid_put`] of the cookie), and a writable `cookie`.
pub(crate) unsafe extern "C" fn vmid_get(
    dev: *mut bindings::device,
    viommu: *mut bindings::iommufd_viommu,
    cookie: *mut *mut c_void,
) -> c_int {
    // SAFETY: the driver's SMMU device, referenced for the call.
    let dev = unsafe { Device::from_raw(dev) };
    if viommu.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the vIOMMU is being initialised, and stays valid with its VM
    // file for this call, per the caller.
    let viommu = unsafe { Viommu::from_raw(viommu) };
    // SAFETY: the vIOMMU holds the VM's file until after its destroy, whose
    // `vmid_put` drops the cookie.
    let got = unsafe { vsmmu_vmid(dev, viommu.id(), viommu.vm(), viommu.parent()) };
    let held = match got {
        Ok(Some(held)) => held,
        Ok(None) => return 0,
        Err(e) => {
            vsmmu_fallback();
            return e.to_errno();
        }
    };
    let vmid = held.value();
    match self::cookie(held) {
        Ok(b) => {
            // SAFETY: `cookie` is writable, per the caller.
            unsafe { *cookie = b.into_foreign() };
            c_int::from(vmid)
        }
        // The failed box dropped `held`, which gave the VMID back and
        // removed its record.
        Err(e) => {
            vsmmu_fallback();
            Error::from(e).to_errno()
        }
    }
}

/// `arm_smmu_btm_ops::vmid_put`.
///
/// # Safety
///
/// Called by the driver once for each cookie [`vmid_get`] gave it.
pub(crate) unsafe extern "C" fn vmid_put(_dev: *mut bindings::device, cookie: *mut c_void) {
    // Dropping it removes the record and gives the VMID back.
    // SAFETY: per the contract, `cookie` is a `KBox<Held>` that `vmid_get`
    // gave up with `into_foreign()`, given back only now.
    drop(unsafe { KBox::<Held>::from_foreign(cookie) });
}

/// Forgets the SMMU `dev`, and the module reference it held with BTM in
/// use.
pub(crate) fn forget(dev: &Device) {
    let key = DevKey::of(dev);
    let old = {
        let mut st = STATE.lock();
        let i = st.smmus.iter().position(|s| s.dev == key);
        i.and_then(|i| st.smmus.remove(i).ok())
    };
    // The record's device reference is put outside the lock.
    drop(old);
}

/// `arm_smmu_btm_ops::remove`.
///
/// # Safety
///
/// Called when the SMMU device is removed, with a reference held for the
/// call.
pub(crate) unsafe extern "C" fn remove(dev: *mut bindings::device) {
    // SAFETY: the driver's SMMU device, referenced for the call.
    forget(unsafe { Device::from_raw(dev) });
}
