//! A grant must be a subset of what the plugin's manifest requests: each
//! host pattern covered by a requested one, each secret requested by name
//! (or by `*`, any name), kv and llm only if requested.

use trellis_host_api::capabilities::http::pattern_covers;
use trellis_marketplace::Capabilities;
use trellis_marketplace::manifest::ANY_SECRET;

use crate::store::PluginGrants;

/// The first grant found outside the request, with the field it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grants.{field}: {message}")]
pub struct GrantError {
    pub field: &'static str,
    pub message: String,
}

pub fn check_grants(plugin: &str, requested: &Capabilities, grants: &PluginGrants) -> Result<(), GrantError> {
    for host in &grants.hosts {
        if !requested.hosts.iter().any(|wanted| pattern_covers(wanted, host)) {
            return Err(GrantError {
                field: "hosts",
                message: format!("`{host}` is not among the hosts {plugin} requests ({})", listed(&requested.hosts)),
            });
        }
    }
    for secret in &grants.secrets {
        if !requested.secrets.iter().any(|wanted| wanted == secret || wanted == ANY_SECRET) {
            return Err(GrantError {
                field: "secrets",
                message: format!(
                    "`{secret}` is not among the secrets {plugin} requests ({})",
                    listed(&requested.secrets)
                ),
            });
        }
    }
    for (field, granted, wanted) in [("kv", grants.kv, requested.kv), ("llm", grants.llm, requested.llm)] {
        if granted && !wanted {
            return Err(GrantError { field, message: format!("{plugin} does not request {field}") });
        }
    }
    Ok(())
}

/// Everything the plugin requests by name: what the first-party plugins
/// are installed with. A request for any secret (`*`) grants none: the
/// tenant's admin grants each name the plugin's nodes may read.
pub fn everything_requested(requested: &Capabilities) -> PluginGrants {
    PluginGrants {
        secrets: requested.secrets.iter().filter(|name| *name != ANY_SECRET).cloned().collect(),
        hosts: requested.hosts.iter().cloned().collect(),
        kv: requested.kv,
        llm: requested.llm,
    }
}

fn listed(items: &[String]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> Capabilities {
        Capabilities {
            hosts: vec!["*.slack.com".to_owned(), "hooks.example.com:443".to_owned()],
            secrets: vec!["SLACK_TOKEN".to_owned()],
            kv: true,
            llm: false,
        }
    }

    fn grants(hosts: &[&str], secrets: &[&str], kv: bool, llm: bool) -> PluginGrants {
        PluginGrants {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            kv,
            llm,
        }
    }

    #[test]
    fn subsets_pass_and_the_first_excess_is_named() {
        let requested = requested();
        assert_eq!(check_grants("acme/slack", &requested, &everything_requested(&requested)), Ok(()));
        assert_eq!(check_grants("acme/slack", &requested, &PluginGrants::default()), Ok(()));
        let narrower = grants(&["api.slack.com", "hooks.example.com:443"], &["SLACK_TOKEN"], false, false);
        assert_eq!(check_grants("acme/slack", &requested, &narrower), Ok(()));

        let field = |g: PluginGrants| check_grants("acme/slack", &requested, &g).expect_err("refused").field;
        assert_eq!(field(grants(&["*"], &[], false, false)), "hosts");
        assert_eq!(field(grants(&["slack.com"], &[], false, false)), "hosts");
        assert_eq!(field(grants(&["hooks.example.com"], &[], false, false)), "hosts", "any port is wider");
        assert_eq!(field(grants(&[], &["AWS_KEY"], false, false)), "secrets");
        assert_eq!(field(grants(&[], &[], false, true)), "llm");
        let error = check_grants("acme/slack", &requested, &grants(&[], &["AWS_KEY"], false, false)).expect_err("x");
        assert!(error.to_string().contains("SLACK_TOKEN"), "{error}");
    }
}
