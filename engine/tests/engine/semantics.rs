//! Execution semantics, one behaviour per test.

use serde_json::json;
use trellis_engine::store::{NodeStatus, RunStatus};
use trellis_host_api::FailureCode;

use trellis_engine::executor::{EngineConfig, EngineError};

use crate::common::{harness, harness_with, node, workflow};
use trellis_engine::store::{TenantDocuments, TenantStoreExt};

#[tokio::test(flavor = "multi_thread")]
async fn join_all_is_skipped_when_an_edge_is_dead_and_skips_propagate() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: skips
nodes:
  - { id: gate, builtin: branch, config: { condition: "input.go" } }
  - { id: yes, uses: trellis/transform, kind: reshape, config: { template: 1 } }
  - { id: no, uses: trellis/transform, kind: reshape, config: { template: 2 } }
  - { id: both, uses: trellis/transform, kind: reshape, config: { template: 3 } }
  - { id: after, uses: trellis/transform, kind: reshape, config: { template: 4 } }
  - { id: any, uses: trellis/transform, kind: reshape, join: any, config: { template: "{{ nodes.yes.output }}" } }
edges:
  - { from: gate, port: "true", to: yes }
  - { from: gate, port: "false", to: no }
  - { from: yes, to: both }
  - { from: no, to: both }
  - { from: both, to: after }
  - { from: yes, to: any }
  - { from: no, to: any }
"#,
    );
    let (run, nodes) = h.run(&doc, json!({"go": true})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(node(&nodes, "no").status, NodeStatus::Skipped);
    assert_eq!(node(&nodes, "both").status, NodeStatus::Skipped);
    assert_eq!(node(&nodes, "after").status, NodeStatus::Skipped);
    assert_eq!(node(&nodes, "any").output(), json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn independent_branches_run_at_the_same_time() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: parallel
nodes:
  - { id: left, uses: local/capabilities, kind: slow, config: { ms: 0, key: left, hold_until: right }, timeout_ms: 10000 }
  - { id: right, uses: local/capabilities, kind: slow, config: { ms: 0, key: right, hold_until: left }, timeout_ms: 10000 }
  - { id: join, uses: trellis/transform, kind: reshape, config: { template: "{{ input }}" } }
edges:
  - { from: left, to: join }
  - { from: right, to: join }
"#,
    );
    // Each holds until the other has started (written its attempt to kv):
    // run one after the other, they would both time out.
    let (run, nodes) = h.run(&doc, json!({})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let (left, right) = (node(&nodes, "left"), node(&nodes, "right"));
    // Each started before the other finished: the executions overlapped.
    assert!(left.started_at.unwrap() < right.finished_at.unwrap());
    assert!(right.started_at.unwrap() < left.finished_at.unwrap());
    // Two taken incoming edges: the input is keyed by source.
    assert_eq!(node(&nodes, "join").input.as_ref().unwrap()["left"]["attempts"][0]["attempt"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_only_retryable_failures() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: retries
nodes:
  - id: flaky
    uses: local/capabilities
    kind: flaky
    config: { failures: 2 }
    retry: { max_attempts: 3, backoff: fixed, initial_ms: 10 }
  - id: misconfigured
    uses: local/capabilities
    kind: kv-counter
    config: { key: "{{ input.missing.key }}" }
    retry: { max_attempts: 3, initial_ms: 10 }
  - { id: fallback, uses: trellis/transform, kind: reshape, config: { template: "{{ nodes.misconfigured.output.code }}" } }
  - id: crashy
    uses: local/hostile
    kind: panic
    retry: { max_attempts: 2, backoff: fixed, initial_ms: 10 }
  - { id: after-crash, uses: trellis/transform, kind: reshape, config: { template: "{{ nodes.crashy.output.code }}" } }
edges:
  - { from: misconfigured, port: error, to: fallback }
  - { from: crashy, port: error, to: after-crash }
"#,
    );
    let (run, nodes) = h.run(&doc, json!({})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let flaky = node(&nodes, "flaky");
    assert_eq!((flaky.status, flaky.attempt), (NodeStatus::Succeeded, 3));
    assert_eq!(flaky.history.len(), 2);
    assert!(flaky.history.iter().all(|a| a.failure.code == FailureCode::Retryable));
    // invalid-config is never retried, whatever the policy.
    let misconfigured = node(&nodes, "misconfigured");
    assert_eq!((misconfigured.status, misconfigured.attempt), (NodeStatus::Failed, 1));
    assert_eq!(misconfigured.error.as_ref().unwrap().code, FailureCode::InvalidConfig);
    assert_eq!(node(&nodes, "fallback").output(), json!("invalid_config"));
    // A trap kills the instance but is worth another attempt.
    let crashy = node(&nodes, "crashy");
    assert_eq!((crashy.status, crashy.attempt), (NodeStatus::Failed, 2));
    assert!(crashy.history.iter().all(|a| a.failure.code == FailureCode::Trap));
    assert_eq!(node(&nodes, "after-crash").output(), json!("trap"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_timeout_fails_the_run_and_cancels_the_rest() {
    // Fuel out of the way, so the wall-time limit is what stops the loop.
    let limits = trellis_host_api::Limits { fuel: u64::MAX / 4, ..Default::default() };
    let h = harness_with(EngineConfig { limits, ..crate::common::test_config() }).await;
    let doc = workflow(
        r#"
id: timeout
nodes:
  - { id: stuck, uses: local/hostile, kind: spin, timeout_ms: 300 }
  - { id: slow, uses: local/capabilities, kind: slow, config: { ms: 0, key: slow, hold_until: never } }
  - { id: after-slow, uses: trellis/transform, kind: reshape, config: { template: 1 } }
edges:
  - { from: slow, to: after-slow }
"#,
    );
    let (run, nodes) = h.run(&doc, json!({})).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("node `stuck` failed: timeout"), "{:?}", run.error);
    assert_eq!(node(&nodes, "stuck").error.as_ref().unwrap().code, FailureCode::Timeout);
    assert_eq!(node(&nodes, "slow").status, NodeStatus::Cancelled);
    assert_eq!(node(&nodes, "after-slow").status, NodeStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expression_error_fails_only_its_node_naming_expression_and_position() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: expr-error
nodes:
  - { id: bad, uses: trellis/transform, kind: reshape, config: { template: "{{ input.x | list }}" } }
  - { id: fine, uses: trellis/transform, kind: reshape, config: { template: "ok" } }
  - { id: handler, uses: trellis/transform, kind: reshape, config: { template: "{{ nodes.bad.output.message }}" } }
edges:
  - { from: bad, port: error, to: handler }
"#,
    );
    let (run, nodes) = h.run(&doc, json!({"x": 1})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let message = node(&nodes, "handler").output();
    let message = message.as_str().unwrap();
    assert!(message.contains("config.template: expression `input.x | list`"), "{message}");
    assert!(message.contains("line 1, column"), "{message}");
    assert_eq!(node(&nodes, "fine").output(), json!("ok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn switch_delay_and_subworkflow() {
    let h = harness().await;
    let child = workflow(
        r#"
id: child
nodes:
  - { id: shout, uses: trellis/transform, kind: render, config: { template: "{{ input.word | upper }}!" } }
"#,
    );
    assert_eq!(h.engine.save(&h.store, &child).await.unwrap(), 1);
    let doc = workflow(
        r#"
id: parent
nodes:
  - { id: route, builtin: switch, config: { value: "input.kind", cases: [email, sms] } }
  - { id: pause, builtin: delay, config: { ms: "{{ input.wait }}" } }
  - { id: call, builtin: subworkflow, config: { workflow: child, input: { word: "{{ input.kind }}" } } }
  - { id: email, uses: trellis/transform, kind: reshape, config: { template: email } }
edges:
  - { from: route, port: sms, to: pause }
  - { from: route, port: email, to: email }
  - { from: pause, to: call }
"#,
    );
    let (run, nodes) = h.run(&doc, json!({"kind": "sms", "wait": 150})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(node(&nodes, "email").status, NodeStatus::Skipped);
    let pause = node(&nodes, "pause");
    assert!(pause.finished_at.unwrap() - pause.started_at.unwrap() >= 150);
    assert_eq!(node(&nodes, "call").output(), json!("SMS!"));
    assert_eq!(run.output, Some(json!("SMS!")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_can_be_cancelled() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: cancellable
nodes:
  - { id: wait, builtin: approval }
  - { id: next, uses: trellis/transform, kind: reshape, config: { template: 1 } }
edges:
  - { from: wait, port: approved, to: next }
"#,
    );
    let run = h.engine.start(&h.store, &doc, None, json!({})).await.unwrap();
    let (engine, store, id) = (h.engine.clone(), h.store.clone(), run.id.clone());
    let driving = tokio::spawn(async move { engine.drive(&store, &id).await });
    h.wait_for(&run.id, "wait", NodeStatus::Waiting).await;
    h.engine.cancel(&h.store, &run.id).await.unwrap();
    let finished = driving.await.unwrap().unwrap();
    assert_eq!(finished.status, RunStatus::Cancelled);
    let (_, nodes) = h.engine.details(&h.store, &run.id).await.unwrap();
    assert!(nodes.iter().all(|n| n.status == NodeStatus::Cancelled), "{nodes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn input_is_checked_against_the_input_schema() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: typed
input_schema: { type: object, properties: { n: { type: integer } }, required: [n] }
nodes:
  - { id: a, uses: trellis/transform, kind: reshape, config: { template: 1 } }
"#,
    );
    let error = h.engine.start(&h.store, &doc, None, json!({"n": "three"})).await.unwrap_err();
    assert!(error.to_string().contains("input/n"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_versions_run_and_invalid_documents_are_never_stored() {
    let h = harness().await;
    let broken = workflow("id: versioned\nnodes:\n  - { id: a, uses: trellis/transform, kind: nope }\n");
    assert!(matches!(h.engine.save(&h.store, &broken).await, Err(EngineError::Invalid(_))));
    assert!(h.store.get_workflow("versioned", None).await.unwrap().is_none());

    let v1 = workflow(
        "id: versioned\nnodes:\n  - { id: a, uses: trellis/transform, kind: reshape, config: { template: 1 } }\n",
    );
    let v2 = workflow(
        "id: versioned\nnodes:\n  - { id: a, uses: trellis/transform, kind: reshape, config: { template: 2 } }\n",
    );
    assert_eq!(h.engine.save(&h.store, &v1).await.unwrap(), 1);
    assert_eq!(h.engine.save(&h.store, &v2).await.unwrap(), 2);
    let latest = h.engine.run_saved(&h.store, "versioned", None, json!({})).await.unwrap();
    assert_eq!((latest.workflow_version, latest.output), (Some(2), Some(json!(2))));
    let first = h.engine.run_saved(&h.store, "versioned", Some(1), json!({})).await.unwrap();
    assert_eq!((first.workflow_version, first.output), (Some(1), Some(json!(1))));
    let missing = h.engine.run_saved(&h.store, "nope", None, json!({})).await.unwrap_err();
    assert!(matches!(missing, EngineError::WorkflowNotFound(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_from_a_node_reuses_upstream_results() {
    use trellis_host_api::capabilities::KvStore;
    let h = harness().await;
    let doc = workflow(
        r#"
id: rerunnable
nodes:
  - { id: fetch, uses: local/capabilities, kind: kv-counter, config: { key: fetch } }
  - { id: shape, uses: local/capabilities, kind: kv-counter, config: { key: shape } }
  - { id: side, uses: local/capabilities, kind: kv-counter, config: { key: side } }
  - { id: report, uses: trellis/transform, kind: reshape, config: { template: "{{ nodes.shape.output.count }}" } }
edges:
  - { from: fetch, to: shape }
  - { from: shape, to: report }
  - { from: fetch, to: side }
"#,
    );
    let (first, _) = h.run(&doc, json!({})).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    let again = h.engine.rerun_from(&h.store, &first.id, "shape").await.unwrap();
    let finished = h.engine.drive(&h.store, &again.id).await.unwrap();
    assert_eq!(finished.status, RunStatus::Succeeded, "{:?}", finished.error);
    assert_eq!(finished.rerun_of.as_ref().unwrap().run_id, first.id);
    let (_, nodes) = h.engine.details(&h.store, &again.id).await.unwrap();
    assert_eq!(node(&nodes, "report").output(), json!(2), "shape ran again");
    // Executions counted by the plugin: fetch and side ran once in all.
    let kv = h.store.kv("local/capabilities", 1 << 20);
    let count = |bytes: Option<Vec<u8>>| serde_json::from_slice::<u64>(&bytes.unwrap()).unwrap();
    assert_eq!(count(kv.get("fetch").await.unwrap()), 1);
    assert_eq!(count(kv.get("side").await.unwrap()), 1);
    assert_eq!(count(kv.get("shape").await.unwrap()), 2);
    assert!(h.engine.rerun_from(&h.store, &first.id, "ghost").await.is_err());
}
