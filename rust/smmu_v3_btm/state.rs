// SPDX-License-Identifier: GPL-2.0

//! Per-SMMU decisions and the VMIDs this module gave out.

use crate::hooks::{
    Reserved,
    VmPin, //
};
use crate::regs::Decision;
use kernel::{
    prelude::*,
    str::CString, //
};

/// One SMMU, as seen at its reset.
pub(crate) struct Smmu {
    pub(crate) dev: usize,
    pub(crate) name: CString,
    pub(crate) idr0: u32,
    pub(crate) btm_detected: bool,
    pub(crate) vmid_bits: u32,
    pub(crate) kvm_bits: Option<u32>,
    pub(crate) cr2: u32,
    pub(crate) decision: Decision,
}

/// A vSMMU using its VM's pinned VMID.
pub(crate) struct Vsmmu {
    pub(crate) smmu: usize,
    pub(crate) viommu: usize,
    pub(crate) pin: VmPin,
}

/// A private stage-2 domain's VMID, reserved from KVM.
pub(crate) struct Private {
    pub(crate) smmu: usize,
    pub(crate) res: Reserved,
}

/// Everything, under one mutex.
pub(crate) struct State {
    pub(crate) smmus: KVec<Smmu>,
    pub(crate) vsmmus: KVec<Vsmmu>,
    pub(crate) private: KVec<Private>,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any use.
    pub(crate) unsafe(uninit) static STATE: Mutex<State> = State {
        smmus: KVec::new(),
        vsmmus: KVec::new(),
        private: KVec::new(),
    };
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
        writeln!(f, "smmu {}:", s.name.to_str().unwrap_or("?"))?;
        writeln!(f, "  idr0: {:#010x}", s.idr0)?;
        writeln!(f, "  btm_detected: {}", yes(s.btm_detected))?;
        writeln!(f, "  btm_in_use: {}", yes(s.decision.use_btm))?;
        writeln!(f, "  cr2_written: {:#x}", s.cr2)?;
        writeln!(f, "  vmid_bits: {}", s.vmid_bits)?;
        match s.kvm_bits {
            Some(k) => writeln!(f, "  kvm_vmid_bits: {}", k)?,
            None => writeln!(f, "  kvm_vmid_bits: none")?,
        }
        writeln!(f, "  vmids_from_kvm: {}", yes(s.decision.share_vmids))?;
        writeln!(f, "  reason: {}", s.decision.reason)?;
        for v in st.vsmmus.iter().filter(|v| v.smmu == s.dev) {
            writeln!(
                f,
                "  vsmmu {:#x}: vmid {} source kvm-pin (vm {:#x})",
                v.viommu,
                v.pin.value(),
                v.pin.kvm()
            )?;
        }
        for p in st.private.iter().filter(|p| p.smmu == s.dev) {
            writeln!(f, "  s2 domain: vmid {} source kvm-reserved", p.res.value())?;
        }
    }
    Ok(())
}
