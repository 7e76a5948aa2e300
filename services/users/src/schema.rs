//! Tables of the users database. Idempotent: run by [`crate::Users::open`] and by the
//! [`crate::UsersService`] migration alike.
//!
//! Where each kind of secret lives:
//! - passwords: `users.password_hash`, argon2id PHC strings (one-way);
//! - TOTP seeds, API secrets, JWT signing keys: sealed (XChaCha20-Poly1305 under the master
//!   key, bound to their row) because the server must read them back;
//! - request ids, request tokens: only their SHA-256 (high-entropy bearer values, so a plain
//!   hash suffices and lookup by hash is constant-time with respect to the value);
//! - access tokens: not stored; `sessions` keeps their `jti` for revocation.

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users_meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    user_id          TEXT PRIMARY KEY,
    account_id       INTEGER NOT NULL UNIQUE CHECK (account_id >= 0),
    name             TEXT NOT NULL,
    email            TEXT NOT NULL UNIQUE,
    phone            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    totp_secret      BLOB NOT NULL,
    totp_last_step   INTEGER NOT NULL DEFAULT -1,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until     INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    kyc_status       TEXT NOT NULL DEFAULT 'not_submitted'
                     CHECK (kyc_status IN ('not_submitted', 'submitted', 'verified', 'rejected')),
    kyc_pan          TEXT,
    kyc_submitted_at INTEGER,
    kyc_reviewed_by  TEXT,
    kyc_reviewed_at  INTEGER,
    kyc_reason       TEXT,
    -- The last status command queued for the engine account ('active', 'suspended') or NULL.
    engine_target    TEXT CHECK (engine_target IN ('active', 'suspended')),
    created_at       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS user_roles (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    role    TEXT NOT NULL CHECK (role IN ('trader', 'admin', 'risk', 'support')),
    PRIMARY KEY (user_id, role)
);
CREATE TABLE IF NOT EXISTS api_keys (
    api_key    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users (user_id),
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_requests (
    request_hash BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE TABLE IF NOT EXISTS request_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    jti        TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    api_key    TEXT NOT NULL,
    kid        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid        TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active', 'verify', 'retired')),
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
-- Commands for the engine, sent in id order; sent_at set once the sink took them.
CREATE TABLE IF NOT EXISTS command_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('create', 'activate', 'suspend')),
    account_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER,
    -- CreateAccount's limits, as they were when the account was registered.
    order_value_max INTEGER NOT NULL DEFAULT 0,
    open_orders_max INTEGER NOT NULL DEFAULT 0,
    position_max    INTEGER NOT NULL DEFAULT 0,
    mis_leverage    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS command_outbox_pending ON command_outbox (id) WHERE sent_at IS NULL;
-- The engine's view of each account, from its events.
CREATE TABLE IF NOT EXISTS engine_accounts (
    account_id  INTEGER PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'suspended', 'create_rejected')),
    last_reject TEXT,
    seq         INTEGER NOT NULL
);
-- One row per account event applied, in seq order: the history, and the proof of exactly once.
CREATE TABLE IF NOT EXISTS engine_account_events (
    seq        INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    event      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS engine_account_events_account ON engine_account_events (account_id);
CREATE TABLE IF NOT EXISTS audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
";

pub(crate) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}
