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
        prop_assert_eq!(seen, objects);
    }
}
