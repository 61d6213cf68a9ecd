//! Long guest computations leave the runtime that serves requests.
//!
//! A plugin execution starts on the task that drives its run: most finish
//! in tens of microseconds, and a hand-off to another thread would cost
//! more than they do. A guest that computes for long hands its thread back
//! every slice of fuel, but that alone does not keep the server responsive:
//! tokio's workers look at sockets and timers only between tasks, every
//! so many polls, so two guests that yield every couple of milliseconds
//! still starve every connection for a hundred. Once an execution has spent
//! [`BUSY_BEFORE_OFFLOAD`] inside its polls, the rest of it moves to the
//! background runtime ([`crate::background`]), whose threads the kernel
//! shares with the request runtime's at a lower priority; the request
//! runtime's workers then find the sockets again at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Time an execution may spend in its polls on the driver's thread.
const BUSY_BEFORE_OFFLOAD: Duration = Duration::from_millis(1);

/// `future`, moved to the background runtime once it has been busy for
/// [`BUSY_BEFORE_OFFLOAD`]; dropping this drops it, wherever it runs.
pub(crate) fn when_long<F>(future: F) -> WhenLong<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    WhenLong { here: Some(Box::pin(future)), busy: Duration::ZERO, away: None }
}

pub(crate) struct WhenLong<F: Future> {
    /// The work while it runs where it was started.
    here: Option<Pin<Box<F>>>,
    busy: Duration,
    /// The work once it moved.
    away: Option<JoinHandle<F::Output>>,
}

impl<F> Future for WhenLong<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if let Some(future) = &mut this.here {
            let started = Instant::now();
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            this.busy += started.elapsed();
            if this.busy < BUSY_BEFORE_OFFLOAD {
                return Poll::Pending;
            }
            this.away = this.here.take().map(|future| crate::background::runtime().spawn(future));
        }
        match &mut this.away {
            Some(handle) => match Pin::new(handle).poll(cx) {
                Poll::Ready(Ok(output)) => Poll::Ready(output),
                // Nothing aborts it but our own drop, so this is a panic:
                // it goes on where it would have happened, on this task.
                Poll::Ready(Err(error)) => std::panic::resume_unwind(error.into_panic()),
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Pending,
        }
    }
}

impl<F: Future> Drop for WhenLong<F> {
    fn drop(&mut self) {
        if let Some(handle) = &self.away {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a computing guest: busy for a millisecond at a time,
    /// yielding between, `slices` times; reports the threads it ran on.
    async fn compute(slices: usize) -> Vec<String> {
        let mut threads = Vec::new();
        for _ in 0..slices {
            let until = Instant::now() + Duration::from_millis(1);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            threads.push(std::thread::current().name().unwrap_or_default().to_owned());
            tokio::task::yield_now().await;
        }
        threads
    }

    #[tokio::test(flavor = "current_thread")]
    async fn short_work_stays_and_long_work_moves() {
        let short = when_long(async { std::thread::current().name().unwrap_or_default().to_owned() }).await;
        assert_ne!(short, "trellis-background");
        let threads = when_long(compute(5)).await;
        assert_ne!(threads[0], "trellis-background", "the first slice runs where it was started");
        assert_eq!(threads[4], "trellis-background", "{threads:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dropping_it_stops_the_moved_work() {
        let slices = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = slices.clone();
        let endless = when_long(async move {
            loop {
                let until = Instant::now() + Duration::from_millis(1);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        let _ = tokio::time::timeout(Duration::from_millis(50), endless).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let after_drop = slices.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(slices.load(std::sync::atomic::Ordering::SeqCst), after_drop, "the work went on after its drop");
    }

    #[test]
    fn a_panic_surfaces_where_the_work_was_awaited() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(when_long(async {
                compute(3).await;
                panic!("guest host bug");
            }))
        }));
        assert!(outcome.is_err());
    }
}
