//! Holdings and positions against a real engine: quantities reconcile exactly, P&L is
//! hand-checked, and crashes lose or duplicate nothing.

use std::collections::BTreeMap;

use engine_core::{AccountLimits, Command, Event, InstrumentSpec, Product, Side, Symbol, Token};
use rusqlite::Connection;
use services_core::testkit::{catch_up, dump, open, Exchange, TS0};
use services_core::testkit::{run_engine, trading_day, Interrupted, Interruption};
use services_portfolio::{holding, holdings, last_price, position, positions, reconcile, PortfolioService};

fn all_positions(conn: &Connection, accounts: u32) -> Vec<services_portfolio::Position> {
    (0..=accounts).flat_map(|a| positions(conn, a).expect("positions")).collect()
}

#[test]
fn a_trading_day_reconciles_with_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, batches) = run_engine(&trading_day(20, 2_000, 7), TS0);
    let mut runner = open(&dir.path().join("portfolio.db"), PortfolioService::new());
    catch_up(&mut runner, &batches).expect("apply the day");
    let conn = runner.conn();
    assert_eq!(reconcile(conn, &engine).expect("reconcile"), vec![]);

    // Every engine holding shows up, with the engine's quantity.
    let mut held = 0;
    for p in engine.positions().filter(|p| p.holdings != 0) {
        let h = holding(conn, p.account, p.token).expect("holding").expect("present");
        assert_eq!(h.quantity, p.holdings);
        assert_eq!(h.pnl, h.realized_pnl + h.unrealized_pnl);
        held += 1;
    }
    assert!(held >= 40, "{held} holdings");
    let ps = all_positions(conn, 20);
    assert!(ps.iter().any(|p| p.product == Product::Mis) && ps.iter().any(|p| p.product == Product::Cnc));
    // Every fill has a buyer and a seller.
    let sum = |f: fn(&services_portfolio::Position) -> i64| ps.iter().map(f).sum::<i64>();
    assert_eq!(sum(|p| p.day_buy_quantity), sum(|p| p.day_sell_quantity));
    assert_eq!(sum(|p| p.day_buy_value), sum(|p| p.day_sell_value));
    // Square-off left no intraday quantity open.
    assert!(ps.iter().filter(|p| p.product == Product::Mis).all(|p| p.quantity == 0));
    // The last traded price is the last trade's.
    let mut ltp: BTreeMap<Token, i64> = BTreeMap::new();
    for e in batches.iter().flat_map(|b| &b.events) {
        if let Event::Trade(t) = e {
            ltp.insert(t.token, t.price);
        }
    }
    for (token, price) in ltp {
        assert_eq!(last_price(conn, token).expect("ltp"), Some(price));
        assert_eq!(engine.instrument(token).expect("instrument").last_price, price);
    }
}

#[test]
fn pnl_is_zero_sum_across_the_market() {
    // Stop before square-off: every open position is marked at its instrument's last price, so
    // what some gained the others lost, to the paisa.
    let commands = trading_day(12, 1_500, 9);
    let cut = commands.iter().position(|c| matches!(c, Command::SquareOffMis { .. })).expect("square-off");
    let (engine, batches) = run_engine(&commands[..cut], TS0);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runner = open(&dir.path().join("portfolio.db"), PortfolioService::new());
    catch_up(&mut runner, &batches).expect("apply");
    let conn = runner.conn();
    assert_eq!(reconcile(conn, &engine).expect("reconcile"), vec![]);
    let ps = all_positions(conn, 12);
    assert!(ps.iter().any(|p| p.product == Product::Mis && p.quantity != 0), "some intraday positions are open");
    let mut by_token: BTreeMap<Token, (i64, i64, i64)> = BTreeMap::new();
    for p in &ps {
        let e = by_token.entry(p.token).or_default();
        e.0 += p.pnl;
        e.1 += p.m2m;
        e.2 += p.quantity;
    }
    for (token, (pnl, m2m, qty)) in by_token {
        assert_eq!((pnl, m2m, qty), (0, 0, 0), "token {token}");
    }
}

const ABC: Token = 1;
const XYZ: Token = 2;

fn instrument(token: Token, symbol: &str) -> Command {
    Command::AddInstrument(InstrumentSpec {
        token,
        symbol: Symbol::new(symbol).expect("symbol"),
        tick: 5,
        lot: 1,
        band_bps: 2_000,
        reference_price: 11_000,
        mis_leverage: 5,
    })
}

fn limit(account: u32, token: Token, side: Side, product: Product, qty: i64, price: i64) -> Command {
    services_core::testkit::limit(0, account, token, side, product, price, qty)
}

/// Account 1 trades against accounts 2 and 3: `sell` rests, `buy` takes it.
fn cross(x: &mut Exchange, token: Token, buyer: (u32, Product), seller: (u32, Product), qty: i64, price: i64) {
    x.apply(&limit(seller.0, token, Side::Sell, seller.1, qty, price));
    x.apply(&limit(buyer.0, token, Side::Buy, buyer.1, qty, price));
    let last = x.batches.last().expect("batch");
    assert!(last.events.iter().any(|e| matches!(e, Event::Trade(t) if t.qty == qty && t.price == price)), "{last:?}");
}

#[test]
fn hand_checked_pnl_in_paise() {
    let mut setup = vec![instrument(ABC, "ABC"), instrument(XYZ, "XYZ")];
    for account in 1..=3 {
        setup.push(Command::CreateAccount { account, limits: AccountLimits::default() });
        setup.push(Command::ActivateAccount { account });
        setup.push(Command::Deposit { client_ref: 0, account, amount: 100_000_000 });
    }
    setup.push(Command::DepositHoldings { account: 2, token: ABC, qty: 100 });
    setup.push(Command::OpenSession);
    let mut x = Exchange::new(&setup);
    // Delivery on ABC: buy 10 @ ₹100, buy 10 @ ₹110, sell 5 @ ₹120.
    cross(&mut x, ABC, (1, Product::Cnc), (2, Product::Cnc), 10, 10_000);
    cross(&mut x, ABC, (1, Product::Cnc), (2, Product::Cnc), 10, 11_000);
    cross(&mut x, ABC, (3, Product::Cnc), (1, Product::Cnc), 5, 12_000);
    // The same intraday on XYZ.
    cross(&mut x, XYZ, (1, Product::Mis), (2, Product::Mis), 10, 10_000);
    cross(&mut x, XYZ, (1, Product::Mis), (2, Product::Mis), 10, 11_000);
    cross(&mut x, XYZ, (3, Product::Mis), (1, Product::Mis), 5, 12_000);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut runner = open(&dir.path().join("portfolio.db"), PortfolioService::new());
    catch_up(&mut runner, &x.batches).expect("apply");
    let conn = runner.conn();
    assert_eq!(reconcile(conn, &x.engine).expect("reconcile"), vec![]);

    // avg ₹105, realised 5 x (120 - 105) = ₹75, unrealised 15 x (120 - 105) = ₹225.
    let h = holding(conn, 1, ABC).expect("holding").expect("held");
    assert_eq!(
        (h.quantity, h.average_price, h.cost, h.last_price, h.realized_pnl, h.unrealized_pnl, h.pnl),
        (15, 10_500, 157_500, Some(12_000), 7_500, 22_500, 30_000)
    );
    for (token, product) in [(ABC, Product::Cnc), (XYZ, Product::Mis)] {
        let p = position(conn, 1, token, product).expect("position").expect("open");
        assert_eq!(
            (p.quantity, p.average_price, p.realized_pnl, p.unrealized_pnl, p.pnl, p.m2m),
            (15, 10_500, 7_500, 22_500, 30_000, 30_000),
            "{product:?}"
        );
        assert_eq!(
            (p.day_buy_quantity, p.day_buy_value, p.day_sell_quantity, p.day_sell_value, p.overnight_quantity),
            (20, 210_000, 5, 60_000, 0)
        );
        assert_eq!(p.day_quantity(), 15);
    }
    // The intraday position matches the engine's; its counterparties mirror it.
    assert_eq!(x.engine.position(1, XYZ).expect("position").mis_qty, 15);
    let short = position(conn, 2, XYZ, Product::Mis).expect("position").expect("short");
    assert_eq!((short.quantity, short.average_price, short.unrealized_pnl), (-20, 10_500, -30_000));
    // Shares transferred in carry no price: they enter at zero cost, so selling them realises
    // the whole proceeds until the client states a buy price.
    let h2 = holding(conn, 2, ABC).expect("holding").expect("held");
    assert_eq!((h2.quantity, h2.cost, h2.realized_pnl), (80, 0, 210_000));
    assert_eq!(holdings(conn, 1).expect("holdings").len(), 1);
    assert_eq!(positions(conn, 1).expect("positions").len(), 2);

    // Next day: delivery positions have settled into holdings; the intraday one is carried at
    // the previous close (₹120) and marked against today's price (₹125).
    x.apply(&Command::CloseSession);
    x.apply(&Command::OpenSession);
    cross(&mut x, ABC, (3, Product::Cnc), (2, Product::Cnc), 1, 12_500);
    cross(&mut x, XYZ, (3, Product::Mis), (2, Product::Mis), 1, 12_500);
    catch_up(&mut runner, &x.batches).expect("next day");
    let conn = runner.conn();
    assert_eq!(reconcile(conn, &x.engine).expect("reconcile"), vec![]);
    let ps = positions(conn, 1).expect("positions");
    assert_eq!(ps.len(), 1, "{ps:?}");
    let p = ps[0];
    assert_eq!(
        (p.token, p.product, p.quantity, p.overnight_quantity, p.average_price, p.realized_pnl),
        (XYZ, Product::Mis, 15, 15, 10_500, 0)
    );
    assert_eq!((p.m2m, p.unrealized_pnl, p.day_quantity()), (15 * 500, 15 * 2_000, 0));
    let h = holding(conn, 1, ABC).expect("holding").expect("held");
    assert_eq!((h.quantity, h.close_price, h.last_price, h.day_change), (15, Some(12_000), Some(12_500), 15 * 500));
}

#[test]
fn a_crash_at_any_point_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, batches) = run_engine(&trading_day(10, 1_000, 11), TS0);
    let n = batches.len();
    let reference = {
        let mut r = open(&dir.path().join("reference.db"), PortfolioService::new());
        catch_up(&mut r, &batches).expect("reference");
        assert_eq!(reconcile(r.conn(), &engine).expect("reconcile"), vec![]);
        dump(r.conn())
    };
    for (i, k) in [1, 60, n / 2, n - 1].into_iter().enumerate() {
        let path = dir.path().join(format!("stop{i}.db"));
        let mut r = open(&path, PortfolioService::new());
        r.batch_max = 16;
        catch_up(&mut r, &batches[..k]).expect("first part");
        drop(r);
        let mut r = open(&path, PortfolioService::new());
        assert_eq!(r.last_seq(), k as u64);
        catch_up(&mut r, &batches).expect("the rest");
        assert_eq!(dump(r.conn()), reference, "stopped after {k}");
    }
    for (i, at) in [3u64, 400, n as u64 - 1].into_iter().enumerate() {
        let path = dir.path().join(format!("fail{i}.db"));
        let mut r = open(&path, Interrupted { inner: PortfolioService::new(), at: Some(at), how: Interruption::Fail });
        r.batch_max = 64;
        assert!(catch_up(&mut r, &batches).is_err());
        let cursor = r.last_seq();
        assert!(cursor < at);
        // The same service carries on: what the failed transaction held in memory is gone.
        catch_up(&mut r, &batches).expect("the rest, in the same process");
        assert_eq!(dump(r.conn()), reference, "failed at {at}, carried on");
        drop(r);
        let r = open(&path, PortfolioService::new());
        assert_eq!(dump(r.conn()), reference, "failed at {at}, reopened");
    }
}
