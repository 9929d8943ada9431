// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the SMMUv3 BTM hooks, iommufd's vIOMMU and KVM's
//! VMID API (the only FFI of this module, with the files it shares by
//! path: `common/arm64_host.rs`, `common/ops_table.rs`, `common/kvm.rs`,
//! and in test builds `common/test_vm.rs`).
//!
//! C headers: [`include/linux/arm-smmu-v3-btm.h`](srctree/include/linux/arm-smmu-v3-btm.h),
//! [`include/linux/iommufd.h`](srctree/include/linux/iommufd.h),
//! [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h)

use crate::kvm::Kvm;
use crate::policy::Pinning;
use core::ptr::NonNull;
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    types::Opaque, //
};

#[path = "../common/arm64_host.rs"]
mod arm64_host;

/// The SMMUv3 BTM hooks, registered for as long as this value lives.
pub(crate) type Registration = crate::ops_table::Registration<bindings::arm_smmu_btm_ops>;

/// Registers `ops` with the SMMUv3 driver; `EBUSY` if another module did.
pub(crate) fn register(
    ops: &'static crate::ops_table::OpsTable<bindings::arm_smmu_btm_ops>,
) -> Result<Registration> {
    // SAFETY: `arm_smmu_btm_register()` registers an ops table, and
    // unregisters it (waiting for callers, its rwsem) when given NULL.
    unsafe { Registration::new(ops, bindings::arm_smmu_btm_register) }
}

/// What KVM's VMID allocator offers this host.
pub(crate) struct Host {
    /// The kernel runs with VHE.
    pub(crate) vhe: bool,
    /// KVM's VMID width, or `None` if KVM does not allocate VMIDs in this
    /// host (not initialised, or protected mode where the hypervisor owns
    /// them).
    pub(crate) kvm_vmid_bits: Option<u32>,
    /// Whether a pin module is loaded.
    pub(crate) pinning: Pinning,
}

impl Host {
    /// Asks KVM (`kvm_arm_vmid_pin_available()`); takes nothing from its
    /// VMID space.
    pub(crate) fn query() -> Self {
        // SAFETY: a question without a precondition.
        let ret = unsafe { bindings::kvm_arm_vmid_pin_available() };
        let bits = arm64_host::kvm_vmid_bits();
        Self {
            vhe: arm64_host::running_at_el2(),
            // Under protected KVM (`EOPNOTSUPP`) the hypervisor owns VMIDs.
            kvm_vmid_bits: (ret != -(bindings::EOPNOTSUPP as i32) && bits > 0).then_some(bits),
            pinning: if ret == 0 {
                Pinning::Available
            } else {
                Pinning::NotLoaded
            },
        }
    }
}

/// Says why KVM refused a pin, once per reason.
///
/// `kvm_arm_vmid_pin()` runs the pin module's ops under a raw spinlock,
/// where nothing prints; its caller says why, here, once the lock is
/// dropped. The callers add what they were pinning for.
fn said_why(e: Error) {
    if e == ENOSPC {
        kernel::pr_warn_once!(
            "VMID pin refused: the cap on pinned VMIDs is reached (kvm_vmid_pin.max_pins)\n"
        );
    } else if e == ENODEV {
        kernel::pr_warn_once!("VMID pin refused: kvm_vmid_pin is not loaded\n");
    } else if e == EOPNOTSUPP {
        kernel::pr_warn_once!("VMID pin refused: protected KVM assigns VMIDs in the hypervisor\n");
    } else if e == EBUSY {
        kernel::pr_err_once!(
            "VMID pin refused: the VMID's index is pinned by another VM (allocator bug)\n"
        );
    } else if e == EOVERFLOW {
        kernel::pr_err_once!("VMID pin refused: the VMID's pin count would overflow\n");
    } else {
        kernel::pr_err_once!("VMID pin refused: {:?}\n", e);
    }
}

/// A pin on a VM's stage-2 VMID (`kvm_arm_vmid_pin()`).
///
/// It holds no reference on the VM: its owner keeps the VM alive (a
/// vSMMU's vIOMMU holds the VM's file until after the vSMMU is destroyed).
///
/// # Invariants
///
/// One pin on `kvm`'s VMID is held until drop, and `kvm` stays alive for as
/// long.
pub(crate) struct VmPin {
    kvm: NonNull<bindings::kvm>,
    value: u16,
}

// SAFETY: the pin API may be called from any thread, and the VM's
// `stats_id`, which `vm_name` reads, never changes.
unsafe impl Send for VmPin {}

impl VmPin {
    /// Pins the VMID of `kvm`.
    ///
    /// # Safety
    ///
    /// The VM must stay alive until the value is dropped.
    pub(crate) unsafe fn new(kvm: &Kvm) -> Result<Self> {
        let ptr = kvm.as_raw();
        // SAFETY: the VM is alive, and stays so until the unpin, per the
        // caller.
        let ret = unsafe { bindings::kvm_arm_vmid_pin(&raw mut (*ptr).arch.mmu.vmid) };
        to_result(ret).inspect_err(|&e| said_why(e))?;
        // INVARIANT: the pin was taken: owned from here, and given back on
        // drop if the conversion below fails; the VM outlives it, per the
        // caller.
        let mut p = Self {
            kvm: NonNull::from(kvm).cast(),
            value: 0,
        };
        p.value = u16::try_from(ret).map_err(|_| EINVAL)?;
        Ok(p)
    }

    /// The VMID.
    pub(crate) fn value(&self) -> u16 {
        self.value
    }

    /// The VM's statistics name, `kvm-<pid>`, for messages and debugfs.
    pub(crate) fn vm_name(&self) -> &str {
        // SAFETY: the VM is alive (type invariant); `stats_id` is a
        // NUL-terminated string set at creation and never changed.
        let id = unsafe { CStr::from_char_ptr((*self.kvm.as_ptr()).stats_id.as_ptr()) };
        id.to_str().unwrap_or("?")
    }
}

impl Drop for VmPin {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold a pin on the VM's VMID, and
        // the VM is alive.
        unsafe { bindings::kvm_arm_vmid_unpin(&raw mut (*self.kvm.as_ptr()).arch.mmu.vmid) };
    }
}

/// The identity of a vIOMMU's stage-2 parent (`viommu->hwpt`): compared,
/// never shown nor dereferenced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parent(usize);

impl Parent {
    /// A parent that no vIOMMU has, numbered `n`, for the KUnit tests.
    #[cfg(ksv_test)]
    pub(crate) const fn fake(n: usize) -> Self {
        // Kernel pointers are never this small.
        Self(n)
    }
}

/// A vIOMMU that the SMMU driver is initialising (`struct
/// iommufd_viommu`).
///
/// # Invariants
///
/// The vIOMMU is valid for the lifetime of the reference, and holds its
/// `kvm_file` (or none) for as long.
#[repr(transparent)]
pub(crate) struct Viommu(Opaque<bindings::iommufd_viommu>);

impl Viommu {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` points to a vIOMMU that stays valid, with its `kvm_file`, for
    /// `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::iommufd_viommu) -> &'a Self {
        // SAFETY: `Viommu` is a transparent wrapper of `iommufd_viommu`,
        // valid for `'a` per the caller.
        unsafe { &*ptr.cast() }
    }

    /// Its iommufd object id, for messages and debugfs.
    pub(crate) fn id(&self) -> u32 {
        // SAFETY: the vIOMMU is valid by the type invariant; the id is set
        // before the driver initialises it.
        unsafe { (*self.0.get()).obj.id }
    }

    /// Its stage-2 parent.
    pub(crate) fn parent(&self) -> Parent {
        // SAFETY: as in `id`; `hwpt` is set before the driver's init.
        Parent(unsafe { (*self.0.get()).hwpt } as usize)
    }

    /// The VM whose file the vIOMMU holds (iommufd holds its device's VM
    /// file from allocation to destroy), if any.
    pub(crate) fn vm(&self) -> Option<&Kvm> {
        // SAFETY: the vIOMMU is valid by the type invariant.
        let file = unsafe { (*self.0.get()).kvm_file };
        if file.is_null() {
            return None;
        }
        // SAFETY: `file` is a KVM VM file that the vIOMMU holds for the
        // lifetime of `self` (type invariant); its `private_data` is the
        // VM, on which the open file holds a `users_count` reference until
        // its release (the `Kvm` invariant).
        Some(unsafe { &*(*file).private_data.cast::<Kvm>() })
    }
}

/// The kernel's fault injection (`/proc/thread-self/fail-nth`, with
/// failslab's `ignore-gfp-wait` off): the `n`-th fault-injectable call of
/// the current task fails. Test builds only (KUnit).
#[cfg(all(ksv_test, CONFIG_KUNIT, CONFIG_FAULT_INJECTION))]
pub(crate) fn fail_nth(n: u32) {
    // SAFETY: `current` is this task, alive while it runs; `fail_nth` is
    // only used by the task itself (fault injection checks it in task
    // context), so a plain write from the task is what the proc file does.
    unsafe { (*kernel::task::Task::current_raw()).fail_nth = n };
}

/// `kvm_arm_vmid_pinned()`: the index of the VM's VMID if it holds a pin.
/// Test builds only (KUnit), to see that a pin was given back.
#[cfg(all(ksv_test, CONFIG_KUNIT))]
pub(crate) fn vm_vmid_pinned(kvm: &Kvm) -> Option<u16> {
    // SAFETY: the VM is alive while `kvm` is borrowed (`Kvm`'s invariant);
    // the function only reads its VMID under KVM's lock.
    let ret = unsafe { bindings::kvm_arm_vmid_pinned(&raw mut (*kvm.as_raw()).arch.mmu.vmid) };
    u16::try_from(ret).ok()
}
