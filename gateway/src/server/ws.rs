//! The WebSocket ticker at `/?api_key=..&access_token=..`, as Kite's: the client subscribes to
//! instrument tokens and picks a mode per token (`ltp`, `quote`, `full`); the server sends binary
//! tick messages when an instrument's market changes, a 1-byte heartbeat each second it has
//! nothing else to say, and `{"type":"order","data":...}` text messages when one of the user's
//! orders changes.
//!
//! Each connection follows the gateway's broadcast of what each event batch changed. A
//! connection too slow to keep up misses broadcasts; it then gets a fresh tick of every
//! instrument it follows, so what it shows is never stale for long.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use engine_core::Token;
use tokio::sync::broadcast::error::RecvError;

use super::engine_link::Broadcast;
use super::http::{error_response, read_query, App, Caller};
use super::view::View;
use crate::envelope::ApiError;
use crate::format::order_json;
use crate::ticker::{
    encode_messages, error_message, order_update_message, parse_client_message, ClientMessage, Mode, HEARTBEAT,
    TOKENS_PER_CONNECTION_MAX,
};

/// `GET /`: upgrades to the ticker after checking `api_key` and `access_token`.
pub(crate) async fn upgrade(
    State(app): State<Arc<App>>,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let caller = async {
        let query = read_query(&app, uri.query())?;
        let api_key = query.get("api_key")?.unwrap_or("");
        let access_token = query.get("access_token")?.unwrap_or("");
        if api_key.is_empty() || access_token.is_empty() {
            return Err(super::http::token_error("The ticker needs `api_key` and `access_token` in the query."));
        }
        app.verify(api_key, access_token).await
    }
    .await;
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    match ws {
        Ok(ws) => ws.on_upgrade(move |socket| serve(app, caller, socket)),
        Err(_) => error_response(&ApiError::input(
            "This is the WebSocket ticker: connect with a WebSocket client (Upgrade: websocket).",
        )),
    }
}

/// A connection's subscriptions, by token.
type Subscriptions = BTreeMap<Token, Mode>;

/// Binary messages with the current tick of `tokens` (those subscribed), in their modes.
fn tick_messages(view: &View, subs: &Subscriptions, tokens: impl Iterator<Item = Token>) -> Vec<Vec<u8>> {
    let ticks: Vec<_> = tokens.filter_map(|t| Some((view.tick(t)?, *subs.get(&t)?))).collect();
    if ticks.is_empty() {
        return Vec::new();
    }
    encode_messages(&ticks).unwrap_or_else(|e| {
        tracing::warn!("ticker: {e}");
        Vec::new()
    })
}

/// Text messages for the caller's orders among `changes`.
fn order_messages(view: &View, caller: &Caller, update: &Broadcast) -> Vec<String> {
    let account = caller.account();
    update
        .changes
        .orders
        .iter()
        .filter_map(|&id| {
            let entry = view.order(id).filter(|e| e.current.account == account)?;
            order_update_message(&order_json(&view.order_record(entry, &entry.current, caller.user_id()))).ok()
        })
        .collect()
}

/// How often the session behind a connection is checked again (a logout closes the ticker).
const SESSION_RECHECK: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the client's side of the closing handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

async fn serve(app: Arc<App>, caller: Arc<Caller>, mut socket: WebSocket) {
    let mut updates = app.link.updates.subscribe();
    let mut subs = Subscriptions::new();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    recheck.tick().await;
    let mut said_something = false;
    let mut peer_closed = false;
    loop {
        let mut out_binary: Vec<Vec<u8>> = Vec::new();
        let mut out_text: Vec<String> = Vec::new();
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break };
                match message {
                    Message::Text(text) => match parse_client_message(text.as_str()) {
                        Ok(m) => {
                            let fresh = apply(&mut subs, m);
                            match fresh {
                                Ok(tokens) if !tokens.is_empty() => {
                                    if let Ok(msgs) = app.link.read(|v| tick_messages(v, &subs, tokens.into_iter())) {
                                        out_binary = msgs;
                                    }
                                }
                                Ok(_) => {}
                                Err(e) => out_text.push(error_message(&e)),
                            }
                        }
                        Err(e) => out_text.push(error_message(&e.0)),
                    },
                    Message::Close(_) => {
                        peer_closed = true;
                        break;
                    }
                    _ => {}
                }
            }
            update = updates.recv() => match update {
                Ok(update) => {
                    let _ = app.link.read(|v| {
                        out_binary = tick_messages(v, &subs, update.changes.tokens.iter().copied());
                        out_text = order_messages(v, &caller, &update);
                    });
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = app.link.read(|v| out_binary = tick_messages(v, &subs, subs.keys().copied()));
                }
                Err(RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                if !said_something && socket.send(Message::Binary(HEARTBEAT.to_vec().into())).await.is_err() {
                    break;
                }
                said_something = false;
            }
            _ = recheck.tick() => {
                if let Err(e) = app.verify(&caller.api_key, &caller.access_token).await {
                    let _ = socket.send(Message::Text(error_message(&e.message).into())).await;
                    break;
                }
            }
        }
        let mut failed = false;
        for text in out_text {
            said_something = true;
            failed |= socket.send(Message::Text(text.into())).await.is_err();
        }
        for bytes in out_binary {
            said_something = true;
            failed |= socket.send(Message::Binary(bytes.into())).await.is_err();
        }
        if failed {
            break;
        }
    }
    if !peer_closed {
        let _ = socket.send(Message::Close(None)).await;
    }
    // Completes the closing handshake. Reading flushes the reply to a client's Close that the
    // WebSocket library queued (sending a Close after it would fail, and the reply would be lost
    // with the connection), then sees the client hang up, or its reply to our Close.
    let _ = tokio::time::timeout(CLOSE_WAIT, async { while let Some(Ok(_)) = socket.recv().await {} }).await;
}

/// Applies a client message; returns the tokens whose current tick should be sent now.
fn apply(subs: &mut Subscriptions, message: ClientMessage) -> Result<Vec<Token>, String> {
    match message {
        ClientMessage::Subscribe(tokens) => {
            let new = tokens.iter().filter(|t| !subs.contains_key(t)).count();
            if subs.len() + new > TOKENS_PER_CONNECTION_MAX {
                return Err(format!("at most {TOKENS_PER_CONNECTION_MAX} instruments per connection"));
            }
            for &t in &tokens {
                // Kite's default mode for a new subscription is quote.
                subs.entry(t).or_insert(Mode::Quote);
            }
            Ok(tokens)
        }
        ClientMessage::Unsubscribe(tokens) => {
            for t in tokens {
                subs.remove(&t);
            }
            Ok(Vec::new())
        }
        ClientMessage::SetMode(mode, tokens) => {
            let mut changed = Vec::new();
            for t in tokens {
                if let Some(m) = subs.get_mut(&t) {
                    *m = mode;
                    changed.push(t);
                }
            }
            Ok(changed)
        }
    }
}
