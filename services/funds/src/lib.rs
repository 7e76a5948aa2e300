//! Funds: the broker's double-entry ledger of client money, and deposits and withdrawals.
//!
//! The service follows the engine's events through [`services_core::ServiceRunner`] and turns
//! every movement of cash into a balanced journal entry in its own SQLite database
//! (see [`schema`] for how the database itself refuses an unbalanced entry):
//!
//! | engine event | entry | debit | credit |
//! |---|---|---|---|
//! | `BalanceChanged{Deposit}` | deposit | bank | client cash |
//! | `BalanceChanged{Withdrawal}` | withdrawal | client cash | bank |
//! | `Trade` (each fill), buy side | trade | buyer: cash (CNC) or MIS clearing; brokerage: buyer cash | exchange; the fee account's cash |
//! | `Trade` (each fill), sell side | trade | exchange; brokerage: seller cash | seller: cash (CNC) or MIS clearing; the fee account's cash |
//! | `BalanceChanged{MisSettlement}` | mis_settlement | MIS clearing (profit) or cash (loss) | the other |
//! | `BalanceChanged{MisConversion}` | mis_conversion | as for settlement | |
//! | `AccountRisk` | a block entry (`journal_blocks`) | client cash (more blocked) or reserved / margin (less) | the other |
//!
//! # Ledger accounts
//!
//! - `bank`: the broker's client-money bank account (debit-normal): its balance is deposits
//!   minus withdrawals.
//! - `exchange`: what the broker owes the exchange or is owed by it for fills (debit-normal):
//!   each fill's buyer side pays the traded value in and its seller side takes it out, so it is
//!   empty after every batch, which the service checks.
//! - `cash:<account>`: a client's *free* cash at the broker (credit-normal): what is neither
//!   reserved nor margin. The engine's fee account is an ordinary engine account, so brokerage
//!   lands in its `cash:` account.
//! - `reserved:<account>`: the client's cash blocked by open orders (credit-normal).
//! - `margin:<account>`: the client's cash blocked as margin by open intraday positions
//!   (credit-normal).
//! - `mis:<account>:<token>`: the clearing account of one intraday (MIS) position.
//!
//! # The engine's cash and the ledger
//!
//! After every engine command (so after every batch), for every account:
//!
//! ```text
//! engine AccountView::cash      = cash:<a> + reserved:<a> + margin:<a>
//! engine AccountView::available = cash:<a>
//! engine AccountView::reserved  = reserved:<a>
//! engine AccountView::margin    = margin:<a>
//! ```
//!
//! Money movements (deposits, trades, fees, settlements) post to `cash:<a>`, as the engine's
//! `cash` moves. Blocking is not a movement of money but a change of what is free: the engine ends
//! every command that changed an account's `reserved` or `margin` with an `AccountRisk` carrying
//! the new values, and the service posts one block entry that moves the difference between the
//! client's `cash:` account and its `reserved:` and `margin:` accounts (cash debited and
//! `reserved:` credited when an order blocks more, the reverse when a fill or a cancel releases
//! it; likewise for margin). So the client's three accounts together always hold the engine's
//! `cash`, the bank equals `Σ (cash + reserved + margin) + Σ mis clearing`, and each block entry
//! balances by construction (see [`schema`]). Inside a batch the two can differ (a fill is posted
//! before the reservation it releases); the engine's `AccountRisk` comes last in the command's
//! events, so they agree at the end of every batch, which is where they are checked.
//!
//! # Why intraday trades go through a clearing account
//!
//! An intraday fill moves no client cash: the engine books it into the position's `mis_value`
//! (sells add `q*p`, buys subtract) and only when the position goes flat (or square-off converts
//! it to delivery) does `mis_value` — the realised P&L — move into cash. The money on the other
//! side of an intraday fill belongs to the market: a delivery counterparty's cash, or another
//! intraday position. So each intraday position gets a clearing account standing between the
//! client and the market: a fill credits or debits it against the counterparty (keeping the
//! trade entry balanced), and the settlement entry empties it into (or out of) the client's
//! cash. Its balance is exactly the engine's `mis_value`, so it reconciles too, and the books
//! satisfy the engine's conservation law: `bank = Σ client cash + Σ mis clearing`.
//!
//! # Statements
//!
//! [`statement`] is the client's cash statement: deposits, withdrawals, trades, fees and intraday
//! settlements, with a running balance equal to the engine's `cash` (free and blocked together).
//! It leaves out the block entries: they move money between the client's own accounts, not in
//! or out, and there is one for nearly every order event (placing, filling, modifying or
//! cancelling an order), which would bury the movements of money. [`blocked_statement`] lists them:
//! every reserve and release, with the running reserved and margin balances. A client's fill
//! appears once, as its side of the trade with its brokerage; the fee account's statement shows
//! the brokerage of every fill.
//!
//! # Checks while applying
//!
//! `BalanceChanged` carries the account's new cash and `AccountRisk` its new blocked cash; after
//! each batch, for every account they touched, `cash: + reserved: + margin:` must equal the last
//! reported cash and `reserved:` and `margin:` the last reported blocked cash. An intraday
//! position that closes (settlement or conversion) must close for exactly its clearing balance.
//! A mismatch stops the service ([`ServiceError::Invariant`]) rather than keep wrong books.
//! [`reconcile`] compares the whole ledger with an engine's views.
//!
//! Deposit and withdrawal requests are in [`requests`] (with the crash and idempotency argument).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rusqlite::{params, Connection, OptionalExtension};

use engine_core::{
    AccountId, BalanceReason, CommandKind, Engine, Event, HoldingsReason, Product, RejectReason, Token, Trade,
};
use services_core::{CommandSink, EventBatch, Service, ServiceError};

pub mod ledger;
pub mod requests;
mod rows;
pub mod schema;

pub use ledger::{
    audit, balance, balances, blocked_statement, cash_balances, statement, Audit, Balances, BlockedLine,
    BlockedStatement, Statement, StatementLine,
};
pub use requests::{
    get_request, request_deposit, request_withdrawal, requests, FundsRequest, RequestKind, RequestStatus,
};

use ledger::{BlockEntry, Books, EntryHeader, EntryKind, LedgerAccount, Side, BANK};

#[derive(Debug, thiserror::Error)]
pub enum FundsError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the connection does not enforce foreign keys (PRAGMA foreign_keys = ON is required)")]
    ForeignKeysOff,
    #[error("amount must be positive paise, got {0}")]
    InvalidAmount(i64),
    #[error("a reference is 1 to 64 bytes")]
    InvalidReference,
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    #[error("this reference was already used for a different request")]
    ReferenceReused,
    #[error(
        "the funds database predates the reserved and margin ledger accounts (and the engine's current \
         funds events); start the funds service from a fresh database"
    )]
    OldSchema,
    #[error("{0}")]
    Invariant(String),
}

impl From<FundsError> for ServiceError {
    fn from(e: FundsError) -> ServiceError {
        match e {
            FundsError::Db(e) => ServiceError::Db(e),
            other => ServiceError::Invariant(other.to_string()),
        }
    }
}

/// The funds service: a [`Service`] for [`services_core::ServiceRunner`].
pub struct FundsService {
    sink: Option<Box<dyn CommandSink>>,
    /// Set at the first `on_idle`: the feed is drained, so every answer the engine gave to a
    /// previous incarnation's commands has been applied.
    caught_up: bool,
    /// Requests this process handed to the sink.
    sent: HashSet<i64>,
    /// Ledger account ids and balances (see [`Books`]).
    books: Books,
    /// The fee schedule's fee account, once read outside a transaction that changed it.
    fee_account: Option<AccountId>,
    /// The open transaction set a fee schedule: do not remember the fee account until it commits.
    fee_schedule_pending: bool,
}

impl std::fmt::Debug for FundsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FundsService")
            .field("sink", &self.sink.as_ref().map(|_| "CommandSink"))
            .field("caught_up", &self.caught_up)
            .field("sent", &self.sent.len())
            .finish()
    }
}

impl FundsService {
    /// A service that submits deposit and withdrawal requests through `sink`.
    pub fn new(sink: Box<dyn CommandSink>) -> FundsService {
        FundsService { sink: Some(sink), ..FundsService::ledger_only() }
    }

    /// A service that only keeps the ledger (requests stay queued).
    pub fn ledger_only() -> FundsService {
        FundsService {
            sink: None,
            caught_up: false,
            sent: HashSet::new(),
            books: Books::default(),
            fee_account: None,
            fee_schedule_pending: false,
        }
    }

    /// Submits what can be submitted, strictly in id order, each request marked `submitted`
    /// (committed) before the sink sees it, with its id as the command's `client_ref`. Requests
    /// left in doubt by a previous incarnation (and newer requests of the same accounts, to keep
    /// each account's order) wait until the feed has been drained once, and are then sent again
    /// (the engine refuses a copy it has already applied); other accounts' requests go at once.
    /// Returns how many were handed to the sink. Stops at the first sink error (that request goes
    /// back to the queue, and nothing after it overtakes it).
    pub fn submit_pending(&mut self, conn: &Connection) -> Result<usize, FundsError> {
        let Some(sink) = self.sink.as_mut() else { return Ok(0) };
        let mut waiting: BTreeSet<AccountId> = BTreeSet::new();
        let mut sent = 0;
        for r in requests::open_requests(conn)? {
            let in_doubt = r.status == RequestStatus::Submitted && !self.sent.contains(&r.id);
            if r.status == RequestStatus::Submitted && !in_doubt {
                continue; // in flight from this process: waiting for the engine's answer
            }
            if !self.caught_up && (in_doubt || waiting.contains(&r.account)) {
                waiting.insert(r.account);
                continue;
            }
            requests::mark_submitted(conn, r.id)?;
            match sink.submit(&r.command()) {
                Ok(()) => {
                    self.sent.insert(r.id);
                    sent += 1;
                    tracing::info!(request = r.id, account = r.account, kind = r.kind.code(), in_doubt, "submitted");
                }
                Err(e) => {
                    if r.status == RequestStatus::Queued {
                        requests::unmark_submitted(conn, r.id)?;
                    }
                    tracing::warn!(request = r.id, error = %e, "submission failed; will retry");
                    break;
                }
            }
        }
        Ok(sent)
    }

    fn apply_batch(&mut self, tx: &Connection, batch: &EventBatch) -> Result<(), FundsError> {
        let mut ctx = BatchCtx { seq: batch.seq, ts_ns: batch.ts_ns, ordinal: 0, ..BatchCtx::default() };
        for event in &batch.events {
            // A conversion with a non-zero clearing balance is followed by its cash event.
            if let Some((account, token, open)) = ctx.conversion.take() {
                match *event {
                    Event::BalanceChanged { account: a, reason: BalanceReason::MisConversion, .. } if a == account => {
                        ctx.conversion = Some((account, token, open));
                    }
                    _ if open != 0 => {
                        return Err(invariant(batch.seq, &format!("account {account}: MIS conversion without cash")));
                    }
                    _ => {}
                }
            }
            match *event {
                Event::AccountCreated { account, .. } => {
                    self.books.id(tx, LedgerAccount::Cash(account))?;
                }
                Event::FeeScheduleSet(fees) => {
                    self.fee_account = None;
                    self.fee_schedule_pending = true;
                    tx.prepare_cached(
                        "INSERT INTO funds_state (key, value) VALUES ('fee_account', ?1)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![fees.fee_account])?;
                }
                Event::Trade(t) => {
                    let fee_account = self.fee_account(tx)?;
                    post_trade(tx, &mut self.books, &mut ctx, &t, fee_account)?;
                    ctx.last_trade = Some(t);
                }
                Event::BalanceChanged { account, delta, cash, reason, client_ref } => {
                    ctx.reported_cash.insert(account, cash);
                    match reason {
                        BalanceReason::Deposit | BalanceReason::Withdrawal => post_deposit_or_withdrawal(
                            tx,
                            &mut self.books,
                            &mut ctx,
                            account,
                            delta,
                            reason,
                            client_ref,
                        )?,
                        // Posted with the trade; checked against `cash` at the end of the batch.
                        BalanceReason::TradeSettlement | BalanceReason::Fee => {}
                        BalanceReason::MisSettlement => {
                            let token = match ctx.last_trade {
                                Some(t) if t.buy_account == account || t.sell_account == account => t.token,
                                _ => return Err(invariant(batch.seq, "an MIS settlement without its trade")),
                            };
                            post_mis_close(
                                tx,
                                &mut self.books,
                                &mut ctx,
                                EntryKind::MisSettlement,
                                account,
                                token,
                                delta,
                            )?;
                        }
                        BalanceReason::MisConversion => {
                            let token = match ctx.conversion.take() {
                                Some((a, token, _)) if a == account => token,
                                _ => return Err(invariant(batch.seq, "an MIS conversion without its holdings")),
                            };
                            post_mis_close(
                                tx,
                                &mut self.books,
                                &mut ctx,
                                EntryKind::MisConversion,
                                account,
                                token,
                                delta,
                            )?;
                        }
                    }
                }
                Event::HoldingsChanged { account, token, reason: HoldingsReason::MisConversion, .. } => {
                    let clearing = self.books.id(tx, LedgerAccount::Mis(account, token))?;
                    let open = self.books.balance(tx, clearing)?;
                    ctx.conversion = Some((account, token, open));
                }
                Event::AccountRisk { account, reserved, margin } => {
                    ctx.reported_risk.insert(account, (reserved, margin));
                    post_block(tx, &mut self.books, &mut ctx, account, reserved, margin)?;
                }
                Event::Rejected {
                    kind: kind @ (CommandKind::Deposit | CommandKind::Withdraw),
                    reason,
                    account,
                    client_ref,
                    ..
                } => on_funds_rejected(tx, batch.seq, kind, reason, account, client_ref)?,
                _ => {}
            }
        }
        // The engine reports each touched account's new cash and blocked cash: the ledger must
        // agree (module docs, "The engine's cash and the ledger").
        for (&account, &cash) in &ctx.reported_cash {
            let (available, reserved, margin) = self.client_balances(tx, account)?;
            if available + reserved + margin != cash {
                return Err(invariant(
                    batch.seq,
                    &format!(
                        "account {account}: ledger cash {available} + reserved {reserved} + margin {margin} = {}, \
                         engine cash {cash}",
                        available + reserved + margin
                    ),
                ));
            }
        }
        for (&account, &engine) in &ctx.reported_risk {
            let (_, reserved, margin) = self.client_balances(tx, account)?;
            if (reserved, margin) != engine {
                return Err(invariant(
                    batch.seq,
                    &format!(
                        "account {account}: ledger reserved {reserved} and margin {margin}, engine {} and {}",
                        engine.0, engine.1
                    ),
                ));
            }
        }
        if let Some((account, _, open)) = ctx.conversion {
            if open != 0 {
                return Err(invariant(batch.seq, &format!("account {account}: MIS conversion without cash")));
            }
        }
        let exchange = self.books.id(tx, LedgerAccount::Exchange)?;
        let in_transit = self.books.balance(tx, exchange)?;
        if in_transit != 0 {
            return Err(invariant(batch.seq, &format!("{in_transit} paise left in the exchange account")));
        }
        Ok(())
    }
}

impl FundsService {
    /// A client's (free cash, reserved, margin) in the ledger.
    fn client_balances(&mut self, tx: &Connection, account: AccountId) -> Result<(i64, i64, i64), FundsError> {
        let cash = self.books.id(tx, LedgerAccount::Cash(account))?;
        let reserved = self.books.id(tx, LedgerAccount::Reserved(account))?;
        let margin = self.books.id(tx, LedgerAccount::Margin(account))?;
        Ok((self.books.balance(tx, cash)?, self.books.balance(tx, reserved)?, self.books.balance(tx, margin)?))
    }

    /// The account fees are paid to (the engine's default schedule names account 0).
    fn fee_account(&mut self, tx: &Connection) -> Result<AccountId, FundsError> {
        if let Some(account) = self.fee_account {
            return Ok(account);
        }
        let account = fee_account(tx)?;
        if !self.fee_schedule_pending {
            self.fee_account = Some(account);
        }
        Ok(account)
    }
}

/// What one batch needs to remember between its events.
#[derive(Debug, Default)]
struct BatchCtx {
    seq: u64,
    ts_ns: u64,
    /// Next entry ordinal within the batch: `(seq, ordinal)` identifies an entry forever.
    ordinal: u32,
    /// The fill whose settlement events follow.
    last_trade: Option<Trade>,
    /// The (account, token, clearing balance) of the MIS conversion whose cash event follows.
    conversion: Option<(AccountId, Token, i64)>,
    /// Last cash the engine reported per account in this batch.
    reported_cash: BTreeMap<AccountId, i64>,
    /// Last (reserved, margin) the engine reported per account in this batch.
    reported_risk: BTreeMap<AccountId, (i64, i64)>,
}

impl BatchCtx {
    fn next_ordinal(&mut self) -> u32 {
        self.ordinal += 1;
        self.ordinal - 1
    }

    fn header<'a>(&mut self, kind: EntryKind, engine_account: AccountId, memo: &'a str) -> EntryHeader<'a> {
        EntryHeader {
            seq: self.seq,
            ordinal: self.next_ordinal(),
            ts_ns: self.ts_ns,
            kind,
            engine_account,
            fee_account: None,
            token: None,
            trade_id: None,
            request_id: None,
            memo,
        }
    }
}

fn invariant(seq: u64, what: &str) -> FundsError {
    FundsError::Invariant(format!("seq {seq}: {what}"))
}

fn fee_account(conn: &Connection) -> Result<AccountId, FundsError> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT value FROM funds_state WHERE key = 'fee_account'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    // The engine's default fee schedule names account 0 (and charges nothing).
    Ok(v.unwrap_or(0) as AccountId)
}

/// One fill, as one entry per side: the buyer pays the traded value into the exchange account
/// and the seller is paid it out of there, each from or to client cash (CNC) or the position's
/// clearing account (MIS); each side's brokerage goes from its cash to the fee account's cash in
/// the same entry.
fn post_trade(
    tx: &Connection,
    books: &mut Books,
    ctx: &mut BatchCtx,
    t: &Trade,
    fee_account: AccountId,
) -> Result<(), FundsError> {
    let value = t
        .qty
        .checked_mul(t.price)
        .ok_or_else(|| invariant(ctx.seq, &format!("trade {} value overflows", t.trade_id)))?;
    if t.buy_fee < 0 || t.sell_fee < 0 {
        return Err(invariant(ctx.seq, &format!("trade {} has a negative fee", t.trade_id)));
    }
    let exchange = books.id(tx, LedgerAccount::Exchange)?;
    let fees = books.id(tx, LedgerAccount::Cash(fee_account))?;
    let memo = format!("trade {}: {} x {} @ {}", t.trade_id, t.qty, t.token, t.price);
    for (account, product, side, fee) in [
        (t.buy_account, t.buy_product, Side::Debit, t.buy_fee),
        (t.sell_account, t.sell_product, Side::Credit, t.sell_fee),
    ] {
        let position = match product {
            Product::Cnc => books.id(tx, LedgerAccount::Cash(account))?,
            Product::Mis => books.id(tx, LedgerAccount::Mis(account, t.token))?,
        };
        let cash = books.id(tx, LedgerAccount::Cash(account))?;
        let mut h = ctx.header(EntryKind::Trade, account, &memo);
        h.fee_account = (fee != 0).then_some(fee_account);
        h.token = Some(t.token);
        h.trade_id = Some(t.trade_id);
        let to_exchange = if side == Side::Debit { Side::Credit } else { Side::Debit };
        books.post(
            tx,
            &h,
            &[
                (position, side, value),
                (exchange, to_exchange, value),
                (cash, Side::Debit, fee),
                (fees, Side::Credit, fee),
            ],
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn post_deposit_or_withdrawal(
    tx: &Connection,
    books: &mut Books,
    ctx: &mut BatchCtx,
    account: AccountId,
    delta: i64,
    reason: BalanceReason,
    client_ref: u64,
) -> Result<(), FundsError> {
    let (kind, request_kind, amount) = match reason {
        BalanceReason::Deposit if delta > 0 => (EntryKind::Deposit, RequestKind::Deposit, delta),
        BalanceReason::Withdrawal if delta < 0 => (EntryKind::Withdrawal, RequestKind::Withdrawal, -delta),
        _ => return Err(invariant(ctx.seq, &format!("{reason:?} of {delta} for account {account}"))),
    };
    let request = match requests::by_client_ref(tx, client_ref)? {
        Some(r) if r.account == account && r.kind == request_kind && r.amount == amount => {
            if r.status == RequestStatus::Completed {
                return Err(invariant(ctx.seq, &format!("request {} applied twice (client_ref {client_ref})", r.id)));
            }
            Some(r)
        }
        Some(r) => {
            tracing::warn!(
                account,
                request = r.id,
                ?reason,
                amount,
                "client_ref of a request of ours on another movement"
            );
            None
        }
        None => None,
    };
    let cash = books.id(tx, LedgerAccount::Cash(account))?;
    let bank = books.id(tx, LedgerAccount::Bank)?;
    let memo = match &request {
        Some(r) => format!("{} {}", request_kind.code(), r.reference),
        None => request_kind.code().to_string(),
    };
    let mut h = ctx.header(kind, account, &memo);
    h.request_id = request.as_ref().map(|r| r.id);
    let lines = match kind {
        EntryKind::Deposit => [(bank, Side::Debit, amount), (cash, Side::Credit, amount)],
        _ => [(cash, Side::Debit, amount), (bank, Side::Credit, amount)],
    };
    let entry = books.post(tx, &h, &lines)?.ok_or_else(|| invariant(ctx.seq, "a movement of nothing"))?;
    if let Some(r) = request {
        if r.status == RequestStatus::Rejected {
            tracing::warn!(request = r.id, "a resubmitted copy was applied after the first was refused");
        }
        // The request names its entry: the entry must be written first.
        books.write_rows(tx)?;
        requests::complete(tx, r.id, entry, ctx.seq)?;
    }
    Ok(())
}

/// A deposit or withdrawal refused: resolves the request it names (requests module docs, points
/// 3 to 5).
fn on_funds_rejected(
    tx: &Connection,
    seq: u64,
    kind: CommandKind,
    reason: RejectReason,
    account: AccountId,
    client_ref: u64,
) -> Result<(), FundsError> {
    let expected = if kind == CommandKind::Deposit { RequestKind::Deposit } else { RequestKind::Withdrawal };
    let request = match requests::by_client_ref(tx, client_ref)? {
        Some(r) if r.account == account && r.kind == expected => r,
        _ => {
            tracing::info!(account, ?kind, ?reason, client_ref, seq, "a refusal of no request of ours");
            return Ok(());
        }
    };
    match (reason, request.status) {
        (RejectReason::DuplicateRequest, RequestStatus::Completed) => {
            tracing::info!(request = request.id, seq, "a resubmitted request was already applied");
        }
        (_, RequestStatus::Completed | RequestStatus::Rejected) => {
            tracing::info!(request = request.id, ?reason, seq, "a second answer to an answered request");
        }
        (_, RequestStatus::Queued | RequestStatus::Submitted) => {
            if reason == RejectReason::DuplicateRequest {
                tracing::warn!(
                    request = request.id,
                    account,
                    seq,
                    "refused as a duplicate but never applied: a later client_ref of the account was applied first"
                );
            }
            requests::reject(tx, request.id, &format!("{reason:?}"), seq)?;
        }
    }
    Ok(())
}

/// The engine's blocked cash of `account` after a command: moves the differences from the
/// ledger's `reserved:` and `margin:` balances between them and the client's `cash:` account, in
/// one entry.
fn post_block(
    tx: &Connection,
    books: &mut Books,
    ctx: &mut BatchCtx,
    account: AccountId,
    reserved: i64,
    margin: i64,
) -> Result<(), FundsError> {
    let reserved_id = books.id(tx, LedgerAccount::Reserved(account))?;
    let margin_id = books.id(tx, LedgerAccount::Margin(account))?;
    let (reserved_delta, margin_delta) =
        (reserved - books.balance(tx, reserved_id)?, margin - books.balance(tx, margin_id)?);
    if reserved_delta == 0 && margin_delta == 0 {
        return Ok(());
    }
    let ordinal = ctx.next_ordinal();
    books.block(
        tx,
        &BlockEntry {
            seq: ctx.seq,
            ordinal,
            ts_ns: ctx.ts_ns,
            account,
            reserved: reserved_delta,
            margin: margin_delta,
        },
    )
}

/// An intraday position closed (flat, or converted to delivery): its clearing balance moves to
/// the client's cash.
fn post_mis_close(
    tx: &Connection,
    books: &mut Books,
    ctx: &mut BatchCtx,
    kind: EntryKind,
    account: AccountId,
    token: Token,
    delta: i64,
) -> Result<(), FundsError> {
    let clearing = books.id(tx, LedgerAccount::Mis(account, token))?;
    let open = books.balance(tx, clearing)?;
    if open != delta {
        return Err(invariant(
            ctx.seq,
            &format!("account {account} token {token}: closing an MIS position worth {open} for {delta}"),
        ));
    }
    let cash = books.id(tx, LedgerAccount::Cash(account))?;
    let memo = format!("{} {}", kind.code().replace('_', " "), token);
    let mut h = ctx.header(kind, account, &memo);
    h.token = Some(token);
    let lines = if delta >= 0 {
        [(clearing, Side::Debit, delta), (cash, Side::Credit, delta)]
    } else {
        [(cash, Side::Debit, -delta), (clearing, Side::Credit, -delta)]
    };
    books.post(tx, &h, &lines)?;
    Ok(())
}

impl Service for FundsService {
    fn name(&self) -> &'static str {
        "funds"
    }

    fn migrate(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        schema::migrate(conn).map_err(|e| match e {
            FundsError::Db(e) => e,
            other => rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
                Some(other.to_string()),
            ),
        })
    }

    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        Ok(self.apply_batch(tx, batch)?)
    }

    fn before_commit(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), ServiceError> {
        Ok(self.books.flush(tx)?)
    }

    fn after_commit(&mut self, conn: &Connection) -> Result<(), ServiceError> {
        self.books.committed();
        self.fee_schedule_pending = false;
        self.submit_pending(conn)?;
        Ok(())
    }

    fn rolled_back(&mut self) {
        self.books.rolled_back();
        self.fee_account = None;
        self.fee_schedule_pending = false;
    }

    fn on_idle(&mut self, conn: &Connection) -> Result<(), ServiceError> {
        self.caught_up = true;
        self.submit_pending(conn)?;
        Ok(())
    }
}

/// One difference between the ledger and the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The ledger account (`cash:7`, `reserved:7`, `margin:7`, `mis:7:408065`, `bank`).
    pub code: String,
    pub ledger: i64,
    /// The engine's value: `available` for `cash:`, `reserved`, `margin`, `mis_value`, and for the
    /// bank the sum of every account's cash and every position's `mis_value`.
    pub engine: i64,
}

/// Compares the ledger with the engine's state, both ways: every account's free cash, reserved
/// and margin against its `AccountView` (`available`, `reserved`, `margin`, so the three together
/// against `cash`), every intraday position's clearing balance against its `mis_value`, and the
/// bank against the engine's total. Empty when they agree to the paisa.
pub fn reconcile(conn: &Connection, engine: &Engine) -> Result<Vec<Mismatch>, FundsError> {
    let mut out = Vec::new();
    let mut engine_side: BTreeMap<String, i64> = BTreeMap::new();
    let mut engine_total: i64 = 0;
    for a in engine.accounts() {
        engine_side.insert(ledger::cash_code(a.id), a.available);
        engine_side.insert(ledger::reserved_code(a.id), a.reserved);
        engine_side.insert(ledger::margin_code(a.id), a.margin);
        engine_total += a.cash;
    }
    for p in engine.positions() {
        if p.mis_value != 0 {
            engine_side.insert(ledger::mis_code(p.account, p.token), p.mis_value);
            engine_total += p.mis_value;
        }
    }
    let mut ledger_side: BTreeMap<String, i64> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT code, balance FROM ledger_accounts WHERE kind != 'bank' AND balance != 0")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (code, balance) = row?;
        ledger_side.insert(code, balance);
    }
    let codes: BTreeSet<&String> = engine_side.keys().chain(ledger_side.keys()).collect();
    for code in codes {
        let (l, e) = (ledger_side.get(code).copied().unwrap_or(0), engine_side.get(code).copied().unwrap_or(0));
        if l != e {
            out.push(Mismatch { code: code.clone(), ledger: l, engine: e });
        }
    }
    let bank = balance(conn, BANK)?;
    if bank != engine_total {
        out.push(Mismatch { code: BANK.to_string(), ledger: bank, engine: engine_total });
    }
    Ok(out)
}
