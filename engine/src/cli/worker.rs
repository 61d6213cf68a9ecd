//! `trellis worker --database …`: executes runs recorded in a shared
//! PostgreSQL database, serves no API. It claims runs under leases it
//! renews by heartbeat, as many at once as `execution.claimed_runs`, and
//! wakes on the other processes' notices.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    process: super::serve::ProcessArgs,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    if args.process.database().is_none() {
        anyhow::bail!("a worker needs --database postgres://…: it executes the runs servers record there");
    }
    let process = args.process.start(true).await?;
    process.run_background(|_| {});
    eprintln!("trellis worker {} executing runs", process.engine.worker_id());
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitCode::SUCCESS)
}
