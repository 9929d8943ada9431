// SPDX-License-Identifier: GPL-2.0

//! Per-SMMU decisions and the VMIDs this module gave out.

use crate::ffi::{
    Reserved,
    VmPin, //
};
use crate::policy::Decision;
use kernel::{
    device::Device,
    prelude::*,
    sync::aref::ARef, //
};

/// One SMMU, as seen at its reset.
pub(crate) struct Smmu {
    pub(crate) dev: usize,
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

/// A vSMMU using its VM's pinned VMID.
pub(crate) struct Vsmmu {
    pub(crate) smmu: usize,
    pub(crate) viommu: usize,
    /// The vIOMMU's iommufd object id, for messages and debugfs.
    pub(crate) viommu_id: u32,
    /// The stage-2 parent (`viommu->hwpt`), as an identity: never shown.
    pub(crate) parent: usize,
    pub(crate) pin: VmPin,
}

/// A private stage-2 domain's VMID, reserved from KVM.
///
/// Owned by the domain: boxed and handed to the driver as its cookie
/// (`ForeignOwnable`), given back when the domain is freed.
pub(crate) struct Private {
    pub(crate) smmu: usize,
    pub(crate) res: Reserved,
}

/// What debugfs shows of a private domain.
pub(crate) struct PrivateView {
    pub(crate) smmu: usize,
    pub(crate) vmid: u16,
}

/// Everything, under one mutex.
pub(crate) struct State {
    pub(crate) smmus: KVec<Smmu>,
    pub(crate) vsmmus: KVec<Vsmmu>,
    pub(crate) private: KVec<PrivateView>,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any use.
    pub(crate) unsafe(uninit) static STATE: Mutex<State> = State {
        smmus: KVec::new(),
        vsmmus: KVec::new(),
        private: KVec::new(),
    };
}

/// Frees what [`STATE`] holds when dropped: a static is never dropped by
/// itself, so without this its vectors and names would leak at unload.
/// The module drops it after unregistering the hooks.
pub(crate) struct Records(pub(crate) ());

impl Drop for Records {
    fn drop(&mut self) {
        let old = {
            let mut st = STATE.lock();
            (
                core::mem::take(&mut st.smmus),
                core::mem::take(&mut st.vsmmus),
                core::mem::take(&mut st.private),
            )
        };
        // VMIDs and module references are released outside the lock.
        drop(old);
    }
}

impl State {
    /// The SMMU at `dev`, if it was reset while this module was loaded.
    pub(crate) fn smmu(&self, dev: usize) -> Option<&Smmu> {
        self.smmus.iter().find(|s| s.dev == dev)
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
    for s in st.smmus.iter() {
        writeln!(f, "smmu {}:", s.device.name().to_str().unwrap_or("?"))?;
        writeln!(f, "  idr0: {:#010x}", s.idr0)?;
        #[cfg(ksv_test)]
        if s.test_override {
            writeln!(f, "  TEST OVERRIDE: treated as IDR0.BTM and IDR0.HYP set")?;
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
        for v in st.vsmmus.iter().filter(|v| v.smmu == s.dev) {
            writeln!(
                f,
                "  vsmmu {}: vmid {} source kvm-pin (vm {})",
                v.viommu_id,
                v.pin.value(),
                v.pin.vm_name()
            )?;
        }
        for p in st.private.iter().filter(|p| p.smmu == s.dev) {
            writeln!(f, "  s2 domain: vmid {} source kvm-reserved", p.vmid)?;
        }
    }
    Ok(())
}
