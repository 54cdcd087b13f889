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
//!
//! Each application's recent cost per request ([`Cost`]: the time its
//! requests spent running, whichever lane ran them) also decides where its
//! next requests start. An application whose requests take more than
//! [`HEAVY`] on average (one that traps with a deep backtrace, copies
//! megabytes through its host calls, loops until its deadline, or simply
//! computes a lot) is served on the slow lane from its first poll: so a
//! tenant of costly requests competes for the CPU with the other costly
//! ones, at the lower priority, and the server's own threads stay for apps
//! that answer at once. A request that ends in a fault of the guest's (a
//! trap, its deadline, an error it returns, a refused `start_response`)
//! counts as at least [`FAULT_COST`], whatever it took: much of a fault's
//! cost is out of the guest's sight (its log line, its error page, the
//! client's retry), and a tenant whose requests keep failing should not
//! keep the server's threads from the ones that succeed. The cost is
//! measured on every request, so an application whose requests become
//! cheap (or correct) again moves back.
//!
//! What one clean request counts for is bounded ([`counted`]): an
//! interpreter's garbage collection now and then, or the first request of
//! an instance that is kept for the next ones (its memory's first touches,
//! its runtime's lazy set-up), says little about the requests that follow,
//! and the slow lane costs an app that is not heavy a hop between threads
//! and a lower priority on every request (Django on the slow lane: 10% fewer
//! requests per second and a p99 of 100 ms instead of 17, bench/python.sh).
//! An app whose clean requests keep being long still gets there in a few.

use super::App;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
            // A guest's outbound HTTP calls run where the guest runs.
            .enable_io()
            .on_thread_start(lower_priority)
            .build()
            .map(SlowLane)
    }
}

/// The slow lane, started on first use; `None` if its threads could not be
/// started (which is said once).
fn lane() -> Option<&'static SlowLane> {
    static LANE: OnceLock<Option<SlowLane>> = OnceLock::new();
    LANE.get_or_init(|| {
        SlowLane::start()
            .inspect_err(|err| {
                tracing::warn!(%err, "cannot start the slow lane's threads; long guests share the server's")
            })
            .ok()
    })
    .as_ref()
}

/// Runs `task` to its end on the slow lane (on the current runtime if the
/// lane's threads could not be started).
pub fn spawn_slow(task: impl Future<Output = ()> + Send + 'static) {
    match lane() {
        Some(lane) => drop(lane.0.spawn(task)),
        None => drop(tokio::spawn(task)),
    }
}

/// Runs the blocking `work` on a thread of the slow lane's blocking pool,
/// at its lower priority (the runtime lowers every thread it starts): host
/// work done for a guest that takes long, such as deriving a password hash,
/// yields the CPU to the server's threads, and does not take a thread of
/// the server's own blocking pool (static files). On the current runtime's
/// pool if the lane could not be started.
pub fn spawn_blocking_slow<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> tokio::task::JoinHandle<R> {
    match lane() {
        Some(lane) => lane.0.spawn_blocking(work),
        None => tokio::task::spawn_blocking(work),
    }
}

/// The average time per request above which an application's requests
/// start on the slow lane: far above what a compiled guest's short request
/// takes (tens of microseconds) and above an interpreted framework's (a
/// Django view: about 0.7 ms in CPython compiled to wasm), below the first
/// slice a guest runs on the server's threads before it is moved anyway.
pub const HEAVY: Duration = Duration::from_millis(2);

/// The average below which a heavy application's requests start on the
/// server's threads again. Half of [`HEAVY`], so that an app whose requests
/// hover around it stays on one lane: each move leaves some of its requests
/// on the other lane, and those on the slow one wait behind their own app's
/// newer ones.
pub const LIGHT: Duration = Duration::from_millis(1);

/// What a request that ends in a fault counts as, at least: with [`HEAVY`]
/// a quarter of it, an application is heavy once about a quarter of its
/// requests fail.
pub const FAULT_COST: Duration = Duration::from_millis(8);

/// The most a request that ends cleanly counts as: one long request (a
/// garbage collection, a cache filled) moves the average by at most
/// [`HEAVY`] / 2, so it takes a few in a row, or a steady run of long
/// ones, to make an application heavy.
pub const SPIKE: Duration = Duration::from_millis(8);

/// What a request's time counts for in its application's [`Cost`]: a fault
/// at least [`FAULT_COST`] (and a fault that ran long, in full); a clean
/// request at most [`SPIKE`]; the first request of an instance kept for
/// the next ones (`warming`) at most [`HEAVY`], since it carries the
/// instance's own start (a new CPython instance's first Django request
/// takes 10 ms or more, the next ones under one), which the following
/// requests do not pay.
pub fn counted(busy: Duration, faulted: bool, warming: bool) -> Duration {
    if faulted {
        busy.max(FAULT_COST)
    } else if warming {
        busy.min(HEAVY)
    } else {
        busy.min(SPIKE)
    }
}

/// The weight of the newest request in an application's average cost
/// (1/8: a few requests move an application from one lane to the other).
const COST_SHIFT: u32 = 3;

/// An application's recent cost per request: a moving average, in
/// microseconds, of the time its requests spent being polled (on the CPU,
/// or preempted in the middle of a poll; waits on the client or a timer do
/// not count), memory reset included.
#[derive(Debug, Default)]
pub struct Cost {
    average_us: AtomicU32,
    heavy: AtomicBool,
}

impl Cost {
    /// Whether the application's requests should start on the slow lane.
    pub fn heavy(&self) -> bool {
        self.heavy.load(Ordering::Relaxed)
    }

    /// The average, in microseconds.
    pub fn average_us(&self) -> u32 {
        self.average_us.load(Ordering::Relaxed)
    }

    /// Adds one request's time to the average; says whether that made the
    /// application heavy (`Some(true)`) or light again (`Some(false)`).
    /// Concurrent requests may overwrite each other's update; the average
    /// is a hint, not an account, so a lost sample costs nothing.
    pub fn record(&self, busy: Duration) -> Option<bool> {
        let sample = u32::try_from(busy.as_micros()).unwrap_or(u32::MAX);
        let old = self.average_us.load(Ordering::Relaxed);
        let new = old - (old >> COST_SHIFT) + (sample >> COST_SHIFT);
        self.average_us.store(new, Ordering::Relaxed);
        let heavy = self.heavy();
        let now = if heavy {
            new >= LIGHT.as_micros() as u32
        } else {
            new >= HEAVY.as_micros() as u32
        };
        (now != heavy).then(|| {
            self.heavy.store(now, Ordering::Relaxed);
            now
        })
    }
}

/// How a request's task ended: its application (handed back, so that no
/// second reference is held for the count), whether it faulted, and
/// whether it was the first request of an instance kept for more (see
/// [`counted`]).
pub struct Ended {
    pub app: Arc<App>,
    pub faulted: bool,
    pub warming: bool,
}

/// A request's task that counts the time spent polling it, and adds it to
/// its application's [`Cost`] when it ends.
pub struct Metered<F> {
    task: Pin<Box<F>>,
    busy: Duration,
}

impl<F: Future<Output = Ended>> Metered<F> {
    pub fn new(task: F) -> Self {
        Metered {
            task: Box::pin(task),
            busy: Duration::ZERO,
        }
    }

    /// The time spent polling the task so far.
    pub fn busy(&self) -> Duration {
        self.busy
    }
}

impl<F: Future<Output = Ended>> Future for Metered<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let start = Instant::now();
        let polled = self.task.as_mut().poll(cx);
        self.busy += start.elapsed();
        match polled {
            Poll::Ready(Ended {
                app,
                faulted,
                warming,
            }) => {
                let cost = counted(self.busy, faulted, warming);
                // How often this is said is up to the guest: within its
                // log budget.
                if let Some(heavy) = app.cost.record(cost)
                    && app.sandbox.log_budget.allow()
                {
                    let average_us = app.cost.average_us();
                    if heavy {
                        tracing::info!(
                            average_us,
                            "the app's requests are costly (faults count as {} ms): they start on the slow lane",
                            FAULT_COST.as_millis()
                        );
                    } else {
                        tracing::info!(
                            average_us,
                            "the app's requests are short again: they start on the server's threads"
                        );
                    }
                }
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
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

    #[test]
    fn blocking_work_on_the_slow_lane_runs_at_its_lower_priority() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let nice = runtime
            .block_on(spawn_blocking_slow(|| {
                #[cfg(target_os = "linux")]
                return rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok();
                #[cfg(not(target_os = "linux"))]
                return Some(SLOW_NICE);
            }))
            .unwrap();
        assert_eq!(nice, Some(SLOW_NICE));
    }

    /// Records a clean request of `us` microseconds; says whether the app
    /// changed lanes.
    fn clean(cost: &Cost, us: u64) -> bool {
        cost.record(counted(Duration::from_micros(us), false, false))
            .is_some()
    }

    #[test]
    fn a_few_costly_requests_make_an_app_heavy_and_cheap_ones_bring_it_back() {
        let cost = Cost::default();
        for _ in 0..100 {
            clean(&cost, 40);
        }
        assert!(!cost.heavy(), "{}", cost.average_us());
        // A guest looping until a 1 s deadline: one request is enough.
        cost.record(counted(Duration::from_secs(1), true, false));
        assert!(cost.heavy(), "{}", cost.average_us());
        let mut cheap = 0;
        while cost.heavy() {
            clean(&cost, 40);
            cheap += 1;
        }
        assert!(
            (20..60).contains(&cheap),
            "back after {cheap} cheap requests"
        );
        // Clean requests that keep taking 50 ms: in a few.
        let mut long = 0;
        while !cost.heavy() {
            clean(&cost, 50_000);
            long += 1;
        }
        assert!((2..=4).contains(&long), "heavy after {long} long requests");
        // Requests of 3 ms each keep it heavy.
        for _ in 0..100 {
            clean(&cost, 3_000);
        }
        assert!(cost.heavy(), "{}", cost.average_us());
    }

    #[test]
    fn an_interpreted_app_stays_on_the_servers_threads_through_its_collections_and_new_instances() {
        // Django in CPython compiled to wasm, as bench/python.sh shows it:
        // about 0.7 ms a request, a garbage collection of 3 ms every
        // hundred, one of 50 ms now and then, and a new instance every
        // thousand requests whose first request takes 30 ms.
        let django = |cost: &Cost, requests: u64| {
            let mut moves = 0;
            for i in 1..=requests {
                let (us, warming) = match i {
                    _ if i % 1000 == 1 => (30_000, true),
                    _ if i % 500 == 0 => (50_000, false),
                    _ if i % 100 == 0 => (3_000, false),
                    _ => (700, false),
                };
                let busy = Duration::from_micros(us);
                moves += usize::from(cost.record(counted(busy, false, warming)).is_some());
            }
            moves
        };
        let cost = Cost::default();
        assert_eq!(django(&cost, 5_000), 0, "{}", cost.average_us());
        assert!(!cost.heavy());
        // Made heavy by a run of faults, it comes back once its requests
        // are clean again, and stays.
        for _ in 0..4 {
            cost.record(counted(Duration::from_micros(700), true, false));
        }
        assert!(cost.heavy(), "{}", cost.average_us());
        assert_eq!(django(&cost, 5_000), 1, "{}", cost.average_us());
        assert!(!cost.heavy());
    }

    #[test]
    fn a_first_request_counts_in_full_when_it_faults() {
        let cost = Cost::default();
        cost.record(counted(Duration::from_secs(1), true, true));
        assert!(cost.heavy(), "{}", cost.average_us());
        assert_eq!(
            counted(Duration::from_millis(30), false, true),
            HEAVY,
            "a clean first request counts at most HEAVY"
        );
    }

    #[test]
    fn an_app_is_heavy_once_about_a_quarter_of_its_requests_fault() {
        let run = |every: usize| {
            let cost = Cost::default();
            for i in 0..400 {
                let fault = i % every == 0;
                cost.record(if fault {
                    FAULT_COST
                } else {
                    Duration::from_micros(40)
                });
            }
            cost.heavy()
        };
        assert!(!run(10), "one in ten");
        assert!(run(2), "one in two");
    }
}
