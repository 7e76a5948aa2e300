//! Commands for the engine go through a persisted outbox: the row is written in the same
//! transaction as the state change that needs it (a registration, a KYC verification, a
//! suspension), and sent afterwards, in id order, by whoever flushes first (the API after its
//! own writes, the service after each commit and when idle). A crash between the commit and the
//! send leaves the row pending, and the next flush after the restart sends it: nothing is lost,
//! and a row marked sent is never sent again.
//!
//! The one window left is a crash after the sink took a command and before its row is marked
//! sent (same transaction, microseconds): that command goes out twice. The engine answers the
//! second `CreateAccount` with `DuplicateAccount` and the second `ActivateAccount` with
//! `AccountStatusUnchanged`, changing nothing, and [`crate::UsersService`] records such a
//! rejection without disturbing the account's status.

use engine_core::{AccountId, AccountLimits, Command};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use services_core::CommandSink;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutboxKind {
    Create,
    Activate,
    Suspend,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Create => "create",
            OutboxKind::Activate => "activate",
            OutboxKind::Suspend => "suspend",
        }
    }
}

/// Queues a command inside the caller's write transaction.
pub(crate) fn enqueue(
    conn: &Connection,
    kind: OutboxKind,
    account: AccountId,
    limits: AccountLimits,
    now: u64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO command_outbox
             (kind, account_id, created_at, order_value_max, open_orders_max, position_max, mis_leverage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            kind.as_str(),
            account,
            now as i64,
            limits.order_value_max,
            limits.open_orders_max,
            limits.position_max,
            limits.mis_leverage
        ],
    )?;
    Ok(())
}

pub(crate) fn pending(conn: &Connection) -> rusqlite::Result<usize> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM command_outbox WHERE sent_at IS NULL", [], |r| r.get(0))?;
    Ok(n as usize)
}

/// Sends pending commands in order until the sink refuses one (it stays pending, and so do the
/// ones after it, to keep the order). Returns how many were sent. Flushers on other connections
/// wait for the write lock, then find the rows already sent.
pub(crate) fn flush(conn: &Connection, sink: &mut dyn CommandSink, now: u64) -> rusqlite::Result<usize> {
    // Cheap check first, so an idle poll does not take the write lock.
    let any: Option<i64> =
        conn.query_row("SELECT id FROM command_outbox WHERE sent_at IS NULL LIMIT 1", [], |r| r.get(0)).optional()?;
    if any.is_none() {
        return Ok(0);
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let rows: Vec<(i64, String, u32, AccountLimits)> = {
        let mut stmt = tx.prepare(
            "SELECT id, kind, account_id, order_value_max, open_orders_max, position_max, mis_leverage
             FROM command_outbox WHERE sent_at IS NULL ORDER BY id LIMIT 256",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                AccountLimits {
                    order_value_max: r.get(3)?,
                    open_orders_max: r.get(4)?,
                    position_max: r.get(5)?,
                    mis_leverage: r.get(6)?,
                },
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut sent = 0;
    for (id, kind, account, limits) in rows {
        let command = match kind.as_str() {
            "create" => Command::CreateAccount { account, limits },
            "activate" => Command::ActivateAccount { account },
            _ => Command::SuspendAccount { account },
        };
        match sink.submit(&command) {
            Ok(()) => {
                tx.execute("UPDATE command_outbox SET sent_at = ?1 WHERE id = ?2", params![now as i64, id])?;
                tracing::info!(account, command = kind.as_str(), "users: command sent to the engine");
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(account, command = kind.as_str(), error = %e, "users: engine command not sent; will retry");
                break;
            }
        }
    }
    tx.commit()?;
    Ok(sent)
}

/// Whether the engine has created the account (its status is known from its events).
fn engine_created(conn: &Connection, account: AccountId) -> rusqlite::Result<bool> {
    let status: Option<String> = conn
        .query_row("SELECT status FROM engine_accounts WHERE account_id = ?1", params![account], |r| r.get(0))
        .optional()?;
    Ok(matches!(status.as_deref(), Some("inactive" | "active" | "suspended")))
}

/// Brings the engine account in line with the user, inside the caller's write transaction.
/// Wanted: active iff KYC is verified and the user is not suspended; suspended if the user is
/// suspended and the account was activated. A command is queued only once the engine has
/// created the account (so `ActivateAccount` never overtakes `CreateAccount`), and only on a
/// change of target, so each verification queues exactly one `ActivateAccount`.
pub(crate) fn reconcile_account(conn: &Connection, user_id: &str, now: u64) -> rusqlite::Result<()> {
    let row: Option<(u32, String, String, Option<String>)> = conn
        .query_row(
            "SELECT account_id, status, kyc_status, engine_target FROM users WHERE user_id = ?1",
            params![user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((account, status, kyc, target)) = row else { return Ok(()) };
    if !engine_created(conn, account)? {
        return Ok(());
    }
    let want_active = kyc == "verified" && status == "active";
    let (kind, new_target) = if want_active && target.as_deref() != Some("active") {
        (OutboxKind::Activate, "active")
    } else if status == "suspended" && target.as_deref() == Some("active") {
        (OutboxKind::Suspend, "suspended")
    } else {
        return Ok(());
    };
    enqueue(conn, kind, account, AccountLimits::default(), now)?;
    conn.execute("UPDATE users SET engine_target = ?1 WHERE user_id = ?2", params![new_target, user_id])?;
    Ok(())
}
