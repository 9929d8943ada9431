// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over KVM's arm64 VMID allocator and its pinning hooks.
//!
//! C header: [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h)
//!
//! This is the only file of the module that calls `bindings::`. The hooks
//! come from `patches/0001-KVM-arm64-Add-hooks-to-pin-VMIDs-from-a-module.patch`
//! and are exported to this module only.

use crate::kvm::Kvm;
use core::marker::PhantomData;
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
/// # Invariants
///
/// The wrapped `struct kvm_vmid` is valid for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct KvmVmid(Opaque<bindings::kvm_vmid>);

impl KvmVmid {
    /// A VMID that was never allocated (`id == 0`), for tests and demos.
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

    /// Forgets the VMID, as for a new VM; only for VMIDs this module owns.
    pub(crate) fn reset(&self) {
        // SAFETY: by the type invariant the `kvm_vmid` is valid.
        unsafe { bindings::atomic64_set(&raw mut (*self.as_raw()).id, 0) };
    }

    /// Runs KVM's vcpu-load VMID update (`kvm_arm_vmid_update()`).
    ///
    /// # Safety
    ///
    /// Preemption must be disabled, as it is in `kvm_arch_vcpu_load()`.
    pub(crate) unsafe fn update(&self) {
        // SAFETY: the `kvm_vmid` is valid by the type invariant, and the
        // caller disabled preemption.
        unsafe { bindings::kvm_arm_vmid_update(self.as_raw()) };
    }
}

/// Proof that KVM's `cpu_vmid_lock` is held, with interrupts off.
///
/// Not `Send`: the lock belongs to the CPU that took it.
pub(crate) struct Locked {
    _not_send: PhantomData<*mut ()>,
}

impl Locked {
    /// Asserts that `cpu_vmid_lock` is held.
    ///
    /// # Safety
    ///
    /// The caller must hold `cpu_vmid_lock` while the token lives: it is one
    /// of the `kvm_vmid_pin_ops`, which `vmid.c` calls with the lock held.
    pub(crate) unsafe fn assume_held() -> Self {
        Self {
            _not_send: PhantomData,
        }
    }

    /// Moves `vmid` to the current generation, allocating an index if it
    /// has none or lost it (`kvm_arm_vmid_refresh_locked()`).
    ///
    /// This may start a new generation, which calls back into this module's
    /// rollover op; `&mut self` ensures no borrow of lock-protected data
    /// lives across the call.
    pub(crate) fn refresh(&mut self, vmid: &KvmVmid) -> u64 {
        // SAFETY: `self` proves the lock is held; `vmid` is valid.
        unsafe { bindings::kvm_arm_vmid_refresh_locked(vmid.as_raw()) }
    }
}

/// Holds `cpu_vmid_lock`; releases it on drop.
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
            // SAFETY: the lock was just taken and is held until `drop`.
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

/// `kvm_arm_pinned_vmid_get()`: the C API other drivers call.
///
/// Goes through KVM's dispatcher, which takes the VM reference the pin holds.
pub(crate) fn pinned_vmid_get(kvm: Option<&Kvm>) -> Result<u16> {
    let ptr = kvm.map_or(core::ptr::null_mut(), |k| k.as_raw());
    // SAFETY: `ptr` is NULL or a live VM (a `&Kvm` holds a reference).
    let ret = unsafe { bindings::kvm_arm_pinned_vmid_get(ptr) };
    to_result(ret)?;
    u16::try_from(ret).map_err(|_| EINVAL)
}

/// `kvm_arm_pinned_vmid_put()`: drops a pin taken by [`pinned_vmid_get`].
pub(crate) fn pinned_vmid_put(kvm: &Kvm) {
    // SAFETY: `kvm` is a live VM; the call may sleep, and we hold no lock.
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
        ops: &'static bindings::kvm_vmid_pin_ops,
        table: crate::pins::Table,
    ) -> Result<Self> {
        crate::pins::install(&mut LockGuard::lock(), table);
        // SAFETY: `ops` is a static table of valid functions.
        if let Err(e) = to_result(unsafe { bindings::kvm_arm_vmid_pin_register(ops) }) {
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
/// width it was sized for, and `cpu_vmid_lock` must be held for `'a`.
pub(crate) unsafe fn vmid_map<'a>(map: *mut usize, bits: u32) -> &'a mut [usize] {
    let words = crate::pin_table::bitmap_words(1 << bits);
    // SAFETY: `vmid_map` has `BITS_TO_LONGS(1 << bits)` words and the lock,
    // held for `'a`, serialises every access to it.
    unsafe { core::slice::from_raw_parts_mut(map, words) }
}
