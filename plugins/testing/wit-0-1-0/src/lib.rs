#![allow(clippy::too_many_arguments)]
//! A plugin as it was written against `trellis:plugin@0.1.0`, before the
//! SDK moved on: `echo` returns its input, `ask` calls the 0.1.0 `llm`
//! (role strings, `json-mode`) and emits the answer.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "trellis:plugin/node",
    generate_all,
});

use trellis::plugin::llm;

struct Legacy;

fn kind(name: &str, title: &str) -> NodeKind {
    NodeKind {
        name: name.to_owned(),
        title: title.to_owned(),
        description: format!("{title}, built against trellis:plugin@0.1.0"),
        category: "testing".to_owned(),
        config_schema: "{\"type\":\"object\"}".to_owned(),
        input_schema: "true".to_owned(),
        output_schema: "true".to_owned(),
        ports: vec!["out".to_owned()],
    }
}

impl Guest for Legacy {
    fn describe() -> Vec<NodeKind> {
        vec![kind("echo", "Echo"), kind("ask", "Ask")]
    }

    fn run(inv: Invocation) -> Result<Vec<Emit>, NodeError> {
        match inv.kind.as_str() {
            "echo" => Ok(vec![Emit { port: "out".to_owned(), data: inv.input }]),
            "ask" => {
                let config: serde_json::Value =
                    serde_json::from_str(&inv.config).map_err(|e| NodeError::InvalidConfig(e.to_string()))?;
                let question = config["question"].as_str().unwrap_or_default().to_owned();
                let response = llm::chat(&llm::ChatRequest {
                    model: None,
                    messages: vec![
                        llm::Message { role: "system".to_owned(), content: "Answer in JSON.".to_owned() },
                        llm::Message { role: "user".to_owned(), content: question },
                    ],
                    temperature: Some(0.0),
                    max_tokens: Some(64),
                    json_mode: true,
                })
                .map_err(NodeError::Fatal)?;
                let data = serde_json::json!({
                    "answer": response.content,
                    "tokens": response.prompt_tokens + response.completion_tokens,
                });
                Ok(vec![Emit { port: "out".to_owned(), data: data.to_string() }])
            }
            other => Err(NodeError::InvalidConfig(format!("no kind `{other}`"))),
        }
    }
}

export!(Legacy);
