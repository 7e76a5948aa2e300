//! Rupees at the edge, paise inside.
//!
//! [`parse_rupees`] turns a client's decimal string ("1522.5") into paise (152250) with integer
//! arithmetic only. [`Decimal`] is what goes back out: an exact decimal written as a JSON number
//! token ("1522.5", "0.05", "-12", "1522.0525") without ever passing through a float, so the
//! digits a client reads are the digits the ledger holds.

use core::fmt;

use engine_core::Price;
use serde::{Serialize, Serializer};

/// Largest amount [`parse_rupees`] accepts: ₹10^13 (10^15 paise), far above any order value and
/// far below `i64::MAX`, so sums of a few of them cannot overflow.
pub const RUPEES_MAX: i64 = 10_000_000_000_000;

/// Why a rupee string was refused. The caller adds the field name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RupeeError {
    Empty,
    /// A sign, exponent, space, "NaN", "inf", a second dot, a leading or trailing dot, ...
    NotADecimal,
    /// More than two digits after the dot.
    TooManyDecimals,
    TooLarge,
}

impl fmt::Display for RupeeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RupeeError::Empty => "it is empty",
            RupeeError::NotADecimal => "it must be a plain decimal number of rupees such as 1522.5",
            RupeeError::TooManyDecimals => "it has more than two decimal places",
            RupeeError::TooLarge => "it is too large",
        })
    }
}

/// Parses a non-negative rupee amount with at most two decimals into paise.
///
/// Accepts `1522`, `1522.5`, `1522.50`, `0.05`, `0`; refuses signs, exponents, `NaN`/`inf`,
/// whitespace, `.5`, `5.`, and a third decimal even when it is zero.
pub fn parse_rupees(text: &str) -> Result<Price, RupeeError> {
    if text.is_empty() {
        return Err(RupeeError::Empty);
    }
    let (whole, frac) = match text.split_once('.') {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (text, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RupeeError::NotADecimal);
    }
    let frac = match frac {
        None => "",
        Some(frac) => {
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RupeeError::NotADecimal);
            }
            if frac.len() > 2 {
                return Err(RupeeError::TooManyDecimals);
            }
            frac
        }
    };
    // Leading zeros are fine ("007.50"); the digit count bound keeps the loop from overflowing.
    let significant = whole.trim_start_matches('0');
    if significant.len() > 14 {
        return Err(RupeeError::TooLarge);
    }
    let mut rupees: i64 = 0;
    for b in significant.bytes() {
        rupees = rupees * 10 + i64::from(b - b'0');
    }
    let mut paise: i64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        paise += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
    }
    let total = rupees * 100 + paise;
    if total > RUPEES_MAX * 100 {
        return Err(RupeeError::TooLarge);
    }
    Ok(total)
}

/// An exact decimal amount: `units / 10^scale` rupees (or any other unit the field uses).
///
/// Serialized as a JSON number token with trailing zeros trimmed: paise 152250 → `1522.5`,
/// 152205 → `1522.05`, 152200 → `1522`, -5 → `-0.05`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    units: i128,
    scale: u8,
}

/// Decimal places kept by [`Decimal::average`] (rupees to 1/10000, i.e. 1/100 paise).
pub const AVERAGE_SCALE: u8 = 4;
const SCALE_MAX: u8 = 18;

impl Decimal {
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    /// Paise as rupees: `paise(152250)` is ₹1522.5.
    pub const fn paise(paise: i64) -> Decimal {
        Decimal { units: paise as i128, scale: 2 }
    }

    /// A whole number (quantities, counts) written as a decimal.
    pub const fn integer(value: i64) -> Decimal {
        Decimal { units: value as i128, scale: 0 }
    }

    /// `units / 10^scale`. `scale` above 18 is clamped to 18.
    pub fn new(units: i128, scale: u8) -> Decimal {
        Decimal { units, scale: scale.min(SCALE_MAX) }
    }

    /// `num / den` rounded half away from zero to `scale` decimals; zero when `den` is zero.
    /// Saturates at the ends of `i128` instead of overflowing.
    pub fn ratio(num: i128, den: i128, scale: u8) -> Decimal {
        let scale = scale.min(SCALE_MAX);
        if den == 0 {
            return Decimal { units: 0, scale };
        }
        let negative = (num < 0) != (den < 0);
        let (n, d) = (num.unsigned_abs(), den.unsigned_abs());
        let pow = 10u128.pow(u32::from(scale));
        let q = n / d;
        let r = n % d;
        // r < d, so r * pow overflows only for a denominator above ~10^20: fall back to a
        // division that loses the last digits rather than panicking.
        let frac = match r.checked_mul(pow) {
            Some(rp) => {
                let f = rp / d;
                let rem = rp % d;
                if rem >= d - rem {
                    f + 1
                } else {
                    f
                }
            }
            None => r / (d / pow).max(1),
        };
        let magnitude = q.checked_mul(pow).and_then(|v| v.checked_add(frac)).unwrap_or(u128::MAX);
        let units = if negative {
            0i128.checked_sub_unsigned(magnitude).unwrap_or(i128::MIN)
        } else {
            i128::try_from(magnitude).unwrap_or(i128::MAX)
        };
        Decimal { units, scale }
    }

    /// Average price in rupees of `qty` units that cost `value_paise` in total, to 4 decimals.
    /// Zero when `qty` is zero.
    pub fn average(value_paise: i128, qty: i64) -> Decimal {
        Decimal::ratio(value_paise, i128::from(qty) * 100, AVERAGE_SCALE)
    }

    pub fn units(&self) -> i128 {
        self.units
    }

    pub fn scale(&self) -> u8 {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.units == 0
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pow = 10u128.pow(u32::from(self.scale));
        let abs = self.units.unsigned_abs();
        let (whole, frac) = (abs / pow, abs % pow);
        if self.units < 0 {
            f.write_str("-")?;
        }
        write!(f, "{whole}")?;
        if frac != 0 {
            let digits = format!("{frac:0width$}", width = usize::from(self.scale));
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The text is always a valid JSON number: -?digits(.digits)?
        match serde_json::value::RawValue::from_string(self.to_string()) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_str(&self.to_string()),
        }
    }
}

/// Paise as an exact rupee string ("1522.5"): for CSV cells and messages.
pub fn rupees_string(paise: i64) -> String {
    Decimal::paise(paise).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse_rupees("1522.5"), Ok(152250));
        assert_eq!(parse_rupees("1522.50"), Ok(152250));
        assert_eq!(parse_rupees("1522"), Ok(152200));
        assert_eq!(parse_rupees("1522.05"), Ok(152205));
        assert_eq!(parse_rupees("0.05"), Ok(5));
        assert_eq!(parse_rupees("0"), Ok(0));
        assert_eq!(parse_rupees("007.5"), Ok(750));
        assert_eq!(parse_rupees("10000000000000"), Ok(RUPEES_MAX * 100));
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for bad in [
            "-1", "+1", "1e3", "1E3", "NaN", "nan", "inf", "Infinity", " 1", "1 ", ".5", "5.", "1.2.3", "0x10", "1,5",
            "१२",
        ] {
            assert_eq!(parse_rupees(bad), Err(RupeeError::NotADecimal), "{bad}");
        }
        assert_eq!(parse_rupees(""), Err(RupeeError::Empty));
        assert_eq!(parse_rupees("1.234"), Err(RupeeError::TooManyDecimals));
        assert_eq!(parse_rupees("1.500"), Err(RupeeError::TooManyDecimals));
        assert_eq!(parse_rupees("10000000000000.01"), Err(RupeeError::TooLarge));
        assert_eq!(parse_rupees("999999999999999999999999"), Err(RupeeError::TooLarge));
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(Decimal::paise(152250).to_string(), "1522.5");
        assert_eq!(Decimal::paise(152205).to_string(), "1522.05");
        assert_eq!(Decimal::paise(152200).to_string(), "1522");
        assert_eq!(Decimal::paise(5).to_string(), "0.05");
        assert_eq!(Decimal::paise(-5).to_string(), "-0.05");
        assert_eq!(Decimal::paise(0).to_string(), "0");
        assert_eq!(Decimal::paise(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(Decimal::integer(42).to_string(), "42");
        assert_eq!(serde_json::to_string(&Decimal::paise(152205)).unwrap(), "1522.05");
        assert_eq!(serde_json::to_string(&[Decimal::paise(1), Decimal::paise(-100)]).unwrap(), "[0.01,-1]");
    }

    #[test]
    fn averages_round_half_away_from_zero() {
        // 3 shares for 100.00 + 100.05 + 100.05 = 300.10 → 100.0333...
        assert_eq!(Decimal::average(30010, 3).to_string(), "100.0333");
        // 2 shares for 100.05 + 100.10 → 100.075
        assert_eq!(Decimal::average(20015, 2).to_string(), "100.075");
        assert_eq!(Decimal::average(2, 3).to_string(), "0.0067");
        assert_eq!(Decimal::average(-2, 3).to_string(), "-0.0067");
        assert_eq!(Decimal::average(123, 0), Decimal::new(0, AVERAGE_SCALE));
        assert_eq!(Decimal::ratio(1, 3, 2).to_string(), "0.33");
        assert_eq!(Decimal::ratio(1, 8, 2).to_string(), "0.13");
        assert_eq!(Decimal::ratio(-1, 8, 2).to_string(), "-0.13");
        // Extreme inputs saturate instead of panicking.
        let _ = Decimal::ratio(i128::MAX, 1, 18).to_string();
        let _ = Decimal::ratio(i128::MIN, 1, 18).to_string();
        let _ = Decimal::ratio(i128::MIN, -1, 18).to_string();
        let _ = Decimal::ratio(7, i128::MAX, 18).to_string();
    }

    proptest! {
        #[test]
        fn paise_round_trip_through_text(paise in 0i64..=RUPEES_MAX * 100) {
            let text = rupees_string(paise);
            prop_assert_eq!(parse_rupees(&text), Ok(paise));
        }

        #[test]
        fn json_number_is_the_exact_decimal(paise in any::<i64>()) {
            let json = serde_json::to_string(&Decimal::paise(paise)).unwrap();
            let sign = if paise < 0 { "-" } else { "" };
            let abs = paise.unsigned_abs();
            let expected = match abs % 100 {
                0 => format!("{sign}{}", abs / 100),
                f if f % 10 == 0 => format!("{sign}{}.{}", abs / 100, f / 10),
                f => format!("{sign}{}.{:02}", abs / 100, f),
            };
            prop_assert_eq!(&json, &expected);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = parse_rupees(&text);
        }

        #[test]
        fn ratio_is_within_half_a_unit(num in -1_000_000_000_000i128..1_000_000_000_000, den in 1i128..1_000_000) {
            let d = Decimal::ratio(num, den, 4);
            // |units/10^4 - num/den| <= 1/2 * 10^-4  <=>  |units*den - num*10^4| * 2 <= den
            let diff = (d.units() * den - num * 10_000).abs();
            prop_assert!(diff * 2 <= den, "{num}/{den} -> {d}");
        }
    }
}
