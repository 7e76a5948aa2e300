//! Events: the only output of the state machine. Every outcome of a command is one or more events.

use crate::command::{AccountLimits, CommandKind, FeeSchedule, InstrumentSpec};
use crate::types::{
    AccountId, AccountStatus, InstrumentStatus, OrderId, OrderType, Price, Product, Qty, Side, Token, Validity,
};

crate::types::wire_enum!(
    /// Why a command was refused. One code per distinct cause.
    RejectReason {
        UnknownInstrument = 1,
        DuplicateInstrument = 2,
        InstrumentTableFull = 3,
        InvalidInstrumentSpec = 4,
        /// The band spans more price levels than `Limits::levels_per_book_max`.
        BandTooWide = 5,
        SessionClosed = 6,
        SessionAlreadyOpen = 7,
        InstrumentHalted = 8,
        InstrumentNotHalted = 9,
        UnknownAccount = 10,
        DuplicateAccount = 11,
        AccountIdOutOfRange = 12,
        AccountNotActive = 13,
        AccountStatusUnchanged = 14,
        InvalidAmount = 15,
        InsufficientFunds = 16,
        InsufficientHoldings = 17,
        InvalidQuantity = 18,
        LotSizeViolation = 19,
        TickSizeViolation = 20,
        InvalidPrice = 21,
        PriceOutOfBand = 22,
        InvalidTrigger = 23,
        /// A stop whose trigger the last traded price has already reached.
        TriggerAlreadyHit = 24,
        InvalidDisclosedQuantity = 25,
        /// Post-only with MARKET, SL-M, IOC or FOK.
        InvalidOrderCombination = 26,
        PostOnlyWouldCross = 27,
        OrderValueLimitExceeded = 28,
        OpenOrdersLimitExceeded = 29,
        PositionLimitExceeded = 30,
        OrderTableFull = 31,
        PositionTableFull = 32,
        UnknownOrder = 33,
        NotOrderOwner = 34,
        /// New quantity at or below the filled quantity, trigger change on a triggered order, ...
        InvalidModify = 35,
        NothingToModify = 36,
        ValueOverflow = 37,
        InvalidFeeSchedule = 38,
        SessionAlreadyClosed = 39,
        InvalidLimits = 40,
        /// A `Deposit` or `Withdraw` whose non-zero `client_ref` is at or below the last one the
        /// account applied: as a rule, a request sent again after it was applied.
        DuplicateRequest = 41,
    }
);

crate::types::wire_enum!(
    CancelReason {
        User = 1,
        IocRemainder = 2,
        FokUnfilled = 3,
        /// A MARKET order's unfilled part (no more liquidity within the band).
        MarketRemainder = 4,
        SelfTrade = 5,
        Expired = 6,
        MassCancel = 7,
        Halt = 8,
        /// The account was suspended.
        AccountSuspended = 9,
        /// Intraday (MIS) square-off cancelled the order before closing positions.
        SquareOff = 10,
    }
);

crate::types::wire_enum!(
    BalanceReason {
        Deposit = 1,
        Withdrawal = 2,
        /// Cash paid or received for a delivery (CNC) fill.
        TradeSettlement = 3,
        Fee = 4,
        /// An intraday (MIS) position went flat: its realised P&L moves into cash.
        MisSettlement = 5,
        /// Square-off could not close the position in the book; it became delivery.
        MisConversion = 6,
    }
);

crate::types::wire_enum!(
    HoldingsReason { Deposit = 1, Withdrawal = 2, Trade = 3, MisConversion = 4 }
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
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
    pub disclosed: Qty,
    pub post_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    pub trade_id: u64,
    pub token: Token,
    pub price: Price,
    pub qty: Qty,
    /// The side of the incoming (taker) order.
    pub aggressor: Side,
    pub buy_order: OrderId,
    pub sell_order: OrderId,
    pub buy_account: AccountId,
    pub sell_account: AccountId,
    pub buy_product: Product,
    pub sell_product: Product,
    pub buy_fee: i64,
    pub sell_fee: i64,
    /// Quantity still open on each order after this fill.
    pub buy_remaining: Qty,
    pub sell_remaining: Qty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new instrument: its full specification and the circuit band derived from it.
    InstrumentAdded {
        spec: InstrumentSpec,
        band_low: Price,
        band_high: Price,
    },
    SessionOpened,
    SessionClosed,
    InstrumentStatusChanged {
        token: Token,
        status: InstrumentStatus,
    },
    AccountCreated {
        account: AccountId,
        limits: AccountLimits,
    },
    AccountLimitsSet {
        account: AccountId,
        limits: AccountLimits,
    },
    AccountStatusChanged {
        account: AccountId,
        status: AccountStatus,
    },
    FeeScheduleSet(FeeSchedule),
    /// A command was refused. `order_id` is set for modify and cancel; `client_ref` echoes the caller's.
    Rejected {
        kind: CommandKind,
        reason: RejectReason,
        client_ref: u64,
        account: AccountId,
        order_id: OrderId,
    },
    Accepted(Accepted),
    /// A stop order's trigger was reached; it now works as LIMIT (SL) or MARKET (SL-M).
    Triggered {
        order_id: OrderId,
        token: Token,
        last_price: Price,
    },
    Trade(Trade),
    Modified {
        order_id: OrderId,
        client_ref: u64,
        account: AccountId,
        price: Price,
        qty: Qty,
        trigger: Price,
        remaining: Qty,
        /// False when the change (price, or a larger quantity) sent the order to the back of the queue.
        priority_kept: bool,
    },
    Cancelled {
        order_id: OrderId,
        account: AccountId,
        token: Token,
        remaining: Qty,
        reason: CancelReason,
    },
    /// The account's cash changed by `delta` to `cash` (paise). `client_ref` echoes the
    /// `Deposit` or `Withdraw` command's for reasons `Deposit` and `Withdrawal`, and is 0 for
    /// every other reason.
    BalanceChanged {
        account: AccountId,
        delta: i64,
        cash: i64,
        reason: BalanceReason,
        client_ref: u64,
    },
    /// Delivery (CNC) holdings changed by `delta` to `holdings` (shares).
    HoldingsChanged {
        account: AccountId,
        token: Token,
        delta: Qty,
        holdings: Qty,
        reason: HoldingsReason,
    },
    /// Aggregate of one price level after a change: visible quantity and order count (0, 0 = gone).
    BookLevel {
        token: Token,
        side: Side,
        price: Price,
        qty: Qty,
        orders: u32,
    },
    /// The account's blocked cash after a command changed it: `reserved` by open orders,
    /// `margin` by open MIS positions (paise). Emitted after all other events of the command,
    /// once per account whose values differ from the ones last reported (docs/engine-semantics.md).
    AccountRisk {
        account: AccountId,
        reserved: i64,
        margin: i64,
    },
}

/// Where the state machine writes its events.
pub trait EventSink {
    fn emit(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}

/// Counts events and drops them (benchmarks).
#[derive(Debug, Default)]
pub struct CountingSink {
    pub events: u64,
    pub trades: u64,
    pub rejects: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn emit(&mut self, event: Event) {
        self.events += 1;
        match event {
            Event::Trade(_) => self.trades += 1,
            Event::Rejected { .. } => self.rejects += 1,
            _ => {}
        }
    }
}
