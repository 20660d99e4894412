//! Provisioning from the command line: orgs, users, API keys, sharing groups, and the audit-chain
//! check. Every input is validated here, before anything is written, and every mutation is one
//! store call carrying its audit entry, so a refused command leaves nothing behind.

use std::io::BufRead;

use anyhow::{Context, Result, anyhow, bail};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp, check_email, check_text, limits};
use isac_server::ApiError;
use isac_store::{AuditEntry, NewOrg, NewUser, Org, Store, StoreError, User};

/// The source recorded in the audit log for everything done from the command line.
const SOURCE: &str = "cli";

fn audit(action: &str, target: impl Into<String>) -> AuditEntry {
    AuditEntry::new(format!("cli.{action}"), target).from_source(SOURCE)
}

/// An error of the server crate's helpers, as a command-line error.
pub fn api(e: ApiError) -> anyhow::Error {
    anyhow!(e.message)
}

/// A store lookup error that names what was looked up.
fn lookup<T>(r: Result<T, StoreError>, key: &str) -> Result<T> {
    r.map_err(|e| match e {
        StoreError::NotFound(what) => {
            let key: String = key.chars().take(80).collect();
            anyhow!("{what} `{key}` not found")
        }
        other => other.into(),
    })
}

pub async fn find_org(store: &Store, key: &str) -> Result<Org> {
    lookup(store.find_org(key).await, key)
}

pub async fn find_user(store: &Store, key: &str) -> Result<User> {
    lookup(store.find_user(key).await, key)
}

pub struct OrgInput {
    pub name: String,
    pub name_zh: Option<String>,
    pub kind: OrgKind,
    pub sector: Option<Sector>,
    pub partner_ceiling: Option<Tlp>,
}

pub async fn add_org(store: &Store, o: OrgInput) -> Result<Org> {
    check_text("name", &o.name, limits::NAME_CHARS)?;
    let name_zh = o.name_zh.unwrap_or_else(|| o.name.clone());
    check_text("Chinese name", &name_zh, limits::NAME_CHARS)?;
    let org = NewOrg {
        kind: o.kind,
        sector: o.sector,
        name_en: o.name.trim().to_owned(),
        name_zh: name_zh.trim().to_owned(),
        partner_ceiling: o.partner_ceiling,
    };
    Ok(store
        .create_org(&org, audit("org.add", org.name_en.clone()))
        .await?)
}

pub struct UserInput {
    pub org: String,
    pub email: String,
    pub role: Role,
    pub password_stdin: bool,
    pub display_name: Option<String>,
    pub locale: Locale,
}

pub async fn add_user(store: &Store, u: UserInput) -> Result<User> {
    let org = find_org(store, &u.org).await?;
    let email = u.email.trim().to_lowercase();
    check_email(&email)?;
    let display_name = match u.display_name {
        Some(d) => d,
        None => email.split('@').next().unwrap_or_default().to_owned(),
    };
    check_text("display name", &display_name, limits::DISPLAY_NAME_CHARS)?;
    let password_hash = if u.password_stdin {
        let password = read_password(std::io::stdin().lock())?;
        // argon2 is slow by design; keep it off the async workers.
        let hash = tokio::task::spawn_blocking(move || isac_server::auth::hash_password(&password))
            .await
            .context("password hashing stopped")?
            .map_err(api)?;
        Some(hash)
    } else {
        None
    };
    let new = NewUser {
        org_id: org.id,
        email,
        display_name: display_name.trim().to_owned(),
        locale: u.locale,
        role: u.role,
        password_hash,
    };
    Ok(store
        .create_user(&new, audit("user.add", new.email.clone()))
        .await?)
}

/// Reads a password from the first line of `input`, without its line ending.
fn read_password(input: impl BufRead) -> Result<String> {
    // Four bytes per character at most, plus the line ending.
    let cap = (limits::PASSWORD_MAX_CHARS * 4 + 2) as u64;
    let mut line = String::new();
    input
        .take(cap)
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    if line.len() as u64 == cap && !line.ends_with('\n') {
        bail!(
            "the password is longer than {} characters",
            limits::PASSWORD_MAX_CHARS
        );
    }
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    isac_server::auth::check_password(password).map_err(api)?;
    Ok(password.to_owned())
}

/// Creates an API key and returns its token.
pub async fn create_api_key(store: &Store, user: &str, name: &str) -> Result<String> {
    let user = find_user(store, user).await?;
    if !user.enabled {
        bail!("user {} is disabled", user.email);
    }
    let entry = audit("apikey.create", user.id.clone());
    let (token, _) = isac_server::auth::create_api_key(store, &user, name, entry)
        .await
        .map_err(api)?;
    Ok(token)
}

pub async fn add_group(store: &Store, name: &str, description: &str) -> Result<String> {
    check_text("name", name, limits::NAME_CHARS)?;
    if description.chars().count() > limits::TEXT_CHARS {
        bail!(
            "description is over the limit of {} characters",
            limits::TEXT_CHARS
        );
    }
    let g = store
        .create_group(name, description, audit("group.add", name.trim()))
        .await?;
    Ok(g.id)
}

pub async fn add_group_member(store: &Store, group: &str, org: &str) -> Result<(String, Org)> {
    let g = lookup(store.find_group(group).await, group)?;
    let o = find_org(store, org).await?;
    let entry = audit("group.add-member", g.id.clone()).detail(format!("org {}", o.id));
    store.set_group_member(&g.id, &o.id, true, entry).await?;
    Ok((g.name, o))
}

/// What `audit verify` found.
pub enum Verified {
    Ok { records: u64 },
    Broken { first: i64, records: u64 },
}

pub async fn verify_audit(store: &Store) -> Result<Verified> {
    let r = store.audit_verify().await?;
    Ok(match r.first_broken {
        None => Verified::Ok { records: r.records },
        Some(first) => Verified::Broken {
            first,
            records: r.records,
        },
    })
}

/// Writes every latest object `user` may read as one STIX 2.1 bundle, streaming page by page.
/// The same store read and the same view as the REST API, so the TLP policy and anonymous
/// attribution apply exactly as they do there. Returns the number of objects written.
#[cfg(test)]
mod tests {
    use super::read_password;

    #[test]
    fn password_line_endings_are_removed() {
        let p = read_password("correct horse battery\r\nnext line".as_bytes()).unwrap();
        assert_eq!(p, "correct horse battery");
        let p = read_password(" spaces kept at ends ".as_bytes()).unwrap();
        assert_eq!(p, " spaces kept at ends ");
    }

    #[test]
    fn bad_passwords_are_refused() {
        assert!(read_password("short\n".as_bytes()).is_err());
        assert!(read_password("".as_bytes()).is_err());
        let long = "x".repeat(5000);
        assert!(read_password(long.as_bytes()).is_err());
    }
}
