// SPDX-License-Identifier: GPL-2.0

//! The pin bookkeeping driven by a model of `arch/arm64/kvm/vmid.c`.
//!
//! `Model` follows the C allocator line by line (flush_context, new_vmid,
//! kvm_arm_vmid_update, kvm_arm_vmid_clear_active) with the patch's two
//! hooks, and pins like the module's `get`/`put` ops. Every step is followed
//! by a check of the invariants the issue asks for, against the model's own
//! bookkeeping (its `vmid_map`, generation and per-VM pin counts), which
//! does not come from the table under test.

use ksv_logic::pin_table::{bitmap_words, budget, PinError, PinTable, Slot, WORD_BITS};

type Table = PinTable<Vec<Slot>, Vec<usize>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Fast,
    Slow,
}

struct Vm {
    id: u64,
    /// Pins held and the index seen when the first one was taken.
    pins: u32,
    pinned_idx: u16,
}

struct Model {
    bits: u32,
    generation: u64,
    map: Vec<usize>,
    active: Vec<u64>,
    reserved: Vec<u64>,
    cur_idx: usize,
    table: Table,
    vms: Vec<Vm>,
    /// Emulates the RFC's bug: the pinned branch forgets to store the VMID.
    rfc_bug: bool,
}

fn test_bit(map: &[usize], i: usize) -> bool {
    map[i / WORD_BITS] & (1 << (i % WORD_BITS)) != 0
}

fn set_bit(map: &mut [usize], i: usize) -> bool {
    let old = test_bit(map, i);
    map[i / WORD_BITS] |= 1 << (i % WORD_BITS);
    old
}

impl Model {
    fn new(bits: u32, cpus: usize, nr_vms: usize) -> Self {
        let n = 1usize << bits;
        let table = PinTable::new(
            bits,
            cpus as u32,
            vec![Slot::default(); n],
            vec![0; bitmap_words(n)],
        )
        .expect("valid storage");
        Model {
            bits,
            generation: 1 << bits,
            map: vec![0; bitmap_words(n)],
            active: vec![0; cpus],
            reserved: vec![0; cpus],
            cur_idx: 1,
            table,
            vms: (0..nr_vms)
                .map(|_| Vm {
                    id: 0,
                    pins: 0,
                    pinned_idx: 0,
                })
                .collect(),
            rfc_bug: false,
        }
    }

    fn n(&self) -> usize {
        1 << self.bits
    }

    fn idx(&self, vmid: u64) -> usize {
        (vmid & (self.n() as u64 - 1)) as usize
    }

    fn gen_match(&self, vmid: u64) -> bool {
        (vmid ^ self.generation) >> self.bits == 0
    }

    fn owner(vm: usize) -> usize {
        0x1000 + vm * 64
    }

    fn flush_context(&mut self) {
        self.map.fill(0);
        for cpu in 0..self.active.len() {
            let mut vmid = core::mem::take(&mut self.active[cpu]);
            if vmid == 0 {
                vmid = self.reserved[cpu];
            }
            let i = self.idx(vmid);
            set_bit(&mut self.map, i);
            self.reserved[cpu] = vmid;
        }
        self.table.rollover(&mut self.map);
    }

    fn find_next_zero(&self, from: usize) -> usize {
        (from..self.n())
            .find(|&i| !test_bit(&self.map, i))
            .unwrap_or(self.n())
    }

    fn new_vmid(&mut self, vm: usize) -> u64 {
        let vmid = self.vms[vm].id;
        let generation = self.generation;
        if vmid != 0 {
            let newvmid = generation | (vmid & (self.n() as u64 - 1));
            let mut hit = false;
            for r in self.reserved.iter_mut() {
                if *r == vmid {
                    hit = true;
                    *r = newvmid;
                }
            }
            if hit {
                self.vms[vm].id = newvmid;
                return newvmid;
            }
            if self.table.keep_on_refresh(Self::owner(vm), vmid) {
                if !self.rfc_bug {
                    self.vms[vm].id = newvmid;
                }
                return newvmid;
            }
            let i = self.idx(vmid);
            if !set_bit(&mut self.map, i) {
                self.vms[vm].id = newvmid;
                return newvmid;
            }
        }
        let mut i = self.find_next_zero(self.cur_idx);
        if i == self.n() {
            self.generation += 1 << self.bits;
            self.flush_context();
            i = self.find_next_zero(1);
            assert!(i < self.n(), "no free VMID after a rollover");
        }
        set_bit(&mut self.map, i);
        self.cur_idx = i;
        let v = i as u64 | self.generation;
        self.vms[vm].id = v;
        v
    }

    fn refresh(&mut self, vm: usize) -> u64 {
        let v = self.vms[vm].id;
        if self.gen_match(v) {
            v
        } else {
            self.new_vmid(vm)
        }
    }

    fn update(&mut self, cpu: usize, vm: usize) -> Path {
        let vmid = self.vms[vm].id;
        if self.active[cpu] != 0 && self.gen_match(vmid) {
            self.active[cpu] = vmid;
            return Path::Fast;
        }
        let vmid = self.refresh(vm);
        self.active[cpu] = vmid;
        Path::Slow
    }

    fn clear_active(&mut self, cpu: usize) {
        self.active[cpu] = 1 << self.bits;
    }

    /// The module's `get` op.
    fn pin(&mut self, vm: usize) -> Result<u16, PinError> {
        let owner = Self::owner(vm);
        if let Some(i) = self.table.pin_again(owner, self.vms[vm].id) {
            self.vms[vm].pins += 1;
            return Ok(i);
        }
        self.table.may_pin_new()?;
        let v = self.refresh(vm);
        let i = self.table.pin_new(owner, v)?;
        self.vms[vm].pins = 1;
        self.vms[vm].pinned_idx = i;
        Ok(i)
    }

    /// The module's `put` op.
    fn unpin(&mut self, vm: usize) -> Result<bool, PinError> {
        let r = self.table.unpin(Self::owner(vm), self.vms[vm].id);
        if r.is_ok() {
            self.vms[vm].pins -= 1;
        }
        r
    }

    fn check(&self) {
        let b = budget(self.bits, self.active.len() as u32);
        assert!(b <= 0 && self.table.nr_pinned() == 0 || self.table.nr_pinned() as i64 <= b);
        let mut seen = vec![usize::MAX; self.n()];
        for (n, vm) in self.vms.iter().enumerate() {
            if vm.pins > 0 {
                assert_eq!(
                    self.idx(vm.id),
                    usize::from(vm.pinned_idx),
                    "pinned VM {n} changed index"
                );
                let s = self.table.slot(vm.pinned_idx).expect("pinned bit set");
                assert_eq!((s.owner, s.refs), (Self::owner(n), vm.pins));
            }
            if vm.id != 0 && self.gen_match(vm.id) {
                let i = self.idx(vm.id);
                assert_ne!(i, 0);
                assert_eq!(
                    seen[i],
                    usize::MAX,
                    "VMs {} and {n} share VMID index {i}",
                    seen[i]
                );
                seen[i] = n;
                assert!(
                    test_bit(&self.map, i),
                    "live VMID {i} not marked in vmid_map"
                );
            }
        }
        // A pinned index belongs to its owner only, and is marked used in
        // the model's own `vmid_map`: set by `new_vmid()` when it was
        // allocated, and by the rollover hook in every later generation.
        for (i, s) in self.table.iter_pinned() {
            let i = usize::from(i);
            if seen[i] != usize::MAX {
                assert_eq!(
                    Self::owner(seen[i]),
                    s.owner,
                    "index {i} pinned by one VM, used by another"
                );
            }
            assert!(
                test_bit(&self.map, i),
                "pinned index {i} free in vmid_map: another VM may get it"
            );
        }
        // The table against the model's bookkeeping: which VMs hold pins,
        // how many references, and how many generations the model started.
        let holders = self.vms.iter().filter(|vm| vm.pins > 0).count();
        assert_eq!(self.table.nr_pinned(), holders);
        assert_eq!(self.table.iter_pinned().count(), holders);
        let refs: u64 = self.vms.iter().map(|vm| u64::from(vm.pins)).sum();
        let st = self.table.stats();
        assert_eq!(st.pins - st.unpins, refs);
        assert_eq!(st.rollovers, (self.generation >> self.bits) - 1);
    }

    /// Allocates fresh VMIDs for throw-away VMs until a rollover happens.
    ///
    /// Returns the index the first VM of the new generation was given.
    fn force_rollover(&mut self) -> usize {
        let r = self.table.stats().rollovers;
        let tmp = self.vms.len();
        self.vms.push(Vm {
            id: 0,
            pins: 0,
            pinned_idx: 0,
        });
        while self.table.stats().rollovers == r {
            self.vms[tmp].id = 0;
            self.new_vmid(tmp);
        }
        let id = self.vms.pop().map_or(0, |vm| vm.id);
        self.idx(id)
    }
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn step(m: &mut Model, op: usize, vm: usize, cpu: usize) {
    match op {
        0 | 1 => {
            m.update(cpu, vm);
        }
        2 => m.clear_active(cpu),
        3 => {
            let _ = m.pin(vm);
        }
        4 => {
            let _ = m.unpin(vm);
        }
        _ => {
            m.force_rollover();
        }
    }
    m.check();
}

#[test]
fn budget_is_signed() {
    assert_eq!(budget(8, 2), 252);
    assert_eq!(budget(16, 2), 65532);
    assert_eq!(budget(8, 254), 0);
    assert_eq!(budget(8, 300), -46);
}

#[test]
fn pin_refcount_and_double_put() {
    let mut m = Model::new(8, 2, 2);
    let a = m.pin(0).unwrap();
    // The first VMID of the first generation: index 1.
    assert_eq!(a, 1);
    assert_eq!(m.pin(0), Ok(a));
    assert_eq!(m.table.slot(a).unwrap().refs, 2);
    assert_eq!(m.unpin(0), Ok(false));
    assert_eq!(m.unpin(0), Ok(true));
    assert_eq!(m.unpin(0), Err(PinError::NotPinned));
    assert_eq!(m.unpin(1), Err(PinError::NotPinned));
    assert_eq!(m.table.stats().bad_puts, 2);
    assert!(m.table.slot(a).is_none());
    assert_eq!(m.table.nr_pinned(), 0);
    m.check();
}

#[test]
fn pinned_vmids_survive_rollovers() {
    let mut m = Model::new(8, 2, 20);
    let idx: Vec<u16> = (0..20).map(|vm| m.pin(vm).unwrap()).collect();
    // VMs pinned one after the other in a fresh allocator: indices 1..=20.
    assert_eq!(idx, (1..=20).collect::<Vec<u16>>());
    for _ in 0..5 {
        // Indices 0 and 1..=20 are used (0 by the CPUs' reserved VMIDs, 0
        // here): the first VMID of each new generation is index 21.
        assert_eq!(m.force_rollover(), 21);
        for vm in 0..20 {
            m.update(vm % 2, vm);
            assert_eq!(m.idx(m.vms[vm].id), usize::from(idx[vm]));
        }
        m.check();
    }
    assert_eq!(m.table.stats().rollovers, 5);
}

#[test]
fn budget_exhaustion_then_recovery() {
    let cpus = 2;
    let b = budget(8, cpus as u32) as usize;
    let mut m = Model::new(8, cpus, b + 1);
    for vm in 0..b {
        m.pin(vm).unwrap();
    }
    assert_eq!(m.pin(b), Err(PinError::NoSpace));
    assert_eq!(m.table.stats().refused_nospace, 1);
    // KVM can still allocate after a rollover with the budget spent.
    m.force_rollover();
    m.vms[b].id = 0;
    m.update(0, b);
    m.update(1, b);
    m.check();
    m.unpin(0).unwrap();
    assert!(m.pin(b).is_ok());
    m.check();
}

#[test]
fn disabled_budget_pins_nothing() {
    let mut m = Model::new(2, 2, 1); // 4 VMIDs - 2 CPUs - 2 = 0
    assert_eq!(m.pin(0), Err(PinError::Disabled));
    assert_eq!(m.table.stats().refused_disabled, 1);
    m.force_rollover();
    m.check();
}

#[test]
fn unpinned_index_reused_only_after_rollover() {
    let mut m = Model::new(3, 1, 1); // 8 VMIDs
    let i = m.pin(0).unwrap();
    m.unpin(0).unwrap();
    assert!(
        test_bit(&m.map, usize::from(i)),
        "still used in this generation"
    );
    // VM 0 is neither active nor reserved: the first VM of the next
    // generation gets its index back.
    assert_eq!(m.force_rollover(), usize::from(i));
    assert!(!m.table.is_index_pinned(i));
}

/// The RFC's new_vmid() returned a pinned VM's new VMID without storing it,
/// so every later vcpu load took the slow path. Count the slow paths.
fn slow_paths_after_rollover(rfc_bug: bool) -> usize {
    let mut m = Model::new(8, 1, 1);
    m.rfc_bug = rfc_bug;
    m.pin(0).unwrap();
    m.force_rollover();
    (0..10).filter(|_| m.update(0, 0) == Path::Slow).count()
}

#[test]
fn fast_path_after_rollover() {
    assert_eq!(slow_paths_after_rollover(false), 1);
    assert_eq!(
        slow_paths_after_rollover(true),
        10,
        "the model reproduces the RFC bug"
    );
}

/// A fixed scenario, every value worked out by hand from `vmid.c`.
///
/// 3-bit VMIDs (indices 0..8), one CPU. Generation `g` VMIDs are
/// `g * 8 | index`; the first generation is 1.
#[test]
fn hand_computed_scenario() {
    let mut m = Model::new(3, 1, 3);
    // VM 0 is pinned: its first VMID, 8 | 1.
    assert_eq!(m.pin(0), Ok(1));
    assert_eq!(m.vms[0].id, 9);
    // VM 1 runs on the CPU: 8 | 2 (cur_idx moves on from 1).
    assert_eq!(m.update(0, 1), Path::Slow);
    assert_eq!(m.vms[1].id, 10);
    // Rollover: the CPU's active VMID (index 2) is reserved and the pin
    // marks index 1, so the first VMID of generation 2 is 16 | 3. Without
    // the pinned bitmap ORed in, it would be 16 | 1: VM 0's index.
    assert_eq!(m.force_rollover(), 3);
    assert_eq!(m.table.stats().rollovers, 1);
    // VM 0 comes back: stale, not reserved, pinned: same index, 16 | 1,
    // stored so that the next load is a fast path.
    assert_eq!(m.update(0, 0), Path::Slow);
    assert_eq!(m.vms[0].id, 17);
    assert_eq!(m.update(0, 0), Path::Fast);
    assert_eq!(m.table.stats().kept, 1);
    // VM 2 is new: the next free index after 3 is 4.
    assert_eq!(m.update(0, 2), Path::Slow);
    assert_eq!(m.vms[2].id, 20);
    m.check();
    // Unpinned, index 1 stays used until the next rollover, after which
    // (VM 0 is neither active nor reserved) it is the first free one.
    assert_eq!(m.unpin(0), Ok(true));
    m.clear_active(0);
    assert_eq!(m.force_rollover(), 1);
    m.check();
}

#[test]
fn exhaustive_small_width() {
    // 3-bit VMIDs, 2 CPUs (budget 8 - 2 - 2 = 4), 3 VMs: every sequence of
    // 4 steps. Fewer VMs than the budget: every pin must succeed.
    const OPS: u64 = 6 * 3 * 2;
    const LEN: u32 = 4;
    let mut pins = 0;
    let mut rollovers = 0;
    for code in 0..OPS.pow(LEN) {
        let mut m = Model::new(3, 2, 3);
        // The driver's own count of each VM's pins.
        let mut held = [0u32; 3];
        let mut c = code;
        for _ in 0..LEN {
            let s = (c % OPS) as usize;
            c /= OPS;
            let (op, vm, cpu) = (s % 6, (s / 6) % 3, s / 18);
            match op {
                3 => {
                    assert!(m.pin(vm).is_ok(), "3 VMs, budget 4: a pin failed");
                    held[vm] += 1;
                }
                4 => {
                    assert_eq!(m.unpin(vm).is_ok(), held[vm] > 0, "code {code}");
                    held[vm] = held[vm].saturating_sub(1);
                }
                _ => step(&mut m, op, vm, cpu),
            }
            m.check();
        }
        for (vm, &h) in held.iter().enumerate() {
            let refs = m
                .table
                .slot(m.idx(m.vms[vm].id) as u16)
                .map_or(0, |s| s.refs);
            assert_eq!(refs, h, "code {code}: VM {vm}");
        }
        pins += m.table.stats().pins;
        rollovers += m.table.stats().rollovers;
    }
    // Counted by hand: each of the 4 steps is a pin in 6 of its 36 choices
    // (op 3, any of 3 VMs and 2 CPUs), so 4 * 6 * 36^3 pins in all, and as
    // many forced rollovers (op 5); allocations may roll over too.
    assert_eq!(pins, 4 * 6 * 36u64.pow(3));
    assert!(rollovers >= 4 * 6 * 36u64.pow(3));
}

#[test]
fn randomized() {
    for (seed, bits, cpus, vms) in [
        (1, 3, 2, 6),
        (2, 4, 3, 20),
        (3, 8, 2, 300),
        (4, 8, 4, 260),
        (5, 4, 1, 16),
    ] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut m = Model::new(bits, cpus, vms);
        for _ in 0..20_000 {
            let op = match rng.below(100) {
                0..=54 => 0,
                55..=64 => 2,
                65..=81 => 3,
                82..=98 => 4,
                _ => 5,
            };
            let vm = rng.below(vms);
            let cpu = rng.below(cpus);
            step(&mut m, op, vm, cpu);
        }
        assert!(
            m.table.stats().rollovers > 0,
            "seed {seed} never rolled over"
        );
    }
}
