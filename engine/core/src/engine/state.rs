//! The engine's tables. Plain data; the behaviour lives in the sibling modules.

use crate::command::AccountLimits;
use crate::types::{
    AccountId, AccountStatus, InstrumentStatus, OrderId, OrderType, Price, Product, Qty, Side, Symbol, Token, Validity,
};

#[derive(Debug, Clone)]
pub(crate) struct Instrument<B> {
    pub token: Token,
    pub symbol: Symbol,
    pub tick: Price,
    pub lot: Qty,
    pub band_bps: u32,
    pub band_low: Price,
    pub band_high: Price,
    pub reference: Price,
    pub mis_leverage: u32,
    pub status: InstrumentStatus,
    pub last_price: Price,
    /// Resting orders keyed by price level.
    pub book: B,
    /// Untriggered stops keyed by trigger level: buy stops on the `Sell` side (lowest trigger
    /// first), sell stops on the `Buy` side (highest first).
    pub stops: B,
}

impl<B> Instrument<B> {
    #[inline]
    pub fn level_of(&self, price: Price) -> u32 {
        ((price - self.band_low) / self.tick) as u32
    }

    #[inline]
    pub fn price_of(&self, level: u32) -> Price {
        self.band_low + level as Price * self.tick
    }

    #[inline]
    pub fn on_grid(&self, price: Price) -> bool {
        price % self.tick == 0
    }

    #[inline]
    pub fn in_band(&self, price: Price) -> bool {
        self.band_low <= price && price <= self.band_high
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Account {
    pub created: bool,
    pub status: AccountStatus,
    pub limits: AccountLimits,
    pub cash: i64,
    pub reserved: i64,
    pub margin: i64,
    pub open_orders: u32,
    /// The last non-zero `client_ref` of a `Deposit` or `Withdraw` the account applied (0: none).
    pub funds_ref: u64,
    /// Set while the account is in the engine's `touched` list (inside one command only; false
    /// between commands, so it is neither snapshotted nor hashed).
    pub touched: bool,
}

impl Account {
    pub const NONE: Account = Account {
        created: false,
        status: AccountStatus::Inactive,
        limits: AccountLimits { order_value_max: 0, open_orders_max: 0, position_max: 0, mis_leverage: 0 },
        cash: 0,
        reserved: 0,
        margin: 0,
        open_orders: 0,
        funds_ref: 0,
        touched: false,
    };

    #[inline]
    pub fn available(&self) -> i64 {
        self.cash - self.reserved - self.margin
    }
}

// The order path reads and writes an account on every fill: keep it within 64 bytes.
const _: () = assert!(core::mem::size_of::<Account>() <= 64);

/// An account a command touched, with its `reserved` and `margin` before the command changed
/// them: the values last reported in `AccountRisk`, since at every command boundary the
/// reported values are the actual ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Touched {
    pub account: AccountId,
    pub reserved: i64,
    pub margin: i64,
}

/// Records, *before* a command changes `account`'s `reserved` or `margin`, that it may: the first
/// time in a command, the account joins `touched` with its current values (capacity
/// `accounts_max`, and each account is in it at most once, so the push never allocates).
#[inline]
pub(crate) fn touch(touched: &mut Vec<Touched>, a: &mut Account, account: AccountId) {
    if !a.touched {
        a.touched = true;
        debug_assert!(touched.len() < touched.capacity());
        touched.push(Touched { account, reserved: a.reserved, margin: a.margin });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub live: bool,
    pub account: AccountId,
    pub instrument: u32,
    pub holdings: Qty,
    pub holdings_reserved: Qty,
    pub mis_qty: Qty,
    pub mis_value: i64,
    pub mis_margin: i64,
    pub open_buy: Qty,
    pub open_sell: Qty,
}

impl Position {
    pub const NONE: Position = Position {
        live: false,
        account: 0,
        instrument: 0,
        holdings: 0,
        holdings_reserved: 0,
        mis_qty: 0,
        mis_value: 0,
        mis_margin: 0,
        open_buy: 0,
        open_sell: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.holdings == 0
            && self.holdings_reserved == 0
            && self.mis_qty == 0
            && self.mis_value == 0
            && self.mis_margin == 0
            && self.open_buy == 0
            && self.open_sell == 0
    }

    #[inline]
    pub fn key(account: AccountId, instrument: u32) -> u64 {
        ((account as u64) << 32) | instrument as u64
    }
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Place {
    Free = 0,
    /// Being matched as a taker (only inside one command).
    Working = 1,
    Book = 2,
    Stop = 3,
}

impl Place {
    pub fn from_u8(v: u8) -> Option<Place> {
        match v {
            0 => Some(Place::Free),
            1 => Some(Place::Working),
            2 => Some(Place::Book),
            3 => Some(Place::Stop),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    pub id: OrderId,
    pub client_ref: u64,
    pub account: AccountId,
    pub instrument: u32,
    /// Position slot (risk on), or `u32::MAX`.
    pub position: u32,
    pub side: Side,
    pub order_type: OrderType,
    pub validity: Validity,
    pub product: Product,
    pub post_only: bool,
    pub triggered: bool,
    pub place: Place,
    pub price: Price,
    pub trigger: Price,
    pub qty: Qty,
    pub filled: Qty,
    pub visible: Qty,
    pub disclosed: Qty,
    pub reserve_per_share: i64,
}

impl Order {
    pub const NONE: Order = Order {
        id: 0,
        client_ref: 0,
        account: 0,
        instrument: 0,
        position: u32::MAX,
        side: Side::Buy,
        order_type: OrderType::Limit,
        validity: Validity::Day,
        product: Product::Cnc,
        post_only: false,
        triggered: false,
        place: Place::Free,
        price: 0,
        trigger: 0,
        qty: 0,
        filled: 0,
        visible: 0,
        disclosed: 0,
        reserve_per_share: 0,
    };

    #[inline]
    pub fn remaining(&self) -> Qty {
        self.qty - self.filled
    }

    /// Trades at any price: MARKET, or SL-M once triggered.
    #[inline]
    pub fn is_market(&self) -> bool {
        matches!(self.order_type, OrderType::Market | OrderType::StopMarket)
    }

    /// Visible part when (re)entering a queue.
    #[inline]
    pub fn display_qty(&self) -> Qty {
        let remaining = self.remaining();
        if self.disclosed > 0 {
            self.disclosed.min(remaining)
        } else {
            remaining
        }
    }
}
