//! The one table between MISP attribute types and STIX 2.1 object paths.
//!
//! Each mapped MISP type names the STIX object paths its value (or, for composite types such as
//! `filename|md5`, each `|`-separated part) fills. Import fills the paths to build a pattern and
//! the cyber-observables; export matches a pattern's comparisons against the same table, so both
//! directions cannot drift apart.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::ids::sco_id;

/// A STIX pattern comparison value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lit {
    Str(String),
    Int(i64),
}

impl Lit {
    fn text(&self) -> String {
        match self {
            Lit::Str(s) => s.clone(),
            Lit::Int(n) => n.to_string(),
        }
    }
}

/// One `path = value` comparison. Paths are kept unquoted (`file:hashes.SHA-256`); the pattern
/// text quotes the components that need it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cmp {
    pub path: String,
    pub value: Lit,
}

/// A placeholder for `ipv4-addr` or `ipv6-addr`, chosen by the value.
const IP: &str = "IP";

/// STIX hash algorithm names (the `hash-algorithm-ov` vocabulary) for MISP hash types.
pub const HASHES: &[(&str, &str)] = &[
    ("md5", "MD5"),
    ("sha1", "SHA-1"),
    ("sha256", "SHA-256"),
    ("sha512", "SHA-512"),
    ("sha3-256", "SHA3-256"),
    ("sha3-512", "SHA3-512"),
    ("ssdeep", "SSDEEP"),
    ("tlsh", "TLSH"),
];

/// The MISP attribute types mapped to patterns and observables, in the order export prefers
/// them when several fit, each with the STIX object paths its value parts fill.
pub fn mapped_types() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    TABLE.iter().copied()
}

static TABLE: &[(&str, &[&str])] = &[
    ("ip-dst", &["IP:value"]),
    ("ip-src", &["IP:value"]),
    (
        "ip-dst|port",
        &["network-traffic:dst_ref.value", "network-traffic:dst_port"],
    ),
    (
        "ip-src|port",
        &["network-traffic:src_ref.value", "network-traffic:src_port"],
    ),
    (
        "hostname|port",
        &["network-traffic:dst_ref.value", "network-traffic:dst_port"],
    ),
    ("domain", &["domain-name:value"]),
    ("hostname", &["domain-name:value"]),
    (
        "domain|ip",
        &["domain-name:value", "domain-name:resolves_to_refs[*].value"],
    ),
    ("url", &["url:value"]),
    ("uri", &["url:value"]),
    ("link", &["url:value"]),
    ("md5", &["file:hashes.MD5"]),
    ("sha1", &["file:hashes.SHA-1"]),
    ("sha256", &["file:hashes.SHA-256"]),
    ("sha512", &["file:hashes.SHA-512"]),
    ("sha3-256", &["file:hashes.SHA3-256"]),
    ("sha3-512", &["file:hashes.SHA3-512"]),
    ("ssdeep", &["file:hashes.SSDEEP"]),
    ("tlsh", &["file:hashes.TLSH"]),
    ("filename|md5", &["file:name", "file:hashes.MD5"]),
    ("filename|sha1", &["file:name", "file:hashes.SHA-1"]),
    ("filename|sha256", &["file:name", "file:hashes.SHA-256"]),
    ("filename|sha512", &["file:name", "file:hashes.SHA-512"]),
    ("filename|sha3-256", &["file:name", "file:hashes.SHA3-256"]),
    ("filename|sha3-512", &["file:name", "file:hashes.SHA3-512"]),
    ("filename|ssdeep", &["file:name", "file:hashes.SSDEEP"]),
    ("filename|tlsh", &["file:name", "file:hashes.TLSH"]),
    ("filename", &["file:name"]),
    ("email", &["email-addr:value"]),
    ("email-src", &["email-message:from_ref.value"]),
    ("email-dst", &["email-message:to_refs[*].value"]),
    ("email-subject", &["email-message:subject"]),
    ("mutex", &["mutex:name"]),
    ("regkey", &["windows-registry-key:key"]),
    (
        "regkey|value",
        &[
            "windows-registry-key:key",
            "windows-registry-key:values[*].data",
        ],
    ),
    ("AS", &["autonomous-system:number"]),
    ("mac-address", &["mac-addr:value"]),
    (
        "user-agent",
        &["network-traffic:extensions.http-request-ext.request_header.User-Agent"],
    ),
    ("x509-fingerprint-sha1", &["x509-certificate:hashes.SHA-1"]),
    ("x509-fingerprint-md5", &["x509-certificate:hashes.MD5"]),
    (
        "x509-fingerprint-sha256",
        &["x509-certificate:hashes.SHA-256"],
    ),
    ("port", &["network-traffic:dst_port"]),
];

/// MISP types that become STIX domain objects rather than patterns or observables.
pub const VULNERABILITY: &str = "vulnerability";
pub const THREAT_ACTOR: &str = "threat-actor";
pub const CAMPAIGN: &str = "campaign-name";
/// MISP types that carry free text and become `note` objects.
pub const TEXT_TYPES: &[&str] = &["text", "comment", "other"];

/// What a MISP attribute becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A value STIX can observe: the comparisons of its pattern (joined by AND) and the SCOs of
    /// its observable form (empty when STIX has no valid observable for it, e.g. a lone port).
    Observable {
        cmps: Vec<Cmp>,
        scos: Vec<Map<String, Value>>,
    },
    Vulnerability,
    ThreatActor,
    Campaign,
    Text,
    /// A MISP type this mapping does not know.
    Unmapped,
}

/// Maps one MISP attribute. `Err` names what is wrong with the value.
pub fn map_attribute(misp_type: &str, value: &str) -> Result<Kind, String> {
    if misp_type == VULNERABILITY {
        return Ok(Kind::Vulnerability);
    }
    if misp_type == THREAT_ACTOR {
        return Ok(Kind::ThreatActor);
    }
    if misp_type == CAMPAIGN {
        return Ok(Kind::Campaign);
    }
    if TEXT_TYPES.contains(&misp_type) {
        return Ok(Kind::Text);
    }
    let Some((_, paths)) = TABLE.iter().find(|(t, _)| *t == misp_type) else {
        return Ok(Kind::Unmapped);
    };
    let cmps = fill(misp_type, paths, value)?;
    // The pattern an indicator would carry must be one STIX validation accepts (a malformed
    // SSDEEP digest, say, is refused there, and with it the whole event).
    if let Err(e) = isac_pattern::parse(&render(&cmps, "AND")) {
        return Err(e.message);
    }
    let mut scos = observables(misp_type, &cmps);
    // A value a pattern can compare against but no observable may hold (a domain with a
    // space, a control character in an address) makes no observables: STIX validation would
    // refuse them, and with them the whole event. Without `to_ids` the attribute is then kept
    // as a note, with a remark.
    if scos
        .iter()
        .any(|o| !isac_stix::is_valid(&isac_stix::validate(o)))
    {
        scos.clear();
    }
    Ok(Kind::Observable { cmps, scos })
}

fn fill(misp_type: &str, paths: &[&str], value: &str) -> Result<Vec<Cmp>, String> {
    let parts: Vec<&str> = if paths.len() == 1 {
        vec![value]
    } else {
        let p: Vec<&str> = value.splitn(paths.len(), '|').collect();
        if p.len() != paths.len() {
            return Err(format!(
                "a {misp_type} value has {} parts separated by `|`",
                paths.len()
            ));
        }
        p
    };
    let mut out = Vec::with_capacity(parts.len());
    for (path, raw) in paths.iter().zip(parts) {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(format!("empty value for {path}"));
        }
        out.push(fill_one(misp_type, path, raw)?);
    }
    Ok(out)
}

fn is_ip_or_cidr(s: &str) -> Option<bool> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    if let Some(p) = prefix {
        let p: u8 = p.parse().ok()?;
        if p > if ip.is_ipv4() { 32 } else { 128 } {
            return None;
        }
    }
    Some(ip.is_ipv4())
}

fn fill_one(misp_type: &str, path: &str, raw: &str) -> Result<Cmp, String> {
    let s = |v: &str| Lit::Str(v.to_string());
    let (path, value) = if path == "IP:value" {
        match is_ip_or_cidr(raw) {
            Some(true) => ("ipv4-addr:value".to_string(), s(raw)),
            Some(false) => ("ipv6-addr:value".to_string(), s(raw)),
            None => return Err(format!("`{raw}` is not an IP address or CIDR block")),
        }
    } else if path.ends_with("_port") {
        match raw.parse::<u16>() {
            Ok(p) => (path.to_string(), Lit::Int(p.into())),
            Err(_) => return Err(format!("`{raw}` is not a port number")),
        }
    } else if path == "autonomous-system:number" {
        let digits = raw
            .strip_prefix("AS")
            .or_else(|| raw.strip_prefix("as"))
            .unwrap_or(raw);
        match digits.parse::<u32>() {
            Ok(n) => (path.to_string(), Lit::Int(n.into())),
            Err(_) => return Err(format!("`{raw}` is not an autonomous system number")),
        }
    } else if path == "mac-addr:value" {
        let m = raw.to_ascii_lowercase().replace('-', ":");
        let ok = m.len() == 17
            && m.split(':')
                .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err(format!("`{raw}` is not a MAC address"));
        }
        (path.to_string(), Lit::Str(m))
    } else if (path.starts_with("network-traffic:") && path.ends_with("_ref.value"))
        || path.ends_with("resolves_to_refs[*].value")
    {
        let ip = is_ip_or_cidr(raw).is_some();
        let wants_ip = misp_type != "hostname|port";
        if ip != wants_ip {
            return Err(format!(
                "`{raw}` is {} an IP address",
                if ip { "" } else { "not" }
            ));
        }
        (path.to_string(), s(raw))
    } else if let Some(algo) = path.rsplit_once("hashes.").map(|(_, a)| a) {
        let hex_len = match algo {
            "MD5" => Some(32),
            "SHA-1" => Some(40),
            "SHA-256" | "SHA3-256" => Some(64),
            "SHA-512" | "SHA3-512" => Some(128),
            _ => None,
        };
        if let Some(n) = hex_len
            && (raw.len() != n || !raw.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(format!("`{raw}` is not a {algo} hash"));
        }
        if algo == "TLSH" {
            // STIX holds the 70-character digest; current TLSH writes it after a `T1` version mark.
            let digest = if raw.len() == 72 && raw[..2].eq_ignore_ascii_case("T1") {
                &raw[2..]
            } else {
                raw
            };
            if digest.len() != 70 || !digest.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("`{raw}` is not a TLSH digest"));
            }
            return Ok(Cmp {
                path: path.to_string(),
                value: s(digest),
            });
        }
        (path.to_string(), s(raw))
    } else if path == "windows-registry-key:key" {
        (path.to_string(), s(&full_hive(raw)))
    } else if path == "domain-name:value" {
        if raw.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!("`{raw}` is not a domain name"));
        }
        (path.to_string(), s(raw))
    } else {
        (path.to_string(), s(raw))
    };
    Ok(Cmp { path, value })
}

/// STIX 2.1 registry keys name the hive in full (§6.13).
fn full_hive(key: &str) -> String {
    let (hive, rest) = match key.find(['\\', '/']) {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    match isac_stix::vocab::REGISTRY_HIVE_ABBREVIATIONS
        .iter()
        .find(|(short, _)| hive.eq_ignore_ascii_case(short))
    {
        Some((_, full)) => format!("{full}{rest}"),
        None => key.to_string(),
    }
}

/// Whether a URL is absolute (has a scheme), as the STIX `url` object requires.
fn is_absolute_url(v: &str) -> bool {
    match v.split_once(':') {
        Some((scheme, _)) => {
            let mut c = scheme.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn sco(sco_type: &str, props: Value, contributing: &[&str]) -> Map<String, Value> {
    let Value::Object(props) = props else {
        unreachable!("SCO properties are always built as a JSON object")
    };
    let mut key = Map::new();
    for c in contributing {
        if let Some(v) = props.get(*c) {
            key.insert((*c).to_string(), v.clone());
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), sco_type.into());
    m.insert("spec_version".into(), "2.1".into());
    m.insert("id".into(), sco_id(sco_type, &key).into());
    m.extend(props);
    m
}

fn ip_sco(v: &str) -> Map<String, Value> {
    let t = if is_ip_or_cidr(v) == Some(false) {
        "ipv6-addr"
    } else {
        "ipv4-addr"
    };
    sco(t, json!({ "value": v }), &["value"])
}

/// The cyber-observables of a mapped value (STIX 2.1 §6), with deterministic ids.
fn observables(misp_type: &str, cmps: &[Cmp]) -> Vec<Map<String, Value>> {
    let text = |i: usize| cmps[i].value.text();
    let num = |i: usize| match cmps[i].value {
        Lit::Int(n) => n,
        Lit::Str(_) => 0,
    };
    let first = cmps[0].path.as_str();
    match misp_type {
        "user-agent" | "port" => Vec::new(),
        "ip-dst|port" | "ip-src|port" | "hostname|port" => {
            let (refp, portp) = if misp_type == "ip-src|port" {
                ("src_ref", "src_port")
            } else {
                ("dst_ref", "dst_port")
            };
            let (end, proto) = if misp_type == "hostname|port" {
                (
                    sco("domain-name", json!({ "value": text(0) }), &["value"]),
                    "tcp",
                )
            } else {
                let ip = ip_sco(&text(0));
                let proto = if ip["type"] == "ipv6-addr" {
                    "ipv6"
                } else {
                    "ipv4"
                };
                (ip, proto)
            };
            let nt = sco(
                "network-traffic",
                json!({ refp: end["id"], portp: num(1), "protocols": [proto] }),
                &[
                    "start",
                    "end",
                    "src_ref",
                    "dst_ref",
                    "src_port",
                    "dst_port",
                    "protocols",
                    "extensions",
                ],
            );
            vec![end, nt]
        }
        "domain|ip" => {
            let ip = ip_sco(&text(1));
            let d = sco(
                "domain-name",
                json!({ "value": text(0), "resolves_to_refs": [ip["id"]] }),
                &["value"],
            );
            vec![ip, d]
        }
        _ if first.starts_with("ipv4-addr:") || first.starts_with("ipv6-addr:") => {
            vec![ip_sco(&text(0))]
        }
        _ if first == "domain-name:value" => {
            vec![sco("domain-name", json!({ "value": text(0) }), &["value"])]
        }
        _ if first == "url:value" => {
            if is_absolute_url(&text(0)) {
                vec![sco("url", json!({ "value": text(0) }), &["value"])]
            } else {
                Vec::new()
            }
        }
        _ if first.starts_with("file:") => {
            let mut props = Map::new();
            let mut hashes = Map::new();
            for c in cmps {
                if c.path == "file:name" {
                    props.insert("name".into(), c.value.text().into());
                } else if let Some((_, a)) = c.path.rsplit_once("hashes.") {
                    hashes.insert(a.to_string(), c.value.text().into());
                }
            }
            if !hashes.is_empty() {
                props.insert("hashes".into(), Value::Object(hashes));
            }
            vec![sco(
                "file",
                Value::Object(props),
                &["hashes", "name", "extensions", "parent_directory_ref"],
            )]
        }
        "email" | "email-src" | "email-dst" => {
            vec![sco("email-addr", json!({ "value": text(0) }), &["value"])]
        }
        "email-subject" => vec![sco(
            "email-message",
            json!({ "is_multipart": false, "subject": text(0) }),
            &["from_ref", "subject", "body"],
        )],
        "mutex" => vec![sco("mutex", json!({ "name": text(0) }), &["name"])],
        "regkey" => vec![sco(
            "windows-registry-key",
            json!({ "key": text(0) }),
            &["key", "values"],
        )],
        "regkey|value" => vec![sco(
            "windows-registry-key",
            json!({ "key": text(0), "values": [{ "name": "", "data": text(1) }] }),
            &["key", "values"],
        )],
        "AS" => vec![sco(
            "autonomous-system",
            json!({ "number": num(0) }),
            &["number"],
        )],
        "mac-address" => vec![sco("mac-addr", json!({ "value": text(0) }), &["value"])],
        _ if first.starts_with("x509-certificate:") => {
            let algo = first
                .rsplit_once("hashes.")
                .map(|(_, a)| a)
                .unwrap_or("SHA-1");
            vec![sco(
                "x509-certificate",
                json!({ "hashes": { algo: text(0) } }),
                &["hashes", "serial_number"],
            )]
        }
        _ => Vec::new(),
    }
}

/// The text of a pattern: one observation, comparisons joined by `join` (`AND` or `OR`).
pub fn render(cmps: &[Cmp], join: &str) -> String {
    let body: Vec<String> = cmps
        .iter()
        .map(|c| {
            let v = match &c.value {
                Lit::Str(s) => quote(s),
                Lit::Int(n) => n.to_string(),
            };
            format!("{} = {v}", render_path(&c.path))
        })
        .collect();
    format!("[{}]", body.join(&format!(" {join} ")))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn render_path(path: &str) -> String {
    let (ty, props) = path.split_once(':').unwrap_or((path, ""));
    let comps: Vec<String> = props
        .split('.')
        .map(|c| {
            let (name, index) = match c.find('[') {
                Some(i) => (&c[..i], &c[i..]),
                None => (c, ""),
            };
            let plain = name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if plain {
                c.to_string()
            } else {
                format!("{}{index}", quote(name))
            }
        })
        .collect();
    format!("{ty}:{}", comps.join("."))
}

/// Export: the MISP type and value for a set of comparisons joined by AND, preferring `hint`
/// (the type recorded when the object came from MISP) when it fits.
pub fn attribute_for(cmps: &[Cmp], hint: Option<&str>) -> Option<(String, String)> {
    let norm = |p: &str| {
        if p == "ipv4-addr:value" || p == "ipv6-addr:value" {
            format!("{IP}:value")
        } else {
            p.to_string()
        }
    };
    let candidates = TABLE.iter().filter(|(_, paths)| {
        paths.len() == cmps.len()
            && paths
                .iter()
                .all(|p| cmps.iter().any(|c| norm(&c.path) == *p))
    });
    let mut fits = Vec::new();
    for (t, paths) in candidates {
        let parts: Vec<String> = paths
            .iter()
            .map(|p| {
                cmps.iter()
                    .find(|c| norm(&c.path) == *p)
                    .map(|c| c.value.text())
                    .unwrap_or_default()
            })
            .collect();
        let value = parts.join("|");
        // The value must map back to exactly these comparisons.
        let again = match map_attribute(t, &value) {
            Ok(Kind::Observable { cmps: again, .. }) => again,
            _ => continue,
        };
        let mut a = again.clone();
        let mut b = cmps.to_vec();
        a.sort();
        b.sort();
        if a == b {
            fits.push((t.to_string(), value));
        }
    }
    if let Some(h) = hint
        && let Some(f) = fits.iter().find(|(t, _)| t == h)
    {
        return Some(f.clone());
    }
    fits.into_iter().next()
}

/// Export: the recorded MISP type and value when they still give exactly these comparisons
/// (so that `AS64500` stays `AS64500` rather than becoming `64500`).
pub fn recorded_fits(cmps: &[Cmp], misp_type: &str, value: &str) -> bool {
    match map_attribute(misp_type, value) {
        Ok(Kind::Observable { cmps: again, .. }) => {
            let mut a = again;
            let mut b = cmps.to_vec();
            a.sort();
            b.sort();
            a == b
        }
        _ => false,
    }
}
