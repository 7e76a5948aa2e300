//! Any bytes: the command decoder returns Ok or Err without panicking, and whatever it
//! accepts re-encodes to exactly the same bytes.
#![no_main]

use engine_proto::{decode_command, encode_command, COMMAND_LEN_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = decode_command(data) {
        let mut buf = [0u8; COMMAND_LEN_MAX];
        let len = encode_command(&cmd, &mut buf).expect("a decoded command re-encodes");
        assert_eq!(&buf[..len], data, "decoded {cmd:?} re-encodes to different bytes");
    }
});
