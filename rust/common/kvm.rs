// SPDX-License-Identifier: GPL-2.0

//! A refcounted handle on a KVM VM (`struct kvm`).
//!
//! C header: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h)
//!
//! Shared by path (`#[path]`) between our module crates, since a module
//! crate cannot use another's items.

use core::ptr::NonNull;
#[cfg(ksv_test)]
use kernel::error::{
    code::EBADF,
    Result, //
};
#[cfg(ksv_test)]
use kernel::sync::aref::ARef;
use kernel::{
    bindings,
    sync::aref::AlwaysRefCounted,
    types::Opaque, //
};

/// A KVM VM.
///
/// `smmu_v3_btm` borrows one (`&Kvm`) from the VM file a vIOMMU holds.
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
}

/// `KVM_CREATE_VM`: `_IO(KVMIO, 0x01)`.
#[cfg(ksv_test)]
const KVM_CREATE_VM: u32 = (0xAE << 8) | 0x01;

/// Creates a VM as userspace does (`KVM_CREATE_VM` on `/dev/kvm`), in the
/// calling process, which must have a file table (module init, in
/// `insmod`): a new reference on the VM's file.
#[cfg(ksv_test)]
pub(crate) fn create_vm_file() -> Result<*mut bindings::file> {
    use kernel::{
        error::from_err_ptr,
        str::CStrExt, //
    };
    // SAFETY: the path is a valid C string; O_RDWR.
    let dev = from_err_ptr(unsafe {
        bindings::filp_open(c"/dev/kvm".as_char_ptr(), bindings::O_RDWR as i32, 0)
    })
    .inspect_err(|e| kernel::pr_err!("open /dev/kvm: {:?}\n", e))?;
    // SAFETY: `dev` is an open `/dev/kvm`; its fops have `unlocked_ioctl`.
    let fd = unsafe {
        let ioctl = (*(*dev).f_op).unlocked_ioctl;
        let fd = ioctl.map_or(-(bindings::ENOTTY as isize), |f| {
            f(dev, KVM_CREATE_VM, 0) as isize
        });
        bindings::filp_close(dev, core::ptr::null_mut());
        fd
    };
    let fd = u32::try_from(fd).map_err(|_| {
        kernel::pr_err!("KVM_CREATE_VM: {}\n", fd);
        kernel::error::Error::from_errno(fd as i32)
    })?;
    // SAFETY: `fd` was just installed in this process.
    let file = unsafe { bindings::fget(fd) };
    // SAFETY: drop the descriptor; `file` keeps the VM open.
    unsafe { bindings::close_fd(fd) };
    if file.is_null() {
        return Err(EBADF);
    }
    Ok(file)
}
