//! Crash safety of acknowledged writes. A real `isac serve` on SQLite is killed with SIGKILL at a
//! random moment while a client streams single and batch writes at it, then restarted, over and
//! over. After every restart each write the server acknowledged (HTTP 201) must be readable, and a
//! batch whose answer was lost in the crash must be there entirely or not at all. At the end the
//! audit chain verifies and SQLite's integrity check answers `ok`.
//!
//! `ISAC_CRASH_SEED` fixes the random delays (default: a fixed seed); `ISAC_CRASH_ROUNDS` the
//! number of kills (default 20).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_isac");
const PASSWORD: &str = "crash-test-Passw0rd!";

/// `isac` with no `ISAC_*` settings inherited from the environment (such as a database URL), so
/// the test always runs on its own SQLite file.
fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ISAC_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn isac(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = command();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start isac");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for isac");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "isac {} failed ({}):\nstdout: {stdout}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The last non-empty line of a command's output: the id or token it prints.
fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("no output in {s:?}"))
        .to_owned()
}

struct Server {
    child: Child,
    base: String,
}

/// Starts `isac serve` on a free port and waits for its listening line.
fn start(data: &Path, log: &Path) -> Server {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open server log");
    let mut child = command()
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("start isac serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut tx = Some(tx);
        // Keep draining stdout after the listening line, so the server never blocks on it.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("isac listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(base) => Server { child, base },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "isac serve printed no listening line within 60 s; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
}

/// A STIX id of the given type, with a random (version 4) UUID.
fn stix_id(rng: &mut StdRng, t: &str) -> String {
    let b: [u8; 16] = rng.r#gen();
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    let v = format!("4{}", &h(6..8)[1..]);
    let var = format!("{:x}{}", 8 | (b[8] & 3), &h(8..10)[1..]);
    format!("{t}--{}-{}-{v}-{var}-{}", h(0..4), h(4..6), h(10..16))
}

fn item(id: &str, n: u64) -> Value {
    json!({
        "object": {
            "type": "indicator",
            "id": id,
            "name": format!("crash test indicator {n}"),
            "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", (n >> 16) & 255, (n >> 8) & 255, n & 255),
            "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z"
        },
        "tlp": "green",
        "recipients": {"orgs": [], "groups": [], "users": []}
    })
}

#[derive(Default)]
struct Log {
    /// Ids of writes answered 201.
    acked: Vec<String>,
    /// Acknowledged write requests.
    acked_requests: u64,
    /// Batches sent whose answer never came: each must be all there or all absent.
    in_doubt: Vec<Vec<String>>,
    /// Anything unexpected: an error status, or a transport error before the kill.
    unexpected: Vec<String>,
}

/// Streams writes until the server dies. Every fourth request is a batch of 2 to 8 objects.
fn writer(
    base: String,
    token: String,
    seed: u64,
    counter: u64,
    killing: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let agent = agent();
    let auth = format!("Bearer {token}");
    let mut n = counter;
    loop {
        let batch = rng.gen_ratio(1, 4);
        let size = if batch { rng.gen_range(2..=8) } else { 1 };
        let ids: Vec<String> = (0..size).map(|_| stix_id(&mut rng, "indicator")).collect();
        let items: Vec<Value> = ids
            .iter()
            .map(|id| {
                n += 1;
                item(id, n)
            })
            .collect();
        let (url, body) = if batch {
            (
                format!("{base}/api/v1/objects/batch"),
                json!({ "items": items }),
            )
        } else {
            (format!("{base}/api/v1/objects"), items[0].clone())
        };
        let res = agent.post(&url).set("Authorization", &auth).send_json(body);
        let mut log = log.lock().expect("log");
        match res {
            Ok(r) if r.status() == 201 => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                let got: Vec<String> = if batch {
                    v["ids"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    v["id"]
                        .as_str()
                        .map(|s| vec![s.to_owned()])
                        .unwrap_or_default()
                };
                if got != ids {
                    log.unexpected
                        .push(format!("201 for {ids:?} answered ids {got:?}"));
                }
                log.acked.extend(ids);
                log.acked_requests += 1;
            }
            Ok(r) => {
                let status = r.status();
                log.unexpected.push(format!(
                    "{url} answered {status}: {}",
                    r.into_string().unwrap_or_default()
                ));
                return;
            }
            Err(ureq::Error::Status(status, r)) => {
                log.unexpected.push(format!(
                    "{url} answered {status}: {}",
                    r.into_string().unwrap_or_default()
                ));
                return;
            }
            Err(e) => {
                if killing.load(Ordering::SeqCst) {
                    log.in_doubt.push(ids);
                } else {
                    log.unexpected
                        .push(format!("{url} failed before the kill: {e}"));
                }
                return;
            }
        }
    }
}

fn get_status(agent: &ureq::Agent, base: &str, token: &str, id: &str) -> u16 {
    match agent
        .get(&format!("{base}/api/v1/objects/{id}"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("GET {id}: {e}"),
    }
}

/// Every object id the caller may list.
fn listed_ids(agent: &ureq::Agent, base: &str, token: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = agent
            .get(&format!("{base}/api/v1/objects"))
            .set("Authorization", &format!("Bearer {token}"))
            .query("limit", "500");
        if let Some(c) = &cursor {
            req = req.query("cursor", c);
        }
        let v: Value = req
            .call()
            .expect("list objects")
            .into_json()
            .expect("JSON page");
        for o in v["objects"].as_array().expect("objects array") {
            ids.insert(o["id"].as_str().expect("id").to_owned());
        }
        match v["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return ids,
        }
    }
}

/// Checks what survived a crash: every acknowledged id, and all-or-nothing for requests in doubt.
/// Returns how many requests in doubt were stored (the rest are absent entirely).
fn check(base: &str, token: &str, log: &Log, fresh: &[String]) -> usize {
    let agent = agent();
    let listed = listed_ids(&agent, base, token);
    let missing: Vec<&String> = log
        .acked
        .iter()
        .filter(|id| !listed.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are missing after restart, e.g. {:?}",
        missing.len(),
        log.acked.len(),
        &missing[..missing.len().min(5)]
    );
    for id in fresh {
        let s = get_status(&agent, base, token, id);
        assert_eq!(s, 200, "acknowledged {id} answers {s} after restart");
    }
    let mut stored = 0;
    for batch in &log.in_doubt {
        let present: Vec<bool> = batch.iter().map(|id| listed.contains(id)).collect();
        assert!(
            present.iter().all(|p| *p) || present.iter().all(|p| !*p),
            "a batch cut by the crash is partly stored: {batch:?} -> {present:?}"
        );
        stored += usize::from(present.iter().all(|p| *p));
    }
    stored
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let d = std::env::temp_dir().join(format!("isac-crash-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed: u64 = std::env::var("ISAC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x15ac_c4a5);
    let rounds: usize = std::env::var("ISAC_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = StdRng::seed_from_u64(seed);
    let root = temp_dir();
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("create data dir");
    let log_path = root.join("server.log");
    let d = data.to_str().expect("utf-8 temp path");
    let started = Instant::now();

    isac(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "Crash ISAC",
            "--kind",
            "operator",
        ],
        None,
    );
    let org = last_line(&isac(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "Crash Bank",
            "--kind",
            "member",
            "--sector",
            "bank",
        ],
        None,
    ));
    isac(
        &[
            "user",
            "add",
            "--data",
            d,
            "--org",
            &org,
            "--email",
            "writer@crash.example",
            "--role",
            "member-analyst",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let token = last_line(&isac(
        &[
            "apikey",
            "create",
            "--data",
            d,
            "--user",
            "writer@crash.example",
        ],
        None,
    ));

    let log = Arc::new(Mutex::new(Log::default()));
    let mut checked = 0usize;
    let mut counter = 0u64;
    for round in 0..rounds {
        let mut server = start(&data, &log_path);
        {
            let l = log.lock().expect("log");
            check(&server.base, &token, &l, &l.acked[checked..]);
            checked = l.acked.len();
        }
        let killing = Arc::new(AtomicBool::new(false));
        let w = {
            let (base, token, killing, log) = (
                server.base.clone(),
                token.clone(),
                killing.clone(),
                log.clone(),
            );
            let s = rng.r#gen();
            let c = counter;
            thread::spawn(move || writer(base, token, s, c, killing, log))
        };
        counter += 1_000_000;
        let delay = Duration::from_millis(rng.gen_range(50..=400));
        thread::sleep(delay);
        killing.store(true, Ordering::SeqCst);
        server.child.kill().expect("SIGKILL the server");
        server.child.wait().expect("reap the server");
        w.join().expect("writer thread");
        let l = log.lock().expect("log");
        assert!(
            l.unexpected.is_empty(),
            "round {round}: unexpected answers: {:?}\nserver log:\n{}",
            l.unexpected,
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    // One last restart: everything acknowledged is there.
    let in_doubt_stored;
    let mut server = start(&data, &log_path);
    {
        let l = log.lock().expect("log");
        in_doubt_stored = check(&server.base, &token, &l, &l.acked[checked..]);
        // The final round reads every acknowledged id one by one as well.
        let agent = agent();
        for id in &l.acked {
            assert_eq!(get_status(&agent, &server.base, &token, id), 200, "{id}");
        }
    }
    server.child.kill().expect("stop the server");
    server.child.wait().expect("reap the server");

    let l = log.lock().expect("log");
    assert!(l.acked_requests > 0, "no write was acknowledged");
    let verify = isac(&["audit", "verify", "--data", d], None);
    let records: u64 = verify
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("`isac audit verify` printed no record count: {verify}"));
    assert!(
        verify.trim_start().starts_with("ok"),
        "audit verify: {verify}"
    );
    assert!(
        records >= l.acked_requests,
        "{records} audit records for {} acknowledged write requests",
        l.acked_requests
    );

    let db = data.join("isac.db");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let integrity = rt.block_on(async {
        let store = isac_store::Store::open(&isac_store::Location::SqliteFile(db.clone()))
            .await
            .expect("open the database");
        let r = store.integrity_check().await.expect("integrity check");
        store.close().await;
        r
    });
    assert_eq!(integrity, "ok", "PRAGMA integrity_check");

    println!(
        "crash test: {rounds} kills, {} acknowledged writes, all present ({} requests; {} cut by a kill: {} stored whole, {} absent whole); audit chain ok ({records} records); integrity_check ok; seed {seed}; {:.1}s",
        l.acked.len(),
        l.acked_requests,
        l.in_doubt.len(),
        in_doubt_stored,
        l.in_doubt.len() - in_doubt_stored,
        started.elapsed().as_secs_f64()
    );
    drop(l);
    let _ = std::fs::remove_dir_all(&root);
}
