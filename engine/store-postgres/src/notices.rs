//! Notices between the processes of a cluster, over `LISTEN/NOTIFY`.
//!
//! Each backend listens on one channel named after its schema (so test
//! schemas in one database do not hear each other) from one connection of
//! its pool, and forwards what it hears to a broadcast channel in memory.
//! When that connection is lost, notices sent meanwhile are lost too: the
//! listener reconnects and hands out [`Notice::Resync`].

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use trellis_store_api::{Notice, StoreError};

/// Notices a slow receiver may fall behind by before it loses the oldest.
const BACKLOG: usize = 4096;
/// PostgreSQL's longest identifier, which a channel name is.
const MAX_CHANNEL: usize = 63;

pub(crate) struct Notices {
    channel: String,
    sender: broadcast::Sender<Notice>,
    listening: JoinHandle<()>,
}

impl Drop for Notices {
    fn drop(&mut self) {
        self.listening.abort();
    }
}

impl Notices {
    /// Starts listening; notices sent once this returns are heard.
    pub(crate) async fn listen(pool: &PgPool) -> Result<Self, StoreError> {
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(pool).await?;
        let channel = channel_of(&schema);
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(&channel).await?;
        let (sender, _) = broadcast::channel(BACKLOG);
        let forward = sender.clone();
        let listening = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(message)) => match serde_json::from_str::<Notice>(message.payload()) {
                        Ok(notice) => {
                            let _ = forward.send(notice);
                        }
                        Err(error) => tracing::warn!(%error, "an unreadable notice was ignored"),
                    },
                    // The connection was lost and is made again on the
                    // next call: what was sent meanwhile is gone.
                    Ok(None) => {
                        let _ = forward.send(Notice::Resync);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listening for notices failed; trying again");
                        let _ = forward.send(Notice::Resync);
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Notices { channel, sender, listening })
    }

    pub(crate) async fn notify(&self, pool: &PgPool, notice: &Notice) -> Result<(), StoreError> {
        let payload = serde_json::to_string(notice)?;
        sqlx::query("SELECT pg_notify($1, $2)").bind(&self.channel).bind(payload).execute(pool).await?;
        Ok(())
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.sender.subscribe()
    }
}

/// `trellis.<schema>`, or a digest of the schema's name where that would
/// pass the identifier limit.
fn channel_of(schema: &str) -> String {
    let channel = format!("trellis.{schema}");
    if channel.len() <= MAX_CHANNEL {
        return channel;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    schema.hash(&mut hasher);
    format!("trellis.{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_stay_within_the_identifier_limit() {
        assert_eq!(channel_of("public"), "trellis.public");
        let long = "s".repeat(80);
        assert!(channel_of(&long).len() <= MAX_CHANNEL);
        assert_ne!(channel_of(&long), channel_of(&"t".repeat(80)));
    }
}
