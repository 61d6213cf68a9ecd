//! Which saved workflows a workflow starts as `subworkflow` nodes (its own
//! and those inside `map` bodies), and whether saving one would close a
//! cycle of calls between saved workflows.
//!
//! Only literal workflow ids can be followed; an id computed by an
//! expression is left to the run-time depth limit.

use std::collections::BTreeMap;

use petgraph::graphmap::DiGraphMap;

use super::document::{Builtin, NodeSpec, Workflow};
use super::validate::sub_graph;

/// Every literal `subworkflow` target in `workflow`, with its JSON path.
pub fn subworkflow_calls(workflow: &Workflow) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    collect(&workflow.nodes, "$.nodes", &mut calls);
    calls
}

fn collect(nodes: &[NodeSpec], prefix: &str, calls: &mut Vec<(String, String)>) {
    for (i, node) in nodes.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        match node.builtin {
            Some(Builtin::Subworkflow) => {
                if let Some(id) = node.config.get("workflow").and_then(|v| v.as_str())
                    && !crate::expr::is_template(id)
                {
                    calls.push((format!("{path}.config.workflow"), id.to_owned()));
                }
            }
            Some(Builtin::Map) => {
                if let Ok((inner, _)) = sub_graph(&node.config) {
                    collect(&inner, &format!("{path}.config.nodes"), calls);
                }
            }
            _ => {}
        }
    }
}

/// Saved workflows a cycle check may read before it gives up: the check
/// is bounded whatever the tenant saved.
pub const MAX_FOLLOWED: usize = 1_000;

/// A cycle through `root` in the graph of calls: the ids on it, `root`
/// first and last.
pub fn cycle_through<'a>(root: &'a str, calls: &'a BTreeMap<String, Vec<String>>) -> Option<Vec<&'a str>> {
    let mut graph: DiGraphMap<&str, ()> = DiGraphMap::new();
    for (from, targets) in calls {
        for to in targets {
            graph.add_edge(from.as_str(), to.as_str(), ());
        }
    }
    if graph.contains_edge(root, root) {
        return Some(vec![root, root]);
    }
    let component = petgraph::algo::tarjan_scc(&graph).into_iter().find(|scc| scc.contains(&root))?;
    if component.len() < 2 {
        return None;
    }
    // A shortest way back to `root`, through the component.
    let (_, path) = petgraph::algo::astar(&graph, root, |n| n != root && graph.contains_edge(n, root), |_| 1, |_| 0)?;
    let mut cycle = path;
    cycle.push(root);
    Some(cycle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(edges: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, to) in edges {
            calls.entry((*from).to_owned()).or_default().push((*to).to_owned());
        }
        calls
    }

    #[test]
    fn direct_indirect_and_no_cycles() {
        assert_eq!(cycle_through("a", &calls(&[("a", "a")])), Some(vec!["a", "a"]));
        assert_eq!(cycle_through("a", &calls(&[("a", "b"), ("b", "c"), ("c", "a")])), Some(vec!["a", "b", "c", "a"]));
        assert_eq!(cycle_through("a", &calls(&[("a", "b"), ("b", "c"), ("c", "b")])), None, "the cycle misses a");
        assert_eq!(cycle_through("a", &calls(&[("a", "b"), ("a", "c"), ("b", "c")])), None);
    }
}
