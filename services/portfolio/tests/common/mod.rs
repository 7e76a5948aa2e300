//! Helpers shared by the portfolio tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_core::{Command, Engine, Limits};
use rusqlite::Connection;
use services_core::{CommandSink, EventBatch, MemoryFeed, Service, ServiceError, ServiceRunner, SinkError};

pub const TS0: u64 = 1_700_000_000_000_000_000;

/// Every table's rows, ordered by every column: two databases with equal dumps hold the same data.
pub fn dump(conn: &Connection) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    tables
        .into_iter()
        .map(|t| {
            let n = conn.prepare(&format!("SELECT * FROM \"{t}\"")).expect("select").column_count();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            let mut stmt =
                conn.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY {}", order.join(", "))).expect("select ordered");
            let rows = stmt
                .query_map([], |r| {
                    let mut line = Vec::with_capacity(n);
                    for i in 0..n {
                        line.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
                    }
                    Ok(line.join("|"))
                })
                .expect("rows")
                .collect::<Result<Vec<_>, _>>()
                .expect("collect");
            (t, rows)
        })
        .collect()
}

/// Steps until a poll brings nothing (the last step runs `on_idle`).
pub fn drain<S: Service>(runner: &mut ServiceRunner<S>, feed: &mut MemoryFeed) -> Result<(), ServiceError> {
    while runner.step(feed, Duration::ZERO)?.applied > 0 {}
    Ok(())
}

/// Opens, resumes from the cursor and applies everything in `batches`.
pub fn catch_up<S: Service>(runner: &mut ServiceRunner<S>, batches: &[EventBatch]) -> Result<(), ServiceError> {
    let mut feed = MemoryFeed::new(batches.to_vec());
    runner.resume(&mut feed)?;
    drain(runner, &mut feed)
}

pub fn open<S: Service>(path: &Path, service: S) -> ServiceRunner<S> {
    ServiceRunner::open(path, service).expect("open")
}

/// A sink that records commands, for the test to deliver to the engine.
#[derive(Clone, Debug, Default)]
pub struct RecordingSink(pub Arc<Mutex<Vec<Command>>>);

impl RecordingSink {
    pub fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
    pub fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
}

impl CommandSink for RecordingSink {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError> {
        self.0.lock().expect("lock").push(*command);
        Ok(())
    }
}

/// An in-process exchange: an engine and every batch it produced, seq from 1.
#[derive(Debug)]
pub struct Exchange {
    pub engine: Engine,
    pub batches: Vec<EventBatch>,
}

impl Exchange {
    pub fn new(commands: &[Command]) -> Exchange {
        let mut x = Exchange { engine: Engine::new(Limits::small()), batches: Vec::new() };
        for c in commands {
            x.apply(c);
        }
        x
    }

    pub fn apply(&mut self, command: &Command) {
        let seq = self.batches.len() as u64 + 1;
        let ts_ns = TS0 + seq * 1_000_000;
        let mut events = Vec::new();
        self.engine.apply(seq, ts_ns, command, &mut events);
        self.batches.push(EventBatch { seq, ts_ns, events });
    }

    /// Applies what the service submitted, in order.
    pub fn deliver(&mut self, sink: &RecordingSink) -> usize {
        let commands = sink.take();
        for c in &commands {
            self.apply(c);
        }
        commands.len()
    }
}
