//! The syntax tree of a STIX pattern.
//!
//! The tree keeps meaning, not spelling: `==` and `=` are both [`Test::Equal`], a quoted and a
//! bare property name are both [`PathStep::Key`], and parentheses exist only as the shape of
//! the tree. [`fmt::Display`] writes the canonical text back, with the fewest parentheses that
//! keep the same tree, so `parse(&pattern.to_string())` gives back an equal pattern.
//!
//! `AND`, `OR` and `FOLLOWEDBY` are associative, so a chain of one operator is one n-ary node
//! with at least two members, in written order, and never has a member with the same
//! operator: `a OR (b OR c)` and `(a OR b) OR c` are both `Or([a, b, c])`. A long chain (a
//! feed's thousand hashes joined by `OR`) is thereby a flat list, not a deep tree.

use std::fmt;

/// A parsed pattern: one observation expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub expression: ObservationExpr,
}

/// An observation expression (STIX 2.1 §9.5, "Observation Expressions"): bracketed comparisons
/// combined with the observation operators and qualified by `WITHIN`, `REPEATS` and `START … STOP`.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpr {
    /// `[ comparison ]`: one observation matching the comparison expression.
    Observation(ComparisonExpr),
    /// `a AND b AND …`: all are matched, by different observations.
    And(Vec<ObservationExpr>),
    /// `a OR b OR …`: any is matched.
    Or(Vec<ObservationExpr>),
    /// `a FOLLOWEDBY b FOLLOWEDBY …`: each is matched by an observation later than the one
    /// matching the member before it.
    FollowedBy(Vec<ObservationExpr>),
    /// An observation expression restricted by a qualifier.
    Qualified(Box<ObservationExpr>, Qualifier),
}

/// A qualifier on an observation expression (STIX 2.1 §9.5.1, "Observation Expression Qualifiers").
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS`, with `n` an integer or a decimal number.
    Within { seconds: f64 },
    /// `REPEATS n TIMES`.
    Repeats { times: u64 },
    /// `START t'…' STOP t'…'`.
    StartStop { start: Timestamp, stop: Timestamp },
}

/// The three kinds of qualifier; an observation expression carries each at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualifierKind {
    Within,
    Repeats,
    StartStop,
}

impl Qualifier {
    pub fn kind(&self) -> QualifierKind {
        match self {
            Qualifier::Within { .. } => QualifierKind::Within,
            Qualifier::Repeats { .. } => QualifierKind::Repeats,
            Qualifier::StartStop { .. } => QualifierKind::StartStop,
        }
    }
}

/// A comparison expression inside brackets (STIX 2.1 §9.6, "Comparison Expressions"), where `AND`
/// binds tighter than `OR`.
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonExpr {
    Comparison(Comparison),
    /// All members hold, on the same object.
    And(Vec<ComparisonExpr>),
    /// Any member holds.
    Or(Vec<ComparisonExpr>),
}

/// One comparison: an object path, an operator (possibly negated with `NOT`) and its operand.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub path: ObjectPath,
    /// `NOT` written before the operator (before `EXISTS` for [`Test::Exists`]).
    pub negated: bool,
    pub test: Test,
}

/// A comparison operator with its operand (STIX 2.1 §9.6.1, "Comparison Operators").
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `EXISTS path`, or `NOT EXISTS path` when negated.
    Exists,
    /// `=` or `==`.
    Equal(Literal),
    /// `!=` or `<>`.
    NotEqual(Literal),
    Less(Literal),
    LessOrEqual(Literal),
    Greater(Literal),
    GreaterOrEqual(Literal),
    /// `IN (v1, v2, …)`; the set may be empty.
    In(Vec<Literal>),
    /// `LIKE 'pattern'`, with SQL `%` and `_` wildcards.
    Like(String),
    /// `MATCHES 'regex'`, a PCRE regular expression.
    Matches(String),
    /// `ISSUBSET 'cidr'`.
    IsSubset(String),
    /// `ISSUPERSET 'cidr'`.
    IsSuperset(String),
}

impl Test {
    /// The operator as written in canonical form, without `NOT`.
    pub fn operator(&self) -> &'static str {
        match self {
            Test::Exists => "EXISTS",
            Test::Equal(_) => "=",
            Test::NotEqual(_) => "!=",
            Test::Less(_) => "<",
            Test::LessOrEqual(_) => "<=",
            Test::Greater(_) => ">",
            Test::GreaterOrEqual(_) => ">=",
            Test::In(_) => "IN",
            Test::Like(_) => "LIKE",
            Test::Matches(_) => "MATCHES",
            Test::IsSubset(_) => "ISSUBSET",
            Test::IsSuperset(_) => "ISSUPERSET",
        }
    }
}

/// An object path (STIX 2.1 §9.7, "Object Path Syntax"): an object type and the steps into its
/// properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    /// The Cyber-observable Object type, e.g. `file` or `network-traffic`.
    pub object_type: String,
    /// The steps; the first is always a [`PathStep::Key`] naming a top-level property.
    pub steps: Vec<PathStep>,
}

/// One step of an object path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// `.name` or `.'quoted name'` (the first property has no dot).
    Key(String),
    /// `[n]`; the grammar admits negative indexes.
    Index(i64),
    /// `[*]`: any member of the list.
    AnyIndex,
}

impl ObjectPath {
    /// The property names of the path, in order, skipping list indexes.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            PathStep::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Whether the path follows an object reference into the referenced object: a `_ref`
    /// property followed by a property of its target (`network-traffic:dst_ref.value`), or a
    /// member of a `_refs` list followed by one (`email-message:to_refs[*].value`).
    pub fn dereferences(&self) -> bool {
        self.steps.windows(2).enumerate().any(|(i, w)| match w {
            [PathStep::Key(k), PathStep::Key(_)] => k.ends_with("_ref"),
            [PathStep::Key(k), PathStep::Index(_) | PathStep::AnyIndex] => {
                k.ends_with("_refs") && matches!(self.steps.get(i + 2), Some(PathStep::Key(_)))
            }
            _ => false,
        })
    }
}

/// A constant operand (STIX 2.1 §9.2, "Constants").
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    /// A string with its escapes resolved.
    String(String),
    Bool(bool),
    /// `b'…'`, decoded from base64.
    Binary(Vec<u8>),
    /// `h'…'`, decoded from hexadecimal.
    Hex(Vec<u8>),
    Timestamp(Timestamp),
}

/// A timestamp literal `t'YYYY-MM-DDTHH:MM:SS[.s+]Z'`, always in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// 0 to 60; 60 is a leap second.
    pub second: u8,
    /// The digits of the fractional second, as written (empty when there is none).
    pub fraction: String,
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if !self.fraction.is_empty() {
            write!(f, ".{}", self.fraction)?;
        }
        f.write_str("Z")
    }
}

impl Pattern {
    /// Every comparison of the pattern, in written order.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        collect_observation(&self.expression, &mut out);
        out
    }
}

fn collect_observation<'a>(e: &'a ObservationExpr, out: &mut Vec<&'a Comparison>) {
    match e {
        ObservationExpr::Observation(c) => collect_comparison(c, out),
        ObservationExpr::And(ms) | ObservationExpr::Or(ms) | ObservationExpr::FollowedBy(ms) => {
            ms.iter().for_each(|m| collect_observation(m, out));
        }
        ObservationExpr::Qualified(inner, _) => collect_observation(inner, out),
    }
}

fn collect_comparison<'a>(e: &'a ComparisonExpr, out: &mut Vec<&'a Comparison>) {
    match e {
        ComparisonExpr::Comparison(c) => out.push(c),
        ComparisonExpr::And(ms) | ComparisonExpr::Or(ms) => {
            ms.iter().for_each(|m| collect_comparison(m, out));
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expression.fmt(f)
    }
}

impl ObservationExpr {
    fn precedence(&self) -> u8 {
        match self {
            ObservationExpr::FollowedBy(..) => 1,
            ObservationExpr::Or(..) => 2,
            ObservationExpr::And(..) => 3,
            ObservationExpr::Observation(_) | ObservationExpr::Qualified(..) => 4,
        }
    }

    /// Whether this expression carries a qualifier of `kind` directly, that is without
    /// parentheses in between.
    fn has_direct_qualifier(&self, kind: QualifierKind) -> bool {
        match self {
            ObservationExpr::Qualified(inner, q) => {
                q.kind() == kind || inner.has_direct_qualifier(kind)
            }
            _ => false,
        }
    }
}

fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    members: &[T],
    op: &str,
    wrap: impl Fn(&T) -> bool,
) -> fmt::Result {
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            write!(f, " {op} ")?;
        }
        write_wrapped(f, m, wrap(m))?;
    }
    Ok(())
}

fn write_wrapped(f: &mut fmt::Formatter<'_>, e: &dyn fmt::Display, wrap: bool) -> fmt::Result {
    if wrap {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for ObservationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let me = self.precedence();
        let wrap = |m: &ObservationExpr| m.precedence() <= me;
        match self {
            ObservationExpr::Observation(c) => write!(f, "[{c}]"),
            ObservationExpr::And(ms) => write_joined(f, ms, "AND", wrap),
            ObservationExpr::Or(ms) => write_joined(f, ms, "OR", wrap),
            ObservationExpr::FollowedBy(ms) => write_joined(f, ms, "FOLLOWEDBY", wrap),
            ObservationExpr::Qualified(inner, q) => {
                let wrap = inner.precedence() < 4 || inner.has_direct_qualifier(q.kind());
                write_wrapped(f, inner, wrap)?;
                write!(f, " {q}")
            }
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within { seconds } => {
                if seconds.fract() == 0.0 && *seconds < 1e15 {
                    write!(f, "WITHIN {seconds:.0} SECONDS")
                } else {
                    write!(f, "WITHIN {seconds} SECONDS")
                }
            }
            Qualifier::Repeats { times } => write!(f, "REPEATS {times} TIMES"),
            Qualifier::StartStop { start, stop } => write!(f, "START t'{start}' STOP t'{stop}'"),
        }
    }
}

impl ComparisonExpr {
    fn precedence(&self) -> u8 {
        match self {
            ComparisonExpr::Or(..) => 1,
            ComparisonExpr::And(..) => 2,
            ComparisonExpr::Comparison(_) => 3,
        }
    }
}

impl fmt::Display for ComparisonExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let me = self.precedence();
        let wrap = |m: &ComparisonExpr| m.precedence() <= me;
        match self {
            ComparisonExpr::Comparison(c) => write!(f, "{c}"),
            ComparisonExpr::And(ms) => write_joined(f, ms, "AND", wrap),
            ComparisonExpr::Or(ms) => write_joined(f, ms, "OR", wrap),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Test::Exists = self.test {
            let not = if self.negated { "NOT " } else { "" };
            return write!(f, "{not}EXISTS {}", self.path);
        }
        write!(f, "{} ", self.path)?;
        if self.negated {
            f.write_str("NOT ")?;
        }
        f.write_str(self.test.operator())?;
        match &self.test {
            Test::Exists => Ok(()),
            Test::Equal(v)
            | Test::NotEqual(v)
            | Test::Less(v)
            | Test::LessOrEqual(v)
            | Test::Greater(v)
            | Test::GreaterOrEqual(v) => write!(f, " {v}"),
            Test::In(set) => {
                f.write_str(" (")?;
                for (i, v) in set.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Test::Like(s) | Test::Matches(s) | Test::IsSubset(s) | Test::IsSuperset(s) => {
                f.write_str(" ")?;
                write_string(f, s)
            }
        }
    }
}

/// Whether `key` can be written without quotes as a property name.
fn is_bare_key(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && crate::lexer::keyword(key).is_none()
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(k) {
                        f.write_str(k)?;
                    } else {
                        write_string(f, k)?;
                    }
                }
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::AnyIndex => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Float(x) => {
                let text = x.to_string();
                if text.contains('.') {
                    f.write_str(&text)
                } else {
                    write!(f, "{text}.0")
                }
            }
            Literal::String(s) => write_string(f, s),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Binary(bytes) => {
                f.write_str("b'")?;
                for chunk in bytes.chunks(3) {
                    let n = chunk
                        .iter()
                        .enumerate()
                        .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
                    for i in 0..4 {
                        if i <= chunk.len() {
                            let index = (n >> (18 - 6 * i)) & 63;
                            write!(f, "{}", char::from(BASE64[index as usize]))?;
                        } else {
                            f.write_str("=")?;
                        }
                    }
                }
                f.write_str("'")
            }
            Literal::Hex(bytes) => {
                f.write_str("h'")?;
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")
            }
            Literal::Timestamp(t) => write!(f, "t'{t}'"),
        }
    }
}
