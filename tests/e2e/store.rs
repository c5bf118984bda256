//! The control plane's store on every backend under test: revisions and the change log, the
//! feed built from it, refresh token redemption, name rules, and what is kept at rest.

use restapi_control_plane::MasterKey;
use restapi_control_plane::store::{
    ApiChanges, DomainCheck, DomainStatus, IssuedCertificate, NewApi, NewDomain, NewNodeCredential,
    NewRegion, NewServiceAccount, RegionChanges, Store, StoreError,
};
use restapi_shared::node::{RedeemOutcome, RedeemRefreshRequest, RevokeRefreshRequest};
use restapi_shared::push::{Change, ChangeBatch, RegionSnapshot};
use restapi_shared::secret::{SecretDigest, SecretString};

use crate::support::db::{TestDatabase, test_databases};

/// Base64 of the bytes 0..32.
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A fixed point in time for the store's writes.
const NOW: i64 = 1_800_000_000;

async fn open(database: &TestDatabase) -> Store {
    let key = MasterKey::parse(&SecretString::new(MASTER_KEY.to_owned())).unwrap();
    Store::connect(&database.url, key)
        .await
        .unwrap_or_else(|error| panic!("{}: connect: {error}", database.backend))
}

async fn region(store: &Store, name: &str) -> String {
    let new = NewRegion {
        name: name.to_owned(),
        host: format!("{name}.restapi.test"),
    };
    store.create_region(&new, NOW).await.unwrap().id
}

async fn api(store: &Store, name: &str, region: &str) -> String {
    let new = NewApi {
        name: name.to_owned(),
        description: String::new(),
        region: region.to_owned(),
        roles: vec!["reader".to_owned(), "writer".to_owned()],
        default_roles: vec!["reader".to_owned()],
        claims: Default::default(),
        ..NewApi::default()
    };
    store.create_api(&new, NOW).await.unwrap().id
}

fn upserted_names(batch: &ChangeBatch) -> Vec<String> {
    batch
        .changes
        .iter()
        .filter_map(|change| match change {
            Change::ApiUpserted { api } => Some(api.name.clone()),
            _ => None,
        })
        .collect()
}

fn removed_ids(batch: &ChangeBatch) -> Vec<String> {
    batch
        .changes
        .iter()
        .filter_map(|change| match change {
            Change::ApiRemoved { id } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_write_bumps_the_revision_and_is_logged_for_its_region() {
    for database in test_databases().await {
        let store = open(&database).await;
        let start = store.refresh_head().await.unwrap();

        let eu = region(&store, "eu").await;
        let after_eu = store.refresh_head().await.unwrap();
        let no = region(&store, "no").await;
        let after_no = store.refresh_head().await.unwrap();
        api(&store, "shop", "eu").await;
        let after_api = store.refresh_head().await.unwrap();
        assert!(start < after_eu && after_eu < after_no && after_no < after_api);

        let eu_log = store.changes_since(&eu, after_no).await.unwrap();
        assert_eq!(eu_log.revision, after_api);
        assert_eq!(upserted_names(&eu_log), ["shop"]);
        let no_log = store.changes_since(&no, after_no).await.unwrap();
        assert_eq!(no_log.revision, after_api);
        assert!(
            no_log.changes.is_empty(),
            "{}: another region's API leaked",
            database.backend
        );

        let eu_from_start = store.changes_since(&eu, start).await.unwrap();
        assert!(matches!(
            eu_from_start.changes[0],
            Change::RegionUpdated { .. }
        ));

        // A refused write changes nothing, not even the revision.
        let taken = NewRegion {
            name: "eu".to_owned(),
            host: "x.test".to_owned(),
        };
        assert!(matches!(
            store.create_region(&taken, NOW).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.refresh_head().await.unwrap(), after_api);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn a_moved_api_leaves_one_region_and_arrives_in_the_other() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        let no = region(&store, "no").await;
        let shop = api(&store, "shop", "eu").await;
        let before = store.refresh_head().await.unwrap();

        let changes = ApiChanges {
            region: Some("no".to_owned()),
            ..ApiChanges::default()
        };
        let moved = store.update_api("shop", &changes, NOW).await.unwrap();
        assert_eq!(moved.region, "no");

        let eu_log = store.changes_since(&eu, before).await.unwrap();
        assert_eq!(removed_ids(&eu_log), std::slice::from_ref(&shop));
        let no_log = store.changes_since(&no, before).await.unwrap();
        assert_eq!(upserted_names(&no_log), ["shop"]);
        assert_eq!(store.snapshot(&eu).await.unwrap().apis.len(), 0);
        assert_eq!(store.snapshot(&no).await.unwrap().apis[0].id, shop);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn the_feed_serves_current_state_and_removals() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        let before = store.refresh_head().await.unwrap();
        let shop = api(&store, "shop", "eu").await;
        let rename = ApiChanges {
            name: Some("store".to_owned()),
            ..ApiChanges::default()
        };
        store.update_api("shop", &rename, NOW).await.unwrap();

        // Two writes to one API arrive as one change carrying its state now.
        let batch = store.changes_since(&eu, before).await.unwrap();
        assert_eq!(upserted_names(&batch), ["store"]);
        let Change::ApiUpserted { api } = &batch.changes[0] else {
            panic!("an upsert")
        };
        assert_eq!(api.signing_keys.len(), 1);
        assert_eq!(api.default_roles, ["reader"]);

        let before_delete = store.refresh_head().await.unwrap();
        store.delete_api("store", NOW).await.unwrap();
        let batch = store.changes_since(&eu, before_delete).await.unwrap();
        assert_eq!(removed_ids(&batch), std::slice::from_ref(&shop));
        // From before the creation, the API is simply gone.
        let batch = store.changes_since(&eu, before).await.unwrap();
        assert_eq!(removed_ids(&batch), [shop]);
        assert!(store.snapshot(&eu).await.unwrap().apis.is_empty());
        database.drop_database().await;
    }
}

#[tokio::test]
async fn revisions_below_the_log_floor_are_gone() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        api(&store, "shop", "eu").await;
        let head = store.refresh_head().await.unwrap();

        // Everything written at NOW is older than a minute's retention an hour later.
        let pruned = store.prune_change_log(NOW + 3_600, 60).await.unwrap();
        assert!(pruned >= 2, "{}: pruned {pruned}", database.backend);
        assert!(matches!(
            store.changes_since(&eu, 0).await,
            Err(StoreError::RevisionGone(0))
        ));
        assert!(
            store
                .changes_since(&eu, head)
                .await
                .unwrap()
                .changes
                .is_empty()
        );
        assert!(matches!(
            store.changes_since(&eu, head + 1).await,
            Err(StoreError::RevisionGone(_))
        ));
        let snapshot = store.snapshot(&eu).await.unwrap();
        assert_eq!(snapshot.revision, head);
        assert_eq!(snapshot.apis.len(), 1);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn refresh_tokens_are_redeemed_once_and_reuse_revokes_the_family() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        let no = region(&store, "no").await;
        let shop = api(&store, "shop", "eu").await;
        let redeem = |token: &str, family: &str| RedeemRefreshRequest {
            api_id: shop.clone(),
            token_id: token.to_owned(),
            family: family.to_owned(),
            expires_at: NOW + 1_000,
            user_id: None,
            strict: false,
        };

        let first = store
            .redeem_refresh_token(&eu, &redeem("tok_1", "fam_1"), NOW)
            .await
            .unwrap();
        assert_eq!(first, RedeemOutcome::Redeemed);
        let next = store
            .redeem_refresh_token(&eu, &redeem("tok_2", "fam_1"), NOW)
            .await
            .unwrap();
        assert_eq!(next, RedeemOutcome::Redeemed);
        // Within the grace window a repeat is honoured: its first answer may have been lost.
        let retried = store
            .redeem_refresh_token(&eu, &redeem("tok_1", "fam_1"), NOW + 30)
            .await
            .unwrap();
        assert_eq!(retried, RedeemOutcome::Redeemed);
        let again = store
            .redeem_refresh_token(&eu, &redeem("tok_1", "fam_1"), NOW + 31)
            .await
            .unwrap();
        assert_eq!(again, RedeemOutcome::Reused);
        let later = store
            .redeem_refresh_token(&eu, &redeem("tok_3", "fam_1"), NOW + 31)
            .await
            .unwrap();
        assert_eq!(later, RedeemOutcome::Revoked);
        let other = store
            .redeem_refresh_token(&eu, &redeem("tok_9", "fam_2"), NOW)
            .await
            .unwrap();
        assert_eq!(other, RedeemOutcome::Redeemed);

        // Signing out revokes a family outright, even within the grace window.
        let revoke = |family: &str| RevokeRefreshRequest {
            api_id: shop.clone(),
            family: family.to_owned(),
        };
        store
            .revoke_refresh_family(&eu, &revoke("fam_2"), NOW)
            .await
            .unwrap();
        let after_logout = store
            .redeem_refresh_token(&eu, &redeem("tok_9", "fam_2"), NOW + 1)
            .await
            .unwrap();
        assert_eq!(after_logout, RedeemOutcome::Revoked);
        let foreign_revoke = store
            .revoke_refresh_family(&no, &revoke("fam_2"), NOW)
            .await;
        assert!(matches!(foreign_revoke, Err(StoreError::WrongRegion)));

        let foreign = store
            .redeem_refresh_token(&no, &redeem("tok_4", "fam_3"), NOW)
            .await;
        assert!(matches!(foreign, Err(StoreError::WrongRegion)));

        // An authorization code knows no grace: its second use, however soon, revokes what
        // its first one started.
        let code = RedeemRefreshRequest {
            strict: true,
            ..redeem("code_1", "fam_4")
        };
        let first_use = store.redeem_refresh_token(&eu, &code, NOW).await.unwrap();
        assert_eq!(first_use, RedeemOutcome::Redeemed);
        let second_use = store
            .redeem_refresh_token(&eu, &code, NOW + 1)
            .await
            .unwrap();
        assert_eq!(second_use, RedeemOutcome::Reused);
        let issued_from_it = store
            .redeem_refresh_token(&eu, &redeem("tok_5", "fam_4"), NOW + 2)
            .await
            .unwrap();
        assert_eq!(issued_from_it, RedeemOutcome::Revoked);

        // Six recorded uses (a use of a revoked family is recorded too) and two revoked
        // families; the revocation at sign-out lasts as long as a chain could and is still kept.
        assert_eq!(store.prune_refresh_records(NOW + 2_000).await.unwrap(), 8);

        // A revoked family reaches the region's data planes, so that its access tokens die
        // too, and leaves the snapshot once none of them can be valid any more.
        let before = store.snapshot(&eu).await.unwrap().revision;
        store
            .revoke_refresh_family(&eu, &revoke("fam_9"), NOW)
            .await
            .unwrap();
        let batch = store.changes_since(&eu, before).await.unwrap();
        assert!(
            matches!(batch.changes.as_slice(), [Change::SessionRevoked { api_id, family }]
                if *api_id == shop && family == "fam_9"),
            "{:?}",
            batch.changes
        );
        assert!(
            store
                .changes_since(&no, before)
                .await
                .unwrap()
                .changes
                .is_empty()
        );
        let revoked = |snapshot: RegionSnapshot| snapshot.apis[0].revoked_sessions.clone();
        let listed = revoked(store.snapshot(&eu).await.unwrap());
        assert!(listed.contains(&"fam_9".to_owned()), "{listed:?}");
        store.prune_refresh_records(NOW + 3_700).await.unwrap();
        assert!(revoked(store.snapshot(&eu).await.unwrap()).is_empty());
        database.drop_database().await;
    }
}

#[tokio::test]
async fn names_stay_unique_across_renames_and_kinds() {
    for database in test_databases().await {
        let store = open(&database).await;
        region(&store, "eu").await;
        api(&store, "shop", "eu").await;
        api(&store, "blog", "eu").await;

        let to_shop = ApiChanges {
            name: Some("shop".to_owned()),
            ..ApiChanges::default()
        };
        assert!(matches!(
            store.update_api("blog", &to_shop, NOW).await,
            Err(StoreError::Conflict(_))
        ));
        let to_region = ApiChanges {
            name: Some("eu".to_owned()),
            ..ApiChanges::default()
        };
        assert!(matches!(
            store.update_api("blog", &to_region, NOW).await,
            Err(StoreError::InvalidName(_))
        ));
        let region_as_api = RegionChanges {
            name: Some("shop".to_owned()),
            host: None,
        };
        assert!(matches!(
            store.update_region("eu", &region_as_api, NOW).await,
            Err(StoreError::InvalidName(_))
        ));

        let away = ApiChanges {
            name: Some("market".to_owned()),
            ..ApiChanges::default()
        };
        store.update_api("shop", &away, NOW).await.unwrap();
        store.update_api("blog", &to_shop, NOW).await.unwrap();
        let names: Vec<String> = store
            .list_apis()
            .await
            .unwrap()
            .into_iter()
            .map(|api| api.name)
            .collect();
        assert_eq!(names, ["market", "shop"]);
        assert!(matches!(
            store.delete_region("eu", NOW).await,
            Err(StoreError::Conflict(_))
        ));
        database.drop_database().await;
    }
}

#[tokio::test]
async fn machine_secrets_are_stored_only_as_digests() {
    for database in test_databases().await {
        let store = open(&database).await;
        region(&store, "eu").await;
        api(&store, "shop", "eu").await;
        let new = NewServiceAccount {
            name: "billing".to_owned(),
            description: String::new(),
            roles: vec!["reader".to_owned()],
            enabled: true,
        };
        let account = store
            .create_service_account("shop", &new, NOW)
            .await
            .unwrap();
        let secret = account.client_secret.expose().to_owned();

        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, digest FROM client_secrets")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, account.secret_id);
        assert_eq!(rows[0].1, SecretDigest::of(&secret).to_hex());
        assert!(!rows[0].1.contains(&secret));

        let credential = NewNodeCredential {
            region: "eu".to_owned(),
            name: "node-1".to_owned(),
        };
        let token = store
            .create_node_credential(&credential, NOW)
            .await
            .unwrap()
            .token;
        let digests: Vec<String> = sqlx::query_scalar("SELECT digest FROM node_credentials")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(digests, [token.digest().to_hex()]);
        assert!(store.node_identity(token.expose()).await.unwrap().is_some());
        assert!(store.node_identity("rnt_wrong").await.unwrap().is_none());

        let generated = store
            .bootstrap_operator_token(None, NOW)
            .await
            .unwrap()
            .unwrap();
        let digests: Vec<String> = sqlx::query_scalar("SELECT digest FROM operator_tokens")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(digests, [generated.digest().to_hex()]);
        assert!(store.is_operator_token(generated.expose()).await.unwrap());
        // Only the first start generates one.
        assert!(
            store
                .bootstrap_operator_token(None, NOW)
                .await
                .unwrap()
                .is_none()
        );
        database.drop_database().await;
    }
}

#[tokio::test]
async fn private_keys_are_stored_encrypted() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        api(&store, "shop", "eu").await;
        let snapshot = store.snapshot(&eu).await.unwrap();
        let key = &snapshot.apis[0].signing_keys[0];
        let pkcs8 = key.private_key.expose();
        assert!(pkcs8.len() > 100);

        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE kid = $1")
                .bind(&key.kid)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(!stored.windows(pkcs8.len()).any(|window| window == pkcs8));
        // Not even the part of PKCS#8 that is the same for every P-256 key shows.
        assert!(!stored.windows(16).any(|window| window == &pkcs8[..16]));

        let refresh_key = snapshot.apis[0].refresh_token_key.expose();
        let stored: Vec<u8> = sqlx::query_scalar("SELECT refresh_token_key FROM apis")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(
            !stored
                .windows(refresh_key.len())
                .any(|window| window == refresh_key)
        );

        // Another master key cannot read the database.
        let other = MasterKey::parse(&SecretString::new(
            "//////////////////////////////////////////8=".to_owned(),
        ))
        .unwrap();
        let reopened = Store::connect(&database.url, other).await.unwrap();
        assert!(matches!(
            reopened.verify_master_key().await,
            Err(StoreError::Undecryptable)
        ));
        database.drop_database().await;
    }
}

#[tokio::test]
async fn keys_rotated_within_one_second_keep_their_order() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        api(&store, "shop", "eu").await;
        let first = store.rotate_signing_key("shop", NOW, 0).await.unwrap();
        let second = store.rotate_signing_key("shop", NOW, 0).await.unwrap();

        // Data planes sign with the last key whose time has come: the newest one.
        let snapshot = store.snapshot(&eu).await.unwrap();
        let kids: Vec<&str> = snapshot.apis[0]
            .signing_keys
            .iter()
            .map(|key| key.kid.as_str())
            .collect();
        assert_eq!(kids[1..], [first.kid.as_str(), second.kid.as_str()]);
        let listed = store.signing_keys("shop", NOW).await.unwrap();
        assert_eq!(listed[2].kid, second.kid);
        assert_eq!(
            listed[2].state,
            restapi_control_plane::store::SigningKeyState::Active
        );
        assert!(
            listed[..2]
                .iter()
                .all(|key| key.retire_at == Some(NOW + 3_600 + 60))
        );
        database.drop_database().await;
    }
}

#[tokio::test]
async fn writes_wake_long_polls_of_this_and_other_replicas() {
    for database in test_databases().await {
        // Several control planes share a database only on PostgreSQL, where the write must
        // reach the other replica through NOTIFY; on SQLite the one process hears itself.
        let writer = open(&database).await;
        let follower = match database.backend {
            "postgres" => open(&database).await,
            _ => writer.clone(),
        };
        let clock = restapi_shared::Clock::manual(NOW);
        let tasks =
            restapi_control_plane::background::spawn(&follower, &clock, 3_600, &database.url);
        let mut head = follower.subscribe_head();
        let before = *head.borrow_and_update();
        // Give the listener a moment to subscribe; a missed notification would still be caught
        // by the five-second poll, but this test is about the notification.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;

        region(&writer, "eu").await;
        tokio::time::timeout(std::time::Duration::from_secs(2), head.changed())
            .await
            .unwrap_or_else(|_| panic!("{}: no wake-up within two seconds", database.backend))
            .unwrap();
        assert!(*head.borrow() > before, "{}", database.backend);
        for task in tasks {
            task.abort();
        }
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_one_revision_each() {
    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        let before = store.refresh_head().await.unwrap();

        let writers: Vec<_> = (0..16)
            .map(|index| {
                let store = store.clone();
                tokio::spawn(async move { api(&store, &format!("api-{index}"), "eu").await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }

        let head = store.refresh_head().await.unwrap();
        assert_eq!(head, before + 16, "{}", database.backend);
        let revisions: Vec<i64> = sqlx::query_scalar(
            "SELECT revision FROM config_changes WHERE revision > $1 ORDER BY revision",
        )
        .bind(before)
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(revisions, ((before + 1)..=head).collect::<Vec<_>>());
        assert_eq!(
            store
                .changes_since(&eu, before)
                .await
                .unwrap()
                .changes
                .len(),
            16
        );
        database.drop_database().await;
    }
}

#[tokio::test]
async fn one_replica_at_a_time_orders_a_certificate_and_its_key_is_sealed() {
    for database in test_databases().await {
        let store = open(&database).await;
        region(&store, "eu").await;
        api(&store, "shop", "eu").await;
        let check = pending_domain(&store, "login.example.com").await;
        assert!(
            store
                .due_certificate_orders(NOW, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .record_domain_verified(&check, "seen", true, NOW)
                .await
                .unwrap()
        );
        let due = store.due_certificate_orders(NOW, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let order = &due[0];

        // Replica a takes the lease; b cannot until it lapses, and a lapsed lease is b's.
        let until = NOW + 600;
        assert!(
            store
                .take_order_lease(&order.id, "a", NOW, until)
                .await
                .unwrap()
        );
        assert!(
            !store
                .take_order_lease(&order.id, "b", NOW, until)
                .await
                .unwrap()
        );
        assert!(
            store
                .due_certificate_orders(NOW, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            !store
                .take_order_lease(&order.id, "b", until, until + 600)
                .await
                .unwrap()
        );
        assert!(
            store
                .take_order_lease(&order.id, "b", until + 1, until + 600)
                .await
                .unwrap()
        );

        // a lost its lease: what it records is dropped.
        let certificate = IssuedCertificate {
            chain_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_owned(),
            key_pem: SecretString::new(
                "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE \
                 KEY-----\n"
                    .to_owned(),
            ),
            expires_at: NOW + 90 * 86_400,
            renew_at: NOW + 60 * 86_400,
        };
        let now = until + 2;
        assert!(
            !store
                .record_certificate(order, "a", &certificate, "issued", now)
                .await
                .unwrap()
        );
        store
            .record_order_failed(order, "a", "refused", now + 300, now)
            .await
            .unwrap();
        let domain = store
            .domain("shop", "login.example.com", "restapi.test")
            .await
            .unwrap();
        assert_eq!(domain.status, DomainStatus::Verifying);

        // b stores it: active, renewal scheduled, the key sealed at rest.
        assert!(
            store
                .record_certificate(order, "b", &certificate, "issued", now)
                .await
                .unwrap()
        );
        let domain = store
            .domain("shop", "login.example.com", "restapi.test")
            .await
            .unwrap();
        assert_eq!(domain.status, DomainStatus::Active);
        assert_eq!(domain.certificate_expires_at, Some(certificate.expires_at));
        assert!(
            store
                .due_certificate_orders(now, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let renewals = store
            .due_certificate_orders(certificate.renew_at, 10)
            .await
            .unwrap();
        assert_eq!(renewals.len(), 1);
        assert_eq!(renewals[0].current_expires_at, Some(certificate.expires_at));

        // A domain verified while no CA was configured is ordered once one is.
        let check = pending_domain(&store, "old.example.com").await;
        assert!(
            store
                .record_domain_verified(&check, "seen", false, NOW)
                .await
                .unwrap()
        );
        let due = store.due_certificate_orders(now, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].name, "old.example.com");
        let stored: Vec<u8> = sqlx::query_scalar(
            "SELECT certificate_key FROM domains WHERE name = 'login.example.com'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(!stored.windows(12).any(|window| window == b"c2VjcmV0LWtl"));
        database.drop_database().await;
    }
}

/// Adds `domain` to API `shop`, pending its DNS proof; returns what checking it needs.
async fn pending_domain(store: &Store, domain: &str) -> DomainCheck {
    let new = NewDomain {
        domain: domain.to_owned(),
    };
    store
        .add_domain("shop", &new, "restapi.test", NOW)
        .await
        .unwrap();
    store.domain_check("shop", domain).await.unwrap()
}

#[tokio::test]
async fn a_passkey_challenge_serves_one_sign_in_and_the_counter_must_grow() {
    use restapi_shared::node::{
        PasskeyOwner, PasskeyRegisterOutcome, PasskeyRegisterRequest, PasskeySignInOutcome,
        PasskeySignInRequest,
    };

    for database in test_databases().await {
        let store = open(&database).await;
        let eu = region(&store, "eu").await;
        let no = region(&store, "no").await;
        let shop = api(&store, "shop", "eu").await;
        let register = |credential_id: &str, auto_create: bool| PasskeyRegisterRequest {
            api_id: shop.clone(),
            owner: PasskeyOwner::SignUp {
                name: "Ada".to_owned(),
                email: Some("ada@example.com".to_owned()),
                auto_create,
            },
            user_handle: format!("handle-{credential_id}"),
            credential_id: credential_id.to_owned(),
            credential: serde_json::json!({ "cred": { "counter": 0 } }),
            name: "Passkey".to_owned(),
            sign_count: 0,
            backup_eligible: true,
            backup_state: false,
        };

        // Without auto-create nothing is written; with it, a user with the default roles.
        let closed = store
            .register_passkey(&eu, &register("cred-1", false), NOW)
            .await
            .unwrap();
        assert_eq!(closed.outcome, PasskeyRegisterOutcome::NotRegistered);
        let open_answer = store
            .register_passkey(&eu, &register("cred-1", true), NOW)
            .await
            .unwrap();
        assert_eq!(open_answer.outcome, PasskeyRegisterOutcome::Registered);
        let user = open_answer.user.unwrap();
        assert_eq!(user.roles, vec!["reader".to_owned()]);
        let passkey_id = open_answer.passkey_id.unwrap();
        // The same credential again is refused, and creates no second user.
        let again = store
            .register_passkey(&eu, &register("cred-1", true), NOW)
            .await
            .unwrap();
        assert_eq!(again.outcome, PasskeyRegisterOutcome::CredentialTaken);
        assert_eq!(store.passkeys("shop", &user.id).await.unwrap().len(), 1);

        let sign_in = |challenge: &str, sign_count: u32| PasskeySignInRequest {
            api_id: shop.clone(),
            passkey_id: passkey_id.clone(),
            challenge_id: challenge.to_owned(),
            challenge_expires_at: NOW + 300,
            credential: serde_json::json!({ "cred": { "counter": sign_count } }),
            sign_count,
            backup_state: true,
        };
        let first = store
            .passkey_signed_in(&eu, &sign_in("pkc_1", 1), NOW)
            .await
            .unwrap();
        assert_eq!(first.outcome, PasskeySignInOutcome::SignedIn);
        assert_eq!(first.user.unwrap().id, user.id);
        // A replay of the same challenge, even with a counter that grew, is refused.
        let replay = store
            .passkey_signed_in(&eu, &sign_in("pkc_1", 2), NOW + 1)
            .await
            .unwrap();
        assert_eq!(replay.outcome, PasskeySignInOutcome::ChallengeUsed);
        // A counter that did not grow is refused: the authenticator may have been cloned.
        let cloned = store
            .passkey_signed_in(&eu, &sign_in("pkc_2", 1), NOW + 2)
            .await
            .unwrap();
        assert_eq!(cloned.outcome, PasskeySignInOutcome::CounterRegressed);
        let listed = store.passkeys("shop", &user.id).await.unwrap();
        assert!(listed[0].backup_state && listed[0].last_used_at == Some(NOW));

        // Another region's data plane learns nothing of the API.
        let foreign = store
            .passkey_signed_in(&no, &sign_in("pkc_3", 5), NOW)
            .await;
        assert!(
            matches!(foreign, Err(StoreError::WrongRegion)),
            "{foreign:?}"
        );
        database.drop_database().await;
    }
}
