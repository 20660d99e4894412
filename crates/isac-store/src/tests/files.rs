//! The store's own SQLite readers (`files.rs`): they answer every statement exactly as sqlx does
//! on the same file, bind long placeholder lists by position correctly, cannot write, and stop
//! with the store.

use super::*;
use crate::OnRefusal;
use crate::sql::{Row, Sql};

/// `s` run through sqlx's reader pool, as rows of the same kind.
async fn through_sqlx(store: &Store, s: &Sql) -> Vec<Row> {
    s.query()
        .fetch_all(&store.read)
        .await
        .expect("sqlx read")
        .iter()
        .map(|r| Row::from_any(r).expect("row"))
        .collect()
}

/// A SQLite store holding objects of every column kind (compressed bodies, NULLs, integers,
/// text), with the community that owns them.
async fn stocked() -> (TestDb, Store, Vec<String>, Community) {
    sqlx::any::install_default_drivers();
    let db = TestDb::all().remove(0);
    let store = Store::open(&db.location).await.expect("open");
    let c = community(&store).await;
    let a = access(Tlp::Amber, &c.member, &c.member_analyst);
    let ids: Vec<String> = (1..=600).map(|n| stix_id("indicator", n)).collect();
    let mut objects: Vec<NewObject> = ids
        .iter()
        .map(|id| new_object(id, &stix_time(10), a.clone()))
        .collect();
    objects[0].values = vec!["198.51.100.7".into(), "例子.example".into()];
    store
        .import(&objects, OnRefusal::RefuseUnit, |_, _| Ok(()), audit())
        .await
        .expect("import");
    (db, store, ids, c)
}

#[tokio::test]
async fn the_store_readers_answer_as_sqlx_does() {
    let (_db, store, ids, c) = stocked().await;
    assert!(store.files.is_some(), "a SQLite store has its own readers");

    let mut statements = Vec::new();
    statements.push(Sql::new(&format!(
        "SELECT {} FROM objects o ORDER BY o.pk",
        crate::objects::COLUMNS
    )));
    // Every id as a placeholder of its own: bind i must land on `$i` all the way to the end.
    let mut many = Sql::new("SELECT o.stix_id, o.pk FROM objects o WHERE o.stix_id IN (");
    many.texts(ids.iter().rev().cloned());
    many.push(") AND o.pk > ").int(3).push(" ORDER BY o.pk");
    statements.push(many);
    statements.push(Sql::new(
        "SELECT value, object_pk, NULL, 2.5 FROM object_values ORDER BY value",
    ));
    let mut none = Sql::new("SELECT pk FROM objects WHERE stix_id = ");
    none.text("indicator--nothing");
    statements.push(none);

    for s in &statements {
        let ours = s.fetch_all(&store).await.expect("store read");
        assert_eq!(ours, through_sqlx(&store, s).await, "{}", s.sql());
    }
    assert_eq!(
        statements[1].fetch_all(&store).await.expect("read").len(),
        597
    );
    // Bodies come back compressed and decode to what was stored.
    let viewer = viewer_of(&store, &c.member_analyst.id).await;
    let read = store.object(&viewer, &ids[0]).await.expect("object");
    assert!(read.body.contains(&ids[0]));
    store.close().await;
}

#[tokio::test]
async fn the_store_readers_cannot_write() {
    let (_db, store, _, _) = stocked().await;
    let before = table_counts(&store).await;
    for text in [
        "DELETE FROM objects",
        "UPDATE users SET enabled = 0",
        "INSERT INTO object_values (value, object_pk) VALUES ('x', 1)",
    ] {
        let err = Sql::new(text)
            .fetch_all(&store)
            .await
            .expect_err("a write through a reader");
        assert!(err.to_string().contains("readonly"), "{text}: {err}");
    }
    assert_eq!(table_counts(&store).await, before);
    store.close().await;
}

#[tokio::test]
async fn a_closed_store_reads_nothing() {
    let (_db, store, _, _) = stocked().await;
    assert!(!store.orgs().await.expect("orgs").is_empty());
    store.close().await;
    assert!(matches!(
        store.orgs().await,
        Err(StoreError::Unavailable(_))
    ));
}
