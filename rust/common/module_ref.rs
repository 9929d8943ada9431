// SPDX-License-Identifier: GPL-2.0

//! References on the calling module, shared by path (`#[path]`) by our
//! module crates.
//!
//! Every VMID, VM reference or association a module hands out holds one
//! module reference, so `rmmod` is refused while any is alive.

use core::marker::PhantomData;
use kernel::{
    bindings,
    ModuleMetadata, //
};

/// A reference on module `M`, dropped with the value.
///
/// # Invariants
///
/// One reference on `M` was taken with `try_module_get()` and is held
/// until drop.
pub(crate) struct ModuleRef<M: ModuleMetadata>(PhantomData<M>);

#[allow(dead_code)]
impl<M: ModuleMetadata> ModuleRef<M> {
    /// Takes a reference; `None` if the module is going away.
    pub(crate) fn get() -> Option<Self> {
        // SAFETY: `THIS_MODULE` is module `M`, which is loaded (we run in it).
        let ok = unsafe { bindings::try_module_get(M::THIS_MODULE.as_ptr()) };
        // INVARIANT: the reference was taken.
        ok.then_some(Self(PhantomData))
    }
}

impl<M: ModuleMetadata> Drop for ModuleRef<M> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this value holds one reference.
        unsafe { bindings::module_put(M::THIS_MODULE.as_ptr()) };
    }
}

// SAFETY: a module reference may be dropped from any thread.
unsafe impl<M: ModuleMetadata> Send for ModuleRef<M> {}
// SAFETY: a `&ModuleRef` allows nothing.
unsafe impl<M: ModuleMetadata> Sync for ModuleRef<M> {}

/// Takes a reference on module `M`; `false` if it is going away.
#[allow(dead_code)]
pub(crate) fn get<M: ModuleMetadata>() -> bool {
    // SAFETY: `THIS_MODULE` is module `M`, which is loaded (we run in it).
    unsafe { bindings::try_module_get(M::THIS_MODULE.as_ptr()) }
}

/// Drops a reference taken by [`get`].
///
/// # Safety
///
/// The caller owns a reference taken with [`get`] and gives it up.
#[allow(dead_code)]
pub(crate) unsafe fn put<M: ModuleMetadata>() {
    // SAFETY: the caller owns a reference, per the safety contract.
    unsafe { bindings::module_put(M::THIS_MODULE.as_ptr()) };
}
