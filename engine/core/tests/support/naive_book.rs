//! `NaiveBook`: the simplest obviously-right implementation of the `Book` trait, for differential
//! testing against `LadderBook`. Per side a `BTreeMap<level, Level>`; each level a `VecDeque` of
//! slots in FIFO order plus its aggregate quantity. It allocates freely and ignores `links`.

use std::collections::{BTreeMap, VecDeque};

use engine_core::{Book, LevelState, Link, Qty, Side};

#[derive(Debug, Default)]
struct Level {
    queue: VecDeque<u32>,
    qty: Qty,
}

#[derive(Debug)]
pub struct NaiveBook {
    levels: u32,
    bids: BTreeMap<u32, Level>,
    asks: BTreeMap<u32, Level>,
}

impl NaiveBook {
    fn side(&self, side: Side) -> &BTreeMap<u32, Level> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<u32, Level> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn check_level(&self, level: u32) {
        assert!(level < self.levels, "NaiveBook: level {level} out of range 0..{}", self.levels);
    }
}

impl NaiveBook {
    /// A deliberate bug for the checker's self-test: queue `slot` at the front (LIFO).
    pub fn push_front_for_mutant(&mut self, side: Side, level: u32, slot: u32, qty: Qty) {
        self.check_level(level);
        let entry = self.side_mut(side).entry(level).or_default();
        entry.queue.push_front(slot);
        entry.qty += qty;
    }
}

impl Book for NaiveBook {
    fn with_levels(levels: u32) -> Self {
        NaiveBook { levels, bids: BTreeMap::new(), asks: BTreeMap::new() }
    }

    fn push_back(&mut self, _links: &mut [Link], side: Side, level: u32, slot: u32, qty: Qty) {
        self.check_level(level);
        assert!(qty >= 0, "NaiveBook::push_back: slot {slot} with negative qty {qty}");
        let entry = self.side_mut(side).entry(level).or_default();
        assert!(!entry.queue.contains(&slot), "NaiveBook::push_back: slot {slot} already queued at {side:?} {level}");
        entry.queue.push_back(slot);
        entry.qty += qty;
    }

    fn remove(&mut self, _links: &mut [Link], side: Side, level: u32, slot: u32, qty: Qty) {
        self.check_level(level);
        let map = self.side_mut(side);
        let entry = map
            .get_mut(&level)
            .unwrap_or_else(|| panic!("NaiveBook::remove: slot {slot} at empty level {side:?} {level}"));
        let at = entry
            .queue
            .iter()
            .position(|&s| s == slot)
            .unwrap_or_else(|| panic!("NaiveBook::remove: slot {slot} not queued at {side:?} {level}"));
        entry.queue.remove(at);
        entry.qty -= qty;
        assert!(entry.qty >= 0, "NaiveBook::remove: level {side:?} {level} quantity went negative");
        if entry.queue.is_empty() {
            assert_eq!(entry.qty, 0, "NaiveBook::remove: level {side:?} {level} empty with quantity left");
            map.remove(&level);
        }
    }

    fn adjust_qty(&mut self, side: Side, level: u32, delta: Qty) {
        self.check_level(level);
        let entry = self
            .side_mut(side)
            .get_mut(&level)
            .unwrap_or_else(|| panic!("NaiveBook::adjust_qty: empty level {side:?} {level}"));
        entry.qty += delta;
        assert!(entry.qty >= 0, "NaiveBook::adjust_qty: level {side:?} {level} quantity went negative");
    }

    fn best(&self, side: Side) -> Option<u32> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }

    fn next_level(&self, side: Side, level: u32) -> Option<u32> {
        match side {
            Side::Buy => self.bids.range(..level).next_back().map(|(&l, _)| l),
            Side::Sell => self.asks.range(level.checked_add(1)?..).next().map(|(&l, _)| l),
        }
    }

    fn front(&self, _links: &[Link], side: Side, level: u32) -> Option<u32> {
        self.side(side).get(&level).and_then(|l| l.queue.front().copied())
    }

    fn visit_level<F: FnMut(u32) -> bool>(&self, _links: &[Link], side: Side, level: u32, mut visit: F) {
        if let Some(l) = self.side(side).get(&level) {
            for &slot in &l.queue {
                if !visit(slot) {
                    break;
                }
            }
        }
    }

    fn level(&self, side: Side, level: u32) -> LevelState {
        match self.side(side).get(&level) {
            Some(l) => LevelState { qty: l.qty, orders: l.queue.len() as u32 },
            None => LevelState::default(),
        }
    }

    fn levels(&self) -> u32 {
        self.levels
    }
}
