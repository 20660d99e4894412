//! Rules the grammar alone does not express, checked while parsing.

use crate::ast::{Comparison, Literal, PathStep, Test};

/// An object type must be a valid STIX type name (STIX 2.1 §3.1, with the character set of
/// §7.3.2.2 and §11.2.1; §9.7 takes the object type from the `type` property): 3 to 250
/// characters of lower-case ASCII letters, digits and hyphens.
pub(crate) fn object_type(name: &str) -> Result<(), String> {
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "object type `{name}` contains `{c}`; type names use only lower-case letters, digits and `-`"
        ));
    }
    if !(3..=250).contains(&name.len()) {
        return Err(format!(
            "object type `{name}` must be 3 to 250 characters long"
        ));
    }
    Ok(())
}

/// The value format of each hashing algorithm, keyed by its name in upper case without
/// hyphens (so `SHA-256`, `sha256` and `Sha-256` are one algorithm).
fn hash_format(algorithm: &str) -> Option<HashFormat> {
    let key: String = algorithm
        .chars()
        .filter(|c| *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    Some(match key.as_str() {
        "MD5" => HashFormat::Hex(&[32]),
        "MD6" => HashFormat::Hex(&[32, 40, 56, 64, 96, 128]),
        "RIPEMD160" | "SHA1" => HashFormat::Hex(&[40]),
        "SHA224" | "SHA3224" => HashFormat::Hex(&[56]),
        "SHA256" | "SHA3256" => HashFormat::Hex(&[64]),
        "SHA384" | "SHA3384" => HashFormat::Hex(&[96]),
        "SHA512" | "SHA3512" | "WHIRLPOOL" => HashFormat::Hex(&[128]),
        "SSDEEP" => HashFormat::Ssdeep,
        _ => return None,
    })
}

#[derive(Clone, Copy)]
enum HashFormat {
    /// Hexadecimal digits, one of these lengths.
    Hex(&'static [usize]),
    /// Base64 characters and the `:` and `.` separators, at most 128 characters.
    Ssdeep,
}

impl HashFormat {
    fn accepts(self, value: &str) -> bool {
        match self {
            HashFormat::Hex(lengths) => {
                lengths.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit())
            }
            HashFormat::Ssdeep => {
                (1..=128).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/+:.".contains(&b))
            }
        }
    }
}

/// A value compared with a hash of a known algorithm (a path such as `file:hashes.'SHA-256'`) must
/// be a well-formed hash of that algorithm (the STIX 2.1 hashes data type and the
/// `hashing-algorithm-ov` vocabulary). `LIKE`, `MATCHES` and the subnet operators take patterns
/// rather than hash values and are not checked. An error names the index of the offending literal
/// among the comparison's literals.
pub(crate) fn hash_value(c: &Comparison) -> Result<(), (usize, String)> {
    let Some(PathStep::Key(algorithm)) = c.path.steps.last() else {
        return Ok(());
    };
    if !c.path.keys().any(|k| k == "hashes") {
        return Ok(());
    }
    let Some(format) = hash_format(algorithm) else {
        return Ok(());
    };
    let values: &[Literal] = match &c.test {
        Test::Equal(v)
        | Test::NotEqual(v)
        | Test::Less(v)
        | Test::LessOrEqual(v)
        | Test::Greater(v)
        | Test::GreaterOrEqual(v) => std::slice::from_ref(v),
        Test::In(set) => set,
        _ => return Ok(()),
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Literal::String(s) if format.accepts(s) => {}
            Literal::String(s) => {
                return Err((i, format!("'{s}' is not a valid {algorithm} hash")));
            }
            other => {
                return Err((
                    i,
                    format!("a {algorithm} hash is compared with a string literal, not `{other}`"),
                ));
            }
        }
    }
    Ok(())
}
