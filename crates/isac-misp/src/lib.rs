//! MISP to and from STIX 2.1, with the audience kept.
//!
//! Import reads a MISP event (`{"Event": {...}}` or the bare event) or a MISP feed directory and
//! gives STIX 2.1 objects, each with the TLP level and recipients derived from the MISP tags,
//! distribution levels and sharing groups ([`import_event`], [`FeedReader`]): one per attribute,
//! and one per galaxy cluster (threat actor, ATT&CK technique, malware family, sector, country,
//! …), related to the attributes that carry it. Export turns STIX objects with their TLP into a
//! MISP feed: `manifest.json`, `hashes.csv` and one event file per event, with attributes and
//! galaxy clusters ([`export_events`], [`write_feed`]). The mapping tables and the audience rules
//! are in `docs/MISP.md`.
//!
//! The crate is pure: it does no I/O of its own. Feeds are read and written through the
//! [`FeedSource`] and [`FeedSink`] traits, which the caller implements over a directory, an
//! archive or memory.
//!
//! Nothing is dropped silently: every MISP attribute either becomes a STIX object or is named in a
//! [`Diagnostic`] with its uuid and the reason, and every STIX object that cannot be written to
//! MISP is named in a diagnostic of the export.

mod audience;
mod export;
mod feed;
mod galaxy;
mod ids;
mod import;
mod mapping;
mod pattern;

#[cfg(test)]
mod tests;

use isac_model::Tlp;
use serde_json::{Map, Value, json};

pub use audience::{
    Audience, Distribution, SharingGroupRef, child_audience, event_audience, narrower, tag_of_tlp,
    tlp_of_tag, tlp_of_tags,
};
pub use export::{
    CATCH_ALL_ATTRIBUTES, ExportIndex, ExportJob, ExportOptions, Exported, ExportedEvent,
    FeedExport, Publisher, export_events, export_events_with,
};
pub use feed::{
    FeedError, FeedReader, FeedSink, FeedSource, MAX_EVENT_BYTES, MAX_INDEX_BYTES, ManifestEntry,
    ManifestWriter, event_file, event_file_name, hashes_csv_lines, hashes_lines, write_feed,
    write_feed_with,
};
pub use ids::{ISAC_MISP_NAMESPACE, SCO_NAMESPACE, sco_id, stix_id, stix_uuid};
pub use import::{ImportOptions, import_event, import_event_json};
pub use mapping::{CAMPAIGN, HASHES, TEXT_TYPES, THREAT_ACTOR, VULNERABILITY, mapped_types};

/// One STIX object with the audience it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct StixItem {
    pub object: Map<String, Value>,
    pub tlp: Tlp,
    /// Recipient sharing groups (only for AMBER and AMBER+STRICT).
    pub recipients: Vec<SharingGroupRef>,
}

impl StixItem {
    /// The object's `id`.
    pub fn id(&self) -> &str {
        self.object.get("id").and_then(Value::as_str).unwrap_or("")
    }

    /// The object's `type`.
    pub fn stix_type(&self) -> &str {
        self.object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The data was kept, in a narrower or plainer form than asked (e.g. an invalid value kept
    /// as a note, a recipient list reduced).
    Warning,
    /// The element was not converted.
    Skipped,
}

/// A finding about one MISP attribute, object or event on import, or one STIX object on export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    /// The MISP event uuid (import) or the event written (export), when known.
    pub event_uuid: Option<String>,
    /// The MISP attribute or object uuid (import) or the STIX id (export), when known.
    pub element: Option<String>,
    pub reason: String,
    /// The same remark in zh-TW, written beside the English where the remark is made. Import
    /// and export remarks have one.
    pub reason_zh: Option<String>,
}

/// The result of importing one MISP event.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The event's uuid as MISP wrote it.
    pub event_uuid: String,
    /// The audience of the event itself.
    pub audience: Audience,
    /// Every STIX object, the event's `report` first.
    pub objects: Vec<StixItem>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a MISP document could not be read at all (per-element problems are [`Diagnostic`]s).
#[derive(Debug, thiserror::Error)]
pub enum MispError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a MISP event: {0}")]
    NotAnEvent(String),
}

/// The id of the `extension-definition` for the MISP details isac keeps on converted objects
/// (attribute type, category, object membership, event metadata), so that export gives back the
/// same MISP data.
pub const MISP_EXTENSION_ID: &str = "extension-definition--dbe9780a-d6d0-4e6d-8c5b-d90bd9c8c337";

/// The identity that publishes [`MISP_EXTENSION_ID`].
pub const ISAC_IDENTITY_ID: &str = "identity--8f5c0b6e-43d1-5c2a-9a56-1e0c7b3f4a10";

/// The `extension-definition` object for [`MISP_EXTENSION_ID`].
pub fn misp_extension_definition() -> Map<String, Value> {
    let v = json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": MISP_EXTENSION_ID,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "created_by_ref": ISAC_IDENTITY_ID,
        "name": "isac MISP details",
        "description": "The MISP attribute type, category, value and object membership, and the MISP event metadata, of an object converted from MISP, so that it converts back unchanged.",
        "schema": "Property extension with optional properties: attribute_type, category, value, to_ids, comment, object_name, object_uuid, object_relation, object_meta_category (from a MISP attribute); event_uuid, info, date, threat_level_id, analysis, orgc_uuid, orgc_name (from a MISP event). Described in isac docs/MISP.md.",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [Tlp::Clear.marking_id_v2()],
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The `identity` of [`ISAC_IDENTITY_ID`], the creator of [`misp_extension_definition`]. It is
/// stored beside the definition, so that a bundle carrying the definition also resolves its
/// creator (consumers such as OpenCTI refuse an object whose `created_by_ref` they cannot find).
pub fn isac_identity() -> Map<String, Value> {
    let v = json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": ISAC_IDENTITY_ID,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "isac",
        "identity_class": "system",
        "description": "The isac threat-intelligence sharing platform, as the publisher of the extension definitions it uses to carry MISP details.",
        "object_marking_refs": [Tlp::Clear.marking_id_v2()],
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The MISP details on an object, when it carries them.
pub(crate) fn misp_details(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    object
        .get("extensions")?
        .get(MISP_EXTENSION_ID)?
        .as_object()
}
