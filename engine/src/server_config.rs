//! The operator's configuration file (`trellis serve --config
//! trellis.toml`): where the server listens and keeps its data, the HTTP
//! policy every plugin runs under, how many executions run at once, the
//! ceilings of every per-node limit, and the plan tenants get unless the
//! operator gives them another. Every key is optional; an unknown key is
//! refused with its path, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use trellis_host_api::Limits;
use trellis_host_api::capabilities::HttpPolicy;

use crate::llm::settings::check_name as check_provider_name;
use crate::llm::{KeyInput, ProviderInput, SharedProvider};
use crate::quota::Plan;

/// A configuration file larger than this is refused before it is parsed.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:8080`).
    pub listen: Option<SocketAddr>,
    /// Data directory (`./trellis-data`).
    pub data_dir: Option<PathBuf>,
    /// A central registry to install plugins from.
    pub marketplace: Option<String>,
    pub http: HttpSection,
    pub execution: ExecutionSection,
    pub limits: LimitsSection,
    /// The plan of every tenant without one of its own; each key left out
    /// keeps the built-in default.
    pub plan: Plan,
    pub llm: LlmSection,
}

/// LLM providers every tenant may use, besides its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSection {
    /// A provider call's whole exchange, tenant or operator provider.
    pub request_timeout_ms: u64,
    /// Shared providers by name; each key comes from `api_key_env`.
    pub providers: std::collections::BTreeMap<String, ProviderInput>,
}

impl Default for LlmSection {
    fn default() -> Self {
        LlmSection { request_timeout_ms: 120_000, providers: Default::default() }
    }
}

impl LlmSection {
    /// The shared providers with their keys read from the environment.
    pub fn shared(&self) -> Result<Vec<SharedProvider>, (String, String)> {
        let mut shared = Vec::new();
        for (name, input) in &self.providers {
            let (setting, key) = input.clone().split();
            let api_key = match key {
                KeyInput::None => None,
                // `check` refuses keys written in the file.
                KeyInput::Value(_) => None,
                KeyInput::Env(variable) => Some(std::env::var(&variable).map_err(|_| {
                    (
                        format!("llm.providers.{name}.api_key_env"),
                        format!("environment variable `{variable}` is not set"),
                    )
                })?),
            };
            shared.push(SharedProvider { name: name.clone(), setting, api_key });
        }
        Ok(shared)
    }
}

/// Outbound HTTP of every plugin: a grant narrows it per plugin, never
/// widens it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Host patterns plugins may reach (`api.example.com`, `*.example.com`,
    /// `*`, each with an optional `:port`).
    pub allowed_hosts: Vec<String>,
    /// Let plugins reach loopback, private and link-local addresses (cloud
    /// metadata addresses stay refused).
    pub allow_private_network: bool,
    /// CIDR ranges refused on top of the built-in ones.
    pub denied_ranges: Vec<ipnet::IpNet>,
    /// Requests one node execution may make.
    pub max_requests_per_execution: u32,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    pub request_timeout_ms: u64,
    /// Routes: requests to a host go to another origin instead
    /// (`"api.stripe.com" = "http://stripe-mock.internal:12111"`).
    pub upstreams: std::collections::BTreeMap<String, String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        let policy = HttpPolicy::default();
        HttpSection {
            allowed_hosts: vec!["*".to_owned()],
            allow_private_network: false,
            denied_ranges: Vec::new(),
            max_requests_per_execution: policy.max_requests,
            max_request_bytes: policy.max_request_bytes,
            max_response_bytes: policy.max_response_bytes,
            request_timeout_ms: policy.request_timeout.as_millis() as u64,
            upstreams: policy.upstreams,
        }
    }
}

impl HttpSection {
    pub fn policy(&self) -> HttpPolicy {
        HttpPolicy {
            allowed_hosts: self.allowed_hosts.clone(),
            granted_hosts: None,
            allow_private_network: self.allow_private_network,
            denied_ranges: self.denied_ranges.clone(),
            max_requests: self.max_requests_per_execution,
            max_request_bytes: self.max_request_bytes,
            max_response_bytes: self.max_response_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            upstreams: self.upstreams.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionSection {
    /// Plugin executions at once, shared fairly between tenants.
    pub slots: usize,
    /// Sandbox instances alive at once (pooling allocator slots); at least
    /// `slots`.
    pub sandbox_instances: u32,
    /// Runs recorded by other processes (an API-only server, a worker that
    /// died) this process takes at once, when several share a database.
    pub claimed_runs: usize,
    /// How long a run stays leased to the process driving it without a
    /// heartbeat (one every third of it); after it, another process
    /// takes the run over.
    pub lease_ms: u64,
}

impl Default for ExecutionSection {
    fn default() -> Self {
        ExecutionSection { slots: 16, sandbox_instances: 64, claimed_runs: 64, lease_ms: 30_000 }
    }
}

/// Ceilings of every node's sandbox: a plan or a node asking for more gets
/// these.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    pub fuel: u64,
    pub timeout_ms: u64,
    pub memory_bytes: u64,
    pub output_bytes: usize,
    pub log_bytes: usize,
    pub log_lines: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let limits = Limits::default();
        LimitsSection {
            fuel: limits.fuel,
            timeout_ms: limits.timeout.as_millis() as u64,
            memory_bytes: limits.memory_bytes,
            output_bytes: limits.max_output_bytes,
            log_bytes: limits.max_log_bytes,
            log_lines: limits.max_log_lines,
        }
    }
}

impl LimitsSection {
    pub fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            timeout: Duration::from_millis(self.timeout_ms),
            memory_bytes: self.memory_bytes,
            max_output_bytes: self.output_bytes,
            max_log_bytes: self.log_bytes,
            max_log_lines: self.log_lines,
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is {size} bytes, over the {MAX_CONFIG_BYTES}-byte limit")]
    TooLarge { path: String, size: u64 },
    #[error("{path}: at `{at}`: {message}")]
    Invalid { path: String, at: String, message: String },
}

impl ServerConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let read = |source| ConfigError::Read { path: shown.clone(), source };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge { path: shown, size });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Self::parse(&text).map_err(|(at, message)| ConfigError::Invalid { path: shown, at, message })
    }

    /// Parses configuration text; `Err` has the key path and what is wrong.
    pub fn parse(text: &str) -> Result<Self, (String, String)> {
        let deserializer = toml::Deserializer::new(text);
        let config: ServerConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let at = e.path().to_string();
            (at, e.into_inner().message().to_owned())
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.execution.slots == 0 {
            return Err(("execution.slots".to_owned(), "must be at least 1".to_owned()));
        }
        if self.execution.lease_ms < 300 {
            return Err(("execution.lease_ms".to_owned(), "must be at least 300".to_owned()));
        }
        if self.execution.claimed_runs == 0 {
            return Err(("execution.claimed_runs".to_owned(), "must be at least 1".to_owned()));
        }
        if (self.execution.sandbox_instances as usize) < self.execution.slots {
            return Err((
                "execution.sandbox_instances".to_owned(),
                format!("must be at least execution.slots ({})", self.execution.slots),
            ));
        }
        for pattern in &self.http.allowed_hosts {
            if pattern.trim().is_empty() || pattern.contains('/') {
                return Err(("http.allowed_hosts".to_owned(), format!("`{pattern}` is not a host pattern")));
            }
        }
        for (host, origin) in &self.http.upstreams {
            if trellis_host_api::capabilities::http::parse_origin(origin).is_none() {
                return Err((
                    format!("http.upstreams.\"{host}\""),
                    format!("`{origin}` is not an http:// or https:// origin"),
                ));
            }
        }
        for (name, input) in &self.llm.providers {
            let at = |field: &str| format!("llm.providers.{name}{field}");
            check_provider_name(name).map_err(|message| (at(""), message))?;
            if input.api_key.is_some() {
                return Err((
                    at(".api_key"),
                    "keys stay out of files: name an environment variable in `api_key_env`".to_owned(),
                ));
            }
            let (setting, _) = input.clone().split();
            if let Some((field, message)) = setting.problems().into_iter().next() {
                return Err((at(&format!(".{field}")), message));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_optional_and_defaults_are_the_built_in_ones() {
        let config = ServerConfig::parse("").unwrap();
        assert_eq!(config.http.policy(), HttpPolicy { allowed_hosts: vec!["*".into()], ..HttpPolicy::default() });
        assert_eq!(config.limits.limits(), Limits::default());
        assert_eq!(config.plan, Plan::default());
        assert_eq!(config.execution.slots, 16);
    }

    #[test]
    fn a_full_file_sets_every_section() {
        let config = ServerConfig::parse(
            r#"
listen = "0.0.0.0:9000"
data_dir = "/var/lib/trellis"
[http]
allowed_hosts = ["*.example.com", "api.stripe.com:443"]
allow_private_network = true
denied_ranges = ["10.1.0.0/16", "fd00::/8"]
max_requests_per_execution = 5
[execution]
slots = 4
sandbox_instances = 8
[limits]
fuel = 1000
timeout_ms = 2000
log_lines = 10
[plan]
runs_per_day = 100
min_cron_interval_secs = 300
"#,
        )
        .unwrap();
        assert_eq!(config.listen, Some("0.0.0.0:9000".parse().unwrap()));
        let policy = config.http.policy();
        assert!(policy.allow_private_network && policy.max_requests == 5 && policy.denied_ranges.len() == 2);
        assert_eq!(config.limits.limits().timeout, Duration::from_secs(2));
        assert_eq!(config.limits.limits().max_log_lines, 10);
        assert_eq!((config.plan.runs_per_day, config.plan.min_cron_interval_secs), (100, 300));
        assert_eq!(config.plan.concurrent_runs, Plan::default().concurrent_runs);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_their_path() {
        for (text, at) in [
            ("[http]\nalowed_hosts = []", "http.alowed_hosts"),
            ("[plan]\nruns_a_day = 5", "plan.runs_a_day"),
            ("lisen = \"x\"", "lisen"),
            ("[http]\ndenied_ranges = [\"10.0.0.0/33\"]", "http.denied_ranges[0]"),
            ("[execution]\nslots = 0", "execution.slots"),
            ("[limits]\nfuel = -1", "limits.fuel"),
        ] {
            let (path, message) = ServerConfig::parse(text).unwrap_err();
            assert_eq!(path, at, "{text}: {message}");
        }
        let (_, message) = ServerConfig::parse("[http]\nalowed_hosts = []").unwrap_err();
        assert!(message.contains("alowed_hosts"), "{message}");
    }

    #[test]
    fn shared_llm_providers_take_their_keys_from_the_environment_only() {
        let provider = |extra: &str| {
            format!("[llm.providers.openai]\nkind = \"openai\"\ndefault_model = \"gpt-4o-mini\"\n{extra}")
        };
        let inline = ServerConfig::parse(&provider("api_key = \"sk-in-a-file\"")).unwrap_err();
        assert_eq!(inline.0, "llm.providers.openai.api_key");
        let typo = ServerConfig::parse(&provider("defualt = true")).unwrap_err();
        assert!(typo.1.contains("defualt"), "{typo:?}");
        let azure = ServerConfig::parse("[llm.providers.az]\nkind = \"azure_openai\"\ndefault_model = \"m\"");
        assert_eq!(azure.unwrap_err().0, "llm.providers.az.base_url");
        let bad_name = ServerConfig::parse("[llm.providers.\"Open AI\"]\nkind = \"openai\"\ndefault_model = \"m\"");
        assert_eq!(bad_name.unwrap_err().0, "llm.providers.Open AI");

        let variable = "TRELLIS_TEST_SHARED_LLM_KEY";
        let config = ServerConfig::parse(&provider(&format!("api_key_env = \"{variable}\""))).unwrap();
        let (at, message) = config.llm.shared().unwrap_err();
        assert_eq!(at, "llm.providers.openai.api_key_env");
        assert!(message.contains(variable), "{message}");
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var(variable, "sk-from-env") };
        let shared = config.llm.shared().unwrap();
        assert_eq!((shared[0].name.as_str(), shared[0].api_key.as_deref()), ("openai", Some("sk-from-env")));
        assert!(!format!("{config:?}").contains("sk-"), "the key stays out of Debug output");
    }
}
