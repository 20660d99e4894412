//! Interop with the real PyMISP (it reads our feeds; we read its events and feeds) and with the
//! OASIS STIX 2.1 validator (every object we emit is valid). These need the test virtual
//! environment at `<workspace root>/.venv`, made by `scripts/setup-test-env`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use isac_model::Tlp;
use serde_json::{Value, json};

use super::galaxy::{BISCUIT, foreign_clusters, galaxy_event};
use super::links::{referencing_event, sighted_event, sighted_items};
use super::{foreign_items, publisher, rich_event};
use crate::*;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_bin(name: &str) -> PathBuf {
    let p = workspace_root().join(".venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `scripts/setup-test-env` to create the test virtual environment",
        p.display()
    );
    p
}

/// Runs a Python snippet in the test environment and returns its standard output.
fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(venv_bin("python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("the test environment's python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("isac-misp-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("a temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A feed in a directory.
struct DirFeed<'a>(&'a Path);

impl FeedSource for DirFeed<'_> {
    fn read(&self, name: &str, limit: usize) -> io::Result<Vec<u8>> {
        let p = self.0.join(name);
        if fs::metadata(&p)?.len() > limit as u64 {
            return Err(io::Error::other(format!(
                "{name} is larger than {limit} bytes"
            )));
        }
        fs::read(p)
    }
}

impl FeedSink for DirFeed<'_> {
    fn write(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        fs::write(self.0.join(name), bytes)
    }
}

const LOAD_FEED: &str = r#"
import json, sys, pathlib
from pymisp import MISPEvent
root = pathlib.Path(sys.argv[1])
manifest = json.loads((root / "manifest.json").read_text())
out = {}
def galaxies(gs):
    return [[g.type, g.name, [[c.uuid, c.value, c.tag_name, int(c.distribution), c.meta,
        [[r.galaxy_cluster_uuid, r.referenced_galaxy_cluster_uuid, r.referenced_galaxy_cluster_type, int(r.distribution)]
         for r in c.cluster_relations]] for c in g.clusters]] for g in gs]
def analyst(x):
    # PyMISP lists analyst data about analyst data on the element that holds them all.
    return [sorted([n.uuid, n.note, n.object_uuid, n.object_type, int(n.distribution)] for n in x.notes),
            sorted([o.uuid, int(o.opinion), o.comment, o.object_uuid, o.object_type, int(o.distribution)] for o in x.opinions)]
for uuid in manifest:
    e = MISPEvent()
    e.load_file(str(root / f"{uuid}.json"))
    # Before to_feed, which drops the distribution of event reports.
    reports = [[r.uuid, r.name, r.content, int(r.distribution), analyst(r)] for r in e.event_reports]
    feed = e.to_feed(with_meta=True)
    def attr(a):
        return [a.uuid, a.type, a.value, bool(a.to_ids), sorted(t.name for t in a.tags), int(a.distribution), a.get("object_relation"),
                galaxies(a.galaxies), [[s.uuid, str(s.type), str(s.date_sighting)] for s in a.sightings],
                analyst(a)]
    out[uuid] = {
        "info": e.info,
        "distribution": int(e.distribution),
        "tags": [t.name for t in e.tags],
        "orgc": e.Orgc.uuid,
        "attributes": [attr(a) for a in e.attributes],
        "objects": [[o.name, o.uuid, [attr(a) for a in o.attributes],
                     [[r.uuid, r.object_uuid, r.referenced_uuid, r.relationship_type] for r in o.references]] for o in e.objects],
        "hashes": sorted(feed["Event"]["_hashes"]),
        "manifest_info": feed["Event"]["_manifest"][e.uuid]["info"],
        "sharing_group": getattr(e, "SharingGroup", None) and e.SharingGroup.uuid,
        "galaxies": galaxies(e.galaxies),
        "reports": reports,
        "analyst": analyst(e),
    }
print(json.dumps(out))
"#;

/// The galaxy test event under an event uuid of its own, with relations between its clusters.
fn galaxy_objects() -> Vec<StixItem> {
    let mut doc = galaxy_event();
    doc["Event"]["uuid"] = "6a000000-0000-4000-8000-0000000000a1".into();
    let apt28 = &mut doc["Event"]["Galaxy"][0]["GalaxyCluster"][0];
    let (from, to) = (apt28["uuid"].clone(), json!(BISCUIT));
    apt28["GalaxyClusterRelation"] = json!([
        { "galaxy_cluster_uuid": from, "referenced_galaxy_cluster_uuid": to,
          "referenced_galaxy_cluster_type": "uses", "distribution": "3" },
    ]);
    import_event(&doc, &ImportOptions::default())
        .unwrap()
        .objects
}

/// Galaxies as PyMISP reports them, in the shape `LOAD_FEED` prints.
fn galaxies_seen(ours: &Value) -> Value {
    let list: Vec<Value> = ours
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let clusters: Vec<Value> = g["GalaxyCluster"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let relations: Vec<Value> = c["GalaxyClusterRelation"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            json!([
                                r["galaxy_cluster_uuid"],
                                r["referenced_galaxy_cluster_uuid"],
                                r["referenced_galaxy_cluster_type"],
                                r["distribution"].as_str().unwrap().parse::<u8>().unwrap()
                            ])
                        })
                        .collect();
                    json!([
                        c["uuid"],
                        c["value"],
                        c["tag_name"],
                        c["distribution"].as_str().unwrap().parse::<u8>().unwrap(),
                        c.get("meta").cloned().unwrap_or(json!({})),
                        relations
                    ])
                })
                .collect();
            json!([g["type"], g["name"], clusters])
        })
        .collect();
    Value::Array(list)
}

#[test]
fn pymisp_loads_our_feed() {
    let dir = TempDir::new("ours");
    let objects_of = |event: &Value| {
        import_event(event, &ImportOptions::default())
            .unwrap()
            .objects
    };
    let mut items = objects_of(&rich_event());
    items.extend(foreign_items());
    items.extend(galaxy_objects());
    items.extend(foreign_clusters());
    items.extend(objects_of(&referencing_event()));
    items.extend(sighted_items());
    let mut analysed = super::analyst::analysed_event();
    analysed["Event"]["uuid"] = "6a000000-0000-4000-8000-0000000000a2".into();
    items.extend(objects_of(&analysed));
    let mut reported = super::analyst::reported_event();
    reported["Event"]["uuid"] = "6a000000-0000-4000-8000-0000000000a3".into();
    items.extend(objects_of(&reported));
    items.extend(objects_of(&super::reports::reported_event_as(
        "a1000000-0000-4000-8000-0000000000ee",
    )));
    let mut sink = DirFeed(&dir.0);
    write_feed(&items, &publisher(), &mut sink).unwrap();
    let expected = export_events(&items, &publisher());
    let seen: Value = serde_json::from_str(&python(LOAD_FEED, &[&dir.0])).unwrap();
    let seen = seen.as_object().unwrap();
    assert_eq!(seen.len(), expected.events.len());
    let mut attributes = 0;
    let mut galaxies = 0;
    let mut relations = 0;
    let sighted = std::cell::Cell::new(0);
    let mut references = 0;
    let mut reports = 0;
    let analysed = std::cell::Cell::new(0);
    // Analyst data as `LOAD_FEED` prints them: notes, then opinions, each by uuid, those nested
    // in analyst data (about analyst data) with those of the element holding them.
    let analyst_seen = |x: &Value| {
        fn nested<'a>(x: &'a Value, k: &str, out: &mut Vec<&'a Value>) {
            for key in ["Note", "Opinion"] {
                for v in x[key].as_array().into_iter().flatten() {
                    if key == k {
                        out.push(v);
                    }
                    nested(v, k, out);
                }
            }
        }
        let list = |k: &str| -> Vec<&Value> {
            let mut out = Vec::new();
            nested(x, k, &mut out);
            out.sort_by_key(|v| v["uuid"].as_str().unwrap_or_default().to_owned());
            out
        };
        let n = |v: &Value| v.as_str().unwrap().parse::<u8>().unwrap();
        let notes: Vec<Value> = list("Note")
            .into_iter()
            .map(|v| {
                json!([
                    v["uuid"],
                    v["note"],
                    v["object_uuid"],
                    v["object_type"],
                    n(&v["distribution"])
                ])
            })
            .collect();
        let opinions: Vec<Value> = list("Opinion")
            .into_iter()
            .map(|v| {
                json!([
                    v["uuid"],
                    n(&v["opinion"]),
                    v["comment"],
                    v["object_uuid"],
                    v["object_type"],
                    n(&v["distribution"])
                ])
            })
            .collect();
        analysed.set(analysed.get() + notes.len() + opinions.len());
        json!([notes, opinions])
    };
    for ev in &expected.events {
        let s = &seen[&ev.uuid];
        let e = &ev.event["Event"];
        assert_eq!(s["info"], e["info"]);
        assert_eq!(s["manifest_info"], e["info"]);
        assert_eq!(s["orgc"], e["Orgc"]["uuid"]);
        assert_eq!(
            s["distribution"].to_string(),
            e["distribution"].as_str().unwrap()
        );
        let tags: Vec<&Value> = e["Tag"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["name"])
            .collect();
        assert_eq!(
            s["tags"].as_array().unwrap().iter().collect::<Vec<_>>(),
            tags
        );
        assert_eq!(s["galaxies"], galaxies_seen(&e["Galaxy"]), "{}", ev.uuid);
        galaxies += s["galaxies"].as_array().unwrap().len();
        relations += e["Galaxy"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["GalaxyCluster"].as_array().unwrap())
            .filter_map(|c| c["GalaxyClusterRelation"].as_array())
            .map(Vec::len)
            .sum::<usize>();
        let check = |ours: &Value, theirs: &Value| {
            assert_eq!(theirs[0], ours["uuid"]);
            assert_eq!(theirs[1], ours["type"]);
            assert_eq!(theirs[2], ours["value"], "{}", ours["type"]);
            assert_eq!(theirs[3], ours["to_ids"]);
            let mut tags: Vec<&str> = ours["Tag"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            tags.sort();
            assert_eq!(theirs[4], json!(tags));
            assert_eq!(
                theirs[5].to_string(),
                ours["distribution"].as_str().unwrap()
            );
            assert_eq!(theirs[7], galaxies_seen(&ours["Galaxy"]));
            let sightings: Vec<Value> = ours["Sighting"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| json!([s["uuid"], s["type"], s["date_sighting"]]))
                .collect();
            assert_eq!(theirs[8], json!(sightings));
            sighted.set(sighted.get() + sightings.len());
            assert_eq!(theirs[9], analyst_seen(ours));
        };
        let ours = e["Attribute"].as_array().unwrap();
        let theirs = s["attributes"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}", ev.uuid);
        for (o, t) in ours.iter().zip(theirs) {
            check(o, t);
            attributes += 1;
        }
        let ours = e["Object"].as_array().unwrap();
        let theirs = s["objects"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(t[0], o["name"]);
            assert_eq!(t[1], o["uuid"]);
            let refs: Vec<Value> = o["ObjectReference"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    json!([
                        r["uuid"],
                        r["object_uuid"],
                        r["referenced_uuid"],
                        r["relationship_type"]
                    ])
                })
                .collect();
            assert_eq!(t[3], json!(refs));
            references += refs.len();
            let oa = o["Attribute"].as_array().unwrap();
            let ta = t[2].as_array().unwrap();
            assert_eq!(oa.len(), ta.len());
            for (o, t) in oa.iter().zip(ta) {
                check(o, t);
                assert_eq!(t[6], o["object_relation"]);
                attributes += 1;
            }
        }
        let ours: Vec<Value> = e["EventReport"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                json!([
                    r["uuid"],
                    r["name"],
                    r["content"],
                    r["distribution"].as_str().unwrap().parse::<u8>().unwrap(),
                    analyst_seen(r)
                ])
            })
            .collect();
        assert_eq!(s["reports"], json!(ours), "{}", ev.uuid);
        assert_eq!(s["analyst"], analyst_seen(e), "{}", ev.uuid);
        reports += ours.len();
        let mut hashes = ev.hashes.clone();
        hashes.sort();
        assert_eq!(s["hashes"], json!(hashes), "PyMISP's hashes of {}", ev.uuid);
    }
    assert!(attributes > 80, "{attributes} attributes compared");
    assert!(galaxies >= 15, "{galaxies} event galaxies compared");
    assert!(
        relations >= 1,
        "{relations} relations between clusters compared"
    );
    assert!(references >= 3, "{references} object references compared");
    assert_eq!(sighted.get(), 2, "sightings compared");
    assert_eq!(reports, 3, "event reports compared");
    // The analysed event's note on the event, three notes and an opinion on attributes, an
    // opinion, a note and a note about notes; a note and an opinion on an event report.
    assert_eq!(analysed.get(), 10, "analyst notes and opinions compared");
    // Our hashes.csv lists exactly the hashes PyMISP computes.
    let csv = fs::read_to_string(dir.0.join("hashes.csv")).unwrap();
    let total: usize = expected.events.iter().map(|e| e.hashes.len()).sum();
    assert_eq!(hashes_lines(&csv).count(), total);
}

const WRITE_EVENTS: &str = r#"
import json, sys, pathlib
from pymisp import MISPEvent, MISPObject, MISPOrganisation, MISPSharingGroup
from pymisp.tools import feed_meta_generator
root = pathlib.Path(sys.argv[1])

def org():
    o = MISPOrganisation()
    o.from_dict(name="Partner CERT", uuid="55f6ea5e-2c60-40e5-964f-47a8950d210f")
    return o

def uuid(n):
    return f"00000000-0000-4000-8000-{n:012d}"

# 1: TLP:AMBER for a sharing group, every common type, per-attribute narrowing, a file object.
e = MISPEvent()
e.uuid = "a0000000-0000-4000-8000-000000000001"
e.info = "Phishing wave against banks"
e.date = "2024-05-01"
e.timestamp = 1714560000
e.Orgc = org()
e.distribution = 4
sg = MISPSharingGroup()
sg.from_dict(uuid="11111111-2222-4333-8444-555555555555", name="Systemic banks")
e.SharingGroup = sg
e.sharing_group_id = 7
e.add_tag("tlp:amber")
e.add_tag("type:OSINT")
n = 0
def add(t, v, to_ids=True, distribution=5):
    global n
    n += 1
    return e.add_attribute(t, v, to_ids=to_ids, uuid=uuid(n), distribution=distribution)
# A library cluster on the event (with its tag, as MISP adds both), and a cluster made with
# PyMISP's defaults (distribution 0: this organisation only) on an attribute.
e.add_tag('misp-galaxy:threat-actor="APT 28"')
e.add_galaxy({"uuid": "698774c7-8022-42c4-917f-8d6e4f06ada3", "name": "Threat Actor", "type": "threat-actor",
    "GalaxyCluster": [{"uuid": "5b4ee3ea-eee3-4c8e-8323-85ae32658754", "type": "threat-actor", "value": "APT 28",
        "tag_name": 'misp-galaxy:threat-actor="APT 28"', "description": "A Russia-based group.", "distribution": 3,
        "version": "287", "meta": {"synonyms": ["APT28", "Sofacy"], "refs": ["https://attack.example/groups/G0007"]}}]})
add("ip-dst", "198.51.100.7").add_galaxy({"type": "mitre-attack-pattern", "name": "Attack Pattern",
    "GalaxyCluster": [{"uuid": "2e34237d-8574-43f6-aace-ae2915de8597", "type": "mitre-attack-pattern",
        "value": "Spearphishing Attachment - T1566.001",
        "meta": {"kill_chain": ["mitre-attack:enterprise-attack:initial-access"]}}]})
add("ip-src", "2001:db8::1")
add("ip-dst|port", "198.51.100.8|8443")
add("domain", "evil.example", to_ids=False, distribution=0)
add("hostname", "login.evil.example")
add("domain|ip", "cdn.evil.example|203.0.113.9")
add("url", "https://evil.example/login.php?id=1")
add("md5", "d41d8cd98f00b204e9800998ecf8427e").add_tag("tlp:red")
add("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")
add("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
add("filename|sha256", "invoice.exe|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
add("filename", "invoice.pdf.exe", to_ids=False)
add("email-src", "billing@evil.example")
add("email-subject", "Overdue invoice", to_ids=False)
add("mutex", "Global\\evil")
add("regkey", "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run")
add("AS", "AS64500", to_ids=False)
add("mac-address", "00:11:22:aa:bb:cc", to_ids=False)
add("user-agent", "EvilBot/1.0")
add("ja3-fingerprint-md5", "e7d705a3286e19ea42f587b344ee6865")
add("vulnerability", "CVE-2024-3400", to_ids=False)
add("threat-actor", "APT-X", to_ids=False)
add("text", "Seen by three members", to_ids=False)
add("btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", to_ids=False)
add("ip-dst", "not-an-address")
f = MISPObject("file")
f.uuid = "b0000000-0000-4000-8000-000000000001"
f.add_attribute("filename", "dropper.exe", uuid=uuid(100), distribution=5)
f.add_attribute("md5", "0cc175b9c0f1b6a831c399e269772661", uuid=uuid(101), distribution=5)
f.distribution = 0
d = MISPObject("domain-ip")
d.uuid = "b0000000-0000-4000-8000-000000000002"
d.add_attribute("domain", "c2.evil.example", uuid=uuid(110), to_ids=False, distribution=5)
d.add_attribute("ip", "203.0.113.50", uuid=uuid(111), to_ids=True, distribution=5)
f.add_reference(d, "communicates-with", "beacons hourly", uuid="c0000000-0000-4000-8000-000000000010")
e.add_object(f)
e.add_object(d)
# A member's sighting and a false positive of the first address.
e.attributes[0].add_sighting({"uuid": "c0000000-0000-4000-8000-000000000020", "type": "0",
    "date_sighting": 1714600000, "source": "SIEM",
    "Organisation": {"uuid": "f0000000-0000-4000-8000-000000000001", "name": "Member Bank"}})
e.attributes[0].add_sighting({"uuid": "c0000000-0000-4000-8000-000000000021", "type": "1",
    "date_sighting": 1714600100, "Organisation": {"uuid": "f0000000-0000-4000-8000-000000000001", "name": "Member Bank"}})
# An analyst's note and opinion on the second address (MISP 2.5 analyst data).
n = e.attributes[1].add_note("Seen in three member SIEMs", language="en", uuid="c0000000-0000-4000-8000-000000000040")
e.attributes[1].add_opinion(opinion=90, comment="Confirmed by a member", uuid="c0000000-0000-4000-8000-000000000041")
# Analyst data about analyst data: an opinion on that note.
n.add_opinion(opinion=30, comment="Only two of them", uuid="c0000000-0000-4000-8000-000000000042")
# And an analyst's note on an event report.
r = e.add_event_report("Timeline", "Seen from May.", uuid="c0000000-0000-4000-8000-000000000032", distribution=5)
r.add_note("Dates from the member SIEMs", uuid="c0000000-0000-4000-8000-000000000043")
# Event reports: one naming the file object and the first address, one for this organisation.
e.add_event_report("Campaign summary", f"The dropper @[object]({f.uuid}) calls @[attribute]({uuid(1)}).",
    uuid="c0000000-0000-4000-8000-000000000030", distribution=5)
e.add_event_report("Internal", "Our own notes.", uuid="c0000000-0000-4000-8000-000000000031", distribution=0)
(root / f"{e.uuid}.json").write_text(e.to_json())

# 2: unmarked, this community only.
e2 = MISPEvent()
e2.uuid = "a0000000-0000-4000-8000-000000000002"
e2.info = "Community only"
e2.date = "2024-05-02"
e2.Orgc = org()
e2.distribution = 1
e2.add_attribute("ip-dst", "198.51.100.20", to_ids=True, uuid=uuid(200), distribution=3)
(root / f"{e2.uuid}.json").write_text(e2.to_json())

# 3: TLP:CLEAR, all communities.
e3 = MISPEvent()
e3.uuid = "a0000000-0000-4000-8000-000000000003"
e3.info = "Public warning"
e3.date = "2024-05-03"
e3.Orgc = org()
e3.distribution = 3
e3.add_tag("TLP:WHITE")
e3.add_attribute("url", "https://fake-bank.example/", to_ids=True, uuid=uuid(300), distribution=5)
e3.add_attribute("domain", "fake-bank.example", to_ids=True, uuid=uuid(301), distribution=5).add_tag("tlp:green")
e3.add_attribute("url", "https://fake-bank.example/app.apk", to_ids=True, uuid=uuid(302), distribution=2)
(root / f"{e3.uuid}.json").write_text(e3.to_json())

# 4: a feed without distribution (the usual public feed): the importer's default applies.
e4 = MISPEvent()
e4.uuid = "a0000000-0000-4000-8000-000000000004"
e4.info = "Plain feed"
e4.Orgc = org()
e4.add_attribute("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", uuid=uuid(400))
(root / f"{e4.uuid}.json").write_text(json.dumps(e4.to_feed()))

feed_meta_generator(root)
"#;

fn get<'a>(i: &'a Import, id: &str) -> &'a StixItem {
    i.objects
        .iter()
        .find(|o| o.id() == id)
        .unwrap_or_else(|| panic!("{id} not imported; diagnostics: {:#?}", i.diagnostics))
}

fn u(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[test]
fn we_import_what_pymisp_wrote() {
    let dir = TempDir::new("theirs");
    python(WRITE_EVENTS, &[&dir.0]);
    let feed = DirFeed(&dir.0);
    let reader = FeedReader::open(&feed, ImportOptions::default()).unwrap();
    assert_eq!(reader.len(), 4);
    let mut imports = std::collections::BTreeMap::new();
    for (entry, r) in reader {
        let i = r.unwrap_or_else(|e| panic!("{}: {e}", entry.uuid));
        imports.insert(entry.uuid.clone(), i);
    }
    let e1 = &imports["a0000000-0000-4000-8000-000000000001"];

    assert_eq!(e1.audience.tlp, Tlp::Amber);
    assert_eq!(e1.audience.recipients.len(), 1);
    assert_eq!(
        e1.audience.recipients[0].uuid.as_deref(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(
        e1.audience.recipients[0].name.as_deref(),
        Some("Systemic banks")
    );
    let report = get(e1, "report--a0000000-0000-4000-8000-000000000001");
    assert_eq!(report.object["name"], "Phishing wave against banks");
    assert_eq!(
        report.object["labels"],
        json!(["type:OSINT", "misp-galaxy:threat-actor=\"APT 28\""])
    );
    // The event's cluster is a threat actor the report refers to, with the event's audience.
    let ta = get(e1, "threat-actor--5b4ee3ea-eee3-4c8e-8323-85ae32658754");
    assert_eq!(ta.object["name"], "APT 28");
    assert_eq!(ta.object["aliases"], json!(["APT28", "Sofacy"]));
    assert_eq!(ta.tlp, Tlp::Amber);
    assert_eq!(ta.recipients, e1.audience.recipients);
    assert!(
        report.object["object_refs"]
            .as_array()
            .unwrap()
            .contains(&json!(ta.id()))
    );
    // The attribute's cluster: an attack pattern the indicator indicates. PyMISP gave the
    // cluster distribution 0, so only the owner may read the technique; the relationship has
    // the attribute's audience.
    let ap = get(e1, "attack-pattern--2e34237d-8574-43f6-aace-ae2915de8597");
    assert_eq!(
        ap.object["external_references"],
        json!([{ "source_name": "mitre-attack", "external_id": "T1566.001" }])
    );
    assert_eq!(
        ap.object["kill_chain_phases"],
        json!([{ "kill_chain_name": "mitre-attack", "phase_name": "initial-access" }])
    );
    assert_eq!(ap.tlp, Tlp::AmberStrict);
    let rel = e1
        .objects
        .iter()
        .find(|o| o.stix_type() == "relationship")
        .expect("a relationship");
    assert_eq!(rel.object["relationship_type"], "indicates");
    assert_eq!(rel.object["source_ref"], format!("indicator--{}", u(1)));
    assert_eq!(rel.object["target_ref"], ap.id());
    assert_eq!(rel.tlp, Tlp::Amber);
    assert_eq!(
        report.object["created_by_ref"],
        "identity--55f6ea5e-2c60-40e5-964f-47a8950d210f"
    );

    // The event reports PyMISP wrote: notes about the event and what their text names, the
    // second for this organisation only.
    let summary = get(e1, "note--c0000000-0000-4000-8000-000000000030");
    assert_eq!(summary.object["abstract"], "Campaign summary");
    let named = summary.object["object_refs"].as_array().unwrap();
    assert_eq!(named.len(), 3, "{named:?}");
    assert_eq!(named[0], json!(report.id()));
    assert_eq!(named[2], json!(format!("indicator--{}", u(1))));
    assert_eq!(summary.tlp, Tlp::Amber);
    assert_eq!(summary.recipients, e1.audience.recipients);
    let internal = get(e1, "note--c0000000-0000-4000-8000-000000000031");
    assert_eq!(internal.tlp, Tlp::AmberStrict);
    assert!(internal.recipients.is_empty());

    let ind = |n: u32| get(e1, &format!("indicator--{}", u(n)));
    assert_eq!(
        ind(1).object["pattern"],
        "[ipv4-addr:value = '198.51.100.7']"
    );
    assert_eq!(ind(1).tlp, Tlp::Amber);
    assert_eq!(ind(1).recipients, e1.audience.recipients);
    assert_eq!(
        ind(2).object["pattern"],
        "[ipv6-addr:value = '2001:db8::1']"
    );
    assert_eq!(
        ind(3).object["pattern"],
        "[network-traffic:dst_ref.value = '198.51.100.8' AND network-traffic:dst_port = 8443]"
    );
    let dom = get(e1, &format!("observed-data--{}", u(4)));
    assert_eq!(dom.tlp, Tlp::AmberStrict);
    assert!(dom.recipients.is_empty());
    assert_eq!(ind(8).tlp, Tlp::Red);
    assert!(ind(8).recipients.is_empty());
    assert_eq!(
        ind(11).object["pattern"],
        "[file:name = 'invoice.exe' AND file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']"
    );
    assert_eq!(
        ind(13).object["pattern"],
        "[email-message:from_ref.value = 'billing@evil.example']"
    );
    assert_eq!(ind(15).object["pattern"], r"[mutex:name = 'Global\\evil']");
    assert_eq!(
        ind(19).object["pattern"],
        "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'EvilBot/1.0']"
    );
    get(e1, &format!("observed-data--{}", u(17)));
    get(e1, &format!("observed-data--{}", u(18)));
    assert_eq!(
        get(e1, &format!("note--{}", u(20))).object["abstract"],
        "MISP ja3-fingerprint-md5 attribute"
    );
    assert_eq!(
        get(e1, &format!("vulnerability--{}", u(21))).object["name"],
        "CVE-2024-3400"
    );
    assert_eq!(
        get(e1, &format!("threat-actor--{}", u(22))).object["name"],
        "APT-X"
    );
    assert_eq!(
        get(e1, &format!("note--{}", u(23))).object["content"],
        "Seen by three members"
    );
    get(e1, &format!("note--{}", u(24)));
    // The invalid address is kept as a note and named in a diagnostic.
    get(e1, &format!("note--{}", u(25)));
    let d: Vec<_> = e1
        .diagnostics
        .iter()
        .map(|d| d.element.clone().unwrap())
        .collect();
    assert_eq!(d, [u(25)]);
    // The file object's attributes: its distribution 0 narrows them.
    let f = get(e1, &format!("indicator--{}", u(100)));
    assert_eq!(f.tlp, Tlp::AmberStrict);
    assert_eq!(
        f.object["extensions"][MISP_EXTENSION_ID]["object_name"],
        "file"
    );
    assert_eq!(
        f.object["extensions"][MISP_EXTENSION_ID]["object_relation"],
        "filename"
    );
    get(e1, &format!("indicator--{}", u(101)));
    // The file object's reference to the domain-ip object: from the indicator standing for
    // the file (its name) to the one standing for the domain-ip object (its address), as
    // narrow as the file.
    let c2 = get(e1, "relationship--c0000000-0000-4000-8000-000000000010");
    assert_eq!(c2.object["relationship_type"], "communicates-with");
    assert_eq!(c2.object["source_ref"], format!("indicator--{}", u(100)));
    assert_eq!(c2.object["target_ref"], format!("indicator--{}", u(111)));
    assert_eq!(c2.object["description"], "beacons hourly");
    assert_eq!(c2.tlp, Tlp::AmberStrict);
    // The member's sighting and false positive, kept with the importing organisation.
    let seen = get(e1, "sighting--c0000000-0000-4000-8000-000000000020");
    assert_eq!(
        seen.object["sighting_of_ref"],
        format!("indicator--{}", u(1))
    );
    assert_eq!(seen.tlp, Tlp::AmberStrict);
    let fp = get(e1, "opinion--c0000000-0000-4000-8000-000000000021");
    assert_eq!(fp.object["authors"], json!(["Member Bank"]));
    let kinds = |i: &Import, t: &str| i.objects.iter().filter(|o| o.stix_type() == t).count();
    assert_eq!(kinds(e1, "indicator"), 17);
    assert_eq!(kinds(e1, "observed-data"), 6);
    // With the third event report and the analyst's note on it.
    assert_eq!(kinds(e1, "note"), 9);
    // The analyst's note and opinion, about the second address's indicator, with its audience.
    let note = get(e1, "note--c0000000-0000-4000-8000-000000000040");
    assert_eq!(note.object["content"], "Seen in three member SIEMs");
    assert_eq!(
        note.object["object_refs"],
        json!([format!("indicator--{}", u(2))])
    );
    assert_eq!(note.tlp, Tlp::Amber);
    assert_eq!(note.recipients, e1.audience.recipients);
    let opinion = get(e1, "opinion--c0000000-0000-4000-8000-000000000041");
    assert_eq!(opinion.object["opinion"], "strongly-agree");
    assert_eq!(opinion.object["explanation"], "Confirmed by a member");
    // PyMISP's opinion on that note is about the note; its note on an event report, about the
    // note the report became.
    let on_note = get(e1, "opinion--c0000000-0000-4000-8000-000000000042");
    assert_eq!(
        on_note.object["object_refs"],
        json!(["note--c0000000-0000-4000-8000-000000000040"])
    );
    assert_eq!(on_note.object["opinion"], "disagree");
    assert_eq!(on_note.tlp, Tlp::Amber);
    let on_report = get(e1, "note--c0000000-0000-4000-8000-000000000043");
    assert_eq!(
        on_report.object["object_refs"],
        json!(["note--c0000000-0000-4000-8000-000000000032"])
    );

    let e2 = &imports["a0000000-0000-4000-8000-000000000002"];
    assert_eq!(e2.audience.tlp, Tlp::Amber);
    assert_eq!(get(e2, &format!("indicator--{}", u(200))).tlp, Tlp::Amber);
    let e3 = &imports["a0000000-0000-4000-8000-000000000003"];
    assert_eq!(e3.audience.tlp, Tlp::Clear);
    assert_eq!(get(e3, &format!("indicator--{}", u(300))).tlp, Tlp::Clear);
    assert_eq!(get(e3, &format!("indicator--{}", u(301))).tlp, Tlp::Green);
    assert_eq!(get(e3, &format!("indicator--{}", u(302))).tlp, Tlp::Green);
    let e4 = &imports["a0000000-0000-4000-8000-000000000004"];
    assert_eq!(e4.audience.tlp, Tlp::Green);

    // PyMISP's hashes.csv lists every value of every event.
    let csv = FeedReader::open(&feed, ImportOptions::default())
        .unwrap()
        .hashes_csv()
        .unwrap();
    let lines: Vec<_> = hashes_lines(&csv).collect();
    assert!(
        lines
            .iter()
            .any(|(h, e)| *h == "526291673f8700ef4e4902e29550a03b"
                && *e == "a0000000-0000-4000-8000-000000000001")
    );

    // Every object is valid STIX 2.1.
    let all: Vec<StixItem> = imports.into_values().flat_map(|i| i.objects).collect();
    validate_with_oasis(&all, "pymisp-import");
}

/// Runs the OASIS `stix2_validator` over the objects, as one bundle.
fn validate_with_oasis(items: &[StixItem], name: &str) {
    let dir = TempDir::new(name);
    let mut seen = std::collections::HashSet::new();
    let objects: Vec<Value> = items
        .iter()
        .filter(|i| seen.insert(i.id().to_string()))
        .map(|i| Value::Object(i.object.clone()))
        .collect();
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--6f1c8a3e-0000-4000-8000-000000000001",
        "objects": objects,
    });
    let path = dir.0.join("bundle.json");
    fs::write(&path, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    let out = Command::new(venv_bin("stix2_validator"))
        .args(["--version", "2.1"])
        .arg(&path)
        .output()
        .expect("stix2_validator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("[X]"),
        "the OASIS validator refused our objects:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And the OASIS stix2 library reads them with its defaults (no custom content allowed).
    let parsed = python(
        "import sys, stix2\nb = stix2.parse(open(sys.argv[1]).read(), allow_custom=False)\nprint(len(b.objects))",
        &[&path],
    );
    assert_eq!(
        parsed.trim(),
        objects_len(&bundle),
        "stix2 parsed every object"
    );
}

fn objects_len(bundle: &Value) -> String {
    bundle["objects"].as_array().map_or(0, Vec::len).to_string()
}

#[test]
fn every_emitted_object_is_valid_stix() {
    let first = import_event(&rich_event(), &ImportOptions::default()).unwrap();
    let mut all = first.objects.clone();
    // And what comes back from our own feed of foreign objects.
    let dir = TempDir::new("valid");
    let mut sink = DirFeed(&dir.0);
    write_feed(&foreign_items(), &publisher(), &mut sink).unwrap();
    for (_, r) in FeedReader::open(&DirFeed(&dir.0), ImportOptions::default()).unwrap() {
        all.extend(r.unwrap().objects);
    }
    // And the objects made from galaxy clusters, and what comes back of foreign ones.
    all.extend(galaxy_objects());
    let dir = TempDir::new("valid-galaxies");
    let mut sink = DirFeed(&dir.0);
    write_feed(&foreign_clusters(), &publisher(), &mut sink).unwrap();
    for (_, r) in FeedReader::open(&DirFeed(&dir.0), ImportOptions::default()).unwrap() {
        all.extend(r.unwrap().objects);
    }
    // And object references, sightings and event reports.
    for doc in [
        referencing_event(),
        sighted_event(),
        super::reports::reported_event_as("a1000000-0000-4000-8000-0000000000ee"),
        super::analyst::analysed_event(),
    ] {
        all.extend(
            import_event(&doc, &ImportOptions::default())
                .unwrap()
                .objects,
        );
    }
    assert!(all.len() > 100, "{}", all.len());
    assert!(all.iter().any(|o| o.stix_type() == "intrusion-set"));
    assert!(all.iter().any(|o| o.stix_type() == "sighting"));
    assert!(all.iter().any(|o| o.stix_type() == "opinion"));
    validate_with_oasis(&all, "valid-bundle");
}
