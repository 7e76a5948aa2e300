//! Event layouts for instruments and accounts. Offsets are from the block start.

use engine_core::{AccountId, AccountStatus, Event, InstrumentSpec, InstrumentStatus, Price, Token};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, SYMBOL_LEN, U32, U64, U8};
use crate::wire::{BlockReader, BlockWriter};

/// `InstrumentAdded` (template 1): the instrument's specification and its circuit band.
pub mod instrument_added {
    use super::*;

    /// `band_low`, i64 paise.
    pub const BAND_LOW: usize = 0;
    /// `band_high`, i64 paise.
    pub const BAND_HIGH: usize = 8;
    /// `tick`, i64 paise.
    pub const TICK: usize = 16;
    /// `lot`, i64 shares.
    pub const LOT: usize = 24;
    /// `reference_price`, i64 paise.
    pub const REFERENCE_PRICE: usize = 32;
    /// `symbol`, 16 bytes of printable ASCII, NUL-padded.
    pub const SYMBOL: usize = 40;
    /// `token`, u32.
    pub const TOKEN: usize = 56;
    /// `band_bps`, u32.
    pub const BAND_BPS: usize = 60;
    /// `mis_leverage`, u32.
    pub const MIS_LEVERAGE: usize = 64;
    pub const BLOCK_LENGTH: u16 = 68;
    const _: () = assert!(tiles_block(
        &[
            (BAND_LOW, U64),
            (BAND_HIGH, U64),
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

    pub(crate) fn encode(
        spec: &InstrumentSpec,
        band_low: Price,
        band_high: Price,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(BAND_LOW, band_low)?;
        w.i64(BAND_HIGH, band_high)?;
        w.i64(TICK, spec.tick)?;
        w.i64(LOT, spec.lot)?;
        w.i64(REFERENCE_PRICE, spec.reference_price)?;
        w.symbol(SYMBOL, spec.symbol)?;
        w.u32(TOKEN, spec.token)?;
        w.u32(BAND_BPS, spec.band_bps)?;
        w.u32(MIS_LEVERAGE, spec.mis_leverage)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        let spec = InstrumentSpec {
            token: r.u32(TOKEN)?,
            symbol: r.symbol(SYMBOL)?,
            tick: r.i64(TICK)?,
            lot: r.i64(LOT)?,
            band_bps: r.u32(BAND_BPS)?,
            reference_price: r.i64(REFERENCE_PRICE)?,
            mis_leverage: r.u32(MIS_LEVERAGE)?,
        };
        Ok(Event::InstrumentAdded { spec, band_low: r.i64(BAND_LOW)?, band_high: r.i64(BAND_HIGH)? })
    }
}

/// `InstrumentStatusChanged` (template 4).
pub mod instrument_status_changed {
    use super::*;

    /// `token`, u32.
    pub const TOKEN: usize = 0;
    /// `status`, u8 `InstrumentStatus`.
    pub const STATUS: usize = 4;
    pub const BLOCK_LENGTH: u16 = 5;
    const _: () = assert!(tiles_block(&[(TOKEN, U32), (STATUS, U8)], BLOCK_LENGTH));

    pub(crate) fn encode(token: Token, status: InstrumentStatus, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u32(TOKEN, token)?;
        w.enumeration(STATUS, status)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::InstrumentStatusChanged { token: r.u32(TOKEN)?, status: r.enumeration(STATUS, "status")? })
    }
}

/// `AccountStatusChanged` (template 7).
pub mod account_status_changed {
    use super::*;

    /// `account`, u32.
    pub const ACCOUNT: usize = 0;
    /// `status`, u8 `AccountStatus`.
    pub const STATUS: usize = 4;
    pub const BLOCK_LENGTH: u16 = 5;
    const _: () = assert!(tiles_block(&[(ACCOUNT, U32), (STATUS, U8)], BLOCK_LENGTH));

    pub(crate) fn encode(
        account: AccountId,
        status: AccountStatus,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.u32(ACCOUNT, account)?;
        w.enumeration(STATUS, status)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::AccountStatusChanged { account: r.u32(ACCOUNT)?, status: r.enumeration(STATUS, "status")? })
    }
}
