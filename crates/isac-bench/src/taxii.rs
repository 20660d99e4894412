//! TAXII 2.1 beside medallion, the OASIS reference server, in one run on one machine.
//!
//! isac serves its "everything I may see" collection from the seeded corpus (grown size by size
//! through [`Store::import`]) to a member analyst by API key. medallion serves the very objects
//! isac returned to that analyst, from its memory backend, seeded through a data file, with
//! HTTP Basic authentication. Both are read and written by the same blocking keep-alive client
//! with the TAXII media types, so the figures differ only by the server.
//!
//! Reads: the first page (`limit=100`) requested again and again, with 1 and more clients, and
//! a walk by `next` from the first page onwards, each page timed. medallion's `next` is a
//! server-side session consumed as it is followed, so a walk is the only way to time its deep
//! pages; isac's is a stateless cursor, so its deepest full page reached by the walk (the last
//! page that held `limit` objects: a collection's last page is usually short, and a short page
//! is cheaper, so comparing it across sizes would compare unlike requests) is also timed on its
//! own.
//! medallion is measured size by size until it stops being usable: once its first page takes
//! longer than `--medallion-slow` seconds, or its start-up longer than `--medallion-start`
//! seconds, larger sizes are not run and the table says why.
//!
//! Writes: envelopes of 100 and 1,000 new objects posted one after another for a fixed time to
//! isac's submission collection on a new store, and to a new medallion's read-write collection.
//! An envelope counts when the server answered 202 with every object a success.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use chrono::{TimeZone, Utc};
use isac_model::Tlp;
use isac_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::corpus::{self, Cast};
use crate::db::Db;
use crate::http::{Server, short};
use crate::stats::{Table, median, ms, percentile, rate};

const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
const PAGE: usize = 100;
const WARMUP: usize = 2;
const MIN_SAMPLES: usize = 5;
/// Each client's minimum in the multi-client case.
const CONCURRENT_MIN_SAMPLES: usize = 2;
/// Objects per [`Store::import`] call while loading.
const IMPORT_CHUNK: u64 = isac_store::IMPORT_CHUNK as u64;

const ISAC_ALL: &str = "4290e3b7-e55f-40c4-98ba-2051140b14b4";
const ISAC_SUBMIT: &str = "2de7d7a9-31af-446e-9a31-89e65969db20";
const MEDALLION_READ: &str = "6c0a1f3e-2b4d-4c5e-8f60-7a8b9c0d1e01";
const MEDALLION_WRITE: &str = "6c0a1f3e-2b4d-4c5e-8f60-7a8b9c0d1e02";
const MEDALLION_USER: &str = "bench";
const MEDALLION_PASSWORD: &str = "bench-pass";

pub struct Options {
    pub sizes: Vec<u64>,
    pub runs: usize,
    pub samples: usize,
    pub max_seconds: f64,
    pub clients: Vec<usize>,
    pub walk_pages: u64,
    pub walk_seconds: f64,
    pub medallion_slow: f64,
    pub medallion_start: f64,
    pub medallion_probe: f64,
    pub envelopes: Vec<usize>,
    pub write_runs: usize,
    pub write_seconds: f64,
    pub skip_reads: bool,
    pub skip_writes: bool,
}

// ------------------------------------------------------------------------------- the client

/// One keep-alive connection to one TAXII collection's objects endpoint.
struct Taxii {
    agent: ureq::Agent,
    objects: String,
    auth: String,
}

struct Reply {
    elapsed: Duration,
    status: u16,
    body: String,
}

impl Taxii {
    fn new(objects: &str, auth: &str) -> Taxii {
        Taxii::with_timeout(objects, auth, Duration::from_secs(600))
    }

    fn with_timeout(objects: &str, auth: &str, timeout: Duration) -> Taxii {
        Taxii {
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .max_idle_connections_per_host(1)
                .build(),
            objects: objects.to_owned(),
            auth: auth.to_owned(),
        }
    }

    fn get(&self, query: &str) -> Result<Reply> {
        let req = self
            .agent
            .get(&format!("{}{query}", self.objects))
            .set("Accept", MEDIA_TAXII)
            .set("Authorization", &self.auth);
        let started = Instant::now();
        finish(started, req.call())
    }

    fn post(&self, body: &[u8]) -> Result<Reply> {
        let req = self
            .agent
            .post(&self.objects)
            .set("Accept", MEDIA_TAXII)
            .set("Content-Type", MEDIA_TAXII)
            .set("Authorization", &self.auth);
        let started = Instant::now();
        finish(started, req.send_bytes(body))
    }

    /// A page that must answer 200: its objects and the `next` to follow, if more.
    fn page(&self, query: &str) -> Result<(Duration, Vec<Value>, Option<String>)> {
        let r = self.get(query)?;
        if r.status != 200 {
            bail!("GET {query} answered {}: {}", r.status, short(&r.body));
        }
        let mut v: Value =
            serde_json::from_str(&r.body).context("a TAXII page that is not JSON")?;
        let objects = match v.get_mut("objects").map(Value::take) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let more = v["more"].as_bool().unwrap_or(false);
        let next = if more {
            v["next"].as_str().map(str::to_owned)
        } else {
            None
        };
        Ok((r.elapsed, objects, next))
    }
}

fn finish(started: Instant, r: Result<ureq::Response, ureq::Error>) -> Result<Reply> {
    let resp = match r {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => return Err(e).context("HTTP request"),
    };
    let status = resp.status();
    let body = resp.into_string().context("reading the response body")?;
    Ok(Reply {
        elapsed: started.elapsed(),
        status,
        body,
    })
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn first_query() -> String {
    format!("?limit={PAGE}")
}

fn next_query(next: &str) -> String {
    format!("?limit={PAGE}&next={}", encode(next))
}

/// Where and how to reach one server's collection.
#[derive(Clone)]
struct Target {
    objects: String,
    auth: String,
}

impl Target {
    fn client(&self) -> Taxii {
        Taxii::new(&self.objects, &self.auth)
    }
}

// ------------------------------------------------------------------------------ medallion

/// A medallion process on 127.0.0.1 serving a seeded memory backend.
struct Medallion {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    dir: PathBuf,
    started_in: Duration,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn date_added(k: usize) -> String {
    let t = Utc
        .with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
        .single()
        .expect("a valid fixed instant")
        + chrono::Duration::milliseconds(k as i64);
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn medallion_collection(id: &str, title: &str, write: bool, objects: Vec<Value>) -> Value {
    let manifest: Vec<Value> = objects
        .iter()
        .enumerate()
        .map(|(k, o)| {
            json!({
                "id": o["id"],
                "date_added": date_added(k),
                "version": o.get("modified").or_else(|| o.get("created")).cloned().unwrap_or(Value::Null),
                "media_type": "application/stix+json;version=2.1",
            })
        })
        .collect();
    json!({
        "id": id,
        "title": title,
        "description": format!("{title} collection"),
        "can_read": true,
        "can_write": write,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": objects,
        "manifest": manifest,
    })
}

impl Medallion {
    /// Starts medallion with `objects` in its read-only collection and an empty read-write one.
    fn start(data_dir: &Path, objects: Vec<Value>) -> Result<Medallion> {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            bail!(
                "{} is missing: run scripts/setup-test-env to create the virtualenv with medallion",
                python.display()
            );
        }
        let dir = data_dir.join(format!(
            "medallion-{}-{:08x}",
            std::process::id(),
            rand::thread_rng().r#gen::<u32>()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let data = json!({
            "/discovery": {
                "title": "isac-bench medallion",
                "description": "medallion with a seeded memory backend",
                "default": "http://127.0.0.1/bench/",
                "api_roots": ["http://127.0.0.1/bench/"],
            },
            "bench": {
                "information": {
                    "title": "Benchmark API root",
                    "description": "a read-only collection seeded with the corpus, a read-write one",
                    "versions": [MEDIA_TAXII],
                    "max_content_length": 104_857_600,
                },
                "status": [],
                "collections": [
                    medallion_collection(MEDALLION_READ, "Corpus", false, objects),
                    medallion_collection(MEDALLION_WRITE, "Writes", true, Vec::new()),
                ],
            },
        });
        let data_path = dir.join("data.json");
        std::fs::write(&data_path, serde_json::to_vec(&data)?)
            .with_context(|| format!("writing {}", data_path.display()))?;
        drop(data);
        let config = json!({
            "users": { MEDALLION_USER: MEDALLION_PASSWORD },
            "taxii": { "max_page_size": PAGE },
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data_path,
                // Every first page that has more saves the rest as a session until it expires.
                "session_timeout": 120,
                "check_interval": 10,
            },
        });
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let log = std::fs::File::create(dir.join("medallion.log"))?;
        let started = Instant::now();
        let mut child = Command::new(&python)
            .arg(root.join("tests/medallion/serve.py"))
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let started_in = started.elapsed();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("medallion.log")).unwrap_or_default();
            bail!("medallion did not start (stdout {line:?}); its log:\n{log}");
        };
        Ok(Medallion {
            child,
            stdin,
            port,
            dir,
            started_in,
        })
    }

    fn target(&self, collection: &str) -> Target {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{MEDALLION_USER}:{MEDALLION_PASSWORD}"));
        Target {
            objects: format!(
                "http://127.0.0.1:{}/bench/collections/{collection}/objects/",
                self.port
            ),
            auth: format!("Basic {token}"),
        }
    }

    /// Resident memory of the server process, in MiB.
    fn rss_mib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: u64 = s
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb / 1024)
    }

    fn data_mib(&self) -> u64 {
        std::fs::metadata(self.dir.join("data.json")).map_or(0, |m| m.len() / (1024 * 1024))
    }
}

impl Drop for Medallion {
    fn drop(&mut self) {
        // Closing stdin ends the server; kill it if it does not go.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ------------------------------------------------------------------------------ the corpus

/// Brings the store to `n` corpus objects ([`corpus::load`]), from what it holds. Returns the
/// objects stored now and the seconds spent, if any were added.
async fn top_up(
    db: &Db,
    store: &Store,
    cast: &Cast,
    seed: u64,
    n: u64,
) -> Result<(u64, Option<f64>)> {
    let l = corpus::load(db, store, cast, seed, n, IMPORT_CHUNK).await?;
    Ok((l.stored, (l.stored > l.found).then_some(l.seconds)))
}

/// How many of the first `n` corpus objects the reader may read.
fn readable(cast: &Cast, seed: u64, n: u64) -> u64 {
    (0..n)
        .filter(|&i| corpus::corpus_draft(cast, seed, i).readable_by_reader(cast))
        .count() as u64
}

// ------------------------------------------------------------------------------ the reads

/// One request kind measured on one server at one size.
struct ReadRow {
    size: u64,
    server: &'static str,
    request: String,
    clients: usize,
    /// Requests per second of each round.
    rates: Vec<f64>,
    latencies: Vec<Duration>,
    note: String,
}

impl ReadRow {
    fn rate(&self) -> f64 {
        median(&self.rates)
    }
}

/// Requests the same page again and again from one connection: up to `samples` times or
/// `max_seconds`, at least [`MIN_SAMPLES`].
fn repeat(t: &Target, query: &str, o: &Options) -> Result<(f64, Vec<Duration>)> {
    let c = t.client();
    for _ in 0..WARMUP {
        let r = c.get(query)?;
        if r.status != 200 {
            bail!("GET {query} answered {}: {}", r.status, short(&r.body));
        }
    }
    let started = Instant::now();
    let mut lat = Vec::new();
    while lat.len() < o.samples
        && (lat.len() < MIN_SAMPLES || started.elapsed().as_secs_f64() < o.max_seconds)
    {
        let r = c.get(query)?;
        if r.status != 200 {
            bail!("GET {query} answered {}", r.status);
        }
        lat.push(r.elapsed);
    }
    Ok((lat.len() as f64 / started.elapsed().as_secs_f64(), lat))
}

/// `clients` connections requesting the first page for `max_seconds` (at least
/// [`CONCURRENT_MIN_SAMPLES`] each).
fn concurrent(t: &Target, clients: usize, o: &Options) -> Result<(f64, Vec<Duration>)> {
    let barrier = Barrier::new(clients + 1);
    let (wall, joined) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let c = t.client();
                    c.get(&first_query())?;
                    barrier.wait();
                    let started = Instant::now();
                    let mut lat = Vec::new();
                    while lat.len() < CONCURRENT_MIN_SAMPLES
                        || started.elapsed().as_secs_f64() < o.max_seconds
                    {
                        let r = c.get(&first_query())?;
                        if r.status != 200 {
                            bail!("GET first page answered {}", r.status);
                        }
                        lat.push(r.elapsed);
                    }
                    Ok(lat)
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let joined: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a client thread panicked"))
            .collect();
        (started.elapsed(), joined)
    });
    let mut lat = Vec::new();
    for j in joined {
        lat.extend(j?);
    }
    Ok((lat.len() as f64 / wall.as_secs_f64(), lat))
}

/// A walk by `next` from the first page.
struct Walk {
    /// Latency of each page after the first.
    lat: Vec<Duration>,
    wall: Duration,
    pages: u64,
    objects: u64,
    complete: bool,
    /// The query and number of the deepest page reached that held a whole page of objects.
    last_full: Option<(String, u64)>,
    collected: Vec<Value>,
}

fn walk(t: &Target, max_pages: u64, max_seconds: f64, collect: bool) -> Result<Walk> {
    let c = t.client();
    let (_, first, mut next) = c.page(&first_query())?;
    let mut w = Walk {
        lat: Vec::new(),
        wall: Duration::ZERO,
        pages: 1,
        objects: first.len() as u64,
        complete: false,
        last_full: None,
        collected: if collect { first } else { Vec::new() },
    };
    let started = Instant::now();
    while let Some(n) = next.take() {
        if !collect && (w.pages >= max_pages || started.elapsed().as_secs_f64() >= max_seconds) {
            // Stopped before the end: the collection goes on.
            next = Some(n);
            break;
        }
        let q = next_query(&n);
        let (elapsed, objects, more) = c.page(&q)?;
        w.lat.push(elapsed);
        w.pages += 1;
        w.objects += objects.len() as u64;
        if objects.len() == PAGE {
            w.last_full = Some((q, w.pages));
        }
        if collect {
            w.collected.extend(objects);
        }
        next = more;
        if w.pages.is_multiple_of(1000) {
            eprintln!(
                "    walked {} pages in {:.0} s",
                w.pages,
                started.elapsed().as_secs_f64()
            );
        }
    }
    w.wall = started.elapsed();
    w.complete = next.is_none();
    Ok(w)
}

/// Every read measurement of one server at one size. `collect`: the first walk keeps every
/// object (to seed medallion with).
fn measure(
    server: &'static str,
    size: u64,
    t: &Target,
    o: &Options,
    deep_repeatable: bool,
    collect: bool,
) -> Result<(Vec<ReadRow>, Vec<Value>, Option<u64>)> {
    let mut first = ReadRow {
        size,
        server,
        request: "first page".into(),
        clients: 1,
        rates: Vec::new(),
        latencies: Vec::new(),
        note: String::new(),
    };
    let mut many: Vec<ReadRow> = o
        .clients
        .iter()
        .filter(|&&c| c > 1)
        .map(|&c| ReadRow {
            size,
            server,
            request: "first page".into(),
            clients: c,
            rates: Vec::new(),
            latencies: Vec::new(),
            note: String::new(),
        })
        .collect();
    let mut walked = ReadRow {
        size,
        server,
        request: "walk by next".into(),
        clients: 1,
        rates: Vec::new(),
        latencies: Vec::new(),
        note: String::new(),
    };
    let mut deep: Option<ReadRow> = None;
    let mut collected = Vec::new();
    let mut total = None;
    for run in 0..o.runs {
        eprintln!("  {server}, {size} objects: round {}/{}", run + 1, o.runs);
        let (r, lat) = repeat(t, &first_query(), o)?;
        first.rates.push(r);
        first.latencies.extend(lat);
        for m in &mut many {
            let (r, lat) = concurrent(t, m.clients, o)?;
            m.rates.push(r);
            m.latencies.extend(lat);
        }
        let w = walk(t, o.walk_pages, o.walk_seconds, collect && run == 0)?;
        if w.complete {
            total = Some(w.objects);
        }
        if !w.lat.is_empty() {
            walked.rates.push(w.lat.len() as f64 / w.wall.as_secs_f64());
        }
        walked.note = format!(
            "pages 2..{} ({} objects{})",
            w.pages,
            w.objects,
            if w.complete {
                ", the whole collection"
            } else {
                ""
            }
        );
        walked.latencies.extend(w.lat);
        if run == 0 {
            collected = w.collected;
        }
        if deep_repeatable && let Some((q, page)) = &w.last_full {
            let (r, lat) = repeat(t, q, o)?;
            let row = deep.get_or_insert_with(|| ReadRow {
                size,
                server,
                request: "deepest full page by cursor, repeated".into(),
                clients: 1,
                rates: Vec::new(),
                latencies: Vec::new(),
                note: String::new(),
            });
            row.note = format!("page {page}");
            row.rates.push(r);
            row.latencies.extend(lat);
        }
    }
    let mut rows = vec![first];
    rows.extend(many);
    if !walked.latencies.is_empty() {
        rows.push(walked);
    }
    rows.extend(deep);
    for r in &rows {
        eprintln!(
            "    {} {} x{}: {} req/s, p50 {} ms, p99 {} ms",
            r.server,
            r.request,
            r.clients,
            rate(r.rate()),
            ms(percentile(&r.latencies, 50.0)),
            ms(percentile(&r.latencies, 99.0))
        );
    }
    Ok((rows, collected, total))
}

struct SizeInfo {
    size: u64,
    readable: u64,
    listed: Option<u64>,
    import_secs: Option<f64>,
    medallion: String,
}

fn reads_table(rows: &[ReadRow]) -> String {
    let mut t = Table::new(&[
        "stored objects",
        "server",
        "request (limit=100)",
        "clients",
        "requests/s (median of rounds)",
        "requests/s of each round",
        "p50 ms",
        "p99 ms",
        "samples",
        "note",
    ]);
    for r in rows {
        t.row(vec![
            r.size.to_string(),
            r.server.into(),
            r.request.clone(),
            r.clients.to_string(),
            rate(r.rate()),
            r.rates
                .iter()
                .map(|x| rate(*x))
                .collect::<Vec<_>>()
                .join(" / "),
            ms(percentile(&r.latencies, 50.0)),
            ms(percentile(&r.latencies, 99.0)),
            r.latencies.len().to_string(),
            r.note.clone(),
        ]);
    }
    t.render()
}

fn ratio_table(rows: &[ReadRow]) -> String {
    let mut t = Table::new(&[
        "stored objects",
        "request",
        "clients",
        "isac req/s",
        "medallion req/s",
        "isac / medallion",
        "isac p50 ms",
        "medallion p50 ms",
    ]);
    for m in rows.iter().filter(|r| r.server == "medallion") {
        let Some(i) = rows.iter().find(|r| {
            r.server == "isac"
                && r.size == m.size
                && r.request == m.request
                && r.clients == m.clients
        }) else {
            continue;
        };
        t.row(vec![
            m.size.to_string(),
            m.request.clone(),
            m.clients.to_string(),
            rate(i.rate()),
            rate(m.rate()),
            format!("{:.0}×", i.rate() / m.rate()),
            ms(percentile(&i.latencies, 50.0)),
            ms(percentile(&m.latencies, 50.0)),
        ]);
    }
    t.render()
}

fn growth_table(rows: &[ReadRow], sizes: &[u64]) -> String {
    let Some(&smallest) = sizes.first() else {
        return String::new();
    };
    let mut t = Table::new(&[
        "isac request",
        "stored objects",
        "p50 ms",
        "p99 ms",
        &format!("p50 / p50 at {smallest}"),
    ]);
    for r in rows.iter().filter(|r| r.server == "isac" && r.clients == 1) {
        let base = rows.iter().find(|b| {
            b.server == "isac" && b.size == smallest && b.clients == 1 && b.request == r.request
        });
        let p50 = percentile(&r.latencies, 50.0);
        t.row(vec![
            if r.note.is_empty() {
                r.request.clone()
            } else {
                format!("{} ({})", r.request, r.note)
            },
            r.size.to_string(),
            ms(p50),
            ms(percentile(&r.latencies, 99.0)),
            base.map_or_else(
                || "-".into(),
                |b| {
                    format!(
                        "{:.2}",
                        p50.as_secs_f64() / percentile(&b.latencies, 50.0).as_secs_f64()
                    )
                },
            ),
        ]);
    }
    t.render()
}

fn sizes_table(infos: &[SizeInfo]) -> String {
    let mut t = Table::new(&[
        "stored objects",
        "of them readable by the reader",
        "TAXII objects listed to the reader",
        "isac import s",
        "medallion",
    ]);
    for s in infos {
        t.row(vec![
            s.size.to_string(),
            s.readable.to_string(),
            s.listed.map_or_else(|| "-".into(), |n| n.to_string()),
            s.import_secs
                .map_or_else(|| "reused".into(), |x| format!("{x:.1}")),
            s.medallion.clone(),
        ]);
    }
    t.render()
}

// ------------------------------------------------------------------------------ the writes

struct WriteRun {
    objects: usize,
    envelopes: usize,
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    bytes: usize,
}

/// A new STIX 2.1 object as a client would send it: an id of its own, a TLP marking (AMBER
/// for the corpus's AMBER+STRICT and RED, which need a named audience).
fn write_object(cast: &Cast, rng: &mut StdRng) -> Value {
    let tag = format!("t{:016x}", rng.r#gen::<u64>());
    let d = corpus::write_draft(cast, rng, &tag);
    let mut o: Map<String, Value> = d.object;
    let t = o["type"].as_str().unwrap_or("indicator").to_owned();
    let id = uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid();
    o.insert("id".into(), Value::String(format!("{t}--{id}")));
    o.insert("spec_version".into(), json!("2.1"));
    o.insert("created".into(), json!("2025-06-01T00:00:00.000Z"));
    o.insert("modified".into(), json!("2025-06-01T00:00:00.000Z"));
    let tlp = match d.tlp {
        Tlp::Clear | Tlp::Green => d.tlp,
        _ => Tlp::Amber,
    };
    o.insert("object_marking_refs".into(), json!([tlp.marking_id_v2()]));
    Value::Object(o)
}

fn drive_writes(t: &Target, cast: &Cast, per: usize, seconds: f64, seed: u64) -> Result<WriteRun> {
    let c = t.client();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut run = WriteRun {
        objects: 0,
        envelopes: 0,
        errors: 0,
        wall: Duration::ZERO,
        latencies: Vec::new(),
        bytes: 0,
    };
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < seconds {
        let objects: Vec<Value> = (0..per).map(|_| write_object(cast, &mut rng)).collect();
        let body = serde_json::to_vec(&json!({ "objects": objects }))?;
        run.bytes = body.len();
        let r = c.post(&body)?;
        let ok = r.status == 202
            && serde_json::from_str::<Value>(&r.body)
                .ok()
                .and_then(|v| v["success_count"].as_u64())
                == Some(per as u64);
        if ok {
            run.envelopes += 1;
            run.objects += per;
            run.latencies.push(r.elapsed);
        } else {
            if run.errors == 0 {
                eprintln!("  POST answered {}: {}", r.status, short(&r.body));
            }
            run.errors += 1;
        }
    }
    run.wall = started.elapsed();
    Ok(run)
}

fn writes_table(results: &[(&'static str, usize, Vec<WriteRun>)]) -> String {
    let mut t = Table::new(&[
        "server",
        "objects per envelope",
        "objects/s (median of rounds)",
        "objects/s of each round",
        "envelope p50 ms",
        "envelope p99 ms",
        "envelopes (all rounds)",
        "errors",
        "envelope size",
    ]);
    for (server, per, runs) in results {
        let obj: Vec<f64> = runs
            .iter()
            .map(|r| r.objects as f64 / r.wall.as_secs_f64())
            .collect();
        let lat: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.clone()).collect();
        t.row(vec![
            (*server).into(),
            per.to_string(),
            rate(median(&obj)),
            obj.iter().map(|x| rate(*x)).collect::<Vec<_>>().join(" / "),
            ms(percentile(&lat, 50.0)),
            ms(percentile(&lat, 99.0)),
            runs.iter().map(|r| r.envelopes).sum::<usize>().to_string(),
            runs.iter().map(|r| r.errors).sum::<usize>().to_string(),
            format!(
                "{} KiB",
                runs.iter()
                    .map(|r| r.bytes)
                    .max()
                    .unwrap_or(0)
                    .div_ceil(1024)
            ),
        ]);
    }
    t.render()
}

fn write_ratio_table(results: &[(&'static str, usize, Vec<WriteRun>)]) -> String {
    let mut t = Table::new(&[
        "objects per envelope",
        "isac objects/s",
        "medallion objects/s",
        "isac / medallion",
    ]);
    let per_sec = |runs: &[WriteRun]| {
        median(
            &runs
                .iter()
                .map(|r| r.objects as f64 / r.wall.as_secs_f64())
                .collect::<Vec<_>>(),
        )
    };
    for (_, per, runs) in results.iter().filter(|r| r.0 == "isac") {
        if let Some((_, _, m)) = results.iter().find(|r| r.0 == "medallion" && r.1 == *per) {
            let (i, m) = (per_sec(runs), per_sec(m));
            t.row(vec![
                per.to_string(),
                rate(i),
                rate(m),
                format!("{:.1}×", i / m),
            ]);
        }
    }
    t.render()
}

// ------------------------------------------------------------------------------ the command

pub fn run(
    rt: &tokio::runtime::Runtime,
    db: &Db,
    data: &Path,
    seed: u64,
    o: &Options,
) -> Result<()> {
    crate::header("TAXII 2.1, isac beside medallion", db);
    let (store, cast, key, server) = rt.block_on(async {
        let store = db.open().await?;
        let cast = Cast::ensure(&store, crate::password_hash).await?;
        let key = crate::api_key(&store, &cast.analysts[0]).await?;
        let server = Server::start(store.clone()).await?;
        anyhow::Ok((store, cast, key, server))
    })?;
    let isac = Target {
        objects: format!(
            "http://{}/taxii2/isac/collections/{ISAC_ALL}/objects/",
            server.addr
        ),
        auth: format!("Bearer {key}"),
    };
    let mut rows: Vec<ReadRow> = Vec::new();
    let mut infos: Vec<SizeInfo> = Vec::new();
    let mut medallion_stop: Option<String> = None;
    let mut medallion_last: Option<(u64, f64)> = None;
    if !o.skip_reads {
        for &size in &o.sizes {
            eprintln!("collection of {size} stored objects");
            let (stored, import_secs) = rt.block_on(async {
                let grown = top_up(db, &store, &cast, seed, size).await?;
                // PostgreSQL: statistics as autovacuum would leave them (SQLite: nothing).
                if grown.1.is_some() {
                    db.settle().await?;
                }
                anyhow::Ok(grown)
            })?;
            if stored != size {
                bail!("the store holds {stored} objects, not {size}: use a new --data directory");
            }
            let readable = readable(&cast, seed, size);
            let mut probe = false;
            if medallion_stop.is_none()
                && let Some((prev, p50)) = medallion_last
                && p50 * size as f64 / prev as f64 > o.medallion_slow
            {
                probe = true;
                medallion_stop = Some(format!(
                    "medallion's first page took {p50:.2} s (p50) at {prev} stored objects; its \
                     memory backend filters the whole collection on every first page in steps that grow \
                     with its square, so even linearly at \
                     {size} it would take about {:.1} s, over the {:.0} s limit",
                    p50 * size as f64 / prev as f64,
                    o.medallion_slow
                ));
            }
            let seed_medallion = medallion_stop.is_none() || probe;
            let (r, collected, listed) = measure("isac", size, &isac, o, true, seed_medallion)?;
            rows.extend(r);
            // medallion 3.0.0 answers 500 to every listing holding an object with a top-level
            // `version` property (an extension definition's), which its version filter reads as
            // a timestamp: such objects are left out of its seed.
            let collected: Vec<Value> = collected
                .into_iter()
                .filter(|v| v.get("version").is_none())
                .collect();
            let note = if probe {
                let count = collected.len();
                eprintln!("  probing medallion with {count} objects: one first page");
                let m = Medallion::start(data, collected)?;
                let t = m.target(MEDALLION_READ);
                let limit = Duration::from_secs_f64(o.medallion_probe);
                let c = Taxii::with_timeout(&t.objects, &t.auth, limit);
                let started = Instant::now();
                let answer = match c.get(&first_query()) {
                    Ok(r) => format!(
                        "one first page answered {} in {:.1} s",
                        r.status,
                        r.elapsed.as_secs_f64()
                    ),
                    Err(_) => format!(
                        "one first page had no answer after {:.0} s",
                        started.elapsed().as_secs_f64()
                    ),
                };
                eprintln!("    medallion: {answer}");
                let out = format!(
                    "probe only, {count} objects, started in {:.1} s: {answer}; not measured \
                     further: {}",
                    m.started_in.as_secs_f64(),
                    medallion_stop.clone().unwrap_or_default()
                );
                drop(m);
                medallion_stop = Some(format!(
                    "at {size} stored objects {answer} (see the sizes table)"
                ));
                out
            } else if let Some(why) = &medallion_stop {
                format!("not run: {why}")
            } else {
                let count = collected.len();
                eprintln!("  starting medallion with {count} objects");
                let m = Medallion::start(data, collected)?;
                let started = m.started_in.as_secs_f64();
                let data_mib = m.data_mib();
                let (r, _, _) = measure(
                    "medallion",
                    size,
                    &m.target(MEDALLION_READ),
                    o,
                    false,
                    false,
                )?;
                let first_p50 = r
                    .first()
                    .map_or(0.0, |f| percentile(&f.latencies, 50.0).as_secs_f64());
                let rss = m.rss_mib().map_or_else(|| "-".into(), |x| x.to_string());
                rows.extend(r);
                drop(m);
                medallion_last = Some((size, first_p50));
                if first_p50 > o.medallion_slow {
                    medallion_stop = Some(format!(
                        "at {size} stored objects medallion's first page took {first_p50:.1} s \
                         (p50), over the {:.0} s limit",
                        o.medallion_slow
                    ));
                } else if started > o.medallion_start {
                    medallion_stop = Some(format!(
                        "at {size} stored objects medallion took {started:.0} s to start, over \
                         the {:.0} s limit",
                        o.medallion_start
                    ));
                }
                format!(
                    "{count} objects, {data_mib} MiB data file, started in {started:.1} s, \
                     {rss} MiB resident after the reads"
                )
            };
            infos.push(SizeInfo {
                size,
                readable,
                listed,
                import_secs,
                medallion: note,
            });
        }
        println!(
            "Reader: a member analyst of a bank in {} sharing groups, by API key (isac) and by \
             HTTP Basic (medallion), reading isac's collection {ISAC_ALL} and a medallion \
             collection seeded with exactly the objects isac listed to that reader (less isac's \
             one extension definition: medallion 3.0.0 answers 500 to any listing holding an \
             object with a top-level `version` property). {} rounds; \
             per round up to {} requests of the first page ({} s cap, at least {MIN_SAMPLES}, \
             after {WARMUP} warm-up requests), {} s of first-page requests per multi-client \
             case, and a walk by `next` of up to {} pages or {} s (medallion and the sizes it \
             is seeded at: the whole collection).\n",
            cast.reader_groups(),
            o.runs,
            o.samples,
            o.max_seconds,
            o.max_seconds,
            o.walk_pages,
            o.walk_seconds
        );
        println!("{}", sizes_table(&infos));
        println!("{}", reads_table(&rows));
        println!("isac beside medallion:\n\n{}", ratio_table(&rows));
        println!(
            "isac's page latency as the collection grows:\n\n{}",
            growth_table(&rows, &o.sizes)
        );
        if let Some(why) = &medallion_stop {
            println!("medallion was not run at larger sizes: {why}.\n");
        }
    }
    rt.block_on(async {
        server.stop().await?;
        db.finish(store).await
    })?;

    if !o.skip_writes {
        let mut results: Vec<(&'static str, usize, Vec<WriteRun>)> = Vec::new();
        for &per in &o.envelopes {
            let mut isac_runs = Vec::new();
            let mut medallion_runs = Vec::new();
            for run in 0..o.write_runs {
                let run_seed = seed ^ ((run as u64) << 48) ^ per as u64;
                eprintln!(
                    "  writes, {per} per envelope, round {}/{}: isac",
                    run + 1,
                    o.write_runs
                );
                let fresh = db.fresh(data);
                let (store, cast, key, server) = rt.block_on(async {
                    let store = fresh.open().await?;
                    let cast = Cast::ensure(&store, crate::password_hash).await?;
                    let key = crate::api_key(&store, &cast.analysts[0]).await?;
                    let server = Server::start(store.clone()).await?;
                    anyhow::Ok((store, cast, key, server))
                })?;
                let t = Target {
                    objects: format!(
                        "http://{}/taxii2/isac/collections/{ISAC_SUBMIT}/objects/",
                        server.addr
                    ),
                    auth: format!("Bearer {key}"),
                };
                let r = drive_writes(&t, &cast, per, o.write_seconds, run_seed);
                rt.block_on(async {
                    server.stop().await?;
                    fresh.finish(store).await
                })?;
                isac_runs.push(r?);
                eprintln!(
                    "  writes, {per} per envelope, round {}/{}: medallion",
                    run + 1,
                    o.write_runs
                );
                let m = Medallion::start(data, Vec::new())?;
                medallion_runs.push(drive_writes(
                    &m.target(MEDALLION_WRITE),
                    &cast,
                    per,
                    o.write_seconds,
                    run_seed,
                )?);
            }
            results.push(("isac", per, isac_runs));
            results.push(("medallion", per, medallion_runs));
        }
        println!(
            "Writes: envelopes posted one after another by one client for {} s per round, {} \
             rounds, each round on a new isac store (its submission collection {ISAC_SUBMIT}, \
             as a member analyst; SQLite) and a new medallion (an empty read-write collection \
             of its memory backend). An envelope counts when the server answered 202 with \
             every object a success.\n",
            o.write_seconds, o.write_runs
        );
        println!("{}", writes_table(&results));
        println!("{}", write_ratio_table(&results));
    }
    Ok(())
}
