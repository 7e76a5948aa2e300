//! Event layouts for cash and delivery holdings. Offsets are from the block start.

use engine_core::{AccountId, BalanceReason, Event, HoldingsReason, Qty, Token};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, U32, U64, U8};
use crate::wire::{BlockReader, BlockWriter};

/// `BalanceChanged` (template 15).
pub mod balance_changed {
    use super::*;

    /// `delta`, i64 paise.
    pub const DELTA: usize = 0;
    /// `cash`, i64 paise.
    pub const CASH: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    /// `reason`, u8 `BalanceReason`.
    pub const REASON: usize = 20;
    pub const BLOCK_LENGTH: u16 = 21;
    const _: () = assert!(tiles_block(&[(DELTA, U64), (CASH, U64), (ACCOUNT, U32), (REASON, U8)], BLOCK_LENGTH));

    pub(crate) fn encode(
        account: AccountId,
        delta: i64,
        cash: i64,
        reason: BalanceReason,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(DELTA, delta)?;
        w.i64(CASH, cash)?;
        w.u32(ACCOUNT, account)?;
        w.enumeration(REASON, reason)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::BalanceChanged {
            account: r.u32(ACCOUNT)?,
            delta: r.i64(DELTA)?,
            cash: r.i64(CASH)?,
            reason: r.enumeration(REASON, "reason")?,
        })
    }
}

/// `HoldingsChanged` (template 16).
pub mod holdings_changed {
    use super::*;

    /// `delta`, i64 shares.
    pub const DELTA: usize = 0;
    /// `holdings`, i64 shares.
    pub const HOLDINGS: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    /// `token`, u32.
    pub const TOKEN: usize = 20;
    /// `reason`, u8 `HoldingsReason`.
    pub const REASON: usize = 24;
    pub const BLOCK_LENGTH: u16 = 25;
    const _: () = assert!(tiles_block(
        &[(DELTA, U64), (HOLDINGS, U64), (ACCOUNT, U32), (TOKEN, U32), (REASON, U8)],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(
        account: AccountId,
        token: Token,
        delta: Qty,
        holdings: Qty,
        reason: HoldingsReason,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(DELTA, delta)?;
        w.i64(HOLDINGS, holdings)?;
        w.u32(ACCOUNT, account)?;
        w.u32(TOKEN, token)?;
        w.enumeration(REASON, reason)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::HoldingsChanged {
            account: r.u32(ACCOUNT)?,
            token: r.u32(TOKEN)?,
            delta: r.i64(DELTA)?,
            holdings: r.i64(HOLDINGS)?,
            reason: r.enumeration(REASON, "reason")?,
        })
    }
}
