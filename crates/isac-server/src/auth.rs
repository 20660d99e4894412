//! Who is calling: password hashing (argon2id), sessions, TOTP, API keys, the login rate limiter,
//! and the layer that turns a request's cookie or `Authorization` header into a [`Principal`].

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use isac_model::limits;
use isac_policy::Viewer;
use isac_store::{
    AuditEntry, KeyHolder, Org, Outcome, Session, SessionHolder, Store, User, now_micros,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "isac_session";
/// The pre-login CSRF cookie (double-submit) for the login and application forms.
pub const PRE_COOKIE: &str = "isac_pre";
/// Language choice of visitors who are not logged in.
pub const LANG_COOKIE: &str = "isac_lang";

/// argon2id with m = 46 MiB, t = 1, p = 1: the OWASP minimum for argon2id.
fn argon2() -> Argon2<'static> {
    let params = Params::new(46 * 1024, 1, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password after checking its length. Slow by design: call off the async runtime.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::internal())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::internal())
}

/// The password rules: length only, as NIST SP 800-63B advises.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(limits::PASSWORD_MIN_CHARS..=limits::PASSWORD_MAX_CHARS).contains(&n) {
        return Err(ApiError::invalid(format!(
            "a password has {} to {} characters",
            limits::PASSWORD_MIN_CHARS,
            limits::PASSWORD_MAX_CHARS
        )));
    }
    Ok(())
}

/// Verifies a password against a stored PHC string. Slow by design.
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, verified against when the account does not exist so that the
/// response time does not tell whether an email is registered.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("static salt");
        argon2()
            .hash_password(b"no password matches this", &salt)
            .expect("hashing a constant")
            .to_string()
    })
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// SHA-256 of a token, hex. Tokens are 256-bit random, so a fast hash is enough.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new API key: `isac_` + 8-character public prefix + `_` + secret. Returns (token, prefix).
pub fn new_api_key() -> (String, String) {
    let secret = new_token();
    let prefix = secret[..8].to_owned();
    (format!("isac_{prefix}_{}", &secret[8..]), prefix)
}

/// Creates an API key for `user` and returns the token, which is never stored or shown again.
pub async fn create_api_key(
    store: &Store,
    user: &User,
    name: &str,
    audit: AuditEntry,
) -> Result<(String, isac_store::ApiKey), ApiError> {
    isac_model::check_text("name", name, limits::NAME_CHARS)?;
    let (token, prefix) = new_api_key();
    let key = store
        .create_api_key(&user.id, name, &prefix, &token_hash(&token), audit)
        .await?;
    Ok((token, key))
}

/// A fixed-window counter per client address.
#[derive(Debug)]
pub struct RateLimiter {
    per_window: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(per_window: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            per_window,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt from `ip`; false once the address is over its allowance.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 100_000 {
            hits.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let e = hits.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= self.per_window
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        token_hash: String,
        csrf: String,
    },
    ApiKey {
        key_id: String,
    },
    /// The `isac` command acting for a user on the server's machine (e.g. `isac export --as`).
    Local,
}

/// An authenticated caller: the user, their org, and the policy viewer built from them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub org: Org,
    pub viewer: Viewer,
    pub via: Via,
}

impl Principal {
    pub fn audit(&self, action: &str, target: impl Into<String>, ip: IpAddr) -> AuditEntry {
        AuditEntry::new(action, target)
            .by(Some(&self.user.id), Some(&self.org.id))
            .from_source(source(ip, &self.via))
    }

    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::ApiKey { .. } | Via::Local => "",
        }
    }
}

fn source(ip: IpAddr, via: &Via) -> String {
    match via {
        Via::Session { .. } => format!("{ip} web"),
        Via::ApiKey { key_id } => format!("{ip} key:{key_id}"),
        Via::Local => "cli".to_owned(),
    }
}

/// A session that has passed the password but still owes its second factor (or must enrol one).
#[derive(Debug, Clone)]
pub struct PendingMfa {
    pub token_hash: String,
    pub csrf: String,
    pub user: User,
    pub org: Org,
}

/// The client's address (from the connection; 127.0.0.1 when there is none, as in tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(client_ip(parts))
    }
}

fn client_ip(parts: &Parts) -> ClientIp {
    ClientIp(
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip()),
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(ApiError::unauthenticated)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PendingMfa {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<PendingMfa>()
            .cloned()
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// Reads one cookie from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, and Secure behind TLS.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The layer on every request: resolves a session cookie or an API key into a [`Principal`]
/// (or a [`PendingMfa`]) in the request extensions. A presented but invalid API key is refused
/// here, and counts against the address's login allowance.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let ip = client_ip(&parts).0;
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(auth) = auth {
        match api_key_principal(&state, &auth, ip).await {
            Ok(p) => {
                parts.extensions.insert(p);
            }
            Err(e) => return e.into_response(),
        }
    } else if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
        match session_principal(&state, &token).await {
            Ok(Some(SessionState::Full(p))) => {
                parts.extensions.insert(p);
            }
            Ok(Some(SessionState::Pending(p))) => {
                parts.extensions.insert(p);
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    req = Request::from_parts(parts, body);
    next.run(req).await
}

enum SessionState {
    Full(Principal),
    Pending(PendingMfa),
}

async fn session_principal(
    state: &AppState,
    token: &str,
) -> Result<Option<SessionState>, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some(SessionHolder {
        session: s,
        user,
        org,
        groups,
    }) = state.store.session_holder(&hash).await?
    else {
        return Ok(None);
    };
    let now = now_micros();
    let idle = state.config.idle_timeout.as_micros() as i64;
    let absolute = state.config.absolute_timeout.as_micros() as i64;
    if now - s.last_seen_at > idle || now - s.created_at > absolute {
        state.store.delete_session(&hash).await?;
        return Ok(None);
    }
    if !user.enabled {
        state.store.delete_session(&hash).await?;
        return Ok(None);
    }
    // Refresh the idle clock at most every 30 s, so browsing is not a stream of writes.
    if now - s.last_seen_at > 30_000_000 {
        state.store.touch_session(&hash, now).await?;
    }
    if s.mfa_pending {
        return Ok(Some(SessionState::Pending(PendingMfa {
            token_hash: hash,
            csrf: s.csrf,
            user,
            org,
        })));
    }
    let viewer = viewer_of_member(&user, &org, groups);
    Ok(Some(SessionState::Full(Principal {
        user,
        org,
        viewer,
        via: Via::Session {
            token_hash: hash,
            csrf: s.csrf,
        },
    })))
}

/// The principal of a user for local tools (the `isac` command), with the same viewer as a login.
pub async fn local_principal(store: &Store, user: &User) -> Result<Principal, ApiError> {
    let org = store.org(&user.org_id).await?;
    let viewer = viewer_for(store, user, &org).await?;
    Ok(Principal {
        user: user.clone(),
        org,
        viewer,
        via: Via::Local,
    })
}

/// Builds the policy viewer of a user.
pub async fn viewer_for(store: &Store, user: &User, org: &Org) -> Result<Viewer, ApiError> {
    Ok(viewer_of_member(
        user,
        org,
        store.groups_of_org(&org.id).await?,
    ))
}

/// The viewer `user` of `org` is, with the sharing groups `org` belongs to.
fn viewer_of_member(user: &User, org: &Org, groups: BTreeSet<String>) -> Viewer {
    Viewer {
        user: Some(user.id.clone()),
        org: Some(org.id.clone()),
        org_kind: Some(org.kind),
        role: Some(user.role),
        groups,
        partner_ceiling: org.partner_ceiling,
    }
}

/// Extracts the API key from `Bearer TOKEN` or HTTP Basic with the key as password.
fn presented_key(auth: &str) -> Option<String> {
    let (scheme, rest) = auth.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (_, password) = s.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

async fn api_key_principal(
    state: &AppState,
    auth: &str,
    ip: IpAddr,
) -> Result<Principal, ApiError> {
    let refuse = |detail: &str| {
        AuditEntry::new("auth.api_key", "-")
            .from_source(ip.to_string())
            .outcome(Outcome::Failed)
            .detail(detail)
    };
    let Some(token) = presented_key(auth).filter(|t| t.len() <= 200) else {
        return Err(ApiError::unauthenticated());
    };
    let holder = state.store.api_key_holder(&token_hash(&token)).await?;
    let Some(KeyHolder {
        key,
        user,
        org,
        groups,
    }) = holder
    else {
        if !state.limiter.allow(ip) {
            return Err(ApiError::too_many());
        }
        state
            .store
            .audit(&refuse("unknown or revoked API key"))
            .await?;
        return Err(ApiError::unauthenticated());
    };
    if !user.enabled {
        state
            .store
            .audit(&refuse("API key of a disabled user"))
            .await?;
        return Err(ApiError::unauthenticated());
    }
    let viewer = viewer_of_member(&user, &org, groups);
    Ok(Principal {
        user,
        org,
        viewer,
        via: Via::ApiKey { key_id: key.id },
    })
}

/// Why a login failed. The message is deliberately the same for a wrong email and a wrong password.
pub fn bad_credentials() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or password is not correct",
    )
}

/// Checks an email and password, with the rate limiter and the account lockout. Every attempt is
/// audited.
pub async fn password_login(
    state: &AppState,
    ip: IpAddr,
    email: &str,
    password: &str,
) -> Result<User, ApiError> {
    let attempt = |outcome: Outcome, target: &str, detail: &str| {
        AuditEntry::new("auth.login", target)
            .from_source(format!("{ip} web"))
            .outcome(outcome)
            .detail(detail)
    };
    if !state.limiter.allow(ip) {
        state
            .store
            .audit(&attempt(Outcome::Denied, email, "rate limited"))
            .await?;
        return Err(ApiError::too_many());
    }
    if email.len() > limits::EMAIL_CHARS || password.len() > limits::PASSWORD_MAX_CHARS * 4 {
        return Err(bad_credentials());
    }
    let user = match state.store.find_user(email).await {
        Ok(u) if u.email == email.trim().to_lowercase() => Some(u),
        Ok(_) | Err(isac_store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let pw = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &pw))
        .await
        .map_err(|_| ApiError::internal())?;
    let Some(user) = user else {
        state
            .store
            .audit(&attempt(Outcome::Failed, email, "unknown email"))
            .await?;
        return Err(bad_credentials());
    };
    let now = now_micros();
    if user.locked_until.is_some_and(|t| t > now) {
        state
            .store
            .audit(
                &attempt(Outcome::Denied, &user.id, "account locked")
                    .by(Some(&user.id), Some(&user.org_id)),
            )
            .await?;
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "account_locked",
            "too many failed logins; the account is locked for a while",
        ));
    }
    if !ok || !user.enabled || user.password_hash.is_none() {
        let why = if user.enabled {
            "wrong password"
        } else {
            "disabled user"
        };
        state
            .store
            .record_login_failure(
                &user.id,
                state.config.max_failed_logins,
                state.config.lockout.as_micros() as i64,
                attempt(Outcome::Failed, &user.id, why).by(Some(&user.id), Some(&user.org_id)),
            )
            .await?;
        return Err(bad_credentials());
    }
    state.store.clear_login_failures(&user.id).await?;
    state
        .store
        .audit(
            &attempt(Outcome::Ok, &user.id, "password accepted")
                .by(Some(&user.id), Some(&user.org_id)),
        )
        .await?;
    Ok(user)
}

/// Starts a new session (a new random token at every login). Returns the cookie token.
pub async fn start_session(
    store: &Store,
    user: &User,
    mfa_pending: bool,
) -> Result<String, ApiError> {
    let token = new_token();
    let now = now_micros();
    store
        .create_session(&Session {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            csrf: new_token(),
            mfa_pending,
            created_at: now,
            last_seen_at: now,
        })
        .await?;
    Ok(token)
}

/// A new TOTP secret, base32.
pub fn new_totp_secret() -> String {
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    match totp_rs::Secret::Raw(b.to_vec()).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => unreachable!("to_encoded returns Encoded"),
    }
}

fn totp(secret: &str, account: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .ok()?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("isac".into()),
        account.to_owned(),
    )
    .ok()
}

/// Checks a 6-digit code against a base32 secret, allowing one step of clock skew.
pub fn totp_ok(secret: &str, code: &str) -> bool {
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp(secret, "user").is_some_and(|t| t.check_current(code).unwrap_or(false))
}

/// The current code of a secret (used by tests and the CLI).
pub fn totp_now(secret: &str) -> Option<String> {
    totp(secret, "user").and_then(|t| t.generate_current().ok())
}

/// The `otpauth://` URI for an authenticator app.
pub fn totp_uri(secret: &str, account: &str) -> String {
    totp(secret, account)
        .map(|t| t.get_url())
        .unwrap_or_default()
}
