//! `trellis validate FILE`: every problem at once, with its path and code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::local::LocalArgs;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    file: PathBuf,
    /// Print the problems as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    local: LocalArgs,
}

pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let workflow = match super::run::read_workflow(&args.file) {
        Ok(workflow) => workflow,
        Err(error) => {
            eprintln!("{error:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let (engine, store) = args.local.open().await?;
    let problems = engine.validate(&store, &workflow).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&problems)?);
    } else if problems.is_empty() {
        eprintln!("{} is valid", args.file.display());
    } else {
        for problem in &problems {
            println!("{problem}");
        }
        eprintln!("{} problem(s) in {}", problems.len(), args.file.display());
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
