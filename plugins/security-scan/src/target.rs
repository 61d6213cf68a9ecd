//! The site a scanner node is pointed at.

use trellis_plugin_sdk::NodeError;

/// A host (with an optional port and path), from `acme.dev`,
/// `https://acme.dev/app` or `127.0.0.1:8080`.
pub struct Target {
    pub host: String,
    /// `host[:port]`.
    pub authority: String,
    /// Starts with `/`.
    pub path: String,
    /// The scheme the config named, if it named one.
    pub scheme: Option<String>,
}

impl Target {
    pub fn parse(field: &str, text: &str) -> Result<Target, NodeError> {
        let bad = |why: &str| NodeError::InvalidConfig(format!("config.{field}: `{text}` {why}"));
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                if scheme != "http" && scheme != "https" {
                    return Err(bad("must be an http or https URL or a host name"));
                }
                (Some(scheme), rest)
            }
            None => (None, text),
        };
        let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(cut);
        if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
            return Err(bad("has no usable host"));
        }
        let host = crate::fetch::host(&format!("http://{authority}")).to_ascii_lowercase();
        let path = match path.split('#').next().unwrap_or("") {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Target { host, authority: authority.to_owned(), path, scheme })
    }

    /// The target's URL over `scheme`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}{}", self.authority, self.path)
    }

    /// The URL with the scheme the config named (HTTPS when it named none).
    pub fn preferred(&self) -> String {
        self.url(self.scheme.as_deref().unwrap_or("https"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_hosts_and_urls() {
        let t = Target::parse("url", "https://Acme.dev/app?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.path.as_str(), t.url("http").as_str()),
            ("acme.dev", "/app?x=1", "http://Acme.dev/app?x=1")
        );
        let t = Target::parse("url", "127.0.0.1:8080").unwrap();
        assert_eq!((t.host.as_str(), t.preferred().as_str()), ("127.0.0.1", "https://127.0.0.1:8080/"));
        assert!(Target::parse("url", "ftp://acme.dev").is_err());
        assert!(Target::parse("url", "https://user@acme.dev").is_err());
        assert!(Target::parse("url", "").is_err());
    }
}
