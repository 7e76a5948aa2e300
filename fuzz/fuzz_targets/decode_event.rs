//! Any bytes: the event decoder returns Ok or Err without panicking, and whatever it
//! accepts re-encodes to exactly the same bytes.
#![no_main]

use engine_proto::{decode_event, encode_event, EVENT_LEN_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = decode_event(data) {
        let mut buf = [0u8; EVENT_LEN_MAX];
        let len = encode_event(&event, &mut buf).expect("a decoded event re-encodes");
        assert_eq!(&buf[..len], data, "decoded {event:?} re-encodes to different bytes");
    }
});
