// SPDX-License-Identifier: GPL-2.0

//! Benchmarks for `make bench`, run at init when `bench=1`.
//!
//! `make bench` boots QEMU with `-icount shift=0`, where the clock advances
//! one nanosecond per guest instruction, so every number below is a
//! deterministic instruction count. It loads the module with `max_pins`
//! at its largest, so that "the full budget" is every VMID that may be
//! pinned. `kvm_arm_vmid_pin()` is measured before the ops are registered
//! (the C dispatch alone, `-ENODEV`) and after.

use crate::ffi::{
    self,
    KvmVmid,
    OwnedPin, //
};
use crate::{
    pin_table,
    pins, //
};
use kernel::{
    prelude::*,
    time::{
        Instant,
        Monotonic, //
    },
};

const PINS: u64 = 1_000;
const ROLLOVERS: u64 = 16;

fn now() -> Instant<Monotonic> {
    Instant::<Monotonic>::now()
}

/// One pin plus one unpin of a VMID that holds no pin, through the C API.
/// Returns ns per pair (without ops: per refused pin).
pub(crate) fn pin_unpin() -> u64 {
    let v = KvmVmid::new_unallocated();
    let t = now();
    for _ in 0..PINS {
        // Given back at the end of the statement.
        let _ = OwnedPin::take(&v);
    }
    t.elapsed().as_nanos() as u64 / PINS
}

fn rollovers() -> u64 {
    pins::with_view(|v| v.stats().rollovers).unwrap_or(0)
}

/// Runs `f` while `n` never-allocated VMIDs are pinned; the pins are
/// given back before the VMIDs are freed, on every return path.
fn with_pins<R>(n: usize, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let mut vmids = KVVec::with_capacity(n, GFP_KERNEL)?;
    for _ in 0..n {
        vmids.push(KvmVmid::new_unallocated(), GFP_KERNEL)?;
    }
    let mut held = KVVec::with_capacity(n, GFP_KERNEL)?;
    for v in vmids.iter() {
        held.push(OwnedPin::take(v)?, GFP_KERNEL)?;
    }
    let r = f();
    drop(held);
    r
}

/// Has KVM allocate VMIDs on CPU 0 for `n` new VMs, as their first vcpu
/// loads there; calls `each` with the time of each allocation and whether
/// it rolled over. Returns the number of rollovers.
fn new_vms(n: usize, mut each: impl FnMut(u64, bool) + Send) -> Result<u64> {
    let r0 = rollovers();
    ffi::on_cpu(0, |c| {
        for _ in 0..n {
            let tmp = KvmVmid::new_unallocated();
            let r = rollovers();
            let t = now();
            c.vmid_update(&tmp);
            let dt = t.elapsed().as_nanos() as u64;
            each(dt, rollovers() != r);
        }
    })?;
    Ok(rollovers() - r0)
}

/// Mean cost of the new VM's VMID allocation that rolls the generation
/// over, with `nr_pins` VMIDs pinned. Returns ns per rollover.
pub(crate) fn rollover(nr_pins: usize) -> Result<u64> {
    let gen = 1usize << pins::with_view(|v| v.bits).unwrap_or(8);
    with_pins(nr_pins, || {
        let mut total = 0;
        let mut seen = 0;
        while seen < ROLLOVERS {
            new_vms(gen, |dt, rolled| {
                if rolled && seen < ROLLOVERS {
                    total += dt;
                    seen += 1;
                }
            })?;
        }
        Ok(total / ROLLOVERS)
    })
}

/// The first vcpu load of a VM after a rollover, its VMID pinned or not:
/// it takes the lock either way (the rollover writes no VMID), and keeps
/// its index if pinned. Returns ns.
pub(crate) fn first_load_after_rollover(pinned: bool) -> Result<u64> {
    let vm = KvmVmid::new_unallocated();
    let pin = if pinned {
        Some(OwnedPin::take(&vm)?)
    } else {
        None
    };
    ffi::on_cpu(0, |c| {
        c.vmid_update(&vm);
        c.vmid_clear_active();
    })?;
    let gen = 1usize << pins::with_view(|v| v.bits).unwrap_or(8);
    let r = rollovers();
    while rollovers() == r {
        new_vms(gen, |_, _| ())?;
    }
    let mut dt = 0;
    ffi::on_cpu(0, |c| {
        let t = now();
        c.vmid_update(&vm);
        dt = t.elapsed().as_nanos() as u64;
        c.vmid_clear_active();
    })?;
    drop(pin);
    Ok(dt)
}

/// Rollovers caused by `n` new VMs while `nr_pins` VMIDs stay pinned.
pub(crate) fn rollovers_per_new_vms(n: usize, nr_pins: usize) -> Result<u64> {
    with_pins(nr_pins, || new_vms(n, |_, _| ()))
}

fn ratio(a: u64, b: u64) -> (u64, u64) {
    let b = b.max(1);
    (a / b, (a % b) * 1000 / b)
}

/// Runs the benchmarks with the ops registered and prints them.
pub(crate) fn report(unloaded: u64, cap: u32) -> Result {
    let full = cap as usize;
    let (bits, cpus) = {
        let h = ffi::Host::query();
        (h.vmid_bits, h.nr_cpus)
    };
    pr_info!("bench: {}-bit VMIDs, {} CPUs\n", bits, cpus);
    pr_info!("bench: pin, ops not registered: {} ns\n", unloaded);
    pr_info!("bench: pin + unpin: {} ns\n", pin_unpin());
    let r0 = rollover(0)?;
    let rf = rollover(full)?;
    pr_info!("bench: rollover, 0 pins: {} ns\n", r0);
    pr_info!("bench: rollover, {} pins (full budget): {} ns\n", full, rf);
    let (i, f) = ratio(rf, r0);
    pr_info!(
        "bench: rollover ratio full/empty, {}-bit VMIDs: {}.{:03} (goal <= 1.100)\n",
        bits,
        i,
        f
    );
    let lp = first_load_after_rollover(true)?;
    let lu = first_load_after_rollover(false)?;
    pr_info!(
        "bench: first vcpu load after a rollover, pinned: {} ns, unpinned: {} ns\n",
        lp,
        lu
    );
    let dflt = pin_table::cap(bits, cpus, 0).unwrap_or(0) as usize;
    let dflt = dflt.min(full);
    pr_info!(
        "bench: rollovers per 600 new VMs: {} with 0 pins, {} with {} pins (default max_pins), {} with {} pins\n",
        rollovers_per_new_vms(600, 0)?,
        rollovers_per_new_vms(600, dflt)?,
        dflt,
        rollovers_per_new_vms(600, full)?,
        full
    );
    pr_info!(
        "bench: rollovers per 6000 new VMs: {} with 0 pins, {} with {} pins (default max_pins)\n",
        rollovers_per_new_vms(6000, 0)?,
        rollovers_per_new_vms(6000, dflt)?,
        dflt
    );
    Ok(())
}
