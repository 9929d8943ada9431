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
//! - The table stores VMID *addresses*, as owner keys; it reads a pinned
//!   VMID's `id` through the pointer KVM passes to each op, and never
//!   writes one: the allocator alone moves a pinned VMID to a new
//!   generation, in `new_vmid()`, after the CPUs' reserved VMIDs.
//! - Nothing here prints, allocates or sleeps: the ops run under a raw
//!   spinlock with interrupts off. A refusal is returned as an errno and
//!   counted; its caller says why, outside the lock.
//!
//! The table is only changed in this file, by the ops ([`may_pin`],
//! [`get`], [`put`] and [`rollover`]) under KVM's `cpu_vmid_lock`, and by [`install`] and
//! [`remove`] while the ops are not registered. After each change the ops
//! copy what changed into the [`View`], which debugfs and the tests read
//! without the lock.

use crate::ffi::{
    KvmVmid,
    Locked, //
};
use crate::pin_table::{
    PinError,
    PinTable,
    Slot,
    Stats, //
};
use core::{
    cell::UnsafeCell,
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    }, //
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
/// is in use at a time; or by [`install`] and [`remove`], while no op is
/// registered.
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

/// [`Stats`], field by field, for readers without the lock.
struct AtomicStats {
    pins: Atomic<u64>,
    unpins: Atomic<u64>,
    rollovers: Atomic<u64>,
    refused_nospace: Atomic<u64>,
    refused_conflict: Atomic<u64>,
    bad_puts: Atomic<u64>,
}

impl AtomicStats {
    const fn new() -> Self {
        Self {
            pins: Atomic::new(0),
            unpins: Atomic::new(0),
            rollovers: Atomic::new(0),
            refused_nospace: Atomic::new(0),
            refused_conflict: Atomic::new(0),
            bad_puts: Atomic::new(0),
        }
    }

    fn store(&self, s: &Stats) {
        self.pins.store(s.pins, Relaxed);
        self.unpins.store(s.unpins, Relaxed);
        self.rollovers.store(s.rollovers, Relaxed);
        self.refused_nospace.store(s.refused_nospace, Relaxed);
        self.refused_conflict.store(s.refused_conflict, Relaxed);
        self.bad_puts.store(s.bad_puts, Relaxed);
    }

    fn load(&self) -> Stats {
        Stats {
            pins: self.pins.load(Relaxed),
            unpins: self.unpins.load(Relaxed),
            rollovers: self.rollovers.load(Relaxed),
            refused_nospace: self.refused_nospace.load(Relaxed),
            refused_conflict: self.refused_conflict.load(Relaxed),
            bad_puts: self.bad_puts.load(Relaxed),
        }
    }
}

/// What the ops publish for readers that do not hold `cpu_vmid_lock`:
/// debugfs and the tests. Each value is exact; taken together they are not
/// a snapshot of one instant.
pub(crate) struct View {
    /// The VMID width.
    pub(crate) bits: u32,
    /// The cap on pinned VMIDs.
    pub(crate) cap: u32,
    nr_pinned: Atomic<usize>,
    /// References held on each VMID index.
    refs: KVVec<Atomic<u32>>,
    stats: AtomicStats,
}

impl View {
    fn new(t: &Table) -> Result<KBox<Self>> {
        let n = 1usize << t.bits();
        let mut refs = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            refs.push(Atomic::new(0), GFP_KERNEL)?;
        }
        let v = KBox::new(
            Self {
                bits: t.bits(),
                cap: t.cap(),
                nr_pinned: Atomic::new(0),
                refs,
                stats: AtomicStats::new(),
            },
            GFP_KERNEL,
        )?;
        v.publish(t, None);
        Ok(v)
    }

    /// Copies the counters, and the references of `idx`, from the table.
    fn publish(&self, t: &Table, idx: Option<u16>) {
        self.stats.store(&t.stats());
        self.nr_pinned.store(t.nr_pinned(), Relaxed);
        if let Some(i) = idx {
            let refs = t.slot(i).map_or(0, |s| s.refs);
            self.refs[usize::from(i)].store(refs, Relaxed);
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> Stats {
        self.stats.load()
    }

    /// The number of pinned indices.
    pub(crate) fn nr_pinned(&self) -> usize {
        self.nr_pinned.load(Relaxed)
    }

    /// `(index, references)` of every pinned index, in order.
    pub(crate) fn pinned(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        self.refs.iter().enumerate().filter_map(|(i, r)| {
            let refs = r.load(Relaxed);
            // CAST: `refs` has `1 << bits <= 1 << 16` entries.
            (refs > 0).then_some((i as u16, refs))
        })
    }
}

/// The view of the installed table, or NULL.
///
/// # Invariants
///
/// NULL, or a `KBox<View>` given up by [`install`], freed by [`remove`]
/// once no op is registered and no reader is left.
static VIEW: AtomicPtr<View> = AtomicPtr::new(core::ptr::null_mut());

/// Runs `f` on the view, if the table is installed.
pub(crate) fn with_view<R>(f: impl FnOnce(&View) -> R) -> Option<R> {
    let v = VIEW.load(Ordering::Acquire);
    // SAFETY: by the invariant of `VIEW`, a non-NULL pointer is a live view,
    // which `remove` frees only once every reader (debugfs, the tests) is
    // gone: none runs during `f`.
    (!v.is_null()).then(|| f(unsafe { &*v }))
}

fn publish(t: &Table, idx: Option<u16>) {
    with_view(|v| v.publish(t, idx));
}

/// The table, if the module is initialised, read-only.
pub(crate) fn table(locked: &mut Locked) -> Option<&Table> {
    table_mut(locked).as_ref()
}

/// The installed table and its view: removes and frees them when dropped.
///
/// Only [`install`], which is `unsafe`, makes one; its caller promises the
/// order of the drop.
///
/// # Invariants
///
/// The table and its view were installed by [`install`], and this value is
/// dropped only once the ops are unregistered and no reader of the view is
/// left.
#[must_use = "dropping it removes the table"]
pub(crate) struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the ops are unregistered and no
        // reader of the view is left.
        let table = unsafe { remove() };
        if let Some(t) = &table {
            pr_info!(
                "unloaded: {} pins, {} unpins, {} rollovers seen\n",
                t.stats().pins,
                t.stats().unpins,
                t.stats().rollovers
            );
        }
    }
}

/// Installs the table and its view at module init, before the ops are
/// registered; they are removed and freed when the returned value is
/// dropped.
///
/// # Safety
///
/// The ops are not registered, and nothing else uses the table. The
/// returned value is dropped only after the ops, registered after this
/// call, are unregistered, and after every reader of the view (the debugfs
/// file, the tests) is gone; or before the ops were ever registered.
pub(crate) unsafe fn install(table: Table) -> Result<Installed> {
    let view = View::new(&table)?;
    // SAFETY: no op is registered, so nothing else accesses the cell.
    unsafe { *TABLE.0.get() = Some(table) };
    // INVARIANT: a view given up here, freed by `remove`.
    VIEW.store(KBox::into_raw(view), Ordering::Release);
    // INVARIANT: installed just above; the caller drops it in order.
    Ok(Installed(()))
}

/// Removes the table and its view, to be freed by the caller.
///
/// No pin exists then: each holds a reference on this module, which is
/// why its exit can run.
///
/// # Safety
///
/// The ops are unregistered, and no reader of the view is left (the
/// debugfs file is removed).
unsafe fn remove() -> Option<Table> {
    let v = VIEW.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !v.is_null() {
        // SAFETY: by the invariant of `VIEW` this is the box `install` gave
        // up, and no reader is left, per the caller.
        drop(unsafe { KBox::from_raw(v) });
    }
    // SAFETY: no op is registered, so nothing else accesses the cell.
    unsafe { (*TABLE.0.get()).take() }
}

impl From<PinError> for Error {
    fn from(e: PinError) -> Self {
        match e {
            PinError::NoSpace => ENOSPC,
            PinError::Conflict => EBUSY,
            PinError::Overflow => EOVERFLOW,
            PinError::NotPinned => EINVAL,
        }
    }
}

/// Whether `vmid` holds a pin, for `new_vmid()`: it then keeps its index.
pub(crate) fn is_pinned(locked: &mut Locked, vmid: &KvmVmid) -> bool {
    table(locked).is_some_and(|t| t.is_pinned(vmid.owner(), vmid.id()))
}

/// Whether `vmid` may be pinned: it holds a pin, or the cap allows one
/// more. KVM asks before it allocates a VMID for the pin.
pub(crate) fn may_pin(locked: &mut Locked, vmid: &KvmVmid) -> Result {
    let t = table_mut(locked).as_mut().ok_or(ENODEV)?;
    let ret = t.may_pin(vmid.owner(), vmid.id()).map_err(Error::from);
    publish(t, None);
    ret
}

/// Pins `vmid`, returning its VMID index (>= 1).
///
/// KVM has asked [`may_pin`] and moved `vmid` to the current generation
/// before calling the op. A VMID that already holds a pin gets one more
/// reference on the same index. Once the table has taken the pin, nothing
/// can fail.
pub(crate) fn get(locked: &mut Locked, vmid: &KvmVmid) -> Result<u16> {
    let t = table_mut(locked).as_mut().ok_or(ENODEV)?;
    let ret = t.pin(vmid.owner(), vmid.id()).map_err(Error::from);
    publish(t, ret.as_ref().ok().copied());
    ret
}

/// Drops one pin of `vmid`.
///
/// Returns `true` if a pin was dropped. A put without a matching get
/// changes nothing but the `bad_puts` counter and returns `false`.
///
/// The op calls it for each `kvm_arm_vmid_unpin()`, whose caller gives up
/// a pin it owns (the owning types, e.g. `smmu_v3_btm`'s `VmPin`, unpin in
/// their `Drop`). A put for a pin someone else owns would unpin a VMID
/// that its owner still uses: a logic error, not undefined behaviour, as
/// the table only keeps addresses as keys.
pub(crate) fn put(locked: &mut Locked, vmid: &KvmVmid) -> bool {
    let Some(t) = table_mut(locked).as_mut() else {
        return false;
    };
    let ret = t.unpin(vmid.owner(), vmid.id()).is_ok();
    publish(t, Some(t.index(vmid.id())));
    ret
}

/// The rollover hook: sets every pinned index in the new `vmid_map`, and
/// returns the lowest and the highest index `>= 1` left free in it (`1 <<
/// bits` and 0 if none), where `new_vmid()` starts its search and where it
/// stops for this generation. One OR per bitmap word; no VMID is written.
///
/// Without a table, returns the whole map: where `new_vmid()` searches
/// without a hint.
pub(crate) fn rollover(locked: &mut Locked, vmid_map: &mut [usize]) -> (usize, usize) {
    let Some(t) = table_mut(locked).as_mut() else {
        return (1, vmid_map.len() * usize::BITS as usize - 1);
    };
    let first = t.rollover(vmid_map);
    let last = t.last_free(vmid_map);
    publish(t, None);
    (first, last)
}
