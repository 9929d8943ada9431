// SPDX-License-Identifier: GPL-2.0

//! KUnit tests against KVM's real VMID allocator.
//!
//! They run at insmod, with the module's ops registered. They pin VMIDs of
//! `struct kvm_vmid`s owned by the test, which the allocator treats like
//! any VM's stage-2 VMID.

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(kvm_vmid_pin)]
mod suite {
    use super::test_vm::TestVm;
    use crate::allocator::{
        pinned_vmid_get,
        pinned_vmid_put,
        KvmVmid,
        LockGuard, //
    };
    use crate::pin_table::Stats;
    use crate::pins;
    use kernel::{
        new_spinlock,
        prelude::*,
        sync::{
            atomic::{
                Atomic,
                Relaxed, //
            },
            Arc,
            SpinLock, //
        },
        time::{
            delay::fsleep,
            Delta, //
        },
        workqueue, //
    };

    fn stats() -> Stats {
        pins::table(&mut LockGuard::lock())
            .map(|t| t.stats())
            .unwrap_or_default()
    }

    fn bits() -> u32 {
        pins::table(&mut LockGuard::lock()).map_or(0, |t| t.bits())
    }

    fn nr_pinned() -> usize {
        pins::table(&mut LockGuard::lock()).map_or(0, |t| t.nr_pinned())
    }

    fn budget() -> i64 {
        pins::table(&mut LockGuard::lock()).map_or(0, |t| t.budget())
    }

    fn index(id: u64) -> u64 {
        id & ((1 << bits()) - 1)
    }

    fn generation(id: u64) -> u64 {
        id >> bits()
    }

    fn pin(v: &KvmVmid) -> Result<u16> {
        pins::get(&mut LockGuard::lock(), v)
    }

    fn unpin(v: &KvmVmid) -> bool {
        pins::put(&mut LockGuard::lock(), v)
    }

    fn refresh(v: &KvmVmid) -> u64 {
        LockGuard::lock().refresh(v)
    }

    /// `n` VMIDs that were never allocated.
    fn fakes(n: usize) -> Result<KVVec<KvmVmid>> {
        let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            v.push(KvmVmid::new_unallocated(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Allocates VMIDs for a throw-away VM until the generation rolls over.
    fn force_rollover() {
        let tmp = KvmVmid::new_unallocated();
        let before = stats().rollovers;
        // Batches of 256 allocations per lock hold keep interrupts off for
        // a short time only.
        for _ in 0..=(1usize << bits()) / 256 {
            let mut g = LockGuard::lock();
            for _ in 0..256 {
                tmp.reset();
                g.refresh(&tmp);
                if pins::table(&mut g).map_or(0, |t| t.stats().rollovers) != before {
                    return;
                }
            }
        }
    }

    /// Runs `kvm_arm_vmid_update()` as a vcpu load does: preemption off.
    fn vcpu_load(lock: &SpinLock<()>, v: &KvmVmid) {
        let _g = lock.lock();
        // SAFETY: holding a spinlock disables preemption.
        unsafe { v.update() };
    }

    #[test]
    fn pin_unpin_refcount() -> Result {
        let v = KvmVmid::new_unallocated();
        let start = nr_pinned();
        let a = pin(&v)?;
        assert!(a >= 1);
        assert_eq!(u64::from(a), index(v.id()));
        assert_eq!(pin(&v)?, a);
        assert_eq!(nr_pinned(), start + 1);
        assert!(unpin(&v));
        assert_eq!(nr_pinned(), start + 1);
        assert!(unpin(&v));
        assert_eq!(nr_pinned(), start);
        Ok(())
    }

    #[test]
    fn c_api_on_a_real_vm() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        let before = stats();
        let v = pinned_vmid_get(Some(&kvm))?;
        assert!(v >= 1);
        // Each pin holds a reference on the VM.
        assert_eq!(kvm.users(), users + 1);
        assert_eq!(pinned_vmid_get(Some(&kvm))?, v);
        assert_eq!(kvm.users(), users + 2);
        // The VM file goes away (the VMM exits): the pins keep the VM.
        vm.close();
        assert_eq!(kvm.users(), users + 1);
        pinned_vmid_put(&kvm);
        pinned_vmid_put(&kvm);
        assert_eq!(kvm.users(), users - 1);
        // A put without a get changes nothing.
        pinned_vmid_put(&kvm);
        assert_eq!(kvm.users(), users - 1);
        let after = stats();
        assert_eq!(after.pins, before.pins + 2);
        assert_eq!(after.unpins, before.unpins + 2);
        assert_eq!(after.bad_puts, before.bad_puts + 1);
        Ok(())
    }

    #[test]
    fn c_api_null_vm_is_einval() {
        assert_eq!(pinned_vmid_get(None), Err(EINVAL));
    }

    #[test]
    fn double_put_changes_nothing() -> Result {
        let v = KvmVmid::new_unallocated();
        let before = stats();
        pin(&v)?;
        assert!(unpin(&v));
        assert!(!unpin(&v));
        let never = KvmVmid::new_unallocated();
        assert!(!unpin(&never));
        let after = stats();
        assert_eq!(after.bad_puts, before.bad_puts + 2);
        assert_eq!(after.unpins, before.unpins + 1);
        Ok(())
    }

    #[test]
    fn pinned_vmids_survive_rollovers() -> Result {
        let vms = fakes(16)?;
        let mut idx = KVec::new();
        for v in vms.iter() {
            idx.push(pin(v)?, GFP_KERNEL)?;
        }
        let r0 = stats().rollovers;
        for _ in 0..3 {
            force_rollover();
            for (v, i) in vms.iter().zip(idx.iter()) {
                assert_eq!(index(refresh(v)), u64::from(*i));
            }
        }
        assert_eq!(stats().rollovers, r0 + 3);
        for v in vms.iter() {
            assert!(unpin(v));
        }
        Ok(())
    }

    #[test]
    fn no_two_vms_share_a_vmid() -> Result {
        // More VMs than 8-bit VMIDs, a third of them pinned.
        let vms = fakes(300)?;
        let mut pinned = KVec::new();
        for (n, v) in vms.iter().enumerate() {
            if n % 3 == 0 {
                pinned.push((n, pin(v)?), GFP_KERNEL)?;
            }
        }
        for _ in 0..3 {
            for v in vms.iter() {
                refresh(v);
            }
        }
        force_rollover();
        for v in vms.iter() {
            refresh(v);
        }
        // Later rollovers in that loop left some pinned VMs stale; a refresh
        // (a vcpu load) brings them to the current generation, same index.
        for (n, _) in pinned.iter() {
            refresh(&vms[*n]);
        }
        let cur = vms.iter().map(|v| generation(v.id())).max().unwrap_or(0);
        let mut seen = KVVec::from_elem(false, 1 << bits(), GFP_KERNEL)?;
        for v in vms.iter().filter(|v| generation(v.id()) == cur) {
            let i = index(v.id()) as usize;
            assert!(i != 0);
            assert!(!seen[i]);
            seen[i] = true;
        }
        for (n, i) in pinned.iter() {
            assert_eq!(generation(vms[*n].id()), cur);
            assert_eq!(index(vms[*n].id()), u64::from(*i));
            assert!(unpin(&vms[*n]));
        }
        Ok(())
    }

    #[test]
    fn budget_exhausted_then_recovers() -> Result {
        let left = budget() - nr_pinned() as i64;
        assert!(left > 0);
        let vms = fakes(left as usize + 1)?;
        for chunk in vms[..left as usize].chunks(256) {
            let mut g = LockGuard::lock();
            for v in chunk {
                pins::get(&mut g, v)?;
            }
        }
        let last = &vms[left as usize];
        let refused = stats().refused_nospace;
        assert_eq!(pin(last), Err(ENOSPC));
        assert_eq!(stats().refused_nospace, refused + 1);
        // KVM can still allocate after a rollover with the budget spent.
        force_rollover();
        let other = KvmVmid::new_unallocated();
        assert!(index(refresh(&other)) != 0);
        assert!(unpin(&vms[0]));
        assert!(pin(last).is_ok());
        for chunk in vms[1..].chunks(256) {
            let mut g = LockGuard::lock();
            for v in chunk {
                assert!(pins::put(&mut g, v));
            }
        }
        Ok(())
    }

    #[test]
    fn fast_path_after_rollover() -> Result {
        let lock = KBox::pin_init(new_spinlock!(()), GFP_KERNEL)?;
        let v = KvmVmid::new_unallocated();
        let idx = pin(&v)?;
        force_rollover();
        let kept = stats().kept;
        for _ in 0..10 {
            vcpu_load(&lock, &v);
        }
        // Only the first load after the rollover refreshes the VMID; the RFC
        // did so on every load, as it never stored the new generation.
        assert_eq!(stats().kept, kept + 1);
        assert_eq!(index(v.id()), u64::from(idx));
        assert_eq!(refresh(&v), v.id());
        assert!(unpin(&v));
        Ok(())
    }

    #[test]
    fn concurrent_pin_unpin_update() -> Result {
        const WORKERS: usize = 4;
        const ROUNDS: usize = 200;
        let failures = Arc::new(Atomic::<usize>::new(0), GFP_KERNEL)?;
        let done = Arc::new(Atomic::<usize>::new(0), GFP_KERNEL)?;
        let start = nr_pinned();
        for w in 0..WORKERS {
            let failures = failures.clone();
            let done = done.clone();
            workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                let run = || -> Result {
                    let lock = KBox::pin_init(new_spinlock!(()), GFP_KERNEL)?;
                    let vms = fakes(4)?;
                    for r in 0..ROUNDS {
                        let v = &vms[r % vms.len()];
                        let i = pin(v)?;
                        vcpu_load(&lock, v);
                        if w == 0 && r % 50 == 0 {
                            force_rollover();
                        }
                        vcpu_load(&lock, v);
                        if index(v.id()) != u64::from(i) || !unpin(v) {
                            return Err(EINVAL);
                        }
                    }
                    Ok(())
                };
                if run().is_err() {
                    failures.fetch_add(1, Relaxed);
                }
                done.fetch_add(1, Relaxed);
            })?;
        }
        for _ in 0..20_000 {
            if done.load(Relaxed) == WORKERS {
                break;
            }
            fsleep(Delta::from_millis(1));
        }
        assert_eq!(done.load(Relaxed), WORKERS);
        assert_eq!(failures.load(Relaxed), 0);
        assert_eq!(nr_pinned(), start);
        Ok(())
    }
}
