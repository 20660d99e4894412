//! The STIX 2.1 object model.
//!
//! Objects stay `serde_json::Map<String, Value>`, so unknown properties and extensions round-trip
//! losslessly; typed knowledge lives in a registry of types ([`types`]). The public surface other
//! crates build on: [`validate`], [`Diagnostic`], [`audience`].

use serde_json::{Map, Value};

pub mod audience;
pub mod bundle;
pub mod id;
pub mod syntax;
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

/// Validates one STIX 2.1 object (a bundle is validated with every object in it). Never fails:
/// returns every finding.
pub fn validate(object: &Map<String, Value>) -> Vec<Diagnostic> {
    validate::validate(object)
}

/// Whether a list of findings holds no error.
pub fn is_valid(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().all(|d| d.severity != Severity::Error)
}

#[cfg(test)]
mod tests;
