//! The web import (`POST /import`): uploads past `limits::BODY_BYTES` streamed and imported in
//! chunks, the upload limit, the CSRF token read from the form's first field, and bad input
//! refused with nothing stored.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use super::{Fx, PASSWORD, Resp, csrf_of, fixture, send, stores, web_login, with_session};
use crate::routes::UPLOAD_BYTES;
use crate::{AppState, Config};

const BOUNDARY: &str = "isac-test-7d1f0c";

/// One form field: name, file name (for a file), content.
type Field<'a> = (&'a str, Option<&'a str>, &'a [u8]);

fn multipart(fields: &[Field<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, data) in fields {
        body.extend(format!("--{BOUNDARY}\r\n").bytes());
        match file {
            Some(f) => body.extend(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/json\r\n\r\n"
                )
                .bytes(),
            ),
            None => body
                .extend(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").bytes()),
        }
        body.extend_from_slice(data);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

async fn post_import(app: &Router, session: &str, body: Vec<u8>) -> Resp {
    send(
        app,
        Request::post("/import")
            .header(
                header::COOKIE,
                format!("{}={session}", crate::auth::SESSION_COOKIE),
            )
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

/// Uploads `file` the way the import form sends it: the CSRF token first.
/// Logs the m1 analyst in on the web and opens the import page: the session and its CSRF token.
async fn m1_analyst_on_exchange(app: &Router) -> (String, String) {
    let (_, session, _) = web_login(app, "analyst@m1.example", PASSWORD).await;
    let session = session.expect("session");
    let page = send(app, with_session(Method::GET, "/exchange", &session, None)).await;
    let csrf = csrf_of(&page.text());
    (session, csrf)
}

async fn upload(app: &Router, session: &str, csrf: &str, file: &[u8]) -> Resp {
    let body = multipart(&[
        ("csrf", None, csrf.as_bytes()),
        ("file", Some("bundle.json"), file),
    ]);
    post_import(app, session, body).await
}

/// `n` new indicators, each about 500 bytes of JSON.
fn indicators(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                "created": "2026-03-01T00:00:00.000Z",
                "modified": "2026-03-01T00:00:00.000Z",
                "name": format!("upload {i}"),
                "description": "x".repeat(150),
                "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", i >> 16 & 255, i >> 8 & 255, i & 255),
                "pattern_type": "stix",
                "valid_from": "2026-03-01T00:00:00Z",
            })
        })
        .collect()
}

/// A TLP:GREEN MISP event with one domain attribute.
fn misp_event(uuid: &str, info: &str, domain: &str) -> Value {
    json!({"Event": {
        "uuid": uuid,
        "info": info,
        "date": "2026-03-01",
        "timestamp": "1772323200",
        "distribution": "1",
        "threat_level_id": "2",
        "analysis": "1",
        "Tag": [{"name": "tlp:green"}],
        "Attribute": [{
            "uuid": uuid::Uuid::new_v4().to_string(),
            "type": "domain",
            "category": "Network activity",
            "value": domain,
            "to_ids": true,
            "timestamp": "1772323200",
        }],
    }})
}

fn bundle(objects: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    }))
    .expect("json")
}

/// Posts `body` to `/import` over a real loopback connection, written in 64 KiB pieces as a
/// browser sends it; returns the status and the page.
async fn post_over_loopback(app: &Router, session: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve = axum::serve(
        listener,
        app.clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    );
    let server = tokio::spawn(std::future::IntoFuture::into_future(serve));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /import HTTP/1.1\r\nHost: {addr}\r\nCookie: {}={session}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        crate::auth::SESSION_COOKIE,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    for piece in body.chunks(64 * 1024) {
        conn.write_all(piece).await.expect("write");
    }
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.expect("read");
    server.abort();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn id(o: &Value) -> &str {
    o["id"].as_str().expect("id")
}

impl Fx {
    async fn stored(&self, o: &Value) -> bool {
        let r = self
            .call(
                Method::GET,
                &format!("/api/v1/objects/{}", id(o)),
                "m1_analyst",
                None,
            )
            .await;
        r.status == StatusCode::OK
    }

    async fn versions(&self) -> i64 {
        self.store.version_count().await.expect("count")
    }
}

#[tokio::test]
async fn web_import_streams_large_uploads() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (_, session, _) = web_login(app, "analyst@m1.example", PASSWORD).await;
        let session = session.expect("session");
        let page = send(app, with_session(Method::GET, "/exchange", &session, None)).await;
        let html = page.text();
        assert!(
            html.contains("up to 256 MiB"),
            "{backend}: the page names the limit"
        );
        assert!(!html.contains("2 MiB"), "{backend}: the old limit is gone");
        let csrf = csrf_of(&html);

        // Every other route keeps the body limit; the import alone takes the upload limit.
        for r in &fx.table {
            let want = if (r.method.as_str(), r.path) == ("POST", "/import") {
                UPLOAD_BYTES
            } else {
                isac_model::limits::BODY_BYTES
            };
            assert_eq!(r.body_limit, want, "{} {}", r.method, r.path);
        }
        // A multipart form past the body limit to another route is still refused.
        let big = vec![b'a'; isac_model::limits::BODY_BYTES + 1];
        let r = send(
            app,
            Request::post("/keys")
                .header(
                    header::COOKIE,
                    format!("{}={session}", crate::auth::SESSION_COOKIE),
                )
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(Body::from(multipart(&[
                    ("csrf", None, csrf.as_bytes()),
                    ("name", None, &big),
                ])))
                .expect("request"),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{backend}");

        // About 5 MiB: three chunks, every object stored.
        let objects = indicators(11_000);
        let file = bundle(&objects);
        assert!(
            file.len() > 2 * isac_model::limits::BODY_BYTES,
            "{}",
            file.len()
        );
        let before = fx.versions().await;
        let r = upload(app, &session, &csrf, &file).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        let html = r.text();
        assert!(html.contains("Created 11000 ·"), "{backend}: {html}");
        assert!(html.contains("refused units 0"), "{backend}");
        assert_eq!(fx.versions().await - before, 11_000, "{backend}");
        for o in [&objects[0], &objects[5_000], &objects[10_999]] {
            assert!(fx.stored(o).await, "{backend}: {}", id(o));
        }
        // Again: nothing new.
        let r = upload(app, &session, &csrf, &file).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert!(r.text().contains("unchanged 11000"), "{backend}");
        assert_eq!(fx.versions().await - before, 11_000, "{backend}");

        // One invalid chunk refuses the whole bundle: the first chunk, valid, is not stored
        // either, and the page says so first, then shows the first notes and counts the rest.
        let mut objects = indicators(10_000);
        for o in &mut objects[9_700..] {
            o["pattern"] = json!("[domain-name:value = 'unterminated");
        }
        let before = fx.versions().await;
        let r = upload(app, &session, &csrf, &bundle(&objects)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        let html = r.text();
        assert!(html.contains("Created 0 ·"), "{backend}: {html}");
        assert!(html.contains("refused units 1"), "{backend}");
        assert!(
            html.contains("the bundle is stored whole or not at all: nothing of it was stored"),
            "{backend}"
        );
        assert!(
            html.contains(id(&objects[9_700])),
            "{backend}: the reason is shown"
        );
        assert_eq!(
            html.matches("<li><code>").count(),
            crate::import::NOTES_KEPT,
            "{backend}"
        );
        assert!(
            html.contains("Only the first 200 notes are shown; 101 more are not."),
            "{backend}"
        );
        assert_eq!(fx.versions().await - before, 0, "{backend}");
        assert!(!fx.stored(&objects[0]).await, "{backend}");
        assert!(!fx.stored(&objects[4_999]).await, "{backend}");
        // The refusal is audited, though its chunks' own records went with the transaction.
        let last = fx.store.audit_page(None, 1).await.expect("audit");
        assert_eq!(
            (last[0].action.as_str(), last[0].outcome.as_str()),
            ("object.import", "denied"),
            "{backend}"
        );
        assert!(
            last[0]
                .detail
                .starts_with("bundle refused whole after 10000 objects: "),
            "{backend}: {}",
            last[0].detail
        );
        assert_eq!(
            fx.store.audit_verify().await.expect("verify").first_broken,
            None,
            "{backend}"
        );

        // In zh-TW, each finding's meaning comes first, with the English detail after it.
        fx.store
            .set_user_locale(&fx.m1_analyst.id, isac_model::Locale::ZhTw)
            .await
            .expect("locale");
        let mut objects = indicators(3);
        objects[1]["pattern"] = json!("[domain-name:value = 'unterminated");
        let r = upload(app, &session, &csrf, &bundle(&objects)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        let html = r.text();
        assert!(
            html.contains(&format!(
                "{}: 不符合 STIX 2.1：pattern-syntax /pattern：STIX 偵測模式語法錯誤（",
                id(&objects[1])
            )),
            "{backend}: {html}"
        );
        assert!(!fx.stored(&objects[0]).await, "{backend}");
        // An audience naming a sharing group that does not exist, and TLP:RED sent to an org.
        let mut objects = indicators(2);
        let group = uuid::Uuid::new_v4().to_string();
        isac_stix::audience::write(
            objects[0].as_object_mut().expect("object"),
            &isac_stix::audience::Audience {
                groups: vec![group.clone()],
                ..Default::default()
            },
        );
        objects[1]["object_marking_refs"] = json!([isac_model::Tlp::Red.marking_id_v2()]);
        isac_stix::audience::write(
            objects[1].as_object_mut().expect("object"),
            &isac_stix::audience::Audience {
                orgs: vec![crate::intel::identity_id(&fx.m2.id)],
                ..Default::default()
            },
        );
        let r = upload(app, &session, &csrf, &bundle(&objects)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        let html = r.text();
        assert!(
            html.contains(&format!("分享對象群組 `{group}` 不存在")),
            "{backend}: {html}"
        );
        assert!(
            html.contains("TLP:RED 只分享給指名的使用者"),
            "{backend}: {html}"
        );
        let deleted = uuid::Uuid::new_v4().to_string();
        let event = json!({"Event": {
            "uuid": uuid::Uuid::new_v4().to_string(),
            "info": "zh-TW notes",
            "date": "2026-03-01",
            "timestamp": "1772323200",
            "distribution": "1",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"uuid": uuid::Uuid::new_v4().to_string(), "type": "domain",
                 "value": "zh-notes.example", "to_ids": true, "timestamp": "1772323200"},
                {"uuid": deleted, "type": "domain", "value": "gone.example",
                 "deleted": true, "timestamp": "1772323200"},
            ],
        }});
        let r = upload(app, &session, &csrf, event.to_string().as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(
            r.text().contains(&format!("{deleted}: 此屬性已刪除")),
            "{backend}: {}",
            r.text()
        );
        fx.store
            .set_user_locale(&fx.m1_analyst.id, isac_model::Locale::En)
            .await
            .expect("locale");

        // The same over a real connection, the body arriving in pieces.
        let objects = indicators(7_000);
        let before = fx.versions().await;
        let body = multipart(&[
            ("csrf", None, csrf.as_bytes()),
            ("file", Some("bundle.json"), &bundle(&objects)),
        ]);
        let (status, html) = post_over_loopback(app, &session, &body).await;
        assert_eq!(status, 200, "{backend}: {html}");
        assert!(html.contains("Created 7000 ·"), "{backend}");
        assert_eq!(fx.versions().await - before, 7_000, "{backend}");

        // A MISP event.
        let event = misp_event(
            &uuid::Uuid::new_v4().to_string(),
            "web upload",
            "misp-upload.example",
        );
        let before = fx.versions().await;
        let r = upload(app, &session, &csrf, event.to_string().as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(fx.versions().await > before, "{backend}");
    }
}

#[tokio::test]
async fn web_import_refuses_bad_uploads_storing_nothing() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (session, csrf) = m1_analyst_on_exchange(app).await;
        let before = fx.versions().await;
        let small = indicators(3);
        let file = bundle(&small);
        let audited_denial = async || {
            let last = &fx.store.audit_page(None, 1).await.expect("audit")[0];
            (last.action.clone(), last.outcome.clone())
        };

        // CSRF: missing, wrong, or after the file.
        let wrong = "0".repeat(64);
        for (what, fields) in [
            ("missing", vec![("file", Some("b.json"), file.as_slice())]),
            (
                "wrong",
                vec![
                    ("csrf", None, wrong.as_bytes()),
                    ("file", Some("b.json"), file.as_slice()),
                ],
            ),
            (
                "after the file",
                vec![
                    ("file", Some("b.json"), file.as_slice()),
                    ("csrf", None, csrf.as_bytes()),
                ],
            ),
        ] {
            let r = post_import(app, &session, multipart(&fields)).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend}: CSRF {what}");
            assert!(r.text().contains("<code>csrf</code>"), "{backend}: {what}");
            assert_eq!(
                audited_denial().await,
                ("access.denied".to_owned(), "denied".to_owned()),
                "{backend}: {what}"
            );
        }
        assert_eq!(
            fx.versions().await,
            before,
            "{backend}: CSRF refusals store nothing"
        );

        // Over the limit, at a small limit: 413 and nothing stored; under it, imported.
        let limit = 1024 * 1024;
        let (small_app, _) = crate::routes::build_with(
            AppState::new(
                fx.store.clone(),
                Config {
                    login_attempts_per_minute: 1000,
                    ..Config::default()
                },
            ),
            limit,
        );
        let over = indicators(3_000);
        let over_file = bundle(&over);
        assert!(over_file.len() > limit, "{}", over_file.len());
        let r = upload(&small_app, &session, &csrf, &over_file).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{backend}");
        let html = r.text();
        assert!(
            html.contains("The upload is larger than 1 MiB"),
            "{backend}: {html}"
        );
        assert!(html.contains("body_too_large"), "{backend}");
        assert_eq!(fx.versions().await, before, "{backend}: nothing stored");
        assert!(!fx.stored(&over[0]).await, "{backend}");
        let r = upload(&small_app, &session, &csrf, &file).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert_eq!(fx.versions().await - before, 3, "{backend}");
        let before = fx.versions().await;

        // At the cap of requests spooling to disk: an upload and a feed download get 503 and
        // store or write nothing; with a permit free again, both run.
        let state = AppState::new(
            fx.store.clone(),
            Config {
                login_attempts_per_minute: 1000,
                ..Config::default()
            },
        );
        let (busy_app, _) = crate::routes::build(state.clone());
        let held = state
            .spool
            .clone()
            .try_acquire_many_owned(crate::SPOOLS_AT_ONCE as u32)
            .expect("permits");
        let more = indicators(2);
        let audited = fx.store.audit_page(None, 1).await.expect("audit")[0].seq;
        let r = upload(&busy_app, &session, &csrf, &bundle(&more)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{backend}");
        assert!(r.text().contains("try again in a minute"), "{backend}");
        let r = send(
            &busy_app,
            with_session(Method::GET, "/export/misp-feed", &session, None),
        )
        .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{backend}");
        assert_eq!(fx.versions().await, before, "{backend}: nothing stored");
        assert_eq!(
            fx.store.audit_page(None, 1).await.expect("audit")[0].seq,
            audited,
            "{backend}: no export audited"
        );
        drop(held);
        let r = upload(&busy_app, &session, &csrf, &bundle(&more)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert_eq!(fx.versions().await - before, 2, "{backend}");
        let r = send(
            &busy_app,
            with_session(Method::GET, "/export/misp-feed", &session, None),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(
            state.spool.available_permits(),
            crate::SPOOLS_AT_ONCE,
            "{backend}: permits given back"
        );
        let before = fx.versions().await;

        // No file, an empty file, not JSON, a bundle cut off part-way (past its first chunk),
        // a form cut off part-way, not a form at all.
        let r = post_import(app, &session, multipart(&[("csrf", None, csrf.as_bytes())])).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert!(r.text().contains("Choose a file to import"), "{backend}");
        let r = upload(app, &session, &csrf, b"").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert!(r.text().contains("The file is empty"), "{backend}");
        let r = upload(app, &session, &csrf, b"\x89PNG not json at all").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert!(
            r.text()
                .contains("neither a STIX bundle, a STIX object nor a MISP event"),
            "{backend}"
        );
        let cut = indicators(6_000);
        let cut_file = bundle(&cut);
        let r = upload(app, &session, &csrf, &cut_file[..cut_file.len() * 9 / 10]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        let html = r.text();
        assert!(
            html.contains("not a readable STIX bundle"),
            "{backend}: {html}"
        );
        assert!(html.contains("Created 0 ·"), "{backend}");
        assert!(!fx.stored(&cut[0]).await, "{backend}: nothing of it stored");
        let mut broken = multipart(&[
            ("csrf", None, csrf.as_bytes()),
            ("file", Some("b.json"), &cut_file),
        ]);
        broken.truncate(broken.len() / 2);
        let r = post_import(app, &session, broken).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert!(r.text().contains("malformed or was cut off"), "{backend}");
        let r = send(
            app,
            with_session(
                Method::POST,
                "/import",
                &session,
                Some(&format!("csrf={csrf}&file=x")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert!(r.text().contains("not a file form"), "{backend}");
        assert_eq!(fx.versions().await, before, "{backend}: nothing stored");
    }
}

/// Every STIX validation code has its zh-TW meaning.
#[test]
fn every_stix_finding_code_is_described_in_zh_tw() {
    let missing: Vec<&str> = isac_stix::CODES
        .iter()
        .copied()
        .filter(|c| crate::i18n::stix_code_zh(c).is_none())
        .collect();
    assert!(missing.is_empty(), "no zh-TW meaning for {missing:?}");
}

/// RFC 4122 reads a UUID's hex digits in either case, and so does the OASIS validator (its own
/// example `infrastructure.json` has such an id): the id is stored as given, found by it, and a
/// relationship naming it connects.
#[tokio::test]
async fn ids_with_upper_case_uuid_digits_are_kept_as_given() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (session, csrf) = m1_analyst_on_exchange(app).await;
        let mut objects = indicators(2);
        objects[0]["id"] = json!("indicator--81F12913-1372-4C96-85EC-E9034AC98ABA");
        objects.push(json!({
            "type": "relationship", "spec_version": "2.1",
            "id": "relationship--81f12913-1372-4c96-85ec-E9034ac98aba",
            "created": "2026-03-01T00:00:00.000Z", "modified": "2026-03-01T00:00:00.000Z",
            "relationship_type": "related-to",
            "source_ref": objects[0]["id"], "target_ref": objects[1]["id"],
        }));
        let r = upload(app, &session, &csrf, &bundle(&objects)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(r.text().contains("Created 3 ·"), "{backend}: {}", r.text());
        for o in &objects {
            let got = fx
                .call(
                    Method::GET,
                    &format!("/api/v1/objects/{}", id(o)),
                    "m1_analyst",
                    None,
                )
                .await;
            assert_eq!(got.status, StatusCode::OK, "{backend}: {}", id(o));
            assert!(got.text().contains(id(o)), "{backend}");
        }
    }
}

/// A document that is one STIX object, not a bundle, is imported as a bundle of that object; a
/// broken one is refused with its reason and nothing is stored.
#[tokio::test]
async fn a_lone_object_is_imported_as_a_bundle_of_one() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (session, csrf) = m1_analyst_on_exchange(app).await;
        let o = &indicators(1)[0];
        let r = upload(app, &session, &csrf, &serde_json::to_vec_pretty(o).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(r.text().contains("Created 1 ·"), "{backend}: {}", r.text());
        assert!(fx.stored(o).await, "{backend}");
        let before = fx.versions().await;
        for (bad, why) in [
            (
                br#"{"type": "indicator", "name": "#.to_vec(),
                "not a readable STIX object",
            ),
            (
                br#"{"type": "indicator", "name": "x"}"#.to_vec(),
                "missing required property `id`",
            ),
        ] {
            let r = upload(app, &session, &csrf, &bad).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
            assert!(r.text().contains(why), "{backend}: {}", r.text());
        }
        // In zh-TW.
        fx.store
            .set_user_locale(&fx.m1_analyst.id, isac_model::Locale::ZhTw)
            .await
            .expect("locale");
        for (bad, why) in [
            (
                br#"{"type": "indicator", "name": "#.to_vec(),
                "無法讀取的 STIX 物件：",
            ),
            (
                b"\x89PNG not json at all".to_vec(),
                "既不是 STIX 套組、STIX 物件，也不是 MISP 事件",
            ),
            (
                br#"{"type": "bundle", "objects": [}"#.to_vec(),
                "無法讀取的 STIX 套組：",
            ),
        ] {
            let r = upload(app, &session, &csrf, &bad).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
            assert!(r.text().contains(why), "{backend}: {}", r.text());
        }
        assert_eq!(fx.versions().await, before, "{backend}");
    }
}

/// A bare JSON list of STIX objects and a saved TAXII 2.1 response are imported as bundles are;
/// a list with one invalid object stores none of it.
#[tokio::test]
async fn lists_of_objects_and_taxii_envelopes_are_imported_as_bundles() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (session, csrf) = m1_analyst_on_exchange(app).await;
        let objects = indicators(4);
        let list = serde_json::to_vec_pretty(&json!([objects[0], objects[1]])).unwrap();
        let r = upload(app, &session, &csrf, &list).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(r.text().contains("Created 2 ·"), "{backend}: {}", r.text());
        let envelope =
            serde_json::to_vec(&json!({"more": false, "objects": [objects[2], objects[3]]}))
                .unwrap();
        let r = upload(app, &session, &csrf, &envelope).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(r.text().contains("Created 2 ·"), "{backend}: {}", r.text());
        for o in &objects {
            assert!(fx.stored(o).await, "{backend}");
        }
        let before = fx.versions().await;
        let mut broken = indicators(6);
        broken[5].as_object_mut().unwrap().remove("pattern");
        let r = upload(
            app,
            &session,
            &csrf,
            &serde_json::to_vec(&json!(broken[4..])).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert!(r.text().contains("`pattern`"), "{backend}: {}", r.text());
        assert_eq!(
            fx.versions().await,
            before,
            "{backend}: nothing of it stored"
        );
    }
}

/// A tar archive of `files` (path, content); a path is written into the header as given, so a
/// test can name paths no well-behaved archiver writes.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let name = &mut h.as_mut_bytes()[..100];
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

/// A MISP feed archived with tar, as the web export writes it, is imported event by event; an
/// archive that is no feed is refused with nothing stored, and no archive path writes outside
/// the directory it is unpacked into.
#[tokio::test]
async fn web_import_takes_a_misp_feed_archive() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (session, csrf) = m1_analyst_on_exchange(app).await;
        let event_uuid = uuid::Uuid::new_v4().to_string();
        let event = misp_event(&event_uuid, "feed archive upload", "feed-archive.example");
        let manifest = json!({ &event_uuid: {
            "info": "feed archive upload", "date": "2026-03-01", "timestamp": "1772323200",
            "analysis": "1", "threat_level_id": "2", "Orgc": {"uuid": event_uuid, "name": "x"}, "Tag": [],
        }});
        let event_file = format!("isac-misp-feed/{event_uuid}.json");
        let evil = format!("../{event_uuid}-evil.json");
        let archive = tar_of(&[
            (
                "isac-misp-feed/manifest.json",
                manifest.to_string().as_bytes(),
            ),
            (&event_file, event.to_string().as_bytes()),
            (&evil, b"{}"),
            ("/tmp/isac-absolute-evil.json", b"{}"),
        ]);
        let before = fx.versions().await;
        let r = upload(app, &session, &csrf, &archive).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert!(fx.versions().await > before, "{backend}: {}", r.text());
        assert!(
            !std::path::Path::new("/tmp/isac-absolute-evil.json").exists(),
            "{backend}: an absolute path was written"
        );
        let found = fx
            .call(
                Method::GET,
                "/api/v1/search?q=feed-archive.example",
                "m1_analyst",
                None,
            )
            .await;
        assert!(found.text().contains("feed-archive.example"), "{backend}");
        // Again: every version is already stored.
        let before = fx.versions().await;
        let r = upload(app, &session, &csrf, &archive).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(fx.versions().await, before, "{backend}: idempotent");

        // The web export's own archive comes back unchanged, also for an object whose
        // `modified` has milliseconds, which MISP cuts to the second.
        let precise = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--{}", uuid::Uuid::new_v4()),
            "created": "2026-03-02T10:00:00.123Z", "modified": "2026-03-02T10:00:00.123Z",
            "name": "precise", "pattern": "[domain-name:value = 'precise.example']",
            "pattern_type": "stix", "valid_from": "2026-03-02T10:00:00Z",
        });
        let r = fx
            .call(
                Method::POST,
                "/api/v1/objects",
                "m1_analyst",
                Some(json!({"object": precise, "tlp": "green"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        let before = fx.versions().await;
        let feed = send(
            app,
            with_session(Method::GET, "/export/misp-feed", &session, None),
        )
        .await;
        assert_eq!(feed.status, StatusCode::OK, "{backend}");
        let r = upload(app, &session, &csrf, &feed.body).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        // The precise indicator keeps its one version; the only new object is the report that
        // its catch-all event becomes (docs/MISP.md, Round trips).
        let versions = fx
            .call(
                Method::GET,
                &format!("/api/v1/objects/{}/versions", id(&precise)),
                "m1_analyst",
                None,
            )
            .await;
        assert_eq!(
            versions.json().as_array().map(Vec::len),
            Some(1),
            "{backend}: {}",
            versions.text()
        );
        assert_eq!(fx.versions().await, before + 1, "{backend}: {}", r.text());
        let before = fx.versions().await;
        let r = upload(app, &session, &csrf, &feed.body).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert_eq!(
            fx.versions().await,
            before,
            "{backend}: the export re-imports unchanged"
        );

        // No manifest, or two feeds in one archive: refused, nothing stored.
        for bad in [
            tar_of(&[(&event_file, event.to_string().as_bytes())]),
            tar_of(&[
                ("a/manifest.json", manifest.to_string().as_bytes()),
                ("b/manifest.json", manifest.to_string().as_bytes()),
            ]),
        ] {
            let r = upload(app, &session, &csrf, &bad).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend}: {}",
                r.text()
            );
            assert!(
                r.text().contains("not a MISP feed"),
                "{backend}: {}",
                r.text()
            );
            assert_eq!(fx.versions().await, before, "{backend}: nothing stored");
        }
    }
}

/// TLP markings of other tools are read, not ignored: an object marked only with OpenCTI's
/// AMBER+STRICT, a definition of the bundle's own that declares a TLP, or a granular TLP
/// marking is stored at that level (never the default GREEN), in a bundle chunked as a large
/// one is; a definition declaring a level isac cannot read refuses its unit, storing nothing.
#[tokio::test]
async fn web_import_reads_tlp_markings_of_other_tools() {
    for (backend, store) in stores().await {
        let fx = fixture(store).await;
        let app = &fx.app;
        let (session, csrf) = m1_analyst_on_exchange(app).await;
        let objects = super::foreign_tlp_objects();
        // The definitions first, then enough plain indicators that the marked objects fall in
        // a later chunk than the definitions that mark them.
        let mut all: Vec<Value> = objects.iter().take(2).map(|(o, _)| o.clone()).collect();
        all.extend(indicators(isac_store::IMPORT_CHUNK));
        all.extend(objects.iter().skip(2).map(|(o, _)| o.clone()));
        let r = upload(app, &session, &csrf, &bundle(&all)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        fx.check_foreign_tlp(backend, &objects).await;
        // A later import of objects marked with those definitions, without them: the stored
        // definitions mark them.
        let later: Vec<(Value, Option<isac_model::Tlp>)> = objects
            .iter()
            .skip(2)
            .map(|(o, t)| {
                let mut o = o.clone();
                o["id"] = json!(format!("indicator--{}", uuid::Uuid::new_v4()));
                (o, *t)
            })
            .collect();
        let only: Vec<Value> = later.iter().map(|(o, _)| o.clone()).collect();
        let r = upload(app, &session, &csrf, &bundle(&only)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        fx.check_foreign_tlp(backend, &later).await;

        let before = fx.versions().await;
        let purple = format!("marking-definition--{}", uuid::Uuid::new_v4());
        let mut marked = indicators(2);
        marked[1]["object_marking_refs"] = json!([purple]);
        let r = upload(
            app,
            &session,
            &csrf,
            &bundle(&[
                json!({"type": "marking-definition", "spec_version": "2.1", "id": purple,
                       "created": "2026-03-01T00:00:00.000Z", "name": "TLP:PURPLE",
                       "definition_type": "statement", "definition": {"statement": "purple"}}),
                marked[0].clone(),
                marked[1].clone(),
            ]),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert!(
            r.text().contains("declares the TLP level `TLP:PURPLE`"),
            "{backend}: {}",
            r.text()
        );
        assert_eq!(fx.versions().await, before, "{backend}: nothing stored");
    }
}
