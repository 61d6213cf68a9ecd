//! SQLite's group writer under concurrent writers: node records written
//! in shared commits all land.

use std::sync::Arc;

use trellis_store_api::{NodeRecord, Store, TenantId};
use trellis_store_sqlite::SqliteBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_node_writes_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let shared: Store = Arc::new(SqliteBackend::open(dir.path()).await.unwrap());
    let before = shared.commits();
    let store = shared.tenant(TenantId::new("t"));
    let writers = (0..64).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let run = format!("run-{i}");
            for step in 0..5 {
                let mut record = NodeRecord::pending(&run, &format!("n{step}"));
                record.attempt = step;
                store.put_nodes(&run, &[&record]).await.unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let (commits, writes) = (shared.commits().0 - before.0, shared.commits().1 - before.1);
    assert_eq!(writes, 64 * 5, "every write committed once");
    // 64 writers at once on four threads: commits are shared. How much
    // depends on scheduling, but one commit per write would mean none are.
    assert!(commits < writes, "{commits} commits for {writes} writes");
    for i in 0..64 {
        let nodes = store.nodes(&format!("run-{i}")).await.unwrap();
        assert_eq!(nodes.len(), 5, "run-{i}");
        assert!(nodes.iter().all(|n| n.attempt == n.node_id[1..].parse::<u32>().unwrap()));
    }
    // An empty write is a no-op, not an error.
    store.put_nodes("run-0", &[]).await.unwrap();
}
