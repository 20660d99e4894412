//! A TAXII 2.1 client: pull intelligence from partner servers and push to them.
//!
//! # The API
//!
//! A [`Client`] is built from a [`ClientConfig`]: the URL of a discovery endpoint or an API root,
//! the [`Auth`] (HTTP Basic or a Bearer token), timeouts, a cap on response bodies and the
//! [`OutboundPolicy`]. From there:
//!
//! - [`Client::discovery`] reads the discovery resource; [`Client::api_root`] finds the API root
//!   the URL leads to (the URL itself, or the discovery resource's default) and
//!   [`Client::api_root_at`] reads a named one.
//! - An [`ApiRoot`] lists its [`collections`](ApiRoot::collections), reads
//!   [`status`](ApiRoot::status) resources and hands out [`Collection`] handles.
//! - A [`Collection`] reads [`objects`](Collection::objects), the
//!   [`manifest`](Collection::manifest), one [`object`](Collection::object) and its
//!   [`versions`](Collection::versions), one page at a time or through a [`Pages`] iterator that
//!   follows `more`/`next`. Every read takes an [`ObjectFilter`]: `added_after`, `limit`, `next`
//!   and `match[id|type|version|spec_version]`.
//! - [`Collection::poll`] fetches what was added since a saved [`PollState`]; [`PollStateFile`]
//!   keeps the states of many collections in one JSON file written atomically. Polls re-read a
//!   short overlap before the saved time and drop what they already delivered, so objects that
//!   share a `date_added` are never skipped (see [`poll`]).
//! - [`Collection::push`] sends objects in envelopes cut to the API root's
//!   `max_content_length` and follows each request's status until it is complete or a timeout
//!   passes, returning the successes, failures and pendings ([`PushOutcome`]).
//!
//! Requests carry `Accept: application/taxii+json;version=2.1` (and that `Content-Type` on
//! POST). An HTTP error comes back as [`Error::Server`] with the status and, when the server sent
//! a TAXII error resource, its `title`, `description` and the rest. Redirects are reported, not
//! followed, so credentials never travel to a host nobody configured.
//!
//! # The outbound policy
//!
//! A TAXII URL is configuration that points the ISAC's own machine somewhere, and a discovery
//! resource can name further URLs. So by default the client connects only to public addresses:
//! it refuses loopback, private (RFC 1918, IPv6 unique-local), link-local, carrier-grade NAT,
//! unspecified, multicast, broadcast and reserved addresses, including IPv4 addresses wrapped in
//! IPv6. Every address a host name resolves to is checked, and the connection is made only to the
//! checked addresses, from the same lookup, so DNS rebinding cannot swap in a private address
//! after the check. A refusal is [`Error::Refused`] and happens before any byte is sent.
//! [`OutboundPolicy::allow`] admits chosen networks; [`OutboundPolicy::allow_private`] turns the
//! rule off (closed lab networks and tests). Proxies from the environment are never used.
//!
//! ```no_run
//! use isac_taxii::{Auth, Client, ClientConfig, ObjectFilter, PollOptions, PollStateFile};
//!
//! # fn main() -> Result<(), isac_taxii::Error> {
//! let config = ClientConfig::new("https://taxii.partner.example/taxii2/")?
//!     .auth(Auth::basic("isac", "secret"));
//! let client = Client::new(config)?;
//! let root = client.api_root()?;
//! let collection = root.collection("91a7b528-80eb-42ed-a74d-c6fbd5a26116");
//!
//! // Every indicator, page by page.
//! for page in collection.object_pages(&ObjectFilter::new().r#type("indicator")) {
//!     let page = page?;
//!     println!("{} objects", page.body.objects.len());
//! }
//!
//! // Only what is new since the last run.
//! let mut file = PollStateFile::open("taxii-state.json")?;
//! let mut state = file.state(&collection);
//! let outcome = collection.poll(&mut state, &PollOptions::default())?;
//! println!("{} new objects", outcome.objects.len());
//! file.set(state);
//! file.save()?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod filter;
pub mod outbound;
pub mod poll;
mod push;
mod resources;

pub use client::{ApiRoot, Client, Collection, Pages};
pub use config::{
    Auth, ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_PAGE_LIMIT,
    DEFAULT_TIMEOUT,
};
pub use error::{Error, Result, ServerError};
pub use filter::{ObjectFilter, VersionMatch, format_timestamp};
pub use outbound::{AddressClass, IpNetwork, OutboundPolicy, RefusedAddress};
pub use poll::{PollOptions, PollOutcome, PollState, PollStateFile};
pub use push::{PushOptions, PushOutcome};
pub use resources::{
    ApiRootInfo, CollectionInfo, Collections, Discovery, Envelope, Manifest, ManifestRecord,
    ObjectKey, Page, Paged, Status, StatusDetails, Versions,
};

/// The TAXII 2.1 media type, sent in `Accept` and, on POST, `Content-Type`.
pub const MEDIA_TYPE_TAXII: &str = "application/taxii+json;version=2.1";

#[cfg(test)]
mod tests;
