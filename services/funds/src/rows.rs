//! Entries waiting to be written: the service posts into memory and writes many rows per
//! `INSERT` statement, before anything reads or names them (a request naming its entry) and
//! before the transaction commits.

use std::sync::OnceLock;

use rusqlite::{CachedStatement, Connection};

use crate::FundsError;

/// Rows per multi-row `INSERT`. `OR FAIL`: a violated constraint stops the statement without
/// undoing its earlier rows, so SQLite keeps no statement journal; the error rolls the whole
/// transaction back anyway.
const ROWS: usize = 32;

const ENTRY_COLUMNS: usize = 19;
const ENTRY_HEAD: &str = "INSERT OR FAIL INTO journal_entries (id, ts_ns, kind, engine_account, prev, fee_account,
     fee_prev, token, trade_id, request_id, memo, account1, amount1, account2, amount2, account3, amount3, account4,
     amount4) VALUES ";

const BLOCK_COLUMNS: usize = 6;
const BLOCK_HEAD: &str =
    "INSERT OR FAIL INTO journal_blocks (id, engine_account, prev, ts_ns, reserved, margin) VALUES ";

/// Up to four legs `(ledger account id, signed amount)`, debits positive.
pub(crate) type Legs = [Option<(i64, i64)>; 4];

/// One journal entry as it will be stored.
#[derive(Debug, Clone)]
pub(crate) struct EntryRow {
    pub id: i64,
    pub ts_ns: i64,
    pub kind: &'static str,
    pub engine_account: u32,
    pub prev: Option<i64>,
    pub fee_account: Option<u32>,
    pub fee_prev: Option<i64>,
    pub token: Option<u32>,
    pub trade_id: Option<i64>,
    pub request_id: Option<i64>,
    pub memo: String,
    pub legs: Legs,
}

/// One block entry as it will be stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockRow {
    pub account: u32,
    pub id: i64,
    pub prev: Option<i64>,
    pub ts_ns: i64,
    pub reserved: i64,
    pub margin: i64,
}

/// The rows posted and not yet written.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    entries: Vec<EntryRow>,
    blocks: Vec<BlockRow>,
}

impl Rows {
    pub(crate) fn entry(&mut self, row: EntryRow) {
        self.entries.push(row);
    }

    pub(crate) fn block(&mut self, row: BlockRow) {
        self.blocks.push(row);
    }

    /// Writes every waiting row, in posting order per table.
    pub(crate) fn write(&mut self, conn: &Connection) -> Result<(), FundsError> {
        static SQL: OnceLock<[String; 4]> = OnceLock::new();
        let [entries, entry, blocks, block] = SQL.get_or_init(|| {
            [
                services_core::insert_rows_sql(ENTRY_HEAD, ENTRY_COLUMNS, ROWS),
                services_core::insert_rows_sql(ENTRY_HEAD, ENTRY_COLUMNS, 1),
                services_core::insert_rows_sql(BLOCK_HEAD, BLOCK_COLUMNS, ROWS),
                services_core::insert_rows_sql(BLOCK_HEAD, BLOCK_COLUMNS, 1),
            ]
        });
        let written = insert(conn, &self.entries, (entries, entry), ENTRY_COLUMNS, bind_entry)
            .and_then(|()| insert(conn, &self.blocks, (blocks, block), BLOCK_COLUMNS, bind_block));
        self.clear();
        written
    }

    /// Forgets the waiting rows (the transaction rolled back).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.blocks.clear();
    }
}

type Bind<R> = fn(&mut CachedStatement<'_>, usize, &R) -> rusqlite::Result<()>;

/// `rows` in statements of [`ROWS`] rows (`sql.0`), the rest one by one (`sql.1`).
fn insert<R>(
    conn: &Connection,
    rows: &[R],
    sql: (&str, &str),
    columns: usize,
    bind: Bind<R>,
) -> Result<(), FundsError> {
    let mut chunks = rows.chunks_exact(ROWS);
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(sql.0)?;
        for chunk in &mut chunks {
            for (r, row) in chunk.iter().enumerate() {
                bind(&mut stmt, r * columns, row)?;
            }
            stmt.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(sql.1)?;
        for row in rest {
            bind(&mut stmt, 0, row)?;
            stmt.raw_execute()?;
        }
    }
    Ok(())
}

fn bind_entry(stmt: &mut CachedStatement<'_>, at: usize, row: &EntryRow) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(at + 1, row.id)?;
    stmt.raw_bind_parameter(at + 2, row.ts_ns)?;
    stmt.raw_bind_parameter(at + 3, row.kind)?;
    stmt.raw_bind_parameter(at + 4, row.engine_account)?;
    stmt.raw_bind_parameter(at + 5, row.prev)?;
    stmt.raw_bind_parameter(at + 6, row.fee_account)?;
    stmt.raw_bind_parameter(at + 7, row.fee_prev)?;
    stmt.raw_bind_parameter(at + 8, row.token)?;
    stmt.raw_bind_parameter(at + 9, row.trade_id)?;
    stmt.raw_bind_parameter(at + 10, row.request_id)?;
    stmt.raw_bind_parameter(at + 11, row.memo.as_str())?;
    for (i, leg) in row.legs.iter().enumerate() {
        stmt.raw_bind_parameter(at + 12 + 2 * i, leg.map(|(a, _)| a))?;
        stmt.raw_bind_parameter(at + 13 + 2 * i, leg.map(|(_, v)| v))?;
    }
    Ok(())
}

fn bind_block(stmt: &mut CachedStatement<'_>, at: usize, row: &BlockRow) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(at + 1, row.id)?;
    stmt.raw_bind_parameter(at + 2, row.account)?;
    stmt.raw_bind_parameter(at + 3, row.prev)?;
    stmt.raw_bind_parameter(at + 4, row.ts_ns)?;
    stmt.raw_bind_parameter(at + 5, row.reserved)?;
    stmt.raw_bind_parameter(at + 6, row.margin)?;
    Ok(())
}
