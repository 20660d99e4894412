//! The TAXII 2.1 server against the normative statements of the specification (OASIS Standard,
//! 10 June 2021) that a server must meet, section by section, each with the TLP policy holding on
//! the same path: what a reader may not read stays indistinguishable from what does not exist.

use super::*;

/// A request with the given `Accept` header (none when `None`).
fn with_accept(uri: &str, key: Option<&str>, accept: Option<&str>) -> Request<Body> {
    let mut r = req(Method::GET, uri, key, None);
    match accept {
        Some(a) => {
            r.headers_mut()
                .insert(header::ACCEPT, a.parse().expect("header"));
        }
        None => {
            r.headers_mut().remove(header::ACCEPT);
        }
    }
    r
}

/// An error resource (§3.6.1) whose `http_status` is the response's status.
fn assert_error(r: &Resp, status: StatusCode, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(r.headers[header::CONTENT_TYPE], MEDIA_TAXII, "{what}");
    let j = r.json();
    assert!(j["title"].is_string(), "{what}: {j}");
    assert!(j["error_code"].is_string(), "{what}: {j}");
    assert_eq!(j["http_status"], status.as_u16().to_string(), "{what}");
}

/// Discovery (§4.1), the API root (§4.2), collections (§5.1, §5.2), content negotiation
/// (§1.6.8, §3.1) and the error resource (§3.6.1).
#[tokio::test]
async fn taxii_server_information_and_negotiation() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let group = fx
            .store
            .create_group("Clearing", "", cli())
            .await
            .expect("group");
        fx.store
            .set_group_member(&group.id, &fx.m1.id, true, cli())
            .await
            .expect("member");

        // §4.1.1: API root URLs are HTTPS absolute or relative; `default` is one of them. The
        // Host header does not make them.
        let mut r = with_accept("/taxii2/", None, Some(MEDIA_TAXII));
        r.headers_mut()
            .insert(header::HOST, "attacker.example".parse().expect("host"));
        let r = send(&fx.app, r).await;
        assert_eq!(r.status, StatusCode::OK);
        let d = r.json();
        assert_eq!(d["api_roots"], json!([ROOT]), "{backend}");
        assert_eq!(d["default"], ROOT);
        assert!(d["title"].is_string());
        // §4.2.1.
        let root = fx.taxii_ok(ROOT, None).await;
        assert!(root["title"].is_string());
        assert!(
            root["versions"]
                .as_array()
                .expect("versions")
                .contains(&json!("application/taxii+json;version=2.1"))
        );
        assert!(root["max_content_length"].as_u64().expect("length") > 0);

        // §2 identifier: a collection id is a version 4 UUID, sharing groups' included.
        for who in ["m1_analyst", "m1_reader"] {
            let list = fx.taxii_ok(&format!("{ROOT}collections/"), Some(who)).await;
            let cs = list["collections"].as_array().expect("collections");
            assert!(cs.len() >= 4, "{who}: {list}");
            for c in cs {
                let id = uuid::Uuid::parse_str(c["id"].as_str().expect("id")).expect("uuid");
                assert_eq!(id.get_version_num(), 4, "{who}: {c}");
                assert_eq!(
                    c["media_types"],
                    json!(["application/stix+json;version=2.1"])
                );
                assert!(c["title"].is_string() && c["can_read"].is_boolean());
                let one = fx
                    .taxii_ok(&coll(c["id"].as_str().expect("id"), ""), Some(who))
                    .await;
                assert_eq!(&one, c, "§5.2 and §5.1 agree");
            }
            // The write collection is readable (the caller's org's objects), so that DELETE,
            // which needs can_read and can_write (§5.7), has a collection to work in.
            let submit = cs
                .iter()
                .find(|c| c["id"] == COLLECTION_SUBMIT)
                .expect("submit");
            assert_eq!(submit["can_read"], true, "{who}");
            assert_eq!(submit["can_write"], who == "m1_analyst", "{who}");
        }
        // The id a group's collection had before still reaches it.
        let former = uuid::Uuid::new_v5(&crate::taxii::GROUP_NAMESPACE, group.id.as_bytes());
        let c = fx
            .taxii_ok(&coll(&former.to_string(), ""), Some("m1_analyst"))
            .await;
        assert_eq!(c["id"], group_collection_id(&group.id));
        let r = fx
            .taxii(
                Method::GET,
                &coll(&former.to_string(), ""),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "another org's group, by its former id",
        );

        // §1.6.8, §3.1: TAXII media ranges with and without the version, wildcards and
        // qualities; the most specific range decides; other versions are 406.
        let objects = coll(COLLECTION_PUBLIC, "objects/");
        for (accept, want) in [
            (Some(MEDIA_TAXII), StatusCode::OK),
            (Some("application/taxii+json"), StatusCode::OK),
            (Some("application/taxii+json; version=2.1"), StatusCode::OK),
            (
                Some("application/taxii+json;version=2.1,application/stix+json;version=2.1"),
                StatusCode::OK,
            ),
            (Some("*/*"), StatusCode::OK),
            (Some("application/*;q=0.2"), StatusCode::OK),
            (None, StatusCode::OK),
            (
                Some("application/taxii+json;version=2.0"),
                StatusCode::NOT_ACCEPTABLE,
            ),
            (Some("application/json"), StatusCode::NOT_ACCEPTABLE),
            (
                Some("application/taxii+json;q=0, */*"),
                StatusCode::NOT_ACCEPTABLE,
            ),
            (
                Some("application/taxii+json;version=2.1;q=0, application/*"),
                StatusCode::NOT_ACCEPTABLE,
            ),
        ] {
            let r = send(&fx.app, with_accept(&objects, None, accept)).await;
            if want == StatusCode::OK {
                assert_eq!(r.status, want, "Accept: {accept:?}: {}", r.text());
                assert_eq!(r.headers[header::CONTENT_TYPE], MEDIA_TAXII);
            } else {
                assert_error(&r, want, &format!("Accept: {accept:?}"));
            }
        }

        // §3.6.1 on every kind of refusal, the shared layers' included.
        let r = fx
            .taxii(Method::GET, &coll(COLLECTION_ALL, "objects/"), None, None)
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "anonymous");
        let r = fx
            .taxii(
                Method::PUT,
                &coll(COLLECTION_ALL, "objects/"),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "PUT");
        let r = fx
            .taxii(
                Method::GET,
                &format!("{ROOT}nowhere/"),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, "unknown route");
    }
}

/// §3.4: malformed parameters are 400; each parameter at most once; `match[version]` without
/// repeats and `all` alone; any positive `limit` is served, capped; unknown match fields are
/// ignored.
#[tokio::test]
async fn taxii_filters_follow_section_3_4() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let id = uid("indicator");
        let st = fx
            .post_envelope(
                "m1_analyst",
                vec![indicator(&id, "2026-03-01T00:00:00.000Z", "f", None)],
            )
            .await;
        assert_eq!(st["success_count"], 1, "{st}");
        let endpoints = [
            coll(COLLECTION_ALL, "objects/"),
            coll(COLLECTION_ALL, "manifest/"),
            coll(COLLECTION_ALL, &format!("objects/{id}/")),
            coll(COLLECTION_ALL, &format!("objects/{id}/versions/")),
        ];
        for q in [
            "limit=0",
            "limit=-3",
            "limit=x",
            "limit=2&limit=3",
            "added_after=yesterday",
            "added_after=2026-01-01T00:00:00Z&added_after=2026-01-02T00:00:00Z",
            "next=nonsense",
            "next=a&next=b",
            "match[spec_version]=",
            "match[spec_version]=2.1&match[spec_version]=2.0",
        ] {
            for e in &endpoints {
                let r = fx
                    .taxii(Method::GET, &format!("{e}?{q}"), Some("m1_analyst"), None)
                    .await;
                assert_error(&r, StatusCode::BAD_REQUEST, &format!("{e}?{q} ({backend})"));
            }
        }
        for q in [
            "match[type]=",
            "match[type]=indicator,,note",
            "match[type]=indicator&match[type]=note",
            "match[id]=",
            "match[version]=newest",
            "match[version]=all,first",
            "match[version]=last,last",
        ] {
            let r = fx
                .taxii(
                    Method::GET,
                    &format!("{}?{q}", coll(COLLECTION_ALL, "objects/")),
                    Some("m1_analyst"),
                    None,
                )
                .await;
            assert_error(&r, StatusCode::BAD_REQUEST, q);
        }
        // Any positive integer is a valid limit; the server serves at most its own.
        for q in [
            "limit=1000000",
            "limit=99999999999999999999",
            "match[x_example]=1&match[x_example]=2&unknown=3",
        ] {
            let r = fx
                .taxii(
                    Method::GET,
                    &format!("{}?{q}", coll(COLLECTION_ALL, "objects/")),
                    Some("m1_analyst"),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
        }
        // Filters on an object the reader may not read answer as for one that does not exist,
        // malformed or not: 400 for a malformed filter, else 404.
        let red = uid("indicator");
        fx.post_envelope(
            "m1_analyst",
            vec![indicator(
                &red,
                "2026-03-01T00:00:00.000Z",
                "r",
                Some(Tlp::Red),
            )],
        )
        .await;
        for target in [red.clone(), uid("indicator")] {
            let r = fx
                .taxii(
                    Method::GET,
                    &format!(
                        "{}?limit=0",
                        coll(COLLECTION_ALL, &format!("objects/{target}/"))
                    ),
                    Some("m2_analyst"),
                    None,
                )
                .await;
            assert_error(
                &r,
                StatusCode::BAD_REQUEST,
                "malformed, unreadable or absent",
            );
            let r = fx
                .taxii(
                    Method::GET,
                    &format!(
                        "{}?match[version]=all",
                        coll(COLLECTION_ALL, &format!("objects/{target}/"))
                    ),
                    Some("m2_analyst"),
                    None,
                )
                .await;
            assert_error(&r, StatusCode::NOT_FOUND, "unreadable or absent");
        }
    }
}

/// §5.6 and §5.8: an object the collection holds for the reader is answered with an envelope
/// (or versions resource) even when the filters select none of its versions; one it does not
/// hold (absent, or unreadable under TLP) is 404 whatever the filters. §5.8.1 and §2: no empty
/// lists.
#[tokio::test]
async fn taxii_object_and_versions_endpoints() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let green = uid("indicator");
        let amber = uid("indicator");
        fx.post_envelope(
            "m1_analyst",
            vec![
                indicator(&green, "2026-03-01T00:00:00.000Z", "green", None),
                indicator(
                    &amber,
                    "2026-03-01T00:00:00.000Z",
                    "amber",
                    Some(Tlp::Amber),
                ),
            ],
        )
        .await;
        let absent = uid("indicator");
        let filters = [
            "match[version]=2020-01-01T00:00:00.000Z",
            "added_after=2999-01-01T00:00:00.000000Z",
            "match[spec_version]=2.0",
        ];
        for q in filters {
            let uri = format!("{}?{q}", coll(COLLECTION_ALL, &format!("objects/{green}/")));
            let j = fx.taxii_ok(&uri, Some("m2_analyst")).await;
            assert!(j.get("objects").is_none(), "{q} ({backend}): {j}");
            assert_eq!(j["more"], false);
            let uri = format!(
                "{}?{q}",
                coll(COLLECTION_ALL, &format!("objects/{green}/versions/"))
            );
            if q.starts_with("match[version]") {
                // Not a filter of the versions endpoint: ignored.
                let j = fx.taxii_ok(&uri, Some("m2_analyst")).await;
                assert_eq!(j["versions"], json!(["2026-03-01T00:00:00.000Z"]));
            } else {
                let j = fx.taxii_ok(&uri, Some("m2_analyst")).await;
                assert_eq!(j, json!({"more": false}), "{q}: no empty versions list");
            }
            // The object m2 may not read, and one that does not exist: 404 alike.
            for target in [&amber, &absent] {
                for rest in [
                    format!("objects/{target}/"),
                    format!("objects/{target}/versions/"),
                ] {
                    let r = fx
                        .taxii(
                            Method::GET,
                            &format!("{}?{q}", coll(COLLECTION_ALL, &rest)),
                            Some("m2_analyst"),
                            None,
                        )
                        .await;
                    assert_error(&r, StatusCode::NOT_FOUND, &format!("{rest}?{q}"));
                }
            }
        }
        // Not in this collection for this reader: the public collection does not hold GREEN.
        let r = fx
            .taxii(
                Method::GET,
                &format!(
                    "{}?match[spec_version]=2.0",
                    coll(COLLECTION_PUBLIC, &format!("objects/{green}/"))
                ),
                None,
                None,
            )
            .await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "GREEN through the public collection",
        );
        // §3.2: the date headers on the object and versions endpoints when objects are served.
        for rest in [
            format!("objects/{green}/"),
            format!("objects/{green}/versions/"),
        ] {
            let r = fx
                .taxii(
                    Method::GET,
                    &coll(COLLECTION_ALL, &rest),
                    Some("m2_analyst"),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            for h in ["x-taxii-date-added-first", "x-taxii-date-added-last"] {
                let v = r.headers[h].to_str().expect("ascii");
                assert_eq!(v.len(), "2026-01-01T00:00:00.000000Z".len(), "{h}: {v}");
                assert!(v.ends_with('Z'));
            }
        }
    }
}

/// §5.5 and §4.3: the envelope within `max_content_length` is never 413; a malformed body is
/// 422; the status resource has its required properties and no empty lists, on POST and on GET.
#[tokio::test]
async fn taxii_add_objects_and_status() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let url = coll(COLLECTION_SUBMIT, "objects/");
        // More objects than one envelope may carry, in far less than max_content_length.
        let many: Vec<Value> = (0..=crate::taxii::ENVELOPE_MAX)
            .map(|_| json!({}))
            .collect();
        let env = json!({ "objects": many });
        assert!(env.to_string().len() < isac_model::limits::BODY_BYTES);
        let r = fx
            .taxii(Method::POST, &url, Some("m1_analyst"), Some(&env))
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "too many objects");
        let mut bad = req(
            Method::POST,
            &url,
            Some(&fx.keys["m1_analyst"]),
            Some(&json!({})),
        );
        *bad.body_mut() = Body::from("{\"objects\": [");
        let r = send(&fx.app, bad).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "malformed JSON");
        // Content-Type without the version parameter is TAXII's latest version: accepted.
        let id = uid("indicator");
        let mut plain = req(
            Method::POST,
            &url,
            Some(&fx.keys["m1_analyst"]),
            Some(&json!({"objects": [indicator(&id, "2026-03-01T00:00:00.000Z", "p", None)]})),
        );
        plain.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/taxii+json".parse().expect("h"),
        );
        let r = send(&fx.app, plain).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        let st = r.json();
        for key in [
            "id",
            "status",
            "total_count",
            "success_count",
            "failure_count",
            "pending_count",
        ] {
            assert!(st.get(key).is_some(), "{key} ({backend}): {st}");
        }
        assert_eq!(st["successes"][0]["id"], id.as_str());
        assert!(
            st.get("failures").is_none() && st.get("pendings").is_none(),
            "{st}"
        );
        let ts = st["request_timestamp"].as_str().expect("timestamp");
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000000Z".len(), "{ts}");
        let again = fx
            .taxii_ok(
                &format!("{ROOT}status/{}/", st["id"].as_str().expect("id")),
                Some("m1_analyst"),
            )
            .await;
        assert_eq!(again, st);
        // A failure only: no empty successes; an object without modified or created is given
        // the server's version for such objects.
        let unversioned = uid("indicator");
        let st = fx
            .post_envelope(
                "m1_analyst",
                vec![json!({"type": "indicator", "spec_version": "2.1", "id": unversioned})],
            )
            .await;
        assert_eq!(st["failure_count"], 1, "{st}");
        assert!(
            st.get("successes").is_none() && st.get("pendings").is_none(),
            "{st}"
        );
        assert_eq!(st["failures"][0]["id"], unversioned.as_str());
        assert_eq!(st["failures"][0]["version"], crate::intel::UNVERSIONED);
    }
}

/// §5.7: DELETE only where the caller may read and write; 403 where it may do one of them, 404
/// where neither. The write collection holds the caller's org's objects, so another org's
/// object, or one the caller may not read, is not found there; reading it follows TLP.
#[tokio::test]
async fn taxii_delete_follows_the_permission_table() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let group = fx
            .store
            .create_group("Settlement", "", cli())
            .await
            .expect("group");
        fx.store
            .set_group_member(&group.id, &fx.m1.id, true, cli())
            .await
            .expect("member");
        let ours = uid("indicator");
        let ours_red = uid("indicator");
        let theirs = uid("indicator");
        let theirs_amber = uid("indicator");
        fx.post_envelope(
            "m1_analyst",
            vec![
                indicator(&ours, "2026-03-01T00:00:00.000Z", "ours", None),
                indicator(&ours_red, "2026-03-01T00:00:00.000Z", "red", Some(Tlp::Red)),
            ],
        )
        .await;
        fx.post_envelope(
            "m2_analyst",
            vec![
                indicator(&theirs, "2026-03-01T00:00:00.000Z", "theirs", None),
                indicator(
                    &theirs_amber,
                    "2026-03-01T00:00:00.000Z",
                    "amber",
                    Some(Tlp::Amber),
                ),
            ],
        )
        .await;

        // Reading the write collection: the caller's org's objects, as the caller may read them
        // (RED: its author only).
        let listed = |who: &'static str| {
            let fx = &fx;
            async move {
                ids_of(
                    &fx.taxii_ok(
                        &format!(
                            "{}?match[type]=indicator",
                            coll(COLLECTION_SUBMIT, "objects/")
                        ),
                        Some(who),
                    )
                    .await,
                )
            }
        };
        let author = listed("m1_analyst").await;
        assert!(
            author.contains(&ours) && author.contains(&ours_red),
            "{backend}: {author:?}"
        );
        assert!(!author.contains(&theirs) && !author.contains(&theirs_amber));
        let reader = listed("m1_reader").await;
        assert!(
            reader.contains(&ours) && !reader.contains(&ours_red),
            "{reader:?}"
        );
        assert!(!reader.contains(&theirs) && !reader.contains(&theirs_amber));
        let m2 = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_SUBMIT, "manifest/"), Some("m2_analyst"))
                .await,
        );
        assert!(m2.contains(&theirs) && m2.contains(&theirs_amber) && !m2.contains(&ours));
        let r = fx
            .taxii(
                Method::GET,
                &coll(COLLECTION_SUBMIT, &format!("objects/{ours}/")),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "another org's object in my write collection",
        );

        let del = |collection: String, object: &str, who: &'static str| {
            let fx = &fx;
            let uri = coll(&collection, &format!("objects/{object}/"));
            async move { fx.taxii(Method::DELETE, &uri, Some(who), None).await }
        };
        // can_read true, can_write false: 403.
        for c in [
            COLLECTION_ALL.to_owned(),
            COLLECTION_PUBLIC.to_owned(),
            group_collection_id(&group.id),
        ] {
            let r = del(c.clone(), &ours, "m1_analyst").await;
            assert_error(&r, StatusCode::FORBIDDEN, &format!("DELETE in {c}"));
        }
        let r = del(COLLECTION_SUBMIT.into(), &ours, "m1_reader").await;
        assert_error(
            &r,
            StatusCode::FORBIDDEN,
            "a reader in the write collection",
        );
        // A collection the caller may not know of: 404.
        let r = del(group_collection_id(&group.id), &theirs, "m2_analyst").await;
        assert_error(&r, StatusCode::NOT_FOUND, "another org's group");
        let r = del(uuid::Uuid::new_v4().to_string(), &ours, "m1_analyst").await;
        assert_error(&r, StatusCode::NOT_FOUND, "no such collection");
        // An object of the caller's org that the caller may not read is not found, as one that
        // does not exist; it is still there for its author.
        let r = del(COLLECTION_SUBMIT.into(), &ours_red, "m1_admin").await;
        assert_error(&r, StatusCode::NOT_FOUND, "RED of another author");
        fx.taxii_ok(
            &coll(COLLECTION_SUBMIT, &format!("objects/{ours_red}/")),
            Some("m1_analyst"),
        )
        .await;
        // Another org's object, readable or not, is not in the caller's write collection.
        for target in [&theirs, &theirs_amber, &uid("indicator")] {
            let r = del(COLLECTION_SUBMIT.into(), target, "m1_analyst").await;
            assert_error(&r, StatusCode::NOT_FOUND, "not ours");
        }
        fx.taxii_ok(
            &coll(COLLECTION_ALL, &format!("objects/{theirs}/")),
            Some("m1_analyst"),
        )
        .await;
        // The owner deletes; the object is gone from every collection (§5.7).
        let r = del(COLLECTION_SUBMIT.into(), &ours, "m1_analyst").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.headers[header::CONTENT_TYPE], MEDIA_TAXII);
        for c in [COLLECTION_SUBMIT, COLLECTION_ALL] {
            let r = fx
                .taxii(
                    Method::GET,
                    &coll(c, &format!("objects/{ours}/")),
                    Some("m1_analyst"),
                    None,
                )
                .await;
            assert_error(&r, StatusCode::NOT_FOUND, "deleted");
        }
    }
}
