//! Unit tests: the tree of tricky patterns, and where errors point.

use crate::*;

fn ok(input: &str) -> Pattern {
    match parse(input) {
        Ok(p) => {
            let text = p.to_string();
            assert_eq!(
                parse(&text).as_ref(),
                Ok(&p),
                "canonical form `{text}` of `{input}` parses to a different tree"
            );
            p
        }
        Err(e) => panic!("`{input}` should parse, got {e}"),
    }
}

/// Asserts that `input` fails at the byte where `marker` starts and that the message
/// contains `needle`; an empty marker stands for the end of the input.
fn fails_at(input: &str, marker: &str, needle: &str) {
    let want = if marker.is_empty() {
        input.len()
    } else {
        input
            .find(marker)
            .unwrap_or_else(|| panic!("marker `{marker}` not in `{input}`"))
    };
    match parse(input) {
        Ok(p) => panic!("`{input}` should fail, parsed as {p:?}"),
        Err(e) => {
            assert_eq!(
                e.offset, want,
                "`{input}`: error at {} ({}), expected at `{marker}` ({want})",
                e.offset, e.message
            );
            assert!(
                e.message.contains(needle),
                "`{input}`: message `{}` lacks `{needle}`",
                e.message
            );
        }
    }
}

fn canonical(input: &str) -> String {
    ok(input).to_string()
}

fn key(k: &str) -> PathStep {
    PathStep::Key(k.into())
}

#[test]
fn simple_comparison_tree() {
    let p = ok("[file:name = 'a.exe']");
    assert_eq!(
        p.expression,
        ObservationExpr::Observation(ComparisonExpr::Comparison(Comparison {
            path: ObjectPath {
                object_type: "file".into(),
                steps: vec![key("name")],
            },
            negated: false,
            test: Test::Equal(Literal::String("a.exe".into())),
        }))
    );
}

#[test]
fn comparison_and_binds_tighter_than_or() {
    let p = ok("[a-b:x = 1 OR a-b:y = 2 AND a-b:z = 3]");
    let ObservationExpr::Observation(ComparisonExpr::Or(ms)) = p.expression else {
        panic!("expected OR at the top");
    };
    assert_eq!(ms.len(), 2);
    assert!(matches!(ms[0], ComparisonExpr::Comparison(_)));
    assert!(matches!(&ms[1], ComparisonExpr::And(a) if a.len() == 2));
    // Chains of one operator are one flat node, however they are parenthesised.
    let flat = ok("[a-b:x = 1 OR (a-b:y = 2 OR a-b:z = 3)]");
    assert_eq!(flat, ok("[(a-b:x = 1 OR a-b:y = 2) OR a-b:z = 3]"));
    assert!(matches!(
        flat.expression,
        ObservationExpr::Observation(ComparisonExpr::Or(ms)) if ms.len() == 3
    ));
    assert_eq!(
        canonical("[(a-b:x = 1 OR a-b:y = 2) AND a-b:z = 3]"),
        "[(a-b:x = 1 OR a-b:y = 2) AND a-b:z = 3]"
    );
    assert_eq!(
        canonical("[a-b:x = 1 OR (a-b:y = 2 OR a-b:z = 3)]"),
        "[a-b:x = 1 OR a-b:y = 2 OR a-b:z = 3]"
    );
    assert_eq!(
        canonical("[((a-b:x = 1)) AND (a-b:y == 2)]"),
        "[a-b:x = 1 AND a-b:y = 2]"
    );
}

#[test]
fn observation_operator_precedence() {
    // AND binds tighter than OR, which binds tighter than FOLLOWEDBY.
    let p = ok("[abc:a = 1] FOLLOWEDBY [abc:b = 1] OR [abc:c = 1] AND [abc:d = 1]");
    let ObservationExpr::FollowedBy(ms) = p.expression else {
        panic!("expected FOLLOWEDBY at the top");
    };
    assert!(matches!(ms[0], ObservationExpr::Observation(_)));
    let ObservationExpr::Or(or) = &ms[1] else {
        panic!("expected OR under FOLLOWEDBY");
    };
    assert!(matches!(or[0], ObservationExpr::Observation(_)));
    assert!(matches!(&or[1], ObservationExpr::And(a) if a.len() == 2));
    let p = ok("[abc:a = 1] FOLLOWEDBY [abc:b = 1] FOLLOWEDBY [abc:c = 1]");
    assert!(matches!(p.expression, ObservationExpr::FollowedBy(ms) if ms.len() == 3));
    assert_eq!(
        canonical("[abc:a = 1] FOLLOWEDBY ([abc:b = 1] OR [abc:c = 1])"),
        "[abc:a = 1] FOLLOWEDBY [abc:b = 1] OR [abc:c = 1]"
    );
    assert_eq!(
        canonical("([abc:a = 1] FOLLOWEDBY [abc:b = 1]) AND [abc:c = 1]"),
        "([abc:a = 1] FOLLOWEDBY [abc:b = 1]) AND [abc:c = 1]"
    );
    assert_eq!(
        canonical("([abc:a = 1] OR [abc:b = 1]) AND [abc:c = 1]"),
        "([abc:a = 1] OR [abc:b = 1]) AND [abc:c = 1]"
    );
}

#[test]
fn qualifiers_bind_to_the_nearest_observation_or_group() {
    let p = ok("[abc:a = 1] AND [abc:b = 1] WITHIN 5 SECONDS");
    let ObservationExpr::And(ms) = p.expression else {
        panic!("expected AND at the top");
    };
    assert!(matches!(ms[0], ObservationExpr::Observation(_)));
    assert!(matches!(
        ms[1],
        ObservationExpr::Qualified(_, Qualifier::Within { seconds }) if seconds == 5.0
    ));

    let p = ok("([abc:a = 1] AND [abc:b = 1]) REPEATS 3 TIMES WITHIN 2.5 SECONDS");
    let ObservationExpr::Qualified(inner, Qualifier::Within { seconds }) = p.expression else {
        panic!("expected WITHIN outermost");
    };
    assert_eq!(seconds, 2.5);
    let ObservationExpr::Qualified(inner, Qualifier::Repeats { times: 3 }) = *inner else {
        panic!("expected REPEATS under WITHIN");
    };
    assert!(matches!(*inner, ObservationExpr::And(..)));

    let p = ok("[abc:a = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.5Z'");
    let ObservationExpr::Qualified(_, Qualifier::StartStop { start, stop }) = p.expression else {
        panic!("expected START/STOP");
    };
    assert_eq!((start.year, start.month, start.day), (2016, 6, 1));
    assert_eq!(stop.fraction, "5");
    assert_eq!(stop.to_string(), "2016-07-01T00:00:00.5Z");

    // A group is its own level: the same qualifier kind inside and outside is fine, and
    // the canonical form keeps the parentheses that make it so.
    assert_eq!(
        canonical("([abc:a = 1] WITHIN 1 SECONDS) WITHIN 2 SECONDS"),
        "([abc:a = 1] WITHIN 1 SECONDS) WITHIN 2 SECONDS"
    );
}

#[test]
fn nested_paths_refs_and_extensions() {
    let p = ok(
        "[file:extensions.'windows-pebinary-ext'.sections[*].hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    );
    let ObservationExpr::Observation(ComparisonExpr::Comparison(c)) = p.expression else {
        panic!("expected one comparison");
    };
    assert_eq!(
        c.path.steps,
        vec![
            key("extensions"),
            key("windows-pebinary-ext"),
            key("sections"),
            PathStep::AnyIndex,
            key("hashes"),
            key("SHA-256"),
        ]
    );
    assert!(!c.path.dereferences());

    let p = ok(
        "[email-message:to_refs[0].value LIKE '%@example.com' AND network-traffic:dst_ref.value ISSUBSET '10.0.0.0/8']",
    );
    let ObservationExpr::Observation(ComparisonExpr::And(ms)) = p.expression else {
        panic!("expected AND");
    };
    let [ComparisonExpr::Comparison(l), ComparisonExpr::Comparison(r)] = &ms[..] else {
        panic!("expected two comparisons");
    };
    assert_eq!(
        l.path.steps,
        vec![key("to_refs"), PathStep::Index(0), key("value")]
    );
    assert!(l.path.dereferences());
    assert!(r.path.dereferences());
    let path = |p: &str| ok(&format!("[{p} = 1]")).comparisons()[0].path.clone();
    assert!(!path("email-message:to_refs[*]").dereferences());
    assert!(!path("network-traffic:dst_ref").dereferences());
    assert!(!path("file:refs.x").dereferences());
    assert!(path("email-message:to_refs[2].value").dereferences());
    assert!(path("file:parent_directory_ref.path").dereferences());
    assert_eq!(r.test, Test::IsSubset("10.0.0.0/8".into()));

    let p = ok("[x-custom:'first key'.'it''s' = 1]"
        .replace("''", "\\'")
        .as_str());
    assert_eq!(
        p.to_string(),
        "[x-custom:'first key'.'it\\'s' = 1]",
        "quoted keys are kept quoted"
    );
    // Whitespace between path steps is allowed by the grammar.
    assert_eq!(
        canonical("[file : parent_directory_ref . path [ -1 ] = 'C:\\\\']"),
        "[file:parent_directory_ref.path[-1] = 'C:\\\\']"
    );
}

#[test]
fn literals() {
    let lit = |s: &str| -> Literal {
        let p = ok(&format!("[abc:x = {s}]"));
        let ObservationExpr::Observation(ComparisonExpr::Comparison(c)) = p.expression else {
            panic!()
        };
        let Test::Equal(v) = c.test else { panic!() };
        v
    };
    assert_eq!(lit("-12"), Literal::Int(-12));
    assert_eq!(lit("+7"), Literal::Int(7));
    assert_eq!(lit("0"), Literal::Int(0));
    assert_eq!(lit("-.5"), Literal::Float(-0.5));
    assert_eq!(lit("007.25"), Literal::Float(7.25));
    assert_eq!(lit("true"), Literal::Bool(true));
    assert_eq!(
        lit("'it\\'s a \\\\ path'"),
        Literal::String("it's a \\ path".into())
    );
    assert_eq!(lit("'多語 ok'"), Literal::String("多語 ok".into()));
    assert_eq!(lit("h'00ffAB'"), Literal::Hex(vec![0, 0xff, 0xab]));
    assert_eq!(lit("h''"), Literal::Hex(vec![]));
    assert_eq!(lit("b'aGVsbG8='"), Literal::Binary(b"hello".to_vec()));
    assert_eq!(lit("b'aGk='"), Literal::Binary(b"hi".to_vec()));
    assert_eq!(lit("b'aA=='"), Literal::Binary(b"h".to_vec()));
    assert_eq!(lit("b'YWJj'"), Literal::Binary(b"abc".to_vec()));
    assert!(
        matches!(lit("t'2024-02-29T23:59:60.123456Z'"), Literal::Timestamp(t) if t.second == 60)
    );
    assert_eq!(canonical("[abc:x = 1.0]"), "[abc:x = 1.0]");
    assert_eq!(canonical("[abc:x = b'aGk=']"), "[abc:x = b'aGk=']");
    assert_eq!(canonical("[abc:x IN ()]"), "[abc:x IN ()]");
    assert_eq!(
        canonical("[abc:x NOT IN ('a', 2, true, h'01')]"),
        "[abc:x NOT IN ('a', 2, true, h'01')]"
    );
    assert_eq!(canonical("[abc:x <> 'a']"), "[abc:x != 'a']");
    assert_eq!(canonical("[ EXISTS abc:x ]"), "[EXISTS abc:x]");
    assert_eq!(
        canonical("[NOT EXISTS abc:x AND abc:y NOT LIKE 'a%']"),
        "[NOT EXISTS abc:x AND abc:y NOT LIKE 'a%']"
    );
}

#[test]
fn comparisons_in_written_order() {
    let p = ok(
        "([abc:a = 1] AND [abc:b = 2 OR (abc:c = 3 AND abc:d = 4)]) WITHIN 5 SECONDS FOLLOWEDBY [EXISTS abc:e]",
    );
    let paths: Vec<String> = p.comparisons().iter().map(|c| c.path.to_string()).collect();
    assert_eq!(paths, ["abc:a", "abc:b", "abc:c", "abc:d", "abc:e"]);
}

#[test]
fn comments_and_whitespace() {
    assert_eq!(
        canonical("/* lead */ [abc:x = 1] // trailing\n\u{3000}AND\u{00A0}[abc:y = 2]"),
        "[abc:x = 1] AND [abc:y = 2]"
    );
}

#[test]
fn error_positions() {
    fails_at("", "", "empty pattern");
    fails_at("   ", "", "empty pattern");
    fails_at("file:name = 'x'", "file", "outside square brackets");
    fails_at("[file:name = 'x'", "", "expected `AND`, `OR` or `]`");
    fails_at("[file:name = 'x'])", ")", "`)` without a matching `(`");
    let e = parse("[file:name = 'x']]").unwrap_err();
    assert_eq!(e.offset, 17);
    assert!(e.message.contains("`]` without a matching `[`"), "{e}");
    fails_at("[]", "]", "empty observation");
    fails_at("[file:name = 'x'] AND", "", "expected `[` or `(`");
    fails_at(
        "[file:name == 'x' ANDD file:size = 1]",
        "ANDD",
        "identifier `ANDD`",
    );
    fails_at("[file:name = 'x\\n']", "\\n", "invalid escape");
    fails_at("[file:name = 'x]", "'x]", "unterminated string");
    fails_at("[file:name = \"x\"]", "\"", "single quotes");
    fails_at("[file:name =! 'x']", "!", "`!=`");
    fails_at("[file:name EQUALS 'x']", "EQUALS", "comparison operator");
    fails_at("[NOT file:name = 'x']", "NOT", "after the object path");
    fails_at("[file:name LIKE 5]", "5", "needs a string literal");
    fails_at("[file:size > true]", "true", "cannot be ordered");
    fails_at("[file:name = TRUE]", "TRUE", "`true` and `false`");
    fails_at("[file:size = 01]", "01", "leading zero");
    fails_at("[File:name = 'x']", "File", "lower-case");
    fails_at("[fi:name = 'x']", "fi:", "3 to 250");
    fails_at("[file:na-me = 'x']", "na-me", "quote it");
    fails_at("[file:IN = 'x']", "IN =", "keyword");
    fails_at("[file:name. = 'x']", "= 'x'", "property name after `.`");
    fails_at("[file:names[x] = 'x']", "x]", "list index");
    fails_at("[file:a.5 = 'x']", ".5", "start with a digit");
    fails_at("[file:name = 'x'] WITHIN -5 SECONDS", "-5", "non-negative");
    fails_at("[file:name = 'x'] WITHIN 5 MINUTES", "MINUTES", "`SECONDS`");
    fails_at("[file:name = 'x'] REPEATS 2.5 TIMES", "2.5", "integer");
    fails_at("[file:name = 'x'] REPEATS 2", "", "`TIMES`");
    fails_at(
        "[file:name = 'x'] START '2020-01-01T00:00:00Z' STOP t'2020-01-01T00:00:00Z'",
        "'2020",
        "timestamp literal",
    );
    fails_at(
        "[file:name = 'x'] START t'2020-01-01T00:00:00Z'",
        "",
        "`STOP`",
    );
    fails_at(
        "[file:name = 'x'] WITHIN 1 SECONDS REPEATS 2 TIMES WITHIN 3 SECONDS",
        "WITHIN 3",
        "duplicate WITHIN",
    );
    fails_at(
        "[file:created = t'2023-02-29T00:00:00Z']",
        "29T",
        "does not exist",
    );
    fails_at("[file:created = t'2023-13-01T00:00:00Z']", "13-01", "month");
    fails_at("[file:created = t'2023-01-01T24:00:00Z']", "24:", "hour");
    fails_at(
        "[file:created = t'2023-01-01 00:00:00Z']",
        " 00:00",
        "YYYY-MM-DD",
    );
    fails_at(
        "[file:created = t'2023-01-01T00:00:00+01:00']",
        "+01",
        "UTC",
    );
    fails_at(
        "[file:created = t'2023-01-01T00:00:00.Z']",
        "Z']",
        "fraction",
    );
    fails_at("[file:x = h'abc']", "h'abc'", "odd number");
    fails_at("[file:x = h'zz']", "zz", "hex");
    fails_at("[file:x = b'']", "b''", "empty binary");
    fails_at("[file:x = b'abc']", "b'abc'", "base64");
    fails_at("[file:x = b'ab!c']", "!c", "base64");
    fails_at("[file:size = 99999999999999999999]", "999", "64-bit");
    fails_at("[file:hashes.MD5 = 'abc']", "'abc'", "not a valid MD5 hash");
    fails_at("[file:hashes.'SHA-256' = 5]", "5]", "string literal");
    fails_at(
        "[file:hashes.MD5 IN ('d41d8cd98f00b204e9800998ecf8427e', 'xyz')]",
        "'xyz'",
        "'xyz' is not a valid MD5 hash",
    );
    fails_at(
        "[file:name = 'x'] /* open",
        "/* open",
        "unterminated comment",
    );
    fails_at("[file:name IN ('a',)]", ")]", "literal");
    fails_at("[file:name IN 'a']", "'a'", "`(`");
    fails_at(
        "[file:name = 'x' AND [file:size = 1]]",
        "[file:size",
        "do not nest",
    );
    fails_at(
        "[file:name = 'x'] and [file:name = 'y']",
        "and",
        "keywords are upper case: `AND`",
    );
    fails_at("[file:name = evil]", "evil", "as in `'evil'`");
    fails_at("[file:name = 'x'] @", "@", "unexpected character `@`");
    fails_at("[file:name = 'x'] FOLLOWEDBY", "", "observation expression");
    fails_at("([file:name = 'x']", "", "to close the `(` at byte 0");
    let e = parse("[file:x = 1]\n  AND [file:y = ]").unwrap_err();
    assert_eq!((e.line, e.column), (2, 17));
    assert_eq!(
        e.to_string(),
        "at line 2, column 17 (byte offset 29): expected a literal value, found `]`"
    );
    let e = parse("[file:name = '檔案' AND x]").unwrap_err();
    assert_eq!((e.line, e.column, e.offset), (1, 23, 26));
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}[file:x = 1]{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = parse(&deep).unwrap_err();
    assert!(e.message.contains("nests deeper"), "{e}");
    let deep = format!("[{}file:x = 1{}]", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).is_err());
    let fine = format!("{}[file:x = 1]{}", "(".repeat(90), ")".repeat(90));
    ok(&fine);
}

#[test]
fn long_chains_are_flat() {
    let many = (0..20_000)
        .map(|i| format!("file:name = 'f{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let p = ok(&format!("[{many}] AND [file:size = 1] AND [file:size = 2]"));
    let ObservationExpr::And(ms) = &p.expression else {
        panic!("expected AND");
    };
    assert!(
        matches!(&ms[0], ObservationExpr::Observation(ComparisonExpr::Or(or)) if or.len() == 20_000)
    );
}

#[test]
fn object_type_length_limits() {
    ok(&format!("[{}:x = 1]", "a".repeat(250)));
    let long = format!("[{}:x = 1]", "a".repeat(251));
    fails_at(&long, "aaa", "3 to 250 characters");
    ok("[a-b:x = 1]");
}

/// Random edits of valid patterns, multi-byte characters included, never panic, and
/// whatever parses prints back to an equal tree.
#[test]
fn random_edits_never_panic() {
    const SEEDS: &[&str] = &[
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f'] WITHIN 5 SECONDS",
        "([ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value ISSUBSET '10.0.0.0/8'] AND [file:size > 1.5]) REPEATS 2 TIMES",
        "[email-message:to_refs[*].value LIKE '%@example.com' AND NOT EXISTS email-message:subject] FOLLOWEDBY [x-acme:a.'b c'[0] IN (1, 'x', true, h'00', b'YQ==')] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.5Z'",
        "/* c */ [file:name NOT MATCHES '^多語$'] // end",
    ];
    const NOISE: &[char] = &[
        '[', ']', '(', ')', '\'', '\\', '.', ':', '=', '<', '>', '!', '*', '-', '+', ' ', 'a', 't',
        'h', 'b', '0', '9', '/', ',', 'é', '檔', '\u{3000}', '\n', 'Z', 'T',
    ];
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for round in 0..20_000 {
        let mut chars: Vec<char> = SEEDS[round % SEEDS.len()].chars().collect();
        for _ in 0..1 + next(3) {
            let at = next(chars.len() + 1);
            match next(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = NOISE[next(NOISE.len())],
                _ => chars.insert(at, NOISE[next(NOISE.len())]),
            }
        }
        let input: String = chars.into_iter().collect();
        match parse(&input) {
            Ok(p) => assert_eq!(parse(&p.to_string()).as_ref(), Ok(&p), "{input:?}"),
            Err(e) => {
                assert!(
                    e.offset <= input.len() && input.is_char_boundary(e.offset),
                    "{input:?}"
                );
                assert!(!e.message.is_empty());
            }
        }
    }
}
