// SPDX-License-Identifier: GPL-2.0

//! Pinned-VMID bookkeeping, independent of the kernel.
//!
//! This file uses `core` only. The kernel module drives it under KVM's VMID
//! allocator lock (`cpu_vmid_lock`), and the host crate in `host/` tests the
//! very same code with `cargo test`, also under a model of the allocator.
//!
//! A VMID is `generation | index`, where `index` has `bits` bits. A pin is
//! held on an *index*, by one owner (the address of the VM's
//! `struct kvm_vmid`), with a reference count. The table answers the
//! allocator's three questions, in the order of `arch/arm64/mm/context.c`:
//!
//! - at a rollover, [`PinTable::rollover`] sets the pinned indices in the
//!   new `vmid_map`, so that no other VM is given them, and says where the
//!   first free index is, so that `new_vmid()` need not scan past them;
//! - in `new_vmid()`, after the CPUs' reserved VMIDs,
//!   [`PinTable::is_pinned`] says whether a stale VMID keeps its index;
//! - in `kvm_arm_vmid_pin()`, [`PinTable::may_pin`] refuses a pin past the
//!   cap before the allocator spends an index on it, and [`PinTable::pin`]
//!   then takes it.
//!
//! The table never writes a VMID: the allocator alone does.
//!
//! The `# Examples` below are doctests of the host crate (`ksv_logic`):
//! `cargo test` in `host/` runs them; the kernel does not run doctests of
//! modules.

use core::ops::DerefMut;

/// Why a pin request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinError {
    /// The cap on pinned VMIDs is reached.
    NoSpace,
    /// The owner's index is pinned by another owner (allocator bug).
    Conflict,
    /// The owner's reference count would overflow.
    Overflow,
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
    /// Refusals: the cap is reached.
    pub refused_nospace: u64,
    /// Refusals: index owned by another VM, or a reference count overflow.
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

/// Words of [`PinTable`]'s summary of the pinned bitmap: one bit for each
/// word of a bitmap of 16-bit VMIDs, the widest.
const OPEN_WORDS: usize = bitmap_words(bitmap_words(1 << 16));

/// The most VMIDs that may ever be pinned, in signed arithmetic.
///
/// `NUM_USER_VMIDS - num_possible_cpus() - 2`: VMID 0 is reserved, every CPU
/// may reserve one VMID across a rollover, and one more must stay free so
/// that `new_vmid()` always finds an index after a rollover.
pub const fn budget(vmid_bits: u32, nr_cpus: u32) -> i64 {
    (1i64 << vmid_bits) - nr_cpus as i64 - 2
}

/// The default cap: half of the VMIDs that KVM could otherwise give out
/// in a generation (126 of 8-bit VMIDs on 2 CPUs, 32765 of 16-bit ones on
/// 4).
///
/// KVM rolls over once per `free` new VMIDs, where `free` is what neither
/// index 0, a CPU's reserved VMID nor a pin holds, so pinning half of
/// `NUM_USER_VMIDS - 1 - nr_cpus` at most doubles KVM's rollover rate, and
/// every rollover invalidates every VM's TLB entries.
pub const fn default_max_pins(vmid_bits: u32, nr_cpus: u32) -> u32 {
    let free = (1i64 << vmid_bits) - 1 - nr_cpus as i64;
    // CAST: `free < 1 << 16` here, so half of it fits in a `u32`.
    if free > 0 {
        (free / 2) as u32
    } else {
        0
    }
}

/// The cap a table enforces: `max_pins` (0 for [`default_max_pins`]),
/// bounded by [`budget`]; `None` if the budget leaves nothing to pin, or
/// for a width outside `2..=16`, checked before anything shifts by it.
///
/// # Examples
///
/// ```
/// use ksv_logic::pin_table::cap;
///
/// assert_eq!(cap(8, 2, 0), Some(126)); // the default
/// assert_eq!(cap(16, 4, 0), Some(32765));
/// assert_eq!(cap(8, 2, 300), Some(252)); // bounded by 256 - 2 - 2
/// assert_eq!(cap(8, 254, 0), None); // nothing left to pin
/// assert_eq!(cap(64, 2, 0), None); // no such width
/// ```
pub fn cap(vmid_bits: u32, nr_cpus: u32, max_pins: u32) -> Option<u32> {
    if !(2..=16).contains(&vmid_bits) {
        return None;
    }
    let want = if max_pins == 0 {
        default_max_pins(vmid_bits, nr_cpus)
    } else {
        max_pins
    };
    let b = budget(vmid_bits, nr_cpus);
    // CAST: `0 < b < 1 << 16` here, so it fits in a `u32`.
    (b > 0).then(|| want.min(b as u32))
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
///   `cap`, which is at least 1 and at most [`budget`].
/// - Index 0 is never pinned.
/// - Bit `w` of `open` is set if and only if word `w` of `pinned` has a
///   clear bit at an index in `1..1 << bits`; no other bit of `open` is
///   set.
#[derive(Clone)]
pub struct PinTable<S, W> {
    bits: u32,
    cap: u32,
    nr_pinned: usize,
    slots: S,
    pinned: W,
    /// Which words of `pinned` have an index that may be pinned and is
    /// not: the only words where a rollover can find a free index.
    open: [usize; OPEN_WORDS],
    stats: Stats,
}

impl<S, W> PinTable<S, W>
where
    S: DerefMut<Target = [Slot]>,
    W: DerefMut<Target = [usize]>,
{
    /// Creates an empty table for `bits`-bit VMIDs on `nr_cpus` possible
    /// CPUs, pinning at most [`cap`]`(bits, nr_cpus, max_pins)` VMIDs.
    ///
    /// Returns `None` when `bits` is not in `2..=16` (Arm defines 8 and 16;
    /// host tests also use small widths), the storage has the wrong size,
    /// or the budget leaves nothing to pin.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let t = PinTable::new(8, 4, 0, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// assert_eq!(t.cap(), 125);
    ///
    /// // Wider than 16 bits, storage of the wrong size, no budget: refused.
    /// let wide = 1 << 17;
    /// assert!(PinTable::new(17, 4, 0, vec![Slot::default(); wide], vec![0; bitmap_words(wide)])
    ///     .is_none());
    /// assert!(PinTable::new(8, 4, 0, vec![Slot::default(); 255], vec![0; 4]).is_none());
    /// assert!(PinTable::new(2, 2, 0, vec![Slot::default(); 4], vec![0; 1]).is_none());
    /// ```
    pub fn new(
        bits: u32,
        nr_cpus: u32,
        max_pins: u32,
        mut slots: S,
        mut pinned: W,
    ) -> Option<Self> {
        if !(2..=16).contains(&bits) {
            return None;
        }
        let n = 1usize << bits;
        if slots.len() != n || pinned.len() != bitmap_words(n) {
            return None;
        }
        let cap = cap(bits, nr_cpus, max_pins)?;
        slots.fill(Slot::default());
        pinned.fill(0);
        // Every word has an index in `1..n`, none of them pinned: `n >= 4`.
        let mut open = [0; OPEN_WORDS];
        for w in 0..pinned.len() {
            open[w / WORD_BITS] |= 1 << (w % WORD_BITS);
        }
        // INVARIANT: `bits`, the storage sizes and the cap were checked
        // above; no slot has references, no bit of `pinned` is set, and
        // every word of it is open.
        Some(Self {
            bits,
            cap,
            nr_pinned: 0,
            slots,
            pinned,
            open,
            stats: Stats::default(),
        })
    }

    /// The bits of word `w` of a VMID bitmap that are indices a VM may be
    /// given: not index 0, and below `1 << bits`.
    fn usable(&self, w: usize) -> usize {
        let mut mask = usize::MAX;
        if w == 0 {
            mask &= !1;
        }
        let left = (1usize << self.bits).saturating_sub(w * WORD_BITS);
        if left < WORD_BITS {
            mask &= (1 << left) - 1;
        }
        mask
    }

    /// VMID width in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The most VMIDs this table pins at once.
    pub fn cap(&self) -> u32 {
        self.cap
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

    /// Whether `owner`, whose VMID is `vmid`, holds a pin.
    ///
    /// `vmid` may be of an older generation: a pinned VMID keeps its index,
    /// so its index alone says which slot to look at. `new_vmid()` asks
    /// this after the CPUs' reserved VMIDs, and keeps the index if so.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, 0, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// t.pin(0xa000, 0x105).unwrap();
    /// // Generation 1's VMID of the owner, seen stale in generation 2.
    /// assert!(t.is_pinned(0xa000, 0x105));
    /// // Another VM whose stale VMID has the same index.
    /// assert!(!t.is_pinned(0xb000, 0x105));
    /// // A VMID that was never allocated.
    /// assert!(!t.is_pinned(0xc000, 0));
    /// ```
    pub fn is_pinned(&self, owner: usize, vmid: u64) -> bool {
        let idx = self.index(vmid);
        idx != 0 && self.slot(idx).is_some_and(|s| s.owner == owner)
    }

    /// Whether `owner` (VMID `vmid`) may pin: it holds a pin already, or
    /// the cap allows one more. Counts a refusal.
    ///
    /// `kvm_arm_vmid_pin()` asks this before it allocates a VMID, so that a
    /// refused pin spends no index.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinError, PinTable, Slot};
    ///
    /// // 3-bit VMIDs on 2 CPUs, a cap of 2.
    /// let mut t = PinTable::new(3, 2, 2, vec![Slot::default(); 8], vec![0; 1]).unwrap();
    /// t.pin(0xa0, 0x9).unwrap();
    /// t.pin(0xb0, 0xa).unwrap();
    /// assert_eq!(t.may_pin(0xc0, 0), Err(PinError::NoSpace));
    /// assert_eq!(t.may_pin(0xa0, 0x9), Ok(())); // one more reference
    /// assert_eq!(t.stats().refused_nospace, 1);
    /// ```
    pub fn may_pin(&mut self, owner: usize, vmid: u64) -> Result<(), PinError> {
        if self.is_pinned(owner, vmid) || self.nr_pinned < self.cap as usize {
            return Ok(());
        }
        self.stats.refused_nospace += 1;
        Err(PinError::NoSpace)
    }

    /// Takes a pin reference for `owner`, whose VMID `vmid` is of the
    /// current generation, as the allocator just made it.
    ///
    /// An owner that holds a pin gets one more reference on its index.
    /// Returns the index: a `u16`, so the caller has nothing left that can
    /// fail once the pin is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinError, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(16, 4, 0, vec![Slot::default(); 1 << 16],
    ///                           vec![0; bitmap_words(1 << 16)]).unwrap();
    /// // The highest index of a 16-bit VMID, in generation 3.
    /// assert_eq!(t.pin(0xa000, (3 << 16) | 0xffff), Ok(0xffff));
    /// assert_eq!(t.pin(0xa000, (3 << 16) | 0xffff), Ok(0xffff));
    /// assert_eq!(t.slot(0xffff).unwrap().refs, 2);
    /// assert_eq!(t.nr_pinned(), 1);
    /// // Another owner given the same index (an allocator bug) is refused.
    /// assert_eq!(t.pin(0xb000, (3 << 16) | 0xffff), Err(PinError::Conflict));
    /// // Index 0 is reserved by KVM and never pinned.
    /// assert_eq!(t.pin(0xc000, 3 << 16), Err(PinError::Conflict));
    /// assert_eq!(t.stats().refused_conflict, 2);
    /// ```
    pub fn pin(&mut self, owner: usize, vmid: u64) -> Result<u16, PinError> {
        let idx = self.index(vmid);
        let i = usize::from(idx);
        if self.is_pinned(owner, vmid) {
            let Some(refs) = self.slots[i].refs.checked_add(1) else {
                self.stats.refused_conflict += 1;
                return Err(PinError::Overflow);
            };
            self.slots[i].refs = refs;
            self.stats.pins += 1;
            return Ok(idx);
        }
        self.may_pin(owner, vmid)?;
        if idx == 0 || self.is_index_pinned(idx) {
            self.stats.refused_conflict += 1;
            return Err(PinError::Conflict);
        }
        self.slots[i] = Slot { owner, refs: 1 };
        let w = i / WORD_BITS;
        self.pinned[w] |= 1 << (i % WORD_BITS);
        if !self.pinned[w] & self.usable(w) == 0 {
            self.open[w / WORD_BITS] &= !(1 << (w % WORD_BITS));
        }
        // INVARIANT: the slot and its bit were set together, and the word
        // closed if that was its last unpinned index; `may_pin` checked
        // that one more pin stays within the cap.
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
    /// let mut t = PinTable::new(8, 2, 0, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// t.pin(0xa000, 0x142).unwrap();
    /// t.pin(0xa000, 0x142).unwrap();
    /// assert_eq!(t.unpin(0xa000, 0x142), Ok(false)); // one reference left
    /// assert_eq!(t.unpin(0xa000, 0x142), Ok(true)); // the last one
    /// assert!(!t.is_index_pinned(0x42));
    /// // A put without a get changes nothing but the counter.
    /// assert_eq!(t.unpin(0xa000, 0x142), Err(PinError::NotPinned));
    /// assert_eq!(t.stats().bad_puts, 1);
    /// assert_eq!((t.stats().pins, t.stats().unpins), (2, 2));
    /// ```
    pub fn unpin(&mut self, owner: usize, vmid: u64) -> Result<bool, PinError> {
        if !self.is_pinned(owner, vmid) {
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
        let w = idx / WORD_BITS;
        self.pinned[w] &= !(1 << (idx % WORD_BITS));
        self.open[w / WORD_BITS] |= 1 << (w % WORD_BITS);
        // INVARIANT: the last reference and the bit went together, and the
        // word, which now has an unpinned index (`idx >= 1`), is open.
        self.nr_pinned -= 1;
        Ok(true)
    }

    /// The highest index of `1..1 << bits` that is clear in `vmid_map`
    /// after [`Self::rollover`], or 0 if none is.
    ///
    /// KVM only sets bits of its map until the next rollover, so no index
    /// above it can be free in this generation: KVM bounds its searches
    /// there, and a generation that is full up to it rolls over without
    /// passing every pinned word again. Like the first free index, it
    /// reads only the open words, highest first.
    pub fn last_free(&self, vmid_map: &[usize]) -> usize {
        let open = self.open.iter().take(bitmap_words(self.pinned.len()));
        for (o, &bits) in open.enumerate().rev() {
            let mut bits = bits;
            while bits != 0 {
                // CAST: below `WORD_BITS`, since `bits != 0`.
                let top = WORD_BITS - 1 - bits.leading_zeros() as usize;
                bits &= !(1 << top);
                let w = o * WORD_BITS + top;
                let Some(&m) = vmid_map.get(w) else {
                    continue;
                };
                let free = !m & self.usable(w);
                if free != 0 {
                    // CAST: as above; the sum is a usable index.
                    return w * WORD_BITS + (WORD_BITS - 1 - free.leading_zeros() as usize);
                }
            }
        }
        0
    }

    /// Called at a rollover: sets every pinned index in the new
    /// generation's `vmid_map`, and returns the lowest index `>= 1` whose
    /// bit is then clear, or `1 << bits` if there is none.
    ///
    /// `vmid_map` has [`bitmap_words`]`(1 << bits)` words, and the CPUs'
    /// reserved VMIDs set. `new_vmid()` starts its search for a free index
    /// at the returned one, instead of scanning past every pinned index
    /// from index 1. Bits at `1 << bits` and above are not indices: they
    /// are neither read nor returned.
    ///
    /// One OR per bitmap word, whatever the number of pins, then at most
    /// one more read of each word that has an unpinned index, in order,
    /// until one of them has a clear bit: `vmid_map` is not scanned twice.
    /// Only the CPUs' reserved VMIDs can fill such a word, so at most
    /// `nr_cpus + 1` of them are read, found by `bitmap_words(1 << bits)`
    /// bits of the table's own (16 words at 16 bits).
    ///
    /// No VMID is written: a pinned VM's VMID moves to the new generation
    /// in `new_vmid()`, after the CPUs' reserved VMIDs are updated.
    ///
    /// # Examples
    ///
    /// ```
    /// use ksv_logic::pin_table::{bitmap_words, PinTable, Slot};
    ///
    /// let mut t = PinTable::new(8, 2, 0, vec![Slot::default(); 256], vec![0; bitmap_words(256)])
    ///     .unwrap();
    /// t.pin(0xa000, 0x105).unwrap(); // index 5
    /// t.pin(0xb000, 0x1c1).unwrap(); // index 0xc1 = 193: word 3, bit 1
    /// // The new generation's map, with index 0 and a CPU's reserved index 9.
    /// let mut map = vec![(1 << 0) | (1 << 9), 0, 0, 0];
    /// assert_eq!(t.rollover(&mut map), 1); // never index 0
    /// assert_eq!(map, [(1 << 0) | (1 << 5) | (1 << 9), 0, 0, 1 << 1]);
    /// assert_eq!(t.stats().rollovers, 1);
    ///
    /// // Indices 1 to 4 pinned, 6 reserved: the first free index is 7.
    /// for (owner, idx) in (1..=4).enumerate() {
    ///     t.pin(0xc000 + owner, 0x100 | idx).unwrap();
    /// }
    /// let mut map = vec![1 << 6, 0, 0, 0];
    /// assert_eq!(t.rollover(&mut map), 7);
    /// ```
    pub fn rollover(&mut self, vmid_map: &mut [usize]) -> usize {
        for (m, p) in vmid_map.iter_mut().zip(self.pinned.iter()) {
            *m |= *p;
        }
        self.stats.rollovers += 1;
        self.first_free(vmid_map)
    }

    /// The lowest index `>= 1` whose bit is clear in `vmid_map`, a map
    /// with every pinned index set; `1 << bits` if there is none.
    ///
    /// A word that is not open has every index of `1..1 << bits` in it
    /// pinned (type invariant), so set in `vmid_map`: only open words are
    /// read, lowest first.
    fn first_free(&self, vmid_map: &[usize]) -> usize {
        let n = 1usize << self.bits;
        let open = self.open.iter().take(bitmap_words(self.pinned.len()));
        for (o, &bits) in open.enumerate() {
            let mut bits = bits;
            while bits != 0 {
                // CAST: below `WORD_BITS`, since `bits != 0`.
                let w = o * WORD_BITS + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let Some(&m) = vmid_map.get(w) else {
                    return n;
                };
                let free = !m & self.usable(w);
                if free != 0 {
                    // CAST: as above; the sum is a usable index, below `n`.
                    return w * WORD_BITS + free.trailing_zeros() as usize;
                }
            }
        }
        n
    }
}
