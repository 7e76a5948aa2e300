//! Applying a [`Seed`] to a running exchange: commands go to the engine through a command sink,
//! and every one is confirmed by the events that come back on an event feed (replayed from seq 1
//! first, so what earlier starts did is known).
//!
//! ```text
//! 1. every start   AddInstrument each (present with the same spec: fine), the fee account if
//!                  missing, SetFeeSchedule, OpenSession (already open: fine)
//! 2. every start   Users::seed_user each (existing: unchanged); wait until the engine reports
//!                  each account created, and active when KYC is verified (the users service
//!                  sends CreateAccount and ActivateAccount)
//! 3. first start   Deposit, DepositHoldings, the resting orders; then <data_dir>/seed.done
//! ```
//!
//! One command is in flight at a time, so a rejection that follows it is its answer. Step 3 is
//! also safe to repeat after a crash before the marker: a deposit, holdings credit or order that
//! the event history already shows is not sent again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ::gateway::money::rupees_string;
use anyhow::{bail, ensure, Context};
use engine_core::{
    AccountId, AccountLimits, AccountStatus, BalanceReason, Command, CommandKind, Event, FeeSchedule, HoldingsReason,
    InstrumentSpec, NewOrder, OrderType, Product, Qty, RejectReason, Token, Validity,
};
use services_core::{CommandSink, EventBatch, EventFeed};
use services_users::{SeedOutcome, Users};

use super::{Holding, Instrument, Order, Seed, User, ORDER_REF_BASE};

/// The file whose presence means "cash, holdings and orders were seeded".
pub const MARKER: &str = "seed.done";

/// What [`apply`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub instruments_added: usize,
    pub users_created: usize,
    pub users_existing: usize,
    /// The engine account of each seed user, in seed order.
    pub accounts: Vec<(String, AccountId)>,
    /// False when the marker was there: no cash, holdings or orders were sent this time.
    pub first_run: bool,
    pub deposits: usize,
    pub holdings: usize,
    pub orders: usize,
}

/// Applies `seed` (see the module documentation). `timeout` bounds each wait: for the event
/// history, and for each confirmation. Errors name what did not happen.
pub fn apply(
    seed: &Seed,
    data_dir: &Path,
    users: &mut Users,
    sink: &mut dyn CommandSink,
    feed: &mut dyn EventFeed,
    timeout: Duration,
) -> anyhow::Result<SeedReport> {
    let first_user_account = users.config().first_account_id;
    ensure!(
        seed.fees.fee_account < first_user_account,
        "[fees] fee_account {} would be a user's account (the users service owns ids from {first_user_account} up)",
        seed.fees.fee_account
    );
    let mut link = Link { sink, feed, timeout, world: World::new(seed), incoming: Vec::new() };
    link.catch_up()?;
    let mut report = SeedReport::default();

    // 1. The market.
    for instrument in &seed.instruments {
        report.instruments_added += usize::from(link.add_instrument(instrument)?);
    }
    link.fee_account(seed.fees.fee_account)?;
    link.fee_schedule(seed.fees)?;
    link.open_session()?;

    // 2. The users, and their engine accounts.
    let now = services_users::unix_now();
    let mut accounts = Vec::with_capacity(seed.users.len());
    for user in &seed.users {
        let outcome = users.seed_user(&user.as_seed_user(), now).with_context(|| format!("user {}", user.user_id))?;
        match outcome {
            SeedOutcome::Created { .. } => report.users_created += 1,
            SeedOutcome::Exists { .. } => report.users_existing += 1,
        }
        accounts.push((user, outcome.account_id()));
    }
    users.flush_outbox(now).context("sending the users' account commands")?;
    let marker = data_dir.join(MARKER);
    let first_run = !marker.exists();
    link.accounts(&accounts, first_run)?;
    report.accounts = accounts.iter().map(|(u, a)| (u.user_id.clone(), *a)).collect();

    // 3. Money, shares and the book: once.
    report.first_run = first_run;
    if first_run {
        for (user, account) in &accounts {
            if user.cash > 0 {
                report.deposits += usize::from(link.deposit(user, *account)?);
            }
            for holding in &user.holdings {
                report.holdings += usize::from(link.deposit_holdings(user, *account, holding)?);
            }
        }
        for order in &seed.orders {
            let account = accounts.iter().find(|(u, _)| u.user_id == order.user_id).map(|(_, a)| *a);
            let account = account.with_context(|| format!("order {}: no such user", order.describe()))?;
            report.orders += usize::from(link.place(order, account)?);
        }
        write_marker(&marker, seed).with_context(|| format!("writing {}", marker.display()))?;
    }
    Ok(report)
}

/// A rejection seen after the event history was caught up.
#[derive(Clone, Copy, Debug)]
struct Rejection {
    kind: CommandKind,
    reason: RejectReason,
    account: AccountId,
    client_ref: u64,
}

/// What the engine's events say, as far as the seed cares.
#[derive(Debug, Default)]
struct World {
    instruments: BTreeMap<Token, InstrumentSpec>,
    session_open: bool,
    fees: Option<FeeSchedule>,
    accounts: BTreeMap<AccountId, AccountStatus>,
    /// Deposits of the seed's amounts: (account, paise).
    deposits: BTreeSet<(AccountId, i64)>,
    /// Holdings credits of the seed's quantities: (account, token, shares).
    holdings: BTreeSet<(AccountId, Token, Qty)>,
    /// The seed's orders the engine accepted, by client_ref.
    accepted: BTreeSet<u64>,
    /// Only after the history: rejections in it answered other starts' commands.
    rejections: Vec<Rejection>,
    caught_up: bool,
    /// What to remember of deposits, holdings credits and orders (the seed's, not all).
    cash_amounts: BTreeSet<i64>,
    holdings_amounts: BTreeSet<(Token, Qty)>,
    order_refs: std::ops::Range<u64>,
}

impl World {
    fn new(seed: &Seed) -> World {
        World {
            cash_amounts: seed.users.iter().map(|u| u.cash).collect(),
            holdings_amounts: seed.users.iter().flat_map(|u| u.holdings.iter().map(|h| (h.token, h.qty))).collect(),
            order_refs: ORDER_REF_BASE..ORDER_REF_BASE + seed.orders.len() as u64,
            ..World::default()
        }
    }

    fn absorb(&mut self, batch: &EventBatch) {
        for event in &batch.events {
            match *event {
                Event::InstrumentAdded { spec, .. } => {
                    self.instruments.insert(spec.token, spec);
                }
                Event::SessionOpened => self.session_open = true,
                Event::SessionClosed => self.session_open = false,
                Event::FeeScheduleSet(fees) => self.fees = Some(fees),
                Event::AccountCreated { account, .. } => {
                    self.accounts.insert(account, AccountStatus::Inactive);
                }
                Event::AccountStatusChanged { account, status } => {
                    self.accounts.insert(account, status);
                }
                Event::BalanceChanged { account, delta, reason: BalanceReason::Deposit, .. }
                    if self.cash_amounts.contains(&delta) =>
                {
                    self.deposits.insert((account, delta));
                }
                Event::HoldingsChanged { account, token, delta, reason: HoldingsReason::Deposit, .. }
                    if self.holdings_amounts.contains(&(token, delta)) =>
                {
                    self.holdings.insert((account, token, delta));
                }
                Event::Accepted(a) if self.order_refs.contains(&a.client_ref) => {
                    self.accepted.insert(a.client_ref);
                }
                Event::Rejected { kind, reason, client_ref, account, .. } if self.caught_up => {
                    self.rejections.push(Rejection { kind, reason, account, client_ref });
                }
                _ => {}
            }
        }
    }

    /// The first rejection after `mark` that answers `command`.
    fn rejection(&self, mark: usize, command: &Command) -> Option<RejectReason> {
        let kind = command.kind();
        let (account, client_ref) = match *command {
            Command::CreateAccount { account, .. }
            | Command::ActivateAccount { account }
            | Command::Deposit { account, .. }
            | Command::DepositHoldings { account, .. } => (Some(account), None),
            Command::Place(o) => (Some(o.account), Some(o.client_ref)),
            // Exchange-wide commands: only the seed sends them at start-up.
            _ => (None, None),
        };
        self.rejections.get(mark..)?.iter().find_map(|r| {
            let matches = r.kind == kind
                && account.is_none_or(|a| a == r.account)
                && client_ref.is_none_or(|c| c == r.client_ref);
            matches.then_some(r.reason)
        })
    }
}

/// The seed's connection to the engine: commands out, events in.
struct Link<'a> {
    sink: &'a mut dyn CommandSink,
    feed: &'a mut dyn EventFeed,
    timeout: Duration,
    world: World,
    incoming: Vec<EventBatch>,
}

/// How a command ended.
enum Answer {
    Done,
    Rejected(RejectReason),
}

impl Link<'_> {
    fn poll(&mut self, timeout: Duration) -> anyhow::Result<usize> {
        self.incoming.clear();
        let n = self.feed.poll(&mut self.incoming, 1_024, timeout).context("reading the engine's events")?;
        for batch in &self.incoming {
            self.world.absorb(batch);
        }
        Ok(n)
    }

    /// Replays the event history from seq 1 and reads it to its end.
    fn catch_up(&mut self) -> anyhow::Result<()> {
        self.feed.replay_from(1).context("asking for the engine's event history")?;
        let deadline = Instant::now() + self.timeout;
        while self.poll(Duration::from_millis(50))? > 0 || self.feed.replaying() {
            ensure!(
                Instant::now() < deadline,
                "the engine's event history was not replayed within {:?} (is the node running?)",
                self.timeout
            );
        }
        self.world.caught_up = true;
        Ok(())
    }

    /// Polls until `outcome` gives one; `what` says what was awaited when it times out.
    fn wait<T>(
        &mut self,
        what: impl Fn(&World) -> String,
        mut outcome: impl FnMut(&World) -> Option<anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(result) = outcome(&self.world) {
                return result;
            }
            if Instant::now() >= deadline {
                bail!("timed out after {:?} waiting for {}", self.timeout, what(&self.world));
            }
            self.poll(Duration::from_millis(20))?;
        }
    }

    /// Submits, retrying while the engine is not there yet or pushes back.
    fn submit(&mut self, command: &Command) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.sink.submit(command) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, kind = ?command.kind(), "seed: command not taken yet; retrying");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => bail!("the engine did not take {:?}: {e}", command.kind()),
            }
        }
    }

    /// Sends `command` and waits until `done` holds or the engine rejects it.
    fn request(&mut self, command: &Command, what: &str, done: impl Fn(&World) -> bool) -> anyhow::Result<Answer> {
        let mark = self.world.rejections.len();
        self.submit(command)?;
        self.wait(
            |_| what.to_string(),
            |w| {
                if done(w) {
                    return Some(Ok(Answer::Done));
                }
                w.rejection(mark, command).map(|reason| Ok(Answer::Rejected(reason)))
            },
        )
    }

    /// Adds the instrument unless the engine has it with the same specification; true if added.
    fn add_instrument(&mut self, ins: &Instrument) -> anyhow::Result<bool> {
        let token = ins.spec.token;
        let name = format!("{} (token {token})", ins.tradingsymbol);
        let check = |existing: &InstrumentSpec| -> anyhow::Result<()> {
            ensure!(
                *existing == ins.spec,
                "instrument {name}: the engine has it with another specification ({existing:?}); the seed says {:?}",
                ins.spec
            );
            Ok(())
        };
        if let Some(existing) = self.world.instruments.get(&token) {
            check(existing)?;
            return Ok(false);
        }
        let what = format!("the engine to add instrument {name}");
        match self.request(&Command::AddInstrument(ins.spec), &what, |w| w.instruments.contains_key(&token))? {
            Answer::Done => {
                check(&self.world.instruments[&token])?;
                Ok(true)
            }
            Answer::Rejected(RejectReason::DuplicateInstrument) => {
                bail!("instrument {name}: the engine has another instrument with this symbol")
            }
            Answer::Rejected(reason) => bail!("instrument {name}: the engine refused it: {reason:?}"),
        }
    }

    /// Creates the fee account if the engine does not have it.
    fn fee_account(&mut self, account: AccountId) -> anyhow::Result<()> {
        if self.world.accounts.contains_key(&account) {
            return Ok(());
        }
        let command = Command::CreateAccount { account, limits: AccountLimits::default() };
        let what = format!("the engine to create the fee account {account}");
        match self.request(&command, &what, |w| w.accounts.contains_key(&account))? {
            Answer::Done | Answer::Rejected(RejectReason::DuplicateAccount) => Ok(()),
            Answer::Rejected(reason) => bail!("the engine refused to create the fee account {account}: {reason:?}"),
        }
    }

    fn fee_schedule(&mut self, fees: FeeSchedule) -> anyhow::Result<()> {
        if self.world.fees == Some(fees) {
            return Ok(());
        }
        match self.request(&Command::SetFeeSchedule(fees), "the fee schedule to be set", |w| w.fees == Some(fees))? {
            Answer::Done => Ok(()),
            Answer::Rejected(reason) => bail!("the engine refused the fee schedule {fees:?}: {reason:?}"),
        }
    }

    fn open_session(&mut self) -> anyhow::Result<()> {
        if self.world.session_open {
            return Ok(());
        }
        match self.request(&Command::OpenSession, "the market session to open", |w| w.session_open)? {
            Answer::Done | Answer::Rejected(RejectReason::SessionAlreadyOpen) => Ok(()),
            Answer::Rejected(reason) => bail!("the engine refused to open the session: {reason:?}"),
        }
    }

    /// Waits until the engine has created every user's account and activated the verified
    /// ones'. A user suspended since an earlier start is left so.
    fn accounts(&mut self, accounts: &[(&User, AccountId)], first_run: bool) -> anyhow::Result<()> {
        let mark = self.world.rejections.len();
        let pending = |w: &World| -> Vec<String> {
            accounts
                .iter()
                .filter_map(|&(user, account)| {
                    let status = w.accounts.get(&account).copied();
                    let ready = match status {
                        None => false,
                        Some(AccountStatus::Active) => true,
                        Some(AccountStatus::Inactive) => !user.kyc_verified,
                        Some(AccountStatus::Suspended) => !first_run,
                    };
                    let shown = status.map_or("not created".to_string(), |s| format!("{s:?}").to_lowercase());
                    (!ready).then(|| format!("{} (account {account}: {shown})", user.user_id))
                })
                .collect()
        };
        self.wait(
            |w| {
                format!(
                    "the engine to create and activate the accounts of {} (the users service sends the commands: is it enabled?)",
                    pending(w).join(", ")
                )
            },
            |w| {
                for &(user, account) in accounts {
                    for kind in [CommandKind::CreateAccount, CommandKind::ActivateAccount] {
                        let probe = match kind {
                            CommandKind::CreateAccount => Command::CreateAccount { account, limits: AccountLimits::default() },
                            _ => Command::ActivateAccount { account },
                        };
                        match w.rejection(mark, &probe) {
                            None | Some(RejectReason::DuplicateAccount | RejectReason::AccountStatusUnchanged) => {}
                            Some(reason) => {
                                return Some(Err(anyhow::anyhow!(
                                    "the engine refused {kind:?} for {} (account {account}): {reason:?}",
                                    user.user_id
                                )))
                            }
                        }
                    }
                }
                pending(w).is_empty().then_some(Ok(()))
            },
        )
    }

    /// Deposits the user's cash unless the history shows it deposited; true if sent.
    fn deposit(&mut self, user: &User, account: AccountId) -> anyhow::Result<bool> {
        let key = (account, user.cash);
        let rupees = rupees_string(user.cash);
        if self.world.deposits.contains(&key) {
            tracing::info!(user = %user.user_id, "seed: cash already deposited by an earlier start");
            return Ok(false);
        }
        let command = Command::Deposit { client_ref: 0, account, amount: user.cash };
        let what = format!("the deposit of {rupees} rupees for {}", user.user_id);
        match self.request(&command, &what, |w| w.deposits.contains(&key))? {
            Answer::Done => Ok(true),
            Answer::Rejected(reason) => bail!("the engine refused {what}: {reason:?}"),
        }
    }

    /// Credits the holding unless the history shows it credited; true if sent.
    fn deposit_holdings(&mut self, user: &User, account: AccountId, h: &Holding) -> anyhow::Result<bool> {
        let key = (account, h.token, h.qty);
        if self.world.holdings.contains(&key) {
            tracing::info!(user = %user.user_id, symbol = %h.symbol, "seed: holdings already credited by an earlier start");
            return Ok(false);
        }
        let command = Command::DepositHoldings { account, token: h.token, qty: h.qty };
        let what = format!("the credit of {} {} shares to {}", h.qty, h.symbol, user.user_id);
        match self.request(&command, &what, |w| w.holdings.contains(&key))? {
            Answer::Done => Ok(true),
            Answer::Rejected(reason) => bail!("the engine refused {what}: {reason:?}"),
        }
    }

    /// Places a resting order unless the history shows it accepted; true if sent.
    fn place(&mut self, order: &Order, account: AccountId) -> anyhow::Result<bool> {
        if self.world.accepted.contains(&order.client_ref) {
            return Ok(false);
        }
        let command = Command::Place(NewOrder {
            client_ref: order.client_ref,
            account,
            token: order.token,
            side: order.side,
            order_type: OrderType::Limit,
            validity: Validity::Day,
            product: Product::Cnc,
            price: order.price,
            trigger: 0,
            qty: order.qty,
            disclosed: 0,
            post_only: false,
        });
        let what = format!("the resting order {}", order.describe());
        match self.request(&command, &what, |w| w.accepted.contains(&order.client_ref))? {
            Answer::Done => Ok(true),
            Answer::Rejected(reason) => bail!("the engine refused {what}: {reason:?}"),
        }
    }
}

/// Writes the marker durably: a temporary file, synced, renamed, and the directory synced.
fn write_marker(path: &Path, seed: &Seed) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(
        file,
        "the cash, holdings and resting orders of {} were seeded at unix time {}",
        seed.path.display(),
        services_users::unix_now()
    )?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
