//! Turning a submitted object and its audience into a stored STIX 2.1 version, and a stored
//! version into what a given viewer may see of it.
//!
//! The server stamps what it is responsible for (`spec_version`, `id` when absent, `created`,
//! `modified`, `created_by_ref`, the TLP 2.0 marking) and checks the audience against DESIGN §3.
//! Full STIX validation is the STIX crate's job; here the object must be a JSON object with a
//! well-formed `type` and, if given, an `id` of that type.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use isac_model::{Locale, OrgKind, Tlp, limits};

use crate::i18n::tr;
use isac_policy::{Access, check_audience, check_new_version};
use isac_store::{ImportSession, NewObject, Org, Store, StoredObject, User};
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
#[derive(Clone)]
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

/// [`stix_time`] of a stored time (unix microseconds).
pub fn stix_time_of(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(stix_time)
        .unwrap_or_default()
}

/// The STIX identity of an org, as TAXII collections and STIX exports carry it: marked with the
/// TLP of its access (`isac_store::identity_access`), and created by the operator unless it is
/// the operator's own.
pub fn org_identity(org: &Org, tlp: Tlp, operator: Option<&str>) -> Value {
    let ts = stix_time_of(org.created_at);
    let mut o = serde_json::json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id(&org.id),
        "created": ts,
        "modified": ts,
        "name": org.name_en,
        "identity_class": "organization",
        "object_marking_refs": [tlp.marking_id_v2()],
    });
    if matches!(org.kind, OrgKind::Operator | OrgKind::Member) {
        o["sectors"] = serde_json::json!(["financial-services"]);
    }
    if let Some(op) = operator
        && op != org.id
    {
        o["created_by_ref"] = Value::String(identity_id(op));
    }
    o
}

/// The stored form of a STIX timestamp (the store's `modified` column): RFC 3339 UTC with six
/// fraction digits, so that text order is time order and one instant has one spelling whatever
/// precision its producer used. Digits past the microsecond are dropped. `None` unless `s` is an
/// RFC 3339 timestamp in UTC (`Z`).
pub fn column_time(s: &str) -> Option<String> {
    if !s.ends_with('Z') || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    // Every stored version goes through here. A valid UTC timestamp of at most six fraction
    // digits and no leap second already is its column form but for the padding of the fraction:
    // written directly, not through chrono's formatter (a tenth of the time of an import's
    // preparation went to it).
    let fraction = &s[19..s.len() - 1];
    let digits = fraction.strip_prefix('.').unwrap_or(fraction);
    if &s[17..19] != "60"
        && digits.len() <= 6
        && (fraction.is_empty() || !digits.is_empty())
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let mut out = String::with_capacity(27);
        out.push_str(&s[..19]);
        out.push('.');
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', 6 - digits.len()));
        out.push('Z');
        return Some(out);
    }
    Some(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// [`stix_time`] of `t` in the stored form of [`column_time`].
/// The stored version of objects that carry no `modified` or `created` (cyber-observables).
pub const UNVERSIONED: &str = "1970-01-01T00:00:00.000000Z";

fn column_of(t: DateTime<Utc>) -> String {
    column_time(&stix_time(t)).expect("stix_time writes RFC 3339 UTC")
}

fn check_type(l: Locale, t: &str) -> Result<(), ApiError> {
    let ok = (3..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
        && !t.contains("--");
    if ok {
        Ok(())
    } else {
        let t: String = t.chars().take(64).collect();
        Err(ApiError::invalid(match l {
            Locale::En => {
                format!("`{t}` is not a STIX type name (3 to 250 of a-z, 0-9 and single hyphens)")
            }
            Locale::ZhTw => {
                format!("`{t}` 不是 STIX 類型名稱（3 到 250 個 a-z、0-9 與單一連字號）")
            }
        }))
    }
}

/// An id is `<type>--<RFC 4122 UUID>` (§2.9). RFC 4122 reads hex digits in either case, and so
/// does the OASIS validator: OASIS's own example `infrastructure.json` has an id with upper-case
/// digits. Such an id is kept as given; ids are compared as exact text throughout (lookups,
/// references, TAXII filters), so an object is found by the id it was given.
fn check_id(l: Locale, id: &str, t: &str) -> Result<(), ApiError> {
    if isac_stix::syntax::parse_identifier(id).is_some_and(|(it, _)| it == t) {
        Ok(())
    } else {
        Err(ApiError::invalid(match l {
            Locale::En => format!("`id` must be `{t}--` followed by an RFC 4122 UUID"),
            Locale::ZhTw => format!("`id` 必須是 `{t}--` 加上 RFC 4122 UUID"),
        }))
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

/// The objects a container names (`object_refs` of a report, grouping, note, opinion or
/// observed-data) are searchable values of it, so that an object's page can list what mentions
/// it (`MENTIONING`).
const MENTIONING: [&str; 5] = ["report", "grouping", "note", "opinion", "observed-data"];

/// The searchable values of an object: quoted literals of a pattern, the `value` and `hashes` of
/// observables, CVE and other external ids, and the ids a container names (see [`MENTIONING`]).
/// Lower-cased, at most 200.
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
    let mut values: Vec<String> = out
        .into_iter()
        .filter(|v| v.len() <= limits::SEARCH_CHARS)
        .take(200)
        .collect();
    // The ids a container names come after its own values, up to the same 200 in all.
    let t = o.get("type").and_then(Value::as_str).unwrap_or_default();
    if MENTIONING.contains(&t) {
        let named: BTreeSet<String> = o
            .get("object_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|id| id.len() <= limits::SEARCH_CHARS)
            .map(str::to_lowercase)
            .filter(|id| !values.contains(id))
            .collect();
        let room = 200usize.saturating_sub(values.len());
        values.extend(named.into_iter().take(room));
    }
    values
}

/// The title an object is listed and found by: its `name`, `value` or `title`, else what names
/// it best for its type (a note's abstract or first line, an opinion and its explanation, a
/// file's strongest hash, an email's subject, …), else its id. Only the object's own properties
/// are used, never the objects it references: a reader of this object may not read those.
fn title_of(o: &Map<String, Value>, id: &str) -> String {
    let text = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let first_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_owned()
    };
    let hash = || {
        let hashes = o.get("hashes")?.as_object()?;
        ["SHA-256", "SHA-512", "SHA3-256", "SHA-1", "MD5"]
            .iter()
            .find_map(|a| Some(format!("{a} {}", hashes.get(*a)?.as_str()?)))
            .or_else(|| {
                let (a, v) = hashes.iter().next()?;
                Some(format!("{a} {}", v.as_str()?))
            })
    };
    let by_type = || match o.get("type").and_then(Value::as_str).unwrap_or_default() {
        "note" => text("abstract").or_else(|| text("content")).map(first_line),
        "opinion" => {
            let opinion = text("opinion")?;
            Some(match text("explanation") {
                Some(e) => format!("{opinion}: {}", first_line(e)),
                None => opinion.to_owned(),
            })
        }
        "email-message" => text("subject").map(first_line),
        "x509-certificate" => text("subject").map(first_line).or_else(hash),
        "file" | "artifact" => hash(),
        "windows-registry-key" => text("key").map(str::to_owned),
        "directory" => text("path").map(str::to_owned),
        "process" => text("command_line").map(first_line),
        "user-account" => text("account_login")
            .or_else(|| text("user_id"))
            .or_else(|| text("display_name"))
            .map(str::to_owned),
        // A statement marking (ATT&CK's copyright, a distribution statement) by its text; a
        // TLP 1.0 definition by its level.
        "marking-definition" => {
            let d = o.get("definition")?.as_object()?;
            match (d.get("statement"), d.get("tlp")) {
                (Some(Value::String(s)), _) if !s.trim().is_empty() => Some(first_line(s)),
                (_, Some(Value::String(t))) => Some(format!("TLP:{}", t.to_uppercase())),
                _ => None,
            }
        }
        "autonomous-system" => o
            .get("number")
            .and_then(Value::as_u64)
            .map(|n| format!("AS{n}")),
        _ => None,
    };
    let t = ["name", "value", "title"]
        .iter()
        .find_map(|k| text(k).map(str::to_owned))
        .or_else(by_type)
        .unwrap_or_else(|| id.to_owned());
    t.chars().take(200).collect()
}

/// Resolves the TLP of a submission: the explicit `tlp`, else a TLP marking on the object, else
/// the default. An explicit TLP that contradicts the object's marking is refused, and so is one
/// wider than a granular TLP marking on part of the object (the object is shared whole); without
/// either, a granular marking's TLP is the object's.
fn resolve_tlp(l: Locale, input: &ObjectInput, default: Tlp) -> Result<Tlp, ApiError> {
    use isac_stix::tlp::MarkedError;
    let invalid = |en: String, zh: String| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tlp",
            match l {
                Locale::En => en,
                Locale::ZhTw => zh,
            },
        )
    };
    let marked =
        isac_stix::tlp::marked_tlp(&input.object, &Default::default()).map_err(|e| match e {
            MarkedError::Conflicting(a, b) => invalid(
                format!(
                    "the object carries conflicting TLP markings {} and {}",
                    a.label(),
                    b.label()
                ),
                format!("物件帶有互相衝突的 TLP 標記 {} 與 {}", a.label(), b.label()),
            ),
            MarkedError::UnknownLevel(id, level) => invalid(
                format!(
                    "marking `{}` declares an unknown TLP level `{}`",
                    short(&id),
                    short(&level)
                ),
                format!(
                    "標記 `{}` 宣告了未知的 TLP 等級 `{}`",
                    short(&id),
                    short(&level)
                ),
            ),
        })?;
    let tlp = match (&input.tlp, marked.object_level) {
        (Some(s), Some(m)) => {
            let t = parse_tlp(s)?;
            if t != m {
                return Err(invalid(
                    format!(
                        "`tlp` is {} but the object is marked {}",
                        t.label(),
                        m.label()
                    ),
                    format!("`tlp` 為 {}，但物件標記為 {}", t.label(), m.label()),
                ));
            }
            t
        }
        (Some(s), None) => parse_tlp(s)?,
        (None, Some(m)) => m,
        (None, None) => match marked.tlp {
            Some(g) => g,
            None => isac_policy::default_tlp(default)?,
        },
    };
    if let Some(g) = marked.tlp
        && g.breadth() < tlp.breadth()
    {
        return Err(invalid(
            format!(
                "the object is {} but part of it is marked {} (`granular_markings`); objects \
                 are shared whole, so give it {}",
                tlp.label(),
                g.label(),
                g.label()
            ),
            format!(
                "物件為 {}，但其中一部分標記為 {}（`granular_markings`）；物件整體分享，請改為 {}",
                tlp.label(),
                g.label(),
                g.label()
            ),
        ));
    }
    Ok(tlp)
}

/// Checks the recipients exist and builds the access metadata.
fn build_access(
    l: Locale,
    dir: &Directory,
    author: &User,
    tlp: Tlp,
    r: &Recipients,
    users: &BTreeSet<String>,
) -> Result<Access, ApiError> {
    let n = r.orgs.len() + r.groups.len() + r.users.len();
    if n > limits::RECIPIENTS {
        let e = isac_policy::AudienceError::TooManyRecipients(n, limits::RECIPIENTS);
        return Err(audience_refused(l, &e));
    }
    for o in &r.orgs {
        if dir.org(o).is_none() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                match l {
                    Locale::En => format!("recipient org `{}` does not exist", short(o)),
                    Locale::ZhTw => format!("分享對象機構 `{}` 不存在", short(o)),
                },
            ));
        }
    }
    for g in &r.groups {
        if !dir.groups.contains(g) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                match l {
                    Locale::En => format!("recipient group `{}` does not exist", short(g)),
                    Locale::ZhTw => format!("分享對象群組 `{}` 不存在", short(g)),
                },
            ));
        }
    }
    for u in &r.users {
        if !users.contains(u) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                match l {
                    Locale::En => format!("named user `{}` does not exist", short(u)),
                    Locale::ZhTw => format!("指名使用者 `{}` 不存在", short(u)),
                },
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
    check_audience(&access, |id| dir.org(id).map(|o| o.kind))
        .map_err(|e| audience_refused(l, &e))?;
    Ok(access)
}

/// A write-time audience rule broken, as the 422 `invalid_audience` error, in `l`.
fn audience_refused(l: Locale, e: &isac_policy::AudienceError) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_audience",
        crate::i18n::audience_error(l, e),
    )
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The ids of every user, for checking named users.
pub async fn user_ids(store: &Store) -> Result<BTreeSet<String>, ApiError> {
    Ok(store.user_ids().await?)
}

/// Prepares a first version. `now` stamps `created` and `modified`.
pub fn prepare_new(
    l: Locale,
    dir: &Directory,
    users: &BTreeSet<String>,
    author: &User,
    mut input: ObjectInput,
    default: Tlp,
    now: DateTime<Utc>,
) -> Result<NewObject, ApiError> {
    let tlp = resolve_tlp(l, &input, default)?;
    let access = build_access(l, dir, author, tlp, &input.recipients, users)?;
    let o = &mut input.object;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("the object has no `type`"))?
        .to_owned();
    check_type(l, &t)?;
    let id = match o.get("id") {
        Some(Value::String(id)) => {
            check_id(l, id, &t)?;
            id.clone()
        }
        Some(_) => return Err(ApiError::invalid("`id` must be a string")),
        // An observable gets the deterministic id of §2.9, as on every other path (bundles,
        // MISP, the 2.0 upgrade), so one value is one object; anything else a UUIDv4.
        None => {
            isac_stix::id::sco_id(o).unwrap_or_else(|_| format!("{t}--{}", uuid::Uuid::new_v4()))
        }
    };
    if is_published_id(dir, &id) {
        return Err(ApiError::conflict(match l {
            Locale::En => {
                format!("`{id}` is published by isac from its directory; it cannot be written")
            }
            Locale::ZhTw => format!("`{id}` 由 isac 依其名錄發布，不可寫入"),
        }));
    }
    finish(o, &id, &t, tlp, &access, now, true)?;
    let body = Value::Object(input.object);
    let body_text = isac_stix::json_text(&body);
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
    // What REST and the web UI store is valid STIX, like everything else isac stores.
    check_valid(l, obj)?;
    Ok(NewObject {
        values: extract_values(obj),
        title: title_of(obj, &id),
        stix_id: id,
        modified: if isac_stix::types::is_sco(&t) {
            UNVERSIONED.to_owned()
        } else {
            column_of(now)
        },
        stix_type: t,
        access,
        revoked: false,
        body: body_text.into(),
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
    if isac_stix::types::is_sco(t) {
        // STIX 2.1 observables have no `created`, `modified` or `created_by_ref` (§3.2, §6):
        // on one they would be custom properties. One is stored under the fixed version of
        // unversioned objects, as TAXII and imports store them ([`UNVERSIONED`]).
        for k in ["created", "modified", "created_by_ref"] {
            o.remove(k);
        }
    } else {
        if first || !o.contains_key("created") {
            o.insert("created".into(), Value::String(ts.clone()));
        }
        o.insert("modified".into(), Value::String(ts));
        o.insert(
            "created_by_ref".into(),
            Value::String(identity_id(&access.owner_org)),
        );
    }
    // Keep non-TLP markings; the TLP marking is ours to set.
    isac_stix::tlp::set_tlp(o, tlp);
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

/// A reference list that a new version replaces keeps the ids of the stored list that were
/// withheld from the writer (`Store::object_for_version`): the writer could not see them, so
/// cannot mean to remove them. The object's own id, which stands in for a container's list whose
/// every id was withheld, is not kept unless the stored list named it.
fn keep_withheld(
    key: &str,
    new: &mut Value,
    stored: Option<&Value>,
    withheld: &BTreeSet<String>,
    own_id: &str,
) {
    if !key.ends_with("_refs") || withheld.is_empty() {
        return;
    }
    let (Value::Array(list), Some(Value::Array(old))) = (new, stored) else {
        return;
    };
    let kept: Vec<&Value> = old
        .iter()
        .filter(|v| v.as_str().is_some_and(|id| withheld.contains(id)))
        .collect();
    if kept.is_empty() {
        return;
    }
    if !old.iter().any(|v| v == own_id) {
        list.retain(|v| v != own_id);
    }
    for v in kept {
        if !list.contains(v) {
            list.push(v.clone());
        }
    }
}

/// Prepares a new version of `current`, written by `writer`; `withheld` are the ids
/// its references name that `writer` was not shown ([`keep_withheld`]).
#[expect(
    clippy::too_many_arguments,
    reason = "the language, the directory checked against, who writes, and the version's parts"
)]
pub fn prepare_version(
    l: Locale,
    dir: &Directory,
    users: &BTreeSet<String>,
    writer: &User,
    current: &StoredObject,
    withheld: &BTreeSet<String>,
    input: VersionInput,
    revoke: bool,
    now: DateTime<Utc>,
) -> Result<NewObject, ApiError> {
    if isac_stix::types::is_sco(&current.stix_type) {
        return Err(ApiError::conflict(match l {
            Locale::En => {
                "observables have no versions in STIX 2.1 and cannot be revoked: their id is \
                 derived from their value, so a changed observable is another object"
            }
            Locale::ZhTw => {
                "STIX 2.1 的可觀察物件沒有版本，也不能撤銷：其識別碼由值產生，改變後即為另一個物件"
            }
        }));
    }
    let mut o: Map<String, Value> =
        serde_json::from_str(&current.body).map_err(|_| ApiError::internal())?;
    for (k, mut v) in input.changes {
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
        keep_withheld(&k, &mut v, o.get(&k), withheld, &current.stix_id);
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
    let mut access = build_access(l, dir, writer, tlp, &recipients, users)?;
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
    let body_text = isac_stix::json_text(&body);
    if body_text.len() > limits::OBJECT_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "object_too_large",
            "the new version is over the object size limit",
        ));
    }
    let obj = body.as_object().expect("built as an object");
    // A revocation is always allowed, so that an object stored before REST writes were
    // validated can still be withdrawn.
    if !revoke {
        check_valid(l, obj)?;
    }
    Ok(NewObject {
        values: extract_values(obj),
        title: title_of(obj, &current.stix_id),
        stix_id: current.stix_id.clone(),
        stix_type: current.stix_type.clone(),
        modified: column_of(now),
        access,
        revoked: revoke || current.revoked,
        body: body_text.into(),
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
    if let Some(obj) = object.as_object_mut() {
        // The audience travels with the object (isac's extension), but only to those who see
        // attribution: the owner org and the operator.
        strip_audience(obj);
        if full {
            let a = &o.access;
            let audience = isac_stix::audience::Audience {
                orgs: a.recipient_orgs.iter().map(|o| identity_id(o)).collect(),
                groups: a.recipient_groups.iter().cloned().collect(),
                users: a.named_users.iter().cloned().collect(),
            };
            isac_stix::audience::write(obj, &audience);
        } else if let Some(op) = dir_operator
            && obj.contains_key("created_by_ref")
        {
            // Anonymous attribution: other viewers see the ISAC as the creator.
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

// ---------------------------------------------------------------- ingest of STIX as submitted

/// What became of one submitted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored as the object's first version.
    Created,
    /// Stored as a new version of an object already held.
    Versioned,
    /// This version was already stored; nothing was written.
    Unchanged,
}

/// The outcome for one submitted object, in submission order.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// The object's `id` as given (empty when it had none).
    pub id: String,
    /// The object's version as given: `modified`, else `created`, else empty.
    pub version: String,
    pub result: Result<Ingested, String>,
}

/// A submitted object prepared for storage.
#[derive(Debug, Clone)]
pub struct PreparedIngest {
    pub new: NewObject,
}

fn version_text(o: &Map<String, Value>) -> String {
    o.get("modified")
        .or_else(|| o.get("created"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Removes isac's audience extension from an object (the audience lives in the access metadata
/// and is shown only to those who see attribution).
pub fn strip_audience(o: &mut Map<String, Value>) {
    if let Some(Value::Object(ext)) = o.get_mut("extensions") {
        ext.remove(isac_stix::audience::EXTENSION_ID);
        if ext.is_empty() {
            o.remove("extensions");
        }
    }
}

/// Refuses an object [`isac_stix::validate`] finds errors in, naming the first five.
fn check_valid(l: Locale, o: &Map<String, Value>) -> Result<(), ApiError> {
    let diagnostics = isac_stix::validate(o);
    if isac_stix::is_valid(&diagnostics) {
        return Ok(());
    }
    let msg = diagnostics
        .iter()
        .filter(|d| d.severity == isac_stix::Severity::Error)
        .take(5)
        .map(|d| crate::i18n::stix_finding(l, d))
        .collect::<Vec<_>>()
        .join(tr(l, "; ", "；"));
    Err(ApiError::invalid(format!(
        "{}{msg}",
        tr(l, "not valid STIX 2.1: ", "不符合 STIX 2.1：")
    )))
}

/// Prepares one STIX object submitted as it is (TAXII, bundle import) for storage by `poster`.
///
/// The object must pass [`isac_stix::validate`] without errors. Its `id`, `created` and
/// `modified` are kept. Its TLP comes from its TLP markings ([`isac_stix::tlp::marked_tlp`]):
/// the object-level one (two different ones are refused) or a more restrictive one of a granular
/// marking, each a predefined definition or one `declared` in the same import (OpenCTI's and
/// other tools' own TLP definitions); an unmarked object gets the TLP of `current` (the stored
/// object it versions) or else the default, never wider than GREEN. The object-level marking is
/// then made to say that TLP with a predefined id ([`isac_stix::tlp::mark_tlp`]). Its audience comes from isac's
/// audience extension, which is checked like any other audience and then removed from the body.
/// The owner is the poster's org, or that of `current`; `created_by_ref` names the owner's
/// identity. Objects without `modified` or `created` (cyber-observables) get [`UNVERSIONED`].
#[expect(
    clippy::too_many_arguments,
    reason = "who writes, the directory checked against, and the three sources of the TLP"
)]
pub fn prepare_ingest(
    l: Locale,
    dir: &Directory,
    users: &BTreeSet<String>,
    poster: &User,
    mut o: Map<String, Value>,
    default: Tlp,
    current: Option<&StoredObject>,
    declared: &isac_stix::tlp::DeclaredTlp,
) -> Result<PreparedIngest, ApiError> {
    check_valid(l, &o)?;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("the object has no `type`"))?
        .to_owned();
    check_type(l, &t)?;
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("the object has no `id`"))?
        .to_owned();
    check_id(l, &id, &t)?;
    if let Some(c) = current
        && c.stix_id != id
    {
        return Err(ApiError::internal());
    }
    let given = version_text(&o);
    let modified = if given.is_empty() {
        // Objects without `modified` or `created` (cyber-observables) are not versioned: their
        // id is derived from their content (STIX 2.1 §2.9), so one fixed version stands for
        // all, and submitting the same observable again changes nothing.
        UNVERSIONED.to_owned()
    } else {
        column_time(&given).ok_or_else(|| {
            ApiError::invalid(tr(
                l,
                "`modified` and `created` must be RFC 3339 timestamps in UTC",
                "`modified` 與 `created` 必須是 UTC 的 RFC 3339 時間戳記",
            ))
        })?
    };
    // TLP: from the markings (object-level and granular, predefined or declared in the same
    // import), else the current version's, else the default.
    let marked = isac_stix::tlp::marked_tlp(&o, declared).map_err(|e| {
        let message = match (e, l) {
            (isac_stix::tlp::MarkedError::Conflicting(..), _) => tr(
                l,
                "the object carries conflicting TLP markings",
                "物件帶有互相衝突的 TLP 標記",
            )
            .to_owned(),
            (isac_stix::tlp::MarkedError::UnknownLevel(id, level), Locale::En) => format!(
                "marking `{}` declares the TLP level `{}`, which is not one of CLEAR, GREEN, \
                 AMBER, AMBER+STRICT, RED",
                short(&id),
                short(&level)
            ),
            (isac_stix::tlp::MarkedError::UnknownLevel(id, level), Locale::ZhTw) => format!(
                "標記 `{}` 宣告的 TLP 等級 `{}` 不是 CLEAR、GREEN、AMBER、AMBER+STRICT、RED 之一",
                short(&id),
                short(&level)
            ),
        };
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tlp",
            message,
        )
    })?;
    let tlp = match (marked.tlp, current) {
        (Some(t), _) => t,
        (None, Some(c)) => c.access.tlp,
        (None, None) => isac_policy::default_tlp(default)?,
    };
    // `validate` above has refused an `object_marking_refs` that is not a list of identifiers.
    isac_stix::tlp::mark_tlp(&mut o, tlp, declared);
    // Audience: isac's extension names recipient orgs by identity, groups and named users.
    let audience = isac_stix::audience::read(&o)
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                e,
            )
        })?
        .unwrap_or_default();
    let mut orgs = Vec::with_capacity(audience.orgs.len());
    for ident in &audience.orgs {
        let org = ident.strip_prefix("identity--").ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_audience",
                match l {
                    Locale::En => format!("recipient `{}` is not an identity id", short(ident)),
                    Locale::ZhTw => format!("分享對象 `{}` 不是 identity id", short(ident)),
                },
            )
        })?;
        orgs.push(org.to_owned());
    }
    let recipients = Recipients {
        orgs,
        groups: audience.groups.clone(),
        users: audience.users.clone(),
    };
    strip_audience(&mut o);
    let mut access = build_access(l, dir, poster, tlp, &recipients, users)?;
    if let Some(c) = current {
        access.owner_org = c.access.owner_org.clone();
        access.author = c.access.author.clone();
        check_new_version(&poster.org_id, &c.access, &access)
            .map_err(|e| audience_refused(l, &e))?;
    }
    if o.contains_key("created") {
        o.insert(
            "created_by_ref".into(),
            Value::String(identity_id(&access.owner_org)),
        );
    }
    let body = Value::Object(o);
    let body_text = isac_stix::json_text(&body);
    if body_text.len() > limits::OBJECT_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "object_too_large",
            match l {
                Locale::En => format!(
                    "the object is {} bytes; the limit is {}",
                    body_text.len(),
                    limits::OBJECT_BYTES
                ),
                Locale::ZhTw => format!(
                    "物件大小 {} 位元組，超過上限 {}",
                    body_text.len(),
                    limits::OBJECT_BYTES
                ),
            },
        ));
    }
    let obj = body.as_object().expect("built as an object");
    let revoked = obj.get("revoked").and_then(Value::as_bool).unwrap_or(false);
    Ok(PreparedIngest {
        new: NewObject {
            values: extract_values(obj),
            title: title_of(obj, &id),
            stix_id: id,
            stix_type: t,
            modified,
            access,
            revoked,
            body: body_text.into(),
        },
    })
}

/// Whether `id` names an entry that isac publishes itself instead of storing: a predefined TLP
/// marking definition, isac's audience extension definition, or the identity of an org in its
/// directory. Every TAXII collection serves these from the directory and the code (with the
/// directory's own date added), so a stored copy would be a second object under the same id and
/// version, and a copy's content would not be the directory's.
pub fn is_published_id(dir: &Directory, id: &str) -> bool {
    id == isac_stix::audience::EXTENSION_ID
        || isac_stix::tlp::is_canonical_id(id)
        || id
            .strip_prefix("identity--")
            .is_some_and(|org| dir.org(org).is_some())
}

/// Whether a submitted object is a copy of an entry isac publishes itself ([`is_published_id`]):
/// bundles carry the TLP definitions beside what they mark, and an export of isac (or of another
/// isac) carries its identities and extension definition. Such a copy is counted as unchanged and
/// never stored, whatever it says beyond being valid: the directory decides what the entry is,
/// and a stored TLP definition would get an owner, a marking and a creator of its own. An
/// invalid one (a TLP id with other content, for one) goes on to be refused as invalid.
pub fn is_published_copy(dir: &Directory, o: &Map<String, Value>) -> bool {
    let Some(id) = o.get("id").and_then(Value::as_str) else {
        return false;
    };
    // Validation also refuses an id whose type is not the object's (`id-type-mismatch`).
    is_published_id(dir, id) && isac_stix::is_valid(&isac_stix::validate(o))
}

/// Stores STIX objects submitted as they are (a TAXII envelope, a bundle) for `p`, each through
/// [`prepare_ingest`], into `session`'s transaction, which the caller holds
/// ([`ImportSession::hold`]) and commits with whatever else must go with the objects (TAXII
/// POST: the status resource that reports them). Each object succeeds or fails on its own; a
/// failure stores nothing of that object. A version of an object already held (or submitted
/// earlier in the same call) is judged under the write lock against the latest version: the
/// caller must be able to read it and may widen its audience only for its own org's objects
/// (`check_new_version`). A version already stored is reported as [`Ingested::Unchanged`].
/// Errors of the storage itself end the whole call, and the session's transaction is then gone:
/// nothing of the call is stored.
pub async fn ingest(
    session: &mut ImportSession,
    p: &crate::auth::Principal,
    ip: std::net::IpAddr,
    default: Tlp,
    objects: Vec<Value>,
) -> Result<Vec<IngestOutcome>, ApiError> {
    let store = &session.store().clone();
    use isac_store::{OnRefusal, StoreError};
    const NOT_YOURS: &str = "an object with this id exists and this account may not change it";
    let dir = Directory::load(store).await?;
    let users = user_ids(store).await?;
    let mut outcomes: Vec<IngestOutcome> = objects
        .iter()
        .map(|v| {
            let o = v.as_object();
            IngestOutcome {
                id: o
                    .and_then(|o| o.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect(),
                version: o
                    .map(version_text)
                    .unwrap_or_default()
                    .chars()
                    .take(64)
                    .collect(),
                result: Err("not a JSON object".into()),
            }
        })
        .collect();
    // TLP levels the call's own marking definitions declare, for the objects they mark; a
    // definition past the table's cap is refused rather than forgotten.
    let mut declared = isac_stix::tlp::DeclaredTlp::default();
    let mut undeclared: BTreeSet<usize> = BTreeSet::new();
    for (i, v) in objects.iter().enumerate() {
        if let Some(m) = v.as_object()
            && let Err(e) = declared.learn(m)
        {
            outcomes[i].result = Err(e);
            undeclared.insert(i);
        }
    }
    // A marking definition referred to but not in the call may have come in an earlier one (a
    // TAXII client sends definitions once): a stored one the caller may read declares its TLP
    // as one in the call would. At most `STORED_MARKINGS` are looked up per call.
    const STORED_MARKINGS: usize = 100;
    let referred: BTreeSet<&str> = objects
        .iter()
        .filter_map(Value::as_object)
        .flat_map(isac_stix::tlp::marking_refs)
        .filter(|id| {
            id.len() <= 300
                && id.starts_with("marking-definition--")
                && declared.level(id).is_none()
        })
        .collect();
    for id in referred.into_iter().take(STORED_MARKINGS) {
        match store.object(&p.viewer, id).await {
            Ok(stored) => {
                if let Ok(body) = serde_json::from_str::<Map<String, Value>>(&stored.body) {
                    // Only room in the table decides; a full table leaves it to the default.
                    let _ = declared.learn(&body);
                }
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // What the store holds for the ids the call names, read in a few queries rather than a
    // few per object: the latest version of each as the caller may read it, and every stored
    // version whoever may read it (which also says whether an id the caller may not read is
    // stored at all). Nothing of the second reaches the caller but "exists"/"already stored".
    let named: Vec<String> = outcomes
        .iter()
        .map(|o| &o.id)
        .filter(|id| !id.is_empty() && id.len() <= 300)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .cloned()
        .collect();
    let readable: BTreeMap<String, StoredObject> = store
        .objects_by_id(&p.viewer, &named)
        .await?
        .into_iter()
        .map(|o| (o.stix_id.clone(), o))
        .collect();
    let stored = store.stored_versions(&named).await?;
    let stored_ids: BTreeSet<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    let mut denied: BTreeSet<String> = BTreeSet::new();
    let mut batch: Vec<NewObject> = Vec::new();
    let mut index: Vec<usize> = Vec::new();
    let mut planned: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, v) in objects.into_iter().enumerate() {
        let Value::Object(m) = v else { continue };
        if undeclared.contains(&i) {
            continue;
        }
        if is_published_copy(&dir, &m) {
            outcomes[i].result = Ok(Ingested::Unchanged);
            continue;
        }
        let id = outcomes[i].id.clone();
        let cur = readable.get(&id);
        if cur.is_none() && stored_ids.contains(id.as_str()) {
            // Stored, but not for this caller: audited once per id and call.
            if denied.insert(id.clone()) {
                store
                    .audit(
                        &p.audit("access.denied", id.as_str(), ip)
                            .outcome(isac_store::Outcome::Denied)
                            .detail(
                                "submitted a version of an object outside the caller's audience",
                            ),
                    )
                    .await?;
            }
            outcomes[i].result = Err(NOT_YOURS.into());
            continue;
        }
        // TAXII status resources are read by programs: their messages stay English.
        let prepared = match prepare_ingest(
            Locale::En,
            &dir,
            &users,
            &p.user,
            m,
            default,
            cur,
            &declared,
        ) {
            Ok(x) => x.new,
            Err(e) => {
                outcomes[i].result = Err(e.message);
                continue;
            }
        };
        let key = (prepared.stix_id.clone(), prepared.modified.clone());
        // An id the call did not name as such (one the preparation gave the object) is looked
        // up on its own.
        let already = planned.contains(&key)
            || stored.contains(&key)
            || (named.binary_search(&prepared.stix_id).is_err()
                && store
                    .version_exists(&prepared.stix_id, &prepared.modified)
                    .await?);
        if let Some(c) = cur {
            if !already && outcomes[i].version.is_empty() && c.body == prepared.body.as_str() {
                outcomes[i].result = Ok(Ingested::Unchanged);
                continue;
            }
            if !already && c.revoked {
                outcomes[i].result =
                    Err("the object is revoked; revoked objects get no new versions".into());
                continue;
            }
        }
        outcomes[i].result = Ok(if already {
            Ingested::Unchanged
        } else if cur.is_some() || planned.iter().any(|(id, _)| *id == prepared.stix_id) {
            Ingested::Versioned
        } else {
            Ingested::Created
        });
        planned.insert(key);
        batch.push(prepared);
        index.push(i);
    }
    if batch.is_empty() {
        return Ok(outcomes);
    }
    let writer_org = p.org.id.clone();
    let viewer = p.viewer.clone();
    let check = |latest: &isac_policy::Access, new: &NewObject| {
        // Under the write lock: the caller may still read the latest version, and this version
        // does not widen it unless the caller's org owns it.
        if !isac_policy::can_read(&viewer, latest) {
            return Err(StoreError::Invalid(NOT_YOURS.into()));
        }
        check_new_version(&writer_org, latest, &new.access)
            .map_err(|e| StoreError::Invalid(e.to_string()))
    };
    match session
        .import(
            &batch,
            OnRefusal::SkipRefused,
            check,
            p.audit("object.ingest", "-", ip),
        )
        .await
    {
        Ok(out) => {
            for r in out.refused {
                outcomes[index[r.index]].result = Err(r.reason);
            }
        }
        // A version the unit check refuses (a field over its limit, say) keeps the whole unit
        // out: store the objects one by one, so that each gets its own answer.
        Err(StoreError::Invalid(_) | StoreError::Conflict(_)) => {
            for (n, i) in batch.iter().zip(index) {
                let before = session.pending();
                let one = session
                    .import(
                        std::slice::from_ref(n),
                        OnRefusal::SkipRefused,
                        check,
                        p.audit("object.ingest", n.stix_id.as_str(), ip),
                    )
                    .await;
                match one {
                    Ok(out) => {
                        if let Some(r) = out.refused.into_iter().next() {
                            outcomes[i].result = Err(r.reason);
                        }
                    }
                    // Refused before anything was written, or when nothing of the call had been
                    // stored yet: the object fails on its own. A database error after other
                    // objects went in has rolled them back with it, so the call fails whole.
                    Err(e @ (StoreError::Invalid(_) | StoreError::Conflict(_)))
                        if before == 0 || session.pending() == before =>
                    {
                        outcomes[i].result = Err(e.to_string());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_the_objects_own_properties() {
        use serde_json::json;
        let title = |v: Value| {
            let o = v.as_object().expect("object").clone();
            title_of(&o, "x--1")
        };
        for (object, expected) in [
            (
                json!({"type": "malware", "name": "LanternJack"}),
                "LanternJack",
            ),
            (
                json!({"type": "domain-name", "value": "a.example"}),
                "a.example",
            ),
            (
                json!({"type": "note", "abstract": " ", "content": "\n  First line\nsecond"}),
                "First line",
            ),
            (
                json!({"type": "note", "abstract": "Summary", "content": "body"}),
                "Summary",
            ),
            (
                json!({"type": "opinion", "opinion": "agree", "explanation": "Seen too.\nMore"}),
                "agree: Seen too.",
            ),
            (
                json!({"type": "file", "hashes": {"MD5": "aa", "SHA-256": "bb"}}),
                "SHA-256 bb",
            ),
            (json!({"type": "file", "hashes": {"TLSH": "cc"}}), "TLSH cc"),
            (
                json!({"type": "file", "name": "a.exe", "hashes": {"MD5": "aa"}}),
                "a.exe",
            ),
            (
                json!({"type": "email-message", "subject": "Invoice"}),
                "Invoice",
            ),
            (
                json!({"type": "autonomous-system", "number": 64496}),
                "AS64496",
            ),
            (json!({"type": "user-account", "user_id": "1001"}), "1001"),
            (
                json!({"type": "marking-definition", "definition_type": "statement",
                       "definition": {"statement": "Copyright 2020, Example Corp.\nMore"}}),
                "Copyright 2020, Example Corp.",
            ),
            (
                json!({"type": "marking-definition", "definition_type": "tlp",
                       "definition": {"tlp": "amber"}}),
                "TLP:AMBER",
            ),
            (
                json!({"type": "marking-definition", "name": "PAP:GREEN",
                       "definition": {"statement": "s"}}),
                "PAP:GREEN",
            ),
            // Nothing of its own to go by, so its id: never a referenced object's name.
            (
                json!({"type": "sighting", "sighting_of_ref": "indicator--2"}),
                "x--1",
            ),
        ] {
            assert_eq!(title(object.clone()), expected, "{object}");
        }
        assert_eq!(
            title(json!({"type": "note", "content": "x".repeat(300)})).len(),
            200
        );
    }

    /// The direct form of `column_time` is exactly chrono's.
    #[test]
    fn column_time_writes_what_chrono_writes() {
        let chrono_form = |s: &str| {
            DateTime::parse_from_rfc3339(s).ok().map(|t| {
                t.with_timezone(&Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string()
            })
        };
        for s in [
            "2026-03-01T00:00:00Z",
            "2026-03-01T00:00:00.1Z",
            "2026-03-01T00:00:00.123Z",
            "2026-03-01T23:59:59.123456Z",
            "2026-03-01T23:59:59.1234567Z",
            "2026-03-01T23:59:59.123456789Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2024-02-29T12:00:00.000Z",
            "2023-02-29T12:00:00.000Z",
            "2026-13-01T00:00:00Z",
            "2026-03-01T00:00:00.Z",
            "2026-03-01T24:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
        ] {
            assert_eq!(column_time(s), chrono_form(s), "{s}");
        }
        assert_eq!(column_time("2026-03-01T00:00:00+00:00"), None);
    }
}
