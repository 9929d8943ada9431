// SPDX-License-Identifier: GPL-2.0

//! References on the calling module, shared by path (`#[path]`) by our
//! module crates.
//!
//! Every VMID, VM reference or association a module hands out holds one
//! module reference, so `rmmod` is refused while any is alive.

use kernel::{
    bindings,
    ModuleMetadata, //
};

/// Takes a reference on module `M`; `false` if it is going away.
pub(crate) fn get<M: ModuleMetadata>() -> bool {
    // SAFETY: `THIS_MODULE` is module `M`, which is loaded (we run in it).
    unsafe { bindings::try_module_get(M::THIS_MODULE.as_ptr()) }
}

/// Drops a reference taken by [`get`].
pub(crate) fn put<M: ModuleMetadata>() {
    // SAFETY: the caller took a reference with `get`.
    unsafe { bindings::module_put(M::THIS_MODULE.as_ptr()) };
}
