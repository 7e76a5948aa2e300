//! The gateway's link to the engine: commands go out through a [`CommandSink`], answers come back
//! on the event stream. A request registers a waiter under its `client_ref` (a cancel also under
//! its order id, because `Cancelled` carries none), sends the command, and the event thread
//! hands the waiter the engine's answer after the view has applied it, so a client that reads
//! right after its answer sees its own order.
//!
//! A place request whose order needs a note (a tag, say) queues it with the [`Notes`] writer
//! before it sends the command, and is answered once both the engine has answered and the note
//! is committed.
//!
//! The event thread replays the event log from seq 1 on start, then follows it live.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use engine_core::{Command, CommandKind, Event, OrderId, RejectReason};
use services_core::{CommandSink, EventBatch, EventFeed, FeedError, SinkError};
use tokio::sync::{broadcast, oneshot};

use super::notes::{Note, Notes};
use super::view::{Changes, View};
use crate::envelope::{ApiError, ErrorType};
use crate::kite::Variety;

/// The engine's answer to one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted(OrderId),
    Modified(OrderId),
    Cancelled(OrderId),
    Rejected { reason: RejectReason, order_id: OrderId },
}

/// What a place request attaches to its order once the engine accepts it.
#[derive(Debug)]
struct Waiter {
    answer: oneshot::Sender<Answer>,
    variety: Variety,
    tag: Option<String>,
}

/// Decides from one event whether an admin command was applied (`Some(Ok)`), refused
/// (`Some(Err)`), or neither yet (`None`). Admin commands carry no client ref.
pub type Watch = Box<dyn FnMut(&Event) -> Option<Result<(), RejectReason>> + Send>;

#[derive(Default)]
struct Waiters {
    by_ref: HashMap<u64, Waiter>,
    /// Cancels in flight: order id → client_ref.
    cancels: HashMap<OrderId, u64>,
    /// Admin commands in flight.
    watches: Vec<(Watch, oneshot::Sender<Result<(), RejectReason>>)>,
}

/// What the ticker hears after each batch.
#[derive(Clone, Debug)]
pub struct Broadcast {
    pub seq: u64,
    pub changes: Arc<Changes>,
}

/// See the module documentation.
pub struct EngineLink {
    pub view: RwLock<View>,
    waiters: Mutex<Waiters>,
    sink: Mutex<Box<dyn CommandSink>>,
    next_ref: AtomicU64,
    answer_timeout: Duration,
    pub updates: broadcast::Sender<Broadcast>,
    caught_up: AtomicBool,
    stop: AtomicBool,
    pub notes: Notes,
}

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLink").field("caught_up", &self.caught_up()).finish_non_exhaustive()
    }
}

/// How many times a back-pressured command is retried (1 ms apart) before the client is told.
const BACK_PRESSURE_RETRIES: u32 = 50;

impl EngineLink {
    /// `ref_base` makes this gateway's client refs distinct from other senders' and from
    /// earlier runs' (its high bits). `loaded` are the notes on disk, for the view to attach on
    /// replay; new ones go to `notes`.
    pub fn new(
        sink: Box<dyn CommandSink>,
        ref_base: u64,
        answer_timeout: Duration,
        notes: Notes,
        loaded: HashMap<u64, Note>,
    ) -> EngineLink {
        EngineLink {
            view: RwLock::new(View::with_notes(loaded)),
            waiters: Mutex::new(Waiters::default()),
            sink: Mutex::new(sink),
            next_ref: AtomicU64::new(ref_base),
            answer_timeout,
            updates: broadcast::channel(4096).0,
            caught_up: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            notes,
        }
    }

    pub fn next_client_ref(&self) -> u64 {
        self.next_ref.fetch_add(1, Ordering::Relaxed)
    }

    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Reads the view. A poisoned lock means the event thread panicked: the view may be half
    /// applied, so the request fails rather than read it.
    pub fn read<T>(&self, f: impl FnOnce(&View) -> T) -> Result<T, ApiError> {
        let view = self.view.read().map_err(|_| internal("the order view is unavailable"))?;
        Ok(f(&view))
    }

    /// Sends a command that needs no answer (admin commands are answered through their events
    /// by [`EngineLink::send_and_wait`] instead when they carry a client ref). Blocks while the
    /// engine back-pressures: call it off the async workers, or use `send_from_async`.
    pub fn send(&self, command: &Command) -> Result<(), ApiError> {
        let mut retries = 0;
        loop {
            match self.submit(command)? {
                Err(SinkError::BackPressure) if retries < BACK_PRESSURE_RETRIES => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                result => return sent(result),
            }
        }
    }

    /// [`EngineLink::send`] from an async worker. An offer to the commands stream normally
    /// succeeds at once, so the worker makes the first one itself: moving every order off the
    /// worker (`block_in_place` hands the worker's core to another thread) costs far more than
    /// the offer. Only a back-pressured command waits off the workers, for its retries.
    fn send_from_async(&self, command: &Command) -> Result<(), ApiError> {
        match self.submit(command)? {
            Err(SinkError::BackPressure) => tokio::task::block_in_place(|| self.send(command)),
            result => sent(result),
        }
    }

    /// One submission (the sink retries back-pressure itself for `bus.submit_retry_ms`).
    fn submit(&self, command: &Command) -> Result<Result<(), SinkError>, ApiError> {
        Ok(self.sink.lock().map_err(|_| internal("the command sink is unavailable"))?.submit(command))
    }

    /// Sends `command` (whose client ref is `client_ref`) and waits for the engine's answer.
    /// `cancel` names the order of a cancel command. A place command's note (`variety`, `tag`)
    /// is written when the events would not give it back.
    pub async fn send_and_wait(
        &self,
        command: Command,
        client_ref: u64,
        cancel: Option<OrderId>,
        variety: Variety,
        tag: Option<String>,
    ) -> Result<Answer, ApiError> {
        let note = match command {
            Command::Place(ref order) => {
                let note = Note { account: order.account, variety, tag: tag.clone() };
                note.worth_keeping(order.disclosed).then(|| self.notes.put(client_ref, note))
            }
            _ => None,
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut w = self.waiters.lock().map_err(|_| internal("waiters"))?;
            w.by_ref.insert(client_ref, Waiter { answer: tx, variety, tag });
            if let Some(order_id) = cancel {
                w.cancels.insert(order_id, client_ref);
            }
        }
        let forget = || {
            if let Ok(mut w) = self.waiters.lock() {
                w.by_ref.remove(&client_ref);
                if let Some(order_id) = cancel {
                    if w.cancels.get(&order_id) == Some(&client_ref) {
                        w.cancels.remove(&order_id);
                    }
                }
            }
        };
        if let Err(e) = self.send_from_async(&command) {
            forget();
            if note.is_some() {
                self.notes.forget(client_ref);
            }
            return Err(e);
        }
        match tokio::time::timeout(self.answer_timeout, rx).await {
            Ok(Ok(answer)) => {
                if let Some(committed) = note {
                    if let Answer::Accepted(order_id) = answer {
                        // The order stands either way: a client told otherwise would place it again.
                        if !matches!(committed.await, Ok(true)) {
                            tracing::warn!(order_id, "gateway: an order's tag and variety were not saved");
                        }
                    } else {
                        self.notes.forget(client_ref);
                    }
                }
                Ok(answer)
            }
            _ => {
                forget();
                Err(ApiError::new(
                    ErrorType::NetworkException,
                    "The exchange did not answer in time. The request may still take effect: check the order book.",
                )
                .with_status(504))
            }
        }
    }

    /// Sends an admin command and waits until `watch` sees its outcome in the events.
    pub async fn send_and_watch(&self, command: Command, watch: Watch) -> Result<Result<(), RejectReason>, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().map_err(|_| internal("waiters"))?.watches.push((watch, tx));
        self.send_from_async(&command)?;
        match tokio::time::timeout(self.answer_timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => {
                Err(ApiError::new(ErrorType::NetworkException, "The exchange did not answer in time.").with_status(504))
            }
        }
    }

    /// Applies a batch to the view and answers the waiters it resolves.
    pub fn apply(&self, batch: &EventBatch) {
        let mut changes = Changes::default();
        let mut answers: Vec<(u64, Answer)> = Vec::new();
        for event in &batch.events {
            match *event {
                Event::Accepted(a) => answers.push((a.client_ref, Answer::Accepted(a.order_id))),
                Event::Modified { order_id, client_ref, .. } => answers.push((client_ref, Answer::Modified(order_id))),
                Event::Rejected {
                    kind: CommandKind::Place | CommandKind::Modify | CommandKind::Cancel,
                    reason,
                    client_ref,
                    order_id,
                    ..
                } => answers.push((client_ref, Answer::Rejected { reason, order_id })),
                _ => {}
            }
        }
        let mut resolved: Vec<(Waiter, Answer)> = Vec::new();
        if let Ok(mut w) = self.waiters.lock() {
            if !w.watches.is_empty() {
                let watches = std::mem::take(&mut w.watches);
                for (mut watch, tx) in watches {
                    match batch.events.iter().find_map(&mut watch) {
                        Some(outcome) => {
                            let _ = tx.send(outcome);
                        }
                        None if !tx.is_closed() => w.watches.push((watch, tx)),
                        None => {}
                    }
                }
            }
            if !w.by_ref.is_empty() {
                for &(client_ref, answer) in &answers {
                    if let Some(waiter) = w.by_ref.remove(&client_ref) {
                        resolved.push((waiter, answer));
                    }
                }
                for event in &batch.events {
                    if let Event::Cancelled { order_id, .. } = *event {
                        if let Some(client_ref) = w.cancels.remove(&order_id) {
                            if let Some(waiter) = w.by_ref.remove(&client_ref) {
                                resolved.push((waiter, Answer::Cancelled(order_id)));
                            }
                        }
                    }
                }
            }
        }
        match self.view.write() {
            Ok(mut view) => {
                view.apply(batch, &mut changes);
                for (waiter, answer) in &mut resolved {
                    if let Answer::Accepted(order_id) = *answer {
                        view.annotate(order_id, waiter.variety, waiter.tag.take());
                    }
                }
            }
            Err(_) => tracing::error!("gateway: the order view lock is poisoned"),
        }
        for (waiter, answer) in resolved {
            let _ = waiter.answer.send(answer);
        }
        if !changes.orders.is_empty() || !changes.tokens.is_empty() {
            let _ = self.updates.send(Broadcast { seq: batch.seq, changes: Arc::new(changes) });
        }
    }

    /// The event thread: replays from seq 1, then follows the live stream until stopped.
    pub fn run_events(self: Arc<Self>, mut feed: Box<dyn EventFeed>) -> Result<(), FeedError> {
        feed.replay_from(1)?;
        let mut batches = Vec::with_capacity(256);
        while !self.stop.load(Ordering::Acquire) {
            batches.clear();
            let n = feed.poll(&mut batches, 256, Duration::from_millis(20))?;
            if n == 0 {
                if !feed.replaying() && !self.caught_up.swap(true, Ordering::AcqRel) {
                    let seq = self.view.read().map(|v| v.last_seq()).unwrap_or(0);
                    tracing::info!(seq, "gateway: order view caught up with the event log");
                }
                continue;
            }
            for batch in &batches {
                self.apply(batch);
            }
        }
        Ok(())
    }
}

/// What the client hears about a submission.
fn sent(result: Result<(), SinkError>) -> Result<(), ApiError> {
    match result {
        Ok(()) => Ok(()),
        Err(SinkError::BackPressure) => Err(ApiError::new(
            ErrorType::NetworkException,
            "The exchange is busy and cannot take the order now. Try again.",
        )),
        Err(SinkError::Transport(e)) => {
            tracing::warn!("gateway: sending a command: {e}");
            Err(ApiError::new(ErrorType::NetworkException, "The exchange cannot be reached now.").with_status(502))
        }
    }
}

fn internal(what: &str) -> ApiError {
    ApiError::new(ErrorType::GeneralException, format!("Internal error: {what}."))
}
