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

/// JSON objects (static claims, user attributes) are stored as their text.
pub(super) fn object_to_json(object: &serde_json::Map<String, serde_json::Value>) -> String {
    // Serialising a map of JSON values cannot fail.
    serde_json::to_string(object).unwrap_or_else(|_| "{}".to_owned())
}

/// Reads an object stored by [`object_to_json`]; `what` names it in the error.
pub(super) fn object_from_json(
    what: &str,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

/// Booleans are stored as 0 and 1 (sqlx's Any driver cannot carry SQLite booleans).
pub(super) fn flag(value: bool) -> i64 {
    i64::from(value)
}
