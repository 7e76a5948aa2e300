//! Event layouts for cash, blocked cash and delivery holdings. Offsets are from the block start.

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
    /// `client_ref`, u64: the deposit's or withdrawal's; 0 for every other reason.
    pub const CLIENT_REF: usize = 16;
    /// `account`, u32.
    pub const ACCOUNT: usize = 24;
    /// `reason`, u8 `BalanceReason`.
    pub const REASON: usize = 28;
    pub const BLOCK_LENGTH: u16 = 29;
    const _: () = assert!(tiles_block(
        &[(DELTA, U64), (CASH, U64), (CLIENT_REF, U64), (ACCOUNT, U32), (REASON, U8)],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(
        account: AccountId,
        delta: i64,
        cash: i64,
        reason: BalanceReason,
        client_ref: u64,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(DELTA, delta)?;
        w.i64(CASH, cash)?;
        w.u64(CLIENT_REF, client_ref)?;
        w.u32(ACCOUNT, account)?;
        w.enumeration(REASON, reason)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::BalanceChanged {
            account: r.u32(ACCOUNT)?,
            delta: r.i64(DELTA)?,
            cash: r.i64(CASH)?,
            reason: r.enumeration(REASON, "reason")?,
            client_ref: r.u64(CLIENT_REF)?,
        })
    }
}

/// `AccountRisk` (template 18).
pub mod account_risk {
    use super::*;

    /// `reserved`, i64 paise.
    pub const RESERVED: usize = 0;
    /// `margin`, i64 paise.
    pub const MARGIN: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    pub const BLOCK_LENGTH: u16 = 20;
    const _: () = assert!(tiles_block(&[(RESERVED, U64), (MARGIN, U64), (ACCOUNT, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(
        account: AccountId,
        reserved: i64,
        margin: i64,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(RESERVED, reserved)?;
        w.i64(MARGIN, margin)?;
        w.u32(ACCOUNT, account)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Event, DecodeError> {
        Ok(Event::AccountRisk { account: r.u32(ACCOUNT)?, reserved: r.i64(RESERVED)?, margin: r.i64(MARGIN)? })
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
