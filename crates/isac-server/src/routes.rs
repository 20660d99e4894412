//! The route table. Every route is added with its access [`Rule`]; a layer on the route enforces
//! the rule, CSRF and the audit of denials before the handler runs. The table is returned with the
//! router so that tests can enumerate it.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;
use isac_model::Role;
use isac_store::Outcome;

use crate::AppState;
use crate::auth::{PendingMfa, Principal, Via};
use crate::error::ApiError;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, logged in or not: login, the application form, static assets, the OpenAPI document.
    Public,
    /// A session that passed the password and owes its second factor.
    PendingMfa,
    /// Any logged-in user.
    User,
    /// Roles that may write intelligence.
    IntelWriter,
    /// Operator admins, and member admins for their own org (handlers narrow to the org).
    OrgAdmin,
    /// Operator admins only.
    OperatorAdmin,
}

impl Rule {
    fn allows(self, role: Role) -> bool {
        match self {
            Rule::Public | Rule::User => true,
            Rule::PendingMfa => false,
            Rule::IntelWriter => role.may_write_intel(),
            Rule::OrgAdmin => role.is_operator_admin() || role.manages_own_org(),
            Rule::OperatorAdmin => role.is_operator_admin(),
        }
    }
}

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
}

/// Builds a router while recording every route's rule.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Routes {
    pub fn new(state: AppState) -> Routes {
        Routes {
            state,
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Adds `handler` for `method` at `path`, guarded by `rule`.
    pub fn add(
        mut self,
        method: Method,
        path: &'static str,
        rule: Rule,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        let guarded = handler.layer(from_fn_with_state((self.state.clone(), rule), enforce));
        self.router = self.router.route(path, guarded);
        self.table.push(RouteInfo { method, path, rule });
        self
    }
}

/// The whole application: API, web UI and static assets.
pub fn build(state: AppState) -> (Router, Vec<RouteInfo>) {
    let routes = Routes::new(state.clone());
    let routes = crate::api::routes(routes);
    let routes = crate::taxii::routes(routes);
    let Routes { router, table, .. } = crate::web::routes(routes);
    let router = router
        .fallback(fallback)
        .layer(from_fn_with_state(state.clone(), crate::auth::resolve))
        .layer(axum::middleware::from_fn(crate::taxii::layer))
        .layer(from_fn_with_state(state.clone(), security_headers))
        .layer(DefaultBodyLimit::max(isac_model::limits::BODY_BYTES))
        .with_state(state);
    (router, table)
}

async fn fallback(req: Request) -> Response {
    if is_api(req.uri().path()) {
        ApiError::not_found("route").into_response()
    } else {
        crate::web::not_found_page(&req).into_response()
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/taxii2/")
}

async fn security_headers(State(_): State<AppState>, req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff".parse().expect("static"),
    );
    h.insert(header::X_FRAME_OPTIONS, "DENY".parse().expect("static"));
    h.insert(
        header::REFERRER_POLICY,
        "same-origin".parse().expect("static"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"
            .parse()
            .expect("static"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    }
    r
}

/// Largest form body the CSRF check buffers. Web forms are small; anything larger is refused.
const FORM_BYTES: usize = 256 * 1024;

async fn enforce(
    State((state, rule)): State<(AppState, Rule)>,
    req: Request,
    next: Next,
) -> Response {
    let api = is_api(req.uri().path());
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
    if rule == Rule::Public {
        return next.run(req).await;
    }
    if rule == Rule::PendingMfa {
        if let Some(p) = req.extensions().get::<PendingMfa>().cloned() {
            let csrf = p.csrf.clone();
            return match check_csrf(req, &csrf).await {
                Ok(req) => next.run(req).await,
                Err(e) => e.into_response(),
            };
        }
        return unauthenticated(api, &req);
    }
    let Some(p) = req.extensions().get::<Principal>().cloned() else {
        return unauthenticated(api, &req);
    };
    if !rule.allows(p.user.role) {
        let entry = p
            .audit("access.denied", req.uri().path().to_owned(), ip)
            .outcome(Outcome::Denied)
            .detail(format!(
                "{} {} needs {rule:?}",
                req.method(),
                req.uri().path()
            ));
        if let Err(e) = state.store.audit(&entry).await {
            return ApiError::from(e).into_response();
        }
        let e = ApiError::forbidden("your role may not do this");
        return if api {
            e.into_response()
        } else {
            crate::web::error_page(&p, &e).into_response()
        };
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let req = match &p.via {
        Via::Session { csrf, .. } => match check_csrf(req, csrf).await {
            Ok(r) => r,
            Err(e) => {
                let entry = p
                    .audit("access.denied", path.clone(), ip)
                    .outcome(Outcome::Denied)
                    .detail(format!("{method} {path}: {}", e.code));
                if let Err(e) = state.store.audit(&entry).await {
                    return ApiError::from(e).into_response();
                }
                return if api {
                    e.into_response()
                } else {
                    crate::web::error_page(&p, &e).into_response()
                };
            }
        },
        Via::ApiKey { .. } | Via::Local => req,
    };
    next.run(req).await
}

fn unauthenticated(api: bool, _req: &Request) -> Response {
    if api {
        ApiError::unauthenticated().into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

fn csrf_error() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "the form has expired or did not come from this site; reload the page and try again",
    )
}

/// For state-changing methods: the session's CSRF token must come in the `X-CSRF-Token` header
/// or, for HTML forms, in the `csrf` field. Compared in constant time.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(req);
    }
    if let Some(h) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return if ct_eq(h, expected) {
            Ok(req)
        } else {
            Err(csrf_error())
        };
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        return check_multipart_csrf(req, expected).await;
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(csrf_error());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the form is too large",
        )
    })?;
    let token = form_field(&bytes, "csrf");
    if !token.is_some_and(|t| ct_eq(&t, expected)) {
        return Err(csrf_error());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// CSRF for file uploads (`multipart/form-data`): the `csrf` field must be in the form. The body
/// is read whole (within the body limit) so the handler still gets all of it.
async fn check_multipart_csrf(req: Request, expected: &str) -> Result<Request, ApiError> {
    use axum::extract::FromRequest;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, isac_model::limits::BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the upload is larger than {} bytes",
                    isac_model::limits::BODY_BYTES
                ),
            )
        })?;
    let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
    let mut form = axum::extract::Multipart::from_request(probe, &())
        .await
        .map_err(|_| csrf_error())?;
    let mut token = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("csrf") {
            token = field.text().await.ok();
            break;
        }
    }
    if !token.is_some_and(|t| ct_eq(&t, expected)) {
        return Err(csrf_error());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The first value of `name` in a urlencoded form.
pub fn form_field(bytes: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Constant-time string comparison.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
        && !b.is_empty()
}
