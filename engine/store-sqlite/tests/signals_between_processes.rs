//! Two processes on one SQLite file (a `trellis run` and a `trellis
//! approve`): a signal written by one reaches the other's listeners, and
//! notices of other kinds stay in the process that sent them.

use std::sync::Arc;
use std::time::Duration;

use trellis_store_api::{Notice, Store, TenantId};
use trellis_store_sqlite::SqliteBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_written_by_another_process_reaches_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let driving: Store = Arc::new(SqliteBackend::open(dir.path()).await.unwrap());
    let deciding: Store = Arc::new(SqliteBackend::open(dir.path()).await.unwrap());
    let mut heard = driving.notices();
    // Let the watcher note where the table stands before anything is sent.
    tokio::time::sleep(Duration::from_millis(400)).await;

    deciding.notify(&Notice::Work).await.unwrap();
    let signal = Notice::Signal { tenant: TenantId::new("acme"), run: "r1".into() };
    deciding.notify(&signal).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), heard.recv()).await.expect("within 5 s").unwrap();
    assert_eq!(first, signal, "the signal crosses; work stays with its sender");

    // The sender does not hear its own signal twice.
    let mut own = deciding.notices();
    tokio::time::sleep(Duration::from_millis(400)).await;
    deciding.notify(&signal).await.unwrap();
    assert_eq!(own.recv().await.unwrap(), signal);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(own.try_recv().is_err(), "read back from the table as well");
}
