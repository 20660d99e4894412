//! Lexical rules of STIX 2.1: type and property names, identifiers, timestamps, language tags,
//! binary and hex strings, and the network value formats of SCOs. Each check is a plain function
//! so the validator, the id generator and the upgrader agree on one definition.

use std::cmp::Ordering;

/// A type name (§3.1; the character set and the ban on doubled hyphens are from §7.3.2.2 and
/// §11.2.1): 3–250 characters of `a-z`, `0-9` and `-`, starting with a letter, no empty
/// hyphen-separated part.
/// A relationship type (§5.1): a-z, 0-9 and hyphens.
pub fn is_relationship_type(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// An integer (§2.10) as JSON gives it: `443`, or a whole number written with a fraction part
/// (`443.0`, `4.43e2`), which JSON Schema also counts as an integer.
pub fn whole_number(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| x as i64)
    })
}

pub fn is_type_name(s: &str) -> bool {
    if s.len() < 3 || s.len() > 250 || !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return false;
    }
    let body = s.strip_suffix('-').unwrap_or(s);
    body.split('-').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

/// A property name (§3.1; the character set is from §7.3.2.1 and §11.1.1): 3–250 characters of
/// `a-z`, `0-9` and `_`, starting with a letter. `id` is the one shorter name.
pub fn is_property_name(s: &str) -> bool {
    s == "id"
        || (s.len() >= 3
            && s.len() <= 250
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
}

/// A dictionary key (§2.3): up to 250 characters of letters, digits, `_` and `-`.
pub fn is_dictionary_key(s: &str) -> bool {
    s.len() <= 250
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A UUID in its canonical 8-4-4-4-12 hex form, RFC 4122 variant, versions 1–5.
pub fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let dash = matches!(i, 8 | 13 | 18 | 23);
        if dash != (*c == b'-') || (!dash && !c.is_ascii_hexdigit()) {
            return None;
        }
    }
    if !(b'1'..=b'5').contains(&b[14]) || !matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
    {
        return None;
    }
    uuid::Uuid::parse_str(s).ok()
}

/// Splits an identifier `type--uuid` (§2.9) into its type and UUID, checking both.
pub fn parse_identifier(s: &str) -> Option<(&str, uuid::Uuid)> {
    let (t, u) = s.split_once("--")?;
    let type_ok = t.len() >= 3
        && t.starts_with(|c: char| c.is_ascii_lowercase())
        && !t.ends_with('-')
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !type_ok {
        return None;
    }
    Some((t, parse_uuid(u)?))
}

/// A parsed STIX timestamp (§2.16): `YYYY-MM-DDTHH:MM:SS[.s+]Z`, UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp<'a> {
    /// The `YYYY-MM-DDTHH:MM:SS` part.
    pub seconds: &'a str,
    /// The fraction digits after the dot (empty when absent).
    pub fraction: &'a str,
}

impl Ord for Timestamp<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.seconds.cmp(other.seconds).then_with(|| {
            let n = self.fraction.len().max(other.fraction.len());
            let pad = |f: &str| format!("{f:0<n$}");
            pad(self.fraction).cmp(&pad(other.fraction))
        })
    }
}

impl PartialOrd for Timestamp<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses a timestamp, checking the calendar (no 30 February, no leap seconds).
pub fn parse_timestamp(s: &str) -> Option<Timestamp<'_>> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let rest = &s[19..s.len() - 1];
    let fraction = if rest.is_empty() {
        ""
    } else {
        let f = rest.strip_prefix('.')?;
        if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        f
    };
    Some(Timestamp {
        seconds: &s[..19],
        fraction,
    })
}

/// Standard Base64 with padding, as the `binary` type requires (§2.1).
pub fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let body_end = b.len() - b.iter().rev().take_while(|c| **c == b'=').count();
    if b.len() - body_end > 2 {
        return false;
    }
    b[..body_end]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// An even number of hex digits (§2.8).
pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// An RFC 5646 language tag, checked for well-formedness (the ABNF of §2.1 of the RFC), so
/// `en`, `zh-TW`, `zh-Hant`, `zh-Hant-TW`, `sr-Latn-RS`, `es-419` and `de-CH-1996` are
/// accepted. Registry membership of each subtag is not checked.
pub fn is_language_tag(s: &str) -> bool {
    const IRREGULAR: &[&str] = &[
        "en-GB-oed",
        "i-ami",
        "i-bnn",
        "i-default",
        "i-enochian",
        "i-hak",
        "i-klingon",
        "i-lux",
        "i-mingo",
        "i-navajo",
        "i-pwn",
        "i-tao",
        "i-tay",
        "i-tsu",
        "sgn-BE-FR",
        "sgn-BE-NL",
        "sgn-CH-DE",
        "art-lojban",
        "cel-gaulish",
        "no-bok",
        "no-nyn",
        "zh-guoyu",
        "zh-hakka",
        "zh-min",
        "zh-min-nan",
        "zh-xiang",
    ];
    if IRREGULAR.iter().any(|g| g.eq_ignore_ascii_case(s)) {
        return true;
    }
    let parts: Vec<&str> = s.split('-').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.len() > 8 || !p.bytes().all(|c| c.is_ascii_alphanumeric()))
    {
        return false;
    }
    let alpha = |p: &str| p.bytes().all(|c| c.is_ascii_alphabetic());
    let digit = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if parts[0].eq_ignore_ascii_case("x") {
        return parts.len() > 1;
    }
    let mut i = 0;
    // language
    let lang = parts[0];
    if !alpha(lang) || lang.len() < 2 {
        return false;
    }
    i += 1;
    if lang.len() <= 3 {
        // up to three extlang subtags
        let mut ext = 0;
        while i < parts.len() && ext < 3 && parts[i].len() == 3 && alpha(parts[i]) {
            i += 1;
            ext += 1;
        }
    } else if lang.len() == 4 {
        // reserved for future use, but well-formed
    }
    // script
    if i < parts.len() && parts[i].len() == 4 && alpha(parts[i]) {
        i += 1;
    }
    // region
    if i < parts.len()
        && ((parts[i].len() == 2 && alpha(parts[i])) || (parts[i].len() == 3 && digit(parts[i])))
    {
        i += 1;
    }
    // variants
    while i < parts.len() {
        let p = parts[i];
        let variant =
            (5..=8).contains(&p.len()) || (p.len() == 4 && p.as_bytes()[0].is_ascii_digit());
        if !variant {
            break;
        }
        i += 1;
    }
    // extensions
    while i < parts.len() && parts[i].len() == 1 && !parts[i].eq_ignore_ascii_case("x") {
        i += 1;
        let start = i;
        while i < parts.len() && (2..=8).contains(&parts[i].len()) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    // private use
    if i < parts.len() && parts[i].eq_ignore_ascii_case("x") {
        return i + 1 < parts.len();
    }
    i == parts.len()
}

/// An IPv4 address with an optional CIDR suffix.
pub fn is_ipv4_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let octets_ok = addr.split('.').count() == 4
        && addr.split('.').all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|c| c.is_ascii_digit())
                && (o == "0" || !o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        });
    octets_ok && prefix.is_none_or(|p| is_prefix(p, 32))
}

fn is_prefix(p: &str, max: u32) -> bool {
    !p.is_empty()
        && p.len() <= 3
        && p.bytes().all(|c| c.is_ascii_digit())
        && (p == "0" || !p.starts_with('0'))
        && p.parse::<u32>().is_ok_and(|n| n <= max)
}

/// An IPv6 address with an optional CIDR suffix.
pub fn is_ipv6_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    addr.parse::<std::net::Ipv6Addr>().is_ok() && prefix.is_none_or(|p| is_prefix(p, 128))
}

/// A MAC address in the spec's form: lowercase, colon-delimited octets.
pub fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| {
            p.len() == 2
                && p.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        })
}

/// A domain name (RFC 1034, internationalised per RFC 5890): dot-separated labels of at most
/// 63 characters, no label starting or ending with a hyphen, no spaces or punctuation.
pub fn is_domain_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| {
                    c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
                })
        })
}

/// A URL: an RFC 3986 scheme, a colon and no whitespace.
pub fn is_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
        })
}

/// An email address: a local part, `@` and a domain.
pub fn is_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty(),
        None => false,
    }
}

/// A media type `type/subtype` (RFC 6838 §4.2) under one of the registered top-level types.
pub fn is_media_type(s: &str) -> bool {
    const TOP: &[&str] = &[
        "application",
        "audio",
        "font",
        "image",
        "message",
        "model",
        "multipart",
        "text",
        "video",
    ];
    let Some((top, sub)) = s.split_once('/') else {
        return false;
    };
    let restricted = |n: &str| {
        !n.is_empty()
            && n.len() <= 127
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    TOP.contains(&top.to_ascii_lowercase().as_str()) && restricted(sub)
}

/// Escapes one JSON-pointer reference token (RFC 6901).
pub fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Unescapes one JSON-pointer reference token (RFC 6901): the inverse of [`pointer_token`].
pub fn pointer_token_key(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_round_trip() {
        for key in ["plain", "a/b", "~", "~1", "a~/b/~0", ""] {
            assert_eq!(pointer_token_key(&pointer_token(key)), key);
        }
        assert_eq!(pointer_token("a~/b"), "a~0~1b");
    }

    #[test]
    fn language_tags() {
        for ok in [
            "en",
            "zh-TW",
            "zh-Hant",
            "zh-Hant-TW",
            "sr-Latn-RS",
            "es-419",
            "de-CH-1996",
            "x-private",
            "en-a-bbb-x-a-ccc",
            "i-klingon",
            "ger",
        ] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english_US",
            "en-",
            "zh--TW",
            "123",
            "en-a",
            "abcdefghi",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert!(parse_timestamp("2016-01-01T00:00:00Z").is_some());
        assert!(parse_timestamp("2016-01-01T00:00:00.123456789Z").is_some());
        for bad in [
            "2016-02-30T00:00:00Z",
            "2016-01-01 00:00:00Z",
            "2016-01-01T24:00:00Z",
            "2016-01-01T00:00:00.Z",
            "2016-01-01T00:00:00+00:00",
            "2016-1-01T00:00:00Z",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
        let a = parse_timestamp("2016-01-01T00:00:00.1Z").unwrap();
        let b = parse_timestamp("2016-01-01T00:00:00.100Z").unwrap();
        let c = parse_timestamp("2016-01-01T00:00:00.1001Z").unwrap();
        assert_eq!(a.cmp(&b), Ordering::Equal);
        assert!(c > b);
    }

    #[test]
    fn identifiers() {
        assert!(parse_identifier("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_some());
        assert!(parse_identifier("indicator--8e2e2d2b-17d4-6cbf-938f-98ee46b3cd3f").is_none());
        assert!(parse_identifier("indicator--8e2e2d2b-17d4-4cbf-c38f-98ee46b3cd3f").is_none());
        assert!(parse_identifier("Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_none());
        assert!(parse_identifier("indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_none());
    }
}
