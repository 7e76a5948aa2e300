//! Read-only views of engine state for services, tests and invariant checks.

use crate::command::AccountLimits;
use crate::types::{
    AccountId, AccountStatus, InstrumentStatus, OrderId, OrderType, Price, Product, Qty, Side, Symbol, Token, Validity,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountView {
    pub id: AccountId,
    pub status: AccountStatus,
    pub limits: AccountLimits,
    /// Cash balance (paise). Can go negative only through MIS losses settled at square-off.
    pub cash: i64,
    /// Cash blocked by open orders: the sum of their `reserved_cash`.
    pub reserved: i64,
    /// Cash blocked as margin by open MIS positions.
    pub margin: i64,
    /// `cash - reserved - margin`: what new orders and withdrawals may use.
    pub available: i64,
    pub open_orders: u32,
    /// The last non-zero `client_ref` of a `Deposit` or `Withdraw` the account applied (0: none);
    /// a funds command with a `client_ref` at or below it is a `DuplicateRequest`.
    pub funds_ref: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionView {
    pub account: AccountId,
    pub token: Token,
    /// Delivery (CNC) shares held.
    pub holdings: Qty,
    /// Holdings blocked by open CNC sell orders.
    pub holdings_reserved: Qty,
    /// Net intraday (MIS) quantity, signed.
    pub mis_qty: Qty,
    /// Net cash flow of the open MIS position (sells minus buys, paise); settles into cash when flat.
    pub mis_value: i64,
    /// Margin blocked for the open MIS position.
    pub mis_margin: i64,
    pub open_buy_qty: Qty,
    pub open_sell_qty: Qty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub order_id: OrderId,
    pub client_ref: u64,
    pub account: AccountId,
    pub token: Token,
    pub side: Side,
    pub order_type: OrderType,
    pub validity: Validity,
    pub product: Product,
    pub price: Price,
    pub trigger: Price,
    pub qty: Qty,
    pub filled: Qty,
    pub disclosed: Qty,
    /// The part showing in the book (iceberg); 0 for an untriggered stop.
    pub visible: Qty,
    pub post_only: bool,
    /// True once a stop order has triggered (or for non-stop orders).
    pub triggered: bool,
    /// Cash this order blocks: `remaining * reserve_per_share`.
    pub reserved_cash: i64,
    pub reserve_per_share: i64,
}

impl OrderView {
    pub fn remaining(&self) -> Qty {
        self.qty - self.filled
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentView {
    pub token: Token,
    pub symbol: Symbol,
    pub tick: Price,
    pub lot: Qty,
    pub band_low: Price,
    pub band_high: Price,
    pub reference_price: Price,
    pub mis_leverage: u32,
    pub status: InstrumentStatus,
    /// Last traded price; the reference price until the first trade.
    pub last_price: Price,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LevelView {
    pub price: Price,
    pub qty: Qty,
    pub orders: u32,
}
