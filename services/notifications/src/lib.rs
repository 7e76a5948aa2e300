//! Notifications: order confirmations, executions, cancels and funds movements, by e-mail (SMTP)
//! and SMS (an HTTP provider), from the engine's events.
//!
//! # Exactly-once outbox
//!
//! [`NotificationService::apply`](services_core::Service::apply) renders each event into rows of
//! the `notify_outbox` table, inside the transaction in which the [`services_core::ServiceRunner`]
//! stores the batch's seq. A batch is therefore turned into messages exactly once, whatever
//! crashes: either the rows and the cursor are both committed, or neither is. Each row is one
//! message for one `(seq, idx, account, channel)`: event `idx` of batch `seq`, for one account,
//! on one channel, and that tuple is `UNIQUE`. The account is part of the key because one
//! `Trade` event concerns two accounts, the buyer and the seller; for every other event it is
//! implied by the event, so there is at most one message per (event, channel) per recipient.
//!
//! # Delivery
//!
//! After each commit and when idle, due rows are sent (see [`deliver`] for the exact
//! semantics: at least once, marked `sent` only after the server accepted; a crash between the
//! send and the mark re-sends once, identifiable by its stable `Message-ID` /
//! `Idempotency-Key`; exponential backoff; `failed` after `max_attempts`).
//!
//! # Schema
//!
//! ```sql
//! notify_prefs  (account PK, email, phone, email_on, sms_on,
//!                on_accepted, on_rejected, on_executions, on_cancels, on_modified, on_funds)
//! notify_outbox (id PK, seq, idx, account, channel 'email'|'sms', kind, recipient, subject, body,
//!                message_id UNIQUE, event_ts_ns, status 'pending'|'sent'|'failed', attempts,
//!                next_attempt_at (unix ms), last_error, sent_at (unix ms),
//!                UNIQUE (seq, idx, account, channel))
//! ```

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
    /// Domain part of message ids. Default `exchange.local`.
    pub message_id_domain: String,
    /// Most rows one delivery pass tries (bounds the time `after_commit` takes). Default 256.
    pub pass_max: usize,
    /// Messages sent at once, each over its own connection (lettre's SMTP client waits out the
    /// peer's delayed ACK once per message, ~40 ms, so one at a time caps e-mail at ~25/s).
    /// A crash re-sends at most this many. Default 4; 1 sends one at a time.
    pub concurrency: usize,
    /// Instrument symbols for rendering. Default empty (tokens render as `#408065`).
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
}

impl NotificationService {
    pub fn new(config: NotifyConfig, clock: Arc<dyn Clock>) -> Result<NotificationService, ConfigError> {
        let email = config.smtp.as_ref().map(deliver::EmailSender::new).transpose()?;
        let sms = config.sms.as_ref().map(deliver::SmsSender::new).transpose()?;
        Ok(NotificationService { config, clock, email, sms, channels: Default::default() })
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

    fn render(&self, tx: &rusqlite::Connection, batch: &EventBatch) -> Result<(), ServiceError> {
        for (idx, event) in batch.events.iter().enumerate() {
            if !matches!(
                event,
                Event::Accepted(_)
                    | Event::Rejected { .. }
                    | Event::Trade(_)
                    | Event::Cancelled { .. }
                    | Event::Modified { .. }
                    | Event::BalanceChanged { .. }
            ) {
                continue;
            }
            for draft in render::drafts(batch.seq, idx, batch.ts_ns, event, &self.config.symbols) {
                let Some(prefs) = get_prefs(tx, draft.account)? else { continue };
                for (channel, recipient) in prefs.targets(draft.kind) {
                    let id = message_id(batch.seq, idx, draft.account, channel, &self.config.message_id_domain);
                    outbox::insert(
                        tx,
                        &outbox::NewRow {
                            seq: batch.seq,
                            idx,
                            account: draft.account,
                            channel,
                            kind: draft.kind.as_str(),
                            recipient,
                            subject: &draft.subject,
                            body: &draft.body,
                            message_id: &id,
                            event_ts_ns: batch.ts_ns,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

impl Service for NotificationService {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn migrate(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        conn.execute_batch(prefs::SCHEMA)?;
        conn.execute_batch(outbox::SCHEMA)
    }

    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        self.render(tx, batch)
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
