//! `isac-bench import`: bulk import through [`Store::import`], as `isac import` drives it for a
//! large STIX bundle: the seeded corpus objects are generated on a thread of their own and handed
//! over in import units of `--batch` objects through a queue of two, so at most four units are in
//! memory at once whatever `--objects` is. Each run imports into a fresh store, then imports the
//! same objects again (every version already stored: the idempotent path).
//!
//! Reported per run: objects per second over the wall clock (generation overlapped with storage)
//! and over the time spent inside `Store::import` alone, and the process's peak resident memory
//! (`VmHWM`), which stays flat as `--objects` grows if memory is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, TimeZone, Utc};
use clap::Args;
use isac_model::Tlp;
use isac_policy::Access;
use isac_server::intel::{self, ObjectInput};
use isac_store::{AuditEntry, IMPORT_COMMIT_OBJECTS, NewObject, OnRefusal, Store, StoreError};
use rand::Rng;

use crate::corpus::{self, Cast};
use crate::db::Db;
use crate::stats::{Table, median, rate};
use crate::{Backend, StoreArgs, password_hash};

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Objects imported per run.
    #[arg(long, default_value_t = 100_000)]
    objects: u64,
    /// Objects per import unit (one atomic `ImportSession::import` call).
    #[arg(long, default_value_t = isac_store::IMPORT_CHUNK as u64)]
    batch: u64,
    /// `--via store`: objects of units per transaction (`isac import` commits every
    /// `IMPORT_COMMIT_OBJECTS`; give `--batch` to commit every unit).
    #[arg(long, default_value_t = IMPORT_COMMIT_OBJECTS as u64)]
    commit_objects: u64,
    /// Runs, each on a fresh store.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// `store`: objects go straight into `Store::import`. `cli`: the objects are written to a
    /// STIX 2.1 bundle file first (not timed), which the real `isac import` command then reads,
    /// validates and stores, run as its own process (SQLite only).
    #[arg(long, value_enum, default_value_t = Via::Store)]
    via: Via,
    /// The `isac` executable for `--via cli` [default: `isac` next to this benchmark's]
    #[arg(long, value_name = "FILE")]
    isac: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Store,
    Cli,
}

/// Units generated ahead of the importer.
const QUEUE: usize = 2;

/// One pass over the objects.
struct Pass {
    wall: Duration,
    /// Time inside `Store::import`.
    store: Duration,
    /// CPU time of the whole process (generator included) during the pass.
    cpu: Duration,
    /// Peak resident memory of the process when the pass ended, in KiB.
    peak_kib: u64,
}

impl Pass {
    fn rates(&self, n: u64) -> (f64, f64) {
        (
            n as f64 / self.wall.as_secs_f64(),
            n as f64 / self.store.as_secs_f64(),
        )
    }
}

/// The `modified` of corpus object `i`, as `load` stamps it.
fn stamp(i: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid fixed instant")
        + chrono::Duration::seconds(2 * i as i64)
}

/// The CPU time (user and system) a process has used, from `/proc/PID/stat` (`self` for this
/// one; Linux), whose counters tick at 100 Hz on every Linux platform isac runs on.
fn cpu_time(pid: &str) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
    let user: u64 = rest.get(11)?.parse().ok()?;
    let system: u64 = rest.get(12)?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}

/// A process's peak resident set size in KiB, from `/proc/PID/status` (Linux).
fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Author `a` of a draft: 0 is the operator's analyst, `m + 1` member `m`'s analyst.
fn author(cast: &Cast, a: usize) -> &isac_store::User {
    match a.checked_sub(1) {
        Some(m) => &cast.analysts[m],
        None => &cast.op_analyst,
    }
}

fn audit() -> AuditEntry {
    AuditEntry::new("bench.import", "corpus").from_source("bench")
}

/// Generates corpus objects `0..n` in units of `batch` on a thread of its own.
fn generate(
    store: &Store,
    cast: Arc<Cast>,
    seed: u64,
    n: u64,
    batch: u64,
) -> impl std::future::Future<Output = Result<tokio::sync::mpsc::Receiver<Result<Vec<NewObject>>>>>
{
    let store = store.clone();
    async move {
        let dir = intel::Directory::load(&store)
            .await
            .map_err(|e| anyhow!(e.message))?;
        let users = intel::user_ids(&store)
            .await
            .map_err(|e| anyhow!(e.message))?;
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        std::thread::spawn(move || {
            let mut next = 0;
            while next < n {
                let end = (next + batch).min(n);
                let unit = (next..end)
                    .map(|i| {
                        let d = corpus::corpus_draft(&cast, seed, i);
                        let input = ObjectInput {
                            object: d.object,
                            tlp: Some(d.tlp.as_str().to_owned()),
                            recipients: d.recipients,
                        };
                        intel::prepare_new(
                            isac_model::Locale::En,
                            &dir,
                            &users,
                            author(&cast, d.author),
                            input,
                            Tlp::Green,
                            stamp(i),
                        )
                        .map_err(|e| anyhow!("corpus object {i}: {}", e.message))
                    })
                    .collect::<Result<Vec<_>>>();
                let failed = unit.is_err();
                if tx.blocking_send(unit).is_err() || failed {
                    return;
                }
                next = end;
            }
        });
        Ok(rx)
    }
}

/// Imports corpus objects `0..n` once; `expect_new` says whether every one should be created
/// (a fresh store) or found unchanged (the same objects again).
async fn pass(
    store: &Store,
    cast: &Arc<Cast>,
    a: &ImportArgs,
    expect_new: bool,
    what: &str,
) -> Result<Pass> {
    let started = Instant::now();
    let cpu = cpu_time("self").unwrap_or_default();
    let mut rx = generate(store, cast.clone(), a.store.seed, a.objects, a.batch).await?;
    let mut inside = Duration::ZERO;
    let mut done = 0u64;
    let mut last_note = Instant::now();
    // Units share transactions as in `isac import` (unless `--commit-objects` says otherwise).
    let mut session = store.import_session(a.commit_objects as usize);
    while let Some(unit) = rx.recv().await {
        let unit = unit?;
        let t = Instant::now();
        // The rule `isac import` applies: a version of an id the importer's org does not own
        // must not widen its audience. Corpus objects are first versions or repeats, so the
        // check runs only if the store already held something else under their ids.
        let o = session
            .import(
                &unit,
                OnRefusal::RefuseUnit,
                |old: &Access, new: &NewObject| {
                    isac_policy::check_new_version(&new.access.owner_org, old, &new.access)
                        .map_err(|e| StoreError::Conflict(e.to_string()))
                },
                audit(),
            )
            .await
            .with_context(|| format!("importing objects {done}..{}", done + unit.len() as u64))?;
        inside += t.elapsed();
        let (want, got) = if expect_new {
            (unit.len(), o.created)
        } else {
            (unit.len(), o.unchanged)
        };
        if !o.applied || got != want {
            bail!("importing objects from {done}: expected {want}, the store said {o:?}");
        }
        done += unit.len() as u64;
        if last_note.elapsed() > Duration::from_secs(10) || done == a.objects {
            last_note = Instant::now();
            eprintln!(
                "  {what}: {done}/{} objects ({:.0} objects/s)",
                a.objects,
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    if done != a.objects {
        bail!("the generator stopped after {done} objects");
    }
    let t = Instant::now();
    session
        .finish()
        .await
        .context("committing the last units")?;
    inside += t.elapsed();
    Ok(Pass {
        wall: started.elapsed(),
        store: inside,
        cpu: cpu_time("self").unwrap_or_default().saturating_sub(cpu),
        peak_kib: peak_rss_kib("self").unwrap_or(0),
    })
}

/// A fresh store for one run, kept afterwards only with `--keep`.
fn fresh(a: &StoreArgs) -> Result<Db> {
    if a.schema.is_some() {
        bail!("`import` starts every run on a fresh store; leave out --schema");
    }
    let suffix = format!("{:08x}", rand::thread_rng().r#gen::<u32>());
    Ok(match a.backend {
        Backend::Sqlite => Db::Sqlite {
            file: a.data.join(format!("import-{suffix}")).join("isac.db"),
            scratch: !a.keep,
        },
        Backend::Postgres => Db::Postgres {
            url: a.database_url.clone(),
            schema: format!("bench_{suffix}"),
            scratch: !a.keep,
        },
    })
}

pub fn run(rt: &tokio::runtime::Runtime, a: &ImportArgs) -> Result<()> {
    if a.via == Via::Cli {
        return run_cli(rt, a);
    }
    if a.batch == 0 || a.batch > isac_store::IMPORT_OBJECTS_MAX as u64 {
        bail!(
            "--batch is 1 to {} objects per unit",
            isac_store::IMPORT_OBJECTS_MAX
        );
    }
    let mut table = Table::new(&[
        "run",
        "import, objects/s (wall)",
        "import, objects/s (in `Store::import`)",
        "re-import, objects/s (wall)",
        "re-import, objects/s (in `Store::import`)",
        "CPU s, import / re-import",
        "peak RSS, MiB",
    ]);
    let mut cols: [Vec<f64>; 5] = Default::default();
    for run in 1..=a.runs {
        let db = fresh(&a.store)?;
        if run == 1 {
            crate::header(&format!("Bulk import of {} objects", a.objects), &db);
        }
        eprintln!("run {run}/{}: {}", a.runs, db.describe());
        let (first, again) = rt.block_on(async {
            let store = db.open().await?;
            let cast = Arc::new(Cast::ensure(&store, password_hash).await?);
            let first = pass(&store, &cast, a, true, "import").await;
            let again = match &first {
                Ok(_) => pass(&store, &cast, a, false, "re-import").await,
                Err(_) => Err(anyhow!("not run")),
            };
            if a.store.keep {
                println!("Kept {}.\n", db.describe());
            }
            db.finish(store).await?;
            anyhow::Ok((first?, again?))
        })?;
        let (w1, s1) = first.rates(a.objects);
        let (w2, s2) = again.rates(a.objects);
        let mib = again.peak_kib as f64 / 1024.0;
        for (c, v) in cols.iter_mut().zip([w1, s1, w2, s2, mib]) {
            c.push(v);
        }
        table.row(vec![
            run.to_string(),
            rate(w1),
            rate(s1),
            rate(w2),
            rate(s2),
            format!(
                "{:.1} / {:.1}",
                first.cpu.as_secs_f64(),
                again.cpu.as_secs_f64()
            ),
            format!("{mib:.0}"),
        ]);
    }
    table.row(vec![
        "median".into(),
        rate(median(&cols[0])),
        rate(median(&cols[1])),
        rate(median(&cols[2])),
        rate(median(&cols[3])),
        String::new(),
        format!("{:.0}", median(&cols[4])),
    ]);
    println!(
        "{} objects per run in units of {} through `Store::import` (one transaction each), \
         generated on a second thread ({QUEUE} units queued ahead); each run on a fresh store, \
         then the same objects again. CPU is the whole process's (generator included); peak \
         RSS is its `VmHWM` at the end of the run.\n",
        a.objects, a.batch
    );
    println!("{}", table.render());
    Ok(())
}

/// Corpus object `i` as a bundle carries it: STIX 2.1 common properties, its TLP as a marking and
/// its audience in isac's extension (org recipients by identity id).
fn bundle_object(cast: &Cast, seed: u64, i: u64) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let d = corpus::corpus_draft(cast, seed, i);
    let mut o = d.object;
    let at = Value::String(stamp(i).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    o.insert("spec_version".into(), Value::String("2.1".into()));
    o.insert("created".into(), at.clone());
    o.insert("modified".into(), at);
    o.insert(
        "object_marking_refs".into(),
        Value::Array(vec![Value::String(d.tlp.marking_id_v2().into())]),
    );
    let audience = isac_stix::audience::Audience {
        orgs: d
            .recipients
            .orgs
            .iter()
            .map(|id| format!("identity--{id}"))
            .collect(),
        groups: d.recipients.groups,
        users: d.recipients.users,
    };
    if !audience.is_empty() {
        isac_stix::audience::write(&mut o, &audience);
    }
    o
}

/// What one `isac import` process used, sampled from `/proc/PID` while it ran.
struct Child {
    wall: Duration,
    /// User and system CPU time of the process (all its threads).
    cpu: Duration,
    peak_kib: u64,
}

/// Runs `isac import` and samples its CPU time and peak RSS from `/proc` until it exits. `VmHWM`
/// only grows, so the last sample is the peak up to within the sampling interval's growth.
fn run_child(cmd: &mut std::process::Command) -> Result<Child> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting isac import")?;
    let pid = child.id().to_string();
    let (mut cpu, mut peak) = (Duration::ZERO, 0u64);
    loop {
        if let Some(code) = child.try_wait()? {
            if !code.success() {
                bail!("isac import failed: {code}");
            }
            break;
        }
        cpu = cpu_time(&pid).unwrap_or(cpu);
        peak = peak_rss_kib(&pid).unwrap_or(peak);
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Child {
        wall: started.elapsed(),
        cpu,
        peak_kib: peak,
    })
}

/// `--via cli`: the whole path a user runs, `isac import FILE`, on a bundle of `--objects`
/// corpus objects into a fresh SQLite store, then the same file again (all unchanged).
fn run_cli(rt: &tokio::runtime::Runtime, a: &ImportArgs) -> Result<()> {
    if a.store.backend != Backend::Sqlite {
        bail!("--via cli runs on SQLite only");
    }
    let isac = match &a.isac {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("isac"))
            .ok_or_else(|| anyhow!("no directory for the isac executable"))?,
    };
    if !isac.is_file() {
        bail!(
            "{} not found; build it (cargo build --release -p isac) or give --isac",
            isac.display()
        );
    }
    let mut table = Table::new(&[
        "run",
        "import, objects/s",
        "re-import, objects/s",
        "CPU s, import / re-import",
        "peak RSS, MiB, import / re-import",
        "bundle, MiB",
    ]);
    let mut cols: [Vec<f64>; 2] = Default::default();
    for run in 1..=a.runs {
        let db = fresh(&a.store)?;
        let Db::Sqlite { file, .. } = &db else {
            bail!("--via cli runs on SQLite only");
        };
        let dir = file
            .parent()
            .ok_or_else(|| anyhow!("no data directory"))?
            .to_owned();
        if run == 1 {
            crate::header(
                &format!("`isac import` of a bundle of {} objects", a.objects),
                &db,
            );
        }
        let bundle = dir.join("bundle.json");
        let email = rt.block_on(async {
            let store = db.open().await?;
            let cast = Cast::ensure(&store, password_hash).await?;
            let out = std::io::BufWriter::new(std::fs::File::create(&bundle)?);
            let mut w =
                isac_stix::bundle::BundleWriter::new(out, &isac_stix::bundle::new_bundle_id())?;
            for i in 0..a.objects {
                w.write_object(&bundle_object(&cast, a.store.seed, i))?;
            }
            w.finish()?;
            store.close().await;
            anyhow::Ok(cast.op_analyst.email.clone())
        })?;
        let mib = std::fs::metadata(&bundle)?.len() as f64 / (1024.0 * 1024.0);
        eprintln!(
            "run {run}/{}: {} ({mib:.0} MiB bundle)",
            a.runs,
            db.describe()
        );
        let import = || {
            let mut cmd = std::process::Command::new(&isac);
            cmd.arg("import")
                .arg("--data")
                .arg(&dir)
                .arg("--as")
                .arg(&email)
                .arg(&bundle)
                .env_remove("ISAC_DATABASE_URL")
                .env_remove("ISAC_CONFIG");
            run_child(&mut cmd)
        };
        let first = import()?;
        let again = import()?;
        // Every object must be there.
        let stored = rt.block_on(async {
            let pool = store_pool(file).await?;
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM objects")
                .fetch_one(&pool)
                .await?;
            pool.close().await;
            anyhow::Ok(n)
        })?;
        if a.store.keep {
            println!("Kept {}.\n", db.describe());
        } else {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        if stored < a.objects as i64 {
            bail!("the store holds {stored} objects, not {}", a.objects);
        }
        let r1 = a.objects as f64 / first.wall.as_secs_f64();
        let r2 = a.objects as f64 / again.wall.as_secs_f64();
        cols[0].push(r1);
        cols[1].push(r2);
        table.row(vec![
            run.to_string(),
            rate(r1),
            rate(r2),
            format!(
                "{:.1} / {:.1}",
                first.cpu.as_secs_f64(),
                again.cpu.as_secs_f64()
            ),
            format!(
                "{:.0} / {:.0}",
                first.peak_kib as f64 / 1024.0,
                again.peak_kib as f64 / 1024.0
            ),
            format!("{mib:.0}"),
        ]);
    }
    table.row(vec![
        "median".into(),
        rate(median(&cols[0])),
        rate(median(&cols[1])),
        String::new(),
        String::new(),
        String::new(),
    ]);
    println!(
        "`isac import --data DIR --as ANALYST bundle.json` run as its own process on a bundle of \
         {} corpus objects (each with its TLP marking and isac's audience extension), into a \
         fresh SQLite store, then again on the same file (every version already stored). Rates \
         are over the process's whole wall-clock time, start-up included; CPU and peak RSS \
         (`VmHWM`) are the process's, sampled from /proc.\n",
        a.objects
    );
    println!("{}", table.render());
    Ok(())
}

/// A plain read-only pool on an SQLite file, for checking what a child process stored.
async fn store_pool(file: &std::path::Path) -> Result<sqlx::SqlitePool> {
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await?)
}
