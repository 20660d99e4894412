//! The export in two passes: catch-all events split at a size, the same events however the
//! objects are loaded, and `manifest.json` written entry by entry.

use std::collections::{BTreeMap, BTreeSet};

use isac_model::Tlp;
use serde_json::{Map, Value, json};

use super::{MemFeed, indicator, item, publisher};
use crate::*;

fn options(catch_all_size: usize) -> ExportOptions {
    ExportOptions {
        publisher: publisher(),
        catch_all_size,
    }
}

fn uuid(n: usize) -> String {
    format!("4a000000-0000-4000-8000-{n:012}")
}

fn green(n: usize) -> StixItem {
    indicator(
        &uuid(n),
        &format!("[ipv4-addr:value = '198.51.{}.{}']", n / 250, n % 250),
        Tlp::Green,
    )
}

/// Ten GREEN indicators of one attribute each, an indicator of three attributes (an `OR` of
/// three comparisons) after the fourth, a GREEN attack pattern (a galaxy cluster) last, and one
/// AMBER indicator, which is a catch-all event of its own.
fn orphans() -> Vec<StixItem> {
    let mut items: Vec<StixItem> = (0..4).map(green).collect();
    items.push(indicator(
        &uuid(100),
        "[domain-name:value = 'a.example' OR domain-name:value = 'b.example' OR domain-name:value = 'c.example']",
        Tlp::Green,
    ));
    items.extend((4..10).map(green));
    items.push(item(
        json!({ "type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--4b000000-0000-4000-8000-000000000001",
            "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z", "name": "Phishing",
            "created_by_ref": "identity--0c7d1e3a-0000-4000-8000-000000000001" }),
        Tlp::Green,
    ));
    items.push(indicator(
        &uuid(200),
        "[ipv4-addr:value = '203.0.113.1']",
        Tlp::Amber,
    ));
    items
}

fn attribute_uuids(e: &ExportedEvent) -> Vec<String> {
    e.event["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["uuid"].as_str().unwrap().to_string())
        .collect()
}

fn galaxy_count(e: &ExportedEvent) -> usize {
    e.event["Event"]["Galaxy"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["GalaxyCluster"].as_array().unwrap().len())
        .sum()
}

fn info(e: &ExportedEvent) -> &str {
    e.event["Event"]["info"].as_str().unwrap()
}

#[test]
fn catch_all_events_are_split_at_the_size() {
    let items = orphans();
    let whole = export_events(&items, &publisher());
    assert_eq!(
        whole.events.len(),
        2,
        "one GREEN and one AMBER catch-all event"
    );
    let green_whole = whole
        .events
        .iter()
        .find(|e| info(e).contains("GREEN"))
        .unwrap();
    assert_eq!(attribute_uuids(green_whole).len(), 13);
    assert_eq!(galaxy_count(green_whole), 1);

    let split = export_events_with(&items, &options(4));
    assert_eq!(split.diagnostics, whole.diagnostics);
    let parts: Vec<&ExportedEvent> = split
        .events
        .iter()
        .filter(|e| info(e).contains("GREEN"))
        .collect();
    // Four one-attribute indicators; the three-attribute one would make seven, so it opens
    // part 2, which one more indicator fills; four more; the last indicator and the cluster.
    let sizes: Vec<usize> = parts
        .iter()
        .map(|e| attribute_uuids(e).len() + galaxy_count(e))
        .collect();
    assert_eq!(sizes, [4, 4, 4, 2]);
    assert_eq!(attribute_uuids(parts[1])[0], uuid(100));
    assert_eq!(
        parts.iter().map(|e| info(e)).collect::<Vec<_>>(),
        [
            "Objects outside any report (TLP:GREEN)",
            "Objects outside any report (TLP:GREEN, part 2)",
            "Objects outside any report (TLP:GREEN, part 3)",
            "Objects outside any report (TLP:GREEN, part 4)",
        ]
    );
    // The first part keeps the uuid of the whole event; the others have their own.
    assert_eq!(parts[0].uuid, green_whole.uuid);
    let uuids: BTreeSet<&str> = split.events.iter().map(|e| e.uuid.as_str()).collect();
    assert_eq!(
        uuids.len(),
        split.events.len(),
        "every part has a uuid of its own"
    );
    for e in &parts {
        assert_eq!(e.event["Event"]["uuid"], e.uuid.as_str());
    }
    // Together the parts hold the attributes of the whole event, in the same order; the
    // AMBER event is unchanged.
    let joined: Vec<String> = parts.iter().flat_map(|e| attribute_uuids(e)).collect();
    assert_eq!(joined, attribute_uuids(green_whole));
    assert!(
        split.events.contains(
            whole
                .events
                .iter()
                .find(|e| info(e).contains("AMBER"))
                .unwrap()
        )
    );
    // Each part's time is that of its own newest object.
    assert_eq!(parts[0].event["Event"]["timestamp"], "1717232400");
    assert_eq!(parts[3].event["Event"]["timestamp"], "1717315200");
    assert_eq!(parts[3].event["Event"]["date"], "2024-06-02");

    // An object is never split: alone, it may exceed the size.
    let small = export_events_with(&items, &options(2));
    assert!(small.events.iter().any(|e| attribute_uuids(e).len() == 3));
    assert!(
        small
            .events
            .iter()
            .all(|e| attribute_uuids(e).len() + galaxy_count(e) <= 3)
    );
    // At or above the size of the whole, nothing changes.
    assert_eq!(export_events_with(&items, &options(14)), whole);
}

#[test]
fn split_feed_files_are_listed_hashed_and_reproducible() {
    let items = orphans();
    let files = |size: usize| {
        let mut feed = MemFeed::default();
        write_feed_with(&items, &options(size), &mut feed).unwrap();
        feed.0.into_inner()
    };
    let first = files(4);
    assert_eq!(first, files(4), "the same export gives the same files");
    let manifest: Map<String, Value> = serde_json::from_slice(&first["manifest.json"]).unwrap();
    assert_eq!(manifest.len(), 5);
    for uuid in manifest.keys() {
        let ev: Value = serde_json::from_slice(&first[&format!("{uuid}.json")]).unwrap();
        assert_eq!(ev["Event"]["uuid"], uuid.as_str());
        assert_eq!(manifest[uuid]["info"], ev["Event"]["info"]);
    }
    assert_eq!(
        first.len(),
        5 + 2,
        "the events, manifest.json and hashes.csv"
    );
    // One hashes.csv line per attribute value, naming the part that holds it.
    let csv = String::from_utf8(first["hashes.csv"].clone()).unwrap();
    let lines: Vec<(&str, &str)> = hashes_lines(&csv).collect();
    assert_eq!(lines.len(), 14);
    for (_, uuid) in &lines {
        assert!(manifest.contains_key(*uuid), "{uuid}");
    }
    // Read back, the split feed gives the objects the whole one gives.
    let read = |files: &BTreeMap<String, Vec<u8>>| {
        let feed = MemFeed(files.clone().into());
        let mut out = BTreeMap::new();
        for (_, r) in FeedReader::open(&feed, ImportOptions::default()).unwrap() {
            for o in r.unwrap().objects {
                if o.stix_type() != "report" {
                    out.insert(o.id().to_string(), (o.object, o.tlp));
                }
            }
        }
        out
    };
    assert_eq!(read(&first), read(&files(CATCH_ALL_ATTRIBUTES)));
}

#[test]
fn parts_span_the_loading_chunks() {
    // More objects than one job loads, split at a size that does not divide the chunk.
    let items: Vec<StixItem> = (0..1_100).map(green).collect();
    let whole = export_events(&items, &publisher());
    let split = export_events_with(&items, &options(300));
    let sizes: Vec<usize> = split
        .events
        .iter()
        .map(|e| attribute_uuids(e).len())
        .collect();
    assert_eq!(sizes, [300, 300, 300, 200]);
    let joined: Vec<String> = split.events.iter().flat_map(attribute_uuids).collect();
    assert_eq!(joined, attribute_uuids(&whole.events[0]));
}

#[test]
fn objects_that_cannot_be_loaded_are_left_out() {
    // Between the index and the writing an object may stop being readable: the job is simply
    // not given it, and the export goes on without it.
    let mut items = orphans();
    items.push(item(
        json!({ "type": "report", "spec_version": "2.1", "id": "report--4c000000-0000-4000-8000-000000000001",
            "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-01T08:00:00.000Z", "name": "r",
            "published": "2024-06-01T08:00:00.000Z",
            "object_refs": [format!("indicator--{}", uuid(0)), format!("indicator--{}", uuid(1))] }),
        Tlp::Green,
    ));
    let gone = [
        format!("indicator--{}", uuid(1)),
        format!("indicator--{}", uuid(7)),
    ];
    let mut index = ExportIndex::new();
    for i in &items {
        index.add(i);
    }
    assert_eq!(index.len(), items.len());
    let mut export = FeedExport::new(index, &options(CATCH_ALL_ATTRIBUTES));
    let mut events = Vec::new();
    while let Some(mut job) = export.next_job() {
        loop {
            let ids = export.wanted(&mut job);
            if ids.is_empty() {
                break;
            }
            for id in ids {
                if let Some(i) = items.iter().find(|i| i.id() == id && !gone.contains(&id)) {
                    job.supply(i.clone());
                }
            }
        }
        events.extend(export.run(job));
    }
    let written: BTreeSet<String> = events.iter().flat_map(attribute_uuids).collect();
    assert!(written.contains(&uuid(0)) && written.contains(&uuid(2)));
    assert!(!written.contains(&uuid(1)) && !written.contains(&uuid(7)));
    assert_eq!(
        events.len(),
        3,
        "the report, the GREEN and the AMBER catch-all events"
    );
}

#[test]
fn manifest_is_written_as_one_map_would_be() {
    let mut items = orphans();
    items.extend(super::foreign_items());
    let ex = export_events_with(&items, &options(3));
    let mut writer = ManifestWriter::default();
    let mut map = Map::new();
    for e in &ex.events {
        writer.add(e).unwrap();
        map.insert(e.uuid.clone(), e.manifest.clone());
    }
    assert!(writer.len() > 5);
    assert_eq!(
        writer.to_json().unwrap(),
        serde_json::to_vec_pretty(&Value::Object(map)).unwrap()
    );
    assert_eq!(
        ManifestWriter::default().to_json().unwrap(),
        serde_json::to_vec_pretty(&Value::Object(Map::new())).unwrap()
    );
}
