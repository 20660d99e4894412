//! A small builder for dynamic SQL with `$n` placeholders, which both backends accept. sqlx's own
//! `QueryBuilder` writes `?` for the Any driver, which PostgreSQL rejects.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

#[derive(Debug, Clone)]
pub(crate) enum Val {
    Text(String),
    Int(i64),
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    binds: Vec<Val>,
}

impl Sql {
    pub fn new(s: &str) -> Sql {
        Sql {
            text: s.to_owned(),
            binds: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    pub fn text(&mut self, v: impl Into<String>) -> &mut Sql {
        self.binds.push(Val::Text(v.into()));
        self.placeholder()
    }

    pub fn int(&mut self, v: i64) -> &mut Sql {
        self.binds.push(Val::Int(v));
        self.placeholder()
    }

    /// Comma-separated text values, as the inside of an `IN (…)` list.
    pub fn texts<S: Into<String>>(&mut self, values: impl IntoIterator<Item = S>) -> &mut Sql {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(v);
        }
        self
    }

    /// Comma-separated integers, as the inside of an `IN (…)` list.
    pub fn ints(&mut self, values: impl IntoIterator<Item = i64>) -> &mut Sql {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.int(v);
        }
        self
    }

    fn placeholder(&mut self) -> &mut Sql {
        use std::fmt::Write;
        let _ = write!(self.text, "${}", self.binds.len());
        self
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                Val::Text(s) => q.bind(s.clone()),
                Val::Int(i) => q.bind(*i),
            };
        }
        q
    }
}
