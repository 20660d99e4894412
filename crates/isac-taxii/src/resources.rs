//! The TAXII 2.1 resources, as the server sends them.
//!
//! Unknown properties are ignored; optional lists a server leaves out (medallion omits `objects`
//! from an empty envelope) decode as empty. STIX objects stay [`serde_json::Value`]s so nothing a
//! server sends is lost on the way through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The discovery resource (`/taxii2/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The URL of the default API root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub api_roots: Vec<String>,
}

/// The API root resource (`{root}/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiRootInfo {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The TAXII versions the root serves, as media types.
    #[serde(default)]
    pub versions: Vec<String>,
    /// The largest request body, in bytes, the root accepts.
    pub max_content_length: u64,
}

/// The collections resource (`{root}/collections/`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Collections {
    #[serde(default)]
    pub collections: Vec<CollectionInfo>,
}

/// One collection resource (`{root}/collections/{id}/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    #[serde(default)]
    pub media_types: Vec<String>,
}

/// The envelope resource: a page of STIX objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub objects: Vec<Value>,
}

/// The manifest resource: a page of records about objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub objects: Vec<ManifestRecord>,
}

/// One manifest record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub id: String,
    pub date_added: DateTime<Utc>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// The versions resource: a page of one object's versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    #[serde(default)]
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub versions: Vec<String>,
}

/// The status resource of an add-objects request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    /// `pending` or `complete`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timestamp: Option<String>,
    pub total_count: u64,
    pub success_count: u64,
    pub failure_count: u64,
    pub pending_count: u64,
    #[serde(default)]
    pub successes: Vec<StatusDetails>,
    #[serde(default)]
    pub failures: Vec<StatusDetails>,
    #[serde(default)]
    pub pendings: Vec<StatusDetails>,
}

impl Status {
    /// Whether the server has finished processing the request.
    pub fn is_complete(&self) -> bool {
        self.status == "complete"
    }
}

/// What happened to one object of an add-objects request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    pub id: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One page of a paged resource, with the `X-TAXII-Date-Added-First`/`-Last` headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub body: T,
    pub date_added_first: Option<DateTime<Utc>>,
    pub date_added_last: Option<DateTime<Utc>>,
}

/// The resources that come in pages (`more`/`next`).
pub trait Paged: serde::de::DeserializeOwned {
    /// The resource's name, for error messages.
    const NAME: &'static str;
    fn more(&self) -> bool;
    fn next(&self) -> Option<&str>;
    /// How many items the page holds.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

macro_rules! paged {
    ($ty:ty, $name:literal, $items:ident) => {
        impl Paged for $ty {
            const NAME: &'static str = $name;
            fn more(&self) -> bool {
                self.more
            }
            fn next(&self) -> Option<&str> {
                self.next.as_deref()
            }
            fn len(&self) -> usize {
                self.$items.len()
            }
        }
    };
}

paged!(Envelope, "envelope", objects);
paged!(Manifest, "manifest", objects);
paged!(Versions, "versions resource", versions);

/// The identity of one object version: its `id` and its `modified` (or `created`) timestamp as
/// written. Objects without either (SCOs) are versionless.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ObjectKey {
    /// The key of a STIX object, or `None` when it has no string `id`.
    pub fn of(object: &Value) -> Option<Self> {
        let id = object.get("id")?.as_str()?.to_owned();
        let version = ["modified", "created"]
            .iter()
            .find_map(|p| object.get(*p).and_then(Value::as_str))
            .map(str::to_owned);
        Some(Self { id, version })
    }
}
