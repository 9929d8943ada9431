// SPDX-License-Identifier: GPL-2.0

//! KUnit tests against KVM's real VMID allocator.
//!
//! They run at insmod, with the module's ops registered. They pin VMIDs of
//! `struct kvm_vmid`s owned by the test, which the allocator treats like
//! any VM's stage-2 VMID.
//!
//! A failed KUnit assertion ends the test's thread at once, without running
//! destructors. So the tests observe into locals while they hold pins, VMs,
//! buffers or `cpu_vmid_lock`, give them all back (through [`OwnedPin`],
//! [`VmPin`], [`LockGuard`] and the other owning types, which release on
//! drop, also on an early `?` return), and only then assert. A failing test
//! therefore leaks no pin (nor the module reference it holds, which would
//! block `rmmod`), no memory (which the boot's kmemleak check would flag),
//! and never leaves the raw lock held with interrupts off, which would hang
//! the machine.
//!
//! [`OwnedPin`]: crate::pins::OwnedPin
//! [`VmPin`]: crate::ffi::VmPin
//! [`LockGuard`]: crate::ffi::LockGuard

#[path = "../common/test_vm.rs"]
pub(crate) mod test_vm;

#[kernel::macros::kunit_tests(kvm_vmid_pin)]
mod suite {
    use super::test_vm::TestVm;
    use crate::ffi::{
        pinned_vmid_put,
        KvmVmid,
        LockGuard,
        Locked,
        VmPin, //
    };
    use crate::pin_table::{
        PinError,
        Stats, //
    };
    use crate::pins::{
        self,
        OwnedPin, //
    };
    use kernel::{
        interrupt::local_interrupt_disable,
        prelude::*,
        sync::{
            atomic::{
                Atomic,
                Relaxed, //
            },
            Arc, //
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

    fn refresh(v: &KvmVmid) -> u64 {
        LockGuard::lock().refresh(v)
    }

    /// Rollovers so far, under a lock the caller holds.
    fn rollovers(locked: &mut Locked) -> u64 {
        pins::table(locked).map_or(0, |t| t.stats().rollovers)
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
    ///
    /// 256 pins per lock hold keep interrupts off for a short time only.
    /// No pin is dropped with the lock held (dropping one takes the lock):
    /// `held` has room for all, and is dropped after the guard on an error.
    fn pin_all(vms: &[KvmVmid]) -> Result<KVVec<OwnedPin<'_>>> {
        let mut held = KVVec::with_capacity(vms.len(), GFP_KERNEL)?;
        for chunk in vms.chunks(256) {
            let mut g = LockGuard::lock();
            for v in chunk {
                let pin = OwnedPin::take_locked(&mut g, v)?;
                if let Err(e) = held.push_within_capacity(pin) {
                    // Cannot happen: there is room for all. Dropping the
                    // pin would take the lock held here: leak it instead.
                    core::mem::forget(e);
                    return Err(ENOMEM);
                }
            }
        }
        Ok(held)
    }

    /// Gives back every pin of `held`, 256 per lock hold: how many the
    /// table did not have.
    fn release_all(held: KVVec<OwnedPin<'_>>) -> usize {
        let mut lost = 0;
        let mut pins = held.into_iter().peekable();
        while pins.peek().is_some() {
            let mut g = LockGuard::lock();
            for p in pins.by_ref().take(256) {
                lost += usize::from(!p.release_locked(&mut g));
            }
        }
        lost
    }

    /// Allocates the rest of the current generation to a throw-away VM, one
    /// index after the other, up to the allocation that rolls over: how many
    /// of those indices `pinned` says are pinned (none may be given out).
    ///
    /// A pinned VM keeps its index across a rollover without `new_vmid()`
    /// marking it: only the rollover op does. This catches a rollover op
    /// that did not.
    fn sweep(pinned: impl Fn(u64) -> bool) -> usize {
        let mask = (1u64 << bits()) - 1;
        let mut tmp = KvmVmid::new_unallocated();
        let mut hits = 0;
        for _ in 0..=(mask + 1) / 256 {
            let mut g = LockGuard::lock();
            let r = rollovers(&mut g);
            for _ in 0..256 {
                tmp.reset();
                let id = g.refresh(&tmp);
                if rollovers(&mut g) != r {
                    return hits;
                }
                hits += usize::from(pinned(id & mask));
            }
        }
        hits
    }

    /// Allocates VMIDs for a throw-away VM until the generation rolls over.
    fn force_rollover() {
        let mut tmp = KvmVmid::new_unallocated();
        let before = stats().rollovers;
        // Batches of 256 allocations per lock hold keep interrupts off for
        // a short time only.
        for _ in 0..=(1usize << bits()) / 256 {
            let mut g = LockGuard::lock();
            for _ in 0..256 {
                tmp.reset();
                g.refresh(&tmp);
                if rollovers(&mut g) != before {
                    return;
                }
            }
        }
    }

    /// Runs `kvm_arm_vmid_update()` as a vcpu load does: preemption off.
    fn vcpu_load(v: &KvmVmid) {
        // Interrupts off, and with them preemption, on every configuration
        // (`PREEMPT_RT` included, unlike a `spinlock_t`).
        let irqs_off = local_interrupt_disable();
        v.update(&irqs_off);
    }

    #[test]
    fn pin_unpin_refcount() -> Result {
        let v = KvmVmid::new_unallocated();
        let start = nr_pinned();
        let a = OwnedPin::take(&v)?;
        let b = OwnedPin::take(&v)?;
        let (ia, ib, id) = (a.idx(), b.idx(), v.id());
        let nr_two = nr_pinned();
        let first_put = a.release();
        let nr_one = nr_pinned();
        let last_put = b.release();
        let nr_none = nr_pinned();
        // Every pin is given back: assert.
        assert!(ia >= 1);
        assert_eq!(u64::from(ia), index(id));
        assert_eq!(ib, ia);
        assert_eq!(nr_two, start + 1);
        assert!(first_put);
        assert_eq!(nr_one, start + 1);
        assert!(last_put);
        assert_eq!(nr_none, start);
        Ok(())
    }

    #[test]
    fn c_api_on_a_real_vm() -> Result {
        let vm = TestVm::take()?;
        let kvm = vm.kvm();
        let users = kvm.users();
        let before = stats();
        let p1 = VmPin::get(Some(&kvm))?;
        // Each pin holds a reference on the VM.
        let users_one = kvm.users();
        let p2 = VmPin::get(Some(&kvm))?;
        let users_two = kvm.users();
        let (v1, v2) = (p1.vmid(), p2.vmid());
        // The VM file goes away (the VMM exits): the pins keep the VM.
        vm.close();
        let users_closed = kvm.users();
        drop(p1);
        drop(p2);
        let users_unpinned = kvm.users();
        // SAFETY: both pins on this VM were given back, and no one else
        // pins a test VM: no pin on it exists.
        unsafe { pinned_vmid_put(&kvm) };
        let users_bad_put = kvm.users();
        let after = stats();
        drop(kvm);
        // Every pin and VM reference is given back: assert.
        assert!(v1 >= 1);
        assert_eq!(users_one, users + 1);
        assert_eq!(v2, v1);
        assert_eq!(users_two, users + 2);
        assert_eq!(users_closed, users + 1);
        assert_eq!(users_unpinned, users - 1);
        // A put without a get changes nothing.
        assert_eq!(users_bad_put, users - 1);
        assert_eq!(after.pins, before.pins + 2);
        assert_eq!(after.unpins, before.unpins + 2);
        assert_eq!(after.bad_puts, before.bad_puts + 1);
        Ok(())
    }

    #[test]
    fn c_api_null_vm_is_einval() {
        // A pin taken against expectations is given back at the `;`.
        let refused = matches!(VmPin::get(None), Err(e) if e == EINVAL);
        assert!(refused);
    }

    #[test]
    fn double_put_changes_nothing() -> Result {
        let v = KvmVmid::new_unallocated();
        let never = KvmVmid::new_unallocated();
        let before = stats();
        let put = OwnedPin::take(&v)?.release();
        // SAFETY: the one pin on `v` was given back just above.
        let again = unsafe { pins::put(&mut LockGuard::lock(), &v) };
        // SAFETY: no pin on `never` was ever taken.
        let never_put = unsafe { pins::put(&mut LockGuard::lock(), &never) };
        let after = stats();
        assert!(put);
        assert!(!again);
        assert!(!never_put);
        assert_eq!(after.bad_puts, before.bad_puts + 2);
        assert_eq!(after.unpins, before.unpins + 1);
        Ok(())
    }

    #[test]
    fn pin_errors_map_to_errnos() {
        assert_eq!(Error::from(PinError::Disabled), ENOSPC);
        assert_eq!(Error::from(PinError::NoSpace), ENOSPC);
        assert_eq!(Error::from(PinError::Conflict), EBUSY);
        assert_eq!(Error::from(PinError::NotPinned), EINVAL);
    }

    #[test]
    fn pinned_vmids_survive_rollovers() -> Result {
        let vms = fakes(16)?;
        let held = pin_all(&vms)?;
        let r0 = stats().rollovers;
        let (mut moved, mut given_out) = (0, 0);
        for _ in 0..3 {
            // Each sweep ends with a rollover.
            given_out += sweep(|i| held.iter().any(|p| u64::from(p.idx()) == i));
            for (v, p) in vms.iter().zip(held.iter()) {
                if index(refresh(v)) != u64::from(p.idx()) {
                    moved += 1;
                }
            }
        }
        let rollovers = stats().rollovers - r0;
        let lost = release_all(held);
        drop(vms);
        assert_eq!(given_out, 0);
        assert_eq!(moved, 0);
        assert_eq!(rollovers, 3);
        assert_eq!(lost, 0);
        Ok(())
    }

    /// A new pin whose allocation starts a new generation: the `rollover` op
    /// runs inside the `get` op, under the same lock acquisition, with its
    /// own token (the re-entrancy `ffi::Locked` documents).
    #[test]
    fn rollover_nested_in_a_pin() -> Result {
        let a = KvmVmid::new_unallocated();
        let pa = OwnedPin::take(&a)?;
        let mut b = KvmVmid::new_unallocated();
        // `b` is reset before each pin, so each pin allocates a new index:
        // within `1 << bits` pins, one rolls the generation over. 256 pins
        // per lock hold; each is given back at once, under the same hold.
        let mut nested = None;
        'pins: for _ in 0..=(1usize << bits()) / 256 {
            let mut g = LockGuard::lock();
            for _ in 0..256 {
                b.reset();
                let r = rollovers(&mut g);
                let idx = pins::get(&mut g, &b)?;
                let rolled = rollovers(&mut g) == r + 1;
                // SAFETY: the `get` just above took this pin for us.
                let put = unsafe { pins::put(&mut g, &b) };
                if rolled {
                    nested = Some((idx, b.id(), put));
                    break 'pins;
                }
            }
        }
        let a_idx = pa.idx();
        // `a` in the generation the nested rollover started.
        let a_id = refresh(&a);
        // The rest of that generation: `a`'s index is not given out.
        let taken = sweep(|i| i == u64::from(a_idx));
        let released = pa.release();
        let found = nested.is_some();
        let (idx_b, id_b, released_b) = nested.unwrap_or((0, 0, true));
        assert!(found);
        // The nested op saw the table and marked `a`'s index in the new
        // generation: neither `b` nor any later VMID was given it, and `a`
        // kept it.
        assert_eq!(taken, 0);
        assert!(idx_b != a_idx);
        assert_eq!(index(a_id), u64::from(a_idx));
        assert_eq!(generation(id_b), generation(a_id));
        assert_eq!(u64::from(idx_b), index(id_b));
        assert!(released_b);
        assert!(released);
        Ok(())
    }

    #[test]
    fn no_two_vms_share_a_vmid() -> Result {
        // More VMs than 8-bit VMIDs, a third of them pinned.
        let vms = fakes(300)?;
        let mut pinned = KVec::new();
        for (n, v) in vms.iter().enumerate() {
            if n % 3 == 0 {
                pinned.push((n, OwnedPin::take(v)?), GFP_KERNEL)?;
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
        let (mut zero, mut shared) = (0, 0);
        for v in vms.iter().filter(|v| generation(v.id()) == cur) {
            let i = index(v.id()) as usize;
            zero += usize::from(i == 0);
            shared += usize::from(seen[i]);
            seen[i] = true;
        }
        let (mut stale, mut moved, mut lost) = (0, 0, 0);
        for (n, p) in pinned {
            stale += usize::from(generation(vms[n].id()) != cur);
            moved += usize::from(index(vms[n].id()) != u64::from(p.idx()));
            lost += usize::from(!p.release());
        }
        drop(seen);
        drop(vms);
        assert_eq!(zero, 0);
        assert_eq!(shared, 0);
        assert_eq!(stale, 0);
        assert_eq!(moved, 0);
        assert_eq!(lost, 0);
        Ok(())
    }

    #[test]
    fn budget_exhausted_then_recovers() -> Result {
        let left = budget() - nr_pinned() as i64;
        assert!(left > 0);
        let left = left as usize;
        let vms = fakes(left + 1)?;
        let first = OwnedPin::take(&vms[0])?;
        let rest = pin_all(&vms[1..left])?;
        let last = &vms[left];
        let refused = stats().refused_nospace;
        // A pin taken against expectations is given back at the `;`.
        let nospace = matches!(OwnedPin::take(last), Err(e) if e == ENOSPC);
        let refused_now = stats().refused_nospace;
        // KVM can still allocate after a rollover with the budget spent.
        force_rollover();
        let other = KvmVmid::new_unallocated();
        let other_idx = index(refresh(&other));
        let freed = first.release();
        let last_pin = OwnedPin::take(last);
        let last_ok = last_pin.is_ok();
        drop(last_pin);
        let lost = release_all(rest);
        drop(vms);
        assert!(nospace);
        assert_eq!(refused_now, refused + 1);
        assert!(other_idx != 0);
        assert!(freed);
        assert!(last_ok);
        assert_eq!(lost, 0);
        Ok(())
    }

    #[test]
    fn fast_path_after_rollover() -> Result {
        let v = KvmVmid::new_unallocated();
        let p = OwnedPin::take(&v)?;
        force_rollover();
        let kept = stats().kept;
        for _ in 0..10 {
            vcpu_load(&v);
        }
        let kept_loads = stats().kept - kept;
        let id = v.id();
        let again = refresh(&v);
        let idx = p.idx();
        let released = p.release();
        // Only the first load after the rollover refreshes the VMID; the RFC
        // did so on every load, as it never stored the new generation.
        assert_eq!(kept_loads, 1);
        assert_eq!(index(id), u64::from(idx));
        assert_eq!(again, id);
        assert!(released);
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
                    let vms = fakes(4)?;
                    for r in 0..ROUNDS {
                        let v = &vms[r % vms.len()];
                        // Given back on every return path.
                        let p = OwnedPin::take(v)?;
                        vcpu_load(v);
                        if w == 0 && r % 50 == 0 {
                            force_rollover();
                        }
                        vcpu_load(v);
                        if index(v.id()) != u64::from(p.idx()) || !p.release() {
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
        let (nr_done, nr_failed) = (done.load(Relaxed), failures.load(Relaxed));
        drop(done);
        drop(failures);
        assert_eq!(nr_done, WORKERS);
        assert_eq!(nr_failed, 0);
        assert_eq!(nr_pinned(), start);
        Ok(())
    }
}
