//! gateway: the Kite Connect v3 wire layer of the HTTP/WebSocket gateway.
//!
//! Pure encodings and decodings, no I/O and no clock: the axum server calls these.
//!
//! | module | what |
//! |---|---|
//! | [`envelope`] | `{"status":"success","data":..}` / `{"status":"error",..}`, [`ApiError`], HTTP codes, engine rejections → Kite errors |
//! | [`form`] | strict `application/x-www-form-urlencoded` decoder (bodies and query strings) |
//! | [`money`] | rupee strings → paise, paise → exact decimal JSON numbers |
//! | [`kite`] | Kite's names: exchanges, varieties, statuses, BUY/SELL, LIMIT/MARKET/SL/SL-M, CNC/MIS, DAY/IOC |
//! | [`orders`] | order params → `engine_core::NewOrder` / `ModifyOrder` |
//! | [`format`] | Kite JSON shapes (orders, trades, positions, holdings, margins, quotes, candles), instruments CSV, IST timestamps |
//! | [`ticker`] | WebSocket binary packets (ltp 8, quote 44, full 184 bytes), framing, heartbeat, text messages |
//! | [`ratelimit`] | per API key token buckets by route class |
//! | [`checksum`] | `sha256(api_key + request_token + api_secret)` and its constant-time check |
//! | [`server`] | the axum HTTP/WebSocket server |
//! | [`testkit`] | for tests: finding a Python with the official Kite Connect client |
//!
//! Money is integer paise everywhere inside; rupees exist only in the strings this crate reads
//! and writes.

pub mod checksum;
pub mod envelope;
pub mod form;
pub mod format;
pub mod kite;
pub mod money;
pub mod orders;
pub mod ratelimit;
pub mod ticker;

pub use envelope::{ApiError, ErrorType};
pub use form::{Form, FormError, FormLimits};
pub use money::Decimal;
pub mod server;
pub mod testkit;
