// SPDX-License-Identifier: GPL-2.0

//! The index that [`PinTable::rollover`] returns: where `new_vmid()` starts
//! its search for a free index after `flush_context()`.
//!
//! It must be the lowest index `>= 1` whose bit is clear in `vmid_map`
//! once the pinned indices are set (the CPUs' reserved VMIDs are set
//! before the op runs), or `NUM_USER_VMIDS` if there is none. KVM takes it
//! as a hint only, so a wrong one costs VMIDs (a hint too high skips free
//! ones until the next rollover) or time, never correctness: these tests
//! are what keeps it exact.

use ksv_logic::pin_table::{bitmap_words, PinTable, Slot, WORD_BITS};

type Table = PinTable<Vec<Slot>, Vec<usize>>;

/// A table for `bits`-bit VMIDs on `cpus` CPUs whose cap is the whole
/// budget.
fn table(bits: u32, cpus: u32) -> Table {
    let n = 1usize << bits;
    PinTable::new(
        bits,
        cpus,
        u32::MAX,
        vec![Slot::default(); n],
        vec![0; bitmap_words(n)],
    )
    .expect("a table for this width")
}

/// Pins index `idx`, for an owner of its own, as `kvm_arm_vmid_pin()` does
/// with a VMID of generation 1.
fn pin(t: &mut Table, idx: usize) {
    let vmid = (1u64 << t.bits()) | idx as u64;
    assert_eq!(t.pin(owner(idx), vmid), Ok(idx as u16), "pin of {idx}");
}

fn unpin(t: &mut Table, idx: usize) {
    let vmid = (1u64 << t.bits()) | idx as u64;
    assert_eq!(t.unpin(owner(idx), vmid), Ok(true), "unpin of {idx}");
}

fn owner(idx: usize) -> usize {
    0x10_0000 + idx * 64
}

fn set(map: &mut [usize], i: usize) {
    map[i / WORD_BITS] |= 1 << (i % WORD_BITS);
}

fn is_set(map: &[usize], i: usize) -> bool {
    map[i / WORD_BITS] & (1 << (i % WORD_BITS)) != 0
}

/// A new generation's `vmid_map` with `reserved` set, as `flush_context()`
/// leaves it for the op.
fn map_with(bits: u32, reserved: &[usize]) -> Vec<usize> {
    let mut map = vec![0; bitmap_words(1 << bits)];
    for &i in reserved {
        set(&mut map, i);
    }
    map
}

/// `find_next_zero_bit(map, 1 << bits, from)`, a word at a time.
fn find_next_zero_bit(map: &[usize], bits: u32, from: usize) -> usize {
    let n = 1usize << bits;
    let mut i = from;
    while i < n {
        let w = map[i / WORD_BITS] | ((1 << (i % WORD_BITS)) - 1);
        if w != usize::MAX {
            return (i / WORD_BITS * WORD_BITS + w.trailing_ones() as usize).min(n);
        }
        i = (i / WORD_BITS + 1) * WORD_BITS;
    }
    n
}

/// `find_next_zero_bit(vmid_map, NUM_USER_VMIDS, 1)`: what the hint saves.
fn scan(map: &[usize], bits: u32) -> usize {
    find_next_zero_bit(map, bits, 1)
}

/// Index 0 is never a VM's, whether `flush_context()` set its bit (a CPU
/// that never ran a VM reserves VMID 0) or not.
#[test]
fn rollover_hint_is_never_index_0() {
    for bits in [2, 3, 8, 16] {
        let mut t = table(bits, 1);
        assert_eq!(t.rollover(&mut map_with(bits, &[])), 1, "{bits} bits");
        assert_eq!(t.rollover(&mut map_with(bits, &[0])), 1, "{bits} bits");
        pin(&mut t, 1);
        assert_eq!(t.rollover(&mut map_with(bits, &[])), 2, "{bits} bits");
    }
}

/// Pinned indices and the CPUs' reserved ones are both skipped, within a
/// word and across words, and the map is left with both set.
#[test]
fn rollover_hint_skips_pinned_and_reserved() {
    for bits in [8, 16] {
        let mut t = table(bits, 4);
        // Word 0 pinned from index 1 on, word 1 up to index 69.
        for i in 1..70 {
            pin(&mut t, i);
        }
        let mut map = map_with(bits, &[]);
        assert_eq!(t.rollover(&mut map), 70, "{bits} bits");
        assert_eq!(map[0], !1);
        assert_eq!(map[1], (1 << 6) - 1);
        // Reserved VMIDs right after the pins, and one further on.
        let mut map = map_with(bits, &[0, 70, 71, 200]);
        assert_eq!(t.rollover(&mut map), 72, "{bits} bits");
        assert!(is_set(&map, 200) && is_set(&map, 69));
        // Reserved VMIDs fill word 1's unpinned indices (64 + 6 to 64 +
        // 63): the next word's first index.
        for i in 70..125 {
            pin(&mut t, i);
        }
        let reserved = [0, 125, 126, 127];
        assert_eq!(
            t.rollover(&mut map_with(bits, &reserved)),
            128,
            "{bits} bits"
        );
        // A reserved index inside the pinned range changes nothing.
        assert_eq!(t.rollover(&mut map_with(bits, &[3, 5])), 125, "{bits} bits");
    }
}

/// An unpinned index is found again, below pins that remain and in a word
/// that was full.
#[test]
fn rollover_hint_finds_an_unpinned_index() {
    let bits = 16;
    let mut t = table(bits, 4);
    for i in 1..1000 {
        pin(&mut t, i);
    }
    assert_eq!(t.rollover(&mut map_with(bits, &[])), 1000);
    unpin(&mut t, 500);
    assert_eq!(t.rollover(&mut map_with(bits, &[])), 500);
    // Reserved by a CPU: the next free one.
    assert_eq!(t.rollover(&mut map_with(bits, &[500])), 1000);
    pin(&mut t, 500);
    unpin(&mut t, 63);
    unpin(&mut t, 64);
    assert_eq!(t.rollover(&mut map_with(bits, &[])), 63);
    assert_eq!(t.rollover(&mut map_with(bits, &[63])), 64);
    assert_eq!(t.rollover(&mut map_with(bits, &[63, 64])), 1000);
}

/// No free index: `NUM_USER_VMIDS`, at every width.
///
/// The cap leaves `nr_cpus + 1` indices unpinned, and `flush_context()`
/// reserves at most `nr_cpus` of them; a map set beyond that is outside
/// what KVM passes, but the op's answer is still defined.
#[test]
fn rollover_hint_of_a_full_map_is_num_user_vmids() {
    for bits in [3, 5, 6, 7, 8, 16] {
        let n = 1usize << bits;
        let mut t = table(bits, 2);
        let cap = t.cap() as usize;
        assert_eq!(cap, n - 4);
        for i in 1..=cap {
            pin(&mut t, i);
        }
        let unpinned: Vec<usize> = (cap + 1..n).collect();
        assert_eq!(unpinned.len(), 3);
        // As KVM can leave it: both CPUs' reserved VMIDs unpinned.
        assert_eq!(t.rollover(&mut map_with(bits, &unpinned[..2])), n - 1);
        assert_eq!(t.rollover(&mut map_with(bits, &unpinned[1..])), cap + 1);
        // Full.
        let mut map = map_with(bits, &unpinned);
        assert_eq!(t.rollover(&mut map), n, "{bits} bits");
        assert_eq!(scan(&map, bits), n);
    }
}

/// Widths whose bitmap is less than one word: the bits at `1 << bits` and
/// above are not indices, whatever is in them.
#[test]
fn rollover_hint_ignores_bits_past_the_last_index() {
    for bits in 2..=5 {
        let n = 1usize << bits;
        let mut t = table(bits, 1);
        let cap = t.cap() as usize;
        for i in 1..=cap {
            pin(&mut t, i);
        }
        // The cap leaves indices `cap + 1` and `n - 1` unpinned.
        assert_eq!(cap + 2, n - 1);
        // Both reserved: the map is full. Bit n set and bit n + 1 clear
        // above them: neither is an index.
        let mut map = map_with(bits, &[cap + 1, n - 1, n]);
        assert_eq!(t.rollover(&mut map), n, "{bits} bits");
        // One reserved: the other, below the garbage.
        let mut map = map_with(bits, &[cap + 1, n, n + 2]);
        assert_eq!(t.rollover(&mut map), n - 1, "{bits} bits");
        let mut map = map_with(bits, &[n, n + 2]);
        assert_eq!(t.rollover(&mut map), cap + 1, "{bits} bits");
    }
}

/// Random pins, unpins and rollovers with reserved VMIDs, dense enough to
/// fill and empty whole words: the hint is always what a scan from index 1
/// finds, and the map is the reserved and the pinned indices. At 16 bits,
/// also from the full budget pinned from index 1 on, where the first free
/// index is far up and moves down as random unpins punch holes.
#[test]
fn rollover_hint_matches_a_scan() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as usize % n
    };
    for (bits, cpus, prefill, steps) in [
        (2, 1, false, 2_000),
        (3, 2, false, 5_000),
        (4, 3, false, 5_000),
        (5, 2, false, 10_000),
        (6, 2, false, 10_000),
        (7, 4, false, 20_000),
        (8, 2, false, 50_000),
        (8, 8, false, 50_000),
        (8, 2, true, 2_000),
        (16, 4, false, 200_000),
        (16, 4, true, 20_000),
    ] {
        let n = 1usize << bits;
        let mut t = table(bits, cpus);
        // The pinned indices, as a list and as a bitmap.
        let mut pinned: Vec<usize> = Vec::new();
        let mut pmap = map_with(bits, &[]);
        if prefill {
            for i in 1..=t.cap() as usize {
                pin(&mut t, i);
                pinned.push(i);
                set(&mut pmap, i);
            }
        }
        // Where sequential pins go next, as KVM allocates.
        let mut cursor = 1;
        let mut checked = 0;
        let mut highest = 0;
        for step in 0..steps {
            match next(10) {
                0..=4 if pinned.len() < t.cap() as usize => {
                    // Mostly the next unpinned index, sometimes any.
                    let start = if next(8) == 0 {
                        1 + next(n - 1)
                    } else {
                        cursor
                    };
                    let mut i = find_next_zero_bit(&pmap, bits, start);
                    if i == n {
                        i = scan(&pmap, bits);
                    }
                    pin(&mut t, i);
                    pinned.push(i);
                    set(&mut pmap, i);
                    cursor = i;
                }
                0..=6 if !pinned.is_empty() => {
                    let i = pinned.swap_remove(next(pinned.len()));
                    unpin(&mut t, i);
                    pmap[i / WORD_BITS] &= !(1 << (i % WORD_BITS));
                }
                _ => {
                    // Up to `cpus` reserved VMIDs, often the lowest
                    // unpinned ones (which fill the first open word),
                    // sometimes index 0.
                    let mut reserved = Vec::new();
                    let mut low = 1;
                    for _ in 0..next(cpus as usize + 1) {
                        let r = match next(3) {
                            0 => next(n),
                            _ => {
                                low = find_next_zero_bit(&pmap, bits, low);
                                let r = low % n;
                                low = (low + 1).min(n);
                                r
                            }
                        };
                        reserved.push(r);
                    }
                    let mut map = map_with(bits, &reserved);
                    let hint = t.rollover(&mut map);
                    let want: Vec<usize> = map_with(bits, &reserved)
                        .iter()
                        .zip(&pmap)
                        .map(|(r, p)| r | p)
                        .collect();
                    assert_eq!(map, want, "{bits} bits, step {step}: the map");
                    assert_eq!(
                        hint,
                        scan(&want, bits),
                        "{bits} bits, step {step}: pinned {}, reserved {reserved:?}",
                        pinned.len()
                    );
                    checked += 1;
                    highest = highest.max(hint);
                }
            }
        }
        assert!(checked > steps / 10, "{bits} bits: {checked} rollovers");
        if prefill {
            assert!(highest > n - 8, "{bits} bits: the highest hint, {highest}");
        }
        assert_eq!(t.nr_pinned(), pinned.len());
    }
}
