//! The admin API, for the roles admin and risk: KYC review, instruments (add, halt, resume),
//! account limits, and the market session. Same encodings as Kite's routes: form bodies,
//! `Authorization: token api_key:access_token`, the success/error envelope.
//!
//! | route | role | engine command |
//! |---|---|---|
//! | `GET /admin/kyc/:user_id` | admin, risk, support | — |
//! | `POST /admin/kyc/:user_id` (`decision=verify` or `reject`, `reason`) | admin | `ActivateAccount` (by the users service) |
//! | `POST /admin/instruments` | admin | `AddInstrument` |
//! | `POST /admin/instruments/:token/halt`, `/resume` | admin, risk | `Halt`, `Resume` |
//! | `PUT /admin/accounts/:user_id/limits` | admin, risk | `SetAccountLimits` |
//! | `POST /admin/session/open`, `/close` | admin | `OpenSession`, `CloseSession` |

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use engine_core::{AccountLimits, Command, CommandKind, Event, InstrumentSpec, Symbol, Token};
use serde::Serialize;
use services_users::Action;
use services_users::{KycDecision, KycRecord};

use super::engine_link::Watch;
use super::http::{json, read_form, required, unix_now, App};
use crate::envelope::{reject_error, ApiError, RejectContext};
use crate::form::{printable, Form};
use crate::kite::{instrument_token, Exchange};
use crate::money::parse_rupees;

type S = State<Arc<App>>;

pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/admin/kyc/{user_id}", get(kyc).post(review_kyc))
        .route("/admin/instruments", post(add_instrument))
        .route("/admin/instruments/{token}/{action}", post(instrument_status))
        .route("/admin/accounts/{user_id}/limits", put(set_limits))
        .route("/admin/session/{action}", post(session))
}

fn number<T: std::str::FromStr>(form: &Form, name: &str) -> Result<T, ApiError> {
    let text = required(form, name)?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::input(format!("Invalid `{name}` `{}`: a whole number.", printable(text))));
    }
    text.parse().map_err(|_| ApiError::input(format!("Invalid `{name}` `{}`: out of range.", printable(text))))
}

fn optional_number<T: std::str::FromStr + Default>(form: &Form, name: &str) -> Result<T, ApiError> {
    match form.get(name)? {
        None | Some("") => Ok(T::default()),
        Some(_) => number(form, name),
    }
}

fn rupees(form: &Form, name: &str) -> Result<i64, ApiError> {
    let text = required(form, name)?;
    parse_rupees(text).map_err(|e| ApiError::input(format!("Invalid `{name}` `{}`: {e}.", printable(text))))
}

fn refused(reason: engine_core::RejectReason) -> ApiError {
    reject_error(reason, RejectContext::default())
}

#[derive(Serialize)]
struct KycJson {
    user_id: String,
    status: &'static str,
    reason: Option<String>,
}

fn kyc_json(user_id: String, k: &KycRecord) -> KycJson {
    KycJson { user_id, status: k.status.as_str(), reason: k.reason.clone() }
}

/// `GET /admin/kyc/:user_id`.
async fn kyc(
    State(app): S,
    Path(user_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    // An admin route: staff only, even on one's own record (a trader reads their KYC
    // status in `GET /user/profile`).
    caller.allow_others(Action::ReadKyc)?;
    caller.allow_on(Action::ReadKyc, Some(&user_id))?;
    let id = user_id.clone();
    let record = app.with_users(move |u| u.kyc(&id)).await?;
    Ok(json(&kyc_json(user_id, &record)))
}

/// `POST /admin/kyc/:user_id` (`decision` = `verify` or `reject`, `reason` when rejecting).
async fn review_kyc(
    State(app): S,
    Path(user_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow_on(Action::ReviewKyc, Some(&user_id))?;
    let form = read_form(&app, &headers, body).await?;
    let decision = required(&form, "decision")?.to_string();
    let reason = form.get("reason")?.unwrap_or("").to_string();
    if !matches!(decision.as_str(), "verify" | "reject") {
        return Err(ApiError::input(format!("Invalid `decision` `{}`: use verify or reject.", printable(&decision))));
    }
    if decision == "reject" && reason.is_empty() {
        return Err(ApiError::input("Missing `reason`: say why the KYC is rejected."));
    }
    let claims = caller.claims.clone();
    let id = user_id.clone();
    let record = app
        .with_users(move |u| {
            let d = if decision == "verify" { KycDecision::Verify } else { KycDecision::Reject { reason: &reason } };
            u.review_kyc(&claims, &id, d, unix_now())?;
            u.kyc(&id)
        })
        .await?;
    Ok(json(&kyc_json(user_id, &record)))
}

/// `POST /admin/instruments`: `tradingsymbol`, `exchange_token`, `tick_size`, `lot_size`,
/// `circuit_percent`, `reference_price`, `mis_leverage` (exchange NSE).
async fn add_instrument(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow_on(Action::ManageInstruments, None)?;
    let form = read_form(&app, &headers, body).await?;
    let symbol_text = required(&form, "tradingsymbol")?;
    let symbol = Symbol::new(symbol_text).ok_or_else(|| {
        ApiError::input(format!("Invalid `tradingsymbol` `{}`: 1 to 16 printable characters.", printable(symbol_text)))
    })?;
    let exchange = match form.get("exchange")? {
        None | Some("") | Some("NSE") => Exchange::Nse,
        Some("BSE") => Exchange::Bse,
        Some(other) => return Err(ApiError::input(format!("Invalid `exchange` `{}`.", printable(other)))),
    };
    let exchange_token: u32 = number(&form, "exchange_token")?;
    let token = instrument_token(exchange, exchange_token)
        .ok_or_else(|| ApiError::input("Invalid `exchange_token`: at most 16777215."))?;
    let percent: u32 = number(&form, "circuit_percent")?;
    let spec = InstrumentSpec {
        token,
        symbol,
        tick: rupees(&form, "tick_size")?,
        lot: number(&form, "lot_size")?,
        band_bps: percent.saturating_mul(100),
        reference_price: rupees(&form, "reference_price")?,
        mis_leverage: optional_number::<u32>(&form, "mis_leverage")?.max(1),
    };
    let watch: Watch = Box::new(move |e: &Event| match *e {
        Event::InstrumentAdded { spec: s, .. } if s.token == token => Some(Ok(())),
        Event::Rejected { kind: CommandKind::AddInstrument, reason, .. } => Some(Err(reason)),
        _ => None,
    });
    app.link.send_and_watch(Command::AddInstrument(spec), watch).await?.map_err(refused)?;
    Ok(json(&serde_json::json!({ "instrument_token": token, "tradingsymbol": symbol.as_str() })))
}

/// `POST /admin/instruments/:token/halt` and `/resume`.
async fn instrument_status(
    State(app): S,
    Path((token, action)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow_on(Action::HaltInstrument, None)?;
    let token: Token =
        token.parse().map_err(|_| ApiError::input(format!("Invalid instrument token `{}`.", printable(&token))))?;
    let (command, kind) = match action.as_str() {
        "halt" => (Command::Halt { token }, CommandKind::Halt),
        "resume" => (Command::Resume { token }, CommandKind::Resume),
        other => return Err(ApiError::input(format!("Invalid action `{}`: use halt or resume.", printable(other)))),
    };
    let watch: Watch = Box::new(move |e: &Event| match *e {
        Event::InstrumentStatusChanged { token: t, .. } if t == token => Some(Ok(())),
        Event::Rejected { kind: k, reason, .. } if k == kind => Some(Err(reason)),
        _ => None,
    });
    app.link.send_and_watch(command, watch).await?.map_err(refused)?;
    Ok(json(&true))
}

/// `PUT /admin/accounts/:user_id/limits`: `order_value_max` (rupees), `open_orders_max`,
/// `position_max`, `mis_leverage`; each absent or 0 = no limit (the instrument's leverage).
async fn set_limits(
    State(app): S,
    Path(user_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow_on(Action::SetLimits, Some(&user_id))?;
    let form = read_form(&app, &headers, body).await?;
    let limits = AccountLimits {
        order_value_max: match form.get("order_value_max")? {
            None | Some("") => 0,
            Some(_) => rupees(&form, "order_value_max")?,
        },
        open_orders_max: optional_number(&form, "open_orders_max")?,
        position_max: optional_number(&form, "position_max")?,
        mis_leverage: optional_number(&form, "mis_leverage")?,
    };
    let id = user_id.clone();
    let account = app.with_users(move |u| u.profile(&id)).await?.account_id;
    let watch: Watch = Box::new(move |e: &Event| match *e {
        Event::AccountLimitsSet { account: a, .. } if a == account => Some(Ok(())),
        Event::Rejected { kind: CommandKind::SetAccountLimits, reason, account: a, .. } if a == account => {
            Some(Err(reason))
        }
        _ => None,
    });
    app.link.send_and_watch(Command::SetAccountLimits { account, limits }, watch).await?.map_err(refused)?;
    Ok(json(&true))
}

/// `POST /admin/session/open` and `/close`.
async fn session(
    State(app): S,
    Path(action): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow_on(Action::ManageSession, None)?;
    let (command, kind) = match action.as_str() {
        "open" => (Command::OpenSession, CommandKind::OpenSession),
        "close" => (Command::CloseSession, CommandKind::CloseSession),
        other => return Err(ApiError::input(format!("Invalid action `{}`: use open or close.", printable(other)))),
    };
    let watch: Watch = Box::new(move |e: &Event| match *e {
        Event::SessionOpened if kind == CommandKind::OpenSession => Some(Ok(())),
        Event::SessionClosed if kind == CommandKind::CloseSession => Some(Ok(())),
        Event::Rejected { kind: k, reason, .. } if k == kind => Some(Err(reason)),
        _ => None,
    });
    app.link.send_and_watch(command, watch).await?.map_err(refused)?;
    Ok(json(&true))
}
