//! Validation of one STIX 2.1 object against the specification. It never fails: every finding
//! becomes a [`Diagnostic`] with a stable code and a JSON-pointer path.

use serde_json::{Map, Value};

use crate::syntax::{self, pointer_token};
use crate::types::{self, Kind, Prop, TypeDef};
use crate::{Diagnostic, Severity, id, tlp, vocab};

/// Collects findings while walking one object.
pub(crate) struct Findings {
    pub(crate) list: Vec<Diagnostic>,
}

impl Findings {
    fn push(&mut self, severity: Severity, code: &'static str, path: &str, message: String) {
        debug_assert!(crate::CODES.contains(&code), "`{code}` is not in CODES");
        self.list.push(Diagnostic {
            severity,
            code,
            path: path.to_string(),
            message,
        });
    }
    pub(crate) fn error(&mut self, code: &'static str, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, code, path, message.into());
    }
    pub(crate) fn warn(&mut self, code: &'static str, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, code, path, message.into());
    }
}

/// The path of `key` under `path`, without the formatting machinery and, for the usual key with
/// nothing to escape, in one allocation. (A property's own path is written into a reused buffer
/// by [`push_child`].)
fn child(path: &str, key: &str) -> String {
    let mut s = String::with_capacity(path.len() + 1 + key.len());
    push_child(&mut s, path, key);
    s
}

/// Appends the path of `key` under `path` to `s`.
fn push_child(s: &mut String, path: &str, key: &str) {
    s.push_str(path);
    s.push('/');
    if key.bytes().any(|b| b == b'~' || b == b'/') {
        s.push_str(&pointer_token(key));
    } else {
        s.push_str(key);
    }
}

/// Validates one object (or a bundle, object by object) and returns every finding.
pub fn validate(object: &Map<String, Value>) -> Vec<Diagnostic> {
    let mut f = Findings { list: Vec::new() };
    validate_at(object, "", &mut f);
    f.list
}

pub(crate) fn validate_at(object: &Map<String, Value>, path: &str, f: &mut Findings) {
    let Some(type_name) = object.get("type").and_then(Value::as_str) else {
        if object.contains_key("type") {
            f.error(
                "invalid-value",
                &child(path, "type"),
                "`type` must be a string",
            );
        } else {
            f.error(
                "required-property",
                &child(path, "type"),
                "missing required property `type`",
            );
        }
        return;
    };
    if !syntax::is_type_name(type_name) || types::RESERVED_TYPES.contains(&type_name) {
        f.error(
            "invalid-type-name",
            &child(path, "type"),
            format!("`{type_name}` is not a valid type name: 3-250 characters of a-z, 0-9 and hyphens, starting with a letter"),
        );
        return;
    }
    if type_name == "bundle" {
        validate_bundle(object, path, f);
        return;
    }
    let def = types::lookup(type_name);
    let kind = match def {
        Some(d) => d.kind,
        None if object.contains_key("created") || object.contains_key("modified") => Kind::Sdo,
        None => Kind::Sco,
    };
    let required: &[&str] = match kind {
        Kind::Sdo | Kind::Sro => types::SDO_REQUIRED,
        Kind::Sco => types::SCO_REQUIRED,
        Kind::Meta | Kind::Bundle => &[],
    };
    for name in required
        .iter()
        .chain(def.map(|d| d.required).unwrap_or_default())
    {
        if !object.contains_key(*name) {
            f.error(
                "required-property",
                &child(path, name),
                format!("missing required property `{name}`"),
            );
        }
    }
    check_id(object, type_name, path, f);
    check_spec_version(object, kind, path, f);
    check_properties(object, def, kind, path, f);
    check_timestamps(object, type_name, kind, path, f);
    check_markings(object, type_name, path, f);
    check_extensions(object, type_name, path, f);
    match def {
        Some(d) => check_type_rules(object, d, path, f),
        None => {
            let has_new_type_extension = object
                .get("extensions")
                .and_then(Value::as_object)
                .is_some_and(|e| {
                    e.iter().any(|(k, v)| {
                        k.starts_with("extension-definition--")
                            && v.get("extension_type")
                                .and_then(Value::as_str)
                                .is_some_and(|t| t.starts_with("new-"))
                    })
                });
            if !has_new_type_extension {
                f.warn(
                    "custom-type",
                    &child(path, "type"),
                    format!("`{type_name}` is a custom type without an extension-definition of a new object type (STIX 2.1 §11.2)"),
                );
            }
        }
    }
}

fn validate_bundle(object: &Map<String, Value>, path: &str, f: &mut Findings) {
    match object.get("id").and_then(Value::as_str) {
        Some(id) => match syntax::parse_identifier(id) {
            Some(("bundle", _)) => {}
            _ => f.error(
                "invalid-id",
                &child(path, "id"),
                format!("`{id}` is not a bundle id `bundle--<uuid>`"),
            ),
        },
        None => f.error(
            "required-property",
            &child(path, "id"),
            "missing required property `id`",
        ),
    }
    for key in object.keys() {
        if !matches!(key.as_str(), "type" | "id" | "objects") {
            f.warn(
                "custom-property",
                &child(path, key),
                format!("`{key}` is not a bundle property"),
            );
        }
    }
    match object.get("objects") {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => {
            f.error(
                "empty-list",
                &child(path, "objects"),
                "`objects` must not be empty",
            );
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}/objects/{i}");
                match item.as_object() {
                    Some(o) if o.get("type").and_then(Value::as_str) == Some("bundle") => {
                        f.error("nested-bundle", &p, "a bundle cannot contain a bundle");
                    }
                    Some(o) => validate_at(o, &p, f),
                    None => f.error("invalid-value", &p, "every bundle member must be an object"),
                }
            }
        }
        Some(_) => f.error(
            "invalid-value",
            &child(path, "objects"),
            "`objects` must be a list",
        ),
    }
}

fn check_id(object: &Map<String, Value>, type_name: &str, path: &str, f: &mut Findings) {
    let Some(v) = object.get("id") else { return };
    let p = child(path, "id");
    let Some(s) = v.as_str() else {
        f.error("invalid-id", &p, "`id` must be a string");
        return;
    };
    match syntax::parse_identifier(s) {
        None => f.error(
            "invalid-id",
            &p,
            format!("`{s}` is not an identifier `type--<RFC 4122 UUID>`"),
        ),
        Some((t, uuid)) => {
            if t != type_name {
                f.error(
                    "id-type-mismatch",
                    &p,
                    format!("the id's type `{t}` is not the object's type `{type_name}`"),
                );
            }
            if type_name == "process" && uuid.get_version_num() != 4 {
                f.error("sco-id-version", &p, "a process id must use a UUIDv4 (§6.13: process has no id-contributing properties)");
            }
            if let Some(def) = types::lookup(type_name).filter(|d| d.kind == Kind::Sco) {
                let present = def.id_contributing.iter().any(|k| object.contains_key(*k));
                if !def.id_contributing.is_empty() && !present && uuid.get_version_num() != 4 {
                    f.error(
                        "sco-id-version",
                        &p,
                        "an SCO without id-contributing properties must use a UUIDv4 (§2.9)",
                    );
                } else if present
                    && let Ok(expected) = id::sco_id(object)
                    && expected != s
                {
                    f.warn(
                        "sco-id-not-deterministic",
                        &p,
                        format!("the deterministic id of this SCO is `{expected}` (§2.9)"),
                    );
                }
            }
        }
    }
}

fn check_spec_version(object: &Map<String, Value>, kind: Kind, path: &str, f: &mut Findings) {
    match object.get("spec_version") {
        None => {}
        Some(Value::String(s)) if s == "2.1" => {}
        Some(v) => {
            let _ = kind;
            f.error(
                "spec-version",
                &child(path, "spec_version"),
                format!("`spec_version` must be \"2.1\" for STIX 2.1 content, not {v}"),
            );
        }
    }
}

fn check_properties(
    object: &Map<String, Value>,
    def: Option<&'static TypeDef>,
    kind: Kind,
    path: &str,
    f: &mut Findings,
) {
    // One buffer for every property's path, rewritten per property rather than allocated.
    let mut p = String::with_capacity(path.len() + 64);
    for (key, value) in object {
        p.clear();
        push_child(&mut p, path, key);
        let p = p.as_str();
        if !syntax::is_property_name(key) {
            f.error(
                "invalid-property-name",
                p,
                format!("`{key}` is not a valid property name: 3-250 characters of a-z, 0-9 and _, starting with a letter"),
            );
            continue;
        }
        if types::RESERVED_PROPERTIES.contains(&key.as_str()) {
            f.error(
                "reserved-property",
                p,
                format!("`{key}` is a reserved property name"),
            );
            continue;
        }
        check_generic_value(value, p, f);
        let prop = match def {
            Some(d) => d.prop(key),
            None => types::common_props(kind)
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, p)| *p),
        };
        match prop {
            Some(prop) => check_value(prop, value, p, f),
            None => {
                if key.ends_with("_bin") {
                    check_value(Prop::Binary, value, p, f);
                } else if key.ends_with("_hex") {
                    check_value(Prop::Hex, value, p, f);
                }
                if def.is_some() {
                    f.warn(
                        "custom-property",
                        p,
                        format!("`{key}` is not defined for this type; custom properties are deprecated in favour of extensions (§11.1)"),
                    );
                }
            }
        }
    }
}

/// Rules for any property value: no nulls; no empty lists (§2.12).
fn check_generic_value(value: &Value, p: &str, f: &mut Findings) {
    match value {
        Value::Null => f.error(
            "null-value",
            p,
            "properties must not be null; omit them instead",
        ),
        Value::Array(a) if a.is_empty() => f.error(
            "empty-list",
            p,
            "lists must not be empty; omit the property instead",
        ),
        _ => {}
    }
}

pub(crate) fn check_value(prop: Prop, value: &Value, p: &str, f: &mut Findings) {
    use Prop::*;
    let want = |f: &mut Findings, what: &str| {
        f.error("invalid-value", p, format!("must be {what}"));
    };
    match prop {
        Str => {
            if !value.is_string() {
                want(f, "a string")
            }
        }
        Bool => {
            if !value.is_boolean() {
                want(f, "a boolean")
            }
        }
        Int(min, max) => match syntax::whole_number(value) {
            Some(n) if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) => f.error(
                "out-of-range",
                p,
                format!("{n} is outside {}..={}", fmt_bound(min), fmt_bound(max)),
            ),
            Some(_) => {}
            None if value.is_u64() && max.is_none() => {}
            None => want(f, "an integer"),
        },
        Num(min, max) => match value.as_f64() {
            Some(n) if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) => {
                f.error("out-of-range", p, format!("{n} is out of range"))
            }
            Some(_) => {}
            None => want(f, "a number"),
        },
        Timestamp | TimestampSeconds => match value.as_str() {
            Some(s) => match syntax::parse_timestamp(s) {
                None => f.error(
                    "invalid-timestamp",
                    p,
                    format!("`{s}` is not an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.s+]Z`"),
                ),
                Some(t) if prop == TimestampSeconds && !t.fraction.is_empty() => f.error(
                    "timestamp-precision",
                    p,
                    "this timestamp must be precise to the second",
                ),
                Some(_) => {}
            },
            None => want(f, "a timestamp string"),
        },
        StrList => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    if !v.is_string() {
                        f.error("invalid-value", &format!("{p}/{i}"), "must be a string");
                    }
                }
            }
            None => want(f, "a list of strings"),
        },
        List => {
            if !value.is_array() {
                want(f, "a list")
            }
        }
        Ref(targets) => check_ref(targets, value, || p.to_owned(), f),
        RefList(targets) => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    check_ref(targets, v, || format!("{p}/{i}"), f);
                }
            }
            None => want(f, "a list of identifiers"),
        },
        Vocab(words) => match value.as_str() {
            Some(s) if !words.contains(&s) => f.warn(
                "vocabulary",
                p,
                format!("`{s}` is not in the suggested vocabulary"),
            ),
            Some(_) => {}
            None => want(f, "a string"),
        },
        VocabList(words) => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    // The item's path is built only when there is something to say about it.
                    if !is_listed(v, words) {
                        check_value(Vocab(words), v, &format!("{p}/{i}"), f);
                    }
                }
            }
            None => want(f, "a list of strings"),
        },
        Enum(words) => match value.as_str() {
            Some(s) if !words.contains(&s) => f.error(
                "enumeration",
                p,
                format!("`{s}` is not one of: {}", words.join(", ")),
            ),
            Some(_) => {}
            None => want(f, "a string"),
        },
        EnumList(words) => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    if !is_listed(v, words) {
                        check_value(Enum(words), v, &format!("{p}/{i}"), f);
                    }
                }
            }
            None => want(f, "a list of strings"),
        },
        KillChainPhases => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    let q = format!("{p}/{i}");
                    match v.as_object() {
                        Some(o) => {
                            for k in ["kill_chain_name", "phase_name"] {
                                match o.get(k) {
                                    Some(Value::String(_)) => {}
                                    Some(_) => {
                                        f.error("invalid-value", &child(&q, k), "must be a string")
                                    }
                                    None => f.error(
                                        "required-property",
                                        &child(&q, k),
                                        format!("missing required property `{k}`"),
                                    ),
                                }
                            }
                        }
                        None => f.error("invalid-value", &q, "must be a kill-chain-phase object"),
                    }
                }
            }
            None => want(f, "a list of kill-chain phases"),
        },
        ExternalReferences => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    check_external_reference(v, &format!("{p}/{i}"), f);
                }
            }
            None => want(f, "a list of external references"),
        },
        Hashes => check_hashes(value, p, f),
        Dict => match value.as_object() {
            Some(o) if o.is_empty() => {
                f.error("empty-dictionary", p, "dictionaries must not be empty")
            }
            Some(o) => {
                for (k, v) in o {
                    if !syntax::is_dictionary_key(k) {
                        f.error(
                            "invalid-dictionary-key",
                            &child(p, k),
                            format!("`{k}` is not a valid dictionary key"),
                        );
                    }
                    check_generic_value(v, &child(p, k), f);
                }
            }
            None => want(f, "a dictionary"),
        },
        Object => {
            if !value.is_object() {
                want(f, "an object")
            }
        }
        ObjectList => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    if !v.is_object() {
                        f.error("invalid-value", &format!("{p}/{i}"), "must be an object");
                    }
                }
            }
            None => want(f, "a list of objects"),
        },
        Binary => match value.as_str() {
            Some(s) if !syntax::is_base64(s) => {
                f.error("invalid-binary", p, "must be standard Base64")
            }
            Some(_) => {}
            None => want(f, "a Base64 string"),
        },
        Hex => match value.as_str() {
            Some(s) if !syntax::is_hex(s) => {
                f.error("invalid-hex", p, "must be an even number of hex digits")
            }
            Some(_) => {}
            None => want(f, "a hex string"),
        },
        Lang => match value.as_str() {
            Some(s) if !syntax::is_language_tag(s) => f.error(
                "invalid-language-tag",
                p,
                format!("`{s}` is not an RFC 5646 language tag"),
            ),
            Some(_) => {}
            None => want(f, "a language tag string"),
        },
        LangList => match value.as_array() {
            Some(a) => {
                for (i, v) in a.iter().enumerate() {
                    check_value(Lang, v, &format!("{p}/{i}"), f);
                }
            }
            None => want(f, "a list of language tags"),
        },
    }
}

/// Whether `v` is one of `words`: a list item of a vocabulary or enumeration with nothing to
/// report.
fn is_listed(v: &Value, words: &[&str]) -> bool {
    v.as_str().is_some_and(|s| words.contains(&s))
}

fn fmt_bound<T: std::fmt::Display>(b: Option<T>) -> String {
    b.map(|v| v.to_string()).unwrap_or_default()
}

/// Checks one reference. `path` gives the reference's path, built only for a finding: lists of
/// references are long and nearly always right.
fn check_ref(
    targets: types::Targets,
    value: &Value,
    path: impl FnOnce() -> String,
    f: &mut Findings,
) {
    let Some(s) = value.as_str() else {
        f.error(
            "invalid-reference",
            &path(),
            "a reference must be an identifier string",
        );
        return;
    };
    match syntax::parse_identifier(s) {
        None => f.error(
            "invalid-reference",
            &path(),
            format!("`{s}` is not an identifier `type--<uuid>`"),
        ),
        Some((t, _)) if !types::target_allows(targets, t) => f.error(
            "reference-target",
            &path(),
            format!("this property cannot refer to an object of type `{t}`"),
        ),
        Some(_) => {}
    }
}

fn check_external_reference(v: &Value, p: &str, f: &mut Findings) {
    let Some(o) = v.as_object() else {
        f.error("invalid-value", p, "must be an external-reference object");
        return;
    };
    let source = match o.get("source_name") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            f.error(
                "invalid-value",
                &child(p, "source_name"),
                "must be a string",
            );
            None
        }
        None => {
            f.error(
                "required-property",
                &child(p, "source_name"),
                "missing required property `source_name`",
            );
            None
        }
    };
    for k in ["description", "external_id"] {
        if o.get(k).is_some_and(|v| !v.is_string()) {
            f.error("invalid-value", &child(p, k), "must be a string");
        }
    }
    if let Some(u) = o.get("url") {
        match u.as_str() {
            Some(s) if syntax::is_url(s) => {}
            _ => f.error("invalid-url", &child(p, "url"), "must be a URL"),
        }
    }
    if let Some(h) = o.get("hashes") {
        check_hashes(h, &child(p, "hashes"), f);
    }
    let external_id = o.get("external_id").and_then(Value::as_str);
    match (source, external_id) {
        (Some("cve"), id) => {
            if !id.is_some_and(is_cve) {
                f.error(
                    "external-id",
                    &child(p, "external_id"),
                    "a `cve` reference needs an `external_id` CVE-YYYY-NNNN (§4.19)",
                );
            }
        }
        (Some("capec"), id) => {
            if !id.is_some_and(is_capec) {
                f.error(
                    "external-id",
                    &child(p, "external_id"),
                    "a `capec` reference needs an `external_id` CAPEC-N (§4.1)",
                );
            }
        }
        // §4.19 and §4.1: "When specifying a CVE ID, the source_name property of the external
        // reference MUST be set to cve", and a CAPEC ID likewise under `capec`. An id of either
        // form therefore names its own source.
        (Some(_), Some(id)) if is_cve(id) => f.error(
            "external-id",
            &child(p, "source_name"),
            format!("a CVE id (`{id}`) must be given under the source name `cve` (§4.19)"),
        ),
        (Some(_), Some(id)) if is_capec(id) => f.error(
            "external-id",
            &child(p, "source_name"),
            format!("a CAPEC id (`{id}`) must be given under the source name `capec` (§4.1)"),
        ),
        (Some(_), _) => {
            if !["description", "url", "external_id"]
                .iter()
                .any(|k| o.contains_key(*k))
            {
                f.error("required-property", p, "an external reference needs at least one of `description`, `url`, `external_id`");
            }
        }
        (None, _) => {}
    }
}

fn is_capec(s: &str) -> bool {
    s.strip_prefix("CAPEC-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

fn is_cve(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|c| c.is_ascii_digit())
        && num.len() >= 4
        && num.bytes().all(|c| c.is_ascii_digit())
        && (num.len() == 4 || !num.starts_with('0'))
}

fn check_hashes(value: &Value, p: &str, f: &mut Findings) {
    let Some(o) = value.as_object() else {
        f.error("invalid-value", p, "must be a hashes dictionary");
        return;
    };
    if o.is_empty() {
        f.error("empty-dictionary", p, "`hashes` must not be empty");
    }
    for (k, v) in o {
        let q = child(p, k);
        let Some(s) = v.as_str() else {
            f.error("invalid-value", &q, "a hash value must be a string");
            continue;
        };
        let hex_len = |n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
        let ok = match k.as_str() {
            "MD5" => hex_len(32),
            "SHA-1" => hex_len(40),
            "SHA-256" | "SHA3-256" => hex_len(64),
            "SHA-512" | "SHA3-512" => hex_len(128),
            "SSDEEP" => {
                (1..=128).contains(&s.len())
                    && s.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"/+:.".contains(&c))
            }
            "TLSH" => s.len() == 70 && s.bytes().all(|c| c.is_ascii_alphanumeric()),
            _ => {
                if k.len() < 3 || !syntax::is_dictionary_key(k) {
                    f.error(
                        "invalid-dictionary-key",
                        &q,
                        format!("`{k}` is not a valid hash algorithm name"),
                    );
                } else {
                    f.warn(
                        "vocabulary",
                        &q,
                        format!("`{k}` is not in hashing-algorithm-ov"),
                    );
                }
                true
            }
        };
        if !ok {
            f.error(
                "invalid-hash",
                &q,
                format!("`{s}` is not a valid {k} value"),
            );
        }
    }
}

fn ts<'a>(object: &'a Map<String, Value>, key: &str) -> Option<syntax::Timestamp<'a>> {
    object
        .get(key)
        .and_then(Value::as_str)
        .and_then(syntax::parse_timestamp)
}

fn check_timestamps(
    object: &Map<String, Value>,
    type_name: &str,
    kind: Kind,
    path: &str,
    f: &mut Findings,
) {
    if !matches!(kind, Kind::Sco) {
        for key in ["created", "modified"] {
            if let Some(t) = ts(object, key)
                && t.fraction.len() < 3
            {
                f.error(
                    "timestamp-precision",
                    &child(path, key),
                    format!("`{key}` must be precise to at least the millisecond (§3.2)"),
                );
            }
        }
    }
    let pairs: &[(&str, &str, bool)] = match type_name {
        "campaign" | "infrastructure" | "intrusion-set" | "malware" | "threat-actor"
        | "sighting" => &[("last_seen", "first_seen", false)],
        "indicator" => &[("valid_until", "valid_from", true)],
        "observed-data" => &[("last_observed", "first_observed", false)],
        "relationship" => &[("stop_time", "start_time", true)],
        "network-traffic" => &[("end", "start", false)],
        _ => &[],
    };
    let mut all = vec![("modified", "created", false)];
    all.extend_from_slice(pairs);
    for (later, earlier, strict) in all {
        if let (Some(a), Some(b)) = (ts(object, later), ts(object, earlier)) {
            let bad = if strict { a <= b } else { a < b };
            if bad {
                f.error(
                    "timestamp-order",
                    &child(path, later),
                    format!(
                        "`{later}` must be {} `{earlier}`",
                        if strict {
                            "later than"
                        } else {
                            "later than or equal to"
                        }
                    ),
                );
            }
        }
    }
}

fn check_markings(object: &Map<String, Value>, type_name: &str, path: &str, f: &mut Findings) {
    let own_id = object.get("id").and_then(Value::as_str);
    if type_name == "marking-definition"
        && let Some(refs) = object.get("object_marking_refs").and_then(Value::as_array)
    {
        for (i, r) in refs.iter().enumerate() {
            if r.as_str() == own_id {
                f.error(
                    "circular-marking",
                    &format!("{path}/object_marking_refs/{i}"),
                    "a marking definition cannot mark itself",
                );
            }
        }
    }
    let Some(list) = object.get("granular_markings").and_then(Value::as_array) else {
        return;
    };
    for (i, gm) in list.iter().enumerate() {
        let p = format!("{path}/granular_markings/{i}");
        let Some(gm) = gm.as_object() else { continue };
        let marking_ref = gm.get("marking_ref");
        let lang = gm.get("lang");
        match (marking_ref, lang) {
            (Some(_), Some(_)) => f.error(
                "granular-marking",
                &p,
                "a granular marking has either `marking_ref` or `lang`, not both (§7.2.3)",
            ),
            (None, None) => f.error(
                "required-property",
                &child(&p, "marking_ref"),
                "a granular marking needs `marking_ref` or `lang` (§7.2.3)",
            ),
            _ => {}
        }
        if let Some(r) = marking_ref {
            check_ref(
                types::Targets::Types(&["marking-definition"]),
                r,
                || child(&p, "marking_ref"),
                f,
            );
            if type_name == "marking-definition" && r.as_str() == own_id {
                f.error(
                    "circular-marking",
                    &child(&p, "marking_ref"),
                    "a marking definition cannot mark itself",
                );
            }
        }
        if let Some(l) = lang {
            check_value(Prop::Lang, l, &child(&p, "lang"), f);
        }
        match gm.get("selectors") {
            Some(Value::Array(sels)) if !sels.is_empty() => {
                for (j, s) in sels.iter().enumerate() {
                    let q = format!("{p}/selectors/{j}");
                    match s.as_str() {
                        Some(s) => {
                            if let Err(why) = resolve_selector(object, s) {
                                f.error("marking-selector", &q, format!("selector `{s}` {why}"));
                            }
                        }
                        None => f.error("invalid-value", &q, "a selector must be a string"),
                    }
                }
            }
            Some(_) => f.error(
                "invalid-value",
                &child(&p, "selectors"),
                "`selectors` must be a non-empty list",
            ),
            None => f.error(
                "required-property",
                &child(&p, "selectors"),
                "missing required property `selectors`",
            ),
        }
    }
}

/// Resolves a granular-marking selector (§7.2.3.1) against the object.
fn resolve_selector(object: &Map<String, Value>, selector: &str) -> Result<(), String> {
    let mut current: Option<&Value> = None;
    for (i, segment) in selector.split('.').enumerate() {
        if segment.is_empty() {
            return Err("has an empty segment".into());
        }
        let index = segment
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .map(|n| {
                n.parse::<usize>()
                    .map_err(|_| format!("has a bad index `{segment}`"))
            })
            .transpose()?;
        let next = match (i, current, index) {
            (0, _, Some(_)) => return Err("cannot start with an index".into()),
            (0, _, None) => object.get(segment),
            (_, Some(Value::Array(a)), Some(n)) => a.get(n),
            (_, Some(Value::Object(o)), None) => o.get(segment),
            (_, _, Some(_)) => {
                return Err(format!(
                    "indexes `{segment}` into something that is not a list"
                ));
            }
            (_, _, None) => {
                return Err(format!(
                    "looks up `{segment}` in something that is not an object"
                ));
            }
        };
        match next {
            Some(v) => current = Some(v),
            None => return Err(format!("does not resolve: `{segment}` is absent")),
        }
    }
    Ok(())
}

fn check_extensions(object: &Map<String, Value>, type_name: &str, path: &str, f: &mut Findings) {
    let Some(ext) = object.get("extensions") else {
        return;
    };
    let p = child(path, "extensions");
    let Some(ext) = ext.as_object() else { return };
    if ext.is_empty() {
        f.error("empty-dictionary", &p, "`extensions` must not be empty");
    }
    let is_marking = type_name == "marking-definition";
    for (key, value) in ext {
        let q = child(&p, key);
        let Some(body) = value.as_object() else {
            f.error("invalid-value", &q, "an extension must be an object");
            continue;
        };
        if let Some(uuid_part) = key.strip_prefix("extension-definition--") {
            if syntax::parse_uuid(uuid_part).is_none() {
                f.error(
                    "invalid-extension",
                    &q,
                    format!("`{key}` is not an extension-definition id"),
                );
                continue;
            }
            match body.get("extension_type") {
                Some(Value::String(t)) => {
                    if !vocab::EXTENSION_TYPE.contains(&t.as_str()) {
                        f.error(
                            "enumeration",
                            &child(&q, "extension_type"),
                            format!("`{t}` is not an extension type"),
                        );
                    }
                }
                Some(_) => f.error(
                    "invalid-value",
                    &child(&q, "extension_type"),
                    "must be a string",
                ),
                None => f.error(
                    "required-property",
                    &child(&q, "extension_type"),
                    "an extension needs `extension_type` (§7.3)",
                ),
            }
            check_extension_body(body, &q, f);
            if key == crate::audience::EXTENSION_ID
                && let Err(e) = crate::audience::read(object)
            {
                f.error("audience-extension", &q, e.to_string());
            }
        } else if !is_marking && key.ends_with("-ext") && syntax::is_type_name(key) {
            if body.is_empty() {
                f.error("empty-dictionary", &q, "an extension must not be empty");
            }
            check_extension_body(body, &q, f);
            match types::sco_extension(key) {
                Some((_, owner, props, required, any_of)) => {
                    if *owner != type_name {
                        f.warn("extension-owner", &q, format!("`{key}` is defined for `{owner}` objects"));
                    }
                    for r in *required {
                        if !body.contains_key(*r) {
                            f.error("required-property", &child(&q, r), format!("`{key}` requires `{r}`"));
                        }
                    }
                    if !any_of.is_empty() && !any_of.iter().any(|k| body.contains_key(*k)) {
                        f.error("required-property", &q, format!("`{key}` needs at least one of: {}", any_of.join(", ")));
                    }
                    for (k, v) in body {
                        if let Some((_, prop)) = props.iter().find(|(n, _)| n == k) {
                            check_value(*prop, v, &child(&q, k), f);
                        }
                    }
                }
                None => f.warn("custom-extension", &q, format!("`{key}` is not a predefined extension; custom extensions are deprecated in favour of extension definitions (§11.3)")),
            }
        } else {
            f.error(
                "invalid-extension",
                &q,
                format!("`{key}` is neither an `extension-definition--<uuid>` nor a predefined `-ext` key"),
            );
        }
    }
}

fn check_extension_body(body: &Map<String, Value>, p: &str, f: &mut Findings) {
    for (k, v) in body {
        let q = child(p, k);
        if !syntax::is_property_name(k) {
            f.error(
                "invalid-property-name",
                &q,
                format!("`{k}` is not a valid property name"),
            );
            continue;
        }
        check_generic_value(v, &q, f);
        if k.ends_with("_bin") {
            check_value(Prop::Binary, v, &q, f);
        } else if k.ends_with("_hex") {
            check_value(Prop::Hex, v, &q, f);
        }
    }
}

fn has(object: &Map<String, Value>, key: &str) -> bool {
    object.contains_key(key)
}

fn check_type_rules(object: &Map<String, Value>, def: &TypeDef, path: &str, f: &mut Findings) {
    if !def.any_of.is_empty() && !def.any_of.iter().any(|k| has(object, k)) {
        f.error(
            "required-property",
            path,
            format!(
                "`{}` needs at least one of: {}",
                def.name,
                def.any_of.join(", ")
            ),
        );
    }
    let str_of = |k: &str| object.get(k).and_then(Value::as_str);
    match def.name {
        "relationship" => {
            if let Some(rt) = str_of("relationship_type") {
                let ok = syntax::is_relationship_type(rt);
                if !ok {
                    f.error(
                        "invalid-value",
                        &child(path, "relationship_type"),
                        "`relationship_type` is limited to a-z, 0-9 and hyphens (§5.1)",
                    );
                }
                let end_type =
                    |k: &str| str_of(k).and_then(syntax::parse_identifier).map(|(t, _)| t);
                if let (true, Some(src), Some(tgt)) =
                    (ok, end_type("source_ref"), end_type("target_ref"))
                    && !types::relationship_defined(src, rt, tgt)
                {
                    f.warn(
                        "relationship-type",
                        &child(path, "relationship_type"),
                        format!("the specification defines no `{rt}` relationship from `{src}` to `{tgt}`"),
                    );
                }
            }
        }
        "indicator" => {
            if str_of("pattern_type") == Some("stix")
                && let Some(pattern) = str_of("pattern")
                && let Err(e) = isac_pattern::parse(pattern)
            {
                f.error(
                    "pattern-syntax",
                    &child(path, "pattern"),
                    format!("not a valid STIX pattern: {e}"),
                );
            }
        }
        "malware"
            if object.get("is_family") == Some(&Value::Bool(true)) && !has(object, "name") =>
        {
            f.error(
                "required-property",
                &child(path, "name"),
                "a malware family (`is_family: true`) needs a `name` (§4.11)",
            );
        }
        "location" => {
            let lat = has(object, "latitude");
            let lon = has(object, "longitude");
            if lat != lon {
                f.error(
                    "location",
                    path,
                    "`latitude` and `longitude` go together (§4.10)",
                );
            }
            if has(object, "precision") && !(lat && lon) {
                f.error(
                    "location",
                    &child(path, "precision"),
                    "`precision` needs `latitude` and `longitude` (§4.10)",
                );
            }
            if !(has(object, "region") || has(object, "country") || (lat && lon)) {
                f.error(
                    "required-property",
                    path,
                    "a location needs `region`, `country`, or `latitude` and `longitude` (§4.10)",
                );
            }
        }
        "observed-data" => match (has(object, "objects"), has(object, "object_refs")) {
            (true, true) => f.error(
                "observed-data",
                path,
                "`objects` and `object_refs` are mutually exclusive (§4.14)",
            ),
            (false, false) => f.error(
                "required-property",
                &child(path, "object_refs"),
                "observed-data needs `object_refs` (§4.14)",
            ),
            (true, false) => {
                f.warn(
                    "deprecated",
                    &child(path, "objects"),
                    "`objects` is deprecated; use `object_refs` (§4.14)",
                );
                if let Some(o) = object.get("objects").and_then(Value::as_object) {
                    if o.is_empty() {
                        f.error(
                            "empty-dictionary",
                            &child(path, "objects"),
                            "`objects` must not be empty",
                        );
                    }
                    for (k, v) in o {
                        if v.get("type").and_then(Value::as_str).is_none() {
                            f.error(
                                "required-property",
                                &child(&child(path, "objects"), k),
                                "an observable needs a `type`",
                            );
                        }
                    }
                }
            }
            (false, true) => {}
        },
        "artifact" => {
            match (has(object, "payload_bin"), has(object, "url")) {
                (true, true) => f.error(
                    "artifact",
                    path,
                    "`payload_bin` and `url` are mutually exclusive (§6.1)",
                ),
                (false, false) => f.error(
                    "required-property",
                    path,
                    "an artifact needs `payload_bin` or `url` (§6.1)",
                ),
                (false, true) if !has(object, "hashes") => f.error(
                    "required-property",
                    &child(path, "hashes"),
                    "an artifact with `url` needs `hashes` (§6.1)",
                ),
                _ => {}
            }
            if has(object, "decryption_key") && !has(object, "encryption_algorithm") {
                f.error(
                    "artifact",
                    &child(path, "decryption_key"),
                    "`decryption_key` needs `encryption_algorithm` (§6.1)",
                );
            }
            if let Some(m) = str_of("mime_type")
                && !syntax::is_media_type(m)
            {
                f.error(
                    "invalid-value",
                    &child(path, "mime_type"),
                    format!("`{m}` is not a media type `type/subtype` of RFC 6838 (§6.1)"),
                );
            }
            if let Some(u) = str_of("url")
                && !syntax::is_url(u)
            {
                f.error(
                    "invalid-url",
                    &child(path, "url"),
                    format!("`{u}` is not a URL"),
                );
            }
        }
        "email-message" => {
            let multipart = object.get("is_multipart").and_then(Value::as_bool);
            if multipart == Some(true) && has(object, "body") {
                f.error(
                    "email-message",
                    &child(path, "body"),
                    "a multipart message carries `body_multipart`, not `body` (§6.6)",
                );
            }
            if multipart == Some(false) && has(object, "body_multipart") {
                f.error(
                    "email-message",
                    &child(path, "body_multipart"),
                    "`body_multipart` needs `is_multipart: true` (§6.6)",
                );
            }
            if let Some(parts) = object.get("body_multipart").and_then(Value::as_array) {
                for (i, part) in parts.iter().enumerate() {
                    let q = format!("{path}/body_multipart/{i}");
                    let Some(part) = part.as_object() else {
                        f.error(
                            "invalid-value",
                            &q,
                            "a MIME part must be an object (§6.6.2)",
                        );
                        continue;
                    };
                    // mime-part-type (§6.6.2): its text properties are strings.
                    for key in ["body", "content_type", "content_disposition"] {
                        if let Some(v) = part.get(key) {
                            check_value(Prop::Str, v, &child(&q, key), f);
                        }
                    }
                    match (has(part, "body"), has(part, "body_raw_ref")) {
                        (true, true) | (false, false) => f.error(
                            "email-message",
                            &q,
                            "a MIME part has exactly one of `body` and `body_raw_ref` (§6.6.2)",
                        ),
                        _ => {}
                    }
                    if let Some(r) = part.get("body_raw_ref") {
                        check_ref(
                            types::Targets::Types(&["artifact", "file"]),
                            r,
                            || child(&q, "body_raw_ref"),
                            f,
                        );
                    }
                }
            }
        }
        "network-traffic"
            if object.get("is_active") == Some(&Value::Bool(true)) && has(object, "end") =>
        {
            f.error(
                "network-traffic",
                &child(path, "end"),
                "active traffic (`is_active: true`) has no `end` (§6.12)",
            );
        }
        "ipv4-addr" | "ipv6-addr" | "mac-addr" | "domain-name" | "url" | "email-addr" => {
            if let Some(v) = str_of("value") {
                let ok = match def.name {
                    "ipv4-addr" => syntax::is_ipv4_cidr(v),
                    "ipv6-addr" => syntax::is_ipv6_cidr(v),
                    "mac-addr" => syntax::is_mac(v),
                    "domain-name" => syntax::is_domain_name(v),
                    "url" => syntax::is_url(v),
                    _ => syntax::is_email(v),
                };
                if !ok {
                    f.error(
                        "invalid-value",
                        &child(path, "value"),
                        format!("`{v}` is not a valid {} value", def.name),
                    );
                }
            }
        }
        "software" => {
            // §6.14: "MUST be a CPE v2.3 entry"; entries are written in the formatted-string
            // binding.
            if let Some(cpe) = str_of("cpe")
                && !syntax::is_cpe23(cpe)
            {
                f.error(
                    "invalid-value",
                    &child(path, "cpe"),
                    format!("`{cpe}` is not a CPE 2.3 name (`cpe:2.3:` and eleven components)"),
                );
            }
        }
        "file" | "directory" => {
            // §6.7 `name_enc`, §6.3 `path_enc`: "MUST be specified using the corresponding name
            // in the ... IANA character set registry".
            let key = if def.name == "file" {
                "name_enc"
            } else {
                "path_enc"
            };
            if let Some(enc) = str_of(key)
                && !syntax::is_charset(enc)
            {
                f.error(
                    "invalid-value",
                    &child(path, key),
                    format!("`{enc}` is not the name of a character set in the IANA registry"),
                );
            }
        }
        "windows-registry-key" => {
            // §6.13.2: "The hive portion of the key MUST be fully expanded and not truncated; e.g.,
            // HKEY_LOCAL_MACHINE must be used instead of HKLM." The hive is the key's first
            // component; an abbreviation is refused in any letter case, since the registry itself
            // compares names case-insensitively.
            if let Some(key) = object.get("key").and_then(Value::as_str) {
                let hive = key.split(['\\', '/']).next().unwrap_or(key);
                if let Some((short, full)) = vocab::REGISTRY_HIVE_ABBREVIATIONS
                    .iter()
                    .find(|(short, _)| hive.eq_ignore_ascii_case(short))
                {
                    f.error(
                        "invalid-value",
                        &child(path, "key"),
                        format!(
                            "the hive of a registry key is written in full (§6.13.2): \
                             {full}, not {short}"
                        ),
                    );
                }
            }
            if let Some(values) = object.get("values").and_then(Value::as_array) {
                for (i, v) in values.iter().enumerate() {
                    let q = format!("{path}/values/{i}");
                    let Some(v) = v.as_object() else {
                        f.error(
                            "invalid-value",
                            &q,
                            "a registry value must be an object (§6.17.1)",
                        );
                        continue;
                    };
                    // windows-registry-value-type (§6.17.1): name and data are strings, and
                    // a value says something (the OASIS schema requires one of the three; the
                    // text is silent, and an empty value describes nothing).
                    if !["name", "data", "data_type"]
                        .iter()
                        .any(|k| v.contains_key(*k))
                    {
                        f.error(
                            "required-property",
                            &q,
                            "a registry value has at least one of `name`, `data` and `data_type`",
                        );
                    }
                    for key in ["name", "data"] {
                        if let Some(x) = v.get(key) {
                            check_value(Prop::Str, x, &child(&q, key), f);
                        }
                    }
                    if let Some(dt) = v.get("data_type") {
                        check_value(
                            Prop::Enum(vocab::WINDOWS_REGISTRY_DATATYPE),
                            dt,
                            &format!("{path}/values/{i}/data_type"),
                            f,
                        );
                    }
                }
            }
        }
        "marking-definition" => tlp::check_marking_definition(object, path, f),
        "extension-definition" => {
            let types_list: Vec<&str> = object
                .get("extension_types")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if has(object, "extension_properties")
                && !types_list.contains(&"toplevel-property-extension")
            {
                f.error(
                    "extension-definition",
                    &child(path, "extension_properties"),
                    "`extension_properties` is only for `toplevel-property-extension` (§7.3)",
                );
            }
        }
        "language-content" => {
            if let Some(r) = str_of("object_ref")
                && r.starts_with("language-content--")
            {
                f.error(
                    "reference-target",
                    &child(path, "object_ref"),
                    "language content cannot apply to language content",
                );
            }
            if let Some(c) = object.get("contents").and_then(Value::as_object) {
                if c.is_empty() {
                    f.error(
                        "empty-dictionary",
                        &child(path, "contents"),
                        "`contents` must not be empty",
                    );
                }
                for (lang, body) in c {
                    let q = child(&child(path, "contents"), lang);
                    if !syntax::is_language_tag(lang) {
                        f.error(
                            "invalid-language-tag",
                            &q,
                            format!("`{lang}` is not an RFC 5646 language tag"),
                        );
                    }
                    match body.as_object() {
                        Some(b) => {
                            for k in b.keys() {
                                // `id` is the one two-letter property name (§3.1), and an
                                // identifier is never translated text.
                                if k == "id" || !syntax::is_property_name(k) {
                                    f.error(
                                        "invalid-property-name",
                                        &child(&q, k),
                                        format!("`{k}` is not a property name"),
                                    );
                                }
                            }
                        }
                        None => f.error(
                            "invalid-value",
                            &q,
                            "each language maps to an object of translated properties",
                        ),
                    }
                }
            }
        }
        _ => {}
    }
}
