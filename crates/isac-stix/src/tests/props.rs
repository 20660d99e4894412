//! Property tests: arbitrary extra properties and extensions survive parse and serialise of
//! objects and bundles unchanged.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::corpus::sid;
use crate::bundle::{self, Bundle, BundleWriter};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12f64).prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        // Strings that need escapes in JSON, and characters of several bytes.
        prop::collection::vec(
            prop::sample::select(vec!['"', '\\', '\n', '\u{1}', 'a', 'é', '中', '/']),
            0..12
        )
        .prop_map(|v| Value::String(v.into_iter().collect())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::collection::btree_map("x_[a-z0-9_]{1,12}", value(), 0..6),
        prop::collection::btree_map("[a-z_]{3,10}", value(), 0..3),
        0u32..1000,
    )
        .prop_map(|(extra, ext_props, n)| {
            let mut o = json!({
                "type": "indicator", "spec_version": "2.1", "id": sid("indicator", n),
                "created": "2023-01-01T00:00:00.000Z", "modified": "2023-01-01T00:00:00.000Z",
                "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
                "valid_from": "2023-01-01T00:00:00Z",
            });
            let m = o.as_object_mut().unwrap();
            m.extend(extra);
            if !ext_props.is_empty() {
                let mut body: Map<String, Value> = ext_props.into_iter().collect();
                body.insert("extension_type".into(), json!("property-extension"));
                m.insert(
                    "extensions".into(),
                    json!({"extension-definition--00000009-1111-4111-8111-111111111111": body}),
                );
            }
            o.as_object().cloned().unwrap()
        })
}

proptest! {
    #[test]
    fn extra_properties_round_trip_through_objects(o in object()) {
        let text = serde_json::to_string(&o).unwrap();
        let back: Map<String, Value> = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &o);
        // Validation reads, never rewrites.
        let _ = crate::validate(&back);
        prop_assert_eq!(back, o);
    }

    #[test]
    fn extra_properties_round_trip_through_bundles(objects in prop::collection::vec(object(), 0..5), other in prop::collection::btree_map("x_[a-z]{1,8}", value(), 0..3)) {
        let b = Bundle { id: sid("bundle", 1), objects: objects.clone(), other: other.into_iter().collect() };
        let parsed = Bundle::parse(&b.to_json()).unwrap();
        prop_assert_eq!(&parsed, &b);
        let mut w = BundleWriter::new(Vec::new(), &b.id).unwrap();
        for o in &objects {
            w.write_object(o).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut seen = Vec::new();
        bundle::read_streaming(bytes.as_slice(), |o| { seen.push(o); Ok(()) }).unwrap();
        prop_assert_eq!(seen, objects.clone());
        // The streaming reader agrees with the whole-document parser on any formatting.
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&b.to_json()).unwrap()).unwrap();
        let mut seen = Vec::new();
        let header = bundle::read_streaming(pretty.as_bytes(), |o| { seen.push(o); Ok(()) }).unwrap();
        prop_assert_eq!(seen, objects.clone());
        prop_assert_eq!(&header.id, &b.id);
        prop_assert_eq!(&header.other, &b.other);
        // And when the input comes a few bytes at a time, so that quotes, escapes and multi-byte
        // characters straddle the reader's refills.
        for step in [1, 2, 3, 7] {
            let mut seen = Vec::new();
            let header = bundle::read_streaming(Trickle(pretty.as_bytes(), step), |o| { seen.push(o); Ok(()) }).unwrap();
            prop_assert_eq!(&seen, &objects);
            prop_assert_eq!(&header.id, &b.id);
        }
    }
}

/// A reader that gives at most `.1` bytes per read.
struct Trickle<'a>(&'a [u8], usize);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn interesting_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        value(),
        prop::sample::select(vec![
            json!("indicator"),
            json!("bundle"),
            json!("marking-definition"),
            json!("observed-data"),
            json!("file"),
            json!("relationship"),
            json!("x-acme-thing"),
            json!("2.1"),
            json!("2023-01-01T00:00:00.000Z"),
            json!("2023-02-30T00:00:00Z"),
            json!("stix"),
            json!(sid("indicator", 1)),
            json!(sid("marking-definition", 1)),
            json!("é\u{0}--x"),
            json!([{"selectors": ["type", "a.[0]", "[9]", ".."], "marking_ref": sid("marking-definition", 2)}]),
            json!({"0": {"type": "file", "name": "a", "parent_directory_ref": "1"}, "1": {"type": "directory", "path": "/", "contains_refs": ["0"]}}),
            json!({"extension-definition--00000009-1111-4111-8111-111111111111": {"extension_type": "property-extension"}, "archive-ext": {}}),
            json!({crate::audience::EXTENSION_ID: {"extension_type": "property-extension", "users": ["x"]}}),
            json!({"MD5": "d41d8cd98f00b204e9800998ecf8427e", "x": 1}),
            json!("[ipv4-addr:value = '1.2.3.4'"),
        ]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Validation, TLP and audience reading and the upgrade never panic, whatever the input.
    #[test]
    fn hostile_objects_never_panic(entries in prop::collection::btree_map(
        prop::sample::select(vec![
            "type", "id", "spec_version", "created", "modified", "pattern", "pattern_type",
            "valid_from", "valid_until", "granular_markings", "object_marking_refs", "extensions",
            "objects", "object_refs", "hashes", "value", "source_ref", "target_ref", "labels",
            "lang", "definition", "definition_type", "contents", "body_multipart", "values",
            "is_multipart", "latitude", "x_isac_bin",
        ]).prop_map(String::from),
        interesting_value(),
        0..12,
    )) {
        let o: Map<String, Value> = entries.into_iter().collect();
        let _ = crate::validate(&o);
        let _ = crate::tlp::tlp_of(&o);
        let _ = crate::audience::read(&o);
        let _ = crate::id::sco_id(&o);
        for up in crate::upgrade::upgrade_object(&o) {
            let _ = crate::validate(&up);
        }
        let mut b = Map::new();
        b.insert("type".into(), json!("bundle"));
        b.insert("id".into(), json!(sid("bundle", 3)));
        b.insert("objects".into(), json!([o]));
        let _ = crate::validate(&b);
    }
}

/// Numbers are kept as written through objects, whole bundles and the streaming reader: integers
/// past 2^64, trailing zeros, long fractions and negative zero are not rounded to a 64-bit float.
#[test]
fn numbers_round_trip_as_written() {
    let numbers = [
        r#""x_big":123456789012345678901234567890"#,
        r#""x_zeros":2.50"#,
        r#""x_exp":1.50e-7"#,
        r#""x_neg_zero":-0.0"#,
        r#""x_digits":0.1000000000000000055511151231257827"#,
    ];
    let object = format!(
        r#"{{"type":"x-numbers","id":"{}",{}}}"#,
        sid("x-numbers", 1),
        numbers.join(",")
    );
    let bundle = format!(
        r#"{{"type":"bundle","id":"{}","objects":[{object}]}}"#,
        sid("bundle", 1)
    );
    let parsed: Map<String, Value> = serde_json::from_str(&object).unwrap();
    let whole = Bundle::parse(&bundle).unwrap();
    let mut streamed = Vec::new();
    bundle::read_streaming(bundle.as_bytes(), |o| {
        streamed.push(o);
        Ok(())
    })
    .unwrap();
    for o in [&parsed, &whole.objects[0], &streamed[0]] {
        let text = serde_json::to_string(o).unwrap();
        for n in numbers {
            assert!(text.contains(n), "{n} in {text}");
        }
    }
}
