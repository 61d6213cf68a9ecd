//! Fetching for the scanners: redirects followed by hand (the host never
//! follows them), each hop kept, with the cookies every hop set.

use trellis_plugin_sdk::http::{HttpError, Request, Response};

/// Hops before a chain is cut off, as browsers roughly do.
pub const MAX_REDIRECTS: usize = 10;

/// One answer of a chain.
pub struct Step {
    pub url: String,
    pub response: Response,
}

/// A redirect chain: every request made, the last one final.
pub struct Chain {
    pub steps: Vec<Step>,
}

impl Chain {
    pub fn last(&self) -> &Step {
        // A chain is built with at least one step.
        &self.steps[self.steps.len() - 1]
    }

    pub fn cookies(&self) -> Vec<String> {
        self.steps
            .iter()
            .flat_map(|s| s.response.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `GET url` and every redirect after it.
pub fn follow(url: &str, headers: &[(&str, &str)], timeout_ms: u64) -> Result<Chain, HttpError> {
    let mut steps = Vec::new();
    let mut current = url.to_owned();
    loop {
        let mut request = Request::get(&current).timeout_ms(timeout_ms);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send()?;
        let location = match response.status {
            301 | 302 | 303 | 307 | 308 => response.header("location").map(|l| resolve(&current, l)),
            _ => None,
        };
        steps.push(Step { url: current.clone(), response });
        match location {
            Some(next)
                if steps.len() <= MAX_REDIRECTS && (next.starts_with("http://") || next.starts_with("https://")) =>
            {
                current = next;
            }
            _ => return Ok(Chain { steps }),
        }
    }
}

/// `scheme://authority` of a URL.
pub fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find(['/', '?', '#']).map_or(url.len(), |i| after + i);
    &url[..end]
}

/// The host of a URL, without port or credentials.
pub fn host(url: &str) -> &str {
    let origin = origin(url);
    let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h)
}

/// A `Location` against the URL it answered.
pub fn resolve(base: &str, location: &str) -> String {
    let location = location.trim();
    if location.contains("://") {
        return location.to_owned();
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split_once("://").map_or("https", |(s, _)| s);
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{}{location}", origin(base));
    }
    let path_end = base.find(['?', '#']).unwrap_or(base.len());
    let base = &base[..path_end];
    let directory = match base.rfind('/') {
        Some(i) if i >= origin(base).len() => &base[..=i],
        _ => return format!("{}/{location}", origin(base)),
    };
    format!("{directory}{location}")
}

/// `url` joined with a path that starts with `/`.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{path}", origin(base))
}

/// The server speaks TLS but its certificate is not trusted (a handshake
/// that fails otherwise means no HTTPS at all).
pub fn is_certificate_failure(error: &HttpError) -> bool {
    matches!(error, HttpError::Transport(m) if m.contains("certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_browsers() {
        assert_eq!(resolve("http://a.test/x/y?q", "https://b.test/"), "https://b.test/");
        assert_eq!(resolve("http://a.test/x/y", "//b.test/z"), "http://b.test/z");
        assert_eq!(resolve("http://a.test:8080/x/y", "/z"), "http://a.test:8080/z");
        assert_eq!(resolve("http://a.test/x/y?q=1", "z"), "http://a.test/x/z");
        assert_eq!(resolve("http://a.test", "z"), "http://a.test/z");
        assert_eq!(host("https://user@[::1]:8443/p"), "::1");
        assert_eq!(host("http://Example.com:80/"), "Example.com");
        assert_eq!(join("https://a.test/deep/page?x", "/.git/HEAD"), "https://a.test/.git/HEAD");
    }
}
