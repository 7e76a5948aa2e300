//! The core benchmark workload: one order book, generated once up front from a seed, replayed
//! unchanged through every engine.
//!
//! The mix is exchange-core's: 9% GTC orders, 3% IOC, 6% cancels, 82% moves (price modify), with
//! about 6% of messages trading, 1,000 accounts and about 1,000 resting orders spread over about
//! 750 price levels. The generator simulates the book (price-time priority, see [`crate::sim`]), so
//! every cancel and move names an order that is resting at that moment, and it knows which orders
//! trade. Three rules keep every engine's book identical to the generator's, whatever its
//! self-trade prevention, modify or IOC semantics:
//! - moves never cross the spread (a move re-queues the order at the back of its new level);
//! - no order ever meets an order of its own account;
//! - a taker (every IOC, and a share of GTC orders) is priced 0-2 ticks through the opposite best
//!   and never asks for more than rests up to its price, so it fills completely and nothing walks
//!   past a limit (matchcore 0.4.0 would: see `adapters::matchcore`).
//!
//! The book stays near its target size by steering, not by changing the mix: below 1,000 resting
//! orders a taker takes at most 20 shares of the front order and fewer GTC orders take; at or
//! above it, takers are larger and more GTC orders take.
//!
//! Prices are ticks (one tick = 5 paise in our engine); quantities are shares (lot 1).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::Sim;

/// Accounts that place orders: `0..ACCOUNTS`.
pub const ACCOUNTS: u32 = 1_000;
/// Resting orders the generator keeps the book near.
pub const BOOK_ORDERS_TARGET: usize = 1_000;
/// Reference price in ticks: 100_000 paise at 5 paise a tick.
pub const REFERENCE_TICKS: u32 = 20_000;
/// Price band half-width in basis points of the reference (our engine's circuit band).
pub const BAND_BPS: u32 = 5_000;
/// Passive orders rest uniformly within this many ticks behind the mid, each side. With about
/// 1,000 orders this occupies about 750 distinct levels.
pub const DEPTH_TICKS: u32 = 825;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

/// Share of GTC orders that take liquidity while the book is below / at or above its target size.
const GTC_TAKE_PERCENT_LOW: u32 = 30;
const GTC_TAKE_PERCENT_HIGH: u32 = 40;

/// One abstract message. `order` is the logical order index: the n-th order placed (prefill
/// included) has index n, and each engine maps it to its own order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Place {
        order: u32,
        account: u32,
        side: Side,
        price: u32,
        qty: u32,
        ioc: bool,
    },
    Cancel {
        order: u32,
        account: u32,
    },
    /// A new price, quantity unchanged: `qty` is the order's original total, `remaining` what is
    /// still open (engines without a modify cancel and re-enter `remaining`).
    Move {
        order: u32,
        account: u32,
        side: Side,
        price: u32,
        qty: u32,
        remaining: u32,
    },
}

/// Index of an op's kind in per-kind tables: GTC, IOC, cancel, move.
pub const KIND_NAMES: [&str; 4] = ["gtc", "ioc", "cancel", "move"];

impl Op {
    pub fn kind(&self) -> usize {
        match self {
            Op::Place { ioc: false, .. } => 0,
            Op::Place { ioc: true, .. } => 1,
            Op::Cancel { .. } => 2,
            Op::Move { .. } => 3,
        }
    }
}

/// What the generator produced and what the book looked like.
#[derive(Clone, Debug, Default)]
pub struct MixStats {
    /// Measured ops per kind, indexed like [`KIND_NAMES`].
    pub kinds: [u64; 4],
    /// Measured ops that trade in the simulated book.
    pub trading: u64,
    pub book_orders_after_prefill: usize,
    pub book_levels_after_prefill: usize,
    /// Means over samples taken every 1,000 ops of the measured phase.
    pub book_orders_mean: f64,
    pub book_levels_mean: f64,
    pub book_orders_end: usize,
    pub book_levels_end: usize,
    pub price_ticks_min: u32,
    pub price_ticks_max: u32,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub seed: u64,
    /// Passive orders that build the initial book; applied before measuring, never timed.
    pub prefill: Vec<Op>,
    /// The measured messages.
    pub ops: Vec<Op>,
    /// Logical orders placed over prefill and ops (sizes each adapter's id table).
    pub orders_total: u32,
    pub stats: MixStats,
}

impl Workload {
    pub fn generate(seed: u64, ops_count: usize) -> Workload {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let band_half = REFERENCE_TICKS as u64 * BAND_BPS as u64 / 10_000;
        let band_low = REFERENCE_TICKS - band_half as u32;
        let band_high = REFERENCE_TICKS + band_half as u32;
        let mut sim = Sim::new(band_low, band_high, REFERENCE_TICKS, ops_count / 8 + BOOK_ORDERS_TARGET);

        let mut prefill = Vec::with_capacity(BOOK_ORDERS_TARGET);
        for i in 0..BOOK_ORDERS_TARGET {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            prefill.push(sim.place_passive(&mut rng, side, false));
        }
        let mut stats = MixStats {
            book_orders_after_prefill: sim.resting(),
            book_levels_after_prefill: sim.levels(),
            price_ticks_min: u32::MAX,
            ..MixStats::default()
        };

        let mut ops = Vec::with_capacity(ops_count);
        let (mut orders_sum, mut levels_sum, mut samples) = (0u64, 0u64, 0u64);
        for n in 0..ops_count {
            sim.drift_mid(&mut rng, DEPTH_TICKS);
            let roll = rng.gen_range(0..100u32);
            let (op, traded) = match roll {
                0..=8 => Self::place(&mut sim, &mut rng, false),
                9..=11 => Self::place(&mut sim, &mut rng, true),
                12..=17 => match sim.cancel_random(&mut rng) {
                    Some(op) => (op, false),
                    None => Self::place(&mut sim, &mut rng, false),
                },
                _ => match sim.move_random(&mut rng) {
                    Some(op) => (op, false),
                    None => Self::place(&mut sim, &mut rng, false),
                },
            };
            stats.kinds[op.kind()] += 1;
            stats.trading += traded as u64;
            if let Op::Place { price, .. } | Op::Move { price, .. } = op {
                stats.price_ticks_min = stats.price_ticks_min.min(price);
                stats.price_ticks_max = stats.price_ticks_max.max(price);
            }
            ops.push(op);
            if n % 1_000 == 0 {
                orders_sum += sim.resting() as u64;
                levels_sum += sim.levels() as u64;
                samples += 1;
            }
        }
        stats.book_orders_mean = orders_sum as f64 / samples.max(1) as f64;
        stats.book_levels_mean = levels_sum as f64 / samples.max(1) as f64;
        stats.book_orders_end = sim.resting();
        stats.book_levels_end = sim.levels();
        Workload { seed, prefill, ops, orders_total: sim.orders_placed(), stats }
    }

    /// A GTC or IOC order. Every IOC takes liquidity (when there is any). A GTC order takes
    /// liquidity with a probability that steers the book size: adds come only from passive GTC
    /// orders and must balance the 6% of cancels, so below the target fewer GTC orders take.
    fn place(sim: &mut Sim, rng: &mut ChaCha8Rng, ioc: bool) -> (Op, bool) {
        let side = if rng.gen_bool(0.5) { Side::Buy } else { Side::Sell };
        let take_percent =
            if sim.resting() < BOOK_ORDERS_TARGET { GTC_TAKE_PERCENT_LOW } else { GTC_TAKE_PERCENT_HIGH };
        if ioc || rng.gen_range(0..100u32) < take_percent {
            if let Some(op) = sim.place_aggressive(rng, side, ioc, BOOK_ORDERS_TARGET) {
                return (op, true);
            }
        }
        (sim.place_passive(rng, side, ioc), false)
    }
}
