//! The load: one task per connection, each sending its orders one after the other (closed loop)
//! on its own keep-alive connection until the end of the run, timing every request from the
//! first byte written to the last byte of the response read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::client::Conn;

/// When the phases end, and how long one request may take.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Requests sent before this are warm-up: counted apart, not timed.
    pub warm_end: Instant,
    /// No request is sent at or after this.
    pub end: Instant,
    pub request_timeout: Duration,
}

/// What the requests of one phase came to.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub ok: u64,
    /// By kind: `HTTP 429 NetworkException`, `io: ConnectionReset`, `timeout`, ...
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.ok += other.ok;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One connection's results.
#[derive(Debug)]
pub struct ConnReport {
    pub warmup: Tally,
    pub measured: Tally,
    /// HTTP 200s of measured requests that also completed before the end (the throughput).
    pub ok_in_window: u64,
    /// Nanoseconds per measured request (every outcome, errors included).
    pub latency_ns: Histogram<u64>,
    pub reconnects: u64,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("histogram bounds")
}

/// Sends `requests[0]`, `requests[1]`, `requests[0]`, ... until `plan.end`.
pub async fn drive(addr: SocketAddr, requests: [Vec<u8>; 2], plan: Plan) -> ConnReport {
    let mut report = ConnReport {
        warmup: Tally::default(),
        measured: Tally::default(),
        ok_in_window: 0,
        latency_ns: histogram(),
        reconnects: 0,
    };
    let mut conn: Option<Conn> = None;
    let mut next = 0usize;
    while Instant::now() < plan.end {
        let mut c = match conn.take() {
            Some(c) => c,
            None => match tokio::time::timeout(plan.request_timeout, Conn::connect(addr)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tally(&mut report, Instant::now(), &plan).error(format!("connect: {:?}", e.kind()));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => {
                    tally(&mut report, Instant::now(), &plan).error("connect: timeout".into());
                    continue;
                }
            },
        };
        let request = &requests[next % 2];
        next += 1;
        let sent = Instant::now();
        let outcome = tokio::time::timeout(plan.request_timeout, c.roundtrip(request)).await;
        let done = Instant::now();
        let measured = sent >= plan.warm_end;
        if measured {
            report.latency_ns.saturating_record(done.duration_since(sent).as_nanos() as u64);
        }
        let t = tally(&mut report, sent, &plan);
        t.requests += 1;
        match outcome {
            Ok(Ok(reply)) => {
                if reply.status == 200 {
                    t.ok += 1;
                    if measured && done <= plan.end {
                        report.ok_in_window += 1;
                    }
                } else {
                    t.error(format!("HTTP {} {}", reply.status, error_type(c.body(&reply))));
                }
                if !reply.close {
                    conn = Some(c);
                } else {
                    report.reconnects += 1;
                }
            }
            Ok(Err(e)) => {
                t.error(format!("io: {:?}", e.kind()));
                report.reconnects += 1;
            }
            Err(_) => {
                t.error(format!("timeout (> {} ms)", plan.request_timeout.as_millis()));
                report.reconnects += 1;
            }
        }
    }
    report
}

fn tally<'a>(report: &'a mut ConnReport, sent: Instant, plan: &Plan) -> &'a mut Tally {
    if sent >= plan.warm_end {
        &mut report.measured
    } else {
        &mut report.warmup
    }
}

/// Kite's `error_type` of an error body, or `?`.
fn error_type(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error_type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
