//! The client against medallion, the OASIS TAXII 2.1 reference server, run on loopback from the
//! test virtualenv (`scripts/setup-test-env`). Every test starts its own server with its own
//! seeded memory backend, so tests run in parallel and never see each other's pushes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use isac_taxii::{
    AddressClass, ApiRoot, Auth, Client, ClientConfig, Collection, Error, IpNetwork, ObjectFilter,
    OutboundPolicy, PollOptions, PollStateFile, PushOptions, VersionMatch,
};
use serde_json::{Value, json};

const USER: &str = "alice";
const PASSWORD: &str = "alice-pass";
const PAGE_SIZE: usize = 10;
const MAX_CONTENT_LENGTH: usize = 4096;

const RO: &str = "2c0d4d6a-6d1e-4b61-9d0c-3a6f1e2b7a01";
const RW: &str = "7f4e3b2a-1c5d-4e8f-9a0b-1c2d3e4f5a02";
const WO: &str = "b1a2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c03";

// ---------------------------------------------------------------------------------------------
// The seed: what medallion starts with.

/// Indicators, malware and threat actors (STIX 2.1) and identities (STIX 2.0, no
/// `spec_version`), one version each, plus a second version of the first few indicators.
const INDICATORS: usize = 20;
const MALWARE: usize = 10;
const THREAT_ACTORS: usize = 8;
const IDENTITIES_20: usize = 2;
const SECOND_VERSIONS: usize = 7;
const SEEDED_IDS: usize = INDICATORS + MALWARE + THREAT_ACTORS + IDENTITIES_20;
const SEEDED_VERSIONS: usize = SEEDED_IDS + SECOND_VERSIONS;
const RW_SEEDED: usize = 3;

struct Record {
    object: Value,
    date_added: DateTime<Utc>,
}

fn id_of(ty: &str, n: usize) -> String {
    format!("{ty}--00000000-0000-4000-8000-{n:012}")
}

const CREATED: &str = "2025-01-01T00:00:00.000Z";
const MODIFIED_2: &str = "2025-01-02T00:00:00.000Z";

fn sdo(ty: &str, n: usize, modified: &str, spec_21: bool) -> Value {
    let mut o = json!({
        "type": ty,
        "id": id_of(ty, n),
        "created": CREATED,
        "modified": modified,
        "name": format!("{ty} {n}"),
    });
    if spec_21 {
        o["spec_version"] = json!("2.1");
    }
    match ty {
        "indicator" => {
            o["pattern"] = json!(format!("[domain-name:value = 'bad{n}.example']"));
            o["pattern_type"] = json!("stix");
            o["valid_from"] = json!(CREATED);
        }
        "malware" => o["is_family"] = json!(true),
        "identity" => o["identity_class"] = json!("organization"),
        _ => {}
    }
    o
}

/// The read-only collection's records, in `date_added` order: one second apart, with
/// microseconds so their precision is exercised.
fn seed_ro() -> Vec<Record> {
    let mut objects = Vec::new();
    for n in 0..INDICATORS {
        objects.push(sdo("indicator", n, CREATED, true));
    }
    for n in 0..MALWARE {
        objects.push(sdo("malware", n, CREATED, true));
    }
    for n in 0..THREAT_ACTORS {
        objects.push(sdo("threat-actor", n, CREATED, true));
    }
    for n in 0..IDENTITIES_20 {
        objects.push(sdo("identity", n, CREATED, false));
    }
    for n in 0..SECOND_VERSIONS {
        objects.push(sdo("indicator", n, MODIFIED_2, true));
    }
    objects
        .into_iter()
        .enumerate()
        .map(|(k, object)| Record {
            object,
            date_added: ro_date_added(k),
        })
        .collect()
}

fn ro_date_added(k: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds(k as i64)
        + chrono::Duration::microseconds(123_456)
}

fn seed_rw() -> Vec<Record> {
    (0..RW_SEEDED)
        .map(|n| Record {
            object: sdo("indicator", 900 + n, CREATED, true),
            date_added: Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, n as u32).unwrap(),
        })
        .collect()
}

fn collection_json(id: &str, title: &str, read: bool, write: bool, records: &[Record]) -> Value {
    let manifest: Vec<Value> = records
        .iter()
        .map(|r| {
            let spec = r
                .object
                .get("spec_version")
                .and_then(Value::as_str)
                .unwrap_or("2.0");
            json!({
                "id": r.object["id"],
                "date_added": r.date_added.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                "version": r.object["modified"],
                "media_type": format!("application/stix+json;version={spec}"),
            })
        })
        .collect();
    json!({
        "id": id,
        "title": title,
        "description": format!("{title} collection"),
        "can_read": read,
        "can_write": write,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": records.iter().map(|r| r.object.clone()).collect::<Vec<_>>(),
        "manifest": manifest,
    })
}

fn medallion_data() -> Value {
    json!({
        "/discovery": {
            "title": "isac-taxii test server",
            "description": "medallion with a seeded memory backend",
            "contact": "soc@isac.example",
            "default": "{base}/api1/",
            // A second root on another loopback address, which one test's allow-list leaves out.
            "api_roots": ["{base}/api1/", "http://127.0.0.2:{port}/api1/"],
        },
        "api1": {
            "information": {
                "title": "API root one",
                "description": "read-only, read-write and write-only collections",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": MAX_CONTENT_LENGTH,
            },
            "status": [],
            "collections": [
                collection_json(RO, "Read only", true, false, &seed_ro()),
                collection_json(RW, "Read write", true, true, &seed_rw()),
                collection_json(WO, "Write only", false, true, &[]),
            ],
        },
    })
}

// ---------------------------------------------------------------------------------------------
// The server.

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

struct Medallion {
    child: Child,
    // Held open: medallion exits when its stdin closes.
    _stdin: ChildStdin,
    _stdout: BufReader<ChildStdout>,
    port: u16,
    dir: PathBuf,
}

static SERVERS: AtomicUsize = AtomicUsize::new(0);

impl Medallion {
    fn start() -> Self {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup-test-env to create the test virtualenv with medallion",
            python.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "isac-taxii-medallion-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("data.json");
        std::fs::write(&data, serde_json::to_vec_pretty(&medallion_data()).unwrap()).unwrap();
        let config = json!({
            "users": {USER: PASSWORD},
            "taxii": {"max_page_size": PAGE_SIZE},
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data,
                "session_timeout": 600,
                "check_interval": 60,
            },
        });
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log = std::fs::File::create(dir.join("medallion.log")).unwrap();

        let mut child = Command::new(&python)
            .arg(root.join("tests/medallion/serve.py"))
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = tx.send(line);
            stdout
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("medallion.log")).unwrap_or_default();
            panic!("medallion did not start (stdout {line:?}); its log:\n{log}");
        };
        let stdout = reader.join().unwrap();
        Medallion {
            child,
            _stdin: stdin,
            _stdout: stdout,
            port,
            dir,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn discovery_url(&self) -> String {
        format!("{}/taxii2/", self.base())
    }

    /// A client allowed to reach loopback through the allow-list.
    fn client(&self) -> Client {
        self.client_with(Auth::basic(USER, PASSWORD))
    }

    fn client_with(&self, auth: Auth) -> Client {
        let config = ClientConfig::new(&self.discovery_url())
            .unwrap()
            .auth(auth)
            .outbound(OutboundPolicy::allowing(["127.0.0.0/8"
                .parse::<IpNetwork>()
                .unwrap()]));
        Client::new(config).unwrap()
    }

    fn root(&self) -> ApiRoot {
        self.client().api_root().unwrap()
    }
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn ids(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn unique(items: &[String]) -> BTreeSet<String> {
    let set: BTreeSet<String> = items.iter().cloned().collect();
    assert_eq!(set.len(), items.len(), "duplicates in {items:?}");
    set
}

fn key(o: &Value) -> String {
    format!(
        "{} {}",
        o["id"].as_str().unwrap(),
        o["modified"].as_str().unwrap_or("-")
    )
}

fn count(c: &Collection, filter: ObjectFilter) -> usize {
    c.all_objects(&filter).unwrap().len()
}

/// Indicators new to the read-write collection, each with a pattern of ~150 characters so a
/// dozen fill one request of `MAX_CONTENT_LENGTH`.
fn new_indicators(from: usize, n: usize) -> Vec<Value> {
    (from..from + n)
        .map(|k| {
            let mut o = sdo("indicator", k, CREATED, true);
            o["pattern"] = json!(format!(
                "[url:value = 'https://phish{k}.example/{}']",
                "p".repeat(100)
            ));
            o
        })
        .collect()
}

fn server_error(e: Error) -> isac_taxii::ServerError {
    match e {
        Error::Server(s) => *s,
        other => panic!("expected a server error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn discovery_api_root_and_collections() {
    let m = Medallion::start();
    let client = m.client();

    let discovery = client.discovery().unwrap();
    assert_eq!(discovery.title, "isac-taxii test server");
    let root_url = format!("{}/api1/", m.base());
    assert_eq!(discovery.default.as_deref(), Some(root_url.as_str()));
    assert_eq!(discovery.api_roots[0], root_url);

    // From the discovery endpoint to its default root.
    let root = client.api_root().unwrap();
    assert_eq!(root.url().as_str(), root_url);
    assert_eq!(root.info().title, "API root one");
    assert_eq!(root.info().max_content_length, MAX_CONTENT_LENGTH as u64);
    assert_eq!(
        root.info().versions,
        vec!["application/taxii+json;version=2.1"]
    );

    // A client configured with the API root itself (and no trailing slash) finds it directly.
    let direct = Client::new(
        ClientConfig::new(&format!("{}/api1", m.base()))
            .unwrap()
            .auth(Auth::basic(USER, PASSWORD))
            .outbound(OutboundPolicy::allow_all()),
    )
    .unwrap();
    assert_eq!(direct.api_root().unwrap().info(), root.info());
    assert_eq!(client.api_root_at(&root_url).unwrap().info(), root.info());

    let collections = root.collections().unwrap();
    let flags: Vec<(&str, bool, bool)> = collections
        .iter()
        .map(|c| (c.id.as_str(), c.can_read, c.can_write))
        .collect();
    assert_eq!(
        flags,
        vec![(RO, true, false), (RW, true, true), (WO, false, true)]
    );

    let info = root.collection(RW).info().unwrap();
    assert_eq!(info.title, "Read write");
    assert_eq!(info.media_types, vec!["application/stix+json;version=2.1"]);

    let missing = server_error(root.collection("no-such-collection").info().unwrap_err());
    assert_eq!(missing.status, 404);
    assert!(missing.taxii);
    assert_eq!(missing.title, "ProcessingError");
    assert!(missing.description.unwrap().contains("no-such-collection"));
    println!(
        "discovery, API root and {} collections read",
        collections.len()
    );
}

#[test]
fn paging_reads_every_object_exactly_once() {
    let m = Medallion::start();
    let ro = m.root().collection(RO);

    // Latest versions: one per id, over several pages of the server's page size.
    let mut pages = 0;
    let mut all = Vec::new();
    let mut last_seen: Option<DateTime<Utc>> = None;
    for page in ro.object_pages(&ObjectFilter::new()) {
        let page = page.unwrap();
        pages += 1;
        assert!(page.body.objects.len() <= PAGE_SIZE);
        let (first, last) = (
            page.date_added_first.unwrap(),
            page.date_added_last.unwrap(),
        );
        assert!(
            first <= last && last_seen.is_none_or(|t| t <= first),
            "pages out of order"
        );
        last_seen = Some(last);
        all.extend(page.body.objects);
    }
    let got = unique(&ids(&all));
    let seeded: BTreeSet<String> = seed_ro()
        .iter()
        .map(|r| r.object["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, seeded);
    assert_eq!(all.len(), SEEDED_IDS);
    assert_eq!(pages, SEEDED_IDS.div_ceil(PAGE_SIZE));
    // The later versions are the ones returned.
    for o in &all {
        let n: usize = o["id"].as_str().unwrap()[o["id"].as_str().unwrap().len() - 12..]
            .parse()
            .unwrap();
        let second = o["type"] == "indicator" && n < SECOND_VERSIONS;
        assert_eq!(
            o["modified"],
            if second { MODIFIED_2 } else { CREATED },
            "{}",
            o["id"]
        );
    }

    // Every version, in small pages.
    let filter = ObjectFilter::new().version(VersionMatch::All).limit(4);
    let mut versions = Vec::new();
    let mut small_pages = 0;
    for page in ro.object_pages(&filter) {
        small_pages += 1;
        versions.extend(page.unwrap().body.objects.iter().map(key));
    }
    unique(&versions);
    assert_eq!(versions.len(), SEEDED_VERSIONS);
    assert_eq!(small_pages, SEEDED_VERSIONS.div_ceil(4));

    // The manifest pages the same way.
    let mut records = Vec::new();
    for page in ro.manifest_pages(&ObjectFilter::new().version(VersionMatch::All)) {
        records.extend(page.unwrap().body.objects);
    }
    assert_eq!(records.len(), SEEDED_VERSIONS);
    let dates: Vec<_> = records.iter().map(|r| r.date_added).collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted);
    assert_eq!(records[0].date_added, ro_date_added(0));
    unique(
        &records
            .iter()
            .map(|r| format!("{} {}", r.id, r.version))
            .collect::<Vec<_>>(),
    );

    // A single page with an explicit next token.
    let first = ro.objects(&ObjectFilter::new().limit(5)).unwrap();
    assert!(first.body.more);
    let mut follow = ObjectFilter::new().limit(5);
    follow.next = first.body.next.clone();
    let second = ro.objects(&follow).unwrap();
    assert_eq!(second.body.objects.len(), 5);
    assert!(
        ids(&second.body.objects)
            .iter()
            .all(|id| !ids(&first.body.objects).contains(id))
    );
    println!(
        "paged {SEEDED_IDS} objects in {pages} pages and {SEEDED_VERSIONS} versions in {small_pages} pages, no duplicates"
    );
}

#[test]
fn every_filter() {
    let m = Medallion::start();
    let ro = m.root().collection(RO);
    let seed = seed_ro();

    // match[type], one and several.
    assert_eq!(
        count(&ro, ObjectFilter::new().r#type("indicator")),
        INDICATORS
    );
    assert_eq!(
        count(
            &ro,
            ObjectFilter::new().r#type("malware").r#type("threat-actor")
        ),
        MALWARE + THREAT_ACTORS
    );
    assert_eq!(count(&ro, ObjectFilter::new().r#type("campaign")), 0);

    // match[id].
    let picked = ro
        .all_objects(
            &ObjectFilter::new()
                .id(id_of("malware", 3))
                .id(id_of("indicator", 1)),
        )
        .unwrap();
    assert_eq!(
        ids(&picked).into_iter().collect::<BTreeSet<_>>(),
        [id_of("malware", 3), id_of("indicator", 1)]
            .into_iter()
            .collect()
    );

    // match[version].
    let all = ObjectFilter::new().version(VersionMatch::All);
    assert_eq!(count(&ro, all.clone()), SEEDED_VERSIONS);
    let first = ro
        .all_objects(&ObjectFilter::new().version(VersionMatch::First))
        .unwrap();
    assert_eq!(first.len(), SEEDED_IDS);
    assert!(first.iter().all(|o| o["modified"] == CREATED));
    let last = ObjectFilter::new().version(VersionMatch::Last);
    assert_eq!(count(&ro, last), SEEDED_IDS);
    let at = DateTime::parse_from_rfc3339(MODIFIED_2)
        .unwrap()
        .with_timezone(&Utc);
    let exact = ro
        .all_objects(&ObjectFilter::new().version(VersionMatch::At(at)))
        .unwrap();
    assert_eq!(exact.len(), SECOND_VERSIONS);
    assert_eq!(
        count(
            &ro,
            ObjectFilter::new()
                .version(VersionMatch::First)
                .version(VersionMatch::Last)
        ),
        SEEDED_VERSIONS
    );

    // match[spec_version].
    assert_eq!(
        count(&ro, ObjectFilter::new().spec_version("2.0")),
        IDENTITIES_20
    );
    assert_eq!(
        count(&ro, ObjectFilter::new().spec_version("2.1")),
        SEEDED_IDS - IDENTITIES_20
    );

    // added_after is strictly after; combined with other filters every one must hold.
    let k = 30;
    let after = ObjectFilter::new()
        .version(VersionMatch::All)
        .added_after(seed[k].date_added);
    assert_eq!(count(&ro, after.clone()), SEEDED_VERSIONS - k - 1);
    let after_indicators = after.clone().r#type("indicator");
    let want = seed[k + 1..]
        .iter()
        .filter(|r| r.object["type"] == "indicator")
        .count();
    assert_eq!(count(&ro, after_indicators), want);
    assert_eq!(
        count(
            &ro,
            ObjectFilter::new().added_after(seed.last().unwrap().date_added)
        ),
        0
    );

    // limit.
    let page = ro.objects(&ObjectFilter::new().limit(3)).unwrap();
    assert_eq!(page.body.objects.len(), 3);
    assert!(page.body.more && page.body.next.is_some());
    let capped = ro.objects(&ObjectFilter::new().limit(500)).unwrap();
    assert_eq!(
        capped.body.objects.len(),
        PAGE_SIZE,
        "the server caps the page size"
    );

    // One object, its versions, and the versions endpoint.
    let id = id_of("indicator", 2);
    let latest = ro.object(&id, &ObjectFilter::new()).unwrap();
    assert_eq!(latest.body.objects.len(), 1);
    assert_eq!(latest.body.objects[0]["modified"], MODIFIED_2);
    let both = ro
        .object(&id, &ObjectFilter::new().version(VersionMatch::All))
        .unwrap();
    assert_eq!(both.body.objects.len(), 2);
    let versions = ro.versions(&id, &ObjectFilter::new()).unwrap();
    assert_eq!(versions.body.versions.len(), 2);
    let pages: Vec<_> = ro
        .version_pages(&id, &ObjectFilter::new().limit(1))
        .collect();
    assert_eq!(pages.len(), 2);
    let gone = server_error(
        ro.object(&id_of("indicator", 999), &ObjectFilter::new())
            .unwrap_err(),
    );
    assert_eq!(gone.status, 404);

    // The manifest honours the same filters.
    let manifest = ro
        .manifest(
            &ObjectFilter::new()
                .r#type("identity")
                .version(VersionMatch::All),
        )
        .unwrap();
    assert_eq!(manifest.body.objects.len(), IDENTITIES_20);
    assert!(
        manifest
            .body
            .objects
            .iter()
            .all(|r| r.media_type.as_deref() == Some("application/stix+json;version=2.0"))
    );
    println!(
        "filters: type, id, version (first/last/all/timestamp), spec_version, added_after, limit"
    );
}

#[test]
fn push_chunks_to_max_content_length_and_reads_the_status() {
    let m = Medallion::start();
    let root = m.root();
    let rw = root.collection(RW);

    let objects = new_indicators(100, 25);
    let outcome = rw.push(&objects, &PushOptions::default()).unwrap();
    assert!(outcome.complete);
    assert!(
        outcome.statuses.len() > 1,
        "{} bytes of objects must take several requests of {MAX_CONTENT_LENGTH}",
        serde_json::to_vec(&objects).unwrap().len()
    );
    assert_eq!(outcome.success_count, 25);
    assert_eq!((outcome.failure_count, outcome.pending_count), (0, 0));
    assert_eq!(
        outcome
            .successes
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        ids(&objects)
    );
    for status in &outcome.statuses {
        assert_eq!(&root.status(&status.id).unwrap(), status);
    }
    assert_eq!(count(&rw, ObjectFilter::new()), RW_SEEDED + 25);

    // The same versions again: medallion keeps one copy and reports each as a failure.
    let again = rw.push(&objects[..5], &PushOptions::default()).unwrap();
    assert_eq!((again.success_count, again.failure_count), (0, 5));
    assert_eq!(again.failures.len(), 5);

    // A smaller limit of our own means more requests.
    let more = rw
        .push(
            &new_indicators(200, 6),
            &PushOptions {
                max_content_length: Some(800),
                ..PushOptions::default()
            },
        )
        .unwrap();
    assert_eq!(more.statuses.len(), 6);
    assert_eq!(more.success_count, 6);

    // Write-only accepts pushes and refuses reads; read-only refuses pushes.
    let wo = root.collection(WO);
    assert_eq!(
        wo.push(&new_indicators(300, 2), &PushOptions::default())
            .unwrap()
            .success_count,
        2
    );
    let forbidden = server_error(wo.objects(&ObjectFilter::new()).unwrap_err());
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.description.unwrap().contains("Forbidden to read"));
    let forbidden = server_error(
        root.collection(RO)
            .push(&new_indicators(400, 1), &PushOptions::default())
            .unwrap_err(),
    );
    assert_eq!(forbidden.status, 403);
    assert!(
        forbidden
            .description
            .unwrap()
            .contains("Forbidden to write")
    );

    // An object larger than a request may be is refused before sending anything.
    let mut huge = new_indicators(500, 1);
    huge[0]["description"] = json!("x".repeat(MAX_CONTENT_LENGTH));
    assert!(matches!(
        rw.push(&huge, &PushOptions::default()),
        Err(Error::ObjectTooLarge {
            limit: MAX_CONTENT_LENGTH,
            ..
        })
    ));
    assert_eq!(count(&rw, ObjectFilter::new()), RW_SEEDED + 25 + 6);

    // Deleting an object removes it; reading it afterwards is a 404.
    let victim = objects[0]["id"].as_str().unwrap();
    rw.delete_object(victim, &ObjectFilter::new()).unwrap();
    let gone = server_error(rw.object(victim, &ObjectFilter::new()).unwrap_err());
    assert_eq!(gone.status, 404);
    assert_eq!(count(&rw, ObjectFilter::new()), RW_SEEDED + 25 + 6 - 1);
    println!(
        "pushed 25 objects in {} requests, all complete",
        outcome.statuses.len()
    );
}

#[test]
fn polling_resumes_from_the_state_file_and_never_skips_a_shared_timestamp() {
    let m = Medallion::start();
    let rw = m.root().collection(RW);
    let state_path = m.dir.join("state").join("taxii-state.json");
    std::fs::create_dir_all(state_path.parent().unwrap()).unwrap();

    // Run 1: no state yet, the whole collection.
    let mut file = PollStateFile::open(&state_path).unwrap();
    let mut state = file.state(&rw);
    let run1 = rw.poll(&mut state, &PollOptions::default()).unwrap();
    assert_eq!(
        ids(&run1.objects),
        ids(&seed_rw()
            .iter()
            .map(|r| r.object.clone())
            .collect::<Vec<_>>())
    );
    assert!(run1.complete);
    assert_eq!(
        state.added_after,
        Some(seed_rw().last().unwrap().date_added)
    );
    file.set(state);
    file.save().unwrap();

    // Objects arrive: 25 in requests of ~12, each request sharing one date_added.
    let pushed = new_indicators(100, 25);
    let push = rw.push(&pushed, &PushOptions::default()).unwrap();
    assert!(push.complete && push.statuses.len() > 1);

    // Run 2a, from the saved file, reads one page of 5: it stops inside the first request's
    // timestamp, with more objects at that same timestamp still unread.
    let mut file = PollStateFile::open(&state_path).unwrap();
    let mut state = file.state(&rw);
    let small = PollOptions {
        filter: ObjectFilter::new().limit(5),
        max_pages: Some(1),
        ..PollOptions::default()
    };
    let run2a = rw.poll(&mut state, &small).unwrap();
    // The page starts with the overlap: the last seeded object, already delivered by run 1.
    assert_eq!((run2a.objects.len(), run2a.duplicates), (4, 1));
    assert!(!run2a.complete);
    let boundary = state.added_after.unwrap();
    // A plain "added_after = last seen" query would now skip the rest of that request.
    let naive = count(&rw, ObjectFilter::new().added_after(boundary));
    assert!(
        naive < 21,
        "the boundary should hide objects from a plain added_after query"
    );
    file.set(state);
    file.save().unwrap();

    // Run 2b picks up everything else, including the objects sharing the boundary timestamp.
    let mut file = PollStateFile::open(&state_path).unwrap();
    let mut state = file.state(&rw);
    let run2b = rw.poll(&mut state, &PollOptions::default()).unwrap();
    assert!(run2b.complete);
    assert!(run2b.duplicates >= 4, "the overlap re-reads the boundary");
    let mut got = ids(&run2a.objects);
    got.extend(ids(&run2b.objects));
    assert_eq!(unique(&got), unique(&ids(&pushed)));
    assert_eq!(run2b.objects.len(), 21);
    file.set(state);
    file.save().unwrap();

    // Run 3: nothing new.
    let file = PollStateFile::open(&state_path).unwrap();
    let mut state = file.state(&rw);
    let before = state.clone();
    let run3 = rw.poll(&mut state, &PollOptions::default()).unwrap();
    assert!(run3.objects.is_empty(), "{:?}", ids(&run3.objects));
    assert_eq!(state.added_after, before.added_after);

    // The file holds the state under the API root and collection, written whole.
    let saved: Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(saved["format"], 1);
    assert_eq!(saved["states"][0]["collection"], RW);
    assert_eq!(
        saved["states"][0]["api_root"],
        format!("{}/api1/", m.base())
    );
    let leftovers: Vec<_> = std::fs::read_dir(state_path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");

    // A state of another collection is refused rather than misused.
    let ro = m.root().collection(RO);
    let mut wrong = file.state(&rw);
    assert!(matches!(
        ro.poll(&mut wrong, &PollOptions::default()),
        Err(Error::WrongPollState { .. })
    ));
    println!(
        "polled {} seeded, then 25 pushed as {} + {} across a shared timestamp, then 0",
        run1.objects.len(),
        run2a.objects.len(),
        run2b.objects.len()
    );
}

#[test]
fn wrong_credentials_are_a_typed_401() {
    let m = Medallion::start();
    for auth in [
        Auth::basic(USER, "wrong"),
        Auth::basic("mallory", PASSWORD),
        Auth::None,
        Auth::bearer("token"),
    ] {
        let e = server_error(m.client_with(auth.clone()).discovery().unwrap_err());
        assert_eq!(e.status, 401, "{auth:?}");
        assert!(!e.title.is_empty());
    }
    let e = m
        .client_with(Auth::basic(USER, "wrong"))
        .api_root()
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
}

#[test]
fn response_bodies_over_the_cap_are_refused() {
    let m = Medallion::start();
    let config = ClientConfig::new(&m.discovery_url())
        .unwrap()
        .auth(Auth::basic(USER, PASSWORD))
        .outbound(OutboundPolicy::allow_all());
    let root = Client::new(config.clone()).unwrap().api_root().unwrap();
    assert!(root.collection(RO).objects(&ObjectFilter::new()).is_ok());
    let capped = Client::new(config.max_response_bytes(1000)).unwrap();
    let root = capped.api_root().unwrap();
    match root.collection(RO).objects(&ObjectFilter::new()) {
        Err(Error::ResponseTooLarge { limit: 1000, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn private_addresses_are_refused_before_anything_is_sent() {
    // A listener that would see any connection attempt.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    for url in [
        format!("http://127.0.0.1:{port}/taxii2/"),
        format!("http://localhost:{port}/taxii2/"),
        format!("http://[::ffff:127.0.0.1]:{port}/taxii2/"),
    ] {
        let client = Client::new(
            ClientConfig::new(&url)
                .unwrap()
                .auth(Auth::basic(USER, PASSWORD)),
        )
        .unwrap();
        match client.discovery() {
            Err(Error::Refused(r)) => {
                assert_eq!(r.class, AddressClass::Loopback, "{url}");
                assert!(
                    r.addr.is_loopback() || r.addr.to_string().contains("127.0.0.1"),
                    "{url}"
                );
            }
            other => panic!("{url}: {other:?}"),
        }
        // An allow-list for another network does not help.
        let other_net = OutboundPolicy::allowing(["10.0.0.0/8".parse::<IpNetwork>().unwrap()]);
        let client = Client::new(ClientConfig::new(&url).unwrap().outbound(other_net)).unwrap();
        assert!(matches!(client.api_root(), Err(Error::Refused(_))), "{url}");
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a connection reached the listener: {other:?}"),
    }

    // The same server is reachable once loopback is allowed, by either switch.
    let m = Medallion::start();
    for policy in [
        OutboundPolicy::allow_all(),
        OutboundPolicy::allowing(["127.0.0.1".parse::<IpNetwork>().unwrap()]),
    ] {
        let config = ClientConfig::new(&m.discovery_url())
            .unwrap()
            .auth(Auth::basic(USER, PASSWORD))
            .outbound(policy);
        assert!(Client::new(config).unwrap().discovery().is_ok());
    }
    // URLs a server names pass the same check: with only 127.0.0.1 allowed, the discovery
    // resource is read but its second API root, on 127.0.0.2, is refused without a connection.
    let narrow = Client::new(
        ClientConfig::new(&m.discovery_url())
            .unwrap()
            .auth(Auth::basic(USER, PASSWORD))
            .outbound(OutboundPolicy::allowing(["127.0.0.1"
                .parse::<IpNetwork>()
                .unwrap()])),
    )
    .unwrap();
    let discovery = narrow.discovery().unwrap();
    assert_eq!(discovery.api_roots.len(), 2);
    assert!(narrow.api_root_at(&discovery.api_roots[0]).is_ok());
    match narrow.api_root_at(&discovery.api_roots[1]) {
        Err(Error::Refused(r)) => assert_eq!(r.addr.to_string(), "127.0.0.2"),
        other => panic!("{other:?}"),
    }

    // The default policy refuses the loopback API root outright.
    let strict = Client::new(
        ClientConfig::new(&format!("{}/api1/", m.base()))
            .unwrap()
            .auth(Auth::basic(USER, PASSWORD)),
    )
    .unwrap();
    assert!(matches!(strict.api_root(), Err(Error::Refused(_))));
}
