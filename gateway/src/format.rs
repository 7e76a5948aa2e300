//! Kite's JSON shapes and the instruments CSV, from integer records.
//!
//! Each `*Record` is what a service hands the gateway: integers (paise, shares, nanoseconds
//! since the Unix epoch). Each `*_json` function returns a `Serialize` value with Kite's field
//! names and order; rupee amounts are [`Decimal`]s, so the JSON carries exact decimals. Wrap the
//! result with [`crate::envelope::success`].
//!
//! Timestamps are shown in IST (UTC+05:30), as Kite does: `"2024-01-15 09:15:00"`, and
//! candles `"2024-01-15T09:15:00+0530"`.

use std::fmt::Write as _;

use engine_core::{OrderType, Price, Product, Qty, Side, Token, Validity};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::kite::{order_type_str, product_str, side_str, validity_str, Exchange, OrderStatus, Variety};
use crate::money::Decimal;

// ---------------------------------------------------------------------------------------------
// Time

/// IST is UTC + 5:30.
pub const IST_OFFSET_SECS: i64 = 5 * 3600 + 30 * 60;

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn ist_parts(unix_secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let local = unix_secs + IST_OFFSET_SECS;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// `"YYYY-MM-DD HH:MM:SS"` in IST for a Unix time in seconds.
pub fn ist_datetime_secs(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = ist_parts(unix_secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `"YYYY-MM-DD HH:MM:SS"` in IST for an engine timestamp (nanoseconds since the Unix epoch).
pub fn ist_datetime(ts_ns: u64) -> String {
    ist_datetime_secs((ts_ns / 1_000_000_000) as i64)
}

/// `"YYYY-MM-DDTHH:MM:SS+0530"`, the time of a historical candle.
pub fn ist_candle_time(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = ist_parts(unix_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+0530")
}

/// Parses an IST `"YYYY-MM-DD HH:MM:SS"` or `"YYYY-MM-DD"` (midnight), as the historical API's
/// `from` and `to` take them, into Unix seconds. `None` for anything else or an impossible date.
pub fn parse_ist_datetime(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if !(b.len() == 10 || b.len() == 19) || !b.is_ascii() {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<i64> {
        let s = &text[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = if b.len() == 19 {
        if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        (num(11..13)?, num(14..16)?, num(17..19)?)
    } else {
        (0, 0, 0)
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - IST_OFFSET_SECS)
}

// ---------------------------------------------------------------------------------------------
// Orders and trades

/// An order as the order store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord<'a> {
    /// The broker's order id (shown as a string).
    pub order_id: u64,
    /// The engine's order id; `None` for an order that never reached it (rejected at the edge).
    pub exchange_order_id: Option<u64>,
    pub placed_by: &'a str,
    pub status: OrderStatus,
    /// Why it was rejected (or other detail); `None` otherwise.
    pub status_message: Option<&'a str>,
    pub variety: Variety,
    pub exchange: Exchange,
    pub tradingsymbol: &'a str,
    pub instrument_token: Token,
    pub order_type: OrderType,
    pub side: Side,
    pub validity: Validity,
    pub product: Product,
    pub quantity: Qty,
    pub disclosed_quantity: Qty,
    pub price: Price,
    pub trigger_price: Price,
    pub filled_quantity: Qty,
    /// Sum of fill quantity × fill price, paise: the average price is this over the filled quantity.
    pub filled_value: i128,
    pub cancelled_quantity: Qty,
    pub order_timestamp_ns: u64,
    pub exchange_timestamp_ns: Option<u64>,
    pub exchange_update_timestamp_ns: Option<u64>,
    pub modified: bool,
    pub tag: Option<&'a str>,
    pub guid: Option<&'a str>,
}

/// Kite's order object (`GET /orders`, `GET /orders/:id`, WebSocket order updates).
#[derive(Clone, Debug, Serialize)]
pub struct OrderJson<'a> {
    pub placed_by: &'a str,
    pub order_id: String,
    pub exchange_order_id: Option<String>,
    pub parent_order_id: Option<String>,
    pub status: &'static str,
    pub status_message: Option<&'a str>,
    pub status_message_raw: Option<&'a str>,
    pub order_timestamp: String,
    pub exchange_update_timestamp: Option<String>,
    pub exchange_timestamp: Option<String>,
    pub variety: &'static str,
    pub modified: bool,
    pub exchange: &'static str,
    pub tradingsymbol: &'a str,
    pub instrument_token: Token,
    pub order_type: &'static str,
    pub transaction_type: &'static str,
    pub validity: &'static str,
    pub validity_ttl: i64,
    pub product: &'static str,
    pub quantity: Qty,
    pub disclosed_quantity: Qty,
    pub price: Decimal,
    pub trigger_price: Decimal,
    pub average_price: Decimal,
    pub filled_quantity: Qty,
    pub pending_quantity: Qty,
    pub cancelled_quantity: Qty,
    pub market_protection: i64,
    pub meta: EmptyObject,
    pub tag: Option<&'a str>,
    pub tags: Vec<&'a str>,
    pub guid: Option<&'a str>,
}

/// `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

pub fn order_json<'a>(o: &OrderRecord<'a>) -> OrderJson<'a> {
    let pending = match o.status {
        OrderStatus::Open | OrderStatus::TriggerPending => {
            (o.quantity - o.filled_quantity - o.cancelled_quantity).max(0)
        }
        OrderStatus::Complete | OrderStatus::Cancelled | OrderStatus::Rejected => 0,
    };
    OrderJson {
        placed_by: o.placed_by,
        order_id: o.order_id.to_string(),
        exchange_order_id: o.exchange_order_id.map(|id| id.to_string()),
        parent_order_id: None,
        status: o.status.as_str(),
        status_message: o.status_message,
        status_message_raw: o.status_message,
        order_timestamp: ist_datetime(o.order_timestamp_ns),
        exchange_update_timestamp: o.exchange_update_timestamp_ns.map(ist_datetime),
        exchange_timestamp: o.exchange_timestamp_ns.map(ist_datetime),
        variety: o.variety.as_str(),
        modified: o.modified,
        exchange: o.exchange.as_str(),
        tradingsymbol: o.tradingsymbol,
        instrument_token: o.instrument_token,
        order_type: order_type_str(o.order_type),
        transaction_type: side_str(o.side),
        validity: validity_str(o.validity),
        validity_ttl: 0,
        product: product_str(o.product),
        quantity: o.quantity,
        disclosed_quantity: o.disclosed_quantity,
        price: Decimal::paise(o.price),
        trigger_price: Decimal::paise(o.trigger_price),
        average_price: Decimal::average(o.filled_value, o.filled_quantity),
        filled_quantity: o.filled_quantity,
        pending_quantity: pending,
        cancelled_quantity: o.cancelled_quantity,
        market_protection: 0,
        meta: EmptyObject,
        tag: o.tag,
        tags: o.tag.into_iter().collect(),
        guid: o.guid,
    }
}

/// `{"order_id":"..."}`, the answer to place, modify and cancel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderIdJson {
    pub order_id: String,
}

pub fn order_id_json(order_id: u64) -> OrderIdJson {
    OrderIdJson { order_id: order_id.to_string() }
}

/// One fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRecord<'a> {
    pub trade_id: u64,
    pub order_id: u64,
    pub exchange_order_id: Option<u64>,
    pub exchange: Exchange,
    pub tradingsymbol: &'a str,
    pub instrument_token: Token,
    pub product: Product,
    pub side: Side,
    pub quantity: Qty,
    pub price: Price,
    pub fill_timestamp_ns: u64,
    pub order_timestamp_ns: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TradeJson<'a> {
    pub trade_id: String,
    pub order_id: String,
    pub exchange: &'static str,
    pub tradingsymbol: &'a str,
    pub instrument_token: Token,
    pub product: &'static str,
    pub average_price: Decimal,
    pub quantity: Qty,
    pub exchange_order_id: Option<String>,
    pub transaction_type: &'static str,
    pub fill_timestamp: String,
    pub order_timestamp: String,
    pub exchange_timestamp: String,
}

pub fn trade_json<'a>(t: &TradeRecord<'a>) -> TradeJson<'a> {
    TradeJson {
        trade_id: t.trade_id.to_string(),
        order_id: t.order_id.to_string(),
        exchange: t.exchange.as_str(),
        tradingsymbol: t.tradingsymbol,
        instrument_token: t.instrument_token,
        product: product_str(t.product),
        average_price: Decimal::paise(t.price),
        quantity: t.quantity,
        exchange_order_id: t.exchange_order_id.map(|id| id.to_string()),
        transaction_type: side_str(t.side),
        fill_timestamp: ist_datetime(t.fill_timestamp_ns),
        order_timestamp: ist_datetime(t.order_timestamp_ns),
        exchange_timestamp: ist_datetime(t.fill_timestamp_ns),
    }
}

// ---------------------------------------------------------------------------------------------
// Portfolio

/// One position (net: overnight included; day: today's trades only), from the portfolio service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionRecord<'a> {
    pub tradingsymbol: &'a str,
    pub exchange: Exchange,
    pub instrument_token: Token,
    pub product: Product,
    /// Net quantity (positive long, negative short).
    pub quantity: Qty,
    pub overnight_quantity: Qty,
    pub average_price: Decimal,
    pub last_price: Price,
    pub close_price: Price,
    pub buy_quantity: Qty,
    /// Paise.
    pub buy_value: i64,
    pub sell_quantity: Qty,
    pub sell_value: i64,
    pub day_buy_quantity: Qty,
    pub day_buy_value: i64,
    pub day_sell_quantity: Qty,
    pub day_sell_value: i64,
    pub realised: i64,
    pub unrealised: i64,
    pub m2m: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PositionJson<'a> {
    pub tradingsymbol: &'a str,
    pub exchange: &'static str,
    pub instrument_token: Token,
    pub product: &'static str,
    pub quantity: Qty,
    pub overnight_quantity: Qty,
    pub multiplier: i64,
    pub average_price: Decimal,
    pub close_price: Decimal,
    pub last_price: Decimal,
    pub value: Decimal,
    pub pnl: Decimal,
    pub m2m: Decimal,
    pub unrealised: Decimal,
    pub realised: Decimal,
    pub buy_quantity: Qty,
    pub buy_price: Decimal,
    pub buy_value: Decimal,
    pub buy_m2m: Decimal,
    pub sell_quantity: Qty,
    pub sell_price: Decimal,
    pub sell_value: Decimal,
    pub sell_m2m: Decimal,
    pub day_buy_quantity: Qty,
    pub day_buy_price: Decimal,
    pub day_buy_value: Decimal,
    pub day_sell_quantity: Qty,
    pub day_sell_price: Decimal,
    pub day_sell_value: Decimal,
}

/// Kite's position: `value = sell_value - buy_value`, `pnl = value + quantity × last_price`,
/// buy/sell prices are value over quantity.
pub fn position_json<'a>(p: &PositionRecord<'a>) -> PositionJson<'a> {
    let value = i128::from(p.sell_value) - i128::from(p.buy_value);
    let pnl = value + i128::from(p.quantity) * i128::from(p.last_price);
    PositionJson {
        tradingsymbol: p.tradingsymbol,
        exchange: p.exchange.as_str(),
        instrument_token: p.instrument_token,
        product: product_str(p.product),
        quantity: p.quantity,
        overnight_quantity: p.overnight_quantity,
        multiplier: 1,
        average_price: p.average_price,
        close_price: Decimal::paise(p.close_price),
        last_price: Decimal::paise(p.last_price),
        value: Decimal::new(value, 2),
        pnl: Decimal::new(pnl, 2),
        m2m: Decimal::paise(p.m2m),
        unrealised: Decimal::paise(p.unrealised),
        realised: Decimal::paise(p.realised),
        buy_quantity: p.buy_quantity,
        buy_price: Decimal::average(i128::from(p.buy_value), p.buy_quantity),
        buy_value: Decimal::paise(p.buy_value),
        buy_m2m: Decimal::paise(p.buy_value),
        sell_quantity: p.sell_quantity,
        sell_price: Decimal::average(i128::from(p.sell_value), p.sell_quantity),
        sell_value: Decimal::paise(p.sell_value),
        sell_m2m: Decimal::paise(p.sell_value),
        day_buy_quantity: p.day_buy_quantity,
        day_buy_price: Decimal::average(i128::from(p.day_buy_value), p.day_buy_quantity),
        day_buy_value: Decimal::paise(p.day_buy_value),
        day_sell_quantity: p.day_sell_quantity,
        day_sell_price: Decimal::average(i128::from(p.day_sell_value), p.day_sell_quantity),
        day_sell_value: Decimal::paise(p.day_sell_value),
    }
}

/// `{"net":[...],"day":[...]}` of `GET /portfolio/positions`.
#[derive(Clone, Debug, Serialize)]
pub struct PositionsJson<'a> {
    pub net: Vec<PositionJson<'a>>,
    pub day: Vec<PositionJson<'a>>,
}

pub fn positions_json<'a>(net: &[PositionRecord<'a>], day: &[PositionRecord<'a>]) -> PositionsJson<'a> {
    PositionsJson { net: net.iter().map(position_json).collect(), day: day.iter().map(position_json).collect() }
}

/// One delivery holding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldingRecord<'a> {
    pub tradingsymbol: &'a str,
    pub exchange: Exchange,
    pub instrument_token: Token,
    pub isin: &'a str,
    /// Shares held (settled: the engine delivers on the fill).
    pub quantity: Qty,
    pub t1_quantity: Qty,
    /// Held at the start of the day.
    pub opening_quantity: Qty,
    /// Sold today.
    pub used_quantity: Qty,
    /// What the held shares cost, paise: the average price is this over the quantity.
    pub cost_value: i128,
    pub last_price: Price,
    pub close_price: Price,
}

#[derive(Clone, Debug, Serialize)]
pub struct HoldingJson<'a> {
    pub tradingsymbol: &'a str,
    pub exchange: &'static str,
    pub instrument_token: Token,
    pub isin: &'a str,
    pub product: &'static str,
    pub price: i64,
    pub quantity: Qty,
    pub used_quantity: Qty,
    pub t1_quantity: Qty,
    pub realised_quantity: Qty,
    pub authorised_quantity: Qty,
    pub opening_quantity: Qty,
    pub collateral_quantity: Qty,
    pub collateral_type: &'static str,
    pub discrepancy: bool,
    pub average_price: Decimal,
    pub last_price: Decimal,
    pub close_price: Decimal,
    pub pnl: Decimal,
    pub day_change: Decimal,
    pub day_change_percentage: Decimal,
}

/// Kite's holding: `pnl = (quantity + t1_quantity) × last_price − cost`,
/// `day_change = last_price − close_price`, its percentage of the close to 4 decimals.
pub fn holding_json<'a>(h: &HoldingRecord<'a>) -> HoldingJson<'a> {
    let held = h.quantity + h.t1_quantity;
    let pnl = i128::from(held) * i128::from(h.last_price) - h.cost_value;
    let change = i128::from(h.last_price) - i128::from(h.close_price);
    HoldingJson {
        tradingsymbol: h.tradingsymbol,
        exchange: h.exchange.as_str(),
        instrument_token: h.instrument_token,
        isin: h.isin,
        product: "CNC",
        price: 0,
        quantity: h.quantity,
        used_quantity: h.used_quantity,
        t1_quantity: h.t1_quantity,
        realised_quantity: h.quantity,
        authorised_quantity: 0,
        opening_quantity: h.opening_quantity,
        collateral_quantity: 0,
        collateral_type: "",
        discrepancy: false,
        average_price: Decimal::average(h.cost_value, held),
        last_price: Decimal::paise(h.last_price),
        close_price: Decimal::paise(h.close_price),
        pnl: Decimal::new(pnl, 2),
        day_change: Decimal::new(change, 2),
        day_change_percentage: Decimal::ratio(change * 100, i128::from(h.close_price), 4),
    }
}

/// The equity segment of an account, paise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EquityMargins {
    /// Ledger cash now (deposits, withdrawals and settled trades included).
    pub cash: i64,
    /// Cash at the start of the day.
    pub opening_balance: i64,
    /// Deposited today.
    pub intraday_payin: i64,
    /// Withdrawn today.
    pub payout: i64,
    /// Blocked for open orders (the engine's `reserved`).
    pub blocked: i64,
    /// Blocked for open intraday (MIS) positions (the engine's `margin`).
    pub mis_margin: i64,
    pub m2m_realised: i64,
    pub m2m_unrealised: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AvailableJson {
    pub adhoc_margin: Decimal,
    pub cash: Decimal,
    pub opening_balance: Decimal,
    pub live_balance: Decimal,
    pub collateral: Decimal,
    pub intraday_payin: Decimal,
}

#[derive(Clone, Debug, Serialize)]
pub struct UtilisedJson {
    pub debits: Decimal,
    pub exposure: Decimal,
    pub m2m_realised: Decimal,
    pub m2m_unrealised: Decimal,
    pub option_premium: Decimal,
    pub payout: Decimal,
    pub span: Decimal,
    pub holding_sales: Decimal,
    pub turnover: Decimal,
    pub liquid_collateral: Decimal,
    pub stock_collateral: Decimal,
    pub delivery: Decimal,
}

#[derive(Clone, Debug, Serialize)]
pub struct SegmentMarginsJson {
    pub enabled: bool,
    pub net: Decimal,
    pub available: AvailableJson,
    pub utilised: UtilisedJson,
}

/// One segment (`GET /user/margins/equity`): `utilised.debits = blocked + mis_margin`,
/// `net = available.live_balance = cash − debits` (the engine's `available`).
pub fn segment_margins_json(m: &EquityMargins) -> SegmentMarginsJson {
    let debits = i128::from(m.blocked) + i128::from(m.mis_margin);
    let net = i128::from(m.cash) - debits;
    let zero = Decimal::paise(0);
    SegmentMarginsJson {
        enabled: true,
        net: Decimal::new(net, 2),
        available: AvailableJson {
            adhoc_margin: zero,
            cash: Decimal::paise(m.cash),
            opening_balance: Decimal::paise(m.opening_balance),
            live_balance: Decimal::new(net, 2),
            collateral: zero,
            intraday_payin: Decimal::paise(m.intraday_payin),
        },
        utilised: UtilisedJson {
            debits: Decimal::new(debits, 2),
            exposure: Decimal::paise(m.mis_margin),
            m2m_realised: Decimal::paise(m.m2m_realised),
            m2m_unrealised: Decimal::paise(m.m2m_unrealised),
            option_premium: zero,
            payout: Decimal::paise(m.payout),
            span: zero,
            holding_sales: zero,
            turnover: zero,
            liquid_collateral: zero,
            stock_collateral: zero,
            delivery: zero,
        },
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MarginsJson {
    pub equity: SegmentMarginsJson,
    pub commodity: SegmentMarginsJson,
}

/// `GET /user/margins`: the equity segment, and a disabled, empty commodity segment.
pub fn margins_json(equity: &EquityMargins) -> MarginsJson {
    let mut commodity = segment_margins_json(&EquityMargins::default());
    commodity.enabled = false;
    MarginsJson { equity: segment_margins_json(equity), commodity }
}

// ---------------------------------------------------------------------------------------------
// Market data

/// One level of market depth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthLevel {
    pub price: Price,
    pub quantity: Qty,
    pub orders: u32,
}

/// A full quote, from the market data service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuoteRecord {
    pub instrument_token: Token,
    pub timestamp_ns: u64,
    pub last_trade_time_ns: Option<u64>,
    pub last_price: Price,
    pub last_quantity: Qty,
    /// Shares traded today.
    pub volume: i64,
    /// Today's VWAP.
    pub average_price: Decimal,
    /// Total resting bid and ask quantity.
    pub buy_quantity: Qty,
    pub sell_quantity: Qty,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    /// Previous close.
    pub close: Price,
    pub lower_circuit_limit: Price,
    pub upper_circuit_limit: Price,
    /// Best first; more than 5 are cut, fewer are padded with zero levels.
    pub bids: Vec<DepthLevel>,
    pub asks: Vec<DepthLevel>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct OhlcJson {
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct DepthLevelJson {
    pub price: Decimal,
    pub quantity: Qty,
    pub orders: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct DepthJson {
    pub buy: Vec<DepthLevelJson>,
    pub sell: Vec<DepthLevelJson>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuoteJson {
    pub instrument_token: Token,
    pub timestamp: String,
    pub last_trade_time: Option<String>,
    pub last_price: Decimal,
    pub last_quantity: Qty,
    pub buy_quantity: Qty,
    pub sell_quantity: Qty,
    pub volume: i64,
    pub average_price: Decimal,
    pub oi: i64,
    pub oi_day_high: i64,
    pub oi_day_low: i64,
    pub net_change: Decimal,
    pub lower_circuit_limit: Decimal,
    pub upper_circuit_limit: Decimal,
    pub ohlc: OhlcJson,
    pub depth: DepthJson,
}

/// Levels per side in Kite's quote and full-mode tick.
pub const DEPTH_LEVELS: usize = 5;

fn depth_side(levels: &[DepthLevel]) -> Vec<DepthLevelJson> {
    (0..DEPTH_LEVELS)
        .map(|i| {
            let l = levels.get(i).copied().unwrap_or_default();
            DepthLevelJson { price: Decimal::paise(l.price), quantity: l.quantity, orders: l.orders }
        })
        .collect()
}

fn ohlc(q: &QuoteRecord) -> OhlcJson {
    OhlcJson {
        open: Decimal::paise(q.open),
        high: Decimal::paise(q.high),
        low: Decimal::paise(q.low),
        close: Decimal::paise(q.close),
    }
}

pub fn quote_json(q: &QuoteRecord) -> QuoteJson {
    QuoteJson {
        instrument_token: q.instrument_token,
        timestamp: ist_datetime(q.timestamp_ns),
        last_trade_time: q.last_trade_time_ns.map(ist_datetime),
        last_price: Decimal::paise(q.last_price),
        last_quantity: q.last_quantity,
        buy_quantity: q.buy_quantity,
        sell_quantity: q.sell_quantity,
        volume: q.volume,
        average_price: q.average_price,
        oi: 0,
        oi_day_high: 0,
        oi_day_low: 0,
        net_change: Decimal::new(i128::from(q.last_price) - i128::from(q.close), 2),
        lower_circuit_limit: Decimal::paise(q.lower_circuit_limit),
        upper_circuit_limit: Decimal::paise(q.upper_circuit_limit),
        ohlc: ohlc(q),
        depth: DepthJson { buy: depth_side(&q.bids), sell: depth_side(&q.asks) },
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct OhlcQuoteJson {
    pub instrument_token: Token,
    pub last_price: Decimal,
    pub ohlc: OhlcJson,
}

pub fn ohlc_json(q: &QuoteRecord) -> OhlcQuoteJson {
    OhlcQuoteJson { instrument_token: q.instrument_token, last_price: Decimal::paise(q.last_price), ohlc: ohlc(q) }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct LtpJson {
    pub instrument_token: Token,
    pub last_price: Decimal,
}

pub fn ltp_json(q: &QuoteRecord) -> LtpJson {
    LtpJson { instrument_token: q.instrument_token, last_price: Decimal::paise(q.last_price) }
}

/// A JSON object keyed by instrument (`"NSE:INFY"`), in the order given: the `data` of
/// `/quote`, `/quote/ohlc` and `/quote/ltp`. A key given twice is written once (the first).
#[derive(Clone, Debug)]
pub struct KeyedMap<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for KeyedMap<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in &self.0 {
            if seen.insert(k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// The key Kite uses for an instrument: `"NSE:INFY"`.
pub fn instrument_key(exchange: Exchange, tradingsymbol: &str) -> String {
    format!("{}:{}", exchange.as_str(), tradingsymbol)
}

/// Splits `"NSE:INFY"` (the `i` parameter of the quote routes) into exchange and symbol.
pub fn parse_instrument_key(key: &str) -> Option<(Exchange, &str)> {
    let (exchange, symbol) = key.split_once(':')?;
    if symbol.is_empty() {
        return None;
    }
    Some((Exchange::parse(exchange)?, symbol))
}

// ---------------------------------------------------------------------------------------------
// Instruments CSV

/// The header of `GET /instruments`.
pub const INSTRUMENTS_CSV_HEADER: &str =
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange";

/// One row of the instruments dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentRow<'a> {
    pub instrument_token: Token,
    pub tradingsymbol: &'a str,
    /// Company name.
    pub name: &'a str,
    pub last_price: Price,
    /// Tick size, paise.
    pub tick: Price,
    pub lot: Qty,
    /// `EQ` for equities.
    pub instrument_type: &'a str,
    pub exchange: Exchange,
}

fn csv_cell(text: &str, out: &mut String) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The CSV body of `GET /instruments` (`text/csv`): the header, then one line per row. Equities
/// have no expiry (empty) and strike 0; the segment of an equity is its exchange's name.
pub fn instruments_csv(rows: &[InstrumentRow<'_>]) -> String {
    let mut out = String::with_capacity(INSTRUMENTS_CSV_HEADER.len() + 1 + rows.len() * 64);
    out.push_str(INSTRUMENTS_CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = write!(out, "{},{},", r.instrument_token, crate::kite::exchange_token(r.instrument_token));
        csv_cell(r.tradingsymbol, &mut out);
        out.push(',');
        csv_cell(r.name, &mut out);
        let _ = write!(out, ",{},,0,{},{},", Decimal::paise(r.last_price), Decimal::paise(r.tick), r.lot);
        csv_cell(r.instrument_type, &mut out);
        let _ = writeln!(out, ",{},{}", r.exchange.as_str(), r.exchange.as_str());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Historical candles

/// One candle: its start time (Unix seconds) and prices in paise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candle {
    pub start_secs: i64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: i64,
    /// Open interest, when the client asked for `oi=1`.
    pub oi: Option<i64>,
}

/// A candle as Kite writes it: `["2024-01-15T09:15:00+0530", open, high, low, close, volume(, oi)]`.
#[derive(Clone, Copy, Debug)]
pub struct CandleJson(pub Candle);

impl Serialize for CandleJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = &self.0;
        let mut seq = serializer.serialize_seq(Some(if c.oi.is_some() { 7 } else { 6 }))?;
        seq.serialize_element(&ist_candle_time(c.start_secs))?;
        seq.serialize_element(&Decimal::paise(c.open))?;
        seq.serialize_element(&Decimal::paise(c.high))?;
        seq.serialize_element(&Decimal::paise(c.low))?;
        seq.serialize_element(&Decimal::paise(c.close))?;
        seq.serialize_element(&c.volume)?;
        if let Some(oi) = c.oi {
            seq.serialize_element(&oi)?;
        }
        seq.end()
    }
}

/// `{"candles":[[...],...]}`, the `data` of `GET /instruments/historical/:token/:interval`.
#[derive(Clone, Debug, Serialize)]
pub struct CandlesJson {
    pub candles: Vec<CandleJson>,
}

pub fn candles_json(candles: &[Candle]) -> CandlesJson {
    CandlesJson { candles: candles.iter().copied().map(CandleJson).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::success;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn to_value<T: Serialize>(v: &T) -> Value {
        serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
    }

    /// 2024-01-15 09:15:00 IST = 03:45:00 UTC.
    const T0: i64 = 1_705_290_300;
    const T0_NS: u64 = T0 as u64 * 1_000_000_000;

    #[test]
    fn ist_times() {
        assert_eq!(ist_datetime_secs(0), "1970-01-01 05:30:00");
        assert_eq!(ist_datetime_secs(T0), "2024-01-15 09:15:00");
        assert_eq!(ist_datetime(T0_NS + 999_999_999), "2024-01-15 09:15:00");
        assert_eq!(ist_candle_time(T0), "2024-01-15T09:15:00+0530");
        // Crosses midnight and a leap day in IST, not in UTC.
        assert_eq!(ist_datetime_secs(1_709_149_500), "2024-02-29 01:15:00");
        assert_eq!(ist_datetime_secs(-19_800), "1970-01-01 00:00:00");
        assert_eq!(parse_ist_datetime("2024-01-15 09:15:00"), Some(T0));
        assert_eq!(parse_ist_datetime("2024-01-15"), Some(T0 - 9 * 3600 - 15 * 60));
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-01-15 24:00:00",
            "2024-1-15",
            "2024-01-15T09:15:00",
            "",
            "२०२४-01-15",
        ] {
            assert_eq!(parse_ist_datetime(bad), None, "{bad}");
        }
        assert_eq!(parse_ist_datetime("2024-02-29 00:00:00"), Some(1_709_145_000));
    }

    proptest! {
        #[test]
        fn ist_round_trips(secs in 0i64..8_000_000_000) {
            prop_assert_eq!(parse_ist_datetime(&ist_datetime_secs(secs)), Some(secs));
        }

        #[test]
        fn parse_ist_never_panics(text in "\\PC{0,20}") {
            let _ = parse_ist_datetime(&text);
        }
    }

    fn order() -> OrderRecord<'static> {
        OrderRecord {
            order_id: 240115000000001,
            exchange_order_id: Some(17),
            placed_by: "AB1234",
            status: OrderStatus::Open,
            status_message: None,
            variety: Variety::Regular,
            exchange: Exchange::Nse,
            tradingsymbol: "INFY",
            instrument_token: 408065,
            order_type: OrderType::Limit,
            side: Side::Buy,
            validity: Validity::Day,
            product: Product::Cnc,
            quantity: 10,
            disclosed_quantity: 0,
            price: 152250,
            trigger_price: 0,
            filled_quantity: 3,
            filled_value: 3 * 152205,
            cancelled_quantity: 0,
            order_timestamp_ns: T0_NS,
            exchange_timestamp_ns: Some(T0_NS),
            exchange_update_timestamp_ns: Some(T0_NS + 5_000_000_000),
            modified: false,
            tag: Some("t1"),
            guid: None,
        }
    }

    #[test]
    fn order_shape() {
        let v = to_value(&order_json(&order()));
        assert_eq!(v["order_id"], "240115000000001");
        assert_eq!(v["exchange_order_id"], "17");
        assert_eq!(v["parent_order_id"], Value::Null);
        assert_eq!(v["status"], "OPEN");
        assert_eq!(v["order_timestamp"], "2024-01-15 09:15:00");
        assert_eq!(v["exchange_update_timestamp"], "2024-01-15 09:15:05");
        assert_eq!(v["transaction_type"], "BUY");
        assert_eq!(v["order_type"], "LIMIT");
        assert_eq!(v["product"], "CNC");
        assert_eq!(v["validity"], "DAY");
        assert_eq!(v["variety"], "regular");
        assert_eq!(v["price"], json!(1522.5));
        assert_eq!(v["average_price"], json!(1522.05));
        assert_eq!(v["filled_quantity"], 3);
        assert_eq!(v["pending_quantity"], 7);
        assert_eq!(v["cancelled_quantity"], 0);
        assert_eq!(v["tags"], json!(["t1"]));
        assert_eq!(v["meta"], json!({}));
        let text = serde_json::to_string(&order_json(&order())).unwrap();
        assert!(text.contains(r#""price":1522.5,"trigger_price":0,"average_price":1522.05,"#), "{text}");

        let mut rejected = order();
        rejected.status = OrderStatus::Rejected;
        rejected.status_message = Some("Insufficient funds.");
        rejected.exchange_order_id = None;
        rejected.filled_quantity = 0;
        rejected.filled_value = 0;
        let v = to_value(&order_json(&rejected));
        assert_eq!((v["pending_quantity"].clone(), v["average_price"].clone()), (json!(0), json!(0)));
        assert_eq!(v["status_message"], "Insufficient funds.");
        assert_eq!(v["exchange_order_id"], Value::Null);

        let mut stop = order();
        stop.status = OrderStatus::TriggerPending;
        stop.order_type = OrderType::StopMarket;
        stop.price = 0;
        stop.trigger_price = 152000;
        let v = to_value(&order_json(&stop));
        assert_eq!(
            (v["status"].clone(), v["order_type"].clone(), v["trigger_price"].clone()),
            (json!("TRIGGER PENDING"), json!("SL-M"), json!(1520))
        );

        assert_eq!(success(&order_id_json(5)).unwrap(), r#"{"status":"success","data":{"order_id":"5"}}"#);
    }

    #[test]
    fn trade_shape() {
        let t = TradeRecord {
            trade_id: 9,
            order_id: 240115000000001,
            exchange_order_id: Some(17),
            exchange: Exchange::Nse,
            tradingsymbol: "INFY",
            instrument_token: 408065,
            product: Product::Mis,
            side: Side::Sell,
            quantity: 3,
            price: 152205,
            fill_timestamp_ns: T0_NS + 60_000_000_000,
            order_timestamp_ns: T0_NS,
        };
        let v = to_value(&trade_json(&t));
        assert_eq!(v["trade_id"], "9");
        assert_eq!(v["average_price"], json!(1522.05));
        assert_eq!(v["transaction_type"], "SELL");
        assert_eq!(v["product"], "MIS");
        assert_eq!(v["fill_timestamp"], "2024-01-15 09:16:00");
    }

    #[test]
    fn position_shape() {
        let p = PositionRecord {
            tradingsymbol: "INFY",
            exchange: Exchange::Nse,
            instrument_token: 408065,
            product: Product::Mis,
            quantity: 5,
            overnight_quantity: 0,
            average_price: Decimal::average(15 * 150000, 15),
            last_price: 151000,
            close_price: 149000,
            buy_quantity: 15,
            buy_value: 15 * 150000,
            sell_quantity: 10,
            sell_value: 10 * 150500,
            day_buy_quantity: 15,
            day_buy_value: 15 * 150000,
            day_sell_quantity: 10,
            day_sell_value: 10 * 150500,
            realised: 5000,
            unrealised: 5000,
            m2m: 10000,
        };
        let v = to_value(&positions_json(std::slice::from_ref(&p), std::slice::from_ref(&p)));
        let n = &v["net"][0];
        assert_eq!(n["quantity"], 5);
        assert_eq!(n["value"], json!(-7450));
        // pnl = value + quantity × last = -7450 + 5 × 1510 = 100
        assert_eq!(n["pnl"], json!(100));
        assert_eq!(n["buy_price"], json!(1500));
        assert_eq!(n["sell_price"], json!(1505));
        assert_eq!(n["average_price"], json!(1500));
        assert_eq!(n["realised"], json!(50));
        assert_eq!(v["day"][0]["day_sell_value"], json!(15050));
    }

    #[test]
    fn holding_shape() {
        let h = HoldingRecord {
            tradingsymbol: "IDEA",
            exchange: Exchange::Nse,
            instrument_token: 3677697,
            isin: "INE669E01016",
            quantity: 5,
            t1_quantity: 0,
            opening_quantity: 5,
            used_quantity: 0,
            cost_value: 4233, // 5 shares for ₹42.33: average 8.466
            last_price: 1000,
            close_price: 995,
        };
        let v = to_value(&holding_json(&h));
        assert_eq!(v["average_price"], json!(8.466));
        assert_eq!(v["pnl"], json!(7.67));
        assert_eq!(v["day_change"], json!(0.05));
        assert_eq!(v["day_change_percentage"], json!(0.5025));
        assert_eq!(v["product"], "CNC");
        assert_eq!(v["isin"], "INE669E01016");
    }

    #[test]
    fn margins_shape() {
        let m = EquityMargins {
            cash: 10_000_000,
            opening_balance: 9_000_000,
            intraday_payin: 1_000_000,
            payout: 0,
            blocked: 1_522_500,
            mis_margin: 300_000,
            m2m_realised: 0,
            m2m_unrealised: -12_345,
        };
        let v = to_value(&margins_json(&m));
        let e = &v["equity"];
        assert_eq!(e["enabled"], true);
        assert_eq!(e["available"]["cash"], json!(100000));
        assert_eq!(e["utilised"]["debits"], json!(18225));
        assert_eq!(e["net"], json!(81775));
        assert_eq!(e["available"]["live_balance"], json!(81775));
        assert_eq!(e["utilised"]["m2m_unrealised"], json!(-123.45));
        assert_eq!(v["commodity"]["enabled"], false);
        assert_eq!(v["commodity"]["net"], json!(0));
    }

    #[test]
    fn quote_shapes() {
        let q = QuoteRecord {
            instrument_token: 408065,
            timestamp_ns: T0_NS,
            last_trade_time_ns: Some(T0_NS - 1_000_000_000),
            last_price: 152250,
            last_quantity: 4,
            volume: 1000,
            average_price: Decimal::average(1000 * 152100, 1000),
            buy_quantity: 300,
            sell_quantity: 200,
            open: 151000,
            high: 153000,
            low: 150500,
            close: 150000,
            lower_circuit_limit: 120000,
            upper_circuit_limit: 180000,
            bids: vec![DepthLevel { price: 152200, quantity: 100, orders: 2 }],
            asks: vec![DepthLevel { price: 152300, quantity: 50, orders: 1 }; 7],
        };
        let key = instrument_key(Exchange::Nse, "INFY");
        let full = to_value(&KeyedMap(vec![(key.clone(), quote_json(&q)), (key.clone(), quote_json(&q))]));
        let f = &full["NSE:INFY"];
        assert_eq!(full.as_object().unwrap().len(), 1);
        assert_eq!(f["last_price"], json!(1522.5));
        assert_eq!(f["net_change"], json!(22.5));
        assert_eq!(f["timestamp"], "2024-01-15 09:15:00");
        assert_eq!(f["last_trade_time"], "2024-01-15 09:14:59");
        assert_eq!(f["ohlc"], json!({"open": 1510, "high": 1530, "low": 1505, "close": 1500}));
        assert_eq!(f["depth"]["buy"].as_array().unwrap().len(), 5);
        assert_eq!(f["depth"]["sell"].as_array().unwrap().len(), 5);
        assert_eq!(f["depth"]["buy"][0], json!({"price": 1522, "quantity": 100, "orders": 2}));
        assert_eq!(f["depth"]["buy"][1], json!({"price": 0, "quantity": 0, "orders": 0}));
        assert_eq!(f["upper_circuit_limit"], json!(1800));
        let ohlc = to_value(&KeyedMap(vec![(key.clone(), ohlc_json(&q))]));
        assert_eq!(
            ohlc,
            json!({"NSE:INFY": {"instrument_token": 408065, "last_price": 1522.5, "ohlc": {"open": 1510, "high": 1530, "low": 1505, "close": 1500}}})
        );
        let ltp = serde_json::to_string(&KeyedMap(vec![(key, ltp_json(&q))])).unwrap();
        assert_eq!(ltp, r#"{"NSE:INFY":{"instrument_token":408065,"last_price":1522.5}}"#);
        assert_eq!(parse_instrument_key("NSE:INFY"), Some((Exchange::Nse, "INFY")));
        assert_eq!(parse_instrument_key("NSE:M&M"), Some((Exchange::Nse, "M&M")));
        assert_eq!(parse_instrument_key("NSE:"), None);
        assert_eq!(parse_instrument_key("XX:INFY"), None);
        assert_eq!(parse_instrument_key("INFY"), None);
    }

    #[test]
    fn instruments_csv_shape() {
        let rows = [
            InstrumentRow {
                instrument_token: 408065,
                tradingsymbol: "INFY",
                name: "INFOSYS",
                last_price: 152250,
                tick: 5,
                lot: 1,
                instrument_type: "EQ",
                exchange: Exchange::Nse,
            },
            InstrumentRow {
                instrument_token: 2939649,
                tradingsymbol: "LT",
                name: "LARSEN & TOUBRO, \"L&T\"",
                last_price: 0,
                tick: 10,
                lot: 1,
                instrument_type: "EQ",
                exchange: Exchange::Nse,
            },
        ];
        assert_eq!(
            instruments_csv(&rows),
            "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n\
             408065,1594,INFY,INFOSYS,1522.5,,0,0.05,1,EQ,NSE,NSE\n\
             2939649,11483,LT,\"LARSEN & TOUBRO, \"\"L&T\"\"\",0,,0,0.1,1,EQ,NSE,NSE\n"
        );
    }

    #[test]
    fn candles_shape() {
        let c = [
            Candle { start_secs: T0, open: 170450, high: 170500, low: 169925, close: 170280, volume: 2499, oi: None },
            Candle { start_secs: T0 + 60, open: 1, high: 2, low: 1, close: 2, volume: 0, oi: Some(7) },
        ];
        assert_eq!(
            serde_json::to_string(&candles_json(&c)).unwrap(),
            r#"{"candles":[["2024-01-15T09:15:00+0530",1704.5,1705,1699.25,1702.8,2499],["2024-01-15T09:16:00+0530",0.01,0.02,0.01,0.02,0,7]]}"#
        );
    }
}
