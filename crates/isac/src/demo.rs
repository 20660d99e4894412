//! The demo: a fictional Taiwanese financial-sector ISAC with its members, partners, vendors,
//! sharing groups and a few thousand intelligence objects at every TLP level. Every name, domain
//! and address is fictional: domains end in `.example` or `.test`, addresses are in the
//! documentation ranges of RFC 5737, products and threat actors are invented.
//!
//! The data is deterministic for a given seed (ids included); only the timestamps follow the
//! clock, spread over the 90 days before seeding. Objects go through the same preparation and
//! audience checks as objects submitted over the API.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Datelike, Duration, Utc};
use isac_model::{Locale, OrgKind, Role, Sector, Tlp};
use isac_server::intel::{self, Directory, ObjectInput, Recipients};
use isac_store::{AuditEntry, NewObject, NewOrg, NewUser, Org, Store, User};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::provision::api;

/// The password of every demo account.
pub const PASSWORD: &str = "demo-Passw0rd!";
/// Objects stored per transaction.
const BATCH: usize = 500;
/// The span of time the demo objects are spread over, ending at the moment of seeding.
const HISTORY_DAYS: i64 = 90;

struct OrgSpec {
    slug: &'static str,
    kind: OrgKind,
    sector: Option<Sector>,
    en: &'static str,
    zh: &'static str,
    /// The word its look-alike phishing domains are built from.
    brand: &'static str,
    ceiling: Option<Tlp>,
}

const fn member(
    slug: &'static str,
    sector: Sector,
    en: &'static str,
    zh: &'static str,
    brand: &'static str,
) -> OrgSpec {
    OrgSpec {
        slug,
        kind: OrgKind::Member,
        sector: Some(sector),
        en,
        zh,
        brand,
        ceiling: None,
    }
}

const OPERATOR: OrgSpec = OrgSpec {
    slug: "twfisac",
    kind: OrgKind::Operator,
    sector: None,
    en: "Taiwan Financial ISAC (Demo)",
    zh: "金融資安資訊分享與分析中心（示範）",
    brand: "twfisac",
    ceiling: None,
};

const MEMBERS: [OrgSpec; 20] = [
    member(
        "m01",
        Sector::Bank,
        "Demo Harbour Commercial Bank",
        "示範港都商業銀行",
        "harbourbank",
    ),
    member(
        "m02",
        Sector::Bank,
        "Demo Lantern Savings Bank",
        "示範燈籠儲蓄銀行",
        "lanternbank",
    ),
    member(
        "m03",
        Sector::Bank,
        "Demo Pinecrest International Bank",
        "示範松嶺國際商業銀行",
        "pinecrest",
    ),
    member(
        "m04",
        Sector::Bank,
        "Demo Riverside Industrial Bank",
        "示範河岸工業銀行",
        "riverside",
    ),
    member(
        "m05",
        Sector::Bank,
        "Demo Cloudgate Digital Bank",
        "示範雲門純網路銀行",
        "cloudgate",
    ),
    member(
        "m06",
        Sector::Bank,
        "Demo Tidewater Agricultural Bank",
        "示範潮汐農業銀行",
        "tidewater",
    ),
    member(
        "m07",
        Sector::Securities,
        "Demo Summit Securities",
        "示範峰頂證券",
        "summitsec",
    ),
    member(
        "m08",
        Sector::Securities,
        "Demo Bluewave Securities",
        "示範藍浪證券",
        "bluewave",
    ),
    member(
        "m09",
        Sector::Securities,
        "Demo Starbridge Securities",
        "示範星橋證券",
        "starbridge",
    ),
    member(
        "m10",
        Sector::Insurance,
        "Demo Camellia Life Insurance",
        "示範山茶人壽保險",
        "camellialife",
    ),
    member(
        "m11",
        Sector::Insurance,
        "Demo Beacon Property & Casualty Insurance",
        "示範燈塔產物保險",
        "beaconins",
    ),
    member(
        "m12",
        Sector::Insurance,
        "Demo Willow Life Insurance",
        "示範柳岸人壽保險",
        "willowlife",
    ),
    member(
        "m13",
        Sector::InvestmentTrust,
        "Demo Compass Securities Investment Trust",
        "示範羅盤證券投資信託",
        "compassfund",
    ),
    member(
        "m14",
        Sector::InvestmentTrust,
        "Demo Orchid Asset Management",
        "示範蘭花投信",
        "orchidfund",
    ),
    member(
        "m15",
        Sector::Futures,
        "Demo Kite Futures",
        "示範風箏期貨",
        "kitefutures",
    ),
    member(
        "m16",
        Sector::BillsFinance,
        "Demo Meridian Bills Finance",
        "示範子午票券金融",
        "meridianbills",
    ),
    member(
        "m17",
        Sector::CreditCooperative,
        "Demo Bamboo Town Credit Cooperative",
        "示範竹鎮信用合作社",
        "bambooco-op",
    ),
    member(
        "m18",
        Sector::Payment,
        "Demo Pebble Electronic Payment",
        "示範石子電子支付",
        "pebblepay",
    ),
    member(
        "m19",
        Sector::Payment,
        "Demo Lotus Card Services",
        "示範蓮花信用卡服務",
        "lotuscard",
    ),
    member(
        "m20",
        Sector::Other,
        "Demo Harbourline Clearing House",
        "示範港線票據清算所",
        "harbourline",
    ),
];

const PARTNERS: [OrgSpec; 2] = [
    OrgSpec {
        slug: "p01",
        kind: OrgKind::Partner,
        sector: None,
        en: "Demo National CERT",
        zh: "示範國家電腦緊急應變小組",
        brand: "demo-cert",
        ceiling: Some(Tlp::Amber),
    },
    OrgSpec {
        slug: "p02",
        kind: OrgKind::Partner,
        sector: None,
        en: "Demo Financial Supervisory SOC",
        zh: "示範金融監理機關資安監控中心",
        brand: "demo-fsc-soc",
        ceiling: Some(Tlp::Green),
    },
];

const VENDORS: [OrgSpec; 2] = [
    OrgSpec {
        slug: "v01",
        kind: OrgKind::Vendor,
        sector: None,
        en: "Demo Ironclad Incident Response",
        zh: "示範鐵甲資安事件應變公司",
        brand: "ironclad-ir",
        ceiling: None,
    },
    OrgSpec {
        slug: "v02",
        kind: OrgKind::Vendor,
        sector: None,
        en: "Demo Redline Digital Forensics",
        zh: "示範紅線數位鑑識公司",
        brand: "redline-df",
        ceiling: None,
    },
];

/// Sharing groups: English and Chinese name, description, member slugs.
const GROUPS: [(&str, &str, &[&str]); 6] = [
    (
        "Banks / 銀行業",
        "All member banks and the credit cooperative / 全體會員銀行與信用合作社",
        &["m01", "m02", "m03", "m04", "m05", "m06", "m17"],
    ),
    (
        "Securities & Futures / 證券期貨業",
        "Securities firms, investment trusts and futures brokers / 證券商、投信與期貨商",
        &["m07", "m08", "m09", "m13", "m14", "m15"],
    ),
    (
        "Insurance / 保險業",
        "Life and property insurers / 人壽保險與產物保險公司",
        &["m10", "m11", "m12"],
    ),
    (
        "Payment / 支付業",
        "Electronic payment, card services and clearing / 電子支付、信用卡與清算機構",
        &["m18", "m19", "m20"],
    ),
    (
        "SWIFT users / SWIFT 使用者",
        "Institutions connected to SWIFT / 連接 SWIFT 網路之機構",
        &["m01", "m03", "m04", "m16", "m20"],
    ),
    (
        "Systemic banks / 系統性重要銀行",
        "Domestic systemically important banks / 國內系統性重要銀行",
        &["m01", "m03", "m04"],
    ),
];

/// Seeds the demo into an empty database, then prints the demo logins. A database that already
/// holds orgs is left as it is.
pub async fn prepare(store: &Store, data: &Path, objects: usize, seed: u64) -> Result<()> {
    let mut out = std::io::stdout();
    if store.orgs().await?.is_empty() {
        writeln!(
            out,
            "seeding demo data into {} ({objects} intelligence objects) ...",
            data.display()
        )?;
        out.flush()?;
        let started = Instant::now();
        let s = seed_all(store, objects, seed).await?;
        writeln!(
            out,
            "seeded {} orgs, {} users, {} sharing groups and {} intelligence objects in {:.1} s",
            s.orgs,
            s.users,
            s.groups,
            s.objects,
            started.elapsed().as_secs_f64()
        )?;
    } else {
        writeln!(out, "{} already holds data; not seeding", data.display())?;
    }
    let is_demo = store
        .operator_org()
        .await
        .is_ok_and(|o| o.name_en == OPERATOR.en);
    if is_demo {
        print_logins(&mut out)?;
    } else {
        writeln!(
            out,
            "the data is not the demo's; log in with its own accounts"
        )?;
    }
    out.flush()?;
    Ok(())
}

fn print_logins(out: &mut dyn Write) -> Result<()> {
    let row = |out: &mut dyn Write, email: &str, role: Role, org: &str| {
        writeln!(out, "  {email:<26} {:<17} {org}", role.as_str())
    };
    writeln!(out)?;
    writeln!(out, "Demo logins (password of every account: {PASSWORD}):")?;
    writeln!(out, "  {:<26} {:<17} ORGANISATION", "EMAIL", "ROLE")?;
    row(out, "admin@twfisac.example", Role::IsacAdmin, OPERATOR.en)?;
    row(
        out,
        "analyst@twfisac.example",
        Role::IsacAnalyst,
        OPERATOR.en,
    )?;
    let m01 = &MEMBERS[0];
    row(out, "admin@m01.example", Role::MemberAdmin, m01.en)?;
    row(out, "analyst@m01.example", Role::MemberAnalyst, m01.en)?;
    row(out, "reader@m01.example", Role::MemberReader, m01.en)?;
    writeln!(
        out,
        "  admin@, analyst@, reader@ m02.example ... m20.example: the same roles at the other members"
    )?;
    for p in &PARTNERS {
        row(
            out,
            &format!("service@{}.example", p.slug),
            Role::PartnerService,
            p.en,
        )?;
    }
    for v in &VENDORS {
        row(
            out,
            &format!("responder@{}.example", v.slug),
            Role::VendorResponder,
            v.en,
        )?;
    }
    writeln!(out)?;
    Ok(())
}

struct Summary {
    orgs: usize,
    users: usize,
    groups: usize,
    objects: usize,
}

fn entry(target: impl Into<String>) -> AuditEntry {
    AuditEntry::new("demo.seed", target).from_source("cli")
}

async fn seed_all(store: &Store, objects: usize, seed: u64) -> Result<Summary> {
    // One argon2 hash shared by every account: hashing is deliberately slow.
    let hash = tokio::task::spawn_blocking(|| isac_server::auth::hash_password(PASSWORD))
        .await
        .context("password hashing stopped")?
        .map_err(api)?;

    let mut orgs: BTreeMap<&str, Org> = BTreeMap::new();
    for spec in std::iter::once(&OPERATOR)
        .chain(&MEMBERS)
        .chain(&PARTNERS)
        .chain(&VENDORS)
    {
        let new = NewOrg {
            kind: spec.kind,
            sector: spec.sector,
            name_en: spec.en.to_owned(),
            name_zh: spec.zh.to_owned(),
            partner_ceiling: spec.ceiling,
        };
        let org = store.create_org(&new, entry("org")).await?;
        orgs.insert(spec.slug, org);
    }

    let mut users: BTreeMap<String, User> = BTreeMap::new();
    for (spec, local, role, locale) in user_specs() {
        let email = format!("{local}@{}.example", spec.slug);
        let new = NewUser {
            org_id: orgs[spec.slug].id.clone(),
            email: email.clone(),
            display_name: display_name(spec, role, locale),
            locale,
            role,
            password_hash: Some(hash.clone()),
        };
        let user = store.create_user(&new, entry("user")).await?;
        users.insert(email, user);
    }

    let mut groups = Vec::new();
    for (name, description, slugs) in GROUPS {
        let g = store
            .create_group(name, description, entry("group"))
            .await?;
        for slug in slugs {
            store
                .set_group_member(&g.id, &orgs[slug].id, true, entry(g.id.clone()))
                .await?;
        }
        groups.push(g.id);
    }

    let n = seed_objects(store, &orgs, &users, &groups, objects, seed).await?;
    Ok(Summary {
        orgs: orgs.len(),
        users: users.len(),
        groups: groups.len(),
        objects: n,
    })
}

/// Every demo account: its org, the local part of its email, role and locale.
fn user_specs() -> Vec<(&'static OrgSpec, &'static str, Role, Locale)> {
    let mut v = vec![
        (&OPERATOR, "admin", Role::IsacAdmin, Locale::ZhTw),
        (&OPERATOR, "analyst", Role::IsacAnalyst, Locale::ZhTw),
    ];
    for (i, m) in MEMBERS.iter().enumerate() {
        // Half the members work in English, half in Traditional Chinese.
        let locale = if i % 2 == 0 { Locale::ZhTw } else { Locale::En };
        v.push((m, "admin", Role::MemberAdmin, locale));
        v.push((m, "analyst", Role::MemberAnalyst, locale));
        v.push((m, "reader", Role::MemberReader, locale));
    }
    for p in &PARTNERS {
        v.push((p, "service", Role::PartnerService, Locale::En));
    }
    for (i, vendor) in VENDORS.iter().enumerate() {
        let locale = if i == 0 { Locale::ZhTw } else { Locale::En };
        v.push((vendor, "responder", Role::VendorResponder, locale));
    }
    v
}

fn display_name(spec: &OrgSpec, role: Role, locale: Locale) -> String {
    let (zh, en) = match role {
        Role::IsacAdmin => ("系統管理員", "Administrator"),
        Role::IsacAnalyst => ("情資分析師", "Intelligence Analyst"),
        Role::MemberAdmin => ("資安主管", "Security Manager"),
        Role::MemberAnalyst => ("資安分析師", "Security Analyst"),
        Role::MemberReader => ("資安人員", "Security Officer"),
        Role::PartnerService => ("情資交換服務帳號", "Exchange Service Account"),
        Role::VendorResponder => ("事件應變人員", "Incident Responder"),
    };
    match locale {
        Locale::ZhTw => format!("{} {zh}", spec.zh),
        Locale::En => format!("{en}, {}", spec.en),
    }
}

// ----------------------------------------------------------------------------- intelligence

/// Who writes, and to whom: the directory facts object generation draws from.
struct Cast<'a> {
    op_analyst: &'a User,
    member_analysts: Vec<&'a User>,
    member_admins: Vec<&'a User>,
    partners: Vec<&'a User>,
    vendors: Vec<&'a User>,
    /// Users who may be named on TLP:RED objects.
    red_candidates: Vec<&'a User>,
    /// The member analyst some TLP:RED objects name and others do not.
    m01_analyst: &'a User,
    members: Vec<&'a Org>,
    groups: &'a [String],
}

fn pick<'a>(pool: &[&'a User], rng: &mut StdRng) -> &'a User {
    pool.choose(rng).expect("every demo pool has users")
}

impl<'a> Cast<'a> {
    fn author(&self, rng: &mut StdRng, tlp: Tlp) -> &'a User {
        let roll = rng.gen_range(0..100);
        let outsider_ok = matches!(tlp, Tlp::Amber | Tlp::AmberStrict | Tlp::Red);
        match roll {
            0..40 => self.op_analyst,
            40..75 => pick(&self.member_analysts, rng),
            75..88 => pick(&self.member_admins, rng),
            88..95 => pick(&self.partners, rng),
            // Vendors read only what is addressed to them, so they write only for named audiences.
            _ if outsider_ok => pick(&self.vendors, rng),
            _ => pick(&self.member_analysts, rng),
        }
    }

    fn member_orgs(&self, rng: &mut StdRng, author: &User, n: usize) -> Vec<String> {
        self.members
            .iter()
            .filter(|o| o.id != author.org_id)
            .collect::<Vec<_>>()
            .choose_multiple(rng, n)
            .map(|o| o.id.clone())
            .collect()
    }

    fn recipients(&self, rng: &mut StdRng, tlp: Tlp, author: &User) -> Recipients {
        let mut r = Recipients::default();
        match tlp {
            Tlp::Clear | Tlp::Green => {}
            Tlp::Amber => match rng.gen_range(0..10) {
                0..4 => {
                    let n = rng.gen_range(1..=4);
                    r.orgs = self.member_orgs(rng, author, n);
                }
                4..7 => {
                    let n = rng.gen_range(1..=2);
                    r.groups = self.groups.choose_multiple(rng, n).cloned().collect();
                }
                7..9 => {
                    let n = rng.gen_range(1..=2);
                    r.orgs = self.member_orgs(rng, author, n);
                    r.groups = self.groups.choose(rng).into_iter().cloned().collect();
                }
                // The owner org and the ISAC only.
                _ => {}
            },
            Tlp::AmberStrict => {
                let n = rng.gen_range(1..=3);
                r.orgs = self.member_orgs(rng, author, n);
            }
            Tlp::Red => {
                let others: Vec<&&User> = self
                    .red_candidates
                    .iter()
                    .filter(|u| u.id != author.id && u.id != self.m01_analyst.id)
                    .collect();
                let n = rng.gen_range(1..=2);
                r.users = others
                    .choose_multiple(rng, n)
                    .map(|u| u.id.clone())
                    .collect();
                if author.id != self.m01_analyst.id && rng.gen_bool(0.5) {
                    r.users.push(self.m01_analyst.id.clone());
                }
            }
        }
        r
    }
}

fn pick_tlp(rng: &mut StdRng) -> Tlp {
    match rng.gen_range(0..100) {
        0..20 => Tlp::Clear,
        20..55 => Tlp::Green,
        55..85 => Tlp::Amber,
        85..95 => Tlp::AmberStrict,
        _ => Tlp::Red,
    }
}

async fn seed_objects(
    store: &Store,
    orgs: &BTreeMap<&str, Org>,
    users: &BTreeMap<String, User>,
    groups: &[String],
    count: usize,
    seed: u64,
) -> Result<usize> {
    let dir = Directory::load(store).await.map_err(api)?;
    let user_ids = intel::user_ids(store).await.map_err(api)?;
    let by_role =
        |role: Role| -> Vec<&User> { users.values().filter(|u| u.role == role).collect() };
    let user = |email: &str| {
        users
            .get(email)
            .ok_or_else(|| anyhow!("demo user {email} is missing"))
    };
    let cast = Cast {
        op_analyst: user("analyst@twfisac.example")?,
        member_analysts: by_role(Role::MemberAnalyst),
        member_admins: by_role(Role::MemberAdmin),
        partners: by_role(Role::PartnerService),
        vendors: by_role(Role::VendorResponder),
        red_candidates: users
            .values()
            .filter(|u| {
                matches!(
                    u.role,
                    Role::IsacAnalyst | Role::MemberAnalyst | Role::MemberAdmin
                )
            })
            .collect(),
        m01_analyst: user("analyst@m01.example")?,
        members: MEMBERS.iter().map(|m| &orgs[m.slug]).collect(),
        groups,
    };

    let mut rng = StdRng::seed_from_u64(seed);
    let mut maker = Generator::default();
    let end = Utc::now();
    let start = end - Duration::days(HISTORY_DAYS);
    let span_ms = (end - start).num_milliseconds() as f64;
    let mut batch: Vec<NewObject> = Vec::with_capacity(BATCH.min(count));
    let mut stored = 0;
    for i in 0..count {
        // Increasing times: object i falls somewhere in the i-th slice of the history.
        let frac = (i as f64 + rng.gen_range(0.0..1.0)) / count as f64;
        let at = start + Duration::milliseconds((frac * span_ms) as i64);
        let tlp = pick_tlp(&mut rng);
        let author = cast.author(&mut rng, tlp);
        debug_assert!(author.role.may_write_intel());
        let recipients = cast.recipients(&mut rng, tlp, author);
        let object = maker.object(&mut rng, at, &intel::identity_id(&author.org_id));
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let input = ObjectInput {
            object,
            tlp: Some(tlp.as_str().to_owned()),
            recipients,
        };
        let new = intel::prepare_new(
            isac_model::Locale::En,
            &dir,
            &user_ids,
            author,
            input,
            Tlp::Green,
            at,
        )
        .map_err(|e| anyhow!("demo object {i}: {}", e.message))?;
        if tlp.breadth() >= Tlp::Green.breadth() {
            maker.open.push(id);
        }
        batch.push(new);
        if batch.len() == BATCH {
            store.insert_objects(&batch, entry("objects")).await?;
            stored += batch.len();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.insert_objects(&batch, entry("objects")).await?;
        stored += batch.len();
    }
    Ok(stored)
}

/// Text in one language or both.
#[derive(Clone, Copy)]
enum Lang {
    Zh,
    En,
    Both,
}

impl Lang {
    fn pick(rng: &mut StdRng) -> Lang {
        match rng.gen_range(0..10) {
            0..4 => Lang::Zh,
            4..7 => Lang::En,
            _ => Lang::Both,
        }
    }

    fn name(self, zh: &str, en: &str) -> String {
        match self {
            Lang::Zh => zh.to_owned(),
            Lang::En => en.to_owned(),
            Lang::Both => format!("{zh} / {en}"),
        }
    }

    fn text(self, zh: &str, en: &str) -> String {
        match self {
            Lang::Zh => zh.to_owned(),
            Lang::En => en.to_owned(),
            Lang::Both => format!("{zh}\n\n{en}"),
        }
    }
}

/// Which observable an indicator pattern matches.
#[derive(Clone, Copy)]
enum Obs {
    Ip,
    Domain,
    Url,
    Sha256,
    Email,
}

/// An indicator theme. `{org}` in names and descriptions stands for an impersonated member.
struct Theme {
    en: &'static str,
    zh: &'static str,
    desc_en: &'static str,
    desc_zh: &'static str,
    obs: &'static [Obs],
    types: &'static [&'static str],
}

const THEMES: &[Theme] = &[
    Theme {
        en: "Phishing site impersonating {org} online banking",
        zh: "偽冒{org}網路銀行之釣魚網站",
        desc_en: "Look-alike login page harvesting online-banking credentials and SMS one-time passwords. Links are sent by SMS claiming the account will be suspended.",
        desc_zh: "仿冒網路銀行登入頁面，竊取帳號密碼與簡訊 OTP。以「帳戶即將停用」為由透過簡訊散布連結。",
        obs: &[Obs::Domain, Obs::Url],
        types: &["malicious-activity"],
    },
    Theme {
        en: "SMS phishing lure impersonating {org}",
        zh: "冒用{org}名義之簡訊釣魚連結",
        desc_en: "Smishing wave reported by customers through the anti-fraud hotline; the short link redirects to a credential-harvesting page.",
        desc_zh: "客戶透過反詐騙專線通報之簡訊釣魚，短網址導向竊取帳密之網頁。",
        obs: &[Obs::Url, Obs::Domain],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Fake mobile trading app distribution site",
        zh: "假冒證券下單 APP 下載網站",
        desc_en: "Site offering a trojanised securities trading app outside the official app stores; promoted in investment chat groups.",
        desc_zh: "於官方商店以外散布遭植入木馬之證券下單 APP，透過投資群組推廣。",
        obs: &[Obs::Domain, Obs::Url],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Credential stuffing source against online-banking login",
        zh: "網路銀行登入撞庫攻擊來源",
        desc_en: "Thousands of login attempts per hour with leaked credential pairs, rotating user agents; blocked by rate limiting at several member banks.",
        desc_zh: "以外洩帳密組合每小時數千次嘗試登入並輪換 User-Agent，多家會員銀行已以流量限制阻擋。",
        obs: &[Obs::Ip],
        types: &["malicious-activity"],
    },
    Theme {
        en: "DDoS source targeting securities trading platforms",
        zh: "攻擊證券電子下單平台之 DDoS 來源",
        desc_en: "Part of a volumetric UDP reflection and HTTPS flood against order-entry systems during market opening hours, preceded by an extortion email.",
        desc_zh: "於開盤時段針對電子下單系統之 UDP 反射與 HTTPS 洪泛攻擊來源之一，攻擊前曾收到勒索信。",
        obs: &[Obs::Ip],
        types: &["malicious-activity"],
    },
    Theme {
        en: "ATM malware command-and-control server",
        zh: "ATM 惡意程式中繼站 (C2)",
        desc_en: "Server contacted by jackpotting malware found on an ATM network segment; used to receive dispense commands.",
        desc_zh: "於 ATM 網段發現之吐鈔惡意程式所連線之中繼站，用於接收出鈔指令。",
        obs: &[Obs::Ip, Obs::Domain],
        types: &["malicious-activity", "attribution"],
    },
    Theme {
        en: "Infrastructure used in a fraudulent SWIFT transfer attempt",
        zh: "SWIFT 詐騙匯款未遂事件使用之基礎設施",
        desc_en: "Address seen logging in to the SWIFT operator workstation outside business hours shortly before fraudulent MT103 messages were queued.",
        desc_zh: "於非營業時間登入 SWIFT 作業工作站之來源位址，隨後出現可疑 MT103 電文排程。",
        obs: &[Obs::Ip],
        types: &["malicious-activity", "compromised"],
    },
    Theme {
        en: "Scanner probing SSL VPN gateways of financial institutions",
        zh: "掃描金融機構 SSL VPN 閘道之來源",
        desc_en: "Mass scanning for a recently disclosed SSL VPN authentication bypass; requests target the login and configuration download paths.",
        desc_zh: "大量掃描近期揭露之 SSL VPN 身分驗證繞過漏洞，請求集中於登入與設定檔下載路徑。",
        obs: &[Obs::Ip],
        types: &["anomalous-activity"],
    },
    Theme {
        en: "Malicious attachment in invoice-themed phishing email",
        zh: "發票主題釣魚郵件之惡意附件",
        desc_en: "Archive attachment with a script that downloads a loader; sent to accounting and treasury mailboxes.",
        desc_zh: "壓縮檔附件內含下載器腳本，寄送至會計與財務部門信箱。",
        obs: &[Obs::Sha256],
        types: &["malicious-activity"],
    },
    Theme {
        en: "ATM jackpotting malware sample",
        zh: "ATM 吐鈔惡意程式樣本",
        desc_en: "Sample recovered from an ATM hard disk during forensics; abuses the XFS middleware to dispense cash.",
        desc_zh: "數位鑑識時自 ATM 硬碟取得之樣本，濫用 XFS 中介軟體出鈔。",
        obs: &[Obs::Sha256],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Android banking trojan impersonating the {org} mobile app",
        zh: "偽冒{org}行動銀行 APP 之 Android 木馬",
        desc_en: "APK that overlays the genuine app's login screen and forwards SMS one-time passwords to its operator.",
        desc_zh: "APK 覆蓋正版 APP 登入畫面，並將簡訊 OTP 轉傳給攻擊者。",
        obs: &[Obs::Sha256, Obs::Domain],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Sender of business email compromise targeting treasury staff",
        zh: "針對財務人員之商業電子郵件詐騙 (BEC) 寄件者",
        desc_en: "Email impersonating a supplier asking to change remittance bank details before quarter-end payments.",
        desc_zh: "冒充供應商要求於季末付款前變更匯款帳戶之電子郵件。",
        obs: &[Obs::Email],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Ransomware data-leak site mirror",
        zh: "勒索軟體資料外洩網站鏡像",
        desc_en: "Mirror of a leak site that listed a regional financial services firm; block to prevent staff browsing it from the internal network.",
        desc_zh: "曾公布區域金融服務業者資料之外洩網站鏡像，建議封鎖以免內部人員連線。",
        obs: &[Obs::Domain],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Fake insurance claim portal impersonating {org}",
        zh: "偽冒{org}之假保險理賠網站",
        desc_en: "Portal collecting national ID numbers, bank accounts and medical documents under the pretext of a claim refund.",
        desc_zh: "以理賠退款為由蒐集身分證字號、銀行帳戶與醫療文件之網站。",
        obs: &[Obs::Domain, Obs::Url],
        types: &["malicious-activity"],
    },
    Theme {
        en: "Card-skimming script host on e-payment checkout pages",
        zh: "電子支付結帳頁面側錄 (Magecart) 腳本主機",
        desc_en: "Injected JavaScript exfiltrating card numbers from merchant checkout pages to this host.",
        desc_zh: "遭植入之 JavaScript 將商店結帳頁面之卡號外傳至此主機。",
        obs: &[Obs::Domain, Obs::Url, Obs::Ip],
        types: &["malicious-activity"],
    },
];

const DOMAIN_WORDS: &[&str] = &[
    "secure", "login", "verify", "ebank", "mybank", "app", "update", "otp", "card", "pay", "trade",
    "stock", "fund", "claim", "service", "support", "auth", "wallet", "refund", "notice",
];
const URL_PATHS: &[&str] = &[
    "login.php",
    "ebank/verify",
    "app/download.apk",
    "otp/confirm",
    "claim/form.html",
    "checkout/js/pay.js",
    "s/8Kq2",
    "account/unlock",
    "wp-content/uploads/invoice.zip",
];
const EMAIL_LOCALS: &[&str] = &[
    "billing",
    "accounts",
    "it-support",
    "ceo.office",
    "treasury",
    "remittance",
    "notice",
    "service",
];
const DOC_NETS: &[&str] = &["198.51.100", "203.0.113", "192.0.2"];

/// (name, malware types, English, Chinese).
const MALWARE: &[(&str, &[&str], &str, &str)] = &[
    (
        "LanternJack",
        &["backdoor", "trojan"],
        "ATM jackpotting malware that abuses XFS middleware to dispense cash on command.",
        "濫用 XFS 中介軟體依指令出鈔之 ATM 吐鈔惡意程式。",
    ),
    (
        "TellerGhost",
        &["trojan"],
        "ATM malware installed through the maintenance port; wipes its logs after each dispense session.",
        "透過維護埠植入之 ATM 惡意程式，每次出鈔後清除紀錄。",
    ),
    (
        "KiteBanker",
        &["trojan", "spyware"],
        "Android banking trojan with overlay attacks on Taiwanese mobile banking and securities apps.",
        "針對國內行動銀行與證券 APP 進行畫面覆蓋攻擊之 Android 木馬。",
    ),
    (
        "MoonFan Loader",
        &["downloader", "dropper"],
        "Loader delivered by invoice-themed phishing; fetches a second stage from compromised websites.",
        "以發票主題釣魚郵件散布之下載器，自遭入侵網站取得第二階段程式。",
    ),
    (
        "TyphoonStorm",
        &["bot", "ddos"],
        "IoT botnet used in DDoS extortion against brokers and online banking.",
        "用於對證券商與網路銀行進行 DDoS 勒索之物聯網殭屍網路。",
    ),
    (
        "InkLock",
        &["ransomware"],
        "Ransomware that encrypts file servers and threatens to publish customer data.",
        "加密檔案伺服器並威脅公開客戶資料之勒索軟體。",
    ),
    (
        "PaperCrane RAT",
        &["remote-access-trojan"],
        "Remote access trojan used against regulators and SWIFT operators.",
        "用於攻擊監理機關與 SWIFT 作業人員之遠端存取木馬。",
    ),
    (
        "SilkSkim",
        &["spyware"],
        "JavaScript web skimmer injected into e-commerce and payment checkout pages.",
        "植入電商與支付結帳頁面之 JavaScript 側錄程式。",
    ),
    (
        "AbacusStealer",
        &["spyware", "keylogger"],
        "Information stealer harvesting browser-saved passwords and certificate files used for online banking.",
        "竊取瀏覽器儲存密碼與網銀憑證檔案之資訊竊取程式。",
    ),
    (
        "LedgerShade",
        &["trojan", "rootkit"],
        "Tampers with payment message files and hides transfer confirmations from operators.",
        "竄改支付電文檔案並向作業人員隱藏匯款確認訊息。",
    ),
];

/// (name, types, motivation, sophistication, English, Chinese).
const ACTORS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "GLASS HERON",
        "crime-syndicate",
        "personal-gain",
        "intermediate",
        "Smishing operation impersonating banks and telecoms, selling harvested online-banking access.",
        "冒用銀行與電信業者進行簡訊釣魚，販售竊得之網銀存取權限。",
    ),
    (
        "MOONLIT ABACUS",
        "nation-state",
        "organizational-gain",
        "expert",
        "Espionage group targeting financial regulators, clearing houses and SWIFT operators.",
        "鎖定金融監理機關、清算機構與 SWIFT 作業人員之間諜組織。",
    ),
    (
        "RED LANTERN CREW",
        "criminal",
        "personal-gain",
        "advanced",
        "ATM jackpotting crew using money mules to collect dispensed cash.",
        "利用車手領取現金之 ATM 吐鈔犯罪集團。",
    ),
    (
        "SILENT LEDGER",
        "crime-syndicate",
        "personal-gain",
        "advanced",
        "Business email compromise group targeting treasury departments.",
        "鎖定財務部門之商業電子郵件詐騙集團。",
    ),
    (
        "KOI SYNDICATE",
        "criminal",
        "personal-gain",
        "intermediate",
        "DDoS-for-ransom actor sending extortion emails to securities firms before attacks.",
        "攻擊前寄送勒索信予證券商之 DDoS 勒索者。",
    ),
    (
        "NIGHT MARKET GANG",
        "criminal",
        "personal-gain",
        "minimal",
        "Credential stuffing operator reselling verified accounts on underground forums.",
        "於地下論壇轉售已驗證帳號之撞庫攻擊者。",
    ),
    (
        "SALT FOX",
        "hacker",
        "ideology",
        "intermediate",
        "Hacktivist group announcing DDoS campaigns against financial websites on social media.",
        "於社群媒體宣告對金融網站發動 DDoS 之駭客行動主義團體。",
    ),
];

/// (ATT&CK id, English, Chinese).
const TECHNIQUES: &[(&str, &str, &str)] = &[
    ("T1566.002", "Spearphishing Link", "魚叉式釣魚連結"),
    ("T1566.001", "Spearphishing Attachment", "魚叉式釣魚附件"),
    ("T1110.004", "Credential Stuffing", "撞庫攻擊"),
    ("T1498", "Network Denial of Service", "網路阻斷服務攻擊"),
    ("T1499", "Endpoint Denial of Service", "端點阻斷服務攻擊"),
    (
        "T1190",
        "Exploit Public-Facing Application",
        "利用對外服務應用程式漏洞",
    ),
    ("T1133", "External Remote Services", "濫用外部遠端服務"),
    ("T1486", "Data Encrypted for Impact", "加密資料以造成衝擊"),
    ("T1078", "Valid Accounts", "濫用合法帳號"),
    ("T1657", "Financial Theft", "金融竊取"),
    ("T1565.002", "Transmitted Data Manipulation", "傳輸資料竄改"),
    ("T1204.002", "Malicious File", "誘使執行惡意檔案"),
];

/// Invented products: (English, Chinese).
const PRODUCTS: &[(&str, &str)] = &[
    (
        "Examplesoft CoreBanking Gateway 7.x",
        "Examplesoft 核心銀行閘道 7.x",
    ),
    (
        "DemoWare SSL VPN Appliance 9.2",
        "DemoWare SSL VPN 設備 9.2",
    ),
    (
        "Sample Systems ATM Agent 3.1",
        "Sample Systems ATM 代理程式 3.1",
    ),
    (
        "Fictional Corp FIX Trading Gateway 5",
        "Fictional Corp FIX 下單閘道 5",
    ),
    (
        "Placeholder Networks Firewall OS 11",
        "Placeholder Networks 防火牆作業系統 11",
    ),
    (
        "ExampleCloud Mobile Banking SDK 4",
        "ExampleCloud 行動銀行 SDK 4",
    ),
    (
        "DemoSoft HSM Admin Console 2.8",
        "DemoSoft HSM 管理主控台 2.8",
    ),
    (
        "Sample Payments Switch 6.0",
        "Sample Payments 支付交換系統 6.0",
    ),
    (
        "Examplesoft Insurance Claims Portal 12",
        "Examplesoft 保險理賠入口網 12",
    ),
];

/// Vulnerability classes: (English, Chinese, CVSS base score).
const FLAWS: &[(&str, &str, f64)] = &[
    ("SQL injection in the login form", "登入表單 SQL 注入", 9.8),
    (
        "authentication bypass in the management interface",
        "管理介面身分驗證繞過",
        9.1,
    ),
    (
        "remote code execution through file upload",
        "透過檔案上傳之遠端程式碼執行",
        9.8,
    ),
    (
        "path traversal disclosing configuration files",
        "路徑遍歷導致設定檔外洩",
        7.5,
    ),
    ("deserialisation of untrusted data", "不安全的反序列化", 8.8),
    (
        "server-side request forgery",
        "伺服器端請求偽造 (SSRF)",
        8.6,
    ),
    (
        "hard-coded administrator credentials",
        "寫死的管理者帳號密碼",
        9.8,
    ),
    (
        "stored cross-site scripting in the audit viewer",
        "稽核檢視頁面儲存型跨站腳本",
        6.1,
    ),
];

/// Report subjects: (English, Chinese, report type).
const REPORTS: &[(&str, &str, &str)] = &[
    (
        "Threat analysis: smishing campaign against online-banking customers",
        "威脅分析：針對網路銀行客戶之簡訊釣魚活動",
        "threat-report",
    ),
    (
        "Major alert: DDoS extortion campaign against securities brokers",
        "重大警訊：針對證券商之 DDoS 勒索攻擊",
        "threat-report",
    ),
    (
        "Incident analysis: ATM malware at a member bank",
        "事件分析：會員銀行 ATM 惡意程式事件",
        "malware",
    ),
    (
        "Summary: attempted fraudulent SWIFT transfer",
        "摘要：SWIFT 詐騙匯款未遂事件",
        "attack-pattern",
    ),
    (
        "Credential stuffing trends against online banking",
        "網路銀行撞庫攻擊趨勢分析",
        "attack-pattern",
    ),
    (
        "Vulnerability advisory: SSL VPN authentication bypass under active exploitation",
        "資安弱點公告：SSL VPN 身分驗證繞過漏洞遭積極利用",
        "vulnerability",
    ),
    (
        "Fake website and app notice: impersonation of member institutions",
        "偽冒網站與 APP 公告：冒用會員機構名義",
        "threat-report",
    ),
    (
        "Threat actor profile: business email compromise group targeting treasury staff",
        "威脅者剖析：鎖定財務人員之 BEC 集團",
        "threat-actor",
    ),
];

/// Member notes on shared intelligence: (English, Chinese).
const NOTES: &[(&str, &str)] = &[
    (
        "Also seen at our perimeter; blocked at the web application firewall.",
        "本機構亦觀察到相同來源，已於 WAF 阻擋。",
    ),
    (
        "Likely false positive: the address belongs to a CDN our mobile app uses.",
        "疑似誤判：此位址屬於本機構行動 APP 使用之 CDN。",
    ),
    (
        "Takedown requested from the registrar and the hosting provider.",
        "已向註冊商與主機業者申請下架。",
    ),
    (
        "Customers reported the same SMS lure to the anti-fraud hotline this morning.",
        "今晨已有客戶向反詐騙專線通報相同簡訊。",
    ),
    (
        "Matched in our proxy logs: two workstations contacted it; both re-imaged.",
        "代理伺服器紀錄比對命中兩台工作站，皆已重灌。",
    ),
    (
        "Vendor patch applied on all gateways; no sign of exploitation before patching.",
        "所有閘道已套用原廠修補，修補前未見遭利用跡象。",
    ),
];

/// Makes the STIX bodies of the demo objects.
#[derive(Default)]
struct Generator {
    ids: HashSet<String>,
    cves: HashSet<String>,
    /// Ids of TLP:CLEAR and TLP:GREEN objects, which reports and notes may cite without
    /// revealing anything to their own readers.
    open: Vec<String>,
}

impl Generator {
    /// One object made at `at` by an author of org `sighted_by` (a STIX identity id).
    fn object(
        &mut self,
        rng: &mut StdRng,
        at: DateTime<Utc>,
        sighted_by: &str,
    ) -> Map<String, Value> {
        let roll = rng.gen_range(0..100);
        let cites = !self.open.is_empty();
        let connects = self.open_of("indicator").is_some() && self.open_of("malware").is_some();
        let (t, mut o) = match roll {
            0..60 => ("indicator", indicator(rng, at)),
            60..63 if connects => ("relationship", self.relationship(rng, at)),
            63..65 if connects => ("sighting", self.sighting(rng, at, sighted_by)),
            65..77 => ("vulnerability", self.vulnerability(rng, at)),
            77..83 => ("malware", malware(rng)),
            83..89 if cites => ("report", self.report(rng, at)),
            89..95 if cites => ("note", self.note(rng)),
            95..98 => ("attack-pattern", attack_pattern(rng)),
            98..100 => ("threat-actor", threat_actor(rng)),
            _ => ("indicator", indicator(rng, at)),
        };
        o.insert("type".into(), Value::String(t.into()));
        let id = loop {
            let id = format!("{t}--{}", uuid(rng));
            if self.ids.insert(id.clone()) {
                break id;
            }
        };
        o.insert("id".into(), Value::String(id));
        o
    }

    fn vulnerability(&mut self, rng: &mut StdRng, at: DateTime<Utc>) -> Map<String, Value> {
        let cve = loop {
            let year = if rng.gen_bool(0.8) {
                at.year()
            } else {
                at.year() - 1
            };
            let cve = format!("CVE-{year}-{}", rng.gen_range(20000..60000));
            if self.cves.insert(cve.clone()) {
                break cve;
            }
        };
        let (p_en, p_zh) = *PRODUCTS.choose(rng).expect("products");
        let (f_en, f_zh, score) = *FLAWS.choose(rng).expect("flaws");
        let exploited = rng.gen_bool(0.3);
        let lang = Lang::pick(rng);
        let (x_en, x_zh) = if exploited {
            (
                "Public exploit code exists and exploitation has been observed.",
                "已有公開攻擊程式且觀察到遭利用。",
            )
        } else {
            ("No public exploit is known.", "目前未見公開攻擊程式。")
        };
        let description = lang.text(
            &format!("{p_zh}：{f_zh}。CVSS 3.1 基本分數 {score}。{x_zh}請儘速更新至原廠修補版本。"),
            &format!("{p_en}: {f_en}. CVSS 3.1 base score {score}. {x_en} Update to the vendor's fixed release."),
        );
        // The score and exploitation are said in the description and, for exploited ones, a
        // label; not in `x_` custom properties, which the OASIS `stix2` library refuses to
        // parse by default (`allow_custom=False`), so a TAXII consumer using it would fail.
        let mut v = json!({
            "name": cve,
            "description": description,
            "external_references": [{"source_name": "cve", "external_id": cve}],
        });
        if exploited {
            v["labels"] = json!(["exploited"]);
        }
        obj(v)
    }

    fn report(&mut self, rng: &mut StdRng, at: DateTime<Utc>) -> Map<String, Value> {
        let lang = Lang::pick(rng);
        let (name, kind) = if rng.gen_bool(0.3) {
            let w = at.iso_week();
            (
                lang.name(
                    &format!("資安情資週報 {} 年第 {} 週", w.year(), w.week()),
                    &format!("Weekly intelligence report {}-W{:02}", w.year(), w.week()),
                ),
                "threat-report",
            )
        } else {
            let (en, zh, kind) = *REPORTS.choose(rng).expect("reports");
            (lang.name(zh, en), kind)
        };
        let refs = self.cite(rng, 2, 8);
        let description = lang.text(
            "本報告彙整近期觀察到之攻擊活動、相關威脅指標與建議防護措施，供會員參考。",
            "This report summarises recently observed activity, the related indicators and recommended protective measures for members.",
        );
        obj(json!({
            "name": name,
            "description": description,
            "report_types": [kind],
            "published": intel::stix_time(at),
            "object_refs": refs,
        }))
    }

    fn note(&mut self, rng: &mut StdRng) -> Map<String, Value> {
        let (en, zh) = *NOTES.choose(rng).expect("notes");
        let lang = Lang::pick(rng);
        let refs = self.cite(rng, 1, 2);
        obj(json!({
            "abstract": lang.name(zh, en),
            "content": lang.text(zh, en),
            "object_refs": refs,
        }))
    }

    /// Between `min` and `max` distinct recent open objects.
    /// A recent TLP:CLEAR or TLP:GREEN object of `stix_type`, so that connecting it reveals
    /// nothing to the connection's own readers.
    fn open_of(&self, stix_type: &str) -> Option<&String> {
        let prefix = format!("{stix_type}--");
        self.open
            .iter()
            .rev()
            .take(400)
            .find(|id| id.starts_with(&prefix))
    }

    /// "This indicator indicates that malware."
    fn relationship(&mut self, rng: &mut StdRng, at: DateTime<Utc>) -> Map<String, Value> {
        let source = self.open_of("indicator").cloned().unwrap_or_default();
        let targets: Vec<&String> = self
            .open
            .iter()
            .rev()
            .take(400)
            .filter(|id| id.starts_with("malware--"))
            .collect();
        let target = targets
            .choose(rng)
            .map(|t| (*t).clone())
            .unwrap_or_default();
        obj(json!({
            "relationship_type": "indicates",
            "source_ref": source,
            "target_ref": target,
            "description": "Observed together in the same campaign / 同一攻擊活動中一併出現",
            "start_time": intel::stix_time(at),
        }))
    }

    /// "Our org saw this indicator."
    fn sighting(
        &mut self,
        rng: &mut StdRng,
        at: DateTime<Utc>,
        sighted_by: &str,
    ) -> Map<String, Value> {
        let of = self.open_of("indicator").cloned().unwrap_or_default();
        obj(json!({
            "sighting_of_ref": of,
            "where_sighted_refs": [sighted_by],
            "count": rng.gen_range(1..40),
            "first_seen": intel::stix_time(at - Duration::hours(rng.gen_range(1..48))),
            "last_seen": intel::stix_time(at),
        }))
    }

    fn cite(&self, rng: &mut StdRng, min: usize, max: usize) -> Vec<String> {
        let recent = &self.open[self.open.len().saturating_sub(300)..];
        let n = rng.gen_range(min..=max).min(recent.len());
        recent.choose_multiple(rng, n).cloned().collect()
    }
}

fn indicator(rng: &mut StdRng, at: DateTime<Utc>) -> Map<String, Value> {
    let theme = THEMES.choose(rng).expect("themes");
    let target = MEMBERS.choose(rng).expect("members");
    let short_en = target.en.trim_start_matches("Demo ");
    let short_zh = target.zh.trim_start_matches("示範");
    let obs = *theme.obs.choose(rng).expect("observable kinds");
    // The pattern, and the short form of its value that goes into the name.
    let (pattern, label) = match obs {
        Obs::Ip => {
            let ip = format!(
                "{}.{}",
                DOC_NETS.choose(rng).expect("nets"),
                rng.gen_range(1..255)
            );
            (format!("[ipv4-addr:value = '{ip}']"), ip)
        }
        Obs::Domain => {
            let d = domain(rng, target.brand);
            (format!("[domain-name:value = '{d}']"), d)
        }
        Obs::Url => {
            let d = domain(rng, target.brand);
            let path = URL_PATHS.choose(rng).expect("paths");
            (format!("[url:value = 'https://{d}/{path}']"), d)
        }
        Obs::Sha256 => {
            let h = hex(&rng.r#gen::<[u8; 32]>());
            let label = format!("SHA-256 {}…", &h[..16]);
            (format!("[file:hashes.'SHA-256' = '{h}']"), label)
        }
        Obs::Email => {
            let local = EMAIL_LOCALS.choose(rng).expect("locals");
            let e = format!("{local}@{}", domain(rng, "supplier"));
            (format!("[email-message:from_ref.value = '{e}']"), e)
        }
    };
    let lang = Lang::pick(rng);
    let name = lang.name(
        &theme.zh.replace("{org}", short_zh),
        &theme.en.replace("{org}", short_en),
    );
    let mut o = obj(json!({
        "name": format!("{name} – {label}"),
        "description": lang.text(theme.desc_zh, theme.desc_en),
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": intel::stix_time(at),
        "indicator_types": theme.types,
        "confidence": rng.gen_range(30..=95),
    }));
    if matches!(obs, Obs::Ip) {
        // Addresses change hands: they expire sooner than hashes and domains.
        let days = rng.gen_range(14..=90);
        o.insert(
            "valid_until".into(),
            Value::String(intel::stix_time(at + Duration::days(days))),
        );
    }
    o
}

fn domain(rng: &mut StdRng, brand: &str) -> String {
    let word = DOMAIN_WORDS.choose(rng).expect("words");
    let tld = if rng.gen_bool(0.7) { "example" } else { "test" };
    match rng.gen_range(0..4) {
        0 => format!("{word}-{brand}.{tld}"),
        1 => format!("{brand}-{word}{}.{tld}", rng.gen_range(1..100)),
        2 => format!("{brand}.{word}-tw.{tld}"),
        _ => format!("{word}{}-{brand}-tw.{tld}", rng.gen_range(1..10)),
    }
}

fn malware(rng: &mut StdRng) -> Map<String, Value> {
    let (name, types, en, zh) = *MALWARE.choose(rng).expect("malware");
    let lang = Lang::pick(rng);
    let name = if rng.gen_bool(0.4) {
        name.to_owned()
    } else {
        format!(
            "{name} variant {}.{}",
            rng.gen_range(1..4),
            rng.gen_range(0..10)
        )
    };
    obj(json!({
        "name": name,
        "description": lang.text(zh, en),
        "malware_types": types,
        "is_family": !name.contains("variant"),
    }))
}

fn threat_actor(rng: &mut StdRng) -> Map<String, Value> {
    let (name, kind, motivation, sophistication, en, zh) = *ACTORS.choose(rng).expect("actors");
    let lang = Lang::pick(rng);
    obj(json!({
        "name": name,
        "description": lang.text(zh, en),
        "threat_actor_types": [kind],
        "primary_motivation": motivation,
        "sophistication": sophistication,
    }))
}

fn attack_pattern(rng: &mut StdRng) -> Map<String, Value> {
    let (id, en, zh) = *TECHNIQUES.choose(rng).expect("techniques");
    let (sector_zh, sector_en) = *[
        ("銀行業", "banks"),
        ("證券期貨業", "securities and futures firms"),
        ("保險業", "insurers"),
        ("支付業", "payment institutions"),
    ]
    .choose(rng)
    .expect("sectors");
    let lang = Lang::pick(rng);
    obj(json!({
        "name": lang.name(zh, en),
        "description": lang.text(
            &format!("近期針對{sector_zh}觀察到之攻擊手法。"),
            &format!("Technique recently observed against {sector_en}."),
        ),
        "external_references": [{"source_name": "mitre-attack", "external_id": id}],
    }))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A version 4 UUID drawn from `rng`, so the demo's ids repeat with its seed.
fn uuid(rng: &mut StdRng) -> String {
    let mut b: [u8; 16] = rng.r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let mut rng = StdRng::seed_from_u64(1);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn every_member_sector_is_present() {
        for s in Sector::ALL {
            assert!(
                MEMBERS.iter().any(|m| m.sector == Some(*s)),
                "no demo member in {s}"
            );
        }
    }

    #[test]
    fn demo_roles_fit_their_orgs() {
        for (spec, _, role, _) in user_specs() {
            assert!(role.allowed_for(spec.kind), "{role} in {}", spec.en);
        }
    }
}
