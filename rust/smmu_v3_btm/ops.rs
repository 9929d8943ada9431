// SPDX-License-Identifier: GPL-2.0

//! The `struct arm_smmu_btm_ops` this module registers with the SMMUv3
//! driver. The driver calls them in process context, holding the hooks'
//! rwsem for read.

use crate::ffi::{
    self,
    Reserved,
    VmPin, //
};
use crate::ops_table::OpsTable;
use crate::policy::{
    self,
    Idr0, //
};
use crate::state::{
    Private,
    PrivateView,
    Smmu,
    Vsmmu,
    STATE, //
};
use kernel::{
    alloc::AllocError,
    bindings,
    device::Device,
    prelude::*,
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
/// every SMMU as if `IDR0.BTM` and `IDR0.HYP` were set, so that the
/// BTM-in-use path runs on QEMU, whose SMMUv3 has no BTM. Clearing CR2.PTM
/// there changes nothing.
#[cfg(ksv_test)]
fn test_override(idr0: u32, btm: bool) -> (u32, bool) {
    if crate::module_parameters::test_assume_btm.value() {
        (idr0 | policy::IDR0_BTM | policy::IDR0_HYP, true)
    } else {
        (idr0, btm)
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
/// # Safety
///
/// `dev` is a valid `struct device` with a reference held for the call
/// (the driver's SMMU, or a test's initialised fake); its address is the
/// SMMU's key until [`forget`].
pub(crate) unsafe fn decide_smmu(
    dev: *mut bindings::device,
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
    // SAFETY: `dev` is valid and referenced for the call, per the caller;
    // the record keeps its own reference until `forget`.
    let device: ARef<Device> = unsafe { Device::get_device(dev) };
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
    let smmu = Smmu {
        dev: dev as usize,
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
            .position(|s| s.dev == dev as usize)
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
    let (idr0_used, btm) = test_override(idr0, btm);
    #[cfg(not(ksv_test))]
    let idr0_used = idr0;
    // On failure the SMMU keeps upstream behaviour (PTM set) and this
    // module does not manage its VMIDs (it has no record of it).
    // SAFETY: the driver passes its SMMU device, valid for the call.
    unsafe { decide_smmu(dev, idr0, idr0_used, btm, vmid_bits) }
        .inspect_err(|e| pr_err!("no decision for an SMMU ({:?}): it keeps CR2.PTM set\n", e))
        .unwrap_or(false)
}

/// A VMID for a private stage-2 domain: `None` to use the driver's own.
///
/// On success the reservation is returned, to be given back once to
/// [`private_release`] (the driver holds it, boxed, as the domain's cookie).
pub(crate) fn s2_vmid(dev: usize) -> Result<Option<(u16, Private)>> {
    let mut st = STATE.lock();
    let Some(s) = st.smmu(dev) else {
        return Ok(None);
    };
    if !s.decision.use_btm {
        return Ok(None);
    }
    let bits = s.vmid_bits;
    let res =
        Reserved::new().inspect_err(|e| pr_err!("no KVM VMID for a stage-2 domain: {:?}\n", e))?;
    if !policy::vmid_fits(res.value(), bits) {
        pr_err!(
            "reserved VMID {} does not fit the SMMU's {} bits\n",
            res.value(),
            bits
        );
        return Err(ERANGE);
    }
    let vmid = res.value();
    st.private
        .push(PrivateView { smmu: dev, vmid }, GFP_KERNEL)?;
    Ok(Some((vmid, Private { smmu: dev, res })))
}

/// Releases a private domain's VMID.
pub(crate) fn private_release(entry: Private) {
    {
        let mut st = STATE.lock();
        let vmid = entry.res.value();
        if let Some(i) = st
            .private
            .iter()
            .position(|p| p.smmu == entry.smmu && p.vmid == vmid)
        {
            let _ = st.private.remove(i);
        }
    }
    // The reservation goes here, outside the lock.
    drop(entry);
}

/// The VMID of a new vSMMU: `Ok(0)` to keep the stage-2 parent's.
///
/// `parent` identifies the stage-2 parent (`viommu->hwpt`). Two vSMMUs of
/// one VM on one SMMU share the VM's VMID, so they must share the stage 2
/// too: another parent is refused with `EEXIST`.
///
/// # Safety
///
/// `kvm` is NULL or a live VM that stays alive until [`vsmmu_release`] of
/// `viommu` (its vIOMMU holds the VM's file): the record keeps a pin on
/// the VM's VMID and its address.
pub(crate) unsafe fn vsmmu_vmid(
    dev: usize,
    viommu: usize,
    viommu_id: u32,
    kvm: *mut bindings::kvm,
    parent: usize,
) -> Result<u16> {
    let bits = {
        let st = STATE.lock();
        match st.smmu(dev) {
            Some(s) if s.decision.use_btm => s.vmid_bits,
            _ => return Ok(0),
        }
    };
    if kvm.is_null() {
        pr_err!("BTM is in use: a vSMMU needs the VM of its device (add the VM file to kvm-vfio before binding)\n");
        return Err(EINVAL);
    }
    // SAFETY: `kvm` is alive until the release of `viommu`, which drops
    // the pin, per the caller.
    let pin = unsafe { VmPin::new(kvm) }
        .inspect_err(|e| pr_err!("cannot pin the VM's VMID: {:?}\n", e))?;
    if !policy::vmid_fits(pin.value(), bits) {
        pr_err!(
            "VMID {} does not fit the SMMU's {} bits\n",
            pin.value(),
            bits
        );
        return Err(ERANGE);
    }
    let vmid = pin.value();
    let mut st = STATE.lock();
    if let Some(other) = st
        .vsmmus
        .iter()
        .find(|v| v.smmu == dev && v.pin.kvm() == kvm as usize && v.parent != parent)
    {
        pr_err!(
            "vIOMMU {} refused: vIOMMU {} of the same VM uses VMID {} on this SMMU with another stage-2 parent\n",
            viommu_id,
            other.viommu_id,
            vmid
        );
        drop(st);
        return Err(EEXIST);
    }
    st.vsmmus.push(
        Vsmmu {
            smmu: dev,
            viommu,
            viommu_id,
            parent,
            pin,
        },
        GFP_KERNEL,
    )?;
    Ok(vmid)
}

/// What a VMID cookie given to the driver holds; dropping it gives the
/// VMID back and removes its record, on every path: [`vmid_put`], or a
/// cookie that could not be allocated in [`vmid_get`].
enum Held {
    /// A private stage-2 domain's reservation.
    Private(Option<Private>),
    /// The vIOMMU (an identity) whose vSMMU pins its VM's VMID.
    Vsmmu(usize),
}

impl Drop for Held {
    fn drop(&mut self) {
        match self {
            Held::Private(p) => {
                if let Some(p) = p.take() {
                    private_release(p);
                }
            }
            Held::Vsmmu(viommu) => vsmmu_release(*viommu),
        }
    }
}

/// Test builds: fail the next cookie allocation of [`vmid_get`], as the
/// kernel's fault injection would.
#[cfg(ksv_test)]
pub(crate) static FAIL_NEXT_COOKIE: kernel::sync::atomic::Atomic<bool> =
    kernel::sync::atomic::Atomic::new(false);

/// The cookie's box; in test builds it fails once after
/// [`FAIL_NEXT_COOKIE`] is set.
fn cookie(held: Held) -> Result<KBox<Held>, AllocError> {
    #[cfg(ksv_test)]
    if FAIL_NEXT_COOKIE.xchg(false, kernel::sync::atomic::Relaxed) {
        drop(held);
        return Err(AllocError);
    }
    KBox::new(held, GFP_KERNEL)
}

/// `arm_smmu_btm_ops::vmid_get`: the VMID of a vSMMU (`viommu`) or of a
/// private stage 2 (NULL), with a cookie for [`vmid_put`]; 0 for the
/// driver's own VMID.
///
/// # Safety
///
/// Called by the driver for its SMMU `dev`, with a vIOMMU it is
/// initialising or NULL, and a writable `cookie`.
pub(crate) unsafe extern "C" fn vmid_get(
    dev: *mut bindings::device,
    viommu: *mut bindings::iommufd_viommu,
    cookie: *mut *mut c_void,
) -> c_int {
    let got = if viommu.is_null() {
        s2_vmid(dev as usize).map(|r| r.map(|(vmid, p)| (vmid, Held::Private(Some(p)))))
    } else {
        // SAFETY: `viommu` is being initialised, per the caller.
        let (kvm, parent, id) = unsafe { ffi::viommu_kvm_parent_id(viommu) };
        // SAFETY: the vIOMMU holds the VM's file until after its destroy,
        // whose `vmid_put` releases the vSMMU.
        unsafe { vsmmu_vmid(dev as usize, viommu as usize, id, kvm, parent) }
            .map(|vmid| (vmid != 0).then_some((vmid, Held::Vsmmu(viommu as usize))))
    };
    let (vmid, held) = match got {
        Ok(Some(g)) => g,
        Ok(None) => return 0,
        Err(e) => return e.to_errno(),
    };
    match self::cookie(held) {
        Ok(b) => {
            // SAFETY: `cookie` is writable, per the caller.
            unsafe { *cookie = b.into_foreign() };
            c_int::from(vmid)
        }
        // The failed box dropped `held`, which gave the VMID back and
        // removed its record.
        Err(e) => Error::from(e).to_errno(),
    }
}

/// `arm_smmu_btm_ops::vmid_put`.
///
/// # Safety
///
/// Called by the driver once for each cookie [`vmid_get`] gave it.
pub(crate) unsafe extern "C" fn vmid_put(_dev: *mut bindings::device, cookie: *mut c_void) {
    // Dropping it gives the VMID back.
    // SAFETY: per the contract, `cookie` is a `KBox<Held>` that `vmid_get`
    // gave up with `into_foreign()`, given back only now.
    drop(unsafe { KBox::<Held>::from_foreign(cookie) });
}

/// Drops a vSMMU's pin; a no-op for an unknown vIOMMU.
pub(crate) fn vsmmu_release(viommu: usize) {
    let entry = {
        let mut st = STATE.lock();
        let i = st.vsmmus.iter().position(|v| v.viommu == viommu);
        i.and_then(|i| st.vsmmus.remove(i).ok())
    };
    // May drop the last VM reference: outside the lock.
    drop(entry);
}

/// Forgets an SMMU, and the module reference it held with BTM in use.
pub(crate) fn forget(dev: usize) {
    let old = {
        let mut st = STATE.lock();
        let i = st.smmus.iter().position(|s| s.dev == dev);
        i.and_then(|i| st.smmus.remove(i).ok())
    };
    drop(old);
}

/// `arm_smmu_btm_ops::remove`.
///
/// # Safety
///
/// Called when the SMMU device is removed.
pub(crate) unsafe extern "C" fn remove(dev: *mut bindings::device) {
    forget(dev as usize);
}
