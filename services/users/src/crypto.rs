//! Small, audited building blocks: CSPRNG bytes, SHA-256, constant-time comparison, authenticated
//! encryption of stored secrets, and argon2id password hashing. Nothing here logs anything.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::{BASE32_NOPAD, HEXLOWER};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::PasswordParams;

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// A random token of `N` bytes, as lowercase base32 (no padding): URL- and header-safe, case
/// preserved by every HTTP stack, 8 characters per 5 bytes.
pub(crate) fn random_token<const N: usize>() -> String {
    BASE32_NOPAD.encode(&random_bytes::<N>()).to_ascii_lowercase()
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    HEXLOWER.encode(&sha256(data))
}

/// Equality that takes the same time wherever the first difference is (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Encrypts the secrets the server must be able to read back (API secrets, TOTP seeds, JWT
/// signing keys) with XChaCha20-Poly1305 under the master key. Each ciphertext carries a random
/// 192-bit nonce and is bound to its row by the associated data (`aad`), so a ciphertext copied
/// into another row does not decrypt.
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

const NONCE_LEN: usize = 24;

impl Sealer {
    pub(crate) fn new(master_key: &[u8; 32]) -> Sealer {
        // A 32-byte key is the one length XChaCha20Poly1305 takes, so this cannot fail.
        let cipher = XChaCha20Poly1305::new_from_slice(master_key).unwrap_or_else(|_| unreachable!("32-byte key"));
        Sealer { cipher }
    }

    /// `nonce || ciphertext+tag`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        // Encryption with an in-memory buffer cannot fail short of allocation failure.
        let ct = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .unwrap_or_else(|_| unreachable!("XChaCha20Poly1305 encryption is infallible"));
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    /// `None` when the blob was not sealed by this master key for this `aad` (or was altered).
    pub(crate) fn open(&self, blob: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if blob.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        self.cipher.decrypt(&nonce, Payload { msg: ct, aad }).ok()
    }
}

fn argon2(params: &PasswordParams) -> Result<Argon2<'static>, argon2::Error> {
    let p = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, None)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

/// argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) with a fresh 16-byte salt.
pub(crate) fn hash_password(password: &str, params: &PasswordParams) -> Result<String, String> {
    let salt = random_bytes::<16>();
    let hasher = argon2(params).map_err(|e| format!("argon2 parameters: {e}"))?;
    let hash = hasher.hash_password_with_salt(password.as_bytes(), &salt).map_err(|e| format!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// Verifies against the parameters stored in the PHC string (so parameters can change over time).
/// The comparison inside is constant-time.
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// True when the stored hash was made with other parameters (or another algorithm) than the
/// configured ones: the caller rehashes on the next successful login.
pub(crate) fn needs_rehash(phc: &str, params: &PasswordParams) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return true };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => p.m_cost() != params.m_cost_kib || p.t_cost() != params.t_cost || p.p_cost() != params.p_cost,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_are_bound_to_their_row() {
        let sealer = Sealer::new(&[7u8; 32]);
        let blob = sealer.seal(b"api secret", b"api_secret:abc");
        assert_eq!(sealer.open(&blob, b"api_secret:abc").as_deref(), Some(&b"api secret"[..]));
        assert!(sealer.open(&blob, b"api_secret:xyz").is_none(), "other row");
        assert!(Sealer::new(&[8u8; 32]).open(&blob, b"api_secret:abc").is_none(), "other master key");
        let mut tampered = blob.clone();
        *tampered.last_mut().expect("non-empty") ^= 1;
        assert!(sealer.open(&tampered, b"api_secret:abc").is_none(), "tampered");
        assert_ne!(sealer.seal(b"api secret", b"a"), sealer.seal(b"api secret", b"a"), "fresh nonce each time");
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let params = PasswordParams::insecure_fast();
        let phc = hash_password("correct horse", &params).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horse!", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert!(!needs_rehash(&phc, &params));
        assert!(needs_rehash(&phc, &PasswordParams { m_cost_kib: 128, ..params }));
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert_eq!(random_token::<20>().len(), 32);
    }
}
