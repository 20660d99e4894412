//! Storage for the TAXII 2.1 server: collection listings with TAXII's filters, paged by the
//! primary key (which grows with `date_added`); the directory entries (org identities) a viewer
//! may read; submission status resources; and deletion of object versions.
//!
//! Every listing is filtered in SQL by the viewer's [`ReadScope`] (the same filter the REST
//! listings use) and every row is re-checked with the policy before it leaves the store.

use std::collections::BTreeSet;

use isac_model::{OrgKind, Tlp};
use isac_policy::{Access, ReadScope, Viewer, can_read};
use sqlx::Row;

use crate::audit::{AuditEntry, append};
use crate::objects::{COLUMNS, push_scope, row};
use crate::sql::Sql;
use crate::{Org, Result, Store, StoreError, StoredObject, now_micros};

/// How long a status resource is kept: TAXII asks for at least 24 hours.
pub const STATUS_RETENTION_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

/// Most values one `match[...]` filter may list.
pub const MATCH_VALUES_MAX: usize = 100;

/// Which versions of each object a listing returns (TAXII `match[version]`). Several are ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSel {
    /// The earliest version of the object.
    First,
    /// The current version (the default).
    Last,
    /// Every version.
    All,
    /// The version with this `modified`, in the stored fixed-width form.
    At(String),
}

/// One TAXII listing: the collection's narrowing (`tlp`, `group`), the client's filters and the
/// page position. Every condition narrows the viewer's read scope; none widens it.
#[derive(Debug, Clone, Default)]
pub struct TaxiiQuery {
    /// Only this object (the object and versions endpoints).
    pub stix_id: Option<String>,
    /// `match[id]`: any of these ids.
    pub ids: Vec<String>,
    /// `match[type]`: any of these types.
    pub types: Vec<String>,
    /// `match[version]`; empty means the current version only.
    pub versions: Vec<VersionSel>,
    /// Only objects at this TLP (the public collection: CLEAR).
    pub tlp: Option<Tlp>,
    /// Only objects whose audience names this sharing group.
    pub group: Option<String>,
    /// Only objects owned by this org.
    pub owner_org: Option<String>,
    /// `added_after`, unix microseconds: strictly later.
    pub added_after: Option<i64>,
    /// Page position: only rows added at or after this instant, unix microseconds.
    pub from_date: Option<i64>,
    /// Page position: only rows after this primary key.
    pub after_pk: Option<i64>,
    pub limit: u32,
}

/// A page of a TAXII listing, oldest `date_added` first.
#[derive(Debug, Clone)]
pub struct TaxiiPage {
    pub objects: Vec<StoredObject>,
    /// Whether rows past this page matched the query (some may still be refused by the re-check).
    pub more: bool,
    /// `date_added` and `pk` of the last row the page read, before the re-check: where the next
    /// page starts even when the re-check left that row (or every row) out.
    pub last_read: Option<(i64, i64)>,
}

/// A stored TAXII status resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiStatus {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub created_at: i64,
    /// The status resource, JSON.
    pub body: String,
}

/// The access of an org's STIX identity: the operator's is CLEAR; a member's is GREEN, as the
/// membership of the community is known to its members; a partner's or vendor's is AMBER with no
/// recipients, so that only the org itself and the operator read it.
pub fn identity_access(org: &Org) -> Access {
    let tlp = match org.kind {
        OrgKind::Operator => Tlp::Clear,
        OrgKind::Member => Tlp::Green,
        OrgKind::Partner | OrgKind::Vendor => Tlp::Amber,
    };
    Access {
        tlp,
        owner_org: org.id.clone(),
        author: String::new(),
        recipient_orgs: BTreeSet::new(),
        recipient_groups: BTreeSet::new(),
        named_users: BTreeSet::new(),
    }
}

fn push_in(q: &mut Sql, column: &str, values: &[String]) {
    q.push(&format!(" AND {column} IN ("));
    q.texts(values.iter().map(String::as_str));
    q.push(")");
}

/// The version selection of a TAXII query. `by_id`: the query also selects ids, so the latest
/// version is asked for as `+o.is_latest` and SQLite looks the ids up (`objects::LATEST_BY_ID`).
fn push_versions(q: &mut Sql, versions: &[VersionSel], by_id: bool) {
    let latest = if by_id {
        "+o.is_latest = 1"
    } else {
        "o.is_latest = 1"
    };
    if versions.is_empty() || versions == [VersionSel::Last] {
        q.push(" AND ").push(latest);
        return;
    }
    if versions.contains(&VersionSel::All) {
        return;
    }
    q.push(" AND (");
    for (i, v) in versions.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        match v {
            VersionSel::Last => {
                q.push(latest);
            }
            VersionSel::First => {
                q.push("NOT EXISTS (SELECT 1 FROM objects f WHERE f.stix_id = o.stix_id AND f.modified < o.modified)");
            }
            VersionSel::At(m) => {
                q.push("o.modified = ").text(m.clone());
            }
            VersionSel::All => unreachable!("handled above"),
        }
    }
    q.push(")");
}

/// The conditions of a TAXII listing: the viewer's read scope, then every narrowing of `q` but
/// its page position.
fn push_query(s: &mut Sql, viewer: &Viewer, q: &TaxiiQuery) {
    push_scope(s, &ReadScope::for_viewer(viewer));
    push_versions(s, &q.versions, q.stix_id.is_some() || !q.ids.is_empty());
    if let Some(id) = &q.stix_id {
        s.push(" AND o.stix_id = ").text(id.clone());
    }
    if !q.ids.is_empty() {
        push_in(s, "o.stix_id", &q.ids);
    }
    if !q.types.is_empty() {
        push_in(s, "o.stix_type", &q.types);
    }
    if let Some(t) = q.tlp {
        s.push(" AND o.tlp = ").text(t.as_str());
    }
    if let Some(g) = &q.group {
        s.push(" AND EXISTS (SELECT 1 FROM object_recipients g WHERE g.object_pk = o.pk AND g.kind = 'group' AND g.ref_id = ")
            .text(g.clone())
            .push(")");
    }
    if let Some(org) = &q.owner_org {
        s.push(" AND o.owner_org = ").text(org.clone());
    }
}

impl Store {
    /// A page of the objects `viewer` may read that match `q`, oldest `date_added` first.
    pub async fn taxii_objects(&self, viewer: &Viewer, q: &TaxiiQuery) -> Result<TaxiiPage> {
        let limit = q.limit.clamp(1, 1000);
        let too_many = |n: usize| n > MATCH_VALUES_MAX;
        if too_many(q.ids.len()) || too_many(q.types.len()) || too_many(q.versions.len()) {
            return Err(StoreError::Invalid(format!(
                "a filter lists more than {MATCH_VALUES_MAX} values"
            )));
        }
        // `date_added` grows with the primary key, so a date bound is a key bound, found through
        // the date_added index.
        let lower_date = match (q.added_after, q.from_date) {
            (Some(a), Some(f)) => Some((a + 1).max(f)),
            (Some(a), None) => Some(a + 1),
            (None, Some(f)) => Some(f),
            (None, None) => None,
        };
        let mut min_pk = q.after_pk.map(|p| p + 1);
        if let Some(d) = lower_date {
            let first = Sql::new("SELECT pk FROM objects WHERE date_added >= ")
                .int(d)
                .push(" ORDER BY date_added LIMIT 1")
                .fetch_optional(self)
                .await?;
            let Some(first) = first else {
                return Ok(TaxiiPage {
                    objects: Vec::new(),
                    more: false,
                    last_read: None,
                });
            };
            let pk: i64 = first.try_get(0)?;
            min_pk = Some(min_pk.map_or(pk, |m| m.max(pk)));
        }
        let mut s = Sql::new(&format!("SELECT {COLUMNS} FROM objects o WHERE "));
        push_query(&mut s, viewer, q);
        if let Some(p) = min_pk {
            s.push(" AND o.pk >= ").int(p);
        }
        s.push(" ORDER BY o.pk LIMIT ").int(i64::from(limit) + 1);
        let rows = s.fetch_all(self).await?;
        let mut objs = rows.into_iter().map(row).collect::<Result<Vec<_>>>()?;
        let more = objs.len() > limit as usize;
        objs.truncate(limit as usize);
        let last_read = objs.last().map(|o| (o.date_added, o.pk));
        Ok(TaxiiPage {
            objects: self.finish(viewer, objs).await?,
            more,
            last_read,
        })
    }

    /// For each collection that a query of `collections` narrows to (its `tlp`, `group` and
    /// `owner_org`; the client's filters and page position are ignored): how many current
    /// versions `viewer` may read in it, and when the newest of them was added (unix
    /// microseconds). These are the figures of the web page that lists the TAXII collections.
    /// The same scope and narrowing as [`Store::taxii_objects`], so each count is that of the
    /// objects a full read of the collection returns (directory entries aside, which the caller
    /// adds). The collections narrowed by TLP alone (or not at all) are counted in one pass over
    /// the current versions; a group's collection from the group's recipient rows (their index),
    /// and an org's from the owner index.
    pub async fn taxii_collection_summaries(
        &self,
        viewer: &Viewer,
        collections: &[TaxiiQuery],
    ) -> Result<Vec<(i64, Option<i64>)>> {
        let scope = ReadScope::for_viewer(viewer);
        let mut out = vec![(0, None); collections.len()];
        let (wide, narrow): (Vec<_>, Vec<_>) = collections
            .iter()
            .enumerate()
            .partition(|(_, q)| q.group.is_none() && q.owner_org.is_none());
        if !wide.is_empty() {
            let mut s = Sql::new("SELECT ");
            for (n, (_, q)) in wide.iter().enumerate() {
                if n > 0 {
                    s.push(", ");
                }
                match q.tlp {
                    Some(t) => {
                        s.push("COUNT(CASE WHEN o.tlp = ")
                            .text(t.as_str())
                            .push(" THEN 1 END), MAX(CASE WHEN o.tlp = ")
                            .text(t.as_str())
                            .push(" THEN o.date_added END)");
                    }
                    None => {
                        s.push("COUNT(*), MAX(o.date_added)");
                    }
                }
            }
            s.push(" FROM objects o WHERE ");
            push_scope(&mut s, &scope);
            push_versions(&mut s, &[], false);
            let r = s.fetch_one(self).await?;
            for (n, (i, _)) in wide.iter().enumerate() {
                out[*i] = (r.try_get(2 * n)?, r.try_get(2 * n + 1)?);
            }
        }
        for (i, q) in narrow {
            let mut s = Sql::new("SELECT COUNT(*), MAX(o.date_added) FROM objects o WHERE ");
            push_scope(&mut s, &scope);
            push_versions(&mut s, &[], false);
            if let Some(t) = q.tlp {
                s.push(" AND o.tlp = ").text(t.as_str());
            }
            if let Some(g) = &q.group {
                s.push(
                    " AND o.pk IN (SELECT g.object_pk FROM object_recipients g WHERE g.ref_id = ",
                )
                .text(g.clone())
                .push(" AND g.kind = 'group')");
            }
            if let Some(org) = &q.owner_org {
                s.push(" AND o.owner_org = ").text(org.clone());
            }
            let r = s.fetch_one(self).await?;
            out[i] = (r.try_get(0)?, r.try_get(1)?);
        }
        Ok(out)
    }

    /// The orgs whose STIX identity `viewer` may read (see [`identity_access`]), oldest first.
    pub async fn taxii_identities(&self, viewer: &Viewer) -> Result<Vec<(Org, Access)>> {
        let mut out: Vec<(Org, Access)> = self
            .orgs()
            .await?
            .into_iter()
            .map(|o| {
                let a = identity_access(&o);
                (o, a)
            })
            .filter(|(_, a)| can_read(viewer, a))
            .collect();
        out.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
        Ok(out)
    }

    /// Whether the version of `stix_id` modified at `modified` (stored form) is stored, whoever
    /// may read it. Used only to recognise a resubmitted version.
    pub async fn version_exists(&self, stix_id: &str, modified: &str) -> Result<bool> {
        let r = Sql::new("SELECT 1 FROM objects WHERE stix_id = ")
            .text(stix_id)
            .push(" AND modified = ")
            .text(modified)
            .fetch_optional(self)
            .await?;
        Ok(r.is_some())
    }

    /// Every stored version, as `(stix_id, modified)`, of the ids in `stix_ids`, whoever may
    /// read them: one query per 500 ids. Used only to recognise resubmitted versions and to tell
    /// a submission of an object the caller may not read from a new object, as
    /// [`Store::version_exists`] and [`Store::object_exists`] do one id at a time; the answer
    /// never reaches the caller.
    pub async fn stored_versions(&self, stix_ids: &[String]) -> Result<BTreeSet<(String, String)>> {
        let ids: BTreeSet<&String> = stix_ids.iter().collect();
        let ids: Vec<&String> = ids.into_iter().collect();
        let mut out = BTreeSet::new();
        for batch in ids.chunks(crate::objects::BY_ID_BATCH) {
            let mut q = Sql::new("SELECT stix_id, modified FROM objects WHERE stix_id IN (");
            q.texts(batch.iter().map(|id| id.as_str()));
            q.push(")");
            for r in q.fetch_all(self).await? {
                out.insert((r.try_get(0)?, r.try_get(1)?));
            }
        }
        Ok(out)
    }

    /// Stores a status resource, and purges those past [`STATUS_RETENTION_MICROS`].
    pub async fn save_taxii_status(&self, s: &TaxiiStatus, audit: AuditEntry) -> Result<()> {
        crate::required_text("status id", &s.id, 64)?;
        let mut tx = self.begin_write().await?;
        write_status(&mut tx, s, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A status resource, if still kept.
    pub async fn taxii_status(&self, id: &str) -> Result<Option<TaxiiStatus>> {
        let r =
            Sql::new("SELECT id, org_id, user_id, created_at, body FROM taxii_status WHERE id = ")
                .text(id)
                .fetch_optional(self)
                .await?;
        r.map(|r| {
            Ok(TaxiiStatus {
                id: r.try_get(0)?,
                org_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                created_at: r.try_get(3)?,
                body: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Deletes the versions `pks` of `stix_id`, which must all be owned by `owner_org` (checked
    /// again under the write lock). When the current version goes, the latest remaining version
    /// becomes current. Returns how many versions were deleted.
    pub async fn delete_object_versions(
        &self,
        stix_id: &str,
        owner_org: &str,
        pks: &[i64],
        audit: AuditEntry,
    ) -> Result<usize> {
        if pks.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT pk, owner_org, is_latest, modified FROM objects WHERE stix_id = $1 ORDER BY pk",
        )
        .bind(stix_id.to_owned())
        .fetch_all(&mut *tx)
        .await?;
        let mut versions: Vec<(i64, String, bool, String)> = Vec::with_capacity(rows.len());
        for r in &rows {
            versions.push((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get::<i64, _>(2)? != 0,
                r.try_get(3)?,
            ));
        }
        let wanted: BTreeSet<i64> = pks.iter().copied().collect();
        let doomed: Vec<&(i64, String, bool, String)> =
            versions.iter().filter(|v| wanted.contains(&v.0)).collect();
        if doomed.len() != wanted.len() {
            return Err(StoreError::NotFound("object version"));
        }
        if versions.iter().any(|v| v.1 != owner_org) {
            return Err(StoreError::Invalid(
                "only the owner org may delete an object".into(),
            ));
        }
        let latest_goes = doomed.iter().any(|v| v.2);
        for v in &doomed {
            for table in ["object_values", "object_recipients", "object_ends"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE object_pk = $1"))
                    .bind(v.0)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM objects WHERE pk = $1")
                .bind(v.0)
                .execute(&mut *tx)
                .await?;
        }
        if latest_goes
            && let Some(next) = versions
                .iter()
                .filter(|v| !wanted.contains(&v.0))
                .max_by(|a, b| (&a.3, a.0).cmp(&(&b.3, b.0)))
        {
            sqlx::query("UPDATE objects SET is_latest = 1 WHERE pk = $1")
                .bind(next.0)
                .execute(&mut *tx)
                .await?;
        }
        let detail = doomed
            .iter()
            .map(|v| v.3.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        append(
            &mut tx,
            &audit.detail(format!("{stix_id} {} version(s): {detail}", doomed.len())),
        )
        .await?;
        tx.commit().await?;
        Ok(doomed.len())
    }
}

/// Purges the status resources past [`STATUS_RETENTION_MICROS`] and stores `s` with its audit
/// record, in the caller's transaction.
async fn write_status(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    s: &TaxiiStatus,
    audit: &AuditEntry,
) -> Result<()> {
    sqlx::query("DELETE FROM taxii_status WHERE created_at < $1")
        .bind(now_micros() - STATUS_RETENTION_MICROS)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO taxii_status (id, org_id, user_id, created_at, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.id.clone())
    .bind(s.org_id.clone())
    .bind(s.user_id.clone())
    .bind(s.created_at)
    .bind(s.body.clone())
    .execute(&mut **tx)
    .await?;
    append(tx, audit).await?;
    Ok(())
}

impl crate::ImportSession {
    /// Stores a status resource in the session's open transaction (opening one if none is), so
    /// that it commits with the objects it reports, or not at all: a TAXII POST holds its
    /// session, imports the envelope, saves the status this way and then commits. Nothing is
    /// committed here.
    pub async fn save_taxii_status(&mut self, s: &TaxiiStatus, audit: AuditEntry) -> Result<()> {
        crate::required_text("status id", &s.id, 64)?;
        let tx = self.transaction().await?;
        if let Err(e) = write_status(tx, s, &audit).await {
            self.rollback();
            return Err(e);
        }
        Ok(())
    }
}
