//! When a run's records are written: a node whose plugin cannot act
//! outside its execution goes out with the next write that must happen;
//! one that can is written before it starts.

use serde_json::json;
use trellis_engine::store::{NodeStatus, RunStatus};

use crate::common::{harness, workflow};

/// Writes the store's shared writer carried during `work` (SQLite counts
/// them; a backend that does not answers zero, and only the records are
/// checked there).
async fn writes_during<T>(h: &crate::common::Harness, work: impl std::future::Future<Output = T>) -> (u64, T) {
    let before = h.engine.store().commits().1;
    let result = work.await;
    (h.engine.store().commits().1 - before, result)
}

fn chain(nodes: &[(&str, &str, &str)]) -> String {
    let mut yaml = String::from("id: chain\nnodes:\n");
    for (id, uses, kind) in nodes {
        let config = if *uses == "trellis/transform" { "template: 1".to_owned() } else { format!("key: {id}") };
        yaml.push_str(&format!("  - {{ id: {id}, uses: {uses}, kind: {kind}, config: {{ {config} }} }}\n"));
    }
    yaml.push_str("edges:\n");
    for pair in nodes.windows(2) {
        yaml.push_str(&format!("  - {{ from: {}, to: {} }}\n", pair[0].0, pair[1].0));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_of_self_contained_nodes_is_written_with_the_run_s_end() {
    let h = harness().await;
    let ids: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    let nodes: Vec<(&str, &str, &str)> = ids.iter().map(|id| (id.as_str(), "trellis/transform", "reshape")).collect();
    let document = workflow(&chain(&nodes));
    let (writes, run) = writes_during(&h, h.engine.run(&h.store, &document, json!({}))).await;
    let run = run.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    if h.engine.store().commits().1 > 0 {
        assert_eq!(writes, 2, "the run's admission, then its end with every node record");
    }
    let (_, records) = h.engine.details(&h.store, &run.id).await.unwrap();
    assert_eq!(records.len(), 10);
    assert!(records.iter().all(|n| n.status == NodeStatus::Succeeded && n.attempt == 1), "{records:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_reaches_out_is_written_before_it_starts_and_after_it_ends() {
    let h = harness().await;
    let document = workflow(&chain(&[
        ("before", "trellis/transform", "reshape"),
        ("counter", "local/capabilities", "kv-counter"),
        ("after", "trellis/transform", "reshape"),
    ]));
    let (writes, run) = writes_during(&h, h.engine.run(&h.store, &document, json!({}))).await;
    let run = run.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    if h.engine.store().commits().1 > 0 {
        // Admission; `before` done and `counter` running, before the kv
        // write; `counter` done before anything goes on; the end.
        assert_eq!(writes, 4);
    }
    let (_, records) = h.engine.details(&h.store, &run.id).await.unwrap();
    assert_eq!(records.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>(), ["before", "counter", "after"]);
    assert_eq!(records[1].output()["count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_branch_between_self_contained_nodes_adds_no_write() {
    let h = harness().await;
    let document = workflow(
        r#"
id: branching
nodes:
  - { id: first, uses: trellis/transform, kind: reshape, config: { template: 1 } }
  - { id: check, builtin: branch, config: { condition: "nodes.first.output == 1" } }
  - { id: yes, uses: trellis/transform, kind: reshape, config: { template: 2 } }
  - { id: no, uses: trellis/transform, kind: reshape, config: { template: 3 } }
edges:
  - { from: first, to: check }
  - { from: check, port: "true", to: yes }
  - { from: check, port: "false", to: no }
"#,
    );
    let (writes, run) = writes_during(&h, h.engine.run(&h.store, &document, json!({}))).await;
    let run = run.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!(2)));
    if h.engine.store().commits().1 > 0 {
        assert_eq!(writes, 2, "admission, then the end");
    }
    let (_, records) = h.engine.details(&h.store, &run.id).await.unwrap();
    let status = |id: &str| records.iter().find(|n| n.node_id == id).map(|n| n.status);
    assert_eq!(status("yes"), Some(NodeStatus::Succeeded));
    assert_eq!(status("no"), Some(NodeStatus::Skipped));
}
