//! The REST API under `/api/v1`, and its OpenAPI 3 document at `/api/openapi.json`, generated
//! from these handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp, check_email, check_text, limits};
use isac_store::{
    ApplicationDecision, AuditEntry, ListQuery, NewApplication, NewOrg, NewUser, ObjectFilter,
    Sort, StoredObject,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::auth::{ClientIp, Principal};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::intel::{self, Directory, ObjectInput, ObjectView, Recipients, VersionInput};
use crate::routes::{Routes, Rule};

pub fn routes(r: Routes) -> Routes {
    use Rule::*;
    r.add(Method::GET, "/api/openapi.json", Public, get(openapi))
        .add(Method::GET, "/api/v1/me", User, get(me))
        .add(Method::GET, "/api/v1/orgs", User, get(list_orgs))
        .add(
            Method::POST,
            "/api/v1/orgs",
            OperatorAdmin,
            post(create_org),
        )
        .add(Method::GET, "/api/v1/orgs/{id}", User, get(get_org))
        .add(
            Method::PATCH,
            "/api/v1/orgs/{id}",
            OrgAdmin,
            patch(update_org),
        )
        .add(Method::GET, "/api/v1/users", OrgAdmin, get(list_users))
        .add(Method::POST, "/api/v1/users", OrgAdmin, post(create_user))
        .add(Method::GET, "/api/v1/users/{id}", OrgAdmin, get(get_user))
        .add(
            Method::PATCH,
            "/api/v1/users/{id}",
            OrgAdmin,
            patch(update_user),
        )
        .add(Method::GET, "/api/v1/groups", User, get(list_groups))
        .add(
            Method::POST,
            "/api/v1/groups",
            OperatorAdmin,
            post(create_group),
        )
        .add(
            Method::PUT,
            "/api/v1/groups/{id}/members/{org}",
            OperatorAdmin,
            put(add_member),
        )
        .add(
            Method::DELETE,
            "/api/v1/groups/{id}/members/{org}",
            OperatorAdmin,
            delete(remove_member),
        )
        .add(Method::POST, "/api/v1/applications", Public, post(apply))
        .add(
            Method::GET,
            "/api/v1/applications",
            OperatorAdmin,
            get(list_applications),
        )
        .add(
            Method::POST,
            "/api/v1/applications/{id}/approve",
            OperatorAdmin,
            post(approve),
        )
        .add(
            Method::POST,
            "/api/v1/applications/{id}/reject",
            OperatorAdmin,
            post(reject),
        )
        .add(Method::GET, "/api/v1/apikeys", User, get(list_keys))
        .add(Method::POST, "/api/v1/apikeys", User, post(create_key))
        .add(
            Method::DELETE,
            "/api/v1/apikeys/{id}",
            User,
            delete(revoke_key),
        )
        .add(Method::GET, "/api/v1/objects", User, get(list_objects))
        .add(
            Method::POST,
            "/api/v1/objects",
            IntelWriter,
            post(create_object),
        )
        .add(
            Method::POST,
            "/api/v1/objects/batch",
            IntelWriter,
            post(create_batch),
        )
        .add(Method::GET, "/api/v1/objects/{id}", User, get(get_object))
        .add(
            Method::GET,
            "/api/v1/objects/{id}/versions",
            User,
            get(object_versions),
        )
        .add(
            Method::GET,
            "/api/v1/objects/{id}/connections",
            User,
            get(object_connections),
        )
        .add(
            Method::POST,
            "/api/v1/objects/{id}/versions",
            IntelWriter,
            post(new_version),
        )
        .add(
            Method::POST,
            "/api/v1/objects/{id}/revoke",
            IntelWriter,
            post(revoke_object),
        )
        .add(Method::GET, "/api/v1/search", User, get(search))
        .add(Method::GET, "/api/v1/stats", User, get(stats))
        .add(
            Method::GET,
            "/api/v1/taxii-collections",
            User,
            get(taxii_collections),
        )
        .add(Method::GET, "/api/v1/audit", OperatorAdmin, get(audit))
        .add(
            Method::GET,
            "/api/v1/audit/verify",
            OperatorAdmin,
            get(audit_verify),
        )
}

#[derive(OpenApi)]
#[openapi(
    info(title = "isac REST API", version = "1", description = "Threat-intelligence sharing under the Traffic Light Protocol. Authenticate with `Authorization: Bearer <API key>` or HTTP Basic with the API key as password. Errors are `{code, message}`."),
    paths(
        me, list_orgs, create_org, get_org, update_org, list_users, create_user, get_user, update_user,
        list_groups, create_group, add_member, remove_member, apply, list_applications, approve, reject,
        list_keys, create_key, revoke_key, list_objects, create_object, create_batch, get_object,
        object_versions, object_connections, new_version, revoke_object, search, stats, taxii_collections, audit, audit_verify
    ),
    components(schemas(ErrorBody, OrgOut, UserOut, GroupOut, ApplicationOut, KeyOut, NewKeyOut, ObjectView,
        Recipients, ObjectInput, VersionInput, BatchInput, ObjectPageOut, StatsOut, AuditOut, VerifyOut, MeOut,
        NewOrgIn, NewUserIn, UpdateUserIn, UpdateOrgIn, NewGroupIn, ApplyIn, ApproveIn, NewKeyIn, Tlp, OrgKind, Role, Sector, Locale)),
    security(("bearer" = [])),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;
impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

async fn openapi() -> Response {
    let mut r = Json(ApiDoc::openapi()).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        "public, max-age=300".parse().expect("static"),
    );
    r
}

// ---------------------------------------------------------------- people and orgs

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OrgOut {
    pub id: String,
    pub kind: OrgKind,
    pub sector: Option<Sector>,
    pub name_en: String,
    pub name_zh: String,
    pub partner_ceiling: Option<Tlp>,
    pub require_totp: bool,
    /// The org's STIX identity id.
    pub identity: String,
}

impl From<isac_store::Org> for OrgOut {
    fn from(o: isac_store::Org) -> OrgOut {
        OrgOut {
            identity: intel::identity_id(&o.id),
            id: o.id,
            kind: o.kind,
            sector: o.sector,
            name_en: o.name_en,
            name_zh: o.name_zh,
            partner_ceiling: o.partner_ceiling,
            require_totp: o.require_totp,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub locale: Locale,
    pub role: Role,
    pub enabled: bool,
    pub totp_enabled: bool,
}

impl From<isac_store::User> for UserOut {
    fn from(u: isac_store::User) -> UserOut {
        UserOut {
            totp_enabled: u.totp_secret.is_some(),
            id: u.id,
            org_id: u.org_id,
            email: u.email,
            display_name: u.display_name,
            locale: u.locale,
            role: u.role,
            enabled: u.enabled,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MeOut {
    pub user: UserOut,
    pub org: OrgOut,
    pub groups: Vec<String>,
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "people", responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)))]
async fn me(p: Principal) -> Json<MeOut> {
    Json(MeOut {
        groups: p.viewer.groups.iter().cloned().collect(),
        user: p.user.into(),
        org: p.org.into(),
    })
}

/// Every organisation.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "people", responses((status = 200, body = [OrgOut])))]
async fn list_orgs(State(s): State<AppState>, _p: Principal) -> ApiResult<Json<Vec<OrgOut>>> {
    Ok(Json(
        s.store.orgs().await?.into_iter().map(Into::into).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgIn {
    pub kind: OrgKind,
    pub name_en: String,
    pub name_zh: String,
    #[serde(default)]
    pub sector: Option<Sector>,
    #[serde(default)]
    pub partner_ceiling: Option<Tlp>,
}

/// Creates an organisation (operator admins).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "people", request_body = NewOrgIn, responses((status = 201, body = OrgOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_org(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<NewOrgIn>,
) -> ApiResult<(StatusCode, Json<OrgOut>)> {
    check_text("name_en", &b.name_en, limits::NAME_CHARS)?;
    check_text("name_zh", &b.name_zh, limits::NAME_CHARS)?;
    let org = s
        .store
        .create_org(
            &NewOrg {
                kind: b.kind,
                sector: b.sector,
                name_en: b.name_en,
                name_zh: b.name_zh,
                partner_ceiling: b.partner_ceiling,
            },
            p.audit("org.create", "-", ip),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// One organisation.
#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "people", params(("id" = String, Path)), responses((status = 200, body = OrgOut), (status = 404, body = ErrorBody)))]
async fn get_org(
    State(s): State<AppState>,
    _p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OrgOut>> {
    Ok(Json(s.store.org(&id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgIn {
    /// Whether every user of the org must use a TOTP second factor.
    pub require_totp: bool,
}

/// Changes an org's settings (operator admins; member admins for their own org).
#[utoipa::path(patch, path = "/api/v1/orgs/{id}", tag = "people", params(("id" = String, Path)), request_body = UpdateOrgIn, responses((status = 200, body = OrgOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_org(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateOrgIn>,
) -> ApiResult<Json<OrgOut>> {
    may_manage_org(&s, &p, &id, ip).await?;
    s.store
        .set_org_require_totp(
            &id,
            b.require_totp,
            p.audit("org.require_totp", &id, ip)
                .detail(b.require_totp.to_string()),
        )
        .await?;
    Ok(Json(s.store.org(&id).await?.into()))
}

/// Operator admins manage every org; member admins their own. Anything else is refused and audited.
async fn may_manage_org(
    s: &AppState,
    p: &Principal,
    org: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    if p.user.role.is_operator_admin() || (p.user.role.manages_own_org() && p.org.id == org) {
        return Ok(());
    }
    s.store
        .audit(
            &p.audit("access.denied", org, ip)
                .outcome(isac_store::Outcome::Denied)
                .detail("manage another org"),
        )
        .await?;
    Err(ApiError::forbidden(
        "you may manage only your own organisation",
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsersParams {
    /// Only users of this org. Member admins always see only their own org.
    pub org: Option<String>,
}

/// Users (operator admins: all or one org; member admins: their own org).
#[utoipa::path(get, path = "/api/v1/users", tag = "people", params(UsersParams), responses((status = 200, body = [UserOut]), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    ApiQuery(q): ApiQuery<UsersParams>,
) -> ApiResult<Json<Vec<UserOut>>> {
    let org = if p.user.role.is_operator_admin() {
        q.org
    } else {
        let org = q.org.unwrap_or_else(|| p.org.id.clone());
        may_manage_org(&s, &p, &org, ip).await?;
        Some(org)
    };
    Ok(Json(
        s.store
            .users(org.as_deref())
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserIn {
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub locale: Option<Locale>,
    /// Optional initial password (12 to 256 characters). Without one the user cannot log in
    /// until a password is set.
    #[serde(default)]
    pub password: Option<String>,
}

/// Creates a user (operator admins in any org; member admins in their own).
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = NewUserIn, responses((status = 201, body = UserOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<NewUserIn>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    may_manage_org(&s, &p, &b.org_id, ip).await?;
    let user = create_user_checked(&s, &p, ip, b).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Validates and creates a user; shared by the API and the web form.
pub async fn create_user_checked(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    b: NewUserIn,
) -> ApiResult<isac_store::User> {
    check_email(&b.email)?;
    check_text("display_name", &b.display_name, limits::DISPLAY_NAME_CHARS)?;
    if !p.user.role.is_operator_admin() && matches!(b.role, Role::IsacAdmin | Role::IsacAnalyst) {
        return Err(ApiError::forbidden(
            "only operator admins grant operator roles",
        ));
    }
    let password_hash = match b.password {
        Some(pw) => Some(
            tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw))
                .await
                .map_err(|_| ApiError::internal())??,
        ),
        None => None,
    };
    let user = s
        .store
        .create_user(
            &NewUser {
                org_id: b.org_id,
                email: b.email,
                display_name: b.display_name,
                locale: b.locale.unwrap_or(Locale::ZhTw),
                role: b.role,
                password_hash,
            },
            p.audit("user.create", "-", ip),
        )
        .await?;
    Ok(user)
}

/// One user (operator admins; member admins for their own org). Users of other orgs are not found.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "people", params(("id" = String, Path)), responses((status = 200, body = UserOut), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UserOut>> {
    Ok(Json(managed_user(&s, &p, &id).await?.into()))
}

async fn managed_user(s: &AppState, p: &Principal, id: &str) -> ApiResult<isac_store::User> {
    let u = s.store.user(id).await?;
    if p.user.role.is_operator_admin() || u.org_id == p.org.id {
        Ok(u)
    } else {
        Err(ApiError::not_found("user"))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserIn {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub locale: Option<Locale>,
    /// Removes the user's second factor, so they enrol again.
    #[serde(default)]
    pub reset_totp: bool,
}

/// Enables or disables a user (disabling ends their sessions), changes their language, or resets
/// their second factor.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people", params(("id" = String, Path)), request_body = UpdateUserIn, responses((status = 200, body = UserOut), (status = 404, body = ErrorBody)))]
async fn update_user(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateUserIn>,
) -> ApiResult<Json<UserOut>> {
    let u = managed_user(&s, &p, &id).await?;
    if let Some(e) = b.enabled {
        if u.id == p.user.id && !e {
            return Err(ApiError::conflict("you cannot disable yourself"));
        }
        s.store
            .set_user_enabled(
                &u.id,
                e,
                p.audit(if e { "user.enable" } else { "user.disable" }, &u.id, ip),
            )
            .await?;
    }
    if let Some(l) = b.locale {
        s.store.set_user_locale(&u.id, l).await?;
    }
    if b.reset_totp {
        s.store
            .set_user_totp(&u.id, None, p.audit("user.totp_reset", &u.id, ip))
            .await?;
    }
    Ok(Json(s.store.user(&u.id).await?.into()))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct GroupOut {
    pub id: String,
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
}

impl From<isac_store::Group> for GroupOut {
    fn from(g: isac_store::Group) -> GroupOut {
        GroupOut {
            id: g.id,
            name: g.name,
            description: g.description,
            members: g.members.into_iter().collect(),
        }
    }
}

/// Sharing groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "people", responses((status = 200, body = [GroupOut])))]
async fn list_groups(State(s): State<AppState>, _p: Principal) -> ApiResult<Json<Vec<GroupOut>>> {
    Ok(Json(
        s.store
            .groups()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Creates a sharing group (operator admins).
#[utoipa::path(post, path = "/api/v1/groups", tag = "people", request_body = NewGroupIn, responses((status = 201, body = GroupOut), (status = 409, body = ErrorBody)))]
async fn create_group(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<NewGroupIn>,
) -> ApiResult<(StatusCode, Json<GroupOut>)> {
    check_text("name", &b.name, limits::NAME_CHARS)?;
    if b.description.chars().count() > limits::TEXT_CHARS {
        return Err(ApiError::invalid(format!(
            "description is over {} characters",
            limits::TEXT_CHARS
        )));
    }
    let g = s
        .store
        .create_group(&b.name, &b.description, p.audit("group.create", "-", ip))
        .await?;
    Ok((StatusCode::CREATED, Json(g.into())))
}

/// Adds an org to a sharing group (operator admins).
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{org}", tag = "people", params(("id" = String, Path), ("org" = String, Path)), responses((status = 200, body = GroupOut), (status = 404, body = ErrorBody)))]
async fn add_member(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path((id, org)): Path<(String, String)>,
) -> ApiResult<Json<GroupOut>> {
    set_member(&s, &p, ip, &id, &org, true).await
}

/// Removes an org from a sharing group (operator admins).
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{org}", tag = "people", params(("id" = String, Path), ("org" = String, Path)), responses((status = 200, body = GroupOut), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path((id, org)): Path<(String, String)>,
) -> ApiResult<Json<GroupOut>> {
    set_member(&s, &p, ip, &id, &org, false).await
}

async fn set_member(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    group: &str,
    org: &str,
    member: bool,
) -> ApiResult<Json<GroupOut>> {
    let g = s
        .store
        .groups()
        .await?
        .into_iter()
        .find(|g| g.id == group)
        .ok_or(ApiError::not_found("group"))?;
    let o = s.store.org(org).await?;
    s.store
        .set_group_member(
            &g.id,
            &o.id,
            member,
            p.audit(
                if member {
                    "group.add_member"
                } else {
                    "group.remove_member"
                },
                &g.id,
                ip,
            )
            .detail(o.id.clone()),
        )
        .await?;
    Ok(Json(s.store.find_group(&g.id).await?.into()))
}

// ---------------------------------------------------------------- applications

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ApplicationOut {
    pub id: String,
    pub name_en: String,
    pub name_zh: String,
    pub sector: Sector,
    pub contact_name: String,
    pub contact_email: String,
    pub motivation: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub org_id: Option<String>,
}

impl From<isac_store::Application> for ApplicationOut {
    fn from(a: isac_store::Application) -> ApplicationOut {
        ApplicationOut {
            id: a.id,
            name_en: a.name_en,
            name_zh: a.name_zh,
            sector: a.sector,
            contact_name: a.contact_name,
            contact_email: a.contact_email,
            motivation: a.motivation,
            status: a.status,
            org_id: a.org_id,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyIn {
    pub name_en: String,
    pub name_zh: String,
    pub sector: Sector,
    pub contact_name: String,
    pub contact_email: String,
    pub motivation: String,
}

/// An institution applies for membership. Open to anyone; rate-limited per address.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = ApplyIn, security(()), responses((status = 201, body = ApplicationOut), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn apply(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<ApplyIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let a = submit_application(&s, ip, b).await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// Validates and stores an application; shared by the API and the web form.
pub async fn submit_application(
    s: &AppState,
    ip: std::net::IpAddr,
    b: ApplyIn,
) -> ApiResult<isac_store::Application> {
    if !s.limiter.allow(ip) {
        return Err(ApiError::too_many());
    }
    check_text("name_en", &b.name_en, limits::NAME_CHARS)?;
    check_text("name_zh", &b.name_zh, limits::NAME_CHARS)?;
    check_text("contact_name", &b.contact_name, limits::DISPLAY_NAME_CHARS)?;
    check_email(&b.contact_email)?;
    check_text("motivation", &b.motivation, limits::TEXT_CHARS)?;
    Ok(s.store
        .create_application(
            &NewApplication {
                name_en: b.name_en,
                name_zh: b.name_zh,
                sector: b.sector,
                contact_name: b.contact_name,
                contact_email: b.contact_email,
                motivation: b.motivation,
            },
            AuditEntry::new("application.submit", "-").from_source(format!("{ip} public")),
        )
        .await?)
}

/// Membership applications, newest first (operator admins).
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", responses((status = 200, body = [ApplicationOut])))]
async fn list_applications(
    State(s): State<AppState>,
    _p: Principal,
) -> ApiResult<Json<Vec<ApplicationOut>>> {
    Ok(Json(
        s.store
            .applications()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ApproveIn {
    /// The first admin's initial password; without one, they cannot log in until it is set.
    #[serde(default)]
    pub admin_password: Option<String>,
    #[serde(default)]
    pub locale: Option<Locale>,
}

/// Approves an application: creates the member org and its first member admin, atomically.
#[utoipa::path(post, path = "/api/v1/applications/{id}/approve", tag = "applications", params(("id" = String, Path)), request_body = ApproveIn, responses((status = 200, body = ApplicationOut), (status = 409, body = ErrorBody)))]
async fn approve(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ApproveIn>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(decide(&s, &p, ip, &id, Some(b)).await?.into()))
}

/// Rejects an application.
#[utoipa::path(post, path = "/api/v1/applications/{id}/reject", tag = "applications", params(("id" = String, Path)), responses((status = 200, body = ApplicationOut), (status = 409, body = ErrorBody)))]
async fn reject(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(decide(&s, &p, ip, &id, None).await?.into()))
}

/// Decides an application; shared by the API and the web form.
pub async fn decide(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    id: &str,
    approve: Option<ApproveIn>,
) -> ApiResult<isac_store::Application> {
    let decision = match approve {
        Some(b) => {
            let admin_password_hash = match b.admin_password {
                Some(pw) => Some(
                    tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw))
                        .await
                        .map_err(|_| ApiError::internal())??,
                ),
                None => None,
            };
            ApplicationDecision::Approve {
                admin_password_hash,
                locale: b.locale.unwrap_or(Locale::ZhTw),
            }
        }
        None => ApplicationDecision::Reject,
    };
    let action = if matches!(decision, ApplicationDecision::Reject) {
        "application.reject"
    } else {
        "application.approve"
    };
    let (app, _) = s
        .store
        .decide_application(id, &p.user.id, decision, p.audit(action, id, ip))
        .await?;
    Ok(app)
}

// ---------------------------------------------------------------- API keys

#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<isac_store::ApiKey> for KeyOut {
    fn from(k: isac_store::ApiKey) -> KeyOut {
        KeyOut {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewKeyOut {
    pub key: KeyOut,
    /// The token. It is shown only in this response; the server keeps only its hash.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyIn {
    pub name: String,
}

/// The caller's API keys.
#[utoipa::path(get, path = "/api/v1/apikeys", tag = "keys", responses((status = 200, body = [KeyOut])))]
async fn list_keys(State(s): State<AppState>, p: Principal) -> ApiResult<Json<Vec<KeyOut>>> {
    Ok(Json(
        s.store
            .api_keys(&p.user.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates an API key for the caller. The token is in the response once.
#[utoipa::path(post, path = "/api/v1/apikeys", tag = "keys", request_body = NewKeyIn, responses((status = 201, body = NewKeyOut)))]
async fn create_key(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<NewKeyIn>,
) -> ApiResult<(StatusCode, Json<NewKeyOut>)> {
    let (token, key) = crate::auth::create_api_key(
        &s.store,
        &p.user,
        &b.name,
        p.audit("apikey.create", &p.user.id, ip),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyOut {
            key: key.into(),
            token,
        }),
    ))
}

/// Revokes an API key: the caller's own, or, for admins, one of a user they manage.
#[utoipa::path(delete, path = "/api/v1/apikeys/{id}", tag = "keys", params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    revoke_key_checked(&s, &p, ip, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_key_checked(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    id: &str,
) -> ApiResult<()> {
    let key = s.store.api_key(id).await?;
    let owner = s.store.user(&key.user_id).await?;
    let allowed = key.user_id == p.user.id
        || p.user.role.is_operator_admin()
        || (p.user.role.manages_own_org() && owner.org_id == p.org.id);
    if !allowed {
        return Err(ApiError::not_found("API key"));
    }
    s.store
        .revoke_api_key(id, p.audit("apikey.revoke", id, ip))
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- intelligence

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// STIX type, e.g. `indicator`.
    #[serde(rename = "type")]
    pub stix_type: Option<String>,
    /// TLP level.
    pub tlp: Option<String>,
    /// Owner org id.
    pub owner_org: Option<String>,
    pub revoked: Option<bool>,
    /// One of `-date_added` (default), `date_added`, `-modified`, `modified`.
    pub sort: Option<String>,
    /// The `next` value of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// Search value (search only): an IP, domain, hash, CVE id...
    pub q: Option<String>,
}

impl ListParams {
    pub fn to_query(&self) -> ApiResult<ListQuery> {
        let sort = match &self.sort {
            Some(s) => Sort::parse(s).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_sort",
                    format!("sort must be one of {}", Sort::NAMES.join(", ")),
                )
            })?,
            None => Sort::default(),
        };
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > limits::PAGE_MAX {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_limit",
                format!("limit must be 1 to {}", limits::PAGE_MAX),
            ));
        }
        if self.stix_type.as_ref().is_some_and(|t| t.len() > 250) {
            return Err(ApiError::bad_request("type is too long"));
        }
        let value = match &self.q {
            Some(q) if q.trim().is_empty() => None,
            Some(q) if q.chars().count() > limits::SEARCH_CHARS => {
                return Err(ApiError::bad_request(format!(
                    "the search value is over {} characters",
                    limits::SEARCH_CHARS
                )));
            }
            Some(q) => Some(q.trim().to_lowercase()),
            None => None,
        };
        Ok(ListQuery {
            filter: ObjectFilter {
                stix_type: self.stix_type.clone().filter(|t| !t.is_empty()),
                tlp: self
                    .tlp
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(intel::parse_tlp)
                    .transpose()?,
                owner_org: self.owner_org.clone().filter(|t| !t.is_empty()),
                revoked: self.revoked,
                value,
            },
            sort,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
            limit,
        })
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ObjectPageOut {
    pub objects: Vec<ObjectView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Reads the latest version of an object for `p`. A read refused by the policy is audited as a
/// denied access and answered exactly like a missing object.
pub async fn read_object(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    id: &str,
) -> ApiResult<StoredObject> {
    match s.store.object(&p.viewer, id).await {
        Err(isac_store::StoreError::NotFound(what)) => {
            if id.len() <= 300 && s.store.object_exists(id).await? {
                s.store
                    .audit(
                        &p.audit("access.denied", id, ip)
                            .outcome(isac_store::Outcome::Denied)
                            .detail("object outside the viewer's audience"),
                    )
                    .await?;
            }
            Err(ApiError::not_found(what))
        }
        other => Ok(other?),
    }
}

async fn operator_id(s: &AppState) -> Option<String> {
    s.store.operator_org().await.ok().map(|o| o.id)
}

async fn page(s: &AppState, p: &Principal, q: &ListQuery) -> ApiResult<Json<ObjectPageOut>> {
    let page = s.store.list_objects(&p.viewer, q).await?;
    let op = operator_id(s).await;
    Ok(Json(ObjectPageOut {
        objects: page
            .objects
            .iter()
            .map(|o| intel::view(p, op.as_deref(), o))
            .collect(),
        next: page.next,
    }))
}

/// Lists the latest versions of the objects the caller may read.
#[utoipa::path(get, path = "/api/v1/objects", tag = "intelligence", params(ListParams), responses((status = 200, body = ObjectPageOut), (status = 400, body = ErrorBody)))]
async fn list_objects(
    State(s): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<ObjectPageOut>> {
    page(&s, &p, &q.to_query()?).await
}

/// Searches by value (IP, domain, hash, CVE id...) across the objects the caller may read.
#[utoipa::path(get, path = "/api/v1/search", tag = "intelligence", params(ListParams), responses((status = 200, body = ObjectPageOut), (status = 400, body = ErrorBody)))]
async fn search(
    State(s): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<ObjectPageOut>> {
    let lq = q.to_query()?;
    if lq.filter.value.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_query",
            "give a value to search for as `q`",
        ));
    }
    page(&s, &p, &lq).await
}

/// Creates one object with its TLP and audience.
#[utoipa::path(post, path = "/api/v1/objects", tag = "intelligence", request_body = ObjectInput, responses((status = 201, body = ObjectView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_object(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(b): ApiJson<ObjectInput>,
) -> ApiResult<(StatusCode, Json<ObjectView>)> {
    let l = crate::i18n::api_locale(&headers);
    let mut v = create_objects(&s, &p, ip, l, vec![b]).await?;
    Ok((StatusCode::CREATED, Json(v.remove(0))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// At most 1000 objects, stored all together or not at all.
    pub items: Vec<ObjectInput>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct BatchOut {
    pub ids: Vec<String>,
}

/// Creates many objects atomically: all are stored, or none.
#[utoipa::path(post, path = "/api/v1/objects/batch", tag = "intelligence", request_body = BatchInput, responses((status = 201, body = BatchOut), (status = 422, body = ErrorBody)))]
async fn create_batch(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(b): ApiJson<BatchInput>,
) -> ApiResult<(StatusCode, Json<BatchOut>)> {
    let l = crate::i18n::api_locale(&headers);
    if b.items.is_empty() || b.items.len() > 1000 {
        return Err(ApiError::invalid(crate::i18n::tr(
            l,
            "a batch has 1 to 1000 items",
            "一批須有 1 到 1000 項",
        )));
    }
    let v = create_objects(&s, &p, ip, l, b.items).await?;
    Ok((
        StatusCode::CREATED,
        Json(BatchOut {
            ids: v.into_iter().map(|o| o.id).collect(),
        }),
    ))
}

/// Prepares and stores first versions; shared by the API and the web form. Messages are in `l`.
pub async fn create_objects(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    l: Locale,
    items: Vec<ObjectInput>,
) -> ApiResult<Vec<ObjectView>> {
    let dir = Directory::load(&s.store).await?;
    let users = intel::user_ids(&s.store).await?;
    let now = chrono::Utc::now();
    let mut new = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let o = intel::prepare_new(l, &dir, &users, &p.user, item, s.config.default_tlp, now)
            .map_err(|mut e| {
                if i > 0 || e.message.is_empty() {
                    e.message = format!("item {i}: {}", e.message);
                }
                e
            })?;
        new.push(o);
    }
    let mut seen = std::collections::BTreeSet::new();
    for o in &new {
        if !seen.insert(o.stix_id.clone()) {
            return Err(ApiError::conflict(format!(
                "{} appears twice in the batch",
                o.stix_id
            )));
        }
    }
    let keys = s
        .store
        .insert_objects(&new, p.audit("object.create", "-", ip))
        .await?;
    let op = dir.operator().map(|o| o.id.clone());
    let mut out = Vec::with_capacity(new.len());
    for (n, k) in new.into_iter().zip(keys) {
        let stored = StoredObject {
            pk: k.pk,
            stix_id: n.stix_id,
            stix_type: n.stix_type,
            modified: n.modified,
            date_added: k.date_added,
            access: n.access,
            revoked: n.revoked,
            is_latest: true,
            title: n.title,
            body: n.body.into_string(),
        };
        out.push(intel::view(p, op.as_deref(), &stored));
    }
    Ok(out)
}

/// The latest version of an object. Objects the caller may not read are not found.
#[utoipa::path(get, path = "/api/v1/objects/{id}", tag = "intelligence", params(("id" = String, Path)), responses((status = 200, body = ObjectView), (status = 404, body = ErrorBody)))]
async fn get_object(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ObjectView>> {
    let o = s.store.object(&p.viewer, &id).await?;
    let op = operator_id(&s).await;
    Ok(Json(intel::view(&p, op.as_deref(), &o)))
}

/// Every version of an object the caller may read, oldest first.
#[utoipa::path(get, path = "/api/v1/objects/{id}/versions", tag = "intelligence", params(("id" = String, Path)), responses((status = 200, body = [ObjectView]), (status = 404, body = ErrorBody)))]
async fn object_versions(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ObjectView>>> {
    let v = s.store.object_versions(&p.viewer, &id).await?;
    if v.is_empty() {
        return Err(ApiError::not_found("object"));
    }
    let op = operator_id(&s).await;
    Ok(Json(
        v.iter()
            .map(|o| intel::view(&p, op.as_deref(), o))
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectionParams {
    /// At most this many, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// The relationships and sightings that connect an object to others, newest first: the latest
/// version of each that the caller may read, which needs every object it connects to be
/// readable too. An object the caller may not read is not found.
#[utoipa::path(get, path = "/api/v1/objects/{id}/connections", tag = "intelligence", params(("id" = String, Path), ConnectionParams), responses((status = 200, body = [ObjectView]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn object_connections(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ConnectionParams>,
) -> ApiResult<Json<Vec<ObjectView>>> {
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..) if n as usize <= isac_store::CONNECTIONS_MAX => n as usize,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "`limit` is 1 to {}",
                isac_store::CONNECTIONS_MAX
            )));
        }
    };
    // The object itself first: connections of an object the caller may not read are as
    // unknown as the object.
    s.store.object(&p.viewer, &id).await?;
    let c = s.store.connections(&p.viewer, &id, limit).await?;
    let op = operator_id(&s).await;
    Ok(Json(
        c.iter()
            .map(|o| intel::view(&p, op.as_deref(), o))
            .collect(),
    ))
}

/// Stores a new version. Only the owner org may widen the audience.
#[utoipa::path(post, path = "/api/v1/objects/{id}/versions", tag = "intelligence", params(("id" = String, Path)), request_body = VersionInput, responses((status = 201, body = ObjectView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn new_version(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    ApiJson(b): ApiJson<VersionInput>,
) -> ApiResult<(StatusCode, Json<ObjectView>)> {
    let l = crate::i18n::api_locale(&headers);
    let v = version(&s, &p, ip, l, &id, b, false).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Revokes an object (the owner org only), as a new version with `revoked: true`.
#[utoipa::path(post, path = "/api/v1/objects/{id}/revoke", tag = "intelligence", params(("id" = String, Path)), responses((status = 200, body = ObjectView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_object(
    State(s): State<AppState>,
    p: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<ObjectView>> {
    let v = version(
        &s,
        &p,
        ip,
        crate::i18n::api_locale(&headers),
        &id,
        VersionInput {
            changes: Default::default(),
            tlp: None,
            recipients: None,
        },
        true,
    )
    .await?;
    Ok(Json(v))
}

/// Prepares and stores a new version; shared by the API and the web UI. Messages are in `l`.
pub async fn version(
    s: &AppState,
    p: &Principal,
    ip: std::net::IpAddr,
    l: Locale,
    id: &str,
    b: VersionInput,
    revoke: bool,
) -> ApiResult<ObjectView> {
    let (current, withheld) = s.store.object_for_version(&p.viewer, id).await?;
    if current.revoked {
        return Err(ApiError::conflict(crate::i18n::tr(
            l,
            "the object is revoked; revoked objects get no new versions",
            "物件已撤銷；已撤銷的物件不再有新版本",
        )));
    }
    if revoke && current.access.owner_org != p.org.id {
        return Err(ApiError::forbidden(crate::i18n::tr(
            l,
            "only the owner org may revoke an object",
            "只有擁有機構可以撤銷物件",
        )));
    }
    let dir = Directory::load(&s.store).await?;
    let users = intel::user_ids(&s.store).await?;
    let new = intel::prepare_version(
        l,
        &dir,
        &users,
        &p.user,
        &current,
        &withheld,
        b,
        revoke,
        chrono::Utc::now(),
    )?;
    let writer_org = p.org.id.clone();
    let viewer = p.viewer.clone();
    let action = if revoke {
        "object.revoke"
    } else {
        "object.version"
    };
    s.store
        .insert_version(
            &new,
            |latest| {
                // Re-checked under the write lock: the caller may still read the latest version,
                // and this version does not widen it unless the caller's org owns it.
                if !isac_policy::can_read(&viewer, latest) {
                    return Err(isac_store::StoreError::NotFound("object"));
                }
                isac_policy::check_new_version(&writer_org, latest, &new.access)
                    .map_err(|e| isac_store::StoreError::Invalid(e.to_string()))
            },
            p.audit(action, id, ip),
        )
        .await?;
    let stored = s.store.object(&p.viewer, id).await?;
    Ok(intel::view(
        p,
        dir.operator().map(|o| o.id.as_str()),
        &stored,
    ))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct StatsOut {
    pub total: i64,
    /// Objects per TLP level, among those the caller may read.
    pub by_tlp: Vec<(Tlp, i64)>,
}

/// Counts of the objects the caller may read.
#[utoipa::path(get, path = "/api/v1/stats", tag = "intelligence", responses((status = 200, body = StatsOut)))]
async fn stats(State(s): State<AppState>, p: Principal) -> ApiResult<Json<StatsOut>> {
    let by_tlp = s.store.count_by_tlp(&p.viewer).await?;
    Ok(Json(StatsOut {
        total: by_tlp.iter().map(|(_, n)| n).sum(),
        by_tlp,
    }))
}

/// What a TAXII collection is.
#[derive(Serialize, Deserialize, ToSchema, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CollectionKindOut {
    /// Everything the caller may read.
    All,
    /// TLP:CLEAR, readable without login.
    Public,
    /// A sharing group of the caller's org.
    Group,
    /// The write collection (reading it lists what the caller's org has shared).
    Submit,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TaxiiCollectionOut {
    /// The collection id under `/taxii2/isac/collections/`.
    pub id: String,
    pub kind: CollectionKindOut,
    /// The sharing group's name, for a group's collection.
    pub group: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    /// Current versions a full TAXII read of the collection returns to the caller now.
    pub objects: i64,
    /// When the newest of them was added, RFC 3339, UTC.
    pub last_added: Option<String>,
}

/// The TAXII 2.1 collections the caller may know of, in the order of the TAXII collections
/// endpoint, each with what a full read of it returns to the caller (counted under the caller's
/// TLP scope): the figures of the web UI's TAXII page.
#[utoipa::path(get, path = "/api/v1/taxii-collections", tag = "intelligence", responses((status = 200, body = [TaxiiCollectionOut]), (status = 401, body = ErrorBody)))]
async fn taxii_collections(
    State(s): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<TaxiiCollectionOut>>> {
    use crate::taxii::CollectionKind;
    let out = crate::taxii::collection_summaries(&s, &p)
        .await?
        .into_iter()
        .map(|c| {
            let (kind, group) = match c.kind {
                CollectionKind::All => (CollectionKindOut::All, None),
                CollectionKind::Public => (CollectionKindOut::Public, None),
                CollectionKind::Group(name) => (CollectionKindOut::Group, Some(name)),
                CollectionKind::Submit => (CollectionKindOut::Submit, None),
            };
            TaxiiCollectionOut {
                id: c.id,
                kind,
                group,
                can_read: c.can_read,
                can_write: c.can_write,
                objects: c.objects,
                last_added: c.last_added.map(crate::taxii::date_text),
            }
        })
        .collect();
    Ok(Json(out))
}

// ---------------------------------------------------------------- audit

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditOut {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor_user: Option<String>,
    pub actor_org: Option<String>,
    pub source: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub hash: String,
}

impl From<isac_store::AuditRecord> for AuditOut {
    fn from(a: isac_store::AuditRecord) -> AuditOut {
        AuditOut {
            seq: a.seq,
            at: chrono::DateTime::<chrono::Utc>::from_timestamp_micros(a.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_default(),
            actor_user: a.actor_user,
            actor_org: a.actor_org,
            source: a.source,
            action: a.action,
            target: a.target,
            outcome: a.outcome,
            detail: a.detail,
            hash: a.hash,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Records before this sequence number.
    pub before: Option<i64>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

/// The audit log, newest first (operator admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), responses((status = 200, body = [AuditOut])))]
async fn audit(
    State(s): State<AppState>,
    _p: Principal,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditOut>>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > limits::PAGE_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            format!("limit must be 1 to {}", limits::PAGE_MAX),
        ));
    }
    Ok(Json(
        s.store
            .audit_page(q.before, limit)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct VerifyOut {
    pub records: u64,
    /// The first record whose hash link does not hold, if any.
    pub first_broken: Option<i64>,
}

/// Verifies the audit log's hash chain (operator admins).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", responses((status = 200, body = VerifyOut)))]
async fn audit_verify(State(s): State<AppState>, _p: Principal) -> ApiResult<Json<VerifyOut>> {
    let r = s.store.audit_verify().await?;
    Ok(Json(VerifyOut {
        records: r.records,
        first_broken: r.first_broken,
    }))
}
