//! Notifications: order confirmations, executions, cancels and funds movements, by e-mail (SMTP)
//! and SMS (an HTTP provider), from the engine's events.
//!
//! # Exactly-once outbox
//!
//! [`NotificationService::apply`](services_core::Service::apply) turns each event into rows of
//! the `notify_outbox` table, inside the transaction in which the [`services_core::ServiceRunner`]
//! stores the batch's seq. A batch is therefore turned into messages exactly once, whatever
//! crashes: either the rows and the cursor are both committed, or neither is. Each row is one
//! message for one `(seq, idx, account, channel)`: event `idx` of batch `seq`, for one account,
//! on one channel, and that tuple is `UNIQUE`. The account is part of the key because one
//! `Trade` event concerns two accounts, the buyer and the seller; for every other event it is
//! implied by the event, so there is at most one message per (event, channel) per recipient.
//!
//! `apply` decides who is told what ([`render::audience`]) and by which channel and address
//! (the account's [`Prefs`] as they are in that transaction; see [`prefs`] for how they are
//! kept in memory and checked once per transaction), and buffers the rows; `before_commit`
//! inserts them, 32 to a statement, before the cursor is written.
//!
//! # Rows hold events; text is rendered when sent or read
//!
//! A row holds the one event it reports, in its wire encoding (`engine-proto`), and the account,
//! channel, kind and recipient fixed when the event was applied; not its text. Subject and body
//! are rendered ([`render::drafts`]) when the row is delivered and when it is read through
//! [`outbox`], both from the database, so they agree:
//! - instrument symbols from `notify_symbols`: each `InstrumentAdded` event's symbol, written in
//!   the transaction that applies it, and [`NotifyConfig::symbols`] (recorded at every start)
//!   for tokens whose `InstrumentAdded` the database never saw; the engine's symbol wins;
//! - the `Message-ID` / `Idempotency-Key` is derived, [`message_id`]`(seq, idx, account,
//!   channel, domain)`, with the [`NotifyConfig::message_id_domain`] recorded in `notify_meta`
//!   at the last start.
//!
//! So a change of `message_id_domain`, of a configured symbol or of the templates (a new
//! release) also applies to rows not yet sent. A row whose event cannot be rendered (a damaged
//! database) is marked `failed` with the reason, never sent; [`outbox`] reports it as an error.
//!
//! # Delivery
//!
//! After each commit and when idle, due rows are sent (see [`deliver`] for the exact
//! semantics: at least once, marked `sent` only after the server accepted; a crash between the
//! send and the mark re-sends once, identifiable by its stable `Message-ID` /
//! `Idempotency-Key`; exponential backoff; `failed` after `max_attempts`).
//!
//! # Schema (version 2)
//!
//! ```sql
//! notify_prefs   (account PK, email, phone, email_on, sms_on,
//!                 on_accepted, on_rejected, on_executions, on_cancels, on_modified, on_funds)
//! notify_prefs_version (id PK = 1, version)  -- bumped by triggers on every notify_prefs change
//! notify_outbox  (id PK, seq, idx, account, channel 'email'|'sms', kind, recipient,
//!                 event BLOB (engine-proto wire encoding; NULL only in rows from version 1),
//!                 v1_subject, v1_body (text of rows from version 1; NULL in every later row),
//!                 event_ts_ns, status 'pending'|'sent'|'failed', attempts,
//!                 next_attempt_at (unix ms), last_error, sent_at (unix ms),
//!                 UNIQUE (seq, idx, account, channel))
//!                index notify_outbox_due (next_attempt_at) WHERE status = 'pending'
//! notify_symbols (token PK, symbol, source 'event'|'config')   -- instrument names for rendering
//! notify_meta    (key PK, value): schema_version '2', message_id_domain
//! ```
//!
//! A database written by schema version 1 (rendered `subject`, `body` and `message_id` in each
//! row, no `event`) is upgraded in place when the service starts, in one transaction, so a crash
//! leaves version 1 intact. Every row is kept with its id, key, status, attempts, times and last
//! error; its text moves to `v1_subject` / `v1_body` and is sent and read exactly as stored. Its
//! `Message-ID` is derived like any other, which is the one version 1 stored unless
//! `message_id_domain` changed while the row was pending. The version 1 table is dropped once
//! copied; the copy takes time and disk space in proportion to the outbox (seconds per million
//! rows), once; a backup of the file is the way back. A `notify_outbox` of any other shape stops
//! the service with an error and is left untouched.

pub mod deliver;
pub mod http;
mod outbox;
pub mod prefs;
pub mod render;

use std::sync::Arc;

use engine_core::Event;
use services_core::{EventBatch, Service, ServiceError};

pub use deliver::{
    ChannelState, Clock, ConfigError, DeliveryReport, ManualClock, RetryPolicy, SendError, SmsConfig, SmtpConfig,
    SystemClock,
};
pub use outbox::{message_id, outbox, outbox_counts, Channel, OutboxRow, Status};
pub use prefs::{delete_prefs, get_prefs, set_prefs, Kind, Kinds, Prefs};
pub use render::Symbols;

/// Everything the service needs; every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// E-mail relay. Default `None`: e-mail rows are created but wait, `pending`, until a relay is
    /// configured.
    pub smtp: Option<SmtpConfig>,
    /// SMS provider. Default `None` (SMS rows wait likewise).
    pub sms: Option<SmsConfig>,
    pub retry: RetryPolicy,
    /// Domain part of message ids. Default `exchange.local`. Recorded in the database at start;
    /// a change applies to the rows not yet sent as well.
    pub message_id_domain: String,
    /// Most rows one delivery pass tries (bounds the time `after_commit` takes). Default 256.
    pub pass_max: usize,
    /// Messages sent at once, each over its own connection (lettre's SMTP client waits out the
    /// peer's delayed ACK once per message, ~40 ms, so one at a time caps e-mail at ~25/s).
    /// A crash re-sends at most this many. Default 4; 1 sends one at a time.
    pub concurrency: usize,
    /// Instrument symbols for rendering, for instruments whose `InstrumentAdded` event this
    /// database never saw (added before the database was created, or before it was upgraded
    /// from schema version 1); the engine's symbol from `InstrumentAdded` always wins. Recorded
    /// in the database at start, so delivery and [`outbox`] render alike. Default empty (such
    /// tokens render as `#408065`).
    pub symbols: Symbols,
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        NotifyConfig {
            smtp: None,
            sms: None,
            retry: RetryPolicy::default(),
            message_id_domain: "exchange.local".into(),
            pass_max: 256,
            concurrency: 4,
            symbols: Symbols::new(),
        }
    }
}

/// The notifications service: a [`Service`] for [`services_core::ServiceRunner`].
#[derive(Debug)]
pub struct NotificationService {
    config: NotifyConfig,
    clock: Arc<dyn Clock>,
    email: Option<deliver::EmailSender>,
    sms: Option<deliver::SmsSender>,
    channels: std::cell::Cell<[ChannelState; 2]>,
    /// The open transaction's rows, until `before_commit`.
    writer: outbox::Writer,
}

impl NotificationService {
    pub fn new(config: NotifyConfig, clock: Arc<dyn Clock>) -> Result<NotificationService, ConfigError> {
        let email = config.smtp.as_ref().map(deliver::EmailSender::new).transpose()?;
        let sms = config.sms.as_ref().map(deliver::SmsSender::new).transpose()?;
        Ok(NotificationService { config, clock, email, sms, channels: Default::default(), writer: Default::default() })
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// One delivery pass at the clock's current time.
    pub fn deliver(&self, conn: &rusqlite::Connection) -> rusqlite::Result<DeliveryReport> {
        let pass = deliver::Pass {
            now_ms: self.clock.now_ms(),
            limit: self.config.pass_max,
            concurrency: self.config.concurrency,
            retry: &self.config.retry,
            email: self.email.as_ref(),
            sms: self.sms.as_ref(),
            channels: &self.channels,
        };
        deliver::deliver_due(conn, &pass)
    }

    /// Health of a channel: consecutive failures to reach its server, and until when it waits.
    pub fn channel_state(&self, channel: Channel) -> ChannelState {
        self.channels.get()[channel as usize]
    }

    /// Buffers the outbox rows `batch` calls for (inserted by `before_commit`), and records the
    /// symbols of new instruments.
    fn add_batch(&mut self, tx: &rusqlite::Connection, batch: &EventBatch) -> Result<(), ServiceError> {
        for (idx, event) in batch.events.iter().enumerate() {
            if let Event::InstrumentAdded { spec, .. } = event {
                outbox::set_event_symbol(tx, spec.token, spec.symbol.as_str())?;
                continue;
            }
            self.writer.add(tx, batch.seq, idx, batch.ts_ns, event)?;
        }
        Ok(())
    }
}

impl Service for NotificationService {
    fn name(&self) -> &'static str {
        "notifications"
    }

    /// Creates the tables, or upgrades a schema version 1 database (see the `outbox` module), and
    /// records the configured `message_id_domain` and `symbols`: all in one transaction.
    fn migrate(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(prefs::SCHEMA)?;
        outbox::migrate(&tx, &self.config.message_id_domain, &self.config.symbols)?;
        tx.commit()
    }

    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        self.add_batch(tx, batch)
    }

    fn before_commit(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), ServiceError> {
        self.writer.flush(tx)?;
        Ok(())
    }

    fn rolled_back(&mut self) {
        self.writer.reset();
    }

    fn after_commit(&mut self, conn: &rusqlite::Connection) -> Result<(), ServiceError> {
        self.deliver(conn)?;
        Ok(())
    }

    fn on_idle(&mut self, conn: &rusqlite::Connection) -> Result<(), ServiceError> {
        self.deliver(conn)?;
        Ok(())
    }
}
