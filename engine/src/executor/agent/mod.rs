//! The `agent` built-in: an LLM loop whose tools are node kinds installed in
//! the tenant. Each tool call is a sandboxed execution of that kind under
//! its plugin's grants and the tenant's limits; a tool marked `approval`
//! waits for a person before it runs.
//!
//! Durability: every model turn (with the tool calls it asks for) and
//! every tool call's start and result are written to the node's record
//! before the agent acts on them. A relaunched agent (after a crash, a
//! retry or an approval) reads the record and goes on from the last step:
//! a finished turn is not asked again and a finished call not run again; a
//! call that was running when the process died runs again with the same
//! idempotency key, like a plugin node's attempt.

mod config;
mod conversation;
mod tools;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use trellis_host_api::capabilities::RequestBudget;
use trellis_host_api::capabilities::llm::{ChatRequest, LlmErrorKind, LlmProvider, ToolCall};
use trellis_host_api::{Emit, Failure, FailureCode};

pub(crate) use config::AgentConfig;

use super::Engine;
use crate::catalog::Catalog;
use crate::quota::Usage;
use crate::store::{AgentRecord, AgentStep, ModelTurn, NodeRecord, TenantStore, ToolStatus, ToolStep};

/// Model turns an agent may take at most, whatever its config says.
pub const MAX_ITERATIONS: u32 = 50;
pub const DEFAULT_ITERATIONS: u32 = 8;
/// Tools one agent may offer.
pub const MAX_TOOLS: u32 = 32;
/// Tool calls run from one model turn; the model is told about the rest.
pub const MAX_CALLS_PER_TURN: usize = 8;
/// Tool calls one agent node runs in all.
pub const MAX_CALLS: usize = 64;
/// Longest arguments kept and run; longer ones are refused, cut short.
const MAX_ARGUMENT_BYTES: usize = 16 * 1024;

/// How a launch of the agent ended.
pub(crate) enum Outcome {
    /// The model answered without asking for a tool.
    Answered(Vec<Emit>),
    /// A tool call waits for a person's decision.
    AwaitingApproval,
    /// `retry_after`: what a rate-limited provider asked a retry to wait.
    Failed { failure: Failure, may_retry: bool, retry_after: Option<std::time::Duration> },
}

/// What the agent needs from the driver for one launch.
pub(crate) struct Launch {
    pub engine: Engine,
    pub store: TenantStore,
    pub catalog: Arc<Catalog>,
    pub run_id: String,
    /// The node's record as last written: its steps are where it goes on.
    pub record: NodeRecord,
    /// The node's rendered config (tools unrendered).
    pub config: Value,
    pub input: Value,
    /// What the run's expressions see.
    pub context: Value,
    pub payload_limit: u64,
    pub http_budget: Arc<RequestBudget>,
}

/// The record as the launch left it, what it metered, and how it ended.
pub(crate) struct Finished {
    pub record: NodeRecord,
    pub usage: Usage,
    pub http_calls: u64,
    pub outcome: Outcome,
}

fn steps(record: &mut NodeRecord) -> &mut Vec<AgentStep> {
    &mut record.agent.get_or_insert_with(AgentRecord::default).steps
}

fn fatal(message: String) -> Outcome {
    Outcome::Failed { failure: Failure::new(FailureCode::Fatal, message), may_retry: false, retry_after: None }
}

/// The task the model is given: the prompt, else the input as text.
fn task(config: &AgentConfig, input: &Value) -> String {
    match (&config.prompt, input) {
        (Some(prompt), _) => prompt.clone(),
        (None, Value::String(text)) => text.clone(),
        (None, other) => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

impl Launch {
    /// Writes the record: each step is durable before it is acted on.
    async fn persist(&self, record: &NodeRecord) -> Result<(), Failure> {
        self.store.put_node(&self.run_id, record).await.map_err(|error| {
            tracing::error!(%error, "writing an agent step failed");
            Failure::new(FailureCode::Retryable, "the agent's record could not be written")
        })
    }

    pub(crate) async fn run(self) -> Finished {
        let mut record = self.record.clone();
        let mut usage = Usage::default();
        let mut http_calls = 0;
        let outcome = self.drive(&mut record, &mut usage, &mut http_calls).await;
        Finished { record, usage, http_calls, outcome }
    }

    async fn drive(&self, record: &mut NodeRecord, usage: &mut Usage, http_calls: &mut u64) -> Outcome {
        let config = match AgentConfig::parse(&self.config) {
            Ok(config) => config,
            Err(failure) => return Outcome::Failed { failure, may_retry: false, retry_after: None },
        };
        let tools = match tools::resolve(&self.catalog, &config.tools) {
            Ok(tools) => tools,
            Err(failure) => return Outcome::Failed { failure, may_retry: false, retry_after: None },
        };
        let task = task(&config, &self.input);
        let llm = self.engine.llm().for_tenant(self.store.clone(), self.engine.inner.plans.clone());
        loop {
            // Tool calls of the last turn that are not finished go first.
            let next = steps(record).iter().enumerate().find_map(|(i, s)| match s {
                AgentStep::Tool(t) if !t.status.is_finished() => Some((i, t.clone())),
                _ => None,
            });
            let stop = match next {
                Some((index, step)) => self.settle_call(record, &tools, index, step, usage, http_calls).await,
                None => match finished(record, config.max_iterations) {
                    Some(outcome) => Some(outcome),
                    None => self.ask_model(record, &config, &tools, &task, &llm).await,
                },
            };
            if let Some(outcome) = stop {
                return outcome;
            }
            if let Err(failure) = self.persist(record).await {
                return Outcome::Failed { failure, may_retry: true, retry_after: None };
            }
        }
    }

    /// Takes one unfinished call a step further: refuses it, stops for a
    /// person, or runs it (its start written first). `Some` ends the launch;
    /// `None` asks the caller to write the record and go on.
    async fn settle_call(
        &self,
        record: &mut NodeRecord,
        tools: &[tools::Tool],
        index: usize,
        step: ToolStep,
        usage: &mut Usage,
        http_calls: &mut u64,
    ) -> Option<Outcome> {
        let Some(tool) = tools.iter().find(|t| t.spec.name == step.tool) else {
            settle(record, index, ToolStatus::Invalid, None, Some(format!("there is no tool `{}`", step.tool)));
            return None;
        };
        if step.status == ToolStatus::AwaitingApproval {
            return Some(Outcome::AwaitingApproval);
        }
        if let Err(problem) = tool.check_arguments(&step.arguments) {
            settle(record, index, ToolStatus::Invalid, None, Some(problem));
            return None;
        }
        if step.status == ToolStatus::Pending && tool.reference.approval {
            if let Some(step) = tool_at(record, index) {
                step.status = ToolStatus::AwaitingApproval;
            }
            return Some(match self.persist(record).await {
                Ok(()) => Outcome::AwaitingApproval,
                Err(failure) => Outcome::Failed { failure, may_retry: true, retry_after: None },
            });
        }
        let execution = match tool_at(record, index) {
            Some(step) => {
                step.status = ToolStatus::Running;
                step.executions += 1;
                step.executions
            }
            None => 1,
        };
        if let Err(failure) = self.persist(record).await {
            return Some(Outcome::Failed { failure, may_retry: true, retry_after: None });
        }
        let site = tools::CallSite {
            engine: &self.engine,
            store: &self.store,
            run_id: &self.run_id,
            node_id: &record.node_id,
            call_id: &step.call_id,
            execution,
            context: &self.context,
            payload_limit: self.payload_limit,
            http_budget: self.http_budget.clone(),
        };
        match tools::execute(tool, &step.arguments, site).await {
            Ok(execution) => {
                let report = &execution.report;
                usage.node_executions += 1;
                usage.fuel += report.fuel_used;
                usage.http_calls += report.http_calls.len() as u64;
                *http_calls += report.http_calls.len() as u64;
                if let Some(step) = tool_at(record, index) {
                    step.fuel_used += report.fuel_used;
                    step.wall_time_us += report.wall_time_us;
                    step.http_calls.extend(report.http_calls.iter().cloned());
                }
                match &report.failure {
                    None => {
                        let output = execution.emits.first().map(|e| e.data.clone()).unwrap_or(Value::Null);
                        let output = if output.to_string().len() > conversation::MAX_RESULT_CHARS {
                            Value::String(conversation::clip(output.to_string()))
                        } else {
                            output
                        };
                        settle(record, index, ToolStatus::Succeeded, Some(output), None);
                    }
                    Some(failure) => settle(record, index, ToolStatus::Failed, None, Some(failure.to_string())),
                }
            }
            Err(failure) => settle(record, index, ToolStatus::Failed, None, Some(failure.to_string())),
        }
        None
    }

    /// Asks the model for the next turn and adds it, with the calls it asks
    /// for, to the record (bounded first). `Some` when the model failed.
    async fn ask_model(
        &self,
        record: &mut NodeRecord,
        config: &AgentConfig,
        tools: &[tools::Tool],
        task: &str,
        llm: &crate::llm::TenantLlm,
    ) -> Option<Outcome> {
        let request = ChatRequest {
            model: config.model.clone(),
            messages: conversation::messages(config.system.as_deref(), task, steps(record)),
            tools: tools.iter().map(|t| t.spec.clone()).collect(),
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            response_format: Default::default(),
        };
        let started = Instant::now();
        let response = match llm.chat(request).await {
            Ok(response) => response,
            Err(error) => {
                let (code, may_retry) = match error.kind {
                    LlmErrorKind::Retryable => (FailureCode::Retryable, true),
                    LlmErrorKind::QuotaExceeded => (FailureCode::QuotaExceeded, false),
                    LlmErrorKind::Permanent => (FailureCode::Fatal, false),
                };
                let failure = Failure::new(code, error.to_string());
                return Some(Outcome::Failed { failure, may_retry, retry_after: error.retry_after });
            }
        };
        let turns = steps(record).iter().filter(|s| matches!(s, AgentStep::Turn(_))).count() as u32;
        let made = steps(record).iter().filter(|s| matches!(s, AgentStep::Tool(_))).count();
        let calls: Vec<AgentStep> =
            response.tool_calls.iter().enumerate().map(|(i, call)| AgentStep::Tool(new_call(call, i, made))).collect();
        steps(record).push(AgentStep::Turn(ModelTurn {
            turn: turns + 1,
            tool_calls: response.tool_calls.into_iter().map(bounded).collect(),
            content: conversation::clip(response.content),
            finish_reason: response.finish_reason,
            provider: response.provider,
            model: response.model,
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
            duration_ms: started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64,
        }));
        steps(record).extend(calls);
        None
    }
}

/// The answer, when the last turn asked for nothing; a failure, when the
/// turns are used up; `None` while the model should be asked again.
fn finished(record: &mut NodeRecord, max_iterations: u32) -> Option<Outcome> {
    let turns = steps(record).iter().filter(|s| matches!(s, AgentStep::Turn(_))).count() as u32;
    let calls = steps(record).iter().filter(|s| matches!(s, AgentStep::Tool(_))).count();
    if let Some(AgentStep::Turn(last)) = steps(record).last()
        && last.tool_calls.is_empty()
    {
        let answer = json!({"answer": last.content, "turns": turns, "tool_calls": calls});
        return Some(Outcome::Answered(vec![Emit { port: "out".to_owned(), data: answer }]));
    }
    (turns >= max_iterations)
        .then(|| fatal(format!("the agent took max_iterations ({max_iterations}) model turns without a final answer")))
}

/// A call's arguments as kept: over the limit, a short text of them.
fn bounded(mut call: ToolCall) -> ToolCall {
    if call.arguments.to_string().len() > MAX_ARGUMENT_BYTES {
        call.arguments = Value::String(call.arguments.to_string().chars().take(256).collect());
    }
    call
}

/// The step of the `i`th call of a turn, after `made` calls before it:
/// pending, or refused with the reason when it passes a bound.
fn new_call(call: &ToolCall, i: usize, made: usize) -> ToolStep {
    let size = call.arguments.to_string().len();
    let refusal = if size > MAX_ARGUMENT_BYTES {
        Some(format!("the arguments are {size} bytes, over the {MAX_ARGUMENT_BYTES}-byte limit"))
    } else if i >= MAX_CALLS_PER_TURN {
        Some(format!("at most {MAX_CALLS_PER_TURN} tool calls run per turn; call it again later"))
    } else if made + i >= MAX_CALLS {
        Some(format!("this agent has made its {MAX_CALLS} tool calls; answer with what you have"))
    } else {
        None
    };
    let bounded = bounded(call.clone());
    ToolStep {
        call_id: bounded.id,
        tool: bounded.name,
        arguments: bounded.arguments,
        status: if refusal.is_some() { ToolStatus::Invalid } else { ToolStatus::Pending },
        output: None,
        error: refusal,
        decision: None,
        executions: 0,
        fuel_used: 0,
        wall_time_us: 0,
        http_calls: Vec::new(),
    }
}

fn tool_at(record: &mut NodeRecord, index: usize) -> Option<&mut ToolStep> {
    match steps(record).get_mut(index) {
        Some(AgentStep::Tool(step)) => Some(step),
        _ => None,
    }
}

fn settle(record: &mut NodeRecord, index: usize, status: ToolStatus, output: Option<Value>, error: Option<String>) {
    if let Some(step) = tool_at(record, index) {
        step.status = status;
        step.output = output;
        step.error = error;
    }
}

/// Applies a person's decision to the call that waits for it: approved
/// calls run at the next launch, rejected ones are reported to the model.
/// `false` when no call was waiting.
pub(crate) fn decide(record: &mut NodeRecord, decision: Value) -> bool {
    let approved = decision.get("approved").and_then(Value::as_bool).unwrap_or(false);
    let waiting = steps(record).iter_mut().find_map(|s| match s {
        AgentStep::Tool(t) if t.status == ToolStatus::AwaitingApproval => Some(t),
        _ => None,
    });
    match waiting {
        Some(step) => {
            step.status = if approved { ToolStatus::Approved } else { ToolStatus::Rejected };
            step.decision = Some(decision);
            true
        }
        None => false,
    }
}
