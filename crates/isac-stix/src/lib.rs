//! The STIX 2.1 object model: validation with diagnostics, deterministic SCO ids, TLP
//! marking definitions, isac's audience extension, versioning and revocation, bundles and the
//! STIX 2.0 → 2.1 upgrade. Pure: no I/O beyond the `io::Read`/`io::Write` handed to the bundle
//! streamers, no SQL, no HTTP.
//!
//! # Design
//!
//! Objects stay `serde_json::Map<String, Value>`, so unknown properties, custom properties and
//! extensions round-trip losslessly (numbers included: `serde_json` parses floats exactly here).
//! Typed knowledge lives in one table, [`types::TYPES`]: for each of the 19 SDOs, 2 SROs, 18
//! SCOs, the 3 meta objects and the bundle, its kind, required properties, property value types,
//! allowed reference targets of every `_ref`/`_refs`, open vocabularies (values outside are
//! warnings) and enumerations (errors), and the SCO id-contributing properties. The predefined
//! SCO extensions (`archive-ext`, `socket-ext`, …) are in [`types::SCO_EXTENSIONS`].
//!
//! # Modules
//!
//! - [`validate`]: every finding as a [`Diagnostic`] with a stable `code` and a JSON-pointer
//!   `path`; never fails. Checked: required properties; `type` and `id` form (type names per
//!   §3.1, `type--UUID` with an RFC 4122 UUID whose type part is the object's type); custom type
//!   and property naming (§11); property value types, ranges and non-empty lists, no nulls,
//!   reserved names; timestamps (RFC 3339 UTC, real calendar dates, `created`/`modified` to the
//!   millisecond) and their order (`modified` ≥ `created`, `valid_until` > `valid_from`,
//!   `last_seen` ≥ `first_seen`, `stop_time` > `start_time`, …); reference target types
//!   (`created_by_ref` → identity, `object_marking_refs` → marking-definition, relationship ends
//!   SDO or SCO, sighting of an SDO, every SCO reference); markings (granular selectors must
//!   resolve, `marking_ref` xor `lang`, no self-marking; a marking definition that claims a TLP
//!   id must be exactly the canonical one); vocabularies and enumerations; indicator patterns
//!   through [`isac_pattern::parse`] when `pattern_type` is `stix`; RFC 5646 language tags
//!   (well-formedness: `zh-TW`, `zh-Hant`, `es-419` are accepted); `spec_version`; extensions
//!   (`extension-definition--<uuid>` keys with an `extension_type`, predefined `-ext` SCO
//!   extensions with their required properties, isac's audience extension with its own shape);
//!   SCO id rules (UUIDv4 where there are no id-contributing properties, a warning where the id
//!   is not the deterministic one); type-specific rules (location coordinates, malware families,
//!   observed-data, artifacts, email MIME parts, network traffic, registry values, extension and
//!   language-content definitions).
//! - [`id`]: deterministic SCO ids (§2.9): UUIDv5 in namespace
//!   `00abedb4-aa42-466c-9c01-fed23315a9b7` over the RFC 8785 canonical JSON of the
//!   id-contributing properties, one hash chosen MD5, SHA-1, SHA-256, SHA-512 in that order.
//!   Pinned against ids computed by the OASIS `stix2` library.
//! - [`tlp`]: the TLP 1.0 and TLP 2.0 marking-definition objects exactly, [`tlp::tlp_of`]
//!   (TLP 1.0 ids read as their 2.0 equals, conflicting levels an error) and [`tlp::set_tlp`].
//!   A TLP 2.0 definition that omits its `created_by_ref` is accepted as the same definition,
//!   since both forms circulate; any other difference is an error.
//! - [`audience`]: isac's property extension carrying recipient orgs, sharing groups and named
//!   users (DESIGN §3), its fixed id, its `extension-definition` and a shape-checking reader.
//! - [`version`]: the versioning and revocation rules and builders of new versions.
//! - [`bundle`]: whole bundles, a streaming writer and a callback-driven streaming reader that
//!   holds one object at a time.
//! - [`upgrade`]: STIX 2.0 → 2.1; the module documents exactly what is converted.
//!
//! # Agreement with the OASIS validator
//!
//! The test suite runs every case of a corpus of hand-made and seeded generated objects (about
//! 2,900) through both this validator and the OASIS `stix2-validator` 3.3.2 and requires the same
//! valid/invalid verdict. An exploratory test outside the suite
//! (`cargo test -p isac-stix mutations -- --ignored --nocapture`) makes random changes to the
//! corpus's valid objects and prints every disagreement; what it finds becomes corpus cases.
//! Where the two part ways the specification wins and the case is listed with the section it
//! rests on: the OASIS validator accepts references to the wrong object type
//! (`created_by_ref`, `object_marking_refs`, most SCO references), TLP 2.0 marking ids with any
//! content, `spec_version: "2.0"`, empty bundles, both `marking_ref` and `lang` on one granular
//! marking, and custom objects whose id names another type; it skips the general property rules
//! on marking definitions; it rejects well-formed language tags outside a fixed list (`zh-Hant`),
//! granular markings with `lang` only, and does not require `created_by_ref` on
//! extension definitions. It also checks `lang`, and fails with a Python exception on
//! non-string `created`, `modified` and `external_references`, on observables, which do not
//! have these properties (they are custom properties there); it refuses an empty
//! `payload_bin`, and RFC 5322 addresses with a quoted local part, a domain literal or UTF-8; it
//! does not check that `sample_refs` holds identifiers. docs/STIX.md lists what is checked and
//! every kind of documented case.

use serde_json::{Map, Value};

pub mod audience;
pub mod bundle;
mod charsets;
pub mod id;
pub mod syntax;
mod text;
pub mod tlp;
pub mod types;
pub mod upgrade;
mod validate;
pub mod version;
pub mod vocab;

/// How serious a finding is. Only errors make an object invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable machine code, e.g. `required-property`.
    pub code: &'static str,
    /// JSON-pointer-like path to the offending property, e.g. `/object_marking_refs/0`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{sev}[{}] {path}: {}", self.code, self.message)
    }
}

/// Every [`Diagnostic::code`] that [`validate`] gives, so that a caller can describe each one in
/// its own words (the web UI does, in zh-TW). A code outside this list is a bug, caught by a
/// debug assertion where diagnostics are made.
pub const CODES: &[&str] = &[
    "artifact",
    "audience-extension",
    "circular-marking",
    "custom-extension",
    "custom-property",
    "custom-type",
    "deprecated",
    "email-message",
    "empty-dictionary",
    "empty-list",
    "enumeration",
    "extension-definition",
    "extension-owner",
    "external-id",
    "granular-marking",
    "id-type-mismatch",
    "invalid-binary",
    "invalid-dictionary-key",
    "invalid-extension",
    "invalid-hash",
    "invalid-hex",
    "invalid-id",
    "invalid-language-tag",
    "invalid-property-name",
    "invalid-reference",
    "invalid-timestamp",
    "invalid-type-name",
    "invalid-url",
    "invalid-value",
    "location",
    "marking-selector",
    "marking-versioning",
    "nested-bundle",
    "network-traffic",
    "null-value",
    "observed-data",
    "out-of-range",
    "pattern-syntax",
    "reference-target",
    "relationship-type",
    "required-property",
    "reserved-property",
    "sco-id-not-deterministic",
    "sco-id-version",
    "spec-version",
    "timestamp-order",
    "timestamp-precision",
    "tlp-definition",
    "vocabulary",
];

/// Validates one STIX 2.1 object (a bundle is validated with every object in it). Never fails:
/// returns every finding.
pub fn validate(object: &Map<String, Value>) -> Vec<Diagnostic> {
    validate::validate(object)
}

/// A JSON value as compact text, the form isac stores and sends: byte for byte what
/// `serde_json::to_string` writes, in less time (`text.rs`; docs/BENCHMARKS.md, "Strings scanned
/// eight bytes at a time"). `Value`'s `Display`, the obvious alternative, goes through `fmt` and
/// checks every piece it writes as UTF-8, which made it a tenth of the parsing thread's work in a
/// bulk import (docs/BENCHMARKS.md, "Fewer instructions per imported object").
pub fn json_text(value: &Value) -> String {
    let mut out = String::with_capacity(512);
    text::write_value(&mut out, value);
    out
}

/// Whether a list of findings holds no error.
pub fn is_valid(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().all(|d| d.severity != Severity::Error)
}

#[cfg(test)]
mod tests;
