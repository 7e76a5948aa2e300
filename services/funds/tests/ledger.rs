//! The ledger against a real trading day: it reconciles with the engine to the paisa, every
//! entry balances, the database refuses unbalanced entries, and crashes lose or duplicate nothing.

use engine_core::{BalanceReason, Event};
use rusqlite::Connection;
use services_core::testkit::{catch_up, dump, open, TS0};
use services_core::testkit::{run_engine, trading_day, Interrupted, Interruption, FEE_ACCOUNT};
use services_core::{EventBatch, Service, ServiceRunner};
use services_funds::{audit, balances, blocked_statement, reconcile, statement, FundsService};

fn day() -> (engine_core::Engine, Vec<EventBatch>) {
    run_engine(&trading_day(20, 2_000, 7), TS0)
}

/// Sum of the signed legs of each entry that does not sum to zero.
fn unbalanced(conn: &Connection) -> Vec<(i64, i64)> {
    conn.prepare(
        "SELECT id, amount1 + amount2 + COALESCE(amount3, 0) + COALESCE(amount4, 0) AS s FROM journal_entries
          WHERE s != 0",
    )
    .expect("prepare")
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

#[test]
fn a_trading_day_reconciles_with_the_engine_to_the_paisa() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, batches) = day();
    let mut runner = open(&dir.path().join("funds.db"), FundsService::ledger_only());
    catch_up(&mut runner, &batches).expect("apply the day");
    assert_eq!(runner.last_seq(), batches.len() as u64);
    let conn = runner.conn();

    assert_eq!(reconcile(conn, &engine).expect("reconcile"), vec![], "ledger and engine agree");
    let a = audit(conn).expect("audit");
    assert!(a.is_clean(), "{a:?}");
    assert!(a.entries > 1_000, "{} entries", a.entries);
    assert_eq!(unbalanced(conn), vec![], "every entry's legs sum to zero");

    // Every movement kind happened and was journalled.
    let events = batches.iter().flat_map(|b| &b.events);
    let (mut deposits, mut withdrawals, mut trades, mut settlements, mut conversions) = (0, 0, 0, 0, 0);
    let mut risks = 0;
    for e in events {
        match e {
            Event::AccountRisk { .. } => risks += 1,
            Event::BalanceChanged { reason: BalanceReason::Deposit, .. } => deposits += 1,
            Event::BalanceChanged { reason: BalanceReason::Withdrawal, .. } => withdrawals += 1,
            Event::BalanceChanged { reason: BalanceReason::MisSettlement, .. } => settlements += 1,
            Event::BalanceChanged { reason: BalanceReason::MisConversion, .. } => conversions += 1,
            Event::Trade(_) => trades += 1,
            _ => {}
        }
    }
    let kinds = |k: &str| count(conn, &format!("SELECT COUNT(*) FROM journal_entries WHERE kind = '{k}'"));
    assert_eq!(kinds("deposit"), deposits);
    assert_eq!(kinds("withdrawal"), withdrawals);
    assert_eq!(kinds("trade"), 2 * trades, "an entry per side of every fill");
    assert_eq!(kinds("fee"), 0, "brokerage is paid inside the fill's entries");
    assert_eq!(
        count(conn, "SELECT COUNT(*) FROM journal_entries WHERE kind = 'trade' AND fee_account IS NULL"),
        0,
        "every fill paid brokerage"
    );
    // The exchange account passes each fill's value from buyer to seller and keeps nothing.
    assert_eq!(services_funds::balance(conn, "exchange").expect("exchange"), 0);
    assert_eq!(kinds("mis_settlement"), settlements);
    assert_eq!(kinds("mis_conversion"), conversions);
    assert_eq!(count(conn, "SELECT COUNT(*) FROM journal_blocks"), risks, "one block entry per AccountRisk");
    assert!(withdrawals > 0 && conversions > 0, "{withdrawals} withdrawals, {conversions} conversions");

    // Conservation: the bank holds what all accounts and open intraday positions add up to.
    let bank = services_funds::balance(conn, "bank").expect("bank");
    let total: i64 =
        engine.accounts().map(|a| a.cash).sum::<i64>() + engine.positions().map(|p| p.mis_value).sum::<i64>();
    assert_eq!(bank, total);
    let fees = balances(conn, FEE_ACCOUNT).expect("fees");
    assert!(fees.cash > 0);
    assert_eq!(fees.cash, engine.account(FEE_ACCOUNT).expect("fee account").cash);

    // A statement ends at the engine's cash, its running balance adding up line by line; the
    // blocked statement ends at the engine's reserved and margin.
    for account in 1..=20 {
        let view = engine.account(account).expect("account");
        let b = balances(conn, account).expect("balances");
        assert_eq!(
            (b.cash, b.available, b.reserved, b.margin),
            (view.cash, view.available, view.reserved, view.margin),
            "account {account}"
        );
        let blocked = blocked_statement(conn, account, None, None).expect("blocked statement");
        assert_eq!(blocked.opening, (0, 0));
        assert_eq!(blocked.closing, (view.reserved, view.margin));
        let (mut r, mut m) = (0, 0);
        for line in &blocked.lines {
            r += line.reserved_delta;
            m += line.margin_delta;
            assert_eq!((line.reserved, line.margin), (r, m), "account {account} entry {}", line.entry_id);
        }
        let s = statement(conn, account, None, None).expect("statement");
        assert!(s.lines.iter().all(|l| l.kind != "block"), "the cash statement leaves out blocking");
        assert_eq!(s.opening_balance, 0);
        assert_eq!(s.closing_balance, engine.account(account).expect("account").cash);
        let mut running = 0;
        for line in &s.lines {
            running += line.amount;
            assert_eq!(line.balance, running, "account {account} entry {}", line.entry_id);
        }
        assert!(s.lines.windows(2).all(|w| w[0].entry_id < w[1].entry_id && w[0].ts_ns <= w[1].ts_ns));
        // A date range: the opening balance carries everything before it.
        let mid = s.lines[s.lines.len() / 2].ts_ns;
        let r = statement(conn, account, Some(mid), Some(mid + 50_000_000)).expect("range");
        assert!(r.lines.iter().all(|l| l.ts_ns >= mid && l.ts_ns < mid + 50_000_000));
        let before: i64 = s.lines.iter().filter(|l| l.ts_ns < mid).map(|l| l.amount).sum();
        assert_eq!(r.opening_balance, before);
        assert_eq!(r.closing_balance, before + r.lines.iter().map(|l| l.amount).sum::<i64>());
    }
}

#[test]
fn the_database_refuses_unbalanced_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, batches) = run_engine(&trading_day(4, 200, 3), TS0);
    let mut runner = open(&dir.path().join("funds.db"), FundsService::ledger_only());
    catch_up(&mut runner, &batches).expect("apply");
    let conn = runner.conn();
    let before = dump(conn);
    let bank: i64 =
        conn.query_row("SELECT id FROM ledger_accounts WHERE code = 'bank'", [], |r| r.get(0)).expect("bank");
    let cash: i64 =
        conn.query_row("SELECT id FROM ledger_accounts WHERE code = 'cash:1'", [], |r| r.get(0)).expect("cash");
    let fee: i64 =
        conn.query_row("SELECT id FROM ledger_accounts WHERE code = 'cash:2'", [], |r| r.get(0)).expect("cash:2");
    let exchange: i64 =
        conn.query_row("SELECT id FROM ledger_accounts WHERE code = 'exchange'", [], |r| r.get(0)).expect("exchange");
    // An entry with the given legs, each `(account, signed amount)`, debits positive.
    let entry = |legs: &str| {
        conn.execute(
            &format!(
                "INSERT INTO journal_entries (id, ts_ns, kind, engine_account, memo, account1, amount1, account2, amount2,
                                              account3, amount3, account4, amount4)
                 VALUES (999999 << 20, 0, 'deposit', 1, 'forged', {legs})"
            ),
            [],
        )
    };
    let refused = |legs: &str, why: &str| {
        let err = entry(legs).expect_err(why).to_string();
        assert!(err.contains("constraint failed") || err.contains("cannot store REAL"), "{why}: {err}");
    };

    refused(&format!("{bank}, 100, {cash}, -99, NULL, NULL, NULL, NULL"), "legs that differ by a paisa");
    refused(&format!("{bank}, 100, {cash}, -100, {fee}, 1, NULL, NULL"), "a third leg that unbalances");
    refused(&format!("{bank}, 100, {cash}, -50, {fee}, -50, {exchange}, 1"), "a fourth leg that unbalances");
    refused(&format!("{bank}, 100, NULL, NULL, NULL, NULL, NULL, NULL"), "one leg");
    refused(&format!("{bank}, 0, {cash}, 0, NULL, NULL, NULL, NULL"), "zero amounts");
    refused(&format!("{bank}, 100, {cash}, -100, {fee}, NULL, NULL, NULL"), "a third account without an amount");
    refused(&format!("{bank}, 100, {cash}, -90, NULL, NULL, {fee}, -10"), "a fourth leg without a third");
    refused(&format!("{bank}, 100, {bank}, -100, NULL, NULL, NULL, NULL"), "the same account twice");
    refused(&format!("{bank}, 100, {cash}, -40, {fee}, -50, {cash}, -10"), "the same account as the fourth leg");
    refused(&format!("{bank}, 1.5, {cash}, -1.5, NULL, NULL, NULL, NULL"), "paise are integers");
    refused(&format!("{bank}, 100, 999999, -100, NULL, NULL, NULL, NULL"), "an account that does not exist");
    // Legs that balance only in floating point: the sum overflows 64 bits and rounds to zero.
    refused(
        &format!("{bank}, 4611686018427387904, {cash}, 4611686018427387905, {fee}, -9223372036854775808, NULL, NULL"),
        "an overflowing sum",
    );

    // A block entry moves something, in paise.
    let block = |reserved: &str, margin: &str| {
        conn.execute(
            &format!(
                "INSERT INTO journal_blocks (engine_account, id, ts_ns, reserved, margin)
                 VALUES (1, 999999 << 20, 0, {reserved}, {margin})"
            ),
            [],
        )
    };
    for (reserved, margin, why) in [("0", "0", "a block of nothing"), ("1.5", "0", "paise are integers")] {
        let err = block(reserved, margin).expect_err(why).to_string();
        assert!(err.contains("constraint failed") || err.contains("cannot store REAL"), "{why}: {err}");
    }

    // Posted entries can be neither changed nor removed.
    assert!(conn.execute("UPDATE journal_blocks SET reserved = reserved + 1", []).is_err());
    assert!(conn.execute("DELETE FROM journal_blocks", []).is_err());
    assert!(conn.execute("UPDATE journal_entries SET amount1 = amount1 + 1, amount2 = amount2 - 1", []).is_err());
    assert!(conn.execute("UPDATE journal_entries SET memo = 'edited'", []).is_err());
    assert!(conn.execute("DELETE FROM journal_entries", []).is_err());
    assert!(conn.execute("DELETE FROM ledger_accounts WHERE code = 'bank'", []).is_err());

    // A balanced entry is fine (and the failed attempts left no trace); written outside the
    // service, it leaves the cached balances stale and client 1's chain without it, which the
    // audit reports.
    assert_eq!(dump(conn), before);
    assert!(audit(conn).expect("audit").is_clean());
    entry(&format!("{bank}, 100, {cash}, -100, NULL, NULL, NULL, NULL")).expect("a balanced entry");
    let a = audit(conn).expect("audit");
    assert!(a.unbalanced_entries.is_empty() && a.trial_balance == 0, "{a:?}");
    assert_eq!(a.stale_balances, vec!["bank".to_string(), "cash:1".to_string()]);
    assert_eq!(a.broken_chains, vec![format!("entry {}", 999_999i64 << 20), "client 1".to_string()]);
}

#[test]
fn a_crash_at_any_point_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, batches) = run_engine(&trading_day(10, 1_000, 11), TS0);
    let n = batches.len();
    let reference = {
        let mut r = open(&dir.path().join("reference.db"), FundsService::ledger_only());
        catch_up(&mut r, &batches).expect("reference");
        assert_eq!(reconcile(r.conn(), &engine).expect("reconcile"), vec![]);
        dump(r.conn())
    };

    // Stop after K batches, reopen, resume from the cursor.
    for (i, k) in [1, 7, 100, n / 2, n - 1].into_iter().enumerate() {
        let path = dir.path().join(format!("stop{i}.db"));
        let mut r = open(&path, FundsService::ledger_only());
        r.batch_max = 16;
        catch_up(&mut r, &batches[..k]).expect("first part");
        assert_eq!(r.last_seq(), k as u64);
        drop(r);
        let mut r = open(&path, FundsService::ledger_only());
        assert_eq!(r.last_seq(), k as u64);
        catch_up(&mut r, &batches).expect("the rest");
        assert_eq!(dump(r.conn()), reference, "stopped after {k} batches");
    }

    // A failure in the middle of a transaction rolls the whole transaction back.
    for (i, at) in [5u64, 300, n as u64 - 2].into_iter().enumerate() {
        let path = dir.path().join(format!("fail{i}.db"));
        let mut r =
            open(&path, Interrupted { inner: FundsService::ledger_only(), at: Some(at), how: Interruption::Fail });
        r.batch_max = 64;
        let err = catch_up(&mut r, &batches).expect_err("the injected failure");
        assert!(err.to_string().contains("injected"), "{err}");
        let cursor = r.last_seq();
        assert!(cursor < at, "cursor {cursor}, failed at {at}");
        drop(r);
        let mut r = open(&path, FundsService::ledger_only());
        assert_eq!(r.last_seq(), cursor, "nothing of the failed transaction was kept");
        catch_up(&mut r, &batches).expect("the rest");
        assert_eq!(dump(r.conn()), reference, "failed at {at}");
    }
}

/// The child half of [`a_killed_process_resumes_exactly_once`]: applies the day and aborts the
/// process inside the transaction that holds `FUNDS_CRASH_AT`. Does nothing without the variables.
#[test]
fn crash_child() {
    let (Ok(db), Ok(at)) = (std::env::var("FUNDS_CRASH_DB"), std::env::var("FUNDS_CRASH_AT")) else { return };
    let at: u64 = at.parse().expect("seq");
    let (_, batches) = run_engine(&trading_day(10, 1_000, 11), TS0);
    let mut r = ServiceRunner::open(
        std::path::Path::new(&db),
        Interrupted { inner: FundsService::ledger_only(), at: Some(at), how: Interruption::Abort },
    )
    .expect("open");
    r.batch_max = 50;
    let _ = catch_up(&mut r, &batches);
    unreachable!("the child aborts before the end");
}

#[test]
fn a_killed_process_resumes_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, batches) = run_engine(&trading_day(10, 1_000, 11), TS0);
    let reference = {
        let mut r = open(&dir.path().join("reference.db"), FundsService::ledger_only());
        catch_up(&mut r, &batches).expect("reference");
        dump(r.conn())
    };
    let path = dir.path().join("killed.db");
    let at = 777u64;
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("FUNDS_CRASH_DB", &path)
        .env("FUNDS_CRASH_AT", at.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the child");
    assert!(!status.success(), "the child must die");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(6), "killed by SIGABRT inside the transaction: {status:?}");
    }
    let mut r = open(&path, FundsService::ledger_only());
    let cursor = r.last_seq();
    assert!(cursor > 0 && cursor < at, "cursor {cursor}: only whole transactions before the crash survive");
    catch_up(&mut r, &batches).expect("resume");
    assert_eq!(reconcile(r.conn(), &engine).expect("reconcile"), vec![]);
    assert_eq!(dump(r.conn()), reference);
}

#[test]
fn a_replayed_batch_cannot_post_twice() {
    // A replayed batch cannot post twice, even bypassing the runner's cursor: the service finds
    // its books no longer match the engine's, and the database refuses a second entry or block
    // entry of the same (seq, ordinal).
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, batches) = run_engine(&trading_day(3, 100, 5), TS0);
    let mut r = open(&dir.path().join("funds.db"), FundsService::ledger_only());
    catch_up(&mut r, &batches).expect("apply");
    let deposit = batches
        .iter()
        .find(|b| b.events.iter().any(|e| matches!(e, Event::BalanceChanged { reason: BalanceReason::Deposit, .. })))
        .expect("a deposit batch")
        .clone();
    let conn = r.conn();
    let tx = conn.unchecked_transaction().expect("tx");
    let mut again = FundsService::ledger_only();
    let err = again.apply(&tx, &deposit).expect_err("a duplicate batch");
    assert!(err.to_string().contains("engine cash"), "{err}");
    drop(tx);
    let copy = |table: &str, columns: &str| {
        conn.execute(&format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} LIMIT 1"), [])
            .expect_err("a second entry of the same id")
            .to_string()
    };
    let entry = copy("journal_entries", "id, ts_ns, kind, engine_account, memo, account1, amount1, account2, amount2");
    assert!(entry.contains("UNIQUE constraint failed: journal_entries.id"), "{entry}");
    let block = copy("journal_blocks", "engine_account, id, ts_ns, reserved, margin");
    assert!(block.contains("UNIQUE constraint failed: journal_blocks.id"), "{block}");
}

/// An order blocks cash, a fill and a cancel release it, an intraday fill turns it into margin:
/// each command's `AccountRisk` becomes one balanced `block` entry between the client's free cash
/// and its reserved and margin accounts, and the three always add up to the engine's cash.
#[test]
fn blocked_cash_moves_between_free_reserved_and_margin() {
    use engine_core::{AccountLimits, Command, Product, Side};
    use services_core::testkit::{Exchange, INFY};
    let order =
        |account, side, product, price, qty| services_core::testkit::limit(1, account, INFY, side, product, price, qty);
    let setup = &trading_day(0, 0, 1)[..2]; // the two instruments
    let mut ex = Exchange::new(setup);
    for account in 1..=2 {
        ex.apply(&Command::CreateAccount { account, limits: AccountLimits::default() });
        ex.apply(&Command::ActivateAccount { account });
        ex.apply(&Command::Deposit { client_ref: 0, account, amount: 10_000_000 });
    }
    ex.apply(&Command::DepositHoldings { account: 2, token: INFY, qty: 100 });
    ex.apply(&Command::OpenSession);
    ex.apply(&order(1, Side::Buy, Product::Cnc, 149_000, 10)); // order 1 blocks 1_490_000
    ex.apply(&order(2, Side::Sell, Product::Cnc, 149_000, 4)); // fills 4: releases 596_000
    ex.apply(&Command::Cancel { client_ref: 2, account: 1, order_id: 1 }); // releases the rest
    ex.apply(&order(2, Side::Sell, Product::Cnc, 150_000, 10)); // order 3: a CNC sell blocks no cash
    ex.apply(&order(1, Side::Buy, Product::Mis, 150_000, 10)); // MIS fill: margin 10 * 150_000 / 5

    let dir = tempfile::tempdir().expect("tempdir");
    let mut runner = open(&dir.path().join("funds.db"), FundsService::ledger_only());
    catch_up(&mut runner, &ex.batches).expect("apply");
    let conn = runner.conn();
    assert_eq!(reconcile(conn, &ex.engine).expect("reconcile"), vec![]);
    assert!(audit(conn).expect("audit").is_clean());

    let blocked = blocked_statement(conn, 1, None, None).expect("blocked");
    let moves: Vec<(i64, i64, i64, i64)> =
        blocked.lines.iter().map(|l| (l.reserved_delta, l.margin_delta, l.reserved, l.margin)).collect();
    assert_eq!(
        moves,
        vec![(1_490_000, 0, 1_490_000, 0), (-596_000, 0, 894_000, 0), (-894_000, 0, 0, 0), (0, 300_000, 0, 300_000),]
    );
    assert!(blocked_statement(conn, 2, None, None).expect("blocked").lines.is_empty(), "CNC sells block no cash");
    let cash_after_buy = 10_000_000 - 4 * 149_000;
    let b = balances(conn, 1).expect("balances");
    assert_eq!((b.cash, b.available, b.reserved, b.margin), (cash_after_buy, cash_after_buy - 300_000, 0, 300_000));
    let view = ex.engine.account(1).expect("account");
    assert_eq!((view.cash, view.available, view.margin), (b.cash, b.available, b.margin));
    // Only block entries move blocked cash: no journal entry has a leg on a reserved or margin account.
    let outside = count(
        conn,
        "SELECT COUNT(*) FROM journal_entries e
           JOIN ledger_accounts a ON a.id IN (e.account1, e.account2, e.account3, e.account4)
          WHERE a.kind IN ('reserved', 'margin')",
    );
    assert_eq!(outside, 0);
    // The cash statement shows the money, not the blocking.
    let s = statement(conn, 1, None, None).expect("statement");
    let kinds: Vec<&str> = s.lines.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, vec!["deposit", "trade"]);
    assert_eq!(s.closing_balance, view.cash);
}

#[test]
fn a_database_of_the_older_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    let conn = services_core::open_db(&path).expect("open");
    conn.execute_batch(
        "CREATE TABLE ledger_accounts (
             id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE,
             kind TEXT NOT NULL CHECK (kind IN ('bank', 'cash', 'mis_clearing')),
             engine_account INTEGER, token INTEGER, normal_side TEXT NOT NULL, balance INTEGER NOT NULL DEFAULT 0
         ) STRICT;",
    )
    .expect("old table");
    drop(conn);
    let err = ServiceRunner::open(&path, FundsService::ledger_only()).expect_err("an old database");
    assert!(err.to_string().contains("predates the reserved and margin"), "{err}");
}

/// A version 1 database (one row per line, balanced by triggers) with a deposit that a request
/// names, a three-line fee, a two-line block and an entry whose lines cancel out.
fn v1_database(path: &std::path::Path, extra: &str) {
    let conn = services_core::open_db(path).expect("open");
    conn.execute_batch(include_str!("fixtures/funds_v1.sql")).expect("version 1 schema");
    conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO ledger_accounts (id, code, kind, engine_account, normal_side) VALUES
             (2, 'cash:1', 'cash', 1, 'C'), (3, 'cash:2', 'cash', 2, 'C'), (4, 'cash:0', 'cash', 0, 'C'),
             (5, 'reserved:1', 'reserved', 1, 'C');
         INSERT INTO funds_requests (id, account, kind, amount, reference) VALUES (1, 1, 'deposit', 100000, 'ref-1');
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, request_id, memo)
             VALUES (10, 5, 0, 1000, 'deposit', 1, 1, 'deposit ref-1');
         INSERT INTO journal_lines VALUES (10, 0, 1, 'D', 100000), (10, 1, 2, 'C', 100000);
         UPDATE funds_requests SET status = 'completed', entry_id = 10, resolved_seq = 5 WHERE id = 1;
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, memo)
             VALUES (11, 6, 0, 2000, 'deposit', 2, 'deposit');
         INSERT INTO journal_lines VALUES (11, 0, 1, 'D', 50000), (11, 1, 3, 'C', 50000);
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, trade_id, memo)
             VALUES (12, 7, 0, 3000, 'fee', 1, 'brokerage, trade 1');
         INSERT INTO journal_lines VALUES (12, 0, 2, 'D', 20), (12, 1, 3, 'D', 20), (12, 2, 4, 'C', 40);
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, memo)
             VALUES (13, 8, 0, 4000, 'block', 1, 'blocked: reserved 700, margin 0');
         INSERT INTO journal_lines VALUES (13, 0, 5, 'C', 700), (13, 1, 2, 'D', 700);
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, memo)
             VALUES (14, 9, 0, 5000, 'block', 1, 'blocked and released');
         INSERT INTO journal_lines VALUES (14, 0, 5, 'C', 9), (14, 1, 5, 'D', 9);
         {extra}
         COMMIT;"
    ))
    .expect("version 1 rows");
}

/// An entry as stored: id, kind, client, then the first three legs.
type Row = (i64, String, i64, i64, i64, i64, i64, Option<i64>, Option<i64>);

/// Every entry, in id order.
fn rows(conn: &Connection) -> Vec<Row> {
    conn.prepare(
        "SELECT id, kind, engine_account, account1, amount1, account2, amount2, account3, amount3
           FROM journal_entries ORDER BY id",
    )
    .expect("prepare")
    .query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// Every block entry: client, id, reserved and margin changes.
fn blocks(conn: &Connection) -> Vec<(i64, i64, i64, i64)> {
    conn.prepare("SELECT engine_account, id, reserved, margin FROM journal_blocks ORDER BY engine_account, id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Every ledger account's code and balance, in id order.
fn account_balances(conn: &Connection) -> Vec<(String, i64)> {
    let mut stmt = conn.prepare("SELECT code, balance FROM ledger_accounts ORDER BY id").expect("prepare");
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_, _>>();
    rows.expect("rows")
}

/// An entry's id: `seq << 20 | ordinal`.
fn id(seq: i64, ordinal: i64) -> i64 {
    seq << 20 | ordinal
}

/// The older database at `path`'s balances, and a runner on it converted.
fn convert(path: &std::path::Path) -> (Vec<(String, i64)>, ServiceRunner<FundsService>) {
    let balances_before = account_balances(&services_core::open_db(path).expect("open"));
    (balances_before, ServiceRunner::open(path, FundsService::ledger_only()).expect("converted"))
}

/// What a converted database must hold besides its entries: the balances it had, plus an empty
/// exchange account; the request naming its entry through an enforced foreign key; no trace of
/// the old tables; and the current checks.
fn assert_converted(conn: &Connection, balances_before: &[(String, i64)], request_entry: i64) {
    let mut expected = balances_before.to_vec();
    expected.push(("exchange".to_string(), 0));
    assert_eq!(account_balances(conn), expected);
    let a = audit(conn).expect("audit");
    assert!(a.is_clean(), "{a:?}");
    for gone in ["journal_lines", "ledger_balance_guard", "journal_entries_v3", "ledger_accounts_v3", "old_legs"] {
        assert_eq!(count(conn, &format!("SELECT COUNT(*) FROM sqlite_master WHERE name = '{gone}'")), 0, "{gone}");
    }
    assert_eq!(count(conn, "SELECT entry_id FROM funds_requests WHERE id = 1"), request_entry);
    let parent: String = conn
        .query_row("SELECT \"table\" FROM pragma_foreign_key_list('funds_requests')", [], |r| r.get(0))
        .expect("fk");
    assert_eq!(parent, "journal_entries");
    assert_eq!(count(conn, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    assert!(conn.execute("UPDATE funds_requests SET entry_id = 999 WHERE id = 1", []).is_err(), "enforced");
    assert!(
        conn.execute(
            "INSERT INTO journal_entries (id, ts_ns, kind, engine_account, memo, account1, amount1, account2, amount2)
             VALUES (20 << 20, 0, 'deposit', 1, 'x', 1, 10, 2, -9)",
            [],
        )
        .is_err(),
        "an unbalanced entry"
    );
}

#[test]
fn a_version_1_database_is_converted_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    v1_database(&path, "");
    let (balances_before, runner) = convert(&path);
    assert_eq!(balances_before[1], ("cash:1".to_string(), 100_000 - 20 - 700));
    let conn = runner.conn();
    // Accounts: 1 bank, 2 cash:1, 3 cash:2, 4 cash:0 (fees), 5 reserved:1, 6 the new exchange.
    assert_eq!(
        rows(conn),
        vec![
            (id(5, 0), "deposit".into(), 1, 1, 100_000, 2, -100_000, None, None),
            (id(6, 0), "deposit".into(), 2, 1, 50_000, 3, -50_000, None, None),
            (id(7, 0), "fee".into(), 1, 2, 20, 6, -20, None, None),
            (id(7, 1), "fee".into(), 2, 3, 20, 6, -20, None, None),
            (id(7, 2), "fee".into(), 0, 4, -40, 6, 40, None, None),
        ],
        "lines netted per account into legs; the fee of no single client cut into one entry per client \
         against the exchange account"
    );
    assert_eq!(
        blocks(conn),
        vec![(1, id(8, 0), 700, 0)],
        "the block moved to the block entries; the one that moved nothing dropped"
    );
    let a = audit(conn).expect("audit");
    assert_eq!((a.entries, a.legs), (6, 12));
    assert_converted(conn, &balances_before, id(5, 0));
}

/// A version 2 database (one row per entry, up to three legs, a trade of two clients and its fee
/// of three) with a deposit that a request names.
fn v2_database(path: &std::path::Path) {
    let conn = services_core::open_db(path).expect("open");
    conn.execute_batch(include_str!("fixtures/funds_v2.sql")).expect("version 2 schema");
    conn.execute_batch(
        "BEGIN;
         INSERT INTO ledger_accounts (id, code, kind, engine_account, token, normal_side, balance) VALUES
             (2, 'cash:1', 'cash', 1, NULL, 'C', 99180), (3, 'cash:2', 'cash', 2, NULL, 'C', 49980),
             (4, 'cash:0', 'cash', 0, NULL, 'C', 40), (5, 'reserved:1', 'reserved', 1, NULL, 'C', 0),
             (6, 'mis:2:7', 'mis_clearing', 2, 7, 'C', 800);
         UPDATE ledger_accounts SET balance = 150000 WHERE code = 'bank';
         INSERT INTO funds_requests (id, account, kind, amount, reference) VALUES (1, 1, 'deposit', 100000, 'ref-1');
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, request_id, memo,
                                      account1, amount1, account2, amount2)
             VALUES (1, 5, 0, 1000, 'deposit', 1, 1, 'deposit ref-1', 1, 100000, 2, -100000),
                    (2, 6, 0, 2000, 'deposit', 2, NULL, 'deposit', 1, 50000, 3, -50000),
                    (3, 7, 0, 3000, 'block', 1, NULL, 'blocked: reserved 800, margin 0', 2, 800, 5, -800);
         UPDATE funds_requests SET status = 'completed', entry_id = 1, resolved_seq = 5 WHERE id = 1;
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, token, trade_id, memo,
                                      account1, amount1, account2, amount2, account3, amount3)
             VALUES (4, 8, 0, 4000, 'trade', 7, 1, 'trade 1: 2 x 7 @ 400', 2, 800, 6, -800, NULL, NULL),
                    (5, 8, 1, 4000, 'fee', 7, 1, 'brokerage, trade 1', 2, 20, 3, 20, 4, -40);
         INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, memo, account1, amount1, account2, amount2)
             VALUES (6, 8, 2, 4000, 'block', 1, 'blocked: reserved 0, margin 0', 5, 800, 2, -800);
         COMMIT;",
    )
    .expect("version 2 rows");
}

#[test]
fn a_version_2_database_is_converted_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    v2_database(&path);
    let (balances_before, runner) = convert(&path);
    let conn = runner.conn();
    // Accounts: 1 bank, 2 cash:1, 3 cash:2, 4 cash:0 (fees), 5 reserved:1, 6 mis:2:7, 7 exchange.
    assert_eq!(
        rows(conn),
        vec![
            (id(5, 0), "deposit".into(), 1, 1, 100_000, 2, -100_000, None, None),
            (id(6, 0), "deposit".into(), 2, 1, 50_000, 3, -50_000, None, None),
            (id(8, 0), "trade".into(), 1, 2, 800, 7, -800, None, None),
            (id(8, 1), "trade".into(), 2, 6, -800, 7, 800, None, None),
            (id(8, 2), "fee".into(), 1, 2, 20, 7, -20, None, None),
            (id(8, 3), "fee".into(), 2, 3, 20, 7, -20, None, None),
            (id(8, 4), "fee".into(), 0, 4, -40, 7, 40, None, None),
        ],
        "entries of one client kept whole, the trade and the fee cut into one entry per client against the \
         exchange account, in the old order within each seq"
    );
    assert_eq!(blocks(conn), vec![(1, id(7, 0), 800, 0), (1, id(8, 5), -800, 0)]);
    let a = audit(conn).expect("audit");
    assert_eq!((a.entries, a.legs), (9, 18));
    assert_converted(conn, &balances_before, id(5, 0));
    // Each client's statement still finds its trade and fee.
    let s = statement(conn, 1, None, None).expect("statement");
    assert_eq!(
        s.lines.iter().map(|l| (l.kind.as_str(), l.amount)).collect::<Vec<_>>(),
        [("deposit", 100_000), ("trade", -800), ("fee", -20)]
    );
    assert_eq!(s.closing_balance, 100_000 - 800 - 20);
    let fees = statement(conn, 0, None, None).expect("fee account");
    assert_eq!(fees.closing_balance, 40);
}

#[test]
fn a_version_1_entry_of_five_accounts_stops_the_conversion_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("funds.db");
    v1_database(
        &path,
        "INSERT INTO journal_entries (id, seq, ordinal, ts_ns, kind, engine_account, memo)
             VALUES (15, 10, 0, 6000, 'deposit', 1, 'wide');
         INSERT INTO journal_lines VALUES (15, 0, 1, 'D', 12), (15, 1, 2, 'C', 3), (15, 2, 3, 'C', 3),
             (15, 3, 4, 'C', 3), (15, 4, 5, 'C', 3);",
    );
    let err = ServiceRunner::open(&path, FundsService::ledger_only()).expect_err("refused");
    assert!(err.to_string().contains("entry 15 moves more than four accounts"), "{err}");
    let conn = services_core::open_db(&path).expect("open");
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM journal_lines"), 16, "still version 1");
}
