//! The SQLite store under concurrent writers: node records written in
//! shared commits all land, and admission counts runs atomically.

use trellis_engine::store::{NodeRecord, Store, TenantId};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_node_writes_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap().tenant(TenantId::new("t"));
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
    for i in 0..64 {
        let nodes = store.nodes(&format!("run-{i}")).await.unwrap();
        assert_eq!(nodes.len(), 5, "run-{i}");
        assert!(nodes.iter().all(|n| n.attempt == n.node_id[1..].parse::<u32>().unwrap()));
    }
    // An empty write is a no-op, not an error.
    store.put_nodes("run-0", &[]).await.unwrap();
}
