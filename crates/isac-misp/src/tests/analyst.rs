//! MISP analyst data: notes, opinions and relationships on the event, attributes and objects.

use isac_model::Tlp;
use serde_json::{Value, json};

use super::{EV, attr, by_id, event, import, reimport};
use crate::*;

const IP: &str = "b1000000-0000-4000-8000-000000000001";
const DOMAIN: &str = "b1000000-0000-4000-8000-000000000002";
const OBJ: &str = "b1000000-0000-4000-8000-000000000003";
const OBJ_URL: &str = "b1000000-0000-4000-8000-000000000004";
const ON_EVENT: &str = "b2000000-0000-4000-8000-000000000001";
const ON_IP: &str = "b2000000-0000-4000-8000-000000000002";
const DOUBT: &str = "b2000000-0000-4000-8000-000000000003";
const RELATED: &str = "b2000000-0000-4000-8000-000000000004";
const ON_OBJECT: &str = "b2000000-0000-4000-8000-000000000005";
const PRIVATE: &str = "b2000000-0000-4000-8000-000000000006";

pub(super) fn analysed_event() -> Value {
    let mut ip = attr(IP, "ip-dst", "198.51.100.77", true);
    ip["Note"] = json!([
        { "uuid": ON_IP, "note": "Sinkholed since May.", "language": "en", "authors": "analyst@cert.example",
          "object_uuid": IP, "object_type": "Attribute", "created": "2024-05-02 10:00:00", "modified": "2024-05-03 11:00:00",
          "Opinion": [{ "uuid": "b2000000-0000-4000-8000-0000000000f1", "opinion": "80" }] },
        { "uuid": PRIVATE, "note": "Our customer was hit.", "distribution": "0", "object_uuid": IP, "object_type": "Attribute" },
        { "uuid": "b2000000-0000-4000-8000-0000000000f2", "note": "gone", "deleted": true },
    ]);
    ip["Opinion"] = json!([
        { "uuid": DOUBT, "opinion": 10, "comment": "Shared hosting; likely a false positive.", "object_uuid": IP },
        { "uuid": "b2000000-0000-4000-8000-0000000000f3", "opinion": "very sure" },
    ]);
    ip["Relationship"] = json!([
        { "uuid": RELATED, "relationship_type": "resolves_to", "related_object_uuid": DOMAIN.to_uppercase(),
          "related_object_type": "Attribute", "object_uuid": IP },
        { "uuid": "b2000000-0000-4000-8000-0000000000f4", "relationship_type": "related-to",
          "related_object_uuid": "ffffffff-0000-4000-8000-000000000000", "related_object_type": "Attribute" },
    ]);
    event(
        json!({
            "Tag": [{ "name": "tlp:green" }],
            "Note": [{ "uuid": ON_EVENT, "note": "Part of the May phishing wave.", "object_uuid": EV, "object_type": "Event" }],
            "Object": [{ "uuid": OBJ, "name": "url", "Attribute": [
                { "uuid": OBJ_URL, "type": "url", "object_relation": "url", "value": "https://bad.example/x", "to_ids": true, "timestamp": "1714563600" },
            ], "Note": [{ "uuid": ON_OBJECT, "note": "Kit page.", "object_uuid": OBJ, "object_type": "Object" }] }],
        }),
        json!([ip, attr(DOMAIN, "domain", "bad.example", false)]),
    )
}

#[test]
fn analyst_data_becomes_notes_opinions_and_relationships() {
    let i = import(&analysed_event());
    let on_event = by_id(&i, &format!("note--{ON_EVENT}"));
    assert_eq!(
        on_event.object["object_refs"],
        json!([format!("report--{EV}")])
    );
    assert_eq!(on_event.tlp, Tlp::Green);
    let on_ip = by_id(&i, &format!("note--{ON_IP}"));
    let o = &on_ip.object;
    assert_eq!(o["content"], "Sinkholed since May.");
    assert_eq!(o["lang"], "en");
    assert_eq!(o["authors"], json!(["analyst@cert.example"]));
    assert_eq!(o["object_refs"], json!([format!("indicator--{IP}")]));
    assert_eq!(o["created"], "2024-05-02T10:00:00.000Z");
    assert_eq!(o["modified"], "2024-05-03T11:00:00.000Z");
    assert_eq!(o["extensions"][MISP_EXTENSION_ID]["analyst_type"], "note");
    // Its own distribution narrows it.
    let private = by_id(&i, &format!("note--{PRIVATE}"));
    assert_eq!(private.tlp, Tlp::AmberStrict);
    let doubt = by_id(&i, &format!("opinion--{DOUBT}"));
    assert_eq!(doubt.object["opinion"], "strongly-disagree");
    assert_eq!(
        doubt.object["explanation"],
        "Shared hosting; likely a false positive."
    );
    assert_eq!(
        doubt.object["extensions"][MISP_EXTENSION_ID]["opinion"],
        "10"
    );
    let rel = by_id(&i, &format!("relationship--{RELATED}"));
    assert_eq!(rel.object["relationship_type"], "resolves-to");
    assert_eq!(rel.object["source_ref"], format!("indicator--{IP}"));
    assert_eq!(
        rel.object["target_ref"].as_str().unwrap(),
        by_id(&i, &format!("observed-data--{DOMAIN}")).id()
    );
    let on_object = by_id(&i, &format!("note--{ON_OBJECT}"));
    assert_eq!(
        on_object.object["object_refs"],
        json!([format!("indicator--{OBJ_URL}")])
    );
    let named: Vec<(&str, &str)> = i
        .diagnostics
        .iter()
        .map(|d| (d.reason.as_str(), d.reason_zh.as_deref().unwrap()))
        .collect();
    for want in [
        "1 analyst entries about this analyst note are not converted",
        "the analyst note is deleted",
        "the analyst opinion is not a number from 0 to 100; not converted",
        "the analyst relationship `related-to` is not converted: its related element is not converted in this event",
    ] {
        assert!(
            named.iter().any(|(r, _)| *r == want),
            "{want} in {named:#?}"
        );
    }
    assert!(
        !named
            .iter()
            .any(|(r, _)| r.contains("entries of the event")),
        "{named:#?}"
    );
    for o in &i.objects {
        let d = isac_stix::validate(&o.object);
        assert!(isac_stix::is_valid(&d), "{}: {d:?}", o.id());
    }
}

#[test]
fn analyst_notes_and_opinions_are_not_written_to_misp() {
    let first = import(&analysed_event());
    let (second, diags, feed) = reimport(&first.objects);
    for id in [
        format!("note--{ON_IP}"),
        format!("note--{ON_EVENT}"),
        format!("opinion--{DOUBT}"),
    ] {
        assert!(second.iter().all(|o| o.id() != id), "{id} came back");
    }
    assert!(
        diags
            .iter()
            .any(|d| d.reason == "MISP analyst notes are not written"),
        "{diags:#?}"
    );
    // The analyst's strong disagreement is no false positive.
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let text = ev.to_string();
    assert!(!text.contains(DOUBT), "{text}");
    assert!(!text.contains("Sinkholed since May."), "{text}");
}
