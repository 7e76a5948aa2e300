//! The users service's settings. Every default is documented on its field.

use engine_core::AccountLimits;

/// argon2id cost parameters for new password hashes. Verification always uses the parameters
/// stored in the hash itself, and a hash made with other parameters is upgraded at the next
/// successful login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB. Default 19456 (19 MiB), the OWASP minimum for argon2id.
    pub m_cost_kib: u32,
    /// Passes. Default 2.
    pub t_cost: u32,
    /// Lanes. Default 1.
    pub p_cost: u32,
}

impl PasswordParams {
    /// OWASP's recommended argon2id minimum: m = 19 MiB, t = 2, p = 1 (a few tens of ms).
    pub const RECOMMENDED: PasswordParams = PasswordParams { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 };

    /// 64 KiB, one pass: microseconds. For tests only; never in production.
    pub const fn insecure_fast() -> PasswordParams {
        PasswordParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 }
    }
}

impl Default for PasswordParams {
    fn default() -> PasswordParams {
        PasswordParams::RECOMMENDED
    }
}

/// When an access token expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessExpiry {
    /// A fixed lifetime in seconds from login.
    Ttl(u64),
    /// As Kite does: at the next daily reset, `at_secs` after local midnight in the zone
    /// `utc_offset_secs` east of UTC (Kite: 06:00 IST = `{ utc_offset_secs: 19_800, at_secs: 21_600 }`).
    DailyAt { utc_offset_secs: i64, at_secs: u64 },
}

impl AccessExpiry {
    /// The expiry of a token issued at `now` (unix seconds); always after `now`.
    pub fn expires_at(self, now: u64) -> u64 {
        match self {
            AccessExpiry::Ttl(ttl) => now.saturating_add(ttl.max(1)),
            AccessExpiry::DailyAt { utc_offset_secs, at_secs } => {
                let at = (at_secs % 86_400) as i64;
                let local = now as i64 + utc_offset_secs;
                let midnight = local - local.rem_euclid(86_400);
                let mut reset = midnight + at;
                if reset <= local {
                    reset += 86_400;
                }
                (reset - utc_offset_secs).max(now as i64 + 1) as u64
            }
        }
    }
}

/// Configuration of [`crate::Users`].
#[derive(Clone)]
pub struct UsersConfig {
    /// The key that encrypts the secrets the server must read back (API secrets, TOTP seeds,
    /// JWT signing keys). Lives outside the database (environment, secret manager); a database
    /// copied without it reveals none of them. Opening a database with another key fails.
    pub master_key: [u8; 32],
    /// Default [`PasswordParams::RECOMMENDED`].
    pub password: PasswordParams,
    /// Failed password or TOTP attempts in a row that lock the user out. Default 5.
    pub lockout_threshold: u32,
    /// How long a lockout lasts, seconds. Default 900 (15 minutes).
    pub lockout_secs: u64,
    /// Lifetime of a `request_id` (between password and TOTP), seconds. Default 300.
    pub request_id_ttl: u64,
    /// Lifetime of a `request_token` (between TOTP and `/session/token`), seconds. Default 300.
    pub request_token_ttl: u64,
    /// Access-token expiry. Default: Kite's, 06:00 IST the next morning.
    pub access_expiry: AccessExpiry,
    /// `iss` of the JWTs and the issuer shown by authenticator apps. Default "exchange".
    pub issuer: String,
    /// Broker name in the profile (Kite's `broker` field). Default "EXCHANGE".
    pub broker: String,
    /// First engine account id handed to users; ids then go up by one per registration. The
    /// users service owns every id from here on (ids below are for the fee account and other
    /// house accounts). Default 1 (0 is the fee account).
    pub first_account_id: u32,
    /// Limits of every new engine account. Default: none (all zero).
    pub account_limits: AccountLimits,
}

impl UsersConfig {
    /// Defaults as documented on each field.
    pub fn new(master_key: [u8; 32]) -> UsersConfig {
        UsersConfig {
            master_key,
            password: PasswordParams::RECOMMENDED,
            lockout_threshold: 5,
            lockout_secs: 15 * 60,
            request_id_ttl: 300,
            request_token_ttl: 300,
            access_expiry: AccessExpiry::DailyAt { utc_offset_secs: 19_800, at_secs: 6 * 3_600 },
            issuer: "exchange".to_string(),
            broker: "EXCHANGE".to_string(),
            first_account_id: 1,
            account_limits: AccountLimits::default(),
        }
    }
}

impl std::fmt::Debug for UsersConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsersConfig")
            .field("master_key", &"<redacted>")
            .field("password", &self.password)
            .field("lockout_threshold", &self.lockout_threshold)
            .field("lockout_secs", &self.lockout_secs)
            .field("request_id_ttl", &self.request_id_ttl)
            .field("request_token_ttl", &self.request_token_ttl)
            .field("access_expiry", &self.access_expiry)
            .field("issuer", &self.issuer)
            .field("broker", &self.broker)
            .field("first_account_id", &self.first_account_id)
            .field("account_limits", &self.account_limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kite_expiry_is_the_next_six_am_ist() {
        let kite = AccessExpiry::DailyAt { utc_offset_secs: 19_800, at_secs: 21_600 };
        // 2024-01-15 10:00 IST = 04:30 UTC = 1705293000; next 06:00 IST = 2024-01-16 00:30 UTC.
        assert_eq!(kite.expires_at(1_705_293_000), 1_705_365_000);
        // 2024-01-15 05:59:59 IST expires one second later, at 06:00 IST the same day.
        let before = 1_705_278_600 - 1;
        assert_eq!(kite.expires_at(before), 1_705_278_600);
        // Exactly at 06:00 IST: the next day's.
        assert_eq!(kite.expires_at(1_705_278_600), 1_705_278_600 + 86_400);
        assert_eq!(AccessExpiry::Ttl(3_600).expires_at(100), 3_700);
    }

    #[test]
    fn the_master_key_is_never_printed() {
        let c = UsersConfig::new([0xAB; 32]);
        let text = format!("{c:?}");
        assert!(!text.contains("171") && text.contains("<redacted>"), "{text}");
    }
}
