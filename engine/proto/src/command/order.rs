//! Command layouts for orders. Offsets are from the block start.

use engine_core::{AccountId, ModifyOrder, NewOrder, OrderId};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, U32, U64, U8};
use crate::wire::{BlockReader, BlockWriter};

/// `Place` (template 15): a new order.
pub mod place {
    use super::*;

    /// `client_ref`, u64.
    pub const CLIENT_REF: usize = 0;
    /// `price`, i64 paise.
    pub const PRICE: usize = 8;
    /// `trigger`, i64 paise.
    pub const TRIGGER: usize = 16;
    /// `qty`, i64 shares.
    pub const QTY: usize = 24;
    /// `disclosed`, i64 shares.
    pub const DISCLOSED: usize = 32;
    /// `account`, u32.
    pub const ACCOUNT: usize = 40;
    /// `token`, u32.
    pub const TOKEN: usize = 44;
    /// `side`, u8 `Side`.
    pub const SIDE: usize = 48;
    /// `order_type`, u8 `OrderType`.
    pub const ORDER_TYPE: usize = 49;
    /// `validity`, u8 `Validity`.
    pub const VALIDITY: usize = 50;
    /// `product`, u8 `Product`.
    pub const PRODUCT: usize = 51;
    /// `post_only`, u8 bool.
    pub const POST_ONLY: usize = 52;
    pub const BLOCK_LENGTH: u16 = 53;
    const _: () = assert!(tiles_block(
        &[
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

    pub(crate) fn encode(order: &NewOrder, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u64(CLIENT_REF, order.client_ref)?;
        w.i64(PRICE, order.price)?;
        w.i64(TRIGGER, order.trigger)?;
        w.i64(QTY, order.qty)?;
        w.i64(DISCLOSED, order.disclosed)?;
        w.u32(ACCOUNT, order.account)?;
        w.u32(TOKEN, order.token)?;
        w.enumeration(SIDE, order.side)?;
        w.enumeration(ORDER_TYPE, order.order_type)?;
        w.enumeration(VALIDITY, order.validity)?;
        w.enumeration(PRODUCT, order.product)?;
        w.bool(POST_ONLY, order.post_only)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<NewOrder, DecodeError> {
        Ok(NewOrder {
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
        })
    }
}

/// `Modify` (template 16): new price, total quantity and trigger of an open order.
pub mod modify {
    use super::*;

    /// `client_ref`, u64.
    pub const CLIENT_REF: usize = 0;
    /// `order_id`, u64.
    pub const ORDER_ID: usize = 8;
    /// `price`, i64 paise.
    pub const PRICE: usize = 16;
    /// `qty`, i64 shares.
    pub const QTY: usize = 24;
    /// `trigger`, i64 paise.
    pub const TRIGGER: usize = 32;
    /// `account`, u32.
    pub const ACCOUNT: usize = 40;
    pub const BLOCK_LENGTH: u16 = 44;
    const _: () = assert!(tiles_block(
        &[(CLIENT_REF, U64), (ORDER_ID, U64), (PRICE, U64), (QTY, U64), (TRIGGER, U64), (ACCOUNT, U32)],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(modify: &ModifyOrder, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u64(CLIENT_REF, modify.client_ref)?;
        w.u64(ORDER_ID, modify.order_id)?;
        w.i64(PRICE, modify.price)?;
        w.i64(QTY, modify.qty)?;
        w.i64(TRIGGER, modify.trigger)?;
        w.u32(ACCOUNT, modify.account)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<ModifyOrder, DecodeError> {
        Ok(ModifyOrder {
            client_ref: r.u64(CLIENT_REF)?,
            account: r.u32(ACCOUNT)?,
            order_id: r.u64(ORDER_ID)?,
            price: r.i64(PRICE)?,
            qty: r.i64(QTY)?,
            trigger: r.i64(TRIGGER)?,
        })
    }
}

/// `Cancel` (template 17).
pub mod cancel {
    use super::*;

    /// `client_ref`, u64.
    pub const CLIENT_REF: usize = 0;
    /// `order_id`, u64.
    pub const ORDER_ID: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    pub const BLOCK_LENGTH: u16 = 20;
    const _: () = assert!(tiles_block(&[(CLIENT_REF, U64), (ORDER_ID, U64), (ACCOUNT, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(
        client_ref: u64,
        account: AccountId,
        order_id: OrderId,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u64(CLIENT_REF, client_ref)?;
        w.u64(ORDER_ID, order_id)?;
        w.u32(ACCOUNT, account)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<(u64, AccountId, OrderId), DecodeError> {
        Ok((r.u64(CLIENT_REF)?, r.u32(ACCOUNT)?, r.u64(ORDER_ID)?))
    }
}
