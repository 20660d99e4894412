//! The client, its API root and collection handles, and the paging iterator.

use std::io::Read;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::MEDIA_TYPE_TAXII;
use crate::config::{ClientConfig, directory_url};
use crate::error::{Error, Result, ServerError};
use crate::filter::ObjectFilter;
use crate::outbound::{PolicyResolver, RefusedAddress};
use crate::resources::{
    ApiRootInfo, CollectionInfo, Collections, Discovery, Envelope, Manifest, Page, Paged, Status,
    Versions,
};

/// The most of an error body that is read: enough for any TAXII error resource.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// A TAXII 2.1 client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    config: ClientConfig,
    authorization: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

/// A response that passed the status checks, with its body read under the cap.
pub(crate) struct Response {
    pub(crate) url: Url,
    pub(crate) body: Vec<u8>,
    pub(crate) date_added_first: Option<DateTime<Utc>>,
    pub(crate) date_added_last: Option<DateTime<Utc>>,
}

impl Response {
    pub(crate) fn decode<T: DeserializeOwned>(&self, resource: &'static str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            url: self.url.to_string(),
            resource,
            message: e.to_string(),
        })
    }
}

impl Client {
    /// Builds the client. Nothing is sent until the first call.
    pub fn new(config: ClientConfig) -> Result<Self> {
        if config.page_limit == 0 {
            return Err(Error::InvalidConfig("page_limit must be at least 1".into()));
        }
        if config.max_response_bytes == 0 {
            return Err(Error::InvalidConfig(
                "max_response_bytes must be at least 1".into(),
            ));
        }
        if config.timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "timeouts must be longer than zero".into(),
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(config.connect_timeout)
            .timeout(config.timeout)
            // A redirect could lead the credentials to another host; TAXII URLs are stable, so
            // a redirect is reported instead of followed.
            .redirects(0)
            // A proxy would connect on the client's behalf and bypass the address check.
            .try_proxy_from_env(false)
            .resolver(PolicyResolver(config.outbound.clone()))
            .user_agent(concat!("isac-taxii/", env!("CARGO_PKG_VERSION")))
            .build();
        let authorization = config.auth.header();
        Ok(Self {
            inner: Arc::new(Inner {
                agent,
                config,
                authorization,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Reads the discovery resource at the configured URL.
    pub fn discovery(&self) -> Result<Discovery> {
        self.get(&self.inner.config.url, &[])?
            .decode("discovery resource")
    }

    /// The API root the configured URL leads to: the URL itself when it is an API root, or the
    /// discovery resource's `default` (or its only root) when it is a discovery endpoint.
    pub fn api_root(&self) -> Result<ApiRoot> {
        let url = self.inner.config.url.clone();
        let response = self.get(&url, &[])?;
        let value: Value = response.decode("discovery or API root resource")?;
        if value.get("max_content_length").is_some() {
            let info = response.decode("API root resource")?;
            return Ok(ApiRoot::new(self.clone(), url, info));
        }
        let discovery: Discovery = response.decode("discovery resource")?;
        let chosen = match (&discovery.default, discovery.api_roots.as_slice()) {
            (Some(default), _) => default.clone(),
            (None, [only]) => only.clone(),
            (None, roots) => {
                return Err(Error::NoDefaultApiRoot {
                    url: url.to_string(),
                    candidates: roots.to_vec(),
                });
            }
        };
        // API root URLs may be relative to the discovery endpoint.
        let absolute = url.join(&chosen).map_err(|e| Error::InvalidUrl {
            url: chosen.clone(),
            reason: e.to_string(),
        })?;
        self.api_root_at(absolute.as_str())
    }

    /// Reads the API root at `url`.
    pub fn api_root_at(&self, url: &str) -> Result<ApiRoot> {
        let url = directory_url(url)?;
        let info = self.get(&url, &[])?.decode("API root resource")?;
        Ok(ApiRoot::new(self.clone(), url, info))
    }

    pub(crate) fn get(&self, url: &Url, query: &[(&str, String)]) -> Result<Response> {
        let mut url = url.clone();
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let request = self.request("GET", &url);
        self.finish(url, request.call())
    }

    pub(crate) fn post(&self, url: &Url, body: &[u8]) -> Result<Response> {
        let request = self
            .request("POST", url)
            .set("Content-Type", MEDIA_TYPE_TAXII);
        self.finish(url.clone(), request.send_bytes(body))
    }

    pub(crate) fn delete(&self, url: &Url, query: &[(&str, String)]) -> Result<Response> {
        let mut url = url.clone();
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let request = self.request("DELETE", &url);
        self.finish(url, request.call())
    }

    fn request(&self, method: &str, url: &Url) -> ureq::Request {
        let request = self
            .inner
            .agent
            .request_url(method, url)
            .set("Accept", MEDIA_TYPE_TAXII);
        match &self.inner.authorization {
            Some(value) => request.set("Authorization", value),
            None => request,
        }
    }

    fn finish(&self, url: Url, result: Result<ureq::Response, ureq::Error>) -> Result<Response> {
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(status, response)) => {
                let reason = response.status_text().to_owned();
                let body = read_capped(response, ERROR_BODY_BYTES, &url).unwrap_or_default();
                let error = ServerError::from_body(status, &reason, &body);
                return Err(Error::Server(Box::new(error)));
            }
            Err(ureq::Error::Transport(transport)) => {
                if let Some(refused) = refusal(&transport) {
                    return Err(Error::Refused(refused));
                }
                return Err(Error::Transport {
                    url: url.to_string(),
                    message: transport.to_string(),
                });
            }
        };
        let status = response.status();
        if (300..400).contains(&status) {
            return Err(Error::Redirect {
                url: url.to_string(),
                status,
                location: response.header("Location").unwrap_or("").to_owned(),
            });
        }
        let date_added_first = date_header(&response, "X-TAXII-Date-Added-First");
        let date_added_last = date_header(&response, "X-TAXII-Date-Added-Last");
        let body = read_capped(response, self.inner.config.max_response_bytes, &url)?;
        Ok(Response {
            url,
            body,
            date_added_first,
            date_added_last,
        })
    }

    pub(crate) fn get_page<T: Paged>(&self, url: &Url, filter: &ObjectFilter) -> Result<Page<T>> {
        let response = self.get(url, &filter.query(self.inner.config.page_limit))?;
        let body = response.decode(T::NAME)?;
        Ok(Page {
            body,
            date_added_first: response.date_added_first,
            date_added_last: response.date_added_last,
        })
    }
}

/// Reads a body, refusing it when it is (or announces itself as) larger than `cap`.
fn read_capped(response: ureq::Response, cap: usize, url: &Url) -> Result<Vec<u8>> {
    let too_large = || Error::ResponseTooLarge {
        url: url.to_string(),
        limit: cap,
    };
    if let Some(length) = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        && length > cap as u64
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    response
        .into_reader()
        .take(cap as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Error::Transport {
            url: url.to_string(),
            message: format!("reading the body: {e}"),
        })?;
    if body.len() > cap {
        return Err(too_large());
    }
    Ok(body)
}

fn date_header(response: &ureq::Response, name: &str) -> Option<DateTime<Utc>> {
    let value = response.header(name)?;
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The outbound-policy refusal inside a transport error, if that is what stopped the request.
fn refusal(transport: &ureq::Transport) -> Option<RefusedAddress> {
    let mut source = std::error::Error::source(transport);
    while let Some(error) = source {
        if let Some(refused) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<RefusedAddress>())
        {
            return Some(refused.clone());
        }
        source = error.source();
    }
    None
}

/// Appends path segments (each percent-encoded) and a trailing `/` to a directory URL.
fn child(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .expect("TAXII URLs are http(s) and always have a path");
        path.pop_if_empty();
        path.extend(segments);
        path.push("");
    }
    url
}

/// An API root: its URL and the information it published.
#[derive(Debug, Clone)]
pub struct ApiRoot {
    client: Client,
    url: Url,
    info: ApiRootInfo,
}

impl ApiRoot {
    fn new(client: Client, url: Url, info: ApiRootInfo) -> Self {
        Self { client, url, info }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn info(&self) -> &ApiRootInfo {
        &self.info
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Lists the collections the caller can see.
    pub fn collections(&self) -> Result<Vec<CollectionInfo>> {
        let collections: Collections = self
            .client
            .get(&child(&self.url, &["collections"]), &[])?
            .decode("collections resource")?;
        Ok(collections.collections)
    }

    /// A handle on one collection. Sends nothing; use [`Collection::info`] to read it.
    pub fn collection(&self, id: &str) -> Collection {
        Collection {
            url: child(&self.url, &["collections", id]),
            id: id.to_owned(),
            root: self.clone(),
        }
    }

    /// Reads the status of an add-objects request.
    pub fn status(&self, id: &str) -> Result<Status> {
        self.client
            .get(&child(&self.url, &["status", id]), &[])?
            .decode("status resource")
    }
}

/// One collection of an API root.
#[derive(Debug, Clone)]
pub struct Collection {
    root: ApiRoot,
    id: String,
    url: Url,
}

impl Collection {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn api_root(&self) -> &ApiRoot {
        &self.root
    }

    pub(crate) fn client(&self) -> &Client {
        &self.root.client
    }

    /// Reads the collection resource.
    pub fn info(&self) -> Result<CollectionInfo> {
        self.client()
            .get(&self.url, &[])?
            .decode("collection resource")
    }

    /// One page of objects.
    pub fn objects(&self, filter: &ObjectFilter) -> Result<Page<Envelope>> {
        self.client().get_page(&self.objects_url(), filter)
    }

    /// Every page of objects, following `next` until `more` is false.
    pub fn object_pages(&self, filter: &ObjectFilter) -> Pages<Envelope> {
        Pages::new(self.client().clone(), self.objects_url(), filter.clone())
    }

    /// Every object matching the filter, from all pages.
    pub fn all_objects(&self, filter: &ObjectFilter) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        for page in self.object_pages(filter) {
            all.extend(page?.body.objects);
        }
        Ok(all)
    }

    /// One page of the manifest.
    pub fn manifest(&self, filter: &ObjectFilter) -> Result<Page<Manifest>> {
        self.client().get_page(&self.manifest_url(), filter)
    }

    /// Every page of the manifest.
    pub fn manifest_pages(&self, filter: &ObjectFilter) -> Pages<Manifest> {
        Pages::new(self.client().clone(), self.manifest_url(), filter.clone())
    }

    /// One page of the versions of one object (by default its latest version only).
    pub fn object(&self, id: &str, filter: &ObjectFilter) -> Result<Page<Envelope>> {
        self.client().get_page(&self.object_url(id), filter)
    }

    /// Every page of one object's versions matching the filter.
    pub fn object_version_pages(&self, id: &str, filter: &ObjectFilter) -> Pages<Envelope> {
        Pages::new(self.client().clone(), self.object_url(id), filter.clone())
    }

    /// One page of the version timestamps of one object.
    pub fn versions(&self, id: &str, filter: &ObjectFilter) -> Result<Page<Versions>> {
        self.client()
            .get_page(&child(&self.object_url(id), &["versions"]), filter)
    }

    /// Every page of the version timestamps of one object.
    pub fn version_pages(&self, id: &str, filter: &ObjectFilter) -> Pages<Versions> {
        Pages::new(
            self.client().clone(),
            child(&self.object_url(id), &["versions"]),
            filter.clone(),
        )
    }

    /// Deletes an object (the versions `match[version]` and `match[spec_version]` select; by
    /// default every version).
    pub fn delete_object(&self, id: &str, filter: &ObjectFilter) -> Result<()> {
        let mut query = Vec::new();
        for (k, v) in filter.query(self.client().config().page_limit) {
            if k == "match[version]" || k == "match[spec_version]" {
                query.push((k, v));
            }
        }
        self.client().delete(&self.object_url(id), &query)?;
        Ok(())
    }

    pub(crate) fn objects_url(&self) -> Url {
        child(&self.url, &["objects"])
    }

    fn manifest_url(&self) -> Url {
        child(&self.url, &["manifest"])
    }

    fn object_url(&self, id: &str) -> Url {
        child(&self.url, &["objects", id])
    }
}

/// Pages of a paged resource, fetched one by one as the iterator advances.
///
/// The first request is the filter as given (a `next` token in it resumes an earlier listing);
/// each further request repeats the filter with the server's `next` token (TAXII 2.1 servers expect the
/// same parameters on every page). A page the server marks `more` without a `next` token, or an
/// empty page marked `more`, ends the iteration with [`Error::Protocol`] after that page.
pub struct Pages<T> {
    client: Client,
    url: Url,
    filter: ObjectFilter,
    state: PagesState,
    _resource: PhantomData<fn() -> T>,
}

enum PagesState {
    Ready,
    Failed(Error),
    Done,
}

impl<T> Pages<T> {
    fn new(client: Client, url: Url, filter: ObjectFilter) -> Self {
        Self {
            client,
            url,
            filter,
            state: PagesState::Ready,
            _resource: PhantomData,
        }
    }
}

impl<T> Pages<T> {
    /// Whether the last page has been read (or the iteration failed).
    pub fn finished(&self) -> bool {
        matches!(self.state, PagesState::Done)
    }
}

impl<T: Paged> Iterator for Pages<T> {
    type Item = Result<Page<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        match std::mem::replace(&mut self.state, PagesState::Done) {
            PagesState::Done => return None,
            PagesState::Failed(e) => return Some(Err(e)),
            PagesState::Ready => {}
        }
        let page: Page<T> = match self.client.get_page(&self.url, &self.filter) {
            Ok(page) => page,
            Err(e) => return Some(Err(e)),
        };
        if page.body.more() {
            let protocol = |message: &str| Error::Protocol {
                url: self.url.to_string(),
                message: message.to_owned(),
            };
            self.state = match page.body.next() {
                _ if page.body.is_empty() => {
                    PagesState::Failed(protocol("an empty page says there is more"))
                }
                Some(next) => {
                    self.filter.next = Some(next.to_owned());
                    PagesState::Ready
                }
                None => PagesState::Failed(protocol("a page says there is more but has no next")),
            };
        }
        Some(Ok(page))
    }
}
