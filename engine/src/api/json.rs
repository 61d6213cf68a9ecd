//! JSON answers of the tenant API. Records keep times as milliseconds since
//! the epoch (that is how the store compares and orders them); answers give
//! them as RFC 3339 strings (`2026-12-07T03:04:05.123Z`), which people and
//! every JSON client read without a conversion. User data inside a record
//! (inputs, outputs, configs, documents) is never touched.

use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A JSON answer whose record times are RFC 3339 strings.
pub struct Json<T = Value>(pub T);

impl IntoResponse for Json<Value> {
    fn into_response(self) -> Response {
        let Json(mut value) = self;
        timestamps_as_rfc3339(&mut value);
        axum::Json(value).into_response()
    }
}

/// Fields that hold a record's times.
const TIMES: &[&str] = &[
    "at",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "wake_at",
    "expires_at",
    "revoked_at",
    "next_fire_at",
    "installed_at",
];

/// Fields whose values are the tenant's own data, left as they are.
const USER_DATA: &[&str] = &["input", "output", "emits", "config", "document", "signal", "data", "body", "details"];

/// Rewrites every record time inside `value` (an integer of milliseconds
/// under one of [`TIMES`]) as an RFC 3339 string in UTC.
pub fn timestamps_as_rfc3339(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if USER_DATA.contains(&key.as_str()) {
                    continue;
                }
                if TIMES.contains(&key.as_str())
                    && let Some(text) = field.as_i64().and_then(rfc3339)
                {
                    *field = Value::String(text);
                } else {
                    timestamps_as_rfc3339(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(timestamps_as_rfc3339),
        _ => {}
    }
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds, in UTC.
pub fn rfc3339(ms: i64) -> Option<String> {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn record_times_become_rfc3339_and_user_data_stays() {
        let mut answer = json!({
            "run": {"created_at": 1_796_612_645_123_i64, "finished_at": null,
                "input": {"created_at": 5}, "output": {"at": 7}},
            "nodes": [{"wake_at": 0, "history": [{"finished_at": 1_796_612_645_999_i64}], "config": {"expires_at": 9}}],
            "entries": [{"at": 1_796_612_645_000_i64, "details": {"at": 3}}],
        });
        timestamps_as_rfc3339(&mut answer);
        assert_eq!(answer["run"]["created_at"], "2026-12-07T03:04:05.123Z");
        assert_eq!(answer["run"]["finished_at"], Value::Null);
        assert_eq!(answer["run"]["input"], json!({"created_at": 5}));
        assert_eq!(answer["run"]["output"], json!({"at": 7}));
        assert_eq!(answer["nodes"][0]["wake_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(answer["nodes"][0]["history"][0]["finished_at"], "2026-12-07T03:04:05.999Z");
        assert_eq!(answer["nodes"][0]["config"], json!({"expires_at": 9}));
        assert_eq!(answer["entries"][0]["at"], "2026-12-07T03:04:05.000Z");
        assert_eq!(answer["entries"][0]["details"], json!({"at": 3}));
    }
}
