use std::collections::BTreeSet;

use isac_model::{OrgKind, Tlp};
use proptest::prelude::*;

use super::*;
use crate::testkit::World;

fn access(tlp: Tlp) -> Access {
    Access {
        tlp,
        owner_org: "o1".into(),
        author: "u1".into(),
        recipient_orgs: BTreeSet::new(),
        recipient_groups: BTreeSet::new(),
        named_users: BTreeSet::new(),
    }
}

fn viewer(user: &str, org: &str, kind: OrgKind) -> Viewer {
    Viewer {
        user: Some(user.into()),
        org: Some(org.into()),
        org_kind: Some(kind),
        role: None,
        groups: BTreeSet::new(),
        partner_ceiling: None,
    }
}

#[test]
fn anonymous_reads_clear_only() {
    for t in Tlp::ALL {
        assert_eq!(
            can_read(&Viewer::anonymous(), &access(*t)),
            *t == Tlp::Clear
        );
    }
}

#[test]
fn operator_does_not_read_red() {
    let op = viewer("admin", "op", OrgKind::Operator);
    assert!(can_read(&op, &access(Tlp::Amber)));
    assert!(!can_read(&op, &access(Tlp::Red)));
}

#[test]
fn strict_never_reaches_vendor_recipient() {
    let mut a = access(Tlp::AmberStrict);
    a.recipient_orgs.insert("v".into());
    assert!(!can_read(&viewer("x", "v", OrgKind::Vendor), &a));
    a.tlp = Tlp::Amber;
    assert!(can_read(&viewer("x", "v", OrgKind::Vendor), &a));
}

#[test]
fn audience_write_rules() {
    let mut a = access(Tlp::Red);
    assert!(
        check_audience(&a, |_| None).is_ok(),
        "RED with no names is visible to its author"
    );
    a.recipient_orgs.insert("o2".into());
    assert_eq!(
        check_audience(&a, |_| None),
        Err(AudienceError::RedWithRecipients)
    );
    let mut g = access(Tlp::Green);
    g.named_users.insert("u2".into());
    assert_eq!(
        check_audience(&g, |_| None),
        Err(AudienceError::NamedUsersNotRed)
    );
    let mut s = access(Tlp::AmberStrict);
    s.recipient_orgs.insert("p".into());
    assert!(matches!(
        check_audience(&s, |_| Some(OrgKind::Partner)),
        Err(AudienceError::StrictToOutsider(_))
    ));
    assert_eq!(default_tlp(Tlp::Clear), Err(AudienceError::DefaultTooWide));
    assert_eq!(default_tlp(Tlp::Amber), Ok(Tlp::Amber));
}

#[test]
fn only_owner_widens() {
    let old = access(Tlp::Amber);
    let mut wider = old.clone();
    wider.tlp = Tlp::Green;
    assert_eq!(
        check_new_version("o2", &old, &wider),
        Err(AudienceError::WidensAudience)
    );
    assert!(check_new_version("o1", &old, &wider).is_ok());
    let mut narrower = old.clone();
    narrower.tlp = Tlp::AmberStrict;
    assert!(check_new_version("o2", &old, &narrower).is_ok());
    let mut more = old.clone();
    more.recipient_orgs.insert("o9".into());
    assert!(widens(&old, &more));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The policy against the reference model over random worlds, valid or not. Each case checks
    /// every user and the anonymous reader against every object.
    #[test]
    fn policy_matches_reference_model(seed in any::<u64>(), valid_only in any::<bool>()) {
        let world = World::generate(seed, 120, valid_only);
        let mut checks = 0u64;
        for o in &world.objects {
            let (audience, anon) = world.audience(&o.access);
            prop_assert_eq!(can_read(&Viewer::anonymous(), &o.access), anon);
            checks += 1;
            for u in &world.users {
                let v = world.viewer(u);
                prop_assert_eq!(
                    can_read(&v, &o.access),
                    audience.contains(&u.id),
                    "viewer {:?} object {:?}", v, o.access
                );
                checks += 1;
            }
        }
        CHECKS.fetch_add(checks, std::sync::atomic::Ordering::Relaxed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Relationships and sightings against the reference model: random objects connect one to
    /// three others, some of them not stored.
    #[test]
    fn connecting_objects_match_reference_model(seed in any::<u64>(), picks in proptest::collection::vec((any::<usize>(), proptest::collection::vec(proptest::option::weighted(0.9, any::<usize>()), 1..4)), 1..40)) {
        let world = World::generate(seed, 60, true);
        let n = world.objects.len();
        for (own, ends) in picks {
            let own = &world.objects[own % n].access;
            let ends: Vec<Option<&Access>> = ends
                .iter()
                .map(|e| e.map(|i| &world.objects[i % n].access))
                .collect();
            let (audience, anon) = world.connecting_audience(own, &ends);
            prop_assert_eq!(can_read_connecting(&Viewer::anonymous(), own, &ends), anon);
            for u in &world.users {
                prop_assert_eq!(
                    can_read_connecting(&world.viewer(u), own, &ends),
                    audience.contains(&u.id)
                );
            }
        }
    }
}

static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[test]
fn policy_check_count_is_reported() {
    // Runs the same property over a fixed set of seeds so the count printed is stable, and
    // asserts the floor the foundation issue sets.
    let mut checks = 0u64;
    for seed in 0..20u64 {
        let world = World::generate(seed, 120, seed % 2 == 0);
        for o in &world.objects {
            let (audience, anon) = world.audience(&o.access);
            assert_eq!(can_read(&Viewer::anonymous(), &o.access), anon);
            checks += 1;
            for u in &world.users {
                assert_eq!(
                    can_read(&world.viewer(u), &o.access),
                    audience.contains(&u.id)
                );
                checks += 1;
            }
            // The scope form, evaluated in memory, must agree with can_read too.
            for u in &world.users {
                let v = world.viewer(u);
                assert_eq!(
                    scope_admits(&ReadScope::for_viewer(&v), &o.access),
                    can_read(&v, &o.access)
                );
                checks += 1;
            }
        }
    }
    println!("TLP policy property: {checks} checks, 0 disagreements");
    assert!(checks >= 100_000, "only {checks} checks");
}

/// The scope's clauses as storage applies them, evaluated in memory.
fn scope_admits(s: &ReadScope, a: &Access) -> bool {
    let named = s.org.as_ref().is_some_and(|o| a.recipient_orgs.contains(o))
        || a.recipient_groups.iter().any(|g| s.groups.contains(g));
    match a.tlp {
        Tlp::Clear => true,
        Tlp::Green => s.green,
        Tlp::Amber | Tlp::AmberStrict => {
            s.all_amber
                || (s.own_amber && s.org.as_deref() == Some(a.owner_org.as_str()))
                || (a.tlp == Tlp::Amber && s.amber_recipient && named)
                || (a.tlp == Tlp::AmberStrict && s.strict_recipient && named)
        }
        Tlp::Red => {
            s.red_named
                && s.user
                    .as_ref()
                    .is_some_and(|u| *u == a.author || a.named_users.contains(u))
        }
    }
}
