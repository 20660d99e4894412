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
const NESTED: &str = "b2000000-0000-4000-8000-0000000000f1";
const FLAT: &str = "b2000000-0000-4000-8000-000000000007";
const ON_PRIVATE: &str = "b2000000-0000-4000-8000-000000000008";

pub(super) fn analysed_event() -> Value {
    let mut ip = attr(IP, "ip-dst", "198.51.100.77", true);
    ip["Note"] = json!([
        { "uuid": ON_IP, "note": "Sinkholed since May.", "language": "en", "authors": "analyst@cert.example",
          "object_uuid": IP, "object_type": "Attribute", "created": "2024-05-02 10:00:00", "modified": "2024-05-03 11:00:00",
          "Opinion": [{ "uuid": NESTED, "opinion": "80", "comment": "" }] },
        { "uuid": PRIVATE, "note": "Our customer was hit.", "distribution": "0", "object_uuid": IP, "object_type": "Attribute",
          "Note": [{ "uuid": ON_PRIVATE, "note": "Two branches.", "object_uuid": PRIVATE, "object_type": "Note" }] },
        { "uuid": "b2000000-0000-4000-8000-0000000000f2", "note": "gone", "deleted": true,
          "Note": [{ "uuid": "b2000000-0000-4000-8000-0000000000f5", "note": "about a deleted note" }] },
        { "uuid": FLAT, "note": "Agreed, sinkholed.", "object_uuid": ON_IP, "object_type": "Note" },
        { "uuid": "b2000000-0000-4000-8000-0000000000f6", "note": "about nothing here", "object_uuid": "ffffffff-0000-4000-8000-000000000001", "object_type": "Note" },
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
    // Analyst data about analyst data: the opinion nested in the note is about the note.
    let nested = by_id(&i, &format!("opinion--{NESTED}"));
    assert_eq!(
        nested.object["object_refs"],
        json!([format!("note--{ON_IP}")])
    );
    assert_eq!(nested.object["opinion"], "agree");
    assert_eq!(nested.tlp, Tlp::Green);
    // The flat form PyMISP writes (on the attribute, `object_type` Note) says the same.
    let flat = by_id(&i, &format!("note--{FLAT}"));
    assert_eq!(
        flat.object["object_refs"],
        json!([format!("note--{ON_IP}")])
    );
    // A note on the private note is never wider than it.
    assert_eq!(
        by_id(&i, &format!("note--{ON_PRIVATE}")).tlp,
        Tlp::AmberStrict
    );
    // Analyst data about analyst data that is not converted is named.
    for want in [
        "1 analyst entries about this analyst note are not converted, as it is not",
        "the analyst note is about an element that was not converted",
    ] {
        assert!(
            named.iter().any(|(r, _)| *r == want),
            "{want} in {named:#?}"
        );
    }
    for o in &i.objects {
        let d = isac_stix::validate(&o.object);
        assert!(isac_stix::is_valid(&d), "{}: {d:?}", o.id());
    }
}

/// The analyst data on one element of an exported event: its `Note` and `Opinion` lists.
fn analyst_on(element: &Value) -> (Vec<&Value>, Vec<&Value>) {
    let list = |k: &str| {
        element[k]
            .as_array()
            .map(|l| l.iter().collect())
            .unwrap_or_default()
    };
    (list("Note"), list("Opinion"))
}

fn ip_attribute(ev: &Value) -> &Value {
    ev["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["uuid"] == IP)
        .unwrap()
}

/// `first` exported to a feed and imported again, with no analyst data left unwritten: the
/// objects imported the second time and the exported event.
fn reexported_whole(first: &Import) -> (Vec<StixItem>, Value) {
    let (second, diags, feed) = reimport(&first.objects);
    let unwritten: Vec<_> = diags
        .iter()
        .filter(|d| d.reason.contains("analyst"))
        .collect();
    assert!(unwritten.is_empty(), "{unwritten:#?}");
    (second, exported_event(&feed))
}

fn exported_event(feed: &super::MemFeed) -> Value {
    let files = feed.0.borrow();
    serde_json::from_slice::<Value>(&files[&format!("{EV}.json")]).unwrap()["Event"].clone()
}

#[test]
fn analyst_notes_and_opinions_go_back_to_misp_as_analyst_data() {
    let first = import(&analysed_event());
    let (second, ev) = reexported_whole(&first);
    // On the event.
    let (notes, opinions) = analyst_on(&ev);
    assert_eq!(notes.len(), 1, "{ev:#}");
    assert!(opinions.is_empty());
    assert_eq!(notes[0]["uuid"], ON_EVENT);
    assert_eq!(notes[0]["object_type"], "Event");
    assert_eq!(notes[0]["object_uuid"], EV);
    assert_eq!(notes[0]["distribution"], "5");
    // On the attribute: the note, the private note with its own distribution, the opinion.
    let ip = ip_attribute(&ev);
    let (notes, opinions) = analyst_on(ip);
    let note = |u: &str| *notes.iter().find(|n| n["uuid"] == u).unwrap();
    let on_ip = note(ON_IP);
    assert_eq!(on_ip["note"], "Sinkholed since May.");
    assert_eq!(on_ip["language"], "en");
    assert_eq!(on_ip["authors"], "analyst@cert.example");
    assert_eq!(on_ip["object_type"], "Attribute");
    assert_eq!(on_ip["object_uuid"], IP);
    assert_eq!(on_ip["created"], "2024-05-02 10:00:00");
    assert_eq!(on_ip["modified"], "2024-05-03 11:00:00");
    assert_eq!(on_ip["distribution"], "5");
    assert_eq!(note(PRIVATE)["distribution"], "0");
    assert_eq!(opinions.len(), 1);
    assert_eq!(opinions[0]["uuid"], DOUBT);
    assert_eq!(opinions[0]["opinion"], "10");
    assert_eq!(
        opinions[0]["comment"],
        "Shared hosting; likely a false positive."
    );
    // The analyst's strong disagreement is no false positive.
    assert!(ip.get("Sighting").is_none(), "{ip:#}");
    // Analyst data about a note goes inside it.
    let (inner_notes, inner_opinions) = analyst_on(on_ip);
    assert_eq!(inner_opinions.len(), 1, "{on_ip:#}");
    assert_eq!(inner_opinions[0]["uuid"], NESTED);
    assert_eq!(inner_opinions[0]["object_type"], "Note");
    assert_eq!(inner_opinions[0]["object_uuid"], ON_IP);
    assert_eq!(inner_opinions[0]["opinion"], "80");
    assert_eq!(inner_notes.len(), 1);
    assert_eq!(inner_notes[0]["uuid"], FLAT);
    let on_private = analyst_on(note(PRIVATE)).0;
    assert_eq!(on_private[0]["uuid"], ON_PRIVATE);
    assert_eq!(
        on_private[0]["distribution"], "5",
        "as narrow as the note it is about"
    );
    // A note about a MISP object goes on the attribute standing for it.
    let url = ev["Object"][0]["Attribute"][0].clone();
    assert_eq!(analyst_on(&url).0[0]["uuid"], ON_OBJECT);
    // And they come back as they were.
    for id in [
        format!("note--{ON_EVENT}"),
        format!("note--{ON_IP}"),
        format!("note--{PRIVATE}"),
        format!("note--{ON_OBJECT}"),
        format!("opinion--{DOUBT}"),
        format!("opinion--{NESTED}"),
        format!("note--{FLAT}"),
        format!("note--{ON_PRIVATE}"),
    ] {
        let (a, b) = (by_id(&first, &id), by_id_in(&second, &id));
        assert_eq!(a.tlp, b.tlp, "{id}");
        for k in [
            "content",
            "lang",
            "authors",
            "object_refs",
            "created",
            "modified",
            "opinion",
            "explanation",
        ] {
            assert_eq!(a.object.get(k), b.object.get(k), "{id} {k}");
        }
    }
}

fn by_id_in<'a>(items: &'a [StixItem], id: &str) -> &'a StixItem {
    items
        .iter()
        .find(|o| o.id() == id)
        .unwrap_or_else(|| panic!("{id} is missing"))
}

#[test]
fn analyst_data_never_goes_out_wider_than_it_is() {
    let mut items = import(&analysed_event()).objects;
    let on_ip = format!("note--{ON_IP}");
    let doubt = format!("opinion--{DOUBT}");
    for o in &mut items {
        if o.id() == on_ip {
            o.tlp = Tlp::Red;
        }
    }
    // An opinion of another source, on the indicator: MISP's middle of its fifth.
    let mut agree = by_id_in(&items, &doubt).clone();
    agree.object.insert(
        "id".into(),
        "opinion--b3000000-0000-4000-8000-000000000001".into(),
    );
    agree.object.insert("opinion".into(), "agree".into());
    agree.object.remove("extensions");
    items.push(agree);
    let (_, diags, feed) = reimport(&items);
    let ev = exported_event(&feed);
    let text = ev.to_string();
    assert!(!text.contains("Sinkholed since May."), "{text}");
    assert!(
        diags
            .iter()
            .any(|d| d.element.as_deref() == Some(on_ip.as_str())
                && d.reason.starts_with("not written: TLP:RED analyst data")
                && d.reason_zh
                    .as_deref()
                    .is_some_and(|z| z.starts_with("未寫出：關於較寬的"))),
        "{diags:#?}"
    );
    let ip = ip_attribute(&ev);
    let (_, opinions) = analyst_on(ip);
    let agree = opinions
        .iter()
        .find(|o| o["uuid"] == "b3000000-0000-4000-8000-000000000001")
        .unwrap();
    assert_eq!(agree["opinion"], "70");
}

const REPORT: &str = "b4000000-0000-4000-8000-000000000001";
const ON_REPORT: &str = "b4000000-0000-4000-8000-000000000002";
const JUDGED: &str = "b4000000-0000-4000-8000-000000000003";
const ON_GONE: &str = "b4000000-0000-4000-8000-000000000004";

/// An event whose report carries an analyst note and opinion, and a deleted report with a note.
pub(super) fn reported_event() -> Value {
    event(
        json!({
            "Tag": [{ "name": "tlp:green" }],
            "EventReport": [
                { "uuid": REPORT, "name": "Summary", "content": "The wave reached three banks.", "distribution": "5", "timestamp": "1714570000",
                  "Note": [{ "uuid": ON_REPORT, "note": "Confirmed by a second bank.", "object_uuid": REPORT, "object_type": "EventReport" }],
                  "Opinion": [{ "uuid": JUDGED, "opinion": "90", "comment": "Accurate.", "object_uuid": REPORT, "object_type": "EventReport" }] },
                { "uuid": "b4000000-0000-4000-8000-0000000000f1", "name": "Old", "content": "x", "deleted": true,
                  "Note": [{ "uuid": ON_GONE, "note": "About a deleted report." }] },
            ],
        }),
        json!([attr(IP, "ip-dst", "198.51.100.77", true)]),
    )
}

#[test]
fn analyst_data_on_event_reports_round_trips() {
    let first = import(&reported_event());
    let report = format!("note--{REPORT}");
    let on_report = by_id(&first, &format!("note--{ON_REPORT}"));
    assert_eq!(on_report.object["object_refs"], json!([report]));
    assert_eq!(on_report.object["content"], "Confirmed by a second bank.");
    assert_eq!(on_report.tlp, Tlp::Green);
    let judged = by_id(&first, &format!("opinion--{JUDGED}"));
    assert_eq!(judged.object["object_refs"], json!([report]));
    assert_eq!(judged.object["opinion"], "strongly-agree");
    // Analyst data on a report that is not converted is named, not converted.
    assert!(first.objects.iter().all(|o| !o.id().contains(ON_GONE)));
    assert!(
        first
            .diagnostics
            .iter()
            .any(|d| d.element.as_deref() == Some(ON_GONE) && d.reason.contains("not converted")),
        "{:#?}",
        first.diagnostics
    );

    let (second, ev) = reexported_whole(&first);
    let reports = ev["EventReport"].as_array().expect("event reports");
    assert_eq!(reports.len(), 1, "{ev:#}");
    let (notes, opinions) = analyst_on(&reports[0]);
    assert_eq!(notes.len(), 1, "{:#}", reports[0]);
    assert_eq!(notes[0]["uuid"], ON_REPORT);
    assert_eq!(notes[0]["object_type"], "EventReport");
    assert_eq!(notes[0]["object_uuid"], REPORT);
    assert_eq!(notes[0]["note"], "Confirmed by a second bank.");
    assert_eq!(notes[0]["distribution"], "5");
    assert_eq!(opinions.len(), 1);
    assert_eq!(opinions[0]["uuid"], JUDGED);
    assert_eq!(opinions[0]["opinion"], "90");
    for id in [format!("note--{ON_REPORT}"), format!("opinion--{JUDGED}")] {
        let (a, b) = (by_id(&first, &id), by_id_in(&second, &id));
        assert_eq!(a.tlp, b.tlp, "{id}");
        for k in ["content", "object_refs", "opinion", "explanation"] {
            assert_eq!(a.object.get(k), b.object.get(k), "{id} {k}");
        }
    }
}

#[test]
fn analyst_data_on_an_unwritten_event_report_is_named() {
    let mut items = import(&reported_event()).objects;
    let report = format!("note--{REPORT}");
    for o in &mut items {
        if o.id() == report {
            o.tlp = Tlp::Red;
        }
    }
    let (_, diags, feed) = reimport(&items);
    let ev = exported_event(&feed);
    assert!(ev.get("EventReport").is_none(), "{ev:#}");
    assert!(!ev.to_string().contains("Confirmed by a second bank."));
    for uuid in [ON_REPORT, JUDGED] {
        assert!(
            diags.iter().any(|d| d.element.as_deref() == Some(uuid)
                && d.reason.contains("is about the event report")),
            "{uuid}: {diags:#?}"
        );
    }
}

/// A long chain of notes, each about the one before, in PyMISP's flat form and listed in reverse:
/// every note is converted about the one before (each waits for the one it is about, not for a
/// round of the whole list, so the work grows with the chain's length), and the export writes the
/// chain nested to a bounded depth and names the rest.
#[test]
fn long_chains_of_analyst_data_convert_and_export_bounded() {
    const LEN: usize = 3000;
    let uuid = |n: usize| format!("b5000000-0000-4000-8000-{n:012}");
    let notes: Vec<Value> = (0..LEN)
        .rev()
        .map(|n| {
            let (about, object_type) = if n == 0 {
                (IP.to_string(), "Attribute")
            } else {
                (uuid(n - 1), "Note")
            };
            json!({ "uuid": uuid(n), "note": format!("step {n}"), "object_uuid": about, "object_type": object_type })
        })
        .collect();
    let mut ip = attr(IP, "ip-dst", "198.51.100.77", true);
    ip["Note"] = json!(notes);
    let ev = event(json!({ "Tag": [{ "name": "tlp:green" }] }), json!([ip]));
    let first = import(&ev);
    for n in [1, LEN / 2, LEN - 1] {
        let o = by_id(&first, &format!("note--{}", uuid(n)));
        assert_eq!(
            o.object["object_refs"],
            json!([format!("note--{}", uuid(n - 1))])
        );
    }
    let (_, diags, feed) = reimport(&first.objects);
    let ev = exported_event(&feed);
    let mut depth = 0;
    let mut at = ip_attribute(&ev).clone();
    while let Some(next) = at["Note"].as_array().and_then(|l| l.first()).cloned() {
        depth += 1;
        at = next;
    }
    assert_eq!(depth, 17, "the element's note and 16 levels below it");
    let named = diags
        .iter()
        .filter(|d| d.reason.contains("to carry the analyst data"))
        .count();
    assert_eq!(named, LEN - 17, "the rest are named");
}
