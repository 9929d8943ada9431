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
/// # Invariants
///
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
        // INVARIANT: no slot has references and no bit is set.
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
    pub fn index(&self, vmid: u64) -> usize {
        (vmid & ((1u64 << self.bits) - 1)) as usize
    }

    /// Whether index `idx` is pinned.
    pub fn is_index_pinned(&self, idx: usize) -> bool {
        self.pinned[idx / WORD_BITS] & (1 << (idx % WORD_BITS)) != 0
    }

    /// The owner and reference count of a pinned index.
    pub fn slot(&self, idx: usize) -> Option<Slot> {
        self.is_index_pinned(idx).then(|| self.slots[idx])
    }

    /// Iterates over `(index, slot)` for every pinned index, in order.
    ///
    /// Walks the pinned bitmap a word at a time (1024 words for 16-bit
    /// VMIDs) and only visits the slots of set bits, so it is cheap enough
    /// to run under the allocator lock.
    pub fn iter_pinned(&self) -> impl Iterator<Item = (usize, Slot)> + '_ {
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
            .map(|i| (i, self.slots[i]))
    }

    /// Whether `owner`, whose VMID is currently `vmid`, holds a pin.
    pub fn owns(&self, owner: usize, vmid: u64) -> bool {
        let idx = self.index(vmid);
        idx != 0 && self.is_index_pinned(idx) && self.slots[idx].owner == owner
    }

    /// Takes one more reference if `owner` (VMID `vmid`) already holds a pin.
    ///
    /// Returns the index, or `None` if the owner holds no pin yet.
    pub fn pin_again(&mut self, owner: usize, vmid: u64) -> Option<usize> {
        if !self.owns(owner, vmid) {
            return None;
        }
        let idx = self.index(vmid);
        self.slots[idx].refs += 1;
        self.stats.pins += 1;
        Some(idx)
    }

    /// Checks that one more index may be pinned, counting a refusal if not.
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
    /// succeeded under the same lock.
    pub fn pin_new(&mut self, owner: usize, vmid: u64) -> Result<usize, PinError> {
        self.may_pin_new()?;
        let idx = self.index(vmid);
        if idx == 0 || self.is_index_pinned(idx) {
            self.stats.refused_conflict += 1;
            return Err(PinError::Conflict);
        }
        self.slots[idx] = Slot { owner, refs: 1 };
        self.pinned[idx / WORD_BITS] |= 1 << (idx % WORD_BITS);
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
    pub fn unpin(&mut self, owner: usize, vmid: u64) -> Result<bool, PinError> {
        if !self.owns(owner, vmid) {
            self.stats.bad_puts += 1;
            return Err(PinError::NotPinned);
        }
        let idx = self.index(vmid);
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
    pub fn rollover(&mut self, vmid_map: &mut [usize]) {
        for (m, p) in vmid_map.iter_mut().zip(self.pinned.iter()) {
            *m |= *p;
        }
        self.stats.rollovers += 1;
    }

    /// Called when the allocator refreshes a stale VMID: whether `owner`
    /// must keep its index (it holds a pin).
    pub fn keep_on_refresh(&mut self, owner: usize, vmid: u64) -> bool {
        let keep = self.owns(owner, vmid);
        if keep {
            self.stats.kept += 1;
        }
        keep
    }
}
