//! Where a benchmark's data lives: an SQLite file in the data directory, or a schema of its own
//! in a PostgreSQL database, created for the run and dropped afterwards unless it is kept.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use isac_store::{Location, Store};
use rand::Rng;
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;

/// The database file name inside a data directory, as `isac serve` uses it.
const DATABASE_FILE: &str = "isac.db";

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite {
        file: PathBuf,
        /// Delete the directory holding the file when done (fresh stores of the write benchmark).
        scratch: bool,
    },
    Postgres {
        url: String,
        schema: String,
        /// Drop the schema when done.
        scratch: bool,
    },
}

fn random_suffix() -> String {
    format!("{:08x}", rand::thread_rng().r#gen::<u32>())
}

fn check_schema(s: &str) -> Result<()> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("a schema name is letters, digits and `_`, not `{s}`");
    }
    Ok(())
}

impl Db {
    /// The long-lived store of a corpus: `DATA/isac.db`, or the named (else a new random) schema.
    pub fn corpus_sqlite(data: &Path) -> Db {
        Db::Sqlite {
            file: data.join(DATABASE_FILE),
            scratch: false,
        }
    }

    pub fn corpus_postgres(url: &str, schema: Option<&str>, keep: bool) -> Result<Db> {
        let (schema, scratch) = match schema {
            Some(s) => (s.to_owned(), !keep),
            None => (format!("bench_{}", random_suffix()), !keep),
        };
        check_schema(&schema)?;
        Ok(Db::Postgres {
            url: url.to_owned(),
            schema,
            scratch,
        })
    }

    /// A new, empty store of the same kind, removed when done.
    pub fn fresh(&self, data: &Path) -> Db {
        match self {
            Db::Sqlite { .. } => Db::Sqlite {
                file: data
                    .join(format!("fresh-{}", random_suffix()))
                    .join(DATABASE_FILE),
                scratch: true,
            },
            Db::Postgres { url, .. } => Db::Postgres {
                url: url.clone(),
                schema: format!("bench_{}", random_suffix()),
                scratch: true,
            },
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Db::Sqlite { file, .. } => format!("SQLite file {}", file.display()),
            Db::Postgres { schema, .. } => format!("PostgreSQL schema {schema}"),
        }
    }

    pub async fn open(&self) -> Result<Store> {
        let location = match self {
            Db::Sqlite { file, .. } => {
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                Location::SqliteFile(file.clone())
            }
            Db::Postgres { url, schema, .. } => Location::Postgres {
                url: url.clone(),
                schema: Some(schema.clone()),
            },
        };
        Store::open(&location)
            .await
            .with_context(|| format!("opening {}", self.describe()))
    }

    /// Brings PostgreSQL's statistics and visibility map to where autovacuum takes them after a
    /// bulk load, so that plans do not depend on when autovacuum last ran. SQLite: nothing, as
    /// isac never runs `ANALYZE` there.
    pub async fn settle(&self) -> Result<()> {
        if let Db::Postgres { url, schema, .. } = self {
            let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
            pool.execute(
                format!(
                    "VACUUM ANALYZE {schema}.objects, {schema}.object_recipients, \
                     {schema}.object_values, {schema}.audit_log"
                )
                .as_str(),
            )
            .await
            .context("VACUUM ANALYZE after loading")?;
            pool.close().await;
        }
        Ok(())
    }

    /// PostgreSQL: `ANALYZE` of the object tables, as autovacuum runs it once a table has grown
    /// by 10%. The benchmark runs it itself while loading so that plans do not depend on whether
    /// the server's autovacuum is on. SQLite: nothing.
    pub async fn analyze(&self) -> Result<()> {
        if let Db::Postgres { url, schema, .. } = self {
            let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
            pool.execute(
                format!(
                    "ANALYZE {schema}.objects, {schema}.object_recipients, {schema}.object_values"
                )
                .as_str(),
            )
            .await
            .context("ANALYZE while loading")?;
            pool.close().await;
        }
        Ok(())
    }

    /// Removes a scratch store; keeps any other.
    pub async fn finish(&self, store: Store) -> Result<()> {
        store.close().await;
        match self {
            Db::Sqlite {
                file,
                scratch: true,
            } => {
                if let Some(dir) = file.parent() {
                    std::fs::remove_dir_all(dir)
                        .with_context(|| format!("removing {}", dir.display()))?;
                }
            }
            Db::Postgres {
                url,
                schema,
                scratch: true,
            } => drop_schema(url, schema).await?,
            _ => {}
        }
        Ok(())
    }
}

/// Drops a benchmark schema and everything in it.
pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
    check_schema(schema)?;
    if !schema.starts_with("bench_") {
        bail!("only benchmark schemas (bench_*) are dropped, not `{schema}`");
    }
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
        .await
        .with_context(|| format!("dropping schema {schema}"))?;
    pool.close().await;
    Ok(())
}
