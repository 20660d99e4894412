//! Settings, in stages: raw [`FileOptions`] from the TOML file, merged with the command line
//! ([`crate::cli::ServerArgs`], which clap has already merged with `ISAC_*` variables) into the
//! [`isac_server::Config`] and [`Location`] the libraries take. Precedence: flag, then
//! environment variable, then file, then the built-in default.
//!
//! The file is `--config FILE` (`ISAC_CONFIG`); when that is not given, `DIR/isac.toml` is read if
//! it exists. Unknown keys are refused so that a misspelt setting is not silently ignored.
//! Relative paths in the file are relative to the file's directory. Example:
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! database_url = "postgres://isac@db.internal/isac"
//! idle_timeout_minutes = 30
//! absolute_timeout_hours = 12
//! tls_cert = "tls/cert.pem"
//! tls_key = "tls/key.pem"
//! default_tlp = "green"
//! max_failed_logins = 5
//! lockout_minutes = 15
//! ```

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use isac_model::Tlp;
use isac_store::Location;
use serde::Deserialize;

use crate::cli::{ServerArgs, Storage};

/// The file read from the data directory when no `--config` is given.
pub const DEFAULT_FILE: &str = "isac.toml";
/// The SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "isac.db";
/// Largest configuration file read.
const FILE_BYTES: u64 = 64 * 1024;
/// Upper bounds that keep durations meaningful (and far from overflow).
const MAX_IDLE_MINUTES: u64 = 7 * 24 * 60;
const MAX_ABSOLUTE_HOURS: u64 = 366 * 24;
const MAX_LOCKOUT_MINUTES: u64 = 7 * 24 * 60;

/// The configuration file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub idle_timeout_minutes: Option<u64>,
    pub absolute_timeout_hours: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub default_tlp: Option<String>,
    pub max_failed_logins: Option<i64>,
    pub lockout_minutes: Option<u64>,
}

/// A loaded configuration file and the directory its relative paths start from.
#[derive(Debug, Default)]
pub struct FileConfig {
    pub options: FileOptions,
    base: PathBuf,
}

impl FileConfig {
    /// Reads `--config FILE`, else `DIR/isac.toml` if it exists, else nothing.
    pub fn load(storage: &Storage) -> Result<FileConfig> {
        let path = match &storage.config {
            Some(p) => p.clone(),
            None => {
                let p = storage.data.join(DEFAULT_FILE);
                if !p.is_file() {
                    return Ok(FileConfig::default());
                }
                p
            }
        };
        let shown = path.display();
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read configuration file {shown}"))?;
        let mut text = String::new();
        file.take(FILE_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read configuration file {shown}"))?;
        if text.len() as u64 > FILE_BYTES {
            bail!("configuration file {shown} is over {FILE_BYTES} bytes");
        }
        let options: FileOptions = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("configuration file {shown}: {}", e.message()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(FileConfig { options, base })
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_relative() {
            self.base.join(p)
        } else {
            p.to_path_buf()
        }
    }
}

/// Where the data lives: `--database-url`, else the file's `database_url`, else `DIR/isac.db`.
pub fn location(storage: &Storage, file: &FileConfig) -> Result<Location> {
    let url = storage
        .database_url
        .as_deref()
        .or(file.options.database_url.as_deref());
    match url {
        None => Ok(Location::SqliteFile(storage.data.join(DATABASE_FILE))),
        Some(url) => {
            let scheme = url.split_once("://").map_or("", |(s, _)| s);
            if matches!(scheme, "postgres" | "postgresql") {
                Ok(Location::Postgres {
                    url: url.to_owned(),
                    schema: None,
                })
            } else {
                // The URL itself is not shown: it may carry a password.
                let scheme: String = scheme.chars().take(20).collect();
                bail!(
                    "unsupported database URL scheme `{scheme}`: use postgres://USER@HOST/DATABASE, \
                     or leave the database URL out to keep the data in DIR/{DATABASE_FILE} (SQLite)"
                )
            }
        }
    }
}

/// The server settings: each from the command line, else the file, else the default.
pub fn server(args: &ServerArgs, file: &FileConfig) -> Result<isac_server::Config> {
    let f = &file.options;
    let mut config = isac_server::Config::default();

    if let Some(listen) = args.listen {
        config.listen = listen;
    } else if let Some(s) = &f.listen {
        config.listen = s.trim().parse::<SocketAddr>().with_context(|| {
            format!("listen `{s}` in the configuration file is not an address like 127.0.0.1:8080")
        })?;
    }

    if let Some(m) = args.idle_timeout_minutes.or(f.idle_timeout_minutes) {
        config.idle_timeout = minutes("idle_timeout_minutes", m, MAX_IDLE_MINUTES)?;
    }
    if let Some(h) = args.absolute_timeout_hours.or(f.absolute_timeout_hours) {
        check_range("absolute_timeout_hours", h, MAX_ABSOLUTE_HOURS)?;
        config.absolute_timeout = Duration::from_secs(h * 3600);
    }
    if let Some(m) = args.lockout_minutes.or(f.lockout_minutes) {
        config.lockout = minutes("lockout_minutes", m, MAX_LOCKOUT_MINUTES)?;
    }
    if let Some(n) = args.max_failed_logins.or(f.max_failed_logins) {
        if !(1..=1000).contains(&n) {
            bail!("max_failed_logins must be between 1 and 1000, not {n}");
        }
        config.max_failed_logins = n;
    }
    if let Some(s) = args.default_tlp.as_deref().or(f.default_tlp.as_deref()) {
        let tlp = Tlp::parse_loose(s).with_context(|| "invalid default_tlp")?;
        config.default_tlp = isac_policy::default_tlp(tlp).map_err(|_| {
            anyhow::anyhow!(
                "default_tlp {} is wider than TLP:GREEN; unmarked input may never be wider than GREEN",
                tlp.label()
            )
        })?;
    }

    let cert = args
        .tls_cert
        .clone()
        .or_else(|| f.tls_cert.as_deref().map(|p| file.path(p)));
    let key = args
        .tls_key
        .clone()
        .or_else(|| f.tls_key.as_deref().map(|p| file.path(p)));
    config.tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            for (what, p) in [("certificate", &cert), ("key", &key)] {
                if !p.is_file() {
                    bail!("TLS {what} file {} does not exist", p.display());
                }
            }
            Some((cert, key))
        }
        _ => bail!("give both a TLS certificate and a TLS key, or neither"),
    };
    Ok(config)
}

/// Creates the data directory if it is missing.
pub fn create_data_dir(storage: &Storage) -> Result<()> {
    std::fs::create_dir_all(&storage.data).with_context(|| {
        format!(
            "cannot create the data directory {}",
            storage.data.display()
        )
    })
}

/// The location as shown to people: never a database URL, which may carry a password.
pub fn describe(location: &Location) -> String {
    match location {
        Location::SqliteFile(p) => format!("SQLite {}", p.display()),
        Location::Postgres { .. } => "PostgreSQL".to_owned(),
    }
}

fn check_range(what: &str, n: u64, max: u64) -> Result<()> {
    if !(1..=max).contains(&n) {
        bail!("{what} must be between 1 and {max}, not {n}");
    }
    Ok(())
}

fn minutes(what: &str, n: u64, max: u64) -> Result<Duration> {
    check_range(what, n, max)?;
    Ok(Duration::from_secs(n * 60))
}
