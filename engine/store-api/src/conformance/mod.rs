//! Scenarios every backend must pass, written once against the traits.
//!
//! A backend's tests call [`conformance_suite!`](crate::conformance_suite)
//! with an expression that opens a fresh, empty store (or `None` to skip,
//! when its database is not available); each scenario becomes a test.

mod access;
mod leases;
mod records;
mod signals;
mod tenancy;
mod triggers;

use std::any::Any;

pub use access::*;
pub use leases::*;
pub use records::*;
pub use signals::*;
pub use tenancy::*;
pub use triggers::*;

use crate::{
    ApiKey, Document, Member, PluginGrants, PluginInstall, Role, RunRecord, RunStatus, Store, TenantId, TenantSeed,
};

/// A fresh store, and whatever must live as long as it (a temporary
/// folder, a schema).
pub struct Fixture {
    pub store: Store,
    pub keep: Box<dyn Any + Send>,
}

/// Every scenario, as a test per backend.
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::conformance_suite!(@each $open;
            runs_insert_once_update_and_list_by_filter_and_cursor,
            child_runs_and_unfinished_runs,
            node_records_batch_and_the_run_end_commit_together,
            an_audited_change_and_its_entry_commit_or_fail_together,
            admission_counts_runs_atomically_at_a_quotas_edge,
            llm_settings_and_token_use_are_kept_per_tenant,
            a_tenant_handle_sees_only_its_own_rows,
            tenants_members_and_sign_in_lookups,
            api_keys_revoke_down_their_lineage,
            refresh_tokens_are_single_use_and_a_reuse_revokes_the_family,
            workflow_versions_and_their_triggers,
            cron_schedules_keep_their_fire_and_advance_once,
            secrets_keys_grants_and_installs,
            plans_and_kv_quota,
            runs_are_claimed_under_leases_that_lapse,
            concurrent_claims_take_disjoint_runs,
            set_aside_runs_are_claimed_when_due_or_woken,
            a_lone_process_takes_over_earlier_leases,
            notices_reach_every_subscriber_in_order,
            sign_in_failures_count_per_key_in_windows
        );
    };
    (@each $open:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                let Some(fixture) = $open.await else { return };
                $crate::conformance::$scenario(&fixture.store).await;
                drop(fixture);
            }
        )*
    };
}

/// Noon on 2026-12-07 (UTC): the day a scenario's runs count in.
pub(crate) const DAY_MS: i64 = 1_796_644_800_000;

pub(crate) fn run(id: &str) -> RunRecord {
    let document = Document::of(&serde_json::json!({"id": "w", "nodes": []})).expect("document");
    let mut run =
        RunRecord::new(id.into(), "w".into(), Some(1), document, RunStatus::Running, serde_json::json!({"n": 1}));
    run.created_at = DAY_MS;
    run.updated_at = DAY_MS;
    run
}

pub(crate) fn member(id: &str, email: &str, role: Role) -> Member {
    Member { id: id.into(), email: email.into(), role, password_change_required: true }
}

pub(crate) fn key(id: &str, role: Role, created_by: Option<&str>) -> ApiKey {
    ApiKey {
        id: id.into(),
        name: format!("key {id}"),
        role,
        expires_at: None,
        revoked_at: None,
        created_at: 1,
        created_by: created_by.map(str::to_owned),
    }
}

pub(crate) fn install(plugin: &str) -> PluginInstall {
    PluginInstall {
        plugin: plugin.into(),
        requirement: "^1.0.0".into(),
        version: "1.0.0".into(),
        digest: "sha256:00".into(),
        installed_at: 1,
        updated_at: 1,
    }
}

/// Creates a tenant whose owner is `owner@<tenant>` with key `k-<tenant>`
/// (hash `hash-<tenant>`) and one first install.
pub(crate) async fn seed(store: &Store, tenant: &str) -> TenantId {
    let id = TenantId::new(tenant);
    let owner = member(&format!("owner-{tenant}"), &format!("owner@{tenant}"), Role::Owner);
    let key = key(&format!("k-{tenant}"), Role::Admin, None);
    let grants = PluginGrants { kv: true, ..PluginGrants::default() };
    let installs = [(install("trellis/core"), grants)];
    let seed = TenantSeed {
        tenant: &id,
        name: tenant,
        owner: &owner,
        password_hash: "hash",
        key: &key,
        key_hash: &format!("hash-{tenant}"),
        installs: &installs,
    };
    assert!(store.create_tenant(&seed).await.expect("create tenant"), "{tenant} is new");
    id
}
