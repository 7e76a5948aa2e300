//! `GET /openapi.json`: an OpenAPI 3.0 description of every route, built from one table.

use axum::response::Response;
use serde_json::{json, Map, Value};

/// Where a parameter goes.
#[derive(Clone, Copy)]
enum In {
    Path,
    Query,
    Form,
}

/// (name, where, required, description)
type Param = (&'static str, In, bool, &'static str);

struct Route {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: bool,
    params: &'static [Param],
    /// The `data` of a success, or `csv`.
    returns: &'static str,
}

const ORDER_FIELDS: &[Param] = &[
    ("variety", In::Path, true, "regular or iceberg"),
    ("exchange", In::Form, true, "NSE"),
    ("tradingsymbol", In::Form, true, "e.g. INFY"),
    ("transaction_type", In::Form, true, "BUY or SELL"),
    ("order_type", In::Form, true, "LIMIT, MARKET, SL or SL-M"),
    ("quantity", In::Form, true, "shares, a multiple of the lot size"),
    ("product", In::Form, true, "CNC or MIS"),
    ("price", In::Form, false, "rupees, on the tick grid (LIMIT, SL)"),
    ("trigger_price", In::Form, false, "rupees (SL, SL-M)"),
    ("validity", In::Form, false, "DAY (default) or IOC"),
    ("disclosed_quantity", In::Form, false, "shares shown at a time"),
    ("iceberg_legs", In::Form, false, "iceberg variety: number of legs"),
    ("iceberg_quantity", In::Form, false, "iceberg variety: quantity per leg"),
    ("tag", In::Form, false, "up to 20 characters"),
];

const USER_ID: Param = ("user_id", In::Query, false, "another user's (admin, risk and support roles only)");

// One route a line, as a table.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    Route { method: "post", path: "/api/login", tag: "session", summary: "Password step of the login; returns a request_id", auth: false, params: &[("user_id", In::Form, true, ""), ("password", In::Form, true, "")], returns: "object" },
    Route { method: "post", path: "/api/twofa", tag: "session", summary: "TOTP step of the login; returns a request_token", auth: false, params: &[("user_id", In::Form, true, ""), ("request_id", In::Form, true, ""), ("twofa_value", In::Form, true, "the 6-digit TOTP")], returns: "object" },
    Route { method: "post", path: "/session/token", tag: "session", summary: "Exchange a request_token for an access token", auth: false, params: &[("api_key", In::Form, true, ""), ("request_token", In::Form, true, ""), ("checksum", In::Form, true, "sha256(api_key + request_token + api_secret), hex")], returns: "object" },
    Route { method: "delete", path: "/session/token", tag: "session", summary: "Log out (invalidate the access token)", auth: false, params: &[("api_key", In::Query, true, ""), ("access_token", In::Query, true, "")], returns: "boolean" },
    Route { method: "get", path: "/user/profile", tag: "user", summary: "The user's profile", auth: true, params: &[USER_ID], returns: "object" },
    Route { method: "get", path: "/user/margins", tag: "user", summary: "Funds and margins of every segment", auth: true, params: &[USER_ID], returns: "object" },
    Route { method: "get", path: "/user/margins/{segment}", tag: "user", summary: "Funds and margins of one segment", auth: true, params: &[("segment", In::Path, true, "equity or commodity"), USER_ID], returns: "object" },
    Route { method: "post", path: "/orders/{variety}", tag: "orders", summary: "Place an order; answers once the engine has accepted it", auth: true, params: ORDER_FIELDS, returns: "object" },
    Route { method: "put", path: "/orders/{variety}/{order_id}", tag: "orders", summary: "Modify price, quantity or trigger of an open order", auth: true, params: &[("variety", In::Path, true, ""), ("order_id", In::Path, true, ""), ("quantity", In::Form, false, "new total quantity"), ("price", In::Form, false, ""), ("trigger_price", In::Form, false, "")], returns: "object" },
    Route { method: "delete", path: "/orders/{variety}/{order_id}", tag: "orders", summary: "Cancel an open order", auth: true, params: &[("variety", In::Path, true, ""), ("order_id", In::Path, true, "")], returns: "object" },
    Route { method: "get", path: "/orders", tag: "orders", summary: "The day's orders", auth: true, params: &[USER_ID], returns: "array" },
    Route { method: "get", path: "/orders/{order_id}", tag: "orders", summary: "An order's history, oldest state first", auth: true, params: &[("order_id", In::Path, true, "")], returns: "array" },
    Route { method: "get", path: "/orders/{order_id}/trades", tag: "orders", summary: "An order's fills", auth: true, params: &[("order_id", In::Path, true, "")], returns: "array" },
    Route { method: "get", path: "/trades", tag: "orders", summary: "The day's fills", auth: true, params: &[USER_ID], returns: "array" },
    Route { method: "get", path: "/portfolio/positions", tag: "portfolio", summary: "Net and day positions", auth: true, params: &[USER_ID], returns: "object" },
    Route { method: "get", path: "/portfolio/holdings", tag: "portfolio", summary: "Delivery holdings", auth: true, params: &[USER_ID], returns: "array" },
    Route { method: "get", path: "/quote", tag: "market", summary: "Full quotes with 5-level depth", auth: true, params: &[("i", In::Query, true, "EXCHANGE:SYMBOL, repeated")], returns: "object" },
    Route { method: "get", path: "/quote/ohlc", tag: "market", summary: "OHLC and last price", auth: true, params: &[("i", In::Query, true, "EXCHANGE:SYMBOL, repeated")], returns: "object" },
    Route { method: "get", path: "/quote/ltp", tag: "market", summary: "Last traded price", auth: true, params: &[("i", In::Query, true, "EXCHANGE:SYMBOL, repeated")], returns: "object" },
    Route { method: "get", path: "/instruments", tag: "market", summary: "Every instrument (CSV)", auth: true, params: &[], returns: "csv" },
    Route { method: "get", path: "/instruments/{exchange}", tag: "market", summary: "One exchange's instruments (CSV)", auth: true, params: &[("exchange", In::Path, true, "NSE")], returns: "csv" },
    Route { method: "get", path: "/instruments/historical/{instrument_token}/{interval}", tag: "market", summary: "Candles", auth: true, params: &[("instrument_token", In::Path, true, ""), ("interval", In::Path, true, "minute, 5minute, 15minute or day"), ("from", In::Query, true, "yyyy-mm-dd hh:mm:ss (IST)"), ("to", In::Query, true, "yyyy-mm-dd hh:mm:ss (IST)"), ("oi", In::Query, false, "1 to add open interest (always 0)")], returns: "object" },
    Route { method: "get", path: "/admin/kyc/{user_id}", tag: "admin", summary: "A user's KYC state", auth: true, params: &[("user_id", In::Path, true, "")], returns: "object" },
    Route { method: "post", path: "/admin/kyc/{user_id}", tag: "admin", summary: "Verify or reject a user's KYC (admin)", auth: true, params: &[("user_id", In::Path, true, ""), ("decision", In::Form, true, "verify or reject"), ("reason", In::Form, false, "required when rejecting")], returns: "object" },
    Route { method: "post", path: "/admin/instruments", tag: "admin", summary: "Add an instrument (admin)", auth: true, params: &[("tradingsymbol", In::Form, true, ""), ("exchange", In::Form, false, "NSE (default) or BSE"), ("exchange_token", In::Form, true, ""), ("tick_size", In::Form, true, "rupees"), ("lot_size", In::Form, true, "shares"), ("circuit_percent", In::Form, true, "band half-width"), ("reference_price", In::Form, true, "rupees"), ("mis_leverage", In::Form, false, "default 1")], returns: "object" },
    Route { method: "post", path: "/admin/instruments/{instrument_token}/{action}", tag: "admin", summary: "Halt or resume an instrument (admin, risk)", auth: true, params: &[("instrument_token", In::Path, true, ""), ("action", In::Path, true, "halt or resume")], returns: "boolean" },
    Route { method: "put", path: "/admin/accounts/{user_id}/limits", tag: "admin", summary: "Set a user's account limits (admin, risk)", auth: true, params: &[("user_id", In::Path, true, ""), ("order_value_max", In::Form, false, "rupees; 0 = none"), ("open_orders_max", In::Form, false, ""), ("position_max", In::Form, false, "shares"), ("mis_leverage", In::Form, false, "0 = the instrument's")], returns: "boolean" },
    Route { method: "post", path: "/admin/session/{action}", tag: "admin", summary: "Open or close the market session (admin)", auth: true, params: &[("action", In::Path, true, "open or close")], returns: "boolean" },
];

fn operation(r: &Route) -> Value {
    let mut parameters = Vec::new();
    let mut form = Map::new();
    let mut required_form = Vec::new();
    for &(name, place, required, description) in r.params {
        match place {
            In::Path | In::Query => parameters.push(json!({
                "name": name,
                "in": if matches!(place, In::Path) { "path" } else { "query" },
                "required": required,
                "description": description,
                "schema": {"type": "string"},
            })),
            In::Form => {
                form.insert(name.into(), json!({"type": "string", "description": description}));
                if required {
                    required_form.push(name);
                }
            }
        }
    }
    let success = if r.returns == "csv" {
        json!({"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}})
    } else {
        json!({"description": "Success", "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["success"]}, "data": {"type": r.returns}},
        }}}})
    };
    let mut op = json!({
        "tags": [r.tag],
        "summary": r.summary,
        "parameters": parameters,
        "responses": {
            "200": success,
            "400": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "429": {"$ref": "#/components/responses/Error"},
        },
    });
    if !form.is_empty() {
        op["requestBody"] = json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": form, "required": required_form,
        }}}});
    }
    op["security"] = if r.auth { json!([{"kite": []}]) } else { json!([]) };
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths.entry(r.path).or_insert_with(|| json!({}));
        entry[r.method] = operation(r);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Exchange: Kite Connect v3 API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Kite Connect v3 encodings: form-encoded requests, {\"status\":\"success\",\"data\":...} answers, prices in rupees. The WebSocket ticker is at / with api_key and access_token in the query.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"kite": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "token api_key:access_token",
            }},
            "responses": {"Error": {"description": "Kite error", "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["error"]},
                    "message": {"type": "string"},
                    "error_type": {"type": "string", "enum": [
                        "TokenException", "UserException", "OrderException", "InputException", "MarginException",
                        "HoldingException", "NetworkException", "DataException", "GeneralException", "PermissionException",
                    ]},
                },
            }}}}},
        },
    })
}

/// `GET /openapi.json`: the document itself (not wrapped in Kite's envelope).
pub(crate) async fn serve() -> Response {
    let mut response = Response::new(axum::body::Body::from(document().to_string()));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(crate::envelope::CONTENT_TYPE_JSON),
    );
    response
}

/// The paths and methods the document lists, for tests that compare it with the router.
pub fn listed_routes() -> Vec<(&'static str, &'static str)> {
    ROUTES.iter().map(|r| (r.method, r.path)).collect()
}
