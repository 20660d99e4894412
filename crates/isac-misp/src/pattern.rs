//! Reading the simple STIX patterns MISP can express: one observation of `path = value`
//! comparisons joined all by AND or all by OR. Anything else is not a MISP attribute.

use crate::mapping::{Cmp, Lit};

/// How the comparisons of a simple pattern are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    And,
    Or,
}

/// Parses a simple pattern; `None` for any pattern outside that subset.
pub fn parse_simple(pattern: &str) -> Option<(Vec<Cmp>, Join)> {
    let mut p = Parser {
        s: pattern.as_bytes(),
        i: 0,
    };
    p.ws();
    p.eat(b'[')?;
    let mut cmps = vec![p.comparison()?];
    let mut join = None;
    loop {
        p.ws();
        if p.eat(b']').is_some() {
            break;
        }
        let j = if p.keyword("AND") {
            Join::And
        } else if p.keyword("OR") {
            Join::Or
        } else {
            return None;
        };
        if join.is_some_and(|k| k != j) {
            return None;
        }
        join = Some(j);
        cmps.push(p.comparison()?);
    }
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    Some((cmps, join.unwrap_or(Join::And)))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn keyword(&mut self, k: &str) -> bool {
        let end = self.i + k.len();
        let next_ok = self
            .s
            .get(end)
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'));
        if self.s.get(self.i..end) == Some(k.as_bytes()) && next_ok {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn quoted(&mut self) -> Option<String> {
        self.eat(b'\'')?;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    out.push(e);
                }
                b'\'' => break,
                other => out.push(other),
            }
        }
        String::from_utf8(out).ok()
    }

    fn comparison(&mut self) -> Option<Cmp> {
        self.ws();
        // Object type: up to the colon.
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b':' {
            let b = self.s[self.i];
            if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return None;
            }
            self.i += 1;
        }
        let ty = std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .to_string();
        self.eat(b':')?;
        let mut comps = Vec::new();
        loop {
            let mut comp = if self.s.get(self.i) == Some(&b'\'') {
                self.quoted()?
            } else {
                let st = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[st..self.i]).ok()?.to_string()
            };
            if comp.is_empty() {
                return None;
            }
            if self.s.get(self.i) == Some(&b'[') {
                let st = self.i;
                while self.s.get(self.i) != Some(&b']') {
                    if self.i >= self.s.len() {
                        return None;
                    }
                    self.i += 1;
                }
                self.i += 1;
                comp.push_str(std::str::from_utf8(&self.s[st..self.i]).ok()?);
            }
            comps.push(comp);
            if self.eat(b'.').is_none() {
                break;
            }
        }
        self.ws();
        self.eat(b'=')?;
        self.ws();
        let value = if self.s.get(self.i) == Some(&b'\'') {
            Lit::Str(self.quoted()?)
        } else {
            let st = self.i;
            if self.s.get(self.i) == Some(&b'-') {
                self.i += 1;
            }
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            Lit::Int(
                std::str::from_utf8(&self.s[st..self.i])
                    .ok()?
                    .parse()
                    .ok()?,
            )
        };
        Some(Cmp {
            path: format!("{ty}:{}", comps.join(".")),
            value,
        })
    }
}
