//! STIX 2.0 → 2.1 upgrade of objects and bundles.
//!
//! What is converted:
//! - every object gets `spec_version: "2.1"` (2.0 objects carry none, or `"2.0"`);
//! - `created`/`modified` (and a marking definition's `created`) without a fraction get
//!   `.000`, the millisecond precision 2.1 requires;
//! - `labels` move to the 2.1 type properties where 2.1 moved them: indicator →
//!   `indicator_types`, malware → `malware_types` (and `is_family: true`, the 2.0 meaning of a
//!   malware object), report → `report_types`, threat-actor → `threat_actor_types`, tool →
//!   `tool_types`;
//! - indicators get `pattern_type: "stix"` (the only pattern language of 2.0);
//! - observed-data `objects` (a dictionary of cyber-observables referring to each other by
//!   dictionary key) become top-level SCOs with ids and the observed-data gets `object_refs`.
//!   Every `*_ref`/`*_refs` property inside them (extensions and MIME parts included) is
//!   rewritten from keys to ids. SCO ids are the deterministic ids of §2.9 when the SCO has
//!   id-contributing properties; otherwise (and for reference cycles) they are UUIDv4-shaped ids
//!   derived from the observed-data id and the dictionary key, so upgrading the same input twice
//!   gives the same ids;
//! - TLP 1.0 marking references are kept as they are (they remain valid in 2.1 and read as
//!   their TLP 2.0 equals); the 2.0 TLP definitions themselves become their 2.1 forms (which add
//!   `name`); other 2.0 marking definitions get `spec_version`;
//! - a 2.0 bundle's `spec_version` is dropped (2.1 bundles have none).
//!
//! Everything else, custom properties included, is kept unchanged.

use serde_json::{Map, Value};

use crate::bundle::Bundle;
use crate::id;

const LABEL_MOVES: &[(&str, &str)] = &[
    ("indicator", "indicator_types"),
    ("malware", "malware_types"),
    ("report", "report_types"),
    ("threat-actor", "threat_actor_types"),
    ("tool", "tool_types"),
];

/// Upgrades one STIX 2.0 object. Returns the upgraded object first, followed by the SCOs an
/// observed-data's `objects` dictionary was turned into. 2.1 objects come back unchanged.
pub fn upgrade_object(object: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut o = object.clone();
    let type_name = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if o.get("spec_version").and_then(Value::as_str) == Some("2.1") {
        return vec![o];
    }
    if let Some(canonical) = tlp_v1_definition(&o) {
        return vec![canonical];
    }
    o.insert("spec_version".into(), Value::String("2.1".into()));
    for key in ["created", "modified"] {
        if let Some(Value::String(s)) = o.get_mut(key)
            && let Some(stripped) = s.strip_suffix('Z')
            && !stripped.contains('.')
        {
            *s = format!("{stripped}.000Z");
        }
    }
    if let Some((_, to)) = LABEL_MOVES.iter().find(|(t, _)| *t == type_name)
        && !o.contains_key(*to)
        && let Some(labels) = o.remove("labels")
    {
        o.insert((*to).into(), labels);
    }
    match type_name.as_str() {
        "indicator" => {
            o.entry("pattern_type")
                .or_insert_with(|| Value::String("stix".into()));
        }
        "malware" => {
            o.entry("is_family").or_insert(Value::Bool(true));
        }
        _ => {}
    }
    let mut spawned = Vec::new();
    if type_name == "observed-data"
        && !o.contains_key("object_refs")
        && let Some(Value::Object(objects)) = o.remove("objects")
    {
        let owner = o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        spawned = observables_to_scos(&owner, objects);
        let refs = spawned
            .iter()
            .filter_map(|s| s.get("id").cloned())
            .collect::<Vec<_>>();
        if !refs.is_empty() {
            o.insert("object_refs".into(), Value::Array(refs));
        }
    }
    let mut out = vec![o];
    out.extend(spawned);
    out
}

/// The 2.1 form of a TLP 1.0 marking definition written as STIX 2.0 defined it. The 2.0
/// definitions of TLP:WHITE, GREEN, AMBER and RED have no `name` and no `spec_version`; their 2.1
/// forms (§7.2.1.4) add both, and every other property is the same. Only an exact copy of a 2.0
/// definition is replaced: anything else under one of these ids is left for validation, which
/// refuses it as a forged TLP definition.
fn tlp_v1_definition(o: &Map<String, Value>) -> Option<Map<String, Value>> {
    if o.get("type").and_then(Value::as_str) != Some("marking-definition") {
        return None;
    }
    let canonical = crate::tlp::canonical_for_id(o.get("id")?.as_str()?)?;
    let mut as_v20 = canonical.clone();
    as_v20.remove("spec_version");
    as_v20.remove("name");
    let mut given = o.clone();
    if given.get("spec_version").and_then(Value::as_str) == Some("2.0") {
        given.remove("spec_version");
    }
    // Some 2.0 producers wrote the 2.1 name already; it must then be the right one.
    if let Some(name) = given.remove("name")
        && Some(&name) != canonical.get("name")
    {
        return None;
    }
    (given == as_v20).then_some(canonical)
}

/// Upgrades a STIX 2.0 bundle: every object upgraded, spawned SCOs added after their
/// observed-data, the bundle's `spec_version` dropped.
pub fn upgrade_bundle(bundle: &Bundle) -> Bundle {
    let mut out = bundle.clone();
    out.other.remove("spec_version");
    out.objects = bundle.objects.iter().flat_map(upgrade_object).collect();
    out
}

/// Turns a 2.0 observed-data `objects` dictionary into 2.1 SCOs, in key order.
fn observables_to_scos(owner: &str, objects: Map<String, Value>) -> Vec<Map<String, Value>> {
    let keys: Vec<String> = objects.keys().cloned().collect();
    let mut items: Vec<(String, Map<String, Value>)> = objects
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Object(mut m) => {
                m.insert("spec_version".into(), Value::String("2.1".into()));
                Some((k, m))
            }
            _ => None,
        })
        .collect();
    let mut ids: std::collections::BTreeMap<String, String> = Default::default();
    // Ids depend on the ids of referenced SCOs (e.g. a file's parent directory), so assign them
    // in rounds: an SCO gets its id once every key it refers to has one.
    loop {
        let mut progressed = false;
        for (key, m) in &items {
            if ids.contains_key(key) {
                continue;
            }
            let refs = referenced_keys(&Value::Object(m.clone()));
            if refs
                .iter()
                .all(|r| ids.contains_key(r) || !keys.contains(r))
            {
                let mut resolved = m.clone();
                rewrite_refs(&mut resolved, &ids);
                ids.insert(key.clone(), sco_id_or_derived(owner, key, &resolved));
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    for (key, m) in &items {
        if !ids.contains_key(key) {
            ids.insert(key.clone(), sco_id_or_derived(owner, key, m));
        }
    }
    for (key, m) in items.iter_mut() {
        rewrite_refs(m, &ids);
        m.insert("id".into(), Value::String(ids[key.as_str()].clone()));
    }
    items.into_iter().map(|(_, m)| m).collect()
}

fn sco_id_or_derived(owner: &str, key: &str, m: &Map<String, Value>) -> String {
    let type_name = m.get("type").and_then(Value::as_str).unwrap_or("x-unknown");
    id::sco_id(m).unwrap_or_else(|_| {
        let name = format!("{owner}/{key}");
        let mut bytes = *uuid::Uuid::new_v5(&id::SCO_NAMESPACE, name.as_bytes()).as_bytes();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        format!("{type_name}--{}", uuid::Uuid::from_bytes(bytes))
    })
}

fn is_ref_key(k: &str) -> bool {
    k.ends_with("_ref") || k.ends_with("_refs")
}

fn referenced_keys(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if is_ref_key(k) {
                        match v {
                            Value::String(s) => out.push(s.clone()),
                            Value::Array(a) => {
                                out.extend(a.iter().filter_map(|x| x.as_str().map(String::from)))
                            }
                            _ => {}
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

fn rewrite_refs(m: &mut Map<String, Value>, ids: &std::collections::BTreeMap<String, String>) {
    fn fix(v: &mut Value, ids: &std::collections::BTreeMap<String, String>) {
        match v {
            Value::String(s) => {
                if let Some(id) = ids.get(s.as_str()) {
                    *s = id.clone();
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| fix(x, ids)),
            _ => {}
        }
    }
    fn walk(v: &mut Value, ids: &std::collections::BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if is_ref_key(k) {
                        fix(v, ids);
                    } else {
                        walk(v, ids);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, ids)),
            _ => {}
        }
    }
    for (k, v) in m.iter_mut() {
        if is_ref_key(k) {
            fix(v, ids);
        } else {
            walk(v, ids);
        }
    }
}
