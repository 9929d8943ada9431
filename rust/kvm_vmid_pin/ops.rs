// SPDX-License-Identifier: GPL-2.0

//! The `struct kvm_vmid_pin_ops` this module registers with KVM.
//!
//! `arch/arm64/kvm/vmid.c` calls every op with `cpu_vmid_lock` (a raw
//! spinlock) held and interrupts off, from `kvm_arm_vmid_pin()`,
//! `kvm_arm_vmid_unpin()`, `new_vmid()` and `flush_context()`, never from
//! within another op: each op makes the only [`Locked`] token of its lock
//! acquisition.

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
        is_pinned: Some(is_pinned),
        may_pin: Some(may_pin),
        pin: Some(pin),
        unpin: Some(unpin),
        rollover: Some(rollover),
    });

/// `kvm_vmid_pin_ops::is_pinned`: whether `vmid` holds a pin.
///
/// # Safety
///
/// Called by `new_vmid()` with `cpu_vmid_lock` held; `vmid` is valid for
/// the call.
unsafe extern "C" fn is_pinned(vmid: *const bindings::kvm_vmid) -> bool {
    // SAFETY: the lock is held, and this op makes the only token.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the call, as documented above; the ops
    // only read through a `&KvmVmid`.
    let vmid = unsafe { KvmVmid::from_raw(vmid.cast_mut()) };
    pins::is_pinned(&mut locked, vmid)
}

/// `kvm_vmid_pin_ops::may_pin`: 0 if `vmid` may be pinned, or the errno.
///
/// # Safety
///
/// Called by `kvm_arm_vmid_pin()` with `cpu_vmid_lock` held; `vmid` is
/// valid for the call.
unsafe extern "C" fn may_pin(vmid: *const bindings::kvm_vmid) -> c_int {
    // SAFETY: as in `is_pinned`.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: as in `is_pinned`.
    let vmid = unsafe { KvmVmid::from_raw(vmid.cast_mut()) };
    match pins::may_pin(&mut locked, vmid) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `kvm_vmid_pin_ops::pin`: pins `vmid`, already of the current generation.
///
/// # Safety
///
/// Called by `kvm_arm_vmid_pin()` with `cpu_vmid_lock` held. `vmid` is
/// valid, and its caller keeps it valid and at its address until the unpin.
unsafe extern "C" fn pin(vmid: *mut bindings::kvm_vmid) -> c_int {
    // SAFETY: the lock is held, and this op makes the only token.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the call, as documented above.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    match pins::get(&mut locked, vmid) {
        Ok(idx) => c_int::from(idx),
        Err(e) => e.to_errno(),
    }
}

/// `kvm_vmid_pin_ops::unpin`: drops one pin of `vmid`.
///
/// # Safety
///
/// Called by `kvm_arm_vmid_unpin()` with `cpu_vmid_lock` held; `vmid` is
/// valid for the call.
unsafe extern "C" fn unpin(vmid: *mut bindings::kvm_vmid) -> bool {
    // SAFETY: as in `pin`.
    let mut locked = unsafe { Locked::assume_held() };
    // SAFETY: `vmid` is valid for the call, as documented above.
    let vmid = unsafe { KvmVmid::from_raw(vmid) };
    // By the contract of `kvm_arm_vmid_unpin()`, its caller gives up a pin
    // it owns, or holds none (the put then changes nothing).
    pins::put(&mut locked, vmid)
}

/// `kvm_vmid_pin_ops::rollover`: keeps the pinned indices used in the new
/// generation; returns the first free index and stores the last in `last`
/// (hints: KVM checks them against the map it searches).
///
/// # Safety
///
/// Called from `flush_context()` with `cpu_vmid_lock` held; `map` is
/// `vmid_map`, `last` is writable.
unsafe extern "C" fn rollover(map: *mut usize, last: *mut usize) -> usize {
    // SAFETY: as in `pin`.
    let mut locked = unsafe { Locked::assume_held() };
    let Some(bits) = pins::table(&mut locked).map(|t| t.bits()) else {
        return 1;
    };
    // SAFETY: `map` is `vmid_map`, sized for `bits`, the width of the
    // allocator (the table was built for it), and the lock is held until
    // this op returns.
    let map = unsafe { ffi::vmid_map(map, bits) };
    let (first, last_free) = pins::rollover(&mut locked, map);
    // SAFETY: `last` is writable, per the caller.
    unsafe { *last = last_free };
    first
}
