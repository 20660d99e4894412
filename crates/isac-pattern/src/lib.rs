//! The STIX 2.1 patterning language (STIX 2.1 §9): a parser for the whole grammar, with errors
//! that point at the byte where the problem is.
//!
//! [`parse`] turns a pattern into a [`Pattern`] tree or a [`PatternError`]. It is a
//! hand-written lexer and recursive-descent parser over the reference grammar
//! (`STIXPattern.g4` of the OASIS pattern validator), covering:
//!
//! - observation expressions `[ … ]` combined with `AND`, `OR` and `FOLLOWEDBY` (binding
//!   tightest to loosest, all left-associative) and grouped with parentheses;
//! - the qualifiers `WITHIN n SECONDS`, `REPEATS n TIMES` and `START t'…' STOP t'…'`, which
//!   bind to the bracketed observation or parenthesised group right before them;
//! - comparison expressions with `AND` binding tighter than `OR`, and parentheses;
//! - the operators `=`/`==`, `!=`/`<>`, `<`, `<=`, `>`, `>=`, `IN (…)`, `LIKE`, `MATCHES`,
//!   `ISSUBSET`, `ISSUPERSET`, each optionally negated with `NOT` before the operator, and
//!   `EXISTS path` (negated as `NOT EXISTS path`);
//! - every literal: strings (escapes `\'` and `\\` only), integers, decimals, `true`/`false`,
//!   base64 `b'…'`, hex `h'…'` and timestamps `t'…'`;
//! - object paths `type:prop.sub[0].x`, `[*]`, quoted keys such as `.'key with space'`
//!   (extension names included), and `_ref`/`_refs` dereferencing;
//! - `/* … */` and `// …` comments and the Unicode whitespace of the reference grammar.
//!
//! Beyond the grammar, these are errors, each for a rule of the specification:
//!
//! - an object type that is not a STIX type name (3–250 characters of `a-z`, `0-9`, `-`;
//!   the common property `type`), such as `File` or `x`;
//! - a timestamp that is not a real RFC 3339 instant (`2023-02-30`; the timestamp data
//!   type), beyond the shape the grammar checks;
//! - an integer outside the 64-bit signed range;
//! - the same kind of qualifier twice on one observation expression (a parenthesised group
//!   is a new level, so `([a] WITHIN 5 SECONDS) WITHIN 10 SECONDS` is fine);
//! - a value compared with a hash of a known algorithm (`file:hashes.MD5 = '…'`, `=`/`!=`,
//!   the ordering operators and each member of an `IN` set) that is not a hash of that
//!   algorithm.
//!
//! Deliberately accepted, as the grammar accepts them: qualifier counts of zero, a `STOP`
//! that is not after its `START`, negative list indexes, and `IN ()`.
//!
//! The crate's oracle test compares every verdict with the OASIS validator
//! (`validate-patterns`) and lists, with reasons, the few cases where that tool departs from
//! the grammar or the specification.
//!
//! ```
//! use isac_pattern::{parse, Literal, Test};
//!
//! let pattern = parse("[ipv4-addr:value = '198.51.100.7'] WITHIN 60 SECONDS").unwrap();
//! let comparison = pattern.comparisons()[0];
//! assert_eq!(comparison.path.to_string(), "ipv4-addr:value");
//! assert_eq!(comparison.test, Test::Equal(Literal::String("198.51.100.7".into())));
//!
//! let error = parse("[file:name = 'a' AND]").unwrap_err();
//! assert_eq!(error.offset, 20);
//! assert_eq!(
//!     error.to_string(),
//!     "at column 21 (byte offset 20): expected an object path such as `file:name`, `EXISTS` or `(`, found `]`"
//! );
//! ```

mod ast;
mod check;
mod error;
mod lexer;
mod parser;

pub use ast::{
    Comparison, ComparisonExpr, Literal, ObjectPath, ObservationExpr, PathStep, Pattern, Qualifier,
    QualifierKind, Test, Timestamp,
};
pub use error::PatternError;

/// Parses a STIX 2.1 pattern.
pub fn parse(input: &str) -> Result<Pattern, PatternError> {
    let tokens = lexer::tokenize(input)?;
    parser::Parser::new(input, tokens).pattern()
}

#[cfg(test)]
mod tests;
