//! Users, their identities and API-specific claims, on every backend under test: resolving a
//! sign-in (linking, auto-creating, refusing), paging and search, the admin API's answers to
//! bad input, and static claims reaching a service account's token through a real data plane.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use restapi_control_plane::MasterKey;
use restapi_control_plane::store::{
    ApiChanges, NewApi, NewIdentity, NewRegion, NewUser, Store, StoreError, UserChanges,
    UserListQuery,
};
use restapi_shared::node::{
    INSTANCE_HEADER, REGION_HEADER, RESOLVE_USER_PATH, ResolveOutcome, ResolveUserRequest,
    ResolveUserResponse,
};
use restapi_shared::secret::SecretString;
use serde_json::{Value, json};

use crate::service_accounts::{provision, token_json};
use crate::support::db::{TestDatabase, test_databases};
use crate::support::stack::Stack;

/// Base64 of the bytes 0..32.
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A fixed point in time for the store's writes.
const NOW: i64 = 1_800_000_000;

/// A store with region `eu` (and `no`) and API `shop` in `eu`: roles reader and writer,
/// new users get reader. Returns the store, the two regions' ids and the API's id.
async fn shop(database: &TestDatabase) -> (Store, String, String, String) {
    let key = MasterKey::parse(&SecretString::new(MASTER_KEY.to_owned())).unwrap();
    let store = Store::connect(&database.url, key)
        .await
        .unwrap_or_else(|error| panic!("{}: connect: {error}", database.backend));
    let mut regions = Vec::new();
    for name in ["eu", "no"] {
        let new = NewRegion {
            name: name.to_owned(),
            host: format!("{name}.restapi.test"),
        };
        regions.push(store.create_region(&new, NOW).await.unwrap().id);
    }
    let new = NewApi {
        name: "shop".to_owned(),
        description: String::new(),
        region: "eu".to_owned(),
        roles: vec!["reader".to_owned(), "writer".to_owned()],
        default_roles: vec!["reader".to_owned()],
        claims: serde_json::Map::new(),
        ..NewApi::default()
    };
    let api = store.create_api(&new, NOW).await.unwrap().id;
    let [eu, no] = <[String; 2]>::try_from(regions).unwrap();
    (store, eu, no, api)
}

fn sign_in(api_id: &str, authority: &str, subject: &str) -> ResolveUserRequest {
    ResolveUserRequest {
        api_id: api_id.to_owned(),
        authority: authority.to_owned(),
        subject: subject.to_owned(),
        email: None,
        email_verified: false,
        name: None,
        auto_create: false,
    }
}

fn with_email(mut request: ResolveUserRequest, email: &str, verified: bool) -> ResolveUserRequest {
    request.email = Some(email.to_owned());
    request.email_verified = verified;
    request
}

fn new_user(name: &str, email: &str, roles: &[&str]) -> NewUser {
    NewUser {
        name: name.to_owned(),
        email: Some(email.to_owned()),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        ..NewUser::default()
    }
}

async fn user_count(store: &Store) -> usize {
    let all = UserListQuery {
        limit: Some(200),
        ..UserListQuery::default()
    };
    store.list_users("shop", &all).await.unwrap().items.len()
}

#[tokio::test]
async fn a_verified_address_links_a_pre_registered_user_and_an_unverified_one_does_not() {
    for database in test_databases().await {
        let (store, eu, _, api) = shop(&database).await;
        let head = store.refresh_head().await.unwrap();
        let ada = store
            .create_user("shop", &new_user("", "Ada@Example.com", &["writer"]), NOW)
            .await
            .unwrap();

        // Anyone can claim an address at some provider; only a verified one proves it.
        let unverified = with_email(sign_in(&api, "google", "g-1"), "ada@example.com", false);
        let answer = store.resolve_user(&eu, &unverified, NOW).await.unwrap();
        assert_eq!(answer.outcome, ResolveOutcome::NotRegistered);
        assert!(store.identities("shop", &ada.id).await.unwrap().is_empty());

        let mut verified = with_email(sign_in(&api, "google", "g-1"), "ADA@example.com", true);
        verified.name = Some("Ada Lovelace".to_owned());
        let answer = store.resolve_user(&eu, &verified, NOW).await.unwrap();
        assert_eq!(
            answer.outcome,
            ResolveOutcome::SignedIn,
            "{}",
            database.backend
        );
        let user = answer.user.unwrap();
        assert_eq!(user.id, ada.id);
        assert_eq!(user.roles, ["writer"]);
        assert_eq!(user.email.as_deref(), Some("Ada@Example.com"));
        // Pre-registered by address alone, the user takes the provider's name.
        assert_eq!(user.name, "Ada Lovelace");
        let identities = store.identities("shop", &ada.id).await.unwrap();
        assert_eq!(identities.len(), 1);
        assert_eq!(
            (
                identities[0].authority.as_str(),
                identities[0].subject.as_str()
            ),
            ("google", "g-1")
        );

        // From now on the identity alone finds the user.
        let again = store
            .resolve_user(&eu, &sign_in(&api, "google", "g-1"), NOW)
            .await
            .unwrap();
        assert_eq!(again.user.unwrap().id, ada.id);

        // Another provider vouching for the address links too; a second Google account with
        // the same address does not: the user has a Google identity already.
        let microsoft = with_email(sign_in(&api, "microsoft", "m-1"), "ada@example.com", true);
        let answer = store.resolve_user(&eu, &microsoft, NOW).await.unwrap();
        assert_eq!(answer.user.unwrap().id, ada.id);
        let second_google = with_email(sign_in(&api, "google", "g-2"), "ada@example.com", true);
        let answer = store.resolve_user(&eu, &second_google, NOW).await.unwrap();
        assert_eq!(answer.outcome, ResolveOutcome::NotRegistered);
        assert_eq!(store.identities("shop", &ada.id).await.unwrap().len(), 2);

        // Users are not configuration: nothing of this moved the revision.
        assert_eq!(store.refresh_head().await.unwrap(), head);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn auto_create_gives_default_roles_and_without_it_nothing_is_created() {
    for database in test_databases().await {
        let (store, eu, no, api) = shop(&database).await;
        let mut request = with_email(sign_in(&api, "google", "g-7"), "grace@example.com", true);
        request.name = Some("Grace Hopper".to_owned());

        let answer = store.resolve_user(&eu, &request, NOW).await.unwrap();
        assert_eq!(answer.outcome, ResolveOutcome::NotRegistered);
        assert!(answer.user.is_none());
        assert_eq!(user_count(&store).await, 0, "{}", database.backend);

        request.auto_create = true;
        let created = store.resolve_user(&eu, &request, NOW).await.unwrap();
        assert_eq!(created.outcome, ResolveOutcome::SignedIn);
        let user = created.user.unwrap();
        assert_eq!(user.roles, ["reader"]);
        assert_eq!(user.name, "Grace Hopper");
        assert_eq!(user.email.as_deref(), Some("grace@example.com"));
        assert!(user.attributes.is_empty());
        let again = store.resolve_user(&eu, &request, NOW).await.unwrap();
        assert_eq!(again.user.unwrap().id, user.id);
        assert_eq!(user_count(&store).await, 1);

        // An unverified address another user holds is not copied onto the new user.
        let mut other = with_email(sign_in(&api, "github", "h-1"), "grace@example.com", false);
        other.auto_create = true;
        let answer = store.resolve_user(&eu, &other, NOW).await.unwrap();
        let stranger = answer.user.unwrap();
        assert_ne!(stranger.id, user.id);
        assert_eq!(stranger.email, None);

        // A node of another region cannot sign anyone in to this API.
        assert!(matches!(
            store.resolve_user(&no, &request, NOW).await,
            Err(StoreError::WrongRegion)
        ));
        // Deleting a user unlinks their identities.
        store.delete_user("shop", &user.id).await.unwrap();
        request.auto_create = false;
        let answer = store.resolve_user(&eu, &request, NOW).await.unwrap();
        assert_eq!(answer.outcome, ResolveOutcome::NotRegistered);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_first_sign_ins_of_one_person_create_one_user() {
    for database in test_databases().await {
        let (store, eu, _, api) = shop(&database).await;
        let mut request = with_email(sign_in(&api, "google", "g-9"), "kim@example.com", true);
        request.auto_create = true;

        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (store, eu, request) = (store.clone(), eu.clone(), request.clone());
                tokio::spawn(async move { store.resolve_user(&eu, &request, NOW).await })
            })
            .collect();
        let mut ids = Vec::new();
        for attempt in attempts {
            let answer = attempt.await.unwrap().unwrap();
            assert_eq!(
                answer.outcome,
                ResolveOutcome::SignedIn,
                "{}",
                database.backend
            );
            ids.push(answer.user.unwrap().id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{}: {ids:?}", database.backend);
        assert_eq!(user_count(&store).await, 1);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in() {
    for database in test_databases().await {
        let (store, eu, _, api) = shop(&database).await;
        let mut new = new_user("Eve", "eve@example.com", &[]);
        new.disabled = true;
        let eve = store.create_user("shop", &new, NOW).await.unwrap();
        let identity = NewIdentity {
            authority: "google".to_owned(),
            subject: "g-eve".to_owned(),
            email: None,
        };
        store
            .link_identity("shop", &eve.id, &identity, NOW)
            .await
            .unwrap();

        let request = sign_in(&api, "google", "g-eve");
        let answer = store.resolve_user(&eu, &request, NOW).await.unwrap();
        assert_eq!(
            answer.outcome,
            ResolveOutcome::Disabled,
            "{}",
            database.backend
        );
        assert!(answer.user.is_none());
        // Not by her verified address either.
        let by_email = with_email(sign_in(&api, "microsoft", "m-eve"), "eve@example.com", true);
        let answer = store.resolve_user(&eu, &by_email, NOW).await.unwrap();
        assert_eq!(answer.outcome, ResolveOutcome::Disabled);

        let enable = UserChanges {
            disabled: Some(false),
            ..UserChanges::default()
        };
        store
            .update_user("shop", &eve.id, &enable, NOW)
            .await
            .unwrap();
        let answer = store.resolve_user(&eu, &request, NOW).await.unwrap();
        assert_eq!(answer.outcome, ResolveOutcome::SignedIn);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn an_identity_belongs_to_one_user() {
    for database in test_databases().await {
        let (store, _, _, _) = shop(&database).await;
        let ada = store
            .create_user("shop", &new_user("Ada", "ada@example.com", &[]), NOW)
            .await
            .unwrap();
        let bob = store
            .create_user("shop", &new_user("Bob", "bob@example.com", &[]), NOW)
            .await
            .unwrap();
        let identity = NewIdentity {
            authority: "google".to_owned(),
            subject: "g-1".to_owned(),
            email: Some("ada@example.com".to_owned()),
        };
        let linked = store
            .link_identity("shop", &ada.id, &identity, NOW)
            .await
            .unwrap();
        assert!(matches!(
            store.link_identity("shop", &bob.id, &identity, NOW).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.identities("shop", &bob.id).await.unwrap().is_empty());

        assert!(matches!(
            store.unlink_identity("shop", &bob.id, &linked.id).await,
            Err(StoreError::NotFound(_))
        ));
        store
            .unlink_identity("shop", &ada.id, &linked.id)
            .await
            .unwrap();
        store
            .link_identity("shop", &bob.id, &identity, NOW)
            .await
            .unwrap();
        assert_eq!(store.identities("shop", &bob.id).await.unwrap().len(), 1);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn users_come_in_pages_in_creation_order_and_are_found_by_email() {
    for database in test_databases().await {
        let (store, _, _, _) = shop(&database).await;
        let mut created = Vec::new();
        for index in 0..5 {
            // Two users share each second, so ties are broken by id.
            let new = new_user(
                &format!("user {index}"),
                &format!("User{index}@Example.com"),
                &[],
            );
            let user = store
                .create_user("shop", &new, NOW + index / 2)
                .await
                .unwrap();
            created.push(user.id);
        }

        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let query = UserListQuery {
                limit: Some(2),
                cursor: cursor.clone(),
                email: None,
            };
            let page = store.list_users("shop", &query).await.unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items.into_iter().map(|user| user.id));
            pages += 1;
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(pages, 3, "{}", database.backend);
        let mut expected = created.clone();
        expected.sort_by_key(|id| {
            let index = created.iter().position(|other| other == id).unwrap() as i64;
            (index / 2, id.clone())
        });
        assert_eq!(seen, expected);

        let query = UserListQuery {
            email: Some("USER3@example.COM".to_owned()),
            ..UserListQuery::default()
        };
        let found = store.list_users("shop", &query).await.unwrap();
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].id, created[3]);
        assert_eq!(found.items[0].email.as_deref(), Some("User3@Example.com"));
        assert!(found.next_cursor.is_none());

        for bad in [
            UserListQuery {
                limit: Some(0),
                ..UserListQuery::default()
            },
            UserListQuery {
                limit: Some(201),
                ..UserListQuery::default()
            },
            UserListQuery {
                cursor: Some("not-a-cursor".to_owned()),
                ..UserListQuery::default()
            },
        ] {
            assert!(matches!(
                store.list_users("shop", &bad).await,
                Err(StoreError::InvalidField(_))
            ));
        }
        database.drop_database().await;
    }
}

#[tokio::test]
async fn a_role_held_by_a_user_cannot_be_removed_from_the_api() {
    for database in test_databases().await {
        let (store, _, _, _) = shop(&database).await;
        let changes = ApiChanges {
            roles: Some(vec![
                "reader".to_owned(),
                "writer".to_owned(),
                "axb".to_owned(),
                "a_b".to_owned(),
            ]),
            ..ApiChanges::default()
        };
        store.update_api("shop", &changes, NOW).await.unwrap();
        let ada = store
            .create_user(
                "shop",
                &new_user("Ada", "ada@example.com", &["writer", "axb"]),
                NOW,
            )
            .await
            .unwrap();

        let without_writer = ApiChanges {
            roles: Some(vec![
                "reader".to_owned(),
                "axb".to_owned(),
                "a_b".to_owned(),
            ]),
            ..ApiChanges::default()
        };
        let Err(StoreError::Conflict(message)) =
            store.update_api("shop", &without_writer, NOW).await
        else {
            panic!("{}: removing a held role must conflict", database.backend);
        };
        assert!(
            message.contains("writer") && message.contains(&ada.id),
            "{message}"
        );

        // `a_b` is held by nobody, though LIKE's `_` would match the `axb` Ada holds.
        let without_a_b = ApiChanges {
            roles: Some(vec![
                "reader".to_owned(),
                "writer".to_owned(),
                "axb".to_owned(),
            ]),
            ..ApiChanges::default()
        };
        store.update_api("shop", &without_a_b, NOW).await.unwrap();

        let demote = UserChanges {
            roles: Some(vec!["reader".to_owned()]),
            ..UserChanges::default()
        };
        store
            .update_user("shop", &ada.id, &demote, NOW)
            .await
            .unwrap();
        store
            .update_api("shop", &without_writer, NOW)
            .await
            .unwrap();
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_json_error_and_changes_nothing() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        stack
            .create("/v1/regions", json!({ "name": "eu", "host": "eu.test" }))
            .await;
        stack
            .create(
                "/v1/apis",
                json!({ "name": "shop", "region": "eu", "roles": ["reader"],
                        "claims": { "tenant": "acme" } }),
            )
            .await;
        let ada = stack
            .create(
                "/v1/apis/shop/users",
                json!({ "name": "Ada", "email": "Ada@Example.com", "roles": ["reader"],
                        "attributes": { "team": "engines" } }),
            )
            .await;
        assert_eq!(ada["attributes"]["team"], "engines");
        assert_eq!(ada["disabled"], false);
        let users = "/v1/apis/shop/users";
        let ada_path = format!("{users}/{}", ada["id"].as_str().unwrap());
        let head = stack.control.store().refresh_head().await.unwrap();

        let cases = [
            (
                Method::POST,
                users,
                json!({ "name": "x", "email": "not-an-address" }),
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "not-an-address",
            ),
            (
                Method::POST,
                users,
                json!({ "name": "x", "email": "x@example.com",
                                          "roles": ["owner"] }),
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "owner",
            ),
            (
                Method::POST,
                users,
                json!({ "name": "x", "email": "ADA@example.com" }),
                StatusCode::CONFLICT,
                "conflict",
                "ADA@example.com",
            ),
            (
                Method::POST,
                users,
                json!({ "name": "x", "attributes": [1, 2] }),
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "expected a map",
            ),
            (
                Method::PATCH,
                ada_path.as_str(),
                json!({ "roles": ["_EVERYONE"] }),
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "_EVERYONE",
            ),
            (
                Method::PATCH,
                ada_path.as_str(),
                json!({ "email": "ada@" }),
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "ada@",
            ),
            (
                Method::PATCH,
                "/v1/apis/shop",
                json!({ "claims": { "sub": "admin" } }),
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "sub",
            ),
            (
                Method::POST,
                "/v1/apis",
                json!({ "name": "blog", "region": "eu",
                                              "claims": { "roles": ["admin"] } }),
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "roles",
            ),
            (
                Method::PATCH,
                "/v1/apis/shop",
                json!({ "claims": "tenant=acme" }),
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "expected a map",
            ),
        ];
        for (method, path, body, status, code, mentioned) in cases {
            let (actual, answer) = stack
                .admin_request(method.clone(), path, Some(body.clone()))
                .await;
            assert_eq!(actual, status, "{method} {path} {body}: {answer}");
            assert_eq!(answer["error"], code, "{answer}");
            let message = answer["message"].as_str().unwrap();
            assert!(message.contains(mentioned), "{message}");
        }

        // Malformed JSON, on a create and on a change.
        for (method, path) in [(Method::POST, users), (Method::PATCH, ada_path.as_str())] {
            let response = stack
                .admin
                .request(method, format!("{}{path}", stack.control_url))
                .header("content-type", "application/json")
                .body("{\"name\": ")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer["error"], "invalid_body");
        }

        // Nothing changed: one user as created, the API's claims, the revision.
        let (_, page) = stack.admin_request(Method::GET, users, None).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0], ada);
        assert_eq!(page["nextCursor"], Value::Null);
        let (_, api) = stack
            .admin_request(Method::GET, "/v1/apis/shop", None)
            .await;
        assert_eq!(api["claims"], json!({ "tenant": "acme" }));
        assert_eq!(api["roles"], json!(["reader"]));
        assert_eq!(stack.control.store().refresh_head().await.unwrap(), head);
        let (status, _) = stack
            .admin_request(Method::GET, "/v1/apis/blog", None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_claims_reach_a_service_account_token_through_a_data_plane() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        let claims = json!({ "tenant": "acme", "features": ["export"], "limits": { "rps": 5 } });
        let (status, api) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/shop",
                Some(json!({ "claims": claims })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{api}");
        assert_eq!(api["claims"], claims);
        assert_eq!(
            api["builtInRoles"],
            json!(["_EVERYONE", "_AUTHENTICATED_USER", "_CREATOR"])
        );
        stack.wait_for_push(&plane).await;

        let client = plane.client(&plane.hosts("shop").each_ref().map(String::as_str));
        let (status, body) = token_json(
            &client,
            &plane.app_base("shop"),
            json!({ "grant_type": "client_credentials", "client_id": account.client_id,
                    "client_secret": account.client_secret }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let payload = body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap();
        let token: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(token["tenant"], "acme", "{}: {token}", database.backend);
        assert_eq!(token["features"], json!(["export"]));
        assert_eq!(token["limits"]["rps"], 5);
        assert_eq!(token["sub"], account.account_id.as_str());
        assert_eq!(token["roles"], json!(["reader"]));
        // Built-in roles are for access rules, not tokens.
        assert!(!token.to_string().contains("_EVERYONE"));
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_api_resolves_users_only_for_its_own_region() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        for (name, host) in [("eu", "eu.test"), ("no", "no.test")] {
            stack
                .create("/v1/regions", json!({ "name": name, "host": host }))
                .await;
        }
        let api = stack
            .create(
                "/v1/apis",
                json!({ "name": "shop", "region": "eu", "roles": ["reader"],
                        "defaultRoles": ["reader"] }),
            )
            .await;
        let api_id = api["id"].as_str().unwrap();

        let mut request = sign_in(api_id, "google", "g-42");
        request.email = Some("lin@example.com".to_owned());
        request.email_verified = true;
        request.name = Some("Lin".to_owned());
        request.auto_create = true;
        let (status, answer) = resolve_as(&stack, "eu", &request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["outcome"], "signedIn");
        let typed: ResolveUserResponse = serde_json::from_value(answer.clone()).unwrap();
        let user = typed.user.unwrap();
        assert_eq!(
            (user.name.as_str(), user.roles.as_slice()),
            ("Lin", &["reader".to_owned()][..])
        );

        let (status, listed) = stack
            .admin_request(
                Method::GET,
                &format!("/v1/apis/shop/users/{}/identities", user.id),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed[0]["authority"], "google");
        assert_eq!(listed[0]["subject"], "g-42");

        request.subject = "g-43".to_owned();
        request.email = None;
        request.auto_create = false;
        let (_, answer) = resolve_as(&stack, "eu", &request).await;
        assert_eq!(answer, json!({ "outcome": "notRegistered" }));

        let (status, answer) = resolve_as(&stack, "no", &request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_eq!(answer["error"], "wrong_region");
        database.drop_database().await;
    }
}

/// `POST /node/v1/users/resolve` with a fresh node credential of `region`.
async fn resolve_as(
    stack: &Stack,
    region: &str,
    request: &ResolveUserRequest,
) -> (StatusCode, Value) {
    let credential = stack
        .create(
            "/v1/node-credentials",
            json!({ "region": region, "name": format!("{region}-resolver") }),
        )
        .await;
    let token = credential["token"].as_str().unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}{RESOLVE_USER_PATH}", stack.control_url))
        .bearer_auth(token)
        .header(REGION_HEADER, region)
        .header(INSTANCE_HEADER, "dp_users_test")
        .json(request)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}
