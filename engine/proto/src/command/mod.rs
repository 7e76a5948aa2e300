//! The command schema (`COMMAND_SCHEMA_ID`): one template per `Command` variant.
//!
//! Template ids equal engine-core's `CommandKind` values, so the `kind` in a `Rejected` event
//! names the template of the command it answers.

pub mod admin;
pub mod order;

use engine_core::Command;

use crate::error::{DecodeError, EncodeError};
use crate::framing::{encode_message, framed_block, ids_are_dense, message_len_max, TemplateInfo};
use crate::header::{MessageHeader, COMMAND_SCHEMA_ID};
use crate::shared::{account_limits, account_only, empty, fee_schedule, token_only};
use admin::{add_instrument, cash, holdings};
use order::{cancel, modify, place};

/// Command template ids.
pub mod template {
    pub const ADD_INSTRUMENT: u16 = 1;
    pub const OPEN_SESSION: u16 = 2;
    pub const CLOSE_SESSION: u16 = 3;
    pub const HALT: u16 = 4;
    pub const RESUME: u16 = 5;
    pub const CREATE_ACCOUNT: u16 = 6;
    pub const SET_ACCOUNT_LIMITS: u16 = 7;
    pub const ACTIVATE_ACCOUNT: u16 = 8;
    pub const SUSPEND_ACCOUNT: u16 = 9;
    pub const DEPOSIT: u16 = 10;
    pub const WITHDRAW: u16 = 11;
    pub const DEPOSIT_HOLDINGS: u16 = 12;
    pub const WITHDRAW_HOLDINGS: u16 = 13;
    pub const SET_FEE_SCHEDULE: u16 = 14;
    pub const PLACE: u16 = 15;
    pub const MODIFY: u16 = 16;
    pub const CANCEL: u16 = 17;
    pub const MASS_CANCEL_ACCOUNT: u16 = 18;
    pub const MASS_CANCEL_INSTRUMENT: u16 = 19;
    pub const SQUARE_OFF_MIS: u16 = 20;
}

const fn info(id: u16, name: &'static str, block_length: u16) -> TemplateInfo {
    TemplateInfo { id, name, block_length }
}

/// Every command template, in id order.
pub const COMMAND_TEMPLATES: &[TemplateInfo] = &[
    info(template::ADD_INSTRUMENT, "AddInstrument", add_instrument::BLOCK_LENGTH),
    info(template::OPEN_SESSION, "OpenSession", empty::BLOCK_LENGTH),
    info(template::CLOSE_SESSION, "CloseSession", empty::BLOCK_LENGTH),
    info(template::HALT, "Halt", token_only::BLOCK_LENGTH),
    info(template::RESUME, "Resume", token_only::BLOCK_LENGTH),
    info(template::CREATE_ACCOUNT, "CreateAccount", account_limits::BLOCK_LENGTH),
    info(template::SET_ACCOUNT_LIMITS, "SetAccountLimits", account_limits::BLOCK_LENGTH),
    info(template::ACTIVATE_ACCOUNT, "ActivateAccount", account_only::BLOCK_LENGTH),
    info(template::SUSPEND_ACCOUNT, "SuspendAccount", account_only::BLOCK_LENGTH),
    info(template::DEPOSIT, "Deposit", cash::BLOCK_LENGTH),
    info(template::WITHDRAW, "Withdraw", cash::BLOCK_LENGTH),
    info(template::DEPOSIT_HOLDINGS, "DepositHoldings", holdings::BLOCK_LENGTH),
    info(template::WITHDRAW_HOLDINGS, "WithdrawHoldings", holdings::BLOCK_LENGTH),
    info(template::SET_FEE_SCHEDULE, "SetFeeSchedule", fee_schedule::BLOCK_LENGTH),
    info(template::PLACE, "Place", place::BLOCK_LENGTH),
    info(template::MODIFY, "Modify", modify::BLOCK_LENGTH),
    info(template::CANCEL, "Cancel", cancel::BLOCK_LENGTH),
    info(template::MASS_CANCEL_ACCOUNT, "MassCancelAccount", account_only::BLOCK_LENGTH),
    info(template::MASS_CANCEL_INSTRUMENT, "MassCancelInstrument", token_only::BLOCK_LENGTH),
    info(template::SQUARE_OFF_MIS, "SquareOffMis", token_only::BLOCK_LENGTH),
];
const _: () = assert!(ids_are_dense(COMMAND_TEMPLATES));

/// The longest encoded command (header included). A buffer this long fits any command.
pub const COMMAND_LEN_MAX: usize = message_len_max(COMMAND_TEMPLATES);

/// Encodes `cmd` at the start of `buf` and returns the number of bytes written.
///
/// Errors: `BufferTooSmall` (a buffer of `COMMAND_LEN_MAX` bytes never is), `InvalidSymbol`.
pub fn encode_command(cmd: &Command, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let header = |id: u16, block_length: u16| MessageHeader::new(COMMAND_SCHEMA_ID, id, block_length);
    use template as t;
    match *cmd {
        Command::AddInstrument(ref spec) => {
            encode_message(buf, header(t::ADD_INSTRUMENT, add_instrument::BLOCK_LENGTH), |w| {
                add_instrument::encode(spec, w)
            })
        }
        Command::OpenSession => encode_message(buf, header(t::OPEN_SESSION, empty::BLOCK_LENGTH), |_| Ok(())),
        Command::CloseSession => encode_message(buf, header(t::CLOSE_SESSION, empty::BLOCK_LENGTH), |_| Ok(())),
        Command::Halt { token } => {
            encode_message(buf, header(t::HALT, token_only::BLOCK_LENGTH), |w| token_only::encode(token, w))
        }
        Command::Resume { token } => {
            encode_message(buf, header(t::RESUME, token_only::BLOCK_LENGTH), |w| token_only::encode(token, w))
        }
        Command::CreateAccount { account, ref limits } => {
            encode_message(buf, header(t::CREATE_ACCOUNT, account_limits::BLOCK_LENGTH), |w| {
                account_limits::encode(account, limits, w)
            })
        }
        Command::SetAccountLimits { account, ref limits } => {
            encode_message(buf, header(t::SET_ACCOUNT_LIMITS, account_limits::BLOCK_LENGTH), |w| {
                account_limits::encode(account, limits, w)
            })
        }
        Command::ActivateAccount { account } => {
            encode_message(buf, header(t::ACTIVATE_ACCOUNT, account_only::BLOCK_LENGTH), |w| {
                account_only::encode(account, w)
            })
        }
        Command::SuspendAccount { account } => {
            encode_message(buf, header(t::SUSPEND_ACCOUNT, account_only::BLOCK_LENGTH), |w| {
                account_only::encode(account, w)
            })
        }
        Command::Deposit { client_ref, account, amount } => {
            encode_message(buf, header(t::DEPOSIT, cash::BLOCK_LENGTH), |w| {
                cash::encode(client_ref, account, amount, w)
            })
        }
        Command::Withdraw { client_ref, account, amount } => {
            encode_message(buf, header(t::WITHDRAW, cash::BLOCK_LENGTH), |w| {
                cash::encode(client_ref, account, amount, w)
            })
        }
        Command::DepositHoldings { account, token, qty } => {
            encode_message(buf, header(t::DEPOSIT_HOLDINGS, holdings::BLOCK_LENGTH), |w| {
                holdings::encode(account, token, qty, w)
            })
        }
        Command::WithdrawHoldings { account, token, qty } => {
            encode_message(buf, header(t::WITHDRAW_HOLDINGS, holdings::BLOCK_LENGTH), |w| {
                holdings::encode(account, token, qty, w)
            })
        }
        Command::SetFeeSchedule(ref fees) => {
            encode_message(buf, header(t::SET_FEE_SCHEDULE, fee_schedule::BLOCK_LENGTH), |w| {
                fee_schedule::encode(fees, w)
            })
        }
        Command::Place(ref order) => {
            encode_message(buf, header(t::PLACE, place::BLOCK_LENGTH), |w| place::encode(order, w))
        }
        Command::Modify(ref change) => {
            encode_message(buf, header(t::MODIFY, modify::BLOCK_LENGTH), |w| modify::encode(change, w))
        }
        Command::Cancel { client_ref, account, order_id } => {
            encode_message(buf, header(t::CANCEL, cancel::BLOCK_LENGTH), |w| {
                cancel::encode(client_ref, account, order_id, w)
            })
        }
        Command::MassCancelAccount { account } => {
            encode_message(buf, header(t::MASS_CANCEL_ACCOUNT, account_only::BLOCK_LENGTH), |w| {
                account_only::encode(account, w)
            })
        }
        Command::MassCancelInstrument { token } => {
            encode_message(buf, header(t::MASS_CANCEL_INSTRUMENT, token_only::BLOCK_LENGTH), |w| {
                token_only::encode(token, w)
            })
        }
        Command::SquareOffMis { token } => {
            encode_message(buf, header(t::SQUARE_OFF_MIS, token_only::BLOCK_LENGTH), |w| token_only::encode(token, w))
        }
    }
}

/// Decodes exactly one command that fills `buf`: schema, version, template, block length,
/// buffer length and every field value are checked.
pub fn decode_command(buf: &[u8]) -> Result<Command, DecodeError> {
    let header = MessageHeader::decode(buf)?;
    header.expect_schema(COMMAND_SCHEMA_ID)?;
    let block = |block_length: u16| framed_block(buf, &header, block_length);
    use template as t;
    let cmd = match header.template_id {
        t::ADD_INSTRUMENT => Command::AddInstrument(add_instrument::decode(&block(add_instrument::BLOCK_LENGTH)?)?),
        t::OPEN_SESSION => {
            block(empty::BLOCK_LENGTH)?;
            Command::OpenSession
        }
        t::CLOSE_SESSION => {
            block(empty::BLOCK_LENGTH)?;
            Command::CloseSession
        }
        t::HALT => Command::Halt { token: token_only::decode(&block(token_only::BLOCK_LENGTH)?)? },
        t::RESUME => Command::Resume { token: token_only::decode(&block(token_only::BLOCK_LENGTH)?)? },
        t::CREATE_ACCOUNT => {
            let (account, limits) = account_limits::decode(&block(account_limits::BLOCK_LENGTH)?)?;
            Command::CreateAccount { account, limits }
        }
        t::SET_ACCOUNT_LIMITS => {
            let (account, limits) = account_limits::decode(&block(account_limits::BLOCK_LENGTH)?)?;
            Command::SetAccountLimits { account, limits }
        }
        t::ACTIVATE_ACCOUNT => {
            Command::ActivateAccount { account: account_only::decode(&block(account_only::BLOCK_LENGTH)?)? }
        }
        t::SUSPEND_ACCOUNT => {
            Command::SuspendAccount { account: account_only::decode(&block(account_only::BLOCK_LENGTH)?)? }
        }
        t::DEPOSIT => {
            let (client_ref, account, amount) = cash::decode(&block(cash::BLOCK_LENGTH)?)?;
            Command::Deposit { client_ref, account, amount }
        }
        t::WITHDRAW => {
            let (client_ref, account, amount) = cash::decode(&block(cash::BLOCK_LENGTH)?)?;
            Command::Withdraw { client_ref, account, amount }
        }
        t::DEPOSIT_HOLDINGS => {
            let (account, token, qty) = holdings::decode(&block(holdings::BLOCK_LENGTH)?)?;
            Command::DepositHoldings { account, token, qty }
        }
        t::WITHDRAW_HOLDINGS => {
            let (account, token, qty) = holdings::decode(&block(holdings::BLOCK_LENGTH)?)?;
            Command::WithdrawHoldings { account, token, qty }
        }
        t::SET_FEE_SCHEDULE => Command::SetFeeSchedule(fee_schedule::decode(&block(fee_schedule::BLOCK_LENGTH)?)?),
        t::PLACE => Command::Place(place::decode(&block(place::BLOCK_LENGTH)?)?),
        t::MODIFY => Command::Modify(modify::decode(&block(modify::BLOCK_LENGTH)?)?),
        t::CANCEL => {
            let (client_ref, account, order_id) = cancel::decode(&block(cancel::BLOCK_LENGTH)?)?;
            Command::Cancel { client_ref, account, order_id }
        }
        t::MASS_CANCEL_ACCOUNT => {
            Command::MassCancelAccount { account: account_only::decode(&block(account_only::BLOCK_LENGTH)?)? }
        }
        t::MASS_CANCEL_INSTRUMENT => {
            Command::MassCancelInstrument { token: token_only::decode(&block(token_only::BLOCK_LENGTH)?)? }
        }
        t::SQUARE_OFF_MIS => Command::SquareOffMis { token: token_only::decode(&block(token_only::BLOCK_LENGTH)?)? },
        other => return Err(DecodeError::UnknownTemplate(other)),
    };
    Ok(cmd)
}
