//! The seeded corpus: a directory shaped like a sector ISAC (an operator, forty member
//! institutions in six sectors, partners, a vendor, sector and cross-sector sharing groups) and
//! intelligence objects spread over every TLP level with realistic audiences.
//!
//! Object `i` is a pure function of the seed, `i` and the directory, so a partly loaded corpus
//! can be resumed and the benchmark knows which values exist and who may read them without
//! asking the database.

use std::collections::BTreeSet;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, TimeZone, Utc};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp};
use isac_server::intel::{self, Directory, ObjectInput, Recipients};
use isac_store::{AuditEntry, NewObject, NewOrg, NewUser, OnRefusal, Org, Store, StoreError, User};

use crate::db::Db;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// The password of every benchmark account. Only API keys are used; the hash is computed once.
pub const PASSWORD: &str = "bench-Passw0rd!";

/// Member institutions and their sectors, in index order.
const MEMBERS: &[(Sector, usize)] = &[
    (Sector::Bank, 16),
    (Sector::Securities, 8),
    (Sector::Insurance, 8),
    (Sector::Payment, 4),
    (Sector::Futures, 2),
    (Sector::CreditCooperative, 2),
];

/// Sharing groups beyond the sector groups: a name and which member indexes belong.
fn cross_groups() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("SWIFT users", (0..12).chain(16..18).collect()),
        ("Card issuers", (0..8).chain(32..36).collect()),
        ("Core banking platform A", (0..40).step_by(3).collect()),
    ]
}

/// Every STIX object's `created`/`modified` is this instant plus two seconds per index, so
/// reruns produce identical bodies.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid fixed instant")
}

fn audit(target: impl Into<String>) -> AuditEntry {
    AuditEntry::new("bench.setup", target).from_source("bench")
}

/// The directory the corpus is written against.
pub struct Cast {
    pub op_analyst: User,
    pub members: Vec<Org>,
    /// One `member-analyst` per member org, same index.
    pub analysts: Vec<User>,
    /// Sector groups first, then the cross-sector groups.
    pub groups: Vec<String>,
}

impl Cast {
    /// The member analyst whose view the read benchmarks take: a bank in four sharing groups.
    pub fn reader(&self) -> (&User, &Org) {
        (&self.analysts[0], &self.members[0])
    }

    /// How many sharing groups the reader's org belongs to.
    pub fn reader_groups(&self) -> usize {
        reader_groups(self).len()
    }

    /// Loads the benchmark directory, creating it on a new store. `hash` is called at most once.
    pub async fn ensure(store: &Store, hash: impl FnOnce() -> Result<String>) -> Result<Cast> {
        if store.operator_org().await.is_ok() {
            return Cast::find(store).await;
        }
        let hash = hash()?;
        let operator = store
            .create_org(
                &org(OrgKind::Operator, None, "Bench ISAC".into()),
                audit("org"),
            )
            .await?;
        user(
            store,
            &operator,
            "analyst@isac.bench.example",
            Role::IsacAnalyst,
            &hash,
        )
        .await?;
        user(
            store,
            &operator,
            "admin@isac.bench.example",
            Role::IsacAdmin,
            &hash,
        )
        .await?;
        let mut members = Vec::new();
        let mut analysts = Vec::new();
        for (m, sector) in member_sectors().into_iter().enumerate() {
            let o = store
                .create_org(
                    &org(OrgKind::Member, Some(sector), member_name(m)),
                    audit("org"),
                )
                .await?;
            let email = format!("analyst@m{:02}.bench.example", m + 1);
            analysts.push(user(store, &o, &email, Role::MemberAnalyst, &hash).await?);
            members.push(o);
        }
        for (p, ceiling) in [Tlp::Green, Tlp::Amber].into_iter().enumerate() {
            let mut o = org(OrgKind::Partner, None, format!("Bench partner {}", p + 1));
            o.partner_ceiling = Some(ceiling);
            let o = store.create_org(&o, audit("org")).await?;
            let email = format!("service@p{}.bench.example", p + 1);
            user(store, &o, &email, Role::PartnerService, &hash).await?;
        }
        let vendor = store
            .create_org(
                &org(OrgKind::Vendor, None, "Bench vendor".into()),
                audit("org"),
            )
            .await?;
        user(
            store,
            &vendor,
            "responder@v1.bench.example",
            Role::VendorResponder,
            &hash,
        )
        .await?;
        for (name, idx) in group_specs() {
            let g = store
                .create_group(&name, "benchmark sharing group", audit("group"))
                .await?;
            for m in idx {
                store
                    .set_group_member(&g.id, &members[m].id, true, audit(g.id.clone()))
                    .await?;
            }
        }
        Cast::find(store).await
    }

    async fn find(store: &Store) -> Result<Cast> {
        let find_user = |email: String| async move {
            store
                .find_user(&email)
                .await
                .with_context(|| format!("benchmark user {email} is missing"))
        };
        let mut members = Vec::new();
        let mut analysts = Vec::new();
        for m in 0..member_sectors().len() {
            members.push(
                store
                    .find_org(&member_name(m))
                    .await
                    .context("the store holds a directory that is not the benchmark's")?,
            );
            analysts.push(find_user(format!("analyst@m{:02}.bench.example", m + 1)).await?);
        }
        let all = store.groups().await?;
        let groups = group_specs()
            .into_iter()
            .map(|(name, _)| {
                all.iter()
                    .find(|g| g.name == name)
                    .map(|g| g.id.clone())
                    .ok_or_else(|| anyhow!("benchmark group {name} is missing"))
            })
            .collect::<Result<_>>()?;
        Ok(Cast {
            op_analyst: find_user("analyst@isac.bench.example".into()).await?,
            members,
            analysts,
            groups,
        })
    }

    /// The author of object drafts: index 0 is the operator analyst, `m + 1` member analyst `m`.
    fn author(&self, a: usize) -> &User {
        if a == 0 {
            &self.op_analyst
        } else {
            &self.analysts[a - 1]
        }
    }
}

fn member_sectors() -> Vec<Sector> {
    MEMBERS
        .iter()
        .flat_map(|&(s, n)| std::iter::repeat_n(s, n))
        .collect()
}

fn member_name(m: usize) -> String {
    format!("Bench member {:02}", m + 1)
}

fn group_specs() -> Vec<(String, Vec<usize>)> {
    let sectors = member_sectors();
    let mut out: Vec<(String, Vec<usize>)> = MEMBERS
        .iter()
        .map(|&(s, _)| {
            let idx = (0..sectors.len()).filter(|&m| sectors[m] == s).collect();
            (format!("Sector: {s}"), idx)
        })
        .collect();
    out.extend(
        cross_groups()
            .into_iter()
            .map(|(n, idx)| (n.to_owned(), idx)),
    );
    out
}

fn org(kind: OrgKind, sector: Option<Sector>, name: String) -> NewOrg {
    NewOrg {
        kind,
        sector,
        name_zh: name.clone(),
        name_en: name,
        partner_ceiling: None,
    }
}

async fn user(store: &Store, org: &Org, email: &str, role: Role, hash: &str) -> Result<User> {
    Ok(store
        .create_user(
            &NewUser {
                org_id: org.id.clone(),
                email: email.into(),
                display_name: email.into(),
                locale: Locale::En,
                role,
                password_hash: Some(hash.into()),
            },
            audit("user"),
        )
        .await?)
}

/// One object before it is stored: the STIX body, its TLP and audience, and its author
/// (0 = the operator analyst, `m + 1` = member analyst `m`).
pub struct Draft {
    pub object: Map<String, Value>,
    pub tlp: Tlp,
    pub recipients: Recipients,
    pub author: usize,
}

impl Draft {
    /// The request body of `POST /api/v1/objects`, and one item of a batch.
    pub fn to_json(&self) -> Value {
        json!({
            "object": self.object,
            "tlp": self.tlp.as_str(),
            "recipients": {
                "orgs": self.recipients.orgs,
                "groups": self.recipients.groups,
                "users": self.recipients.users,
            },
        })
    }

    /// Whether the reader (member 0's analyst) may read this draft once stored by its author.
    pub fn readable_by_reader(&self, cast: &Cast) -> bool {
        let reader_org = &cast.members[0].id;
        let named = self.recipients.orgs.contains(reader_org)
            || self
                .recipients
                .groups
                .iter()
                .any(|g| reader_groups(cast).contains(g));
        match self.tlp {
            Tlp::Clear | Tlp::Green => true,
            Tlp::Amber | Tlp::AmberStrict => self.author == 1 || named,
            Tlp::Red => self.author == 1 || self.recipients.users.contains(&cast.analysts[0].id),
        }
    }
}

fn reader_groups(cast: &Cast) -> BTreeSet<String> {
    group_specs()
        .into_iter()
        .zip(&cast.groups)
        .filter(|((_, idx), _)| idx.contains(&0))
        .map(|(_, id)| id.clone())
        .collect()
}

/// The share of each TLP level: 20% CLEAR, 35% GREEN, 30% AMBER, 10% AMBER+STRICT, 5% RED.
fn pick_tlp(rng: &mut StdRng) -> Tlp {
    match rng.gen_range(0..100) {
        0..20 => Tlp::Clear,
        20..55 => Tlp::Green,
        55..85 => Tlp::Amber,
        85..95 => Tlp::AmberStrict,
        _ => Tlp::Red,
    }
}

/// The unique searchable value of corpus object `i` (indicators only): a domain, an IPv4 address
/// or a SHA-256, lower-case as the store indexes it.
pub fn unique_value(i: u64) -> String {
    match i % 3 {
        0 => format!("login-{i}.phish.example"),
        1 => format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        _ => sha256ish(i),
    }
}

/// The CVE id that every tenth corpus object cites: 1,000 ids, so each is cited by one object in
/// every 10,000 (100 objects in a million).
pub fn shared_cve(i: u64) -> Option<String> {
    i.is_multiple_of(10)
        .then(|| format!("CVE-2024-{}", 10_000 + (i / 10) % 1000))
}

fn sha256ish(i: u64) -> String {
    (0..4)
        .map(|k| format!("{:016x}", splitmix(i.wrapping_mul(4).wrapping_add(k))))
        .collect()
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Corpus object `i`, with a fixed id.
pub fn corpus_draft(cast: &Cast, seed: u64, i: u64) -> Draft {
    let mut rng = StdRng::seed_from_u64(seed ^ splitmix(i));
    let mut d = draft(cast, &mut rng, &unique_value(i), shared_cve(i));
    let t = d.object["type"].as_str().unwrap_or("indicator").to_owned();
    let id = uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid();
    d.object
        .insert("id".into(), Value::String(format!("{t}--{id}")));
    d
}

/// An object for the write benchmarks: no id (the server assigns one), a value of its own.
pub fn write_draft(cast: &Cast, rng: &mut StdRng, tag: &str) -> Draft {
    let cve = rng
        .gen_bool(0.1)
        .then(|| format!("CVE-2024-{}", rng.gen_range(10_000..11_000)));
    draft(cast, rng, &format!("{tag}.write.example"), cve)
}

const THEMES: &[&str] = &[
    "Credential phishing impersonating",
    "Fake mobile banking app targeting customers of",
    "Business email compromise against",
    "Card skimming infrastructure aimed at",
    "SMS phishing campaign against",
    "Ransomware staging host seen near",
];
const FAMILIES: &[&str] = &[
    "Ledgerfall",
    "Quietmint",
    "Tollgate",
    "Harborrat",
    "Paperkite",
    "Saltmarsh",
];
const PRODUCTS: &[&str] = &[
    "core banking gateway",
    "VPN appliance",
    "internet banking portal",
    "mobile payment SDK",
    "file transfer server",
];

fn draft(cast: &Cast, rng: &mut StdRng, value: &str, cve: Option<String>) -> Draft {
    let tlp = pick_tlp(rng);
    // 40% from the ISAC's own analysts, the rest from the members.
    let author = if rng.gen_bool(0.4) {
        0
    } else {
        rng.gen_range(1..=cast.analysts.len())
    };
    let recipients = recipients(cast, rng, tlp, author);
    let target = &cast.members[rng.gen_range(0..cast.members.len())].name_en;
    let theme = THEMES.choose(rng).expect("themes");
    let family = FAMILIES.choose(rng).expect("families");
    let product = PRODUCTS.choose(rng).expect("products");
    let n: u32 = rng.gen_range(1..1000);
    let mut o = match rng.gen_range(0..100) {
        0..60 => {
            let pattern = if value.contains(".example") {
                format!("[domain-name:value = '{value}']")
            } else if value.len() == 64 {
                format!("[file:hashes.'SHA-256' = '{value}']")
            } else {
                format!("[ipv4-addr:value = '{value}']")
            };
            obj(json!({
                "type": "indicator",
                "name": format!("{theme} {target}: {value}"),
                "description": format!(
                    "{theme} {target}. Observed by a member's SOC and confirmed by the ISAC; \
                     block at the perimeter and search proxy logs for the last 30 days."
                ),
                "pattern": pattern,
                "pattern_type": "stix",
                "valid_from": "2025-01-01T00:00:00.000Z",
                "indicator_types": ["malicious-activity"],
                "confidence": rng.gen_range(30..=95),
                "labels": ["phishing", "financial-sector"],
            }))
        }
        60..70 => obj(json!({
            "type": "vulnerability",
            "name": format!("Remote code execution in {product} (advisory {n})"),
            "description": format!(
                "An unauthenticated attacker can execute code on the {product}. Several members \
                 run affected versions; patch or isolate."
            ),
        })),
        70..78 => obj(json!({
            "type": "malware",
            "name": format!("{family} loader variant {n}"),
            "is_family": false,
            "malware_types": ["trojan", "dropper"],
            "description": format!("{family} delivered through {theme} {target}."),
        })),
        78..85 => obj(json!({
            "type": "report",
            "name": format!("Weekly threat summary {n}: {family}"),
            "published": "2025-01-01T00:00:00.000Z",
            "report_types": ["threat-report"],
            "description": format!("Activity of {family} against the sector this week."),
            "object_refs": [format!("malware--{}", uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid())],
        })),
        85..93 => obj(json!({
            "type": "threat-actor",
            "name": format!("{family} operators"),
            "threat_actor_types": ["crime-syndicate"],
            "description": format!("Financially motivated group behind {family}."),
        })),
        _ => obj(json!({
            "type": "attack-pattern",
            "name": format!("{theme} customers (technique {n})"),
            "description": "Lure, credential capture and real-time relay to the bank.",
        })),
    };
    if let Some(cve) = cve {
        o.insert(
            "external_references".into(),
            json!([{ "source_name": "cve", "external_id": cve }]),
        );
    }
    Draft {
        object: o,
        tlp,
        recipients,
        author,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("built with json!({{..}})"),
    }
}

/// One to `max` member orgs other than the author's.
fn member_orgs(cast: &Cast, rng: &mut StdRng, author: usize, max: usize) -> Vec<String> {
    let n = rng.gen_range(1..=max);
    let own = author.checked_sub(1);
    let others: Vec<usize> = (0..cast.members.len())
        .filter(|&m| Some(m) != own)
        .collect();
    others
        .choose_multiple(rng, n)
        .map(|&m| cast.members[m].id.clone())
        .collect()
}

fn recipients(cast: &Cast, rng: &mut StdRng, tlp: Tlp, author: usize) -> Recipients {
    let mut r = Recipients::default();
    match tlp {
        Tlp::Clear | Tlp::Green => {}
        Tlp::Amber => match rng.gen_range(0..10) {
            0..4 => r.orgs = member_orgs(cast, rng, author, 4),
            4..7 => {
                let n = rng.gen_range(1..=2);
                r.groups = cast.groups.choose_multiple(rng, n).cloned().collect();
            }
            7..9 => {
                r.orgs = member_orgs(cast, rng, author, 2);
                r.groups = cast.groups.choose(rng).into_iter().cloned().collect();
            }
            // The owner org and the ISAC only.
            _ => {}
        },
        Tlp::AmberStrict => {
            if rng.gen_bool(0.7) {
                r.orgs = member_orgs(cast, rng, author, 3);
            } else {
                r.groups = cast.groups.choose(rng).into_iter().cloned().collect();
            }
        }
        Tlp::Red => {
            let n = rng.gen_range(1..=2);
            let pool: Vec<usize> = (0..=cast.analysts.len()).filter(|&a| a != author).collect();
            r.users = pool
                .choose_multiple(rng, n)
                .map(|&a| cast.author(a).id.clone())
                .collect();
        }
    }
    r
}

/// What loading did.
pub struct Loaded {
    /// Versions in the store when loading started.
    pub found: u64,
    /// Versions stored now.
    pub stored: u64,
    pub seconds: f64,
}

/// Brings the store to at least `n` corpus objects, continuing from what is there, in
/// transactions of `batch` objects through [`Store::import`] (bulk statements, one transaction
/// per unit). Statistics are refreshed ([`Db::analyze`]) whenever the store has grown by 10%, as
/// autovacuum's defaults would.
pub async fn load(
    db: &Db,
    store: &Store,
    cast: &Cast,
    seed: u64,
    n: u64,
    batch: u64,
) -> Result<Loaded> {
    let found = store.version_count().await? as u64;
    let started = std::time::Instant::now();
    if found >= n {
        return Ok(Loaded {
            found,
            stored: found,
            seconds: 0.0,
        });
    }
    let dir = Directory::load(store)
        .await
        .map_err(|e| anyhow!(e.message))?;
    let users = intel::user_ids(store)
        .await
        .map_err(|e| anyhow!(e.message))?;
    let mut next = found;
    let mut analyzed = found;
    while next < n {
        let end = (next + batch).min(n);
        let mut objects: Vec<NewObject> = Vec::with_capacity((end - next) as usize);
        for i in next..end {
            let d = corpus_draft(cast, seed, i);
            let at = epoch() + Duration::seconds(2 * i as i64);
            let input = ObjectInput {
                object: d.object,
                tlp: Some(d.tlp.as_str().to_owned()),
                recipients: d.recipients,
            };
            let o = intel::prepare_new(
                isac_model::Locale::En,
                &dir,
                &users,
                cast.author(d.author),
                input,
                Tlp::Green,
                at,
            )
            .map_err(|e| anyhow!("corpus object {i}: {}", e.message))?;
            objects.push(o);
        }
        // Corpus objects are first versions only; the check refuses anything else.
        let o = store
            .import(
                &objects,
                OnRefusal::RefuseUnit,
                |_, new| {
                    Err(StoreError::Conflict(format!(
                        "{} is already stored in another version",
                        new.stix_id
                    )))
                },
                audit("corpus"),
            )
            .await
            .with_context(|| format!("storing corpus objects {next}..{end}"))?;
        if !o.applied || o.created + o.unchanged != objects.len() {
            anyhow::bail!("storing corpus objects {next}..{end}: {o:?}");
        }
        next = end;
        if next >= analyzed + 50 + analyzed / 10 {
            db.analyze().await?;
            analyzed = next;
        }
        let secs = started.elapsed().as_secs_f64();
        let rate = (next - found) as f64 / secs;
        eprintln!(
            "  loaded {next}/{n} objects ({rate:.0} objects/s, {secs:.0} s elapsed, about {:.0} s to go)",
            (n - next) as f64 / rate
        );
    }
    Ok(Loaded {
        found,
        stored: next,
        seconds: started.elapsed().as_secs_f64(),
    })
}
