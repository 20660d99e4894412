//! The client's error type.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::outbound::RefusedAddress;

/// Everything a TAXII call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configured URL (or one a server named) is not usable.
    #[error("invalid TAXII URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A setting of the [`ClientConfig`](crate::ClientConfig) is out of range.
    #[error("invalid TAXII client setting: {0}")]
    InvalidConfig(String),

    /// The outbound policy refused the address; nothing was sent.
    #[error("{0}")]
    Refused(RefusedAddress),

    /// The server answered with an HTTP error status. TAXII error resources are decoded into
    /// [`ServerError`]; other bodies keep the status and a short excerpt.
    #[error("{0}")]
    Server(Box<ServerError>),

    /// The request did not complete: name lookup, connection, TLS, timeout or a broken body.
    #[error("request to {url} failed: {message}")]
    Transport { url: String, message: String },

    /// The server answered with a redirect, which the client does not follow (a redirect could
    /// carry credentials to another host).
    #[error("{url} answered {status} redirecting to {location}; use the final URL instead")]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },

    /// A response body was larger than the configured cap.
    #[error("response from {url} is larger than the {limit}-byte limit")]
    ResponseTooLarge { url: String, limit: usize },

    /// A response body was not the TAXII resource expected.
    #[error("response from {url} is not a valid {resource}: {message}")]
    Decode {
        url: String,
        resource: &'static str,
        message: String,
    },

    /// The server broke a TAXII rule the client relies on (e.g. `more` without `next`).
    #[error("TAXII protocol error from {url}: {message}")]
    Protocol { url: String, message: String },

    /// The discovery resource names no API root the client can pick on its own.
    #[error("discovery resource at {url} names no default API root; choose one of: {}", candidates.join(", "))]
    NoDefaultApiRoot {
        url: String,
        candidates: Vec<String>,
    },

    /// One object alone is larger than the server accepts in a request.
    #[error(
        "object {id} is {size} bytes in an envelope, over the server's max_content_length of {limit}"
    )]
    ObjectTooLarge {
        id: String,
        size: usize,
        limit: usize,
    },

    /// An object handed to `push` is not a JSON object with a string `id`.
    #[error("object #{index} to push is not a STIX object with an id")]
    NotAnObject { index: usize },

    /// A poll was handed the state of another collection.
    #[error(
        "the poll state of collection {state_collection} at {state_api_root} cannot resume collection {collection}"
    )]
    WrongPollState {
        collection: String,
        state_collection: String,
        state_api_root: String,
    },

    /// The poll state file could not be read or written.
    #[error("poll state file {}: {message}", path.display())]
    State { path: PathBuf, message: String },
}

impl Error {
    /// The HTTP status of a [`Error::Server`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Server(e) => Some(e.status),
            _ => None,
        }
    }
}

/// An HTTP error answer from the server, with the TAXII error resource when it sent one.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerError {
    /// The HTTP status code.
    pub status: u16,
    /// The error resource's `title`, or the HTTP reason phrase when the body was not one.
    pub title: String,
    /// The error resource's `description`, or an excerpt of a body that was not one.
    pub description: Option<String>,
    pub error_id: Option<String>,
    pub error_code: Option<String>,
    /// The error resource's `http_status` as the server wrote it.
    pub http_status: Option<String>,
    pub external_details: Option<String>,
    pub details: Option<Value>,
    /// Whether the body was a TAXII error resource.
    pub taxii: bool,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TAXII server answered {}: {}", self.status, self.title)?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

/// The longest excerpt of a non-TAXII error body kept in [`ServerError::description`].
const EXCERPT_CHARS: usize = 200;

#[derive(Deserialize)]
struct ErrorResource {
    title: String,
    description: Option<String>,
    error_id: Option<String>,
    error_code: Option<String>,
    http_status: Option<Value>,
    external_details: Option<String>,
    details: Option<Value>,
}

impl ServerError {
    /// Builds the error from a status, its reason phrase and the (capped) body.
    pub(crate) fn from_body(status: u16, reason: &str, body: &[u8]) -> Self {
        if let Ok(e) = serde_json::from_slice::<ErrorResource>(body) {
            return ServerError {
                status,
                title: e.title,
                description: e.description,
                error_id: e.error_id,
                error_code: e.error_code,
                http_status: e.http_status.map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
                external_details: e.external_details,
                details: e.details,
                taxii: true,
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        ServerError {
            status,
            title: reason.to_owned(),
            description: (!excerpt.is_empty()).then_some(excerpt),
            error_id: None,
            error_code: None,
            http_status: None,
            external_details: None,
            details: None,
            taxii: false,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
