//! `trellis migrate --database postgres://…`: brings a PostgreSQL database
//! to the newest schema (tables, row-level security, the `trellis_app`
//! role). Run it as the role that should own the tables; SQLite needs no
//! such step, since its store migrates itself when opened.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, bail};
use clap::Args;
use sqlx::postgres::PgConnectOptions;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The database: `postgres://USER@HOST:PORT/NAME`.
    #[arg(long, value_name = "URL", env = "TRELLIS_DATABASE_URL")]
    database: String,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    if !(args.database.starts_with("postgres://") || args.database.starts_with("postgresql://")) {
        bail!("--database must be a postgres:// URL (a SQLite store migrates itself when `trellis serve` opens it)");
    }
    let options = PgConnectOptions::from_str(&args.database).context("--database is not a usable PostgreSQL URL")?;
    trellis_store_postgres::migrate(&options).await.context("migrating the database")?;
    eprintln!("the database is at the newest schema; the server works in it as `{}`", trellis_store_postgres::APP_ROLE);
    Ok(ExitCode::SUCCESS)
}
