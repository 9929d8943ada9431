// SPDX-License-Identifier: GPL-2.0

//! Host build of the kernel modules' `core`-only logic, for `cargo test`.
//!
//! The files are the kernel modules' own, included by path: the host tests
//! exercise exactly the code that runs in the kernel.

#![no_std]

#[path = "../../../rust/kvm_vmid_pin/pin_table.rs"]
pub mod pin_table;

#[path = "../../../rust/smmu_v3_btm/policy.rs"]
pub mod smmu_policy;
