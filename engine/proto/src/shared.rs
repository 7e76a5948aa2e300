//! Block layouts shared by several templates, in either schema. Offsets are from the start of
//! the block (right after the 8-byte header); all fields are little-endian.

use engine_core::{AccountId, AccountLimits, FeeSchedule, Token};

use crate::error::{DecodeError, EncodeError};
use crate::framing::{tiles_block, U32, U64};
use crate::wire::{BlockReader, BlockWriter};

/// No fields: `OpenSession`, `CloseSession`, `SessionOpened`, `SessionClosed`.
pub mod empty {
    pub const BLOCK_LENGTH: u16 = 0;
}

/// One instrument token: `Halt`, `Resume`, `MassCancelInstrument`, `SquareOffMis`.
pub mod token_only {
    use super::*;

    /// `token`, u32.
    pub const TOKEN: usize = 0;
    pub const BLOCK_LENGTH: u16 = 4;
    const _: () = assert!(tiles_block(&[(TOKEN, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(token: Token, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u32(TOKEN, token)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<Token, DecodeError> {
        r.u32(TOKEN)
    }
}

/// One account id: `ActivateAccount`, `SuspendAccount`, `MassCancelAccount`.
pub mod account_only {
    use super::*;

    /// `account`, u32.
    pub const ACCOUNT: usize = 0;
    pub const BLOCK_LENGTH: u16 = 4;
    const _: () = assert!(tiles_block(&[(ACCOUNT, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(account: AccountId, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.u32(ACCOUNT, account)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<AccountId, DecodeError> {
        r.u32(ACCOUNT)
    }
}

/// An account and its limits: `CreateAccount`, `SetAccountLimits`, `AccountCreated`, `AccountLimitsSet`.
pub mod account_limits {
    use super::*;

    /// `limits.order_value_max`, i64 paise.
    pub const ORDER_VALUE_MAX: usize = 0;
    /// `limits.position_max`, i64 shares.
    pub const POSITION_MAX: usize = 8;
    /// `account`, u32.
    pub const ACCOUNT: usize = 16;
    /// `limits.open_orders_max`, u32.
    pub const OPEN_ORDERS_MAX: usize = 20;
    /// `limits.mis_leverage`, u32.
    pub const MIS_LEVERAGE: usize = 24;
    pub const BLOCK_LENGTH: u16 = 28;
    const _: () = assert!(tiles_block(
        &[(ORDER_VALUE_MAX, U64), (POSITION_MAX, U64), (ACCOUNT, U32), (OPEN_ORDERS_MAX, U32), (MIS_LEVERAGE, U32)],
        BLOCK_LENGTH
    ));

    pub(crate) fn encode(
        account: AccountId,
        limits: &AccountLimits,
        w: &mut BlockWriter<'_>,
    ) -> Result<(), EncodeError> {
        w.i64(ORDER_VALUE_MAX, limits.order_value_max)?;
        w.i64(POSITION_MAX, limits.position_max)?;
        w.u32(ACCOUNT, account)?;
        w.u32(OPEN_ORDERS_MAX, limits.open_orders_max)?;
        w.u32(MIS_LEVERAGE, limits.mis_leverage)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<(AccountId, AccountLimits), DecodeError> {
        let limits = AccountLimits {
            order_value_max: r.i64(ORDER_VALUE_MAX)?,
            open_orders_max: r.u32(OPEN_ORDERS_MAX)?,
            position_max: r.i64(POSITION_MAX)?,
            mis_leverage: r.u32(MIS_LEVERAGE)?,
        };
        Ok((r.u32(ACCOUNT)?, limits))
    }
}

/// The brokerage schedule: `SetFeeSchedule`, `FeeScheduleSet`.
pub mod fee_schedule {
    use super::*;

    /// `cap`, i64 paise.
    pub const CAP: usize = 0;
    /// `bps`, u32.
    pub const BPS: usize = 8;
    /// `fee_account`, u32.
    pub const FEE_ACCOUNT: usize = 12;
    pub const BLOCK_LENGTH: u16 = 16;
    const _: () = assert!(tiles_block(&[(CAP, U64), (BPS, U32), (FEE_ACCOUNT, U32)], BLOCK_LENGTH));

    pub(crate) fn encode(fees: &FeeSchedule, w: &mut BlockWriter<'_>) -> Result<(), EncodeError> {
        w.i64(CAP, fees.cap)?;
        w.u32(BPS, fees.bps)?;
        w.u32(FEE_ACCOUNT, fees.fee_account)
    }

    pub(crate) fn decode(r: &BlockReader<'_>) -> Result<FeeSchedule, DecodeError> {
        Ok(FeeSchedule { bps: r.u32(BPS)?, cap: r.i64(CAP)?, fee_account: r.u32(FEE_ACCOUNT)? })
    }
}
