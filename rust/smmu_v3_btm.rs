// SPDX-License-Identifier: GPL-2.0

//! SMMUv3 broadcast TLB maintenance (BTM) with KVM's pinned VMIDs.
//!
//! `patches/0004-iommu-arm-smmu-v3-*` lets this module decide, per SMMU:
//!
//! - whether all its stage-2 VMIDs come from KVM's allocator: a vSMMU uses
//!   its VM's pinned VMID (`kvm_arm_pinned_vmid_get()`), a private stage-2
//!   domain a VMID reserved for no VM (`kvm_arm_vmid_reserve()`), so no
//!   SMMU VMID ever aliases one KVM gives a VM;
//! - whether CR2.PTM is cleared (BTM used), only on top of that.
//!
//! [`regs`] holds the rules in `core`-only Rust, shared with the host
//! tests. CR2 is written at SMMU reset only, so this module must be loaded
//! before `arm_smmu_v3` (`softdep arm_smmu_v3 pre: smmu_v3_btm`).
//!
//! debugfs: `/sys/kernel/debug/smmu_v3_btm/state`.

use kernel::{
    debugfs,
    prelude::*, //
};

#[path = "common/device.rs"]
mod device;
#[path = "smmu_v3_btm/hooks.rs"]
mod hooks;
#[path = "common/kvm.rs"]
mod kvm;
#[path = "common/module_ref.rs"]
mod module_ref;
#[path = "smmu_v3_btm/ops.rs"]
mod ops;
#[path = "smmu_v3_btm/regs.rs"]
pub mod regs;
#[path = "smmu_v3_btm/state.rs"]
mod state;
#[path = "smmu_v3_btm/tests.rs"]
mod tests;

module! {
    type: SmmuV3Btm,
    name: "smmu_v3_btm",
    authors: ["kvm-smmu-vmid developers"],
    description: "SMMUv3 broadcast TLB maintenance with pinned KVM VMIDs",
    license: "GPL",
}

/// The module: the registered hooks and the debugfs view.
struct SmmuV3Btm {
    _view: Pin<KBox<debugfs::File<View>>>,
    _dir: debugfs::Dir,
}

/// The contents of the debugfs `state` file.
struct View;

impl core::fmt::Debug for View {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        state::show(f)
    }
}

impl kernel::Module for SmmuV3Btm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the module initializer runs once.
        unsafe { state::STATE.init() };
        #[cfg(CONFIG_KUNIT)]
        tests::test_vm::fill_pool().inspect_err(|e| pr_err!("test VMs: {:?}\n", e))?;
        let dir = debugfs::Dir::new(c"smmu_v3_btm");
        let view = KBox::pin_init(dir.read_only_file(c"state", View), GFP_KERNEL)?;
        hooks::register(&ops::OPS).inspect_err(|_| pr_err!("the SMMUv3 hooks are taken\n"))?;
        if hooks::smmu_driver_loaded() {
            pr_info!("arm_smmu_v3 already probed: BTM and KVM VMIDs apply from its next probe, nothing changes live\n");
        } else {
            pr_info!(
                "hooks registered: SMMUs probed from now on get KVM VMIDs and, where safe, BTM\n"
            );
        }
        Ok(Self {
            _view: view,
            _dir: dir,
        })
    }
}

impl Drop for SmmuV3Btm {
    fn drop(&mut self) {
        // Every VMID given out holds a module reference: none is left.
        hooks::unregister();
        #[cfg(CONFIG_KUNIT)]
        tests::test_vm::drain_pool();
    }
}
