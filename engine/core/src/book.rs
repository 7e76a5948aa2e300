//! The price-time priority structure behind each instrument, as a trait, so that the fast ladder
//! and a naive reference book can be driven by the same engine and compared event for event.
//!
//! A book knows only slots (indices into the engine's order arena), price levels and visible
//! quantities. Matching rules (self-trade prevention, iceberg refill, IOC/FOK) live in the engine
//! and reach the book through these primitives. Levels are tick indices `0..levels` from the
//! bottom of the instrument's price band; the same structure holds untriggered stop orders keyed
//! by trigger price.

use crate::types::{Qty, Side};

/// Intrusive queue links of one arena slot. The fast book threads its FIFO queues through these;
/// books that keep their own queues ignore them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub prev: u32,
    pub next: u32,
}

impl Link {
    pub const NONE: u32 = u32::MAX;
    pub const DETACHED: Link = Link { prev: Link::NONE, next: Link::NONE };
}

/// Aggregate of one price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LevelState {
    pub qty: Qty,
    pub orders: u32,
}

pub trait Book {
    /// A book spanning `levels` price levels per side. Allocates here and never again.
    fn with_levels(levels: u32) -> Self;

    /// Appends `slot` at the back of `level`'s queue on `side`, adding `qty` to the level.
    fn push_back(&mut self, links: &mut [Link], side: Side, level: u32, slot: u32, qty: Qty);

    /// Removes `slot` (whose visible quantity is `qty`) from `level` on `side`.
    fn remove(&mut self, links: &mut [Link], side: Side, level: u32, slot: u32, qty: Qty);

    /// Adds `delta` (may be negative) to a level's quantity without touching priority.
    fn adjust_qty(&mut self, side: Side, level: u32, delta: Qty);

    /// Best level on `side`: the highest for `Buy`, the lowest for `Sell`.
    fn best(&self, side: Side) -> Option<u32>;

    /// The next level after `level` going away from the best (lower for `Buy`, higher for `Sell`).
    fn next_level(&self, side: Side, level: u32) -> Option<u32>;

    /// The slot at the front of `level`'s queue.
    fn front(&self, links: &[Link], side: Side, level: u32) -> Option<u32>;

    /// Visits `level`'s queue front to back until `visit` returns false.
    fn visit_level<F: FnMut(u32) -> bool>(&self, links: &[Link], side: Side, level: u32, visit: F);

    fn level(&self, side: Side, level: u32) -> LevelState;

    /// Number of levels per side this book spans.
    fn levels(&self) -> u32;
}
