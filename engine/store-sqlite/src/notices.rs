//! Notices on one SQLite file. Most stay in this process's memory: work,
//! ends and cache changes concern only the process that owns the file.
//! Signals (an approval, a cancel request) may be written by a second
//! process (`trellis approve` beside a `trellis run`), so they also go in
//! a table that every listening process reads, as its one watcher, a few
//! times a second: one indexed read that finds nothing when idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::Row;
use tokio::sync::broadcast;
use trellis_store_api::{Notice, StoreError, now_ms};

use crate::{Db, driver};

/// How often a listening process reads other processes' signals.
const READ_EVERY: Duration = Duration::from_millis(250);
/// How long a signal row is kept for processes that read late.
const KEEP_MS: i64 = 60_000;

pub(crate) struct Notices {
    sender: broadcast::Sender<Notice>,
    /// This process, as its signal rows name it.
    origin: String,
    watching: AtomicBool,
}

impl Notices {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        let origin = format!("{}-{}", std::process::id(), now_ms());
        Notices { sender, origin, watching: AtomicBool::new(false) }
    }

    pub(crate) async fn send(&self, db: &Db, notice: &Notice) -> Result<(), StoreError> {
        // Nobody listening is not an error.
        let _ = self.sender.send(notice.clone());
        if let Notice::Signal { .. } = notice {
            let text = serde_json::to_string(notice)?;
            let origin = self.origin.clone();
            db.writes
                .write(move |connection| {
                    let now = now_ms();
                    connection
                        .prepare_cached("DELETE FROM signal_notices WHERE created_at < ?1")
                        .map_err(driver)?
                        .execute([now - KEEP_MS])
                        .map_err(driver)?;
                    connection
                        .prepare_cached("INSERT INTO signal_notices (origin, created_at, notice) VALUES (?1, ?2, ?3)")
                        .map_err(driver)?
                        .execute(rusqlite::params![origin, now, text])
                        .map_err(driver)?;
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// A receiver of this process's notices and, once anyone listens, of
    /// the signals other processes write.
    pub(crate) fn subscribe(self: &Arc<Self>, db: &Arc<Db>) -> broadcast::Receiver<Notice> {
        let receiver = self.sender.subscribe();
        if !self.watching.swap(true, Ordering::AcqRel) {
            tokio::spawn(watch(Arc::downgrade(self), Arc::downgrade(db)));
        }
        receiver
    }
}

/// Reads the signal rows other processes add, until the store is dropped.
async fn watch(notices: Weak<Notices>, db: Weak<Db>) {
    let mut seen: Option<i64> = None;
    let mut ticks = tokio::time::interval(READ_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (Some(notices), Some(db)) = (notices.upgrade(), db.upgrade()) else { return };
        let last = match seen {
            Some(last) => last,
            None => match sqlx::query_scalar::<_, Option<i64>>("SELECT max(seq) FROM signal_notices")
                .fetch_one(&db.pool)
                .await
            {
                Ok(last) => *seen.insert(last.unwrap_or(0)),
                Err(error) => {
                    tracing::warn!(%error, "reading signal notices failed");
                    continue;
                }
            },
        };
        let rows =
            match sqlx::query("SELECT seq, origin, notice FROM signal_notices WHERE seq > ? ORDER BY seq LIMIT 256")
                .bind(last)
                .fetch_all(&db.pool)
                .await
            {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(%error, "reading signal notices failed");
                    continue;
                }
            };
        // A full page: read on at once, not at the next tick.
        if rows.len() == 256 {
            ticks.reset_immediately();
        }
        for row in rows {
            seen = Some(row.get::<i64, _>(0));
            if row.get::<&str, _>(1) == notices.origin {
                continue;
            }
            match serde_json::from_str::<Notice>(row.get::<&str, _>(2)) {
                Ok(notice) => {
                    let _ = notices.sender.send(notice);
                }
                Err(error) => tracing::warn!(%error, "an unreadable signal notice"),
            }
        }
    }
}
