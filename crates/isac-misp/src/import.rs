//! MISP event → STIX 2.1 objects with their audience.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use isac_model::Tlp;
use serde_json::{Map, Value, json};

use crate::audience::{Audience, Distribution, Sharing, SharingGroupRef, tlp_of_tag};
use crate::galaxy::{self, Built, ClusterIn, clusters_of};
use crate::ids::{derived_uuid, format_ts, parse_date, parse_rfc3339, parse_unix, stix_id};
use crate::mapping::{Kind, map_attribute, render};
use crate::{
    Diagnostic, Import, Level, MISP_EXTENSION_ID, MispError, StixItem, child_audience,
    event_audience, isac_identity, misp_extension_definition, narrower,
};

mod analyst;
mod links;

pub(crate) use analyst::opinion_of;
use analyst::{About, AnalystIn};
use links::{End, Reference, SightingIn};

/// Import settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// The TLP of an event with neither a TLP tag nor a distribution. Never wider than GREEN
    /// (DESIGN §3: unmarked input takes the configured default, never wider than GREEN); a wider
    /// value is read as GREEN.
    pub unmarked: Tlp,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            unmarked: Tlp::Green,
        }
    }
}

/// Parses a MISP event document and imports it.
pub fn import_event_json(text: &[u8], options: &ImportOptions) -> Result<Import, MispError> {
    let v: Value = serde_json::from_slice(text)?;
    import_event(&v, options)
}

/// Imports one MISP event: `{"Event": {...}}`, a MISP API response `{"response": [{"Event": ...}]}`,
/// or the bare event object.
pub fn import_event(doc: &Value, options: &ImportOptions) -> Result<Import, MispError> {
    let ev = unwrap_event(doc)?;
    let event_uuid = str_of(ev, "uuid")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| MispError::NotAnEvent("the event has no uuid".into()))?
        .trim()
        .to_string();
    let mut cx = Context::new(ev, &event_uuid, options);
    cx.collect_analyst(ev, &About::Event);
    for a in array(ev, "Attribute") {
        let parent = cx.event_audience.clone();
        cx.attribute(a, &parent, None);
    }
    for o in array(ev, "Object") {
        cx.misp_object(o);
    }
    let parent = cx.event_audience.clone();
    for c in clusters_of(ev) {
        if let Some(id) = cx.cluster(&c, &parent)
            && !cx.event_clusters.contains(&id)
        {
            cx.event_clusters.push(id);
        }
    }
    for r in array(ev, "EventReport") {
        cx.event_report(r);
    }
    cx.relate_clusters();
    cx.relate_objects();
    let event_sightings: Vec<SightingIn> = array(ev, "Sighting")
        .map(|s| SightingIn {
            entry: s.clone(),
            attribute: None,
        })
        .collect();
    cx.sightings.extend(event_sightings);
    cx.convert_sightings();
    cx.convert_analyst();
    // Parts of an event this mapping does not convert are named, never dropped silently.
    for key in NOT_CONVERTED {
        let n = ev.get(*key).and_then(Value::as_array).map_or(0, Vec::len);
        if n > 0 {
            let uuid = cx.event_uuid.clone();
            cx.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    format!("{n} {key} entries of the event are not converted"),
                    format!("事件的 {n} 筆 {key} 項目未轉換"),
                ),
            );
        }
    }
    Ok(cx.finish())
}

/// The longest event report text converted: a stored object is at most
/// `limits::OBJECT_BYTES`, and the note needs room for its other properties. A longer report
/// would refuse its whole event, so it is named and left out instead.
const REPORT_TEXT_BYTES: usize = isac_model::limits::OBJECT_BYTES - 16 * 1024;

/// What an event report's text names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mention {
    Attribute,
    Object,
}

/// The attributes and objects an event report's Markdown names, in order, by lower-case uuid:
/// MISP writes `@[attribute](uuid)` and `@[object](uuid)`, and `@![…](uuid)` for a reference
/// shown as a picture.
fn mentions(text: &str) -> Vec<(Mention, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        rest = &rest[at + 1..];
        let r = rest.strip_prefix('!').unwrap_or(rest);
        let (kind, r) = if let Some(r) = r.strip_prefix("[attribute](") {
            (Mention::Attribute, r)
        } else if let Some(r) = r.strip_prefix("[object](") {
            (Mention::Object, r)
        } else {
            continue;
        };
        if let Some(end) = r.find(')') {
            let uuid = r[..end].trim();
            if uuid::Uuid::parse_str(uuid).is_ok() {
                out.push((kind, uuid.to_ascii_lowercase()));
            }
        }
    }
    out
}

fn unwrap_event(doc: &Value) -> Result<&Map<String, Value>, MispError> {
    let mut v = doc;
    if let Some(r) = v.get("response").and_then(Value::as_array) {
        v = r
            .first()
            .ok_or_else(|| MispError::NotAnEvent("an empty response".into()))?;
    }
    if let Some(e) = v.get("Event") {
        v = e;
    }
    v.as_object()
        .ok_or_else(|| MispError::NotAnEvent("the event is not a JSON object".into()))
}

/// Event parts outside this mapping. Shadow attributes are proposals nobody has accepted yet.
const NOT_CONVERTED: &[&str] = &["CryptographicKey", "ShadowAttribute"];

pub(crate) fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn array<'a>(m: &'a Map<String, Value>, k: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    m.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Value::String(s)) => matches!(s.trim(), "1" | "true" | "True"),
        _ => false,
    }
}

/// Tag names of an element: `Tag: [{name}]`, or `EventTag`/`AttributeTag: [{Tag: {name}}]`.
pub(crate) fn tag_names(m: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = array(m, "Tag")
        .filter_map(|t| str_of(t, "name"))
        .map(str::to_string)
        .collect();
    for k in ["EventTag", "AttributeTag", "ObjectTag"] {
        out.extend(
            array(m, k)
                .filter_map(|t| t.get("Tag").and_then(Value::as_object))
                .filter_map(|t| str_of(t, "name"))
                .map(str::to_string),
        );
    }
    out
}

fn sharing(m: &Map<String, Value>, tags: &[String]) -> Sharing {
    let distribution = Distribution::from_json(m.get("distribution"));
    let sg = m.get("SharingGroup").and_then(Value::as_object);
    let local_id = m.get("sharing_group_id").and_then(|v| match v {
        Value::String(s) if !s.is_empty() && s != "0" => Some(s.clone()),
        Value::Number(n) if n.as_u64() != Some(0) => Some(n.to_string()),
        _ => None,
    });
    // A group is only a recipient the importer can resolve when the data names it (uuid or
    // name); a bare numeric id is local to the source instance.
    let sharing_group = Some(SharingGroupRef {
        uuid: sg.and_then(|g| str_of(g, "uuid")).map(str::to_string),
        name: sg.and_then(|g| str_of(g, "name")).map(str::to_string),
        local_id: local_id.or_else(|| sg.and_then(|g| str_of(g, "id")).map(str::to_string)),
    })
    .filter(|g| g.uuid.is_some() || g.name.is_some());
    Sharing {
        tag_tlp: crate::tlp_of_tags(tags.iter().map(String::as_str)),
        distribution,
        sharing_group,
    }
}

fn undescribed_group(sh: &Sharing) -> Option<(String, String)> {
    (sh.distribution == Some(Distribution::SharingGroup) && sh.sharing_group.is_none()).then(|| {
        (
            "the distribution is a sharing group the data does not describe (no uuid, no name); kept as AMBER with no recipients".to_string(),
            "發布範圍是資料中未描述的分享群組（無 uuid、無名稱）；以 TLP:AMBER 保存，不指定分享對象".to_string(),
        )
    })
}

/// The labels of an element: its tags other than TLP levels, then the tag of every galaxy
/// cluster it carries that its tags lack (MISP tags an element with each of its clusters).
fn labels(holder: &Map<String, Value>, tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .filter(|t| tlp_of_tag(t).is_none())
        .cloned()
        .collect();
    for c in clusters_of(holder) {
        let tag = c.tag_name();
        if !c.value().is_empty() && !truthy(c.cluster.get("deleted")) && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

struct ObjectInfo<'a> {
    name: &'a str,
    uuid: &'a str,
    meta_category: Option<&'a str>,
}

/// A `GalaxyClusterRelation` of a converted cluster.
struct ClusterRelation {
    /// The source cluster's object.
    source: String,
    /// The source cluster's uuid.
    from: String,
    /// The referenced cluster's uuid.
    to: String,
    /// The relation type as MISP gives it.
    kind: String,
    /// The relation's own audience: its distribution (and sharing group) inside its cluster.
    audience: Audience,
}

/// The STIX relationship type of a MISP relation or reference type: lower-cased, spaces and
/// underscores as hyphens (`related_to` → `related-to`).
fn relationship_type_of(misp: &str) -> String {
    misp.to_ascii_lowercase().replace([' ', '_'], "-")
}

/// The wider of two audiences given to one element: the wider TLP with its recipients, or at the
/// same TLP the recipients of either.
fn widest(a: Audience, b: Audience) -> Audience {
    if a.tlp.breadth() > b.tlp.breadth() {
        a
    } else if b.tlp.breadth() > a.tlp.breadth() {
        b
    } else {
        let mut recipients = a.recipients;
        for r in b.recipients {
            if !recipients.contains(&r) {
                recipients.push(r);
            }
        }
        Audience {
            tlp: a.tlp,
            recipients,
        }
    }
}

/// The narrower of two audiences, never wider than either: the narrower TLP with its
/// recipients, or at the same TLP the recipients both name.
fn narrowest(a: Audience, b: Audience) -> Audience {
    if a.tlp.breadth() < b.tlp.breadth() {
        a
    } else if b.tlp.breadth() < a.tlp.breadth() {
        b
    } else {
        let recipients = a
            .recipients
            .into_iter()
            .filter(|r| b.recipients.contains(r))
            .collect();
        Audience {
            tlp: a.tlp,
            recipients,
        }
    }
}

struct Context<'a> {
    event: &'a Map<String, Value>,
    event_uuid: String,
    event_audience: Audience,
    event_ts: DateTime<Utc>,
    report_id: String,
    created_by: Option<String>,
    items: Vec<StixItem>,
    /// SCOs by id, kept once with the narrowest audience they were seen with.
    scos: Vec<StixItem>,
    sco_index: HashMap<String, usize>,
    refs: Vec<String>,
    /// Objects made from galaxy clusters by id, kept once with the widest audience an
    /// occurrence gave them.
    clusters: Vec<StixItem>,
    cluster_index: HashMap<String, usize>,
    /// The ids of the clusters attached to the event itself, in order.
    event_clusters: Vec<String>,
    /// Relationships from attributes' objects to their clusters' objects, and between
    /// clusters' objects.
    relationships: Vec<StixItem>,
    relationship_ids: HashSet<String>,
    /// The object each converted cluster became, by the cluster's MISP uuid.
    cluster_objects: HashMap<String, String>,
    /// Relations between clusters (`GalaxyClusterRelation`), resolved once every cluster is
    /// known.
    cluster_relations: Vec<ClusterRelation>,
    /// The object each converted attribute became, by the attribute's uuid (lower-case).
    attribute_ends: HashMap<String, End>,
    /// The object that stands for each MISP object in its references, by the object's uuid
    /// (lower-case): its first indicator, else its first observation, else its first other
    /// object.
    object_ends: HashMap<String, End>,
    /// The note each converted event report became and its audience, by the report's uuid
    /// (lower-case): what analyst data on the report is about.
    report_ends: HashMap<String, (String, Audience)>,
    /// What each converted analyst entry became and its audience, by its uuid (lower-case):
    /// what analyst data about it is about.
    analyst_ends: HashMap<String, (String, Audience)>,
    /// Object references (`ObjectReference`), resolved once every object is known.
    references: Vec<Reference>,
    /// Sightings, from the event and from its attributes.
    sightings: Vec<SightingIn>,
    /// Sightings and false positives converted, after the relationships.
    sighted: Vec<StixItem>,
    /// Analyst data (notes, opinions, relationships), converted once every element is.
    analyst: Vec<AnalystIn>,
    /// The notes and opinions made from analyst data.
    annotations: Vec<StixItem>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Context<'a> {
    fn new(event: &'a Map<String, Value>, event_uuid: &str, options: &ImportOptions) -> Self {
        let tags = tag_names(event);
        let mut sh = sharing(event, &tags);
        if sh.distribution == Some(Distribution::Inherit) {
            sh.distribution = None;
        }
        let mut diagnostics = Vec::new();
        if let Some((reason, zh)) = undescribed_group(&sh) {
            diagnostics.push(Diagnostic {
                level: Level::Warning,
                event_uuid: Some(event_uuid.to_string()),
                element: Some(event_uuid.to_string()),
                reason,
                reason_zh: Some(zh),
            });
        }
        let event_audience = event_audience(&sh, options.unmarked);
        let event_ts = event
            .get("timestamp")
            .and_then(parse_unix)
            .or_else(|| event.get("date").and_then(parse_date));
        // An event made with PyMISP and never saved to MISP has neither. A fixed time keeps a
        // second import of it a no-op (the import time would make a new version each time).
        if event_ts.is_none() {
            diagnostics.push(Diagnostic {
                level: Level::Warning,
                event_uuid: Some(event_uuid.to_string()),
                element: Some(event_uuid.to_string()),
                reason: "the event has no timestamp and no date: what it holds without a \
                         timestamp of its own is dated 1970-01-01T00:00:00Z, so that importing \
                         it again changes nothing"
                    .into(),
                reason_zh: Some(
                    "事件沒有 timestamp 也沒有 date：其中沒有自身時間的內容一律記為 \
                     1970-01-01T00:00:00Z，再次匯入才不會產生新版本"
                        .into(),
                ),
            });
        }
        let event_ts = event_ts.unwrap_or(DateTime::UNIX_EPOCH);
        let created_by = event
            .get("Orgc")
            .and_then(Value::as_object)
            .and_then(|o| str_of(o, "uuid"))
            .map(|u| stix_id("identity", u));
        Context {
            event,
            report_id: stix_id("report", event_uuid),
            event_uuid: event_uuid.to_string(),
            event_audience,
            event_ts,
            created_by,
            items: Vec::new(),
            scos: Vec::new(),
            sco_index: HashMap::new(),
            refs: Vec::new(),
            clusters: Vec::new(),
            cluster_index: HashMap::new(),
            event_clusters: Vec::new(),
            relationships: Vec::new(),
            relationship_ids: HashSet::new(),
            cluster_objects: HashMap::new(),
            cluster_relations: Vec::new(),
            attribute_ends: HashMap::new(),
            object_ends: HashMap::new(),
            report_ends: HashMap::new(),
            analyst_ends: HashMap::new(),
            references: Vec::new(),
            sightings: Vec::new(),
            sighted: Vec::new(),
            analyst: Vec::new(),
            annotations: Vec::new(),
            diagnostics,
        }
    }

    /// Records a remark, in English and zh-TW.
    fn diag(&mut self, level: Level, element: Option<&str>, (en, zh): (String, String)) {
        self.diagnostics.push(Diagnostic {
            level,
            event_uuid: Some(self.event_uuid.clone()),
            element: element.map(str::to_string),
            reason: en,
            reason_zh: Some(zh),
        });
    }

    /// The audience of element `uuid` inside `parent`: its own TLP tags, distribution and
    /// sharing group narrow the parent's. A sharing group the data does not describe, or one
    /// that is not the parent's, is remarked on.
    fn element_audience(
        &mut self,
        m: &Map<String, Value>,
        tags: &[String],
        parent: &Audience,
        uuid: &str,
    ) -> Audience {
        let sh = sharing(m, tags);
        if let Some(w) = undescribed_group(&sh) {
            self.diag(Level::Warning, Some(uuid), w);
        }
        let (aud, warning) = child_audience(&sh, parent);
        if let Some(w) = warning {
            self.diag(Level::Warning, Some(uuid), w);
        }
        aud
    }

    /// A STIX object made from one MISP element (`<stix_type>--<uuid>`): the common properties,
    /// then `props`, its TLP marking and the MISP details `ext`, with its audience.
    #[allow(clippy::too_many_arguments)]
    fn made_item(
        stix_type: &str,
        uuid: &str,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
        creator: Option<String>,
        props: Map<String, Value>,
        ext: Map<String, Value>,
        aud: Audience,
    ) -> StixItem {
        let mut object = Map::new();
        object.insert("type".into(), stix_type.into());
        object.insert("spec_version".into(), "2.1".into());
        object.insert("id".into(), stix_id(stix_type, uuid).into());
        object.insert("created".into(), format_ts(created).into());
        object.insert("modified".into(), format_ts(modified).into());
        if let Some(c) = creator {
            object.insert("created_by_ref".into(), c.into());
        }
        object.extend(props);
        object.insert(
            "object_marking_refs".into(),
            json!([aud.tlp.marking_id_v2()]),
        );
        object.insert(
            "extensions".into(),
            json!({ MISP_EXTENSION_ID: Value::Object(ext) }),
        );
        StixItem {
            object,
            tlp: aud.tlp,
            recipients: aud.recipients,
        }
    }

    fn misp_object(&mut self, o: &Map<String, Value>) {
        let Some(uuid) = str_of(o, "uuid").filter(|u| !u.trim().is_empty()) else {
            let n = array(o, "Attribute").count();
            self.diag(
                Level::Skipped,
                None,
                (
                    format!("a MISP object without uuid (and its {n} attributes) was not imported"),
                    format!("沒有 uuid 的 MISP 物件（及其 {n} 個屬性）未匯入"),
                ),
            );
            return;
        };
        if truthy(o.get("deleted")) {
            self.diag(
                Level::Skipped,
                Some(uuid),
                (
                    "the MISP object is deleted".into(),
                    "此 MISP 物件已刪除".into(),
                ),
            );
            return;
        }
        let tags = tag_names(o);
        let parent = self.event_audience.clone();
        let aud = self.element_audience(o, &tags, &parent, uuid);
        let info = ObjectInfo {
            name: str_of(o, "name").unwrap_or("misp-object"),
            uuid,
            meta_category: str_of(o, "meta-category"),
        };
        for a in array(o, "Attribute") {
            self.attribute(a, &aud, Some(&info));
        }
        self.collect_analyst(o, &About::Object(uuid.trim().to_ascii_lowercase()));
        for r in array(o, "ObjectReference") {
            self.references.push(Reference {
                object: uuid.trim().to_ascii_lowercase(),
                entry: r.clone(),
            });
        }
    }

    fn attribute(&mut self, a: &Map<String, Value>, parent: &Audience, obj: Option<&ObjectInfo>) {
        let ty = str_of(a, "type").unwrap_or("").trim().to_string();
        let value = match a.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let uuid = match str_of(a, "uuid").filter(|u| !u.trim().is_empty()) {
            Some(u) => u.trim().to_string(),
            None => {
                let u = derived_uuid(&[&self.event_uuid, &ty, &value]).to_string();
                self.diag(
                    Level::Warning,
                    Some(&u),
                    (
                        format!("the {ty} attribute has no uuid; its id is derived from the event uuid, type and value"),
                        format!("{ty} 屬性沒有 uuid；其 id 由事件 uuid、類型與值推導"),
                    ),
                );
                u
            }
        };
        if truthy(a.get("deleted")) {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                ("the attribute is deleted".into(), "此屬性已刪除".into()),
            );
            return;
        }
        if ty.is_empty() || value.trim().is_empty() {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    "the attribute has no type or no value".into(),
                    "此屬性沒有類型或值".into(),
                ),
            );
            return;
        }
        let tags = tag_names(a);
        let aud = self.element_audience(a, &tags, parent, &uuid);
        let ts = a
            .get("timestamp")
            .and_then(parse_unix)
            .unwrap_or(self.event_ts);
        let first_seen = str_of(a, "first_seen").and_then(parse_rfc3339);
        let last_seen = str_of(a, "last_seen").and_then(parse_rfc3339);
        let to_ids = truthy(a.get("to_ids"));
        let comment = str_of(a, "comment").unwrap_or("").trim().to_string();

        let mut ext = Map::new();
        ext.insert("extension_type".into(), "property-extension".into());
        ext.insert("attribute_type".into(), ty.clone().into());
        if let Some(c) = str_of(a, "category") {
            ext.insert("category".into(), c.into());
        }
        ext.insert("value".into(), value.clone().into());
        ext.insert("to_ids".into(), to_ids.into());
        if !comment.is_empty() {
            ext.insert("comment".into(), comment.clone().into());
        }
        if let Some(o) = obj {
            ext.insert("object_name".into(), o.name.into());
            ext.insert("object_uuid".into(), o.uuid.into());
            if let Some(r) = str_of(a, "object_relation") {
                ext.insert("object_relation".into(), r.into());
            }
            if let Some(m) = o.meta_category {
                ext.insert("object_meta_category".into(), m.into());
            }
        }

        let mut base = Map::new();
        base.insert("spec_version".into(), "2.1".into());
        base.insert("created".into(), format_ts(ts).into());
        base.insert("modified".into(), format_ts(ts).into());
        if let Some(c) = &self.created_by {
            base.insert("created_by_ref".into(), c.clone().into());
        }
        let labels = labels(a, &tags);
        if !labels.is_empty() {
            base.insert("labels".into(), json!(labels));
        }

        let kind = match map_attribute(&ty, &value) {
            Ok(k) => k,
            Err(reason) => {
                self.diag(
                    Level::Warning,
                    Some(&uuid),
                    (
                        format!("invalid {ty} value ({reason}); kept as a note"),
                        format!("{ty} 值不正確（{reason}）；保留為註記"),
                    ),
                );
                Kind::Unmapped
            }
        };
        let (stix_type, props): (&str, Value) = match kind {
            Kind::Observable { cmps, .. } if to_ids => {
                let valid_from = first_seen.unwrap_or(ts);
                let mut p = json!({
                    "name": value,
                    "pattern": render(&cmps, "AND"),
                    "pattern_type": "stix",
                    "pattern_version": "2.1",
                    "valid_from": format_ts(valid_from),
                });
                if let Some(l) = last_seen.filter(|l| *l > valid_from) {
                    p["valid_until"] = format_ts(l).into();
                }
                if !comment.is_empty() {
                    p["description"] = comment.clone().into();
                }
                ("indicator", p)
            }
            Kind::Observable { scos, .. } if !scos.is_empty() => {
                let first = first_seen.unwrap_or(ts);
                let last = last_seen.filter(|l| *l >= first).unwrap_or(first);
                let refs: Vec<Value> = scos.iter().map(|s| s["id"].clone()).collect();
                for s in scos {
                    self.add_sco(s, &aud);
                }
                (
                    "observed-data",
                    json!({
                        "first_observed": format_ts(first),
                        "last_observed": format_ts(last),
                        "number_observed": 1,
                        "object_refs": refs,
                    }),
                )
            }
            Kind::Vulnerability => {
                let mut p = json!({ "name": value.trim() });
                let v = value.trim();
                if v.len() > 4 && v[..4].eq_ignore_ascii_case("cve-") {
                    p["external_references"] =
                        json!([{ "source_name": "cve", "external_id": v.to_ascii_uppercase() }]);
                    p["name"] = v.to_ascii_uppercase().into();
                }
                if !comment.is_empty() {
                    p["description"] = comment.clone().into();
                }
                ("vulnerability", p)
            }
            Kind::ThreatActor | Kind::Campaign => {
                let mut p = json!({ "name": value.trim() });
                if !comment.is_empty() {
                    p["description"] = comment.clone().into();
                }
                let t = if matches!(kind, Kind::ThreatActor) {
                    "threat-actor"
                } else {
                    "campaign"
                };
                (t, p)
            }
            Kind::Text => {
                let mut p = json!({ "content": value, "object_refs": [self.report_id] });
                if !comment.is_empty() {
                    p["abstract"] = comment.clone().into();
                }
                ("note", p)
            }
            Kind::Observable { .. } | Kind::Unmapped => {
                let (what, what_zh) = if to_ids {
                    ("indicator", "威脅指標")
                } else {
                    ("observable", "觀察值")
                };
                let abstract_ = format!("MISP {ty} attribute");
                let content = if comment.is_empty() {
                    value.clone()
                } else {
                    format!("{value}\n\n{comment}")
                };
                if matches!(kind, Kind::Observable { .. }) {
                    self.diag(
                        Level::Warning,
                        Some(&uuid),
                        (
                            format!("a {ty} {what} without to_ids has no valid STIX observable; kept as a note"),
                            format!("未設 to_ids 的 {ty} {what_zh}沒有有效的 STIX 可觀察物件；保留為註記"),
                        ),
                    );
                }
                (
                    "note",
                    json!({ "abstract": abstract_, "content": content, "object_refs": [self.report_id] }),
                )
            }
        };
        let mut object = Map::new();
        object.insert("type".into(), stix_type.into());
        object.insert("id".into(), stix_id(stix_type, &uuid).into());
        object.extend(base);
        if let Value::Object(p) = props {
            object.extend(p);
        }
        object.insert(
            "object_marking_refs".into(),
            json!([aud.tlp.marking_id_v2()]),
        );
        object.insert(
            "extensions".into(),
            json!({ MISP_EXTENSION_ID: Value::Object(ext) }),
        );
        let object_id = object["id"].as_str().unwrap_or_default().to_string();
        self.record_end(&uuid, obj.map(|o| o.uuid), &object_id, stix_type, &aud);
        self.collect_analyst(a, &About::Attribute(uuid.to_ascii_lowercase()));
        for s in array(a, "Sighting") {
            self.sightings.push(SightingIn {
                entry: s.clone(),
                attribute: Some(uuid.clone()),
            });
        }
        self.refs.push(object_id.clone());
        self.items.push(StixItem {
            object,
            tlp: aud.tlp,
            recipients: aud.recipients.clone(),
        });
        // Each cluster the attribute carries: its object, and a relationship from the
        // attribute's object to it with the attribute's audience.
        for c in clusters_of(a) {
            if let Some(target) = self.cluster(&c, &aud) {
                self.relationship(&object_id, stix_type, &target, ts, &aud);
            }
        }
    }

    /// An event report (`EventReport`, a Markdown text of the event) becomes a `note`: its
    /// name the `abstract`, its text the `content`, `note--<report uuid>`. It is about the
    /// event, so `object_refs` is the event's report, then the objects of the attributes and
    /// MISP objects its text names (`@[attribute](uuid)`, `@[object](uuid)`) that this event
    /// converted. Its own distribution narrows the event's audience, as an attribute's does.
    /// Called once every attribute and object is converted.
    fn event_report(&mut self, r: &Map<String, Value>) {
        let Some(uuid) = str_of(r, "uuid")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
        else {
            self.diag(
                Level::Skipped,
                None,
                (
                    "an event report without uuid is not converted".into(),
                    "沒有 uuid 的事件報告未轉換".into(),
                ),
            );
            return;
        };
        // Its analyst data is about the note it becomes; where it becomes none, they are named
        // as about an element that was not converted.
        self.collect_analyst(r, &About::EventReport(uuid.to_ascii_lowercase()));
        if truthy(r.get("deleted")) {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    "the event report is deleted".into(),
                    "此事件報告已刪除".into(),
                ),
            );
            return;
        }
        let content = str_of(r, "content").unwrap_or("");
        if content.trim().is_empty() {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    "the event report has no text".into(),
                    "此事件報告沒有內容".into(),
                ),
            );
            return;
        }
        if content.len() > REPORT_TEXT_BYTES {
            let n = content.len();
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    format!("the event report's text ({n} bytes) is larger than one object may be ({REPORT_TEXT_BYTES} bytes); not converted, so that the rest of the event is"),
                    format!("此事件報告的內容（{n} 位元組）超過單一物件的上限（{REPORT_TEXT_BYTES} 位元組）；未轉換，以便匯入事件的其餘部分"),
                ),
            );
            return;
        }
        let parent = self.event_audience.clone();
        let aud = self.element_audience(r, &[], &parent, &uuid);
        let ts = r
            .get("timestamp")
            .and_then(parse_unix)
            .unwrap_or(self.event_ts);
        let mut refs = vec![self.report_id.clone()];
        for (kind, named) in mentions(content) {
            let end = match kind {
                Mention::Attribute => self.attribute_ends.get(&named),
                Mention::Object => self.object_ends.get(&named),
            };
            if let Some(e) = end
                && !refs.contains(&e.id)
            {
                refs.push(e.id.clone());
            }
        }
        let name = str_of(r, "name").map(str::trim).unwrap_or("");
        let mut ext = Map::new();
        ext.insert("extension_type".into(), "property-extension".into());
        ext.insert("event_report_uuid".into(), uuid.clone().into());
        let mut props = Map::new();
        if !name.is_empty() {
            props.insert("abstract".into(), name.into());
        }
        props.insert("content".into(), content.into());
        props.insert("object_refs".into(), json!(refs));
        let item = Self::made_item(
            "note",
            &uuid,
            ts,
            ts,
            self.created_by.clone(),
            props,
            ext,
            aud.clone(),
        );
        self.report_ends
            .insert(uuid.to_ascii_lowercase(), (item.id().to_string(), aud));
        self.refs.push(item.id().to_string());
        self.items.push(item);
    }

    /// The object of one galaxy cluster attached to an element with audience `parent`; `None`
    /// (with a diagnostic) when the cluster is not converted. A cluster has its own
    /// distribution, which narrows the parent's audience as an attribute's does; of several
    /// occurrences in one event, the widest audience is kept, since each of them shows the
    /// cluster to its own audience.
    fn cluster(&mut self, c: &ClusterIn, parent: &Audience) -> Option<String> {
        let value = c.value().to_string();
        let uuid = match str_of(c.cluster, "uuid").filter(|u| !u.trim().is_empty()) {
            Some(u) => u.trim().to_string(),
            None => {
                let u = derived_uuid(&["galaxy-cluster", &c.galaxy_type, &value]).to_string();
                self.diag(
                    Level::Warning,
                    Some(&u),
                    (
                        format!("the {} galaxy cluster \"{value}\" has no uuid; its id is derived from its type and value", c.galaxy_type),
                        format!("{} galaxy 叢集「{value}」沒有 uuid；其 id 由類型與值推導", c.galaxy_type),
                    ),
                );
                u
            }
        };
        if truthy(c.cluster.get("deleted")) {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    format!(
                        "the {} galaxy cluster \"{value}\" is deleted",
                        c.galaxy_type
                    ),
                    format!("{} galaxy 叢集「{value}」已刪除", c.galaxy_type),
                ),
            );
            return None;
        }
        if value.is_empty() {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    format!(
                        "a {} galaxy cluster without value is not converted",
                        c.galaxy_type
                    ),
                    format!("沒有值的 {} galaxy 叢集未轉換", c.galaxy_type),
                ),
            );
            return None;
        }
        let object = match galaxy::build(
            c,
            &uuid,
            &galaxy::object_uuid(&self.event_uuid, c.cluster, &uuid),
        ) {
            Built::Object(o) => o,
            Built::Unmapped => {
                self.diag(
                    Level::Skipped,
                    Some(&uuid),
                    (
                        format!(
                            "galaxy type `{}` has no STIX mapping; the cluster \"{value}\" stays a label",
                            c.galaxy_type
                        ),
                        format!(
                            "galaxy 類型 `{}` 沒有對應的 STIX 類型；叢集「{value}」保留為標籤",
                            c.galaxy_type
                        ),
                    ),
                );
                return None;
            }
            Built::Invalid(reason) => {
                self.diag(
                    Level::Skipped,
                    Some(&uuid),
                    (
                        format!(
                            "the {} galaxy cluster \"{value}\" is not converted ({reason}); it stays a label",
                            c.galaxy_type
                        ),
                        format!(
                            "{} galaxy 叢集「{value}」未轉換（{reason}）；保留為標籤",
                            c.galaxy_type
                        ),
                    ),
                );
                return None;
            }
        };
        let aud = self.element_audience(c.cluster, &[], parent, &uuid);
        let id = object["id"].as_str().unwrap_or_default().to_string();
        // A relation is an element of its cluster: its own distribution narrows it further.
        for r in array(c.cluster, "GalaxyClusterRelation") {
            if let (Some(to), Some(rt)) = (
                str_of(r, "referenced_galaxy_cluster_uuid"),
                str_of(r, "referenced_galaxy_cluster_type"),
            ) {
                let (audience, warning) = child_audience(&sharing(r, &tag_names(r)), &aud);
                if let Some(w) = warning {
                    self.diag(Level::Warning, Some(&uuid), w);
                }
                self.cluster_relations.push(ClusterRelation {
                    source: id.clone(),
                    from: uuid.clone(),
                    to: to.trim().to_string(),
                    kind: rt.trim().to_string(),
                    audience,
                });
            }
        }
        match self.cluster_index.get(&id) {
            Some(&i) => {
                let have = &mut self.clusters[i];
                let held = Audience {
                    tlp: have.tlp,
                    recipients: std::mem::take(&mut have.recipients),
                };
                let Audience { tlp, recipients } = widest(held, aud);
                have.tlp = tlp;
                have.recipients = recipients;
                have.object
                    .insert("object_marking_refs".into(), json!([tlp.marking_id_v2()]));
            }
            None => {
                let mut object = object;
                object.insert(
                    "object_marking_refs".into(),
                    json!([aud.tlp.marking_id_v2()]),
                );
                self.cluster_index.insert(id.clone(), self.clusters.len());
                self.clusters.push(StixItem {
                    object,
                    tlp: aud.tlp,
                    recipients: aud.recipients,
                });
            }
        }
        self.cluster_objects.insert(uuid.clone(), id.clone());
        Some(id)
    }

    /// The relationship from an attribute's object to the object of one of its clusters.
    fn relationship(
        &mut self,
        source: &str,
        source_type: &str,
        target: &str,
        ts: DateTime<Utc>,
        aud: &Audience,
    ) {
        let target_type = target.split("--").next().unwrap_or_default();
        let rt = galaxy::relationship_type(source_type, target_type);
        self.add_relationship(source, rt, target, ts, aud);
    }

    /// Relations between clusters become relationships between their objects when both
    /// clusters were converted in this event; the others are named. The relationship takes the
    /// narrowest audience of its two ends and the relation itself, so it is never shown where
    /// one end is not, nor wider than MISP shared the relation.
    fn relate_clusters(&mut self) {
        // A cluster carried twice (on the event and on an attribute) carries its relations
        // twice: each relation is kept once, with the widest audience it was given, as the
        // cluster is.
        let mut relations: Vec<ClusterRelation> = Vec::new();
        for r in std::mem::take(&mut self.cluster_relations) {
            match relations
                .iter_mut()
                .find(|k| (&k.source, &k.to, &k.kind) == (&r.source, &r.to, &r.kind))
            {
                Some(k) => k.audience = widest(k.audience.clone(), r.audience),
                None => relations.push(r),
            }
        }
        for ClusterRelation {
            source,
            from,
            to,
            kind: rt,
            audience,
        } in relations
        {
            let Some(target) = self.cluster_objects.get(&to).cloned() else {
                self.diag(
                    Level::Skipped,
                    Some(&from),
                    (
                        format!("the `{rt}` relation to galaxy cluster {to} is not converted: that cluster is not in the event"),
                        format!("與 galaxy 叢集 {to} 的 `{rt}` 關係未轉換：該叢集不在此事件中"),
                    ),
                );
                continue;
            };
            let kind = relationship_type_of(&rt);
            if !isac_stix::syntax::is_relationship_type(&kind) {
                self.diag(
                    Level::Skipped,
                    Some(&from),
                    (
                        format!("the `{rt}` relation to galaxy cluster {to} is not converted: `{kind}` is not a STIX relationship type"),
                        format!("與 galaxy 叢集 {to} 的 `{rt}` 關係未轉換：`{kind}` 不是 STIX 關聯類型"),
                    ),
                );
                continue;
            }
            let ends = [&source, &target].map(|id| {
                self.cluster_index.get(id.as_str()).map(|&i| Audience {
                    tlp: self.clusters[i].tlp,
                    recipients: self.clusters[i].recipients.clone(),
                })
            });
            let [Some(s_aud), Some(t_aud)] = ends else {
                continue;
            };
            let aud = narrowest(narrowest(s_aud, t_aud), audience);
            let ts = self.event_ts;
            self.add_relationship(&source, &kind, &target, ts, &aud);
        }
    }

    /// A relationship of `rt` from `source` to `target`, once per event.
    fn add_relationship(
        &mut self,
        source: &str,
        rt: &str,
        target: &str,
        ts: DateTime<Utc>,
        aud: &Audience,
    ) {
        let id = galaxy::relationship_id(source, rt, target);
        self.push_relationship(id, source, rt, target, ts, aud);
    }

    /// The relationship `id` of `rt` from `source` to `target`, unless the event already gave
    /// one with that id; the new relationship, for further properties.
    fn push_relationship(
        &mut self,
        id: String,
        source: &str,
        rt: &str,
        target: &str,
        ts: DateTime<Utc>,
        aud: &Audience,
    ) -> Option<&mut Map<String, Value>> {
        if !self.relationship_ids.insert(id.clone()) {
            return None;
        }
        let mut object = Map::new();
        object.insert("type".into(), "relationship".into());
        object.insert("spec_version".into(), "2.1".into());
        object.insert("id".into(), id.into());
        object.insert("created".into(), format_ts(ts).into());
        object.insert("modified".into(), format_ts(ts).into());
        object.insert("relationship_type".into(), rt.into());
        object.insert("source_ref".into(), source.into());
        object.insert("target_ref".into(), target.into());
        object.insert(
            "object_marking_refs".into(),
            json!([aud.tlp.marking_id_v2()]),
        );
        if let Some(c) = &self.created_by {
            object.insert("created_by_ref".into(), c.clone().into());
        }
        self.relationships.push(StixItem {
            object,
            tlp: aud.tlp,
            recipients: aud.recipients.clone(),
        });
        self.relationships.last_mut().map(|r| &mut r.object)
    }

    fn add_sco(&mut self, mut sco: Map<String, Value>, aud: &Audience) {
        let id = sco["id"].as_str().unwrap_or_default().to_string();
        match self.sco_index.get(&id) {
            Some(&i) => {
                let have = &mut self.scos[i];
                let tlp = narrower(have.tlp, aud.tlp);
                if have.recipients != aud.recipients {
                    // Seen with two different recipient lists: keep only what both allow.
                    have.recipients.retain(|r| aud.recipients.contains(r));
                }
                have.tlp = tlp;
                have.object
                    .insert("object_marking_refs".into(), json!([tlp.marking_id_v2()]));
            }
            None => {
                sco.insert(
                    "object_marking_refs".into(),
                    json!([aud.tlp.marking_id_v2()]),
                );
                self.sco_index.insert(id.clone(), self.scos.len());
                self.scos.push(StixItem {
                    object: sco,
                    tlp: aud.tlp,
                    recipients: aud.recipients.clone(),
                });
                self.refs.push(id);
            }
        }
    }

    fn finish(mut self) -> Import {
        let ev = self.event;
        let tags = tag_names(ev);
        let published_ts = ev
            .get("publish_timestamp")
            .and_then(parse_unix)
            .filter(|t| t.timestamp() > 0 && truthy(ev.get("published")));
        let date = ev.get("date").and_then(parse_date);
        let published = published_ts.or(date).unwrap_or(self.event_ts);
        let created = date.map(|d| d.min(self.event_ts)).unwrap_or(self.event_ts);
        let info = str_of(ev, "info")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("MISP event {}", self.event_uuid));

        let mut refs = self.refs.clone();
        refs.extend(self.relationships.iter().map(|r| r.id().to_string()));
        refs.extend(self.event_clusters.iter().cloned());
        if refs.is_empty()
            && let Some(c) = &self.created_by
        {
            refs.push(c.clone());
        }
        let mut ext = Map::new();
        ext.insert("extension_type".into(), "property-extension".into());
        ext.insert("event_uuid".into(), self.event_uuid.clone().into());
        for k in ["info", "threat_level_id", "analysis", "date"] {
            if let Some(v) = ev.get(k).filter(|v| !v.is_null()) {
                let v = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                ext.insert(k.into(), v.into());
            }
        }
        if let Some(o) = ev.get("Orgc").and_then(Value::as_object) {
            if let Some(u) = str_of(o, "uuid") {
                ext.insert("orgc_uuid".into(), u.into());
            }
            if let Some(n) = str_of(o, "name") {
                ext.insert("orgc_name".into(), n.into());
            }
        }
        let mut report = json!({
            "type": "report",
            "spec_version": "2.1",
            "id": self.report_id,
            "created": format_ts(created),
            "modified": format_ts(self.event_ts.max(created)),
            "name": info,
            "report_types": ["threat-report"],
            "published": format_ts(published),
            "object_refs": refs,
            "external_references": [{ "source_name": "misp", "external_id": self.event_uuid }],
            "object_marking_refs": [self.event_audience.tlp.marking_id_v2()],
            "extensions": { MISP_EXTENSION_ID: Value::Object(ext) },
        });
        if let Some(c) = &self.created_by {
            report["created_by_ref"] = c.clone().into();
        }
        let labels = labels(ev, &tags);
        if !labels.is_empty() {
            report["labels"] = json!(labels);
        }
        let mut objects = Vec::with_capacity(
            self.items.len() + self.scos.len() + self.clusters.len() + self.relationships.len() + 2,
        );
        if refs.is_empty() {
            self.diag(
                Level::Skipped,
                Some(&self.event_uuid.clone()),
                (
                    "the event has no attributes and no creator organisation, so no report can refer to anything".into(),
                    "事件沒有屬性也沒有建立機構，因此報告沒有可參照的內容".into(),
                ),
            );
        } else if let Value::Object(r) = report {
            objects.push(StixItem {
                object: r,
                tlp: self.event_audience.tlp,
                recipients: self.event_audience.recipients.clone(),
            });
        }
        objects.extend(self.items);
        objects.extend(self.scos);
        objects.extend(self.clusters);
        objects.extend(self.relationships);
        objects.extend(self.sighted);
        objects.extend(self.annotations);
        for object in [misp_extension_definition(), isac_identity()] {
            objects.push(StixItem {
                object,
                tlp: Tlp::Clear,
                recipients: Vec::new(),
            });
        }
        Import {
            event_uuid: self.event_uuid,
            audience: self.event_audience,
            objects,
            diagnostics: self.diagnostics,
        }
    }
}
