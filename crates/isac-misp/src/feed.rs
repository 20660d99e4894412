//! MISP feeds: a directory with `manifest.json` (event uuid → summary), `hashes.csv` (MD5 of each
//! attribute value, event uuid) and one `<event uuid>.json` per event.
//!
//! Reading is streaming: [`FeedReader`] reads the manifest, then one event file at a time as the
//! caller iterates, so memory holds one event, never the whole feed. Every read is capped.
//!
//! Writing is event by event too: [`event_file`] and [`hashes_csv_lines`] give what each event
//! adds to the feed as soon as it is made, and [`ManifestWriter`] collects `manifest.json`.
//! [`write_feed`] writes a whole feed of objects held in memory through a [`FeedSink`].

use std::collections::BTreeMap;
use std::io;

use serde_json::{Map, Value};

use crate::export::{ExportOptions, ExportedEvent, Publisher, export_events_with};
use crate::import::{ImportOptions, import_event_json};
use crate::{Diagnostic, Import, MispError, StixItem};

/// The largest event file read (bytes).
pub const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;
/// The largest `manifest.json` or `hashes.csv` read (bytes).
pub const MAX_INDEX_BYTES: usize = 256 * 1024 * 1024;

/// Where a feed is read from: a directory, an archive, memory.
pub trait FeedSource {
    /// The bytes of the file `name` (e.g. `manifest.json`), or an error when it is missing or
    /// longer than `limit` bytes.
    fn read(&self, name: &str, limit: usize) -> io::Result<Vec<u8>>;
}

/// Where a feed is written to.
pub trait FeedSink {
    /// Writes (replacing) the file `name`.
    fn write(&mut self, name: &str, bytes: &[u8]) -> io::Result<()>;
}

/// Why a feed or one of its files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{file}: {source}")]
    Io { file: String, source: io::Error },
    #[error("{file}: {source}")]
    Misp { file: String, source: MispError },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// One event's summary in `manifest.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    pub uuid: String,
    pub info: String,
    pub timestamp: Option<i64>,
    /// The entry as written, for the fields not read into the struct.
    pub raw: Map<String, Value>,
}

/// A feed being read: the manifest, then events one at a time.
pub struct FeedReader<'s, S: FeedSource> {
    source: &'s S,
    entries: std::vec::IntoIter<ManifestEntry>,
    options: ImportOptions,
    total: usize,
}

/// An event file name must be a bare uuid: nothing that could point outside the feed.
fn safe_uuid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl<'s, S: FeedSource> FeedReader<'s, S> {
    /// Reads `manifest.json`. Entries whose key is not a uuid-like name are refused.
    pub fn open(source: &'s S, options: ImportOptions) -> Result<Self, FeedError> {
        let file = "manifest.json".to_string();
        let bytes = source
            .read(&file, MAX_INDEX_BYTES)
            .map_err(|e| FeedError::Io {
                file: file.clone(),
                source: e,
            })?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| FeedError::Misp {
            file: file.clone(),
            source: e.into(),
        })?;
        let Value::Object(m) = v else {
            return Err(FeedError::Invalid {
                file,
                message: "not a JSON object".into(),
            });
        };
        let mut entries = Vec::with_capacity(m.len());
        for (uuid, entry) in m {
            if !safe_uuid(&uuid) {
                return Err(FeedError::Invalid {
                    file,
                    message: format!(
                        "`{}` is not an event uuid",
                        uuid.chars().take(80).collect::<String>()
                    ),
                });
            }
            let raw = entry.as_object().cloned().unwrap_or_default();
            entries.push(ManifestEntry {
                info: raw
                    .get("info")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                timestamp: raw
                    .get("timestamp")
                    .and_then(crate::ids::parse_unix)
                    .map(|t| t.timestamp()),
                uuid,
                raw,
            });
        }
        let total = entries.len();
        Ok(FeedReader {
            source,
            entries: entries.into_iter(),
            options,
            total,
        })
    }

    /// How many events the manifest lists.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether the manifest lists no event.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The text of the feed's `hashes.csv` (capped at [`MAX_INDEX_BYTES`]), to be read with
    /// [`hashes_lines`].
    pub fn hashes_csv(&self) -> Result<String, FeedError> {
        let file = "hashes.csv".to_string();
        let bytes = self
            .source
            .read(&file, MAX_INDEX_BYTES)
            .map_err(|e| FeedError::Io {
                file: file.clone(),
                source: e,
            })?;
        String::from_utf8(bytes).map_err(|_| FeedError::Invalid {
            file,
            message: "not UTF-8".into(),
        })
    }

    /// The entries not yet read.
    pub fn remaining(&self) -> &[ManifestEntry] {
        self.entries.as_slice()
    }
}

impl<S: FeedSource> Iterator for FeedReader<'_, S> {
    type Item = (ManifestEntry, Result<Import, FeedError>);

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        let file = format!("{}.json", entry.uuid);
        let result = self
            .source
            .read(&file, MAX_EVENT_BYTES)
            .map_err(|e| FeedError::Io {
                file: file.clone(),
                source: e,
            })
            .and_then(|bytes| {
                import_event_json(&bytes, &self.options).map_err(|e| FeedError::Misp {
                    file: file.clone(),
                    source: e,
                })
            });
        Some((entry, result))
    }
}

/// The lines of `hashes.csv` as (MD5 of a value, event uuid), read lazily; malformed lines are
/// skipped.
pub fn hashes_lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| {
        let (h, u) = l.trim().split_once(',')?;
        let ok = h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()) && safe_uuid(u);
        ok.then_some((h, u))
    })
}

/// Writes a MISP feed of the given objects: every `<uuid>.json`, then `manifest.json` and
/// `hashes.csv`. Returns the diagnostics of the export (objects skipped or narrowed).
pub fn write_feed<K: FeedSink>(
    items: &[StixItem],
    publisher: &Publisher,
    sink: &mut K,
) -> io::Result<Vec<Diagnostic>> {
    write_feed_with(items, &ExportOptions::new(publisher.clone()), sink)
}

/// [`write_feed`] with the given options.
pub fn write_feed_with<K: FeedSink>(
    items: &[StixItem],
    options: &ExportOptions,
    sink: &mut K,
) -> io::Result<Vec<Diagnostic>> {
    let exported = export_events_with(items, options);
    let mut manifest = ManifestWriter::default();
    let mut hashes = String::new();
    for e in &exported.events {
        sink.write(&event_file_name(e), &event_file(e)?)?;
        manifest.add(e)?;
        hashes.push_str(&hashes_csv_lines(e));
    }
    sink.write("manifest.json", &manifest.to_json()?)?;
    sink.write("hashes.csv", hashes.as_bytes())?;
    Ok(exported.diagnostics)
}

/// The name of an event's file in a feed: `<uuid>.json`.
pub fn event_file_name(e: &ExportedEvent) -> String {
    format!("{}.json", e.uuid)
}

/// The bytes of an event's file.
pub fn event_file(e: &ExportedEvent) -> io::Result<Vec<u8>> {
    serde_json::to_vec_pretty(&e.event).map_err(io::Error::other)
}

/// The lines of `hashes.csv` for an event, `<md5>,<event uuid>` each, in attribute order.
pub fn hashes_csv_lines(e: &ExportedEvent) -> String {
    let mut out = String::with_capacity(e.hashes.len() * (34 + e.uuid.len()));
    for h in &e.hashes {
        out.push_str(h);
        out.push(',');
        out.push_str(&e.uuid);
        out.push('\n');
    }
    out
}

/// `manifest.json` built event by event. MISP lists the events by uuid, so the entries are
/// kept until the end, each as compact JSON (a few hundred bytes per event).
#[derive(Debug, Default)]
pub struct ManifestWriter {
    entries: BTreeMap<String, Vec<u8>>,
}

impl ManifestWriter {
    /// Adds (or replaces) the entry of an event.
    pub fn add(&mut self, e: &ExportedEvent) -> io::Result<()> {
        let entry = serde_json::to_vec(&e.manifest).map_err(io::Error::other)?;
        self.entries.insert(e.uuid.clone(), entry);
        Ok(())
    }

    /// How many events the manifest lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The text of `manifest.json`: the same bytes as the whole map written with
    /// `serde_json::to_vec_pretty`, made one entry at a time.
    pub fn to_json(&self) -> io::Result<Vec<u8>> {
        if self.entries.is_empty() {
            return Ok(b"{}".to_vec());
        }
        let mut out = b"{\n".to_vec();
        for (i, (uuid, entry)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(b"  ");
            serde_json::to_writer(&mut out, uuid).map_err(io::Error::other)?;
            out.extend_from_slice(b": ");
            let v: Value = serde_json::from_slice(entry).map_err(io::Error::other)?;
            let pretty = serde_json::to_vec_pretty(&v).map_err(io::Error::other)?;
            // One level deeper: JSON text holds no raw line break inside a string, so every
            // line break starts a line to indent.
            for b in pretty {
                out.push(b);
                if b == b'\n' {
                    out.extend_from_slice(b"  ");
                }
            }
        }
        out.extend_from_slice(b"\n}");
        Ok(out)
    }
}
