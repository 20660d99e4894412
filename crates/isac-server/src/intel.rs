//! Turning a submitted object and its audience into a stored STIX 2.1 version, and a stored
//! version into what a given viewer may see of it.
//!
//! The server stamps what it is responsible for (`spec_version`, `id` when absent, `created`,
//! `modified`, `created_by_ref`, the TLP 2.0 marking) and checks the audience against DESIGN §3.
//! Full STIX validation is the STIX crate's job; here the object must be a JSON object with a
//! well-formed `type` and, if given, an `id` of that type.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use isac_model::{OrgKind, Tlp, limits};
use isac_policy::{Access, check_audience, check_new_version};
use isac_store::{NewObject, Org, Store, StoredObject, User};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::ApiError;

/// The audience beyond the TLP level itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Recipients {
    /// Recipient org ids (TLP:AMBER and TLP:AMBER+STRICT).
    pub orgs: Vec<String>,
    /// Recipient sharing-group ids (TLP:AMBER and TLP:AMBER+STRICT).
    pub groups: Vec<String>,
    /// Named user ids (TLP:RED only).
    pub users: Vec<String>,
}

/// A submitted object.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectInput {
    /// A STIX 2.1 object. `id`, `created`, `modified`, `spec_version`, `created_by_ref` and TLP
    /// markings are set by the server.
    #[schema(value_type = Object)]
    pub object: Map<String, Value>,
    /// `clear`, `green`, `amber`, `amber+strict` or `red`. When absent, a TLP marking on the
    /// object is used, else the server's default (never wider than GREEN).
    #[serde(default)]
    pub tlp: Option<String>,
    #[serde(default)]
    pub recipients: Recipients,
}

/// The directory facts the audience check needs, loaded once per request.
pub struct Directory {
    orgs: BTreeMap<String, Org>,
    groups: BTreeSet<String>,
}

impl Directory {
    pub async fn load(store: &Store) -> Result<Directory, ApiError> {
        Ok(Directory {
            orgs: store
                .orgs()
                .await?
                .into_iter()
                .map(|o| (o.id.clone(), o))
                .collect(),
            groups: store.groups().await?.into_iter().map(|g| g.id).collect(),
        })
    }

    pub fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.get(id)
    }

    pub fn operator(&self) -> Option<&Org> {
        self.orgs.values().find(|o| o.kind == OrgKind::Operator)
    }
}

/// The STIX id of an org's identity object.
pub fn identity_id(org_id: &str) -> String {
    format!("identity--{org_id}")
}

/// A STIX timestamp with millisecond precision: fixed width, so text order is time order.
pub fn stix_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn check_type(t: &str) -> Result<(), ApiError> {
    let ok = (3..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
        && !t.contains("--");
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "`{}` is not a STIX type name (3 to 250 of a-z, 0-9 and single hyphens)",
            t.chars().take(64).collect::<String>()
        )))
    }
}

fn check_id(id: &str, t: &str) -> Result<(), ApiError> {
    let ok = id
        .strip_prefix(t)
        .and_then(|r| r.strip_prefix("--"))
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .is_some_and(|u| u.hyphenated().to_string() == id[t.len() + 2..]);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "`id` must be `{t}--` followed by a lower-case UUID"
        )))
    }
}

/// Parses a TLP given by name, accepting `TLP:` prefixes and TLP 1.0 WHITE.
pub fn parse_tlp(s: &str) -> Result<Tlp, ApiError> {
    Tlp::parse_loose(s).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tlp",
            e.to_string(),
        )
    })
}

/// The searchable values of an object: quoted literals of a pattern, and the `value`, `hashes`,
/// `name` of observables. Lower-cased, at most 200.
pub fn extract_values(o: &Map<String, Value>) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Some(p) = o.get("pattern").and_then(Value::as_str) {
        let mut chars = p.chars();
        while let Some(c) = chars.next() {
            if c == '\'' {
                let mut lit = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                lit.push(n);
                            }
                        }
                        '\'' => break,
                        c => lit.push(c),
                    }
                }
                if !lit.is_empty() && lit.len() <= 1024 {
                    out.insert(lit.to_lowercase());
                }
            }
        }
    }
    if let Some(v) = o.get("value").and_then(Value::as_str) {
        out.insert(v.to_lowercase());
    }
    if let Some(h) = o.get("hashes").and_then(Value::as_object) {
        for v in h.values().filter_map(Value::as_str) {
            out.insert(v.to_lowercase());
        }
    }
    for key in ["x_cve", "external_id"] {
        if let Some(v) = o.get(key).and_then(Value::as_str) {
            out.insert(v.to_lowercase());
        }
    }
    if let Some(refs) = o.get("external_references").and_then(Value::as_array) {
        for r in refs {
            if let Some(v) = r.get("external_id").and_then(Value::as_str) {
                out.insert(v.to_lowercase());
            }
        }
    }
    out.into_iter()
        .filter(|v| v.len() <= limits::SEARCH_CHARS)
        .take(200)
        .collect()
}

fn title_of(o: &Map<String, Value>, id: &str) -> String {
    let t = ["name", "value", "title"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str))
        .unwrap_or(id);
    t.chars().take(200).collect()
}

/// Resolves the TLP of a submission: the explicit `tlp`, else a TLP marking on the object, else
/// the default. An explicit TLP that contradicts the object's marking is refused.
fn resolve_tlp(input: &ObjectInput, default: Tlp) -> Result<Tlp, ApiError> {
    let marked: Vec<Tlp> = input
        .object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(Tlp::from_marking_id)
                .collect()
        })
        .unwrap_or_default();
    if marked.len() > 1 {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tlp",
            "the object carries more than one TLP marking",
        ));
    }
    match (&input.tlp, marked.first()) {
        (Some(s), Some(m)) => {
            let t = parse_tlp(s)?;
            if t != *m {
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_tlp",
                    format!(
                        "`tlp` is {} but the object is marked {}",
                        t.label(),
                        m.label()
                    ),
                ));
            }
            Ok(t)
        }
        (Some(s), None) => parse_tlp(s),
        (None, Some(m)) => Ok(*m),
        (None, None) => Ok(isac_policy::default_tlp(default)?),
    }
}

/// Checks the recipients exist and builds the access metadata.
fn build_access(
    dir: &Directory,
    author: &User,
    tlp: Tlp,
    r: &Recipients,
    users: &BTreeSet<String>,
) -> Result<Access, ApiError> {
    let n = r.orgs.len() + r.groups.len() + r.users.len();
    if n > limits::RECIPIENTS {
        return Err(isac_policy::AudienceError::TooManyRecipients(n, limits::RECIPIENTS).into());
    }
    for o in &r.orgs {
        if dir.org(o).is_none() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                format!("recipient org `{}` does not exist", short(o)),
            ));
        }
    }
    for g in &r.groups {
        if !dir.groups.contains(g) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                format!("recipient group `{}` does not exist", short(g)),
            ));
        }
    }
    for u in &r.users {
        if !users.contains(u) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                format!("named user `{}` does not exist", short(u)),
            ));
        }
    }
    let access = Access {
        tlp,
        owner_org: author.org_id.clone(),
        author: author.id.clone(),
        recipient_orgs: r.orgs.iter().cloned().collect(),
        recipient_groups: r.groups.iter().cloned().collect(),
        named_users: r.users.iter().cloned().collect(),
    };
    check_audience(&access, |id| dir.org(id).map(|o| o.kind))?;
    Ok(access)
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The ids of every user, for checking named users.
pub async fn user_ids(store: &Store) -> Result<BTreeSet<String>, ApiError> {
    Ok(store.users(None).await?.into_iter().map(|u| u.id).collect())
}

/// Prepares a first version. `now` stamps `created` and `modified`.
pub fn prepare_new(
    dir: &Directory,
    users: &BTreeSet<String>,
    author: &User,
    mut input: ObjectInput,
    default: Tlp,
    now: DateTime<Utc>,
) -> Result<NewObject, ApiError> {
    let tlp = resolve_tlp(&input, default)?;
    let access = build_access(dir, author, tlp, &input.recipients, users)?;
    let o = &mut input.object;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("the object has no `type`"))?
        .to_owned();
    check_type(&t)?;
    let id = match o.get("id") {
        Some(Value::String(id)) => {
            check_id(id, &t)?;
            id.clone()
        }
        Some(_) => return Err(ApiError::invalid("`id` must be a string")),
        None => format!("{t}--{}", uuid::Uuid::new_v4()),
    };
    finish(o, &id, &t, tlp, &access, now, true)?;
    let body = Value::Object(input.object);
    let body_text = body.to_string();
    if body_text.len() > limits::OBJECT_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "object_too_large",
            format!(
                "the object is {} bytes; the limit is {}",
                body_text.len(),
                limits::OBJECT_BYTES
            ),
        ));
    }
    let obj = body.as_object().expect("built as an object");
    Ok(NewObject {
        values: extract_values(obj),
        title: title_of(obj, &id),
        stix_id: id,
        stix_type: t,
        modified: stix_time(now),
        access,
        revoked: false,
        body: body_text,
    })
}

/// Stamps the server-owned properties.
fn finish(
    o: &mut Map<String, Value>,
    id: &str,
    t: &str,
    tlp: Tlp,
    access: &Access,
    now: DateTime<Utc>,
    first: bool,
) -> Result<(), ApiError> {
    let ts = stix_time(now);
    o.insert("type".into(), Value::String(t.to_owned()));
    o.insert("id".into(), Value::String(id.to_owned()));
    o.insert("spec_version".into(), Value::String("2.1".into()));
    if first || !o.contains_key("created") {
        o.insert("created".into(), Value::String(ts.clone()));
    }
    o.insert("modified".into(), Value::String(ts));
    o.insert(
        "created_by_ref".into(),
        Value::String(identity_id(&access.owner_org)),
    );
    // Keep non-TLP markings; the TLP marking is ours to set.
    let mut marks: Vec<Value> = o
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|v| {
                    v.as_str()
                        .is_some_and(|s| Tlp::from_marking_id(s).is_none())
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    marks.insert(0, Value::String(tlp.marking_id_v2().to_owned()));
    o.insert("object_marking_refs".into(), Value::Array(marks));
    Ok(())
}

/// A new version of a stored object: the writer's changes to the object body, a TLP and
/// recipients. Only the owner org may widen the audience.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    /// Properties to set on the new version (`id`, `type` and server-owned properties are ignored).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub changes: Map<String, Value>,
    /// The new TLP; the current one when absent.
    #[serde(default)]
    pub tlp: Option<String>,
    /// The new recipients; the current ones when absent.
    #[serde(default)]
    pub recipients: Option<Recipients>,
}

/// Prepares a new version of `current`, written by `writer`.
pub fn prepare_version(
    dir: &Directory,
    users: &BTreeSet<String>,
    writer: &User,
    current: &StoredObject,
    input: VersionInput,
    revoke: bool,
    now: DateTime<Utc>,
) -> Result<NewObject, ApiError> {
    let mut o: Map<String, Value> =
        serde_json::from_str(&current.body).map_err(|_| ApiError::internal())?;
    for (k, v) in input.changes {
        if matches!(
            k.as_str(),
            "id" | "type"
                | "spec_version"
                | "created"
                | "modified"
                | "created_by_ref"
                | "object_marking_refs"
                | "revoked"
        ) {
            continue;
        }
        o.insert(k, v);
    }
    let tlp = match &input.tlp {
        Some(s) => parse_tlp(s)?,
        None => current.access.tlp,
    };
    let recipients = input.recipients.unwrap_or_else(|| Recipients {
        orgs: current.access.recipient_orgs.iter().cloned().collect(),
        groups: current.access.recipient_groups.iter().cloned().collect(),
        users: current.access.named_users.iter().cloned().collect(),
    });
    // The owner and author stay those of the object; the writer's org decides whether widening
    // is allowed.
    let mut access = build_access(dir, writer, tlp, &recipients, users)?;
    access.owner_org = current.access.owner_org.clone();
    access.author = current.access.author.clone();
    check_new_version(&writer.org_id, &current.access, &access)?;
    if revoke {
        o.insert("revoked".into(), Value::Bool(true));
    }
    let mut now = now;
    let cur = chrono::DateTime::parse_from_rfc3339(&current.modified)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    if now <= cur {
        now = cur + chrono::Duration::milliseconds(1);
    }
    finish(
        &mut o,
        &current.stix_id,
        &current.stix_type,
        tlp,
        &access,
        now,
        false,
    )?;
    let body = Value::Object(o);
    let body_text = body.to_string();
    if body_text.len() > limits::OBJECT_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "object_too_large",
            "the new version is over the object size limit",
        ));
    }
    let obj = body.as_object().expect("built as an object");
    Ok(NewObject {
        values: extract_values(obj),
        title: title_of(obj, &current.stix_id),
        stix_id: current.stix_id.clone(),
        stix_type: current.stix_type.clone(),
        modified: stix_time(now),
        access,
        revoked: revoke || current.revoked,
        body: body_text,
    })
}

/// An object as a viewer receives it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ObjectView {
    pub id: String,
    #[serde(rename = "type")]
    pub stix_type: String,
    pub modified: String,
    /// When this version was stored, RFC 3339.
    pub date_added: String,
    pub tlp: Tlp,
    pub revoked: bool,
    pub title: String,
    /// The owner org, shown only to the owner org and operator staff; others see the ISAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_org: Option<String>,
    /// The recipients, shown only to the owner org and operator staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Recipients>,
    /// The STIX object.
    #[schema(value_type = Object)]
    pub object: Value,
}

/// Whether `viewer_org` sees who owns and who receives an object: its owner and the operator.
pub fn sees_attribution(p: &crate::auth::Principal, o: &StoredObject) -> bool {
    p.org.id == o.access.owner_org || p.org.kind == OrgKind::Operator
}

/// The view of a stored object for `p` (who has already passed the policy for it).
pub fn view(
    p: &crate::auth::Principal,
    dir_operator: Option<&str>,
    o: &StoredObject,
) -> ObjectView {
    let full = sees_attribution(p, o);
    let mut object: Value = serde_json::from_str(&o.body).unwrap_or(Value::Null);
    if !full {
        // Anonymous attribution: other viewers see the ISAC as the creator.
        if let (Some(obj), Some(op)) = (object.as_object_mut(), dir_operator) {
            obj.insert("created_by_ref".into(), Value::String(identity_id(op)));
        }
    }
    ObjectView {
        id: o.stix_id.clone(),
        stix_type: o.stix_type.clone(),
        modified: o.modified.clone(),
        date_added: DateTime::<Utc>::from_timestamp_micros(o.date_added)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default(),
        tlp: o.access.tlp,
        revoked: o.revoked,
        title: o.title.clone(),
        owner_org: full.then(|| o.access.owner_org.clone()),
        recipients: full.then(|| Recipients {
            orgs: o.access.recipient_orgs.iter().cloned().collect(),
            groups: o.access.recipient_groups.iter().cloned().collect(),
            users: o.access.named_users.iter().cloned().collect(),
        }),
        object,
    }
}
