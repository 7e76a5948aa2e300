//! Deposit and withdrawal requests: recorded first, submitted to the engine after, resolved by the
//! engine's answer, which carries the request's id.
//!
//! # Life of a request
//!
//! `queued` (recorded by [`request_deposit`] / [`request_withdrawal`], committed) →
//! `submitted` (committed *before* the command is handed to the sink) → `completed` (its
//! `BalanceChanged{Deposit|Withdrawal}` arrived; linked to the ledger entry) or `rejected` (its
//! `Rejected{kind: Deposit|Withdraw}` arrived). Each step after `submitted` is written in the same
//! transaction as the ledger entry and the service's cursor, so it happens exactly once.
//!
//! # Correlation: the request id is the command's `client_ref`
//!
//! A request's id (`AUTOINCREMENT`: increasing, never reused) travels as the `client_ref` of its
//! `Command::Deposit` / `Withdraw`, and the engine echoes it in the `BalanceChanged` that applies
//! it or in the `Rejected` that refuses it. An answer is matched to the request with that id, and
//! checked against it (account, kind, and the amount for a success); an answer with
//! `client_ref` 0, or one that fits no request, is journalled as a movement not made through
//! this service (an operator's deposit, say) and resolves nothing. Other producers of funds
//! commands for the same accounts must send `client_ref` 0: the engine deduplicates per account,
//! and a larger `client_ref` of theirs would make it refuse this service's requests.
//!
//! # Crashes and resubmission (the idempotency argument)
//!
//! The engine keeps, per account, the last funds `client_ref` it applied and refuses a
//! deposit or withdrawal whose non-zero `client_ref` is at or below it (`DuplicateRequest`),
//! changing nothing. So sending a request twice can never apply it twice, and the service may
//! resend whatever it is not sure about:
//!
//! 1. A request is marked `submitted` (committed) before the sink sees it, so a request the
//!    engine may have seen is never lost from view: it stays `queued` or `submitted` until its
//!    answer is applied.
//! 2. The service remembers, in memory, which requests *this process* handed to the sink. A
//!    `submitted` request it did not hand over was submitted by a previous incarnation and is
//!    *in doubt*. Once the runner has applied every batch the feed holds (the first `on_idle`),
//!    every in-doubt request still unresolved is submitted again, in id order, before any newer
//!    request of its account. If the first copy never reached the engine, the new one is
//!    applied. If the first copy was still in flight, whichever copy comes first is applied and
//!    the other is refused as `DuplicateRequest`.
//! 3. A `DuplicateRequest` for a request whose `BalanceChanged` this service has already applied
//!    (it is `completed`) means "already applied" and changes nothing. The engine applies a
//!    `client_ref` at most once, and events are applied in seq order, so when the refusal
//!    arrives, the `BalanceChanged` of the copy that was applied has always arrived before it.
//! 4. A `DuplicateRequest` for a request that is *not* `completed` therefore means that the
//!    engine never applied it and never will: a later `client_ref` of the account was applied
//!    first. Requests are sent strictly in id order on one ordered channel, each incarnation
//!    resending every unresolved request before newer ones, so this cannot happen through this
//!    service alone; it would take another producer sending larger `client_ref`s. The request is
//!    marked `rejected` (reason `DuplicateRequest`): no money moved, and the client may ask again.
//! 5. A refusal for any other reason resolves the request as `rejected`. The engine does not
//!    advance its last `client_ref` on a refusal, so if a resubmitted copy of the same request
//!    was in flight and the funds are there by the time it arrives, it is applied after all: its
//!    `BalanceChanged` turns the request into `completed` (the ledger follows the engine). This
//!    needs a crash with the request in flight and a change of the account in between.
//!
//! Hence every request is applied by the engine at most once, its ledger entry is posted exactly
//! once (with the `BalanceChanged` that the engine emits exactly once), and no request stays
//! unanswered: each one is resent until an answer for it has been applied.

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

    pub(crate) fn command(self, client_ref: u64, account: AccountId, amount: i64) -> Command {
        match self {
            RequestKind::Deposit => Command::Deposit { client_ref, account, amount },
            RequestKind::Withdrawal => Command::Withdraw { client_ref, account, amount },
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
    /// The engine refused it; `reject_reason` says why. (Final, except in the one case of point 5
    /// of the module docs, where a resubmitted copy is applied after the first was refused.)
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
    /// Also the `client_ref` of its command.
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

impl FundsRequest {
    /// The `client_ref` of the request's command: its id.
    pub fn client_ref(&self) -> u64 {
        self.id as u64
    }

    /// The command that carries out the request.
    pub fn command(&self) -> Command {
        self.kind.command(self.client_ref(), self.account, self.amount)
    }
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

/// The request whose command carried `client_ref` (0, or beyond the id range, is none).
pub(crate) fn by_client_ref(conn: &Connection, client_ref: u64) -> Result<Option<FundsRequest>, FundsError> {
    match i64::try_from(client_ref) {
        Ok(id) if id > 0 => Ok(conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM funds_requests WHERE id = ?1"))?
            .query_row(params![id], row)
            .optional()?),
        _ => Ok(None),
    }
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

/// The engine applied the request: `completed`, linked to its ledger entry. A request is
/// completed at most once (the engine applies a `client_ref` at most once); a `rejected` one can
/// still be completed by a resubmitted copy (module docs, point 5), and a `queued` one by a
/// command the sink reported as failed but delivered.
pub(crate) fn complete(conn: &Connection, id: i64, entry_id: i64, seq: u64) -> Result<(), FundsError> {
    let n = conn
        .prepare_cached(
            "UPDATE funds_requests
                SET status = 'completed', entry_id = ?2, resolved_seq = ?3, reject_reason = NULL
              WHERE id = ?1 AND status IN ('queued', 'submitted', 'rejected')",
        )?
        .execute(params![id, entry_id, seq as i64])?;
    if n != 1 {
        return Err(FundsError::Invariant(format!("request {id} applied twice")));
    }
    Ok(())
}

/// The engine refused the request: `rejected`, unless it was already answered (then `false`).
pub(crate) fn reject(conn: &Connection, id: i64, reason: &str, seq: u64) -> Result<bool, FundsError> {
    let n = conn
        .prepare_cached(
            "UPDATE funds_requests SET status = 'rejected', reject_reason = ?2, resolved_seq = ?3
              WHERE id = ?1 AND status IN ('queued', 'submitted')",
        )?
        .execute(params![id, reason, seq as i64])?;
    Ok(n == 1)
}
