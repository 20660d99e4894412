//! The STIX 2.1 patterning language (STIX 2.1 §9).
//!
//! The public surface other crates build on: [`parse`] and [`PatternError`].

use std::fmt;

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {}

/// Why a pattern does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Byte offset into the input where the error was found.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for PatternError {}

/// Parses a STIX 2.1 pattern.
pub fn parse(input: &str) -> Result<Pattern, PatternError> {
    let _ = input;
    Err(PatternError {
        offset: 0,
        message: "the pattern parser is not built yet".into(),
    })
}
