//! The persisted outbox: one row per message to send, created in the same transaction as the
//! service's cursor, so each event yields its messages exactly once.

use rusqlite::{params, Connection, Row};

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

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notify_outbox (
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL CHECK (seq > 0),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    account         INTEGER NOT NULL CHECK (account >= 0),
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms')),
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    message_id      TEXT    NOT NULL UNIQUE,
    event_ts_ns     INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         INTEGER,
    UNIQUE (seq, idx, account, channel)
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (status, next_attempt_at);
";

/// The stable identity of a message: `seq.idx.account.channel@domain`. Used as the e-mail's
/// `Message-ID` (in angle brackets) and as the SMS request's `Idempotency-Key`.
pub fn message_id(seq: u64, idx: usize, account: u32, channel: Channel, domain: &str) -> String {
    format!("{seq}.{idx}.{account}.{}@{domain}", channel.as_str())
}

/// A new row, as `apply` creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewRow<'a> {
    pub seq: u64,
    pub idx: usize,
    pub account: u32,
    pub channel: Channel,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
    pub event_ts_ns: u64,
}

pub(crate) fn insert(conn: &Connection, row: &NewRow<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO notify_outbox (seq, idx, account, channel, kind, recipient, subject, body, message_id, event_ts_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        row.seq as i64,
        row.idx as i64,
        row.account,
        row.channel.as_str(),
        row.kind,
        row.recipient,
        row.subject,
        row.body,
        row.message_id,
        row.event_ts_ns as i64,
    ])?;
    Ok(())
}

/// One outbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub seq: u64,
    pub idx: u32,
    pub account: u32,
    pub channel: Channel,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
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

pub(crate) const COLUMNS: &str = "id, seq, idx, account, channel, kind, recipient, subject, body, message_id, \
     event_ts_ns, status, attempts, next_attempt_at, last_error, sent_at";

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let bad =
        |i: usize, what: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into());
    let channel: String = r.get(4)?;
    let status: String = r.get(11)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        seq: r.get::<_, i64>(1)? as u64,
        idx: r.get(2)?,
        account: r.get(3)?,
        channel: Channel::parse(&channel).ok_or_else(|| bad(4, format!("channel {channel:?}")))?,
        kind: r.get(5)?,
        recipient: r.get(6)?,
        subject: r.get(7)?,
        body: r.get(8)?,
        message_id: r.get(9)?,
        event_ts_ns: r.get::<_, i64>(10)? as u64,
        status: Status::parse(&status).ok_or_else(|| bad(11, format!("status {status:?}")))?,
        attempts: r.get(12)?,
        next_attempt_at: r.get(13)?,
        last_error: r.get(14)?,
        sent_at: r.get(15)?,
    })
}

/// Every outbox row, oldest first.
pub fn outbox(conn: &Connection) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM notify_outbox ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?.collect();
    rows
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
