//! The server-rendered web UI, in zh-TW and English. Plain HTML forms, no script needed; every
//! state-changing form posts the session's CSRF token. Intelligence is read only through the
//! store's viewer-scoped functions, exactly as the REST API reads it.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp, limits};
use isac_store::{AuditEntry, ListQuery, NewOrg, ObjectFilter, Outcome, StoredObject};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::AppState;
use crate::api::{self, ApplyIn, ApproveIn, ListParams, NewUserIn};
use crate::auth::{self, ClientIp, PRE_COOKIE, PendingMfa, Principal, SESSION_COOKIE, Via};
use crate::error::{ApiError, ApiForm, ApiQuery};
use crate::export::{ExportFormat, Exporter};
use crate::i18n::{self, tr};
use crate::import::{ImportTotals, Importer, MISP_EVENT_BYTES, NOTES_KEPT, Notes, UploadError};
use crate::intel::{self, Directory, ObjectInput, Recipients};
use crate::routes::{Routes, Rule, UPLOAD_BYTES, UploadLimit, ct_eq};

pub fn routes(r: Routes) -> Routes {
    use Rule::*;
    r.add(Method::GET, "/static/app.css", Public, get(css))
        .add(Method::GET, "/static/app.js", Public, get(js))
        .add(Method::GET, "/login", Public, get(login_page))
        .add(Method::POST, "/login", Public, post(login_submit))
        .add(Method::GET, "/login/totp", PendingMfa, get(totp_page))
        .add(Method::POST, "/login/totp", PendingMfa, post(totp_submit))
        .add(Method::POST, "/logout", User, post(logout))
        .add(Method::POST, "/lang", Public, post(set_lang))
        .add(Method::GET, "/apply", Public, get(apply_page))
        .add(Method::POST, "/apply", Public, post(apply_submit))
        .add(Method::GET, "/", User, get(dashboard))
        .add(Method::GET, "/intel", User, get(intel_list))
        .add(Method::GET, "/intel/new", IntelWriter, get(intel_new_page))
        .add(
            Method::POST,
            "/intel/new",
            IntelWriter,
            post(intel_new_submit),
        )
        .add(Method::GET, "/intel/{id}", User, get(intel_detail))
        .add(
            Method::POST,
            "/intel/{id}/revoke",
            IntelWriter,
            post(intel_revoke),
        )
        .add(Method::GET, "/search", User, get(search_page))
        .add(Method::GET, "/exchange", User, get(exchange_page))
        .add(Method::GET, "/export/{format}", User, get(export_download))
        .add_upload(Method::POST, "/import", IntelWriter, post(import_upload))
        .add(Method::GET, "/taxii", User, get(taxii_page))
        .add(Method::GET, "/keys", User, get(keys_page))
        .add(Method::POST, "/keys", User, post(keys_create))
        .add(Method::POST, "/keys/{id}/revoke", User, post(keys_revoke))
        .add(Method::GET, "/settings", User, get(settings_page))
        .add(
            Method::POST,
            "/settings/locale",
            User,
            post(settings_locale),
        )
        .add(Method::POST, "/settings/totp", User, post(settings_totp))
        .add(Method::GET, "/admin/orgs", OrgAdmin, get(orgs_page))
        .add(
            Method::POST,
            "/admin/orgs",
            OperatorAdmin,
            post(orgs_create),
        )
        .add(
            Method::POST,
            "/admin/orgs/{id}/totp",
            OrgAdmin,
            post(orgs_totp),
        )
        .add(Method::GET, "/admin/users", OrgAdmin, get(users_page))
        .add(Method::POST, "/admin/users", OrgAdmin, post(users_create))
        .add(
            Method::POST,
            "/admin/users/{id}/enabled",
            OrgAdmin,
            post(users_enabled),
        )
        .add(
            Method::GET,
            "/admin/groups",
            OperatorAdmin,
            get(groups_page),
        )
        .add(
            Method::POST,
            "/admin/groups",
            OperatorAdmin,
            post(groups_create),
        )
        .add(
            Method::POST,
            "/admin/groups/{id}/members",
            OperatorAdmin,
            post(groups_member),
        )
        .add(
            Method::GET,
            "/admin/applications",
            OperatorAdmin,
            get(applications_page),
        )
        .add(
            Method::POST,
            "/admin/applications/{id}/decision",
            OperatorAdmin,
            post(applications_decide),
        )
        .add(Method::GET, "/admin/audit", OperatorAdmin, get(audit_page))
}

type WebResult = Result<Response, Response>;

fn fail(p: &Principal, e: impl Into<ApiError>) -> Response {
    error_page(p, &e.into()).into_response()
}

// ---------------------------------------------------------------- layout

struct Ctx<'a> {
    l: Locale,
    p: Option<&'a Principal>,
    pre: Option<String>,
}

fn tlp_badge(l: Locale, t: Tlp) -> Markup {
    html! { span class={"tlp tlp-" (t.as_str().replace('+', "-"))} title=(i18n::tlp_meaning(l, t)) { (t.label()) } }
}

fn csrf_field(p: &Principal) -> Markup {
    html! { input type="hidden" name="csrf" value=(p.csrf()); }
}

fn layout(c: &Ctx<'_>, title: &str, body: Markup) -> Markup {
    let l = c.l;
    html! {
        (DOCTYPE)
        html lang=(l.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · isac" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "isac" }
                    @if let Some(p) = c.p {
                        nav {
                            a href="/" accesskey="d" { (tr(l, "Dashboard", "總覽")) }
                            a href="/intel" accesskey="i" { (tr(l, "Intelligence", "情資")) }
                            a href="/search" { (tr(l, "Search", "搜尋")) }
                            @if p.user.role.may_write_intel() {
                                a href="/intel/new" accesskey="n" { (tr(l, "Share", "分享情資")) }
                            }
                            @if p.user.role.is_operator_admin() || p.user.role.manages_own_org() {
                                a href="/admin/orgs" { (tr(l, "Organisations", "組織")) }
                                a href="/admin/users" { (tr(l, "Users", "使用者")) }
                            }
                            @if p.user.role.is_operator_admin() {
                                a href="/admin/groups" { (tr(l, "Sharing groups", "分享群組")) }
                                a href="/admin/applications" { (tr(l, "Applications", "入會申請")) }
                                a href="/admin/audit" { (tr(l, "Audit log", "稽核紀錄")) }
                            }
                            a href="/exchange" accesskey="x" { (tr(l, "Import / export", "匯入／匯出")) }
                            a href="/taxii" accesskey="t" { "TAXII" }
                            a href="/keys" { (tr(l, "API keys", "API 金鑰")) }
                            a href="/settings" { (tr(l, "Settings", "設定")) }
                        }
                        form.search method="get" action="/search" role="search" {
                            input #q type="search" name="q" placeholder=(tr(l, "Search IP, domain, hash, CVE… ( / )", "搜尋 IP、網域、雜湊、CVE…（/）")) maxlength=(limits::SEARCH_CHARS) aria-label=(tr(l, "Search", "搜尋"));
                        }
                        span.who { (p.user.display_name) " · " (org_name(l, &p.org)) }
                        form.inline method="post" action="/logout" {
                            (csrf_field(p))
                            button #logout type="submit" { (tr(l, "Log out", "登出")) }
                        }
                    } @else {
                        nav {
                            a href="/login" { (tr(l, "Log in", "登入")) }
                            a href="/apply" { (tr(l, "Apply for membership", "申請入會")) }
                        }
                        @if let Some(pre) = &c.pre {
                            form.inline method="post" action="/lang" {
                                input type="hidden" name="csrf" value=(pre);
                                input type="hidden" name="locale" value=(if l == Locale::En { "zh-TW" } else { "en" });
                                button #lang type="submit" { (if l == Locale::En { "中文" } else { "English" }) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn org_name(l: Locale, o: &isac_store::Org) -> String {
    match l {
        Locale::En => o.name_en.clone(),
        Locale::ZhTw => o.name_zh.clone(),
    }
}

fn page(p: &Principal, title: &str, body: Markup) -> Response {
    let c = Ctx {
        l: p.user.locale,
        p: Some(p),
        pre: None,
    };
    layout(&c, title, body).into_response()
}

/// An error as a page, with its status.
pub fn error_page(p: &Principal, e: &ApiError) -> Response {
    let l = p.user.locale;
    let body = html! {
        h1 { (i18n::error_headline(l, e.code)) " (" (e.status.as_u16()) ")" }
        p.error role="alert" { (e.message) }
        p.code.muted { code { (e.code) } }
        p { a href="/" { (tr(l, "Dashboard", "總覽")) } }
    };
    (e.status, page(p, tr(l, "Error", "錯誤"), body)).into_response()
}

/// The 404 page for unknown routes.
pub fn not_found_page(req: &Request) -> Response {
    let l = req
        .extensions()
        .get::<Principal>()
        .map_or_else(|| i18n::negotiate(req.headers()), |p| p.user.locale);
    let e = ApiError::not_found(tr(l, "page", "頁面"));
    match req.extensions().get::<Principal>() {
        Some(p) => error_page(p, &e),
        None => {
            let c = Ctx {
                l,
                p: None,
                pre: None,
            };
            (
                StatusCode::NOT_FOUND,
                layout(&c, "404", html! { h1 { "404" } p { (e.message) } }),
            )
                .into_response()
        }
    }
}

fn fmt_time(micros: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- static

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

// ---------------------------------------------------------------- login

/// The pre-login CSRF token: the existing cookie, or a new one to set.
fn pre_token(headers: &HeaderMap) -> (String, bool) {
    match auth::cookie(headers, PRE_COOKIE).filter(|t| t.len() == 64) {
        Some(t) => (t, false),
        None => (auth::new_token(), true),
    }
}

fn with_pre(s: &AppState, token: &str, fresh: bool, mut r: Response) -> Response {
    if fresh && let Ok(v) = auth::set_cookie(PRE_COOKIE, token, None, s.secure_cookies()).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn login_form(l: Locale, pre: &str, error: Option<&str>, email: &str) -> Markup {
    html! {
        section.card.narrow {
            h1 { (tr(l, "Log in", "登入")) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(pre);
                label { (tr(l, "Email", "電子郵件")) input type="email" name="email" value=(email) required autofocus autocomplete="username" maxlength=(limits::EMAIL_CHARS); }
                label { (tr(l, "Password", "密碼")) input type="password" name="password" required autocomplete="current-password" maxlength=(limits::PASSWORD_MAX_CHARS); }
                button type="submit" { (tr(l, "Log in", "登入")) }
            }
            p.muted { a href="/apply" { (tr(l, "Not a member yet? Apply for membership", "尚未入會？申請入會")) } }
        }
    }
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap, req: Request) -> Response {
    if req.extensions().get::<Principal>().is_some() {
        return Redirect::to("/").into_response();
    }
    let l = i18n::negotiate(&headers);
    let (pre, fresh) = pre_token(&headers);
    let c = Ctx {
        l,
        p: None,
        pre: Some(pre.clone()),
    };
    with_pre(
        &s,
        &pre,
        fresh,
        layout(&c, tr(l, "Log in", "登入"), login_form(l, &pre, None, "")).into_response(),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    email: String,
    password: String,
}

async fn login_submit(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<ApiForm<LoginForm>, ApiError>,
) -> Response {
    let l = i18n::negotiate(&headers);
    let (pre, fresh) = pre_token(&headers);
    let c = Ctx {
        l,
        p: None,
        pre: Some(pre.clone()),
    };
    let show = |status: StatusCode, msg: &str, email: &str| {
        with_pre(
            &s,
            &pre,
            fresh,
            (
                status,
                layout(
                    &c,
                    tr(l, "Log in", "登入"),
                    login_form(l, &pre, Some(msg), email),
                ),
            )
                .into_response(),
        )
    };
    let f = match form {
        Ok(ApiForm(f)) => f,
        Err(e) => return show(e.status, &e.message, ""),
    };
    if fresh || !ct_eq(&f.csrf, &pre) {
        return show(
            StatusCode::FORBIDDEN,
            tr(
                l,
                "The form expired. Please try again.",
                "表單已過期，請重新登入。",
            ),
            &f.email,
        );
    }
    let user = match auth::password_login(&s, ip, &f.email, &f.password).await {
        Ok(u) => u,
        Err(e) => {
            let msg = match e.code {
                "invalid_credentials" => tr(
                    l,
                    "The email or password is not correct.",
                    "電子郵件或密碼不正確。",
                ),
                "account_locked" => tr(
                    l,
                    "Too many failed logins. The account is locked for a while.",
                    "登入失敗次數過多，帳號暫時鎖定。",
                ),
                "rate_limited" => tr(
                    l,
                    "Too many attempts. Wait a minute and try again.",
                    "嘗試次數過多，請稍候再試。",
                ),
                _ => tr(l, "Login failed.", "登入失敗。"),
            };
            return show(e.status, msg, &f.email);
        }
    };
    let org = match s.store.org(&user.org_id).await {
        Ok(o) => o,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let needs_mfa = user.totp_secret.is_some() || org.require_totp;
    let token = match auth::start_session(&s.store, &user, needs_mfa).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let mut r = Redirect::to(if needs_mfa { "/login/totp" } else { "/" }).into_response();
    let max_age = s.config.absolute_timeout.as_secs() as i64;
    if let Ok(v) =
        auth::set_cookie(SESSION_COOKIE, &token, Some(max_age), s.secure_cookies()).parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn totp_form(l: Locale, m: &PendingMfa, secret: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        section.card.narrow {
            h1 { (tr(l, "Second factor", "第二因子驗證")) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if let Some(sec) = secret {
                p { (tr(l, "Your organisation requires a second factor. Add this key to your authenticator app, then enter the code it shows.", "貴機構要求第二因子驗證。請將此金鑰加入驗證器 App，並輸入其顯示的驗證碼。")) }
                p { code.secret { (sec) } }
                p.muted.small { (auth::totp_uri(sec, &m.user.email)) }
            } @else {
                p { (tr(l, "Enter the 6-digit code from your authenticator app.", "請輸入驗證器 App 顯示的 6 位數驗證碼。")) }
            }
            form method="post" action="/login/totp" {
                input type="hidden" name="csrf" value=(m.csrf);
                @if let Some(sec) = secret { input type="hidden" name="secret" value=(sec); }
                label { (tr(l, "Code", "驗證碼")) input type="text" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autofocus autocomplete="one-time-code"; }
                button type="submit" { (tr(l, "Verify", "驗證")) }
            }
        }
    }
}

async fn totp_page(m: PendingMfa) -> Response {
    let l = m.user.locale;
    let c = Ctx {
        l,
        p: None,
        pre: None,
    };
    let secret = m.user.totp_secret.is_none().then(auth::new_totp_secret);
    layout(
        &c,
        tr(l, "Second factor", "第二因子驗證"),
        totp_form(l, &m, secret.as_deref(), None),
    )
    .into_response()
}

#[derive(Deserialize)]
struct TotpForm {
    #[allow(dead_code)]
    csrf: String,
    code: String,
    #[serde(default)]
    secret: Option<String>,
}

async fn totp_submit(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    m: PendingMfa,
    ApiForm(f): ApiForm<TotpForm>,
) -> Response {
    let l = m.user.locale;
    let c = Ctx {
        l,
        p: None,
        pre: None,
    };
    let audit = |outcome: Outcome, detail: &str| {
        AuditEntry::new("auth.totp", m.user.id.clone())
            .by(Some(&m.user.id), Some(&m.org.id))
            .from_source(format!("{ip} web"))
            .outcome(outcome)
            .detail(detail)
    };
    if !s.limiter.allow(ip) {
        return ApiError::too_many().into_response();
    }
    if m.user
        .locked_until
        .is_some_and(|t| t > isac_store::now_micros())
    {
        let msg = tr(
            l,
            "Too many failed attempts. The account is locked for a while.",
            "失敗次數過多，帳號暫時鎖定。",
        );
        let _ = s.store.delete_session(&m.token_hash).await;
        return (StatusCode::FORBIDDEN, layout(&c, tr(l, "Second factor", "第二因子驗證"), html! { section.card.narrow { p.error role="alert" { (msg) } p { a href="/login" { (tr(l, "Log in", "登入")) } } } })).into_response();
    }
    let (secret, enrol) = match (&m.user.totp_secret, &f.secret) {
        (Some(sec), _) => (sec.clone(), false),
        (None, Some(sec)) if sec.len() == 32 && sec.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            (sec.clone(), true)
        }
        (None, _) => return Redirect::to("/login/totp").into_response(),
    };
    if !auth::totp_ok(&secret, &f.code) {
        let r = s
            .store
            .record_login_failure(
                &m.user.id,
                s.config.max_failed_logins,
                s.config.lockout.as_micros() as i64,
                audit(Outcome::Failed, "wrong code"),
            )
            .await;
        if let Err(e) = r {
            return ApiError::from(e).into_response();
        }
        let msg = tr(l, "The code is not correct.", "驗證碼不正確。");
        return (
            StatusCode::UNAUTHORIZED,
            layout(
                &c,
                tr(l, "Second factor", "第二因子驗證"),
                totp_form(l, &m, enrol.then_some(secret.as_str()), Some(msg)),
            ),
        )
            .into_response();
    }
    let r = async {
        if enrol {
            s.store
                .set_user_totp(&m.user.id, Some(&secret), audit(Outcome::Ok, "enrolled"))
                .await?;
        } else {
            s.store.audit(&audit(Outcome::Ok, "code accepted")).await?;
        }
        s.store.clear_login_failures(&m.user.id).await?;
        // A new session token once the second factor is done, as at any privilege change.
        s.store.delete_session(&m.token_hash).await?;
        Ok::<_, isac_store::StoreError>(())
    }
    .await;
    if let Err(e) = r {
        return ApiError::from(e).into_response();
    }
    let token = match auth::start_session(&s.store, &m.user, false).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = auth::set_cookie(
        SESSION_COOKIE,
        &token,
        Some(s.config.absolute_timeout.as_secs() as i64),
        s.secure_cookies(),
    )
    .parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(s): State<AppState>, ClientIp(ip): ClientIp, p: Principal) -> Response {
    if let Via::Session { token_hash, .. } = &p.via {
        let _ = s.store.delete_session(token_hash).await;
        let _ = s
            .store
            .audit(&p.audit("auth.logout", p.user.id.clone(), ip))
            .await;
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(SESSION_COOKIE, "", Some(0), s.secure_cookies()).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct LangForm {
    csrf: String,
    locale: String,
}

async fn set_lang(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiForm(f): ApiForm<LangForm>,
) -> Response {
    let Some(pre) = auth::cookie(&headers, PRE_COOKIE) else {
        return Redirect::to("/login").into_response();
    };
    let Ok(l) = f.locale.parse::<Locale>() else {
        let l = i18n::negotiate(&headers);
        return ApiError::invalid(tr(l, "unknown language", "不支援的語言")).into_response();
    };
    if !ct_eq(&f.csrf, &pre) {
        return Redirect::to("/login").into_response();
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/login".into());
    let mut r = Redirect::to(&back).into_response();
    if let Ok(v) = format!(
        "{}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        auth::LANG_COOKIE,
        l.as_str()
    )
    .parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    let _ = s;
    r
}

// ---------------------------------------------------------------- applications (public)

fn sector_options(l: Locale, selected: Option<Sector>) -> Markup {
    html! { @for s in Sector::ALL { option value=(s.as_str()) selected[Some(*s) == selected] { (i18n::sector(l, *s)) } } }
}

fn apply_form(l: Locale, pre: &str, error: Option<&str>) -> Markup {
    html! {
        section.card.narrow {
            h1 { (tr(l, "Apply for membership", "申請入會")) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/apply" {
                input type="hidden" name="csrf" value=(pre);
                label { (tr(l, "Institution name (English)", "機構名稱（英文）")) input name="name_en" required maxlength=(limits::NAME_CHARS); }
                label { (tr(l, "Institution name (Chinese)", "機構名稱（中文）")) input name="name_zh" required maxlength=(limits::NAME_CHARS); }
                label { (tr(l, "Sector", "業別")) select name="sector" { (sector_options(l, None)) } }
                label { (tr(l, "Contact name", "聯絡人")) input name="contact_name" required maxlength=(limits::DISPLAY_NAME_CHARS); }
                label { (tr(l, "Contact email", "聯絡人電子郵件")) input type="email" name="contact_email" required maxlength=(limits::EMAIL_CHARS); }
                label { (tr(l, "Why do you want to join?", "申請說明")) textarea name="motivation" required maxlength=(limits::TEXT_CHARS) rows="5" {} }
                button type="submit" { (tr(l, "Submit application", "送出申請")) }
            }
        }
    }
}

async fn apply_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let l = i18n::negotiate(&headers);
    let (pre, fresh) = pre_token(&headers);
    let c = Ctx {
        l,
        p: None,
        pre: Some(pre.clone()),
    };
    with_pre(
        &s,
        &pre,
        fresh,
        layout(
            &c,
            tr(l, "Apply for membership", "申請入會"),
            apply_form(l, &pre, None),
        )
        .into_response(),
    )
}

#[derive(Deserialize)]
struct ApplyForm {
    csrf: String,
    name_en: String,
    name_zh: String,
    sector: String,
    contact_name: String,
    contact_email: String,
    motivation: String,
}

async fn apply_submit(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiForm(f): ApiForm<ApplyForm>,
) -> Response {
    let l = i18n::negotiate(&headers);
    let (pre, fresh) = pre_token(&headers);
    let c = Ctx {
        l,
        p: None,
        pre: Some(pre.clone()),
    };
    if fresh || !ct_eq(&f.csrf, &pre) {
        let msg = tr(
            l,
            "The form expired. Please try again.",
            "表單已過期，請重新填寫。",
        );
        return (
            StatusCode::FORBIDDEN,
            layout(&c, "isac", apply_form(l, &pre, Some(msg))),
        )
            .into_response();
    }
    let r = async {
        let sector: Sector = f.sector.parse()?;
        api::submit_application(
            &s,
            ip,
            ApplyIn {
                name_en: f.name_en,
                name_zh: f.name_zh,
                sector,
                contact_name: f.contact_name,
                contact_email: f.contact_email,
                motivation: f.motivation,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(_) => layout(&c, "isac", html! { section.card.narrow { h1 { (tr(l, "Application received", "已收到申請")) } p { (tr(l, "The ISAC will review your application and contact you by email.", "ISAC 將審核您的申請，並以電子郵件與您聯繫。")) } } }).into_response(),
        Err(e) => (e.status, layout(&c, "isac", apply_form(l, &pre, Some(&e.message)))).into_response(),
    }
}

// ---------------------------------------------------------------- intelligence

/// Names for the relationships and sightings of a list, which have no title of their own: a
/// relationship by its ends and type ("A uses → B"), a sighting by what was sighted ("Sighted ×3:
/// A"). The ends are read through the viewer (`Store::objects_by_id`), so a name holds only
/// titles the viewer may read; the policy lists a connection only where its ends are readable,
/// and an end not found (an org's identity) leaves the connection under its id.
async fn connection_names(
    s: &AppState,
    p: &Principal,
    objects: &[StoredObject],
) -> Result<BTreeMap<String, String>, Response> {
    let l = p.user.locale;
    let untitled: Vec<(&StoredObject, serde_json::Map<String, serde_json::Value>)> = objects
        .iter()
        .filter(|o| {
            matches!(o.stix_type.as_str(), "relationship" | "sighting") && o.title == o.stix_id
        })
        .map(|o| (o, serde_json::from_str(&o.body).unwrap_or_default()))
        .collect();
    let text = |b: &serde_json::Map<String, serde_json::Value>, k: &str| {
        b.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let ends: Vec<String> = untitled
        .iter()
        .flat_map(|(_, b)| {
            ["source_ref", "target_ref", "sighting_of_ref"]
                .into_iter()
                .map(|k| text(b, k))
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ends.is_empty() {
        return Ok(BTreeMap::new());
    }
    let titles: BTreeMap<String, String> = s
        .store
        .objects_by_id(&p.viewer, &ends)
        .await
        .map_err(|e| fail(p, e))?
        .into_iter()
        .map(|x| (x.stix_id, x.title))
        .collect();
    let mut out = BTreeMap::new();
    for (o, b) in &untitled {
        let name = if o.stix_type == "relationship" {
            match (
                titles.get(&text(b, "source_ref")),
                titles.get(&text(b, "target_ref")),
            ) {
                (Some(src), Some(dst)) => {
                    Some(format!("{src} {} → {dst}", text(b, "relationship_type")))
                }
                _ => None,
            }
        } else {
            titles.get(&text(b, "sighting_of_ref")).map(|t| {
                match b.get("count").and_then(|v| v.as_u64()) {
                    Some(n) => format!("{} ×{n}: {t}", tr(l, "Sighted", "目擊")),
                    None => format!("{}: {t}", tr(l, "Sighted", "目擊")),
                }
            })
        };
        if let Some(n) = name {
            out.insert(o.stix_id.clone(), n);
        }
    }
    Ok(out)
}

fn objects_table(l: Locale, objects: &[StoredObject], names: &BTreeMap<String, String>) -> Markup {
    html! {
        @if objects.is_empty() {
            p.muted.empty { (tr(l, "Nothing to show.", "沒有資料。")) }
        } @else {
            table.data {
                thead { tr {
                    th { "TLP" } th { (tr(l, "Type", "類型")) } th { (tr(l, "Title", "標題")) } th { (tr(l, "Modified", "修改時間")) } th { (tr(l, "Added", "加入時間")) }
                } }
                tbody {
                    @for o in objects {
                        tr class=[o.revoked.then_some("revoked")] {
                            td { (tlp_badge(l, o.access.tlp)) }
                            td { code { (o.stix_type) } }
                            td { a href={"/intel/" (o.stix_id)} { (names.get(&o.stix_id).unwrap_or(&o.title)) } @if o.revoked { " " span.tag { (tr(l, "revoked", "已撤銷")) } } }
                            td.nowrap { (o.modified.get(..16).unwrap_or(&o.modified).replace('T', " ")) }
                            td.nowrap { (fmt_time(o.date_added)) }
                        }
                    }
                }
            }
        }
    }
}

async fn dashboard(State(s): State<AppState>, p: Principal) -> WebResult {
    let l = p.user.locale;
    let counts = s
        .store
        .count_by_tlp(&p.viewer)
        .await
        .map_err(|e| fail(&p, e))?;
    let latest = s
        .store
        .list_objects(
            &p.viewer,
            &ListQuery {
                limit: 15,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(&p, e))?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let names = connection_names(&s, &p, &latest.objects).await?;
    let body = html! {
        h1 { (tr(l, "Dashboard", "總覽")) }
        section.stats {
            div.stat { span.n { (total) } span.label { (tr(l, "objects you may see", "您可檢視的情資")) } }
            @for t in Tlp::ALL.iter().rev() {
                @let n = counts.iter().find(|(c, _)| c == t).map_or(0, |(_, n)| *n);
                a.stat href={"/intel?tlp=" (t.as_str().replace('+', "%2B"))} { span.n { (n) } (tlp_badge(l, *t)) }
            }
        }
        h2 { (tr(l, "Latest intelligence", "最新情資")) }
        (objects_table(l, &latest.objects, &names))
        p { a href="/intel" { (tr(l, "All intelligence →", "全部情資 →")) } }
    };
    Ok(page(&p, tr(l, "Dashboard", "總覽"), body))
}

fn list_filters(l: Locale, q: &ListParams, action: &str, with_q: bool) -> Markup {
    let types = [
        "indicator",
        "malware",
        "threat-actor",
        "vulnerability",
        "attack-pattern",
        "report",
        "note",
        "campaign",
        "tool",
        "identity",
        "observed-data",
        "intrusion-set",
        "infrastructure",
        "course-of-action",
        "grouping",
        "opinion",
        "relationship",
        "sighting",
    ];
    // A type the list does not offer (a link, a custom type) stays selected as given.
    let other = q
        .stix_type
        .as_deref()
        .filter(|t| !t.is_empty() && !types.contains(t));
    html! {
        form.filters method="get" action=(action) {
            @if with_q {
                label { (tr(l, "Value", "值")) input type="search" name="q" value=(q.q.clone().unwrap_or_default()) maxlength=(limits::SEARCH_CHARS) autofocus; }
            }
            label { (tr(l, "Type", "類型")) select name="type" {
                option value="" { (tr(l, "any", "全部")) }
                @for t in types { option value=(t) selected[q.stix_type.as_deref() == Some(t)] { (t) } }
                @if let Some(t) = other { option value=(t) selected { (t) } }
            } }
            label { "TLP" select name="tlp" {
                option value="" { (tr(l, "any", "全部")) }
                @for t in Tlp::ALL { option value=(t.as_str()) selected[q.tlp.as_deref() == Some(t.as_str())] { (t.label()) } }
            } }
            label { (tr(l, "Sort", "排序")) select name="sort" {
                @for (v, en, zh) in [("-date_added", "Newest added", "最新加入"), ("date_added", "Oldest added", "最早加入"), ("-modified", "Recently modified", "最近修改"), ("modified", "Least recently modified", "最早修改")] {
                    option value=(v) selected[q.sort.as_deref() == Some(v)] { (tr(l, en, zh)) }
                }
            } }
            button type="submit" { (tr(l, "Apply", "套用")) }
        }
    }
}

fn next_link(l: Locale, base: &str, q: &ListParams, next: &Option<String>) -> Markup {
    let Some(n) = next else { return html! {} };
    let mut params: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("q", &q.q),
        ("type", &q.stix_type),
        ("tlp", &q.tlp),
        ("sort", &q.sort),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            params.push((k, v.clone()));
        }
    }
    params.push(("cursor", n.clone()));
    let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
    html! { p.pager { a rel="next" href={(base) "?" (qs)} { (tr(l, "Next page →", "下一頁 →")) } } }
}

async fn intel_list(
    State(s): State<AppState>,
    p: Principal,
    q: Result<ApiQuery<ListParams>, ApiError>,
) -> WebResult {
    let l = p.user.locale;
    let ApiQuery(q) = q.map_err(|e| fail(&p, e))?;
    let lq = q.to_query().map_err(|e| fail(&p, e))?;
    let pg = s
        .store
        .list_objects(&p.viewer, &lq)
        .await
        .map_err(|e| fail(&p, e))?;
    let names = connection_names(&s, &p, &pg.objects).await?;
    let body = html! {
        h1 { (tr(l, "Intelligence", "情資")) }
        (list_filters(l, &q, "/intel", false))
        (objects_table(l, &pg.objects, &names))
        (next_link(l, "/intel", &q, &pg.next))
    };
    Ok(page(&p, tr(l, "Intelligence", "情資"), body))
}

async fn search_page(
    State(s): State<AppState>,
    p: Principal,
    q: Result<ApiQuery<ListParams>, ApiError>,
) -> WebResult {
    let l = p.user.locale;
    let ApiQuery(q) = q.map_err(|e| fail(&p, e))?;
    let lq = q.to_query().map_err(|e| fail(&p, e))?;
    let results = match &lq.filter.value {
        Some(_) => Some(
            s.store
                .list_objects(&p.viewer, &lq)
                .await
                .map_err(|e| fail(&p, e))?,
        ),
        None => None,
    };
    let names = match &results {
        Some(r) => connection_names(&s, &p, &r.objects).await?,
        None => BTreeMap::new(),
    };
    let body = html! {
        h1 { (tr(l, "Search", "搜尋")) }
        p.muted { (tr(l, "Exact value: an IP address, domain, URL, file hash, CVE id…", "完全比對：IP 位址、網域、網址、檔案雜湊、CVE 編號…")) }
        (list_filters(l, &q, "/search", true))
        @if let Some(r) = &results {
            h2 { (tr(l, "Results", "搜尋結果")) }
            (objects_table(l, &r.objects, &names))
            (next_link(l, "/search", &q, &r.next))
        }
    };
    Ok(page(&p, tr(l, "Search", "搜尋"), body))
}

async fn intel_detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> WebResult {
    let l = p.user.locale;
    let o = s
        .store
        .object(&p.viewer, &id)
        .await
        .map_err(|e| fail(&p, e))?;
    let versions = s
        .store
        .object_versions(&p.viewer, &id)
        .await
        .map_err(|e| fail(&p, e))?;
    let connections = s
        .store
        .connections(&p.viewer, &id, CONNECTIONS_SHOWN)
        .await
        .map_err(|e| fail(&p, e))?;
    let links: Vec<Connection> = connections.iter().map(|c| Connection::of(c, &id)).collect();
    // The other ends, read through the viewer: a connection is listed only where every end is
    // readable, so these are found unless an end is an org's identity (not a stored object).
    let others: Vec<String> = links
        .iter()
        .flat_map(|c| c.others.iter().cloned())
        .collect();
    let titles: BTreeMap<String, String> = s
        .store
        .objects_by_id(&p.viewer, &others)
        .await
        .map_err(|e| fail(&p, e))?
        .into_iter()
        .map(|x| (x.stix_id, x.title))
        .collect();
    // What mentions it: containers naming it in `object_refs` (searchable values), as the viewer
    // may read them.
    let mentioned = s
        .store
        .list_objects(
            &p.viewer,
            &ListQuery {
                filter: ObjectFilter {
                    value: Some(id.clone()),
                    ..Default::default()
                },
                limit: MENTIONS_SHOWN,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(&p, e))?;
    let more_mentions = mentioned.next.is_some();
    let mentions: Vec<StoredObject> = mentioned
        .objects
        .into_iter()
        .filter(|m| m.stix_id != id)
        .collect();
    let dir = Directory::load(&s.store).await.map_err(|e| fail(&p, e))?;
    // An end that is an org's identity is named by the org when it is the viewer's own org or
    // the operator, or the viewer is the operator's, and the viewer may read that identity (a
    // listed connection implies it; this checks again). Other orgs stay an id, as attribution
    // does: a member does not learn from the page which other member saw or did something.
    let op_id = dir.operator().map(|o| o.id.as_str());
    let identities: BTreeMap<&str, String> = others
        .iter()
        .filter_map(|other| {
            let org = dir.org(other.strip_prefix("identity--")?)?;
            let known = org.id == p.org.id
                || Some(org.id.as_str()) == op_id
                || Some(p.org.id.as_str()) == op_id;
            (known && isac_policy::can_read(&p.viewer, &isac_store::identity_access(org)))
                .then(|| (other.as_str(), org_name(l, org)))
        })
        .collect();
    let view = intel::view(&p, dir.operator().map(|o| o.id.as_str()), &o);
    let pretty = serde_json::to_string_pretty(&view.object).unwrap_or_default();
    let groups: BTreeMap<String, String> = s
        .store
        .groups()
        .await
        .map_err(|e| fail(&p, e))?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let body = html! {
        h1 { (tlp_badge(l, o.access.tlp)) " " (o.title) }
        @if o.revoked { p.error { (tr(l, "This object has been revoked.", "此情資已撤銷。")) } }
        dl.meta {
            dt { "ID" } dd { code { (o.stix_id) } }
            dt { (tr(l, "Type", "類型")) } dd { code { (o.stix_type) } }
            dt { (tr(l, "Modified", "修改時間")) } dd { (o.modified) }
            dt { (tr(l, "Added", "加入時間")) } dd { (fmt_time(o.date_added)) }
            dt { "TLP" } dd { (tlp_badge(l, o.access.tlp)) " " (i18n::tlp_meaning(l, o.access.tlp)) }
            @if let Some(r) = &view.recipients {
                dt { (tr(l, "Owner", "擁有者")) } dd { (dir.org(&o.access.owner_org).map(|x| org_name(l, x)).unwrap_or_default()) }
                @if !r.orgs.is_empty() { dt { (tr(l, "Recipient orgs", "接收組織")) } dd { @for x in &r.orgs { span.tag { (dir.org(x).map(|x| org_name(l, x)).unwrap_or_else(|| x.clone())) } " " } } }
                @if !r.groups.is_empty() { dt { (tr(l, "Recipient groups", "接收群組")) } dd { @for g in &r.groups { span.tag { (groups.get(g).cloned().unwrap_or_else(|| g.clone())) } " " } } }
                @if !r.users.is_empty() { dt { (tr(l, "Named users", "指名使用者")) } dd { (r.users.len()) } }
            }
        }
        h2 { (tr(l, "Relationships and sightings", "關係與目擊")) }
        @if links.is_empty() {
            p.muted { (tr(l, "No relationships or sightings that you may read connect this object.", "沒有您可閱覽的關係或目擊紀錄連結此物件。")) }
        } @else {
            @if links.len() >= CONNECTIONS_SHOWN { p.muted { (tr(l, "Only the newest are shown.", "僅顯示最新的項目。")) } }
            table.data { thead { tr { th { (tr(l, "Relationship or sighting", "關係或目擊")) } th { (tr(l, "Other end", "另一端")) } th { "TLP" } th { (tr(l, "Modified", "修改時間")) } } }
                tbody { @for (c, x) in links.iter().zip(&connections) { tr {
                    td.nowrap { a href={"/intel/" (x.stix_id)} { (c.label(l)) } }
                    td { @for (k, other) in c.others.iter().enumerate() {
                        @if k > 0 { ", " }
                        @if let Some(t) = titles.get(other) { a href={"/intel/" (other)} { (t) } }
                        @else if let Some(n) = identities.get(other.as_str()) { (n) " " code { (other) } }
                        @else { code { (other) } }
                    } }
                    td { (tlp_badge(l, x.access.tlp)) }
                    td { (x.modified) }
                } } } }
        }
        h2 { (tr(l, "Mentioned in", "提及此情資")) }
        @if mentions.is_empty() {
            p.muted { (tr(l, "No report, grouping, note, opinion or observation that you may read names this object.", "沒有您可閱覽的報告、群組、備註、意見或觀察紀錄提及此物件。")) }
        } @else {
            table.data #mentions { thead { tr { th { "TLP" } th { (tr(l, "Type", "類型")) } th { (tr(l, "Title", "標題")) } th { (tr(l, "Modified", "修改時間")) } } }
                tbody { @for m in &mentions { tr {
                    td { (tlp_badge(l, m.access.tlp)) }
                    td { code { (m.stix_type) } }
                    td { a href={"/intel/" (m.stix_id)} { (m.title) } }
                    td.nowrap { (m.modified.get(..16).unwrap_or(&m.modified).replace('T', " ")) }
                } } } }
            @if more_mentions {
                p.muted { a href={"/search?q=" (id)} { (tr(l, "All that mention it", "所有提及者")) } }
            }
        }
        h2 { "STIX 2.1" }
        pre.json { (pretty) }
        h2 { (tr(l, "Versions", "版本")) }
        table.data { thead { tr { th { (tr(l, "Modified", "修改時間")) } th { (tr(l, "Added", "加入時間")) } th { "TLP" } } }
            tbody { @for v in versions.iter().rev() { tr { td { (v.modified) } td { (fmt_time(v.date_added)) } td { (tlp_badge(l, v.access.tlp)) } } } } }
        // Observables have no versions, so none can be revoked (`intel::prepare_version`).
        @if p.user.role.may_write_intel() && o.access.owner_org == p.org.id && !o.revoked
            && !isac_stix::types::is_sco(&o.stix_type) {
            form method="post" action={"/intel/" (o.stix_id) "/revoke"} {
                (csrf_field(&p))
                button.danger type="submit" { (tr(l, "Revoke", "撤銷")) }
            }
        }
    };
    Ok(page(&p, &o.title, body))
}

/// Connections listed on an object's page, newest first.
const CONNECTIONS_SHOWN: usize = 100;

/// How many of what mentions an object its page lists, newest first; the search lists them all.
const MENTIONS_SHOWN: u32 = 20;

/// A relationship or sighting as seen from one of its ends.
struct Connection {
    kind: ConnectionKind,
    /// The ends other than the object whose page this is.
    others: Vec<String>,
}

enum ConnectionKind {
    /// `relationship_type`, and whether the page's object is its source.
    Relationship(String, bool),
    /// The page's object was sighted (`count`, if given).
    SightingOf(Option<u64>),
    /// The page's object is where a sighting was made or what it observed.
    SightingAt,
}

impl Connection {
    fn of(c: &StoredObject, here: &str) -> Connection {
        let body: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&c.body).unwrap_or_default();
        let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let list = |k: &str| -> Vec<String> {
            body.get(k)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        if c.stix_type == "relationship" {
            let source = text("source_ref").unwrap_or_default();
            let target = text("target_ref").unwrap_or_default();
            let outgoing = source == here;
            Connection {
                kind: ConnectionKind::Relationship(
                    text("relationship_type").unwrap_or_default(),
                    outgoing,
                ),
                others: vec![if outgoing { target } else { source }],
            }
        } else {
            let of = text("sighting_of_ref").unwrap_or_default();
            let mut others: Vec<String> = std::iter::once(of.clone())
                .chain(list("observed_data_refs"))
                .chain(list("where_sighted_refs"))
                .filter(|x| x != here)
                .collect();
            others.dedup();
            Connection {
                kind: if of == here {
                    ConnectionKind::SightingOf(body.get("count").and_then(|v| v.as_u64()))
                } else {
                    ConnectionKind::SightingAt
                },
                others,
            }
        }
    }

    fn label(&self, l: Locale) -> String {
        match &self.kind {
            ConnectionKind::Relationship(t, true) => format!("{t} →"),
            ConnectionKind::Relationship(t, false) => format!("← {t}"),
            ConnectionKind::SightingOf(Some(n)) => {
                format!("{} ×{n}", tr(l, "Sighted", "目擊"))
            }
            ConnectionKind::SightingOf(None) => tr(l, "Sighted", "目擊").to_owned(),
            ConnectionKind::SightingAt => tr(l, "Sighting", "目擊紀錄").to_owned(),
        }
    }
}

async fn intel_revoke(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> WebResult {
    api::version(
        &s,
        &p,
        ip,
        p.user.locale,
        &id,
        intel::VersionInput {
            changes: Default::default(),
            tlp: None,
            recipients: None,
        },
        true,
    )
    .await
    .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to(&format!("/intel/{id}")).into_response())
}

async fn intel_new_page(State(s): State<AppState>, p: Principal) -> WebResult {
    intel_new_form(&s, &p, None).await
}

async fn intel_new_form(s: &AppState, p: &Principal, error: Option<&str>) -> WebResult {
    let l = p.user.locale;
    let orgs = s.store.orgs().await.map_err(|e| fail(p, e))?;
    let groups = s.store.groups().await.map_err(|e| fail(p, e))?;
    // TLP levels at which the writer's own org would not read what it shares (GREEN for a vendor,
    // or for a partner whose ceiling stops below it): said on the form, and not the default.
    let own = |tlp: Tlp| isac_policy::Access {
        tlp,
        owner_org: p.org.id.clone(),
        author: p.user.id.clone(),
        recipient_orgs: Default::default(),
        recipient_groups: Default::default(),
        named_users: Default::default(),
    };
    let unreadable: Vec<Tlp> = Tlp::ALL
        .iter()
        .copied()
        .filter(|t| !isac_policy::can_read(&p.viewer, &own(*t)))
        .collect();
    let default_tlp = if unreadable.contains(&Tlp::Green) {
        Tlp::Amber
    } else {
        Tlp::Green
    };
    let body = html! {
        h1 { (tr(l, "Share intelligence", "分享情資")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/intel/new" {
            (csrf_field(p))
            label { (tr(l, "Type", "類型")) select name="type" {
                option value="indicator" { (tr(l, "Indicator", "威脅指標")) }
                option value="vulnerability" { (tr(l, "Vulnerability", "弱點")) }
                option value="malware" { (tr(l, "Malware", "惡意程式")) }
                option value="threat-actor" { (tr(l, "Threat actor", "威脅行為者")) }
            } }
            label { (tr(l, "Name", "名稱")) input name="name" required maxlength="200"; }
            label { (tr(l, "Description", "描述")) textarea name="description" rows="4" maxlength=(limits::TEXT_CHARS) {} }
            label { (tr(l, "Pattern (indicators)", "偵測樣式（威脅指標）")) input name="pattern" placeholder="[ipv4-addr:value = '203.0.113.5']" maxlength="4000"; }
            label { "TLP" select name="tlp" aria-describedby=[(!unreadable.is_empty()).then_some("tlp-hint")] {
                @for t in Tlp::ALL { option value=(t.as_str()) selected[*t == default_tlp] { (t.label()) " — " (i18n::tlp_meaning(l, *t)) } }
            } }
            @if !unreadable.is_empty() {
                p.muted #tlp-hint {
                    (tr(l, "Your organisation does not read ", "貴組織無法閱覽 "))
                    @for (i, t) in unreadable.iter().enumerate() { @if i > 0 { ", " } (t.label()) }
                    (tr(l, ": what you share at that level reaches the ISAC and its audience, but you will not see it afterwards.", "：以此等級分享的內容會送達 ISAC 及該等級的閱覽對象，但分享後您將無法再看到。"))
                }
            }
            fieldset {
                legend { (tr(l, "Recipients (TLP:AMBER and AMBER+STRICT)", "接收者（TLP:AMBER 與 AMBER+STRICT）")) }
                label { (tr(l, "Organisations", "組織")) select name="org" multiple size="6" {
                    @for o in orgs.iter().filter(|o| o.kind != OrgKind::Operator) { option value=(o.id) { (org_name(l, o)) " (" (i18n::org_kind(l, o.kind)) ")" } }
                } }
                label { (tr(l, "Sharing groups", "分享群組")) select name="group" multiple size="4" {
                    @for g in &groups { option value=(g.id) { (g.name) } }
                } }
                label { (tr(l, "Named users, by email (TLP:RED)", "指名使用者電子郵件（TLP:RED）")) input name="users" placeholder="a@example.org, b@example.org" maxlength="4000"; }
            }
            button type="submit" { (tr(l, "Share", "分享")) }
        }
    };
    Ok(page(p, tr(l, "Share intelligence", "分享情資"), body))
}

async fn intel_new_submit(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> WebResult {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        let l = p.user.locale;
        fail(
            &p,
            ApiError::bad_request(tr(l, "malformed form", "表單格式錯誤")),
        )
    })?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let all = |k: &str| {
        pairs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let t = get("type");
    let mut object = serde_json::Map::new();
    object.insert("type".into(), t.clone().into());
    object.insert("name".into(), get("name").into());
    if !get("description").is_empty() {
        object.insert("description".into(), get("description").into());
    }
    if t == "indicator" {
        object.insert("pattern".into(), get("pattern").into());
        object.insert("pattern_type".into(), "stix".into());
        object.insert(
            "valid_from".into(),
            intel::stix_time(chrono::Utc::now()).into(),
        );
    } else if t == "malware" {
        // The form shares named malware, which STIX calls a family (§4.11 `is_family`).
        object.insert("is_family".into(), true.into());
    }
    let r = async {
        isac_model::check_text("name", &get("name"), 200)?;
        if t == "indicator" && get("pattern").is_empty() {
            return Err(ApiError::invalid(tr(
                p.user.locale,
                "An indicator needs a pattern.",
                "威脅指標需要偵測樣式。",
            )));
        }
        let mut users = Vec::new();
        for e in get("users")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let u = s.store.find_user(e).await.map_err(|_| {
                ApiError::invalid(format!(
                    "{}: {e}",
                    tr(p.user.locale, "no such user", "查無此使用者")
                ))
            })?;
            users.push(u.id);
        }
        let input = ObjectInput {
            object,
            tlp: Some(get("tlp")),
            recipients: Recipients {
                orgs: all("org"),
                groups: all("group"),
                users,
            },
        };
        api::create_objects(&s, &p, ip, p.user.locale, vec![input]).await
    }
    .await;
    match r {
        Ok(v) => Ok(Redirect::to(&format!("/intel/{}", v[0].id)).into_response()),
        Err(e) => {
            let mut resp = intel_new_form(&s, &p, Some(&e.message)).await?;
            *resp.status_mut() = e.status;
            Ok(resp)
        }
    }
}

// ---------------------------------------------------------------- API keys and settings

/// How SIEMs, firewalls and other platforms connect over TAXII 2.1: the server's addresses, how
/// to authenticate, and the collections the user may read, each with what a full read of it would
/// return to that user now (`taxii::collection_summaries`: counted under the user's TLP scope).
/// Addresses are written as paths; `app.js` puts the page's own origin before them, so the page
/// never takes the host from the request.
async fn taxii_page(State(s): State<AppState>, p: Principal) -> WebResult {
    let l = p.user.locale;
    let collections = crate::taxii::collection_summaries(&s, &p)
        .await
        .map_err(|e| error_page(&p, &e))?;
    let all = collections
        .iter()
        .find(|c| c.kind == crate::taxii::CollectionKind::All)
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let root = crate::taxii::API_ROOT;
    let body = html! {
        h1 { (tr(l, "TAXII 2.1 feeds", "TAXII 2.1 情資訂閱")) }
        p.muted { (tr(l, "SIEMs, firewalls and threat-intelligence platforms (MISP, OpenCTI and others) read isac's intelligence over TAXII 2.1, and members submit to the ISAC the same way. A client reads with your API key, as you: each collection holds only what you may read under TLP.", "SIEM、防火牆與威脅情資平台（MISP、OpenCTI 等）可透過 TAXII 2.1 讀取 isac 的情資，會員也可用同一方式向營運單位分享情資。用戶端以您的 API 金鑰、以您的身分讀取：每個集合只包含您依 TLP 可檢視的內容。")) }
        section.card {
            h2 { (tr(l, "Connection", "連線設定")) }
            dl.meta {
                dt { (tr(l, "Discovery", "探索端點")) } dd { code #taxii-discovery data-origin { "/taxii2/" } }
                dt { (tr(l, "API root", "API 根")) } dd { code #taxii-root data-origin { (root) } }
                dt { (tr(l, "Authentication", "驗證方式")) }
                dd {
                    (tr(l, "Your API key as ", "以您的 API 金鑰作為 ")) code { "Authorization: Bearer <key>" }
                    (tr(l, ", or as the password of HTTP Basic (any user name). ", "，或作為 HTTP Basic 的密碼（使用者名稱不拘）。"))
                    a href="/keys" { (tr(l, "Manage your API keys", "管理您的 API 金鑰")) }
                }
                dt { (tr(l, "Media types", "媒體類型")) }
                dd { code { "Accept: application/taxii+json;version=2.1" } (tr(l, "; objects are posted as ", "；提交物件時使用 ")) code { "Content-Type: application/taxii+json;version=2.1" } }
                dt { (tr(l, "Without login", "免登入")) }
                dd { (tr(l, "The TLP:CLEAR collection is readable by anyone.", "TLP:CLEAR 集合任何人皆可讀取。")) }
            }
        }
        section.card {
            h2 { (tr(l, "Collections", "集合")) }
            table.data #taxii-collections {
                thead { tr {
                    th { (tr(l, "Collection", "集合")) }
                    th { (tr(l, "Collection ID", "集合 ID")) }
                    th { (tr(l, "Access", "權限")) }
                    th.num { (tr(l, "Objects you may read", "您可讀取的物件")) }
                    th { (tr(l, "Last added", "最近加入")) }
                } }
                tbody { @for c in &collections { tr data-collection=(c.id) {
                    td {
                        @match &c.kind {
                            crate::taxii::CollectionKind::All => { strong { (tr(l, "All intelligence I may read", "我可讀取的全部情資")) } br; span.muted.hint { (tr(l, "Every object you may read, with the organisations' identities and the TLP marking definitions.", "您可讀取的每一筆物件，並含各組織的身分物件與 TLP 標記定義。")) } }
                            crate::taxii::CollectionKind::Public => { strong { "TLP:CLEAR" } br; span.muted.hint { (tr(l, "Intelligence marked TLP:CLEAR, readable without login.", "標記為 TLP:CLEAR 的情資，免登入即可讀取。")) } }
                            crate::taxii::CollectionKind::Group(name) => { strong { (tr(l, "Sharing group: ", "分享群組：")) (name) } br; span.muted.hint { (tr(l, "What you may read whose audience names this sharing group.", "您可讀取、且受眾包含此分享群組的情資。")) } }
                            crate::taxii::CollectionKind::Submit => { strong { (tr(l, "Submit to the ISAC", "會員情資分享")) } br; span.muted.hint { (tr(l, "Post STIX 2.1 objects here: they are shared under their TLP markings and audience; unmarked ones get the server's default TLP. Reading it lists what your organisation has shared.", "在此提交 STIX 2.1 物件：依其 TLP 標記與受眾分享；未標記者套用伺服器的預設 TLP。讀取時列出貴組織已分享的情資。")) } }
                        }
                    }
                    td.nowrap { code { (c.id) } }
                    td.nowrap { @if c.can_write { (tr(l, "read, write", "讀取、寫入")) } @else { (tr(l, "read", "讀取")) } }
                    td.num { (c.objects) }
                    td.nowrap { (c.last_added.map(fmt_time).unwrap_or_else(|| "—".into())) }
                } } }
            }
            p.muted.hint { (tr(l, "Counts are current versions, as a full read of the collection would return them to you now.", "數量為各物件的現行版本，即此刻完整讀取該集合時您會取得的數目。")) }
        }
        section.card {
            h2 { (tr(l, "Example", "範例")) }
            p.muted { (tr(l, "The first page of everything you may read, 100 objects at a time; follow next to page on, and keep the last X-TAXII-Date-Added-Last for added_after on the next poll:", "讀取您可讀取的全部情資的第一頁，每頁 100 筆；依 next 繼續翻頁，並保留最後一個 X-TAXII-Date-Added-Last，作為下次輪詢的 added_after：")) }
            pre.json #taxii-example { "curl -H 'Accept: application/taxii+json;version=2.1' \\\n     -H 'Authorization: Bearer <key>' \\\n     '" span data-origin { (root) "collections/" (all) "/objects/?limit=100" } "'" }
        }
    };
    Ok(page(
        &p,
        tr(l, "TAXII 2.1 feeds", "TAXII 2.1 情資訂閱"),
        body,
    ))
}

async fn keys_page(State(s): State<AppState>, p: Principal) -> WebResult {
    keys_view(&s, &p, None).await
}

async fn keys_view(s: &AppState, p: &Principal, token: Option<&str>) -> WebResult {
    let l = p.user.locale;
    let keys = s.store.api_keys(&p.user.id).await.map_err(|e| fail(p, e))?;
    let body = html! {
        h1 { (tr(l, "My API keys", "我的 API 金鑰")) }
        @if let Some(t) = token {
            section.card.notice {
                p { strong { (tr(l, "Your new key. Copy it now: it will not be shown again.", "新金鑰如下。請立即複製，之後不會再顯示。")) } }
                p { code #new-token { (t) } }
                p.muted { (tr(l, "Send it as Authorization: Bearer <key>, or as the password of HTTP Basic.", "以 Authorization: Bearer <金鑰> 傳送，或作為 HTTP Basic 的密碼。")) }
            }
        }
        table.data { thead { tr { th { (tr(l, "Name", "名稱")) } th { (tr(l, "Prefix", "前綴")) } th { (tr(l, "Created", "建立時間")) } th { (tr(l, "Last used", "最後使用")) } th { (tr(l, "State", "狀態")) } th {} } }
            tbody { @for k in &keys { tr {
                td { (k.name) } td { code { "isac_" (k.prefix) "_…" } } td { (fmt_time(k.created_at)) }
                td { (k.last_used_at.map(fmt_time).unwrap_or_else(|| "—".into())) }
                td { @if let Some(r) = k.revoked_at { (tr(l, "revoked", "已撤銷")) " " (fmt_time(r)) } @else { (tr(l, "active", "有效")) } }
                td { @if k.revoked_at.is_none() { form.inline method="post" action={"/keys/" (k.id) "/revoke"} { (csrf_field(p)) button.danger type="submit" { (tr(l, "Revoke", "撤銷")) } } } }
            } } } }
        @if keys.is_empty() {
            p.empty.muted { (tr(l, "You have no API keys yet. A key lets a SIEM, a firewall or a script read and submit intelligence as you, over TAXII or the REST API.", "您尚無 API 金鑰。金鑰可讓 SIEM、防火牆或程式透過 TAXII 或 REST API，以您的身分讀取與分享情資。")) }
        }
        p.muted { a href="/taxii" { (tr(l, "How to connect over TAXII 2.1", "如何以 TAXII 2.1 連線")) } }
        h2 { (tr(l, "New key", "新增金鑰")) }
        form.inline method="post" action="/keys" {
            (csrf_field(p))
            input name="name" required maxlength=(limits::NAME_CHARS) placeholder=(tr(l, "What is it for? e.g. SIEM feed", "用途，例如 SIEM 匯入")) aria-label=(tr(l, "Name", "名稱"));
            button type="submit" { (tr(l, "Create", "建立")) }
        }
    };
    Ok(page(p, tr(l, "My API keys", "我的 API 金鑰"), body))
}

#[derive(Deserialize)]
struct NameForm {
    #[allow(dead_code)]
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
}

async fn keys_create(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    f: Result<ApiForm<NameForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let (token, _) = auth::create_api_key(
        &s.store,
        &p.user,
        &f.name,
        p.audit("apikey.create", p.user.id.clone(), ip),
    )
    .await
    .map_err(|e| fail(&p, e))?;
    keys_view(&s, &p, Some(&token)).await
}

async fn keys_revoke(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> WebResult {
    api::revoke_key_checked(&s, &p, ip, &id)
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/keys").into_response())
}

async fn settings_page(p: Principal) -> WebResult {
    Ok(settings_view(&p, None, None))
}

fn settings_view(p: &Principal, secret: Option<&str>, error: Option<&str>) -> Response {
    let l = p.user.locale;
    let secret = secret
        .map(str::to_owned)
        .or_else(|| p.user.totp_secret.is_none().then(auth::new_totp_secret));
    let body = html! {
        h1 { (tr(l, "Settings", "設定")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        section.card {
            h2 { (tr(l, "Language", "語言")) }
            form.inline method="post" action="/settings/locale" {
                (csrf_field(p))
                select name="locale" aria-label=(tr(l, "Language", "語言")) {
                    option value="zh-TW" selected[l == Locale::ZhTw] { "繁體中文" }
                    option value="en" selected[l == Locale::En] { "English" }
                }
                button #save-locale type="submit" { (tr(l, "Save", "儲存")) }
            }
        }
        section.card {
            h2 { (tr(l, "Second factor (TOTP)", "第二因子驗證（TOTP）")) }
            @if p.user.totp_secret.is_some() {
                p { (tr(l, "Enabled. Ask an administrator to reset it if you lose your device.", "已啟用。若遺失裝置，請洽管理者重設。")) }
            } @else if let Some(sec) = &secret {
                p { (tr(l, "Add this key to your authenticator app, then enter the code it shows.", "請將此金鑰加入驗證器 App，並輸入其顯示的驗證碼。")) }
                p { code.secret { (sec) } }
                form.inline method="post" action="/settings/totp" {
                    (csrf_field(p))
                    input type="hidden" name="secret" value=(sec);
                    input name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required aria-label=(tr(l, "Code", "驗證碼"));
                    button type="submit" { (tr(l, "Enable", "啟用")) }
                }
            }
        }
        section.card {
            h2 { (tr(l, "Account", "帳號")) }
            dl.meta {
                dt { (tr(l, "Email", "電子郵件")) } dd { (p.user.email) }
                dt { (tr(l, "Role", "角色")) } dd { (i18n::role(l, p.user.role)) }
                dt { (tr(l, "Organisation", "組織")) } dd { (org_name(l, &p.org)) }
            }
        }
    };
    page(p, tr(l, "Settings", "設定"), body)
}

#[derive(Deserialize)]
struct LocaleForm {
    #[allow(dead_code)]
    csrf: String,
    locale: String,
}

async fn settings_locale(
    State(s): State<AppState>,
    p: Principal,
    f: Result<ApiForm<LocaleForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let l: Locale = f
        .locale
        .parse()
        .map_err(|e: isac_model::ParseEnumError| fail(&p, e))?;
    s.store
        .set_user_locale(&p.user.id, l)
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/settings").into_response())
}

#[derive(Deserialize)]
struct TotpEnrolForm {
    #[allow(dead_code)]
    csrf: String,
    secret: String,
    code: String,
}

async fn settings_totp(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    f: Result<ApiForm<TotpEnrolForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let l = p.user.locale;
    if f.secret.len() != 32 || !auth::totp_ok(&f.secret, &f.code) {
        let mut r = settings_view(
            &p,
            Some(&f.secret),
            Some(tr(l, "The code is not correct.", "驗證碼不正確。")),
        );
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    s.store
        .set_user_totp(
            &p.user.id,
            Some(&f.secret),
            p.audit("user.totp_enrol", p.user.id.clone(), ip),
        )
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/settings").into_response())
}

// ---------------------------------------------------------------- administration

async fn orgs_page(State(s): State<AppState>, p: Principal) -> WebResult {
    let l = p.user.locale;
    let orgs = s.store.orgs().await.map_err(|e| fail(&p, e))?;
    let admin = p.user.role.is_operator_admin();
    let body = html! {
        h1 { (tr(l, "Organisations", "組織")) }
        table.data { thead { tr { th { (tr(l, "Name", "名稱")) } th { (tr(l, "Kind", "類別")) } th { (tr(l, "Sector", "業別")) } th { (tr(l, "TLP ceiling", "TLP 上限")) } th { (tr(l, "Second factor required", "要求第二因子")) } } }
            tbody { @for o in &orgs { tr {
                td { (o.name_zh) br; span.muted { (o.name_en) } }
                td { (i18n::org_kind(l, o.kind)) }
                td { (o.sector.map(|x| i18n::sector(l, x)).unwrap_or("—")) }
                td { @if let Some(c) = o.partner_ceiling { (tlp_badge(l, c)) } @else { "—" } }
                td {
                    @if admin || o.id == p.org.id {
                        form.inline method="post" action={"/admin/orgs/" (o.id) "/totp"} {
                            (csrf_field(&p))
                            input type="hidden" name="require" value=(if o.require_totp { "false" } else { "true" });
                            button type="submit" { (if o.require_totp { tr(l, "Required — turn off", "已要求 — 關閉") } else { tr(l, "Not required — require", "未要求 — 要求") }) }
                        }
                    } @else { (if o.require_totp { tr(l, "yes", "是") } else { tr(l, "no", "否") }) }
                }
            } } } }
        @if admin {
            h2 { (tr(l, "New organisation", "新增組織")) }
            form.stack method="post" action="/admin/orgs" {
                (csrf_field(&p))
                label { (tr(l, "Name (English)", "名稱（英文）")) input name="name_en" required maxlength=(limits::NAME_CHARS); }
                label { (tr(l, "Name (Chinese)", "名稱（中文）")) input name="name_zh" required maxlength=(limits::NAME_CHARS); }
                label { (tr(l, "Kind", "類別")) select name="kind" { @for k in [OrgKind::Member, OrgKind::Partner, OrgKind::Vendor] { option value=(k.as_str()) { (i18n::org_kind(l, k)) } } } }
                label { (tr(l, "Sector (members)", "業別（會員）")) select name="sector" { option value="" { "—" } (sector_options(l, None)) } }
                label { (tr(l, "TLP ceiling (partners)", "TLP 上限（合作夥伴）")) select name="partner_ceiling" { option value="" { "—" } option value="green" { "TLP:GREEN" } option value="amber" { "TLP:AMBER" } } }
                button type="submit" { (tr(l, "Create", "建立")) }
            }
        }
    };
    Ok(page(&p, tr(l, "Organisations", "組織"), body))
}

#[derive(Deserialize)]
struct OrgForm {
    #[allow(dead_code)]
    csrf: String,
    name_en: String,
    name_zh: String,
    kind: String,
    #[serde(default)]
    sector: String,
    #[serde(default)]
    partner_ceiling: String,
}

async fn orgs_create(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    f: Result<ApiForm<OrgForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let r = async {
        isac_model::check_text("name_en", &f.name_en, limits::NAME_CHARS)?;
        isac_model::check_text("name_zh", &f.name_zh, limits::NAME_CHARS)?;
        let kind: OrgKind = f.kind.parse()?;
        let sector = (!f.sector.is_empty())
            .then(|| f.sector.parse::<Sector>())
            .transpose()?;
        let ceiling = (!f.partner_ceiling.is_empty())
            .then(|| f.partner_ceiling.parse::<Tlp>())
            .transpose()?;
        s.store
            .create_org(
                &NewOrg {
                    kind,
                    sector,
                    name_en: f.name_en,
                    name_zh: f.name_zh,
                    partner_ceiling: ceiling,
                },
                p.audit("org.create", "-", ip),
            )
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    r.map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/orgs").into_response())
}

#[derive(Deserialize)]
struct RequireForm {
    #[allow(dead_code)]
    csrf: String,
    require: bool,
}

async fn orgs_totp(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    f: Result<ApiForm<RequireForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    if !(p.user.role.is_operator_admin() || p.org.id == id) {
        return Err(fail(
            &p,
            ApiError::forbidden(tr(
                p.user.locale,
                "you may manage only your own organisation",
                "只能管理自己的機構",
            )),
        ));
    }
    s.store
        .set_org_require_totp(
            &id,
            f.require,
            p.audit("org.require_totp", id.clone(), ip)
                .detail(f.require.to_string()),
        )
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/orgs").into_response())
}

#[derive(Deserialize)]
struct UsersQuery {
    #[serde(default)]
    org: Option<String>,
}

async fn users_page(
    State(s): State<AppState>,
    p: Principal,
    q: Result<ApiQuery<UsersQuery>, ApiError>,
) -> WebResult {
    let l = p.user.locale;
    let ApiQuery(q) = q.map_err(|e| fail(&p, e))?;
    let admin = p.user.role.is_operator_admin();
    let org = if admin {
        q.org.filter(|o| !o.is_empty())
    } else {
        Some(p.org.id.clone())
    };
    let users = s
        .store
        .users(org.as_deref())
        .await
        .map_err(|e| fail(&p, e))?;
    let orgs: BTreeMap<String, isac_store::Org> = s
        .store
        .orgs()
        .await
        .map_err(|e| fail(&p, e))?
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
    let roles: Vec<Role> = Role::ALL
        .iter()
        .copied()
        .filter(|r| admin || r.allowed_for(p.org.kind))
        .collect();
    let body = html! {
        h1 { (tr(l, "Users", "使用者")) }
        @if admin {
            form.filters method="get" action="/admin/users" {
                label { (tr(l, "Organisation", "組織")) select name="org" { option value="" { (tr(l, "all", "全部")) } @for o in orgs.values() { option value=(o.id) selected[org.as_deref() == Some(o.id.as_str())] { (org_name(l, o)) } } } }
                button type="submit" { (tr(l, "Apply", "套用")) }
            }
        }
        table.data { thead { tr { th { (tr(l, "Email", "電子郵件")) } th { (tr(l, "Name", "姓名")) } th { (tr(l, "Organisation", "組織")) } th { (tr(l, "Role", "角色")) } th { "TOTP" } th { (tr(l, "State", "狀態")) } } }
            tbody { @for u in &users { tr {
                td { (u.email) } td { (u.display_name) } td { (orgs.get(&u.org_id).map(|o| org_name(l, o)).unwrap_or_default()) }
                td { (i18n::role(l, u.role)) } td { (if u.totp_secret.is_some() { "✓" } else { "—" }) }
                td { form.inline method="post" action={"/admin/users/" (u.id) "/enabled"} {
                    (csrf_field(&p))
                    input type="hidden" name="enabled" value=(if u.enabled { "false" } else { "true" });
                    @if u.enabled { span { (tr(l, "enabled", "啟用")) } " " button.danger type="submit" disabled[u.id == p.user.id] { (tr(l, "Disable", "停用")) } }
                    @else { span.muted { (tr(l, "disabled", "停用")) } " " button type="submit" { (tr(l, "Enable", "啟用")) } }
                } }
            } } } }
        h2 { (tr(l, "New user", "新增使用者")) }
        form.stack method="post" action="/admin/users" {
            (csrf_field(&p))
            @if admin {
                label { (tr(l, "Organisation", "組織")) select name="org_id" { @for o in orgs.values() { option value=(o.id) { (org_name(l, o)) } } } }
            } @else { input type="hidden" name="org_id" value=(p.org.id); }
            label { (tr(l, "Email", "電子郵件")) input type="email" name="email" required maxlength=(limits::EMAIL_CHARS); }
            label { (tr(l, "Name", "姓名")) input name="display_name" required maxlength=(limits::DISPLAY_NAME_CHARS); }
            label { (tr(l, "Role", "角色")) select name="role" { @for r in &roles { option value=(r.as_str()) { (i18n::role(l, *r)) } } } }
            label { (tr(l, "Language", "語言")) select name="locale" { option value="zh-TW" { "繁體中文" } option value="en" { "English" } } }
            label { (tr(l, "Initial password (12+ characters)", "初始密碼（至少 12 字元）")) input type="password" name="password" required minlength=(limits::PASSWORD_MIN_CHARS) maxlength=(limits::PASSWORD_MAX_CHARS) autocomplete="new-password"; }
            button type="submit" { (tr(l, "Create", "建立")) }
        }
    };
    Ok(page(&p, tr(l, "Users", "使用者"), body))
}

#[derive(Deserialize)]
struct UserForm {
    #[allow(dead_code)]
    csrf: String,
    org_id: String,
    email: String,
    display_name: String,
    role: String,
    locale: String,
    password: String,
}

async fn users_create(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    f: Result<ApiForm<UserForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let r = async {
        if !(p.user.role.is_operator_admin() || f.org_id == p.org.id) {
            return Err(ApiError::forbidden(
                "you may manage only your own organisation",
            ));
        }
        let b = NewUserIn {
            org_id: f.org_id,
            email: f.email,
            display_name: f.display_name,
            role: f.role.parse()?,
            locale: Some(f.locale.parse()?),
            password: Some(f.password),
        };
        api::create_user_checked(&s, &p, ip, b).await
    }
    .await;
    r.map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(Deserialize)]
struct EnabledForm {
    #[allow(dead_code)]
    csrf: String,
    enabled: bool,
}

async fn users_enabled(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    f: Result<ApiForm<EnabledForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let u = s.store.user(&id).await.map_err(|e| fail(&p, e))?;
    if !(p.user.role.is_operator_admin() || u.org_id == p.org.id) {
        return Err(fail(&p, ApiError::not_found("user")));
    }
    if u.id == p.user.id {
        let m = tr(
            p.user.locale,
            "you cannot disable yourself",
            "不能停用自己的帳號",
        );
        return Err(fail(&p, ApiError::conflict(m)));
    }
    s.store
        .set_user_enabled(
            &u.id,
            f.enabled,
            p.audit(
                if f.enabled {
                    "user.enable"
                } else {
                    "user.disable"
                },
                u.id.clone(),
                ip,
            ),
        )
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/users").into_response())
}

async fn groups_page(State(s): State<AppState>, p: Principal) -> WebResult {
    let l = p.user.locale;
    let groups = s.store.groups().await.map_err(|e| fail(&p, e))?;
    let orgs: BTreeMap<String, isac_store::Org> = s
        .store
        .orgs()
        .await
        .map_err(|e| fail(&p, e))?
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
    let body = html! {
        h1 { (tr(l, "Sharing groups", "分享群組")) }
        @for g in &groups {
            section.card {
                h2 { (g.name) }
                @if !g.description.is_empty() { p.muted { (g.description) } }
                ul.tags { @for m in &g.members { li {
                    (orgs.get(m).map(|o| org_name(l, o)).unwrap_or_else(|| m.clone()))
                    form.inline method="post" action={"/admin/groups/" (g.id) "/members"} {
                        (csrf_field(&p)) input type="hidden" name="org" value=(m); input type="hidden" name="member" value="false";
                        button.link type="submit" title=(tr(l, "Remove", "移除")) { "×" }
                    }
                } } }
                form.inline method="post" action={"/admin/groups/" (g.id) "/members"} {
                    (csrf_field(&p)) input type="hidden" name="member" value="true";
                    select name="org" aria-label=(tr(l, "Organisation", "組織")) { @for o in orgs.values().filter(|o| !g.members.contains(&o.id)) { option value=(o.id) { (org_name(l, o)) } } }
                    button type="submit" { (tr(l, "Add", "加入")) }
                }
            }
        }
        h2 { (tr(l, "New group", "新增群組")) }
        form.stack method="post" action="/admin/groups" {
            (csrf_field(&p))
            label { (tr(l, "Name", "名稱")) input name="name" required maxlength=(limits::NAME_CHARS); }
            label { (tr(l, "Description", "說明")) input name="description" maxlength=(limits::TEXT_CHARS); }
            button type="submit" { (tr(l, "Create", "建立")) }
        }
    };
    Ok(page(&p, tr(l, "Sharing groups", "分享群組"), body))
}

async fn groups_create(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    f: Result<ApiForm<NameForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    isac_model::check_text("name", &f.name, limits::NAME_CHARS).map_err(|e| fail(&p, e))?;
    if f.description.chars().count() > limits::TEXT_CHARS {
        let m = tr(p.user.locale, "the description is too long", "說明太長");
        return Err(fail(&p, ApiError::invalid(m)));
    }
    s.store
        .create_group(&f.name, &f.description, p.audit("group.create", "-", ip))
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/groups").into_response())
}

#[derive(Deserialize)]
struct MemberForm {
    #[allow(dead_code)]
    csrf: String,
    org: String,
    member: bool,
}

async fn groups_member(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    f: Result<ApiForm<MemberForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let g = s
        .store
        .groups()
        .await
        .map_err(|e| fail(&p, e))?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| fail(&p, ApiError::not_found("group")))?;
    let o = s.store.org(&f.org).await.map_err(|e| fail(&p, e))?;
    s.store
        .set_group_member(
            &g.id,
            &o.id,
            f.member,
            p.audit(
                if f.member {
                    "group.add_member"
                } else {
                    "group.remove_member"
                },
                g.id.clone(),
                ip,
            )
            .detail(o.id.clone()),
        )
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/groups").into_response())
}

async fn applications_page(State(s): State<AppState>, p: Principal) -> WebResult {
    let l = p.user.locale;
    let apps = s.store.applications().await.map_err(|e| fail(&p, e))?;
    let body = html! {
        h1 { (tr(l, "Membership applications", "入會申請")) }
        @if apps.is_empty() { p.muted.empty { (tr(l, "No applications.", "目前沒有申請。")) } }
        @for a in &apps {
            section.card {
                h2 { (a.name_zh) " / " (a.name_en) " " span.tag { (a.status) } }
                dl.meta {
                    dt { (tr(l, "Sector", "業別")) } dd { (i18n::sector(l, a.sector)) }
                    dt { (tr(l, "Contact", "聯絡人")) } dd { (a.contact_name) " <" (a.contact_email) ">" }
                    dt { (tr(l, "Received", "收件時間")) } dd { (fmt_time(a.created_at)) }
                }
                p { (a.motivation) }
                @if a.status == "pending" {
                    form.inline method="post" action={"/admin/applications/" (a.id) "/decision"} {
                        (csrf_field(&p))
                        input type="password" name="admin_password" minlength=(limits::PASSWORD_MIN_CHARS) maxlength=(limits::PASSWORD_MAX_CHARS) placeholder=(tr(l, "First admin's initial password", "首位管理者初始密碼")) autocomplete="new-password";
                        button type="submit" name="decision" value="approve" { (tr(l, "Approve", "核准")) }
                        button.danger type="submit" name="decision" value="reject" formnovalidate { (tr(l, "Reject", "駁回")) }
                    }
                }
            }
        }
    };
    Ok(page(&p, tr(l, "Membership applications", "入會申請"), body))
}

#[derive(Deserialize)]
struct DecisionForm {
    #[allow(dead_code)]
    csrf: String,
    decision: String,
    #[serde(default)]
    admin_password: String,
}

async fn applications_decide(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    f: Result<ApiForm<DecisionForm>, ApiError>,
) -> WebResult {
    let ApiForm(f) = f.map_err(|e| fail(&p, e))?;
    let approve = match f.decision.as_str() {
        "approve" => Some(ApproveIn {
            admin_password: (!f.admin_password.is_empty()).then_some(f.admin_password),
            locale: None,
        }),
        "reject" => None,
        _ => {
            let m = tr(
                p.user.locale,
                "decide approve or reject",
                "請選擇核准或拒絕",
            );
            return Err(fail(&p, ApiError::invalid(m)));
        }
    };
    api::decide(&s, &p, ip, &id, approve)
        .await
        .map_err(|e| fail(&p, e))?;
    Ok(Redirect::to("/admin/applications").into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    before: Option<i64>,
}

async fn audit_page(
    State(s): State<AppState>,
    p: Principal,
    q: Result<ApiQuery<AuditQuery>, ApiError>,
) -> WebResult {
    let l = p.user.locale;
    let ApiQuery(q) = q.map_err(|e| fail(&p, e))?;
    let rows = s
        .store
        .audit_page(q.before, 100)
        .await
        .map_err(|e| fail(&p, e))?;
    let verify = s.store.audit_verify().await.map_err(|e| fail(&p, e))?;
    let emails: BTreeMap<String, String> = s
        .store
        .users(None)
        .await
        .map_err(|e| fail(&p, e))?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let body = html! {
        h1 { (tr(l, "Audit log", "稽核紀錄")) }
        @match verify.first_broken {
            None => p.ok { (tr(l, "Hash chain intact: ", "雜湊鏈完整：")) (verify.records) (tr(l, " records", " 筆")) },
            Some(seq) => p.error role="alert" { (tr(l, "Hash chain broken at record #", "雜湊鏈於第 # 筆中斷：")) (seq) },
        }
        table.data.small { thead { tr { th { "#" } th { (tr(l, "Time (UTC)", "時間（UTC）")) } th { (tr(l, "Action", "動作")) } th { (tr(l, "Outcome", "結果")) } th { (tr(l, "Actor", "執行者")) } th { (tr(l, "Source", "來源")) } th { (tr(l, "Target", "對象")) } th { (tr(l, "Detail", "細節")) } } }
            tbody { @for r in &rows { tr class=(format!("outcome-{}", r.outcome)) {
                td { (r.seq) } td.nowrap { (fmt_time(r.at)) } td { code { (r.action) } } td { (r.outcome) }
                td { (r.actor_user.as_ref().map(|u| emails.get(u).unwrap_or(u).clone()).unwrap_or_else(|| "—".into())) } td { (r.source) } td { (r.target) } td { (r.detail) }
            } } } }
        @if let Some(last) = rows.last() { @if last.seq > 1 { p.pager { a rel="next" href={"/admin/audit?before=" (last.seq)} { (tr(l, "Older →", "較舊 →")) } } } }
    };
    Ok(page(&p, tr(l, "Audit log", "稽核紀錄"), body))
}

// ---------------------------------------------------------------- import and export

/// The import and export page: downloads of exactly what the user may see, and (for roles that
/// may write intelligence) the upload of a STIX bundle or MISP event.
async fn exchange_page(p: Principal) -> WebResult {
    Ok(exchange_view(&p, None))
}

fn exchange_view(p: &Principal, result: Option<(&ImportTotals, &Notes)>) -> Response {
    let l = p.user.locale;
    let formats = [
        (
            ExportFormat::Stix,
            tr(l, "STIX 2.1 bundle", "STIX 2.1 套組"),
            tr(
                l,
                "For TIPs and SIEMs that read STIX.",
                "供讀取 STIX 的情資平台與 SIEM 使用。",
            ),
        ),
        (
            ExportFormat::Csv,
            tr(l, "CSV", "CSV"),
            tr(
                l,
                "One row per object, for spreadsheets.",
                "每列一筆物件，供試算表使用。",
            ),
        ),
        (
            ExportFormat::IpList,
            tr(l, "IP block list", "IP 封鎖清單"),
            tr(
                l,
                "Current IP addresses from indicators and observables, one per line.",
                "來自指標與可觀察物件的現行 IP 位址，每行一筆。",
            ),
        ),
        (
            ExportFormat::DomainList,
            tr(l, "Domain block list", "網域封鎖清單"),
            tr(
                l,
                "Current domain names, one per line.",
                "現行網域名稱，每行一筆。",
            ),
        ),
    ];
    let body = html! {
        h1 { (tr(l, "Import and export", "匯入與匯出")) }
        section.card {
            h2 { (tr(l, "Export", "匯出")) }
            p.muted { (tr(l, "Every export holds exactly what you may see under TLP, and is recorded in the audit log.", "每次匯出只包含您依 TLP 可檢視的內容，並記錄於稽核紀錄。")) }
            table.data {
                thead { tr { th { (tr(l, "Format", "格式")) } th { (tr(l, "Use", "用途")) } th {} } }
                tbody {
                    @for (f, name, what) in formats {
                        tr {
                            td { (name) }
                            td { (what) }
                            td { a.button href={"/export/" (f.as_str())} download=(f.file_name()) { (tr(l, "Download", "下載")) } }
                        }
                    }
                    tr {
                        td { (tr(l, "MISP feed", "MISP feed")) }
                        td { (tr(l, "For MISP instances that subscribe to feeds; events by report, TLP tags, distribution and sharing groups.", "供訂閱 feed 的 MISP 使用；依報告分為事件，並帶 TLP 標籤、發布範圍與分享群組。")) }
                        td { a.button href={"/export/" (ExportFormat::MispFeed.as_str())} download={(FEED_ARCHIVE_DIR) ".tar"} { (tr(l, "Download", "下載")) } }
                    }
                }
            }
            p.muted { (tr(l, "The MISP feed is a tar archive of the feed directory (manifest.json, hashes.csv, one file per event): unpack it where your MISP reads feeds. The command line writes the same directory: isac export --format misp-feed.", "MISP feed 為 feed 目錄（manifest.json、hashes.csv 及每個事件一個檔案）的 tar 封存檔：解開後放在 MISP 讀取 feed 的位置。命令列可產生相同的目錄：isac export --format misp-feed。")) }
        }
        @if p.user.role.may_write_intel() {
            section.card {
                h2 { (tr(l, "Import", "匯入")) }
                p.muted {
                    (tr(l, "A STIX 2.0 or 2.1 bundle of up to ", "STIX 2.0／2.1 套組（上限 "))
                    (size_text(l, UPLOAD_BYTES as u64))
                    (tr(l, " (or a JSON list of STIX objects, or a saved TAXII 2.1 envelope, read as a bundle), one STIX object on its own, a MISP feed archived with tar (as the MISP feed download here), or a MISP event (JSON) of up to ", "；STIX 物件的 JSON 清單或存下的 TAXII 2.1 信封亦視同套組）、單獨一個 STIX 物件、以 tar 封存的 MISP feed（如本頁的 MISP feed 下載），或 MISP 事件 JSON（上限 "))
                    (size_text(l, MISP_EVENT_BYTES))
                    (tr(l, ". Your org owns what is imported. Unmarked objects are TLP:GREEN. A bundle or event is stored whole or not at all, however large. What is already stored is skipped.", "）。匯入的內容歸屬於您的組織；未標記的物件為 TLP:GREEN。每個套組或事件無論大小，全部存入或全部不存。已存在者略過。"))
                }
                form method="post" action="/import" enctype="multipart/form-data" {
                    // The CSRF token must come before the file: the server reads it from the
                    // first field of the upload, before the file arrives (`Routes::add_upload`).
                    (csrf_field(p))
                    label for="import-file" { (tr(l, "File", "檔案")) }
                    input #import-file type="file" name="file" accept=".json,application/json,.tar,application/x-tar" required;
                    button type="submit" { (tr(l, "Import", "匯入")) }
                }
                @if let Some((t, notes)) = result {
                    div #import-result role="status" {
                        p { strong {
                            (tr(l, "Created", "新增")) " " (t.created) " · "
                            (tr(l, "new versions", "新版本")) " " (t.updated) " · "
                            (tr(l, "earlier versions", "較早版本")) " " (t.historical) " · "
                            (tr(l, "unchanged", "未變更")) " " (t.unchanged) " · "
                            (tr(l, "refused units", "被拒單元")) " " (t.refused_units)
                        } }
                        @if !notes.lines.is_empty() {
                            ul.notes { @for n in &notes.lines { li { code { (n) } } } }
                        }
                        @if notes.omitted > 0 {
                            p.muted {
                                (tr(l, "Only the first ", "僅列出前 ")) (NOTES_KEPT)
                                (tr(l, " notes are shown; ", " 則說明，另有 ")) (notes.omitted)
                                (tr(l, " more are not.", " 則未列出。"))
                            }
                        }
                    }
                }
            }
        }
    };
    page(p, tr(l, "Import and export", "匯入與匯出"), body)
}

/// A download of what the user may see, streamed page by page.
async fn export_download(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(format): Path<String>,
) -> WebResult {
    let format = ExportFormat::parse(&format)
        .ok_or_else(|| fail(&p, ApiError::not_found("export format")))?;
    // A feed archive spools to disk: refused when the server is at its cap, before the audit
    // records an export.
    let permit = match format.single_file() {
        true => None,
        false => Some(spool_permit(&s, p.user.locale).map_err(|e| fail(&p, e))?),
    };
    s.store
        .audit(&p.audit(
            &format!("export.{}", format.as_str()),
            p.user.id.clone(),
            ip,
        ))
        .await
        .map_err(|e| fail(&p, e))?;
    if let Some(permit) = permit {
        return misp_feed_download(&s, &p, permit).await;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let store = s.store.clone();
    let operator = store.operator_org().await.ok().map(|o| o.id);
    let directory = match format {
        ExportFormat::Stix => crate::export::directory_objects(&store, &p)
            .await
            .map_err(|e| fail(&p, e))?,
        _ => Vec::new(),
    };
    tokio::spawn(async move {
        let mut ex = Exporter::new(format);
        let mut head = ex.begin();
        head.extend(ex.directory(&directory));
        if tx.send(Ok(head)).await.is_err() {
            return;
        }
        let mut query = isac_store::ListQuery {
            sort: isac_store::Sort::OldestFirst,
            limit: 500,
            ..Default::default()
        };
        loop {
            let page = match store.list_objects(&p.viewer, &query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "streaming an export");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            let mut chunk = Vec::new();
            for o in &page.objects {
                let view = intel::view(&p, operator.as_deref(), o);
                chunk.extend(ex.object(o, &view.object));
            }
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        let _ = tx.send(Ok(ex.end())).await;
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", format.file_name()),
            ),
        ],
        body,
    )
        .into_response())
}

/// A download of the MISP feed of what the user may see, as a tar archive of the feed directory
/// (`isac-misp-feed/manifest.json`, `hashes.csv` and one file per event), to unpack where a
/// MISP instance reads feeds. The feed is written in bounded memory
/// ([`crate::export::write_misp_feed`]) to a temporary directory, archived into an unnamed
/// temporary file, and streamed from it; both are gone when the download ends, however it ends.
async fn misp_feed_download(
    s: &AppState,
    p: &Principal,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> WebResult {
    let operator = s.store.operator_org().await.ok();
    let publisher = crate::export::publisher(operator.as_ref());
    let internal = |e: std::io::Error| {
        tracing::error!(error = %e, "archiving a MISP feed");
        fail(p, ApiError::internal())
    };
    let dir = tempfile::tempdir().map_err(internal)?;
    let op_id = operator.as_ref().map(|o| o.id.clone());
    crate::export::write_misp_feed(
        &s.store,
        p,
        op_id.as_deref(),
        &publisher,
        dir.path(),
        |_| {},
    )
    .await
    .map_err(|e| fail(p, e))?;
    let archive = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let mut b = tar::Builder::new(tempfile::tempfile()?);
        b.mode(tar::HeaderMode::Deterministic);
        b.append_dir_all(FEED_ARCHIVE_DIR, dir.path())?;
        let mut file = b.into_inner()?;
        std::io::Seek::rewind(&mut file)?;
        Ok(file)
    })
    .await
    .map_err(|e| internal(std::io::Error::other(e)))?
    .map_err(internal)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        // Held until the archive has been sent or the download is abandoned.
        let _permit = permit;
        let mut file = archive;
        loop {
            let mut chunk = vec![0u8; 64 * 1024];
            let read = match std::io::Read::read(&mut file, &mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "streaming a MISP feed archive");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            chunk.truncate(read);
            if tx.blocking_send(Ok(chunk)).is_err() {
                return;
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{FEED_ARCHIVE_DIR}.tar\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// One of the server's [`crate::SPOOLS_AT_ONCE`] permits to spool to temporary disk, or a 503
/// error in `l` saying to try again: a request past the cap is refused before its body is read.
fn spool_permit(s: &AppState, l: Locale) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    s.spool.clone().try_acquire_owned().map_err(|_| {
        ApiError::busy(tr(
            l,
            "Other imports or feed downloads are running; try again in a minute",
            "其他匯入或情資饋送下載正在進行中；請稍候一分鐘再試",
        ))
    })
}

/// The directory a MISP feed archive unpacks to.
const FEED_ARCHIVE_DIR: &str = "isac-misp-feed";

/// The upload of one STIX bundle or MISP event, imported as the user. The file is streamed to
/// an unnamed temporary file, which the system deletes when it is closed, whatever happens; so
/// an upload of up to the route's limit ([`UPLOAD_BYTES`]) takes bounded memory. Nothing is
/// imported before the whole upload has arrived: an upload that is cut off, malformed or over
/// the limit stores nothing. The CSRF token, the form's first field, was checked by the route's
/// layer before this runs.
async fn import_upload(
    State(s): State<AppState>,
    p: Principal,
    axum::Extension(UploadLimit(limit)): axum::Extension<UploadLimit>,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> WebResult {
    let l = p.user.locale;
    let _permit = spool_permit(&s, l).map_err(|e| fail(&p, e))?;
    let mut form = form.map_err(|_| {
        fail(
            &p,
            ApiError::bad_request(tr(
                l,
                "The upload is not a file form (multipart/form-data); use the form on this page",
                "上傳內容不是檔案表單（multipart/form-data）；請使用本頁的表單",
            )),
        )
    })?;
    let broken = |e: axum::extract::multipart::MultipartError| upload_error(&p, limit, &e);
    let mut file: Option<(String, tokio::fs::File, u64)> = None;
    while let Some(mut field) = form.next_field().await.map_err(broken)? {
        if field.name() != Some("file") {
            // The `csrf` field, and anything else a client adds, read past and dropped.
            while field.chunk().await.map_err(broken)?.is_some() {}
            continue;
        }
        if file.is_some() {
            return Err(fail(
                &p,
                ApiError::bad_request(tr(l, "Upload one file at a time", "一次請上傳一個檔案")),
            ));
        }
        let name = field
            .file_name()
            .unwrap_or("upload.json")
            .chars()
            .take(100)
            .collect::<String>();
        let spool = tokio::task::spawn_blocking(tempfile::tempfile)
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|e| spool_failed(&p, &e))?;
        let mut spool = tokio::fs::File::from_std(spool);
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(broken)? {
            size += chunk.len() as u64;
            spool
                .write_all(&chunk)
                .await
                .map_err(|e| spool_failed(&p, &e))?;
        }
        spool.flush().await.map_err(|e| spool_failed(&p, &e))?;
        file = Some((name, spool, size));
    }
    let (name, spool, size) = file.ok_or_else(|| {
        fail(
            &p,
            ApiError::invalid(tr(l, "Choose a file to import", "請選擇要匯入的檔案")),
        )
    })?;
    if size == 0 {
        return Err(fail(
            &p,
            ApiError::invalid(tr(
                l,
                "The file is empty; choose a STIX bundle or a MISP event (JSON)",
                "檔案是空的；請選擇 STIX 套組或 MISP 事件（JSON）",
            )),
        ));
    }
    let spool = spool.into_std().await;
    let importer = Importer::new(&s.store, p.clone(), s.config.default_tlp)
        .await
        .map_err(|e| fail(&p, e))?
        .in_locale(l);
    let mut totals = ImportTotals::default();
    let notes = importer
        .upload(&s.store, &format!("upload {name}"), spool, &mut totals)
        .await
        .map_err(|e| match e {
            UploadError::MispTooLarge => fail(
                &p,
                too_large(
                    l,
                    tr(
                        l,
                        "A MISP event is read whole, and may be at most ",
                        "MISP 事件須整筆讀入，上限為 ",
                    ),
                    MISP_EVENT_BYTES,
                    tr(l, "; nothing was imported", "；未匯入任何內容"),
                ),
            ),
            UploadError::Failed(e) => fail(&p, e),
        })?;
    let mut r = exchange_view(&p, Some((&totals, &notes)));
    if totals.refused_units > 0 {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// The error page for an upload whose form could not be read: 413 when it passed the route's
/// limit, 400 when it is malformed or was cut off.
fn upload_error(
    p: &Principal,
    limit: usize,
    e: &axum::extract::multipart::MultipartError,
) -> Response {
    let l = p.user.locale;
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return fail(
            p,
            too_large(
                l,
                tr(
                    l,
                    "The upload is larger than ",
                    "上傳的檔案超過網頁匯入的上限 ",
                ),
                limit as u64,
                tr(
                    l,
                    ", the most the web import takes; nothing was imported",
                    "；未匯入任何內容",
                ),
            ),
        );
    }
    fail(
        p,
        ApiError::bad_request(tr(
            l,
            "The upload is malformed or was cut off; nothing was imported. Try again",
            "上傳內容格式錯誤或傳輸中斷，未匯入任何內容；請再試一次",
        )),
    )
}

/// 413 for an upload over `limit` bytes: `before`, the limit in `l`'s units, `after`.
fn too_large(l: Locale, before: &str, limit: u64, after: &str) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("{before}{}{after}", size_text(l, limit)),
    )
}

/// Writing the upload to its temporary file failed: a server problem, logged.
fn spool_failed(p: &Principal, e: &std::io::Error) -> Response {
    tracing::error!(error = %e, "spooling an upload to a temporary file");
    fail(p, ApiError::internal())
}

/// A size for people: whole MiB or KiB where it is one, else bytes.
fn size_text(l: Locale, bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes}{}", tr(l, " bytes", " 位元組"))
    }
}
