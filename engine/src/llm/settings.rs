//! Provider settings: what a tenant stores through `/v1/llm/providers` and
//! what the operator lists in the server's config file, checked in one
//! place before either is used.

use serde::{Deserialize, Serialize};
use trellis_host_api::capabilities::llm::endpoint::ProviderKind;

/// Providers one tenant may set up.
pub const MAX_PROVIDERS: usize = 20;
const MAX_NAME: usize = 64;
const MAX_MODEL: usize = 128;
const MAX_MODELS: usize = 100;
const MAX_URL: usize = 2048;
pub const MAX_API_KEY_BYTES: usize = 4096;
/// The default cap on an answer's tokens when a call sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// One provider: where it is, which models it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSetting {
    /// `openai` (OpenAI and every compatible server: Ollama, vLLM,
    /// LiteLLM), `azure_openai` or `anthropic`.
    #[schema(value_type = String, example = "openai")]
    pub kind: ProviderKind,
    /// The API's base URL; the provider's public API when left out (Azure
    /// needs its deployment URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The model used when a call names none.
    pub default_model: String,
    /// Models calls may name, besides the default one.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Tokens an answer may use when a call sets no maximum.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// The provider calls go to when the model they name does not decide.
    #[serde(default)]
    pub default: bool,
}

fn default_max_tokens() -> u32 {
    DEFAULT_MAX_TOKENS
}

impl ProviderSetting {
    /// Every problem, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| problems.push((field.to_owned(), message));
        match &self.base_url {
            Some(url) if url.len() > MAX_URL => problem("base_url", format!("is over {MAX_URL} bytes")),
            Some(url) => match url::Url::parse(url) {
                Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
                    problem("base_url", "must be an http or https URL".to_owned())
                }
                Ok(parsed) if parsed.host_str().is_none() => problem("base_url", "has no host".to_owned()),
                Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
                    problem("base_url", "must not carry credentials; set `api_key` instead".to_owned())
                }
                Ok(_) => {}
                Err(e) => problem("base_url", format!("is not a URL: {e}")),
            },
            None if self.kind.default_base_url().is_none() => {
                problem("base_url", format!("is required for `{}`", self.kind.as_str()))
            }
            None => {}
        }
        if let Err(message) = check_model(&self.default_model) {
            problem("default_model", message);
        }
        if self.allowed_models.len() > MAX_MODELS {
            problem(
                "allowed_models",
                format!("lists {} models, over the {MAX_MODELS} limit", self.allowed_models.len()),
            );
        }
        for (i, model) in self.allowed_models.iter().enumerate() {
            if let Err(message) = check_model(model) {
                problem(&format!("allowed_models[{i}]"), message);
            }
        }
        if self.max_tokens == 0 || self.max_tokens > 1_000_000 {
            problem("max_tokens", "must be 1 to 1000000".to_owned());
        }
        problems
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone().or_else(|| self.kind.default_base_url().map(str::to_owned)).unwrap_or_default()
    }

    /// Whether calls may name `model` here.
    pub fn serves(&self, model: &str) -> bool {
        self.default_model == model || self.allowed_models.iter().any(|m| m == model)
    }
}

fn check_model(model: &str) -> Result<(), String> {
    if model.is_empty() || model.len() > MAX_MODEL {
        return Err(format!("must be 1 to {MAX_MODEL} bytes"));
    }
    if model.chars().any(char::is_control) {
        return Err("must not hold control characters".to_owned());
    }
    Ok(())
}

/// A provider name: 1 to 64 of `[a-z0-9_-]`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("provider name must be 1 to {MAX_NAME} of [a-z0-9_-]")) }
}

pub fn check_api_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_API_KEY_BYTES {
        return Err(format!("must be 1 to {MAX_API_KEY_BYTES} bytes"));
    }
    if key.chars().any(char::is_control) {
        return Err("must not hold control characters".to_owned());
    }
    Ok(())
}

/// A provider setting as it arrives: through the API (with `api_key`) or
/// in the operator's config file (with `api_key_env`). The key is split
/// off at once and never stored with the setting.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    #[serde(flatten)]
    pub setting: ProviderSetting,
    /// Through the API: the key, sealed in the tenant's vault, never
    /// returned. Left out on a change, the stored key is kept.
    #[serde(default)]
    pub api_key: Option<String>,
    /// In the config file: the environment variable holding the key.
    #[serde(default)]
    #[schema(ignore)]
    pub api_key_env: Option<String>,
}

/// Never shows the key.
impl std::fmt::Debug for ProviderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderInput")
            .field("setting", &self.setting)
            .field("api_key", &self.api_key.as_ref().map(|_| "[hidden]"))
            .field("api_key_env", &self.api_key_env)
            .finish()
    }
}

impl std::fmt::Debug for KeyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyInput::None => f.write_str("None"),
            KeyInput::Value(_) => f.write_str("Value([hidden])"),
            KeyInput::Env(name) => write!(f, "Env({name})"),
        }
    }
}

/// Where a provider's key comes from.
pub enum KeyInput {
    None,
    Value(String),
    Env(String),
}

impl ProviderInput {
    pub fn split(self) -> (ProviderSetting, KeyInput) {
        let key = match (self.api_key, self.api_key_env) {
            (Some(key), _) => KeyInput::Value(key),
            (None, Some(env)) => KeyInput::Env(env),
            (None, None) => KeyInput::None,
        };
        (self.setting, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(kind: ProviderKind, base_url: Option<&str>) -> ProviderSetting {
        ProviderSetting {
            kind,
            base_url: base_url.map(str::to_owned),
            default_model: "m".into(),
            allowed_models: vec![],
            max_tokens: DEFAULT_MAX_TOKENS,
            default: false,
        }
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        assert!(setting(ProviderKind::Openai, None).problems().is_empty());
        let azure = setting(ProviderKind::AzureOpenai, None).problems();
        assert_eq!(azure[0].0, "base_url");
        let ftp = setting(ProviderKind::Openai, Some("ftp://x")).problems();
        assert!(ftp[0].1.contains("http"), "{ftp:?}");
        let creds = setting(ProviderKind::Openai, Some("https://u:p@x")).problems();
        assert!(creds[0].1.contains("credentials"), "{creds:?}");
        let mut models = setting(ProviderKind::Anthropic, None);
        models.allowed_models = vec!["ok".into(), String::new()];
        models.max_tokens = 0;
        let problems = models.problems();
        assert_eq!(problems.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["allowed_models[1]", "max_tokens"]);
        assert!(check_name("Open AI").is_err() && check_name("openai-eu").is_ok());
    }
}
