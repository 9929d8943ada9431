// SPDX-License-Identifier: GPL-2.0

//! KUnit tests against KVM's real VMID allocator, through its C API.
//!
//! They run at insmod, with the module's ops registered. They pin VMIDs of
//! `struct kvm_vmid`s owned by the test (which the allocator treats like
//! any VM's stage-2 VMID) and of real VMs, with `kvm_arm_vmid_pin()`, as a
//! driver does.
//!
//! A failed KUnit assertion ends the test's thread at once, without running
//! destructors. So the tests observe into locals while they hold pins, VMs
//! or buffers, give them all back ([`OwnedPin`] and the other owning types
//! release on drop, also on an early `?` return), and only then assert. No
//! test holds the raw `cpu_vmid_lock`: they read the module's [`View`]. A
//! failing test therefore leaks no pin (nor the module reference it holds,
//! which would block `rmmod`) and no memory (which the boot's kmemleak
//! check would flag).
//!
//! [`OwnedPin`]: crate::ffi::OwnedPin
//! [`View`]: crate::pins::View

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(kvm_vmid_pin)]
mod suite {
    use super::test_vm::TestVm;
    use crate::ffi::{
        self,
        unpin_unowned,
        KvmVmid,
        OwnedPin, //
    };
    use crate::pin_table::Stats;
    use crate::pins;
    use kernel::{
        prelude::*,
        sync::{
            atomic::{
                Atomic,
                Relaxed, //
            },
            Arc,
            Completion, //
        },
        workqueue, //
    };

    fn stats() -> Stats {
        pins::with_view(|v| v.stats()).unwrap_or_default()
    }

    fn bits() -> u32 {
        pins::with_view(|v| v.bits).unwrap_or(0)
    }

    fn nr_pinned() -> usize {
        pins::with_view(|v| v.nr_pinned()).unwrap_or(0)
    }

    fn cap() -> usize {
        pins::with_view(|v| v.cap as usize).unwrap_or(0)
    }

    fn index(id: u64) -> u64 {
        id & ((1 << bits()) - 1)
    }

    fn generation(id: u64) -> u64 {
        id >> bits()
    }

    /// `n` VMIDs that were never allocated.
    fn fakes(n: usize) -> Result<KVVec<KvmVmid>> {
        let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            v.push(KvmVmid::new_unallocated(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Pins every VMID of `vms`; the pins are given back when dropped.
    fn pin_all(vms: &[KvmVmid]) -> Result<KVVec<OwnedPin<'_>>> {
        let mut held = KVVec::with_capacity(vms.len(), GFP_KERNEL)?;
        for v in vms {
            held.push(OwnedPin::take(v)?, GFP_KERNEL)?;
        }
        Ok(held)
    }

    /// Has KVM allocate one new VMID on CPU 0, as a new VM's first vcpu
    /// load there does: its `generation | index`.
    fn allocate_one() -> Result<u64> {
        let tmp = KvmVmid::new_unallocated();
        ffi::on_cpu(0, |c| c.vmid_update(&tmp))?;
        Ok(tmp.id())
    }

    /// What [`sweep`] saw.
    struct Sweep {
        /// Allocations whose index `pinned` says is pinned.
        hits: usize,
        /// The sweep ended with the allocation that rolled over.
        rolled_over: bool,
    }

    /// Allocates the rest of the current generation on CPU 0, one index
    /// after the other, up to the allocation that rolls over: how many of
    /// those indices `pinned` says are pinned (none may be given out), and
    /// whether the sweep reached the rollover.
    fn sweep(pinned: impl Fn(u64) -> bool + Sync) -> Result<Sweep> {
        let mut hits = 0;
        let mut rolled_over = false;
        // Interrupts off for one generation of allocations (65536 with
        // 16-bit VMIDs), under a millisecond per thousand under TCG.
        ffi::on_cpu(0, |c| {
            let before = stats().rollovers;
            for _ in 0..=(1usize << bits()) {
                // A new VM's VMID, never allocated.
                let tmp = KvmVmid::new_unallocated();
                c.vmid_update(&tmp);
                if stats().rollovers != before {
                    rolled_over = true;
                    break;
                }
                hits += usize::from(pinned(index(tmp.id())));
            }
        })?;
        Ok(Sweep { hits, rolled_over })
    }

    /// Allocates VMIDs until the generation rolls over; `ETIME` if a
    /// generation's worth of allocations did not roll it over.
    fn force_rollover() -> Result {
        if sweep(|_| false)?.rolled_over {
            Ok(())
        } else {
            Err(ETIME)
        }
    }

    #[test]
    fn pin_unpin_refcount() -> Result {
        let v = KvmVmid::new_unallocated();
        let start = nr_pinned();
        let a = OwnedPin::take(&v)?;
        let b = OwnedPin::take(&v)?;
        let (ia, ib, id) = (a.idx(), b.idx(), v.id());
        let nr_two = nr_pinned();
        drop(a);
        let nr_one = nr_pinned();
        drop(b);
        let nr_none = nr_pinned();
        // Every pin is given back: assert.
        assert!(ia >= 1);
        assert_eq!(u64::from(ia), index(id));
        assert_eq!(ib, ia);
        assert_eq!(nr_two, start + 1);
        assert_eq!(nr_one, start + 1);
        assert_eq!(nr_none, start);
        Ok(())
    }

    #[test]
    fn c_api_on_a_real_vm() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let before = stats();
        // SAFETY: `kvm` holds the VM, and with it its `arch.mmu.vmid`, until
        // after the pins are given back below.
        let vmid = unsafe { KvmVmid::from_raw(&raw mut (*kvm.as_raw()).arch.mmu.vmid) };
        let p1 = OwnedPin::take(vmid)?;
        let p2 = OwnedPin::take(vmid)?;
        let (v1, v2, id) = (p1.idx(), p2.idx(), vmid.id());
        drop(p1);
        drop(p2);
        // Both pins on this VM were given back, and no one else pins a test
        // VM: no pin on it exists.
        unpin_unowned(vmid);
        let after = stats();
        vm.close();
        drop(kvm);
        assert!(v1 >= 1);
        assert_eq!(v2, v1);
        assert_eq!(u64::from(v1), index(id));
        // An unpin without a pin changes nothing.
        assert_eq!(after.pins, before.pins + 2);
        assert_eq!(after.unpins, before.unpins + 2);
        assert_eq!(after.bad_puts, before.bad_puts + 1);
        Ok(())
    }

    /// The review's sequence: VM A pinned, its vCPU 0 loaded on CPU 1 and
    /// kept there across two rollovers with an unpin between them, then its
    /// vCPU 1 loaded on CPU 0. Both CPUs must run A with one index. With the
    /// landed rollover op, which stored the new generation into each pinned
    /// VMID, CPU 0 got a new index while CPU 1 kept the old one.
    #[test]
    fn one_index_across_two_rollovers() -> Result {
        let a = KvmVmid::new_unallocated();
        let pin = OwnedPin::take(&a)?;
        ffi::on_cpu(1, |c| c.vmid_update(&a))?;
        let on_cpu1 = index(a.id());
        // On an error, CPU 1 is cleared before it is returned.
        let r = force_rollover().and_then(|()| {
            drop(pin);
            force_rollover()?;
            ffi::on_cpu(0, |c| c.vmid_update(&a))
        });
        let on_cpu0 = index(a.id());
        let cleared1 = ffi::on_cpu(1, |c| c.vmid_clear_active());
        let cleared0 = ffi::on_cpu(0, |c| c.vmid_clear_active());
        r.and(cleared1).and(cleared0)?;
        assert_eq!(on_cpu0, on_cpu1);
        Ok(())
    }

    /// 16 pinned VMIDs over 3 rollovers keep their index. The rollover
    /// writes no VMID: each moves to the new generation at its next load
    /// (here on CPU 0), with its index.
    #[test]
    fn pinned_vmids_survive_rollovers() -> Result {
        let vms = fakes(16)?;
        let held = pin_all(&vms)?;
        let mut stale = 0;
        let mut kept = 0;
        let mut run = || -> Result {
            for _ in 0..3 {
                force_rollover()?;
                let gen = generation(allocate_one()?);
                for (v, p) in vms.iter().zip(held.iter()) {
                    stale += usize::from(generation(v.id()) != gen);
                    ffi::on_cpu(0, |c| c.vmid_update(v))?;
                    kept += usize::from(
                        index(v.id()) == u64::from(p.idx()) && generation(v.id()) == gen,
                    );
                }
            }
            Ok(())
        };
        let r = run();
        let cleared = ffi::on_cpu(0, |c| c.vmid_clear_active());
        drop(held);
        drop(vms);
        r.and(cleared)?;
        assert_eq!(stale, 48);
        assert_eq!(kept, 48);
        Ok(())
    }

    /// With 100 VMIDs pinned, a full generation of new allocations, up to
    /// the one that rolls over, never gets one of their indices.
    #[test]
    fn no_two_vms_share_a_vmid() -> Result {
        let vms = fakes(100)?;
        let held = pin_all(&vms)?;
        force_rollover()?;
        let mut pinned = KVVec::from_elem(false, 1usize << bits(), GFP_KERNEL)?;
        for p in held.iter() {
            pinned[usize::from(p.idx())] = true;
        }
        let swept = sweep(|idx| pinned[idx as usize])?;
        drop(held);
        drop(vms);
        drop(pinned);
        // A sweep that stopped short would have seen only part of the
        // generation.
        assert!(swept.rolled_over);
        assert_eq!(swept.hits, 0);
        Ok(())
    }

    /// Past the cap a pin gets `ENOSPC` and spends no VMID; KVM still
    /// allocates and rolls over; an unpin makes room again.
    #[test]
    fn cap_reached_then_recovers() -> Result {
        let left = cap().saturating_sub(nr_pinned());
        assert!(left > 0);
        let vms = fakes(left + 1)?;
        let mut held = pin_all(&vms[..left])?;
        let last = &vms[left];
        let refused = stats().refused_nospace;
        // A pin taken against expectations is given back at the `;`.
        let nospace = matches!(OwnedPin::take(last), Err(e) if e == ENOSPC);
        let refused_now = stats().refused_nospace;
        let unspent = last.id() == 0;
        // KVM can still allocate, and roll over, with the cap reached; the
        // new generation's first VMID is none of the pinned indices.
        let rollovers = stats().rollovers;
        force_rollover()?;
        let rolled = stats().rollovers == rollovers + 1;
        let other_idx = index(allocate_one()?);
        let other_is_pinned = held.iter().any(|p| u64::from(p.idx()) == other_idx);
        drop(held.pop());
        let last_pin = OwnedPin::take(last);
        let last_ok = last_pin.is_ok();
        drop(last_pin);
        drop(held);
        drop(vms);
        assert!(nospace);
        assert!(unspent);
        assert_eq!(refused_now, refused + 1);
        assert!(rolled);
        assert!(!other_is_pinned);
        assert!(last_ok);
        Ok(())
    }

    /// What the workers of [`concurrent_pin_unpin_rollover`] share.
    #[pin_data]
    struct Workers {
        #[pin]
        all_done: Completion,
        running: Atomic<usize>,
        failures: Atomic<usize>,
    }

    impl Workers {
        /// One worker is done (or was never started).
        fn done(&self) {
            if self.running.fetch_sub(1, Relaxed) == 1 {
                self.all_done.complete_all();
            }
        }
    }

    /// Pins, unpins and rollovers from 4 workers at once keep every pin's
    /// index.
    ///
    /// The test waits until every worker has given back its pins and
    /// counted its result. A worker still runs module code after its
    /// `complete_all()`: the rest of its closure (dropping its `Arc`, maybe
    /// the last) and the workqueue glue monomorphised into this module.
    /// That tail takes no lock, pin or VM; it runs before `insmod` returns
    /// in practice, but only timing orders it before a later `rmmod`, as the
    /// kernel crate has no way to wait for a spawned work item to return.
    #[test]
    fn concurrent_pin_unpin_rollover() -> Result {
        const WORKERS: usize = 4;
        const ROUNDS: usize = 200;
        let shared = Arc::pin_init(
            pin_init!(Workers {
                all_done <- Completion::new(),
                running: Atomic::new(WORKERS),
                failures: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        let start = nr_pinned();
        let mut spawned = Ok(());
        for w in 0..WORKERS {
            if spawned.is_err() {
                // Never started: counted as done.
                shared.done();
                continue;
            }
            let sh = shared.clone();
            spawned = workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                let run = || -> Result {
                    let vms = fakes(4)?;
                    for r in 0..ROUNDS {
                        let v = &vms[r % vms.len()];
                        // Given back on every return path.
                        let p = OwnedPin::take(v)?;
                        if w == 0 && r % 50 == 0 {
                            force_rollover()?;
                        }
                        if index(v.id()) != u64::from(p.idx()) {
                            return Err(EINVAL);
                        }
                    }
                    Ok(())
                };
                if run().is_err() {
                    sh.failures.fetch_add(1, Relaxed);
                }
                sh.done();
            });
            if spawned.is_err() {
                shared.done();
            }
        }
        shared.all_done.wait_for_completion();
        let nr_failed = shared.failures.load(Relaxed);
        drop(shared);
        spawned?;
        assert_eq!(nr_failed, 0);
        assert_eq!(nr_pinned(), start);
        Ok(())
    }
}
