// SPDX-License-Identifier: GPL-2.0

//! SMMUv3 broadcast TLB maintenance (BTM) with KVM's pinned VMIDs.
//!
//! [`regs`] holds the decisions (BTM use, `SMMU_CR2`, VMID widths) in
//! `core`-only Rust, shared with the host tests.
//!
//! The arm-smmu-v3 driver has no hook for this module yet, so loading it
//! changes nothing: it says so in dmesg.

use kernel::prelude::*;

#[path = "smmu_v3_btm/regs.rs"]
pub mod regs;
#[path = "smmu_v3_btm/tests.rs"]
mod tests;

module! {
    type: SmmuV3Btm,
    name: "smmu_v3_btm",
    authors: ["kvm-smmu-vmid developers"],
    description: "SMMUv3 broadcast TLB maintenance with pinned KVM VMIDs",
    license: "GPL",
}

/// The module.
struct SmmuV3Btm;

impl kernel::Module for SmmuV3Btm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!(
            "no arm-smmu-v3 hook in this kernel yet: nothing to do, CR2 stays {:#x} (PTM set)\n",
            regs::cr2(false, false)
        );
        Ok(Self)
    }
}
