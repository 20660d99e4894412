//! Bulk import: idempotent units, versions in any order, refusals, and units larger than one
//! statement's bind parameters. Reads afterwards go through the viewer-scoped functions and are
//! compared with the policy applied to a model of what was imported.

use std::collections::BTreeMap;

use isac_model::Tlp;
use isac_policy::{can_read, can_read_connecting};

use super::*;
use crate::{AuditRecord, Backend, IMPORT_OBJECTS_MAX, ImportOutcome, OnRefusal, Outcome};

/// What the suite expects of the latest version of each id.
#[derive(Default)]
struct Model {
    latest: BTreeMap<String, NewObject>,
}

impl Model {
    fn record(&mut self, batch: &[NewObject], outcome: &ImportOutcome) {
        assert!(outcome.applied, "the model records applied units only");
        for (i, o) in batch.iter().enumerate() {
            if outcome.refused.iter().any(|r| r.index == i) {
                continue;
            }
            let later = self
                .latest
                .get(&o.stix_id)
                .is_none_or(|l| o.modified > l.modified);
            if later {
                self.latest.insert(o.stix_id.clone(), o.clone());
            }
        }
    }

    /// The ids `viewer` may read under the policy, with ends judged at their latest version.
    fn visible(&self, viewer: &Viewer) -> BTreeSet<String> {
        self.latest
            .values()
            .filter(|o| {
                if isac_policy::connects(&o.stix_type) {
                    let ends: Vec<Option<&Access>> = crate::objects::ends_of(&o.stix_type, &o.body)
                        .iter()
                        .map(|id| self.latest.get(id).map(|e| &e.access))
                        .collect();
                    can_read_connecting(viewer, &o.access, &ends)
                } else {
                    can_read(viewer, &o.access)
                }
            })
            .map(|o| o.stix_id.clone())
            .collect()
    }
}

/// Every viewer of the community sees, through the listing and through single reads, exactly
/// what the policy allows on the model; the latest version is the model's.
async fn check_reads(store: &Store, c: &Community, model: &Model) {
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    for user in [
        &c.analyst,
        &c.member_analyst,
        &c.partner_service,
        &c.vendor_responder,
    ] {
        let viewer = viewer_of(store, &user.id).await;
        let want = model.visible(&viewer);
        let listed = all_pages(
            store,
            &viewer,
            &ObjectFilter::default(),
            Sort::OldestFirst,
            500,
        )
        .await;
        let got: BTreeSet<String> = listed.iter().map(|o| o.stix_id.clone()).collect();
        assert_eq!(got.len(), listed.len(), "an id is listed twice");
        assert_eq!(got, want, "{} lists what the policy allows", user.email);
        assert_eq!(
            store
                .count_objects(&viewer, &ObjectFilter::default())
                .await
                .unwrap(),
            want.len() as i64
        );
        for o in &listed {
            let m = &model.latest[&o.stix_id];
            assert_eq!(
                (&o.modified, &o.access, &o.title),
                (&m.modified, &m.access, &m.title),
                "{} reads the latest version of {}",
                user.email,
                o.stix_id
            );
        }
        for id in model.latest.keys() {
            let read = store.object(&viewer, id).await;
            assert_eq!(
                read.is_ok(),
                want.contains(id),
                "{} reading {id}: {read:?}",
                user.email
            );
        }
    }
}

/// A batch of `n` objects from number `from` on, spread over the TLP levels with audiences, two
/// searchable values each (one with blanks and capitals, one repeated), plus a relationship
/// between the first two.
fn unit(c: &Community, from: u64, n: u64) -> Vec<NewObject> {
    let mut out = Vec::new();
    for i in from..from + n {
        let (owner, author) = if i % 2 == 0 {
            (&c.operator, &c.analyst)
        } else {
            (&c.member, &c.member_analyst)
        };
        let tlp = match i % 5 {
            0 => Tlp::Clear,
            1 => Tlp::Green,
            2 => Tlp::Amber,
            3 => Tlp::AmberStrict,
            _ => Tlp::Red,
        };
        let mut a = access(tlp, owner, author);
        match tlp {
            Tlp::Amber if i % 4 == 2 => {
                a.recipient_orgs.insert(c.partner.id.clone());
            }
            Tlp::AmberStrict => {
                a.recipient_orgs.insert(if owner.id == c.member.id {
                    c.operator.id.clone()
                } else {
                    c.member.id.clone()
                });
            }
            Tlp::Red => {
                a.named_users.insert(c.partner_service.id.clone());
            }
            _ => {}
        }
        let mut o = new_object(&stix_id("indicator", i), &stix_time(i as i64), a);
        o.values = vec![
            format!("  Host-{i}.EXAMPLE "),
            format!("host-{i}.example"),
            "shared.example".into(),
        ];
        out.push(o);
    }
    let rel = stix_id("relationship", from);
    let (src, dst) = (stix_id("indicator", from), stix_id("indicator", from + 2));
    let mut r = new_object(
        &rel,
        &stix_time(0),
        access(Tlp::Green, &c.operator, &c.analyst),
    );
    r.body = format!(
        r#"{{"type":"relationship","id":"{rel}","relationship_type":"related-to","source_ref":"{src}","target_ref":"{dst}"}}"#
    ).into();
    out.push(r);
    out
}

/// Turns a valid version into an invalid one.
type Spoil = Box<dyn Fn(&mut NewObject)>;

fn allow(_: &Access, _: &NewObject) -> crate::Result<()> {
    Ok(())
}

async fn audit_tail(store: &Store) -> AuditRecord {
    store
        .audit_page(None, 1)
        .await
        .unwrap()
        .pop()
        .expect("an audit record")
}

fn ids(objs: &[StoredObject]) -> Vec<String> {
    objs.iter().map(|o| o.stix_id.clone()).collect()
}

/// Every version of `id` the viewer may read, oldest first, as (modified, is_latest).
async fn versions(store: &Store, viewer: &Viewer, id: &str) -> Vec<(String, bool)> {
    store
        .object_versions(viewer, id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.modified, v.is_latest))
        .collect()
}

/// After `unit(c, 0, 40)`: values are stored trimmed, lower-cased and once per version, and are
/// found whatever their case and blanks.
async fn values_are_normalised(store: &Store, c: &Community) {
    let analyst = viewer_of(store, &c.analyst.id).await;
    let found = all_pages(
        store,
        &analyst,
        &ObjectFilter {
            value: Some(" HOST-7.example".into()),
            ..ObjectFilter::default()
        },
        Sort::NewestFirst,
        10,
    )
    .await;
    assert_eq!(ids(&found), [stix_id("indicator", 7)]);
    let (values,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM object_values")
        .fetch_one(&store.read)
        .await
        .unwrap();
    assert_eq!(values, 80, "two distinct values per indicator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_is_idempotent() {
    each_backend("import_is_idempotent", |store| async move {
        let c = community(&store).await;
        let mut model = Model::default();
        let batch = unit(&c, 0, 40);
        let first = store
            .import(&batch, OnRefusal::RefuseUnit, allow, audit())
            .await
            .unwrap();
        assert_eq!(
            (
                first.applied,
                first.created,
                first.updated,
                first.historical
            ),
            (true, 41, 0, 0)
        );
        assert_eq!((first.unchanged, first.refused.len()), (0, 0));
        assert_eq!(first.stored(), 41);
        model.record(&batch, &first);
        let tail = audit_tail(&store).await;
        assert_eq!(tail.seq, first.audit_seq);
        assert!(
            tail.detail.starts_with("41 objects: 41 created"),
            "{tail:?}"
        );

        // Versions are in date_added order, one microsecond apart, in unit order.
        let rows: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT pk, date_added, stix_id FROM objects ORDER BY pk")
                .fetch_all(&store.read)
                .await
                .unwrap();
        assert_eq!(
            rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            batch.iter().map(|o| o.stix_id.clone()).collect::<Vec<_>>(),
            "pk order is unit order"
        );
        assert!(
            rows.windows(2).all(|w| w[1].1 == w[0].1 + 1),
            "date_added grows by one per version"
        );
        values_are_normalised(&store, &c).await;
        check_reads(&store, &c, &model).await;

        // The same unit again changes nothing but the audit log, which gains one record.
        let before = table_counts(&store).await;
        let again = store
            .import(&batch, OnRefusal::RefuseUnit, allow, audit())
            .await
            .unwrap();
        assert_eq!(
            (
                again.applied,
                again.created,
                again.updated,
                again.historical
            ),
            (true, 0, 0, 0)
        );
        assert_eq!(again.unchanged, 41);
        assert_eq!(again.audit_seq, first.audit_seq + 1);
        let after = table_counts(&store).await;
        for ((table, b), (_, a)) in before.iter().zip(&after) {
            let grew = if *table == "audit_log" { 1 } else { 0 };
            assert_eq!(*a, b + grew, "{table} after a repeated import");
        }
        // A unit repeating a version within itself stores it once.
        let twice = [batch[3].clone(), batch[3].clone()];
        let o = store
            .import(&twice, OnRefusal::RefuseUnit, allow, audit())
            .await
            .unwrap();
        assert_eq!((o.created, o.unchanged), (0, 2));
        check_reads(&store, &c, &model).await;
        assert_eq!(
            store.audit_verify().await.unwrap().first_broken,
            None,
            "the audit chain holds"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_stores_later_and_earlier_versions() {
    each_backend(
        "import_stores_later_and_earlier_versions",
        |store| async move {
            let c = community(&store).await;
            let analyst = viewer_of(&store, &c.analyst.id).await;
            let mut model = Model::default();
            let id = stix_id("indicator", 1);
            let v = |secs: i64, title: &str| {
                let mut o = new_object(
                    &id,
                    &stix_time(secs),
                    access(Tlp::Green, &c.operator, &c.analyst),
                );
                o.title = title.into();
                o.values = vec![title.into()];
                o
            };
            let one = [v(100, "v100")];
            let o = store
                .import(&one, OnRefusal::RefuseUnit, allow, audit())
                .await
                .unwrap();
            model.record(&one, &o);

            // A later version, then an earlier one, then the stored one, then a new id whose two
            // versions come latest first.
            let other = stix_id("malware", 2);
            let w = |secs: i64| {
                new_object(
                    &other,
                    &stix_time(secs),
                    access(Tlp::Amber, &c.member, &c.member_analyst),
                )
            };
            let mixed = [v(300, "v300"), v(200, "v200"), v(100, "v100"), w(20), w(10)];
            let seen = std::sync::Mutex::new(Vec::new());
            let o = store
                .import(
                    &mixed,
                    OnRefusal::RefuseUnit,
                    |old, new| {
                        seen.lock().unwrap().push((
                            old.tlp,
                            new.stix_id.clone(),
                            new.modified.clone(),
                        ));
                        Ok(())
                    },
                    audit(),
                )
                .await
                .unwrap();
            assert_eq!(
                (o.created, o.updated, o.historical, o.unchanged),
                (1, 1, 2, 1),
                "{o:?}"
            );
            assert_eq!(
                seen.into_inner().unwrap(),
                [
                    (Tlp::Green, id.clone(), stix_time(300)),
                    (Tlp::Green, id.clone(), stix_time(200)),
                    (Tlp::Amber, other.clone(), stix_time(10)),
                ],
                "the check sees the latest audience for every version of a known id"
            );
            model.record(&mixed, &o);
            assert_eq!(
                versions(&store, &analyst, &id).await,
                [
                    (stix_time(100), false),
                    (stix_time(300), true),
                    (stix_time(200), false)
                ]
            );
            assert_eq!(
                versions(&store, &analyst, &other).await,
                [(stix_time(20), true), (stix_time(10), false)]
            );
            // Searches see the latest version only.
            let by_value = |v: &'static str| {
                let store = store.clone();
                let analyst = analyst.clone();
                async move {
                    store
                        .count_objects(
                            &analyst,
                            &ObjectFilter {
                                value: Some(v.into()),
                                ..ObjectFilter::default()
                            },
                        )
                        .await
                        .unwrap()
                }
            };
            assert_eq!((by_value("v300").await, by_value("v200").await), (1, 0));

            // A version later than every stored one, in a unit of its own, moves the latest on.
            let four = [v(400, "v400")];
            let o = store
                .import(&four, OnRefusal::RefuseUnit, allow, audit())
                .await
                .unwrap();
            assert_eq!((o.updated, o.stored()), (1, 1));
            model.record(&four, &o);
            let latest = store.object(&analyst, &id).await.unwrap();
            assert_eq!((latest.title.as_str(), latest.is_latest), ("v400", true));
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM objects WHERE stix_id = $1 AND is_latest = 1")
                    .bind(id.clone())
                    .fetch_one(&store.read)
                    .await
                    .unwrap();
            assert_eq!(n, 1, "one latest version per id");
            check_reads(&store, &c, &model).await;
        },
    )
    .await;
}

/// No index keeps a second latest version of an id out of a SQLite store (migration 0009);
/// `integrity_check` finds one. PostgreSQL's unique index refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_check_finds_two_latest_versions() {
    each_backend(
        "integrity_check_finds_two_latest_versions",
        |store| async move {
            let c = community(&store).await;
            let id = stix_id("indicator", 7);
            let a = access(Tlp::Green, &c.operator, &c.analyst);
            let versions = [
                new_object(&id, &stix_time(100), a.clone()),
                new_object(&id, &stix_time(200), a),
            ];
            store
                .import(&versions, OnRefusal::RefuseUnit, allow, audit())
                .await
                .unwrap();
            assert_eq!(store.integrity_check().await.unwrap(), "ok");
            let both = sqlx::query("UPDATE objects SET is_latest = 1 WHERE stix_id = $1")
                .bind(id.clone())
                .execute(&store.write)
                .await;
            match store.backend {
                Backend::Sqlite => {
                    both.unwrap();
                    assert_eq!(
                        store.integrity_check().await.unwrap(),
                        format!("more than one latest version of {id}")
                    );
                }
                Backend::Postgres => {
                    assert!(both.is_err(), "the unique index refuses a second latest");
                    assert_eq!(store.integrity_check().await.unwrap(), "ok");
                }
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_object_fails_the_unit() {
    each_backend("an_invalid_object_fails_the_unit", |store| async move {
        let c = community(&store).await;
        let good = unit(&c, 0, 10);
        let cases: Vec<(&str, Spoil)> = vec![
            (
                "a local time",
                Box::new(|o| o.modified = "2024-01-01T00:00:00+08:00".into()),
            ),
            (
                "a wrong id",
                Box::new(|o| o.stix_id = "indicator--not-a-uuid".into()),
            ),
            (
                "a type that is not the id's",
                Box::new(|o| o.stix_type = "malware".into()),
            ),
            (
                "a body over the limit",
                Box::new(|o| o.body = "x".repeat(isac_model::limits::OBJECT_BYTES + 1).into()),
            ),
            (
                "a long value",
                Box::new(|o| o.values = vec!["v".repeat(isac_model::limits::SEARCH_CHARS + 1)]),
            ),
        ];
        for (what, spoil) in cases {
            let mut batch = good.clone();
            spoil(&mut batch[7]);
            let named = batch[7].stix_id.clone();
            let before = table_counts(&store).await;
            let message = match store
                .import(&batch, OnRefusal::SkipRefused, allow, audit())
                .await
            {
                Err(StoreError::Invalid(m)) => {
                    assert!(m.starts_with("object 7 ("), "{what}: {m}");
                    assert!(m.contains(&named), "{what}: {m}");
                    m
                }
                other => panic!("{what}: expected Invalid, got {other:?}"),
            };
            assert_eq!(table_counts(&store).await, before, "{what}: nothing stored");
            // Checking where the unit is built finds the same.
            match crate::CheckedUnit::new(batch) {
                Err(StoreError::Invalid(m)) => assert_eq!(m, message, "{what}"),
                other => panic!("{what}: expected Invalid, got {other:?}"),
            }
        }
        // A unit over the size limit is refused before anything is read.
        let one = good[0].clone();
        let huge = vec![one; IMPORT_OBJECTS_MAX + 1];
        refused(
            &store,
            "a unit over the size limit",
            store.import(&huge, OnRefusal::SkipRefused, allow, audit()),
            is_invalid,
        )
        .await;
        // A reference to an org the directory does not hold fails the unit inside the
        // transaction, and the rollback leaves nothing behind.
        let mut batch = good.clone();
        batch[9].access.owner_org = "no-such-org".into();
        refused(
            &store,
            "an unknown owner",
            store.import(&batch, OnRefusal::SkipRefused, allow, audit()),
            is_invalid,
        )
        .await;
    })
    .await;
}

/// A unit checked where it was built stores what the same objects would through `import`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_unit_stores_as_its_objects_would() {
    each_backend(
        "a_checked_unit_stores_as_its_objects_would",
        |store| async move {
            let c = community(&store).await;
            let batch = unit(&c, 0, 40);
            let checked = crate::CheckedUnit::new(batch.clone()).unwrap();
            assert_eq!((checked.len(), checked.is_empty()), (41, false));
            assert!(
                checked
                    .objects()
                    .iter()
                    .map(|o| &o.stix_id)
                    .eq(batch.iter().map(|o| &o.stix_id))
            );
            let mut session = store.import_session(0);
            let first = session
                .import_checked(&checked, OnRefusal::RefuseUnit, allow, audit())
                .await
                .unwrap();
            session.finish().await.unwrap();
            assert_eq!((first.applied, first.created), (true, 41));
            let mut model = Model::default();
            model.record(&batch, &first);
            check_reads(&store, &c, &model).await;
            values_are_normalised(&store, &c).await;
            // The same objects through `import` change nothing.
            let again = store
                .import(
                    &checked.into_objects(),
                    OnRefusal::RefuseUnit,
                    allow,
                    audit(),
                )
                .await
                .unwrap();
            assert_eq!((again.created, again.unchanged), (0, 41));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_versions_are_reported() {
    each_backend("refused_versions_are_reported", |store| async move {
        let c = community(&store).await;
        let mut model = Model::default();
        // The member's AMBER object, shared with nobody else.
        let theirs = stix_id("indicator", 1);
        let v1 = new_object(
            &theirs,
            &stix_time(10),
            access(Tlp::Amber, &c.member, &c.member_analyst),
        );
        let base = [v1.clone()];
        let o = store
            .import(&base, OnRefusal::RefuseUnit, allow, audit())
            .await
            .unwrap();
        model.record(&base, &o);

        // The vendor imports a later version that widens it to GREEN and names the partner,
        // next to an object of its own and a narrowing version of the member's object.
        let vendor_check = |old: &Access, new: &NewObject| {
            isac_policy::check_new_version(&c.vendor.id, old, &new.access)
                .map_err(|e| StoreError::Conflict(e.to_string()))
        };
        let mut widened = v1.clone();
        widened.modified = stix_time(20);
        widened.access.tlp = Tlp::Green;
        widened.title = "widened".into();
        let mut named = v1.clone();
        named.modified = stix_time(30);
        named.access.recipient_orgs.insert(c.partner.id.clone());
        named.title = "named".into();
        let own = new_object(
            &stix_id("indicator", 2),
            &stix_time(10),
            access(Tlp::Green, &c.vendor, &c.vendor_responder),
        );
        let mut narrowed = v1.clone();
        narrowed.modified = stix_time(5);
        narrowed.title = "earlier, same audience".into();
        let unit = [
            widened.clone(),
            own.clone(),
            named.clone(),
            narrowed.clone(),
        ];

        // Atomic per unit: one refusal keeps everything out, and the attempt is audited.
        let before = table_counts(&store).await;
        let o = store
            .import(&unit, OnRefusal::RefuseUnit, vendor_check, audit())
            .await
            .unwrap();
        assert!(!o.applied);
        assert_eq!(o.stored(), 0);
        assert_eq!(
            o.refused
                .iter()
                .map(|r| (r.index, r.stix_id.as_str(), r.modified.clone()))
                .collect::<Vec<_>>(),
            [
                (0, theirs.as_str(), stix_time(20)),
                (2, theirs.as_str(), stix_time(30))
            ]
        );
        assert!(o.refused[0].reason.contains("widen"), "{:?}", o.refused[0]);
        assert_eq!(
            (o.created, o.historical),
            (1, 1),
            "what it would have stored"
        );
        for ((table, b), (_, a)) in before.iter().zip(&table_counts(&store).await) {
            let grew = if *table == "audit_log" { 1 } else { 0 };
            assert_eq!(*a, b + grew, "{table} after a refused unit");
        }
        let tail = audit_tail(&store).await;
        assert_eq!(tail.outcome, Outcome::Denied.as_str());
        assert!(tail.detail.contains("nothing stored"), "{}", tail.detail);
        assert!(tail.detail.contains(&theirs), "{}", tail.detail);
        check_reads(&store, &c, &model).await;

        // Skipping refusals stores the rest of the unit.
        let o = store
            .import(&unit, OnRefusal::SkipRefused, vendor_check, audit())
            .await
            .unwrap();
        assert!(o.applied);
        assert_eq!(o.refused.len(), 2);
        assert_eq!((o.created, o.updated, o.historical), (1, 0, 1));
        assert_eq!(audit_tail(&store).await.outcome, Outcome::Ok.as_str());
        model.record(&unit, &o);
        let member = viewer_of(&store, &c.member_analyst.id).await;
        assert_eq!(
            versions(&store, &member, &theirs).await,
            [(stix_time(10), true), (stix_time(5), false)]
        );
        check_reads(&store, &c, &model).await;

        // The owner may widen its own object.
        let member_check = |old: &Access, new: &NewObject| {
            isac_policy::check_new_version(&c.member.id, old, &new.access)
                .map_err(|e| StoreError::Conflict(e.to_string()))
        };
        let mine = [widened.clone()];
        let o = store
            .import(&mine, OnRefusal::RefuseUnit, member_check, audit())
            .await
            .unwrap();
        assert_eq!((o.applied, o.updated), (true, 1));
        model.record(&mine, &o);
        check_reads(&store, &c, &model).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_larger_than_the_bind_limits() {
    each_backend("a_unit_larger_than_the_bind_limits", |store| async move {
        let c = community(&store).await;
        // 7,000 versions: 77,000 object parameters, 21,000 value rows and 7,000 recipient rows,
        // over both backends' limits for one statement.
        const N: u64 = 7_000;
        let batch: Vec<NewObject> = (0..N)
            .map(|i| {
                let mut a = access(Tlp::Amber, &c.operator, &c.analyst);
                a.recipient_orgs.insert(c.member.id.clone());
                let mut o = new_object(&stix_id("indicator", i), &stix_time(i as i64), a);
                o.values = vec![
                    format!("a-{i}.example"),
                    format!("b-{i}.example"),
                    format!("c-{i}.example"),
                ];
                o
            })
            .collect();
        let o = store
            .import(&batch, OnRefusal::RefuseUnit, allow, audit())
            .await
            .unwrap();
        assert_eq!(o.created, N as usize);
        let member = viewer_of(&store, &c.member_analyst.id).await;
        let all = ObjectFilter::default();
        assert_eq!(store.count_objects(&member, &all).await.unwrap(), N as i64);
        let vendor = viewer_of(&store, &c.vendor_responder.id).await;
        assert_eq!(store.count_objects(&vendor, &all).await.unwrap(), 0);

        // A later version of every object demotes 7,000 latest versions in the same unit.
        let later: Vec<NewObject> = batch
            .iter()
            .map(|o| {
                let mut v = o.clone();
                v.modified = stix_time(100_000);
                v.access.recipient_orgs.clear();
                v
            })
            .collect();
        let again: Vec<NewObject> = batch.iter().chain(&later).cloned().collect();
        let o = store
            .import(&again, OnRefusal::RefuseUnit, allow, audit())
            .await
            .unwrap();
        assert_eq!((o.unchanged, o.updated), (N as usize, N as usize));
        assert_eq!(store.count_objects(&member, &all).await.unwrap(), 0);
        let analyst = viewer_of(&store, &c.analyst.id).await;
        assert_eq!(store.count_objects(&analyst, &all).await.unwrap(), N as i64);
        assert_eq!(store.version_count().await.unwrap(), 2 * N as i64);
        let (latest,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM objects WHERE is_latest = 1")
            .fetch_one(&store.read)
            .await
            .unwrap();
        assert_eq!(latest, N as i64);
    })
    .await;
}

/// Imports a unit in `session`, every version allowed; it must not fail.
async fn stored(session: &mut crate::ImportSession, batch: &[NewObject]) -> ImportOutcome {
    session
        .import(batch, OnRefusal::RefuseUnit, allow, audit())
        .await
        .unwrap()
}

/// Objects readers see, through the read pool (so only what is committed).
async fn committed_objects(store: &Store) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM objects")
        .fetch_one(&store.read)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_session_commits_units_together() {
    each_backend(
        "import_session_commits_units_together",
        |store| async move {
            let c = community(&store).await;
            let base = committed_objects(&store).await;
            // Units of 11 versions; the session commits once 30 objects have gone in.
            let mut session = store.import_session(30);
            let first = unit(&c, 0, 10);
            let o = stored(&mut session, &first).await;
            assert_eq!((o.applied, o.created), (true, 11));
            assert_eq!(session.pending(), 11);
            assert_eq!(committed_objects(&store).await, base, "not committed yet");

            // The next unit sees the first one, uncommitted: a later version of one of its ids
            // is an update and the same version again is unchanged.
            let mut later = first[4].clone();
            later.modified = stix_time(10_000);
            let mut second = unit(&c, 100, 9);
            second.push(later);
            second.push(first[5].clone());
            let o = stored(&mut session, &second).await;
            assert_eq!((o.created, o.updated, o.unchanged), (10, 1, 1), "{o:?}");
            assert_eq!(session.pending(), 23);

            // A refused unit stores nothing of itself but its denied audit record, and the
            // session goes on.
            let mut third = unit(&c, 200, 3);
            third.push(first[6].clone());
            let mut refused_later = first[7].clone();
            refused_later.modified = stix_time(20_000);
            third.push(refused_later);
            let o = session
                .import(
                    &third,
                    OnRefusal::RefuseUnit,
                    |_, _| Err(StoreError::Conflict("not yours".into())),
                    audit(),
                )
                .await
                .unwrap();
            assert!(!o.applied);
            assert_eq!(o.refused.len(), 1);
            assert_eq!(
                session.pending(),
                29,
                "a refused unit counts towards the commit"
            );
            assert_eq!(committed_objects(&store).await, base);

            // The unit that passes 30 objects commits everything so far.
            let fourth = unit(&c, 300, 4);
            stored(&mut session, &fourth).await;
            assert_eq!(session.pending(), 0);
            assert_eq!(committed_objects(&store).await, base + 11 + 10 + 1 + 5);
            let tail = audit_tail(&store).await;
            assert!(tail.detail.starts_with("5 objects: 5 created"), "{tail:?}");

            // (What the tables hold once the session has committed; it holds the write
            // connection while a transaction is open.)
            let before = table_counts(&store).await;
            // An invalid unit is refused before anything is written: the session keeps its
            // open units.
            let fifth = unit(&c, 400, 2);
            stored(&mut session, &fifth).await;
            let mut invalid = unit(&c, 500, 2);
            invalid[0].stix_id = "not an id".into();
            assert!(matches!(
                session
                    .import(&invalid, OnRefusal::RefuseUnit, allow, audit())
                    .await,
                Err(StoreError::Invalid(_))
            ));
            assert_eq!(session.pending(), 3);

            // A unit the database rejects (an owner that is no org) rolls back the open
            // transaction: nothing of it, nor of the fifth unit, is stored.
            let mut broken = unit(&c, 600, 2);
            broken[1].access.owner_org = "no-such-org".into();
            assert!(
                session
                    .import(&broken, OnRefusal::RefuseUnit, allow, audit())
                    .await
                    .is_err()
            );
            assert_eq!(session.pending(), 0);
            assert_eq!(table_counts(&store).await, before);

            // The session goes on in a new transaction; finishing commits it.
            let sixth = unit(&c, 700, 2);
            stored(&mut session, &sixth).await;
            session.finish().await.unwrap();
            assert_eq!(committed_objects(&store).await, base + 27 + 3);
            let viewer = viewer_of(&store, &c.analyst.id).await;
            assert!(
                store
                    .object(&viewer, &stix_id("indicator", 700))
                    .await
                    .is_ok()
            );
            assert!(
                store
                    .object(&viewer, &stix_id("indicator", 400))
                    .await
                    .is_err()
            );

            // Dropping a session discards what it has not committed.
            let mut dropped = store.import_session(1_000);
            stored(&mut dropped, &unit(&c, 800, 2)).await;
            drop(dropped);
            assert_eq!(committed_objects(&store).await, base + 30);
            assert_eq!(
                store.audit_verify().await.unwrap().first_broken,
                None,
                "the audit chain holds"
            );
        },
    )
    .await;
}

/// A TAXII POST holds its session, imports the envelope and saves the status resource that
/// reports it in the same transaction: both commit, or neither does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_commits_with_the_objects_it_reports() {
    each_backend(
        "a_status_commits_with_the_objects_it_reports",
        |store| async move {
            let c = community(&store).await;
            let base = committed_objects(&store).await;
            let status = |id: &str| crate::TaxiiStatus {
                id: id.into(),
                org_id: c.member.id.clone(),
                user_id: c.member_analyst.id.clone(),
                created_at: crate::now_micros(),
                body: format!("{{\"id\":\"{id}\"}}"),
            };
            let kept = |id: &'static str| {
                let store = store.clone();
                async move { store.taxii_status(id).await.unwrap().is_some() }
            };

            let mut session = store.import_session(0);
            session.hold(true);
            stored(&mut session, &unit(&c, 0, 3)).await;
            session
                .save_taxii_status(&status("status-1"), audit())
                .await
                .unwrap();
            assert_eq!(
                committed_objects(&store).await,
                base,
                "nothing before the commit"
            );
            assert!(!kept("status-1").await);
            session.finish().await.unwrap();
            assert_eq!(committed_objects(&store).await, base + 4);
            assert!(kept("status-1").await);

            // A status that cannot be stored (its id taken) takes the objects with it.
            let before = table_counts(&store).await;
            let mut session = store.import_session(0);
            session.hold(true);
            stored(&mut session, &unit(&c, 100, 3)).await;
            assert!(matches!(
                session
                    .save_taxii_status(&status("status-1"), audit())
                    .await,
                Err(StoreError::Conflict(_))
            ));
            assert_eq!(session.pending(), 0);
            session.finish().await.unwrap();
            assert_eq!(table_counts(&store).await, before);

            // A status alone, in a session that stored nothing, opens its own transaction.
            let mut session = store.import_session(0);
            session.hold(true);
            session
                .save_taxii_status(&status("status-2"), audit())
                .await
                .unwrap();
            session.finish().await.unwrap();
            assert!(kept("status-2").await);
            assert_eq!(
                store.audit_verify().await.unwrap().first_broken,
                None,
                "the audit chain holds"
            );
        },
    )
    .await;
}

async fn foreign_keys(pool: &sqlx::AnyPool) -> i64 {
    let (on,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    on
}

async fn journal_mode(store: &Store) -> String {
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&store.read)
        .await
        .unwrap();
    mode
}

/// `Store::open_for_load`: a rollback journal only while the SQLite file is not open elsewhere,
/// the WAL again after `close`, and a load stored and read as any other; on PostgreSQL it is
/// `Store::open`. The load comes first, on a file nothing else has opened: a store of this
/// process that has just been closed may still hold the file for a moment (its connections
/// close on their own threads), and a load then keeps the WAL, which is correct but not what
/// this test is after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_takes_the_file_only_when_it_is_alone() {
    sqlx::any::install_default_drivers();
    for db in TestDb::all() {
        let load = Store::open_for_load(&db.location).await.unwrap();
        let sqlite = load.backend() == crate::Backend::Sqlite;
        assert_eq!(load.is_loading(), sqlite, "{}", db.name);
        if sqlite {
            assert_eq!(journal_mode(&load).await, "delete");
        }
        let c = community(&load).await;
        // The writer of a load leaves foreign keys to the import (`check_references`).
        if sqlite {
            assert_eq!(foreign_keys(&load.write).await, 0);
        }
        let mut session = load.import_session(30);
        for (broken, what) in [(1, "owner `no-such-org`"), (0, "author `no-such-user`")] {
            let mut u = unit(&c, 600, 2);
            if what.starts_with("owner") {
                u[broken].access.owner_org = "no-such-org".into();
            } else {
                u[broken].access.author = "no-such-user".into();
            }
            match session
                .import(&u, OnRefusal::RefuseUnit, allow, audit())
                .await
            {
                Err(StoreError::Invalid(m)) => {
                    if sqlite {
                        assert!(
                            m.contains(what) && m.starts_with(&format!("object {broken}")),
                            "{m}"
                        );
                    }
                }
                other => panic!("{}: {other:?}", db.name),
            }
            assert_eq!(session.pending(), 0);
        }
        let o = stored(&mut session, &unit(&c, 0, 40)).await;
        assert_eq!((o.applied, o.created), (true, 41));
        session.finish().await.unwrap();
        load.close().await;

        let after = Store::open(&db.location).await.unwrap();
        if sqlite {
            assert_eq!(journal_mode(&after).await, "wal", "switched back on close");
            assert_eq!(foreign_keys(&after.write).await, 1);
            let broken = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&after.read)
                .await
                .unwrap();
            assert_eq!(broken.len(), 0, "rows breaking a foreign key");
        }
        let viewer = viewer_of(&after, &c.analyst.id).await;
        let got = after
            .object(&viewer, &stix_id("indicator", 0))
            .await
            .unwrap();
        assert_eq!(got.body, unit(&c, 0, 1)[0].body);
        assert_eq!(committed_objects(&after).await, 41);
        assert_eq!(after.audit_verify().await.unwrap().first_broken, None);

        // Open elsewhere: SQLite keeps the WAL, and the store opens as usual.
        let beside = Store::open_for_load(&db.location).await.unwrap();
        assert!(!beside.is_loading(), "{}", db.name);
        if sqlite {
            assert_eq!(journal_mode(&beside).await, "wal");
        }
        assert_eq!(committed_objects(&beside).await, 41);
        beside.close().await;
        after.close().await;
    }
}

async fn page_size(pool: &sqlx::AnyPool) -> i64 {
    let (n,): (i64,) = sqlx::query_as("PRAGMA page_size")
        .fetch_one(pool)
        .await
        .unwrap();
    n
}

/// New SQLite stores get `PAGE_SIZE` pages, whether opened to serve or to load; a store made
/// with another page size keeps it and opens as before.
#[tokio::test]
async fn new_sqlite_stores_use_the_larger_page() {
    sqlx::any::install_default_drivers();
    let db = TestDb::all().remove(0);
    let dir = db.sqlite_dir().expect("the first test database is SQLite");
    let served = Store::open(&Location::SqliteFile(dir.join("served.db")))
        .await
        .unwrap();
    let loaded = Store::open_for_load(&Location::SqliteFile(dir.join("loaded.db")))
        .await
        .unwrap();
    assert!(loaded.is_loading());
    for store in [&served, &loaded] {
        assert_eq!(page_size(&store.write).await, i64::from(crate::PAGE_SIZE));
        assert_eq!(page_size(&store.read).await, i64::from(crate::PAGE_SIZE));
    }
    assert_eq!(journal_mode(&served).await, "wal");
    // An older store, made with SQLite's default of 4 KiB.
    let old = dir.join("old.db");
    {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&old)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("PRAGMA page_size=4096; CREATE TABLE before_isac (x)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let store = Store::open(&Location::SqliteFile(old)).await.unwrap();
    assert_eq!(page_size(&store.write).await, 4096);
    assert_eq!(journal_mode(&store).await, "wal");
    let c = community(&store).await;
    let mut session = store.import_session(30);
    session
        .import(&unit(&c, 50, 1), OnRefusal::RefuseUnit, allow, audit())
        .await
        .unwrap();
    session.finish().await.unwrap();
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
}
