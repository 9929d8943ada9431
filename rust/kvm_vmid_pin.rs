// SPDX-License-Identifier: GPL-2.0

//! Pinned KVM VMIDs for arm64.
//!
//! With SMMUv3 broadcast TLB maintenance, a vSMMU that mirrors a VM's
//! stage 2 must tag its TLB entries with that VM's KVM VMID, which then must
//! not change across VMID rollovers nor be given to another VM. This module
//! implements `kvm_arm_pinned_vmid_get()`/`put()` on top of the hooks that
//! `patches/0001-*` adds to `arch/arm64/kvm/vmid.c`, as the arm64 ASID
//! allocator does for SVA (`arm64_mm_context_get()`).
//!
//! - [`pin_table`]: the bookkeeping and budget, in `core`-only Rust shared
//!   with the host tests;
//! - [`allocator`]: the safe wrapper over the C hooks (the only FFI);
//! - [`pins`] and [`ops`]: the ops KVM calls, under KVM's `cpu_vmid_lock`;
//! - `state` in debugfs: `/sys/kernel/debug/kvm_vmid_pin/state`.

use kernel::{
    debugfs,
    prelude::*, //
};

#[path = "kvm_vmid_pin/allocator.rs"]
mod allocator;
#[path = "kvm_vmid_pin/bench.rs"]
mod bench;
#[path = "common/kvm.rs"]
mod kvm;
#[path = "common/module_ref.rs"]
mod module_ref;
#[path = "kvm_vmid_pin/ops.rs"]
mod ops;
#[path = "kvm_vmid_pin/pin_table.rs"]
pub mod pin_table;
#[path = "kvm_vmid_pin/pins.rs"]
mod pins;
#[path = "kvm_vmid_pin/tests.rs"]
mod tests;

module! {
    type: KvmVmidPin,
    name: "kvm_vmid_pin",
    authors: ["kvm-smmu-vmid developers"],
    description: "Pinned KVM VMIDs for SMMUv3 stage 2 with broadcast TLB maintenance",
    license: "GPL",
    params: {
        bench: bool {
            default: false,
            description: "Run the benchmarks of make bench at load",
        },
    },
}

/// The module: the registered ops and the debugfs view.
struct KvmVmidPin {
    _state: Pin<KBox<debugfs::File<StateView>>>,
    _dir: debugfs::Dir,
}

/// The contents of the debugfs `state` file, read under the allocator lock.
struct StateView;

impl core::fmt::Debug for StateView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let host = allocator::Host::query();
        let mut guard = allocator::LockGuard::lock();
        let Some(t) = pins::table(&mut guard) else {
            return writeln!(f, "not initialised");
        };
        let s = t.stats();
        writeln!(f, "kvm_mode: {}", host.mode())?;
        writeln!(f, "vmid_bits: {}", t.bits())?;
        writeln!(f, "budget: {}", t.budget())?;
        writeln!(f, "pinned: {}", t.nr_pinned())?;
        writeln!(f, "pins: {}", s.pins)?;
        writeln!(f, "unpins: {}", s.unpins)?;
        writeln!(f, "rollovers: {}", s.rollovers)?;
        writeln!(f, "kept_on_refresh: {}", s.kept)?;
        writeln!(f, "refused_disabled: {}", s.refused_disabled)?;
        writeln!(f, "refused_nospace: {}", s.refused_nospace)?;
        writeln!(f, "refused_conflict: {}", s.refused_conflict)?;
        writeln!(f, "bad_puts: {}", s.bad_puts)?;
        write!(f, "vmid refs:")?;
        for (idx, slot) in t.iter_pinned() {
            write!(f, " {}:{}", idx, slot.refs)?;
        }
        Ok(())
    }
}

impl kernel::Module for KvmVmidPin {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let host = allocator::Host::query();
        if !host.initialised {
            pr_err!("KVM is not initialised (kernel not booted at EL2?): nothing to pin\n");
            return Err(ENODEV);
        }
        if host.protected {
            pr_err!("KVM runs in protected mode: the hypervisor owns VMIDs, pinning refused\n");
            return Err(ENODEV);
        }
        let n = 1usize << host.vmid_bits;
        let slots = KVVec::from_elem(pin_table::Slot::default(), n, GFP_KERNEL)?;
        let words = KVVec::from_elem(0, pin_table::bitmap_words(n), GFP_KERNEL)?;
        let table = pin_table::PinTable::new(host.vmid_bits, host.nr_possible_cpus, slots, words)
            .ok_or(EINVAL)
            .inspect_err(|_| pr_err!("unexpected VMID width {}\n", host.vmid_bits))?;
        let budget = table.budget();
        if budget <= 0 {
            pr_warn!(
                "pinning disabled: {}-bit VMIDs leave no budget for {} CPUs\n",
                host.vmid_bits,
                host.nr_possible_cpus
            );
        }
        #[cfg(CONFIG_KUNIT)]
        tests::test_vm::fill_pool().inspect_err(|e| pr_err!("test VMs: {:?}\n", e))?;
        let dir = debugfs::Dir::new(c"kvm_vmid_pin");
        let state = KBox::pin_init(dir.read_only_file(c"state", StateView), GFP_KERNEL)?;
        let bench_unloaded = if module_parameters::bench.value() {
            Some(bench::fast_path()?)
        } else {
            None
        };
        pins::install(&mut allocator::LockGuard::lock(), table);
        if let Err(e) = allocator::register(&ops::OPS) {
            pr_err!("another VMID pin module is registered\n");
            // The guard is dropped at the end of the statement: the table
            // is freed after the lock is released.
            let _table = pins::remove(&mut allocator::LockGuard::lock());
            return Err(e);
        }
        pr_info!(
            "KVM {} mode, {}-bit VMIDs, {} CPUs: pin budget {}\n",
            host.mode(),
            host.vmid_bits,
            host.nr_possible_cpus,
            budget.max(0)
        );
        if let Some(unloaded) = bench_unloaded {
            let full = usize::try_from(budget).unwrap_or(0);
            pr_info!(
                "bench: fast path, ops not registered: {} ns/load\n",
                unloaded
            );
            pr_info!(
                "bench: fast path, ops registered: {} ns/load\n",
                bench::fast_path()?
            );
            pr_info!("bench: pin + unpin: {} ns\n", bench::pin_unpin()?);
            let r0 = bench::rollover(0)?;
            let rf = bench::rollover(full)?;
            pr_info!("bench: rollover, 0 pins: {} ns\n", r0);
            pr_info!("bench: rollover, {} pins (full budget): {} ns\n", full, rf);
            pr_info!(
                "bench: rollover ratio full/empty: {}.{:03}\n",
                rf / r0.max(1),
                (rf % r0.max(1)) * 1000 / r0.max(1)
            );
        }
        Ok(Self {
            _state: state,
            _dir: dir,
        })
    }
}

impl Drop for KvmVmidPin {
    fn drop(&mut self) {
        // Every pin holds a module reference, so none is left here.
        allocator::unregister();
        #[cfg(CONFIG_KUNIT)]
        tests::test_vm::drain_pool();
        // The guard is dropped at the end of the statement: the table is
        // freed below, after the lock is released.
        let table = pins::remove(&mut allocator::LockGuard::lock());
        if let Some(t) = &table {
            pr_info!(
                "unloaded: {} pins, {} unpins, {} rollovers seen\n",
                t.stats().pins,
                t.stats().unpins,
                t.stats().rollovers
            );
        }
        drop(table);
    }
}
