//! `trellis approve RUN_ID NODE_ID`: decide an approval step of a local run.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::local::LocalArgs;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    run_id: String,
    node_id: String,
    /// Reject instead of approving.
    #[arg(long)]
    reject: bool,
    #[arg(long)]
    comment: Option<String>,
    #[command(flatten)]
    local: LocalArgs,
}

pub async fn run(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (engine, store) = args.local.open().await?;
    let decision = json!({"approved": !args.reject, "by": "cli", "comment": args.comment});
    engine.decide(&store, &args.run_id, &args.node_id, decision).await?;
    eprintln!("{} {} in run {}", if args.reject { "rejected" } else { "approved" }, args.node_id, args.run_id);
    Ok(ExitCode::SUCCESS)
}
