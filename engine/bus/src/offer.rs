//! Offering one message with a bounded retry.

use std::time::{Duration, Instant};

use rusteron_client::{AeronOfferError, AeronPublication};

use crate::bus::Backoff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Offered {
    Sent,
    /// No subscriber is connected.
    NotConnected,
    /// Still back-pressured (or in an admin action) when the retry time ran out.
    BackPressured,
    /// The publication is closed, or the message is refused (e.g. longer than the maximum).
    Failed(String),
}

/// Offers `bytes`, retrying back-pressure and admin actions (and, when `retry_not_connected`,
/// a missing subscriber) for at most `retry`, spinning, then yielding, then sleeping.
pub(crate) fn offer(
    publication: &AeronPublication,
    bytes: &[u8],
    retry: Duration,
    retry_not_connected: bool,
) -> Offered {
    let mut deadline: Option<Instant> = None;
    let mut idle = Backoff::default();
    loop {
        let outcome = match publication.offer(bytes) {
            Ok(_) => return Offered::Sent,
            Err(AeronOfferError::NotConnected) if !retry_not_connected => return Offered::NotConnected,
            Err(AeronOfferError::NotConnected) => Offered::NotConnected,
            Err(AeronOfferError::BackPressured | AeronOfferError::AdminAction) => Offered::BackPressured,
            Err(e) => return Offered::Failed(e.to_string()),
        };
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + retry);
        if Instant::now() >= deadline {
            return outcome;
        }
        idle.idle();
    }
}
