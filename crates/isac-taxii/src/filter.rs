//! Query parameters of the object, manifest and versions endpoints.

use chrono::{DateTime, SecondsFormat, Utc};

/// The filters and paging parameters of a TAXII 2.1 read.
///
/// Values inside one `match` field are alternatives (sent comma-separated); different fields must
/// all hold. Empty fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    /// Only objects added strictly after this time.
    pub added_after: Option<DateTime<Utc>>,
    /// The page size asked for; the server may return fewer. `None` uses the client's
    /// [`page_limit`](crate::ClientConfig::page_limit).
    pub limit: Option<u32>,
    /// A `next` token from an earlier page. Paging iterators set it themselves.
    pub next: Option<String>,
    /// `match[id]`.
    pub ids: Vec<String>,
    /// `match[type]`.
    pub types: Vec<String>,
    /// `match[version]`; empty means the server's default, the latest version.
    pub versions: Vec<VersionMatch>,
    /// `match[spec_version]`, e.g. `2.1`.
    pub spec_versions: Vec<String>,
}

impl ObjectFilter {
    /// No filter: every object, latest versions, pages of the client's default size.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn added_after(mut self, t: DateTime<Utc>) -> Self {
        self.added_after = Some(t);
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.ids.push(id.into());
        self
    }

    pub fn r#type(mut self, ty: impl Into<String>) -> Self {
        self.types.push(ty.into());
        self
    }

    pub fn version(mut self, v: VersionMatch) -> Self {
        self.versions.push(v);
        self
    }

    pub fn spec_version(mut self, v: impl Into<String>) -> Self {
        self.spec_versions.push(v.into());
        self
    }

    /// The query pairs, with `limit` always present (see [`crate::ClientConfig::page_limit`]).
    pub(crate) fn query(&self, default_limit: u32) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(t) = self.added_after {
            q.push(("added_after", format_timestamp(t)));
        }
        q.push(("limit", self.limit.unwrap_or(default_limit).to_string()));
        if let Some(next) = &self.next {
            q.push(("next", next.clone()));
        }
        let joined = |values: &[String]| values.join(",");
        if !self.ids.is_empty() {
            q.push(("match[id]", joined(&self.ids)));
        }
        if !self.types.is_empty() {
            q.push(("match[type]", joined(&self.types)));
        }
        if !self.versions.is_empty() {
            let v: Vec<String> = self.versions.iter().map(|v| v.to_param()).collect();
            q.push(("match[version]", joined(&v)));
        }
        if !self.spec_versions.is_empty() {
            q.push(("match[spec_version]", joined(&self.spec_versions)));
        }
        q
    }
}

/// One value of `match[version]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionMatch {
    /// The latest version of each object (the server's default).
    Last,
    /// The earliest version of each object.
    First,
    /// Every version.
    All,
    /// The version whose `modified` (or `created`) is exactly this time.
    At(DateTime<Utc>),
}

impl VersionMatch {
    fn to_param(self) -> String {
        match self {
            VersionMatch::Last => "last".into(),
            VersionMatch::First => "first".into(),
            VersionMatch::All => "all".into(),
            VersionMatch::At(t) => format_timestamp(t),
        }
    }
}

/// A TAXII timestamp: RFC 3339 in UTC with `Z`, with as many fractional digits as the value
/// needs (none, 3, 6 or 9), so a time read from a server goes back to it unchanged.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
