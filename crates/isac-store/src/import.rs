//! Bulk import of STIX bundles and MISP events.
//!
//! One [`Store::import`] call is one atomic unit: every version it stores, the versions it
//! demotes from latest and its single audit record commit in one write transaction, or nothing
//! does. The work is done in bulk — existing ids are looked up with `IN` lists, rows go in with
//! multi-row `INSERT` statements — so an import costs a few statements per thousand objects
//! rather than several per object.
//!
//! Atomicity of a large bundle: a call takes at most [`IMPORT_OBJECTS_MAX`] objects, and a
//! bundle larger than that (or than the caller's memory budget, [`IMPORT_CHUNK`] is the
//! recommended size) is imported as consecutive calls over consecutive chunks of the bundle.
//! Each chunk is then atomic on its own, and the unit of all-or-nothing is the call. To make a
//! whole bundle all-or-nothing, an importer stores its chunks in one [`ImportSession`] held
//! uncommitted over them ([`ImportSession::hold`]) and rolls it back when one is refused, as
//! `isac import` and web uploads do. Because importing a version that is already stored
//! changes nothing, running an interrupted import again completes it.
//!
//! Transactions: [`Store::import`] commits its unit on its own. A bulk importer uses an
//! [`ImportSession`] instead, in which consecutive units share a transaction committed every
//! [`IMPORT_COMMIT_OBJECTS`] objects; each unit stays all-or-nothing, and committing less often
//! spares rewriting the pages of the id indexes, which random STIX ids spread over the whole
//! index, once per unit.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use isac_policy::Access;
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::audit::{AuditEntry, Outcome, append};
use crate::objects::{NewObject, check_new, ends_of, next_date_added};
use crate::{Backend, Result, Store, StoreError, parse_enum};

/// The most objects one [`Store::import`] call takes. The whole unit is held in memory and in
/// one transaction; larger bundles are imported in chunks (see the module documentation).
pub const IMPORT_OBJECTS_MAX: usize = 50_000;

/// The chunk size importers should use for bundles too large to import whole: large enough that
/// the per-transaction cost (one fsync on SQLite) is spread thin, small enough to keep memory
/// bounded.
pub const IMPORT_CHUNK: usize = 5_000;

/// Bind parameters per statement: under SQLite's limit of 32,766 and PostgreSQL's of 65,535.
const BINDS_MAX: usize = 30_000;

/// Ids per lookup statement.
const LOOKUP_IDS: usize = 1_000;

/// Refused versions named in the audit record; the rest are counted.
const AUDIT_REFUSED_NAMED: usize = 20;

/// What happens to a unit when the caller's check refuses one of its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRefusal {
    /// A refusal keeps the whole unit out: nothing is stored, every refusal is reported, and the
    /// attempt is audited as denied. This is what "atomic per bundle" means for a bundle that is
    /// partly not the importer's to change.
    #[default]
    RefuseUnit,
    /// Refused versions are reported and left out; everything else in the unit is stored.
    SkipRefused,
}

/// One version the caller's check refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its position in the unit.
    pub index: usize,
    pub stix_id: String,
    pub modified: String,
    /// Why, as the check said it.
    pub reason: String,
}

/// What one import did, counted per version in the unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Whether the unit was stored. `false` only under [`OnRefusal::RefuseUnit`] with at least
    /// one refusal; the counts then say what the unit would have stored.
    pub applied: bool,
    /// First versions of ids the store did not hold.
    pub created: usize,
    /// Versions later than the latest one held, which became the latest.
    pub updated: usize,
    /// Versions earlier than the latest one held, stored as history (`is_latest = 0`).
    pub historical: usize,
    /// Versions already stored (same id and `modified`), or repeated within the unit.
    pub unchanged: usize,
    pub refused: Vec<Refused>,
    /// The sequence number of the audit record of this call.
    pub audit_seq: i64,
}

impl ImportOutcome {
    /// Versions this call stored.
    pub fn stored(&self) -> usize {
        if self.applied {
            self.created + self.updated + self.historical
        } else {
            0
        }
    }
}

/// Validates a whole unit; the first invalid version fails it, named by position and id.
fn check_unit(batch: &[NewObject]) -> Result<()> {
    if batch.len() > IMPORT_OBJECTS_MAX {
        return Err(StoreError::Invalid(format!(
            "an import unit holds at most {IMPORT_OBJECTS_MAX} objects, not {}; import larger \
             bundles in chunks",
            batch.len()
        )));
    }
    for (i, o) in batch.iter().enumerate() {
        check_new(o).map_err(|e| match e {
            StoreError::Invalid(m) => {
                // The id is shown only when it is printable and short; it is user input.
                let id: String = o.stix_id.chars().take(300).collect();
                if id.chars().any(char::is_control) {
                    StoreError::Invalid(format!("object {i}: {m}"))
                } else {
                    StoreError::Invalid(format!("object {i} ({id}): {m}"))
                }
            }
            other => other,
        })?;
    }
    Ok(())
}

/// A unit the store has checked ([`ImportSession::import`]'s checks, every version) with each
/// version's searchable values normalised as they are stored. [`ImportSession::import_checked`]
/// takes it without checking again. A bulk importer makes it where it builds the unit
/// ([`CheckedUnit::new`]), on its bundle-reader thread: at 1M objects the store's writer and the
/// thread feeding it set the import's pace, and checking and normalising were a twentieth of
/// their work (docs/BENCHMARKS.md, "The writer's feeder checks nothing twice"). The versions
/// cannot be changed once checked.
#[derive(Debug)]
pub struct CheckedUnit {
    objects: Vec<NewObject>,
    /// `values(o)` of each version, in unit order.
    values: Vec<BTreeSet<String>>,
}

impl CheckedUnit {
    /// Checks `objects` as [`ImportSession::import`] would: the first invalid version fails the
    /// whole unit with [`StoreError::Invalid`], named by position and id.
    pub fn new(objects: Vec<NewObject>) -> Result<CheckedUnit> {
        check_unit(&objects)?;
        let values = objects.iter().map(values).collect();
        Ok(CheckedUnit { objects, values })
    }

    pub fn objects(&self) -> &[NewObject] {
        &self.objects
    }

    pub fn into_objects(self) -> Vec<NewObject> {
        self.objects
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// What the foreign keys of `objects` would check, for a store whose writer does not check them
/// (a load, [`crate::Store::open_for_load`]): every owner is an org and every author a user.
/// The unit's other rows refer to versions it inserts itself. A failure is
/// [`StoreError::Invalid`] before anything is written, as the foreign keys' would be.
async fn check_references(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &[NewObject],
) -> Result<()> {
    // (table, what the error calls it, the id a version refers to)
    type Check = (&'static str, &'static str, fn(&NewObject) -> &str);
    let checks: [Check; 2] = [
        ("orgs", "owner", |o| &o.access.owner_org),
        ("users", "author", |o| &o.access.author),
    ];
    for (table, what, of) in checks {
        let ids: Vec<&str> = batch
            .iter()
            .map(of)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in ids.chunks(LOOKUP_IDS) {
            let (n, binds) = padded(chunk);
            let text = format!("SELECT id FROM {table} WHERE {}", in_list(backend, "id", n));
            let mut q = sqlx::query_scalar::<_, String>(&text);
            for id in binds {
                q = q.bind(*id);
            }
            let found: HashSet<String> = q.fetch_all(&mut *conn).await?.into_iter().collect();
            if let Some(missing) = chunk.iter().find(|id| !found.contains(**id)) {
                let i = batch.iter().position(|o| of(o) == *missing).unwrap_or(0);
                let shown: String = missing
                    .chars()
                    .take(100)
                    .filter(|c| !c.is_control())
                    .collect();
                return Err(StoreError::Invalid(format!(
                    "object {i}: its {what} `{shown}` is not in this store"
                )));
            }
        }
    }
    Ok(())
}

/// Where the latest version of an id is while a unit is planned.
#[derive(Debug, Clone, Copy)]
enum Holder {
    /// A stored row.
    Stored(i64),
    /// A row of the plan, by index.
    Planned(usize),
}

#[derive(Debug)]
struct Latest {
    modified: String,
    holder: Holder,
}

/// What the store holds for one id, plus what the unit has planned for it so far.
#[derive(Debug, Default)]
struct IdState {
    /// Every `modified` held or planned.
    versions: HashSet<String>,
    latest: Option<Latest>,
}

/// One version to insert.
#[derive(Debug)]
struct Planned<'a> {
    o: &'a NewObject,
    /// Its searchable values as stored ([`values`]).
    values: &'a BTreeSet<String>,
    is_latest: bool,
}

/// The decisions for a unit, made before anything is written.
#[derive(Debug, Default)]
struct Plan<'a> {
    rows: Vec<Planned<'a>>,
    /// Stored latest versions that stop being the latest.
    demote: Vec<i64>,
    outcome: ImportOutcome,
}

/// Appends placeholder `n` (from 1). The bulk statements here are the one place the query text
/// differs by backend: PostgreSQL needs `$n`, and on SQLite a `$n` is a named parameter whose
/// lookups scan a list of every name in the statement, which makes a statement with thousands
/// of them quadratic. SQLite gets anonymous `?`, bound in order, which is the order written.
fn placeholder(s: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => s.push('?'),
        Backend::Postgres => {
            let _ = write!(s, "${n}");
        }
    }
}

/// `prefix` followed by `rows` groups of `cols` placeholders, then `suffix`.
fn values_sql(backend: Backend, prefix: &str, cols: usize, rows: usize, suffix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + suffix.len() + rows * cols * 8);
    s.push_str(prefix);
    let mut n = 0;
    for r in 0..rows {
        s.push_str(if r == 0 { " (" } else { ", (" });
        for c in 0..cols {
            n += 1;
            if c > 0 {
                s.push_str(", ");
            }
            placeholder(&mut s, backend, n);
        }
        s.push(')');
    }
    s.push_str(suffix);
    s
}

/// `column IN (…)` with `n` placeholders.
fn in_list(backend: Backend, column: &str, n: usize) -> String {
    let mut s = format!("{column} IN (");
    for i in 1..=n {
        if i > 1 {
            s.push_str(", ");
        }
        placeholder(&mut s, backend, i);
    }
    s.push(')');
    s
}

/// Sizes of the import's multi-row statements below their largest. The writer's connection
/// keeps the statements it has prepared, by text (sqlx's cache of 100), and preparing one of
/// thousands of placeholders costs about as much as running it: sized to fit each unit, the
/// statements for a unit's audience, values and ends were new texts every unit and were
/// prepared again and again. Cut into these sizes, the texts come from a set small enough for
/// the cache (docs/BENCHMARKS.md, "Fewer instructions per imported object").
const STATEMENT_ROWS: [usize; 6] = [1024, 256, 64, 16, 4, 1];

/// `rows` cut into statements: as many of `max` rows as fit, then the rest in
/// [`STATEMENT_ROWS`] sizes, largest first (at most three of each).
fn statement_chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= max {
            max
        } else {
            STATEMENT_ROWS
                .into_iter()
                .find(|&n| n <= rest.len() && n <= max)
                .unwrap_or(1)
        };
        let (chunk, after) = rest.split_at(n);
        rest = after;
        Some(chunk)
    })
}

/// The values bound to an `IN` list for `chunk` (at most [`LOOKUP_IDS`] long): the chunk, then
/// its last value again up to the next power of two. Repeating a value in an `IN` list changes
/// no result, and the lists then come in a few lengths, each prepared once (see
/// [`STATEMENT_ROWS`]). Give the returned length to [`in_list`].
fn padded<T>(chunk: &[T]) -> (usize, impl Iterator<Item = &T>) {
    let n = chunk
        .len()
        .next_power_of_two()
        .min(LOOKUP_IDS)
        .max(chunk.len());
    let fill = chunk.last().into_iter().cycle().take(n - chunk.len());
    (n, chunk.iter().chain(fill))
}

/// The rows of a version's audience: (kind, id).
fn recipients(a: &Access) -> impl Iterator<Item = (&'static str, &str)> {
    a.recipient_orgs
        .iter()
        .map(|id| ("org", id.as_str()))
        .chain(a.recipient_groups.iter().map(|id| ("group", id.as_str())))
        .chain(a.named_users.iter().map(|id| ("user", id.as_str())))
}

/// A version's searchable values as stored: trimmed, lower-cased, without blanks or repeats.
fn values(o: &NewObject) -> BTreeSet<String> {
    o.values
        .iter()
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Reads what the store holds for the ids of `batch`: every stored `modified`, and which version
/// is the latest with its access.
async fn lookup(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &[NewObject],
) -> Result<(HashMap<String, IdState>, HashMap<i64, Access>)> {
    let ids: Vec<&str> = batch
        .iter()
        .map(|o| o.stix_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut state: HashMap<String, IdState> = HashMap::with_capacity(ids.len());
    let mut access: HashMap<i64, Access> = HashMap::new();
    for chunk in ids.chunks(LOOKUP_IDS) {
        let (n, binds) = padded(chunk);
        let text = format!(
            "SELECT pk, stix_id, modified, is_latest, owner_org, author, tlp FROM objects WHERE {}",
            in_list(backend, "stix_id", n)
        );
        let mut q = sqlx::query(&text);
        for id in binds {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let pk: i64 = r.try_get(0)?;
            let id: String = r.try_get(1)?;
            let modified: String = r.try_get(2)?;
            let s = state.entry(id).or_default();
            if r.try_get::<i64, _>(3)? != 0 {
                access.insert(
                    pk,
                    Access {
                        owner_org: r.try_get(4)?,
                        author: r.try_get(5)?,
                        tlp: parse_enum("TLP", &r.try_get::<String, _>(6)?)?,
                        recipient_orgs: BTreeSet::new(),
                        recipient_groups: BTreeSet::new(),
                        named_users: BTreeSet::new(),
                    },
                );
                s.latest = Some(Latest {
                    modified: modified.clone(),
                    holder: Holder::Stored(pk),
                });
            }
            s.versions.insert(modified);
        }
    }
    // Audiences are needed only where the unit brings a version the store does not hold.
    let wanted: Vec<i64> = batch
        .iter()
        .filter_map(|o| {
            let s = state.get(&o.stix_id)?;
            if s.versions.contains(&o.modified) {
                return None;
            }
            match s.latest.as_ref()?.holder {
                Holder::Stored(pk) => Some(pk),
                Holder::Planned(_) => None,
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in wanted.chunks(LOOKUP_IDS) {
        let (n, binds) = padded(chunk);
        let text = format!(
            "SELECT object_pk, kind, ref_id FROM object_recipients WHERE {}",
            in_list(backend, "object_pk", n)
        );
        let mut q = sqlx::query(&text);
        for pk in binds {
            q = q.bind(*pk);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let pk: i64 = r.try_get(0)?;
            let kind: String = r.try_get(1)?;
            let id: String = r.try_get(2)?;
            if let Some(a) = access.get_mut(&pk) {
                match kind.as_str() {
                    "org" => a.recipient_orgs.insert(id),
                    "group" => a.recipient_groups.insert(id),
                    _ => a.named_users.insert(id),
                };
            }
        }
    }
    Ok((state, access))
}

/// Decides, in unit order, what becomes of every version: unchanged, refused, or a row to insert
/// (first, later or earlier version), and which stored versions stop being the latest.
fn plan<'a>(
    batch: &'a [NewObject],
    found: &'a [BTreeSet<String>],
    mut state: HashMap<String, IdState>,
    access: &HashMap<i64, Access>,
    check: &mut impl FnMut(&Access, &NewObject) -> Result<()>,
) -> Result<Plan<'a>> {
    let mut p = Plan::default();
    for (index, (o, values)) in batch.iter().zip(found).enumerate() {
        let s = state.entry(o.stix_id.clone()).or_default();
        if s.versions.contains(&o.modified) {
            p.outcome.unchanged += 1;
            continue;
        }
        let Some((holder, later)) = s
            .latest
            .as_ref()
            .map(|l| (l.holder, o.modified > l.modified))
        else {
            p.outcome.created += 1;
            s.versions.insert(o.modified.clone());
            s.latest = Some(Latest {
                modified: o.modified.clone(),
                holder: Holder::Planned(p.rows.len()),
            });
            p.rows.push(Planned {
                o,
                values,
                is_latest: true,
            });
            continue;
        };
        // Any version of an existing id, later or earlier, is judged against the audience of
        // the latest one, as `Store::insert_version` does.
        let current = match holder {
            Holder::Stored(pk) => access
                .get(&pk)
                .ok_or_else(|| StoreError::Unavailable("an audience went missing".into()))?,
            Holder::Planned(i) => &p.rows[i].o.access,
        };
        if let Err(e) = check(current, o) {
            p.outcome.refused.push(Refused {
                index,
                stix_id: o.stix_id.clone(),
                modified: o.modified.clone(),
                reason: e.to_string(),
            });
            continue;
        }
        s.versions.insert(o.modified.clone());
        if later {
            p.outcome.updated += 1;
            match holder {
                Holder::Stored(pk) => p.demote.push(pk),
                Holder::Planned(i) => p.rows[i].is_latest = false,
            }
            s.latest = Some(Latest {
                modified: o.modified.clone(),
                holder: Holder::Planned(p.rows.len()),
            });
            p.rows.push(Planned {
                o,
                values,
                is_latest: true,
            });
        } else {
            p.outcome.historical += 1;
            p.rows.push(Planned {
                o,
                values,
                is_latest: false,
            });
        }
    }
    Ok(p)
}

/// Runs `INSERT … VALUES` over `rows` in statements of at most [`BINDS_MAX`] parameters, cut by
/// [`statement_chunks`]. `bind` adds one row's `cols` values.
async fn insert_rows<T>(
    conn: &mut AnyConnection,
    backend: Backend,
    prefix: &str,
    cols: usize,
    rows: &[T],
    bind: impl for<'q> Fn(
        sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
        &'q T,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
) -> Result<()> {
    for chunk in statement_chunks(rows, BINDS_MAX / cols) {
        let text = values_sql(backend, prefix, cols, chunk.len(), "");
        let mut q = sqlx::query(&text);
        for r in chunk {
            q = bind(q, r);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The conflict clause of an import's multi-row statements (`INSERT{} INTO`, `UPDATE{}`). On
/// SQLite, `OR FAIL`: a statement that fails a constraint stops where it is, keeping its earlier
/// rows, instead of undoing them. Nothing is lost by that, because a failed statement fails its
/// unit and the [`ImportSession`] then rolls back the whole open transaction. What it saves: a
/// statement that may have to undo its own rows makes SQLite copy every page it changes into a
/// statement journal first, and the rows of an import land on pages spread over the id and value
/// indexes, so that copy was a tenth of the writer's time at 1M objects (docs/BENCHMARKS.md, "The
/// one-latest index dropped on SQLite; no statement journal for loads"). Foreign keys also make
/// SQLite keep that journal, which is why loads check their references themselves
/// ([`check_references`]).
fn or_fail(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => " OR FAIL",
        Backend::Postgres => "",
    }
}

/// The objects columns an import writes, after `pk`.
const OBJECT_COLUMNS: &str = "stix_id, stix_type, modified, date_added, owner_org, author, tlp, \
                              revoked, is_latest, title, body, body_z";

/// Binds one planned version's columns (after `pk`), `date_added` given.
fn bind_object<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    r: &'q Planned<'_>,
    date_added: i64,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let o = r.o;
    q.bind(o.stix_id.as_str())
        .bind(o.stix_type.as_str())
        .bind(o.modified.as_str())
        .bind(date_added)
        .bind(o.access.owner_org.as_str())
        .bind(o.access.author.as_str())
        .bind(o.access.tlp.as_str())
        .bind(i64::from(o.revoked))
        .bind(i64::from(r.is_latest))
        .bind(o.title.as_str())
        .bind(o.body.columns().0)
        .bind(o.body.columns().1)
}

/// SQLite: the keys are given, not returned. The single writer connection holds the write lock,
/// so the next keys are the last one's successors, exactly what SQLite would pick for an
/// `INTEGER PRIMARY KEY`; giving them saves sending every new key back.
async fn insert_objects_sqlite(
    conn: &mut AnyConnection,
    rows: &[Planned<'_>],
    first_date: i64,
) -> Result<Vec<i64>> {
    let last: Option<(i64,)> = sqlx::query_as("SELECT pk FROM objects ORDER BY pk DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let first_pk = last.map_or(1, |(pk,)| pk + 1);
    const COLS: usize = 13;
    let prefix = format!(
        "INSERT{} INTO objects (pk, {OBJECT_COLUMNS}) VALUES",
        or_fail(Backend::Sqlite)
    );
    let mut at = 0usize;
    for chunk in statement_chunks(rows, BINDS_MAX / COLS) {
        let text = values_sql(Backend::Sqlite, &prefix, COLS, chunk.len(), "");
        let mut q = sqlx::query(&text);
        for (k, r) in chunk.iter().enumerate() {
            let n = (at + k) as i64;
            q = bind_object(q.bind(first_pk + n), r, first_date + n);
        }
        q.execute(&mut *conn).await?;
        at += chunk.len();
    }
    Ok((0..rows.len() as i64).map(|n| first_pk + n).collect())
}

/// PostgreSQL: the keys come from the identity column and are returned.
async fn insert_objects_returning(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[Planned<'_>],
    first: i64,
) -> Result<Vec<i64>> {
    const COLS: usize = 12;
    let prefix = format!(
        "INSERT{} INTO objects ({OBJECT_COLUMNS}) VALUES",
        or_fail(backend)
    );
    let mut pks: Vec<i64> = Vec::with_capacity(rows.len());
    let mut at = 0usize;
    for chunk in statement_chunks(rows, BINDS_MAX / COLS) {
        let text = values_sql(
            backend,
            &prefix,
            COLS,
            chunk.len(),
            " RETURNING pk, date_added",
        );
        let mut q = sqlx::query(&text);
        for (k, r) in chunk.iter().enumerate() {
            q = bind_object(q, r, first + (at + k) as i64);
        }
        // Neither backend promises the order of `RETURNING` rows; `date_added` is unique within
        // the unit and says which row each pk belongs to.
        let mut got: Vec<(i64, i64)> = Vec::with_capacity(chunk.len());
        for r in q.fetch_all(&mut *conn).await? {
            got.push((r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(0)?));
        }
        got.sort_unstable();
        if got.len() != chunk.len()
            || got
                .iter()
                .enumerate()
                .any(|(k, (d, _))| *d != first + (at + k) as i64)
        {
            return Err(StoreError::Unavailable(
                "the database did not return every inserted row".into(),
            ));
        }
        if got.windows(2).any(|w| w[0].1 >= w[1].1) || pks.last().is_some_and(|l| *l >= got[0].1) {
            return Err(StoreError::Unavailable(
                "the database assigned keys out of insertion order".into(),
            ));
        }
        pks.extend(got.into_iter().map(|(_, pk)| pk));
        at += chunk.len();
    }
    Ok(pks)
}

/// Writes a plan: demotes, then inserts the versions with their audiences, values and ends.
async fn write(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[Planned<'_>],
    demote: &[i64],
) -> Result<()> {
    // The old latest versions stop being the latest before any new one is inserted: at most one
    // latest version per id (a unique index on PostgreSQL; `Store::integrity_check` on both).
    for chunk in demote.chunks(LOOKUP_IDS) {
        let (n, binds) = padded(chunk);
        let text = format!(
            "UPDATE{} objects SET is_latest = 0 WHERE {}",
            or_fail(backend),
            in_list(backend, "pk", n)
        );
        let mut q = sqlx::query(&text);
        for pk in binds {
            q = q.bind(*pk);
        }
        q.execute(&mut *conn).await?;
    }
    if rows.is_empty() {
        return Ok(());
    }
    // `date_added` grows by one microsecond per version in unit order, and rows are inserted in
    // that order, so `pk` order stays `date_added` order.
    let first = next_date_added(conn).await?;
    let pks = match backend {
        Backend::Sqlite => insert_objects_sqlite(conn, rows, first).await?,
        Backend::Postgres => insert_objects_returning(conn, backend, rows, first).await?,
    };
    let mut audience: Vec<(i64, &'static str, &str)> = Vec::new();
    let mut found: Vec<(&str, i64)> = Vec::new();
    let mut ends: Vec<(i64, String)> = Vec::new();
    for (r, pk) in rows.iter().zip(&pks) {
        audience.extend(recipients(&r.o.access).map(|(kind, id)| (*pk, kind, id)));
        found.extend(r.values.iter().map(|v| (v.as_str(), *pk)));
        ends.extend(
            ends_of(&r.o.stix_type, &r.o.body)
                .into_iter()
                .map(|id| (*pk, id)),
        );
    }
    insert_rows(
        conn,
        backend,
        &format!(
            "INSERT{} INTO object_recipients (object_pk, kind, ref_id) VALUES",
            or_fail(backend)
        ),
        3,
        &audience,
        |q, (pk, kind, id)| q.bind(*pk).bind(*kind).bind(*id),
    )
    .await?;
    insert_rows(
        conn,
        backend,
        &format!(
            "INSERT{} INTO object_values (value, object_pk) VALUES",
            or_fail(backend)
        ),
        2,
        &found,
        |q, (v, pk)| q.bind(*v).bind(*pk),
    )
    .await?;
    insert_rows(
        conn,
        backend,
        &format!(
            "INSERT{} INTO object_ends (object_pk, ref_id) VALUES",
            or_fail(backend)
        ),
        2,
        &ends,
        |q, (pk, id)| q.bind(*pk).bind(id.as_str()),
    )
    .await?;
    Ok(())
}

/// The audit detail of an import: its counts, and the first refused versions by name.
fn audit_detail(n: usize, o: &ImportOutcome) -> String {
    let mut d = format!(
        "{n} objects: {} created, {} updated, {} historical, {} unchanged, {} refused",
        o.created,
        o.updated,
        o.historical,
        o.unchanged,
        o.refused.len()
    );
    if !o.applied {
        d.push_str("; nothing stored");
    }
    for (i, r) in o.refused.iter().take(AUDIT_REFUSED_NAMED).enumerate() {
        let _ = write!(
            d,
            "{}{} {}",
            if i == 0 { "; refused: " } else { ", " },
            r.stix_id,
            r.modified
        );
    }
    if o.refused.len() > AUDIT_REFUSED_NAMED {
        let _ = write!(d, " and {} more", o.refused.len() - AUDIT_REFUSED_NAMED);
    }
    d
}

/// Imports one unit inside `tx`: looks up, plans, writes and audits it.
async fn import_unit<F>(
    tx: &mut AnyConnection,
    backend: Backend,
    batch: &[NewObject],
    found: &[BTreeSet<String>],
    on_refusal: OnRefusal,
    check: &mut F,
    audit: AuditEntry,
) -> Result<ImportOutcome>
where
    F: FnMut(&Access, &NewObject) -> Result<()> + Send,
{
    let (state, access) = lookup(tx, backend, batch).await?;
    let mut p = plan(batch, found, state, &access, check)?;
    drop(access);
    p.outcome.applied = p.outcome.refused.is_empty() || on_refusal == OnRefusal::SkipRefused;
    if p.outcome.applied {
        write(tx, backend, &p.rows, &p.demote).await?;
    }
    let entry = audit.detail(audit_detail(batch.len(), &p.outcome));
    let entry = if p.outcome.applied {
        entry
    } else {
        entry.outcome(Outcome::Denied)
    };
    p.outcome.audit_seq = append(tx, &entry).await?;
    Ok(p.outcome)
}

/// Consecutive import units sharing write transactions: each unit is atomic on its own, and
/// the transaction is committed once at least `commit_objects` objects of units have gone into
/// it, and by [`ImportSession::finish`].
///
/// Why: every commit writes out each index page its units touched, and the ids of STIX objects
/// are random, so a unit of 5,000 objects touches most leaf pages of the id indexes. Committing
/// per unit rewrites those indexes once per unit, which grows with the store; committing every
/// [`IMPORT_COMMIT_OBJECTS`] rewrites them ten times less often (docs/BENCHMARKS.md). A unit's
/// all-or-nothing is unchanged, and what a crash loses is at most the uncommitted units, which
/// re-running the import stores (re-importing a stored version changes nothing).
///
/// While a transaction is open the session holds the store's write connection: other writes
/// through the same [`Store`] wait until it commits. Dropping a session without
/// [`ImportSession::finish`] discards its uncommitted units.
pub struct ImportSession {
    store: Store,
    tx: Option<Transaction<'static, Any>>,
    commit_objects: usize,
    /// Objects of the units in the open transaction.
    pending: usize,
    /// Set by [`ImportSession::hold`]: no unit commits the transaction, so that a caller can make
    /// several units (the chunks of one bundle) all-or-nothing together.
    held: bool,
}

/// Objects of import units an [`ImportSession`] lets share one transaction, for bulk imports:
/// ten units of [`IMPORT_CHUNK`]. Measured at 1M objects on SQLite, committing every 50,000
/// instead of every 5,000 doubles the rate SQLite itself can store (docs/BENCHMARKS.md); the
/// transaction then holds the write lock for a few seconds at most.
pub const IMPORT_COMMIT_OBJECTS: usize = 10 * IMPORT_CHUNK;

impl ImportSession {
    /// Imports one unit, atomically: see [`Store::import`] for what happens to each version.
    ///
    /// An invalid unit fails with [`StoreError::Invalid`] before anything is written and leaves
    /// the session as it was. A unit that fails with any other error (a refusal is an outcome,
    /// not an error) rolls back the whole open transaction: nothing of the unit is stored, and
    /// nothing of the session's units since the last commit either. Keeping those would need a
    /// savepoint per unit, whose page copies cost more than an error is worth here: the
    /// importer stops at an error, and running it again stores what was lost.
    pub async fn import<F>(
        &mut self,
        batch: &[NewObject],
        on_refusal: OnRefusal,
        check: F,
        audit: AuditEntry,
    ) -> Result<ImportOutcome>
    where
        F: FnMut(&Access, &NewObject) -> Result<()> + Send,
    {
        check_unit(batch)?;
        let found: Vec<BTreeSet<String>> = batch.iter().map(values).collect();
        self.import_with_values(batch, &found, on_refusal, check, audit)
            .await
    }

    /// [`ImportSession::import`] of a unit checked already, where it was built.
    pub async fn import_checked<F>(
        &mut self,
        unit: &CheckedUnit,
        on_refusal: OnRefusal,
        check: F,
        audit: AuditEntry,
    ) -> Result<ImportOutcome>
    where
        F: FnMut(&Access, &NewObject) -> Result<()> + Send,
    {
        self.import_with_values(&unit.objects, &unit.values, on_refusal, check, audit)
            .await
    }

    /// A checked unit, given its searchable values as stored, into the session.
    async fn import_with_values<F>(
        &mut self,
        batch: &[NewObject],
        found: &[BTreeSet<String>],
        on_refusal: OnRefusal,
        mut check: F,
        audit: AuditEntry,
    ) -> Result<ImportOutcome>
    where
        F: FnMut(&Access, &NewObject) -> Result<()> + Send,
    {
        let backend = self.store.backend;
        let loading = self.store.loading;
        let tx = self.transaction().await?;
        if loading {
            check_references(tx, backend, batch).await?;
        }
        match import_unit(tx, backend, batch, found, on_refusal, &mut check, audit).await {
            Ok(outcome) => {
                self.pending += batch.len();
                if self.pending >= self.commit_objects && !self.held {
                    self.commit().await?;
                }
                Ok(outcome)
            }
            Err(e) => {
                // Dropping the transaction rolls it back.
                self.tx = None;
                self.pending = 0;
                Err(e)
            }
        }
    }

    /// The open transaction, begun if none is.
    pub(crate) async fn transaction(&mut self) -> Result<&mut Transaction<'static, Any>> {
        let tx = match self.tx.take() {
            Some(tx) => tx,
            None => self.store.begin_write().await?,
        };
        Ok(self.tx.insert(tx))
    }

    /// The store the session writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Objects of the units not yet committed.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// While held, units go on sharing the open transaction however many objects it holds: it
    /// is committed only by [`ImportSession::commit`] or [`ImportSession::finish`], or
    /// discarded by [`ImportSession::rollback`]. Importers hold a session over the chunks of one
    /// bundle, so that the bundle is stored whole or not at all.
    pub fn hold(&mut self, held: bool) {
        self.held = held;
    }

    /// Commits the units not yet committed, if any.
    pub async fn commit(&mut self) -> Result<()> {
        self.pending = 0;
        if let Some(tx) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Discards the units not yet committed.
    pub fn rollback(&mut self) {
        // Dropping the transaction rolls it back.
        self.tx = None;
        self.pending = 0;
    }

    /// Commits the units not yet committed.
    pub async fn finish(mut self) -> Result<()> {
        self.commit().await
    }
}

impl Store {
    /// A session for importing many units, committing every `commit_objects` objects
    /// ([`IMPORT_COMMIT_OBJECTS`] for bulk imports; 0 commits after every unit).
    pub fn import_session(&self, commit_objects: usize) -> ImportSession {
        ImportSession {
            store: self.clone(),
            tx: None,
            commit_objects,
            pending: 0,
            held: false,
        }
    }

    /// Imports one unit — a STIX bundle, a MISP event, or one chunk of a bundle larger than
    /// [`IMPORT_OBJECTS_MAX`] (see the module documentation) — atomically, in one write
    /// transaction with one audit record.
    ///
    /// Every version is validated first; an invalid one fails the call with
    /// [`StoreError::Invalid`] naming it, and nothing is stored. Then, under the write lock and
    /// in unit order, each version is:
    /// - unchanged, when its id and `modified` are already stored (or earlier in the unit), so
    ///   importing the same unit twice stores it once;
    /// - a first version, when its id is new;
    /// - otherwise judged by `check(latest access, version)` — the same hook as
    ///   [`Store::insert_version`]'s, typically `isac_policy::check_new_version` — and, if
    ///   allowed, stored as the new latest version when it is later than the latest, or as an
    ///   earlier version (`is_latest = 0`) when it is not. A refused version is reported in
    ///   [`ImportOutcome::refused`]; `on_refusal` says whether the rest of the unit is stored.
    ///
    /// `date_added` grows by one microsecond per stored version from the store's next value.
    pub async fn import<F>(
        &self,
        batch: &[NewObject],
        on_refusal: OnRefusal,
        check: F,
        audit: AuditEntry,
    ) -> Result<ImportOutcome>
    where
        F: FnMut(&Access, &NewObject) -> Result<()> + Send,
    {
        let mut session = self.import_session(0);
        let outcome = session.import(batch, on_refusal, check, audit).await?;
        session.finish().await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_a_few_sizes_and_cover_every_row() {
        let rows: Vec<usize> = (0..12_345).collect();
        let mut sizes = BTreeSet::new();
        for n in [
            0, 1, 2, 3, 5, 17, 999, 1_000, 1_023, 1_024, 2_307, 5_000, 12_345,
        ] {
            let chunks: Vec<&[usize]> = statement_chunks(&rows[..n], 2_307).collect();
            let joined: Vec<usize> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(joined, rows[..n], "{n}: every row once, in order");
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 2_307));
            // At most three of each smaller size.
            for size in STATEMENT_ROWS {
                assert!(
                    chunks.iter().filter(|c| c.len() == size).count() <= 3,
                    "{n}"
                );
            }
            sizes.extend(chunks.iter().map(|c| c.len()));
        }
        assert!(
            sizes
                .iter()
                .all(|s| *s == 2_307 || STATEMENT_ROWS.contains(s))
        );
        // A largest size below a fixed one is never exceeded.
        assert!(statement_chunks(&rows[..1_000], 100).all(|c| c.len() <= 100));
    }

    #[test]
    fn in_lists_are_padded_with_their_last_value() {
        for n in [1, 2, 3, 7, 64, 65, 999, 1_000] {
            let chunk: Vec<usize> = (0..n).collect();
            let (len, binds) = padded(&chunk);
            let binds: Vec<usize> = binds.copied().collect();
            assert_eq!(binds.len(), len);
            assert!(len == LOOKUP_IDS || len.is_power_of_two(), "{n} → {len}");
            assert_eq!(binds[..n], chunk[..]);
            assert!(binds[n..].iter().all(|v| *v == n - 1));
            assert!(in_list(Backend::Sqlite, "pk", len).matches('?').count() == len);
        }
    }
}
