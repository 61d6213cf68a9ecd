//! Outbound HTTP for `wasi:http/outgoing-handler`, under the host's policy.
//!
//! Every request is checked, in order: the per-execution request count, the
//! host allowlist, then the addresses the name resolves to (loopback,
//! private, link-local, metadata and other special ranges are refused unless
//! the operator allows private networks; cloud metadata endpoints are always
//! refused). The connection is then pinned to the addresses that were
//! checked, so a second DNS answer cannot smuggle in another target.
//! Redirects are not followed (a plugin that wants them issues a new,
//! checked request). Bodies are capped both ways.
//!
//! Refusals reach the guest as `internal-error("denied: <reason>")` because
//! `http-request-denied` carries no text; the SDK turns that prefix back into
//! `HttpError::Denied`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use serde::{Deserialize, Serialize};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::report::OutboundCall;

/// Outbound HTTP rules for one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpPolicy {
    /// Host patterns: `api.example.com`, `*.example.com` (subdomains only),
    /// `*` (any host), each optionally with `:port`. Empty denies all.
    pub allowed_hosts: Vec<String>,
    /// What the tenant granted the plugin (same syntax), when it is an
    /// installed plugin: a request must match both lists. The operator's
    /// list bounds every plugin; the grant narrows one plugin further.
    #[serde(default)]
    pub granted_hosts: Option<Vec<String>>,
    /// Lets requests reach loopback, private and link-local addresses. For
    /// operators running everything on one private network, and for tests.
    pub allow_private_network: bool,
    /// Ranges the operator refuses on top of the built-in ones, whatever
    /// `allow_private_network` says (an IPv6 form embedding an IPv4
    /// address in one is refused too).
    #[serde(default)]
    pub denied_ranges: Vec<ipnet::IpNet>,
    pub max_requests: u32,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    #[serde(with = "crate::config::millis")]
    pub request_timeout: Duration,
    /// Operator routes: a request to a host (`api.stripe.com`, or
    /// `host:port`) goes to another origin (`http://10.0.0.7:12111`) — an
    /// egress gateway, a regional endpoint, a provider's mock in staging.
    /// The host rules and grants apply to the host the plugin named; the
    /// origin is the operator's own choice, so its address is not held to
    /// the private-network rules.
    #[serde(default)]
    pub upstreams: std::collections::BTreeMap<String, String>,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            allowed_hosts: Vec::new(),
            granted_hosts: None,
            allow_private_network: false,
            denied_ranges: Vec::new(),
            max_requests: 50,
            max_request_bytes: 4 << 20,
            max_response_bytes: 8 << 20,
            request_timeout: Duration::from_secs(10),
            upstreams: std::collections::BTreeMap::new(),
        }
    }
}

impl HttpPolicy {
    /// A policy allowing the given host patterns with default caps.
    pub fn allowing<S: Into<String>>(patterns: impl IntoIterator<Item = S>) -> Self {
        HttpPolicy { allowed_hosts: patterns.into_iter().map(Into::into).collect(), ..Self::default() }
    }

    /// The origin the operator routes `host:port` to, if any, as
    /// `(scheme, host, port)`.
    pub fn upstream(&self, host: &str, port: u16) -> Option<(String, String, u16)> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let origin = self.upstreams.get(&format!("{host}:{port}")).or_else(|| self.upstreams.get(&host))?;
        parse_origin(origin)
    }

    /// Whether `host:port` matches an allowed pattern.
    pub fn host_allowed(&self, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.iter().any(|pattern| pattern_matches(pattern, &host, port))
            && self.granted_hosts.as_ref().is_none_or(|granted| granted.iter().any(|p| pattern_matches(p, &host, port)))
    }
}

/// `(scheme, host, port)` of `http://host[:port]` or `https://…`.
pub fn parse_origin(origin: &str) -> Option<(String, String, u16)> {
    let uri: http::Uri = origin.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    Some((scheme, host, uri.port_u16().unwrap_or(default)))
}

/// Splits `name[:port]` (lowercased).
fn split_pattern(pattern: &str) -> (String, Option<u16>) {
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.rsplit_once(':') {
        Some((name, p)) if !name.contains(':') => match p.parse::<u16>() {
            Ok(port) => (name.to_owned(), Some(port)),
            Err(_) => (pattern.clone(), None),
        },
        _ => (pattern.clone(), None),
    }
}

/// Whether `outer` matches every host:port that `inner` matches. A grant
/// is checked with it: each granted pattern must be covered by one the
/// plugin requested.
pub fn pattern_covers(outer: &str, inner: &str) -> bool {
    let (outer_name, outer_port) = split_pattern(outer);
    let (inner_name, inner_port) = split_pattern(inner);
    if outer_port.is_some() && outer_port != inner_port {
        return false;
    }
    if outer_name == "*" || outer_name == inner_name {
        return true;
    }
    match outer_name.strip_prefix("*.") {
        // `*.example.com` covers `api.example.com` and `*.api.example.com`,
        // never `example.com` itself or `*`.
        Some(suffix) => {
            let inner_host = inner_name.strip_prefix("*.").unwrap_or(&inner_name);
            inner_host.len() > suffix.len() + 1
                && inner_host.ends_with(suffix)
                && inner_host[..inner_host.len() - suffix.len()].ends_with('.')
        }
        None => false,
    }
}

fn pattern_matches(pattern: &str, host: &str, port: u16) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    // "[::1]:8080", "example.com:8443", "example.com", "*"
    let (name, wanted_port) = match pattern.rsplit_once(':') {
        Some((name, p)) if !name.is_empty() && !p.contains(']') && (!name.contains(':') || name.ends_with(']')) => {
            match p.parse::<u16>() {
                Ok(p) => (name.to_owned(), Some(p)),
                Err(_) => return false,
            }
        }
        _ => (pattern.clone(), None),
    };
    if wanted_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if name == "*" {
        return true;
    }
    if let Some(suffix) = name.strip_prefix("*.") {
        return host.len() > suffix.len() + 1
            && host.ends_with(suffix)
            && host[..host.len() - suffix.len()].ends_with('.');
    }
    name == host
}

/// Why an address is off limits, or `None` for a public unicast address.
///
/// IPv6 forms that carry an IPv4 address (mapped, compatible, translated,
/// 6to4, NAT64, Teredo) are judged by the IPv4 address they lead to, and
/// every other IPv6 address outside global unicast (`2000::/3`) is refused.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    if is_metadata(ip) {
        return Some("cloud metadata");
    }
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Addresses that hand out cloud credentials: refused even on a private
/// network, since nothing a plugin does needs them.
fn is_metadata(ip: IpAddr) -> bool {
    const METADATA_V4: [Ipv4Addr; 3] =
        [Ipv4Addr::new(169, 254, 169, 254), Ipv4Addr::new(169, 254, 170, 2), Ipv4Addr::new(100, 100, 100, 200)];
    const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
    match ip {
        IpAddr::V4(v4) => METADATA_V4.contains(&v4),
        IpAddr::V6(v6) => v6 == METADATA_V6 || embedded_v4(v6).iter().any(|v4| METADATA_V4.contains(v4)),
    }
}

fn v4_from(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// The IPv4 addresses an IPv6 address leads to, where its form embeds one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-
/// translated (`::ffff:0:a.b.c.d`), NAT64 well-known prefix
/// (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::/48`) and Teredo
/// (`2001:0::/32`: the server, and the client stored inverted).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let last = v4_from(s[6], s[7]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] | [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => {
            vec![last]
        }
        // `::` and `::1` are judged as IPv6; the rest of `::/96` is compatible.
        [0, 0, 0, 0, 0, 0, _, _] if u32::from(last) > 1 => vec![last],
        [0x2002, high, low, ..] => vec![v4_from(high, low)],
        [0x2001, 0, high, low, ..] => vec![v4_from(high, low), v4_from(!s[6], !s[7])],
        _ => Vec::new(),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("multicast or broadcast")
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) {
        Some("reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    let embedded = embedded_v4(ip);
    if !embedded.is_empty() {
        return embedded.into_iter().find_map(forbidden_v4);
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001 {
        // Local-use NAT64 (RFC 8215) places the IPv4 address by a prefix
        // length only the operator's translator knows: refused whole.
        Some("NAT64 local-use")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast or broadcast")
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || s[0] & 0xfff0 == 0x3ff0 {
        Some("documentation")
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        Some("reserved (IETF protocol assignments)")
    } else if s[0] & 0xe000 != 0x2000 {
        Some("not global unicast")
    } else {
        None
    }
}

/// Whether the policy lets a connection go to `ip`; `Err` names the reason.
fn check_address(policy: &HttpPolicy, host: &str, ip: IpAddr) -> Result<(), String> {
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).into_iter().map(IpAddr::V4).collect(),
        IpAddr::V4(_) => Vec::new(),
    };
    if let Some(range) =
        policy.denied_ranges.iter().find(|range| range.contains(&ip) || embedded.iter().any(|e| range.contains(e)))
    {
        return Err(format!("denied: `{host}` resolves to {ip}, in the operator's denied range {range}"));
    }
    let Some(class) = forbidden_address(ip) else {
        return Ok(());
    };
    if is_metadata(ip) {
        return Err(format!("denied: `{host}` resolves to {ip}, a {class} address"));
    }
    if policy.allow_private_network {
        return Ok(());
    }
    Err(format!("denied: `{host}` resolves to {ip}, a {class} address"))
}

/// Requests several executions draw from together (the nodes of one run
/// and its child runs): each request that would go out takes one.
#[derive(Debug)]
pub struct RequestBudget {
    limit: u64,
    left: AtomicU64,
}

impl RequestBudget {
    pub fn new(limit: u64, left: u64) -> Arc<Self> {
        Arc::new(RequestBudget { limit, left: AtomicU64::new(left.min(limit)) })
    }

    /// Takes one request; `false` once none is left.
    pub fn take(&self) -> bool {
        self.left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(1)).is_ok()
    }

    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

/// The `wasi:http` hooks of one execution: applies the policy and records
/// every call for the report.
pub(crate) struct OutboundHttp {
    policy: Arc<HttpPolicy>,
    budget: Option<Arc<RequestBudget>>,
    calls: Arc<Mutex<Vec<OutboundCall>>>,
    started: u32,
}

impl OutboundHttp {
    pub(crate) fn new(policy: HttpPolicy, budget: Option<Arc<RequestBudget>>) -> Self {
        OutboundHttp { policy: Arc::new(policy), budget, calls: Arc::default(), started: 0 }
    }

    /// Calls recorded so far (completed or refused).
    pub(crate) fn calls(&self) -> Vec<OutboundCall> {
        lock(&self.calls).clone()
    }
}

fn lock(calls: &Mutex<Vec<OutboundCall>>) -> std::sync::MutexGuard<'_, Vec<OutboundCall>> {
    calls.lock().unwrap_or_else(|p| p.into_inner())
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

/// Longest URL (and host) kept in a call record: a plugin chooses them, and
/// records are bounded.
const MAX_RECORDED_URL_BYTES: usize = 2048;

fn clipped(text: String) -> String {
    crate::report::clipped(text, MAX_RECORDED_URL_BYTES)
}

/// What is known about a request before it is sent, for the call record.
struct Target {
    method: String,
    host: String,
    port: u16,
    url: String,
}

impl Target {
    fn of(request: &http::Request<WasiBody>) -> Self {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let scheme = if https { "https" } else { "http" };
        Target {
            method: request.method().to_string(),
            url: clipped(format!(
                "{scheme}://{}{}",
                uri.authority().map(|a| a.as_str()).unwrap_or_default(),
                uri.path()
            )),
            host,
            port,
        }
    }

    fn record(
        &self,
        status: Option<u16>,
        started: Instant,
        response_bytes: u64,
        error: Option<String>,
    ) -> OutboundCall {
        OutboundCall {
            method: self.method.clone(),
            host: clipped(self.host.clone()),
            url: self.url.clone(),
            status,
            duration_ms: started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64,
            response_bytes,
            error,
        }
    }
}

fn denial(reason: String) -> HttpError {
    HttpError::InternalError(Some(reason))
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let started = Instant::now();
        let target = Target::of(&request);
        let calls = self.calls.clone();
        let refuse = move |target: &Target, reason: String| -> Box<dyn Future<Output = SendResult> + Send> {
            lock(&calls).push(target.record(None, started, 0, Some(reason.clone())));
            Box::new(std::future::ready(Err(denial(reason))))
        };

        if self.started >= self.policy.max_requests {
            let reason = format!("denied: request limit of {} per execution reached", self.policy.max_requests);
            return refuse(&target, reason);
        }
        self.started += 1;
        if target.host.is_empty() {
            return refuse(&target, "denied: request has no host".to_owned());
        }
        if !self.policy.host_allowed(&target.host, target.port) {
            let reason = format!("denied: host `{}` is not on this plugin's allowed hosts", target.host);
            return refuse(&target, reason);
        }

        if let Some(budget) = &self.budget
            && !budget.take()
        {
            let reason = format!("denied: the run's budget of {} HTTP requests is spent", budget.limit);
            return refuse(&target, reason);
        }

        let policy = self.policy.clone();
        let calls = self.calls.clone();
        Box::new(async move {
            let result = perform(&policy, &target, request, options).await;
            let call = match &result {
                Ok((response, bytes)) => target.record(Some(response.status().as_u16()), started, *bytes, None),
                Err(e) => target.record(None, started, 0, Some(e.sentence(&target.host))),
            };
            lock(&calls).push(call);
            match result {
                Ok((response, _)) => {
                    let done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                        Box::new(std::future::ready(Ok(())));
                    Ok((response, done))
                }
                Err(Failure::Denied(reason)) => Err(denial(reason)),
                Err(Failure::Transport(e)) => Err(e),
            }
        })
    }
}

enum Failure {
    Denied(String),
    Transport(HttpError),
}

impl Failure {
    /// What the run's record says about the call: a refusal's reason, or a
    /// short sentence naming the host and what went wrong.
    fn sentence(&self, host: &str) -> String {
        match self {
            Failure::Denied(reason) => reason.clone(),
            Failure::Transport(code) => transport_sentence(code, host),
        }
    }
}

/// A transport failure as a person reads it ("api.example.com refused the
/// connection"), never the error type's debug form.
pub fn transport_sentence(code: &HttpError, host: &str) -> String {
    match code {
        HttpError::DnsError { rcode, .. } => match rcode.as_deref() {
            Some(cause) => format!(
                "could not resolve {host}: {}",
                cause.trim_start_matches("failed to lookup address information: ")
            ),
            None => format!("could not resolve {host}"),
        },
        HttpError::DestinationNotFound => format!("{host} has no address"),
        HttpError::DestinationUnavailable | HttpError::DestinationIpUnroutable => format!("{host} cannot be reached"),
        HttpError::ConnectionRefused => format!("{host} refused the connection"),
        HttpError::ConnectionTerminated => format!("{host} closed the connection"),
        HttpError::ConnectionTimeout => format!("timed out connecting to {host}"),
        HttpError::ConnectionReadTimeout | HttpError::HttpResponseTimeout => format!("{host} did not answer in time"),
        HttpError::TlsCertificateError => format!("{host}'s TLS certificate is not trusted"),
        HttpError::TlsProtocolError | HttpError::TlsAlertReceived { .. } | HttpError::Tls(_) => {
            format!("the TLS handshake with {host} failed")
        }
        HttpError::DnsTimeout => format!("timed out resolving {host}"),
        HttpError::Connect(_) => format!("could not connect to {host}"),
        HttpError::HttpRequestBodySize(Some(limit)) => format!("the request body is over the {limit}-byte limit"),
        HttpError::InternalError(Some(message)) => message.clone(),
        other => format!("the request to {host} failed: {other}"),
    }
}

async fn resolve(policy: &HttpPolicy, target: &Target) -> Result<(Vec<SocketAddr>, bool), Failure> {
    resolve_checked(policy, &target.host, target.port).await.map_err(|e| match e {
        Refusal::Denied(reason) => Failure::Denied(reason),
        Refusal::NotFound(code) => Failure::Transport(code),
    })
}

/// Why [`resolve_checked`] gave no address.
#[derive(Debug)]
pub enum Refusal {
    /// An address the policy refuses; the text says which and why.
    Denied(String),
    /// The name did not resolve.
    NotFound(HttpError),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Denied(reason) => f.write_str(reason),
            Refusal::NotFound(code) => write!(f, "{code}"),
        }
    }
}

/// The addresses `host:port` resolves to, every one checked against the
/// policy's address rules (private, loopback, link-local, metadata and the
/// operator's denied ranges), and whether `host` was an IP literal. A
/// connection must then go to these addresses only, so a second DNS answer
/// cannot point it elsewhere.
pub async fn resolve_checked(policy: &HttpPolicy, host: &str, port: u16) -> Result<(Vec<SocketAddr>, bool), Refusal> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let (addrs, is_literal) = if let Ok(ip) = literal.parse::<IpAddr>() {
        (vec![SocketAddr::new(ip, port)], true)
    } else {
        let found = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Refusal::NotFound(HttpError::DnsError { rcode: Some(e.to_string()), info_code: None }))?;
        (found.collect::<Vec<_>>(), false)
    };
    if addrs.is_empty() {
        return Err(Refusal::NotFound(HttpError::DestinationNotFound));
    }
    // Every answer must pass: the connector may try any of them.
    for addr in &addrs {
        check_address(policy, host, addr.ip()).map_err(Refusal::Denied)?;
    }
    Ok((addrs, is_literal))
}

/// The code a failed exchange is reported with. reqwest says only whether
/// connecting or waiting failed; the cause below it tells a refused
/// connection from a TLS failure.
fn transport(e: reqwest::Error) -> Failure {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        causes.push(cause.to_string().to_ascii_lowercase());
        source = cause.source();
    }
    let said = |words: &[&str]| causes.iter().any(|cause| words.iter().any(|word| cause.contains(word)));
    let error = if e.is_timeout() {
        if e.is_connect() { HttpError::ConnectionTimeout } else { HttpError::HttpResponseTimeout }
    } else if said(&["certificate", "unknownissuer", "notvalidforname"]) {
        HttpError::TlsCertificateError
    } else if said(&["tls", "handshake", "corrupt message", "invalidcontenttype", "peer misbehaved"]) {
        HttpError::TlsProtocolError
    } else if said(&["connection refused"]) {
        HttpError::ConnectionRefused
    } else if said(&["connection reset", "connection closed", "broken pipe", "unexpected eof", "incomplete message"]) {
        HttpError::ConnectionTerminated
    } else if e.is_connect() {
        HttpError::ConnectionRefused
    } else {
        // The innermost cause, without reqwest's wrapper (which repeats the
        // URL, query string included).
        HttpError::InternalError(Some(causes.last().cloned().unwrap_or_else(|| "the exchange failed".to_owned())))
    };
    Failure::Transport(error)
}

/// Sends a request the sync checks passed; returns the response with its
/// whole body buffered (and its size).
async fn perform(
    policy: &HttpPolicy,
    target: &Target,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, u64), Failure> {
    let (mut parts, body) = request.into_parts();
    // An operator route replaces the origin; the plugin's host was checked.
    let (connect_host, addrs, is_literal) = match policy.upstream(&target.host, target.port) {
        Some((scheme, host, port)) => {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            parts.uri = format!("{scheme}://{authority}{path}").parse().map_err(|_| {
                Failure::Denied(format!("denied: the operator's route for {} is not a URL", target.host))
            })?;
            let literal = host.parse::<IpAddr>().ok();
            let addrs = match literal {
                Some(ip) => vec![SocketAddr::new(ip, port)],
                None => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|e| {
                        Failure::Transport(HttpError::DnsError { rcode: Some(e.to_string()), info_code: None })
                    })?
                    .collect(),
            };
            (host, addrs, literal.is_some())
        }
        None => {
            let (addrs, is_literal) = resolve(policy, target).await?;
            (target.host.clone(), addrs, is_literal)
        }
    };

    let body = Limited::new(body, policy.max_request_bytes)
        .collect()
        .await
        .map_err(|_| Failure::Transport(HttpError::HttpRequestBodySize(Some(policy.max_request_bytes as u64))))?
        .to_bytes();

    let options = options.unwrap_or_default();
    let overall = policy.request_timeout;
    let connect = options.connect_timeout.unwrap_or(overall).min(overall);
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(overall);
    if let Some(read) = options.between_bytes_timeout.or(options.first_byte_timeout) {
        client = client.read_timeout(read.min(overall));
    }
    if !is_literal {
        client = client.resolve_to_addrs(&connect_host, &addrs);
    }
    let client = client.build().map_err(transport)?;

    let mut headers = parts.headers;
    headers.remove(http::header::HOST);
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(transport)?;

    let status = response.status();
    let mut response_headers = response.headers().clone();
    // The body is handed over whole, so framing headers no longer apply.
    response_headers.remove(http::header::TRANSFER_ENCODING);
    response_headers.remove(http::header::CONNECTION);
    let cap = policy.max_response_bytes;
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Failure::Transport(HttpError::HttpResponseBodySize(Some(cap as u64))));
    }
    let mut response = response;
    let mut buffer = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if buffer.len() + chunk.len() > cap {
            return Err(Failure::Transport(HttpError::HttpResponseBodySize(Some(cap as u64))));
        }
        buffer.extend_from_slice(&chunk);
    }
    let size = buffer.len() as u64;
    let body: WasiBody = Full::new(Bytes::from(buffer)).map_err(|never| match never {}).boxed_unsync();
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = response_headers;
    Ok((out, size))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
