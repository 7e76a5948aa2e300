//! Any bytes: the Kite form decoder returns Ok or Err without panicking; whatever it accepts
//! respects the limits and re-encodes to a form that decodes to the same pairs; and the order
//! parser built on it never panics either.
#![no_main]

use gateway::kite::Exchange;
use gateway::orders::{parse_place, Instrument};
use gateway::{Form, FormLimits};
use libfuzzer_sys::fuzz_target;

fn lookup(exchange: Exchange, symbol: &str) -> Option<Instrument> {
    (exchange == Exchange::Nse && symbol == "INFY").then_some(Instrument { token: 408065, tick: 5, lot: 1 })
}

fuzz_target!(|data: &[u8]| {
    let limits = FormLimits { body_max: 4096, fields_max: 32, key_max: 32, value_max: 256 };
    let Ok(form) = Form::decode(data, &limits) else { return };
    assert!(form.len() <= limits.fields_max);
    for (key, value) in form.pairs() {
        assert!(!key.is_empty() && key.len() <= limits.key_max && value.len() <= limits.value_max);
    }
    let again = Form::decode(form.encode().as_bytes(), &FormLimits::default()).expect("an encoded form decodes");
    assert_eq!(again, form, "re-encoded form decodes to different pairs");
    for variety in ["regular", "iceberg"] {
        if let Ok(placed) = parse_place(variety, &form, &lookup, 1, 1) {
            assert!(placed.order.qty > 0 && placed.order.price >= 0 && placed.order.trigger >= 0);
        }
    }
});
