//! Node records, the hot path, are written in shared commits: under load,
//! one statement carries many runs' steps instead of one each.

use std::sync::{Arc, Mutex};

use sqlx::{Sqlite, SqliteConnection};

use crate::store::StoreError;

/// One row of `node_runs`.
pub(super) struct NodeRow {
    pub tenant: String,
    pub run_id: String,
    pub node_id: String,
    pub status: &'static str,
    pub attempt: i64,
    pub updated_at: i64,
    pub record: String,
}

/// Rows waiting for a commit, and where to put each request's outcome.
#[derive(Default)]
struct Pending {
    rows: Vec<NodeRow>,
    waiting: Vec<Arc<Slot>>,
}

type Slot = Mutex<Option<Result<(), String>>>;

/// Group commit without a task of its own: a writer queues its rows, then
/// takes the (one) write connection. Whoever gets it writes every queued
/// row in one statement and records the outcome for all of them; a writer
/// whose rows a previous holder already wrote finds its outcome and
/// returns. Alone, a write is one statement with no hand-off to another task.
#[derive(Default)]
pub(super) struct NodeWriter {
    pending: Mutex<Pending>,
}

/// Rows a writer took to commit for everyone. Should that writer be
/// cancelled before its statements reach SQLite (between BEGIN and the
/// inserts of a large batch: a statement once sent runs to the end even if
/// its caller goes away), they go back to the queue, so the next writer
/// commits them; an upsert twice over is harmless.
struct Taken<'a> {
    writer: &'a NodeWriter,
    pending: Option<Pending>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(Pending { rows, waiting }) = self.pending.take() {
            let mut pending = self.writer.lock();
            pending.rows.extend(rows);
            pending.waiting.extend(waiting);
        }
    }
}

/// Rows per multi-row statement: SQLite allows 32766 bound parameters, 7 a row.
const ROWS_PER_STATEMENT: usize = 1000;

impl NodeWriter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the rows durably (returns after their commit).
    pub(super) async fn write(
        &self,
        writer: &tokio::sync::Mutex<SqliteConnection>,
        rows: Vec<NodeRow>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let slot: Arc<Slot> = Arc::default();
        {
            let mut pending = self.lock();
            pending.rows.extend(rows);
            pending.waiting.push(slot.clone());
        }
        let mut connection = writer.lock().await;
        let done = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let outcome = match done {
            Some(outcome) => outcome,
            None => {
                let mut taken = Taken { writer: self, pending: Some(std::mem::take(&mut *self.lock())) };
                let all: Vec<&NodeRow> = taken.pending.iter().flat_map(|p| p.rows.iter()).collect();
                let outcome = commit(&mut connection, &all).await.map_err(|e| e.to_string());
                for other in taken.pending.take().map(|p| p.waiting).unwrap_or_default() {
                    *other.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome.clone());
                }
                slot.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or(outcome)
            }
        };
        outcome.map_err(|message| StoreError::Database(sqlx::Error::Protocol(message)))
    }
}

async fn commit(connection: &mut SqliteConnection, all: &[&NodeRow]) -> Result<(), sqlx::Error> {
    if all.is_empty() {
        return Ok(());
    }
    // One statement is atomic on its own: no BEGIN and COMMIT round trips
    // to SQLite's worker thread.
    if all.len() <= ROWS_PER_STATEMENT {
        return upsert(connection, all).await;
    }
    let mut tx = sqlx::Connection::begin(&mut *connection).await?;
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        upsert(&mut tx, chunk).await?;
    }
    tx.commit().await
}

/// One multi-row upsert of `node_runs`.
async fn upsert(connection: &mut SqliteConnection, rows: &[&NodeRow]) -> Result<(), sqlx::Error> {
    let mut builder: sqlx::QueryBuilder<Sqlite> = sqlx::QueryBuilder::new(
        "INSERT INTO node_runs (tenant_id, run_id, node_id, status, attempt, updated_at, record) ",
    );
    builder.push_values(rows, |mut row, node| {
        row.push_bind(node.tenant.as_str())
            .push_bind(node.run_id.as_str())
            .push_bind(node.node_id.as_str())
            .push_bind(node.status)
            .push_bind(node.attempt)
            .push_bind(node.updated_at)
            .push_bind(node.record.as_str());
    });
    builder.push(
        " ON CONFLICT (tenant_id, run_id, node_id) DO UPDATE SET status = excluded.status,
          attempt = excluded.attempt, updated_at = excluded.updated_at, record = excluded.record",
    );
    builder.build().execute(&mut *connection).await?;
    Ok(())
}
