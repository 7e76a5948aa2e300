//! Every table has a limit, fixed at construction. A full table rejects; it never grows.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub instruments_max: u32,
    /// Account ids are dense: `0..accounts_max`.
    pub accounts_max: u32,
    /// Open orders (resting and untriggered stops) across all instruments.
    pub orders_max: u32,
    /// (account, instrument) positions with any holdings, MIS quantity or open orders.
    pub positions_max: u32,
    /// Price levels one side of one book may span (band width in ticks + 1).
    pub levels_per_book_max: u32,
    /// Pre-trade risk on (the exchange) or off (matching only, for benchmarks and replays of
    /// foreign flow). Part of the deterministic configuration: a replay must use the same value.
    pub risk_enabled: bool,
}

impl Limits {
    /// Sizes that suit tests and the demo.
    pub const fn small() -> Limits {
        Limits {
            instruments_max: 16,
            accounts_max: 1_024,
            orders_max: 16_384,
            positions_max: 16_384,
            levels_per_book_max: 65_536,
            risk_enabled: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            instruments_max: 1_024,
            accounts_max: 1 << 20,
            orders_max: 1 << 21,
            positions_max: 1 << 21,
            levels_per_book_max: 1 << 17,
            risk_enabled: true,
        }
    }
}
