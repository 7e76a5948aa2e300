//! services-users: who may use the exchange, and how they prove it.
//!
//! Registration, argon2id passwords, TOTP two-factor, the Kite Connect login flow, JWT access
//! tokens with key rotation, API keys, roles with per-resource checks, and the KYC workflow
//! that decides when an engine account is activated. SQLite-backed (one database file, shared
//! by [`Users`], the API the gateways call, and [`UsersService`], which follows the engine's
//! events under [`services_core::ServiceRunner`]).
//!
//! # The login flow (as Kite's web login does it)
//!
//! ```text
//! login(user_id, password)                  -> request_id     (5 min, single use)
//! twofa(user_id, request_id, totp)          -> request_token  (5 min, single use)
//! create_session(api_key, request_token,
//!     checksum = hex sha256(api_key + request_token + api_secret))
//!                                           -> Session { access_token (JWT), login_time, profile }
//! verify_access_token(api_key, access_token) -> Claims        (on every API call)
//! logout(access_token)                                        (revokes the session)
//! ```
//!
//! # Security choices
//!
//! - **Passwords**: argon2id (PHC string with its own salt and parameters; default m = 19 MiB,
//!   t = 2, p = 1, the OWASP minimum; tests use [`PasswordParams::insecure_fast`]). A hash made
//!   with older parameters is upgraded at the next successful login. 8 to 128 characters.
//! - **Unknown users** cost the same argon2 verification as known ones and get the same error
//!   ([`UsersError::InvalidCredentials`]) as a wrong password: no user enumeration by login.
//! - **Lockout**: `lockout_threshold` (5) failed password or TOTP attempts in a row lock the
//!   user for `lockout_secs` (15 min). While locked, no password is even checked. A success
//!   resets the count, and so does the end of a lock.
//! - **TOTP** (RFC 6238): HMAC-SHA1, 6 digits, 30 s steps, ±1 step; all candidate steps are
//!   compared in constant time; a code is accepted once (the last used step is stored, RFC
//!   6238 §5.2), so a shoulder-surfed code cannot be replayed within its window.
//! - **Secrets the server must read back** (TOTP seeds, API secrets, JWT signing keys, and the
//!   KYC PAN) cannot be hashed: the checksum `sha256(api_key + request_token + api_secret)` can
//!   only be recomputed with the secret itself, and TOTP codes only with the seed. So they are
//!   encrypted with XChaCha20-Poly1305 under a master key that lives outside the database
//!   ([`UsersConfig::master_key`]: environment or secret manager), each ciphertext bound to its
//!   row by associated data (`api_secret:<api_key>`, `totp:<user_id>`, ...). A stolen database
//!   file alone reveals none of them; a database opened with the wrong master key is refused at
//!   [`Users::open`]. API keys and secrets come from the OS CSPRNG (80 and 160 bits).
//! - **Bearer values** (request ids, request tokens) are stored only as SHA-256 digests; they
//!   are 160-bit random, so a plain hash suffices, and lookup by digest leaks nothing about the
//!   value through timing. Access tokens are not stored at all; their session id (`jti`) is.
//! - **Checksums and MACs** are compared in constant time (`subtle`; HMAC `verify_slice`).
//! - **Access tokens**: JWT (HS256) with `kid`; only HS256 is accepted (never `alg: none`).
//!   Claims: `iss`, `sub` (user id), `acc` (engine account), `roles`, `api_key`, `iat`, `exp`,
//!   `jti`. Default expiry is Kite's: 06:00 IST the next morning. Every verification also
//!   checks the session row, so logout, suspension, a role change or a new API key take effect
//!   at once.
//! - **Key rotation**: [`Users::rotate_signing_key`] makes a new key the signer; older keys
//!   keep verifying their tokens until [`Users::retire_signing_key`], which erases the key
//!   material, after which its tokens fail with [`UsersError::SigningKeyRetired`].
//! - **Logging**: `tracing`, with user ids, key ids and API keys (public identifiers) only;
//!   never passwords, TOTP codes or seeds, API secrets, request ids or tokens, access tokens or
//!   checksums. The types that carry secrets redact them in `Debug`.
//! - **Time** is always an argument (`now`, unix seconds); only [`unix_now`] reads the clock.
//!
//! # Engine accounts and KYC
//!
//! Registration assigns the next engine account id (dense, from
//! [`UsersConfig::first_account_id`]) and queues `CreateAccount`; the account stays inactive.
//! KYC goes `not_submitted → submitted → verified | rejected (reason) → submitted ...`, and an
//! admin other than the user decides. Once KYC is verified *and* the engine has created the
//! account, exactly one `ActivateAccount` is queued; suspending a user queues
//! `SuspendAccount`, reinstating queues `ActivateAccount` again. Commands go through a
//! persisted outbox (see the `outbox` module), sent in order by [`Users`] after its writes or
//! by [`UsersService`] after each commit and when idle, so a restart between a verification
//! and its submission neither loses nor repeats the command. The users service owns the
//! engine's account ids from `first_account_id` up; nothing else should create accounts there.
//!
//! # Seeding (demo and test environments)
//!
//! [`Users::seed_user`] creates a user with given credentials (TOTP secret, API key and secret),
//! roles, and KYC recorded as verified, through the same path as registration; seeding a user id
//! that exists changes nothing. `exchange --seed FILE` uses it (engine/exchange/src/seed.rs).

mod acl;
mod config;
mod crypto;
mod error;
mod jwt;
mod outbox;
mod schema;
mod service;
pub mod totp;
mod users;

pub use acl::{authorize, scope, Action, Forbidden, Role, Scope};
pub use config::{AccessExpiry, PasswordParams, UsersConfig};
pub use error::UsersError;
pub use jwt::Claims;
pub use service::{UsersService, SERVICE_NAME};
pub use users::{
    normalize_user_id, ApiCredentials, EngineAccount, EngineStatus, KeyState, KycDecision, KycRecord, KycStatus,
    NewUser, Profile, Registration, SeedOutcome, SeedUser, Session, SigningKeyInfo, Users,
};

/// The checksum `/session/token` expects: hex SHA-256 of `api_key + request_token + api_secret`
/// (what a Kite Connect client computes).
pub fn session_checksum(api_key: &str, request_token: &str, api_secret: &str) -> String {
    crypto::sha256_hex(format!("{api_key}{request_token}{api_secret}").as_bytes())
}

/// The wall clock in unix seconds: the one place the library reads it. Everything else takes
/// `now` as an argument.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
