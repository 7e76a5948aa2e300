//! KYC gates engine activation; the service records the engine's account events exactly once;
//! outbox commands survive restarts without being repeated.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use engine_core::{AccountId, AccountStatus, Command, Engine, Limits};
use services_core::{EventBatch, MemoryFeed, ServiceRunner};
use services_users::{
    EngineStatus, KycDecision, KycStatus, Registration, Role, Users, UsersError, UsersService, SERVICE_NAME,
};

/// An in-process engine fed with what the sinks recorded.
struct Exchange {
    engine: Engine,
    seq: u64,
    batches: Vec<EventBatch>,
}

impl Exchange {
    fn new() -> Exchange {
        Exchange { engine: Engine::new(Limits::small()), seq: 0, batches: Vec::new() }
    }

    fn apply(&mut self, commands: &[Command]) {
        for c in commands {
            self.seq += 1;
            let ts_ns = T0 * 1_000_000_000 + self.seq * 1_000_000;
            let mut events = Vec::new();
            self.engine.apply(self.seq, ts_ns, c, &mut events);
            self.batches.push(EventBatch { seq: self.seq, ts_ns, events });
        }
    }

    fn status(&self, account: AccountId) -> Option<AccountStatus> {
        self.engine.account(account).map(|a| a.status)
    }
}

type Runner = ServiceRunner<UsersService>;

fn open_runner(path: &Path, sink: &Recorder) -> Runner {
    ServiceRunner::open(path, UsersService::new(Some(Box::new(sink.clone())))).expect("open runner")
}

/// Resumes from the runner's cursor and applies everything the exchange has produced (then one
/// idle step, which flushes the outbox).
fn sync(runner: &mut Runner, ex: &Exchange) {
    let mut feed = MemoryFeed::new(ex.batches.clone());
    runner.resume(&mut feed).expect("resume");
    while runner.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    runner.step(&mut feed, Duration::ZERO).expect("idle step");
}

fn activations(commands: &[Command], account: AccountId) -> usize {
    commands.iter().filter(|c| **c == Command::ActivateAccount { account }).count()
}

/// Everything the sinks sent, moved into the engine and into `sent`.
fn deliver(rec: &Recorder, ex: &mut Exchange, sent: &mut Vec<Command>) {
    let commands = rec.drain();
    ex.apply(&commands);
    sent.extend(commands);
}

fn admin(users: &mut Users, n: u32, now: u64) -> (Registration, services_users::Claims) {
    let reg = register(users, n, now);
    users.bootstrap_roles(&reg.user_id, &[Role::Admin], now).expect("bootstrap admin");
    let (claims, _, _) = signed_in(users, &reg, now);
    (reg, claims)
}

#[test]
fn only_verified_users_are_activated_exactly_once_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let rec = Recorder::default();
    let mut ex = Exchange::new();
    let mut sent = Vec::new();
    let mut users = open(&path, &rec);
    let mut runner = open_runner(&path, &rec);

    let (admin_reg, admin) = admin(&mut users, 1, T0);
    let trader = register(&mut users, 2, T0);
    let idle = register(&mut users, 3, T0); // never submits KYC
    let refused = register(&mut users, 4, T0); // submits, gets rejected
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut runner, &ex);
    for reg in [&admin_reg, &trader, &idle, &refused] {
        assert_eq!(users.engine_account(&reg.user_id).expect("engine").status, EngineStatus::Inactive);
    }

    let (trader_claims, _, _) = signed_in(&mut users, &trader, T0);
    let (refused_claims, _, _) = signed_in(&mut users, &refused, T0);
    users.submit_kyc(&trader_claims, &trader.user_id, "abcde1234f", T0 + 60).expect("submit");
    users.submit_kyc(&refused_claims, &refused.user_id, "ZZZZZ9999Z", T0 + 60).expect("submit");
    // Nobody reviews their own: not a trader (no right), not an admin (four eyes).
    assert!(matches!(
        users.review_kyc(&trader_claims, &trader.user_id, KycDecision::Verify, T0 + 61),
        Err(UsersError::Forbidden(_))
    ));
    users.submit_kyc(&admin, &admin_reg.user_id, "ADMIN1234A", T0 + 61).expect("admin submits own");
    assert!(matches!(
        users.review_kyc(&admin, &admin_reg.user_id, KycDecision::Verify, T0 + 61),
        Err(UsersError::Forbidden(_))
    ));
    users
        .review_kyc(&admin, &refused.user_id, KycDecision::Reject { reason: "PAN does not match the name" }, T0 + 62)
        .expect("reject");
    let k = users.kyc(&refused.user_id).expect("kyc");
    assert_eq!(k.status, KycStatus::Rejected);
    assert_eq!(k.reason.as_deref(), Some("PAN does not match the name"));
    assert_eq!(k.reviewed_by.as_deref(), Some(admin.sub.as_str()));
    assert!(rec.commands().is_empty(), "a rejection activates nothing");

    // The engine link is down when the admin verifies: the activation is queued, not sent ...
    rec.set_failing(true);
    users.review_kyc(&admin, &trader.user_id, KycDecision::Verify, T0 + 63).expect("verify");
    assert_eq!(users.kyc(&trader.user_id).expect("kyc").status, KycStatus::Verified);
    assert_eq!(users.pending_commands().expect("pending"), 1);
    assert!(rec.commands().is_empty());

    // ... and the service restarts before anything is sent.
    drop(users);
    drop(runner);
    rec.set_failing(false);
    let mut users = open(&path, &rec);
    let mut runner = open_runner(&path, &rec);
    assert_eq!(users.pending_commands().expect("pending"), 1, "the queued activation survived");
    sync(&mut runner, &ex);
    assert_eq!(rec.commands(), vec![Command::ActivateAccount { account: trader.account_id }]);
    assert_eq!(users.flush_outbox(T0 + 70).expect("flush"), 0, "already sent by the service");
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut runner, &ex);
    assert_eq!(users.engine_account(&trader.user_id).expect("engine").status, EngineStatus::Active);
    assert_eq!(ex.status(trader.account_id), Some(AccountStatus::Active));

    // More restarts and flushes send nothing more.
    for _ in 0..2 {
        drop(users);
        drop(runner);
        users = open(&path, &rec);
        runner = ServiceRunner::open(&path, UsersService::new(Some(Box::new(rec.clone())))).expect("reopen");
        sync(&mut runner, &ex);
        assert_eq!(users.flush_outbox(T0 + 80).expect("flush"), 0);
        assert!(rec.commands().is_empty());
    }

    assert_eq!(activations(&sent, trader.account_id), 1, "exactly one ActivateAccount");
    for reg in [&admin_reg, &idle, &refused] {
        assert_eq!(activations(&sent, reg.account_id), 0, "{} was never verified", reg.user_id);
        assert_eq!(ex.status(reg.account_id), Some(AccountStatus::Inactive));
        assert_eq!(users.engine_account(&reg.user_id).expect("engine").status, EngineStatus::Inactive);
    }

    // The rejected user resubmits and is verified: one activation for them too.
    users.submit_kyc(&refused_claims, &refused.user_id, "ABCDE1234F", T0 + 90).expect("resubmit");
    assert_eq!(users.kyc(&refused.user_id).expect("kyc").reason, None, "the old reason is cleared");
    users.review_kyc(&admin, &refused.user_id, KycDecision::Verify, T0 + 91).expect("verify");
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut runner, &ex);
    assert_eq!(activations(&sent, refused.account_id), 1);
    assert_eq!(ex.status(refused.account_id), Some(AccountStatus::Active));
}

#[test]
fn a_verification_before_the_engine_created_the_account_activates_once_it_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let rec = Recorder::default();
    let mut ex = Exchange::new();
    let mut sent = Vec::new();
    let mut users = open(&path, &rec);
    let (_, admin) = admin(&mut users, 1, T0);
    let trader = register(&mut users, 2, T0);
    let (trader_claims, _, _) = signed_in(&mut users, &trader, T0);
    users.submit_kyc(&trader_claims, &trader.user_id, "ABCDE1234F", T0 + 60).expect("submit");
    users.review_kyc(&admin, &trader.user_id, KycDecision::Verify, T0 + 61).expect("verify");
    // The engine has not created the account yet: nothing to activate so far.
    assert_eq!(users.engine_account(&trader.user_id).expect("engine").status, EngineStatus::Unknown);
    assert_eq!(users.pending_commands().expect("pending"), 0);
    assert_eq!(activations(&rec.commands(), trader.account_id), 0);

    // The creates reach the engine; the service sees AccountCreated and queues the activation
    // in the same transaction, but the link is down when it tries to send, and it restarts.
    deliver(&rec, &mut ex, &mut sent);
    rec.set_failing(true);
    let mut r = open_runner(&path, &rec);
    sync(&mut r, &ex);
    assert_eq!(users.pending_commands().expect("pending"), 1);
    drop(r);
    rec.set_failing(false);
    let mut r = open_runner(&path, &rec);
    sync(&mut r, &ex);
    assert_eq!(rec.commands(), vec![Command::ActivateAccount { account: trader.account_id }]);
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut r, &ex);
    assert_eq!(users.engine_account(&trader.user_id).expect("engine").status, EngineStatus::Active);
    drop(r);
    let mut r = open_runner(&path, &rec);
    sync(&mut r, &ex);
    users.flush_outbox(T0 + 100).expect("flush");
    assert!(rec.commands().is_empty());
    assert_eq!(activations(&sent, trader.account_id), 1);
}

#[test]
fn engine_account_events_are_recorded_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let rec = Recorder::default();
    let mut ex = Exchange::new();
    let limits = Default::default();
    ex.apply(&[
        Command::CreateAccount { account: 1, limits },
        Command::CreateAccount { account: 2, limits },
        Command::CreateAccount { account: 3, limits },
        Command::Deposit { client_ref: 0, account: 1, amount: 100 }, // not an account event
        Command::ActivateAccount { account: 1 },
        // A resend from the at-least-once window: refused, status untouched.
        Command::ActivateAccount { account: 1 },
        Command::CreateAccount { account: 1, limits },
        Command::SuspendAccount { account: 2 },
        Command::CreateAccount { account: 5_000, limits }, // beyond accounts_max
        Command::ActivateAccount { account: 7 },           // unknown
    ]);
    let expected_rows = 3 + 1 + 1 + 1 + 1 + 1 + 1;

    // Half, a restart, then everything with a duplicate and an out-of-order batch injected.
    let mut r = open_runner(&path, &rec);
    let mut feed = MemoryFeed::new(ex.batches[..5].to_vec());
    while r.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    assert_eq!(r.last_seq(), 5);
    drop(r);
    let mut r = open_runner(&path, &rec);
    let mut feed = MemoryFeed::new(ex.batches.clone());
    feed.inject(ex.batches[2].clone());
    feed.inject(ex.batches[8].clone());
    r.resume(&mut feed).expect("resume");
    while r.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    assert_eq!(r.last_seq(), ex.seq);

    let rows = |r: &Runner| -> Vec<(i64, i64, String)> {
        let mut stmt = r
            .conn()
            .prepare("SELECT seq, account_id, event FROM engine_account_events ORDER BY seq, rowid")
            .expect("prepare");
        stmt.query_map([], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let statuses = |r: &Runner| -> Vec<(i64, String, Option<String>)> {
        let mut stmt = r
            .conn()
            .prepare("SELECT account_id, status, last_reject FROM engine_accounts ORDER BY account_id")
            .expect("prepare");
        stmt.query_map([], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let history = rows(&r);
    assert_eq!(history.len(), expected_rows, "{history:#?}");
    assert_eq!(
        statuses(&r),
        vec![
            (1, "active".into(), Some("rejected CreateAccount: DuplicateAccount".into())),
            (2, "suspended".into(), None),
            (3, "inactive".into(), None),
            (5_000, "create_rejected".into(), Some("rejected CreateAccount: AccountIdOutOfRange".into())),
        ]
    );
    assert!(history.iter().any(|(_, a, e)| *a == 1 && e == "rejected ActivateAccount: AccountStatusUnchanged"));
    let cursor: i64 = r
        .conn()
        .query_row("SELECT last_seq FROM service_cursor WHERE service = ?1", [SERVICE_NAME], |x| x.get(0))
        .expect("cursor");
    assert_eq!(cursor as u64, ex.seq);

    // A fresh database fed everything at once agrees row for row.
    let fresh = dir.path().join("fresh.db");
    let mut f = open_runner(&fresh, &rec);
    let mut feed = MemoryFeed::new(ex.batches.clone());
    while f.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    assert_eq!(rows(&f), history);
    assert_eq!(statuses(&f), statuses(&r));
    assert!(rec.commands().is_empty(), "no user, no command");
}

#[test]
fn suspension_and_reinstatement_drive_the_engine_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let rec = Recorder::default();
    let mut ex = Exchange::new();
    let mut sent = Vec::new();
    let mut users = open(&path, &rec);
    let mut r = open_runner(&path, &rec);
    let (_, admin) = admin(&mut users, 1, T0);
    let risk_reg = register(&mut users, 2, T0);
    users.bootstrap_roles(&risk_reg.user_id, &[Role::Risk], T0).expect("risk");
    let (risk, _, _) = signed_in(&mut users, &risk_reg, T0);
    let support_reg = register(&mut users, 3, T0);
    users.bootstrap_roles(&support_reg.user_id, &[Role::Support], T0).expect("support");
    let (support, _, _) = signed_in(&mut users, &support_reg, T0);
    let trader = register(&mut users, 4, T0);
    let unverified = register(&mut users, 5, T0);
    let (trader_claims, _, _) = signed_in(&mut users, &trader, T0);
    users.submit_kyc(&trader_claims, &trader.user_id, "ABCDE1234F", T0 + 60).expect("submit");
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut r, &ex);
    users.review_kyc(&admin, &trader.user_id, KycDecision::Verify, T0 + 61).expect("verify");
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut r, &ex);
    assert_eq!(ex.status(trader.account_id), Some(AccountStatus::Active));

    // Support may look but not suspend; risk may suspend.
    assert!(matches!(users.suspend_user(&support, &trader.user_id, "x", T0 + 70), Err(UsersError::Forbidden(_))));
    assert!(matches!(users.suspend_user(&trader_claims, &trader.user_id, "x", T0 + 70), Err(UsersError::Forbidden(_))));
    users.suspend_user(&risk, &trader.user_id, "margin shortfall", T0 + 70).expect("suspend");
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut r, &ex);
    assert_eq!(ex.status(trader.account_id), Some(AccountStatus::Suspended));
    assert_eq!(users.engine_account(&trader.user_id).expect("engine").status, EngineStatus::Suspended);
    // Suspending a never-activated account sends nothing (it is inactive already).
    users.suspend_user(&admin, &unverified.user_id, "duplicate identity", T0 + 71).expect("suspend");
    assert!(rec.commands().is_empty());

    users.reinstate_user(&risk, &trader.user_id, T0 + 80).expect("reinstate");
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut r, &ex);
    assert_eq!(ex.status(trader.account_id), Some(AccountStatus::Active));
    users.reinstate_user(&admin, &unverified.user_id, T0 + 81).expect("reinstate");
    assert!(rec.commands().is_empty(), "not verified: stays inactive");
    // Reinstating an active user again changes nothing and sends nothing.
    users.reinstate_user(&admin, &trader.user_id, T0 + 82).expect("reinstate again");
    assert!(rec.commands().is_empty(), "no second ActivateAccount");
    let trader_commands: Vec<Command> = sent
        .iter()
        .copied()
        .filter(|c| {
            matches!(c, Command::ActivateAccount { account } | Command::SuspendAccount { account } if *account == trader.account_id)
        })
        .collect();
    assert_eq!(
        trader_commands,
        vec![
            Command::ActivateAccount { account: trader.account_id },
            Command::SuspendAccount { account: trader.account_id },
            Command::ActivateAccount { account: trader.account_id },
        ]
    );
    assert_eq!(activations(&sent, unverified.account_id), 0);
}

#[test]
fn a_refused_create_is_recorded_and_never_activated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let rec = Recorder::default();
    let mut ex = Exchange::new();
    let mut sent = Vec::new();
    let mut cfg = config();
    cfg.first_account_id = 1_000; // Limits::small() has 1,024 accounts: the 25th is out of range.
    let mut users = Users::open(&path, cfg, Box::new(rec.clone())).expect("open");
    let mut r = open_runner(&path, &rec);
    let (_, admin) = admin(&mut users, 1, T0);
    let mut regs = Vec::new();
    for n in 2..=25 {
        regs.push(register(&mut users, n, T0));
    }
    let last = regs.last().expect("last").clone();
    assert_eq!(last.account_id, 1_024);
    deliver(&rec, &mut ex, &mut sent);
    sync(&mut r, &ex);
    let engine = users.engine_account(&last.user_id).expect("engine");
    assert_eq!(engine.status, EngineStatus::CreateRejected);
    assert_eq!(engine.last_reject.as_deref(), Some("rejected CreateAccount: AccountIdOutOfRange"));
    let (claims, _, _) = signed_in(&mut users, &last, T0);
    users.submit_kyc(&claims, &last.user_id, "ABCDE1234F", T0 + 60).expect("submit");
    users.review_kyc(&admin, &last.user_id, KycDecision::Verify, T0 + 61).expect("verify");
    sync(&mut r, &ex);
    assert_eq!(users.pending_commands().expect("pending"), 0);
    assert!(rec.commands().is_empty(), "no account, no activation");
}

#[test]
fn the_kyc_state_machine_refuses_what_it_should() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::default();
    let mut users = open(&dir.path().join("users.db"), &rec);
    let (_, admin) = admin(&mut users, 1, T0);
    let trader = register(&mut users, 2, T0);
    let other = register(&mut users, 3, T0);
    let (claims, _, _) = signed_in(&mut users, &trader, T0);
    let id = trader.user_id.as_str();

    assert_eq!(users.kyc(id).expect("kyc").status, KycStatus::NotSubmitted);
    assert!(matches!(
        users.review_kyc(&admin, id, KycDecision::Verify, T0),
        Err(UsersError::KycState { state: "not_submitted", .. })
    ));
    assert!(matches!(users.submit_kyc(&claims, &other.user_id, "ABCDE1234F", T0), Err(UsersError::Forbidden(_))));
    assert!(matches!(
        users.submit_kyc(&claims, id, "12345ABCDE", T0),
        Err(UsersError::InvalidInput { field: "pan", .. })
    ));
    users.submit_kyc(&claims, id, "abcde1234f", T0 + 1).expect("submit");
    let k = users.kyc(id).expect("kyc");
    assert_eq!((k.status, k.pan.as_deref(), k.submitted_at), (KycStatus::Submitted, Some("ABCDE1234F"), Some(T0 + 1)));
    assert!(matches!(users.submit_kyc(&claims, id, "ABCDE1234F", T0 + 2), Err(UsersError::KycState { .. })));
    assert!(matches!(
        users.review_kyc(&admin, id, KycDecision::Reject { reason: "  " }, T0 + 3),
        Err(UsersError::InvalidInput { field: "reason", .. })
    ));
    users.review_kyc(&admin, id, KycDecision::Verify, T0 + 4).expect("verify");
    assert!(matches!(
        users.review_kyc(&admin, id, KycDecision::Reject { reason: "changed my mind" }, T0 + 5),
        Err(UsersError::KycState { state: "verified", .. })
    ));
    assert!(matches!(users.submit_kyc(&claims, id, "ABCDE1234F", T0 + 6), Err(UsersError::KycState { .. })));
    assert!(matches!(users.kyc("ZZ0000"), Err(UsersError::UnknownUser)));
    assert_eq!(users.profile(id).expect("profile").kyc, KycStatus::Verified);
    // Every decision is in the audit log, with who made it.
    let audits: i64 = users
        .connection()
        .query_row("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'kyc_%' AND target = ?1", [id], |r| r.get(0))
        .expect("audit");
    assert_eq!(audits, 2);
}
