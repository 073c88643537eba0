//! Small helpers shared by the adapters: strict JSON bodies, timestamps, fresh ids and tokens.

use axum::body::Bytes;
use orrery_kernel::{Time, Uuid};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Service};

/// Parses a JSON body into `T`, answering malformed JSON, wrong types and unknown fields
/// (with `deny_unknown_fields` on `T`) with 400 in `service`'s body.
pub fn parse_json<T: DeserializeOwned>(service: Service, body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(service, "The request body is empty; a JSON object is required."));
    }
    serde_json::from_slice(body).map_err(|e| {
        let kind = if e.is_syntax() || e.is_eof() { "Malformed request body" } else { "Invalid input for field/attribute" };
        ApiError::bad_request(service, format!("{kind}: {e}"))
    })
}

/// A JSON response serialized into a buffer sized up front, for large listings: it avoids
/// the repeated regrowth and copying of axum's `Json` (which starts at 128 bytes).
pub struct SizedJson<T>(pub T, pub usize);

impl<T: serde::Serialize> axum::response::IntoResponse for SizedJson<T> {
    fn into_response(self) -> axum::response::Response {
        let mut buf = Vec::with_capacity(self.1.max(128));
        match serde_json::to_writer(&mut buf, &self.0) {
            Ok(()) => ([(axum::http::header::CONTENT_TYPE, "application/json")], buf).into_response(),
            Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("response serialization failed: {e}")).into_response(),
        }
    }
}

/// Formats kernel time as ISO 8601 UTC with seconds, like `2026-11-22T10:04:05Z`.
pub fn iso(t: Time) -> String {
    let (y, mo, d, h, mi, s) = civil(t.as_secs());
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Formats kernel time as ISO 8601 with microseconds and no zone, like Nova's action log.
pub fn iso_micros(t: Time) -> String {
    let (y, mo, d, h, mi, s) = civil(t.as_secs());
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}", t.0 % 1_000_000)
}

/// Splits Unix seconds into (year, month, day, hour, minute, second), proleptic Gregorian.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Fresh random bytes from the operating system.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// A fresh random v4 UUID, made outside the kernel and passed in.
pub fn new_uuid() -> Uuid {
    Uuid::from_random(u128::from_le_bytes(random_bytes::<16>()))
}

/// A fresh random 256-bit token, as 64 hex digits.
pub fn new_token() -> String {
    random_bytes::<32>().iter().map(|b| format!("{b:02x}")).collect()
}

/// The version `OpenStack-API-Version` asks of `service` (its items are comma-separated
/// `service version` pairs, over one or more header lines), or `None` when no item names the
/// service. A header that is not visible ASCII, or an item for `service` that is not exactly
/// a service and a version, is `Err` with the message for a 400.
pub fn asked_version(headers: &axum::http::HeaderMap, service: &str) -> Result<Option<String>, String> {
    for value in headers.get_all("openstack-api-version") {
        let text = value.to_str().map_err(|_| "OpenStack-API-Version is not valid: it holds bytes that are not visible ASCII.".to_string())?;
        for item in text.split(',') {
            let words: Vec<&str> = item.split_whitespace().collect();
            match words.as_slice() {
                [s, v] if s.eq_ignore_ascii_case(service) => return Ok(Some((*v).to_string())),
                [s, ..] if s.eq_ignore_ascii_case(service) => {
                    return Err(format!("OpenStack-API-Version item '{}' is not valid: it must be '{service} X.Y' or '{service} latest'.", item.trim()))
                }
                _ => {}
            }
        }
    }
    Ok(None)
}

/// For `Option<Option<T>>` body fields: `Some(None)` for an explicit `null`, `None` (with
/// `#[serde(default)]`) for an absent field, so an update can tell "clear" from "leave".
pub fn nullable<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Nova's `parameter_types.boolean` for a body field: a JSON boolean, or one of Nova's
/// boolean strings (`"True"`, `"false"`, `"1"`, `"on"`, `"yes"`, …; see
/// [`parse_bool`](crate::compute::servers::query::parse_bool)). For `Option<bool>` fields:
/// `#[serde(default, deserialize_with = "crate::util::nova_bool")]`.
pub fn nova_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match <Option<B> as serde::Deserialize>::deserialize(d)? {
        None => Ok(None),
        Some(B::Bool(b)) => Ok(Some(b)),
        Some(B::Text(t)) => crate::compute::servers::query::parse_bool("boolean", &t).map(Some).map_err(|e| serde::de::Error::custom(e.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_formats_known_instants() {
        assert_eq!(iso(Time::from_secs(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso(Time::from_secs(1_795_000_000)), "2026-11-18T11:06:40Z");
        assert_eq!(iso(Time::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso_micros(Time(1_500_000)), "1970-01-01T00:00:01.500000");
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn nova_booleans_take_json_booleans_and_novas_strings() {
        #[derive(serde::Deserialize)]
        struct F {
            #[serde(default, deserialize_with = "nova_bool")]
            b: Option<bool>,
        }
        let b = |j: &str| serde_json::from_str::<F>(j).map(|f| f.b);
        assert_eq!(b(r#"{"b": true}"#).unwrap(), Some(true));
        assert_eq!(b(r#"{"b": "True"}"#).unwrap(), Some(true));
        assert_eq!(b(r#"{"b": "off"}"#).unwrap(), Some(false));
        assert_eq!(b(r#"{}"#).unwrap(), None);
        assert_eq!(b(r#"{"b": null}"#).unwrap(), None);
        assert!(b(r#"{"b": "maybe"}"#).unwrap_err().to_string().contains("not a valid boolean"));
        assert!(b(r#"{"b": 1}"#).is_err());
    }
}
