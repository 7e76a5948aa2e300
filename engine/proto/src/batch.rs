//! One command's events as one message: the unit the engine publishes and services apply.
//!
//! Layout, little-endian: `seq u64 | ts_ns u64 | count u32`, then `count` event messages, each
//! self-delimiting by its header. A command with no events is a batch with `count = 0`, so a
//! subscriber sees every seq and can detect a gap.

use engine_core::Event;

use crate::error::{DecodeError, EncodeError};
use crate::event::{decode_event, encode_event, EVENT_LEN_MAX};
use crate::header::MessageHeader;

pub const BATCH_HEADER_LEN: usize = 20;

/// Most events a decoder accepts in one batch: a bound on what a hostile count can make it do.
pub const BATCH_EVENTS_MAX: u32 = 1 << 20;

/// Appends the batch for `seq` to `out`.
pub fn encode_batch(seq: u64, ts_ns: u64, events: &[Event], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ts_ns.to_le_bytes());
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    let mut frame = [0u8; EVENT_LEN_MAX];
    for event in events {
        let n = encode_event(event, &mut frame)?;
        out.extend_from_slice(frame.get(..n).unwrap_or_default());
    }
    Ok(())
}

/// The fixed part of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub seq: u64,
    pub ts_ns: u64,
    pub count: u32,
}

/// Decodes a whole batch (exact framing: trailing bytes are an error), replacing `events`.
pub fn decode_batch(bytes: &[u8], events: &mut Vec<Event>) -> Result<BatchHeader, DecodeError> {
    let head = bytes
        .get(..BATCH_HEADER_LEN)
        .ok_or(DecodeError::Truncated { needed: BATCH_HEADER_LEN, available: bytes.len() })?;
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(head.get(at..at + 8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(w)
    };
    let mut count_bytes = [0u8; 4];
    count_bytes.copy_from_slice(head.get(16..20).unwrap_or(&[0; 4]));
    let header = BatchHeader { seq: word(0), ts_ns: word(8), count: u32::from_le_bytes(count_bytes) };
    if header.count > BATCH_EVENTS_MAX {
        return Err(DecodeError::BadLength { expected: BATCH_EVENTS_MAX as usize, found: header.count as usize });
    }
    events.clear();
    let mut at = BATCH_HEADER_LEN;
    for _ in 0..header.count {
        let rest = bytes.get(at..).unwrap_or_default();
        let len = MessageHeader::decode(rest)?.message_len();
        let frame = rest.get(..len).ok_or(DecodeError::Truncated { needed: len, available: rest.len() })?;
        events.push(decode_event(frame)?);
        at += len;
    }
    if at != bytes.len() {
        return Err(DecodeError::BadLength { expected: at, found: bytes.len() });
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_core::{CancelReason, Side};

    fn sample() -> Vec<Event> {
        vec![
            Event::SessionOpened,
            Event::Cancelled { order_id: 7, account: 3, token: 1, remaining: 10, reason: CancelReason::User },
            Event::BookLevel { token: 1, side: Side::Sell, price: 150_100, qty: 0, orders: 0 },
        ]
    }

    #[test]
    fn round_trip_including_the_empty_batch() {
        for events in [vec![], sample()] {
            let mut bytes = Vec::new();
            encode_batch(42, 99, &events, &mut bytes).expect("encode");
            let mut decoded = vec![Event::SessionClosed];
            let header = decode_batch(&bytes, &mut decoded).expect("decode");
            assert_eq!(header, BatchHeader { seq: 42, ts_ns: 99, count: events.len() as u32 });
            assert_eq!(decoded, events);
            for cut in 0..bytes.len() {
                assert!(decode_batch(&bytes[..cut], &mut decoded).is_err(), "cut at {cut}");
            }
            bytes.push(0);
            assert!(decode_batch(&bytes, &mut decoded).is_err(), "trailing byte");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut events = Vec::new();
        let mut valid = Vec::new();
        encode_batch(1, 2, &sample(), &mut valid).expect("encode");
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bytes = valid.clone();
            let i = (x as usize) % bytes.len();
            bytes[i] ^= (x >> 32) as u8 | 1;
            if round % 2 == 0 {
                bytes.truncate((x >> 40) as usize % (bytes.len() + 1));
            }
            let _ = decode_batch(&bytes, &mut events);
        }
    }
}
