// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over KVM's arm64 VMID allocator and its pinning hooks.
//!
//! C header: [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h)
//!
//! Every call this module makes into KVM's VMID allocator is made here. The
//! hooks come from `patches/0002-KVM-arm64-Let-a-module-pin-VMIDs-*`:
//! `kvm_arm_vmid_bits`, `kvm_arm_vmid_pin_register()` and
//! `kvm_arm_vmid_pin()`/`unpin()` (which other drivers call, and which
//! reach this module through its `pin` and `unpin` ops). The crate's other
//! raw C calls are in the files shared by path: `common/arm64_host.rs` (the
//! exception level and KVM's VMID width, a submodule of this file),
//! `common/ops_table.rs` (the ops table) and, in test builds only,
//! `common/kvm.rs` and `common/test_vm.rs` (VMs for KUnit); `ops.rs` names
//! `bindings::` types only, in the signatures of the ops C calls.
//!
//! # Locking
//!
//! `cpu_vmid_lock` is a *raw* spinlock, taken with `raw_spin_lock_irqsave()`:
//! while it is held, interrupts and preemption are off on the holding CPU,
//! also under `PREEMPT_RT` (where a `spinlock_t` would not disable either).
//! KVM calls every op with it held, and nothing else of this module runs
//! under it.

use core::marker::PhantomData;
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::Opaque, //
};

#[path = "../common/arm64_host.rs"]
mod arm64_host;

/// How KVM runs on this host, as the allocator sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    /// `kvm_arm_vmid_bits`: 8 or 16.
    pub(crate) vmid_bits: u32,
    /// `nr_cpu_ids`, an upper bound of `num_possible_cpus()`.
    pub(crate) nr_cpus: u32,
    /// The host kernel runs at EL2 (VHE).
    pub(crate) vhe: bool,
}

impl Host {
    /// Reads KVM's VMID width (`kvm_arm_vmid_bits`, 0 until KVM is
    /// initialised), the CPU count and the mode.
    pub(crate) fn query() -> Self {
        Self {
            vmid_bits: arm64_host::kvm_vmid_bits(),
            nr_cpus: kernel::cpu::nr_cpu_ids(),
            vhe: arm64_host::running_at_el2(),
        }
    }

    /// The KVM mode as KVM names it at boot.
    pub(crate) fn mode(&self) -> &'static str {
        if self.vhe {
            "VHE"
        } else {
            "nVHE"
        }
    }
}

/// A `struct kvm_vmid`: the VMID of one stage-2 MMU.
///
/// A `&KvmVmid` is either a VM's (`kvm->arch.mmu.vmid`) or one that no VM
/// is given (a device's, or one the test build owns,
/// [`KvmVmid::new_unallocated`]).
///
/// # Invariants
///
/// The wrapped `struct kvm_vmid` is valid for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct KvmVmid(Opaque<bindings::kvm_vmid>);

// SAFETY: a `struct kvm_vmid` is one `atomic64_t`, `id`; through a
// `&KvmVmid` this module only reads it atomically ([`KvmVmid::id`]) or
// passes the pointer to KVM, which changes it atomically under
// `cpu_vmid_lock`. So a `&KvmVmid` may be shared between CPUs.
unsafe impl Sync for KvmVmid {}

impl KvmVmid {
    /// A VMID that was never allocated (`id == 0`), owned by a test.
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

    /// The raw pointer, for the C API.
    pub(crate) fn as_raw(&self) -> *mut bindings::kvm_vmid {
        self.0.get()
    }

    /// The owner key used by the pin table: this VMID's address.
    pub(crate) fn owner(&self) -> usize {
        self.as_raw() as usize
    }

    /// The current value: `generation | index`, or 0 if never allocated.
    pub(crate) fn id(&self) -> u64 {
        // SAFETY: by the type invariant the `kvm_vmid` is valid for as long
        // as `self` is borrowed; `id.counter` is the `s64` of an
        // `atomic64_t`, aligned for it, which KVM only accesses with C atomic
        // operations, as `Atomic` does.
        let id = unsafe { Atomic::<i64>::from_ptr(&raw mut (*self.as_raw()).id.counter) };
        // CAST: `generation | index`, never negative.
        id.load(Relaxed) as u64
    }
}

/// Proof that this CPU holds KVM's `cpu_vmid_lock`, and the one handle of
/// the current call frame on the data it protects.
///
/// `cpu_vmid_lock` is a raw spinlock taken with interrupts off, so the
/// holder cannot be preempted or migrated, also under `PREEMPT_RT`.
///
/// Only the ops make tokens, and no op is ever called from within another:
/// KVM calls them from `kvm_arm_vmid_pin()`, `kvm_arm_vmid_unpin()` and
/// `new_vmid()`, which take the lock first, so calling them from an op
/// would deadlock rather than re-enter. One lock acquisition therefore has
/// at most one token.
///
/// # Invariants
///
/// While the token lives, the CPU that made it holds `cpu_vmid_lock`, and
/// it is the only token of this lock acquisition.
///
/// Not `Send`: the lock belongs to the CPU that took it.
pub(crate) struct Locked {
    _not_send: PhantomData<*mut ()>,
}

impl Locked {
    /// Asserts that `cpu_vmid_lock` is held and makes the token of this
    /// acquisition.
    ///
    /// # Safety
    ///
    /// This CPU holds `cpu_vmid_lock`, taken with interrupts off, for as
    /// long as the token lives, and no other token of this acquisition
    /// exists: the caller is an op that KVM calls with the lock held.
    pub(crate) unsafe fn assume_held() -> Self {
        // INVARIANT: the caller holds the lock and makes the only token.
        Self {
            _not_send: PhantomData,
        }
    }
}

/// Whether KVM runs in protected mode, where the hypervisor assigns VMIDs
/// (`kvm_arm_vmid_pin_available()` answers `-EOPNOTSUPP`).
pub(crate) fn protected_kvm() -> bool {
    // SAFETY: a question without a precondition.
    let ret = unsafe { bindings::kvm_arm_vmid_pin_available() };
    ret == -(bindings::EOPNOTSUPP as i32)
}

/// The context of [`on_cpu`]'s closure: interrupts off on the CPU it
/// names, as at vcpu load, where KVM updates its per-CPU VMID state.
///
/// Test builds only: `kvm_arm_vmid_update()` and
/// `kvm_arm_vmid_clear_active()` are exported for KUnit alone
/// (`EXPORT_SYMBOL_IF_KUNIT`).
#[cfg(ksv_test)]
pub(crate) struct OnCpu {
    _not_send: PhantomData<*mut ()>,
}

#[cfg(ksv_test)]
impl OnCpu {
    /// `kvm_arm_vmid_update()`: what `kvm_arch_vcpu_load()` does for a VM
    /// whose stage-2 VMID is `vmid`; this CPU then runs with `vmid`'s value.
    pub(crate) fn vmid_update(&self, vmid: &KvmVmid) {
        // SAFETY: `vmid` is valid; interrupts are off on this CPU (the
        // token's context), as KVM calls it with preemption off.
        unsafe { bindings::kvm_arm_vmid_update(vmid.as_raw()) };
    }

    /// `kvm_arm_vmid_clear_active()`, as `kvm_arch_vcpu_put()` does.
    pub(crate) fn vmid_clear_active(&self) {
        // SAFETY: interrupts are off on this CPU (the token's context).
        unsafe { bindings::kvm_arm_vmid_clear_active() };
    }
}

/// Runs `f` on `cpu` with interrupts off (`smp_call_function_single()`,
/// waiting for it), for the tests of KVM's per-CPU VMID state.
///
/// `f` runs on another CPU, which may be another thread than the
/// caller's: hence `F: Send`.
#[cfg(ksv_test)]
pub(crate) fn on_cpu<F: FnMut(&OnCpu) + Send>(cpu: u32, mut f: F) -> Result {
    /// The `smp_call_func_t` that runs `f` on the target CPU.
    ///
    /// # Safety
    ///
    /// `data` is a valid `&mut F`, exclusive for the call.
    unsafe extern "C" fn call<F: FnMut(&OnCpu) + Send>(data: *mut c_void) {
        // SAFETY: `data` is the `&mut F` of `on_cpu`, which waits for this
        // call to return.
        let f = unsafe { &mut *data.cast::<F>() };
        f(&OnCpu {
            _not_send: PhantomData,
        });
    }
    let cpu = i32::try_from(cpu).map_err(|_| EINVAL)?;
    // SAFETY: `call::<F>` takes `data` as the `&mut F` it is, and `wait`
    // is 1, so `f` outlives the call.
    let ret = unsafe {
        bindings::smp_call_function_single(cpu, Some(call::<F>), (&raw mut f).cast(), true)
    };
    kernel::error::to_result(ret)
}

/// A pin taken through KVM's C API (`kvm_arm_vmid_pin()`), as another
/// driver takes it, on a VMID the holder keeps alive; given back on drop.
///
/// Test builds only: the KUnit tests and benchmarks pin this way.
///
/// Leaking one (`mem::forget`) is safe: the pin table keeps the VMID's
/// address only as a key and never reads through it, so a leaked pin keeps
/// its index (and a module reference) taken, and nothing else.
///
/// # Invariants
///
/// One pin on `vmid`, taken with `kvm_arm_vmid_pin()`, is owned by this
/// value until drop.
#[cfg(ksv_test)]
#[must_use = "the pin is given back when dropped"]
pub(crate) struct OwnedPin<'a> {
    vmid: &'a KvmVmid,
    idx: u16,
}

#[cfg(ksv_test)]
impl<'a> OwnedPin<'a> {
    /// Pins `vmid`, which the borrow keeps at its address (the pin's
    /// owner key) and alive while pinned.
    pub(crate) fn take(vmid: &'a KvmVmid) -> Result<Self> {
        // SAFETY: `vmid` is valid for the call; the borrow keeps it valid
        // and at its address until the unpin in `drop`.
        let ret = unsafe { bindings::kvm_arm_vmid_pin(vmid.as_raw()) };
        kernel::error::to_result(ret)?;
        // INVARIANT: the pin succeeded: it is ours from here, and put on
        // drop also if the conversion below fails.
        let mut pin = Self { vmid, idx: 0 };
        pin.idx = u16::try_from(ret).map_err(|_| EINVAL)?;
        Ok(pin)
    }

    /// The pinned VMID index (>= 1).
    pub(crate) fn idx(&self) -> u16 {
        self.idx
    }
}

#[cfg(ksv_test)]
impl Drop for OwnedPin<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one pin on `vmid`, given up
        // here; `vmid` is still valid (borrowed).
        unsafe { bindings::kvm_arm_vmid_unpin(self.vmid.as_raw()) };
    }
}

/// `kvm_arm_vmid_unpin()` without a pin, to test that it changes nothing.
///
/// The caller must hold no pin on `vmid`: an [`OwnedPin`] borrows its
/// VMID for as long as it holds the pin, and the tests pin only through
/// those, so a test VMID is pinned by none while it is not borrowed. Were
/// another holder's pin dropped here, that holder's VMID could move at the
/// next rollover: wrong, but not undefined behaviour, as the allocator
/// keeps every VMID valid.
#[cfg(ksv_test)]
pub(crate) fn unpin_unowned(vmid: &KvmVmid) {
    // SAFETY: `vmid` is valid for the call; `kvm_arm_vmid_unpin()` only
    // reads it and changes the pin module's bookkeeping.
    unsafe { bindings::kvm_arm_vmid_unpin(vmid.as_raw()) };
}

/// The pin ops, registered with KVM for as long as this value lives.
pub(crate) type Registration = crate::ops_table::Registration<bindings::kvm_vmid_pin_ops>;

/// Registers `ops`; the table must be installed.
///
/// `ENODEV` if KVM is not initialised or runs in protected mode, `EBUSY` if
/// another pin module is registered: each said in dmesg, in its own words.
pub(crate) fn register(
    ops: &'static crate::ops_table::OpsTable<bindings::kvm_vmid_pin_ops>,
) -> Result<Registration> {
    // SAFETY: `kvm_arm_vmid_pin_register()` registers an ops table, and
    // unregisters it when given NULL; it takes `cpu_vmid_lock`, under which
    // KVM calls every op, so no op runs after the unregistering call.
    unsafe { Registration::new(ops, bindings::kvm_arm_vmid_pin_register) }.map_err(|e| {
        if e == ENODEV {
            pr_err!("KVM is not initialised (kernel not booted at EL2?): nothing to pin\n");
        } else if e == EOPNOTSUPP {
            pr_err!("KVM runs in protected mode: the hypervisor owns VMIDs, pinning refused\n");
            return ENODEV;
        } else {
            crate::ops_table::say_why(
                e,
                "kvm_arm_vmid_pin_register",
                "another VMID pin module is registered",
            );
        }
        e
    })
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
