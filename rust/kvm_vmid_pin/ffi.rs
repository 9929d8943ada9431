// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over KVM's arm64 VMID allocator and its pinning hooks.
//!
//! C header: [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h)
//!
//! Every call this module makes into KVM's VMID allocator is made here. The
//! hooks come from
//! `patches/0001-KVM-arm64-Add-hooks-to-pin-VMIDs-from-a-module.patch` and
//! are exported to this module only (`patches/0002-*` adds
//! `kvm_arm_vmid_reserve()`, which other drivers call and which reaches this
//! module through the same `get` op). The crate's other raw C calls are in
//! the files shared by path: `common/ops_table.rs` (the ops table) and,
//! in test builds only, `common/kvm.rs` (VM references) and
//! `common/test_vm.rs` (VMs for KUnit); `ops.rs` names `bindings::` types
//! only, in the signatures of the ops C calls.
//!
//! # Locking
//!
//! `cpu_vmid_lock` is a *raw* spinlock, taken with `raw_spin_lock_irqsave()`:
//! while it is held, interrupts and preemption are off on the holding CPU,
//! also under `PREEMPT_RT` (where a `spinlock_t` would not disable either).

#[cfg(ksv_test)]
use crate::kvm::Kvm;
use core::marker::PhantomData;
#[cfg(ksv_test)]
use kernel::interrupt::LocalInterruptDisabled;
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    types::Opaque, //
};

/// How KVM runs on this host, as the allocator sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    /// KVM finished initialising (the kernel was booted at EL2).
    pub(crate) initialised: bool,
    /// Protected KVM: the hypervisor, not the host, assigns VMIDs.
    pub(crate) protected: bool,
    /// The host kernel runs at EL2 (VHE).
    pub(crate) vhe: bool,
    /// `kvm_arm_vmid_bits`: 8 or 16.
    pub(crate) vmid_bits: u32,
    /// `num_possible_cpus()`.
    pub(crate) nr_possible_cpus: u32,
}

impl Host {
    /// Reads the host's KVM state.
    pub(crate) fn query() -> Self {
        let mut h = bindings::kvm_vmid_pin_host::default();
        // SAFETY: `h` is a valid, writable `struct kvm_vmid_pin_host`.
        unsafe { bindings::kvm_arm_vmid_pin_host(&mut h) };
        Self {
            initialised: h.initialised,
            protected: h.protected,
            vhe: h.vhe,
            vmid_bits: h.vmid_bits,
            nr_possible_cpus: h.nr_possible_cpus,
        }
    }

    /// The KVM mode as KVM names it at boot.
    pub(crate) fn mode(&self) -> &'static str {
        match (self.initialised, self.protected, self.vhe) {
            (false, _, _) => "not initialised",
            (true, true, _) => "protected nVHE",
            (true, false, true) => "VHE",
            (true, false, false) => "nVHE",
        }
    }
}

/// A `struct kvm_vmid`: the VMID of one stage-2 MMU.
///
/// A `&KvmVmid` is either a VM's (`kvm->arch.mmu.vmid`), a device's
/// reservation (`kvm_arm_vmid_reserve()`), both reached through
/// [`KvmVmid::from_raw`], or one the test build owns
/// ([`KvmVmid::new_unallocated`]); only the last gives a `&mut KvmVmid`.
///
/// # Invariants
///
/// The wrapped `struct kvm_vmid` is valid for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct KvmVmid(Opaque<bindings::kvm_vmid>);

impl KvmVmid {
    /// A VMID that was never allocated (`id == 0`), owned by a test.
    ///
    /// The allocator treats it like a VM's; it must not move while pinned
    /// (its address is the pin's owner), which the tests ensure by
    /// borrowing it for as long as a pin is held.
    #[cfg(ksv_test)]
    pub(crate) const fn new_unallocated() -> Self {
        Self(Opaque::zeroed())
    }

    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct kvm_vmid` that lives for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::kvm_vmid) -> &'a Self {
        // SAFETY: `KvmVmid` is a transparent wrapper of `kvm_vmid`; the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::kvm_vmid {
        self.0.get()
    }

    /// The owner key used by the pin table: this VMID's address.
    pub(crate) fn owner(&self) -> usize {
        self.as_raw() as usize
    }

    /// The current value: `generation | index`, or 0 if never allocated.
    pub(crate) fn id(&self) -> u64 {
        // SAFETY: by the type invariant the `kvm_vmid` is valid, and `id` is
        // an `atomic64_t`, which may be read concurrently.
        unsafe { bindings::atomic64_read(&raw const (*self.as_raw()).id) as u64 }
    }

    /// Forgets the VMID, as for a new VM.
    ///
    /// `&mut self`: only a VMID the caller owns outright (a test's, from
    /// [`KvmVmid::new_unallocated`]) can be reset, never a VM's or a
    /// reservation's, which are only reached through shared references.
    #[cfg(ksv_test)]
    pub(crate) fn reset(&mut self) {
        // SAFETY: by the type invariant the `kvm_vmid` is valid; `id` is an
        // `atomic64_t`.
        unsafe { bindings::atomic64_set(&raw mut (*self.as_raw()).id, 0) };
    }

    /// Runs KVM's vcpu-load VMID update (`kvm_arm_vmid_update()`), as
    /// `kvm_arch_vcpu_load()` does.
    ///
    /// The C function needs preemption off (it uses this CPU's
    /// `active_vmids`): `_irqs_off` proves local interrupts are disabled
    /// (`local_interrupt_disable()` disables them on every configuration,
    /// `PREEMPT_RT` included), and with them preemption.
    ///
    /// It takes `cpu_vmid_lock` on its slow path: calling it while holding
    /// a [`LockGuard`] deadlocks.
    #[cfg(ksv_test)]
    pub(crate) fn update(&self, _irqs_off: &LocalInterruptDisabled) {
        // SAFETY: the `kvm_vmid` is valid by the type invariant, and
        // interrupts, hence preemption, are off while `_irqs_off` lives.
        unsafe { bindings::kvm_arm_vmid_update(self.as_raw()) };
    }
}

/// Proof that this CPU holds KVM's `cpu_vmid_lock`, and the one handle of
/// the current call frame on the data it protects.
///
/// `cpu_vmid_lock` is a raw spinlock taken with interrupts off, so the
/// holder cannot be preempted or migrated, also under `PREEMPT_RT`.
///
/// # Re-entrancy
///
/// `crate::pins` turns a `&mut Locked` into a `&mut` reference to the pin
/// table: two tokens used at once would give two aliasing `&mut`. Yet one lock acquisition
/// can have two tokens alive: [`Locked::refresh`] calls
/// `kvm_arm_vmid_refresh_locked()`, whose `new_vmid()` calls back into the
/// `pinned` op and, on a rollover, the `rollover` op (`ops.rs`), and each op
/// makes its own token, nested in the frame of the outer token (the `get`
/// op's, or a [`LockGuard`]'s).
///
/// We keep that re-entrancy, as it cannot be removed without changing C: a
/// new pin must move the VM to the current generation under the lock that
/// the pin is taken under, and the only allocator entry point callable with
/// the lock held is `kvm_arm_vmid_refresh_locked()`, which goes through
/// `new_vmid()` and its hooks. It is sound because the only call that can
/// re-enter, `refresh`, takes `&mut self`: while it runs, the outer token is
/// mutably borrowed, so the borrow checker has ended every `&mut Table`
/// reached through it, and the nested op's token is the only one in use.
/// [`Locked::assume_held`] states this rule for every token made.
///
/// # Invariants
///
/// While the token lives, the CPU that made it holds `cpu_vmid_lock`, and
/// no other token of the same acquisition is used (see
/// [`Locked::assume_held`]).
///
/// Not `Send`: the lock belongs to the CPU that took it.
pub(crate) struct Locked {
    _not_send: PhantomData<*mut ()>,
}

impl Locked {
    /// Asserts that `cpu_vmid_lock` is held and makes the token of this
    /// call frame.
    ///
    /// # Safety
    ///
    /// - This CPU holds `cpu_vmid_lock`, taken with interrupts off, for as
    ///   long as the token lives.
    /// - At most one token per lock acquisition is alive in each call frame
    ///   that reaches the lock-protected data: the one of the frame that
    ///   took the lock ([`LockGuard::lock`]) or of an op `vmid.c` calls with
    ///   the lock held (`ops.rs`).
    /// - A token made by an op that C calls back from within a lock holder
    ///   (re-entrantly, from `new_vmid()`) is only used while no reference
    ///   derived from an outer token of the same acquisition is alive. This
    ///   holds as long as every C call that can re-enter an op is made
    ///   through `&mut Locked`, as [`Locked::refresh`] is.
    pub(crate) unsafe fn assume_held() -> Self {
        // INVARIANT: the caller holds the lock and keeps this token the
        // only one in use, as required above.
        Self {
            _not_send: PhantomData,
        }
    }

    /// Moves `vmid` to the current generation, allocating an index if it
    /// has none or lost it (`kvm_arm_vmid_refresh_locked()`).
    ///
    /// This may call back into this module (the `pinned` and `rollover`
    /// ops, which make their own tokens): `&mut self` keeps every borrow of
    /// lock-protected data made through this token dead across the call,
    /// see [`Locked`]'s re-entrancy rule.
    pub(crate) fn refresh(&mut self, vmid: &KvmVmid) -> u64 {
        // SAFETY: `self` proves the lock is held, and `vmid` is valid by
        // its type invariant. The ops the call may re-enter make their own
        // tokens while `self` is mutably borrowed, as `assume_held` requires.
        unsafe { bindings::kvm_arm_vmid_refresh_locked(vmid.as_raw()) }
    }
}

/// Holds `cpu_vmid_lock` (a raw spinlock, interrupts off); releases it on
/// drop.
///
/// Never hold one across anything that can fail a KUnit assertion: a
/// failed assertion ends the thread without running destructors, so the
/// lock would stay held with interrupts off.
#[must_use = "the lock is released when the guard is dropped"]
pub(crate) struct LockGuard {
    flags: c_ulong,
    token: Locked,
}

impl LockGuard {
    /// Takes `cpu_vmid_lock` with interrupts off.
    pub(crate) fn lock() -> Self {
        // SAFETY: no precondition; paired with the unlock in `drop`.
        let flags = unsafe { bindings::kvm_arm_vmid_lock() };
        Self {
            flags,
            // SAFETY: the lock was just taken and is held until `drop`, and
            // this frame took it: this is its one token.
            token: unsafe { Locked::assume_held() },
        }
    }
}

impl core::ops::Deref for LockGuard {
    type Target = Locked;

    fn deref(&self) -> &Locked {
        &self.token
    }
}

impl core::ops::DerefMut for LockGuard {
    fn deref_mut(&mut self) -> &mut Locked {
        &mut self.token
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // SAFETY: the lock was taken in `lock()` with these flags.
        unsafe { bindings::kvm_arm_vmid_unlock(self.flags) };
    }
}

/// A pin taken through KVM's C API (`kvm_arm_pinned_vmid_get()`), as another
/// driver takes it; dropped with `kvm_arm_pinned_vmid_put()`.
///
/// Test builds only: it exercises the C dispatcher and its VM references.
///
/// # Invariants
///
/// One pin on `kvm`, taken with `kvm_arm_pinned_vmid_get()`, is owned by
/// this value until drop.
#[cfg(ksv_test)]
pub(crate) struct VmPin<'a> {
    kvm: &'a Kvm,
    vmid: u16,
}

#[cfg(ksv_test)]
impl<'a> VmPin<'a> {
    /// Pins the VM's VMID; `EINVAL` for `None` (C's NULL) or a dying VM.
    ///
    /// Goes through KVM's dispatcher, which takes the VM reference the pin
    /// holds. May sleep: call it without locks.
    pub(crate) fn get(kvm: Option<&'a Kvm>) -> Result<Self> {
        let ptr = kvm.map_or(core::ptr::null_mut(), |k| k.as_raw());
        // SAFETY: `ptr` is NULL or a live VM (a `&Kvm` holds a reference).
        let ret = unsafe { bindings::kvm_arm_pinned_vmid_get(ptr) };
        to_result(ret)?;
        // Cannot fail: `kvm_arm_pinned_vmid_get(NULL)` returns `-EINVAL`.
        let kvm = kvm.ok_or(EINVAL)?;
        // INVARIANT: the get above succeeded; `pin` owns the pin from here,
        // so it is put on drop, also if the conversion below fails.
        let mut pin = Self { kvm, vmid: 0 };
        pin.vmid = u16::try_from(ret).map_err(|_| EINVAL)?;
        Ok(pin)
    }

    /// The pinned VMID (>= 1).
    pub(crate) fn vmid(&self) -> u16 {
        self.vmid
    }
}

#[cfg(ksv_test)]
impl Drop for VmPin<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this value owns one pin on the VM,
        // taken with `kvm_arm_pinned_vmid_get()`, and gives it up here.
        unsafe { pinned_vmid_put(self.kvm) };
    }
}

/// `kvm_arm_pinned_vmid_put()`: drops one pin of `kvm`, and the VM
/// reference it held.
///
/// Test builds only; [`VmPin`] calls it on drop, and a test calls it
/// directly to check that a put without a get changes nothing.
///
/// # Safety
///
/// The caller owns a pin on this VM taken with `kvm_arm_pinned_vmid_get()`
/// and gives it up, or no pin on this VM exists at all (the put then
/// changes nothing). A put for a pin owned by someone else would drop that
/// holder's pin and its VM reference: the VMID could then be given to
/// another VM, and the VM freed, while the holder still uses them.
#[cfg(ksv_test)]
pub(crate) unsafe fn pinned_vmid_put(kvm: &Kvm) {
    // SAFETY: `kvm` is a live VM; the caller gives up its pin, if any, as
    // required above. The call may sleep, and no lock is held here.
    unsafe { bindings::kvm_arm_pinned_vmid_put(kvm.as_raw()) };
}

/// The pin ops and their table, registered with KVM for as long as this
/// value lives.
///
/// # Invariants
///
/// `kvm_arm_vmid_pin_register()` succeeded with this module's ops, and the
/// table is installed, until drop.
pub(crate) struct Registration(());

impl Registration {
    /// Installs `table` and registers `ops`; `EBUSY` if another pin module
    /// is registered (the table is then freed, unlocked).
    pub(crate) fn new(
        ops: &'static crate::ops_table::OpsTable<bindings::kvm_vmid_pin_ops>,
        table: crate::pins::Table,
    ) -> Result<Self> {
        crate::pins::install(&mut LockGuard::lock(), table);
        // SAFETY: `ops` is a static table of valid functions.
        if let Err(e) = to_result(unsafe { bindings::kvm_arm_vmid_pin_register(&ops.0) }) {
            // The guard is dropped at the end of the statement: the table
            // is freed after the lock is released.
            let _table = crate::pins::remove(&mut LockGuard::lock());
            return Err(e);
        }
        // INVARIANT: installed and registered above.
        Ok(Self(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: by the type invariant our ops are registered. KVM calls
        // them under `cpu_vmid_lock`, which unregistering takes, so none
        // runs in this module after it.
        unsafe { bindings::kvm_arm_vmid_pin_unregister() };
        // The guard is dropped at the end of the statement: the table is
        // freed below, after the lock is released.
        let table = crate::pins::remove(&mut LockGuard::lock());
        if let Some(t) = &table {
            pr_info!(
                "unloaded: {} pins, {} unpins, {} rollovers seen\n",
                t.stats().pins,
                t.stats().unpins,
                t.stats().rollovers
            );
        }
        drop(table);
    }
}

/// A view of the allocator's `vmid_map` during a rollover.
///
/// # Safety
///
/// `map` must be `vmid_map`, passed to the rollover op, `bits` the VMID
/// width it was sized for, and `cpu_vmid_lock` must be held for `'a`, by
/// the frame of the op (`flush_context()` uses the map again once the op
/// returns).
pub(crate) unsafe fn vmid_map<'a>(map: *mut usize, bits: u32) -> &'a mut [usize] {
    let words = crate::pin_table::bitmap_words(1 << bits);
    // SAFETY: `vmid_map` has `BITS_TO_LONGS(1 << bits)` words and the lock,
    // held for `'a`, serialises every access to it.
    unsafe { core::slice::from_raw_parts_mut(map, words) }
}
