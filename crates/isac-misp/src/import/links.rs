//! The links between an event's elements: object references (`ObjectReference`) become
//! relationships, sightings become STIX sightings, and false-positive sightings opinions.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use isac_model::Tlp;
use serde_json::{Map, Value, json};

use super::{Context, narrowest, relationship_type_of, str_of, truthy};
use crate::audience::Audience;
use crate::galaxy;
use crate::ids::{derived_uuid, format_ts, parse_rfc3339, parse_unix, stix_id};
use crate::{Level, MISP_EXTENSION_ID};

/// The STIX object that stands for an attribute or a MISP object in links, with its audience.
#[derive(Debug, Clone)]
pub(super) struct End {
    pub id: String,
    /// Which object stands for a MISP object: the lowest rank, then the first.
    rank: u8,
    pub audience: Audience,
}

/// An `ObjectReference` of the MISP object `object` (its uuid, lower-case).
pub(super) struct Reference {
    pub object: String,
    pub entry: Map<String, Value>,
}

/// A `Sighting` entry, from the event's list (which names its attribute) or from an attribute's
/// own list (`attribute`).
pub(super) struct SightingIn {
    pub entry: Map<String, Value>,
    pub attribute: Option<String>,
}

/// An indicator stands for its MISP object before an observation, and both before a
/// vulnerability, threat actor or campaign; a note comes last. A `file` object with a hash, a
/// name and a size is thus represented by the indicator of its hash, not by the note of its size.
fn rank(stix_type: &str) -> u8 {
    match stix_type {
        "indicator" => 0,
        "observed-data" => 1,
        "note" => 3,
        _ => 2,
    }
}

/// MISP sighting types: 0 a sighting, 1 a false positive, 2 an expiration. Absent is 0.
fn sighting_type(v: Option<&Value>) -> Option<u64> {
    match v {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if s.trim().is_empty() => Some(0),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A trimmed, non-empty text property.
pub(super) fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    str_of(m, k)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Context<'_> {
    /// Records the object an attribute became, and whether it now stands for its MISP object.
    pub(super) fn record_end(
        &mut self,
        attribute: &str,
        object: Option<&str>,
        id: &str,
        stix_type: &str,
        audience: &Audience,
    ) {
        let end = End {
            id: id.to_string(),
            rank: rank(stix_type),
            audience: audience.clone(),
        };
        if let Some(o) = object {
            let key = o.trim().to_ascii_lowercase();
            if self.object_ends.get(&key).is_none_or(|e| end.rank < e.rank) {
                self.object_ends.insert(key, end.clone());
            }
        }
        self.attribute_ends
            .insert(attribute.trim().to_ascii_lowercase(), end);
    }

    /// Each object reference becomes a relationship from the object standing for its MISP
    /// object to the one standing for the element it names (a MISP object or an attribute of
    /// the event). The MISP relationship type is the relationship type, lower-cased with
    /// hyphens. A reference has no audience of its own in MISP (it is seen with its object), so
    /// the relationship takes the narrower of its two ends and is never shown where one of them
    /// is not. The reference's uuid is the relationship's, so importing again gives the same
    /// relationship.
    pub(super) fn relate_objects(&mut self) {
        for Reference { object, entry } in std::mem::take(&mut self.references) {
            let uuid = text(&entry, "uuid");
            let element = uuid.clone().unwrap_or_else(|| object.clone());
            let referenced = text(&entry, "referenced_uuid")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let rt = text(&entry, "relationship_type").unwrap_or_default();
            if truthy(entry.get("deleted")) {
                self.diag(
                    Level::Skipped,
                    Some(&element),
                    (
                        format!("the `{rt}` object reference is deleted"),
                        format!("`{rt}` 物件參照已刪除"),
                    ),
                );
                continue;
            }
            let Some(source) = self.object_ends.get(&object).cloned() else {
                self.diag(
                    Level::Skipped,
                    Some(&element),
                    (
                        format!("the `{rt}` object reference is not converted: its MISP object {object} has no converted attribute"),
                        format!("`{rt}` 物件參照未轉換：其 MISP 物件 {object} 沒有已轉換的屬性"),
                    ),
                );
                continue;
            };
            let target = self
                .object_ends
                .get(&referenced)
                .or_else(|| self.attribute_ends.get(&referenced))
                .cloned();
            let Some(target) = target else {
                self.diag(
                    Level::Skipped,
                    Some(&element),
                    (
                        format!("the `{rt}` object reference to {referenced} is not converted: no converted object or attribute of the event has that uuid"),
                        format!("指向 {referenced} 的 `{rt}` 物件參照未轉換：事件中沒有此 uuid 的已轉換物件或屬性"),
                    ),
                );
                continue;
            };
            let kind = relationship_type_of(&rt);
            if !isac_stix::syntax::is_relationship_type(&kind) {
                self.diag(
                    Level::Skipped,
                    Some(&element),
                    (
                        format!("the `{rt}` object reference to {referenced} is not converted: `{kind}` is not a STIX relationship type"),
                        format!("指向 {referenced} 的 `{rt}` 物件參照未轉換：`{kind}` 不是 STIX 關聯類型"),
                    ),
                );
                continue;
            }
            if source.id == target.id {
                self.diag(
                    Level::Skipped,
                    Some(&element),
                    (
                        format!("the `{rt}` object reference to {referenced} is not converted: both of its ends stand for the same STIX object"),
                        format!("指向 {referenced} 的 `{rt}` 物件參照未轉換：兩端代表同一個 STIX 物件"),
                    ),
                );
                continue;
            }
            let audience = narrowest(source.audience, target.audience);
            let ts = entry
                .get("timestamp")
                .and_then(parse_unix)
                .unwrap_or(self.event_ts);
            let id = match &uuid {
                Some(u) => stix_id("relationship", u),
                None => galaxy::relationship_id(&source.id, &kind, &target.id),
            };
            let mut ext = Map::new();
            ext.insert("extension_type".into(), "property-extension".into());
            ext.insert("object_uuid".into(), object.clone().into());
            ext.insert("referenced_uuid".into(), referenced.into());
            let comment = text(&entry, "comment");
            if let Some(r) =
                self.push_relationship(id, &source.id, &kind, &target.id, ts, &audience)
            {
                if let Some(c) = comment {
                    r.insert("description".into(), c.into());
                }
                r.insert(
                    "extensions".into(),
                    json!({ MISP_EXTENSION_ID: Value::Object(ext) }),
                );
            }
        }
    }

    /// An expiration sighting (type 2) by the event's own organisation says that its indicator
    /// stops being valid then: the time becomes the indicator's `valid_until` (the earliest
    /// such time, and only one after `valid_from`). One by another organisation is that
    /// organisation's statement about someone else's indicator, shown in MISP by the sighting
    /// policy rather than to the indicator's audience: it is named, not converted, as are
    /// expirations of attributes that became no indicator.
    fn expire(
        &mut self,
        uuid: &str,
        attribute: &str,
        end: &End,
        org: Option<&str>,
        ts: DateTime<Utc>,
    ) {
        let creator = self
            .event
            .get("Orgc")
            .and_then(Value::as_object)
            .and_then(|o| text(o, "uuid"));
        let own =
            matches!((org, creator.as_deref()), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        let why = if !own {
            Some((
                "it is not by the event's own organisation",
                "它不是事件建立組織所加",
            ))
        } else {
            match self.items.iter_mut().find(|i| i.id() == end.id) {
                Some(i) if i.stix_type() == "indicator" => {
                    let o = &mut i.object;
                    let from = str_of(o, "valid_from").and_then(parse_rfc3339);
                    let until = str_of(o, "valid_until").and_then(parse_rfc3339);
                    if from.is_some_and(|f| ts <= f) {
                        Some((
                            "it is not after the indicator's valid_from",
                            "它不晚於威脅指標的 valid_from",
                        ))
                    } else {
                        if until.is_none_or(|u| ts < u) {
                            o.insert("valid_until".into(), format_ts(ts).into());
                        }
                        None
                    }
                }
                _ => Some(("the attribute became no indicator", "該屬性未轉為威脅指標")),
            }
        };
        if let Some((en, zh)) = why {
            self.diag(
                Level::Skipped,
                Some(uuid),
                (
                    format!(
                        "the expiration sighting of attribute {attribute} is not converted: {en}"
                    ),
                    format!("屬性 {attribute} 的失效目擊紀錄未轉換：{zh}"),
                ),
            );
        }
    }

    /// Each sighting of a converted attribute becomes a STIX `sighting` of the attribute's
    /// object, and each false positive an `opinion` (`strongly-disagree`) on it; an expiration
    /// by the event's own organisation becomes its indicator's `valid_until` ([`Self::expire`]).
    ///
    /// A sighting says which organisation saw the indicator, which members of a sector must not
    /// learn of each other (DESIGN §6: members see counts, never each other's names). MISP
    /// shows sightings by an instance-wide policy, not by the event's distribution, and its
    /// default shows them to the event's creator only. So a sighting is AMBER+STRICT with no
    /// recipients (the importing organisation and the ISAC), and never wider than its attribute;
    /// the owner may widen it. The organisation is kept in the MISP details, not as
    /// `where_sighted_refs`: MISP organisations become no identity objects (an organisation has
    /// no timestamp in MISP), and a connection to an object that is not stored is hidden from
    /// everyone.
    pub(super) fn convert_sightings(&mut self) {
        let mut seen = HashSet::new();
        for SightingIn { entry, attribute } in std::mem::take(&mut self.sightings) {
            let attribute = attribute
                .or_else(|| text(&entry, "attribute_uuid"))
                .unwrap_or_default();
            let org = entry.get("Organisation").and_then(Value::as_object);
            let org_uuid = org.and_then(|o| text(o, "uuid"));
            let org_name = org.and_then(|o| text(o, "name"));
            let kind = sighting_type(entry.get("type"));
            let ts = entry
                .get("date_sighting")
                .and_then(parse_unix)
                .or_else(|| entry.get("timestamp").and_then(parse_unix))
                .unwrap_or(self.event_ts);
            let uuid = text(&entry, "uuid").unwrap_or_else(|| {
                derived_uuid(&[
                    "sighting",
                    &attribute.to_ascii_lowercase(),
                    org_uuid.as_deref().unwrap_or_default(),
                    &ts.timestamp().to_string(),
                    &kind.map(|k| k.to_string()).unwrap_or_default(),
                ])
                .to_string()
            });
            if !seen.insert(uuid.to_ascii_lowercase()) {
                continue;
            }
            let Some(end) = self
                .attribute_ends
                .get(&attribute.to_ascii_lowercase())
                .cloned()
            else {
                self.diag(
                    Level::Skipped,
                    Some(&uuid),
                    (
                        format!("the sighting of attribute {attribute} is not converted: that attribute was not converted"),
                        format!("屬性 {attribute} 的目擊紀錄未轉換：該屬性未轉換"),
                    ),
                );
                continue;
            };
            let (stix_type, props) = match kind {
                Some(0) => (
                    "sighting",
                    json!({
                        "first_seen": format_ts(ts),
                        "last_seen": format_ts(ts),
                        "count": 1,
                        "sighting_of_ref": end.id,
                    }),
                ),
                Some(1) => {
                    let mut p = json!({
                        "opinion": "strongly-disagree",
                        "explanation": "False positive (a MISP sighting of type 1)",
                        "object_refs": [end.id],
                    });
                    if let Some(n) = &org_name {
                        p["authors"] = json!([n]);
                    }
                    ("opinion", p)
                }
                Some(2) => {
                    self.expire(&uuid, &attribute, &end, org_uuid.as_deref(), ts);
                    continue;
                }
                _ => {
                    self.diag(
                        Level::Skipped,
                        Some(&uuid),
                        (
                            format!("the sighting of attribute {attribute} has an unknown type; not converted"),
                            format!("屬性 {attribute} 的目擊紀錄類型不明；未轉換"),
                        ),
                    );
                    continue;
                }
            };
            let audience = narrowest(
                end.audience,
                Audience {
                    tlp: Tlp::AmberStrict,
                    recipients: Vec::new(),
                },
            );
            let mut ext = Map::new();
            ext.insert("extension_type".into(), "property-extension".into());
            ext.insert(
                "sighting_type".into(),
                kind.unwrap_or_default().to_string().into(),
            );
            ext.insert("attribute_uuid".into(), attribute.clone().into());
            if let Some(s) = text(&entry, "source") {
                ext.insert("source".into(), s.into());
            }
            if let Some(u) = &org_uuid {
                ext.insert("org_uuid".into(), u.clone().into());
            }
            if let Some(n) = &org_name {
                ext.insert("org_name".into(), n.clone().into());
            }
            let creator = org_uuid
                .as_deref()
                .map(|u| stix_id("identity", u))
                .or_else(|| self.created_by.clone());
            let Value::Object(props) = props else {
                unreachable!("sighting properties are an object")
            };
            self.sighted.push(Self::made_item(
                stix_type, &uuid, ts, ts, creator, props, ext, audience,
            ));
        }
    }
}
