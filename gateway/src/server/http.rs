//! What every route shares: the application state, Kite's responses, body and query decoding,
//! authentication (`Authorization: token api_key:access_token`), rate limits and role checks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use engine_core::AccountId;
use serde::Serialize;
use services_users::{authorize, Action};
use services_users::{Claims, Users, UsersError};

use super::engine_link::EngineLink;
use super::GatewayConfig;
use crate::envelope::{success, ApiError, ErrorType, CONTENT_TYPE_CSV, CONTENT_TYPE_JSON};
use crate::form::{Form, FormLimits};
use crate::ratelimit::{RateLimiter, RouteClass};

/// Shared by every request.
pub(crate) struct App {
    pub link: Arc<EngineLink>,
    pub users: Mutex<Users>,
    auth_cache: RwLock<HashMap<String, Cached>>,
    pub limiter: Mutex<RateLimiter>,
    pub config: GatewayConfig,
    pub data_dir: PathBuf,
    /// Read-only connections to the services' databases, opened on first use.
    pub portfolio_db: Mutex<Option<rusqlite::Connection>>,
    pub marketdata_db: Mutex<Option<rusqlite::Connection>>,
    pub form_limits: FormLimits,
    clock: Instant,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("config", &self.config).finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Cached {
    caller: Arc<Caller>,
    checked: Instant,
}

/// How long a verified token is trusted before the users database is asked again (a logout
/// through this gateway takes effect at once; one elsewhere within this time).
const AUTH_RECHECK: Duration = Duration::from_secs(1);
const AUTH_CACHE_MAX: usize = 100_000;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub claims: Claims,
    pub api_key: String,
    pub access_token: String,
}

impl Caller {
    pub fn user_id(&self) -> &str {
        &self.claims.sub
    }

    pub fn account(&self) -> AccountId {
        self.claims.acc
    }

    /// Checks `action` on the caller's own resources.
    pub fn allow(&self, action: Action) -> Result<(), ApiError> {
        self.allow_on(action, Some(self.user_id()))
    }

    /// Checks `action` on another user's resources (roles whose scope is everyone's pass).
    pub fn allow_others(&self, action: Action) -> Result<(), ApiError> {
        // No user id is empty, so "" is always someone else.
        self.allow_on(action, Some(""))
    }

    /// Checks `action` on `owner`'s resources (`None`: exchange-wide).
    pub fn allow_on(&self, action: Action, owner: Option<&str>) -> Result<(), ApiError> {
        authorize(&self.claims, action, owner).map_err(|_| permission_denied())
    }
}

pub(crate) fn permission_denied() -> ApiError {
    ApiError::new(ErrorType::PermissionException, "Insufficient permission for that call.")
}

pub(crate) fn unix_now() -> u64 {
    services_users::unix_now()
}

impl App {
    pub fn new(link: Arc<EngineLink>, users: Users, config: GatewayConfig, data_dir: PathBuf) -> App {
        let mut limiter = RateLimiter::new(config.rate_limits.limits());
        for key in &config.keys {
            limiter.set_limits(&key.api_key, key.limits());
        }
        let form_limits = FormLimits { body_max: config.body_bytes_max, ..FormLimits::default() };
        App {
            link,
            users: Mutex::new(users),
            auth_cache: RwLock::new(HashMap::new()),
            limiter: Mutex::new(limiter),
            config,
            data_dir,
            portfolio_db: Mutex::new(None),
            marketdata_db: Mutex::new(None),
            form_limits,
            clock: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// Runs `f` on the users database, off the async workers (argon2id takes tens of ms).
    pub async fn with_users<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Users) -> Result<T, UsersError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut users = app.users.lock().map_err(|_| internal("the users database is unavailable"))?;
            f(&mut users).map_err(users_error)
        })
        .await
        .map_err(|_| internal("the users task failed"))?
    }

    /// Authenticates a request and charges it to its API key's rate limit: what every route
    /// that needs a token does first.
    pub async fn caller(
        self: &Arc<Self>,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
    ) -> Result<Arc<Caller>, ApiError> {
        let caller = self.authenticate(headers).await?;
        self.rate_limit(&caller.api_key, method, uri.path())?;
        Ok(caller)
    }

    /// Authenticates a request from its `Authorization` header.
    pub async fn authenticate(self: &Arc<Self>, headers: &HeaderMap) -> Result<Arc<Caller>, ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| token_error("Missing the `Authorization: token api_key:access_token` header."))?;
        let text = value.to_str().map_err(|_| token_error("Malformed `Authorization` header."))?;
        let credentials = text
            .strip_prefix("token ")
            .ok_or_else(|| token_error("The `Authorization` header must be `token api_key:access_token`."))?;
        let (api_key, access_token) = credentials
            .split_once(':')
            .filter(|(k, t)| !k.is_empty() && !t.is_empty())
            .ok_or_else(|| token_error("The `Authorization` header must be `token api_key:access_token`."))?;
        self.verify(api_key, access_token).await
    }

    /// Verifies an API key and access token pair (cached for [`AUTH_RECHECK`]). When an entry
    /// is due for a recheck, the first request to see it re-verifies it while the others go on
    /// trusting it, so a busy key costs one users-database look-up per [`AUTH_RECHECK`], not one
    /// per request in flight at that moment.
    pub async fn verify(self: &Arc<Self>, api_key: &str, access_token: &str) -> Result<Arc<Caller>, ApiError> {
        let key = format!("{api_key}:{access_token}");
        let now = unix_now();
        let fresh = |c: &Cached| c.checked.elapsed() < AUTH_RECHECK && now < c.caller.claims.exp;
        if let Some(hit) = self.auth_cache.read().ok().and_then(|c| c.get(&key).filter(|c| fresh(c)).cloned()) {
            return Ok(hit.caller);
        }
        {
            let mut cache = self.auth_cache.write().map_err(|_| internal("auth cache"))?;
            match cache.get_mut(&key) {
                Some(hit) if fresh(hit) => return Ok(Arc::clone(&hit.caller)),
                // This request rechecks it; meanwhile the entry counts as checked.
                Some(hit) if now < hit.caller.claims.exp => hit.checked = Instant::now(),
                _ => {}
            }
        }
        let (k, t) = (api_key.to_string(), access_token.to_string());
        let result = self.with_users(move |users| users.verify_access_token(&k, &t, now)).await;
        let mut cache = self.auth_cache.write().map_err(|_| internal("auth cache"))?;
        match result {
            Ok(claims) => {
                let caller =
                    Arc::new(Caller { claims, api_key: api_key.to_string(), access_token: access_token.to_string() });
                if cache.len() >= AUTH_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, Cached { caller: Arc::clone(&caller), checked: Instant::now() });
                Ok(caller)
            }
            Err(e) => {
                cache.remove(&key);
                Err(e)
            }
        }
    }

    /// Forgets every cached verification of `access_token` (after a logout).
    pub fn forget_token(&self, access_token: &str) {
        if let Ok(mut cache) = self.auth_cache.write() {
            cache.retain(|_, c| c.caller.access_token != access_token);
        }
    }

    /// Counts a request against the caller's API key.
    pub fn rate_limit(&self, api_key: &str, method: &Method, path: &str) -> Result<(), ApiError> {
        let class = RouteClass::classify(method.as_str(), path);
        let now = self.now_ns();
        let mut limiter = self.limiter.lock().map_err(|_| internal("rate limiter"))?;
        limiter.check(api_key, class, now).map_err(ApiError::from)
    }
}

pub(crate) fn internal(what: &str) -> ApiError {
    ApiError::new(ErrorType::GeneralException, format!("Internal error: {what}."))
}

pub(crate) fn token_error(message: &str) -> ApiError {
    ApiError::new(ErrorType::TokenException, message)
}

/// A users-service error as Kite reports it. Database and internal errors are logged, not shown.
pub(crate) fn users_error(e: UsersError) -> ApiError {
    let kind =
        ErrorType::ALL.into_iter().find(|t| t.as_str() == e.kite_error_type()).unwrap_or(ErrorType::GeneralException);
    let message = match &e {
        UsersError::InvalidToken | UsersError::SigningKeyRetired => {
            "Incorrect `api_key` or `access_token`.".to_string()
        }
        UsersError::TokenExpired | UsersError::TokenRevoked => {
            "The session has expired or was logged out. Log in again.".to_string()
        }
        UsersError::Forbidden(_) => "Insufficient permission for that call.".to_string(),
        UsersError::Db(_) | UsersError::Internal(_) | UsersError::WrongMasterKey => {
            tracing::error!("gateway: users: {e}");
            "Internal error.".to_string()
        }
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => format!("{}{}.", c.to_uppercase(), chars.as_str()),
                None => text,
            }
        }
    };
    ApiError::new(kind, message).with_status(e.http_status())
}

// ------------------------------------------------------------------------------------ responses

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An error as Kite writes it, with its HTTP status.
pub(crate) fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = with_type(status, CONTENT_TYPE_JSON, e.body());
    if e.status() == 429 {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// `{"status":"success","data":...}`.
pub(crate) fn json<T: Serialize + ?Sized>(data: &T) -> Response {
    match success(data) {
        Ok(body) => with_type(StatusCode::OK, CONTENT_TYPE_JSON, body),
        Err(e) => error_response(&e),
    }
}

pub(crate) fn csv(body: String) -> Response {
    with_type(StatusCode::OK, CONTENT_TYPE_CSV, body)
}

/// Handlers return `Result<Response, ApiError>`: an error becomes Kite's error envelope.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}

// ------------------------------------------------------------------------------------- decoding

/// Reads a form body: `application/x-www-form-urlencoded` (or no content type), at most
/// `body_bytes_max` bytes, decoded strictly.
pub(crate) async fn read_form(app: &App, headers: &HeaderMap, body: Body) -> Result<Form, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(ApiError::input(format!(
                "Unsupported Content-Type `{}`: send the parameters form-encoded (application/x-www-form-urlencoded).",
                crate::form::printable(mime)
            )));
        }
    }
    let limit = app.config.body_bytes_max;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::input(format!("The request body is too large: at most {limit} bytes are accepted.")))?;
    Ok(Form::decode(&bytes, &app.form_limits)?)
}

/// Reads the whole request body (at most `body_bytes_max` bytes) before the route runs. A
/// request refused before its handler reads the body (no token, no permission, over the rate
/// limit) would otherwise leave the body unread, and hyper then closes the keep-alive
/// connection after the answer: the client's next request on that connection fails with a
/// network error instead of being answered. A body over the limit is refused here.
pub(crate) async fn buffer_body(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limit = app.config.body_bytes_max;
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => next.run(axum::extract::Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => error_response(&ApiError::input(format!(
            "The request body is too large: at most {limit} bytes are accepted."
        ))),
    }
}

/// A field that must be present and not empty.
pub(crate) fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, ApiError> {
    match form.get(name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::input(format!("Missing `{name}`."))),
    }
}

/// Decodes a query string with the same strict rules as a form body.
pub(crate) fn read_query(app: &App, query: Option<&str>) -> Result<Form, ApiError> {
    Ok(Form::decode(query.unwrap_or("").as_bytes(), &app.form_limits)?)
}

/// Whose resources a read is about: the caller's, or `user_id` from the query when the caller's
/// role may read other users' (admin, risk, support). Returns (user id, account id).
pub(crate) async fn subject(
    app: &Arc<App>,
    caller: &Caller,
    query: &Form,
    action: Action,
) -> Result<(String, AccountId), ApiError> {
    match query.get("user_id")?.filter(|u| !u.is_empty() && *u != caller.user_id()) {
        None => {
            caller.allow(action)?;
            Ok((caller.user_id().to_string(), caller.account()))
        }
        Some(other) => {
            caller.allow_on(action, Some(other))?;
            let other = other.to_string();
            let profile = app.with_users(move |u| u.profile(&other)).await?;
            Ok((profile.user_id, profile.account_id))
        }
    }
}
