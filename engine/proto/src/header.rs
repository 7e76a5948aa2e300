//! The message header that heads every command and event: 8 bytes, little-endian.
//!
//! ```text
//! offset  size  field
//!      0     2  block_length   bytes of the fixed block that follows the header
//!      2     2  template_id    which message (one per Command / Event variant)
//!      4     2  schema_id      COMMAND_SCHEMA_ID or EVENT_SCHEMA_ID
//!      6     2  version        schema version of the encoder
//! ```
//!
//! Decoding checks the schema id first, then the version, then switches on the template id.

use crate::error::{DecodeError, EncodeError};
use crate::wire::{read_array, write_array};

/// Bytes in the message header.
pub const HEADER_LEN: usize = 8;
/// Offset of `block_length` (u16).
pub const BLOCK_LENGTH: usize = 0;
/// Offset of `template_id` (u16).
pub const TEMPLATE_ID: usize = 2;
/// Offset of `schema_id` (u16).
pub const SCHEMA_ID: usize = 4;
/// Offset of `version` (u16).
pub const VERSION: usize = 6;

/// Schema of the commands the engine consumes (gateways and services to the engine).
pub const COMMAND_SCHEMA_ID: u16 = 1;
/// Schema of the events the engine publishes (engine to gateways and services).
pub const EVENT_SCHEMA_ID: u16 = 2;
/// The schema version this crate writes and the only one it reads. Both schemas share it.
pub const SCHEMA_VERSION: u16 = 1;

const _: () = assert!(VERSION + 2 == HEADER_LEN);

/// The decoded message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    pub block_length: u16,
    pub template_id: u16,
    pub schema_id: u16,
    pub version: u16,
}

impl MessageHeader {
    /// A header of the current schema version.
    pub const fn new(schema_id: u16, template_id: u16, block_length: u16) -> MessageHeader {
        MessageHeader { block_length, template_id, schema_id, version: SCHEMA_VERSION }
    }

    /// Reads the header at the start of `buf`; `Truncated` when `buf` is shorter than the header.
    pub fn decode(buf: &[u8]) -> Result<MessageHeader, DecodeError> {
        let truncated = DecodeError::Truncated { needed: HEADER_LEN, available: buf.len() };
        let field = |offset: usize| read_array::<2>(buf, offset).map(u16::from_le_bytes).ok_or(truncated);
        Ok(MessageHeader {
            block_length: field(BLOCK_LENGTH)?,
            template_id: field(TEMPLATE_ID)?,
            schema_id: field(SCHEMA_ID)?,
            version: field(VERSION)?,
        })
    }

    /// Writes the header at the start of `buf`; `BufferTooSmall` when `buf` is shorter than the header.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        let written = buf.len() >= HEADER_LEN
            && write_array(buf, BLOCK_LENGTH, self.block_length.to_le_bytes())
            && write_array(buf, TEMPLATE_ID, self.template_id.to_le_bytes())
            && write_array(buf, SCHEMA_ID, self.schema_id.to_le_bytes())
            && write_array(buf, VERSION, self.version.to_le_bytes());
        if written {
            Ok(())
        } else {
            Err(EncodeError::BufferTooSmall { needed: HEADER_LEN, available: buf.len() })
        }
    }

    /// Header plus block: the exact length of the framed message.
    pub const fn message_len(&self) -> usize {
        HEADER_LEN + self.block_length as usize
    }

    /// Checks the schema id, then the version.
    pub fn expect_schema(&self, schema_id: u16) -> Result<(), DecodeError> {
        if self.schema_id != schema_id {
            return Err(DecodeError::SchemaMismatch { expected: schema_id, found: self.schema_id });
        }
        // Version 1 is the only one so far. When a later version appends fields, older
        // messages will still decode by their own (shorter) block length.
        if self.version != SCHEMA_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: self.version, supported: SCHEMA_VERSION });
        }
        Ok(())
    }
}
