//! The store contract's scenarios, on SQLite (each in a new data folder).

use std::sync::Arc;

use trellis_store_api::conformance::Fixture;
use trellis_store_sqlite::SqliteBackend;

async fn open() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let backend = SqliteBackend::open(dir.path()).await.expect("open the store");
    Some(Fixture { store: Arc::new(backend), keep: Box::new(dir) })
}

trellis_store_api::conformance_suite!(open());
