//! The persisted outbox: one row per message to send, created in the same transaction as the
//! service's cursor, so each event yields its messages exactly once.
//!
//! # Rows hold facts; text is rendered late
//!
//! A row stores what the message is about, not its text: the one engine event it reports, in its
//! wire encoding ([`engine_proto::encode_event`], a few dozen bytes), with the account, channel,
//! kind and recipient chosen when the event was applied. The subject and body are rendered from
//! the decoded event ([`crate::render::drafts`]) when the row is delivered and when it is read
//! through [`outbox`]; both render from the same database state, so they give the same text:
//!
//! - instrument symbols come from `notify_symbols`: the symbol of each `InstrumentAdded` event,
//!   written in the transaction that applies it, and [`crate::NotifyConfig::symbols`] for tokens
//!   whose `InstrumentAdded` this database never saw (written at every start; an engine symbol
//!   always wins). A token in neither renders as `#408065`.
//! - the `Message-ID` is derived, `seq.idx.account.channel@domain` ([`message_id`]), with the
//!   domain [`crate::NotifyConfig::message_id_domain`] that the service recorded in
//!   `notify_meta` at its last start.
//!
//! The facts of a row are fixed when it is created; its text is whatever this version of
//! [`crate::render`] makes of them, so a change of `message_id_domain`, of a configured symbol or
//! of the templates (a new release) applies to the rows not yet sent as well.
//!
//! # Schema version 2, and the upgrade from version 1
//!
//! Version 1 stored the rendered `subject`, `body` and `message_id` in every row. When the
//! service starts on such a database it upgrades it in one transaction (so a crash leaves
//! version 1 intact): every row is copied to the new table with its id, key, status, attempts,
//! times and last error; its rendered text moves to `v1_subject` / `v1_body` (`event` is NULL:
//! version 1 did not keep the event), and it is delivered and read with exactly that text. Its
//! `Message-ID` is derived as for every other row, which is the one version 1 stored unless
//! `message_id_domain` was changed while the row was pending. Nothing is lost or sent twice; the
//! version 1 table is dropped once copied. The copy takes time and free disk space in proportion
//! to the outbox (a few seconds per million rows), once; a backup of the file before upgrading is
//! the way back. A `notify_outbox` of any other shape stops the service with an error, and is
//! left untouched.

use std::collections::HashMap;

use engine_core::{Event, Token};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::prefs::{Kind, Prefs};
use crate::render::{self, Symbols};

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }
}

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Not yet accepted by the server; tried again at `next_attempt_at`.
    Pending,
    /// Accepted by the SMTP server / SMS provider.
    Sent,
    /// Given up: a permanent refusal, or `max_attempts` transient failures.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "sent" => Some(Status::Sent),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// The outbox table's columns and constraints (version 2). The CHECKs compare with `=` and `OR`:
/// SQLite evaluates `x IN (a, b, c)` with three or more values through a temporary index built
/// for every row, which cost as much as the rest of the insert.
const OUTBOX_COLUMNS: &str = "(
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL CHECK (seq > 0),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    account         INTEGER NOT NULL CHECK (account >= 0),
    channel         TEXT    NOT NULL CHECK (channel = 'email' OR channel = 'sms'),
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    event           BLOB,
    v1_subject      TEXT,
    v1_body         TEXT,
    event_ts_ns     INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status = 'pending' OR status = 'sent' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         INTEGER,
    CHECK (event IS NOT NULL OR (v1_subject IS NOT NULL AND v1_body IS NOT NULL)),
    UNIQUE (seq, idx, account, channel)
)";

/// Due rows, for delivery: only `pending` rows are indexed, so sent rows leave the index.
const DUE_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (next_attempt_at) WHERE status = 'pending'";

const SIDE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS notify_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_symbols (
    token  INTEGER PRIMARY KEY CHECK (token >= 0),
    symbol TEXT    NOT NULL,
    source TEXT    NOT NULL CHECK (source = 'event' OR source = 'config')
);
";

/// The schema version this code writes, recorded in `notify_meta`.
const SCHEMA_VERSION: &str = "2";

pub(crate) fn db_error(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(message))
}

/// Creates the outbox tables, or upgrades a version 1 outbox (see the module docs), and records
/// `domain` and the configured `symbols`, inside the caller's transaction.
pub(crate) fn migrate(tx: &Transaction<'_>, domain: &str, symbols: &Symbols) -> rusqlite::Result<()> {
    let columns: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('notify_outbox')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let has = |name: &str| columns.iter().any(|c| c == name);
    if columns.is_empty() {
        tx.execute_batch(&format!("CREATE TABLE notify_outbox {OUTBOX_COLUMNS}"))?;
    } else if !has("event") {
        let v1 = ["id", "seq", "idx", "account", "channel", "kind", "recipient", "subject", "body", "message_id"]
            .iter()
            .chain(&["event_ts_ns", "status", "attempts", "next_attempt_at", "last_error", "sent_at"])
            .all(|c| has(c));
        if !v1 {
            return Err(db_error(format!(
                "notify_outbox has columns {columns:?}: neither schema version 1 nor 2; not touched"
            )));
        }
        let copied = upgrade_v1(tx)?;
        tracing::info!(rows = copied, "notify_outbox upgraded from schema version 1 to 2");
    }
    tx.execute_batch(DUE_INDEX)?;
    tx.execute_batch(SIDE_TABLES)?;
    let set = "INSERT INTO notify_meta (key, value) VALUES (?1, ?2)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    tx.execute(set, params!["schema_version", SCHEMA_VERSION])?;
    tx.execute(set, params!["message_id_domain", domain])?;
    tx.execute("DELETE FROM notify_symbols WHERE source = 'config'", [])?;
    for (token, symbol) in symbols {
        tx.execute(
            "INSERT INTO notify_symbols (token, symbol, source) VALUES (?1, ?2, 'config') ON CONFLICT (token) DO NOTHING",
            params![token, symbol],
        )?;
    }
    Ok(())
}

/// Version 1 → 2: copies every row (text into `v1_subject` / `v1_body`), drops the old table.
fn upgrade_v1(tx: &Transaction<'_>) -> rusqlite::Result<usize> {
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS notify_outbox_v2;
         CREATE TABLE notify_outbox_v2 {OUTBOX_COLUMNS};"
    ))?;
    let copied = tx.execute(
        "INSERT INTO notify_outbox_v2 (id, seq, idx, account, channel, kind, recipient, event, v1_subject, v1_body,
             event_ts_ns, status, attempts, next_attempt_at, last_error, sent_at)
         SELECT id, seq, idx, account, channel, kind, recipient, NULL, subject, body,
             event_ts_ns, status, attempts, next_attempt_at, last_error, sent_at
         FROM notify_outbox ORDER BY id",
        [],
    )?;
    tx.execute_batch(
        "DROP TABLE notify_outbox;
         ALTER TABLE notify_outbox_v2 RENAME TO notify_outbox;",
    )?;
    Ok(copied)
}

/// Records the engine's symbol for `token` (from `InstrumentAdded`), inside the caller's
/// transaction. It replaces a configured one.
pub(crate) fn set_event_symbol(conn: &Connection, token: Token, symbol: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO notify_symbols (token, symbol, source) VALUES (?1, ?2, 'event')
         ON CONFLICT (token) DO UPDATE SET symbol = excluded.symbol, source = 'event'",
    )?
    .execute(params![token, symbol])?;
    Ok(())
}

/// The stable identity of a message: `seq.idx.account.channel@domain`. Used as the e-mail's
/// `Message-ID` (in angle brackets) and as the SMS request's `Idempotency-Key`.
pub fn message_id(seq: u64, idx: usize, account: u32, channel: Channel, domain: &str) -> String {
    format!("{seq}.{idx}.{account}.{}@{domain}", channel.as_str())
}

// ---------------------------------------------------------------------------------------------
// Writing: the rows of one transaction, buffered by `apply` and inserted by `before_commit`.

/// One row to insert; its event is `events[event]` of the [`Writer`], its recipient is in the
/// writer's preferences.
#[derive(Debug, Clone, Copy)]
struct NewRow {
    seq: u64,
    idx: u32,
    account: u32,
    channel: Channel,
    kind: Kind,
    event: (u32, u32),
    event_ts_ns: u64,
}

/// The outbox rows of the open transaction, not yet inserted, and the preferences read.
///
/// Preferences are read once per account and kept across transactions while
/// `notify_prefs_version` stays the same (checked once per transaction, in it; see the `prefs`
/// module), so the rows get exactly the preferences a query per message would read.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    rows: Vec<NewRow>,
    /// The encoded events of `rows`, back to back.
    events: Vec<u8>,
    /// Preferences by account (`None`: the account has none), as of `prefs_version`.
    prefs: HashMap<u32, Option<Prefs>>,
    prefs_version: Option<i64>,
    /// `prefs` was checked against the database in the open transaction.
    checked: bool,
}

/// Most accounts whose preferences are kept in memory; past this they are read again.
const PREFS_KEPT: usize = 1 << 16;

/// Rows per multi-row `INSERT`: one statement step per 32 rows instead of one per row (a third
/// less time per row); more gains nothing. `OR FAIL`: a violated constraint stops the statement
/// without undoing its earlier rows, so SQLite keeps no statement journal; the error rolls the
/// whole transaction back anyway.
const INSERT_ROWS: usize = 32;
const INSERT_PARAMS: usize = 8;

fn insert_sql(rows: usize) -> String {
    services_core::insert_rows_sql(
        "INSERT OR FAIL INTO notify_outbox (seq, idx, account, channel, kind, recipient, event, event_ts_ns) VALUES ",
        INSERT_PARAMS,
        rows,
    )
}

impl Writer {
    /// Buffers the messages event `idx` of batch `seq` calls for, by the preferences in `tx`.
    pub(crate) fn add(
        &mut self,
        tx: &Connection,
        seq: u64,
        idx: usize,
        ts_ns: u64,
        event: &Event,
    ) -> Result<(), services_core::ServiceError> {
        let audience = render::audience(event);
        if audience.is_empty() {
            return Ok(());
        }
        let idx = u32::try_from(idx)
            .map_err(|_| services_core::ServiceError::Invariant(format!("batch {seq}: event index {idx}")))?;
        if !self.checked {
            let version = crate::prefs::prefs_version(tx)?;
            if version.is_none() || version != self.prefs_version || self.prefs.len() > PREFS_KEPT {
                self.prefs.clear();
            }
            self.prefs_version = version;
            self.checked = true;
        }
        let mut encoded: Option<(u32, u32)> = None;
        for (account, kind) in audience.iter() {
            let prefs = match self.prefs.get(&account) {
                Some(p) => p,
                None => {
                    let p = crate::prefs::get_prefs(tx, account)?;
                    self.prefs.entry(account).or_insert(p)
                }
            };
            let Some(prefs) = prefs else { continue };
            for (channel, _) in prefs.targets(kind) {
                let event = match encoded {
                    Some(e) => e,
                    None => {
                        let e = encode(&mut self.events, event)
                            .map_err(|e| services_core::ServiceError::Invariant(format!("batch {seq}: {e}")))?;
                        *encoded.insert(e)
                    }
                };
                self.rows.push(NewRow { seq, idx, account, channel, kind, event, event_ts_ns: ts_ns });
            }
        }
        Ok(())
    }

    /// Inserts the buffered rows into `tx` and forgets the transaction's state.
    pub(crate) fn flush(&mut self, tx: &Connection) -> rusqlite::Result<()> {
        let result = self.insert(tx);
        self.clear();
        result
    }

    fn insert(&self, tx: &Connection) -> rusqlite::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        static SQL: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        let (many, one) = SQL.get_or_init(|| (insert_sql(INSERT_ROWS), insert_sql(1)));
        let mut chunks = self.rows.chunks_exact(INSERT_ROWS);
        if chunks.len() > 0 {
            let mut stmt = tx.prepare_cached(many)?;
            for chunk in &mut chunks {
                for (r, row) in chunk.iter().enumerate() {
                    self.bind(&mut stmt, r * INSERT_PARAMS, row)?;
                }
                stmt.raw_execute()?;
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut stmt = tx.prepare_cached(one)?;
            for row in rest {
                self.bind(&mut stmt, 0, row)?;
                stmt.raw_execute()?;
            }
        }
        Ok(())
    }

    fn bind(&self, stmt: &mut rusqlite::CachedStatement<'_>, at: usize, row: &NewRow) -> rusqlite::Result<()> {
        let recipient = self
            .prefs
            .get(&row.account)
            .and_then(Option::as_ref)
            .and_then(|p| p.targets(row.kind).find(|&(c, _)| c == row.channel))
            .map(|(_, r)| r)
            .ok_or_else(|| db_error(format!("no recipient for account {} on {}", row.account, row.channel.as_str())))?;
        let event = self.events.get(row.event.0 as usize..row.event.1 as usize).unwrap_or_default();
        stmt.raw_bind_parameter(at + 1, row.seq as i64)?;
        stmt.raw_bind_parameter(at + 2, row.idx)?;
        stmt.raw_bind_parameter(at + 3, row.account)?;
        stmt.raw_bind_parameter(at + 4, row.channel.as_str())?;
        stmt.raw_bind_parameter(at + 5, row.kind.as_str())?;
        stmt.raw_bind_parameter(at + 6, recipient)?;
        stmt.raw_bind_parameter(at + 7, event)?;
        stmt.raw_bind_parameter(at + 8, row.event_ts_ns as i64)?;
        Ok(())
    }

    /// Forgets the buffered rows (the transaction ended); the preferences stay, to be checked
    /// in the next transaction.
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
        self.events.clear();
        self.checked = false;
    }

    /// Forgets everything (the transaction was rolled back).
    pub(crate) fn reset(&mut self) {
        self.clear();
        self.prefs.clear();
        self.prefs_version = None;
    }
}

/// Appends `event`'s wire encoding to `buf`; returns its range.
fn encode(buf: &mut Vec<u8>, event: &Event) -> Result<(u32, u32), engine_proto::EncodeError> {
    let start = buf.len();
    buf.resize(start + engine_proto::EVENT_LEN_MAX, 0);
    let written = engine_proto::encode_event(event, &mut buf[start..]);
    let len = *written.as_ref().unwrap_or(&0);
    buf.truncate(start + len);
    written.map(|len| (start as u32, (start + len) as u32))
}

// ---------------------------------------------------------------------------------------------
// Reading: rows as stored, rendered on the way out.

/// One outbox row, its text rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub seq: u64,
    pub idx: u32,
    pub account: u32,
    pub channel: Channel,
    pub kind: String,
    pub recipient: String,
    /// Rendered from the stored event (or, for a row created by schema version 1, as stored).
    pub subject: String,
    pub body: String,
    /// Derived: [`message_id`] with the recorded domain.
    pub message_id: String,
    pub event_ts_ns: u64,
    pub status: Status,
    pub attempts: u32,
    /// Unix milliseconds from which the next attempt may run.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// Unix milliseconds when the server accepted the message.
    pub sent_at: Option<i64>,
}

/// What a row holds in place of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// The wire-encoded event.
    Event(Vec<u8>),
    /// Text rendered by schema version 1: subject, body.
    V1(String, String),
}

/// One row as stored, before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRow {
    pub id: i64,
    pub seq: u64,
    pub idx: u32,
    pub account: u32,
    pub channel: Channel,
    pub kind: String,
    pub recipient: String,
    pub content: Content,
    pub event_ts_ns: u64,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

pub(crate) const COLUMNS: &str = "id, seq, idx, account, channel, kind, recipient, event, v1_subject, v1_body, \
     event_ts_ns, status, attempts, next_attempt_at, last_error, sent_at";

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredRow> {
    let bad =
        |i: usize, what: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into());
    let channel: String = r.get(4)?;
    let status: String = r.get(11)?;
    let content = match (r.get::<_, Option<Vec<u8>>>(7)?, r.get::<_, Option<String>>(8)?, r.get(9)?) {
        (Some(event), _, _) => Content::Event(event),
        (None, Some(subject), Some(body)) => Content::V1(subject, body),
        _ => return Err(bad(7, "neither an event nor version 1 text".into())),
    };
    Ok(StoredRow {
        id: r.get(0)?,
        seq: r.get::<_, i64>(1)? as u64,
        idx: r.get(2)?,
        account: r.get(3)?,
        channel: Channel::parse(&channel).ok_or_else(|| bad(4, format!("channel {channel:?}")))?,
        kind: r.get(5)?,
        recipient: r.get(6)?,
        content,
        event_ts_ns: r.get::<_, i64>(10)? as u64,
        status: Status::parse(&status).ok_or_else(|| bad(11, format!("status {status:?}")))?,
        attempts: r.get(12)?,
        next_attempt_at: r.get(13)?,
        last_error: r.get(14)?,
        sent_at: r.get(15)?,
    })
}

/// Renders rows: the symbols (read from `notify_symbols` as needed, once each) and the domain.
#[derive(Debug)]
pub(crate) struct Renderer<'a> {
    conn: &'a Connection,
    domain: &'a str,
    symbols: Symbols,
    looked_up: std::collections::BTreeSet<Token>,
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(conn: &'a Connection, domain: &'a str) -> Renderer<'a> {
        Renderer { conn, domain, symbols: Symbols::new(), looked_up: Default::default() }
    }

    fn symbols_for(&mut self, token: Token) -> rusqlite::Result<&Symbols> {
        if self.looked_up.insert(token) {
            let symbol: Option<String> = self
                .conn
                .prepare_cached("SELECT symbol FROM notify_symbols WHERE token = ?1")?
                .query_row(params![token], |r| r.get(0))
                .optional()?;
            if let Some(symbol) = symbol {
                self.symbols.insert(token, symbol);
            }
        }
        Ok(&self.symbols)
    }

    /// The row with its text: `Ok(Err(why))` when its event cannot be rendered (an undecodable
    /// or foreign event: a damaged row, never produced by `apply`).
    pub(crate) fn render(&mut self, row: StoredRow) -> rusqlite::Result<Result<OutboxRow, (StoredRow, String)>> {
        let (subject, body) = match &row.content {
            Content::V1(subject, body) => (subject.clone(), body.clone()),
            Content::Event(bytes) => {
                let event = match engine_proto::decode_event(bytes) {
                    Ok(event) => event,
                    Err(e) => return Ok(Err((row, format!("stored event does not decode: {e}")))),
                };
                let symbols = match render::token_of(&event) {
                    Some(token) => self.symbols_for(token)?,
                    None => &self.symbols,
                };
                let draft = render::drafts(row.seq, row.idx as usize, row.event_ts_ns, &event, symbols)
                    .into_iter()
                    .find(|d| d.account == row.account && d.kind.as_str() == row.kind);
                match draft {
                    Some(d) => (d.subject, d.body),
                    None => {
                        let why = format!("stored event has no {} message for account {}", row.kind, row.account);
                        return Ok(Err((row, why)));
                    }
                }
            }
        };
        Ok(Ok(OutboxRow {
            id: row.id,
            seq: row.seq,
            idx: row.idx,
            account: row.account,
            channel: row.channel,
            message_id: message_id(row.seq, row.idx as usize, row.account, row.channel, self.domain),
            kind: row.kind,
            recipient: row.recipient,
            subject,
            body,
            event_ts_ns: row.event_ts_ns,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            sent_at: row.sent_at,
        }))
    }
}

/// The `message_id_domain` the service recorded at its last start.
pub(crate) fn recorded_domain(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("SELECT value FROM notify_meta WHERE key = 'message_id_domain'", [], |r| r.get(0))
        .optional()?
        .ok_or_else(|| {
            db_error("notify_meta has no message_id_domain: the service has not migrated this database".into())
        })
}

/// Every outbox row, oldest first, rendered as delivery renders it (symbols and `Message-ID`
/// domain as the service recorded them in the database). A row whose stored event cannot be
/// rendered (damaged) is an error.
pub fn outbox(conn: &Connection) -> rusqlite::Result<Vec<OutboxRow>> {
    let domain = recorded_domain(conn)?;
    let mut renderer = Renderer::new(conn, &domain);
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM notify_outbox ORDER BY id"))?;
    let stored = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    stored
        .into_iter()
        .map(|row| {
            renderer.render(row)?.map_err(|(row, why)| {
                rusqlite::Error::FromSqlConversionFailure(
                    7,
                    rusqlite::types::Type::Blob,
                    format!("row {}: {why}", row.id).into(),
                )
            })
        })
        .collect()
}

/// Rows per status: `(pending, sent, failed)`.
pub fn outbox_counts(conn: &Connection) -> rusqlite::Result<(u64, u64, u64)> {
    conn.query_row(
        "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'sent'), 0),
                COALESCE(SUM(status = 'failed'), 0) FROM notify_outbox",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
    )
}
