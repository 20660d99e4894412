//! Membership: organisations, users, sharing groups and membership applications.

use std::collections::BTreeSet;

use isac_model::limits::{DISPLAY_NAME_CHARS, NAME_CHARS, TEXT_CHARS};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp};
use sqlx::{Any, AnyConnection, Row};

use crate::audit::{AuditEntry, append};
use crate::sql::{self, Sql};
use crate::{
    Result, Store, StoreError, email, new_id, now_micros, optional_text, parse_enum, required_text,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: String,
    pub kind: OrgKind,
    pub sector: Option<Sector>,
    pub name_en: String,
    pub name_zh: String,
    pub partner_ceiling: Option<Tlp>,
    pub require_totp: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewOrg {
    pub kind: OrgKind,
    pub sector: Option<Sector>,
    pub name_en: String,
    pub name_zh: String,
    pub partner_ceiling: Option<Tlp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub locale: Locale,
    pub role: Role,
    pub enabled: bool,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub locale: Locale,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub members: BTreeSet<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub name_en: String,
    pub name_zh: String,
    pub sector: Sector,
    pub contact_name: String,
    pub contact_email: String,
    pub motivation: String,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub org_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub name_en: String,
    pub name_zh: String,
    pub sector: Sector,
    pub contact_name: String,
    pub contact_email: String,
    pub motivation: String,
}

/// An operator admin's decision on an application. Approval creates the org and its first
/// `member-admin` user in the same transaction.
#[derive(Debug, Clone)]
pub enum ApplicationDecision {
    Approve {
        admin_password_hash: Option<String>,
        locale: Locale,
    },
    Reject,
}

pub(crate) const ORG_COLUMNS: &str =
    "id, kind, sector, name_en, name_zh, partner_ceiling, require_totp, created_at";
pub(crate) const USER_COLUMNS: &str = "id, org_id, email, display_name, locale, role, enabled, password_hash, totp_secret, failed_logins, locked_until, created_at";
const APP_COLUMNS: &str = "id, name_en, name_zh, sector, contact_name, contact_email, motivation, status, decided_by, decided_at, org_id, created_at";

/// Every org, in the directory's order.
pub(crate) fn orgs_sql() -> Sql {
    Sql::new(&format!(
        "SELECT {ORG_COLUMNS} FROM orgs ORDER BY kind, name_en"
    ))
}

pub(crate) fn org_row(r: &sql::Row) -> Result<Org> {
    let sector: Option<String> = r.try_get(2)?;
    let ceiling: Option<String> = r.try_get(5)?;
    Ok(Org {
        id: r.try_get(0)?,
        kind: parse_enum("org kind", &r.try_get::<String>(1)?)?,
        sector: sector.map(|s| parse_enum("sector", &s)).transpose()?,
        name_en: r.try_get(3)?,
        name_zh: r.try_get(4)?,
        partner_ceiling: ceiling.map(|s| parse_enum("TLP", &s)).transpose()?,
        require_totp: r.try_get::<i64>(6)? != 0,
        created_at: r.try_get(7)?,
    })
}

pub(crate) fn user_row(r: &sql::Row) -> Result<User> {
    Ok(User {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        email: r.try_get(2)?,
        display_name: r.try_get(3)?,
        locale: parse_enum("locale", &r.try_get::<String>(4)?)?,
        role: parse_enum("role", &r.try_get::<String>(5)?)?,
        enabled: r.try_get::<i64>(6)? != 0,
        password_hash: r.try_get(7)?,
        totp_secret: r.try_get(8)?,
        failed_logins: r.try_get(9)?,
        locked_until: r.try_get(10)?,
        created_at: r.try_get(11)?,
    })
}

fn app_row(r: &<Any as sqlx::Database>::Row) -> Result<Application> {
    Ok(Application {
        id: r.try_get(0)?,
        name_en: r.try_get(1)?,
        name_zh: r.try_get(2)?,
        sector: parse_enum("sector", &r.try_get::<String, _>(3)?)?,
        contact_name: r.try_get(4)?,
        contact_email: r.try_get(5)?,
        motivation: r.try_get(6)?,
        status: r.try_get(7)?,
        decided_by: r.try_get(8)?,
        decided_at: r.try_get(9)?,
        org_id: r.try_get(10)?,
        created_at: r.try_get(11)?,
    })
}

async fn insert_org(conn: &mut AnyConnection, o: &NewOrg) -> Result<Org> {
    required_text("English name", &o.name_en, NAME_CHARS)?;
    required_text("Chinese name", &o.name_zh, NAME_CHARS)?;
    if o.kind == OrgKind::Member && o.sector.is_none() {
        return Err(StoreError::Invalid("a member org needs a sector".into()));
    }
    if o.kind != OrgKind::Member && o.sector.is_some() {
        return Err(StoreError::Invalid("only member orgs have a sector".into()));
    }
    if o.kind != OrgKind::Partner && o.partner_ceiling.is_some() {
        return Err(StoreError::Invalid(
            "only partner orgs have a TLP ceiling".into(),
        ));
    }
    if o.kind == OrgKind::Operator {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orgs WHERE kind = 'operator'")
            .fetch_one(&mut *conn)
            .await?;
        if n > 0 {
            return Err(StoreError::Conflict(
                "there is already an operator org; there may be only one".into(),
            ));
        }
    }
    let org = Org {
        id: new_id(),
        kind: o.kind,
        sector: o.sector,
        name_en: o.name_en.trim().to_owned(),
        name_zh: o.name_zh.trim().to_owned(),
        partner_ceiling: o.partner_ceiling,
        require_totp: false,
        created_at: now_micros(),
    };
    sqlx::query(&format!(
        "INSERT INTO orgs ({ORG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(org.id.clone())
    .bind(org.kind.as_str())
    .bind(org.sector.map(|s| s.as_str()))
    .bind(org.name_en.clone())
    .bind(org.name_zh.clone())
    .bind(org.partner_ceiling.map(|t| t.as_str()))
    .bind(0i64)
    .bind(org.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("an org named `{}` already exists", org.name_en))
        }
        other => other,
    })?;
    Ok(org)
}

async fn insert_user(conn: &mut AnyConnection, u: &NewUser) -> Result<User> {
    email(&u.email)?;
    optional_text("display name", &u.display_name, DISPLAY_NAME_CHARS)?;
    let org = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1"))
        .bind(u.org_id.clone())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("org"))?;
    let org = org_row(&sql::Row::from_any(&org)?)?;
    if !u.role.allowed_for(org.kind) {
        return Err(StoreError::Invalid(format!(
            "role {} is not available to a {} org",
            u.role, org.kind
        )));
    }
    let user = User {
        id: new_id(),
        org_id: org.id,
        email: u.email.trim().to_lowercase(),
        display_name: u.display_name.trim().to_owned(),
        locale: u.locale,
        role: u.role,
        enabled: true,
        password_hash: u.password_hash.clone(),
        totp_secret: None,
        failed_logins: 0,
        locked_until: None,
        created_at: now_micros(),
    };
    sqlx::query(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(user.id.clone())
    .bind(user.org_id.clone())
    .bind(user.email.clone())
    .bind(user.display_name.clone())
    .bind(user.locale.as_str())
    .bind(user.role.as_str())
    .bind(1i64)
    .bind(user.password_hash.clone())
    .bind(None::<String>)
    .bind(0i64)
    .bind(None::<i64>)
    .bind(user.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("a user with email `{}` already exists", user.email)),
        other => other,
    })?;
    Ok(user)
}

impl Store {
    pub async fn create_org(&self, o: &NewOrg, audit: AuditEntry) -> Result<Org> {
        let mut tx = self.begin_write().await?;
        let org = insert_org(&mut tx, o).await?;
        append(
            &mut tx,
            &audit.detail(format!("org {} ({})", org.name_en, org.kind)),
        )
        .await?;
        tx.commit().await?;
        Ok(org)
    }

    pub async fn org(&self, id: &str) -> Result<Org> {
        let r = Sql::new(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = "))
            .text(id)
            .fetch_optional(self)
            .await?
            .ok_or(StoreError::NotFound("org"))?;
        org_row(&r)
    }

    /// Finds an org by id, English name or Chinese name.
    pub async fn find_org(&self, key: &str) -> Result<Org> {
        let r = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1 OR name_en = $1 OR name_zh = $1 ORDER BY id LIMIT 2"
        ))
        .bind(key.trim().to_owned())
        .fetch_all(&self.read)
        .await?;
        match r.as_slice() {
            [one] => org_row(&sql::Row::from_any(one)?),
            [] => Err(StoreError::NotFound("org")),
            _ => Err(StoreError::Conflict(format!(
                "`{key}` names more than one org; use its id"
            ))),
        }
    }

    pub async fn orgs(&self) -> Result<Vec<Org>> {
        let rows = orgs_sql().fetch_all(self).await?;
        rows.iter().map(org_row).collect()
    }

    pub async fn operator_org(&self) -> Result<Org> {
        let r = Sql::new(&format!(
            "SELECT {ORG_COLUMNS} FROM orgs WHERE kind = 'operator'"
        ))
        .fetch_optional(self)
        .await?
        .ok_or(StoreError::NotFound("operator org"))?;
        org_row(&r)
    }

    pub async fn set_org_require_totp(
        &self,
        org: &str,
        require: bool,
        audit: AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE orgs SET require_totp = $1 WHERE id = $2")
            .bind(i64::from(require))
            .bind(org.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("org"));
        }
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_user(&self, u: &NewUser, audit: AuditEntry) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let user = insert_user(&mut tx, u).await?;
        append(
            &mut tx,
            &audit.detail(format!("user {} role {}", user.email, user.role)),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, id: &str) -> Result<User> {
        let r = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = "))
            .text(id)
            .fetch_optional(self)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_row(&r)
    }

    /// Finds a user by id or email.
    pub async fn find_user(&self, key: &str) -> Result<User> {
        let r = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = "))
            .text(key.trim())
            .push(" OR email = ")
            .text(key.trim().to_lowercase())
            .fetch_optional(self)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_row(&r)
    }

    /// Users of one org, or of every org.
    pub async fn users(&self, org: Option<&str>) -> Result<Vec<User>> {
        let mut q = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users"));
        if let Some(o) = org {
            q.push(" WHERE org_id = ").text(o);
        }
        let rows = q.push(" ORDER BY email").fetch_all(self).await?;
        rows.iter().map(user_row).collect()
    }

    /// The ids of every user, for checking the named users of an audience: one column, not the
    /// whole row of [`Store::users`].
    pub async fn user_ids(&self) -> Result<std::collections::BTreeSet<String>> {
        let rows = Sql::new("SELECT id FROM users").fetch_all(self).await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// Enables or disables a user. Disabling ends every session of the user on the server.
    pub async fn set_user_enabled(
        &self,
        user: &str,
        enabled: bool,
        audit: AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE users SET enabled = $1 WHERE id = $2")
            .bind(i64::from(enabled))
            .bind(user.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if !enabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_user_password(&self, user: &str, hash: &str, audit: AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.to_owned())
            .bind(user.to_owned())
            .execute(&mut *tx)
            .await?;
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_user_totp(
        &self,
        user: &str,
        secret: Option<&str>,
        audit: AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2")
            .bind(secret.map(str::to_owned))
            .bind(user.to_owned())
            .execute(&mut *tx)
            .await?;
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_user_locale(&self, user: &str, locale: Locale) -> Result<()> {
        sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
            .bind(locale.as_str())
            .bind(user.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records a failed login and locks the account for `lock_for` microseconds once `max`
    /// consecutive failures are reached. Returns the new failure count.
    pub async fn record_login_failure(
        &self,
        user: &str,
        max: i64,
        lock_for: i64,
        audit: AuditEntry,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let (n,): (i64,) = sqlx::query_as(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
        )
        .bind(user.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        if n >= max {
            sqlx::query("UPDATE users SET locked_until = $1, failed_logins = 0 WHERE id = $2")
                .bind(now_micros() + lock_for)
                .bind(user.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(n)
    }

    pub async fn clear_login_failures(&self, user: &str) -> Result<()> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(user.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn create_group(
        &self,
        name: &str,
        description: &str,
        audit: AuditEntry,
    ) -> Result<Group> {
        required_text("group name", name, NAME_CHARS)?;
        optional_text("description", description, TEXT_CHARS)?;
        let mut tx = self.begin_write().await?;
        let g = Group {
            id: new_id(),
            name: name.trim().to_owned(),
            description: description.trim().to_owned(),
            members: BTreeSet::new(),
            created_at: now_micros(),
        };
        sqlx::query("INSERT INTO sharing_groups (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
            .bind(g.id.clone())
            .bind(g.name.clone())
            .bind(g.description.clone())
            .bind(g.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("a group named `{}` already exists", g.name)),
                other => other,
            })?;
        append(&mut tx, &audit.detail(format!("group {}", g.name))).await?;
        tx.commit().await?;
        Ok(g)
    }

    pub async fn groups(&self) -> Result<Vec<Group>> {
        let groups =
            Sql::new("SELECT id, name, description, created_at FROM sharing_groups ORDER BY name");
        let members = Sql::new("SELECT group_id, org_id FROM group_members");
        let mut read = Sql::fetch_each(self, &[&groups, &members])
            .await?
            .into_iter();
        let (rows, members) = (
            read.next().unwrap_or_default(),
            read.next().unwrap_or_default(),
        );
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get(0)?;
            let mut m = BTreeSet::new();
            for mr in &members {
                if mr.try_get::<String>(0)? == id {
                    m.insert(mr.try_get::<String>(1)?);
                }
            }
            out.push(Group {
                id,
                name: r.try_get(1)?,
                description: r.try_get(2)?,
                members: m,
                created_at: r.try_get(3)?,
            });
        }
        Ok(out)
    }

    /// Finds a group by id or name.
    pub async fn find_group(&self, key: &str) -> Result<Group> {
        self.groups()
            .await?
            .into_iter()
            .find(|g| g.id == key.trim() || g.name == key.trim())
            .ok_or(StoreError::NotFound("group"))
    }

    /// The ids of the groups `org` belongs to.
    pub async fn groups_of_org(&self, org: &str) -> Result<BTreeSet<String>> {
        let rows = Sql::new("SELECT group_id FROM group_members WHERE org_id = ")
            .text(org)
            .fetch_all(self)
            .await?;
        rows.iter().map(|r| r.try_get::<String>(0)).collect()
    }

    pub async fn set_group_member(
        &self,
        group: &str,
        org: &str,
        member: bool,
        audit: AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if member {
            sqlx::query("INSERT INTO group_members (group_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(group.to_owned())
                .bind(org.to_owned())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND org_id = $2")
                .bind(group.to_owned())
                .bind(org.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_application(
        &self,
        a: &NewApplication,
        audit: AuditEntry,
    ) -> Result<Application> {
        required_text("English name", &a.name_en, NAME_CHARS)?;
        required_text("Chinese name", &a.name_zh, NAME_CHARS)?;
        optional_text("contact name", &a.contact_name, DISPLAY_NAME_CHARS)?;
        email(&a.contact_email)?;
        optional_text("motivation", &a.motivation, TEXT_CHARS)?;
        let mut tx = self.begin_write().await?;
        let app = Application {
            id: new_id(),
            name_en: a.name_en.trim().to_owned(),
            name_zh: a.name_zh.trim().to_owned(),
            sector: a.sector,
            contact_name: a.contact_name.trim().to_owned(),
            contact_email: a.contact_email.trim().to_lowercase(),
            motivation: a.motivation.trim().to_owned(),
            status: "pending".into(),
            decided_by: None,
            decided_at: None,
            org_id: None,
            created_at: now_micros(),
        };
        sqlx::query(&format!(
            "INSERT INTO applications ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(app.id.clone())
        .bind(app.name_en.clone())
        .bind(app.name_zh.clone())
        .bind(app.sector.as_str())
        .bind(app.contact_name.clone())
        .bind(app.contact_email.clone())
        .bind(app.motivation.clone())
        .bind("pending")
        .bind(None::<String>)
        .bind(None::<i64>)
        .bind(None::<String>)
        .bind(app.created_at)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &audit.detail(format!("application {}", app.name_en)),
        )
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    pub async fn applications(&self) -> Result<Vec<Application>> {
        let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM applications ORDER BY created_at DESC"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(app_row).collect()
    }

    pub async fn application(&self, id: &str) -> Result<Application> {
        let r = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound("application"))?;
        app_row(&r)
    }

    /// Approves or rejects a pending application. Approval creates the member org and its first
    /// `member-admin` (the applicant's contact) atomically with the decision.
    pub async fn decide_application(
        &self,
        id: &str,
        admin: &str,
        decision: ApplicationDecision,
        audit: AuditEntry,
    ) -> Result<(Application, Option<(Org, User)>)> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("application"))?;
        let mut app = app_row(&r)?;
        if app.status != "pending" {
            return Err(StoreError::Conflict(format!(
                "the application is already {}",
                app.status
            )));
        }
        let now = now_micros();
        let created = match decision {
            ApplicationDecision::Approve {
                admin_password_hash,
                locale,
            } => {
                let org = insert_org(
                    &mut tx,
                    &NewOrg {
                        kind: OrgKind::Member,
                        sector: Some(app.sector),
                        name_en: app.name_en.clone(),
                        name_zh: app.name_zh.clone(),
                        partner_ceiling: None,
                    },
                )
                .await?;
                let user = insert_user(
                    &mut tx,
                    &NewUser {
                        org_id: org.id.clone(),
                        email: app.contact_email.clone(),
                        display_name: app.contact_name.clone(),
                        locale,
                        role: Role::MemberAdmin,
                        password_hash: admin_password_hash,
                    },
                )
                .await?;
                app.status = "approved".into();
                app.org_id = Some(org.id.clone());
                Some((org, user))
            }
            ApplicationDecision::Reject => {
                app.status = "rejected".into();
                None
            }
        };
        app.decided_by = Some(admin.to_owned());
        app.decided_at = Some(now);
        sqlx::query("UPDATE applications SET status = $1, decided_by = $2, decided_at = $3, org_id = $4 WHERE id = $5")
            .bind(app.status.clone())
            .bind(admin.to_owned())
            .bind(now)
            .bind(app.org_id.clone())
            .bind(app.id.clone())
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &audit.detail(format!("application {} {}", app.name_en, app.status)),
        )
        .await?;
        tx.commit().await?;
        Ok((app, created))
    }
}
