//! The store contract's scenarios, on the PostgreSQL of
//! `TRELLIS_TEST_POSTGRES_URL` (set by `.ci/run`), each in a schema of its
//! own, through the server's role under row-level security.

mod common;

use std::sync::Arc;

use trellis_store_api::conformance::Fixture;
use trellis_store_postgres::{PostgresBackend, migrate};

async fn open() -> Option<Fixture> {
    let options = common::fresh_schema("conformance").await?;
    migrate(&options).await.expect("migrate");
    let backend = PostgresBackend::connect(options, 8).await.expect("connect as the server's role");
    Some(Fixture { store: Arc::new(backend), keep: Box::new(()) })
}

trellis_store_api::conformance_suite!(open());
