//! `trellis admin create-tenant`: the server operator bootstraps a tenant.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use trellis_engine::store::Store;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and its owner; prints a one-time password and an API key.
    CreateTenant(CreateTenantArgs),
}

#[derive(Debug, Args)]
pub struct CreateTenantArgs {
    name: String,
    #[arg(long)]
    owner: String,
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
}

pub async fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateTenant(args) => {
            let email = args.owner.trim().to_ascii_lowercase();
            if !email.contains('@') || email.len() > 254 {
                anyhow::bail!("--owner `{}` is not an email address", args.owner);
            }
            let store = Store::open_sqlite(&args.data_dir).await?;
            let created = trellis_engine::auth::create_tenant(&store, &args.name, &email).await?;
            println!("{}", serde_json::to_string_pretty(&created)?);
            eprintln!("the password and the API key are shown once; store them now");
            Ok(ExitCode::SUCCESS)
        }
    }
}
