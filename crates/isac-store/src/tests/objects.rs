//! Intelligence objects: atomic batches, versions, paging, counts and search.

use std::cell::Cell;
use std::collections::BTreeMap;

use isac_model::Tlp;

use super::*;

const SORTS: [Sort; 4] = [
    Sort::NewestFirst,
    Sort::OldestFirst,
    Sort::ModifiedDesc,
    Sort::ModifiedAsc,
];

/// Which expected objects a filter keeps.
type Keep = Box<dyn Fn(&Expected) -> bool>;

/// What the suite expects of the latest version of one object.
#[derive(Debug, Clone)]
struct Expected {
    pk: i64,
    stix_id: String,
    stix_type: String,
    modified: String,
    tlp: Tlp,
    owner: String,
    revoked: bool,
    values: Vec<String>,
}

/// Stores a mix of objects, all readable by the operator's analyst, some with a second version,
/// and returns the analyst's viewer with the expected latest versions in insertion order.
async fn catalogue(store: &Store, c: &Community) -> (Viewer, Vec<Expected>) {
    const N: u64 = 45;
    let types = ["indicator", "malware", "report"];
    let mut news = Vec::new();
    for i in 0..N {
        let (owner, author) = if i % 3 == 2 {
            (&c.member, &c.member_analyst)
        } else {
            (&c.operator, &c.analyst)
        };
        let mut tlp = Tlp::ALL[i as usize % Tlp::ALL.len()];
        if tlp == Tlp::Red && owner.id != c.operator.id {
            tlp = Tlp::Amber;
        }
        let mut o = new_object(
            &stix_id(types[i as usize % types.len()], i),
            // Every `modified` occurs twice, out of insertion order, so ties are broken by pk.
            &stix_time(((i * 7) % (N / 2 + 1)) as i64),
            access(tlp, owner, author),
        );
        o.values = vec![format!("Value-{i}")];
        if i % 2 == 0 {
            o.values.push(" Shared.EXAMPLE ".into());
        }
        news.push(o);
    }
    let mut expected = Vec::new();
    for batch in news.chunks(10) {
        let pks = store.insert_objects(batch, audit()).await.unwrap();
        assert_eq!(pks.len(), batch.len());
        for (o, k) in batch.iter().zip(pks) {
            expected.push(Expected {
                pk: k.pk,
                stix_id: o.stix_id.clone(),
                stix_type: o.stix_type.clone(),
                modified: o.modified.clone(),
                tlp: o.access.tlp,
                owner: o.access.owner_org.clone(),
                revoked: false,
                values: o.values.iter().map(|v| v.trim().to_lowercase()).collect(),
            });
        }
    }
    // A second version of every fourth object: it moves to the end of date_added order.
    for i in (0..N as usize).step_by(4) {
        let mut v2 = news[i].clone();
        v2.modified = stix_time(1_000 + i as i64);
        v2.revoked = i % 8 == 0;
        v2.values = vec![format!("Value-{i}"), "version-two".into()];
        let pk = store
            .insert_version(&v2, |_| Ok(()), audit())
            .await
            .unwrap();
        let e = &mut expected[i];
        e.pk = pk;
        e.modified = v2.modified.clone();
        e.revoked = v2.revoked;
        e.values = vec![format!("value-{i}"), "version-two".into()];
    }
    (viewer_of(store, &c.analyst.id).await, expected)
}

fn sorted(sort: Sort, mut objs: Vec<Expected>) -> Vec<String> {
    objs.sort_by(|a, b| match sort {
        Sort::NewestFirst => b.pk.cmp(&a.pk),
        Sort::OldestFirst => a.pk.cmp(&b.pk),
        Sort::ModifiedDesc => (&b.modified, b.pk).cmp(&(&a.modified, a.pk)),
        Sort::ModifiedAsc => (&a.modified, a.pk).cmp(&(&b.modified, b.pk)),
    });
    objs.into_iter().map(|o| o.stix_id).collect()
}

fn ids(objs: &[StoredObject]) -> Vec<String> {
    objs.iter().map(|o| o.stix_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_atomic() {
    each_backend("batches_are_atomic", |store| async move {
        let c = community(&store).await;
        let viewer = viewer_of(&store, &c.analyst.id).await;
        let a = |tlp| access(tlp, &c.operator, &c.analyst);
        let first: Vec<NewObject> = (0..3)
            .map(|i| new_object(&stix_id("indicator", i), &stix_time(0), a(Tlp::Green)))
            .collect();
        let keys = store.insert_objects(&first, audit()).await.unwrap();
        assert!(
            keys.windows(2)
                .all(|w| w[0].pk < w[1].pk && w[0].date_added < w[1].date_added),
            "pks and date_added grow within a batch"
        );
        let got = store.object(&viewer, &first[0].stix_id).await.unwrap();
        assert_eq!(got.pk, keys[0].pk);
        assert_eq!(
            got.date_added, keys[0].date_added,
            "the stored date_added is returned"
        );
        assert_eq!(got.title, first[0].title);
        assert_eq!(got.body, first[0].body);
        assert_eq!(got.access, first[0].access);
        assert!(got.is_latest && !got.revoked);

        // The last item repeats a stored id: nothing of the batch is kept.
        let mut batch: Vec<NewObject> = (10..15)
            .map(|i| {
                let mut o = new_object(&stix_id("indicator", i), &stix_time(0), a(Tlp::Amber));
                o.access.recipient_orgs.insert(c.member.id.clone());
                o.values = vec![format!("batch-{i}")];
                o
            })
            .collect();
        batch.push(new_object(&first[2].stix_id, &stix_time(5), a(Tlp::Clear)));
        refused(
            &store,
            "a batch ending in a stored id",
            store.insert_objects(&batch, audit()),
            is_conflict,
        )
        .await;
        assert!(is_not_found(
            &store.object(&viewer, &batch[0].stix_id).await.unwrap_err()
        ));

        // The same id twice in one batch, with the same and with a different `modified`.
        for m in [0, 1] {
            let dup = vec![
                new_object(&stix_id("malware", 20), &stix_time(0), a(Tlp::Green)),
                new_object(&stix_id("malware", 20), &stix_time(m), a(Tlp::Green)),
            ];
            refused(
                &store,
                "one id twice in a batch",
                store.insert_objects(&dup, audit()),
                is_conflict,
            )
            .await;
        }

        // An unknown owner or author is refused by the schema, and the batch with it.
        let mut ghost = batch[..2].to_vec();
        ghost[1].access.owner_org = "no-such-org".into();
        refused(
            &store,
            "an object of an unknown org",
            store.insert_objects(&ghost, audit()),
            is_invalid,
        )
        .await;
        ghost[1].access.owner_org = c.operator.id.clone();
        ghost[1].access.author = "no-such-user".into();
        refused(
            &store,
            "an object of an unknown author",
            store.insert_objects(&ghost, audit()),
            is_invalid,
        )
        .await;

        batch.pop();
        store.insert_objects(&batch, audit()).await.unwrap();
        let got = store.object(&viewer, &batch[0].stix_id).await.unwrap();
        assert_eq!(got.access, batch[0].access, "recipients are read back");
        assert_eq!(
            store
                .count_objects(&viewer, &ObjectFilter::default())
                .await
                .unwrap(),
            3 + 5
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_ordered_and_checked() {
    each_backend("versions_are_ordered_and_checked", |store| async move {
        let c = community(&store).await;
        let viewer = viewer_of(&store, &c.analyst.id).await;
        let id = stix_id("indicator", 1);
        let v1 = new_object(
            &id,
            &stix_time(100),
            access(Tlp::Green, &c.operator, &c.analyst),
        );
        store
            .insert_objects(std::slice::from_ref(&v1), audit())
            .await
            .unwrap();

        let mut v2 = v1.clone();
        v2.modified = stix_time(200);
        v2.access.tlp = Tlp::Amber;
        v2.access.recipient_orgs.insert(c.member.id.clone());
        v2.title = "second".into();
        let seen = Cell::new(None);
        let pk2 = store
            .insert_version(
                &v2,
                |old| {
                    seen.set(Some(old.clone()));
                    Ok(())
                },
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(
            seen.take(),
            Some(v1.access.clone()),
            "the check sees the old audience"
        );
        let latest = store.object(&viewer, &id).await.unwrap();
        assert_eq!((latest.pk, latest.title.as_str()), (pk2, "second"));
        assert_eq!(latest.access, v2.access);
        assert!(latest.is_latest);

        // A version must be later than the latest one.
        for m in [200, 150, 50] {
            let mut v = v2.clone();
            v.modified = stix_time(m);
            v.title = "stale".into();
            refused(
                &store,
                &format!("a version modified at {m}"),
                store.insert_version(&v, |_| Ok(()), audit()),
                is_conflict,
            )
            .await;
        }
        // A refusing check stores nothing, however valid the version is.
        let mut v3 = v2.clone();
        v3.modified = stix_time(300);
        refused(
            &store,
            "a version its check refuses",
            store.insert_version(
                &v3,
                |_| Err(StoreError::Conflict("only the owner may widen".into())),
                audit(),
            ),
            is_conflict,
        )
        .await;
        refused(
            &store,
            "a version of an unknown object",
            store.insert_version(
                &new_object(&stix_id("indicator", 99), &stix_time(1), v1.access.clone()),
                |_| Ok(()),
                audit(),
            ),
            is_not_found,
        )
        .await;

        v3.revoked = true;
        v3.access.recipient_orgs.clear();
        let pk3 = store
            .insert_version(&v3, |_| Ok(()), audit())
            .await
            .unwrap();
        let versions = store.object_versions(&viewer, &id).await.unwrap();
        assert_eq!(
            versions
                .iter()
                .map(|v| (v.modified.clone(), v.is_latest))
                .collect::<Vec<_>>(),
            [
                (stix_time(100), false),
                (stix_time(200), false),
                (stix_time(300), true)
            ]
        );
        assert_eq!(
            versions[1].access, v2.access,
            "each version keeps its own audience"
        );
        assert!(versions[2].revoked && versions[2].pk == pk3);

        // Listing and counting see the latest version only.
        let listed = all_pages(
            &store,
            &viewer,
            &ObjectFilter::default(),
            Sort::NewestFirst,
            10,
        )
        .await;
        assert_eq!(ids(&listed), std::slice::from_ref(&id));
        assert_eq!(listed[0].pk, pk3);

        // Each version is read under its own audience: the member was a recipient of the
        // second version only, and the partner of none.
        let member = viewer_of(&store, &c.member_analyst.id).await;
        let seen_by_member: Vec<String> = store
            .object_versions(&member, &id)
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.modified)
            .collect();
        assert_eq!(seen_by_member, [stix_time(100), stix_time(200)]);
        assert!(is_not_found(&store.object(&member, &id).await.unwrap_err()));
        let partner = viewer_of(&store, &c.partner_service.id).await;
        assert_eq!(
            store.object_versions(&partner, &id).await.unwrap().len(),
            1,
            "the partner's ceiling admits GREEN"
        );
        assert_eq!(store.version_count().await.unwrap(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_id_give_what_single_reads_give() {
    each_backend(
        "reads_by_id_give_what_single_reads_give",
        |store| async move {
            let c = community(&store).await;
            let (analyst, expected) = catalogue(&store, &c).await;
            // Every stored id, twice, among more unknown ids than one batch holds.
            let mut ask: Vec<String> = (0..600).map(|n| stix_id("indicator", 10_000 + n)).collect();
            for e in &expected {
                ask.push(e.stix_id.clone());
                ask.insert(0, e.stix_id.clone());
            }
            let got = store.objects_by_id(&analyst, &ask).await.unwrap();
            assert_eq!(
                ids(&got),
                sorted(Sort::OldestFirst, expected.clone()),
                "each stored id once, in pk order"
            );
            let mut by_pk = expected.clone();
            by_pk.sort_by_key(|e| e.pk);
            for (g, e) in got.iter().zip(&by_pk) {
                assert_eq!(
                    (g.pk, &g.modified),
                    (e.pk, &e.modified),
                    "the latest version"
                );
                assert!(g.is_latest);
            }
            // Other viewers get exactly what they may read one id at a time: the same scope and
            // re-check, recipients included.
            for user in [&c.member_analyst, &c.partner_service, &c.vendor_responder] {
                let viewer = viewer_of(&store, &user.id).await;
                let mut one_by_one = Vec::new();
                for e in &expected {
                    match store.object(&viewer, &e.stix_id).await {
                        Ok(o) => one_by_one.push(o),
                        Err(err) => assert!(is_not_found(&err), "{err:?}"),
                    }
                }
                one_by_one.sort_by_key(|o| o.pk);
                let got = store.objects_by_id(&viewer, &ask).await.unwrap();
                assert_eq!(got, one_by_one, "{}", user.email);
                assert!(
                    got.len() < expected.len(),
                    "{} reads everything",
                    user.email
                );
            }
            let got = store
                .objects_by_id(&Viewer::anonymous(), &ask)
                .await
                .unwrap();
            assert!(!got.is_empty() && got.iter().all(|o| o.access.tlp == Tlp::Clear));
            assert!(store.objects_by_id(&analyst, &[]).await.unwrap().is_empty());
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_in_every_order() {
    each_backend("listing_pages_in_every_order", |store| async move {
        let c = community(&store).await;
        let (viewer, expected) = catalogue(&store, &c).await;
        let all = ObjectFilter::default();
        for sort in SORTS {
            let want = sorted(sort, expected.clone());
            for limit in [1, 2, 7, 45, 46, 500] {
                let got = all_pages(&store, &viewer, &all, sort, limit).await;
                assert_eq!(ids(&got), want, "{sort:?} in pages of {limit}");
                assert!(got.iter().all(|o| o.is_latest));
                for w in got.windows(2) {
                    assert!(before_in(sort, &w[0], &w[1]), "{sort:?} out of order");
                }
            }
            // A full last page says there is nothing more.
            let page = store
                .list_objects(
                    &viewer,
                    &ListQuery {
                        sort,
                        limit: 45,
                        ..ListQuery::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!((page.objects.len(), page.next), (45, None));
            // A limit of zero still returns a page.
            let page = store
                .list_objects(
                    &viewer,
                    &ListQuery {
                        sort,
                        limit: 0,
                        ..ListQuery::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.objects.len(), 1);
            assert!(page.next.is_some());
        }
        for bad in [
            "",
            "garbage",
            "x.2024",
            "1",
            &format!("1.{}", "9".repeat(65)),
        ] {
            let r = store
                .list_objects(
                    &viewer,
                    &ListQuery {
                        cursor: Some(bad.to_owned()),
                        limit: 10,
                        ..ListQuery::default()
                    },
                )
                .await;
            assert!(
                matches!(r, Err(StoreError::Invalid(_))),
                "cursor {bad:?}: {r:?}"
            );
        }

        // Objects added while a client pages through: each listing still returns every earlier
        // object exactly once, in order, and a new object exactly when it sorts after the cursor.
        let mut next_id = 1_000;
        for sort in SORTS {
            let before = all_pages(&store, &viewer, &all, sort, 500).await;
            let first = store
                .list_objects(
                    &viewer,
                    &ListQuery {
                        sort,
                        limit: 5,
                        ..ListQuery::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(ids(&first.objects), ids(&before[..5]));
            let mut fresh = Vec::new();
            for secs in [-50_000, 3, 50_000] {
                fresh.push(new_object(
                    &stix_id("indicator", next_id),
                    &stix_time(secs),
                    access(Tlp::Green, &c.operator, &c.analyst),
                ));
                next_id += 1;
            }
            store.insert_objects(&fresh, audit()).await.unwrap();
            let rest = pages_from(&store, &viewer, &all, sort, 4, first.next.clone()).await;
            let last = first.objects.last().unwrap();
            let mut want: Vec<StoredObject> = before[5..].to_vec();
            for f in &fresh {
                let o = store.object(&viewer, &f.stix_id).await.unwrap();
                if before_in(sort, last, &o) {
                    want.push(o);
                }
            }
            want.sort_by(|a, b| {
                if before_in(sort, a, b) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            });
            assert_eq!(ids(&rest), ids(&want), "{sort:?} with objects added");
            if sort == Sort::OldestFirst {
                assert_eq!(
                    ids(&rest[rest.len() - 3..]),
                    ids(&want[want.len() - 3..]),
                    "new objects come last in date_added order"
                );
                assert!(
                    fresh
                        .iter()
                        .all(|f| rest.iter().any(|o| o.stix_id == f.stix_id))
                );
            }
            if sort == Sort::NewestFirst {
                assert!(
                    fresh
                        .iter()
                        .all(|f| rest.iter().all(|o| o.stix_id != f.stix_id))
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_filters_and_search() {
    each_backend("counts_filters_and_search", |store| async move {
        let c = community(&store).await;
        let (viewer, expected) = catalogue(&store, &c).await;

        let mut filters: Vec<(ObjectFilter, Keep)> =
            vec![(ObjectFilter::default(), Box::new(|_| true))];
        for t in Tlp::ALL {
            filters.push((
                ObjectFilter {
                    tlp: Some(*t),
                    ..ObjectFilter::default()
                },
                Box::new(move |e| e.tlp == *t),
            ));
        }
        for ty in ["indicator", "malware", "report", "campaign"] {
            filters.push((
                ObjectFilter {
                    stix_type: Some(ty.into()),
                    ..ObjectFilter::default()
                },
                Box::new(move |e| e.stix_type == ty),
            ));
        }
        for owner in [
            c.operator.id.clone(),
            c.member.id.clone(),
            c.vendor.id.clone(),
        ] {
            filters.push((
                ObjectFilter {
                    owner_org: Some(owner.clone()),
                    ..ObjectFilter::default()
                },
                Box::new(move |e| e.owner == owner),
            ));
        }
        for r in [false, true] {
            filters.push((
                ObjectFilter {
                    revoked: Some(r),
                    ..ObjectFilter::default()
                },
                Box::new(move |e| e.revoked == r),
            ));
        }
        // Search is exact on the trimmed, lower-cased value, and sees latest versions only.
        for (query, stored) in [
            ("SHARED.example", "shared.example"),
            ("  shared.EXAMPLE\t", "shared.example"),
            ("value-8", "value-8"),
            ("VALUE-9", "value-9"),
            ("Version-Two", "version-two"),
            ("shared", "shared"),
            ("value-", "value-"),
        ] {
            filters.push((
                ObjectFilter {
                    value: Some(query.into()),
                    ..ObjectFilter::default()
                },
                Box::new(move |e| e.values.iter().any(|v| v == stored)),
            ));
        }
        filters.push((
            ObjectFilter {
                stix_type: Some("indicator".into()),
                tlp: Some(Tlp::Green),
                revoked: Some(false),
                value: Some("Shared.Example".into()),
                owner_org: Some(c.operator.id.clone()),
            },
            Box::new(|e| {
                e.stix_type == "indicator"
                    && e.tlp == Tlp::Green
                    && !e.revoked
                    && e.values.iter().any(|v| v == "shared.example")
            }),
        ));

        let mut nonempty = 0;
        for (filter, keep) in &filters {
            let want: Vec<Expected> = expected.iter().filter(|e| keep(e)).cloned().collect();
            let count = store.count_objects(&viewer, filter).await.unwrap();
            assert_eq!(count, want.len() as i64, "count under {filter:?}");
            for sort in SORTS {
                let got = all_pages(&store, &viewer, filter, sort, 6).await;
                assert_eq!(
                    ids(&got),
                    sorted(sort, want.clone()),
                    "list under {filter:?}"
                );
            }
            nonempty += usize::from(!want.is_empty());
        }
        assert!(
            nonempty >= filters.len() - 4,
            "the filters select something"
        );

        let stored_values: Vec<(String,)> =
            sqlx::query_as("SELECT value FROM object_values WHERE value <> LOWER(value)")
                .fetch_all(&store.read)
                .await
                .unwrap();
        assert!(stored_values.is_empty(), "values are stored lower-cased");

        let mut by_tlp: BTreeMap<Tlp, i64> = BTreeMap::new();
        for e in &expected {
            *by_tlp.entry(e.tlp).or_default() += 1;
        }
        let mut want: Vec<(Tlp, i64)> = by_tlp.into_iter().collect();
        want.sort_by_key(|(t, _)| std::cmp::Reverse(t.breadth()));
        assert_eq!(store.count_by_tlp(&viewer).await.unwrap(), want);

        // Another reader's counts follow that reader's audience.
        let vendor = viewer_of(&store, &c.vendor_responder.id).await;
        let clear = expected.iter().filter(|e| e.tlp == Tlp::Clear).count() as i64;
        assert_eq!(
            store
                .count_objects(&vendor, &ObjectFilter::default())
                .await
                .unwrap(),
            clear
        );
        assert_eq!(
            store.count_by_tlp(&vendor).await.unwrap(),
            [(Tlp::Clear, clear)]
        );
        assert_eq!(
            store.count_by_tlp(&Viewer::anonymous()).await.unwrap(),
            [(Tlp::Clear, clear)]
        );
    })
    .await;
}

/// Concurrent `insert_objects` calls are group-committed: each request is still all or nothing,
/// a failing request does not take its neighbours down, and every acknowledged object is there.
#[tokio::test]
async fn concurrent_inserts_are_group_committed_and_stay_atomic() {
    each_backend(
        "concurrent_inserts_are_group_committed_and_stay_atomic",
        |store| async move {
            let c = community(&store).await;
            let a = access(Tlp::Green, &c.operator, &c.analyst);
            // A stored object that every odd request collides with in its last item.
            store
                .insert_objects(
                    &[new_object(
                        &stix_id("indicator", 999_999),
                        &stix_time(0),
                        a.clone(),
                    )],
                    audit(),
                )
                .await
                .expect("seed");
            let before = table_counts(&store).await;
            let mut tasks = Vec::new();
            for r in 0..64u64 {
                let store = store.clone();
                let a = a.clone();
                tasks.push(tokio::spawn(async move {
                    let mut batch: Vec<NewObject> = (0..3)
                        .map(|i| {
                            new_object(&stix_id("indicator", r * 10 + i), &stix_time(1), a.clone())
                        })
                        .collect();
                    if r % 2 == 1 {
                        batch.push(new_object(
                            &stix_id("indicator", 999_999),
                            &stix_time(1),
                            a.clone(),
                        ));
                    }
                    (r, store.insert_objects(&batch, audit()).await)
                }));
            }
            let mut ok = 0;
            for t in tasks {
                let (r, res) = t.await.expect("task");
                if r % 2 == 1 {
                    assert!(
                        matches!(res, Err(StoreError::Conflict(_))),
                        "request {r}: {res:?}"
                    );
                } else {
                    assert_eq!(res.expect("even requests succeed").len(), 3);
                    ok += 1;
                }
            }
            let viewer = viewer_of(&store, &c.analyst.id).await;
            for r in 0..64u64 {
                for i in 0..3 {
                    let found = store
                        .object(&viewer, &stix_id("indicator", r * 10 + i))
                        .await
                        .is_ok();
                    assert_eq!(found, r % 2 == 0, "request {r} item {i}");
                }
            }
            let after = table_counts(&store).await;
            let objects =
                |v: &[(&str, i64)]| v.iter().find(|(t, _)| *t == "objects").map(|(_, n)| *n);
            assert_eq!(objects(&after).unwrap() - objects(&before).unwrap(), ok * 3);
            let audits =
                |v: &[(&str, i64)]| v.iter().find(|(t, _)| *t == "audit_log").map(|(_, n)| *n);
            assert_eq!(
                audits(&after).unwrap() - audits(&before).unwrap(),
                ok,
                "one record per stored request"
            );
            assert_eq!(
                store.audit_verify().await.expect("verify").first_broken,
                None
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_withhold_the_ids_their_reader_may_not_read() {
    each_backend(
        "containers_withhold_the_ids_their_reader_may_not_read",
        |store| async move {
            let c = community(&store).await;
            let green = stix_id("indicator", 1);
            let amber = stix_id("ipv4-addr", 2);
            let elsewhere = stix_id("malware", 3);
            let partner_identity = format!("identity--{}", c.partner.id);
            let report = stix_id("report", 4);
            let only_amber = stix_id("note", 5);
            let mut news = vec![
                new_object(
                    &green,
                    &stix_time(1),
                    access(Tlp::Green, &c.operator, &c.analyst),
                ),
                new_object(
                    &amber,
                    &stix_time(1),
                    access(Tlp::Amber, &c.operator, &c.analyst),
                ),
            ];
            // A GREEN report naming a GREEN and an AMBER object, an id that is not stored and
            // a partner's identity (AMBER to everyone but the partner and the operator).
            let mut r = new_object(
                &report,
                &stix_time(2),
                access(Tlp::Green, &c.operator, &c.analyst),
            );
            r.body = serde_json::json!({
                "type": "report", "id": report, "modified": stix_time(2), "name": "Weekly",
                "object_refs": [green, amber, elsewhere, partner_identity],
            })
            .to_string()
            .into();
            news.push(r);
            let mut n = new_object(
                &only_amber,
                &stix_time(2),
                access(Tlp::Green, &c.operator, &c.analyst),
            );
            n.body = serde_json::json!({
                "type": "note", "id": only_amber, "modified": stix_time(2), "content": "x",
                "object_refs": [amber],
            })
            .to_string()
            .into();
            news.push(n);
            // Other reference lists: an observable naming only the AMBER one, and malware
            // naming it beside an id that is not stored.
            let domain = stix_id("domain-name", 6);
            let mut d = new_object(
                &domain,
                &stix_time(2),
                access(Tlp::Green, &c.operator, &c.analyst),
            );
            d.body = serde_json::json!({
                "type": "domain-name", "id": domain, "value": "example.com",
                "resolves_to_refs": [amber], "object_marking_refs": ["marking-definition--x"],
            })
            .to_string()
            .into();
            news.push(d);
            let malware = stix_id("malware", 7);
            let mut m = new_object(
                &malware,
                &stix_time(2),
                access(Tlp::Green, &c.operator, &c.analyst),
            );
            m.body = serde_json::json!({
                "type": "malware", "id": malware, "modified": stix_time(2), "name": "m",
                "is_family": false, "sample_refs": [amber, elsewhere],
            })
            .to_string()
            .into();
            news.push(m);
            store.insert_objects(&news, audit()).await.unwrap();

            let refs = |o: &StoredObject| -> Vec<String> {
                let b: serde_json::Value = serde_json::from_str(&o.body).unwrap();
                b["object_refs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect()
            };
            let analyst = viewer_of(&store, &c.analyst.id).await;
            let member = viewer_of(&store, &c.member_analyst.id).await;
            let partner = viewer_of(&store, &c.partner_service.id).await;
            let all = vec![
                green.clone(),
                amber.clone(),
                elsewhere.clone(),
                partner_identity.clone(),
            ];
            // The operator reads everything named; the member neither the AMBER observable nor
            // the partner's identity; the partner (GREEN by federation) its own identity only.
            for (viewer, want) in [
                (&analyst, all.clone()),
                (&member, vec![green.clone(), elsewhere.clone()]),
                (
                    &partner,
                    vec![green.clone(), elsewhere.clone(), partner_identity.clone()],
                ),
            ] {
                let one = store.object(viewer, &report).await.unwrap();
                assert_eq!(refs(&one), want, "{viewer:?}");
                // Every read path goes through the same step: by id, listing, versions.
                let by_id = store
                    .objects_by_id(viewer, std::slice::from_ref(&report))
                    .await
                    .unwrap();
                assert_eq!(by_id, vec![one.clone()]);
                let versions = store.object_versions(viewer, &report).await.unwrap();
                assert_eq!(refs(&versions[0]), want);
                let listed = pages_from(
                    &store,
                    viewer,
                    &ObjectFilter::default(),
                    Sort::OldestFirst,
                    10,
                    None,
                )
                .await;
                let listed = listed.iter().find(|o| o.stix_id == report).unwrap();
                assert_eq!(refs(listed), want);
            }
            // A container whose every id is withheld names itself: STIX requires one.
            let note = store.object(&member, &only_amber).await.unwrap();
            assert_eq!(refs(&note), vec![only_amber.clone()]);
            let note = store.object(&analyst, &only_amber).await.unwrap();
            assert_eq!(refs(&note), vec![amber.clone()]);
            // What is stored is unchanged.
            let stored = store.object(&analyst, &report).await.unwrap();
            assert_eq!(refs(&stored), all);
            // Any other reference list: emptied lists are left out; markings are untouched.
            async fn body(store: &Store, viewer: &Viewer, id: &str) -> serde_json::Value {
                let o = store.object(viewer, id).await.unwrap();
                serde_json::from_str(&o.body).unwrap()
            }
            let d = body(&store, &member, &domain).await;
            assert!(d.get("resolves_to_refs").is_none(), "{d}");
            assert_eq!(
                d["object_marking_refs"],
                serde_json::json!(["marking-definition--x"])
            );
            assert_eq!(
                body(&store, &analyst, &domain).await["resolves_to_refs"],
                serde_json::json!([amber])
            );
            assert_eq!(
                body(&store, &member, &malware).await["sample_refs"],
                serde_json::json!([elsewhere])
            );
            assert_eq!(
                body(&store, &analyst, &malware).await["sample_refs"],
                serde_json::json!([amber, elsewhere])
            );
        },
    )
    .await;
}

/// Single references and references nested in extensions and parts are withheld like lists; an
/// object that STIX would no longer accept without the withheld reference is left out whole.
#[tokio::test]
async fn single_and_nested_references_are_withheld() {
    each_backend(
        "single_and_nested_references_are_withheld",
        |store| async move {
            let c = community(&store).await;
            let t = stix_time(1);
            let green = access(Tlp::Green, &c.operator, &c.analyst);
            let amber_ip = stix_id("ipv4-addr", 1);
            let green_ip = stix_id("ipv4-addr", 2);
            let amber_file = stix_id("file", 3);
            let amber_mail = stix_id("email-addr", 4);
            let unstored = stix_id("email-addr", 5);
            let body = |o: serde_json::Value| -> serde_json::Value {
                let mut o = o;
                o["spec_version"] = "2.1".into();
                o
            };
            let sdo = |id: &str, mut o: serde_json::Value| {
                o["id"] = id.into();
                o["created"] = t.clone().into();
                o["modified"] = t.clone().into();
                body(o)
            };
            let flow_both = stix_id("network-traffic", 10);
            let flow_amber_only = stix_id("network-traffic", 11);
            let mail = stix_id("email-message", 12);
            let attached = stix_id("email-message", 15);
            let zip = stix_id("file", 13);
            let translation = stix_id("language-content", 14);
            let objects = [
                (amber_ip.clone(), Tlp::Amber, body(serde_json::json!({"type": "ipv4-addr", "id": amber_ip, "value": "198.51.100.7"}))),
                (green_ip.clone(), Tlp::Green, body(serde_json::json!({"type": "ipv4-addr", "id": green_ip, "value": "192.0.2.1"}))),
                (amber_file.clone(), Tlp::Amber, body(serde_json::json!({"type": "file", "id": amber_file, "name": "drop.exe"}))),
                (amber_mail.clone(), Tlp::Amber, body(serde_json::json!({"type": "email-addr", "id": amber_mail, "value": "a@example.com"}))),
                (flow_both.clone(), Tlp::Green, body(serde_json::json!({
                    "type": "network-traffic", "id": flow_both, "src_ref": amber_ip,
                    "dst_ref": green_ip, "protocols": ["tcp"]}))),
                (flow_amber_only.clone(), Tlp::Green, body(serde_json::json!({
                    "type": "network-traffic", "id": flow_amber_only, "src_ref": amber_ip,
                    "protocols": ["tcp"]}))),
                (mail.clone(), Tlp::Green, body(serde_json::json!({
                    "type": "email-message", "id": mail, "is_multipart": false,
                    "from_ref": amber_mail, "to_refs": [amber_mail, unstored], "body": "hello"}))),
                (attached.clone(), Tlp::Green, body(serde_json::json!({
                    "type": "email-message", "id": attached, "is_multipart": true,
                    "body_multipart": [{"body_raw_ref": amber_file, "content_type": "application/zip"},
                                       {"body": "hello", "content_type": "text/plain"}]}))),
                (zip.clone(), Tlp::Green, body(serde_json::json!({
                    "type": "file", "id": zip, "name": "a.zip",
                    "extensions": {"archive-ext": {"contains_refs": [amber_file]}}}))),
                (translation.clone(), Tlp::Green, sdo(&translation, serde_json::json!({
                    "type": "language-content", "object_ref": amber_file,
                    "contents": {"zh": {"name": "投放檔"}}}))),
            ];
            let news: Vec<NewObject> = objects
                .iter()
                .map(|(id, tlp, b)| {
                    let mut n = new_object(id, &t, Access { tlp: *tlp, ..green.clone() });
                    n.body = b.to_string().into();
                    n
                })
                .collect();
            for (id, _, b) in &objects {
                let errors = isac_stix::validate(b.as_object().unwrap());
                assert!(isac_stix::is_valid(&errors), "{id}: {errors:?}");
            }
            store.insert_objects(&news, audit()).await.unwrap();
            let analyst = viewer_of(&store, &c.analyst.id).await;
            let member = viewer_of(&store, &c.member_analyst.id).await;
            async fn body_of(store: &Store, viewer: &Viewer, id: &str) -> Option<serde_json::Value> {
                let o = store.object(viewer, id).await.ok()?;
                Some(serde_json::from_str(&o.body).unwrap())
            }
            // The operator reads every object as stored.
            for (id, _, b) in &objects {
                assert_eq!(body_of(&store, &analyst, id).await.as_ref(), Some(b), "{id}");
            }
            // A member: the AMBER ends, senders and parts are withheld.
            let flow = body_of(&store, &member, &flow_both).await.unwrap();
            assert!(flow.get("src_ref").is_none(), "{flow}");
            assert_eq!(flow["dst_ref"], serde_json::json!(green_ip));
            let m = body_of(&store, &member, &mail).await.unwrap();
            assert!(m.get("from_ref").is_none(), "{m}");
            assert_eq!(m["to_refs"], serde_json::json!([unstored]));
            // An archive extension holding nothing is not STIX: the file is served without it.
            let z = body_of(&store, &member, &zip).await.unwrap();
            assert!(z.get("extensions").is_none(), "{z}");
            assert_eq!(z["name"], "a.zip");
            // A MIME part whose raw body is withheld is left out; the other parts stay.
            let a = body_of(&store, &member, &attached).await.unwrap();
            assert_eq!(
                a["body_multipart"],
                serde_json::json!([{"body": "hello", "content_type": "text/plain"}])
            );
            // A flow with no end left and a translation of nothing are not STIX: each is left
            // out whole, on every read path.
            for id in [&flow_amber_only, &translation] {
                assert!(body_of(&store, &member, id).await.is_none(), "{id}");
                let by_id = store
                    .objects_by_id(&member, std::slice::from_ref(id))
                    .await
                    .unwrap();
                assert!(by_id.is_empty(), "{id}");
                assert!(store.object_versions(&member, id).await.unwrap_or_default().is_empty());
            }
            let listed = pages_from(
                &store,
                &member,
                &ObjectFilter::default(),
                Sort::OldestFirst,
                10,
                None,
            )
            .await;
            let mut ids: Vec<&str> = listed.iter().map(|o| o.stix_id.as_str()).collect();
            ids.sort_unstable();
            let mut want = vec![
                green_ip.as_str(),
                flow_both.as_str(),
                mail.as_str(),
                attached.as_str(),
                zip.as_str(),
            ];
            want.sort_unstable();
            assert_eq!(ids, want);
            for o in &listed {
                let b: serde_json::Value = serde_json::from_str(&o.body).unwrap();
                let errors = isac_stix::validate(b.as_object().unwrap());
                assert!(isac_stix::is_valid(&errors), "{}: {errors:?}", o.stix_id);
            }
        },
    )
    .await;
}

/// Bodies are stored compressed (`body.rs`), in `body_z` with `body` empty; versions stored before
/// migration 0008 have their JSON in `body` and `body_z` NULL. Both read back as the JSON, through
/// single reads, listings and the version-building read.
#[tokio::test]
async fn bodies_read_the_same_compressed_or_as_stored_before() {
    each_backend("bodies_read_the_same", |store| async move {
        let c = community(&store).await;
        let viewer = viewer_of(&store, &c.analyst.id).await;
        let a = access(Tlp::Green, &c.operator, &c.analyst);
        let objects: Vec<NewObject> = (0..2)
            .map(|i| new_object(&stix_id("indicator", i), &stix_time(0), a.clone()))
            .collect();
        store.insert_objects(&objects, audit()).await.unwrap();
        let (body, z): (String, Option<Vec<u8>>) =
            sqlx::query_as("SELECT body, body_z FROM objects WHERE stix_id = $1")
                .bind(objects[0].stix_id.as_str())
                .fetch_one(&store.read)
                .await
                .unwrap();
        assert!(body.is_empty() && z.is_some_and(|z| z.len() < objects[0].body.len()));
        sqlx::query("UPDATE objects SET body = $1, body_z = NULL WHERE stix_id = $2")
            .bind(objects[1].body.as_str())
            .bind(objects[1].stix_id.as_str())
            .execute(&store.write)
            .await
            .unwrap();
        for o in &objects {
            assert_eq!(
                store.object(&viewer, &o.stix_id).await.unwrap().body,
                o.body
            );
            let (v, _) = store.object_for_version(&viewer, &o.stix_id).await.unwrap();
            assert_eq!(v.body, o.body);
        }
        let page = store
            .list_objects(
                &viewer,
                &ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.objects.len(), 2);
        for got in &page.objects {
            let o = objects.iter().find(|o| o.stix_id == got.stix_id).unwrap();
            assert_eq!(got.body, o.body);
        }
    })
    .await;
}

/// Migration 0007 gives containers stored before it the ids they name as searchable values:
/// lower-cased, strings only, after their own values and up to 200 in all, for container types
/// only; run again, it adds nothing.
#[tokio::test]
async fn mention_values_are_backfilled() {
    each_backend("mention_values_are_backfilled", |store| async move {
        let c = community(&store).await;
        let a = access(Tlp::Green, &c.operator, &c.analyst);
        let named = "indicator--abcdef00-0000-4000-8000-00000000000a".to_string();
        let with_refs = |id: &str, refs: serde_json::Value, own: &[&str]| {
            let mut o = new_object(id, &stix_time(0), a.clone());
            o.body = serde_json::json!({"type": o.stix_type, "id": id, "object_refs": refs})
                .to_string()
                .into();
            o.values = own.iter().map(|v| v.to_string()).collect();
            o
        };
        let report = stix_id("report", 2);
        let many = stix_id("note", 3);
        let other = stix_id("indicator", 4);
        let refs: Vec<String> = (0..250).map(|n| stix_id("malware", 100 + n)).collect();
        let objects = [
            with_refs(
                &report,
                serde_json::json!([named.to_uppercase(), 5, named]),
                &["own value"],
            ),
            with_refs(&many, serde_json::json!(refs), &["a", "b"]),
            with_refs(&other, serde_json::json!([named]), &[]),
            new_object(&named, &stix_time(0), a.clone()),
        ];
        store
            .insert_objects(&objects, audit())
            .await
            .expect("insert");
        // Rows stored before migration 0008 held their JSON in `body`, uncompressed.
        for o in &objects {
            sqlx::query("UPDATE objects SET body = $1, body_z = NULL WHERE stix_id = $2")
                .bind(o.body.as_str())
                .bind(o.stix_id.as_str())
                .execute(&store.write)
                .await
                .expect("store as before 0008");
        }
        let sql = match store.backend() {
            crate::Backend::Sqlite => {
                include_str!("../../migrations/sqlite/0007_mention_values.sql")
            }
            crate::Backend::Postgres => {
                include_str!("../../migrations/postgres/0007_mention_values.sql")
            }
        };
        let values = |store: Store, id: String| async move {
            let pk: i64 = sqlx::query_scalar("SELECT pk FROM objects WHERE stix_id = $1")
                .bind(id)
                .fetch_one(&store.read)
                .await
                .expect("pk");
            let mut v: Vec<String> =
                sqlx::query_scalar("SELECT value FROM object_values WHERE object_pk = $1")
                    .bind(pk)
                    .fetch_all(&store.read)
                    .await
                    .expect("values");
            v.sort();
            v
        };
        for round in 0..2 {
            sqlx::raw_sql(sql)
                .execute(&store.write)
                .await
                .expect("migration");
            assert_eq!(
                values(store.clone(), report.clone()).await,
                [named.clone(), "own value".to_string()],
                "round {round}"
            );
            let on_many = values(store.clone(), many.clone()).await;
            assert_eq!(on_many.len(), 200, "round {round}");
            assert!(on_many.contains(&"a".to_string()) && on_many.contains(&refs[0]));
            assert!(!on_many.contains(&refs[249]), "in id order");
            assert!(values(store.clone(), other.clone()).await.is_empty());
        }
        // And a search by the named id finds the report, under the reader's scope.
        let viewer = viewer_of(&store, &c.analyst.id).await;
        let found = store
            .list_objects(
                &viewer,
                &ListQuery {
                    filter: ObjectFilter {
                        value: Some(named.clone()),
                        ..ObjectFilter::default()
                    },
                    limit: 10,
                    ..ListQuery::default()
                },
            )
            .await
            .expect("search");
        let ids: Vec<&str> = found.objects.iter().map(|o| o.stix_id.as_str()).collect();
        assert_eq!(ids, [report.as_str()]);
    })
    .await;
}
