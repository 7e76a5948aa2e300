//! Event layouts for executions and book depth. Offsets are from the block start.

use engine_core::{Event, Price, Qty, Side, Token, Trade};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, U32, U64, U8};
use crate::wire::{BlockReader, BlockWriter};

/// `Trade` (template 12): one fill between a buy and a sell order.
pub mod trade {
    use super::*;

    /// `trade_id`, u64.
    pub const TRADE_ID: usize = 0;
    /// `price`, i64 paise.
    pub const PRICE: usize = 8;
    /// `qty`, i64 shares.
    pub const QTY: usize = 16;
    /// `buy_order`, u64.
    pub const BUY_ORDER: usize = 24;
    /// `sell_order`, u64.
    pub const SELL_ORDER: usize = 32;
    /// `buy_fee`, i64 paise.
    pub const BUY_FEE: usize = 40;
    /// `sell_fee`, i64 paise.
    pub const SELL_FEE: usize = 48;
    /// `buy_remaining`, i64 shares.
    pub const BUY_REMAINING: usize = 56;
    /// `sell_remaining`, i64 shares.
    pub const SELL_REMAINING: usize = 64;
    /// `token`, u32.
    pub const TOKEN: usize = 72;
    /// `buy_account`, u32.
    pub const BUY_ACCOUNT: usize = 76;
    /// `sell_account`, u32.
    pub const SELL_ACCOUNT: usize = 80;
    /// `aggressor`, u8 `Side`.
    pub const AGGRESSOR: usize = 84;
    /// `buy_product`, u8 `Product`.
    pub const BUY_PRODUCT: usize = 85;
    /// `sell_product`, u8 `Product`.
    pub const SELL_PRODUCT: usize = 86;
    pub const BLOCK_LENGTH: u16 = 87;
    const _: () = assert!(tiles_block(
        &[
            (TRADE_ID, U64),
            (PRICE, U64),
            (QTY, U64),
            (BUY_ORDER, U64),
            (SELL_ORDER, U64),
            (BUY_FEE, U64),
            (SELL_FEE, U64),
            (BUY_REMAINING, U64),
            (SELL_REMAINING, U64),
            (TOKEN, U32),
            (BUY_ACCOUNT, U32),
            (SELL_ACCOUNT, U32),
            (AGGRESSOR, U8),
            (BUY_PRODUCT, U8),
            (SELL_PRODUCT, U8)
        ],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(t: &Trade, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u64(TRADE_ID, t.trade_id)?;
        w.i64(PRICE, t.price)?;
        w.i64(QTY, t.qty)?;
        w.u64(BUY_ORDER, t.buy_order)?;
        w.u64(SELL_ORDER, t.sell_order)?;
        w.i64(BUY_FEE, t.buy_fee)?;
        w.i64(SELL_FEE, t.sell_fee)?;
        w.i64(BUY_REMAINING, t.buy_remaining)?;
        w.i64(SELL_REMAINING, t.sell_remaining)?;
        w.u32(TOKEN, t.token)?;
        w.u32(BUY_ACCOUNT, t.buy_account)?;
        w.u32(SELL_ACCOUNT, t.sell_account)?;
        w.enumeration(AGGRESSOR, t.aggressor)?;
        w.enumeration(BUY_PRODUCT, t.buy_product)?;
        w.enumeration(SELL_PRODUCT, t.sell_product)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::Trade(Trade {
            trade_id: r.u64(TRADE_ID)?,
            token: r.u32(TOKEN)?,
            price: r.i64(PRICE)?,
            qty: r.i64(QTY)?,
            aggressor: r.enumeration(AGGRESSOR, "aggressor")?,
            buy_order: r.u64(BUY_ORDER)?,
            sell_order: r.u64(SELL_ORDER)?,
            buy_account: r.u32(BUY_ACCOUNT)?,
            sell_account: r.u32(SELL_ACCOUNT)?,
            buy_product: r.enumeration(BUY_PRODUCT, "buy_product")?,
            sell_product: r.enumeration(SELL_PRODUCT, "sell_product")?,
            buy_fee: r.i64(BUY_FEE)?,
            sell_fee: r.i64(SELL_FEE)?,
            buy_remaining: r.i64(BUY_REMAINING)?,
            sell_remaining: r.i64(SELL_REMAINING)?,
        }))
    }
}

/// `BookLevel` (template 17): one price level's visible quantity and order count after a change.
pub mod book_level {
    use super::*;

    /// `price`, i64 paise.
    pub const PRICE: usize = 0;
    /// `qty`, i64 shares.
    pub const QTY: usize = 8;
    /// `token`, u32.
    pub const TOKEN: usize = 16;
    /// `orders`, u32.
    pub const ORDERS: usize = 20;
    /// `side`, u8 `Side`.
    pub const SIDE: usize = 24;
    pub const BLOCK_LENGTH: u16 = 25;
    const _: () =
        assert!(tiles_block(&[(PRICE, U64), (QTY, U64), (TOKEN, U32), (ORDERS, U32), (SIDE, U8)], BLOCK_LENGTH));

    pub(crate) fn encode(
        token: Token,
        side: Side,
        price: Price,
        qty: Qty,
        orders: u32,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(PRICE, price)?;
        w.i64(QTY, qty)?;
        w.u32(TOKEN, token)?;
        w.u32(ORDERS, orders)?;
        w.enumeration(SIDE, side)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::BookLevel {
            token: r.u32(TOKEN)?,
            side: r.enumeration(SIDE, "side")?,
            price: r.i64(PRICE)?,
            qty: r.i64(QTY)?,
            orders: r.u32(ORDERS)?,
        })
    }
}
