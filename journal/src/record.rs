//! Record layout and validation.

pub const RECORD_HEADER_LEN: usize = 24;
/// Largest payload a record may carry. Larger lengths are corruption, never allocations.
pub const RECORD_PAYLOAD_MAX: usize = 64 * 1024;

const LEN: usize = 0;
const CRC: usize = 4;
const SEQ: usize = 8;
const TS: usize = 16;

/// Appends one encoded record to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, seq: u64, ts_ns: u64, payload: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&ts_ns.to_le_bytes());
    buf.extend_from_slice(payload);
    let crc = checksum(&buf[start..]);
    buf[start + CRC..start + CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

fn checksum(record: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&record[LEN..CRC]);
    crc32c::crc32c_append(crc, &record[SEQ..])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A valid record of `total` bytes.
    Valid {
        seq: u64,
        ts_ns: u64,
        total: usize,
    },
    /// Fewer bytes than the header or the declared length.
    Truncated,
    /// Declared length above the limit.
    BadLength(u32),
    BadCrc,
}

/// Parses the record at the start of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    if bytes.len() < RECORD_HEADER_LEN {
        return Parsed::Truncated;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if len as usize > RECORD_PAYLOAD_MAX {
        return Parsed::BadLength(len);
    }
    let total = RECORD_HEADER_LEN + len as usize;
    if bytes.len() < total {
        return Parsed::Truncated;
    }
    let stored = u32::from_le_bytes([bytes[CRC], bytes[CRC + 1], bytes[CRC + 2], bytes[CRC + 3]]);
    if checksum(&bytes[..total]) != stored {
        return Parsed::BadCrc;
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    Parsed::Valid { seq: word(SEQ), ts_ns: word(TS), total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_single_bit_flip_is_caught() {
        let mut buf = Vec::new();
        encode(&mut buf, 42, 7, b"payload");
        assert_eq!(parse(&buf), Parsed::Valid { seq: 42, ts_ns: 7, total: buf.len() });
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(!matches!(parse(&bad), Parsed::Valid { .. }), "flip {byte}:{bit} went unnoticed");
            }
        }
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]), Parsed::Truncated);
        }
    }
}
