//! Point reads made on every request (an API key by its hash), run with a
//! rusqlite connection on the caller's thread. Through sqlx, each read is a
//! round trip to a worker thread of its own: two thread wake-ups, which
//! cost more than the indexed lookup itself. A WAL reader never waits for
//! the writer, so the caller holds its thread for the lookup alone.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use trellis_store_api::StoreError;

use crate::driver;

/// Connections, taken in turn: a lookup holds one for microseconds, so a
/// few keep callers on different threads from waiting for each other.
const CONNECTIONS: usize = 4;

pub(crate) struct HotReads {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl HotReads {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let connections = (0..CONNECTIONS)
            .map(|_| {
                let flags =
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
                let connection = Connection::open_with_flags(path, flags).map_err(driver)?;
                // Only a checkpoint that truncates the WAL can hold a reader
                // back, briefly; never wait long on a runtime worker.
                connection.busy_timeout(Duration::from_millis(100)).map_err(driver)?;
                connection.set_prepared_statement_cache_capacity(16);
                Ok(Mutex::new(connection))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(HotReads { connections, next: AtomicUsize::new(0) })
    }

    /// Runs `read` on the next connection.
    pub(crate) fn read<R>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        let connection = lock(&self.connections[at]);
        read(&connection).map_err(driver)
    }
}

fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A read changes nothing, so a connection whose holder panicked is fine.
    connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
