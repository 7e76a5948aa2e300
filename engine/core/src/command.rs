//! Commands: the only input of the state machine. Plain `Copy` data.

use crate::types::{AccountId, OrderId, OrderType, Price, Product, Qty, Side, Symbol, Token, Validity};

/// Static description of a tradable instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    pub token: Token,
    pub symbol: Symbol,
    /// Tick size in paise (5 = 0.05 rupee).
    pub tick: Price,
    /// Lot size in shares; order quantities must be multiples of it.
    pub lot: Qty,
    /// Circuit band half-width in basis points of the reference price (2000 = 20%).
    pub band_bps: u32,
    /// Reference price (previous close) in paise, on the tick grid.
    pub reference_price: Price,
    /// Intraday (MIS) leverage for this instrument, 1 or more.
    pub mis_leverage: u32,
}

/// Per-account exposure limits. Zero means "no limit" for the `_max` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AccountLimits {
    /// Largest notional (qty x price, paise) of one order.
    pub order_value_max: i64,
    /// Largest number of open orders at once.
    pub open_orders_max: u32,
    /// Largest absolute net position (shares) per instrument, open orders included.
    pub position_max: i64,
    /// MIS leverage override for this account; 0 = use the instrument's.
    pub mis_leverage: u32,
}

/// Brokerage schedule: `min(ceil(notional * bps / 10_000), cap)` per fill and side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FeeSchedule {
    pub bps: u32,
    /// Flat cap per fill in paise; 0 = no cap.
    pub cap: i64,
    /// Account that receives every fee.
    pub fee_account: AccountId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Caller's correlation id, echoed in the accepted or rejected event.
    pub client_ref: u64,
    pub account: AccountId,
    pub token: Token,
    pub side: Side,
    pub order_type: OrderType,
    pub validity: Validity,
    pub product: Product,
    /// Limit price (LIMIT, SL); 0 for MARKET and SL-M.
    pub price: Price,
    /// Trigger price (SL, SL-M); 0 otherwise.
    pub trigger: Price,
    pub qty: Qty,
    /// Disclosed (iceberg) quantity; 0 = all of it shows.
    pub disclosed: Qty,
    pub post_only: bool,
}

/// Modify an open order. `qty` is the new total quantity (filled part included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModifyOrder {
    pub client_ref: u64,
    pub account: AccountId,
    pub order_id: OrderId,
    pub price: Price,
    pub qty: Qty,
    pub trigger: Price,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    AddInstrument(InstrumentSpec),
    OpenSession,
    /// Expires DAY orders.
    CloseSession,
    Halt {
        token: Token,
    },
    Resume {
        token: Token,
    },
    CreateAccount {
        account: AccountId,
        limits: AccountLimits,
    },
    SetAccountLimits {
        account: AccountId,
        limits: AccountLimits,
    },
    ActivateAccount {
        account: AccountId,
    },
    SuspendAccount {
        account: AccountId,
    },
    /// Credit cash. A non-zero `client_ref` makes the command idempotent: the engine refuses
    /// (`DuplicateRequest`) a deposit or withdrawal whose `client_ref` is at or below the last
    /// one the account applied. 0 means "no deduplication".
    Deposit {
        client_ref: u64,
        account: AccountId,
        amount: i64,
    },
    /// Debit cash; `client_ref` as for `Deposit` (one sequence per account for both).
    Withdraw {
        client_ref: u64,
        account: AccountId,
        amount: i64,
    },
    /// Credit delivered shares (corporate action, transfer in).
    DepositHoldings {
        account: AccountId,
        token: Token,
        qty: Qty,
    },
    WithdrawHoldings {
        account: AccountId,
        token: Token,
        qty: Qty,
    },
    SetFeeSchedule(FeeSchedule),
    Place(NewOrder),
    Modify(ModifyOrder),
    Cancel {
        client_ref: u64,
        account: AccountId,
        order_id: OrderId,
    },
    MassCancelAccount {
        account: AccountId,
    },
    MassCancelInstrument {
        token: Token,
    },
    /// Closes every open MIS position in the instrument with market orders; what the book
    /// cannot absorb is converted to delivery (CNC).
    SquareOffMis {
        token: Token,
    },
}

impl Command {
    pub fn kind(&self) -> CommandKind {
        match self {
            Command::AddInstrument(_) => CommandKind::AddInstrument,
            Command::OpenSession => CommandKind::OpenSession,
            Command::CloseSession => CommandKind::CloseSession,
            Command::Halt { .. } => CommandKind::Halt,
            Command::Resume { .. } => CommandKind::Resume,
            Command::CreateAccount { .. } => CommandKind::CreateAccount,
            Command::SetAccountLimits { .. } => CommandKind::SetAccountLimits,
            Command::ActivateAccount { .. } => CommandKind::ActivateAccount,
            Command::SuspendAccount { .. } => CommandKind::SuspendAccount,
            Command::Deposit { .. } => CommandKind::Deposit,
            Command::Withdraw { .. } => CommandKind::Withdraw,
            Command::DepositHoldings { .. } => CommandKind::DepositHoldings,
            Command::WithdrawHoldings { .. } => CommandKind::WithdrawHoldings,
            Command::SetFeeSchedule(_) => CommandKind::SetFeeSchedule,
            Command::Place(_) => CommandKind::Place,
            Command::Modify(_) => CommandKind::Modify,
            Command::Cancel { .. } => CommandKind::Cancel,
            Command::MassCancelAccount { .. } => CommandKind::MassCancelAccount,
            Command::MassCancelInstrument { .. } => CommandKind::MassCancelInstrument,
            Command::SquareOffMis { .. } => CommandKind::SquareOffMis,
        }
    }
}

crate::types::wire_enum!(
    /// Which command a rejection answers.
    CommandKind {
        AddInstrument = 1,
        OpenSession = 2,
        CloseSession = 3,
        Halt = 4,
        Resume = 5,
        CreateAccount = 6,
        SetAccountLimits = 7,
        ActivateAccount = 8,
        SuspendAccount = 9,
        Deposit = 10,
        Withdraw = 11,
        DepositHoldings = 12,
        WithdrawHoldings = 13,
        SetFeeSchedule = 14,
        Place = 15,
        Modify = 16,
        Cancel = 17,
        MassCancelAccount = 18,
        MassCancelInstrument = 19,
        SquareOffMis = 20,
    }
);
