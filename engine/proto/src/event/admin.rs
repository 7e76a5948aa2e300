//! Event layouts for instruments and accounts. Offsets are from the block start.

use engine_core::{AccountId, AccountStatus, Event, InstrumentStatus, Price, Token};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, U32, U64, U8};
use crate::wire::{BlockReader, BlockWriter};

/// `InstrumentAdded` (template 1): the instrument and its circuit band.
pub mod instrument_added {
    use super::*;

    /// `band_low`, i64 paise.
    pub const BAND_LOW: usize = 0;
    /// `band_high`, i64 paise.
    pub const BAND_HIGH: usize = 8;
    /// `token`, u32.
    pub const TOKEN: usize = 16;
    pub const BLOCK_LENGTH: u16 = 20;
    const _: () = assert!(tiles_block(&[(BAND_LOW, U64), (BAND_HIGH, U64), (TOKEN, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(
        token: Token,
        band_low: Price,
        band_high: Price,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(BAND_LOW, band_low)?;
        w.i64(BAND_HIGH, band_high)?;
        w.u32(TOKEN, token)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::InstrumentAdded { token: r.u32(TOKEN)?, band_low: r.i64(BAND_LOW)?, band_high: r.i64(BAND_HIGH)? })
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
