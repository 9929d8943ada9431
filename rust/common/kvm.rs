// SPDX-License-Identifier: GPL-2.0

//! A refcounted handle on a KVM VM (`struct kvm`).
//!
//! C header: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h)
//!
//! Shared by path (`#[path]`) between our module crates, since a module
//! crate cannot use another's items.

use core::ptr::NonNull;
#[cfg(ksv_test)]
use kernel::sync::aref::ARef;
use kernel::{
    bindings,
    sync::aref::AlwaysRefCounted,
    types::Opaque, //
};

/// A KVM VM.
///
/// Dropping an `ARef<Kvm>` may drop the last VM reference, and with it
/// destroy the VM (`kvm_put_kvm()` sleeps then): drop one only in process
/// context, with no spinlock held. Only test code and the demo hold one,
/// and drop it after their own locks are released.
///
/// # Invariants
///
/// Instances are only reached through a reference on `users_count`, so the
/// VM is alive (`users_count > 0`) while a `&Kvm` exists.
#[repr(transparent)]
pub(crate) struct Kvm(Opaque<bindings::kvm>);

// SAFETY: `kvm_get_kvm()`/`kvm_put_kvm()` may be called from any thread
// (the put may sleep, which `ARef` drops in process context allow).
unsafe impl Send for Kvm {}
// SAFETY: a `&Kvm` only allows refcount operations, which are thread-safe.
unsafe impl Sync for Kvm {}

// SAFETY: the refcount is `users_count`, managed by `kvm_get_kvm()` and
// `kvm_put_kvm()`; the VM stays valid while it is non-zero.
unsafe impl AlwaysRefCounted for Kvm {
    fn inc_ref(&self) {
        // SAFETY: a `&Kvm` proves a reference is held, so the count is non-zero.
        unsafe { bindings::kvm_get_kvm(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns one reference, which is given back here.
        unsafe { bindings::kvm_put_kvm(obj.cast().as_ptr()) };
    }
}

impl Kvm {
    /// Takes a reference on `ptr` unless the VM is already being destroyed
    /// (`kvm_get_kvm_safe()`).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a `struct kvm` whose memory stays valid for the
    /// call, as a `kvm-vfio` or VM file reference guarantees.
    // The test build's VMs and the demo (built with `--cfg ksv_test`) use
    // it; production crates do not have it.
    #[cfg(ksv_test)]
    pub(crate) unsafe fn try_get(ptr: *mut bindings::kvm) -> Option<ARef<Self>> {
        // SAFETY: the memory is valid per the caller.
        if !unsafe { bindings::kvm_get_kvm_safe(ptr) } {
            return None;
        }
        // INVARIANT: the reference taken above is owned by the `ARef`.
        // SAFETY: `ptr` is non-null (it was dereferenced) and we own a reference.
        Some(unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) })
    }

    /// The raw `struct kvm` pointer.
    pub(crate) fn as_raw(&self) -> *mut bindings::kvm {
        self.0.get()
    }

    /// The current `users_count` (`refcount_read()`).
    pub(crate) fn users(&self) -> u32 {
        // SAFETY: the VM is alive by the type invariant, and
        // `kernel::sync::Refcount` is a transparent `refcount_t`.
        let r =
            unsafe { &*(&raw const (*self.as_raw()).users_count).cast::<kernel::sync::Refcount>() };
        // CAST: a live VM's count is positive.
        r.as_atomic().load(kernel::sync::atomic::Relaxed) as u32
    }

    /// The VM's statistics name, `kvm-<pid of its creator>`: an id for
    /// messages and debugfs, which must not show kernel addresses.
    #[allow(dead_code)]
    pub(crate) fn stats_id(&self) -> &str {
        use kernel::str::CStrExt;
        // SAFETY: the VM is alive by the type invariant; `stats_id` is a
        // NUL-terminated string set at creation and never changed.
        let id = unsafe { kernel::str::CStr::from_char_ptr((*self.as_raw()).stats_id.as_ptr()) };
        id.to_str().unwrap_or("?")
    }
}
