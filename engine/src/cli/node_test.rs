//! `trellis node test FILE NODE`: one node of a workflow file, run alone on
//! a given input, locally; prints its record. No run is recorded.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::{Map, Value};
use trellis_engine::executor::NodeTestInput;
use trellis_engine::store::NodeStatus;

use super::local::LocalArgs;
use super::run::{read_input, read_workflow};

#[derive(Debug, Args)]
pub struct NodeTestArgs {
    /// Workflow document, JSON or YAML.
    file: PathBuf,
    /// The node to run.
    node: String,
    /// The node's input as JSON, or `@FILE`.
    #[arg(long, default_value = "null")]
    input: String,
    /// What expressions see as `input` (the run's input), as JSON or
    /// `@FILE`; the node's input when left out.
    #[arg(long)]
    run_input: Option<String>,
    /// Other nodes' outputs, `{"node id": output}`, as JSON or `@FILE`.
    #[arg(long)]
    outputs: Option<String>,
    #[command(flatten)]
    local: LocalArgs,
}

pub async fn run(args: NodeTestArgs) -> anyhow::Result<ExitCode> {
    let workflow = read_workflow(&args.file)?;
    let input = read_input(&args.input)?;
    let run_input = args.run_input.as_deref().map(read_input).transpose().context("--run-input")?;
    let outputs: Map<String, Value> = match args.outputs.as_deref().map(read_input).transpose().context("--outputs")? {
        Some(Value::Object(outputs)) => outputs,
        Some(_) => anyhow::bail!("--outputs must be an object of node ids to outputs"),
        None => Map::new(),
    };
    let (engine, store) = args.local.open().await?;
    let record = engine.test_node(&store, &workflow, &args.node, NodeTestInput { input, run_input, outputs }).await?;
    println!("{}", serde_json::to_string_pretty(&record)?);
    Ok(if record.status == NodeStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
