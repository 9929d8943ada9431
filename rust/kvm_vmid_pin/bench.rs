// SPDX-License-Identifier: GPL-2.0

//! Benchmarks for `make bench`, run at init when `bench=1`.
//!
//! `make bench` boots QEMU with `-icount shift=0`, where the clock advances
//! one nanosecond per guest instruction, so every number below is a
//! deterministic instruction count. `kvm_arm_vmid_pin()` is measured before
//! the ops are registered (the C dispatch alone, `-ENODEV`) and after.

use crate::ffi::{
    KvmVmid,
    OwnedPin, //
};
use crate::pins;
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

/// Mean cost of the pin that rolls the generation over, with `nr_pins`
/// VMIDs pinned (with the full budget, a refused pin). Returns ns per
/// rollover.
pub(crate) fn rollover(nr_pins: usize) -> Result<u64> {
    let mut vmids = KVVec::with_capacity(nr_pins, GFP_KERNEL)?;
    for _ in 0..nr_pins {
        vmids.push(KvmVmid::new_unallocated(), GFP_KERNEL)?;
    }
    // Given back when dropped, on every return path.
    let mut held = KVVec::with_capacity(nr_pins, GFP_KERNEL)?;
    for v in vmids.iter() {
        held.push(OwnedPin::take(v)?, GFP_KERNEL)?;
    }
    let mut total = 0;
    for _ in 0..ROLLOVERS {
        let r = rollovers();
        loop {
            // A new VMID each time: each pin allocates an index.
            let tmp = KvmVmid::new_unallocated();
            let t = now();
            // With the budget spent the pin is refused, but KVM allocated
            // (and may have rolled over) first, which is what is measured.
            let pin = OwnedPin::take(&tmp);
            let dt = t.elapsed().as_nanos() as u64;
            drop(pin);
            if rollovers() != r {
                total += dt;
                break;
            }
        }
    }
    drop(held);
    Ok(total / ROLLOVERS)
}

/// Runs the benchmarks with the ops registered and prints them.
pub(crate) fn report(unloaded: u64, budget: i64) -> Result {
    let full = usize::try_from(budget).unwrap_or(0);
    pr_info!("bench: pin, ops not registered: {} ns\n", unloaded);
    pr_info!("bench: pin + unpin: {} ns\n", pin_unpin());
    let r0 = rollover(0)?;
    let rf = rollover(full)?;
    pr_info!("bench: rollover, 0 pins: {} ns\n", r0);
    pr_info!("bench: rollover, {} pins (full budget): {} ns\n", full, rf);
    pr_info!(
        "bench: rollover ratio full/empty: {}.{:03}\n",
        rf / r0.max(1),
        (rf % r0.max(1)) * 1000 / r0.max(1)
    );
    Ok(())
}
