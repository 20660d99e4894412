//! Exports of exactly what one user may see, in the formats members feed to their tools: a STIX
//! 2.1 bundle, CSV for spreadsheets, plain IP and domain block lists for firewalls and resolvers,
//! and a MISP feed directory.
//!
//! Every format reads through [`Store::list_objects`] with the user's viewer (so the TLP policy
//! decides what is in it, ARCHITECTURE invariant 1) and shows each object as [`intel::view`]
//! shows it to that user (anonymous attribution, audience extension only for the owner org and
//! the operator). The single-file formats are produced page by page as byte chunks, so the CLI
//! can write them to a file and the web UI can stream them as a download without holding the
//! whole export; only the block lists keep a set of the distinct values they have written. A
//! STIX bundle ends with the predefined TLP marking definitions its objects refer to, so it
//! resolves every TLP marking on its own.
//!
//! Block lists (`ip-list`, `domain-list`) are meant to be applied as they are, so they hold only
//! what is current: values of SCOs (`ipv4-addr`, `ipv6-addr`, `domain-name`) and of indicators
//! whose STIX pattern compares those objects' `value` with `=` or `IN`, leaving out revoked
//! objects and indicators whose `valid_until` has passed. Patterns that only constrain a value
//! (`!=`, `LIKE`, `MATCHES`, ISSUBSET on a CIDR, values reached through a `_ref`) list nothing.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use isac_store::{ListQuery, Sort, Store, StoredObject};
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::intel;

/// Objects read from the store per page.
const PAGE: u32 = 500;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Stix,
    MispFeed,
    Csv,
    IpList,
    DomainList,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 5] = [
        ExportFormat::Stix,
        ExportFormat::MispFeed,
        ExportFormat::Csv,
        ExportFormat::IpList,
        ExportFormat::DomainList,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Stix => "stix",
            ExportFormat::MispFeed => "misp-feed",
            ExportFormat::Csv => "csv",
            ExportFormat::IpList => "ip-list",
            ExportFormat::DomainList => "domain-list",
        }
    }

    pub fn parse(s: &str) -> Option<ExportFormat> {
        ExportFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether the format is one file (every format but the MISP feed, which is a directory).
    pub fn single_file(self) -> bool {
        self != ExportFormat::MispFeed
    }

    /// The media type of a single-file format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Stix => "application/stix+json;version=2.1",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::IpList | ExportFormat::DomainList => "text/plain; charset=utf-8",
            ExportFormat::MispFeed => "application/json",
        }
    }

    /// A file name for a download of this format.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Stix => "isac-export.json",
            ExportFormat::Csv => "isac-export.csv",
            ExportFormat::IpList => "isac-ip-list.txt",
            ExportFormat::DomainList => "isac-domain-list.txt",
            ExportFormat::MispFeed => "isac-misp-feed",
        }
    }
}

/// Turns the objects one user may see into the bytes of a single-file format, chunk by chunk.
pub struct Exporter {
    format: ExportFormat,
    written: u64,
    seen: BTreeSet<String>,
    /// Predefined TLP marking definitions (1.0 or 2.0) the written objects refer to. They are
    /// never stored (the importer leaves them out as known), so a STIX export appends them
    /// after the objects: the bundle then resolves every marking it uses on its own, for
    /// consumers that do not know the TLP 2.0 definitions.
    markings: BTreeSet<String>,
    now: DateTime<Utc>,
}

impl Exporter {
    pub fn new(format: ExportFormat) -> Exporter {
        assert!(format.single_file(), "a MISP feed is a directory");
        Exporter {
            format,
            written: 0,
            seen: BTreeSet::new(),
            markings: BTreeSet::new(),
            now: Utc::now(),
        }
    }

    /// Objects (or, for block lists, values) written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The bytes before the first object.
    pub fn begin(&mut self) -> Vec<u8> {
        match self.format {
            ExportFormat::Stix => format!(
                "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
                uuid::Uuid::new_v4()
            )
            .into_bytes(),
            ExportFormat::Csv => {
                let mut w = csv_writer();
                w.write_record(CSV_HEADER).expect("writing to memory");
                w.into_inner().expect("writing to memory")
            }
            _ => Vec::new(),
        }
    }

    /// The bytes for one object, as the user sees it.
    pub fn object(&mut self, stored: &StoredObject, object: &Value) -> Vec<u8> {
        match self.format {
            ExportFormat::Stix => {
                let mut out = Vec::new();
                if self.written > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, object).expect("writing to memory");
                self.written += 1;
                self.note_markings(object);
                out
            }
            ExportFormat::Csv => {
                let mut w = csv_writer();
                let o = object.as_object();
                let text = |k: &str| {
                    o.and_then(|o| o.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let values = o.map(intel::extract_values).unwrap_or_default().join(" ");
                let record = [
                    stored.stix_id.clone(),
                    stored.stix_type.clone(),
                    stored.access.tlp.as_str().to_owned(),
                    stored.title.clone(),
                    text("created"),
                    stored.modified.clone(),
                    if stored.revoked { "true" } else { "false" }.to_owned(),
                    text("valid_until"),
                    values,
                ];
                w.write_record(record.iter().map(|c| spreadsheet_safe(c)))
                    .expect("writing to memory");
                self.written += 1;
                w.into_inner().expect("writing to memory")
            }
            ExportFormat::IpList | ExportFormat::DomainList => {
                let mut out = Vec::new();
                if !current(stored, object, self.now) {
                    return out;
                }
                let want: &[&str] = if self.format == ExportFormat::IpList {
                    &["ipv4-addr", "ipv6-addr"]
                } else {
                    &["domain-name"]
                };
                for v in block_values(object, want) {
                    if self.seen.insert(v.clone()) {
                        out.extend_from_slice(v.as_bytes());
                        out.push(b'\n');
                        self.written += 1;
                    }
                }
                out
            }
            ExportFormat::MispFeed => unreachable!("checked in new"),
        }
    }

    /// The bytes after the last object.
    pub fn end(&mut self) -> Vec<u8> {
        match self.format {
            ExportFormat::Stix => {
                let mut out = Vec::new();
                let mut first = self.written == 0;
                for id in std::mem::take(&mut self.markings) {
                    if let Some(definition) = isac_stix::tlp::canonical_for_id(&id) {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        serde_json::to_writer(&mut out, &definition).expect("writing to memory");
                    }
                }
                out.extend_from_slice(b"]}\n");
                out
            }
            _ => Vec::new(),
        }
    }

    /// Remembers the predefined TLP marking definitions `object` refers to, in
    /// `object_marking_refs` or a granular marking.
    fn note_markings(&mut self, object: &Value) {
        let object_level = object
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let granular = object
            .get("granular_markings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("marking_ref"));
        for id in object_level.chain(granular).filter_map(Value::as_str) {
            if !self.markings.contains(id) && isac_model::Tlp::from_marking_id(id).is_some() {
                self.markings.insert(id.to_owned());
            }
        }
    }
}

const CSV_HEADER: [&str; 9] = [
    "id",
    "type",
    "tlp",
    "title",
    "created",
    "modified",
    "revoked",
    "valid_until",
    "values",
];

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// A cell a spreadsheet will not run as a formula: text starting with `=`, `+`, `-`, `@`, tab or
/// carriage return gets a leading apostrophe.
fn spreadsheet_safe(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// Whether an object belongs in a block list now: not revoked, and, for an indicator, not past
/// its `valid_until`.
fn current(stored: &StoredObject, object: &Value, now: DateTime<Utc>) -> bool {
    if stored.revoked || object.get("revoked").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    match object.get("valid_until").and_then(Value::as_str) {
        Some(t) => DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > now),
        None => true,
    }
}

/// The values an object asserts for the given SCO types: the `value` of such an SCO, or the
/// operands of `=` and `IN` comparisons on `<type>:value` in a STIX pattern.
pub fn block_values(object: &Value, types: &[&str]) -> Vec<String> {
    let Some(o) = object.as_object() else {
        return Vec::new();
    };
    let t = o.get("type").and_then(Value::as_str).unwrap_or("");
    if types.contains(&t) {
        return o
            .get("value")
            .and_then(Value::as_str)
            .map(|v| vec![v.trim().to_owned()])
            .unwrap_or_default();
    }
    if t != "indicator" || o.get("pattern_type").and_then(Value::as_str) != Some("stix") {
        return Vec::new();
    }
    let Some(Ok(p)) = o
        .get("pattern")
        .and_then(Value::as_str)
        .map(isac_pattern::parse)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    observation_values(&p.expression, types, &mut out);
    out
}

fn observation_values(e: &isac_pattern::ObservationExpr, types: &[&str], out: &mut Vec<String>) {
    use isac_pattern::ObservationExpr as O;
    match e {
        O::Observation(c) => comparison_values(c, types, out),
        O::And(v) | O::Or(v) | O::FollowedBy(v) => {
            for e in v {
                observation_values(e, types, out);
            }
        }
        O::Qualified(e, _) => observation_values(e, types, out),
    }
}

fn comparison_values(e: &isac_pattern::ComparisonExpr, types: &[&str], out: &mut Vec<String>) {
    use isac_pattern::{ComparisonExpr as C, Literal, PathStep, Test};
    match e {
        C::Comparison(c) => {
            let on_value = types.contains(&c.path.object_type.as_str())
                && c.path.steps == [PathStep::Key("value".into())];
            if !on_value || c.negated {
                return;
            }
            let lit = |l: &Literal| match l {
                Literal::String(s) => Some(s.trim().to_owned()),
                _ => None,
            };
            match &c.test {
                Test::Equal(l) => out.extend(lit(l)),
                Test::In(ls) => out.extend(ls.iter().filter_map(lit)),
                _ => {}
            }
        }
        C::And(v) | C::Or(v) => {
            for e in v {
                comparison_values(e, types, out);
            }
        }
    }
}

/// Calls `each` with every object `p` may see, oldest first, as `p` sees it.
pub async fn each_visible(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    mut each: impl FnMut(&StoredObject, &Value) -> Result<(), ApiError>,
) -> Result<u64, ApiError> {
    let mut query = ListQuery {
        sort: Sort::OldestFirst,
        limit: PAGE,
        ..Default::default()
    };
    let mut n = 0u64;
    loop {
        let page = store.list_objects(&p.viewer, &query).await?;
        for o in &page.objects {
            let view = intel::view(p, operator, o);
            each(o, &view.object)?;
            n += 1;
        }
        match page.next {
            Some(c) => query.cursor = Some(c),
            None => return Ok(n),
        }
    }
}

/// Writes a single-file export of what `p` may see to `w`. Returns the number of objects (or, for
/// block lists, distinct values) written.
pub async fn write_file(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    format: ExportFormat,
    w: &mut dyn Write,
) -> Result<u64, ApiError> {
    let mut ex = Exporter::new(format);
    let io = |e: std::io::Error| {
        tracing::error!(error = %e, "writing an export");
        ApiError::internal()
    };
    w.write_all(&ex.begin()).map_err(io)?;
    each_visible(store, p, operator, |o, v| {
        w.write_all(&ex.object(o, v)).map_err(io)
    })
    .await?;
    w.write_all(&ex.end()).map_err(io)?;
    w.flush().map_err(io)?;
    Ok(ex.written())
}

/// Writes a MISP feed directory (`manifest.json`, `hashes.csv` and one file per event) of what
/// `p` may see into `dir`. Returns the number of events written and the mapping's diagnostics
/// (objects MISP cannot express). The mapping needs every object at once (reports gather the
/// objects they refer to), so this export holds the user's view in memory.
pub async fn write_misp_feed(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    publisher: &isac_misp::Publisher,
    dir: &Path,
) -> Result<(usize, Vec<isac_misp::Diagnostic>), ApiError> {
    let mut items = Vec::new();
    each_visible(store, p, operator, |o, v| {
        if let Value::Object(m) = v {
            items.push(misp_item(o, m.clone()));
        }
        Ok(())
    })
    .await?;
    let mut sink = DirFeed::new(dir);
    let diagnostics = isac_misp::write_feed(&items, publisher, &mut sink).map_err(|e| {
        tracing::error!(error = %e, "writing a MISP feed");
        ApiError::internal()
    })?;
    Ok((sink.events, diagnostics))
}

/// A MISP feed in a directory, to read or to write. File names come from the feed library,
/// which accepts only uuid-like event names, so nothing is read or written outside `dir`.
pub struct DirFeed {
    dir: std::path::PathBuf,
    /// Event files written.
    pub events: usize,
}

impl DirFeed {
    pub fn new(dir: &Path) -> DirFeed {
        DirFeed {
            dir: dir.to_owned(),
            events: 0,
        }
    }
}

impl isac_misp::FeedSource for DirFeed {
    fn read(&self, name: &str, limit: usize) -> std::io::Result<Vec<u8>> {
        let p = self.dir.join(name);
        let f = std::fs::File::open(&p)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, limit as u64 + 1), &mut bytes)?;
        if bytes.len() > limit {
            return Err(std::io::Error::other(format!(
                "{name} is larger than {limit} bytes"
            )));
        }
        Ok(bytes)
    }
}

impl isac_misp::FeedSink for DirFeed {
    fn write(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        if name != "manifest.json" && name.ends_with(".json") {
            self.events += 1;
        }
        std::fs::write(self.dir.join(name), bytes)
    }
}

fn misp_item(o: &StoredObject, object: Map<String, Value>) -> isac_misp::StixItem {
    isac_misp::StixItem {
        object,
        tlp: o.access.tlp,
        recipients: Vec::new(),
    }
}
