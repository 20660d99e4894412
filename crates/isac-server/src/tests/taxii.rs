//! The TAXII 2.1 server: every endpoint, its status codes and headers, submissions and their
//! status resources, paging while objects are being added, deletion, and every read path against
//! the reference model of the TLP policy.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use isac_model::{Locale, OrgKind, Sector, Tlp};
use isac_store::{NewOrg, NewUser};
use rand::Rng;
use serde_json::{Value, json};

use super::{Fx, Resp, cli, fixture, send, stores};
use crate::taxii::{
    COLLECTION_ALL, COLLECTION_PUBLIC, COLLECTION_SUBMIT, MEDIA_TAXII, group_collection_id,
};
use crate::{AppState, Config, auth};

const ROOT: &str = "/taxii2/isac/";

fn coll(id: &str, rest: &str) -> String {
    format!("{ROOT}collections/{id}/{rest}")
}

/// A TAXII request. `key` goes as the HTTP Basic password (as TAXII clients send it).
fn req(method: Method, uri: &str, key: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ACCEPT, MEDIA_TAXII);
    if let Some(k) = key {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("taxii:{k}"));
        b = b.header(header::AUTHORIZATION, format!("Basic {basic}"));
    }
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, MEDIA_TAXII)
            .body(Body::from(v.to_string()))
            .expect("request"),
        None => b.body(Body::empty()).expect("request"),
    }
}

impl Fx {
    async fn taxii(
        &self,
        method: Method,
        uri: &str,
        who: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let key = who.map(|w| self.keys[w].as_str());
        send(&self.app, req(method, uri, key, body)).await
    }

    async fn taxii_ok(&self, uri: &str, who: Option<&str>) -> Value {
        let r = self.taxii(Method::GET, uri, who, None).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "GET {uri} as {who:?}: {}",
            r.text()
        );
        assert_eq!(r.headers[header::CONTENT_TYPE], MEDIA_TAXII);
        r.json()
    }

    async fn post_envelope(&self, who: &str, objects: Vec<Value>) -> Value {
        let r = self
            .taxii(
                Method::POST,
                &coll(COLLECTION_SUBMIT, "objects/"),
                Some(who),
                Some(&json!({ "objects": objects })),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        r.json()
    }
}

fn uid(t: &str) -> String {
    format!("{t}--{}", uuid::Uuid::new_v4())
}

fn indicator(id: &str, modified: &str, name: &str, marking: Option<Tlp>) -> Value {
    let mut o = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2026-03-01T00:00:00.000Z",
        "modified": modified,
        "name": name,
        "pattern": format!("[domain-name:value = '{name}.example']"),
        "pattern_type": "stix",
        "valid_from": "2026-03-01T00:00:00Z",
    });
    if let Some(t) = marking {
        o["object_marking_refs"] = json!([t.marking_id_v2()]);
    }
    o
}

fn ids_of(v: &Value) -> BTreeSet<String> {
    v["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn taxii_endpoints_status_codes_and_submissions() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let group = fx
            .store
            .create_group("Payments", "", cli())
            .await
            .expect("group");
        fx.store
            .set_group_member(&group.id, &fx.m1.id, true, cli())
            .await
            .expect("member");
        let (app, _) = crate::app(AppState::new(
            fx.store.clone(),
            Config {
                login_attempts_per_minute: 1000,
                ..Config::default()
            },
        ));
        let fx = Fx { app, ..fx };

        // Discovery and the API root answer anyone.
        let d = fx.taxii_ok("/taxii2/", None).await;
        assert_eq!(d["api_roots"].as_array().expect("roots").len(), 1);
        assert!(d["default"].as_str().expect("default").ends_with(ROOT));
        let root = fx.taxii_ok(ROOT, None).await;
        assert_eq!(root["versions"], json!([MEDIA_TAXII]));
        assert_eq!(
            root["max_content_length"],
            json!(isac_model::limits::BODY_BYTES)
        );

        // Collections: anonymous callers see the public one only.
        let anon = fx.taxii_ok(&format!("{ROOT}collections/"), None).await;
        let ids: Vec<&str> = anon["collections"]
            .as_array()
            .expect("collections")
            .iter()
            .map(|c| c["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, vec![COLLECTION_PUBLIC]);
        let listed = |v: &Value| -> BTreeMap<String, (bool, bool)> {
            v["collections"]
                .as_array()
                .expect("collections")
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().expect("id").to_owned(),
                        (c["can_read"] == true, c["can_write"] == true),
                    )
                })
                .collect()
        };
        let gid = group_collection_id(&group.id);
        let m1 = listed(
            &fx.taxii_ok(&format!("{ROOT}collections/"), Some("m1_analyst"))
                .await,
        );
        assert_eq!(m1[COLLECTION_ALL], (true, false));
        assert_eq!(m1[COLLECTION_PUBLIC], (true, false));
        assert_eq!(m1[&gid], (true, false));
        assert_eq!(m1[COLLECTION_SUBMIT], (true, true));
        let reader = listed(
            &fx.taxii_ok(&format!("{ROOT}collections/"), Some("m1_reader"))
                .await,
        );
        assert_eq!(reader[COLLECTION_SUBMIT], (true, false));
        let m2 = listed(
            &fx.taxii_ok(&format!("{ROOT}collections/"), Some("m2_analyst"))
                .await,
        );
        assert!(
            !m2.contains_key(&gid),
            "a non-member sees the group's collection"
        );
        let c = fx.taxii_ok(&coll(&gid, ""), Some("m1_analyst")).await;
        assert_eq!(c["id"], gid.as_str());

        // Status codes.
        let r = send(
            &fx.app,
            Request::builder()
                .uri(ROOT)
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(r.json()["http_status"], "406");
        for accept in ["application/taxii+json", "*/*"] {
            let r = send(
                &fx.app,
                Request::builder()
                    .uri(ROOT)
                    .header(header::ACCEPT, accept)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "Accept: {accept}");
        }
        let r = fx
            .taxii(Method::GET, &coll(COLLECTION_ALL, "objects/"), None, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .expect("ascii")
                .contains("Basic realm=")
        );
        assert_eq!(r.headers[header::CONTENT_TYPE], MEDIA_TAXII);
        let j = r.json();
        assert!(j["title"].is_string() && j["description"].is_string());
        let r = fx
            .taxii(Method::GET, &coll(&gid, "objects/"), None, None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "a group collection needs a login"
        );
        let r = fx
            .taxii(
                Method::GET,
                &coll(&gid, "objects/"),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "a non-member's group collection"
        );
        let r = fx
            .taxii(
                Method::GET,
                &coll(&uuid::Uuid::new_v4().to_string(), ""),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = fx
            .taxii(
                Method::GET,
                &coll(COLLECTION_SUBMIT, "objects/"),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "the write collection lists the org's own objects"
        );
        let env = json!({"objects": [indicator(&uid("indicator"), "2026-03-01T00:00:00.000Z", "x", None)]});
        let r = fx
            .taxii(
                Method::POST,
                &coll(COLLECTION_ALL, "objects/"),
                Some("m1_analyst"),
                Some(&env),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "the read collection is not writable"
        );
        let r = fx
            .taxii(
                Method::POST,
                &coll(COLLECTION_PUBLIC, "objects/"),
                Some("m1_analyst"),
                Some(&env),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = fx
            .taxii(
                Method::POST,
                &coll(COLLECTION_SUBMIT, "objects/"),
                Some("m1_reader"),
                Some(&env),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "readers may not write");
        assert_eq!(r.json()["http_status"], "403");
        let mut wrong = req(
            Method::POST,
            &coll(COLLECTION_SUBMIT, "objects/"),
            Some(&fx.keys["m1_analyst"]),
            Some(&env),
        );
        wrong
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().expect("h"));
        assert_eq!(
            send(&fx.app, wrong).await.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let big = json!({"objects": [{"type": "note", "content": "x".repeat(isac_model::limits::BODY_BYTES)}]});
        let r = fx
            .taxii(
                Method::POST,
                &coll(COLLECTION_SUBMIT, "objects/"),
                Some("m1_analyst"),
                Some(&big),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.json()["http_status"], "413");
        let bare = indicator(&uid("indicator"), "2026-03-01T00:00:00.000Z", "bare", None);
        let r = fx
            .taxii(
                Method::POST,
                &coll(COLLECTION_SUBMIT, "objects/"),
                Some("m1_analyst"),
                Some(&bare),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a bare object is not an envelope"
        );
        // A bundle, as the OASIS stix2 library's TAXII sink posts it: the envelope of its objects.
        let in_bundle = indicator(
            &uid("indicator"),
            "2026-03-01T00:00:00.000Z",
            "bundled",
            None,
        );
        let bundle = json!({"type": "bundle", "id": uid("bundle"), "objects": [in_bundle]});
        let r = fx
            .taxii(
                Method::POST,
                &coll(COLLECTION_SUBMIT, "objects/"),
                Some("m1_analyst"),
                Some(&bundle),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        assert_eq!(r.json()["success_count"], 1, "{}", r.text());
        for q in [
            "limit=0",
            "limit=x",
            "added_after=yesterday",
            "match[version]=newest",
            "next=zzz",
        ] {
            let r = fx
                .taxii(
                    Method::GET,
                    &format!("{}?{q}", coll(COLLECTION_ALL, "objects/")),
                    Some("m1_analyst"),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
            assert_eq!(r.json()["http_status"], "400", "{q}");
        }
        let r = fx
            .taxii(
                Method::GET,
                &format!("{ROOT}status/{}/", uuid::Uuid::new_v4()),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // A submission: first versions, a conflict of TLP markings, bad ids, a duplicate.
        let green = uid("indicator");
        let clear = uid("indicator");
        let amber = uid("indicator");
        let red = uid("indicator");
        let conflicting = uid("indicator");
        let mut two_marks = indicator(&conflicting, "2026-03-01T00:00:00.000Z", "two", None);
        two_marks["object_marking_refs"] =
            json!([Tlp::Clear.marking_id_v2(), Tlp::Red.marking_id_v2()]);
        let st = fx
            .post_envelope(
                "m1_analyst",
                vec![
                    indicator(&green, "2026-03-01T00:00:00.000Z", "green", None),
                    indicator(
                        &clear,
                        "2026-03-01T00:00:00.000Z",
                        "clear",
                        Some(Tlp::Clear),
                    ),
                    indicator(
                        &amber,
                        "2026-03-01T00:00:00.000Z",
                        "amber",
                        Some(Tlp::Amber),
                    ),
                    indicator(&red, "2026-03-01T00:00:00.123456Z", "red", Some(Tlp::Red)),
                    two_marks,
                    json!({"type": "indicator", "id": "indicator--not-a-uuid"}),
                    json!("not an object"),
                    indicator(&green, "2026-03-01T00:00:00.000Z", "green", None),
                ],
            )
            .await;
        assert_eq!(st["status"], "complete");
        assert_eq!(st["total_count"], 8);
        assert_eq!(st["success_count"], 5, "{st}");
        assert_eq!(st["failure_count"], 3, "{st}");
        assert_eq!(st["pending_count"], 0);
        let failed: BTreeSet<&str> = st["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .map(|f| f["id"].as_str().expect("id"))
            .collect();
        assert!(failed.contains(conflicting.as_str()));
        let status_id = st["id"].as_str().expect("id");
        let again = fx
            .taxii_ok(&format!("{ROOT}status/{status_id}/"), Some("m1_reader"))
            .await;
        assert_eq!(again, st, "the status is kept for the submitting org");
        let r = fx
            .taxii(
                Method::GET,
                &format!("{ROOT}status/{status_id}/"),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "another org's status");
        let r = fx
            .taxii(
                Method::GET,
                &format!("{ROOT}status/{status_id}"),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "the status without its trailing slash"
        );
        // Idempotent: the same envelope again stores nothing new.
        let before = fx.store.version_count().await.expect("count");
        let st2 = fx
            .post_envelope(
                "m1_analyst",
                vec![indicator(&green, "2026-03-01T00:00:00.000Z", "green", None)],
            )
            .await;
        assert_eq!(st2["success_count"], 1);
        assert_eq!(fx.store.version_count().await.expect("count"), before);
        // The predefined TLP definitions sent beside what they mark are successes, not stored.
        let defs: Vec<Value> = isac_stix::tlp::all_definitions()
            .into_iter()
            .map(Value::Object)
            .collect();
        let n = defs.len();
        let st3 = fx.post_envelope("m1_analyst", defs).await;
        assert_eq!(st3["success_count"], n, "{st3}");
        assert_eq!(fx.store.version_count().await.expect("count"), before);

        // The stored objects keep their id, created and modified; the unmarked one got the
        // default TLP marking.
        let j = fx
            .taxii_ok(
                &coll(COLLECTION_ALL, &format!("objects/{green}/")),
                Some("m1_analyst"),
            )
            .await;
        let o = &j["objects"][0];
        assert_eq!(o["modified"], "2026-03-01T00:00:00.000Z");
        assert_eq!(
            o["object_marking_refs"],
            json!([Tlp::Green.marking_id_v2()])
        );
        assert_eq!(o["created_by_ref"], crate::intel::identity_id(&fx.m1.id));
        let j = fx
            .taxii_ok(
                &coll(COLLECTION_ALL, &format!("objects/{red}/")),
                Some("m1_analyst"),
            )
            .await;
        assert_eq!(j["objects"][0]["modified"], "2026-03-01T00:00:00.123456Z");

        // Who sees what.
        let m1_sees = ids_of(
            &fx.taxii_ok(
                &format!("{}?match[type]=indicator", coll(COLLECTION_ALL, "objects/")),
                Some("m1_analyst"),
            )
            .await,
        );
        for id in [&green, &clear, &amber, &red] {
            assert!(m1_sees.contains(id.as_str()), "author's org sees {id}");
        }
        let m2_sees = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_ALL, "objects/"), Some("m2_analyst"))
                .await,
        );
        assert!(m2_sees.contains(&green) && m2_sees.contains(&clear));
        assert!(!m2_sees.contains(&amber) && !m2_sees.contains(&red));
        let vendor_sees = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_ALL, "objects/"), Some("vendor"))
                .await,
        );
        assert!(vendor_sees.contains(&clear) && !vendor_sees.contains(&green));
        let op_sees = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_ALL, "objects/"), Some("op_analyst"))
                .await,
        );
        assert!(
            op_sees.contains(&amber) && !op_sees.contains(&red),
            "the operator reads AMBER, not RED"
        );
        let public = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_PUBLIC, "objects/"), None)
                .await,
        );
        assert!(public.contains(&clear));
        for id in [&green, &amber, &red] {
            assert!(!public.contains(id.as_str()));
        }
        for (who, id) in [
            ("m2_analyst", &amber),
            ("m2_analyst", &red),
            ("op_analyst", &red),
        ] {
            let r = fx
                .taxii(
                    Method::GET,
                    &coll(COLLECTION_ALL, &format!("objects/{id}/")),
                    Some(who),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{who} {id}");
            let r = fx
                .taxii(
                    Method::GET,
                    &coll(COLLECTION_ALL, &format!("objects/{id}/versions/")),
                    Some(who),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{who} versions of {id}");
        }
        let r = fx
            .taxii(
                Method::GET,
                &coll(COLLECTION_PUBLIC, &format!("objects/{green}/")),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // A relationship is shown only where both its ends are.
        let rel = uid("relationship");
        let st = fx
            .post_envelope(
                "m1_analyst",
                vec![json!({
                    "type": "relationship",
                    "spec_version": "2.1",
                    "id": rel,
                    "created": "2026-03-01T00:00:00.000Z",
                    "modified": "2026-03-01T00:00:00.000Z",
                    "relationship_type": "related-to",
                    "source_ref": green,
                    "target_ref": amber,
                })],
            )
            .await;
        assert_eq!(st["success_count"], 1, "{st}");
        let m1_rel = fx
            .taxii_ok(
                &format!(
                    "{}?match[type]=relationship",
                    coll(COLLECTION_ALL, "objects/")
                ),
                Some("m1_analyst"),
            )
            .await;
        assert!(ids_of(&m1_rel).contains(&rel));
        for who in ["m2_analyst", "partner"] {
            let j = fx
                .taxii_ok(
                    &format!(
                        "{}?match[type]=relationship",
                        coll(COLLECTION_ALL, "manifest/")
                    ),
                    Some(who),
                )
                .await;
            assert!(
                !ids_of(&j).contains(&rel),
                "{who} sees a relationship to AMBER"
            );
            let r = fx
                .taxii(
                    Method::GET,
                    &coll(COLLECTION_ALL, &format!("objects/{rel}/")),
                    Some(who),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}");
        }
        // Relationships to org identities: judged by the identity's directory access.
        let rel_member = uid("relationship");
        let rel_vendor = uid("relationship");
        let relationship = |id: &str, target: String| {
            json!({
                "type": "relationship",
                "spec_version": "2.1",
                "id": id,
                "created": "2026-03-01T00:00:00.000Z",
                "modified": "2026-03-01T00:00:00.000Z",
                "relationship_type": "related-to",
                "source_ref": clear,
                "target_ref": target,
                "object_marking_refs": [Tlp::Clear.marking_id_v2()],
            })
        };
        let st = fx
            .post_envelope(
                "m1_analyst",
                vec![
                    relationship(&rel_member, crate::intel::identity_id(&fx.m2.id)),
                    relationship(&rel_vendor, crate::intel::identity_id(&fx.vendor.id)),
                ],
            )
            .await;
        assert_eq!(st["success_count"], 2, "{st}");
        let seen = |who: &'static str| {
            let fx = &fx;
            async move {
                ids_of(
                    &fx.taxii_ok(
                        &format!(
                            "{}?match[type]=relationship",
                            coll(COLLECTION_ALL, "objects/")
                        ),
                        Some(who),
                    )
                    .await,
                )
            }
        };
        let m2_rels = seen("m2_analyst").await;
        assert!(m2_rels.contains(&rel_member) && !m2_rels.contains(&rel_vendor));
        let vendor_rels = seen("vendor").await;
        assert!(vendor_rels.contains(&rel_vendor) && !vendor_rels.contains(&rel_member));
        let op_rels = seen("op_analyst").await;
        assert!(op_rels.contains(&rel_vendor) && op_rels.contains(&rel_member));
        let public_rels = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_PUBLIC, "objects/"), None)
                .await,
        );
        assert!(!public_rels.contains(&rel_vendor) && !public_rels.contains(&rel_member));
        // Other orgs see the ISAC as the creator.
        let j = fx
            .taxii_ok(
                &coll(COLLECTION_ALL, &format!("objects/{green}/")),
                Some("m2_analyst"),
            )
            .await;
        assert_eq!(
            j["objects"][0]["created_by_ref"],
            crate::intel::identity_id(&fx.op.id)
        );

        // Directory entries: identities by the policy, and the extension definition.
        let public_all = ids_of(
            &fx.taxii_ok(&coll(COLLECTION_PUBLIC, "objects/"), None)
                .await,
        );
        assert!(public_all.contains(&crate::intel::identity_id(&fx.op.id)));
        assert!(public_all.contains(isac_stix::audience::EXTENSION_ID));
        assert!(!public_all.contains(&crate::intel::identity_id(&fx.m1.id)));
        // The predefined TLP marking definitions, in every readable collection but the group
        // and write collections, exactly as canonical, each with its one version.
        let canonical = isac_stix::tlp::all_definitions();
        for (collection, who) in [
            (COLLECTION_PUBLIC, None),
            (COLLECTION_ALL, Some("m2_analyst")),
        ] {
            let j = fx
                .taxii_ok(
                    &format!(
                        "{}?match[type]=marking-definition",
                        coll(collection, "objects/")
                    ),
                    who,
                )
                .await;
            let served: Vec<Value> = j["objects"].as_array().cloned().unwrap_or_default();
            assert_eq!(served.len(), canonical.len(), "{collection}");
            for d in &canonical {
                assert!(
                    served.contains(&Value::Object(d.clone())),
                    "{collection}: {d:?}"
                );
            }
            let id = isac_model::Tlp::Amber.marking_id_v2();
            let v = fx
                .taxii_ok(&coll(collection, &format!("objects/{id}/versions/")), who)
                .await;
            assert_eq!(v["versions"], json!(["2022-10-01T00:00:00.000Z"]));
        }
        let own = fx
            .taxii_ok(
                &format!(
                    "{}?match[type]=marking-definition",
                    coll(COLLECTION_SUBMIT, "objects/")
                ),
                Some("m2_analyst"),
            )
            .await;
        assert!(own.get("objects").is_none(), "{own}");
        let m2_all = ids_of(
            &fx.taxii_ok(
                &format!("{}?match[type]=identity", coll(COLLECTION_ALL, "objects/")),
                Some("m2_analyst"),
            )
            .await,
        );
        assert!(
            m2_all.contains(&crate::intel::identity_id(&fx.m1.id)),
            "members know each other"
        );
        assert!(
            !m2_all.contains(&crate::intel::identity_id(&fx.vendor.id)),
            "a vendor's identity is AMBER"
        );
        let v_all = ids_of(
            &fx.taxii_ok(
                &format!("{}?match[type]=identity", coll(COLLECTION_ALL, "objects/")),
                Some("vendor"),
            )
            .await,
        );
        assert!(v_all.contains(&crate::intel::identity_id(&fx.vendor.id)));
        assert!(!v_all.contains(&crate::intel::identity_id(&fx.m1.id)));

        // Versions: a later version of the green indicator; match[version] and the versions list.
        let st = fx
            .post_envelope(
                "m1_analyst",
                vec![indicator(
                    &green,
                    "2026-03-02T00:00:00.500Z",
                    "green v2",
                    None,
                )],
            )
            .await;
        assert_eq!(st["success_count"], 1, "{st}");
        let older = fx
            .post_envelope(
                "m1_analyst",
                vec![indicator(
                    &green,
                    "2026-03-01T12:00:00.000Z",
                    "green mid",
                    None,
                )],
            )
            .await;
        assert_eq!(
            older["success_count"], 1,
            "an earlier version is kept as history: {older}"
        );
        let base = coll(COLLECTION_ALL, &format!("objects/{green}/"));
        let v = fx
            .taxii_ok(&format!("{base}versions/"), Some("m2_analyst"))
            .await;
        assert_eq!(
            v["versions"],
            json!([
                "2026-03-01T00:00:00.000Z",
                "2026-03-02T00:00:00.500Z",
                "2026-03-01T12:00:00.000Z"
            ]),
            "versions in date_added order"
        );
        let names = |j: &Value| -> Vec<String> {
            j["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o["name"].as_str().expect("name").to_owned())
                .collect()
        };
        assert_eq!(
            names(&fx.taxii_ok(&base, Some("m2_analyst")).await),
            ["green v2"]
        );
        assert_eq!(
            names(
                &fx.taxii_ok(&format!("{base}?match[version]=first"), Some("m2_analyst"))
                    .await
            ),
            ["green"]
        );
        assert_eq!(
            names(
                &fx.taxii_ok(&format!("{base}?match[version]=all"), Some("m2_analyst"))
                    .await
            ),
            ["green", "green v2", "green mid"]
        );
        assert_eq!(
            names(
                &fx.taxii_ok(
                    &format!("{base}?match[version]=first,last"),
                    Some("m2_analyst")
                )
                .await
            ),
            ["green", "green v2"]
        );
        assert_eq!(
            names(
                &fx.taxii_ok(
                    &format!("{base}?match[version]=2026-03-02T00:00:00.5Z"),
                    Some("m2_analyst")
                )
                .await
            ),
            ["green v2"],
            "a version is matched whatever its precision"
        );
        assert_eq!(
            names(
                &fx.taxii_ok(
                    &format!("{base}?match[version]=2026-03-01T00:00:00Z"),
                    Some("m2_analyst")
                )
                .await
            ),
            ["green"]
        );
        let j = fx
            .taxii_ok(
                &format!("{base}?match[spec_version]=2.0"),
                Some("m2_analyst"),
            )
            .await;
        assert!(
            j.get("objects").is_none(),
            "no STIX 2.0 version: an empty envelope"
        );
        // Another org may not widen, but may narrow... and may not version what it cannot read:
        // each such object fails alike, whether or not it is stored, and the attempt is audited
        // once per id and submission.
        let audit_before = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        let st = fx
            .post_envelope(
                "m2_analyst",
                vec![
                    indicator(
                        &amber,
                        "2026-04-01T00:00:00.000Z",
                        "taken",
                        Some(Tlp::Amber),
                    ),
                    indicator(
                        &amber,
                        "2026-05-01T00:00:00.000Z",
                        "again",
                        Some(Tlp::Amber),
                    ),
                    // The version m1 stored, resubmitted: still not m2's to see.
                    indicator(
                        &amber,
                        "2026-03-01T00:00:00.000Z",
                        "amber",
                        Some(Tlp::Amber),
                    ),
                ],
            )
            .await;
        assert_eq!(st["failure_count"], 3, "{st}");
        for f in st["failures"].as_array().expect("failures") {
            assert_eq!(f["id"], amber.as_str(), "{st}");
            assert_eq!(
                f["message"], "an object with this id exists and this account may not change it",
                "{st}"
            );
        }
        let denials: Vec<_> = fx
            .store
            .audit_page(None, 20)
            .await
            .expect("audit")
            .into_iter()
            .filter(|a| a.seq > audit_before && a.action == "access.denied")
            .collect();
        assert_eq!(denials.len(), 1, "{denials:?}");
        assert_eq!(denials[0].target, amber);
        let st = fx
            .post_envelope(
                "m2_analyst",
                vec![indicator(
                    &green,
                    "2026-04-01T00:00:00.000Z",
                    "wider",
                    Some(Tlp::Clear),
                )],
            )
            .await;
        assert_eq!(st["failure_count"], 1, "only the owner org widens: {st}");

        // Manifest and date headers.
        let r = fx
            .taxii(
                Method::GET,
                &format!(
                    "{}?match[type]=indicator",
                    coll(COLLECTION_ALL, "manifest/")
                ),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let first = r.headers["x-taxii-date-added-first"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let last = r.headers["x-taxii-date-added-last"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let m = r.json();
        let entries = m["objects"].as_array().expect("entries");
        assert_eq!(
            entries.first().expect("entry")["date_added"],
            first.as_str()
        );
        assert_eq!(entries.last().expect("entry")["date_added"], last.as_str());
        assert!(first <= last && first.len() == "2026-01-01T00:00:00.000000Z".len());
        let dates: Vec<&str> = entries
            .iter()
            .map(|e| e["date_added"].as_str().expect("d"))
            .collect();
        let mut sorted = dates.clone();
        sorted.sort();
        assert_eq!(dates, sorted, "ascending date_added");
        assert!(
            entries
                .iter()
                .all(|e| e["media_type"] == "application/stix+json;version=2.1")
        );
        let g = entries
            .iter()
            .find(|e| e["id"] == green.as_str())
            .expect("green");
        assert_eq!(g["version"], "2026-03-02T00:00:00.500Z");
        // added_after is strictly later.
        let after = fx
            .taxii_ok(
                &format!("{}?added_after={first}", coll(COLLECTION_ALL, "manifest/")),
                Some("m1_analyst"),
            )
            .await;
        assert!(
            after["objects"]
                .as_array()
                .expect("e")
                .iter()
                .all(|e| e["date_added"].as_str().expect("d") > first.as_str())
        );

        // Paging while objects are being added: every object exactly once, in date_added order.
        let mut expected: Vec<String> = Vec::new();
        let batch: Vec<Value> = (0..25)
            .map(|i| {
                let id = uid("indicator");
                expected.push(id.clone());
                indicator(&id, "2026-05-01T00:00:00.000Z", &format!("page{i}"), None)
            })
            .collect();
        fx.post_envelope("m1_analyst", batch).await;
        let mut seen: Vec<String> = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut uri = format!(
                "{}?limit=7&match[type]=indicator&added_after={last}",
                coll(COLLECTION_ALL, "objects/")
            );
            if let Some(n) = &next {
                uri.push_str(&format!("&next={}", super::urlencode(n)));
            }
            let j = fx.taxii_ok(&uri, Some("m2_analyst")).await;
            seen.extend(
                j["objects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| o["id"].as_str().expect("id").to_owned()),
            );
            pages += 1;
            if pages <= 3 {
                let id = uid("indicator");
                expected.push(id.clone());
                fx.post_envelope(
                    "m1_analyst",
                    vec![indicator(&id, "2026-05-01T00:00:00.000Z", "late", None)],
                )
                .await;
            }
            if j["more"] == true {
                next = Some(j["next"].as_str().expect("next").to_owned());
            } else {
                break;
            }
        }
        assert_eq!(seen, expected, "paging while adding ({backend})");
        assert!(pages >= 4);

        // Deletion: through the write collection, by the owner org only.
        let r = fx
            .taxii(
                Method::DELETE,
                &coll(COLLECTION_SUBMIT, &format!("objects/{green}/")),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "another org's object is not in the caller's write collection"
        );
        let r = fx
            .taxii(
                Method::DELETE,
                &coll(COLLECTION_SUBMIT, &format!("objects/{amber}/")),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "an object the caller cannot read"
        );
        let r = fx
            .taxii(
                Method::DELETE,
                &coll(COLLECTION_ALL, &format!("objects/{green}/")),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "a read-only collection");
        let r = fx
            .taxii(
                Method::DELETE,
                &format!(
                    "{}?match[version]=last",
                    coll(COLLECTION_SUBMIT, &format!("objects/{green}/"))
                ),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(
            names(&fx.taxii_ok(&base, Some("m2_analyst")).await),
            ["green mid"],
            "the latest remaining version is current again"
        );
        let r = fx
            .taxii(
                Method::DELETE,
                &coll(COLLECTION_SUBMIT, &format!("objects/{green}/")),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = fx.taxii(Method::GET, &base, Some("m1_analyst"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let audit = fx.store.audit_page(None, 50).await.expect("audit");
        assert!(
            audit
                .iter()
                .any(|a| a.action == "object.delete" && a.target == green)
        );
        println!(
            "TAXII endpoints ({backend}): status codes, submissions, versions, paging over {pages} pages while adding, deletion"
        );
    }
}

/// Every TAXII read path against the reference model: for random worlds, each user's "all"
/// collection, each of their sharing groups' collections, their write collection (their org's
/// objects), the object and versions endpoints and the manifest hold exactly the objects the
/// model lets them read; anonymous readers get exactly the CLEAR ones.
#[tokio::test]
async fn taxii_reads_match_reference_model() {
    use isac_policy::testkit::World;
    for (backend, store) in stores().await {
        let mut checks = 0u64;
        let mut disagreements = 0u64;
        let seed = (2000..)
            .find(|s| {
                World::generate(*s, 0, true)
                    .orgs
                    .iter()
                    .filter(|o| o.kind == OrgKind::Operator)
                    .count()
                    == 1
            })
            .expect("a seed");
        let world = World::generate(seed, 120, true);
        let suffix = format!(
            "{backend}{}",
            hex::encode(rand::thread_rng().r#gen::<[u8; 4]>())
        );
        let mut org_ids = BTreeMap::new();
        for o in &world.orgs {
            let created = store
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
                .expect("org");
            org_ids.insert(o.id.clone(), created.id);
        }
        let mut group_ids = BTreeMap::new();
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
        let mut user_ids = BTreeMap::new();
        let mut keys = BTreeMap::new();
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
                    modified: format!("2026-01-01T00:00:00.{:06}Z", i),
                    access,
                    revoked: false,
                    title: format!("object {i}"),
                    body: json!({"type": "note", "id": id, "spec_version": "2.1", "created": "2026-01-01T00:00:00.000Z", "modified": format!("2026-01-01T00:00:00.{:06}Z", i), "content": "x"}).to_string().into(),
                    values: vec![],
                },
            ));
        }
        let batch: Vec<_> = objects.iter().map(|(_, n)| n.clone()).collect();
        store.insert_objects(&batch, cli()).await.expect("objects");
        let (app, _) = crate::app(AppState::new(store.clone(), Config::default()));
        let get = |uri: String, key: Option<String>| {
            let app = app.clone();
            async move { send(&app, req(Method::GET, &uri, key.as_deref(), None)).await }
        };
        let list_of =
            |collection: String, key: Option<String>, what: &'static str, filter: &'static str| {
                let get = &get;
                async move {
                    let mut out = BTreeSet::new();
                    let mut next: Option<String> = None;
                    loop {
                        let mut uri = format!("{}?limit=37{filter}", coll(&collection, what));
                        if let Some(n) = &next {
                            uri.push_str(&format!("&next={}", super::urlencode(n)));
                        }
                        let r = get(uri, key.clone()).await;
                        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                        let j = r.json();
                        out.extend(ids_of(&j));
                        if j["more"] == true {
                            next = Some(j["next"].as_str().expect("next").to_owned());
                        } else {
                            return out;
                        }
                    }
                }
            };
        let list_all = |collection: String, key: Option<String>, what: &'static str| {
            list_of(collection, key, what, "&match[type]=note")
        };
        let ours: BTreeSet<String> = objects.iter().map(|(_, n)| n.stix_id.clone()).collect();
        let state = AppState::new(store.clone(), Config::default());
        for u in &world.users {
            let key = Some(keys[&u.id].clone());
            // The web page's figures: each collection's count is what a full read returns.
            let user = store.user(&user_ids[&u.id]).await.expect("user");
            let org = store.org(&org_ids[&u.org]).await.expect("org");
            let principal = auth::Principal {
                viewer: auth::viewer_for(&store, &user, &org).await.expect("viewer"),
                user,
                org,
                via: auth::Via::Local,
            };
            let summaries = crate::taxii::collection_summaries(&state, &principal)
                .await
                .expect("summaries");
            for c in &summaries {
                let read = list_of(c.id.clone(), key.clone(), "objects/", "").await;
                checks += 1;
                disagreements += u64::from(c.objects != i64::try_from(read.len()).expect("len"));
            }
            // The REST API gives the same figures.
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("u:{}", keys[&u.id]));
            let r = send(
                &app,
                Request::builder()
                    .uri("/api/v1/taxii-collections")
                    .header(header::ACCEPT, "application/json")
                    .header(header::AUTHORIZATION, format!("Basic {basic}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let api: Vec<(String, i64)> = r
                .json()
                .as_array()
                .expect("a list")
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().expect("id").to_owned(),
                        c["objects"].as_i64().expect("objects"),
                    )
                })
                .collect();
            let page: Vec<(String, i64)> = summaries
                .iter()
                .map(|c| (c.id.clone(), c.objects))
                .collect();
            checks += 1;
            disagreements += u64::from(api != page);
            let mut expected = BTreeSet::new();
            for (wo, n) in &objects {
                let (readers, _) = world.audience(&wo.access);
                if readers.contains(&u.id) {
                    expected.insert(n.stix_id.clone());
                }
            }
            let seen: BTreeSet<String> = list_all(COLLECTION_ALL.into(), key.clone(), "objects/")
                .await
                .intersection(&ours)
                .cloned()
                .collect();
            let manifest: BTreeSet<String> =
                list_all(COLLECTION_ALL.into(), key.clone(), "manifest/")
                    .await
                    .intersection(&ours)
                    .cloned()
                    .collect();
            // The write collection: what the user may read of what the user's org owns.
            let own = list_all(COLLECTION_SUBMIT.into(), key.clone(), "objects/").await;
            for (wo, n) in &objects {
                checks += 3;
                let want = expected.contains(&n.stix_id);
                disagreements += u64::from(seen.contains(&n.stix_id) != want);
                disagreements += u64::from(manifest.contains(&n.stix_id) != want);
                let want_own = want && wo.access.owner_org == u.org;
                disagreements += u64::from(own.contains(&n.stix_id) != want_own);
            }
            // Each sharing group of the user's org: visible objects naming the group.
            let org = &u.org;
            for (g, members) in &world.groups {
                if !members.contains(org) {
                    continue;
                }
                let gid = group_ids[g].clone();
                let got = list_all(group_collection_id(&gid), key.clone(), "objects/").await;
                for (wo, n) in &objects {
                    checks += 1;
                    let want =
                        expected.contains(&n.stix_id) && wo.access.recipient_groups.contains(g);
                    disagreements += u64::from(got.contains(&n.stix_id) != want);
                }
            }
            // The object endpoint, for a sample of objects.
            for (_, n) in objects.iter().step_by(7) {
                let r = get(
                    coll(COLLECTION_ALL, &format!("objects/{}/", n.stix_id)),
                    key.clone(),
                )
                .await;
                checks += 1;
                assert!(r.status == StatusCode::OK || r.status == StatusCode::NOT_FOUND);
                disagreements +=
                    u64::from((r.status == StatusCode::OK) != expected.contains(&n.stix_id));
                let r = get(
                    coll(COLLECTION_ALL, &format!("objects/{}/versions/", n.stix_id)),
                    key.clone(),
                )
                .await;
                checks += 1;
                assert!(r.status == StatusCode::OK || r.status == StatusCode::NOT_FOUND);
                disagreements +=
                    u64::from((r.status == StatusCode::OK) != expected.contains(&n.stix_id));
            }
        }
        // Anonymous readers: exactly the CLEAR objects, through the public collection.
        let public = list_all(COLLECTION_PUBLIC.into(), None, "objects/").await;
        for (wo, n) in &objects {
            checks += 1;
            disagreements +=
                u64::from(public.contains(&n.stix_id) != (wo.access.tlp == Tlp::Clear));
        }
        println!("TLP TAXII property ({backend}): {checks} checks, {disagreements} disagreements");
        assert_eq!(disagreements, 0);
        assert!(checks >= 5_000, "only {checks} checks");
    }
}

#[test]
fn stored_modified_is_fixed_width_microseconds() {
    use crate::intel::column_time;
    for (given, stored) in [
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00.000000Z"),
        ("2026-03-01T00:00:00.5Z", "2026-03-01T00:00:00.500000Z"),
        ("2026-03-01T00:00:00.123Z", "2026-03-01T00:00:00.123000Z"),
        ("2026-03-01T00:00:00.123456Z", "2026-03-01T00:00:00.123456Z"),
        (
            "2026-03-01T00:00:00.123456789Z",
            "2026-03-01T00:00:00.123456Z",
        ),
    ] {
        assert_eq!(column_time(given).as_deref(), Some(stored), "{given}");
    }
    for bad in ["2026-03-01T00:00:00+08:00", "2026-03-01", "yesterday", ""] {
        assert_eq!(column_time(bad), None, "{bad}");
    }
    // Text order is time order.
    let a = column_time("2026-03-01T00:00:00.9Z").expect("a");
    let b = column_time("2026-03-01T00:00:00.123456Z").expect("b");
    assert!(b < a);
}

/// Status resources are kept for the retention period and purged after it; deletion re-checks
/// the owner under the write lock and keeps one current version.
#[tokio::test]
async fn taxii_status_retention_and_deletion_in_the_store() {
    use isac_store::{STATUS_RETENTION_MICROS, TaxiiStatus, now_micros};
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let status = |created_at: i64| TaxiiStatus {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: fx.m1.id.clone(),
            user_id: fx.m1_analyst.id.clone(),
            created_at,
            body: "{}".into(),
        };
        let old = status(now_micros() - STATUS_RETENTION_MICROS - 1_000_000);
        let day_old = status(now_micros() - 24 * 3600 * 1_000_000);
        fx.store.save_taxii_status(&old, cli()).await.expect("save");
        fx.store
            .save_taxii_status(&day_old, cli())
            .await
            .expect("save");
        let fresh = status(now_micros());
        fx.store
            .save_taxii_status(&fresh, cli())
            .await
            .expect("save");
        assert_eq!(fx.store.taxii_status(&old.id).await.expect("read"), None);
        assert_eq!(
            fx.store.taxii_status(&day_old.id).await.expect("read"),
            Some(day_old.clone()),
            "kept at least 24 hours ({backend})"
        );
        assert_eq!(
            fx.store.taxii_status(&fresh.id).await.expect("read"),
            Some(fresh)
        );

        let id = uid("note");
        let version = |modified: &str| isac_store::NewObject {
            stix_id: id.clone(),
            stix_type: "note".into(),
            modified: modified.into(),
            access: isac_policy::Access {
                tlp: Tlp::Green,
                owner_org: fx.m1.id.clone(),
                author: fx.m1_analyst.id.clone(),
                recipient_orgs: BTreeSet::new(),
                recipient_groups: BTreeSet::new(),
                named_users: BTreeSet::new(),
            },
            revoked: false,
            title: "note".into(),
            body: json!({"type": "note", "id": id, "content": "x"})
                .to_string()
                .into(),
            values: vec![],
        };
        let first = fx
            .store
            .insert_objects(&[version("2026-01-01T00:00:00.000000Z")], cli())
            .await
            .expect("insert")[0]
            .pk;
        let second = fx
            .store
            .insert_version(&version("2026-01-02T00:00:00.000000Z"), |_| Ok(()), cli())
            .await
            .expect("version");
        let err = fx
            .store
            .delete_object_versions(&id, &fx.m2.id, &[second], cli())
            .await
            .expect_err("another org");
        assert!(matches!(err, isac_store::StoreError::Invalid(_)), "{err}");
        let err = fx
            .store
            .delete_object_versions(&id, &fx.m1.id, &[second + 1_000_000], cli())
            .await
            .expect_err("a version of another object");
        assert!(matches!(err, isac_store::StoreError::NotFound(_)), "{err}");
        assert_eq!(
            fx.store
                .delete_object_versions(&id, &fx.m1.id, &[second], cli())
                .await
                .expect("delete"),
            1
        );
        let op_viewer = auth::viewer_for(&fx.store, &fx.op_admin, &fx.op)
            .await
            .expect("viewer");
        let current = fx.store.object(&op_viewer, &id).await.expect("current");
        assert_eq!((current.pk, current.is_latest), (first, true));
        assert_eq!(
            fx.store
                .delete_object_versions(&id, &fx.m1.id, &[first], cli())
                .await
                .expect("delete"),
            1
        );
        assert!(!fx.store.object_exists(&id).await.expect("exists"));
    }
}

#[path = "taxii_conformance.rs"]
mod conformance;

/// A TAXII envelope marked the way other tools mark TLP (OpenCTI's AMBER+STRICT, definitions of
/// its own, granular markings) is stored at those levels, never at the default.
#[tokio::test]
async fn taxii_post_reads_tlp_markings_of_other_tools() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let objects = super::foreign_tlp_objects();
        let st = fx
            .post_envelope(
                "m1_analyst",
                objects.iter().map(|(o, _)| o.clone()).collect(),
            )
            .await;
        assert_eq!(st["failure_count"], 0, "{backend}: {st}");
        fx.check_foreign_tlp(backend, &objects).await;
        // A definition sent in an earlier envelope marks the objects of a later one.
        let later: Vec<(Value, Option<Tlp>)> = objects
            .iter()
            .skip(2)
            .map(|(o, t)| {
                let mut o = o.clone();
                o["id"] = json!(uid("indicator"));
                (o, *t)
            })
            .collect();
        let st = fx
            .post_envelope("m1_analyst", later.iter().map(|(o, _)| o.clone()).collect())
            .await;
        assert_eq!(st["failure_count"], 0, "{backend}: {st}");
        fx.check_foreign_tlp(backend, &later).await;
    }
}

/// Numbers in properties isac does not know are kept as written, not as the nearest 64-bit
/// float: integers past 2^64, trailing zeros, exponents, long fractions and negative zero come back
/// byte for byte (serde_json's `arbitrary_precision`; only an exponent's `E` is written `e`).
#[tokio::test]
async fn taxii_keeps_numbers_as_written() {
    const NUMBERS: &[&str] = &[
        r#""x_big":123456789012345678901234567890"#,
        r#""x_zeros":2.50"#,
        r#""x_exp":1.50e-7"#,
        r#""x_neg_zero":-0.0"#,
        r#""x_digits":0.1000000000000000055511151231257827"#,
    ];
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let id = uid("indicator");
        let mut text =
            indicator(&id, "2026-03-02T00:00:00.000Z", "numbers", Some(Tlp::Green)).to_string();
        text.pop();
        for n in NUMBERS {
            text.push(',');
            text.push_str(n);
        }
        text.push('}');
        let object: Value = serde_json::from_str(&text).expect("object");
        let st = fx.post_envelope("m1_analyst", vec![object]).await;
        assert_eq!(st["success_count"], 1, "{backend}: {st}");
        let r = fx
            .taxii(
                Method::GET,
                &coll(COLLECTION_ALL, &format!("objects/{id}/")),
                Some("m1_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        let got = r.text();
        for n in NUMBERS {
            assert!(got.contains(n), "{backend}: {n} in {got}");
        }
    }
}

/// Entries isac publishes itself (its extension definition, its directory's identities, the TLP
/// definitions) come back in what clients send: an export of isac, a pull from another isac.
/// They are counted as unchanged and never stored, so a collection never serves two copies of one
/// version; REST may not create them.
#[tokio::test]
async fn published_entries_are_never_stored_again() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let served = |id: String| {
            let fx = &fx;
            async move {
                fx.taxii_ok(
                    &coll(COLLECTION_ALL, &format!("objects/{id}/")),
                    Some("m1_analyst"),
                )
                .await["objects"]
                    .as_array()
                    .expect("objects")
                    .clone()
            }
        };
        let own_identity = crate::intel::identity_id(&fx.m1.id);
        let extension = isac_stix::audience::EXTENSION_ID.to_owned();
        let tlp = Tlp::Amber.marking_id_v2().to_owned();
        let mut copies = Vec::new();
        for id in [&own_identity, &extension, &tlp] {
            let got = served(id.clone()).await;
            assert_eq!(got.len(), 1, "{backend}: {id} served once");
            copies.push(got[0].clone());
        }
        let other = indicator(
            &uid("indicator"),
            "2026-03-02T00:00:00.000Z",
            "beside",
            None,
        );
        copies.push(other);
        let st = fx.post_envelope("m1_analyst", copies).await;
        assert_eq!(st["success_count"], 4, "{backend}: {st}");
        assert_eq!(st["failure_count"], 0, "{backend}: {st}");
        for id in [&own_identity, &extension, &tlp] {
            assert_eq!(
                served(id.clone()).await.len(),
                1,
                "{backend}: {id} still once"
            );
            assert!(
                !fx.store.object_exists(id).await.expect("exists"),
                "{backend}: {id} is not stored"
            );
        }
        // REST may not create one either.
        let r = fx
            .call(
                Method::POST,
                "/api/v1/objects",
                "m1_analyst",
                Some(json!({"object": {"type": "identity", "id": own_identity, "name": "m1", "identity_class": "organization"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{backend}: {}", r.text());
        assert!(!fx.store.object_exists(&own_identity).await.expect("exists"));
    }
}

#[tokio::test]
async fn rest_gives_observables_their_deterministic_ids() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let ip = json!({"type": "ipv4-addr", "value": "198.51.100.203"});
        let want = isac_stix::id::sco_id(ip.as_object().expect("object")).expect("an SCO id");
        let r = fx
            .call(
                Method::POST,
                "/api/v1/objects",
                "m1_analyst",
                Some(json!({"object": ip, "tlp": "green"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        assert_eq!(r.json()["id"], want, "{backend}");
        // An observable carries none of the SDO's common properties, and has no versions.
        let body = &r.json()["object"];
        for k in ["created", "modified", "created_by_ref"] {
            assert!(body.get(k).is_none(), "{backend}: {k} in {body}");
        }
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{want}/versions"),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(
            r.json()[0]["modified"],
            crate::intel::UNVERSIONED,
            "{backend}"
        );
        for path in [
            format!("/api/v1/objects/{want}/versions"),
            format!("/api/v1/objects/{want}/revoke"),
        ] {
            let r = fx
                .call(
                    Method::POST,
                    &path,
                    "m1_analyst",
                    Some(json!({"changes": {"value": "198.51.100.204"}})),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::CONFLICT,
                "{backend} {path}: {}",
                r.text()
            );
            assert!(
                r.text().contains("observables have no versions"),
                "{backend}: {}",
                r.text()
            );
        }
        // One value is one object: another org's create of the same value is refused, and
        // stores nothing.
        let r = fx
            .call(
                Method::POST,
                "/api/v1/objects",
                "m2_analyst",
                Some(json!({"object": ip, "tlp": "green"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{backend}: {}", r.text());
        // Other objects, and observables with nothing to derive an id from, get a UUIDv4.
        for object in [
            json!({"type": "malware", "name": "x", "is_family": true}),
            json!({"type": "process", "pid": 4}),
        ] {
            let r = fx
                .call(
                    Method::POST,
                    "/api/v1/objects",
                    "m1_analyst",
                    Some(json!({"object": object, "tlp": "green"})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
            let id = r.json()["id"].as_str().expect("id").to_owned();
            let uuid = uuid::Uuid::parse_str(id.split_once("--").expect("id").1).expect("uuid");
            assert_eq!(uuid.get_version_num(), 4, "{backend}: {id}");
        }
    }
}

#[tokio::test]
async fn rest_writes_refuse_invalid_stix() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let before = fx.store.version_count().await.expect("count");
        for object in [
            json!({"type": "malware", "name": "no is_family"}),
            json!({"type": "indicator", "name": "i", "pattern": "[ipv4-addr:value = ",
                   "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}),
            json!({"type": "indicator", "name": "i", "pattern": "[ipv4-addr:value = '198.51.100.9']",
                   "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
                   "valid_until": "2025-01-01T00:00:00Z"}),
            json!({"type": "note", "content": "about nothing", "object_refs": []}),
        ] {
            let r = fx
                .call(
                    Method::POST,
                    "/api/v1/objects",
                    "m1_analyst",
                    Some(json!({"object": object, "tlp": "green"})),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend}: {object}: {}",
                r.text()
            );
            assert!(
                r.text().contains("not valid STIX 2.1"),
                "{backend}: {}",
                r.text()
            );
        }
        assert_eq!(
            fx.store.version_count().await.expect("count"),
            before,
            "{backend}"
        );
        // A new version that would be invalid is refused too; a revocation is always allowed.
        let r = fx
            .call(
                Method::POST,
                "/api/v1/objects",
                "m1_analyst",
                Some(json!({"object": {"type": "malware", "name": "m", "is_family": true}, "tlp": "green"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let r = fx
            .call(
                Method::POST,
                &format!("/api/v1/objects/{id}/versions"),
                "m1_analyst",
                Some(json!({"changes": {"is_family": "yes"}})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{backend}: {}",
            r.text()
        );
    }
}

/// An object that would name only what its reader may not read is withheld whole (the store's
/// re-check), and paging walks past it: a page it was read into still says where the next starts.
#[tokio::test]
async fn paging_walks_past_objects_withheld_whole() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let create = |object, tlp| fx.create("m1_analyst", object, tlp);
        let ip = create(
            json!({"type": "ipv4-addr", "value": "198.51.100.77"}),
            "amber",
        )
        .await;
        let flow = create(
            json!({"type": "network-traffic", "src_ref": ip, "protocols": ["tcp"]}),
            "green",
        )
        .await;
        let after = create(
            json!({"type": "malware", "name": "after the flow", "is_family": true}),
            "green",
        )
        .await;
        // The owner reads the flow as written.
        let own = fx
            .taxii_ok(
                &coll(COLLECTION_ALL, &format!("objects/{flow}/")),
                Some("m1_analyst"),
            )
            .await;
        assert_eq!(own["objects"][0]["src_ref"], ip, "{backend}");
        // Another member may read the flow's TLP but not its only end: it is not served.
        let r = fx
            .taxii(
                Method::GET,
                &coll(COLLECTION_ALL, &format!("objects/{flow}/")),
                Some("m2_analyst"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}: {}", r.text());
        // Walking the collection a row at a time reaches the object after it.
        for what in ["objects/", "manifest/"] {
            let mut seen = BTreeSet::new();
            let mut uri = coll(COLLECTION_ALL, &format!("{what}?limit=1"));
            for _ in 0..500 {
                let page = fx.taxii_ok(&uri, Some("m2_analyst")).await;
                seen.extend(ids_of(&page));
                match page["next"].as_str() {
                    Some(n) => {
                        assert_eq!(page["more"], true, "{backend}");
                        uri = coll(COLLECTION_ALL, &format!("{what}?limit=1&next={n}"));
                    }
                    None => {
                        assert_eq!(page["more"], false, "{backend}: {page}");
                        break;
                    }
                }
            }
            assert!(seen.contains(&after), "{backend} {what}: {seen:?}");
            assert!(!seen.contains(&flow), "{backend} {what}");
            assert!(!seen.contains(&ip), "{backend} {what}");
        }
    }
}

/// A new version keeps the references its writer was not shown: another member renaming a GREEN
/// report, or replacing its list, does not drop the AMBER ids withheld from that member.
#[tokio::test]
async fn new_versions_keep_what_their_writer_was_not_shown() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let create = |who, object, tlp| fx.create(who, object, tlp);
        let ip = create(
            "m1_analyst",
            json!({"type": "ipv4-addr", "value": "198.51.100.78"}),
            "amber",
        )
        .await;
        let malware = create(
            "m1_analyst",
            json!({"type": "malware", "name": "seen", "is_family": true}),
            "green",
        )
        .await;
        let other = create(
            "m2_analyst",
            json!({"type": "malware", "name": "added", "is_family": true}),
            "green",
        )
        .await;
        let report = create(
            "m1_analyst",
            json!({"type": "report", "name": "weekly", "published": "2026-11-30T00:00:00Z",
                   "object_refs": [malware, ip]}),
            "green",
        )
        .await;
        let refs_for = async |who: &str| -> Vec<String> {
            let r = fx
                .call(Method::GET, &format!("/api/v1/objects/{report}"), who, None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
            r.json()["object"]["object_refs"]
                .as_array()
                .expect("object_refs")
                .iter()
                .map(|v| v.as_str().expect("id").to_owned())
                .collect()
        };
        assert_eq!(refs_for("m2_analyst").await, vec![malware.clone()]);
        let version = async |changes: Value| -> Value {
            let r = fx
                .call(
                    Method::POST,
                    &format!("/api/v1/objects/{report}/versions"),
                    "m2_analyst",
                    Some(json!({ "changes": changes })),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
            r.json()
        };
        // Renaming: the list is the stored one.
        let v = version(json!({"name": "weekly, renamed"})).await;
        assert_eq!(v["object"]["object_refs"], json!([malware]), "{backend}");
        assert_eq!(
            refs_for("m1_analyst").await,
            vec![malware.clone(), ip.clone()]
        );
        // Replacing the list: what the writer was shown is replaced, the rest is kept.
        let v = version(json!({"object_refs": [other]})).await;
        assert_eq!(v["object"]["object_refs"], json!([other]), "{backend}");
        assert_eq!(
            refs_for("m1_analyst").await,
            vec![other.clone(), ip.clone()]
        );
        assert_eq!(refs_for("m2_analyst").await, vec![other.clone()]);
        // A container whose every id was withheld names itself to the writer; sent back, that
        // stand-in is not stored.
        let note = create(
            "m1_analyst",
            json!({"type": "note", "content": "about the address", "object_refs": [ip]}),
            "green",
        )
        .await;
        let path = format!("/api/v1/objects/{note}/versions");
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{note}"),
                "m2_analyst",
                None,
            )
            .await;
        assert_eq!(
            r.json()["object"]["object_refs"],
            json!([note]),
            "{backend}"
        );
        let r = fx
            .call(
                Method::POST,
                &path,
                "m2_analyst",
                Some(json!({"changes": {"object_refs": [note, other]}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        let r = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{note}"),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(
            r.json()["object"]["object_refs"],
            json!([other, ip]),
            "{backend}"
        );
    }
}
