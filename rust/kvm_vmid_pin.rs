// SPDX-License-Identifier: GPL-2.0

//! Pinned KVM VMIDs for arm64.
//!
//! With SMMUv3 broadcast TLB maintenance, a vSMMU that mirrors a VM's
//! stage 2 must tag its TLB entries with that VM's KVM VMID, which then must
//! not change across VMID rollovers nor be given to another VM. This module
//! implements the pin ops behind `kvm_arm_vmid_pin()`/`unpin()`, which
//! `patches/0002-*` adds to `arch/arm64/kvm/vmid.c`, as the arm64 ASID
//! allocator pins ASIDs for SVA (`arm64_mm_context_get()`).
//!
//! Parameter `max_pins` caps the pinned VMIDs (default: half of the
//! `NUM_USER_VMIDS - 1 - nr_cpus` VMIDs KVM could give out). Each pin takes an index out of every generation, so KVM rolls
//! over more often as pins grow, and each rollover invalidates every VM's
//! TLB entries; at half of them the rate at most doubles. A pin past the
//! cap gets `-ENOSPC`.
//!
//! - [`pin_table`]: the bookkeeping and the cap (`max_pins`), in
//!   `core`-only Rust shared with the host tests;
//! - [`ffi`]: the safe wrapper over KVM's VMID allocator and its
//!   hooks, the only file that calls into them (the test build's VMs and VM
//!   references come from `common/test_vm.rs` and `common/kvm.rs`);
//! - [`pins`] and [`ops`]: the ops KVM calls, under KVM's `cpu_vmid_lock`;
//! - `state` in debugfs: `/sys/kernel/debug/kvm_vmid_pin/state`.

use kernel::{
    debugfs,
    prelude::*, //
};

#[path = "kvm_vmid_pin/ffi.rs"]
mod ffi;
// make bench only (--cfg ksv_test builds).
#[cfg(ksv_test)]
#[path = "kvm_vmid_pin/bench.rs"]
mod bench;
// VM references: only the test build's C API tests use them.
#[cfg(ksv_test)]
#[path = "common/kvm.rs"]
mod kvm;
#[path = "kvm_vmid_pin/ops.rs"]
mod ops;
#[path = "common/ops_table.rs"]
mod ops_table;
// The host crate (`host/logic`) includes the same file, where its items
// are its public API; here they are the crate's own.
#[allow(unreachable_pub)]
#[path = "kvm_vmid_pin/pin_table.rs"]
pub(crate) mod pin_table;
#[path = "kvm_vmid_pin/pins.rs"]
mod pins;
// KUnit tests, which create VMs at load: test builds only (--cfg ksv_test).
#[cfg(all(ksv_test, CONFIG_KUNIT))]
#[path = "kvm_vmid_pin/tests.rs"]
mod tests;

#[cfg(not(ksv_test))]
module! {
    type: KvmVmidPin,
    name: "kvm_vmid_pin",
    authors: ["kvm-smmu-vmid developers"],
    description: "Pinned KVM VMIDs for SMMUv3 stage 2 with broadcast TLB maintenance",
    license: "GPL",
    imports_ns: ["KVM_ARM_VMID_PIN"],
    params: {
        max_pins: u32 {
            default: 0,
            description: "Most VMIDs pinned at once (0: half of the VMIDs KVM could give out, which at most doubles its rollover rate)",
        },
    },
}

// The test build (`--cfg ksv_test`) only.
#[cfg(ksv_test)]
module! {
    type: KvmVmidPin,
    name: "kvm_vmid_pin",
    authors: ["kvm-smmu-vmid developers"],
    description: "Pinned KVM VMIDs for SMMUv3 stage 2 with broadcast TLB maintenance (TEST BUILD)",
    license: "GPL",
    imports_ns: ["KVM_ARM_VMID_PIN", "EXPORTED_FOR_KUNIT_TESTING"],
    params: {
        max_pins: u32 {
            default: 0,
            description: "Most VMIDs pinned at once (0: half of the VMIDs KVM could give out, which at most doubles its rollover rate)",
        },
        test_vms: bool {
            default: false,
            description: "TEST ONLY: create the VMs that the KUnit tests take (the KUnit boots set it)",
        },
        bench: bool {
            default: false,
            description: "TEST ONLY: run the benchmarks of make bench at load",
        },
    },
}

/// The module: the registered ops, the debugfs view and the pin table.
///
/// Fields drop in order: the ops are unregistered first, the table is
/// freed last.
struct KvmVmidPin {
    _ops: ffi::Registration,
    _state: Pin<KBox<debugfs::File<StateView>>>,
    _dir: debugfs::Dir,
    #[cfg(all(ksv_test, CONFIG_KUNIT))]
    _test_vms: tests::test_vm::Pool,
    /// Dropped last: removes and frees the table and its view.
    _table: pins::Installed,
}

/// The contents of the debugfs `state` file.
struct StateView {
    /// KVM's mode, which does not change.
    mode: &'static str,
}

/// What the debugfs view shows, copied from [`pins::View`] and formatted
/// after.
struct Snapshot {
    bits: u32,
    cap: u32,
    nr_pinned: usize,
    stats: pin_table::Stats,
    /// `(VMID index, references)` of every pinned index.
    pinned: KVVec<(u16, u32)>,
}

impl Snapshot {
    /// Copies the view; `None` if the table is not installed.
    fn take() -> Result<Option<Self>> {
        let Some(nr) = pins::with_view(|v| v.nr_pinned()) else {
            return Ok(None);
        };
        // Room for pins taken meanwhile; more are left out of this copy.
        let mut pinned = KVVec::with_capacity(nr + 16, GFP_KERNEL)?;
        Ok(pins::with_view(|v| {
            for p in v.pinned() {
                if pinned.push_within_capacity(p).is_err() {
                    break;
                }
            }
            Self {
                bits: v.bits,
                cap: v.cap,
                nr_pinned: v.nr_pinned(),
                stats: v.stats(),
                pinned,
            }
        }))
    }
}

impl core::fmt::Debug for StateView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let snap = match Snapshot::take() {
            Ok(Some(snap)) => snap,
            Ok(None) => return writeln!(f, "not initialised"),
            Err(_) => return writeln!(f, "out of memory"),
        };
        let s = snap.stats;
        writeln!(f, "kvm_mode: {}", self.mode)?;
        writeln!(f, "vmid_bits: {}", snap.bits)?;
        writeln!(f, "max_pins: {}", snap.cap)?;
        writeln!(f, "pinned: {}", snap.nr_pinned)?;
        writeln!(f, "pins: {}", s.pins)?;
        writeln!(f, "unpins: {}", s.unpins)?;
        writeln!(f, "rollovers: {}", s.rollovers)?;
        writeln!(f, "refused_nospace: {}", s.refused_nospace)?;
        writeln!(f, "refused_conflict: {}", s.refused_conflict)?;
        writeln!(f, "bad_puts: {}", s.bad_puts)?;
        write!(f, "vmid refs:")?;
        for (idx, refs) in snap.pinned.iter() {
            write!(f, " {}:{}", idx, refs)?;
        }
        Ok(())
    }
}

impl kernel::Module for KvmVmidPin {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        #[cfg(ksv_test)]
        let bench_unloaded = if module_parameters::bench.value() {
            Some(bench::pin_unpin())
        } else {
            None
        };
        // Before anything is set up (the test build creates VMs, slow under
        // protected KVM); registering would refuse too.
        if ffi::protected_kvm() {
            pr_err!("KVM runs in protected mode: the hypervisor owns VMIDs, pinning refused\n");
            return Err(ENODEV);
        }
        let host = ffi::Host::query();
        if host.vmid_bits == 0 {
            pr_err!("KVM is not initialised (kernel not booted at EL2?): nothing to pin\n");
            return Err(ENODEV);
        }
        let max_pins = module_parameters::max_pins.value();
        let Some(cap) = pin_table::cap(host.vmid_bits, host.nr_cpus, max_pins) else {
            pr_err!(
                "not loaded: {}-bit VMIDs leave nothing to pin for {} CPUs (or the width is unexpected)\n",
                host.vmid_bits,
                host.nr_cpus
            );
            return Err(ENOSPC);
        };
        let n = 1usize << host.vmid_bits;
        let slots = KVVec::from_elem(pin_table::Slot::default(), n, GFP_KERNEL)?;
        let words = KVVec::from_elem(0, pin_table::bitmap_words(n), GFP_KERNEL)?;
        let table = pin_table::PinTable::new(host.vmid_bits, host.nr_cpus, max_pins, slots, words)
            .ok_or(EINVAL)
            .inspect_err(|_| pr_err!("unexpected VMID width {}\n", host.vmid_bits))?;
        // Frees the table when dropped: on an early return below, before the
        // ops are registered, or at exit, as the last field of `Self`.
        // SAFETY: the ops are not registered yet. They are registered last
        // below, and the returned value is either dropped on an early return
        // before that, or kept as the last field of `Self`, which drops after
        // the registration and the debugfs file; the tests run at load, and
        // the test VMs (dropped before it) hold no pin.
        let table = unsafe { pins::install(table) }?;
        #[cfg(all(ksv_test, CONFIG_KUNIT))]
        let test_vms = tests::test_vm::Pool::fill(module_parameters::test_vms.value())
            .inspect_err(|e| pr_err!("test VMs: {:?}\n", e))?;
        let dir = debugfs::Dir::new(c"kvm_vmid_pin");
        let view = StateView { mode: host.mode() };
        let state = KBox::pin_init(dir.read_only_file(c"state", view), GFP_KERNEL)?;
        // Last: dropping it unregisters.
        let ops = ffi::register(&ops::OPS)?;
        pr_info!(
            "KVM {} mode, {}-bit VMIDs, {} CPUs: at most {} VMIDs pinned (max_pins)\n",
            host.mode(),
            host.vmid_bits,
            host.nr_cpus,
            cap
        );
        // Nothing fails after registering: a benchmark's error is said.
        #[cfg(ksv_test)]
        if let Some(unloaded) = bench_unloaded {
            if let Err(e) = bench::report(unloaded, cap) {
                pr_err!("bench: {:?}\n", e);
            }
        }
        Ok(Self {
            _ops: ops,
            _state: state,
            _dir: dir,
            #[cfg(all(ksv_test, CONFIG_KUNIT))]
            _test_vms: test_vms,
            _table: table,
        })
    }
}
