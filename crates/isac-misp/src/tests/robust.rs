//! Malformed MISP input: thousands of random changes to a rich event and an event with galaxy
//! clusters. Import must never panic, and whatever it returns must be valid STIX 2.1 by
//! `isac_stix::validate` (the validator the rest of isac applies before storing anything).

use serde_json::{Value, json};

use super::analyst::analysed_event;
use super::galaxy::galaxy_event;
use super::links::{referencing_event, sighted_event};
use super::reports::reported_event_as;
use super::rich_event;
use crate::{ImportOptions, import_event};

/// A fixed-seed generator (splitmix64), so a failure names its case and can be run again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn junk(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => json!(null),
        1 => json!(""),
        2 => json!(-1),
        3 => json!(1.5),
        4 => json!(true),
        5 => json!([]),
        6 => json!({}),
        7 => json!("x"),
        8 => json!("1714560000"),
        9 => json!("2024-13-45"),
        10 => json!("tlp:red"),
        11 => json!("999999999999999999999"),
        12 => json!(["a", 1, null]),
        13 => json!({"name": 1}),
        14 => json!("\u{0}\u{202e}情資"),
        _ => json!("4"),
    }
}

/// Every path to a value inside `v`, as object keys and list indexes.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(k.clone());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(i.to_string());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Replaces or removes the value at `path`.
fn change(doc: &mut Value, path: &[String], rng: &mut Rng) {
    let (last, parent) = path.split_last().expect("a path");
    let mut v = doc;
    for step in parent {
        v = match v {
            Value::Object(m) => m.get_mut(step).expect("path"),
            Value::Array(a) => &mut a[step.parse::<usize>().expect("index")],
            _ => return,
        };
    }
    let remove = rng.below(4) == 0;
    match v {
        Value::Object(m) if remove => {
            m.remove(last);
        }
        Value::Object(m) => {
            m.insert(last.clone(), junk(rng));
        }
        Value::Array(a) => {
            let i = last.parse::<usize>().expect("index");
            if remove {
                a.remove(i);
            } else {
                a[i] = junk(rng);
            }
        }
        _ => {}
    }
}

/// 3,000 cases from a fixed seed in the suite; `ISAC_CASES` and `ISAC_SEED` explore further.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "an exploratory run takes its size and seed from the environment"
)]
fn changed_events_never_panic_and_give_valid_stix() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = env("ISAC_CASES").unwrap_or(3_000) as usize;
    // The galaxy event with relations between its clusters, one of them with a sharing group
    // and a TLP tag of its own.
    let mut related = galaxy_event();
    let clusters = &mut related["Event"]["Galaxy"];
    let to = clusters[3]["GalaxyCluster"][0]["uuid"].clone();
    let other = clusters[1]["GalaxyCluster"][0]["uuid"].clone();
    clusters[0]["GalaxyCluster"][0]["GalaxyClusterRelation"] = serde_json::json!([
        { "referenced_galaxy_cluster_uuid": to, "referenced_galaxy_cluster_type": "uses",
          "distribution": "3" },
        { "referenced_galaxy_cluster_uuid": other, "referenced_galaxy_cluster_type": "similar",
          "distribution": "4", "sharing_group_id": "7",
          "SharingGroup": { "uuid": "11111111-2222-4333-8444-555555555555", "name": "Systemic banks" },
          "Tag": [{ "name": "tlp:amber+strict" }] },
    ]);
    let bases = [
        rich_event(),
        galaxy_event(),
        related,
        referencing_event(),
        sighted_event(),
        reported_event_as(super::EV),
        analysed_event(),
    ];
    let mut rng = Rng(env("ISAC_SEED").unwrap_or(0x4d15_0000_0000_0001));
    let mut imported = 0;
    let mut objects = 0;
    for case in 0..cases {
        let mut doc = bases[case % bases.len()].clone();
        for _ in 0..=rng.below(3) {
            let mut all = Vec::new();
            paths(&doc, &mut Vec::new(), &mut all);
            if all.is_empty() {
                break;
            }
            let path = all[rng.below(all.len())].clone();
            change(&mut doc, &path, &mut rng);
        }
        let Ok(out) = import_event(&doc, &ImportOptions::default()) else {
            continue;
        };
        imported += 1;
        // A relationship, sighting, opinion or analyst note is never shown wider than an
        // object it connects or is about.
        let by_id: std::collections::HashMap<&str, &crate::StixItem> =
            out.objects.iter().map(|o| (o.id(), o)).collect();
        let analyst = |o: &crate::StixItem| {
            crate::misp_details(&o.object).is_some_and(|d| d.contains_key("analyst_type"))
        };
        for r in out.objects.iter().filter(|o| {
            matches!(o.stix_type(), "relationship" | "sighting" | "opinion")
                || (o.stix_type() == "note" && analyst(o))
        }) {
            for end in ["source_ref", "target_ref", "sighting_of_ref", "object_refs"] {
                let end = match &r.object.get(end) {
                    Some(serde_json::Value::Array(a)) => a.first(),
                    other => *other,
                };
                let Some(e) = end.and_then(|v| v.as_str()).and_then(|id| by_id.get(id)) else {
                    continue;
                };
                let wider = r.tlp.breadth() > e.tlp.breadth()
                    || (r.tlp == e.tlp && r.recipients.iter().any(|x| !e.recipients.contains(x)));
                assert!(
                    !wider,
                    "case {case}: {} ({:?} {:?}) is wider than its end {} ({:?} {:?})\nevent: {doc}",
                    r.id(),
                    r.tlp,
                    r.recipients,
                    e.id(),
                    e.tlp,
                    e.recipients
                );
            }
        }
        for o in &out.objects {
            objects += 1;
            let errors: Vec<String> = isac_stix::validate(&o.object)
                .into_iter()
                .filter(|d| d.severity == isac_stix::Severity::Error)
                .map(|d| d.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "case {case}: {} is not valid STIX: {errors:?}\nevent: {doc}",
                o.id()
            );
        }
        // Written back to MISP and read again, nothing comes back wider than it went out.
        let exported = crate::export_events(&out.objects, &super::publisher());
        for ev in &exported.events {
            let Ok(back) = import_event(&ev.event, &ImportOptions::default()) else {
                continue;
            };
            for o in &back.objects {
                let Some(before) = by_id.get(o.id()) else {
                    continue;
                };
                assert!(
                    o.tlp.breadth() <= before.tlp.breadth(),
                    "case {case}: {} went out {:?} and came back {:?}\nevent: {doc}",
                    o.id(),
                    before.tlp,
                    o.tlp
                );
            }
        }
    }
    println!("changed MISP events: {cases}, imported {imported}, {objects} objects checked");
    assert!(imported > cases / 3, "{imported}");
}
