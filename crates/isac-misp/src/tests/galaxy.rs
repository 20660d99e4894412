//! Galaxy clusters: MISP clusters to STIX domain objects and relationships, and back.

use std::collections::BTreeMap;

use isac_model::Tlp;
use serde_json::{Value, json};

use super::{EV, SG_A, attr, event, import, item, publisher, reimport};
use crate::galaxy::relationship_id;
use crate::*;

const APT28: &str = "5b4ee3ea-eee3-4c8e-8323-85ae32658754";
const PHISHING: &str = "2e34237d-8574-43f6-aace-ae2915de8597";
pub(super) const BISCUIT: &str = "b8eb28e4-48a6-40ae-951a-328714f75eda";
const LOCKBIT: &str = "c4e9a1c3-0000-4000-8000-0000000000b1";
const CMD: &str = "bba595da-b73a-4354-aa6c-224d4de7cb4e";
const APT16: &str = "d6e88e18-81e8-4709-82d8-973095da1e70";
const BANKING: &str = "e3a5e4b0-0000-4000-8000-0000000000c1";
const CITIZENS: &str = "e3a5e4b0-0000-4000-8000-0000000000c2";
const LUXEMBOURG: &str = "84668357-5a8c-4bdd-9f0f-6b50b24c5558";
const NORTH_EUROPE: &str = "f93cb275-0366-4ecc-abf0-a17928d1e177";
const ACCOUNT_POLICIES: &str = "f9f9e6ef-bc0a-41ad-ba11-0924e5e84c4c";
const GHOST: &str = "a1640081-aa8d-4070-84b2-d23e2ae82799";
const FIN_X: &str = "0d0d0d0d-0000-4000-8000-0000000000f1";
const KEITARO: &str = "7e7e7e7e-0000-4000-8000-0000000000e1";
const SPEARPHISH: &str = "a62a8db3-f23a-4d8f-afd6-9dbc77e7813b";
const REDLINE: &str = "1a1a1a1a-0000-4000-8000-0000000000d1";

const IND: &str = "0f50fc0a-a118-4b22-8aee-3ee8c05bb450";
const OBS: &str = "0f50fc0a-a118-4b22-8aee-3ee8c05bb451";
const RED_ATTR: &str = "0f50fc0a-a118-4b22-8aee-3ee8c05bb452";

fn galaxy(ty: &str, name: &str, clusters: Value) -> Value {
    let clusters: Vec<Value> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c["type"] = ty.into();
            if c.get("tag_name").is_none() {
                c["tag_name"] =
                    format!("misp-galaxy:{ty}=\"{}\"", c["value"].as_str().unwrap()).into();
            }
            c
        })
        .collect();
    json!({ "uuid": "698774c7-8022-42c4-917f-8d6e4f06ada3", "name": name, "type": ty, "GalaxyCluster": clusters })
}

fn apt28() -> Value {
    galaxy(
        "threat-actor",
        "Threat Actor",
        json!([{
            "uuid": APT28, "value": "APT 28", "description": "A Russia-based group.", "version": "287",
            "distribution": "3",
            "meta": {
                "synonyms": ["APT 28", "APT28", "Sofacy", "Fancy Bear", "Sofacy"],
                "refs": ["https://attack.example/groups/G0007", "ftp://files.example/apt28.txt", "javascript:alert(1)"],
                "country": "RU",
                "cfr-suspected-victims": ["Georgia", "France"],
            }
        }]),
    )
}

/// A TLP:AMBER event for a sharing group, with a cluster of every mapped galaxy type on the
/// event, clusters on three attributes, an unmapped galaxy and a cluster only the event's
/// creator may see.
pub(super) fn galaxy_event() -> Value {
    let mut ind = attr(IND, "ip-dst", "198.51.100.7", true);
    ind["Tag"] = json!([{ "name": "misp-galaxy:threat-actor=\"APT 28\"" }]);
    ind["Galaxy"] = json!([
        apt28(),
        galaxy(
            "mitre-attack-pattern",
            "Attack Pattern",
            json!([{
                "uuid": SPEARPHISH, "value": "Phishing - T1566", "distribution": "3",
                "meta": { "external_id": ["T1566", "CAPEC-98"], "kill_chain": ["mitre-attack:enterprise-attack:initial-access"] }
            }])
        ),
        galaxy(
            "country",
            "Country",
            json!([{
                "uuid": LUXEMBOURG, "value": "luxembourg", "description": "Luxembourg", "distribution": "3",
                "meta": { "ISO": ["LU"], "ISO3": ["LUX"] }
            }])
        ),
    ]);
    let mut obs = attr(OBS, "domain", "evil.example", false);
    obs["Galaxy"] = json!([galaxy(
        "mitre-tool",
        "Tool",
        json!([{
            "uuid": CMD, "value": "cmd - S0106", "distribution": "3",
            "meta": { "external_id": "S0106", "synonyms": ["cmd", "cmd.exe"] }
        }])
    )]);
    let mut red = attr(RED_ATTR, "sha256", super::SHA256, true);
    red["Tag"] = json!([{ "name": "tlp:red" }]);
    red["Galaxy"] = json!([galaxy(
        "stealer",
        "Stealer",
        json!([{
            "uuid": REDLINE, "value": "RedLine Stealer", "distribution": "3"
        }])
    )]);
    event(
        json!({
            "Tag": [{ "name": "tlp:amber" }, { "name": "misp-galaxy:threat-actor=\"APT 28\"" }],
            "distribution": "4", "sharing_group_id": "7",
            "SharingGroup": { "uuid": SG_A, "name": "Systemic banks" },
            "Galaxy": [
                apt28(),
                galaxy("threat-actor", "Threat Actor", json!([{
                    // A cluster the creating organisation made for itself: its version is the
                    // time of its last edit, and only that organisation may see it.
                    "uuid": FIN_X, "value": "FIN-X", "description": "Internal tracking name.",
                    "version": "1714000000", "distribution": "0", "meta": {}
                }])),
                galaxy("mitre-attack-pattern", "Attack Pattern", json!([{
                    "uuid": PHISHING, "value": "Spearphishing Attachment - T1566.001", "distribution": "3",
                    "description": "Adversaries may send spearphishing emails with a malicious attachment.",
                    "meta": {
                        "kill_chain": ["mitre-attack:enterprise-attack:initial-access"],
                        "refs": ["https://attack.mitre.org/techniques/T1566/001"]
                    }
                }])),
                galaxy("mitre-malware", "Malware", json!([{
                    "uuid": BISCUIT, "value": "BISCUIT - S0017", "distribution": "3",
                    "description": "BISCUIT is a backdoor.",
                    "meta": { "external_id": "S0017", "synonyms": ["BISCUIT"], "mitre_platforms": ["Windows"] }
                }])),
                galaxy("ransomware", "Ransomware", json!([{ "uuid": LOCKBIT, "value": "LockBit", "distribution": "3" }])),
                galaxy("mitre-intrusion-set", "Intrusion Set", json!([{
                    "uuid": APT16, "value": "APT16 - G0023", "distribution": "3",
                    "meta": { "external_id": "G0023", "synonyms": ["APT16"] }
                }])),
                galaxy("sector", "Sector", json!([
                    { "uuid": BANKING, "value": "Banking", "distribution": "3" },
                    { "uuid": CITIZENS, "value": "Citizens", "distribution": "3" },
                ])),
                galaxy("region", "Regions UN M49", json!([{
                    "uuid": NORTH_EUROPE, "value": "154 - Northern Europe", "description": "Nothern Europe", "distribution": "3",
                    "meta": { "subregion": ["752 - Sweden"] }
                }])),
                galaxy("mitre-course-of-action", "Course of Action", json!([{
                    "uuid": ACCOUNT_POLICIES, "value": "Account Use Policies - M1036", "distribution": "3",
                    "description": "Configure features related to account use.",
                    "meta": { "external_id": ["M1036"], "refs": ["https://attack.mitre.org/mitigations/M1036"] }
                }])),
                galaxy("branded-vulnerability", "Branded Vulnerability", json!([{
                    "uuid": GHOST, "value": "Ghost", "distribution": "3",
                    "description": "The GHOST vulnerability is a weakness in the Linux glibc library.",
                    "meta": { "aliases": ["CVE-2015-0235"] }
                }])),
                galaxy("tds", "TDS", json!([{ "uuid": KEITARO, "value": "Keitaro", "distribution": "3" }])),
            ],
        }),
        json!([ind, obs, red]),
    )
}

/// The id of the object that event [`EV`] gets for a library cluster (see
/// [`crate::galaxy::object_uuid`]): one of the event's own.
fn obj(ty: &str, cluster: &str) -> String {
    obj_in(EV, ty, cluster)
}

fn obj_in(event: &str, ty: &str, cluster: &str) -> String {
    let library = serde_json::Map::new();
    format!(
        "{ty}--{}",
        crate::galaxy::object_uuid(event, &library, cluster)
    )
}

fn get<'a>(i: &'a Import, id: &str) -> &'a StixItem {
    i.objects
        .iter()
        .find(|o| o.id() == id)
        .unwrap_or_else(|| panic!("no {id}: {:#?}", i.diagnostics))
}

fn external(o: &StixItem) -> Vec<(String, String)> {
    o.object
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let key = r.get("external_id").or_else(|| r.get("url")).unwrap();
            (
                r["source_name"].as_str().unwrap().to_string(),
                key.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect()
}

/// Every object passes `isac-stix` validation without a single finding, not even a warning.
fn assert_valid(objects: &[StixItem]) {
    let mut findings = Vec::new();
    for o in objects {
        let d = isac_stix::validate(&o.object);
        if !d.is_empty() {
            findings.push(format!(
                "{}: {}",
                o.id(),
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

#[test]
fn clusters_become_domain_objects() {
    let i = import(&galaxy_event());
    let group = SharingGroupRef {
        uuid: Some(SG_A.into()),
        name: Some("Systemic banks".into()),
        local_id: Some("7".into()),
    };
    assert_eq!(i.audience.tlp, Tlp::Amber);
    assert_eq!(i.audience.recipients, std::slice::from_ref(&group));

    let ta = get(&i, &obj("threat-actor", APT28));
    assert_eq!(ta.object["name"], "APT 28");
    assert_eq!(ta.object["description"], "A Russia-based group.");
    assert_eq!(
        ta.object["aliases"],
        json!(["APT28", "Sofacy", "Fancy Bear"]),
        "the value itself and repeats are not aliases"
    );
    assert_eq!(
        external(ta),
        pairs(&[("url", "https://attack.example/groups/G0007")]),
        "only http(s) references are kept"
    );
    // A library cluster carries no time: the same fixed version every time.
    assert_eq!(ta.object["created"], "2016-01-01T00:00:00.000Z");
    assert_eq!(ta.object["modified"], "2016-01-01T00:00:00.000Z");
    assert_eq!(ta.tlp, Tlp::Amber);
    assert_eq!(ta.recipients, std::slice::from_ref(&group));
    assert_eq!(
        ta.object["object_marking_refs"],
        json!([Tlp::Amber.marking_id_v2()])
    );
    let ext = &ta.object["extensions"][MISP_EXTENSION_ID];
    assert_eq!(ext["galaxy_type"], "threat-actor");
    assert_eq!(ext["cluster_value"], "APT 28");
    assert_eq!(ext["tag_name"], "misp-galaxy:threat-actor=\"APT 28\"");
    assert_eq!(ext["cluster_meta"]["country"], "RU");
    assert!(ta.object.get("created_by_ref").is_none());

    // An organisation's own cluster: its version is a time, and its distribution narrows it.
    let fin = get(&i, &obj("threat-actor", FIN_X));
    assert_eq!(fin.object["modified"], "2024-04-24T23:06:40.000Z");
    assert_eq!(fin.object["created"], "2016-01-01T00:00:00.000Z");
    assert_eq!(fin.tlp, Tlp::AmberStrict);
    assert!(fin.recipients.is_empty());

    let ap = get(&i, &obj("attack-pattern", PHISHING));
    assert_eq!(ap.object["name"], "Spearphishing Attachment - T1566.001");
    assert_eq!(
        external(ap),
        pairs(&[
            ("mitre-attack", "T1566.001"),
            ("url", "https://attack.mitre.org/techniques/T1566/001")
        ])
    );
    assert_eq!(
        ap.object["kill_chain_phases"],
        json!([{ "kill_chain_name": "mitre-attack", "phase_name": "initial-access" }])
    );

    let m = get(&i, &obj("malware", BISCUIT));
    assert_eq!(m.object["is_family"], true);
    assert_eq!(m.object["aliases"], json!(["BISCUIT"]));
    assert_eq!(external(m), pairs(&[("mitre-attack", "S0017")]));
    assert!(m.object.get("malware_types").is_none());
    let lockbit = get(&i, &obj("malware", LOCKBIT));
    assert_eq!(lockbit.object["malware_types"], json!(["ransomware"]));
    assert_eq!(lockbit.object["is_family"], true);

    let is = get(&i, &obj("intrusion-set", APT16));
    assert_eq!(is.object["name"], "APT16 - G0023");
    assert_eq!(is.object["aliases"], json!(["APT16"]));
    assert_eq!(external(is), pairs(&[("mitre-attack", "G0023")]));

    let banking = get(&i, &obj("identity", BANKING));
    assert_eq!(banking.object["identity_class"], "class");
    assert_eq!(banking.object["sectors"], json!(["financial-services"]));
    let citizens = get(&i, &obj("identity", CITIZENS));
    assert_eq!(citizens.object["name"], "Citizens");
    assert!(citizens.object.get("sectors").is_none());

    let region = get(&i, &obj("location", NORTH_EUROPE));
    assert_eq!(region.object["region"], "northern-europe");
    assert_eq!(region.object["name"], "154 - Northern Europe");

    let coa = get(&i, &obj("course-of-action", ACCOUNT_POLICIES));
    assert_eq!(
        external(coa),
        pairs(&[
            ("mitre-attack", "M1036"),
            ("url", "https://attack.mitre.org/mitigations/M1036")
        ])
    );
    assert!(coa.object.get("aliases").is_none());

    let ghost = get(&i, &obj("vulnerability", GHOST));
    assert_eq!(ghost.object["name"], "Ghost");
    assert_eq!(external(ghost), pairs(&[("cve", "CVE-2015-0235")]));

    // The report refers to the event's clusters, and the labels keep every cluster tag,
    // including those the event's tags lacked.
    let report = &i.objects[0];
    let refs: Vec<&str> = report.object["object_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for id in [
        obj("threat-actor", APT28),
        obj("threat-actor", FIN_X),
        obj("attack-pattern", PHISHING),
        obj("malware", BISCUIT),
        obj("malware", LOCKBIT),
        obj("intrusion-set", APT16),
        obj("identity", BANKING),
        obj("identity", CITIZENS),
        obj("location", NORTH_EUROPE),
        obj("course-of-action", ACCOUNT_POLICIES),
        obj("vulnerability", GHOST),
    ] {
        assert!(refs.contains(&id.as_str()), "{id} in the report");
    }
    let labels = report.object["labels"].as_array().unwrap();
    assert_eq!(labels[0], "misp-galaxy:threat-actor=\"APT 28\"");
    assert!(labels.contains(&json!("misp-galaxy:sector=\"Banking\"")));
    assert!(labels.contains(&json!("misp-galaxy:tds=\"Keitaro\"")));
    assert_eq!(
        labels
            .iter()
            .filter(|l| **l == "misp-galaxy:threat-actor=\"APT 28\"")
            .count(),
        1
    );

    // The unmapped galaxy type is named; nothing else is reported.
    let reasons: Vec<(&str, &str)> = i
        .diagnostics
        .iter()
        .map(|d| (d.element.as_deref().unwrap(), d.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [(
            KEITARO,
            "galaxy type `tds` has no STIX mapping; the cluster \"Keitaro\" stays a label"
        )]
    );
    assert_eq!(i.diagnostics[0].level, Level::Skipped);
    assert_valid(&i.objects);
}

#[test]
fn attribute_clusters_are_related_to_the_attribute() {
    let i = import(&galaxy_event());
    let indicator = format!("indicator--{IND}");
    let rel = |source: &str, rt: &str, target: &str| {
        let id = relationship_id(source, rt, target);
        let r = get(&i, &id);
        assert_eq!(r.object["relationship_type"], rt);
        assert_eq!(r.object["source_ref"], source);
        assert_eq!(r.object["target_ref"], target);
        // The attribute's time and creator.
        assert_eq!(r.object["created"], "2024-05-01T11:40:00.000Z");
        assert_eq!(
            r.object["created_by_ref"],
            format!("identity--{}", super::ORG)
        );
        r
    };
    let r = rel(&indicator, "indicates", &obj("threat-actor", APT28));
    assert_eq!(r.tlp, Tlp::Amber);
    assert_eq!(r.recipients, i.audience.recipients);
    rel(&indicator, "indicates", &obj("attack-pattern", SPEARPHISH));
    rel(&indicator, "related-to", &obj("location", LUXEMBOURG));
    rel(
        &format!("observed-data--{OBS}"),
        "related-to",
        &obj("tool", CMD),
    );
    let red = rel(
        &format!("indicator--{RED_ATTR}"),
        "indicates",
        &obj("malware", REDLINE),
    );
    assert_eq!(red.tlp, Tlp::Red);

    // A cluster only an attribute carries has the attribute's audience: the RED attribute's
    // stealer is RED, with its STIX malware type.
    let stealer = get(&i, &obj("malware", REDLINE));
    assert_eq!(stealer.tlp, Tlp::Red);
    assert_eq!(stealer.object["malware_types"], json!(["spyware"]));
    let country = get(&i, &obj("location", LUXEMBOURG));
    assert_eq!(country.object["country"], "LU");
    assert_eq!(country.object["description"], "Luxembourg");
    let tool = get(&i, &obj("tool", CMD));
    assert_eq!(tool.object["aliases"], json!(["cmd", "cmd.exe"]));
    assert_eq!(external(tool), pairs(&[("mitre-attack", "S0106")]));
    let technique = get(&i, &obj("attack-pattern", SPEARPHISH));
    assert_eq!(
        external(technique),
        pairs(&[("mitre-attack", "T1566"), ("capec", "CAPEC-98")])
    );
    // The cluster the event and an attribute both carry is one object.
    assert_eq!(
        i.objects
            .iter()
            .filter(|o| o.id() == obj("threat-actor", APT28))
            .count(),
        1
    );

    // The report refers to the relationships, but not to the clusters only attributes carry:
    // the cluster's public id would show a reader of the report what a narrower attribute says.
    let refs = &i.objects[0].object["object_refs"];
    let refs: Vec<&str> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        refs.contains(
            &relationship_id(&indicator, "indicates", &obj("threat-actor", APT28)).as_str()
        )
    );
    for id in [
        obj("malware", REDLINE),
        obj("tool", CMD),
        obj("location", LUXEMBOURG),
        obj("attack-pattern", SPEARPHISH),
    ] {
        assert!(!refs.contains(&id.as_str()), "{id}");
    }
    // The attribute keeps its cluster tags as labels.
    let ind = get(&i, &indicator);
    assert_eq!(
        ind.object["labels"],
        json!([
            "misp-galaxy:threat-actor=\"APT 28\"",
            "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"",
            "misp-galaxy:country=\"luxembourg\""
        ])
    );
}

#[test]
fn each_event_has_its_own_object_of_a_library_cluster() {
    let doc = galaxy_event();
    let a = import(&doc);
    let b = import(&doc);
    assert_eq!(a, b, "re-importing gives the same objects");
    // Another event, GREEN and later, naming the same library cluster: an object of its own, so
    // that the AMBER event's object is neither found nor changed through the cluster's public
    // uuid; the content is the same.
    const OTHER: &str = "5f3c1c4e-8a3b-4b6e-9d7f-0a1b2c3d4e60";
    let other = event(
        json!({
            "uuid": OTHER,
            "timestamp": "1730000000",
            "Tag": [{ "name": "tlp:green" }],
            "Galaxy": [apt28()],
        }),
        json!([]),
    );
    let c = import(&other);
    let id = obj("threat-actor", APT28);
    let other_id = obj_in(OTHER, "threat-actor", APT28);
    assert_ne!(id, other_id);
    assert_ne!(
        id,
        format!("threat-actor--{APT28}"),
        "never the library's uuid"
    );
    assert!(c.objects.iter().all(|o| o.id() != id));
    let mut first = get(&a, &id).object.clone();
    let mut second = get(&c, &other_id).object.clone();
    assert_eq!(get(&a, &id).tlp, Tlp::Amber);
    assert_eq!(get(&c, &other_id).tlp, Tlp::Green);
    for o in [&mut first, &mut second] {
        o.remove("object_marking_refs");
        o.remove("id");
    }
    assert_eq!(first, second, "only the id and the audience differ");
    let details = crate::misp_details(&second).expect("MISP details");
    assert_eq!(details["cluster_uuid"], APT28);
    assert_eq!(details["cluster_default"], true);
    assert_eq!(
        c.objects[0].object["object_refs"],
        json!([other_id]),
        "the report refers to its own object"
    );
    // Relationship ids depend on both ends only.
    let rel = relationship_id(&format!("indicator--{IND}"), "indicates", &id);
    let ids: Vec<&str> = b.objects.iter().map(StixItem::id).collect();
    assert!(ids.contains(&rel.as_str()));

    // An organisation's own cluster (`"default": false`) keeps its uuid, which only the
    // recipients of its events know: two events naming it share one object.
    const OWN: &str = "6a6a6a6a-0000-4000-8000-0000000000a1";
    let own = |uuid: &str| {
        event(
            json!({
                "uuid": uuid,
                "Tag": [{ "name": "tlp:green" }],
                "Galaxy": [galaxy("threat-actor", "Threat Actor", json!([{
                    "uuid": OWN, "value": "Local crew", "default": false, "distribution": "3"
                }]))],
            }),
            json!([]),
        )
    };
    let x = import(&own(EV));
    let y = import(&own(OTHER));
    let shared = format!("threat-actor--{OWN}");
    assert_eq!(get(&x, &shared), get(&y, &shared));
    assert_eq!(
        crate::misp_details(&get(&x, &shared).object).expect("details")["cluster_default"],
        false
    );
    // Exported, each is written back as what it was.
    let (_, _, feed) = reimport(&x.objects);
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    assert_eq!(ev["Event"]["Galaxy"][0]["GalaxyCluster"][0]["uuid"], OWN);
    assert_eq!(
        ev["Event"]["Galaxy"][0]["GalaxyCluster"][0]["default"],
        false
    );
    let (_, _, feed) = reimport(&a.objects);
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let library = ev["Event"]["Galaxy"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["GalaxyCluster"].as_array().unwrap())
        .find(|c| c["uuid"] == APT28)
        .expect("the library cluster, by its own uuid");
    assert_eq!(library["default"], true);
}

#[test]
fn relations_between_clusters_become_relationships() {
    const ELSEWHERE: &str = "00000000-0000-4000-8000-0000000000aa";
    let mut doc = galaxy_event();
    doc["Event"]["Galaxy"][0]["GalaxyCluster"][0]["GalaxyClusterRelation"] = json!([
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": BISCUIT,
          "referenced_galaxy_cluster_type": "uses", "distribution": "3" },
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": FIN_X,
          "referenced_galaxy_cluster_type": "similar", "distribution": "3" },
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": ELSEWHERE,
          "referenced_galaxy_cluster_type": "uses", "distribution": "3" },
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": LOCKBIT,
          "referenced_galaxy_cluster_type": "uses it!", "distribution": "3" },
        // The relation's own distribution narrows it: the creating organisation only.
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": LOCKBIT,
          "referenced_galaxy_cluster_type": "uses", "distribution": "0" },
        // And so does a TLP tag on it.
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": PHISHING,
          "referenced_galaxy_cluster_type": "uses", "distribution": "3",
          "Tag": [{ "name": "tlp:red" }] },
    ]);
    // The same cluster on an attribute carries the `uses` relation to BISCUIT again, kept to its
    // creator there: the relation keeps the wider audience the event gave it, as a cluster does.
    assert_eq!(
        doc["Event"]["Attribute"][0]["Galaxy"][0]["GalaxyCluster"][0]["uuid"],
        APT28
    );
    doc["Event"]["Attribute"][0]["Galaxy"][0]["GalaxyCluster"][0]["GalaxyClusterRelation"] = json!([
        { "galaxy_cluster_uuid": APT28, "referenced_galaxy_cluster_uuid": BISCUIT,
          "referenced_galaxy_cluster_type": "uses", "distribution": "0" },
    ]);
    let i = import(&doc);
    // Valid STIX; MISP's relation types (`similar`) are not all in the specification's table
    // of relationships, which is a warning.
    for o in &i.objects {
        assert!(
            isac_stix::is_valid(&isac_stix::validate(&o.object)),
            "{}",
            o.id()
        );
    }
    let apt28 = obj("threat-actor", APT28);
    let uses = get(
        &i,
        &relationship_id(&apt28, "uses", &obj("malware", BISCUIT)),
    );
    assert_eq!(uses.object["relationship_type"], "uses");
    assert_eq!(uses.object["source_ref"], apt28);
    assert_eq!(uses.tlp, Tlp::Amber);
    // FIN-X is visible to its creator only (distribution 0): the relationship is no wider.
    let fin_x = obj("threat-actor", FIN_X);
    let similar = get(&i, &relationship_id(&apt28, "similar", &fin_x));
    let fin_x_object = get(&i, &fin_x);
    assert_eq!(
        (similar.tlp, &similar.recipients),
        (fin_x_object.tlp, &fin_x_object.recipients)
    );
    // Both ends reach the event's sharing group; the relation itself only its creator.
    let own = get(
        &i,
        &relationship_id(&apt28, "uses", &obj("malware", LOCKBIT)),
    );
    assert_eq!((own.tlp, own.recipients.len()), (Tlp::AmberStrict, 0));
    let red = get(
        &i,
        &relationship_id(&apt28, "uses", &obj("attack-pattern", PHISHING)),
    );
    assert_eq!(red.tlp, Tlp::Red);
    // A cluster not in the event, and a type STIX cannot hold, are named in both languages.
    let named: Vec<(&str, &str)> = i
        .diagnostics
        .iter()
        .filter(|d| d.element.as_deref() == Some(APT28))
        .map(|d| (d.reason.as_str(), d.reason_zh.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(named[0].0.contains(ELSEWHERE) && named[0].0.contains("not in the event"));
    assert!(named[0].1.contains("不在此事件中"));
    assert!(
        named[1]
            .0
            .contains("`uses-it!` is not a STIX relationship type"),
        "{named:?}"
    );
    // The export writes them back as relations of APT 28's cluster, each with the
    // distribution of its relationship, and importing that gives the same relationships.
    let (again, diags, feed) = reimport(&i.objects);
    for id in [uses.id(), similar.id(), own.id(), red.id()] {
        assert!(
            !diags.iter().any(|d| d.element.as_deref() == Some(id)),
            "{id}: {diags:#?}"
        );
        let back = again.iter().find(|o| o.id() == id).expect(id);
        let first = get(&i, id);
        assert_eq!(back.object, first.object);
        assert_eq!((back.tlp, &back.recipients), (first.tlp, &first.recipients));
    }
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let written: Vec<Value> = ev["Event"]["Galaxy"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|g| g["GalaxyCluster"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["uuid"] == APT28)
        .flat_map(|c| {
            c["GalaxyClusterRelation"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let seen: Vec<(&str, &str, &str)> = written
        .iter()
        .map(|r| {
            assert_eq!(r["galaxy_cluster_uuid"], APT28);
            (
                r["referenced_galaxy_cluster_uuid"].as_str().unwrap(),
                r["referenced_galaxy_cluster_type"].as_str().unwrap(),
                r["distribution"].as_str().unwrap(),
            )
        })
        .collect();
    // `uses` is AMBER for the event's sharing group (4); `similar` is as narrow as FIN-X (0).
    assert_eq!(
        seen,
        [
            (BISCUIT, "uses", "4"),
            (FIN_X, "similar", "0"),
            (LOCKBIT, "uses", "0"),
            (PHISHING, "uses", "0")
        ]
    );
    let uses_written = written
        .iter()
        .find(|r| r["referenced_galaxy_cluster_type"] == "uses")
        .unwrap();
    assert_eq!(uses_written["sharing_group_id"], "7");
}

#[test]
fn unmapped_and_invalid_clusters_are_named() {
    let doc = event(
        json!({ "Galaxy": [
            galaxy("target-information", "Target Information", json!([{ "uuid": KEITARO, "value": "Luxembourg" }])),
            galaxy("country", "Country", json!([{ "uuid": LUXEMBOURG, "value": "atlantis" }])),
            galaxy("threat-actor", "Threat Actor", json!([{ "uuid": FIN_X, "value": "Gone", "deleted": true }])),
        ] }),
        json!([]),
    );
    let i = import(&doc);
    let reasons: Vec<&str> = i.diagnostics.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "galaxy type `target-information` has no STIX mapping; the cluster \"Luxembourg\" stays a label",
            "the country galaxy cluster \"atlantis\" is not converted (no ISO 3166 country code in meta.ISO); it stays a label",
            "the threat-actor galaxy cluster \"Gone\" is deleted",
        ]
    );
    assert!(i.diagnostics.iter().all(|d| d.level == Level::Skipped));
    assert_eq!(
        i.objects[0].object["labels"],
        json!([
            "misp-galaxy:target-information=\"Luxembourg\"",
            "misp-galaxy:country=\"atlantis\""
        ]),
        "a deleted cluster is no label either"
    );
    assert_eq!(
        i.objects.len(),
        3,
        "the report, the extension definition and its creator"
    );
}

// ---- Export ----------------------------------------------------------------------------------

const REPORT: &str = "report--2a000000-0000-4000-8000-0000000000a1";

fn sdo(ty: &str, n: u32, extra: Value) -> StixItem {
    let mut o = json!({
        "type": ty, "spec_version": "2.1", "id": format!("{ty}--3a000000-0000-4000-8000-{n:012}"),
        "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z",
        "object_marking_refs": [Tlp::Green.marking_id_v2()],
    });
    if let (Value::Object(o), Value::Object(x)) = (&mut o, extra) {
        o.extend(x);
    }
    item(o, Tlp::Green)
}

/// STIX objects as isac holds them, not from MISP: a report referring to one object of each
/// type a galaxy holds, and an indicator that indicates a malware family.
pub(super) fn foreign_clusters() -> Vec<StixItem> {
    let objects = vec![
        sdo(
            "threat-actor",
            1,
            json!({ "name": "Lazarus Group", "description": "A DPRK group.", "aliases": ["Hidden Cobra"],
                "external_references": [{ "source_name": "url", "url": "https://threat.example/lazarus" }] }),
        ),
        sdo(
            "attack-pattern",
            2,
            json!({ "name": "Phishing - T1566",
                "external_references": [{ "source_name": "mitre-attack", "external_id": "T1566" }],
                "kill_chain_phases": [{ "kill_chain_name": "mitre-attack", "phase_name": "initial-access" }] }),
        ),
        sdo(
            "malware",
            3,
            json!({ "name": "Emotet", "is_family": true, "malware_types": ["trojan", "downloader"], "aliases": ["Geodo"] }),
        ),
        sdo(
            "tool",
            4,
            json!({ "name": "Mimikatz", "aliases": ["mimikatz.exe"] }),
        ),
        sdo("intrusion-set", 5, json!({ "name": "APT38" })),
        sdo(
            "course-of-action",
            6,
            json!({ "name": "Multi-factor Authentication" }),
        ),
        sdo(
            "identity",
            7,
            json!({ "name": "Securities firms", "identity_class": "class", "sectors": ["financial-services"] }),
        ),
        sdo("location", 8, json!({ "name": "Taiwan", "country": "TW" })),
        sdo(
            "location",
            9,
            json!({ "name": "Eastern Asia", "region": "eastern-asia" }),
        ),
        sdo(
            "location",
            10,
            json!({ "latitude": 25.03, "longitude": 121.56 }),
        ),
        sdo(
            "indicator",
            11,
            json!({ "pattern": "[domain-name:value = 'emotet.example']", "pattern_type": "stix", "valid_from": "2024-06-01T08:00:00.000Z" }),
        ),
        sdo(
            "relationship",
            12,
            json!({ "relationship_type": "indicates", "source_ref": "indicator--3a000000-0000-4000-8000-000000000011",
                "target_ref": "malware--3a000000-0000-4000-8000-000000000003" }),
        ),
        sdo(
            "vulnerability",
            13,
            json!({ "name": "CVE-2024-3400",
            "external_references": [{ "source_name": "cve", "external_id": "CVE-2024-3400" }] }),
        ),
    ];
    let refs: Vec<&str> = objects
        .iter()
        .map(StixItem::id)
        .filter(|id| !id.starts_with("malware--"))
        .collect();
    let mut all = vec![item(
        json!({ "type": "report", "spec_version": "2.1", "id": REPORT,
            "created": "2024-06-01T08:00:00.000Z", "modified": "2024-06-02T08:00:00.000Z",
            "name": "Weekly", "published": "2024-06-02T08:00:00.000Z", "object_refs": refs,
            "object_marking_refs": [Tlp::Green.marking_id_v2()] }),
        Tlp::Green,
    )];
    all.extend(objects);
    all
}

fn cluster_ids(v: &Value) -> Vec<(String, String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| {
            g["GalaxyCluster"].as_array().unwrap().iter().map(move |c| {
                (
                    g["type"].as_str().unwrap().to_string(),
                    c["uuid"].as_str().unwrap().to_string(),
                    c["value"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn domain_objects_become_galaxy_clusters() {
    let items = foreign_clusters();
    let ex = export_events(&items, &publisher());
    assert_eq!(ex.events.len(), 1);
    let e = &ex.events[0].event["Event"];
    let u = |n: u32| format!("3a000000-0000-4000-8000-{n:012}");
    let t = |g: &str, n: u32, v: &str| (g.to_string(), u(n), v.to_string());
    assert_eq!(
        cluster_ids(&e["Galaxy"]),
        [
            t("threat-actor", 1, "Lazarus Group"),
            t("mitre-attack-pattern", 2, "Phishing - T1566"),
            t("mitre-tool", 4, "Mimikatz"),
            t("mitre-intrusion-set", 5, "APT38"),
            t("mitre-course-of-action", 6, "Multi-factor Authentication"),
            t("sector", 7, "Securities firms"),
            t("country", 8, "Taiwan"),
            t("region", 9, "Eastern Asia"),
        ]
    );
    let galaxy = |ty: &str| {
        e["Galaxy"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["type"] == ty)
            .unwrap()
            .clone()
    };
    let ta = galaxy("threat-actor");
    assert_eq!(ta["name"], "Threat Actor");
    assert_eq!(ta["uuid"], "698774c7-8022-42c4-917f-8d6e4f06ada3");
    let c = &ta["GalaxyCluster"][0];
    assert_eq!(c["description"], "A DPRK group.");
    assert_eq!(c["tag_name"], "misp-galaxy:threat-actor=\"Lazarus Group\"");
    assert_eq!(c["meta"]["synonyms"], json!(["Hidden Cobra"]));
    assert_eq!(c["meta"]["refs"], json!(["https://threat.example/lazarus"]));
    assert_eq!(c["distribution"], "2", "GREEN: connected communities");
    assert_eq!(c["version"], "1717315200", "the modified time");
    let ap = &galaxy("mitre-attack-pattern")["GalaxyCluster"][0];
    assert_eq!(ap["meta"]["external_id"], json!(["T1566"]));
    assert_eq!(
        ap["meta"]["kill_chain"],
        json!(["mitre-attack:initial-access"])
    );
    let coa = &galaxy("mitre-course-of-action")["GalaxyCluster"][0];
    assert_eq!(
        coa["description"], "Multi-factor Authentication",
        "MISP needs a description"
    );
    assert_eq!(galaxy("country")["GalaxyCluster"][0]["meta"]["ISO"], "TW");
    // The event is tagged with each cluster.
    let tags: Vec<&str> = e["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags[0], "tlp:green");
    assert!(tags.contains(&"misp-galaxy:threat-actor=\"Lazarus Group\""));
    assert!(tags.contains(&"misp-galaxy:region=\"Eastern Asia\""));
    assert_eq!(tags.len(), 9);
    // The indicator's relationship puts the malware family on its attribute.
    let attrs = e["Attribute"].as_array().unwrap();
    let a = attrs
        .iter()
        .find(|a| a["uuid"] == u(11))
        .expect("the indicator");
    assert_eq!(cluster_ids(&a["Galaxy"]), [t("mitre-malware", 3, "Emotet")]);
    assert_eq!(
        a["Galaxy"][0]["GalaxyCluster"][0]["meta"]["malware_types"],
        json!(["trojan", "downloader"])
    );
    assert_eq!(
        a["Tag"],
        json!([{ "name": "misp-galaxy:mitre-malware=\"Emotet\"" }])
    );
    // A vulnerability not from a galaxy stays a MISP vulnerability attribute.
    assert!(
        attrs
            .iter()
            .any(|a| a["type"] == "vulnerability" && a["value"] == "CVE-2024-3400")
    );
    // Only the location without country or region is named.
    let named: Vec<(&str, &str)> = ex
        .diagnostics
        .iter()
        .map(|d| (d.element.as_deref().unwrap(), d.reason.as_str()))
        .collect();
    assert_eq!(
        named,
        [(
            "location--3a000000-0000-4000-8000-000000000010",
            "a location without country or region has no MISP galaxy"
        )]
    );
}

#[test]
fn stix_to_misp_to_stix_keeps_the_domain_objects() {
    let items = foreign_clusters();
    let (back, _, _) = reimport(&items);
    let by: BTreeMap<&str, &StixItem> = back.iter().map(|o| (o.id(), o)).collect();
    for original in &items {
        let id = original.id();
        let t = original.stix_type();
        if matches!(t, "report" | "relationship" | "indicator" | "vulnerability")
            || id.ends_with("000000000010")
        {
            continue;
        }
        let o = by
            .get(id)
            .unwrap_or_else(|| panic!("{id} did not come back"));
        assert_eq!(o.tlp, Tlp::Green, "{id}");
        for k in [
            "name",
            "description",
            "aliases",
            "malware_types",
            "kill_chain_phases",
            "external_references",
            "sectors",
            "identity_class",
            "country",
            "region",
            "modified",
        ] {
            assert_eq!(o.object.get(k), original.object.get(k), "{id} {k}");
        }
    }
    // The report refers to them again.
    let report = by[REPORT];
    let refs = report.object["object_refs"].as_array().unwrap();
    assert!(refs.contains(&json!("threat-actor--3a000000-0000-4000-8000-000000000001")));
    // The relationship comes back between the same ends (its id is derived from them).
    let rel = relationship_id(
        "indicator--3a000000-0000-4000-8000-000000000011",
        "indicates",
        "malware--3a000000-0000-4000-8000-000000000003",
    );
    let r = by.get(rel.as_str()).expect("the relationship");
    assert_eq!(r.tlp, Tlp::Green);
    assert!(refs.contains(&json!(rel)));
    assert_valid(&back);
}

#[test]
fn misp_to_stix_to_misp_keeps_the_clusters() {
    let first = import(&galaxy_event());
    let (second, diags, feed) = reimport(&first.objects);
    assert!(diags.is_empty(), "{diags:#?}");
    let a: BTreeMap<&str, &StixItem> = first.objects.iter().map(|o| (o.id(), o)).collect();
    let b: BTreeMap<&str, &StixItem> = second.iter().map(|o| (o.id(), o)).collect();
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, x) in &a {
        assert_eq!(Some(x), b.get(id), "{id}");
    }
    // The MISP written keeps the library clusters' versions, metadata and tags.
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let e = &ev["Event"];
    let ta = e["Galaxy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type"] == "threat-actor")
        .unwrap();
    let c = &ta["GalaxyCluster"][0];
    assert_eq!(c["uuid"], APT28);
    assert_eq!(c["version"], "287");
    assert_eq!(
        c["meta"]["cfr-suspected-victims"],
        json!(["Georgia", "France"])
    );
    assert_eq!(c["distribution"], "4");
    assert_eq!(c["SharingGroup"]["uuid"], SG_A);
    let fin = &ta["GalaxyCluster"][1];
    assert_eq!(fin["uuid"], FIN_X);
    assert_eq!(fin["distribution"], "0");
    assert_eq!(fin["version"], "1714000000");
    let red = e["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["uuid"] == RED_ATTR)
        .unwrap();
    assert_eq!(red["Galaxy"][0]["GalaxyCluster"][0]["uuid"], REDLINE);
    assert_eq!(red["Galaxy"][0]["GalaxyCluster"][0]["distribution"], "0");
    // The second MISP is the same as the first.
    let (_, _, feed2) = reimport(&second);
    assert_eq!(feed.0.borrow().clone(), feed2.0.borrow().clone());
}

#[test]
fn a_relationship_narrower_than_its_attribute_is_not_written() {
    let mut items = foreign_clusters();
    let rel = items
        .iter_mut()
        .find(|i| i.stix_type() == "relationship")
        .unwrap();
    rel.tlp = Tlp::Red;
    let ex = export_events(&items, &publisher());
    let e = &ex.events[0].event["Event"];
    let a = e["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["uuid"] == "3a000000-0000-4000-8000-000000000011")
        .unwrap();
    assert!(a.get("Galaxy").is_none());
    assert!(ex.diagnostics.iter().any(|d| d.element.as_deref()
        == Some("relationship--3a000000-0000-4000-8000-000000000012")
        && d.level == Level::Skipped));
}

#[test]
fn a_cluster_uuid_that_is_not_a_uuid_survives_the_round_trip() {
    // MISP's own STIX import names its galaxies `stix-2.1-<type>`; some tools give clusters
    // uuids that are not UUIDs.
    let doc = event(
        json!({ "Galaxy": [galaxy("stix-2.1-intrusion-set", "STIX 2.1 Intrusion Set", json!([{
            "uuid": "unc-1234", "value": "UNC1234", "distribution": "3", "meta": { "synonyms": ["Group 1234"] }
        }]))] }),
        json!([]),
    );
    let first = import(&doc);
    let id = obj("intrusion-set", "unc-1234");
    let is = get(&first, &id);
    assert_eq!(is.object["aliases"], json!(["Group 1234"]));
    let (second, diags, feed) = reimport(&first.objects);
    assert!(diags.is_empty(), "{diags:#?}");
    let back = second
        .iter()
        .find(|o| o.id() == id)
        .expect("the intrusion set");
    assert_eq!(back, is);
    let files = feed.0.borrow();
    let ev: Value = serde_json::from_slice(&files[&format!("{EV}.json")]).unwrap();
    let c = &ev["Event"]["Galaxy"][0];
    assert_eq!(c["type"], "stix-2.1-intrusion-set");
    assert_eq!(c["GalaxyCluster"][0]["uuid"], "unc-1234");
}
