//! The `isac` command: serving, the demo, schema migration, provisioning of orgs, users, API keys
//! and sharing groups, and verification of the audit chain. It is glue: settings are resolved in
//! [`config`], the work is done by `isac-store` and `isac-server`.
//!
//! Output contract: a command that creates something prints its id (or token) as the last line of
//! standard output; every failure prints `error: <message>` on standard error and exits 1 (2 for
//! a malformed command line). Logs go to standard error, filtered by `RUST_LOG` (default `info`).

mod cli;
mod config;
mod demo;
mod exchange;
mod provision;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use isac_model::Locale;
use isac_server::AppState;
use isac_store::{Location, Store};

use cli::{ApikeyCommand, AuditCommand, Cli, Command, GroupCommand, OrgCommand, UserCommand};
use config::FileConfig;
use provision::Verified;

/// mimalloc rather than the system allocator: `isac import` parses JSON on one thread and frees it
/// on another, where glibc's allocator spent a noticeable share of the time merging free chunks
/// (docs/BENCHMARKS.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lang = cli
        .lang
        .unwrap_or_else(|| cli::locale_from_env(|k| std::env::var(k).ok()));
    match runtime.block_on(run(cli.command, lang)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Opens the store the storage flags and the configuration file point at.
async fn open(storage: &cli::Storage, file: &FileConfig) -> Result<Store> {
    open_as(storage, file, false).await
}

/// [`open`], or with `load` for a bulk load ([`Store::open_for_load`]).
async fn open_as(storage: &cli::Storage, file: &FileConfig, load: bool) -> Result<Store> {
    let location = config::location(storage, file)?;
    config::create_data_dir(storage)?;
    let opened = if load {
        Store::open_for_load(&location).await
    } else {
        Store::open(&location).await
    };
    opened.with_context(|| format!("cannot open the database ({})", config::describe(&location)))
}

/// Opens the store for a command that only reads: an SQLite file must already exist.
async fn open_existing(storage: &cli::Storage, file: &FileConfig) -> Result<Store> {
    if let Location::SqliteFile(p) = config::location(storage, file)?
        && !p.is_file()
    {
        bail!("there is no isac database at {}", p.display());
    }
    open(storage, file).await
}

/// Runs a provisioning step against the store and closes it, whatever the outcome.
async fn with_store<T>(
    storage: &cli::Storage,
    f: impl AsyncFnOnce(&Store) -> Result<T>,
) -> Result<T> {
    let file = FileConfig::load(storage)?;
    let store = open(storage, &file).await?;
    let out = f(&store).await;
    store.close().await;
    out
}

/// `tr(l, en, zh)` for the command's reports.
fn tr(l: Locale, en: String, zh: String) -> String {
    match l {
        Locale::En => en,
        Locale::ZhTw => zh,
    }
}

async fn run(command: Command, l: Locale) -> Result<ExitCode> {
    match command {
        Command::Serve { storage, server } => {
            let file = FileConfig::load(&storage)?;
            let config = config::server(&server, &file)?;
            let store = open(&storage, &file).await?;
            serve(store, config).await?;
        }
        Command::Demo {
            storage,
            server,
            objects,
            seed,
        } => {
            let file = FileConfig::load(&storage)?;
            let config = config::server(&server, &file)?;
            let store = open(&storage, &file).await?;
            demo::prepare(&store, &storage.data, objects as usize, seed).await?;
            serve(store, config).await?;
        }
        Command::Migrate { storage } => {
            let file = FileConfig::load(&storage)?;
            let location = config::location(&storage, &file)?;
            open(&storage, &file).await?.close().await;
            println!(
                "ok: the database schema is up to date ({})",
                config::describe(&location)
            );
        }
        Command::Org(OrgCommand::Add {
            storage,
            name,
            name_zh,
            kind,
            sector,
            partner_ceiling,
        }) => {
            let input = provision::OrgInput {
                name,
                name_zh,
                kind,
                sector,
                partner_ceiling,
            };
            let org = with_store(&storage, async |s: &Store| {
                provision::add_org(s, input).await
            })
            .await?;
            println!("{}", org.id);
        }
        Command::User(UserCommand::Add {
            storage,
            org,
            email,
            role,
            password_stdin,
            display_name,
            locale,
        }) => {
            let input = provision::UserInput {
                org,
                email,
                role,
                password_stdin,
                display_name,
                locale,
            };
            let user = with_store(&storage, async |s: &Store| {
                provision::add_user(s, input).await
            })
            .await?;
            println!("{}", user.id);
        }
        Command::Apikey(ApikeyCommand::Create {
            storage,
            user,
            key_name,
        }) => {
            let token = with_store(&storage, async |s: &Store| {
                provision::create_api_key(s, &user, &key_name).await
            })
            .await?;
            println!("{token}");
        }
        Command::Group(GroupCommand::Add {
            storage,
            name,
            description,
        }) => {
            let id = with_store(&storage, async |s: &Store| {
                provision::add_group(s, &name, &description).await
            })
            .await?;
            println!("{id}");
        }
        Command::Group(GroupCommand::AddMember {
            storage,
            group,
            org,
        }) => {
            let (group, org) = with_store(&storage, async |s: &Store| {
                provision::add_group_member(s, &group, &org).await
            })
            .await?;
            println!("added {} to group {group}", org.name_en);
        }
        Command::Export {
            storage,
            as_user,
            format,
            out,
        } => {
            let format = isac_server::export::ExportFormat::parse(&format)
                .ok_or_else(|| anyhow::anyhow!("unknown format {format}"))?;
            let n = with_store(&storage, async |s: &Store| {
                exchange::export(s, &as_user, format, &out, l).await
            })
            .await?;
            let f = format.as_str();
            eprintln!(
                "{}",
                tr(
                    l,
                    format!("exported {n} ({f})"),
                    format!("已匯出 {n} 筆（{f}）")
                )
            );
        }
        Command::Import {
            storage,
            owner,
            as_user,
            tlp,
            paths,
        } => {
            let tlp =
                isac_model::Tlp::parse_loose(&tlp).map_err(|e| anyhow::anyhow!("--tlp: {e}"))?;
            let file = FileConfig::load(&storage)?;
            let inputs = exchange::Inputs::classify(&paths)?;
            let store = open_as(&storage, &file, inputs.may_load()).await?;
            let imported = async {
                let importer =
                    exchange::importer(&store, owner.as_deref(), as_user.as_deref(), tlp)
                        .await?
                        .in_locale(l);
                exchange::import(&store, &importer, inputs).await
            }
            .await;
            store.close().await;
            let t = imported?;
            let (u, c, n, e, x, r, i) = (
                t.units,
                t.created,
                t.updated,
                t.historical,
                t.unchanged,
                t.refused_units,
                t.invalid,
            );
            println!(
                "{}",
                tr(
                    l,
                    format!(
                        "imported {u} units: {c} created, {n} new versions, {e} earlier versions, {x} unchanged; {r} units refused ({i} invalid objects)"
                    ),
                    format!(
                        "已匯入 {u} 個單元：新增 {c}、新版本 {n}、較早版本 {e}、未變更 {x}；被拒單元 {r}（無效物件 {i}）"
                    )
                )
            );
            if t.refused_units > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Taxii(cli::TaxiiCommand::Collections { server: remote }) => {
            let (url, root, collections) = exchange::taxii_collections(server(remote)).await?;
            println!("{} {url}", tr(l, "API root:".into(), "API 根：".into()));
            println!("  {}", root.title);
            if collections.is_empty() {
                println!(
                    "{}",
                    tr(
                        l,
                        "no collection these credentials may know of".into(),
                        "此身分沒有可知悉的集合".into()
                    )
                );
            }
            for c in &collections {
                let access = match (c.can_read, c.can_write) {
                    (true, true) => tr(l, "read, write".into(), "讀取、寫入".into()),
                    (true, false) => tr(l, "read".into(), "讀取".into()),
                    (false, true) => tr(l, "write".into(), "寫入".into()),
                    (false, false) => tr(l, "none".into(), "無".into()),
                };
                println!("{}  {access:<12}  {}", c.id, c.title);
            }
        }
        Command::Taxii(cli::TaxiiCommand::Pull {
            storage,
            remote,
            state,
            owner,
            as_user,
            tlp,
        }) => {
            let tlp =
                isac_model::Tlp::parse_loose(&tlp).map_err(|e| anyhow::anyhow!("--tlp: {e}"))?;
            let state = state.unwrap_or_else(|| storage.data.join("taxii-state.json"));
            let t = with_store(&storage, async |s: &Store| {
                let importer = exchange::importer(s, owner.as_deref(), as_user.as_deref(), tlp)
                    .await?
                    .in_locale(l);
                exchange::taxii_pull(s, &importer, target(remote), &state).await
            })
            .await?;
            let (c, n, e, x) = (t.created, t.updated, t.historical, t.unchanged);
            println!(
                "{}",
                tr(
                    l,
                    format!(
                        "pulled: {c} created, {n} new versions, {e} earlier versions, {x} unchanged"
                    ),
                    format!("已拉取：新增 {c}、新版本 {n}、較早版本 {e}、未變更 {x}")
                )
            );
        }
        Command::Taxii(cli::TaxiiCommand::Push {
            storage,
            remote,
            as_user,
            max_tlp,
        }) => {
            let max = isac_model::Tlp::parse_loose(&max_tlp)
                .map_err(|e| anyhow::anyhow!("--max-tlp: {e}"))?;
            let t = with_store(&storage, async |s: &Store| {
                exchange::taxii_push(s, &as_user, max, target(remote)).await
            })
            .await?;
            let (n, ok, failed, pending) = (t.sent, t.success, t.failure, t.pending);
            println!(
                "{}",
                tr(
                    l,
                    format!(
                        "pushed {n} objects: {ok} succeeded, {failed} failed, {pending} pending"
                    ),
                    format!("已推送 {n} 個物件：成功 {ok}、失敗 {failed}、處理中 {pending}")
                )
            );
            if t.failure > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit(AuditCommand::Verify { storage }) => {
            let file = FileConfig::load(&storage)?;
            let store = open_existing(&storage, &file).await?;
            let verified = provision::verify_audit(&store).await;
            store.close().await;
            match verified? {
                Verified::Ok { records } => println!("ok: {records} records"),
                Verified::Broken { first, records } => {
                    println!("broken: first broken record #{first} ({records} records checked)");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(store: Store, config: isac_server::Config) -> Result<()> {
    tracing::info!(listen = %config.listen, tls = config.tls.is_some(), "starting server");
    std::io::stdout().flush().ok();
    let result = isac_server::serve(AppState::new(store.clone(), config)).await;
    store.close().await;
    result
}

fn target(r: cli::TaxiiRemote) -> exchange::TaxiiTarget {
    exchange::TaxiiTarget {
        server: server(r.server),
        collection: r.collection,
    }
}

fn server(r: cli::TaxiiServer) -> exchange::TaxiiServer {
    exchange::TaxiiServer {
        url: r.url,
        user: r.user,
        password: r.password,
        token: r.token,
        allow_private: r.allow_private,
    }
}
