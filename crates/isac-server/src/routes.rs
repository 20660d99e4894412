//! The route table. Every route is added with its access [`Rule`]; a layer on the route enforces
//! the rule, CSRF and the audit of denials before the handler runs. The table is returned with the
//! router so that tests can enumerate it.
//!
//! Bodies are capped at `limits::BODY_BYTES`, except on upload routes ([`Routes::add_upload`]),
//! which take up to [`UPLOAD_BYTES`] and are never buffered: their CSRF token is read from the
//! first field of the form as the body streams in.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, BodyDataStream, Bytes};
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
    /// The largest body the route takes: `limits::BODY_BYTES`, or the upload limit.
    pub body_limit: usize,
}

/// The largest body of an upload route ([`Routes::add_upload`]), the web import of one STIX
/// bundle or MISP event. Bundles exchanged between members run to tens of MiB, far past
/// `limits::BODY_BYTES`. An upload is streamed to a temporary file and imported chunk by chunk,
/// so memory does not grow with it; the cap bounds the disk and the import time one request may
/// take.
pub const UPLOAD_BYTES: usize = 256 * 1024 * 1024;

/// The body limit of an upload route, in the request's extensions, so that its handler can name
/// the limit when an upload passes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimit(pub usize);

/// What the layer of one route enforces.
#[derive(Debug, Clone, Copy)]
struct Guard {
    rule: Rule,
    /// `Some(limit)` on upload routes: the body limit, and the CSRF token of a multipart form
    /// read from its first field without buffering the body.
    upload: Option<usize>,
}

/// Builds a router while recording every route's rule.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    table: Vec<RouteInfo>,
    upload_bytes: usize,
}

impl Routes {
    pub fn new(state: AppState) -> Routes {
        Routes {
            state,
            router: Router::new(),
            table: Vec::new(),
            upload_bytes: UPLOAD_BYTES,
        }
    }

    /// Adds `handler` for `method` at `path`, guarded by `rule`.
    pub fn add(
        self,
        method: Method,
        path: &'static str,
        rule: Rule,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        self.guarded(method, path, Guard { rule, upload: None }, handler)
    }

    /// Adds a file upload: as [`Routes::add`], but the body may take up to [`UPLOAD_BYTES`]
    /// (every other route keeps `limits::BODY_BYTES`), and a session's CSRF token must be the
    /// first field of the multipart form. The token is checked as the body arrives, before the
    /// handler runs, and the handler then reads the whole body as a stream; nothing buffers it.
    /// Upload forms put their hidden `csrf` input before the file input, and browsers send
    /// fields in document order.
    pub fn add_upload(
        self,
        method: Method,
        path: &'static str,
        rule: Rule,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        let limit = self.upload_bytes;
        self.guarded(
            method,
            path,
            Guard {
                rule,
                upload: Some(limit),
            },
            handler,
        )
    }

    fn guarded(
        mut self,
        method: Method,
        path: &'static str,
        guard: Guard,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        // The enforcing layer goes inside the body limit of an upload route, so that the limit
        // is already the route's own when the layer reads the first field.
        let guarded = handler.layer(from_fn_with_state((self.state.clone(), guard), enforce));
        let guarded = match guard.upload {
            Some(limit) => guarded.layer(DefaultBodyLimit::max(limit)),
            None => guarded,
        };
        self.router = self.router.route(path, guarded);
        self.table.push(RouteInfo {
            method,
            path,
            rule: guard.rule,
            body_limit: guard.upload.unwrap_or(isac_model::limits::BODY_BYTES),
        });
        self
    }
}

/// The whole application: API, web UI and static assets.
pub fn build(state: AppState) -> (Router, Vec<RouteInfo>) {
    build_with(state, UPLOAD_BYTES)
}

/// As [`build`], with upload routes limited to `upload_bytes` (tests use a small limit).
pub(crate) fn build_with(state: AppState, upload_bytes: usize) -> (Router, Vec<RouteInfo>) {
    let mut routes = Routes::new(state.clone());
    routes.upload_bytes = upload_bytes;
    let routes = crate::api::routes(routes);
    let routes = crate::taxii::routes(routes);
    let Routes { router, table, .. } = crate::web::routes(routes);
    let router = router
        .fallback(fallback)
        .layer(from_fn_with_state(state.clone(), crate::auth::resolve))
        .layer(axum::middleware::from_fn(crate::taxii::layer))
        .layer(axum::middleware::from_fn(crate::i18n::api_errors))
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
    State((state, guard)): State<(AppState, Guard)>,
    mut req: Request,
    next: Next,
) -> Response {
    let rule = guard.rule;
    let streamed = guard.upload.is_some();
    if let Some(limit) = guard.upload {
        req.extensions_mut().insert(UploadLimit(limit));
    }
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
            return match check_csrf(req, &csrf, streamed).await {
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
        Via::Session { csrf, .. } => match check_csrf(req, csrf, streamed).await {
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
/// or, for HTML forms, in the `csrf` field. Compared in constant time. `streamed` (upload
/// routes): a multipart form's token is its first field, read without buffering the body.
async fn check_csrf(req: Request, expected: &str, streamed: bool) -> Result<Request, ApiError> {
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
        return if streamed {
            check_upload_csrf(req, expected).await
        } else {
            check_multipart_csrf(req, expected).await
        };
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

/// CSRF for upload routes: the `csrf` field must be the first field of the form. Only that field
/// is read, from the body as it arrives; what was read is then put back in front of the rest, so
/// the handler gets the whole body as a stream. A form whose first field is anything else (the
/// file above all) is refused before its content is read.
async fn check_upload_csrf(req: Request, expected: &str) -> Result<Request, ApiError> {
    use axum::extract::FromRequest;
    let (parts, body) = req.into_parts();
    let tap = Tap::new(body.into_data_stream());
    let probe = Request::from_parts(parts.clone(), Body::from_stream(tap.clone()));
    let token = {
        let mut form = axum::extract::Multipart::from_request(probe, &())
            .await
            .map_err(|_| csrf_error())?;
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.ok(),
            _ => None,
        }
    };
    if !token.is_some_and(|t| ct_eq(&t, expected)) {
        return Err(csrf_error());
    }
    Ok(Request::from_parts(parts, tap.into_body()))
}

/// Bytes a [`Tap`] hands on at a time: what a check reads past the field it wants is at most
/// this much.
const TAP_PIECE: usize = 16 * 1024;

/// A body stream that keeps what it has handed on, so that a check can read the start of a body
/// and the handler still get all of it ([`Tap::into_body`]). It hands the body on in pieces of
/// at most [`TAP_PIECE`] bytes, one per poll with a yield between them (a multipart parser reads
/// whatever is ready before it looks at it, and would otherwise take the whole body), and stops
/// with an error once it has handed on more than [`FORM_BYTES`]: a check never holds more than
/// that.
#[derive(Clone)]
struct Tap(Arc<Mutex<TapState>>);

struct TapState {
    /// The rest of the body; `None` once it has ended.
    rest: Option<BodyDataStream>,
    /// Taken from `rest` but not yet handed on.
    pending: Bytes,
    /// Handed on so far.
    seen: Vec<Bytes>,
    seen_bytes: usize,
    /// A piece was just handed on: the next poll yields first.
    yielded: bool,
}

impl Tap {
    fn new(body: BodyDataStream) -> Tap {
        Tap(Arc::new(Mutex::new(TapState {
            rest: Some(body),
            pending: Bytes::new(),
            seen: Vec::new(),
            seen_bytes: 0,
            yielded: false,
        })))
    }

    /// The whole body again: what was handed on, then the rest.
    fn into_body(self) -> Body {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut head = std::mem::take(&mut state.seen);
        head.push(std::mem::take(&mut state.pending));
        let head = tokio_stream::iter(head.into_iter().map(Ok::<_, axum::Error>));
        match state.rest.take() {
            Some(rest) => Body::from_stream(tokio_stream::StreamExt::chain(head, rest)),
            None => Body::from_stream(head),
        }
    }
}

impl tokio_stream::Stream for Tap {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let TapState {
            rest,
            pending,
            seen,
            seen_bytes,
            yielded,
        } = &mut *state;
        if std::mem::take(yielded) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if *seen_bytes > FORM_BYTES {
            return Poll::Ready(Some(Err(axum::Error::new(
                "the form's first field is too large",
            ))));
        }
        if pending.is_empty() {
            let Some(body) = rest.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => *pending = chunk,
                Poll::Ready(None) => {
                    *rest = None;
                    return Poll::Ready(None);
                }
                other => return other,
            }
        }
        let piece = pending.split_to(pending.len().min(TAP_PIECE));
        *yielded = true;
        *seen_bytes += piece.len();
        seen.push(piece.clone());
        Poll::Ready(Some(Ok(piece)))
    }
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
