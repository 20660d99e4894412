//! The STIX 2.1 object model.
//!
//! The public surface other crates build on: [`validate`], [`Diagnostic`], [`audience`].

use serde_json::{Map, Value};

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

/// Validates one STIX 2.1 object. Never fails: returns every finding.
pub fn validate(object: &Map<String, Value>) -> Vec<Diagnostic> {
    let _ = object;
    Vec::new()
}

/// Whether a list of findings holds no error.
pub fn is_valid(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().all(|d| d.severity != Severity::Error)
}

/// isac's audience property extension (DESIGN §3): recipients travel with the object.
pub mod audience {
    use serde_json::{Map, Value};

    /// The id of isac's `extension-definition`.
    pub const EXTENSION_ID: &str = "extension-definition--6c0b3e7e-43e0-5d6b-9a0e-2f4b1a3d9c01";

    /// The audience beyond the TLP level.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Audience {
        /// Recipient orgs, as their STIX `identity` ids.
        pub orgs: Vec<String>,
        /// Recipient sharing-group ids.
        pub groups: Vec<String>,
        /// Named users (TLP:RED), by user id.
        pub users: Vec<String>,
    }

    /// Reads the extension from an object; `Ok(None)` when absent.
    pub fn read(object: &Map<String, Value>) -> Result<Option<Audience>, String> {
        let _ = object;
        Ok(None)
    }

    /// Writes (or, for an empty audience, removes) the extension on an object.
    pub fn write(object: &mut Map<String, Value>, audience: &Audience) {
        let _ = (object, audience);
    }
}
