//! isac's HTTP face: the REST API under `/api/v1`, its OpenAPI document, the server-rendered web
//! UI in zh-TW and English, authentication (sessions, TOTP, API keys) and the one mapping from
//! errors to responses.
//!
//! Architecture invariants:
//! - Every route is registered through [`routes::Routes::add`] (or [`routes::Routes::add_upload`]
//!   for file uploads) together with its access
//!   [`routes::Rule`]; the rule is enforced by a layer on that route, and the route table is
//!   enumerable, so a test proves every route refuses anonymous callers unless allow-listed.
//! - Handlers never read intelligence except through `isac_store` functions that take the
//!   caller's [`isac_policy::Viewer`]; the store filters and re-checks with the policy.
//! - Nothing changes state on GET; every state-changing request made with a session cookie
//!   carries the session's CSRF token.

pub mod api;
pub mod auth;
pub mod error;
pub mod export;
pub mod i18n;
pub mod import;
pub mod intel;
pub mod routes;
pub mod taxii;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use isac_model::Tlp;
use isac_store::Store;

pub use error::ApiError;
pub use routes::{RouteInfo, Rule};

/// Server settings. Every field has a production default; see [`Config::default`].
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub absolute_timeout: Duration,
    /// TLS certificate and key (PEM). When set, the listener speaks HTTPS and cookies are `Secure`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The TLP given to objects submitted without one. Never wider than GREEN.
    pub default_tlp: Tlp,
    /// Failed logins in a row before an account is locked.
    pub max_failed_logins: i64,
    /// How long a locked account stays locked.
    pub lockout: Duration,
    /// Login attempts accepted per client address per minute, whatever their outcome.
    pub login_attempts_per_minute: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            tls: None,
            default_tlp: Tlp::Green,
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            login_attempts_per_minute: 30,
        }
    }
}

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub limiter: Arc<auth::RateLimiter>,
    /// Permits for requests that spool to temporary disk (web imports, MISP feed archives):
    /// [`SPOOLS_AT_ONCE`] at a time, so that the disk they may take stays bounded.
    pub spool: Arc<tokio::sync::Semaphore>,
}

/// How many requests may spool to temporary disk at once. Each web import may write up to
/// `routes::UPLOAD_BYTES` and each MISP feed archive the size of the feed, so without a cap a
/// handful of concurrent uploads could fill the disk the store lives on. A request past the cap
/// is refused at once with 503 (before its body is read) rather than queued: a queued upload
/// still streams its body into the server's buffers while it waits.
pub const SPOOLS_AT_ONCE: usize = 2;

impl AppState {
    pub fn new(store: Store, config: Config) -> AppState {
        let per_minute = config.login_attempts_per_minute;
        AppState {
            store,
            config: Arc::new(config),
            limiter: Arc::new(auth::RateLimiter::new(per_minute, Duration::from_secs(60))),
            spool: Arc::new(tokio::sync::Semaphore::new(SPOOLS_AT_ONCE)),
        }
    }

    fn secure_cookies(&self) -> bool {
        self.config.tls.is_some()
    }
}

/// The whole application router, with its route table.
pub fn app(state: AppState) -> (axum::Router, Vec<RouteInfo>) {
    routes::build(state)
}

/// Serves until the process is stopped. Prints `isac listening on http://ADDR` on stdout once the
/// listener accepts connections, so scripts can start the server on port 0 and find it.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    use std::io::Write;
    let config = state.config.clone();
    let (router, _) = app(state);
    let make = router.into_make_service_with_connect_info::<SocketAddr>();
    match &config.tls {
        Some((cert, key)) => {
            // Two rustls crypto providers are linked (the server's aws-lc-rs, and ring through
            // the TAXII client), so the process default is chosen here; an earlier choice stands.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
            let listener = std::net::TcpListener::bind(config.listen)?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            println!("isac listening on https://{addr}");
            std::io::stdout().flush()?;
            axum_server::from_tcp_rustls(listener, tls)
                .serve(make)
                .await?;
        }
        None => {
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let addr = listener.local_addr()?;
            println!("isac listening on http://{addr}");
            std::io::stdout().flush()?;
            axum::serve(listener, make)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests;
