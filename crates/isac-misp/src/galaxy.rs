//! MISP galaxy clusters to and from STIX domain objects.
//!
//! A galaxy cluster (a threat actor, an ATT&CK technique, a malware family, a sector, a country,
//! …) is one global object that many events refer to. It becomes one STIX domain object whose id
//! and content are functions of the cluster alone, so that every event naming the cluster refers
//! to the same object and importing it again changes nothing. The tables and the reasons are in
//! docs/MISP.md ("Galaxy clusters").

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::ids::{derived_uuid, format_ts, parse_rfc3339, stix_id, uuid_of};
use crate::import::str_of;
use crate::{MISP_EXTENSION_ID, StixItem, misp_details};

/// MISP galaxy types and the STIX type their clusters become.
static GALAXY_TYPES: &[(&str, &str)] = &[
    ("threat-actor", "threat-actor"),
    ("microsoft-activity-group", "threat-actor"),
    ("mitre-attack-pattern", "attack-pattern"),
    ("attack-pattern", "attack-pattern"),
    ("mitre-enterprise-attack-attack-pattern", "attack-pattern"),
    ("mitre-mobile-attack-attack-pattern", "attack-pattern"),
    ("mitre-pre-attack-attack-pattern", "attack-pattern"),
    ("mitre-malware", "malware"),
    ("malware", "malware"),
    ("malpedia", "malware"),
    ("mitre-enterprise-attack-malware", "malware"),
    ("mitre-mobile-attack-malware", "malware"),
    ("ransomware", "malware"),
    ("banker", "malware"),
    ("stealer", "malware"),
    ("rat", "malware"),
    ("botnet", "malware"),
    ("backdoor", "malware"),
    ("exploit-kit", "malware"),
    ("android", "malware"),
    ("mitre-tool", "tool"),
    ("tool", "tool"),
    ("mitre-enterprise-attack-tool", "tool"),
    ("mitre-mobile-attack-tool", "tool"),
    ("mitre-intrusion-set", "intrusion-set"),
    ("intrusion-set", "intrusion-set"),
    ("mitre-enterprise-attack-intrusion-set", "intrusion-set"),
    ("mitre-mobile-attack-intrusion-set", "intrusion-set"),
    ("mitre-pre-attack-intrusion-set", "intrusion-set"),
    ("mitre-course-of-action", "course-of-action"),
    ("course-of-action", "course-of-action"),
    (
        "mitre-enterprise-attack-course-of-action",
        "course-of-action",
    ),
    ("mitre-mobile-attack-course-of-action", "course-of-action"),
    ("sector", "identity"),
    ("country", "location"),
    ("region", "location"),
    ("branded-vulnerability", "vulnerability"),
    ("vulnerability", "vulnerability"),
];

/// STIX types a `stix-2.0-<type>` or `stix-2.1-<type>` galaxy (as MISP's own STIX import makes
/// them) maps back to.
const STIX_NAMED: &[&str] = &[
    "attack-pattern",
    "course-of-action",
    "intrusion-set",
    "malware",
    "threat-actor",
    "tool",
    "vulnerability",
];

/// The galaxy written for a STIX object that did not come from a galaxy cluster: type, name and
/// the uuid of that galaxy in the MISP galaxy library.
fn default_galaxy(stix_type: &str, region: bool) -> (&'static str, &'static str, &'static str) {
    match stix_type {
        "threat-actor" => (
            "threat-actor",
            "Threat Actor",
            "698774c7-8022-42c4-917f-8d6e4f06ada3",
        ),
        "attack-pattern" => (
            "mitre-attack-pattern",
            "Attack Pattern",
            "c4e851fa-775f-11e7-8163-b774922098cd",
        ),
        "malware" => (
            "mitre-malware",
            "Malware",
            "d752161c-78f6-11e7-a0ea-bfa79b407ce4",
        ),
        "tool" => ("mitre-tool", "Tool", "d5cbd1a2-78f6-11e7-a833-7b9bccca9649"),
        "intrusion-set" => (
            "mitre-intrusion-set",
            "Intrusion Set",
            "1023f364-7831-11e7-8318-43b5531983ab",
        ),
        "course-of-action" => (
            "mitre-course-of-action",
            "Course of Action",
            "6fcb4472-6de4-11e7-b5f7-37771619e14e",
        ),
        "identity" => ("sector", "Sector", "e1bb134c-ae4d-11e7-8aa9-f78a37325439"),
        "location" if region => (
            "region",
            "Regions UN M49",
            "d151a79a-e029-11e9-9409-f3e0cf3d93aa",
        ),
        "location" => ("country", "Country", "84668357-5a8c-4bdd-9f0f-6b50b2aee4c1"),
        _ => (
            "branded-vulnerability",
            "Branded Vulnerability",
            "fda8c7c2-f45a-11e7-9713-e75dac0492df",
        ),
    }
}

/// The STIX type the clusters of a galaxy type become, `None` for galaxy types without a
/// mapping.
pub fn stix_type_for(galaxy_type: &str) -> Option<&'static str> {
    if let Some((_, t)) = GALAXY_TYPES.iter().find(|(g, _)| *g == galaxy_type) {
        return Some(t);
    }
    let rest = galaxy_type
        .strip_prefix("stix-2.1-")
        .or_else(|| galaxy_type.strip_prefix("stix-2.0-"))?;
    STIX_NAMED.iter().find(|t| **t == rest).copied()
}

/// STIX types with an `aliases` property.
fn has_aliases(t: &str) -> bool {
    matches!(
        t,
        "threat-actor" | "intrusion-set" | "malware" | "tool" | "attack-pattern"
    )
}

/// STIX types with `kill_chain_phases`.
fn has_kill_chain(t: &str) -> bool {
    matches!(t, "attack-pattern" | "malware" | "tool")
}

/// List properties of STIX types that no MISP cluster field holds: written into the cluster's
/// `meta` under their STIX name, and read back from there.
const META_LISTS: &[(&str, &str)] = &[
    ("malware", "malware_types"),
    ("tool", "tool_types"),
    ("threat-actor", "threat_actor_types"),
    ("identity", "sectors"),
];

/// The STIX properties a cluster's value and meta give (besides name and description); export
/// compares them to decide whether a recorded `meta` still describes the object.
const DERIVED: &[&str] = &[
    "aliases",
    "external_references",
    "kill_chain_phases",
    "malware_types",
    "tool_types",
    "threat_actor_types",
    "sectors",
    "country",
    "region",
];

/// The `meta` keys that [`DERIVED`] properties are read from; export rewrites them from the
/// object when the recorded ones no longer fit.
const MAPPED_META: &[&str] = &[
    "synonyms",
    "refs",
    "external_id",
    "kill_chain",
    "ISO",
    "region",
    "malware_types",
    "tool_types",
    "threat_actor_types",
    "sectors",
];

/// The STIX `malware_types` a malware galaxy implies.
fn malware_types_for(galaxy_type: &str) -> &'static [&'static str] {
    match galaxy_type {
        "ransomware" => &["ransomware"],
        "rat" => &["remote-access-trojan"],
        "botnet" => &["bot"],
        "backdoor" => &["backdoor"],
        "exploit-kit" => &["exploit-kit"],
        "banker" => &["trojan"],
        "stealer" => &["spyware"],
        _ => &[],
    }
}

/// MISP `sector` cluster values (lower-cased) and the STIX industry sector they name.
static SECTORS: &[(&str, &str)] = &[
    ("academia", "education"),
    ("academia - university", "education"),
    ("aerospace", "aerospace"),
    ("agriculture", "agriculture"),
    ("automotive", "automotive"),
    ("banking", "financial-services"),
    ("banks", "financial-services"),
    ("chemical", "chemical"),
    ("civil aviation", "transportation"),
    ("communications", "communications"),
    ("construction", "construction"),
    ("critical infrastructure", "infrastructure"),
    ("defence", "defense"),
    ("defense", "defense"),
    ("education", "education"),
    ("electric", "energy"),
    ("energy", "energy"),
    ("entertainment", "entertainment"),
    ("finance", "financial-services"),
    ("financial", "financial-services"),
    ("financial services", "financial-services"),
    ("game", "entertainment"),
    ("gas", "energy"),
    ("government", "government"),
    ("government, administration", "government"),
    ("health", "healthcare"),
    ("healthcare", "healthcare"),
    ("higher education", "education"),
    ("hospitality", "hospitality-leisure"),
    ("hotels", "hospitality-leisure"),
    ("infrastructure", "infrastructure"),
    ("insurance", "insurance"),
    ("investment", "financial-services"),
    ("it", "technology"),
    ("logistics", "transportation"),
    ("manufacturing", "manufacturing"),
    ("maritime", "transportation"),
    ("military", "defense"),
    ("mining", "mining"),
    ("ngo", "non-profit"),
    ("non-profit", "non-profit"),
    ("nuclear", "infrastructure-nuclear"),
    ("oil", "energy"),
    ("pharmaceutical", "pharmaceuticals"),
    ("pharmaceuticals", "pharmaceuticals"),
    ("pharmacy", "pharmaceuticals"),
    ("retail", "retail"),
    ("shipping", "transportation"),
    ("technology", "technology"),
    ("telecoms", "telecommunications"),
    ("telecommunications", "telecommunications"),
    ("transport", "transportation"),
    ("transportation", "transportation"),
    ("utilities", "utilities"),
    ("water", "infrastructure-water"),
];

fn sectors_for(value: &str) -> Vec<String> {
    let v = value.trim().to_lowercase();
    SECTORS
        .iter()
        .filter(|(m, _)| *m == v)
        .map(|(_, s)| (*s).to_string())
        .collect()
}

/// A UN M49 region cluster value (`154 - Northern Europe`) as a STIX region name
/// (`northern-europe`).
fn region_for(value: &str) -> String {
    let v = value.trim();
    let name = match v.split_once(" - ") {
        Some((code, name)) if code.chars().all(|c| c.is_ascii_digit()) => name,
        _ => v,
    };
    let name = name
        .to_lowercase()
        .replace(" and the ", " ")
        .replace(" and ", " ");
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The texts of a meta entry: a string, or the strings of a list.
fn strings(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    match v {
        Some(Value::String(s)) => push(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).for_each(push),
        _ => {}
    }
    out
}

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// An ATT&CK id: a technique (`T1566`, `T1566.001`), tactic, software, group, mitigation,
/// campaign or data source.
fn is_attack_id(s: &str) -> bool {
    let (prefix, rest) = match s.find(|c: char| c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => return false,
    };
    if !matches!(prefix, "T" | "TA" | "S" | "G" | "M" | "C" | "DS") {
        return false;
    }
    match rest.split_once('.') {
        Some((main, sub)) => prefix == "T" && digits(main, 4, 4) && digits(sub, 3, 3),
        None => digits(rest, 4, 4),
    }
}

/// The `source_name` of an external id a cluster carries, `None` for ids of an unknown form.
fn id_source(id: &str) -> Option<&'static str> {
    let upper = id.to_ascii_uppercase();
    if is_attack_id(id) {
        Some("mitre-attack")
    } else if upper.strip_prefix("PRE-").is_some_and(is_attack_id) {
        Some("mitre-pre-attack")
    } else if upper
        .strip_prefix("MOB-")
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        Some("mitre-mobile-attack")
    } else if upper
        .strip_prefix("CAPEC-")
        .is_some_and(|r| digits(r, 1, 6))
    {
        Some("capec")
    } else if upper.strip_prefix("CWE-").is_some_and(|r| digits(r, 1, 6)) {
        Some("cwe")
    } else if is_cve(id) {
        Some("cve")
    } else {
        None
    }
}

fn is_cve(s: &str) -> bool {
    let upper = s.to_ascii_uppercase();
    match upper.strip_prefix("CVE-").and_then(|r| r.split_once('-')) {
        Some((year, n)) => digits(year, 4, 4) && digits(n, 4, 9),
        None => false,
    }
}

/// Source names whose external ids a cluster's `meta.external_id` holds.
const ID_SOURCES: &[&str] = &[
    "mitre-attack",
    "mitre-pre-attack",
    "mitre-mobile-attack",
    "mitre-ics-attack",
    "capec",
    "cwe",
    "cve",
];

fn is_web_url(u: &str) -> bool {
    let l = u.trim().to_ascii_lowercase();
    (l.starts_with("https://") || l.starts_with("http://")) && l.len() > "https://".len()
}

/// The STIX properties a cluster's value and meta give, besides name and description. `Err`
/// names why no valid object can be made (a country cluster without a country code).
fn derive(
    stix_type: &str,
    galaxy_type: &str,
    value: &str,
    meta: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut p = Map::new();
    if has_aliases(stix_type) {
        let aliases: Vec<String> = strings(meta.get("synonyms"))
            .into_iter()
            .filter(|a| a != value)
            .collect();
        if !aliases.is_empty() {
            p.insert("aliases".into(), json!(aliases));
        }
    }
    // External ids: those meta lists, then an ATT&CK id at the end of the value
    // ("Spearphishing Attachment - T1566.001"), then CVE ids a vulnerability names.
    let mut ids: Vec<String> = strings(meta.get("external_id"));
    if let Some((_, tail)) = value.rsplit_once(" - ") {
        let tail = tail.trim();
        if matches!(id_source(tail), Some("mitre-attack" | "mitre-pre-attack")) {
            ids.push(tail.to_string());
        }
    }
    if stix_type == "vulnerability" {
        if is_cve(value) {
            ids.push(value.to_string());
        }
        ids.extend(
            strings(meta.get("aliases"))
                .into_iter()
                .filter(|a| is_cve(a)),
        );
    }
    let mut refs: Vec<Value> = Vec::new();
    for id in ids {
        let Some(source) = id_source(&id) else {
            continue;
        };
        let id = if source == "cve" {
            id.to_ascii_uppercase()
        } else {
            id
        };
        let r = json!({ "source_name": source, "external_id": id });
        if !refs.contains(&r) {
            refs.push(r);
        }
    }
    for u in strings(meta.get("refs")) {
        let r = json!({ "source_name": "url", "url": u });
        if is_web_url(&u) && !refs.contains(&r) {
            refs.push(r);
        }
    }
    if !refs.is_empty() {
        p.insert("external_references".into(), Value::Array(refs));
    }
    if has_kill_chain(stix_type) {
        let phases: Vec<Value> = strings(meta.get("kill_chain"))
            .iter()
            .filter_map(|k| {
                let (name, rest) = k.split_once(':')?;
                let phase = rest.rsplit(':').next()?;
                (!name.is_empty() && !phase.is_empty())
                    .then(|| json!({ "kill_chain_name": name, "phase_name": phase }))
            })
            .collect();
        if !phases.is_empty() {
            p.insert("kill_chain_phases".into(), Value::Array(phases));
        }
    }
    for (t, prop) in META_LISTS {
        if *t != stix_type {
            continue;
        }
        let mut list = strings(meta.get(*prop));
        if list.is_empty() {
            list = match *prop {
                "malware_types" => malware_types_for(galaxy_type)
                    .iter()
                    .map(|s| (*s).to_string())
                    .collect(),
                "sectors" => sectors_for(value),
                _ => Vec::new(),
            };
        }
        if !list.is_empty() {
            p.insert((*prop).into(), json!(list));
        }
    }
    match stix_type {
        "malware" => {
            p.insert("is_family".into(), true.into());
        }
        "identity" => {
            p.insert("identity_class".into(), "class".into());
        }
        "location" if galaxy_type == "region" => {
            let region = strings(meta.get("region"))
                .into_iter()
                .next()
                .unwrap_or_else(|| region_for(value));
            if region.is_empty() {
                return Err("no region name".into());
            }
            p.insert("region".into(), region.into());
        }
        "location" => {
            let code = strings(meta.get("ISO"))
                .into_iter()
                .chain(std::iter::once(value.to_string()))
                .find(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()));
            match code {
                Some(c) => {
                    p.insert("country".into(), c.to_ascii_uppercase().into());
                }
                None => return Err("no ISO 3166 country code in meta.ISO".into()),
            }
        }
        _ => {}
    }
    Ok(p)
}

/// `version` of a cluster when it is a unix time, as MISP gives it to clusters it edits (the
/// clusters of the MISP galaxy library carry a release counter instead).
const UNIX_VERSION_MIN: i64 = 1_000_000_000;

/// `created` and `modified` of a cluster whose `version` is not a time: 2016-01-01, before MISP
/// had galaxies.
pub const CLUSTER_EPOCH: i64 = 1_451_606_400;

fn version_time(version: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = match version? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (v >= UNIX_VERSION_MIN)
        .then(|| DateTime::from_timestamp(v, 0))
        .flatten()
}

fn version_text(version: Option<&Value>) -> Option<String> {
    match version? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(CLUSTER_EPOCH, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// One galaxy cluster as an event or attribute carries it.
pub struct ClusterIn<'a> {
    pub galaxy_type: String,
    pub galaxy: &'a Map<String, Value>,
    pub cluster: &'a Map<String, Value>,
}

impl ClusterIn<'_> {
    pub fn value(&self) -> &str {
        str_of(self.cluster, "value").unwrap_or("").trim()
    }

    /// The cluster's tag: its `tag_name`, else `misp-galaxy:<type>="<value>"` as MISP names the
    /// tags of library clusters.
    pub fn tag_name(&self) -> String {
        str_of(self.cluster, "tag_name")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| tag_for(&self.galaxy_type, self.value()))
    }
}

fn tag_for(galaxy_type: &str, value: &str) -> String {
    format!("misp-galaxy:{galaxy_type}=\"{value}\"")
}

/// Every galaxy cluster of an event or attribute (`Galaxy: [{type, GalaxyCluster: [...]}]`), in
/// order.
pub fn clusters_of(holder: &Map<String, Value>) -> Vec<ClusterIn<'_>> {
    let mut out = Vec::new();
    for g in holder
        .get("Galaxy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        for c in g
            .get("GalaxyCluster")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            let galaxy_type = str_of(g, "type")
                .or_else(|| str_of(c, "type"))
                .unwrap_or("")
                .trim()
                .to_string();
            out.push(ClusterIn {
                galaxy_type,
                galaxy: g,
                cluster: c,
            });
        }
    }
    out
}

/// What a cluster becomes.
pub enum Built {
    /// The STIX object, without marking (the importer adds the audience).
    Object(Map<String, Value>),
    /// The galaxy type has no STIX mapping.
    Unmapped,
    /// No valid object can be made; the reason.
    Invalid(String),
}

/// The UUID of the STIX object of a cluster (`cluster_uuid`) that event `event_uuid` names.
///
/// An organisation's own cluster (MISP says `"default": false`) keeps its uuid, which only the
/// recipients of its events know. Any other cluster (the MISP galaxy library's, `"default":
/// true`, and one that does not say) gets an object of each event's own: library uuids are
/// public, so an object at such an id shared across events would let any member learn, by
/// submitting the cluster and being told it is already held, that somebody holds an event
/// naming it (say, a TLP:RED event on a given threat actor), and the first event imported would
/// set the audience of the object every later event refers to. Re-importing an event gives the
/// same objects. The cluster's own uuid and `default` are kept in the MISP details, so an export
/// writes the library cluster back.
pub fn object_uuid(event_uuid: &str, cluster: &Map<String, Value>, cluster_uuid: &str) -> String {
    if own_cluster(cluster) {
        cluster_uuid.to_string()
    } else {
        derived_uuid(&["galaxy-cluster", event_uuid, cluster_uuid]).to_string()
    }
}

/// Whether a cluster says it is not one of the library's (`"default": false`).
fn own_cluster(cluster: &Map<String, Value>) -> bool {
    match cluster.get("default") {
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => matches!(s.trim(), "0" | "false" | "False"),
        _ => false,
    }
}

/// The STIX object of a cluster. `uuid` is the cluster's uuid (or the one derived for it);
/// `object_uuid` that of the STIX object ([`object_uuid`]).
pub fn build(c: &ClusterIn, uuid: &str, object_uuid: &str) -> Built {
    let Some(stix_type) = stix_type_for(&c.galaxy_type) else {
        return Built::Unmapped;
    };
    let value = c.value();
    if value.is_empty() {
        return Built::Invalid("it has no value".into());
    }
    let empty = Map::new();
    let meta = c
        .cluster
        .get("meta")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let derived = match derive(stix_type, &c.galaxy_type, value, meta) {
        Ok(d) => d,
        Err(reason) => return Built::Invalid(reason),
    };
    let version = c.cluster.get("version");
    let modified = version_time(version).unwrap_or_else(epoch);
    let created = modified.min(epoch());
    let mut o = Map::new();
    o.insert("type".into(), stix_type.into());
    o.insert("spec_version".into(), "2.1".into());
    o.insert("id".into(), stix_id(stix_type, object_uuid).into());
    o.insert("created".into(), format_ts(created).into());
    o.insert("modified".into(), format_ts(modified).into());
    o.insert("name".into(), value.into());
    // MISP requires a description; one that only repeats the value says nothing.
    if let Some(d) = str_of(c.cluster, "description")
        .map(str::trim)
        .filter(|d| !d.is_empty() && *d != value)
    {
        o.insert("description".into(), d.into());
    }
    o.extend(derived);
    let mut ext = Map::new();
    ext.insert("extension_type".into(), "property-extension".into());
    ext.insert("galaxy_type".into(), c.galaxy_type.clone().into());
    for (from, to) in [("name", "galaxy_name"), ("uuid", "galaxy_uuid")] {
        if let Some(v) = str_of(c.galaxy, from).filter(|v| !v.trim().is_empty()) {
            ext.insert(to.into(), v.trim().into());
        }
    }
    ext.insert("cluster_uuid".into(), uuid.into());
    ext.insert("cluster_default".into(), (!own_cluster(c.cluster)).into());
    ext.insert("cluster_value".into(), value.into());
    ext.insert("tag_name".into(), c.tag_name().into());
    if let Some(v) = version_text(version) {
        ext.insert("cluster_version".into(), v.into());
    }
    if !meta.is_empty() {
        ext.insert("cluster_meta".into(), Value::Object(meta.clone()));
    }
    o.insert(
        "extensions".into(),
        json!({ MISP_EXTENSION_ID: Value::Object(ext) }),
    );
    Built::Object(o)
}

/// The relationship from an attribute's object to a cluster's object: `indicates` from an
/// indicator to what STIX lets an indicator indicate, `related-to` otherwise.
pub fn relationship_type(source_type: &str, target_type: &str) -> &'static str {
    match (source_type, target_type) {
        (
            "indicator",
            "attack-pattern" | "campaign" | "intrusion-set" | "malware" | "threat-actor" | "tool",
        ) => "indicates",
        _ => "related-to",
    }
}

/// The id of the relationship between two objects: a name-based UUID of both ends and the type.
pub fn relationship_id(source: &str, relationship_type: &str, target: &str) -> String {
    format!(
        "relationship--{}",
        derived_uuid(&["relationship", source, relationship_type, target])
    )
}

// ---- Export ----------------------------------------------------------------------------------

/// Whether a STIX object is written to MISP as a galaxy cluster rather than as attributes.
pub fn is_cluster(item: &StixItem) -> bool {
    let o = &item.object;
    let details = misp_details(o);
    match item.stix_type() {
        "attack-pattern" | "malware" | "tool" | "intrusion-set" | "course-of-action"
        | "location" => true,
        // A threat actor made from a MISP `threat-actor` attribute goes back as that attribute.
        "threat-actor" => details.is_none_or(|d| !d.contains_key("attribute_type")),
        // A vulnerability is a MISP attribute (a CVE) unless it came from a galaxy cluster.
        "vulnerability" => details.is_some_and(|d| d.contains_key("galaxy_type")),
        "identity" => str_of(o, "identity_class") == Some("class"),
        _ => false,
    }
}

/// A cluster ready to be written into an event or attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOut {
    pub galaxy_type: String,
    pub galaxy_name: String,
    pub galaxy_uuid: Option<String>,
    /// The `GalaxyCluster` entry, without its distribution (the exporter adds it).
    pub cluster: Map<String, Value>,
    pub tag_name: String,
}

fn ext_bool(d: Option<&Map<String, Value>>, k: &str) -> Option<bool> {
    d.and_then(|d| d.get(k)).and_then(Value::as_bool)
}

fn ext_str<'a>(d: Option<&'a Map<String, Value>>, k: &str) -> Option<&'a str> {
    d.and_then(|d| str_of(d, k))
        .filter(|s| !s.trim().is_empty())
}

/// The uuid of the galaxy cluster an object is written as: the cluster's own uuid as the import
/// recorded it (the object's id is the event's own, see [`object_uuid`]); for an object made
/// elsewhere, the UUID of its id.
pub fn cluster_uuid(item: &StixItem) -> String {
    let details = misp_details(&item.object).filter(|d| d.contains_key("galaxy_type"));
    match ext_str(details, "cluster_uuid").filter(|u| !u.trim().is_empty()) {
        Some(u) => u.trim().to_string(),
        None => uuid_of(item.id())
            .map(|u| u.to_string())
            .unwrap_or_else(|| derived_uuid(&[item.id()]).to_string()),
    }
}

/// The galaxy cluster of a STIX object for which [`is_cluster`] holds. `Err` says why none can
/// be written, in English and zh-TW.
pub fn cluster_out(item: &StixItem) -> Result<ClusterOut, (String, String)> {
    let o = &item.object;
    let t = item.stix_type();
    let details = misp_details(o).filter(|d| d.contains_key("galaxy_type"));
    let has = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    if t == "location" && !has("country") && !has("region") {
        return Err((
            "a location without country or region has no MISP galaxy".into(),
            "沒有國家或地區的 location 沒有對應的 MISP 星系".into(),
        ));
    }
    let name = str_of(o, "name")
        .or_else(|| str_of(o, "country"))
        .or_else(|| str_of(o, "region"))
        .map(str::trim)
        .unwrap_or("");
    if name.is_empty() {
        return Err((
            format!("a {t} without a name has no MISP galaxy cluster"),
            format!("沒有名稱的 {t} 沒有對應的 MISP 星系叢集"),
        ));
    }
    let recorded_type = ext_str(details, "galaxy_type").filter(|g| {
        stix_type_for(g) == Some(t)
            && (t != "location" || has(if *g == "region" { "region" } else { "country" }))
    });
    let (galaxy_type, galaxy_name, galaxy_uuid) = match recorded_type {
        Some(g) => (
            g.to_string(),
            ext_str(details, "galaxy_name").unwrap_or(g).to_string(),
            ext_str(details, "galaxy_uuid").map(str::to_string),
        ),
        None => {
            let (g, n, u) = default_galaxy(t, !has("country"));
            (g.to_string(), n.to_string(), Some(u.to_string()))
        }
    };
    let recorded_value = ext_str(details, "cluster_value");
    let same_cluster = recorded_type.is_some() && recorded_value == Some(name);
    let empty = Map::new();
    let recorded_meta = details
        .and_then(|d| d.get("cluster_meta"))
        .and_then(Value::as_object)
        .filter(|_| recorded_type.is_some())
        .unwrap_or(&empty);
    // The recorded meta is written as it was when it still gives the object's properties.
    let fits = same_cluster
        && derive(t, &galaxy_type, name, recorded_meta).is_ok_and(|d| {
            DERIVED
                .iter()
                .all(|k| d.get(*k) == o.get(*k).filter(|v| !v.is_null()))
        });
    let meta = if fits {
        recorded_meta.clone()
    } else {
        meta_from(o, t, &galaxy_type, name, recorded_meta)
    };
    let uuid = cluster_uuid(item);
    let tag_name = match ext_str(details, "tag_name") {
        Some(tag) if same_cluster => tag.to_string(),
        _ => tag_for(&galaxy_type, name),
    };
    let mut cluster = Map::new();
    cluster.insert("uuid".into(), uuid.into());
    // A library cluster stays one; any other object is an organisation's own cluster, whose
    // uuid (its STIX id's) brings it back to the same object (see [`object_uuid`]).
    let library = ext_bool(details, "cluster_default") == Some(true)
        && ext_str(details, "cluster_uuid").is_some();
    cluster.insert("default".into(), library.into());
    cluster.insert("type".into(), galaxy_type.clone().into());
    cluster.insert("value".into(), name.into());
    cluster.insert("tag_name".into(), tag_name.clone().into());
    let description = str_of(o, "description")
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(name);
    cluster.insert("description".into(), description.into());
    let modified = str_of(o, "modified").and_then(parse_rfc3339);
    let recorded_version = details.and_then(|d| d.get("cluster_version"));
    let version = match modified {
        Some(m)
            if recorded_version.is_some()
                && version_time(recorded_version).unwrap_or_else(epoch) == m =>
        {
            version_text(recorded_version)
        }
        Some(m) if m != epoch() && m.timestamp() >= UNIX_VERSION_MIN => {
            Some(m.timestamp().to_string())
        }
        _ => None,
    };
    if let Some(v) = version {
        cluster.insert("version".into(), v.into());
    }
    if !meta.is_empty() {
        cluster.insert("meta".into(), Value::Object(meta));
    }
    Ok(ClusterOut {
        galaxy_type,
        galaxy_name,
        galaxy_uuid,
        cluster,
        tag_name,
    })
}

/// A cluster's `meta` written from the object's properties, keeping the recorded entries that
/// no STIX property holds.
fn meta_from(
    o: &Map<String, Value>,
    t: &str,
    galaxy_type: &str,
    name: &str,
    recorded: &Map<String, Value>,
) -> Map<String, Value> {
    let mut meta: Map<String, Value> = recorded
        .iter()
        .filter(|(k, _)| !MAPPED_META.contains(&k.as_str()))
        .filter(|(k, _)| !(t == "vulnerability" && k.as_str() == "aliases"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let list = |k: &str| strings(o.get(k));
    if has_aliases(t) {
        let aliases = list("aliases");
        if !aliases.is_empty() {
            meta.insert("synonyms".into(), json!(aliases));
        }
    }
    let mut ids: Vec<String> = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    for r in o
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let source = r.get("source_name").and_then(Value::as_str).unwrap_or("");
        if let Some(id) = r.get("external_id").and_then(Value::as_str)
            && ID_SOURCES.contains(&source)
            && !ids.iter().any(|i| i == id)
        {
            ids.push(id.to_string());
        }
        if let Some(u) = r.get("url").and_then(Value::as_str)
            && is_web_url(u)
            && !urls.iter().any(|x| x == u)
        {
            urls.push(u.to_string());
        }
    }
    if !ids.is_empty() {
        meta.insert("external_id".into(), json!(ids));
    }
    if !urls.is_empty() {
        meta.insert("refs".into(), json!(urls));
    }
    let phases: Vec<String> = o
        .get("kill_chain_phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| {
            Some(format!(
                "{}:{}",
                k.get("kill_chain_name")?.as_str()?,
                k.get("phase_name")?.as_str()?
            ))
        })
        .collect();
    if has_kill_chain(t) && !phases.is_empty() {
        meta.insert("kill_chain".into(), json!(phases));
    }
    for (owner, prop) in META_LISTS {
        if *owner != t {
            continue;
        }
        let have = list(prop);
        let implied: Vec<String> = match *prop {
            "malware_types" => malware_types_for(galaxy_type)
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            "sectors" => sectors_for(name),
            _ => Vec::new(),
        };
        if !have.is_empty() && have != implied {
            meta.insert((*prop).into(), json!(have));
        }
    }
    if t == "location" {
        if galaxy_type == "region" {
            if let Some(r) = str_of(o, "region")
                && r != region_for(name)
            {
                meta.insert("region".into(), r.into());
            }
        } else if let Some(c) = str_of(o, "country") {
            meta.insert("ISO".into(), c.into());
        }
    }
    meta
}

/// The `Galaxy` list of an event or attribute: clusters grouped by galaxy, in order.
pub fn galaxies_json(clusters: &[(ClusterOut, Value)]) -> Vec<Value> {
    let mut out: Vec<(String, Map<String, Value>, Vec<Value>)> = Vec::new();
    for (c, entry) in clusters {
        let i = match out.iter().position(|(t, _, _)| *t == c.galaxy_type) {
            Some(i) => i,
            None => {
                let mut g = Map::new();
                if let Some(u) = &c.galaxy_uuid {
                    g.insert("uuid".into(), u.clone().into());
                }
                g.insert("name".into(), c.galaxy_name.clone().into());
                g.insert("type".into(), c.galaxy_type.clone().into());
                out.push((c.galaxy_type.clone(), g, Vec::new()));
                out.len() - 1
            }
        };
        if !out[i].2.contains(entry) {
            out[i].2.push(entry.clone());
        }
    }
    out.into_iter()
        .map(|(_, mut g, list)| {
            g.insert("GalaxyCluster".into(), Value::Array(list));
            Value::Object(g)
        })
        .collect()
}
