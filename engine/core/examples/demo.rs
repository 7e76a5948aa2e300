//! A trading day on ten NSE stocks, driven through the engine core.
//!
//! Run it with `scripts/run` (or `cargo run --release -p engine-core --example demo`).
//!
//! The scenario is a plain list of commands, each with a line of narration. The demo applies
//! them one by one, prints what the engine answered, then prints every account's balances and
//! holdings and the state hash. It finally replays the same commands into a fresh engine and
//! checks that the state hash comes out the same: the core is deterministic.
//!
//! Everything inside the engine is an integer: prices and cash in paise, quantities in shares.
//! Rupees appear only here, when printing.

// Amounts are written the Indian way, paise last: `10_00_000_00` is ₹10,00,000.00 (ten lakh).
#![allow(clippy::inconsistent_digit_grouping)]

use engine_core::{
    AccountId, AccountLimits, BalanceReason, Command, CountingSink, Engine, Event, FeeSchedule, InstrumentSpec,
    NewOrder, OrderType, Price, Product, Qty, Side, Symbol, Token, Trade, Validity,
};

// ---------------------------------------------------------------------------------------------
// Market data: ten NSE stocks (Kite instrument tokens, reference prices in paise).
// ---------------------------------------------------------------------------------------------

const INFY: Token = 408_065;
const TCS: Token = 2_953_217;
const RELIANCE: Token = 738_561;
const HDFCBANK: Token = 341_249;
const ICICIBANK: Token = 1_270_529;
const SBIN: Token = 779_521;
const ITC: Token = 424_961;
const LT: Token = 2_939_649;
const AXISBANK: Token = 1_510_401;
const WIPRO: Token = 969_473;

/// (token, symbol, previous close in paise, circuit band in basis points).
const INSTRUMENTS: [(Token, &str, Price, u32); 10] = [
    (INFY, "INFY", 152_040, 2_000),
    (TCS, "TCS", 345_000, 2_000),
    (RELIANCE, "RELIANCE", 128_550, 2_000),
    (HDFCBANK, "HDFCBANK", 172_030, 2_000),
    (ICICIBANK, "ICICIBANK", 125_065, 2_000),
    (SBIN, "SBIN", 79_510, 2_000),
    (ITC, "ITC", 41_525, 1_000),
    (LT, "LT", 354_080, 2_000),
    (AXISBANK, "AXISBANK", 108_045, 2_000),
    (WIPRO, "WIPRO", 26_535, 1_000),
];

const TICK_PAISE: Price = 5;
const LOT_SHARES: Qty = 1;
const MIS_LEVERAGE: u32 = 5;

// ---------------------------------------------------------------------------------------------
// Participants.
// ---------------------------------------------------------------------------------------------

const BROKER: AccountId = 0; // collects the fees
const ASHA: AccountId = 1; // long-term investor, buys for delivery (CNC)
const BHARAT: AccountId = 2; // holds shares and sells some of them
const CHITRA: AccountId = 3; // market maker: quotes with cash and inventory
const DEV: AccountId = 4; // intraday (MIS) trader on margin

const ACCOUNTS: [(AccountId, &str); 5] =
    [(BROKER, "Broker"), (ASHA, "Asha"), (BHARAT, "Bharat"), (CHITRA, "Chitra"), (DEV, "Dev")];

/// Cash deposited at the start of the day, in paise.
const DEPOSITS: [(AccountId, i64); 4] = [
    (ASHA, 10_00_000_00),  // ₹10,00,000
    (BHARAT, 50_000_00),   // ₹50,000
    (CHITRA, 5_00_000_00), // ₹5,00,000
    (DEV, 2_00_000_00),    // ₹2,00,000
];

/// Shares held in demat at the start of the day.
const HOLDINGS: [(AccountId, Token, Qty); 7] = [
    (BHARAT, INFY, 100),
    (BHARAT, TCS, 30),
    (BHARAT, WIPRO, 100),
    (CHITRA, INFY, 50),
    (CHITRA, TCS, 40),
    (CHITRA, RELIANCE, 500),
    (CHITRA, SBIN, 150),
];

/// Brokerage: 3 basis points per fill and side, capped at ₹20.
const FEES: FeeSchedule = FeeSchedule { bps: 3, cap: 20_00, fee_account: BROKER };

/// 2025-01-15 09:00:00 IST, in nanoseconds since the Unix epoch. The engine never reads a clock:
/// every command carries its timestamp.
const DAY_START_NS: u64 = 1_736_911_800_000_000_000;
const IST_OFFSET_S: u64 = 5 * 3600 + 30 * 60;

// ---------------------------------------------------------------------------------------------
// The scenario.
// ---------------------------------------------------------------------------------------------

/// One command of the day, with its wall-clock minute and a sentence for the reader.
struct Step {
    /// Minutes after 09:00 IST.
    minute: u64,
    note: String,
    command: Command,
    /// Pre-open setup: applied, but only printed if the engine refuses it.
    setup: bool,
}

/// Builds the day's commands. Kept free of any engine state so that it can be replayed.
fn scenario() -> Vec<Step> {
    let mut day = Day::default();

    // 09:00 pre-open: the exchange's reference data and the participants.
    day.at(0);
    for (token, name, reference_price, band_bps) in INSTRUMENTS {
        let symbol = Symbol::new(name).expect("symbols are short ASCII");
        let spec = InstrumentSpec {
            token,
            symbol,
            tick: TICK_PAISE,
            lot: LOT_SHARES,
            band_bps,
            reference_price,
            mis_leverage: MIS_LEVERAGE,
        };
        let note = format!("list {name} at {} (band ±{}%)", rupees(reference_price), band_bps / 100);
        day.quiet(note, Command::AddInstrument(spec));
    }
    for (account, name) in ACCOUNTS {
        let limits = AccountLimits { order_value_max: 10_00_000_00, open_orders_max: 100, ..AccountLimits::default() };
        day.quiet(format!("open an account for {name}"), Command::CreateAccount { account, limits });
        day.quiet(format!("KYC done: activate {name}"), Command::ActivateAccount { account });
    }
    for (account, amount) in DEPOSITS {
        day.quiet(
            format!("{} deposits {}", name_of(account), rupees(amount)),
            Command::Deposit { client_ref: 0, account, amount },
        );
    }
    for (account, token, qty) in HOLDINGS {
        let note = format!("{} has {qty} {} in demat", name_of(account), symbol_of(token));
        day.quiet(note, Command::DepositHoldings { account, token, qty });
    }
    day.quiet(
        format!("brokerage: {} bps per fill, capped at {}", FEES.bps, rupees(FEES.cap)),
        Command::SetFeeSchedule(FEES),
    );

    // 09:15 the market opens.
    day.at(15);
    day.say("The market opens", Command::OpenSession);

    // A limit order rests; a crossing limit order takes two price levels.
    day.at(16);
    day.say("Bharat offers 100 INFY at ₹1,521.00", limit(BHARAT, INFY, Side::Sell, 100, 152_100));
    day.say("Chitra offers 50 INFY at ₹1,522.50", limit(CHITRA, INFY, Side::Sell, 50, 152_250));
    day.say(
        "Asha bids for 120 INFY up to ₹1,522.50: she lifts both offers",
        limit(ASHA, INFY, Side::Buy, 120, 152_250),
    );

    // A stop-loss buy waits for the price; a market order trades through it and triggers it.
    day.at(20);
    day.say("Chitra offers 40 TCS at ₹3,452.00", limit(CHITRA, TCS, Side::Sell, 40, 345_200));
    day.say("Bharat offers 30 TCS at ₹3,455.00, good till cancelled", {
        let mut order = new_order(BHARAT, TCS, Side::Sell, 30);
        order.price = 345_500;
        order.validity = Validity::Gtc;
        Command::Place(order)
    });
    day.say("Dev places an intraday stop-loss buy: 30 TCS, trigger ₹3,452.00, limit ₹3,456.00", {
        let mut order = new_order(DEV, TCS, Side::Buy, 30);
        order.order_type = OrderType::StopLimit;
        order.product = Product::Mis;
        order.trigger = 345_200;
        order.price = 345_600;
        Command::Place(order)
    });
    day.say("Asha buys 10 TCS at market: the trade at ₹3,452.00 triggers Dev's stop", {
        let mut order = new_order(ASHA, TCS, Side::Buy, 10);
        order.order_type = OrderType::Market;
        Command::Place(order)
    });

    // An iceberg shows 100 at a time; each refill goes to the back of the queue.
    day.at(30);
    day.say("Chitra sells 500 RELIANCE at ₹1,286.00 as an iceberg showing 100", {
        let mut order = new_order(CHITRA, RELIANCE, Side::Sell, 500);
        order.price = 128_600;
        order.disclosed = 100;
        Command::Place(order)
    });
    day.say("Asha bids for 250 RELIANCE at ₹1,286.00", limit(ASHA, RELIANCE, Side::Buy, 250, 128_600));

    // Immediate-or-cancel: what does not trade at once is cancelled.
    day.at(45);
    day.say("Asha bids for 150 SBIN at ₹794.00", limit(ASHA, SBIN, Side::Buy, 150, 79_400));
    day.say("Dev shorts 200 SBIN intraday at ₹794.00, immediate-or-cancel", {
        let mut order = new_order(DEV, SBIN, Side::Sell, 200);
        order.price = 79_400;
        order.validity = Validity::Ioc;
        order.product = Product::Mis;
        Command::Place(order)
    });
    day.at(75);
    day.say("Chitra offers 150 SBIN at ₹793.00", limit(CHITRA, SBIN, Side::Sell, 150, 79_300));
    day.say("Dev covers his short at market and is flat: his P&L settles into cash", {
        let mut order = new_order(DEV, SBIN, Side::Buy, 150);
        order.order_type = OrderType::Market;
        order.product = Product::Mis;
        Command::Place(order)
    });

    // Rejections are events, with a reason, like everything else.
    day.at(90);
    day.say("Asha bids ₹2,000.00 for INFY: outside today's circuit band", limit(ASHA, INFY, Side::Buy, 10, 2_000_00));
    day.say("Bharat tries to sell 500 WIPRO; he holds 100", limit(BHARAT, WIPRO, Side::Sell, 500, 26_500));
    day.say(
        "Dev bids ₹1,250.12 for ICICIBANK: not on the 5-paise tick grid",
        limit(DEV, ICICIBANK, Side::Buy, 1, 125_012),
    );

    // Orders that stay open into the close.
    day.at(120);
    day.say("Asha bids for 200 ITC at ₹414.00 (a DAY order)", limit(ASHA, ITC, Side::Buy, 200, 41_400));

    // 15:20 intraday square-off: Dev's MIS position in TCS is closed at market.
    day.at(375);
    day.say("Asha bids for 30 TCS at ₹3,453.00", limit(ASHA, TCS, Side::Buy, 30, 345_300));
    day.at(380);
    day.say("Intraday square-off in TCS: Dev's position is sold at market", Command::SquareOffMis { token: TCS });

    // 15:30 the close: DAY orders expire, GTC orders stay.
    day.at(390);
    day.say("The market closes", Command::CloseSession);

    day.steps
}

/// Collects the day's steps; `quiet` ones are setup, `say` ones are narrated.
#[derive(Default)]
struct Day {
    minute: u64,
    steps: Vec<Step>,
}

impl Day {
    fn at(&mut self, minute: u64) {
        self.minute = minute;
    }
    fn say(&mut self, note: &str, command: Command) {
        self.steps.push(Step { minute: self.minute, note: note.to_string(), command, setup: false });
    }
    fn quiet(&mut self, note: String, command: Command) {
        self.steps.push(Step { minute: self.minute, note, command, setup: true });
    }
}

/// A DAY, CNC, LIMIT order with everything else at its default.
fn new_order(account: AccountId, token: Token, side: Side, qty: Qty) -> NewOrder {
    NewOrder {
        client_ref: 0,
        account,
        token,
        side,
        order_type: OrderType::Limit,
        validity: Validity::Day,
        product: Product::Cnc,
        price: 0,
        trigger: 0,
        qty,
        disclosed: 0,
        post_only: false,
    }
}

fn limit(account: AccountId, token: Token, side: Side, qty: Qty, price: Price) -> Command {
    Command::Place(NewOrder { price, ..new_order(account, token, side, qty) })
}

// ---------------------------------------------------------------------------------------------
// Running and printing.
// ---------------------------------------------------------------------------------------------

fn main() {
    let steps = scenario();
    let mut engine: Engine = Engine::new(engine_core::Limits::small());
    let mut events: Vec<Event> = Vec::with_capacity(64);
    let mut tally = Tally::default();

    println!("A trading day on NSE-like stocks, through the engine core");
    println!("==========================================================");
    println!(
        "09:00  pre-open: {} instruments, {} accounts, cash and demat holdings, brokerage {} bps capped at {}",
        INSTRUMENTS.len(),
        ACCOUNTS.len(),
        FEES.bps,
        rupees(FEES.cap)
    );

    for (index, step) in steps.iter().enumerate() {
        let seq = index as u64 + 1;
        let ts_ns = timestamp_ns(step.minute, index as u64);
        let client_ref = seq;
        let command = with_client_ref(step.command, client_ref);

        events.clear();
        engine.apply(seq, ts_ns, &command, &mut events);

        if !step.setup {
            println!();
            println!("{}  {}", clock(ts_ns), step.note);
        }
        for event in &events {
            tally.count(event);
            if let Some(line) = describe(event) {
                if step.setup {
                    // Setup is routine; only show what went wrong there.
                    if matches!(event, Event::Rejected { .. }) {
                        println!("       {}: {line}", step.note);
                    }
                } else {
                    println!("       {line}");
                }
            }
        }
    }

    summary(&engine, &tally);
    replay_check(&steps, engine.state_hash());
}

/// Gives each order its own correlation id (the sequence number) so rejections can be matched up.
fn with_client_ref(command: Command, client_ref: u64) -> Command {
    match command {
        Command::Place(order) => Command::Place(NewOrder { client_ref, ..order }),
        other => other,
    }
}

fn timestamp_ns(minute: u64, index: u64) -> u64 {
    // One millisecond between consecutive commands keeps timestamps strictly increasing.
    DAY_START_NS + minute * 60_000_000_000 + index * 1_000_000
}

/// Counts what the day produced.
#[derive(Default)]
struct Tally {
    trades: u64,
    shares: Qty,
    turnover: i128,
    fees: i64,
    rejections: u64,
    events: u64,
}

impl Tally {
    fn count(&mut self, event: &Event) {
        self.events += 1;
        match event {
            Event::Trade(trade) => {
                self.trades += 1;
                self.shares += trade.qty;
                self.turnover += i128::from(trade.qty) * i128::from(trade.price);
                self.fees += trade.buy_fee + trade.sell_fee;
            }
            Event::Rejected { .. } => self.rejections += 1,
            _ => {}
        }
    }
}

/// One human line for the events a reader cares about; `None` for book and bookkeeping updates.
fn describe(event: &Event) -> Option<String> {
    let line = match *event {
        Event::SessionOpened => "session open".to_string(),
        Event::SessionClosed => "session closed".to_string(),
        Event::Accepted(accepted) => format!(
            "accepted  #{} {} {} {} {} {}{}",
            accepted.order_id,
            name_of(accepted.account),
            side_word(accepted.side),
            accepted.qty,
            symbol_of(accepted.token),
            price_words(accepted.order_type, accepted.price, accepted.trigger),
            if accepted.disclosed > 0 { format!(" (shows {})", accepted.disclosed) } else { String::new() },
        ),
        Event::Trade(trade) => trade_line(&trade),
        Event::Triggered { order_id, token, last_price } => {
            format!("triggered #{order_id}: {} traded at {}", symbol_of(token), rupees(last_price))
        }
        Event::Cancelled { order_id, account, token, remaining, reason } => {
            format!("cancelled #{order_id} {}'s {remaining} {} left: {reason:?}", name_of(account), symbol_of(token))
        }
        Event::Modified { order_id, price, qty, .. } => format!("modified  #{order_id}: {qty} @ {}", rupees(price)),
        Event::Rejected { kind, reason, account, .. } => {
            format!("REJECTED  {kind:?} from {}: {reason:?}", name_of(account))
        }
        Event::BalanceChanged { account, delta, reason, .. } => match reason {
            BalanceReason::MisSettlement | BalanceReason::MisConversion => {
                format!("{}'s intraday P&L settles: {} ({reason:?})", name_of(account), signed_rupees(delta))
            }
            _ => return None,
        },
        Event::InstrumentStatusChanged { token, status } => format!("{} is now {status:?}", symbol_of(token)),
        Event::AccountStatusChanged { account, status } => format!("{} is now {status:?}", name_of(account)),
        _ => return None,
    };
    Some(line)
}

fn trade_line(trade: &Trade) -> String {
    format!(
        "TRADE     {:<9} {:>4} @ {:>10}  buyer {} (#{}), seller {} (#{}); fees {} + {}",
        symbol_of(trade.token),
        trade.qty,
        rupees(trade.price),
        name_of(trade.buy_account),
        trade.buy_order,
        name_of(trade.sell_account),
        trade.sell_order,
        rupees(trade.buy_fee),
        rupees(trade.sell_fee),
    )
}

fn summary(engine: &Engine, tally: &Tally) {
    println!();
    println!("End of day");
    println!("==========");
    println!(
        "{} trades, {} shares, turnover {}, fees {}; {} rejections; {} events in all",
        tally.trades,
        tally.shares,
        rupees_wide(tally.turnover),
        rupees(tally.fees),
        tally.rejections,
        tally.events
    );

    println!();
    println!("{:<8} {:>16} {:>14} {:>14} {:>16}  open orders", "account", "cash", "reserved", "margin", "available");
    let mut cash_total: i64 = 0;
    for (account, name) in ACCOUNTS {
        match engine.account(account) {
            Some(view) => {
                cash_total += view.cash;
                println!(
                    "{:<8} {:>16} {:>14} {:>14} {:>16}  {}",
                    name,
                    rupees(view.cash),
                    rupees(view.reserved),
                    rupees(view.margin),
                    rupees(view.available),
                    view.open_orders
                );
            }
            None => println!("{name:<8} (no such account in the engine)"),
        }
    }

    println!();
    println!("Holdings and intraday positions");
    let mut positions = 0;
    let mut mis_value_total: i64 = 0;
    // Table order is the engine's; people read by client, then by the listing's order.
    let mut sorted: Vec<_> = engine.positions().collect();
    sorted.sort_by_key(|position| (position.account, listing_index(position.token)));
    for position in sorted {
        mis_value_total += position.mis_value;
        if position.holdings == 0 && position.mis_qty == 0 {
            continue;
        }
        positions += 1;
        let mut line = format!("  {:<8} {:<9}", name_of(position.account), symbol_of(position.token));
        if position.holdings != 0 {
            line.push_str(&format!(" {:>5} shares", position.holdings));
        }
        if position.mis_qty != 0 {
            line.push_str(&format!(
                " {:>+5} intraday (cash flow {})",
                position.mis_qty,
                signed_rupees(position.mis_value)
            ));
        }
        println!("{line}");
    }
    if positions == 0 {
        println!("  (none)");
    }

    println!();
    println!("Open orders after the close");
    let mut open = 0;
    for order in engine.open_orders() {
        open += 1;
        println!(
            "  #{} {} {} {} {} {} {:?} ({} left)",
            order.order_id,
            name_of(order.account),
            side_word(order.side),
            order.qty,
            symbol_of(order.token),
            price_words(order.order_type, order.price, order.trigger),
            order.validity,
            order.remaining()
        );
    }
    if open == 0 {
        println!("  (none)");
    }

    println!();
    println!("Last traded prices");
    let mut moved = 0;
    for instrument in engine.instruments() {
        if instrument.last_price != instrument.reference_price {
            moved += 1;
            let change_bps = (instrument.last_price - instrument.reference_price) * 10_000 / instrument.reference_price;
            println!(
                "  {:<9} {:>10}  ({}{}.{:02}% from {})",
                instrument.symbol.as_str(),
                rupees(instrument.last_price),
                if change_bps < 0 { "-" } else { "+" },
                change_bps.abs() / 100,
                change_bps.abs() % 100,
                rupees(instrument.reference_price)
            );
        }
    }

    if moved == 0 {
        println!("  (no trades)");
    }

    let deposited: i64 = DEPOSITS.iter().map(|&(_, amount)| amount).sum();
    println!();
    println!(
        "Cash conservation: Σ cash + Σ intraday cash flow = {}; deposited {}",
        rupees(cash_total + mis_value_total),
        rupees(deposited)
    );
    println!("State hash: {:016x}", engine.state_hash());
}

/// Replays the day's commands into a fresh engine: same commands, same timestamps, same hash.
fn replay_check(steps: &[Step], hash: u64) {
    let mut replica: Engine = Engine::new(engine_core::Limits::small());
    let mut sink = CountingSink::default();
    for (index, step) in steps.iter().enumerate() {
        let seq = index as u64 + 1;
        replica.apply(seq, timestamp_ns(step.minute, index as u64), &with_client_ref(step.command, seq), &mut sink);
    }
    let replayed = replica.state_hash();
    let verdict = if replayed == hash { "same state hash" } else { "DIFFERENT state hash" };
    println!("Replay of {} commands into a fresh engine: {verdict} ({replayed:016x})", steps.len());
}

// ---------------------------------------------------------------------------------------------
// Formatting: the only place rupees exist.
// ---------------------------------------------------------------------------------------------

/// Paise as rupees with Indian digit grouping: 1_00_000_00 -> "₹1,00,000.00".
fn rupees(paise: i64) -> String {
    rupees_wide(i128::from(paise))
}

fn rupees_wide(paise: i128) -> String {
    let sign = if paise < 0 { "-" } else { "" };
    let magnitude = paise.unsigned_abs();
    format!("{sign}₹{}.{:02}", group_indian(magnitude / 100), magnitude % 100)
}

fn signed_rupees(paise: i64) -> String {
    if paise > 0 {
        format!("+{}", rupees(paise))
    } else {
        rupees(paise)
    }
}

/// 1234567 -> "12,34,567": the last three digits, then groups of two.
fn group_indian(value: u128) -> String {
    let digits = value.to_string();
    if digits.len() <= 3 {
        return digits;
    }
    let (head, tail) = digits.split_at(digits.len() - 3);
    let mut out = String::with_capacity(digits.len() + digits.len() / 2);
    let first = head.len() % 2;
    if first == 1 {
        out.push_str(&head[..1]);
    }
    for (index, pair) in head.as_bytes()[first..].chunks(2).enumerate() {
        if index > 0 || first == 1 {
            out.push(',');
        }
        out.push_str(core::str::from_utf8(pair).unwrap_or("??"));
    }
    out.push(',');
    out.push_str(tail);
    out
}

/// "HH:MM" in IST.
fn clock(ts_ns: u64) -> String {
    let seconds = (ts_ns / 1_000_000_000 + IST_OFFSET_S) % 86_400;
    format!("{:02}:{:02}", seconds / 3600, seconds / 60 % 60)
}

fn price_words(order_type: OrderType, price: Price, trigger: Price) -> String {
    match order_type {
        OrderType::Limit => format!("@ {}", rupees(price)),
        OrderType::Market => "at market".to_string(),
        OrderType::StopLimit => format!("@ {} if it trades at {}", rupees(price), rupees(trigger)),
        OrderType::StopMarket => format!("at market if it trades at {}", rupees(trigger)),
    }
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "buys",
        Side::Sell => "sells",
    }
}

fn name_of(account: AccountId) -> String {
    ACCOUNTS
        .iter()
        .find(|&&(id, _)| id == account)
        .map_or_else(|| format!("account {account}"), |&(_, name)| name.to_string())
}

fn listing_index(token: Token) -> usize {
    INSTRUMENTS.iter().position(|&(t, ..)| t == token).unwrap_or(INSTRUMENTS.len())
}

fn symbol_of(token: Token) -> &'static str {
    INSTRUMENTS.iter().find(|&&(t, ..)| t == token).map_or("?", |&(_, symbol, ..)| symbol)
}
