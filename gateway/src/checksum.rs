//! The login checksum of `POST /session/token`: `sha256(api_key + request_token + api_secret)`,
//! lowercase hex, as the official clients compute it; compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn digest(api_key: &str, request_token: &str, api_secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    hasher.update(request_token.as_bytes());
    hasher.update(api_secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&hasher.finalize());
    out
}

/// The checksum a client sends: 64 lowercase hex digits.
pub fn checksum_hex(api_key: &str, request_token: &str, api_secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in digest(api_key, request_token, api_secret) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `provided` is the checksum of the three values (hex, either case). The comparison
/// of the digests takes the same time wherever they differ; only the length and hex validity of
/// `provided`, which its sender already knows, affect timing.
pub fn verify_checksum(api_key: &str, request_token: &str, api_secret: &str, provided: &str) -> bool {
    let bytes = provided.as_bytes();
    if bytes.len() != 64 {
        return false;
    }
    let mut given = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(hi), Some(lo)) => given[i] = hi << 4 | lo,
            _ => return false,
        }
    }
    bool::from(digest(api_key, request_token, api_secret).ct_eq(&given))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        // python3 -c 'import hashlib; print(hashlib.sha256(b"kitefront" + b"req123" + b"s3cret").hexdigest())'
        assert_eq!(
            checksum_hex("kitefront", "req123", "s3cret"),
            "89e70846d34f7d5dac4a0d6ac297171b9a84e61f5bfd34a6c2a261e0302d9692"
        );
        // sha256("") is well known.
        assert_eq!(checksum_hex("", "", ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(checksum_hex("a", "b", "c"), checksum_hex("", "abc", ""));
        assert_eq!(checksum_hex("abc", "", ""), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn verification() {
        let good = checksum_hex("key", "token", "secret");
        assert!(verify_checksum("key", "token", "secret", &good));
        assert!(verify_checksum("key", "token", "secret", &good.to_uppercase()));
        assert!(!verify_checksum("key", "token", "other", &good));
        assert!(!verify_checksum("key", "token", "secret", &good[..63]));
        assert!(!verify_checksum("key", "token", "secret", &format!("{good}0")));
        assert!(!verify_checksum("key", "token", "secret", &good.replace(|c: char| c.is_ascii_digit(), "g")));
        assert!(!verify_checksum("key", "token", "secret", ""));
        let mut flipped = good.clone().into_bytes();
        flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
        assert!(!verify_checksum("key", "token", "secret", core::str::from_utf8(&flipped).unwrap()));
    }

    proptest! {
        #[test]
        fn only_the_right_checksum_verifies(key in "\\PC{0,16}", token in "\\PC{0,32}", secret in "\\PC{0,32}", other in "\\PC{0,70}") {
            let good = checksum_hex(&key, &token, &secret);
            prop_assert_eq!(good.len(), 64);
            prop_assert!(verify_checksum(&key, &token, &secret, &good));
            prop_assert_eq!(verify_checksum(&key, &token, &secret, &other), other.eq_ignore_ascii_case(&good));
        }
    }
}
