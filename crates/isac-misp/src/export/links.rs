//! Links on export: a relationship between two objects written as attributes becomes an
//! `ObjectReference` of the source's MISP object, a sighting or false positive a `Sighting` of
//! the attribute it is about, and an analyst's note or opinion MISP 2.5 analyst data (`Note`,
//! `Opinion`) on the attribute or event it is about.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use isac_model::Tlp;
use serde_json::{Value, json};

use super::{
    Attr, ExportJob, FeedExport, HANDLED, Remark, misp_group_id, narrower_than, sharing_group_json,
    single_group, ts_of,
};
use crate::audience::Distribution;
use crate::ids::{parse_rfc3339, uuid_of};
use crate::import::{opinion_of, str_of};
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

/// The object a note or opinion is about when it goes to MISP as analyst data (MISP 2.5): a
/// note made from MISP analyst data (not one recorded as an attribute), or any opinion that is
/// not a false positive ([`sighted`]), about exactly one object.
pub(super) fn annotated(item: &StixItem) -> Option<&str> {
    let o = &item.object;
    let analyst_note = || {
        misp_details(o)
            .is_some_and(|d| d.contains_key("analyst_type") && !d.contains_key("attribute_type"))
    };
    let about = match item.stix_type() {
        "note" if analyst_note() => o.get("object_refs")?,
        "opinion" if sighted(item).is_none() => o.get("object_refs")?,
        _ => return None,
    };
    match about.as_array()?.as_slice() {
        [one] => one.as_str(),
        _ => None,
    }
}

/// What MISP element analyst data hangs on.
pub(super) struct Holder<'a> {
    /// The STIX object the element was written from; analyst data narrower than it carry their
    /// own distribution.
    pub item: &'a StixItem,
    /// `Attribute`, `Event`, `EventReport`, or `Note` or `Opinion` for analyst data about
    /// analyst data.
    pub object_type: &'static str,
    pub uuid: &'a str,
    /// How deep in analyst data about analyst data the holder is: 0 for an element.
    pub depth: usize,
}

/// How deep analyst data about analyst data is written; deeper entries are named as unwritten,
/// so that a long chain cannot exhaust the stack.
const ANALYST_DEPTH: usize = 16;

impl FeedExport {
    /// The analyst data about `holder`'s object, as MISP `Note` and `Opinion` entries (`true`
    /// for a note). Each has a distribution of its own: inherited where it is at least as wide
    /// as the element, else that of its TLP (with its sharing group). Analyst data carry no
    /// tags and distribution 0 reads back as AMBER+STRICT, so TLP:RED analyst data in a wider
    /// element, and analyst data narrower only by their recipients with no one MISP sharing
    /// group to say it, are not written, and are named.
    pub(super) fn analyst_data(
        &mut self,
        holder: &Holder<'_>,
        event: &str,
        objs: &ExportJob,
    ) -> Vec<(bool, Value)> {
        let Some(s) = self.ix.object(holder.item.id()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for n in self.annotations.get(&s).cloned().unwrap_or_default() {
            // Handled once, which also ends a loop of notes about each other.
            if self.ix.has(n, HANDLED) {
                continue;
            }
            let nid = self.ix.id(n);
            let Some(x) = objs.get(&self.ix, &nid) else {
                continue;
            };
            self.ix.set(n, HANDLED);
            let uuid = self.misp_uuid(&nid);
            match analyst_json(x, holder, &uuid) {
                Ok((note, mut v)) => {
                    // What is said about this note or opinion goes inside it.
                    if holder.depth < ANALYST_DEPTH {
                        let about = Holder {
                            item: x,
                            object_type: if note { "Note" } else { "Opinion" },
                            uuid: &uuid,
                            depth: holder.depth + 1,
                        };
                        let nested = self.analyst_data(&about, event, objs);
                        super::add_analyst_data(&mut v, &nested);
                    }
                    out.push((note, v));
                }
                Err(reason) => self.diag(Level::Skipped, Some(event), &nid, reason),
            }
        }
        out
    }

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
                let (t, i) = (r.tlp.label(), item.id());
                let reason = (
                    format!(
                        "not written: the relationship is narrower ({t}) than {i}, and a MISP object reference is seen by everyone who sees its object"
                    ),
                    format!(
                        "未寫出：此關係（{t}）比 {i} 更窄，而 MISP 物件參照對所有看得到其物件的人都可見"
                    ),
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
                let (t, i) = (x.tlp.label(), item.id());
                let reason = (
                    format!(
                        "not written: it is narrower ({t}) than {i}, and a MISP sighting has no distribution of its own"
                    ),
                    format!("未寫出：它（{t}）比 {i} 更窄，而 MISP 目擊紀錄沒有自己的散布等級"),
                );
                self.diag(Level::Skipped, Some(event), &sid, reason);
                continue;
            }
            sightings.push(sighting_json(x, &self.misp_uuid(&sid)));
        }
        out[0].references = references;
        out[0].sightings = sightings;
        let holder = Holder {
            item,
            object_type: "Attribute",
            uuid: &out[0].uuid.clone(),
            depth: 0,
        };
        out[0].analyst = self.analyst_data(&holder, event, objs);
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
                    let s = &a.stix_id;
                    let reason = (
                        format!(
                            "not written: {s} is not part of a MISP object, and only MISP objects hold references"
                        ),
                        format!("未寫出：{s} 不屬於任何 MISP 物件，而只有 MISP 物件能持有參照"),
                    );
                    self.diag(Level::Skipped, Some(event), &rel_id, reason);
                    continue;
                };
                let Some(&(target_attr, target_object)) = written.get(r.target.as_str()) else {
                    let (t, s) = (&r.target, &a.stix_id);
                    let reason = (
                        format!("not written: {t} is not written in the same event as {s}"),
                        format!("未寫出：{t} 與 {s} 不在同一事件中寫出"),
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
    pub(super) fn unwritten_references(&self, left: &mut Vec<(String, Remark)>) {
        for (source, refs) in &self.references {
            for (rel, _) in refs {
                if !self.ix.has(*rel, HANDLED) {
                    let s = self.ix.id(*source);
                    left.push((
                        self.ix.id(*rel),
                        (
                            format!(
                                "not written: {s} has no MISP attribute here, so the reference has no MISP object"
                            ),
                            format!("未寫出：{s} 在此沒有 MISP 屬性，因此此參照沒有 MISP 物件"),
                        ),
                    ));
                }
            }
        }
        let carried = [
            (
                &self.sightings,
                "MISP attribute here to carry the sighting",
                "可承載此目擊紀錄的 MISP 屬性",
            ),
            (
                &self.annotations,
                "MISP attribute or event here to carry the analyst data",
                "可承載此分析資料的 MISP 屬性或事件",
            ),
        ];
        for (map, what, what_zh) in carried {
            for (about, list) in map {
                for s in list.iter().filter(|s| !self.ix.has(**s, HANDLED)) {
                    let a = self.ix.id(*about);
                    left.push((
                        self.ix.id(*s),
                        (
                            format!("not written: {a} has no {what}"),
                            format!("未寫出：{a} 在此沒有{what_zh}"),
                        ),
                    ));
                }
            }
        }
    }
}

/// The MISP organisation recorded on import (`org_uuid`, `org_name`), else the identity of
/// `created_by_ref`.
fn organisation(o: &serde_json::Map<String, Value>) -> Option<Value> {
    let details = misp_details(o);
    let detail = |k: &str| details.and_then(|d| str_of(d, k)).map(str::to_string);
    let uuid = detail("org_uuid").or_else(|| {
        str_of(o, "created_by_ref")
            .and_then(uuid_of)
            .map(|u| u.to_string())
    })?;
    let mut org = json!({ "uuid": uuid });
    if let Some(n) = detail("org_name") {
        org["name"] = n.into();
    }
    Some(org)
}

/// MISP's opinion number for a STIX opinion: the one recorded on import while it still falls
/// in the same fifth, else the middle of the fifth (10, 30, 50, 70, 90).
fn opinion_number(o: &serde_json::Map<String, Value>) -> Option<u8> {
    let opinion = str_of(o, "opinion")?;
    let recorded = misp_details(o)
        .and_then(|d| d.get("opinion"))
        .filter(|v| opinion_of(Some(v)) == Some(opinion))
        .and_then(|v| match v {
            Value::String(s) => s.trim().parse::<f64>().ok(),
            other => other.as_f64(),
        });
    if let Some(n) = recorded {
        return Some(n.round().clamp(0.0, 100.0) as u8);
    }
    Some(match opinion {
        "strongly-disagree" => 10,
        "disagree" => 30,
        "neutral" => 50,
        "agree" => 70,
        "strongly-agree" => 90,
        _ => return None,
    })
}

/// MISP writes analyst data times as `YYYY-MM-DD HH:MM:SS`, UTC.
fn analyst_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One MISP `Note` (`true`) or `Opinion` entry on `holder`, or why it is not written.
fn analyst_json(x: &StixItem, holder: &Holder<'_>, uuid: &str) -> Result<(bool, Value), Remark> {
    let o = &x.object;
    let mut group = None;
    let distribution = if narrower_than((x.tlp, &x.recipients), holder.item) {
        if x.tlp == Tlp::Red {
            let i = holder.item.id();
            return Err((
                format!(
                    "not written: TLP:RED analyst data about the wider {i} have no MISP form (analyst data carry no TLP tag, and distribution 0 reads as AMBER+STRICT)"
                ),
                format!(
                    "未寫出：關於較寬的 {i} 的 TLP:RED 分析資料沒有 MISP 形式（分析資料不帶 TLP 標籤，而散布等級 0 會被讀為 AMBER+STRICT）"
                ),
            ));
        }
        group = single_group(x.tlp, &x.recipients);
        if x.tlp == holder.item.tlp && group.is_none() {
            let i = holder.item.id();
            return Err((
                format!(
                    "not written: its recipients are fewer than those of {i} at the same TLP level, and MISP analyst data can say that only with one MISP sharing group"
                ),
                format!(
                    "未寫出：其接收者少於同一 TLP 等級的 {i}，而 MISP 分析資料只能以單一 MISP 分享群組表達這點"
                ),
            ));
        }
        Distribution::for_tlp(x.tlp, group.is_some())
    } else {
        Distribution::Inherit
    };
    let mut v = json!({
        "uuid": uuid,
        "object_uuid": holder.uuid,
        "object_type": holder.object_type,
        "distribution": distribution.as_u8().to_string(),
    });
    let created = str_of(o, "created").and_then(parse_rfc3339);
    let modified = str_of(o, "modified").and_then(parse_rfc3339);
    for (k, t) in [("created", created), ("modified", modified.or(created))] {
        if let Some(t) = t {
            v[k] = analyst_time(t).into();
        }
    }
    let authors: Vec<&str> = o
        .get("authors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !authors.is_empty() {
        v["authors"] = authors.join(", ").into();
    }
    if let Some(org) = organisation(o) {
        v["Orgc"] = org;
    }
    if let Some(g) = &group {
        v["sharing_group_id"] = misp_group_id(g).unwrap_or_default().to_string().into();
        v["SharingGroup"] = sharing_group_json(g);
    }
    let note = x.stix_type() == "note";
    if note {
        v["note"] = str_of(o, "content").unwrap_or("").into();
        let language = str_of(o, "lang").or_else(|| {
            misp_details(o)
                .and_then(|d| d.get("language"))
                .and_then(Value::as_str)
        });
        if let Some(l) = language {
            v["language"] = l.into();
        }
    } else {
        let Some(n) = opinion_number(o) else {
            return Err((
                "not written: its opinion is not one of the STIX opinion values".into(),
                "未寫出：其意見不是 STIX 的意見值之一".into(),
            ));
        };
        v["opinion"] = n.to_string().into();
        v["comment"] = str_of(o, "explanation").unwrap_or("").into();
    }
    Ok((note, v))
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
    if let Some(org) = organisation(o) {
        v["Organisation"] = org;
    }
    v
}
