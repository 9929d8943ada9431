// SPDX-License-Identifier: GPL-2.0

//! The pin table of this host and the pin/unpin operations on it.
//!
//! # Lifetime rules
//!
//! - The caller of `kvm_arm_vmid_pin()` (C) keeps the `struct kvm_vmid` valid
//!   and at the same address until its `kvm_arm_vmid_unpin()`: a VM's (the
//!   caller holds the VM, e.g. a vIOMMU through the VM's file), or one that
//!   no VM is given, which the caller owns.
//! - C holds a reference on this module (the ops' owner) for every pin
//!   reference, so the module cannot be unloaded while a pin exists (`rmmod`
//!   gets `EBUSY`).
//! - The table stores VMID *addresses*; the rollover op writes the new
//!   generation into each pinned VMID, which the rule above keeps valid.
//!
//! The table is only changed in this file: other files get a shared view
//! ([`table`]), so pins are only taken and dropped by [`get`] and [`put`].

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
    // SAFETY: the token proves `cpu_vmid_lock` is held, and it is the only
    // token of this lock acquisition (`Locked`'s invariant). The returned
    // reference borrows it mutably, so this is the only live reference to
    // the table.
    unsafe { &mut *TABLE.0.get() }
}

/// The table, if the module is initialised, read-only.
pub(crate) fn table(locked: &mut Locked) -> Option<&Table> {
    table_mut(locked).as_ref()
}

/// Installs the table at module init, right after the ops are registered
/// (until then they find no table and pin nothing).
pub(crate) fn install(locked: &mut Locked, table: Table) {
    *table_mut(locked) = Some(table);
}

/// Removes the table after the ops are unregistered; the caller frees it
/// unlocked.
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
/// KVM has moved `vmid` to the current generation before calling the op. A
/// VM that already holds a pin gets one more reference on the same index.
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
    let id = vmid.id();
    t.pin_new(owner, id).map_err(|e| {
        if e == PinError::Conflict {
            pr_err!("VMID {:#x} is pinned by another VM\n", id);
        }
        Error::from(e)
    })
}

/// Drops one pin of `vmid`.
///
/// Returns `true` if a pin was dropped. A put without a matching get
/// changes nothing, warns once and returns `false`.
///
/// # Safety
///
/// The caller owns one pin reference on `vmid` and gives it up, or no pin
/// on `vmid` exists (nothing changes then). A put for a pin someone else
/// owns would unpin a VMID that its owner (e.g. a vSMMU) still uses.
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

/// The rollover hook: marks every pinned index in the new `vmid_map` and
/// moves each pinned VMID to the new `generation`, so that its VM keeps the
/// lock-free path at its next vcpu load.
pub(crate) fn rollover(locked: &mut Locked, vmid_map: &mut [usize], generation: u64) {
    let Some(t) = table_mut(locked).as_mut() else {
        return;
    };
    t.rollover(vmid_map);
    for (idx, slot) in t.iter_pinned() {
        // SAFETY: a pinned VMID stays valid at its address until its unpin
        // (the lifetime rules above), and this one is pinned: the table has
        // it.
        let vmid = unsafe { KvmVmid::from_raw(slot.owner as *mut kernel::bindings::kvm_vmid) };
        // SAFETY: the token `t` borrows proves `cpu_vmid_lock` is held, and
        // the index is the VMID's own, carried into the new generation.
        unsafe { vmid.set_id(generation | u64::from(idx)) };
    }
}
