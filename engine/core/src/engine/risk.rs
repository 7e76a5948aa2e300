//! Reservation, margin and fee arithmetic (docs/engine-semantics.md, "Reservations").
//! Pure functions of integers; products are widened to i128 and checked.

use crate::command::FeeSchedule;
use crate::types::{OrderType, Price, Product, Qty, Side};

/// `ceil(a / b)` for `a >= 0`, `b > 0`.
#[inline]
pub(crate) fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

/// Fee of one side of one fill.
#[inline]
pub(crate) fn fee(fees: &FeeSchedule, notional: i64) -> i64 {
    if fees.bps == 0 {
        return 0;
    }
    let raw = ceil_div(notional as i128 * fees.bps as i128, 10_000) as i64;
    if fees.cap > 0 {
        raw.min(fees.cap)
    } else {
        raw
    }
}

/// Per-share fee bound at price `p`: `ceil(p * bps / 10000)`. `q * fee_ps(p) >= fee(q * p')` for p' <= p.
#[inline]
pub(crate) fn fee_per_share(fees: &FeeSchedule, price: Price) -> i64 {
    ceil_div(price as i128 * fees.bps as i128, 10_000) as i64
}

/// The price an order's reservation is computed at.
#[inline]
pub(crate) fn reserve_price(
    side: Side,
    order_type: OrderType,
    product: Product,
    price: Price,
    band_high: Price,
) -> Price {
    match (side, product) {
        (Side::Sell, Product::Mis) => band_high,
        _ if order_type.has_limit_price() => price,
        _ => band_high,
    }
}

/// Cash blocked per remaining share (0 for CNC sells, which block holdings instead).
#[inline]
pub(crate) fn reserve_per_share(
    fees: &FeeSchedule,
    side: Side,
    product: Product,
    rp: Price,
    reference: Price,
    leverage: u32,
) -> i64 {
    match (product, side) {
        (Product::Cnc, Side::Buy) => rp + fee_per_share(fees, rp),
        (Product::Cnc, Side::Sell) => 0,
        (Product::Mis, _) => {
            ceil_div(rp.max(reference) as i128, leverage.max(1) as i128) as i64 + fee_per_share(fees, rp)
        }
    }
}

/// Margin of an open MIS position.
#[inline]
pub(crate) fn mis_margin(mis_qty: Qty, reference: Price, leverage: u32) -> i64 {
    ceil_div(mis_qty.unsigned_abs() as i128 * reference as i128, leverage.max(1) as i128) as i64
}

/// `qty * price`, or `None` when it does not fit an i64.
#[inline]
pub(crate) fn notional(qty: Qty, price: Price) -> Option<i64> {
    i64::try_from(qty as i128 * price as i128).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_share_fee_bound_covers_any_fill_at_or_below_the_reserve_price() {
        let fees = FeeSchedule { bps: 3, cap: 0, fee_account: 0 };
        for rp in [5i64, 95, 100, 12_345, 150_000] {
            for p in [5i64, rp / 2 / 5 * 5 + 5, rp] {
                for q in [1i64, 7, 333, 10_000] {
                    assert!(q * fee_per_share(&fees, rp) >= fee(&fees, q * p), "rp {rp} p {p} q {q}");
                }
            }
        }
    }

    #[test]
    fn fee_rounds_up_and_caps() {
        let fees = FeeSchedule { bps: 3, cap: 2_000, fee_account: 0 };
        assert_eq!(fee(&fees, 1), 1);
        assert_eq!(fee(&fees, 10_000), 3);
        assert_eq!(fee(&fees, 10_001), 4);
        assert_eq!(fee(&fees, 1_000_000_000), 2_000);
    }
}
