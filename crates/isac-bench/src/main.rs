//! `isac-bench`: the foundation figures isac publishes in `docs/BENCHMARKS.md`, measured through
//! the real server (its full router, API-key authentication and TLP policy) over HTTP on
//! 127.0.0.1, on SQLite and on PostgreSQL.
//!
//! - `load` stores a seeded corpus directly through the store (resuming a partial load).
//! - `read` times list and search requests as a member analyst on that corpus.
//! - `write` measures acknowledged writes per second, single and batched, on fresh stores or on
//!   the loaded corpus.
//!
//! Progress goes to stderr; the results are markdown tables on stdout.

mod corpus;
mod db;
mod http;
mod import;
mod read;
mod stats;
mod taxii;
mod write;

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};
use isac_store::{AuditEntry, Store};

use crate::corpus::Cast;
use crate::db::Db;
use crate::http::{Client, Server};

#[derive(Parser)]
#[command(name = "isac-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stores the seeded corpus (or tops up a partial one) and reports the load rate.
    Load {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        corpus: CorpusArgs,
    },
    /// List and search latency over HTTP as a member analyst, on the loaded corpus (loaded first
    /// if it is not there).
    Read {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        corpus: CorpusArgs,
        /// Rounds over every request; the table shows each round's median.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Timed requests per request kind and round.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Stop sampling a request kind after this many seconds in a round (at least 5 samples).
        #[arg(long, default_value_t = 20.0)]
        max_seconds: f64,
        /// Pages reached by following `next` cursors from the first page.
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
        deep: Vec<u64>,
    },
    /// Acknowledged writes per second over HTTP: single objects with 1 and 8 clients, batches
    /// of 100 and 1000.
    Write {
        #[command(flatten)]
        store: StoreArgs,
        /// 0: every scenario and round starts on a new, empty store. Otherwise: write onto the
        /// corpus of this many objects (loaded first if it is not there); the writes stay.
        #[arg(long, default_value_t = 0)]
        objects: u64,
        /// Objects per transaction when loading.
        #[arg(long, default_value_t = 5000)]
        batch: u64,
        /// Rounds over every scenario.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Length of each timed scenario run.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Scenarios to run, as objects per request `x` clients.
        #[arg(long, value_delimiter = ',', default_value = "1x1,1x8,100x1,1000x1")]
        scenarios: Vec<String>,
    },
    /// TAXII 2.1 reads and writes, isac beside medallion (the OASIS reference server) in the
    /// same run: pages of 100 at growing collection sizes, and envelopes of 100 and 1000.
    Taxii(TaxiiArgs),
    /// Bulk import through `Store::import` in units of `--batch` objects from a streaming
    /// generator, on a fresh store per run, then the same objects again; objects/s and peak RSS.
    Import(import::ImportArgs),
    /// Drops a PostgreSQL benchmark schema kept with `--keep`.
    DropSchema {
        #[arg(long, env = "ISAC_BENCH_DATABASE_URL", default_value = DEFAULT_PG)]
        database_url: String,
        schema: String,
    },
}

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Args)]
struct StoreArgs {
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    backend: Backend,
    /// SQLite: the data directory (the corpus is DIR/isac.db). Both: where fresh SQLite stores go.
    #[arg(long, default_value = "target/isac-bench")]
    data: PathBuf,
    #[arg(long, env = "ISAC_BENCH_DATABASE_URL", default_value = DEFAULT_PG)]
    database_url: String,
    /// PostgreSQL schema of the corpus (default: a new `bench_<random>`).
    #[arg(long)]
    schema: Option<String>,
    /// Keep the PostgreSQL corpus schema for later runs instead of dropping it at the end.
    #[arg(long)]
    keep: bool,
    /// Seed of the corpus and of the written objects.
    #[arg(long, default_value_t = 20_250_101)]
    seed: u64,
}

impl StoreArgs {
    fn corpus_db(&self) -> Result<Db> {
        match self.backend {
            Backend::Sqlite => Ok(Db::corpus_sqlite(&self.data)),
            Backend::Postgres => {
                Db::corpus_postgres(&self.database_url, self.schema.as_deref(), self.keep)
            }
        }
    }
}

#[derive(Args)]
struct CorpusArgs {
    /// Objects in the corpus.
    #[arg(long, default_value_t = 1_000_000)]
    objects: u64,
    /// Objects per transaction when loading.
    #[arg(long, default_value_t = 5000)]
    batch: u64,
}

#[derive(Args)]
struct TaxiiArgs {
    /// Where isac's SQLite corpus (DIR/isac.db, grown size by size), its fresh write stores and
    /// medallion's data files go.
    #[arg(long, default_value = "target/isac-bench-taxii")]
    data: PathBuf,
    /// isac's store. PostgreSQL: the corpus and the write stores are schemas of their own,
    /// dropped at the end.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    backend: Backend,
    #[arg(long, env = "ISAC_BENCH_DATABASE_URL", default_value = DEFAULT_PG)]
    database_url: String,
    #[arg(long, default_value_t = 20_250_101)]
    seed: u64,
    /// Stored corpus objects at each measured size, ascending.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    sizes: Vec<u64>,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Timed first-page requests per round (1 client).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Cap of each timed request kind per round, in seconds.
    #[arg(long, default_value_t = 5.0)]
    max_seconds: f64,
    /// Client counts for the first page.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    clients: Vec<usize>,
    /// Pages walked by `next` per round (beyond the sizes medallion is seeded at).
    #[arg(long, default_value_t = 1000)]
    walk_pages: u64,
    #[arg(long, default_value_t = 30.0)]
    walk_seconds: f64,
    /// medallion is not run at larger sizes once its first page takes longer (p50, seconds).
    #[arg(long, default_value_t = 2.0)]
    medallion_slow: f64,
    /// medallion is not run at larger sizes once it takes longer to start (seconds).
    #[arg(long, default_value_t = 120.0)]
    medallion_start: f64,
    /// Once medallion is projected past `--medallion-slow`, one first page is timed at that
    /// size, waiting at most this long (seconds), and it is not run further.
    #[arg(long, default_value_t = 60.0)]
    medallion_probe: f64,
    /// Objects per envelope in the write benchmark.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    envelopes: Vec<usize>,
    #[arg(long, default_value_t = 3)]
    write_runs: usize,
    #[arg(long, default_value_t = 10.0)]
    write_seconds: f64,
    #[arg(long)]
    skip_reads: bool,
    #[arg(long)]
    skip_writes: bool,
}

impl TaxiiArgs {
    fn corpus_db(&self) -> Result<Db> {
        match self.backend {
            Backend::Sqlite => Ok(Db::corpus_sqlite(&self.data)),
            Backend::Postgres => Db::corpus_postgres(&self.database_url, None, false),
        }
    }

    fn options(&self) -> taxii::Options {
        taxii::Options {
            sizes: self.sizes.clone(),
            runs: self.runs,
            samples: self.samples,
            max_seconds: self.max_seconds,
            clients: self.clients.clone(),
            walk_pages: self.walk_pages,
            walk_seconds: self.walk_seconds,
            medallion_slow: self.medallion_slow,
            medallion_start: self.medallion_start,
            medallion_probe: self.medallion_probe,
            envelopes: self.envelopes.clone(),
            write_runs: self.write_runs,
            write_seconds: self.write_seconds,
            skip_reads: self.skip_reads,
            skip_writes: self.skip_writes,
        }
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx::query=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Load { store, corpus } => load_cmd(&rt, &store, &corpus),
        Command::Read {
            store,
            corpus,
            runs,
            samples,
            max_seconds,
            deep,
        } => read_cmd(
            &rt,
            &store,
            &corpus,
            &read::Options {
                runs,
                samples,
                max_seconds,
                deep,
            },
        ),
        Command::Write {
            store,
            objects,
            batch,
            runs,
            seconds,
            scenarios,
        } => {
            let chosen: Vec<write::Scenario> = write::Scenario::ALL
                .into_iter()
                .filter(|s| scenarios.contains(&s.key()))
                .collect();
            if chosen.len() != scenarios.len() {
                anyhow::bail!(
                    "unknown scenario in {scenarios:?}; the scenarios are {:?}",
                    write::Scenario::ALL.map(|s| s.key())
                );
            }
            write_cmd(&rt, &store, objects, batch, runs, seconds, &chosen)
        }
        Command::Taxii(a) => taxii::run(&rt, &a.corpus_db()?, &a.data, a.seed, &a.options()),
        Command::Import(a) => import::run(&rt, &a),
        Command::DropSchema {
            database_url,
            schema,
        } => rt.block_on(db::drop_schema(&database_url, &schema)),
    }
}

/// The argon2 hash shared by every benchmark account, computed at most once per process.
fn password_hash() -> Result<String> {
    static HASH: OnceLock<String> = OnceLock::new();
    if let Some(h) = HASH.get() {
        return Ok(h.clone());
    }
    let h = isac_server::auth::hash_password(corpus::PASSWORD).map_err(|e| anyhow!(e.message))?;
    Ok(HASH.get_or_init(|| h).clone())
}

fn header(what: &str, db: &Db) {
    println!(
        "## {what} — {} — {}\n",
        db.describe(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
}

/// Opens the corpus store, its directory, and loads it to `corpus.objects`.
async fn open_corpus(db: &Db, args: &StoreArgs, corpus: &CorpusArgs) -> Result<(Store, Cast)> {
    let store = db.open().await?;
    let cast = Cast::ensure(&store, password_hash).await?;
    eprintln!(
        "loading {} objects into {} (batches of {})",
        corpus.objects,
        db.describe(),
        corpus.batch
    );
    let l = corpus::load(db, &store, &cast, args.seed, corpus.objects, corpus.batch).await?;
    if l.stored > l.found {
        db.settle().await?;
        println!(
            "Loaded {} objects in {:.0} s ({:.0} objects/s) through `Store::import` in \
             transactions of {}; the store holds {} versions.\n",
            l.stored - l.found,
            l.seconds,
            (l.stored - l.found) as f64 / l.seconds,
            corpus.batch,
            l.stored
        );
    } else {
        println!(
            "Reused the loaded corpus: the store holds {} versions.\n",
            l.stored
        );
    }
    Ok((store, cast))
}

async fn api_key(store: &Store, user: &isac_store::User) -> Result<String> {
    let (token, _) = isac_server::auth::create_api_key(
        store,
        user,
        "bench",
        AuditEntry::new("bench.key", user.id.clone()).from_source("bench"),
    )
    .await
    .map_err(|e| anyhow!(e.message))?;
    Ok(token)
}

fn load_cmd(rt: &tokio::runtime::Runtime, args: &StoreArgs, corpus: &CorpusArgs) -> Result<()> {
    let db = args.corpus_db()?;
    header("Corpus load", &db);
    rt.block_on(async {
        let (store, _) = open_corpus(&db, args, corpus).await?;
        db.finish(store).await
    })
}

fn read_cmd(
    rt: &tokio::runtime::Runtime,
    args: &StoreArgs,
    corpus: &CorpusArgs,
    o: &read::Options,
) -> Result<()> {
    let db = args.corpus_db()?;
    header("List and search latency", &db);
    let (store, server, key, probes, groups) = rt.block_on(async {
        let (store, cast) = open_corpus(&db, args, corpus).await?;
        let (user, org) = cast.reader();
        let viewer = isac_server::auth::viewer_for(&store, user, org)
            .await
            .map_err(|e| anyhow!(e.message))?;
        eprintln!("counting what the reader may see");
        let probes = read::probes(&store, &viewer, &cast, args.seed, corpus.objects).await?;
        let key = api_key(&store, user).await?;
        let server = Server::start(store.clone()).await?;
        anyhow::Ok((store, server, key, probes, cast.reader_groups()))
    })?;
    let client = Client::new(server.addr, &key);
    eprintln!("walking cursors to pages {:?}", o.deep);
    let (deep, walk) = read::walk(&client, &o.deep)?;
    let mut all = probes;
    all.splice(1..1, deep);
    let measured = read::measure(&client, all, o)?;
    println!(
        "Reader: a member analyst of a bank in {groups} sharing groups, by API key. {} rounds, \
         up to {} timed requests per kind and round ({} s cap), after 2 warm-up requests.\n",
        o.runs, o.samples, o.max_seconds
    );
    println!("{}", read::table(&measured, &walk));
    drop(client);
    rt.block_on(async {
        server.stop().await?;
        db.finish(store).await
    })
}

fn write_cmd(
    rt: &tokio::runtime::Runtime,
    args: &StoreArgs,
    objects: u64,
    batch: u64,
    runs: usize,
    seconds: f64,
    scenarios: &[write::Scenario],
) -> Result<()> {
    let corpus_db = args.corpus_db()?;
    let mut results: Vec<(write::Scenario, Vec<write::Run>)> =
        scenarios.iter().map(|s| (*s, Vec::new())).collect();
    let writers = scenarios.iter().map(|s| s.clients).max().unwrap_or(1);
    if objects > 0 {
        header(&format!("Writes onto {objects} objects"), &corpus_db);
        let corpus = CorpusArgs { objects, batch };
        let (store, server, keys, cast) = rt.block_on(async {
            let (store, cast) = open_corpus(&corpus_db, args, &corpus).await?;
            let mut keys = Vec::new();
            for u in &cast.analysts[..writers] {
                keys.push(api_key(&store, u).await?);
            }
            let server = Server::start(store.clone()).await?;
            anyhow::Ok((store, server, keys, cast))
        })?;
        for run in 0..runs {
            for (s, out) in &mut results {
                eprintln!("  run {}/{runs}: {}", run + 1, s.name());
                let seed = args.seed ^ ((run as u64) << 48);
                out.push(write::drive(server.addr, &keys, &cast, *s, seconds, seed)?);
            }
        }
        rt.block_on(async {
            let n = store.version_count().await?;
            println!("The store holds {n} versions after the writes.\n");
            server.stop().await?;
            corpus_db.finish(store).await
        })?;
    } else {
        header("Writes onto empty stores", &corpus_db);
        for run in 0..runs {
            for (s, out) in &mut results {
                eprintln!("  run {}/{runs}: {}", run + 1, s.name());
                let db = corpus_db.fresh(&args.data);
                let (store, server, keys, cast) = rt.block_on(async {
                    let store = db.open().await?;
                    let cast = Cast::ensure(&store, password_hash).await?;
                    let mut keys = Vec::new();
                    for u in &cast.analysts[..writers] {
                        keys.push(api_key(&store, u).await?);
                    }
                    let server = Server::start(store.clone()).await?;
                    anyhow::Ok((store, server, keys, cast))
                })?;
                let seed = args.seed ^ ((run as u64) << 48);
                let r = write::drive(server.addr, &keys, &cast, *s, seconds, seed);
                rt.block_on(async {
                    server.stop().await?;
                    db.finish(store).await
                })?;
                out.push(r?);
            }
        }
        // The corpus store was never opened; nothing to remove.
    }
    println!(
        "{runs} rounds of {seconds} s per scenario; a write counts when the server answered 201.\n"
    );
    println!("{}", write::table(&results));
    Ok(())
}

#[cfg(test)]
mod tests;
