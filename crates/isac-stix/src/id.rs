//! Deterministic SCO identifiers (STIX 2.1 §2.9): a UUIDv5 in the STIX namespace over the RFC 8785
//! (JCS) canonical JSON of the type's id-contributing properties.

use serde_json::{Map, Value};

use crate::types::{self, Kind};

/// The UUIDv5 namespace of STIX 2.1 SCO ids.
pub const SCO_NAMESPACE: uuid::Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

/// The preference order for the one hash that contributes to an id (the ID Contributing
/// Properties of artifact, §6.1, and file, §6.7).
pub const HASH_PREFERENCE: &[&str] = &["MD5", "SHA-1", "SHA-256", "SHA-512"];

/// Why no deterministic id can be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// The object has no string `type`.
    NoType,
    /// The type is not a predefined SCO.
    NotAnSco(String),
    /// The type has no id-contributing properties (`process`), or the object carries none of
    /// them: the id must be a random UUIDv4.
    NoContributingProperties,
    /// `hashes` is present but empty or not a dictionary.
    EmptyHashes,
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdError::NoType => write!(f, "the object has no type"),
            IdError::NotAnSco(t) => write!(f, "`{t}` is not a predefined SCO type"),
            IdError::NoContributingProperties => {
                write!(f, "no id-contributing properties: use a UUIDv4")
            }
            IdError::EmptyHashes => write!(f, "`hashes` holds no hash"),
        }
    }
}

impl std::error::Error for IdError {}

/// The deterministic id of an SCO (`type--uuidv5`).
pub fn sco_id(object: &Map<String, Value>) -> Result<String, IdError> {
    let type_name = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or(IdError::NoType)?;
    let def = types::lookup(type_name)
        .filter(|d| d.kind == Kind::Sco)
        .ok_or_else(|| IdError::NotAnSco(type_name.to_string()))?;
    let mut contributing = Map::new();
    for key in def.id_contributing {
        let Some(value) = object.get(*key) else {
            continue;
        };
        let value = if *key == "hashes" {
            choose_one_hash(value).ok_or(IdError::EmptyHashes)?
        } else {
            value.clone()
        };
        contributing.insert((*key).to_string(), value);
    }
    if contributing.is_empty() {
        return Err(IdError::NoContributingProperties);
    }
    let canonical = canonical_json(&Value::Object(contributing));
    let uuid = uuid::Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes());
    Ok(format!("{type_name}--{uuid}"))
}

/// The one hash that contributes to an id: the first of [`HASH_PREFERENCE`] present, else the
/// hash with the smallest algorithm name (so the choice never depends on map order).
fn choose_one_hash(hashes: &Value) -> Option<Value> {
    let h = hashes.as_object()?;
    let key = HASH_PREFERENCE
        .iter()
        .find(|k| h.contains_key(**k))
        .map(|k| k.to_string())
        .or_else(|| h.keys().min().cloned())?;
    let mut one = Map::new();
    one.insert(key.clone(), h[&key].clone());
    Some(Value::Object(one))
}

/// RFC 8785 (JSON Canonicalization Scheme) serialisation: object members sorted by the UTF-16
/// code units of their names, no whitespace, ECMAScript number and string formatting.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_es_number(i as f64, Some(i.to_string()), out)
            } else if let Some(u) = n.as_u64() {
                write_es_number(u as f64, Some(u.to_string()), out)
            } else {
                write_es_number(n.as_f64().unwrap_or(0.0), None, out)
            }
        }
        // RFC 8785 escapes strings exactly as isac's compact JSON does (§3.2.2.2).
        Value::String(s) => crate::text::write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::text::write_str(out, k);
                out.push(':');
                write_canonical(&o[k], out);
            }
            out.push('}');
        }
    }
}

/// ECMAScript `Number.prototype.toString` for finite numbers (RFC 8785 §3.2.2.3). Integers that
/// a double represents exactly are written from their exact digits.
fn write_es_number(x: f64, exact: Option<String>, out: &mut String) {
    if x == 0.0 {
        out.push('0');
        return;
    }
    if let Some(e) = exact
        && x.abs() < 1e21
        && (x as i128) as f64 == x
        && e.parse::<f64>().ok() == Some(x)
    {
        // Only digits a double can hold exactly are printed as an integer.
        if x.abs() <= 9_007_199_254_740_992.0 {
            out.push_str(&e);
            return;
        }
    }
    // Shortest round-trip digits and exponent from Rust's scientific formatting.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let e: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = e + 1;
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.push_str(&"0".repeat((n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_numbers_and_strings() {
        let v = json!({"b": [1, 1.5, 1e21, 1e-7, 0.000001, -0.0, 123456789012.0], "a": "é\u{1}\"", "\u{20ac}": 1, "\u{1f600}": 2});
        assert_eq!(
            canonical_json(&v),
            "{\"a\":\"é\\u0001\\\"\",\"b\":[1,1.5,1e+21,1e-7,0.000001,0,123456789012],\"\u{20ac}\":1,\"\u{1f600}\":2}"
        );
    }
}
