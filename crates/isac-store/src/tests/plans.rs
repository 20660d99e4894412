//! Plans on SQLite, which has no statistics to choose by: every statement that selects objects
//! by id must look the ids up in the unique `(stix_id, modified)` index. Since the one-latest
//! index went (migration 0009), `stix_id = ? AND is_latest = 1` would otherwise walk every
//! latest version through one of the `(is_latest, …)` indexes; the unary plus on `is_latest`
//! (`objects::LATEST_BY_ID`) is what prevents that, and this test keeps it there.

use sqlx::Row;

use super::*;
use crate::sql::{Sql, recorder};
use crate::{OnRefusal, TaxiiQuery};

/// Where a statement selects objects by id: the alias `o` by a given id or list, and the
/// relationship-end check's `t` by an end's id.
const BY_ID: &[&str] = &["o.stix_id = $", "o.stix_id IN (", "t.stix_id = e.ref_id"];

/// The detail lines of SQLite's plan of `s`, run with its own binds.
async fn plan(store: &Store, s: &Sql) -> Vec<String> {
    let mut explain = Sql::new("EXPLAIN QUERY PLAN ");
    explain.push(s.sql());
    let mut q = sqlx::query(explain.sql());
    for b in s.binds() {
        q = match b {
            crate::sql::Val::Text(t) => q.bind(t.clone()),
            crate::sql::Val::Int(i) => q.bind(*i),
        };
    }
    q.fetch_all(&store.read)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN failed: {e}\n{}", s.sql()))
        .iter()
        .map(|r| r.try_get::<String, _>(3).expect("plan detail"))
        .collect()
}

#[tokio::test]
async fn selections_by_id_use_the_id_index() {
    sqlx::any::install_default_drivers();
    // The first database is always the SQLite one; the others are dropped unused.
    let db = TestDb::all().remove(0);
    let store = Store::open(&db.location).await.expect("open");
    let c = community(&store).await;
    let a = access(Tlp::Green, &c.operator, &c.analyst);
    let indicator = stix_id("indicator", 1);
    let malware = stix_id("malware", 2);
    let rel = stix_id("relationship", 3);
    let mut r = new_object(&rel, &stix_time(10), a.clone());
    r.body = format!(
        r#"{{"type":"relationship","id":"{rel}","modified":"{}","relationship_type":"indicates","source_ref":"{indicator}","target_ref":"{malware}"}}"#,
        stix_time(10)
    )
    .into();
    let mut objects = vec![
        new_object(&indicator, &stix_time(10), a.clone()),
        new_object(&malware, &stix_time(10), a.clone()),
        r,
    ];
    objects[0].values = vec!["198.51.100.7".into()];
    // Enough other latest versions that a walk over them would not look cheap.
    for n in 100..400 {
        objects.push(new_object(
            &stix_id("indicator", n),
            &stix_time(5),
            a.clone(),
        ));
    }
    store
        .import(&objects, OnRefusal::RefuseUnit, |_, _| Ok(()), audit())
        .await
        .expect("import");
    let viewer = viewer_of(&store, &c.member_analyst.id).await;

    recorder::start();
    store.object(&viewer, &indicator).await.expect("object");
    store
        .objects_by_id(&viewer, &[indicator.clone(), malware.clone()])
        .await
        .expect("objects by id");
    store
        .object_versions(&viewer, &indicator)
        .await
        .expect("versions");
    store
        .connections(&viewer, &indicator, 100)
        .await
        .expect("connections");
    for filter in [
        ObjectFilter {
            value: Some(indicator.clone()),
            ..ObjectFilter::default()
        },
        ObjectFilter {
            stix_type: Some("relationship".into()),
            ..ObjectFilter::default()
        },
    ] {
        let lq = ListQuery {
            filter: filter.clone(),
            limit: 50,
            ..ListQuery::default()
        };
        store.list_objects(&viewer, &lq).await.expect("list");
        store.count_objects(&viewer, &filter).await.expect("count");
    }
    for q in [
        TaxiiQuery {
            stix_id: Some(indicator.clone()),
            limit: 10,
            ..TaxiiQuery::default()
        },
        TaxiiQuery {
            ids: vec![indicator.clone(), malware.clone()],
            limit: 10,
            ..TaxiiQuery::default()
        },
    ] {
        store.taxii_objects(&viewer, &q).await.expect("taxii");
    }
    let mut later = new_object(&malware, &stix_time(20), a.clone());
    later.title = "later".into();
    store
        .insert_version(&later, |_| Ok(()), audit())
        .await
        .expect("a new version");
    let recorded = recorder::take();

    let mut checked = 0;
    for s in &recorded {
        let wanted: usize = BY_ID.iter().map(|p| s.sql().matches(p).count()).sum();
        if wanted == 0 {
            continue;
        }
        let plan = plan(&store, s).await;
        let by_id = plan.iter().filter(|l| l.contains("(stix_id=?")).count();
        assert!(
            by_id >= wanted,
            "{wanted} selections by id, {by_id} looked up by id:\n{}\n{}",
            s.sql(),
            plan.join("\n")
        );
        checked += 1;
    }
    println!(
        "plans: {checked} of {} statements select by id; each looks its ids up",
        recorded.len()
    );
    assert!(checked >= 10, "only {checked} statements checked");
    store.close().await;
}
