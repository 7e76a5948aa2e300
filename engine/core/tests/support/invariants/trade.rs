//! Per-trade checks: the trade against the shadow orders (price, priority, remaining), fees,
//! and the settlement events that must follow it (docs: Matching, Settlement).

use std::collections::BTreeMap;

use engine_core::{AccountId, BalanceReason, Command, Event, HoldingsReason, Product, Side, Trade};

use super::{fee_of, Checker};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Checker {
    pub(super) fn on_trade(&mut self, cmd: &Command, events: &[Event], i: usize, t: &Trade) -> Result<(), String> {
        ensure!(t.trade_id > self.last_trade_id, "trade id {} after {}", t.trade_id, self.last_trade_id);
        self.last_trade_id = t.trade_id;
        let info = *self.insts.get(&t.token).ok_or(format!("trade in unknown instrument {}", t.token))?;
        ensure!(t.qty > 0 && t.qty % info.spec.lot == 0, "trade qty {} (lot {})", t.qty, info.spec.lot);
        ensure!(
            t.price >= info.band_low && t.price <= info.band_high && t.price % info.spec.tick == 0,
            "trade price {} outside the band or the grid",
            t.price
        );
        ensure!(t.buy_account != t.sell_account, "self-trade: {t:?}");
        let buy = *self.orders.get(&t.buy_order).ok_or(format!("trade with unknown buy order: {t:?}"))?;
        let sell = *self.orders.get(&t.sell_order).ok_or(format!("trade with unknown sell order: {t:?}"))?;
        ensure!(
            buy.side == Side::Buy && sell.side == Side::Sell && buy.token == t.token && sell.token == t.token,
            "trade {t:?} between {buy:?} and {sell:?}"
        );
        ensure!(
            buy.account == t.buy_account
                && sell.account == t.sell_account
                && buy.product == t.buy_product
                && sell.product == t.sell_product,
            "trade {t:?} accounts or products differ from the orders"
        );
        ensure!(buy.triggered && sell.triggered, "trade with an untriggered stop: {t:?}");
        ensure!(
            t.buy_remaining == buy.remaining() - t.qty && t.sell_remaining == sell.remaining() - t.qty,
            "trade {t:?} remaining does not match the orders ({} and {} before)",
            buy.remaining(),
            sell.remaining()
        );
        let (maker, taker) = match t.aggressor {
            Side::Buy => (sell, buy),
            Side::Sell => (buy, sell),
        };
        ensure!(maker.order_type.has_limit_price() && maker.price == t.price, "trade {t:?} not at the maker's price");
        // The maker is the best resting order of its side: best price, then time (levels holding
        // an iceberg are skipped: refills move it back without an event).
        let maker_id = if t.aggressor == Side::Buy { t.sell_order } else { t.buy_order };
        let maker_side = t.aggressor.opposite();
        let resting =
            || self.orders.iter().filter(move |(_, o)| o.token == t.token && o.side == maker_side && o.triggered);
        let better = resting().find(|(_, o)| match maker_side {
            Side::Buy => o.price > t.price,
            Side::Sell => o.price < t.price,
        });
        ensure!(better.is_none(), "trade {t:?} at {} while {better:?} rests at a better price", t.price);
        let level = || resting().filter(|(_, o)| o.price == t.price);
        if level().all(|(_, o)| o.disclosed == 0) {
            let first = level().min_by_key(|(_, o)| o.prio).map(|(&id, _)| id);
            ensure!(first == Some(maker_id), "trade {t:?}: order {first:?} is ahead of the maker {maker_id} in time");
        }
        if taker.order_type.has_limit_price() {
            let crosses = match t.aggressor {
                Side::Buy => taker.price >= t.price,
                Side::Sell => taker.price <= t.price,
            };
            ensure!(crosses, "trade {t:?} beyond the taker's limit {}", taker.price);
        }
        if maker.disclosed > 0 {
            self.coverage.iceberg_trades += 1;
        }
        let notional = t.qty * t.price;
        let (buy_fee, sell_fee) =
            if self.risk { (fee_of(&self.fee, notional), fee_of(&self.fee, notional)) } else { (0, 0) };
        ensure!(
            (t.buy_fee, t.sell_fee) == (buy_fee, sell_fee),
            "trade fees ({}, {}), schedule {:?} gives {buy_fee} each",
            t.buy_fee,
            t.sell_fee,
            self.fee
        );
        // Expected settlement sequence (docs: Matching).
        let mut expected: Vec<Event> = Vec::new();
        if self.risk {
            let mut cash: BTreeMap<AccountId, i64> = BTreeMap::new();
            for account in [t.buy_account, t.sell_account, self.fee.fee_account] {
                cash.insert(account, self.cash.get(&account).copied().unwrap_or(0));
            }
            let sides =
                [(t.buy_account, t.buy_product, 1i64, t.buy_fee), (t.sell_account, t.sell_product, -1i64, t.sell_fee)];
            for (account, product, sign, fee) in sides {
                match product {
                    Product::Cnc => {
                        let h = self.holdings.get(&(account, t.token)).copied().unwrap_or(0) + sign * t.qty;
                        expected.push(Event::HoldingsChanged {
                            account,
                            token: t.token,
                            delta: sign * t.qty,
                            holdings: h,
                            reason: HoldingsReason::Trade,
                        });
                        let delta = -sign * notional - fee;
                        let c = cash.get_mut(&account).expect("cash");
                        *c += delta;
                        expected.push(Event::BalanceChanged {
                            account,
                            delta,
                            cash: *c,
                            reason: BalanceReason::TradeSettlement,
                            client_ref: 0,
                        });
                    }
                    Product::Mis => {
                        self.mis_touched.insert(account);
                        let c = cash.get_mut(&account).expect("cash");
                        if fee != 0 {
                            *c -= fee;
                            expected.push(Event::BalanceChanged {
                                account,
                                delta: -fee,
                                cash: *c,
                                reason: BalanceReason::Fee,
                                client_ref: 0,
                            });
                        }
                        let pos = self.mis.entry((account, t.token)).or_default();
                        pos.0 += sign * t.qty;
                        pos.1 -= sign * notional;
                        if pos.0 == 0 {
                            let value = pos.1;
                            pos.1 = 0;
                            if value != 0 {
                                *c += value;
                                expected.push(Event::BalanceChanged {
                                    account,
                                    delta: value,
                                    cash: *c,
                                    reason: BalanceReason::MisSettlement,
                                    client_ref: 0,
                                });
                            }
                        }
                        if *pos == (0, 0) {
                            self.mis.remove(&(account, t.token));
                        }
                    }
                }
            }
            let fees = t.buy_fee + t.sell_fee;
            if fees != 0 {
                let c = cash.get_mut(&self.fee.fee_account).expect("cash");
                *c += fees;
                expected.push(Event::BalanceChanged {
                    account: self.fee.fee_account,
                    delta: fees,
                    cash: *c,
                    reason: BalanceReason::Fee,
                    client_ref: 0,
                });
            }
        }
        let got = events.get(i + 1..i + 1 + expected.len()).unwrap_or(&[]);
        ensure!(
            got == expected.as_slice(),
            "settlement of {t:?}:\n  expected {expected:?}\n  got      {got:?}\n  (command {cmd:?})"
        );
        let level = events.get(i + 1 + expected.len());
        let maker_side = t.aggressor.opposite();
        ensure!(
            matches!(level, Some(Event::BookLevel { token, side, price, .. })
                if *token == t.token && *side == maker_side && *price == t.price),
            "trade {t:?} not followed (after settlement) by the maker's BookLevel: {level:?}"
        );
        // Fills.
        for (id, remaining) in [(t.buy_order, t.buy_remaining), (t.sell_order, t.sell_remaining)] {
            if remaining == 0 {
                self.orders.remove(&id);
            } else {
                self.orders.get_mut(&id).expect("order").filled += t.qty;
            }
        }
        self.ltp.insert(t.token, t.price);
        Ok(())
    }
}
