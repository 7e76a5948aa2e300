//! Delivery of the outbox: e-mail over SMTP (lettre), SMS over an HTTP provider, with retries.
//!
//! # Semantics
//!
//! A row is marked `sent` only after the server accepted the message (SMTP `250` after `DATA`;
//! any HTTP `2xx`). The mark is a separate write after the send, so a crash (or a failed write)
//! between the two re-sends that message after the restart: delivery is *at least once*. Rows
//! are sent in rounds of at most `concurrency` (each over its own connection) and a round is
//! marked before the next starts, so one crash re-sends at most one round, once. SMTP has no
//! idempotency key, so every e-mail carries a stable `Message-ID` derived from
//! `(seq, idx, account, channel)` and a duplicate is identifiable (and dropped by clients and
//! relays that deduplicate on it); every SMS request carries the same id as `Idempotency-Key`.
//!
//! Failures come in three kinds:
//! - *unreachable* (the connection could not be made: refused, connect timeout, DNS, TLS
//!   setup): the message was never offered, so the row is not charged an attempt; instead the
//!   whole channel waits, with its own exponential backoff over consecutive failures. A relay
//!   that is down for an hour delays mail by up to `max_delay_ms` after it is back, and loses
//!   none.
//! - *transient* (SMTP 4xx, a broken conversation after connecting, HTTP 5xx/408/429, a
//!   malformed reply): the row is retried after `base_delay_ms * 2^(attempts-1)` (capped at
//!   `max_delay_ms`), and after `max_attempts` attempts it is `failed`. The channel is skipped
//!   for the rest of that pass.
//! - *permanent* (SMTP 5xx, HTTP 4xx other than 408/429, an address that does not parse): the
//!   row is `failed` at once.
//!
//! `failed` rows stay in the outbox with their `last_error` for an operator to inspect (and, if
//! wanted, set back to `pending`). Rows are taken oldest first, but a row waiting out its
//! backoff does not hold back later rows: per-recipient order is not guaranteed under failures.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};
use rusqlite::{params, Connection};

use crate::http::{self, HttpUrl};
use crate::outbox::{from_row, recorded_domain, Channel, OutboxRow, Renderer, StoredRow, COLUMNS};

/// Wall-clock time in Unix milliseconds, injectable so tests need not sleep.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(now_ms)))
    }
    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Retries with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included, before a row is `failed`. Default 6.
    pub max_attempts: u32,
    /// Wait after the first failure. Default 2 s.
    pub base_delay_ms: i64,
    /// Longest wait. Default 10 min.
    pub max_delay_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { max_attempts: 6, base_delay_ms: 2_000, max_delay_ms: 600_000 }
    }
}

impl RetryPolicy {
    /// Wait after the `attempts`-th failed attempt (1-based): `base * 2^(attempts-1)`, capped.
    pub fn delay_after(&self, attempts: u32) -> i64 {
        let shift = attempts.saturating_sub(1).min(40);
        self.base_delay_ms.saturating_mul(1i64 << shift).min(self.max_delay_ms)
    }
}

/// Where e-mail goes. `Debug` does not print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Default `localhost`.
    pub host: String,
    /// Default 25.
    pub port: u16,
    /// The `From:` mailbox. Default `Exchange <noreply@localhost>`.
    pub from: String,
    /// EHLO name. Default `localhost`.
    pub hello_name: String,
    /// Upgrade with STARTTLS (required, never opportunistic) and verify the server's certificate
    /// for `host`. Needs the crate feature `starttls`. Default false.
    pub starttls: bool,
    /// SMTP AUTH user and password; sent only over STARTTLS. Default none.
    pub credentials: Option<(String, String)>,
    /// Connect and command timeout. Default 10 s.
    pub timeout: Duration,
}

impl Default for SmtpConfig {
    fn default() -> SmtpConfig {
        SmtpConfig {
            host: "localhost".into(),
            port: 25,
            from: "Exchange <noreply@localhost>".into(),
            hello_name: "localhost".into(),
            starttls: false,
            credentials: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Where SMS goes: `POST url` with `{"to": .., "message": ..}`; any 2xx means sent.
/// `Debug` prints header names only.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsConfig {
    /// `http://host:port/path`.
    pub url: String,
    /// Extra request headers (an API key, ...). Never logged.
    pub headers: Vec<(String, String)>,
    /// Connect, write and read timeout. Default 10 s.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("hello_name", &self.hello_name)
            .field("starttls", &self.starttls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmsConfig {
    pub fn new(url: &str) -> SmsConfig {
        SmsConfig { url: url.to_string(), headers: Vec::new(), timeout: Duration::from_secs(10) }
    }
}

/// Why one send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No connection could be made; the message was not offered. Pauses the channel.
    Unreachable(String),
    /// Refused or broken off for now; worth retrying. Charges the row an attempt.
    Transient(String),
    /// Will never succeed as it is. Fails the row.
    Permanent(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("bad From address {0:?}: {1}")]
    From(String, String),
    #[error("STARTTLS was asked for, but this build lacks the `starttls` feature")]
    NoTls,
    #[error("SMTP credentials are sent only over STARTTLS; set starttls = true")]
    CredentialsWithoutTls,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("SMS URL: {0}")]
    SmsUrl(String),
}

pub(crate) struct EmailSender {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender").field("from", &self.from).finish_non_exhaustive()
    }
}

impl EmailSender {
    pub(crate) fn new(config: &SmtpConfig) -> Result<EmailSender, ConfigError> {
        let from: Mailbox = config.from.parse().map_err(|e| ConfigError::From(config.from.clone(), format!("{e}")))?;
        let mut builder = SmtpTransport::builder_dangerous(config.host.as_str())
            .port(config.port)
            .timeout(Some(config.timeout))
            .hello_name(ClientId::Domain(config.hello_name.clone()));
        if config.starttls {
            builder = with_starttls(builder, config)?;
        } else if config.credentials.is_some() {
            return Err(ConfigError::CredentialsWithoutTls);
        }
        Ok(EmailSender { transport: builder.build(), from })
    }

    pub(crate) fn send(&self, row: &OutboxRow) -> Result<(), SendError> {
        let to: Mailbox = row.recipient.parse().map_err(|e| SendError::Permanent(format!("recipient address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.as_str())
            .message_id(Some(format!("<{}>", row.message_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body.clone())
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        self.transport.send(&message).map(|_| ()).map_err(|e| classify_smtp(&e))
    }
}

/// Sorts a lettre error into the three kinds. lettre exposes no predicate for "could not
/// connect"; its `Display` names that kind `Connection error` (checked against a real refused
/// connection by a test, so a lettre upgrade that changes it fails loudly).
pub(crate) fn classify_smtp(e: &lettre::transport::smtp::Error) -> SendError {
    let text = format!("{e}");
    if e.is_permanent() {
        SendError::Permanent(text)
    } else if e.is_transient() || e.is_response() || e.is_client() {
        SendError::Transient(text)
    } else if text.starts_with("Connection error") || is_tls(e) {
        SendError::Unreachable(text)
    } else {
        // A network error mid-conversation: the message may have been offered.
        SendError::Transient(text)
    }
}

#[cfg(feature = "starttls")]
fn is_tls(e: &lettre::transport::smtp::Error) -> bool {
    e.is_tls()
}

#[cfg(not(feature = "starttls"))]
fn is_tls(_: &lettre::transport::smtp::Error) -> bool {
    false
}

#[cfg(feature = "starttls")]
fn with_starttls(
    builder: lettre::transport::smtp::SmtpTransportBuilder,
    config: &SmtpConfig,
) -> Result<lettre::transport::smtp::SmtpTransportBuilder, ConfigError> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    let params = TlsParameters::new(config.host.clone()).map_err(|e| ConfigError::Tls(format!("{e}")))?;
    let mut builder = builder.tls(Tls::Required(params));
    if let Some((user, password)) = &config.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder)
}

#[cfg(not(feature = "starttls"))]
fn with_starttls(
    _builder: lettre::transport::smtp::SmtpTransportBuilder,
    _config: &SmtpConfig,
) -> Result<lettre::transport::smtp::SmtpTransportBuilder, ConfigError> {
    Err(ConfigError::NoTls)
}

#[derive(Debug)]
pub(crate) struct SmsSender {
    url: HttpUrl,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl SmsSender {
    pub(crate) fn new(config: &SmsConfig) -> Result<SmsSender, ConfigError> {
        Ok(SmsSender {
            url: HttpUrl::parse(&config.url).map_err(ConfigError::SmsUrl)?,
            headers: config.headers.clone(),
            timeout: config.timeout,
        })
    }

    pub(crate) fn send(&self, row: &OutboxRow) -> Result<(), SendError> {
        let body =
            format!("{{\"to\":{},\"message\":{}}}", http::json_string(&row.recipient), http::json_string(&row.subject));
        let mut headers: Vec<(&str, &str)> = vec![("Idempotency-Key", row.message_id.as_str())];
        headers.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        match http::post(&self.url, &headers, "application/json", body.as_bytes(), self.timeout) {
            Ok(code) if (200..300).contains(&code) => Ok(()),
            Ok(code) if code == 408 || code == 429 || code >= 500 => Err(SendError::Transient(format!("HTTP {code}"))),
            Ok(code) => Err(SendError::Permanent(format!("HTTP {code}"))),
            Err(e @ http::HttpError::Connect(_)) => Err(SendError::Unreachable(format!("{e}"))),
            Err(e) => Err(SendError::Transient(format!("{e}"))),
        }
    }
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed this time, to be tried again.
    pub retrying: usize,
    /// Given up on this time.
    pub failed: usize,
    /// Not offered: the server could not be reached (the channel now waits).
    pub unreachable: usize,
}

/// One channel's health, kept in memory: consecutive failures to connect, and until when the
/// channel waits. A restart forgets it (and tries at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelState {
    pub unreachable: u32,
    pub paused_until_ms: i64,
}

/// What a pass sends through, and how.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    pub now_ms: i64,
    pub limit: usize,
    pub concurrency: usize,
    pub retry: &'a RetryPolicy,
    pub email: Option<&'a EmailSender>,
    pub sms: Option<&'a SmsSender>,
    pub channels: &'a Cell<[ChannelState; 2]>,
}

/// Sends what is due at `now_ms` (at most `limit` rows, `concurrency` at a time) through the
/// channels configured and not waiting.
pub(crate) fn deliver_due(conn: &Connection, pass: &Pass<'_>) -> rusqlite::Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    let mut states = pass.channels.get();
    let now_ms = pass.now_ms;
    let open = |c: Channel, configured: bool| configured && states[c as usize].paused_until_ms <= now_ms;
    let active: Vec<&str> = [(Channel::Email, pass.email.is_some()), (Channel::Sms, pass.sms.is_some())]
        .into_iter()
        .filter(|&(c, configured)| open(c, configured))
        .map(|(c, _)| c.as_str())
        .collect();
    if active.is_empty() || pass.limit == 0 {
        return Ok(report);
    }
    let stored: Vec<StoredRow> = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notify_outbox
             WHERE status = 'pending' AND next_attempt_at <= ?1 AND channel IN (?2, ?3)
             ORDER BY next_attempt_at, id LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(params![now_ms, active[0], active[active.len() - 1], pass.limit as i64], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    if stored.is_empty() {
        return Ok(report);
    }
    // Render each row now, from its stored event, as `outbox()` does (symbols and domain from
    // the database); a row that cannot be rendered (damaged) is failed without being sent.
    let domain = recorded_domain(conn)?;
    let mut renderer = Renderer::new(conn, &domain);
    let mut due: Vec<OutboxRow> = Vec::with_capacity(stored.len());
    for row in stored {
        match renderer.render(row)? {
            Ok(row) => due.push(row),
            Err((row, why)) => {
                conn.prepare_cached("UPDATE notify_outbox SET status = 'failed', last_error = ?2 WHERE id = ?1")?
                    .execute(params![row.id, why])?;
                tracing::error!(id = row.id, seq = row.seq, idx = row.idx, error = %why, "cannot render; failed");
                report.failed += 1;
            }
        }
    }
    // Channels skipped for the rest of this pass.
    let mut skip = [false; 2];
    let mut rest = due.as_slice();
    while !rest.is_empty() {
        // One round: up to `concurrency` rows, each over its own connection, all marked before
        // the next round starts (so a crash re-sends at most one round).
        let mut round: Vec<&OutboxRow> = Vec::with_capacity(pass.concurrency.max(1));
        while round.len() < pass.concurrency.max(1) {
            let Some((row, tail)) = rest.split_first() else { break };
            rest = tail;
            if !skip[row.channel as usize] {
                round.push(row);
            }
        }
        let (email, sms) = (pass.email, pass.sms);
        let send = move |row: &OutboxRow| match row.channel {
            Channel::Email => email.map(|s| s.send(row)),
            Channel::Sms => sms.map(|s| s.send(row)),
        };
        let results: Vec<Option<Result<(), SendError>>> = if round.len() <= 1 {
            round.iter().map(|row| send(row)).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = round.iter().map(|&row| scope.spawn(move || send(row))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Some(Err(SendError::Transient("sender panicked".into())))))
                    .collect()
            })
        };
        for (row, result) in round.into_iter().zip(results) {
            let Some(result) = result else { continue };
            let slot = row.channel as usize;
            match &result {
                Ok(()) => states[slot].unreachable = 0,
                Err(SendError::Unreachable(_)) => {
                    let state = &mut states[slot];
                    state.unreachable += 1;
                    state.paused_until_ms = now_ms.saturating_add(pass.retry.delay_after(state.unreachable));
                    skip[slot] = true;
                }
                Err(SendError::Transient(_)) => skip[slot] = true,
                Err(SendError::Permanent(_)) => {}
            }
            mark(conn, row, result, now_ms, pass.retry, &states[slot], &mut report)?;
        }
        pass.channels.set(states);
    }
    Ok(report)
}

/// Records one send's outcome.
fn mark(
    conn: &Connection,
    row: &OutboxRow,
    result: Result<(), SendError>,
    now_ms: i64,
    retry: &RetryPolicy,
    state: &ChannelState,
    report: &mut DeliveryReport,
) -> rusqlite::Result<()> {
    let attempts = row.attempts + 1;
    let channel = row.channel.as_str();
    match result {
        Ok(()) => {
            conn.prepare_cached(
                "UPDATE notify_outbox SET status = 'sent', attempts = ?2, sent_at = ?3, last_error = NULL
                 WHERE id = ?1",
            )?
            .execute(params![row.id, attempts, now_ms])?;
            tracing::debug!(message_id = %row.message_id, channel, attempts, "sent");
            report.sent += 1;
        }
        Err(SendError::Unreachable(e)) => {
            conn.prepare_cached("UPDATE notify_outbox SET last_error = ?2 WHERE id = ?1")?
                .execute(params![row.id, e])?;
            tracing::warn!(channel, failures = state.unreachable, error = %e, retry_at_ms = state.paused_until_ms,
                "server unreachable; the channel waits");
            report.unreachable += 1;
        }
        Err(SendError::Transient(e)) if attempts < retry.max_attempts => {
            let next = now_ms.saturating_add(retry.delay_after(attempts));
            conn.prepare_cached(
                "UPDATE notify_outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
            )?
            .execute(params![row.id, attempts, next, e])?;
            tracing::warn!(message_id = %row.message_id, channel, attempts, error = %e, retry_at_ms = next,
                "send failed; will retry");
            report.retrying += 1;
        }
        Err(SendError::Transient(e) | SendError::Permanent(e)) => {
            conn.prepare_cached(
                "UPDATE notify_outbox SET status = 'failed', attempts = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![row.id, attempts, e])?;
            tracing::error!(message_id = %row.message_id, channel, attempts, error = %e, "send failed; giving up");
            report.failed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let r = RetryPolicy { max_attempts: 10, base_delay_ms: 100, max_delay_ms: 1_000 };
        let d: Vec<i64> = (1..=6).map(|a| r.delay_after(a)).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(r.delay_after(200), 1_000);
    }
}
