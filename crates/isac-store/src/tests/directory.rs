//! Membership: orgs, users, groups and applications.

use isac_model::{Locale, OrgKind, Role, Sector, Tlp};

use super::*;
use crate::{ApplicationDecision, NewApplication, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgs_by_kind_with_sectors_and_names() {
    each_backend("orgs_by_kind_with_sectors_and_names", |store| async move {
        let operator = store
            .create_org(
                &new_org(
                    OrgKind::Operator,
                    " Financial ISAC ",
                    "金融資安資訊分享與分析中心",
                ),
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(operator.kind, OrgKind::Operator);
        assert_eq!(operator.name_en, "Financial ISAC", "names are trimmed");
        assert_eq!(operator.sector, None);
        assert!(!operator.require_totp);
        assert_eq!(store.operator_org().await.unwrap(), operator);

        refused(
            &store,
            "a second operator",
            store.create_org(
                &new_org(OrgKind::Operator, "Another ISAC", "另一個中心"),
                audit(),
            ),
            is_conflict,
        )
        .await;

        let mut orgs = vec![operator.clone()];
        for (i, sector) in Sector::ALL.iter().enumerate() {
            let o = store
                .create_org(
                    &NewOrg {
                        kind: OrgKind::Member,
                        sector: Some(*sector),
                        name_en: format!("Member {i}"),
                        name_zh: format!("會員機構 {i}"),
                        partner_ceiling: None,
                    },
                    audit(),
                )
                .await
                .unwrap();
            assert_eq!(o.sector, Some(*sector));
            assert_eq!(store.org(&o.id).await.unwrap(), o);
            orgs.push(o);
        }
        for (i, ceiling) in [None, Some(Tlp::Green), Some(Tlp::Amber)]
            .into_iter()
            .enumerate()
        {
            let o = store
                .create_org(
                    &NewOrg {
                        kind: OrgKind::Partner,
                        sector: None,
                        name_en: format!("Partner {i}"),
                        name_zh: format!("合作夥伴 {i}"),
                        partner_ceiling: ceiling,
                    },
                    audit(),
                )
                .await
                .unwrap();
            assert_eq!(store.org(&o.id).await.unwrap().partner_ceiling, ceiling);
            orgs.push(o);
        }
        let vendor = store
            .create_org(
                &new_org(OrgKind::Vendor, "Response Co", "應變公司"),
                audit(),
            )
            .await
            .unwrap();
        orgs.push(vendor.clone());

        let mut listed = store.orgs().await.unwrap();
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        orgs.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(listed, orgs);

        for o in &orgs {
            assert_eq!(&store.find_org(&o.id).await.unwrap(), o);
            assert_eq!(&store.find_org(&o.name_en).await.unwrap(), o);
            assert_eq!(&store.find_org(&o.name_zh).await.unwrap(), o);
            assert_eq!(
                &store.find_org(&format!(" {} ", o.name_zh)).await.unwrap(),
                o
            );
        }
        assert!(is_not_found(
            &store.find_org("No Such Bank").await.unwrap_err()
        ));
        assert!(is_not_found(&store.org("no-such-id").await.unwrap_err()));

        // The same Chinese name on two orgs is allowed, but then the name no longer finds one.
        store
            .create_org(
                &new_org(OrgKind::Vendor, "Response Co Two", "應變公司"),
                audit(),
            )
            .await
            .unwrap();
        assert!(is_conflict(&store.find_org("應變公司").await.unwrap_err()));
        assert_eq!(store.find_org("Response Co").await.unwrap(), vendor);

        refused(
            &store,
            "a duplicate English name",
            store.create_org(&new_org(OrgKind::Vendor, "Member 0", "重複"), audit()),
            is_conflict,
        )
        .await;
        let mut no_sector = new_org(OrgKind::Member, "Sectorless Bank", "無業別銀行");
        no_sector.sector = None;
        refused(
            &store,
            "a member without a sector",
            store.create_org(&no_sector, audit()),
            is_invalid,
        )
        .await;
        let mut vendor_sector = new_org(OrgKind::Vendor, "Banking Vendor", "銀行廠商");
        vendor_sector.sector = Some(Sector::Bank);
        refused(
            &store,
            "a sector on a vendor",
            store.create_org(&vendor_sector, audit()),
            is_invalid,
        )
        .await;
        let mut member_ceiling = new_org(OrgKind::Member, "Ceiling Bank", "上限銀行");
        member_ceiling.partner_ceiling = Some(Tlp::Amber);
        refused(
            &store,
            "a TLP ceiling on a member",
            store.create_org(&member_ceiling, audit()),
            is_invalid,
        )
        .await;

        store
            .set_org_require_totp(&vendor.id, true, audit())
            .await
            .unwrap();
        assert!(store.org(&vendor.id).await.unwrap().require_totp);
        refused(
            &store,
            "require TOTP of an unknown org",
            store.set_org_require_totp("no-such-org", true, audit()),
            is_not_found,
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_roles() {
    each_backend("users_and_roles", |store| async move {
        let c = community(&store).await;
        let orgs = [&c.operator, &c.member, &c.partner, &c.vendor];
        let mut n = 0;
        for org in orgs {
            for role in Role::ALL {
                let email = format!("Person{n}@Example.COM ");
                n += 1;
                let u = new_user(org, &email, *role);
                if !role.allowed_for(org.kind) {
                    refused(
                        &store,
                        &format!("role {role} in a {} org", org.kind),
                        store.create_user(&u, audit()),
                        is_invalid,
                    )
                    .await;
                    continue;
                }
                let created = store.create_user(&u, audit()).await.unwrap();
                assert_eq!(created.email, email.trim().to_lowercase());
                assert_eq!(created.role, *role);
                assert_eq!(created.org_id, org.id);
                assert!(created.enabled);
                assert_eq!(store.user(&created.id).await.unwrap(), created);
                assert_eq!(store.find_user(&created.id).await.unwrap(), created);
                assert_eq!(store.find_user(&email).await.unwrap(), created);
                assert_eq!(
                    store.find_user(&email.to_uppercase()).await.unwrap(),
                    created
                );
            }
        }
        assert!(is_not_found(
            &store.find_user("nobody@example.com").await.unwrap_err()
        ));
        refused(
            &store,
            "a user of an unknown org",
            store.create_user(
                &NewUser {
                    org_id: "no-such-org".into(),
                    ..new_user(&c.member, "ghost@example.com", Role::MemberReader)
                },
                audit(),
            ),
            is_not_found,
        )
        .await;
        refused(
            &store,
            "a duplicate email in another case",
            store.create_user(
                &new_user(&c.member, "SOC@bank.example", Role::MemberReader),
                audit(),
            ),
            is_conflict,
        )
        .await;

        let of_member = store.users(Some(&c.member.id)).await.unwrap();
        assert!(of_member.iter().all(|u| u.org_id == c.member.id));
        assert_eq!(
            of_member.len(),
            1 + 3,
            "the fixture's user and one per member role"
        );
        let emails: Vec<&str> = of_member.iter().map(|u| u.email.as_str()).collect();
        let mut sorted = emails.clone();
        sorted.sort();
        assert_eq!(emails, sorted, "users are listed by email");
        assert_eq!(store.users(None).await.unwrap().len(), 4 + 7);

        // Disabling a user ends their sessions; enabling does not bring them back.
        let u = &c.member_analyst;
        let session = Session {
            token_hash: "a".repeat(64),
            user_id: u.id.clone(),
            csrf: "csrf".into(),
            mfa_pending: false,
            created_at: 1,
            last_seen_at: 1,
        };
        store.create_session(&session).await.unwrap();
        store.set_user_enabled(&u.id, false, audit()).await.unwrap();
        assert!(!store.user(&u.id).await.unwrap().enabled);
        assert_eq!(store.session(&session.token_hash).await.unwrap(), None);
        store.set_user_enabled(&u.id, true, audit()).await.unwrap();
        assert!(store.user(&u.id).await.unwrap().enabled);
        refused(
            &store,
            "disable an unknown user",
            store.set_user_enabled("no-such-user", false, audit()),
            is_not_found,
        )
        .await;

        // Account settings and the lockout counter.
        store
            .set_user_password(&u.id, "$argon2id$hash", audit())
            .await
            .unwrap();
        store
            .set_user_totp(&u.id, Some("JBSWY3DPEHPK3PXP"), audit())
            .await
            .unwrap();
        store.set_user_locale(&u.id, Locale::ZhTw).await.unwrap();
        let got = store.user(&u.id).await.unwrap();
        assert_eq!(got.password_hash.as_deref(), Some("$argon2id$hash"));
        assert_eq!(got.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
        assert_eq!(got.locale, Locale::ZhTw);
        for i in 1..=2 {
            let n = store
                .record_login_failure(&u.id, 3, 60_000_000, audit())
                .await
                .unwrap();
            assert_eq!(n, i);
        }
        assert_eq!(store.user(&u.id).await.unwrap().locked_until, None);
        assert_eq!(
            store
                .record_login_failure(&u.id, 3, 60_000_000, audit())
                .await
                .unwrap(),
            3
        );
        let locked = store.user(&u.id).await.unwrap();
        assert!(locked.locked_until.is_some_and(|t| t > crate::now_micros()));
        assert_eq!(locked.failed_logins, 0);
        store.clear_login_failures(&u.id).await.unwrap();
        assert_eq!(store.user(&u.id).await.unwrap().locked_until, None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_groups_and_membership() {
    each_backend("sharing_groups_and_membership", |store| async move {
        let c = community(&store).await;
        let banks = store
            .create_group(" systemic banks ", "D-SIBs", audit())
            .await
            .unwrap();
        assert_eq!(banks.name, "systemic banks");
        let pilot = store.create_group("SOC pilot", "", audit()).await.unwrap();
        refused(
            &store,
            "a duplicate group name",
            store.create_group("systemic banks", "again", audit()),
            is_conflict,
        )
        .await;

        for org in [&c.member, &c.partner] {
            store
                .set_group_member(&banks.id, &org.id, true, audit())
                .await
                .unwrap();
        }
        // Adding twice is harmless.
        store
            .set_group_member(&banks.id, &c.member.id, true, audit())
            .await
            .unwrap();
        store
            .set_group_member(&pilot.id, &c.member.id, true, audit())
            .await
            .unwrap();

        let got = store.find_group("systemic banks").await.unwrap();
        assert_eq!(got.id, banks.id);
        assert_eq!(
            got.members,
            BTreeSet::from([c.member.id.clone(), c.partner.id.clone()])
        );
        assert_eq!(store.find_group(&pilot.id).await.unwrap().name, "SOC pilot");
        assert!(is_not_found(&store.find_group("nope").await.unwrap_err()));
        assert_eq!(
            store.groups_of_org(&c.member.id).await.unwrap(),
            BTreeSet::from([banks.id.clone(), pilot.id.clone()])
        );
        assert_eq!(
            store
                .groups()
                .await
                .unwrap()
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>(),
            ["SOC pilot", "systemic banks"]
        );
        assert_eq!(
            viewer_of(&store, &c.member_analyst.id).await.groups,
            BTreeSet::from([banks.id.clone(), pilot.id.clone()])
        );

        store
            .set_group_member(&banks.id, &c.member.id, false, audit())
            .await
            .unwrap();
        assert_eq!(
            store.groups_of_org(&c.member.id).await.unwrap(),
            BTreeSet::from([pilot.id.clone()])
        );
        assert!(store.groups_of_org(&c.vendor.id).await.unwrap().is_empty());

        refused(
            &store,
            "membership of an unknown org",
            store.set_group_member(&banks.id, "no-such-org", true, audit()),
            is_invalid,
        )
        .await;
        refused(
            &store,
            "membership of an unknown group",
            store.set_group_member("no-such-group", &c.vendor.id, true, audit()),
            is_invalid,
        )
        .await;
    })
    .await;
}

fn application(name_en: &str, name_zh: &str, email: &str) -> NewApplication {
    NewApplication {
        name_en: name_en.into(),
        name_zh: name_zh.into(),
        sector: Sector::Securities,
        contact_name: "陳小姐".into(),
        contact_email: email.into(),
        motivation: "We want to join the sector's information sharing.".into(),
    }
}

fn approve() -> ApplicationDecision {
    ApplicationDecision::Approve {
        admin_password_hash: Some("$argon2id$first".into()),
        locale: Locale::ZhTw,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_applications() {
    each_backend("membership_applications", |store| async move {
        let c = community(&store).await;
        let admin = store
            .create_user(
                &new_user(&c.operator, "admin@isac.example", Role::IsacAdmin),
                audit(),
            )
            .await
            .unwrap();

        let app = store
            .create_application(
                &application("Harbour Securities", "港灣證券", " Chen@Harbour.Example "),
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(app.status, "pending");
        assert_eq!(app.contact_email, "chen@harbour.example");
        assert_eq!(store.application(&app.id).await.unwrap(), app);
        assert_eq!(store.applications().await.unwrap(), vec![app.clone()]);

        // Approval: the decision, the org and its first member-admin land together.
        let before = table_counts(&store).await;
        let (decided, created) = store
            .decide_application(&app.id, &admin.id, approve(), audit())
            .await
            .unwrap();
        let (org, user) = created.expect("approval creates the org");
        assert_eq!(decided.status, "approved");
        assert_eq!(decided.decided_by.as_deref(), Some(admin.id.as_str()));
        assert!(decided.decided_at.is_some());
        assert_eq!(decided.org_id.as_deref(), Some(org.id.as_str()));
        assert_eq!(store.application(&app.id).await.unwrap(), decided);
        assert_eq!(org.kind, OrgKind::Member);
        assert_eq!(org.sector, Some(Sector::Securities));
        assert_eq!(
            (org.name_en.as_str(), org.name_zh.as_str()),
            ("Harbour Securities", "港灣證券")
        );
        assert_eq!(store.find_org("港灣證券").await.unwrap(), org);
        assert_eq!(user.org_id, org.id);
        assert_eq!(user.role, Role::MemberAdmin);
        assert_eq!(user.email, "chen@harbour.example");
        assert_eq!(user.display_name, "陳小姐");
        assert_eq!(user.locale, Locale::ZhTw);
        assert_eq!(user.password_hash.as_deref(), Some("$argon2id$first"));
        assert_eq!(store.find_user("chen@harbour.example").await.unwrap(), user);
        let after = table_counts(&store).await;
        let grew = |t: &str| {
            let n = |v: &[(&str, i64)]| v.iter().find(|(name, _)| *name == t).unwrap().1;
            n(&after) - n(&before)
        };
        assert_eq!((grew("orgs"), grew("users"), grew("audit_log")), (1, 1, 1));

        refused(
            &store,
            "deciding an approved application again",
            store.decide_application(&app.id, &admin.id, ApplicationDecision::Reject, audit()),
            is_conflict,
        )
        .await;
        refused(
            &store,
            "deciding an unknown application",
            store.decide_application("no-such-app", &admin.id, approve(), audit()),
            is_not_found,
        )
        .await;

        // A contact whose email is taken: the org would be created, the user is refused, so
        // nothing at all is stored and the application stays pending.
        let taken = store
            .create_application(
                &application("Taken Insurance", "已用保險", "soc@bank.example"),
                audit(),
            )
            .await
            .unwrap();
        refused(
            &store,
            "approval whose admin email is taken",
            store.decide_application(&taken.id, &admin.id, approve(), audit()),
            is_conflict,
        )
        .await;
        assert_eq!(store.application(&taken.id).await.unwrap(), taken);
        assert!(is_not_found(
            &store.find_org("Taken Insurance").await.unwrap_err()
        ));

        // An org of the same name exists already.
        let clash = store
            .create_application(
                &application("First Bank", "第一銀行二", "new@first.example"),
                audit(),
            )
            .await
            .unwrap();
        refused(
            &store,
            "approval whose org name is taken",
            store.decide_application(&clash.id, &admin.id, approve(), audit()),
            is_conflict,
        )
        .await;

        // The deciding admin must exist.
        refused(
            &store,
            "approval by an unknown admin",
            store.decide_application(&clash.id, "no-such-admin", approve(), audit()),
            |e| is_invalid(e) || is_conflict(e),
        )
        .await;

        let rejected = store
            .create_application(
                &application("Sunset Futures", "夕陽期貨", "ops@sunset.example"),
                audit(),
            )
            .await
            .unwrap();
        let before = table_counts(&store).await;
        let (decided, created) = store
            .decide_application(
                &rejected.id,
                &admin.id,
                ApplicationDecision::Reject,
                audit(),
            )
            .await
            .unwrap();
        assert!(created.is_none());
        assert_eq!(decided.status, "rejected");
        assert_eq!(decided.org_id, None);
        assert_eq!(decided.decided_by.as_deref(), Some(admin.id.as_str()));
        let after = table_counts(&store).await;
        for ((t, b), (_, a)) in before.iter().zip(&after) {
            let want = if *t == "audit_log" { b + 1 } else { *b };
            assert_eq!(*a, want, "rejection changed table {t}");
        }
        assert!(is_not_found(
            &store.find_org("Sunset Futures").await.unwrap_err()
        ));
        refused(
            &store,
            "approving a rejected application",
            store.decide_application(&rejected.id, &admin.id, approve(), audit()),
            is_conflict,
        )
        .await;
        assert_eq!(store.applications().await.unwrap().len(), 4);
    })
    .await;
}
