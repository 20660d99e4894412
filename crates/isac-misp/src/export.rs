//! STIX 2.1 objects with their TLP → MISP events (the content of a MISP feed).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use isac_model::Tlp;
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use crate::audience::{Distribution, SharingGroupRef, tag_of_tlp, tlp_of_tag};
use crate::galaxy::{ClusterOut, cluster_out, galaxies_json, is_cluster};
use crate::ids::{derived_uuid, parse_rfc3339, uuid_of};
use crate::import::str_of;
use crate::mapping::{Cmp, Kind, Lit, attribute_for, map_attribute, recorded_fits};
use crate::pattern::{Join, parse_simple};
use crate::{Diagnostic, Level, StixItem, misp_details};

/// The organisation written as `Orgc` for objects that name no creator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub uuid: String,
    pub name: String,
}

/// One MISP event ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedEvent {
    pub uuid: String,
    /// `{"Event": {...}}`.
    pub event: Value,
    /// This event's entry of `manifest.json`.
    pub manifest: Value,
    /// The MD5 of every attribute value (each part of a composite value), as `hashes.csv` lists.
    pub hashes: Vec<String>,
}

/// The result of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub events: Vec<ExportedEvent>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A converted attribute before it is placed in an event.
struct Attr {
    uuid: String,
    misp_type: String,
    category: Option<String>,
    value: String,
    to_ids: bool,
    comment: String,
    timestamp: i64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    labels: Vec<String>,
    tlp: Tlp,
    recipients: Vec<SharingGroupRef>,
    object: Option<(String, String, Option<String>, Option<String>)>,
    /// The galaxy clusters the attribute carries.
    galaxies: Vec<Galaxy>,
}

/// A galaxy cluster with its `GalaxyCluster` entry (distribution included).
type Galaxy = (ClusterOut, Value);

/// Converts STIX objects to MISP events.
///
/// Each `report` or `grouping` becomes one event holding the objects it refers to. Objects that
/// no report or grouping in the input refers to are gathered into one event per TLP level,
/// recipient list and creator. An object referred to by several reports is written once, in the
/// first of them by id (MISP attribute uuids are unique); the others get a diagnostic.
///
/// Threat actors, intrusion sets, malware, tools, attack patterns, courses of action, sectors
/// (`identity` objects of class `class`), locations and vulnerabilities that came from galaxy
/// clusters become galaxy clusters: of every event whose report refers to them, and of the
/// attributes whose objects a relationship connects to them.
pub fn export_events(items: &[StixItem], publisher: &Publisher) -> Exported {
    let mut ex = Exporter::new(items, publisher);
    let mut containers: Vec<&StixItem> = items
        .iter()
        .filter(|i| matches!(i.stix_type(), "report" | "grouping"))
        .collect();
    containers.sort_by(|a, b| a.id().cmp(b.id()));
    containers.dedup_by(|a, b| a.id() == b.id());
    for c in containers {
        ex.container(c);
    }
    ex.orphans();
    ex.unwritten_links();
    Exported {
        events: ex.events,
        diagnostics: ex.diagnostics,
    }
}

struct Exporter<'a> {
    items: &'a [StixItem],
    index: HashMap<&'a str, &'a StixItem>,
    /// SCOs reached through an `observed-data`: written with it, not on their own.
    consumed: HashSet<&'a str>,
    /// Object id → the event uuid it was written in.
    assigned: HashMap<String, String>,
    /// Relationships between an object written as attributes and one written as a galaxy
    /// cluster, by the id of the former: the cluster goes onto its attributes.
    links: HashMap<&'a str, Vec<(&'a StixItem, &'a StixItem)>>,
    link_rels: HashSet<&'a str>,
    linked_clusters: HashSet<&'a str>,
    /// Links written, or refused with a diagnostic.
    handled_links: HashSet<&'a str>,
    /// Clusters written into an event because its report refers to them.
    used_clusters: HashSet<&'a str>,
    publisher: &'a Publisher,
    events: Vec<ExportedEvent>,
    diagnostics: Vec<Diagnostic>,
}

fn ts_of(o: &Map<String, Value>) -> Option<DateTime<Utc>> {
    str_of(o, "modified")
        .or_else(|| str_of(o, "created"))
        .and_then(parse_rfc3339)
}

fn is_sco(t: &str) -> bool {
    matches!(
        t,
        "artifact"
            | "autonomous-system"
            | "directory"
            | "domain-name"
            | "email-addr"
            | "email-message"
            | "file"
            | "ipv4-addr"
            | "ipv6-addr"
            | "mac-addr"
            | "mutex"
            | "network-traffic"
            | "process"
            | "software"
            | "url"
            | "user-account"
            | "windows-registry-key"
            | "x509-certificate"
    )
}

/// Object types that only describe other objects and need no MISP form of their own.
fn is_support(t: &str) -> bool {
    matches!(
        t,
        "extension-definition" | "marking-definition" | "language-content"
    )
}

fn default_category(t: &str) -> &'static str {
    match t {
        "md5" | "sha1" | "sha256" | "sha512" | "sha3-256" | "sha3-512" | "ssdeep" | "tlsh"
        | "filename" | "email" | "email-src" | "email-dst" | "email-subject" => "Payload delivery",
        t if t.starts_with("filename|") => "Payload delivery",
        "mutex" | "regkey" | "regkey|value" => "Artifacts dropped",
        "vulnerability" | "link" => "External analysis",
        "threat-actor" | "campaign-name" => "Attribution",
        "text" | "comment" | "other" => "Other",
        _ => "Network activity",
    }
}

fn md5_hex(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl<'a> Exporter<'a> {
    fn new(items: &'a [StixItem], publisher: &'a Publisher) -> Self {
        let mut index: HashMap<&str, &StixItem> = HashMap::new();
        for i in items {
            // Of several versions, the latest wins.
            let newer = index
                .get(i.id())
                .is_none_or(|old| ts_of(&old.object) <= ts_of(&i.object));
            if newer {
                index.insert(i.id(), i);
            }
        }
        let mut consumed = HashSet::new();
        for i in items {
            // Observables an observation refers to, and addresses a domain resolves to or a
            // connection goes to, are written as part of the referring object.
            let referred: Vec<&str> = match i.stix_type() {
                "observed-data" => refs(&i.object, "object_refs").collect(),
                "domain-name" => refs(&i.object, "resolves_to_refs").collect(),
                "network-traffic" => ["src_ref", "dst_ref"]
                    .iter()
                    .filter_map(|k| i.object.get(*k).and_then(Value::as_str))
                    .collect(),
                _ => Vec::new(),
            };
            for r in referred {
                if let Some(t) = index.get(r) {
                    consumed.insert(t.id());
                }
            }
        }
        let mut ex = Exporter {
            items,
            index,
            consumed,
            assigned: HashMap::new(),
            links: HashMap::new(),
            link_rels: HashSet::new(),
            linked_clusters: HashSet::new(),
            handled_links: HashSet::new(),
            used_clusters: HashSet::new(),
            publisher,
            events: Vec::new(),
            diagnostics: Vec::new(),
        };
        ex.find_links();
        ex
    }

    /// Whether an object is written as MISP attributes (so that it can carry galaxy clusters).
    fn has_attributes(&self, i: &StixItem) -> bool {
        match i.stix_type() {
            "indicator" | "observed-data" | "note" | "campaign" => true,
            "threat-actor" | "vulnerability" => !is_cluster(i),
            t => is_sco(t) && !self.consumed.contains(i.id()),
        }
    }

    fn find_links(&mut self) {
        let mut seen = HashSet::new();
        for i in self.items {
            let r = *self.index.get(i.id()).unwrap_or(&i);
            if r.stix_type() != "relationship" || !seen.insert(r.id()) {
                continue;
            }
            let end = |k: &str| {
                r.object
                    .get(k)
                    .and_then(Value::as_str)
                    .and_then(|id| self.index.get(id).copied())
            };
            let (Some(source), Some(target)) = (end("source_ref"), end("target_ref")) else {
                continue;
            };
            let (holder, cluster) = if is_cluster(target) && self.has_attributes(source) {
                (source, target)
            } else if is_cluster(source) && self.has_attributes(target) {
                (target, source)
            } else {
                continue;
            };
            self.links
                .entry(holder.id())
                .or_default()
                .push((r, cluster));
            self.link_rels.insert(r.id());
            self.linked_clusters.insert(cluster.id());
        }
    }

    /// Adds a cluster an event refers to.
    fn event_galaxy(&mut self, item: &'a StixItem, event: &str, galaxies: &mut Vec<Galaxy>) {
        self.used_clusters.insert(item.id());
        match cluster_out(item) {
            Ok(c) => {
                let g = galaxy_entry(c, item);
                if !galaxies.contains(&g) {
                    galaxies.push(g);
                }
            }
            Err(reason) => self.diag(Level::Skipped, Some(event), item.id(), reason),
        }
    }

    /// The clusters an object's relationships give to its attributes.
    fn attribute_galaxies(&mut self, item: &'a StixItem, event: &str) -> Vec<Galaxy> {
        let links = self.links.get(item.id()).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for (rel, cluster) in links {
            self.handled_links.insert(rel.id());
            if narrower_than(rel, item) {
                let reason = format!(
                    "the relationship to {} is narrower ({}) than {}; MISP cannot tag an attribute more narrowly than the attribute itself",
                    cluster.id(),
                    rel.tlp.label(),
                    item.id()
                );
                self.diag(Level::Skipped, Some(event), rel.id(), reason);
                continue;
            }
            match cluster_out(cluster) {
                Ok(c) => {
                    let g = galaxy_entry(c, cluster);
                    if !out.contains(&g) {
                        out.push(g);
                    }
                }
                Err(reason) => self.diag(Level::Skipped, Some(event), cluster.id(), reason),
            }
        }
        out
    }

    /// Names the relationships to clusters whose other end wrote no attribute.
    fn unwritten_links(&mut self) {
        let mut left: Vec<(&str, String)> = Vec::new();
        for (holder, links) in &self.links {
            for (rel, cluster) in links {
                if !self.handled_links.contains(rel.id()) {
                    left.push((
                        rel.id(),
                        format!(
                            "not written: {holder} has no MISP attribute here, so the galaxy cluster of {} has nothing to tag",
                            cluster.id()
                        ),
                    ));
                }
            }
        }
        left.sort();
        for (id, reason) in left {
            self.diag(Level::Skipped, None, id, reason);
        }
    }

    fn diag(&mut self, level: Level, event: Option<&str>, element: &str, reason: String) {
        self.diagnostics.push(Diagnostic {
            level,
            event_uuid: event.map(str::to_string),
            element: Some(element.to_string()),
            reason,
        });
    }

    fn container(&mut self, c: &'a StixItem) {
        let c = *self.index.get(c.id()).unwrap_or(&c);
        let event_uuid = uuid_of(c.id())
            .map(|u| u.to_string())
            .unwrap_or_else(|| derived_uuid(&[c.id()]).to_string());
        let mut attrs = Vec::new();
        let mut galaxies = Vec::new();
        for r in refs(&c.object, "object_refs") {
            let Some(member) = self.index.get(r).copied() else {
                continue;
            };
            // A relationship to a cluster is written with the attributes it connects; a
            // cluster is global, so every event that refers to it carries it.
            if self.link_rels.contains(member.id()) {
                continue;
            }
            if is_cluster(member) {
                self.event_galaxy(member, &event_uuid, &mut galaxies);
                continue;
            }
            if let Some(e) = self.assigned.get(member.id()) {
                if *e != event_uuid {
                    let reason =
                        format!("also referred to by {}; written once, in event {e}", c.id());
                    self.diag(Level::Warning, Some(&event_uuid), member.id(), reason);
                }
                continue;
            }
            let t = member.stix_type();
            if matches!(t, "report" | "grouping") || is_support(t) || t == "identity" {
                continue;
            }
            if is_sco(t) && self.consumed.contains(member.id()) {
                continue;
            }
            self.assigned
                .insert(member.id().to_string(), event_uuid.clone());
            attrs.extend(self.convert(member, &event_uuid));
        }
        self.assigned.insert(c.id().to_string(), event_uuid.clone());
        let details = misp_details(&c.object);
        let info = str_of(&c.object, "name").unwrap_or("").to_string();
        let ts = ts_of(&c.object).unwrap_or(DateTime::UNIX_EPOCH);
        let published = str_of(&c.object, "published").and_then(parse_rfc3339);
        let date = details
            .and_then(|d| str_of(d, "date"))
            .map(str::to_string)
            .or_else(|| published.map(|p| p.format("%Y-%m-%d").to_string()))
            .unwrap_or_else(|| ts.format("%Y-%m-%d").to_string());
        let detail = |k: &str, default: &str| {
            details
                .and_then(|d| str_of(d, k))
                .unwrap_or(default)
                .to_string()
        };
        let meta = EventMeta {
            uuid: event_uuid,
            info,
            date,
            timestamp: ts.timestamp(),
            publish_timestamp: published.map(|p| p.timestamp()),
            threat_level_id: detail("threat_level_id", "4"),
            analysis: detail("analysis", "2"),
            tlp: c.tlp,
            recipients: c.recipients.clone(),
            labels: labels_of(&c.object),
            created_by: str_of(&c.object, "created_by_ref").map(str::to_string),
            orgc_name: details
                .and_then(|d| str_of(d, "orgc_name"))
                .map(str::to_string),
            galaxies,
        };
        self.emit(meta, attrs);
    }

    fn orphans(&mut self) {
        type Key = (u8, Vec<SharingGroupRef>, Option<String>);
        let mut groups: BTreeMap<Key, Vec<&'a StixItem>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for i in self.items {
            let i = *self.index.get(i.id()).unwrap_or(&i);
            let t = i.stix_type();
            let cluster = is_cluster(i);
            if !seen.insert(i.id())
                || self.assigned.contains_key(i.id())
                || self.link_rels.contains(i.id())
                || (cluster
                    && (self.used_clusters.contains(i.id())
                        || self.linked_clusters.contains(i.id())))
                || matches!(t, "report" | "grouping")
                || (t == "identity" && !cluster)
                || is_support(t)
                || (is_sco(t) && self.consumed.contains(i.id()))
            {
                continue;
            }
            let mut rec = i.recipients.clone();
            rec.sort();
            let key = (
                i.tlp.breadth(),
                rec,
                str_of(&i.object, "created_by_ref").map(str::to_string),
            );
            groups.entry(key).or_default().push(i);
        }
        for ((_, recipients, created_by), members) in groups {
            let tlp = members[0].tlp;
            let names: Vec<String> = recipients
                .iter()
                .map(|r| r.uuid.clone().or(r.name.clone()).unwrap_or_default())
                .collect();
            let event_uuid = derived_uuid(&[
                "orphans",
                tlp.as_str(),
                &names.join(","),
                created_by.as_deref().unwrap_or(""),
            ])
            .to_string();
            let mut attrs = Vec::new();
            let mut galaxies = Vec::new();
            let mut latest = DateTime::UNIX_EPOCH;
            for m in &members {
                self.assigned.insert(m.id().to_string(), event_uuid.clone());
                if let Some(t) = ts_of(&m.object) {
                    latest = latest.max(t);
                }
                if is_cluster(m) {
                    self.event_galaxy(m, &event_uuid, &mut galaxies);
                } else {
                    attrs.extend(self.convert(m, &event_uuid));
                }
            }
            if attrs.is_empty() && galaxies.is_empty() {
                continue;
            }
            let meta = EventMeta {
                uuid: event_uuid,
                info: format!("Objects outside any report ({})", tlp.label()),
                date: latest.format("%Y-%m-%d").to_string(),
                timestamp: latest.timestamp(),
                publish_timestamp: None,
                threat_level_id: "4".into(),
                analysis: "2".into(),
                tlp,
                recipients,
                labels: Vec::new(),
                created_by,
                orgc_name: None,
                galaxies,
            };
            self.emit(meta, attrs);
        }
    }

    /// One STIX object → its MISP attributes (none, with a diagnostic, when it has no MISP form).
    fn convert(&mut self, item: &'a StixItem, event: &str) -> Vec<Attr> {
        let o = &item.object;
        let id = item.id();
        let details = misp_details(o);
        let hint = details.and_then(|d| str_of(d, "attribute_type"));
        let own_uuid = uuid_of(id)
            .map(|u| u.to_string())
            .unwrap_or_else(|| derived_uuid(&[id]).to_string());
        let ts = ts_of(o).map(|t| t.timestamp()).unwrap_or(0);
        let make = |uuid: String, misp_type: &str, value: String, to_ids: bool| Attr {
            uuid,
            misp_type: misp_type.to_string(),
            category: details
                .filter(|d| str_of(d, "attribute_type") == Some(misp_type))
                .and_then(|d| str_of(d, "category"))
                .map(str::to_string),
            value,
            to_ids,
            comment: details
                .and_then(|d| str_of(d, "comment"))
                .or_else(|| str_of(o, "description"))
                .unwrap_or("")
                .to_string(),
            timestamp: ts,
            first_seen: None,
            last_seen: None,
            labels: labels_of(o),
            tlp: item.tlp,
            recipients: item.recipients.clone(),
            object: details.and_then(|d| {
                Some((
                    str_of(d, "object_uuid")?.to_string(),
                    str_of(d, "object_name")?.to_string(),
                    str_of(d, "object_relation").map(str::to_string),
                    str_of(d, "object_meta_category").map(str::to_string),
                ))
            }),
            galaxies: Vec::new(),
        };
        let numbered = |i: usize| {
            if i == 0 {
                own_uuid.clone()
            } else {
                derived_uuid(&[id, &i.to_string()]).to_string()
            }
        };
        let mut out = Vec::new();
        match item.stix_type() {
            "indicator" => {
                let pattern = str_of(o, "pattern").unwrap_or("");
                let parsed = if str_of(o, "pattern_type") == Some("stix") {
                    parse_simple(pattern)
                } else {
                    None
                };
                let groups: Vec<Vec<Cmp>> = match parsed {
                    Some((cmps, Join::And)) => vec![cmps],
                    Some((cmps, Join::Or)) => cmps.into_iter().map(|c| vec![c]).collect(),
                    None => Vec::new(),
                };
                let recorded =
                    details.and_then(|d| Some((str_of(d, "attribute_type")?, str_of(d, "value")?)));
                let converted: Option<Vec<(String, String)>> = groups
                    .iter()
                    .map(|g| match recorded {
                        Some((t, v)) if groups.len() == 1 && recorded_fits(g, t, v) => {
                            Some((t.to_string(), v.to_string()))
                        }
                        _ => attribute_for(g, hint),
                    })
                    .collect();
                match converted {
                    Some(list) if !list.is_empty() => {
                        for (i, (t, v)) in list.into_iter().enumerate() {
                            let mut a = make(numbered(i), &t, v, true);
                            a.first_seen = str_of(o, "valid_from").map(str::to_string);
                            a.last_seen = str_of(o, "valid_until").map(str::to_string);
                            out.push(a);
                        }
                    }
                    _ => self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        format!("the pattern {pattern} is not a single comparison, an OR of comparisons, or an AND forming one MISP composite type"),
                    ),
                }
            }
            "observed-data" => {
                let refs: Vec<&str> = refs(o, "object_refs").collect();
                // An observation that came from MISP converts back to its attribute when its
                // observables are still exactly those of the recorded value.
                let from_misp = details.and_then(|d| {
                    let t = str_of(d, "attribute_type")?;
                    let v = str_of(d, "value")?;
                    match map_attribute(t, v) {
                        Ok(Kind::Observable { scos, .. }) if !scos.is_empty() => {
                            let mut want: Vec<&str> =
                                scos.iter().filter_map(|s| s["id"].as_str()).collect();
                            let mut have = refs.clone();
                            want.sort();
                            have.sort();
                            (want == have).then(|| (t.to_string(), v.to_string()))
                        }
                        _ => None,
                    }
                });
                let mut list = Vec::new();
                if let Some((t, v)) = from_misp {
                    list.push((t, v));
                } else {
                    for r in &refs {
                        let Some(sco) = self.index.get(r) else {
                            continue;
                        };
                        if sco.stix_type() == "ipv4-addr" || sco.stix_type() == "ipv6-addr" {
                            // Addresses that a network-traffic object refers to are written with it.
                            let used = refs.iter().any(|other| {
                                self.index.get(other).is_some_and(|n| {
                                    n.stix_type() == "network-traffic"
                                        && (n.object.get("dst_ref").and_then(Value::as_str)
                                            == Some(r)
                                            || n.object.get("src_ref").and_then(Value::as_str)
                                                == Some(r))
                                })
                            });
                            if used {
                                continue;
                            }
                        }
                        list.extend(self.sco_attributes(&sco.object, hint));
                    }
                }
                if list.is_empty() {
                    self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        "none of the observed objects has a MISP attribute type".into(),
                    );
                }
                let first_seen = str_of(o, "first_observed").map(str::to_string);
                let last_seen = str_of(o, "last_observed").map(str::to_string);
                for (i, (t, v)) in list.into_iter().enumerate() {
                    let mut a = make(numbered(i), &t, v, false);
                    a.first_seen = first_seen.clone();
                    a.last_seen = last_seen.clone();
                    out.push(a);
                }
            }
            t if is_sco(t) => {
                let list = self.sco_attributes(o, None);
                if list.is_empty() {
                    self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        format!("a {t} object has no MISP attribute type"),
                    );
                }
                for (i, (t, v)) in list.into_iter().enumerate() {
                    out.push(make(numbered(i), &t, v, false));
                }
            }
            "vulnerability" => {
                let cve = o
                    .get("external_references")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|r| r.get("source_name").and_then(Value::as_str) == Some("cve"))
                    .and_then(|r| r.get("external_id").and_then(Value::as_str));
                let name = cve.or_else(|| str_of(o, "name")).unwrap_or("").to_string();
                out.push(make(own_uuid.clone(), "vulnerability", name, false));
            }
            "threat-actor" => {
                let name = str_of(o, "name").unwrap_or("").to_string();
                out.push(make(own_uuid.clone(), "threat-actor", name, false));
            }
            "campaign" => {
                let name = str_of(o, "name").unwrap_or("").to_string();
                out.push(make(own_uuid.clone(), "campaign-name", name, false));
            }
            "note" => {
                let recorded = details.and_then(|d| {
                    Some((
                        str_of(d, "attribute_type")?.to_string(),
                        str_of(d, "value")?.to_string(),
                        d.get("to_ids").and_then(Value::as_bool).unwrap_or(false),
                    ))
                });
                match recorded {
                    Some((t, v, to_ids)) => out.push(make(own_uuid.clone(), &t, v, to_ids)),
                    None => {
                        let content = str_of(o, "content").unwrap_or("").to_string();
                        let mut a = make(own_uuid.clone(), "text", content, false);
                        a.comment = str_of(o, "abstract").unwrap_or("").to_string();
                        out.push(a);
                    }
                }
            }
            other => self.diag(
                Level::Skipped,
                Some(event),
                id,
                format!("{other} objects have no MISP attribute form"),
            ),
        }
        out.retain(|a| !a.value.trim().is_empty());
        if !out.is_empty() && self.links.contains_key(id) {
            let galaxies = self.attribute_galaxies(item, event);
            for a in &mut out {
                a.galaxies = galaxies.clone();
            }
        }
        out
    }

    /// The MISP attributes of one cyber-observable.
    fn sco_attributes(
        &self,
        sco: &Map<String, Value>,
        hint: Option<&str>,
    ) -> Vec<(String, String)> {
        let s = |k: &str| str_of(sco, k).map(str::to_string);
        let mut groups: Vec<Vec<Cmp>> = Vec::new();
        let cmp = |path: &str, v: String| Cmp {
            path: path.to_string(),
            value: Lit::Str(v),
        };
        let t = str_of(sco, "type").unwrap_or("");
        match t {
            "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr" | "mac-addr" => {
                if let Some(v) = s("value") {
                    let resolves = sco
                        .get("resolves_to_refs")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(Value::as_str)
                        .and_then(|r| self.index.get(r))
                        .and_then(|r| str_of(&r.object, "value"));
                    match resolves {
                        Some(addr) if t == "domain-name" => groups.push(vec![
                            cmp("domain-name:value", v),
                            cmp("domain-name:resolves_to_refs[*].value", addr.to_string()),
                        ]),
                        _ => groups.push(vec![cmp(&format!("{t}:value"), v)]),
                    }
                }
            }
            "file" => {
                let name = s("name");
                let hashes = sco.get("hashes").and_then(Value::as_object);
                let mut algos: Vec<(&str, String)> = Vec::new();
                if let Some(h) = hashes {
                    for (_, stix) in crate::mapping::HASHES {
                        if let Some(v) = h.get(*stix).and_then(Value::as_str) {
                            algos.push((stix, v.to_string()));
                        }
                    }
                }
                let mut first = true;
                for (algo, v) in &algos {
                    let mut g = vec![cmp(&format!("file:hashes.{algo}"), v.clone())];
                    if first && let Some(n) = &name {
                        g.push(cmp("file:name", n.clone()));
                    }
                    first = false;
                    groups.push(g);
                }
                if algos.is_empty()
                    && let Some(n) = name
                {
                    groups.push(vec![cmp("file:name", n)]);
                }
            }
            "email-message" => {
                if let Some(v) = s("subject") {
                    groups.push(vec![cmp("email-message:subject", v)]);
                }
            }
            "mutex" => {
                if let Some(v) = s("name") {
                    groups.push(vec![cmp("mutex:name", v)]);
                }
            }
            "windows-registry-key" => {
                if let Some(k) = s("key") {
                    let data = sco
                        .get("values")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(|v| v.get("data"))
                        .and_then(Value::as_str);
                    let mut g = vec![cmp("windows-registry-key:key", k)];
                    if let Some(d) = data {
                        g.push(cmp("windows-registry-key:values[*].data", d.to_string()));
                    }
                    groups.push(g);
                }
            }
            "autonomous-system" => {
                if let Some(n) = sco.get("number").and_then(Value::as_i64) {
                    groups.push(vec![Cmp {
                        path: "autonomous-system:number".into(),
                        value: Lit::Int(n),
                    }]);
                }
            }
            "x509-certificate" => {
                if let Some(h) = sco.get("hashes").and_then(Value::as_object) {
                    for algo in ["SHA-1", "MD5", "SHA-256"] {
                        if let Some(v) = h.get(algo).and_then(Value::as_str) {
                            groups.push(vec![cmp(
                                &format!("x509-certificate:hashes.{algo}"),
                                v.to_string(),
                            )]);
                        }
                    }
                }
            }
            "network-traffic" => {
                for (refk, portk) in [("dst_ref", "dst_port"), ("src_ref", "src_port")] {
                    let end = sco
                        .get(refk)
                        .and_then(Value::as_str)
                        .and_then(|r| self.index.get(r))
                        .and_then(|r| str_of(&r.object, "value"));
                    let port = sco.get(portk).and_then(Value::as_i64);
                    match (end, port) {
                        (Some(e), Some(p)) => groups.push(vec![
                            cmp(&format!("network-traffic:{refk}.value"), e.to_string()),
                            Cmp {
                                path: format!("network-traffic:{portk}"),
                                value: Lit::Int(p),
                            },
                        ]),
                        (Some(e), None) => {
                            let ipv6 = e.contains(':');
                            groups.push(vec![cmp(
                                if ipv6 {
                                    "ipv6-addr:value"
                                } else {
                                    "ipv4-addr:value"
                                },
                                e.to_string(),
                            )]);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        groups
            .iter()
            .filter_map(|g| attribute_for(g, hint))
            .collect()
    }

    fn emit(&mut self, meta: EventMeta, attrs: Vec<Attr>) {
        let orgc = self.orgc(&meta);
        let sharing_group = single_group(meta.tlp, &meta.recipients);
        let distribution = Distribution::for_tlp(meta.tlp, sharing_group.is_some());
        let mut tags: Vec<Value> = vec![json!({ "name": tag_of_tlp(meta.tlp) })];
        tags.extend(
            meta.labels
                .iter()
                .filter(|l| tlp_of_tag(l).is_none())
                .map(|l| json!({ "name": l })),
        );
        add_galaxy_tags(&mut tags, &meta.galaxies);
        let mut hashes = Vec::new();
        let mut plain = Vec::new();
        let mut objects: BTreeMap<String, (Map<String, Value>, Vec<Value>)> = BTreeMap::new();
        let mut seen = HashSet::new();
        for a in attrs {
            if !seen.insert(a.uuid.clone()) {
                continue;
            }
            if a.tlp.breadth() > meta.tlp.breadth() {
                let reason = format!(
                    "{} is wider than its event ({}); MISP narrows it to the event's audience",
                    a.tlp.label(),
                    meta.tlp.label()
                );
                self.diag(Level::Warning, Some(&meta.uuid), &a.uuid, reason);
            }
            // As MISP does: composite values are indexed part by part.
            if a.misp_type.contains('|') {
                hashes.extend(a.value.split('|').map(md5_hex));
            } else {
                hashes.push(md5_hex(&a.value));
            }
            let (json_attr, object) = self.attribute_json(&a, &meta);
            match object {
                Some((uuid, name, meta_category)) => {
                    let entry = objects.entry(uuid.clone()).or_insert_with(|| {
                        let mut o = Map::new();
                        o.insert("uuid".into(), uuid.into());
                        o.insert("name".into(), name.into());
                        if let Some(m) = meta_category {
                            o.insert("meta-category".into(), m.into());
                        }
                        o.insert("distribution".into(), "5".into());
                        o.insert("timestamp".into(), a.timestamp.to_string().into());
                        o.insert("comment".into(), "".into());
                        o.insert("deleted".into(), false.into());
                        (o, Vec::new())
                    });
                    let newer = entry.0["timestamp"]
                        .as_str()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_some_and(|t| t < a.timestamp);
                    if newer {
                        entry
                            .0
                            .insert("timestamp".into(), a.timestamp.to_string().into());
                    }
                    entry.1.push(json_attr);
                }
                None => plain.push(json_attr),
            }
        }
        let mut event = json!({
            "uuid": meta.uuid,
            "info": meta.info,
            "date": meta.date,
            "timestamp": meta.timestamp.to_string(),
            "published": meta.publish_timestamp.is_some(),
            "publish_timestamp": meta.publish_timestamp.unwrap_or(0).to_string(),
            "threat_level_id": meta.threat_level_id,
            "analysis": meta.analysis,
            "distribution": distribution.as_u8().to_string(),
            "Orgc": orgc,
            "Tag": tags,
            "Attribute": plain,
            "Object": objects.into_values().map(|(mut o, attrs)| {
                o.insert("Attribute".into(), Value::Array(attrs));
                Value::Object(o)
            }).collect::<Vec<_>>(),
        });
        if let Some(g) = &sharing_group {
            event["sharing_group_id"] = misp_group_id(g).unwrap_or_default().to_string().into();
            event["SharingGroup"] = sharing_group_json(g);
        }
        if !meta.galaxies.is_empty() {
            event["Galaxy"] = Value::Array(galaxies_json(&meta.galaxies));
        }
        let manifest = json!({
            "Orgc": event["Orgc"],
            "Tag": event["Tag"],
            "info": event["info"],
            "date": event["date"],
            "analysis": event["analysis"],
            "threat_level_id": event["threat_level_id"],
            "timestamp": event["timestamp"],
        });
        self.events.push(ExportedEvent {
            uuid: meta.uuid,
            event: json!({ "Event": event }),
            manifest,
            hashes,
        });
    }

    fn orgc(&self, meta: &EventMeta) -> Value {
        let from_ref = meta.created_by.as_deref().and_then(|r| {
            let uuid = uuid_of(r)?.to_string();
            let name = self
                .index
                .get(r)
                .and_then(|i| str_of(&i.object, "name"))
                .map(str::to_string)
                .or(meta.orgc_name.clone())
                .unwrap_or_else(|| uuid.clone());
            Some((uuid, name))
        });
        let (uuid, name) =
            from_ref.unwrap_or((self.publisher.uuid.clone(), self.publisher.name.clone()));
        json!({ "uuid": uuid, "name": name })
    }

    #[allow(clippy::type_complexity)]
    fn attribute_json(
        &self,
        a: &Attr,
        meta: &EventMeta,
    ) -> (Value, Option<(String, String, Option<String>)>) {
        let mut tags: Vec<Value> = Vec::new();
        let narrower = a.tlp.breadth() < meta.tlp.breadth();
        let own_group = single_group(a.tlp, &a.recipients)
            .filter(|g| single_group(meta.tlp, &meta.recipients).as_ref() != Some(g));
        let distribution = if narrower || own_group.is_some() {
            if narrower {
                tags.push(json!({ "name": tag_of_tlp(a.tlp) }));
            }
            Distribution::for_tlp(a.tlp, own_group.is_some())
        } else {
            Distribution::Inherit
        };
        tags.extend(
            a.labels
                .iter()
                .filter(|l| tlp_of_tag(l).is_none())
                .map(|l| json!({ "name": l })),
        );
        add_galaxy_tags(&mut tags, &a.galaxies);
        let mut v = json!({
            "uuid": a.uuid,
            "type": a.misp_type,
            "category": a.category.clone().unwrap_or_else(|| default_category(&a.misp_type).to_string()),
            "value": a.value,
            "to_ids": a.to_ids,
            "comment": a.comment,
            "timestamp": a.timestamp.to_string(),
            "distribution": distribution.as_u8().to_string(),
            "disable_correlation": false,
            "deleted": false,
            "Tag": tags,
        });
        if let Some(g) = &own_group {
            v["sharing_group_id"] = misp_group_id(g).unwrap_or_default().to_string().into();
            v["SharingGroup"] = sharing_group_json(g);
        }
        if !a.galaxies.is_empty() {
            v["Galaxy"] = Value::Array(galaxies_json(&a.galaxies));
        }
        for (k, t) in [("first_seen", &a.first_seen), ("last_seen", &a.last_seen)] {
            if let Some(t) = t.as_deref().and_then(parse_rfc3339) {
                v[k] = t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string().into();
            }
        }
        let object = a
            .object
            .as_ref()
            .map(|(uuid, name, relation, meta_category)| {
                if let Some(r) = relation {
                    v["object_relation"] = r.clone().into();
                }
                (uuid.clone(), name.clone(), meta_category.clone())
            });
        (v, object)
    }
}

struct EventMeta {
    uuid: String,
    info: String,
    date: String,
    timestamp: i64,
    publish_timestamp: Option<i64>,
    threat_level_id: String,
    analysis: String,
    tlp: Tlp,
    recipients: Vec<SharingGroupRef>,
    labels: Vec<String>,
    created_by: Option<String>,
    orgc_name: Option<String>,
    /// The galaxy clusters of the event itself.
    galaxies: Vec<Galaxy>,
}

/// A cluster's `GalaxyCluster` entry with the distribution of its audience (a cluster has no
/// "inherit": its distribution is always its own).
fn galaxy_entry(c: ClusterOut, item: &StixItem) -> Galaxy {
    let mut entry = c.cluster.clone();
    let group = single_group(item.tlp, &item.recipients);
    let distribution = Distribution::for_tlp(item.tlp, group.is_some());
    entry.insert(
        "distribution".into(),
        distribution.as_u8().to_string().into(),
    );
    if let Some(g) = &group {
        entry.insert(
            "sharing_group_id".into(),
            misp_group_id(g).unwrap_or_default().to_string().into(),
        );
        entry.insert("SharingGroup".into(), sharing_group_json(g));
    }
    (c, Value::Object(entry))
}

/// Adds the tag of each cluster that the tags lack: MISP tags an element with its clusters.
fn add_galaxy_tags(tags: &mut Vec<Value>, galaxies: &[Galaxy]) {
    for (c, _) in galaxies {
        let tag = json!({ "name": c.tag_name });
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
}

/// Whether `r` reaches fewer readers than `a`: a narrower TLP, or the same one without all of
/// `a`'s recipients.
fn narrower_than(r: &StixItem, a: &StixItem) -> bool {
    r.tlp.breadth() < a.tlp.breadth()
        || (r.tlp == a.tlp
            && a.recipients
                .iter()
                .any(|x| !r.recipients.iter().any(|y| y.same_as(x))))
}

/// The one sharing group an AMBER or AMBER+STRICT audience names, when it names exactly one that came from MISP
/// (MISP refuses distribution 4 without the group's numeric id on the instance).
fn single_group(tlp: Tlp, recipients: &[SharingGroupRef]) -> Option<SharingGroupRef> {
    match (tlp, recipients) {
        (Tlp::Amber | Tlp::AmberStrict, [g]) if g.uuid.is_some() && misp_group_id(g).is_some() => {
            Some(g.clone())
        }
        _ => None,
    }
}

fn misp_group_id(g: &SharingGroupRef) -> Option<u64> {
    g.local_id
        .as_deref()
        .and_then(|i| i.trim().parse::<u64>().ok())
        .filter(|i| *i != 0)
}

fn sharing_group_json(g: &SharingGroupRef) -> Value {
    json!({ "uuid": g.uuid, "name": g.name.clone().unwrap_or_default() })
}

fn refs<'o>(o: &'o Map<String, Value>, k: &str) -> impl Iterator<Item = &'o str> {
    o.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn labels_of(o: &Map<String, Value>) -> Vec<String> {
    refs(o, "labels").map(str::to_string).collect()
}
