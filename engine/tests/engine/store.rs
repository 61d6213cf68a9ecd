//! The SQLite store under concurrent writers: node records written in
//! shared commits all land, and admission counts runs atomically.

use trellis_engine::store::{NodeRecord, TenantId, TenantStoreExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_node_writes_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let shared = trellis_engine::store::open_sqlite(dir.path()).await.unwrap();
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

/// An audited change and its audit entry commit together: when the entry
/// cannot be written (here: the same entry a second time), the change is
/// not either. Both write paths: the sqlx one (secrets) and the group
/// writer (runs).
#[tokio::test(flavor = "multi_thread")]
async fn an_audited_change_and_its_entry_commit_or_fail_together() {
    use trellis_engine::store::{RunRecord, RunStatus};
    let dir = tempfile::tempdir().unwrap();
    let store = trellis_engine::store::open_sqlite(dir.path()).await.unwrap().tenant(TenantId::new("t"));
    let audited = store.audited("member:m", "secret.write", "A", serde_json::json!({}));
    audited.put_secret("A", b"sealed-a").await.unwrap();
    assert!(audited.put_secret("B", b"sealed-b").await.is_err(), "the same entry twice cannot be written");
    assert_eq!(store.sealed_secret("B").await.unwrap(), None, "the change went with its failed entry");
    assert_eq!(store.sealed_secret("A").await.unwrap().as_deref(), Some(&b"sealed-a"[..]));
    let entries = store.list_audit(None, 10).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == "secret.write").count(), 1);

    let document = trellis_engine::store::Document::of(&serde_json::json!({"id": "w", "nodes": []})).unwrap();
    let mut run = RunRecord::new("r1".into(), "w".into(), None, document, RunStatus::Pending, serde_json::json!({}));
    store.insert_run(&run).await.unwrap();
    let cancelling = store.audited("member:m", "run.cancel", "r1", serde_json::json!({}));
    run.status = RunStatus::Cancelled;
    cancelling.update_run(&run).await.unwrap();
    run.status = RunStatus::Failed;
    assert!(cancelling.update_run(&run).await.is_err());
    assert_eq!(store.get_run("r1").await.unwrap().unwrap().status, RunStatus::Cancelled);
    let entries = store.list_audit(None, 10).await.unwrap();
    let cancel = entries.iter().find(|e| e.action == "run.cancel").unwrap();
    assert_eq!(cancel.details["run"], "r1");
}

/// Forty admissions at once against a quota of five concurrent runs and
/// seven a day: exactly five are admitted (no two admissions both see
/// four running), the rest refused naming the quota; once two finish, the
/// day's limit is what refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admission_counts_runs_atomically_at_a_quotas_edge() {
    use trellis_engine::store::{Admission, Document, RunQuotas, RunRecord, RunStatus};
    let dir = tempfile::tempdir().unwrap();
    let store = trellis_engine::store::open_sqlite(dir.path()).await.unwrap().tenant(TenantId::new("t"));
    let document = Document::of(&serde_json::json!({"id": "w", "nodes": []})).unwrap();
    let quotas = RunQuotas { concurrent_runs: 5, runs_per_day: 7 };
    let run = |i: usize| {
        RunRecord::new(format!("r{i}"), "w".into(), None, document.clone(), RunStatus::Running, serde_json::json!({}))
    };
    let admissions = (0..40).map(|i| {
        let (store, run) = (store.clone(), run(i));
        tokio::spawn(async move { store.admit_run(&run, "2026-12-07", quotas).await.unwrap() })
    });
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for (i, admission) in admissions.collect::<Vec<_>>().into_iter().enumerate() {
        match admission.await.unwrap() {
            Admission::Admitted => admitted.push(i),
            Admission::Refused(exceeded) => refused.push(exceeded.quota),
            Admission::Exists => panic!("r{i} exists"),
        }
    }
    assert_eq!(admitted.len(), 5, "admitted {admitted:?}");
    assert!(refused.iter().all(|quota| *quota == "concurrent_runs"), "{refused:?}");

    // Two finish: two more fit under the concurrency, and the day is then full.
    for i in &admitted[..2] {
        let mut finished = store.get_run(&format!("r{i}")).await.unwrap().unwrap();
        finished.status = RunStatus::Succeeded;
        store.update_run(&finished).await.unwrap();
    }
    let late = (100..110).map(|i| {
        let (store, run) = (store.clone(), run(i));
        tokio::spawn(async move { store.admit_run(&run, "2026-12-07", quotas).await.unwrap() })
    });
    let mut outcomes = Vec::new();
    for admission in late.collect::<Vec<_>>() {
        outcomes.push(admission.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|a| matches!(a, Admission::Admitted)).count(), 2, "{outcomes:?}");
}

/// LLM provider rows keep their sealed key across a change that sends none,
/// and token use adds up per model and in the day's total, per tenant.
#[tokio::test(flavor = "multi_thread")]
async fn llm_settings_and_token_use_are_kept_per_tenant() {
    use trellis_engine::store::{LlmProviderRow, ModelUsage};
    let dir = tempfile::tempdir().unwrap();
    let shared = trellis_engine::store::open_sqlite(dir.path()).await.unwrap();
    let (acme, other) = (shared.tenant(TenantId::new("acme")), shared.tenant(TenantId::new("other")));
    let row = |setting: &str, key: Option<&[u8]>| LlmProviderRow {
        name: "openai".into(),
        setting: setting.into(),
        api_key_sealed: key.map(<[u8]>::to_vec),
        updated_at: 1,
    };
    acme.put_llm_provider(&row("{\"v\":1}", Some(b"sealed")), true).await.unwrap();
    acme.put_llm_provider(&row("{\"v\":2}", None), true).await.unwrap();
    let rows = acme.llm_providers().await.unwrap();
    assert_eq!((rows[0].setting.as_str(), rows[0].api_key_sealed.as_deref()), ("{\"v\":2}", Some(&b"sealed"[..])));
    acme.put_llm_provider(&row("{\"v\":3}", None), false).await.unwrap();
    assert_eq!(acme.llm_providers().await.unwrap()[0].api_key_sealed, None, "an explicit removal clears the key");
    assert!(other.llm_providers().await.unwrap().is_empty());

    let call = |model: &str, prompt, completion| ModelUsage {
        day: "2026-12-07".into(),
        provider: "openai".into(),
        model: model.into(),
        calls: 1,
        prompt_tokens: prompt,
        completion_tokens: completion,
    };
    let calls = [call("gpt-4o", 10, 5), call("gpt-4o", 1, 2), call("gpt-4o-mini", 7, 0)];
    let writes = calls.iter().map(|c| acme.add_llm_usage("2026-12-07", c));
    for result in futures::future::join_all(writes).await {
        result.unwrap();
    }
    let models = acme.llm_usage("2026-12-01", "2026-12-31").await.unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!((models[0].calls, models[0].prompt_tokens, models[0].completion_tokens), (2, 11, 7));
    let day = acme.usage("2026-12-07", "2026-12-07").await.unwrap();
    assert_eq!(day[0].1.llm_tokens, 25);
    assert!(other.llm_usage("2026-12-01", "2026-12-31").await.unwrap().is_empty());
    assert!(acme.delete_llm_provider("openai").await.unwrap());
    assert!(!acme.delete_llm_provider("openai").await.unwrap());
}
