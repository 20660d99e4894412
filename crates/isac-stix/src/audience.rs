//! isac's audience property extension (DESIGN §3): the recipient orgs, sharing groups and named
//! users of an object travel with it, so its audience survives TAXII and bundle round trips.
//!
//! On an object the extension looks like this (empty lists are omitted, as STIX requires):
//!
//! ```json
//! "extensions": {
//!   "extension-definition--7fd9267b-68a0-4b62-97b2-f62d59fbad48": {
//!     "extension_type": "property-extension",
//!     "orgs": ["identity--…"],
//!     "groups": ["<sharing-group uuid>"],
//!     "users": ["<user uuid>"]
//!   }
//! }
//! ```
//!
//! [`EXTENSION_ID`] is fixed forever: changing it would orphan the audience of every object
//! already shared.

use std::collections::BTreeSet;

use isac_model::limits::RECIPIENTS;
use serde_json::{Map, Value, json};

use crate::syntax;

/// The id of isac's `extension-definition`. A random UUIDv4, chosen once and never changed.
pub const EXTENSION_ID: &str = "extension-definition--7fd9267b-68a0-4b62-97b2-f62d59fbad48";

/// The fixed `created`/`modified` of the extension definition: every isac deployment publishes
/// the same definition, differing only in its creator.
pub const EXTENSION_CREATED: &str = "2026-01-01T00:00:00.000Z";

/// The normative plain-text definition of the extension (its `schema` property, §7.3).
pub const SCHEMA_TEXT: &str = "isac audience property extension, version 1.0. The extension object carries \
`extension_type: \"property-extension\"` and up to three non-empty lists of strings: `orgs` (STIX identity ids \
of the recipient organisations), `groups` (UUIDs of the recipient sharing groups) and `users` (UUIDs of the named \
users, for TLP:RED). At most 500 entries in total; no duplicates within a list. The audience widens the object's \
TLP marking; it never narrows it.";

/// The audience beyond the TLP level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    /// Recipient orgs, as their STIX `identity` ids.
    pub orgs: Vec<String>,
    /// Recipient sharing-group ids (UUIDs).
    pub groups: Vec<String>,
    /// Named users (TLP:RED), by user id (UUIDs).
    pub users: Vec<String>,
}

impl Audience {
    /// Whether no recipient is named.
    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty() && self.groups.is_empty() && self.users.is_empty()
    }

    /// How many recipients are named in total.
    pub fn len(&self) -> usize {
        self.orgs.len() + self.groups.len() + self.users.len()
    }
}

/// isac's `extension-definition` object, created by the operator identity
/// (`identity--<uuid>`). It is public (TLP:CLEAR): partners need it to read the extension.
pub fn extension_definition(operator_identity_id: &str) -> Map<String, Value> {
    let v = json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": operator_identity_id,
        "created": EXTENSION_CREATED,
        "modified": EXTENSION_CREATED,
        "name": "isac audience",
        "description": "Recipient organisations, sharing groups and named users of an object beyond its TLP marking.",
        "schema": SCHEMA_TEXT,
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [isac_model::Tlp::Clear.marking_id_v2()],
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Reads the extension from an object; `Ok(None)` when absent. The shape is checked: strings
/// only, org ids `identity--<uuid>`, group and user ids UUIDs, no duplicates, no empty lists, no
/// unknown keys, at most [`RECIPIENTS`] entries in total.
pub fn read(object: &Map<String, Value>) -> Result<Option<Audience>, String> {
    let Some(extensions) = object.get("extensions") else {
        return Ok(None);
    };
    let Some(extensions) = extensions.as_object() else {
        return Err("`extensions` is not an object".into());
    };
    let Some(ext) = extensions.get(EXTENSION_ID) else {
        return Ok(None);
    };
    let ext = ext
        .as_object()
        .ok_or("the audience extension is not an object")?;
    if ext.get("extension_type").and_then(Value::as_str) != Some("property-extension") {
        return Err("the audience extension needs `extension_type: \"property-extension\"`".into());
    }
    if let Some(key) = ext
        .keys()
        .find(|k| !matches!(k.as_str(), "extension_type" | "orgs" | "groups" | "users"))
    {
        return Err(format!(
            "the audience extension has an unknown property `{key}`"
        ));
    }
    let list = |key: &str, check: fn(&str) -> bool, what: &str| -> Result<Vec<String>, String> {
        let Some(v) = ext.get(key) else {
            return Ok(Vec::new());
        };
        let arr = v
            .as_array()
            .ok_or_else(|| format!("audience `{key}` is not a list"))?;
        if arr.is_empty() {
            return Err(format!(
                "audience `{key}` is an empty list; omit it instead"
            ));
        }
        if arr.len() > RECIPIENTS {
            return Err(format!(
                "audience `{key}` has more than {RECIPIENTS} entries"
            ));
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(arr.len());
        for item in arr {
            let s = item
                .as_str()
                .ok_or_else(|| format!("audience `{key}` holds a non-string"))?;
            if !check(s) {
                return Err(format!(
                    "audience `{key}` entry `{}` is not {what}",
                    short(s)
                ));
            }
            if !seen.insert(s) {
                return Err(format!("audience `{key}` lists `{s}` twice"));
            }
            out.push(s.to_string());
        }
        Ok(out)
    };
    let audience = Audience {
        orgs: list("orgs", is_identity_id, "an identity id")?,
        groups: list("groups", is_uuid, "a UUID")?,
        users: list("users", is_uuid, "a UUID")?,
    };
    if audience.len() > RECIPIENTS {
        return Err(format!(
            "the audience names {} recipients; at most {RECIPIENTS} are allowed",
            audience.len()
        ));
    }
    Ok(Some(audience))
}

/// Writes (or, for an empty audience, removes) the extension on an object. `extensions` itself
/// is removed when nothing else is left in it.
pub fn write(object: &mut Map<String, Value>, audience: &Audience) {
    if audience.is_empty() {
        if let Some(Value::Object(ext)) = object.get_mut("extensions") {
            ext.remove(EXTENSION_ID);
            if ext.is_empty() {
                object.remove("extensions");
            }
        }
        return;
    }
    let mut body = Map::new();
    body.insert("extension_type".into(), "property-extension".into());
    for (key, list) in [
        ("orgs", &audience.orgs),
        ("groups", &audience.groups),
        ("users", &audience.users),
    ] {
        if !list.is_empty() {
            body.insert(
                key.into(),
                Value::Array(list.iter().cloned().map(Value::String).collect()),
            );
        }
    }
    let extensions = object
        .entry("extensions")
        .or_insert_with(|| Value::Object(Map::new()));
    if !extensions.is_object() {
        *extensions = Value::Object(Map::new());
    }
    if let Value::Object(ext) = extensions {
        ext.insert(EXTENSION_ID.into(), Value::Object(body));
    }
}

fn is_identity_id(s: &str) -> bool {
    matches!(syntax::parse_identifier(s), Some(("identity", _)))
}

fn is_uuid(s: &str) -> bool {
    syntax::parse_uuid(s).is_some()
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}
