// SPDX-License-Identifier: GPL-2.0

//! Benchmarks for `make bench`, run at init when `bench=1`.
//!
//! `make bench` boots QEMU with `-icount shift=0`, where the clock advances
//! one nanosecond per guest instruction, so every number below is a
//! deterministic instruction count. The fast path is measured before the
//! ops are registered (exactly the unloaded module's allocator) and after.

use crate::ffi::{
    KvmVmid,
    LockGuard, //
};
use crate::pins::{
    self,
    OwnedPin, //
};
use kernel::{
    interrupt::local_interrupt_disable,
    prelude::*,
    time::{
        Instant,
        Monotonic, //
    },
};

const LOADS: u64 = 10_000;
const PINS: u64 = 1_000;
const ROLLOVERS: u64 = 16;

fn now() -> Instant<Monotonic> {
    Instant::<Monotonic>::now()
}

/// `kvm_arm_vmid_update()` on a VMID of the current generation, as a vcpu
/// load does: the lock-free fast path. Returns ns per call.
pub(crate) fn fast_path() -> Result<u64> {
    let v = KvmVmid::new_unallocated();
    // Interrupts off, hence preemption off, as in `kvm_arch_vcpu_load()`.
    let irqs_off = local_interrupt_disable();
    v.update(&irqs_off);
    let t = now();
    for _ in 0..LOADS {
        v.update(&irqs_off);
    }
    Ok(t.elapsed().as_nanos() as u64 / LOADS)
}

/// One pin plus one unpin of a VM that holds no pin. Returns ns per pair.
pub(crate) fn pin_unpin() -> Result<u64> {
    let v = KvmVmid::new_unallocated();
    let t = now();
    for _ in 0..PINS {
        let mut g = LockGuard::lock();
        pins::get(&mut g, &v)?;
        // SAFETY: the `get` just above took this pin for us; we give it up.
        unsafe { pins::put(&mut g, &v) };
    }
    Ok(t.elapsed().as_nanos() as u64 / PINS)
}

/// Mean cost of the allocation that rolls the generation over, with
/// `nr_pins` VMIDs pinned. Returns ns per rollover.
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
    let mut tmp = KvmVmid::new_unallocated();
    let rollovers = |g: &mut LockGuard| pins::table(g).map_or(0, |t| t.stats().rollovers);
    let mut total = 0;
    for _ in 0..ROLLOVERS {
        let mut g = LockGuard::lock();
        let r = rollovers(&mut g);
        loop {
            tmp.reset();
            let t = now();
            g.refresh(&tmp);
            let dt = t.elapsed().as_nanos() as u64;
            if rollovers(&mut g) != r {
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
    pr_info!(
        "bench: fast path, ops not registered: {} ns/load\n",
        unloaded
    );
    pr_info!(
        "bench: fast path, ops registered: {} ns/load\n",
        fast_path()?
    );
    pr_info!("bench: pin + unpin: {} ns\n", pin_unpin()?);
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
