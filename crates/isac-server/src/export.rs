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
//! resolves every TLP marking on its own. The MISP feed is written event by event in two passes
//! ([`write_misp_feed`]); its second pass reads objects by id ([`Store::objects_by_id`]), again
//! with the user's viewer.
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
    /// Entries written into a STIX bundle's `objects` so far, directory entries included.
    entries: u64,
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
            entries: 0,
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

    /// The bytes for the directory entries of [`directory_objects`]: a STIX bundle carries them
    /// before the objects, so that the identities the objects name (`created_by_ref`,
    /// `where_sighted_refs`) and the extension definition of isac's audience extension resolve
    /// within the bundle, for consumers that refuse or drop dangling references. Other formats
    /// leave them out. They are not counted in [`Exporter::written`].
    pub fn directory(&mut self, entries: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.format == ExportFormat::Stix {
            for entry in entries {
                self.entry(&mut out, entry);
                self.note_markings(entry);
            }
        }
        out
    }

    fn entry(&mut self, out: &mut Vec<u8>, value: &Value) {
        if self.entries > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, value).expect("writing to memory");
        self.entries += 1;
    }

    /// The bytes for one object, as the user sees it.
    pub fn object(&mut self, stored: &StoredObject, object: &Value) -> Vec<u8> {
        match self.format {
            ExportFormat::Stix => {
                let mut out = Vec::new();
                self.entry(&mut out, object);
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
                for id in std::mem::take(&mut self.markings) {
                    if let Some(definition) = isac_stix::tlp::canonical_for_id(&id) {
                        self.entry(&mut out, &Value::Object(definition));
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
        let Some(object) = object.as_object() else {
            return;
        };
        for id in isac_stix::tlp::marking_refs(object) {
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

/// The directory entries `p` may read, as a STIX export carries them: the identity of every org
/// the policy lets `p` read (the entries, and the policy, of the TAXII collections; see
/// `isac_store::identity_access`), then isac's extension definition when the store has an
/// operator.
pub async fn directory_objects(store: &Store, p: &Principal) -> Result<Vec<Value>, ApiError> {
    let orgs = store.taxii_identities(&p.viewer).await?;
    let operator = orgs
        .iter()
        .find(|(o, _)| o.kind == isac_model::OrgKind::Operator)
        .map(|(o, _)| o.id.clone());
    let mut out: Vec<Value> = orgs
        .iter()
        .map(|(org, access)| intel::org_identity(org, access.tlp, operator.as_deref()))
        .collect();
    if let Some(op) = &operator {
        out.push(Value::Object(isac_stix::audience::extension_definition(
            &intel::identity_id(op),
        )));
    }
    Ok(out)
}

/// Calls `each` with every object `p` may see, oldest first, as `p` sees it.
pub async fn each_visible(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    mut each: impl FnMut(&StoredObject, &Value) -> Result<(), ApiError>,
) -> Result<u64, ApiError> {
    each_view(store, p, operator, |o, v| each(o, &v)).await
}

/// [`each_visible`], handing over each view.
async fn each_view(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    mut each: impl FnMut(&StoredObject, Value) -> Result<(), ApiError>,
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
            each(o, view.object)?;
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
    if format == ExportFormat::Stix {
        let entries = directory_objects(store, p).await?;
        w.write_all(&ex.directory(&entries)).map_err(io)?;
    }
    each_visible(store, p, operator, |o, v| {
        w.write_all(&ex.object(o, v)).map_err(io)
    })
    .await?;
    w.write_all(&ex.end()).map_err(io)?;
    w.flush().map_err(io)?;
    Ok(ex.written())
}

/// What [`write_misp_feed`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MispFeedWritten {
    /// Event files.
    pub events: usize,
    /// Attributes of the largest event written.
    pub largest_event: usize,
    /// Notes on what MISP cannot express (objects skipped or narrowed), each handed to the
    /// caller as it is found.
    pub notes: u64,
}

/// The organisation a MISP feed names as the creator of objects that name none: the operator
/// (its id and English name), or "isac" on a store without one.
pub fn publisher(operator: Option<&isac_store::Org>) -> isac_misp::Publisher {
    isac_misp::Publisher {
        uuid: operator.map(|o| o.id.clone()).unwrap_or_default(),
        name: operator.map_or_else(|| "isac".into(), |o| o.name_en.clone()),
    }
}

/// Writes a MISP feed directory (`manifest.json`, `hashes.csv` and one file per event) of what
/// `p` may see into `dir`; hands each of the mapping's notes (objects MISP cannot express) to
/// `note`.
///
/// Memory does not grow with the objects' bodies. A first pass over the user's view keeps a
/// compact index of every object ([`isac_misp::ExportIndex`]); then the events are written in
/// order, job by job (a few reports, or a chunk of a catch-all event, about 500 objects), each
/// job loading its objects by id through the user's viewer ([`Store::objects_by_id`], the same
/// read rules as the listing). So memory holds the index, one job's objects and at most one
/// catch-all event, split at [`isac_misp::CATCH_ALL_ATTRIBUTES`]. An object changed while the
/// export runs is written as it is when its event is written; one that can no longer be read
/// then is left out.
pub async fn write_misp_feed(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    publisher: &isac_misp::Publisher,
    dir: &Path,
    note: impl FnMut(isac_misp::Diagnostic),
) -> Result<MispFeedWritten, ApiError> {
    let options = isac_misp::ExportOptions::new(publisher.clone());
    write_misp_feed_with(store, p, operator, &options, dir, note).await
}

/// [`write_misp_feed`] with the given export options.
async fn write_misp_feed_with(
    store: &Store,
    p: &Principal,
    operator: Option<&str>,
    options: &isac_misp::ExportOptions,
    dir: &Path,
    mut note: impl FnMut(isac_misp::Diagnostic),
) -> Result<MispFeedWritten, ApiError> {
    let io = |e: std::io::Error| {
        tracing::error!(error = %e, "writing a MISP feed");
        ApiError::internal()
    };
    let mut index = isac_misp::ExportIndex::new();
    each_view(store, p, operator, |o, v| {
        if let Value::Object(m) = v {
            index.add(&misp_item(o, m));
        }
        Ok(())
    })
    .await?;
    let mut export = isac_misp::FeedExport::new(index, options);
    let mut sink = DirFeed::new(dir);
    let mut hashes =
        std::io::BufWriter::new(std::fs::File::create(dir.join("hashes.csv")).map_err(io)?);
    let mut manifest = isac_misp::ManifestWriter::default();
    let mut written = MispFeedWritten::default();
    while let Some(mut job) = export.next_job() {
        loop {
            let ids = export.wanted(&mut job);
            if ids.is_empty() {
                break;
            }
            for o in store.objects_by_id(&p.viewer, &ids).await? {
                if let Value::Object(m) = intel::view(p, operator, &o).object {
                    job.supply(misp_item(&o, m));
                }
            }
        }
        for e in export.run(job) {
            isac_misp::FeedSink::write(
                &mut sink,
                &isac_misp::event_file_name(&e),
                &isac_misp::event_file(&e).map_err(io)?,
            )
            .map_err(io)?;
            hashes
                .write_all(isac_misp::hashes_csv_lines(&e).as_bytes())
                .map_err(io)?;
            manifest.add(&e).map_err(io)?;
            written.largest_event = written.largest_event.max(attribute_count(&e.event));
        }
        for d in export.take_diagnostics() {
            written.notes += 1;
            note(d);
        }
    }
    let m = manifest.to_json().map_err(io)?;
    isac_misp::FeedSink::write(&mut sink, "manifest.json", &m).map_err(io)?;
    hashes.flush().map_err(io)?;
    written.events = sink.events;
    Ok(written)
}

/// The attributes of a MISP event, those of its MISP objects included.
fn attribute_count(event: &Value) -> usize {
    let e = &event["Event"];
    let plain = e["Attribute"].as_array().map_or(0, Vec::len);
    let in_objects: usize = e["Object"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["Attribute"].as_array().map_or(0, Vec::len))
        .sum();
    plain + in_objects
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

#[cfg(test)]
mod tests {
    //! The MISP feed written from the store, event by event, is byte for byte the feed of the
    //! same view held in memory, for readers of every kind, whole and with catch-all events
    //! split; on SQLite always and on PostgreSQL when `ISAC_TEST_DATABASE_URL` is set.

    use std::collections::BTreeMap;

    use isac_model::{Locale, OrgKind, Role, Tlp};
    use isac_store::{NewUser, Org, Store, User};
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::import::{ImportTotals, Importer};
    use crate::tests::{cli, org, stores};

    async fn user(store: &Store, org: &Org, email: &str, role: Role) -> User {
        let u = NewUser {
            org_id: org.id.clone(),
            email: email.into(),
            display_name: email.into(),
            locale: Locale::En,
            role,
            password_hash: None,
        };
        store.create_user(&u, cli()).await.expect("user")
    }

    async fn principal(store: &Store, u: &User) -> Principal {
        crate::auth::local_principal(store, u)
            .await
            .expect("principal")
    }

    /// Imports one unit as `u`, the way `isac import` does.
    async fn import(store: &Store, u: &User, objects: Vec<Value>) {
        let importer = Importer::new(store, principal(store, u).await, Tlp::Green)
            .await
            .expect("importer");
        let objects: Vec<Map<String, Value>> = objects
            .into_iter()
            .map(|o| match o {
                Value::Object(m) => m,
                _ => unreachable!("objects"),
            })
            .collect();
        let problems = importer
            .unit(store, "test", objects, &mut ImportTotals::default())
            .await
            .expect("import");
        assert!(problems.is_empty(), "{problems:#?}");
    }

    async fn import_misp(store: &Store, u: &User, event: &Value) {
        let ev = isac_misp::import_event(event, &isac_misp::ImportOptions::default())
            .expect("a MISP event");
        let importer = Importer::new(store, principal(store, u).await, Tlp::Green)
            .await
            .expect("importer");
        let mut notes = Vec::new();
        let objects = importer.misp_objects(ev.objects, &mut notes);
        let problems = importer
            .unit(store, "test", objects, &mut ImportTotals::default())
            .await
            .expect("import");
        assert!(problems.is_empty(), "{problems:#?}");
    }

    const T0: &str = "2026-02-01T08:00:00.000Z";
    const T1: &str = "2026-02-02T08:00:00.000Z";

    fn sdo(t: &str, n: u32, tlp: Tlp, extra: Value) -> Value {
        let mut o = json!({
            "type": t, "spec_version": "2.1", "id": id(t, n), "created": T0, "modified": T0,
            "created_by_ref": id("identity", 1),
            "object_marking_refs": [tlp.marking_id_v2()],
        });
        if let (Value::Object(o), Value::Object(x)) = (&mut o, extra) {
            o.extend(x);
        }
        o
    }

    /// A STIX id whose UUID differs between types too, as MISP attribute uuids must.
    fn id(t: &str, n: u32) -> String {
        let k = t
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)))
            & 0xff_ffff;
        format!("{t}--5a{k:06x}-0000-4000-8000-{n:012}")
    }

    fn indicator(n: u32, tlp: Tlp, pattern: &str) -> Value {
        sdo(
            "indicator",
            n,
            tlp,
            json!({ "name": format!("indicator {n}"), "pattern": pattern, "pattern_type": "stix", "valid_from": T0 }),
        )
    }

    /// A member's STIX objects: a report and a grouping sharing an indicator, a relationship to
    /// a malware family (a galaxy cluster) inside the report and one to an attack pattern
    /// outside it, a note, a sighting, and objects outside any report at three TLP levels.
    fn member_bundle() -> Vec<Value> {
        vec![
            json!({ "type": "identity", "spec_version": "2.1", "id": id("identity", 1), "created": T0, "modified": T0,
                "name": "Member CERT", "identity_class": "organization" }),
            indicator(1, Tlp::Green, "[ipv4-addr:value = '198.51.100.1']"),
            indicator(
                2,
                Tlp::Green,
                "[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
            ),
            indicator(
                3,
                Tlp::Amber,
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            ),
            indicator(4, Tlp::Clear, "[url:value = 'http://c.example/x']"),
            indicator(5, Tlp::Green, "[ipv4-addr:value = '198.51.100.5']"),
            indicator(6, Tlp::Green, "[ipv4-addr:value = '198.51.100.6']"),
            indicator(7, Tlp::Amber, "[domain-name:value = 'amber.example']"),
            sdo(
                "malware",
                1,
                Tlp::Green,
                json!({ "name": "Emotet", "is_family": true }),
            ),
            sdo(
                "attack-pattern",
                1,
                Tlp::Green,
                json!({ "name": "Phishing", "external_references": [{ "source_name": "mitre-attack", "external_id": "T1566" }] }),
            ),
            sdo(
                "relationship",
                1,
                Tlp::Green,
                json!({ "relationship_type": "indicates", "source_ref": id("indicator", 1), "target_ref": id("malware", 1) }),
            ),
            sdo(
                "relationship",
                2,
                Tlp::Green,
                json!({ "relationship_type": "indicates", "source_ref": id("indicator", 5), "target_ref": id("attack-pattern", 1) }),
            ),
            sdo(
                "note",
                1,
                Tlp::Green,
                json!({ "content": "seen at two banks", "object_refs": [id("indicator", 1)] }),
            ),
            sdo(
                "sighting",
                1,
                Tlp::Green,
                json!({ "sighting_of_ref": id("indicator", 1), "count": 2 }),
            ),
            sdo(
                "vulnerability",
                1,
                Tlp::Green,
                json!({ "name": "CVE-2026-1234", "external_references": [{ "source_name": "cve", "external_id": "CVE-2026-1234" }] }),
            ),
            sdo("campaign", 1, Tlp::Clear, json!({ "name": "Spring wave" })),
            sdo(
                "report",
                1,
                Tlp::Green,
                json!({ "name": "Weekly", "published": T0, "report_types": ["threat-report"],
                    "object_refs": [id("indicator", 1), id("indicator", 2), id("malware", 1), id("relationship", 1),
                        id("note", 1), id("identity", 1)] }),
            ),
            sdo(
                "grouping",
                2,
                Tlp::Amber,
                json!({ "name": "Loader", "context": "suspicious-activity",
                    "object_refs": [id("indicator", 2), id("indicator", 3)] }),
            ),
        ]
    }

    /// A MISP event with observables (an address and port, a domain resolving to an address),
    /// indicators, notes, a MISP object, and galaxy clusters on the event and on an attribute.
    fn misp_event() -> Value {
        let attr = |n: u32, ty: &str, value: &str, to_ids: bool| {
            json!({ "uuid": format!("5c000000-0000-4000-8000-{n:012}"), "type": ty, "category": "Network activity",
                "value": value, "to_ids": to_ids, "distribution": "5", "timestamp": "1769932800" })
        };
        let mut with_cluster = attr(5, "domain", "phish.example", true);
        with_cluster["Galaxy"] = json!([{ "uuid": "c4e0e3c4-0000-4000-8000-00000000aa01", "name": "Attack Pattern",
            "type": "mitre-attack-pattern", "GalaxyCluster": [{ "uuid": "a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
            "type": "mitre-attack-pattern", "value": "Phishing - T1566", "tag_name": "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"",
            "distribution": "3", "default": true, "meta": { "external_id": ["T1566"] } }] }]);
        json!({ "Event": {
            "uuid": "5d000000-0000-4000-8000-000000000001", "info": "Phishing kit", "date": "2026-02-01",
            "timestamp": "1769932800", "published": true, "publish_timestamp": "1769932900",
            "analysis": "2", "threat_level_id": "2", "distribution": "2",
            "Orgc": { "uuid": "0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6", "name": "Partner CERT" },
            "Tag": [{ "name": "tlp:green" }, { "name": "phishing" }],
            "Galaxy": [{ "uuid": "698774c7-8022-42c4-917f-8d6e4f06ada3", "name": "Threat Actor", "type": "threat-actor",
                "GalaxyCluster": [{ "uuid": "5b4ee3ea-eee3-4c8e-8323-85ae32658754", "type": "threat-actor", "value": "APT 28",
                    "tag_name": "misp-galaxy:threat-actor=\"APT 28\"", "distribution": "3", "default": true,
                    "meta": { "synonyms": ["Sofacy"] } }] }],
            "Attribute": [
                attr(1, "ip-dst", "203.0.113.50", true),
                attr(2, "ip-dst|port", "203.0.113.51|8443", false),
                attr(3, "domain|ip", "cdn.phish.example|203.0.113.52", false),
                attr(4, "url", "https://phish.example/login", false),
                with_cluster,
                attr(6, "text", "kit sold on a forum", false),
                attr(7, "btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", false),
                attr(8, "vulnerability", "CVE-2024-3400", false),
            ],
            "Object": [{ "uuid": "5e000000-0000-4000-8000-000000000001", "name": "file", "meta-category": "file",
                "timestamp": "1769932800", "Attribute": [
                    { "uuid": "5c000000-0000-4000-8000-000000000101", "object_relation": "filename", "type": "filename",
                      "value": "invoice.exe", "to_ids": true, "category": "Payload delivery", "timestamp": "1769932800" },
                    { "uuid": "5c000000-0000-4000-8000-000000000102", "object_relation": "md5", "type": "md5",
                      "value": "d41d8cd98f00b204e9800998ecf8427e", "to_ids": false, "category": "Payload delivery", "timestamp": "1769932800" }
                ] }]
        } })
    }

    #[derive(Default)]
    struct MemFeed(BTreeMap<String, Vec<u8>>);

    impl isac_misp::FeedSink for MemFeed {
        fn write(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
            self.0.insert(name.to_owned(), bytes.to_vec());
            Ok(())
        }
    }

    /// Writes `p`'s feed both ways and checks that the files and notes are the same. Returns
    /// the event files' `info`.
    async fn same_feed(
        store: &Store,
        p: &Principal,
        operator: Option<&str>,
        options: &isac_misp::ExportOptions,
        what: &str,
    ) -> Vec<String> {
        // In memory: every visible object at once.
        let mut items = Vec::new();
        each_visible(store, p, operator, |o, v| {
            if let Value::Object(m) = v {
                items.push(misp_item(o, m.clone()));
            }
            Ok(())
        })
        .await
        .expect("the view");
        let mut memory = MemFeed::default();
        let diagnostics =
            isac_misp::write_feed_with(&items, options, &mut memory).expect("in memory");

        let dir = tempfile::tempdir().expect("a directory");
        let mut notes = Vec::new();
        let written =
            write_misp_feed_with(store, p, operator, options, dir.path(), |d| notes.push(d))
                .await
                .expect("from the store");
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir.path()).expect("the feed") {
            let e = e.expect("an entry");
            let name = e.file_name().to_string_lossy().into_owned();
            files.insert(name, std::fs::read(e.path()).expect("a file"));
        }
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            memory.0.keys().collect::<Vec<_>>(),
            "{what}: the feed's files"
        );
        for (name, bytes) in &files {
            assert!(
                *bytes == memory.0[name],
                "{what}: {name} differs:\n{}\n---\n{}",
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&memory.0[name])
            );
        }
        assert_eq!(notes, diagnostics, "{what}: the notes");
        assert_eq!(written.notes, notes.len() as u64);
        assert_eq!(written.events, files.len() - 2, "{what}");
        files
            .iter()
            .filter(|(n, _)| *n != "manifest.json" && n.ends_with(".json"))
            .map(|(_, b)| {
                let v: Value = serde_json::from_slice(b).expect("JSON");
                v["Event"]["info"].as_str().unwrap_or("").to_owned()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn misp_feed_from_the_store_is_the_feed_in_memory() {
        for (backend, store) in stores().await {
            let op = org(&store, OrgKind::Operator, "Operator").await;
            let m1 = org(&store, OrgKind::Member, "Member One").await;
            let m2 = org(&store, OrgKind::Member, "Member Two").await;
            let partner = org(&store, OrgKind::Partner, "Partner").await;
            let op_analyst = user(&store, &op, "analyst@op.example", Role::IsacAnalyst).await;
            let m1_analyst = user(&store, &m1, "analyst@m1.example", Role::MemberAnalyst).await;
            let m2_analyst = user(&store, &m2, "analyst@m2.example", Role::MemberAnalyst).await;
            let service = user(&store, &partner, "feed@p.example", Role::PartnerService).await;

            import(&store, &m1_analyst, member_bundle()).await;
            import_misp(&store, &m1_analyst, &misp_event()).await;
            let op_indicators: Vec<Value> = (20..26)
                .map(|n| indicator(n, Tlp::Clear, &format!("[ipv4-addr:value = '192.0.2.{n}']")))
                .collect();
            import(&store, &op_analyst, op_indicators.clone()).await;
            // A later version of one of them.
            let mut v2 = op_indicators[0].clone();
            v2["modified"] = T1.into();
            v2["name"] = "indicator 20, revised".into();
            import(&store, &op_analyst, vec![v2]).await;

            let operator = Some(op.id.as_str());
            for u in [&op_analyst, &m1_analyst, &m2_analyst, &service] {
                let p = principal(&store, u).await;
                let what = format!("{backend}, {}", u.email);
                let whole = isac_misp::ExportOptions::new(isac_misp::Publisher {
                    uuid: op.id.clone(),
                    name: op.name_en.clone(),
                });
                let events = same_feed(&store, &p, operator, &whole, &what).await;
                assert!(events.len() >= 2, "{what}: {events:?}");
                let split = isac_misp::ExportOptions {
                    catch_all_size: 2,
                    ..whole
                };
                let parts = same_feed(&store, &p, operator, &split, &what).await;
                assert!(parts.len() > events.len(), "{what}: {parts:?}");
                assert!(
                    parts.iter().any(|i| i.contains(", part 2)")),
                    "{what}: {parts:?}"
                );
            }
            // The operator's view holds both reports and the catch-all events.
            let p = principal(&store, &op_analyst).await;
            let whole = isac_misp::ExportOptions::new(isac_misp::Publisher {
                uuid: op.id.clone(),
                name: op.name_en.clone(),
            });
            let events = same_feed(&store, &p, operator, &whole, backend).await;
            for info in ["Weekly", "Loader", "Phishing kit"] {
                assert!(events.iter().any(|e| e == info), "{info}: {events:?}");
            }
            assert!(
                events
                    .iter()
                    .any(|e| e.starts_with("Objects outside any report")),
                "{events:?}"
            );
            store.close().await;
        }
    }
}
