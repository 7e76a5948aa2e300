//! Deposit and withdrawal requests: recorded, submitted through a `CommandSink`, applied by an
//! in-process engine, confirmed from its events; restarts never deposit twice.

use engine_core::{AccountLimits, Command, Event, RejectReason};
use services_core::testkit::{catch_up, open, Exchange, RecordingSink};
use services_core::{CommandSink, ServiceRunner, SinkError};
use services_funds::{
    balances, get_request, reconcile, request_deposit, request_withdrawal, requests, statement, FundsError,
    FundsService, RequestStatus,
};

fn accounts() -> Vec<Command> {
    let mut c = Vec::new();
    for account in 1..=2 {
        c.push(Command::CreateAccount { account, limits: AccountLimits::default() });
        c.push(Command::ActivateAccount { account });
    }
    c
}

fn service(sink: &RecordingSink) -> FundsService {
    FundsService::new(Box::new(sink.clone()))
}

/// Feeds the service everything the engine produced, delivers what it submitted, and repeats
/// until nothing moves.
fn settle(runner: &mut ServiceRunner<FundsService>, ex: &mut Exchange, sink: &RecordingSink) {
    loop {
        catch_up(runner, &ex.batches).expect("catch up");
        if ex.deliver(sink) == 0 {
            break;
        }
    }
}

const RUPEE: i64 = 100;

#[test]
fn deposits_and_withdrawals_flow_through_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = RecordingSink::default();
    let mut ex = Exchange::new(&accounts());
    let mut runner = open(&dir.path().join("funds.db"), service(&sink));
    catch_up(&mut runner, &ex.batches).expect("accounts");

    let conn = runner.conn();
    let dep = request_deposit(conn, 1, 50_000 * RUPEE, "dep-1").expect("deposit");
    let wd = request_withdrawal(conn, 1, 10_000 * RUPEE, "wd-1").expect("withdrawal");
    let too_much = request_withdrawal(conn, 2, RUPEE, "wd-2").expect("withdrawal");
    // The API is idempotent on the reference and validates what it can.
    assert_eq!(request_deposit(conn, 1, 50_000 * RUPEE, "dep-1").expect("again"), dep);
    assert!(matches!(request_deposit(conn, 1, 1, "dep-1"), Err(FundsError::ReferenceReused)));
    assert!(matches!(request_deposit(conn, 1, 0, "dep-0"), Err(FundsError::InvalidAmount(0))));
    assert!(matches!(request_deposit(conn, 9, 1, "dep-9"), Err(FundsError::UnknownAccount(9))));
    assert!(matches!(request_deposit(conn, 1, 1, ""), Err(FundsError::InvalidReference)));
    assert_eq!(get_request(conn, dep).expect("get").expect("dep").status, RequestStatus::Queued);

    // The next idle poll submits them, in order, each persisted as submitted first.
    catch_up(&mut runner, &ex.batches).expect("idle");
    assert_eq!(sink.len(), 3);
    for id in [dep, wd, too_much] {
        let r = get_request(runner.conn(), id).expect("get").expect("request");
        assert_eq!((r.status, r.attempts), (RequestStatus::Submitted, 1));
    }
    assert_eq!(ex.deliver(&sink), 3);
    catch_up(&mut runner, &ex.batches).expect("answers");
    assert_eq!(sink.len(), 0, "nothing is submitted twice");

    let conn = runner.conn();
    let dep_r = get_request(conn, dep).expect("get").expect("dep");
    assert_eq!(dep_r.status, RequestStatus::Completed);
    assert!(dep_r.entry_id.is_some() && dep_r.resolved_seq.is_some());
    assert_eq!(get_request(conn, wd).expect("get").expect("wd").status, RequestStatus::Completed);
    let r = get_request(conn, too_much).expect("get").expect("rejected");
    assert_eq!((r.status, r.reject_reason.as_deref()), (RequestStatus::Rejected, Some("InsufficientFunds")));
    assert_eq!(balances(conn, 1).expect("balances").cash, 40_000 * RUPEE);
    assert_eq!(ex.engine.account(1).expect("account").cash, 40_000 * RUPEE);
    assert_eq!(reconcile(conn, &ex.engine).expect("reconcile"), vec![]);

    // The statement shows both movements with their references and the running balance.
    let s = statement(conn, 1, None, None).expect("statement");
    let lines: Vec<(&str, i64, i64)> = s.lines.iter().map(|l| (l.memo.as_str(), l.amount, l.balance)).collect();
    assert_eq!(
        lines,
        vec![("deposit dep-1", 50_000 * RUPEE, 50_000 * RUPEE), ("withdrawal wd-1", -10_000 * RUPEE, 40_000 * RUPEE)]
    );
    assert_eq!(s.lines[0].request_id, Some(dep));
    let later = statement(conn, 1, Some(s.lines[1].ts_ns), None).expect("range");
    assert_eq!((later.opening_balance, later.lines.len(), later.closing_balance), (50_000 * RUPEE, 1, 40_000 * RUPEE));
    assert_eq!(requests(conn, 1).expect("list").len(), 2);
}

#[test]
fn a_restart_between_submit_and_confirmation_does_not_deposit_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    let mut ex = Exchange::new(&accounts());
    let sink = RecordingSink::default();
    let mut runner = open(&path, service(&sink));
    catch_up(&mut runner, &ex.batches).expect("accounts");
    let id = request_deposit(runner.conn(), 1, 1_000 * RUPEE, "dep-a").expect("deposit");
    catch_up(&mut runner, &ex.batches).expect("submit");
    assert_eq!(sink.len(), 1);
    // The engine applies the command (after an unrelated one), but the service dies before it
    // reads the answer.
    ex.apply(&Command::ActivateAccount { account: 1 });
    ex.deliver(&sink);
    drop(runner);

    // Meanwhile the gateway records another request for the same account.
    let gateway = services_core::open_db(&path).expect("gateway connection");
    let second = request_deposit(&gateway, 1, 500 * RUPEE, "dep-b").expect("second");

    // And one for another account, with nothing in doubt.
    let other = request_deposit(&gateway, 2, 200 * RUPEE, "dep-c").expect("other");

    let sink = RecordingSink::default();
    let mut runner = open(&path, service(&sink));
    assert_eq!(get_request(runner.conn(), id).expect("get").expect("r").status, RequestStatus::Submitted);
    // The first step of the catch-up (one unrelated batch) submits account 2's request;
    // account 1 waits for the answer to its request in doubt.
    let mut feed = services_core::MemoryFeed::new(ex.batches.clone());
    runner.resume(&mut feed).expect("resume");
    runner.batch_max = 1;
    assert_eq!(runner.step(&mut feed, std::time::Duration::ZERO).expect("step").applied, 1);
    let other_deposit = Command::Deposit { client_ref: other as u64, account: 2, amount: 200 * RUPEE };
    assert_eq!(sink.take(), vec![other_deposit]);
    ex.apply(&other_deposit);
    catch_up(&mut runner, &ex.batches).expect("catch up");
    // Catching up confirmed the first; only the second was submitted.
    let r = get_request(runner.conn(), id).expect("get").expect("r");
    assert_eq!((r.status, r.attempts), (RequestStatus::Completed, 1));
    let second_deposit = Command::Deposit { client_ref: second as u64, account: 1, amount: 500 * RUPEE };
    assert_eq!(sink.take(), vec![second_deposit]);
    ex.apply(&second_deposit);
    settle(&mut runner, &mut ex, &sink);
    for id in [second, other] {
        assert_eq!(get_request(runner.conn(), id).expect("get").expect("r").status, RequestStatus::Completed);
    }
    assert_eq!(ex.engine.account(2).expect("account").cash, 200 * RUPEE);
    assert_eq!(ex.engine.account(1).expect("account").cash, 1_500 * RUPEE, "each deposit applied once");
    assert_eq!(reconcile(runner.conn(), &ex.engine).expect("reconcile"), vec![]);
}

/// Accepts commands and loses them: the process died after marking the request submitted and
/// before the command left it.
#[derive(Debug)]
struct Lost;

impl CommandSink for Lost {
    fn submit(&mut self, _: &Command) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_request_lost_in_a_crash_is_submitted_again_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    let mut ex = Exchange::new(&accounts());
    ex.apply(&Command::Deposit { client_ref: 0, account: 2, amount: 100 * RUPEE });
    let mut runner = open(&path, FundsService::new(Box::new(Lost)));
    catch_up(&mut runner, &ex.batches).expect("accounts");
    let dep = request_deposit(runner.conn(), 1, 700 * RUPEE, "dep").expect("deposit");
    let wd = request_withdrawal(runner.conn(), 2, 30 * RUPEE, "wd").expect("withdrawal");
    catch_up(&mut runner, &ex.batches).expect("submit into the void");
    drop(runner);

    let sink = RecordingSink::default();
    let mut runner = open(&path, service(&sink));
    settle(&mut runner, &mut ex, &sink);
    for id in [dep, wd] {
        let r = get_request(runner.conn(), id).expect("get").expect("r");
        assert_eq!((r.status, r.attempts), (RequestStatus::Completed, 2), "request {id}");
    }
    assert_eq!(ex.engine.account(1).expect("account").cash, 700 * RUPEE);
    assert_eq!(ex.engine.account(2).expect("account").cash, 70 * RUPEE);
    assert_eq!(reconcile(runner.conn(), &ex.engine).expect("reconcile"), vec![]);
    // Restarting again, with everything confirmed, submits nothing.
    drop(runner);
    let mut runner = open(&path, service(&sink));
    catch_up(&mut runner, &ex.batches).expect("idle");
    assert_eq!(sink.len(), 0);
}

/// Refuses the first command (back-pressure), then accepts.
#[derive(Debug)]
struct Busy(RecordingSink, bool);

impl CommandSink for Busy {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError> {
        if !self.1 {
            self.1 = true;
            return Err(SinkError::BackPressure);
        }
        self.0.submit(command)
    }
}

#[test]
fn back_pressure_keeps_the_request_queued_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ex = Exchange::new(&accounts());
    let sink = RecordingSink::default();
    let mut runner = open(&dir.path().join("funds.db"), FundsService::new(Box::new(Busy(sink.clone(), false))));
    catch_up(&mut runner, &ex.batches).expect("accounts");
    let a = request_deposit(runner.conn(), 1, 10 * RUPEE, "a").expect("a");
    let b = request_withdrawal(runner.conn(), 1, 4 * RUPEE, "b").expect("b");
    catch_up(&mut runner, &ex.batches).expect("refused");
    assert_eq!(sink.len(), 0, "nothing overtakes the refused request");
    let r = get_request(runner.conn(), a).expect("get").expect("a");
    assert_eq!((r.status, r.attempts), (RequestStatus::Queued, 0));
    settle(&mut runner, &mut ex, &sink);
    assert_eq!(get_request(runner.conn(), a).expect("get").expect("a").status, RequestStatus::Completed);
    assert_eq!(get_request(runner.conn(), b).expect("get").expect("b").status, RequestStatus::Completed);
    assert_eq!(ex.engine.account(1).expect("account").cash, 6 * RUPEE);
}

#[test]
fn movements_made_outside_the_service_are_journalled_without_a_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ex = Exchange::new(&accounts());
    let sink = RecordingSink::default();
    let mut runner = open(&dir.path().join("funds.db"), service(&sink));
    catch_up(&mut runner, &ex.batches).expect("accounts");
    let id = request_deposit(runner.conn(), 1, 300 * RUPEE, "mine").expect("deposit");
    catch_up(&mut runner, &ex.batches).expect("submit");
    // An operator deposits a different amount first; then ours lands.
    ex.apply(&Command::Deposit { client_ref: 0, account: 1, amount: 42 });
    ex.deliver(&sink);
    catch_up(&mut runner, &ex.batches).expect("answers");
    let r = get_request(runner.conn(), id).expect("get").expect("r");
    assert_eq!(r.status, RequestStatus::Completed);
    let s = statement(runner.conn(), 1, None, None).expect("statement");
    let memos: Vec<(&str, Option<i64>)> = s.lines.iter().map(|l| (l.memo.as_str(), l.request_id)).collect();
    assert_eq!(memos, vec![("deposit", None), ("deposit mine", Some(id))]);
    assert_eq!(reconcile(runner.conn(), &ex.engine).expect("reconcile"), vec![]);
}

/// How many `BalanceChanged` the engine emitted for `client_ref`, and how many ledger entries
/// name the request.
fn applied_and_posted(ex: &Exchange, conn: &rusqlite::Connection, id: i64) -> (usize, i64) {
    let changes = ex
        .batches
        .iter()
        .flat_map(|b| &b.events)
        .filter(|e| matches!(e, Event::BalanceChanged { client_ref, .. } if *client_ref == id as u64))
        .count();
    let entries: i64 = conn
        .query_row("SELECT COUNT(*) FROM journal_entries WHERE request_id = ?1", [id], |r| r.get(0))
        .expect("count entries");
    (changes, entries)
}

fn duplicates(ex: &Exchange) -> Vec<u64> {
    ex.batches
        .iter()
        .flat_map(|b| &b.events)
        .filter_map(|e| match *e {
            Event::Rejected { reason: RejectReason::DuplicateRequest, client_ref, .. } => Some(client_ref),
            _ => None,
        })
        .collect()
}

/// The service dies after submitting three requests and before the engine answers any. Two of the
/// commands were still in flight (they reach the engine after the restart), one was lost. The
/// restarted service resubmits all three; the engine applies each request once, whichever copy
/// comes first, and refuses the other copy as a duplicate. Both arrival orders.
#[test]
fn a_crash_between_submit_and_answer_applies_each_request_exactly_once() {
    for old_copies_first in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("funds.db");
        let mut ex = Exchange::new(&accounts());
        let first_sink = RecordingSink::default();
        let mut runner = open(&path, service(&first_sink));
        catch_up(&mut runner, &ex.batches).expect("accounts");
        let conn = runner.conn();
        let reached = request_deposit(conn, 1, 1_000 * RUPEE, "dep-reached").expect("deposit");
        let lost = request_deposit(conn, 2, 500 * RUPEE, "dep-lost").expect("deposit");
        let reached_wd = request_withdrawal(conn, 1, 300 * RUPEE, "wd-reached").expect("withdrawal");
        catch_up(&mut runner, &ex.batches).expect("submit");
        let sent = first_sink.take();
        assert_eq!(
            sent,
            vec![
                Command::Deposit { client_ref: reached as u64, account: 1, amount: 1_000 * RUPEE },
                Command::Deposit { client_ref: lost as u64, account: 2, amount: 500 * RUPEE },
                Command::Withdraw { client_ref: reached_wd as u64, account: 1, amount: 300 * RUPEE },
            ],
            "each request's id travels as its client_ref"
        );
        // The crash: the process is gone with every request `submitted` and no answer.
        drop(runner);
        let in_flight: Vec<Command> =
            sent.into_iter().filter(|c| !matches!(c, Command::Deposit { account: 2, .. })).collect();

        // The restart catches up (the engine has answered nothing) and resubmits all three, in id
        // order.
        let sink = RecordingSink::default();
        let mut runner = open(&path, service(&sink));
        catch_up(&mut runner, &ex.batches).expect("catch up");
        let resent = sink.take();
        assert_eq!(resent.len(), 3, "{resent:?}");
        let ids: Vec<u64> = resent
            .iter()
            .map(|c| match *c {
                Command::Deposit { client_ref, .. } | Command::Withdraw { client_ref, .. } => client_ref,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ids, vec![reached as u64, lost as u64, reached_wd as u64]);

        // Both copies of the two in flight reach the engine, in one order or the other.
        let (first, then) = if old_copies_first { (&in_flight, &resent) } else { (&resent, &in_flight) };
        for c in first.iter().chain(then.iter()) {
            ex.apply(c);
        }
        settle(&mut runner, &mut ex, &sink);

        let conn = runner.conn();
        for id in [reached, lost, reached_wd] {
            let r = get_request(conn, id).expect("get").expect("request");
            assert_eq!((r.status, r.attempts), (RequestStatus::Completed, 2), "request {id}");
            assert_eq!(applied_and_posted(&ex, conn, id), (1, 1), "request {id}: one BalanceChanged, one entry");
        }
        let mut dups = duplicates(&ex);
        dups.sort();
        assert_eq!(dups, vec![reached as u64, reached_wd as u64], "the second copies were refused");
        assert_eq!(ex.engine.account(1).expect("account").cash, 700 * RUPEE);
        assert_eq!(ex.engine.account(2).expect("account").cash, 500 * RUPEE);
        assert_eq!(reconcile(conn, &ex.engine).expect("reconcile"), vec![]);
        let s = statement(conn, 1, None, None).expect("statement");
        let lines: Vec<(&str, i64)> = s.lines.iter().map(|l| (l.memo.as_str(), l.amount)).collect();
        assert_eq!(lines, vec![("deposit dep-reached", 1_000 * RUPEE), ("withdrawal wd-reached", -300 * RUPEE)]);

        // A second restart, with everything answered, sends nothing.
        drop(runner);
        let sink = RecordingSink::default();
        let mut runner = open(&path, service(&sink));
        catch_up(&mut runner, &ex.batches).expect("idle");
        assert!(sink.is_empty());
    }
}

/// The first copy of a withdrawal is refused for want of funds; the resubmitted copy, in flight
/// over a crash, arrives after a deposit and is applied. The engine does not consume a refused
/// client_ref, so the request ends `completed`, with one entry.
#[test]
fn a_refused_request_is_completed_if_its_resubmitted_copy_is_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    let mut ex = Exchange::new(&accounts());
    let first_sink = RecordingSink::default();
    let mut runner = open(&path, service(&first_sink));
    catch_up(&mut runner, &ex.batches).expect("accounts");
    let wd = request_withdrawal(runner.conn(), 1, 50 * RUPEE, "wd").expect("withdrawal");
    catch_up(&mut runner, &ex.batches).expect("submit");
    drop(runner);
    let in_flight = first_sink.take();

    let sink = RecordingSink::default();
    let mut runner = open(&path, service(&sink));
    catch_up(&mut runner, &ex.batches).expect("catch up and resubmit");
    let resent = sink.take();
    assert_eq!(resent, in_flight);
    ex.apply(&in_flight[0]); // refused: the account is empty
    catch_up(&mut runner, &ex.batches).expect("refusal");
    let r = get_request(runner.conn(), wd).expect("get").expect("wd");
    assert_eq!((r.status, r.reject_reason.as_deref()), (RequestStatus::Rejected, Some("InsufficientFunds")));
    ex.apply(&Command::Deposit { client_ref: 0, account: 1, amount: 100 * RUPEE });
    ex.apply(&resent[0]); // applied
    catch_up(&mut runner, &ex.batches).expect("the copy");
    let r = get_request(runner.conn(), wd).expect("get").expect("wd");
    assert_eq!((r.status, r.reject_reason), (RequestStatus::Completed, None));
    assert_eq!(applied_and_posted(&ex, runner.conn(), wd), (1, 1));
    assert_eq!(ex.engine.account(1).expect("account").cash, 50 * RUPEE);
    assert_eq!(reconcile(runner.conn(), &ex.engine).expect("reconcile"), vec![]);
}

/// Another producer applies a larger client_ref to the account first: the engine refuses the
/// service's request as a duplicate without ever applying it, and the request is rejected (no
/// money moved) rather than taken for applied.
#[test]
fn a_duplicate_refusal_of_a_request_never_applied_rejects_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ex = Exchange::new(&accounts());
    let sink = RecordingSink::default();
    let mut runner = open(&dir.path().join("funds.db"), service(&sink));
    catch_up(&mut runner, &ex.batches).expect("accounts");
    ex.apply(&Command::Deposit { client_ref: 1_000_000, account: 1, amount: 10 * RUPEE });
    let id = request_deposit(runner.conn(), 1, 20 * RUPEE, "mine").expect("deposit");
    settle(&mut runner, &mut ex, &sink);
    let r = get_request(runner.conn(), id).expect("get").expect("request");
    assert_eq!((r.status, r.reject_reason.as_deref()), (RequestStatus::Rejected, Some("DuplicateRequest")));
    assert_eq!(applied_and_posted(&ex, runner.conn(), id), (0, 0));
    assert_eq!(balances(runner.conn(), 1).expect("balances").cash, 10 * RUPEE);
    assert_eq!(reconcile(runner.conn(), &ex.engine).expect("reconcile"), vec![]);
}
