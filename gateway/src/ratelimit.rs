//! Per API key rate limits by route class, as Kite sets them: order placement, modification
//! and cancellation 10 requests/s, quotes 1/s, historical candles 3/s, everything else 10/s.
//!
//! Token buckets in integer nano-tokens; time is an argument (nanoseconds from any monotonic
//! origin), never read here. A key can be given its own limits (an algo desk's key, say).
//! Exceeding a limit is Kite's NetworkException 429 "Too many requests".

use std::collections::HashMap;

use crate::envelope::ApiError;

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteClass {
    /// `POST`, `PUT`, `DELETE` under `/orders/`.
    Orders,
    /// `/quote`, `/quote/ohlc`, `/quote/ltp`.
    Quote,
    /// `/instruments/historical/...`.
    Historical,
    Other,
}

impl RouteClass {
    pub const ALL: [RouteClass; 4] = [RouteClass::Orders, RouteClass::Quote, RouteClass::Historical, RouteClass::Other];

    fn index(self) -> usize {
        match self {
            RouteClass::Orders => 0,
            RouteClass::Quote => 1,
            RouteClass::Historical => 2,
            RouteClass::Other => 3,
        }
    }

    /// The class of a request by method and path (without the query string).
    pub fn classify(method: &str, path: &str) -> RouteClass {
        let under =
            |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
        if under("/orders") && path.len() > "/orders/".len() && matches!(method, "POST" | "PUT" | "DELETE") {
            RouteClass::Orders
        } else if under("/quote") {
            RouteClass::Quote
        } else if under("/instruments/historical") {
            RouteClass::Historical
        } else {
            RouteClass::Other
        }
    }
}

/// A sustained rate and the burst a full bucket allows. `per_second == 0` blocks the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    /// `n` per second, bursts of `n`.
    pub const fn per_second(n: u32) -> Rate {
        Rate { per_second: n, burst: n }
    }
}

/// The limits of one API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub orders: Rate,
    pub quote: Rate,
    pub historical: Rate,
    pub other: Rate,
}

impl RateLimits {
    /// Kite Connect's limits.
    pub const KITE: RateLimits = RateLimits {
        orders: Rate::per_second(10),
        quote: Rate::per_second(1),
        historical: Rate::per_second(3),
        other: Rate::per_second(10),
    };

    pub fn get(&self, class: RouteClass) -> Rate {
        match class {
            RouteClass::Orders => self.orders,
            RouteClass::Quote => self.quote,
            RouteClass::Historical => self.historical,
            RouteClass::Other => self.other,
        }
    }
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits::KITE
    }
}

/// A refused request: which limit, and how long until one more request would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub class: RouteClass,
    /// `u64::MAX` when the class is blocked (`per_second == 0`).
    pub retry_after_ns: u64,
}

impl Throttled {
    /// Seconds for a `Retry-After` header, rounded up.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ns.div_ceil(NANOS)
    }
}

impl From<Throttled> for ApiError {
    fn from(_: Throttled) -> ApiError {
        ApiError::too_many_requests()
    }
}

const NANOS: u64 = 1_000_000_000;
/// One request costs one token = 10^9 nano-tokens; a second refills `per_second` tokens.
const TOKEN: u128 = NANOS as u128;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Nano-tokens.
    level: u128,
    last_ns: u64,
}

#[derive(Clone, Debug, Default)]
struct KeyState {
    buckets: [Option<Bucket>; 4],
    last_ns: u64,
}

/// Token buckets for every API key seen.
#[derive(Clone, Debug, Default)]
pub struct RateLimiter {
    defaults: RateLimits,
    overrides: HashMap<String, RateLimits>,
    keys: HashMap<String, KeyState>,
}

impl RateLimiter {
    pub fn new(defaults: RateLimits) -> RateLimiter {
        RateLimiter { defaults, overrides: HashMap::new(), keys: HashMap::new() }
    }

    /// Gives `api_key` its own limits (its buckets keep their levels, capped at the new bursts).
    pub fn set_limits(&mut self, api_key: &str, limits: RateLimits) {
        self.overrides.insert(api_key.to_string(), limits);
    }

    /// Back to the defaults.
    pub fn clear_limits(&mut self, api_key: &str) {
        self.overrides.remove(api_key);
    }

    pub fn limits(&self, api_key: &str) -> RateLimits {
        self.overrides.get(api_key).copied().unwrap_or(self.defaults)
    }

    /// Counts one request of `class` by `api_key` at `now_ns`, or refuses it. A refused request
    /// costs nothing. Time going backwards counts as no time passing.
    pub fn check(&mut self, api_key: &str, class: RouteClass, now_ns: u64) -> Result<(), Throttled> {
        let rate = self.limits(api_key).get(class);
        let state = match self.keys.get_mut(api_key) {
            Some(state) => state,
            None => self.keys.entry(api_key.to_string()).or_default(),
        };
        state.last_ns = state.last_ns.max(now_ns);
        let capacity = u128::from(rate.burst) * TOKEN;
        let bucket = state.buckets[class.index()].get_or_insert(Bucket { level: capacity, last_ns: now_ns });
        if now_ns > bucket.last_ns {
            let refill = u128::from(now_ns - bucket.last_ns) * u128::from(rate.per_second);
            bucket.level = bucket.level.saturating_add(refill);
            bucket.last_ns = now_ns;
        }
        bucket.level = bucket.level.min(capacity);
        if bucket.level >= TOKEN {
            bucket.level -= TOKEN;
            return Ok(());
        }
        let retry_after_ns = if rate.per_second == 0 || rate.burst == 0 {
            u64::MAX
        } else {
            let missing = TOKEN - bucket.level;
            u64::try_from(missing.div_ceil(u128::from(rate.per_second))).unwrap_or(u64::MAX)
        };
        Err(Throttled { class, retry_after_ns })
    }

    /// Forgets keys with no request for `idle_ns` (their buckets are full again by then, for
    /// any idle time of at least a second at 1/s and a burst of 1), so memory follows the
    /// active keys. Returns how many were dropped.
    pub fn forget_idle(&mut self, now_ns: u64, idle_ns: u64) -> usize {
        let before = self.keys.len();
        self.keys.retain(|_, state| now_ns.saturating_sub(state.last_ns) < idle_ns);
        before - self.keys.len()
    }

    /// Keys with live buckets.
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ErrorType;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn classes() {
        use RouteClass::*;
        assert_eq!(RouteClass::classify("POST", "/orders/regular"), Orders);
        assert_eq!(RouteClass::classify("PUT", "/orders/regular/151220000000000"), Orders);
        assert_eq!(RouteClass::classify("DELETE", "/orders/regular/1"), Orders);
        assert_eq!(RouteClass::classify("GET", "/orders"), Other);
        assert_eq!(RouteClass::classify("GET", "/orders/1"), Other);
        assert_eq!(RouteClass::classify("GET", "/quote"), Quote);
        assert_eq!(RouteClass::classify("GET", "/quote/ohlc"), Quote);
        assert_eq!(RouteClass::classify("GET", "/quote/ltp"), Quote);
        assert_eq!(RouteClass::classify("GET", "/quotes"), Other);
        assert_eq!(RouteClass::classify("GET", "/instruments/historical/408065/minute"), Historical);
        assert_eq!(RouteClass::classify("GET", "/instruments"), Other);
        assert_eq!(RouteClass::classify("GET", "/portfolio/positions"), Other);
    }

    #[test]
    fn kite_limits() {
        let mut rl = RateLimiter::new(RateLimits::KITE);
        let t0 = 1_000 * S;
        for _ in 0..10 {
            assert!(rl.check("k", RouteClass::Orders, t0).is_ok());
        }
        let refused = rl.check("k", RouteClass::Orders, t0).unwrap_err();
        assert_eq!(refused.retry_after_ns, 100 * MS);
        assert_eq!(refused.retry_after_secs(), 1);
        let e = ApiError::from(refused);
        assert_eq!((e.kind, e.status(), e.message.as_str()), (ErrorType::NetworkException, 429, "Too many requests"));
        // 100 ms later one more fits.
        assert!(rl.check("k", RouteClass::Orders, t0 + 99 * MS).is_err());
        assert!(rl.check("k", RouteClass::Orders, t0 + 100 * MS).is_ok());
        // Classes and keys are independent.
        assert!(rl.check("k", RouteClass::Quote, t0).is_ok());
        assert!(rl.check("k", RouteClass::Quote, t0 + 500 * MS).is_err());
        assert!(rl.check("k", RouteClass::Quote, t0 + S).is_ok());
        for _ in 0..3 {
            assert!(rl.check("k", RouteClass::Historical, t0).is_ok());
        }
        assert!(rl.check("k", RouteClass::Historical, t0).is_err());
        assert!(rl.check("other", RouteClass::Orders, t0).is_ok());
    }

    #[test]
    fn per_key_limits() {
        let mut rl = RateLimiter::default();
        rl.set_limits("algo", RateLimits { orders: Rate::per_second(100), ..RateLimits::KITE });
        let passed = (0..150).filter(|_| rl.check("algo", RouteClass::Orders, 0).is_ok()).count();
        assert_eq!(passed, 100);
        let passed = (0..150).filter(|_| rl.check("retail", RouteClass::Orders, 0).is_ok()).count();
        assert_eq!(passed, 10);
        rl.clear_limits("algo");
        assert_eq!(rl.limits("algo"), RateLimits::KITE);
        // Blocked class.
        rl.set_limits("blocked", RateLimits { quote: Rate { per_second: 0, burst: 0 }, ..RateLimits::KITE });
        assert_eq!(rl.check("blocked", RouteClass::Quote, 0).unwrap_err().retry_after_ns, u64::MAX);
    }

    #[test]
    fn time_going_backwards_and_forgetting() {
        let mut rl = RateLimiter::default();
        assert!(rl.check("k", RouteClass::Quote, 10 * S).is_ok());
        assert!(rl.check("k", RouteClass::Quote, 5 * S).is_err());
        assert!(rl.check("k", RouteClass::Quote, 11 * S).is_ok());
        assert!(rl.check("j", RouteClass::Quote, 100 * S).is_ok());
        assert_eq!(rl.forget_idle(100 * S, 60 * S), 1);
        assert_eq!(rl.tracked_keys(), 1);
        assert!(rl.check("k", RouteClass::Quote, u64::MAX).is_ok());
    }

    proptest! {
        /// Over any window, no more than burst + rate × window requests pass.
        #[test]
        fn never_more_than_the_rate_allows(
            gaps in proptest::collection::vec(0u64..300 * MS, 1..300),
            per_second in 1u32..20,
            burst in 1u32..20,
        ) {
            let rate = Rate { per_second, burst };
            let mut rl = RateLimiter::new(RateLimits { orders: rate, quote: rate, historical: rate, other: rate });
            let mut now = 0u64;
            let mut passed = Vec::new();
            for gap in gaps {
                now += gap;
                if rl.check("k", RouteClass::Other, now).is_ok() {
                    passed.push(now);
                }
            }
            for (i, &start) in passed.iter().enumerate() {
                for (j, &end) in passed.iter().enumerate().skip(i) {
                    let window = u128::from(end - start);
                    let allowed = u128::from(burst) + window * u128::from(per_second) / u128::from(S);
                    prop_assert!((j - i + 1) as u128 <= allowed, "{} requests in {} ns", j - i + 1, window);
                }
            }
        }
    }
}
