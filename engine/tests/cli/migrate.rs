//! `trellis migrate`: a PostgreSQL database brought to the newest schema,
//! twice without harm; anything but a postgres:// URL refused.

use sqlx::{Connection, Executor, PgConnection};

use super::*;

#[test]
fn migrate_brings_a_postgres_schema_up_and_refuses_other_databases() {
    let dir = tempfile::tempdir().unwrap();
    let refused = trellis(&["migrate", "--database", "sqlite://trellis.db"], dir.path());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("postgres://"));

    let Ok(url) = std::env::var("TRELLIS_TEST_POSTGRES_URL") else {
        eprintln!("TRELLIS_TEST_POSTGRES_URL is not set: the PostgreSQL half is skipped");
        return;
    };
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let schema = format!("cli_{secs}_{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut admin = runtime.block_on(PgConnection::connect(&url)).unwrap();
    runtime.block_on(admin.execute(format!("CREATE SCHEMA {schema}").as_str())).unwrap();

    let separator = if url.contains('?') { '&' } else { '?' };
    let in_schema = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    for _ in 0..2 {
        let output = trellis(&["migrate", "--database", &in_schema], dir.path());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let tables: Vec<String> = runtime
        .block_on(
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            )
            .bind(&schema)
            .fetch_all(&mut admin),
        )
        .unwrap();
    for table in ["runs", "node_runs", "members", "secrets", "usage_daily", "_sqlx_migrations"] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
    let secured: i64 = runtime
        .block_on(
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND rowsecurity")
                .bind(&schema)
                .fetch_one(&mut admin),
        )
        .unwrap();
    assert_eq!(secured, 18, "every tenant table and `tenants` carry row-level security");
}
