//! Third-party APIs that tests start on 127.0.0.1, one server for all of
//! them. Each speaks its provider's documented wire format — auth header,
//! body encoding, status codes, error bodies — so what a test exercises is
//! the real plugin and host code:
//!
//! | provider | paths | credentials |
//! |---|---|---|
//! | Resend | `POST /emails` | `Bearer` [`keys::RESEND`] |
//! | SendGrid | `POST /v3/mail/send` | `Bearer` [`keys::SENDGRID`] |
//! | Twilio | `POST /2010-04-01/Accounts/{sid}/Messages.json` | Basic [`keys::TWILIO_SID`]:[`keys::TWILIO_TOKEN`] |
//! | Africa's Talking | `POST /version1/messaging` | `apiKey` [`keys::AFRICASTALKING`] |
//! | Slack | `POST /services/…` (incoming webhook), `POST /api/chat.postMessage` | the URL; `Bearer` [`keys::SLACK_BOT`] |
//! | Stripe | `/v1/customers`, `/v1/payment_links`, `/v1/checkout/sessions`, `/v1/refunds`, `/v1/charges/{id}`, `/v1/payment_intents/{id}` | `Bearer` (or Basic user) [`keys::STRIPE`]; form bodies |
//! | crt.sh, Cert Spotter | `GET /?q=HOST&output=json`, `GET /v1/issuances?domain=HOST` | none (Cert Spotter takes an optional Bearer key) |
//! | Cloudflare | `/client/v4/zones/{zone}/rulesets/phases/http_response_headers_transform/entrypoint` (GET, PUT), `/client/v4/zones/{zone}/settings/always_use_https` (PATCH) | `Bearer` [`keys::CLOUDFLARE`] |
//! | GitHub | `/repos/{owner}/{repo}`, `/git/ref/heads/{b}`, `/git/refs`, `/contents/{path}`, `/pulls` | `Bearer` [`keys::GITHUB`] and a `User-Agent` |
//! | Flutterwave | `POST /v3/payments`, `GET /v3/transactions/{id}/verify`, `GET /v3/transactions/verify_by_reference` | `Bearer` [`keys::FLUTTERWAVE`] |
//!
//! Every request is kept ([`FakeProviders::requests`]); [`FakeProviders::fail_next`]
//! makes the next requests to a path answer an error first.

mod devops;
mod messaging;
mod payments;
mod transparency;

pub use transparency::Issued;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::Value;

/// The credentials the fakes accept; anything else gets the provider's
/// own "bad credentials" answer.
pub mod keys {
    pub const RESEND: &str = "re_test_5ecret";
    pub const SENDGRID: &str = "SG.test.5ecret";
    pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
    pub const TWILIO_TOKEN: &str = "twilio-5ecret";
    pub const AFRICASTALKING: &str = "atsk_5ecret";
    pub const SLACK_BOT: &str = "xoxb-5ecret";
    pub const STRIPE: &str = "sk_test_5ecret";
    pub const FLUTTERWAVE: &str = "FLWSECK_TEST-5ecret-X";
    pub const CLOUDFLARE: &str = "cf-5ecret";
    /// The one zone the Cloudflare fake knows.
    pub const CLOUDFLARE_ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    pub const GITHUB: &str = "ghp_5ecret";
    /// The one repository the GitHub fake knows.
    pub const GITHUB_REPO: &str = "acme/infrastructure";
    /// The path of the one incoming webhook that exists.
    pub const SLACK_WEBHOOK_PATH: &str = "/services/T000/B000/5ecret";
}

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as form fields, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// The first form field with this name.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The query's parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, headers: vec![("content-type".into(), "application/json".into())], body: body.to_string() }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.to_owned() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the fakes remember between requests.
pub(crate) struct Memory {
    /// The request (path and body) and answer first seen per idempotency
    /// key: Stripe and Resend replay the answer for the same request.
    pub idempotent: BTreeMap<String, (String, Reply)>,
    pub next_id: u64,
    /// The current certificate per host, for the CT searches.
    pub certificates: BTreeMap<String, transparency::Issued>,
    pub devops: devops::DevopsState,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory {
            idempotent: BTreeMap::new(),
            next_id: 0,
            certificates: BTreeMap::new(),
            devops: devops::DevopsState::seeded(),
        }
    }
}

impl Memory {
    pub fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:06}", self.next_id)
    }
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    failures: Mutex<Vec<(String, Reply)>>,
    memory: Mutex<Memory>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running fakes.
#[derive(Clone)]
pub struct FakeProviders {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeProviders {
    pub async fn start() -> FakeProviders {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeProviders { addr, shared }
    }

    /// `http://127.0.0.1:PORT`: every provider's API base.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// The requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Seen> {
        self.requests().into_iter().filter(|s| s.path.starts_with(prefix)).collect()
    }

    /// The Certificate Transparency logs hold a certificate for `host`
    /// from `issuer` that expires in `days_left` days.
    pub fn certificate(&self, host: &str, issuer: &str, days_left: i64) {
        lock(&self.shared.memory).certificates.insert(host.to_owned(), Issued { issuer: issuer.to_owned(), days_left });
    }

    /// The Cloudflare zone's transform rules, and Always Use HTTPS.
    pub fn cloudflare_zone(&self) -> (Vec<serde_json::Value>, Option<String>) {
        let memory = lock(&self.shared.memory);
        (memory.devops.cloudflare_rules.clone().unwrap_or_default(), memory.devops.always_use_https.clone())
    }

    /// The GitHub repository's open pull requests, and a file's content
    /// (decoded) on a branch.
    pub fn github_pulls(&self) -> Vec<serde_json::Value> {
        lock(&self.shared.memory).devops.pulls.clone()
    }

    pub fn github_file(&self, branch: &str, path: &str) -> Option<String> {
        use base64::Engine as _;
        let memory = lock(&self.shared.memory);
        let (content, _) = memory.devops.files.get(&(branch.to_owned(), path.to_owned()))?;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(content).ok()?).ok()
    }

    /// The next request whose path starts with `prefix` gets `reply`
    /// instead of the provider's normal answer (queue several for several).
    pub fn fail_next(&self, prefix: &str, reply: Reply) {
        lock(&self.shared.failures).push((prefix.to_owned(), reply));
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body,
    };
    lock(&shared.seen).push(seen.clone());
    let failure = {
        let mut failures = lock(&shared.failures);
        let at = failures.iter().position(|(prefix, _)| seen.path.starts_with(prefix.as_str()));
        at.map(|i| failures.remove(i).1)
    };
    let reply = match failure {
        Some(reply) => reply,
        None => route(&mut lock(&shared.memory), &seen),
    };
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(reply.body)).unwrap_or_else(|_| Response::new(Body::empty()))
}

fn route(memory: &mut Memory, seen: &Seen) -> Reply {
    messaging::route(memory, seen)
        .or_else(|| transparency::route(memory, seen))
        .or_else(|| devops::route(memory, seen))
        .or_else(|| payments::route(memory, seen))
        .unwrap_or_else(|| Reply::json(404, serde_json::json!({"message": format!("no fake at {}", seen.path)})))
}

/// The `Bearer` token of a request.
pub(crate) fn bearer(seen: &Seen) -> Option<&str> {
    seen.header("authorization")?.strip_prefix("Bearer ")
}

/// `(user, password)` of HTTP Basic auth.
pub(crate) fn basic(seen: &Seen) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = seen.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
