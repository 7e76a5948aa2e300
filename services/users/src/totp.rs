//! TOTP (RFC 6238) over HOTP (RFC 4226): HMAC-SHA1, 6 digits, 30-second steps, accepted one
//! step either side of the server's clock. Secrets are 20 random bytes, shown to the user as
//! base32 (RFC 4648, no padding) in an `otpauth://` URI that authenticator apps read.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one (clock drift, a code typed as it rolled over).
pub const SKEW_STEPS: u64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends for SHA1).
pub const SECRET_LEN: usize = 20;

/// HOTP value (RFC 4226 section 5.3): dynamic truncation of HMAC-SHA1(key, counter), mod 10^digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    bin % 10u32.pow(digits)
}

/// The step `unix_secs` falls in.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// TOTP value at `unix_secs` with `digits` digits (RFC 6238: T0 = 0, X = 30 s).
pub fn totp(key: &[u8], unix_secs: u64, digits: u32) -> u32 {
    hotp(key, step_at(unix_secs), digits)
}

/// A code as typed: zero-padded to `digits`.
pub fn format_code(value: u32, digits: u32) -> String {
    format!("{value:0width$}", width = digits as usize)
}

/// The 6-digit code for a base32 secret at `unix_secs`: what an authenticator app shows.
/// `None` when the secret is not base32.
pub fn code_for(secret_base32: &str, unix_secs: u64) -> Option<String> {
    let key = decode_secret(secret_base32)?;
    Some(format_code(totp(&key, unix_secs, DIGITS), DIGITS))
}

/// Checks `code` against the steps around `now` and returns the step it matched. Every
/// candidate step is computed and compared in constant time, whatever matches, so timing does
/// not tell which step (or how many digits) matched.
pub fn verify(key: &[u8], code: &str, now: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut matched: Option<u64> = None;
    for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
        let expected = format_code(hotp(key, step, DIGITS), DIGITS);
        let hit: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if hit && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// Base32 (RFC 4648, upper case, no padding), as authenticator apps expect.
pub fn encode_secret(key: &[u8]) -> String {
    BASE32_NOPAD.encode(key)
}

/// Reads a base32 secret as users type it: any case, spaces and dashes ignored, padding optional.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let clean: String =
        text.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '=').map(|c| c.to_ascii_uppercase()).collect();
    BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// The `otpauth://` URI authenticator apps import (usually shown as a QR code).
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 4226 / RFC 6238 SHA1 seed: ASCII "12345678901234567890".
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(SEED, counter as u64, 6), *want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, mode SHA1 (8 digits).
        let vectors: [(u64, u64, &str); 6] = [
            (59, 0x1, "94287082"),
            (1_111_111_109, 0x23523EC, "07081804"),
            (1_111_111_111, 0x23523ED, "14050471"),
            (1_234_567_890, 0x273EF07, "89005924"),
            (2_000_000_000, 0x3F940AA, "69279037"),
            (20_000_000_000, 0x27BC86AA, "65353130"),
        ];
        for (t, step, code) in vectors {
            assert_eq!(step_at(t), step, "T at {t}");
            assert_eq!(format_code(totp(SEED, t, 8), 8), code, "8 digits at {t}");
            // Six digits are the last six of the eight (mod 10^6 of the same truncated value).
            assert_eq!(format_code(totp(SEED, t, 6), 6), &code[2..], "6 digits at {t}");
            assert_eq!(verify(SEED, &code[2..], t), Some(step), "verify at {t}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let t = 1_700_000_000;
        let step = step_at(t);
        let code = |s: u64| format_code(hotp(SEED, s, 6), 6);
        assert_eq!(verify(SEED, &code(step - 1), t), Some(step - 1));
        assert_eq!(verify(SEED, &code(step + 1), t), Some(step + 1));
        assert_eq!(verify(SEED, &code(step), t), Some(step));
        for far in [step - 2, step + 2] {
            let c = code(far);
            // Guard against a coincidental collision with a neighbouring step.
            if (step - 1..=step + 1).all(|s| code(s) != c) {
                assert_eq!(verify(SEED, &c, t), None);
            }
        }
        assert_eq!(verify(SEED, "12345", t), None, "too short");
        assert_eq!(verify(SEED, "12a456", t), None, "not digits");
        assert_eq!(verify(SEED, "", t), None);
    }

    #[test]
    fn base32_secrets_and_uri() {
        let b32 = encode_secret(SEED);
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(decode_secret("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq").as_deref(), Some(SEED));
        assert_eq!(decode_secret("not base32!"), None);
        assert_eq!(code_for(&b32, 59).as_deref(), Some("287082"));
        assert_eq!(
            otpauth_uri("My Broker", "AB1234", &b32),
            "otpauth://totp/My%20Broker:AB1234?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20Broker&algorithm=SHA1&digits=6&period=30"
        );
    }
}
