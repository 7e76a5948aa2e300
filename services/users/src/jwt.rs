//! Compact JWS (RFC 7515) with HS256 (HMAC-SHA256, RFC 7518) and a `kid` header naming the
//! signing key. Only HS256 is accepted: `alg: none` and every other algorithm are refused
//! before any key is looked up.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::acl::Role;

/// What an access token says. Verified claims come only from
/// [`crate::Users::verify_access_token`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// The user id ("AB1234").
    pub sub: String,
    /// The user's engine account id.
    pub acc: u32,
    /// Roles when the token was issued (changing a user's roles revokes their tokens).
    pub roles: Vec<Role>,
    /// The API key the session was created with.
    pub api_key: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds (the token is valid while `now < exp`).
    pub exp: u64,
    /// Session id: the revocation handle.
    pub jti: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// Tokens longer than this are refused unparsed.
pub(crate) const TOKEN_LEN_MAX: usize = 4_096;

fn mac(key: &[u8], signing_input: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
    mac.update(signing_input);
    mac
}

pub(crate) fn sign(claims: &Claims, kid: &str, key: &[u8]) -> String {
    let header = Header { alg: "HS256".into(), typ: "JWT".into(), kid: kid.into() };
    // Serializing plain structs of strings and integers cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = format!("{}.{}", BASE64URL_NOPAD.encode(&header), BASE64URL_NOPAD.encode(&payload));
    let tag = mac(key, token.as_bytes()).finalize().into_bytes();
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&tag));
    token
}

/// A token split and decoded, signature not yet checked.
#[derive(Debug)]
pub(crate) struct Unverified<'a> {
    pub kid: String,
    signing_input: &'a str,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

/// Splits a token and reads its header. `None` when it is not a well-formed HS256 JWT.
pub(crate) fn parse(token: &str) -> Option<Unverified<'_>> {
    if token.len() > TOKEN_LEN_MAX {
        return None;
    }
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&BASE64URL_NOPAD.decode(h.as_bytes()).ok()?).ok()?;
    if header.alg != "HS256" || header.typ != "JWT" {
        return None;
    }
    let signature = BASE64URL_NOPAD.decode(s.as_bytes()).ok()?;
    let payload = BASE64URL_NOPAD.decode(p.as_bytes()).ok()?;
    Some(Unverified { kid: header.kid, signing_input: &token[..h.len() + 1 + p.len()], signature, payload })
}

impl Unverified<'_> {
    /// The claims, if the signature is `key`'s (checked in constant time).
    pub(crate) fn verify(&self, key: &[u8]) -> Option<Claims> {
        mac(key, self.signing_input.as_bytes()).verify_slice(&self.signature).ok()?;
        serde_json::from_slice(&self.payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "exchange".into(),
            sub: "AB1234".into(),
            acc: 7,
            roles: vec![Role::Trader],
            api_key: "key".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
        }
    }

    #[test]
    fn sign_then_verify() {
        let token = sign(&claims(), "k1", b"secret key");
        let parsed = parse(&token).expect("parse");
        assert_eq!(parsed.kid, "k1");
        assert_eq!(parsed.verify(b"secret key"), Some(claims()));
        assert_eq!(parsed.verify(b"other key"), None);
    }

    #[test]
    fn tampering_and_other_algorithms_are_refused() {
        let token = sign(&claims(), "k1", b"secret key");
        let parts: Vec<&str> = token.split('.').collect();
        // A payload swapped for another (admin) one keeps the old signature: refused.
        let mut forged = claims();
        forged.roles = vec![Role::Admin];
        let forged_payload = BASE64URL_NOPAD.encode(&serde_json::to_vec(&forged).expect("json"));
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(parse(&tampered).expect("parse").verify(b"secret key"), None);
        // alg none.
        let none = BASE64URL_NOPAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        assert!(parse(&format!("{none}.{}.", parts[1])).is_none());
        assert!(parse("a.b").is_none());
        assert!(parse("a.b.c.d").is_none());
        assert!(parse(&"a".repeat(TOKEN_LEN_MAX + 1)).is_none());
    }
}
