//! Event layouts for the order lifecycle. Offsets are from the block start.

use engine_core::{Accepted, AccountId, CancelReason, CommandKind, Event, OrderId, Price, Qty, RejectReason, Token};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, U32, U64, U8};
use crate::wire::{BlockReader, BlockWriter};

/// `Rejected` (template 9): a refused command, with the kind of command and the reason.
pub mod rejected {
    use super::*;

    /// `client_ref`, u64.
    pub const CLIENT_REF: usize = 0;
    /// `order_id`, u64.
    pub const ORDER_ID: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    /// `kind`, u8 `CommandKind` (equal to the refused command's template id).
    pub const KIND: usize = 20;
    /// `reason`, u8 `RejectReason`.
    pub const REASON: usize = 21;
    pub const BLOCK_LENGTH: u16 = 22;
    const _: () = assert!(tiles_block(
        &[(CLIENT_REF, U64), (ORDER_ID, U64), (ACCOUNT, U32), (KIND, U8), (REASON, U8)],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(
        kind: CommandKind,
        reason: RejectReason,
        client_ref: u64,
        account: AccountId,
        order_id: OrderId,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u64(CLIENT_REF, client_ref)?;
        w.u64(ORDER_ID, order_id)?;
        w.u32(ACCOUNT, account)?;
        w.enumeration(KIND, kind)?;
        w.enumeration(REASON, reason)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::Rejected {
            kind: r.enumeration(KIND, "kind")?,
            reason: r.enumeration(REASON, "reason")?,
            client_ref: r.u64(CLIENT_REF)?,
            account: r.u32(ACCOUNT)?,
            order_id: r.u64(ORDER_ID)?,
        })
    }
}

/// `Accepted` (template 10): an order entered the book (or the stop table).
pub mod accepted {
    use super::*;

    /// `order_id`, u64.
    pub const ORDER_ID: usize = 0;
    /// `client_ref`, u64.
    pub const CLIENT_REF: usize = 8;
    /// `price`, i64 paise.
    pub const PRICE: usize = 16;
    /// `trigger`, i64 paise.
    pub const TRIGGER: usize = 24;
    /// `qty`, i64 shares.
    pub const QTY: usize = 32;
    /// `disclosed`, i64 shares.
    pub const DISCLOSED: usize = 40;
    /// `account`, u32.
    pub const ACCOUNT: usize = 48;
    /// `token`, u32.
    pub const TOKEN: usize = 52;
    /// `side`, u8 `Side`.
    pub const SIDE: usize = 56;
    /// `order_type`, u8 `OrderType`.
    pub const ORDER_TYPE: usize = 57;
    /// `validity`, u8 `Validity`.
    pub const VALIDITY: usize = 58;
    /// `product`, u8 `Product`.
    pub const PRODUCT: usize = 59;
    /// `post_only`, u8 bool.
    pub const POST_ONLY: usize = 60;
    pub const BLOCK_LENGTH: u16 = 61;
    const _: () = assert!(tiles_block(
        &[
            (ORDER_ID, U64),
            (CLIENT_REF, U64),
            (PRICE, U64),
            (TRIGGER, U64),
            (QTY, U64),
            (DISCLOSED, U64),
            (ACCOUNT, U32),
            (TOKEN, U32),
            (SIDE, U8),
            (ORDER_TYPE, U8),
            (VALIDITY, U8),
            (PRODUCT, U8),
            (POST_ONLY, U8)
        ],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(a: &Accepted, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u64(ORDER_ID, a.order_id)?;
        w.u64(CLIENT_REF, a.client_ref)?;
        w.i64(PRICE, a.price)?;
        w.i64(TRIGGER, a.trigger)?;
        w.i64(QTY, a.qty)?;
        w.i64(DISCLOSED, a.disclosed)?;
        w.u32(ACCOUNT, a.account)?;
        w.u32(TOKEN, a.token)?;
        w.enumeration(SIDE, a.side)?;
        w.enumeration(ORDER_TYPE, a.order_type)?;
        w.enumeration(VALIDITY, a.validity)?;
        w.enumeration(PRODUCT, a.product)?;
        w.bool(POST_ONLY, a.post_only)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::Accepted(Accepted {
            order_id: r.u64(ORDER_ID)?,
            client_ref: r.u64(CLIENT_REF)?,
            account: r.u32(ACCOUNT)?,
            token: r.u32(TOKEN)?,
            side: r.enumeration(SIDE, "side")?,
            order_type: r.enumeration(ORDER_TYPE, "order_type")?,
            validity: r.enumeration(VALIDITY, "validity")?,
            product: r.enumeration(PRODUCT, "product")?,
            price: r.i64(PRICE)?,
            trigger: r.i64(TRIGGER)?,
            qty: r.i64(QTY)?,
            disclosed: r.i64(DISCLOSED)?,
            post_only: r.bool(POST_ONLY, "post_only")?,
        }))
    }
}

/// `Triggered` (template 11): a stop order's trigger was reached.
pub mod triggered {
    use super::*;

    /// `order_id`, u64.
    pub const ORDER_ID: usize = 0;
    /// `last_price`, i64 paise.
    pub const LAST_PRICE: usize = 8;
    /// `token`, u32.
    pub const TOKEN: usize = 16;
    pub const BLOCK_LENGTH: u16 = 20;
    const _: () = assert!(tiles_block(&[(ORDER_ID, U64), (LAST_PRICE, U64), (TOKEN, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(
        order_id: OrderId,
        token: Token,
        last_price: Price,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u64(ORDER_ID, order_id)?;
        w.i64(LAST_PRICE, last_price)?;
        w.u32(TOKEN, token)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::Triggered { order_id: r.u64(ORDER_ID)?, token: r.u32(TOKEN)?, last_price: r.i64(LAST_PRICE)? })
    }
}

/// `Modified` (template 13): an open order's new price, quantity and trigger.
pub mod modified {
    use super::*;

    /// `order_id`, u64.
    pub const ORDER_ID: usize = 0;
    /// `client_ref`, u64.
    pub const CLIENT_REF: usize = 8;
    /// `price`, i64 paise.
    pub const PRICE: usize = 16;
    /// `qty`, i64 shares.
    pub const QTY: usize = 24;
    /// `trigger`, i64 paise.
    pub const TRIGGER: usize = 32;
    /// `remaining`, i64 shares.
    pub const REMAINING: usize = 40;
    /// `account`, u32.
    pub const ACCOUNT: usize = 48;
    /// `priority_kept`, u8 bool.
    pub const PRIORITY_KEPT: usize = 52;
    pub const BLOCK_LENGTH: u16 = 53;
    const _: () = assert!(tiles_block(
        &[
            (ORDER_ID, U64),
            (CLIENT_REF, U64),
            (PRICE, U64),
            (QTY, U64),
            (TRIGGER, U64),
            (REMAINING, U64),
            (ACCOUNT, U32),
            (PRIORITY_KEPT, U8)
        ],
        BLOCK_LENGTH
    ));

    #[allow(clippy::too_many_arguments)] // one per field of `Event::Modified`
    pub(crate) fn encode(
        order_id: OrderId,
        client_ref: u64,
        account: AccountId,
        price: Price,
        qty: Qty,
        trigger: Price,
        remaining: Qty,
        priority_kept: bool,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u64(ORDER_ID, order_id)?;
        w.u64(CLIENT_REF, client_ref)?;
        w.i64(PRICE, price)?;
        w.i64(QTY, qty)?;
        w.i64(TRIGGER, trigger)?;
        w.i64(REMAINING, remaining)?;
        w.u32(ACCOUNT, account)?;
        w.bool(PRIORITY_KEPT, priority_kept)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::Modified {
            order_id: r.u64(ORDER_ID)?,
            client_ref: r.u64(CLIENT_REF)?,
            account: r.u32(ACCOUNT)?,
            price: r.i64(PRICE)?,
            qty: r.i64(QTY)?,
            trigger: r.i64(TRIGGER)?,
            remaining: r.i64(REMAINING)?,
            priority_kept: r.bool(PRIORITY_KEPT, "priority_kept")?,
        })
    }
}

/// `Cancelled` (template 14): an order left the book with `remaining` unfilled.
pub mod cancelled {
    use super::*;

    /// `order_id`, u64.
    pub const ORDER_ID: usize = 0;
    /// `remaining`, i64 shares.
    pub const REMAINING: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    /// `token`, u32.
    pub const TOKEN: usize = 20;
    /// `reason`, u8 `CancelReason`.
    pub const REASON: usize = 24;
    pub const BLOCK_LENGTH: u16 = 25;
    const _: () = assert!(tiles_block(
        &[(ORDER_ID, U64), (REMAINING, U64), (ACCOUNT, U32), (TOKEN, U32), (REASON, U8)],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(
        order_id: OrderId,
        account: AccountId,
        token: Token,
        remaining: Qty,
        reason: CancelReason,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u64(ORDER_ID, order_id)?;
        w.i64(REMAINING, remaining)?;
        w.u32(ACCOUNT, account)?;
        w.u32(TOKEN, token)?;
        w.enumeration(REASON, reason)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::Cancelled {
            order_id: r.u64(ORDER_ID)?,
            account: r.u32(ACCOUNT)?,
            token: r.u32(TOKEN)?,
            remaining: r.i64(REMAINING)?,
            reason: r.enumeration(REASON, "reason")?,
        })
    }
}
