use std::net::IpAddr;

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::config::directory_url;
use crate::outbound::{AddressClass, IpNetwork, OutboundPolicy, ResolveError, classify};
use crate::push::envelopes;
use crate::{Auth, Error, ObjectFilter, ServerError, VersionMatch};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn classify_refuses_every_non_public_range() {
    let cases = [
        ("0.0.0.0", Some(AddressClass::Unspecified)),
        ("0.1.2.3", Some(AddressClass::Unspecified)),
        ("127.0.0.1", Some(AddressClass::Loopback)),
        ("127.255.0.9", Some(AddressClass::Loopback)),
        ("10.1.2.3", Some(AddressClass::Private)),
        ("172.16.0.1", Some(AddressClass::Private)),
        ("172.31.255.255", Some(AddressClass::Private)),
        ("192.168.1.1", Some(AddressClass::Private)),
        ("169.254.169.254", Some(AddressClass::LinkLocal)),
        ("100.64.0.1", Some(AddressClass::SharedAddressSpace)),
        ("100.127.255.254", Some(AddressClass::SharedAddressSpace)),
        ("224.0.0.1", Some(AddressClass::Multicast)),
        ("239.1.1.1", Some(AddressClass::Multicast)),
        ("255.255.255.255", Some(AddressClass::Broadcast)),
        ("240.0.0.1", Some(AddressClass::Reserved)),
        ("::", Some(AddressClass::Unspecified)),
        ("::1", Some(AddressClass::Loopback)),
        ("fc00::1", Some(AddressClass::Private)),
        ("fd12:3456::1", Some(AddressClass::Private)),
        ("fe80::1", Some(AddressClass::LinkLocal)),
        ("fec0::1", Some(AddressClass::Reserved)),
        ("ff02::1", Some(AddressClass::Multicast)),
        // IPv4 wrapped in IPv6 is judged by the IPv4 address.
        ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
        ("::ffff:10.0.0.1", Some(AddressClass::Private)),
        ("::10.0.0.1", Some(AddressClass::Private)),
        ("64:ff9b::a9fe:a9fe", Some(AddressClass::LinkLocal)),
        ("2002:c0a8:0101::1", Some(AddressClass::Private)),
        // Public addresses, including the edges next to the refused ranges.
        ("8.8.8.8", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        ("223.255.255.255", None),
        ("::ffff:8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("2002:0808:0808::1", None),
    ];
    for (addr, want) in cases {
        assert_eq!(classify(ip(addr)), want, "{addr}");
    }
}

#[test]
fn allow_list_and_allow_private_lift_the_rule() {
    let strict = OutboundPolicy::default();
    assert_eq!(strict.check(ip("10.20.1.1")), Some(AddressClass::Private));
    assert_eq!(strict.check(ip("8.8.8.8")), None);

    let lab = OutboundPolicy::allowing(["10.20.0.0/16".parse().unwrap()]);
    assert_eq!(lab.check(ip("10.20.1.1")), None);
    assert_eq!(lab.check(ip("::ffff:10.20.1.1")), None);
    assert_eq!(lab.check(ip("10.21.1.1")), Some(AddressClass::Private));
    assert_eq!(lab.check(ip("127.0.0.1")), Some(AddressClass::Loopback));

    assert_eq!(OutboundPolicy::allow_all().check(ip("127.0.0.1")), None);
}

#[test]
fn resolve_checks_names_and_literals_before_connecting() {
    let strict = OutboundPolicy::default();
    for netloc in ["127.0.0.1:80", "[::1]:80", "localhost:80"] {
        match strict.resolve(netloc) {
            Err(ResolveError::Refused(r)) => {
                assert_eq!(r.class, AddressClass::Loopback, "{netloc}");
                assert!(!r.host.contains(':') || r.host == "::1", "{}", r.host);
            }
            other => panic!("{netloc}: {other:?}"),
        }
    }
    let addrs = OutboundPolicy::allow_all().resolve("127.0.0.1:80").unwrap();
    assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
}

#[test]
fn networks_parse_and_match() {
    let net: IpNetwork = "192.168.7.9/16".parse().unwrap();
    assert_eq!(net.to_string(), "192.168.0.0/16");
    assert!(net.contains(ip("192.168.200.1")));
    assert!(!net.contains(ip("192.169.0.1")));
    let host: IpNetwork = "127.0.0.1".parse().unwrap();
    assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
    let any: IpNetwork = "0.0.0.0/0".parse().unwrap();
    assert!(any.contains(ip("1.2.3.4")) && !any.contains(ip("2001:db8::1")));
    let v6: IpNetwork = "fd00::/8".parse().unwrap();
    assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fc00::1")));
    for bad in [
        "10.0.0.0/33",
        "fd00::/129",
        "example.org/8",
        "10.0.0.0/x",
        "",
    ] {
        assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
    }
}

fn indicator(n: usize, pad: usize) -> serde_json::Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2025-01-01T00:00:00.000Z",
        "modified": "2025-01-01T00:00:00.000Z",
        "pattern": format!("[domain-name:value = '{}.example']", "x".repeat(pad)),
        "pattern_type": "stix",
        "valid_from": "2025-01-01T00:00:00Z",
    })
}

#[test]
fn envelopes_fit_the_limit_and_keep_every_object_in_order() {
    let objects: Vec<_> = (0..40).map(|n| indicator(n, n * 7)).collect();
    for limit in [700, 1000, 4096, 1 << 20] {
        let bodies = envelopes(&objects, limit).unwrap();
        let mut ids = Vec::new();
        for body in &bodies {
            assert!(body.len() <= limit, "{} > {limit}", body.len());
            let envelope: serde_json::Value = serde_json::from_slice(body).unwrap();
            for o in envelope["objects"].as_array().unwrap() {
                ids.push(o["id"].as_str().unwrap().to_owned());
            }
        }
        let want: Vec<_> = objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, want, "limit {limit}");
        if limit == 1 << 20 {
            assert_eq!(bodies.len(), 1);
        } else {
            assert!(bodies.len() > 1, "limit {limit}");
        }
    }
    assert!(envelopes(&[], 100).unwrap().is_empty());
    match envelopes(&[indicator(1, 500)], 300) {
        Err(Error::ObjectTooLarge { limit: 300, .. }) => {}
        other => panic!("{other:?}"),
    }
    match envelopes(&[indicator(1, 1), json!({"type": "x"})], 1000) {
        Err(Error::NotAnObject { index: 1 }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn filter_query_sends_every_parameter() {
    let t =
        Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::microseconds(890);
    let filter = ObjectFilter::new()
        .added_after(t)
        .id("indicator--a")
        .id("malware--b")
        .r#type("indicator")
        .version(VersionMatch::First)
        .version(VersionMatch::At(
            Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
        ))
        .spec_version("2.1");
    let q = filter.query(250);
    let get = |k: &str| q.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("added_after"), Some("2025-03-04T05:06:07.000890Z"));
    assert_eq!(get("limit"), Some("250"));
    assert_eq!(get("next"), None);
    assert_eq!(get("match[id]"), Some("indicator--a,malware--b"));
    assert_eq!(get("match[type]"), Some("indicator"));
    assert_eq!(get("match[version]"), Some("first,2025-01-01T00:00:00Z"));
    assert_eq!(get("match[spec_version]"), Some("2.1"));
    assert_eq!(
        ObjectFilter::new().limit(3).query(250),
        vec![("limit", "3".to_owned())]
    );
}

#[test]
fn server_errors_keep_the_taxii_error_resource() {
    let body = br#"{"title": "ProcessingError", "http_status": "403", "description": "Forbidden to read collection 'x'.", "error_code": "E1"}"#;
    let e = ServerError::from_body(403, "FORBIDDEN", body);
    assert!(e.taxii);
    assert_eq!(e.status, 403);
    assert_eq!(e.title, "ProcessingError");
    assert_eq!(
        e.description.as_deref(),
        Some("Forbidden to read collection 'x'.")
    );
    assert_eq!(e.http_status.as_deref(), Some("403"));
    assert_eq!(e.error_code.as_deref(), Some("E1"));

    let e = ServerError::from_body(401, "UNAUTHORIZED", b"Unauthorized Access");
    assert!(!e.taxii);
    assert_eq!(e.title, "UNAUTHORIZED");
    assert_eq!(e.description.as_deref(), Some("Unauthorized Access"));
    let long = "x".repeat(5000);
    let e = ServerError::from_body(500, "ERR", long.as_bytes());
    assert_eq!(e.description.unwrap().len(), 200);
}

#[test]
fn endpoint_urls_are_directories_without_credentials() {
    assert_eq!(
        directory_url("https://taxii.example/taxii2")
            .unwrap()
            .as_str(),
        "https://taxii.example/taxii2/"
    );
    assert_eq!(
        directory_url("http://127.0.0.1:5000/api1/")
            .unwrap()
            .as_str(),
        "http://127.0.0.1:5000/api1/"
    );
    for bad in [
        "ftp://taxii.example/",
        "https://user:pw@taxii.example/taxii2/",
        "https://taxii.example/taxii2/?x=1",
        "not a url",
    ] {
        assert!(
            matches!(directory_url(bad), Err(Error::InvalidUrl { .. })),
            "{bad}"
        );
    }
}

#[test]
fn out_of_range_settings_are_refused() {
    let config = || crate::ClientConfig::new("https://taxii.example/taxii2/").unwrap();
    assert!(crate::Client::new(config()).is_ok());
    for bad in [
        config().page_limit(0),
        config().max_response_bytes(0),
        config().timeout(std::time::Duration::ZERO),
    ] {
        assert!(matches!(
            crate::Client::new(bad),
            Err(Error::InvalidConfig(_))
        ));
    }
}

#[test]
fn auth_debug_hides_secrets() {
    let basic = format!("{:?}", Auth::basic("alice", "s3cret"));
    assert!(basic.contains("alice") && !basic.contains("s3cret"));
    assert!(!format!("{:?}", Auth::bearer("tok-123")).contains("tok-123"));
    assert_eq!(
        Auth::basic("alice", "s3cret").header().as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );
    assert_eq!(Auth::bearer("t").header().as_deref(), Some("Bearer t"));
}
