//! The fast book: per side, a price ladder indexed directly by tick offset inside the band, a
//! two-level bitset to find the next non-empty level, and FIFO queues threaded through the order
//! arena's links. Every operation is O(1) except a best-price search after a level empties, which
//! scans a few words.

use crate::bitset::LevelBits;
use crate::book::{Book, LevelState, Link};
use crate::types::{Qty, Side};

#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
    orders: u32,
    qty: Qty,
}

const EMPTY_LEVEL: Level = Level { head: Link::NONE, tail: Link::NONE, orders: 0, qty: 0 };

#[derive(Debug, Clone)]
struct Ladder {
    levels: Vec<Level>,
    bits: LevelBits,
    /// Cached best level (`NO_LEVEL` when the side is empty).
    best: u32,
}

const NO_LEVEL: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct LadderBook {
    sides: [Ladder; 2],
    len: u32,
}

impl Book for LadderBook {
    fn with_levels(levels: u32) -> Self {
        let ladder =
            || Ladder { levels: vec![EMPTY_LEVEL; levels as usize], bits: LevelBits::new(levels), best: NO_LEVEL };
        LadderBook { sides: [ladder(), ladder()], len: levels }
    }

    #[inline]
    fn push_back(&mut self, links: &mut [Link], side: Side, level: u32, slot: u32, qty: Qty) {
        let ladder = &mut self.sides[side as usize];
        let lv = &mut ladder.levels[level as usize];
        links[slot as usize] = Link { prev: lv.tail, next: Link::NONE };
        if lv.tail == Link::NONE {
            lv.head = slot;
            ladder.bits.set(level);
            let better = match side {
                Side::Buy => ladder.best == NO_LEVEL || level > ladder.best,
                Side::Sell => ladder.best == NO_LEVEL || level < ladder.best,
            };
            if better {
                ladder.best = level;
            }
        } else {
            links[lv.tail as usize].next = slot;
        }
        lv.tail = slot;
        lv.orders += 1;
        lv.qty += qty;
    }

    #[inline]
    fn remove(&mut self, links: &mut [Link], side: Side, level: u32, slot: u32, qty: Qty) {
        let ladder = &mut self.sides[side as usize];
        let lv = &mut ladder.levels[level as usize];
        let Link { prev, next } = links[slot as usize];
        if prev == Link::NONE {
            lv.head = next;
        } else {
            links[prev as usize].next = next;
        }
        if next == Link::NONE {
            lv.tail = prev;
        } else {
            links[next as usize].prev = prev;
        }
        links[slot as usize] = Link::DETACHED;
        lv.orders -= 1;
        lv.qty -= qty;
        if lv.orders == 0 {
            debug_assert_eq!(lv.qty, 0);
            ladder.bits.clear(level);
            if ladder.best == level {
                let next = match side {
                    Side::Buy => level.checked_sub(1).and_then(|l| ladder.bits.last_at_or_below(l)),
                    Side::Sell => ladder.bits.first_at_or_above(level + 1),
                };
                ladder.best = next.unwrap_or(NO_LEVEL);
            }
        }
    }

    #[inline]
    fn adjust_qty(&mut self, side: Side, level: u32, delta: Qty) {
        self.sides[side as usize].levels[level as usize].qty += delta;
    }

    #[inline]
    fn best(&self, side: Side) -> Option<u32> {
        let best = self.sides[side as usize].best;
        (best != NO_LEVEL).then_some(best)
    }

    #[inline]
    fn next_level(&self, side: Side, level: u32) -> Option<u32> {
        let bits = &self.sides[side as usize].bits;
        match side {
            Side::Buy => bits.last_at_or_below(level.checked_sub(1)?),
            Side::Sell => bits.first_at_or_above(level.checked_add(1)?),
        }
    }

    #[inline]
    fn front(&self, _links: &[Link], side: Side, level: u32) -> Option<u32> {
        let head = self.sides[side as usize].levels[level as usize].head;
        (head != Link::NONE).then_some(head)
    }

    fn visit_level<F: FnMut(u32) -> bool>(&self, links: &[Link], side: Side, level: u32, mut visit: F) {
        let mut cur = self.sides[side as usize].levels[level as usize].head;
        while cur != Link::NONE {
            let next = links[cur as usize].next;
            if !visit(cur) {
                return;
            }
            cur = next;
        }
    }

    #[inline]
    fn level(&self, side: Side, level: u32) -> LevelState {
        let lv = &self.sides[side as usize].levels[level as usize];
        LevelState { qty: lv.qty, orders: lv.orders }
    }

    fn levels(&self) -> u32 {
        self.len
    }
}
