//! Runs, node records, audit, admission and usage.

use crate::{
    Admission, LlmProviderRow, ModelUsage, NodeRecord, NodeStatus, ParentRef, RunFilter, RunQuotas, RunStatus, Store,
    TenantId, TenantStoreExt, Usage,
};

use super::run;

pub async fn runs_insert_once_update_and_list_by_filter_and_cursor(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    let mut first = run("r1");
    assert!(tenant.insert_run(&first).await.unwrap());
    assert!(!tenant.insert_run(&first).await.unwrap(), "an id is inserted once");
    first.status = RunStatus::Succeeded;
    first.output = Some(serde_json::json!({"done": true}));
    tenant.update_run(&first).await.unwrap();
    assert_eq!(tenant.get_run("r1").await.unwrap(), Some(first.clone()));
    assert_eq!(tenant.get_run("nope").await.unwrap(), None);

    let mut other = run("r2");
    other.workflow_id = "other".into();
    tenant.insert_run(&other).await.unwrap();
    tenant.insert_run(&run("r3")).await.unwrap();
    let ids = |runs: Vec<crate::RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = tenant.list_runs(&RunFilter::default(), None, 10).await.unwrap();
    assert_eq!(ids(all), ["r3", "r2", "r1"], "newest first");
    let page = tenant.list_runs(&RunFilter::default(), Some("r3"), 1).await.unwrap();
    assert_eq!(ids(page), ["r2"], "after the cursor, up to the limit");
    let succeeded = RunFilter { status: Some(RunStatus::Succeeded), workflow: None };
    assert_eq!(ids(tenant.list_runs(&succeeded, None, 10).await.unwrap()), ["r1"]);
    let of_other = RunFilter { status: None, workflow: Some("other") };
    assert_eq!(ids(tenant.list_runs(&of_other, None, 10).await.unwrap()), ["r2"]);
}

pub async fn child_runs_and_unfinished_runs(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    tenant.insert_run(&run("parent")).await.unwrap();
    for item in [2u64, 0, 1] {
        let mut child = run(&format!("parent.m.{item}"));
        child.parent = Some(ParentRef { run_id: "parent".into(), node_id: "m".into(), item });
        tenant.insert_run(&child).await.unwrap();
    }
    let children = tenant.child_runs("parent", "m").await.unwrap();
    let ids: Vec<_> = children.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["parent.m.0", "parent.m.1", "parent.m.2"], "ordered by id");
    assert!(tenant.child_runs("parent", "other").await.unwrap().is_empty());
    // Only top-level runs are resumed; children follow their parent.
    let mut done = run("done");
    done.status = RunStatus::Failed;
    tenant.insert_run(&done).await.unwrap();
    store.tenant(TenantId::new("u")).insert_run(&run("elsewhere")).await.unwrap();
    let mut unfinished = store.unfinished_runs().await.unwrap();
    unfinished.sort();
    assert_eq!(
        unfinished,
        [(TenantId::new("t"), "parent".to_owned()), (TenantId::new("u"), "elsewhere".to_owned())],
        "across tenants"
    );
    // Top-level runs appear in the listing; children do not.
    let listed = tenant.list_runs(&RunFilter::default(), None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
}

pub async fn node_records_batch_and_the_run_end_commit_together(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    let mut run = run("r");
    tenant.insert_run(&run).await.unwrap();
    let mut a = NodeRecord::pending("r", "a");
    let b = NodeRecord::pending("r", "b");
    tenant.put_nodes("r", &[&a, &b]).await.unwrap();
    tenant.put_nodes("r", &[]).await.unwrap();
    a.status = NodeStatus::Succeeded;
    a.attempt = 2;
    a.logs_truncated = true;
    run.status = RunStatus::Succeeded;
    let usage = Usage { node_executions: 2, fuel: 100, ..Usage::default() };
    tenant.put_nodes_and_run(&run, &[&a], Some(("2026-12-07", &usage))).await.unwrap();
    let mut nodes = tenant.nodes("r").await.unwrap();
    nodes.sort_by(|x, y| x.node_id.cmp(&y.node_id));
    assert_eq!(nodes, [a.clone(), b.clone()]);
    assert_eq!(tenant.get_run("r").await.unwrap().unwrap().status, RunStatus::Succeeded);
    let day = tenant.usage("2026-12-01", "2026-12-31").await.unwrap();
    // The run's insert counted it; its end added the executions.
    assert_eq!(day, [("2026-12-07".to_owned(), Usage { runs: 1, node_executions: 2, fuel: 100, ..Usage::default() })]);
    tenant.add_usage("2026-12-07", &Usage { http_calls: 3, ..Usage::default() }).await.unwrap();
    assert_eq!(tenant.usage("2026-12-07", "2026-12-07").await.unwrap()[0].1.http_calls, 3);
    let b_again = NodeRecord { attempt: 1, ..b };
    tenant.put_node("r", &b_again).await.unwrap();
    assert!(tenant.nodes("r").await.unwrap().contains(&b_again), "a write replaces the node's record");
}

/// An audited change and its audit entry commit together: when the entry
/// cannot be written (here: the same entry a second time), the change is
/// not either.
pub async fn an_audited_change_and_its_entry_commit_or_fail_together(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    let audited = tenant.audited("member:m", "secret.write", "A", serde_json::json!({}));
    audited.put_secret("A", b"sealed-a").await.unwrap();
    assert!(audited.put_secret("B", b"sealed-b").await.is_err(), "the same entry twice cannot be written");
    assert_eq!(tenant.sealed_secret("B").await.unwrap(), None, "the change went with its failed entry");
    assert_eq!(tenant.sealed_secret("A").await.unwrap().as_deref(), Some(&b"sealed-a"[..]));
    let entries = tenant.list_audit(None, 10).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == "secret.write").count(), 1);

    let mut run = run("r1");
    run.status = RunStatus::Pending;
    tenant.insert_run(&run).await.unwrap();
    let cancelling = tenant.audited("member:m", "run.cancel", "r1", serde_json::json!({}));
    run.status = RunStatus::Cancelled;
    cancelling.update_run(&run).await.unwrap();
    run.status = RunStatus::Failed;
    assert!(cancelling.update_run(&run).await.is_err());
    assert_eq!(tenant.get_run("r1").await.unwrap().unwrap().status, RunStatus::Cancelled);
    let entries = tenant.list_audit(None, 10).await.unwrap();
    let cancel = entries.iter().find(|e| e.action == "run.cancel").unwrap();
    assert_eq!(cancel.details["run"], "r1");

    // Plain entries, newest first, paged by id.
    for i in 0..3 {
        tenant.audit_entry(&format!("action.{i}")).await;
    }
    let newest = tenant.list_audit(None, 2).await.unwrap();
    assert_eq!(newest.len(), 2);
    let older = tenant.list_audit(Some(&newest[1].id), 10).await.unwrap();
    assert!(older.iter().all(|e| e.id < newest[1].id));
    assert!(store.tenant(TenantId::new("u")).list_audit(None, 10).await.unwrap().is_empty());
}

trait AuditEntryHelper {
    async fn audit_entry(&self, action: &str);
}

impl AuditEntryHelper for crate::TenantStore {
    async fn audit_entry(&self, action: &str) {
        self.insert_audit(&crate::AuditEntry::now("member:m", action, "x", serde_json::json!({}))).await.unwrap();
    }
}

/// Forty admissions at once against a quota of five concurrent runs and
/// seven a day: exactly five are admitted (no two admissions both see
/// four running), the rest refused naming the quota; once two finish, the
/// day's limit is what refuses.
pub async fn admission_counts_runs_atomically_at_a_quotas_edge(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    let quotas = RunQuotas { concurrent_runs: 5, runs_per_day: 7 };
    let admissions = (0..40).map(|i| {
        let (tenant, run) = (tenant.clone(), run(&format!("r{i}")));
        tokio::spawn(async move { tenant.admit_run(&run, "2026-12-07", quotas, None).await.unwrap() })
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
    let again = run(&format!("r{}", admitted[0]));
    assert_eq!(tenant.admit_run(&again, "2026-12-07", quotas, None).await.unwrap(), Admission::Exists);

    // Two finish: two more fit under the concurrency, and the day is then full.
    for i in &admitted[..2] {
        let mut finished = tenant.get_run(&format!("r{i}")).await.unwrap().unwrap();
        finished.status = RunStatus::Succeeded;
        tenant.update_run(&finished).await.unwrap();
    }
    let late = (100..110).map(|i| {
        let (tenant, run) = (tenant.clone(), run(&format!("r{i}")));
        tokio::spawn(async move { tenant.admit_run(&run, "2026-12-07", quotas, None).await.unwrap() })
    });
    let mut outcomes = Vec::new();
    for admission in late.collect::<Vec<_>>() {
        outcomes.push(admission.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|a| matches!(a, Admission::Admitted)).count(), 2, "{outcomes:?}");
    // One more finishes: there is room to run, but the day is full.
    let mut finished = tenant.get_run(&format!("r{}", admitted[2])).await.unwrap().unwrap();
    finished.status = RunStatus::Succeeded;
    tenant.update_run(&finished).await.unwrap();
    match tenant.admit_run(&run("r200"), "2026-12-07", quotas, None).await.unwrap() {
        Admission::Refused(exceeded) => assert_eq!((exceeded.quota, exceeded.used), ("runs_per_day", 7)),
        other => panic!("{other:?}"),
    }
    // Another tenant's quota is its own.
    let other = store.tenant(TenantId::new("u"));
    assert_eq!(other.admit_run(&run("r0"), "2026-12-07", quotas, None).await.unwrap(), Admission::Admitted);
}

/// LLM provider rows keep their sealed key across a change that sends none,
/// and token use adds up per model and in the day's total, per tenant.
pub async fn llm_settings_and_token_use_are_kept_per_tenant(store: &Store) {
    let (acme, other) = (store.tenant(TenantId::new("acme")), store.tenant(TenantId::new("other")));
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
