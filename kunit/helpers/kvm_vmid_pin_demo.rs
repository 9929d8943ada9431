// SPDX-License-Identifier: GPL-2.0

//! Demo for `make run`: pins the VMID of a VM that userspace created.
//!
//! `ksv-demo` (guest userspace) creates a VM through `/dev/kvm` and runs
//! `insmod kvm_vmid_pin_demo.ko vm_fd=N`, so the module inherits the VM's
//! descriptor. The module pins the VM's VMID through the public C API
//! (`kvm_arm_vmid_pin()`), as an SMMU driver would, holding the VM for as
//! long, and drops the pin when it is unloaded. It is a stand-in for the vSMMU and gives
//! userspace no pinning interface of its own.

use kernel::{
    bindings,
    prelude::*,
    sync::aref::ARef, //
};

#[path = "../../rust/common/kvm.rs"]
mod kvm;

use kvm::Kvm;

module! {
    type: PinDemo,
    name: "kvm_vmid_pin_demo",
    authors: ["kvm-smmu-vmid developers"],
    description: "Demo: pin the VMID of a VM given by file descriptor (make run)",
    license: "GPL",
    imports_ns: ["KVM_ARM_VMID_PIN"],
    params: {
        vm_fd: i32 {
            default: -1,
            description: "Descriptor of a KVM VM in the insmod process",
        },
    },
}

/// Takes a reference on the VM behind file descriptor `fd` of the
/// calling process; `EBADF` if it is not a KVM VM file.
fn vm_from_fd(fd: u32) -> Result<ARef<Kvm>> {
    // SAFETY: `fget` accepts any descriptor number.
    let file = unsafe { bindings::fget(fd) };
    if file.is_null() {
        return Err(EBADF);
    }
    // A VM file is one with KVM's VM file operations, as `file_is_kvm()`
    // answers (which arm64 does not export to modules), not merely one
    // named "kvm-vm": compare with a VM file of our own.
    let kvm = kvm::create_vm_file().and_then(|reference| {
        // SAFETY: both are file references we hold.
        let is_vm = unsafe { (*file).f_op == (*reference).f_op };
        // SAFETY: we own the reference `create_vm_file()` returned.
        unsafe { bindings::fput(reference) };
        if !is_vm {
            return Err(EBADF);
        }
        // SAFETY: a VM file's `private_data` is its `struct kvm`, valid
        // while we hold the file.
        unsafe { Kvm::try_get((*file).private_data.cast()) }.ok_or(EINVAL)
    });
    // SAFETY: we own the reference taken by `fget`.
    unsafe { bindings::fput(file) };
    kvm
}

/// The demo: one pinned VM.
struct PinDemo {
    kvm: ARef<Kvm>,
    vmid: u16,
}

impl kernel::Module for PinDemo {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let fd = u32::try_from(module_parameters::vm_fd.value()).map_err(|_| {
            pr_err!("vm_fd=N is required\n");
            EINVAL
        })?;
        let kvm = vm_from_fd(fd).inspect_err(|e| pr_err!("fd {}: {:?}\n", fd, e))?;
        // SAFETY: `kvm` is a live VM; we hold a reference on it until after
        // the unpin in `drop`, which keeps its VMID valid.
        let ret = unsafe { bindings::kvm_arm_vmid_pin(&raw mut (*kvm.as_raw()).arch.mmu.vmid) };
        if ret < 0 {
            pr_err!("kvm_arm_vmid_pin: {:?}\n", Error::from_errno(ret));
            return Err(Error::from_errno(ret));
        }
        let vmid = u16::try_from(ret).map_err(|_| EINVAL)?;
        pr_info!("pinned VMID {} of the VM at fd {}\n", vmid, fd);
        Ok(Self { kvm, vmid })
    }
}

impl Drop for PinDemo {
    fn drop(&mut self) {
        // SAFETY: `self.kvm` is live, and we own the pin taken in `init`.
        unsafe { bindings::kvm_arm_vmid_unpin(&raw mut (*self.kvm.as_raw()).arch.mmu.vmid) };
        pr_info!("released VMID {}\n", self.vmid);
    }
}
