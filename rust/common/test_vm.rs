// SPDX-License-Identifier: GPL-2.0

//! Real VMs for KUnit tests, created like userspace does: `KVM_CREATE_VM`
//! on `/dev/kvm`.
//!
//! KUnit runs each test in a kernel thread, which has no file table for the
//! VM's descriptor, so the module's init (which runs in `insmod`'s context)
//! fills a small pool with [`fill_pool`], and tests [`TestVm::take`] from it.

use crate::kvm::{
    self,
    Kvm, //
};
use core::{
    ptr::null_mut,
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::{
    bindings,
    prelude::*,
    sync::aref::ARef, //
};

/// A VM owned through its file, as a VMM holds it.
///
/// # Invariants
///
/// `file` is a reference on a KVM VM file, whose `private_data` is the VM.
pub(crate) struct TestVm {
    file: *mut bindings::file,
}

/// Number of VMs the pool holds.
const POOL_SIZE: usize = 8;

/// VM files created at module init, taken by tests.
static POOL: [AtomicPtr<bindings::file>; POOL_SIZE] =
    [const { AtomicPtr::new(null_mut()) }; POOL_SIZE];

/// The pool's VMs, released when this value is dropped (module exit, or an
/// init that fails after filling it).
pub(crate) struct Pool(());

impl Pool {
    /// Creates the pool's VMs if `create`; call from module init (process
    /// context, which KVM needs to create a VM).
    ///
    /// `create` is the test build's `test_vms` parameter, set by the boots
    /// that run KUnit: a boot that tests KVM without VMs must have none
    /// (`make test`'s `virt-off` boot).
    pub(crate) fn fill(create: bool) -> Result<Self> {
        let pool = Self(());
        if create {
            fill_pool()?;
        }
        Ok(pool)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        drain_pool();
    }
}

/// Creates the pool's VMs.
fn fill_pool() -> Result {
    for slot in POOL.iter() {
        let vm = TestVm::create()?;
        let old = slot.swap(vm.file, Ordering::AcqRel);
        core::mem::forget(vm);
        if !old.is_null() {
            // SAFETY: the pool owned this file reference.
            unsafe { bindings::fput(old) };
        }
    }
    Ok(())
}

/// Releases the VMs no test took.
fn drain_pool() {
    for slot in POOL.iter() {
        let file = slot.swap(null_mut(), Ordering::AcqRel);
        if !file.is_null() {
            // SAFETY: the pool owned this file reference.
            unsafe { bindings::fput(file) };
        }
    }
}

impl TestVm {
    /// Takes a VM from the pool.
    pub(crate) fn take() -> Result<Self> {
        for slot in POOL.iter() {
            let file = slot.swap(null_mut(), Ordering::AcqRel);
            if !file.is_null() {
                // INVARIANT: the pool held a VM file reference, now ours.
                return Ok(Self { file });
            }
        }
        pr_err!("no test VM left in the pool\n");
        Err(ENOENT)
    }

    /// Creates a VM in the calling process, which must have a file table.
    pub(crate) fn create() -> Result<Self> {
        // INVARIANT: a new reference on a VM file.
        Ok(Self {
            file: kvm::create_vm_file()?,
        })
    }

    fn raw(&self) -> *mut bindings::kvm {
        // SAFETY: by the type invariant, `private_data` is the VM.
        unsafe { (*self.file).private_data.cast() }
    }

    /// A new reference on the VM.
    pub(crate) fn kvm(&self) -> ARef<Kvm> {
        // SAFETY: the file reference keeps the VM memory valid.
        unsafe { Kvm::try_get(self.raw()) }.expect("an open VM file holds a users reference")
    }

    /// Closes the VM file now, as a VMM exiting does: the file's release
    /// (which drops the file's VM reference) runs before this returns.
    #[allow(dead_code)]
    pub(crate) fn close(self) {
        let file = self.file;
        core::mem::forget(self);
        // SAFETY: we own this file reference, and hold no lock.
        unsafe { bindings::__fput_sync(file) };
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        // SAFETY: we own the file reference.
        unsafe { bindings::fput(self.file) };
    }
}
