//! Fake LLM providers that tests start on 127.0.0.1. They speak the
//! documented wire formats, so the host's real adapters are what is
//! tested: OpenAI chat completions (`tool_calls` whose `arguments` is JSON
//! *text*, `content: null`, `finish_reason: tool_calls`) and the Anthropic
//! Messages API (`tool_use` blocks with an object `input`, `stop_reason`).
//!
//! Replies are scripted in order with [`FakeLlm::push`]; once the script
//! is empty, a responder set with [`FakeLlm::respond_with`] answers, and
//! without one a short text answer in the format the path asks for.
//! Every request is kept for assertions ([`FakeLlm::requests`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
}

impl Seen {
    pub fn is_anthropic(&self) -> bool {
        self.path.ends_with("/messages")
    }

    /// Messages of the request, in the format's own shape.
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Json {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    /// A body sent as it is (malformed JSON, an HTML error page).
    Raw {
        status: u16,
        body: String,
    },
    /// Headers, then a body that never ends.
    Hang,
}

/// A tool call in a scripted answer: id, name, arguments.
pub type Call<'a> = (&'a str, &'a str, Value);

impl Reply {
    pub fn openai_text(text: &str) -> Reply {
        Reply::openai(json!({"role": "assistant", "content": text}), "stop", 12, 7)
    }

    /// `arguments` go out as JSON text, the way OpenAI sends them.
    pub fn openai_tool_calls(calls: &[Call<'_>]) -> Reply {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
        Reply::openai(json!({"role": "assistant", "content": null, "tool_calls": tool_calls}), "tool_calls", 20, 9)
    }

    fn openai(message: Value, finish: &str, prompt: u32, completion: u32) -> Reply {
        Reply::Json {
            status: 200,
            body: json!({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000u32,
                "model": "fake-gpt",
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            }),
            headers: Vec::new(),
        }
    }

    pub fn anthropic_text(text: &str) -> Reply {
        Reply::anthropic(vec![json!({"type": "text", "text": text})], "end_turn", 14, 6)
    }

    pub fn anthropic_tool_use(calls: &[Call<'_>]) -> Reply {
        let blocks = calls
            .iter()
            .map(|(id, name, input)| json!({"type": "tool_use", "id": id, "name": name, "input": input}))
            .collect();
        Reply::anthropic(blocks, "tool_use", 25, 11)
    }

    fn anthropic(content: Vec<Value>, stop: &str, input: u32, output: u32) -> Reply {
        Reply::Json {
            status: 200,
            body: json!({
                "id": "msg_fake", "type": "message", "role": "assistant", "model": "fake-claude",
                "content": content, "stop_reason": stop, "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output},
            }),
            headers: Vec::new(),
        }
    }

    /// An error in the providers' shared shape (`error.message`).
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::Json {
            status,
            body: json!({"type": "error", "error": {"type": "fake_error", "message": message}}),
            headers: Vec::new(),
        }
    }

    /// 429 with `retry-after` in seconds.
    pub fn rate_limited(retry_after_secs: u32) -> Reply {
        let Reply::Json { body, .. } = Reply::error(429, "Rate limit reached, slow down") else { unreachable!() };
        Reply::Json { status: 429, body, headers: vec![("retry-after".to_owned(), retry_after_secs.to_string())] }
    }

    pub fn malformed() -> Reply {
        Reply::Raw { status: 200, body: "{\"id\": \"chatcmpl-cut".to_owned() }
    }
}

type Responder = Box<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    responder: Mutex<Option<Responder>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A provider on loopback, alive as long as the test's runtime.
#[derive(Clone)]
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding a loopback port");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { addr, shared }
    }

    /// `http://127.0.0.1:PORT`: the Anthropic base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: the OpenAI base URL.
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.url())
    }

    pub fn push(&self, reply: Reply) -> &Self {
        lock(&self.shared.script).push_back(reply);
        self
    }

    pub fn respond_with(&self, responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static) {
        *lock(&self.shared.responder) = Some(Box::new(responder));
    }

    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.seen).len()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let seen = Seen {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let scripted = lock(&shared.script).pop_front();
    let reply = match scripted {
        Some(reply) => reply,
        None => match &*lock(&shared.responder) {
            Some(responder) => responder(&seen),
            None if seen.is_anthropic() => Reply::anthropic_text("fake answer"),
            None => Reply::openai_text("fake answer"),
        },
    };
    lock(&shared.seen).push(seen);
    let response = match reply {
        Reply::Json { status, body, headers } => {
            let mut builder = Response::builder().status(status).header("content-type", "application/json");
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::from(body.to_string()))
        }
        Reply::Raw { status, body } => Response::builder().status(status).body(Body::from(body)),
        Reply::Hang => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>())),
    };
    response.unwrap_or_else(|_| Response::new(Body::empty()))
}
