//! A plain price-time book that exists only to generate the workload: it tracks which orders rest
//! where, so that cancels and moves target live orders and aggressive orders trade. It is slow
//! (`BTreeMap` of `VecDeque`) and never timed.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::workload::{Op, Side, ACCOUNTS, DEPTH_TICKS};

const NOT_LIVE: u32 = u32::MAX;
/// Passive orders are 1..=1000 shares; below the target book size takers take at most 20, so a
/// resting order survives many partial fills.
const PASSIVE_QTY_MAX: u32 = 1_000;
const TAKER_QTY_SMALL_MAX: u32 = 20;
const TAKER_QTY_LARGE_MAX: u32 = 1_000;

#[derive(Clone, Copy, Debug)]
struct SimOrder {
    side: Side,
    price: u32,
    qty: u32,
    remaining: u32,
    account: u32,
    /// Index in `Sim::live`, or `NOT_LIVE`.
    live_pos: u32,
}

#[derive(Debug)]
pub struct Sim {
    orders: Vec<SimOrder>,
    bids: BTreeMap<u32, VecDeque<u32>>,
    asks: BTreeMap<u32, VecDeque<u32>>,
    /// Resting orders, for uniform random choice.
    live: Vec<u32>,
    mid: u32,
    band_low: u32,
    band_high: u32,
    /// Scratch: accounts of the makers an incoming order would meet.
    makers: Vec<u32>,
}

impl Sim {
    pub fn new(band_low: u32, band_high: u32, mid: u32, orders_capacity: usize) -> Sim {
        assert!(band_low + 2 * DEPTH_TICKS < mid && mid + 2 * DEPTH_TICKS < band_high);
        Sim {
            orders: Vec::with_capacity(orders_capacity),
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            live: Vec::with_capacity(4 * 1_024),
            mid,
            band_low,
            band_high,
            makers: Vec::new(),
        }
    }

    pub fn resting(&self) -> usize {
        self.live.len()
    }

    pub fn levels(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    pub fn orders_placed(&self) -> u32 {
        self.orders.len() as u32
    }

    /// A slow random walk of the mid price (one tick, one op in sixteen), kept well inside the band.
    pub fn drift_mid(&mut self, rng: &mut ChaCha8Rng, margin: u32) {
        if rng.gen_range(0..16u32) == 0 {
            let (low, high) = (self.band_low + 2 * margin, self.band_high - 2 * margin);
            self.mid = if rng.gen_bool(0.5) { (self.mid + 1).min(high) } else { (self.mid - 1).max(low) };
        }
    }

    fn best(&self, side: Side) -> Option<u32> {
        match side {
            Side::Buy => self.bids.last_key_value().map(|(&price, _)| price),
            Side::Sell => self.asks.first_key_value().map(|(&price, _)| price),
        }
    }

    /// A price up to `DEPTH_TICKS` behind the mid that does not cross the opposite best.
    fn passive_price(&self, rng: &mut ChaCha8Rng, side: Side) -> u32 {
        let offset = rng.gen_range(0..DEPTH_TICKS);
        let price = match side {
            Side::Buy => {
                let price = self.mid - 1 - offset;
                let price = self.best(Side::Sell).map_or(price, |ask| price.min(ask - 1));
                price.max(self.band_low)
            }
            Side::Sell => {
                let price = self.mid + 1 + offset;
                let price = self.best(Side::Buy).map_or(price, |bid| price.max(bid + 1));
                price.min(self.band_high)
            }
        };
        assert!(!self.crosses(side, price), "passive price {price} crosses");
        price
    }

    fn crosses(&self, side: Side, price: u32) -> bool {
        match side {
            Side::Buy => self.best(Side::Sell).is_some_and(|ask| price >= ask),
            Side::Sell => self.best(Side::Buy).is_some_and(|bid| price <= bid),
        }
    }

    fn new_order(&mut self, side: Side, price: u32, qty: u32, account: u32) -> u32 {
        let index = self.orders.len() as u32;
        self.orders.push(SimOrder { side, price, qty, remaining: qty, account, live_pos: NOT_LIVE });
        index
    }

    /// An order that rests behind the touch (an IOC one is accepted and cancelled, trading nothing).
    pub fn place_passive(&mut self, rng: &mut ChaCha8Rng, side: Side, ioc: bool) -> Op {
        let price = self.passive_price(rng, side);
        let qty = rng.gen_range(1..=PASSIVE_QTY_MAX);
        let account = rng.gen_range(0..ACCOUNTS);
        let order = self.new_order(side, price, qty, account);
        if !ioc {
            self.rest(order);
        }
        Op::Place { order, account, side, price, qty, ioc }
    }

    /// A taker priced 0-2 ticks through the opposite best, never larger than the liquidity up to
    /// its limit, so it always fills completely (see the module doc of `workload`); `None` when
    /// the opposite side is empty. Below the target book size it only takes part of the front
    /// order, so no resting order disappears; at or above it, it takes up to 1,000 shares. Its
    /// account is one it would not meet in the book.
    pub fn place_aggressive(&mut self, rng: &mut ChaCha8Rng, side: Side, ioc: bool, book_target: usize) -> Option<Op> {
        let best = self.best(opposite(side))?;
        let through = rng.gen_range(0..3u32);
        let limit = match side {
            Side::Buy => (best + through).min(self.band_high),
            Side::Sell => best.saturating_sub(through).max(self.band_low),
        };
        let (front, available) = self.liquidity(side, limit);
        let qty = if self.live.len() < book_target {
            rng.gen_range(1..=front.saturating_sub(1).clamp(1, TAKER_QTY_SMALL_MAX))
        } else {
            rng.gen_range(1..=available.min(TAKER_QTY_LARGE_MAX))
        };
        self.collect_makers(side, limit, qty);
        let account = loop {
            let account = rng.gen_range(0..ACCOUNTS);
            if !self.makers.contains(&account) {
                break account;
            }
        };
        let order = self.new_order(side, limit, qty, account);
        let filled = self.take(order, side, limit);
        assert_eq!(filled, qty, "a taker fills completely");
        Some(Op::Place { order, account, side, price: limit, qty, ioc })
    }

    /// The front order's remaining quantity and the total quantity a taker up to `limit` meets.
    fn liquidity(&self, side: Side, limit: u32) -> (u32, u32) {
        let mut queues = self.crossing(side, limit);
        let front =
            queues.clone().next().and_then(|queue| queue.front()).map_or(0, |&o| self.orders[o as usize].remaining);
        let available = queues.by_ref().flatten().map(|&o| self.orders[o as usize].remaining).sum();
        (front, available)
    }

    /// The opposite side's queues a taker on `side` up to `limit` meets, best first.
    fn crossing(&self, side: Side, limit: u32) -> impl Iterator<Item = &VecDeque<u32>> + Clone {
        let (asks, bids) = match side {
            Side::Buy => (Some(self.asks.range(..=limit)), None),
            Side::Sell => (None, Some(self.bids.range(limit..).rev())),
        };
        asks.into_iter().flatten().chain(bids.into_iter().flatten()).map(|(_, queue)| queue)
    }

    /// Fills `makers` with the accounts of the resting orders a taker would meet.
    fn collect_makers(&mut self, side: Side, limit: u32, qty: u32) {
        let mut makers = std::mem::take(&mut self.makers);
        makers.clear();
        let mut want = qty;
        let queues = self.crossing(side, limit);
        'levels: for queue in queues {
            for &maker in queue {
                if want == 0 {
                    break 'levels;
                }
                let maker = &self.orders[maker as usize];
                makers.push(maker.account);
                want = want.saturating_sub(maker.remaining);
            }
        }
        self.makers = makers;
    }

    /// Matches `taker` against the opposite side up to `limit`; returns the quantity filled.
    fn take(&mut self, taker: u32, side: Side, limit: u32) -> u32 {
        let start = self.orders[taker as usize].remaining;
        let mut want = start;
        while want > 0 {
            let entry = match side {
                Side::Buy => self.asks.first_entry(),
                Side::Sell => self.bids.last_entry(),
            };
            let Some(mut entry) = entry else { break };
            let price = *entry.key();
            let crosses = match side {
                Side::Buy => price <= limit,
                Side::Sell => price >= limit,
            };
            if !crosses {
                break;
            }
            let queue = entry.get_mut();
            while want > 0 {
                let Some(&maker) = queue.front() else { break };
                let order = &mut self.orders[maker as usize];
                let fill = want.min(order.remaining);
                order.remaining -= fill;
                want -= fill;
                if order.remaining == 0 {
                    queue.pop_front();
                    unlink_live(&mut self.live, &mut self.orders, maker);
                }
            }
            if queue.is_empty() {
                entry.remove();
            }
        }
        self.orders[taker as usize].remaining = want;
        start - want
    }

    fn rest(&mut self, order: u32) {
        let SimOrder { side, price, .. } = self.orders[order as usize];
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        book.entry(price).or_default().push_back(order);
        self.orders[order as usize].live_pos = self.live.len() as u32;
        self.live.push(order);
    }

    fn unrest(&mut self, order: u32) {
        let SimOrder { side, price, .. } = self.orders[order as usize];
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let queue = book.get_mut(&price).expect("resting order has a level");
        let at = queue.iter().position(|&o| o == order).expect("resting order is queued");
        queue.remove(at);
        if queue.is_empty() {
            book.remove(&price);
        }
        unlink_live(&mut self.live, &mut self.orders, order);
    }

    fn random_live(&self, rng: &mut ChaCha8Rng) -> Option<u32> {
        if self.live.is_empty() {
            return None;
        }
        Some(self.live[rng.gen_range(0..self.live.len())])
    }

    pub fn cancel_random(&mut self, rng: &mut ChaCha8Rng) -> Option<Op> {
        let order = self.random_live(rng)?;
        self.unrest(order);
        Some(Op::Cancel { order, account: self.orders[order as usize].account })
    }

    /// Moves a random resting order to a new passive price (never crossing, never the same
    /// price); it goes to the back of its new level.
    pub fn move_random(&mut self, rng: &mut ChaCha8Rng) -> Option<Op> {
        let order = self.random_live(rng)?;
        let SimOrder { side, price: old, qty, remaining, account, .. } = self.orders[order as usize];
        let price = (0..8).map(|_| self.passive_price(rng, side)).find(|&price| price != old)?;
        self.unrest(order);
        self.orders[order as usize].price = price;
        self.rest(order);
        Some(Op::Move { order, account, side, price, qty, remaining })
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

fn unlink_live(live: &mut Vec<u32>, orders: &mut [SimOrder], order: u32) {
    let pos = orders[order as usize].live_pos;
    assert_ne!(pos, NOT_LIVE);
    live.swap_remove(pos as usize);
    if let Some(&moved) = live.get(pos as usize) {
        orders[moved as usize].live_pos = pos;
    }
    orders[order as usize].live_pos = NOT_LIVE;
}
