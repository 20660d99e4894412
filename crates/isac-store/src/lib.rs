//! All of isac's SQL. Two backends behind one closed enum, [`Backend`]: embedded SQLite (the
//! default: WAL, `synchronous=FULL`, one writer connection and a pool of readers) and PostgreSQL
//! (several server nodes). Both run the same query text: placeholders are `$n`, booleans and times
//! are BIGINT, and the few dialect differences are matched on [`Backend`] where they occur.
//!
//! Architecture invariants:
//! - Every mutation takes its [`AuditEntry`] and appends it to the hash-chained audit log in the
//!   same transaction, so a change and its record land together or not at all.
//! - Every read of intelligence takes a [`isac_policy::ReadScope`] and filters in SQL, then
//!   re-checks each row with [`isac_policy::can_read`] before returning it.
//! - This crate knows nothing of HTTP; it does not parse STIX beyond storing it.

mod audit;
mod body;
mod directory;
mod files;
mod import;
mod objects;
mod sessions;
mod sql;
mod taxii;
mod withhold;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use audit::{AuditEntry, AuditRecord, Outcome, VerifyReport};
pub use body::Body;
pub use directory::{
    Application, ApplicationDecision, Group, NewApplication, NewOrg, NewUser, Org, User,
};
pub use import::{
    CheckedUnit, IMPORT_CHUNK, IMPORT_COMMIT_OBJECTS, IMPORT_OBJECTS_MAX, ImportOutcome,
    ImportSession, OnRefusal, Refused,
};
pub use objects::{
    CONNECTIONS_MAX, Inserted, ListQuery, NewObject, ObjectFilter, ObjectPage, Sort, StoredObject,
};
pub use sessions::{ApiKey, KeyHolder, Session, SessionHolder};
pub use taxii::{
    MATCH_VALUES_MAX, STATUS_RETENTION_MICROS, TaxiiPage, TaxiiQuery, TaxiiStatus, VersionSel,
    identity_access,
};

/// SQLite page size of new stores, bytes. Twice SQLite's default: a bulk import into 8 KiB
/// pages took about 13% less time and CPU at 1M objects than into 4 KiB ones (fewer pages to
/// find, split and balance per row and per index entry; docs/BENCHMARKS.md, "Fewer
/// instructions per imported object"), and a page of 8 KiB still holds a point lookup's row
/// without reading much around it. Only a new, empty file takes it: a store created with
/// another page size keeps it (README, "Running it", says how to convert one).
pub const PAGE_SIZE: u32 = 8192;

/// SQLite page cache of the single writer connection, KiB (allocated as pages are used).
const WRITER_CACHE_KIB: u32 = 128 * 1024;

/// SQLite page cache of each reader connection, KiB.
const READER_CACHE_KIB: u32 = 64 * 1024;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A storage error. User errors (`NotFound`, `Conflict`, `Invalid`) carry a message fit to show;
/// database errors are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e {
            if d.is_unique_violation() {
                return StoreError::Conflict(
                    "an entry with the same unique value already exists".into(),
                );
            }
            if d.is_foreign_key_violation() {
                return StoreError::Invalid("a referenced entry does not exist".into());
            }
        }
        StoreError::Db(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage handle: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// SQLite: the single writer connection. PostgreSQL: the same pool as `read`.
    write: AnyPool,
    read: AnyPool,
    /// SQLite: the store's own reader connections, which run [`sql::Sql`] statements
    /// (`files.rs`). PostgreSQL: none; they run on `read`.
    files: Option<std::sync::Arc<files::Readers>>,
    /// The group-commit writer task's queue (see [`Store::insert_objects`]).
    writer: tokio::sync::mpsc::Sender<objects::InsertJob>,
    /// SQLite opened by [`Store::open_for_load`] with the file to itself: a rollback journal
    /// instead of the WAL until [`Store::close`].
    loading: bool,
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// An SQLite file.
    SqliteFile(std::path::PathBuf),
    /// A PostgreSQL URL, optionally confined to one schema (tests give each run its own).
    Postgres { url: String, schema: Option<String> },
}

impl Store {
    /// Opens the database and applies the embedded migrations.
    pub async fn open(location: &Location) -> Result<Store> {
        Store::open_as(location, false).await
    }

    /// Opens the database for a bulk load, as `isac import` does.
    ///
    /// On SQLite, when no other connection has the file open, the file is switched from the WAL
    /// to a rollback journal until [`Store::close`] switches it back. With the WAL every page a
    /// load writes goes into the WAL and then once more into the file when it is checkpointed;
    /// with a rollback journal, pages new to the file (most of what a load writes) are written
    /// once, which makes a bulk import about a tenth faster (docs/BENCHMARKS.md, "Bodies stored
    /// compressed; a rollback journal for loads"). Durability and atomicity are SQLite's either
    /// way (`synchronous=FULL`; a load cut short leaves a hot journal, which the next opening
    /// rolls back before switching the file back to the WAL).
    ///
    /// What it costs: while a transaction that has written pages is open, other connections
    /// cannot read the file, so a server opened on it meanwhile waits (up to its 10-second busy
    /// timeout per statement) for the load's commits. That is why the switch is made only when
    /// the file is not open elsewhere (SQLite refuses to leave the WAL otherwise, and the store
    /// then opens as [`Store::open`] would; a store of the same process closed just before may
    /// still count as open, as its connections close on their own threads), and why a caller
    /// that reads through this store while a write transaction is open must not use it: such a
    /// read would wait for the very transaction it holds up.
    ///
    /// With the rollback journal, the writer also stops checking foreign keys. A multi-row
    /// statement on a table with foreign keys makes SQLite copy every page it changes into a
    /// statement journal first, so that it can undo the statement alone; the rows of a load land
    /// on pages spread over the id and value indexes, and without that copy and the checks a
    /// load of 1M objects takes about 15% less time (docs/BENCHMARKS.md, "The one-latest index
    /// dropped on SQLite; no statement journal for loads"). What the checks guarded, an import
    /// checks itself: each unit's owners and authors exist, and its other rows refer to the
    /// versions it inserts. A loading store is for imports ([`crate::ImportSession`]); other
    /// writes through it are not checked against the foreign keys. On PostgreSQL this is
    /// [`Store::open`].
    pub async fn open_for_load(location: &Location) -> Result<Store> {
        Store::open_as(location, true).await
    }

    async fn open_as(location: &Location, load: bool) -> Result<Store> {
        install_default_drivers();
        let store = match location {
            Location::SqliteFile(path) => Store::open_sqlite(path, load).await?,
            Location::Postgres { url, schema } => Store::open_postgres(url, schema.clone()).await?,
        };
        store.migrate().await?;
        if store.loading {
            // See `open_for_load`. A pooled connection opened later (should the pool replace
            // this one) checks foreign keys again: slower, never less checked.
            store.write.execute("PRAGMA foreign_keys=OFF").await?;
        }
        Ok(store)
    }

    /// Whether this store holds its SQLite file with a rollback journal ([`Store::open_for_load`]).
    pub fn is_loading(&self) -> bool {
        self.loading
    }

    async fn open_sqlite(path: &Path, load: bool) -> Result<Store> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        // page_size: see PAGE_SIZE. It must come before the switch to the WAL, which writes the
        // first page of a new file; on an existing file it does nothing.
        // synchronous=FULL: an acknowledged write survives power loss, not just a crash.
        // wal_autocheckpoint: the WAL is copied back into the database after 8192 pages (64 MiB
        // with PAGE_SIZE, 32 MiB in a store made with 4 KiB pages) rather than SQLite's 1000. A
        // bulk import commits units of thousands of versions, each rewriting index pages spread
        // over the whole file; with the default, every commit checkpointed and the same pages
        // were copied back again and again. journal_size_limit truncates the WAL back to 64 MiB
        // once it has been copied back.
        // cache_size: the page cache per connection, in KiB. The single writer gets the larger
        // one, as it walks every index of every table on each insert.
        // journal: the connection sets the file's journal mode to the WAL, or (during a load)
        // leaves it as the writer set it.
        let pragmas = |pool: AnyPoolOptions, cache_kib: u32, journal: bool| {
            // test_before_acquire(false): a connection to a local file cannot go stale the way a
            // network connection can, and the check was one more round trip to SQLite's worker
            // thread for every statement a pool runs.
            pool.test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        let wal = if journal {
                            "PRAGMA journal_mode=WAL;"
                        } else {
                            ""
                        };
                        conn.execute(
                            format!(
                                "PRAGMA page_size={PAGE_SIZE}; {wal} PRAGMA synchronous=FULL; \
                             PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; \
                             PRAGMA cache_size=-{cache_kib}; PRAGMA temp_store=MEMORY; \
                             PRAGMA wal_autocheckpoint=8192; \
                             PRAGMA journal_size_limit=67108864;"
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                })
        };
        let write = pragmas(
            AnyPoolOptions::new().max_connections(1).min_connections(1),
            WRITER_CACHE_KIB,
            !load,
        )
        .acquire_timeout(Duration::from_secs(60))
        .connect(&url)
        .await?;
        // SQLite leaves the WAL only for a connection that has the file to itself; otherwise it
        // answers "database is locked" at once (no busy wait: the timeout is 0 for the attempt),
        // and the store is opened as usual.
        let loading = load && {
            let mut conn = write.acquire().await?;
            conn.execute("PRAGMA busy_timeout=0").await?;
            let switched: std::result::Result<(String,), sqlx::Error> =
                sqlx::query_as("PRAGMA journal_mode=DELETE")
                    .fetch_one(&mut *conn)
                    .await;
            conn.execute("PRAGMA busy_timeout=10000").await?;
            let alone = match switched {
                Ok((mode,)) => mode == "delete",
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5") => false,
                Err(e) => return Err(e.into()),
            };
            if !alone {
                conn.execute("PRAGMA journal_mode=WAL").await?;
            }
            alone
        };
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get() as u32 * 2)
            .max(4);
        let read = pragmas(
            AnyPoolOptions::new().max_connections(readers),
            READER_CACHE_KIB,
            !loading,
        )
        .acquire_timeout(Duration::from_secs(30))
        .connect(&url)
        .await?;
        let files = files::Readers::new(path.to_owned(), readers as usize, READER_CACHE_KIB);
        let mut store = Store::assemble(Backend::Sqlite, write, read, Some(files.into()));
        store.loading = loading;
        Ok(store)
    }

    async fn open_postgres(url: &str, schema: Option<String>) -> Result<Store> {
        if let Some(s) = &schema {
            if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Invalid(format!("invalid schema name `{s}`")));
            }
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            pool.execute(format!("CREATE SCHEMA IF NOT EXISTS {s}").as_str())
                .await?;
            pool.close().await;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    if let Some(s) = schema {
                        conn.execute(format!("SET search_path TO {s}").as_str())
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Store::assemble(Backend::Postgres, pool.clone(), pool, None))
    }

    /// Builds the handle and starts its group-commit writer task. The task holds a handle whose
    /// own queue is closed, so it ends when every user-facing handle is gone.
    fn assemble(
        backend: Backend,
        write: AnyPool,
        read: AnyPool,
        files: Option<std::sync::Arc<files::Readers>>,
    ) -> Store {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let (closed, _) = tokio::sync::mpsc::channel(1);
        let inner = Store {
            backend,
            write: write.clone(),
            read: read.clone(),
            files: files.clone(),
            writer: closed,
            loading: false,
        };
        tokio::spawn(objects::writer_loop(inner, rx));
        Store {
            backend,
            write,
            read,
            files,
            writer: tx,
            loading: false,
        }
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.write)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.write)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction. On PostgreSQL writers are serialised with a transaction-level
    /// advisory lock, which keeps the audit chain linear and `date_added` monotonic across nodes.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = self.write.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7355608)")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Checks the store: SQLite's `PRAGMA integrity_check` (PostgreSQL has no equivalent and
    /// passes it), then, on both backends, that no object id has more than one latest version.
    /// Answers `ok`, or what is wrong. The second check reads every latest version: an
    /// operator's and the tests' tool, not a request path.
    pub async fn integrity_check(&self) -> Result<String> {
        if self.backend == Backend::Sqlite {
            let (s,): (String,) = sqlx::query_as("PRAGMA integrity_check")
                .fetch_one(&self.read)
                .await?;
            if s != "ok" {
                return Ok(s);
            }
        }
        let twice: Vec<(String,)> = sqlx::query_as(
            "SELECT stix_id FROM objects WHERE is_latest = 1 \
             GROUP BY stix_id HAVING COUNT(*) > 1 ORDER BY stix_id LIMIT 10",
        )
        .fetch_all(&self.read)
        .await?;
        if twice.is_empty() {
            return Ok("ok".into());
        }
        let ids: Vec<String> = twice.into_iter().map(|(id,)| id).collect();
        Ok(format!(
            "more than one latest version of {}",
            ids.join(", ")
        ))
    }

    /// Closes every connection, checkpointing the SQLite WAL. A store opened for a load
    /// switches its file back to the WAL first; should that fail, the next [`Store::open`] does.
    pub async fn close(&self) {
        if let Some(f) = &self.files {
            f.close();
        }
        self.read.close().await;
        if self.loading {
            let back: std::result::Result<(String,), _> = sqlx::query_as("PRAGMA journal_mode=WAL")
                .fetch_one(&self.write)
                .await;
            match back {
                Ok((mode,)) if mode == "wal" => {}
                other => tracing::warn!(
                    ?other,
                    "the database stays in rollback-journal mode until it is next opened"
                ),
            }
        }
        self.write.close().await;
    }
}

/// The current time in unix microseconds.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn parse_enum<T: FromStr>(what: &'static str, s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Invalid(format!("stored {what} `{s}` is not recognised")))
}

/// Checks a required text field as it will be stored (trimmed): present, within `max`
/// characters, free of control characters. The store is the last line of defence, so every
/// user-supplied field is bounded here whatever the caller checked.
fn required_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    isac_model::check_text(field, value.trim(), max).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// As [`required_text`], for a field that may be empty.
fn optional_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        Ok(())
    } else {
        required_text(field, value, max)
    }
}

fn email(value: &str) -> Result<()> {
    isac_model::check_email(value.trim()).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests;
