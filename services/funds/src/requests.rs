//! Deposit and withdrawal requests: recorded first, submitted to the engine after, matched to the
//! engine's answer by their order.
//!
//! # Life of a request
//!
//! `queued` (recorded by [`request_deposit`] / [`request_withdrawal`], committed) →
//! `submitted` (committed *before* the command is handed to the sink) → `completed` (its
//! `BalanceChanged{Deposit|Withdrawal}` arrived; linked to the ledger entry) or `rejected` (its
//! `Rejected{kind: Deposit|Withdraw}` arrived). The last step is written in the same transaction
//! as the ledger entry and the service's cursor, so it happens exactly once.
//!
//! # Correlation: FIFO per account
//!
//! `Command::Deposit` / `Withdraw` carry no request id, so an engine answer is matched to the
//! *oldest* `submitted` request of its account. This is exact because:
//!
//! 1. requests are handed to the sink strictly in id order, one at a time, and the sink is an
//!    ordered channel into a single sequencer, so the engine applies one account's requests in
//!    id order and answers each with exactly one `BalanceChanged` or `Rejected`;
//! 2. a request is marked `submitted` before the sink sees it, so a request the engine may have
//!    seen is never `queued`;
//! 3. the answer is checked against the request (kind, and the amount for a success); an answer
//!    that does not fit is recorded in the ledger as a movement not made through this service
//!    (an admin's deposit, say) and consumes no request.
//!
//! # Crashes and resubmission (the idempotency argument)
//!
//! The service remembers, in memory, which requests *this process* handed to the sink. A
//! `submitted` request it did not hand over was submitted by a previous incarnation and is *in
//! doubt*: the crash may have come before the sink saw it (it must be sent again) or after (it
//! must not). In-doubt requests are resolved by reading the engine's output, not by guessing:
//! nothing is submitted until the runner has applied every batch the feed holds (the first
//! `on_idle`). By then every command the engine applied before the restart has had its answer
//! applied — the journal replays it from the cursor — so an in-doubt request that is still
//! `submitted` was never applied, and it is submitted again, once, before any newer request of
//! its account (which keeps the per-account order of point 1; accounts with nothing in doubt
//! are not held back). A request the engine did apply is already `completed` or `rejected` and
//! is never sent twice.
//!
//! The argument assumes that what the sink accepted before the crash reaches the engine's
//! journal before the restarted service drains its feed (true for the in-process engine and for
//! a sink that returns once the sequencer has the command). Closing that window for any
//! transport needs the engine to deduplicate: a `client_ref` on `Deposit`/`Withdraw`, echoed in
//! `BalanceChanged`, would let the request id travel with the command.

use rusqlite::{params, Connection, OptionalExtension};

use engine_core::{AccountId, Command};

use crate::ledger::{account_id, cash_code};
use crate::FundsError;

/// Deposit (bank → trading account) or withdrawal (trading account → bank).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Deposit,
    Withdrawal,
}

impl RequestKind {
    pub fn code(self) -> &'static str {
        match self {
            RequestKind::Deposit => "deposit",
            RequestKind::Withdrawal => "withdrawal",
        }
    }

    fn from_code(code: &str) -> Option<RequestKind> {
        match code {
            "deposit" => Some(RequestKind::Deposit),
            "withdrawal" => Some(RequestKind::Withdrawal),
            _ => None,
        }
    }

    pub(crate) fn command(self, account: AccountId, amount: i64) -> Command {
        match self {
            RequestKind::Deposit => Command::Deposit { account, amount },
            RequestKind::Withdrawal => Command::Withdraw { account, amount },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    /// Recorded, not yet handed to the engine.
    Queued,
    /// Handed (or about to be handed) to the engine; waiting for its answer.
    Submitted,
    /// The engine applied it; `entry_id` is the ledger entry.
    Completed,
    /// The engine refused it; `reject_reason` says why.
    Rejected,
}

impl RequestStatus {
    fn from_code(code: &str) -> Option<RequestStatus> {
        match code {
            "queued" => Some(RequestStatus::Queued),
            "submitted" => Some(RequestStatus::Submitted),
            "completed" => Some(RequestStatus::Completed),
            "rejected" => Some(RequestStatus::Rejected),
            _ => None,
        }
    }
}

/// A deposit or withdrawal request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundsRequest {
    pub id: i64,
    pub account: AccountId,
    pub kind: RequestKind,
    pub amount: i64,
    /// The caller's idempotency key, unique per account.
    pub reference: String,
    pub status: RequestStatus,
    /// Times the command was handed to the sink (more than 1 only after a crash or back-pressure).
    pub attempts: u32,
    pub entry_id: Option<i64>,
    pub reject_reason: Option<String>,
    /// Engine seq of the answer.
    pub resolved_seq: Option<u64>,
}

/// Records a deposit request (paise) for `account`. Idempotent on `(account, reference)`: the
/// same call again returns the same request id; the same reference with a different kind or
/// amount is an error. The command is submitted by the running service.
pub fn request_deposit(conn: &Connection, account: AccountId, amount: i64, reference: &str) -> Result<i64, FundsError> {
    request(conn, RequestKind::Deposit, account, amount, reference)
}

/// Records a withdrawal request (paise); see [`request_deposit`]. The engine decides whether the
/// funds are available when it applies the command.
pub fn request_withdrawal(
    conn: &Connection,
    account: AccountId,
    amount: i64,
    reference: &str,
) -> Result<i64, FundsError> {
    request(conn, RequestKind::Withdrawal, account, amount, reference)
}

fn request(
    conn: &Connection,
    kind: RequestKind,
    account: AccountId,
    amount: i64,
    reference: &str,
) -> Result<i64, FundsError> {
    if amount <= 0 {
        return Err(FundsError::InvalidAmount(amount));
    }
    if reference.is_empty() || reference.len() > 64 {
        return Err(FundsError::InvalidReference);
    }
    if account_id(conn, &cash_code(account))?.is_none() {
        return Err(FundsError::UnknownAccount(account));
    }
    let existing: Option<(i64, String, i64)> = conn
        .query_row(
            "SELECT id, kind, amount FROM funds_requests WHERE account = ?1 AND reference = ?2",
            params![account, reference],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((id, k, a)) = existing {
        return if k == kind.code() && a == amount { Ok(id) } else { Err(FundsError::ReferenceReused) };
    }
    conn.execute(
        "INSERT INTO funds_requests (account, kind, amount, reference) VALUES (?1, ?2, ?3, ?4)",
        params![account, kind.code(), amount, reference],
    )?;
    Ok(conn.last_insert_rowid())
}

const COLUMNS: &str = "id, account, kind, amount, reference, status, attempts, entry_id, reject_reason, resolved_seq";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FundsRequest> {
    let bad = |i: usize, v: String| rusqlite::Error::InvalidColumnType(i, v, rusqlite::types::Type::Text);
    let kind: String = r.get(2)?;
    let status: String = r.get(5)?;
    Ok(FundsRequest {
        id: r.get(0)?,
        account: r.get(1)?,
        kind: RequestKind::from_code(&kind).ok_or_else(|| bad(2, kind.clone()))?,
        amount: r.get(3)?,
        reference: r.get(4)?,
        status: RequestStatus::from_code(&status).ok_or_else(|| bad(5, status.clone()))?,
        attempts: r.get(6)?,
        entry_id: r.get(7)?,
        reject_reason: r.get(8)?,
        resolved_seq: r.get::<_, Option<i64>>(9)?.map(|s| s as u64),
    })
}

/// One request by id.
pub fn get_request(conn: &Connection, id: i64) -> Result<Option<FundsRequest>, FundsError> {
    Ok(conn.query_row(&format!("SELECT {COLUMNS} FROM funds_requests WHERE id = ?1"), params![id], row).optional()?)
}

/// An account's requests, oldest first.
pub fn requests(conn: &Connection, account: AccountId) -> Result<Vec<FundsRequest>, FundsError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM funds_requests WHERE account = ?1 ORDER BY id"))?;
    let rows = stmt.query_map(params![account], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Requests waiting to be sent or waiting for an answer, oldest first.
pub(crate) fn open_requests(conn: &Connection) -> Result<Vec<FundsRequest>, FundsError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM funds_requests WHERE status IN ('queued', 'submitted') ORDER BY id"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The oldest request of `account` awaiting the engine's answer.
pub(crate) fn oldest_submitted(conn: &Connection, account: AccountId) -> Result<Option<FundsRequest>, FundsError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM funds_requests WHERE status = 'submitted' AND account = ?1 ORDER BY id LIMIT 1"
        ))?
        .query_row(params![account], row)
        .optional()?)
}

/// Marks a request submitted (committed before the sink sees it).
pub(crate) fn mark_submitted(conn: &Connection, id: i64) -> Result<(), FundsError> {
    conn.prepare_cached(
        "UPDATE funds_requests SET status = 'submitted', attempts = attempts + 1
          WHERE id = ?1 AND status IN ('queued', 'submitted')",
    )?
    .execute(params![id])?;
    Ok(())
}

/// Puts a request the sink refused back in the queue.
pub(crate) fn unmark_submitted(conn: &Connection, id: i64) -> Result<(), FundsError> {
    conn.prepare_cached(
        "UPDATE funds_requests SET status = 'queued', attempts = attempts - 1 WHERE id = ?1 AND status = 'submitted'",
    )?
    .execute(params![id])?;
    Ok(())
}

pub(crate) fn complete(conn: &Connection, id: i64, entry_id: i64, seq: u64) -> Result<(), FundsError> {
    let n = conn
        .prepare_cached(
            "UPDATE funds_requests SET status = 'completed', entry_id = ?2, resolved_seq = ?3
              WHERE id = ?1 AND status = 'submitted'",
        )?
        .execute(params![id, entry_id, seq as i64])?;
    if n != 1 {
        return Err(FundsError::Invariant(format!("request {id} was not awaiting an answer")));
    }
    Ok(())
}

pub(crate) fn reject(conn: &Connection, id: i64, reason: &str, seq: u64) -> Result<(), FundsError> {
    let n = conn
        .prepare_cached(
            "UPDATE funds_requests SET status = 'rejected', reject_reason = ?2, resolved_seq = ?3
              WHERE id = ?1 AND status = 'submitted'",
        )?
        .execute(params![id, reason, seq as i64])?;
    if n != 1 {
        return Err(FundsError::Invariant(format!("request {id} was not awaiting an answer")));
    }
    Ok(())
}
