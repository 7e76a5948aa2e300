//! A service's database: SQLite in WAL mode with `synchronous=FULL`, plus the cursor table that
//! records the last engine seq applied.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// How long a connection waits for another one's lock before it gives up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `PRAGMA journal_mode = WAL`, retried until [`BUSY_TIMEOUT`]: while another connection has a
/// new file open in rollback mode (several processes or threads opening one database at once),
/// SQLite refuses the switch with `SQLITE_BUSY` at once, without calling the busy handler.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

/// Opens (creating if needed) a database with the settings every service uses.
pub fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // First, so that switching to WAL waits for another connection instead of failing with
    // "database is locked".
    conn.busy_timeout(BUSY_TIMEOUT)?;
    switch_to_wal(&conn)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Up to 64 MiB of page cache (SQLite's default is 2 MiB): a service touches the same index
    // pages over and over, and with the default they are spilled and read back within one
    // transaction.
    conn.pragma_update(None, "cache_size", -65_536)?;
    // Checkpoint every 8,192 WAL pages (32 MiB; SQLite's default is 1,000): the pages a service
    // rewrites in every transaction (the tails of its indexes) are copied back once per checkpoint,
    // so fewer checkpoints copy fewer pages.
    conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS service_cursor (
             service  TEXT PRIMARY KEY,
             last_seq INTEGER NOT NULL CHECK (last_seq >= 0)
         );",
    )?;
    Ok(conn)
}

#[derive(Debug)]
pub struct ServiceDb {
    pub conn: Connection,
    name: &'static str,
}

impl ServiceDb {
    pub fn open(path: &Path, name: &'static str) -> rusqlite::Result<ServiceDb> {
        Ok(ServiceDb { conn: open_db(path)?, name })
    }

    /// Last engine seq committed (0 for a new database).
    pub fn last_seq(&self) -> rusqlite::Result<u64> {
        let seq: Option<i64> = self
            .conn
            .query_row("SELECT last_seq FROM service_cursor WHERE service = ?1", params![self.name], |r| r.get(0))
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Records `seq` as applied, inside the caller's transaction.
    pub fn set_last_seq(tx: &rusqlite::Transaction<'_>, name: &str, seq: u64) -> rusqlite::Result<()> {
        tx.prepare_cached(
            "INSERT INTO service_cursor (service, last_seq) VALUES (?1, ?2)
             ON CONFLICT (service) DO UPDATE SET last_seq = excluded.last_seq",
        )?
        .execute(params![name, seq as i64])?;
        Ok(())
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The text of a multi-row `INSERT`: `head` (`INSERT ... (columns) VALUES `) followed by `rows`
/// groups of `columns` numbered parameters, `(?1, ?2), (?3, ?4)` for two rows of two. One
/// statement step for many rows costs much less per row than a step per row.
pub fn insert_rows_sql(head: &str, columns: usize, rows: usize) -> String {
    let mut sql = String::from(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", r * columns + c + 1));
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several threads opening one new database at once (the services, the gateway and the
    /// seeding of one exchange at start) all get a WAL connection.
    #[test]
    fn a_new_database_opened_by_several_threads_at_once_opens_in_wal_for_all() {
        for round in 0..100 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = std::sync::Arc::new(dir.path().join("shared.db"));
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (path, start) = (std::sync::Arc::clone(&path), std::sync::Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        let conn = open_db(&path)?;
                        conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                    })
                })
                .collect();
            for t in threads {
                let mode = t.join().expect("thread").unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(mode, "wal", "round {round}");
            }
        }
    }
}
