//! Intelligence objects: every STIX version kept as JSON with its indexed access metadata.
//! `pk` order is `date_added` order, and `date_added` only grows (writers are serialised), so
//! paging by it stays correct while objects are being added.

use std::collections::{BTreeMap, BTreeSet};

use isac_model::Tlp;
use isac_model::limits::{OBJECT_BYTES, RECIPIENTS, SEARCH_CHARS, TEXT_CHARS};
use isac_policy::{Access, ReadScope, Viewer, can_read, can_read_connecting};
use sqlx::{AnyConnection, Row as _};

use crate::Body;
use crate::audit::{AuditEntry, append};
use crate::sql::{self, Sql};
use crate::withhold;
use crate::{Result, Store, StoreError, now_micros, optional_text, parse_enum, required_text};

/// The longest `modified` stored; page cursors carry it.
const MODIFIED_MAX: usize = 64;
/// The longest STIX type name (STIX 2.1 §3.1).
const TYPE_MAX: usize = 250;
/// Ids read by one query of [`Store::objects_by_id`]: one page's worth, well below the bind
/// parameter limits of both backends.
pub(crate) const BY_ID_BATCH: usize = 500;
/// The latest versions among those an `o.stix_id IN (...)` selects. The unary plus changes
/// nothing, but keeps SQLite, which has no statistics to go by, from walking every latest
/// version through the `(is_latest, ...)` indexes instead of looking each id up: 0.1 to 0.2 s a
/// query at 200,000 objects instead of a millisecond. PostgreSQL, with statistics, looks the ids
/// up either way. Every query that selects by id and asks for the latest version writes
/// `is_latest` this way (`+t.is_latest`, `+o.is_latest`): on SQLite no index has both since the
/// one-latest index was dropped (migration 0009), and the id's unique `(stix_id, modified)` index
/// is the one to use. `tests::plans` checks their plans.
const LATEST_BY_ID: &str = "+o.is_latest = 1";
/// The most connections [`Store::connections`] returns in one call.
pub const CONNECTIONS_MAX: usize = 1_000;

/// One stored version of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub pk: i64,
    pub stix_id: String,
    pub stix_type: String,
    /// The STIX `modified` timestamp, fixed-width RFC 3339, so text order is time order.
    pub modified: String,
    /// Unix microseconds.
    pub date_added: i64,
    pub access: Access,
    pub revoked: bool,
    pub is_latest: bool,
    pub title: String,
    pub body: String,
}

/// A version to store. The caller has built the STIX JSON and checked the audience.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub stix_id: String,
    pub stix_type: String,
    pub modified: String,
    pub access: Access,
    pub revoked: bool,
    pub title: String,
    /// The STIX JSON, compressed for storage as it is built ([`crate::Body`]).
    pub body: Body,
    /// Lower-cased searchable values.
    pub values: Vec<String>,
}

/// Filters on a listing. Every one narrows; none widens past the viewer's scope.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub stix_type: Option<String>,
    pub tlp: Option<Tlp>,
    pub owner_org: Option<String>,
    pub revoked: Option<bool>,
    /// Exact searchable value (lower-cased by the store).
    pub value: Option<String>,
}

/// The allow-listed sort orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    NewestFirst,
    OldestFirst,
    ModifiedDesc,
    ModifiedAsc,
}

impl Sort {
    pub const NAMES: &'static [&'static str] =
        &["-date_added", "date_added", "-modified", "modified"];

    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "-date_added" => Some(Sort::NewestFirst),
            "date_added" => Some(Sort::OldestFirst),
            "-modified" => Some(Sort::ModifiedDesc),
            "modified" => Some(Sort::ModifiedAsc),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: ObjectFilter,
    pub sort: Sort,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct ObjectPage {
    pub objects: Vec<StoredObject>,
    pub next: Option<String>,
}

pub(crate) const COLUMNS: &str = "o.pk, o.stix_id, o.stix_type, o.modified, o.date_added, o.owner_org, o.author, o.tlp, o.revoked, o.is_latest, o.title, o.body, o.body_z";

/// [`COLUMNS`] without the title and body, for reading access alone: [`row`] reads them as empty.
const ACCESS_COLUMNS: &str = "o.pk, o.stix_id, o.stix_type, o.modified, o.date_added, o.owner_org, o.author, o.tlp, o.revoked, o.is_latest, '', '', NULL";

pub(crate) fn row(mut r: sql::Row) -> Result<StoredObject> {
    Ok(StoredObject {
        pk: r.take(0)?,
        stix_id: r.take(1)?,
        stix_type: r.take(2)?,
        modified: r.take(3)?,
        date_added: r.take(4)?,
        access: Access {
            owner_org: r.take(5)?,
            author: r.take(6)?,
            tlp: parse_enum("TLP", &r.take::<String>(7)?)?,
            recipient_orgs: BTreeSet::new(),
            recipient_groups: BTreeSet::new(),
            named_users: BTreeSet::new(),
        },
        revoked: r.take::<i64>(8)? != 0,
        is_latest: r.take::<i64>(9)? != 0,
        title: r.take(10)?,
        body: crate::body::decode(r.take(11)?, r.take(12)?)?,
    })
}

/// Appends the read-scope filter for alias `o`: the SQL form of [`isac_policy::can_read`], and,
/// for relationships and sightings, of [`isac_policy::can_read_connecting`]: every end they
/// connect must be stored and readable at its latest version.
pub(crate) fn push_scope(q: &mut Sql, s: &ReadScope) {
    q.push("(");
    push_base_scope(q, s, "o");
    q.push(" AND (o.stix_type NOT IN ('relationship', 'sighting') OR NOT EXISTS (SELECT 1 FROM object_ends e WHERE e.object_pk = o.pk AND NOT EXISTS (SELECT 1 FROM objects t WHERE t.stix_id = e.ref_id AND +t.is_latest = 1 AND ");
    push_base_scope(q, s, "t");
    q.push(") AND NOT EXISTS (SELECT 1 FROM orgs g WHERE e.ref_id = 'identity--' || g.id AND ");
    push_identity_scope(q, s);
    q.push(")))");
    q.push(")");
}

/// The SQL form of [`isac_policy::can_read`] on the access of org `g`'s STIX identity
/// ([`crate::taxii::identity_access`]): the operator's is CLEAR, a member's GREEN, a partner's
/// or vendor's AMBER owned by that org with no recipients.
fn push_identity_scope(q: &mut Sql, s: &ReadScope) {
    q.push("(g.kind = 'operator'");
    if s.green {
        q.push(" OR g.kind = 'member'");
    }
    if s.all_amber {
        q.push(" OR g.kind IN ('partner', 'vendor')");
    } else if let (true, Some(org)) = (s.own_amber, &s.org) {
        q.push(" OR (g.kind IN ('partner', 'vendor') AND g.id = ")
            .text(org.clone())
            .push(")");
    }
    q.push(")");
}

/// The SQL form of [`isac_policy::can_read`] for the object under alias `t`.
fn push_base_scope(q: &mut Sql, s: &ReadScope, t: &str) {
    q.push(&format!("({t}.tlp = 'clear'"));
    if s.green {
        q.push(&format!(" OR {t}.tlp = 'green'"));
    }
    if s.all_amber {
        q.push(&format!(" OR {t}.tlp IN ('amber', 'amber+strict')"));
    }
    if let Some(org) = &s.org {
        if s.own_amber && !s.all_amber {
            q.push(&format!(
                " OR ({t}.tlp IN ('amber', 'amber+strict') AND {t}.owner_org = "
            ))
            .text(org.clone())
            .push(")");
        }
        let named = |q: &mut Sql| {
            q.push(&format!(" AND EXISTS (SELECT 1 FROM object_recipients r WHERE r.object_pk = {t}.pk AND ((r.kind = 'org' AND r.ref_id = "))
                .text(org.clone())
                .push(")");
            if !s.groups.is_empty() {
                q.push(" OR (r.kind = 'group' AND r.ref_id IN (");
                q.texts(s.groups.iter().cloned());
                q.push("))");
            }
            // `LIMIT 1 OFFSET 0` changes nothing in an EXISTS, but keeps PostgreSQL from turning
            // the subquery, under the OR, into a hashed scan of every matching recipient row.
            q.push(") LIMIT 1 OFFSET 0))");
        };
        if s.amber_recipient && !s.all_amber {
            q.push(&format!(" OR ({t}.tlp = 'amber'"));
            named(q);
        }
        if s.strict_recipient && !s.all_amber {
            q.push(&format!(" OR ({t}.tlp = 'amber+strict'"));
            named(q);
        }
    }
    if let (true, Some(user)) = (s.red_named, &s.user) {
        q.push(&format!(" OR ({t}.tlp = 'red' AND ({t}.author = "))
            .text(user.clone())
            .push(&format!(" OR EXISTS (SELECT 1 FROM object_recipients r WHERE r.object_pk = {t}.pk AND r.kind = 'user' AND r.ref_id = "))
            .text(user.clone())
            .push(" LIMIT 1 OFFSET 0)))");
    }
    q.push(")");
}

fn push_filter(q: &mut Sql, f: &ObjectFilter, s: &ReadScope) {
    if let Some(t) = &f.stix_type {
        q.push(" AND o.stix_type = ").text(t.clone());
    }
    if let Some(t) = f.tlp {
        q.push(" AND o.tlp = ").text(t.as_str());
    }
    if let Some(o) = &f.owner_org {
        q.push(" AND o.owner_org = ").text(o.clone());
    }
    if let Some(r) = f.revoked {
        q.push(" AND o.revoked = ").int(i64::from(r));
    }
    // A value that is a STIX identifier matches what names that object (the `object_refs` of
    // containers are searchable values). A reference to an object the reader may not read is
    // withheld from what it is sent (`withhold.rs`), so a search must not reveal it either: such
    // a value matches only where the reader may read the named object's latest version, under
    // the same scope as any read (the inner `o` is that object).
    if let Some(v) = &f.value {
        let v = v.trim().to_lowercase();
        if isac_stix::syntax::parse_identifier(&v).is_some() {
            q.push(" AND EXISTS (SELECT 1 FROM objects o WHERE o.stix_id = ")
                .text(v)
                .push(" AND +o.is_latest = 1 AND ");
            push_scope(q, s);
            q.push(")");
        }
    }
}

/// `SELECT {what}` over latest versions, up to the `AND` that the scope follows. A search by
/// value starts from the value index: `CROSS JOIN` makes SQLite take `object_values` as the outer
/// loop (PostgreSQL plans it freely), instead of walking every latest object in page order and
/// probing for the value.
fn select_latest(what: &str, f: &ObjectFilter) -> Sql {
    match &f.value {
        Some(v) => {
            let mut q = Sql::new(&format!(
                "SELECT {what} FROM object_values v CROSS JOIN objects o WHERE v.value = "
            ));
            q.text(v.trim().to_lowercase())
                .push(" AND o.pk = v.object_pk AND o.is_latest = 1 AND ");
            q
        }
        None => Sql::new(&format!(
            "SELECT {what} FROM objects o WHERE o.is_latest = 1 AND "
        )),
    }
}

/// Checks a version before it is stored: the id is its type, `--` and a UUID; `modified` is an
/// RFC 3339 UTC timestamp, so that text order is time order; every field is within its limit.
pub(crate) fn check_new(o: &NewObject) -> Result<()> {
    let invalid = |m: &str| Err(StoreError::Invalid(m.to_owned()));
    required_text("type", &o.stix_type, TYPE_MAX)?;
    let id_ok = o
        .stix_id
        .strip_prefix(o.stix_type.as_str())
        .and_then(|rest| rest.strip_prefix("--"))
        .is_some_and(|u| u.len() == 36 && uuid::Uuid::parse_str(u).is_ok());
    if !id_ok {
        return invalid("an object id must be its type, `--` and a UUID");
    }
    let m = &o.modified;
    if m.len() > MODIFIED_MAX
        || m.as_bytes().get(10) != Some(&b'T')
        || !m.ends_with('Z')
        || chrono::DateTime::parse_from_rfc3339(m).is_err()
    {
        return invalid(
            "`modified` must be an RFC 3339 timestamp in UTC, such as 2024-01-01T00:00:00.000Z",
        );
    }
    optional_text("title", &o.title, TEXT_CHARS)?;
    if o.body.len() > OBJECT_BYTES {
        return invalid(&format!(
            "the object is {} bytes; the limit is {OBJECT_BYTES}",
            o.body.len()
        ));
    }
    if o.values
        .iter()
        .any(|v| v.trim().chars().count() > SEARCH_CHARS)
    {
        return invalid(&format!(
            "a searchable value is longer than {SEARCH_CHARS} characters"
        ));
    }
    let a = &o.access;
    let n = a.recipient_orgs.len() + a.recipient_groups.len() + a.named_users.len();
    if n > RECIPIENTS {
        return invalid(&format!(
            "too many recipients: {n}; the limit is {RECIPIENTS}"
        ));
    }
    Ok(())
}

async fn insert_version(conn: &mut AnyConnection, o: &NewObject, date_added: i64) -> Result<i64> {
    let (pk,): (i64,) = sqlx::query_as(
        "INSERT INTO objects (stix_id, stix_type, modified, date_added, owner_org, author, tlp, revoked, is_latest, title, body, body_z) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11) RETURNING pk",
    )
    .bind(o.stix_id.clone())
    .bind(o.stix_type.clone())
    .bind(o.modified.clone())
    .bind(date_added)
    .bind(o.access.owner_org.clone())
    .bind(o.access.author.clone())
    .bind(o.access.tlp.as_str())
    .bind(i64::from(o.revoked))
    .bind(o.title.clone())
    .bind(o.body.columns().0.to_owned())
    .bind(o.body.columns().1.map(<[u8]>::to_vec))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "{} already has a version modified at {}",
            o.stix_id, o.modified
        )),
        other => other,
    })?;
    let a = &o.access;
    for (kind, set) in [
        ("org", &a.recipient_orgs),
        ("group", &a.recipient_groups),
        ("user", &a.named_users),
    ] {
        for id in set {
            sqlx::query(
                "INSERT INTO object_recipients (object_pk, kind, ref_id) VALUES ($1, $2, $3)",
            )
            .bind(pk)
            .bind(kind)
            .bind(id.clone())
            .execute(&mut *conn)
            .await?;
        }
    }
    let values: BTreeSet<String> = o
        .values
        .iter()
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    for v in values {
        sqlx::query("INSERT INTO object_values (value, object_pk) VALUES ($1, $2)")
            .bind(v)
            .bind(pk)
            .execute(&mut *conn)
            .await?;
    }
    insert_ends(conn, pk, &ends_of(&o.stix_type, &o.body)).await?;
    Ok(pk)
}

/// The objects a relationship or sighting connects, read from its STIX body: `source_ref` and
/// `target_ref`; `sighting_of_ref`, `observed_data_refs` and `where_sighted_refs`. Other types
/// connect nothing. A body that is not JSON connects nothing too (the server stores only JSON).
pub(crate) fn ends_of(stix_type: &str, body: &str) -> BTreeSet<String> {
    let mut ends = BTreeSet::new();
    if !isac_policy::connects(stix_type) {
        return ends;
    }
    let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(body) else {
        return ends;
    };
    for key in ["source_ref", "target_ref", "sighting_of_ref"] {
        if let Some(serde_json::Value::String(id)) = o.get(key) {
            ends.insert(id.clone());
        }
    }
    for key in ["observed_data_refs", "where_sighted_refs"] {
        if let Some(serde_json::Value::Array(ids)) = o.get(key) {
            ends.extend(ids.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
    }
    ends
}

/// Records the ends of a connecting object (see [`ends_of`]).
pub(crate) async fn insert_ends(
    conn: &mut AnyConnection,
    pk: i64,
    ends: &BTreeSet<String>,
) -> Result<()> {
    for id in ends {
        sqlx::query("INSERT INTO object_ends (object_pk, ref_id) VALUES ($1, $2)")
            .bind(pk)
            .bind(id.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The `date_added` of the next version: now, or just after the last one. `pk` order is
/// `date_added` order, so the last version is found by the primary key, not by a scan.
pub(crate) async fn next_date_added(conn: &mut AnyConnection) -> Result<i64> {
    let last: Option<(i64,)> =
        sqlx::query_as("SELECT date_added FROM objects ORDER BY pk DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(now_micros().max(last.map_or(0, |(d,)| d) + 1))
}

async fn latest_in(
    conn: &mut AnyConnection,
    stix_id: &str,
) -> Result<Option<(i64, String, Access)>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM objects o WHERE o.stix_id = "
    ));
    q.text(stix_id).push(" AND +o.is_latest = 1");
    let r = q.query().fetch_optional(&mut *conn).await?;
    let Some(r) = r else { return Ok(None) };
    let mut o = row(sql::Row::from_any(&r)?)?;
    let rec = sqlx::query("SELECT kind, ref_id FROM object_recipients WHERE object_pk = $1")
        .bind(o.pk)
        .fetch_all(&mut *conn)
        .await?;
    for r in &rec {
        add_recipient(&mut o.access, &r.try_get::<String, _>(0)?, r.try_get(1)?);
    }
    Ok(Some((o.pk, o.modified, o.access)))
}

/// The audience rows of the versions `pks`.
fn recipients_sql(pks: impl IntoIterator<Item = i64>) -> Sql {
    let mut q =
        Sql::new("SELECT object_pk, kind, ref_id FROM object_recipients WHERE object_pk IN (");
    q.ints(pks);
    q.push(")");
    q
}

/// Adds audience rows (`object_pk, kind, ref_id`) to the access of the objects they belong to.
fn add_recipients(objects: &mut [StoredObject], rows: Vec<sql::Row>) -> Result<()> {
    let by_pk: BTreeMap<i64, usize> = objects.iter().enumerate().map(|(i, o)| (o.pk, i)).collect();
    for mut r in rows {
        let pk: i64 = r.take(0)?;
        if let Some(&i) = by_pk.get(&pk) {
            add_recipient(&mut objects[i].access, &r.take::<String>(1)?, r.take(2)?);
        }
    }
    Ok(())
}

fn add_recipient(a: &mut Access, kind: &str, id: String) {
    match kind {
        "org" => a.recipient_orgs.insert(id),
        "group" => a.recipient_groups.insert(id),
        _ => a.named_users.insert(id),
    };
}

impl Store {
    /// Stores new objects (first versions) atomically: all of them, or none. Each id must be new.
    ///
    /// Concurrent calls are group-committed: the writer task takes every request waiting at that
    /// moment, runs each in its own savepoint inside one transaction, and commits once, so one
    /// fsync acknowledges many requests while a failing request still stores nothing. A call
    /// returns only after the commit that holds its objects.
    ///
    /// Returns each object's key and `date_added`, in the order given.
    pub async fn insert_objects(
        &self,
        objects: &[NewObject],
        audit: AuditEntry,
    ) -> Result<Vec<Inserted>> {
        objects.iter().try_for_each(check_new)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = InsertJob {
            objects: objects.to_vec(),
            audit,
            reply,
        };
        if self.writer.send(job).await.is_err() {
            return Err(StoreError::Unavailable("the writer has stopped".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    /// Stores a new version of an existing object. `check` sees the current latest access and
    /// decides (under the write lock) whether the writer may make this version.
    pub async fn insert_version(
        &self,
        o: &NewObject,
        check: impl FnOnce(&Access) -> Result<()>,
        audit: AuditEntry,
    ) -> Result<i64> {
        check_new(o)?;
        let mut tx = self.begin_write().await?;
        let (old_pk, old_modified, old_access) = latest_in(&mut tx, &o.stix_id)
            .await?
            .ok_or(StoreError::NotFound("object"))?;
        check(&old_access)?;
        if o.modified <= old_modified {
            return Err(StoreError::Conflict(format!(
                "a new version must have a later `modified` than {old_modified}"
            )));
        }
        let date_added = next_date_added(&mut tx).await?;
        // The old version stops being the latest first: at most one latest version per id (a
        // unique index on PostgreSQL; `Store::integrity_check` on both).
        sqlx::query("UPDATE objects SET is_latest = 0 WHERE pk = $1")
            .bind(old_pk)
            .execute(&mut *tx)
            .await?;
        let pk = insert_version(&mut tx, o, date_added).await?;
        append(
            &mut tx,
            &audit.detail(format!("{} {} {}", o.stix_id, o.modified, o.access.tlp)),
        )
        .await?;
        tx.commit().await?;
        Ok(pk)
    }

    /// Loads the recipients of `objects` and keeps only those `viewer` may read. Storage filters
    /// in SQL already; this is the second, independent check of every row that leaves the store.
    pub(crate) async fn finish(
        &self,
        viewer: &Viewer,
        mut objects: Vec<StoredObject>,
    ) -> Result<Vec<StoredObject>> {
        if objects.is_empty() {
            return Ok(objects);
        }
        // The page's audiences and, for its relationships and sightings, their ends: read
        // together.
        let connecting: Vec<i64> = objects
            .iter()
            .filter(|o| isac_policy::connects(&o.stix_type))
            .map(|o| o.pk)
            .collect();
        let mut batch = vec![recipients_sql(objects.iter().map(|o| o.pk))];
        if !connecting.is_empty() {
            let mut q = Sql::new("SELECT object_pk, ref_id FROM object_ends WHERE object_pk IN (");
            q.ints(connecting.iter().copied());
            q.push(")");
            batch.push(q);
        }
        let mut read = Sql::fetch_each(self, &batch.iter().collect::<Vec<_>>()).await?;
        let end_rows = if read.len() > 1 { read.pop() } else { None };
        if let Some(rows) = read.pop() {
            add_recipients(&mut objects, rows)?;
        }
        let ends = self
            .ends_access(&connecting, end_rows.unwrap_or_default())
            .await?;
        let before = objects.len();
        objects.retain(|o| match ends.get(&o.pk) {
            Some(e) => {
                let e: Vec<Option<&Access>> = e.iter().map(Option::as_ref).collect();
                can_read_connecting(viewer, &o.access, &e)
            }
            None => can_read(viewer, &o.access),
        });
        if objects.len() != before {
            tracing::error!(
                dropped = before - objects.len(),
                "read scope admitted objects the policy refuses"
            );
        }
        self.withhold_refs(viewer, &mut objects).await?;
        Ok(objects)
    }

    /// Withholds, from every object but relationships and sightings, each reference to a stored
    /// object (at its latest version) or directory identity that `viewer` may not read
    /// (`crate::withhold`). Ids that name nothing stored are kept: they reveal nothing isac
    /// holds. A container's `object_refs` left empty names the container itself, as STIX
    /// requires one. An extension that withholding would leave invalid (an `archive-ext` that
    /// contains nothing) is removed, and so is a MIME part left without a body. An object that
    /// withholding would still leave invalid STIX (a `network-traffic` left with neither end, a
    /// `language-content` without its object) is left out whole, as relationships and sightings
    /// are left out unless every object they connect is readable (`push_scope`). What is stored
    /// is unchanged.
    async fn withhold_refs(&self, viewer: &Viewer, objects: &mut Vec<StoredObject>) -> Result<()> {
        let mut naming: Vec<(usize, serde_json::Map<String, serde_json::Value>)> = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            if isac_policy::connects(&o.stix_type) || !withhold::may_name_refs(&o.body) {
                continue;
            }
            if let Ok(serde_json::Value::Object(body)) =
                serde_json::from_str::<serde_json::Value>(&o.body)
            {
                naming.push((i, body));
            }
        }
        let mut ids = BTreeSet::new();
        for (_, body) in &naming {
            withhold::collect(body, &mut ids);
        }
        if ids.is_empty() {
            return Ok(());
        }
        let latest = self.latest_access(&ids).await?;
        let hidden = |id: &str| latest.get(id).is_some_and(|a| !can_read(viewer, a));
        let mut left_out: BTreeSet<usize> = BTreeSet::new();
        for (i, mut body) in naming {
            if !withhold::withhold(&mut body, &hidden) {
                continue;
            }
            let o = &mut objects[i];
            // The object as stored, parsed again only when something was withheld from it.
            let before: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&o.body).unwrap_or_default();
            if before.contains_key("object_refs")
                && !body.contains_key("object_refs")
                && withhold::REF_CONTAINERS.contains(&o.stix_type.as_str())
            {
                body.insert(
                    "object_refs".into(),
                    serde_json::Value::Array(vec![serde_json::Value::String(o.stix_id.clone())]),
                );
            }
            let before_errors = withhold::errors(&before);
            if !withhold::errors(&body).is_subset(&before_errors) {
                withhold::drop_broken_extensions(&mut body, &before_errors);
                withhold::drop_bodiless_parts(&mut body);
                if !withhold::errors(&body).is_subset(&before_errors) {
                    left_out.insert(i);
                    continue;
                }
            }
            o.body = serde_json::to_string(&body)
                .map_err(|e| StoreError::Invalid(format!("re-serialising an object: {e}")))?;
        }
        if !left_out.is_empty() {
            let mut i = 0;
            objects.retain(|_| {
                i += 1;
                !left_out.contains(&(i - 1))
            });
        }
        Ok(())
    }

    /// For each relationship or sighting (`connecting`, with the `object_ends` rows read for
    /// them), the access of the latest version of every end it connects (`None` for an end that
    /// is not stored).
    async fn ends_access(
        &self,
        connecting: &[i64],
        rows: Vec<sql::Row>,
    ) -> Result<BTreeMap<i64, Vec<Option<Access>>>> {
        let mut out: BTreeMap<i64, Vec<Option<Access>>> = BTreeMap::new();
        if connecting.is_empty() {
            return Ok(out);
        }
        let mut ends: BTreeMap<i64, Vec<String>> =
            connecting.iter().map(|pk| (*pk, Vec::new())).collect();
        for r in &rows {
            let pk: i64 = r.try_get(0)?;
            ends.entry(pk).or_default().push(r.try_get(1)?);
        }
        let ids: BTreeSet<String> = ends.values().flatten().cloned().collect();
        let latest = self.latest_access(&ids).await?;
        for (pk, ids) in ends {
            out.insert(pk, ids.iter().map(|id| latest.get(id).cloned()).collect());
        }
        Ok(out)
    }

    /// The access of the latest stored version of each of `ids`, and of the directory's org
    /// identities among them (which are served, never stored). Ids that name neither are absent.
    /// Each batch of ids is one read: the versions, their audiences and, on SQLite, the first
    /// time, if any id is an identity's, the orgs.
    async fn latest_access(&self, ids: &BTreeSet<String>) -> Result<BTreeMap<String, Access>> {
        let mut latest: BTreeMap<String, Access> = BTreeMap::new();
        let mut orgs = None;
        let identities = ids.iter().any(|id| id.starts_with("identity--"));
        for chunk in ids.iter().collect::<Vec<_>>().chunks(BY_ID_BATCH) {
            let mut versions = Sql::new(&format!(
                "SELECT {ACCESS_COLUMNS} FROM objects o WHERE o.stix_id IN ("
            ));
            versions.texts(chunk.iter().map(|id| id.as_str()));
            versions.push(&format!(") AND {LATEST_BY_ID}"));
            let mut audiences = Sql::new(
                "SELECT object_pk, kind, ref_id FROM object_recipients WHERE object_pk IN \
                 (SELECT o.pk FROM objects o WHERE o.stix_id IN (",
            );
            audiences.texts(chunk.iter().map(|id| id.as_str()));
            audiences.push(&format!(") AND {LATEST_BY_ID})"));
            let mut batch = vec![&versions, &audiences];
            // On SQLite the org list rides along in the same hand-off; on PostgreSQL, where each
            // statement is a round trip, it is read below only if an identity was not found.
            let directory = crate::directory::orgs_sql();
            if identities && orgs.is_none() && self.files.is_some() {
                batch.push(&directory);
            }
            let mut read = Sql::fetch_each(self, &batch).await?.into_iter();
            let (versions, audiences) = (
                read.next().unwrap_or_default(),
                read.next().unwrap_or_default(),
            );
            if let Some(rows) = read.next() {
                orgs = Some(rows);
            }
            let mut found = versions.into_iter().map(row).collect::<Result<Vec<_>>>()?;
            add_recipients(&mut found, audiences)?;
            latest.extend(found.into_iter().map(|o| (o.stix_id, o.access)));
        }
        // Ids that are no stored object may be org identities, served from the directory.
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| !latest.contains_key(*id))
            .filter_map(|id| id.strip_prefix("identity--"))
            .collect();
        if !missing.is_empty() {
            let orgs = match orgs {
                Some(rows) => rows,
                None => crate::directory::orgs_sql().fetch_all(self).await?,
            };
            for r in orgs {
                let org = crate::directory::org_row(&r)?;
                if missing.contains(&org.id.as_str()) {
                    latest.insert(
                        format!("identity--{}", org.id),
                        crate::taxii::identity_access(&org),
                    );
                }
            }
        }
        Ok(latest)
    }

    /// The latest version of `stix_id`, if `viewer` may read it. An object the viewer may not
    /// read is reported exactly as one that does not exist.
    pub async fn object(&self, viewer: &Viewer, stix_id: &str) -> Result<StoredObject> {
        let scope = ReadScope::for_viewer(viewer);
        let mut q = Sql::new(&format!(
            "SELECT {COLUMNS} FROM objects o WHERE o.stix_id = "
        ));
        q.text(stix_id).push(" AND +o.is_latest = 1 AND ");
        push_scope(&mut q, &scope);
        let rows = q.fetch_all(self).await?;
        let objs = rows.into_iter().map(row).collect::<Result<Vec<_>>>()?;
        self.finish(viewer, objs)
            .await?
            .pop()
            .ok_or(StoreError::NotFound("object"))
    }

    /// The latest version of `stix_id` for building its next version: read for `viewer` exactly
    /// as [`Store::object`] reads it, but with its body as stored, beside the ids its references
    /// name that were withheld from `viewer` (`withhold_refs`). A writer cannot mean to remove
    /// what it was never shown, so a new version keeps those references; the body returned here
    /// is for building that version only, never for showing.
    pub async fn object_for_version(
        &self,
        viewer: &Viewer,
        stix_id: &str,
    ) -> Result<(StoredObject, BTreeSet<String>)> {
        let mut o = self.object(viewer, stix_id).await?;
        let mut q = Sql::new("SELECT o.body, o.body_z FROM objects o WHERE o.pk = ");
        q.int(o.pk);
        let r = q.fetch_one(self).await?;
        let stored = crate::body::decode(r.try_get(0)?, r.try_get(1)?)?;
        let refs = |body: &str| {
            let mut ids = BTreeSet::new();
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(body) {
                withhold::collect(&m, &mut ids);
            }
            ids
        };
        let withheld = refs(&stored).difference(&refs(&o.body)).cloned().collect();
        o.body = stored;
        Ok((o, withheld))
    }

    /// The latest versions of `stix_ids` that `viewer` may read, in `pk` order, each once. Ids
    /// the viewer may not read are left out exactly as ids that are not stored. Read in
    /// batches of 500 ids, each one query under the same scope and re-check as
    /// [`Store::object`].
    pub async fn objects_by_id(
        &self,
        viewer: &Viewer,
        stix_ids: &[String],
    ) -> Result<Vec<StoredObject>> {
        let scope = ReadScope::for_viewer(viewer);
        let ids: BTreeSet<&String> = stix_ids.iter().collect();
        let ids: Vec<&String> = ids.into_iter().collect();
        let mut out = Vec::new();
        for batch in ids.chunks(BY_ID_BATCH) {
            let mut q = Sql::new(&format!(
                "SELECT {COLUMNS} FROM objects o WHERE o.stix_id IN ("
            ));
            q.texts(batch.iter().map(|id| id.as_str()));
            q.push(&format!(") AND {LATEST_BY_ID} AND "));
            push_scope(&mut q, &scope);
            let rows = q.fetch_all(self).await?;
            let objs = rows.into_iter().map(row).collect::<Result<Vec<_>>>()?;
            out.extend(self.finish(viewer, objs).await?);
        }
        out.sort_by_key(|o| o.pk);
        Ok(out)
    }

    /// Every version of `stix_id` that `viewer` may read, oldest first.
    pub async fn object_versions(
        &self,
        viewer: &Viewer,
        stix_id: &str,
    ) -> Result<Vec<StoredObject>> {
        let scope = ReadScope::for_viewer(viewer);
        let mut q = Sql::new(&format!(
            "SELECT {COLUMNS} FROM objects o WHERE o.stix_id = "
        ));
        q.text(stix_id).push(" AND ");
        push_scope(&mut q, &scope);
        q.push(" ORDER BY o.pk LIMIT 1000");
        let rows = q.fetch_all(self).await?;
        let objs = rows.into_iter().map(row).collect::<Result<Vec<_>>>()?;
        self.finish(viewer, objs).await
    }

    /// The relationships and sightings that connect `stix_id` to something, newest first, at
    /// most `limit` (clamped to 1..=[`CONNECTIONS_MAX`]): the latest version of each whose ends
    /// include `stix_id`, if `viewer` may read it. The same scope and per-row re-check apply as
    /// everywhere, so a connection is listed only where the viewer may read it and every object
    /// it connects (invariant 9): a connection to an object the viewer may not read, or to one
    /// that is not stored, is left out exactly as one that does not exist.
    pub async fn connections(
        &self,
        viewer: &Viewer,
        stix_id: &str,
        limit: usize,
    ) -> Result<Vec<StoredObject>> {
        let scope = ReadScope::for_viewer(viewer);
        let limit = limit.clamp(1, CONNECTIONS_MAX);
        let mut out: Vec<StoredObject> = Vec::new();
        let mut before: Option<i64> = None;
        // In two steps, newest first: a batch of the versions whose ends name the object, then
        // those of them the viewer may read. A single join would let a planner without
        // statistics (PostgreSQL before its first ANALYZE) walk every readable object looking
        // for the few connected to this one.
        loop {
            let mut q = Sql::new("SELECT object_pk FROM object_ends WHERE ref_id = ");
            q.text(stix_id);
            if let Some(pk) = before {
                q.push(" AND object_pk < ").int(pk);
            }
            q.push(" ORDER BY object_pk DESC LIMIT ")
                .int(BY_ID_BATCH as i64);
            let pks: Vec<i64> = q
                .fetch_all(self)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_>>()?;
            let Some(&last) = pks.last() else {
                break;
            };
            before = Some(last);
            let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM objects o WHERE o.pk IN ("));
            q.ints(pks.iter().copied());
            q.push(&format!(") AND {LATEST_BY_ID} AND "));
            push_scope(&mut q, &scope);
            q.push(" ORDER BY o.pk DESC");
            let rows = q.fetch_all(self).await?;
            let objs = rows.into_iter().map(row).collect::<Result<Vec<_>>>()?;
            out.extend(self.finish(viewer, objs).await?);
            if out.len() >= limit || pks.len() < BY_ID_BATCH {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// A page of latest versions that `viewer` may read.
    pub async fn list_objects(&self, viewer: &Viewer, lq: &ListQuery) -> Result<ObjectPage> {
        let scope = ReadScope::for_viewer(viewer);
        let limit = lq.limit.clamp(1, isac_model::limits::PAGE_MAX);
        let mut q = select_latest(COLUMNS, &lq.filter);
        push_scope(&mut q, &scope);
        push_filter(&mut q, &lq.filter, &scope);
        if let Some(c) = &lq.cursor {
            let (key, pk) = decode_cursor(c)?;
            match lq.sort {
                Sort::NewestFirst => q.push(" AND o.pk < ").int(pk),
                Sort::OldestFirst => q.push(" AND o.pk > ").int(pk),
                Sort::ModifiedDesc => q
                    .push(" AND (o.modified < ")
                    .text(key.clone())
                    .push(" OR (o.modified = ")
                    .text(key)
                    .push(" AND o.pk < ")
                    .int(pk)
                    .push("))"),
                Sort::ModifiedAsc => q
                    .push(" AND (o.modified > ")
                    .text(key.clone())
                    .push(" OR (o.modified = ")
                    .text(key)
                    .push(" AND o.pk > ")
                    .int(pk)
                    .push("))"),
            };
        }
        q.push(match lq.sort {
            Sort::NewestFirst => " ORDER BY o.pk DESC",
            Sort::OldestFirst => " ORDER BY o.pk ASC",
            Sort::ModifiedDesc => " ORDER BY o.modified DESC, o.pk DESC",
            Sort::ModifiedAsc => " ORDER BY o.modified ASC, o.pk ASC",
        });
        q.push(" LIMIT ").int(i64::from(limit) + 1);
        let rows = q.fetch_all(self).await?;
        let mut objs = rows.into_iter().map(row).collect::<Result<Vec<_>>>()?;
        let more = objs.len() > limit as usize;
        objs.truncate(limit as usize);
        let next = if more {
            objs.last().map(|o| encode_cursor(&o.modified, o.pk))
        } else {
            None
        };
        Ok(ObjectPage {
            objects: self.finish(viewer, objs).await?,
            next,
        })
    }

    /// How many latest versions `viewer` may read under `filter`.
    pub async fn count_objects(&self, viewer: &Viewer, filter: &ObjectFilter) -> Result<i64> {
        let scope = ReadScope::for_viewer(viewer);
        let mut q = select_latest("COUNT(*)", filter);
        push_scope(&mut q, &scope);
        push_filter(&mut q, filter, &scope);
        let r = q.fetch_one(self).await?;
        r.try_get(0)
    }

    /// Counts per TLP level of what `viewer` may read, for dashboards.
    pub async fn count_by_tlp(&self, viewer: &Viewer) -> Result<Vec<(Tlp, i64)>> {
        // One pass in primary-key order, counting each level as it goes: a `GROUP BY o.tlp`
        // walks the rows in TLP order instead and took twice as long at 1M objects on SQLite.
        let scope = ReadScope::for_viewer(viewer);
        let mut q = Sql::new("SELECT ");
        for (i, t) in Tlp::ALL.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("COUNT(CASE WHEN o.tlp = ")
                .text(t.as_str())
                .push(" THEN 1 END)");
        }
        q.push(" FROM objects o WHERE o.is_latest = 1 AND ");
        push_scope(&mut q, &scope);
        let r = q.fetch_one(self).await?;
        let mut out: Vec<(Tlp, i64)> = Vec::new();
        for (i, t) in Tlp::ALL.iter().enumerate() {
            let n: i64 = r.try_get(i)?;
            if n > 0 {
                out.push((*t, n));
            }
        }
        out.sort_by_key(|(t, _)| std::cmp::Reverse(t.breadth()));
        Ok(out)
    }

    /// Whether any version of `stix_id` exists, whoever may read it. Used only to tell a denied
    /// read (audited) from a missing object; the answer never reaches the caller.
    pub async fn object_exists(&self, stix_id: &str) -> Result<bool> {
        let r = Sql::new("SELECT 1 FROM objects WHERE stix_id = ")
            .text(stix_id)
            .push(" LIMIT 1")
            .fetch_optional(self)
            .await?;
        Ok(r.is_some())
    }

    /// The number of stored versions, all audiences together. Used only for operational
    /// figures that reveal no content (benchmarks, health).
    pub async fn version_count(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM objects")
            .fetch_one(&self.read)
            .await?;
        Ok(n)
    }
}

fn encode_cursor(modified: &str, pk: i64) -> String {
    format!("{pk}.{modified}")
}

fn decode_cursor(c: &str) -> Result<(String, i64)> {
    let bad = || StoreError::Invalid("the cursor is not one this server issued".into());
    let (pk, key) = c.split_once('.').ok_or_else(bad)?;
    let pk: i64 = pk.parse().map_err(|_| bad())?;
    if key.len() > MODIFIED_MAX {
        return Err(bad());
    }
    Ok((key.to_owned(), pk))
}

/// Where [`Store::insert_objects`] stored one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    pub pk: i64,
    /// Microseconds since the Unix epoch, as every stored `date_added`.
    pub date_added: i64,
}

/// One `insert_objects` request waiting for the writer task.
pub(crate) struct InsertJob {
    objects: Vec<NewObject>,
    audit: AuditEntry,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Inserted>>>,
}

/// Most requests one group commit takes.
const GROUP_MAX: usize = 256;

/// The writer task: group commit of `insert_objects` requests (see there).
pub(crate) async fn writer_loop(store: Store, mut rx: tokio::sync::mpsc::Receiver<InsertJob>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let results = match run_group(&store, &jobs).await {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, requests = jobs.len(), "group commit failed");
                let msg = e.to_string();
                jobs.iter()
                    .map(|_| Err(StoreError::Unavailable(msg.clone())))
                    .collect()
            }
        };
        for (job, r) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(r);
        }
    }
}

/// Runs every job in its own savepoint of one transaction. An error in a job rolls back its
/// savepoint only; an error of the transaction itself fails the whole group.
async fn run_group(store: &Store, jobs: &[InsertJob]) -> Result<Vec<Result<Vec<Inserted>>>> {
    let mut tx = store.begin_write().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        sqlx::query("SAVEPOINT insert_job")
            .execute(&mut *tx)
            .await?;
        match insert_first_versions(&mut tx, &job.objects, &job.audit).await {
            Ok(pks) => {
                sqlx::query("RELEASE SAVEPOINT insert_job")
                    .execute(&mut *tx)
                    .await?;
                results.push(Ok(pks));
            }
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT insert_job")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("RELEASE SAVEPOINT insert_job")
                    .execute(&mut *tx)
                    .await?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn insert_first_versions(
    conn: &mut AnyConnection,
    objects: &[NewObject],
    audit: &AuditEntry,
) -> Result<Vec<Inserted>> {
    let mut date_added = next_date_added(conn).await?;
    let mut pks = Vec::with_capacity(objects.len());
    for o in objects {
        if latest_in(conn, &o.stix_id).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "{} already exists; post a new version to change it",
                o.stix_id
            )));
        }
        pks.push(Inserted {
            pk: insert_version(conn, o, date_added).await?,
            date_added,
        });
        date_added += 1;
    }
    let detail = match objects {
        [one] => format!("{} {}", one.stix_id, one.access.tlp),
        many => format!("{} objects", many.len()),
    };
    append(conn, &audit.clone().detail(detail)).await?;
    Ok(pks)
}
