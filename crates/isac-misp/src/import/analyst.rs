//! MISP analyst data (MISP 2.5): an analyst's `Note`, `Opinion` or `Relationship` on the event,
//! an attribute, a MISP object, an event report or other analyst data. A note becomes a STIX
//! `note`, an opinion an `opinion`, and a relationship a `relationship`, each about the object
//! its element became.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::links::text;
use super::{Context, narrowest, relationship_type_of, str_of, truthy};
use crate::audience::Audience;
use crate::ids::{format_ts, parse_rfc3339, parse_unix, stix_id};
use crate::{Level, MISP_EXTENSION_ID};

/// The three kinds of analyst data, by their key in MISP's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Note,
    Opinion,
    Relationship,
}

impl Kind {
    pub const ALL: [(Kind, &'static str); 3] = [
        (Kind::Note, "Note"),
        (Kind::Opinion, "Opinion"),
        (Kind::Relationship, "Relationship"),
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Note => "note",
            Kind::Opinion => "opinion",
            Kind::Relationship => "relationship",
        }
    }

    fn name_zh(self) -> &'static str {
        match self {
            Kind::Note => "分析備註",
            Kind::Opinion => "分析意見",
            Kind::Relationship => "分析關係",
        }
    }
}

/// What analyst data is about: the event, or an attribute, MISP object or event report by uuid
/// (lower-case).
#[derive(Debug, Clone)]
pub(super) enum About {
    Event,
    Attribute(String),
    Object(String),
    EventReport(String),
    /// Analyst data converted before: the id of what it became, and its audience.
    Analyst(String, Audience),
    /// Analyst data named by its uuid (lower-case), converted before or later in the event.
    AnalystUuid(String),
}

pub(super) struct AnalystIn {
    pub kind: Kind,
    pub entry: Map<String, Value>,
    pub about: About,
}

/// A MISP opinion (0 to 100, 50 neutral) in the STIX opinion vocabulary, by fifths.
pub(crate) fn opinion_of(v: Option<&Value>) -> Option<&'static str> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !(0.0..=100.0).contains(&n) {
        return None;
    }
    Some(match n {
        n if n <= 20.0 => "strongly-disagree",
        n if n <= 40.0 => "disagree",
        n if n <= 60.0 => "neutral",
        n if n <= 80.0 => "agree",
        _ => "strongly-agree",
    })
}

/// MISP writes analyst data times as `YYYY-MM-DD HH:MM:SS` (UTC); unix seconds and RFC 3339 are
/// read too.
fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    parse_unix(v).or_else(|| {
        let s = v.as_str()?.trim();
        parse_rfc3339(s).or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
    })
}

/// The analyst entries an element or an entry holds (`Note`, `Opinion`, `Relationship`), with
/// their kinds.
fn nested_of(entry: &Map<String, Value>) -> Vec<(Kind, Map<String, Value>)> {
    Kind::ALL
        .iter()
        .flat_map(|(k, key)| {
            entry
                .get(*key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(|e| (*k, e.clone()))
        })
        .collect()
}

impl Context<'_> {
    /// Queues the analyst data of one element. An entry whose `object_type` is itself analyst
    /// data (`Note`, `Opinion`, `Relationship`) is about that entry, by its `object_uuid`:
    /// PyMISP lists analyst data about analyst data on the element that holds them all.
    pub(super) fn collect_analyst(&mut self, holder: &Map<String, Value>, about: &About) {
        for (kind, entry) in nested_of(holder) {
            let about_analyst = Kind::ALL
                .iter()
                .any(|(_, k)| text(&entry, "object_type").as_deref() == Some(*k));
            let about = match text(&entry, "object_uuid") {
                Some(u) if about_analyst => About::AnalystUuid(u.to_ascii_lowercase()),
                _ => about.clone(),
            };
            self.analyst.push(AnalystIn { kind, entry, about });
        }
    }

    /// The object an element became and its audience.
    fn about(&self, about: &About) -> Option<(String, Audience)> {
        match about {
            About::Event => Some((self.report_id.clone(), self.event_audience.clone())),
            About::Attribute(u) => self
                .attribute_ends
                .get(u)
                .map(|e| (e.id.clone(), e.audience.clone())),
            About::Object(u) => self
                .object_ends
                .get(u)
                .map(|e| (e.id.clone(), e.audience.clone())),
            About::EventReport(u) => self.report_ends.get(u).cloned(),
            About::Analyst(id, aud) => Some((id.clone(), aud.clone())),
            About::AnalystUuid(u) => self.analyst_ends.get(u).cloned(),
        }
    }

    /// Converts the queued analyst data, once every element is converted. Its own distribution
    /// narrows the audience of what it is about, as an attribute's narrows its event's; a
    /// relationship is never wider than either end. Analyst data about analyst data (MISP nests
    /// it in the entry it is about) is converted after that entry, about what it became, and
    /// never wider; where that entry is not converted, it is named.
    pub(super) fn convert_analyst(&mut self) {
        // Each entry is taken once from `ready`; one about analyst data not converted yet waits
        // under that entry's uuid and is released when it is converted, so a long chain costs
        // no more than its length.
        let mut ready: std::collections::VecDeque<AnalystIn> =
            std::mem::take(&mut self.analyst).into();
        let mut waiting: std::collections::HashMap<String, Vec<AnalystIn>> =
            std::collections::HashMap::new();
        while let Some(a) = ready.pop_front() {
            if let About::AnalystUuid(u) = &a.about
                && !self.analyst_ends.contains_key(u)
            {
                waiting.entry(u.clone()).or_default().push(a);
                continue;
            }
            let AnalystIn { kind, entry, about } = a;
            let nested = nested_of(&entry);
            let uuid = text(&entry, "uuid");
            match self.convert_entry(kind, entry, &about) {
                Some((id, aud)) => {
                    for (k, e) in nested {
                        ready.push_back(AnalystIn {
                            kind: k,
                            entry: e,
                            about: About::Analyst(id.clone(), aud.clone()),
                        });
                    }
                    if let Some(u) = uuid.map(|u| u.to_ascii_lowercase()) {
                        ready.extend(waiting.remove(&u).unwrap_or_default());
                        self.analyst_ends.insert(u, (id, aud));
                    }
                }
                None => self.nested_not_converted(kind, uuid.as_deref(), nested.len()),
            }
        }
        // What still waits is about analyst data that is not converted (or about each other).
        let mut left: Vec<AnalystIn> = waiting.into_values().flatten().collect();
        left.sort_by_key(|a| text(&a.entry, "uuid"));
        for AnalystIn { kind, entry, about } in left {
            let nested = nested_of(&entry).len();
            let uuid = text(&entry, "uuid");
            self.convert_entry(kind, entry, &about);
            self.nested_not_converted(kind, uuid.as_deref(), nested);
        }
    }

    /// Names the `n` analyst entries nested in an entry that is not converted.
    fn nested_not_converted(&mut self, kind: Kind, uuid: Option<&str>, n: usize) {
        if n == 0 {
            return;
        }
        self.diag(
            Level::Skipped,
            uuid,
            (
                format!(
                    "{n} analyst entries about this analyst {} are not converted, as it is not",
                    kind.name()
                ),
                format!(
                    "此{}未轉換，關於它的 {n} 筆分析資料亦未轉換",
                    kind.name_zh()
                ),
            ),
        );
    }

    /// One analyst entry about `about`: the id and audience of what it became, or `None` (with
    /// a diagnostic) when it is not converted.
    fn convert_entry(
        &mut self,
        kind: Kind,
        entry: Map<String, Value>,
        about: &About,
    ) -> Option<(String, Audience)> {
        let Some(uuid) = text(&entry, "uuid") else {
            self.diag(
                Level::Skipped,
                None,
                (
                    format!("an analyst {} without uuid is not converted", kind.name()),
                    format!("沒有 uuid 的{}未轉換", kind.name_zh()),
                ),
            );
            return None;
        };
        if truthy(entry.get("deleted")) {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    format!("the analyst {} is deleted", kind.name()),
                    format!("此{}已刪除", kind.name_zh()),
                ),
            );
            return None;
        }
        let Some((target, parent)) = self.about(about) else {
            self.diag(
                Level::Skipped,
                Some(&uuid),
                (
                    format!(
                        "the analyst {} is about an element that was not converted",
                        kind.name()
                    ),
                    format!("此{}所關於的元素未轉換", kind.name_zh()),
                ),
            );
            return None;
        };
        let aud = self.element_audience(&entry, &[], &parent, &uuid);
        let created = time_of(entry.get("created")).unwrap_or(self.event_ts);
        let modified = time_of(entry.get("modified"))
            .filter(|m| *m >= created)
            .unwrap_or(created);
        let authors: Vec<String> = text(&entry, "authors").into_iter().collect();
        let mut ext = Map::new();
        ext.insert("extension_type".into(), "property-extension".into());
        ext.insert("analyst_type".into(), kind.name().into());
        if let Some(t) = text(&entry, "object_type") {
            ext.insert("object_type".into(), t.into());
        }
        if let Some(o) = entry.get("Orgc").and_then(Value::as_object) {
            if let Some(u) = text(o, "uuid") {
                ext.insert("org_uuid".into(), u.into());
            }
            if let Some(n) = text(o, "name") {
                ext.insert("org_name".into(), n.into());
            }
        }
        let (stix_type, props) = match kind {
            Kind::Note => {
                let Some(note) = str_of(&entry, "note").filter(|n| !n.trim().is_empty()) else {
                    self.diag(
                        Level::Skipped,
                        Some(&uuid),
                        (
                            "the analyst note has no text".into(),
                            "此分析備註沒有內容".into(),
                        ),
                    );
                    return None;
                };
                let mut p = json!({ "content": note, "object_refs": [target] });
                // A language that is no RFC 5646 tag stays in the details, not in `lang`.
                match text(&entry, "language") {
                    Some(l) if isac_stix::syntax::is_language_tag(&l) => p["lang"] = l.into(),
                    Some(l) => {
                        ext.insert("language".into(), l.into());
                    }
                    None => {}
                }
                ("note", p)
            }
            Kind::Opinion => {
                let Some(opinion) = opinion_of(entry.get("opinion")) else {
                    self.diag(
                        Level::Skipped,
                        Some(&uuid),
                        (
                            "the analyst opinion is not a number from 0 to 100; not converted"
                                .into(),
                            "此分析意見不是 0 到 100 的數值；未轉換".into(),
                        ),
                    );
                    return None;
                };
                let mut p = json!({ "opinion": opinion, "object_refs": [target] });
                if let Some(c) = text(&entry, "comment") {
                    p["explanation"] = c.into();
                }
                if let Some(v) = entry.get("opinion") {
                    let v = match v {
                        Value::String(s) => s.trim().to_string(),
                        other => other.to_string(),
                    };
                    ext.insert("opinion".into(), v.into());
                }
                ("opinion", p)
            }
            Kind::Relationship => {
                let rt =
                    relationship_type_of(&text(&entry, "relationship_type").unwrap_or_default());
                let related = text(&entry, "related_object_uuid")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let found = if related == self.event_uuid.to_ascii_lowercase() {
                    Some((self.report_id.clone(), self.event_audience.clone()))
                } else {
                    self.attribute_ends
                        .get(&related)
                        .or_else(|| self.object_ends.get(&related))
                        .map(|e| (e.id.clone(), e.audience.clone()))
                };
                let valid = isac_stix::syntax::is_relationship_type(&rt);
                let Some((other, other_aud)) = found.filter(|_| valid) else {
                    let why = if valid {
                        (
                            "its related element is not converted in this event",
                            "其相關元素不在此事件中或未轉換",
                        )
                    } else {
                        (
                            "its type is not a STIX relationship type",
                            "其類型不是 STIX 關係類型",
                        )
                    };
                    self.diag(
                        Level::Skipped,
                        Some(&uuid),
                        (
                            format!(
                                "the analyst relationship `{rt}` is not converted: {}",
                                why.0
                            ),
                            format!("分析關係 `{rt}` 未轉換：{}", why.1),
                        ),
                    );
                    return None;
                };
                let aud = narrowest(aud, other_aud);
                let id = stix_id("relationship", &uuid);
                let r = self.push_relationship(id.clone(), &target, &rt, &other, modified, &aud)?;
                r.insert("created".into(), format_ts(created).into());
                r.insert(
                    "extensions".into(),
                    json!({ MISP_EXTENSION_ID: Value::Object(ext) }),
                );
                return Some((id, aud));
            }
        };
        let Value::Object(mut props) = props else {
            unreachable!("note and opinion properties are an object")
        };
        if !authors.is_empty() {
            props.insert("authors".into(), json!(authors));
        }
        self.annotations.push(Self::made_item(
            stix_type,
            &uuid,
            created,
            modified,
            self.created_by.clone(),
            props,
            ext,
            aud.clone(),
        ));
        Some((stix_id(stix_type, &uuid), aud))
    }
}
