//! What the query API returns. Prices are paise, quantities shares, times Unix nanoseconds.

use engine_core::{Price, Qty, Token};

/// One price level: total visible quantity and number of orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
    pub orders: u32,
}

/// The best `n` levels per side, best first (bids highest first, asks lowest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Depth {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// The day's open, high, low, close (= last), volume and VWAP, for the IST calendar day that
/// starts at `day_start_ns` (the day of the latest trade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ohlc {
    pub day_start_ns: u64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    /// Shares traded.
    pub volume: Qty,
    /// Sum of price x quantity over the day's trades (paise).
    pub turnover: i64,
    pub trades: u64,
}

impl Ohlc {
    /// Volume-weighted average price, see [`vwap`].
    pub fn vwap(&self) -> Price {
        vwap(self.turnover, self.volume)
    }
}

/// `turnover / volume` in paise, rounded to the nearest paisa with halves rounded up
/// (`(2 * turnover + volume) / (2 * volume)` in integers; both are never negative). 0 when
/// nothing traded.
pub fn vwap(turnover: i64, volume: Qty) -> Price {
    if volume <= 0 {
        return 0;
    }
    let (t, v) = (i128::from(turnover), i128::from(volume));
    ((2 * t + v) / (2 * v)) as Price
}

/// Last trade, top of book and the day's statistics for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub token: Token,
    /// Last traded price; `None` before the first trade.
    pub last_price: Option<Price>,
    pub last_qty: Qty,
    pub last_trade_ns: u64,
    pub best_bid: Option<Level>,
    pub best_ask: Option<Level>,
    /// The current (latest) day's statistics; `None` before the first trade.
    pub ohlc: Option<Ohlc>,
    /// The previous trading day's close; `None` until a second day has traded.
    pub prev_close: Option<Price>,
}

/// Candle length. Minute candles start on epoch-minute multiples (which are also IST-aligned:
/// UTC+5:30 is a whole number of 15-minute steps); day candles start at IST midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    M1,
    M5,
    M15,
    Day,
}

/// IST is UTC+5:30.
pub const IST_OFFSET_NS: u64 = 19_800 * NS_PER_SEC;
const NS_PER_SEC: u64 = 1_000_000_000;
const DAY_NS: u64 = 86_400 * NS_PER_SEC;

impl Interval {
    pub const ALL: [Interval; 4] = [Interval::M1, Interval::M5, Interval::M15, Interval::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s)
    }

    pub fn len_ns(self) -> u64 {
        match self {
            Interval::M1 => 60 * NS_PER_SEC,
            Interval::M5 => 300 * NS_PER_SEC,
            Interval::M15 => 900 * NS_PER_SEC,
            Interval::Day => DAY_NS,
        }
    }

    /// Start of the candle holding `ts_ns`.
    pub fn start_of(self, ts_ns: u64) -> u64 {
        match self {
            Interval::Day => ist_day_start(ts_ns),
            _ => ts_ns - ts_ns % self.len_ns(),
        }
    }
}

/// Start (Unix ns) of the IST calendar day holding `ts_ns`: IST midnight, 18:30 UTC the day before.
pub fn ist_day_start(ts_ns: u64) -> u64 {
    let local = ts_ns + IST_OFFSET_NS;
    (local - local % DAY_NS).saturating_sub(IST_OFFSET_NS)
}

/// One candle: trades whose batch timestamp falls in `[start_ns, start_ns + interval)`, in the
/// order the engine applied them (so `close` is the last applied, not the latest timestamp,
/// should timestamps ever go backwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candle {
    pub token: Token,
    pub interval: Interval,
    pub start_ns: u64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Qty,
    pub turnover: i64,
    pub trades: u64,
}

impl Candle {
    pub fn vwap(&self) -> Price {
        vwap(self.turnover, self.volume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vwap_rounds_half_up() {
        assert_eq!(vwap(0, 0), 0);
        assert_eq!(vwap(300, 3), 100);
        assert_eq!(vwap(301, 2), 151); // 150.5 -> 151
        assert_eq!(vwap(302, 3), 101); // 100.67 -> 101
        assert_eq!(vwap(301, 3), 100); // 100.33 -> 100
        assert_eq!(vwap(i64::MAX, 1), i64::MAX);
    }

    #[test]
    fn candles_align() {
        // 2024-01-15 09:17:42.5 IST = 03:47:42.5 UTC.
        let ts = 1_705_290_462_500_000_000;
        let at = |h: u64, m: u64| 1_705_276_800_000_000_000 - IST_OFFSET_NS + (h * 3600 + m * 60) * NS_PER_SEC;
        assert_eq!(Interval::M1.start_of(ts), at(9, 17));
        assert_eq!(Interval::M5.start_of(ts), at(9, 15));
        assert_eq!(Interval::M15.start_of(ts), at(9, 15));
        assert_eq!(Interval::Day.start_of(ts), at(0, 0));
        // IST midnight is 18:30 UTC the day before.
        assert_eq!(ist_day_start(at(0, 0)), at(0, 0));
        assert_eq!(ist_day_start(at(0, 0) - 1), at(0, 0) - DAY_NS);
        assert_eq!(ist_day_start(at(23, 59)), at(0, 0));
        assert_eq!(Interval::parse("15m"), Some(Interval::M15));
        assert_eq!(Interval::parse("2m"), None);
    }
}
