//! The TLP property of storage: over random worlds, every read path of the store shows each user
//! exactly the objects the reference model of DESIGN §3 says that user may see.
//!
//! A world (orgs of every kind, users of every role, sharing groups and objects at every TLP with
//! random recipients, groups and named users) is loaded into the store through its ordinary API.
//! Then, for every user and for the anonymous reader, and for every object, the store's answer
//! is compared with `World::audience`: the single read, every version, listings in every sort
//! order page by page, reads by id in batches, search by a value planted in every object, and
//! the counts.
//!
//! `ISAC_TLP_SEED` replays one world; otherwise each run draws a new seed and prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use isac_model::{OrgKind, Sector, Tlp};
use isac_policy::testkit::World;

use super::*;

/// Objects per world. With at least 28 readers per world (the fewest a world has, counting the
/// anonymous one) and seven checks per reader and object, one world gives over 100,000 checks.
const OBJECTS: usize = 600;
const MIN_CHECKS: u64 = 100_000;
const SEED_VAR: &str = "ISAC_TLP_SEED";
/// A searchable value every version of every object carries, written as a client might.
const PLANTED: &str = "Planted.Marker.EXAMPLE";
const SORTS: [Sort; 4] = [
    Sort::NewestFirst,
    Sort::OldestFirst,
    Sort::ModifiedDesc,
    Sort::ModifiedAsc,
];

/// World ids to store ids.
#[derive(Default)]
struct Ids {
    orgs: BTreeMap<String, String>,
    users: BTreeMap<String, String>,
    groups: BTreeMap<String, String>,
}

impl Ids {
    fn access(&self, a: &Access) -> Access {
        let map = |m: &BTreeMap<String, String>, set: &BTreeSet<String>| -> BTreeSet<String> {
            set.iter().map(|id| m[id].clone()).collect()
        };
        Access {
            tlp: a.tlp,
            owner_org: self.orgs[&a.owner_org].clone(),
            author: self.users[&a.author].clone(),
            recipient_orgs: map(&self.orgs, &a.recipient_orgs),
            recipient_groups: map(&self.groups, &a.recipient_groups),
            named_users: map(&self.users, &a.named_users),
        }
    }

    fn viewer(&self, v: &Viewer) -> Viewer {
        Viewer {
            user: v.user.as_ref().map(|u| self.users[u].clone()),
            org: v.org.as_ref().map(|o| self.orgs[o].clone()),
            org_kind: v.org_kind,
            role: v.role,
            groups: v.groups.iter().map(|g| self.groups[g].clone()).collect(),
            partner_ceiling: v.partner_ceiling,
        }
    }
}

/// One version as stored, with the reference model's audience for it.
struct Version {
    modified: String,
    /// In store ids.
    access: Access,
    /// In world ids.
    readers: BTreeSet<String>,
    anonymous: bool,
}

struct Object {
    stix_id: String,
    versions: Vec<Version>,
    /// For a relationship or sighting, what it connects.
    ends: Option<Vec<End>>,
}

/// One end of a relationship or sighting.
#[derive(Clone, Copy)]
enum End {
    /// A loaded object, by index.
    Object(usize),
    /// An org's STIX identity, served from the directory, by world org index.
    Org(usize),
    /// An id that is stored nowhere.
    Missing,
}

impl Object {
    fn latest(&self) -> &Version {
        self.versions.last().expect("a version")
    }
}

/// A reader: a world user, or the anonymous reader.
#[derive(Clone)]
struct Reader {
    world_user: Option<String>,
    viewer: Viewer,
}

impl Reader {
    fn name(&self) -> String {
        self.world_user
            .clone()
            .unwrap_or_else(|| "anonymous".into())
    }

    fn sees(&self, v: &Version) -> bool {
        match &self.world_user {
            Some(u) => v.readers.contains(u),
            None => v.anonymous,
        }
    }

    /// The reference model for one version of `o`: its own audience and, for a relationship or
    /// sighting, the audience of every end's latest version (DESIGN §3).
    fn sees_version(&self, loaded: &Loaded, o: &Object, v: &Version) -> bool {
        self.sees(v)
            && o.ends.iter().flatten().all(|end| match end {
                End::Object(j) => self.sees(loaded.objects[*j].latest()),
                End::Org(k) => self.sees(&loaded.identities[*k]),
                End::Missing => false,
            })
    }
}

struct Loaded {
    objects: Vec<Object>,
    readers: Vec<Reader>,
    /// The reference model's audience of each world org's identity.
    identities: Vec<Version>,
}

#[derive(Default)]
struct Tally {
    checks: u64,
    disagreements: Vec<String>,
}

impl Tally {
    fn check(&mut self, agrees: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !agrees {
            self.disagreements.push(what());
        }
    }
}

fn seed() -> u64 {
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random)
}

/// A world the store can hold: the store keeps to exactly one operator, while the generator
/// sometimes makes two, so seeds are tried in turn from `seed`.
fn world_from(seed: u64) -> (u64, World) {
    (seed..)
        .map(|s| (s, World::generate(s, OBJECTS, true)))
        .find(|(_, w)| {
            w.orgs
                .iter()
                .filter(|o| o.kind == OrgKind::Operator)
                .count()
                == 1
        })
        .expect("a world with one operator")
}

/// Loads `world` through the store's API and returns the objects and readers to check.
async fn load(store: &Store, world: &World) -> Loaded {
    let mut ids = Ids::default();
    for (i, o) in world.orgs.iter().enumerate() {
        let org = store
            .create_org(
                &NewOrg {
                    kind: o.kind,
                    sector: (o.kind == OrgKind::Member).then(|| Sector::ALL[i % Sector::ALL.len()]),
                    name_en: o.id.clone(),
                    name_zh: format!("機構 {}", o.id),
                    partner_ceiling: o.ceiling,
                },
                audit(),
            )
            .await
            .expect("create org");
        ids.orgs.insert(o.id.clone(), org.id);
    }
    for u in &world.users {
        let user = store
            .create_user(
                &NewUser {
                    org_id: ids.orgs[&u.org].clone(),
                    email: format!("{}@{}.example", u.id, u.org),
                    display_name: u.id.clone(),
                    locale: isac_model::Locale::En,
                    role: u.role,
                    password_hash: None,
                },
                audit(),
            )
            .await
            .expect("create user");
        ids.users.insert(u.id.clone(), user.id);
    }
    for (g, members) in &world.groups {
        let group = store
            .create_group(g, "", audit())
            .await
            .expect("create group");
        for m in members {
            store
                .set_group_member(&group.id, &ids.orgs[m], true, audit())
                .await
                .expect("add group member");
        }
        ids.groups.insert(g.clone(), group.id);
    }

    let n = world.objects.len();
    let types = [
        "indicator",
        "malware",
        "relationship",
        "report",
        "note",
        "indicator",
        "sighting",
        "malware",
    ];
    // Relationships and sightings connect two to three other objects, some of them not stored.
    let n_orgs = world.orgs.len();
    let ends_of = |i: usize| -> Option<Vec<End>> {
        match types[i % types.len()] {
            "relationship" => Some(vec![
                End::Object((i * 5 + 1) % n),
                End::Object((i * 13 + 4) % n),
            ]),
            "sighting" if i.is_multiple_of(3) => {
                Some(vec![End::Object((i * 3 + 2) % n), End::Missing])
            }
            "sighting" if i % 3 == 1 => Some(vec![
                End::Object((i * 3 + 2) % n),
                End::Org(i % n_orgs),
                End::Org((i * 7 + 3) % n_orgs),
            ]),
            "sighting" => Some(vec![
                End::Object((i * 3 + 2) % n),
                End::Object((i * 17 + 9) % n),
                End::Object((i * 19 + 1) % n),
            ]),
            _ => None,
        }
    };
    let version = |modified: String, a: &Access| {
        let (readers, anonymous) = world.audience(a);
        Version {
            modified,
            access: ids.access(a),
            readers,
            anonymous,
        }
    };
    let mut objects: Vec<Object> = world
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| Object {
            stix_id: stix_id(types[i % types.len()], i as u64),
            // Every `modified` is shared by two objects, so the modified orders rely on pk too.
            versions: vec![version(stix_time(((i * 37) % (n / 2)) as i64), &o.access)],
            ends: ends_of(i),
        })
        .collect();
    let ids_by_index: Vec<String> = (0..n)
        .map(|i| stix_id(types[i % types.len()], i as u64))
        .collect();
    let new_version = |o: &Object, v: &Version, i: usize| {
        let mut nv = new_object(&o.stix_id, &v.modified, v.access.clone());
        nv.values = vec![PLANTED.to_owned(), format!("value-{i}")];
        if let Some(ends) = &o.ends {
            let id = |e: &End| match e {
                End::Object(j) => ids_by_index[*j].clone(),
                End::Org(k) => format!("identity--{}", ids.orgs[&world.orgs[*k].id]),
                End::Missing => stix_id("identity", 900_000 + i as u64),
            };
            let mut body: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&nv.body).expect("test body");
            if nv.stix_type == "relationship" {
                body.insert("source_ref".into(), id(&ends[0]).into());
                body.insert("target_ref".into(), id(&ends[1]).into());
            } else {
                body.insert("sighting_of_ref".into(), id(&ends[0]).into());
                let rest: Vec<serde_json::Value> = ends[1..].iter().map(|e| id(e).into()).collect();
                body.insert("where_sighted_refs".into(), rest.into());
            }
            nv.body = serde_json::Value::Object(body).to_string().into();
        }
        nv
    };
    for (b, chunk) in objects.chunks(100).enumerate() {
        let batch: Vec<NewObject> = chunk
            .iter()
            .enumerate()
            .map(|(j, o)| new_version(o, &o.versions[0], b * 100 + j))
            .collect();
        store
            .insert_objects(&batch, audit())
            .await
            .expect("insert objects");
    }
    // Later versions take the audience of another object, narrower or wider, so that the
    // latest version and older ones are read under different audiences.
    for (i, object) in objects.iter_mut().enumerate() {
        let others = match i % 12 {
            1 => vec![(i * 7 + 3) % n, (i * 11 + 5) % n],
            5 | 9 => vec![(i * 7 + 3) % n],
            _ => continue,
        };
        for (k, other) in others.into_iter().enumerate() {
            let v = version(
                stix_time(100_000 + (i * 3 + k) as i64),
                &world.objects[other].access,
            );
            let nv = new_version(object, &v, i);
            store
                .insert_version(&nv, |_| Ok(()), audit())
                .await
                .expect("insert version");
            object.versions.push(v);
        }
    }

    let mut readers: Vec<Reader> = world
        .users
        .iter()
        .map(|u| Reader {
            world_user: Some(u.id.clone()),
            viewer: ids.viewer(&world.viewer(u)),
        })
        .collect();
    readers.push(Reader {
        world_user: None,
        viewer: Viewer::anonymous(),
    });
    let identities = world
        .orgs
        .iter()
        .map(|o| {
            let a = Access {
                tlp: match o.kind {
                    OrgKind::Operator => Tlp::Clear,
                    OrgKind::Member => Tlp::Green,
                    OrgKind::Partner | OrgKind::Vendor => Tlp::Amber,
                },
                owner_org: o.id.clone(),
                author: world.users[0].id.clone(),
                recipient_orgs: BTreeSet::new(),
                recipient_groups: BTreeSet::new(),
                named_users: BTreeSet::new(),
            };
            version(String::new(), &a)
        })
        .collect();
    Loaded {
        objects,
        readers,
        identities,
    }
}

/// Every comparison for one reader.
async fn check_reader(store: Store, loaded: Arc<Loaded>, r: usize) -> Tally {
    let reader = &loaded.readers[r];
    let who = reader.name();
    let v = &reader.viewer;
    let mut t = Tally::default();

    // The viewer the store's own records make agrees with the world's.
    if let Some(user) = &v.user {
        let from_store = viewer_of(&store, user).await;
        t.check(from_store == *v, || {
            format!("{who}: store viewer {from_store:?} differs from {v:?}")
        });
    }

    let expected: BTreeSet<&str> = loaded
        .objects
        .iter()
        .filter(|o| reader.sees_version(&loaded, o, o.latest()))
        .map(|o| o.stix_id.as_str())
        .collect();

    for (j, o) in loaded.objects.iter().enumerate() {
        let latest = o.latest();
        let want = reader.sees_version(&loaded, o, latest);
        match store.object(v, &o.stix_id).await {
            Ok(got) => {
                t.check(want, || {
                    format!("{who} reads {} outside its audience", o.stix_id)
                });
                t.check(
                    got.access == latest.access && got.modified == latest.modified,
                    || format!("{who} reads {} with the wrong version", o.stix_id),
                );
            }
            Err(StoreError::NotFound(_)) => {
                t.check(!want, || {
                    format!("{who} cannot read {} in its audience", o.stix_id)
                });
            }
            Err(e) => panic!("reading {}: {e}", o.stix_id),
        }

        let want: Vec<&str> = o
            .versions
            .iter()
            .filter(|ver| reader.sees_version(&loaded, o, ver))
            .map(|ver| ver.modified.as_str())
            .collect();
        let got = store
            .object_versions(v, &o.stix_id)
            .await
            .expect("versions");
        let got: Vec<&str> = got.iter().map(|ver| ver.modified.as_str()).collect();
        t.check(got == want, || {
            format!(
                "{who}: versions of {} are {got:?}, expected {want:?}",
                o.stix_id
            )
        });

        // What connects to it: the relationships and sightings with it among their ends, each
        // where the reader sees the connection and every end.
        let want: BTreeSet<&str> = loaded
            .objects
            .iter()
            .filter(|c| {
                c.ends
                    .iter()
                    .flatten()
                    .any(|e| matches!(e, End::Object(k) if *k == j))
            })
            .filter(|c| reader.sees_version(&loaded, c, c.latest()))
            .map(|c| c.stix_id.as_str())
            .collect();
        let got = store
            .connections(v, &o.stix_id, crate::CONNECTIONS_MAX)
            .await
            .expect("connections");
        t.check(got.windows(2).all(|w| w[0].pk > w[1].pk), || {
            format!("{who}: connections of {} not newest first", o.stix_id)
        });
        let got: BTreeSet<&str> = got.iter().map(|c| c.stix_id.as_str()).collect();
        t.check(got == want, || {
            format!(
                "{who}: connections of {} are {got:?}, expected {want:?}",
                o.stix_id
            )
        });
    }

    // Listings in every order, in pages of a size that differs between readers.
    let limit = 40 + (r as u32 * 13) % 90;
    let all = ObjectFilter::default();
    for sort in SORTS {
        let got = all_pages(&store, v, &all, sort, limit).await;
        compare_listing(
            &mut t,
            &who,
            &format!("{sort:?}"),
            sort,
            &got,
            &loaded,
            &expected,
        );
    }
    let search = ObjectFilter {
        value: Some(format!("  {}  ", PLANTED.to_uppercase())),
        ..ObjectFilter::default()
    };
    let got = all_pages(&store, v, &search, Sort::OldestFirst, 500).await;
    compare_listing(
        &mut t,
        &who,
        "search",
        Sort::OldestFirst,
        &got,
        &loaded,
        &expected,
    );

    // Reads by id, in more than one batch: every id of the world, one twice, one stored
    // nowhere. Exactly the visible objects come back, once each, at their latest version.
    let mut ask: Vec<String> = loaded.objects.iter().map(|o| o.stix_id.clone()).collect();
    ask.extend(ask.first().cloned());
    ask.push("indicator--00000000-0000-4000-8000-0000deadbeef".into());
    let got = store.objects_by_id(v, &ask).await.expect("read by id");
    compare_listing(
        &mut t,
        &who,
        "by id",
        Sort::OldestFirst,
        &got,
        &loaded,
        &expected,
    );
    for g in &got {
        if let Some(o) = loaded.objects.iter().find(|o| o.stix_id == g.stix_id) {
            let latest = o.latest();
            t.check(
                g.access == latest.access && g.modified == latest.modified,
                || format!("{who} reads {} by id with the wrong version", g.stix_id),
            );
        }
    }

    let n = expected.len() as i64;
    let count = store.count_objects(v, &all).await.expect("count");
    t.check(count == n, || format!("{who}: count {count}, expected {n}"));
    let count = store.count_objects(v, &search).await.expect("count");
    t.check(count == n, || {
        format!("{who}: search count {count}, expected {n}")
    });
    let mut by_tlp: BTreeMap<Tlp, i64> = BTreeMap::new();
    for o in &loaded.objects {
        if expected.contains(o.stix_id.as_str()) {
            *by_tlp.entry(o.latest().access.tlp).or_default() += 1;
        }
    }
    let got: BTreeMap<Tlp, i64> = store
        .count_by_tlp(v)
        .await
        .expect("count by TLP")
        .into_iter()
        .collect();
    t.check(got == by_tlp, || {
        format!("{who}: counts by TLP {got:?}, expected {by_tlp:?}")
    });
    t
}

/// One check per object: listed exactly when visible. Duplicates and order are checked too.
fn compare_listing(
    t: &mut Tally,
    who: &str,
    what: &str,
    sort: Sort,
    got: &[StoredObject],
    loaded: &Loaded,
    expected: &BTreeSet<&str>,
) {
    let listed: BTreeSet<&str> = got.iter().map(|o| o.stix_id.as_str()).collect();
    t.check(listed.len() == got.len(), || {
        format!("{who}: {what} lists an object twice")
    });
    t.check(
        got.windows(2).all(|w| before_in(sort, &w[0], &w[1])),
        || format!("{who}: {what} is out of order"),
    );
    for o in &loaded.objects {
        let id = o.stix_id.as_str();
        let want = expected.contains(id);
        t.check(listed.contains(id) == want, || {
            format!("{who}: {what} listed {id}: {}, expected {want}", !want)
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlp_store_property() {
    each_backend("tlp_store_property", |store| async move {
        let (seed, world) = world_from(seed());
        let started = std::time::Instant::now();
        let loaded = Arc::new(load(&store, &world).await);
        let backend = match store.backend() {
            crate::Backend::Sqlite => "sqlite",
            crate::Backend::Postgres => "postgres",
        };
        println!(
            "TLP store property ({backend}): seed {seed} ({SEED_VAR}), {} orgs, {} users, {} groups, {} objects loaded in {:.1} s",
            world.orgs.len(),
            world.users.len(),
            world.groups.len(),
            loaded.objects.len(),
            started.elapsed().as_secs_f64()
        );

        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for r in 0..loaded.readers.len() {
            tasks.spawn(check_reader(store.clone(), loaded.clone(), r));
        }
        let mut total = Tally::default();
        while let Some(done) = tasks.join_next().await {
            let t = done.expect("a reader's checks panicked");
            total.checks += t.checks;
            total.disagreements.extend(t.disagreements);
        }
        for d in total.disagreements.iter().take(20) {
            println!("  disagreement: {d}");
        }
        println!(
            "TLP store property ({backend}): {} checks, {} disagreements ({} readers, {:.1} s)",
            total.checks,
            total.disagreements.len(),
            loaded.readers.len(),
            started.elapsed().as_secs_f64()
        );
        assert!(
            total.disagreements.is_empty(),
            "the store disagrees with the reference model; replay with {SEED_VAR}={seed}"
        );
        assert!(
            total.checks >= MIN_CHECKS,
            "only {} checks; at least {MIN_CHECKS} are required",
            total.checks
        );
    })
    .await;
}
