//! Workflows, triggers, secrets, grants, installs, plans and kv.

use crate::{CronSchedule, PluginGrants, Store, TenantId, TenantStoreExt, TriggerPlan};

use super::{install, seed};

fn cron(index: i64, expression: &str, next_fire_at: i64) -> CronSchedule {
    CronSchedule {
        workflow_id: "w".into(),
        index,
        expression: expression.into(),
        input: serde_json::json!({"i": index}),
        next_fire_at,
    }
}

pub async fn workflow_versions_and_their_triggers(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    let audited = tenant.audited("member:m", "workflow.update", "w", serde_json::json!({}));
    let hook = TriggerPlan { webhook_token: Some("tok-1".into()), crons: vec![] };
    assert_eq!(audited.save_workflow_document(&serde_json::json!({"id": "w", "v": 1}), &hook).await.unwrap(), 1);
    // A second save keeps the first token: the hook URL does not change.
    let hook_again = TriggerPlan { webhook_token: Some("tok-2".into()), crons: vec![] };
    assert_eq!(tenant.save_workflow_document(&serde_json::json!({"id": "w", "v": 2}), &hook_again).await.unwrap(), 2);
    assert_eq!(tenant.webhook_token("w").await.unwrap().as_deref(), Some("tok-1"));
    assert_eq!(store.webhook_by_token("tok-1").await.unwrap(), Some((TenantId::new("t"), "w".to_owned())));
    assert_eq!(store.webhook_by_token("tok-2").await.unwrap(), None);
    let (version, latest) = tenant.workflow_document("w", None).await.unwrap().unwrap();
    assert_eq!((version, latest["v"].as_i64()), (2, Some(2)));
    assert_eq!(tenant.workflow_document("w", Some(1)).await.unwrap().unwrap().1["v"], 1);
    assert_eq!(tenant.workflow_document("w", Some(9)).await.unwrap(), None);
    let versions = tenant.workflow_versions("w").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(tenant.workflow_count().await.unwrap(), 1);
    let entry = tenant.list_audit(None, 10).await.unwrap();
    assert_eq!(entry[0].details["version"], 1, "the audit names the version saved");

    // Saving without a hook removes it; deleting removes every version.
    tenant.save_workflow_document(&serde_json::json!({"id": "w", "v": 3}), &TriggerPlan::default()).await.unwrap();
    assert_eq!(store.webhook_by_token("tok-1").await.unwrap(), None);
    tenant.save_workflow_document(&serde_json::json!({"id": "w", "v": 4}), &hook).await.unwrap();
    assert!(tenant.delete_workflow("w").await.unwrap());
    assert!(tenant.list_workflows().await.unwrap().is_empty());
    assert_eq!(store.webhook_by_token("tok-1").await.unwrap(), None, "its triggers went with it");
    assert!(!tenant.delete_workflow("w").await.unwrap());
}

pub async fn cron_schedules_keep_their_fire_and_advance_once(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    let plan =
        TriggerPlan { webhook_token: None, crons: vec![cron(0, "* * * * * *", 1_000), cron(1, "0 * * * * *", 5_000)] };
    tenant.save_workflow_document(&serde_json::json!({"id": "w"}), &plan).await.unwrap();
    // Saved again: the unchanged expression keeps its stored fire; the
    // changed one takes the new; the dropped index goes.
    let plan = TriggerPlan { webhook_token: None, crons: vec![cron(0, "* * * * * *", 9_000)] };
    tenant.save_workflow_document(&serde_json::json!({"id": "w"}), &plan).await.unwrap();
    let schedules = tenant.cron_schedules("w").await.unwrap();
    assert_eq!(schedules, [cron(0, "* * * * * *", 1_000)]);
    store
        .tenant(TenantId::new("u"))
        .save_workflow_document(
            &serde_json::json!({"id": "w"}),
            &TriggerPlan { webhook_token: None, crons: vec![cron(0, "* * * * * *", 2_000)] },
        )
        .await
        .unwrap();
    let due = store.due_crons(1_500, 10).await.unwrap();
    assert_eq!(due, [(TenantId::new("t"), cron(0, "* * * * * *", 1_000))], "only what is due");
    assert_eq!(store.due_crons(3_000, 10).await.unwrap().len(), 2, "across tenants, earliest first");
    assert_eq!(store.due_crons(3_000, 1).await.unwrap().len(), 1, "up to the limit");
    // Two schedulers fire the same tick: one moves it, the other finds it moved.
    assert!(tenant.advance_cron("w", 0, 1_000, 2_000).await.unwrap());
    assert!(!tenant.advance_cron("w", 0, 1_000, 2_000).await.unwrap());
    assert_eq!(tenant.cron_schedules("w").await.unwrap()[0].next_fire_at, 2_000);
}

pub async fn secrets_keys_grants_and_installs(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    assert_eq!(tenant.wrapped_key().await.unwrap(), None);
    assert_eq!(tenant.insert_wrapped_key(b"first").await.unwrap(), b"first");
    assert_eq!(tenant.insert_wrapped_key(b"second").await.unwrap(), b"first", "the first writer's key stays");
    tenant.put_secret("b", b"sealed-b").await.unwrap();
    tenant.put_secret("a", b"sealed-a").await.unwrap();
    tenant.put_secret("a", b"sealed-a2").await.unwrap();
    let names: Vec<_> = tenant.secret_names().await.unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(tenant.sealed_secret("a").await.unwrap().as_deref(), Some(&b"sealed-a2"[..]));
    assert!(tenant.delete_secret("a").await.unwrap());
    assert!(!tenant.delete_secret("a").await.unwrap());

    assert_eq!(tenant.plugin_grants("acme/tool").await.unwrap(), PluginGrants::default());
    let grants = PluginGrants { llm: true, hosts: ["api.example.com".to_owned()].into(), ..PluginGrants::default() };
    let audited = tenant.audited("member:m", "plugin.install", "acme/tool", serde_json::json!({}));
    audited.put_install(&install("acme/tool"), &grants).await.unwrap();
    assert_eq!(tenant.installs_with_grants().await.unwrap(), [(install("acme/tool"), grants.clone())]);
    let entry = &tenant.list_audit(None, 1).await.unwrap()[0];
    assert_eq!(entry.details["install"]["version"], "1.0.0", "the audit carries the install");
    let fewer = PluginGrants { llm: false, ..grants };
    tenant.put_plugin_grants("acme/tool", &fewer).await.unwrap();
    assert_eq!(tenant.plugin_grants("acme/tool").await.unwrap(), fewer);
    assert!(tenant.delete_install("acme/tool").await.unwrap());
    assert!(tenant.installs().await.unwrap().is_empty());
    assert_eq!(tenant.plugin_grants("acme/tool").await.unwrap(), PluginGrants::default(), "grants went with it");
}

pub async fn plans_and_kv_quota(store: &Store) {
    let local = store.tenant(TenantId::new("local"));
    assert_eq!(local.stored_plan().await.unwrap(), None, "no tenant row");
    assert!(!local.set_plan(&serde_json::json!({"runs_per_day": 1})).await.unwrap());
    let acme = store.tenant(seed(store, "acme").await);
    assert_eq!(acme.stored_plan().await.unwrap(), Some(None), "the default plan");
    assert!(acme.set_plan(&serde_json::json!({"runs_per_day": 5})).await.unwrap());
    assert_eq!(acme.stored_plan().await.unwrap(), Some(Some(serde_json::json!({"runs_per_day": 5}))));

    // 10 bytes of room: key and value count.
    assert!(acme.kv_set("p", "ab", b"cdef", 10).await.unwrap().is_ok());
    assert_eq!(acme.kv_set("q", "x", b"yzabc", 10).await.unwrap(), Err(6), "another plugin shares the quota");
    assert!(acme.kv_set("p", "ab", b"cdefghij", 10).await.unwrap().is_ok(), "a replaced value frees its room");
    assert_eq!(acme.kv_get("p", "ab").await.unwrap().as_deref(), Some(&b"cdefghij"[..]));
    assert_eq!(acme.kv_get("q", "ab").await.unwrap(), None, "per plugin");
    acme.kv_delete("p", "ab").await.unwrap();
    assert_eq!(acme.kv_get("p", "ab").await.unwrap(), None);
}
