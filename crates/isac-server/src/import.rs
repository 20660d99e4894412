//! Importing STIX bundles and MISP events as one user, atomically per unit (a bundle, a chunk
//! of a large bundle, or a MISP event), through the same preparation as every other write
//! ([`intel::prepare_ingest`]: validation, TLP from markings or the default, audience checks)
//! and the store's bulk import (`isac_store::Store::import`). A web upload is read from a
//! temporary file as `isac import` reads a file ([`Importer::upload`]), committing each unit.
//!
//! Decisions (also in docs/EXCHANGE.md):
//! - Every object of a unit is prepared first; if any fails, the unit is refused whole, with
//!   every object's reason, and nothing of it is stored.
//! - A version (id and `modified`) already stored is unchanged: re-importing stores nothing.
//! - Entries isac publishes itself (the predefined TLP marking definitions that bundles carry
//!   beside what they mark, isac's extension definition and its directory's identities) are
//!   counted as unchanged and never stored ([`intel::is_published_copy`]).
//! - A version of an object owned by another org is refused: importing never changes another
//!   org's object.
//! - MISP events take their audience from their `tlp:*` tags or distribution (docs/MISP.md); a
//!   MISP sharing group becomes the isac sharing group of the same name or id, and one with no
//!   match leaves the object with no recipients beyond the owner and the operator (narrower,
//!   never wider), with a note.

use std::collections::BTreeSet;
use std::path::Path;

use isac_model::{Locale, Tlp};
use isac_store::{
    AuditEntry, CheckedUnit, IMPORT_CHUNK, ImportSession, NewObject, OnRefusal, Store, StoreError,
    User,
};
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::intel::{self, Directory};

/// Totals of one `isac import`.
#[derive(Debug, Default, Clone)]
pub struct ImportTotals {
    pub units: usize,
    pub refused_units: usize,
    pub created: usize,
    pub updated: usize,
    pub historical: usize,
    pub unchanged: usize,
    pub invalid: usize,
}

impl ImportTotals {
    /// Counts a unit refused whole before anything of it was read into the store: a file or
    /// event that is not readable, or an archive that is no feed.
    pub fn refuse_unit(&mut self) {
        self.units += 1;
        self.refused_units += 1;
    }
}

/// One unit after [`Importer::prepare`]: the versions to store, or why the unit is refused.
#[derive(Debug)]
pub struct Prepared {
    /// The store's own check of the unit ([`CheckedUnit::new`]) is made here too, on the
    /// preparing thread; a unit it fails fails [`Importer::store_prepared`] with that error, as
    /// the store would have.
    objects: Result<isac_store::Result<CheckedUnit>, Vec<String>>,
    /// Copies of entries isac publishes itself left out ([`intel::is_published_copy`]); they count
    /// as unchanged.
    published: usize,
    /// Whether this is the last unit of its document: always for a unit prepared on its own; for
    /// the chunks of a bundle ([`Importer::read_bundle`]), only the one after which the bundle
    /// was read to its end without error.
    last: bool,
}

impl Prepared {
    /// Whether this is the last unit of its document (see [`Importer::read_bundle`]).
    pub fn is_last(&self) -> bool {
        self.last
    }
}

/// Who an import or pull is made as. Cloning copies the directory facts loaded at creation, so
/// a clone can prepare units on another thread.
#[derive(Clone)]
pub struct Importer {
    pub principal: Principal,
    pub default_tlp: Tlp,
    /// The language of per-object notes: English (the CLI's, and the default), or the web
    /// user's ([`Importer::in_locale`]).
    pub locale: Locale,
    dir: Directory,
    users: BTreeSet<String>,
    groups: Vec<isac_store::Group>,
    /// The TLP levels that stored marking definitions the importer may read declare
    /// ([`isac_stix::tlp::DeclaredTlp`]); each unit or bundle starts from these.
    declared: isac_stix::tlp::DeclaredTlp,
}

/// Pages of stored marking definitions read when an importer is made: at most this many
/// times `limits::PAGE_MAX`.
const STORED_MARKING_PAGES: usize = 20;

/// What the marking definitions `viewer` may read declare: a definition stored by an earlier
/// import marks the objects of this one as one in the same file would (docs/EXCHANGE.md).
async fn stored_declared(
    store: &Store,
    viewer: &isac_policy::Viewer,
) -> Result<isac_stix::tlp::DeclaredTlp, ApiError> {
    let mut declared = isac_stix::tlp::DeclaredTlp::default();
    let mut q = isac_store::ListQuery {
        filter: isac_store::ObjectFilter {
            stix_type: Some("marking-definition".into()),
            ..Default::default()
        },
        sort: isac_store::Sort::OldestFirst,
        cursor: None,
        limit: isac_model::limits::PAGE_MAX,
    };
    for _ in 0..STORED_MARKING_PAGES {
        let page = store.list_objects(viewer, &q).await?;
        for o in &page.objects {
            if let Ok(body) = serde_json::from_str::<Map<String, Value>>(&o.body)
                && declared.learn(&body).is_err()
            {
                return Ok(declared);
            }
        }
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    Ok(declared)
}

impl Importer {
    /// An importer acting as `principal`, whose org owns what it imports. `default_tlp` is the
    /// TLP of unmarked input and may not be wider than GREEN.
    pub async fn new(
        store: &Store,
        principal: Principal,
        default_tlp: Tlp,
    ) -> Result<Importer, ApiError> {
        isac_policy::default_tlp(default_tlp)?;
        if !principal.user.enabled || !principal.user.role.may_write_intel() {
            return Err(ApiError::forbidden(format!(
                "{} may not write intelligence",
                principal.user.email
            )));
        }
        Ok(Importer {
            declared: stored_declared(store, &principal.viewer).await?,
            principal,
            default_tlp,
            locale: Locale::En,
            dir: Directory::load(store).await?,
            users: intel::user_ids(store).await?,
            groups: store.groups().await?,
        })
    }

    /// The same importer writing its per-object notes in `l`.
    pub fn in_locale(mut self, l: Locale) -> Importer {
        self.locale = l;
        self
    }

    fn user(&self) -> &User {
        &self.principal.user
    }

    /// Prepares and stores one atomic unit. Returns the per-object problems when the unit was
    /// refused (nothing stored).
    pub async fn unit(
        &self,
        store: &Store,
        source: &str,
        objects: Vec<Map<String, Value>>,
        totals: &mut ImportTotals,
    ) -> Result<Vec<String>, ApiError> {
        let mut declared = self.declared();
        self.unit_declared(store, source, objects, totals, &mut declared)
            .await
    }

    /// [`Importer::unit`] for one of several units of one exchange, with the TLP levels its
    /// marking definitions declare ([`Importer::prepare_declared`]).
    pub async fn unit_declared(
        &self,
        store: &Store,
        source: &str,
        objects: Vec<Map<String, Value>>,
        totals: &mut ImportTotals,
        declared: &mut isac_stix::tlp::DeclaredTlp,
    ) -> Result<Vec<String>, ApiError> {
        let prepared = self.prepare_declared(objects, declared);
        let mut session = store.import_session(0);
        let problems = self
            .store_prepared(&mut session, source, prepared, totals)
            .await?;
        session.finish().await?;
        Ok(problems)
    }

    /// Prepares every object of a unit (validation, TLP, audience: [`intel::prepare_ingest`])
    /// without touching the store, so that a caller can prepare the next unit on another thread
    /// while the store writes this one. `Err` holds one line per object that failed.
    pub fn prepare(&self, objects: Vec<Map<String, Value>>) -> Prepared {
        self.prepare_declared(objects, &mut self.declared())
    }

    /// The TLP levels stored marking definitions declare, to start a unit or bundle from.
    pub fn declared(&self) -> isac_stix::tlp::DeclaredTlp {
        self.declared.clone()
    }

    /// [`Importer::prepare`] for one chunk of a larger bundle: `declared` holds the TLP levels
    /// the bundle's own marking definitions declare ([`isac_stix::tlp::DeclaredTlp`]), learnt
    /// from this chunk and every chunk before it, so that a definition marks objects after it
    /// in the bundle whatever chunk they fall in.
    pub fn prepare_declared(
        &self,
        objects: Vec<Map<String, Value>>,
        declared: &mut isac_stix::tlp::DeclaredTlp,
    ) -> Prepared {
        let mut news: Vec<NewObject> = Vec::with_capacity(objects.len());
        let mut problems = Vec::new();
        let mut published = 0;
        for o in &objects {
            if let Err(e) = declared.learn(o) {
                let id = o.get("id").and_then(Value::as_str).unwrap_or("(no id)");
                problems.push(format!("{id}: {e}"));
            }
        }
        for o in objects {
            if intel::is_published_copy(&self.dir, &o) {
                published += 1;
                continue;
            }
            let id = o
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("(no id)")
                .to_owned();
            match intel::prepare_ingest(
                self.locale,
                &self.dir,
                &self.users,
                self.user(),
                o,
                self.default_tlp,
                None,
                declared,
            ) {
                Ok(p) => news.push(p.new),
                Err(e) => problems.push(format!("{id}: {}", e.message)),
            }
        }
        Prepared {
            objects: if problems.is_empty() {
                Ok(CheckedUnit::new(news))
            } else {
                Err(problems)
            },
            published,
            last: true,
        }
    }

    /// Stores one unit made by [`Importer::prepare`], atomically, in `session` (which commits it
    /// with the units around it). Returns the per-object problems when the unit was refused
    /// (nothing stored).
    pub async fn store_prepared(
        &self,
        session: &mut ImportSession,
        source: &str,
        prepared: Prepared,
        totals: &mut ImportTotals,
    ) -> Result<Vec<String>, ApiError> {
        totals.units += 1;
        totals.unchanged += prepared.published;
        let news = match prepared.objects {
            Ok(checked) => checked?,
            Err(problems) => {
                totals.refused_units += 1;
                totals.invalid += problems.len();
                return Ok(problems);
            }
        };
        if news.is_empty() {
            return Ok(Vec::new());
        }
        let writer_org = self.principal.org.id.clone();
        let audit = AuditEntry::new("object.import", source.to_owned())
            .by(Some(&self.user().id), Some(&writer_org));
        let l = self.locale;
        let outcome = session
            .import_checked(
                &news,
                OnRefusal::RefuseUnit,
                |old, new| {
                    if old.owner_org != new.access.owner_org {
                        return Err(StoreError::Conflict(match l {
                            Locale::En => format!(
                                "{} belongs to another org; importing never changes it",
                                new.stix_id
                            ),
                            Locale::ZhTw => {
                                format!("{} 屬於其他機構；匯入不會變更它", new.stix_id)
                            }
                        }));
                    }
                    isac_policy::check_new_version(&writer_org, old, &new.access)
                        .map_err(|e| StoreError::Conflict(crate::i18n::audience_error(l, &e)))
                },
                audit,
            )
            .await?;
        // Freeing a large unit's objects (bodies, values, audiences) took a few percent of the
        // thread that feeds the store's writer, which waits meanwhile: it is done elsewhere.
        if news.len() >= 1_000 {
            tokio::task::spawn_blocking(move || drop(news));
        }
        if !outcome.applied {
            totals.refused_units += 1;
            return Ok(outcome
                .refused
                .iter()
                .map(|r| format!("{} {}: {}", r.stix_id, r.modified, r.reason))
                .collect());
        }
        totals.created += outcome.created;
        totals.updated += outcome.updated;
        totals.historical += outcome.historical;
        totals.unchanged += outcome.unchanged;
        Ok(Vec::new())
    }

    /// Leaves out the objects made from MISP whose version is already stored at a finer
    /// precision, counting them as unchanged.
    ///
    /// MISP keeps times in whole seconds, so an object that went out to MISP from isac (where
    /// `modified` has milliseconds) comes back with `modified` cut to the second: by the letter
    /// of STIX an earlier version, though MISP only says "within that second". When the latest
    /// stored version of such an object's id that the importer may read has its `modified` in
    /// that same second, it is that version, and re-importing a MISP feed isac wrote adds
    /// nothing. Objects the importer may not read are left to the store's rules, as before.
    pub async fn drop_stored_in_same_second(
        &self,
        store: &Store,
        objects: Vec<Map<String, Value>>,
        totals: &mut ImportTotals,
    ) -> Result<Vec<Map<String, Value>>, ApiError> {
        // `modified` as `isac_misp` writes it for a MISP time: whole seconds.
        let whole_second = |o: &Map<String, Value>| {
            let m = o.get("modified")?.as_str()?;
            let (second, rest) = (m.get(..19)?, m.get(19..)?);
            let fraction = rest.strip_prefix('.').unwrap_or(rest).strip_suffix('Z')?;
            fraction
                .bytes()
                .all(|b| b == b'0')
                .then(|| second.to_string())
        };
        let ids: Vec<String> = objects
            .iter()
            .filter(|o| whole_second(o).is_some())
            .filter_map(|o| o.get("id")?.as_str().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(objects);
        }
        let stored: std::collections::HashMap<String, String> = store
            .objects_by_id(&self.principal.viewer, &ids)
            .await?
            .into_iter()
            .map(|s| (s.stix_id, s.modified))
            .collect();
        let before = objects.len();
        let kept: Vec<Map<String, Value>> = objects
            .into_iter()
            .filter(|o| {
                let same = || {
                    let second = whole_second(o)?;
                    let id = o.get("id")?.as_str()?;
                    let m = stored.get(id)?;
                    Some(
                        m.get(..19) == Some(second.as_str())
                            && m[19..].bytes().any(|b| b.is_ascii_digit() && b != b'0'),
                    )
                };
                !same().unwrap_or(false)
            })
            .collect();
        totals.unchanged += before - kept.len();
        Ok(kept)
    }

    /// MISP items with their audience written as a TLP marking and isac's audience extension.
    pub fn misp_objects(
        &self,
        items: Vec<isac_misp::StixItem>,
        problems: &mut Vec<String>,
    ) -> Vec<Map<String, Value>> {
        items
            .into_iter()
            .map(|item| {
                let mut o = item.object;
                isac_stix::tlp::set_tlp(&mut o, item.tlp);
                if matches!(item.tlp, Tlp::Amber | Tlp::AmberStrict) && !item.recipients.is_empty() {
                    let mut groups = Vec::new();
                    for sg in &item.recipients {
                        let found = self.groups.iter().find(|g| {
                            sg.uuid.as_deref() == Some(g.id.as_str())
                                || sg
                                    .name
                                    .as_deref()
                                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(g.name.trim()))
                        });
                        match found {
                            Some(g) => groups.push(g.id.clone()),
                            None => {
                                let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                                let name = sg.name.as_deref().or(sg.uuid.as_deref()).unwrap_or("?");
                                problems.push(match self.locale {
                                    Locale::En => format!(
                                        "{id}: MISP sharing group {name} has no isac sharing group of that name; only the owner and the operator will see it"
                                    ),
                                    Locale::ZhTw => format!(
                                        "{id}: MISP 分享群組 {name} 在 isac 沒有同名的分享群組；只有擁有機構與營運單位看得到"
                                    ),
                                });
                            }
                        }
                    }
                    if !groups.is_empty() {
                        isac_stix::audience::write(
                            &mut o,
                            &isac_stix::audience::Audience {
                                groups,
                                ..Default::default()
                            },
                        );
                    }
                }
                o
            })
            .collect()
    }
}

/// What one document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Bundle,
    MispEvent,
    /// One STIX object on its own, as the OASIS validator also reads (its example
    /// `interop-objectmarking-test.json` is one): imported as a bundle of that object.
    Object,
    /// A MISP feed in a tar archive, as the web export writes it ([`unpack_feed_archive`]).
    MispFeedArchive,
    /// A MISP galaxy or galaxy cluster file (as the misp-galaxy repository publishes them): not
    /// imported on its own, because isac takes galaxy clusters from the events that carry them;
    /// refused with a message saying so ([`Importer::galaxy_file`]).
    MispGalaxy,
}

/// Tells a STIX bundle from a MISP event by its first bytes: a MISP event is `{"Event": …}`, a
/// MISP API response, or a bare event with `info` or `Attribute`; a bundle has `type: bundle`;
/// anything else with a `type` is read as one STIX object.
pub fn document_kind(head: &[u8]) -> Option<DocumentKind> {
    // A tar archive: the POSIX `ustar` magic in its first header.
    if head.get(257..262) == Some(b"ustar") {
        return Some(DocumentKind::MispFeedArchive);
    }
    let head = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    if head.contains("\"Event\"") || head.contains("\"response\"") {
        Some(DocumentKind::MispEvent)
    } else if head.contains("\"bundle\"")
        || head.contains("\"objects\"")
        || (head.trim_start().starts_with('[') && head.contains("\"type\""))
    {
        // A bundle, a TAXII envelope, or a bare list of STIX objects: one streaming reader
        // takes all three (`isac_stix::bundle::Container`).
        Some(DocumentKind::Bundle)
    } else if head.contains("\"info\"") || head.contains("\"Attribute\"") {
        Some(DocumentKind::MispEvent)
    } else if head.trim_start().starts_with('{')
        && !head.contains("\"id\"")
        && head.contains("\"uuid\"")
        && (head.contains("\"values\"") || head.contains("\"namespace\""))
    {
        // Every STIX object has an `id`; a galaxy cluster file has a `uuid` and its clusters
        // in `values`, a galaxy definition a `uuid` and a `namespace`.
        Some(DocumentKind::MispGalaxy)
    } else if head.trim_start().starts_with('{') && head.contains("\"type\"") {
        Some(DocumentKind::Object)
    } else {
        None
    }
}

/// Most files a MISP feed archive may hold: its manifest, `hashes.csv` and one file per event.
pub const FEED_ARCHIVE_FILES: usize = 100_000;

/// Unpacks a MISP feed archived with tar into the directory `into`, flat: the manifest,
/// `hashes.csv` and the event files, at the archive's top or in one directory (the web export
/// writes `isac-misp-feed/…`). Only regular files with a feed file's name are taken
/// (`manifest.json`, `hashes.csv`, `<name>.json` of ASCII letters, digits, `-` and `_`);
/// directories, links, devices and other names are skipped, and no path leaves `into`. Files in
/// two directories (two feeds), more than [`FEED_ARCHIVE_FILES`] files or a file over
/// [`MISP_EVENT_BYTES`] refuse the archive, with why. Returns the files unpacked. Blocking.
pub fn unpack_feed_archive(input: impl std::io::Read, into: &Path) -> Result<usize, String> {
    use std::path::Component;
    let feed_name = |n: &str| {
        n == "manifest.json"
            || n == "hashes.csv"
            || n.strip_suffix(".json").is_some_and(|stem| {
                !stem.is_empty()
                    && stem.len() <= 100
                    && stem
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    let mut archive = tar::Archive::new(input);
    let mut dir: Option<String> = None;
    let mut files = 0usize;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut parts = Vec::new();
        let mut outside = false;
        for c in path.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                Component::CurDir => {}
                _ => outside = true,
            }
        }
        let (parent, name) = match parts.as_slice() {
            [name] => (String::new(), name.clone()),
            [parent, name] => (parent.clone(), name.clone()),
            _ => continue,
        };
        if outside || !feed_name(&name) {
            continue;
        }
        match &dir {
            Some(d) if *d != parent => {
                return Err(format!(
                    "it holds feed files in two places (`{d}` and `{parent}`); a MISP feed is one directory"
                ));
            }
            Some(_) => {}
            None => dir = Some(parent),
        }
        files += 1;
        if files > FEED_ARCHIVE_FILES {
            return Err(format!("it holds more than {FEED_ARCHIVE_FILES} files"));
        }
        let mut out = std::fs::File::create(into.join(&name)).map_err(|e| e.to_string())?;
        let copied = std::io::copy(
            &mut std::io::Read::take(&mut entry, MISP_EVENT_BYTES + 1),
            &mut out,
        )
        .map_err(|e| e.to_string())?;
        if copied > MISP_EVENT_BYTES {
            return Err(format!("{name} is over {MISP_EVENT_BYTES} bytes"));
        }
    }
    Ok(files)
}

/// Most bytes of input one object of a streamed bundle may take: 16 times the stored-object
/// limit, room for pretty-printed JSON. The exact limit is checked on the object as it will be
/// stored.
pub const BUNDLE_VALUE_BYTES: u64 = 16 * isac_model::limits::OBJECT_BYTES as u64;

/// The largest MISP event an upload may be. A MISP event is one unit, parsed and prepared whole
/// in memory (unlike a bundle, which is streamed), so it has a cap of its own below the upload
/// limit; `isac import` reads no larger file whole either.
pub const MISP_EVENT_BYTES: u64 = 64 * 1024 * 1024;

/// Notes an upload keeps for its result page. A large upload can refuse many units with a line
/// for each of their objects; past this many, the lines are only counted.
pub const NOTES_KEPT: usize = 200;

/// The notes and problems of an upload, one line each: the first [`NOTES_KEPT`], and how many
/// more there were.
#[derive(Debug, Default)]
pub struct Notes {
    pub lines: Vec<String>,
    pub omitted: usize,
}

impl Notes {
    fn extend(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            if self.lines.len() < NOTES_KEPT {
                self.lines.push(line);
            } else {
                self.omitted += 1;
            }
        }
    }

    /// A document refused whole before anything of it was stored.
    fn refused(totals: &mut ImportTotals, line: String) -> Notes {
        totals.refuse_unit();
        let mut notes = Notes::default();
        notes.extend([line]);
        notes
    }
}

/// Why an upload stopped: the caller shows it as an error page, not as a result.
#[derive(Debug)]
pub enum UploadError {
    /// A MISP event larger than [`MISP_EVENT_BYTES`]; nothing was stored.
    MispTooLarge,
    /// Storing failed, or reading the spooled file did; the units committed before stay.
    Failed(ApiError),
}

impl From<ApiError> for UploadError {
    fn from(e: ApiError) -> UploadError {
        UploadError::Failed(e)
    }
}

impl From<std::io::Error> for UploadError {
    fn from(e: std::io::Error) -> UploadError {
        tracing::error!(error = %e, "reading an uploaded file");
        UploadError::Failed(ApiError::internal())
    }
}

impl Importer {
    /// Imports one uploaded document, a STIX 2.0/2.1 bundle or a MISP event, from a file (the
    /// upload spooled to disk, read from its start), in bounded memory:
    /// - A bundle is read twice. First it is read to its end without storing anything, so a
    ///   bundle that is not readable JSON (truncated, malformed, an object over
    ///   [`BUNDLE_VALUE_BYTES`]) is refused whole and nothing of it is stored. Then it is read
    ///   again as a stream, as `isac import` reads one: chunks of [`IMPORT_CHUNK`] objects are
    ///   prepared on a blocking thread while the store writes the chunk before, each chunk an
    ///   atomic unit committed on its own (so the import never holds the write lock for long).
    /// - A MISP event of at most [`MISP_EVENT_BYTES`] is read whole and imported as one unit.
    pub async fn upload(
        &self,
        store: &Store,
        source: &str,
        file: std::fs::File,
        totals: &mut ImportTotals,
    ) -> Result<Notes, UploadError> {
        let (kind, file) = blocking(move || {
            use std::io::{Read, Seek};
            let mut file = file;
            file.rewind()?;
            let mut head = Vec::with_capacity(4096);
            (&mut file).take(4096).read_to_end(&mut head)?;
            file.rewind()?;
            Ok((document_kind(&head), file))
        })
        .await?;
        match kind {
            Some(DocumentKind::MispEvent) => self.upload_misp(store, source, file, totals).await,
            Some(DocumentKind::MispFeedArchive) => {
                self.upload_feed_archive(store, source, file, totals).await
            }
            Some(DocumentKind::Bundle) => self.upload_bundle(store, source, file, totals).await,
            Some(DocumentKind::Object) => {
                let reader = self.clone();
                let objects = match blocking(move || Ok(reader.read_object(&file))).await? {
                    Ok(o) => o,
                    Err(e) => return Ok(Notes::refused(totals, e)),
                };
                let mut notes = Notes::default();
                notes.extend(self.unit(store, source, objects, totals).await?);
                Ok(notes)
            }
            Some(DocumentKind::MispGalaxy) => Ok(Notes::refused(totals, self.galaxy_file())),
            None => Ok(Notes::refused(
                totals,
                match self.locale {
                    Locale::En => "neither a STIX bundle, a STIX object nor a MISP event",
                    Locale::ZhTw => "既不是 STIX 套組、STIX 物件，也不是 MISP 事件",
                }
                .into(),
            )),
        }
    }

    async fn upload_misp(
        &self,
        store: &Store,
        source: &str,
        file: std::fs::File,
        totals: &mut ImportTotals,
    ) -> Result<Notes, UploadError> {
        if file.metadata()?.len() > MISP_EVENT_BYTES {
            return Err(UploadError::MispTooLarge);
        }
        let options = isac_misp::ImportOptions {
            unmarked: self.default_tlp,
        };
        let parsed = blocking(move || {
            use std::io::Read;
            let mut bytes = Vec::new();
            (&file).take(MISP_EVENT_BYTES).read_to_end(&mut bytes)?;
            Ok(isac_misp::import_event_json(&bytes, &options))
        })
        .await?;
        let ev = match parsed {
            Ok(ev) => ev,
            Err(e) => return Ok(Notes::refused(totals, e.to_string())),
        };
        let mut notes = Notes::default();
        notes.extend(self.misp_unit(store, source, ev, totals).await?);
        Ok(notes)
    }

    /// Imports one converted MISP event as its own unit: its remarks, then its problems.
    async fn misp_unit(
        &self,
        store: &Store,
        source: &str,
        ev: isac_misp::Import,
        totals: &mut ImportTotals,
    ) -> Result<Vec<String>, ApiError> {
        let mut lines = misp_notes(self.locale, &ev);
        let objects = self.misp_objects(ev.objects, &mut lines);
        let objects = self
            .drop_stored_in_same_second(store, objects, totals)
            .await?;
        lines.extend(self.unit(store, source, objects, totals).await?);
        Ok(lines)
    }

    /// Why an archive or directory is not a MISP feed, in the importer's language.
    /// Why a MISP galaxy or galaxy cluster file is refused, in the importer's language.
    pub fn galaxy_file(&self) -> String {
        match self.locale {
            Locale::En => "a MISP galaxy or galaxy cluster file: isac takes galaxy clusters from \
                           the MISP events (or feeds) that carry them, as STIX objects with the \
                           event's TLP; import those events instead"
                .into(),
            Locale::ZhTw => "這是 MISP galaxy 或 galaxy cluster 檔案：isac 從帶有 galaxy cluster 的 \
                             MISP 事件（或 feed）匯入它們，成為帶該事件 TLP 的 STIX 物件；請改為匯入那些事件"
                .into(),
        }
    }

    pub fn not_a_feed(&self, e: &dyn std::fmt::Display) -> String {
        match self.locale {
            Locale::En => format!("not a MISP feed: {e}"),
            Locale::ZhTw => format!("不是 MISP feed：{e}"),
        }
    }

    /// A MISP feed in a tar archive: unpacked into a temporary directory, then each event is
    /// imported as its own unit, as `isac import` does with a feed directory.
    async fn upload_feed_archive(
        &self,
        store: &Store,
        source: &str,
        file: std::fs::File,
        totals: &mut ImportTotals,
    ) -> Result<Notes, UploadError> {
        let dir = blocking(tempfile::tempdir).await?;
        let into = dir.path().to_owned();
        let unpacked = blocking(move || {
            use std::io::Seek;
            let mut file = file;
            file.rewind()?;
            Ok(unpack_feed_archive(std::io::BufReader::new(file), &into))
        })
        .await?;
        if let Err(e) = unpacked {
            return Ok(Notes::refused(totals, self.not_a_feed(&e)));
        }
        let options = isac_misp::ImportOptions {
            unmarked: self.default_tlp,
        };
        // Events are read one at a time on a blocking thread while the store writes the one
        // before; each is at most MISP_EVENT_BYTES.
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(String, Result<isac_misp::Import, String>)>(1);
        let feed_dir = dir.path().to_owned();
        let reader = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let src = crate::export::DirFeed::new(&feed_dir);
            let feed = isac_misp::FeedReader::open(&src, options).map_err(|e| e.to_string())?;
            for (entry, ev) in feed {
                if tx
                    .blocking_send((entry.uuid, ev.map_err(|e| e.to_string())))
                    .is_err()
                {
                    break;
                }
            }
            Ok(())
        });
        let mut notes = Notes::default();
        while let Some((uuid, ev)) = rx.recv().await {
            let event_source = format!("{source}/{uuid}.json");
            match ev {
                Ok(ev) => notes.extend(self.misp_unit(store, &event_source, ev, totals).await?),
                Err(e) => {
                    totals.refuse_unit();
                    notes.extend([format!("{event_source}: {e}")]);
                }
            }
        }
        match reader.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                totals.refuse_unit();
                notes.extend([self.not_a_feed(&e)]);
            }
            Err(e) => {
                tracing::error!(error = %e, "the feed reader of an upload failed");
                return Err(ApiError::internal().into());
            }
        }
        drop(dir);
        Ok(notes)
    }

    async fn upload_bundle(
        &self,
        store: &Store,
        source: &str,
        file: std::fs::File,
        totals: &mut ImportTotals,
    ) -> Result<Notes, UploadError> {
        // The first read: the whole bundle must be readable before any of it is stored.
        let checked = blocking(move || {
            use std::io::Seek;
            let mut file = file;
            let read =
                isac_stix::bundle::read_streaming_limited(&file, BUNDLE_VALUE_BYTES, |_| Ok(()));
            file.rewind()?;
            Ok((read, file))
        })
        .await?;
        let file = match checked {
            (Ok(_), file) => file,
            (Err(e), _) => return Ok(Notes::refused(totals, self.unreadable_bundle(&e))),
        };
        // The second read: chunks are parsed and prepared on a blocking thread while the store
        // writes the chunk before; at most three chunks are in memory (one being read, one
        // queued, one being stored).
        let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Prepared)>(1);
        let preparer = self.clone();
        let reader = tokio::task::spawn_blocking(move || {
            preparer
                .read_bundle(&file, |n, prepared| {
                    tx.blocking_send((n, prepared))
                        .map_err(|_| "the import stopped".to_string())
                })
                .map_err(|e| e.to_string())
        });
        let mut notes = Notes::default();
        // A bundle of one chunk commits on its own, as `Importer::unit` does; a larger one is one
        // transaction, so the upload holds the server's write connection while it is stored.
        // On an error, dropping the receiver stops the reader at its next chunk.
        let mut session = store.import_session(0);
        let refused = !self
            .store_bundle(&mut session, source, rx, totals, |problems, _| {
                notes.extend(problems)
            })
            .await?;
        session.finish().await.map_err(ApiError::from)?;
        match reader.await {
            Ok(Ok(())) => {}
            // The reader stopped because the bundle was refused.
            Ok(Err(_)) if refused => {}
            Ok(Err(e)) => {
                // The first read found the bundle readable, so only the file itself can fail.
                totals.refused_units += 1;
                notes.extend([self.unreadable_bundle(&e)]);
            }
            Err(e) => {
                tracing::error!(error = %e, "the bundle reader of an upload failed");
                return Err(ApiError::internal().into());
            }
        }
        Ok(notes)
    }
}

impl Importer {
    /// Reads one STIX object that is a document on its own, of at most [`BUNDLE_VALUE_BYTES`]:
    /// the objects of its unit (a 2.0 object upgraded). `Err` says, in the importer's language,
    /// why it is not one. Blocking.
    pub fn read_object(
        &self,
        input: impl std::io::Read,
    ) -> Result<Vec<Map<String, Value>>, String> {
        use std::io::Read;
        let unreadable = |why: &dyn std::fmt::Display| match self.locale {
            Locale::En => format!("not a readable STIX object: {why}"),
            Locale::ZhTw => format!("無法讀取的 STIX 物件：{why}"),
        };
        let mut bytes = Vec::new();
        input
            .take(BUNDLE_VALUE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(&e))?;
        if bytes.len() as u64 > BUNDLE_VALUE_BYTES {
            return Err(match self.locale {
                Locale::En => {
                    format!("a STIX object on its own may take at most {BUNDLE_VALUE_BYTES} bytes")
                }
                Locale::ZhTw => format!("單獨的 STIX 物件最多 {BUNDLE_VALUE_BYTES} 位元組"),
            });
        }
        let o: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|e| unreadable(&e))?;
        if !o.get("type").is_some_and(Value::is_string) {
            return Err(unreadable(&match self.locale {
                Locale::En => "it has no `type`",
                Locale::ZhTw => "沒有 `type`",
            }));
        }
        Ok(if o.contains_key("spec_version") {
            vec![o]
        } else {
            isac_stix::upgrade::upgrade_object(&o)
        })
    }

    /// Why a bundle could not be read, in the importer's language.
    pub fn unreadable_bundle(&self, e: &dyn std::fmt::Display) -> String {
        match self.locale {
            Locale::En => format!("not a readable STIX bundle: {e}"),
            Locale::ZhTw => format!("無法讀取的 STIX 套組：{e}"),
        }
    }

    /// Reads a STIX bundle as a stream (STIX 2.0 objects, without `spec_version`, upgraded;
    /// 2.1 objects as they are), prepares it in chunks of [`IMPORT_CHUNK`] objects and hands
    /// each, with the number of objects read into it, to `send`. A full chunk is handed on when
    /// the next object is read, so each chunk says whether it is the bundle's last
    /// ([`Prepared::is_last`]): only the chunk after which the bundle ended without error is.
    /// After a read error nothing more is handed on, and the error is returned: the chunks
    /// handed on before it are not a whole bundle ([`Importer::store_bundle`] stores nothing of
    /// them). No object may take more than [`BUNDLE_VALUE_BYTES`] of input: a larger one stops
    /// the read as it passes the limit. Blocking: the CLI and uploads run it on a thread of its
    /// own, overlapping the store's writes.
    pub fn read_bundle(
        &self,
        input: impl std::io::Read,
        mut send: impl FnMut(u64, Prepared) -> Result<(), String>,
    ) -> Result<(), isac_stix::bundle::BundleError> {
        let mut chunk = Vec::with_capacity(IMPORT_CHUNK);
        let mut declared = self.declared();
        let mut prepare_and_send = |chunk: Vec<Map<String, Value>>, last: bool| {
            let n = chunk.len() as u64;
            let mut prepared = self.prepare_declared(chunk, &mut declared);
            prepared.last = last;
            send(n, prepared)
        };
        let read = isac_stix::bundle::read_streaming_limited(input, BUNDLE_VALUE_BYTES, |o| {
            if chunk.len() >= IMPORT_CHUNK {
                prepare_and_send(std::mem::take(&mut chunk), false)?;
            }
            if o.contains_key("spec_version") {
                chunk.push(o);
            } else {
                chunk.extend(isac_stix::upgrade::upgrade_object(&o));
            }
            Ok(())
        });
        if read.is_ok() && !chunk.is_empty() {
            // A stopped import no longer listens; nothing else can fail here.
            let _ = prepare_and_send(chunk, true);
        }
        read.map(|_| ())
    }

    /// Stores the chunks of one bundle, as [`Importer::read_bundle`] hands them on through
    /// `chunks`, whole or not at all. A bundle of one chunk is one unit of `session`, sharing its
    /// transaction with the units around it. A larger bundle is stored in a transaction of its
    /// own: what `session` holds is committed first, the session is held
    /// ([`ImportSession::hold`]) over the bundle's chunks and committed after the last one; if a
    /// chunk is refused, or the chunks end without the last one (the bundle could not be read to
    /// its end), the transaction is rolled back and nothing of the bundle is stored. Returns
    /// `false` when the bundle was refused (the reader, told to stop, then fails with that), and
    /// `true` otherwise, also when the chunks ended early: the reader's own error then says why
    /// the bundle could not be read. `chunk_done` gets each chunk's notes and object count. A
    /// refused bundle counts as one refused unit in `totals`, and the notes of its refused chunk
    /// start with a line saying nothing of it was stored. Dropping `chunks` early stops the reader.
    pub async fn store_bundle(
        &self,
        session: &mut ImportSession,
        source: &str,
        mut chunks: tokio::sync::mpsc::Receiver<(u64, Prepared)>,
        totals: &mut ImportTotals,
        mut chunk_done: impl FnMut(Vec<String>, u64),
    ) -> Result<bool, ApiError> {
        let before = totals.clone();
        let mut multi = false;
        let mut first = true;
        let mut ended = false;
        let mut refused = false;
        let mut read = 0u64;
        while let Some((n, prepared)) = chunks.recv().await {
            read += n;
            if first && !prepared.is_last() {
                session.commit().await?;
                session.hold(true);
                multi = true;
            }
            first = false;
            ended = prepared.is_last();
            let mut problems = match self.store_prepared(session, source, prepared, totals).await {
                Ok(p) => p,
                Err(e) => {
                    session.hold(false);
                    return Err(e);
                }
            };
            refused |= !problems.is_empty();
            if multi && !problems.is_empty() {
                session.rollback();
                session.hold(false);
                // The audit records of its chunks went with the transaction: one record says
                // the bundle was refused.
                session
                    .store()
                    .audit(
                        &AuditEntry::new("object.import", source.to_owned())
                            .by(Some(&self.user().id), Some(&self.principal.org.id))
                            .outcome(isac_store::Outcome::Denied)
                            .detail(format!(
                                "bundle refused whole after {read} objects: {}; nothing stored",
                                problems
                                    .first()
                                    .map(|p| p.chars().take(300).collect::<String>())
                                    .unwrap_or_default()
                            )),
                    )
                    .await?;
                let invalid = totals.invalid - before.invalid;
                *totals = before;
                totals.refuse_unit();
                totals.invalid += invalid;
                // First, so that it is among the notes shown however many follow.
                problems.insert(0, self.bundle_not_stored());
                chunk_done(problems, n);
                return Ok(false);
            }
            chunk_done(problems, n);
        }
        if multi {
            session.hold(false);
            if ended {
                session.commit().await?;
            } else {
                session.rollback();
                *totals = before;
            }
        }
        Ok(!refused)
    }

    /// The note that starts the notes of a refused bundle of several chunks.
    pub fn bundle_not_stored(&self) -> String {
        match self.locale {
            Locale::En => {
                "the bundle is stored whole or not at all: nothing of it was stored".to_owned()
            }
            Locale::ZhTw => "套組須全部存入或全部不存：其內容均未存入".to_owned(),
        }
    }
}

/// The diagnostics of a converted MISP event as notes in `l`: the element (or the event) and
/// why.
pub fn misp_notes(l: Locale, ev: &isac_misp::Import) -> Vec<String> {
    ev.diagnostics
        .iter()
        .map(|d| {
            let reason = match (l, &d.reason_zh) {
                (Locale::ZhTw, Some(zh)) => zh,
                _ => &d.reason,
            };
            format!(
                "{}: {reason}",
                d.element.as_deref().unwrap_or(&ev.event_uuid),
            )
        })
        .collect()
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, std::io::Error> + Send + 'static,
) -> Result<T, UploadError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => {
            tracing::error!(error = %e, "blocking work of an upload failed");
            Err(ApiError::internal().into())
        }
    }
}
