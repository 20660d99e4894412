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

#[derive(Debug, Clone, Default)]
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

    /// The statement as built.
    #[cfg(test)]
    pub fn sql(&self) -> &str {
        &self.text
    }

    /// Its binds, in placeholder order.
    #[cfg(test)]
    pub fn binds(&self) -> &[Val] {
        &self.binds
    }

    fn placeholder(&mut self) -> &mut Sql {
        use std::fmt::Write;
        let _ = write!(self.text, "${}", self.binds.len());
        self
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        #[cfg(test)]
        recorder::record(self);
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

/// Test builds only: the statements built on this thread while recording, for checking their
/// plans (`tests::plans`). Per thread, so that only the recording test's statements are kept.
#[cfg(test)]
pub(crate) mod recorder {
    use std::cell::RefCell;

    use super::Sql;

    thread_local! {
        static RECORDED: RefCell<Option<Vec<Sql>>> = const { RefCell::new(None) };
    }

    pub(super) fn record(s: &Sql) {
        RECORDED.with(|r| {
            if let Some(v) = r.borrow_mut().as_mut() {
                v.push(s.clone());
            }
        });
    }

    /// Starts recording on this thread.
    pub(crate) fn start() {
        RECORDED.with(|r| *r.borrow_mut() = Some(Vec::new()));
    }

    /// Stops recording and returns what was recorded, as statements with their binds.
    pub(crate) fn take() -> Vec<Sql> {
        RECORDED.with(|r| r.borrow_mut().take()).unwrap_or_default()
    }
}
