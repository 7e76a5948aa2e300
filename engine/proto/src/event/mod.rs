//! The event schema (`EVENT_SCHEMA_ID`): one template per `Event` variant, numbered in the
//! order the variants are declared.

pub mod admin;
pub mod execution;
pub mod funds;
pub mod order;

use engine_core::Event;

use crate::error::{DecodeError, EncodeError};
use crate::framing::{encode_message, framed_block, ids_are_dense, message_len_max, TemplateInfo};
use crate::header::{MessageHeader, EVENT_SCHEMA_ID};
use crate::shared::{account_limits, empty, fee_schedule};
use admin::{account_status_changed, instrument_added, instrument_status_changed};
use execution::{book_level, trade};
use funds::{account_risk, balance_changed, holdings_changed};
use order::{accepted, cancelled, modified, rejected, triggered};

/// Event template ids.
pub mod template {
    pub const INSTRUMENT_ADDED: u16 = 1;
    pub const SESSION_OPENED: u16 = 2;
    pub const SESSION_CLOSED: u16 = 3;
    pub const INSTRUMENT_STATUS_CHANGED: u16 = 4;
    pub const ACCOUNT_CREATED: u16 = 5;
    pub const ACCOUNT_LIMITS_SET: u16 = 6;
    pub const ACCOUNT_STATUS_CHANGED: u16 = 7;
    pub const FEE_SCHEDULE_SET: u16 = 8;
    pub const REJECTED: u16 = 9;
    pub const ACCEPTED: u16 = 10;
    pub const TRIGGERED: u16 = 11;
    pub const TRADE: u16 = 12;
    pub const MODIFIED: u16 = 13;
    pub const CANCELLED: u16 = 14;
    pub const BALANCE_CHANGED: u16 = 15;
    pub const HOLDINGS_CHANGED: u16 = 16;
    pub const BOOK_LEVEL: u16 = 17;
    pub const ACCOUNT_RISK: u16 = 18;
}

const fn info(id: u16, name: &'static str, block_length: u16) -> TemplateInfo {
    TemplateInfo { id, name, block_length }
}

/// Every event template, in id order.
pub const EVENT_TEMPLATES: &[TemplateInfo] = &[
    info(template::INSTRUMENT_ADDED, "InstrumentAdded", instrument_added::BLOCK_LENGTH),
    info(template::SESSION_OPENED, "SessionOpened", empty::BLOCK_LENGTH),
    info(template::SESSION_CLOSED, "SessionClosed", empty::BLOCK_LENGTH),
    info(template::INSTRUMENT_STATUS_CHANGED, "InstrumentStatusChanged", instrument_status_changed::BLOCK_LENGTH),
    info(template::ACCOUNT_CREATED, "AccountCreated", account_limits::BLOCK_LENGTH),
    info(template::ACCOUNT_LIMITS_SET, "AccountLimitsSet", account_limits::BLOCK_LENGTH),
    info(template::ACCOUNT_STATUS_CHANGED, "AccountStatusChanged", account_status_changed::BLOCK_LENGTH),
    info(template::FEE_SCHEDULE_SET, "FeeScheduleSet", fee_schedule::BLOCK_LENGTH),
    info(template::REJECTED, "Rejected", rejected::BLOCK_LENGTH),
    info(template::ACCEPTED, "Accepted", accepted::BLOCK_LENGTH),
    info(template::TRIGGERED, "Triggered", triggered::BLOCK_LENGTH),
    info(template::TRADE, "Trade", trade::BLOCK_LENGTH),
    info(template::MODIFIED, "Modified", modified::BLOCK_LENGTH),
    info(template::CANCELLED, "Cancelled", cancelled::BLOCK_LENGTH),
    info(template::BALANCE_CHANGED, "BalanceChanged", balance_changed::BLOCK_LENGTH),
    info(template::HOLDINGS_CHANGED, "HoldingsChanged", holdings_changed::BLOCK_LENGTH),
    info(template::BOOK_LEVEL, "BookLevel", book_level::BLOCK_LENGTH),
    info(template::ACCOUNT_RISK, "AccountRisk", account_risk::BLOCK_LENGTH),
];
const _: () = assert!(ids_are_dense(EVENT_TEMPLATES));

/// The longest encoded event (header included). A buffer this long fits any event.
pub const EVENT_LEN_MAX: usize = message_len_max(EVENT_TEMPLATES);

/// Encodes `event` at the start of `buf` and returns the number of bytes written.
///
/// Errors: `BufferTooSmall` only; a buffer of `EVENT_LEN_MAX` bytes never is.
pub fn encode_event(event: &Event, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let header = |id: u16, block_length: u16| MessageHeader::new(EVENT_SCHEMA_ID, id, block_length);
    use template as t;
    match *event {
        Event::InstrumentAdded { ref spec, band_low, band_high } => {
            encode_message(buf, header(t::INSTRUMENT_ADDED, instrument_added::BLOCK_LENGTH), |w| {
                instrument_added::encode(spec, band_low, band_high, w)
            })
        }
        Event::SessionOpened => encode_message(buf, header(t::SESSION_OPENED, empty::BLOCK_LENGTH), |_| Ok(())),
        Event::SessionClosed => encode_message(buf, header(t::SESSION_CLOSED, empty::BLOCK_LENGTH), |_| Ok(())),
        Event::InstrumentStatusChanged { token, status } => {
            encode_message(buf, header(t::INSTRUMENT_STATUS_CHANGED, instrument_status_changed::BLOCK_LENGTH), |w| {
                instrument_status_changed::encode(token, status, w)
            })
        }
        Event::AccountCreated { account, ref limits } => {
            encode_message(buf, header(t::ACCOUNT_CREATED, account_limits::BLOCK_LENGTH), |w| {
                account_limits::encode(account, limits, w)
            })
        }
        Event::AccountLimitsSet { account, ref limits } => {
            encode_message(buf, header(t::ACCOUNT_LIMITS_SET, account_limits::BLOCK_LENGTH), |w| {
                account_limits::encode(account, limits, w)
            })
        }
        Event::AccountStatusChanged { account, status } => {
            encode_message(buf, header(t::ACCOUNT_STATUS_CHANGED, account_status_changed::BLOCK_LENGTH), |w| {
                account_status_changed::encode(account, status, w)
            })
        }
        Event::FeeScheduleSet(ref fees) => {
            encode_message(buf, header(t::FEE_SCHEDULE_SET, fee_schedule::BLOCK_LENGTH), |w| {
                fee_schedule::encode(fees, w)
            })
        }
        Event::Rejected { kind, reason, client_ref, account, order_id } => {
            encode_message(buf, header(t::REJECTED, rejected::BLOCK_LENGTH), |w| {
                rejected::encode(kind, reason, client_ref, account, order_id, w)
            })
        }
        Event::Accepted(ref a) => {
            encode_message(buf, header(t::ACCEPTED, accepted::BLOCK_LENGTH), |w| accepted::encode(a, w))
        }
        Event::Triggered { order_id, token, last_price } => {
            encode_message(buf, header(t::TRIGGERED, triggered::BLOCK_LENGTH), |w| {
                triggered::encode(order_id, token, last_price, w)
            })
        }
        Event::Trade(ref fill) => {
            encode_message(buf, header(t::TRADE, trade::BLOCK_LENGTH), |w| trade::encode(fill, w))
        }
        Event::Modified { order_id, client_ref, account, price, qty, trigger, remaining, priority_kept } => {
            encode_message(buf, header(t::MODIFIED, modified::BLOCK_LENGTH), |w| {
                modified::encode(order_id, client_ref, account, price, qty, trigger, remaining, priority_kept, w)
            })
        }
        Event::Cancelled { order_id, account, token, remaining, reason } => {
            encode_message(buf, header(t::CANCELLED, cancelled::BLOCK_LENGTH), |w| {
                cancelled::encode(order_id, account, token, remaining, reason, w)
            })
        }
        Event::BalanceChanged { account, delta, cash, reason, client_ref } => {
            encode_message(buf, header(t::BALANCE_CHANGED, balance_changed::BLOCK_LENGTH), |w| {
                balance_changed::encode(account, delta, cash, reason, client_ref, w)
            })
        }
        Event::HoldingsChanged { account, token, delta, holdings, reason } => {
            encode_message(buf, header(t::HOLDINGS_CHANGED, holdings_changed::BLOCK_LENGTH), |w| {
                holdings_changed::encode(account, token, delta, holdings, reason, w)
            })
        }
        Event::BookLevel { token, side, price, qty, orders } => {
            encode_message(buf, header(t::BOOK_LEVEL, book_level::BLOCK_LENGTH), |w| {
                book_level::encode(token, side, price, qty, orders, w)
            })
        }
        Event::AccountRisk { account, reserved, margin } => {
            encode_message(buf, header(t::ACCOUNT_RISK, account_risk::BLOCK_LENGTH), |w| {
                account_risk::encode(account, reserved, margin, w)
            })
        }
    }
}

/// Decodes exactly one event that fills `buf`: schema, version, template, block length,
/// buffer length and every field value are checked.
pub fn decode_event(buf: &[u8]) -> Result<Event, DecodeError> {
    let header = MessageHeader::decode(buf)?;
    header.expect_schema(EVENT_SCHEMA_ID)?;
    let block = |block_length: u16| framed_block(buf, &header, block_length);
    use template as t;
    match header.template_id {
        t::INSTRUMENT_ADDED => instrument_added::decode(&block(instrument_added::BLOCK_LENGTH)?),
        t::SESSION_OPENED => block(empty::BLOCK_LENGTH).map(|_| Event::SessionOpened),
        t::SESSION_CLOSED => block(empty::BLOCK_LENGTH).map(|_| Event::SessionClosed),
        t::INSTRUMENT_STATUS_CHANGED => {
            instrument_status_changed::decode(&block(instrument_status_changed::BLOCK_LENGTH)?)
        }
        t::ACCOUNT_CREATED => {
            let (account, limits) = account_limits::decode(&block(account_limits::BLOCK_LENGTH)?)?;
            Ok(Event::AccountCreated { account, limits })
        }
        t::ACCOUNT_LIMITS_SET => {
            let (account, limits) = account_limits::decode(&block(account_limits::BLOCK_LENGTH)?)?;
            Ok(Event::AccountLimitsSet { account, limits })
        }
        t::ACCOUNT_STATUS_CHANGED => account_status_changed::decode(&block(account_status_changed::BLOCK_LENGTH)?),
        t::FEE_SCHEDULE_SET => fee_schedule::decode(&block(fee_schedule::BLOCK_LENGTH)?).map(Event::FeeScheduleSet),
        t::REJECTED => rejected::decode(&block(rejected::BLOCK_LENGTH)?),
        t::ACCEPTED => accepted::decode(&block(accepted::BLOCK_LENGTH)?),
        t::TRIGGERED => triggered::decode(&block(triggered::BLOCK_LENGTH)?),
        t::TRADE => trade::decode(&block(trade::BLOCK_LENGTH)?),
        t::MODIFIED => modified::decode(&block(modified::BLOCK_LENGTH)?),
        t::CANCELLED => cancelled::decode(&block(cancelled::BLOCK_LENGTH)?),
        t::BALANCE_CHANGED => balance_changed::decode(&block(balance_changed::BLOCK_LENGTH)?),
        t::HOLDINGS_CHANGED => holdings_changed::decode(&block(holdings_changed::BLOCK_LENGTH)?),
        t::BOOK_LEVEL => book_level::decode(&block(book_level::BLOCK_LENGTH)?),
        t::ACCOUNT_RISK => account_risk::decode(&block(account_risk::BLOCK_LENGTH)?),
        other => Err(DecodeError::UnknownTemplate(other)),
    }
}
