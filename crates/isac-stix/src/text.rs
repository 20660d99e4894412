//! Compact JSON text of a [`Value`], byte for byte what `serde_json::to_string` writes.
//!
//! Why isac writes it itself: every object a bulk import stores is serialised once, and
//! serde_json's string escaping looks up every byte in a table and writes each run through
//! `io::Write`, which made serialising a twentieth of the bundle-reader thread's work. Here a
//! string is scanned eight bytes at a time for the bytes JSON must escape (control characters,
//! `"` and `\`), and the runs between them are copied whole (docs/BENCHMARKS.md, "Strings
//! scanned eight bytes at a time").
//!
//! What serde_json writes, and so what this writes: no whitespace; object members in the map's
//! order (sorted by key: isac does not enable `preserve_order`); numbers as their text (isac
//! enables `arbitrary_precision`, so a number is written as it was read); in strings, `"` and `\`
//! escaped, `\b`, `\f`, `\n`, `\r` and `\t` for those controls, the other controls below U+0020
//! as `\u00xx` in lower-case hex, and everything else (U+007F and non-ASCII included) as it is.
//! A property test holds this to `serde_json::to_string`.

use std::fmt::Write;

use serde_json::Value;

/// Appends the compact text of `value` to `out`.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // `Display` of a number is its text (arbitrary_precision); writing to a String cannot fail.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Each byte of the word with `b` in it: every byte `0x01`.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// Every byte `0x80`.
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether any byte of `w` is below 0x20, or is `"` or `\`: the classic word-at-a-time tests
/// "some byte is below n" (`(x - n·0x01..) & !x & 0x80..`, exact for the word as a whole when
/// n <= 0x80) for n = 0x20, and "some byte is zero" (the same with n = 1) of `w` XOR `"` and of
/// `w` XOR `\`. A flagged word is then looked at byte by byte.
fn needs_escape(w: u64) -> bool {
    let below = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below | quote | backslash) & HIGHS != 0
}

fn escape(b: u8) -> Option<&'static str> {
    Some(match b {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        0x08 => "\\b",
        0x0c => "\\f",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        _ => return None,
    })
}

/// Appends `s` as a JSON string. RFC 8785 escapes strings the same way, so `id::canonical_json`
/// uses it too.
pub(crate) fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // `bytes[start..at]` needs no escape and is not yet written.
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        // The next eight bytes, or the last few padded with spaces (which need no escape).
        let (word, step) = match rest.first_chunk::<8>() {
            Some(word) => (*word, 8),
            None => {
                let mut word = [b' '; 8];
                word[..rest.len()].copy_from_slice(rest);
                (word, rest.len())
            }
        };
        if !needs_escape(u64::from_ne_bytes(word)) {
            at += step;
            continue;
        }
        // A word with something to escape: its bytes one at a time.
        let end = at + step;
        while at < end {
            let b = bytes[at];
            if b >= 0x20 && b != b'"' && b != b'\\' {
                at += 1;
                continue;
            }
            // Every byte escaped is ASCII, so `start` and `at` are on character boundaries.
            out.push_str(&s[start..at]);
            match escape(b) {
                Some(e) => out.push_str(e),
                None => {
                    out.push_str("\\u00");
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
            }
            at += 1;
            start = at;
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(v: &Value) -> String {
        let mut out = String::new();
        write_value(&mut out, v);
        out
    }

    #[test]
    fn every_byte_that_needs_an_escape_is_found_in_every_position() {
        for b in 0u8..=127 {
            for pos in 0..8 {
                let mut word = [b'a'; 8];
                word[pos] = b;
                let w = u64::from_ne_bytes(word);
                let expected = b < 0x20 || b == b'"' || b == b'\\';
                assert_eq!(needs_escape(w), expected, "byte {b:#x} at {pos}");
            }
        }
        // Non-ASCII bytes (UTF-8 continuation and lead bytes) need none.
        let wide = "中文é".as_bytes().first_chunk::<8>().unwrap();
        assert!(!needs_escape(u64::from_ne_bytes(*wide)));
    }

    #[test]
    fn the_same_text_as_serde_json() {
        let all_bytes: String = (0u8..128).map(char::from).collect();
        for v in [
            json!(null),
            json!(true),
            json!([false, 1, -2.5, "x", {}, []]),
            json!({"b": [1, {"z": null, "a": "\u{1}\u{1f}\u{7f}"}], "a": "台灣\"\\/"}),
            json!(all_bytes),
            json!("12345678\n12345678\"123456\\"),
            serde_json::from_str::<Value>(r#"{"n":1.0e10,"m":123456789012345678901234567890}"#)
                .unwrap(),
        ] {
            assert_eq!(text(&v), serde_json::to_string(&v).unwrap(), "{v:?}");
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            prop::collection::vec(
                prop::sample::select(vec![
                    '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{0}', '\u{1f}', '\u{7f}',
                    'a', 'é', '中', '😀', '/',
                ]),
                0..40
            )
            .prop_map(|v| Value::String(v.into_iter().collect())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_value_is_written_as_serde_json_writes_it(
            v in leaf().prop_recursive(4, 64, 6, |inner| prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ])
        ) {
            prop_assert_eq!(text(&v), serde_json::to_string(&v).unwrap());
        }
    }
}
