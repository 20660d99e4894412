//! Server tests, run on SQLite always and on PostgreSQL when `ISAC_TEST_DATABASE_URL` is set:
//! the route-policy completeness test, authentication, CSRF, bad input, and a property test of
//! the REST read paths against the reference model.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp};
use isac_store::{AuditEntry, Location, NewOrg, NewUser, Org, Store, User};
use rand::Rng;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::routes::Rule;
use crate::{AppState, Config, RouteInfo, auth};

const PASSWORD: &str = "correct horse battery";

/// A fresh store on every configured backend: SQLite in a temporary directory, and PostgreSQL in
/// a schema of its own when `ISAC_TEST_DATABASE_URL` is set. Iterate over it; the directory and
/// the schema are removed when the iteration ends, also when a test body panics.
pub(crate) async fn stores() -> TestStores {
    let mut items = Vec::new();
    let dir = std::env::temp_dir().join(format!(
        "isac-srv-{}",
        hex::encode(rand::thread_rng().r#gen::<[u8; 8]>())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cleanup = Cleanup { dir, schema: None };
    items.push((
        "sqlite",
        Store::open(&Location::SqliteFile(cleanup.dir.join("isac.db")))
            .await
            .expect("sqlite"),
    ));
    if let Ok(url) = std::env::var("ISAC_TEST_DATABASE_URL") {
        let schema = format!("srv_{}", hex::encode(rand::thread_rng().r#gen::<[u8; 6]>()));
        cleanup.schema = Some((url.clone(), schema.clone()));
        items.push((
            "postgres",
            Store::open(&Location::Postgres {
                url,
                schema: Some(schema),
            })
            .await
            .expect("postgres"),
        ));
    }
    TestStores {
        items: items.into_iter(),
        _cleanup: cleanup,
    }
}

/// The stores of one test, see [`stores`].
pub(crate) struct TestStores {
    items: std::vec::IntoIter<(&'static str, Store)>,
    /// Held for its `Drop`.
    _cleanup: Cleanup,
}

impl Iterator for TestStores {
    type Item = (&'static str, Store);

    fn next(&mut self) -> Option<Self::Item> {
        self.items.next()
    }
}

/// Removes a test's SQLite directory and drops its PostgreSQL schema.
struct Cleanup {
    dir: std::path::PathBuf,
    /// The URL and the schema.
    schema: Option<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let Some((url, schema)) = self.schema.take() else {
            return;
        };
        // Drop may run inside the test's runtime, which cannot be blocked on; a thread with a
        // runtime of its own can.
        let dropped = std::thread::spawn(move || {
            use sqlx::{Connection, Executor};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&url).await.ok()?;
                conn.execute("SET lock_timeout = '10s'").await.ok()?;
                // A connection of the test's pool may still hold locks in the schema: a write
                // the test made fail leaves its transaction open until the pool's task that
                // returns the connection sends the rollback, and this thread blocks the test's
                // runtime, so that task cannot run. The test is over; its sessions end here.
                sqlx::query(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                     JOIN pg_class c ON c.oid = l.relation \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND l.pid <> pg_backend_pid() GROUP BY l.pid",
                )
                .bind(&schema)
                .execute(&mut conn)
                .await
                .ok()?;
                conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop a test schema; drop the srv_* schemas by hand");
        }
    }
}

pub(crate) fn cli() -> AuditEntry {
    AuditEntry::new("test.setup", "-").from_source("test")
}

struct Fx {
    app: Router,
    table: Vec<RouteInfo>,
    store: Store,
    op: Org,
    m1: Org,
    m2: Org,
    vendor: Org,
    partner: Org,
    op_admin: User,
    m1_analyst: User,
    m1_admin: User,
    m2_analyst: User,
    keys: std::collections::BTreeMap<&'static str, String>,
}

pub(crate) async fn org(store: &Store, kind: OrgKind, name: &str) -> Org {
    store
        .create_org(
            &NewOrg {
                kind,
                sector: (kind == OrgKind::Member).then_some(Sector::Bank),
                name_en: name.into(),
                name_zh: format!("{name} 中文"),
                partner_ceiling: (kind == OrgKind::Partner).then_some(Tlp::Green),
            },
            cli(),
        )
        .await
        .expect("org")
}

async fn user(store: &Store, org: &Org, email: &str, role: Role, hash: &str) -> User {
    store
        .create_user(
            &NewUser {
                org_id: org.id.clone(),
                email: email.into(),
                display_name: email.into(),
                locale: Locale::En,
                role,
                password_hash: Some(hash.into()),
            },
            cli(),
        )
        .await
        .expect("user")
}

async fn fixture(store: Store) -> Fx {
    let hash = auth::hash_password(PASSWORD).expect("hash");
    let op = org(&store, OrgKind::Operator, "Operator").await;
    let m1 = org(&store, OrgKind::Member, "Member One").await;
    let m2 = org(&store, OrgKind::Member, "Member Two").await;
    let vendor = org(&store, OrgKind::Vendor, "Vendor").await;
    let partner = org(&store, OrgKind::Partner, "Partner").await;
    let op_admin = user(&store, &op, "admin@op.example", Role::IsacAdmin, &hash).await;
    let op_analyst = user(&store, &op, "analyst@op.example", Role::IsacAnalyst, &hash).await;
    let m1_admin = user(&store, &m1, "admin@m1.example", Role::MemberAdmin, &hash).await;
    let m1_analyst = user(
        &store,
        &m1,
        "analyst@m1.example",
        Role::MemberAnalyst,
        &hash,
    )
    .await;
    let m1_reader = user(&store, &m1, "reader@m1.example", Role::MemberReader, &hash).await;
    let m2_analyst = user(
        &store,
        &m2,
        "analyst@m2.example",
        Role::MemberAnalyst,
        &hash,
    )
    .await;
    let v = user(
        &store,
        &vendor,
        "responder@v.example",
        Role::VendorResponder,
        &hash,
    )
    .await;
    let pt = user(
        &store,
        &partner,
        "service@p.example",
        Role::PartnerService,
        &hash,
    )
    .await;
    let mut keys = std::collections::BTreeMap::new();
    for (name, u) in [
        ("op_admin", &op_admin),
        ("op_analyst", &op_analyst),
        ("m1_admin", &m1_admin),
        ("m1_analyst", &m1_analyst),
        ("m1_reader", &m1_reader),
        ("m2_analyst", &m2_analyst),
        ("vendor", &v),
        ("partner", &pt),
    ] {
        let (t, _) = auth::create_api_key(&store, u, "test", cli())
            .await
            .expect("key");
        keys.insert(name, t);
    }
    let state = AppState::new(
        store.clone(),
        Config {
            login_attempts_per_minute: 1000,
            ..Config::default()
        },
    );
    let (app, table) = crate::app(state);
    Fx {
        app,
        table,
        store,
        op,
        m1,
        m2,
        vendor,
        partner,
        op_admin,
        m1_analyst,
        m1_admin,
        m2_analyst,
        keys,
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let r = app.clone().oneshot(req).await.expect("infallible");
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

fn api(method: Method, uri: &str, key: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .expect("request"),
        None => b.body(Body::empty()).expect("request"),
    }
}

/// `POST /api/v1/objects` with `body` sent as it is (JSON or not), under API key `key`.
fn raw_object_post(key: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/objects")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

impl Fx {
    async fn call(&self, method: Method, uri: &str, who: &str, body: Option<Value>) -> Resp {
        send(&self.app, api(method, uri, Some(&self.keys[who]), body)).await
    }

    /// Creates `object` at `tlp` over REST as `who`, which must succeed; returns its id.
    async fn create(&self, who: &str, object: Value, tlp: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/objects",
                who,
                Some(json!({"object": object, "tlp": tlp})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().expect("id").to_owned()
    }
}

/// A concrete path for a route pattern: every `{param}` becomes a fresh id.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                format!("indicator--{}", uuid::Uuid::new_v4())
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Routes open to anonymous callers. Anything else that is public is a bug.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/api/openapi.json"),
    ("POST", "/api/v1/applications"),
    ("GET", "/static/app.css"),
    ("GET", "/static/app.js"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/lang"),
    ("GET", "/apply"),
    ("POST", "/apply"),
    // TAXII: discovery, the API root and the collection list answer anonymous callers with what
    // they may see; the TLP:CLEAR collection is readable without login.
    ("GET", "/taxii2/"),
    ("GET", "/taxii2/isac/"),
    ("GET", "/taxii2/isac/collections/"),
    (
        "GET",
        "/taxii2/isac/collections/f156e4c7-f0c4-4a34-8a18-5c89a66f6a23/",
    ),
    (
        "GET",
        "/taxii2/isac/collections/f156e4c7-f0c4-4a34-8a18-5c89a66f6a23/objects/",
    ),
    (
        "GET",
        "/taxii2/isac/collections/f156e4c7-f0c4-4a34-8a18-5c89a66f6a23/objects/{object_id}/",
    ),
    (
        "GET",
        "/taxii2/isac/collections/f156e4c7-f0c4-4a34-8a18-5c89a66f6a23/objects/{object_id}/versions/",
    ),
    (
        "GET",
        "/taxii2/isac/collections/f156e4c7-f0c4-4a34-8a18-5c89a66f6a23/manifest/",
    ),
];

#[tokio::test]
async fn route_policy_completeness() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        assert!(
            fx.table.len() >= 60,
            "route table has {} routes",
            fx.table.len()
        );
        let mut checked = 0;
        for r in &fx.table {
            let key = (r.method.as_str(), r.path);
            if r.rule == Rule::Public {
                assert!(
                    PUBLIC.contains(&key),
                    "{} {} is public but not on the allow-list",
                    r.method,
                    r.path
                );
                continue;
            }
            assert!(
                !PUBLIC.contains(&key),
                "{} {} is on the allow-list but guarded",
                r.method,
                r.path
            );
            let uri = concrete(r.path);
            let req = Request::builder()
                .method(r.method.clone())
                .uri(&uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .expect("request");
            let resp = send(&fx.app, req).await;
            if r.path.starts_with("/api/") {
                assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{} {uri}", r.method);
                assert_eq!(resp.json()["code"], "unauthenticated");
            } else if r.path.starts_with("/taxii2/") {
                assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{} {uri}", r.method);
                assert_eq!(resp.json()["http_status"], "401", "{} {uri}", r.method);
                let challenge = resp.headers[header::WWW_AUTHENTICATE]
                    .to_str()
                    .expect("ascii");
                assert!(challenge.contains("Basic"), "{challenge}");
            } else {
                assert_eq!(resp.status, StatusCode::SEE_OTHER, "{} {uri}", r.method);
                assert_eq!(resp.headers[header::LOCATION], "/login");
            }
            // A wrong key is refused the same way.
            let resp = send(
                &fx.app,
                api(
                    r.method.clone(),
                    &uri,
                    Some("isac_deadbeef_nope"),
                    Some(json!({})),
                ),
            )
            .await;
            assert_eq!(
                resp.status,
                StatusCode::UNAUTHORIZED,
                "{} {uri} with a bad key",
                r.method
            );
            checked += 1;
        }
        // Roles: a member reader is refused every operator-admin and writer route, and the refusal is audited.
        let before = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        let mut denied = 0;
        for r in fx.table.iter().filter(|r| {
            matches!(
                r.rule,
                Rule::OperatorAdmin | Rule::IntelWriter | Rule::OrgAdmin
            ) && (r.path.starts_with("/api/") || r.path.starts_with("/taxii2/"))
        }) {
            let resp = fx
                .call(
                    r.method.clone(),
                    &concrete(r.path),
                    "m1_reader",
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                resp.status,
                StatusCode::FORBIDDEN,
                "{} {} as member-reader",
                r.method,
                r.path
            );
            denied += 1;
        }
        let after = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        assert_eq!(after - before, denied, "every denial is audited");
        println!(
            "route policy ({backend}): {} routes, {checked} guarded routes refuse anonymous callers, {denied} role denials audited",
            fx.table.len()
        );
    }
}

#[tokio::test]
async fn get_never_changes_state() {
    for (_, store) in stores().await {
        let fx = fixture(store).await;
        let before = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        for r in fx
            .table
            .iter()
            .filter(|r| r.method == Method::GET && !r.path.contains('{'))
        {
            let uri = if r.path == "/api/v1/search" {
                "/api/v1/search?q=203.0.113.1"
            } else {
                r.path
            };
            let who = if r.rule == Rule::IntelWriter {
                "op_analyst"
            } else {
                "op_admin"
            };
            let resp = fx.call(Method::GET, uri, who, None).await;
            assert!(
                resp.status.is_success() || resp.status.is_redirection(),
                "GET {} as admin: {}",
                r.path,
                resp.status
            );
        }
        let after = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        assert_eq!(before, after, "a GET wrote to the audit log");
    }
}

/// Objects marked the way tools other than isac mark TLP, with the level each must be stored
/// at: OpenCTI's own AMBER+STRICT definition (and its id alone, without the definition), a
/// statement marking named `TLP:RED`, a granular AMBER marking under an object-level GREEN one,
/// and a granular RED marking alone. (A TLP 1.0-style definition with an id of its own is not
/// valid STIX, §7.2.1.4, and is refused.)
/// Every object is an indicator except the definitions, which are returned first with `None`.
fn foreign_tlp_objects() -> Vec<(Value, Option<Tlp>)> {
    let new_id = |t: &str| format!("{t}--{}", uuid::Uuid::new_v4());
    let t = "2026-03-01T00:00:00.000Z";
    let ind = |name: &str, extra: Value| {
        let mut o = json!({
            "type": "indicator", "spec_version": "2.1", "id": new_id("indicator"),
            "created": t, "modified": t, "name": name, "description": "part of it is marked",
            "pattern": format!("[domain-name:value = '{}.example']", name.replace(' ', "-")),
            "pattern_type": "stix", "valid_from": "2026-03-01T00:00:00Z",
        });
        for (k, v) in extra.as_object().expect("an object") {
            o[k] = v.clone();
        }
        o
    };
    let opencti = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": Tlp::OPENCTI_AMBER_STRICT_ID, "created": t,
        "definition_type": "statement", "definition": {"statement": "custom"},
        "x_opencti_definition_type": "TLP", "x_opencti_definition": "TLP:AMBER+STRICT",
    });
    let red_id = new_id("marking-definition");
    let red = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": red_id, "created": t,
        "name": "TLP:RED", "definition_type": "statement",
        "definition": {"statement": "Not for disclosure, restricted to participants only."},
    });
    vec![
        (opencti, None),
        (red, None),
        (
            ind(
                "opencti strict",
                json!({"object_marking_refs": [Tlp::OPENCTI_AMBER_STRICT_ID]}),
            ),
            Some(Tlp::AmberStrict),
        ),
        (
            ind("statement red", json!({"object_marking_refs": [red_id]})),
            Some(Tlp::Red),
        ),
        (
            ind(
                "granular amber",
                json!({
                    "object_marking_refs": [Tlp::Green.marking_id_v2()],
                    "granular_markings": [{"marking_ref": Tlp::Amber.marking_id_v2(), "selectors": ["description"]}],
                }),
            ),
            Some(Tlp::Amber),
        ),
        (
            ind(
                "granular red",
                json!({"granular_markings": [{"marking_ref": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "selectors": ["description"]}]}),
            ),
            Some(Tlp::Red),
        ),
        (
            ind(
                "plain",
                json!({"object_marking_refs": [Tlp::Green.marking_id_v2()]}),
            ),
            Some(Tlp::Green),
        ),
    ]
}

impl Fx {
    /// Checks each object of [`foreign_tlp_objects`] was stored at its level: its owner (an m1
    /// analyst) reads it at that level with a predefined TLP marking first, and m2, outside
    /// every audience but GREEN's, reads only the GREEN one.
    async fn check_foreign_tlp(&self, backend: &str, objects: &[(Value, Option<Tlp>)]) {
        for (o, want) in objects {
            let Some(want) = want else { continue };
            let uri = format!("/api/v1/objects/{}", o["id"].as_str().expect("id"));
            let r = self.call(Method::GET, &uri, "m1_analyst", None).await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{backend}: {}: {}",
                o["name"],
                r.text()
            );
            let got = r.json();
            assert_eq!(got["tlp"], want.as_str(), "{backend}: {}", o["name"]);
            assert_eq!(
                got["object"]["object_marking_refs"][0],
                want.marking_id_v2(),
                "{backend}: {}",
                o["name"]
            );
            let r = self.call(Method::GET, &uri, "m2_analyst", None).await;
            let visible = *want == Tlp::Green;
            assert_eq!(
                r.status,
                if visible {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                },
                "{backend}: {} as m2",
                o["name"]
            );
        }
    }
}

fn indicator(name: &str, value: &str) -> Value {
    json!({"type": "indicator", "name": name, "pattern": format!("[ipv4-addr:value = '{value}']"), "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"})
}

#[tokio::test]
async fn objects_api_and_bad_input() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        // Create, read, search, list.
        let r = fx.call(Method::POST, "/api/v1/objects", "m1_analyst", Some(json!({"object": indicator("C2 server", "203.0.113.7"), "tlp": "amber", "recipients": {"orgs": [fx.m2.id]}}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let created_added = r.json()["date_added"].clone();
        let obj = &r.json()["object"];
        assert_eq!(obj["spec_version"], "2.1");
        // The answer gives the stored `date_added`, from which a client may poll `added_after`.
        let again = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{id}"),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(again.json()["date_added"], created_added, "{backend}");
        assert_eq!(obj["object_marking_refs"][0], Tlp::Amber.marking_id_v2());
        assert_eq!(obj["created_by_ref"], format!("identity--{}", fx.m1.id));
        // Without `tlp` or an object-level marking, a granular TLP marking is the object's: it
        // is shared whole.
        let mut partly = indicator("partly amber", "203.0.113.9");
        partly["granular_markings"] =
            json!([{"marking_ref": Tlp::Amber.marking_id_v2(), "selectors": ["name"]}]);
        let r = fx
            .call(
                Method::POST,
                "/api/v1/objects",
                "m1_analyst",
                Some(json!({"object": partly})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        assert_eq!(r.json()["tlp"], "amber", "{backend}");
        assert_eq!(
            r.json()["object"]["object_marking_refs"][0],
            Tlp::Amber.marking_id_v2()
        );
        for who in ["m1_analyst", "m2_analyst", "op_admin", "op_analyst"] {
            let r = fx
                .call(Method::GET, &format!("/api/v1/objects/{id}"), who, None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{who} reads the AMBER object");
            let r = fx
                .call(Method::GET, "/api/v1/search?q=203.0.113.7", who, None)
                .await;
            assert_eq!(
                r.json()["objects"].as_array().expect("objects").len(),
                1,
                "{who} finds it"
            );
        }
        // Another recipient sees the ISAC, not the owner, as the creator.
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{id}"),
                "m2_analyst",
                None,
            )
            .await;
        assert_eq!(
            r.json()["object"]["created_by_ref"],
            format!("identity--{}", fx.op.id)
        );
        assert!(r.json().get("recipients").is_none());
        for who in ["vendor", "partner"] {
            let r = fx
                .call(Method::GET, &format!("/api/v1/objects/{id}"), who, None)
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{who} may not read it");
            let r = fx
                .call(Method::GET, "/api/v1/search?q=203.0.113.7", who, None)
                .await;
            assert_eq!(r.json()["objects"].as_array().expect("objects").len(), 0);
            let r = fx.call(Method::GET, "/api/v1/stats", who, None).await;
            assert_eq!(r.json()["total"], 0, "{who} counts nothing");
        }
        // New version by a non-owner may not widen; the owner may.
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/objects/{id}/versions"),
                "m2_analyst",
                Some(json!({"tlp": "green", "recipients": {}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/objects/{id}/versions"),
                "m2_analyst",
                Some(json!({"changes": {"description": "seen again"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/objects/{id}/versions"),
                "m1_analyst",
                Some(json!({"tlp": "green", "recipients": {}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{id}/versions"),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(r.json().as_array().expect("versions").len(), 3);
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/objects/{id}/revoke"),
                "m2_analyst",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/objects/{id}/revoke"),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["object"]["revoked"], true);

        // Bad input: each is a clear 4xx and stores nothing.
        let count = fx.store.version_count().await.expect("count");
        let audit_before = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        let raw = |body: &str| raw_object_post(&fx.keys["m1_analyst"], body);
        let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
            (raw("{\"object\": "), StatusCode::BAD_REQUEST, "malformed_json"),
            (raw(&json!({"object": indicator("x", "1.2.3.4"), "tlp": "green", "colour": 1}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
            (raw(&json!({"object": indicator("x", "1.2.3.4"), "tlp": "purple"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_tlp"),
            (raw(&json!({"object": {"granular_markings": [{"marking_ref": Tlp::Red.marking_id_v2(), "selectors": ["name"]}], "type": "indicator", "name": "x", "pattern": "[ipv4-addr:value = '1.2.3.4']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}, "tlp": "green"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_tlp"),
            (raw(&json!({"object": indicator("x", "1.2.3.4"), "tlp": "red", "recipients": {"orgs": [fx.m2.id]}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audience"),
            (raw(&json!({"object": indicator("x", "1.2.3.4"), "tlp": "amber+strict", "recipients": {"orgs": [fx.vendor.id]}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audience"),
            (raw(&json!({"object": indicator("x", "1.2.3.4"), "tlp": "amber", "recipients": {"orgs": ["no-such-org"]}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audience"),
            (raw(&json!({"object": {"type": "Bad Type"}, "tlp": "green"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            (raw(&json!({"object": {"type": "indicator", "name": "x".repeat(300_000)}, "tlp": "green"}).to_string()), StatusCode::PAYLOAD_TOO_LARGE, "object_too_large"),
            (raw(&format!("{{\"object\": {{\"type\": \"note\", \"content\": \"{}\"}}}}", "y".repeat(3 * 1024 * 1024))), StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            (
                Request::builder().method(Method::POST).uri("/api/v1/objects").header(header::AUTHORIZATION, format!("Bearer {}", fx.keys["m1_analyst"])).body(Body::from("{}")).expect("request"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
        ];
        for (req, status, code) in cases {
            let r = send(&fx.app, req).await;
            assert_eq!(r.status, status, "{backend}: {}", r.text());
            assert_eq!(r.json()["code"], code, "{}", r.text());
            assert!(!r.json()["message"].as_str().unwrap_or("").is_empty());
        }
        // A batch with one bad item stores none of its items.
        let r = fx
            .call(Method::POST, "/api/v1/objects/batch", "m1_analyst", Some(json!({"items": [
                {"object": indicator("ok", "198.51.100.1"), "tlp": "green"},
                {"object": indicator("bad", "198.51.100.2"), "tlp": "red", "recipients": {"groups": ["x"]}}
            ]})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        // A batch that collides with a stored id stores nothing either (checked in the store's transaction).
        let r = fx
            .call(Method::POST, "/api/v1/objects/batch", "m1_analyst", Some(json!({"items": [
                {"object": indicator("ok", "198.51.100.1"), "tlp": "green"},
                {"object": {"type": "indicator", "id": id, "name": "dup", "pattern": "[ipv4-addr:value = '1.1.1.1']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}, "tlp": "green"}
            ]})))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        assert_eq!(
            fx.store.version_count().await.expect("count"),
            count,
            "{backend}: nothing half-stored"
        );
        assert_eq!(
            fx.store.audit_page(None, 1).await.expect("audit")[0].seq,
            audit_before,
            "no mutation recorded"
        );
        // Bad list parameters.
        for q in [
            "sort=title",
            "limit=0",
            "limit=100000",
            "colour=red",
            "cursor=zzz",
        ] {
            let r = fx
                .call(
                    Method::GET,
                    &format!("/api/v1/objects?{q}"),
                    "m1_analyst",
                    None,
                )
                .await;
            assert!(r.status.is_client_error(), "{q}: {}", r.status);
        }
        // Ids from another org.
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/users/{}", fx.m2_analyst.id),
                "m1_admin",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = fx
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", fx.m2_analyst.id),
                "m1_admin",
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = fx.call(Method::POST, "/api/v1/users", "m1_admin", Some(json!({"org_id": fx.m2.id, "email": "x@m2.example", "display_name": "X", "role": "member-reader"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/users?org={}", fx.m2.id),
                "m1_admin",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = fx.call(Method::POST, "/api/v1/users", "m1_admin", Some(json!({"org_id": fx.m1.id, "email": "x@m1.example", "display_name": "X", "role": "isac-admin"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = fx.call(Method::POST, "/api/v1/users", "m1_admin", Some(json!({"org_id": fx.m1.id, "email": "new@m1.example", "display_name": "New", "role": "member-reader", "password": "short"}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            fx.store.find_user("new@m1.example").await.is_err(),
            "nothing half-stored"
        );
        let r = fx.call(Method::POST, "/api/v1/users", "m1_admin", Some(json!({"org_id": fx.m1.id, "email": "new@m1.example", "display_name": "New", "role": "member-reader"}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = fx.call(Method::POST, "/api/v1/users", "m1_admin", Some(json!({"org_id": fx.m1.id, "email": "new@m1.example", "display_name": "New", "role": "member-reader"}))).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = fx.call(Method::POST, "/api/v1/orgs", "op_admin", Some(json!({"kind": "member", "name_en": "n".repeat(201), "name_zh": "x", "sector": "bank"}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = fx
            .call(
                Method::POST,
                "/api/v1/orgs",
                "op_admin",
                Some(json!({"kind": "operator", "name_en": "Second", "name_zh": "第二"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let _ = (&fx.partner, &fx.m1_admin, &fx.m1_analyst, &fx.op_admin);
    }
}

/// The relationships and sightings of an object, over REST and on its web page: listed only where
/// the reader may read the connection and every object it connects.
#[tokio::test]
async fn connections_are_listed_where_every_end_is_readable() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let create = |who, object, tlp| fx.create(who, object, tlp);
        let a = create(
            "m1_analyst",
            indicator("Shared C2", "198.51.100.1"),
            "green",
        )
        .await;
        let b = create(
            "m1_analyst",
            json!({"type": "malware", "name": "Kept to m1", "is_family": true}),
            "amber",
        )
        .await;
        let c = create(
            "m2_analyst",
            json!({"type": "malware", "name": "Seen by m2", "is_family": true}),
            "green",
        )
        .await;
        let rel = |s: &str, t: &str| json!({"type": "relationship", "relationship_type": "indicates", "source_ref": s, "target_ref": t});
        let to_b = create("m1_analyst", rel(&a, &b), "green").await;
        let to_c = create("m2_analyst", rel(&a, &c), "green").await;
        let seen = create(
            "m1_analyst",
            json!({"type": "sighting", "sighting_of_ref": a, "count": 3}),
            "green",
        )
        .await;
        // An end that is an org's identity (GREEN for a member): named by the org on the page of
        // that org's users and the operator's, an id to other members.
        let m2_identity = format!("identity--{}", fx.m2.id);
        let to_m2 = create(
            "m1_analyst",
            json!({"type": "relationship", "relationship_type": "related-to", "source_ref": a, "target_ref": m2_identity}),
            "green",
        )
        .await;
        // What mentions a: an AMBER report of m1's, and a GREEN note of m2's.
        create(
            "m1_analyst",
            json!({"type": "report", "name": "Kept report", "published": "2026-01-02T00:00:00Z", "object_refs": [a, b]}),
            "amber",
        )
        .await;
        create(
            "m2_analyst",
            json!({"type": "note", "content": "Seen here too", "object_refs": [a]}),
            "green",
        )
        .await;
        // A GREEN note of m1's naming a and the AMBER b: m2 reads it with b withheld, so a
        // search for b's id must not find it for m2 either.
        let naming_b = create(
            "m1_analyst",
            json!({"type": "note", "content": "Both of them", "object_refs": [a, b]}),
            "green",
        )
        .await;
        for (who, finds) in [("m1_analyst", true), ("m2_analyst", false)] {
            let r = fx
                .call(Method::GET, &format!("/api/v1/search?q={b}"), who, None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
            assert_eq!(r.text().contains(&naming_b), finds, "{backend}: {who}");
            let r = fx
                .call(Method::GET, &format!("/api/v1/search?q={a}"), who, None)
                .await;
            assert!(r.text().contains(&naming_b), "{backend}: {who}");
            if !finds {
                assert!(!r.text().contains(&b), "{backend}: {who}: {}", r.text());
            }
        }
        let ids = |r: &Resp| -> Vec<String> {
            r.json()
                .as_array()
                .expect("a list")
                .iter()
                .map(|o| o["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let path = format!("/api/v1/objects/{a}/connections");
        let r = fx.call(Method::GET, &path, "m1_analyst", None).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert_eq!(
            ids(&r),
            [to_m2.as_str(), &seen, &to_c, &to_b],
            "{backend}: newest first"
        );
        // m2 does not read b (AMBER, m1's), so not the relationship to it either.
        let r = fx.call(Method::GET, &path, "m2_analyst", None).await;
        assert_eq!(ids(&r), [to_m2.as_str(), &seen, &to_c], "{backend}");
        assert!(!r.text().contains(&b), "{backend}: {}", r.text());
        let r = fx
            .call(Method::GET, &format!("{path}?limit=1"), "m1_analyst", None)
            .await;
        assert_eq!(ids(&r), [to_m2.as_str()], "{backend}");
        for bad in ["limit=0", "limit=1001", "limit=x", "other=1"] {
            let r = fx
                .call(Method::GET, &format!("{path}?{bad}"), "m1_analyst", None)
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}: {bad}");
        }
        // An object the reader may not read has no connections it may learn of.
        for (who, id) in [("m2_analyst", &b), ("vendor", &a)] {
            let r = fx
                .call(
                    Method::GET,
                    &format!("/api/v1/objects/{id}/connections"),
                    who,
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}: {who}");
        }
        // The web page of a shows the same, with the other ends by name.
        for (email, shows, hides) in [
            (
                "analyst@m1.example",
                vec!["Kept to m1", "Seen by m2", "Sighted ×3"],
                vec![],
            ),
            (
                "analyst@m2.example",
                vec!["Seen by m2", "Sighted ×3"],
                vec!["Kept to m1", b.as_str()],
            ),
            (
                "analyst@op.example",
                vec!["Kept to m1", "Seen by m2", "Sighted ×3"],
                vec![],
            ),
        ] {
            let (_, session, _) = web_login(&fx.app, email, PASSWORD).await;
            let session = session.expect("a session");
            let r = send(
                &fx.app,
                with_session(Method::GET, &format!("/intel/{a}"), &session, None),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{backend}");
            let html = r.text();
            for s in shows {
                assert!(html.contains(s), "{backend}: {email} should see {s}");
            }
            for s in hides {
                assert!(!html.contains(s), "{backend}: {email} should not see {s}");
            }
            assert!(html.contains("indicates →"), "{backend}");
            // What mentions it, as the reader may read it.
            assert!(html.contains("Seen here too"), "{backend}: {email}");
            assert_eq!(
                html.contains("Kept report"),
                email != "analyst@m2.example",
                "{backend}: {email}"
            );
            let named = format!("Member Two <code>{m2_identity}</code>");
            assert_eq!(
                html.contains(&named),
                email != "analyst@m1.example",
                "{backend}: {email}: {html}"
            );
            assert!(html.contains(&m2_identity), "{backend}: {email}");
            // Lists name a relationship by its ends and a sighting by what was sighted, with
            // only titles the reader may read; an end that is an org's identity leaves the id.
            let list = |query: &'static str| {
                let app = fx.app.clone();
                let session = session.clone();
                async move {
                    let r = send(
                        &app,
                        with_session(Method::GET, &format!("/intel?{query}"), &session, None),
                    )
                    .await;
                    assert_eq!(r.status, StatusCode::OK, "{backend}");
                    r.text()
                }
            };
            let html = list("type=relationship").await;
            assert!(
                html.contains("Shared C2 indicates → Seen by m2"),
                "{backend}: {email}"
            );
            assert_eq!(
                html.contains("Shared C2 indicates → Kept to m1"),
                email != "analyst@m2.example",
                "{backend}: {email}"
            );
            if email == "analyst@m2.example" {
                assert!(
                    !html.contains("Kept to m1") && !html.contains(&to_b),
                    "{backend}"
                );
            }
            assert!(html.contains(&format!(">{to_m2}<")), "{backend}: {email}");
            let html = list("type=sighting").await;
            assert!(html.contains("Sighted ×3: Shared C2"), "{backend}: {email}");
        }
    }
}

#[tokio::test]
async fn applications_create_org_and_admin_atomically() {
    for (_, store) in stores().await {
        let fx = fixture(store).await;
        let req = api(
            Method::POST,
            "/api/v1/applications",
            None,
            Some(
                json!({"name_en": "Demo Coop", "name_zh": "示範信合社", "sector": "credit-cooperative", "contact_name": "Lin", "contact_email": "lin@coop.example", "motivation": "join"}),
            ),
        );
        let r = send(&fx.app, req).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/applications/{id}/approve"),
                "op_admin",
                Some(json!({"admin_password": "a long enough password"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let org_id = r.json()["org_id"].as_str().expect("org").to_owned();
        let admin = fx
            .store
            .find_user("lin@coop.example")
            .await
            .expect("admin user");
        assert_eq!(admin.org_id, org_id);
        assert_eq!(admin.role, Role::MemberAdmin);
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/applications/{id}/reject"),
                "op_admin",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        // Unknown sector: 422, nothing stored.
        let req = api(
            Method::POST,
            "/api/v1/applications",
            None,
            Some(
                json!({"name_en": "X", "name_zh": "X", "sector": "casino", "contact_name": "L", "contact_email": "l@x.example", "motivation": "m"}),
            ),
        );
        assert_eq!(
            send(&fx.app, req).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(fx.store.applications().await.expect("apps").len(), 1);
    }
}

/// Logs in through the web form; returns the session cookie value.
async fn web_login(
    app: &Router,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, String) {
    let r = send(
        app,
        Request::get("/login").body(Body::empty()).expect("request"),
    )
    .await;
    let pre = set_cookie(&r.headers, auth::PRE_COOKIE).expect("pre-login cookie");
    let form = serde_urlencoded::to_string([
        ("csrf", pre.as_str()),
        ("email", email),
        ("password", password),
    ])
    .expect("form");
    let r = send(
        app,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("{}={pre}", auth::PRE_COOKIE))
            .body(Body::from(form))
            .expect("request"),
    )
    .await;
    let loc = r
        .headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    (r.status, set_cookie(&r.headers, auth::SESSION_COOKIE), loc)
}

fn set_cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_owned())
        })
}

fn with_session(method: Method, uri: &str, session: &str, form: Option<&str>) -> Request<Body> {
    let b = Request::builder().method(method).uri(uri).header(
        header::COOKIE,
        format!("{}={session}", auth::SESSION_COOKIE),
    );
    match form {
        Some(f) => b
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned()))
            .expect("request"),
        None => b.body(Body::empty()).expect("request"),
    }
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    html[i + 19..i + 19 + 64].to_owned()
}

#[tokio::test]
async fn web_login_sessions_csrf_lockout_totp() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        // Wrong password, then the right one.
        let (status, cookie, _) = web_login(app, "analyst@m1.example", "wrong password!!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(cookie.is_none());
        let (status, cookie, loc) = web_login(app, "analyst@m1.example", PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(loc, "/");
        let session = cookie.expect("session cookie");
        assert_eq!(session.len(), 64);
        // Session cookie flags.
        let (_, _, _) = web_login(app, "analyst@m1.example", PASSWORD).await;
        let dash = send(app, with_session(Method::GET, "/", &session, None)).await;
        assert_eq!(dash.status, StatusCode::OK);
        let html = dash.text();
        assert!(html.contains("Dashboard"));
        // CSRF: a state change without the token is refused and changes nothing.
        let r = send(
            app,
            with_session(Method::POST, "/keys", &session, Some("name=abc")),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let last = &fx.store.audit_page(None, 1).await.expect("audit")[0];
        assert_eq!(
            (last.action.as_str(), last.outcome.as_str()),
            ("access.denied", "denied"),
            "a refused CSRF check is audited"
        );
        let r = send(
            app,
            with_session(
                Method::POST,
                "/keys",
                &session,
                Some(&format!("csrf={}&name=abc", "0".repeat(64))),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            fx.store
                .api_keys(&fx.m1_analyst.id)
                .await
                .expect("keys")
                .iter()
                .all(|k| k.name != "abc")
        );
        let csrf = csrf_of(&html);
        let r = send(
            app,
            with_session(
                Method::POST,
                "/keys",
                &session,
                Some(&format!("csrf={csrf}&name=abc")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("isac_"));
        // Logout ends the session on the server.
        let r = send(
            app,
            with_session(
                Method::POST,
                "/logout",
                &session,
                Some(&format!("csrf={csrf}")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = send(app, with_session(Method::GET, "/", &session, None)).await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "the old cookie no longer works"
        );
        // Disabling a user ends their sessions.
        let (_, cookie, _) = web_login(app, "analyst@m2.example", PASSWORD).await;
        let s2 = cookie.expect("session");
        assert_eq!(
            send(app, with_session(Method::GET, "/", &s2, None))
                .await
                .status,
            StatusCode::OK
        );
        let r = fx
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", fx.m2_analyst.id),
                "op_admin",
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            send(app, with_session(Method::GET, "/", &s2, None))
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            web_login(app, "analyst@m2.example", PASSWORD).await.0,
            StatusCode::UNAUTHORIZED
        );
        // Lockout after repeated failures, even with the right password afterwards.
        for _ in 0..5 {
            web_login(app, "admin@m1.example", "wrong password!!").await;
        }
        let (status, cookie, _) = web_login(app, "admin@m1.example", PASSWORD).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: locked");
        assert!(cookie.is_none());
        // TOTP: an org that requires it sends the user through the second factor.
        let secret = auth::new_totp_secret();
        fx.store
            .set_user_totp(&fx.op_admin.id, Some(&secret), cli())
            .await
            .expect("totp");
        let (status, cookie, loc) = web_login(app, "admin@op.example", PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(loc, "/login/totp");
        let pending = cookie.expect("pending session");
        assert_eq!(
            send(app, with_session(Method::GET, "/", &pending, None))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "no access before the code"
        );
        let page = send(
            app,
            with_session(Method::GET, "/login/totp", &pending, None),
        )
        .await;
        let csrf = csrf_of(&page.text());
        let r = send(
            app,
            with_session(
                Method::POST,
                "/login/totp",
                &pending,
                Some(&format!("csrf={csrf}&code=000000")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let code = auth::totp_now(&secret).expect("code");
        let r = send(
            app,
            with_session(
                Method::POST,
                "/login/totp",
                &pending,
                Some(&format!("csrf={csrf}&code={code}")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let full = set_cookie(&r.headers, auth::SESSION_COOKIE).expect("new session");
        assert_ne!(full, pending, "a new token after the second factor");
        assert_eq!(
            send(app, with_session(Method::GET, "/", &full, None))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            send(app, with_session(Method::GET, "/", &pending, None))
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        // Audit chain intact after all that.
        assert_eq!(
            fx.store.audit_verify().await.expect("verify").first_broken,
            None
        );
    }
}

#[tokio::test]
async fn api_keys_bearer_basic_and_revocation() {
    use base64::Engine;
    for (_, store) in stores().await {
        let fx = fixture(store).await;
        let key = &fx.keys["m1_analyst"];
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{key}"));
        let r = send(
            &fx.app,
            Request::get("/api/v1/me")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["user"]["email"], "analyst@m1.example");
        let r = fx
            .call(
                Method::POST,
                "/api/v1/apikeys",
                "m1_analyst",
                Some(json!({"name": "siem"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let token = r.json()["token"].as_str().expect("token").to_owned();
        let kid = r.json()["key"]["id"].as_str().expect("id").to_owned();
        assert_eq!(
            send(&fx.app, api(Method::GET, "/api/v1/me", Some(&token), None))
                .await
                .status,
            StatusCode::OK
        );
        // Another org's admin cannot revoke it; its owner can.
        let r = fx
            .call(
                Method::DELETE,
                &format!("/api/v1/apikeys/{kid}"),
                "m2_analyst",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = fx
            .call(
                Method::DELETE,
                &format!("/api/v1/apikeys/{kid}"),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            send(&fx.app, api(Method::GET, "/api/v1/me", Some(&token), None))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let listed = fx
            .call(Method::GET, "/api/v1/apikeys", "m1_analyst", None)
            .await
            .text();
        assert!(!listed.contains(&token[14..]), "the token is never listed");
        // The OpenAPI document is public and lists the API.
        let r = send(
            &fx.app,
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let doc = r.json();
        assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
        assert!(doc["paths"]["/api/v1/objects"].is_object());
        for r in fx.table.iter().filter(|r| r.path.starts_with("/api/v1/")) {
            let m = r.method.as_str().to_lowercase();
            assert!(
                doc["paths"][r.path][&m].is_object(),
                "{} {} is missing from the OpenAPI document",
                r.method,
                r.path
            );
        }
    }
}

/// The REST read paths against the reference model: for random worlds, every viewer's list,
/// search, count and get agree with the set of users the model says may read each object.
#[tokio::test]
async fn rest_read_paths_match_reference_model() {
    use isac_policy::testkit::World;
    for (backend, store) in stores().await {
        let mut checks = 0u64;
        let mut disagreements = 0u64;
        // The store holds exactly one operator, so use worlds that have one.
        let seeds: Vec<u64> = (1000..)
            .filter(|s| {
                World::generate(*s, 0, true)
                    .orgs
                    .iter()
                    .filter(|o| o.kind == OrgKind::Operator)
                    .count()
                    == 1
            })
            .take(2)
            .collect();
        for seed in seeds {
            let world = World::generate(seed, 150, true);
            // Store the world: ids are the store's, so map the world's ids onto them.
            let mut org_ids = std::collections::BTreeMap::new();
            let suffix = format!(
                "{backend}{seed}{}",
                hex::encode(rand::thread_rng().r#gen::<[u8; 4]>())
            );
            let existing_op = store.operator_org().await.ok();
            for o in &world.orgs {
                let created = match (o.kind, &existing_op) {
                    (OrgKind::Operator, Some(op)) => op.clone(),
                    _ => store
                        .create_org(
                            &NewOrg {
                                kind: o.kind,
                                sector: (o.kind == OrgKind::Member).then_some(Sector::Other),
                                name_en: format!("{} {suffix}", o.id),
                                name_zh: o.id.clone(),
                                partner_ceiling: o.ceiling,
                            },
                            cli(),
                        )
                        .await
                        .expect("org"),
                };
                org_ids.insert(o.id.clone(), created.id);
            }
            let mut group_ids = std::collections::BTreeMap::new();
            for (g, members) in &world.groups {
                let created = store
                    .create_group(&format!("{g} {suffix}"), "", cli())
                    .await
                    .expect("group");
                for m in members {
                    store
                        .set_group_member(&created.id, &org_ids[m], true, cli())
                        .await
                        .expect("member");
                }
                group_ids.insert(g.clone(), created.id);
            }
            let mut user_ids = std::collections::BTreeMap::new();
            let mut keys = std::collections::BTreeMap::new();
            for u in &world.users {
                let created = store
                    .create_user(
                        &NewUser {
                            org_id: org_ids[&u.org].clone(),
                            email: format!("{}-{suffix}@w.example", u.id),
                            display_name: u.id.clone(),
                            locale: Locale::En,
                            role: u.role,
                            password_hash: None,
                        },
                        cli(),
                    )
                    .await
                    .expect("user");
                let (t, _) = auth::create_api_key(&store, &created, "w", cli())
                    .await
                    .expect("key");
                keys.insert(u.id.clone(), t);
                user_ids.insert(u.id.clone(), created.id);
            }
            let marker = format!("m{suffix}");
            let mut objects = Vec::new();
            for (i, o) in world.objects.iter().enumerate() {
                let a = &o.access;
                let access = isac_policy::Access {
                    tlp: a.tlp,
                    owner_org: org_ids[&a.owner_org].clone(),
                    author: user_ids[&a.author].clone(),
                    recipient_orgs: a
                        .recipient_orgs
                        .iter()
                        .map(|x| org_ids[x].clone())
                        .collect(),
                    recipient_groups: a
                        .recipient_groups
                        .iter()
                        .map(|x| group_ids[x].clone())
                        .collect(),
                    named_users: a.named_users.iter().map(|x| user_ids[x].clone()).collect(),
                };
                let id = format!("note--{}", uuid::Uuid::new_v4());
                objects.push((
                    o,
                    isac_store::NewObject {
                        stix_id: id.clone(),
                        stix_type: "note".into(),
                        modified: format!("2026-01-01T00:00:00.{:03}Z", i % 1000),
                        access,
                        revoked: false,
                        title: format!("object {i}"),
                        body:
                            json!({"type": "note", "id": id, "spec_version": "2.1", "content": "x"})
                                .to_string()
                                .into(),
                        values: vec![marker.clone()],
                    },
                ));
            }
            let batch: Vec<_> = objects.iter().map(|(_, n)| n.clone()).collect();
            store.insert_objects(&batch, cli()).await.expect("objects");
            // Containers naming world objects (their `object_refs` are searchable values, as the
            // server stores them): container k has the audience of world object k and names
            // world object (7k + 3) mod n. A search by a named id must find exactly the
            // containers the reader may read, and only where the reader may read the named one.
            let n = objects.len();
            let containers: Vec<(usize, usize, isac_store::NewObject)> = (0..n.min(24))
                .map(|k| {
                    let named = (7 * k + 3) % n;
                    let id = format!("note--{}", uuid::Uuid::new_v4());
                    let target = objects[named].1.stix_id.clone();
                    let body = json!({"type": "note", "id": id, "spec_version": "2.1",
                        "content": "about", "object_refs": [target]});
                    let new = isac_store::NewObject {
                        stix_id: id,
                        body: body.to_string().into(),
                        title: format!("container {k}"),
                        values: vec![target],
                        ..objects[k].1.clone()
                    };
                    (k, named, new)
                })
                .collect();
            let batch: Vec<_> = containers.iter().map(|(_, _, c)| c.clone()).collect();
            store
                .insert_objects(&batch, cli())
                .await
                .expect("containers");
            let state = AppState::new(store.clone(), Config::default());
            let (app, _) = crate::app(state);
            for u in &world.users {
                // Search by a named id: what mentions it, within the reader's audience.
                let reads = |i: usize| world.audience(&objects[i].0.access).0.contains(&u.id);
                for (_, named, _) in &containers {
                    let target = &objects[*named].1.stix_id;
                    let r = send(
                        &app,
                        api(
                            Method::GET,
                            &format!("/api/v1/search?q={target}&limit=100"),
                            Some(&keys[&u.id]),
                            None,
                        ),
                    )
                    .await;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                    let seen: BTreeSet<String> = r.json()["objects"]
                        .as_array()
                        .expect("objects")
                        .iter()
                        .map(|o| o["id"].as_str().expect("id").to_owned())
                        .collect();
                    for (k, nk, c) in &containers {
                        checks += 1;
                        let want = nk == named && reads(*k) && reads(*named);
                        disagreements += u64::from(seen.contains(&c.stix_id) != want);
                    }
                }
                let key = &keys[&u.id];
                let mut expected = BTreeSet::new();
                for (wo, n) in &objects {
                    let (readers, _) = world.audience(&wo.access);
                    if readers.contains(&u.id) {
                        expected.insert(n.stix_id.clone());
                    }
                }
                // Search (all pages).
                let mut seen = BTreeSet::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut uri = format!("/api/v1/search?q={marker}&limit=500");
                    if let Some(c) = &cursor {
                        uri.push_str(&format!("&cursor={}", urlencode(c)));
                    }
                    let r = send(&app, api(Method::GET, &uri, Some(key), None)).await;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                    let j = r.json();
                    for o in j["objects"].as_array().expect("objects") {
                        seen.insert(o["id"].as_str().expect("id").to_owned());
                    }
                    match j["next"].as_str() {
                        Some(n) => cursor = Some(n.to_owned()),
                        None => break,
                    }
                }
                for (_, n) in &objects {
                    checks += 1;
                    if seen.contains(&n.stix_id) != expected.contains(&n.stix_id) {
                        disagreements += 1;
                    }
                }
                // Get, for every object.
                for (_, n) in &objects {
                    let r = send(
                        &app,
                        api(
                            Method::GET,
                            &format!("/api/v1/objects/{}", n.stix_id),
                            Some(key),
                            None,
                        ),
                    )
                    .await;
                    checks += 1;
                    let visible = r.status == StatusCode::OK;
                    assert!(visible || r.status == StatusCode::NOT_FOUND);
                    if visible != expected.contains(&n.stix_id) {
                        disagreements += 1;
                    }
                }
                // Count: the stats total includes other tests' objects only in other schemas/files,
                // so compare the per-marker search count with the model.
                checks += 1;
                if seen.len() != expected.len() {
                    disagreements += 1;
                }
            }
        }
        println!("TLP REST property ({backend}): {checks} checks, {disagreements} disagreements");
        assert_eq!(disagreements, 0);
        assert!(checks >= 20_000, "only {checks} checks");
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).expect("encode")[2..].to_owned()
}

/// The TLS listener: HTTPS with a certificate from files, and `Secure` cookies behind it.
/// Uses the system `openssl` to make a self-signed certificate and `curl` as the client.
#[tokio::test]
async fn tls_listener_serves_https_with_secure_cookies() {
    let have = |c: &str, arg: &str| {
        std::process::Command::new(c)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("curl", "--version") || !have("openssl", "version") {
        println!("tls test skipped: curl or openssl missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "isac-tls-{}",
        hex::encode(rand::thread_rng().r#gen::<[u8; 8]>())
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let store = Store::open(&Location::SqliteFile(dir.join("isac.db")))
        .await
        .expect("store");
    let config = Config {
        listen: ([127, 0, 0, 1], port).into(),
        tls: Some((cert.clone(), key)),
        ..Config::default()
    };
    let server = tokio::spawn(crate::serve(AppState::new(store, config)));
    let url = format!("https://127.0.0.1:{port}/login");
    let mut out = None;
    for _ in 0..100 {
        let o = tokio::process::Command::new("curl")
            .args(["-sS", "-i", "--cacert"])
            .arg(&cert)
            .arg(&url)
            .output()
            .await
            .expect("curl");
        if o.status.success() {
            out = Some(String::from_utf8_lossy(&o.stdout).into_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.abort();
    let out = out.expect("the TLS listener answered");
    assert!(out.starts_with("HTTP/"), "{out}");
    let cookie = out
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: isac_pre="))
        .expect("pre-login cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

mod import;
mod taxii;

/// The share form says which TLP levels the writer's own org would not read back (GREEN for a
/// vendor), and does not default to one of them.
#[tokio::test]
async fn share_form_names_levels_the_writer_would_not_read_back() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        for (email, hint, default) in [
            ("responder@v.example", true, "amber"),
            ("analyst@m1.example", false, "green"),
        ] {
            let (_, session, _) = web_login(&fx.app, email, PASSWORD).await;
            let session = session.expect("a session");
            let r = send(
                &fx.app,
                with_session(Method::GET, "/intel/new", &session, None),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {email}");
            let html = r.text();
            assert_eq!(
                html.contains("Your organisation does not read TLP:GREEN:"),
                hint,
                "{backend}: {email}: {html}"
            );
            assert!(
                html.contains(&format!("<option value=\"{default}\" selected>")),
                "{backend}: {email}: {html}"
            );
        }
    }
}

/// Web error pages speak the user's language: an administrator who tries to disable their own
/// account is told so in zh-TW, and nothing changes.
#[tokio::test]
async fn web_admin_errors_speak_the_users_language() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        fx.store
            .set_user_locale(&fx.m1_admin.id, Locale::ZhTw)
            .await
            .expect("locale");
        let (_, session, _) = web_login(app, "admin@m1.example", PASSWORD).await;
        let session = session.expect("session");
        let page = send(app, with_session(Method::GET, "/keys", &session, None)).await;
        let csrf = csrf_of(&page.text());
        let uri = format!("/admin/users/{}/enabled", fx.m1_admin.id);
        let form = format!("csrf={csrf}&enabled=false");
        let r = send(app, with_session(Method::POST, &uri, &session, Some(&form))).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{backend}: {}", r.text());
        assert!(
            r.text().contains("不能停用自己的帳號"),
            "{backend}: {}",
            r.text()
        );
        let me = fx.store.user(&fx.m1_admin.id).await.expect("user");
        assert!(me.enabled, "{backend}");
    }
}

/// REST messages of object writes follow `Accept-Language`, English without one: programs get
/// the English they were written against, people who ask get zh-TW. The `code` never changes.
#[tokio::test]
async fn rest_object_write_messages_follow_accept_language() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let mut marked = indicator("x", "192.0.2.1");
        marked["object_marking_refs"] = json!([Tlp::Red.marking_id_v2()]);
        let body = json!({"object": marked, "tlp": "green"});
        for (lang, want) in [
            (None, "`tlp` is TLP:GREEN but the object is marked TLP:RED"),
            (
                Some("zh-TW,zh;q=0.9,en;q=0.5"),
                "`tlp` 為 TLP:GREEN，但物件標記為 TLP:RED",
            ),
            (
                Some("en-US,en;q=0.9"),
                "`tlp` is TLP:GREEN but the object is marked TLP:RED",
            ),
        ] {
            let mut req = api(
                Method::POST,
                "/api/v1/objects",
                Some(&fx.keys["m1_analyst"]),
                Some(body.clone()),
            );
            if let Some(l) = lang {
                req.headers_mut()
                    .insert(header::ACCEPT_LANGUAGE, l.parse().expect("header"));
            }
            let r = send(&fx.app, req).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
            assert_eq!(r.json()["code"], "invalid_tlp", "{backend}");
            assert_eq!(r.json()["message"], want, "{backend} {lang:?}");
        }
    }
}

/// REST errors other than object writes are written in English where they occur; a caller who
/// prefers zh-TW gets the zh-TW meaning of the code first and the English detail after it. The
/// code and status never change, messages already in zh-TW are not wrapped again, and TAXII stays
/// English.
#[tokio::test]
async fn rest_errors_put_the_zh_tw_meaning_first() {
    const ZH: &str = "zh-TW,zh;q=0.9,en;q=0.5";
    let with_lang = |mut req: Request<Body>, lang: Option<&str>| {
        if let Some(l) = lang {
            req.headers_mut()
                .insert(header::ACCEPT_LANGUAGE, l.parse().expect("header"));
        }
        req
    };
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let key = Some(fx.keys["m1_analyst"].as_str());
        let missing = "/api/v1/objects/indicator--6b1c8fd4-1b3a-4c0e-9c46-54f0b1d4b2a1";
        let malformed = || raw_object_post(&fx.keys["m1_analyst"], "{\"object\": ");
        // (request, Accept-Language, status, code, start of the message)
        type Case<'a> = (Request<Body>, Option<&'a str>, StatusCode, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                api(Method::GET, missing, key, None),
                Some(ZH),
                StatusCode::NOT_FOUND,
                "not_found",
                "找不到資料，或未分享給您（object not found）",
            ),
            (
                api(Method::GET, missing, key, None),
                None,
                StatusCode::NOT_FOUND,
                "not_found",
                "object not found",
            ),
            (
                api(Method::GET, "/api/v1/objects", None, None),
                Some(ZH),
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "請先登入，或提供 API 金鑰（",
            ),
            (
                malformed(),
                Some(ZH),
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "內容不是有效的 JSON（",
            ),
            (
                api(Method::PUT, "/api/v1/objects", key, None),
                Some(ZH),
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "此路徑不接受這個 HTTP 方法（PUT is not allowed",
            ),
            (
                api(Method::PUT, "/api/v1/objects", key, None),
                None,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "PUT is not allowed",
            ),
            (
                malformed(),
                Some("en-US"),
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "Failed to parse",
            ),
        ];
        for (req, lang, status, code, want) in cases {
            let r = send(&fx.app, with_lang(req, lang)).await;
            assert_eq!(r.status, status, "{backend} {lang:?} {}", r.text());
            assert_eq!(r.json()["code"], code, "{backend}");
            let message = r.json()["message"].as_str().expect("message").to_owned();
            assert!(message.starts_with(want), "{backend} {lang:?}: {message}");
            if lang != Some(ZH) {
                assert!(!super::i18n::speaks_zh(&message), "{backend}: {message}");
            }
            if status == StatusCode::UNAUTHORIZED {
                assert!(
                    r.headers.contains_key(header::WWW_AUTHENTICATE),
                    "{backend}"
                );
            }
        }
        // TAXII error resources are read by programs: English whatever the caller prefers.
        let r = send(
            &fx.app,
            with_lang(
                api(
                    Method::GET,
                    "/taxii2/isac/collections/00000000-0000-4000-8000-000000000000/objects/",
                    None,
                    None,
                ),
                Some(ZH),
            ),
        )
        .await;
        assert!(r.status.is_client_error(), "{backend}: {}", r.status);
        assert!(
            !super::i18n::speaks_zh(&r.text()),
            "{backend}: {}",
            r.text()
        );
    }
}
