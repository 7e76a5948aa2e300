//! Replay of the event log for subscribers that are behind (a service after a restart, a late
//! joiner, a gap in the live stream).
//!
//! The engine node persists every published batch in its **event log**: a `journal` directory
//! (`<data_dir>/events`) whose record for seq N has as payload exactly the
//! `engine_proto::encode_batch` bytes of seq N. The [`ReplayServer`] answers requests from it.
//!
//! Messages, little-endian, one per Aeron message:
//!
//! | kind | stream | layout |
//! |---|---|---|
//! | request | replay requests | `1 u8, requester u64, request u64, from u64` |
//! | batch | replay responses | `2 u8, requester u64, request u64`, then the batch bytes |
//! | end | replay responses | `3 u8, requester u64, request u64, last u64` |
//! | error | replay responses | `4 u8, requester u64, request u64, from u64`, then a UTF-8 reason |
//!
//! A request asks for every batch from seq `from` on. The server answers with the batches
//! `from..=R` in order, where R is the last batch in the log when the server reached its end,
//! then `end` with `last = R` (`from - 1` when there was nothing to send); or with `error` (e.g.
//! the log no longer holds `from`). Every response names the requester (a random id each feed
//! picks) and its request (a counter), so a requester ignores answers meant for others and
//! answers to its own superseded requests. A server working on a request that arrives again
//! (a requester that heard nothing for a while asks again) carries on with it; a new request
//! from the same requester replaces the old one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use journal::{JournalError, JournalReader};
use rusteron_client::{AeronOfferError, AeronPublication, AeronSubscription};

use crate::bus::{Backoff, Bus, BusError};
use crate::reassembly::Reassembler;

pub const KIND_REQUEST: u8 = 1;
pub const KIND_BATCH: u8 = 2;
pub const KIND_END: u8 = 3;
pub const KIND_ERROR: u8 = 4;
/// Bytes before the payload of every response (and the whole of a request but `from`).
pub const PREFIX_LEN: usize = 17;
pub const REQUEST_LEN: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRequest {
    pub requester: u64,
    pub request: u64,
    pub from: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayResponse<'a> {
    Batch { requester: u64, request: u64, batch: &'a [u8] },
    End { requester: u64, request: u64, last: u64 },
    Error { requester: u64, request: u64, from: u64, reason: &'a str },
}

impl ReplayResponse<'_> {
    pub fn requester(&self) -> u64 {
        match *self {
            ReplayResponse::Batch { requester, .. }
            | ReplayResponse::End { requester, .. }
            | ReplayResponse::Error { requester, .. } => requester,
        }
    }
}

fn prefix(kind: u8, requester: u64, request: u64, out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&requester.to_le_bytes());
    out.extend_from_slice(&request.to_le_bytes());
}

fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes.get(at..at + 8)?);
    Some(u64::from_le_bytes(w))
}

pub fn encode_request(r: &ReplayRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(REQUEST_LEN);
    prefix(KIND_REQUEST, r.requester, r.request, &mut out);
    out.extend_from_slice(&r.from.to_le_bytes());
    out
}

pub fn decode_request(bytes: &[u8]) -> Option<ReplayRequest> {
    if bytes.len() != REQUEST_LEN || bytes.first() != Some(&KIND_REQUEST) {
        return None;
    }
    Some(ReplayRequest { requester: word(bytes, 1)?, request: word(bytes, 9)?, from: word(bytes, 17)? })
}

/// Appends a batch response: the prefix, then `batch` (encoded batch bytes).
pub fn encode_batch_response(requester: u64, request: u64, batch: &[u8], out: &mut Vec<u8>) {
    prefix(KIND_BATCH, requester, request, out);
    out.extend_from_slice(batch);
}

pub fn encode_end(requester: u64, request: u64, last: u64, out: &mut Vec<u8>) {
    prefix(KIND_END, requester, request, out);
    out.extend_from_slice(&last.to_le_bytes());
}

pub fn encode_error(requester: u64, request: u64, from: u64, reason: &str, out: &mut Vec<u8>) {
    prefix(KIND_ERROR, requester, request, out);
    out.extend_from_slice(&from.to_le_bytes());
    out.extend_from_slice(reason.as_bytes());
}

pub fn decode_response(bytes: &[u8]) -> Option<ReplayResponse<'_>> {
    let kind = *bytes.first()?;
    let requester = word(bytes, 1)?;
    let request = word(bytes, 9)?;
    match kind {
        KIND_BATCH => Some(ReplayResponse::Batch { requester, request, batch: bytes.get(PREFIX_LEN..)? }),
        KIND_END if bytes.len() == PREFIX_LEN + 8 => {
            Some(ReplayResponse::End { requester, request, last: word(bytes, PREFIX_LEN)? })
        }
        KIND_ERROR => Some(ReplayResponse::Error {
            requester,
            request,
            from: word(bytes, PREFIX_LEN)?,
            reason: std::str::from_utf8(bytes.get(PREFIX_LEN + 8..)?).unwrap_or("(not UTF-8)"),
        }),
        _ => None,
    }
}

/// Most messages sent for one request before the server turns to the next.
const CHUNK: usize = 256;
/// Most requests taken from the request stream per duty cycle.
const REQUEST_POLL_LIMIT: usize = 16;

#[derive(Debug, Default)]
pub struct ReplayStats {
    pub requests: AtomicU64,
    /// Batches sent, all requests together.
    pub batches: AtomicU64,
    /// Requests answered to the end.
    pub completed: AtomicU64,
    /// Requests answered with an error.
    pub errors: AtomicU64,
    /// Requests given up: the requester went away or stopped reading.
    pub abandoned: AtomicU64,
    /// Request messages that did not decode.
    pub undecodable: AtomicU64,
}

/// Serves replay requests from an event log on its own thread, until dropped.
#[derive(Debug)]
pub struct ReplayServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<ReplayStats>,
}

impl ReplayServer {
    pub fn start(bus: &Bus, events_dir: &Path) -> Result<ReplayServer, BusError> {
        let c = bus.config();
        let requests = bus.add_subscription(&c.replay_request_channel, c.replay_request_stream)?;
        let responses = bus.add_publication(&c.replay_response_channel, c.replay_response_stream)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ReplayStats::default());
        let mut server = Server {
            dir: events_dir.to_path_buf(),
            requests,
            responses,
            reassembler: Reassembler::default(),
            active: VecDeque::new(),
            stall_limit: Duration::from_millis(c.timeout_ms.max(1_000)),
            stats: Arc::clone(&stats),
            _bus: bus.clone(),
        };
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new().name("replay-server".into()).spawn(move || server.run(&stop))?
        };
        tracing::info!(dir = %events_dir.display(), "replay server started");
        Ok(ReplayServer { stop, thread: Some(thread), stats })
    }

    pub fn stats(&self) -> Arc<ReplayStats> {
        Arc::clone(&self.stats)
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the replay server panicked");
            }
        }
    }
}

struct Server {
    dir: PathBuf,
    requests: AeronSubscription,
    responses: AeronPublication,
    reassembler: Reassembler,
    active: VecDeque<Active>,
    stall_limit: Duration,
    stats: Arc<ReplayStats>,
    _bus: Bus,
}

/// One request being answered.
struct Active {
    request: ReplayRequest,
    reader: Option<JournalReader>,
    /// Last seq sent (`from - 1` before the first).
    last: u64,
    /// The next message, built but not yet taken by the publication.
    message: Vec<u8>,
    has_message: bool,
    /// The message is the last one (end or error).
    finishing: bool,
    stalled_since: Option<Instant>,
}

enum Step {
    Sent,
    Stalled,
    Done,
}

impl Server {
    fn run(&mut self, stop: &AtomicBool) {
        let mut idle = Backoff::default();
        while !stop.load(Ordering::Acquire) {
            let mut work = self.poll_requests();
            let mut rounds = self.active.len();
            while rounds > 0 {
                rounds -= 1;
                let Some(mut active) = self.active.pop_front() else { break };
                let mut keep = true;
                for _ in 0..CHUNK {
                    match self.step(&mut active) {
                        Step::Sent => work += 1,
                        Step::Stalled => break,
                        Step::Done => {
                            work += 1;
                            keep = false;
                            break;
                        }
                    }
                }
                if keep {
                    self.active.push_back(active);
                }
            }
            if work > 0 {
                idle.reset();
            } else {
                idle.idle();
            }
        }
    }

    fn poll_requests(&mut self) -> usize {
        let mut incoming = Vec::new();
        let reassembler = &mut self.reassembler;
        let stats = &*self.stats;
        let polled = self.requests.poll_fn(
            |fragment, header| {
                reassembler.on_fragment(fragment, &header, |message| match decode_request(message) {
                    Some(r) => incoming.push(r),
                    None => {
                        let n = stats.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::warn!(
                            undecodable = n,
                            bytes = message.len(),
                            "dropping an undecodable replay request"
                        );
                    }
                })
            },
            REQUEST_POLL_LIMIT,
        );
        if let Err(e) = polled {
            tracing::warn!("polling replay requests: {e}");
        }
        let n = incoming.len();
        for request in incoming {
            self.accept(request);
        }
        n
    }

    fn accept(&mut self, request: ReplayRequest) {
        if let Some(a) = self.active.iter().find(|a| a.request.requester == request.requester) {
            if a.request.request == request.request {
                return; // asked again while being answered
            }
        }
        self.active.retain(|a| a.request.requester != request.requester);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            requester = request.requester,
            request = request.request,
            from = request.from,
            "replay request"
        );
        let from = request.from.max(1);
        self.active.push_back(Active {
            request: ReplayRequest { from, ..request },
            reader: None,
            last: from - 1,
            message: Vec::with_capacity(4096),
            has_message: false,
            finishing: false,
            stalled_since: None,
        });
    }

    /// Sends the request's next message (building it first if needed).
    fn step(&self, a: &mut Active) -> Step {
        if !a.has_message {
            self.build_next(a);
        }
        match self.responses.offer(&a.message) {
            Ok(_) => {
                a.has_message = false;
                a.stalled_since = None;
                if a.finishing {
                    return Step::Done;
                }
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                Step::Sent
            }
            Err(AeronOfferError::BackPressured | AeronOfferError::AdminAction) => {
                let since = *a.stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > self.stall_limit {
                    self.abandon(a, "the requester stopped reading");
                    return Step::Done;
                }
                Step::Stalled
            }
            Err(AeronOfferError::NotConnected) => {
                self.abandon(a, "nobody subscribes to replay responses");
                Step::Done
            }
            Err(e) => {
                self.abandon(a, &e.to_string());
                Step::Done
            }
        }
    }

    fn abandon(&self, a: &Active, why: &str) {
        self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            requester = a.request.requester,
            from = a.request.from,
            last = a.last,
            "replay abandoned: {why}"
        );
    }

    fn build_next(&self, a: &mut Active) {
        let (requester, request) = (a.request.requester, a.request.request);
        a.message.clear();
        a.has_message = true;
        if a.reader.is_none() {
            match JournalReader::open(&self.dir, a.request.from) {
                Ok(reader) => a.reader = Some(reader),
                Err(JournalError::Io { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    // No event log yet: nothing to replay.
                    self.finish_end(a);
                    return;
                }
                Err(e) => {
                    self.finish_error(a, &e.to_string());
                    return;
                }
            }
        }
        let next = match a.reader.as_mut().map(|r| r.next()) {
            Some(Ok(Some(record))) => Ok(Some((record.seq, record.payload))),
            Some(Ok(None)) | None => Ok(None),
            Some(Err(e)) => Err(e.to_string()),
        };
        match next {
            Ok(Some((seq, payload))) if seq == a.last + 1 => {
                encode_batch_response(requester, request, payload, &mut a.message);
                a.last = seq;
            }
            Ok(Some((seq, _))) => {
                let reason = format!("the event log skips from seq {} to {seq}", a.last);
                self.finish_error(a, &reason);
            }
            Ok(None) => self.finish_end(a),
            Err(e) => self.finish_error(a, &e),
        }
    }

    fn finish_end(&self, a: &mut Active) {
        a.message.clear();
        encode_end(a.request.requester, a.request.request, a.last, &mut a.message);
        a.finishing = true;
        a.reader = None;
        self.stats.completed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(requester = a.request.requester, from = a.request.from, last = a.last, "replay answered");
    }

    fn finish_error(&self, a: &mut Active, reason: &str) {
        a.message.clear();
        encode_error(a.request.requester, a.request.request, a.request.from, reason, &mut a.message);
        a.finishing = true;
        a.reader = None;
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(requester = a.request.requester, from = a.request.from, "replay refused: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let r = ReplayRequest { requester: 7, request: 3, from: 42 };
        let bytes = encode_request(&r);
        assert_eq!(bytes.len(), REQUEST_LEN);
        assert_eq!(decode_request(&bytes), Some(r));
        for cut in 0..bytes.len() {
            assert_eq!(decode_request(&bytes[..cut]), None);
        }
        let mut out = Vec::new();
        encode_batch_response(7, 3, b"batch", &mut out);
        assert_eq!(decode_response(&out), Some(ReplayResponse::Batch { requester: 7, request: 3, batch: b"batch" }));
        out.clear();
        encode_end(7, 3, 99, &mut out);
        assert_eq!(decode_response(&out), Some(ReplayResponse::End { requester: 7, request: 3, last: 99 }));
        out.clear();
        encode_error(7, 3, 5, "gone", &mut out);
        assert_eq!(
            decode_response(&out),
            Some(ReplayResponse::Error { requester: 7, request: 3, from: 5, reason: "gone" })
        );
        assert_eq!(decode_response(&[9; 40]), None);
        assert_eq!(decode_response(&[]), None);
    }
}
