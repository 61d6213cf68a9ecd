//! Every write to the SQLite file goes through one connection (rusqlite,
//! the same SQLite that sqlx links), in shared commits.
//!
//! SQLite has one writer per file anyway. A write is a closure put in a
//! queue; whoever finds the connection free (the caller itself, on its own
//! thread) takes every queued closure, runs them in one transaction (each
//! inside a savepoint, so a failing write undoes only its own changes),
//! commits once, and answers every caller. Under load, many runs'
//! admissions, node records and completions share one commit. A write
//! never waits for another thread to wake up: each statement through sqlx
//! was a round trip to its worker thread, and a dedicated writer thread
//! still cost a wake-up per write (the profile showed these hand-offs as
//! the largest single cost of a run).
//!
//! The work is synchronous, on a runtime worker: a commit of a batch takes
//! well under a millisecond here (`synchronous = NORMAL` in WAL mode does
//! not sync on commit), and batches are capped, so a caller that happens to
//! commit for everyone holds its worker briefly; once it has done a few
//! rounds, a task of its own takes over the rest.
//!
//! Callers are answered after the commit: a write that returned is durable
//! (as `synchronous = NORMAL` in WAL mode defines it: it survives the
//! process being killed).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use trellis_store_api::StoreError;

use crate::driver;

/// What a queued write hands back after running: the delivery of its
/// outcome, called with how the shared commit went.
type Deliver = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;
/// A queued write, run on the connection; or, when no transaction could be
/// begun, given the reason and never run.
type Job = Box<dyn FnOnce(Result<&Connection, &rusqlite::Error>) -> Deliver + Send>;

/// Writes per transaction at most: bounds how long one commit holds the
/// write lock and the thread that runs it.
const MAX_BATCH: usize = 256;
/// How long to wait before trying again when another connection holds the
/// write lock, and for how long at most before failing the writes.
const BUSY_RETRY: Duration = Duration::from_millis(2);
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Batches one caller commits for others before handing the rest to a task.
const MAX_ROUNDS: usize = 4;

#[derive(Clone)]
pub(crate) struct GroupWriter {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Mutex<Connection>,
    queue: Mutex<Vec<Job>>,
    /// A task will try the queue again after the write lock was busy.
    retry_scheduled: AtomicBool,
    /// Since when the write lock has been busy, if it is.
    busy_since: Mutex<Option<Instant>>,
    /// Transactions committed, and writes they carried.
    commits: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic is caught around each write, so a poisoned lock still guards
    // consistent data.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupWriter {
    /// Opens the write connection to a file that exists and is migrated.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(driver)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(driver)?;
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(driver)?;
        connection.pragma_update(None, "foreign_keys", "ON").map_err(driver)?;
        // Every write reads the pages it changes (rows, index entries): with
        // SQLite's default 2 MiB of cache, a large file's pages come back
        // from the OS with a copy each. 32 MiB at most keeps the pages
        // writes return to (unfinished runs, indexes) at hand.
        connection.pragma_update(None, "cache_size", -32_768).map_err(driver)?;
        // Busy is handled by retrying from a task (see `drain`), never by
        // sleeping on a runtime worker.
        connection.busy_timeout(Duration::ZERO).map_err(driver)?;
        connection.set_prepared_statement_cache_capacity(64);
        // Checkpoints (copying the WAL back into the database file, with an
        // fsync) run on a thread of their own, not inside whichever commit
        // crosses the threshold, where they would stall a runtime worker.
        connection.pragma_update(None, "wal_autocheckpoint", 0).map_err(driver)?;
        let inner = Arc::new(Inner {
            connection: Mutex::new(connection),
            queue: Mutex::default(),
            retry_scheduled: AtomicBool::new(false),
            busy_since: Mutex::new(None),
            commits: Default::default(),
            writes: Default::default(),
        });
        start_checkpoints(path, Arc::downgrade(&inner))?;
        Ok(GroupWriter { inner })
    }

    /// Runs `work` in the next shared transaction; returns its result once
    /// that transaction is committed. An error from `work` rolls back its
    /// own changes only.
    pub(super) async fn write<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<R, StoreError>>();
        let job: Job = Box::new(move |connection| {
            let outcome = match connection {
                Ok(connection) => in_savepoint(connection, work),
                Err(e) => Err(StoreError::Writer(format!("cannot begin a transaction: {e}"))),
            };
            Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => outcome,
                    Err(e) => Err(StoreError::Writer(format!("commit failed: {e}"))),
                };
                let _ = answer.send(result);
            })
        });
        lock(&self.inner.queue).push(job);
        // Let the other tasks ready on this thread run first: what they
        // write joins this commit (a commit, not a statement, is the cost
        // that counts: its locks and its pages in the WAL). Alone, this
        // costs a few trips through the scheduler and nothing more. Three
        // rounds measured best under the webhook flood; one gave smaller
        // batches, eight no larger ones.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.inner.drain(MAX_ROUNDS);
        answered.await.map_err(|_| StoreError::Writer("a queued write was dropped".to_owned()))?
    }
}

impl GroupWriter {
    /// Transactions committed so far, and the writes they carried: the
    /// second over the first is how many writes a commit shares.
    pub(super) fn commits(&self) -> (u64, u64) {
        (self.inner.commits.load(Ordering::Relaxed), self.inner.writes.load(Ordering::Relaxed))
    }
}

impl Inner {
    /// Commits what is queued unless someone else holds the connection (it
    /// then commits ours too: it looks at the queue again after letting go).
    fn drain(self: &Arc<Self>, mut rounds: usize) {
        loop {
            let connection = match self.connection.try_lock() {
                Ok(connection) => connection,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            loop {
                let batch: Vec<Job> = {
                    let mut queue = lock(&self.queue);
                    let take = queue.len().min(MAX_BATCH);
                    queue.drain(..take).collect()
                };
                if batch.is_empty() {
                    break;
                }
                if let Some(batch) = self.commit(&connection, batch) {
                    // Another connection (another process, or sqlx's) holds
                    // the write lock: try again shortly rather than sleep
                    // in SQLite's busy handler on this thread.
                    lock(&self.queue).splice(0..0, batch);
                    drop(connection);
                    self.retry_later();
                    return;
                }
                rounds = rounds.saturating_sub(1);
                if rounds == 0 {
                    break;
                }
            }
            drop(connection);
            if lock(&self.queue).is_empty() {
                return;
            }
            if rounds == 0 {
                // This caller has committed enough for others; its own
                // answer is in. A task carries on with whatever is left.
                let inner = self.clone();
                tokio::spawn(async move { inner.drain(MAX_ROUNDS) });
                return;
            }
        }
    }

    fn retry_later(self: &Arc<Self>) {
        if self.retry_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(BUSY_RETRY).await;
            inner.retry_scheduled.store(false, Ordering::Release);
            inner.drain(MAX_ROUNDS);
        });
    }

    /// Runs a batch in one transaction and answers its callers; gives the
    /// batch back, unrun, while another connection holds the write lock
    /// (until that has lasted [`BUSY_TIMEOUT`]).
    fn commit(&self, connection: &Connection, batch: Vec<Job>) -> Option<Vec<Job>> {
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
            let busy =
                matches!(&error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DatabaseBusy);
            let mut since = lock(&self.busy_since);
            let waited = since.get_or_insert_with(Instant::now).elapsed();
            if busy && waited < BUSY_TIMEOUT {
                return Some(batch);
            }
            *since = None;
            for job in batch {
                job(Err(&error))(Ok(()));
            }
            return None;
        }
        *lock(&self.busy_since) = None;
        let deliveries: Vec<Deliver> = batch.into_iter().map(|job| job(Ok(connection))).collect();
        let committed = connection.execute_batch("COMMIT");
        if committed.is_err() {
            let _ = connection.execute_batch("ROLLBACK");
        } else {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.writes.fetch_add(deliveries.len() as u64, Ordering::Relaxed);
        }
        for deliver in deliveries {
            deliver(committed.as_ref().map(|_| ()));
        }
        None
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Checkpoints the WAL on a connection and thread of their own until the
/// writer is gone. PASSIVE: never waits for readers or the writer; what
/// it could not copy this time it copies the next.
fn start_checkpoints(path: &Path, writer: std::sync::Weak<Inner>) -> Result<(), StoreError> {
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(driver)?;
    connection.busy_timeout(Duration::from_secs(1)).map_err(driver)?;
    std::thread::Builder::new()
        .name("trellis-checkpoint".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                if writer.strong_count() == 0 {
                    return;
                }
                if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(%error, "checkpointing the SQLite WAL failed");
                }
            }
        })
        .map_err(|e| StoreError::Writer(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

fn in_savepoint<R>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    connection.prepare_cached("SAVEPOINT write").map_err(driver)?.execute([]).map_err(driver)?;
    // A panic in one write must not take the others with it.
    let outcome = catch_unwind(AssertUnwindSafe(|| work(connection)))
        .unwrap_or_else(|_| Err(StoreError::Writer("a write panicked".to_owned())));
    if outcome.is_err() {
        connection.prepare_cached("ROLLBACK TO write").map_err(driver)?.execute([]).map_err(driver)?;
    }
    connection.prepare_cached("RELEASE write").map_err(driver)?.execute([]).map_err(driver)?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer_on_new_file() -> (tempfile::TempDir, std::path::PathBuf, GroupWriter) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db.sqlite");
        let setup = Connection::open(&path).expect("open");
        setup
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
            .expect("schema");
        let writer = GroupWriter::open(&path).expect("writer");
        (dir, path, writer)
    }

    fn rows(path: &Path) -> Vec<(String, i64)> {
        let reader = Connection::open(path).expect("open");
        let mut statement = reader.prepare("SELECT k, v FROM t ORDER BY k").expect("prepare");
        statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").map(|r| r.expect("row")).collect()
    }

    fn insert(k: &'static str, v: i64) -> impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static {
        move |c| {
            c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", rusqlite::params![k, v]).map_err(driver)?;
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land_and_a_failure_undoes_only_its_own() {
        let (_dir, path, writer) = writer_on_new_file();
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let key: &'static str = Box::leak(format!("k{i:03}").into_boxed_str());
                writer
                    .write(move |c| {
                        insert(key, i)(c)?;
                        // Every tenth write fails after changing something.
                        if i % 10 == 0 {
                            c.execute("INSERT INTO no_such_table VALUES (1)", []).map_err(driver)?;
                        }
                        Ok(())
                    })
                    .await
            }));
        }
        let mut failed = 0;
        for task in tasks {
            if task.await.expect("task").is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        let stored = rows(&path);
        assert_eq!(stored.len(), 180, "the failed writes left nothing behind");
        assert!(stored.iter().all(|(_, v)| v % 10 != 0));
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone() {
        let (_dir, path, writer) = writer_on_new_file();
        let panicked = writer
            .write(|c| -> Result<(), StoreError> {
                insert("a", 1)(c)?;
                panic!("bug in a write");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Writer(ref m)) if m.contains("panicked")), "{panicked:?}");
        writer.write(insert("b", 2)).await.expect("the writer still works");
        assert_eq!(rows(&path), vec![("b".to_owned(), 2)]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waits_for_another_connection_without_blocking_the_runtime() {
        let (_dir, path, writer) = writer_on_new_file();
        // Another connection holds the write lock; on a single-threaded
        // runtime, a writer that slept in SQLite's busy handler would
        // keep this task from ever letting go of it.
        let other = Connection::open(&path).expect("open");
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (k, v) VALUES ('first', 1)").expect("lock");
        let release = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            other.execute_batch("COMMIT").expect("commit");
        };
        let (written, ()) = tokio::join!(writer.write(insert("second", 2)), release);
        written.expect("written once the lock was free");
        assert_eq!(rows(&path), vec![("first".to_owned(), 1), ("second".to_owned(), 2)]);
    }
}
