//! The registry keeps times as milliseconds since the epoch and answers
//! them as RFC 3339 strings in UTC (`2026-12-07T03:04:05.123Z`), as the
//! tenant API does. Reading accepts either form, so a server pulling from a
//! registry that still answers milliseconds keeps working.

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Either {
    Millis(i64),
    Text(String),
}

fn text(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

fn millis<E: serde::de::Error>(either: Either) -> Result<i64, E> {
    match either {
        Either::Millis(ms) => Ok(ms),
        Either::Text(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|at| at.timestamp_millis())
            .map_err(|e| E::custom(format!("`{text}` is not an RFC 3339 time: {e}"))),
    }
}

/// A required time.
pub mod required {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&text(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        millis(Either::deserialize(deserializer)?)
    }
}

/// A time that may be absent (`null`).
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => serializer.serialize_str(&text(*ms)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        Option::<Either>::deserialize(deserializer)?.map(millis).transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        #[serde(with = "super::required")]
        at: i64,
        #[serde(with = "super::optional", default)]
        until: Option<i64>,
    }

    #[test]
    fn times_are_written_as_rfc3339_and_read_in_either_form() {
        let record = Record { at: 1_796_612_645_123, until: None };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(text, r#"{"at":"2026-12-07T03:04:05.123Z","until":null}"#);
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        let old: Record = serde_json::from_str(r#"{"at":1796612645123,"until":5}"#).unwrap();
        assert_eq!(old, Record { at: 1_796_612_645_123, until: Some(5) });
        assert!(serde_json::from_str::<Record>(r#"{"at":"yesterday"}"#).is_err());
    }
}
