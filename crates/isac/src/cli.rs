//! The command line, as clap parses it. Every flag can also be given as an environment variable
//! `ISAC_<FLAG>` (`--database-url` is `ISAC_DATABASE_URL`); a flag on the command line wins over
//! its variable. Server settings may further come from a TOML file, see [`crate::config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp};

const AFTER_HELP: &str = "\
Every flag can also be set with an environment variable ISAC_<FLAG>, e.g. ISAC_DATA,
ISAC_LISTEN, ISAC_DATABASE_URL. Server settings are taken from, in order: the flag, its
environment variable, the configuration file, the built-in default. The configuration file is
--config FILE (ISAC_CONFIG) or, when that is not given, DIR/isac.toml if it exists.";

#[derive(Debug, Parser)]
#[command(
    name = "isac",
    version,
    about = "TLP-aware threat-intelligence sharing for a financial-sector ISAC",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Language of the reports of import, export and TAXII exchange: en or zh-TW [default: from
    /// LC_ALL, LC_MESSAGES or LANG; zh_TW, zh_HK, zh_MO and zh-Hant give zh-TW, anything else en]
    #[arg(long, global = true, env = "ISAC_LANG", value_name = "LANG",
          value_parser = closed(Locale::ALL, Locale::as_str))]
    pub lang: Option<Locale>,
}

/// The language of command output when `--lang` is not given: the POSIX locale (`LC_ALL`, then
/// `LC_MESSAGES`, then `LANG`, the first one set and not empty). Traditional Chinese locales
/// (`zh_TW`, `zh_HK`, `zh_MO`, `zh-Hant`) give zh-TW; anything else is English, simplified
/// Chinese included, since isac speaks only these two.
pub fn locale_from_env(var: impl Fn(&str) -> Option<String>) -> Locale {
    let posix = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| var(k))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace('-', "_");
    let traditional = ["zh_tw", "zh_hk", "zh_mo", "zh_hant"]
        .iter()
        .any(|p| posix.starts_with(p));
    if traditional {
        Locale::ZhTw
    } else {
        Locale::En
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the REST API
    Serve {
        #[command(flatten)]
        storage: Storage,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Seed demo data into an empty data directory, print the demo logins, then serve
    Demo {
        #[command(flatten)]
        storage: Storage,
        #[command(flatten)]
        server: ServerArgs,
        /// How many intelligence objects to seed
        #[arg(long, env = "ISAC_OBJECTS", default_value_t = 3000,
              value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
        objects: u32,
        /// Seed of the random generator that makes the demo data
        #[arg(long, env = "ISAC_SEED", default_value_t = 2024)]
        seed: u64,
    },
    /// Create or upgrade the database schema, then exit
    Migrate {
        #[command(flatten)]
        storage: Storage,
    },
    /// Manage organisations
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Manage sharing groups
    #[command(subcommand)]
    Group(GroupCommand),
    /// Check the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write exactly what one user may see: a STIX 2.1 bundle, a MISP feed directory, CSV, or
    /// IP / domain block lists
    Export {
        #[command(flatten)]
        storage: Storage,
        /// The user whose view is exported (id or email); the TLP policy applies as at login
        #[arg(long = "as", value_name = "USER")]
        as_user: String,
        /// Output format
        #[arg(long, default_value = "stix", value_parser = ["stix", "misp-feed", "csv", "ip-list", "domain-list"])]
        format: String,
        /// Output file, or - for standard output (misp-feed: an empty or new directory)
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
    /// Import STIX 2.0/2.1 bundles, MISP event JSON files and MISP feed directories, atomically
    /// per bundle or event, skipping what is already stored
    Import {
        #[command(flatten)]
        storage: Storage,
        /// The org that owns what is imported (id or name) [default: the operator]
        #[arg(long, value_name = "ORG")]
        owner: Option<String>,
        /// The importing user (id or email) [default: the owner's first user who may write
        /// intelligence]
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
        /// TLP of unmarked input; never wider than GREEN
        #[arg(long, default_value = "green", value_name = "TLP")]
        tlp: String,
        /// Files (bundles, MISP events) and directories (MISP feeds, or folders of such files)
        #[arg(value_name = "FILE|DIR", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Exchange with other TAXII 2.1 servers
    #[command(subcommand)]
    Taxii(TaxiiCommand),
}

/// A remote TAXII 2.1 collection.
#[derive(Debug, Args)]
pub struct TaxiiRemote {
    #[command(flatten)]
    pub server: TaxiiServer,
    /// Collection id on the remote server (`isac taxii collections` lists them)
    #[arg(long, value_name = "ID")]
    pub collection: String,
}

/// A remote TAXII 2.1 server and how to authenticate to it.
#[derive(Debug, Args)]
pub struct TaxiiServer {
    /// Discovery or API root URL of the remote server
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// HTTP Basic user name
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// HTTP Basic password (or API key used as the password)
    #[arg(
        long,
        env = "ISAC_TAXII_PASSWORD",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub password: Option<String>,
    /// Bearer token
    #[arg(
        long,
        env = "ISAC_TAXII_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Allow loopback and private addresses (refused by default)
    #[arg(long)]
    pub allow_private: bool,
}

#[derive(Debug, Subcommand)]
pub enum TaxiiCommand {
    /// List the collections of a remote server's API root that these credentials may know of
    Collections {
        #[command(flatten)]
        server: TaxiiServer,
    },
    /// Fetch what is new in a remote collection (resuming from the state file) and import it
    Pull {
        #[command(flatten)]
        storage: Storage,
        #[command(flatten)]
        remote: TaxiiRemote,
        /// Where the resume state is kept [default: DIR/taxii-state.json]
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// The org that owns what is pulled (id or name) [default: the operator]
        #[arg(long, value_name = "ORG")]
        owner: Option<String>,
        /// The importing user (id or email)
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
        /// TLP of unmarked objects; never wider than GREEN
        #[arg(long, default_value = "green", value_name = "TLP")]
        tlp: String,
    },
    /// Send what one user may see, up to a TLP level, to a remote collection
    Push {
        #[command(flatten)]
        storage: Storage,
        #[command(flatten)]
        remote: TaxiiRemote,
        /// The user whose view is sent (id or email)
        #[arg(long = "as", value_name = "USER")]
        as_user: String,
        /// The most restricted TLP sent: clear, green, amber or amber+strict (never red)
        #[arg(long, default_value = "green", value_name = "TLP")]
        max_tlp: String,
    },
}

/// Where the data lives.
#[derive(Debug, Args)]
pub struct Storage {
    /// Data directory: holds the SQLite database isac.db (unless --database-url is given) and
    /// the optional configuration file isac.toml; created if missing
    #[arg(long, env = "ISAC_DATA", value_name = "DIR")]
    pub data: PathBuf,
    /// PostgreSQL URL (postgres://USER@HOST/DB); without it the data is in DIR/isac.db
    #[arg(long, env = "ISAC_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// TOML configuration file [default: DIR/isac.toml when it exists]
    #[arg(long, env = "ISAC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Server settings given on the command line. Unset ones fall back to the configuration file.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "ISAC_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM); with --tls-key the server speaks HTTPS
    #[arg(long, env = "ISAC_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, env = "ISAC_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Minutes a session may stay unused [default: 30]
    #[arg(long, env = "ISAC_IDLE_TIMEOUT_MINUTES", value_name = "MINUTES")]
    pub idle_timeout_minutes: Option<u64>,
    /// Hours a session lasts at most, however active [default: 12]
    #[arg(long, env = "ISAC_ABSOLUTE_TIMEOUT_HOURS", value_name = "HOURS")]
    pub absolute_timeout_hours: Option<u64>,
    /// TLP given to objects submitted without one; never wider than green [default: green]
    #[arg(long, env = "ISAC_DEFAULT_TLP", value_name = "TLP")]
    pub default_tlp: Option<String>,
    /// Failed logins in a row before an account is locked [default: 5]
    #[arg(long, env = "ISAC_MAX_FAILED_LOGINS", value_name = "N")]
    pub max_failed_logins: Option<i64>,
    /// Minutes a locked account stays locked [default: 15]
    #[arg(long, env = "ISAC_LOCKOUT_MINUTES", value_name = "MINUTES")]
    pub lockout_minutes: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add an organisation and print its id
    Add {
        #[command(flatten)]
        storage: Storage,
        /// Name (English, and Chinese too unless --name-zh is given); must be unique
        #[arg(long, env = "ISAC_NAME")]
        name: String,
        /// Traditional Chinese name
        #[arg(long, env = "ISAC_NAME_ZH")]
        name_zh: Option<String>,
        #[arg(long, env = "ISAC_KIND", value_parser = closed(OrgKind::ALL, OrgKind::as_str))]
        kind: OrgKind,
        /// Sector; required for member orgs, refused for others
        #[arg(long, env = "ISAC_SECTOR", value_parser = closed(Sector::ALL, Sector::as_str))]
        sector: Option<Sector>,
        /// For partner orgs: the most restrictive TLP they may receive by federation
        #[arg(long, env = "ISAC_PARTNER_CEILING", value_name = "TLP",
              value_parser = closed(Tlp::ALL, Tlp::as_str))]
        partner_ceiling: Option<Tlp>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user and print its id
    Add {
        #[command(flatten)]
        storage: Storage,
        /// The user's org: id, English or Chinese name
        #[arg(long, env = "ISAC_ORG")]
        org: String,
        #[arg(long, env = "ISAC_EMAIL")]
        email: String,
        /// Role; it must be one the org's kind may hold
        #[arg(long, env = "ISAC_ROLE", value_parser = closed(Role::ALL, Role::as_str))]
        role: Role,
        /// Read the password from the first line of standard input; without it the user has no
        /// password and can only use API keys
        #[arg(long, env = "ISAC_PASSWORD_STDIN")]
        password_stdin: bool,
        /// Display name [default: the local part of the email]
        #[arg(long, env = "ISAC_DISPLAY_NAME")]
        display_name: Option<String>,
        #[arg(long, env = "ISAC_LOCALE", default_value = "zh-TW",
              value_parser = closed(Locale::ALL, Locale::as_str))]
        locale: Locale,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key for a user and print its token (shown only this once)
    Create {
        #[command(flatten)]
        storage: Storage,
        /// The key's user: id or email
        #[arg(long, env = "ISAC_USER")]
        user: String,
        /// A name to recognise the key by
        #[arg(long, env = "ISAC_KEY_NAME", default_value = "cli")]
        key_name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Add a sharing group and print its id
    Add {
        #[command(flatten)]
        storage: Storage,
        #[arg(long, env = "ISAC_NAME")]
        name: String,
        #[arg(long, env = "ISAC_DESCRIPTION", default_value = "")]
        description: String,
    },
    /// Add an org to a sharing group
    AddMember {
        #[command(flatten)]
        storage: Storage,
        /// The group: id or name
        #[arg(long, env = "ISAC_GROUP")]
        group: String,
        /// The org: id, English or Chinese name
        #[arg(long, env = "ISAC_ORG")]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of the audit log; exit 1 if a record does not hold
    Verify {
        #[command(flatten)]
        storage: Storage,
    },
}

/// A parser for one of the model's closed enums, listing its values in `--help` and in errors.
fn closed<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(move |v| name(*v))).try_map(move |s| {
        all.iter()
            .copied()
            .find(|v| name(*v) == s)
            .ok_or("not one of the possible values")
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn output_language_follows_the_posix_locale() {
        use isac_model::Locale::{En, ZhTw};
        for (vars, want) in [
            (&[("LANG", "zh_TW.UTF-8")][..], ZhTw),
            (&[("LANG", "zh_HK.Big5")], ZhTw),
            (&[("LC_MESSAGES", "zh-Hant")], ZhTw),
            (&[("LC_ALL", ""), ("LANG", "zh_MO")], ZhTw),
            (&[("LC_ALL", "C"), ("LANG", "zh_TW.UTF-8")], En),
            (&[("LANG", "zh_CN.UTF-8")], En),
            (&[("LANG", "en_GB.UTF-8")], En),
            (&[], En),
        ] {
            let got = super::locale_from_env(|k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            });
            assert_eq!(got, want, "{vars:?}");
        }
    }
}
