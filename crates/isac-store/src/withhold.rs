//! Withholding references: what an object says about objects its reader may not read.
//!
//! A container is often wider than what it holds (a GREEN MISP event with AMBER attributes
//! becomes a GREEN report naming AMBER objects), and an observable often names others (a GREEN
//! `network-traffic` naming an AMBER address). The id alone would tell the reader that the object
//! exists and, for an observable, its value: SCO ids are derived from their values (§2.9), so
//! anyone can test `ipv4-addr--…` against a guess. So every reference an object makes, wherever it
//! sits in the object, is checked against the reader before the object leaves the store
//! (`Store::finish`). These are the pure steps; the store supplies which ids are hidden.
//!
//! A reference is a property named `*_ref` (one id) or `*_refs` (a list of ids), at the top level
//! or nested in any object inside the object (extensions, `body_multipart` parts and the like),
//! except:
//! - the markings (`object_marking_refs`, a granular marking's `marking_ref`): they name marking
//!   definitions, which every reader may read;
//! - `created_by_ref`: attribution, which the server shows as the ISAC's identity to every reader
//!   but the owner's org and the operator (anonymous attribution), who may read the real one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The types whose `object_refs` list the objects they hold, and must name at least one: a list
/// emptied by withholding then names the object itself.
pub(crate) const REF_CONTAINERS: [&str; 5] =
    ["report", "grouping", "observed-data", "note", "opinion"];

/// What a property holds, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    One,
    Many,
}

/// The stem of the reference properties left alone (see the module documentation).
fn exempt(stem: &str) -> bool {
    matches!(stem, "object_marking" | "marking" | "created_by")
}

fn ref_kind(key: &str) -> Option<RefKind> {
    if let Some(stem) = key.strip_suffix("_refs") {
        (!exempt(stem)).then_some(RefKind::Many)
    } else if let Some(stem) = key.strip_suffix("_ref") {
        (!exempt(stem)).then_some(RefKind::One)
    } else {
        None
    }
}

/// Whether a stored body may hold a reference: a cheap scan of the text, so that most objects
/// are not parsed on every read. May say yes wrongly (the text of a string value), never no.
pub(crate) fn may_name_refs(body: &str) -> bool {
    body.match_indices("_ref").any(|(at, _)| {
        let rest = &body[at + 4..];
        if !(rest.starts_with('"') || rest.starts_with("s\"")) {
            return false;
        }
        let stem_start = body[..at].rfind('"').map_or(0, |q| q + 1);
        !exempt(&body[stem_start..at])
    })
}

/// Adds every id the references of `object` name to `out`.
pub(crate) fn collect(object: &Map<String, Value>, out: &mut BTreeSet<String>) {
    for (key, value) in object {
        match (ref_kind(key), value) {
            (Some(RefKind::One), Value::String(id)) => {
                out.insert(id.clone());
            }
            (Some(RefKind::Many), Value::Array(ids)) => {
                out.extend(ids.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
            (Some(_), _) => {}
            (None, v) => collect_nested(v, out),
        }
    }
}

fn collect_nested(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(m) => collect(m, out),
        Value::Array(items) => items.iter().for_each(|v| collect_nested(v, out)),
        _ => {}
    }
}

/// Removes from `object` every reference to an id for which `hidden` holds: an id from a list,
/// a single reference with its property, a list left empty with its property. Returns whether
/// anything was removed.
pub(crate) fn withhold(object: &mut Map<String, Value>, hidden: &impl Fn(&str) -> bool) -> bool {
    let mut changed = false;
    let mut emptied: Vec<String> = Vec::new();
    for (key, value) in object.iter_mut() {
        match (ref_kind(key), value) {
            (Some(RefKind::One), Value::String(id)) => {
                if hidden(id) {
                    emptied.push(key.clone());
                }
            }
            (Some(RefKind::Many), Value::Array(ids)) => {
                let before = ids.len();
                ids.retain(|v| !v.as_str().is_some_and(hidden));
                if ids.len() != before {
                    changed = true;
                    if ids.is_empty() {
                        emptied.push(key.clone());
                    }
                }
            }
            (Some(_), _) => {}
            (None, v) => changed |= withhold_nested(v, hidden),
        }
    }
    for key in &emptied {
        object.remove(key);
    }
    changed || !emptied.is_empty()
}

fn withhold_nested(value: &mut Value, hidden: &impl Fn(&str) -> bool) -> bool {
    match value {
        Value::Object(m) => withhold(m, hidden),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| withhold_nested(v, hidden) | changed),
        _ => false,
    }
}

/// Removes each extension that has errors `before` did not have (an `archive-ext` whose every
/// `contains_refs` id was withheld), and `extensions` if none is left: the object keeps the rest
/// of what it says instead of being left out whole.
pub(crate) fn drop_broken_extensions(
    object: &mut Map<String, Value>,
    before: &BTreeSet<(&'static str, String)>,
) {
    let broken: BTreeSet<String> = errors(object)
        .difference(before)
        .filter_map(|(_, path)| {
            let token = path.strip_prefix("/extensions/")?.split('/').next()?;
            Some(isac_stix::syntax::pointer_token_key(token))
        })
        .collect();
    if broken.is_empty() {
        return;
    }
    if let Some(Value::Object(extensions)) = object.get_mut("extensions") {
        for name in &broken {
            extensions.remove(name);
        }
        if extensions.is_empty() {
            object.remove("extensions");
        }
    }
}

/// Removes each MIME part of an email's `body_multipart` left with neither `body` nor
/// `body_raw_ref` (its raw body was withheld), and `body_multipart` if no part is left: the email
/// keeps its other parts instead of being left out whole.
pub(crate) fn drop_bodiless_parts(object: &mut Map<String, Value>) {
    let Some(Value::Array(parts)) = object.get_mut("body_multipart") else {
        return;
    };
    parts.retain(|p| {
        p.as_object()
            .is_none_or(|p| p.contains_key("body") || p.contains_key("body_raw_ref"))
    });
    if parts.is_empty() {
        object.remove("body_multipart");
    }
}

/// The STIX errors of `object`, each as its code and its path without list indexes (which
/// withholding shifts), so that the errors before and after withholding can be compared.
pub(crate) fn errors(object: &Map<String, Value>) -> BTreeSet<(&'static str, String)> {
    isac_stix::validate(object)
        .into_iter()
        .filter(|d| d.severity == isac_stix::Severity::Error)
        .map(|d| {
            let path: Vec<&str> = d
                .path
                .split('/')
                .filter(|s| !s.chars().all(|c| c.is_ascii_digit()) || s.is_empty())
                .collect();
            (d.code, path.join("/"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn references_are_found_wherever_they_sit_but_markings_and_attribution() {
        let o = map(json!({
            "type": "email-message",
            "created_by_ref": "identity--a",
            "object_marking_refs": ["marking-definition--b"],
            "granular_markings": [{"marking_ref": "marking-definition--c", "selectors": ["x"]}],
            "from_ref": "email-addr--d",
            "to_refs": ["email-addr--e"],
            "body_multipart": [{"body_raw_ref": "artifact--f"}, {"body": "text"}],
            "extensions": {"x-ext": {"sample_refs": ["file--g"], "deep": {"host_ref": "h"}}},
            "description": "a \"bogus_ref\": text",
        }));
        let mut ids = BTreeSet::new();
        collect(&o, &mut ids);
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            [
                "artifact--f",
                "email-addr--d",
                "email-addr--e",
                "file--g",
                "h"
            ]
        );
        assert!(may_name_refs(&Value::Object(o).to_string()));
        let only_exempt = json!({
            "created_by_ref": "identity--a",
            "object_marking_refs": ["marking-definition--b"],
            "granular_markings": [{"marking_ref": "marking-definition--c"}],
        });
        assert!(!may_name_refs(&only_exempt.to_string()));
    }

    #[test]
    fn withheld_references_leave_with_emptied_properties() {
        let mut o = map(json!({
            "type": "network-traffic",
            "src_ref": "ipv4-addr--hidden",
            "dst_ref": "ipv4-addr--shown",
            "extensions": {"x-ext": {"contains_refs": ["file--hidden"], "keep_refs": ["file--hidden", "file--shown"]}},
            "object_marking_refs": ["ipv4-addr--hidden"],
        }));
        let hidden = |id: &str| id.ends_with("--hidden");
        assert!(withhold(&mut o, &hidden));
        assert_eq!(
            Value::Object(o.clone()),
            json!({
                "type": "network-traffic",
                "dst_ref": "ipv4-addr--shown",
                "extensions": {"x-ext": {"keep_refs": ["file--shown"]}},
                "object_marking_refs": ["ipv4-addr--hidden"],
            })
        );
        assert!(!withhold(&mut o, &hidden));
    }

    #[test]
    fn only_the_extension_left_invalid_is_removed() {
        let file = |extensions: Value| {
            let mut o = map(json!({
                "type": "file", "spec_version": "2.1",
                "id": "file--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "name": "a.zip",
            }));
            o.insert("extensions".into(), extensions);
            o
        };
        let hidden = |id: &str| id == "file--00000000-0000-4000-8000-000000000001";
        let mut both = file(json!({
            "archive-ext": {"contains_refs": ["file--00000000-0000-4000-8000-000000000001"]},
            "ntfs-ext": {"sid": "S-1-5-21"},
        }));
        let before = errors(&both);
        assert!(before.is_empty(), "{before:?}");
        assert!(withhold(&mut both, &hidden));
        assert!(!errors(&both).is_empty());
        drop_broken_extensions(&mut both, &before);
        assert_eq!(both["extensions"], json!({"ntfs-ext": {"sid": "S-1-5-21"}}));
        assert!(errors(&both).is_empty());
        let mut only = file(json!({
            "archive-ext": {"contains_refs": ["file--00000000-0000-4000-8000-000000000001"]},
        }));
        withhold(&mut only, &hidden);
        drop_broken_extensions(&mut only, &before);
        assert!(only.get("extensions").is_none());
        assert!(errors(&only).is_empty());
    }

    #[test]
    fn only_the_part_left_without_a_body_is_removed() {
        let mut mail = map(json!({
            "type": "email-message", "spec_version": "2.1",
            "id": "email-message--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "is_multipart": true,
            "body_multipart": [
                {"body_raw_ref": "artifact--00000000-0000-4000-8000-000000000001"},
                {"body": "hello", "content_type": "text/plain"},
            ],
        }));
        let before = errors(&mail);
        assert!(before.is_empty(), "{before:?}");
        withhold(&mut mail, &|id: &str| id.starts_with("artifact--"));
        assert!(!errors(&mail).is_empty());
        drop_bodiless_parts(&mut mail);
        assert_eq!(
            mail["body_multipart"],
            json!([{"body": "hello", "content_type": "text/plain"}])
        );
        assert!(errors(&mail).is_empty());
    }

    #[test]
    fn errors_ignore_list_positions() {
        let malware = |refs: Value| {
            map(json!({
                "type": "malware", "spec_version": "2.1",
                "id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                "is_family": false, "sample_refs": refs,
            }))
        };
        let wrong = "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        let right = "file--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        let one = errors(&malware(json!([wrong])));
        assert!(!one.is_empty());
        assert_eq!(errors(&malware(json!([right, wrong]))), one);
        assert!(errors(&malware(json!([right]))).is_empty());
    }
}
