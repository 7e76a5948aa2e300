//! [`Users`]: everything the gateways call. Every function that depends on time takes `now`
//! (unix seconds).

use std::path::Path;

use engine_core::AccountId;
use rand::rngs::OsRng;
use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use services_core::CommandSink;

use crate::acl::{authorize, Action, Role};
use crate::config::UsersConfig;
use crate::crypto::{self, ct_eq, random_token, sha256, sha256_hex, Sealer};
use crate::error::UsersError;
use crate::jwt::{self, Claims};
use crate::outbox::{self, OutboxKind};
use crate::schema;
use crate::totp;

type Result<T> = std::result::Result<T, UsersError>;

/// A registration request. `user_id` is assigned ("AB1234" style) when not given.
#[derive(Clone, Copy)]
pub struct NewUser<'a> {
    pub user_id: Option<&'a str>,
    pub name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub password: &'a str,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A user with given credentials, for demo and test environments ([`Users::seed_user`]).
#[derive(Clone, Copy)]
pub struct SeedUser<'a> {
    /// "AB1234" (any case).
    pub user_id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub password: &'a str,
    /// Base32 (RFC 4648: any case, spaces and dashes ignored, padding optional) of 16 to 64
    /// bytes: RFC 4226 asks for at least 128 bits. Authenticator apps take it as it is.
    pub totp_secret: &'a str,
    /// 8 to 64 printable ASCII characters, without spaces or `:` (clients send
    /// `Authorization: token api_key:access_token`).
    pub api_key: &'a str,
    /// 16 to 128 printable ASCII characters, without spaces.
    pub api_secret: &'a str,
    /// At least one.
    pub roles: &'a [Role],
    /// Records KYC as verified (reviewer `seed`), so the engine account is activated as soon as
    /// the engine has created it.
    pub kyc_verified: bool,
}

impl std::fmt::Debug for SeedUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedUser")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("password", &"<redacted>")
            .field("totp_secret", &"<redacted>")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("roles", &self.roles)
            .field("kyc_verified", &self.kyc_verified)
            .finish()
    }
}

impl<'a> SeedUser<'a> {
    /// Checks every field as [`Users::seed_user`] does, without a database: for loaders that
    /// want to refuse a bad seed before they change anything.
    pub fn validate(&self) -> Result<()> {
        self.check().map(|_| ())
    }

    /// The validated applicant and the TOTP key bytes.
    fn check(&self) -> Result<(Applicant<'a>, Vec<u8>)> {
        let applicant = Applicant::check(Some(self.user_id), self.name, self.email, self.phone, self.password)?;
        let totp_key = totp::decode_secret(self.totp_secret)
            .filter(|key| (SEED_TOTP_BYTES_MIN..=SEED_TOTP_BYTES_MAX).contains(&key.len()))
            .ok_or(UsersError::InvalidInput { field: "totp_secret", reason: "base32 of 16 to 64 bytes" })?;
        if !printable(self.api_key, 8..=64) || self.api_key.contains(':') {
            return Err(UsersError::InvalidInput {
                field: "api_key",
                reason: "8 to 64 printable ASCII characters, without spaces or ':'",
            });
        }
        if !printable(self.api_secret, 16..=128) {
            return Err(UsersError::InvalidInput {
                field: "api_secret",
                reason: "16 to 128 printable ASCII characters, without spaces",
            });
        }
        if self.roles.is_empty() {
            return Err(UsersError::InvalidInput { field: "roles", reason: "at least one" });
        }
        Ok((applicant, totp_key))
    }
}

/// What [`Users::seed_user`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedOutcome {
    /// The user was created with this engine account id, and `CreateAccount` queued.
    Created { account_id: AccountId },
    /// The user already existed, with the seed's API key; nothing changed.
    Exists { account_id: AccountId },
}

impl SeedOutcome {
    pub fn account_id(self) -> AccountId {
        match self {
            SeedOutcome::Created { account_id } | SeedOutcome::Exists { account_id } => account_id,
        }
    }
}

/// What registration hands back. The TOTP secret is shown to the user once (as the URI's QR
/// code) and never again.
#[derive(Clone)]
pub struct Registration {
    pub user_id: String,
    pub account_id: AccountId,
    /// Base32 TOTP secret.
    pub totp_secret: String,
    /// `otpauth://` URI for authenticator apps.
    pub totp_uri: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("user_id", &self.user_id)
            .field("account_id", &self.account_id)
            .field("totp_secret", &"<redacted>")
            .field("totp_uri", &"<redacted>")
            .finish()
    }
}

/// An API key and its secret. The secret is shown once, when created.
#[derive(Clone)]
pub struct ApiCredentials {
    pub api_key: String,
    pub api_secret: String,
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredentials").field("api_key", &self.api_key).field("api_secret", &"<redacted>").finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KycStatus {
    NotSubmitted,
    Submitted,
    Verified,
    Rejected,
}

impl KycStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KycStatus::NotSubmitted => "not_submitted",
            KycStatus::Submitted => "submitted",
            KycStatus::Verified => "verified",
            KycStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> KycStatus {
        match text {
            "submitted" => KycStatus::Submitted,
            "verified" => KycStatus::Verified,
            "rejected" => KycStatus::Rejected,
            _ => KycStatus::NotSubmitted,
        }
    }
}

/// A user's KYC file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KycRecord {
    pub status: KycStatus,
    /// PAN (stored sealed: it is personal data).
    pub pan: Option<String>,
    pub submitted_at: Option<u64>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<u64>,
    /// Why it was rejected.
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KycDecision<'a> {
    Verify,
    Reject { reason: &'a str },
}

/// The user as Kite's `/user/profile` shows it, plus this exchange's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub user_id: String,
    pub user_name: String,
    /// First word of the name.
    pub user_shortname: String,
    pub email: String,
    pub phone: String,
    pub broker: String,
    pub account_id: AccountId,
    pub roles: Vec<Role>,
    pub kyc: KycStatus,
    pub suspended: bool,
    pub created_at: u64,
}

/// The result of `/session/token`.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub api_key: String,
    /// The JWT, sent back as `Authorization: token api_key:access_token`.
    pub access_token: String,
    /// Unix seconds.
    pub login_time: u64,
    /// Unix seconds.
    pub expires_at: u64,
    pub profile: Profile,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("api_key", &self.api_key)
            .field("access_token", &"<redacted>")
            .field("login_time", &self.login_time)
            .field("expires_at", &self.expires_at)
            .field("profile", &self.profile)
            .finish()
    }
}

/// What the engine has said about an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineStatus {
    /// No event about the account yet.
    Unknown,
    Inactive,
    Active,
    Suspended,
    CreateRejected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineAccount {
    pub account_id: AccountId,
    pub status: EngineStatus,
    pub last_reject: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens (and verifies).
    Active,
    /// Verifies tokens it signed before a rotation.
    Verify,
    /// Key material erased; its tokens are refused.
    Retired,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub state: KeyState,
    pub created_at: u64,
    pub retired_at: Option<u64>,
}

/// The users database and the engine command sink. See the crate documentation.
pub struct Users {
    conn: Connection,
    config: UsersConfig,
    sealer: Sealer,
    sink: Box<dyn CommandSink>,
    /// A hash verified against when the user does not exist, so that "no such user" takes as
    /// long as "wrong password".
    dummy_hash: String,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Fields the login checks read.
struct AuthRow {
    password_hash: String,
    totp_secret: Vec<u8>,
    totp_last_step: i64,
    locked_until: u64,
    suspended: bool,
}

/// Registration input, validated and normalized (the password not yet hashed).
struct Applicant<'a> {
    /// `None`: assign one.
    user_id: Option<String>,
    name: String,
    email: String,
    phone: String,
    password: &'a str,
}

impl<'a> Applicant<'a> {
    fn check(user_id: Option<&str>, name: &str, email: &str, phone: &str, password: &'a str) -> Result<Applicant<'a>> {
        let name = validate_name(name)?;
        let email = normalize_email(email)?;
        let phone = normalize_phone(phone)?;
        let user_id = match user_id {
            Some(id) => Some(
                normalize_user_id(id)
                    .ok_or(UsersError::InvalidInput { field: "user_id", reason: "two letters and four digits" })?,
            ),
            None => None,
        };
        validate_password(password)?;
        Ok(Applicant { user_id, name, email, phone, password })
    }
}

/// What a new user starts with besides the applicant's details.
struct Grant<'a> {
    totp_key: &'a [u8],
    roles: &'a [Role],
    kyc_verified: bool,
    /// A given API key and secret (seeded users); registered users create theirs later.
    api: Option<(&'a str, &'a str)>,
}

/// Bounds of a seeded TOTP secret, in bytes.
const SEED_TOTP_BYTES_MIN: usize = 16;
const SEED_TOTP_BYTES_MAX: usize = 64;

/// `len` characters, each printable ASCII other than space.
fn printable(text: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

const MASTER_KEY_CHECK: &str = "master_key_check";

fn aad(kind: &str, id: &str) -> Vec<u8> {
    format!("{kind}:{id}").into_bytes()
}

fn immediate(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

fn audit(conn: &Connection, now: u64, actor: &str, action: &str, target: &str, detail: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now as i64, actor, action, target, detail],
    )?;
    Ok(())
}

fn revoke_user_sessions(conn: &Connection, user_id: &str, now: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
        params![now as i64, user_id],
    )
}

/// "AB1234": the form Kite user ids take. Input is upper-cased.
pub fn normalize_user_id(text: &str) -> Option<String> {
    let id = text.trim().to_ascii_uppercase();
    let b = id.as_bytes();
    let ok = b.len() == 6 && b[..2].iter().all(u8::is_ascii_uppercase) && b[2..].iter().all(u8::is_ascii_digit);
    ok.then_some(id)
}

fn normalize_email(text: &str) -> Result<String> {
    let email = text.trim().to_ascii_lowercase();
    let bad = |reason| UsersError::InvalidInput { field: "email", reason };
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("not an e-mail address"));
    }
    let (local, domain) = email.split_once('@').ok_or(bad("not an e-mail address"))?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad("not an e-mail address"));
    }
    Ok(email)
}

/// E.164: ten digits are taken as Indian (+91).
fn normalize_phone(text: &str) -> Result<String> {
    let t = text.trim();
    let plus = t.starts_with('+');
    let digits: String = t.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '+')).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || t[usize::from(plus)..].contains('+') {
        return Err(UsersError::InvalidInput { field: "phone", reason: "digits only" });
    }
    match (plus, digits.len()) {
        (false, 10) => Ok(format!("+91{digits}")),
        (true, 8..=15) => Ok(format!("+{digits}")),
        _ => Err(UsersError::InvalidInput { field: "phone", reason: "10 digits, or + and the country code" }),
    }
}

fn validate_name(text: &str) -> Result<String> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(UsersError::InvalidInput { field: "name", reason: "1 to 100 printable characters" });
    }
    Ok(name.to_string())
}

/// 8 to 128 characters (the upper bound caps the hashing work an attacker can ask for).
fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(UsersError::InvalidInput { field: "password", reason: "8 to 128 characters" });
    }
    Ok(())
}

/// PAN: five letters, four digits, a letter.
fn normalize_pan(text: &str) -> Result<String> {
    let pan = text.trim().to_ascii_uppercase();
    let b = pan.as_bytes();
    let ok = b.len() == 10
        && b[..5].iter().all(u8::is_ascii_uppercase)
        && b[5..9].iter().all(u8::is_ascii_digit)
        && b[9].is_ascii_uppercase();
    if !ok {
        return Err(UsersError::InvalidInput { field: "pan", reason: "five letters, four digits, a letter" });
    }
    Ok(pan)
}

fn generate_user_id() -> String {
    let mut rng = OsRng;
    let a = rng.gen_range(b'A'..=b'Z') as char;
    let b = rng.gen_range(b'A'..=b'Z') as char;
    format!("{a}{b}{:04}", rng.gen_range(0..10_000u32))
}

impl Users {
    /// Opens (creating if needed) the users database at `path`. Fails with
    /// [`UsersError::WrongMasterKey`] when the database was created with another master key.
    pub fn open(path: &Path, config: UsersConfig, sink: Box<dyn CommandSink>) -> Result<Users> {
        let conn = services_core::open_db(path)?;
        schema::migrate(&conn)?;
        let sealer = Sealer::new(&config.master_key);
        let check: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM users_meta WHERE key = ?1", params![MASTER_KEY_CHECK], |r| r.get(0))
            .optional()?;
        match check {
            Some(blob) => {
                if sealer.open(&blob, MASTER_KEY_CHECK.as_bytes()).is_none() {
                    return Err(UsersError::WrongMasterKey);
                }
            }
            None => {
                conn.execute(
                    "INSERT OR IGNORE INTO users_meta (key, value) VALUES (?1, ?2)",
                    params![MASTER_KEY_CHECK, sealer.seal(b"ok", MASTER_KEY_CHECK.as_bytes())],
                )?;
            }
        }
        let dummy_hash =
            crypto::hash_password("dummy password for timing", &config.password).map_err(UsersError::Internal)?;
        Ok(Users { conn, config, sealer, sink, dummy_hash })
    }

    pub fn config(&self) -> &UsersConfig {
        &self.config
    }

    /// The database, for read-only queries (admin views, tests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    // ------------------------------------------------------------------ registration

    /// Registers a trader: validates the input, hashes the password (argon2id), creates a TOTP
    /// secret, assigns the next engine account id (dense: 1, 2, 3, ... from
    /// `config.first_account_id`) and queues `CreateAccount` for the engine (sent before this
    /// returns when the sink takes it, else by a later flush). The account stays inactive until
    /// KYC is verified.
    pub fn register(&mut self, new: &NewUser<'_>, now: u64) -> Result<Registration> {
        let applicant = Applicant::check(new.user_id, new.name, new.email, new.phone, new.password)?;
        let totp_key = crypto::random_bytes::<{ totp::SECRET_LEN }>();
        let grant = Grant { totp_key: &totp_key, roles: &[Role::Trader], kyc_verified: false, api: None };
        let (user_id, account_id) = self.create_user(&applicant, &grant, None, "register", now)?;
        tracing::info!(user_id = %user_id, account_id, "users: registered");
        let totp_secret = totp::encode_secret(&totp_key);
        let totp_uri = totp::otpauth_uri(&self.config.issuer, &user_id, &totp_secret);
        Ok(Registration { user_id, account_id, totp_secret, totp_uri })
    }

    /// Creates a user with *given* credentials, for demo and test environments: the same path
    /// as [`Users::register`] (validation, argon2id, the next account id, `CreateAccount` in the
    /// outbox, secrets sealed under the master key, the audit log), except that the TOTP secret
    /// and the API key and secret are the seed's, the roles are set, and KYC can be recorded as
    /// verified (reviewer `seed`), so that the engine account is activated once the engine has
    /// created it (see [`crate::UsersService`]).
    ///
    /// Idempotent: a user id that exists is [`SeedOutcome::Exists`] and nothing changes, as long
    /// as that user's API key is the seed's; otherwise [`UsersError::SeedConflict`]. Never
    /// expose it over the network: it sets credentials that someone else chose.
    pub fn seed_user(&mut self, seed: &SeedUser<'_>, now: u64) -> Result<SeedOutcome> {
        let (applicant, totp_key) = seed.check()?;
        let user_id = applicant.user_id.clone().unwrap_or_default();
        let existing: Option<AccountId> = self
            .conn
            .query_row("SELECT account_id FROM users WHERE user_id = ?1", params![user_id], |r| r.get(0))
            .optional()?;
        if let Some(account_id) = existing {
            if self.api_key_of(&user_id)?.as_deref() != Some(seed.api_key) {
                return Err(UsersError::SeedConflict { user_id, field: "api_key" });
            }
            return Ok(SeedOutcome::Exists { account_id });
        }
        let grant = Grant {
            totp_key: &totp_key,
            roles: seed.roles,
            kyc_verified: seed.kyc_verified,
            api: Some((seed.api_key, seed.api_secret)),
        };
        let (user_id, account_id) = self.create_user(&applicant, &grant, Some("seed"), "seed", now)?;
        tracing::info!(user_id = %user_id, account_id, api_key = seed.api_key, "users: seeded");
        Ok(SeedOutcome::Created { account_id })
    }

    /// The one path that creates a user. Hashes the password (argon2id), then in one
    /// transaction: checks that the e-mail, phone, user id and API key are free, picks a user id
    /// when none was asked for and the next engine account id, inserts the user with its sealed
    /// TOTP secret, roles and sealed API secret, queues `CreateAccount` (and, for a verified
    /// user whose account the engine already knows, its activation) and writes the audit log
    /// (`actor` None: the user). The outbox is flushed after the commit.
    fn create_user(
        &mut self,
        applicant: &Applicant<'_>,
        grant: &Grant<'_>,
        actor: Option<&str>,
        action: &str,
        now: u64,
    ) -> Result<(String, AccountId)> {
        let password_hash =
            crypto::hash_password(applicant.password, &self.config.password).map_err(UsersError::Internal)?;
        let limits = self.config.account_limits;
        let first = self.config.first_account_id;

        let tx = immediate(&mut self.conn)?;
        let taken = |field: &'static str, sql: &str, value: &str| -> Result<()> {
            let hit: Option<i64> = tx.query_row(sql, params![value], |r| r.get(0)).optional()?;
            if hit.is_some() {
                return Err(UsersError::Taken { field });
            }
            Ok(())
        };
        taken("email", "SELECT 1 FROM users WHERE email = ?1", &applicant.email)?;
        taken("phone", "SELECT 1 FROM users WHERE phone = ?1", &applicant.phone)?;
        if let Some((api_key, _)) = grant.api {
            taken("api_key", "SELECT 1 FROM api_keys WHERE api_key = ?1", api_key)?;
        }
        let user_id = match &applicant.user_id {
            Some(id) => {
                taken("user_id", "SELECT 1 FROM users WHERE user_id = ?1", id)?;
                id.clone()
            }
            None => {
                let mut id = generate_user_id();
                let mut tries = 0;
                while tx
                    .query_row("SELECT 1 FROM users WHERE user_id = ?1", params![id], |_| Ok(()))
                    .optional()?
                    .is_some()
                {
                    tries += 1;
                    if tries > 64 {
                        return Err(UsersError::Internal("could not find a free user id".into()));
                    }
                    id = generate_user_id();
                }
                id
            }
        };
        let max: Option<i64> = tx.query_row("SELECT MAX(account_id) FROM users", [], |r| r.get(0))?;
        let account_id = match max {
            Some(m) => u32::try_from(m + 1).map_err(|_| UsersError::Internal("account ids exhausted".into()))?,
            None => first,
        }
        .max(first);
        let sealed_totp = self.sealer.seal(grant.totp_key, &aad("totp", &user_id));
        let actor = actor.unwrap_or(&user_id);
        let (kyc, reviewed_by, reviewed_at) = if grant.kyc_verified {
            ("verified", Some(actor), Some(now as i64))
        } else {
            ("not_submitted", None, None)
        };
        tx.execute(
            "INSERT INTO users (user_id, account_id, name, email, phone, password_hash, totp_secret,
                                kyc_status, kyc_reviewed_by, kyc_reviewed_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                user_id,
                account_id,
                applicant.name,
                applicant.email,
                applicant.phone,
                password_hash,
                sealed_totp,
                kyc,
                reviewed_by,
                reviewed_at,
                now as i64
            ],
        )?;
        for role in grant.roles {
            tx.execute(
                "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)",
                params![user_id, role.as_str()],
            )?;
        }
        if let Some((api_key, api_secret)) = grant.api {
            let sealed = self.sealer.seal(api_secret.as_bytes(), &aad("api_secret", api_key));
            tx.execute(
                "INSERT INTO api_keys (api_key, user_id, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![api_key, user_id, sealed, now as i64],
            )?;
        }
        outbox::enqueue(&tx, OutboxKind::Create, account_id, limits, now)?;
        outbox::reconcile_account(&tx, &user_id, now)?;
        let roles: Vec<&str> = grant.roles.iter().map(|r| r.as_str()).collect();
        let detail = format!("account {account_id}; roles {}; kyc {kyc}", roles.join(","));
        audit(&tx, now, actor, action, &user_id, &detail)?;
        tx.commit()?;
        self.flush_quietly(now);
        Ok((user_id, account_id))
    }

    // ------------------------------------------------------------------ login flow

    fn auth_row(&self, user_id: &str) -> Result<Option<AuthRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT password_hash, totp_secret, totp_last_step, locked_until, status
                 FROM users WHERE user_id = ?1",
                params![user_id],
                |r| {
                    Ok(AuthRow {
                        password_hash: r.get(0)?,
                        totp_secret: r.get(1)?,
                        totp_last_step: r.get(2)?,
                        locked_until: r.get::<_, i64>(3)? as u64,
                        suspended: r.get::<_, String>(4)? == "suspended",
                    })
                },
            )
            .optional()?)
    }

    /// Counts a failed password or TOTP attempt; `threshold` in a row lock the user for
    /// `lockout_secs`. A lock that has run out starts the count afresh.
    fn record_failure(&mut self, user_id: &str, what: &str, now: u64) -> Result<()> {
        let threshold = self.config.lockout_threshold.max(1);
        let lockout = self.config.lockout_secs;
        let tx = immediate(&mut self.conn)?;
        let (failed, locked_until): (u32, i64) = tx.query_row(
            "SELECT failed_attempts, locked_until FROM users WHERE user_id = ?1",
            params![user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let expired = locked_until != 0 && locked_until as u64 <= now;
        let mut failed = if expired { 0 } else { failed };
        let mut locked_until = if expired { 0 } else { locked_until as u64 };
        failed += 1;
        if failed >= threshold && locked_until <= now {
            locked_until = now + lockout;
            tracing::warn!(user_id, attempts = failed, until = locked_until, "users: locked out");
            audit(&tx, now, user_id, "locked", user_id, &format!("after {failed} failed attempts"))?;
        }
        tx.execute(
            "UPDATE users SET failed_attempts = ?1, locked_until = ?2 WHERE user_id = ?3",
            params![failed, locked_until as i64, user_id],
        )?;
        tx.commit()?;
        tracing::info!(user_id, what, attempts = failed, "users: failed attempt");
        Ok(())
    }

    fn check_lock(row: &AuthRow, now: u64) -> Result<()> {
        if row.locked_until > now {
            return Err(UsersError::Locked { until: row.locked_until });
        }
        Ok(())
    }

    /// Checks the password: `Ok(row)` or the failure, counted towards the lockout.
    fn check_password(&mut self, user_id: &str, password: &str, now: u64) -> Result<(String, AuthRow)> {
        let Some(user_id) = normalize_user_id(user_id) else {
            crypto::verify_password(password, &self.dummy_hash);
            return Err(UsersError::InvalidCredentials);
        };
        let Some(row) = self.auth_row(&user_id)? else {
            // Same work as for a real user, so response time does not reveal who exists.
            crypto::verify_password(password, &self.dummy_hash);
            return Err(UsersError::InvalidCredentials);
        };
        // A locked user gets no password check at all: the lock is not an oracle.
        Self::check_lock(&row, now)?;
        if !crypto::verify_password(password, &row.password_hash) {
            self.record_failure(&user_id, "password", now)?;
            return Err(UsersError::InvalidCredentials);
        }
        if row.suspended {
            return Err(UsersError::Suspended);
        }
        if crypto::needs_rehash(&row.password_hash, &self.config.password) {
            let new_hash = crypto::hash_password(password, &self.config.password).map_err(UsersError::Internal)?;
            self.conn.execute("UPDATE users SET password_hash = ?1 WHERE user_id = ?2", params![new_hash, user_id])?;
            tracing::info!(user_id = %user_id, "users: password rehashed with current parameters");
        }
        Ok((user_id, row))
    }

    /// Checks a TOTP code for a user whose password was checked: returns the step it matched,
    /// or the failure (a wrong code counts towards the lockout; a replayed one does not).
    fn check_totp(&mut self, user_id: &str, row: &AuthRow, code: &str, now: u64) -> Result<u64> {
        let key = self.sealer.open(&row.totp_secret, &aad("totp", user_id)).ok_or(UsersError::WrongMasterKey)?;
        let Some(step) = totp::verify(&key, code, now) else {
            self.record_failure(user_id, "totp", now)?;
            return Err(UsersError::InvalidTotp);
        };
        // RFC 6238 section 5.2: a code is good once.
        if step as i64 <= row.totp_last_step {
            return Err(UsersError::TotpReused);
        }
        Ok(step)
    }

    /// Step 1 of the web login (Kite's `POST /api/login`): checks the password and returns a
    /// short-lived `request_id` for the TOTP step.
    pub fn login(&mut self, user_id: &str, password: &str, now: u64) -> Result<String> {
        let (user_id, _) = self.check_password(user_id, password, now)?;
        let request_id = random_token::<20>();
        let tx = immediate(&mut self.conn)?;
        tx.execute("UPDATE users SET failed_attempts = 0, locked_until = 0 WHERE user_id = ?1", params![user_id])?;
        tx.execute(
            "INSERT INTO login_requests (request_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![sha256(request_id.as_bytes()).to_vec(), user_id, (now + self.config.request_id_ttl) as i64],
        )?;
        tx.commit()?;
        tracing::info!(user_id = %user_id, "users: password accepted");
        Ok(request_id)
    }

    /// Step 2 (Kite's `POST /api/twofa`): checks the TOTP for a live `request_id` of this user
    /// and returns a short-lived, single-use `request_token`.
    pub fn twofa(&mut self, user_id: &str, request_id: &str, totp_code: &str, now: u64) -> Result<String> {
        let user_id = normalize_user_id(user_id).ok_or(UsersError::InvalidRequestId)?;
        let hash = sha256(request_id.as_bytes()).to_vec();
        let request: Option<(String, i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT user_id, expires_at, used_at FROM login_requests WHERE request_hash = ?1",
                params![hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((owner, expires_at, used_at)) = request else { return Err(UsersError::InvalidRequestId) };
        if owner != user_id || used_at.is_some() {
            return Err(UsersError::InvalidRequestId);
        }
        if now >= expires_at as u64 {
            return Err(UsersError::RequestIdExpired);
        }
        let row = self.auth_row(&user_id)?.ok_or(UsersError::InvalidRequestId)?;
        Self::check_lock(&row, now)?;
        if row.suspended {
            return Err(UsersError::Suspended);
        }
        let step = self.check_totp(&user_id, &row, totp_code, now)?;
        let request_token = random_token::<20>();
        let tx = immediate(&mut self.conn)?;
        let claimed = tx.execute(
            "UPDATE login_requests SET used_at = ?1 WHERE request_hash = ?2 AND used_at IS NULL",
            params![now as i64, hash],
        )?;
        if claimed != 1 {
            return Err(UsersError::InvalidRequestId);
        }
        let stepped = tx.execute(
            "UPDATE users SET totp_last_step = ?1, failed_attempts = 0, locked_until = 0
             WHERE user_id = ?2 AND totp_last_step < ?1",
            params![step as i64, user_id],
        )?;
        if stepped != 1 {
            return Err(UsersError::TotpReused);
        }
        tx.execute(
            "INSERT INTO request_tokens (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![sha256(request_token.as_bytes()).to_vec(), user_id, (now + self.config.request_token_ttl) as i64],
        )?;
        tx.commit()?;
        tracing::info!(user_id = %user_id, "users: second factor accepted");
        Ok(request_token)
    }

    /// Step 3 (Kite's `POST /session/token`): exchanges a `request_token` for an access token.
    /// `checksum` is hex SHA-256 of `api_key + request_token + api_secret`, proving the caller
    /// holds the secret without sending it. The request token is consumed.
    pub fn create_session(&mut self, api_key: &str, request_token: &str, checksum: &str, now: u64) -> Result<Session> {
        let key_row: Option<(String, Vec<u8>)> = self
            .conn
            .query_row("SELECT user_id, secret FROM api_keys WHERE api_key = ?1", params![api_key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((key_owner, sealed_secret)) = key_row else { return Err(UsersError::InvalidApiKey) };
        let token_hash = sha256(request_token.as_bytes()).to_vec();
        let token_row: Option<(String, i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT user_id, expires_at, used_at FROM request_tokens WHERE token_hash = ?1",
                params![token_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((token_owner, expires_at, used_at)) = token_row else {
            return Err(UsersError::InvalidRequestToken);
        };
        let secret = self.sealer.open(&sealed_secret, &aad("api_secret", api_key)).ok_or(UsersError::WrongMasterKey)?;
        let mut input = Vec::with_capacity(api_key.len() + request_token.len() + secret.len());
        input.extend_from_slice(api_key.as_bytes());
        input.extend_from_slice(request_token.as_bytes());
        input.extend_from_slice(&secret);
        let expected = sha256_hex(&input);
        if !ct_eq(expected.as_bytes(), checksum.trim().to_ascii_lowercase().as_bytes()) {
            tracing::info!(user_id = %key_owner, "users: bad session checksum");
            return Err(UsersError::InvalidChecksum);
        }
        if used_at.is_some() {
            return Err(UsersError::RequestTokenUsed);
        }
        if now >= expires_at as u64 {
            return Err(UsersError::RequestTokenExpired);
        }
        if token_owner != key_owner {
            return Err(UsersError::InvalidRequestToken);
        }
        let profile = self.profile(&key_owner)?;
        if profile.suspended {
            return Err(UsersError::Suspended);
        }
        let jti = random_token::<20>();
        let expires_at = self.config.access_expiry.expires_at(now);
        let issuer = self.config.issuer.clone();
        let tx = immediate(&mut self.conn)?;
        let claimed = tx.execute(
            "UPDATE request_tokens SET used_at = ?1 WHERE token_hash = ?2 AND used_at IS NULL",
            params![now as i64, token_hash],
        )?;
        if claimed != 1 {
            return Err(UsersError::RequestTokenUsed);
        }
        let (kid, key) = active_key(&tx, &self.sealer, now)?;
        let claims = Claims {
            iss: issuer,
            sub: key_owner.clone(),
            acc: profile.account_id,
            roles: profile.roles.clone(),
            api_key: api_key.to_string(),
            iat: now,
            exp: expires_at,
            jti: jti.clone(),
        };
        let access_token = jwt::sign(&claims, &kid, &key);
        tx.execute(
            "INSERT INTO sessions (jti, user_id, api_key, kid, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![jti, key_owner, api_key, kid, now as i64, expires_at as i64],
        )?;
        tx.commit()?;
        tracing::info!(user_id = %key_owner, kid = %kid, "users: session created");
        Ok(Session {
            user_id: key_owner,
            api_key: api_key.to_string(),
            access_token,
            login_time: now,
            expires_at,
            profile,
        })
    }

    /// Checks an access token presented with `api_key` (`Authorization: token api_key:token`):
    /// signature by a non-retired key, issuer, expiry, API key, and that its session was not
    /// revoked. Returns its claims.
    pub fn verify_access_token(&self, api_key: &str, token: &str, now: u64) -> Result<Claims> {
        let claims = self.verify_signature(token)?;
        if claims.iss != self.config.issuer {
            return Err(UsersError::InvalidToken);
        }
        if now >= claims.exp {
            return Err(UsersError::TokenExpired);
        }
        if claims.api_key != api_key {
            return Err(UsersError::InvalidToken);
        }
        let session: Option<(String, Option<i64>)> = self
            .conn
            .query_row("SELECT user_id, revoked_at FROM sessions WHERE jti = ?1", params![claims.jti], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match session {
            None => Err(UsersError::InvalidToken),
            Some((user, _)) if user != claims.sub => Err(UsersError::InvalidToken),
            Some((_, Some(_))) => Err(UsersError::TokenRevoked),
            Some((_, None)) => Ok(claims),
        }
    }

    fn verify_signature(&self, token: &str) -> Result<Claims> {
        let unverified = jwt::parse(token).ok_or(UsersError::InvalidToken)?;
        let key: Option<(String, Vec<u8>)> = self
            .conn
            .query_row("SELECT state, secret FROM signing_keys WHERE kid = ?1", params![unverified.kid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((state, sealed)) = key else { return Err(UsersError::InvalidToken) };
        if state == "retired" {
            return Err(UsersError::SigningKeyRetired);
        }
        let key = self.sealer.open(&sealed, &aad("jwt_key", &unverified.kid)).ok_or(UsersError::WrongMasterKey)?;
        unverified.verify(&key).ok_or(UsersError::InvalidToken)
    }

    /// Revokes the session of an access token (Kite's `DELETE /session/token`). Logging out
    /// twice is not an error.
    pub fn logout(&mut self, access_token: &str, now: u64) -> Result<()> {
        let claims = self.verify_signature(access_token)?;
        self.conn.execute(
            "UPDATE sessions SET revoked_at = ?1 WHERE jti = ?2 AND revoked_at IS NULL",
            params![now as i64, claims.jti],
        )?;
        tracing::info!(user_id = %claims.sub, "users: logged out");
        Ok(())
    }

    /// Revokes every session of a user (password change, compromise).
    pub fn logout_everywhere(&mut self, user_id: &str, now: u64) -> Result<usize> {
        Ok(revoke_user_sessions(&self.conn, user_id, now)?)
    }

    // ------------------------------------------------------------------ API keys

    /// Creates the user's API key and secret, replacing any previous pair (whose sessions are
    /// revoked). Requires the password and a fresh TOTP, both counted towards the lockout. The
    /// secret is returned once; the database keeps it sealed under the master key.
    pub fn create_api_key(
        &mut self,
        user_id: &str,
        password: &str,
        totp_code: &str,
        now: u64,
    ) -> Result<ApiCredentials> {
        let (user_id, row) = self.check_password(user_id, password, now)?;
        let step = self.check_totp(&user_id, &row, totp_code, now)?;
        let api_key = random_token::<10>();
        let api_secret = random_token::<20>();
        let sealed = self.sealer.seal(api_secret.as_bytes(), &aad("api_secret", &api_key));
        let tx = immediate(&mut self.conn)?;
        let stepped = tx.execute(
            "UPDATE users SET totp_last_step = ?1, failed_attempts = 0, locked_until = 0
             WHERE user_id = ?2 AND totp_last_step < ?1",
            params![step as i64, user_id],
        )?;
        if stepped != 1 {
            return Err(UsersError::TotpReused);
        }
        tx.execute(
            "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
            params![now as i64, user_id],
        )?;
        tx.execute("DELETE FROM api_keys WHERE user_id = ?1", params![user_id])?;
        tx.execute(
            "INSERT INTO api_keys (api_key, user_id, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![api_key, user_id, sealed, now as i64],
        )?;
        audit(&tx, now, &user_id, "api_key", &user_id, &api_key)?;
        tx.commit()?;
        tracing::info!(user_id = %user_id, api_key = %api_key, "users: API key created");
        Ok(ApiCredentials { api_key, api_secret })
    }

    /// The user's API key (not its secret), if any.
    pub fn api_key_of(&self, user_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT api_key FROM api_keys WHERE user_id = ?1", params![user_id], |r| r.get(0))
            .optional()?)
    }

    // ------------------------------------------------------------------ signing keys

    /// Creates a new signing key that signs from now on; the previous active key keeps
    /// verifying the tokens it signed until it is retired. Returns the new `kid`.
    pub fn rotate_signing_key(&mut self, now: u64) -> Result<String> {
        let tx = immediate(&mut self.conn)?;
        tx.execute("UPDATE signing_keys SET state = 'verify' WHERE state = 'active'", [])?;
        let kid = insert_key(&tx, &self.sealer, now)?;
        audit(&tx, now, "operator", "rotate_signing_key", &kid, "")?;
        tx.commit()?;
        tracing::info!(kid = %kid, "users: signing key rotated");
        Ok(kid)
    }

    /// Retires a key that no longer signs: its material is erased and every token it signed is
    /// refused from now on.
    pub fn retire_signing_key(&mut self, kid: &str, now: u64) -> Result<()> {
        let tx = immediate(&mut self.conn)?;
        let state: Option<String> =
            tx.query_row("SELECT state FROM signing_keys WHERE kid = ?1", params![kid], |r| r.get(0)).optional()?;
        match state.as_deref() {
            None => return Err(UsersError::UnknownSigningKey),
            Some("active") => return Err(UsersError::ActiveSigningKey),
            Some("retired") => return Ok(()),
            Some(_) => {}
        }
        tx.execute(
            "UPDATE signing_keys SET state = 'retired', secret = X'', retired_at = ?1 WHERE kid = ?2",
            params![now as i64, kid],
        )?;
        audit(&tx, now, "operator", "retire_signing_key", kid, "")?;
        tx.commit()?;
        tracing::info!(kid, "users: signing key retired");
        Ok(())
    }

    pub fn signing_keys(&self) -> Result<Vec<SigningKeyInfo>> {
        let mut stmt =
            self.conn.prepare("SELECT kid, state, created_at, retired_at FROM signing_keys ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| {
            let state: String = r.get(1)?;
            Ok(SigningKeyInfo {
                kid: r.get(0)?,
                state: match state.as_str() {
                    "active" => KeyState::Active,
                    "verify" => KeyState::Verify,
                    _ => KeyState::Retired,
                },
                created_at: r.get::<_, i64>(2)? as u64,
                retired_at: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ------------------------------------------------------------------ users, roles

    pub fn profile(&self, user_id: &str) -> Result<Profile> {
        let row = self
            .conn
            .query_row(
                "SELECT user_id, name, email, phone, account_id, kyc_status, status, created_at
                 FROM users WHERE user_id = ?1",
                params![user_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, u32>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((user_id, name, email, phone, account_id, kyc, status, created_at)) = row else {
            return Err(UsersError::UnknownUser);
        };
        let roles = self.roles(&user_id)?;
        Ok(Profile {
            user_shortname: name.split_whitespace().next().unwrap_or_default().to_string(),
            user_id,
            user_name: name,
            email,
            phone,
            broker: self.config.broker.clone(),
            account_id,
            roles,
            kyc: KycStatus::parse(&kyc),
            suspended: status == "suspended",
            created_at: created_at as u64,
        })
    }

    pub fn roles(&self, user_id: &str) -> Result<Vec<Role>> {
        let mut stmt = self.conn.prepare("SELECT role FROM user_roles WHERE user_id = ?1")?;
        let mut roles: Vec<Role> = stmt
            .query_map(params![user_id], |r| r.get::<_, String>(0))?
            .filter_map(|r| r.ok().and_then(|s| Role::parse(&s)))
            .collect();
        roles.sort();
        Ok(roles)
    }

    /// Replaces a user's roles (admin only). The user's sessions are revoked, so no token
    /// carries roles the user no longer has.
    pub fn set_roles(&mut self, actor: &Claims, user_id: &str, roles: &[Role], now: u64) -> Result<()> {
        authorize(actor, Action::ManageUsers, Some(user_id))?;
        self.write_roles(&actor.sub, user_id, roles, now)
    }

    /// [`Users::set_roles`] without an actor: for the operator's command line, to create the
    /// first admin. Never expose it over the network.
    pub fn bootstrap_roles(&mut self, user_id: &str, roles: &[Role], now: u64) -> Result<()> {
        self.write_roles("operator", user_id, roles, now)
    }

    fn write_roles(&mut self, actor: &str, user_id: &str, roles: &[Role], now: u64) -> Result<()> {
        if roles.is_empty() {
            return Err(UsersError::InvalidInput { field: "roles", reason: "at least one" });
        }
        let tx = immediate(&mut self.conn)?;
        if tx.query_row("SELECT 1 FROM users WHERE user_id = ?1", params![user_id], |_| Ok(())).optional()?.is_none() {
            return Err(UsersError::UnknownUser);
        }
        tx.execute("DELETE FROM user_roles WHERE user_id = ?1", params![user_id])?;
        for role in roles {
            tx.execute(
                "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)",
                params![user_id, role.as_str()],
            )?;
        }
        revoke_user_sessions(&tx, user_id, now)?;
        let list: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        audit(&tx, now, actor, "set_roles", user_id, &list.join(","))?;
        tx.commit()?;
        tracing::info!(actor, user_id, roles = %list.join(","), "users: roles set");
        Ok(())
    }

    /// Suspends a user (admin, risk): logins are refused, sessions revoked, and the engine
    /// account suspended (which cancels its open orders) if it was activated.
    pub fn suspend_user(&mut self, actor: &Claims, user_id: &str, reason: &str, now: u64) -> Result<()> {
        authorize(actor, Action::SuspendAccount, Some(user_id))?;
        let tx = immediate(&mut self.conn)?;
        if tx.execute("UPDATE users SET status = 'suspended' WHERE user_id = ?1", params![user_id])? != 1 {
            return Err(UsersError::UnknownUser);
        }
        revoke_user_sessions(&tx, user_id, now)?;
        outbox::reconcile_account(&tx, user_id, now)?;
        audit(&tx, now, &actor.sub, "suspend", user_id, reason)?;
        tx.commit()?;
        tracing::info!(actor = %actor.sub, user_id, "users: suspended");
        self.flush_quietly(now);
        Ok(())
    }

    /// Lifts a suspension (admin, risk); the engine account is reactivated if KYC is verified.
    pub fn reinstate_user(&mut self, actor: &Claims, user_id: &str, now: u64) -> Result<()> {
        authorize(actor, Action::SuspendAccount, Some(user_id))?;
        let tx = immediate(&mut self.conn)?;
        if tx.execute("UPDATE users SET status = 'active' WHERE user_id = ?1", params![user_id])? != 1 {
            return Err(UsersError::UnknownUser);
        }
        outbox::reconcile_account(&tx, user_id, now)?;
        audit(&tx, now, &actor.sub, "reinstate", user_id, "")?;
        tx.commit()?;
        tracing::info!(actor = %actor.sub, user_id, "users: reinstated");
        self.flush_quietly(now);
        Ok(())
    }

    // ------------------------------------------------------------------ KYC

    /// Submits (or, after a rejection, resubmits) KYC: the PAN, sealed at rest.
    pub fn submit_kyc(&mut self, actor: &Claims, user_id: &str, pan: &str, now: u64) -> Result<()> {
        authorize(actor, Action::SubmitKyc, Some(user_id))?;
        let pan = normalize_pan(pan)?;
        let sealed = self.sealer.seal(pan.as_bytes(), &aad("pan", user_id));
        let tx = immediate(&mut self.conn)?;
        let state: Option<String> = tx
            .query_row("SELECT kyc_status FROM users WHERE user_id = ?1", params![user_id], |r| r.get(0))
            .optional()?;
        let state = KycStatus::parse(&state.ok_or(UsersError::UnknownUser)?);
        if !matches!(state, KycStatus::NotSubmitted | KycStatus::Rejected) {
            return Err(UsersError::KycState { state: state.as_str(), action: "submit" });
        }
        tx.execute(
            "UPDATE users SET kyc_status = 'submitted', kyc_pan = ?1, kyc_submitted_at = ?2,
                 kyc_reviewed_by = NULL, kyc_reviewed_at = NULL, kyc_reason = NULL
             WHERE user_id = ?3",
            params![sealed, now as i64, user_id],
        )?;
        audit(&tx, now, &actor.sub, "kyc_submit", user_id, "")?;
        tx.commit()?;
        tracing::info!(user_id, "users: KYC submitted");
        Ok(())
    }

    /// An admin verifies or rejects a submitted KYC (never their own). Verification queues the
    /// engine account's activation (once the engine has created it); a rejection needs a reason
    /// and can be followed by a resubmission.
    pub fn review_kyc(&mut self, actor: &Claims, user_id: &str, decision: KycDecision<'_>, now: u64) -> Result<()> {
        authorize(actor, Action::ReviewKyc, Some(user_id))?;
        let reason = match decision {
            KycDecision::Verify => None,
            KycDecision::Reject { reason } => {
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(UsersError::InvalidInput { field: "reason", reason: "1 to 500 characters" });
                }
                Some(reason.to_string())
            }
        };
        let tx = immediate(&mut self.conn)?;
        let state: Option<String> = tx
            .query_row("SELECT kyc_status FROM users WHERE user_id = ?1", params![user_id], |r| r.get(0))
            .optional()?;
        let state = KycStatus::parse(&state.ok_or(UsersError::UnknownUser)?);
        if state != KycStatus::Submitted {
            return Err(UsersError::KycState { state: state.as_str(), action: "review" });
        }
        let new_state = if reason.is_some() { "rejected" } else { "verified" };
        tx.execute(
            "UPDATE users SET kyc_status = ?1, kyc_reviewed_by = ?2, kyc_reviewed_at = ?3, kyc_reason = ?4
             WHERE user_id = ?5",
            params![new_state, actor.sub, now as i64, reason, user_id],
        )?;
        outbox::reconcile_account(&tx, user_id, now)?;
        audit(&tx, now, &actor.sub, &format!("kyc_{new_state}"), user_id, reason.as_deref().unwrap_or(""))?;
        tx.commit()?;
        tracing::info!(actor = %actor.sub, user_id, decision = new_state, "users: KYC reviewed");
        self.flush_quietly(now);
        Ok(())
    }

    pub fn kyc(&self, user_id: &str) -> Result<KycRecord> {
        let row = self
            .conn
            .query_row(
                "SELECT kyc_status, kyc_pan, kyc_submitted_at, kyc_reviewed_by, kyc_reviewed_at, kyc_reason
                 FROM users WHERE user_id = ?1",
                params![user_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((status, pan, submitted_at, reviewed_by, reviewed_at, reason)) = row else {
            return Err(UsersError::UnknownUser);
        };
        let pan = match pan {
            Some(blob) => {
                let bytes = self.sealer.open(&blob, &aad("pan", user_id)).ok_or(UsersError::WrongMasterKey)?;
                Some(String::from_utf8(bytes).map_err(|_| UsersError::Internal("PAN is not UTF-8".into()))?)
            }
            None => None,
        };
        Ok(KycRecord {
            status: KycStatus::parse(&status),
            pan,
            submitted_at: submitted_at.map(|t| t as u64),
            reviewed_by,
            reviewed_at: reviewed_at.map(|t| t as u64),
            reason,
        })
    }

    /// What the engine has said about the user's account (from [`crate::UsersService`]).
    pub fn engine_account(&self, user_id: &str) -> Result<EngineAccount> {
        let account_id: u32 = self
            .conn
            .query_row("SELECT account_id FROM users WHERE user_id = ?1", params![user_id], |r| r.get(0))
            .optional()?
            .ok_or(UsersError::UnknownUser)?;
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT status, last_reject FROM engine_accounts WHERE account_id = ?1",
                params![account_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (status, last_reject) = match row {
            None => (EngineStatus::Unknown, None),
            Some((s, reject)) => (
                match s.as_str() {
                    "inactive" => EngineStatus::Inactive,
                    "active" => EngineStatus::Active,
                    "suspended" => EngineStatus::Suspended,
                    _ => EngineStatus::CreateRejected,
                },
                reject,
            ),
        };
        Ok(EngineAccount { account_id, status, last_reject })
    }

    // ------------------------------------------------------------------ upkeep

    /// Sends pending engine commands (see [`crate::outbox`]); returns how many went out. Call
    /// it after a restart and periodically; the API calls it after its own writes.
    pub fn flush_outbox(&mut self, now: u64) -> Result<usize> {
        Ok(outbox::flush(&self.conn, self.sink.as_mut(), now)?)
    }

    /// Engine commands waiting to be sent.
    pub fn pending_commands(&self) -> Result<usize> {
        Ok(outbox::pending(&self.conn)?)
    }

    fn flush_quietly(&mut self, now: u64) {
        if let Err(e) = self.flush_outbox(now) {
            tracing::warn!(error = %e, "users: outbox flush failed; will retry");
        }
    }

    /// Deletes expired request ids, request tokens and sessions. Returns the rows removed.
    pub fn purge_expired(&mut self, now: u64) -> Result<usize> {
        let tx = immediate(&mut self.conn)?;
        let now = now as i64;
        let mut n = tx.execute("DELETE FROM login_requests WHERE expires_at <= ?1", params![now])?;
        n += tx.execute("DELETE FROM request_tokens WHERE expires_at <= ?1", params![now])?;
        n += tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
        tx.commit()?;
        Ok(n)
    }
}

fn insert_key(conn: &Connection, sealer: &Sealer, now: u64) -> Result<String> {
    let kid = random_token::<10>();
    let key = crypto::random_bytes::<32>();
    conn.execute(
        "INSERT INTO signing_keys (kid, secret, state, created_at) VALUES (?1, ?2, 'active', ?3)",
        params![kid, sealer.seal(&key, &aad("jwt_key", &kid)), now as i64],
    )?;
    Ok(kid)
}

/// The signing key, created on first use.
fn active_key(conn: &Connection, sealer: &Sealer, now: u64) -> Result<(String, Vec<u8>)> {
    let row: Option<(String, Vec<u8>)> = conn
        .query_row("SELECT kid, secret FROM signing_keys WHERE state = 'active'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (kid, sealed) = match row {
        Some(row) => row,
        None => {
            let kid = insert_key(conn, sealer, now)?;
            let sealed: Vec<u8> =
                conn.query_row("SELECT secret FROM signing_keys WHERE kid = ?1", params![kid], |r| r.get(0))?;
            (kid, sealed)
        }
    };
    let key = sealer.open(&sealed, &aad("jwt_key", &kid)).ok_or(UsersError::WrongMasterKey)?;
    Ok((kid, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_normalization() {
        assert_eq!(normalize_user_id(" ab1234 ").as_deref(), Some("AB1234"));
        for bad in ["A1234", "ABC123", "AB12345", "AB12C4", "", "ÅB1234"] {
            assert_eq!(normalize_user_id(bad), None, "{bad}");
        }
        assert_eq!(normalize_email(" Ravi@Example.COM ").expect("email"), "ravi@example.com");
        for bad in ["ravi", "@x.com", "ravi@x", "ravi@@x.com", "ra vi@x.com", "ravi@x.com."] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_phone("98765 43210").expect("phone"), "+919876543210");
        assert_eq!(normalize_phone("+91-98765-43210").expect("phone"), "+919876543210");
        for bad in ["12345", "98765x3210", "9+876543210", "+1234"] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_pan("abcde1234f").expect("pan"), "ABCDE1234F");
        assert!(normalize_pan("ABCD12345F").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password(&"x".repeat(129)).is_err());
        assert!(validate_password("long enough").is_ok());
        for _ in 0..100 {
            assert!(normalize_user_id(&generate_user_id()).is_some());
        }
    }
}
