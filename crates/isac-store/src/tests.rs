//! The storage suite. Every test runs its body once per backend: on SQLite always, and on
//! PostgreSQL when `ISAC_TEST_DATABASE_URL` is set. Each run gets a database of its own (a fresh
//! SQLite file in a temporary directory, or a fresh PostgreSQL schema), removed afterwards.

mod audit;
mod directory;
mod files;
mod import;
mod input;
mod objects;
mod plans;
mod sessions;
mod tlp;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

use isac_model::{Locale, OrgKind, Role, Sector, Tlp};
use isac_policy::{Access, Viewer};
use sqlx::{Connection, Executor};

use crate::{
    AuditEntry, ListQuery, Location, NewObject, NewOrg, NewUser, ObjectFilter, Org, Sort, Store,
    StoreError, StoredObject, User,
};

/// The environment variable naming a PostgreSQL server for the suite.
const POSTGRES_URL_VAR: &str = "ISAC_TEST_DATABASE_URL";

/// Every table of the schema, for before/after comparisons of failed writes.
const TABLES: &[&str] = &[
    "orgs",
    "users",
    "sharing_groups",
    "group_members",
    "applications",
    "api_keys",
    "sessions",
    "objects",
    "object_recipients",
    "object_values",
    "audit_log",
];

/// One database for one run of a test body. Dropping it removes the database, also when the body
/// panicked.
struct TestDb {
    name: &'static str,
    location: Location,
}

impl TestDb {
    /// The databases to run a test on: SQLite, and PostgreSQL when configured.
    fn all() -> Vec<TestDb> {
        let mut out = Vec::new();
        let dir = std::env::temp_dir().join(format!("isac-store-test-{}", random_hex()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        out.push(TestDb {
            name: "sqlite",
            location: Location::SqliteFile(dir.join("isac.db")),
        });
        if let Ok(url) = std::env::var(POSTGRES_URL_VAR)
            && !url.trim().is_empty()
        {
            out.push(TestDb {
                name: "postgres",
                location: Location::Postgres {
                    url,
                    schema: Some(format!("t_{}", random_hex())),
                },
            });
        }
        out
    }

    fn sqlite_dir(&self) -> Option<PathBuf> {
        match &self.location {
            Location::SqliteFile(path) => path.parent().map(PathBuf::from),
            Location::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Location::Postgres {
            url,
            schema: Some(schema),
        } = &self.location
        {
            let (url, name) = (url.clone(), schema.clone());
            // Drop may run inside the test's runtime, which cannot be blocked on; a thread with a
            // runtime of its own can.
            let cleanup = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = sqlx::AnyConnection::connect(&url).await.ok()?;
                    conn.execute("SET lock_timeout = '10s'").await.ok()?;
                    conn.execute(format!("DROP SCHEMA IF EXISTS {name} CASCADE").as_str())
                        .await
                        .ok()?;
                    conn.close().await.ok()
                })
            });
            if cleanup.join().ok().flatten().is_none() {
                eprintln!("could not drop test schema {schema}; drop it by hand");
            }
        }
    }
}

fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Runs `body` once on every configured backend, each time on a fresh, migrated store.
async fn each_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    sqlx::any::install_default_drivers();
    for db in TestDb::all() {
        let store = Store::open(&db.location)
            .await
            .unwrap_or_else(|e| panic!("{test}: opening {} failed: {e}", db.name));
        println!("{test}: running on {}", db.name);
        let started = Instant::now();
        body(store.clone()).await;
        store.close().await;
        println!(
            "{test}: passed on {} in {:.1} s",
            db.name,
            started.elapsed().as_secs_f64()
        );
    }
}

fn audit() -> AuditEntry {
    AuditEntry::new("test", "suite")
}

/// Row counts of every table, to show that a refused write left nothing behind.
async fn table_counts(store: &Store) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for t in TABLES {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&store.write)
            .await
            .expect("count rows");
        out.push((*t, n));
    }
    out
}

/// Runs `write`, expects it to fail as `expected` says, and checks that no table changed.
async fn refused<T: std::fmt::Debug>(
    store: &Store,
    what: &str,
    write: impl Future<Output = crate::Result<T>>,
    expected: fn(&StoreError) -> bool,
) {
    let before = table_counts(store).await;
    match write.await {
        Ok(v) => panic!("{what}: expected a refusal, got {v:?}"),
        Err(e) => assert!(expected(&e), "{what}: unexpected error {e:?}"),
    }
    assert_eq!(
        table_counts(store).await,
        before,
        "{what}: a refused write changed the database"
    );
}

fn is_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(_))
}

fn is_invalid(e: &StoreError) -> bool {
    matches!(e, StoreError::Invalid(_))
}

fn is_not_found(e: &StoreError) -> bool {
    matches!(e, StoreError::NotFound(_))
}

fn new_org(kind: OrgKind, name_en: &str, name_zh: &str) -> NewOrg {
    NewOrg {
        kind,
        sector: (kind == OrgKind::Member).then_some(Sector::Bank),
        name_en: name_en.into(),
        name_zh: name_zh.into(),
        partner_ceiling: (kind == OrgKind::Partner).then_some(Tlp::Green),
    }
}

fn new_user(org: &Org, email: &str, role: Role) -> NewUser {
    NewUser {
        org_id: org.id.clone(),
        email: email.into(),
        display_name: format!("User {email}"),
        locale: Locale::En,
        role,
        password_hash: None,
    }
}

/// A small community: the operator, one org of every other kind and one user in each.
struct Community {
    operator: Org,
    member: Org,
    partner: Org,
    vendor: Org,
    analyst: User,
    member_analyst: User,
    partner_service: User,
    vendor_responder: User,
}

async fn community(store: &Store) -> Community {
    let org = |kind, en: &'static str, zh: &'static str| async move {
        store
            .create_org(&new_org(kind, en, zh), audit())
            .await
            .expect("create org")
    };
    let operator = org(
        OrgKind::Operator,
        "Financial ISAC",
        "金融資安資訊分享與分析中心",
    )
    .await;
    let member = org(OrgKind::Member, "First Bank", "第一銀行").await;
    let partner = org(OrgKind::Partner, "National CERT", "國家資通安全應變中心").await;
    let vendor = org(OrgKind::Vendor, "Response Co", "應變公司").await;
    let user = |o: Org, email: &'static str, role| async move {
        store
            .create_user(&new_user(&o, email, role), audit())
            .await
            .expect("create user")
    };
    Community {
        analyst: user(operator.clone(), "analyst@isac.example", Role::IsacAnalyst).await,
        member_analyst: user(member.clone(), "soc@bank.example", Role::MemberAnalyst).await,
        partner_service: user(partner.clone(), "feed@cert.example", Role::PartnerService).await,
        vendor_responder: user(vendor.clone(), "ir@vendor.example", Role::VendorResponder).await,
        operator,
        member,
        partner,
        vendor,
    }
}

/// The viewer a stored user is, built from what the store holds.
async fn viewer_of(store: &Store, user: &str) -> Viewer {
    let u = store.user(user).await.expect("user");
    let org = store.org(&u.org_id).await.expect("org");
    Viewer {
        user: Some(u.id),
        org: Some(org.id.clone()),
        org_kind: Some(org.kind),
        role: Some(u.role),
        groups: store.groups_of_org(&org.id).await.expect("groups"),
        partner_ceiling: org.partner_ceiling,
    }
}

fn access(tlp: Tlp, owner: &Org, author: &User) -> Access {
    Access {
        tlp,
        owner_org: owner.id.clone(),
        author: author.id.clone(),
        recipient_orgs: BTreeSet::new(),
        recipient_groups: BTreeSet::new(),
        named_users: BTreeSet::new(),
    }
}

/// A STIX id of `stix_type` from a number, so tests can name objects by index.
fn stix_id(stix_type: &str, n: u64) -> String {
    format!("{stix_type}--00000000-0000-4000-8000-{n:012}")
}

/// A STIX timestamp `secs` seconds after 2024-01-01, fixed width with microseconds.
fn stix_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(1_704_067_200 + secs, 0)
        .expect("timestamp in range")
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn new_object(id: &str, modified: &str, access: Access) -> NewObject {
    let stix_type = id.split_once("--").map_or("indicator", |(t, _)| t);
    NewObject {
        stix_id: id.into(),
        stix_type: stix_type.into(),
        modified: modified.into(),
        access,
        revoked: false,
        title: format!("object {id}"),
        body: format!(r#"{{"type":"{stix_type}","id":"{id}","modified":"{modified}"}}"#).into(),
        values: Vec::new(),
    }
}

/// Whether `a` comes strictly before `b` in `sort` order.
fn before_in(sort: Sort, a: &StoredObject, b: &StoredObject) -> bool {
    match sort {
        Sort::NewestFirst => a.pk > b.pk,
        Sort::OldestFirst => a.pk < b.pk,
        Sort::ModifiedDesc => (&a.modified, a.pk) > (&b.modified, b.pk),
        Sort::ModifiedAsc => (&a.modified, a.pk) < (&b.modified, b.pk),
    }
}

/// Every page of a listing from `cursor` on, checking the shape of each page.
async fn pages_from(
    store: &Store,
    viewer: &Viewer,
    filter: &ObjectFilter,
    sort: Sort,
    limit: u32,
    mut cursor: Option<String>,
) -> Vec<StoredObject> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let page = store
            .list_objects(
                viewer,
                &ListQuery {
                    filter: filter.clone(),
                    sort,
                    cursor: cursor.clone(),
                    limit,
                },
            )
            .await
            .expect("list objects");
        assert!(page.objects.len() <= limit.max(1) as usize, "page too long");
        out.extend(page.objects);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("listing did not end");
}

/// Every page of a listing from the start.
async fn all_pages(
    store: &Store,
    viewer: &Viewer,
    filter: &ObjectFilter,
    sort: Sort,
    limit: u32,
) -> Vec<StoredObject> {
    pages_from(store, viewer, filter, sort, limit, None).await
}
