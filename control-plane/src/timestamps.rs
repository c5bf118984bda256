//! Serialisation of unix times as RFC 3339 strings, the form the admin API shows.

use restapi_shared::clock::UnixTime;
use serde::Serializer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A unix time as RFC 3339 (`2026-12-03T17:10:20Z`); times outside the calendar's range, which
/// nothing stores, are shown as the epoch rather than failing a response.
pub fn to_rfc3339(time: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(time)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<UnixTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `serialize_with` for a unix time.
pub fn serialize<S: Serializer>(time: &UnixTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&to_rfc3339(*time))
}

/// `serialize_with` for an optional unix time.
pub fn serialize_option<S: Serializer>(
    time: &Option<UnixTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&to_rfc3339(*time)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-12-03T17:10:20Z"), Some(1_796_317_820));
        assert_eq!(
            parse_rfc3339(&to_rfc3339(1_796_317_820)),
            Some(1_796_317_820)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
