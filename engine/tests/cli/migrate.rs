//! `trellis migrate`: a PostgreSQL database brought to the newest schema,
//! twice without harm; anything but a postgres:// URL refused. Then
//! `trellis admin` and `trellis serve` working in it.

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

/// A migrated schema of its own on the test server, as a `--database` URL.
pub(super) fn migrated_database(dir: &std::path::Path) -> Option<String> {
    let Ok(url) = std::env::var("TRELLIS_TEST_POSTGRES_URL") else {
        eprintln!("TRELLIS_TEST_POSTGRES_URL is not set: the PostgreSQL test is skipped");
        return None;
    };
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let schema = format!("cli_{secs}_{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut admin = runtime.block_on(PgConnection::connect(&url)).unwrap();
    runtime.block_on(admin.execute(format!("CREATE SCHEMA {schema}").as_str())).unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let in_schema = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let output = trellis(&["migrate", "--database", &in_schema], dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Some(in_schema)
}

#[test]
fn serve_and_admin_work_in_a_postgres_database() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = migrated_database(dir.path()) else { return };
    let created =
        trellis(&["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--database", &database], dir.path());
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = stdout_json(&created)["api_key"].as_str().unwrap().to_owned();

    let data = dir.path().join("data");
    let serve = ["serve", "--listen", "127.0.0.1:0", "--database", &database, "--data-dir", data.to_str().unwrap()];
    let (mut child, address) = spawn_listening(&serve, dir.path(), "trellis listening on http://");
    let (status, me) = http(&address, "GET", "/v1/me", Some(&key), None);
    assert!(status == 200 && me.to_string().contains("\"owner\""), "{me}");
    let workflow = json!({"id": "hello", "nodes": [
        {"id": "a", "uses": "trellis/transform@^0.1", "kind": "reshape", "config": {"template": {"hi": true}}}]});
    let (status, saved) = http(&address, "POST", "/v1/workflows", Some(&key), Some(workflow));
    assert_eq!(status, 201, "{saved}");
    let (status, run) = http(&address, "POST", "/v1/workflows/hello/runs?wait=30", Some(&key), Some(json!({})));
    assert_eq!((status, &run["run"]["status"]), (200, &json!("succeeded")), "{run}");
    // Nothing went to the data directory's SQLite.
    assert!(!data.join("trellis.db").exists());

    // A worker needs the database it works in.
    let other = dir.path().join("other");
    let worker = trellis(&["worker", "--data-dir", other.to_str().unwrap()], dir.path());
    assert!(!worker.status.success());
    assert!(String::from_utf8_lossy(&worker.stderr).contains("a worker needs --database"));
    child.kill().unwrap();
    child.wait().unwrap();
}
