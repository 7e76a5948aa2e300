//! engine-proto: the wire format of the engine's commands and events.
//!
//! Every message is an 8-byte header followed by one fixed-length block, little-endian, in the
//! style of SBE (Simple Binary Encoding):
//!
//! ```text
//! header: block_length u16 | template_id u16 | schema_id u16 | version u16
//! block:  the template's fields at fixed offsets, widest first (i64/u64, symbol, u32, u8)
//! ```
//!
//! Commands and events are two schemas: `COMMAND_SCHEMA_ID` = 1 and `EVENT_SCHEMA_ID` = 2,
//! both at `SCHEMA_VERSION` = 1, so a command can never be read as an event. Each `Command`
//! variant and each `Event` variant has its own template id (tables below); command template
//! ids equal `CommandKind` values. Field offsets are `const` items in one module per layout
//! ([`command::order::place`], [`event::execution::trade`], ...), checked at compile time to tile
//! the block with no gap or overlap, each field naturally aligned.
//!
//! Decoding is strict, so every accepted message re-encodes to the same bytes: the schema id
//! must match, the version must be one this crate reads, the template id must exist, the
//! header's block length must equal the template's, the buffer must hold exactly one message
//! (the journal and the transport frame messages by length), enum bytes must be listed
//! values, booleans 0 or 1, and symbols valid. The codec never allocates, never panics on any
//! input and has no `unsafe`.
//!
//! | command template | id | block | | event template | id | block |
//! |---|---|---|---|---|---|---|
//! | AddInstrument | 1 | 52 | | InstrumentAdded | 1 | 68 |
//! | OpenSession | 2 | 0 | | SessionOpened | 2 | 0 |
//! | CloseSession | 3 | 0 | | SessionClosed | 3 | 0 |
//! | Halt | 4 | 4 | | InstrumentStatusChanged | 4 | 5 |
//! | Resume | 5 | 4 | | AccountCreated | 5 | 28 |
//! | CreateAccount | 6 | 28 | | AccountLimitsSet | 6 | 28 |
//! | SetAccountLimits | 7 | 28 | | AccountStatusChanged | 7 | 5 |
//! | ActivateAccount | 8 | 4 | | FeeScheduleSet | 8 | 16 |
//! | SuspendAccount | 9 | 4 | | Rejected | 9 | 22 |
//! | Deposit | 10 | 20 | | Accepted | 10 | 61 |
//! | Withdraw | 11 | 20 | | Triggered | 11 | 20 |
//! | DepositHoldings | 12 | 16 | | Trade | 12 | 87 |
//! | WithdrawHoldings | 13 | 16 | | Modified | 13 | 53 |
//! | SetFeeSchedule | 14 | 16 | | Cancelled | 14 | 25 |
//! | Place | 15 | 53 | | BalanceChanged | 15 | 29 |
//! | Modify | 16 | 44 | | HoldingsChanged | 16 | 25 |
//! | Cancel | 17 | 20 | | BookLevel | 17 | 25 |
//! | MassCancelAccount | 18 | 4 | | AccountRisk | 18 | 20 |
//! | MassCancelInstrument | 19 | 4 | | | | |
//! | SquareOffMis | 20 | 4 | | | | |
//!
//! ```
//! use engine_core::Command;
//! use engine_proto::{decode_command, encode_command, COMMAND_LEN_MAX};
//!
//! let mut buf = [0u8; COMMAND_LEN_MAX];
//! let len = encode_command(&Command::Halt { token: 256265 }, &mut buf).unwrap();
//! assert_eq!(decode_command(&buf[..len]), Ok(Command::Halt { token: 256265 }));
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod batch;
pub mod command;
pub mod enums;
pub mod error;
pub mod event;
mod framing;
pub mod header;
pub mod shared;
mod wire;

pub use batch::{decode_batch, encode_batch, BatchHeader, BATCH_HEADER_LEN};
pub use command::{decode_command, encode_command, COMMAND_LEN_MAX, COMMAND_TEMPLATES};
pub use error::{DecodeError, EncodeError};
pub use event::{decode_event, encode_event, EVENT_LEN_MAX, EVENT_TEMPLATES};
pub use framing::TemplateInfo;
pub use header::{MessageHeader, COMMAND_SCHEMA_ID, EVENT_SCHEMA_ID, HEADER_LEN, SCHEMA_VERSION};
