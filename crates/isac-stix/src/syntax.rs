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
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'))
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
    // The first `--`, found bytewise (`split_once` with a string pattern sets up a substring
    // searcher for every call).
    let at = s.as_bytes().windows(2).position(|w| w == b"--")?;
    let (t, u) = (&s[..at], &s[at + 2..]);
    let type_ok = t.len() >= 3
        && t.as_bytes()[0].is_ascii_lowercase()
        && !t.ends_with('-')
        && t.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
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
    // At most four ASCII digits each, so no overflow; any other byte (a multi-byte character
    // included) is not a digit.
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
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

/// An email address as `email-addr.value` carries it (§6.5): the `addr-spec` of RFC 5322 §3.4.1,
/// never a display name or angle brackets. The local part is a dot-atom or a quoted string; the
/// domain a dot-atom or a domain literal (`[192.0.2.1]`). Characters beyond ASCII are allowed in
/// atoms, as internationalised addresses carry them (RFC 6532 §3.2). Comments and folding white
/// space, which RFC 5322 allows around the parts, are not part of the address itself and are
/// refused.
pub fn is_email(s: &str) -> bool {
    fn atext(c: char) -> bool {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
    }
    fn dot_atom(s: &str) -> bool {
        !s.is_empty() && s.split('.').all(|a| !a.is_empty() && a.chars().all(atext))
    }
    fn quoted(s: &str) -> bool {
        let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
            return false;
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            let ok = match c {
                // quoted-pair: a backslash and any visible character or space.
                '\\' => chars
                    .next()
                    .is_some_and(|n| n == ' ' || n == '\t' || !n.is_control()),
                '"' => false,
                ' ' | '\t' => true,
                c => !c.is_control(),
            };
            if !ok {
                return false;
            }
        }
        true
    }
    fn domain_literal(s: &str) -> bool {
        s.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|d| {
                !d.is_empty()
                    && d.chars()
                        .all(|c| (c.is_ascii_graphic() && !"[]\\".contains(c)) || !c.is_ascii())
            })
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    (dot_atom(local) || quoted(local)) && (dot_atom(domain) || domain_literal(domain))
}

/// A CPE 2.3 name in its formatted-string binding (NISTIR 7695 §6.2), which `software.cpe` must
/// be (§6.14): `cpe:2.3:` and eleven components — part (`a`, `o`, `h`), vendor, product, version,
/// update, edition, language, software edition, target software, target hardware, other — each
/// `*` (any) or `-` (not applicable) or a value. A value is letters, digits, `-`, `.`, `_` and
/// backslash-quoted punctuation, with an optional run of `?` or one `*` at either end; the
/// language is a two- or three-letter code with an optional two-letter or three-digit region.
pub fn is_cpe23(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("cpe:2.3:") else {
        return false;
    };
    // Split on the colons that are not quoted.
    let mut parts = Vec::with_capacity(11);
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ':' => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    if parts.len() != 11 {
        return false;
    }
    let logical = |p: &str| p == "*" || p == "-";
    let value = |p: &str| {
        // Tokens: a wildcard (`*` or `?`, unquoted) or a character of the value.
        let mut tokens = Vec::with_capacity(p.len());
        let mut chars = p.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '\\' => match chars.next() {
                    Some(q) if q.is_ascii_punctuation() && !matches!(q, '-' | '.' | '_') => None,
                    _ => return false,
                },
                '*' | '?' => Some(c),
                c if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') => None,
                _ => return false,
            });
        }
        // At either end, one `*` or a run of `?`; none in between; at least one character.
        fn wildcards<'a>(mut t: impl Iterator<Item = &'a Option<char>>) -> usize {
            match t.next() {
                Some(Some('*')) => 1,
                Some(Some('?')) => 1 + t.take_while(|x| **x == Some('?')).count(),
                _ => 0,
            }
        }
        let lead = wildcards(tokens.iter());
        let trail = wildcards(tokens[lead..].iter().rev());
        let body = &tokens[lead..tokens.len() - trail];
        !body.is_empty() && body.iter().all(Option::is_none)
    };
    let language = |p: &str| {
        let (lang, region) = p.split_once('-').unwrap_or((p, ""));
        (2..=3).contains(&lang.len())
            && lang.bytes().all(|b| b.is_ascii_alphabetic())
            && (region.is_empty()
                || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
                || (region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit())))
    };
    matches!(parts[0], "a" | "o" | "h" | "*" | "-")
        && parts[1..]
            .iter()
            .enumerate()
            .all(|(i, p)| logical(p) || if i == 5 { language(p) } else { value(p) })
}

/// A character set name of the IANA registry (§6.3 `path_enc`, §6.7 `name_enc`): the preferred
/// MIME name where one is defined, else the registry's name, in any letter case (RFC 2978 §2.3).
pub fn is_charset(s: &str) -> bool {
    crate::charsets::NAMES
        .binary_search_by(|n| {
            n.bytes()
                .map(|b| b.to_ascii_lowercase())
                .cmp(s.bytes().map(|b| b.to_ascii_lowercase()))
        })
        .is_ok()
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
    fn email_addresses() {
        for ok in [
            "jane@example.com",
            "jane.doe+tw@mail.example.com",
            "o'brien@example.com",
            "\"jane doe\"@example.com",
            "\"a\\\"b\"@example.com",
            "jane@[192.0.2.1]",
            "root@localhost",
            "用戶@例子.台灣",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "Jane <jane@example.com>",
            "<jane@example.com>",
            "jane doe@example.com",
            "jane@example.com ",
            "jane(work)@example.com",
            "jane@@example.com",
            "jane..doe@example.com",
            ".jane@example.com",
            "jane.@example.com",
            "jane@example..com",
            "jane@",
            "@example.com",
            "nobody",
            "\"unterminated@example.com",
            "jane@[192.0.2.1",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn cpe_names() {
        for ok in [
            "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:o:microsoft:windows_7:-:sp1:*:*:*:*:x64:*",
            "cpe:2.3:h:*:*:*:*:*:*:*:*:*:*",
            "cpe:2.3:a:example:reader:2.0\\:beta:*:*:zh-tw:*:*:*:*",
            "cpe:2.3:a:example:reader:*:*:*:es-419:*:*:*:*",
            "cpe:2.3:a:exam*:??ader:1.?:*:*:*:*:*:*:*",
            "cpe:2.3:a:example:reader\\\\?:*:*:*:*:*:*:*:*",
            "cpe:2.3:a:example:reader\\*:*:*:*:*:*:*:*:*",
        ] {
            assert!(is_cpe23(ok), "{ok}");
        }
        for bad in [
            "cpe:/a:microsoft:word:2000",
            "cpe:2.3:a:microsoft:word",
            "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:",
            "cpe:2.3:x:microsoft:word:2000:*:*:*:*:*:*:*",
            "CPE:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:micro soft:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:micro*soft:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:*?microsoft:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:**:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:??:word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a::word:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:wörd:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:word:2000:*:*:zh-Hant:*:*:*:*",
            "cpe:2.3:a:microsoft:word:2000:*:*:e:*:*:*:*",
            "cpe:2.3:a:microsoft:word\\-x:2000:*:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:word\\",
        ] {
            assert!(!is_cpe23(bad), "{bad}");
        }
    }

    #[test]
    fn charset_names() {
        let lower = |s: &str| s.to_ascii_lowercase();
        assert!(
            crate::charsets::NAMES
                .windows(2)
                .all(|w| lower(w[0]) < lower(w[1]) && w[0].is_ascii()),
            "the registry's names are sorted case-insensitively, for the binary search"
        );
        for ok in [
            "UTF-8",
            "utf-8",
            "US-ASCII",
            "Shift_JIS",
            "Big5",
            "windows-1252",
            "GB18030",
        ] {
            assert!(is_charset(ok), "{ok}");
        }
        // Aliases and unregistered names are not names.
        for bad in [
            "latin1",
            "csUTF8",
            "ISO_8859-1:1987",
            "utf8",
            "bla.bla.bla",
            "",
        ] {
            assert!(!is_charset(bad), "{bad}");
        }
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
