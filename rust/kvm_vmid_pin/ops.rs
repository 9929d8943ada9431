// SPDX-License-Identifier: GPL-2.0

//! The `struct kvm_vmid_pin_ops` this module registers with KVM.
//!
//! `arch/arm64/kvm/vmid.c` calls every op with `cpu_vmid_lock` held and
//! interrupts off, which is what makes [`Locked::assume_held`] sound here.

use crate::allocator::{
    self,
    KvmVmid,
    Locked, //
};
use crate::pins;
use kernel::{
    bindings,
    prelude::*, //
};

/// The ops table handed to `kvm_arm_vmid_pin_register()`.
pub(crate) static OPS: bindings::kvm_vmid_pin_ops = bindings::kvm_vmid_pin_ops {
    get: Some(get),
    put: Some(put),
    rollover: Some(rollover),
    pinned: Some(pinned),
    budget: Some(budget),
};

/// `kvm_vmid_pin_ops::get`.
///
/// # Safety
///
/// Called by `vmid.c` with `cpu_vmid_lock` held; `vmid` is the VMID of a VM
/// on which the caller holds a reference.
unsafe extern "C" fn get(vmid: *mut bindings::kvm_vmid) -> c_int {
    // SAFETY: the lock is held, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid while the caller holds its VM.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    match pins::get(&mut locked, vmid) {
        Ok(idx) => c_int::from(idx),
        Err(e) => e.to_errno(),
    }
}

/// `kvm_vmid_pin_ops::put`.
///
/// # Safety
///
/// As for [`get`].
unsafe extern "C" fn put(vmid: *mut bindings::kvm_vmid) -> bool {
    // SAFETY: the lock is held, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid while the caller holds its VM.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    pins::put(&mut locked, vmid)
}

/// `kvm_vmid_pin_ops::rollover`: marks pinned indices in the new `vmid_map`.
///
/// # Safety
///
/// Called from `flush_context()` with `cpu_vmid_lock` held; `map` is
/// `vmid_map`.
unsafe extern "C" fn rollover(map: *mut usize) {
    // SAFETY: the lock is held, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    let Some(t) = pins::table(&mut locked) else {
        return;
    };
    // SAFETY: `map` is `vmid_map`, sized for `t.bits()`, under the lock.
    let map = unsafe { allocator::vmid_map(map, t.bits()) };
    t.rollover(map);
}

/// `kvm_vmid_pin_ops::pinned`: whether `new_vmid()` must keep the index.
///
/// # Safety
///
/// Called from `new_vmid()` with `cpu_vmid_lock` held; `vmid` is valid.
unsafe extern "C" fn pinned(vmid: *mut bindings::kvm_vmid) -> bool {
    // SAFETY: the lock is held, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the duration of the call.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    pins::table(&mut locked).is_some_and(|t| t.keep_on_refresh(vmid.owner(), vmid.id()))
}

/// `kvm_vmid_pin_ops::budget`: how many VMIDs may be pinned (<= 0: pinning
/// is disabled). Lets a driver ask without taking a VMID.
///
/// # Safety
///
/// Called from `kvm_arm_vmid_pin_host()` with `cpu_vmid_lock` held.
unsafe extern "C" fn budget() -> c_int {
    // SAFETY: the lock is held, as documented above.
    let mut locked = unsafe { Locked::assume_held() };
    pins::table(&mut locked).map_or(0, |t| c_int::try_from(t.budget()).unwrap_or(c_int::MAX))
}
