//! The store contract's scenarios, on the PostgreSQL of
//! `TRELLIS_TEST_POSTGRES_URL` (set by `.ci/run`), each in a schema of its
//! own, through the server's role under row-level security.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use trellis_store_api::conformance::Fixture;
use trellis_store_postgres::{PostgresBackend, migrate};

async fn open() -> Option<Fixture> {
    let Ok(url) = std::env::var("TRELLIS_TEST_POSTGRES_URL") else {
        eprintln!("TRELLIS_TEST_POSTGRES_URL is not set: the PostgreSQL conformance scenarios are skipped");
        return None;
    };
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let schema = format!("conformance_{secs}_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url).expect("TRELLIS_TEST_POSTGRES_URL");
    let mut admin = PgConnection::connect_with(&base).await.expect("connect");
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.expect("create schema");
    let options = base.options([("search_path", schema.as_str())]);
    migrate(&options).await.expect("migrate");
    let backend = PostgresBackend::connect(options, 8).await.expect("connect as the server's role");
    Some(Fixture { store: Arc::new(backend), keep: Box::new(schema) })
}

trellis_store_api::conformance_suite!(open());
