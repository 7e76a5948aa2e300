//! State checks: the engine's views against the shadows kept from the events, and against each
//! other (conservation of cash and shares, reservations, margins, depth, no crossed book).

use std::collections::{BTreeMap, BTreeSet};

use engine_core::{
    AccountId, AccountStatus, Book, Engine, InstrumentStatus, OrderView, Price, Product, Qty, Side, Token, Validity,
};

use super::{ceil_div, Checker};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Checker {
    /// Checks the engine's state against the shadows and against itself.
    pub fn check<B: Book>(&mut self, engine: &Engine<B>) -> Result<(), String> {
        let risk = self.risk;
        // Instruments.
        let insts: Vec<_> = engine.instruments().collect();
        ensure!(insts.len() == self.insts.len(), "{} instruments, events added {}", insts.len(), self.insts.len());
        ensure!(engine.session_open() == self.session_open, "session_open {}", engine.session_open());
        for inst in &insts {
            let info = self.insts.get(&inst.token).ok_or(format!("instrument {} never added", inst.token))?;
            ensure!(
                (inst.band_low, inst.band_high, inst.tick, inst.lot, inst.reference_price)
                    == (info.band_low, info.band_high, info.spec.tick, info.spec.lot, info.spec.reference_price),
                "instrument {inst:?} differs from its spec {info:?}"
            );
            ensure!(
                inst.last_price == self.ltp[&inst.token],
                "instrument {inst:?}: last trade was {}",
                self.ltp[&inst.token]
            );
        }
        let halted: BTreeSet<Token> =
            insts.iter().filter(|i| i.status == InstrumentStatus::Halted).map(|i| i.token).collect();

        // Orders against the shadow.
        let orders: Vec<OrderView> = engine.open_orders().collect();
        ensure!(
            orders.len() == self.orders.len(),
            "{} open orders, the events leave {} open",
            orders.len(),
            self.orders.len()
        );
        ensure!(orders.len() <= self.limits.orders_max as usize, "more open orders than orders_max");
        self.coverage.open_orders_peak = self.coverage.open_orders_peak.max(orders.len());
        let mut per_account: BTreeMap<AccountId, (i64, u32)> = BTreeMap::new();
        // (holdings_reserved, open_buy_qty, open_sell_qty) per position.
        let mut per_position: BTreeMap<(AccountId, Token), (Qty, Qty, Qty)> = BTreeMap::new();
        let mut per_level: BTreeMap<(Token, Side, Price), (Qty, u32)> = BTreeMap::new();
        let fee_bps = self.fee.bps as i64;
        let fee_ps = |p: i64| ceil_div(p * fee_bps, 10_000);
        for o in &orders {
            let s = self.orders.get(&o.order_id).ok_or(format!("open order {o:?} unknown to the events"))?;
            let view = (
                o.account,
                o.token,
                o.side,
                o.order_type,
                o.validity,
                o.product,
                o.price,
                o.trigger,
                o.qty,
                o.filled,
                (o.disclosed, o.post_only, o.triggered),
            );
            let shadow = (
                s.account,
                s.token,
                s.side,
                s.order_type,
                s.validity,
                s.product,
                s.price,
                s.trigger,
                s.qty,
                s.filled,
                (s.disclosed, s.post_only, s.triggered),
            );
            ensure!(view == shadow, "order {o:?} differs from what the events say: {s:?}");
            let remaining = o.remaining();
            ensure!(remaining > 0, "open order {o:?} with nothing remaining");
            ensure!(!halted.contains(&o.token), "open order {o:?} in a halted instrument");
            ensure!(
                self.session_open || o.validity != Validity::Day,
                "DAY order {o:?} open while the session is closed"
            );
            if o.triggered {
                ensure!(
                    o.order_type.has_limit_price() && matches!(o.validity, Validity::Day | Validity::Gtc),
                    "resting order {o:?} is not a DAY/GTC limit"
                );
                ensure!(o.visible > 0 && o.visible <= remaining, "resting order {o:?}: visible out of range");
                ensure!(o.disclosed == 0 || o.visible <= o.disclosed, "resting order {o:?}: visible above disclosed");
                let e = per_level.entry((o.token, o.side, o.price)).or_default();
                e.0 += o.visible;
                e.1 += 1;
            } else {
                ensure!(o.order_type.is_stop() && o.visible == 0, "untriggered order {o:?} shows quantity");
                let ltp = self.ltp[&o.token];
                let hit = match o.side {
                    Side::Buy => o.trigger <= ltp,
                    Side::Sell => o.trigger >= ltp,
                };
                ensure!(!hit, "stop {o:?} left untriggered at last price {ltp}");
            }
            if risk {
                ensure!(
                    o.reserved_cash == remaining * o.reserve_per_share,
                    "order {o:?}: reserved_cash != remaining * reserve_per_share"
                );
                let info = self.insts[&o.token];
                let acct = engine.account(o.account).ok_or(format!("order {o:?} of an unknown account"))?;
                let eligible = !s.modified
                    && s.fee_epoch == self.fee_epoch
                    && s.limits_epoch == self.limits_epoch.get(&o.account).copied().unwrap_or(0);
                if eligible {
                    let rp = match (o.side, o.product, o.order_type.has_limit_price()) {
                        (Side::Buy, _, true) => o.price,
                        (Side::Buy, _, false) | (Side::Sell, Product::Mis, _) => info.band_high,
                        (Side::Sell, Product::Cnc, _) => 0,
                    };
                    let lev =
                        if acct.limits.mis_leverage != 0 { acct.limits.mis_leverage } else { info.spec.mis_leverage };
                    let rps = match (o.side, o.product) {
                        (Side::Buy, Product::Cnc) => rp + fee_ps(rp),
                        (Side::Sell, Product::Cnc) => 0,
                        (_, Product::Mis) => ceil_div(rp.max(info.spec.reference_price), lev as i64) + fee_ps(rp),
                    };
                    ensure!(
                        o.reserve_per_share == rps,
                        "order {o:?}: reserve_per_share {} but the docs give {rps} (fee {:?}, leverage {lev})",
                        o.reserve_per_share,
                        self.fee
                    );
                }
                let a = per_account.entry(o.account).or_default();
                a.0 += o.reserved_cash;
                a.1 += 1;
                let p = per_position.entry((o.account, o.token)).or_default();
                if o.side == Side::Sell && o.product == Product::Cnc {
                    p.0 += remaining;
                }
                match o.side {
                    Side::Buy => p.1 += remaining,
                    Side::Sell => p.2 += remaining,
                }
            }
        }

        // Book depth against the orders and against the BookLevel events.
        for inst in &insts {
            let mut best = [None, None];
            for (k, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
                let n = engine.depth(inst.token, side, &mut self.depth_buf);
                let levels = &self.depth_buf[..n];
                best[k] = levels.first().map(|l| l.price);
                let expected: Vec<(Price, Qty, u32)> = {
                    let range = per_level.range((inst.token, side, Price::MIN)..=(inst.token, side, Price::MAX));
                    let mut v: Vec<_> = range.map(|(&(_, _, p), &(q, c))| (p, q, c)).collect();
                    if side == Side::Buy {
                        v.reverse();
                    }
                    v
                };
                let got: Vec<(Price, Qty, u32)> = levels.iter().map(|l| (l.price, l.qty, l.orders)).collect();
                ensure!(
                    got == expected,
                    "depth {} {side:?} {got:?}\n  but the open orders give {expected:?}",
                    inst.token
                );
                for &(price, qty, count) in &got {
                    let shadow = self.levels.get(&(inst.token, side, price)).copied();
                    ensure!(
                        shadow == Some((qty, count)),
                        "depth {} {side:?} {price}: {qty}/{count}, the last BookLevel said {shadow:?}",
                        inst.token
                    );
                }
                let shadow_count = self.levels.keys().filter(|(t, s, _)| *t == inst.token && *s == side).count();
                ensure!(
                    shadow_count == got.len(),
                    "BookLevel events leave {shadow_count} levels on {} {side:?}, depth has {}",
                    inst.token,
                    got.len()
                );
            }
            if let [Some(bid), Some(ask)] = best {
                ensure!(bid < ask, "crossed book in {}: bid {bid} >= ask {ask}", inst.token);
            }
        }

        // Accounts.
        let mut cash_total: i128 = 0;
        let mut margin_by_account: BTreeMap<AccountId, i64> = BTreeMap::new();
        let mut shares: BTreeMap<Token, i128> = BTreeMap::new();
        let positions: Vec<_> = engine.positions().collect();
        if risk {
            ensure!(positions.len() <= self.limits.positions_max as usize, "more positions than positions_max");
            self.coverage.positions_peak = self.coverage.positions_peak.max(positions.len());
            let mut seen: BTreeSet<(AccountId, Token)> = BTreeSet::new();
            for p in &positions {
                let key = (p.account, p.token);
                ensure!(seen.insert(key), "two positions for {key:?}");
                let (reserved, buy, sell) = per_position.remove(&key).unwrap_or_default();
                ensure!(
                    (p.holdings_reserved, p.open_buy_qty, p.open_sell_qty) == (reserved, buy, sell),
                    "position {p:?}: the open orders give holdings_reserved {reserved}, buys {buy}, sells {sell}"
                );
                ensure!(
                    p.holdings != 0
                        || p.holdings_reserved != 0
                        || p.mis_qty != 0
                        || p.mis_value != 0
                        || p.mis_margin != 0
                        || p.open_buy_qty != 0
                        || p.open_sell_qty != 0,
                    "position {p:?} is all zero but not freed"
                );
                let holdings = self.holdings.get(&key).copied().unwrap_or(0);
                ensure!(p.holdings == holdings, "position {p:?}: HoldingsChanged events give {holdings}");
                let mis = self.mis.get(&key).copied().unwrap_or_default();
                ensure!((p.mis_qty, p.mis_value) == mis, "position {p:?}: the trades give MIS (qty, value) {mis:?}");
                let info = self.insts[&p.token];
                if !self.margin_stale.contains(&p.account) {
                    let acct = engine.account(p.account).ok_or(format!("position {p:?} of an unknown account"))?;
                    let lev =
                        if acct.limits.mis_leverage != 0 { acct.limits.mis_leverage } else { info.spec.mis_leverage };
                    let margin = ceil_div(p.mis_qty.abs() * info.spec.reference_price, lev as i64);
                    ensure!(p.mis_margin == margin, "position {p:?}: mis_margin, docs give {margin} (leverage {lev})");
                }
                *margin_by_account.entry(p.account).or_default() += p.mis_margin;
                cash_total += p.mis_value as i128;
                *shares.entry(p.token).or_default() += (p.holdings + p.mis_qty) as i128;
            }
            ensure!(per_position.is_empty(), "open orders without a position: {per_position:?}");
            let with_mis: BTreeSet<AccountId> =
                positions.iter().filter(|p| p.mis_qty != 0).map(|p| p.account).collect();
            self.margin_stale.retain(|a| with_mis.contains(a));
            for (key, &h) in &self.holdings {
                ensure!(h == 0 || seen.contains(key), "holdings {h} of {key:?} but no position");
            }
        }
        let accounts: Vec<_> = engine.accounts().collect();
        ensure!(accounts.len() == self.cash.len(), "{} accounts, events created {}", accounts.len(), self.cash.len());
        ensure!(accounts.windows(2).all(|w| w[0].id < w[1].id), "accounts() not ascending");
        for a in &accounts {
            let status = self.status.get(&a.id).copied();
            ensure!(status == Some(a.status), "account {a:?}: the events say status {status:?}");
            let reported = self.reported_risk.get(&a.id).copied().unwrap_or((0, 0));
            ensure!(
                (a.reserved, a.margin) == reported,
                "account {a:?}: AccountRisk events last reported (reserved, margin) = {reported:?}"
            );
            let funds_ref = self.funds_ref.get(&a.id).copied().unwrap_or(0);
            ensure!(a.funds_ref == funds_ref, "account {a:?}: BalanceChanged events give funds_ref {funds_ref}");
            if !risk {
                continue;
            }
            ensure!(
                a.available == a.cash - a.reserved - a.margin,
                "account {a:?}: available != cash - reserved - margin"
            );
            let shadow = self.cash.get(&a.id).copied().unwrap_or(0);
            ensure!(a.cash == shadow, "account {a:?}: BalanceChanged events give cash {shadow}");
            let (reserved, count) = per_account.remove(&a.id).unwrap_or_default();
            ensure!(
                a.reserved == reserved && a.open_orders == count,
                "account {a:?}: its open orders reserve {reserved} in {count} orders"
            );
            let margin = margin_by_account.remove(&a.id).unwrap_or(0);
            ensure!(a.margin == margin, "account {a:?}: its positions' mis_margin add up to {margin}");
            ensure!(a.status == AccountStatus::Active || count == 0, "account {a:?} is not active but has open orders");
            if !self.mis_touched.contains(&a.id) && !self.funds_exempt.contains(&a.id) {
                ensure!(a.cash >= 0 && a.available >= 0, "account {a:?} (never traded MIS) went below zero");
            }
            cash_total += a.cash as i128;
        }
        if risk {
            ensure!(per_account.is_empty(), "open orders of unknown accounts: {per_account:?}");
            ensure!(margin_by_account.is_empty(), "positions of unknown accounts: {margin_by_account:?}");
            ensure!(
                cash_total == self.cash_in,
                "cash not conserved: sum of cash + mis_value = {cash_total}, deposits - withdrawals = {}",
                self.cash_in
            );
            for (token, &shares_in) in &self.shares_in {
                let held = shares.get(token).copied().unwrap_or(0);
                ensure!(
                    held == shares_in,
                    "shares of {token} not conserved: holdings + mis_qty = {held}, deposited - withdrawn = {shares_in}"
                );
            }
        }
        Ok(())
    }
}
