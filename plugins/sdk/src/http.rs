//! Blocking outbound HTTP over `wasi:http/outgoing-handler`.
//!
//! Every request passes the host's policy (allowed hosts, no private
//! addresses, request and size caps); a refusal comes back as
//! [`HttpError::Denied`] with the host's reason.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;

/// wasi:io streams accept at most this many bytes per blocking write.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Applies to connecting, the first byte and the gap between bytes.
    pub timeout_ms: Option<u64>,
}

impl Request {
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request { method: method.to_owned(), url: url.into(), headers: Vec::new(), body: None, timeout_ms: None }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Serializes `value` as the body and sets `content-type: application/json`.
    pub fn json<T: Serialize>(self, value: &T) -> Result<Self, HttpError> {
        let bytes = serde_json::to_vec(value).map_err(|e| HttpError::InvalidRequest(format!("body: {e}")))?;
        Ok(self.header("content-type", "application/json").body(bytes))
    }

    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    pub fn send(&self) -> Result<Response, HttpError> {
        send(self)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::InvalidResponse(format!("body is not the expected JSON: {e}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host's policy refused the request; the text says why.
    Denied(String),
    /// The request could not be built (bad URL, method or header).
    InvalidRequest(String),
    /// Connecting, sending or receiving failed (including time-outs and the
    /// response size cap).
    Transport(String),
    InvalidResponse(String),
    /// The response body was over the host's size cap.
    ResponseTooLarge(String),
}

impl HttpError {
    /// Whether trying again later might succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Transport(_))
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(reason) if reason.starts_with("denied") => write!(f, "{reason}"),
            HttpError::Denied(reason) => write!(f, "denied: {reason}"),
            HttpError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            HttpError::Transport(m) => write!(f, "{m}"),
            HttpError::InvalidResponse(m) => write!(f, "invalid response: {m}"),
            HttpError::ResponseTooLarge(m) => write!(f, "response too large: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// The host reports policy refusals as `internal-error("denied: …")` so the
/// reason reaches the plugin (`http-request-denied` carries no text).
fn from_error_code(code: ErrorCode, host: &str) -> HttpError {
    match code {
        ErrorCode::InternalError(Some(msg)) if msg.starts_with("denied") => HttpError::Denied(msg),
        ErrorCode::HttpRequestDenied => HttpError::Denied("denied: request refused by the host".to_owned()),
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            HttpError::InvalidRequest(format!("{code:?}"))
        }
        ErrorCode::HttpResponseBodySize(Some(cap)) => {
            HttpError::ResponseTooLarge(format!("body is over the host's {cap}-byte limit"))
        }
        ErrorCode::HttpResponseBodySize(None) => {
            HttpError::ResponseTooLarge("body is over the host's limit".to_owned())
        }
        ErrorCode::InternalError(Some(msg)) => HttpError::Transport(msg),
        other => HttpError::Transport(sentence(&other, host)),
    }
}

/// A transport failure as a person reads it, naming the host.
fn sentence(code: &ErrorCode, host: &str) -> String {
    match code {
        ErrorCode::DnsError(payload) => match payload.rcode.as_deref() {
            Some(cause) => {
                format!(
                    "could not resolve {host}: {}",
                    cause.trim_start_matches("failed to lookup address information: ")
                )
            }
            None => format!("could not resolve {host}"),
        },
        ErrorCode::DnsTimeout => format!("timed out resolving {host}"),
        ErrorCode::DestinationNotFound => format!("{host} has no address"),
        ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable => format!("{host} cannot be reached"),
        ErrorCode::ConnectionRefused => format!("{host} refused the connection"),
        ErrorCode::ConnectionTerminated => format!("{host} closed the connection"),
        ErrorCode::ConnectionTimeout => format!("timed out connecting to {host}"),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => format!("{host} did not answer in time"),
        ErrorCode::TlsCertificateError => format!("{host}'s TLS certificate is not trusted"),
        ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => format!("the TLS handshake with {host} failed"),
        ErrorCode::HttpRequestBodySize(Some(limit)) => format!("the request body is over the {limit}-byte limit"),
        other => format!("the request to {host} failed ({other:?})"),
    }
}

struct Target<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_with_query: &'a str,
}

fn split_url(url: &str) -> Result<Target<'_>, HttpError> {
    let bad = |why: &str| HttpError::InvalidRequest(format!("url `{url}`: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad("only http and https are supported")),
    };
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    if authority.is_empty() {
        return Err(bad("missing host"));
    }
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not supported; use a header"));
    }
    let tail = tail.split('#').next().unwrap_or("");
    let path_with_query = if tail.is_empty() { "/" } else { tail };
    Ok(Target { scheme, authority, path_with_query })
}

fn method_of(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "CONNECT" => Method::Connect,
        other => Method::Other(other.to_owned()),
    }
}

/// Performs one request and reads the whole response body.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let target = split_url(&request.url)?;
    let header_list: Vec<(String, Vec<u8>)> =
        request.headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    let headers = Fields::from_list(&header_list).map_err(|e| HttpError::InvalidRequest(format!("headers: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let invalid = |what: &str| HttpError::InvalidRequest(format!("{what} of `{}`", request.url));
    outgoing.set_method(&method_of(&request.method)).map_err(|()| invalid("method"))?;
    outgoing.set_scheme(Some(&target.scheme)).map_err(|()| invalid("scheme"))?;
    outgoing.set_authority(Some(target.authority)).map_err(|()| invalid("authority"))?;
    outgoing.set_path_with_query(Some(target.path_with_query)).map_err(|()| invalid("path"))?;

    let body = outgoing.body().map_err(|()| invalid("body"))?;
    let options = request.timeout_ms.map(|ms| {
        let options = RequestOptions::new();
        let nanos = ms.saturating_mul(1_000_000);
        // A host may not support a given timeout; the others still apply.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        options
    });
    let host = target
        .authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(target.authority, |(host, _)| host);
    let failed = |code: ErrorCode| from_error_code(code, host);
    let pending = outgoing_handler::handle(outgoing, options).map_err(failed)?;

    if let Some(bytes) = &request.body {
        let stream = body.write().map_err(|()| invalid("body stream"))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Transport(format!("writing request body: {e:?}")))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(failed)?;

    let incoming = loop {
        match pending.get() {
            Some(Ok(result)) => break result.map_err(failed)?,
            Some(Err(())) => return Err(HttpError::Transport("response already taken".to_owned())),
            None => pending.subscribe().block(),
        }
    };

    let status = incoming.status();
    let headers =
        incoming.headers().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
    let body = incoming.consume().map_err(|()| HttpError::Transport("response body taken".to_owned()))?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| HttpError::Transport("response stream taken".to_owned()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match crate::bindings::wasi::http::types::http_error_code(&e) {
                        Some(code) => failed(code),
                        None => HttpError::Transport(format!("reading response body: {}", e.to_debug_string())),
                    });
                }
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(Response { status, headers, body: bytes })
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    send(&Request::get(url))
}
