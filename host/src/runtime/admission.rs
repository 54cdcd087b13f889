//! Per-application admission: at most `concurrency` requests of one
//! application run at once; further ones wait in a bounded queue for a
//! bounded time, then get 503 with `Retry-After`. One tenant's flood thus
//! queues behind its own cap instead of taking every instance slot.

use crate::wsgi::errors::Refused;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gate in front of one application.
#[derive(Debug)]
pub struct Admission {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    queue_timeout: Duration,
}

/// A running request's slot; released when dropped.
#[derive(Debug)]
pub struct Slot(#[expect(dead_code, reason = "held for its Drop")] OwnedSemaphorePermit);

impl Admission {
    /// A gate letting `concurrency` requests run, `queue` wait, each for at
    /// most `queue_timeout`.
    pub fn new(concurrency: usize, queue: usize, queue_timeout: Duration) -> Self {
        Admission {
            running: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            queue,
            queue_timeout,
        }
    }

    /// Waits for a slot, or says why there is none.
    pub async fn enter(&self) -> Result<Slot, Refused> {
        // The common case: a free slot, no waiting, no timer.
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Slot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::QueueFull);
        }
        let waited =
            tokio::time::timeout(self.queue_timeout, self.running.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(Slot(permit)),
            // The semaphore is never closed; treat it like a timeout anyway.
            Ok(Err(_)) | Err(_) => Err(Refused::Waited(self.queue_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Poll;

    #[tokio::test]
    async fn caps_running_queues_then_refuses() {
        let gate = Admission::new(1, 1, Duration::from_millis(50));
        let first = gate.enter().await.unwrap();
        // The second request waits in the queue...
        let mut second = Box::pin(gate.enter());
        let polled = std::future::poll_fn(|cx| Poll::Ready(second.as_mut().poll(cx).is_pending()));
        assert!(polled.await, "the second request waits");
        // ...so a third finds the queue full.
        assert_eq!(gate.enter().await.unwrap_err(), Refused::QueueFull);
        // The second gives up after the queue timeout.
        assert_eq!(
            second.await.unwrap_err(),
            Refused::Waited(Duration::from_millis(50))
        );
        // A slot freed is a slot taken.
        drop(first);
        assert!(gate.enter().await.is_ok());
    }
}
