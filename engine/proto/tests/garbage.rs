//! Arbitrary bytes never panic the decoders, and whatever they accept is canonical: it
//! re-encodes to exactly the bytes it came from.

mod common;

use engine_proto::command::order::place;
use engine_proto::command::{admin::add_instrument, template as command_template};
use engine_proto::{
    decode_command, decode_event, encode_command, encode_event, DecodeError, MessageHeader, TemplateInfo,
    COMMAND_LEN_MAX, COMMAND_SCHEMA_ID, COMMAND_TEMPLATES, EVENT_LEN_MAX, EVENT_SCHEMA_ID, EVENT_TEMPLATES, HEADER_LEN,
};
use proptest::prelude::*;

/// Decodes as a command and as an event; anything accepted must re-encode to `bytes`.
fn decode_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(cmd) = decode_command(bytes) {
        let mut buf = [0u8; COMMAND_LEN_MAX];
        let len = encode_command(&cmd, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&buf[..len], bytes);
    }
    if let Ok(event) = decode_event(bytes) {
        let mut buf = [0u8; EVENT_LEN_MAX];
        let len = encode_event(&event, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&buf[..len], bytes);
    }
    Ok(())
}

/// Bytes biased toward small values, so enum and bool fields are often valid.
fn body_byte() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 0u8..4, 1 => any::<u8>()]
}

/// A valid header for one of `templates` followed by a body that is mostly the right length.
fn behind_valid_header(schema_id: u16, templates: &'static [TemplateInfo]) -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(templates).prop_flat_map(move |t| {
        let exact = usize::from(t.block_length);
        let len = prop_oneof![4 => Just(exact), 1 => 0..exact + 4];
        len.prop_flat_map(|len| prop::collection::vec(body_byte(), len)).prop_map(move |body| {
            let mut bytes = vec![0u8; HEADER_LEN];
            MessageHeader::new(schema_id, t.id, t.block_length).encode(&mut bytes).unwrap();
            bytes.extend_from_slice(&body);
            bytes
        })
    })
}

proptest! {
    #![proptest_config(common::config())]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        decode_is_canonical(&bytes)?;
    }

    #[test]
    fn random_commands_behind_a_valid_header(bytes in behind_valid_header(COMMAND_SCHEMA_ID, COMMAND_TEMPLATES)) {
        decode_is_canonical(&bytes)?;
    }

    #[test]
    fn random_events_behind_a_valid_header(bytes in behind_valid_header(EVENT_SCHEMA_ID, EVENT_TEMPLATES)) {
        decode_is_canonical(&bytes)?;
    }

    #[test]
    fn one_byte_changed_in_a_valid_command(cmd in common::command(), at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let mut buf = [0u8; COMMAND_LEN_MAX];
        let len = encode_command(&cmd, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        buf[at.index(len)] = value;
        decode_is_canonical(&buf[..len])?;
    }

    #[test]
    fn one_byte_changed_in_a_valid_event(event in common::event(), at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let mut buf = [0u8; EVENT_LEN_MAX];
        let len = encode_event(&event, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        buf[at.index(len)] = value;
        decode_is_canonical(&buf[..len])?;
    }
}

fn place_bytes() -> Vec<u8> {
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(&engine_core::Command::Place(common::sample_order()), &mut buf).unwrap();
    buf[..len].to_vec()
}

fn set_u16(bytes: &mut [u8], offset: usize, value: u16) {
    bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn header_checks_schema_then_version_then_template() {
    let mut bytes = place_bytes();
    set_u16(&mut bytes, engine_proto::header::SCHEMA_ID, 99);
    set_u16(&mut bytes, engine_proto::header::VERSION, 7);
    assert_eq!(decode_command(&bytes), Err(DecodeError::SchemaMismatch { expected: COMMAND_SCHEMA_ID, found: 99 }));

    let mut bytes = place_bytes();
    set_u16(&mut bytes, engine_proto::header::TEMPLATE_ID, 999);
    for version in [0, 2, u16::MAX] {
        set_u16(&mut bytes, engine_proto::header::VERSION, version);
        assert_eq!(decode_command(&bytes), Err(DecodeError::UnsupportedVersion { found: version, supported: 1 }));
    }

    let mut bytes = place_bytes();
    for template_id in [0, 21, u16::MAX] {
        set_u16(&mut bytes, engine_proto::header::TEMPLATE_ID, template_id);
        assert_eq!(decode_command(&bytes), Err(DecodeError::UnknownTemplate(template_id)));
    }
    set_u16(&mut bytes, engine_proto::header::SCHEMA_ID, EVENT_SCHEMA_ID);
    set_u16(&mut bytes, engine_proto::header::TEMPLATE_ID, 19);
    assert_eq!(decode_event(&bytes), Err(DecodeError::UnknownTemplate(19)));
}

#[test]
fn framing_is_exact() {
    let mut bytes = place_bytes();
    bytes.push(0);
    assert_eq!(decode_command(&bytes), Err(DecodeError::BadLength { expected: 61, found: 62 }));

    let mut bytes = place_bytes();
    set_u16(&mut bytes, engine_proto::header::BLOCK_LENGTH, place::BLOCK_LENGTH + 1);
    assert_eq!(
        decode_command(&bytes),
        Err(DecodeError::BlockLengthMismatch { template_id: command_template::PLACE, expected: 53, found: 54 })
    );
}

#[test]
fn enum_bool_and_symbol_bytes_are_strict() {
    let at = |offset: usize| HEADER_LEN + offset;
    let mut bytes = place_bytes();
    bytes[at(place::SIDE)] = 2;
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidEnum { field: "side", value: 2 }));
    let mut bytes = place_bytes();
    bytes[at(place::ORDER_TYPE)] = 4;
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidEnum { field: "order_type", value: 4 }));
    let mut bytes = place_bytes();
    bytes[at(place::VALIDITY)] = 0xff;
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidEnum { field: "validity", value: 0xff }));
    let mut bytes = place_bytes();
    bytes[at(place::PRODUCT)] = 2;
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidEnum { field: "product", value: 2 }));
    let mut bytes = place_bytes();
    bytes[at(place::POST_ONLY)] = 2;
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidBool { field: "post_only", value: 2 }));

    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(&common::sample_commands()[0], &mut buf).unwrap();
    let symbol = at(add_instrument::SYMBOL);
    let mut bytes = buf[..len].to_vec();
    bytes[symbol + 5] = b'X'; // "INFY\0X": a byte after the NUL padding
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidSymbol));
    let mut bytes = buf[..len].to_vec();
    bytes[symbol] = 0; // empty
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidSymbol));
    let mut bytes = buf[..len].to_vec();
    bytes[symbol + 1] = b' '; // not printable
    assert_eq!(decode_command(&bytes), Err(DecodeError::InvalidSymbol));
}
