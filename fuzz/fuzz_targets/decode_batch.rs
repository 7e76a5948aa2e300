//! Any bytes: the event-batch decoder returns Ok or Err without panicking, and whatever it
//! accepts re-encodes to exactly the same bytes.
#![no_main]

use engine_proto::{decode_batch, encode_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut events = Vec::new();
    if let Ok(header) = decode_batch(data, &mut events) {
        let mut again = Vec::new();
        encode_batch(header.seq, header.ts_ns, &events, &mut again).expect("a decoded batch re-encodes");
        assert_eq!(again, data, "decoded batch re-encodes to different bytes");
    }
});
