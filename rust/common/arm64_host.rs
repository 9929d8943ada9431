// SPDX-License-Identifier: GPL-2.0

//! The host's exception level and KVM's VMID width, which both module
//! crates read.
//!
//! C header: [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h)
//!
//! Included by path (`#[path]`) from each crate's `ffi.rs`, since a module
//! crate cannot use another's items: the reads stay in the FFI layer.

/// Whether this kernel runs at EL2, i.e. KVM runs in VHE mode.
pub(crate) fn running_at_el2() -> bool {
    let el: u64;
    // SAFETY: reading `CurrentEL` has no side effect and is allowed at EL1
    // and EL2.
    unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
    (el >> 2) & 3 == 2
}

/// KVM's VMID width (`kvm_arm_vmid_bits`): 8 or 16, or 0 until KVM is
/// initialised.
pub(crate) fn kvm_vmid_bits() -> u32 {
    // SAFETY: `kvm_arm_vmid_bits` is written once, at KVM's init, before
    // any module loads (`__ro_after_init`).
    unsafe { kernel::bindings::kvm_arm_vmid_bits }
}
