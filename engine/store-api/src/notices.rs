//! What one process tells the others sharing its store: work to take, a
//! run's approval or cancel request, a run's end, and a tenant's state
//! that caches must drop. A notice only wakes or invalidates; what it is
//! about is always read back from the store, so a lost notice costs time
//! (until the next heartbeat or cache expiry), never correctness.

use serde::{Deserialize, Serialize};

use crate::TenantId;

/// The cached state a change makes stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Installed plugins and their catalog.
    Installs,
    /// Capabilities granted to installed plugins (secrets they may read).
    Grants,
    /// The tenant's plan.
    Plan,
    /// Saved workflows and their triggers (webhook targets).
    Workflows,
}

/// One notice. Serialised as JSON; every variant is far under
/// PostgreSQL's 8000-byte payload limit (ids are bounded where they are
/// made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A top-level run was recorded with no worker's lease: a worker
    /// should claim it.
    Work,
    /// A run got an approval decision or a cancel request.
    Signal { tenant: TenantId, run: String },
    /// A top-level run finished.
    Finished { tenant: TenantId, run: String },
    /// A tenant's `area` changed.
    Changed { tenant: TenantId, area: Area },
    /// Notices may have been lost (the listening connection was lost and
    /// made again): drop every cache and look for work.
    Resync,
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(TenantId::new(String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_as_tagged_json() {
        let notices = [
            Notice::Work,
            Notice::Signal { tenant: TenantId::new("t"), run: "r".into() },
            Notice::Finished { tenant: TenantId::new("t"), run: "r".into() },
            Notice::Changed { tenant: TenantId::new("t"), area: Area::Grants },
            Notice::Resync,
        ];
        for notice in notices {
            let text = serde_json::to_string(&notice).unwrap();
            assert_eq!(serde_json::from_str::<Notice>(&text).unwrap(), notice, "{text}");
        }
        let text = serde_json::to_string(&Notice::Changed { tenant: TenantId::new("t"), area: Area::Plan }).unwrap();
        assert_eq!(text, r#"{"kind":"changed","tenant":"t","area":"plan"}"#);
    }
}
