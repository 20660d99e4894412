//! Tests of isac-stix: the oracle against the OASIS validator, the corpus it runs on, and unit
//! and property tests of each module.

mod corpus;
mod oracle;
