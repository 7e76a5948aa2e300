//! The users service's side of the engine: it records what the engine did with each account
//! (created, activated, suspended, or refused) and, once the engine has created the account of
//! a KYC-verified user, queues its activation. Run it under [`services_core::ServiceRunner`],
//! which commits each batch together with its seq, so every event is recorded exactly once
//! across restarts, duplicates and replays.

use engine_core::{AccountStatus, CommandKind, Event};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use services_core::{CommandSink, EventBatch, Service, ServiceError};

use crate::outbox;

/// The cursor name of the users service.
pub const SERVICE_NAME: &str = "users";

/// See the module documentation. With a sink, it also sends the outbox after each commit and
/// when idle; without one, [`crate::Users::flush_outbox`] does.
pub struct UsersService {
    sink: Option<Box<dyn CommandSink>>,
    /// Engine time of the last batch applied, seconds.
    last_ts: u64,
}

impl std::fmt::Debug for UsersService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsersService").field("sink", &self.sink.is_some()).finish()
    }
}

impl UsersService {
    pub fn new(sink: Option<Box<dyn CommandSink>>) -> UsersService {
        UsersService { sink, last_ts: 0 }
    }

    fn flush(&mut self, conn: &Connection, now: u64) -> Result<(), ServiceError> {
        if let Some(sink) = self.sink.as_deref_mut() {
            outbox::flush(conn, sink, now)?;
        }
        Ok(())
    }
}

fn status_str(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Inactive => "inactive",
        AccountStatus::Active => "active",
        AccountStatus::Suspended => "suspended",
    }
}

fn log_event(tx: &Transaction<'_>, seq: u64, account: u32, what: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO engine_account_events (seq, account_id, event) VALUES (?1, ?2, ?3)",
        params![seq as i64, account, what],
    )?;
    Ok(())
}

fn set_status(tx: &Transaction<'_>, seq: u64, account: u32, status: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO engine_accounts (account_id, status, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (account_id) DO UPDATE SET status = excluded.status, seq = excluded.seq",
        params![account, status, seq as i64],
    )?;
    Ok(())
}

impl Service for UsersService {
    fn name(&self) -> &'static str {
        SERVICE_NAME
    }

    fn migrate(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        crate::schema::migrate(conn)
    }

    fn apply(&mut self, tx: &Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        // The engine's clock, not the wall clock: replays give the same rows.
        let now = batch.ts_ns / 1_000_000_000;
        self.last_ts = self.last_ts.max(now);
        for event in &batch.events {
            match *event {
                Event::AccountCreated { account, .. } => {
                    set_status(tx, batch.seq, account, "inactive")?;
                    log_event(tx, batch.seq, account, "created")?;
                    let user: Option<String> = tx
                        .query_row("SELECT user_id FROM users WHERE account_id = ?1", params![account], |r| r.get(0))
                        .optional()?;
                    if let Some(user_id) = user {
                        outbox::reconcile_account(tx, &user_id, now)?;
                    }
                }
                Event::AccountStatusChanged { account, status } => {
                    set_status(tx, batch.seq, account, status_str(status))?;
                    log_event(tx, batch.seq, account, status_str(status))?;
                }
                Event::Rejected {
                    kind:
                        kind @ (CommandKind::CreateAccount | CommandKind::ActivateAccount | CommandKind::SuspendAccount),
                    reason,
                    account,
                    ..
                } => {
                    let what = format!("rejected {kind:?}: {reason:?}");
                    log_event(tx, batch.seq, account, &what)?;
                    // A refused create leaves no account; any other refusal (including the
                    // duplicate of a resent command) leaves the known status as it is.
                    if kind == CommandKind::CreateAccount {
                        tx.execute(
                            "INSERT INTO engine_accounts (account_id, status, last_reject, seq)
                             VALUES (?1, 'create_rejected', ?2, ?3)
                             ON CONFLICT (account_id) DO UPDATE SET last_reject = excluded.last_reject",
                            params![account, what, batch.seq as i64],
                        )?;
                    } else {
                        tx.execute(
                            "UPDATE engine_accounts SET last_reject = ?2 WHERE account_id = ?1",
                            params![account, what],
                        )?;
                    }
                    tracing::warn!(account, kind = ?kind, reason = ?reason, "users: engine refused an account command");
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn after_commit(&mut self, conn: &Connection) -> Result<(), ServiceError> {
        let now = self.now(conn)?;
        self.flush(conn, now)
    }

    fn on_idle(&mut self, conn: &Connection) -> Result<(), ServiceError> {
        let now = self.now(conn)?;
        self.flush(conn, now)
    }
}

impl UsersService {
    /// The service has no clock of its own: its time is the engine's (the last batch), or after
    /// a restart, the newest outbox row's.
    fn now(&self, conn: &Connection) -> rusqlite::Result<u64> {
        let t: Option<i64> = conn.query_row("SELECT MAX(created_at) FROM command_outbox", [], |r| r.get(0))?;
        Ok(self.last_ts.max(t.unwrap_or(0).max(0) as u64))
    }
}
