//! Opt-in instance reuse: an application's instances serve up to N
//! requests or T seconds each, like gunicorn's `max_requests`.
//!
//! A fresh instance per request is the default for every component but a
//! Python one, and the only mode where no state can survive from one
//! request to the next. Reuse exists for heavy runtimes such as CPython,
//! whose instantiation costs milliseconds: Python components reuse their
//! instances unless the operator sets `instance-reuse = 0`. The
//! trade-off: globals, caches and leaks of one request are visible to the
//! next requests of the same application (never to another application: each
//! pool belongs to one). An instance that trapped, ran past its deadline or
//! failed in any way is never reused.

use crate::runtime::Instance;
use crate::runtime::store::StoreData;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// How long an instance may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Requests one instance serves before it is replaced.
    pub requests: u64,
    /// Time from an instance's creation after which it is replaced (it
    /// finishes the request it is serving).
    pub lifetime: Duration,
}

impl Reuse {
    /// Defaults when reuse is switched on with a request count only.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

    /// What a Python component gets unless the operator says otherwise:
    /// a CPython instance costs milliseconds to create and Python
    /// developers expect module state to live on between requests, as in
    /// a gunicorn worker (whose `max_requests` this mirrors). Never across
    /// apps; `instance-reuse = 0` turns it off.
    pub const PYTHON_DEFAULT: Reuse = Reuse {
        requests: 1000,
        lifetime: Self::DEFAULT_LIFETIME,
    };

    /// Checks the settings can work; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.requests == 0 {
            return Err("instance-reuse requests is 0; use at least 1 (1 means a fresh instance per request)".into());
        }
        if self.lifetime.is_zero() {
            return Err("instance-reuse lifetime is 0; use e.g. \"60s\"".into());
        }
        Ok(())
    }
}

/// An instance between two requests.
pub struct Idle {
    /// Its store, holding its state.
    pub store: Store<StoreData>,
    /// The instance's exports.
    pub instance: Instance,
    /// Requests it has served.
    pub served: u64,
    /// When it was created.
    pub born: Instant,
}

/// The idle instances of one application.
pub struct ReusePool {
    reuse: Reuse,
    /// Most recently used last, so the warmest instance is taken first.
    idle: Mutex<Vec<Idle>>,
    /// Most idle instances kept (the application's concurrency: more could
    /// never be busy at once).
    max_idle: usize,
}

impl ReusePool {
    /// An empty pool keeping at most `max_idle` instances.
    pub fn new(reuse: Reuse, max_idle: usize) -> Self {
        ReusePool {
            reuse,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn expired(&self, idle: &Idle, now: Instant) -> bool {
        idle.served >= self.reuse.requests || now.duration_since(idle.born) >= self.reuse.lifetime
    }

    /// An idle instance still within its limits, if there is one.
    pub fn take(&self) -> Option<Idle> {
        let now = Instant::now();
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Those past their lifetime go (a handful at most: the pool is
            // no larger than the application's concurrency).
            stale.extend(idle.extract_if(.., |i| self.expired(i, now)));
            idle.pop()
        };
        // Dropping a store frees its instance's memory: outside the lock.
        drop(stale);
        found
    }

    /// Returns an instance that finished its request cleanly; it is kept
    /// if it may serve more and there is room.
    pub fn put(&self, instance: Idle) {
        if self.expired(&instance, Instant::now()) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(instance);
        }
    }

    /// Drops the idle instances past their limits (or all of them), and
    /// says how many went.
    fn sweep(&self, all: bool) -> usize {
        let now = Instant::now();
        let stale: Vec<Idle> = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.extract_if(.., |i| all || self.expired(i, now))
                .collect()
        };
        // Dropping a store frees its instance: outside the lock.
        stale.len()
    }

    /// How many instances are idle (for tests and metrics).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Every reuse pool of a runtime, so that idle instances are freed even
/// when their application gets no more requests: an idle instance holds a
/// slot of `max-instances` and its memory. The epoch ticker sweeps expired
/// ones every second; an application that finds no free slot releases them
/// all and tries again.
#[derive(Default)]
pub struct IdlePools {
    pools: Mutex<Vec<Weak<ReusePool>>>,
}

impl IdlePools {
    /// Registers an application's pool.
    pub fn register(&self, pool: &Arc<ReusePool>) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(pool));
    }

    fn each(&self, mut f: impl FnMut(&ReusePool)) {
        let pools: Vec<Arc<ReusePool>> = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            pools.retain(|p| p.strong_count() > 0);
            pools.iter().filter_map(Weak::upgrade).collect()
        };
        for pool in &pools {
            f(pool);
        }
    }

    /// Frees idle instances past their lifetime.
    pub fn sweep_expired(&self) {
        self.each(|pool| {
            pool.sweep(false);
        });
    }

    /// Frees every idle instance; returns how many there were.
    pub fn release_all(&self) -> usize {
        let mut freed = 0;
        self.each(|pool| freed += pool.sweep(true));
        freed
    }
}
