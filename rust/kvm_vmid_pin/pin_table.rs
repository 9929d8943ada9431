// SPDX-License-Identifier: GPL-2.0

//! Pinned-VMID bookkeeping, independent of the kernel.
//!
//! This file uses `core` only. The kernel module drives it under KVM's VMID
//! allocator lock (`cpu_vmid_lock`), and the host crate in `host/` tests the
//! very same code with `cargo test`.
//!
//! A VMID is `generation | index`, where `index` has `bits` bits. A pin is
//! held on an *index*, by one owner (the address of the VM's
//! `struct kvm_vmid`), with a reference count. Pinned indices are ORed into
//! the allocator's `vmid_map` at every rollover, so no other VM is given
//! them, and the allocator keeps a pinned VM's index when it refreshes it.
//!
//! The `# Examples` below are doctests of the host crate (`ksv_logic`):
//! `cargo test` in `host/` runs them; the kernel does not run doctests of
//! modules.

use core::ops::DerefMut;

/// Why a pin request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinError {
    /// The budget is zero or negative for this VMID width and CPU count.
    Disabled,
    /// Every VMID the budget allows is already pinned.
    NoSpace,
    /// The owner's index is pinned by another owner (allocator bug).
    Conflict,
    /// A put for an owner that holds no pin.
    NotPinned,
}

/// Counters shown in debugfs and checked by the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Successful pins, counting each reference.
    pub pins: u64,
    /// Successful unpins, counting each reference.
    pub unpins: u64,
    /// Rollovers seen by [`PinTable::rollover`].
    pub rollovers: u64,
    /// Stale pinned VMIDs moved to a new generation by the allocator.
    pub kept: u64,
    /// Refusals: pinning disabled.
    pub refused_disabled: u64,
    /// Refusals: budget spent.
    pub refused_nospace: u64,
    /// Refusals: index owned by another VM.
    pub refused_conflict: u64,
    /// Puts without a matching get.
    pub bad_puts: u64,
}

/// One VMID index: who pinned it and how often.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Owner address; meaningful only while `refs > 0`.
    pub owner: usize,
    /// Number of pins held on this index.
    pub refs: u32,
}

/// Number of bits in a bitmap word.
pub const WORD_BITS: usize = usize::BITS as usize;

/// Number of `usize` words a bitmap of `nbits` bits needs.
pub const fn bitmap_words(nbits: usize) -> usize {
    nbits.div_ceil(WORD_BITS)
}

/// The pin budget for a VMID width and CPU count, in signed arithmetic.
///
/// `NUM_USER_VMIDS - num_possible_cpus() - 2`: VMID 0 is reserved, every CPU
/// may reserve one VMID across a rollover, and one more must stay free so
/// that `new_vmid()` always finds an index after a rollover.
pub const fn budget(vmid_bits: u32, nr_cpus: u32) -> i64 {
    (1i64 << vmid_bits) - nr_cpus as i64 - 2
}

/// Pin bookkeeping over caller-provided storage.
///
/// `S` holds one [`Slot`] per VMID index and `W` the pinned-index bitmap;
/// both are sized by [`PinTable::new`]'s caller with
/// `1 << bits` slots and [`bitmap_words`]`(1 << bits)` words.
///
/// Indices are `u16`: they are below `1 << bits`, and `bits <= 16`, so no
/// conversion can fail once a pin is taken.
///
/// # Invariants
///
/// - `bits` is in `2..=16`; `slots` has `1 << bits` entries and `pinned`
///   [`bitmap_words`]`(1 << bits)` words.
/// - `slots[i].refs > 0` if and only if bit `i` of `pinned` is set.
/// - `nr_pinned` is the number of set bits in `pinned`, and never exceeds
///   `budget` when `budget > 0`; it is zero otherwise.
/// - Index 0 is never pinned.
pub struct PinTable<S, W> {
    bits: u32,
    budget: i64,
    nr_pinned: usize,
    slots: S,
    pinned: W,
    stats: Stats,
}

impl<S, W> PinTable<S, W>
where
    S: DerefMut<Target = [Slot]>,
    W: DerefMut<Target = [usize]>,
{
    /// Creates an empty table for `bits`-bit VMIDs on `nr_cpus` possible CPUs.
    ///
    /// Returns `None` when the storage has the wrong size or `bits` is not
    /// in `2..=16` (Arm defines 8 and 16; host tests also use small widths).
    /// `bits <= 16` is what lets every index be a `u16`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// // 8-bit VMIDs on 4 CPUs: 256 - 4 - 2 VMIDs may be pinned.
    /// let t = PinTable::new(8, 4, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// assert_eq!(t.budget(), 250);
    /// assert_eq!(t.nr_pinned(), 0);
    ///
    /// // Wider than 16 bits, or storage of the wrong size: refused.
    /// let wide = 1 << 17;
    /// assert!(PinTable::new(17, 4, vec![Slot::default(); wide], vec![0; bitmap_words(wide)])
    ///     .is_none());
    /// assert!(PinTable::new(8, 4, vec![Slot::default(); 255], vec![0; 4]).is_none());
    /// ```
    pub fn new(bits: u32, nr_cpus: u32, mut slots: S, mut pinned: W) -> Option<Self> {
        if !(2..=16).contains(&bits) {
            return None;
        }
        let n = 1usize << bits;
        if slots.len() != n || pinned.len() != bitmap_words(n) {
            return None;
        }
        slots.fill(Slot::default());
        pinned.fill(0);
        // INVARIANT: `bits` and the storage sizes were checked above; no
        // slot has references and no bit is set.
        Some(Self {
            bits,
            budget: budget(bits, nr_cpus),
            nr_pinned: 0,
            slots,
            pinned,
            stats: Stats::default(),
        })
    }

    /// VMID width in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The budget; pinning is disabled when it is `<= 0`.
    pub fn budget(&self) -> i64 {
        self.budget
    }

    /// Number of pinned indices.
    pub fn nr_pinned(&self) -> usize {
        self.nr_pinned
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The index part of a VMID.
    pub fn index(&self, vmid: u64) -> u16 {
        // CAST: the mask has `bits <= 16` bits (type invariant), so the
        // value fits in a `u16`.
        (vmid & ((1u64 << self.bits) - 1)) as u16
    }

    /// Whether index `idx` is pinned; `false` for an index out of range.
    pub fn is_index_pinned(&self, idx: u16) -> bool {
        let i = usize::from(idx);
        self.pinned
            .get(i / WORD_BITS)
            .is_some_and(|w| w & (1 << (i % WORD_BITS)) != 0)
    }

    /// The owner and reference count of a pinned index.
    pub fn slot(&self, idx: u16) -> Option<Slot> {
        // A set bit is below `1 << bits`, the number of slots (invariant).
        self.is_index_pinned(idx)
            .then(|| self.slots[usize::from(idx)])
    }

    /// Iterates over `(index, slot)` for every pinned index, in order.
    ///
    /// Walks the pinned bitmap a word at a time (1024 words for 16-bit
    /// VMIDs) and only visits the slots of set bits, so it is cheap enough
    /// to run under the allocator lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// // VMID 0x1c5 is index 0xc5 of generation 1.
    /// t.pin_new(0xa000, 0x1c5).unwrap();
    /// t.pin_new(0xb000, 0x103).unwrap();
    /// t.pin_again(0xa000, 0x1c5).unwrap();
    /// let pinned: Vec<_> = t.iter_pinned().map(|(i, s)| (i, s.owner, s.refs)).collect();
    /// assert_eq!(pinned, [(0x03, 0xb000, 1), (0xc5, 0xa000, 2)]);
    /// ```
    pub fn iter_pinned(&self) -> impl Iterator<Item = (u16, Slot)> + '_ {
        self.pinned[..]
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .flat_map(|(wi, w)| {
                let w = *w;
                (0..WORD_BITS)
                    .filter(move |b| w & (1 << b) != 0)
                    .map(move |b| wi * WORD_BITS + b)
            })
            // CAST: a set bit is below `1 << bits <= 1 << 16` (invariant).
            .map(|i| (i as u16, self.slots[i]))
    }

    /// Whether `owner`, whose VMID is currently `vmid`, holds a pin.
    pub fn owns(&self, owner: usize, vmid: u64) -> bool {
        let idx = self.index(vmid);
        idx != 0 && self.is_index_pinned(idx) && self.slots[usize::from(idx)].owner == owner
    }

    /// Takes one more reference if `owner` (VMID `vmid`) already holds a pin.
    ///
    /// Returns the index, or `None` if the owner holds no pin yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// assert_eq!(t.pin_again(0xa000, 0x107), None); // no pin yet
    /// assert_eq!(t.pin_new(0xa000, 0x107), Ok(7));
    /// assert_eq!(t.pin_again(0xa000, 0x107), Some(7));
    /// assert_eq!(t.slot(7).unwrap().refs, 2);
    /// // Same index, another owner: not its pin.
    /// assert_eq!(t.pin_again(0xb000, 0x107), None);
    /// assert_eq!(t.nr_pinned(), 1);
    /// ```
    pub fn pin_again(&mut self, owner: usize, vmid: u64) -> Option<u16> {
        if !self.owns(owner, vmid) {
            return None;
        }
        let idx = self.index(vmid);
        self.slots[usize::from(idx)].refs += 1;
        self.stats.pins += 1;
        Some(idx)
    }

    /// Checks that one more index may be pinned, counting a refusal if not.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinError, PinTable, Slot};
    ///
    /// // 3-bit VMIDs on 2 CPUs: a budget of 8 - 2 - 2 = 4 pins.
    /// let mut t = PinTable::new(3, 2, vec![Slot::default(); 8], vec![0; 1]).unwrap();
    /// for (owner, vmid) in [(0xa0, 0x9), (0xb0, 0xa), (0xc0, 0xb), (0xd0, 0xc)] {
    ///     t.may_pin_new().unwrap();
    ///     t.pin_new(owner, vmid).unwrap();
    /// }
    /// assert_eq!(t.may_pin_new(), Err(PinError::NoSpace));
    /// assert_eq!(t.stats().refused_nospace, 1);
    ///
    /// // 2-bit VMIDs on 2 CPUs: 4 - 2 - 2 = 0, pinning is disabled.
    /// let mut off = PinTable::new(2, 2, vec![Slot::default(); 4], vec![0; 1]).unwrap();
    /// assert_eq!(off.may_pin_new(), Err(PinError::Disabled));
    /// ```
    pub fn may_pin_new(&mut self) -> Result<(), PinError> {
        if self.budget <= 0 {
            self.stats.refused_disabled += 1;
            return Err(PinError::Disabled);
        }
        if self.nr_pinned as i64 >= self.budget {
            self.stats.refused_nospace += 1;
            return Err(PinError::NoSpace);
        }
        Ok(())
    }

    /// Pins the index of `vmid` for `owner`, which holds no pin yet.
    ///
    /// `vmid` must be the owner's VMID in the current generation, as the
    /// allocator just returned it; [`PinTable::may_pin_new`] must have
    /// succeeded under the same lock. Returns the index: a `u16`, so the
    /// caller has nothing left that can fail once the pin is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinError, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(16, 4, vec![Slot::default(); 1 << 16],
    ///                           vec![0; bitmap_words(1 << 16)]).unwrap();
    /// // The highest index of a 16-bit VMID, in generation 3.
    /// let idx: u16 = t.pin_new(0xa000, (3 << 16) | 0xffff).unwrap();
    /// assert_eq!(idx, 0xffff);
    /// assert!(t.is_index_pinned(0xffff));
    /// // Another owner given the same index (an allocator bug) is refused.
    /// assert_eq!(t.pin_new(0xb000, (3 << 16) | 0xffff), Err(PinError::Conflict));
    /// // Index 0 is reserved by KVM and never pinned.
    /// assert_eq!(t.pin_new(0xc000, 3 << 16), Err(PinError::Conflict));
    /// assert_eq!(t.stats().refused_conflict, 2);
    /// ```
    pub fn pin_new(&mut self, owner: usize, vmid: u64) -> Result<u16, PinError> {
        self.may_pin_new()?;
        let idx = self.index(vmid);
        if idx == 0 || self.is_index_pinned(idx) {
            self.stats.refused_conflict += 1;
            return Err(PinError::Conflict);
        }
        let i = usize::from(idx);
        self.slots[i] = Slot { owner, refs: 1 };
        self.pinned[i / WORD_BITS] |= 1 << (i % WORD_BITS);
        // INVARIANT: the slot and its bit were set together; `may_pin_new`
        // checked that one more pin stays within the budget.
        self.nr_pinned += 1;
        self.stats.pins += 1;
        Ok(idx)
    }

    /// Drops one pin of `owner`, whose VMID is `vmid`.
    ///
    /// Returns `Ok(true)` when that was the last reference: the index is
    /// then free for other VMs from the next rollover on. A put without a
    /// pin changes nothing and returns [`PinError::NotPinned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinError, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// t.pin_new(0xa000, 0x142).unwrap();
    /// t.pin_again(0xa000, 0x142).unwrap();
    /// assert_eq!(t.unpin(0xa000, 0x142), Ok(false)); // one reference left
    /// assert_eq!(t.unpin(0xa000, 0x142), Ok(true)); // the last one
    /// assert!(!t.is_index_pinned(0x42));
    /// // A put without a get changes nothing but the counter.
    /// assert_eq!(t.unpin(0xa000, 0x142), Err(PinError::NotPinned));
    /// assert_eq!(t.stats().bad_puts, 1);
    /// assert_eq!((t.stats().pins, t.stats().unpins), (2, 2));
    /// ```
    pub fn unpin(&mut self, owner: usize, vmid: u64) -> Result<bool, PinError> {
        if !self.owns(owner, vmid) {
            self.stats.bad_puts += 1;
            return Err(PinError::NotPinned);
        }
        let idx = usize::from(self.index(vmid));
        self.stats.unpins += 1;
        let slot = &mut self.slots[idx];
        slot.refs -= 1;
        if slot.refs > 0 {
            return Ok(false);
        }
        slot.owner = 0;
        self.pinned[idx / WORD_BITS] &= !(1 << (idx % WORD_BITS));
        // INVARIANT: the last reference and the bit went together.
        self.nr_pinned -= 1;
        Ok(true)
    }

    /// Called at a rollover: marks every pinned index as used in the new
    /// generation's `vmid_map`.
    ///
    /// This is one OR per bitmap word, so its cost does not depend on the
    /// number of pins.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// t.pin_new(0xa000, 0x105).unwrap(); // index 5
    /// t.pin_new(0xb000, 0x1c1).unwrap(); // index 0xc1 = 193: word 3, bit 1
    /// // The new generation's map, with index 0 and a CPU's reserved index 9.
    /// let mut map = vec![(1 << 0) | (1 << 9), 0, 0, 0];
    /// t.rollover(&mut map);
    /// assert_eq!(map, [(1 << 0) | (1 << 5) | (1 << 9), 0, 0, 1 << 1]);
    /// assert_eq!(t.stats().rollovers, 1);
    /// ```
    pub fn rollover(&mut self, vmid_map: &mut [usize]) {
        for (m, p) in vmid_map.iter_mut().zip(self.pinned.iter()) {
            *m |= *p;
        }
        self.stats.rollovers += 1;
    }

    /// Called when the allocator refreshes a stale VMID: whether `owner`
    /// must keep its index (it holds a pin).
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// t.pin_new(0xa000, 0x105).unwrap();
    /// // Generation 1's VMID of the owner, seen stale in generation 2: kept.
    /// assert!(t.keep_on_refresh(0xa000, 0x105));
    /// // Another VM whose stale VMID has the same index: not kept.
    /// assert!(!t.keep_on_refresh(0xb000, 0x105));
    /// assert_eq!(t.stats().kept, 1);
    /// ```
    pub fn keep_on_refresh(&mut self, owner: usize, vmid: u64) -> bool {
        let keep = self.owns(owner, vmid);
        if keep {
            self.stats.kept += 1;
        }
        keep
    }
}
