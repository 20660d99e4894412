//! Versioning and revocation (STIX 2.1 §3.6): a new version keeps `id`, `type`, `created` and
//! `created_by_ref`, and its `modified` is strictly later than the previous one's; a revoked
//! object gets no new versions; SCOs and marking definitions are not versioned.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::syntax;
use crate::types::{self, Kind};

/// Why a proposed version is not a valid next version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// SCOs and marking definitions have no versions.
    NotVersioned(String),
    /// The previous version is revoked.
    Revoked,
    /// A property that every version shares differs (`id`, `type`, `created`, `created_by_ref`).
    Changed(&'static str),
    /// `modified` is missing or not a timestamp.
    NoModified,
    /// `modified` is not strictly later than the previous version's.
    NotLater,
}

impl std::fmt::Display for VersionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionError::NotVersioned(t) => write!(f, "`{t}` objects are not versioned"),
            VersionError::Revoked => write!(f, "the object is revoked; it gets no new versions"),
            VersionError::Changed(p) => write!(f, "a new version cannot change `{p}`"),
            VersionError::NoModified => write!(f, "`modified` is missing or not a timestamp"),
            VersionError::NotLater => {
                write!(f, "`modified` must be later than the previous version's")
            }
        }
    }
}

impl std::error::Error for VersionError {}

/// Whether objects of this type are versioned: SDOs, SROs, language-content,
/// extension-definition and custom objects with `created`/`modified`.
pub fn is_versioned(object: &Map<String, Value>) -> bool {
    let t = object.get("type").and_then(Value::as_str).unwrap_or("");
    match types::lookup(t) {
        Some(d) => match d.kind {
            Kind::Sdo | Kind::Sro => true,
            Kind::Meta => t != "marking-definition",
            Kind::Sco | Kind::Bundle => false,
        },
        None => object.contains_key("modified"),
    }
}

/// Whether an object is revoked.
pub fn is_revoked(object: &Map<String, Value>) -> bool {
    object.get("revoked") == Some(&Value::Bool(true))
}

/// Checks that `next` is a valid new version of `previous`.
pub fn check_new_version(
    previous: &Map<String, Value>,
    next: &Map<String, Value>,
) -> Result<(), VersionError> {
    if !is_versioned(previous) {
        let t = previous.get("type").and_then(Value::as_str).unwrap_or("");
        return Err(VersionError::NotVersioned(t.to_string()));
    }
    if is_revoked(previous) {
        return Err(VersionError::Revoked);
    }
    for p in ["id", "type", "created", "created_by_ref"] {
        if previous.get(p) != next.get(p) {
            return Err(VersionError::Changed(p));
        }
    }
    let modified = |o: &Map<String, Value>| {
        o.get("modified")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(VersionError::NoModified)
    };
    let (a, b) = (modified(previous)?, modified(next)?);
    let (a, b) = (
        syntax::parse_timestamp(&a).ok_or(VersionError::NoModified)?,
        syntax::parse_timestamp(&b).ok_or(VersionError::NoModified)?,
    );
    if b <= a {
        return Err(VersionError::NotLater);
    }
    Ok(())
}

/// Formats a time as a STIX timestamp with millisecond precision.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Builds the next version of an object: a copy with `changes` applied and `modified` set to
/// `now`, or one millisecond after the previous `modified` when `now` is not later. The
/// result is checked with [`check_new_version`].
pub fn new_version(
    previous: &Map<String, Value>,
    now: DateTime<Utc>,
    changes: impl FnOnce(&mut Map<String, Value>),
) -> Result<Map<String, Value>, VersionError> {
    let mut next = previous.clone();
    changes(&mut next);
    let prev_modified = previous
        .get("modified")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or(VersionError::NoModified)?;
    let modified = if now > prev_modified + chrono::Duration::microseconds(999) {
        now
    } else {
        prev_modified + chrono::Duration::milliseconds(1)
    };
    next.insert("modified".into(), Value::String(timestamp(modified)));
    check_new_version(previous, &next)?;
    Ok(next)
}

/// Revokes an object: a new version with `revoked: true`.
pub fn revoke(
    previous: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, VersionError> {
    new_version(previous, now, |o| {
        o.insert("revoked".into(), Value::Bool(true));
    })
}
