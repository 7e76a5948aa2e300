//! Exact framing: one message is the header plus exactly its template's block, no more, no less.

use crate::error::{DecodeError, EncodeError};
use crate::header::{MessageHeader, HEADER_LEN};
use crate::wire::{BlockReader, BlockWriter};

/// One template of a schema: its id, its name (the Command or Event variant) and its fixed block length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    pub id: u16,
    pub name: &'static str,
    pub block_length: u16,
}

impl TemplateInfo {
    /// Header plus block.
    pub const fn message_len(&self) -> usize {
        HEADER_LEN + self.block_length as usize
    }
}

/// The longest message in a template table.
pub(crate) const fn message_len_max(templates: &[TemplateInfo]) -> usize {
    let mut max = HEADER_LEN;
    let mut rest = templates;
    while let [first, tail @ ..] = rest {
        if first.message_len() > max {
            max = first.message_len();
        }
        rest = tail;
    }
    max
}

/// True when no two templates share an id and ids run 1, 2, 3, ... in table order.
pub(crate) const fn ids_are_dense(templates: &[TemplateInfo]) -> bool {
    let mut expected = 1;
    let mut rest = templates;
    while let [first, tail @ ..] = rest {
        if first.id != expected {
            return false;
        }
        expected += 1;
        rest = tail;
    }
    true
}

/// Checks the header's block length and the buffer's length against the template, and
/// returns a reader over the block.
pub(crate) fn framed_block<'a>(
    buf: &'a [u8],
    header: &MessageHeader,
    block_length: u16,
) -> Result<BlockReader<'a>, DecodeError> {
    if header.block_length != block_length {
        return Err(DecodeError::BlockLengthMismatch {
            template_id: header.template_id,
            expected: block_length,
            found: header.block_length,
        });
    }
    let needed = header.message_len();
    if buf.len() < needed {
        return Err(DecodeError::Truncated { needed, available: buf.len() });
    }
    if buf.len() > needed {
        return Err(DecodeError::BadLength { expected: needed, found: buf.len() });
    }
    let block = buf.get(HEADER_LEN..).ok_or(DecodeError::Truncated { needed, available: buf.len() })?;
    Ok(BlockReader::new(block))
}

/// Writes the header and lets `body` fill the block. Returns the message length.
/// On error the contents of `buf` are unspecified.
pub(crate) fn encode_message(
    buf: &mut [u8],
    header: MessageHeader,
    body: impl FnOnce(&mut BlockWriter<'_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let needed = header.message_len();
    let too_small = EncodeError::BufferTooSmall { needed, available: buf.len() };
    let message = buf.get_mut(..needed).ok_or(too_small)?;
    let (head, block) = message.split_at_mut_checked(HEADER_LEN).ok_or(too_small)?;
    body(&mut BlockWriter::new(block))?;
    header.encode(head)?;
    Ok(needed)
}

/// Width of a one-byte field (enum, bool).
pub(crate) const U8: usize = 1;
/// Width of a u32 field.
pub(crate) const U32: usize = 4;
/// Width of an i64 / u64 field.
pub(crate) const U64: usize = 8;
/// Width of a symbol field.
pub(crate) const SYMBOL_LEN: usize = engine_core::Symbol::LEN_MAX;

/// True when `(offset, width)` fields tile the block from 0 to `block_length` with no gap and
/// no overlap, and every field sits at an offset that is a multiple of its width (natural
/// alignment from the 8-aligned block start). Used in `const` assertions beside each layout.
pub(crate) const fn tiles_block(fields: &[(usize, usize)], block_length: u16) -> bool {
    let mut end = 0;
    let mut rest = fields;
    while let [(offset, width), tail @ ..] = rest {
        let align = if *width > U64 { 1 } else { *width };
        if *offset != end || *offset % align != 0 {
            return false;
        }
        end = *offset + *width;
        rest = tail;
    }
    end == block_length as usize
}
