//! Order notes: what a client sent with an order that the engine does not carry, its Kite
//! `tag` and its variety, kept in the gateway's own SQLite database
//! (`<data>/gateway/order_notes.db`, WAL, `synchronous=FULL`) so that a restarted gateway shows
//! them again.
//!
//! A note is keyed by the order's `client_ref`, which the engine's `Accepted` echoes: the view
//! attaches a loaded note to the order whose `Accepted` carries its client ref and its account.
//! A place request queues its note before it sends the command and is answered only once the
//! note is committed, so the commit overlaps the engine's round trip. One writer thread commits
//! whatever is queued in one transaction (group commit: while one commit syncs, the next batch
//! gathers), so the hot path never waits for a disk on its own.
//!
//! Only orders whose notes the events would not give back are written: those with a tag, and
//! those whose variety differs from what their disclosed quantity implies (`View` reads an
//! order with a disclosed quantity as iceberg, any other as regular).
//!
//! **Invariant:** a note never attaches to another order. Client refs never repeat within one
//! database: each gateway run records the base of its refs (their high bits) in `ref_bases`
//! and takes one that no earlier run took, and a run's refs stay below the next base. A note
//! whose command never reached the engine (a crash between commit and send) or was refused
//! matches no `Accepted`; a refused order's note is deleted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;

use engine_core::{AccountId, Qty};
use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use crate::kite::Variety;

/// Notes committed in one transaction, at most.
const BATCH_MAX: usize = 4096;

/// The distance between two runs' ref bases: a run places fewer orders than this.
pub const REF_SPAN: u64 = 1 << 31;

/// What a client sent with an order that the engine does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub account: AccountId,
    pub variety: Variety,
    pub tag: Option<String>,
}

/// The variety the events give back for an order with `disclosed` shares shown.
pub fn implied_variety(disclosed: Qty) -> Variety {
    if disclosed > 0 {
        Variety::Iceberg
    } else {
        Variety::Regular
    }
}

impl Note {
    /// Whether the order needs its note written: the events alone would not give it back.
    pub fn worth_keeping(&self, disclosed: Qty) -> bool {
        self.tag.is_some() || self.variety != implied_variety(disclosed)
    }
}

enum Job {
    Put { client_ref: u64, note: Note, committed: oneshot::Sender<bool> },
    Forget { client_ref: u64 },
}

/// The notes database as the gateway opened it.
#[derive(Debug)]
pub struct Opened {
    pub notes: Notes,
    /// Every note on disk, by client ref, for the view to attach on replay.
    pub loaded: HashMap<u64, Note>,
    /// This run's first client ref.
    pub ref_base: u64,
}

/// The writer's handle. [`Notes::close`] commits what is queued and stops the writer.
#[derive(Debug)]
pub struct Notes {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The notes database of `data_dir`.
pub fn db_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("gateway").join("order_notes.db")
}

impl Notes {
    /// Opens (creating) the database, loads its notes, records this run's ref base (the first
    /// of `base_bits`, `base_bits + 1`, ... that no earlier run took) and starts the writer.
    pub fn open(data_dir: &Path, base_bits: u32) -> Result<Opened, String> {
        let path = db_path(data_dir);
        let fail = |e: rusqlite::Error| format!("the gateway's order notes ({}): {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let conn = services_core::open_db(&path).map_err(fail)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS ref_bases (
                 ref_base INTEGER PRIMARY KEY
             );
             CREATE TABLE IF NOT EXISTS notes (
                 client_ref INTEGER PRIMARY KEY,
                 account    INTEGER NOT NULL,
                 variety    TEXT NOT NULL,
                 tag        TEXT
             );",
        )
        .map_err(fail)?;
        let ref_base = take_ref_base(&conn, base_bits).map_err(fail)?;
        let loaded = load(&conn).map_err(fail)?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("gateway-notes".into())
            .spawn(move || write(conn, &rx))
            .map_err(|e| format!("starting the gateway's order notes writer: {e}"))?;
        let notes = Notes { jobs: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)) };
        Ok(Opened { notes, loaded, ref_base })
    }

    /// Queues the note of the order placed as `client_ref`; the receiver hears whether it was
    /// committed (`false` also when the writer has stopped).
    pub fn put(&self, client_ref: u64, note: Note) -> oneshot::Receiver<bool> {
        let (committed, rx) = oneshot::channel();
        if let Ok(jobs) = self.jobs.lock() {
            if let Some(jobs) = jobs.as_ref() {
                let _ = jobs.send(Job::Put { client_ref, note, committed });
            }
        }
        rx
    }

    /// Queues the deletion of a refused order's note.
    pub fn forget(&self, client_ref: u64) {
        if let Ok(jobs) = self.jobs.lock() {
            if let Some(jobs) = jobs.as_ref() {
                let _ = jobs.send(Job::Forget { client_ref });
            }
        }
    }

    /// Commits what is queued and stops the writer. Idempotent.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

impl Drop for Notes {
    fn drop(&mut self) {
        self.close();
    }
}

/// Client refs are stored as SQLite's signed integers, bit for bit.
fn to_sql(client_ref: u64) -> i64 {
    client_ref as i64
}

fn take_ref_base(conn: &Connection, base_bits: u32) -> rusqlite::Result<u64> {
    let mut bits = base_bits;
    loop {
        let base = (1u64 << 63) | (u64::from(bits) * REF_SPAN);
        if conn.execute("INSERT OR IGNORE INTO ref_bases (ref_base) VALUES (?1)", [to_sql(base)])? == 1 {
            return Ok(base);
        }
        bits = bits.wrapping_add(1);
    }
}

fn load(conn: &Connection) -> rusqlite::Result<HashMap<u64, Note>> {
    let mut stmt = conn.prepare("SELECT client_ref, account, variety, tag FROM notes")?;
    let rows = stmt.query_map([], |r| {
        let client_ref: i64 = r.get(0)?;
        let variety: String = r.get(2)?;
        Ok((client_ref as u64, r.get::<_, AccountId>(1)?, variety, r.get::<_, Option<String>>(3)?))
    })?;
    let mut notes = HashMap::new();
    for row in rows {
        let (client_ref, account, variety, tag) = row?;
        match Variety::parse(&variety) {
            Some(variety) => {
                notes.insert(client_ref, Note { account, variety, tag });
            }
            None => tracing::warn!(client_ref, variety, "gateway: an order note with an unknown variety"),
        }
    }
    Ok(notes)
}

/// The writer thread: each round takes whatever is queued (up to [`BATCH_MAX`]), commits it in
/// one transaction, then tells the requests waiting for it.
fn write(mut conn: Connection, jobs: &mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = match commit(&mut conn, &batch) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("gateway: committing {} order notes: {e}", batch.len());
                false
            }
        };
        for job in batch.drain(..) {
            if let Job::Put { committed: tx, .. } = job {
                let _ = tx.send(committed);
            }
        }
    }
}

fn commit(conn: &mut Connection, batch: &[Job]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO notes (client_ref, account, variety, tag) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut forget = tx.prepare_cached("DELETE FROM notes WHERE client_ref = ?1")?;
        for job in batch {
            match job {
                Job::Put { client_ref, note, .. } => {
                    put.execute(params![to_sql(*client_ref), note.account, note.variety.as_str(), note.tag])?;
                }
                Job::Forget { client_ref } => {
                    forget.execute([to_sql(*client_ref)])?;
                }
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(account: AccountId, variety: Variety, tag: Option<&str>) -> Note {
        Note { account, variety, tag: tag.map(str::to_string) }
    }

    #[test]
    fn notes_survive_a_reopen_and_refused_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Notes::open(dir.path(), 7).expect("open");
        assert!(first.loaded.is_empty());
        let base = first.ref_base;
        let a = first.notes.put(base, note(3, Variety::Regular, Some("alpha")));
        let b = first.notes.put(base + 1, note(4, Variety::Iceberg, None));
        first.notes.put(base + 2, note(3, Variety::Regular, Some("refused")));
        first.notes.forget(base + 2);
        assert_eq!(a.blocking_recv(), Ok(true));
        assert_eq!(b.blocking_recv(), Ok(true));
        first.notes.close();
        drop(first);

        let second = Notes::open(dir.path(), 7).expect("reopen");
        assert_eq!(second.ref_base, base + REF_SPAN, "a second run with the same bits takes the next base");
        let expected = HashMap::from([
            (base, note(3, Variety::Regular, Some("alpha"))),
            (base + 1, note(4, Variety::Iceberg, None)),
        ]);
        assert_eq!(second.loaded, expected);
    }

    #[test]
    fn a_note_attaches_only_to_the_order_of_its_ref_and_account() {
        use engine_core::{Accepted, Event, OrderType, Product, Side, Validity};
        use services_core::EventBatch;

        use crate::server::view::{Changes, View};

        let accepted = |order_id, client_ref, account| {
            Event::Accepted(Accepted {
                order_id,
                client_ref,
                account,
                token: 1,
                side: Side::Buy,
                order_type: OrderType::Limit,
                validity: Validity::Day,
                product: Product::Cnc,
                price: 100,
                trigger: 0,
                qty: 10,
                disclosed: 5,
                post_only: false,
            })
        };
        let loaded = HashMap::from([
            (11, note(3, Variety::Regular, Some("mine"))),
            (12, note(3, Variety::Regular, Some("not-yours"))),
        ]);
        let mut view = View::with_notes(loaded);
        // Order 1 is ref 11 of account 3; order 2 has ref 12 but is account 4's; order 3 has
        // no note.
        let events = vec![accepted(1, 11, 3), accepted(2, 12, 4), accepted(3, 13, 3)];
        view.apply(&EventBatch { seq: 1, ts_ns: 1, events }, &mut Changes::default());
        let got = |id| view.order(id).map(|e| (e.variety, e.tag.clone()));
        assert_eq!(got(1), Some((Variety::Regular, Some("mine".to_string()))));
        assert_eq!(got(2), Some((Variety::Iceberg, None)));
        assert_eq!(got(3), Some((Variety::Iceberg, None)));
    }

    #[test]
    fn only_what_events_lose_is_worth_keeping() {
        assert!(!note(1, Variety::Regular, None).worth_keeping(0));
        assert!(!note(1, Variety::Iceberg, None).worth_keeping(10));
        assert!(note(1, Variety::Regular, None).worth_keeping(10));
        assert!(note(1, Variety::Regular, Some("t")).worth_keeping(0));
    }
}
