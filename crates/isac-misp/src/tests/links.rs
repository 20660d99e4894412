//! Object references and sightings: the links between an event's elements.

use isac_model::Tlp;
use serde_json::{Value, json};

use super::{EV, ORG, SHA256, attr, by_id, event, import, indicator, item, reimport};
use crate::galaxy::relationship_id;
use crate::*;

const FILE: &str = "a0000000-0000-4000-8000-000000000001";
const SIZE: &str = "a0000000-0000-4000-8000-000000000002";
const NAME: &str = "a0000000-0000-4000-8000-000000000003";
const HASH: &str = "a0000000-0000-4000-8000-000000000004";
const DOMAIN_IP: &str = "b0000000-0000-4000-8000-000000000001";
const DOMAIN: &str = "b0000000-0000-4000-8000-000000000002";
const IP: &str = "b0000000-0000-4000-8000-000000000003";
const LONE: &str = "c0000000-0000-4000-8000-000000000001";
const REF_C2: &str = "d0000000-0000-4000-8000-000000000001";
const SEEN: &str = "e0000000-0000-4000-8000-000000000001";
const FALSE_POSITIVE: &str = "e0000000-0000-4000-8000-000000000002";
const EXPIRED: &str = "e0000000-0000-4000-8000-000000000003";
const SEEN_ON_EVENT: &str = "e0000000-0000-4000-8000-000000000004";
const BANK: &str = "f0000000-0000-4000-8000-000000000001";

fn object_attr(uuid: &str, relation: &str, ty: &str, value: &str, to_ids: bool) -> Value {
    let mut a = attr(uuid, ty, value, to_ids);
    a["object_relation"] = relation.into();
    a
}

/// A `file` object that communicates with a `domain-ip` object, which is related to a lone
/// attribute, with references that cannot be converted.
pub(super) fn referencing_event() -> Value {
    event(
        json!({ "Tag": [{ "name": "tlp:green" }], "Object": [{
            "uuid": FILE, "name": "file", "meta-category": "file", "distribution": "0",
            "Attribute": [
                object_attr(SIZE, "size-in-bytes", "size-in-bytes", "1024", false),
                object_attr(NAME, "filename", "filename", "dropper.exe", true),
                object_attr(HASH, "sha256", "sha256", SHA256, true),
            ],
            "ObjectReference": [
                { "uuid": REF_C2, "object_uuid": FILE, "referenced_uuid": DOMAIN_IP.to_uppercase(),
                  "relationship_type": "communicates-with", "comment": "beacons every 60 s",
                  "timestamp": "1714570000" },
                { "uuid": "d0000000-0000-4000-8000-000000000002", "referenced_uuid": "f1f1f1f1-0000-4000-8000-000000000000",
                  "relationship_type": "drops" },
                { "uuid": "d0000000-0000-4000-8000-000000000003", "referenced_uuid": LONE,
                  "relationship_type": "Not a type!" },
                { "uuid": "d0000000-0000-4000-8000-000000000004", "referenced_uuid": LONE,
                  "relationship_type": "drops", "deleted": true },
                { "uuid": "d0000000-0000-4000-8000-000000000005", "referenced_uuid": HASH,
                  "relationship_type": "related-to" },
                { "uuid": "d0000000-0000-4000-8000-000000000006", "referenced_uuid": NAME,
                  "relationship_type": "related-to" },
            ],
        }, {
            "uuid": DOMAIN_IP, "name": "domain-ip", "meta-category": "network",
            "Attribute": [
                object_attr(DOMAIN, "domain", "domain", "c2.example", false),
                object_attr(IP, "ip", "ip-dst", "203.0.113.7", true),
            ],
            "ObjectReference": [
                { "referenced_uuid": LONE, "relationship_type": "related_to" },
            ],
        }]}),
        json!([attr(LONE, "url", "https://c2.example/gate.php", true)]),
    )
}

#[test]
fn object_references_become_relationships_between_the_objects_standing_for_them() {
    let i = import(&referencing_event());
    // The file object is represented by its first indicator (the file name), not by the note of
    // its size; the domain-ip object by the indicator of its address, not by the observation of
    // its domain.
    let c2 = by_id(&i, &format!("relationship--{REF_C2}"));
    let o = &c2.object;
    assert_eq!(o["relationship_type"], "communicates-with");
    assert_eq!(o["source_ref"], format!("indicator--{NAME}"));
    assert_eq!(o["target_ref"], format!("indicator--{IP}"));
    assert_eq!(o["description"], "beacons every 60 s");
    assert_eq!(o["created"], "2024-05-01T13:26:40.000Z");
    assert_eq!(o["created_by_ref"], format!("identity--{ORG}"));
    // The file object is distribution 0 inside a GREEN event: the narrower end decides.
    assert_eq!(c2.tlp, Tlp::AmberStrict);
    assert_eq!(
        o["object_marking_refs"],
        json!([Tlp::AmberStrict.marking_id_v2()])
    );
    let ext = &o["extensions"][MISP_EXTENSION_ID];
    assert_eq!(ext["object_uuid"], FILE);
    assert_eq!(ext["referenced_uuid"], DOMAIN_IP);

    // A reference without uuid gets one derived from its ends and type; `related_to` is written
    // with a hyphen. Both ends are GREEN.
    let id = relationship_id(
        &format!("indicator--{IP}"),
        "related-to",
        &format!("indicator--{LONE}"),
    );
    let related = by_id(&i, &id);
    assert_eq!(related.object["relationship_type"], "related-to");
    assert_eq!(related.tlp, Tlp::Green);

    // A reference to another attribute of the object itself relates two objects; one to the
    // attribute standing for the object would relate an object to itself.
    let own = by_id(&i, "relationship--d0000000-0000-4000-8000-000000000005");
    assert_eq!(own.object["target_ref"], format!("indicator--{HASH}"));
    let reasons: Vec<&str> = i.diagnostics.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "the `drops` object reference to f1f1f1f1-0000-4000-8000-000000000000 is not converted: no converted object or attribute of the event has that uuid",
            format!("the `Not a type!` object reference to {LONE} is not converted: `not-a-type!` is not a STIX relationship type").as_str(),
            "the `drops` object reference is deleted",
            "the `related-to` object reference to a0000000-0000-4000-8000-000000000003 is not converted: both of its ends stand for the same STIX object",
        ]
    );
    assert!(i.diagnostics.iter().all(|d| d.level == Level::Skipped
        && d.reason_zh.is_some()
        && d.event_uuid.as_deref() == Some(EV)));
    // The report lists the relationships with the other objects.
    let refs = &i.objects[0].object["object_refs"];
    assert!(refs.as_array().unwrap().contains(&json!(c2.id())));
    assert!(refs.as_array().unwrap().contains(&json!(id)));
    // Importing again gives the same objects.
    assert_eq!(import(&referencing_event()).objects, i.objects);
}

fn sighting(uuid: &str, ty: &str, org: &str, name: &str) -> Value {
    json!({ "uuid": uuid, "type": ty, "date_sighting": "1714600000", "source": "SIEM",
            "Organisation": { "uuid": org, "name": name } })
}

pub(super) fn sighted_event() -> Value {
    let mut seen = attr(LONE, "domain", "c2.example", true);
    seen["Sighting"] = json!([
        sighting(SEEN, "0", BANK, "Member Bank"),
        sighting(FALSE_POSITIVE, "1", BANK, "Member Bank"),
        sighting(EXPIRED, "2", BANK, "Member Bank"),
        { "type": "0", "date_sighting": 1714600500 },
    ]);
    let mut red = attr(IP, "ip-dst", "203.0.113.7", true);
    red["Tag"] = json!([{ "name": "tlp:red" }]);
    event(
        json!({ "Tag": [{ "name": "tlp:clear" }], "Sighting": [
            { "uuid": SEEN_ON_EVENT, "attribute_uuid": IP, "type": 0, "date_sighting": "1714600100" },
            // The same sighting as in the attribute's own list: converted once.
            sighting(SEEN, "0", BANK, "Member Bank"),
            { "uuid": "e0000000-0000-4000-8000-00000000000f", "attribute_uuid": "f1f1f1f1-0000-4000-8000-000000000000" },
        ]}),
        json!([seen, red]),
    )
}

#[test]
fn sightings_become_sightings_and_false_positives_opinions() {
    let i = import(&sighted_event());
    let s = by_id(&i, &format!("sighting--{SEEN}"));
    let o = &s.object;
    assert_eq!(o["sighting_of_ref"], format!("indicator--{LONE}"));
    assert_eq!(o["first_seen"], "2024-05-01T21:46:40.000Z");
    assert_eq!(o["last_seen"], o["first_seen"]);
    assert_eq!(o["count"], 1);
    assert_eq!(o["created_by_ref"], format!("identity--{BANK}"));
    assert!(o.get("where_sighted_refs").is_none());
    let ext = &o["extensions"][MISP_EXTENSION_ID];
    assert_eq!(ext["org_name"], "Member Bank");
    assert_eq!(ext["source"], "SIEM");
    assert_eq!(ext["sighting_type"], "0");
    // Who saw what stays with the importing organisation and the ISAC, even on a CLEAR event.
    assert_eq!((s.tlp, s.recipients.len()), (Tlp::AmberStrict, 0));

    let fp = by_id(&i, &format!("opinion--{FALSE_POSITIVE}"));
    assert_eq!(fp.object["opinion"], "strongly-disagree");
    assert_eq!(
        fp.object["object_refs"],
        json!([format!("indicator--{LONE}")])
    );
    assert_eq!(fp.object["authors"], json!(["Member Bank"]));
    assert_eq!(fp.tlp, Tlp::AmberStrict);

    // A sighting without uuid or organisation: a derived id and the event's creator.
    let anonymous = i
        .objects
        .iter()
        .filter(|o| o.stix_type() == "sighting")
        .find(|o| o.object["first_seen"] == "2024-05-01T21:55:00.000Z")
        .expect("the sighting without uuid");
    assert_eq!(
        anonymous.object["created_by_ref"],
        format!("identity--{ORG}")
    );

    // Never wider than the attribute: a sighting of a RED attribute is RED.
    let red = by_id(&i, &format!("sighting--{SEEN_ON_EVENT}"));
    assert_eq!(red.object["sighting_of_ref"], format!("indicator--{IP}"));
    assert_eq!(red.tlp, Tlp::Red);

    assert_eq!(
        i.objects
            .iter()
            .filter(|o| matches!(o.stix_type(), "sighting" | "opinion"))
            .count(),
        4
    );
    let reasons: Vec<&str> = i.diagnostics.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            format!("the expiration sighting of attribute {LONE} is not converted: it is not by the event's own organisation").as_str(),
            "the sighting of attribute f1f1f1f1-0000-4000-8000-000000000000 is not converted: that attribute was not converted",
        ]
    );
    // Sightings are not part of the report: they are other organisations' observations.
    let refs = i.objects[0].object["object_refs"].as_array().unwrap();
    assert!(
        !refs
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("sighting--"))
    );
    assert_eq!(import(&sighted_event()).objects, i.objects);
}

#[test]
fn links_pass_stix_validation() {
    for doc in [referencing_event(), sighted_event()] {
        for o in import(&doc).objects {
            let d = isac_stix::validate(&o.object);
            assert!(isac_stix::is_valid(&d), "{}: {d:?}", o.id());
        }
    }
}

#[test]
fn object_references_round_trip_through_a_feed() {
    let first = import(&referencing_event());
    let (second, diags, feed) = reimport(&first.objects);
    // The relationships between objects come back as they were.
    for r in first
        .objects
        .iter()
        .filter(|o| o.stix_type() == "relationship")
    {
        let back = second.iter().find(|o| o.id() == r.id());
        assert_eq!(back, Some(r), "{}", r.id());
    }
    assert!(
        diags.iter().all(|d| !d.reason.contains("reference")),
        "{diags:#?}"
    );
    // In the feed, the references are those of the MISP objects, naming what MISP named.
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let objects = ev["Event"]["Object"].as_array().unwrap();
    let file = objects.iter().find(|o| o["uuid"] == FILE).unwrap();
    let refs = file["ObjectReference"].as_array().unwrap();
    let c2 = refs.iter().find(|r| r["uuid"] == REF_C2).unwrap();
    assert_eq!(c2["object_uuid"], FILE);
    assert_eq!(c2["referenced_uuid"], DOMAIN_IP);
    assert_eq!(c2["relationship_type"], "communicates-with");
    assert_eq!(c2["comment"], "beacons every 60 s");
    let domain_ip = objects.iter().find(|o| o["uuid"] == DOMAIN_IP).unwrap();
    assert_eq!(domain_ip["ObjectReference"][0]["referenced_uuid"], LONE);
}

/// An indicator with a GREEN sighting, a CLEAR false positive and an AMBER+STRICT sighting.
pub(super) fn sighted_items() -> Vec<StixItem> {
    let ind = indicator(
        "2c000000-0000-4000-8000-000000000001",
        "[domain-name:value = 'seen.example']",
        Tlp::Green,
    );
    let seen = item(
        json!({ "type": "sighting", "spec_version": "2.1", "id": "sighting--2c000000-0000-4000-8000-000000000002",
                "created": "2024-06-02T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z",
                "first_seen": "2024-06-02T07:00:00.000Z", "last_seen": "2024-06-02T07:30:00.000Z",
                "count": 3, "sighting_of_ref": ind.id(),
                "created_by_ref": "identity--2c000000-0000-4000-8000-0000000000aa" }),
        Tlp::Green,
    );
    let false_positive = item(
        json!({ "type": "opinion", "spec_version": "2.1", "id": "opinion--2c000000-0000-4000-8000-000000000003",
                "created": "2024-06-03T08:00:00.000Z", "modified": "2024-06-03T08:00:00.000Z",
                "opinion": "strongly-disagree", "object_refs": [ind.id()] }),
        Tlp::Clear,
    );
    let private = item(
        json!({ "type": "sighting", "spec_version": "2.1", "id": "sighting--2c000000-0000-4000-8000-000000000004",
                "created": "2024-06-02T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z",
                "sighting_of_ref": ind.id() }),
        Tlp::AmberStrict,
    );
    vec![ind, seen, false_positive, private]
}

#[test]
fn sightings_are_written_on_their_attribute_unless_narrower() {
    let items = sighted_items();
    let ind = items[0].clone();
    let (back, diags, feed) = reimport(&items);
    let files = feed.0.borrow();
    let (_, ev) = files
        .iter()
        .find(|(k, _)| k.ends_with(".json") && *k != "manifest.json")
        .unwrap();
    let ev: Value = serde_json::from_slice(ev).unwrap();
    let attr = &ev["Event"]["Attribute"][0];
    assert_eq!(
        attr["Sighting"],
        json!([
            { "uuid": "2c000000-0000-4000-8000-000000000002", "type": "0", "date_sighting": "1717313400",
              "source": "", "Organisation": { "uuid": "2c000000-0000-4000-8000-0000000000aa" } },
            { "uuid": "2c000000-0000-4000-8000-000000000003", "type": "1", "date_sighting": "1717401600",
              "source": "" },
        ])
    );
    // The AMBER+STRICT sighting is not handed on with a GREEN attribute.
    let skipped: Vec<_> = diags.iter().filter(|d| d.level == Level::Skipped).collect();
    assert_eq!(skipped.len(), 1, "{diags:#?}");
    assert_eq!(
        skipped[0].element.as_deref(),
        Some("sighting--2c000000-0000-4000-8000-000000000004")
    );
    // Imported again, they are a sighting and a false positive of the same indicator, kept
    // with the importing organisation.
    let s = back
        .iter()
        .find(|o| o.id() == "sighting--2c000000-0000-4000-8000-000000000002")
        .unwrap();
    assert_eq!(s.object["sighting_of_ref"], ind.id());
    assert_eq!(s.tlp, Tlp::AmberStrict);
    assert!(
        back.iter()
            .any(|o| o.id() == "opinion--2c000000-0000-4000-8000-000000000003")
    );
}

/// An expiration sighting by the event's own organisation ends its indicator's validity; one
/// before the indicator is valid, or by another organisation, is named.
#[test]
fn the_event_owners_expiration_becomes_valid_until() {
    let mut a = attr(LONE, "domain", "c2.example", true);
    a["first_seen"] = json!("2024-05-01T00:00:00.000000+00:00");
    a["Sighting"] = json!([
        sighting(EXPIRED, "2", super::ORG, "Example CERT"),
        // Later than the first: the earliest expiration holds.
        sighting(
            "e0000000-0000-4000-8000-0000000000e2",
            "2",
            super::ORG,
            "Example CERT"
        ),
    ]);
    a["Sighting"][1]["date_sighting"] = json!("1714700000");
    let mut early = attr(IP, "ip-dst", "203.0.113.7", true);
    early["first_seen"] = json!("2024-05-03T00:00:00.000000+00:00");
    early["Sighting"] = json!([sighting(
        "e0000000-0000-4000-8000-0000000000e3",
        "2",
        super::ORG,
        "Example CERT"
    )]);
    let i = import(&event(json!({}), json!([a, early])));
    let ind = by_id(&i, &format!("indicator--{LONE}"));
    assert_eq!(ind.object["valid_until"], "2024-05-01T21:46:40.000Z");
    assert!(isac_stix::is_valid(&isac_stix::validate(&ind.object)));
    let other = by_id(&i, &format!("indicator--{IP}"));
    assert!(other.object.get("valid_until").is_none());
    let reasons: Vec<&str> = i.diagnostics.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [format!(
            "the expiration sighting of attribute {IP} is not converted: it is not after the indicator's valid_from"
        )
        .as_str()]
    );
    // No sighting object is made of an expiration.
    assert!(i.objects.iter().all(|o| o.stix_type() != "sighting"));
}
