//! Conversions between column values and domain values shared by the store's modules.

use super::StoreError;

/// Role lists are stored as JSON arrays of strings.
pub(super) fn roles_to_json(roles: &[String]) -> String {
    serde_json::Value::from(roles).to_string()
}

/// Reads a role list stored by [`roles_to_json`].
pub(super) fn roles_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("role list: {error}")))
}

/// Booleans are stored as 0 and 1 (sqlx's Any driver cannot carry SQLite booleans).
pub(super) fn flag(value: bool) -> i64 {
    i64::from(value)
}
