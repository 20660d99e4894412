//! Links on export: a relationship between two objects written as attributes becomes an
//! `ObjectReference` of the source's MISP object, and a sighting or false positive a
//! `Sighting` of the attribute it is about.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Attr, ExportJob, FeedExport, HANDLED, narrower_than, ts_of};
use crate::ids::{parse_rfc3339, uuid_of};
use crate::import::str_of;
use crate::{Level, StixItem, misp_details};

/// A relationship to write as an `ObjectReference` once the event's attributes are known.
pub(super) struct RefOut {
    slot: u32,
    uuid: String,
    relationship_type: String,
    comment: String,
    timestamp: i64,
    /// The target's STIX id.
    target: String,
    /// The `referenced_uuid` recorded on import.
    recorded: Option<String>,
}

/// The object a sighting or false positive is about: a sighting's `sighting_of_ref`, or the one
/// object of an opinion that strongly disagrees with it (what MISP calls a false positive).
pub(super) fn sighted(item: &StixItem) -> Option<&str> {
    let o = &item.object;
    match item.stix_type() {
        "sighting" => str_of(o, "sighting_of_ref"),
        // An analyst's opinion from MISP is not a false positive.
        "opinion"
            if str_of(o, "opinion") == Some("strongly-disagree")
                && misp_details(o).is_none_or(|d| !d.contains_key("analyst_type")) =>
        {
            match o.get("object_refs")?.as_array()?.as_slice() {
                [one] => one.as_str(),
                _ => None,
            }
        }
        _ => None,
    }
}

impl FeedExport {
    /// Puts the object references and sightings of `item` on its first attribute. Neither has
    /// a distribution in MISP (a reference is seen with its object, a sighting by the
    /// instance's sighting policy), so one narrower than `item` is not written: it would be
    /// handed on with the attribute's wider audience.
    pub(super) fn attach_links(
        &mut self,
        item: &StixItem,
        event: &str,
        out: &mut [Attr],
        objs: &ExportJob,
    ) {
        let Some(s) = self.ix.object(item.id()) else {
            return;
        };
        if out.is_empty() {
            return;
        }
        let mut references = Vec::new();
        for (rel, target) in self.references.get(&s).cloned().unwrap_or_default() {
            let rel_id = self.ix.id(rel);
            let Some(r) = objs.get(&self.ix, &rel_id) else {
                continue;
            };
            if narrower_than((r.tlp, &r.recipients), item) {
                self.ix.set(rel, HANDLED);
                let reason = format!(
                    "not written: the relationship is narrower ({}) than {}, and a MISP object reference is seen by everyone who sees its object",
                    r.tlp.label(),
                    item.id()
                );
                self.diag(Level::Skipped, Some(event), &rel_id, reason);
                continue;
            }
            let o = &r.object;
            references.push(RefOut {
                slot: rel,
                uuid: self.misp_uuid(&rel_id),
                relationship_type: str_of(o, "relationship_type").unwrap_or("").to_string(),
                comment: str_of(o, "description").unwrap_or("").to_string(),
                timestamp: ts_of(o).map_or(0, |t| t.timestamp()),
                target: self.ix.id(target),
                recorded: misp_details(o)
                    .and_then(|d| str_of(d, "referenced_uuid"))
                    .map(str::to_string),
            });
        }
        let mut sightings = Vec::new();
        for sg in self.sightings.get(&s).cloned().unwrap_or_default() {
            let sid = self.ix.id(sg);
            let Some(x) = objs.get(&self.ix, &sid) else {
                continue;
            };
            self.ix.set(sg, HANDLED);
            if narrower_than((x.tlp, &x.recipients), item) {
                let reason = format!(
                    "not written: it is narrower ({}) than {}, and a MISP sighting has no distribution of its own",
                    x.tlp.label(),
                    item.id()
                );
                self.diag(Level::Skipped, Some(event), &sid, reason);
                continue;
            }
            sightings.push(sighting_json(x, &self.misp_uuid(&sid)));
        }
        out[0].references = references;
        out[0].sightings = sightings;
    }

    /// The `ObjectReference`s of an event's MISP objects, by object uuid: each reference
    /// whose source was written inside a MISP object and whose target was written in the same
    /// event. The others are named.
    pub(super) fn object_references(
        &mut self,
        attrs: &[Attr],
        event: &str,
    ) -> HashMap<String, Vec<Value>> {
        let mut written: HashMap<&str, (&str, Option<&str>)> = HashMap::new();
        for a in attrs {
            written
                .entry(a.stix_id.as_str())
                .or_insert((a.uuid.as_str(), a.object.as_ref().map(|o| o.0.as_str())));
        }
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for a in attrs {
            for r in &a.references {
                self.ix.set(r.slot, HANDLED);
                let rel_id = self.ix.id(r.slot);
                let Some((object_uuid, ..)) = &a.object else {
                    let reason = format!(
                        "not written: {} is not part of a MISP object, and only MISP objects hold references",
                        a.stix_id
                    );
                    self.diag(Level::Skipped, Some(event), &rel_id, reason);
                    continue;
                };
                let Some(&(target_attr, target_object)) = written.get(r.target.as_str()) else {
                    let reason = format!(
                        "not written: {} is not written in the same event as {}",
                        r.target, a.stix_id
                    );
                    self.diag(Level::Skipped, Some(event), &rel_id, reason);
                    continue;
                };
                let referenced = match &r.recorded {
                    Some(u) if u == target_attr || Some(u.as_str()) == target_object => u.clone(),
                    _ => target_object.unwrap_or(target_attr).to_string(),
                };
                let list = out.entry(object_uuid.clone()).or_default();
                if list.iter().any(|v| v["uuid"] == r.uuid.as_str()) {
                    continue;
                }
                list.push(json!({
                    "uuid": r.uuid,
                    "object_uuid": object_uuid,
                    "referenced_uuid": referenced,
                    "relationship_type": r.relationship_type,
                    "comment": r.comment,
                    "timestamp": r.timestamp.to_string(),
                    "deleted": false,
                }));
            }
        }
        out
    }

    /// Names the references and sightings whose object wrote no attribute.
    pub(super) fn unwritten_references(&self, left: &mut Vec<(String, String)>) {
        for (source, refs) in &self.references {
            for (rel, _) in refs {
                if !self.ix.has(*rel, HANDLED) {
                    left.push((
                        self.ix.id(*rel),
                        format!(
                            "not written: {} has no MISP attribute here, so the reference has no MISP object",
                            self.ix.id(*source)
                        ),
                    ));
                }
            }
        }
        for (about, list) in &self.sightings {
            for s in list {
                if !self.ix.has(*s, HANDLED) {
                    left.push((
                        self.ix.id(*s),
                        format!(
                            "not written: {} has no MISP attribute here to carry the sighting",
                            self.ix.id(*about)
                        ),
                    ));
                }
            }
        }
    }
}

/// A MISP `Sighting` entry: type 0 for a sighting (at its `last_seen`, else `first_seen`, else
/// `modified`; a STIX `count` above one is still one entry), 1 for a false positive, with the
/// organisation and source recorded on import, else the creator's identity.
fn sighting_json(x: &StixItem, uuid: &str) -> Value {
    let o = &x.object;
    let details = misp_details(o);
    let detail = |k: &str| details.and_then(|d| str_of(d, k)).map(str::to_string);
    let false_positive = x.stix_type() == "opinion";
    let when = if false_positive {
        None
    } else {
        str_of(o, "last_seen")
            .or_else(|| str_of(o, "first_seen"))
            .and_then(parse_rfc3339)
    }
    .or_else(|| ts_of(o));
    let mut v = json!({
        "uuid": uuid,
        "type": if false_positive { "1" } else { "0" },
        "date_sighting": when.map_or(0, |t| t.timestamp()).to_string(),
        "source": detail("source").unwrap_or_default(),
    });
    let org = detail("org_uuid").or_else(|| {
        str_of(o, "created_by_ref")
            .and_then(uuid_of)
            .map(|u| u.to_string())
    });
    if let Some(u) = org {
        let mut org = json!({ "uuid": u });
        if let Some(n) = detail("org_name") {
            org["name"] = n.into();
        }
        v["Organisation"] = org;
    }
    v
}
