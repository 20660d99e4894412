//! Web sessions and API keys.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::*;
use crate::Session;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_live_and_end() {
    each_backend("sessions_live_and_end", |store| async move {
        let c = community(&store).await;
        let token = format!("session-{}", random_hex());
        let s = Session {
            token_hash: hash(&token),
            user_id: c.member_analyst.id.clone(),
            csrf: random_hex(),
            mfa_pending: true,
            created_at: 1_000,
            last_seen_at: 1_000,
        };
        store.create_session(&s).await.unwrap();
        assert_eq!(store.session(&s.token_hash).await.unwrap(), Some(s.clone()));
        assert_eq!(
            store.session(&token).await.unwrap(),
            None,
            "looked up by hash only"
        );

        store.touch_session(&s.token_hash, 5_000).await.unwrap();
        store.complete_mfa(&s.token_hash).await.unwrap();
        let got = store.session(&s.token_hash).await.unwrap().unwrap();
        assert_eq!(got.last_seen_at, 5_000);
        assert_eq!(got.created_at, 1_000);
        assert!(!got.mfa_pending);
        // The session's holder, read in one go, is what the lookups one by one give.
        let g = store
            .create_group("Card issuers", "", audit())
            .await
            .unwrap();
        store
            .set_group_member(&g.id, &c.member_analyst.org_id, true, audit())
            .await
            .unwrap();
        let holder = store
            .session_holder(&s.token_hash)
            .await
            .unwrap()
            .expect("the session's holder");
        assert_eq!(holder.session, got);
        assert_eq!(holder.user, c.member_analyst);
        assert_eq!(
            holder.org,
            store.org(&c.member_analyst.org_id).await.unwrap()
        );
        assert_eq!(holder.groups, BTreeSet::from([g.id.clone()]));
        assert_eq!(store.session_holder(&token).await.unwrap(), None);

        let other = Session {
            token_hash: hash("other"),
            ..s.clone()
        };
        store.create_session(&other).await.unwrap();
        store.delete_session(&s.token_hash).await.unwrap();
        assert_eq!(store.session(&s.token_hash).await.unwrap(), None);
        assert_eq!(store.session_holder(&s.token_hash).await.unwrap(), None);
        assert!(store.session(&other.token_hash).await.unwrap().is_some());

        refused(
            &store,
            "a session with a taken token hash",
            store.create_session(&other),
            is_conflict,
        )
        .await;
        refused(
            &store,
            "a session of an unknown user",
            store.create_session(&Session {
                token_hash: hash("ghost"),
                user_id: "no-such-user".into(),
                ..s.clone()
            }),
            is_invalid,
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_stored_hashed() {
    each_backend("api_keys_are_stored_hashed", |store| async move {
        let c = community(&store).await;
        let user = &c.partner_service;
        let token = format!("isac_{}{}", random_hex(), random_hex());
        let prefix = &token[..9];
        let key = store
            .create_api_key(&user.id, " SIEM feed ", prefix, &hash(&token), audit())
            .await
            .unwrap();
        assert_eq!(key.name, "SIEM feed");
        assert_eq!(key.prefix, prefix);
        assert_eq!((key.last_used_at, key.revoked_at), (None, None));
        assert_eq!(store.api_key(&key.id).await.unwrap(), key);
        assert_eq!(store.api_keys(&user.id).await.unwrap(), vec![key.clone()]);
        assert!(
            store
                .api_keys(&c.member_analyst.id)
                .await
                .unwrap()
                .is_empty()
        );

        // Neither the keys table nor the audit log holds the token itself.
        let rows = sqlx::query("SELECT id, user_id, name, prefix, token_hash FROM api_keys")
            .fetch_all(&store.read)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let mut text = String::new();
        for r in &rows {
            for i in 0..5 {
                text.push_str(&r.get::<String, _>(i));
                text.push('\n');
            }
        }
        for r in sqlx::query("SELECT detail, target, action FROM audit_log")
            .fetch_all(&store.read)
            .await
            .unwrap()
        {
            for i in 0..3 {
                text.push_str(&r.get::<String, _>(i));
                text.push('\n');
            }
        }
        assert!(!text.contains(&token), "the raw token is stored");
        assert!(
            !text.contains(&token[9..]),
            "the secret part of the token is stored"
        );
        assert!(text.contains(&hash(&token)));

        let before = crate::now_micros();
        let used = store.use_api_key(&hash(&token)).await.unwrap();
        assert_eq!(used.as_ref().map(|k| k.id.as_str()), Some(key.id.as_str()));
        let after = crate::now_micros();
        let seen = store.api_key(&key.id).await.unwrap().last_used_at;
        assert!(
            seen.is_some_and(|t| (before..=after).contains(&t)),
            "last_used_at {seen:?} not in {before}..={after}"
        );
        assert_eq!(
            store.use_api_key(&token).await.unwrap(),
            None,
            "the raw token is no key"
        );
        assert_eq!(store.use_api_key(&hash("wrong")).await.unwrap(), None);

        // The key's holder, read in one go, is what the lookups one by one give.
        let owner = store.user(&key.user_id).await.unwrap().org_id;
        for name in ["Card issuers", "SWIFT users"] {
            let g = store.create_group(name, "", audit()).await.unwrap();
            store
                .set_group_member(&g.id, &owner, true, audit())
                .await
                .unwrap();
        }
        store.create_group("Others", "", audit()).await.unwrap();
        let holder = store
            .api_key_holder(&hash(&token))
            .await
            .unwrap()
            .expect("the key's holder");
        assert_eq!(holder.key.id, key.id);
        assert_eq!(holder.user, store.user(&key.user_id).await.unwrap());
        assert_eq!(holder.org, store.org(&holder.user.org_id).await.unwrap());
        assert_eq!(holder.org.id, owner);
        let groups = store.groups_of_org(&owner).await.unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(holder.groups, groups);
        assert_eq!(store.api_key_holder(&token).await.unwrap(), None);
        assert_eq!(store.api_key_holder(&hash("wrong")).await.unwrap(), None);

        refused(
            &store,
            "a second key with the same token hash",
            store.create_api_key(
                &c.member_analyst.id,
                "copy",
                "isac_copy",
                &hash(&token),
                audit(),
            ),
            is_conflict,
        )
        .await;
        refused(
            &store,
            "a key of an unknown user",
            store.create_api_key("no-such-user", "ghost", "isac_gho", &hash("ghost"), audit()),
            is_invalid,
        )
        .await;

        store.revoke_api_key(&key.id, audit()).await.unwrap();
        let revoked = store.api_key(&key.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert_eq!(store.use_api_key(&hash(&token)).await.unwrap(), None);
        assert_eq!(store.api_key_holder(&hash(&token)).await.unwrap(), None);
        refused(
            &store,
            "revoking a revoked key",
            store.revoke_api_key(&key.id, audit()),
            is_not_found,
        )
        .await;
        assert!(is_not_found(
            &store.api_key("no-such-key").await.unwrap_err()
        ));
    })
    .await;
}
