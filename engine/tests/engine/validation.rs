//! Save-time validation reports every problem at once, with path and code.

use trellis_engine::workflow::{ProblemCode, ValidationLimits, validate};

use crate::common::{harness, workflow};

fn codes_at(problems: &[trellis_engine::workflow::Problem], code: ProblemCode) -> Vec<String> {
    problems.iter().filter(|p| p.code == code).map(|p| p.path.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_problem_is_reported_at_once_with_its_path() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: broken
nodes:
  - { id: a, uses: trellis/http-request@^0.1, kind: request, config: { url: 5, method: "{{ input.m }}" } }
  - { id: a, uses: trellis/transform, kind: reshape, config: { template: 1 } }
  - { id: b, uses: nobody/nothing, kind: x }
  - { id: c, uses: trellis/transform@^9, kind: reshape }
  - { id: d, uses: trellis/transform, kind: nope }
  - { id: e, uses: trellis/transform, kind: reshape, config: { template: "{{ input. }}" } }
  - { id: f, builtin: branch, config: { condition: "1 +" } }
  - { id: g, builtin: delay, uses: trellis/transform }
  - { id: h, uses: trellis/transform, kind: reshape, config: { template: 1 } }
  - { id: i, uses: trellis/transform, kind: reshape, config: { template: 1 } }
edges:
  - { from: a, to: ghost }
  - { from: f, port: maybe, to: h }
  - { from: h, to: i }
  - { from: i, to: h }
"#,
    );
    let problems = h.engine.validate(&h.store, &doc).await.unwrap();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(codes_at(&problems, ProblemCode::InvalidConfig), ["$.nodes[0].config.url"], "{text:#?}");
    assert_eq!(codes_at(&problems, ProblemCode::DuplicateNode), ["$.nodes[1].id"]);
    assert_eq!(codes_at(&problems, ProblemCode::UnknownPlugin), ["$.nodes[2].uses"]);
    assert_eq!(codes_at(&problems, ProblemCode::VersionNotInstalled), ["$.nodes[3].uses"]);
    assert_eq!(codes_at(&problems, ProblemCode::UnknownKind), ["$.nodes[4].kind"]);
    assert_eq!(
        codes_at(&problems, ProblemCode::ExpressionSyntax),
        ["$.nodes[5].config.template", "$.nodes[6].config.condition"]
    );
    assert_eq!(codes_at(&problems, ProblemCode::NodeType), ["$.nodes[7]"]);
    assert_eq!(codes_at(&problems, ProblemCode::UnknownNode), ["$.edges[0].to"]);
    assert_eq!(codes_at(&problems, ProblemCode::UnknownPort), ["$.edges[1].port"]);
    let cycle = problems.iter().find(|p| p.code == ProblemCode::Cycle).expect("cycle reported");
    assert_eq!(cycle.message, "cycle: h → i → h");
    // The templated `method` is not held against the schema.
    assert!(!text.iter().any(|t| t.contains("method")), "{text:#?}");
    assert!(text.iter().any(|t| t.contains("version of `trellis/transform` matches `^9`")), "{text:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn node_count_is_limited_including_map_sub_graphs() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: big
nodes:
  - { id: a, uses: trellis/transform, kind: reshape, config: { template: 1 } }
  - id: m
    builtin: map
    config:
      items: "{{ input.items }}"
      nodes:
        - { id: x, uses: trellis/transform, kind: reshape, config: { template: "{{ input. }}" } }
        - { id: y, uses: trellis/transform, kind: nope }
"#,
    );
    let problems = validate(&doc, &h.engine.catalog(&h.store).await.unwrap(), &ValidationLimits { max_nodes: 3 });
    assert_eq!(codes_at(&problems, ProblemCode::TooManyNodes), ["$.nodes"]);
    assert!(problems[problems.len() - 1].message.contains("4 nodes"));
    // Sub-graph problems carry their nested path.
    assert_eq!(codes_at(&problems, ProblemCode::ExpressionSyntax), ["$.nodes[1].config.nodes[0].config.template"]);
    assert_eq!(codes_at(&problems, ProblemCode::UnknownKind), ["$.nodes[1].config.nodes[1].kind"]);
    assert!(
        validate(&doc, &h.engine.catalog(&h.store).await.unwrap(), &ValidationLimits { max_nodes: 10 })
            .iter()
            .all(|p| p.code != ProblemCode::TooManyNodes)
    );
}

/// An agent's tools are checked at save time like plugin nodes, each
/// problem at its path; a classifier's labels are its ports.
#[tokio::test(flavor = "multi_thread")]
async fn agent_tools_and_label_ports_are_checked_at_save() {
    let h = harness().await;
    let doc = workflow(
        r#"
id: agentic
nodes:
  - id: a
    builtin: agent
    config:
      max_iterations: 99
      tools:
        - { uses: nobody/nothing, kind: x }
        - { uses: trellis/http-request, kind: request, config: { url: 5 } }
        - { name: twice, uses: trellis/transform, kind: render, config: { template: "x" } }
        - { name: twice, uses: trellis/transform, kind: nope, parameters: { type: 12 } }
  - id: c
    uses: trellis/ai
    kind: classify
    config: { labels: [urgent, routine] }
  - { id: u, uses: trellis/transform, kind: render, config: { template: "u" } }
  - { id: z, uses: trellis/transform, kind: render, config: { template: "z" } }
edges:
  - { from: c, port: urgent, to: u }
  - { from: c, port: whenever, to: z }
"#,
    );
    let problems = h.engine.validate(&h.store, &doc).await.unwrap();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let at = |code| codes_at(&problems, code);
    assert_eq!(at(ProblemCode::UnknownPlugin), ["$.nodes[0].config.tools[0].uses"], "{text:#?}");
    assert_eq!(at(ProblemCode::UnknownKind), ["$.nodes[0].config.tools[3].kind"], "{text:#?}");
    let invalid = at(ProblemCode::InvalidConfig);
    for path in [
        "$.nodes[0].config.max_iterations",
        "$.nodes[0].config.tools[1].config.url",
        "$.nodes[0].config.tools[3].name",
        "$.nodes[0].config.tools[3].parameters",
    ] {
        assert!(invalid.iter().any(|p| p == path), "{path} missing in {text:#?}");
    }
    let ports: Vec<&String> = problems.iter().filter(|p| p.message.contains("whenever")).map(|p| &p.path).collect();
    assert_eq!(ports.len(), 1, "{text:#?}");
    assert!(!text.iter().any(|t| t.contains("port `urgent`")), "{text:#?}");
}
