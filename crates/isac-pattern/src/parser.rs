//! Recursive descent over the tokens, one function per level of the grammar.
//!
//! Observation level, loosest first: `FOLLOWEDBY`, `OR`, `AND`, then a bracketed
//! observation or a parenthesised group followed by its qualifiers. Comparison level inside
//! the brackets: `OR`, `AND`, then a single comparison or a parenthesised group. All binary
//! operators associate to the left, as in the reference grammar.

use crate::ast::{
    Comparison, ComparisonExpr, Literal, ObjectPath, ObservationExpr, PathStep, Pattern, Qualifier,
    QualifierKind, Test,
};
use crate::check;
use crate::error::PatternError;
use crate::lexer::{Keyword, Tok, Token};

/// How deeply parentheses and brackets may nest before the parser gives up, so that a
/// hostile pattern cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

pub(crate) struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Byte offsets of the literals of the comparison being parsed, in order, so a check on
    /// a value can point at it.
    literal_offsets: Vec<usize>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(input: &'a str, tokens: Vec<Token>) -> Self {
        Parser {
            input,
            tokens,
            pos: 0,
            depth: 0,
            literal_offsets: Vec::new(),
        }
    }

    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos].start
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn at_keyword(&self, k: Keyword) -> bool {
        *self.peek() == Tok::Keyword(k)
    }

    fn err_at(&self, offset: usize, message: impl Into<String>) -> PatternError {
        PatternError::at(self.input, offset, message)
    }

    /// The current token as named after "found", with a hint when it looks like a keyword
    /// in the wrong case.
    fn found(&self) -> String {
        let mut text = self.peek().describe();
        if let Tok::Ident { name, .. } = self.peek()
            && let Some(Tok::Keyword(k)) = crate::lexer::keyword(&name.to_ascii_uppercase())
        {
            text.push_str(&format!("; keywords are upper case: `{}`", k.as_str()));
        }
        text
    }

    /// "expected X, found Y" at the current token.
    fn expected(&self, what: &str) -> PatternError {
        self.err_at(
            self.offset(),
            format!("expected {what}, found {}", self.found()),
        )
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, PatternError> {
        if *self.peek() == tok {
            Ok(self.bump())
        } else {
            Err(self.expected(what))
        }
    }

    fn expect_keyword(&mut self, k: Keyword) -> Result<(), PatternError> {
        if self.at_keyword(k) {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(&format!("`{}`", k.as_str())))
        }
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(
                self.offset(),
                format!("pattern nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    pub(crate) fn pattern(&mut self) -> Result<Pattern, PatternError> {
        if *self.peek() == Tok::Eof {
            return Err(self.err_at(
                self.offset(),
                "empty pattern; expected an observation expression such as `[file:name = 'x']`",
            ));
        }
        let expression = self.followed_by()?;
        if *self.peek() != Tok::Eof {
            let what = match self.peek() {
                Tok::RParen => "`)` without a matching `(`".to_owned(),
                Tok::RBrack => "`]` without a matching `[`".to_owned(),
                _ => self.found(),
            };
            return Err(self.err_at(
                self.offset(),
                format!("expected `AND`, `OR`, `FOLLOWEDBY`, a qualifier or the end of the pattern, found {what}"),
            ));
        }
        Ok(Pattern { expression })
    }

    fn followed_by(&mut self) -> Result<ObservationExpr, PatternError> {
        let first = self.obs_or()?;
        if !self.at_keyword(Keyword::FollowedBy) {
            return Ok(first);
        }
        let mut members = Vec::new();
        flatten(&mut members, first, |e| match e {
            ObservationExpr::FollowedBy(ms) => Ok(ms),
            other => Err(other),
        });
        while self.at_keyword(Keyword::FollowedBy) {
            self.bump();
            let next = self.obs_or()?;
            flatten(&mut members, next, |e| match e {
                ObservationExpr::FollowedBy(ms) => Ok(ms),
                other => Err(other),
            });
        }
        Ok(ObservationExpr::FollowedBy(members))
    }

    fn obs_or(&mut self) -> Result<ObservationExpr, PatternError> {
        let first = self.obs_and()?;
        if !self.at_keyword(Keyword::Or) {
            return Ok(first);
        }
        let mut members = Vec::new();
        flatten(&mut members, first, |e| match e {
            ObservationExpr::Or(ms) => Ok(ms),
            other => Err(other),
        });
        while self.at_keyword(Keyword::Or) {
            self.bump();
            let next = self.obs_and()?;
            flatten(&mut members, next, |e| match e {
                ObservationExpr::Or(ms) => Ok(ms),
                other => Err(other),
            });
        }
        Ok(ObservationExpr::Or(members))
    }

    fn obs_and(&mut self) -> Result<ObservationExpr, PatternError> {
        let first = self.qualified()?;
        if !self.at_keyword(Keyword::And) {
            return Ok(first);
        }
        let mut members = Vec::new();
        flatten(&mut members, first, |e| match e {
            ObservationExpr::And(ms) => Ok(ms),
            other => Err(other),
        });
        while self.at_keyword(Keyword::And) {
            self.bump();
            let next = self.qualified()?;
            flatten(&mut members, next, |e| match e {
                ObservationExpr::And(ms) => Ok(ms),
                other => Err(other),
            });
        }
        Ok(ObservationExpr::And(members))
    }

    /// A bracketed observation or parenthesised group, then its qualifiers, each kind at
    /// most once (qualifiers on an enclosing group are a separate level).
    fn qualified(&mut self) -> Result<ObservationExpr, PatternError> {
        let mut expr = self.observation_primary()?;
        let mut seen: Vec<QualifierKind> = Vec::new();
        loop {
            let start = self.offset();
            let qualifier = match self.peek() {
                Tok::Keyword(Keyword::Within) => self.within()?,
                Tok::Keyword(Keyword::Repeats) => self.repeats()?,
                Tok::Keyword(Keyword::Start) => self.start_stop()?,
                _ => return Ok(expr),
            };
            if seen.contains(&qualifier.kind()) {
                let name = match qualifier.kind() {
                    QualifierKind::Within => "WITHIN",
                    QualifierKind::Repeats => "REPEATS",
                    QualifierKind::StartStop => "START/STOP",
                };
                return Err(self.err_at(
                    start,
                    format!("duplicate {name} qualifier on the same observation expression; parenthesise to qualify a group"),
                ));
            }
            seen.push(qualifier.kind());
            expr = ObservationExpr::Qualified(Box::new(expr), qualifier);
        }
    }

    fn observation_primary(&mut self) -> Result<ObservationExpr, PatternError> {
        match self.peek() {
            Tok::LBrack => {
                let open = self.bump().start;
                self.enter()?;
                if *self.peek() == Tok::RBrack {
                    return Err(self.err_at(
                        self.offset(),
                        "empty observation expression; expected a comparison such as `file:name = 'x'`",
                    ));
                }
                let comparison = self.cmp_or()?;
                if *self.peek() != Tok::RBrack {
                    return Err(self.err_at(
                        self.offset(),
                        format!(
                            "expected `AND`, `OR` or `]` to close the `[` at byte {open}, found {}",
                            self.found()
                        ),
                    ));
                }
                self.bump();
                self.depth -= 1;
                Ok(ObservationExpr::Observation(comparison))
            }
            Tok::LParen => {
                let open = self.bump().start;
                self.enter()?;
                let inner = self.followed_by()?;
                if *self.peek() != Tok::RParen {
                    return Err(self.err_at(
                        self.offset(),
                        format!(
                            "expected `AND`, `OR`, `FOLLOWEDBY`, a qualifier or `)` to close the `(` at byte {open}, found {}",
                            self.found()
                        ),
                    ));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Ident { .. } if matches!(self.tokens[self.pos + 1].tok, Tok::Colon) => Err(self
                .err_at(
                    self.offset(),
                    "comparison outside square brackets; an observation expression is written `[type:property = value]`",
                )),
            _ => Err(self.expected("`[` or `(` to start an observation expression")),
        }
    }

    fn within(&mut self) -> Result<Qualifier, PatternError> {
        self.bump();
        let seconds = match self.peek().clone() {
            Tok::Int {
                negative: false,
                value,
            } => {
                let seconds = match value {
                    Some(v) => v as f64,
                    None => self
                        .token_text()
                        .trim_start_matches('+')
                        .parse()
                        .unwrap_or(f64::MAX),
                };
                self.bump();
                seconds
            }
            Tok::Float {
                negative: false,
                value,
            } => {
                self.bump();
                value
            }
            Tok::Int { negative: true, .. } | Tok::Float { negative: true, .. } => {
                return Err(self.err_at(
                    self.offset(),
                    "WITHIN needs a non-negative number of seconds",
                ));
            }
            _ => return Err(self.expected("a number of seconds after `WITHIN`")),
        };
        self.expect_keyword(Keyword::Seconds)?;
        Ok(Qualifier::Within { seconds })
    }

    fn repeats(&mut self) -> Result<Qualifier, PatternError> {
        self.bump();
        let times = match self.peek() {
            Tok::Int {
                negative: false,
                value: Some(v),
            } => *v as u64,
            Tok::Int {
                negative: false,
                value: None,
            } => {
                return Err(self.err_at(self.offset(), "REPEATS count is too large"));
            }
            Tok::Int { negative: true, .. } => {
                return Err(self.err_at(self.offset(), "REPEATS needs a non-negative integer"));
            }
            Tok::Float { .. } => {
                return Err(self.err_at(
                    self.offset(),
                    "REPEATS needs an integer, not a decimal number",
                ));
            }
            _ => return Err(self.expected("an integer after `REPEATS`")),
        };
        self.bump();
        self.expect_keyword(Keyword::Times)?;
        Ok(Qualifier::Repeats { times })
    }

    fn start_stop(&mut self) -> Result<Qualifier, PatternError> {
        self.bump();
        let start = self.timestamp_operand("START")?;
        self.expect_keyword(Keyword::Stop)?;
        let stop = self.timestamp_operand("STOP")?;
        Ok(Qualifier::StartStop { start, stop })
    }

    fn timestamp_operand(&mut self, after: &str) -> Result<crate::ast::Timestamp, PatternError> {
        match self.peek().clone() {
            Tok::Timestamp(t) => {
                self.bump();
                Ok(t)
            }
            Tok::Str(_) => Err(self.err_at(
                self.offset(),
                format!("`{after}` needs a timestamp literal `t'…'`, not a plain string"),
            )),
            _ => Err(self.expected(&format!("a timestamp literal `t'…'` after `{after}`"))),
        }
    }

    /// The source text of the current token.
    fn token_text(&self) -> &str {
        let start = self.tokens[self.pos].start;
        let end = self
            .tokens
            .get(self.pos + 1)
            .map_or(self.input.len(), |t| t.start);
        self.input[start..end].trim_end()
    }

    fn cmp_or(&mut self) -> Result<ComparisonExpr, PatternError> {
        let first = self.cmp_and()?;
        if !self.at_keyword(Keyword::Or) {
            return Ok(first);
        }
        let mut members = Vec::new();
        flatten(&mut members, first, |e| match e {
            ComparisonExpr::Or(ms) => Ok(ms),
            other => Err(other),
        });
        while self.at_keyword(Keyword::Or) {
            self.bump();
            let next = self.cmp_and()?;
            flatten(&mut members, next, |e| match e {
                ComparisonExpr::Or(ms) => Ok(ms),
                other => Err(other),
            });
        }
        Ok(ComparisonExpr::Or(members))
    }

    fn cmp_and(&mut self) -> Result<ComparisonExpr, PatternError> {
        let first = self.cmp_primary()?;
        if !self.at_keyword(Keyword::And) {
            return Ok(first);
        }
        let mut members = Vec::new();
        flatten(&mut members, first, |e| match e {
            ComparisonExpr::And(ms) => Ok(ms),
            other => Err(other),
        });
        while self.at_keyword(Keyword::And) {
            self.bump();
            let next = self.cmp_primary()?;
            flatten(&mut members, next, |e| match e {
                ComparisonExpr::And(ms) => Ok(ms),
                other => Err(other),
            });
        }
        Ok(ComparisonExpr::And(members))
    }

    fn cmp_primary(&mut self) -> Result<ComparisonExpr, PatternError> {
        match self.peek() {
            Tok::LParen => {
                let open = self.bump().start;
                self.enter()?;
                let inner = self.cmp_or()?;
                if *self.peek() != Tok::RParen {
                    return Err(self.err_at(
                        self.offset(),
                        format!(
                            "expected `AND`, `OR` or `)` to close the `(` at byte {open}, found {}",
                            self.found()
                        ),
                    ));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Keyword(Keyword::Exists) => self.exists(false),
            Tok::Keyword(Keyword::Not)
                if self.tokens[self.pos + 1].tok == Tok::Keyword(Keyword::Exists) =>
            {
                self.bump();
                self.exists(true)
            }
            Tok::Keyword(Keyword::Not) => Err(self.err_at(
                self.offset(),
                "`NOT` goes after the object path, before the operator, as in `file:name NOT = 'x'` (only `NOT EXISTS` comes first)",
            )),
            Tok::Ident { .. } => self.comparison().map(ComparisonExpr::Comparison),
            Tok::LBrack => Err(self.err_at(
                self.offset(),
                "`[` inside an observation expression; observation expressions do not nest, use `(` to group comparisons",
            )),
            _ => Err(self.expected("an object path such as `file:name`, `EXISTS` or `(`")),
        }
    }

    /// `EXISTS path`, the current token being `EXISTS`.
    fn exists(&mut self, negated: bool) -> Result<ComparisonExpr, PatternError> {
        self.bump();
        let path = self.object_path()?;
        Ok(ComparisonExpr::Comparison(Comparison {
            path,
            negated,
            test: Test::Exists,
        }))
    }

    fn comparison(&mut self) -> Result<Comparison, PatternError> {
        let path = self.object_path()?;
        let negated = self.at_keyword(Keyword::Not);
        if negated {
            self.bump();
        }
        let op_offset = self.offset();
        self.literal_offsets.clear();
        let test = match self.peek().clone() {
            Tok::Eq => {
                self.bump();
                Test::Equal(self.literal(true)?)
            }
            Tok::Neq => {
                self.bump();
                Test::NotEqual(self.literal(true)?)
            }
            Tok::Lt => {
                self.bump();
                Test::Less(self.literal(false)?)
            }
            Tok::Le => {
                self.bump();
                Test::LessOrEqual(self.literal(false)?)
            }
            Tok::Gt => {
                self.bump();
                Test::Greater(self.literal(false)?)
            }
            Tok::Ge => {
                self.bump();
                Test::GreaterOrEqual(self.literal(false)?)
            }
            Tok::Keyword(Keyword::In) => {
                self.bump();
                Test::In(self.set()?)
            }
            Tok::Keyword(Keyword::Like) => {
                self.bump();
                Test::Like(self.string_operand("LIKE")?)
            }
            Tok::Keyword(Keyword::Matches) => {
                self.bump();
                Test::Matches(self.string_operand("MATCHES")?)
            }
            Tok::Keyword(Keyword::IsSubset) => {
                self.bump();
                Test::IsSubset(self.string_operand("ISSUBSET")?)
            }
            Tok::Keyword(Keyword::IsSuperset) => {
                self.bump();
                Test::IsSuperset(self.string_operand("ISSUPERSET")?)
            }
            Tok::Keyword(Keyword::Exists) => {
                return Err(self.err_at(
                    op_offset,
                    "`EXISTS` goes before the object path, as in `EXISTS file:name`",
                ));
            }
            Tok::Keyword(Keyword::Not) => {
                return Err(self.err_at(op_offset, "`NOT` written twice"));
            }
            _ => {
                return Err(self.expected(
                    "a comparison operator (`=`, `!=`, `<`, `<=`, `>`, `>=`, `IN`, `LIKE`, `MATCHES`, `ISSUBSET`, `ISSUPERSET`)",
                ));
            }
        };
        let comparison = Comparison {
            path,
            negated,
            test,
        };
        check::hash_value(&comparison).map_err(|(i, msg)| {
            let at = self.literal_offsets.get(i).copied().unwrap_or(op_offset);
            self.err_at(at, msg)
        })?;
        Ok(comparison)
    }

    fn string_operand(&mut self, op: &str) -> Result<String, PatternError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.err_at(
                self.offset(),
                format!("`{op}` needs a string literal, found {}", self.found()),
            )),
        }
    }

    fn set(&mut self) -> Result<Vec<Literal>, PatternError> {
        if *self.peek() != Tok::LParen {
            return Err(self.expected("`(` to start the set after `IN`"));
        }
        self.bump();
        let mut items = Vec::new();
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.literal(true)?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(items);
                }
                _ => return Err(self.expected("`,` or `)` in the set")),
            }
        }
    }

    /// A constant; booleans only where `allow_bool` (equality and sets, not ordering).
    fn literal(&mut self, allow_bool: bool) -> Result<Literal, PatternError> {
        let offset = self.offset();
        self.literal_offsets.push(offset);
        let lit = match self.peek().clone() {
            Tok::Int { value: Some(v), .. } => Literal::Int(v),
            Tok::Int { value: None, .. } => {
                return Err(
                    self.err_at(offset, "integer literal is out of the 64-bit signed range")
                );
            }
            Tok::Float { value, .. } => Literal::Float(value),
            Tok::Str(s) => Literal::String(s),
            Tok::Bool(b) if allow_bool => Literal::Bool(b),
            Tok::Bool(_) => {
                return Err(self.err_at(
                    offset,
                    "booleans cannot be ordered; use `=` or `!=` with `true` or `false`",
                ));
            }
            Tok::Binary(b) => Literal::Binary(b),
            Tok::Hex(h) => Literal::Hex(h),
            Tok::Timestamp(t) => Literal::Timestamp(t),
            Tok::Ident { name, .. }
                if name == "TRUE" || name == "FALSE" || name == "True" || name == "False" =>
            {
                return Err(self.err_at(
                    offset,
                    format!("`{name}` is not a literal; booleans are written `true` and `false`"),
                ));
            }
            Tok::Ident { name, .. }
                if crate::lexer::keyword(&name.to_ascii_uppercase()).is_none() =>
            {
                return Err(self.err_at(
                    offset,
                    format!("expected a literal value, found identifier `{name}`; strings are quoted, as in `'{name}'`"),
                ));
            }
            _ => return Err(self.expected("a literal value")),
        };
        self.bump();
        Ok(lit)
    }

    fn object_path(&mut self) -> Result<ObjectPath, PatternError> {
        let type_offset = self.offset();
        let object_type = match self.peek().clone() {
            Tok::Ident { name, .. } => name,
            _ => return Err(self.expected("an object type such as `file`")),
        };
        check::object_type(&object_type).map_err(|msg| self.err_at(type_offset, msg))?;
        self.bump();
        if *self.peek() != Tok::Colon {
            return Err(self.expected(&format!("`:` after the object type `{object_type}`")));
        }
        self.bump();
        let mut steps = vec![PathStep::Key(
            self.property_name("a property name after `:`")?,
        )];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    steps.push(PathStep::Key(
                        self.property_name("a property name after `.`")?,
                    ));
                }
                Tok::LBrack => {
                    self.bump();
                    let step = match self.peek() {
                        Tok::Star => PathStep::AnyIndex,
                        Tok::Int { value: Some(v), .. } => PathStep::Index(*v),
                        Tok::Int { value: None, .. } => {
                            return Err(self.err_at(self.offset(), "list index is too large"));
                        }
                        _ => return Err(self.expected("a list index (an integer or `*`)")),
                    };
                    self.bump();
                    self.expect(Tok::RBrack, "`]` to close the list index")?;
                    steps.push(step);
                }
                Tok::Float { .. } if self.token_text().starts_with('.') => {
                    return Err(self.err_at(
                        self.offset(),
                        "a property name cannot start with a digit; quote it, as in `.'1st'`",
                    ));
                }
                _ => return Ok(ObjectPath { object_type, steps }),
            }
        }
    }

    fn property_name(&mut self, what: &str) -> Result<String, PatternError> {
        match self.peek().clone() {
            Tok::Ident {
                name,
                hyphen: false,
            } => {
                self.bump();
                Ok(name)
            }
            Tok::Ident { name, hyphen: true } => Err(self.err_at(
                self.offset(),
                format!("property name `{name}` contains `-`; quote it, as in `'{name}'`"),
            )),
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            Tok::Keyword(k) => Err(self.err_at(
                self.offset(),
                format!(
                    "`{}` is a keyword; quote it to use it as a property name",
                    k.as_str()
                ),
            )),
            Tok::Bool(b) => Err(self.err_at(
                self.offset(),
                format!("`{b}` is a literal; quote it to use it as a property name"),
            )),
            _ => Err(self.expected(what)),
        }
    }
}

/// Appends `e` to `members`, or its own members when it is the same n-ary operator.
fn flatten<T>(members: &mut Vec<T>, e: T, same: impl Fn(T) -> Result<Vec<T>, T>) {
    match same(e) {
        Ok(inner) => members.extend(inner),
        Err(e) => members.push(e),
    }
}
