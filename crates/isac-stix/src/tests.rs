//! Tests of isac-stix: the oracle against the OASIS validator and the corpus it runs on, unit
//! tests through each module's public functions, and property tests of lossless round trips.

mod corpus;
mod oracle;
mod props;
mod unit;
