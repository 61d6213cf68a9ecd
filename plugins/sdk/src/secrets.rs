//! Secrets granted to this plugin in the running tenant.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::NodeError;
use crate::bindings::trellis::plugin::secrets;

/// The secret's value, or the host's reason for refusing (unknown name, or
/// not granted to this plugin).
pub fn get(name: &str) -> Result<String, String> {
    secrets::get(name)
}

/// A config field that holds the *name* of a tenant secret, never its value.
///
/// Its JSON Schema is `{"type": "string", "format": "secret-name"}`, which
/// is how an editor knows to offer the tenant's secret names there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretName(pub String);

impl SecretName {
    /// The secret's value. A refusal is `invalid-config` naming the config
    /// field (`field`) and the plugin the tenant must grant it to.
    pub fn read(&self, field: &str, plugin: &str) -> Result<String, NodeError> {
        get(&self.0).map_err(|e| {
            NodeError::InvalidConfig(format!(
                "config.{field}: secret `{}`: {e} (the tenant must store it and grant it to {plugin})",
                self.0
            ))
        })
    }
}

impl From<&str> for SecretName {
    fn from(name: &str) -> Self {
        SecretName(name.to_owned())
    }
}

impl JsonSchema for SecretName {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "SecretName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "secret-name",
            "minLength": 1,
            "maxLength": 128
        })
    }
}
