//! Random worlds and a reference model of DESIGN §3, for property tests of every read path.
//!
//! The reference model is written the other way round from [`crate::can_read`]: it computes, for
//! one object, the whole set of users who may read it, straight from the table in DESIGN §3. A
//! path agrees with the policy when, for every viewer and object, "visible" equals "in the set".

use std::collections::{BTreeMap, BTreeSet};

use isac_model::{OrgKind, Role, Tlp};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::{Access, Viewer};

#[derive(Debug, Clone)]
pub struct WorldOrg {
    pub id: String,
    pub kind: OrgKind,
    pub ceiling: Option<Tlp>,
}

#[derive(Debug, Clone)]
pub struct WorldUser {
    pub id: String,
    pub org: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct WorldObject {
    pub id: String,
    pub access: Access,
}

/// Orgs of every kind, users of every role their org may hold, sharing groups, and objects at
/// every TLP with random recipients, groups and named users.
#[derive(Debug, Clone)]
pub struct World {
    pub orgs: Vec<WorldOrg>,
    pub users: Vec<WorldUser>,
    /// Group id to member org ids.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub objects: Vec<WorldObject>,
}

impl World {
    /// Generates a world from a seed. `valid_only` keeps to audiences that pass
    /// [`crate::check_audience`], as storage holds; otherwise any combination is made.
    pub fn generate(seed: u64, objects: usize, valid_only: bool) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut orgs = Vec::new();
        let mut users = Vec::new();
        let kinds = [
            OrgKind::Operator,
            OrgKind::Member,
            OrgKind::Partner,
            OrgKind::Vendor,
        ];
        for kind in kinds {
            // Exactly one operator exists in a real deployment; the model must not depend on it,
            // so some worlds get more.
            let n = if kind == OrgKind::Operator {
                rng.gen_range(1..=2)
            } else {
                rng.gen_range(5..=7)
            };
            for _ in 0..n {
                let id = format!("org-{}-{}", kind.as_str(), orgs.len());
                let ceiling = if kind == OrgKind::Partner {
                    [
                        None,
                        Some(Tlp::Clear),
                        Some(Tlp::Green),
                        Some(Tlp::Amber),
                        Some(Tlp::Red),
                    ][rng.gen_range(0..5)]
                } else {
                    None
                };
                for role in Role::ALL.iter().filter(|r| r.allowed_for(kind)) {
                    for _ in 0..rng.gen_range(1..=2) {
                        users.push(WorldUser {
                            id: format!("user-{}", users.len()),
                            org: id.clone(),
                            role: *role,
                        });
                    }
                }
                orgs.push(WorldOrg { id, kind, ceiling });
            }
        }
        let mut groups = BTreeMap::new();
        for g in 0..rng.gen_range(3..=6) {
            let members: BTreeSet<String> = orgs
                .iter()
                .filter(|_| rng.gen_bool(0.3))
                .map(|o| o.id.clone())
                .collect();
            groups.insert(format!("group-{g}"), members);
        }
        let group_ids: Vec<String> = groups.keys().cloned().collect();
        let mut objs = Vec::new();
        while objs.len() < objects {
            let tlp = *Tlp::ALL.choose(&mut rng).unwrap();
            let author = users.choose(&mut rng).unwrap().clone();
            let pick = |rng: &mut StdRng, from: &[String], p: f64| -> BTreeSet<String> {
                from.iter().filter(|_| rng.gen_bool(p)).cloned().collect()
            };
            let org_ids: Vec<String> = orgs.iter().map(|o| o.id.clone()).collect();
            let user_ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
            let mut access = Access {
                tlp,
                owner_org: author.org.clone(),
                author: author.id.clone(),
                recipient_orgs: pick(&mut rng, &org_ids, 0.1),
                recipient_groups: pick(&mut rng, &group_ids, 0.25),
                named_users: pick(&mut rng, &user_ids, 0.05),
            };
            if valid_only {
                match tlp {
                    Tlp::Red => {
                        access.recipient_orgs.clear();
                        access.recipient_groups.clear();
                    }
                    Tlp::Clear | Tlp::Green => {
                        access.recipient_orgs.clear();
                        access.recipient_groups.clear();
                        access.named_users.clear();
                    }
                    Tlp::Amber | Tlp::AmberStrict => access.named_users.clear(),
                }
                let kinds: BTreeMap<&str, OrgKind> =
                    orgs.iter().map(|o| (o.id.as_str(), o.kind)).collect();
                if crate::check_audience(&access, |o| kinds.get(o).copied()).is_err() {
                    continue;
                }
            }
            objs.push(WorldObject {
                id: format!("object-{}", objs.len()),
                access,
            });
        }
        World {
            orgs,
            users,
            groups,
            objects: objs,
        }
    }

    pub fn org(&self, id: &str) -> &WorldOrg {
        self.orgs.iter().find(|o| o.id == id).expect("org in world")
    }

    /// The viewer a user is, with the groups of their org.
    pub fn viewer(&self, u: &WorldUser) -> Viewer {
        let org = self.org(&u.org);
        Viewer {
            user: Some(u.id.clone()),
            org: Some(u.org.clone()),
            org_kind: Some(org.kind),
            role: Some(u.role),
            groups: self
                .groups
                .iter()
                .filter(|(_, m)| m.contains(&u.org))
                .map(|(g, _)| g.clone())
                .collect(),
            partner_ceiling: org.ceiling,
        }
    }

    /// Reference model for relationships and sightings: the readers of the object itself who are
    /// also readers of every end; an end that is not stored (`None`) has no readers.
    pub fn connecting_audience(
        &self,
        own: &Access,
        ends: &[Option<&Access>],
    ) -> (BTreeSet<String>, bool) {
        let (mut users, mut anonymous) = self.audience(own);
        for end in ends {
            match end {
                Some(a) => {
                    let (u, anon) = self.audience(a);
                    users.retain(|x| u.contains(x));
                    anonymous &= anon;
                }
                None => {
                    users.clear();
                    anonymous = false;
                }
            }
        }
        (users, anonymous)
    }

    /// Reference model: the users who may read `a`, and whether anonymous readers may.
    pub fn audience(&self, a: &Access) -> (BTreeSet<String>, bool) {
        let users_of = |pred: &dyn Fn(&WorldOrg) -> bool| -> BTreeSet<String> {
            self.users
                .iter()
                .filter(|u| pred(self.org(&u.org)))
                .map(|u| u.id.clone())
                .collect()
        };
        // Orgs named on the object, directly or as members of a named group.
        let mut named_orgs: BTreeSet<String> = a.recipient_orgs.clone();
        for g in &a.recipient_groups {
            if let Some(m) = self.groups.get(g) {
                named_orgs.extend(m.iter().cloned());
            }
        }
        let partner_may =
            |o: &WorldOrg, levels: &[Tlp]| o.ceiling.is_some_and(|c| levels.contains(&c));
        match a.tlp {
            Tlp::Clear => (self.users.iter().map(|u| u.id.clone()).collect(), true),
            Tlp::Green => (
                users_of(&|o| match o.kind {
                    OrgKind::Operator | OrgKind::Member => true,
                    OrgKind::Partner => {
                        partner_may(o, &[Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red])
                    }
                    OrgKind::Vendor => false,
                }),
                false,
            ),
            Tlp::Amber => (
                users_of(&|o| {
                    o.id == a.owner_org
                        || o.kind == OrgKind::Operator
                        || (named_orgs.contains(&o.id)
                            && match o.kind {
                                OrgKind::Partner => {
                                    partner_may(o, &[Tlp::Amber, Tlp::AmberStrict, Tlp::Red])
                                }
                                _ => true,
                            })
                }),
                false,
            ),
            Tlp::AmberStrict => (
                users_of(&|o| {
                    o.id == a.owner_org
                        || o.kind == OrgKind::Operator
                        || (named_orgs.contains(&o.id) && o.kind == OrgKind::Member)
                }),
                false,
            ),
            Tlp::Red => {
                let mut s = a.named_users.clone();
                s.insert(a.author.clone());
                // Named users must exist to read anything.
                s.retain(|id| self.users.iter().any(|u| &u.id == id));
                (s, false)
            }
        }
    }
}
