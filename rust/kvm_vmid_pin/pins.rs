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
//! - Every pin reference also holds a reference on this module, so the
//!   module cannot be unloaded while a pin exists (`rmmod` gets `EBUSY`).
//! - The table stores VMID *addresses* only to compare them; it never
//!   dereferences them, so no reference of its own is needed.

use crate::allocator::{
    KvmVmid,
    Locked, //
};
use crate::module_ref;
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
/// The cell is only accessed through [`table`], [`install`] and [`remove`],
/// which need a [`Locked`] token, so every access holds `cpu_vmid_lock`.
struct Guarded(UnsafeCell<Option<Table>>);

// SAFETY: by the type invariant, all accesses are serialised by
// `cpu_vmid_lock`; the table holds plain data and owned buffers.
unsafe impl Sync for Guarded {}

static TABLE: Guarded = Guarded(UnsafeCell::new(None));

/// The table, if the module is initialised.
pub(crate) fn table(_locked: &mut Locked) -> Option<&mut Table> {
    // SAFETY: the token proves `cpu_vmid_lock` is held and its `&mut`
    // borrow ensures this is the only live reference to the table.
    unsafe { (*TABLE.0.get()).as_mut() }
}

/// Installs the table at module init.
pub(crate) fn install(_locked: &mut Locked, table: Table) {
    // SAFETY: as in `table()`.
    unsafe { *TABLE.0.get() = Some(table) };
}

/// Removes the table at module exit; the caller frees it unlocked.
pub(crate) fn remove(_locked: &mut Locked) -> Option<Table> {
    // SAFETY: as in `table()`.
    unsafe { (*TABLE.0.get()).take() }
}

fn errno(e: PinError) -> Error {
    match e {
        PinError::Disabled | PinError::NoSpace => ENOSPC,
        PinError::Conflict => EBUSY,
        PinError::NotPinned => EINVAL,
    }
}

/// Pins `vmid`, returning its VMID index (>= 1).
///
/// A VM that already holds a pin gets one more reference on the same index.
/// A new pin first moves the VM's VMID to the current generation, which may
/// allocate one (or roll the generation over).
pub(crate) fn get(locked: &mut Locked, vmid: &KvmVmid) -> Result<u16> {
    let owner = vmid.owner();
    {
        let t = table(locked).ok_or(ENODEV)?;
        if t.owns(owner, vmid.id()) {
            if !module_ref::get::<crate::KvmVmidPin>() {
                return Err(ENODEV);
            }
            let idx = t.pin_again(owner, vmid.id()).ok_or(EINVAL)?;
            return u16::try_from(idx).map_err(|_| EINVAL);
        }
        t.may_pin_new()
            .inspect_err(|e| match e {
                PinError::Disabled => {
                    pr_warn_once!("pin refused: pinning is disabled (no budget)\n")
                }
                _ => pr_warn_once!("pin refused: the pin budget is spent\n"),
            })
            .map_err(errno)?;
    }
    if !module_ref::get::<crate::KvmVmidPin>() {
        return Err(ENODEV);
    }
    let id = locked.refresh(vmid);
    let res = table(locked).ok_or(ENODEV).and_then(|t| {
        t.pin_new(owner, id)
            .inspect_err(|e| {
                if *e == PinError::Conflict {
                    pr_err!("VMID {:#x} is pinned by another VM\n", id);
                }
            })
            .map_err(errno)
    });
    match res {
        Ok(idx) => u16::try_from(idx).map_err(|_| EINVAL),
        Err(e) => {
            // SAFETY: the reference taken above for this pin, which failed.
            unsafe { module_ref::put::<crate::KvmVmidPin>() };
            Err(e)
        }
    }
}

/// Drops one pin of `vmid`.
///
/// Returns `true` if a pin was dropped. A put without a matching get
/// changes nothing, warns once and returns `false`.
pub(crate) fn put(locked: &mut Locked, vmid: &KvmVmid) -> bool {
    let Some(t) = table(locked) else {
        return false;
    };
    match t.unpin(vmid.owner(), vmid.id()) {
        Ok(_) => {
            // SAFETY: each pin reference holds one module reference, taken
            // in `get`; `unpin` succeeded, so this one was held.
            unsafe { module_ref::put::<crate::KvmVmidPin>() };
            true
        }
        Err(_) => {
            pr_warn_once!("put of a VMID that is not pinned (ignored)\n");
            false
        }
    }
}
