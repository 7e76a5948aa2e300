//! A service's view of the engine's events: the live stream, plus replay of the event log for
//! what it missed, stitched together with no gap and no duplicate.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_proto::decode_batch;
use rusteron_client::{AeronOfferError, AeronPublication, AeronSubscription};
use services_core::{EventBatch, EventFeed, FeedError};

use crate::bus::{with_params, Backoff, Bus, BusError};
use crate::reassembly::Reassembler;
use crate::replay::{decode_response, encode_request, ReplayRequest, ReplayResponse};

/// Most fragments taken from a subscription per poll.
const FRAGMENT_LIMIT: usize = 256;
/// Batches decoded but not yet handed out; past this the feed stops reading (Aeron then
/// applies back-pressure to the publisher).
const READY_MAX: usize = 1 << 16;
/// Live batches held while a replay runs; later ones are dropped and replayed instead.
const HELD_MAX: usize = 1 << 18;
/// A request that has heard nothing back for this long is sent again.
const RESEND_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct FeedStats {
    /// Batches delivered from the live stream.
    pub live: AtomicU64,
    /// Batches delivered from replay.
    pub replayed: AtomicU64,
    /// Batches received again (at or below what was already delivered), dropped.
    pub duplicates: AtomicU64,
    /// Gaps seen in the live stream (each answered by a replay).
    pub gaps: AtomicU64,
    /// Replay requests sent (first sends and re-sends).
    pub requests: AtomicU64,
    /// Live batches dropped because the hold buffer was full during a replay (replayed later).
    pub dropped_live: AtomicU64,
    /// Messages that did not decode, dropped.
    pub undecodable: AtomicU64,
}

#[derive(Debug)]
enum State {
    Live,
    Replaying { request: u64, from: u64, sent: bool, last_heard: Instant, not_before: Instant },
}

/// A response addressed to this feed, decoded.
#[derive(Debug)]
enum Response {
    Batch(u64, EventBatch),
    End(u64, u64),
    Error(u64, u64, String),
    Undecodable(u64),
}

/// Implements [`EventFeed`] over the events stream and the replay streams.
///
/// `replay_from(N)` asks the replay server for the batches from N on. While the replay runs,
/// live batches are held; replayed ones are delivered in order; when the server's `end` says
/// it has sent up to R, held live batches after R follow. If the held ones do not start at
/// R + 1 (the live stream had moved past what was held, or the event log was behind the live
/// stream), the feed asks again from the first missing seq. A gap in the live stream starts a
/// replay the same way, so what the feed delivers is contiguous.
#[derive(Debug)]
pub struct AeronEventFeed {
    live: AeronSubscription,
    responses: AeronSubscription,
    requests: AeronPublication,
    live_assembler: Reassembler,
    response_assembler: Reassembler,
    requester: u64,
    next_request: u64,
    /// The seq delivered next; `None` until a replay is asked for or a first live batch arrives.
    next: Option<u64>,
    state: State,
    /// Whether the live stream had a publisher at the last poll.
    live_was_connected: bool,
    ready: VecDeque<EventBatch>,
    held: VecDeque<EventBatch>,
    /// Consecutive replays that brought nothing new (backs off re-requests).
    fruitless: u32,
    error: Option<FeedError>,
    warned_no_server: Option<Instant>,
    no_server_warning: Duration,
    incoming: Vec<EventBatch>,
    responses_in: Vec<Response>,
    stats: Arc<FeedStats>,
    _bus: Bus,
}

impl AeronEventFeed {
    /// `tethered`: whether this subscription may hold the publisher back (`aeron:ipc` only).
    pub fn new(bus: &Bus, tethered: bool) -> Result<AeronEventFeed, BusError> {
        let c = bus.config();
        let channel = if tethered || !c.events_channel.starts_with("aeron:ipc") {
            c.events_channel.clone()
        } else {
            with_params(&c.events_channel, "tether=false")
        };
        let live = bus.add_subscription(&channel, c.events_stream)?;
        let responses = bus.add_subscription(&c.replay_response_channel, c.replay_response_stream)?;
        let requests = bus.add_publication(&c.replay_request_channel, c.replay_request_stream)?;
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u64(rusteron_client::Aeron::nano_clock() as u64);
        Ok(AeronEventFeed {
            live,
            responses,
            requests,
            live_assembler: Reassembler::default(),
            response_assembler: Reassembler::default(),
            requester: hasher.finish(),
            next_request: 1,
            next: None,
            state: State::Live,
            live_was_connected: false,
            ready: VecDeque::new(),
            held: VecDeque::new(),
            fruitless: 0,
            error: None,
            warned_no_server: None,
            no_server_warning: Duration::from_millis(c.timeout_ms.max(1_000)),
            incoming: Vec::new(),
            responses_in: Vec::new(),
            stats: Arc::new(FeedStats::default()),
            _bus: bus.clone(),
        })
    }

    pub fn stats(&self) -> Arc<FeedStats> {
        Arc::clone(&self.stats)
    }

    /// Whether the live stream has a publisher (the engine node) connected.
    pub fn is_live_connected(&self) -> bool {
        self.live.is_connected()
    }

    /// Whether a replay server's response publication is connected.
    pub fn is_replay_connected(&self) -> bool {
        self.responses.is_connected() && self.requests.is_connected()
    }

    /// Whether a replay is under way.
    pub fn is_replaying(&self) -> bool {
        matches!(self.state, State::Replaying { .. })
    }

    /// The seq this feed delivers next, if it knows.
    pub fn next_seq(&self) -> Option<u64> {
        self.next
    }

    fn start_replay(&mut self, from: u64, delay: Duration) {
        let request = self.next_request;
        self.next_request += 1;
        let now = Instant::now();
        self.state = State::Replaying { request, from, sent: false, last_heard: now, not_before: now + delay };
    }

    fn do_work(&mut self) -> usize {
        let mut work = self.send_request();
        if self.ready.len() < READY_MAX {
            work += self.poll_responses();
        }
        if self.ready.len() < READY_MAX {
            work += self.poll_live();
        }
        work
    }

    fn send_request(&mut self) -> usize {
        let State::Replaying { request, from, sent, last_heard, not_before } = &mut self.state else { return 0 };
        let now = Instant::now();
        if now < *not_before || (*sent && now.duration_since(*last_heard) < RESEND_AFTER) {
            return 0;
        }
        // Ask only once the server's responses can reach us.
        if !self.responses.is_connected() {
            if self.warned_no_server.is_none_or(|t| t.elapsed() > self.no_server_warning) {
                if self.warned_no_server.is_some() {
                    tracing::warn!(from = *from, "no replay server is answering; still waiting");
                }
                self.warned_no_server = Some(now);
            }
            return 0;
        }
        let message = encode_request(&ReplayRequest { requester: self.requester, request: *request, from: *from });
        match self.requests.offer(&message) {
            Ok(_) => {
                *sent = true;
                *last_heard = now;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(requester = self.requester, request = *request, from = *from, "replay requested");
                1
            }
            Err(AeronOfferError::NotConnected | AeronOfferError::BackPressured | AeronOfferError::AdminAction) => 0,
            Err(e) => {
                self.error = Some(FeedError::Transport(format!("sending a replay request: {e}")));
                self.state = State::Live;
                0
            }
        }
    }

    fn poll_live(&mut self) -> usize {
        // Back after a time without the live stream (an untethered subscriber cut loose and
        // rejoined, or the engine restarted): batches may have gone by unseen, and until the
        // next one arrives nothing would show the gap, so ask the event log now.
        let connected = self.live.is_connected();
        if connected && !self.live_was_connected {
            if let (Some(next), State::Live) = (self.next, &self.state) {
                tracing::debug!(next, "the live stream is back; replaying what it may have missed");
                self.start_replay(next, Duration::ZERO);
            }
        }
        self.live_was_connected = connected;
        let mut incoming = std::mem::take(&mut self.incoming);
        let assembler = &mut self.live_assembler;
        let stats = &*self.stats;
        let polled = self.live.poll_fn(
            |fragment, header| {
                assembler.on_fragment(fragment, &header, |message| match decode(message) {
                    Some(batch) => incoming.push(batch),
                    None => {
                        let n = stats.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::warn!(undecodable = n, bytes = message.len(), "dropping an undecodable event batch");
                    }
                })
            },
            FRAGMENT_LIMIT,
        );
        if let Err(e) = &polled {
            tracing::warn!("polling the events stream: {e}");
        }
        let work = polled.unwrap_or(0).max(0) as usize;
        for batch in incoming.drain(..) {
            self.on_live(batch);
        }
        self.incoming = incoming;
        work
    }

    fn on_live(&mut self, batch: EventBatch) {
        if let State::Replaying { .. } = self.state {
            if self.held.len() < HELD_MAX {
                self.held.push_back(batch);
            } else {
                self.stats.dropped_live.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let next = *self.next.get_or_insert(batch.seq);
        if batch.seq < next {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
        } else if batch.seq == next {
            self.next = Some(next + 1);
            self.ready.push_back(batch);
            self.stats.live.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.gaps.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(expected = next, got = batch.seq, "gap in the live stream; replaying");
            self.held.push_back(batch);
            self.start_replay(next, Duration::ZERO);
        }
    }

    fn poll_responses(&mut self) -> usize {
        let mut responses = std::mem::take(&mut self.responses_in);
        let assembler = &mut self.response_assembler;
        let me = self.requester;
        let polled = self.responses.poll_fn(
            |fragment, header| {
                assembler.on_fragment(fragment, &header, |message| {
                    let Some(response) = decode_response(message) else { return };
                    if response.requester() != me {
                        return;
                    }
                    responses.push(match response {
                        ReplayResponse::Batch { request, batch, .. } => match decode(batch) {
                            Some(b) => Response::Batch(request, b),
                            None => Response::Undecodable(request),
                        },
                        ReplayResponse::End { request, last, .. } => Response::End(request, last),
                        ReplayResponse::Error { request, from, reason, .. } => {
                            Response::Error(request, from, reason.to_string())
                        }
                    })
                })
            },
            FRAGMENT_LIMIT,
        );
        if let Err(e) = &polled {
            tracing::warn!("polling replay responses: {e}");
        }
        let work = polled.unwrap_or(0).max(0) as usize;
        for response in responses.drain(..) {
            self.on_response(response);
        }
        self.responses_in = responses;
        work
    }

    fn on_response(&mut self, response: Response) {
        let State::Replaying { request: current, from, last_heard, .. } = &mut self.state else { return };
        let (current, from) = (*current, *from);
        *last_heard = Instant::now();
        match response {
            Response::Batch(request, batch) if request == current => {
                let next = self.next.unwrap_or(from);
                if batch.seq == next {
                    self.next = Some(next + 1);
                    self.ready.push_back(batch);
                    self.stats.replayed.fetch_add(1, Ordering::Relaxed);
                } else if batch.seq < next {
                    self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                // A seq past `next` cannot come from a contiguous log; the end settles it.
            }
            Response::End(request, last) if request == current => self.finish_replay(from, last),
            Response::Error(request, from, reason) if request == current => {
                self.state = State::Live;
                self.held.clear();
                self.error = Some(FeedError::ReplayUnavailable(from, reason));
            }
            Response::Undecodable(request) if request == current => {
                self.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                self.state = State::Live;
                self.held.clear();
                let at = self.next.unwrap_or(from);
                self.error = Some(FeedError::Transport(format!("the replayed batch for seq {at} does not decode")));
            }
            _ => {} // an answer to a request this feed has since replaced
        }
    }

    /// The server has sent everything up to `last`: release held live batches that follow on,
    /// and ask again if something is still missing.
    fn finish_replay(&mut self, from: u64, last: u64) {
        let mut next = self.next.unwrap_or(from);
        while let Some(batch) = self.held.pop_front() {
            if batch.seq < next {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            } else if batch.seq == next {
                next += 1;
                self.ready.push_back(batch);
                self.stats.live.fetch_add(1, Ordering::Relaxed);
            } else {
                self.held.push_front(batch);
                break;
            }
        }
        self.next = Some(next);
        if self.held.is_empty() && next > last {
            tracing::debug!(from, last, next, "replay done; live");
            self.state = State::Live;
            self.fruitless = 0;
            return;
        }
        // Still missing [next, first held): the event log was behind, or live outran the hold.
        self.fruitless = if next > from { 0 } else { self.fruitless + 1 };
        let delay =
            if self.fruitless == 0 { Duration::ZERO } else { Duration::from_millis(1 << self.fruitless.min(10)) };
        tracing::debug!(from, last, next, held = self.held.len(), ?delay, "replay again");
        self.start_replay(next, delay);
    }
}

fn decode(bytes: &[u8]) -> Option<EventBatch> {
    let mut events = Vec::new();
    let header = decode_batch(bytes, &mut events).ok()?;
    Some(EventBatch { seq: header.seq, ts_ns: header.ts_ns, events })
}

impl EventFeed for AeronEventFeed {
    fn replaying(&self) -> bool {
        matches!(self.state, State::Replaying { .. })
    }

    fn poll(&mut self, out: &mut Vec<EventBatch>, max: usize, timeout: Duration) -> Result<usize, FeedError> {
        let deadline = Instant::now() + timeout;
        let mut idle = Backoff::default();
        loop {
            let mut work = self.do_work();
            // Gather what is already there, up to `max`, so a backlog goes out in few batches.
            let mut passes = 1;
            while work > 0 && self.ready.len() < max && passes < 8 {
                let more = self.do_work();
                if more == 0 {
                    break;
                }
                work += more;
                passes += 1;
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            let n = self.ready.len().min(max);
            if n > 0 {
                out.extend(self.ready.drain(..n));
                return Ok(n);
            }
            if Instant::now() >= deadline {
                return Ok(0);
            }
            if work > 0 {
                idle.reset();
            } else {
                idle.idle();
            }
        }
    }

    fn replay_from(&mut self, from: u64) -> Result<(), FeedError> {
        let from = from.max(1);
        self.ready.clear();
        self.held.clear();
        self.next = Some(from);
        self.fruitless = 0;
        self.start_replay(from, Duration::ZERO);
        Ok(())
    }
}
