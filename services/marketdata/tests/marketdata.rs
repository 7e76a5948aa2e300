//! Market data checked against the real engine and against the trades themselves.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use engine_core::{Event, LevelView, Product, Side, Trade};
use rusqlite::types::Value;
use services_core::testkit::{run_engine, trading_day, INFY, TCS};
use services_core::{EventBatch, MemoryFeed, ServiceRunner};
use services_marketdata::{
    read_candles, read_depth, read_quote, vwap, Candle, Interval, Level, MarketDataService, Ohlc,
};

/// 2024-01-15 09:15:00 IST.
const TS0: u64 = 1_705_290_300_000_000_000;

fn open(path: &Path) -> ServiceRunner<MarketDataService> {
    ServiceRunner::open(path, MarketDataService::new()).unwrap()
}

/// Applies the feed up to seq `k` exactly.
fn run_to(runner: &mut ServiceRunner<MarketDataService>, feed: &mut MemoryFeed, k: u64) {
    while runner.last_seq() < k {
        runner.batch_max = (k - runner.last_seq()) as usize;
        let r = runner.step(feed, Duration::ZERO).unwrap();
        assert!(r.applied > 0 || r.duplicates > 0, "the feed ran dry at {}", runner.last_seq());
    }
    assert_eq!(runner.last_seq(), k);
}

fn engine_side(engine: &engine_core::Engine, token: u32, side: Side, n: usize) -> Vec<Level> {
    let mut out = vec![LevelView::default(); n];
    let got = engine.depth(token, side, &mut out);
    out[..got].iter().map(|l| Level { price: l.price, qty: l.qty, orders: l.orders }).collect()
}

#[test]
fn depth_and_top_of_book_equal_the_engine_at_checkpoints() {
    let commands = trading_day(12, 2_000, 3);
    let (_, batches) = run_engine(&commands, TS0);
    let n = batches.len() as u64;
    let dir = tempfile::tempdir().unwrap();
    let mut runner = open(&dir.path().join("md.db"));
    let mut feed = MemoryFeed::new(batches.clone());
    runner.resume(&mut feed).unwrap();
    let mut checkpoints: Vec<u64> = (1..=8).map(|i| n * i / 9).collect();
    checkpoints.extend([n - 3, n]); // before the square-offs and close; the end
    let mut deep_books = 0;
    for k in checkpoints {
        run_to(&mut runner, &mut feed, k);
        let (engine, _) = run_engine(&commands[..k as usize], TS0);
        let md = runner.service();
        for token in [INFY, TCS] {
            let five = md.depth(token, 5);
            assert_eq!(five.bids, engine_side(&engine, token, Side::Buy, 5), "bids of {token} at seq {k}");
            assert_eq!(five.asks, engine_side(&engine, token, Side::Sell, 5), "asks of {token} at seq {k}");
            // The whole ladder, not only the top five.
            let all = md.depth(token, 10_000);
            assert_eq!(all.bids, engine_side(&engine, token, Side::Buy, 10_000), "all bids at {k}");
            assert_eq!(all.asks, engine_side(&engine, token, Side::Sell, 10_000), "all asks at {k}");
            if all.bids.len() >= 5 && all.asks.len() >= 5 {
                deep_books += 1;
            }
            // The database says the same.
            assert_eq!(read_depth(runner.conn(), token, 5).unwrap(), five);
            let q = md.quote(token).unwrap();
            assert_eq!(q.best_bid, five.bids.first().copied());
            assert_eq!(q.best_ask, five.asks.first().copied());
            if let (Some(b), Some(a)) = (q.best_bid, q.best_ask) {
                assert!(b.price < a.price, "crossed book at {k}");
            }
            if let Some(ltp) = q.last_price {
                assert_eq!(ltp, engine.instrument(token).unwrap().last_price, "LTP of {token} at seq {k}");
            }
            assert_eq!(read_quote(runner.conn(), token).unwrap(), Some(q));
        }
    }
    assert!(deep_books >= 6, "the checkpoints saw few deep books ({deep_books})");
}

/// The trading day re-timed 1 s per command, so it spans half an hour or more.
fn slow_day(accounts: u32, orders: usize, seed: u64) -> Vec<EventBatch> {
    let (_, mut batches) = run_engine(&trading_day(accounts, orders, seed), TS0);
    for (i, b) in batches.iter_mut().enumerate() {
        b.ts_ns = TS0 + 7_300_000_000 + i as u64 * 1_000_000_000;
    }
    batches
}

#[test]
fn ohlc_volume_vwap_and_candles_equal_values_recomputed_from_the_trades() {
    let batches = slow_day(10, 2_000, 9);
    let dir = tempfile::tempdir().unwrap();
    let mut runner = open(&dir.path().join("md.db"));
    let mut feed = MemoryFeed::new(batches.clone());
    runner.resume(&mut feed).unwrap();
    run_to(&mut runner, &mut feed, batches.len() as u64);

    // Recompute straight from the Trade events.
    let mut day: BTreeMap<u32, Ohlc> = BTreeMap::new();
    let mut candles: BTreeMap<(u32, Interval, u64), Candle> = BTreeMap::new();
    let mut last: BTreeMap<u32, (i64, i64, u64)> = BTreeMap::new();
    for b in &batches {
        for e in &b.events {
            let Event::Trade(t) = e else { continue };
            last.insert(t.token, (t.price, t.qty, b.ts_ns));
            let d = day.entry(t.token).or_insert(Ohlc {
                day_start_ns: services_marketdata::ist_day_start(b.ts_ns),
                open: t.price,
                high: t.price,
                low: t.price,
                close: t.price,
                volume: 0,
                turnover: 0,
                trades: 0,
            });
            d.high = d.high.max(t.price);
            d.low = d.low.min(t.price);
            d.close = t.price;
            d.volume += t.qty;
            d.turnover += t.price * t.qty;
            d.trades += 1;
            for (interval, len) in
                [(Interval::M1, 60_000_000_000u64), (Interval::M5, 300_000_000_000), (Interval::M15, 900_000_000_000)]
            {
                let start = b.ts_ns / len * len;
                let c = candles.entry((t.token, interval, start)).or_insert(Candle {
                    token: t.token,
                    interval,
                    start_ns: start,
                    open: t.price,
                    high: t.price,
                    low: t.price,
                    close: t.price,
                    volume: 0,
                    turnover: 0,
                    trades: 0,
                });
                c.high = c.high.max(t.price);
                c.low = c.low.min(t.price);
                c.close = t.price;
                c.volume += t.qty;
                c.turnover += t.price * t.qty;
                c.trades += 1;
            }
        }
    }
    assert_eq!(day.len(), 2, "both instruments traded");
    let md = runner.service();
    for (&token, want) in &day {
        let got = md.ohlc(token).unwrap();
        assert_eq!(got, *want, "day statistics of {token}");
        // VWAP: integer, half up.
        let exact = want.turnover as f64 / want.volume as f64;
        assert!((got.vwap() as f64 - exact).abs() <= 0.5, "vwap {} vs {exact}", got.vwap());
        assert_eq!(got.vwap(), (2 * want.turnover + want.volume) / (2 * want.volume));
        let q = md.quote(token).unwrap();
        let (price, qty, ts) = last[&token];
        assert_eq!((q.last_price, q.last_qty, q.last_trade_ns), (Some(price), qty, ts));
        assert_eq!(q.ohlc, Some(*want));

        let day_candles = md.candles(runner.conn(), token, Interval::Day, 0, u64::MAX).unwrap();
        assert_eq!(day_candles.len(), 1);
        let c = day_candles[0];
        assert_eq!(
            (c.start_ns, c.open, c.high, c.low, c.close, c.volume, c.turnover, c.trades),
            (want.day_start_ns, want.open, want.high, want.low, want.close, want.volume, want.turnover, want.trades)
        );
        for interval in [Interval::M1, Interval::M5, Interval::M15] {
            let want: Vec<Candle> =
                candles.iter().filter(|(k, _)| k.0 == token && k.1 == interval).map(|(_, c)| *c).collect();
            let got = read_candles(runner.conn(), token, interval, 0, u64::MAX).unwrap();
            assert_eq!(got, want, "{interval:?} candles of {token}");
        }
    }
    let minutes = candles.keys().filter(|k| k.1 == Interval::M1).count();
    assert!(minutes >= 10, "only {minutes} minute candles");
    assert!(candles.keys().filter(|k| k.1 == Interval::M15).count() >= 4);
}

/// 2024-01-15 `h:m:s.ms` IST, or the next day with `day = 1`.
fn ist(day: u64, h: u64, m: u64, s: u64, ms: u64) -> u64 {
    let midnight = 1_705_276_800_000_000_000 - 19_800_000_000_000 + day * 86_400_000_000_000;
    midnight + ((h * 3600 + m * 60 + s) * 1000 + ms) * 1_000_000
}

fn trade(token: u32, price: i64, qty: i64) -> Event {
    Event::Trade(Trade {
        trade_id: 0,
        token,
        price,
        qty,
        aggressor: Side::Buy,
        buy_order: 1,
        sell_order: 2,
        buy_account: 1,
        sell_account: 2,
        buy_product: Product::Cnc,
        sell_product: Product::Cnc,
        buy_fee: 0,
        sell_fee: 0,
        buy_remaining: 0,
        sell_remaining: 0,
    })
}

fn candle(interval: Interval, start: u64, ohlc: [i64; 4], volume: i64, turnover: i64, trades: u64) -> Candle {
    let [open, high, low, close] = ohlc;
    Candle { token: 7, interval, start_ns: start, open, high, low, close, volume, turnover, trades }
}

#[test]
fn candles_across_minute_five_minute_and_ist_day_boundaries() {
    let t = 7;
    let script: Vec<(u64, Vec<Event>)> = vec![
        (ist(0, 9, 15, 10, 0), vec![trade(t, 10_000, 10)]),
        (ist(0, 9, 15, 50, 0), vec![trade(t, 10_100, 5)]),
        (ist(0, 9, 16, 0, 0), vec![trade(t, 9_950, 20), trade(t, 9_900, 1)]),
        (ist(0, 9, 19, 59, 999), vec![trade(t, 10_200, 1)]),
        (ist(0, 9, 20, 0, 0), vec![trade(t, 10_050, 4)]),
        (ist(0, 9, 29, 59, 0), vec![trade(t, 9_800, 2)]),
        (ist(0, 9, 30, 0, 0), vec![trade(t, 10_000, 3)]),
        (ist(0, 23, 59, 59, 999), vec![trade(t, 10_010, 1)]),
        (ist(1, 0, 0, 0, 0), vec![trade(t, 10_020, 7)]),
    ];
    let batches: Vec<EventBatch> = script
        .into_iter()
        .enumerate()
        .map(|(i, (ts_ns, events))| EventBatch { seq: i as u64 + 1, ts_ns, events })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = open(&dir.path().join("md.db"));
    let mut feed = MemoryFeed::new(batches);
    runner.resume(&mut feed).unwrap();

    // Up to the last trade of the first IST day.
    run_to(&mut runner, &mut feed, 8);
    let d1 = runner.service().ohlc(t).unwrap();
    assert_eq!(
        d1,
        Ohlc {
            day_start_ns: ist(0, 0, 0, 0, 0),
            open: 10_000,
            high: 10_200,
            low: 9_800,
            close: 10_010,
            volume: 47,
            turnover: 469_410,
            trades: 9
        }
    );
    assert_eq!(d1.vwap(), 9_987); // 469410 / 47 = 9987.45 -> 9987
    assert_eq!(runner.service().quote(t).unwrap().prev_close, None);

    run_to(&mut runner, &mut feed, 9);
    let q = runner.service().quote(t).unwrap();
    assert_eq!(q.prev_close, Some(10_010));
    assert_eq!(q.last_price, Some(10_020));
    assert_eq!(q.ohlc.unwrap().day_start_ns, ist(1, 0, 0, 0, 0));
    assert_eq!((q.ohlc.unwrap().open, q.ohlc.unwrap().volume, q.ohlc.unwrap().vwap()), (10_020, 7, 10_020));

    let all = |i| read_candles(runner.conn(), t, i, 0, u64::MAX).unwrap();
    use Interval::*;
    assert_eq!(
        all(M1),
        vec![
            candle(M1, ist(0, 9, 15, 0, 0), [10_000, 10_100, 10_000, 10_100], 15, 150_500, 2),
            candle(M1, ist(0, 9, 16, 0, 0), [9_950, 9_950, 9_900, 9_900], 21, 208_900, 2),
            candle(M1, ist(0, 9, 19, 0, 0), [10_200; 4], 1, 10_200, 1),
            candle(M1, ist(0, 9, 20, 0, 0), [10_050; 4], 4, 40_200, 1),
            candle(M1, ist(0, 9, 29, 0, 0), [9_800; 4], 2, 19_600, 1),
            candle(M1, ist(0, 9, 30, 0, 0), [10_000; 4], 3, 30_000, 1),
            candle(M1, ist(0, 23, 59, 0, 0), [10_010; 4], 1, 10_010, 1),
            candle(M1, ist(1, 0, 0, 0, 0), [10_020; 4], 7, 70_140, 1),
        ]
    );
    assert_eq!(
        all(M5),
        vec![
            candle(M5, ist(0, 9, 15, 0, 0), [10_000, 10_200, 9_900, 10_200], 37, 369_600, 5),
            candle(M5, ist(0, 9, 20, 0, 0), [10_050; 4], 4, 40_200, 1),
            candle(M5, ist(0, 9, 25, 0, 0), [9_800; 4], 2, 19_600, 1),
            candle(M5, ist(0, 9, 30, 0, 0), [10_000; 4], 3, 30_000, 1),
            candle(M5, ist(0, 23, 55, 0, 0), [10_010; 4], 1, 10_010, 1),
            candle(M5, ist(1, 0, 0, 0, 0), [10_020; 4], 7, 70_140, 1),
        ]
    );
    assert_eq!(
        all(M15),
        vec![
            candle(M15, ist(0, 9, 15, 0, 0), [10_000, 10_200, 9_800, 9_800], 43, 429_400, 7),
            candle(M15, ist(0, 9, 30, 0, 0), [10_000; 4], 3, 30_000, 1),
            candle(M15, ist(0, 23, 45, 0, 0), [10_010; 4], 1, 10_010, 1),
            candle(M15, ist(1, 0, 0, 0, 0), [10_020; 4], 7, 70_140, 1),
        ]
    );
    assert_eq!(
        all(Day),
        vec![
            candle(Day, ist(0, 0, 0, 0, 0), [10_000, 10_200, 9_800, 10_010], 47, 469_410, 9),
            candle(Day, ist(1, 0, 0, 0, 0), [10_020; 4], 7, 70_140, 1),
        ]
    );
    assert_eq!(all(M5)[0].vwap(), vwap(369_600, 37)); // 9989.19 -> 9989
    assert_eq!(all(M5)[0].vwap(), 9_989);

    // Ranges are [from, to) on the candle start.
    let some = runner.service().candles(runner.conn(), t, M1, ist(0, 9, 16, 0, 0), ist(0, 9, 20, 0, 0)).unwrap();
    let starts: Vec<u64> = some.iter().map(|c| c.start_ns).collect();
    assert_eq!(starts, vec![ist(0, 9, 16, 0, 0), ist(0, 9, 19, 0, 0)]);
    assert!(read_candles(runner.conn(), t + 1, M1, 0, u64::MAX).unwrap().is_empty());
}

/// Every row of the service's tables and its cursor.
fn dump(conn: &rusqlite::Connection) -> Vec<(String, Vec<Vec<Value>>)> {
    [
        "SELECT * FROM md_instruments ORDER BY token",
        "SELECT * FROM md_levels ORDER BY token, side, price",
        "SELECT * FROM md_candles ORDER BY token, interval, start_ns",
        "SELECT * FROM service_cursor",
    ]
    .into_iter()
    .map(|sql| {
        let mut stmt = conn.prepare(sql).unwrap();
        let cols = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..cols).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>())
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        (sql.to_string(), rows)
    })
    .collect()
}

fn memory(md: &MarketDataService) -> Vec<String> {
    md.tokens().map(|t| format!("{:?} {:?}", md.quote(t), md.depth(t, usize::MAX))).collect()
}

#[test]
fn a_restarted_service_ends_equal_to_one_never_stopped() {
    let batches = slow_day(8, 1_500, 21);
    let last = batches.len() as u64;
    let dir = tempfile::tempdir().unwrap();

    let mut never = open(&dir.path().join("never.db"));
    let mut feed = MemoryFeed::new(batches.clone());
    never.resume(&mut feed).unwrap();
    run_to(&mut never, &mut feed, last);

    // Stopped twice (mid-session and mid-candle), each time resumed by a fresh feed; the second
    // feed also re-delivers batches already applied.
    let path = dir.path().join("restarted.db");
    let stops = [last / 3, last * 2 / 3 + 1, last];
    let mut at = 0;
    for (life, &stop) in stops.iter().enumerate() {
        let mut runner = open(&path);
        assert_eq!(runner.last_seq(), at);
        let before = runner.service().tokens().count();
        assert!(life == 0 || before == 2, "state reloaded on open");
        let mut feed = MemoryFeed::new(batches.clone());
        runner.resume(&mut feed).unwrap();
        if life == 1 {
            for b in &batches[at as usize - 5..at as usize] {
                feed.inject(b.clone());
            }
        }
        runner.batch_max = 7;
        while runner.last_seq() < stop {
            runner.batch_max = 7.min((stop - runner.last_seq()) as usize);
            runner.step(&mut feed, Duration::ZERO).unwrap();
        }
        // What a reopen will load equals what this life holds in memory.
        let held = memory(runner.service());
        at = runner.last_seq();
        drop(runner);
        let reopened = open(&path);
        assert_eq!(memory(reopened.service()), held, "reload after seq {at}");
    }
    let restarted = open(&path);
    assert_eq!(dump(restarted.conn()), dump(never.conn()));
    assert_eq!(memory(restarted.service()), memory(never.service()));
    assert!(dump(never.conn())[2].1.len() > 20, "candles were written");
}

/// A transaction that fails half way leaves nothing behind, in the database or in memory: the
/// service reloads what was committed and ends equal to one that never failed.
#[test]
fn a_rolled_back_transaction_leaves_nothing_behind() {
    let batches = slow_day(8, 1_500, 33);
    let last = batches.len() as u64;
    let dir = tempfile::tempdir().unwrap();

    let mut never = open(&dir.path().join("never.db"));
    let mut feed = MemoryFeed::new(batches.clone());
    never.resume(&mut feed).unwrap();
    run_to(&mut never, &mut feed, last);

    // Commit the first third, then fail a transaction holding the second third: its last batch
    // carries a trade whose value overflows.
    let mut runner = open(&dir.path().join("failed.db"));
    let (committed, poisoned) = (last / 3, last * 2 / 3);
    let mut bad = batches.clone();
    bad[poisoned as usize - 1].events.push(trade(INFY, i64::MAX, 2));
    let mut feed = MemoryFeed::new(bad);
    runner.resume(&mut feed).unwrap();
    run_to(&mut runner, &mut feed, committed);
    runner.batch_max = (poisoned - committed) as usize;
    let err = runner.step(&mut feed, Duration::ZERO).expect_err("the poisoned transaction fails");
    assert!(err.to_string().contains("overflows"), "{err}");
    assert_eq!(runner.last_seq(), committed, "nothing of the failed transaction is committed");

    // The same service goes on from the committed cursor with the good batches.
    let mut feed = MemoryFeed::new(batches);
    runner.resume(&mut feed).unwrap();
    run_to(&mut runner, &mut feed, last);
    assert_eq!(dump(runner.conn()), dump(never.conn()));
    assert_eq!(memory(runner.service()), memory(never.service()));
}
