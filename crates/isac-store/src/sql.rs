//! A small builder for dynamic SQL with `$n` placeholders, which both backends accept. sqlx's own
//! `QueryBuilder` writes `?` for the Any driver, which PostgreSQL rejects.
//!
//! A built statement is run with [`Sql::fetch_all`] (and its one-row forms), which answer
//! [`Row`]s whichever backend ran it: on SQLite the store's own reader connections
//! (`crate::files`), on PostgreSQL sqlx's pool.

use sqlx::any::{AnyArguments, AnyTypeInfoKind};
use sqlx::query::Query;
use sqlx::{Any, Row as _, ValueRef as _};

use crate::{Result, Store, StoreError};

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

    /// Every row the statement answers, read through the store's readers.
    pub async fn fetch_all(&self, store: &Store) -> Result<Vec<Row>> {
        Ok(Sql::fetch_each(store, &[self])
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// The rows of each of `statements`, read together: on SQLite on one reader, in one read
    /// transaction, with one hand-off for all of them; on PostgreSQL one after the other.
    pub async fn fetch_each(store: &Store, statements: &[&Sql]) -> Result<Vec<Vec<Row>>> {
        #[cfg(test)]
        for s in statements {
            recorder::record(s);
        }
        match &store.files {
            Some(files) => {
                files
                    .fetch(
                        statements
                            .iter()
                            .map(|s| (s.text.clone(), s.binds.clone()))
                            .collect(),
                    )
                    .await
            }
            None => {
                let mut out = Vec::with_capacity(statements.len());
                for s in statements {
                    let rows = s.query_unrecorded().fetch_all(&store.read).await?;
                    out.push(rows.iter().map(Row::from_any).collect::<Result<_>>()?);
                }
                Ok(out)
            }
        }
    }

    /// The one row the statement answers; none is an error.
    pub async fn fetch_one(&self, store: &Store) -> Result<Row> {
        self.fetch_optional(store)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// The first row the statement answers, if any.
    pub async fn fetch_optional(&self, store: &Store) -> Result<Option<Row>> {
        Ok(self.fetch_all(store).await?.into_iter().next())
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        #[cfg(test)]
        recorder::record(self);
        self.query_unrecorded()
    }

    fn query_unrecorded(&self) -> Query<'_, Any, AnyArguments<'_>> {
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

/// One value of a [`Row`].
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Cell {
    #[default]
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Int(_) => "an integer",
            Cell::Real(_) => "a real number",
            Cell::Text(_) => "text",
            Cell::Blob(_) => "a blob",
        }
    }
}

/// Column `i` of a row of `len`, as a `T`.
fn convert<T: FromCell>(i: usize, c: Option<Cell>, len: usize) -> Result<T> {
    let c =
        c.ok_or_else(|| StoreError::Unavailable(format!("column {i} of a row of {len} read")))?;
    let kind = c.kind();
    T::from_cell(c).ok_or_else(|| {
        StoreError::Unavailable(format!("column {i} read as {} holds {kind}", T::WHAT))
    })
}

/// A row as read by [`Sql::fetch_all`], the same from either backend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

/// What a [`Cell`] can be read as.
pub(crate) trait FromCell: Sized {
    const WHAT: &'static str;
    fn from_cell(c: Cell) -> Option<Self>;
}

impl FromCell for i64 {
    const WHAT: &'static str = "an integer";
    fn from_cell(c: Cell) -> Option<i64> {
        match c {
            Cell::Int(i) => Some(i),
            _ => None,
        }
    }
}

impl FromCell for String {
    const WHAT: &'static str = "text";
    fn from_cell(c: Cell) -> Option<String> {
        match c {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl FromCell for Vec<u8> {
    const WHAT: &'static str = "a blob";
    fn from_cell(c: Cell) -> Option<Vec<u8>> {
        match c {
            Cell::Blob(b) => Some(b),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn from_cell(c: Cell) -> Option<Option<T>> {
        match c {
            Cell::Null => Some(None),
            c => T::from_cell(c).map(Some),
        }
    }
}

impl Row {
    /// Column `i` as a `T` (`i64`, `String`, `Vec<u8>`, or an `Option` of one for a nullable
    /// column). A column of another type, or out of range, is an error, as with sqlx.
    pub fn try_get<T: FromCell>(&self, i: usize) -> Result<T> {
        convert(i, self.0.get(i).cloned(), self.0.len())
    }

    /// [`Row::try_get`] that moves the value out instead of copying it (the column reads as
    /// null afterwards): for mappers that read each column once.
    pub fn take<T: FromCell>(&mut self, i: usize) -> Result<T> {
        let len = self.0.len();
        convert(i, self.0.get_mut(i).map(std::mem::take), len)
    }

    /// The first `at` columns, and the rest: a row of a join, split into its tables' parts.
    pub fn split(mut self, at: usize) -> (Row, Row) {
        let rest = self.0.split_off(at.min(self.0.len()));
        (self, Row(rest))
    }

    /// A row sqlx read (PostgreSQL, and statements on the SQLite writer connection).
    pub fn from_any(r: &<Any as sqlx::Database>::Row) -> Result<Row> {
        let mut cells = Vec::with_capacity(r.len());
        for i in 0..r.len() {
            let v = r.try_get_raw(i)?;
            let cell = if v.is_null() {
                Cell::Null
            } else {
                match v.type_info().kind() {
                    AnyTypeInfoKind::Bool => Cell::Int(i64::from(r.try_get::<bool, _>(i)?)),
                    AnyTypeInfoKind::SmallInt => Cell::Int(i64::from(r.try_get::<i16, _>(i)?)),
                    AnyTypeInfoKind::Integer => Cell::Int(i64::from(r.try_get::<i32, _>(i)?)),
                    AnyTypeInfoKind::BigInt => Cell::Int(r.try_get(i)?),
                    AnyTypeInfoKind::Real => Cell::Real(f64::from(r.try_get::<f32, _>(i)?)),
                    AnyTypeInfoKind::Double => Cell::Real(r.try_get(i)?),
                    AnyTypeInfoKind::Text => Cell::Text(r.try_get(i)?),
                    AnyTypeInfoKind::Blob => Cell::Blob(r.try_get(i)?),
                    AnyTypeInfoKind::Null => Cell::Null,
                }
            };
            cells.push(cell);
        }
        Ok(Row(cells))
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
