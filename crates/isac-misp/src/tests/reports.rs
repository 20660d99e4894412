//! Event reports: the Markdown texts of an event, as STIX notes and back.

use isac_model::Tlp;
use serde_json::{Value, json};

use super::{EV, attr, by_id, event, import, reimport};
use crate::*;

const REPORT: &str = "a1000000-0000-4000-8000-000000000001";
const PRIVATE: &str = "a1000000-0000-4000-8000-000000000002";
const GONE: &str = "a1000000-0000-4000-8000-000000000003";
const EMPTY: &str = "a1000000-0000-4000-8000-000000000004";
const C2: &str = "a2000000-0000-4000-8000-000000000001";
const OBJ: &str = "a3000000-0000-4000-8000-000000000001";
const OBJ_IP: &str = "a3000000-0000-4000-8000-000000000002";

/// A GREEN event with two attributes, one MISP object, and event reports naming them.
fn reported_event() -> Value {
    reported_event_as(EV)
}

/// [`reported_event`] under another event uuid.
pub(super) fn reported_event_as(event_uuid: &str) -> Value {
    let text = format!(
        "# Campaign summary\n\nThe loader calls @[attribute]({}) and then @![object]({OBJ}).\n\
         An unknown @[attribute](ffffffff-0000-4000-8000-000000000000), a mail @user and \
         @[tag](tlp:green) name nothing converted.",
        C2.to_uppercase()
    );
    event(
        json!({
            "uuid": event_uuid,
            "Tag": [{ "name": "tlp:green" }],
            "Object": [{ "uuid": OBJ, "name": "domain-ip", "Attribute": [
                { "uuid": OBJ_IP, "type": "ip-dst", "object_relation": "ip", "value": "203.0.113.9", "to_ids": true, "timestamp": "1714563600" },
            ]}],
            "EventReport": [
                { "uuid": REPORT, "name": "Summary", "content": text, "distribution": "5", "timestamp": "1714570000", "deleted": false },
                { "uuid": PRIVATE, "name": "Our notes", "content": "Internal only.", "distribution": "0", "timestamp": "1714570000" },
                { "uuid": GONE, "name": "Old", "content": "x", "deleted": true },
                { "uuid": EMPTY, "name": "Nothing", "content": "  " },
                { "name": "No uuid", "content": "y" },
                { "uuid": "a1000000-0000-4000-8000-000000000005", "name": "Huge", "content": "z".repeat(300 * 1024) },
            ],
        }),
        json!([
            attr(C2, "domain", "c2.example", true),
            attr(
                "a2000000-0000-4000-8000-000000000002",
                "comment",
                "plain text",
                false
            ),
        ]),
    )
}

#[test]
fn event_reports_become_notes_about_the_event_and_what_they_name() {
    let i = import(&reported_event());
    let n = by_id(&i, &format!("note--{REPORT}"));
    let o = &n.object;
    assert_eq!(o["abstract"], "Summary");
    assert!(
        o["content"]
            .as_str()
            .unwrap()
            .starts_with("# Campaign summary")
    );
    assert_eq!(o["created"], "2024-05-01T13:26:40.000Z");
    assert_eq!(
        o["object_refs"],
        json!([
            format!("report--{EV}"),
            format!("indicator--{C2}"),
            format!("indicator--{OBJ_IP}")
        ])
    );
    assert_eq!(n.tlp, Tlp::Green);
    assert_eq!(
        o["extensions"][MISP_EXTENSION_ID]["event_report_uuid"],
        REPORT
    );
    // Its own distribution narrows it: "your organisation only".
    let private = by_id(&i, &format!("note--{PRIVATE}"));
    assert_eq!(private.tlp, Tlp::AmberStrict);
    assert!(private.recipients.is_empty());
    // The report lists both notes.
    let report = by_id(&i, &format!("report--{EV}"));
    let refs = report.object["object_refs"].as_array().unwrap();
    for id in [format!("note--{REPORT}"), format!("note--{PRIVATE}")] {
        assert!(refs.contains(&Value::from(id.clone())), "{id}");
    }
    // What is not converted is named, in both languages.
    let named: Vec<(&str, &str)> = i
        .diagnostics
        .iter()
        .map(|d| (d.reason.as_str(), d.reason_zh.as_deref().unwrap()))
        .collect();
    for want in [
        ("the event report is deleted", "此事件報告已刪除"),
        ("the event report has no text", "此事件報告沒有內容"),
        (
            "an event report without uuid is not converted",
            "沒有 uuid 的事件報告未轉換",
        ),
    ] {
        assert!(named.contains(&want), "{want:?} in {named:#?}");
    }
    assert!(
        named
            .iter()
            .any(|(r, _)| r.starts_with("the event report's text (307200 bytes) is larger")),
        "{named:#?}"
    );
    assert!(
        !named.iter().any(|(r, _)| r.contains("EventReport")),
        "{named:#?}"
    );
    for o in &i.objects {
        let d = isac_stix::validate(&o.object);
        assert!(isac_stix::is_valid(&d), "{}: {d:?}", o.id());
    }
}

#[test]
fn event_reports_round_trip_through_a_feed() {
    let first = import(&reported_event());
    let (second, diags, feed) = reimport(&first.objects);
    for id in [format!("note--{REPORT}"), format!("note--{PRIVATE}")] {
        let a = by_id(&first, &id);
        let b = second.iter().find(|o| o.id() == id).expect("back");
        assert_eq!(b, a, "{id}");
    }
    assert!(
        diags.iter().all(|d| d.level != Level::Skipped),
        "{diags:#?}"
    );
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let reports = ev["Event"]["EventReport"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    let summary = reports.iter().find(|r| r["uuid"] == REPORT).unwrap();
    assert_eq!(summary["name"], "Summary");
    assert_eq!(summary["distribution"], "5");
    let private = reports.iter().find(|r| r["uuid"] == PRIVATE).unwrap();
    assert_eq!(private["distribution"], "0");
    // Not written as attributes too.
    let attrs = ev["Event"]["Attribute"].as_array().unwrap();
    assert!(
        attrs
            .iter()
            .all(|a| a["uuid"] != REPORT && a["uuid"] != PRIVATE)
    );
}

#[test]
fn a_red_event_report_in_a_wider_event_is_not_written() {
    let mut items = import(&reported_event()).objects;
    let private = items
        .iter_mut()
        .find(|o| o.id() == format!("note--{PRIVATE}"))
        .unwrap();
    private.tlp = Tlp::Red;
    private.object["object_marking_refs"] = json!([Tlp::Red.marking_id_v2()]);
    let (second, diags, _) = reimport(&items);
    assert!(second.iter().all(|o| o.id() != format!("note--{PRIVATE}")));
    assert!(
        diags.iter().any(|d| d.level == Level::Skipped
            && d.element.as_deref() == Some(&format!("note--{PRIVATE}"))
            && d.reason.contains("TLP:RED event report")),
        "{diags:#?}"
    );
    // The wider one still goes out.
    assert!(second.iter().any(|o| o.id() == format!("note--{REPORT}")));
}
