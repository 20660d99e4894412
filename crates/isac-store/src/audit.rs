//! The append-only, hash-chained audit log. Each record's hash covers the previous record's hash
//! and every field of its own, so altering, inserting or deleting any row breaks the chain at
//! that row. Triggers refuse UPDATE and DELETE; the chain catches anyone who bypasses them.

use sha2::{Digest, Sha256};
use sqlx::{Any, AnyConnection, Row};

use crate::{Result, Store, now_micros};

/// The outcome recorded for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// What is to be recorded: who, from where, what, on what, with what outcome.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor_user: Option<String>,
    pub actor_org: Option<String>,
    /// Where the request came from: a client address, or `cli`.
    pub source: String,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl AuditEntry {
    pub fn new(action: impl Into<String>, target: impl Into<String>) -> AuditEntry {
        AuditEntry {
            actor_user: None,
            actor_org: None,
            source: "cli".into(),
            action: action.into(),
            target: target.into(),
            outcome: Outcome::Ok,
            detail: String::new(),
        }
    }

    pub fn by(mut self, user: Option<&str>, org: Option<&str>) -> AuditEntry {
        self.actor_user = user.map(str::to_owned);
        self.actor_org = org.map(str::to_owned);
        self
    }

    pub fn from_source(mut self, source: impl Into<String>) -> AuditEntry {
        self.source = source.into();
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> AuditEntry {
        self.outcome = outcome;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> AuditEntry {
        self.detail = detail.into();
        self
    }
}

/// One stored audit record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: i64,
    pub actor_user: Option<String>,
    pub actor_org: Option<String>,
    pub source: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    /// The sequence number of the first record whose link does not hold.
    pub first_broken: Option<i64>,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
fn link_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor_user: Option<&str>,
    actor_org: Option<&str>,
    source: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
) -> String {
    // A JSON array is an unambiguous encoding of the fields, whatever characters they contain.
    let fields = serde_json::json!([
        seq, at, actor_user, actor_org, source, action, target, outcome, detail
    ]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(fields.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Appends `e` inside the caller's write transaction.
pub(crate) async fn append(conn: &mut AnyConnection, e: &AuditEntry) -> Result<i64> {
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev) = match last {
        Some(r) => (r.try_get::<i64, _>(0)? + 1, r.try_get::<String, _>(1)?),
        None => (1, GENESIS.to_owned()),
    };
    let at = now_micros();
    let hash = link_hash(
        &prev,
        seq,
        at,
        e.actor_user.as_deref(),
        e.actor_org.as_deref(),
        &e.source,
        &e.action,
        &e.target,
        e.outcome.as_str(),
        &e.detail,
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_user, actor_org, source, action, target, outcome, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(seq)
    .bind(at)
    .bind(e.actor_user.clone())
    .bind(e.actor_org.clone())
    .bind(e.source.clone())
    .bind(e.action.clone())
    .bind(e.target.clone())
    .bind(e.outcome.as_str())
    .bind(e.detail.clone())
    .bind(prev)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

fn record(r: &<Any as sqlx::Database>::Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        actor_user: r.try_get(2)?,
        actor_org: r.try_get(3)?,
        source: r.try_get(4)?,
        action: r.try_get(5)?,
        target: r.try_get(6)?,
        outcome: r.try_get(7)?,
        detail: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
        hash: r.try_get(10)?,
    })
}

const COLUMNS: &str =
    "seq, at, actor_user, actor_org, source, action, target, outcome, detail, prev_hash, hash";

impl Store {
    /// Records an event that changes nothing else (a login, a denied access).
    pub async fn audit(&self, e: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let seq = append(&mut tx, e).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// The newest records, at most `limit`, older than `before` when given.
    pub async fn audit_page(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Walks the whole chain in order and reports the first record whose link does not hold.
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        let mut prev = GENESIS.to_owned();
        let mut expected_seq = 1i64;
        let mut records = 0u64;
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000"
            ))
            .bind(after)
            .fetch_all(&self.read)
            .await?;
            if rows.is_empty() {
                return Ok(VerifyReport {
                    records,
                    first_broken: None,
                });
            }
            for r in &rows {
                let a = record(r)?;
                let want = link_hash(
                    &prev,
                    a.seq,
                    a.at,
                    a.actor_user.as_deref(),
                    a.actor_org.as_deref(),
                    &a.source,
                    &a.action,
                    &a.target,
                    &a.outcome,
                    &a.detail,
                );
                if a.seq != expected_seq || a.prev_hash != prev || a.hash != want {
                    return Ok(VerifyReport {
                        records,
                        first_broken: Some(a.seq.min(expected_seq)),
                    });
                }
                records += 1;
                prev = a.hash;
                expected_seq += 1;
                after = a.seq;
            }
        }
    }
}
