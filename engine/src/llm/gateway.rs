//! The LLM gateway: which provider and model a call goes to, the tenant's
//! daily token quota applied before it leaves, and its tokens metered per
//! model as soon as it is answered.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OnceCell;
use trellis_host_api::capabilities::HttpPolicy;
use trellis_host_api::capabilities::llm::endpoint::{Endpoint, EndpointPolicy};
use trellis_host_api::capabilities::llm::{ChatRequest, ChatResponse, LlmError, LlmProvider, MAX_PROMPT_BYTES};

use super::settings::ProviderSetting;
use crate::quota::{Plans, QuotaExceeded, day_of};
use crate::secrets::Vault;
use crate::store::{ModelUsage, TenantStore, now_ms};

/// Where a provider setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The tenant's own, through the API: its base URL obeys the operator's
    /// HTTP policy.
    Tenant,
    /// The operator's config file, shared by every tenant and trusted.
    Operator,
}

/// A provider the operator defined, its key read from the environment.
#[derive(Clone)]
pub struct SharedProvider {
    pub name: String,
    pub setting: ProviderSetting,
    pub api_key: Option<String>,
}

/// Never shows the key.
impl std::fmt::Debug for SharedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedProvider")
            .field("name", &self.name)
            .field("setting", &self.setting)
            .field("has_api_key", &self.api_key.is_some())
            .finish()
    }
}

/// The server's providers and the rules tenant providers are held to.
#[derive(Clone)]
pub struct LlmGateway {
    shared: Vec<SharedProvider>,
    http: HttpPolicy,
    timeout: Duration,
    vault: Option<Vault>,
}

impl LlmGateway {
    /// `http` is the operator's outbound policy; tenant base URLs must pass
    /// it. `vault` opens tenant keys (none in local use).
    pub fn new(shared: Vec<SharedProvider>, http: HttpPolicy, timeout: Duration, vault: Option<Vault>) -> Self {
        let http = HttpPolicy { granted_hosts: None, ..http };
        LlmGateway { shared, http, timeout, vault }
    }

    /// No shared providers and no vault: only what a tenant sets up could
    /// answer, and without a vault nothing can.
    pub fn none() -> Self {
        LlmGateway::new(Vec::new(), HttpPolicy::default(), Duration::from_secs(120), None)
    }

    /// The same gateway opening tenant keys with `vault`.
    pub fn with_vault(&self, vault: Vault) -> Self {
        LlmGateway { vault: Some(vault), ..self.clone() }
    }

    pub fn shared(&self) -> &[SharedProvider] {
        &self.shared
    }

    /// What one execution (or one agent node) calls.
    pub fn for_tenant(self: &Arc<Self>, store: TenantStore, plans: Plans) -> TenantLlm {
        TenantLlm { gateway: self.clone(), store, plans, candidates: OnceCell::new() }
    }
}

struct Candidate {
    name: String,
    source: Source,
    setting: ProviderSetting,
    sealed_key: Option<Vec<u8>>,
    api_key: Option<String>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate").field("name", &self.name).field("source", &self.source).finish_non_exhaustive()
    }
}

/// One tenant's view of the gateway. Settings are read once, at the first
/// call, so a change applies from the next execution.
pub struct TenantLlm {
    gateway: Arc<LlmGateway>,
    store: TenantStore,
    plans: Plans,
    candidates: OnceCell<Vec<Candidate>>,
}

fn unavailable(error: impl std::fmt::Display) -> LlmError {
    tracing::error!(%error, "reading LLM settings or usage failed");
    LlmError::retryable("LLM settings are unavailable right now", None)
}

/// Tokens a prompt will take, roughly: a token is about four bytes of
/// English text. Used only to keep a prompt from overrunning the quota.
fn prompt_estimate(request: &ChatRequest) -> u64 {
    let bytes: usize = request
        .messages
        .iter()
        .map(|m| m.content.len() + m.tool_calls.iter().map(|c| c.arguments.to_string().len()).sum::<usize>())
        .sum::<usize>()
        + request.tools.iter().map(|t| t.description.len() + t.parameters.to_string().len()).sum::<usize>();
    (bytes.min(MAX_PROMPT_BYTES) as u64).div_ceil(4)
}

impl TenantLlm {
    async fn candidates(&self) -> Result<&[Candidate], LlmError> {
        let candidates = self
            .candidates
            .get_or_try_init(|| async {
                let mut found = Vec::new();
                for row in self.store.llm_providers().await.map_err(unavailable)? {
                    let setting: ProviderSetting = serde_json::from_str(&row.setting).map_err(unavailable)?;
                    found.push(Candidate {
                        name: row.name,
                        source: Source::Tenant,
                        setting,
                        sealed_key: row.api_key_sealed,
                        api_key: None,
                    });
                }
                // The tenant's default first, then its others, then the
                // operator's default, then the operator's others.
                found.sort_by_key(|c| !c.setting.default);
                let mut shared: Vec<&SharedProvider> = self.gateway.shared.iter().collect();
                shared.sort_by_key(|p| !p.setting.default);
                found.extend(shared.into_iter().map(|p| Candidate {
                    name: p.name.clone(),
                    source: Source::Operator,
                    setting: p.setting.clone(),
                    sealed_key: None,
                    api_key: p.api_key.clone(),
                }));
                Ok::<_, LlmError>(found)
            })
            .await?;
        Ok(candidates)
    }

    /// The provider and model a call goes to.
    fn route<'a>(candidates: &'a [Candidate], model: Option<&str>) -> Result<(&'a Candidate, String), LlmError> {
        if candidates.is_empty() {
            return Err(LlmError::permanent(
                "no LLM provider is set up for this tenant; an admin adds one with PUT /v1/llm/providers/{name}",
            ));
        }
        match model {
            None => Ok((&candidates[0], candidates[0].setting.default_model.clone())),
            Some(model) => match candidates.iter().find(|c| c.setting.serves(model)) {
                Some(candidate) => Ok((candidate, model.to_owned())),
                None => {
                    let mut allowed: Vec<&str> = candidates
                        .iter()
                        .flat_map(|c| std::iter::once(&c.setting.default_model).chain(&c.setting.allowed_models))
                        .map(String::as_str)
                        .collect();
                    allowed.dedup();
                    Err(LlmError::permanent(format!(
                        "model `{model}` is not allowed for this tenant; allowed: {}",
                        allowed.join(", ")
                    )))
                }
            },
        }
    }

    async fn endpoint(&self, candidate: &Candidate) -> Result<(Endpoint, EndpointPolicy), LlmError> {
        let api_key = match (&candidate.api_key, &candidate.sealed_key) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(sealed)) => {
                let vault =
                    self.gateway.vault.as_ref().ok_or_else(|| LlmError::permanent("no vault to open API keys"))?;
                Some(vault.open_llm_key(&self.store, &candidate.name, sealed).await.map_err(unavailable)?)
            }
            (None, None) => None,
        };
        let endpoint = Endpoint { kind: candidate.setting.kind, base_url: candidate.setting.base_url(), api_key };
        let policy = EndpointPolicy {
            http: (candidate.source == Source::Tenant).then(|| self.gateway.http.clone()),
            timeout: self.gateway.timeout,
            ..EndpointPolicy::default()
        };
        Ok((endpoint, policy))
    }

    /// The answer's token cap: the call's own (or the provider's default),
    /// never more than what today's quota leaves after the prompt.
    async fn cap(&self, request: &ChatRequest, setting: &ProviderSetting) -> Result<u32, LlmError> {
        let plan = self.plans.plan(&self.store).await.map_err(unavailable)?;
        let day = day_of(now_ms());
        let used =
            self.store.usage(&day, &day).await.map_err(unavailable)?.first().map_or(0, |(_, usage)| usage.llm_tokens);
        let limit = plan.llm_tokens_per_day;
        if used >= limit {
            return Err(LlmError::quota(QuotaExceeded { quota: "llm_tokens_per_day", limit, used }.to_string()));
        }
        let left = limit - used;
        let prompt = prompt_estimate(request);
        if prompt >= left {
            return Err(LlmError::quota(format!(
                "quota `llm_tokens_per_day`: the prompt needs about {prompt} tokens and {left} are left today (limit {limit})"
            )));
        }
        let wanted = request.max_tokens.unwrap_or(setting.max_tokens);
        Ok(wanted.min(u32::try_from(left - prompt).unwrap_or(u32::MAX)).max(1))
    }
}

#[async_trait]
impl LlmProvider for TenantLlm {
    async fn chat(&self, mut request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let candidates = self.candidates().await?;
        let (candidate, model) = Self::route(candidates, request.model.as_deref())?;
        request.max_tokens = Some(self.cap(&request, &candidate.setting).await?);
        let (endpoint, policy) = self.endpoint(candidate).await?;
        let mut response = endpoint.chat(&policy, &model, &request).await?;
        response.provider = candidate.name.clone();
        let call = ModelUsage {
            day: day_of(now_ms()),
            provider: candidate.name.clone(),
            model,
            calls: 1,
            prompt_tokens: u64::from(response.usage.prompt_tokens),
            completion_tokens: u64::from(response.usage.completion_tokens),
        };
        if let Err(error) = self.store.add_llm_usage(&call.day, &call).await {
            tracing::error!(%error, "metering LLM tokens failed");
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use trellis_host_api::capabilities::llm::endpoint::ProviderKind;

    use super::*;

    fn candidate(name: &str, default_model: &str, allowed: &[&str]) -> Candidate {
        Candidate {
            name: name.to_owned(),
            source: Source::Tenant,
            setting: ProviderSetting {
                kind: ProviderKind::Openai,
                base_url: None,
                default_model: default_model.to_owned(),
                allowed_models: allowed.iter().map(|m| (*m).to_owned()).collect(),
                max_tokens: 100,
                default: false,
            },
            sealed_key: None,
            api_key: None,
        }
    }

    #[test]
    fn the_model_picks_the_provider_and_unknown_models_are_named() {
        let candidates = [candidate("openai", "gpt-4o-mini", &["gpt-4o"]), candidate("anthropic", "claude", &[])];
        let (c, model) = TenantLlm::route(&candidates, None).unwrap();
        assert_eq!((c.name.as_str(), model.as_str()), ("openai", "gpt-4o-mini"));
        let (c, _) = TenantLlm::route(&candidates, Some("claude")).unwrap();
        assert_eq!(c.name, "anthropic");
        let err = TenantLlm::route(&candidates, Some("gpt-5")).unwrap_err();
        assert!(
            err.message.contains("`gpt-5` is not allowed") && err.message.contains("gpt-4o, claude"),
            "{}",
            err.message
        );
        assert!(TenantLlm::route(&[], None).unwrap_err().message.contains("no LLM provider"));
    }
}
