//! The edge structure of a workflow: incoming/outgoing edges per node and
//! cycle detection.

use std::collections::BTreeMap;

use super::document::{Edge, NodeSpec, Workflow};

/// Edges indexed by node. Built only over edges whose endpoints exist.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    incoming: BTreeMap<String, Vec<Edge>>,
    outgoing: BTreeMap<String, Vec<Edge>>,
}

impl Graph {
    pub fn new(workflow: &Workflow) -> Self {
        Self::from_parts(&workflow.nodes, &workflow.edges)
    }

    pub fn from_parts(nodes: &[NodeSpec], edges: &[Edge]) -> Self {
        let ids: std::collections::BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        let mut graph = Graph::default();
        for node in nodes {
            graph.incoming.entry(node.id.clone()).or_default();
            graph.outgoing.entry(node.id.clone()).or_default();
        }
        for edge in edges {
            if ids.contains(edge.from.as_str()) && ids.contains(edge.to.as_str()) {
                graph.outgoing.entry(edge.from.clone()).or_default().push(edge.clone());
                graph.incoming.entry(edge.to.clone()).or_default().push(edge.clone());
            }
        }
        graph
    }

    pub fn incoming(&self, node: &str) -> &[Edge] {
        self.incoming.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn outgoing(&self, node: &str) -> &[Edge] {
        self.outgoing.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a failure of `node` is handled by an `error` edge.
    pub fn has_error_edge(&self, node: &str) -> bool {
        self.outgoing(node).iter().any(|e| e.port == "error")
    }

    /// Nodes without outgoing edges: their outputs make the run's output.
    pub fn leaves(&self) -> Vec<&str> {
        self.outgoing.iter().filter(|(_, edges)| edges.is_empty()).map(|(id, _)| id.as_str()).collect()
    }

    /// Every cycle found by a depth-first search, each as the node ids on it
    /// in edge order (the first id repeated at the end).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = self.outgoing.keys().map(|k| (k.as_str(), Mark::New)).collect();
        let mut cycles = Vec::new();
        let roots: Vec<&str> = self.outgoing.keys().map(String::as_str).collect();
        for root in roots {
            if marks[root] != Mark::New {
                continue;
            }
            // Iterative DFS: (node, index of next outgoing edge).
            let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
            marks.insert(root, Mark::Active);
            while let Some((node, next)) = stack.last().copied() {
                let edges = self.outgoing(node);
                if next >= edges.len() {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                }
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let target = edges[next].to.as_str();
                match marks.get(target).copied().unwrap_or(Mark::Done) {
                    Mark::New => {
                        marks.insert(target, Mark::Active);
                        stack.push((target, 0));
                    }
                    Mark::Active => {
                        let start = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[start..].iter().map(|(n, _)| (*n).to_owned()).collect();
                        cycle.push(target.to_owned());
                        cycles.push(cycle);
                    }
                    Mark::Done => {}
                }
            }
        }
        cycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Workflow;

    fn workflow(edges: &[(&str, &str)]) -> Workflow {
        let mut ids: Vec<&str> = edges.iter().flat_map(|(a, b)| [*a, *b]).collect();
        ids.sort();
        ids.dedup();
        let value = serde_json::json!({
            "id": "w",
            "nodes": ids.iter().map(|id| serde_json::json!({"id": id, "builtin": "delay"})).collect::<Vec<_>>(),
            "edges": edges.iter().map(|(a, b)| serde_json::json!({"from": a, "to": b})).collect::<Vec<_>>(),
        });
        Workflow::from_value(value).unwrap()
    }

    #[test]
    fn finds_the_nodes_on_a_cycle() {
        let graph = Graph::new(&workflow(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]));
        assert_eq!(graph.cycles(), vec![vec!["a", "b", "c", "a"]]);
        assert_eq!(graph.leaves(), vec!["d"]);
    }

    #[test]
    fn a_dag_has_no_cycles() {
        let graph = Graph::new(&workflow(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]));
        assert!(graph.cycles().is_empty());
        assert_eq!(graph.incoming("d").len(), 2);
    }
}
