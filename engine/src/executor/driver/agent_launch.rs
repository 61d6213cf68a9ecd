//! An agent node in the driver: each launch runs the agent loop as a task
//! of the run (it writes its own steps to the node's record as it goes),
//! and its end comes back as an event: an answer, a call waiting for a
//! person, or a failure the node's retry policy handles.

use serde_json::Value;

use super::{Driver, Event};
use crate::executor::EngineError;
use crate::executor::agent::{self, Finished, Launch, Outcome};
use crate::store::{AgentStep, NodeStatus};

impl Driver {
    /// Starts (or resumes) the agent of a node whose record says `running`.
    pub(super) async fn spawn_agent(&mut self, node_id: &str) -> Result<(), EngineError> {
        let plan = self.engine.inner.plans.plan(&self.store).await?;
        let http_budget = self
            .http_budget
            .get_or_insert_with(|| {
                let left = plan.http_requests_per_run.saturating_sub(self.http_used);
                self.engine.http_budget(&self.run.id, plan.http_requests_per_run, left)
            })
            .clone();
        let record = self.nodes[node_id].clone();
        let launch = Launch {
            engine: self.engine.clone(),
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            run_id: self.run.id.clone(),
            config: record.config.clone().unwrap_or(Value::Null),
            input: record.input.clone().unwrap_or(Value::Null),
            record,
            context: self.context(),
            payload_limit: plan.payload_bytes,
            http_budget,
        };
        self.active.insert(node_id.to_owned());
        let events = self.events.clone();
        let node_id = node_id.to_owned();
        self.deferred.push((
            super::Work::Other,
            Box::pin(async move {
                let finished = launch.run().await;
                let _ = events.send(Event::Agent { node_id, finished: Box::new(finished) });
            }),
        ));
        Ok(())
    }

    pub(super) async fn agent_finished(&mut self, node_id: &str, finished: Finished) -> Result<(), EngineError> {
        let Finished { record, usage, http_calls, outcome } = finished;
        self.usage.add(&usage);
        self.http_used += http_calls;
        {
            let node = self.node_mut(node_id);
            node.agent = record.agent;
            // The node's totals are its tool calls' (its HTTP calls also
            // count toward the run's budget when the run is loaded again).
            let tools = node.agent.iter().flat_map(|a| &a.steps).filter_map(|s| match s {
                AgentStep::Tool(tool) => Some(tool),
                AgentStep::Turn(_) => None,
            });
            let (mut fuel, mut wall, mut calls) = (0, 0, Vec::new());
            for tool in tools {
                fuel += tool.fuel_used;
                wall += tool.wall_time_us;
                calls.extend(tool.http_calls.iter().cloned());
            }
            node.fuel_used = fuel;
            node.wall_time_us = wall;
            node.http_calls = calls;
        }
        match outcome {
            Outcome::Answered(emits) => self.succeed(node_id, emits).await,
            Outcome::AwaitingApproval => {
                self.node_mut(node_id).status = NodeStatus::Waiting;
                self.save(node_id).await?;
                self.approvals.insert(node_id.to_owned());
                Ok(())
            }
            Outcome::Failed { failure, may_retry, retry_after } => {
                self.fail_after(node_id, failure, may_retry, retry_after).await
            }
        }
    }

    /// A person decided the call an agent waits for: the decision goes in
    /// its step, the signal is spent, and the agent goes on.
    pub(super) async fn agent_decided(&mut self, node_id: &str, decision: Value) -> Result<(), EngineError> {
        let node = self.node_mut(node_id);
        agent::decide(node, decision);
        node.signal = None;
        node.status = NodeStatus::Running;
        self.save(node_id).await?;
        self.spawn_agent(node_id).await
    }
}
