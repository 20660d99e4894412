//! The append-only, hash-chained audit log.

use super::*;
use crate::{Backend, Outcome, VerifyReport};

async fn raw(store: &Store, sql: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(sql)
        .execute(&store.write)
        .await
        .map(|r| r.rows_affected())
}

async fn set_detail(store: &Store, seq: i64, detail: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE audit_log SET detail = $1 WHERE seq = $2")
        .bind(detail.to_owned())
        .bind(seq)
        .execute(&store.write)
        .await
        .map(|r| r.rows_affected())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_are_recorded_in_a_chain() {
    each_backend("mutations_are_recorded_in_a_chain", |store| async move {
        assert_eq!(
            store.audit_verify().await.unwrap(),
            VerifyReport {
                records: 0,
                first_broken: None
            }
        );
        let c = community(&store).await;
        let group = store.create_group("SOC pilot", "", audit()).await.unwrap();
        store
            .set_group_member(&group.id, &c.member.id, true, audit())
            .await
            .unwrap();
        store
            .insert_objects(
                &[new_object(
                    &stix_id("indicator", 1),
                    &stix_time(0),
                    access(Tlp::Green, &c.operator, &c.analyst),
                )],
                audit(),
            )
            .await
            .unwrap();
        // Four orgs, four users, a group, a membership and an object.
        let records = store.audit_page(None, 100).await.unwrap();
        assert_eq!(records.len(), 11);
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (1..=11).rev().collect::<Vec<_>>()
        );
        assert!(
            records
                .iter()
                .all(|r| r.action == "test" && r.outcome == "ok")
        );
        assert_eq!(records[10].detail, "org Financial ISAC (operator)");
        assert_eq!(
            records[6].detail,
            "user analyst@isac.example role isac-analyst"
        );
        assert_eq!(
            records[0].detail,
            format!("{} green", stix_id("indicator", 1))
        );
        for w in records.windows(2) {
            assert_eq!(
                w[0].prev_hash, w[1].hash,
                "each record links to the one before"
            );
        }

        // A refused mutation leaves no record.
        refused(
            &store,
            "a duplicate group",
            store.create_group("SOC pilot", "", audit()),
            is_conflict,
        )
        .await;
        assert_eq!(store.audit_page(None, 100).await.unwrap().len(), 11);

        // Events of their own, with every field kept.
        let seq = store
            .audit(
                &AuditEntry::new("login", format!("user:{}", c.analyst.id))
                    .by(Some(&c.analyst.id), Some(&c.operator.id))
                    .from_source("192.0.2.7")
                    .outcome(Outcome::Denied)
                    .detail("wrong password, \"quoted\" and 中文"),
            )
            .await
            .unwrap();
        assert_eq!(seq, 12);
        let last = &store.audit_page(None, 1).await.unwrap()[0];
        assert_eq!(last.seq, 12);
        assert_eq!(last.actor_user.as_deref(), Some(c.analyst.id.as_str()));
        assert_eq!(last.actor_org.as_deref(), Some(c.operator.id.as_str()));
        assert_eq!(
            (
                last.source.as_str(),
                last.action.as_str(),
                last.outcome.as_str()
            ),
            ("192.0.2.7", "login", "denied")
        );
        assert_eq!(last.detail, "wrong password, \"quoted\" and 中文");
        assert_eq!(last.prev_hash, records[0].hash);
        store
            .audit(&AuditEntry::new("export", "objects").outcome(Outcome::Failed))
            .await
            .unwrap();

        let older = store.audit_page(Some(5), 2).await.unwrap();
        assert_eq!(older.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 3]);
        assert_eq!(
            store.audit_verify().await.unwrap(),
            VerifyReport {
                records: 13,
                first_broken: None
            }
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_refused_and_detected() {
    each_backend("tampering_is_refused_and_detected", |store| async move {
        community(&store).await;
        for i in 0..6 {
            store
                .audit(&AuditEntry::new("view", format!("page {i}")).detail(format!("visit {i}")))
                .await
                .unwrap();
        }
        let intact = VerifyReport {
            records: 14,
            first_broken: None,
        };
        assert_eq!(store.audit_verify().await.unwrap(), intact);

        // The triggers refuse changes and deletions.
        assert!(set_detail(&store, 5, "rewritten").await.is_err());
        assert!(
            raw(&store, "UPDATE audit_log SET at = at + 1")
                .await
                .is_err()
        );
        assert!(
            raw(&store, "DELETE FROM audit_log WHERE seq = 5")
                .await
                .is_err()
        );
        assert!(raw(&store, "DELETE FROM audit_log").await.is_err());
        assert_eq!(store.audit_verify().await.unwrap(), intact);

        // Someone with the database's own rights removes the triggers and edits a record.
        match store.backend() {
            Backend::Sqlite => {
                raw(&store, "DROP TRIGGER audit_log_no_update")
                    .await
                    .unwrap();
                raw(&store, "DROP TRIGGER audit_log_no_delete")
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                raw(
                    &store,
                    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
                )
                .await
                .unwrap();
            }
        }
        let original = store.audit_page(Some(10), 1).await.unwrap().remove(0);
        assert_eq!(original.seq, 9);
        assert_eq!(set_detail(&store, 9, "nothing happened").await.unwrap(), 1);
        assert_eq!(
            store.audit_verify().await.unwrap(),
            VerifyReport {
                records: 8,
                first_broken: Some(9)
            }
        );

        // Putting the record back restores the chain: the check is of content, not of history.
        assert_eq!(set_detail(&store, 9, &original.detail).await.unwrap(), 1);
        assert_eq!(store.audit_verify().await.unwrap(), intact);

        // A deleted record breaks the chain where it was.
        assert_eq!(
            raw(&store, "DELETE FROM audit_log WHERE seq = 12")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store.audit_verify().await.unwrap(),
            VerifyReport {
                records: 11,
                first_broken: Some(12)
            }
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_append_is_detected() {
    each_backend("a_forged_append_is_detected", |store| async move {
        community(&store).await;
        let last = store.audit_page(None, 1).await.unwrap().remove(0);
        // Appending is allowed by the triggers; a record not made by the store has no valid hash.
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_user, actor_org, source, action, target, outcome, detail, prev_hash, hash) \
             VALUES ($1, $2, NULL, NULL, 'cli', 'grant', 'everyone', 'ok', 'forged', $3, $4)",
        )
        .bind(last.seq + 1)
        .bind(last.at + 1)
        .bind(last.hash.clone())
        .bind("f".repeat(64))
        .execute(&store.write)
        .await
        .unwrap();
        assert_eq!(
            store.audit_verify().await.unwrap(),
            VerifyReport {
                records: 8,
                first_broken: Some(9)
            }
        );
    })
    .await;
}
