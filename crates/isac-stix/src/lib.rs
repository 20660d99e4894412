//! The STIX 2.1 object model.
