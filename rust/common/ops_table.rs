// SPDX-License-Identifier: GPL-2.0

//! An ops table that a module registers with C, shared by path (`#[path]`)
//! by our module crates.

/// A `struct *_ops` whose `owner` is the registering module.
///
/// The C side takes a reference on `owner` for every object that keeps
/// using the module (a VMID handed out, a bound device, an SMMU running
/// with BTM) and drops it when the object goes, so `rmmod` is refused while
/// one exists. This is the kernel's `.owner = THIS_MODULE` convention.
#[repr(transparent)]
pub(crate) struct OpsTable<T>(pub(crate) T);

// SAFETY: the table is never written after initialisation; C only reads
// it, and passes `owner` to `try_module_get()`/`module_put()`, which may be
// called from any thread.
unsafe impl<T> Sync for OpsTable<T> {}
