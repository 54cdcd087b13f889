//! Where guests run once they take long: the slow lane.
//!
//! A request's guest is first polled inside its connection's task on the
//! server's runtime; most finish in that poll. One still running when its
//! head is ready, or after its first slice of a few milliseconds (a
//! streamed body, a slow app, or a guest that loops until its deadline),
//! carries on in a task of the slow lane: a runtime of its own whose
//! threads run at a lower scheduling priority. The kernel then gives the
//! server's threads (accepting, parsing, every short request) the CPU first,
//! and long guests share what is left among themselves, so two apps that
//! spin until their deadlines cannot take the CPU from an app that answers
//! in microseconds.

use std::future::Future;
use std::sync::OnceLock;

/// The niceness of the slow lane's threads (0 is the server's; 10 gets
/// about a tenth of the CPU when both want it).
const SLOW_NICE: i32 = 10;

/// The slow lane's runtime: one per process (the lane is about the
/// process's threads, not any one engine), started at the first guest that
/// needs it, never stopped.
struct SlowLane(tokio::runtime::Runtime);

impl SlowLane {
    /// A lane of one thread per core, each at a lower priority (where the
    /// system lets a thread lower its own).
    fn start() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("guest-slow")
            .enable_time()
            .on_thread_start(lower_priority)
            .build()
            .map(SlowLane)
    }
}

/// Runs `task` to its end on the slow lane (on the current runtime if the
/// lane's threads could not be started, which is said once).
pub fn spawn_slow(task: impl Future<Output = ()> + Send + 'static) {
    static LANE: OnceLock<Option<SlowLane>> = OnceLock::new();
    let lane = LANE.get_or_init(|| {
        SlowLane::start()
            .inspect_err(|err| {
                tracing::warn!(%err, "cannot start the slow lane's threads; long guests share the server's")
            })
            .ok()
    });
    match lane {
        Some(lane) => drop(lane.0.spawn(task)),
        None => drop(tokio::spawn(task)),
    }
}

/// Lowers the calling thread's priority; a failure leaves it as it is.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        let _ = rustix::process::setpriority_process(Some(tid), SLOW_NICE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slow_lane_runs_tasks_on_its_own_lower_priority_threads() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_slow(async move {
            let name = std::thread::current().name().map(str::to_owned);
            #[cfg(target_os = "linux")]
            let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok();
            #[cfg(not(target_os = "linux"))]
            let nice = Some(SLOW_NICE);
            let _ = tx.send((name, nice));
        });
        let (name, nice) = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(name.as_deref(), Some("guest-slow"));
        assert_eq!(nice, Some(SLOW_NICE));
    }
}
