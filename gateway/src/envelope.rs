//! Kite's response envelope, its error types and HTTP codes, and engine rejections as Kite errors.
//!
//! Success: `{"status":"success","data":...}`.
//! Error: `{"status":"error","message":"...","error_type":"InputException","data":null}` with the
//! HTTP status of [`ApiError::status`]. The official clients pick the exception class by
//! `error_type` and keep the HTTP status as its `code`.

use core::fmt;

use engine_core::{Price, Qty, RejectReason};
use serde::Serialize;

use crate::money::rupees_string;

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_CSV: &str = "text/csv";

/// Kite's exception names (`error_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// The session expired or is invalid: log in again. 403.
    TokenException,
    /// Account-related errors. 403.
    UserException,
    /// Order placement, modification and cancellation failures. 400.
    OrderException,
    /// Missing or bad parameters. 400.
    InputException,
    /// Not enough funds for the order. 400.
    MarginException,
    /// Not enough holdings to sell. 400.
    HoldingException,
    /// The API could not reach the order management system (503, or 502); rate limits (429).
    NetworkException,
    /// The API could not understand the order management system's answer. 502.
    DataException,
    /// Anything else: should be rare. 500.
    GeneralException,
    /// Not allowed for this user or app. 403.
    PermissionException,
}

impl ErrorType {
    pub const ALL: [ErrorType; 10] = [
        ErrorType::TokenException,
        ErrorType::UserException,
        ErrorType::OrderException,
        ErrorType::InputException,
        ErrorType::MarginException,
        ErrorType::HoldingException,
        ErrorType::NetworkException,
        ErrorType::DataException,
        ErrorType::GeneralException,
        ErrorType::PermissionException,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::TokenException => "TokenException",
            ErrorType::UserException => "UserException",
            ErrorType::OrderException => "OrderException",
            ErrorType::InputException => "InputException",
            ErrorType::MarginException => "MarginException",
            ErrorType::HoldingException => "HoldingException",
            ErrorType::NetworkException => "NetworkException",
            ErrorType::DataException => "DataException",
            ErrorType::GeneralException => "GeneralException",
            ErrorType::PermissionException => "PermissionException",
        }
    }

    /// The HTTP status Kite sends with this exception by default.
    ///
    /// Token and permission errors are 403 and input errors 400, as Kite documents; data 502,
    /// network 503 and general 500 are the official Python client's defaults for them. Order,
    /// margin and holding errors are refusals of what the client asked for, not server faults,
    /// so they are 400 (the Python client reports whatever status the server sends); user
    /// (account) errors are 403.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::TokenException | ErrorType::PermissionException | ErrorType::UserException => 403,
            ErrorType::InputException
            | ErrorType::OrderException
            | ErrorType::MarginException
            | ErrorType::HoldingException => 400,
            ErrorType::NetworkException => 503,
            ErrorType::DataException => 502,
            ErrorType::GeneralException => 500,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: its Kite exception, a message for humans, and the HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
    status: u16,
}

impl ApiError {
    /// With the default status of `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into(), status: kind.status() }
    }

    pub fn input(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::InputException, message)
    }

    /// NetworkException 429 "Too many requests", as Kite answers a rate-limited call.
    pub fn too_many_requests() -> ApiError {
        ApiError { kind: ErrorType::NetworkException, message: "Too many requests".into(), status: 429 }
    }

    /// The same error with another HTTP status (e.g. 502 for a NetworkException when the
    /// engine's bus is down rather than busy). Statuses outside 400..=599 are ignored.
    pub fn with_status(mut self, status: u16) -> ApiError {
        if (400..=599).contains(&status) {
            self.status = status;
        }
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The JSON body: `{"status":"error","message":..,"error_type":..,"data":null}`.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            status: &'static str,
            message: &'a str,
            error_type: &'static str,
            data: Option<()>,
        }
        let body = Body { status: "error", message: &self.message, error_type: self.kind.as_str(), data: None };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"status":"error","message":"Internal error","error_type":"GeneralException","data":null}"#.into()
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The success body: `{"status":"success","data":<data>}`.
pub fn success<T: Serialize + ?Sized>(data: &T) -> Result<String, ApiError> {
    #[derive(Serialize)]
    struct Body<'a, T: ?Sized> {
        status: &'static str,
        data: &'a T,
    }
    serde_json::to_string(&Body { status: "success", data })
        .map_err(|e| ApiError::new(ErrorType::GeneralException, format!("Could not encode the response: {e}")))
}

/// What the gateway knows about the instrument of a rejected order, to put numbers in messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectContext {
    /// Tick size in paise.
    pub tick: Option<Price>,
    /// Lot size in shares.
    pub lot: Option<Qty>,
}

/// The Kite exception an engine rejection is reported as. Exhaustive: a new `RejectReason`
/// does not compile until it is given one.
pub fn reject_kind(reason: RejectReason) -> ErrorType {
    use ErrorType::*;
    use RejectReason as R;
    match reason {
        R::UnknownInstrument => InputException,
        R::DuplicateInstrument => GeneralException,
        R::InstrumentTableFull => GeneralException,
        R::InvalidInstrumentSpec => InputException,
        R::BandTooWide => InputException,
        R::SessionClosed => InputException,
        R::SessionAlreadyOpen => GeneralException,
        R::InstrumentHalted => OrderException,
        R::InstrumentNotHalted => GeneralException,
        R::UnknownAccount => UserException,
        R::DuplicateAccount => UserException,
        R::AccountIdOutOfRange => UserException,
        R::AccountNotActive => UserException,
        R::AccountStatusUnchanged => UserException,
        R::InvalidAmount => InputException,
        R::InsufficientFunds => MarginException,
        R::InsufficientHoldings => HoldingException,
        R::InvalidQuantity => InputException,
        R::LotSizeViolation => InputException,
        R::TickSizeViolation => InputException,
        R::InvalidPrice => InputException,
        R::PriceOutOfBand => InputException,
        R::InvalidTrigger => InputException,
        R::TriggerAlreadyHit => InputException,
        R::InvalidDisclosedQuantity => InputException,
        R::InvalidOrderCombination => InputException,
        R::PostOnlyWouldCross => OrderException,
        R::OrderValueLimitExceeded => OrderException,
        R::OpenOrdersLimitExceeded => OrderException,
        R::PositionLimitExceeded => OrderException,
        R::OrderTableFull => GeneralException,
        R::PositionTableFull => GeneralException,
        R::UnknownOrder => OrderException,
        R::NotOrderOwner => OrderException,
        R::InvalidModify => InputException,
        R::NothingToModify => InputException,
        R::ValueOverflow => InputException,
        R::InvalidFeeSchedule => GeneralException,
        R::SessionAlreadyClosed => GeneralException,
        R::InvalidLimits => InputException,
        // A refusal of what was asked (the same funds request again), not a server fault: 400.
        R::DuplicateRequest => OrderException,
    }
}

/// The message shown for an engine rejection.
pub fn reject_message(reason: RejectReason, ctx: RejectContext) -> String {
    use RejectReason as R;
    let tick = ctx.tick.map(rupees_string);
    match reason {
        R::UnknownInstrument => "Instrument not found on this exchange.".into(),
        R::DuplicateInstrument => "Instrument already exists.".into(),
        R::InstrumentTableFull => "The exchange cannot list more instruments.".into(),
        R::InvalidInstrumentSpec => "Invalid instrument specification.".into(),
        R::BandTooWide => "The instrument's price band spans too many price levels.".into(),
        R::SessionClosed => "Markets are closed right now.".into(),
        R::SessionAlreadyOpen => "The market session is already open.".into(),
        R::InstrumentHalted => "Trading in this instrument is halted.".into(),
        R::InstrumentNotHalted => "Trading in this instrument is not halted.".into(),
        R::UnknownAccount => "Trading account not found.".into(),
        R::DuplicateAccount => "Trading account already exists.".into(),
        R::AccountIdOutOfRange => "Trading account not found.".into(),
        R::AccountNotActive => "Your trading account is not active.".into(),
        R::AccountStatusUnchanged => "The trading account already has that status.".into(),
        R::InvalidAmount => "Amount should be greater than 0.".into(),
        R::InsufficientFunds => {
            "Insufficient funds. The required margin is more than the available margin. Check the orderbook for open orders.".into()
        }
        R::InsufficientHoldings => {
            "Insufficient holdings. You can only sell the quantity you hold that is not already in open sell orders.".into()
        }
        R::InvalidQuantity => "Quantity should be greater than 0.".into(),
        R::LotSizeViolation => match ctx.lot {
            Some(lot) => format!("Quantity should be a multiple of the lot size {lot}."),
            None => "Quantity should be a multiple of the lot size.".into(),
        },
        R::TickSizeViolation => match tick {
            Some(tick) => format!(
                "Tick size for this script is {tick}. Kindly enter trigger price / price in the multiple of tick size for this script"
            ),
            None => "Kindly enter trigger price / price in the multiple of tick size for this script".into(),
        },
        R::InvalidPrice => "Invalid price. LIMIT and SL orders need a price greater than 0; MARKET and SL-M orders take none.".into(),
        R::PriceOutOfBand => "Order price is outside the circuit limits of this instrument. Place an order within the daily range.".into(),
        R::InvalidTrigger => "Invalid trigger price. It should be greater than 0, at or below the price for a stoploss buy and at or above it for a stoploss sell.".into(),
        R::TriggerAlreadyHit => "Trigger price for stoploss buy orders should be higher than the last traded price, and for stoploss sell orders lower. Use a LIMIT or MARKET order instead.".into(),
        R::InvalidDisclosedQuantity => match ctx.lot {
            Some(lot) if lot > 1 => format!("Invalid disclosed quantity. It should be between 0 and the order quantity, in multiples of the lot size {lot}."),
            _ => "Invalid disclosed quantity. It should be between 0 and the order quantity.".into(),
        },
        R::InvalidOrderCombination => "Disclosed quantity is not allowed for MARKET, SL-M or IOC orders.".into(),
        R::PostOnlyWouldCross => "Post-only order would trade immediately.".into(),
        R::OrderValueLimitExceeded => "Order value exceeds the maximum allowed for your account.".into(),
        R::OpenOrdersLimitExceeded => "Maximum number of open orders for your account reached.".into(),
        R::PositionLimitExceeded => "Order would exceed the maximum position allowed for your account in this instrument.".into(),
        R::OrderTableFull => "The exchange cannot accept more orders right now. Try again later.".into(),
        R::PositionTableFull => "The exchange cannot open more positions right now. Try again later.".into(),
        // The same message for an order of another account: whether an id exists is not
        // something another user should learn.
        R::UnknownOrder | R::NotOrderOwner => "Order not found, or it is no longer open (complete, cancelled or rejected).".into(),
        R::InvalidModify => "Invalid modification. The new quantity should be more than the filled quantity, and the trigger price of a triggered order cannot change.".into(),
        R::NothingToModify => "Nothing to modify: the new values are the same as the order's.".into(),
        R::ValueOverflow => "Order value is too large.".into(),
        R::InvalidFeeSchedule => "Invalid fee schedule.".into(),
        R::SessionAlreadyClosed => "The market session is already closed.".into(),
        R::InvalidLimits => "Invalid account limits.".into(),
        R::DuplicateRequest => {
            "This deposit or withdrawal was already processed: a request with the same or a later reference has been applied to the account.".into()
        }
    }
}

/// An engine rejection as a Kite error.
pub fn reject_error(reason: RejectReason, ctx: RejectContext) -> ApiError {
    ApiError::new(reject_kind(reason), reject_message(reason, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_kites() {
        let e = ApiError::input("Missing `quantity`");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.body(),
            r#"{"status":"error","message":"Missing `quantity`","error_type":"InputException","data":null}"#
        );
        let v: serde_json::Value = serde_json::from_str(&ApiError::too_many_requests().body()).unwrap();
        assert_eq!(v["error_type"], "NetworkException");
        assert_eq!(v["message"], "Too many requests");
        assert_eq!(ApiError::too_many_requests().status(), 429);
    }

    #[test]
    fn statuses() {
        use ErrorType::*;
        let expected = [
            (TokenException, 403),
            (UserException, 403),
            (OrderException, 400),
            (InputException, 400),
            (MarginException, 400),
            (HoldingException, 400),
            (NetworkException, 503),
            (DataException, 502),
            (GeneralException, 500),
            (PermissionException, 403),
        ];
        for (kind, status) in expected {
            assert_eq!(kind.status(), status, "{kind}");
            assert_eq!(ApiError::new(kind, "x").status(), status);
        }
        assert_eq!(ApiError::new(NetworkException, "bus down").with_status(502).status(), 502);
        assert_eq!(ApiError::new(NetworkException, "x").with_status(200).status(), 503);
    }

    #[test]
    fn success_body() {
        #[derive(Serialize)]
        struct Id {
            order_id: String,
        }
        assert_eq!(
            success(&Id { order_id: "151220000000000".into() }).unwrap(),
            r#"{"status":"success","data":{"order_id":"151220000000000"}}"#
        );
        assert_eq!(success(&[1, 2]).unwrap(), r#"{"status":"success","data":[1,2]}"#);
    }

    #[test]
    fn every_rejection_has_a_kind_and_a_message() {
        for &reason in RejectReason::ALL {
            let e = reject_error(reason, RejectContext { tick: Some(5), lot: Some(25) });
            assert!(!e.message.is_empty());
            assert!(e.message.len() < 200, "{reason:?}: {}", e.message);
            assert_eq!(e.status(), e.kind.status());
        }
    }

    #[test]
    fn the_mapping_kite_users_expect() {
        let ctx = RejectContext { tick: Some(5), lot: Some(1) };
        assert_eq!(reject_kind(RejectReason::InsufficientFunds), ErrorType::MarginException);
        assert_eq!(reject_kind(RejectReason::InsufficientHoldings), ErrorType::HoldingException);
        let tick = reject_error(RejectReason::TickSizeViolation, ctx);
        assert_eq!(tick.kind, ErrorType::InputException);
        assert_eq!(
            tick.message,
            "Tick size for this script is 0.05. Kindly enter trigger price / price in the multiple of tick size for this script"
        );
        let tick = reject_message(RejectReason::TickSizeViolation, RejectContext { tick: Some(100), lot: None });
        assert!(tick.starts_with("Tick size for this script is 1. "), "{tick}");
        assert_eq!(
            reject_message(RejectReason::LotSizeViolation, RejectContext { tick: None, lot: Some(75) }),
            "Quantity should be a multiple of the lot size 75."
        );
        // Another account's order looks exactly like a missing one.
        assert_eq!(reject_error(RejectReason::NotOrderOwner, ctx), reject_error(RejectReason::UnknownOrder, ctx));
    }
}
