//! Splits a pattern into tokens, with the lexical rules of the reference grammar.
//!
//! Keywords are upper case and `true`/`false` lower case, exactly; an identifier that merely
//! starts like a keyword (`ANDROID`) stays an identifier. Where the reference lexer would fall
//! back to a shorter token that no rule of the grammar can use (a lone quote after a bad
//! escape, a `t` before a malformed timestamp), this lexer reports the malformed literal at
//! once, with a message that says what is wrong with it.

use crate::ast::Timestamp;
use crate::error::PatternError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    Last,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
}

impl Keyword {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
            Keyword::FollowedBy => "FOLLOWEDBY",
            Keyword::Like => "LIKE",
            Keyword::Matches => "MATCHES",
            Keyword::IsSuperset => "ISSUPERSET",
            Keyword::IsSubset => "ISSUBSET",
            Keyword::Exists => "EXISTS",
            Keyword::Last => "LAST",
            Keyword::In => "IN",
            Keyword::Start => "START",
            Keyword::Stop => "STOP",
            Keyword::Seconds => "SECONDS",
            Keyword::Within => "WITHIN",
            Keyword::Repeats => "REPEATS",
            Keyword::Times => "TIMES",
        }
    }
}

/// The keyword (or boolean) spelled exactly `word`, if any; such words cannot be bare
/// identifiers.
pub(crate) fn keyword(word: &str) -> Option<Tok> {
    let k = match word {
        "AND" => Keyword::And,
        "OR" => Keyword::Or,
        "NOT" => Keyword::Not,
        "FOLLOWEDBY" => Keyword::FollowedBy,
        "LIKE" => Keyword::Like,
        "MATCHES" => Keyword::Matches,
        "ISSUPERSET" => Keyword::IsSuperset,
        "ISSUBSET" => Keyword::IsSubset,
        "EXISTS" => Keyword::Exists,
        "LAST" => Keyword::Last,
        "IN" => Keyword::In,
        "START" => Keyword::Start,
        "STOP" => Keyword::Stop,
        "SECONDS" => Keyword::Seconds,
        "WITHIN" => Keyword::Within,
        "REPEATS" => Keyword::Repeats,
        "TIMES" => Keyword::Times,
        "true" => return Some(Tok::Bool(true)),
        "false" => return Some(Tok::Bool(false)),
        _ => return None,
    };
    Some(Tok::Keyword(k))
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier; `hyphen` when it contains `-` (allowed in object types only).
    Ident {
        name: String,
        hyphen: bool,
    },
    Keyword(Keyword),
    /// An integer with its sign as written (`+` or none is positive).
    Int {
        value: Option<i64>,
        negative: bool,
    },
    Float {
        value: f64,
        negative: bool,
    },
    Str(String),
    Bool(bool),
    Binary(Vec<u8>),
    Hex(Vec<u8>),
    Timestamp(Timestamp),
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Colon,
    Dot,
    Comma,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Star,
    Eof,
}

impl Tok {
    /// How the token is named in "expected …, found …" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident { name, .. } => format!("identifier `{name}`"),
            Tok::Keyword(k) => format!("keyword `{}`", k.as_str()),
            Tok::Int { .. } => "an integer".into(),
            Tok::Float { .. } => "a decimal number".into(),
            Tok::Str(_) => "a string literal".into(),
            Tok::Bool(b) => format!("`{b}`"),
            Tok::Binary(_) => "a binary literal".into(),
            Tok::Hex(_) => "a hex literal".into(),
            Tok::Timestamp(_) => "a timestamp literal".into(),
            Tok::Eq => "`=`".into(),
            Tok::Neq => "`!=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Comma => "`,`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBrack => "`[`".into(),
            Tok::RBrack => "`]`".into(),
            Tok::Star => "`*`".into(),
            Tok::Eof => "the end of the pattern".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset of the first character.
    pub start: usize,
}

/// Whitespace as the reference grammar skips it, Unicode spaces included.
fn is_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\r'
            | '\n'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{0085}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, PatternError> {
    let mut lx = Lexer {
        input,
        bytes: input.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        lx.skip_trivia()?;
        let start = lx.pos;
        let Some(c) = lx.peek_char() else {
            tokens.push(Token {
                tok: Tok::Eof,
                start,
            });
            return Ok(tokens);
        };
        let tok = lx.token(c)?;
        tokens.push(Token { tok, start });
    }
}

impl Lexer<'_> {
    fn err(&self, offset: usize, message: impl Into<String>) -> PatternError {
        PatternError::at(self.input, offset, message)
    }

    fn peek_char(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn skip_trivia(&mut self) -> Result<(), PatternError> {
        loop {
            match self.peek_char() {
                Some(c) if is_space(c) => self.pos += c.len_utf8(),
                Some('/') if self.byte(self.pos + 1) == Some(b'*') => {
                    let start = self.pos;
                    match self.input[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => return Err(self.err(start, "unterminated comment `/* …`")),
                    }
                }
                Some('/') if self.byte(self.pos + 1) == Some(b'/') => {
                    let rest = &self.input[self.pos..];
                    self.pos += rest.find(['\r', '\n']).unwrap_or(rest.len());
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self, c: char) -> Result<Tok, PatternError> {
        let start = self.pos;
        let next = self.byte(start + 1);
        let simple = |tok: Tok, len: usize, lx: &mut Self| {
            lx.pos += len;
            Ok(tok)
        };
        match c {
            '[' => simple(Tok::LBrack, 1, self),
            ']' => simple(Tok::RBrack, 1, self),
            '(' => simple(Tok::LParen, 1, self),
            ')' => simple(Tok::RParen, 1, self),
            ':' => simple(Tok::Colon, 1, self),
            ',' => simple(Tok::Comma, 1, self),
            '*' => simple(Tok::Star, 1, self),
            '=' if next == Some(b'=') => simple(Tok::Eq, 2, self),
            '=' => simple(Tok::Eq, 1, self),
            '!' if next == Some(b'=') => simple(Tok::Neq, 2, self),
            '<' if next == Some(b'>') => simple(Tok::Neq, 2, self),
            '<' if next == Some(b'=') => simple(Tok::Le, 2, self),
            '<' => simple(Tok::Lt, 1, self),
            '>' if next == Some(b'=') => simple(Tok::Ge, 2, self),
            '>' => simple(Tok::Gt, 1, self),
            '.' if next.is_some_and(|b| b.is_ascii_digit()) => self.number(),
            '.' => simple(Tok::Dot, 1, self),
            '0'..='9' | '+' | '-' => self.number(),
            '\'' => self.string().map(Tok::Str),
            'h' | 'b' | 't' if next == Some(b'\'') => match c {
                'h' => self.hex(),
                'b' => self.binary(),
                _ => self.timestamp(),
            },
            c if c.is_ascii_alphabetic() || c == '_' => Ok(self.word()),
            '!' => Err(self.err(start, "unexpected `!`; the not-equal operator is `!=`")),
            '"' => Err(self.err(
                start,
                "unexpected `\"`; string literals are quoted with single quotes",
            )),
            c => Err(self.err(
                start,
                format!("unexpected character `{}`", c.escape_debug()),
            )),
        }
    }

    fn word(&mut self) -> Tok {
        let start = self.pos;
        let mut hyphen = false;
        while let Some(b) = self.byte(self.pos) {
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.pos += 1;
            } else if b == b'-' {
                hyphen = true;
                self.pos += 1;
            } else {
                break;
            }
        }
        let name = &self.input[start..self.pos];
        keyword(name).unwrap_or_else(|| Tok::Ident {
            name: name.to_owned(),
            hyphen,
        })
    }

    /// An integer `[+-]?(0|[1-9][0-9]*)` or a decimal `[+-]?[0-9]*\.[0-9]+`.
    fn number(&mut self) -> Result<Tok, PatternError> {
        let start = self.pos;
        let mut p = start;
        let negative = self.byte(p) == Some(b'-');
        if matches!(self.byte(p), Some(b'+' | b'-')) {
            p += 1;
        }
        let int_start = p;
        while self.byte(p).is_some_and(|b| b.is_ascii_digit()) {
            p += 1;
        }
        let int_digits = &self.input[int_start..p];
        let is_float =
            self.byte(p) == Some(b'.') && self.byte(p + 1).is_some_and(|b| b.is_ascii_digit());
        if is_float {
            p += 1;
            while self.byte(p).is_some_and(|b| b.is_ascii_digit()) {
                p += 1;
            }
            let text = &self.input[start..p];
            self.pos = p;
            let value: f64 = text
                .parse()
                .map_err(|_| self.err(start, format!("invalid number `{text}`")))?;
            return Ok(Tok::Float { value, negative });
        }
        if int_digits.is_empty() {
            let sign = &self.input[start..start + 1];
            return Err(self.err(
                start,
                format!("unexpected `{sign}`; a sign must be followed by digits"),
            ));
        }
        if int_digits.len() > 1 && int_digits.starts_with('0') {
            return Err(self.err(
                int_start,
                format!("integer `{int_digits}` has a leading zero"),
            ));
        }
        self.pos = p;
        let value = self.input[start..p]
            .trim_start_matches('+')
            .parse::<i64>()
            .ok();
        Ok(Tok::Int { value, negative })
    }

    /// A string literal; the only escapes are `\'` and `\\`.
    fn string(&mut self) -> Result<String, PatternError> {
        let start = self.pos;
        let mut out = String::new();
        let mut p = start + 1;
        loop {
            let Some(c) = self.input[p..].chars().next() else {
                return Err(self.err(start, "unterminated string literal"));
            };
            match c {
                '\'' => {
                    self.pos = p + 1;
                    return Ok(out);
                }
                '\\' => match self.byte(p + 1) {
                    Some(b'\'') => {
                        out.push('\'');
                        p += 2;
                    }
                    Some(b'\\') => {
                        out.push('\\');
                        p += 2;
                    }
                    _ => {
                        return Err(self.err(
                            p,
                            "invalid escape in string literal; only `\\'` and `\\\\` are allowed",
                        ));
                    }
                },
                c => {
                    out.push(c);
                    p += c.len_utf8();
                }
            }
        }
    }

    /// The content between the quotes of a prefixed literal `x'…'`, with the offset of its
    /// first character, or an error naming `what` when the closing quote is missing.
    fn quoted_body(&mut self, what: &str) -> Result<(usize, &str), PatternError> {
        let start = self.pos;
        let body_start = start + 2;
        match self.input[body_start..].find('\'') {
            Some(len) => {
                self.pos = body_start + len + 1;
                Ok((body_start, &self.input[body_start..body_start + len]))
            }
            None => Err(self.err(start, format!("unterminated {what} literal"))),
        }
    }

    fn hex(&mut self) -> Result<Tok, PatternError> {
        let start = self.pos;
        let (body_start, body) = self.quoted_body("hex")?;
        if let Some(i) = body.find(|c: char| !c.is_ascii_hexdigit()) {
            return Err(self.err(
                body_start + i,
                "invalid character in hex literal; only 0-9, a-f and A-F are allowed",
            ));
        }
        if body.len() % 2 != 0 {
            return Err(self.err(start, "hex literal has an odd number of digits"));
        }
        let bytes = (0..body.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&body[i..i + 2], 16).unwrap_or(0))
            .collect();
        Ok(Tok::Hex(bytes))
    }

    fn binary(&mut self) -> Result<Tok, PatternError> {
        let start = self.pos;
        let (body_start, body) = self.quoted_body("binary")?;
        let data = body.trim_end_matches('=');
        let padding = body.len() - data.len();
        if let Some(i) = data.bytes().position(|b| !is_base64(b)) {
            return Err(self.err(
                body_start + i,
                "invalid character in binary literal; it must be base64",
            ));
        }
        if body.is_empty() {
            return Err(self.err(start, "empty binary literal; it must hold base64 data"));
        }
        if body.len() % 4 != 0 || padding > 2 || (padding > 0 && data.len() % 4 < 2) {
            return Err(self.err(
                start,
                "binary literal is not valid base64 (wrong length or padding)",
            ));
        }
        let mut bytes = Vec::with_capacity(data.len() * 3 / 4);
        let mut acc = 0u32;
        let mut bits = 0;
        for b in data.bytes() {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                _ => 63,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                bytes.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Ok(Tok::Binary(bytes))
    }

    fn timestamp(&mut self) -> Result<Tok, PatternError> {
        let (body_start, body) = self.quoted_body("timestamp")?;
        parse_timestamp(body)
            .map(Tok::Timestamp)
            .map_err(|(i, msg)| self.err(body_start + i, msg))
    }
}

/// Checks `YYYY-MM-DDTHH:MM:SS[.s+]Z` (RFC 3339 in UTC, as the STIX 2.1 timestamp type of §2.16
/// and the timestamp constant of §9.2 require) and that the day exists in its month. On error,
/// gives the offset within `s` and a message.
fn parse_timestamp(s: &str) -> Result<Timestamp, (usize, String)> {
    const SHAPE: &str = "timestamp must be YYYY-MM-DDTHH:MM:SS[.fraction]Z in UTC";
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Result<u32, (usize, String)> {
        let part = b
            .get(from..from + n)
            .ok_or((from.min(b.len()), SHAPE.into()))?;
        if let Some(i) = part.iter().position(|c| !c.is_ascii_digit()) {
            return Err((from + i, SHAPE.into()));
        }
        Ok(part.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
    };
    let sep = |at: usize, want: u8| -> Result<(), (usize, String)> {
        if b.get(at) == Some(&want) {
            Ok(())
        } else {
            Err((at.min(b.len()), SHAPE.into()))
        }
    };
    let year = digits(0, 4)?;
    sep(4, b'-')?;
    let month = digits(5, 2)?;
    sep(7, b'-')?;
    let day = digits(8, 2)?;
    sep(10, b'T')?;
    let hour = digits(11, 2)?;
    sep(13, b':')?;
    let minute = digits(14, 2)?;
    sep(16, b':')?;
    let second = digits(17, 2)?;
    let mut p = 19;
    let mut fraction = String::new();
    if b.get(p) == Some(&b'.') {
        p += 1;
        let from = p;
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        if p == from {
            return Err((p.min(b.len()), SHAPE.into()));
        }
        fraction = s[from..p].to_owned();
    }
    sep(p, b'Z')?;
    if p + 1 != b.len() {
        return Err((p + 1, SHAPE.into()));
    }
    if !(1..=12).contains(&month) {
        return Err((5, format!("month {month:02} is out of range 01-12")));
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return Err((
            8,
            format!("day {day:02} does not exist in {year:04}-{month:02}"),
        ));
    }
    if hour > 23 {
        return Err((11, format!("hour {hour:02} is out of range 00-23")));
    }
    if minute > 59 {
        return Err((14, format!("minute {minute:02} is out of range 00-59")));
    }
    if second > 60 {
        return Err((
            17,
            format!("second {second:02} is out of range 00-60 (60 is a leap second)"),
        ));
    }
    Ok(Timestamp {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        fraction,
    })
}
