// SPDX-License-Identifier: GPL-2.0

//! Per-SMMU decisions and the VMIDs this module gave out, for debugfs.
//!
//! The VMIDs themselves are owned by the cookies the driver holds (see
//! `ops.rs`): each cookie owns its reservation or pin and a [`Shown`],
//! which removes the cookie's record from here when dropped.

use crate::ffi::Parent;
use crate::kvm::Kvm;
use crate::policy::Decision;
use kernel::{
    device::Device,
    prelude::*,
    str::CString,
    sync::aref::ARef, //
};

/// An SMMU's identity, its device's address: compared, never shown.
///
/// An SMMU's record holds a reference on its device, so no other device
/// takes the address while the record exists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DevKey(usize);

impl DevKey {
    /// The identity of `dev`.
    pub(crate) fn of(dev: &Device) -> Self {
        Self(core::ptr::from_ref(dev) as usize)
    }
}

/// A VM's identity, its address: compared, never shown.
///
/// Only records of vSMMUs whose cookie pins the VM, which the vIOMMU keeps
/// alive, hold one, so no other VM takes the address while they exist.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct VmKey(usize);

impl VmKey {
    /// The identity of `kvm`.
    pub(crate) fn of(kvm: &Kvm) -> Self {
        Self(core::ptr::from_ref(kvm) as usize)
    }
}

/// One SMMU, as seen at its reset.
pub(crate) struct Smmu {
    pub(crate) dev: DevKey,
    /// The SMMU's device, referenced until the record goes.
    pub(crate) device: ARef<Device>,
    pub(crate) idr0: u32,
    pub(crate) btm_detected: bool,
    pub(crate) vmid_bits: u32,
    pub(crate) kvm_bits: Option<u32>,
    pub(crate) decision: Decision,
    /// The test-only BTM override was applied.
    #[cfg(ksv_test)]
    pub(crate) test_override: bool,
}

/// What debugfs shows of a vSMMU using its VM's pinned VMID, and what a
/// new vSMMU of the same VM is checked against. Its cookie owns the pin.
pub(crate) struct Vsmmu {
    pub(crate) smmu: DevKey,
    /// The vIOMMU's iommufd object id, for messages and debugfs.
    pub(crate) viommu_id: u32,
    /// The VM whose VMID the cookie pins.
    pub(crate) vm: VmKey,
    /// The stage-2 parent (`viommu->hwpt`).
    pub(crate) parent: Parent,
    /// The pinned VMID.
    pub(crate) vmid: u16,
    /// The VM's statistics name, `kvm-<pid>`.
    pub(crate) vm_name: CString,
}

/// The identity of a record that a [`Shown`] owns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordId(u64);

/// Everything, under one mutex.
pub(crate) struct State {
    pub(crate) smmus: KVec<Smmu>,
    pub(crate) vsmmus: KVec<(RecordId, Vsmmu)>,
    /// vIOMMUs this module gave no VMID (any reason): the driver fell back
    /// to the stage-2 parent's VMID, without BTM.
    pub(crate) vsmmu_fallbacks: u64,
    next_id: u64,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any use.
    pub(crate) unsafe(uninit) static STATE: Mutex<State> = State {
        smmus: KVec::new(),
        vsmmus: KVec::new(),
        vsmmu_fallbacks: 0,
        next_id: 0,
    };
}

/// A cookie's record in [`STATE`]: removed when this is dropped.
///
/// Only [`State::add_vsmmu`] makes one. Never
/// drop one with [`STATE`] locked: its `Drop` takes the lock.
#[must_use = "dropping it removes the record"]
pub(crate) struct Shown(RecordId);

impl Drop for Shown {
    fn drop(&mut self) {
        let id = self.0;
        let mut st = STATE.lock();
        st.vsmmus.retain(|(r, _)| *r != id);
    }
}

/// Frees what [`STATE`] holds when dropped: a static is never dropped by
/// itself, so without this its vectors and names would leak at unload.
/// The module drops it after unregistering the hooks.
///
/// Only [`Records::init`] makes one.
pub(crate) struct Records(());

impl Records {
    /// Initialises [`STATE`]; its records are freed when the returned value
    /// is dropped.
    ///
    /// # Safety
    ///
    /// Called once, from the module initializer, before any use of
    /// [`STATE`].
    pub(crate) unsafe fn init() -> Self {
        // SAFETY: called once, before any use, per the caller.
        unsafe { STATE.init() };
        Self(())
    }
}

impl Drop for Records {
    fn drop(&mut self) {
        let old = {
            let mut st = STATE.lock();
            (
                core::mem::take(&mut st.smmus),
                core::mem::take(&mut st.vsmmus),
            )
        };
        // The devices' references are put outside the lock. No cookie is
        // left (each holds a reference on this module), so no `Shown` either.
        drop(old);
    }
}

impl State {
    /// The SMMU `dev`, if it was reset while this module was loaded.
    pub(crate) fn smmu(&self, dev: DevKey) -> Option<&Smmu> {
        self.smmus.iter().find(|s| s.dev == dev)
    }

    fn next_id(&mut self) -> RecordId {
        self.next_id += 1;
        RecordId(self.next_id)
    }

    /// Adds a vSMMU's record, removed when the returned value is dropped.
    pub(crate) fn add_vsmmu(&mut self, v: Vsmmu) -> Result<Shown> {
        let id = self.next_id();
        self.vsmmus.push((id, v), GFP_KERNEL)?;
        Ok(Shown(id))
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Writes the debugfs view.
pub(crate) fn show(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let st = STATE.lock();
    writeln!(f, "smmus: {}", st.smmus.len())?;
    writeln!(f, "vsmmu_fallbacks: {}", st.vsmmu_fallbacks)?;
    for s in st.smmus.iter() {
        writeln!(f, "smmu {}:", s.device.name().to_str().unwrap_or("?"))?;
        writeln!(f, "  idr0: {:#010x}", s.idr0)?;
        #[cfg(ksv_test)]
        if s.test_override {
            writeln!(f, "  TEST OVERRIDE: treated as IDR0.HYP set")?;
        }
        writeln!(f, "  btm_detected: {}", yes(s.btm_detected))?;
        writeln!(f, "  btm_in_use: {}", yes(s.decision.use_btm))?;
        writeln!(
            f,
            "  cr2_ptm: {}",
            if s.decision.use_btm {
                "cleared"
            } else {
                "set (upstream)"
            }
        )?;
        writeln!(f, "  vmid_bits: {}", s.vmid_bits)?;
        match s.kvm_bits {
            Some(k) => writeln!(f, "  kvm_vmid_bits: {}", k)?,
            None => writeln!(f, "  kvm_vmid_bits: none")?,
        }
        writeln!(f, "  vmids_from_kvm: {}", yes(s.decision.use_btm))?;
        writeln!(f, "  reason: {}", s.decision.reason)?;
        for (_, v) in st.vsmmus.iter().filter(|(_, v)| v.smmu == s.dev) {
            writeln!(
                f,
                "  vsmmu {}: vmid {} source kvm-pin (vm {})",
                v.viommu_id,
                v.vmid,
                v.vm_name.to_str().unwrap_or("?")
            )?;
        }
    }
    Ok(())
}
