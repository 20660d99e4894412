//! `isac import`, `isac export` and `isac taxii pull|push` through the real binary: a fresh data
//! directory per test, orgs and users provisioned through the CLI, hand-built STIX bundles and
//! MISP events, and medallion (the OASIS TAXII 2.1 reference server, run on loopback from the
//! test virtualenv made by `scripts/setup-test-env`) as the remote TAXII server.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use isac_taxii::{
    Auth, Client, ClientConfig, IpNetwork, ObjectFilter, OutboundPolicy, PushOptions,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_isac");

// TLP 2.0 marking definitions, and TLP 1.0 GREEN (read as its 2.0 equal).
const CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const GREEN_V1: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";

const CREATED: &str = "2026-01-10T08:00:00.000Z";

// ---------------------------------------------------------------------------------------------
// Running the binary.

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("isac-exchange-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    /// A path inside the directory, as a string.
    fn join(&self, name: &str) -> String {
        self.0
            .join(name)
            .to_str()
            .expect("utf-8 temp path")
            .to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `isac` with a clean environment: no `ISAC_*` or locale variable leaks in from the
/// caller, so reports are in English.
fn run(args: &[&str]) -> Out {
    run_env(args, &[])
}

/// [`run`] with the environment variables `env` set.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("ISAC_") || ["LANG", "LC_ALL", "LC_MESSAGES"].contains(&k.as_str()) {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run isac");
    let out = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !out.stderr.contains("panicked"),
        "isac {} panicked:\n{}",
        args.join(" "),
        out.stderr
    );
    out
}

/// Runs a command that must succeed and returns its standard output.
fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.code,
        Some(0),
        "isac {} failed:\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// Checks that a command failed (non-zero exit) with every `needles` on standard error.
fn failed(out: &Out, needles: &[&str]) {
    assert!(
        out.code.is_some_and(|c| c != 0),
        "expected a failure:\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "expected `{n}` on standard error, got:\n{}",
            out.stderr
        );
    }
}

/// The counts of an `isac import` summary line.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    units: u64,
    created: u64,
    updated: u64,
    historical: u64,
    unchanged: u64,
    refused: u64,
    invalid: u64,
}

/// The summary line of `stdout` that starts with `prefix`, and the numbers in it, in order.
fn counts<'a>(stdout: &'a str, prefix: &str) -> (&'a str, Vec<u64>) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stdout}"));
    let n = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (line, n)
}

/// Parses `imported U units: C created, N new versions, E earlier versions, X unchanged; R units
/// refused (I invalid objects)`.
fn summary(stdout: &str) -> Summary {
    let (line, n) = counts(stdout, "imported ");
    assert_eq!(n.len(), 7, "unexpected summary line: {line}");
    let expected = format!(
        "imported {} units: {} created, {} new versions, {} earlier versions, {} unchanged; {} units refused ({} invalid objects)",
        n[0], n[1], n[2], n[3], n[4], n[5], n[6]
    );
    assert_eq!(line, expected, "the summary line's wording changed");
    Summary {
        units: n[0],
        created: n[1],
        updated: n[2],
        historical: n[3],
        unchanged: n[4],
        refused: n[5],
        invalid: n[6],
    }
}

/// Parses `pulled: C created, N new versions, E earlier versions, X unchanged` into (C, X).
fn pulled(stdout: &str) -> (u64, u64) {
    let (line, n) = counts(stdout, "pulled: ");
    assert_eq!(n.len(), 4, "unexpected pull summary: {line}");
    assert_eq!(
        (n[1], n[2]),
        (0, 0),
        "a pull of first versions made new versions: {line}"
    );
    (n[0], n[3])
}

// ---------------------------------------------------------------------------------------------
// The community: an operator and two member banks, each with an analyst.

const OPERATOR: &str = "Test ISAC";
const BANK_ONE: &str = "Bank One";
const BANK_TWO: &str = "Bank Two";
const OP_ANALYST: &str = "analyst@isac.example";
const ONE_ANALYST: &str = "analyst@one.example";
const TWO_ANALYST: &str = "analyst@two.example";

fn community(d: &str) {
    ok(&[
        "org", "add", "--data", d, "--name", OPERATOR, "--kind", "operator",
    ]);
    for bank in [BANK_ONE, BANK_TWO] {
        ok(&[
            "org", "add", "--data", d, "--name", bank, "--kind", "member", "--sector", "bank",
        ]);
    }
    for (org, email, role) in [
        (OPERATOR, OP_ANALYST, "isac-analyst"),
        (BANK_ONE, ONE_ANALYST, "member-analyst"),
        (BANK_TWO, TWO_ANALYST, "member-analyst"),
    ] {
        ok(&[
            "user", "add", "--data", d, "--org", org, "--email", email, "--role", role,
        ]);
    }
}

// ---------------------------------------------------------------------------------------------
// STIX objects and exports.

/// A fixed STIX id, so failures name recognisable objects.
fn sid(ty: &str, n: u32) -> String {
    format!("{ty}--6a1f0000-0000-4000-8000-{n:012}")
}

fn indicator(n: u32, name: &str, pattern: &str, marking: Option<&str>) -> Value {
    let mut o = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": sid("indicator", n),
        "created": CREATED,
        "modified": CREATED,
        "name": name,
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": CREATED,
    });
    if let Some(m) = marking {
        o["object_marking_refs"] = json!([m]);
    }
    o
}

fn ip_indicator(n: u32, ip: &str, marking: &str) -> Value {
    indicator(
        n,
        &format!("Malicious address {ip}"),
        &format!("[ipv4-addr:value = '{ip}']"),
        Some(marking),
    )
}

fn domain_indicator(n: u32, domain: &str, marking: &str) -> Value {
    indicator(
        n,
        &format!("Malicious domain {domain}"),
        &format!("[domain-name:value = '{domain}']"),
        Some(marking),
    )
}

fn bundle(objects: &[Value]) -> Value {
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    })
}

fn write_json(path: &str, v: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn ids_of(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `isac export --as USER --format stix -`: the objects of the bundle.
fn export_stix(d: &str, user: &str) -> Vec<Value> {
    let out = ok(&["export", "--data", d, "--as", user, "--format", "stix", "-"]);
    let b: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("the STIX export is not JSON ({e}):\n{out}"));
    assert_eq!(b["type"], "bundle");
    let mut all = b["objects"].as_array().cloned().unwrap_or_default();
    // The directory comes first: the identities of the orgs the user may read, then isac's
    // extension definition. Every identity the objects name as their creator or as where they
    // were sighted is among them (or among the objects).
    let directory: Vec<Value> = match all
        .iter()
        .position(|o| o["id"] == isac_stix::audience::EXTENSION_ID)
    {
        Some(end) => all.drain(..=end).collect(),
        None => Vec::new(),
    };
    for entry in directory.iter().rev().skip(1) {
        assert_eq!(entry["type"], "identity", "a directory entry: {entry}");
    }
    // The predefined TLP marking definitions the objects and directory entries refer to come
    // after the objects, once each, and only those.
    let (definitions, objects): (Vec<Value>, Vec<Value>) = all
        .into_iter()
        .partition(|o| isac_stix::tlp::canonical_for_id(o["id"].as_str().unwrap()).is_some());
    let resolvable = ids_of(&directory)
        .into_iter()
        .chain(ids_of(&objects))
        .collect::<BTreeSet<String>>();
    for o in &objects {
        let named = o["created_by_ref"].as_str().into_iter().chain(
            o["where_sighted_refs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        for id in named {
            assert!(
                resolvable.contains(id),
                "{} names {id}, which the bundle does not hold",
                o["id"]
            );
        }
    }
    let referred: BTreeSet<String> = directory
        .iter()
        .chain(&objects)
        .flat_map(|o| {
            let refs = o["object_marking_refs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let granular = o["granular_markings"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            refs.into_iter()
                .chain(granular.into_iter().map(|g| g["marking_ref"].clone()))
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .filter(|id| isac_stix::tlp::canonical_for_id(id).is_some())
        .collect();
    assert_eq!(
        ids_of(&definitions),
        referred,
        "TLP definitions in the bundle"
    );
    assert_eq!(definitions.len(), referred.len(), "each definition once");
    for d in &definitions {
        let id = d["id"].as_str().unwrap();
        let canonical = isac_stix::tlp::canonical_for_id(id).unwrap();
        assert_eq!(
            d,
            &Value::Object(canonical),
            "{id} is the canonical definition"
        );
    }
    objects
}

fn export_ids(d: &str, user: &str) -> BTreeSet<String> {
    ids_of(&export_stix(d, user))
}

/// A single-file export written to standard output, as text.
fn export_text(d: &str, user: &str, format: &str) -> String {
    ok(&["export", "--data", d, "--as", user, "--format", format, "-"])
}

/// The lines of a block list, as a set; every value appears once.
fn list(d: &str, user: &str, format: &str) -> BTreeSet<String> {
    let text = export_text(d, user, format);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let set: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(
        set.len(),
        lines.len(),
        "duplicate lines in {format}:\n{text}"
    );
    set
}

/// An RFC 4180 CSV document as rows of cells.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut cell)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            _ => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

/// The CSV export as one map per row, keyed by the header.
fn export_csv(d: &str, user: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = export_text(d, user, "csv");
    let rows = parse_csv(&text);
    let header = rows.first().expect("a CSV header").clone();
    assert_eq!(
        header,
        [
            "id",
            "type",
            "tlp",
            "title",
            "created",
            "modified",
            "revoked",
            "valid_until",
            "values"
        ]
    );
    rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "a CSV row of the wrong width: {r:?}");
            header.iter().cloned().zip(r.iter().cloned()).collect()
        })
        .collect()
}

/// The TLP of every object, from the CSV export.
fn tlp_by_id(d: &str, user: &str) -> std::collections::BTreeMap<String, String> {
    export_csv(d, user)
        .into_iter()
        .map(|r| (r["id"].clone(), r["tlp"].clone()))
        .collect()
}

/// The attribute values of every event file of a MISP feed directory (attributes of MISP
/// objects included), and the number of event files.
fn misp_feed_values(dir: &Path) -> (BTreeSet<String>, usize) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json"))
            .expect("manifest.json is JSON");
    let events = manifest.as_object().expect("the manifest is an object");
    let mut values = BTreeSet::new();
    for uuid in events.keys() {
        let path = dir.join(format!("{uuid}.json"));
        let ev: Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        let ev = &ev["Event"];
        let mut attributes: Vec<&Value> = ev["Attribute"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for o in ev["Object"].as_array().into_iter().flatten() {
            attributes.extend(o["Attribute"].as_array().into_iter().flatten());
        }
        for a in attributes {
            if let Some(v) = a["value"].as_str() {
                values.insert(v.to_owned());
            }
        }
    }
    (values, events.len())
}

// ---------------------------------------------------------------------------------------------
// 0. The predefined TLP marking definitions that bundles carry are known, never stored; a forged
// one is invalid.

#[test]
fn predefined_tlp_definitions_are_accepted_and_never_stored() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);
    let mut objects: Vec<Value> = isac_stix::tlp::all_definitions()
        .into_iter()
        .map(Value::Object)
        .collect();
    let n = objects.len();
    objects.push(indicator(
        1,
        "C2 address",
        "[ipv4-addr:value = '198.51.100.12']",
        Some(GREEN),
    ));
    let file = dir.join("bundle.json");
    write_json(&file, &bundle(&objects));
    let s = summary(&ok(&["import", "--data", d, &file]));
    assert_eq!(
        (s.created, s.unchanged, s.refused),
        (1, n as u64, 0),
        "{s:?}"
    );
    let stored = export_stix(d, OP_ANALYST);
    assert!(
        stored.iter().all(|o| o["type"] != "marking-definition"),
        "a TLP definition was stored: {stored:?}"
    );

    // The same id with other content is a forgery: the unit is refused whole.
    let mut forged = isac_stix::tlp::marking_definition(isac_model::Tlp::Green);
    forged.insert("name".into(), json!("TLP:CLEAR"));
    let file = dir.join("forged.json");
    write_json(
        &file,
        &bundle(&[
            Value::Object(forged),
            indicator(
                2,
                "Other",
                "[ipv4-addr:value = '198.51.100.13']",
                Some(GREEN),
            ),
        ]),
    );
    let out = run(&["import", "--data", d, &file]);
    failed(&out, &[GREEN]);
    assert!(
        !export_ids(d, OP_ANALYST).contains(&sid("indicator", 2)),
        "the unit of a forged definition was stored"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. STIX 2.1 import: every object stored, idempotent, unmarked objects take `--tlp`.

#[test]
fn stix_bundle_import_is_complete_idempotent_and_marks_unmarked_objects() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);

    let green_ip = indicator(
        1,
        "C2 address",
        "[ipv4-addr:value = '198.51.100.11']",
        Some(GREEN_V1),
    );
    let amber_domain = domain_indicator(2, "c2.bad.example", AMBER);
    let malware = json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": sid("malware", 3),
        "created": CREATED,
        "modified": CREATED,
        "name": "BankBot",
        "is_family": true,
        "malware_types": ["trojan"],
        "object_marking_refs": [CLEAR],
    });
    let relationship = json!({
        "type": "relationship",
        "spec_version": "2.1",
        "id": sid("relationship", 4),
        "created": CREATED,
        "modified": CREATED,
        "relationship_type": "indicates",
        "source_ref": sid("indicator", 1),
        "target_ref": sid("malware", 3),
        "object_marking_refs": [GREEN],
    });
    let unmarked = json!({
        "type": "threat-actor",
        "spec_version": "2.1",
        "id": sid("threat-actor", 5),
        "created": CREATED,
        "modified": CREATED,
        "name": "Unmarked Group",
        "threat_actor_types": ["crime-syndicate"],
    });
    let objects = [green_ip, amber_domain, malware, relationship, unmarked];
    let file = dir.join("bundle.json");
    write_json(&file, &bundle(&objects));

    // The default for unmarked input may never be wider than GREEN: refused before anything is
    // read, in either TLP version's spelling.
    for wide in ["clear", "white"] {
        let out = run(&["import", "--data", d, "--tlp", wide, &file]);
        failed(&out, &["--tlp", "wider than TLP:GREEN"]);
    }
    assert!(
        export_ids(d, OP_ANALYST).is_empty(),
        "a refused --tlp stored something"
    );

    // Imported as the operator (the default owner) with AMBER for what is unmarked.
    let first = summary(&ok(&["import", "--data", d, "--tlp", "amber", &file]));
    assert_eq!(
        first,
        Summary {
            units: 1,
            created: 5,
            updated: 0,
            historical: 0,
            unchanged: 0,
            refused: 0,
            invalid: 0
        }
    );

    let stored = export_stix(d, OP_ANALYST);
    assert_eq!(ids_of(&stored), ids_of(&objects), "not every object stored");
    for o in &stored {
        let original = objects.iter().find(|x| x["id"] == o["id"]).unwrap();
        for key in ["type", "created", "modified", "name", "pattern"] {
            assert_eq!(o.get(key), original.get(key), "{key} of {}", o["id"]);
        }
    }
    let tlp = tlp_by_id(d, OP_ANALYST);
    assert_eq!(tlp[&sid("indicator", 1)], "green", "TLP 1.0 GREEN read");
    assert_eq!(tlp[&sid("indicator", 2)], "amber");
    assert_eq!(tlp[&sid("malware", 3)], "clear");
    assert_eq!(tlp[&sid("relationship", 4)], "green");
    assert_eq!(tlp[&sid("threat-actor", 5)], "amber", "--tlp not applied");
    let actor = stored
        .iter()
        .find(|o| o["id"] == sid("threat-actor", 5).as_str())
        .unwrap();
    assert_eq!(
        actor["object_marking_refs"],
        json!([AMBER]),
        "the unmarked object carries the default's marking"
    );

    // The same bundle again stores nothing new.
    let second = summary(&ok(&["import", "--data", d, "--tlp", "amber", &file]));
    assert_eq!(
        second,
        Summary {
            units: 1,
            created: 0,
            updated: 0,
            historical: 0,
            unchanged: 5,
            refused: 0,
            invalid: 0
        }
    );
    assert_eq!(export_stix(d, OP_ANALYST), stored);

    // Without --tlp an unmarked object is GREEN, visible to every member.
    let other = json!({
        "type": "threat-actor",
        "spec_version": "2.1",
        "id": sid("threat-actor", 6),
        "created": CREATED,
        "modified": CREATED,
        "name": "Another Unmarked Group",
    });
    let file2 = dir.join("bundle2.json");
    write_json(&file2, &bundle(&[other]));
    assert_eq!(summary(&ok(&["import", "--data", d, &file2])).created, 1);
    assert_eq!(tlp_by_id(d, TWO_ANALYST)[&sid("threat-actor", 6)], "green");
    println!("imported {} objects, then all unchanged", first.created);
}

// ---------------------------------------------------------------------------------------------
// 2. One invalid object refuses its whole bundle; other bundles of the run are stored.

/// The reports of `isac import` in Traditional Chinese: with `--lang zh-TW`, or from a zh_TW
/// locale; `--lang en` wins over the locale.
#[test]
fn import_reports_in_the_chosen_language() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);
    let broken = indicator(
        41,
        "broken pattern",
        "[ipv4-addr:value = '198.51.100.42'",
        Some(GREEN),
    );
    let file = dir.join("a.json");
    write_json(
        &file,
        &bundle(&[ip_indicator(40, "198.51.100.40", GREEN), broken]),
    );
    let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    for (args, env) in [
        (vec!["--lang", "zh-TW"], vec![]),
        (vec![], vec![("LANG", "zh_TW.UTF-8")]),
        (
            vec![],
            vec![("LC_ALL", "zh_Hant_TW.UTF-8"), ("LANG", "en_US.UTF-8")],
        ),
    ] {
        let mut a = vec!["import", "--data", d];
        a.extend(args);
        a.push(&file);
        let out = run_env(&a, &env);
        assert_eq!(out.code, Some(1), "{env:?}: {}", out.stderr);
        assert!(
            out.stdout.starts_with(
                "已匯入 1 個單元：新增 0、新版本 0、較早版本 0、未變更 0；被拒單元 1（無效物件 1）"
            ),
            "{env:?}: {}",
            out.stdout
        );
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(&sid("indicator", 41)))
            .unwrap_or_else(|| panic!("not named: {}", out.stderr));
        assert!(han(line), "{env:?}: {line}");
    }
    // English otherwise, and `--lang en` over a zh_TW locale.
    for (args, env) in [
        (vec![], vec![("LANG", "zh_CN.UTF-8")]),
        (vec!["--lang", "en"], vec![("LANG", "zh_TW.UTF-8")]),
    ] {
        let mut a = vec!["import", "--data", d];
        a.extend(args);
        a.push(&file);
        let out = run_env(&a, &env);
        assert_eq!(summary(&out.stdout).refused, 1, "{env:?}: {}", out.stdout);
        assert!(!han(&out.stderr), "{env:?}: {}", out.stderr);
    }
    let out = run(&["import", "--lang", "fr", "--data", d, &file]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn invalid_object_refuses_its_whole_bundle_only() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);

    let good = [
        ip_indicator(10, "198.51.100.20", GREEN),
        domain_indicator(11, "good.example", GREEN),
    ];
    let bad_pattern = [
        ip_indicator(20, "198.51.100.21", GREEN),
        indicator(
            21,
            "broken pattern",
            "[ipv4-addr:value = '198.51.100.22'",
            Some(GREEN),
        ),
        domain_indicator(22, "never-stored.example", GREEN),
    ];
    let mut bad_id_object = domain_indicator(0, "bad-id.example", GREEN);
    bad_id_object["id"] = json!("indicator--not-a-uuid");
    let bad_id = [ip_indicator(30, "198.51.100.30", CLEAR), bad_id_object];

    let (f_bad_pattern, f_good, f_bad_id) =
        (dir.join("a.json"), dir.join("b.json"), dir.join("c.json"));
    write_json(&f_bad_pattern, &bundle(&bad_pattern));
    write_json(&f_good, &bundle(&good));
    write_json(&f_bad_id, &bundle(&bad_id));

    let out = run(&["import", "--data", d, &f_bad_pattern, &f_good, &f_bad_id]);
    assert_eq!(
        out.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        summary(&out.stdout),
        Summary {
            units: 3,
            created: 2,
            updated: 0,
            historical: 0,
            unchanged: 0,
            refused: 2,
            invalid: 2
        }
    );
    // Each failing object is named with its reason, prefixed by its file.
    let line = |id: &str| {
        out.stderr
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} not named on standard error:\n{}", out.stderr))
            .to_owned()
    };
    let pattern_line = line(&sid("indicator", 21));
    assert!(
        pattern_line.starts_with(&f_bad_pattern) && pattern_line.contains("pattern"),
        "no file or reason: {pattern_line}"
    );
    let id_line = line("indicator--not-a-uuid");
    assert!(
        id_line.starts_with(&f_bad_id) && id_line.contains("id"),
        "no file or reason: {id_line}"
    );
    // Valid objects of refused bundles are not named as failing.
    assert!(
        !out.stderr.contains(&sid("indicator", 20)),
        "{}",
        out.stderr
    );

    let stored = export_ids(d, OP_ANALYST);
    assert_eq!(stored, ids_of(&good), "exactly the good bundle is stored");
    for o in bad_pattern.iter().chain(&bad_id) {
        assert!(!stored.contains(o["id"].as_str().unwrap()));
    }
    // Nothing of the refused bundles leaks into any other output either.
    let ips = list(d, OP_ANALYST, "ip-list");
    assert_eq!(ips, BTreeSet::from(["198.51.100.20".to_owned()]));

    // Fixing the bundle and importing it again stores it whole, and the good one is unchanged.
    let mut fixed = bad_pattern.clone();
    fixed[1]["pattern"] = json!("[ipv4-addr:value = '198.51.100.22']");
    write_json(&f_bad_pattern, &bundle(&fixed));
    let again = summary(&ok(&["import", "--data", d, &f_bad_pattern, &f_good]));
    assert_eq!((again.created, again.unchanged, again.refused), (3, 2, 0));
    println!("refused 2 bundles whole, stored the third");

    // A MISP galaxy cluster file, as the misp-galaxy repository publishes them, is refused
    // with why, and the other file of the same run is still read.
    let galaxy = dir.join("threat-actor.json");
    write_json(
        &galaxy,
        &json!({
            "authors": ["MISP Project"], "category": "actor", "description": "Known actors",
            "name": "Threat Actor", "source": "MISP Project", "type": "threat-actor",
            "uuid": "7cdff317-a673-4474-84ec-4f1754947823", "version": 300,
            "values": [{"value": "APT 99", "uuid": "2a5f1b3c-1d2e-4f3a-8b9c-0d1e2f3a4b5c",
                        "description": "An actor.", "meta": {"synonyms": ["Example Panda"]}}],
        }),
    );
    let out = run(&["import", "--data", d, &galaxy, &f_good]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    let s = summary(&out.stdout);
    assert_eq!((s.units, s.refused, s.unchanged), (2, 1, 2));
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&galaxy) && l.contains("a MISP galaxy or galaxy cluster file")),
        "{}",
        out.stderr
    );
}

/// A bundle larger than one chunk is read and prepared in chunks but stored whole or not at all:
/// an invalid object in its second chunk, or a file cut off part-way, stores nothing of it, while
/// the small bundles before and after it in the same run are stored.
#[test]
fn a_bundle_of_several_chunks_is_stored_whole_or_not_at_all() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);
    let n = isac_store::IMPORT_CHUNK as u32 + 1_000;
    let large = |from: u32| -> Vec<Value> {
        (from..from + n)
            .map(|k| {
                indicator(
                    k,
                    &format!("Chunked indicator {k}"),
                    &format!("[domain-name:value = 'c{k}.example']"),
                    Some(GREEN),
                )
            })
            .collect()
    };
    let before = [ip_indicator(1, "198.51.100.1", GREEN)];
    let after = [ip_indicator(2, "198.51.100.2", GREEN)];
    let mut invalid = large(100_000);
    invalid[n as usize - 500]["pattern"] = json!("[domain-name:value = 'unterminated");
    let cut = large(200_000);
    let cut_text = serde_json::to_vec(&bundle(&cut)).unwrap();
    let (f1, f2, f3, f4) = (
        dir.join("1.json"),
        dir.join("2.json"),
        dir.join("3.json"),
        dir.join("4.json"),
    );
    write_json(&f1, &bundle(&before));
    write_json(&f2, &bundle(&invalid));
    std::fs::write(&f3, &cut_text[..cut_text.len() * 9 / 10]).unwrap();
    write_json(&f4, &bundle(&after));

    let out = run(&["import", "--data", d, &f1, &f2, &f3, &f4]);
    assert_eq!(
        out.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    let s = summary(&out.stdout);
    assert_eq!(
        (s.created, s.refused, s.invalid),
        (2, 2, 1),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.lines().any(|l| l.starts_with(&f2)
            && l.contains("the bundle is stored whole or not at all: nothing of it was stored")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&f3) && l.contains("not a readable STIX bundle")),
        "{}",
        out.stderr
    );
    let stored = export_ids(d, OP_ANALYST);
    let expected: BTreeSet<String> = ids_of(&before).union(&ids_of(&after)).cloned().collect();
    assert_eq!(stored, expected, "only the two small bundles are stored");

    // Fixed, the large bundle is stored whole.
    invalid[n as usize - 500]["pattern"] = json!("[domain-name:value = 'fixed.example']");
    write_json(&f2, &bundle(&invalid));
    let again = summary(&ok(&["import", "--data", d, &f2]));
    assert_eq!((again.created, again.refused), (u64::from(n), 0));
    println!("a bundle of {n} objects was refused whole, then stored whole");
}

// ---------------------------------------------------------------------------------------------
// 3. STIX 2.0 bundles are upgraded, then imported.

#[test]
fn stix_2_0_bundle_is_upgraded_and_imported() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);

    let ind = "indicator--7c1e0000-0000-4000-8000-000000000001";
    let obs = "observed-data--7c1e0000-0000-4000-8000-000000000002";
    let old = json!({
        "type": "bundle",
        "id": "bundle--7c1e0000-0000-4000-8000-0000000000ff",
        "spec_version": "2.0",
        "objects": [
            {
                "type": "indicator",
                "id": ind,
                "created": "2017-05-01T10:00:00Z",
                "modified": "2017-05-01T10:00:00Z",
                "name": "Old-style indicator",
                "labels": ["malicious-activity"],
                "pattern": "[ipv4-addr:value = '198.51.100.70']",
                "valid_from": "2017-05-01T10:00:00Z",
                "object_marking_refs": [GREEN_V1]
            },
            {
                "type": "observed-data",
                "id": obs,
                "created": "2017-05-02T10:00:00.000Z",
                "modified": "2017-05-02T10:00:00.000Z",
                "first_observed": "2017-05-02T09:00:00Z",
                "last_observed": "2017-05-02T09:30:00Z",
                "number_observed": 3,
                "objects": {
                    "0": {"type": "ipv4-addr", "value": "198.51.100.71"},
                    "1": {"type": "domain-name", "value": "legacy.bad.example", "resolves_to_refs": ["0"]}
                },
                "object_marking_refs": [GREEN_V1]
            }
        ]
    });
    let file = dir.join("stix20.json");
    write_json(&file, &old);
    let s = summary(&ok(&["import", "--data", d, &file]));
    // The indicator, the observed-data and its two observables.
    assert_eq!((s.created, s.refused), (4, 0), "{s:?}");

    let stored = export_stix(d, OP_ANALYST);
    assert!(
        stored.iter().all(|o| o["spec_version"] == "2.1"),
        "{stored:?}"
    );
    let by_id = |id: &str| {
        stored
            .iter()
            .find(|o| o["id"] == id)
            .unwrap_or_else(|| panic!("{id} not stored: {stored:?}"))
    };
    let i = by_id(ind);
    assert_eq!(i["indicator_types"], json!(["malicious-activity"]));
    assert!(i.get("labels").is_none(), "labels stayed on the indicator");
    assert_eq!(i["pattern_type"], "stix");
    assert_eq!(i["created"], "2017-05-01T10:00:00.000Z");

    let o = by_id(obs);
    assert!(o.get("objects").is_none(), "the objects dictionary stayed");
    let refs: BTreeSet<String> = o["object_refs"]
        .as_array()
        .expect("object_refs")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refs.len(), 2);
    let ip = stored
        .iter()
        .find(|x| x["type"] == "ipv4-addr")
        .expect("the address became an object");
    let domain = stored
        .iter()
        .find(|x| x["type"] == "domain-name")
        .expect("the domain became an object");
    assert_eq!(ip["value"], "198.51.100.71");
    assert_eq!(domain["value"], "legacy.bad.example");
    assert!(refs.contains(ip["id"].as_str().unwrap()));
    assert!(refs.contains(domain["id"].as_str().unwrap()));
    assert_eq!(domain["resolves_to_refs"], json!([ip["id"]]));

    // The upgraded objects feed the block lists like any other; members see them (GREEN).
    assert_eq!(
        list(d, TWO_ANALYST, "ip-list"),
        BTreeSet::from(["198.51.100.70".to_owned(), "198.51.100.71".to_owned()])
    );
    assert_eq!(
        list(d, TWO_ANALYST, "domain-list"),
        BTreeSet::from(["legacy.bad.example".to_owned()])
    );

    // Upgrading is deterministic: the same objects come out again. (That a second import
    // stores nothing at all is checked by `reimporting_observables_stores_nothing_new`.)
    let again = summary(&ok(&["import", "--data", d, &file]));
    assert_eq!((again.created, again.refused), (0, 0), "{again:?}");
    assert_eq!(ids_of(&export_stix(d, OP_ANALYST)), ids_of(&stored));
    println!("STIX 2.0 bundle upgraded to {} objects", s.created);
}

// ---------------------------------------------------------------------------------------------
// 4. MISP events and MISP feeds.

/// Checks a second import of the same input: nothing created or refused, every object counted,
/// and at most `observables` of them (SCOs) stored as a new version.
fn reimported(first: &Summary, again: &Summary, observables: u64) {
    assert_eq!(
        (again.units, again.created, again.historical, again.refused),
        (first.units, 0, 0, 0),
        "the second import created or refused something: {again:?}"
    );
    assert_eq!(
        again.updated + again.unchanged,
        first.created + first.updated + first.historical + first.unchanged,
        "not every object counted again: {first:?} then {again:?}"
    );
    assert!(
        again.updated <= observables,
        "the second import made new versions: {again:?}"
    );
}

const EVENT_UUID: &str = "5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b";

fn misp_event() -> Value {
    let attr = |uuid: &str, ty: &str, category: &str, value: &str, to_ids: bool| {
        json!({
            "uuid": uuid,
            "type": ty,
            "category": category,
            "value": value,
            "to_ids": to_ids,
            "distribution": "5",
            "timestamp": "1768464000",
            "comment": "",
            "deleted": false
        })
    };
    json!({
        "Event": {
            "uuid": EVENT_UUID,
            "info": "Phishing kit aimed at online banking customers",
            "date": "2026-01-15",
            "timestamp": "1768464000",
            "published": true,
            "publish_timestamp": "1768464100",
            "analysis": "2",
            "threat_level_id": "2",
            "distribution": "3",
            "Orgc": {"uuid": "0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6", "name": "Partner CERT"},
            "Tag": [{"name": "tlp:amber"}, {"name": "phishing"}],
            "Attribute": [
                attr("11111111-1111-4111-8111-111111111101", "ip-dst", "Network activity", "203.0.113.50", true),
                attr("11111111-1111-4111-8111-111111111102", "domain", "Network activity", "phish-bank.example", true),
                attr("11111111-1111-4111-8111-111111111103", "md5", "Payload delivery", "0123456789abcdef0123456789abcdef", true),
                attr("11111111-1111-4111-8111-111111111104", "ip-dst", "Network activity", "203.0.113.51", false)
            ]
        }
    })
}

#[test]
fn misp_event_and_misp_feed_import_idempotently() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);

    let file = dir.join("event.json");
    write_json(&file, &misp_event());
    let first = summary(&ok(&["import", "--data", d, &file]));
    assert_eq!((first.units, first.refused, first.invalid), (1, 0, 0));
    let stored = export_stix(d, OP_ANALYST);
    let tlp = tlp_by_id(d, OP_ANALYST);
    assert_eq!(
        first.created as usize,
        stored.len(),
        "the summary and the store disagree"
    );

    // to_ids attributes became indicators with patterns, the other one an observable.
    let pattern_of = |uuid: &str| {
        let id = format!("indicator--{uuid}");
        let o = stored
            .iter()
            .find(|o| o["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not stored: {stored:#?}"));
        assert_eq!(tlp[&id], "amber", "tlp:amber tag not applied to {id}");
        o["pattern"].as_str().unwrap().to_owned()
    };
    assert!(pattern_of("11111111-1111-4111-8111-111111111101").contains("'203.0.113.50'"));
    assert!(pattern_of("11111111-1111-4111-8111-111111111102").contains("'phish-bank.example'"));
    assert!(
        pattern_of("11111111-1111-4111-8111-111111111103")
            .contains("'0123456789abcdef0123456789abcdef'")
    );
    assert!(
        !stored
            .iter()
            .any(|o| o["id"] == "indicator--11111111-1111-4111-8111-111111111104"),
        "a to_ids false attribute became an indicator"
    );
    let observable = stored
        .iter()
        .find(|o| o["type"] == "ipv4-addr" && o["value"] == "203.0.113.51")
        .expect("the to_ids false address is an observable");
    assert_eq!(tlp[observable["id"].as_str().unwrap()], "amber");
    assert!(
        stored.iter().any(|o| o["type"] == "observed-data"),
        "no observed-data for the observable"
    );
    let report = format!("report--{EVENT_UUID}");
    assert!(tlp.contains_key(&report), "the event became no report");
    assert_eq!(tlp[&report], "amber");

    // AMBER without recipients: the owner (the operator) only, not the members.
    let member_view = export_ids(d, TWO_ANALYST);
    for o in &stored {
        let id = o["id"].as_str().unwrap();
        if tlp[id] != "clear" {
            assert!(!member_view.contains(id), "a member sees AMBER {id}");
        }
    }

    let again = summary(&ok(&["import", "--data", d, &file]));
    // Nothing is created or refused. The one observable (an SCO, which has no `modified`) is
    // allowed to come back as a new version here; `reimporting_observables_stores_nothing_new`
    // holds the import to "all unchanged".
    reimported(&first, &again, 1);

    // A MISP feed: written from this store, read into a fresh one.
    let green = dir.join("green.json");
    write_json(
        &green,
        &bundle(&[
            ip_indicator(40, "198.51.100.40", GREEN),
            domain_indicator(41, "feed.bad.example", CLEAR),
        ]),
    );
    ok(&["import", "--data", d, "--owner", BANK_ONE, &green]);
    let feed = dir.path().join("feed");
    let feed_s = feed.to_str().unwrap();
    let out = run(&[
        "export",
        "--data",
        d,
        "--as",
        OP_ANALYST,
        "--format",
        "misp-feed",
        feed_s,
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (values, events) = misp_feed_values(&feed);
    assert!(events >= 2, "{events} events in the feed");
    for v in [
        "203.0.113.50",
        "phish-bank.example",
        "0123456789abcdef0123456789abcdef",
        "203.0.113.51",
        "198.51.100.40",
        "feed.bad.example",
    ] {
        assert!(values.contains(v), "{v} not in the feed: {values:?}");
    }
    // A feed goes into an empty directory only.
    let out = run(&[
        "export",
        "--data",
        d,
        "--as",
        OP_ANALYST,
        "--format",
        "misp-feed",
        feed_s,
    ]);
    failed(&out, &["not empty"]);

    let other = TempDir::new();
    let d2 = other.str();
    community(d2);
    let from_feed = summary(&ok(&["import", "--data", d2, feed_s]));
    assert_eq!(from_feed.units as usize, events, "one unit per event");
    assert_eq!((from_feed.refused, from_feed.invalid), (0, 0));
    assert!(from_feed.created > 0);
    let imported_ips = list(d2, OP_ANALYST, "ip-list");
    for ip in ["203.0.113.50", "203.0.113.51", "198.51.100.40"] {
        assert!(
            imported_ips.contains(ip),
            "{ip} not imported: {imported_ips:?}"
        );
    }
    let imported_domains = list(d2, OP_ANALYST, "domain-list");
    for dom in ["phish-bank.example", "feed.bad.example"] {
        assert!(
            imported_domains.contains(dom),
            "{dom} not imported: {imported_domains:?}"
        );
    }
    // The AMBER event stays AMBER in the new store: members there do not get it.
    let member_ips = list(d2, TWO_ANALYST, "ip-list");
    assert!(!member_ips.contains("203.0.113.50"), "{member_ips:?}");
    assert!(member_ips.contains("198.51.100.40"), "{member_ips:?}");

    let feed_again = summary(&ok(&["import", "--data", d2, feed_s]));
    reimported(&from_feed, &feed_again, 1);
    println!(
        "MISP event: {} objects; feed of {events} events: {} objects",
        first.created, from_feed.created
    );
}

/// A TLP:CLEAR event whose `file` object communicates with a `domain-ip` object, and whose
/// address was sighted by a member and reported by it as a false positive.
fn misp_linked_event() -> Value {
    let attr = |uuid: &str, relation: &str, ty: &str, value: &str| {
        json!({ "uuid": uuid, "object_relation": relation, "type": ty, "value": value,
                "to_ids": true, "distribution": "5", "timestamp": "1768464000" })
    };
    let member = json!({ "uuid": "2e2e2e2e-0000-4000-8000-000000000001", "name": "Member Bank" });
    json!({ "Event": {
        "uuid": "5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a99", "info": "Dropper and its C2",
        "date": "2026-01-16", "timestamp": "1768550400", "distribution": "3",
        "Orgc": { "uuid": "0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6", "name": "Partner CERT" },
        "Tag": [{ "name": "tlp:clear" }],
        "Object": [{
            "uuid": "3a3a3a3a-0000-4000-8000-000000000001", "name": "file", "distribution": "5",
            "Attribute": [attr("3b3b3b3b-0000-4000-8000-000000000001", "filename", "filename", "dropper.exe")],
            "ObjectReference": [{ "uuid": "3c3c3c3c-0000-4000-8000-000000000001",
                "referenced_uuid": "3a3a3a3a-0000-4000-8000-000000000002",
                "relationship_type": "communicates-with", "timestamp": "1768464000" }],
        }, {
            "uuid": "3a3a3a3a-0000-4000-8000-000000000002", "name": "domain-ip", "distribution": "5",
            "Attribute": [{
                "uuid": "3b3b3b3b-0000-4000-8000-000000000002", "object_relation": "ip",
                "type": "ip-dst", "value": "203.0.113.77", "to_ids": true, "distribution": "5",
                "timestamp": "1768464000",
                "Sighting": [
                    { "uuid": "3d3d3d3d-0000-4000-8000-000000000001", "type": "0",
                      "date_sighting": "1768500000", "source": "SIEM", "Organisation": member },
                    { "uuid": "3d3d3d3d-0000-4000-8000-000000000002", "type": "1",
                      "date_sighting": "1768500100", "Organisation": member },
                ],
            }],
        }],
    } })
}

#[test]
fn misp_references_and_sightings_are_stored_with_their_audience() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);
    let file = dir.join("linked.json");
    write_json(&file, &misp_linked_event());
    let first = summary(&ok(&["import", "--data", d, "--owner", BANK_ONE, &file]));
    assert_eq!((first.units, first.refused, first.invalid), (1, 0, 0));
    let reference = "relationship--3c3c3c3c-0000-4000-8000-000000000001";
    let sighting = "sighting--3d3d3d3d-0000-4000-8000-000000000001";
    let false_positive = "opinion--3d3d3d3d-0000-4000-8000-000000000002";
    // The owner and the ISAC see who sighted the address; another member sees the event, the
    // indicators and the reference between them, never the sightings.
    for user in [ONE_ANALYST, OP_ANALYST] {
        let seen = export_ids(d, user);
        for id in [reference, sighting, false_positive] {
            assert!(seen.contains(id), "{user} does not see {id}");
        }
    }
    let other = export_ids(d, TWO_ANALYST);
    assert!(other.contains(reference), "{other:?}");
    assert!(other.contains("indicator--3b3b3b3b-0000-4000-8000-000000000002"));
    for id in [sighting, false_positive] {
        assert!(!other.contains(id), "another member sees {id}");
    }
    let tlp = tlp_by_id(d, ONE_ANALYST);
    assert_eq!(tlp[sighting], "amber+strict");
    assert_eq!(tlp[reference], "clear");
    // Importing again changes nothing.
    let again = summary(&ok(&["import", "--data", d, "--owner", BANK_ONE, &file]));
    reimported(&first, &again, 0);

    // The owner's MISP feed holds the reference on the file object; the AMBER+STRICT sightings
    // are not handed on with the CLEAR address.
    let feed = dir.path().join("feed");
    let out = run(&[
        "export",
        "--data",
        d,
        "--as",
        ONE_ANALYST,
        "--format",
        "misp-feed",
        feed.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let ev: Value = serde_json::from_slice(
        &std::fs::read(feed.join("5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a99.json")).unwrap(),
    )
    .unwrap();
    let objects = ev["Event"]["Object"].as_array().unwrap();
    let file_object = objects
        .iter()
        .find(|o| o["uuid"] == "3a3a3a3a-0000-4000-8000-000000000001")
        .unwrap();
    assert_eq!(
        file_object["ObjectReference"][0]["referenced_uuid"],
        "3a3a3a3a-0000-4000-8000-000000000002"
    );
    assert!(!ev.to_string().contains("\"Sighting\""), "{ev}");
    assert!(
        out.stdout.contains(sighting) || out.stderr.contains(sighting),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    // The same feed archived with tar, as the web export hands it out, imports as the feed
    // directory does: every event it holds is already stored.
    let archive = dir.join("feed.tar");
    let tar = Command::new("tar")
        .args(["-cf", &archive, "-C", d, "feed"])
        .status()
        .expect("tar runs");
    assert!(tar.success());
    let back = summary(&ok(&["import", "--data", d, "--owner", BANK_ONE, &archive]));
    assert!(back.units >= 1 && back.refused == 0, "{back:?}");
    assert_eq!((back.created, back.updated), (0, 0), "{back:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. Exports hold exactly what their user may see.

#[test]
fn exports_hold_exactly_what_the_user_may_see() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);

    let formula = "=HYPERLINK(\"http://x.example\",\"open\")";
    let mut clear_ip = ip_indicator(50, "198.51.100.50", CLEAR);
    clear_ip["name"] = json!(formula);
    let green_ip = ip_indicator(51, "198.51.100.51", GREEN);
    let green_domain = domain_indicator(52, "green.bad.example", GREEN);
    let amber_ip = ip_indicator(53, "203.0.113.53", AMBER);
    let amber_domain = domain_indicator(54, "amber.bad.example", AMBER);
    let red_ip = ip_indicator(55, "203.0.113.55", RED);
    let red_domain = domain_indicator(56, "red.bad.example", RED);
    let mut revoked = ip_indicator(57, "198.51.100.57", GREEN);
    revoked["revoked"] = json!(true);
    let mut expired = ip_indicator(58, "198.51.100.58", GREEN);
    expired["valid_from"] = json!("2020-01-01T00:00:00.000Z");
    expired["valid_until"] = json!("2020-06-01T00:00:00.000Z");
    let mut current = domain_indicator(59, "current.bad.example", GREEN);
    current["valid_until"] = json!("2099-01-01T00:00:00.000Z");
    let malware = json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": sid("malware", 60),
        "created": CREATED,
        "modified": CREATED,
        "name": "Amber Loader",
        "is_family": true,
        "object_marking_refs": [AMBER],
    });

    let visible = [
        &clear_ip,
        &green_ip,
        &green_domain,
        &revoked,
        &expired,
        &current,
    ];
    let hidden = [&amber_ip, &amber_domain, &red_ip, &red_domain, &malware];
    let all: Vec<Value> = visible
        .iter()
        .chain(&hidden)
        .map(|o| (*o).clone())
        .collect();
    let file = dir.join("bank-one.json");
    write_json(&file, &bundle(&all));
    let s = summary(&ok(&[
        "import",
        "--data",
        d,
        "--owner",
        BANK_ONE,
        "--as",
        ONE_ANALYST,
        &file,
    ]));
    assert_eq!((s.created, s.refused), (all.len() as u64, 0));

    let id = |o: &Value| o["id"].as_str().unwrap().to_owned();
    let visible_ids: BTreeSet<String> = visible.iter().map(|o| id(o)).collect();
    let amber_ids: BTreeSet<String> = [&amber_ip, &amber_domain, &malware]
        .iter()
        .map(|o| id(o))
        .collect();
    let red_ids: BTreeSet<String> = [&red_ip, &red_domain].iter().map(|o| id(o)).collect();

    // The objects exist: the author sees everything, the operator all but RED.
    assert_eq!(export_ids(d, ONE_ANALYST), ids_of(&all));
    assert_eq!(
        export_ids(d, OP_ANALYST),
        visible_ids.union(&amber_ids).cloned().collect()
    );

    // STIX: the other member sees exactly the CLEAR and GREEN objects.
    let bundle2 = export_stix(d, TWO_ANALYST);
    assert_eq!(ids_of(&bundle2), visible_ids);
    let text = serde_json::to_string(&bundle2).unwrap();
    for secret in [
        "203.0.113.53",
        "amber.bad.example",
        "203.0.113.55",
        "red.bad.example",
        "Amber Loader",
    ] {
        assert!(!text.contains(secret), "{secret} in the STIX export");
    }
    // Another org's objects are attributed anonymously and carry no audience extension.
    for o in &bundle2 {
        assert!(
            !o.to_string().contains("extension-definition--7fd9267b"),
            "audience extension shown to another org: {o}"
        );
    }

    // CSV: the same rows, with the formula-like title neutralised.
    let rows = export_csv(d, TWO_ANALYST);
    let csv_ids: BTreeSet<String> = rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(csv_ids, visible_ids);
    assert_eq!(rows.len(), visible_ids.len());
    let clear_row = rows.iter().find(|r| r["id"] == id(&clear_ip)).unwrap();
    assert_eq!(clear_row["title"], format!("'{formula}"));
    assert_eq!(clear_row["tlp"], "clear");
    assert_eq!(clear_row["values"], "198.51.100.50");
    let revoked_row = rows.iter().find(|r| r["id"] == id(&revoked)).unwrap();
    assert_eq!(revoked_row["revoked"], "true");
    let expired_row = rows.iter().find(|r| r["id"] == id(&expired)).unwrap();
    assert_eq!(expired_row["valid_until"], "2020-06-01T00:00:00.000Z");
    let raw_csv = export_text(d, TWO_ANALYST, "csv");
    assert!(
        !raw_csv.contains(",=") && !raw_csv.contains(",\"="),
        "a cell starts with `=`:\n{raw_csv}"
    );

    // Block lists: only what is current (not revoked, not past valid_until) and visible.
    assert_eq!(
        list(d, TWO_ANALYST, "ip-list"),
        BTreeSet::from(["198.51.100.50".to_owned(), "198.51.100.51".to_owned()])
    );
    assert_eq!(
        list(d, TWO_ANALYST, "domain-list"),
        BTreeSet::from([
            "current.bad.example".to_owned(),
            "green.bad.example".to_owned()
        ])
    );
    // The author's lists do have the hidden values, so the lists above are cut by the policy.
    let author_ips = list(d, ONE_ANALYST, "ip-list");
    assert!(author_ips.contains("203.0.113.53") && author_ips.contains("203.0.113.55"));
    assert!(!author_ips.contains("198.51.100.57") && !author_ips.contains("198.51.100.58"));
    let operator_domains = list(d, OP_ANALYST, "domain-list");
    assert!(operator_domains.contains("amber.bad.example"));
    assert!(!operator_domains.contains("red.bad.example"));

    // MISP feed: the event files hold the visible values and none of the hidden ones.
    let feed = dir.path().join("feed-two");
    ok(&[
        "export",
        "--data",
        d,
        "--as",
        TWO_ANALYST,
        "--format",
        "misp-feed",
        feed.to_str().unwrap(),
    ]);
    let (values, _) = misp_feed_values(&feed);
    for v in ["198.51.100.50", "198.51.100.51", "green.bad.example"] {
        assert!(values.contains(v), "{v} not in the MISP feed: {values:?}");
    }
    let mut feed_text = String::new();
    for e in std::fs::read_dir(&feed).unwrap() {
        feed_text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    for secret in [
        "203.0.113.53",
        "amber.bad.example",
        "203.0.113.55",
        "red.bad.example",
        "Amber Loader",
    ] {
        assert!(!feed_text.contains(secret), "{secret} in the MISP feed");
    }
    println!(
        "{} objects stored; the other member's exports hold {}",
        all.len(),
        visible_ids.len()
    );
    assert!(red_ids.is_disjoint(&export_ids(d, OP_ANALYST)));
}

// ---------------------------------------------------------------------------------------------
// 6. TAXII pull and push against medallion.

const TAXII_USER: &str = "alice";
const TAXII_PASSWORD: &str = "alice-pass";
/// Seeded with STIX 2.1 objects; the pull source.
const PULL: &str = "3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c01";
/// Empty; the push destination.
const PUSH: &str = "3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c02";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn seed_pull() -> Vec<Value> {
    let mut objects = vec![
        ip_indicator(70, "192.0.2.70", GREEN),
        domain_indicator(71, "taxii.bad.example", CLEAR),
        json!({
            "type": "malware",
            "spec_version": "2.1",
            "id": sid("malware", 72),
            "created": CREATED,
            "modified": CREATED,
            "name": "Pulled Malware",
            "is_family": true,
        }),
    ];
    objects[0]["object_marking_refs"] = json!([GREEN]);
    objects
}

fn medallion_collection(id: &str, title: &str, objects: &[Value]) -> Value {
    let manifest: Vec<Value> = objects
        .iter()
        .enumerate()
        .map(|(k, o)| {
            json!({
                "id": o["id"],
                "date_added": format!("2026-01-20T00:00:{k:02}.000000Z"),
                "version": o["modified"],
                "media_type": "application/stix+json;version=2.1",
            })
        })
        .collect();
    json!({
        "id": id,
        "title": title,
        "description": format!("{title} collection"),
        "can_read": true,
        "can_write": true,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": objects,
        "manifest": manifest,
    })
}

/// medallion on 127.0.0.1, stopped when dropped (and when this process's end closes its stdin).
struct Medallion {
    child: Child,
    _stdin: ChildStdin,
    _stdout: BufReader<ChildStdout>,
    port: u16,
    _dir: TempDir,
}

impl Medallion {
    fn start() -> Medallion {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup-test-env to create the test virtualenv with medallion",
            python.display()
        );
        let dir = TempDir::new();
        let data = json!({
            "/discovery": {
                "title": "partner TAXII server",
                "description": "medallion with a seeded memory backend",
                "default": "{base}/api1/",
                "api_roots": ["{base}/api1/"],
            },
            "api1": {
                "information": {
                    "title": "API root one",
                    "description": "a pull source and a push destination",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 10_485_760,
                },
                "status": [],
                "collections": [
                    medallion_collection(PULL, "Pull source", &seed_pull()),
                    medallion_collection(PUSH, "Push destination", &[]),
                ],
            },
        });
        let data_path = dir.path().join("data.json");
        std::fs::write(&data_path, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
        let config = json!({
            "users": {TAXII_USER: TAXII_PASSWORD},
            "taxii": {"max_page_size": 100},
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data_path,
                "session_timeout": 600,
                "check_interval": 60,
            },
        });
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log = std::fs::File::create(dir.path().join("medallion.log")).unwrap();
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
            let log = std::fs::read_to_string(dir.path().join("medallion.log")).unwrap_or_default();
            panic!("medallion did not start (stdout {line:?}); its log:\n{log}");
        };
        let stdout = reader.join().unwrap();
        Medallion {
            child,
            _stdin: stdin,
            _stdout: stdout,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/taxii2/", self.port)
    }

    /// A client of the test itself, allowed to reach loopback.
    fn collection(&self, id: &str) -> isac_taxii::Collection {
        let config = ClientConfig::new(&self.url())
            .unwrap()
            .auth(Auth::basic(TAXII_USER, TAXII_PASSWORD))
            .outbound(OutboundPolicy::allowing(["127.0.0.0/8"
                .parse::<IpNetwork>()
                .unwrap()]));
        Client::new(config)
            .unwrap()
            .api_root()
            .unwrap()
            .collection(id)
    }
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn taxii_pull_resumes_and_push_sends_only_what_may_leave() {
    let m = Medallion::start();
    let dir = TempDir::new();
    let d = dir.str();
    community(d);
    let url = m.url();
    let remote = |collection: &'static str| -> Vec<String> {
        [
            "--url",
            url.as_str(),
            "--collection",
            collection,
            "--user",
            TAXII_USER,
            "--password",
            TAXII_PASSWORD,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let pull = |extra: &[&str]| {
        let mut args: Vec<String> = ["taxii", "pull", "--data", d]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(remote(PULL));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };

    // Loopback is refused unless allowed, before anything is imported or saved.
    let out = pull(&[]);
    failed(&out, &["refused", "loopback"]);
    assert!(export_ids(d, OP_ANALYST).is_empty());
    assert!(!dir.path().join("taxii-state.json").exists());

    // The remote collections, to choose one from: ids, access and titles, in either language.
    let list = |password: &str, lang: &str| {
        run(&[
            "taxii",
            "collections",
            "--url",
            url.as_str(),
            "--user",
            TAXII_USER,
            "--password",
            password,
            "--allow-private",
            "--lang",
            lang,
        ])
    };
    let out = list(TAXII_PASSWORD, "en");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for (id, title) in [(PULL, "Pull source"), (PUSH, "Push destination")] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(id) && l.contains("read, write") && l.ends_with(title)),
            "{id} {title}: {}",
            out.stdout
        );
    }
    assert!(out.stdout.starts_with("API root: "), "{}", out.stdout);
    let out = list(TAXII_PASSWORD, "zh-TW");
    assert!(out.stdout.contains("讀取、寫入"), "{}", out.stdout);
    failed(&list("wrong", "en"), &["401"]);

    // First pull: every seeded object.
    let out = pull(&["--allow-private"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(pulled(&out.stdout), (3, 0));
    assert!(
        dir.path().join("taxii-state.json").is_file(),
        "no resume state"
    );
    let seeded = ids_of(&seed_pull());
    assert_eq!(export_ids(d, OP_ANALYST), seeded);
    let tlp = tlp_by_id(d, OP_ANALYST);
    assert_eq!(tlp[&sid("indicator", 70)], "green");
    assert_eq!(tlp[&sid("indicator", 71)], "clear");
    assert_eq!(
        tlp[&sid("malware", 72)],
        "green",
        "unmarked takes the default"
    );

    // Second pull: nothing new.
    let out = pull(&["--allow-private"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(pulled(&out.stdout), (0, 0), "the resume state was not used");

    // Two objects added to the partner's collection: the third pull gets only those.
    let added = [
        ip_indicator(73, "192.0.2.73", GREEN),
        domain_indicator(74, "later.bad.example", AMBER),
    ];
    let status = m
        .collection(PULL)
        .push(&added, &PushOptions::default())
        .unwrap();
    assert_eq!(status.success_count, 2);
    let out = pull(&["--allow-private"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(pulled(&out.stdout), (2, 0));
    let all: BTreeSet<String> = seeded.union(&ids_of(&added)).cloned().collect();
    assert_eq!(export_ids(d, OP_ANALYST), all);
    assert_eq!(tlp_by_id(d, OP_ANALYST)[&sid("indicator", 74)], "amber");

    // Push: Bank One's analyst sees CLEAR, GREEN, AMBER and its own RED objects; at most GREEN
    // leaves, and only what the analyst may see (not the operator's AMBER pulled above).
    let file = dir.join("bank-one.json");
    let mine = [
        ip_indicator(80, "198.51.100.80", CLEAR),
        domain_indicator(81, "push-green.bad.example", GREEN),
        ip_indicator(82, "203.0.113.82", AMBER),
        ip_indicator(83, "203.0.113.83", RED),
    ];
    write_json(&file, &bundle(&mine));
    ok(&[
        "import",
        "--data",
        d,
        "--owner",
        BANK_ONE,
        "--as",
        ONE_ANALYST,
        &file,
    ]);
    let push = |max: &str| {
        let mut args: Vec<String> = [
            "taxii",
            "push",
            "--data",
            d,
            "--as",
            ONE_ANALYST,
            "--max-tlp",
            max,
            "--allow-private",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(remote(PUSH));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };
    let out = push("red");
    failed(&out, &["TLP:RED is never pushed"]);
    let destination = m.collection(PUSH);
    assert!(
        destination
            .all_objects(&ObjectFilter::new())
            .unwrap()
            .is_empty(),
        "a refused push sent something"
    );

    let expected: BTreeSet<String> = [
        sid("indicator", 70),
        sid("indicator", 71),
        sid("malware", 72),
        sid("indicator", 73),
        sid("indicator", 80),
        sid("indicator", 81),
    ]
    .into_iter()
    .collect();
    // Everything the analyst may see at CLEAR or GREEN, per the analyst's own export.
    let view: BTreeSet<String> = export_csv(d, ONE_ANALYST)
        .into_iter()
        .filter(|r| r["tlp"] == "clear" || r["tlp"] == "green")
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(view, expected);

    let out = push("green");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "pushed {} objects: {} succeeded, 0 failed, 0 pending",
            expected.len(),
            expected.len()
        )),
        "{}",
        out.stdout
    );
    let arrived = destination.all_objects(&ObjectFilter::new()).unwrap();
    assert_eq!(ids_of(&arrived), expected, "exactly CLEAR and GREEN arrive");
    let text = serde_json::to_string(&arrived).unwrap();
    for secret in ["203.0.113.82", "203.0.113.83", "later.bad.example"] {
        assert!(!text.contains(secret), "{secret} was pushed");
    }
    println!(
        "pulled {} objects in three polls; pushed {}",
        all.len(),
        arrived.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Re-importing observables.

/// A second import of the same MISP event or STIX 2.0 bundle must count every object as
/// unchanged (docs/EXCHANGE.md "Idempotent", docs/MISP.md "a second import is a no-op"). SCOs
/// carry no `modified`, and each import stamps them with the time of import, so every import
/// stores a new version of each observable.
#[test]
fn reimporting_observables_stores_nothing_new() {
    let dir = TempDir::new();
    let d = dir.str();
    community(d);
    let event = dir.join("event.json");
    write_json(&event, &misp_event());
    let first = summary(&ok(&["import", "--data", d, &event]));
    let again = summary(&ok(&["import", "--data", d, &event]));
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, first.created),
        "MISP event re-imported"
    );

    // A STIX bundle holding one observable, in a store of its own.
    let other = TempDir::new();
    let d = other.str();
    community(d);
    let sco = json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--b3edffbc-0380-5f06-aef0-2cd2a914baa0",
        "value": "203.0.113.51",
    });
    let file = dir.join("sco.json");
    write_json(&file, &bundle(&[sco]));
    let first = summary(&ok(&["import", "--data", d, &file]));
    assert_eq!(first.created, 1);
    let again = summary(&ok(&["import", "--data", d, &file]));
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, 1),
        "STIX bundle with an SCO re-imported"
    );
}

/// The example documents shipped with the OASIS STIX validator that `scripts/setup-test-env`
/// installs, for STIX 2.1 (threat reports, a lone object, an id with upper-case hex digits) and
/// for STIX 2.0 (upgraded on import). Each set goes into a store of its own: every document
/// imports with nothing refused, a second import changes nothing, and the export passes that
/// validator (as STIX 2.1) with no error.
#[test]
fn the_oasis_validator_examples_import_and_export_valid() {
    let lib = workspace_root().join(".venv/lib");
    let site = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/setup-test-env", lib.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/stix2validator"))
        .find(|p| p.is_dir())
        .expect("stix2-validator in .venv");
    for (version, at_least) in [("2.1", 7), ("2.0", 6)] {
        let mut files = Vec::new();
        let mut dirs = vec![site.join(format!("schemas-{version}/examples"))];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).expect("examples").flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() >= at_least, "{version}: {files:?}");
        let dir = TempDir::new();
        let d = dir.str();
        community(d);
        let mut created = 0;
        for f in &files {
            let f = f.to_str().unwrap();
            let s = summary(&ok(&["import", "--data", d, "--as", OP_ANALYST, f]));
            assert_eq!((s.units, s.refused), (1, 0), "{f}: {s:?}");
            created += s.created;
            let again = summary(&ok(&["import", "--data", d, "--as", OP_ANALYST, f]));
            assert_eq!(
                (again.created, again.updated, again.refused),
                (0, 0, 0),
                "{f}"
            );
        }
        assert!(created > 240, "{version}: {created} objects imported");
        let objects = export_stix(d, OP_ANALYST);
        assert!(objects.len() as u64 >= created, "{}", objects.len());
        let path = dir.path().join("export.json");
        std::fs::write(
            &path,
            ok(&[
                "export", "--data", d, "--as", OP_ANALYST, "--format", "stix", "-",
            ]),
        )
        .unwrap();
        let out = Command::new(workspace_root().join(".venv/bin/stix2_validator"))
            .args(["--version", "2.1"])
            .arg(&path)
            .output()
            .expect("stix2_validator runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !text.contains("[X]"),
            "the OASIS validator refused the export of the {version} examples:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
