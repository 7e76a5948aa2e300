//! Errors. Each authentication failure has its own variant so callers and tests can tell them
//! apart; the messages never contain a password, secret or token.

use crate::acl::Forbidden;

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    // Login.
    /// Unknown user or wrong password: deliberately the same error for both.
    #[error("invalid user id or password")]
    InvalidCredentials,
    #[error("too many failed attempts; locked until {until}")]
    Locked { until: u64 },
    #[error("the user is suspended")]
    Suspended,
    #[error("invalid TOTP")]
    InvalidTotp,
    #[error("this TOTP was already used; wait for the next one")]
    TotpReused,
    #[error("invalid or already used request id")]
    InvalidRequestId,
    #[error("the request id has expired; log in again")]
    RequestIdExpired,
    // Session.
    #[error("invalid api_key")]
    InvalidApiKey,
    #[error("invalid request_token")]
    InvalidRequestToken,
    #[error("the request_token was already used")]
    RequestTokenUsed,
    #[error("the request_token has expired")]
    RequestTokenExpired,
    #[error("invalid checksum")]
    InvalidChecksum,
    // Access tokens.
    #[error("invalid access token")]
    InvalidToken,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the access token was revoked")]
    TokenRevoked,
    #[error("the access token's signing key was retired")]
    SigningKeyRetired,
    // Authorization.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    // Input and state.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: &'static str },
    #[error("{field} is already registered")]
    Taken { field: &'static str },
    /// A seeded user exists already with other credentials: the seed does not overwrite them.
    #[error("user {user_id} exists with another {field}; the seed does not change it")]
    SeedConflict { user_id: String, field: &'static str },
    #[error("no such user")]
    UnknownUser,
    #[error("no such signing key")]
    UnknownSigningKey,
    #[error("the active signing key cannot be retired; rotate first")]
    ActiveSigningKey,
    #[error("KYC is {state}; cannot {action}")]
    KycState { state: &'static str, action: &'static str },
    // Infrastructure.
    #[error("the master key does not match this database")]
    WrongMasterKey,
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Internal(String),
}

impl UsersError {
    /// Kite Connect's `error_type` for this error.
    pub fn kite_error_type(&self) -> &'static str {
        use UsersError as E;
        match self {
            E::InvalidCredentials
            | E::Locked { .. }
            | E::Suspended
            | E::InvalidTotp
            | E::TotpReused
            | E::InvalidRequestId
            | E::RequestIdExpired
            | E::InvalidApiKey
            | E::InvalidRequestToken
            | E::RequestTokenUsed
            | E::RequestTokenExpired
            | E::InvalidChecksum
            | E::InvalidToken
            | E::TokenExpired
            | E::TokenRevoked
            | E::SigningKeyRetired => "TokenException",
            E::Forbidden(_) => "PermissionException",
            E::InvalidInput { .. }
            | E::Taken { .. }
            | E::SeedConflict { .. }
            | E::UnknownUser
            | E::UnknownSigningKey
            | E::ActiveSigningKey
            | E::KycState { .. } => "InputException",
            E::WrongMasterKey | E::Db(_) | E::Internal(_) => "GeneralException",
        }
    }

    /// The HTTP status Kite uses with that `error_type`.
    pub fn http_status(&self) -> u16 {
        match self.kite_error_type() {
            "TokenException" | "PermissionException" => 403,
            "InputException" => 400,
            _ => 500,
        }
    }
}
