//! The `isac` command through its front door: a real binary, a fresh data directory per test,
//! standard input, output and exit codes. Provisioning round trips, refused input that must leave
//! nothing behind, configuration precedence, and the demo.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_isac");
const PASSWORD: &str = "cli-test-Passw0rd!";

/// A data directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("isac-cli-test-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
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

impl Out {
    /// The last non-empty line of stdout: the id or token a command prints.
    fn last(&self) -> String {
        self.stdout
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

/// A command with a clean environment: no `ISAC_*` variable leaks in from the caller.
fn command(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("ISAC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

fn run_env(args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Out {
    let mut child = command(envs)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start isac");
    if let Some(s) = stdin {
        // A command refused before it reads stdin closes the pipe; that is not a test failure.
        let _ = child.stdin.take().expect("stdin").write_all(s.as_bytes());
    }
    let out = child.wait_with_output().expect("wait for isac");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str], stdin: Option<&str>) -> Out {
    run_env(args, stdin, &[])
}

/// Runs a command that must succeed and returns the last line of its output.
fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = run(args, stdin);
    assert_eq!(
        out.code,
        Some(0),
        "isac {} failed:\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    out.last()
}

/// Checks a command failed with `code` and an `error:` message containing `needle`.
fn fails(out: &Out, code: i32, needle: &str) {
    assert_eq!(
        out.code,
        Some(code),
        "expected exit {code}:\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains(needle),
        "expected `error: ...{needle}...`, got:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("panicked"),
        "isac panicked:\n{}",
        out.stderr
    );
}

fn audit_records(d: &str) -> u64 {
    let line = ok(&["audit", "verify", "--data", d], None);
    line.strip_prefix("ok: ")
        .and_then(|r| r.strip_suffix(" records"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected audit verify output: {line}"))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// An operator and a member bank, the usual start of a test.
fn base(d: &str) -> String {
    ok(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "Test ISAC",
            "--kind",
            "operator",
        ],
        None,
    );
    ok(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "Test Bank",
            "--name-zh",
            "測試銀行",
            "--kind",
            "member",
            "--sector",
            "bank",
        ],
        None,
    )
}

#[test]
fn provisioning_round_trip() {
    let dir = TempDir::new();
    let d = dir.str();
    let bank = base(d);
    assert!(is_uuid(&bank), "org add printed `{bank}`");
    assert!(dir.path().join("isac.db").is_file());

    // The org is found by its Chinese name; the password comes from stdin with its newline.
    let user = ok(
        &[
            "user",
            "add",
            "--data",
            d,
            "--org",
            "測試銀行",
            "--email",
            "Analyst@Bank.example",
            "--role",
            "member-analyst",
            "--password-stdin",
            "--locale",
            "en",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(is_uuid(&user), "user add printed `{user}`");

    // A user found by email (case-insensitively) and by id.
    let token = ok(
        &[
            "apikey",
            "create",
            "--data",
            d,
            "--user",
            "analyst@bank.example",
        ],
        None,
    );
    assert!(
        token.starts_with("isac_"),
        "apikey create printed `{token}`"
    );
    let token2 = ok(&["apikey", "create", "--data", d, "--user", &user], None);
    assert_ne!(token, token2);

    let group = ok(
        &[
            "group",
            "add",
            "--data",
            d,
            "--name",
            "Banks / 銀行業",
            "--description",
            "all banks",
        ],
        None,
    );
    assert!(is_uuid(&group));
    ok(
        &[
            "group",
            "add-member",
            "--data",
            d,
            "--group",
            "Banks / 銀行業",
            "--org",
            &bank,
        ],
        None,
    );
    ok(
        &[
            "group",
            "add-member",
            "--data",
            d,
            "--group",
            &group,
            "--org",
            "Test Bank",
        ],
        None,
    );

    // Two orgs, a user, two keys, a group, two membership changes.
    assert_eq!(audit_records(d), 8);
    let migrated = ok(&["migrate", "--data", d], None);
    assert!(migrated.starts_with("ok:"), "{migrated}");
}

#[test]
fn flags_come_from_the_environment() {
    let dir = TempDir::new();
    let id = run_env(
        &["org", "add"],
        None,
        &[
            ("ISAC_DATA", dir.str()),
            ("ISAC_NAME", "Env ISAC"),
            ("ISAC_KIND", "operator"),
        ],
    );
    assert_eq!(id.code, Some(0), "{}", id.stderr);
    assert!(is_uuid(&id.last()));
    // The flag wins over its variable.
    let other = TempDir::new();
    let out = run_env(
        &[
            "org",
            "add",
            "--data",
            other.str(),
            "--name",
            "Flag ISAC",
            "--kind",
            "operator",
        ],
        None,
        &[("ISAC_DATA", dir.str())],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(audit_records(dir.str()), 1);
    assert_eq!(audit_records(other.str()), 1);
}

#[test]
fn refused_input_leaves_nothing_behind() {
    let dir = TempDir::new();
    let d = dir.str();
    // A store with no operator yet: importing says how to make an owner.
    let file = dir.0.join("lone.json");
    std::fs::write(&file, br#"{"type": "bundle", "id": "bundle--6f0b5e3c-8f4e-4c55-9b1a-0d3f8e6a7b21", "objects": []}"#)
        .expect("write");
    let out = run(
        &["import", "--data", d, file.to_str().expect("utf-8")],
        None,
    );
    fails(&out, 1, "isac org add --kind operator");
    base(d);
    let before = audit_records(d);
    let user_add = |org: &str, email: &str, role: &str, password: &str| {
        run(
            &[
                "user",
                "add",
                "--data",
                d,
                "--org",
                org,
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(password),
        )
    };

    // Usage errors are clap's: exit 2.
    let out = run(
        &["org", "add", "--data", d, "--name", "X", "--kind", "bank"],
        None,
    );
    fails(&out, 2, "--kind");
    let out = run(&["org", "add", "--data", d, "--name", "X"], None);
    fails(&out, 2, "--kind");

    // Store-level refusals: exit 1 with the store's message.
    let out = run(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "Test Bank",
            "--kind",
            "member",
            "--sector",
            "bank",
        ],
        None,
    );
    fails(&out, 1, "already exists");
    let out = run(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "Second ISAC",
            "--kind",
            "operator",
        ],
        None,
    );
    fails(&out, 1, "operator");
    let out = run(
        &[
            "org",
            "add",
            "--data",
            d,
            "--name",
            "No Sector",
            "--kind",
            "member",
        ],
        None,
    );
    fails(&out, 1, "sector");
    let out = run(
        &[
            "org", "add", "--data", d, "--name", "  ", "--kind", "vendor",
        ],
        None,
    );
    fails(&out, 1, "name");

    let out = user_add(
        "Test Bank",
        "a@bank.example",
        "isac-admin",
        "long-enough-password\n",
    );
    fails(&out, 1, "not available to a member org");
    let out = user_add(
        "No Such Org",
        "b@bank.example",
        "member-reader",
        "long-enough-password\n",
    );
    fails(&out, 1, "org `No Such Org` not found");
    let out = user_add("Test Bank", "c@bank.example", "member-reader", "short\n");
    fails(&out, 1, "12 to 256 characters");
    let out = user_add("Test Bank", "c@bank.example", "member-reader", "");
    fails(&out, 1, "12 to 256 characters");
    let out = user_add(
        "Test Bank",
        "not-an-email",
        "member-reader",
        "long-enough-password\n",
    );
    fails(&out, 1, "email");
    let out = user_add(
        "Test Bank",
        "d@bank.example",
        "superuser",
        "long-enough-password\n",
    );
    fails(&out, 2, "--role");

    ok(
        &[
            "user",
            "add",
            "--data",
            d,
            "--org",
            "Test Bank",
            "--email",
            "e@bank.example",
            "--role",
            "member-reader",
        ],
        None,
    );
    let out = user_add(
        "Test Bank",
        "E@bank.example",
        "member-reader",
        "long-enough-password\n",
    );
    fails(&out, 1, "already exists");

    let out = run(
        &[
            "apikey",
            "create",
            "--data",
            d,
            "--user",
            "nobody@bank.example",
        ],
        None,
    );
    fails(&out, 1, "user `nobody@bank.example` not found");
    let out = run(
        &[
            "group",
            "add-member",
            "--data",
            d,
            "--group",
            "No Group",
            "--org",
            "Test Bank",
        ],
        None,
    );
    fails(&out, 1, "group `No Group` not found");

    // Only the one good user was recorded, and none of the refused users exist.
    assert_eq!(audit_records(d), before + 1);
    for email in [
        "a@bank.example",
        "b@bank.example",
        "c@bank.example",
        "d@bank.example",
    ] {
        let out = run(&["apikey", "create", "--data", d, "--user", email], None);
        fails(&out, 1, "not found");
    }
}

#[test]
fn storage_errors_are_clear() {
    let dir = TempDir::new();
    let out = run(
        &[
            "migrate",
            "--data",
            dir.str(),
            "--database-url",
            "mysql://root:secret@db/isac",
        ],
        None,
    );
    fails(&out, 1, "unsupported database URL scheme `mysql`");
    assert!(
        !out.stderr.contains("secret"),
        "the URL leaked: {}",
        out.stderr
    );

    // Verifying a directory without a database neither invents one nor creates the directory.
    let missing = dir.path().join("missing");
    let out = run(
        &[
            "audit",
            "verify",
            "--data",
            missing.to_str().expect("utf-8"),
        ],
        None,
    );
    fails(&out, 1, "no isac database");
    assert!(!missing.exists());
}

#[test]
fn config_file_with_unknown_key_is_refused() {
    let dir = TempDir::new();
    let d = dir.str();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlisten_port = 8080\n").expect("write config");
    let f = file.to_str().expect("utf-8");

    let out = run(&["migrate", "--data", d, "--config", f], None);
    fails(&out, 1, "unknown field `listen_port`");
    let out = run_env(&["migrate", "--data", d], None, &[("ISAC_CONFIG", f)]);
    fails(&out, 1, "unknown field `listen_port`");

    // DIR/isac.toml is read when no --config is given.
    std::fs::write(dir.path().join("isac.toml"), "databse_url = \"x\"\n").expect("write config");
    let out = run(&["migrate", "--data", d], None);
    fails(&out, 1, "unknown field `databse_url`");

    std::fs::write(dir.path().join("isac.toml"), "default_tlp = \"clear\"\n").expect("write");
    let out = run(&["serve", "--data", d, "--listen", "127.0.0.1:0"], None);
    fails(&out, 1, "wider than TLP:GREEN");

    std::fs::write(dir.path().join("isac.toml"), "listen = \"everywhere\"\n").expect("write");
    let out = run(&["serve", "--data", d], None);
    fails(&out, 1, "listen `everywhere`");

    let out = run(
        &[
            "serve",
            "--data",
            d,
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "cert.pem",
        ],
        None,
    );
    fails(&out, 1, "TLS certificate and a TLS key");
}

/// A running `isac serve` or `isac demo`, killed when dropped.
struct Server {
    child: Child,
    /// Standard output up to and including the listening line.
    output: String,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
    let mut child = command(envs)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start isac");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(url) = line.trim().strip_prefix("isac listening on ") {
                let _ = tx.send((seen.clone(), url.to_owned()));
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok((output, url)) => Server { child, output, url },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("isac {} never printed its listening line", args.join(" "));
        }
    }
}

#[test]
fn settings_come_from_flag_then_env_then_file() {
    let dir = TempDir::new();
    let d = dir.str();
    base(d);

    // From the file: port 0, so not the default 8080.
    std::fs::write(dir.path().join("isac.toml"), "listen = \"127.0.0.1:0\"\n").expect("write");
    let s = start(&["serve", "--data", d], &[]);
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    assert!(!s.url.ends_with(":8080"), "{}", s.url);
    drop(s);

    // The file names an address nobody may bind; the variable wins over it.
    std::fs::write(dir.path().join("isac.toml"), "listen = \"192.0.2.1:9\"\n").expect("write");
    let s = start(&["serve", "--data", d], &[("ISAC_LISTEN", "127.0.0.1:0")]);
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    drop(s);

    // And the flag wins over the variable.
    let s = start(
        &["serve", "--data", d, "--listen", "127.0.0.1:0"],
        &[("ISAC_LISTEN", "192.0.2.1:9")],
    );
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
}

#[test]
fn demo_seeds_once_and_prints_logins_before_serving() {
    let dir = TempDir::new();
    let d = dir.str();
    let args = [
        "demo",
        "--data",
        d,
        "--listen",
        "127.0.0.1:0",
        "--objects",
        "600",
    ];
    let s = start(&args, &[]);
    assert!(s.output.contains("seeded 25 orgs"), "{}", s.output);
    assert!(
        s.output.contains("600 intelligence objects"),
        "{}",
        s.output
    );
    for expected in [
        "demo-Passw0rd!",
        "admin@twfisac.example",
        "analyst@twfisac.example",
        "analyst@m01.example",
        "reader@m01.example",
        "service@p01.example",
        "responder@v01.example",
    ] {
        assert!(
            s.output.contains(expected),
            "no `{expected}` in:\n{}",
            s.output
        );
    }
    let logins = s.output.find("demo-Passw0rd!").expect("password shown");
    let listening = s.output.find("isac listening on").expect("listening line");
    assert!(logins < listening);
    drop(s);

    // The demo accounts exist where the e2e tests expect them.
    for email in [
        "analyst@m20.example",
        "service@p02.example",
        "responder@v02.example",
    ] {
        ok(&["apikey", "create", "--data", d, "--user", email], None);
    }
    let records = audit_records(d);

    // A second start finds the data and does not seed again.
    let s = start(&args, &[]);
    assert!(s.output.contains("not seeding"), "{}", s.output);
    assert!(s.output.contains("demo-Passw0rd!"), "{}", s.output);
    drop(s);
    assert_eq!(audit_records(d), records);
}

/// The ids in a STIX bundle file and their TLP marking ids.
/// The objects of an exported bundle as (id, first marking), and apart from them the ids of the
/// predefined TLP marking definitions the export appends.
/// The ids (each with its first marking) of an exported bundle: its directory entries (the org
/// identities the user may read, then isac's extension definition, which come first), its
/// objects, and the ids of the TLP definitions it carries.
type Entries = Vec<(String, String)>;

fn bundle(path: &Path) -> (Entries, Entries, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read export")).expect("bundle JSON");
    assert_eq!(v["type"], "bundle");
    let mut all: Entries = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["id"].as_str().expect("id").to_owned(),
                o["object_marking_refs"][0]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    let end = all
        .iter()
        .position(|(id, _)| id == isac_stix::audience::EXTENSION_ID)
        .expect("the directory ends with isac's extension definition");
    let directory: Entries = all.drain(..=end).collect();
    assert!(
        directory[..end]
            .iter()
            .all(|(id, _)| id.starts_with("identity--")),
        "the directory holds identities, then the extension definition: {directory:?}"
    );
    let (definitions, objects): (Entries, Entries) = all
        .into_iter()
        .partition(|(id, _)| isac_model::Tlp::from_marking_id(id).is_some());
    (
        directory,
        objects,
        definitions.into_iter().map(|(id, _)| id).collect(),
    )
}

#[test]
fn export_writes_exactly_what_the_user_may_see() {
    let dir = TempDir::new();
    let d = dir.str();
    let s = start(
        &[
            "demo",
            "--data",
            d,
            "--listen",
            "127.0.0.1:0",
            "--objects",
            "800",
        ],
        &[],
    );
    for (who, kind) in [
        ("analyst@m01.example", "member"),
        ("responder@v01.example", "vendor"),
        ("service@p02.example", "partner"),
    ] {
        let key = ok(&["apikey", "create", "--data", d, "--user", who], None);
        // Everything the REST API lists for this user.
        let mut api_ids = std::collections::BTreeSet::new();
        let mut cursor = String::new();
        loop {
            let url = format!("{}/api/v1/objects?limit=500&cursor={cursor}", s.url);
            let page: serde_json::Value = ureq::get(&url)
                .set("Authorization", &format!("Bearer {key}"))
                .call()
                .expect("list")
                .into_json()
                .expect("json");
            for o in page["objects"].as_array().expect("objects") {
                api_ids.insert(o["id"].as_str().expect("id").to_owned());
            }
            match page["next"].as_str() {
                Some(n) => cursor = n.replace('+', "%2B"),
                None => break,
            }
        }
        let out = dir.path().join(format!("{kind}.json"));
        let o = run(
            &[
                "export",
                "--data",
                d,
                "--as",
                who,
                out.to_str().expect("path"),
            ],
            None,
        );
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        let (directory, exported, definitions) = bundle(&out);
        let ids: std::collections::BTreeSet<String> =
            exported.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids.len(), exported.len(), "no duplicates");
        assert_eq!(ids, api_ids, "{who}: the export equals the REST view");
        assert!(!ids.is_empty(), "{who} sees something");
        let used: std::collections::BTreeSet<&String> = exported
            .iter()
            .chain(&directory)
            .map(|(_, m)| m)
            .filter(|m| isac_model::Tlp::from_marking_id(m).is_some())
            .collect();
        assert_eq!(
            definitions
                .iter()
                .collect::<std::collections::BTreeSet<_>>(),
            used,
            "{who}: the TLP definitions of the markings used"
        );
        assert_eq!(definitions.len(), used.len(), "{who}: each definition once");
        let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
        if kind == "vendor" {
            assert!(
                exported.iter().chain(&directory).all(|(_, m)| m != green),
                "vendors never see GREEN, members' identities included"
            );
            assert!(
                !definitions.iter().any(|d| d == green),
                "nor its definition"
            );
        }
    }
    // Unknown user: clear error, no file.
    let out = dir.path().join("nobody.json");
    let o = run(
        &[
            "export",
            "--data",
            d,
            "--as",
            "nobody@x.example",
            out.to_str().expect("path"),
        ],
        None,
    );
    fails(&o, 1, "not found");
    assert!(!out.exists());
    drop(s);
}
