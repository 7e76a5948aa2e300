//! A strict `application/x-www-form-urlencoded` decoder, for request bodies and query strings.
//!
//! `key=value` pairs joined by `&`; `+` is a space; `%XX` is a byte; the decoded key and value
//! must be UTF-8. Repeated keys are kept, in order (`/quote?i=NSE:INFY&i=NSE:TCS`). Refused:
//! a body over the size limit, too many fields, a key or value over its limit, an empty key, a
//! pair without `=`, an empty pair (`a=1&&b=2`, a trailing `&`), a `%` not followed by two hex
//! digits, and bytes that do not decode to UTF-8. Errors name the field. Never panics, on any
//! input (fuzzed: `fuzz/fuzz_targets/decode_form.rs`).

use core::fmt;

use crate::envelope::ApiError;

/// Size limits of one form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormLimits {
    /// Bytes of the whole encoded form.
    pub body_max: usize,
    /// Number of `key=value` pairs.
    pub fields_max: usize,
    /// Bytes of a decoded key.
    pub key_max: usize,
    /// Bytes of a decoded value.
    pub value_max: usize,
}

impl Default for FormLimits {
    /// 64 KiB, 512 fields (a quote call names up to 500 instruments), keys of 64 bytes, values
    /// of 4 KiB.
    fn default() -> FormLimits {
        FormLimits { body_max: 64 * 1024, fields_max: 512, key_max: 64, value_max: 4096 }
    }
}

/// Why a form was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormError {
    TooLarge {
        len: usize,
        max: usize,
    },
    TooManyFields {
        max: usize,
    },
    /// An empty pair, as in `a=1&&b=2` or a trailing `&`; `index` counts pairs from 0.
    EmptyPair {
        index: usize,
    },
    /// A pair with no `=`.
    MissingEquals {
        field: String,
    },
    EmptyKey {
        index: usize,
    },
    KeyTooLong {
        field: String,
        max: usize,
    },
    ValueTooLong {
        field: String,
        max: usize,
    },
    /// A `%` not followed by two hex digits, in the key (`in_key`) or the value of `field`.
    BadPercentEscape {
        field: String,
        in_key: bool,
    },
    InvalidUtf8 {
        field: String,
        in_key: bool,
    },
    /// A field that may appear once appeared more than once.
    Duplicate {
        field: String,
    },
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::TooLarge { len, max } => write!(f, "Request body is too large ({len} bytes; at most {max})"),
            FormError::TooManyFields { max } => write!(f, "Too many fields in the request (at most {max})"),
            FormError::EmptyPair { index } => write!(f, "Malformed form: empty field at position {}", index + 1),
            FormError::MissingEquals { field } => write!(f, "Malformed form: field `{field}` has no `=`"),
            FormError::EmptyKey { index } => write!(f, "Malformed form: field at position {} has no name", index + 1),
            FormError::KeyTooLong { field, max } => write!(f, "Field name `{field}` is too long (at most {max} bytes)"),
            FormError::ValueTooLong { field, max } => write!(f, "Value of `{field}` is too long (at most {max} bytes)"),
            FormError::BadPercentEscape { field, in_key: true } => {
                write!(f, "Malformed form: bad percent-escape in field name `{field}`")
            }
            FormError::BadPercentEscape { field, in_key: false } => {
                write!(f, "Malformed form: bad percent-escape in the value of `{field}`")
            }
            FormError::InvalidUtf8 { field, in_key: true } => write!(f, "Field name `{field}` is not valid UTF-8"),
            FormError::InvalidUtf8 { field, in_key: false } => write!(f, "Value of `{field}` is not valid UTF-8"),
            FormError::Duplicate { field } => write!(f, "Field `{field}` is given more than once"),
        }
    }
}

impl std::error::Error for FormError {}

impl From<FormError> for ApiError {
    /// Every form error is a 400 InputException.
    fn from(e: FormError) -> ApiError {
        ApiError::input(e.to_string())
    }
}

/// A decoded form: its pairs in the order they came.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

enum ComponentError {
    BadPercent,
    Utf8,
}

/// Decodes one key or value: `+` → space, `%XX` → byte, then UTF-8.
fn decode_component(raw: &[u8]) -> Result<String, ComponentError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(ComponentError::BadPercent),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ComponentError::Utf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A field name fit for an error message: at most 64 characters, control characters escaped.
pub(crate) fn printable(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 64 {
            out.push('…');
            break;
        }
        if c == '`' {
            out.push('\'');
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The raw key bytes of a pair, for an error message about a key that did not decode.
fn raw_name(raw: &[u8]) -> String {
    printable(&String::from_utf8_lossy(&raw[..raw.len().min(256)]))
}

impl Form {
    /// Decodes a form body or a query string (without the `?`).
    pub fn decode(input: &[u8], limits: &FormLimits) -> Result<Form, FormError> {
        if input.len() > limits.body_max {
            return Err(FormError::TooLarge { len: input.len(), max: limits.body_max });
        }
        let mut pairs = Vec::new();
        if input.is_empty() {
            return Ok(Form { pairs });
        }
        for (index, pair) in input.split(|&b| b == b'&').enumerate() {
            if index >= limits.fields_max {
                return Err(FormError::TooManyFields { max: limits.fields_max });
            }
            if pair.is_empty() {
                return Err(FormError::EmptyPair { index });
            }
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                return Err(FormError::MissingEquals { field: raw_name(pair) });
            };
            let (raw_key, raw_value) = (&pair[..eq], &pair[eq + 1..]);
            let key = decode_component(raw_key).map_err(|e| match e {
                ComponentError::BadPercent => FormError::BadPercentEscape { field: raw_name(raw_key), in_key: true },
                ComponentError::Utf8 => FormError::InvalidUtf8 { field: raw_name(raw_key), in_key: true },
            })?;
            if key.is_empty() {
                return Err(FormError::EmptyKey { index });
            }
            if key.len() > limits.key_max {
                return Err(FormError::KeyTooLong { field: printable(&key), max: limits.key_max });
            }
            let value = decode_component(raw_value).map_err(|e| match e {
                ComponentError::BadPercent => FormError::BadPercentEscape { field: printable(&key), in_key: false },
                ComponentError::Utf8 => FormError::InvalidUtf8 { field: printable(&key), in_key: false },
            })?;
            if value.len() > limits.value_max {
                return Err(FormError::ValueTooLong { field: printable(&key), max: limits.value_max });
            }
            pairs.push((key, value));
        }
        Ok(Form { pairs })
    }

    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of a field that may appear at most once: `None` when absent, an error when
    /// repeated.
    pub fn get(&self, key: &str) -> Result<Option<&str>, FormError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(FormError::Duplicate { field: printable(key) });
        }
        Ok(first)
    }

    /// Builds a form from pairs (tests, and the gateway's own clients).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Form {
        Form { pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// Encodes the pairs the way browsers and Python's `urlencode` do: unreserved characters
    /// as they are, space as `+`, everything else `%XX`. `decode(encode(f)) == f`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_component(k, &mut out);
            out.push('=');
            encode_component(v, &mut out);
        }
        out
    }
}

fn encode_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(s: &str) -> Result<Form, FormError> {
        Form::decode(s.as_bytes(), &FormLimits::default())
    }

    #[test]
    fn decodes_a_kite_order() {
        let f = decode("tradingsymbol=INFY&exchange=NSE&transaction_type=BUY&order_type=LIMIT&quantity=1&price=1522.5&product=CNC&tag=my+tag%21").unwrap();
        assert_eq!(f.get("tradingsymbol").unwrap(), Some("INFY"));
        assert_eq!(f.get("price").unwrap(), Some("1522.5"));
        assert_eq!(f.get("tag").unwrap(), Some("my tag!"));
        assert_eq!(f.get("validity").unwrap(), None);
        assert_eq!(f.len(), 8);
    }

    #[test]
    fn keeps_repeated_keys_in_order() {
        let f = decode("i=NSE%3AINFY&i=NSE:TCS&x=1&i=BSE%3ASBIN").unwrap();
        assert_eq!(f.all("i").collect::<Vec<_>>(), ["NSE:INFY", "NSE:TCS", "BSE:SBIN"]);
        assert_eq!(f.get("i"), Err(FormError::Duplicate { field: "i".into() }));
        assert_eq!(f.get("x").unwrap(), Some("1"));
    }

    #[test]
    fn percent_and_plus() {
        let f =
            decode("a=%E0%A4%A8%E0%A4%AE%E0%A4%B8%E0%A5%8D%E0%A4%A4%E0%A5%87&b=1%2B1+%3D+2&c=&d=%25&e=x=y").unwrap();
        assert_eq!(f.get("a").unwrap(), Some("नमस्ते"));
        assert_eq!(f.get("b").unwrap(), Some("1+1 = 2"));
        assert_eq!(f.get("c").unwrap(), Some(""));
        assert_eq!(f.get("d").unwrap(), Some("%"));
        assert_eq!(f.get("e").unwrap(), Some("x=y"));
        assert_eq!(decode("").unwrap(), Form::default());
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(decode("price=%zz"), Err(FormError::BadPercentEscape { field: "price".into(), in_key: false }));
        assert_eq!(decode("price=1%2"), Err(FormError::BadPercentEscape { field: "price".into(), in_key: false }));
        assert_eq!(decode("pr%ice=1"), Err(FormError::BadPercentEscape { field: "pr%ice".into(), in_key: true }));
        assert_eq!(decode("tag=%FF"), Err(FormError::InvalidUtf8 { field: "tag".into(), in_key: false }));
        assert_eq!(decode("quantity"), Err(FormError::MissingEquals { field: "quantity".into() }));
        assert_eq!(decode("=1"), Err(FormError::EmptyKey { index: 0 }));
        assert_eq!(decode("a=1&&b=2"), Err(FormError::EmptyPair { index: 1 }));
        assert_eq!(decode("a=1&"), Err(FormError::EmptyPair { index: 1 }));
        let e = ApiError::from(decode("tag=%FF").unwrap_err());
        assert_eq!(e.kind, crate::ErrorType::InputException);
        assert_eq!(e.status(), 400);
        assert_eq!(e.message, "Value of `tag` is not valid UTF-8");
        let e = ApiError::from(decode("price=1&price=2").unwrap().get("price").unwrap_err());
        assert_eq!(e.message, "Field `price` is given more than once");
    }

    #[test]
    fn limits() {
        let limits = FormLimits { body_max: 32, fields_max: 2, key_max: 4, value_max: 3 };
        assert!(matches!(Form::decode(&[b'a'; 33], &limits), Err(FormError::TooLarge { len: 33, max: 32 })));
        assert_eq!(Form::decode(b"a=1&b=2&c=3", &limits), Err(FormError::TooManyFields { max: 2 }));
        assert_eq!(Form::decode(b"abcde=1", &limits), Err(FormError::KeyTooLong { field: "abcde".into(), max: 4 }));
        assert_eq!(Form::decode(b"a=1234", &limits), Err(FormError::ValueTooLong { field: "a".into(), max: 3 }));
        // Limits apply to decoded lengths: three escapes are three bytes.
        assert!(Form::decode(b"a=%41%42%43", &limits).is_ok());
    }

    #[test]
    fn error_messages_do_not_echo_control_characters_or_huge_names() {
        let e = decode("a%0Ab%60=%FF").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        let long = format!("{}=%FF", "k".repeat(60));
        let limits = FormLimits { key_max: 1000, ..FormLimits::default() };
        let e = Form::decode(long.as_bytes(), &limits).unwrap_err().to_string();
        assert!(e.len() < 140, "{e}");
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let limits = FormLimits { body_max: 400, fields_max: 16, key_max: 16, value_max: 64 };
            if let Ok(form) = Form::decode(&bytes, &limits) {
                prop_assert!(form.len() <= limits.fields_max);
                for (k, v) in form.pairs() {
                    prop_assert!(!k.is_empty() && k.len() <= limits.key_max && v.len() <= limits.value_max);
                }
                // What decodes re-encodes to something that decodes to the same pairs.
                let again = Form::decode(form.encode().as_bytes(), &FormLimits::default()).unwrap();
                prop_assert_eq!(again, form);
            }
        }

        #[test]
        fn form_like_bytes_never_panic(text in "[a-z%+=&0-9A-F\u{80}-\u{10FFFF}]{0,64}") {
            let _ = Form::decode(text.as_bytes(), &FormLimits::default());
        }

        #[test]
        fn encode_then_decode_is_identity(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,24}"), 0..12)) {
            let form = Form::from_pairs(pairs);
            let decoded = Form::decode(form.encode().as_bytes(), &FormLimits::default()).unwrap();
            prop_assert_eq!(decoded, form);
        }
    }
}
