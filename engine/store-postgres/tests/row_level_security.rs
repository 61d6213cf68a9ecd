//! Row-level security holds on its own: through the server's role, a
//! transaction without a tenant sees and writes nothing, and one with a
//! tenant only that tenant's rows. Runs against the PostgreSQL of
//! `TRELLIS_TEST_POSTGRES_URL` (set by `.ci/run`), in a schema of its own.

mod common;

use common::fresh_schema;
use sqlx::{PgPool, Row};
use trellis_store_postgres::{APP_ROLE, app_pool, begin_tenant, migrate};

async fn add_run(pool: &PgPool, tenant: &str, id: &str) {
    let mut tx = begin_tenant(pool, tenant).await.unwrap();
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0) ON CONFLICT DO NOTHING")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO runs (tenant_id, id, workflow_id, status, created_at, updated_at, record)
         VALUES ($1, $2, 'w', 'running', 1765000000000, 0, $3)",
    )
    .bind(tenant)
    .bind(id)
    .bind(format!(r#"{{"started_by":"member:{tenant}","workflow_version":1}}"#))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_transaction_sees_only_the_rows_of_the_tenant_it_names() {
    let Some(options) = fresh_schema("rls").await else { return };
    migrate(&options).await.unwrap();
    // Migrating twice is a no-op.
    migrate(&options).await.unwrap();
    let pool = app_pool(options, 2).await.unwrap();

    // The server's role owns nothing and cannot bypass row security.
    let role = sqlx::query(
        "SELECT current_user::text, r.rolbypassrls, r.rolsuper, t.tableowner::text
           FROM pg_roles r, pg_tables t
          WHERE r.rolname = current_user AND t.tablename = 'runs' AND t.schemaname = current_schema()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(role.get::<String, _>(0), APP_ROLE);
    assert!(!role.get::<bool, _>(1), "no BYPASSRLS");
    assert!(!role.get::<bool, _>(2), "not a superuser");
    assert_ne!(role.get::<String, _>(3), APP_ROLE, "the tables belong to the migrating role");

    add_run(&pool, "acme", "run-a1").await;
    add_run(&pool, "acme", "run-a2").await;
    add_run(&pool, "globex", "run-g1").await;

    // No tenant named: no row of any tenant table, and no write.
    for table in ["tenants", "runs", "audit_log", "usage_daily"] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&pool).await.unwrap();
        assert_eq!(count, 0, "{table} without a tenant");
    }
    let unscoped = sqlx::query(
        "INSERT INTO runs (tenant_id, id, workflow_id, status, created_at, updated_at, record)
         VALUES ('acme', 'sneaky', 'w', 'running', 0, 0, '{}')",
    )
    .execute(&pool)
    .await;
    assert!(unscoped.is_err(), "a write without a tenant is refused");

    // One tenant named: its rows only, its audit and usage included.
    let mut tx = begin_tenant(&pool, "globex").await.unwrap();
    let runs: Vec<(String, String)> =
        sqlx::query_as("SELECT tenant_id, id FROM runs ORDER BY id").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(runs, [("globex".to_owned(), "run-g1".to_owned())]);
    let audited: Vec<String> = sqlx::query_scalar("SELECT principal FROM audit_log").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(audited, ["member:globex"]);
    let counted: i64 = sqlx::query_scalar("SELECT runs FROM usage_daily").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(counted, 1);
    // Naming another tenant's id in a query changes nothing.
    let across: i64 =
        sqlx::query_scalar("SELECT count(*) FROM runs WHERE tenant_id = 'acme'").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(across, 0);
    // Nor can a write put a row in another tenant.
    let foreign = sqlx::query(
        "INSERT INTO runs (tenant_id, id, workflow_id, status, created_at, updated_at, record)
         VALUES ('acme', 'planted', 'w', 'running', 0, 0, '{}')",
    )
    .execute(&mut *tx)
    .await;
    assert!(foreign.is_err(), "a row for another tenant is refused");
    drop(tx);

    let mut tx = begin_tenant(&pool, "acme").await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM runs ORDER BY id").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(ids, ["run-a1", "run-a2"]);
    let counted: i64 = sqlx::query_scalar("SELECT runs FROM usage_daily").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(counted, 2);
    tx.commit().await.unwrap();

    // The scope ends with its transaction: the pooled connection is unscoped again.
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM runs").fetch_one(&pool).await.unwrap();
    assert_eq!(after, 0);
}
