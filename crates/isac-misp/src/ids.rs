//! Deterministic identifiers and timestamps.
//!
//! Every STIX id this crate emits is a function of MISP uuids (or, for SCOs, of the object's
//! id-contributing properties, STIX 2.1 §2.9), and every timestamp a function of MISP timestamps,
//! so importing the same MISP data twice yields byte-identical objects.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The namespace of isac's own name-based UUIDs (for MISP uuids that are not valid UUIDs and for
/// MISP events grouping objects that sit outside any report).
pub const ISAC_MISP_NAMESPACE: Uuid = Uuid::from_u128(0x3168a535_6141_4ede_8aa7_8f2513571fce);

/// The STIX 2.1 namespace for deterministic SCO ids (§2.9).
pub const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);

/// The UUID a MISP uuid stands for: itself (lower-cased) when it is an RFC 4122 UUID of version 1
/// to 5, as STIX identifiers require (§2.9), else a UUIDv5 in [`ISAC_MISP_NAMESPACE`] of its text
/// (of its lower-cased hyphenated form when it has the shape of a UUID, so that letter case never
/// changes the result), so that the same MISP uuid always gives the same STIX id. MISP itself
/// takes any 32 hex digits as a uuid, and feeds written by other tools carry such values (a
/// version nibble of 0, 6 to 15, or another variant).
pub fn stix_uuid(misp_uuid: &str) -> Uuid {
    let trimmed = misp_uuid.trim();
    if let Some(u) = isac_stix::syntax::parse_uuid(trimmed) {
        return u;
    }
    match Uuid::parse_str(trimmed) {
        Ok(u) if !u.is_nil() => {
            Uuid::new_v5(&ISAC_MISP_NAMESPACE, u.hyphenated().to_string().as_bytes())
        }
        _ => Uuid::new_v5(&ISAC_MISP_NAMESPACE, misp_uuid.as_bytes()),
    }
}

/// `<type>--<uuid>` for a MISP uuid.
pub fn stix_id(stix_type: &str, misp_uuid: &str) -> String {
    format!("{stix_type}--{}", stix_uuid(misp_uuid))
}

/// The UUID part of a STIX id, when it has one.
pub fn uuid_of(stix_id: &str) -> Option<Uuid> {
    let (_, u) = stix_id.split_once("--")?;
    Uuid::parse_str(u).ok()
}

/// A name-based UUID under isac's namespace, for identifiers derived from several parts.
pub fn derived_uuid(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&ISAC_MISP_NAMESPACE, parts.join("\u{1f}").as_bytes())
}

/// RFC 3339 UTC with exactly millisecond precision, the fixed width every emitted timestamp has.
pub fn format_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A unix timestamp in seconds as MISP writes it (a number or a decimal string).
pub fn parse_unix(v: &Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))?
        }
        _ => return None,
    };
    DateTime::from_timestamp(secs, 0)
}

/// A MISP date (`YYYY-MM-DD`) as midnight UTC.
pub fn parse_date(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?.trim();
    let d = NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

/// An RFC 3339 timestamp (as STIX writes them, or MISP's `first_seen`).
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The deterministic id of a STIX cyber-observable (STIX 2.1 §2.9): a UUIDv5 in the SCO namespace
/// over the JSON canonicalization (RFC 8785) of its id-contributing properties.
pub fn sco_id(sco_type: &str, contributing: &Map<String, Value>) -> String {
    let mut text = String::new();
    canonical(&Value::Object(contributing.clone()), &mut text);
    format!(
        "{sco_type}--{}",
        Uuid::new_v5(&SCO_NAMESPACE, text.as_bytes())
    )
}

/// RFC 8785 canonical JSON for the values SCOs hold (strings, integers, booleans, arrays and
/// objects); object keys are sorted by their UTF-16 code units.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
