// SPDX-License-Identifier: GPL-2.0

//! SMMUv3 register rules for broadcast TLB maintenance, kernel-independent.
//!
//! This file uses `core` only; the host crate in `host/` tests it too.
//! Field positions follow the SMMUv3 architecture (IHI 0070) and
//! `drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h`.

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

/// `SMMU_CR2.E2H`: EL2 translation regime is E2H (VHE).
pub const CR2_E2H: u32 = 1 << 0;
/// `SMMU_CR2.RECINVSID`: record invalid StreamID events.
pub const CR2_RECINVSID: u32 = 1 << 1;
/// `SMMU_CR2.PTM`: private TLB maintenance, i.e. ignore broadcast TLBIs.
pub const CR2_PTM: u32 = 1 << 2;

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
}

/// Decides whether an SMMU may use BTM.
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

/// The `SMMU_CR2` value to write at reset.
///
/// Exactly upstream's `CR2_PTM | CR2_RECINVSID` (plus `CR2_E2H`) unless BTM
/// is used, in which case `PTM` is cleared.
pub const fn cr2(use_btm: bool, e2h: bool) -> u32 {
    let mut reg = CR2_RECINVSID;
    if e2h {
        reg |= CR2_E2H;
    }
    if !use_btm {
        reg |= CR2_PTM;
    }
    reg
}

/// Whether a KVM VMID of `kvm_bits` bits always fits an SMMU with
/// `smmu_bits`-bit VMIDs. If not, a KVM VMID cannot be shared with it.
pub const fn kvm_vmids_fit(kvm_bits: u32, smmu_bits: u32) -> bool {
    kvm_bits <= smmu_bits
}

/// What this module does with one SMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Every stage-2 VMID of the SMMU comes from KVM's allocator: vSMMUs
    /// use their VM's pinned VMID, private domains reserved ones.
    pub share_vmids: bool,
    /// CR2.PTM is cleared: the SMMU takes part in broadcast TLBIs.
    pub use_btm: bool,
    /// Why, in a few words, for dmesg and debugfs.
    pub reason: &'static str,
}

/// Decides VMID sharing and BTM for an SMMU.
///
/// - `kvm_bits`: KVM's VMID width, `None` if KVM does not allocate VMIDs
///   in the host (no KVM, or protected KVM where the hypervisor does).
/// - `pinning`: the VMID pin module is loaded.
///
/// VMIDs are shared only if every KVM VMID fits the SMMU's width: a wider
/// KVM could hand out a VMID the SMMU cannot encode. BTM is used only on
/// top of shared VMIDs, since a broadcast TLBI by VMID must only ever hit
/// the stage 2 of the VM that owns the VMID.
pub const fn decide(
    idr0: Idr0,
    errata_clear: bool,
    host_vhe: bool,
    smmu_bits: u32,
    kvm_bits: Option<u32>,
    pinning: bool,
) -> Decision {
    let share = match kvm_bits {
        None => Err("KVM does not own the host's VMIDs"),
        Some(k) if !kvm_vmids_fit(k, smmu_bits) => Err("KVM VMIDs are wider than the SMMU's"),
        Some(_) if !pinning => Err("kvm_vmid_pin is not loaded"),
        Some(_) => Ok(()),
    };
    match share {
        Err(reason) => Decision {
            share_vmids: false,
            use_btm: false,
            reason,
        },
        Ok(()) => match btm_usable(idr0, host_vhe, errata_clear) {
            Ok(()) => Decision {
                share_vmids: true,
                use_btm: true,
                reason: "BTM in use with KVM VMIDs",
            },
            Err(NoBtm::NotSupported) => Decision {
                share_vmids: true,
                use_btm: false,
                reason: "KVM VMIDs; no BTM in IDR0",
            },
            Err(NoBtm::NoHypWithVhe) => Decision {
                share_vmids: true,
                use_btm: false,
                reason: "KVM VMIDs; no BTM: VHE host but no IDR0.HYP",
            },
            Err(NoBtm::NoStage1) => Decision {
                share_vmids: true,
                use_btm: false,
                reason: "KVM VMIDs; no BTM: no stage 1",
            },
            Err(NoBtm::Erratum) => Decision {
                share_vmids: true,
                use_btm: false,
                reason: "KVM VMIDs; no BTM: erratum",
            },
        },
    }
}
