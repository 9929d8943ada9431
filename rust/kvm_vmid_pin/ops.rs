// SPDX-License-Identifier: GPL-2.0

//! The `struct kvm_vmid_pin_ops` this module registers with KVM.
//!
//! `arch/arm64/kvm/vmid.c` calls every op with `cpu_vmid_lock` (a raw
//! spinlock) held and interrupts off. `get`, `put` and `budget` are called
//! by the frame that took the lock, with no token of ours alive; `rollover`
//! and `pinned` are called from `new_vmid()`, which also runs inside our own
//! [`Locked::refresh`] (from `get`, or from a test's [`ffi::LockGuard`])
//! while the outer token is mutably borrowed. That is what makes each op's
//! [`Locked::assume_held`] sound: see the re-entrancy rule of [`Locked`].

use crate::ffi::{
    self,
    KvmVmid,
    Locked, //
};
use crate::ops_table::OpsTable;
use crate::pins;
use kernel::{
    bindings,
    prelude::*, //
};

/// The ops table handed to `kvm_arm_vmid_pin_register()`.
pub(crate) static OPS: OpsTable<bindings::kvm_vmid_pin_ops> =
    OpsTable(bindings::kvm_vmid_pin_ops {
        owner: kernel::module::this_module::<crate::KvmVmidPin>().as_ptr(),
        get: Some(get),
        put: Some(put),
        rollover: Some(rollover),
        pinned: Some(pinned),
        budget: Some(budget),
    });

/// `kvm_vmid_pin_ops::get`: pins `vmid`.
///
/// # Safety
///
/// Called by `vmid.c` with `cpu_vmid_lock` held, from a frame that holds no
/// token of ours. `vmid` is valid for the call, and stays at its address
/// while pinned: it is either
/// - `&kvm->arch.mmu.vmid` of a VM on which `kvm_arm_pinned_vmid_get()`
///   holds a reference (kept by the pin), or
/// - a `struct kvm_vmid` that the caller of `kvm_arm_vmid_reserve()` owns
///   and keeps until `kvm_arm_vmid_unreserve()`; no VM is involved.
unsafe extern "C" fn get(vmid: *mut bindings::kvm_vmid) -> c_int {
    // SAFETY: the lock is held, and C's frame has no token of ours: this
    // is the only one, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the call, as documented above.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    match pins::get(&mut locked, vmid) {
        Ok(idx) => c_int::from(idx),
        Err(e) => e.to_errno(),
    }
}

/// `kvm_vmid_pin_ops::put`: drops one pin of `vmid`.
///
/// # Safety
///
/// Called by `vmid.c` with `cpu_vmid_lock` held, from a frame that holds no
/// token of ours. `vmid` is valid for the call: the VM's of the caller of
/// `kvm_arm_pinned_vmid_put()`, which holds a pin (and through it a VM
/// reference) or no pin at all, or the reservation the caller of
/// `kvm_arm_vmid_unreserve()` owns.
unsafe extern "C" fn put(vmid: *mut bindings::kvm_vmid) -> bool {
    // SAFETY: as in `get`.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the call, as documented above.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    // SAFETY: by the contract of `kvm_arm_pinned_vmid_put()` and
    // `kvm_arm_vmid_unreserve()`, their caller gives up a pin it owns, or
    // holds none (the put then changes nothing).
    unsafe { pins::put(&mut locked, vmid) }
}

/// `kvm_vmid_pin_ops::rollover`: marks pinned indices in the new `vmid_map`.
///
/// # Safety
///
/// Called from `flush_context()` with `cpu_vmid_lock` held; `map` is
/// `vmid_map`. It may run inside our [`Locked::refresh`], whose token is
/// then mutably borrowed for the whole call.
unsafe extern "C" fn rollover(map: *mut usize) {
    // SAFETY: the lock is held, and any outer token of ours is mutably
    // borrowed by `refresh` (nothing derived from it is alive): this is
    // the only token in use, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    let Some(bits) = pins::table(&mut locked).map(|t| t.bits()) else {
        return;
    };
    // SAFETY: `map` is `vmid_map`, sized for `bits`, the width of the
    // allocator (the table was built for it), and the lock is held until
    // this op returns.
    let map = unsafe { ffi::vmid_map(map, bits) };
    pins::rollover(&mut locked, map);
}

/// `kvm_vmid_pin_ops::pinned`: whether `new_vmid()` must keep the index.
///
/// # Safety
///
/// Called from `new_vmid()` with `cpu_vmid_lock` held; `vmid` is valid for
/// the call. It may run inside our [`Locked::refresh`], as `rollover` may.
unsafe extern "C" fn pinned(vmid: *mut bindings::kvm_vmid) -> bool {
    // SAFETY: as in `rollover`.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the duration of the call.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    pins::keep_on_refresh(&mut locked, vmid)
}

/// `kvm_vmid_pin_ops::budget`: how many VMIDs may be pinned (<= 0: pinning
/// is disabled). Lets a driver ask without taking a VMID.
///
/// # Safety
///
/// Called from `kvm_arm_vmid_pin_host()` with `cpu_vmid_lock` held, from a
/// frame that holds no token of ours.
unsafe extern "C" fn budget() -> c_int {
    // SAFETY: as in `get`.
    let mut locked = unsafe { Locked::assume_held() };
    pins::table(&mut locked).map_or(0, |t| c_int::try_from(t.budget()).unwrap_or(c_int::MAX))
}
