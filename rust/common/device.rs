// SPDX-License-Identifier: GPL-2.0

//! Device names for messages and debugfs, shared by path (`#[path]`).

use kernel::{
    bindings,
    prelude::*,
    str::CString, //
};

/// The name of a device, or `"?"` for one without a name yet.
///
/// # Safety
///
/// `dev` is NULL or a valid `struct device`.
pub(crate) unsafe fn dev_name(dev: *mut bindings::device) -> Result<CString> {
    if dev.is_null() {
        return CString::try_from_fmt(fmt!("?"));
    }
    // SAFETY: `dev` is valid per the caller.
    let name = unsafe { bindings::dev_name(dev) };
    if name.is_null() {
        return CString::try_from_fmt(fmt!("?"));
    }
    // SAFETY: `dev_name` returned a valid C string.
    let name = unsafe { CStr::from_char_ptr(name) };
    CString::try_from_fmt(fmt!("{}", name))
}
