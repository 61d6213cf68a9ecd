//! `trellis run FILE`: a local one-shot run with per-node progress.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use trellis_engine::executor::{Engine, EngineError, LiveEvent};
use trellis_engine::store::{NodeStatus, RunRecord, RunStatus, TenantStore};
use trellis_engine::workflow::{MAX_DOCUMENT_BYTES, Workflow};

use super::local::LocalArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workflow document, JSON or YAML.
    file: PathBuf,
    /// Run input as JSON, or `@FILE` to read it from a file.
    #[arg(long, default_value = "null")]
    input: String,
    /// Print the run record with every node record as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    local: LocalArgs,
}

/// `--input`: JSON text, or `@FILE` (capped like a document) holding it.
pub fn read_input(argument: &str) -> anyhow::Result<Value> {
    let Some(file) = argument.strip_prefix('@') else {
        return serde_json::from_str(argument).context("--input is not valid JSON");
    };
    let size = std::fs::metadata(file).with_context(|| format!("reading --input {argument}"))?.len();
    if size > MAX_DOCUMENT_BYTES as u64 {
        anyhow::bail!("--input {argument} is {size} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit");
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading --input {argument}"))?;
    serde_json::from_str(&text).with_context(|| format!("--input {argument} is not valid JSON"))
}

/// Reads and parses a workflow file, capping its size first.
pub fn read_workflow(file: &std::path::Path) -> anyhow::Result<Workflow> {
    let size = file.metadata().with_context(|| format!("reading {}", file.display()))?.len();
    if size > MAX_DOCUMENT_BYTES as u64 {
        anyhow::bail!("{} is {size} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit", file.display());
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Workflow::parse(&text).with_context(|| format!("{} is not a valid workflow document", file.display()))
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(&args.input)?;
    let workflow = read_workflow(&args.file)?;
    let (engine, store) = args.local.open().await?;
    let problems = engine.validate(&store, &workflow).await?;
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{}: {problem}", args.file.display());
        }
        return Ok(ExitCode::from(1));
    }
    let run = match engine.start(&store, &workflow, None, input).await {
        Ok(run) => run,
        Err(EngineError::InvalidInput(errors)) => {
            for error in errors {
                eprintln!("{error}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!("run {}", run.id);
    let data_dir = args.local.data_dir()?;
    drive_with_progress(&engine, &store, &run.id, workflow.nodes.len(), args.json, &data_dir).await
}

/// Drives a run while showing progress; Ctrl-C leaves it resumable.
pub async fn drive_with_progress(
    engine: &Engine,
    store: &TenantStore,
    run_id: &str,
    node_count: usize,
    json_output: bool,
    data_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let (done, progress) = spawn_progress(engine, run_id, node_count);
    let outcome = tokio::select! {
        result = engine.drive(store, run_id) => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    };
    // Let the progress task print the events already sent, then stop.
    let _ = done.send(());
    let _ = progress.await;
    let Some(result) = outcome else {
        eprintln!(
            "interrupted: run {run_id} is saved; continue it with `trellis resume {run_id} --data-dir {}`",
            data_dir.display()
        );
        return Ok(ExitCode::from(130));
    };
    let run = result?;
    report(engine, store, &run, json_output).await
}

/// Prints node events until `done` fires, then drains what was already sent.
fn spawn_progress(
    engine: &Engine,
    run_id: &str,
    node_count: usize,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
    let mut events = engine.subscribe();
    let run_id = run_id.to_owned();
    let bar = ProgressBar::new(node_count as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} nodes {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let task = tokio::spawn(async move {
        let mut draining = false;
        loop {
            let event = if draining {
                match events.try_recv() {
                    Ok(event) => event,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    received = events.recv() => match received {
                        Ok(event) => event,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    },
                    _ = &mut finished => {
                        draining = true;
                        continue;
                    }
                }
            };
            // Run events: the final record is printed by the caller.
            let LiveEvent::Node(event) = event else { continue };
            if event.run_id != run_id {
                continue;
            }
            let symbol = match event.status {
                NodeStatus::Succeeded => "✓",
                NodeStatus::Failed => "✗",
                NodeStatus::Skipped => "↷",
                NodeStatus::Cancelled => "■",
                NodeStatus::Retrying => "↻",
                NodeStatus::Waiting => "…",
                NodeStatus::Running | NodeStatus::Pending => "▸",
            };
            let mut line = format!("{symbol} {} {}", event.node_id, event.status.as_str());
            if event.attempt > 1 {
                line.push_str(&format!(" (attempt {})", event.attempt));
            }
            if event.status.is_finished() && event.wall_time_us > 0 {
                line.push_str(&format!(" in {:.1} ms", event.wall_time_us as f64 / 1000.0));
            }
            if let Some(error) = &event.error {
                line.push_str(&format!(": {error}"));
            }
            if event.status.is_finished() {
                bar.inc(1);
            }
            bar.set_message(event.node_id.clone());
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
        bar.finish_and_clear();
    });
    (done, task)
}

/// Prints the outcome; exit 0 only when the run succeeded.
pub async fn report(
    engine: &Engine,
    store: &TenantStore,
    run: &RunRecord,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let (run, nodes) = engine.details(store, &run.id).await?;
    if json_output {
        println!("{}", serde_json::to_string_pretty(&json!({"run": run, "nodes": nodes}))?);
    } else {
        eprintln!("run {} {}", run.id, run.status.as_str());
        if let Some(error) = &run.error {
            eprintln!("  {error}");
        }
        if let Some(output) = &run.output {
            println!("{}", serde_json::to_string_pretty(output)?);
        }
    }
    Ok(if run.status == RunStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
