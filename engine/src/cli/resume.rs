//! `trellis resume [RUN_ID]`: continue runs a crash or Ctrl-C interrupted.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::local::LocalArgs;

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue; every unfinished run when omitted.
    run_id: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    local: LocalArgs,
}

pub async fn run(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let (engine, store) = args.local.open().await?;
    let data_dir = args.local.data_dir()?;
    if let Some(run_id) = &args.run_id {
        let (run, _) = engine.details(&store, run_id).await?;
        let nodes = run
            .document
            .parse::<serde_json::Value>()
            .ok()
            .and_then(|d| d["nodes"].as_array().map(Vec::len))
            .unwrap_or(0);
        return super::run::drive_with_progress(&engine, &store, run_id, nodes, args.json, &data_dir).await;
    }
    let runs = engine.resume_all().await?;
    let mut all_succeeded = true;
    for run in &runs {
        all_succeeded &= run.status == trellis_engine::store::RunStatus::Succeeded;
        if args.json {
            println!("{}", serde_json::to_string(run)?);
        } else {
            eprintln!("run {} {}", run.id, run.status.as_str());
            println!("{}", serde_json::to_string_pretty(run.output.as_ref().unwrap_or(&Value::Null))?);
        }
    }
    if runs.is_empty() {
        eprintln!("no unfinished runs");
    }
    Ok(if all_succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
