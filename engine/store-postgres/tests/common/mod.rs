//! A schema of its own on the test server for each test.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

/// A fresh schema named `<prefix>_<second>_<random>` on the server of
/// `TRELLIS_TEST_POSTGRES_URL`, and connect options that use it; `None`
/// (with a note) when the variable is unset.
pub async fn fresh_schema(prefix: &str) -> Option<PgConnectOptions> {
    let Ok(url) = std::env::var("TRELLIS_TEST_POSTGRES_URL") else {
        eprintln!("TRELLIS_TEST_POSTGRES_URL is not set: the PostgreSQL tests are skipped");
        return None;
    };
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let schema = format!("{prefix}_{secs}_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url).expect("TRELLIS_TEST_POSTGRES_URL");
    let mut admin = PgConnection::connect_with(&base).await.expect("connect");
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.expect("create schema");
    Some(base.options([("search_path", schema.as_str())]))
}
