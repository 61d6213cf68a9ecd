//! The background runtime: threads for work that may take long and must
//! not delay requests — guest executions that compute for long (moved here
//! by `executor::offload`) and password hashing. Its threads run at a lower
//! priority than the request runtime's, so they use every idle core and
//! give way whenever a request or a short node wakes up.

use std::sync::LazyLock;

/// How much less the kernel favours background threads (a nice value: 10
/// weighs about a tenth of the default).
pub(crate) const NICENESS: i32 = 10;

/// One worker per core (and tokio's blocking pool), never shut down: a
/// runtime cannot be dropped from async code, and engines are.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name("trellis-background")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("starting the background runtime: {error}"))
    });
    &RUNTIME
}

/// Lowers this thread's scheduling priority. On Linux a nice value is a
/// thread's own; elsewhere this does nothing. Failing to lower it (a
/// sandbox forbidding it) leaves the thread at the process's priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; on Linux,
    // PRIO_PROCESS with a thread id changes that thread only.
    unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, NICENESS);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "current_thread")]
    async fn background_threads_run_at_a_lower_priority() {
        // SAFETY: getpriority takes no pointers; 0 is the calling thread.
        let niceness = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let worker = super::runtime().spawn(async move { niceness() }).await.unwrap();
        let blocking = super::runtime().spawn_blocking(niceness).await.unwrap();
        assert_eq!((worker, blocking), (super::NICENESS, super::NICENESS));
    }
}
