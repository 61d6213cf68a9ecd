//! `trellis admin …`: what the server operator does: bootstrap tenants and
//! set their plans.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use trellis_engine::quota::Plan;
use trellis_engine::store::{Store, StorePlans, TenantId};

/// Where the tenants are: the data directory's SQLite, or `--database`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
    /// The PostgreSQL database a `trellis serve --database` works in.
    #[arg(long, value_name = "URL", env = "TRELLIS_DATABASE_URL")]
    database: Option<String>,
}

impl StoreArgs {
    async fn open(&self) -> anyhow::Result<Store> {
        match &self.database {
            Some(url) => super::database::open(url).await,
            None => Ok(trellis_engine::store::open_sqlite(&self.data_dir).await?),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and its owner; prints a one-time password and an API key.
    CreateTenant(CreateTenantArgs),
    /// Change a tenant's quotas: the JSON's fields replace the plan's, the
    /// rest stay (`trellis admin set-plan ID --limits '{"runs_per_day": 100}'`).
    /// Running servers see the change within 2 seconds.
    SetPlan(SetPlanArgs),
}

#[derive(Debug, Args)]
pub struct SetPlanArgs {
    tenant_id: String,
    /// JSON object of quotas (see `GET /v1/plan` for the names).
    #[arg(long)]
    limits: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CreateTenantArgs {
    name: String,
    #[arg(long)]
    owner: String,
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateTenant(args) => {
            let email = args.owner.trim().to_ascii_lowercase();
            if !email.contains('@') || email.len() > 254 {
                anyhow::bail!("--owner `{}` is not an email address", args.owner);
            }
            let store = args.store.open().await?;
            let created = trellis_engine::auth::create_tenant(&store, &args.name, &email).await?;
            println!("{}", serde_json::to_string_pretty(&created)?);
            eprintln!("the password and the API key are shown once; store them now");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::SetPlan(args) => {
            let changes: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&args.limits).context("--limits must be a JSON object")?;
            let store = args.store.open().await?;
            let tenant = TenantId::new(args.tenant_id.clone());
            // Shown over the built-in defaults; a server applies them over
            // its configuration's `[plan]`.
            let plan = store
                .change_plan(&tenant, changes, &Plan::default())
                .await
                .context("--limits names an unknown quota or a bad value")?
                .ok_or_else(|| anyhow::anyhow!("there is no tenant `{}`", args.tenant_id))?;
            println!("{}", serde_json::to_string_pretty(&plan)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
