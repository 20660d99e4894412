//! The STIX 2.1 patterning language (STIX 2.1 §9).
