//! Field primitives: little-endian reads and writes at fixed offsets inside a block.
//!
//! Every access is bounds-checked through `get`, so no input can make the codec panic. The
//! block length is checked once when a message is framed; a failed field access after that
//! would mean a layout bug, and still surfaces as an error rather than a panic.

use engine_core::Symbol;

use crate::enums::WireEnum;
use crate::error::{DecodeError, EncodeError};

/// Copies `N` bytes at `offset` out of `buf`; `None` when they are not all there.
#[inline]
pub(crate) fn read_array<const N: usize>(buf: &[u8], offset: usize) -> Option<[u8; N]> {
    buf.get(offset..).and_then(|tail| tail.first_chunk::<N>()).copied()
}

/// Writes `bytes` at `offset` into `buf`; `false` when `buf` is too short.
#[inline]
pub(crate) fn write_array<const N: usize>(buf: &mut [u8], offset: usize, bytes: [u8; N]) -> bool {
    match buf.get_mut(offset..).and_then(|tail| tail.first_chunk_mut::<N>()) {
        Some(dst) => {
            *dst = bytes;
            true
        }
        None => false,
    }
}

/// Reads the fields of one framed block (the bytes after the header).
#[derive(Clone, Copy, Debug)]
pub struct BlockReader<'a> {
    block: &'a [u8],
}

impl<'a> BlockReader<'a> {
    pub(crate) fn new(block: &'a [u8]) -> BlockReader<'a> {
        BlockReader { block }
    }

    #[inline]
    fn array<const N: usize>(&self, offset: usize) -> Result<[u8; N], DecodeError> {
        read_array::<N>(self.block, offset)
            .ok_or(DecodeError::Truncated { needed: offset.saturating_add(N), available: self.block.len() })
    }

    #[inline]
    pub fn u8(&self, offset: usize) -> Result<u8, DecodeError> {
        self.array::<1>(offset).map(|[b]| b)
    }

    #[inline]
    pub fn u32(&self, offset: usize) -> Result<u32, DecodeError> {
        self.array(offset).map(u32::from_le_bytes)
    }

    #[inline]
    pub fn u64(&self, offset: usize) -> Result<u64, DecodeError> {
        self.array(offset).map(u64::from_le_bytes)
    }

    #[inline]
    pub fn i64(&self, offset: usize) -> Result<i64, DecodeError> {
        self.array(offset).map(i64::from_le_bytes)
    }

    /// A boolean byte: 0 or 1, nothing else.
    #[inline]
    pub fn bool(&self, offset: usize, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(offset)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { field, value }),
        }
    }

    /// An enum byte, which must be one of the enum's values.
    #[inline]
    pub fn enumeration<E: WireEnum>(&self, offset: usize, field: &'static str) -> Result<E, DecodeError> {
        let value = self.u8(offset)?;
        E::from_wire(value).ok_or(DecodeError::InvalidEnum { field, value })
    }

    /// A 16-byte symbol, which must satisfy `Symbol::is_valid`.
    #[inline]
    pub fn symbol(&self, offset: usize) -> Result<Symbol, DecodeError> {
        let symbol = Symbol(self.array::<{ Symbol::LEN_MAX }>(offset)?);
        if symbol.is_valid() {
            Ok(symbol)
        } else {
            Err(DecodeError::InvalidSymbol)
        }
    }
}

/// Writes the fields of one block (the bytes after the header).
#[derive(Debug)]
pub struct BlockWriter<'a> {
    block: &'a mut [u8],
}

impl<'a> BlockWriter<'a> {
    pub(crate) fn new(block: &'a mut [u8]) -> BlockWriter<'a> {
        BlockWriter { block }
    }

    #[inline]
    fn array<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) -> Result<(), EncodeError> {
        if write_array(self.block, offset, bytes) {
            Ok(())
        } else {
            Err(EncodeError::BufferTooSmall { needed: offset.saturating_add(N), available: self.block.len() })
        }
    }

    #[inline]
    pub fn u8(&mut self, offset: usize, value: u8) -> Result<(), EncodeError> {
        self.array(offset, [value])
    }

    #[inline]
    pub fn u32(&mut self, offset: usize, value: u32) -> Result<(), EncodeError> {
        self.array(offset, value.to_le_bytes())
    }

    #[inline]
    pub fn u64(&mut self, offset: usize, value: u64) -> Result<(), EncodeError> {
        self.array(offset, value.to_le_bytes())
    }

    #[inline]
    pub fn i64(&mut self, offset: usize, value: i64) -> Result<(), EncodeError> {
        self.array(offset, value.to_le_bytes())
    }

    #[inline]
    pub fn bool(&mut self, offset: usize, value: bool) -> Result<(), EncodeError> {
        self.u8(offset, u8::from(value))
    }

    #[inline]
    pub fn enumeration<E: WireEnum>(&mut self, offset: usize, value: E) -> Result<(), EncodeError> {
        self.u8(offset, value.to_wire())
    }

    /// Refuses a symbol that a decoder would reject.
    #[inline]
    pub fn symbol(&mut self, offset: usize, value: Symbol) -> Result<(), EncodeError> {
        if !value.is_valid() {
            return Err(EncodeError::InvalidSymbol);
        }
        self.array(offset, value.0)
    }
}
