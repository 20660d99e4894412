//! Compares our valid/invalid verdict with the OASIS pattern validator (`stix2-patterns`,
//! the `validate-patterns` tool) on a corpus of hand-written and generated patterns.
//!
//! The corpus is `tests/oracle/patterns/handwritten.txt` at the workspace root, patterns
//! generated from the grammar with a fixed seed, corrupted copies of those, and the canonical
//! form (`Display`) of every pattern we accept. The validator runs once, in one Python
//! process, over all of it. Every verdict must agree, except the cases listed in
//! [`DOCUMENTED`], where the validator departs from the grammar or the specification; each
//! of those must still disagree, so the list cannot go stale.

#[path = "oracle/generate.rs"]
mod generate;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const SEED: u64 = 0x5715_2021_0000_0001;
const GENERATED_VALID: usize = 400;
const GENERATED_MUTANTS: usize = 500;

/// Why the validator's verdict differs from ours, with the rule we follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The validator's `brackets_check` demands that the first character other than `(` and
    /// whitespace be `[`, so a pattern opening with a comment fails, although the grammar
    /// skips comments everywhere (STIX 2.1 §9 and its grammar's COMMENT and LINE_COMMENT rules).
    LeadingComment,
    /// The grammar admits a negative list index (`indexPathStep` takes IntNegLiteral), but
    /// the validator's inspector reads only IntPosLiteral and raises an exception.
    NegativeIndexCrash,
    /// A list index right after `hashes` makes the validator's hash check call `.upper()` on an
    /// integer and raise an exception; the path is grammatical (STIX 2.1 §9.7, "Object Path
    /// Syntax").
    HashIndexCrash,
    /// The validator's hash check matches the text of the whole `IN (…)` set, parentheses
    /// included, against the hash format, so every set fails; a set of well-formed hashes is
    /// valid (STIX 2.1 §9.6.1, "Comparison Operators", IN).
    HashSetText,
    /// The validator checks the operand of `LIKE`/`MATCHES` on a hash path as if it were a
    /// hash value; those operands are a SQL LIKE pattern and a PCRE regular expression
    /// (STIX 2.1 §9.6.1, "Comparison Operators"), not hash values.
    HashPatternOperand,
    /// The validator's duplicate-qualifier check is reset only for bracketed observations,
    /// so two qualifiers of one kind directly on a parenthesised group pass; we apply the
    /// same rule at every level (STIX 2.1 §9.5.1, "Observation Expression Qualifiers").
    DuplicateQualifierOnGroup,
    /// The object type is not a STIX type name: 3 to 250 characters of lower-case ASCII letters,
    /// digits and hyphens (STIX 2.1 §3.1, with the character set of §7.3.2.2 and §11.2.1; §9.7
    /// takes the object type from the `type` property). The validator takes any identifier.
    ObjectTypeName,
    /// The timestamp has the right shape but names a day that does not exist; timestamps are RFC
    /// 3339 instants (the STIX 2.1 timestamp data type of §2.16 and the timestamp constant of
    /// §9.2). The validator checks only the digits' ranges.
    NoSuchDay,
    /// The integer does not fit in 64 bits; STIX integers are bounded (the STIX 2.1 integer data
    /// type of §2.10, which §9.2 applies to constants, limits them to 54-bit signed values; we
    /// accept the 64-bit range). The validator takes any number of digits.
    IntegerRange,
}

/// Every case where our verdict and the validator's differ, with why we follow the
/// specification rather than the validator. `true` is our verdict (the pattern is valid).
const DOCUMENTED: &[(&str, bool, Reason)] = &[
    (
        "/* leading comment */ [file:name = 'a']",
        true,
        Reason::LeadingComment,
    ),
    (
        "// leading line comment\n[file:name = 'a']",
        true,
        Reason::LeadingComment,
    ),
    (
        "( /* comment after a parenthesis */ [file:name = 'a'])",
        true,
        Reason::LeadingComment,
    ),
    ("[file:a[-1] = 1]", true, Reason::NegativeIndexCrash),
    ("[file:hashes[0] = 'a']", true, Reason::HashIndexCrash),
    (
        "[file:hashes.MD5 IN ('d41d8cd98f00b204e9800998ecf8427e', '0cc175b9c0f1b6a831c399e269772661')]",
        true,
        Reason::HashSetText,
    ),
    (
        "[file:hashes.MD5 NOT IN ('d41d8cd98f00b204e9800998ecf8427e')]",
        true,
        Reason::HashSetText,
    ),
    (
        "[file:hashes.MD5 LIKE 'd41d%']",
        true,
        Reason::HashPatternOperand,
    ),
    (
        "[file:hashes.'SHA-256' MATCHES '^aec0']",
        true,
        Reason::HashPatternOperand,
    ),
    (
        "[file:hashes.'SHA-256' NOT LIKE 'aec0%']",
        true,
        Reason::HashPatternOperand,
    ),
    (
        "([file:name = 'a']) WITHIN 1 SECONDS WITHIN 2 SECONDS",
        false,
        Reason::DuplicateQualifierOnGroup,
    ),
    (
        "([file:name = 'a'] AND [file:name = 'b']) REPEATS 2 TIMES REPEATS 3 TIMES",
        false,
        Reason::DuplicateQualifierOnGroup,
    ),
    // From the test suite shipped with stix2-patterns (test/v21/test_validator.py), which
    // expects these to pass.
    (
        "([win-registry-key:key = 'hkey_local_machine\\\\foo\\\\bar']) WITHIN 5 SECONDS WITHIN 6 SECONDS",
        false,
        Reason::DuplicateQualifierOnGroup,
    ),
    (
        "[x_whatever:detected == t'2018-03-22T12:11:14.1Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2024-01-15T12:30:45Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2024-12-31T23:59:59Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2024-01-01T00:00:00Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2024-01-15T12:30:45.123Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2024-01-15T12:30:45.123456Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2024-02-29T12:00:00Z']",
        false,
        Reason::ObjectTypeName,
    ),
    (
        "[x:created = t'2000-02-29T12:00:00Z']",
        false,
        Reason::ObjectTypeName,
    ),
    // Both rules refuse these; the day is named first.
    (
        "[x:created = t'2024-02-30T12:00:00Z']",
        false,
        Reason::NoSuchDay,
    ),
    (
        "[x:created = t'2024-04-31T12:00:00Z']",
        false,
        Reason::NoSuchDay,
    ),
    (
        "[x:created = t'2023-02-29T12:00:00Z']",
        false,
        Reason::NoSuchDay,
    ),
    ("[File:name = 'a']", false, Reason::ObjectTypeName),
    ("[FILE:name = 'a']", false, Reason::ObjectTypeName),
    ("[x:name = 'a']", false, Reason::ObjectTypeName),
    ("[ab:name = 'a']", false, Reason::ObjectTypeName),
    ("[file_x:name = 'a']", false, Reason::ObjectTypeName),
    ("[_file:name = 'a']", false, Reason::ObjectTypeName),
    ("[x-:x = 1]", false, Reason::ObjectTypeName),
    (
        "[file:created = t'2023-02-29T00:00:00Z']",
        false,
        Reason::NoSuchDay,
    ),
    (
        "[file:created = t'2016-04-31T00:00:00Z']",
        false,
        Reason::NoSuchDay,
    ),
    (
        "[file:created = t'2016-02-30T00:00:00Z']",
        false,
        Reason::NoSuchDay,
    ),
    (
        "[file:size = 99999999999999999999999999]",
        false,
        Reason::IntegerRange,
    ),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hand-written corpus: one pattern a line, `# ` comments, `⏎` for a line break.
fn handwritten() -> Vec<String> {
    let path = workspace_root().join("tests/oracle/patterns/handwritten.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut cases: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("# "))
        .map(|l| l.replace('⏎', "\n"))
        .collect();
    // Cases a line-based file cannot hold.
    cases.extend(["".to_string(), "   ".to_string(), "\n".to_string()]);
    cases
}

struct Verdict {
    valid: bool,
    errors: Vec<String>,
    exception: Option<String>,
}

/// Runs the OASIS validator once over `corpus`.
fn oasis_verdicts(corpus: &[String]) -> Vec<Verdict> {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the OASIS validator is missing: {} does not exist; run `scripts/setup-test-env` \
         from the workspace root to create the test venv",
        python.display()
    );
    let script = root.join("tests/oracle/patterns/validate_patterns.py");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pattern-oracle");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("corpus.json");
    let output = dir.join("results.json");
    std::fs::write(&input, serde_json::to_vec(corpus).unwrap()).unwrap();
    let status = Command::new(&python)
        .arg(&script)
        .arg(&input)
        .arg(&output)
        .status()
        .expect("run the OASIS validator");
    assert!(
        status.success(),
        "the OASIS validator failed ({status}); is stix2-patterns installed? run `scripts/setup-test-env`"
    );
    let results: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(results.len(), corpus.len());
    results
        .into_iter()
        .map(|v| Verdict {
            valid: v["valid"].as_bool().unwrap(),
            errors: v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect(),
            exception: v["exception"].as_str().map(str::to_owned),
        })
        .collect()
}

fn corpus() -> Vec<String> {
    let mut cases = handwritten();
    let mut rng = generate::Rng::new(SEED);
    let valid: Vec<String> = (0..GENERATED_VALID)
        .map(|_| generate::valid(&mut rng))
        .collect();
    for p in &valid {
        if let Err(e) = isac_pattern::parse(p) {
            panic!("the generator built a pattern we reject: {p:?}: {e}");
        }
    }
    for i in 0..GENERATED_MUTANTS {
        let p = &valid[i % valid.len()];
        let m = generate::mutate(&mut rng, p);
        cases.push(m);
    }
    cases.extend(valid);
    // The canonical form of everything we accept must be accepted too.
    let canonical: Vec<String> = cases
        .iter()
        .filter_map(|p| isac_pattern::parse(p).ok())
        .map(|p| p.to_string())
        .collect();
    cases.extend(canonical);
    let mut seen = HashSet::new();
    cases.retain(|c| seen.insert(c.clone()));
    cases
}

#[test]
fn verdicts_match_the_oasis_validator() {
    let cases = corpus();
    let verdicts = oasis_verdicts(&cases);
    let documented: HashMap<&str, (bool, Reason)> =
        DOCUMENTED.iter().map(|(p, v, r)| (*p, (*v, *r))).collect();

    let mut unexplained = Vec::new();
    let mut explained = Vec::new();
    let mut stale = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (pattern, theirs) in cases.iter().zip(&verdicts) {
        let ours = isac_pattern::parse(pattern);
        if ours.is_ok() {
            valid += 1;
        } else {
            invalid += 1;
        }
        // Whatever we accept must print as text that parses back to the same tree.
        if let Ok(tree) = &ours {
            let text = tree.to_string();
            assert_eq!(
                isac_pattern::parse(&text).as_ref(),
                Ok(tree),
                "canonical form {text:?} of {pattern:?} parses differently"
            );
        }
        match (
            ours.is_ok() == theirs.valid,
            documented.get(pattern.as_str()),
        ) {
            (true, None) => {}
            (false, Some((verdict, reason))) if *verdict == ours.is_ok() => {
                explained.push((pattern, *reason));
            }
            (true, Some(_)) | (false, Some(_)) => stale.push(pattern),
            (false, None) => {
                let ours = match &ours {
                    Ok(_) => "valid".to_owned(),
                    Err(e) => format!("invalid: {e}"),
                };
                let theirs = match (&theirs.exception, theirs.valid) {
                    (Some(e), _) => format!("exception: {e}"),
                    (None, true) => "valid".to_owned(),
                    (None, false) => format!("invalid: {}", theirs.errors.join(" | ")),
                };
                unexplained.push(format!(
                    "{pattern:?}\n    ours:   {ours}\n    OASIS:  {theirs}"
                ));
            }
        }
    }
    let in_corpus: HashSet<&str> = cases.iter().map(String::as_str).collect();
    let missing: Vec<&str> = DOCUMENTED
        .iter()
        .map(|(p, ..)| *p)
        .filter(|p| !in_corpus.contains(p))
        .collect();

    println!(
        "pattern oracle: {} cases ({valid} valid, {invalid} invalid), {} documented disagreements, {} unexplained",
        cases.len(),
        explained.len(),
        unexplained.len()
    );
    for (pattern, reason) in &explained {
        println!("  documented: {pattern:?} ({reason:?})");
    }
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements with the OASIS validator:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    assert!(
        stale.is_empty(),
        "documented disagreements that no longer disagree (or disagree the other way): {stale:?}"
    );
    assert!(
        missing.is_empty(),
        "documented disagreements missing from the corpus: {missing:?}"
    );
    assert!(
        cases.len() >= 300,
        "the corpus must hold at least 300 patterns"
    );
}

/// Exploratory, not part of the suite: patterns generated and corrupted from another seed
/// (`ISAC_SEED`, default 2) in larger numbers (`ISAC_PATTERNS`, default 3,000 of each), judged
/// by both validators, with every disagreement printed. What it finds becomes handwritten cases.
#[test]
#[ignore = "exploratory: cargo test -p isac-pattern --test oracle exploratory -- --ignored --nocapture"]
fn exploratory_seeds_against_the_oasis_validator() {
    let seed: u64 = std::env::var("ISAC_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let n: usize = std::env::var("ISAC_PATTERNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let mut rng = generate::Rng::new(seed);
    let valid: Vec<String> = (0..n).map(|_| generate::valid(&mut rng)).collect();
    let mut cases: Vec<String> = valid
        .iter()
        .map(|p| generate::mutate(&mut rng, p))
        .collect();
    cases.extend(valid);
    let mut seen = HashSet::new();
    cases.retain(|c| seen.insert(c.clone()));
    let verdicts = oasis_verdicts(&cases);
    let mut disagree = 0;
    for (pattern, theirs) in cases.iter().zip(&verdicts) {
        let ours = isac_pattern::parse(pattern);
        if ours.is_ok() != theirs.valid {
            disagree += 1;
            println!(
                "DISAGREE {pattern:?}\n    ours: {:?}\n    OASIS: {:?} {:?}",
                ours.err().map(|e| e.to_string()),
                theirs.exception,
                theirs.errors
            );
        }
    }
    println!("patterns: {}, disagreements: {disagree}", cases.len());
}
