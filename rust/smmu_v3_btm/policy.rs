// SPDX-License-Identifier: GPL-2.0

//! When an SMMUv3 may use broadcast TLB maintenance, kernel-independent.
//!
//! This file uses `core` only; the host crate in `host/` tests it too.
//! Field positions follow the SMMUv3 architecture (IHI 0070, 6.3.1 `SMMU_IDR0`
//! and 6.3.12 `SMMU_CR2`) and `drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h`.
//!
//! The policy is the RFC's: KVM VMIDs are used for an SMMU's stage 2 only
//! where that SMMU runs with BTM. Without BTM an SMMU VMID equal to a KVM
//! VMID changes nothing, so the SMMU keeps upstream behaviour entirely and
//! takes nothing from KVM's VMID space.

/// `SMMU_IDR0.S2P`: stage-2 translation supported.
pub const IDR0_S2P: u32 = 1 << 0;
/// `SMMU_IDR0.S1P`: stage-1 translation supported.
pub const IDR0_S1P: u32 = 1 << 1;
/// `SMMU_IDR0.BTM`: broadcast TLB maintenance supported.
pub const IDR0_BTM: u32 = 1 << 5;
/// `SMMU_IDR0.HYP`: EL2 (hypervisor) translation regime supported.
pub const IDR0_HYP: u32 = 1 << 9;
/// `SMMU_IDR0.VMID16`: 16-bit VMIDs supported.
pub const IDR0_VMID16: u32 = 1 << 18;

/// What an SMMU's `IDR0` says, as far as BTM is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idr0 {
    /// Stage 1 supported.
    pub s1: bool,
    /// Stage 2 supported.
    pub s2: bool,
    /// Broadcast TLB maintenance supported.
    pub btm: bool,
    /// EL2 regime supported.
    pub hyp: bool,
    /// VMID width in bits (8 or 16).
    pub vmid_bits: u32,
}

impl Idr0 {
    /// Decodes the raw register value.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::smmu_policy::*;
    /// // QEMU 10's nested SMMUv3: S1P, S2P, VMID16, no BTM, no HYP.
    /// let id = Idr0::decode(0x0d44_101b);
    /// assert!(id.s1 && id.s2 && !id.btm && !id.hyp);
    /// assert_eq!(id.vmid_bits, 16);
    /// ```
    pub const fn decode(reg: u32) -> Self {
        Self {
            s1: reg & IDR0_S1P != 0,
            s2: reg & IDR0_S2P != 0,
            btm: reg & IDR0_BTM != 0,
            hyp: reg & IDR0_HYP != 0,
            vmid_bits: if reg & IDR0_VMID16 != 0 { 16 } else { 8 },
        }
    }
}

/// Why BTM is not used on an SMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoBtm {
    /// `IDR0.BTM` is clear.
    NotSupported,
    /// The kernel runs with VHE but the SMMU has no EL2 regime (`IDR0.HYP`),
    /// so broadcast TLBIs from EL2 would not match its tags.
    NoHypWithVhe,
    /// No stage 1: private address spaces would need private stage-2
    /// VMIDs, which BTM would invalidate.
    NoStage1,
    /// An erratum forbids it (MMU-700, MMU-L1, MMU-S3).
    Erratum,
    /// KVM does not allocate VMIDs in the host (no KVM, or protected KVM
    /// where the hypervisor does).
    NoHostVmids,
    /// A KVM VMID may not fit the SMMU's VMID field.
    KvmWider,
    /// The VMID pin module (`kvm_vmid_pin`) is not loaded (it refuses to
    /// load where its budget would be zero or less).
    PinNotLoaded,
}

impl NoBtm {
    /// A few words for dmesg and debugfs.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::NotSupported => "no BTM in IDR0: upstream behaviour",
            Self::NoHypWithVhe => "no BTM: VHE host but no IDR0.HYP; upstream behaviour",
            Self::NoStage1 => "no BTM: no stage 1; upstream behaviour",
            Self::Erratum => "no BTM: erratum; upstream behaviour",
            Self::NoHostVmids => "BTM not used: KVM does not own the host's VMIDs",
            Self::KvmWider => "BTM not used: KVM VMIDs are wider than the SMMU's",
            Self::PinNotLoaded => "BTM not used: kvm_vmid_pin is not loaded",
        }
    }
}

/// What the SMMU itself allows: `IDR0.BTM`, no erratum, stage 1, and
/// `IDR0.HYP` under a VHE host.
///
/// `errata_clear` is true when the driver's errata code cleared the feature.
pub const fn btm_usable(idr0: Idr0, host_vhe: bool, errata_clear: bool) -> Result<(), NoBtm> {
    if !idr0.btm {
        return Err(NoBtm::NotSupported);
    }
    if errata_clear {
        return Err(NoBtm::Erratum);
    }
    if host_vhe && !idr0.hyp {
        return Err(NoBtm::NoHypWithVhe);
    }
    if !idr0.s1 {
        return Err(NoBtm::NoStage1);
    }
    Ok(())
}

/// Whether a KVM VMID of `kvm_bits` bits always fits an SMMU with
/// `smmu_bits`-bit VMIDs. If not, a KVM VMID cannot be shared with it.
pub const fn kvm_vmids_fit(kvm_bits: u32, smmu_bits: u32) -> bool {
    kvm_bits <= smmu_bits
}

/// Whether KVM can pin VMIDs, as `kvm_arm_vmid_pin_available()` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinning {
    /// No pin module is registered.
    NotLoaded,
    /// A pin module is registered (with a budget: it loads only then).
    Available,
}

/// What this module does with one SMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// CR2.PTM is cleared: the SMMU takes part in broadcast TLBIs, and
    /// every stage-2 VMID of the SMMU comes from KVM's allocator (a
    /// vSMMU's is its VM's pinned VMID, a private domain's a reserved one).
    pub use_btm: bool,
    /// Why, in a few words, for dmesg and debugfs.
    pub reason: &'static str,
}

/// Decides BTM (and with it KVM VMIDs) for an SMMU.
///
/// - `kvm_bits`: KVM's VMID width, `None` if KVM does not allocate VMIDs
///   in the host.
/// - `pinning`: whether VMIDs can be pinned.
///
/// # Examples
///
/// ```
/// use ksv_logic::smmu_policy::*;
/// let idr0 = Idr0::decode(IDR0_S1P | IDR0_S2P | IDR0_BTM | IDR0_VMID16);
/// let d = decide(idr0, false, false, 16, Some(8), Pinning::Available);
/// assert!(d.use_btm);
/// // Without BTM nothing is taken from KVM.
/// let d = decide(Idr0::decode(IDR0_S1P | IDR0_S2P), false, false, 8, Some(8), Pinning::Available);
/// assert!(!d.use_btm);
/// ```
pub const fn decide(
    idr0: Idr0,
    errata_clear: bool,
    host_vhe: bool,
    smmu_bits: u32,
    kvm_bits: Option<u32>,
    pinning: Pinning,
) -> Decision {
    let why = match btm_usable(idr0, host_vhe, errata_clear) {
        Err(e) => e,
        Ok(()) => match (kvm_bits, pinning) {
            (None, _) => NoBtm::NoHostVmids,
            (Some(k), _) if !kvm_vmids_fit(k, smmu_bits) => NoBtm::KvmWider,
            (Some(_), Pinning::NotLoaded) => NoBtm::PinNotLoaded,
            (Some(_), Pinning::Available) => {
                return Decision {
                    use_btm: true,
                    reason: "BTM in use with KVM VMIDs",
                }
            }
        },
    };
    Decision {
        use_btm: false,
        reason: why.reason(),
    }
}

/// Whether a VMID handed out for this SMMU fits its VMID field.
pub const fn vmid_fits(vmid: u16, smmu_bits: u32) -> bool {
    smmu_bits >= 16 || (vmid as u32) < (1u32 << smmu_bits)
}
