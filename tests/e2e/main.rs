//! End-to-end tests: both planes running for real, provisioned through the admin API, used
//! through the public endpoints with independent client libraries, on SQLite and (when
//! `TEST_DATABASE_URL` is set) PostgreSQL.
//!
//! One binary with modules, so the whole suite links once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test stops at its first failure, with the value that failed"
)]

mod acme;
mod bad_input;
mod browser;
mod clients;
mod config_push;
mod deploy;
mod domains;
mod gateway;
mod lifecycle;
mod login;
mod openapi;
mod operations;
mod passkey;
mod pkce;
mod presets;
mod providers;
mod refresh;
mod service_accounts;
mod store;
mod support;
mod users;
mod web_settings;
