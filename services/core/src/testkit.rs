//! Realistic event streams for service tests: commands applied to a real in-process engine,
//! one [`EventBatch`] per seq (empty batches included).

use engine_core::{
    AccountLimits, Command, Engine, FeeSchedule, InstrumentSpec, Limits, NewOrder, OrderType, Product, Side, Symbol,
    Validity,
};

use crate::feed::EventBatch;

/// Applies `commands` from seq 1 (timestamps 1 ms apart from `ts0_ns`); returns the engine and
/// the batches.
pub fn run_engine(commands: &[Command], ts0_ns: u64) -> (Engine, Vec<EventBatch>) {
    let mut engine: Engine = Engine::new(Limits::small());
    let batches = commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let seq = i as u64 + 1;
            let ts_ns = ts0_ns + i as u64 * 1_000_000;
            let mut events = Vec::new();
            engine.apply(seq, ts_ns, c, &mut events);
            EventBatch { seq, ts_ns, events }
        })
        .collect();
    (engine, batches)
}

/// Instrument INFY (token 408065, tick 5 paise, lot 1, reference ₹1,500, band 10%, MIS 5x).
pub const INFY: u32 = 408_065;
/// Instrument TCS (token 2953217, tick 5 paise, lot 1, reference ₹3,500, band 10%, MIS 5x).
pub const TCS: u32 = 2_953_217;
/// The fee account in [`trading_day`].
pub const FEE_ACCOUNT: u32 = 0;

/// A small trading day: two instruments, a fee account, `accounts` funded traders (ids 1..)
/// (₹1 crore and 5,000 INFY / 2,000 TCS each), then `orders` seeded orders of every kind (limit, market, SL, IOC, CNC and
/// MIS, some crossing), a withdrawal or two, an MIS square-off and the session close.
pub fn trading_day(accounts: u32, orders: usize, seed: u64) -> Vec<Command> {
    let mut c = Vec::new();
    for (token, sym, reference) in [(INFY, "INFY", 150_000), (TCS, "TCS", 350_000)] {
        c.push(Command::AddInstrument(InstrumentSpec {
            token,
            symbol: Symbol::new(sym).unwrap_or_default(),
            tick: 5,
            lot: 1,
            band_bps: 1_000,
            reference_price: reference,
            mis_leverage: 5,
        }));
    }
    c.push(Command::CreateAccount { account: FEE_ACCOUNT, limits: AccountLimits::default() });
    c.push(Command::SetFeeSchedule(FeeSchedule { bps: 3, cap: 2_000, fee_account: FEE_ACCOUNT }));
    for account in 1..=accounts {
        c.push(Command::CreateAccount { account, limits: AccountLimits::default() });
        c.push(Command::ActivateAccount { account });
        c.push(Command::Deposit { account, amount: 1_000_000_000 });
        c.push(Command::DepositHoldings { account, token: INFY, qty: 5_000 });
        c.push(Command::DepositHoldings { account, token: TCS, qty: 2_000 });
    }
    c.push(Command::OpenSession);
    let mut x = seed | 1;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..orders {
        let r = rand();
        let account = 1 + (r % accounts as u64) as u32;
        let (token, mid) = if r & 1 == 0 { (INFY, 150_000) } else { (TCS, 350_000) };
        let side = if r & 2 == 0 { Side::Buy } else { Side::Sell };
        let offset = 5 * ((r >> 8) % 20) as i64 - 50;
        let price = mid + offset;
        let product = if r & 4 == 0 { Product::Cnc } else { Product::Mis };
        let qty = 1 + ((r >> 16) % 20) as i64;
        let (order_type, validity, limit, trigger) = match (r >> 24) % 10 {
            0 => (OrderType::Market, Validity::Day, 0, 0),
            1 => (OrderType::Limit, Validity::Ioc, price, 0),
            2 => {
                let t = if side == Side::Buy { mid + 60 } else { mid - 60 };
                (OrderType::StopLimit, Validity::Day, t, t)
            }
            _ => (OrderType::Limit, Validity::Day, price, 0),
        };
        c.push(Command::Place(NewOrder {
            client_ref: i as u64 + 1,
            account,
            token,
            side,
            order_type,
            validity,
            product,
            price: limit,
            trigger,
            qty,
            disclosed: 0,
            post_only: false,
        }));
        if i % 97 == 96 {
            c.push(Command::Withdraw { account, amount: 1_000_000 });
        }
    }
    c.push(Command::SquareOffMis { token: INFY });
    c.push(Command::SquareOffMis { token: TCS });
    c.push(Command::CloseSession);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_core::Event;

    #[test]
    fn the_trading_day_trades_and_settles() {
        let (_, batches) = run_engine(&trading_day(20, 2_000, 7), 1_700_000_000_000_000_000);
        let trades = batches.iter().flat_map(|b| &b.events).filter(|e| matches!(e, Event::Trade(_))).count();
        let rejects = batches.iter().flat_map(|b| &b.events).filter(|e| matches!(e, Event::Rejected { .. })).count();
        assert!(trades > 200, "{trades} trades");
        let mut reasons = std::collections::BTreeMap::new();
        for e in batches.iter().flat_map(|b| &b.events) {
            if let Event::Rejected { reason, .. } = e {
                *reasons.entry(format!("{reason:?}")).or_insert(0) += 1;
            }
        }
        assert!(rejects < batches.len() / 10, "{rejects} rejects: {reasons:?}");
        assert!(batches.iter().enumerate().all(|(i, b)| b.seq == i as u64 + 1));
    }
}
