//! `isac import`, `isac export` and `isac taxii pull|push`: moving intelligence in and out in the
//! formats members and partners use, always under the TLP policy.
//!
//! Import decisions:
//! - Inputs are STIX 2.1 bundles, STIX 2.0 bundles (upgraded to 2.1 first), MISP event JSON files
//!   and MISP feed directories (`manifest.json` and one file per event). A directory without a
//!   `manifest.json` is read as a set of such files (`*.json`, not recursive).
//! - The owner of what is imported is `--owner ORG` (default: the operator). Imports are recorded
//!   as made by one of that org's users who may write intelligence (`--as USER` chooses which),
//!   because every stored version has an author.
//! - Unmarked objects get `--tlp` (default GREEN; never wider than GREEN, DESIGN §3). MISP events
//!   take their audience from their `tlp:*` tags or distribution (docs/MISP.md); a MISP sharing
//!   group becomes the isac sharing group of the same name or id, and one with no match leaves
//!   the object with no recipients beyond the owner and the operator (narrower, never wider).
//! - Atomic per bundle or event: every object of a unit is prepared (validated, audience
//!   checked) first; if any fails, the unit is refused whole with every object's reason. Bundles
//!   larger than `isac_store::IMPORT_CHUNK` objects are read and prepared in consecutive chunks
//!   (bounded memory) but stored in one transaction of their own, committed after the last
//!   chunk: a refused chunk, or a bundle that cannot be read to its end, stores nothing of the
//!   bundle (`Importer::store_bundle`). Smaller units share write transactions of about
//!   `isac_store::IMPORT_COMMIT_OBJECTS` objects (`isac_store::ImportSession`); re-running the
//!   same import completes an interrupted one.
//! - Idempotent: a version (id and `modified`) already stored is counted as unchanged.
//! - A version of an object owned by another org is refused: importing never changes another
//!   org's object.
//!
//! TAXII push decisions: pushing sends content outside isac, so it sends only what the user may
//! see, at most `--max-tlp` (default GREEN). AMBER and AMBER+STRICT may be pushed only when asked
//! for explicitly (the destination must be within the audience, e.g. the member's own SIEM), and
//! TLP:RED never is.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use isac_model::Tlp;
use isac_server::export::{ExportFormat, write_file, write_misp_feed};
use isac_server::import::{ImportTotals, Importer, Prepared};
use isac_store::{AuditEntry, IMPORT_CHUNK, IMPORT_COMMIT_OBJECTS, ImportSession, Store};
use serde_json::{Map, Value};

use crate::provision::find_user;

/// Largest single import file read whole (MISP events); bundles are streamed. The same limits
/// as a web upload's.
const WHOLE_FILE_MAX: u64 = isac_server::import::MISP_EVENT_BYTES;

/// The importing principal: `as_user`, or the first user of `owner` (default: the operator) who
/// may write intelligence.
pub async fn importer(
    store: &Store,
    owner: Option<&str>,
    as_user: Option<&str>,
    default_tlp: Tlp,
) -> Result<Importer> {
    isac_policy::default_tlp(default_tlp).map_err(|e| anyhow!("--tlp: {e}"))?;
    let user = match as_user {
        Some(u) => find_user(store, u).await?,
        None => {
            let org = match owner {
                Some(o) => find_org(store, o).await?,
                None => match store.operator_org().await {
                    Ok(org) => org,
                    Err(isac_store::StoreError::NotFound(_)) => bail!(
                        "this store has no operator org yet, and what is imported needs an \
                         owner: add one with `isac org add --kind operator --name NAME` and a \
                         user who may write intelligence with `isac user add --org NAME --email EMAIL --role \
                         isac-analyst`, or give --owner"
                    ),
                    Err(e) => return Err(e.into()),
                },
            };
            store
                .users(Some(&org.id))
                .await?
                .into_iter()
                .find(|u| u.enabled && u.role.may_write_intel())
                .ok_or_else(|| {
                    anyhow!(
                        "{} has no enabled user who may write intelligence; add one or give --as",
                        org.name_en
                    )
                })?
        }
    };
    if let Some(o) = owner {
        let org = find_org(store, o).await?;
        if org.id != user.org_id {
            bail!("{} is not a user of {}", user.email, org.name_en);
        }
    }
    let principal = isac_server::auth::local_principal(store, &user)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    Importer::new(store, principal, default_tlp)
        .await
        .map_err(|e| anyhow!("{}", e.message))
}

async fn find_org(store: &Store, key: &str) -> Result<isac_store::Org> {
    let orgs = store.orgs().await?;
    orgs.into_iter()
        .find(|o| o.id == key || o.name_en.eq_ignore_ascii_case(key) || o.name_zh == key)
        .ok_or_else(|| anyhow!("no org {key}"))
}

/// What one input path is.
enum Input {
    Bundle(PathBuf),
    Object(PathBuf),
    MispEvent(PathBuf),
    MispFeed(PathBuf),
    /// A MISP feed archived with tar, as the web export writes it.
    MispFeedArchive(PathBuf),
    /// A MISP galaxy or cluster file: refused with why (`Importer::galaxy_file`).
    MispGalaxy(PathBuf),
}

fn classify(path: &Path) -> Result<Vec<Input>> {
    if path.is_dir() {
        if path.join("manifest.json").is_file() {
            return Ok(vec![Input::MispFeed(path.to_owned())]);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(classify(&f)?);
        }
        return Ok(out);
    }
    let mut head = [0u8; 4096];
    let n = std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .read(&mut head)?;
    match isac_server::import::document_kind(&head[..n]) {
        Some(isac_server::import::DocumentKind::MispEvent) => {
            Ok(vec![Input::MispEvent(path.to_owned())])
        }
        Some(isac_server::import::DocumentKind::Bundle) => Ok(vec![Input::Bundle(path.to_owned())]),
        Some(isac_server::import::DocumentKind::Object) => Ok(vec![Input::Object(path.to_owned())]),
        Some(isac_server::import::DocumentKind::MispFeedArchive) => {
            Ok(vec![Input::MispFeedArchive(path.to_owned())])
        }
        Some(isac_server::import::DocumentKind::MispGalaxy) => {
            Ok(vec![Input::MispGalaxy(path.to_owned())])
        }
        None => bail!(
            "{}: neither a STIX bundle, a STIX object nor a MISP event",
            path.display()
        ),
    }
}

fn report(source: &str, problems: &[String], bar: &ProgressBar) {
    for p in problems {
        bar.suspend(|| eprintln!("{source}: {p}"));
    }
}

/// The inputs of one `isac import`, each path classified once (a directory walked, a file's head
/// read) before the store is opened.
pub struct Inputs(Vec<Input>);

impl Inputs {
    pub fn classify(paths: &[PathBuf]) -> Result<Inputs> {
        let mut inputs = Vec::new();
        for p in paths {
            inputs.extend(classify(p)?);
        }
        Ok(Inputs(inputs))
    }

    /// Whether the import may open the store for a bulk load
    /// ([`isac_store::Store::open_for_load`]): only when it imports STIX alone. A MISP event is
    /// checked against what the store holds through a read while the import's transaction is
    /// open (`Importer::drop_stored_in_same_second`), and under a rollback journal that read
    /// would wait for the transaction it holds up.
    pub fn may_load(&self) -> bool {
        self.0
            .iter()
            .all(|i| matches!(i, Input::Bundle(_) | Input::Object(_)))
    }
}

/// `isac import PATH...`.
pub async fn import(store: &Store, importer: &Importer, inputs: Inputs) -> Result<ImportTotals> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} objects ({per_sec}) {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut totals = ImportTotals::default();
    // Units share transactions of about IMPORT_COMMIT_OBJECTS objects (each unit still atomic):
    // far fewer rewrites of the id indexes than a commit per unit. A failure part-way loses
    // only the uncommitted units, which re-running the import stores.
    let mut session = store.import_session(IMPORT_COMMIT_OBJECTS);
    for input in inputs.0 {
        match input {
            Input::Bundle(path) => {
                import_bundle(&mut session, importer, &path, &bar, &mut totals).await?
            }
            Input::Object(path) => {
                let source = path.display().to_string();
                bar.set_message(source.clone());
                let file =
                    std::fs::File::open(&path).with_context(|| format!("opening {source}"))?;
                match importer.read_object(std::io::BufReader::new(file)) {
                    Ok(objects) => {
                        let prepared = importer.prepare(objects);
                        let problems = importer
                            .store_prepared(&mut session, &source, prepared, &mut totals)
                            .await
                            .map_err(uncommitted)?;
                        report(&source, &problems, &bar);
                        bar.inc(1);
                    }
                    Err(e) => {
                        totals.refuse_unit();
                        report(&source, &[e], &bar);
                    }
                }
            }
            Input::MispEvent(path) => {
                let source = path.display().to_string();
                bar.set_message(source.clone());
                let len = std::fs::metadata(&path)?.len();
                if len > WHOLE_FILE_MAX {
                    bail!("{source}: a MISP event over {WHOLE_FILE_MAX} bytes");
                }
                let bytes = std::fs::read(&path)?;
                let options = isac_misp::ImportOptions {
                    unmarked: importer.default_tlp,
                };
                match isac_misp::import_event_json(&bytes, &options) {
                    Ok(ev) => {
                        import_misp(
                            &mut session,
                            store,
                            importer,
                            &source,
                            ev,
                            &bar,
                            &mut totals,
                        )
                        .await?
                    }
                    Err(e) => {
                        totals.refuse_unit();
                        report(&source, &[e.to_string()], &bar);
                    }
                }
            }
            Input::MispFeed(dir) => {
                let source = dir.display().to_string();
                import_feed(
                    &mut session,
                    store,
                    importer,
                    &source,
                    &dir,
                    &bar,
                    &mut totals,
                )
                .await?
            }
            Input::MispGalaxy(path) => {
                totals.refuse_unit();
                report(&path.display().to_string(), &[importer.galaxy_file()], &bar);
            }
            Input::MispFeedArchive(path) => {
                let source = path.display().to_string();
                bar.set_message(source.clone());
                let dir = tempfile::tempdir().context("a temporary directory for the feed")?;
                let file =
                    std::fs::File::open(&path).with_context(|| format!("opening {source}"))?;
                let unpacked = isac_server::import::unpack_feed_archive(
                    std::io::BufReader::new(file),
                    dir.path(),
                );
                match unpacked {
                    Ok(_) => {
                        import_feed(
                            &mut session,
                            store,
                            importer,
                            &source,
                            dir.path(),
                            &bar,
                            &mut totals,
                        )
                        .await?
                    }
                    Err(e) => {
                        totals.refuse_unit();
                        report(&source, &[importer.not_a_feed(&e)], &bar);
                    }
                }
            }
        }
    }
    session
        .finish()
        .await
        .context("committing the last imported units")?;
    bar.finish_and_clear();
    Ok(totals)
}

/// The events of a MISP feed directory, each its own unit.
async fn import_feed(
    session: &mut ImportSession,
    store: &Store,
    importer: &Importer,
    source: &str,
    dir: &Path,
    bar: &ProgressBar,
    totals: &mut ImportTotals,
) -> Result<()> {
    let src = isac_server::export::DirFeed::new(dir);
    let options = isac_misp::ImportOptions {
        unmarked: importer.default_tlp,
    };
    let reader =
        isac_misp::FeedReader::open(&src, options).map_err(|e| anyhow!("{source}: {e}"))?;
    for (entry, ev) in reader {
        match ev {
            Ok(ev) => {
                let s = format!("{source}/{}.json", ev.event_uuid);
                bar.set_message(s.clone());
                import_misp(session, store, importer, &s, ev, bar, totals).await?;
            }
            Err(e) => {
                totals.refuse_unit();
                report(source, &[format!("event {}: {e}", entry.uuid)], bar);
            }
        }
    }
    Ok(())
}

/// A store error during an import: the open transaction, with every unit since the last
/// commit, is rolled back (`ImportSession::import`).
fn uncommitted(e: isac_server::error::ApiError) -> anyhow::Error {
    anyhow!(
        "{}; the units imported since the last commit were not stored: run the same import again \
         to complete it",
        e.message
    )
}

async fn import_misp(
    session: &mut ImportSession,
    store: &Store,
    importer: &Importer,
    source: &str,
    ev: isac_misp::Import,
    bar: &ProgressBar,
    totals: &mut ImportTotals,
) -> Result<()> {
    let mut notes = isac_server::import::misp_notes(importer.locale, &ev);
    let n = ev.objects.len() as u64;
    let objects = importer.misp_objects(ev.objects, &mut notes);
    report(source, &notes, bar);
    let objects = importer
        .drop_stored_in_same_second(store, objects, totals)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    let problems = importer
        .store_prepared(session, source, importer.prepare(objects), totals)
        .await
        .map_err(uncommitted)?;
    report(source, &problems, bar);
    bar.inc(n);
    Ok(())
}

async fn import_bundle(
    session: &mut ImportSession,
    importer: &Importer,
    path: &Path,
    bar: &ProgressBar,
    totals: &mut ImportTotals,
) -> Result<()> {
    let source = path.display().to_string();
    bar.set_message(source.clone());
    // The bundle is parsed and each chunk prepared (validated, audience checked) on a thread of
    // its own, while the store writes the chunk before: the two stages overlap, and at most three
    // chunks are in memory (one being read, one queued, one being stored) whatever the bundle's
    // size.
    let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Prepared)>(1);
    let file = std::fs::File::open(path).with_context(|| format!("opening {source}"))?;
    let preparer = importer.clone();
    let reader = std::thread::spawn(move || {
        preparer.read_bundle(std::io::BufReader::new(file), |n, prepared| {
            tx.blocking_send((n, prepared))
                .map_err(|_| "the import stopped".to_string())
        })
    });
    // The bundle is stored whole or not at all (`Importer::store_bundle`).
    let refused = !importer
        .store_bundle(session, &source, rx, totals, |problems, n| {
            report(&source, &problems, bar);
            bar.inc(n);
        })
        .await
        .map_err(uncommitted)?;
    match reader.join() {
        Ok(Ok(_)) => Ok(()),
        // Told to stop: the bundle was refused, and its notes say why.
        Ok(Err(_)) if refused => Ok(()),
        Ok(Err(e)) => {
            totals.refused_units += 1;
            report(&source, &[importer.unreadable_bundle(&e)], bar);
            Ok(())
        }
        Err(_) => bail!("{source}: the bundle reader failed"),
    }
}

/// `isac export --as USER --format F OUT`.
pub async fn export(
    store: &Store,
    as_user: &str,
    format: ExportFormat,
    out: &Path,
    l: isac_model::Locale,
) -> Result<u64> {
    let user = find_user(store, as_user).await?;
    if !user.enabled {
        bail!("user {} is disabled", user.email);
    }
    let p = isac_server::auth::local_principal(store, &user)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    let operator = store.operator_org().await.ok();
    let op_id = operator.as_ref().map(|o| o.id.clone());
    let n = if format.single_file() {
        let sink: Box<dyn std::io::Write> = if out.as_os_str() == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(
                std::fs::File::create(out)
                    .with_context(|| format!("cannot create {}", out.display()))?,
            )
        };
        let mut w = std::io::BufWriter::new(sink);
        write_file(store, &p, op_id.as_deref(), format, &mut w)
            .await
            .map_err(|e| anyhow!("{}", e.message))?
    } else {
        if out.exists() && std::fs::read_dir(out)?.next().is_some() {
            bail!(
                "{} is not empty; a MISP feed goes into an empty directory",
                out.display()
            );
        }
        std::fs::create_dir_all(out)?;
        let publisher = isac_server::export::publisher(operator.as_ref());
        let shown = 10;
        let mut notes = 0u64;
        let written = write_misp_feed(store, &p, op_id.as_deref(), &publisher, out, |d| {
            notes += 1;
            if notes <= shown {
                let reason = match (l, &d.reason_zh) {
                    (isac_model::Locale::ZhTw, Some(zh)) => zh,
                    _ => &d.reason,
                };
                eprintln!("{}: {reason}", d.element.as_deref().unwrap_or(""));
            }
        })
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
        if written.notes > shown {
            let more = written.notes - shown;
            eprintln!(
                "{}",
                match l {
                    isac_model::Locale::En => format!(
                        "… and {more} more notes on what MISP cannot express (docs/MISP.md)"
                    ),
                    isac_model::Locale::ZhTw =>
                        format!("…另有 {more} 則關於 MISP 無法表達之處的說明（docs/MISP.md）"),
                }
            );
        }
        if written.events > 0 {
            let n = written.largest_event;
            eprintln!(
                "{}",
                match l {
                    isac_model::Locale::En => format!("the largest event holds {n} attributes"),
                    isac_model::Locale::ZhTw => format!("最大的事件含 {n} 個屬性"),
                }
            );
        }
        written.events as u64
    };
    store
        .audit(
            &AuditEntry::new(format!("export.{}", format.as_str()), user.id.clone())
                .by(Some(&user.id), Some(&user.org_id))
                .detail(format!("{n} written")),
        )
        .await?;
    Ok(n)
}

/// A remote server of `isac taxii`: its URL and credentials.
pub struct TaxiiServer {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub allow_private: bool,
}

/// Settings of `isac taxii pull|push`.
pub struct TaxiiTarget {
    pub server: TaxiiServer,
    pub collection: String,
}

impl TaxiiServer {
    /// The API root the URL leads to (the URL itself, or the discovery resource's default).
    fn api_root(&self) -> Result<isac_taxii::ApiRoot> {
        let auth = match (&self.token, &self.user, &self.password) {
            (Some(t), _, _) => isac_taxii::Auth::bearer(t.clone()),
            (None, Some(u), Some(p)) => isac_taxii::Auth::basic(u.clone(), p.clone()),
            (None, None, Some(p)) => isac_taxii::Auth::basic("", p.clone()),
            _ => isac_taxii::Auth::None,
        };
        let mut config = isac_taxii::ClientConfig::new(&self.url)?.auth(auth);
        if self.allow_private {
            config = config.outbound(isac_taxii::OutboundPolicy::allow_all());
        }
        let client = isac_taxii::Client::new(config)?;
        Ok(client.api_root()?)
    }
}

impl TaxiiTarget {
    fn collection(&self) -> Result<isac_taxii::Collection> {
        Ok(self.server.api_root()?.collection(&self.collection))
    }
}

/// `isac taxii collections`: the remote API root (its URL and resource) and the collections the
/// credentials may know of.
pub async fn taxii_collections(
    server: TaxiiServer,
) -> Result<(
    String,
    isac_taxii::ApiRootInfo,
    Vec<isac_taxii::CollectionInfo>,
)> {
    tokio::task::spawn_blocking(move || -> Result<_> {
        let root = server.api_root()?;
        let collections = root.collections()?;
        Ok((root.url().to_string(), root.info().clone(), collections))
    })
    .await?
}

/// `isac taxii pull`: polls the collection from where the state file left off and imports what
/// is new, one page per atomic unit.
pub async fn taxii_pull(
    store: &Store,
    importer: &Importer,
    target: TaxiiTarget,
    state_file: &Path,
) -> Result<ImportTotals> {
    let state_path = state_file.to_owned();
    let (outcome, states) = tokio::task::spawn_blocking(move || -> Result<_> {
        let collection = target.collection()?;
        let mut states = isac_taxii::PollStateFile::open(state_path)?;
        let mut state = states.state(&collection);
        let outcome = collection.poll(&mut state, &isac_taxii::PollOptions::default())?;
        states.set(state);
        Ok((outcome, states))
    })
    .await??;
    let mut totals = ImportTotals::default();
    let bar = ProgressBar::new(outcome.objects.len() as u64);
    let source = "taxii pull".to_string();
    // A marking definition that declares a TLP level marks the objects of every page pulled,
    // whichever page it came in (docs/EXCHANGE.md, "TLP markings of other tools").
    let mut declared = importer.declared();
    for o in outcome.objects.iter().filter_map(Value::as_object) {
        // One past the cap is refused when its chunk is prepared.
        let _ = declared.learn(o);
    }
    for chunk in outcome.objects.chunks(IMPORT_CHUNK) {
        let objects: Vec<Map<String, Value>> = chunk
            .iter()
            .filter_map(|v| v.as_object().cloned())
            .collect();
        let problems = importer
            .unit_declared(store, &source, objects, &mut totals, &mut declared)
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
        report(&source, &problems, &bar);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if totals.refused_units > 0 {
        bail!(
            "{} of {} pages were refused (see above); the resume state is not advanced",
            totals.refused_units,
            totals.units
        );
    }
    states.save()?;
    Ok(totals)
}

/// What `isac taxii push` did.
pub struct PushTotals {
    pub sent: usize,
    pub success: u64,
    pub failure: u64,
    pub pending: u64,
}

/// `isac taxii push`: sends what `as_user` may see, up to `max_tlp`, to the collection and waits
/// for the server's status.
pub async fn taxii_push(
    store: &Store,
    as_user: &str,
    max_tlp: Tlp,
    target: TaxiiTarget,
) -> Result<PushTotals> {
    if max_tlp == Tlp::Red {
        bail!("TLP:RED is never pushed to another system");
    }
    let user = find_user(store, as_user).await?;
    let p = isac_server::auth::local_principal(store, &user)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    let operator = store.operator_org().await.ok().map(|o| o.id);
    let mut objects = Vec::new();
    isac_server::export::each_visible(store, &p, operator.as_deref(), |o, v| {
        if o.access.tlp.breadth() >= max_tlp.breadth() {
            objects.push(v.clone());
        }
        Ok(())
    })
    .await
    .map_err(|e| anyhow!("{}", e.message))?;
    let sent = objects.len();
    let out = tokio::task::spawn_blocking(move || -> Result<_> {
        let collection = target.collection()?;
        Ok(collection.push(&objects, &isac_taxii::PushOptions::default())?)
    })
    .await??;
    store
        .audit(
            &AuditEntry::new("taxii.push", user.id.clone())
                .by(Some(&user.id), Some(&user.org_id))
                .detail(format!("{sent} objects up to TLP:{}", max_tlp.as_str())),
        )
        .await?;
    Ok(PushTotals {
        sent,
        success: out.success_count,
        failure: out.failure_count,
        pending: out.pending_count,
    })
}
