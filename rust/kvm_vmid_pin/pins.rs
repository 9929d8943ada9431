// SPDX-License-Identifier: GPL-2.0

//! The pin table of this host and the pin/unpin operations on it.
//!
//! # Lifetime rules
//!
//! - `kvm_arm_pinned_vmid_get()` (C) takes a reference on the VM
//!   (`kvm_get_kvm_safe()`) before it calls [`get`], and drops it only when
//!   [`put`] reports that a pin was dropped. A VM therefore cannot be freed
//!   while any of its pins is held, and a dying VM (users count 0) cannot be
//!   pinned (`-EINVAL`).
//! - `kvm_arm_vmid_reserve()` (C) passes a `struct kvm_vmid` that its caller
//!   owns, zeroed, and keeps at the same address until
//!   `kvm_arm_vmid_unreserve()`: no VM is involved.
//! - Every pin reference also holds a reference on this module, so the
//!   module cannot be unloaded while a pin exists (`rmmod` gets `EBUSY`).
//! - The table stores VMID *addresses* only to compare them; it never
//!   dereferences them, so no reference of its own is needed.
//!
//! The table is only changed in this file: other files get a shared view
//! ([`table`]), so pins are only taken and dropped by [`get`] and [`put`],
//! together with their module references.

use crate::ffi::{
    KvmVmid,
    Locked, //
};
use crate::pin_table::{
    PinError,
    PinTable,
    Slot, //
};
use core::cell::UnsafeCell;
use kernel::{
    pr_warn_once,
    prelude::*, //
};

/// The pin table with storage from the kernel's allocators.
pub(crate) type Table = PinTable<KVVec<Slot>, KVVec<usize>>;

/// The table, protected by `cpu_vmid_lock`.
///
/// # Invariants
///
/// The cell is only accessed through [`table_mut`], whose callers need a
/// `&mut` [`Locked`] token, so every access holds `cpu_vmid_lock` and, by
/// the rules of [`Locked::assume_held`], at most one reference to the table
/// is in use at a time.
struct Guarded(UnsafeCell<Option<Table>>);

// SAFETY: by the type invariant, all accesses are serialised by
// `cpu_vmid_lock`; the table holds plain data and owned buffers.
unsafe impl Sync for Guarded {}

static TABLE: Guarded = Guarded(UnsafeCell::new(None));

/// The table (or the empty slot), borrowed for as long as the token is.
fn table_mut(_locked: &mut Locked) -> &mut Option<Table> {
    // SAFETY: the token proves `cpu_vmid_lock` is held. The returned
    // reference borrows the token mutably, so it dies before the token can
    // be used again, e.g. by `Locked::refresh`, the one call that re-enters
    // this module; and `Locked::assume_held` guarantees that no other token
    // of this lock acquisition is in use meanwhile. So this is the only live
    // reference to the table.
    unsafe { &mut *TABLE.0.get() }
}

/// The table, if the module is initialised, read-only.
pub(crate) fn table(locked: &mut Locked) -> Option<&Table> {
    table_mut(locked).as_ref()
}

/// Installs the table at module init, before the ops are registered.
pub(crate) fn install(locked: &mut Locked, table: Table) {
    *table_mut(locked) = Some(table);
}

/// Removes the table, before the ops are registered or after they are
/// unregistered; the caller frees it unlocked.
///
/// No pin exists then: each holds a reference on this module, which is
/// why its exit can run.
pub(crate) fn remove(locked: &mut Locked) -> Option<Table> {
    table_mut(locked).take()
}

impl From<PinError> for Error {
    fn from(e: PinError) -> Self {
        match e {
            PinError::Disabled | PinError::NoSpace => ENOSPC,
            PinError::Conflict => EBUSY,
            PinError::NotPinned => EINVAL,
        }
    }
}

/// Pins `vmid`, returning its VMID index (>= 1).
///
/// A VM that already holds a pin gets one more reference on the same index.
/// A new pin first moves the VM's VMID to the current generation, which may
/// allocate one (or roll the generation over).
///
/// The C caller holds a reference on this module (the ops' `owner`) for
/// each pin reference, from a successful get to the put that drops it.
/// Once the table has taken the pin, nothing can fail.
pub(crate) fn get(locked: &mut Locked, vmid: &KvmVmid) -> Result<u16> {
    let owner = vmid.owner();
    let t = table_mut(locked).as_mut().ok_or(ENODEV)?;
    if t.owns(owner, vmid.id()) {
        return t.pin_again(owner, vmid.id()).ok_or(EINVAL);
    }
    t.may_pin_new().inspect_err(|e| match e {
        PinError::Disabled => pr_warn_once!("pin refused: pinning is disabled (no budget)\n"),
        _ => pr_warn_once!("pin refused: the pin budget is spent\n"),
    })?;
    // `refresh` may re-enter this module: the `pinned` and `rollover` ops
    // make their own tokens and reach the table. No reference to the table
    // is alive across it: `t` was derived from `locked`, which `refresh`
    // borrows mutably, so the borrow checker ends `t` here.
    let id = locked.refresh(vmid);
    let t = table_mut(locked).as_mut().ok_or(ENODEV)?;
    let idx = t.pin_new(owner, id).inspect_err(|e| {
        if *e == PinError::Conflict {
            pr_err!("VMID {:#x} is pinned by another VM\n", id);
        }
    })?;
    // The pin is taken and `idx` is already a `u16`: nothing can fail.
    Ok(idx)
}

/// Drops one pin of `vmid`.
///
/// Returns `true` if a pin was dropped. A put without a matching get
/// changes nothing, warns once and returns `false`.
///
/// # Safety
///
/// The caller owns one pin reference on `vmid`, taken with [`get`], and
/// gives it up; or no pin on `vmid` exists (nothing changes then). A put for
/// a pin someone else owns would unpin a VMID that its owner (e.g. a vSMMU)
/// still uses, and the C caller would drop that owner's VM reference.
pub(crate) unsafe fn put(locked: &mut Locked, vmid: &KvmVmid) -> bool {
    let Some(t) = table_mut(locked).as_mut() else {
        return false;
    };
    match t.unpin(vmid.owner(), vmid.id()) {
        Ok(_) => true,
        Err(_) => {
            pr_warn_once!("put of a VMID that is not pinned (ignored)\n");
            false
        }
    }
}

/// The rollover hook: marks every pinned index in the new `vmid_map`.
pub(crate) fn rollover(locked: &mut Locked, vmid_map: &mut [usize]) {
    if let Some(t) = table_mut(locked).as_mut() {
        t.rollover(vmid_map);
    }
}

/// The refresh hook: whether `new_vmid()` must keep `vmid`'s index.
pub(crate) fn keep_on_refresh(locked: &mut Locked, vmid: &KvmVmid) -> bool {
    table_mut(locked)
        .as_mut()
        .is_some_and(|t| t.keep_on_refresh(vmid.owner(), vmid.id()))
}

/// A pin on a VMID the test build owns, given back on drop.
///
/// Test builds only (KUnit tests and benchmarks). The pin borrows the VMID,
/// which keeps it at its address (the pin's owner) while pinned. Dropping
/// it takes `cpu_vmid_lock`: never drop one while holding a
/// [`LockGuard`](crate::ffi::LockGuard).
///
/// # Invariants
///
/// One pin reference on `vmid`, taken with [`get`], is owned by this value
/// until drop (or [`OwnedPin::release`]).
#[cfg(ksv_test)]
#[must_use = "the pin is given back when dropped"]
pub(crate) struct OwnedPin<'a> {
    vmid: &'a KvmVmid,
    idx: u16,
}

#[cfg(ksv_test)]
impl<'a> OwnedPin<'a> {
    /// Pins `vmid`, taking and releasing `cpu_vmid_lock`.
    pub(crate) fn take(vmid: &'a KvmVmid) -> Result<Self> {
        Self::take_locked(&mut crate::ffi::LockGuard::lock(), vmid)
    }

    /// Pins `vmid` under a lock the caller holds, to pin many at once.
    ///
    /// The pin must outlive the caller's lock hold: dropping it (which
    /// takes the lock) with the lock held deadlocks.
    pub(crate) fn take_locked(locked: &mut Locked, vmid: &'a KvmVmid) -> Result<Self> {
        let idx = get(locked, vmid)?;
        // INVARIANT: `get` succeeded: this pin reference is ours.
        Ok(Self { vmid, idx })
    }

    /// The pinned VMID index (>= 1).
    pub(crate) fn idx(&self) -> u16 {
        self.idx
    }

    /// Gives the pin back now; whether the table had it, which it must.
    pub(crate) fn release(self) -> bool {
        self.release_locked(&mut crate::ffi::LockGuard::lock())
    }

    /// Gives the pin back under a lock the caller holds, to release many at
    /// once; whether the table had it, which it must.
    pub(crate) fn release_locked(self, locked: &mut Locked) -> bool {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: by the type invariant we own this pin reference, given
        // up here; `this` is not dropped, so it is given up once.
        unsafe { put(locked, this.vmid) }
    }
}

#[cfg(ksv_test)]
impl Drop for OwnedPin<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own this pin reference, given up
        // here.
        unsafe { put(&mut crate::ffi::LockGuard::lock(), self.vmid) };
    }
}
