//! The oracle corpus: hand-made STIX 2.1 objects of every type, each valid, then mutated into
//! invalid (and some still valid) variants, plus seeded random mutations.

use serde_json::{Map, Value, json};

use crate::tlp;

/// One corpus case.
pub struct Case {
    pub name: String,
    pub object: Value,
    /// Where the specification and the OASIS validator disagree: our verdict follows the
    /// specification; the text names the section it rests on.
    pub documented: Option<Documented>,
}

/// A documented disagreement with the OASIS validator.
pub struct Documented {
    /// Our (the specification's) verdict.
    pub valid: bool,
    pub reason: &'static str,
}

pub const CREATED: &str = "2023-01-01T00:00:00.000Z";
pub const MODIFIED: &str = "2023-06-01T12:30:00.000Z";

pub fn uid(n: u32) -> String {
    format!("{n:08x}-1111-4111-8111-111111111111")
}

pub fn sid(t: &str, n: u32) -> String {
    format!("{t}--{}", uid(n))
}

fn sdo(t: &str, n: u32, extra: Value) -> Value {
    let mut m = json!({
        "type": t, "spec_version": "2.1", "id": sid(t, n), "created": CREATED, "modified": MODIFIED,
    });
    merge(&mut m, extra);
    m
}

fn sco(t: &str, extra: Value) -> Value {
    let mut m = json!({"type": t, "spec_version": "2.1"});
    merge(&mut m, extra);
    let id = crate::id::sco_id(m.as_object().unwrap()).unwrap_or_else(|_| sid(t, 99));
    m["id"] = Value::String(id);
    m
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// The valid base objects, one or more per type.
pub fn bases() -> Vec<(String, Value)> {
    let identity = sid("identity", 1);
    let indicator = sid("indicator", 1);
    let malware = sid("malware", 1);
    let ipv4 = "ipv4-addr--5853f6a4-638f-5b4e-9b0f-ded361ae3812".to_string();
    let tlp_green = tlp::marking_definition(isac_model::Tlp::Green)["id"].clone();
    let mut v: Vec<(&str, Value)> = vec![
        (
            "attack-pattern",
            sdo(
                "attack-pattern",
                1,
                json!({
                    "name": "Spearphishing Attachment", "description": "phishing",
                    "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
                    "external_references": [{"source_name": "capec", "external_id": "CAPEC-163"}],
                }),
            ),
        ),
        (
            "campaign",
            sdo(
                "campaign",
                1,
                json!({
                    "name": "DDoS extortion wave", "first_seen": "2023-01-01T00:00:00Z",
                    "last_seen": "2023-02-01T00:00:00Z", "objective": "extortion", "created_by_ref": identity,
                }),
            ),
        ),
        (
            "course-of-action",
            sdo(
                "course-of-action",
                1,
                json!({"name": "Block the address", "description": "Block at the edge"}),
            ),
        ),
        (
            "grouping",
            sdo(
                "grouping",
                1,
                json!({"context": "suspicious-activity", "object_refs": [indicator, malware]}),
            ),
        ),
        (
            "identity",
            sdo(
                "identity",
                1,
                json!({
                    "name": "Example Bank", "identity_class": "organization", "sectors": ["financial-services"],
                    "contact_information": "soc@example.com",
                }),
            ),
        ),
        (
            "incident",
            sdo("incident", 1, json!({"name": "Phishing at a member"})),
        ),
        (
            "indicator",
            sdo(
                "indicator",
                1,
                json!({
                    "name": "C2 address", "indicator_types": ["malicious-activity"],
                    "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
                    "valid_from": "2023-01-01T00:00:00Z", "valid_until": "2024-01-01T00:00:00Z",
                    "object_marking_refs": [tlp_green],
                }),
            ),
        ),
        (
            "indicator-yara",
            sdo(
                "indicator",
                2,
                json!({
                    "pattern": "rule x { condition: true }", "pattern_type": "yara", "valid_from": "2023-01-01T00:00:00Z",
                }),
            ),
        ),
        (
            "indicator-file-hash",
            sdo(
                "indicator",
                3,
                json!({
                    "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
                    "pattern_type": "stix", "valid_from": "2023-01-01T00:00:00.000Z",
                }),
            ),
        ),
        (
            "indicator-compound",
            sdo(
                "indicator",
                4,
                json!({
                    "pattern": "[domain-name:value = 'evil.example.com'] OR [url:value = 'http://evil.example.com/x']",
                    "pattern_type": "stix", "valid_from": "2023-01-01T00:00:00Z", "lang": "zh-TW",
                }),
            ),
        ),
        (
            "infrastructure",
            sdo(
                "infrastructure",
                1,
                json!({"name": "Botnet C2", "infrastructure_types": ["botnet"]}),
            ),
        ),
        (
            "intrusion-set",
            sdo(
                "intrusion-set",
                1,
                json!({
                    "name": "APT Example", "aliases": ["Example Group"], "resource_level": "government",
                    "primary_motivation": "organizational-gain", "first_seen": "2020-01-01T00:00:00Z",
                }),
            ),
        ),
        (
            "location-region",
            sdo("location", 1, json!({"region": "eastern-asia"})),
        ),
        (
            "location-point",
            sdo(
                "location",
                2,
                json!({"latitude": 25.03, "longitude": 121.56, "precision": 1000.0, "country": "TW"}),
            ),
        ),
        (
            "malware",
            sdo(
                "malware",
                1,
                json!({"name": "ExampleLocker", "is_family": true, "malware_types": ["ransomware"]}),
            ),
        ),
        (
            "malware-instance",
            sdo(
                "malware",
                2,
                json!({"is_family": false, "sample_refs": [sid("file", 9)]}),
            ),
        ),
        (
            "malware-analysis",
            sdo(
                "malware-analysis",
                1,
                json!({
                    "product": "sandbox", "result": "malicious", "sample_ref": sid("file", 9),
                    "analysis_started": "2023-01-01T00:00:00Z", "analysis_ended": "2023-01-01T00:10:00Z",
                }),
            ),
        ),
        (
            "note",
            sdo(
                "note",
                1,
                json!({"content": "Seen at two members", "object_refs": [indicator], "authors": ["analyst"]}),
            ),
        ),
        (
            "observed-data",
            sdo(
                "observed-data",
                1,
                json!({
                    "first_observed": "2023-01-01T00:00:00Z", "last_observed": "2023-01-02T00:00:00Z",
                    "number_observed": 3, "object_refs": [ipv4],
                }),
            ),
        ),
        (
            "opinion",
            sdo(
                "opinion",
                1,
                json!({"opinion": "agree", "object_refs": [indicator]}),
            ),
        ),
        (
            "report",
            sdo(
                "report",
                1,
                json!({
                    "name": "Weekly report", "published": "2023-01-08T00:00:00Z", "report_types": ["threat-report"],
                    "object_refs": [indicator, malware], "lang": "en",
                }),
            ),
        ),
        (
            "threat-actor",
            sdo(
                "threat-actor",
                1,
                json!({
                    "name": "Example Actor", "threat_actor_types": ["crime-syndicate"], "roles": ["agent"],
                    "sophistication": "advanced", "first_seen": "2020-01-01T00:00:00Z", "last_seen": "2023-01-01T00:00:00Z",
                }),
            ),
        ),
        (
            "tool",
            sdo(
                "tool",
                1,
                json!({"name": "nmap", "tool_types": ["information-gathering"]}),
            ),
        ),
        (
            "vulnerability",
            sdo(
                "vulnerability",
                1,
                json!({
                    "name": "CVE-2021-44228",
                    "external_references": [{"source_name": "cve", "external_id": "CVE-2021-44228"}],
                }),
            ),
        ),
        (
            "relationship",
            sdo(
                "relationship",
                1,
                json!({
                    "relationship_type": "indicates", "source_ref": indicator, "target_ref": malware,
                    "start_time": "2023-01-01T00:00:00Z", "stop_time": "2023-02-01T00:00:00Z",
                }),
            ),
        ),
        (
            "relationship-sco",
            sdo(
                "relationship",
                2,
                json!({
                    "relationship_type": "communicates-with", "source_ref": malware, "target_ref": ipv4,
                }),
            ),
        ),
        (
            "sighting",
            sdo(
                "sighting",
                1,
                json!({
                    "sighting_of_ref": indicator, "count": 5, "where_sighted_refs": [identity],
                    "observed_data_refs": [sid("observed-data", 1)],
                    "first_seen": "2023-01-01T00:00:00Z", "last_seen": "2023-01-01T00:00:00Z",
                }),
            ),
        ),
        (
            "artifact",
            sco(
                "artifact",
                json!({"mime_type": "application/zip", "payload_bin": "UEsDBBQAAAAIAA=="}),
            ),
        ),
        (
            "artifact-url",
            sco(
                "artifact",
                json!({
                    "url": "https://files.example.com/a.zip",
                    "hashes": {"SHA-256": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"},
                }),
            ),
        ),
        (
            "autonomous-system",
            sco(
                "autonomous-system",
                json!({"number": 15169, "name": "Example AS", "rir": "APNIC"}),
            ),
        ),
        (
            "directory",
            sco(
                "directory",
                json!({"path": "C:\\Windows\\Temp", "ctime": "2023-01-01T00:00:00Z"}),
            ),
        ),
        (
            "domain-name",
            sco("domain-name", json!({"value": "evil.example.com"})),
        ),
        (
            "email-addr",
            sco(
                "email-addr",
                json!({"value": "john@example.com", "display_name": "John"}),
            ),
        ),
        (
            "email-message",
            sco(
                "email-message",
                json!({
                    "is_multipart": false, "subject": "Invoice", "body": "see attached",
                    "from_ref": "email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3", "date": "2023-01-01T00:00:00Z",
                }),
            ),
        ),
        (
            "email-multipart",
            sco(
                "email-message",
                json!({
                    "is_multipart": true, "subject": "Invoice",
                    "body_multipart": [{"content_type": "text/plain", "body": "hello"}],
                }),
            ),
        ),
        (
            "file",
            sco(
                "file",
                json!({
                    "name": "invoice.exe", "size": 1024,
                    "hashes": {"SHA-256": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f", "MD5": "d41d8cd98f00b204e9800998ecf8427e"},
                }),
            ),
        ),
        (
            "file-ext",
            sco(
                "file",
                json!({
                    "name": "a.zip", "extensions": {"archive-ext": {"contains_refs": [sid("file", 9)]}},
                }),
            ),
        ),
        (
            "ipv4-addr",
            sco("ipv4-addr", json!({"value": "198.51.100.1"})),
        ),
        (
            "ipv4-cidr",
            sco("ipv4-addr", json!({"value": "198.51.100.0/24"})),
        ),
        (
            "ipv6-addr",
            sco("ipv6-addr", json!({"value": "2001:db8::1"})),
        ),
        (
            "mac-addr",
            sco("mac-addr", json!({"value": "d2:fb:49:24:37:18"})),
        ),
        (
            "mutex",
            sco("mutex", json!({"name": "Global\\ExampleMutex"})),
        ),
        (
            "network-traffic",
            sco(
                "network-traffic",
                json!({
                    "src_ref": ipv4, "dst_port": 443, "protocols": ["ipv4", "tcp"],
                    "start": "2023-01-01T00:00:00Z", "end": "2023-01-01T00:01:00Z",
                }),
            ),
        ),
        ("process", {
            let mut p = json!({"type": "process", "spec_version": "2.1", "id": sid("process", 1), "pid": 1234, "command_line": "cmd.exe /c whoami"});
            p["id"] = Value::String(sid("process", 1));
            p
        }),
        (
            "software",
            sco(
                "software",
                json!({"name": "Word", "vendor": "Microsoft", "version": "2016", "languages": ["en"]}),
            ),
        ),
        (
            "url",
            sco("url", json!({"value": "https://evil.example.com/login"})),
        ),
        (
            "user-account",
            sco(
                "user-account",
                json!({"user_id": "1001", "account_login": "jdoe", "account_type": "unix"}),
            ),
        ),
        (
            "windows-registry-key",
            sco(
                "windows-registry-key",
                json!({
                    "key": "HKEY_LOCAL_MACHINE\\System\\Foo",
                    "values": [{"name": "Foo", "data": "qwerty", "data_type": "REG_SZ"}],
                }),
            ),
        ),
        (
            "x509-certificate",
            sco(
                "x509-certificate",
                json!({
                    "serial_number": "36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49",
                    "issuer": "C=ZA, O=Example", "validity_not_before": "2016-03-12T12:00:00Z",
                    "validity_not_after": "2016-08-21T12:00:00Z",
                }),
            ),
        ),
        (
            "marking-statement",
            json!({
                "type": "marking-definition", "spec_version": "2.1", "id": sid("marking-definition", 1),
                "created": CREATED, "definition_type": "statement",
                "definition": {"statement": "Copyright Example"},
            }),
        ),
        (
            "language-content",
            sdo(
                "language-content",
                1,
                json!({
                    "object_ref": malware, "object_modified": MODIFIED,
                    "contents": {"zh-TW": {"name": "範例勒索軟體"}, "de": {"name": "Beispiel"}},
                }),
            ),
        ),
        (
            "extension-definition",
            sdo(
                "extension-definition",
                1,
                json!({
                    "created_by_ref": identity, "name": "example", "schema": "https://example.com/schema.json",
                    "version": "1.0", "extension_types": ["property-extension"],
                }),
            ),
        ),
        (
            "audience-definition",
            Value::Object(crate::audience::extension_definition(&identity)),
        ),
        (
            "custom-sdo",
            sdo(
                "x-acme-widget",
                1,
                json!({"name": "widget", "x_acme_size": 3}),
            ),
        ),
        (
            "custom-sco",
            json!({"type": "x-acme-thing", "id": sid("x-acme-thing", 1), "value": "thing"}),
        ),
    ];
    for t in isac_model::Tlp::ALL {
        let md = tlp::marking_definition(*t);
        v.push(("tlp2", Value::Object(md)));
        if let Some(md) = tlp::marking_definition_v1(*t) {
            v.push(("tlp1", Value::Object(md)));
        }
    }
    let mut out: Vec<(String, Value)> = v.into_iter().map(|(n, o)| (n.to_string(), o)).collect();
    // Objects carrying isac's audience extension.
    let mut with_audience = sdo(
        "indicator",
        5,
        json!({
            "pattern": "[ipv4-addr:value = '203.0.113.9']", "pattern_type": "stix",
            "valid_from": "2023-01-01T00:00:00Z",
            "object_marking_refs": [tlp::marking_definition(isac_model::Tlp::Amber)["id"].clone()],
        }),
    );
    let mut m: Map<String, Value> = with_audience.as_object().cloned().unwrap();
    crate::audience::write(
        &mut m,
        &crate::audience::Audience {
            orgs: vec![sid("identity", 2), sid("identity", 3)],
            groups: vec![uid(7)],
            users: vec![],
        },
    );
    with_audience = Value::Object(m);
    out.push(("audience".into(), with_audience));
    out
}

/// Deterministic pseudo-random numbers (SplitMix64) for the generated part of the corpus.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
