//! Every valid command and event survives encode -> decode -> encode unchanged.

mod common;

use std::collections::BTreeSet;

use engine_core::{Command, Event, InstrumentSpec, Symbol};
use engine_proto::{
    decode_command, decode_event, encode_command, encode_event, DecodeError, EncodeError, MessageHeader,
    COMMAND_LEN_MAX, COMMAND_SCHEMA_ID, COMMAND_TEMPLATES, EVENT_LEN_MAX, EVENT_SCHEMA_ID, EVENT_TEMPLATES,
    SCHEMA_VERSION,
};
use proptest::prelude::*;

fn check_command(cmd: &Command) -> Result<(), TestCaseError> {
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(cmd, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let bytes = &buf[..len];
    let header = MessageHeader::decode(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(header.schema_id, COMMAND_SCHEMA_ID);
    prop_assert_eq!(header.version, SCHEMA_VERSION);
    prop_assert_eq!(header.template_id, u16::from(cmd.kind().as_u8()), "template id is the CommandKind");
    let template = COMMAND_TEMPLATES.iter().find(|t| t.id == header.template_id).expect("template in table");
    prop_assert_eq!(header.block_length, template.block_length);
    prop_assert_eq!(len, template.message_len());
    prop_assert_eq!(decode_command(bytes), Ok(*cmd));

    let mut again = [0u8; COMMAND_LEN_MAX];
    let decoded = decode_command(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let len_again = encode_command(&decoded, &mut again).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&again[..len_again], bytes);

    // An exact-size buffer is enough; one byte less is not.
    let mut exact = vec![0u8; len];
    prop_assert_eq!(encode_command(cmd, &mut exact), Ok(len));
    let mut short = vec![0u8; len - 1];
    prop_assert_eq!(
        encode_command(cmd, &mut short),
        Err(EncodeError::BufferTooSmall { needed: len, available: len - 1 })
    );
    // A command is never mistaken for an event.
    prop_assert_eq!(
        decode_event(bytes),
        Err(DecodeError::SchemaMismatch { expected: EVENT_SCHEMA_ID, found: COMMAND_SCHEMA_ID })
    );
    Ok(())
}

fn check_event(event: &Event) -> Result<(), TestCaseError> {
    let mut buf = [0u8; EVENT_LEN_MAX];
    let len = encode_event(event, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let bytes = &buf[..len];
    let header = MessageHeader::decode(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(header.schema_id, EVENT_SCHEMA_ID);
    prop_assert_eq!(header.version, SCHEMA_VERSION);
    let template = EVENT_TEMPLATES.iter().find(|t| t.id == header.template_id).expect("template in table");
    prop_assert_eq!(header.block_length, template.block_length);
    prop_assert_eq!(len, template.message_len());
    prop_assert_eq!(decode_event(bytes), Ok(*event));

    let mut again = [0u8; EVENT_LEN_MAX];
    let decoded = decode_event(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let len_again = encode_event(&decoded, &mut again).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&again[..len_again], bytes);

    let mut exact = vec![0u8; len];
    prop_assert_eq!(encode_event(event, &mut exact), Ok(len));
    let mut short = vec![0u8; len - 1];
    prop_assert_eq!(
        encode_event(event, &mut short),
        Err(EncodeError::BufferTooSmall { needed: len, available: len - 1 })
    );
    prop_assert_eq!(
        decode_command(bytes),
        Err(DecodeError::SchemaMismatch { expected: COMMAND_SCHEMA_ID, found: EVENT_SCHEMA_ID })
    );
    Ok(())
}

proptest! {
    #![proptest_config(common::config())]

    #[test]
    fn commands_round_trip(cmd in common::command()) {
        check_command(&cmd)?;
    }

    #[test]
    fn events_round_trip(event in common::event()) {
        check_event(&event)?;
    }
}

#[test]
fn sample_of_every_command_round_trips_and_covers_every_template() {
    let mut seen = BTreeSet::new();
    for cmd in common::sample_commands() {
        check_command(&cmd).unwrap();
        let mut buf = [0u8; COMMAND_LEN_MAX];
        let len = encode_command(&cmd, &mut buf).unwrap();
        seen.insert(MessageHeader::decode(&buf[..len]).unwrap().template_id);
    }
    let all: BTreeSet<u16> = COMMAND_TEMPLATES.iter().map(|t| t.id).collect();
    assert_eq!(seen, all);
}

#[test]
fn sample_of_every_event_round_trips_and_covers_every_template() {
    let mut seen = BTreeSet::new();
    for event in common::sample_events() {
        check_event(&event).unwrap();
        let mut buf = [0u8; EVENT_LEN_MAX];
        let len = encode_event(&event, &mut buf).unwrap();
        seen.insert(MessageHeader::decode(&buf[..len]).unwrap().template_id);
    }
    let all: BTreeSet<u16> = EVENT_TEMPLATES.iter().map(|t| t.id).collect();
    assert_eq!(seen, all);
}

#[test]
fn strategies_reach_every_variant() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut commands, mut events) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..2000 {
        commands.insert(common::command().new_tree(&mut runner).unwrap().current().kind());
        let event = common::event().new_tree(&mut runner).unwrap().current();
        let mut buf = [0u8; EVENT_LEN_MAX];
        let len = encode_event(&event, &mut buf).unwrap();
        events.insert(MessageHeader::decode(&buf[..len]).unwrap().template_id);
    }
    assert_eq!(commands.len(), COMMAND_TEMPLATES.len());
    assert_eq!(events.len(), EVENT_TEMPLATES.len());
}

#[test]
fn encoder_refuses_an_invalid_symbol() {
    let spec = |raw: [u8; 16]| {
        Command::AddInstrument(InstrumentSpec {
            token: 1,
            symbol: Symbol(raw),
            tick: 5,
            lot: 1,
            band_bps: 2000,
            reference_price: 100,
            mis_leverage: 1,
        })
    };
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let mut gap = *b"AB\0C\0\0\0\0\0\0\0\0\0\0\0\0";
    assert_eq!(encode_command(&spec([0; 16]), &mut buf), Err(EncodeError::InvalidSymbol));
    assert_eq!(encode_command(&spec(gap), &mut buf), Err(EncodeError::InvalidSymbol));
    gap[3] = 0;
    assert!(encode_command(&spec(gap), &mut buf).is_ok());
    assert!(encode_command(&spec(*b"ABCDEFGHIJKLMNOP"), &mut buf).is_ok());
    assert_eq!(encode_command(&spec(*b"ABCDEFGH JKLMNOP"), &mut buf), Err(EncodeError::InvalidSymbol));
}
