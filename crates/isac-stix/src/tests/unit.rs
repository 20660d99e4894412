//! Unit tests through each module's public functions.

use chrono::{TimeZone, Utc};
use isac_model::Tlp;
use serde_json::{Map, Value, json};

use super::corpus::{sid, uid};
use crate::audience::{self, Audience};
use crate::bundle::{self, Bundle, BundleWriter};
use crate::{Severity, id, is_valid, tlp, upgrade, validate, version};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

fn errors(o: &Map<String, Value>) -> Vec<(&'static str, String)> {
    validate(o)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.code, d.path))
        .collect()
}

fn indicator() -> Map<String, Value> {
    obj(json!({
        "type": "indicator", "spec_version": "2.1", "id": sid("indicator", 1),
        "created": "2023-01-01T00:00:00.000Z", "modified": "2023-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
        "valid_from": "2023-01-01T00:00:00Z",
    }))
}

#[test]
fn sco_ids_match_the_python_stix2_library() {
    for line in include_str!("sco_ids.jsonl").lines() {
        let o = obj(serde_json::from_str(line).unwrap());
        assert_eq!(id::sco_id(&o).unwrap(), o["id"].as_str().unwrap(), "{line}");
    }
}

#[test]
fn sco_ids_without_contributing_properties_are_refused() {
    let p = obj(json!({"type": "process", "pid": 4}));
    assert_eq!(
        id::sco_id(&p),
        Err(id::IdError::NotAnSco("process".into())).or(Err(id::IdError::NoContributingProperties))
    );
    assert!(id::sco_id(&obj(json!({"type": "indicator"}))).is_err());
}

#[test]
fn diagnostics_have_codes_and_pointer_paths() {
    let mut o = indicator();
    o.insert(
        "object_marking_refs".into(),
        json!(["identity--".to_string() + &uid(1)]),
    );
    o.insert("modified".into(), json!("2022-01-01T00:00:00.000Z"));
    o.insert("x_a/b".into(), json!(1));
    let e = errors(&o);
    assert!(
        e.contains(&("reference-target", "/object_marking_refs/0".into())),
        "{e:?}"
    );
    assert!(
        e.contains(&("timestamp-order", "/modified".into())),
        "{e:?}"
    );
    assert!(
        e.contains(&("invalid-property-name", "/x_a~1b".into())),
        "{e:?}"
    );
    let mut bundle = obj(
        json!({"type": "bundle", "id": sid("bundle", 1), "objects": [indicator(), {"type": "indicator", "id": sid("indicator", 2)}]}),
    );
    let e = errors(&bundle);
    assert!(
        e.contains(&("required-property", "/objects/1/created".into())),
        "{e:?}"
    );
    bundle.insert("objects".into(), json!([indicator()]));
    assert!(is_valid(&validate(&bundle)));
}

#[test]
fn vocabulary_outside_is_a_warning_enumeration_outside_an_error() {
    let mut o = indicator();
    o.insert("indicator_types".into(), json!(["odd"]));
    let d = validate(&o);
    assert!(is_valid(&d));
    assert!(
        d.iter()
            .any(|d| d.code == "vocabulary" && d.path == "/indicator_types/0")
    );
    let op = obj(
        json!({"type": "opinion", "spec_version": "2.1", "id": sid("opinion", 1),
        "created": "2023-01-01T00:00:00.000Z", "modified": "2023-01-01T00:00:00.000Z",
        "opinion": "maybe", "object_refs": [sid("indicator", 1)]}),
    );
    assert_eq!(errors(&op), vec![("enumeration", "/opinion".to_string())]);
}

#[test]
fn language_tags_follow_rfc_5646() {
    for tag in ["zh-TW", "zh-Hant", "zh-Hant-TW", "en", "ja-JP"] {
        let mut o = indicator();
        o.insert("lang".into(), json!(tag));
        assert!(is_valid(&validate(&o)), "{tag}");
    }
    let mut o = indicator();
    o.insert("lang".into(), json!("zh_TW"));
    assert_eq!(
        errors(&o),
        vec![("invalid-language-tag", "/lang".to_string())]
    );
}

#[test]
fn tlp_definitions_are_canonical_and_valid() {
    for d in tlp::all_definitions() {
        assert!(is_valid(&validate(&d)), "{d:?}: {:?}", validate(&d));
        let id = d["id"].as_str().unwrap();
        assert!(Tlp::from_marking_id(id).is_some());
        assert!(tlp::is_canonical_id(id));
        assert_eq!(tlp::canonical_for_id(id).as_ref(), Some(&d));
    }
    for other in [
        "",
        "marking-definition--",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41dA",
        "indicator--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        tlp::TLP2_CREATED_BY,
    ] {
        assert!(!tlp::is_canonical_id(other), "{other}");
        assert_eq!(tlp::canonical_for_id(other), None);
    }
    assert_eq!(tlp::all_definitions().len(), 9);
    let mut fake = tlp::marking_definition(Tlp::Red);
    fake["extensions"][tlp::TLP2_EXTENSION_ID]["tlp_2_0"] = json!("clear");
    assert_eq!(errors(&fake), vec![("tlp-definition", String::new())]);
    let v1 = tlp::marking_definition_v1(Tlp::Clear).unwrap();
    assert_eq!(v1["name"], "TLP:WHITE");
    assert!(tlp::marking_definition_v1(Tlp::AmberStrict).is_none());
}

#[test]
fn tlp_of_reads_markings_and_refuses_conflicts() {
    let mut o = indicator();
    assert_eq!(tlp::tlp_of(&o), Ok(None));
    o.insert(
        "object_marking_refs".into(),
        json!([
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            Tlp::Clear.marking_id_v2(),
            sid("marking-definition", 9),
        ]),
    );
    assert_eq!(tlp::tlp_of(&o), Ok(Some(Tlp::Clear)));
    o.insert(
        "object_marking_refs".into(),
        json!([
            Tlp::Green.marking_id_v2(),
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
        ]),
    );
    assert_eq!(
        tlp::tlp_of(&o),
        Err(tlp::TlpError::Conflicting(Tlp::Green, Tlp::Red))
    );
    tlp::set_tlp(&mut o, Tlp::AmberStrict);
    assert_eq!(
        o["object_marking_refs"],
        json!([Tlp::AmberStrict.marking_id_v2()])
    );
    o.insert("object_marking_refs".into(), json!("x"));
    assert_eq!(tlp::tlp_of(&o), Err(tlp::TlpError::Malformed));
}

#[test]
fn declared_and_granular_tlp_markings_never_widen() {
    let def = |id: &str, extra: Value| {
        let mut m = obj(
            json!({"type": "marking-definition", "spec_version": "2.1", "id": id,
                               "created": "2026-01-01T00:00:00.000Z"}),
        );
        m.extend(extra.as_object().cloned().expect("an object"));
        m
    };
    let ids: Vec<String> = (1..=7).map(|n| sid("marking-definition", n)).collect();
    let cases = [
        (
            json!({"definition_type": "statement", "definition": {"statement": "custom"},
                "x_opencti_definition_type": "TLP", "x_opencti_definition": "TLP:AMBER+STRICT"}),
            Some(Ok(Tlp::AmberStrict)),
        ),
        (
            json!({"name": "tlp:red", "definition_type": "statement", "definition": {"statement": "x"}}),
            Some(Ok(Tlp::Red)),
        ),
        (
            json!({"definition_type": "tlp", "definition": {"tlp": "white"}}),
            Some(Ok(Tlp::Clear)),
        ),
        (
            json!({"name": "TLP:AMBER_STRICT", "definition_type": "statement", "definition": {"statement": "x"}}),
            Some(Ok(Tlp::AmberStrict)),
        ),
        (
            json!({"extensions": {tlp::TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": "green"}}}),
            Some(Ok(Tlp::Green)),
        ),
        (
            json!({"name": "TLP:PURPLE", "definition_type": "statement", "definition": {"statement": "x"}}),
            Some(Err("TLP:PURPLE".to_owned())),
        ),
        (
            json!({"name": "Copyright", "definition_type": "statement", "definition": {"statement": "x"}}),
            None,
        ),
    ];
    let mut declared = tlp::DeclaredTlp::default();
    for (id, (extra, want)) in ids.iter().zip(cases) {
        let d = def(id, extra);
        assert_eq!(tlp::declared_level(&d), want, "{id}");
        declared.learn(&d).expect("room");
        assert_eq!(declared.level(id), want, "{id}");
    }
    // The predefined definitions are never redefined by a bundle.
    let fake = def(
        Tlp::Green.marking_id_v2(),
        json!({"name": "TLP:RED", "definition_type": "statement", "definition": {"statement": "x"}}),
    );
    declared.learn(&fake).expect("ignored");
    assert_eq!(
        declared.level(Tlp::Green.marking_id_v2()),
        Some(Ok(Tlp::Green))
    );
    assert_eq!(
        declared.level(Tlp::OPENCTI_AMBER_STRICT_ID),
        Some(Ok(Tlp::AmberStrict))
    );

    let mut o = indicator();
    let marked = |o: &Map<String, Value>| tlp::marked_tlp(o, &declared);
    assert_eq!(
        marked(&o),
        Ok(tlp::Marked {
            object_level: None,
            tlp: None
        })
    );
    // A declared level alone: the TLP 2.0 id is put first, the tool's own id kept.
    o.insert("object_marking_refs".into(), json!([ids[0], ids[6]]));
    assert_eq!(marked(&o).expect("read").tlp, Some(Tlp::AmberStrict));
    tlp::mark_tlp(&mut o, Tlp::AmberStrict, &declared);
    assert_eq!(
        o["object_marking_refs"],
        json!([Tlp::AmberStrict.marking_id_v2(), ids[0], ids[6]])
    );
    assert_eq!(marked(&o).expect("read").tlp, Some(Tlp::AmberStrict));
    // A granular marking more restrictive than the object's raises the whole object.
    o.insert(
        "object_marking_refs".into(),
        json!([Tlp::Green.marking_id_v2(), ids[6]]),
    );
    o.insert(
        "granular_markings".into(),
        json!([{"marking_ref": ids[1], "selectors": ["description"]},
               {"marking_ref": Tlp::Clear.marking_id_v2(), "selectors": ["name"]}]),
    );
    assert_eq!(
        marked(&o),
        Ok(tlp::Marked {
            object_level: Some(Tlp::Green),
            tlp: Some(Tlp::Red)
        })
    );
    tlp::mark_tlp(&mut o, Tlp::Red, &declared);
    assert_eq!(
        o["object_marking_refs"],
        json!([Tlp::Red.marking_id_v2(), ids[6]])
    );
    // A predefined marking of the level already there: nothing changes.
    let before = o.clone();
    tlp::mark_tlp(&mut o, Tlp::Red, &declared);
    assert_eq!(o, before);
    // Conflicts at object level, and unreadable declared levels, are errors.
    o.insert("object_marking_refs".into(), json!([ids[1], ids[2]]));
    assert_eq!(
        marked(&o),
        Err(tlp::MarkedError::Conflicting(Tlp::Red, Tlp::Clear))
    );
    o.insert("object_marking_refs".into(), json!([ids[5]]));
    assert_eq!(
        marked(&o),
        Err(tlp::MarkedError::UnknownLevel(
            ids[5].clone(),
            "TLP:PURPLE".into()
        ))
    );
    // The table is bounded.
    let mut full = tlp::DeclaredTlp::default();
    for n in 0..tlp::DECLARED_MAX {
        full.learn(&def(
            &sid("marking-definition", 1000 + n as u32),
            json!({"name": "TLP:RED"}),
        ))
        .expect("room");
    }
    assert!(
        full.learn(&def(&ids[0], json!({"name": "TLP:RED"})))
            .is_err()
    );
}

#[test]
fn audience_round_trips_and_checks_its_shape() {
    let mut o = indicator();
    assert_eq!(audience::read(&o), Ok(None));
    let a = Audience {
        orgs: vec![sid("identity", 2)],
        groups: vec![uid(3)],
        users: vec![uid(4), uid(5)],
    };
    audience::write(&mut o, &a);
    assert_eq!(audience::read(&o), Ok(Some(a.clone())));
    assert!(is_valid(&validate(&o)), "{:?}", validate(&o));
    // Other extensions survive an empty audience; the extensions property goes when empty.
    o["extensions"].as_object_mut().unwrap().insert(
        format!("extension-definition--{}", uid(60)),
        json!({"extension_type": "property-extension", "rank": 1}),
    );
    audience::write(&mut o, &Audience::default());
    assert_eq!(o["extensions"].as_object().unwrap().len(), 1);
    let mut o = indicator();
    audience::write(&mut o, &a);
    audience::write(&mut o, &Audience::default());
    assert!(!o.contains_key("extensions"));
    // Shape errors.
    let bad = |body: Value| {
        let mut o = indicator();
        o.insert("extensions".into(), json!({audience::EXTENSION_ID: body}));
        (audience::read(&o), is_valid(&validate(&o)))
    };
    for body in [
        json!({"extension_type": "property-extension", "orgs": [sid("malware", 1)]}),
        json!({"extension_type": "property-extension", "groups": ["g1"]}),
        json!({"extension_type": "property-extension", "users": [1]}),
        json!({"extension_type": "property-extension", "users": [uid(1), uid(1)]}),
        json!({"extension_type": "property-extension", "users": []}),
        json!({"extension_type": "property-extension", "others": [uid(1)]}),
        json!({"extension_type": "new-sdo", "users": [uid(1)]}),
        json!({"extension_type": "property-extension", "users": (0..501).map(uid).collect::<Vec<_>>()}),
        json!({"extension_type": "property-extension", "users": (0..300).map(uid).collect::<Vec<_>>(), "groups": (1000..1201).map(uid).collect::<Vec<_>>()}),
    ] {
        let (r, valid) = bad(body.clone());
        assert!(r.is_err() && !valid, "{body}");
    }
    let (r, valid) = bad(
        json!({"extension_type": "property-extension", "users": (0..500).map(uid).collect::<Vec<_>>()}),
    );
    assert!(r.is_ok() && valid);
}

#[test]
fn audience_extension_definition_is_valid() {
    let d = audience::extension_definition(&sid("identity", 1));
    assert!(is_valid(&validate(&d)), "{:?}", validate(&d));
    assert_eq!(d["id"], audience::EXTENSION_ID);
    assert_eq!(d["extension_types"], json!(["property-extension"]));
    assert_eq!(
        crate::syntax::parse_identifier(audience::EXTENSION_ID)
            .unwrap()
            .1
            .get_version_num(),
        4
    );
}

#[test]
fn versions_keep_identity_and_move_forward() {
    let v1 = indicator();
    let now = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    let v2 = version::new_version(&v1, now, |o| {
        o.insert("name".into(), json!("renamed"));
    })
    .unwrap();
    assert_eq!(v2["modified"], "2024-05-01T00:00:00.000Z");
    assert!(version::check_new_version(&v1, &v2).is_ok());
    // A clock behind the previous version still yields a later `modified`.
    let early = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let v3 = version::new_version(&v2, early, |_| {}).unwrap();
    assert_eq!(v3["modified"], "2024-05-01T00:00:00.001Z");
    let mut same = v2.clone();
    same.insert("modified".into(), v1["modified"].clone());
    assert_eq!(
        version::check_new_version(&v1, &same),
        Err(version::VersionError::NotLater)
    );
    let mut other = v2.clone();
    other.insert("created_by_ref".into(), json!(sid("identity", 9)));
    assert_eq!(
        version::check_new_version(&v1, &other),
        Err(version::VersionError::Changed("created_by_ref"))
    );
    let revoked = version::revoke(&v2, now + chrono::Duration::days(1)).unwrap();
    assert!(version::is_revoked(&revoked));
    assert_eq!(
        version::new_version(&revoked, now + chrono::Duration::days(2), |_| {}),
        Err(version::VersionError::Revoked)
    );
    let ip = obj(json!({"type": "ipv4-addr", "id": sid("ipv4-addr", 1), "value": "1.2.3.4"}));
    assert!(matches!(
        version::check_new_version(&ip, &ip),
        Err(version::VersionError::NotVersioned(_))
    ));
    let md = tlp::marking_definition(Tlp::Red);
    assert!(!version::is_versioned(&md));
}

#[test]
fn bundles_parse_write_and_stream() {
    let objects = vec![indicator(), tlp::marking_definition(Tlp::Amber)];
    let b = Bundle {
        id: sid("bundle", 1),
        objects: objects.clone(),
        other: Map::new(),
    };
    let text = b.to_json();
    assert_eq!(Bundle::parse(&text).unwrap(), b);
    assert!(is_valid(&validate(b.to_value().as_object().unwrap())));
    // The streaming writer produces the same JSON value.
    let mut w = BundleWriter::new(Vec::new(), &b.id).unwrap();
    for o in &objects {
        w.write_object(o).unwrap();
    }
    assert_eq!(w.count(), 2);
    let out = w.finish().unwrap();
    let streamed: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(streamed, b.to_value());
    let empty = BundleWriter::new(Vec::new(), &b.id)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&empty).unwrap(),
        json!({"type": "bundle", "id": b.id})
    );
    // The streaming reader hands objects over one by one, in order, whatever the key order.
    let reordered = format!(
        "{{\"objects\":{},\"spec_version\":\"2.0\",\"id\":\"{}\",\"type\":\"bundle\"}}",
        serde_json::to_string(&objects).unwrap(),
        b.id
    );
    let mut seen = Vec::new();
    let header = bundle::read_streaming(reordered.as_bytes(), |o| {
        seen.push(o);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, objects);
    assert_eq!(header.id, b.id);
    assert_eq!(header.other["spec_version"], "2.0");
    // A refusal stops the read.
    let mut n = 0;
    let r = bundle::read_streaming(text.as_bytes(), |_| {
        n += 1;
        Err("cap reached".into())
    });
    assert!(matches!(r, Err(bundle::BundleError::Refused(ref s)) if s == "cap reached"));
    assert_eq!(n, 1);
    // The limited reader bounds each object's bytes: objects at the limit pass, one over it
    // stops the read before it is handed over.
    let sizes: Vec<u64> = objects
        .iter()
        .map(|o| serde_json::to_string(o).unwrap().len() as u64)
        .collect();
    let largest = *sizes.iter().max().unwrap();
    let mut n = 0;
    bundle::read_streaming_limited(text.as_bytes(), largest + 64, |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, objects.len());
    let mut n = 0;
    let r = bundle::read_streaming_limited(text.as_bytes(), largest / 2, |_| {
        n += 1;
        Ok(())
    });
    assert!(
        matches!(r, Err(bundle::BundleError::Refused(ref s)) if s.contains("larger than")),
        "{r:?}"
    );
    assert!(n < objects.len());
    // A single huge object is refused after the limit, not after reading all of it.
    let huge = format!(
        "{{\"type\":\"bundle\",\"id\":\"{}\",\"objects\":[{{\"type\":\"note\",\"content\":\"{}\"}}]}}",
        b.id,
        "x".repeat(1 << 20)
    );
    let mut reader = huge.as_bytes();
    let r = bundle::read_streaming_limited(&mut reader, 4096, |_| Ok(()));
    assert!(matches!(r, Err(bundle::BundleError::Refused(_))), "{r:?}");
    assert!(reader.len() > (1 << 20) - 8192, "read on past the limit");
    // Not bundles. (A list is no bundle, though the streaming reader reads one as a list of
    // objects: `streaming_reader_takes_taxii_envelopes_and_lists`.)
    assert!(Bundle::parse("[]").is_err());
    for bad in [
        "{\"type\":\"report\",\"id\":\"bundle--x\"}",
        "{\"type\":\"bundle\",\"id\":\"report--1\"}",
        "{\"type\":\"bundle\"",
        "{\"type\":\"bundle\",\"id\":\"bundle--00000001-1111-4111-8111-111111111111\",\"objects\":[1]}",
    ] {
        assert!(Bundle::parse(bad).is_err(), "{bad}");
        assert!(
            bundle::read_streaming(bad.as_bytes(), |_| Ok(())).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn streaming_reader_finds_every_value_whatever_it_holds() {
    let id = sid("bundle", 7);
    // Strings holding the scanner's structural bytes, escapes, nesting, scalars of every kind
    // directly before a delimiter, and an object larger than a read block.
    let tricky = json!({
        "type": "note", "id": sid("note", 1),
        "content": "a } ] , : \" \\\" { [ \\",
        "x_nested": [[{"a": [1, -2.5e3, true, false, null]}], {}, []],
        "x_big": "y".repeat(3 * bundle::SCAN_BLOCK),
        "x_last": 0
    });
    let text = format!(
        "\n {{ \"x_n\":12,\"x_t\":true ,\"objects\" : [ {} ,\n{}],\"type\":\"bundle\",\"id\":\"{id}\",\"x_z\":null}} \n",
        tricky,
        json!({"type": "note", "id": sid("note", 2), "content": "}"})
    );
    let mut seen = Vec::new();
    let header = bundle::read_streaming(text.as_bytes(), |o| {
        seen.push(Value::Object(o));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], tricky);
    assert_eq!(seen[1]["content"], "}");
    assert_eq!(
        Value::Object(header.other),
        json!({"x_n": 12, "x_t": true, "x_z": null})
    );
    // Broken envelopes and lists fail; nothing after the bundle is allowed.
    let ok = format!("{{\"type\":\"bundle\",\"id\":\"{id}\",\"objects\":[{{\"a\":1}}]}}");
    assert!(bundle::read_streaming(ok.as_bytes(), |_| Ok(())).is_ok());
    for bad in [
        format!("{ok} x"),
        format!("{ok}}}"),
        ok.replace("[{", "[{,"),
        ok.replace("}]", "},]"),
        ok.replace("}]", "} {\"b\":2}]"),
        ok.replace(",\"objects\"", ",,\"objects\""),
        ok.replace("}]}", "}]"),
        ok.replace("}]}", "}"),
        ok.replace("\"type\":", "\"type\" "),
        ok.replace("\"objects\":[", "\"objects\":{"),
        ok.replace("[{\"a\":1}]", "[{\"a\":1]"),
        ok.replace("[{\"a\":1}]", "[{\"a\":tru}]"),
        ok.replace("\"a\":1", "\"a\":\"1"),
        format!("{{\"type\":\"bundle\",\"id\":\"{id}\",}}"),
        String::new(),
        "   ".into(),
    ] {
        assert!(
            bundle::read_streaming(bad.as_bytes(), |_| Ok(())).is_err(),
            "{bad}"
        );
    }
}

/// A TAXII envelope and a bare list of objects are read as a bundle is, and say which they were;
/// anything else that is neither stays refused.
#[test]
fn streaming_reader_takes_taxii_envelopes_and_lists() {
    let a = json!({"type": "note", "id": sid("note", 1), "content": "a"});
    let b = json!({"type": "note", "id": sid("note", 2), "content": "]"});
    let read = |text: &str| {
        let mut seen = Vec::new();
        bundle::read_streaming(text.as_bytes(), |o| {
            seen.push(Value::Object(o));
            Ok(())
        })
        .map(|h| (h, seen))
    };
    let (h, seen) = read(&format!("\n [ {a} ,\n {b} ] \n")).unwrap();
    assert_eq!(h.container, bundle::Container::List);
    assert_eq!(seen, vec![a.clone(), b.clone()]);
    let (h, seen) = read("[]").unwrap();
    assert_eq!((h.container, seen.len()), (bundle::Container::List, 0));
    let (h, seen) = read(&format!(
        "{{\"more\": true, \"next\": \"abc\", \"objects\": [{a}, {b}]}}"
    ))
    .unwrap();
    assert_eq!(h.container, bundle::Container::TaxiiEnvelope);
    assert_eq!(Value::Object(h.other), json!({"more": true, "next": "abc"}));
    assert_eq!(seen, vec![a.clone(), b.clone()]);
    let (h, _) = read(&format!(
        "{{\"type\": \"bundle\", \"id\": \"{}\", \"objects\": [{a}]}}",
        sid("bundle", 1)
    ))
    .unwrap();
    assert_eq!(h.container, bundle::Container::Bundle);
    for bad in [
        format!("[{a}] x"),
        format!("[{a},]"),
        format!("[{a}"),
        "[1]".to_string(),
        // Neither a bundle nor an envelope: other members, or no objects at all.
        format!("{{\"objects\": [{a}], \"x_custom\": 1}}"),
        format!("{{\"objects\": [{a}], \"type\": \"report\"}}"),
        "{\"more\": false}".to_string(),
        "{}".to_string(),
    ] {
        assert!(read(&bad).is_err(), "{bad}");
    }
}

#[test]
fn upgrade_turns_stix_2_0_into_valid_stix_2_1() {
    let b20 = json!({
        "type": "bundle", "id": sid("bundle", 20), "spec_version": "2.0",
        "objects": [
            {"type": "indicator", "id": sid("indicator", 20), "created": "2016-04-06T20:03:48Z", "modified": "2016-04-06T20:03:48.000Z",
             "labels": ["malicious-activity"], "pattern": "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
             "valid_from": "2016-01-01T00:00:00Z", "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]},
            {"type": "malware", "id": sid("malware", 20), "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
             "labels": ["ransomware"], "name": "Locker"},
            {"type": "observed-data", "id": sid("observed-data", 20), "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
             "first_observed": "2016-04-06T20:00:00Z", "last_observed": "2016-04-06T20:00:00Z", "number_observed": 1,
             "objects": {
                "0": {"type": "directory", "path": "C:\\Temp"},
                "1": {"type": "file", "name": "a.exe", "parent_directory_ref": "0", "hashes": {"MD5": "d41d8cd98f00b204e9800998ecf8427e"}},
                "2": {"type": "process", "pid": 4, "image_ref": "1"},
                "3": {"type": "ipv4-addr", "value": "198.51.100.1"},
                "4": {"type": "network-traffic", "src_ref": "3", "protocols": ["tcp"]}
             }},
            {"type": "marking-definition", "id": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "created": "2017-01-20T00:00:00.000Z",
             "definition_type": "tlp", "name": "TLP:AMBER", "definition": {"tlp": "amber"}}
        ]
    });
    let b = Bundle::from_value(b20).unwrap();
    let up = upgrade::upgrade_bundle(&b);
    assert!(!up.other.contains_key("spec_version"));
    assert_eq!(up.objects.len(), 4 + 5);
    for o in &up.objects {
        assert!(is_valid(&validate(o)), "{o:?}: {:?}", validate(o));
    }
    let ind = &up.objects[0];
    assert_eq!(ind["indicator_types"], json!(["malicious-activity"]));
    assert_eq!(ind["pattern_type"], "stix");
    assert_eq!(ind["created"], "2016-04-06T20:03:48.000Z");
    assert_eq!(tlp::tlp_of(ind), Ok(Some(Tlp::Amber)));
    assert_eq!(up.objects[1]["is_family"], true);
    let od = &up.objects[2];
    assert!(!od.contains_key("objects"));
    let refs: Vec<&str> = od["object_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 5);
    let dir = &up.objects[3];
    let file = &up.objects[4];
    assert_eq!(file["parent_directory_ref"], dir["id"]);
    assert_eq!(file["id"].as_str().unwrap(), id::sco_id(file).unwrap());
    let process = &up.objects[5];
    assert_eq!(process["image_ref"], file["id"]);
    assert_eq!(
        crate::syntax::parse_identifier(process["id"].as_str().unwrap())
            .unwrap()
            .1
            .get_version_num(),
        4
    );
    assert_eq!(up.objects[7]["src_ref"], up.objects[6]["id"]);
    // Deterministic: the same input upgrades to the same output.
    assert_eq!(upgrade::upgrade_bundle(&b), up);
    // 2.1 objects pass through unchanged.
    assert_eq!(upgrade::upgrade_object(&indicator()), vec![indicator()]);
}

#[test]
fn upgrade_gives_the_2_1_form_of_a_2_0_tlp_definition() {
    // TLP:WHITE exactly as STIX 2.0 defined it (no `name`), as 2.0 producers emit it.
    let white = obj(json!({
        "type": "marking-definition", "id": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "definition": {"tlp": "white"}
    }));
    let up = upgrade::upgrade_object(&white);
    assert_eq!(
        up,
        vec![
            tlp::canonical_for_id("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9")
                .unwrap()
        ]
    );
    assert!(is_valid(&validate(&up[0])));
    // With `spec_version: "2.0"` or the right name, the same.
    for (k, v) in [("spec_version", "2.0"), ("name", "TLP:WHITE")] {
        let mut w = white.clone();
        w.insert(k.into(), json!(v));
        assert_eq!(upgrade::upgrade_object(&w), up, "{k}");
    }
    // Anything else under a TLP id is not made canonical: validation refuses it.
    for (k, v) in [
        ("definition", json!({"tlp": "green"})),
        ("name", json!("TLP:GREEN")),
        ("created", json!("2020-01-20T00:00:00.000Z")),
        ("description", json!("mine")),
    ] {
        let mut w = white.clone();
        w.insert(k.into(), v);
        let up = upgrade::upgrade_object(&w);
        assert!(!is_valid(&validate(&up[0])), "{k}: {up:?}");
    }
}

#[test]
fn relationships_outside_the_spec_table_draw_a_warning() {
    let rel = |src: String, rt: &str, tgt: String| {
        let o = obj(
            json!({"type": "relationship", "spec_version": "2.1", "id": sid("relationship", 1),
            "created": "2023-01-01T00:00:00.000Z", "modified": "2023-01-01T00:00:00.000Z",
            "relationship_type": rt, "source_ref": src, "target_ref": tgt}),
        );
        let d = validate(&o);
        assert!(is_valid(&d), "{d:?}");
        d.iter().any(|d| d.code == "relationship-type")
    };
    assert!(!rel(sid("indicator", 1), "indicates", sid("malware", 1)));
    assert!(!rel(
        sid("malware", 1),
        "communicates-with",
        sid("ipv4-addr", 1)
    ));
    assert!(!rel(
        sid("infrastructure", 1),
        "consists-of",
        sid("file", 1)
    ));
    assert!(!rel(sid("malware", 1), "related-to", sid("identity", 1)));
    assert!(!rel(sid("malware", 1), "duplicate-of", sid("malware", 2)));
    assert!(!rel(sid("x-acme-thing", 1), "owns", sid("malware", 2)));
    assert!(rel(sid("malware", 1), "indicates", sid("indicator", 1)));
    assert!(rel(sid("malware", 1), "duplicate-of", sid("tool", 2)));
}
