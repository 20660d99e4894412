//! How a [`Client`](crate::Client) is set up.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};
use crate::outbound::OutboundPolicy;

/// The default cap on a response body: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// The default page size asked of the server (it may return fewer).
pub const DEFAULT_PAGE_LIMIT: u32 = 1000;
/// The default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time allowed for one whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything a [`Client`](crate::Client) needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// A discovery endpoint (`…/taxii2/`) or an API root. A trailing `/` is added when missing.
    pub url: Url,
    pub auth: Auth,
    pub connect_timeout: Duration,
    /// The limit on one whole request, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// Response bodies larger than this are refused ([`Error::ResponseTooLarge`]).
    pub max_response_bytes: usize,
    /// The `limit` sent when a filter does not set one. Every paged request carries a `limit`,
    /// which also keeps the parameters of a `next` request identical to the first one's.
    pub page_limit: u32,
    /// Which addresses may be contacted; see [`crate::outbound`].
    pub outbound: OutboundPolicy,
}

impl ClientConfig {
    /// A configuration with the defaults: no authentication, the default timeouts and caps, and
    /// the strict outbound policy (public addresses only).
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            url: directory_url(url)?,
            auth: Auth::None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            page_limit: DEFAULT_PAGE_LIMIT,
            outbound: OutboundPolicy::default(),
        })
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn outbound(mut self, policy: OutboundPolicy) -> Self {
        self.outbound = policy;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    pub fn page_limit(mut self, limit: u32) -> Self {
        self.page_limit = limit;
        self
    }
}

/// How the client authenticates. `Debug` never shows the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    /// HTTP Basic.
    Basic { user: String, password: String },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl Auth {
    pub fn basic(user: impl Into<String>, password: impl Into<String>) -> Self {
        Auth::Basic {
            user: user.into(),
            password: password.into(),
        }
    }

    pub fn bearer(token: impl Into<String>) -> Self {
        Auth::Bearer(token.into())
    }

    /// The `Authorization` header value.
    pub(crate) fn header(&self) -> Option<String> {
        use base64::Engine as _;
        match self {
            Auth::None => None,
            Auth::Basic { user, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => {
                write!(f, "Basic {{ user: {user:?}, password: <redacted> }}")
            }
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Parses a TAXII endpoint URL: `http` or `https`, a host, no credentials, no query or fragment,
/// and a path ending in `/` (TAXII URLs are directories, and relative joins depend on it).
pub(crate) fn directory_url(s: &str) -> Result<Url> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: s.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host().is_none() {
        return Err(invalid("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials belong in the client's auth setting, not in the URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a TAXII endpoint URL takes no query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
