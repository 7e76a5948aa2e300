//! Kite Connect v3 routes: login and session, user, orders and trades, portfolio, quotes,
//! instruments and historical candles.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use engine_core::{Command, OrderId, RejectReason, Token};
use serde::Serialize;
use services_users::Action;
use services_users::{Profile, Session};

use super::engine_link::Answer;
use super::http::{
    csv, error_response, internal, json, read_form, read_query, required, subject, unix_now, App, Caller,
};
use super::view::View;
use crate::envelope::{reject_error, ApiError, ErrorType, RejectContext};
use crate::form::{printable, Form};
use crate::format::{
    candles_json, holding_json, instruments_csv, ltp_json, margins_json, ohlc_json, order_id_json, order_json,
    parse_instrument_key, parse_ist_datetime, positions_json, quote_json, segment_margins_json, trade_json, Candle,
    EquityMargins, HoldingRecord, InstrumentRow, KeyedMap, PositionRecord,
};
use crate::kite::Exchange;
use crate::money::Decimal;
use crate::orders::{parse_cancel, parse_modify, parse_order_id, parse_place, Instrument};

type S = State<Arc<App>>;

// ------------------------------------------------------------------------------ login, session

#[derive(Serialize)]
struct LoginJson {
    user_id: String,
    request_id: String,
    twofa_type: &'static str,
    twofa_types: [&'static str; 1],
    twofa_status: &'static str,
}

/// `POST /api/login` (form `user_id`, `password`): the first step of the web login.
pub(crate) async fn login(State(app): S, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let form = read_form(&app, &headers, body).await?;
    let user_id = required(&form, "user_id")?.to_string();
    let password = required(&form, "password")?.to_string();
    let uid = user_id.clone();
    let request_id = app.with_users(move |u| u.login(&uid, &password, unix_now())).await?;
    Ok(json(&LoginJson {
        user_id: user_id.to_ascii_uppercase(),
        request_id,
        twofa_type: "totp",
        twofa_types: ["totp"],
        twofa_status: "active",
    }))
}

#[derive(Serialize)]
struct TwofaJson {
    request_token: String,
}

/// `POST /api/twofa` (form `user_id`, `request_id`, `twofa_value`): the TOTP step; returns the
/// `request_token` that `/session/token` exchanges for an access token.
pub(crate) async fn twofa(State(app): S, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let form = read_form(&app, &headers, body).await?;
    let user_id = required(&form, "user_id")?.to_string();
    let request_id = required(&form, "request_id")?.to_string();
    let code = required(&form, "twofa_value")?.to_string();
    let request_token = app.with_users(move |u| u.twofa(&user_id, &request_id, &code, unix_now())).await?;
    Ok(json(&TwofaJson { request_token }))
}

#[derive(Serialize)]
struct ProfileJson {
    user_id: String,
    user_type: &'static str,
    email: String,
    user_name: String,
    user_shortname: String,
    broker: String,
    exchanges: [&'static str; 1],
    products: [&'static str; 2],
    order_types: [&'static str; 4],
    avatar_url: Option<String>,
    meta: ProfileMeta,
    /// This exchange's additions.
    roles: Vec<&'static str>,
    kyc_status: &'static str,
}

#[derive(Serialize)]
struct ProfileMeta {
    demat_consent: &'static str,
}

fn profile_json(p: &Profile) -> ProfileJson {
    ProfileJson {
        user_id: p.user_id.clone(),
        user_type: "individual",
        email: p.email.clone(),
        user_name: p.user_name.clone(),
        user_shortname: p.user_shortname.clone(),
        broker: p.broker.clone(),
        exchanges: ["NSE"],
        products: ["CNC", "MIS"],
        order_types: ["MARKET", "LIMIT", "SL", "SL-M"],
        avatar_url: None,
        meta: ProfileMeta { demat_consent: "physical" },
        roles: p.roles.iter().map(|r| r.as_str()).collect(),
        kyc_status: p.kyc.as_str(),
    }
}

#[derive(Serialize)]
struct SessionJson {
    #[serde(flatten)]
    profile: ProfileJson,
    api_key: String,
    access_token: String,
    public_token: String,
    refresh_token: String,
    enctoken: String,
    login_time: String,
}

/// `POST /session/token` (form `api_key`, `request_token`, `checksum`).
pub(crate) async fn session_token(State(app): S, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let form = read_form(&app, &headers, body).await?;
    let api_key = required(&form, "api_key")?.to_string();
    let request_token = required(&form, "request_token")?.to_string();
    let checksum = required(&form, "checksum")?.to_string();
    let session: Session =
        app.with_users(move |u| u.create_session(&api_key, &request_token, &checksum, unix_now())).await?;
    Ok(json(&SessionJson {
        profile: profile_json(&session.profile),
        api_key: session.api_key.clone(),
        access_token: session.access_token.clone(),
        public_token: String::new(),
        refresh_token: String::new(),
        enctoken: String::new(),
        login_time: crate::format::ist_datetime_secs(session.login_time as i64),
    }))
}

/// `DELETE /session/token?api_key=..&access_token=..`: logs the session out.
pub(crate) async fn logout(State(app): S, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let query = read_query(&app, query.as_deref())?;
    let api_key = required(&query, "api_key")?.to_string();
    let access_token = required(&query, "access_token")?.to_string();
    // Only the token's own holder can log it out: it must verify with its API key.
    app.verify(&api_key, &access_token).await?;
    let token = access_token.clone();
    app.with_users(move |u| u.logout(&token, unix_now())).await?;
    app.forget_token(&access_token);
    Ok(json(&true))
}

// ----------------------------------------------------------------------------------- user

pub(crate) async fn profile(State(app): S, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let (user_id, _) = subject(&app, &caller, &query, Action::ReadProfile).await?;
    let profile = app.with_users(move |u| u.profile(&user_id)).await?;
    Ok(json(&profile_json(&profile)))
}

fn equity_margins(view: &View, account: engine_core::AccountId) -> EquityMargins {
    let f = view.funds(account);
    EquityMargins {
        cash: f.cash,
        opening_balance: f.opening_balance,
        intraday_payin: f.payin,
        payout: f.payout,
        blocked: f.reserved,
        mis_margin: f.margin,
        m2m_realised: 0,
        m2m_unrealised: 0,
    }
}

/// `GET /user/margins` and `GET /user/margins/:segment`.
pub(crate) async fn margins(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    segment: Option<Path<String>>,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let (_, account) = subject(&app, &caller, &query, Action::ReadFunds).await?;
    let m = app.link.read(|v| equity_margins(v, account))?;
    match segment.as_ref().map(|s| s.0.as_str()) {
        None => Ok(json(&margins_json(&m))),
        Some("equity") => Ok(json(&segment_margins_json(&m))),
        Some("commodity") => {
            let mut c = segment_margins_json(&EquityMargins::default());
            c.enabled = false;
            Ok(json(&c))
        }
        Some(other) => {
            Err(ApiError::input(format!("Invalid segment `{}`: use equity or commodity.", printable(other))))
        }
    }
}

// --------------------------------------------------------------------------------- orders

fn reject_context(view: &View, token: Option<Token>) -> RejectContext {
    let info = token.and_then(|t| view.instrument(t));
    RejectContext { tick: info.map(|i| i.spec.tick), lot: info.map(|i| i.spec.lot) }
}

/// The engine's refusal as Kite's error. An order of another account reads as missing in the
/// engine; here it is a permission error.
fn refusal(reason: RejectReason, ctx: RejectContext) -> ApiError {
    reject_error(reason, ctx)
}

/// `POST /orders/:variety`.
pub(crate) async fn place_order(
    State(app): S,
    Path(variety): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow(Action::PlaceOrders)?;
    let form = read_form(&app, &headers, body).await?;
    let client_ref = app.link.next_client_ref();
    let place = app.link.read(|view| {
        let lookup = |exchange: Exchange, symbol: &str| -> Option<Instrument> {
            view.instrument_by_symbol(exchange, symbol).map(|i| i.order_instrument())
        };
        parse_place(&variety, &form, &lookup, caller.account(), client_ref)
    })??;
    let token = place.instrument.token;
    let answer =
        app.link.send_and_wait(Command::Place(place.order), client_ref, None, place.variety, place.tag.clone()).await?;
    match answer {
        Answer::Accepted(order_id) => Ok(json(&order_id_json(order_id))),
        Answer::Rejected { reason, .. } => Err(refusal(reason, app.link.read(|v| reject_context(v, Some(token)))?)),
        other => Err(internal(&format!("unexpected answer {other:?} to an order"))),
    }
}

/// The open order `order_id` of the caller, or the error Kite gives: unknown (400
/// OrderException) or another user's (403 PermissionException).
fn own_order(view: &View, caller: &Caller, order_id: OrderId) -> Result<crate::orders::OpenOrder, ApiError> {
    match view.order(order_id) {
        None => Err(refusal(RejectReason::UnknownOrder, RejectContext::default())),
        Some(entry) if entry.current.account != caller.account() => Err(super::http::permission_denied()),
        Some(_) => view.open_order(caller.account(), order_id).ok_or_else(|| internal("order without instrument")),
    }
}

/// `PUT /orders/:variety/:order_id`.
pub(crate) async fn modify_order(
    State(app): S,
    Path((variety, order_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow(Action::PlaceOrders)?;
    let order_id = parse_order_id(&order_id)?;
    let form = read_form(&app, &headers, body).await?;
    let client_ref = app.link.next_client_ref();
    let (modify, token, v) = app.link.read(|view| {
        let current = own_order(view, &caller, order_id)?;
        let m = parse_modify(&variety, &form, &current, caller.account(), client_ref)?;
        Ok::<_, ApiError>((m, current.instrument.token, current.variety))
    })??;
    let answer = app.link.send_and_wait(Command::Modify(modify), client_ref, None, v, None).await?;
    match answer {
        Answer::Modified(id) => Ok(json(&order_id_json(id))),
        Answer::Rejected { reason, .. } => Err(refusal(reason, app.link.read(|v| reject_context(v, Some(token)))?)),
        other => Err(internal(&format!("unexpected answer {other:?} to a modification"))),
    }
}

/// `DELETE /orders/:variety/:order_id`.
pub(crate) async fn cancel_order(
    State(app): S,
    Path((variety, order_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    caller.allow(Action::CancelOrders)?;
    let order_id = parse_order_id(&order_id)?;
    let mut form = read_query(&app, uri.query())?;
    let body_form = read_form(&app, &headers, body).await?;
    if form.is_empty() {
        form = body_form;
    }
    let (id, v) = app.link.read(|view| {
        let current = own_order(view, &caller, order_id)?;
        Ok::<_, ApiError>((parse_cancel(&variety, &form, &current)?, current.variety))
    })??;
    let client_ref = app.link.next_client_ref();
    let command = Command::Cancel { client_ref, account: caller.account(), order_id: id };
    match app.link.send_and_wait(command, client_ref, Some(id), v, None).await? {
        Answer::Cancelled(id) => Ok(json(&order_id_json(id))),
        Answer::Rejected { reason, .. } => Err(match reason {
            RejectReason::UnknownOrder => ApiError::new(
                ErrorType::OrderException,
                "The order is already complete, cancelled or rejected: it cannot be cancelled.",
            ),
            r => refusal(r, RejectContext::default()),
        }),
        other => Err(internal(&format!("unexpected answer {other:?} to a cancellation"))),
    }
}

/// `GET /orders`: the day's orders of the caller.
pub(crate) async fn orders(State(app): S, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let (user_id, account) = subject(&app, &caller, &query, Action::ReadOrders).await?;
    app.link.read(|view| {
        let list: Vec<_> =
            view.account_orders(account).map(|e| order_json(&view.order_record(e, &e.current, &user_id))).collect();
        json(&list)
    })
}

/// The order `order_id` if the caller may read it.
fn readable_order<'a>(
    view: &'a View,
    caller: &Caller,
    order_id: OrderId,
) -> Result<&'a super::view::OrderEntry, ApiError> {
    let entry = view.order(order_id).ok_or_else(|| {
        ApiError::new(ErrorType::OrderException, format!("Order {order_id} not found in today's order book."))
    })?;
    if entry.current.account != caller.account() {
        caller.allow_others(Action::ReadOrders)?;
    }
    Ok(entry)
}

/// `GET /orders/:order_id`: the order's history, oldest state first.
pub(crate) async fn order_history(
    State(app): S,
    Path(order_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let order_id = parse_order_id(&order_id)?;
    app.link.read(|view| {
        let entry = readable_order(view, &caller, order_id)?;
        let list: Vec<_> =
            entry.history.iter().map(|s| order_json(&view.order_record(entry, s, caller.user_id()))).collect();
        Ok(json(&list))
    })?
}

/// `GET /orders/:order_id/trades`.
pub(crate) async fn order_trades(
    State(app): S,
    Path(order_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let order_id = parse_order_id(&order_id)?;
    app.link.read(|view| {
        let entry = readable_order(view, &caller, order_id)?;
        let list: Vec<_> = view
            .account_fills(entry.current.account)
            .iter()
            .filter(|f| f.order_id == order_id)
            .map(|f| trade_json(&view.trade_record(f)))
            .collect();
        Ok(json(&list))
    })?
}

/// `GET /trades`: the day's fills of the caller.
pub(crate) async fn trades(State(app): S, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let (_, account) = subject(&app, &caller, &query, Action::ReadTrades).await?;
    app.link.read(|view| {
        let list: Vec<_> = view.account_fills(account).iter().map(|f| trade_json(&view.trade_record(f))).collect();
        json(&list)
    })
}

// ------------------------------------------------------------------------------ portfolio

/// Runs `f` on a read-only connection to a service database (opened on first use).
async fn with_db<T: Send + 'static>(
    app: &Arc<App>,
    which: &'static str,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || {
        let slot = match which {
            "portfolio" => &app.portfolio_db,
            _ => &app.marketdata_db,
        };
        let mut guard = slot.lock().map_err(|_| internal("database lock"))?;
        if guard.is_none() {
            let path = app.data_dir.join("services").join(format!("{which}.db"));
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| {
                tracing::warn!("gateway: opening {}: {e}", path.display());
                ApiError::new(ErrorType::NetworkException, format!("The {which} service is not available yet."))
                    .with_status(503)
            })?;
            let _ = conn.busy_timeout(std::time::Duration::from_secs(2));
            *guard = Some(conn);
        }
        let conn = guard.as_ref().ok_or_else(|| internal("database"))?;
        f(conn).map_err(|e| {
            tracing::warn!("gateway: reading {which}: {e}");
            ApiError::new(ErrorType::DataException, format!("The {which} service's data could not be read."))
                .with_status(502)
        })
    })
    .await
    .map_err(|_| internal("database task"))?
}

/// `GET /portfolio/positions`.
pub(crate) async fn positions(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let (_, account) = subject(&app, &caller, &query, Action::ReadPositions).await?;
    let rows =
        with_db(&app, "portfolio", move |c| services_portfolio::positions(c, account).map_err(|e| e.to_string()))
            .await?;
    app.link.read(|view| {
        let mut net = Vec::new();
        let mut day = Vec::new();
        for p in &rows {
            let Some(info) = view.instrument(p.token) else { continue };
            let close = view.market(p.token).map_or(info.spec.reference_price, |m| m.prev_close);
            let last = p.last_price.unwrap_or(close);
            let overnight_buy = p.overnight_quantity.max(0);
            let overnight_sell = (-p.overnight_quantity).max(0);
            let record = PositionRecord {
                tradingsymbol: &info.tradingsymbol,
                exchange: info.exchange,
                instrument_token: p.token,
                product: p.product,
                quantity: p.quantity,
                overnight_quantity: p.overnight_quantity,
                average_price: Decimal::paise(p.average_price),
                last_price: last,
                close_price: close,
                buy_quantity: p.day_buy_quantity + overnight_buy,
                buy_value: p.day_buy_value + overnight_buy * close,
                sell_quantity: p.day_sell_quantity + overnight_sell,
                sell_value: p.day_sell_value + overnight_sell * close,
                day_buy_quantity: p.day_buy_quantity,
                day_buy_value: p.day_buy_value,
                day_sell_quantity: p.day_sell_quantity,
                day_sell_value: p.day_sell_value,
                realised: p.realized_pnl,
                unrealised: p.unrealized_pnl,
                m2m: p.m2m,
            };
            if p.day_buy_quantity != 0 || p.day_sell_quantity != 0 {
                day.push(PositionRecord {
                    quantity: p.day_quantity(),
                    overnight_quantity: 0,
                    buy_quantity: p.day_buy_quantity,
                    buy_value: p.day_buy_value,
                    sell_quantity: p.day_sell_quantity,
                    sell_value: p.day_sell_value,
                    ..record.clone()
                });
            }
            net.push(record);
        }
        json(&positions_json(&net, &day))
    })
}

/// `GET /portfolio/holdings`.
pub(crate) async fn holdings(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let (_, account) = subject(&app, &caller, &query, Action::ReadHoldings).await?;
    let rows = with_db(&app, "portfolio", move |c| services_portfolio::holdings(c, account).map_err(|e| e.to_string()))
        .await?;
    app.link.read(|view| {
        let list: Vec<_> = rows
            .iter()
            .filter_map(|h| {
                let info = view.instrument(h.token)?;
                let close = h.close_price.unwrap_or(info.spec.reference_price);
                Some(holding_json(&HoldingRecord {
                    tradingsymbol: &info.tradingsymbol,
                    exchange: info.exchange,
                    instrument_token: h.token,
                    isin: "",
                    quantity: h.quantity,
                    t1_quantity: 0,
                    opening_quantity: h.quantity,
                    used_quantity: 0,
                    cost_value: i128::from(h.cost),
                    last_price: h.last_price.unwrap_or(close),
                    close_price: close,
                }))
            })
            .collect();
        json(&list)
    })
}

// ---------------------------------------------------------------------------------- quotes

/// Most instruments one quote call may name, as Kite allows.
const QUOTE_INSTRUMENTS_MAX: usize = 500;

/// The instruments of `?i=NSE:INFY&i=...` (or instrument tokens), in request order, each with
/// the key the client used.
fn quote_keys(view: &View, query: &Form) -> Result<Vec<(String, Token)>, ApiError> {
    let keys: Vec<&str> = query.all("i").collect();
    if keys.is_empty() {
        return Err(ApiError::input("Missing `i`: name instruments as `i=NSE:INFY`."));
    }
    if keys.len() > QUOTE_INSTRUMENTS_MAX {
        return Err(ApiError::input(format!("At most {QUOTE_INSTRUMENTS_MAX} instruments per call.")));
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let token = if let Some((exchange, symbol)) = parse_instrument_key(key) {
            view.instrument_by_symbol(exchange, symbol).map(|i| i.spec.token)
        } else {
            key.parse::<Token>().ok().filter(|t| view.instrument(*t).is_some())
        };
        // Kite leaves unknown instruments out of the answer rather than failing the call.
        if let Some(token) = token {
            if !out.iter().any(|(k, _)| k == key) {
                out.push((key.to_string(), token));
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Copy)]
pub(crate) enum QuoteKind {
    Full,
    Ohlc,
    Ltp,
}

async fn quote_any(
    app: Arc<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    kind: QuoteKind,
) -> Result<Response, ApiError> {
    app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    app.link.read(|view| {
        let keys = quote_keys(view, &query)?;
        let quotes = keys.into_iter().filter_map(|(k, t)| view.quote(t).map(|q| (k, q)));
        Ok(match kind {
            QuoteKind::Full => json(&KeyedMap(quotes.map(|(k, q)| (k, quote_json(&q))).collect())),
            QuoteKind::Ohlc => json(&KeyedMap(quotes.map(|(k, q)| (k, ohlc_json(&q))).collect())),
            QuoteKind::Ltp => json(&KeyedMap(quotes.map(|(k, q)| (k, ltp_json(&q))).collect())),
        })
    })?
}

pub(crate) async fn quote(State(app): S, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    quote_any(app, method, uri, headers, QuoteKind::Full).await
}

pub(crate) async fn quote_ohlc(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    quote_any(app, method, uri, headers, QuoteKind::Ohlc).await
}

pub(crate) async fn quote_ltp(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    quote_any(app, method, uri, headers, QuoteKind::Ltp).await
}

// ----------------------------------------------------------------------------- instruments

/// `GET /instruments` and `GET /instruments/:exchange`: the CSV dump.
pub(crate) async fn instruments(
    State(app): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    exchange: Option<Path<String>>,
) -> Result<Response, ApiError> {
    app.caller(&headers, &method, &uri).await?;
    let filter = match exchange {
        None => None,
        Some(Path(text)) => Some(
            Exchange::parse(&text)
                .ok_or_else(|| ApiError::input(format!("Invalid exchange `{}`.", printable(&text))))?,
        ),
    };
    app.link.read(|view| {
        let rows: Vec<InstrumentRow<'_>> = view
            .instruments()
            .filter(|i| filter.is_none_or(|e| e == i.exchange))
            .map(|i| InstrumentRow {
                instrument_token: i.spec.token,
                tradingsymbol: &i.tradingsymbol,
                name: &i.tradingsymbol,
                last_price: view.market(i.spec.token).and_then(|m| m.last_price).unwrap_or(i.spec.reference_price),
                tick: i.spec.tick,
                lot: i.spec.lot,
                instrument_type: "EQ",
                exchange: i.exchange,
            })
            .collect();
        csv(instruments_csv(&rows))
    })
}

/// Kite's interval names → the market data service's.
fn interval(text: &str) -> Result<services_marketdata::Interval, ApiError> {
    use services_marketdata::Interval as I;
    match text {
        "minute" => Ok(I::parse("1m").unwrap_or(I::Day)),
        "5minute" => Ok(I::parse("5m").unwrap_or(I::Day)),
        "15minute" => Ok(I::parse("15m").unwrap_or(I::Day)),
        "day" => Ok(I::Day),
        "3minute" | "10minute" | "30minute" | "60minute" => {
            Err(ApiError::input(format!("Interval `{text}` is not kept: use minute, 5minute, 15minute or day.")))
        }
        other => Err(ApiError::input(format!(
            "Invalid interval `{}`: use minute, 5minute, 15minute or day.",
            printable(other)
        ))),
    }
}

/// A `from`/`to` of a historical call: `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (IST).
fn ist_time(name: &str, text: &str) -> Result<i64, ApiError> {
    parse_ist_datetime(text)
        .ok_or_else(|| ApiError::input(format!("Invalid `{name}` `{}`: use `yyyy-mm-dd hh:mm:ss`.", printable(text))))
}

/// `GET /instruments/historical/:token/:interval?from=..&to=..`.
pub(crate) async fn historical(
    State(app): S,
    Path((token, interval_text)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.caller(&headers, &method, &uri).await?;
    let query = read_query(&app, uri.query())?;
    let token: Token =
        token.parse().map_err(|_| ApiError::input(format!("Invalid instrument token `{}`.", printable(&token))))?;
    if app.link.read(|v| v.instrument(token).is_none())? {
        return Err(ApiError::input(format!("Unknown instrument token {token}.")));
    }
    let interval = interval(&interval_text)?;
    let from = ist_time("from", required(&query, "from")?)?;
    let to = ist_time("to", required(&query, "to")?)?;
    if to < from {
        return Err(ApiError::input("`to` is before `from`."));
    }
    let oi = matches!(query.get("oi")?, Some("1") | Some("true"));
    let from_ns = (from.max(0) as u64).saturating_mul(1_000_000_000);
    // `to` is inclusive in Kite's API.
    let to_ns = ((to.max(0) as u64) + 1).saturating_mul(1_000_000_000);
    let candles = with_db(&app, "marketdata", move |c| {
        services_marketdata::read_candles(c, token, interval, from_ns, to_ns).map_err(|e| e.to_string())
    })
    .await?;
    let list: Vec<Candle> = candles
        .iter()
        .map(|c| Candle {
            start_secs: (c.start_ns / 1_000_000_000) as i64,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            oi: oi.then_some(0),
        })
        .collect();
    Ok(json(&candles_json(&list)))
}

// --------------------------------------------------------------------------------- others

/// Unknown routes: Kite's JSON error rather than an empty 404.
pub(crate) async fn not_found(uri: Uri) -> Response {
    error_response(
        &ApiError::new(ErrorType::GeneralException, format!("Route not found: {}", printable(uri.path())))
            .with_status(404),
    )
}
