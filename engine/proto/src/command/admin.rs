//! Command layouts for instruments and account funding. Offsets are from the block start.

use engine_core::{AccountId, InstrumentSpec, Qty, Token};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, SYMBOL_LEN, U32, U64};
use crate::wire::{BlockReader, BlockWriter};

/// `AddInstrument` (template 1).
pub mod add_instrument {
    use super::*;

    /// `tick`, i64 paise.
    pub const TICK: usize = 0;
    /// `lot`, i64 shares.
    pub const LOT: usize = 8;
    /// `reference_price`, i64 paise.
    pub const REFERENCE_PRICE: usize = 16;
    /// `symbol`, 16 bytes of printable ASCII, NUL-padded.
    pub const SYMBOL: usize = 24;
    /// `token`, u32.
    pub const TOKEN: usize = 40;
    /// `band_bps`, u32.
    pub const BAND_BPS: usize = 44;
    /// `mis_leverage`, u32.
    pub const MIS_LEVERAGE: usize = 48;
    pub const BLOCK_LENGTH: u16 = 52;
    const _: () = assert!(tiles_block(
        &[
            (TICK, U64),
            (LOT, U64),
            (REFERENCE_PRICE, U64),
            (SYMBOL, SYMBOL_LEN),
            (TOKEN, U32),
            (BAND_BPS, U32),
            (MIS_LEVERAGE, U32)
        ],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(spec: &InstrumentSpec, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.i64(TICK, spec.tick)?;
        w.i64(LOT, spec.lot)?;
        w.i64(REFERENCE_PRICE, spec.reference_price)?;
        w.symbol(SYMBOL, spec.symbol)?;
        w.u32(TOKEN, spec.token)?;
        w.u32(BAND_BPS, spec.band_bps)?;
        w.u32(MIS_LEVERAGE, spec.mis_leverage)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<InstrumentSpec, DecodeError> {
        Ok(InstrumentSpec {
            token: r.u32(TOKEN)?,
            symbol: r.symbol(SYMBOL)?,
            tick: r.i64(TICK)?,
            lot: r.i64(LOT)?,
            band_bps: r.u32(BAND_BPS)?,
            reference_price: r.i64(REFERENCE_PRICE)?,
            mis_leverage: r.u32(MIS_LEVERAGE)?,
        })
    }
}

/// `Deposit` (template 10) and `Withdraw` (template 11).
pub mod cash {
    use super::*;

    /// `client_ref`, u64 (0: no deduplication).
    pub const CLIENT_REF: usize = 0;
    /// `amount`, i64 paise.
    pub const AMOUNT: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    pub const BLOCK_LENGTH: u16 = 20;
    const _: () = assert!(tiles_block(&[(CLIENT_REF, U64), (AMOUNT, U64), (ACCOUNT, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(
        client_ref: u64,
        account: AccountId,
        amount: i64,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u64(CLIENT_REF, client_ref)?;
        w.i64(AMOUNT, amount)?;
        w.u32(ACCOUNT, account)
    }

    /// `(client_ref, account, amount)`.
    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<(u64, AccountId, i64), DecodeError> {
        Ok((r.u64(CLIENT_REF)?, r.u32(ACCOUNT)?, r.i64(AMOUNT)?))
    }
}

/// `DepositHoldings` (template 12) and `WithdrawHoldings` (template 13).
pub mod holdings {
    use super::*;

    /// `qty`, i64 shares.
    pub const QTY: usize = 0;
    /// `account`, u32.
    pub const ACCOUNT: usize = 8;
    /// `token`, u32.
    pub const TOKEN: usize = 12;
    pub const BLOCK_LENGTH: u16 = 16;
    const _: () = assert!(tiles_block(&[(QTY, U64), (ACCOUNT, U32), (TOKEN, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(
        account: AccountId,
        token: Token,
        qty: Qty,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(QTY, qty)?;
        w.u32(ACCOUNT, account)?;
        w.u32(TOKEN, token)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<(AccountId, Token, Qty), DecodeError> {
        Ok((r.u32(ACCOUNT)?, r.u32(TOKEN)?, r.i64(QTY)?))
    }
}
