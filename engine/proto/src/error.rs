//! Codec errors. A decode error means the bytes are not a message of this schema; it never
//! means a business rejection (those are `Event::Rejected`).

use thiserror::Error;

/// Why bytes could not be decoded into a command or an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer bytes than the header, or than the header plus the template's block length.
    #[error("truncated message: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    /// The message belongs to another schema (an event where a command was expected, or foreign bytes).
    #[error("schema id {found}, expected {expected}")]
    SchemaMismatch { expected: u16, found: u16 },
    /// A schema version this decoder does not know.
    #[error("schema version {found} is not supported (this decoder reads version {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    /// No template with this id in the schema.
    #[error("unknown template id {0}")]
    UnknownTemplate(u16),
    /// The header's block length differs from the template's fixed block length.
    #[error("template {template_id}: block length {found}, expected {expected}")]
    BlockLengthMismatch { template_id: u16, expected: u16, found: u16 },
    /// More bytes than the message: framing is exact, so trailing bytes are an error.
    #[error("message is {expected} bytes, buffer holds {found}")]
    BadLength { expected: usize, found: usize },
    /// An enum field holds a byte outside its value set.
    #[error("field {field}: invalid enum value {value}")]
    InvalidEnum { field: &'static str, value: u8 },
    /// A boolean field holds a byte other than 0 or 1.
    #[error("field {field}: invalid boolean value {value}")]
    InvalidBool { field: &'static str, value: u8 },
    /// A symbol that is empty, not printable ASCII, or not NUL-padded.
    #[error("invalid symbol bytes")]
    InvalidSymbol,
}

/// Why a command or event could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The output buffer is shorter than the encoded message.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall { needed: usize, available: usize },
    /// The value holds a symbol that a decoder would reject; it is refused rather than sent.
    #[error("invalid symbol bytes")]
    InvalidSymbol,
}
