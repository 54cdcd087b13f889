//! What the server counts as it serves, for the admin listener's metrics
//! and status page: plain atomics, bumped on the request path with relaxed
//! stores (no lock, no allocation), read when someone asks.
//!
//! Counters live with what they count: an application's in its [`AppStats`]
//! (kept across a reload when the application keeps its name), the
//! server's connections in [`ServerStats`], the runtime's instances and
//! compile cache in [`RuntimeStats`]. Nothing here is process-global: two
//! servers in one process (the tests) count apart.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds (the last
/// bucket, `+Inf`, is implied): fine below 10 ms, where most requests of a
/// compiled app land, coarse up to the longest deadlines.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Lowest and highest status codes counted one by one; a guest may send
/// others (up to 999), which count as the nearest end, so the `code`
/// label keeps at most 500 values per app.
const STATUS_MIN: u16 = 100;
const STATUS_MAX: u16 = 599;
const STATUSES: usize = (STATUS_MAX - STATUS_MIN + 1) as usize;

/// Why a request was turned away before or while its application ran,
/// through no fault of the guest's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The app's queue was full (503).
    QueueFull,
    /// The request waited its whole queue timeout (503).
    QueueTimeout,
    /// No instance slot was free in the process (503).
    NoInstance,
    /// The body was larger than `max-body` (413).
    BodyTooLarge,
    /// The client sent the body too slowly (408).
    BodyTimeout,
    /// The body's framing was broken or it ended early (400).
    BodyMalformed,
}

impl Rejection {
    /// Every reason, in the order of the counters.
    pub const ALL: [Rejection; 6] = [
        Rejection::QueueFull,
        Rejection::QueueTimeout,
        Rejection::NoInstance,
        Rejection::BodyTooLarge,
        Rejection::BodyTimeout,
        Rejection::BodyMalformed,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue_full",
            Rejection::QueueTimeout => "queue_timeout",
            Rejection::NoInstance => "no_instance",
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::BodyMalformed => "body_malformed",
        }
    }
}

/// How a guest failed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It trapped (a panic, `unreachable`, a stack overflow...).
    Trap,
    /// It trapped after its memory limit refused to grow a memory.
    Memory,
    /// It ran past its deadline.
    Timeout,
    /// It burned its fuel.
    Fuel,
    /// It broke the WSGI contract (no `start_response`, a body before it,
    /// a refused `start_response` call...).
    Contract,
    /// It returned an error value.
    AppError,
}

impl Failure {
    /// Every kind, in the order of the counters.
    pub const ALL: [Failure; 6] = [
        Failure::Trap,
        Failure::Memory,
        Failure::Timeout,
        Failure::Fuel,
        Failure::Contract,
        Failure::AppError,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Trap => "trap",
            Failure::Memory => "memory",
            Failure::Timeout => "timeout",
            Failure::Fuel => "fuel",
            Failure::Contract => "contract",
            Failure::AppError => "app_error",
        }
    }
}

/// A latency histogram: a count per bucket of [`LATENCY_BUCKETS`] (not
/// cumulative; the exposition sums them), the total, and the sum.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A histogram's figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySnapshot {
    /// Per bucket (the last one `+Inf`), not cumulative.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Latency {
    /// Counts one request of `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        LatencySnapshot {
            // From the buckets, not `count`, which another request may
            // have moved since: the exposition's `+Inf` bucket and count
            // must agree.
            count: buckets.iter().sum(),
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

impl LatencySnapshot {
    /// The `q` quantile (0..=1), as the upper bound of the bucket it falls
    /// in (Prometheus's `histogram_quantile` interpolates; a status page
    /// can say "under 2.5 ms"); `None` with no requests, infinity in the
    /// last bucket.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }
}

/// How an application's outbound HTTP call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundResult {
    /// Sent, and a response came back (whatever its status).
    Sent,
    /// Refused by the allow-list or the address filter.
    Denied,
    /// Allowed, but it failed: the connection cap, DNS, connect, TLS, a
    /// timeout, a protocol error.
    Failed,
}

impl OutboundResult {
    /// Every result, in the order of the counters.
    pub const ALL: [OutboundResult; 3] = [
        OutboundResult::Sent,
        OutboundResult::Denied,
        OutboundResult::Failed,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            OutboundResult::Sent => "sent",
            OutboundResult::Denied => "denied",
            OutboundResult::Failed => "failed",
        }
    }
}

/// One application's outbound HTTP calls, by result. Shared (an `Arc`)
/// with the application's outbound layer, which counts them.
#[derive(Debug, Default)]
pub struct OutboundStats {
    results: [AtomicU64; OutboundResult::ALL.len()],
}

impl OutboundStats {
    /// Counts one call that ended so.
    pub fn count(&self, result: OutboundResult) {
        self.results[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls so far that ended so.
    pub fn calls(&self, result: OutboundResult) -> u64 {
        self.results[result as usize].load(Ordering::Relaxed)
    }
}

/// How an application's key-value call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvResult {
    /// Done.
    Ok,
    /// `open` of a store the application was not granted.
    Denied,
    /// A write its quota refused.
    OverQuota,
    /// Refused as malformed (not a counter, too large a batch, ...).
    Invalid,
    /// The store failed, could not be reached, or the deadline passed.
    Failed,
}

impl KvResult {
    /// Every result, in the order of the counters.
    pub const ALL: [KvResult; 5] = [
        KvResult::Ok,
        KvResult::Denied,
        KvResult::OverQuota,
        KvResult::Invalid,
        KvResult::Failed,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            KvResult::Ok => "ok",
            KvResult::Denied => "denied",
            KvResult::OverQuota => "over_quota",
            KvResult::Invalid => "invalid",
            KvResult::Failed => "failed",
        }
    }
}

/// The key-value quotas, by the name of their limit.
pub const KV_LIMITS: [&str; 4] = ["kv-key-size", "kv-value-size", "kv-keys", "kv-total-bytes"];

/// One application's key-value calls, by result, and the writes its quota
/// refused, by limit. Shared (an `Arc`) with the application's key-value
/// access, which counts them.
#[derive(Debug, Default)]
pub struct KvStats {
    results: [AtomicU64; KvResult::ALL.len()],
    refused: [AtomicU64; KV_LIMITS.len()],
}

impl KvStats {
    /// Counts one call that ended so.
    pub fn count(&self, result: KvResult) {
        self.results[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls so far that ended so.
    pub fn calls(&self, result: KvResult) -> u64 {
        self.results[result as usize].load(Ordering::Relaxed)
    }

    /// Counts one write refused by `limit` (one of [`KV_LIMITS`]).
    pub fn refused(&self, limit: &str) {
        if let Some(i) = KV_LIMITS.iter().position(|l| *l == limit) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes refused so far by `limit`.
    pub fn refusals(&self, limit: &str) -> u64 {
        KV_LIMITS
            .iter()
            .position(|l| *l == limit)
            .map_or(0, |i| self.refused[i].load(Ordering::Relaxed))
    }
}

/// How many of an app's latest failures its counters keep, for the status
/// page.
pub const RECENT_FAILURES: usize = 5;

/// The longest failure message kept (a guest writes some of them).
const MAX_FAILURE_TEXT: usize = 300;

/// One of an app's latest failures.
#[derive(Debug, Clone)]
pub struct RecentFailure {
    /// When it happened.
    pub at: std::time::SystemTime,
    pub kind: Failure,
    /// What the log said, cut to a few hundred bytes.
    pub message: String,
}

/// One application's (or static root's) counters.
#[derive(Debug)]
pub struct AppStats {
    statuses: Box<[AtomicU64; STATUSES]>,
    latency: Latency,
    in_flight: AtomicI64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    failures: [AtomicU64; Failure::ALL.len()],
    /// The latest failures, newest last (a failure is not the hot path;
    /// the lock is held for a push).
    recent: std::sync::Mutex<std::collections::VecDeque<RecentFailure>>,
    /// Its guests' outbound HTTP calls; the runtime hands this to the
    /// application's outbound layer.
    pub outbound: std::sync::Arc<OutboundStats>,
    /// Its guests' key-value calls; the runtime hands this to the
    /// application's key-value access.
    pub kv: std::sync::Arc<KvStats>,
}

impl Default for AppStats {
    fn default() -> Self {
        AppStats {
            statuses: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            latency: Latency::default(),
            in_flight: AtomicI64::new(0),
            rejected: Default::default(),
            failures: Default::default(),
            recent: Default::default(),
            outbound: Default::default(),
            kv: Default::default(),
        }
    }
}

/// A request counted in flight until dropped.
#[derive(Debug)]
pub struct InFlightRequest(std::sync::Arc<AppStats>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InFlightRequest {
    /// The request ended with `status` after `elapsed` (then it is no
    /// longer in flight).
    pub fn finish(self, status: u16, elapsed: Duration) {
        let index = status.clamp(STATUS_MIN, STATUS_MAX) - STATUS_MIN;
        self.0.statuses[usize::from(index)].fetch_add(1, Ordering::Relaxed);
        self.0.latency.observe(elapsed);
    }
}

impl AppStats {
    /// A request begins: in flight until the returned guard is finished or
    /// dropped.
    pub fn begin(self: &std::sync::Arc<Self>) -> InFlightRequest {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightRequest(self.clone())
    }

    pub fn reject(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fail(&self, how: Failure) {
        self.failures[how as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// [`AppStats::fail`], keeping `message` among the latest failures.
    pub fn fail_with(&self, how: Failure, message: impl std::fmt::Display) {
        self.fail(how);
        let mut text = message.to_string();
        if text.len() > MAX_FAILURE_TEXT {
            let mut end = MAX_FAILURE_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back(RecentFailure {
            at: std::time::SystemTime::now(),
            kind: how,
            message: text,
        });
    }

    /// The latest failures, oldest first.
    pub fn recent_failures(&self) -> Vec<RecentFailure> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Responses so far, by status code (those seen at least once).
    pub fn statuses(&self) -> Vec<(u16, u64)> {
        self.statuses
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| (STATUS_MIN + i as u16, n))
            })
            .collect()
    }

    pub fn latency(&self) -> LatencySnapshot {
        self.latency.snapshot()
    }

    pub fn rejected(&self, why: Rejection) -> u64 {
        self.rejected[why as usize].load(Ordering::Relaxed)
    }

    pub fn failures(&self, how: Failure) -> u64 {
        self.failures[how as usize].load(Ordering::Relaxed)
    }
}

/// The server's own counters.
#[derive(Debug, Default)]
pub struct ServerStats {
    connections_open: AtomicI64,
}

/// A connection counted open until dropped.
#[derive(Debug)]
pub struct OpenConnection(std::sync::Arc<ServerStats>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServerStats {
    pub fn open(self: &std::sync::Arc<Self>) -> OpenConnection {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Ordering::Relaxed)
    }
}

/// The runtime's counters: live instances, compile cache results.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    instances_live: AtomicI64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    compile_errors: AtomicU64,
}

/// An instance counted live until dropped.
#[derive(Debug)]
pub struct LiveInstance(std::sync::Arc<RuntimeStats>);

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.instances_live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a compile went, for `compile_cache_total{result}`.
#[derive(Debug, Clone, Copy)]
pub enum CompileResult {
    /// Machine code loaded from the compile cache.
    Hit,
    /// Compiled (no cache, or not in it).
    Miss,
    /// Failed.
    Error,
}

impl RuntimeStats {
    pub fn instance(self: &std::sync::Arc<Self>) -> LiveInstance {
        self.instances_live.fetch_add(1, Ordering::Relaxed);
        LiveInstance(self.clone())
    }

    pub fn instances_live(&self) -> i64 {
        self.instances_live.load(Ordering::Relaxed)
    }

    pub fn compiled(&self, result: CompileResult) {
        let counter = match result {
            CompileResult::Hit => &self.cache_hits,
            CompileResult::Miss => &self.cache_misses,
            CompileResult::Error => &self.compile_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (hits, misses, errors) so far.
    pub fn compiles(&self) -> (u64, u64, u64) {
        (
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed),
            self.compile_errors.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn requests_are_counted_by_status_and_latency_bucket() {
        let stats = Arc::new(AppStats::default());
        let a = stats.begin();
        let b = stats.begin();
        assert_eq!(stats.in_flight(), 2);
        a.finish(200, Duration::from_micros(300));
        b.finish(503, Duration::from_millis(40));
        assert_eq!(stats.in_flight(), 0);
        drop(stats.begin());
        assert_eq!(
            stats.in_flight(),
            0,
            "a dropped request is no longer in flight"
        );
        assert_eq!(stats.statuses(), [(200, 1), (503, 1)]);
        let latency = stats.latency();
        assert_eq!(latency.count, 2);
        assert_eq!(latency.buckets[0], 1, "0.3 ms is in the 0.5 ms bucket");
        assert_eq!(latency.buckets[6], 1, "40 ms is in the 50 ms bucket");
        assert_eq!(latency.quantile(0.5), Some(0.0005));
        assert_eq!(latency.quantile(0.99), Some(0.05));
    }

    #[test]
    fn outbound_calls_are_counted_by_result() {
        let stats = AppStats::default();
        let outbound = stats.outbound.clone();
        outbound.count(OutboundResult::Sent);
        outbound.count(OutboundResult::Denied);
        outbound.count(OutboundResult::Denied);
        assert_eq!(stats.outbound.calls(OutboundResult::Sent), 1);
        assert_eq!(stats.outbound.calls(OutboundResult::Denied), 2);
        assert_eq!(stats.outbound.calls(OutboundResult::Failed), 0);
    }

    #[test]
    fn past_the_last_bound_is_infinity() {
        let latency = Latency::default();
        latency.observe(Duration::from_secs(100));
        assert_eq!(latency.snapshot().quantile(0.5), Some(f64::INFINITY));
        assert_eq!(
            LatencySnapshot {
                buckets: vec![0; 17],
                count: 0,
                sum_seconds: 0.0
            }
            .quantile(0.5),
            None
        );
    }
}
