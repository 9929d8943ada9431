// SPDX-License-Identifier: GPL-2.0

//! A model of KVM's VMID allocator as shipped, with the real pin table.
//!
//! `Alloc` follows `arch/arm64/kvm/vmid.c` with `patches/0002-*` line by
//! line: `flush_context()`, `check_update_reserved_vmid()`, `new_vmid()`,
//! `kvm_arm_vmid_update()`, `kvm_arm_vmid_clear_active()`,
//! `kvm_arm_vmid_pin()` and `kvm_arm_vmid_unpin()`, with per-CPU
//! `active_vmids` and `reserved_vmids`. The module's ops are the
//! [`PinTable`] of `rust/kvm_vmid_pin/pin_table.rs`, the kernel's own file.
//!
//! [`Variant::EagerStore`] is the allocator of the landed patch 0002: its
//! rollover op stored the new generation into every pinned VMID, and
//! `new_vmid()` had no pinned check. The tests show that the model finds
//! that bug and that the shipped allocator has none.
//!
//! On top of the allocator, `World` loads and puts vCPUs as
//! `kvm_arch_vcpu_load()`/`put()` do. Under VHE, VTTBR_EL2 is written at
//! vcpu load only, so a loaded vCPU runs with the index its VM had at its
//! load; the checks take that stricter view for both modes.

use ksv_logic::pin_table::{bitmap_words, cap, PinError, PinTable, Slot, WORD_BITS};

type Table = PinTable<Vec<Slot>, Vec<usize>>;

/// Which allocator the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// Patch 0002 as shipped now: reserved, then pinned, in `new_vmid()`.
    Shipped,
    /// The landed patch 0002: the rollover op writes pinned VMIDs.
    EagerStore,
}

fn test_bit(map: &[usize], i: usize) -> bool {
    map[i / WORD_BITS] & (1 << (i % WORD_BITS)) != 0
}

/// `__test_and_set_bit()`.
fn test_and_set_bit(map: &mut [usize], i: usize) -> bool {
    let old = test_bit(map, i);
    map[i / WORD_BITS] |= 1 << (i % WORD_BITS);
    old
}

/// `arch/arm64/kvm/vmid.c`, its state and its functions. A `struct
/// kvm_vmid` is an index into `ids`; its address, the pin table's owner
/// key, is [`Alloc::owner`].
#[derive(Clone)]
struct Alloc {
    variant: Variant,
    bits: u32,
    vmid_generation: u64,
    vmid_map: Vec<usize>,
    active_vmids: Vec<u64>,
    reserved_vmids: Vec<u64>,
    cur_idx: usize,
    /// `vmid_limit`: no index at or above it is free until the next
    /// rollover (the op's last free index + 1).
    vmid_limit: usize,
    /// `kvm_vmid->id` of every `struct kvm_vmid`.
    ids: Vec<u64>,
    /// The registered module's table (`vmid_pin_ops`).
    ops: Table,
    /// `nr_vmid_pins`.
    nr_vmid_pins: u64,
}

impl Alloc {
    /// `kvm_arm_vmid_alloc_init()` and a registered pin module.
    fn new(variant: Variant, bits: u32, cpus: usize, max_pins: u32) -> Self {
        let n = 1usize << bits;
        let ops = PinTable::new(
            bits,
            cpus as u32,
            max_pins,
            vec![Slot::default(); n],
            vec![0; bitmap_words(n)],
        )
        .expect("a table for this width");
        Self {
            variant,
            bits,
            vmid_generation: 1 << bits,
            vmid_map: vec![0; bitmap_words(n)],
            active_vmids: vec![0; cpus],
            reserved_vmids: vec![0; cpus],
            cur_idx: 1,
            vmid_limit: 1 << bits,
            ids: Vec::new(),
            ops,
            nr_vmid_pins: 0,
        }
    }

    /// A new, zeroed `struct kvm_vmid`.
    fn new_kvm_vmid(&mut self) -> usize {
        self.ids.push(0);
        self.ids.len() - 1
    }

    fn owner(v: usize) -> usize {
        0x1000 + v * 64
    }

    fn num_user_vmids(&self) -> usize {
        1 << self.bits
    }

    fn vmid2idx(&self, vmid: u64) -> usize {
        (vmid & (self.num_user_vmids() as u64 - 1)) as usize
    }

    fn vmid_gen_match(&self, vmid: u64) -> bool {
        (vmid ^ self.vmid_generation) >> self.bits == 0
    }

    /// Returns the rollover op's hint, checked to be exact: the lowest
    /// free index `>= 1`, or `NUM_USER_VMIDS`.
    fn flush_context(&mut self) -> usize {
        self.vmid_map.fill(0);
        for cpu in 0..self.active_vmids.len() {
            let mut vmid = core::mem::take(&mut self.active_vmids[cpu]);
            // Preserve reserved VMID
            if vmid == 0 {
                vmid = self.reserved_vmids[cpu];
            }
            let i = self.vmid2idx(vmid);
            test_and_set_bit(&mut self.vmid_map, i);
            self.reserved_vmids[cpu] = vmid;
        }
        // hint = vmid_pin_ops->rollover(vmid_map, &last)
        let hint = self.ops.rollover(&mut self.vmid_map);
        assert_eq!(hint, self.find_next_zero_bit(1), "the rollover op's hint");
        let last = self.ops.last_free(&self.vmid_map);
        let want = (1..self.num_user_vmids())
            .rev()
            .find(|&i| !test_bit(&self.vmid_map, i))
            .unwrap_or(0);
        assert_eq!(last, want, "the rollover op's last free index");
        self.vmid_limit = last.clamp(
            hint.clamp(1, self.num_user_vmids() - 1),
            self.num_user_vmids() - 1,
        ) + 1;
        if self.variant == Variant::EagerStore {
            // The landed op: "store @generation | index in each pinned VMID".
            for v in 0..self.ids.len() {
                let id = self.ids[v];
                if self.ops.is_pinned(Self::owner(v), id) {
                    self.ids[v] = self.vmid_generation | self.vmid2idx(id) as u64;
                }
            }
        }
        hint
    }

    fn check_update_reserved_vmid(&mut self, vmid: u64, newvmid: u64) -> bool {
        let mut hit = false;
        for r in self.reserved_vmids.iter_mut() {
            if *r == vmid {
                hit = true;
                *r = newvmid;
            }
        }
        hit
    }

    fn find_next_zero_bit(&self, from: usize) -> usize {
        self.find_next_zero_bit_below(from, self.num_user_vmids())
    }

    /// `find_next_zero_bit(vmid_map, limit, from)`: `limit` if none.
    fn find_next_zero_bit_below(&self, from: usize, limit: usize) -> usize {
        (from..limit)
            .find(|&i| !test_bit(&self.vmid_map, i))
            .unwrap_or(limit)
    }

    fn new_vmid(&mut self, v: usize) -> u64 {
        let mut vmid = self.ids[v];
        let mut generation = self.vmid_generation;
        if vmid != 0 {
            let newvmid = generation | self.vmid2idx(vmid) as u64;
            if self.check_update_reserved_vmid(vmid, newvmid) {
                self.ids[v] = newvmid;
                return newvmid;
            }
            if self.variant == Variant::Shipped && self.ops.is_pinned(Self::owner(v), vmid) {
                self.ids[v] = newvmid;
                return newvmid;
            }
            let i = self.vmid2idx(vmid);
            if !test_and_set_bit(&mut self.vmid_map, i) {
                self.ids[v] = newvmid;
                return newvmid;
            }
        }
        let mut i = self.find_next_zero_bit_below(self.cur_idx, self.vmid_limit);
        // No index at or above the limit is free in this generation.
        assert!(
            i < self.vmid_limit || self.find_next_zero_bit(self.cur_idx) == self.num_user_vmids(),
            "a free index above the rollover op's last"
        );
        if i >= self.vmid_limit {
            self.vmid_generation += 1 << self.bits;
            generation = self.vmid_generation;
            // The hint only says where to start (the landed op returned
            // none: the search started at 1, where an exact hint leads too).
            let hint = self.flush_context();
            i = self.find_next_zero_bit_below(
                hint.clamp(1, self.num_user_vmids() - 1),
                self.vmid_limit,
            );
            if i >= self.vmid_limit {
                self.vmid_limit = self.num_user_vmids();
                i = self.find_next_zero_bit(1);
            }
            assert!(i < self.num_user_vmids(), "no free VMID after a rollover");
        }
        test_and_set_bit(&mut self.vmid_map, i);
        self.cur_idx = i;
        vmid = i as u64 | generation;
        self.ids[v] = vmid;
        vmid
    }

    fn kvm_arm_vmid_clear_active(&mut self, cpu: usize) {
        // VMID_ACTIVE_INVALID
        self.active_vmids[cpu] = 1 << self.bits;
    }

    fn kvm_arm_vmid_update(&mut self, cpu: usize, v: usize) {
        let vmid = self.ids[v];
        let old_active_vmid = self.active_vmids[cpu];
        if old_active_vmid != 0 && self.vmid_gen_match(vmid) {
            // atomic64_cmpxchg_relaxed() with no concurrent rollover
            self.active_vmids[cpu] = vmid;
            return;
        }
        // raw_spin_lock_irqsave(&cpu_vmid_lock)
        let mut vmid = self.ids[v];
        if !self.vmid_gen_match(vmid) {
            vmid = self.new_vmid(v);
        }
        self.active_vmids[cpu] = vmid;
    }

    fn kvm_arm_vmid_pin(&mut self, v: usize) -> Result<u16, PinError> {
        let owner = Self::owner(v);
        if self.variant == Variant::Shipped {
            self.ops.may_pin(owner, self.ids[v])?;
        }
        if !self.vmid_gen_match(self.ids[v]) {
            self.new_vmid(v);
        }
        let idx = self.ops.pin(owner, self.ids[v])?;
        self.nr_vmid_pins += 1;
        Ok(idx)
    }

    fn kvm_arm_vmid_unpin(&mut self, v: usize) {
        if self.ops.unpin(Self::owner(v), self.ids[v]).is_ok() {
            self.nr_vmid_pins -= 1;
        }
    }

    /// Allocates VMIDs for new `struct kvm_vmid`s that no CPU loads (as a
    /// driver's zeroed VMIDs are), until the generation rolls over.
    fn force_rollover(&mut self) {
        let generation = self.vmid_generation;
        let tmp = self.new_kvm_vmid();
        while self.vmid_generation == generation {
            self.ids[tmp] = 0;
            self.new_vmid(tmp);
        }
    }
}

/// One step of the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `kvm_arch_vcpu_load()` of a vCPU of a VM on a CPU.
    Load { cpu: usize, vm: usize },
    /// `kvm_arch_vcpu_put()` of the CPU's loaded vCPU.
    Put { cpu: usize },
    /// A driver pins the VM's VMID (a vIOMMU is created).
    Pin { vm: usize },
    /// The driver drops one of its pins (the vIOMMU is destroyed).
    Unpin { vm: usize },
    /// New VMIDs until the generation rolls over.
    Rollover,
}

/// The allocator, VMs, loaded vCPUs and the driver's pins.
#[derive(Clone)]
struct World {
    a: Alloc,
    /// The `struct kvm_vmid` of each VM.
    vms: Vec<usize>,
    /// Per CPU: the loaded vCPU's VM and the index it runs with.
    loaded: Vec<Option<(usize, usize)>>,
    /// Pins the driver holds on each VM, and the index of the first.
    held: Vec<(u32, usize)>,
}

impl World {
    fn new(variant: Variant, bits: u32, cpus: usize, nr_vms: usize) -> Self {
        let mut a = Alloc::new(variant, bits, cpus, 0);
        let vms = (0..nr_vms).map(|_| a.new_kvm_vmid()).collect();
        Self {
            a,
            vms,
            loaded: vec![None; cpus],
            held: vec![(0, 0); nr_vms],
        }
    }

    fn idx(&self, vm: usize) -> usize {
        self.a.vmid2idx(self.a.ids[self.vms[vm]])
    }

    /// The steps that make sense now: a CPU loads one vCPU at a time, and
    /// the driver unpins only what it pinned.
    fn choices(&self) -> Vec<Step> {
        let mut c = Vec::new();
        for cpu in 0..self.loaded.len() {
            if self.loaded[cpu].is_some() {
                c.push(Step::Put { cpu });
            } else {
                c.extend((0..self.vms.len()).map(|vm| Step::Load { cpu, vm }));
            }
        }
        for vm in 0..self.vms.len() {
            c.push(Step::Pin { vm });
            if self.held[vm].0 > 0 {
                c.push(Step::Unpin { vm });
            }
        }
        c.push(Step::Rollover);
        c
    }

    fn step(&mut self, s: Step) {
        match s {
            Step::Load { cpu, vm } => {
                self.a.kvm_arm_vmid_update(cpu, self.vms[vm]);
                self.loaded[cpu] = Some((vm, self.idx(vm)));
            }
            Step::Put { cpu } => {
                self.a.kvm_arm_vmid_clear_active(cpu);
                self.loaded[cpu] = None;
            }
            Step::Pin { vm } => {
                if let Ok(idx) = self.a.kvm_arm_vmid_pin(self.vms[vm]) {
                    if self.held[vm].0 == 0 {
                        self.held[vm].1 = usize::from(idx);
                    }
                    self.held[vm].0 += 1;
                }
            }
            Step::Unpin { vm } => {
                self.a.kvm_arm_vmid_unpin(self.vms[vm]);
                self.held[vm].0 -= 1;
            }
            Step::Rollover => self.a.force_rollover(),
        }
    }

    /// The invariants, after every step.
    fn check(&self) -> Result<(), String> {
        let a = &self.a;
        // Every loaded vCPU runs with its VM's current index.
        for (cpu, l) in self.loaded.iter().enumerate() {
            if let Some((vm, runs)) = *l {
                if self.idx(vm) != runs {
                    return Err(format!(
                        "CPU {cpu} runs VM {vm} with index {runs}, the VM's VMID has index {}",
                        self.idx(vm)
                    ));
                }
            }
        }
        // A pinned index never changes.
        for (vm, &(pins, first)) in self.held.iter().enumerate() {
            if pins > 0 && self.idx(vm) != first {
                return Err(format!(
                    "VM {vm} is pinned at index {first} and now has index {}",
                    self.idx(vm)
                ));
            }
        }
        // No two VMs that are loaded, pinned or hold a current-generation
        // VMID share an index.
        let mut user = vec![usize::MAX; a.num_user_vmids()];
        for vm in 0..self.vms.len() {
            let id = a.ids[self.vms[vm]];
            let mut used = Vec::new();
            if id != 0 && (a.vmid_gen_match(id) || self.held[vm].0 > 0) {
                used.push(a.vmid2idx(id));
            }
            used.extend(
                self.loaded
                    .iter()
                    .flatten()
                    .filter(|l| l.0 == vm)
                    .map(|l| l.1),
            );
            for i in used {
                if i == 0 {
                    return Err(format!("VM {vm} uses index 0"));
                }
                if user[i] != usize::MAX && user[i] != vm {
                    return Err(format!("VMs {} and {vm} share index {i}", user[i]));
                }
                user[i] = vm;
            }
        }
        // The module's bookkeeping matches the driver's.
        let refs: u32 = self.held.iter().map(|h| h.0).sum();
        if a.nr_vmid_pins != u64::from(refs) {
            return Err(format!("{} pins in KVM, {refs} held", a.nr_vmid_pins));
        }
        for (vm, &(pins, _)) in self.held.iter().enumerate() {
            let id = a.ids[self.vms[vm]];
            let refs = a
                .ops
                .slot(a.vmid2idx(id) as u16)
                .filter(|_| pins > 0)
                .map_or(0, |s| s.refs);
            if refs != pins {
                return Err(format!(
                    "VM {vm}: the table has {refs} pins, the driver {pins}"
                ));
            }
        }
        Ok(())
    }
}

/// Runs `steps` from a fresh world; the first failed check, with the
/// steps up to it.
fn run(variant: Variant, bits: u32, cpus: usize, vms: usize, steps: &[Step]) -> Result<(), String> {
    let mut w = World::new(variant, bits, cpus, vms);
    for (n, &s) in steps.iter().enumerate() {
        w.step(s);
        w.check()
            .map_err(|e| format!("after {:?}: {e}", &steps[..=n]))?;
    }
    Ok(())
}

impl World {
    /// What the next steps depend on, with generations counted back from
    /// the current one (the allocator only compares them for equality).
    fn key(&self) -> Vec<u64> {
        let a = &self.a;
        let age = |id: u64| {
            if id == 0 {
                u64::MAX
            } else {
                ((a.vmid_generation - (id & !((1 << a.bits) - 1))) >> a.bits) << 16
                    | a.vmid2idx(id) as u64
            }
        };
        let mut k: Vec<u64> = a.vmid_map.iter().map(|&w| w as u64).collect();
        k.push(a.cur_idx as u64);
        k.extend(
            a.active_vmids
                .iter()
                .chain(&a.reserved_vmids)
                .map(|&v| age(v)),
        );
        k.extend(self.vms.iter().map(|&v| age(a.ids[v])));
        for l in &self.loaded {
            k.push(l.map_or(u64::MAX, |(vm, i)| (vm << 16 | i) as u64));
        }
        k.extend(
            self.held
                .iter()
                .map(|&(n, i)| u64::from(n) << 16 | i as u64),
        );
        k
    }
}

/// Every sequence of up to `depth` steps, breadth first, each distinct
/// state once: the shortest sequence that breaks an invariant, and the
/// number of distinct states seen.
fn search(
    variant: Variant,
    bits: u32,
    cpus: usize,
    vms: usize,
    depth: usize,
) -> (Option<String>, usize) {
    let w = World::new(variant, bits, cpus, vms);
    let mut seen = std::collections::HashSet::new();
    seen.insert(w.key());
    let mut frontier = vec![(w, Vec::new())];
    for _ in 0..depth {
        let mut next = Vec::new();
        for (w, path) in &frontier {
            for s in w.choices() {
                let mut w = w.clone();
                let mut path: Vec<Step> = path.clone();
                path.push(s);
                w.step(s);
                if let Err(e) = w.check() {
                    return (Some(format!("{path:?}: {e}")), seen.len());
                }
                if seen.insert(w.key()) {
                    next.push((w, path));
                }
            }
        }
        frontier = next;
    }
    (None, seen.len())
}

/// The sequence of the review: VM 0 pinned, its vCPU 0 loaded on CPU 1
/// and kept there across two rollovers with an unpin between them, then
/// its vCPU 1 loaded on CPU 0.
const REVIEW: [Step; 6] = [
    Step::Pin { vm: 0 },
    Step::Load { cpu: 1, vm: 0 },
    Step::Rollover,
    Step::Unpin { vm: 0 },
    Step::Rollover,
    Step::Load { cpu: 0, vm: 0 },
];

#[test]
fn review_sequence_keeps_one_index() {
    assert_eq!(run(Variant::Shipped, 8, 2, 1, &REVIEW), Ok(()));
    let err = run(Variant::EagerStore, 8, 2, 1, &REVIEW).unwrap_err();
    assert!(err.contains("CPU 1 runs VM 0 with index 1"), "{err}");
    // Without the pin, the landed code kept one index too.
    let unpinned = [REVIEW[1], REVIEW[2], REVIEW[4], REVIEW[5]];
    assert_eq!(run(Variant::EagerStore, 8, 2, 1, &unpinned), Ok(()));
}

/// Every sequence of up to 8 steps on 2 CPUs, 7 on 3 CPUs, 3 VMs (3-bit
/// VMIDs, the default cap of 2 pins): the shipped allocator keeps every invariant,
/// and the landed one breaks one in the review's 6 steps.
#[test]
fn exhaustive() {
    let (eager, _) = search(Variant::EagerStore, 3, 2, 3, 10);
    let eager = eager.expect("the search finds the eager store's bug");
    eprintln!("eager store, shortest failure: {eager}");
    assert_eq!(
        eager.matches("Load").count() + eager.matches("Rollover").count(),
        4,
        "{eager}"
    );
    for (cpus, depth) in [(2, 8), (3, 7)] {
        let (shipped, states) = search(Variant::Shipped, 3, cpus, 3, depth);
        assert_eq!(shipped, None);
        eprintln!(
            "shipped, {cpus} CPUs: {states} distinct states within {depth} steps, no failure"
        );
        assert!(states > 10_000);
    }
}

/// Long random sequences at real widths, with more VMs than the cap.
#[test]
fn randomized() {
    for (seed, bits, cpus, vms) in [(1, 3, 2, 6), (2, 4, 3, 20), (3, 8, 2, 300), (4, 8, 4, 260)] {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
        let mut next = |n: usize| {
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
        };
        let mut w = World::new(Variant::Shipped, bits, cpus, vms);
        for n in 0..20_000 {
            let c = w.choices();
            // Rollovers are the last choice: make them rarer.
            let roll = usize::from(next(20) == 0);
            let s = c[next(c.len() - 1 + roll)];
            w.step(s);
            if let Err(e) = w.check() {
                panic!("seed {seed}, step {n} ({s:?}): {e}");
            }
        }
        assert!(
            w.a.ops.stats().rollovers > 0,
            "seed {seed} never rolled over"
        );
    }
}

/// A refused pin spends no VMID: the landed code allocated first.
#[test]
fn refused_pin_spends_no_index() {
    for (variant, spent) in [(Variant::Shipped, false), (Variant::EagerStore, true)] {
        let mut a = Alloc::new(variant, 8, 2, 2);
        for _ in 0..2 {
            let v = a.new_kvm_vmid();
            a.kvm_arm_vmid_pin(v).unwrap();
        }
        let map = a.vmid_map.clone();
        let v = a.new_kvm_vmid();
        assert_eq!(a.kvm_arm_vmid_pin(v), Err(PinError::NoSpace));
        assert_eq!(a.vmid_map != map, spent, "{variant:?}");
        assert_eq!(a.ids[v] != 0, spent, "{variant:?}");
    }
}

/// A pinned VM's first load after a rollover takes the lock (the rollover
/// does not write its VMID), and keeps its index; the next is lock-free.
#[test]
fn pinned_vm_after_rollover() {
    let mut w = World::new(Variant::Shipped, 8, 2, 2);
    w.step(Step::Pin { vm: 0 });
    let idx = w.idx(0);
    w.step(Step::Rollover);
    let stale = w.a.ids[w.vms[0]];
    assert!(!w.a.vmid_gen_match(stale));
    w.step(Step::Load { cpu: 0, vm: 0 });
    assert_eq!(w.idx(0), idx);
    assert!(w.a.vmid_gen_match(w.a.ids[w.vms[0]]));
    w.check().unwrap();
}

/// KVM rolls over once per generation of free indices, so the cap bounds
/// how much pins raise its rollover rate. 600 new VMs, 8-bit VMIDs, 2 CPUs.
/// Rollovers while `n` new VMs load their first vCPU on CPU 0.
fn rollovers_per_new_vms(a: &mut Alloc, n: usize) -> u64 {
    let r = a.ops.stats().rollovers;
    for _ in 0..n {
        let v = a.new_kvm_vmid();
        a.kvm_arm_vmid_update(0, v);
    }
    a.ops.stats().rollovers - r
}

#[test]
fn rollovers_per_600_vms() {
    let count = |pins: u32| {
        let mut a = Alloc::new(Variant::Shipped, 8, 2, 252);
        for _ in 0..pins {
            let v = a.new_kvm_vmid();
            a.kvm_arm_vmid_pin(v).unwrap();
        }
        rollovers_per_new_vms(&mut a, 600)
    };
    let none = count(0);
    let at_cap = count(cap(8, 2, 0).unwrap());
    eprintln!("rollovers per 600 new VMs: {none} with no pin, {at_cap} at the default cap");
    // 253 free indices a generation without pins, 127 at the cap.
    assert_eq!((none, at_cap), (2, 4));
    assert!(count(240) > 4 * at_cap);
}

/// `make bench`'s full budget, modelled: 253 pins of 8-bit VMIDs on one
/// CPU leave one free index a generation, so nearly every new VM rolls
/// over. A kernel that gives fewer rollovers there gave a VM a taken
/// index (seen once: vmid_limit read before the rollover that sets it).
#[test]
fn full_budget_one_free_index_a_generation() {
    let mut a = Alloc::new(Variant::Shipped, 8, 1, 253);
    for _ in 0..253 {
        let v = a.new_kvm_vmid();
        a.kvm_arm_vmid_pin(v).unwrap();
    }
    let n = rollovers_per_new_vms(&mut a, 600);
    eprintln!("rollovers per 600 new VMs at the full budget: {n}");
    assert!(n >= 598, "{n}");
}
