//! Web sessions and API keys. Only hashes of their secrets are stored: a copy of the database
//! gives no one a working session or key.

use std::collections::BTreeSet;

use crate::audit::{AuditEntry, append};
use crate::directory::{ORG_COLUMNS, USER_COLUMNS, org_row, user_row};
use crate::sql::{self, Sql};
use crate::{Org, Result, Store, StoreError, User, new_id, now_micros, required_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    pub csrf: String,
    /// The password was right but the second factor is still owed.
    pub mfa_pending: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The non-secret start of the token, shown so a user can tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn session_row(r: &sql::Row) -> Result<Session> {
    Ok(Session {
        token_hash: r.try_get(0)?,
        user_id: r.try_get(1)?,
        csrf: r.try_get(2)?,
        mfa_pending: r.try_get::<i64>(3)? != 0,
        created_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
    })
}

fn key_row(r: &sql::Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        name: r.try_get(2)?,
        prefix: r.try_get(3)?,
        created_at: r.try_get(4)?,
        last_used_at: r.try_get(5)?,
        revoked_at: r.try_get(6)?,
    })
}

const KEY_COLUMNS: &str = "id, user_id, name, prefix, created_at, last_used_at, revoked_at";
const SESSION_COLUMNS: &str = "token_hash, user_id, csrf, mfa_pending, created_at, last_seen_at";

/// `columns` (`a, b, …`) of the table aliased `alias`.
fn of(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An unrevoked API key with what authenticating by it needs: its user, the user's org and the
/// org's sharing groups ([`Store::api_key_holder`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    pub key: ApiKey,
    pub user: User,
    pub org: Org,
    pub groups: BTreeSet<String>,
}

/// A session with its user, the user's org and the org's sharing groups
/// ([`Store::session_holder`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHolder {
    pub session: Session,
    pub user: User,
    pub org: Org,
    pub groups: BTreeSet<String>,
}

impl Store {
    pub async fn create_session(&self, s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf, mfa_pending, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.token_hash.clone())
        .bind(s.user_id.clone())
        .bind(s.csrf.clone())
        .bind(i64::from(s.mfa_pending))
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let r = Sql::new(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = "
        ))
        .text(token_hash)
        .fetch_optional(self)
        .await?;
        r.as_ref().map(session_row).transpose()
    }

    /// [`Store::session`] with the session's user, org and the org's groups, read together.
    pub async fn session_holder(&self, token_hash: &str) -> Result<Option<SessionHolder>> {
        let Some((session, user, org, groups)) = self
            .held_by(SESSION_COLUMNS, "sessions", "", token_hash)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(SessionHolder {
            session: session_row(&session)?,
            user,
            org,
            groups,
        }))
    }

    pub async fn touch_session(&self, token_hash: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(at)
            .bind(token_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn complete_mfa(&self, token_hash: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET mfa_pending = 0 WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Stores a new API key by the hash of its token.
    pub async fn create_api_key(
        &self,
        user: &str,
        name: &str,
        prefix: &str,
        token_hash: &str,
        audit: AuditEntry,
    ) -> Result<ApiKey> {
        required_text("key name", name, isac_model::limits::NAME_CHARS)?;
        let mut tx = self.begin_write().await?;
        let k = ApiKey {
            id: new_id(),
            user_id: user.to_owned(),
            name: name.trim().to_owned(),
            prefix: prefix.to_owned(),
            created_at: now_micros(),
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(k.id.clone())
        .bind(k.user_id.clone())
        .bind(k.name.clone())
        .bind(k.prefix.clone())
        .bind(token_hash.to_owned())
        .bind(k.created_at)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &audit.detail(format!("api key {} ({})", k.name, k.prefix)),
        )
        .await?;
        tx.commit().await?;
        Ok(k)
    }

    pub async fn api_keys(&self, user: &str) -> Result<Vec<ApiKey>> {
        let rows = Sql::new(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = "
        ))
        .text(user)
        .push(" ORDER BY created_at DESC")
        .fetch_all(self)
        .await?;
        rows.iter().map(key_row).collect()
    }

    pub async fn api_key(&self, id: &str) -> Result<ApiKey> {
        let r = Sql::new(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = "))
            .text(id)
            .fetch_optional(self)
            .await?
            .ok_or(StoreError::NotFound("API key"))?;
        key_row(&r)
    }

    pub async fn revoke_api_key(&self, id: &str, audit: AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_micros())
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("active API key"));
        }
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live key with this token hash, after recording its use.
    pub async fn use_api_key(&self, token_hash: &str) -> Result<Option<ApiKey>> {
        let r = Sql::new(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = "
        ))
        .text(token_hash)
        .push(" AND revoked_at IS NULL")
        .fetch_optional(self)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let key = key_row(&r)?;
        self.key_used(&key).await?;
        Ok(Some(key))
    }

    /// [`Store::use_api_key`] with the key's user, org and the org's groups, read together in
    /// one read (two statements in one transaction on SQLite) rather than one after another.
    pub async fn api_key_holder(&self, token_hash: &str) -> Result<Option<KeyHolder>> {
        let Some((key, user, org, groups)) = self
            .held_by(
                KEY_COLUMNS,
                "api_keys",
                " AND k.revoked_at IS NULL",
                token_hash,
            )
            .await?
        else {
            return Ok(None);
        };
        let holder = KeyHolder {
            key: key_row(&key)?,
            user,
            org,
            groups,
        };
        self.key_used(&holder.key).await?;
        Ok(Some(holder))
    }

    /// The row of `table` (aliased `k`, with `columns` and a `user_id`) whose `token_hash` is
    /// `token_hash` and which meets `also`, with its user, the user's org and the org's groups.
    async fn held_by(
        &self,
        columns: &str,
        table: &str,
        also: &str,
        token_hash: &str,
    ) -> Result<Option<(sql::Row, User, Org, BTreeSet<String>)>> {
        let mut holder = Sql::new(&format!(
            "SELECT {}, {}, {} FROM {table} k JOIN users u ON u.id = k.user_id \
             JOIN orgs o ON o.id = u.org_id WHERE k.token_hash = ",
            of("k", columns),
            of("u", USER_COLUMNS),
            of("o", ORG_COLUMNS)
        ));
        holder.text(token_hash).push(also);
        let mut groups = Sql::new(&format!(
            "SELECT m.group_id FROM group_members m JOIN users u ON u.org_id = m.org_id \
             JOIN {table} k ON k.user_id = u.id WHERE k.token_hash = "
        ));
        groups.text(token_hash).push(also);
        let mut read = Sql::fetch_each(self, &[&holder, &groups])
            .await?
            .into_iter();
        let Some(r) = read.next().unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let (first, rest) = r.split(columns.split(", ").count());
        let (user, org) = rest.split(USER_COLUMNS.split(", ").count());
        let groups = read
            .next()
            .unwrap_or_default()
            .iter()
            .map(|r| r.try_get::<String>(0))
            .collect::<Result<_>>()?;
        Ok(Some((first, user_row(&user)?, org_row(&org)?, groups)))
    }

    /// Records that `key` was used. Last-used time is advisory: rounded to the minute so a busy
    /// client does not turn every request into a write.
    async fn key_used(&self, key: &ApiKey) -> Result<()> {
        let now = now_micros();
        if key.last_used_at.is_none_or(|t| now - t > 60_000_000) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(key.id.clone())
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }
}
