// SPDX-License-Identifier: GPL-2.0

//! SMMUv3 broadcast TLB maintenance (BTM) with KVM's pinned VMIDs.
//!
//! `patches/0006-*` to `patches/0009-*` (iommu/arm-smmu-v3) let this module
//! decide, per SMMU:
//!
//! - whether CR2.PTM is cleared (BTM used);
//! - only where it is, which VMID a vSMMU uses: its VM's pinned VMID
//!   (`kvm_arm_vmid_pin()` of the VM its vIOMMU holds the file of), which
//!   the driver checks (`kvm_arm_vmid_pinned()`). The driver keeps private
//!   stage-2 VMIDs apart from KVM's by itself (above KVM's, or pinned for
//!   no VM), so no SMMU VMID ever aliases one KVM gives a VM. Without BTM
//!   the SMMU is left exactly as upstream has it.
//!
//! [`policy`] holds the rules in `core`-only Rust, shared with the host
//! tests. CR2 is written at SMMU reset only, so this module must be loaded
//! before `arm_smmu_v3` (`softdep arm_smmu_v3 pre: smmu_v3_btm`). An SMMU
//! running with BTM holds this module until it is removed.
//!
//! debugfs: `/sys/kernel/debug/smmu_v3_btm/state`: `smmus: N`, then
//! `vsmmu_fallbacks: N` (the vIOMMUs this module gave no VMID, for any
//! reason: the driver gave them their stage-2 parent's VMID, without BTM),
//! then each SMMU with its vSMMUs.

use kernel::{
    debugfs,
    prelude::*, //
};

#[path = "smmu_v3_btm/ffi.rs"]
mod ffi;
// The VM of a vIOMMU, borrowed (`&Kvm`); the test build's VMs.
#[path = "common/kvm.rs"]
mod kvm;
#[path = "smmu_v3_btm/ops.rs"]
mod ops;
#[path = "common/ops_table.rs"]
mod ops_table;
// The host crate (`host/logic`) includes the same file, where its items
// are its public API; here they are the crate's own.
#[allow(unreachable_pub)]
#[path = "smmu_v3_btm/policy.rs"]
pub(crate) mod policy;
#[path = "smmu_v3_btm/state.rs"]
mod state;
// KUnit tests, which create VMs at load: test builds only (--cfg ksv_test).
#[cfg(all(ksv_test, CONFIG_KUNIT))]
#[path = "smmu_v3_btm/tests.rs"]
mod tests;

#[cfg(not(ksv_test))]
module! {
    type: SmmuV3Btm,
    name: "smmu_v3_btm",
    authors: ["kvm-smmu-vmid developers"],
    description: "SMMUv3 broadcast TLB maintenance with pinned KVM VMIDs",
    license: "GPL",
    imports_ns: ["KVM_ARM_VMID_PIN", "ARM_SMMU_V3_BTM"],
}

// The test build (`--cfg ksv_test`) only: QEMU's SMMUv3 has no HYP, so
// the end-to-end vSMMU test on an nVHE host needs a way to take the BTM
// path; QEMU emulates BTM itself.
#[cfg(ksv_test)]
module! {
    type: SmmuV3Btm,
    name: "smmu_v3_btm",
    authors: ["kvm-smmu-vmid developers"],
    description: "SMMUv3 broadcast TLB maintenance with pinned KVM VMIDs (TEST BUILD)",
    license: "GPL",
    imports_ns: ["KVM_ARM_VMID_PIN", "ARM_SMMU_V3_BTM"],
    params: {
        test_vms: bool {
            default: false,
            description: "TEST ONLY: create the VMs that the KUnit tests take (the KUnit boots set it)",
        },
        test_assume_btm: bool {
            default: false,
            description: "TEST ONLY: treat every SMMU as if IDR0.HYP were set (never IDR0.BTM)",
        },
    },
}

/// The module: the registered hooks and the debugfs view.
///
/// Fields drop in order: the hooks are unregistered first.
struct SmmuV3Btm {
    _hooks: ffi::Registration,
    _state: state::Records,
    _view: Pin<KBox<debugfs::File<View>>>,
    _dir: debugfs::Dir,
    #[cfg(all(ksv_test, CONFIG_KUNIT))]
    _test_vms: tests::test_vm::Pool,
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
        // SAFETY: the module initializer runs once, before any use of the
        // state.
        let records = unsafe { state::Records::init() };
        #[cfg(all(ksv_test, CONFIG_KUNIT))]
        let test_vms = tests::test_vm::Pool::fill(module_parameters::test_vms.value())
            .inspect_err(|e| pr_err!("test VMs: {:?}\n", e))?;
        let dir = debugfs::Dir::new(c"smmu_v3_btm");
        let view = KBox::pin_init(dir.read_only_file(c"state", View), GFP_KERNEL)?;
        // Last: nothing after it can fail, and dropping it unregisters.
        let hooks = ffi::register(&ops::OPS).inspect_err(|&e| {
            ops_table::say_why(
                e,
                "arm_smmu_btm_register",
                "the SMMUv3 BTM hooks are taken by another module",
            )
        })?;
        // An SMMU that probed before keeps upstream behaviour until its
        // next probe; nothing changes live.
        pr_info!("hooks registered: SMMUs probed from now on use BTM where it is safe\n");
        Ok(Self {
            _hooks: hooks,
            _state: records,
            _view: view,
            _dir: dir,
            #[cfg(all(ksv_test, CONFIG_KUNIT))]
            _test_vms: test_vms,
        })
    }
}
