//! TLP marking definitions: the TLP 1.0 objects of STIX 2.1 §7.2.1.4 and the TLP 2.0 objects
//! published with the TLP 2.0 property extension, exactly; and reading an object's TLP level
//! from its `object_marking_refs`.

use isac_model::Tlp;
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::validate::Findings;

/// The TLP 2.0 property extension's `extension-definition` id.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";
/// The identity that created the TLP 2.0 marking definitions.
pub const TLP2_CREATED_BY: &str = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01";

/// TLP 1.0 levels with their marking-definition ids and colour words.
const V1: [(Tlp, &str, &str); 4] = [
    (
        Tlp::Clear,
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        "white",
    ),
    (
        Tlp::Green,
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "green",
    ),
    (
        Tlp::Amber,
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        "amber",
    ),
    (
        Tlp::Red,
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        "red",
    ),
];

/// The TLP 2.0 marking-definition object of a level.
pub fn marking_definition(tlp: Tlp) -> Map<String, Value> {
    let value = json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp.marking_id_v2(),
        "created": "2022-10-01T00:00:00.000Z",
        "created_by_ref": TLP2_CREATED_BY,
        "name": tlp.label(),
        "extensions": {
            TLP2_EXTENSION_ID: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.as_str(),
            }
        }
    });
    into_map(value)
}

/// The TLP 1.0 marking-definition object of a level (`None` for AMBER+STRICT, which TLP 1.0
/// lacks). TLP 1.0 WHITE is the equal of CLEAR.
pub fn marking_definition_v1(tlp: Tlp) -> Option<Map<String, Value>> {
    let (_, id, colour) = V1.iter().find(|(t, _, _)| *t == tlp)?;
    Some(into_map(json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": id,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": format!("TLP:{}", colour.to_ascii_uppercase()),
        "definition": { "tlp": colour },
    })))
}

/// Every predefined TLP marking definition, TLP 2.0 first.
pub fn all_definitions() -> Vec<Map<String, Value>> {
    let mut all: Vec<_> = Tlp::ALL.iter().map(|t| marking_definition(*t)).collect();
    all.extend(V1.iter().filter_map(|(t, _, _)| marking_definition_v1(*t)));
    all
}

/// Whether `id` is the id of a predefined TLP marking definition (1.0 or 2.0): that
/// [`canonical_for_id`] has an object for it, without building the object.
pub fn is_canonical_id(id: &str) -> bool {
    V1.iter().any(|(_, i, _)| *i == id) || Tlp::ALL.iter().any(|t| t.marking_id_v2() == id)
}

/// The canonical object behind a TLP marking-definition id (1.0 or 2.0).
pub fn canonical_for_id(id: &str) -> Option<Map<String, Value>> {
    if let Some((t, _, _)) = V1.iter().find(|(_, i, _)| *i == id) {
        return marking_definition_v1(*t);
    }
    Tlp::ALL
        .iter()
        .find(|t| t.marking_id_v2() == id)
        .map(|t| marking_definition(*t))
}

/// Why an object's TLP cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlpError {
    /// Two different TLP levels are marked on one object.
    Conflicting(Tlp, Tlp),
    /// `object_marking_refs` is not a list of strings.
    Malformed,
}

impl std::fmt::Display for TlpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlpError::Conflicting(a, b) => {
                write!(
                    f,
                    "conflicting TLP markings {} and {}",
                    a.label(),
                    b.label()
                )
            }
            TlpError::Malformed => write!(f, "`object_marking_refs` is not a list of ids"),
        }
    }
}

impl std::error::Error for TlpError {}

/// The TLP level of an object from its `object_marking_refs`; TLP 1.0 ids read as their 2.0
/// equals (WHITE = CLEAR). Non-TLP markings are ignored. Two different levels are an error.
pub fn tlp_of(object: &Map<String, Value>) -> Result<Option<Tlp>, TlpError> {
    match object.get("object_marking_refs") {
        None => return Ok(None),
        Some(Value::Array(refs)) if refs.iter().all(Value::is_string) => {}
        Some(_) => return Err(TlpError::Malformed),
    }
    match marked_tlp(object, &DeclaredTlp::default()) {
        Ok(m) => Ok(m.object_level),
        Err(MarkedError::Conflicting(a, b)) => Err(TlpError::Conflicting(a, b)),
        Err(MarkedError::UnknownLevel(..)) => unreachable!("only learnt definitions have one"),
    }
}

/// Sets an object's TLP marking to the TLP 2.0 id of `tlp`, replacing any TLP marking (1.0 or
/// 2.0) and keeping every other marking.
pub fn set_tlp(object: &mut Map<String, Value>, tlp: Tlp) {
    let mut refs: Vec<Value> = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|r| r.as_str().and_then(Tlp::from_marking_id).is_none())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    refs.insert(0, Value::String(tlp.marking_id_v2().to_string()));
    object.insert("object_marking_refs".into(), Value::Array(refs));
}

/// The most marking definitions outside the predefined ones that one [`DeclaredTlp`] learns: a
/// bundle carries a handful; more is not a real bundle, and the table stays small.
pub const DECLARED_MAX: usize = 1_000;

/// TLP levels that marking definitions other than the predefined ones declare, learnt from the
/// objects of a bundle or envelope. The STIX specification asks producers to use the predefined
/// TLP definitions (§7.2.1.4), but tools in use mint their own: OpenCTI's connectors a
/// statement marking with `x_opencti_definition_type: "TLP"` and `x_opencti_definition:
/// "TLP:AMBER+STRICT"`, others a statement or TLP 1.0-style definition named `TLP:RED`. An
/// object marked only with such a definition is as restricted as it says; reading it as
/// unmarked would give it the default TLP and widen it.
#[derive(Debug, Clone, Default)]
pub struct DeclaredTlp {
    /// Id → the level, or the level's text when it names none isac knows.
    levels: HashMap<String, Result<Tlp, String>>,
}

/// What a marking definition other than the predefined ones says its TLP level is: `None` when
/// it declares none, `Err(text)` when it declares one isac cannot read. Read, in order, from
/// OpenCTI's `x_opencti_definition_type`/`x_opencti_definition`, the TLP 2.0 extension's
/// `tlp_2_0`, a TLP 1.0-style `definition_type: "tlp"`, and a `name` of the form `TLP:LEVEL`.
pub fn declared_level(object: &Map<String, Value>) -> Option<Result<Tlp, String>> {
    if object.get("type").and_then(Value::as_str) != Some("marking-definition") {
        return None;
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let opencti = object
        .get("x_opencti_definition_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("tlp"))
        .then(|| text(object.get("x_opencti_definition")))
        .flatten();
    let tlp2 = object
        .get("extensions")
        .and_then(|e| e.get(TLP2_EXTENSION_ID))
        .and_then(|e| e.get("tlp_2_0"));
    let v1 = (object.get("definition_type").and_then(Value::as_str) == Some("tlp"))
        .then(|| text(object.get("definition").and_then(|d| d.get("tlp"))))
        .flatten();
    let named = text(object.get("name"))
        .filter(|n| n.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tlp:")));
    let level = opencti.or_else(|| text(tlp2)).or(v1).or(named)?;
    Some(read_level(&level).ok_or(level))
}

/// A level as tools write it: `TLP:AMBER+STRICT`, `amber+strict`, `AMBER_STRICT`, `white`.
fn read_level(text: &str) -> Option<Tlp> {
    let t = text.trim();
    let t = match t.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("tlp:") => &t[4..],
        _ => t,
    };
    let t = t.trim().to_ascii_lowercase().replace(['_', ' ', '-'], "+");
    Tlp::parse_loose(&t).ok()
}

impl DeclaredTlp {
    /// Learns the level `object` declares, when it is a marking definition other than the
    /// predefined ones that declares one. `Err` when the table is full ([`DECLARED_MAX`]); the
    /// caller refuses the definition rather than forget it.
    pub fn learn(&mut self, object: &Map<String, Value>) -> Result<(), String> {
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            return Ok(());
        };
        // The predefined (and OpenCTI's) definitions are never redefined by a bundle.
        if Tlp::from_marking_id(id).is_some() {
            return Ok(());
        }
        let Some(level) = declared_level(object) else {
            return Ok(());
        };
        if !self.levels.contains_key(id) && self.levels.len() >= DECLARED_MAX {
            return Err(format!(
                "more than {DECLARED_MAX} TLP marking definitions of its own in one import"
            ));
        }
        self.levels.insert(id.to_owned(), level);
        Ok(())
    }

    /// The level a marking-definition id stands for: a predefined one, or one learnt here.
    /// `Err(text)` for a learnt definition whose level isac cannot read.
    pub fn level(&self, id: &str) -> Option<Result<Tlp, String>> {
        Tlp::from_marking_id(id)
            .map(Ok)
            .or_else(|| self.levels.get(id).cloned())
    }
}

/// The marking-definition ids an object refers to, in `object_marking_refs` and granular
/// markings.
pub fn marking_refs(object: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let object_level = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let granular = object
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref"));
    object_level.chain(granular).filter_map(Value::as_str)
}

/// What an object's TLP markings say, for storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    /// The TLP of `object_marking_refs`.
    pub object_level: Option<Tlp>,
    /// The most restrictive of the object-level TLP and every TLP of a granular marking: a
    /// granular marking restricts part of the object, and the object is shared whole.
    pub tlp: Option<Tlp>,
}

/// Why an object's TLP markings cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkedError {
    /// Two different TLP levels in `object_marking_refs`.
    Conflicting(Tlp, Tlp),
    /// A marking definition declares a TLP level isac cannot read: (marking id, level text).
    UnknownLevel(String, String),
}

/// The TLP of an object from its object-level and granular markings, predefined or declared
/// (see [`Marked`]). Markings that are not TLP are ignored.
pub fn marked_tlp(
    object: &Map<String, Value>,
    declared: &DeclaredTlp,
) -> Result<Marked, MarkedError> {
    let level = |id: &str| -> Result<Option<Tlp>, MarkedError> {
        match declared.level(id) {
            None => Ok(None),
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(text)) => Err(MarkedError::UnknownLevel(id.to_owned(), text)),
        }
    };
    let mut object_level: Option<Tlp> = None;
    for id in object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(t) = level(id)? {
            match object_level {
                Some(prev) if prev != t => return Err(MarkedError::Conflicting(prev, t)),
                _ => object_level = Some(t),
            }
        }
    }
    let mut tlp = object_level;
    for id in object
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref"))
        .filter_map(Value::as_str)
    {
        if let Some(t) = level(id)? {
            tlp = Some(match tlp {
                Some(prev) if prev.breadth() <= t.breadth() => prev,
                _ => t,
            });
        }
    }
    Ok(Marked { object_level, tlp })
}

/// Makes `object_marking_refs` say `tlp` in a form every reader knows: when a predefined
/// definition of that level is already there, nothing changes; when only a declared or
/// OpenCTI definition of that level is, the TLP 2.0 id is added before it; otherwise (no TLP,
/// or a wider one raised by a granular marking) every TLP marking is replaced by the TLP 2.0
/// id. Other markings stay.
pub fn mark_tlp(object: &mut Map<String, Value>, tlp: Tlp, declared: &DeclaredTlp) {
    let refs: Vec<Value> = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let level = |v: &Value| v.as_str().and_then(|id| declared.level(id)?.ok());
    if refs
        .iter()
        .any(|r| level(r) == Some(tlp) && r.as_str().is_some_and(is_canonical_id))
    {
        return;
    }
    let same = refs.iter().any(|r| level(r) == Some(tlp));
    let mut out: Vec<Value> = refs
        .into_iter()
        .filter(|r| same || level(r).is_none())
        .collect();
    out.insert(0, Value::String(tlp.marking_id_v2().to_owned()));
    object.insert("object_marking_refs".into(), Value::Array(out));
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Marking-definition rules (§7.2): TLP ids must carry exactly the canonical content; other
/// definitions need a known `definition_type` with a matching `definition`, or an extension.
pub(crate) fn check_marking_definition(object: &Map<String, Value>, path: &str, f: &mut Findings) {
    let id = object.get("id").and_then(Value::as_str).unwrap_or("");
    if let Some(canonical) = canonical_for_id(id) {
        let mut given = object.clone();
        // The TLP 2.0 definitions circulate with and without their creator; both are the same
        // definition.
        if !given.contains_key("created_by_ref") && canonical.contains_key("created_by_ref") {
            given.insert("created_by_ref".into(), canonical["created_by_ref"].clone());
        }
        if given != canonical {
            f.error(
                "tlp-definition",
                path,
                format!("`{id}` is a predefined TLP marking definition; its content must be exactly the canonical one"),
            );
        }
        return;
    }
    let definition_type = object.get("definition_type");
    let has_extensions = object.contains_key("extensions");
    match definition_type.and_then(Value::as_str) {
        Some("tlp") => f.error(
            "tlp-definition",
            &format!("{path}/definition_type"),
            "only the predefined TLP marking definitions may use `definition_type: tlp` (§7.2.1.4)",
        ),
        Some("statement") => {
            let statement = object
                .get("definition")
                .and_then(|d| d.get("statement"))
                .and_then(Value::as_str);
            if statement.is_none() {
                f.error(
                    "required-property",
                    &format!("{path}/definition/statement"),
                    "a statement marking needs `definition.statement` as a string (§7.2.1.3)",
                );
            }
        }
        Some(_) => {
            if !object.get("definition").is_some_and(Value::is_object) {
                f.error(
                    "required-property",
                    &format!("{path}/definition"),
                    "`definition` must be an object",
                );
            }
        }
        None if definition_type.is_some() => f.error(
            "invalid-value",
            &format!("{path}/definition_type"),
            "must be a string",
        ),
        None => {
            if object.contains_key("definition") {
                f.error(
                    "required-property",
                    &format!("{path}/definition_type"),
                    "`definition` needs `definition_type`",
                );
            } else if !has_extensions {
                f.error(
                    "required-property",
                    &format!("{path}/definition_type"),
                    "a marking definition without extensions needs `definition_type` and `definition` (§7.2.1)",
                );
            }
        }
    }
    for key in ["modified", "revoked"] {
        if object.contains_key(key) {
            f.warn(
                "marking-versioning",
                &format!("{path}/{key}"),
                "marking definitions are not versioned (§7.2.1)",
            );
        }
    }
}
