//! The TAXII 2.1 server under `/taxii2/`: discovery, one API root (`/taxii2/isac/`), its
//! collections, objects, manifests, versions and status resources (docs/TAXII.md).
//!
//! Collections are views of the one store, cut by the reader's TLP audience: everything the
//! reader may see; per sharing group, what the reader may see whose audience names that group;
//! a public TLP:CLEAR collection readable without login; and a write collection through which
//! members submit, whose content is what the reader may see of their own org's objects. Every
//! object, manifest entry and version comes from `isac_store` functions that take the reader's
//! viewer (filtered in SQL, re-checked with the policy), or is a directory entry (an org
//! identity, isac's extension definition) whose access the policy judges in the store as well.
//! What a reader may not see is answered exactly like what does not exist.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use isac_model::{OrgKind, Tlp, limits};
use isac_policy::Viewer;
use isac_store::{StoredObject, TaxiiQuery, VersionSel};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::{ClientIp, Principal};
use crate::error::ApiError;
use crate::intel::{self, Ingested};
use crate::routes::{Routes, Rule};

/// The TAXII media type this server speaks.
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX media type of every object served.
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";
/// The one API root.
pub const API_ROOT: &str = "/taxii2/isac/";
/// Everything the reader may see.
pub const COLLECTION_ALL: &str = "4290e3b7-e55f-40c4-98ba-2051140b14b4";
/// TLP:CLEAR objects, readable without login.
pub const COLLECTION_PUBLIC: &str = "f156e4c7-f0c4-4a34-8a18-5c89a66f6a23";
/// Submissions to the ISAC; read, it holds the reader's org's objects.
pub const COLLECTION_SUBMIT: &str = "2de7d7a9-31af-446e-9a31-89e65969db20";
/// The UUIDv5 namespace of sharing-group collection ids.
pub const GROUP_NAMESPACE: uuid::Uuid = uuid::uuid!("cabe4202-0aa9-4500-8046-856cccb91289");
/// Largest page; the default is [`PAGE_DEFAULT`].
pub const PAGE_MAX: u32 = 1000;
pub const PAGE_DEFAULT: u32 = 100;
/// Most objects one envelope may carry.
pub const ENVELOPE_MAX: usize = 1000;

/// The public collection's paths, spelled out so that they can be public routes while every
/// other collection's paths need a login.
macro_rules! public_path {
    ($rest:literal) => {
        concat!(
            "/taxii2/isac/collections/f156e4c7-f0c4-4a34-8a18-5c89a66f6a23/",
            $rest
        )
    };
}

pub fn routes(r: Routes) -> Routes {
    use Rule::*;
    r.add(Method::GET, "/taxii2/", Public, get(discovery))
        .add(Method::GET, "/taxii2/isac/", Public, get(api_root))
        .add(
            Method::GET,
            "/taxii2/isac/collections/",
            Public,
            get(collections),
        )
        .add(
            Method::GET,
            "/taxii2/isac/collections/{id}/",
            User,
            get(collection),
        )
        .add(
            Method::GET,
            "/taxii2/isac/collections/{id}/objects/",
            User,
            get(objects),
        )
        .add(
            Method::POST,
            "/taxii2/isac/collections/{id}/objects/",
            IntelWriter,
            post(add_objects),
        )
        .add(
            Method::GET,
            "/taxii2/isac/collections/{id}/objects/{object_id}/",
            User,
            get(object),
        )
        .add(
            Method::DELETE,
            "/taxii2/isac/collections/{id}/objects/{object_id}/",
            IntelWriter,
            delete(delete_object),
        )
        .add(
            Method::GET,
            "/taxii2/isac/collections/{id}/objects/{object_id}/versions/",
            User,
            get(versions),
        )
        .add(
            Method::GET,
            "/taxii2/isac/collections/{id}/manifest/",
            User,
            get(manifest),
        )
        .add(
            Method::GET,
            public_path!(""),
            Public,
            get(public_collection_handler),
        )
        .add(
            Method::GET,
            public_path!("objects/"),
            Public,
            get(public_objects),
        )
        .add(
            Method::POST,
            public_path!("objects/"),
            IntelWriter,
            post(public_add_objects),
        )
        .add(
            Method::GET,
            public_path!("objects/{object_id}/"),
            Public,
            get(public_object),
        )
        .add(
            Method::DELETE,
            public_path!("objects/{object_id}/"),
            IntelWriter,
            delete(public_delete_object),
        )
        .add(
            Method::GET,
            public_path!("objects/{object_id}/versions/"),
            Public,
            get(public_versions),
        )
        .add(
            Method::GET,
            public_path!("manifest/"),
            Public,
            get(public_manifest),
        )
        .add(Method::GET, "/taxii2/isac/status/{id}/", User, get(status))
        .add(Method::GET, "/taxii2/isac/status/{id}", User, get(status))
}

// ---------------------------------------------------------------- media types and errors

/// A TAXII error resource (TAXII 2.1 §3.6.1) with its status: `title`, `description`,
/// `error_code` (the server's code for the kind of error) and `http_status`, which is the status
/// of the response as a string.
fn error(status: StatusCode, title: &str, code: &str, description: impl Into<String>) -> Response {
    let body = json!({
        "title": title,
        "description": description.into(),
        "error_code": code,
        "http_status": status.as_u16().to_string(),
    });
    let mut r = taxii_response(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"isac\", Bearer realm=\"isac\""),
        );
    }
    r
}

fn api_error(e: ApiError) -> Response {
    let title = match e.status {
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::UNAUTHORIZED => "Authentication required",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::NOT_ACCEPTABLE => "Not acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "Request too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable request",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        _ => "Server error",
    };
    if e.status.is_server_error() {
        tracing::error!(code = e.code, "TAXII request failed");
    }
    error(e.status, title, e.code, e.message)
}

fn taxii_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII));
    r
}

fn ok(body: &Value) -> Response {
    taxii_response(StatusCode::OK, body)
}

/// An error answered as a TAXII error resource.
#[derive(Debug)]
pub struct TaxiiError(pub ApiError);

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        api_error(self.0)
    }
}

impl From<ApiError> for TaxiiError {
    fn from(e: ApiError) -> TaxiiError {
        TaxiiError(e)
    }
}

type TaxiiResult = Result<Response, TaxiiError>;

fn from_store(e: isac_store::StoreError) -> TaxiiError {
    TaxiiError(ApiError::from(e))
}

/// How one media range of an `Accept` header bears on TAXII 2.1: `None` when it does not cover
/// it, else its specificity (RFC 7231 §5.3.2: `*/*` 0, `application/*` 1,
/// `application/taxii+json` 2, with `version=2.1` 3) and its quality. A TAXII range without a
/// version asks for the latest version the server supports, which is 2.1 (TAXII 2.1 §1.6.8.2);
/// one with another version does not cover 2.1.
fn range_covers(range: &str) -> Option<(u8, f32)> {
    let mut parts = range.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default().to_ascii_lowercase();
    let mut version = None;
    let mut q = 1.0_f32;
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
            if k == "version" {
                version = Some(v.to_owned());
            } else if k == "q" {
                // An unreadable quality counts as the default, 1.
                q = v
                    .parse::<f32>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .unwrap_or(1.0);
            }
        }
    }
    let specificity = match media.as_str() {
        "*/*" => 0,
        "application/*" => 1,
        "application/taxii+json" => match version.as_deref() {
            None => 2,
            Some("2.1") => 3,
            Some(_) => return None,
        },
        _ => return None,
    };
    Some((specificity, q))
}

/// Whether an `Accept` header admits TAXII 2.1 (an absent header does): the most specific media
/// range that covers it must have a quality above zero.
pub fn accepts(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    let mut best: Option<(u8, f32)> = None;
    for (specificity, q) in values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(range_covers)
    {
        best = match best {
            Some((s, _)) if s > specificity => best,
            // Equally specific ranges: the most favourable one counts.
            Some((s, bq)) if s == specificity => Some((s, bq.max(q))),
            _ => Some((specificity, q)),
        };
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

/// Whether a `Content-Type` is the TAXII 2.1 media type.
fn is_taxii_content(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = ct.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("application/taxii+json"))
    {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("version") => {
            v.trim().trim_matches('"') == "2.1"
        }
        _ => true,
    })
}

/// The layer on every request: under `/taxii2/`, refuses an `Accept` that does not admit TAXII
/// 2.1 (406) and turns every error answered by the shared layers (authentication, route rules,
/// unknown routes) into a TAXII error resource; a 401 names the Basic and Bearer schemes.
pub async fn layer(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/taxii2") {
        return next.run(req).await;
    }
    if !accepts(req.headers()) {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            "not_acceptable",
            format!("this server answers {MEDIA_TAXII}; send it in Accept"),
        );
    }
    let r = next.run(req).await;
    let is_taxii = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/taxii+json"));
    if r.status().is_success() || is_taxii || r.status().is_redirection() {
        return r;
    }
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<crate::error::ErrorBody>(&bytes)
        .map(|b| b.message)
        .unwrap_or_else(|_| {
            status
                .canonical_reason()
                .unwrap_or("request refused")
                .to_owned()
        });
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ => "error",
    };
    api_error(ApiError::new(status, code, message))
}

// ---------------------------------------------------------------- callers and collections

/// The caller if logged in; anonymous callers are `None`.
pub struct MaybePrincipal(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for MaybePrincipal {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybePrincipal(parts.extensions.get::<Principal>().cloned()))
    }
}

fn viewer_of(p: Option<&Principal>) -> Viewer {
    p.map_or_else(Viewer::anonymous, |p| p.viewer.clone())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    All,
    Public,
    /// The write collection; reading it lists the objects owned by this org.
    Submit {
        org: String,
    },
    /// A sharing group's collection.
    Group {
        id: String,
        name: String,
    },
}

#[derive(Debug, Clone)]
struct Collection {
    id: String,
    title: String,
    description: String,
    kind: Kind,
    can_read: bool,
    can_write: bool,
    /// An id the collection was known by before, still accepted in URLs.
    former_id: Option<String>,
}

impl Collection {
    fn resource(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": self.can_read,
            "can_write": self.can_write,
            "media_types": [MEDIA_STIX],
        })
    }

    /// The collection's narrowing of the reader's scope.
    fn query(&self) -> TaxiiQuery {
        TaxiiQuery {
            tlp: (self.kind == Kind::Public).then_some(Tlp::Clear),
            group: match &self.kind {
                Kind::Group { id, .. } => Some(id.clone()),
                _ => None,
            },
            owner_org: match &self.kind {
                Kind::Submit { org } => Some(org.clone()),
                _ => None,
            },
            ..TaxiiQuery::default()
        }
    }
}

/// The collection id of a sharing group. TAXII 2.1 §2 makes a collection id a version 4 UUID;
/// the group's id is stable, so the 122 free bits are the UUIDv5 of the group id in
/// [`GROUP_NAMESPACE`], with the version and variant bits of a version 4 UUID.
pub fn group_collection_id(group_id: &str) -> String {
    let named = uuid::Uuid::new_v5(&GROUP_NAMESPACE, group_id.as_bytes());
    uuid::Builder::from_random_bytes(*named.as_bytes())
        .into_uuid()
        .to_string()
}

/// The id a sharing group's collection had before [`group_collection_id`]: the UUIDv5 itself.
/// It is still accepted in URLs, so that clients configured with it keep working.
fn former_group_collection_id(group_id: &str) -> String {
    uuid::Uuid::new_v5(&GROUP_NAMESPACE, group_id.as_bytes()).to_string()
}

fn public_collection() -> Collection {
    Collection {
        id: COLLECTION_PUBLIC.into(),
        title: "TLP:CLEAR".into(),
        description: "Intelligence marked TLP:CLEAR, readable by anyone, without login.".into(),
        kind: Kind::Public,
        can_read: true,
        can_write: false,
        former_id: None,
    }
}

/// The collections `p` may know of, in a fixed order.
async fn collections_for(
    s: &AppState,
    p: Option<&Principal>,
) -> Result<Vec<Collection>, TaxiiError> {
    let mut out = Vec::new();
    if p.is_some() {
        out.push(Collection {
            id: COLLECTION_ALL.into(),
            title: "All intelligence I may read".into(),
            description: "Every object the caller may read under TLP, with the directory identities it may read.".into(),
            kind: Kind::All,
            can_read: true,
            can_write: false,
            former_id: None,
        });
    }
    out.push(public_collection());
    if let Some(p) = p {
        let mut groups: Vec<_> = s
            .store
            .groups()
            .await
            .map_err(from_store)?
            .into_iter()
            .filter(|g| p.viewer.groups.contains(&g.id))
            .collect();
        groups.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        for g in groups {
            out.push(Collection {
                id: group_collection_id(&g.id),
                title: format!("Sharing group: {}", g.name),
                description: format!(
                    "Objects the caller may read whose audience names the sharing group {}.",
                    g.name
                ),
                former_id: Some(former_group_collection_id(&g.id)),
                kind: Kind::Group {
                    id: g.id,
                    name: g.name,
                },
                can_read: true,
                can_write: false,
            });
        }
        out.push(Collection {
            id: COLLECTION_SUBMIT.into(),
            title: "Submit to the ISAC".into(),
            description: "STIX 2.1 objects posted here are shared under their TLP markings and audience; unmarked objects get the default TLP. Reading it lists the objects the caller's org has shared (as the caller may read them); the org's writers delete objects here.".into(),
            kind: Kind::Submit {
                org: p.org.id.clone(),
            },
            can_read: true,
            can_write: p.user.role.may_write_intel(),
            former_id: None,
        });
    }
    Ok(out)
}

/// What a collection is, for the web page that lists them (which names it in the reader's
/// language; the TAXII resource's own title is English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionKind {
    /// Everything the reader may read.
    All,
    /// The TLP:CLEAR collection, readable without login.
    Public,
    /// A sharing group's collection: the group's name.
    Group(String),
    /// The write collection.
    Submit,
}

/// One collection as `p` may read it, with what a full read of it would return now.
#[derive(Debug, Clone)]
pub struct CollectionSummary {
    pub id: String,
    pub kind: CollectionKind,
    pub can_read: bool,
    pub can_write: bool,
    /// Current versions a full read returns: stored objects under the reader's TLP scope and
    /// the collection's narrowing, and the directory entries it serves.
    pub objects: i64,
    /// When the newest of them was added, unix microseconds.
    pub last_added: Option<i64>,
}

/// The collections `p` may know of, in the order of the collections endpoint, each with the
/// number of current versions it serves to `p`. Every figure passes the TLP policy: the store
/// counts under `p`'s read scope, and directory entries are those `p` may read.
pub async fn collection_summaries(
    s: &AppState,
    p: &Principal,
) -> Result<Vec<CollectionSummary>, ApiError> {
    let viewer = viewer_of(Some(p));
    let collections = collections_for(s, Some(p)).await.map_err(|e| e.0)?;
    let queries: Vec<TaxiiQuery> = collections.iter().map(Collection::query).collect();
    let figures = s
        .store
        .taxii_collection_summaries(&viewer, &queries)
        .await
        .map_err(|e| from_store(e).0)?;
    let mut out = Vec::new();
    for (c, (stored, last)) in collections.into_iter().zip(figures) {
        let directory = directory_items(s, Some(p), &c).await.map_err(|e| e.0)?;
        let last_directory = directory.iter().map(|i| i.date_added).max();
        out.push(CollectionSummary {
            id: c.id,
            kind: match c.kind {
                Kind::All => CollectionKind::All,
                Kind::Public => CollectionKind::Public,
                Kind::Submit { .. } => CollectionKind::Submit,
                Kind::Group { name, .. } => CollectionKind::Group(name),
            },
            can_read: c.can_read,
            can_write: c.can_write,
            objects: stored + i64::try_from(directory.len()).unwrap_or(i64::MAX),
            last_added: last.max(last_directory),
        });
    }
    Ok(out)
}

/// The collection `id` as `p` may know it: the public one for anyone; others need a login (401),
/// and a collection the caller may not know of is not found.
async fn find_collection(
    s: &AppState,
    p: Option<&Principal>,
    id: &str,
) -> Result<Collection, TaxiiError> {
    if id == COLLECTION_PUBLIC {
        return Ok(public_collection());
    }
    if p.is_none() {
        return Err(TaxiiError(ApiError::unauthenticated()));
    }
    collections_for(s, p)
        .await?
        .into_iter()
        .find(|c| c.id == id || c.former_id.as_deref() == Some(id))
        .ok_or_else(|| TaxiiError(ApiError::not_found("collection")))
}

fn require_read(c: &Collection) -> Result<(), TaxiiError> {
    if c.can_read {
        Ok(())
    } else {
        Err(TaxiiError(ApiError::forbidden(
            "this collection is write-only; read from the other collections",
        )))
    }
}

// ---------------------------------------------------------------- discovery, API root, collections

/// The discovery resource. The API root is given as a relative URL, which TAXII 2.1 §4.1.1
/// allows beside HTTPS absolute URLs: it names the root on whatever scheme and host the client
/// reached, behind a TLS-terminating proxy too, and takes nothing from the `Host` header.
async fn discovery() -> Response {
    let root = API_ROOT;
    ok(&json!({
        "title": "isac TAXII 2.1 server",
        "description": "Threat intelligence shared under the Traffic Light Protocol. Log in with an API key as the HTTP Basic password or as a Bearer token; without one, only TLP:CLEAR is served.",
        "default": root,
        "api_roots": [root],
    }))
}

async fn api_root() -> Response {
    ok(&json!({
        "title": "isac",
        "description": "The ISAC's intelligence, cut by each reader's TLP audience.",
        "versions": [MEDIA_TAXII],
        "max_content_length": limits::BODY_BYTES,
    }))
}

async fn collections(State(s): State<AppState>, MaybePrincipal(p): MaybePrincipal) -> TaxiiResult {
    let list: Vec<Value> = collections_for(&s, p.as_ref())
        .await?
        .iter()
        .map(Collection::resource)
        .collect();
    Ok(ok(&json!({ "collections": list })))
}

async fn collection(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path(id): Path<String>,
) -> TaxiiResult {
    let c = find_collection(&s, p.as_ref(), &id).await?;
    Ok(ok(&c.resource()))
}

async fn public_collection_handler(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
) -> TaxiiResult {
    let c = find_collection(&s, p.as_ref(), COLLECTION_PUBLIC).await?;
    Ok(ok(&c.resource()))
}

// ---------------------------------------------------------------- filters and paging

/// A page position: after a directory entry or after a stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    Entry { date_added: i64, id: String },
    Stored { date_added: i64, pk: i64 },
}

impl Cursor {
    fn encode(&self) -> String {
        match self {
            Cursor::Entry { date_added, id } => format!("e{date_added}.{id}"),
            Cursor::Stored { date_added, pk } => format!("s{date_added}.{pk}"),
        }
    }

    fn decode(s: &str) -> Option<Cursor> {
        let (d, rest) = s.get(1..)?.split_once('.')?;
        let date_added: i64 = d.parse().ok()?;
        match s.as_bytes()[0] {
            b'e' if rest.len() <= 300 => Some(Cursor::Entry {
                date_added,
                id: rest.to_owned(),
            }),
            b's' => Some(Cursor::Stored {
                date_added,
                pk: rest.parse().ok()?,
            }),
            _ => None,
        }
    }

    /// Sort key: date_added, then directory entries before stored rows, then id or pk.
    fn key(&self) -> (i64, u8, String, i64) {
        match self {
            Cursor::Entry { date_added, id } => (*date_added, 0, id.clone(), 0),
            Cursor::Stored { date_added, pk } => (*date_added, 1, String::new(), *pk),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Filters {
    added_after: Option<i64>,
    limit: u32,
    next: Option<Cursor>,
    ids: Vec<String>,
    types: Vec<String>,
    versions: Vec<VersionSel>,
    spec_versions: Vec<String>,
}

/// A malformed URL parameter: TAXII 2.1 §3.4 asks for 400.
fn bad_filter(msg: impl Into<String>) -> TaxiiError {
    TaxiiError(ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_filter",
        msg,
    ))
}

fn parse_time_micros(s: &str) -> Option<i64> {
    let col = intel::column_time(s)?;
    DateTime::parse_from_rfc3339(&col)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

/// The URL parameters TAXII defines. Each may be given once (TAXII 2.1 §3.4).
const PARAMETERS: [&str; 7] = [
    "added_after",
    "limit",
    "next",
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
];

/// The comma-separated values of a `match` parameter; an empty value is malformed.
fn match_values(name: &str, v: &str) -> Result<Vec<String>, TaxiiError> {
    let values: Vec<String> = v.split(',').map(|s| s.trim().to_owned()).collect();
    if values.iter().any(String::is_empty) {
        return Err(bad_filter(format!(
            "{name} takes one or more values separated by commas, none of them empty"
        )));
    }
    Ok(values)
}

/// Parses TAXII's URL parameters. Parameters an endpoint does not take are ignored, as are
/// unknown ones (TAXII 2.1 §3.4 lets servers ignore match fields they do not understand). A
/// malformed value, a parameter given twice, `match[version]` naming a version twice or `all`
/// beside another version is refused with 400. A `limit` above [`PAGE_MAX`] is served as
/// [`PAGE_MAX`].
fn parse_filters(q: Option<&str>) -> Result<Filters, TaxiiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.unwrap_or_default())
        .map_err(|_| bad_filter("the query string is not valid"))?;
    let mut f = Filters {
        limit: PAGE_DEFAULT,
        ..Filters::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in &pairs {
        let Some(name) = PARAMETERS.iter().copied().find(|p| p == k) else {
            continue;
        };
        if seen.contains(&name) {
            return Err(bad_filter(format!("{name} may be given only once")));
        }
        seen.push(name);
        match name {
            "added_after" => {
                f.added_after = Some(parse_time_micros(v).ok_or_else(|| {
                    bad_filter("added_after must be an RFC 3339 timestamp in UTC")
                })?);
            }
            "limit" => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad_filter("limit must be a positive integer"));
                }
                // Any positive integer is a valid limit; the server serves at most PAGE_MAX.
                let digits = v.trim_start_matches('0');
                if digits.is_empty() {
                    return Err(bad_filter("limit must be greater than zero"));
                }
                f.limit = digits.parse::<u32>().map_or(PAGE_MAX, |n| n.min(PAGE_MAX));
            }
            "next" => {
                f.next = Some(
                    Cursor::decode(v)
                        .ok_or_else(|| bad_filter("next is not a value this server issued"))?,
                );
            }
            "match[id]" => f.ids = match_values(name, v)?,
            "match[type]" => f.types = match_values(name, v)?,
            "match[spec_version]" => f.spec_versions = match_values(name, v)?,
            _ => {
                for x in match_values(name, v)? {
                    let sel = match x.as_str() {
                        "first" => VersionSel::First,
                        "last" => VersionSel::Last,
                        "all" => VersionSel::All,
                        t => VersionSel::At(intel::column_time(t).ok_or_else(|| {
                            bad_filter(
                                "match[version] takes first, last, all or RFC 3339 timestamps in UTC",
                            )
                        })?),
                    };
                    if f.versions.contains(&sel) {
                        return Err(bad_filter(format!(
                            "match[version] names {x} more than once"
                        )));
                    }
                    f.versions.push(sel);
                }
                if f.versions.len() > 1 && f.versions.contains(&VersionSel::All) {
                    return Err(bad_filter(
                        "match[version]=all may not be combined with other versions",
                    ));
                }
            }
        }
    }
    let max = isac_store::MATCH_VALUES_MAX;
    if f.ids.len() > max
        || f.types.len() > max
        || f.versions.len() > max
        || f.spec_versions.len() > max
    {
        return Err(bad_filter(format!(
            "a match filter may list at most {max} values"
        )));
    }
    if f.ids
        .iter()
        .chain(&f.types)
        .chain(&f.spec_versions)
        .any(|s| s.len() > 300)
    {
        return Err(bad_filter("a match value is too long"));
    }
    Ok(f)
}

/// One item of a listing: a stored version or a directory entry, as the reader receives it.
struct Item {
    cursor: Cursor,
    id: String,
    stix_type: String,
    date_added: i64,
    /// The object's own version text (`modified`, else `created`), else the stored version.
    version: String,
    object: Value,
}

/// A stored time as TAXII writes `date_added`: RFC 3339, UTC, to the microsecond.
pub(crate) fn date_text(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// A stored object as `p` receives it: attribution (the creator identity and isac's audience
/// extension) only for the owner org and the operator, as in the REST API; others see the ISAC
/// as the creator.
fn emit(p: Option<&Principal>, operator: Option<&str>, o: &StoredObject) -> Value {
    let mut obj: Map<String, Value> = serde_json::from_str(&o.body).unwrap_or_default();
    intel::strip_audience(&mut obj);
    let full = p.is_some_and(|p| p.org.id == o.access.owner_org || p.org.kind == OrgKind::Operator);
    if full {
        let a = &o.access;
        let audience = isac_stix::audience::Audience {
            orgs: a
                .recipient_orgs
                .iter()
                .map(|o| intel::identity_id(o))
                .collect(),
            groups: a.recipient_groups.iter().cloned().collect(),
            users: a.named_users.iter().cloned().collect(),
        };
        if audience != isac_stix::audience::Audience::default() {
            isac_stix::audience::write(&mut obj, &audience);
        }
    } else if obj.contains_key("created_by_ref") {
        match operator {
            Some(op) => {
                obj.insert(
                    "created_by_ref".into(),
                    Value::String(intel::identity_id(op)),
                );
            }
            None => {
                obj.remove("created_by_ref");
            }
        }
    }
    Value::Object(obj)
}

fn stored_item(p: Option<&Principal>, operator: Option<&str>, o: &StoredObject) -> Item {
    let object = emit(p, operator, o);
    let version = object
        .get("modified")
        .or_else(|| object.get("created"))
        .and_then(Value::as_str)
        .map_or_else(|| o.modified.clone(), str::to_owned);
    Item {
        cursor: Cursor::Stored {
            date_added: o.date_added,
            pk: o.pk,
        },
        id: o.stix_id.clone(),
        stix_type: o.stix_type.clone(),
        date_added: o.date_added,
        version,
        object,
    }
}

/// The directory entries of a collection that `p` may read: org identities (per the policy, see
/// `isac_store::identity_access`) and isac's extension definition (CLEAR).
async fn directory_items(
    s: &AppState,
    p: Option<&Principal>,
    c: &Collection,
) -> Result<Vec<Item>, TaxiiError> {
    let wanted = match c.kind {
        Kind::All => None,
        Kind::Public => Some(Tlp::Clear),
        Kind::Group { .. } | Kind::Submit { .. } => return Ok(Vec::new()),
    };
    let viewer = viewer_of(p);
    let ids = s
        .store
        .taxii_identities(&viewer)
        .await
        .map_err(from_store)?;
    let operator = ids
        .iter()
        .find(|(o, _)| o.kind == OrgKind::Operator)
        .map(|(o, _)| o.clone());
    let op_id = operator.as_ref().map(|o| o.id.as_str());
    let mut out = Vec::new();
    for (org, access) in &ids {
        if wanted.is_some_and(|t| t != access.tlp) {
            continue;
        }
        let object = intel::org_identity(org, access.tlp, op_id);
        out.push(Item {
            cursor: Cursor::Entry {
                date_added: org.created_at,
                id: intel::identity_id(&org.id),
            },
            id: intel::identity_id(&org.id),
            stix_type: "identity".into(),
            date_added: org.created_at,
            version: intel::stix_time_of(org.created_at),
            object,
        });
    }
    if let Some(op) = &operator {
        out.push(Item {
            cursor: Cursor::Entry {
                date_added: op.created_at,
                id: isac_stix::audience::EXTENSION_ID.into(),
            },
            id: isac_stix::audience::EXTENSION_ID.into(),
            stix_type: "extension-definition".into(),
            date_added: op.created_at,
            version: isac_stix::audience::EXTENSION_CREATED.into(),
            object: Value::Object(isac_stix::audience::extension_definition(
                &intel::identity_id(&op.id),
            )),
        });
        // The predefined TLP marking definitions (2.0, and 1.0, which submitted objects may
        // still carry) that stored objects are marked with. They are never stored, so a
        // collection serves them here, to every reader, for clients that resolve markings from
        // the collection itself; like isac's extension definition, they count as added with the
        // operator. A definition has one version, its `created`.
        for definition in isac_stix::tlp::all_definitions() {
            let field = |k: &str| {
                definition
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let (id, version) = (field("id"), field("created"));
            out.push(Item {
                cursor: Cursor::Entry {
                    date_added: op.created_at,
                    id: id.clone(),
                },
                id,
                stix_type: "marking-definition".into(),
                date_added: op.created_at,
                version,
                object: Value::Object(definition),
            });
        }
    }
    Ok(out)
}

fn entry_matches(item: &Item, f: &Filters, stix_id: Option<&str>) -> bool {
    if stix_id.is_some_and(|id| id != item.id) {
        return false;
    }
    if !f.ids.is_empty() && !f.ids.contains(&item.id) {
        return false;
    }
    if !f.types.is_empty() && !f.types.contains(&item.stix_type) {
        return false;
    }
    if f.added_after.is_some_and(|a| item.date_added <= a) {
        return false;
    }
    if let Some(n) = &f.next
        && item.cursor.key() <= n.key()
    {
        return false;
    }
    // A directory entry has one version: it is the first, the last and every version.
    let col = intel::column_time(&item.version);
    f.versions.is_empty()
        || f.versions.iter().any(|v| match v {
            VersionSel::At(t) => col.as_ref() == Some(t),
            _ => true,
        })
}

/// One page of a collection for `p`: stored versions and directory entries together, oldest
/// `date_added` first. Returns the items and, when more follow, where the next page starts.
async fn list(
    s: &AppState,
    p: Option<&Principal>,
    c: &Collection,
    f: &Filters,
    stix_id: Option<&str>,
) -> Result<(Vec<Item>, Option<Cursor>), TaxiiError> {
    if !f.spec_versions.is_empty() && !f.spec_versions.iter().any(|v| v == "2.1") {
        return Ok((Vec::new(), None));
    }
    let viewer = viewer_of(p);
    let mut q = c.query();
    q.stix_id = stix_id.map(str::to_owned);
    q.ids = f.ids.clone();
    q.types = f.types.clone();
    q.versions = f.versions.clone();
    q.added_after = f.added_after;
    q.limit = f.limit;
    match &f.next {
        Some(Cursor::Stored { pk, .. }) => q.after_pk = Some(*pk),
        Some(Cursor::Entry { date_added, .. }) => q.from_date = Some(*date_added),
        None => {}
    }
    let page = s
        .store
        .taxii_objects(&viewer, &q)
        .await
        .map_err(from_store)?;
    let operator = s.store.operator_org().await.ok().map(|o| o.id);
    let mut items: Vec<Item> = page
        .objects
        .iter()
        .map(|o| stored_item(p, operator.as_deref(), o))
        .collect();
    // When stored rows follow this page, a directory entry added after the last row it read
    // belongs to a later page: served now, it would become the page's `next` and the rows between
    // would be skipped.
    let last_read = page
        .last_read
        .map(|(date_added, pk)| Cursor::Stored { date_added, pk });
    let bound = if page.more {
        last_read.as_ref().map(Cursor::key)
    } else {
        None
    };
    items.extend(
        directory_items(s, p, c)
            .await?
            .into_iter()
            .filter(|i| entry_matches(i, f, stix_id))
            .filter(|i| bound.as_ref().is_none_or(|b| i.cursor.key() < *b)),
    );
    items.sort_by_key(|i| i.cursor.key());
    let limit = f.limit as usize;
    // The next page starts after the last item served, or, when every item fits, after the last
    // stored row read: the store's re-check may have left rows out (an object it withholds
    // whole), and the page must not stop or step back because of them.
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|i| i.cursor.clone())
    } else if page.more {
        last_read
    } else {
        None
    };
    Ok((items, next))
}

/// `X-TAXII-Date-Added-First` and `-Last`: the first and last `date_added` of a page.
fn date_range(items: &[Item]) -> Option<(i64, i64)> {
    Some((items.first()?.date_added, items.last()?.date_added))
}

fn with_date_headers(mut r: Response, range: Option<(i64, i64)>) -> Response {
    if let Some((first, last)) = range {
        let h = r.headers_mut();
        for (name, micros) in [
            ("x-taxii-date-added-first", first),
            ("x-taxii-date-added-last", last),
        ] {
            if let Ok(v) = HeaderValue::from_str(&date_text(micros)) {
                h.insert(name, v);
            }
        }
    }
    r
}

/// The paging part of a list response: `more`, and `next` when more follow.
fn paging(next: Option<Cursor>) -> Value {
    let mut body = json!({ "more": next.is_some() });
    if let Some(n) = next {
        body["next"] = Value::String(n.encode());
    }
    body
}

fn envelope(items: Vec<Item>, next: Option<Cursor>) -> Response {
    let mut body = paging(next);
    let range = date_range(&items);
    if !items.is_empty() {
        body["objects"] = Value::Array(items.into_iter().map(|i| i.object).collect());
    }
    with_date_headers(ok(&body), range)
}

// ---------------------------------------------------------------- objects, manifest, versions

async fn read_collection(
    s: &AppState,
    p: Option<&Principal>,
    id: &str,
) -> Result<Collection, TaxiiError> {
    let c = find_collection(s, p, id).await?;
    require_read(&c)?;
    Ok(c)
}

async fn get_objects(
    s: &AppState,
    p: Option<&Principal>,
    id: &str,
    q: Option<&str>,
) -> TaxiiResult {
    let c = read_collection(s, p, id).await?;
    let f = parse_filters(q)?;
    let (items, next) = list(s, p, &c, &f, None).await?;
    Ok(envelope(items, next))
}

async fn objects(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_objects(&s, p.as_ref(), &id, q.as_deref()).await
}

async fn public_objects(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_objects(&s, p.as_ref(), COLLECTION_PUBLIC, q.as_deref()).await
}

/// Whether the collection holds a version of `object_id` that `p` may read, whatever the
/// other filters: the object endpoints answer 404 only when it does not (the reader's scope
/// decides, so an object the reader may not read is not found), and an empty envelope when it
/// does but the filters select none of its versions (TAXII 2.1 §5.6).
async fn object_in_collection(
    s: &AppState,
    p: Option<&Principal>,
    c: &Collection,
    object_id: &str,
) -> Result<bool, TaxiiError> {
    let f = Filters {
        limit: 1,
        versions: vec![VersionSel::All],
        ..Filters::default()
    };
    Ok(!list(s, p, c, &f, Some(object_id)).await?.0.is_empty())
}

async fn get_object(
    s: &AppState,
    p: Option<&Principal>,
    id: &str,
    object_id: &str,
    q: Option<&str>,
) -> TaxiiResult {
    let c = read_collection(s, p, id).await?;
    let mut f = parse_filters(q)?;
    f.ids.clear();
    f.types.clear();
    let (items, next) = list(s, p, &c, &f, Some(object_id)).await?;
    if items.is_empty() && f.next.is_none() && !object_in_collection(s, p, &c, object_id).await? {
        return Err(TaxiiError(ApiError::not_found("object")));
    }
    Ok(envelope(items, next))
}

async fn object(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path((id, object_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_object(&s, p.as_ref(), &id, &object_id, q.as_deref()).await
}

async fn public_object(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path(object_id): Path<String>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_object(&s, p.as_ref(), COLLECTION_PUBLIC, &object_id, q.as_deref()).await
}

async fn get_versions(
    s: &AppState,
    p: Option<&Principal>,
    id: &str,
    object_id: &str,
    q: Option<&str>,
) -> TaxiiResult {
    let c = read_collection(s, p, id).await?;
    let mut f = parse_filters(q)?;
    f.ids.clear();
    f.types.clear();
    f.versions = vec![VersionSel::All];
    let (items, next) = list(s, p, &c, &f, Some(object_id)).await?;
    if items.is_empty() && f.next.is_none() && !object_in_collection(s, p, &c, object_id).await? {
        return Err(TaxiiError(ApiError::not_found("object")));
    }
    let mut body = paging(next);
    // An empty list is never sent (TAXII 2.1 §2, list; §5.8.1): no versions, no key.
    if !items.is_empty() {
        body["versions"] = items.iter().map(|i| i.version.clone()).collect();
    }
    Ok(with_date_headers(ok(&body), date_range(&items)))
}

async fn versions(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path((id, object_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_versions(&s, p.as_ref(), &id, &object_id, q.as_deref()).await
}

async fn public_versions(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path(object_id): Path<String>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_versions(&s, p.as_ref(), COLLECTION_PUBLIC, &object_id, q.as_deref()).await
}

async fn get_manifest(
    s: &AppState,
    p: Option<&Principal>,
    id: &str,
    q: Option<&str>,
) -> TaxiiResult {
    let c = read_collection(s, p, id).await?;
    let f = parse_filters(q)?;
    let (items, next) = list(s, p, &c, &f, None).await?;
    let mut body = paging(next);
    if !items.is_empty() {
        body["objects"] = Value::Array(
            items
                .iter()
                .map(|i| {
                    json!({
                        "id": i.id,
                        "date_added": date_text(i.date_added),
                        "version": i.version,
                        "media_type": MEDIA_STIX,
                    })
                })
                .collect(),
        );
    }
    Ok(with_date_headers(ok(&body), date_range(&items)))
}

async fn manifest(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_manifest(&s, p.as_ref(), &id, q.as_deref()).await
}

async fn public_manifest(
    State(s): State<AppState>,
    MaybePrincipal(p): MaybePrincipal,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    get_manifest(&s, p.as_ref(), COLLECTION_PUBLIC, q.as_deref()).await
}

// ---------------------------------------------------------------- adding objects, status

/// Reads the envelope of a POST: TAXII media type (415), within `max_content_length` (413),
/// JSON, an envelope rather than a bare object, and at most [`ENVELOPE_MAX`] objects (each 422:
/// TAXII 2.1 §5.5 names a malformed body as unprocessable, and a body within
/// `max_content_length` must not be answered 413, §4.2.1).
///
/// A STIX bundle is read as the envelope of its `objects`: the OASIS `stix2` library's TAXII
/// data sink (`TAXIICollectionSink.add`) posts a bundle, and the OASIS reference server reads
/// it so. Its `type` and `id` say nothing the envelope needs.
fn read_envelope(
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Vec<Value>, TaxiiError> {
    if !is_taxii_content(headers) {
        return Err(TaxiiError(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send a TAXII envelope as Content-Type: {MEDIA_TAXII}"),
        )));
    }
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            TaxiiError(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the request body is over max_content_length, {} bytes",
                    limits::BODY_BYTES
                ),
            ))
        } else {
            TaxiiError(ApiError::bad_request(e.body_text()))
        }
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        TaxiiError(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        ))
    })?;
    let Value::Object(mut env) = v else {
        return Err(TaxiiError(ApiError::invalid(
            "the body must be a TAXII envelope",
        )));
    };
    if env.get("type").is_some_and(|t| t != "bundle") {
        return Err(TaxiiError(ApiError::invalid(
            "send a TAXII envelope ({\"objects\": [...]}), not a bare STIX object",
        )));
    }
    let objects = match env.remove("objects") {
        Some(Value::Array(a)) => a,
        None => Vec::new(),
        Some(_) => {
            return Err(TaxiiError(ApiError::invalid(
                "the envelope's `objects` must be a list",
            )));
        }
    };
    if objects.len() > ENVELOPE_MAX {
        return Err(TaxiiError(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_objects",
            format!("an envelope carries at most {ENVELOPE_MAX} objects"),
        )));
    }
    Ok(objects)
}

async fn post_objects(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> TaxiiResult {
    let c = find_collection(s, Some(p), id).await?;
    if !c.can_write {
        return Err(TaxiiError(ApiError::forbidden(format!(
            "this collection is read-only; submit to collection {COLLECTION_SUBMIT}"
        ))));
    }
    let objects = read_envelope(headers, body)?;
    let requested = Utc::now();
    // The objects and the status that reports them commit together or not at all (TAXII 2.1
    // §5.5: the status describes what the POST stored).
    let mut session = s.store.import_session(0);
    session.hold(true);
    let outcomes = intel::ingest(&mut session, p, ip, s.config.default_tlp, objects).await?;
    let detail = |o: &intel::IngestOutcome, message: Option<&str>| {
        // An object without `modified` or `created` has the version the store gives it.
        let version = if o.version.is_empty() && !o.id.is_empty() {
            intel::UNVERSIONED
        } else {
            o.version.as_str()
        };
        let mut d = json!({ "id": o.id, "version": version });
        if let Some(m) = message {
            d["message"] = Value::String(m.chars().take(500).collect());
        }
        d
    };
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    for o in &outcomes {
        match &o.result {
            Ok(Ingested::Created) => successes.push(detail(o, None)),
            Ok(Ingested::Versioned) => successes.push(detail(o, Some("stored as a new version"))),
            Ok(Ingested::Unchanged) => {
                successes.push(detail(o, Some("this version was already stored")))
            }
            Err(m) => failures.push(detail(o, Some(m))),
        }
    }
    let status_id = uuid::Uuid::new_v4().to_string();
    let body = status_resource(json!({
        "id": status_id,
        "status": "complete",
        "request_timestamp": requested.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "total_count": outcomes.len(),
        "success_count": successes.len(),
        "successes": successes,
        "failure_count": failures.len(),
        "failures": failures,
        "pending_count": 0,
    }));
    session
        .save_taxii_status(
            &isac_store::TaxiiStatus {
                id: status_id.clone(),
                org_id: p.org.id.clone(),
                user_id: p.user.id.clone(),
                created_at: requested.timestamp_micros(),
                body: body.to_string(),
            },
            p.audit("taxii.status", status_id.as_str(), ip)
                .detail(format!(
                    "{} objects: {} stored or unchanged, {} refused",
                    outcomes.len(),
                    body["success_count"],
                    body["failure_count"]
                )),
        )
        .await
        .map_err(from_store)?;
    session.finish().await.map_err(from_store)?;
    Ok(taxii_response(StatusCode::ACCEPTED, &body))
}

/// A status resource as served: its optional lists of status details (`successes`, `failures`,
/// `pendings`) are left out when empty, as TAXII 2.1 §2 forbids empty lists. Status resources
/// stored with empty lists are served the same way.
fn status_resource(mut body: Value) -> Value {
    if let Some(m) = body.as_object_mut() {
        for key in ["successes", "failures", "pendings"] {
            if m.get(key)
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                m.remove(key);
            }
        }
    }
    body
}

async fn add_objects(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> TaxiiResult {
    post_objects(&s, &p, ip, &id, &headers, body).await
}

async fn public_add_objects(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> TaxiiResult {
    post_objects(&s, &p, ip, COLLECTION_PUBLIC, &headers, body).await
}

async fn status(State(s): State<AppState>, p: Principal, Path(id): Path<String>) -> TaxiiResult {
    if id.len() > 64 {
        return Err(TaxiiError(ApiError::not_found("status")));
    }
    match s.store.taxii_status(&id).await.map_err(from_store)? {
        Some(st) if st.org_id == p.org.id => {
            let body: Value =
                serde_json::from_str(&st.body).map_err(|_| TaxiiError(ApiError::internal()))?;
            Ok(ok(&status_resource(body)))
        }
        _ => Err(TaxiiError(ApiError::not_found("status"))),
    }
}

// ---------------------------------------------------------------- deleting

/// Deletes an object's versions through the write collection, whose content is the caller's
/// org's objects: all of them, or those selected by `match[version]`. TAXII 2.1 §5.7 allows
/// DELETE only where the caller may both read and write; elsewhere the answer is 403, or 404
/// where the caller may do neither. An object the collection does not hold for the caller
/// (another org's, or one the caller may not read) is not found. The deletion is audited.
async fn remove(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    id: &str,
    object_id: &str,
    q: Option<&str>,
) -> TaxiiResult {
    let c = find_collection(s, Some(p), id).await?;
    match (c.can_read, c.can_write) {
        (true, true) => {}
        (false, false) => return Err(TaxiiError(ApiError::not_found("collection"))),
        _ => {
            return Err(TaxiiError(ApiError::forbidden(format!(
                "objects are deleted only where the caller may read and write; delete through collection {COLLECTION_SUBMIT}"
            ))));
        }
    }
    let mut f = parse_filters(q)?;
    if f.versions.is_empty() {
        f.versions = vec![VersionSel::All];
    }
    let found = if !f.spec_versions.is_empty() && !f.spec_versions.iter().any(|v| v == "2.1") {
        Vec::new()
    } else {
        let q = TaxiiQuery {
            stix_id: Some(object_id.to_owned()),
            versions: f.versions.clone(),
            limit: 1000,
            ..c.query()
        };
        s.store
            .taxii_objects(&p.viewer, &q)
            .await
            .map_err(from_store)?
            .objects
    };
    if found.is_empty() {
        // A denial is audited only for an object the collection does not hold for the caller,
        // not for filters that select none of the versions of one it holds.
        if object_id.len() <= 300
            && !object_in_collection(s, Some(p), &c, object_id).await?
            && s.store.object_exists(object_id).await.map_err(from_store)?
        {
            s.store
                .audit(
                    &p.audit("access.denied", object_id, ip)
                        .outcome(isac_store::Outcome::Denied)
                        .detail(
                            "delete of an object the caller's org does not own or may not read",
                        ),
                )
                .await
                .map_err(from_store)?;
        }
        return Err(TaxiiError(ApiError::not_found("object")));
    }
    if found.iter().any(|o| o.access.owner_org != p.org.id) {
        return Err(TaxiiError(ApiError::forbidden(
            "only the owner org may delete an object",
        )));
    }
    let pks: Vec<i64> = found.iter().map(|o| o.pk).collect();
    s.store
        .delete_object_versions(
            object_id,
            &p.org.id,
            &pks,
            p.audit("object.delete", object_id, ip),
        )
        .await
        .map_err(|e| match e {
            isac_store::StoreError::Invalid(m) => TaxiiError(ApiError::forbidden(m)),
            other => from_store(other),
        })?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII));
    *r.body_mut() = Body::empty();
    Ok(r)
}

async fn delete_object(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path((id, object_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    remove(&s, &p, ip, &id, &object_id, q.as_deref()).await
}

async fn public_delete_object(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(object_id): Path<String>,
    RawQuery(q): RawQuery,
) -> TaxiiResult {
    remove(&s, &p, ip, COLLECTION_PUBLIC, &object_id, q.as_deref()).await
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn accept_headers() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, v.parse().expect("header"));
            accepts(&m)
        };
        assert!(accepts(&HeaderMap::new()));
        assert!(h(MEDIA_TAXII));
        assert!(h("application/taxii+json"));
        assert!(h("application/taxii+json; version=2.1"));
        assert!(h("Application/TAXII+JSON;Version=\"2.1\""));
        assert!(h("*/*"));
        assert!(h("text/html, application/*;q=0.5"));
        assert!(h(
            "application/taxii+json;version=2.1,application/stix+json;version=2.1"
        ));
        assert!(h(
            "application/taxii+json;version=2.0, application/taxii+json;version=2.1"
        ));
        assert!(!h("application/taxii+json;version=2.0"));
        assert!(!h("application/taxii+json;version=3.0"));
        assert!(!h("application/json"));
        assert!(!h("application/stix+json;version=2.1"));
        assert!(!h("application/taxii+json;q=0"));
        assert!(!h("*/*;q=0.000"));
        // The most specific range decides (RFC 7231 §5.3.2).
        assert!(!h("application/taxii+json;q=0, */*"));
        assert!(!h("application/taxii+json;version=2.1;q=0, application/*"));
        assert!(h("application/taxii+json;version=2.1;q=0.1, */*;q=0"));
        assert!(h("application/*;q=0, application/taxii+json"));
    }

    #[test]
    fn filters() {
        let parse = |q: &str| parse_filters(Some(q));
        let bad = |q: &str| {
            let e = parse(q).expect_err(q);
            assert_eq!(e.0.status, StatusCode::BAD_REQUEST, "{q}");
        };
        assert_eq!(parse("").expect("empty").limit, PAGE_DEFAULT);
        assert_eq!(parse("limit=7").expect("7").limit, 7);
        assert_eq!(parse("limit=007").expect("007").limit, 7);
        assert_eq!(parse("limit=5000").expect("5000").limit, PAGE_MAX);
        assert_eq!(
            parse("limit=99999999999999999999999").expect("huge").limit,
            PAGE_MAX
        );
        let f = parse("match[version]=first,2016-01-01T01:01:01.000Z,last").expect("versions");
        assert_eq!(f.versions.len(), 3);
        let f = parse("match[type]=indicator,malware&match[id]=indicator--x").expect("match");
        assert_eq!(f.types, ["indicator", "malware"]);
        assert_eq!(f.ids, ["indicator--x"]);
        assert!(parse("match[foo]=bar&unknown=1&match[foo]=baz").is_ok());
        for q in [
            "limit=0",
            "limit=000",
            "limit=-1",
            "limit=+5",
            "limit=1.5",
            "limit=x",
            "limit=",
            "limit=5&limit=6",
            "added_after=yesterday",
            "added_after=2016-01-01T01:01:01+08:00",
            "added_after=",
            "added_after=2016-01-01T01:01:01Z&added_after=2017-01-01T01:01:01Z",
            "next=zzz",
            "next=",
            "match[type]=",
            "match[type]=indicator,,malware",
            "match[type]=indicator&match[type]=malware",
            "match[id]=",
            "match[spec_version]=",
            "match[version]=newest",
            "match[version]=",
            "match[version]=all,last",
            "match[version]=first,first",
            "match[version]=2016-01-01T01:01:01Z,2016-01-01T01:01:01.000Z",
            "match[version]=last&match[version]=first",
        ] {
            bad(q);
        }
    }

    #[test]
    fn group_collection_ids_are_version_4_uuids() {
        let id = group_collection_id("a group");
        let u = uuid::Uuid::parse_str(&id).expect("uuid");
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(id, group_collection_id("a group"), "stable");
        assert_ne!(id, group_collection_id("another group"));
        assert_ne!(id, former_group_collection_id("a group"));
    }

    #[test]
    fn status_resources_leave_out_empty_lists() {
        let body = status_resource(json!({
            "id": "x", "status": "complete", "total_count": 1, "success_count": 1,
            "successes": [{"id": "indicator--x", "version": "2016-01-01T01:01:01.000Z"}],
            "failure_count": 0, "failures": [], "pending_count": 0, "pendings": [],
        }));
        let keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert!(keys.contains(&"successes"));
        assert!(!keys.contains(&"failures") && !keys.contains(&"pendings"));
    }

    #[test]
    fn cursors_round_trip_and_order() {
        for c in [
            Cursor::Entry {
                date_added: 5,
                id: "identity--x".into(),
            },
            Cursor::Stored {
                date_added: 5,
                pk: 9,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        let e = Cursor::Entry {
            date_added: 5,
            id: "z".into(),
        };
        let s = Cursor::Stored {
            date_added: 5,
            pk: 1,
        };
        assert!(e.key() < s.key());
        assert_eq!(Cursor::decode("x1.2"), None);
        assert_eq!(Cursor::decode("s1.x"), None);
    }
}
