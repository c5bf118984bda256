//! Fresh databases for tests: always a SQLite file in a temporary directory, and a new
//! PostgreSQL database when `TEST_DATABASE_URL` names a server.
//!
//! With `TEST_DATABASE_URL` set, an unreachable server fails the test loudly: a suite that
//! silently skipped PostgreSQL would claim coverage it does not have.

use sqlx::{Connection, Executor, PgConnection};

/// Environment variable naming the PostgreSQL server the tests may create databases on.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A database made for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// URL to give the control plane.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// Remove this directory.
    Directory(std::path::PathBuf),
    /// Drop this database through the server URL.
    Database { server_url: String, name: String },
}

/// One fresh database per backend under test.
pub async fn test_databases() -> Vec<TestDatabase> {
    let mut databases = vec![sqlite()];
    if let Ok(server_url) = std::env::var(TEST_DATABASE_URL) {
        databases.push(postgres(&server_url).await);
    }
    databases
}

impl TestDatabase {
    /// Removes the database (the SQLite directory, or the PostgreSQL database).
    pub async fn drop_database(self) {
        match self.cleanup {
            Cleanup::Directory(directory) => {
                let _ = std::fs::remove_dir_all(directory);
            }
            Cleanup::Database { server_url, name } => {
                let mut connection = PgConnection::connect(&server_url)
                    .await
                    .unwrap_or_else(|error| panic!("{TEST_DATABASE_URL} unreachable: {error}"));
                // FORCE ends connections a control plane under test may still hold.
                connection
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .unwrap_or_else(|error| panic!("dropping test database {name}: {error}"));
            }
        }
    }
}

fn sqlite() -> TestDatabase {
    let directory = std::env::temp_dir().join(format!("restapi-test-{}", random_suffix()));
    std::fs::create_dir_all(&directory).expect("temporary directory for SQLite");
    TestDatabase {
        url: format!("sqlite://{}", directory.join("restapi.db").display()),
        backend: "sqlite",
        cleanup: Cleanup::Directory(directory),
    }
}

async fn postgres(server_url: &str) -> TestDatabase {
    let mut connection = PgConnection::connect(server_url)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "{TEST_DATABASE_URL} is set to a server that cannot be reached ({error}); \
             start PostgreSQL or unset {TEST_DATABASE_URL} to test on SQLite only"
            )
        });
    let name = format!("restapi_test_{}", random_suffix());
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|error| panic!("creating test database {name}: {error}"));
    TestDatabase {
        url: with_database(server_url, &name),
        backend: "postgres",
        cleanup: Cleanup::Database {
            server_url: server_url.to_owned(),
            name,
        },
    }
}

/// `server_url` with its database name replaced by `name`, keeping any query string.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// A lowercase hex suffix, unique enough for parallel tests.
fn random_suffix() -> String {
    restapi_shared::ids::new_id("x")
        .trim_start_matches("x_")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "other"),
            "postgres://postgres@127.0.0.1:5432/other"
        );
        assert_eq!(with_database("postgres://h", "other"), "postgres://h/other");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
