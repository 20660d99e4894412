//! Resumable `added_after` polling.
//!
//! A [`PollState`] remembers, per (API root, collection), the newest `date_added` seen and the
//! objects seen near it. The next poll asks for objects added after that time *minus an
//! overlap*, and drops the ones it already delivered (same `id` and `modified`). `added_after` is
//! strictly greater, so without the overlap an object the server adds later with the *same*
//! `date_added` as the last one seen (or with a slightly earlier one, when its store commits out
//! of order) would never be fetched.
//!
//! Why the dedupe set is exact: results come sorted by `date_added`, so an object added at `d`
//! lies on a page whose `X-TAXII-Date-Added-Last` is at least `d`. The state keeps the keys of
//! every object on pages whose last `date_added` falls inside the overlap window; the next poll
//! re-reads exactly that window, so every object it has already delivered is in the set.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Collection;
use crate::error::{Error, Result};
use crate::filter::{ObjectFilter, VersionMatch};
use crate::resources::ObjectKey;

/// Where a poll of one collection resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    /// The API root's URL.
    pub api_root: String,
    /// The collection's id.
    pub collection: String,
    /// The newest `date_added` seen (the last `X-TAXII-Date-Added-Last`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_after: Option<DateTime<Utc>>,
    /// The objects already delivered whose `date_added` may fall in the overlap window before
    /// `added_after`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub boundary: BTreeSet<ObjectKey>,
    /// When the last poll that returned something finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polled_at: Option<DateTime<Utc>>,
}

impl PollState {
    /// A state that has seen nothing: the first poll reads the whole collection.
    pub fn new(api_root: &str, collection: &str) -> Self {
        Self {
            api_root: api_root.to_owned(),
            collection: collection.to_owned(),
            added_after: None,
            boundary: BTreeSet::new(),
            polled_at: None,
        }
    }

    /// A fresh state for `collection`.
    pub fn for_collection(collection: &Collection) -> Self {
        Self::new(collection.api_root().url().as_str(), collection.id())
    }

    fn is_for(&self, collection: &Collection) -> bool {
        self.api_root == collection.api_root().url().as_str() && self.collection == collection.id()
    }
}

/// How a poll runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOptions {
    /// `match[...]` filters and the page `limit`; its `added_after` and `next` are ignored.
    pub filter: ObjectFilter,
    /// How far before the saved `added_after` each poll re-reads.
    pub overlap: Duration,
    /// Stop after this many pages; the next poll resumes where this one stopped.
    pub max_pages: Option<usize>,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            filter: ObjectFilter::default(),
            overlap: Duration::from_secs(1),
            max_pages: None,
        }
    }
}

/// What a poll brought.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollOutcome {
    /// The objects not delivered by an earlier poll, in the server's order.
    pub objects: Vec<Value>,
    /// Pages read.
    pub pages: usize,
    /// Objects re-read in the overlap and dropped as already delivered.
    pub duplicates: usize,
    /// False when [`PollOptions::max_pages`] stopped the poll before the last page.
    pub complete: bool,
}

/// The most `match[id]` values put in one manifest request of the date fallback.
const MANIFEST_IDS_PER_REQUEST: usize = 50;

impl Collection {
    /// Fetches what was added since `state` and advances `state` past it.
    ///
    /// `state` changes only when the poll succeeds, so a failed poll can simply be repeated.
    /// Save it (e.g. with [`PollStateFile`]) once the objects are safely stored.
    pub fn poll(&self, state: &mut PollState, options: &PollOptions) -> Result<PollOutcome> {
        if !state.is_for(self) {
            return Err(Error::WrongPollState {
                collection: self.id().to_owned(),
                state_collection: state.collection.clone(),
                state_api_root: state.api_root.clone(),
            });
        }
        let overlap = chrono::Duration::from_std(options.overlap).unwrap_or(chrono::Duration::MAX);
        let mut filter = options.filter.clone();
        filter.next = None;
        filter.added_after = state
            .added_after
            .and_then(|t| t.checked_sub_signed(overlap));

        let mut outcome = PollOutcome {
            complete: true,
            ..PollOutcome::default()
        };
        let mut delivered: BTreeSet<ObjectKey> = BTreeSet::new();
        // Every object read, with the last date_added of its page.
        let mut observed: Vec<(ObjectKey, DateTime<Utc>)> = Vec::new();
        let mut newest = state.added_after;

        let mut pages = self.object_pages(&filter);
        loop {
            if options.max_pages.is_some_and(|max| outcome.pages >= max) {
                outcome.complete = pages.finished();
                break;
            }
            let Some(page) = pages.next() else { break };
            let page = page?;
            outcome.pages += 1;
            if page.body.objects.is_empty() {
                continue;
            }
            let page_last = match page.date_added_last {
                Some(t) => t,
                None => self.last_date_added(&filter, &page.body.objects)?,
            };
            newest = newest.max(Some(page_last));
            for object in page.body.objects {
                let Some(key) = ObjectKey::of(&object) else {
                    outcome.objects.push(object);
                    continue;
                };
                observed.push((key.clone(), page_last));
                if state.boundary.contains(&key) || !delivered.insert(key) {
                    outcome.duplicates += 1;
                } else {
                    outcome.objects.push(object);
                }
            }
        }

        if let Some(newest) = newest
            && !observed.is_empty()
        {
            let window_start = newest.checked_sub_signed(overlap);
            let in_window = |t: DateTime<Utc>| window_start.is_none_or(|start| t > start);
            let mut boundary: BTreeSet<ObjectKey> = observed
                .into_iter()
                .filter(|(_, page_last)| in_window(*page_last))
                .map(|(key, _)| key)
                .collect();
            if state.added_after.is_some_and(in_window) {
                boundary.append(&mut state.boundary);
            }
            state.added_after = Some(newest);
            state.boundary = boundary;
            state.polled_at = Some(Utc::now());
        }
        Ok(outcome)
    }

    /// The newest `date_added` of `objects`, read from the manifest, for servers that leave out
    /// the `X-TAXII-Date-Added-Last` header.
    fn last_date_added(&self, filter: &ObjectFilter, objects: &[Value]) -> Result<DateTime<Utc>> {
        let keys: Vec<ObjectKey> = objects.iter().filter_map(ObjectKey::of).collect();
        let ids: BTreeSet<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        let same_version = |record_version: &str, key: &ObjectKey| match &key.version {
            None => true,
            Some(v) => {
                v == record_version
                    || parse_time(v).is_some_and(|t| Some(t) == parse_time(record_version))
            }
        };
        let mut newest: Option<DateTime<Utc>> = None;
        for chunk in ids.chunks(MANIFEST_IDS_PER_REQUEST) {
            let manifest_filter = ObjectFilter {
                added_after: filter.added_after,
                limit: filter.limit,
                next: None,
                ids: chunk.iter().map(|s| (*s).to_owned()).collect(),
                types: Vec::new(),
                versions: vec![VersionMatch::All],
                spec_versions: filter.spec_versions.clone(),
            };
            for page in self.manifest_pages(&manifest_filter) {
                for record in page?.body.objects {
                    if keys
                        .iter()
                        .any(|k| k.id == record.id && same_version(&record.version, k))
                    {
                        newest = newest.max(Some(record.date_added));
                    }
                }
            }
        }
        newest.ok_or_else(|| Error::Protocol {
            url: self.url().to_string(),
            message: "the server sent no X-TAXII-Date-Added-Last header and its manifest has no date_added for the objects"
                .to_owned(),
        })
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A JSON file holding the poll states of any number of collections.
///
/// Saving writes a temporary file next to the target, flushes it to disk and renames it over the
/// target, so a crash leaves either the old or the new state, never a torn one.
#[derive(Debug, Clone)]
pub struct PollStateFile {
    path: PathBuf,
    states: Vec<PollState>,
}

#[derive(Serialize, Deserialize)]
struct StateFileBody {
    format: u32,
    states: Vec<PollState>,
}

const STATE_FILE_FORMAT: u32 = 1;

impl PollStateFile {
    /// Opens the file; a missing file is an empty set of states.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let states = match std::fs::read(&path) {
            Ok(bytes) => {
                let body: StateFileBody =
                    serde_json::from_slice(&bytes).map_err(|e| state_error(&path, e))?;
                if body.format != STATE_FILE_FORMAT {
                    return Err(state_error(
                        &path,
                        format!(
                            "unknown format {} (expected {STATE_FILE_FORMAT})",
                            body.format
                        ),
                    ));
                }
                body.states
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(state_error(&path, e)),
        };
        Ok(Self { path, states })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn states(&self) -> &[PollState] {
        &self.states
    }

    /// The saved state of `collection`, or a fresh one.
    pub fn state(&self, collection: &Collection) -> PollState {
        self.states
            .iter()
            .find(|s| s.is_for(collection))
            .cloned()
            .unwrap_or_else(|| PollState::for_collection(collection))
    }

    /// Records `state`, replacing the one for the same collection.
    pub fn set(&mut self, state: PollState) {
        match self
            .states
            .iter_mut()
            .find(|s| s.api_root == state.api_root && s.collection == state.collection)
        {
            Some(slot) => *slot = state,
            None => self.states.push(state),
        }
    }

    /// Writes the file atomically.
    pub fn save(&self) -> Result<()> {
        let body = StateFileBody {
            format: STATE_FILE_FORMAT,
            states: self.states.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&body).map_err(|e| state_error(&self.path, e))?;
        bytes.push(b'\n');
        let name = self
            .path
            .file_name()
            .ok_or_else(|| state_error(&self.path, "the path names no file"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = self.path.with_file_name(tmp_name);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // Make the rename itself durable.
            let dir = match self.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            state_error(&self.path, e)
        })
    }
}

fn state_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::State {
        path: path.to_owned(),
        message: e.to_string(),
    }
}
