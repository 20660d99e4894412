//! Bad input is refused as a user error, and nothing of it is stored.

use isac_model::limits;

use super::*;
use crate::NewApplication;

/// A change that makes a good input bad, and what it breaks.
type Spoiler<T> = (&'static str, Box<dyn Fn(&mut T)>);

fn long(n: usize) -> String {
    "x".repeat(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_fields_are_bounded() {
    each_backend("directory_fields_are_bounded", |store| async move {
        let c = community(&store).await;

        let names = [
            String::new(),
            "   ".into(),
            long(limits::NAME_CHARS + 1),
            "機".repeat(limits::NAME_CHARS + 1),
            "bell\u{7}".into(),
        ];
        for bad in &names {
            for zh in [false, true] {
                let mut o = new_org(OrgKind::Vendor, "Good Vendor", "好廠商");
                if zh {
                    o.name_zh = bad.clone();
                } else {
                    o.name_en = bad.clone();
                }
                refused(
                    &store,
                    "an org name",
                    store.create_org(&o, audit()),
                    is_invalid,
                )
                .await;
            }
            refused(
                &store,
                "a group name",
                store.create_group(bad, "", audit()),
                is_invalid,
            )
            .await;
        }
        // The limit counts characters, not bytes.
        let at_limit = store
            .create_org(
                &new_org(
                    OrgKind::Vendor,
                    &long(limits::NAME_CHARS),
                    &"機".repeat(limits::NAME_CHARS),
                ),
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(at_limit.name_zh.chars().count(), limits::NAME_CHARS);
        refused(
            &store,
            "a group description",
            store.create_group("Long group", &long(limits::TEXT_CHARS + 1), audit()),
            is_invalid,
        )
        .await;

        for bad in [
            String::new(),
            "no-at-sign".into(),
            "two@@example.com".into(),
            "nodot@example".into(),
            "sp ace@example.com".into(),
            format!("{}@example.com", long(limits::EMAIL_CHARS)),
        ] {
            refused(
                &store,
                &format!("email {bad:?}"),
                store.create_user(&new_user(&c.member, &bad, Role::MemberReader), audit()),
                is_invalid,
            )
            .await;
        }
        let mut u = new_user(&c.member, "reader@bank.example", Role::MemberReader);
        u.display_name = long(limits::DISPLAY_NAME_CHARS + 1);
        refused(
            &store,
            "a display name",
            store.create_user(&u, audit()),
            is_invalid,
        )
        .await;

        let good = NewApplication {
            name_en: "Harbour Securities".into(),
            name_zh: "港灣證券".into(),
            sector: isac_model::Sector::Securities,
            contact_name: "Chen".into(),
            contact_email: "chen@harbour.example".into(),
            motivation: "Joining.".into(),
        };
        let variants: Vec<Spoiler<NewApplication>> = vec![
            (
                "name_en",
                Box::new(|a| a.name_en = long(limits::NAME_CHARS + 1)),
            ),
            ("name_zh", Box::new(|a| a.name_zh = String::new())),
            (
                "contact_name",
                Box::new(|a| a.contact_name = long(limits::DISPLAY_NAME_CHARS + 1)),
            ),
            (
                "contact_email",
                Box::new(|a| a.contact_email = "chen-at-harbour".into()),
            ),
            (
                "motivation",
                Box::new(|a| a.motivation = long(limits::TEXT_CHARS + 1)),
            ),
        ];
        for (field, spoil) in variants {
            let mut a = good.clone();
            spoil(&mut a);
            refused(
                &store,
                &format!("an application with a bad {field}"),
                store.create_application(&a, audit()),
                is_invalid,
            )
            .await;
        }
        store.create_application(&good, audit()).await.unwrap();

        for bad in [String::new(), long(limits::NAME_CHARS + 1)] {
            refused(
                &store,
                "an API key name",
                store.create_api_key(&c.analyst.id, &bad, "isac_abcd", &"0".repeat(64), audit()),
                is_invalid,
            )
            .await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_fields_are_checked() {
    each_backend("object_fields_are_checked", |store| async move {
        let c = community(&store).await;
        let good = new_object(
            &stix_id("indicator", 1),
            &stix_time(0),
            access(Tlp::Amber, &c.operator, &c.analyst),
        );
        let spoilers: Vec<Spoiler<NewObject>> = vec![
            (
                "an id of another type",
                Box::new(|o| o.stix_id = stix_id("malware", 1)),
            ),
            (
                "an id without a UUID",
                Box::new(|o| o.stix_id = "indicator--1".into()),
            ),
            (
                "an id without a type",
                Box::new(|o| o.stix_id = "00000000-0000-4000-8000-000000000001".into()),
            ),
            (
                "an empty type",
                Box::new(|o| {
                    o.stix_type = String::new();
                    o.stix_id = "--00000000-0000-4000-8000-000000000001".into();
                }),
            ),
            (
                "a type longer than STIX allows",
                Box::new(|o| {
                    o.stix_type = long(251);
                    o.stix_id = format!("{}--00000000-0000-4000-8000-000000000001", o.stix_type);
                }),
            ),
            (
                "a non-timestamp modified",
                Box::new(|o| o.modified = "yesterday".into()),
            ),
            (
                "a modified not in UTC",
                Box::new(|o| o.modified = "2024-01-01T08:00:00.000+08:00".into()),
            ),
            (
                "an over-long modified",
                Box::new(|o| o.modified = format!("2024-01-01T00:00:00.{}Z", "0".repeat(70))),
            ),
            (
                "an over-long title",
                Box::new(|o| o.title = long(limits::TEXT_CHARS + 1)),
            ),
            (
                "an over-long body",
                Box::new(|o| o.body = long(limits::OBJECT_BYTES + 1).into()),
            ),
            (
                "an over-long value",
                Box::new(|o| o.values = vec![long(limits::SEARCH_CHARS + 1)]),
            ),
            (
                "too many recipients",
                Box::new(|o| {
                    o.access.recipient_orgs = (0..=limits::RECIPIENTS)
                        .map(|i| format!("org-{i}"))
                        .collect();
                }),
            ),
        ];
        for (what, spoil) in &spoilers {
            let mut bad = good.clone();
            spoil(&mut bad);
            // Alone, and as the last item of a batch whose other items are fine.
            refused(
                &store,
                what,
                store.insert_objects(std::slice::from_ref(&bad), audit()),
                is_invalid,
            )
            .await;
            let mut fine = new_object(
                &stix_id("indicator", 2),
                &stix_time(0),
                access(Tlp::Clear, &c.operator, &c.analyst),
            );
            fine.values = vec!["ok.example".into()];
            refused(
                &store,
                what,
                store.insert_objects(&[fine, bad], audit()),
                is_invalid,
            )
            .await;
        }

        // A body of exactly the limit is accepted, and so is the good object.
        let mut big = good.clone();
        big.body = long(limits::OBJECT_BYTES).into();
        store.insert_objects(&[big], audit()).await.unwrap();
        let viewer = viewer_of(&store, &c.analyst.id).await;
        assert_eq!(
            store
                .object(&viewer, &good.stix_id)
                .await
                .unwrap()
                .body
                .len(),
            limits::OBJECT_BYTES
        );

        // New versions are checked the same way.
        for (what, spoil) in &spoilers[5..] {
            let mut bad = good.clone();
            bad.modified = stix_time(10);
            spoil(&mut bad);
            refused(
                &store,
                what,
                store.insert_version(&bad, |_| Ok(()), audit()),
                is_invalid,
            )
            .await;
        }
    })
    .await;
}
