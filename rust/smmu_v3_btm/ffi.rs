// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the SMMUv3 BTM hooks and KVM's VMID API (the only
//! FFI of this module).
//!
//! C headers: [`include/linux/arm-smmu-v3-btm.h`](srctree/include/linux/arm-smmu-v3-btm.h),
//! [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h)

use crate::policy::Pinning;
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    types::Opaque, //
};

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
        // SAFETY: written once at KVM's init, before modules load; 0 if KVM
        // is not initialised.
        let bits = unsafe { bindings::kvm_arm_vmid_bits };
        let el: u64;
        // SAFETY: reading `CurrentEL` has no side effect, at EL1 and EL2.
        unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
        Self {
            vhe: (el >> 2) & 3 == 2,
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

/// A VMID reserved from KVM's allocator for no VM.
///
/// # Invariants
///
/// `vmid` is pinned (`kvm_arm_vmid_pin()` of a zeroed `struct kvm_vmid`
/// succeeded) until drop, and is boxed so its address stays put.
pub(crate) struct Reserved {
    vmid: KBox<Opaque<bindings::kvm_vmid>>,
    value: u16,
}

impl Reserved {
    /// Reserves a VMID; `ENODEV` without the pin module, `ENOSPC`.
    pub(crate) fn new() -> Result<Self> {
        let vmid = KBox::new(Opaque::zeroed(), GFP_KERNEL)?;
        // SAFETY: `vmid` is a zeroed `kvm_vmid` that we own, boxed, and
        // keep until the unpin in `drop`.
        let ret = unsafe { bindings::kvm_arm_vmid_pin(vmid.get()) };
        to_result(ret).inspect_err(|&e| said_why(e))?;
        // INVARIANT: the reservation succeeded: owned from here, and given
        // back on drop if the conversion below fails.
        let mut r = Self { vmid, value: 0 };
        r.value = u16::try_from(ret).map_err(|_| EINVAL)?;
        Ok(r)
    }

    /// The VMID.
    pub(crate) fn value(&self) -> u16 {
        self.value
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        // SAFETY: by the type invariant, `vmid` is pinned, by us.
        unsafe { bindings::kvm_arm_vmid_unpin(self.vmid.get()) };
    }
}

/// A pin on a VM's stage-2 VMID (`kvm_arm_vmid_pin()`).
///
/// # Invariants
///
/// One pin on `kvm`'s VMID is held until drop, and `kvm` stays alive for as
/// long: the vIOMMU holds the VM's file until after its vSMMU is destroyed.
pub(crate) struct VmPin {
    kvm: *mut bindings::kvm,
    value: u16,
}

// SAFETY: the pin API may be called from any thread.
unsafe impl Send for VmPin {}

impl VmPin {
    /// Pins the VMID of `kvm`.
    ///
    /// # Safety
    ///
    /// `kvm` must stay alive until the value is dropped.
    pub(crate) unsafe fn new(kvm: *mut bindings::kvm) -> Result<Self> {
        // SAFETY: `kvm` is alive, and stays so until the unpin, per the
        // caller.
        let ret = unsafe { bindings::kvm_arm_vmid_pin(&raw mut (*kvm).arch.mmu.vmid) };
        to_result(ret).inspect_err(|&e| said_why(e))?;
        // INVARIANT: the pin was taken: owned from here, and given back on
        // drop if the conversion below fails.
        let mut p = Self { kvm, value: 0 };
        p.value = u16::try_from(ret).map_err(|_| EINVAL)?;
        Ok(p)
    }

    /// The VMID.
    pub(crate) fn value(&self) -> u16 {
        self.value
    }

    /// The VM's address, to compare VMs (never shown).
    pub(crate) fn kvm(&self) -> usize {
        self.kvm as usize
    }

    /// The VM's statistics name, `kvm-<pid>`, for messages and debugfs.
    pub(crate) fn vm_name(&self) -> &str {
        // SAFETY: the VM is alive (type invariant); `stats_id` is a
        // NUL-terminated string set at creation and never changed.
        let id = unsafe { CStr::from_char_ptr((*self.kvm).stats_id.as_ptr()) };
        id.to_str().unwrap_or("?")
    }
}

impl Drop for VmPin {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold a pin on the VM's VMID, and
        // the VM is alive.
        unsafe { bindings::kvm_arm_vmid_unpin(&raw mut (*self.kvm).arch.mmu.vmid) };
    }
}

/// The VM a vIOMMU holds (`viommu->kvm_file`: iommufd holds its device's
/// VM file from allocation to destroy), or NULL; its stage-2 parent (an
/// identity, never shown); and its iommufd object id.
///
/// # Safety
///
/// `viommu` is a vIOMMU being initialised by the SMMU driver.
pub(crate) unsafe fn viommu_kvm_parent_id(
    viommu: *mut bindings::iommufd_viommu,
) -> (*mut bindings::kvm, usize, u32) {
    // SAFETY: valid per the caller; a held VM file's `private_data` is its
    // `struct kvm`.
    unsafe {
        let file = (*viommu).kvm_file;
        let kvm = if file.is_null() {
            core::ptr::null_mut()
        } else {
            (*file).private_data.cast()
        };
        (kvm, (*viommu).hwpt as usize, (*viommu).obj.id)
    }
}
