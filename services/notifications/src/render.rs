//! Turns engine events into the text users read. Money is integer paise until here: it becomes
//! "Rs 1,50,000.05" (Indian digit grouping, always 2 decimals) only in rendered text.
//!
//! Two steps, at two times: [`audience`] says, without rendering anything, which accounts an
//! event concerns and as which [`Kind`]; the service calls it when it applies the event, to
//! create outbox rows. [`drafts`] renders the text; the outbox calls it when a row is delivered
//! or read, from the event stored in the row. The two agree (`drafts` yields exactly one draft
//! per pair of `audience`, in the same order; tested).

use std::collections::BTreeMap;

use engine_core::{
    Accepted, BalanceReason, CancelReason, CommandKind, Event, OrderType, Product, RejectReason, Side, Token, Trade,
    Validity,
};

use crate::prefs::Kind;

/// One notification to one account, before channel and recipient are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub account: u32,
    pub kind: Kind,
    /// E-mail subject; also the SMS text.
    pub subject: String,
    /// E-mail body (plain text).
    pub body: String,
}

/// Instrument names for rendering: token → symbol. Tokens not in the map render as `#408065`.
pub type Symbols = BTreeMap<Token, String>;

/// Who one event notifies: at most two `(account, kind)` pairs (a trade between two accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Audience {
    pairs: [Option<(u32, Kind)>; 2],
}

impl Audience {
    fn one(account: u32, kind: Kind) -> Audience {
        Audience { pairs: [Some((account, kind)), None] }
    }

    /// The `(account, kind)` pairs, in the order [`drafts`] renders them.
    pub fn iter(self) -> impl Iterator<Item = (u32, Kind)> {
        self.pairs.into_iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs[0].is_none()
    }
}

/// Which accounts `event` notifies, and as which kind, before preferences; no text is rendered.
/// Empty for events that notify nobody.
pub fn audience(event: &Event) -> Audience {
    match *event {
        Event::Accepted(ref a) => Audience::one(a.account, Kind::Accepted),
        Event::Rejected { kind, reason, account, .. } => {
            rejection_kind(kind, reason).map_or_else(Audience::default, |k| Audience::one(account, k))
        }
        Event::Trade(ref t) => Audience {
            pairs: [
                Some((t.buy_account, Kind::Executions)),
                (t.sell_account != t.buy_account).then_some((t.sell_account, Kind::Executions)),
            ],
        },
        Event::Cancelled { account, .. } => Audience::one(account, Kind::Cancels),
        Event::Modified { account, .. } => Audience::one(account, Kind::Modified),
        Event::BalanceChanged { account, reason: BalanceReason::Deposit | BalanceReason::Withdrawal, .. } => {
            Audience::one(account, Kind::Funds)
        }
        _ => Audience::default(),
    }
}

/// The instrument `event` names, if its text shows one.
pub fn token_of(event: &Event) -> Option<Token> {
    match *event {
        Event::Accepted(ref a) => Some(a.token),
        Event::Trade(ref t) => Some(t.token),
        Event::Cancelled { token, .. } => Some(token),
        _ => None,
    }
}

/// What a rejection is reported as, or `None` when it is not reported.
fn rejection_kind(kind: CommandKind, reason: RejectReason) -> Option<Kind> {
    if reason == RejectReason::DuplicateRequest {
        // The funds service resending a deposit or withdrawal after a crash: the engine had
        // already applied it, and its `BalanceChanged` told the client. Nothing to say.
        return None;
    }
    match kind {
        CommandKind::Place | CommandKind::Modify | CommandKind::Cancel => Some(Kind::Rejected),
        CommandKind::Withdraw | CommandKind::Deposit => Some(Kind::Funds),
        _ => None,
    }
}

/// `paise` as rupees with 2 decimals and Indian digit grouping: `Rs 1,23,456.05`, `-Rs 10.00`.
pub fn rupees(paise: i64) -> String {
    signed_rupees(paise < 0, paise.unsigned_abs())
}

/// `-paise` as [`rupees`] writes it, for every `paise` (`i64::MIN` included).
fn negated_rupees(paise: i64) -> String {
    signed_rupees(paise > 0, paise.unsigned_abs())
}

fn signed_rupees(negative: bool, abs: u64) -> String {
    let sign = if negative { "-" } else { "" };
    format!("{sign}Rs {}.{:02}", group_indian(abs / 100), abs % 100)
}

/// `12345678` → `1,23,45,678`.
fn group_indian(n: u64) -> String {
    let digits = n.to_string();
    if digits.len() <= 3 {
        return digits;
    }
    let (mut head, tail) = digits.split_at(digits.len() - 3);
    let mut groups = Vec::new();
    while head.len() > 2 {
        let (rest, last) = head.split_at(head.len() - 2);
        groups.push(last);
        head = rest;
    }
    groups.push(head);
    groups.reverse();
    format!("{},{tail}", groups.join(","))
}

/// Seconds east of UTC for India Standard Time (UTC+5:30).
pub const IST_OFFSET_SECS: i64 = 19_800;

/// `ts_ns` (Unix epoch nanoseconds) as `2024-01-15 09:15:00 IST`.
pub fn ist_time(ts_ns: u64) -> String {
    let secs = (ts_ns / 1_000_000_000) as i64 + IST_OFFSET_SECS;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} IST", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `InsufficientFunds` → `insufficient funds`.
fn words(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

pub fn reject_reason(reason: RejectReason) -> String {
    match reason {
        RejectReason::PriceOutOfBand => "price outside the day's price band".into(),
        RejectReason::TickSizeViolation => "price not a multiple of the tick size".into(),
        RejectReason::LotSizeViolation => "quantity not a multiple of the lot size".into(),
        RejectReason::PostOnlyWouldCross => "post-only order would have traded immediately".into(),
        RejectReason::TriggerAlreadyHit => "trigger price already reached".into(),
        other => words(&format!("{other:?}")),
    }
}

pub fn cancel_reason(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::User => "cancelled on your request",
        CancelReason::IocRemainder => "IOC order: the unfilled part is cancelled",
        CancelReason::FokUnfilled => "FOK order could not be filled in full",
        CancelReason::MarketRemainder => "market order: no more liquidity within the price band",
        CancelReason::SelfTrade => "would have traded against your own order",
        CancelReason::Expired => "expired at the end of its validity",
        CancelReason::MassCancel => "cancelled with all open orders",
        CancelReason::Halt => "the instrument was halted",
        CancelReason::AccountSuspended => "your account was suspended",
        CancelReason::SquareOff => "intraday (MIS) square-off",
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

fn order_type(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit => "LIMIT",
        OrderType::Market => "MARKET",
        OrderType::StopLimit => "SL",
        OrderType::StopMarket => "SL-M",
    }
}

fn validity(v: Validity) -> &'static str {
    match v {
        Validity::Day => "DAY",
        Validity::Ioc => "IOC",
        Validity::Fok => "FOK",
        Validity::Gtc => "GTC",
    }
}

fn product(p: Product) -> &'static str {
    match p {
        Product::Cnc => "CNC",
        Product::Mis => "MIS",
    }
}

fn symbol(symbols: &Symbols, token: Token) -> String {
    symbols.get(&token).cloned().unwrap_or_else(|| format!("#{token}"))
}

/// Every notification `event` (event `idx` of batch `seq` at `ts_ns`) gives, before preferences.
pub fn drafts(seq: u64, idx: usize, ts_ns: u64, event: &Event, symbols: &Symbols) -> Vec<Draft> {
    let footer = format!("\nTime:       {}\nReference:  event {seq}/{idx}\n", ist_time(ts_ns));
    match event {
        Event::Accepted(a) => vec![accepted(a, symbols, &footer)],
        Event::Rejected { kind, reason, client_ref, account, order_id } => {
            rejected(*kind, *reason, *client_ref, *account, *order_id, &footer).into_iter().collect()
        }
        Event::Trade(t) => trade(t, symbols, &footer),
        Event::Cancelled { order_id, account, token, remaining, reason } => {
            let sym = symbol(symbols, *token);
            vec![Draft {
                account: *account,
                kind: Kind::Cancels,
                subject: format!("Order {order_id} cancelled: {remaining} {sym} not filled"),
                body: format!(
                    "Your order has been cancelled.\n\nOrder id:   {order_id}\nInstrument: {sym}\n\
                     Unfilled:   {remaining}\nReason:     {}\n{footer}",
                    cancel_reason(*reason)
                ),
            }]
        }
        Event::Modified { order_id, client_ref, account, price, qty, trigger, remaining, priority_kept: _ } => {
            let price_text = if *price == 0 { "MARKET".to_string() } else { rupees(*price) };
            let trigger_line =
                if *trigger != 0 { format!("Trigger:    {}\n", rupees(*trigger)) } else { String::new() };
            vec![Draft {
                account: *account,
                kind: Kind::Modified,
                subject: format!("Order {order_id} modified: qty {qty} @ {price_text}"),
                body: format!(
                    "Your order has been modified.\n\nOrder id:   {order_id}\nClient ref: {client_ref}\n\
                     Quantity:   {qty}\nOpen:       {remaining}\nPrice:      {price_text}\n{trigger_line}{footer}"
                ),
            }]
        }
        Event::BalanceChanged { account, delta, cash, reason, .. } => {
            let (subject, what) = match reason {
                BalanceReason::Deposit => (format!("Funds added: {}", rupees(*delta)), "added to"),
                BalanceReason::Withdrawal => (format!("Funds withdrawn: {}", negated_rupees(*delta)), "withdrawn from"),
                _ => return Vec::new(),
            };
            vec![Draft {
                account: *account,
                kind: Kind::Funds,
                subject,
                body: format!(
                    "{} has been {what} your trading account.\n\nAmount:     {}\nBalance:    {}\n{footer}",
                    signed_rupees(false, delta.unsigned_abs()),
                    signed_rupees(false, delta.unsigned_abs()),
                    rupees(*cash)
                ),
            }]
        }
        _ => Vec::new(),
    }
}

fn accepted(a: &Accepted, symbols: &Symbols, footer: &str) -> Draft {
    let sym = symbol(symbols, a.token);
    let price_text = if a.order_type.has_limit_price() { rupees(a.price) } else { "MARKET".to_string() };
    let trigger_line =
        if a.order_type.is_stop() { format!("Trigger:    {}\n", rupees(a.trigger)) } else { String::new() };
    Draft {
        account: a.account,
        kind: Kind::Accepted,
        subject: format!("Order {} placed: {} {} {} @ {price_text}", a.order_id, side(a.side), a.qty, sym),
        body: format!(
            "Your order has been accepted by the exchange.\n\nOrder id:   {}\nClient ref: {}\nInstrument: {sym}\n\
             Side:       {}\nType:       {} ({}, {})\nQuantity:   {}\nPrice:      {price_text}\n{trigger_line}{footer}",
            a.order_id,
            a.client_ref,
            side(a.side),
            order_type(a.order_type),
            validity(a.validity),
            product(a.product),
            a.qty,
        ),
    }
}

fn rejected(
    kind: CommandKind,
    reason: RejectReason,
    client_ref: u64,
    account: u32,
    order_id: u64,
    footer: &str,
) -> Option<Draft> {
    let nkind = rejection_kind(kind, reason)?;
    let why = reject_reason(reason);
    let subject = match kind {
        CommandKind::Place => format!("Order rejected: {why}"),
        CommandKind::Modify => format!("Modification of order {order_id} rejected: {why}"),
        CommandKind::Cancel => format!("Cancellation of order {order_id} rejected: {why}"),
        CommandKind::Withdraw => format!("Withdrawal rejected: {why}"),
        CommandKind::Deposit => format!("Deposit rejected: {why}"),
        _ => return None,
    };
    let order_line = if order_id != 0 { format!("Order id:   {order_id}\n") } else { String::new() };
    Some(Draft {
        account,
        kind: nkind,
        subject,
        body: format!(
            "Your request was rejected by the exchange.\n\n{order_line}Client ref: {client_ref}\nReason:     {why}\n{footer}"
        ),
    })
}

fn trade(t: &Trade, symbols: &Symbols, footer: &str) -> Vec<Draft> {
    let sym = symbol(symbols, t.token);
    let value = t.price.saturating_mul(t.qty);
    let one = |account: u32, verb: &str, order: u64, fee: i64, remaining: i64| {
        Draft {
        account,
        kind: Kind::Executions,
        subject: format!("{verb} {} {sym} @ {} (order {order})", t.qty, rupees(t.price)),
        body: format!(
            "Your order was executed.\n\nOrder id:   {order}\nTrade id:   {}\nInstrument: {sym}\nAction:     {verb}\nQuantity:   {}\n\
             Price:      {}\nValue:      {}\nFee:        {}\nStill open: {remaining}\n{footer}",
            t.trade_id,
            t.qty,
            rupees(t.price),
            rupees(value),
            rupees(fee),
        ),
    }
    };
    let mut out = vec![one(t.buy_account, "Bought", t.buy_order, t.buy_fee, t.buy_remaining)];
    if t.sell_account != t.buy_account {
        out.push(one(t.sell_account, "Sold", t.sell_order, t.sell_fee, t.sell_remaining));
    } else {
        // One account on both sides (self-trade prevention off): one message per (event, channel).
        let sell = one(t.sell_account, "Sold", t.sell_order, t.sell_fee, t.sell_remaining);
        out[0].subject = format!("Bought and sold {} {sym} @ {}", t.qty, rupees(t.price));
        out[0].body.push_str("\n---\n");
        out[0].body.push_str(&sell.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_use_indian_grouping_and_two_decimals() {
        assert_eq!(rupees(0), "Rs 0.00");
        assert_eq!(rupees(5), "Rs 0.05");
        assert_eq!(rupees(150_005), "Rs 1,500.05");
        assert_eq!(rupees(12_345_678_900), "Rs 12,34,56,789.00");
        assert_eq!(rupees(10_000_000), "Rs 1,00,000.00");
        assert_eq!(rupees(-1_000), "-Rs 10.00");
        assert_eq!(rupees(i64::MIN), "-Rs 92,23,37,20,36,85,47,758.08");
    }

    #[test]
    fn ist_time_is_utc_plus_five_thirty() {
        // 2024-01-15 03:45:00 UTC = 09:15:00 IST.
        assert_eq!(ist_time(1_705_290_300 * 1_000_000_000), "2024-01-15 09:15:00 IST");
        // 2024-02-29 18:30:00 UTC = 2024-03-01 00:00:00 IST (leap day rolls over).
        assert_eq!(ist_time(1_709_231_400 * 1_000_000_000), "2024-03-01 00:00:00 IST");
        assert_eq!(ist_time(0), "1970-01-01 05:30:00 IST");
    }

    #[test]
    fn a_duplicate_funds_request_is_not_reported_as_a_rejection() {
        assert!(rejected(CommandKind::Deposit, RejectReason::DuplicateRequest, 7, 1, 0, "").is_none());
        assert!(rejected(CommandKind::Withdraw, RejectReason::DuplicateRequest, 7, 1, 0, "").is_none());
        assert!(rejected(CommandKind::Withdraw, RejectReason::InsufficientFunds, 7, 1, 0, "").is_some());
    }

    /// `apply` creates rows from `audience`, delivery renders them with `drafts`: for every event,
    /// the two must name the same `(account, kind)` pairs in the same order.
    #[test]
    fn audience_names_exactly_the_accounts_and_kinds_drafts_renders() {
        use services_core::testkit::{run_engine, trading_day, TS0};
        let (_, batches) = run_engine(&trading_day(4, 3_000, 5), TS0);
        let mut events: Vec<Event> = batches.iter().flat_map(|b| b.events.iter().copied()).collect();
        for &kind in CommandKind::ALL {
            for &reason in RejectReason::ALL {
                events.push(Event::Rejected { kind, reason, client_ref: 9, account: 3, order_id: 4 });
            }
        }
        for &reason in BalanceReason::ALL {
            for delta in [i64::MIN, -5, 0, 5, i64::MAX] {
                events.push(Event::BalanceChanged { account: 2, delta, cash: i64::MIN, reason, client_ref: 1 });
            }
        }
        let trade = batches
            .iter()
            .flat_map(|b| &b.events)
            .find_map(|e| if let Event::Trade(t) = e { Some(*t) } else { None })
            .expect("a trade");
        events.push(Event::Trade(Trade { sell_account: trade.buy_account, ..trade }));
        events.push(Event::Modified {
            order_id: 1,
            client_ref: 2,
            account: 3,
            price: 0,
            qty: 4,
            trigger: i64::MIN,
            remaining: 4,
            priority_kept: false,
        });
        let kinds: std::collections::BTreeSet<Kind> =
            events.iter().flat_map(|e| audience(e).iter()).map(|p| p.1).collect();
        assert_eq!(kinds.len(), Kind::ALL.len(), "every kind is exercised: {kinds:?}");
        for (i, event) in events.iter().enumerate() {
            let want: Vec<(u32, Kind)> =
                drafts(7, i, TS0, event, &Symbols::new()).iter().map(|d| (d.account, d.kind)).collect();
            let got: Vec<(u32, Kind)> = audience(event).iter().collect();
            assert_eq!(got, want, "{event:?}");
            assert_eq!(audience(event).is_empty(), want.is_empty());
        }
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(reject_reason(RejectReason::InsufficientFunds), "insufficient funds");
        assert_eq!(reject_reason(RejectReason::OpenOrdersLimitExceeded), "open orders limit exceeded");
    }
}
