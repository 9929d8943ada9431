// SPDX-License-Identifier: GPL-2.0

//! An ops table that a module registers with C, shared by path (`#[path]`)
//! by our module crates.

/// A `struct *_ops` whose `owner` is the registering module.
///
/// Only the two ops types of our modules (`kvm_vmid_pin_ops`,
/// `arm_smmu_btm_ops`) are `Sync`, so only they can be `static` tables: a
/// `T` that holds data another thread must not see gets no such impl.
///
/// The C side takes a reference on `owner` for every object that keeps
/// using the module (a VMID handed out, a bound device, an SMMU running
/// with BTM) and drops it when the object goes, so `rmmod` is refused while
/// one exists. This is the kernel's `.owner = THIS_MODULE` convention.
#[repr(transparent)]
pub(crate) struct OpsTable<T>(pub(crate) T);

// SAFETY: `kvm_vmid_pin_ops` holds `owner` and function pointers only. The
// table is never written after initialisation; C only reads it, calls the
// ops from any thread (they take no thread-bound state), and passes `owner`
// to `try_module_get()`/`module_put()`, which may be called from any thread.
unsafe impl Sync for OpsTable<kernel::bindings::kvm_vmid_pin_ops> {}

// SAFETY: as for `kvm_vmid_pin_ops`: `arm_smmu_btm_ops` holds `owner` and
// function pointers only, never written after initialisation.
unsafe impl Sync for OpsTable<kernel::bindings::arm_smmu_btm_ops> {}

/// A C function that registers an ops table, and unregisters it when
/// passed NULL: `kvm_arm_vmid_pin_register()`, `arm_smmu_btm_register()`.
/// It returns 0 or a negative errno.
pub(crate) type RegisterFn<T> = unsafe extern "C" fn(ops: *const T) -> kernel::ffi::c_int;

/// An ops table registered with C for as long as this value lives.
///
/// # Invariants
///
/// `register(ops)` succeeded, and is undone on drop with `register(NULL)`,
/// which waits for the ops' callers.
pub(crate) struct Registration<T: 'static> {
    register: RegisterFn<T>,
}

impl<T: 'static> Registration<T> {
    /// Registers `ops` with `register`; its error (e.g. `EBUSY`: another
    /// module registered) otherwise.
    ///
    /// # Safety
    ///
    /// `register` is one of the functions [`RegisterFn`] names, for `T`:
    /// it stores `ops` until it is called with NULL, which waits until no
    /// op runs any more.
    pub(crate) unsafe fn new(
        ops: &'static OpsTable<T>,
        register: RegisterFn<T>,
    ) -> kernel::error::Result<Self> {
        // SAFETY: `ops` is a static table of valid functions, and
        // `register` registers it, per the caller.
        kernel::error::to_result(unsafe { register(&ops.0) })?;
        // INVARIANT: registered just above.
        Ok(Self { register })
    }
}

impl<T: 'static> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant our ops are registered with
        // `register`; NULL unregisters them and waits for their callers, so
        // no op runs in this module after it.
        unsafe { (self.register)(core::ptr::null()) };
    }
}

/// Says in dmesg why registering with `func` failed: `busy` for `EBUSY`
/// (another module registered), else the function and its errno.
pub(crate) fn say_why(e: kernel::error::Error, func: &str, busy: &str) {
    if e == kernel::error::code::EBUSY {
        kernel::pr_err!("{}\n", busy);
    } else {
        kernel::pr_err!("{}() failed: {:?}\n", func, e);
    }
}
