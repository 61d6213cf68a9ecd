//! The compiled-component cache survives a restart: a second runtime (as a
//! second process start would) loads from disk without compiling.

use trellis_host_api::{LoadedFrom, Runtime, RuntimeConfig};

fn runtime_with_cache(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        max_concurrent_instances: 4,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn second_start_loads_from_cache_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(trellis_plugin_artifacts::ECHO).unwrap();

    let first = runtime_with_cache(dir.path());
    let plugin = first.load(&bytes).unwrap();
    assert_eq!(plugin.loaded_from(), LoadedFrom::Compiled);
    assert_eq!(first.compile_count(), 1);
    drop(first);

    let second = runtime_with_cache(dir.path());
    let plugin = second.load(&bytes).unwrap();
    assert_eq!(plugin.loaded_from(), LoadedFrom::Cache);
    assert_eq!(second.compile_count(), 0);
    // And it runs.
    assert_eq!(second.describe(&plugin).await.unwrap()[0].name, "echo");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(trellis_plugin_artifacts::ECHO).unwrap();
    runtime_with_cache(dir.path()).load(&bytes).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupt").unwrap();
    }
    let runtime = runtime_with_cache(dir.path());
    let plugin = runtime.load(&bytes).unwrap();
    assert_eq!(plugin.loaded_from(), LoadedFrom::Compiled);
    assert_eq!(runtime.describe(&plugin).await.unwrap()[0].name, "echo");
}
