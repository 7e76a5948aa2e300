//! Every proper prefix of an encoded message is `Truncated`, never a shorter valid message.

mod common;

use engine_core::{Command, Event};
use engine_proto::{
    decode_command, decode_event, encode_command, encode_event, DecodeError, COMMAND_LEN_MAX, EVENT_LEN_MAX,
};
use proptest::prelude::*;

fn command_prefixes_are_truncated(cmd: &Command) -> Result<(), TestCaseError> {
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(cmd, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for cut in 0..len {
        let result = decode_command(&buf[..cut]);
        prop_assert!(matches!(result, Err(DecodeError::Truncated { .. })), "cut at {}: {:?}", cut, result);
    }
    Ok(())
}

fn event_prefixes_are_truncated(event: &Event) -> Result<(), TestCaseError> {
    let mut buf = [0u8; EVENT_LEN_MAX];
    let len = encode_event(event, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for cut in 0..len {
        let result = decode_event(&buf[..cut]);
        prop_assert!(matches!(result, Err(DecodeError::Truncated { .. })), "cut at {}: {:?}", cut, result);
    }
    Ok(())
}

#[test]
fn every_sample_command_truncated_at_every_length() {
    for cmd in common::sample_commands() {
        command_prefixes_are_truncated(&cmd).unwrap();
    }
}

#[test]
fn every_sample_event_truncated_at_every_length() {
    for event in common::sample_events() {
        event_prefixes_are_truncated(&event).unwrap();
    }
}

#[test]
fn truncated_reports_needed_and_available() {
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(&Command::Place(common::sample_order()), &mut buf).unwrap();
    assert_eq!(decode_command(&buf[..3]), Err(DecodeError::Truncated { needed: 8, available: 3 }));
    assert_eq!(decode_command(&buf[..len - 1]), Err(DecodeError::Truncated { needed: len, available: len - 1 }));
}

proptest! {
    #![proptest_config(common::config())]

    #[test]
    fn any_command_truncated_at_every_length(cmd in common::command()) {
        command_prefixes_are_truncated(&cmd)?;
    }

    #[test]
    fn any_event_truncated_at_every_length(event in common::event()) {
        event_prefixes_are_truncated(&event)?;
    }
}
