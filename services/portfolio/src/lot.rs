//! Average-cost accounting of one open position (integers only).

/// An open quantity and what it cost.
///
/// `open_value` is the signed cost basis of the open quantity: what was paid for a long
/// position (positive), what was received for a short one (negative). The average price is
/// `open_value / qty`. A fill that reduces the position realises
/// `proceeds - cost of the closed part`, where the closed part's cost is the proportional share
/// of `open_value`, rounded toward zero; the rounding remainder stays in `open_value`, so when the
/// position is flat again the realised total is exactly the net cash of all its fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lot {
    /// Signed shares: positive long, negative short.
    pub qty: i64,
    /// Signed cost basis of `qty` (paise).
    pub open_value: i64,
    /// Realised profit (paise, negative for a loss).
    pub realized: i64,
}

impl Lot {
    /// Applies a signed fill: `qty` shares (positive bought, negative sold) whose signed value is
    /// `value` (`+q*p` for a buy, `-q*p` for a sale).
    pub fn fill(&mut self, qty: i64, value: i64) {
        if qty == 0 {
            return;
        }
        if self.qty == 0 || (self.qty > 0) == (qty > 0) {
            self.qty += qty;
            self.open_value += value;
            return;
        }
        let closing = qty.abs().min(self.qty.abs());
        let removed = proportion(self.open_value, closing, self.qty.abs());
        let closing_value = proportion(value, closing, qty.abs());
        // Proceeds of the closed part are -closing_value; its cost is `removed`.
        self.realized += -closing_value - removed;
        self.open_value -= removed;
        self.qty += qty.signum() * closing;
        let rest = qty - qty.signum() * closing;
        if rest != 0 {
            // The fill went through zero: what is left opens a position the other way.
            self.qty = rest;
            self.open_value = value - closing_value;
        }
    }

    /// Removes `qty` shares (positive) at their cost, realising nothing (a transfer out).
    pub fn transfer_out(&mut self, qty: i64) {
        let removed = proportion(self.open_value, qty.min(self.qty.abs()), self.qty.abs());
        self.open_value -= removed;
        self.qty -= qty;
    }

    /// Average price per share, `open_value / qty` (positive for a long and for a short),
    /// rounded toward zero; 0 when flat.
    pub fn average_price(&self) -> i64 {
        if self.qty == 0 {
            0
        } else {
            self.open_value / self.qty
        }
    }
}

/// `value * part / whole`, rounded toward zero; exactly `value` when `part == whole`.
fn proportion(value: i64, part: i64, whole: i64) -> i64 {
    if whole == 0 || part == whole {
        return value;
    }
    (value as i128 * part as i128 / whole as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_average_and_realised() {
        let mut l = Lot::default();
        l.fill(10, 1_000);
        l.fill(10, 1_100);
        l.fill(-5, -600);
        assert_eq!((l.qty, l.open_value, l.realized, l.average_price()), (15, 1_575, 75, 105));
    }

    #[test]
    fn short_cover_and_flip() {
        let mut l = Lot::default();
        l.fill(-10, -1_000); // short 10 @ 100
        l.fill(4, 360); // cover 4 @ 90: +40
        assert_eq!((l.qty, l.open_value, l.realized), (-6, -600, 40));
        l.fill(10, 1_100); // cover 6 @ 110 (-60), then long 4 @ 110
        assert_eq!((l.qty, l.open_value, l.realized), (4, 440, -20));
    }

    #[test]
    fn a_round_trip_realises_exactly_its_net_cash() {
        let mut l = Lot::default();
        l.fill(3, 100);
        l.fill(-1, -40);
        l.fill(-1, -40);
        l.fill(-1, -41);
        assert_eq!((l.qty, l.open_value, l.realized), (0, 0, 21));
    }
}
