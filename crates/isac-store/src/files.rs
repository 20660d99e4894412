//! SQLite reads on the store's own connections, one hand-off per statement.
//!
//! sqlx runs each SQLite connection on a thread of its own and sends every row of an answer
//! back to the async caller as a message of its own, each one a wake-up of the caller's task;
//! across the two cores of a small server each wake-up is a cross-CPU interrupt. A TAXII page
//! of 100 objects is about a dozen statements and several hundred such messages, and on a
//! 2-core host they were a third of the page's latency (docs/BENCHMARKS.md, "Reads without a
//! hand-off per row"). Here a statement runs on a blocking thread of the runtime, on a
//! connection taken from this pool, and its whole answer comes back at once.
//!
//! The statement is the [`Sql`] text both backends run (invariant 5); only the executor differs.
//! Readers are `query_only`, so nothing can write through them, and are bounded by a semaphore
//! of as many permits as sqlx's reader pool has connections. They are opened when first needed
//! and closed by [`Readers::close`] (from `Store::close`), so that a store opened for a load,
//! which must be alone on its file to leave the WAL and go back to it, is not held open by them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::sql::{Cell, Row, Val};
use crate::{Result, StoreError};

/// Statements each reader keeps prepared. The store's reads are built from a few dozen shapes
/// (IN lists come in fixed sizes), so most statements are prepared once per connection.
const STATEMENT_CACHE: usize = 128;

pub(crate) struct Readers {
    path: PathBuf,
    cache_kib: u32,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .field("permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

fn failed(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("database error: {e}"))
}

impl Readers {
    pub(crate) fn new(path: PathBuf, connections: usize, cache_kib: u32) -> Readers {
        Readers {
            path,
            cache_kib,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(connections)),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `statements` one after the other on one reader, inside one read transaction (so
    /// they see the same committed state), and answers the rows of each.
    pub(crate) async fn fetch(
        self: &Arc<Self>,
        statements: Vec<(String, Vec<Val>)>,
    ) -> Result<Vec<Vec<Row>>> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = me.take()?;
            let rows = if statements.len() == 1 {
                run(&conn, &statements[0].0, &statements[0].1).map(|r| vec![r])
            } else {
                together(&conn, &statements)
            };
            me.give(conn);
            rows
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("a read stopped: {e}")))?
    }

    /// Closes every idle reader; readers in use are closed as they come back.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        drop(idle);
    }

    fn take(&self) -> Result<Connection> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => self.open(),
        }
    }

    /// Puts a reader back, unless the store is closing or the reader was left inside a
    /// transaction (a failed `COMMIT`), which would hold its snapshot of the file.
    fn give(&self, conn: Connection) {
        if !self.closed.load(Ordering::SeqCst) && conn.is_autocommit() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }

    fn open(&self) -> Result<Connection> {
        // Read-write, as sqlx's readers are: a WAL reader writes to the shared-memory index.
        // `query_only` refuses every statement that would change the database.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(failed)?;
        conn.execute_batch(&format!(
            "PRAGMA query_only=ON; PRAGMA cache_size=-{}; PRAGMA temp_store=MEMORY;",
            self.cache_kib
        ))
        .map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// Runs several statements in one read transaction.
fn together(conn: &Connection, statements: &[(String, Vec<Val>)]) -> Result<Vec<Vec<Row>>> {
    conn.execute_batch("BEGIN").map_err(failed)?;
    let out = statements
        .iter()
        .map(|(sql, binds)| run(conn, sql, binds))
        .collect::<Result<Vec<_>>>();
    // A read transaction has nothing to keep; ending it cannot lose anything.
    conn.execute_batch("COMMIT").map_err(failed)?;
    out
}

/// Runs `sql` with `binds` on `conn`. [`crate::sql::Sql`] numbers its placeholders `$1`, `$2`, …
/// in the order it writes them, and SQLite numbers named parameters in order of first
/// appearance, so bind `i` is parameter `i + 1`; the count is checked, and in test builds each
/// name.
fn run(conn: &Connection, sql: &str, binds: &[Val]) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
    if stmt.parameter_count() != binds.len() {
        return Err(StoreError::Unavailable(format!(
            "a statement of {} parameters was given {} values",
            stmt.parameter_count(),
            binds.len()
        )));
    }
    for (i, b) in binds.iter().enumerate() {
        debug_assert_eq!(
            stmt.parameter_name(i + 1),
            Some(format!("${}", i + 1).as_str())
        );
        match b {
            Val::Text(s) => stmt.raw_bind_parameter(i + 1, s.as_str()),
            Val::Int(n) => stmt.raw_bind_parameter(i + 1, n),
        }
        .map_err(failed)?;
    }
    let columns = stmt.column_count();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(failed)? {
        let mut cells = Vec::with_capacity(columns);
        for c in 0..columns {
            cells.push(match r.get_ref(c).map_err(failed)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(i) => Cell::Int(i),
                ValueRef::Real(f) => Cell::Real(f),
                ValueRef::Text(t) => Cell::Text(
                    std::str::from_utf8(t)
                        .map_err(|e| {
                            StoreError::Unavailable(format!("stored text is not UTF-8: {e}"))
                        })?
                        .to_owned(),
                ),
                ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
            });
        }
        out.push(Row(cells));
    }
    Ok(out)
}
