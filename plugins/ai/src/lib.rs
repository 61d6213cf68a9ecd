//! `trellis/ai`: LLM steps that run on the tenant's providers through the
//! host's gateway (its keys, allowed models and daily token quota).
//!
//! - `chat`: a system prompt and a prompt (config expressions fill it from
//!   the input) → the model's answer;
//! - `extract`: a JSON Schema in config → an object that validates against
//!   it, with one repair attempt when the model's first answer does not;
//! - `classify`: labels → one output port per label, so the graph branches
//!   on the answer;
//! - `summarize`: text → a summary of at most so many words.

mod text;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::llm::{self, ChatRequest, ChatResponse};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, plugin};

use text::input_text;

/// What every kind takes to pick and tune the model.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct ModelSettings {
    /// A model the tenant's providers allow; the default provider's
    /// default model when left out.
    #[serde(default)]
    #[schemars(example = &"gpt-4o-mini")]
    model: Option<String>,
    /// 0 is most predictable, 2 most varied.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0), example = 0.2)]
    temperature: Option<f32>,
    /// The most tokens the answer may use (also capped by the tenant's
    /// daily quota).
    #[serde(default)]
    #[schemars(range(min = 1), example = 512)]
    max_tokens: Option<u32>,
}

impl ModelSettings {
    fn request(&self, messages: Vec<llm::Message>) -> ChatRequest {
        let mut request = llm::request(messages);
        request.model = self.model.clone();
        request.temperature = self.temperature;
        request.max_tokens = self.max_tokens;
        request
    }
}

/// Model, finish reason and tokens of the answer, for the output.
fn meta(response: &ChatResponse) -> Value {
    json!({
        "model": response.model,
        "finish_reason": response.finish_reason,
        "usage": {"prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens},
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Chat")]
struct ChatConfig {
    /// Who the model is and how it answers.
    #[serde(default)]
    #[schemars(title = "System prompt", example = &"You are a concise security analyst.")]
    system: Option<String>,
    /// The message to send; write `{{ input.field }}` to put the input in.
    /// Left out, the input itself is sent.
    #[serde(default)]
    #[schemars(title = "Prompt", example = &"Explain this finding to a developer: {{ input.finding }}")]
    prompt: Option<String>,
    #[serde(flatten)]
    settings: ModelSettings,
}

#[derive(Serialize, JsonSchema)]
struct ChatOutput {
    /// The model's answer.
    text: String,
    model: String,
    finish_reason: String,
    usage: Value,
}

/// One question, one answer.
struct Chat;

impl Node for Chat {
    const KIND: &'static str = "chat";
    const TITLE: &'static str = "Chat";
    const DESCRIPTION: &'static str = "Send a prompt to an LLM and emit its answer";
    const CATEGORY: &'static str = "ai";
    type Config = ChatConfig;
    type Input = Value;
    type Output = ChatOutput;

    fn run(_cx: &Context, config: ChatConfig, input: Value) -> Result<Emits<ChatOutput>, NodeError> {
        let mut messages = Vec::new();
        if let Some(system) = config.system.filter(|s| !s.trim().is_empty()) {
            messages.push(llm::system(system));
        }
        messages.push(llm::user(config.prompt.unwrap_or_else(|| input_text(&input))));
        let response = llm::chat(&config.settings.request(messages))?;
        let meta = meta(&response);
        Ok(Emits::out(ChatOutput {
            text: response.content,
            model: response.model,
            finish_reason: response.finish_reason,
            usage: meta["usage"].clone(),
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Extract")]
struct ExtractConfig {
    /// JSON Schema of the object to extract.
    #[schemars(
        title = "Output schema",
        example = json!({"type": "object", "properties": {"severity": {"enum": ["low", "high"]}}, "required": ["severity"]})
    )]
    schema: Value,
    /// What to extract and how; the schema's own descriptions help too.
    #[serde(default)]
    #[schemars(title = "Instructions", example = &"Pull the vendor, total and due date out of the invoice.")]
    instructions: Option<String>,
    /// The text to read; the input when left out.
    #[serde(default)]
    #[schemars(title = "Text")]
    text: Option<String>,
    #[serde(flatten)]
    settings: ModelSettings,
}

/// Structured data out of free text, held to a schema.
struct Extract;

impl Node for Extract {
    const KIND: &'static str = "extract";
    const TITLE: &'static str = "Extract";
    const DESCRIPTION: &'static str =
        "Extract JSON that validates against a schema from text; one repair attempt when it does not";
    const CATEGORY: &'static str = "ai";
    type Config = ExtractConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: ExtractConfig, input: Value) -> Result<Emits<Value>, NodeError> {
        let validator = jsonschema::validator_for(&config.schema)
            .map_err(|e| NodeError::InvalidConfig(format!("config.schema is not a usable JSON Schema: {e}")))?;
        let instructions = config.instructions.unwrap_or_else(|| "Extract the data the schema describes.".to_owned());
        let system = format!(
            "{instructions}\nAnswer with only a JSON value that validates against this JSON Schema:\n{}",
            config.schema
        );
        let text = config.text.unwrap_or_else(|| input_text(&input));
        let mut request = config.settings.request(vec![llm::system(system), llm::user(text)]);
        request.response_schema = Some(config.schema.to_string());
        let mut last_problem = String::new();
        for attempt in 0..2 {
            let response = llm::chat(&request)?;
            let problem = match serde_json::from_str::<Value>(llm::strip_fences(&response.content)) {
                Ok(value) => {
                    let errors: Vec<String> =
                        validator.iter_errors(&value).take(5).map(|e| format!("{}: {e}", e.instance_path)).collect();
                    if errors.is_empty() {
                        return Ok(Emits::out(value));
                    }
                    format!("the JSON does not validate: {}", errors.join("; "))
                }
                Err(e) => format!("the answer is not JSON: {e}"),
            };
            if attempt == 0 {
                // One repair: the model sees its answer and what is wrong.
                request.messages.push(llm::assistant(&response));
                request
                    .messages
                    .push(llm::user(format!("{problem}. Answer again with only the corrected JSON value.")));
            }
            last_problem = problem;
        }
        Err(NodeError::Fatal(format!("the model's answer did not fit the schema after one repair: {last_problem}")))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Classify")]
struct ClassifyConfig {
    /// The labels to choose from: each is an output port.
    #[schemars(
        title = "Labels",
        length(min = 2, max = 32),
        inner(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$")),
        example = json!(["bug", "feature", "question"])
    )]
    labels: Vec<String>,
    /// What the labels mean and how to choose.
    #[serde(default)]
    #[schemars(title = "Instructions", example = &"Classify the support ticket by what the customer needs.")]
    instructions: Option<String>,
    /// The text to classify; the input when left out.
    #[serde(default)]
    #[schemars(title = "Text")]
    text: Option<String>,
    #[serde(flatten)]
    settings: ModelSettings,
}

/// The label the answer names: an exact match, else the one label the
/// text mentions (case aside).
fn pick_label<'a>(labels: &'a [String], answer: &str) -> Option<&'a String> {
    let answer = llm::strip_fences(answer);
    let named = serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v.get("label").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| answer.trim().trim_matches(|c: char| c == '"' || c == '.').to_owned());
    if let Some(exact) = labels.iter().find(|l| l.eq_ignore_ascii_case(&named)) {
        return Some(exact);
    }
    let lower = answer.to_ascii_lowercase();
    let mentioned: Vec<&String> = labels.iter().filter(|l| lower.contains(&l.to_ascii_lowercase())).collect();
    (mentioned.len() == 1).then(|| mentioned[0])
}

/// Routes its input to the port of the label the model picks.
struct Classify;

impl Node for Classify {
    const KIND: &'static str = "classify";
    const TITLE: &'static str = "Classify";
    const DESCRIPTION: &'static str = "Pick one of the labels for the text; the input goes out on that label's port";
    const CATEGORY: &'static str = "ai";
    const PORTS: &'static [&'static str] = &["{config.labels}"];
    type Config = ClassifyConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: ClassifyConfig, input: Value) -> Result<Emits<Value>, NodeError> {
        if config.labels.len() < 2 {
            return Err(NodeError::InvalidConfig("config.labels needs at least two labels".to_owned()));
        }
        let instructions = config.instructions.unwrap_or_else(|| "Classify the text.".to_owned());
        let system = format!(
            "{instructions}\nAnswer with a JSON object {{\"label\": ...}} whose label is exactly one of: {}.",
            config.labels.join(", ")
        );
        let schema = json!({
            "type": "object",
            "properties": {"label": {"type": "string", "enum": config.labels}},
            "required": ["label"],
            "additionalProperties": false,
        });
        let text = config.text.unwrap_or_else(|| input_text(&input));
        let mut request = config.settings.request(vec![llm::system(system), llm::user(text)]);
        request.response_schema = Some(schema.to_string());
        for attempt in 0..2 {
            let response = llm::chat(&request)?;
            if let Some(label) = pick_label(&config.labels, &response.content) {
                return Ok(Emits::on(label.clone(), json!({"label": label, "input": input})));
            }
            if attempt == 0 {
                request.messages.push(llm::assistant(&response));
                request.messages.push(llm::user(format!("Answer with exactly one of: {}.", config.labels.join(", "))));
            }
        }
        Err(NodeError::Fatal(format!("the model named none of the labels {}", config.labels.join(", "))))
    }
}

#[derive(Deserialize, JsonSchema, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Style {
    #[default]
    Paragraph,
    Bullets,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Summarize")]
struct SummarizeConfig {
    /// The longest summary, in words.
    #[serde(default = "default_words")]
    #[schemars(title = "Maximum words", range(min = 5, max = 2000), example = 80)]
    max_words: u32,
    /// One paragraph, or bullet points.
    #[serde(default)]
    #[schemars(title = "Style")]
    style: Style,
    /// The text to summarize; the input when left out.
    #[serde(default)]
    #[schemars(title = "Text")]
    text: Option<String>,
    #[serde(flatten)]
    settings: ModelSettings,
}

fn default_words() -> u32 {
    100
}

#[derive(Serialize, JsonSchema)]
struct SummaryOutput {
    summary: String,
    model: String,
    usage: Value,
}

/// Text in, a short summary out.
struct Summarize;

impl Node for Summarize {
    const KIND: &'static str = "summarize";
    const TITLE: &'static str = "Summarize";
    const DESCRIPTION: &'static str = "Summarize text in at most so many words, as a paragraph or bullet points";
    const CATEGORY: &'static str = "ai";
    type Config = SummarizeConfig;
    type Input = Value;
    type Output = SummaryOutput;

    fn run(_cx: &Context, config: SummarizeConfig, input: Value) -> Result<Emits<SummaryOutput>, NodeError> {
        let form = match config.style {
            Style::Paragraph => "one paragraph",
            Style::Bullets => "bullet points starting with `- `",
        };
        let system = format!(
            "Summarize the user's text in {form}, at most {} words. Keep facts, names and numbers; add nothing.",
            config.max_words
        );
        let text = config.text.unwrap_or_else(|| input_text(&input));
        let response = llm::chat(&config.settings.request(vec![llm::system(system), llm::user(text)]))?;
        let meta = meta(&response);
        Ok(Emits::out(SummaryOutput {
            summary: response.content.trim().to_owned(),
            model: response.model,
            usage: meta["usage"].clone(),
        }))
    }
}

plugin!(Chat, Extract, Classify, Summarize);
