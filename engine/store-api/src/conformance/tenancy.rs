//! What one tenant's handle can reach: its own rows, nothing else.

use crate::{PluginGrants, RunFilter, Store, TenantId, TriggerPlan};

use super::{install, run};

pub async fn a_tenant_handle_sees_only_its_own_rows(store: &Store) {
    let (acme, globex) = (store.tenant(TenantId::new("acme")), store.tenant(TenantId::new("globex")));
    assert_eq!(acme.tenant().as_str(), "acme");
    acme.insert_run(&run("r1")).await.unwrap();
    acme.put_secret("token", b"sealed").await.unwrap();
    acme.save_workflow_document(&serde_json::json!({"id": "w"}), &TriggerPlan::default()).await.unwrap();
    acme.put_install(&install("acme/tool"), &PluginGrants::default()).await.unwrap();
    assert!(acme.kv_set("acme/tool", "k", b"v", 1 << 20).await.unwrap().is_ok());
    acme.insert_wrapped_key(b"wrapped-acme").await.unwrap();

    assert_eq!(globex.get_run("r1").await.unwrap(), None);
    assert!(globex.list_runs(&RunFilter::default(), None, 10).await.unwrap().is_empty());
    assert_eq!(globex.sealed_secret("token").await.unwrap(), None);
    assert!(globex.secret_names().await.unwrap().is_empty());
    assert!(globex.list_workflows().await.unwrap().is_empty());
    assert_eq!(globex.workflow_document("w", None).await.unwrap(), None);
    assert!(globex.installs().await.unwrap().is_empty());
    assert_eq!(globex.kv_get("acme/tool", "k").await.unwrap(), None);
    assert_eq!(globex.wrapped_key().await.unwrap(), None);
    // Writes through another tenant's handle touch only that tenant's rows.
    assert!(!globex.delete_secret("token").await.unwrap());
    assert!(!globex.delete_workflow("w").await.unwrap());
    assert!(!globex.delete_install("acme/tool").await.unwrap());
    globex.kv_delete("acme/tool", "k").await.unwrap();
    assert!(acme.sealed_secret("token").await.unwrap().is_some());
    assert_eq!(acme.kv_get("acme/tool", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(acme.list_workflows().await.unwrap(), [("w".to_owned(), 1)]);
    assert_eq!(globex.insert_wrapped_key(b"wrapped-globex").await.unwrap(), b"wrapped-globex");
}
