//! Tests of the mapping, the audience rules, round trips and the feed format. Interop with the
//! real PyMISP and the OASIS validator is in `tests/interop.rs`.

mod analyst;
mod galaxy;
mod interop;
mod links;
mod reports;
mod robust;
mod split;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;

use isac_model::Tlp;
use serde_json::{Map, Value, json};

use super::*;

const EV: &str = "5f3c1c4e-8a3b-4b6e-9d7f-0a1b2c3d4e5f";
const ORG: &str = "55f6ea5e-2c60-40e5-964f-47a8950d210f";
const SG_A: &str = "11111111-2222-4333-8444-555555555555";
const SG_B: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

fn event(extra: Value, attrs: Value) -> Value {
    let mut e = json!({
        "uuid": EV,
        "info": "Test event",
        "date": "2024-05-01",
        "timestamp": "1714560000",
        "threat_level_id": "2",
        "analysis": "1",
        "Orgc": { "uuid": ORG, "name": "Example CERT" },
        "Attribute": attrs,
    });
    if let (Value::Object(e), Value::Object(x)) = (&mut e, extra) {
        e.extend(x);
    }
    json!({ "Event": e })
}

fn attr(uuid: &str, ty: &str, value: &str, to_ids: bool) -> Value {
    json!({ "uuid": uuid, "type": ty, "value": value, "to_ids": to_ids, "category": "Network activity", "timestamp": "1714563600" })
}

fn import(v: &Value) -> Import {
    import_event(v, &ImportOptions::default()).expect("an event")
}

fn by_id<'a>(i: &'a Import, id: &str) -> &'a StixItem {
    i.objects
        .iter()
        .find(|o| o.id() == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", i.objects))
}

fn main_object(ty: &str, value: &str, to_ids: bool) -> (Import, StixItem) {
    let u = "0f50fc0a-a118-4b22-8aee-3ee8c05bb450";
    let i = import(&event(json!({}), json!([attr(u, ty, value, to_ids)])));
    let o = i
        .objects
        .iter()
        .find(|o| o.id().ends_with(u))
        .cloned()
        .unwrap_or_else(|| panic!("{ty}: no object from the attribute: {:#?}", i.diagnostics));
    (i, o)
}

const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
const SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const TLSH: &str = "A4F0E1F4B8B1D06E4AAE3A1E7D9E9C9C8F0F7A4B2C1D0E9F8A7B6C5D4E3F2A1B0C9D8E";
const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Every mapped attribute type, its value, and the pattern of its indicator.
fn pattern_cases() -> Vec<(&'static str, String, String)> {
    let sha512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    let sha3 = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";
    let mut v: Vec<(&str, String, String)> = vec![
        ("ip-dst", "198.51.100.7".into(), "[ipv4-addr:value = '198.51.100.7']".into()),
        ("ip-src", "198.51.100.8".into(), "[ipv4-addr:value = '198.51.100.8']".into()),
        ("ip-dst", "2001:db8::1".into(), "[ipv6-addr:value = '2001:db8::1']".into()),
        ("ip-src", "203.0.113.0/24".into(), "[ipv4-addr:value = '203.0.113.0/24']".into()),
        (
            "ip-dst|port",
            "198.51.100.7|443".into(),
            "[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 443]".into(),
        ),
        (
            "ip-src|port",
            "2001:db8::2|5353".into(),
            "[network-traffic:src_ref.value = '2001:db8::2' AND network-traffic:src_port = 5353]".into(),
        ),
        (
            "hostname|port",
            "mail.evil.example|25".into(),
            "[network-traffic:dst_ref.value = 'mail.evil.example' AND network-traffic:dst_port = 25]".into(),
        ),
        ("domain", "evil.example".into(), "[domain-name:value = 'evil.example']".into()),
        ("hostname", "www.evil.example".into(), "[domain-name:value = 'www.evil.example']".into()),
        (
            "domain|ip",
            "evil.example|198.51.100.7".into(),
            "[domain-name:value = 'evil.example' AND domain-name:resolves_to_refs[*].value = '198.51.100.7']".into(),
        ),
        (
            "url",
            "http://evil.example/a?b='c'".into(),
            r"[url:value = 'http://evil.example/a?b=\'c\'']".into(),
        ),
        ("uri", "/gate.php".into(), "[url:value = '/gate.php']".into()),
        ("link", "https://blog.example/post".into(), "[url:value = 'https://blog.example/post']".into()),
        ("md5", MD5.into(), format!("[file:hashes.'MD5' = '{MD5}']")),
        ("sha1", SHA1.into(), format!("[file:hashes.'SHA-1' = '{SHA1}']")),
        ("sha256", SHA256.into(), format!("[file:hashes.'SHA-256' = '{SHA256}']")),
        ("sha512", sha512.into(), format!("[file:hashes.'SHA-512' = '{sha512}']")),
        ("sha3-256", sha3.into(), format!("[file:hashes.'SHA3-256' = '{sha3}']")),
        (
            "ssdeep",
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C".into(),
            "[file:hashes.'SSDEEP' = '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C']".into(),
        ),
        (
            "tlsh",
            format!("T1{TLSH}"),
            format!("[file:hashes.'TLSH' = '{TLSH}']"),
        ),
        (
            "filename|md5",
            format!("invoice.exe|{MD5}"),
            format!("[file:name = 'invoice.exe' AND file:hashes.'MD5' = '{MD5}']"),
        ),
        (
            "filename|sha1",
            format!("a b.dll|{SHA1}"),
            format!("[file:name = 'a b.dll' AND file:hashes.'SHA-1' = '{SHA1}']"),
        ),
        (
            "filename|sha256",
            format!("x.js|{SHA256}"),
            format!("[file:name = 'x.js' AND file:hashes.'SHA-256' = '{SHA256}']"),
        ),
        ("filename", "invoice.pdf.exe".into(), "[file:name = 'invoice.pdf.exe']".into()),
        ("email", "a@evil.example".into(), "[email-addr:value = 'a@evil.example']".into()),
        (
            "email-src",
            "b@evil.example".into(),
            "[email-message:from_ref.value = 'b@evil.example']".into(),
        ),
        (
            "email-dst",
            "c@bank.example".into(),
            "[email-message:to_refs[*].value = 'c@bank.example']".into(),
        ),
        (
            "email-subject",
            "Your invoice".into(),
            "[email-message:subject = 'Your invoice']".into(),
        ),
        ("mutex", r"Global\evil".into(), r"[mutex:name = 'Global\\evil']".into()),
        (
            "regkey",
            r"HKLM\Software\Run".into(),
            r"[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\Software\\Run']".into(),
        ),
        (
            "regkey|value",
            r"HKLM\Software\Run|evil.exe".into(),
            r"[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\Software\\Run' AND windows-registry-key:values[*].data = 'evil.exe']".into(),
        ),
        ("AS", "AS64500".into(), "[autonomous-system:number = 64500]".into()),
        ("AS", "64501".into(), "[autonomous-system:number = 64501]".into()),
        (
            "mac-address",
            "00-11-22-AA-BB-CC".into(),
            "[mac-addr:value = '00:11:22:aa:bb:cc']".into(),
        ),
        (
            "user-agent",
            "Mozilla/5.0 (evil)".into(),
            "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla/5.0 (evil)']".into(),
        ),
        (
            "x509-fingerprint-sha1",
            SHA1.into(),
            format!("[x509-certificate:hashes.'SHA-1' = '{SHA1}']"),
        ),
        (
            "x509-fingerprint-md5",
            MD5.into(),
            format!("[x509-certificate:hashes.'MD5' = '{MD5}']"),
        ),
        ("port", "8080".into(), "[network-traffic:dst_port = 8080]".into()),
    ];
    v.sort_by_key(|c| c.0);
    v
}

#[test]
fn every_mapped_type_has_a_pattern_case() {
    let cases = pattern_cases();
    for (t, _) in mapped_types() {
        if [
            "sha3-512",
            "filename|sha512",
            "filename|sha3-256",
            "filename|sha3-512",
            "filename|ssdeep",
            "filename|tlsh",
            "x509-fingerprint-sha256",
        ]
        .contains(&t)
        {
            continue;
        }
        assert!(cases.iter().any(|c| c.0 == t), "no pattern case for {t}");
    }
}

#[test]
fn indicators_for_to_ids_attributes() {
    for (ty, value, pattern) in pattern_cases() {
        let (i, o) = main_object(ty, &value, true);
        assert_eq!(o.stix_type(), "indicator", "{ty}: {:?}", i.diagnostics);
        assert_eq!(o.object["pattern"], pattern, "{ty} {value}");
        assert_eq!(o.object["pattern_type"], "stix");
        assert_eq!(o.object["valid_from"], "2024-05-01T11:40:00.000Z");
        assert_eq!(o.object["created"], "2024-05-01T11:40:00.000Z");
        let ext = &o.object["extensions"][MISP_EXTENSION_ID];
        assert_eq!(ext["attribute_type"], ty);
        assert_eq!(ext["value"], value.as_str());
        assert!(i.diagnostics.is_empty(), "{ty}: {:?}", i.diagnostics);
    }
}

#[test]
fn observables_for_other_attributes() {
    let expect: &[(&str, &str, &[&str])] = &[
        ("ip-dst", "198.51.100.7", &["ipv4-addr"]),
        ("ip-src", "2001:db8::1", &["ipv6-addr"]),
        (
            "ip-dst|port",
            "198.51.100.7|443",
            &["ipv4-addr", "network-traffic"],
        ),
        (
            "hostname|port",
            "mx.evil.example|25",
            &["domain-name", "network-traffic"],
        ),
        (
            "domain|ip",
            "evil.example|198.51.100.7",
            &["ipv4-addr", "domain-name"],
        ),
        ("domain", "evil.example", &["domain-name"]),
        ("url", "http://evil.example/x", &["url"]),
        ("md5", MD5, &["file"]),
        (
            "filename|sha256",
            "a.exe|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            &["file"],
        ),
        ("email-src", "a@evil.example", &["email-addr"]),
        ("email-subject", "Invoice", &["email-message"]),
        ("mutex", "m", &["mutex"]),
        ("regkey|value", r"HKLM\Run|x", &["windows-registry-key"]),
        ("AS", "AS64500", &["autonomous-system"]),
        ("mac-address", "00:11:22:aa:bb:cc", &["mac-addr"]),
        ("x509-fingerprint-sha1", SHA1, &["x509-certificate"]),
    ];
    for (ty, value, scos) in expect {
        let (i, o) = main_object(ty, value, false);
        assert_eq!(o.stix_type(), "observed-data", "{ty}");
        let refs: Vec<&str> = o.object["object_refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let types: Vec<&str> = refs.iter().map(|r| r.split("--").next().unwrap()).collect();
        assert_eq!(&types, scos, "{ty}");
        for r in refs {
            let sco = by_id(&i, r);
            assert_eq!(sco.tlp, Tlp::Green);
            assert!(sco.object.get("created").is_none(), "SCOs have no created");
        }
        assert_eq!(o.object["first_observed"], "2024-05-01T11:40:00.000Z");
        assert_eq!(o.object["number_observed"], 1);
    }
}

#[test]
fn sco_ids_are_the_stix_deterministic_ids() {
    // Ids computed with the OASIS `stix2` library (3.0.2) for the same objects.
    let cases = [
        (
            "ip-dst",
            "198.51.100.7",
            "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db",
        ),
        (
            "filename|md5",
            "a.exe|d41d8cd98f00b204e9800998ecf8427e",
            "file--7e567502-8994-53ff-9c69-79240cae362d",
        ),
        (
            "domain",
            "bücher.example",
            "domain-name--dbf3aff2-b3cd-57d2-9616-0ddfde9d01ad",
        ),
        (
            "AS",
            "AS64500",
            "autonomous-system--0a5f7072-df00-5729-9f0a-4eb18631a446",
        ),
        (
            "email-subject",
            "Invoice",
            "email-message--8f656aac-09e0-587a-ba9f-662edac87054",
        ),
    ];
    for (ty, value, id) in cases {
        let (i, o) = main_object(ty, value, false);
        assert_eq!(o.object["object_refs"], json!([id]), "{ty}");
        by_id(&i, id);
    }
}

#[test]
fn domain_objects_and_notes() {
    let (_, v) = main_object("vulnerability", "cve-2024-3400", false);
    assert_eq!(v.stix_type(), "vulnerability");
    assert_eq!(v.object["name"], "CVE-2024-3400");
    assert_eq!(
        v.object["external_references"][0]["external_id"],
        "CVE-2024-3400"
    );
    let (_, t) = main_object("threat-actor", "APT-X", false);
    assert_eq!(t.stix_type(), "threat-actor");
    assert_eq!(t.object["name"], "APT-X");
    let (_, c) = main_object("campaign-name", "Op Y", false);
    assert_eq!(c.stix_type(), "campaign");
    for ty in ["text", "comment", "other"] {
        let (i, n) = main_object(ty, "free text", false);
        assert_eq!(n.stix_type(), "note");
        assert_eq!(n.object["content"], "free text");
        assert_eq!(n.object["object_refs"][0], format!("report--{EV}"));
        assert!(i.diagnostics.is_empty());
    }
}

#[test]
fn unmapped_types_become_notes_that_keep_the_value() {
    for (ty, to_ids) in [
        ("ja3-fingerprint-md5", true),
        ("btc", false),
        ("sha224", true),
    ] {
        let (i, n) = main_object(ty, "abc123", to_ids);
        assert_eq!(n.stix_type(), "note", "{ty}");
        assert_eq!(n.object["abstract"], format!("MISP {ty} attribute"));
        let ext = &n.object["extensions"][MISP_EXTENSION_ID];
        assert_eq!(ext["attribute_type"], ty);
        assert_eq!(ext["value"], "abc123");
        assert_eq!(ext["to_ids"], to_ids);
        assert!(i.diagnostics.is_empty());
    }
    // Observable types STIX cannot hold without a pattern are kept as notes, with a diagnostic.
    for ty in ["user-agent", "port"] {
        let value = if ty == "port" { "80" } else { "curl/8" };
        let (i, n) = main_object(ty, value, false);
        assert_eq!(n.stix_type(), "note");
        assert_eq!(i.diagnostics.len(), 1);
        assert_eq!(i.diagnostics[0].level, Level::Warning);
    }
}

#[test]
fn invalid_values_are_reported_with_the_attribute_uuid() {
    for (ty, value) in [
        ("ip-dst", "not-an-ip"),
        ("ip-dst", "10.0.0.0/40"),
        ("md5", "xyz"),
        ("AS", "ASX"),
        ("ip-dst|port", "198.51.100.7"),
        ("ip-dst|port", "198.51.100.7|99999"),
        ("mac-address", "00:11"),
        ("domain", "a b"),
        ("hostname|port", "198.51.100.1|80"),
    ] {
        let (i, n) = main_object(ty, value, true);
        assert_eq!(n.stix_type(), "note", "{ty} {value}");
        assert_eq!(i.diagnostics.len(), 1, "{ty} {value}");
        let d = &i.diagnostics[0];
        assert_eq!(d.level, Level::Warning);
        assert_eq!(
            d.element.as_deref(),
            Some("0f50fc0a-a118-4b22-8aee-3ee8c05bb450")
        );
        assert!(d.reason.contains("invalid"), "{}", d.reason);
    }
}

#[test]
fn deleted_and_empty_attributes_are_skipped_with_a_reason() {
    let i = import(&event(
        json!({}),
        json!([
            { "uuid": "a1", "type": "ip-dst", "value": "198.51.100.1", "deleted": true },
            { "uuid": "a2", "type": "ip-dst", "value": "" },
            { "type": "domain", "value": "no-uuid.example", "to_ids": true },
        ]),
    ));
    let skipped: Vec<_> = i
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Skipped)
        .map(|d| d.element.clone().unwrap())
        .collect();
    assert_eq!(skipped, ["a1", "a2"]);
    // The attribute without uuid is kept, with a derived and stable id.
    let ind: Vec<_> = i
        .objects
        .iter()
        .filter(|o| o.stix_type() == "indicator")
        .collect();
    assert_eq!(ind.len(), 1);
    let again = import(&event(
        json!({}),
        json!([{ "type": "domain", "value": "no-uuid.example", "to_ids": true }]),
    ));
    assert!(again.objects.iter().any(|o| o.id() == ind[0].id()));
}

#[test]
fn event_parts_outside_the_mapping_are_named() {
    let i = import(&event(
        json!({ "Galaxy": [{ "name": "Threat Actor" }], "CryptographicKey": [{}, {}], "Object": [{
            "uuid": "208bee57-39fa-49ce-91c7-8849adfcd5b9", "name": "domain-ip",
            "Attribute": [], "ObjectReference": [{ "referenced_uuid": "x", "relationship_type": "resolves-to" }] }] }),
        json!([]),
    ));
    let reasons: Vec<&str> = i.diagnostics.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "the `resolves-to` object reference is not converted: its MISP object 208bee57-39fa-49ce-91c7-8849adfcd5b9 has no converted attribute",
            "2 CryptographicKey entries of the event are not converted",
        ]
    );
    // Each remark is written in zh-TW too, for the web UI.
    let zh: Vec<&str> = i
        .diagnostics
        .iter()
        .map(|d| d.reason_zh.as_deref().expect("zh-TW"))
        .collect();
    assert_eq!(
        zh,
        [
            "`resolves-to` 物件參照未轉換：其 MISP 物件 208bee57-39fa-49ce-91c7-8849adfcd5b9 沒有已轉換的屬性",
            "事件的 2 筆 CryptographicKey 項目未轉換"
        ]
    );
}

#[test]
fn report_for_the_event() {
    let i = import(&event(
        json!({ "Tag": [{ "name": "tlp:green" }, { "name": "type:OSINT" }], "published": true, "publish_timestamp": "1714570000" }),
        json!([attr(
            "0f50fc0a-a118-4b22-8aee-3ee8c05bb450",
            "ip-dst",
            "198.51.100.7",
            true
        )]),
    ));
    let r = &i.objects[0];
    assert_eq!(r.id(), format!("report--{EV}"));
    assert_eq!(r.object["name"], "Test event");
    assert_eq!(r.object["published"], "2024-05-01T13:26:40.000Z");
    assert_eq!(r.object["created"], "2024-05-01T00:00:00.000Z");
    assert_eq!(r.object["modified"], "2024-05-01T10:40:00.000Z");
    assert_eq!(r.object["labels"], json!(["type:OSINT"]));
    assert_eq!(r.object["created_by_ref"], format!("identity--{ORG}"));
    assert_eq!(
        r.object["object_refs"],
        json!(["indicator--0f50fc0a-a118-4b22-8aee-3ee8c05bb450"])
    );
    // Unpublished: the event date.
    let i = import(&event(
        json!({ "published": false, "publish_timestamp": "0" }),
        json!([]),
    ));
    assert_eq!(i.objects[0].object["published"], "2024-05-01T00:00:00.000Z");
    assert_eq!(
        i.objects[0].object["object_refs"],
        json!([format!("identity--{ORG}")])
    );
    // Wrapped forms.
    let bare = import(&event(json!({}), json!([]))["Event"]);
    let resp = import(&json!({ "response": [event(json!({}), json!([]))] }));
    assert_eq!(bare, resp);
    assert!(
        import_event(
            &json!({ "Event": { "info": "x" } }),
            &ImportOptions::default()
        )
        .is_err()
    );
    assert!(import_event_json(b"not json", &ImportOptions::default()).is_err());
}

/// Feeds written by other tools carry uuids that MISP takes (32 hex digits) but that are not RFC
/// 4122 UUIDs of version 1 to 5 (version nibble 2, 3 or 7 with an NCS or Microsoft variant):
/// each becomes a name-based UUID, the same whatever its letter case, so the event imports as
/// valid STIX with its references intact.
#[test]
fn uuids_that_are_not_rfc_4122_become_name_based_ones() {
    let ev_uuid = "1cccb622-ea9f-7533-674f-bd43ede7018b";
    let a1 = "a3361a05-81a9-283e-cb38-7842f5e620c3";
    let a2 = "de93d714-b12f-3df0-cbb7-41ef2e3e00fa";
    let obj = "8093f016-058d-9c18-f713-8323bf3472bd";
    let mut doc = event(
        json!({ "Tag": [{ "name": "tlp:green" }] }),
        json!([
            attr(a1, "ip-dst", "198.51.100.7", true),
            attr(
                &a2.to_ascii_uppercase(),
                "comment",
                "seen in phishing",
                false
            ),
        ]),
    );
    doc["Event"]["uuid"] = json!(ev_uuid);
    doc["Event"]["Object"] = json!([{
        "uuid": obj, "name": "domain-ip", "meta-category": "network", "timestamp": "1714563600",
        "Attribute": [
            { "uuid": "f7f3bf2a-3f7e-0d3f-1c1e-0a5e1f6f0a77", "type": "domain", "object_relation": "domain",
              "value": "evil.example", "to_ids": true, "category": "Network activity", "timestamp": "1714563600" },
        ],
        "ObjectReference": [{ "uuid": "0e5f4c3b-2a19-6807-f6e5-d4c3b2a19080", "referenced_uuid": a1.to_ascii_uppercase(),
            "relationship_type": "resolves-to", "timestamp": "1714563600" }],
    }]);
    let i = import(&doc);
    assert_eq!(i, import(&doc), "deterministic");
    for o in &i.objects {
        let diags = isac_stix::validate(&o.object);
        assert!(isac_stix::is_valid(&diags), "{}: {diags:?}", o.id());
    }
    let report = format!("report--{}", stix_uuid(ev_uuid));
    assert_ne!(report, format!("report--{ev_uuid}"));
    let r = by_id(&i, &report);
    let refs = r.object["object_refs"].as_array().unwrap();
    // Attribute ids are the same whether the uuid is written in capitals or not.
    assert_eq!(stix_uuid(a2), stix_uuid(&a2.to_ascii_uppercase()));
    for id in [
        format!("indicator--{}", stix_uuid(a1)),
        format!("note--{}", stix_uuid(a2)),
    ] {
        by_id(&i, &id);
        assert!(refs.contains(&json!(id)), "{id} in {refs:?}");
    }
    // The object's reference to the first attribute reaches it.
    let target = format!("indicator--{}", stix_uuid(a1));
    assert!(
        i.objects
            .iter()
            .any(|o| o.object["type"] == "relationship" && o.object["target_ref"] == json!(target)),
        "{:#?}",
        i.objects
    );
}

#[test]
fn ids_and_timestamps_are_deterministic() {
    let doc = event(
        json!({ "Tag": [{ "name": "tlp:amber" }] }),
        json!([
            attr(
                "0f50fc0a-a118-4b22-8aee-3ee8c05bb450",
                "ip-dst",
                "198.51.100.7",
                true
            ),
            attr("not-a-uuid", "domain", "evil.example", false),
            attr(
                "CA72E2D9-6C75-40DA-98D9-C059473ED75D",
                "text",
                "hello",
                false
            ),
        ]),
    );
    let a = import(&doc);
    let b = import(&doc);
    assert_eq!(a, b);
    let ids: Vec<&str> = a.objects.iter().map(StixItem::id).collect();
    assert!(ids.contains(&"indicator--0f50fc0a-a118-4b22-8aee-3ee8c05bb450"));
    assert!(ids.contains(&"note--ca72e2d9-6c75-40da-98d9-c059473ed75d"));
    let derived = format!("observed-data--{}", stix_uuid("not-a-uuid"));
    assert!(ids.contains(&derived.as_str()));
    assert_eq!(stix_uuid("not-a-uuid"), stix_uuid("not-a-uuid"));
    for o in &a.objects {
        for k in ["created", "modified", "valid_from", "first_observed"] {
            if let Some(t) = o.object.get(k).and_then(Value::as_str) {
                assert_eq!(t.len(), 24, "{t}");
                assert!(t.ends_with('Z'));
            }
        }
    }
}

#[test]
fn an_event_without_any_time_is_dated_at_the_epoch_with_a_warning() {
    let mut doc = event(
        json!({}),
        json!([{ "uuid": "0f50fc0a-a118-4b22-8aee-3ee8c05bb450", "type": "ip-dst",
                 "value": "198.51.100.7", "to_ids": true, "category": "Network activity" }]),
    );
    let e = doc["Event"].as_object_mut().unwrap();
    e.remove("timestamp");
    e.remove("date");
    let i = import(&doc);
    let warned = |i: &Import| {
        i.diagnostics
            .iter()
            .any(|d| d.level == Level::Warning && d.reason.contains("no timestamp and no date"))
    };
    assert!(warned(&i), "{:#?}", i.diagnostics);
    let indicator = by_id(&i, "indicator--0f50fc0a-a118-4b22-8aee-3ee8c05bb450");
    assert_eq!(indicator.object["modified"], "1970-01-01T00:00:00.000Z");
    assert_eq!(import(&doc), i, "the same every time");
    // With a date, or a timestamp, no warning.
    for keep in ["date", "timestamp"] {
        let mut d = event(json!({}), json!([]));
        d["Event"]
            .as_object_mut()
            .unwrap()
            .remove(if keep == "date" { "timestamp" } else { "date" });
        assert!(!warned(&import(&d)), "{keep}");
    }
}

struct Case {
    event_tags: &'static [&'static str],
    event_dist: Option<u8>,
    event_sg: Option<&'static str>,
    attr_tags: &'static [&'static str],
    attr_dist: Option<u8>,
    attr_sg: Option<&'static str>,
    event_tlp: Tlp,
    attr_tlp: Tlp,
    attr_recipients: &'static [&'static str],
    warning: bool,
}

const BASE: Case = Case {
    event_tags: &[],
    event_dist: None,
    event_sg: None,
    attr_tags: &[],
    attr_dist: None,
    attr_sg: None,
    event_tlp: Tlp::Green,
    attr_tlp: Tlp::Green,
    attr_recipients: &[],
    warning: false,
};

fn sg(uuid: &str) -> Value {
    let name = if uuid == SG_A {
        "Systemic banks"
    } else {
        "Securities"
    };
    json!({ "uuid": uuid, "name": name })
}

fn run_case(n: usize, c: &Case) {
    let mut extra =
        json!({ "Tag": c.event_tags.iter().map(|t| json!({ "name": t })).collect::<Vec<_>>() });
    if let Some(d) = c.event_dist {
        extra["distribution"] = d.to_string().into();
    }
    if let Some(g) = c.event_sg {
        extra["SharingGroup"] = sg(g);
        extra["sharing_group_id"] = "3".into();
    }
    let mut a = attr(
        "0f50fc0a-a118-4b22-8aee-3ee8c05bb450",
        "ip-dst",
        "198.51.100.7",
        true,
    );
    a["Tag"] = c.attr_tags.iter().map(|t| json!({ "name": t })).collect();
    if let Some(d) = c.attr_dist {
        a["distribution"] = d.into();
    }
    if let Some(g) = c.attr_sg {
        a["SharingGroup"] = sg(g);
    }
    let i = import(&event(extra, json!([a])));
    assert_eq!(i.audience.tlp, c.event_tlp, "case {n}: event");
    assert_eq!(i.objects[0].tlp, c.event_tlp, "case {n}: report");
    let ind = &i.objects[1];
    assert_eq!(ind.tlp, c.attr_tlp, "case {n}: attribute");
    assert_eq!(
        ind.object["object_marking_refs"],
        json!([c.attr_tlp.marking_id_v2()]),
        "case {n}"
    );
    let rec: Vec<&str> = ind
        .recipients
        .iter()
        .filter_map(|r| r.uuid.as_deref())
        .collect();
    assert_eq!(rec, c.attr_recipients, "case {n}: recipients");
    assert_eq!(
        !i.diagnostics.is_empty(),
        c.warning,
        "case {n}: {:?}",
        i.diagnostics
    );
    assert!(
        ind.tlp.breadth() <= i.audience.tlp.breadth(),
        "case {n}: wider than the event"
    );
}

#[test]
fn audience_rules() {
    use Tlp::*;
    let cases = [
        // Unmarked: the default (GREEN), narrowed by the distribution.
        Case { ..BASE },
        Case {
            event_dist: Some(0),
            event_tlp: AmberStrict,
            attr_tlp: AmberStrict,
            ..BASE
        },
        Case {
            event_dist: Some(1),
            event_tlp: Amber,
            attr_tlp: Amber,
            ..BASE
        },
        Case {
            event_dist: Some(2),
            ..BASE
        },
        Case {
            event_dist: Some(3),
            ..BASE
        },
        Case {
            event_dist: Some(5),
            ..BASE
        },
        // TLP tags, in any case and in their 1.0 names.
        Case {
            event_tags: &["tlp:clear"],
            event_dist: Some(3),
            event_tlp: Clear,
            attr_tlp: Clear,
            ..BASE
        },
        Case {
            event_tags: &["TLP:WHITE"],
            event_tlp: Clear,
            attr_tlp: Clear,
            ..BASE
        },
        Case {
            event_tags: &["tlp:clear"],
            event_dist: Some(2),
            ..BASE
        },
        Case {
            event_tags: &["tlp:green"],
            event_dist: Some(0),
            event_tlp: AmberStrict,
            attr_tlp: AmberStrict,
            ..BASE
        },
        Case {
            event_tags: &["Tlp:Amber+Strict"],
            event_tlp: AmberStrict,
            attr_tlp: AmberStrict,
            ..BASE
        },
        Case {
            event_tags: &["tlp:amber", "tlp:red"],
            event_tlp: Red,
            attr_tlp: Red,
            ..BASE
        },
        Case {
            event_tags: &["tlp:ex:chr"],
            ..BASE
        },
        // Sharing groups become recipients of AMBER.
        Case {
            event_dist: Some(4),
            event_sg: Some(SG_A),
            event_tlp: Amber,
            attr_tlp: Amber,
            attr_recipients: &[SG_A],
            ..BASE
        },
        Case {
            event_tags: &["tlp:amber+strict"],
            event_dist: Some(4),
            event_sg: Some(SG_A),
            event_tlp: AmberStrict,
            attr_tlp: AmberStrict,
            attr_recipients: &[SG_A],
            ..BASE
        },
        Case {
            event_tags: &["tlp:red"],
            event_dist: Some(4),
            event_sg: Some(SG_A),
            event_tlp: Red,
            attr_tlp: Red,
            ..BASE
        },
        Case {
            event_dist: Some(4),
            event_tlp: Amber,
            attr_tlp: Amber,
            warning: true,
            ..BASE
        },
        // An attribute is never wider than its event.
        Case {
            event_tags: &["tlp:amber"],
            attr_tags: &["tlp:clear"],
            event_tlp: Amber,
            attr_tlp: Amber,
            ..BASE
        },
        Case {
            attr_tags: &["tlp:red"],
            attr_tlp: Red,
            ..BASE
        },
        Case {
            attr_dist: Some(0),
            attr_tlp: AmberStrict,
            ..BASE
        },
        Case {
            attr_dist: Some(1),
            attr_tlp: Amber,
            ..BASE
        },
        Case {
            attr_dist: Some(3),
            ..BASE
        },
        Case {
            attr_dist: Some(4),
            attr_sg: Some(SG_B),
            attr_tlp: Amber,
            attr_recipients: &[SG_B],
            ..BASE
        },
        Case {
            event_dist: Some(4),
            event_sg: Some(SG_A),
            attr_dist: Some(5),
            event_tlp: Amber,
            attr_tlp: Amber,
            attr_recipients: &[SG_A],
            ..BASE
        },
        Case {
            event_dist: Some(4),
            event_sg: Some(SG_A),
            attr_dist: Some(3),
            event_tlp: Amber,
            attr_tlp: Amber,
            attr_recipients: &[SG_A],
            ..BASE
        },
        Case {
            event_dist: Some(4),
            event_sg: Some(SG_A),
            attr_dist: Some(4),
            attr_sg: Some(SG_A),
            event_tlp: Amber,
            attr_tlp: Amber,
            attr_recipients: &[SG_A],
            ..BASE
        },
        Case {
            event_dist: Some(4),
            event_sg: Some(SG_A),
            attr_dist: Some(4),
            attr_sg: Some(SG_B),
            event_tlp: Amber,
            attr_tlp: Amber,
            warning: true,
            ..BASE
        },
        Case {
            event_dist: Some(4),
            event_sg: Some(SG_A),
            attr_dist: Some(0),
            event_tlp: Amber,
            attr_tlp: AmberStrict,
            ..BASE
        },
        Case {
            event_tags: &["tlp:amber"],
            attr_dist: Some(4),
            attr_sg: Some(SG_B),
            event_tlp: Amber,
            attr_tlp: Amber,
            warning: true,
            ..BASE
        },
        Case {
            event_dist: Some(0),
            attr_dist: Some(4),
            attr_sg: Some(SG_B),
            event_tlp: AmberStrict,
            attr_tlp: AmberStrict,
            warning: true,
            ..BASE
        },
        // A sharing group named only by its number on the source instance cannot be resolved.
        Case {
            attr_dist: Some(4),
            attr_tlp: Amber,
            warning: true,
            ..BASE
        },
    ];
    for (n, c) in cases.iter().enumerate() {
        run_case(n, c);
    }
}

#[test]
fn unmarked_default_is_configurable_but_never_wider_than_green() {
    let doc = event(json!({}), json!([]));
    let clear = import_event(
        &doc,
        &ImportOptions {
            unmarked: Tlp::Clear,
        },
    )
    .unwrap();
    assert_eq!(clear.audience.tlp, Tlp::Green);
    let amber = import_event(
        &doc,
        &ImportOptions {
            unmarked: Tlp::Amber,
        },
    )
    .unwrap();
    assert_eq!(amber.audience.tlp, Tlp::Amber);
}

#[test]
fn misp_objects_pass_their_audience_to_their_attributes() {
    let doc = event(
        json!({ "Tag": [{ "name": "tlp:green" }], "Object": [{
            "uuid": "208bee57-39fa-49ce-91c7-8849adfcd5b9", "name": "file", "meta-category": "file",
            "distribution": "0", "timestamp": "1714563600",
            "Attribute": [
                { "uuid": "00eec090-d0e0-4b70-b9a4-62736a49eeeb", "object_relation": "filename", "type": "filename", "value": "x.exe", "to_ids": true },
                { "uuid": "a38017df-66f3-4d82-8f2c-6077ee3a198b", "object_relation": "sha256", "type": "sha256", "value": SHA256, "to_ids": false },
            ]
        }, { "name": "nameless" }]}),
        json!([]),
    );
    let i = import(&doc);
    let f = by_id(&i, "indicator--00eec090-d0e0-4b70-b9a4-62736a49eeeb");
    assert_eq!(i.objects[0].object["object_refs"][0], f.id());
    assert_eq!(f.tlp, Tlp::AmberStrict);
    let ext = &f.object["extensions"][MISP_EXTENSION_ID];
    assert_eq!(ext["object_name"], "file");
    assert_eq!(ext["object_relation"], "filename");
    let h = by_id(&i, "observed-data--a38017df-66f3-4d82-8f2c-6077ee3a198b");
    assert_eq!(h.tlp, Tlp::AmberStrict);
    assert_eq!(i.diagnostics.len(), 1);
    assert_eq!(i.diagnostics[0].level, Level::Skipped);
}

#[test]
fn one_sco_seen_twice_keeps_the_narrowest_audience() {
    let mut a = attr(
        "a5a5a5a5-0000-4000-8000-000000000001",
        "domain",
        "evil.example",
        false,
    );
    a["Tag"] = json!([{ "name": "tlp:amber" }]);
    let b = attr(
        "a5a5a5a5-0000-4000-8000-000000000002",
        "domain",
        "evil.example",
        false,
    );
    let i = import(&event(json!({}), json!([b, a])));
    let scos: Vec<_> = i
        .objects
        .iter()
        .filter(|o| o.stix_type() == "domain-name")
        .collect();
    assert_eq!(scos.len(), 1);
    assert_eq!(scos[0].tlp, Tlp::Amber);
}

// ---- Export ----------------------------------------------------------------------------------

fn publisher() -> Publisher {
    Publisher {
        uuid: "9a1b2c3d-0000-4000-8000-00000000beef".into(),
        name: "Financial ISAC".into(),
    }
}

fn item(object: Value, tlp: Tlp) -> StixItem {
    let Value::Object(object) = object else {
        unreachable!()
    };
    StixItem {
        object,
        tlp,
        recipients: Vec::new(),
    }
}

fn indicator(uuid: &str, pattern: &str, tlp: Tlp) -> StixItem {
    item(
        json!({
            "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{uuid}"),
            "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T09:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-06-01T08:00:00.000Z",
            "created_by_ref": "identity--0c7d1e3a-0000-4000-8000-000000000001",
            "object_marking_refs": [tlp.marking_id_v2()],
        }),
        tlp,
    )
}

/// In-memory feed files.
#[derive(Default)]
struct MemFeed(RefCell<BTreeMap<String, Vec<u8>>>);

impl FeedSource for MemFeed {
    fn read(&self, name: &str, limit: usize) -> io::Result<Vec<u8>> {
        let files = self.0.borrow();
        let b = files
            .get(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))?;
        if b.len() > limit {
            return Err(io::Error::other("too large"));
        }
        Ok(b.clone())
    }
}

impl FeedSink for MemFeed {
    fn write(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().insert(name.to_string(), bytes.to_vec());
        Ok(())
    }
}

fn reimport(items: &[StixItem]) -> (Vec<StixItem>, Vec<Diagnostic>, MemFeed) {
    let mut feed = MemFeed::default();
    let diags = write_feed(items, &publisher(), &mut feed).unwrap();
    let reader = FeedReader::open(&feed, ImportOptions::default()).unwrap();
    let mut out = Vec::new();
    for (_, r) in reader {
        out.extend(r.unwrap().objects);
    }
    (out, diags, feed)
}

/// A MISP event using every mapped type, as indicator and as observable, with tags,
/// distributions, a sharing group and a MISP object.
pub(crate) fn rich_event() -> Value {
    let mut attrs: Vec<Value> = pattern_cases()
        .into_iter()
        .enumerate()
        .flat_map(|(n, (ty, v, _))| {
            [
                attr(
                    &format!("00000000-0000-4000-8000-{:012}", 2 * n),
                    ty,
                    &v,
                    true,
                ),
                attr(
                    &format!("00000000-0000-4000-8000-{:012}", 2 * n + 1),
                    ty,
                    &v,
                    false,
                ),
            ]
        })
        .collect();
    attrs.push(attr(
        "10000000-0000-4000-8000-000000000001",
        "vulnerability",
        "CVE-2024-3400",
        false,
    ));
    attrs.push(attr(
        "10000000-0000-4000-8000-000000000002",
        "threat-actor",
        "APT-X",
        false,
    ));
    attrs.push(attr(
        "10000000-0000-4000-8000-000000000003",
        "text",
        "analyst note",
        false,
    ));
    attrs.push(attr(
        "10000000-0000-4000-8000-000000000004",
        "btc",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
        false,
    ));
    let mut red = attr(
        "10000000-0000-4000-8000-000000000005",
        "domain",
        "red.example",
        true,
    );
    red["Tag"] = json!([{ "name": "tlp:red" }, { "name": "kill-chain:delivery" }]);
    attrs.push(red);
    let mut grp = attr(
        "10000000-0000-4000-8000-000000000006",
        "url",
        "http://x.example/",
        true,
    );
    grp["distribution"] = json!(4);
    grp["SharingGroup"] = sg(SG_B);
    grp["sharing_group_id"] = json!("9");
    attrs.push(grp);
    event(
        json!({ "Tag": [{ "name": "tlp:green" }, { "name": "osint" }], "distribution": "2", "Object": [{
            "uuid": "208bee57-39fa-49ce-91c7-8849adfcd5b9", "name": "file", "meta-category": "file", "timestamp": "1714563600",
            "Attribute": [
                { "uuid": "00eec090-d0e0-4b70-b9a4-62736a49eeeb", "object_relation": "filename", "type": "filename", "value": "x.exe", "to_ids": true, "category": "Payload delivery", "timestamp": "1714563600" },
                { "uuid": "a38017df-66f3-4d82-8f2c-6077ee3a198b", "object_relation": "sha256", "type": "sha256", "value": SHA256, "to_ids": false, "category": "Payload delivery", "timestamp": "1714563600" },
            ]
        }]}),
        Value::Array(attrs),
    )
}

#[test]
fn misp_to_stix_to_misp_to_stix_is_stable() {
    let doc = rich_event();
    let first = import(&doc);
    let (second, diags, feed) = reimport(&first.objects);
    assert!(diags.is_empty(), "{diags:#?}");
    let a: BTreeMap<&str, &StixItem> = first.objects.iter().map(|o| (o.id(), o)).collect();
    let b: BTreeMap<&str, &StixItem> = second.iter().map(|o| (o.id(), o)).collect();
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, x) in &a {
        assert_eq!(Some(x), b.get(id), "{id}");
    }
    // And the MISP written is itself stable.
    let (_, _, feed2) = reimport(&second);
    assert_eq!(feed.0.borrow().clone(), feed2.0.borrow().clone());
}

/// STIX objects as isac holds them: a report, indicators of several pattern shapes and TLPs,
/// objects MISP cannot hold, and objects outside any report.
pub(crate) fn foreign_items() -> Vec<StixItem> {
    let mut amber = indicator(
        "2b000000-0000-4000-8000-000000000003",
        "[url:value = 'http://evil.example/a']",
        Tlp::Amber,
    );
    amber.recipients = vec![SharingGroupRef {
        uuid: Some(SG_A.into()),
        name: Some("Systemic banks".into()),
        local_id: Some("7".into()),
    }];
    // An isac sharing group MISP has never seen (no MISP id): not written as a MISP sharing group.
    let mut isac_group = indicator(
        "2b000000-0000-4000-8000-000000000006",
        "[url:value = 'http://evil.example/b']",
        Tlp::Amber,
    );
    isac_group.recipients = vec![SharingGroupRef {
        uuid: Some(SG_B.into()),
        name: Some("Securities".into()),
        local_id: None,
    }];
    let items = vec![
        item(
            json!({
                "type": "report", "spec_version": "2.1", "id": "report--2a000000-0000-4000-8000-000000000001",
                "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z",
                "name": "Weekly", "published": "2024-06-02T08:00:00.000Z",
                "object_refs": ["indicator--2b000000-0000-4000-8000-000000000001", "indicator--2b000000-0000-4000-8000-000000000002", "malware--2c000000-0000-4000-8000-000000000001", "indicator--2b000000-0000-4000-8000-000000000009"],
                "labels": ["weekly"],
                "object_marking_refs": [Tlp::Green.marking_id_v2()],
            }),
            Tlp::Green,
        ),
        indicator(
            "2b000000-0000-4000-8000-000000000001",
            "[ipv4-addr:value='198.51.100.7']",
            Tlp::Green,
        ),
        indicator(
            "2b000000-0000-4000-8000-000000000002",
            &format!("[file:hashes.MD5 = '{MD5}' AND file:name = 'a.exe']"),
            Tlp::Green,
        ),
        item(
            json!({ "type": "malware", "spec_version": "2.1", "id": "malware--2c000000-0000-4000-8000-000000000001", "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T08:00:00.000Z", "name": "X", "is_family": true }),
            Tlp::Green,
        ),
        indicator(
            "2b000000-0000-4000-8000-000000000009",
            "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']",
            Tlp::Green,
        ),
        // Outside any report.
        amber,
        isac_group,
        indicator(
            "2b000000-0000-4000-8000-000000000004",
            "[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
            Tlp::Red,
        ),
        indicator(
            "2b000000-0000-4000-8000-000000000005",
            "[x-custom:thing = 'a']",
            Tlp::Clear,
        ),
    ];
    items
}

#[test]
fn stix_to_misp_to_stix_keeps_values_audience_and_ids() {
    let items = foreign_items();
    let (back, diags, feed) = reimport(&items);
    let skipped: Vec<&str> = diags
        .iter()
        .filter(|d| d.level == Level::Skipped)
        .filter_map(|d| d.element.as_deref())
        .collect();
    assert_eq!(
        skipped,
        [
            "indicator--2b000000-0000-4000-8000-000000000009",
            "indicator--2b000000-0000-4000-8000-000000000005"
        ]
    );
    let get = |id: &str| {
        back.iter()
            .find(|o| o.id() == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    let i1 = get("indicator--2b000000-0000-4000-8000-000000000001");
    assert_eq!(i1.object["pattern"], "[ipv4-addr:value = '198.51.100.7']");
    assert_eq!(i1.tlp, Tlp::Green);
    let i2 = get("indicator--2b000000-0000-4000-8000-000000000002");
    assert_eq!(
        i2.object["pattern"],
        format!("[file:name = 'a.exe' AND file:hashes.'MD5' = '{MD5}']")
    );
    let i3 = get("indicator--2b000000-0000-4000-8000-000000000003");
    assert_eq!(i3.tlp, Tlp::Amber);
    assert_eq!(i3.recipients[0].uuid.as_deref(), Some(SG_A));
    let i4 = get("indicator--2b000000-0000-4000-8000-000000000004");
    assert_eq!(i4.tlp, Tlp::Red);
    assert_eq!(i4.object["pattern"], "[domain-name:value = 'a.example']");
    let second = back
        .iter()
        .find(|o| o.object.get("pattern") == Some(&json!("[domain-name:value = 'b.example']")))
        .unwrap();
    assert_eq!(second.tlp, Tlp::Red);
    let report = get("report--2a000000-0000-4000-8000-000000000001");
    assert_eq!(report.tlp, Tlp::Green);
    // The report comes back with the galaxy tag of its cluster as a label, as every report
    // made from MISP has.
    assert_eq!(
        report.object["labels"],
        json!(["weekly", "misp-galaxy:mitre-malware=\"X\""])
    );
    assert_eq!(report.object["name"], "Weekly");
    // The MISP tags and distributions written.
    let files = feed.0.borrow();
    let ev: Value =
        serde_json::from_slice(&files["2a000000-0000-4000-8000-000000000001.json"]).unwrap();
    assert_eq!(ev["Event"]["distribution"], "2");
    assert_eq!(
        ev["Event"]["Tag"],
        json!([{ "name": "tlp:green" }, { "name": "weekly" }, { "name": "misp-galaxy:mitre-malware=\"X\"" }])
    );
    // The malware family is a galaxy cluster of the event, and comes back as itself.
    assert_eq!(ev["Event"]["Galaxy"][0]["type"], "mitre-malware");
    let malware = get("malware--2c000000-0000-4000-8000-000000000001");
    assert_eq!(malware.object["name"], "X");
    assert_eq!(malware.tlp, Tlp::Green);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest.as_object().unwrap().len(),
        4,
        "the report, two AMBER groups (by recipients), the RED group"
    );
    let amber_events: Vec<Value> = manifest
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, m)| m["Tag"][0]["name"] == "tlp:amber")
        .map(|(u, _)| serde_json::from_slice(&files[&format!("{u}.json")]).unwrap())
        .collect();
    assert_eq!(amber_events.len(), 2);
    let with_group = amber_events
        .iter()
        .find(|e| e["Event"]["distribution"] == "4")
        .expect("the group MISP knows is written as a sharing group");
    assert_eq!(with_group["Event"]["SharingGroup"]["uuid"], SG_A);
    assert_eq!(with_group["Event"]["sharing_group_id"], "7");
    let without = amber_events
        .iter()
        .find(|e| e["Event"]["distribution"] == "1")
        .expect("an isac-only group is written as this community only");
    assert!(without["Event"].get("SharingGroup").is_none());
    let i6 = get("indicator--2b000000-0000-4000-8000-000000000006");
    assert_eq!(i6.tlp, Tlp::Amber);
    assert!(i6.recipients.is_empty(), "narrowed, never widened");
    let red_event = manifest
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, m)| m["Tag"][0]["name"] == "tlp:red")
        .unwrap();
    assert_eq!(
        red_event.1["Orgc"]["uuid"],
        "0c7d1e3a-0000-4000-8000-000000000001"
    );
}

#[test]
fn distribution_written_for_each_tlp() {
    use Tlp::*;
    for (tlp, dist) in [
        (Clear, "3"),
        (Green, "2"),
        (Amber, "1"),
        (AmberStrict, "0"),
        (Red, "0"),
    ] {
        let (_, _, feed) = reimport(&[indicator(
            "2b000000-0000-4000-8000-000000000001",
            "[ipv4-addr:value = '198.51.100.7']",
            tlp,
        )]);
        let files = feed.0.borrow();
        let (name, body) = files
            .iter()
            .find(|(n, _)| n.ends_with(".json") && *n != "manifest.json")
            .unwrap();
        let ev: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(ev["Event"]["distribution"], dist, "{tlp:?} in {name}");
        assert_eq!(ev["Event"]["Tag"][0]["name"], tag_of_tlp(tlp));
        // Reading it back gives the same level.
        let i = import_event_json(body, &ImportOptions::default()).unwrap();
        assert_eq!(i.audience.tlp, tlp);
    }
    // A sharing group known to MISP travels as distribution 4, and comes back as the recipient.
    for tlp in [Amber, AmberStrict] {
        let mut ind = indicator(
            "2b000000-0000-4000-8000-000000000001",
            "[ipv4-addr:value = '198.51.100.7']",
            tlp,
        );
        let group = SharingGroupRef {
            uuid: Some(SG_A.into()),
            name: Some("Systemic banks".into()),
            local_id: Some("7".into()),
        };
        ind.recipients = vec![group.clone()];
        let (back, _, feed) = reimport(&[ind]);
        let files = feed.0.borrow();
        let (_, body) = files
            .iter()
            .find(|(n, _)| n.ends_with(".json") && *n != "manifest.json")
            .unwrap();
        let ev: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(ev["Event"]["distribution"], "4", "{tlp:?}");
        assert_eq!(back[1].tlp, tlp);
        assert_eq!(back[1].recipients, [group]);
    }
}

#[test]
fn attributes_narrower_than_their_event_carry_their_own_tag() {
    let mut items = vec![
        item(
            json!({ "type": "report", "spec_version": "2.1", "id": "report--2a000000-0000-4000-8000-000000000001",
                "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T08:00:00.000Z", "name": "r",
                "published": "2024-06-01T08:00:00.000Z",
                "object_refs": ["indicator--2b000000-0000-4000-8000-000000000001", "indicator--2b000000-0000-4000-8000-000000000002"] }),
            Tlp::Amber,
        ),
        indicator(
            "2b000000-0000-4000-8000-000000000001",
            "[ipv4-addr:value = '198.51.100.7']",
            Tlp::Red,
        ),
        indicator(
            "2b000000-0000-4000-8000-000000000002",
            "[ipv4-addr:value = '198.51.100.8']",
            Tlp::Clear,
        ),
    ];
    items.push(items[0].clone());
    let ex = export_events(&items, &publisher());
    assert_eq!(ex.events.len(), 1);
    let attrs = ex.events[0].event["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(attrs[0]["Tag"], json!([{ "name": "tlp:red" }]));
    assert_eq!(attrs[0]["distribution"], "0");
    assert_eq!(attrs[1]["distribution"], "5");
    assert_eq!(
        ex.diagnostics.len(),
        1,
        "the CLEAR indicator is narrowed to its AMBER event"
    );
    let (back, _, _) = reimport(&items);
    let find = |id: &str| back.iter().find(|o| o.id() == id).unwrap().tlp;
    assert_eq!(
        find("indicator--2b000000-0000-4000-8000-000000000001"),
        Tlp::Red
    );
    assert_eq!(
        find("indicator--2b000000-0000-4000-8000-000000000002"),
        Tlp::Amber
    );
}

#[test]
fn an_object_in_two_reports_is_written_once() {
    let report = |n: u8| {
        item(
            json!({ "type": "report", "spec_version": "2.1", "id": format!("report--2a000000-0000-4000-8000-00000000000{n}"),
                "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T08:00:00.000Z", "name": "r",
                "published": "2024-06-01T08:00:00.000Z", "object_refs": ["indicator--2b000000-0000-4000-8000-000000000001"] }),
            Tlp::Green,
        )
    };
    let items = [
        report(2),
        report(1),
        indicator(
            "2b000000-0000-4000-8000-000000000001",
            "[ipv4-addr:value = '198.51.100.7']",
            Tlp::Green,
        ),
    ];
    let ex = export_events(&items, &publisher());
    assert_eq!(ex.events.len(), 2);
    assert_eq!(ex.events[0].uuid, "2a000000-0000-4000-8000-000000000001");
    assert_eq!(
        ex.events[0].event["Event"]["Attribute"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        ex.events[1].event["Event"]["Attribute"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(ex.diagnostics.len(), 1);
}

#[test]
fn feed_files_and_hashes() {
    let i = import(&event(
        json!({ "Tag": [{ "name": "tlp:green" }] }),
        json!([
            attr(
                "0f50fc0a-a118-4b22-8aee-3ee8c05bb450",
                "ip-dst",
                "198.51.100.7",
                true
            ),
            attr(
                "0f50fc0a-a118-4b22-8aee-3ee8c05bb451",
                "filename|md5",
                &format!("a.exe|{MD5}"),
                true
            ),
        ]),
    ));
    let mut feed = MemFeed::default();
    write_feed(&i.objects, &publisher(), &mut feed).unwrap();
    let files = feed.0.borrow().clone();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "5f3c1c4e-8a3b-4b6e-9d7f-0a1b2c3d4e5f.json",
            "hashes.csv",
            "manifest.json"
        ]
    );
    let csv = String::from_utf8(files["hashes.csv"].clone()).unwrap();
    let lines: Vec<(&str, &str)> = hashes_lines(&csv).collect();
    // The MD5 of "198.51.100.7", "a.exe" and the MD5 value itself: composite values hash per part.
    assert_eq!(
        lines,
        [
            ("526291673f8700ef4e4902e29550a03b", EV),
            ("2c3ccd32927839768639b88829a5c04a", EV),
            ("74be16979710d4c4e7c6647856088456", EV),
        ]
    );
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let m = &manifest[EV];
    assert_eq!(m["info"], "Test event");
    assert_eq!(m["Orgc"]["name"], "Example CERT");
    assert_eq!(m["date"], "2024-05-01");
    assert_eq!(m["threat_level_id"], "2");
    assert_eq!(m["analysis"], "1");
    assert_eq!(m["timestamp"], "1714560000");
}

#[test]
fn feed_reader_streams_and_refuses_bad_names() {
    let mut feed = MemFeed::default();
    let mut manifest = Map::new();
    for n in 0..3 {
        let uuid = format!("5f3c1c4e-8a3b-4b6e-9d7f-0a1b2c3d4e5{n}");
        let mut doc = event(
            json!({}),
            json!([attr(
                &format!("0f50fc0a-a118-4b22-8aee-3ee8c05bb45{n}"),
                "domain",
                "a.example",
                true
            )]),
        );
        doc["Event"]["uuid"] = uuid.clone().into();
        feed.write(&format!("{uuid}.json"), doc.to_string().as_bytes())
            .unwrap();
        manifest.insert(uuid, json!({ "info": "x", "timestamp": "1714560000" }));
    }
    manifest.insert(
        "5f3c1c4e-8a3b-4b6e-9d7f-0a1b2c3d4e59".into(),
        json!({ "info": "missing" }),
    );
    feed.write(
        "manifest.json",
        Value::Object(manifest.clone()).to_string().as_bytes(),
    )
    .unwrap();
    let mut reader = FeedReader::open(&feed, ImportOptions::default()).unwrap();
    assert_eq!(reader.len(), 4);
    let (e, first) = reader.next().unwrap();
    assert_eq!(e.timestamp, Some(1714560000));
    assert_eq!(first.unwrap().objects.len(), 4);
    assert_eq!(reader.remaining().len(), 3);
    let rest: Vec<_> = reader.collect();
    assert!(rest[..2].iter().all(|(_, r)| r.is_ok()));
    assert!(matches!(rest[2].1, Err(FeedError::Io { .. })));
    manifest.insert("../../etc/passwd".into(), json!({}));
    feed.write(
        "manifest.json",
        Value::Object(manifest).to_string().as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        FeedReader::open(&feed, ImportOptions::default()),
        Err(FeedError::Invalid { .. })
    ));
    assert_eq!(
        hashes_lines(
            "zz,1\nd41d8cd98f00b204e9800998ecf8427e,../x\nd41d8cd98f00b204e9800998ecf8427e,abc-1\n"
        )
        .count(),
        1
    );
}

#[test]
fn simple_pattern_subset() {
    use crate::pattern::{Join, parse_simple};
    let (c, j) =
        parse_simple("[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']").unwrap();
    assert_eq!((c.len(), j), (2, Join::Or));
    let (c, _) = parse_simple(r"[file:hashes.'SHA-256' = 'ab\'c\\']").unwrap();
    assert_eq!(c[0].path, "file:hashes.SHA-256");
    assert_eq!(c[0].value, crate::mapping::Lit::Str(r"ab'c\".into()));
    for bad in [
        "[a:b = 'x' AND c:d = 'y' OR e:f = 'z']",
        "[a:b = 'x'] AND [c:d = 'y']",
        "[a:b != 'x']",
        "[a:b MATCHES 'x']",
        "[a:b = 'x'",
        "([a:b = 'x'])",
    ] {
        assert!(parse_simple(bad).is_none(), "{bad}");
    }
}

#[test]
fn tag_parsing() {
    assert_eq!(tlp_of_tag("tlp:white"), Some(Tlp::Clear));
    assert_eq!(tlp_of_tag(" TLP:AMBER+STRICT "), Some(Tlp::AmberStrict));
    assert_eq!(tlp_of_tag("tlp:ex:chr"), None);
    assert_eq!(tlp_of_tag("tl"), None);
    assert_eq!(tlp_of_tag("tlé:red"), None);
    assert_eq!(
        tlp_of_tags(["tlp:green", "x", "tlp:amber"]),
        Some(Tlp::Amber)
    );
}

#[test]
fn every_emitted_object_passes_isac_stix_validation() {
    let mut all = import(&rich_event()).objects;
    let (back, _, _) = reimport(&foreign_items());
    all.extend(back);
    let mut findings = Vec::new();
    for o in &all {
        let d = isac_stix::validate(&o.object);
        if !isac_stix::is_valid(&d) {
            findings.push(format!(
                "{}: {}",
                o.id(),
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if is_sco_type(o.stix_type()) {
            assert_eq!(
                isac_stix::id::sco_id(&o.object).ok().as_deref(),
                Some(o.id()),
                "the SCO id isac-stix computes"
            );
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

fn is_sco_type(t: &str) -> bool {
    [
        "ipv4-addr",
        "ipv6-addr",
        "domain-name",
        "url",
        "file",
        "email-addr",
        "email-message",
        "mutex",
        "windows-registry-key",
        "autonomous-system",
        "mac-addr",
        "x509-certificate",
        "network-traffic",
    ]
    .contains(&t)
}

#[test]
fn groupings_observations_and_observables_are_exported() {
    let ip = json!({ "type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db", "value": "198.51.100.7" });
    let nt = json!({ "type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--3c000000-0000-4000-8000-000000000001",
        "dst_ref": "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db", "dst_port": 443, "protocols": ["tcp"] });
    let file = json!({ "type": "file", "spec_version": "2.1", "id": "file--3c000000-0000-4000-8000-000000000002", "name": "a.exe",
        "hashes": { "SHA-256": SHA256, "MD5": MD5 } });
    let ip2 = json!({ "type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--3c000000-0000-4000-8000-000000000003", "value": "203.0.113.9" });
    let dom = json!({ "type": "domain-name", "spec_version": "2.1", "id": "domain-name--3c000000-0000-4000-8000-000000000004", "value": "cdn.evil.example",
        "resolves_to_refs": ["ipv4-addr--3c000000-0000-4000-8000-000000000003"] });
    let process = json!({ "type": "process", "spec_version": "2.1", "id": "process--3c000000-0000-4000-8000-000000000005", "pid": 4 });
    let od = json!({ "type": "observed-data", "spec_version": "2.1", "id": "observed-data--3d000000-0000-4000-8000-000000000001",
        "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T08:00:00.000Z",
        "first_observed": "2024-06-01T08:00:00.000Z", "last_observed": "2024-06-01T09:00:00.000Z", "number_observed": 3,
        "object_refs": ["ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db", "network-traffic--3c000000-0000-4000-8000-000000000001"] });
    let grouping = json!({ "type": "grouping", "spec_version": "2.1", "id": "grouping--3e000000-0000-4000-8000-000000000001",
        "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T10:00:00.000Z", "name": "Campaign bundle", "context": "suspicious-activity",
        "object_refs": ["observed-data--3d000000-0000-4000-8000-000000000001", "file--3c000000-0000-4000-8000-000000000002",
            "domain-name--3c000000-0000-4000-8000-000000000004", "process--3c000000-0000-4000-8000-000000000005"] });
    let items: Vec<StixItem> = [grouping, od, ip, nt, file, ip2, dom, process]
        .into_iter()
        .map(|o| item(o, Tlp::Green))
        .collect();
    let ex = export_events(&items, &publisher());
    let skipped: Vec<_> = ex
        .diagnostics
        .iter()
        .filter_map(|d| d.element.as_deref())
        .collect();
    assert_eq!(skipped, ["process--3c000000-0000-4000-8000-000000000005"]);
    assert_eq!(
        ex.events.len(),
        1,
        "the address a domain resolves to is written with it"
    );
    let e = &ex.events[0].event["Event"];
    assert_eq!(e["uuid"], "3e000000-0000-4000-8000-000000000001");
    assert_eq!(e["info"], "Campaign bundle");
    assert_eq!(e["Orgc"]["name"], "Financial ISAC");
    let got: Vec<(String, String, String)> = e["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["uuid"].as_str().unwrap().to_string(),
                a["type"].as_str().unwrap().to_string(),
                a["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let second_hash =
        crate::ids::derived_uuid(&["file--3c000000-0000-4000-8000-000000000002", "1"]).to_string();
    let want = [
        (
            "3d000000-0000-4000-8000-000000000001".to_string(),
            "ip-dst|port",
            "198.51.100.7|443".to_string(),
        ),
        (
            "3c000000-0000-4000-8000-000000000002".to_string(),
            "filename|md5",
            format!("a.exe|{MD5}"),
        ),
        (second_hash, "sha256", SHA256.to_string()),
        (
            "3c000000-0000-4000-8000-000000000004".to_string(),
            "domain|ip",
            "cdn.evil.example|203.0.113.9".to_string(),
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.0.as_str(), g.1.as_str(), g.2.as_str()),
            (w.0.as_str(), w.1, w.2.as_str())
        );
    }
    // The same port written as a whole number with a fraction part (valid STIX) is kept.
    let mut nt = items[3].clone();
    nt.object.insert("dst_port".into(), json!(443.0));
    let mut again = items.clone();
    again[3] = nt;
    let e2 = &export_events(&again, &publisher()).events[0].event["Event"];
    assert_eq!(e2["Attribute"][0]["value"], "198.51.100.7|443");
    let od_attr = &e["Attribute"][0];
    assert_eq!(od_attr["to_ids"], false);
    assert_eq!(od_attr["first_seen"], "2024-06-01T08:00:00.000000+00:00");
    assert_eq!(od_attr["last_seen"], "2024-06-01T09:00:00.000000+00:00");
}

#[test]
fn objects_sharing_a_uuid_are_written_under_distinct_uuids() {
    const X: &str = "4d000000-0000-4000-8000-000000000001";
    const Y: &str = "4d000000-0000-4000-8000-000000000002";
    let container = |ty: &str, member: &str| {
        item(
            json!({
                "type": ty, "spec_version": "2.1", "id": format!("{ty}--{X}"),
                "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z",
                "name": format!("the {ty}"), "published": "2024-06-02T08:00:00.000Z",
                "context": "suspicious-activity",
                "object_refs": [member],
                "object_marking_refs": [Tlp::Green.marking_id_v2()],
            }),
            Tlp::Green,
        )
    };
    let note = item(
        json!({
            "type": "note", "spec_version": "2.1", "id": format!("note--{Y}"),
            "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T08:00:00.000Z",
            "content": "seen at two members",
            "object_refs": [format!("indicator--{Y}")],
            "object_marking_refs": [Tlp::Green.marking_id_v2()],
        }),
        Tlp::Green,
    );
    let items = vec![
        container("report", &format!("indicator--{Y}")),
        container("grouping", &format!("note--{Y}")),
        indicator(Y, "[ipv4-addr:value='198.51.100.7']", Tlp::Green),
        note,
    ];
    let (_, diags, feed) = reimport(&items);
    let files = feed.0.borrow();
    let events: Vec<Value> = files
        .iter()
        .filter(|(name, _)| name.as_str() != "manifest.json" && name.ends_with(".json"))
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    // Two events, each holding its own attribute, none under a uuid another one has.
    assert_eq!(events.len(), 2, "{:?}", files.keys().collect::<Vec<_>>());
    let mut uuids: Vec<&str> = events
        .iter()
        .flat_map(|e| {
            let attrs = e["Event"]["Attribute"].as_array().unwrap();
            assert_eq!(attrs.len(), 1, "{e}");
            [
                e["Event"]["uuid"].as_str().unwrap(),
                attrs[0]["uuid"].as_str().unwrap(),
            ]
        })
        .collect();
    assert!(uuids.contains(&X) && uuids.contains(&Y), "{uuids:?}");
    uuids.sort_unstable();
    uuids.dedup();
    assert_eq!(uuids.len(), 4);
    // The first by type name keeps the shared uuid; the report and the note give it up, each
    // with a warning.
    for renamed in [format!("report--{X}"), format!("note--{Y}")] {
        assert!(
            diags.iter().any(|d| d.level == Level::Warning
                && d.element.as_deref() == Some(renamed.as_str())
                && d.reason.contains("must be unique")),
            "{renamed}: {diags:#?}"
        );
    }
}

/// Export remarks are written in zh-TW beside the English, for `isac export --lang zh-TW`.
#[test]
fn export_remarks_are_written_in_zh_tw_too() {
    let mut items = foreign_items();
    items.extend(galaxy::foreign_clusters());
    let (_, diags, _) = reimport(&items);
    assert!(diags.len() >= 3, "{diags:#?}");
    for d in &diags {
        let zh = d.reason_zh.as_deref().expect("zh-TW");
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{}: {zh}",
            d.reason
        );
    }
}
