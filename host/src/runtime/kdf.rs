//! Password hashing for guests: the host side of `wasm-gateway:python/kdf`
//! (`guest-sdk/python/wit/python.wit`), behind Python's
//! `hashlib.pbkdf2_hmac` and `hashlib.scrypt`.
//!
//! CPython has these two only through OpenSSL, which a component does not
//! have; computed in the guest they would be tens of times slower. The
//! host computes them natively, and must keep a guest from turning that
//! into unbounded host work:
//!
//! - a call is checked in full before anything runs (by
//!   `wasm_gateway_kdf`, the derivations' own crate in host/kdf): CPython's
//!   argument checks, then caps on its cost (PBKDF2's rounds, scrypt's
//!   `n·r·p` and memory, the key's length), so a hostile call is refused at
//!   once, taking no worker;
//! - derivations run on blocking threads of the slow lane
//!   ([`lanes::spawn_blocking_slow`]), never on a runtime thread, at most
//!   [`workers`] at once in the whole process, and at most half of them for
//!   one application ([`Share`]): a tenant that hashes in every request
//!   queues behind its own share, and the others still get workers;
//! - PBKDF2 stops when its request is gone (its future dropped: the
//!   deadline passed, or the client left), and in any case just after the
//!   request's deadline; scrypt, which cannot be stopped halfway, is
//!   bounded by its caps alone (about a second of one core at most).
//!
//! The time is the host's, not the guest's: fuel does not count it, the
//! request's deadline does (docs/limits.md).

use crate::runtime::lanes;
use crate::runtime::store::StoreData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use wasm_gateway_kdf::{Pbkdf2, Refusal, Scrypt};
use wasmtime::component::{HasSelf, Linker};

mod generated {
    // The interface alone: the Python world's other imports are the WSGI
    // package's (bound in `wsgi::bindings`) and wasi:http's.
    wasmtime::component::bindgen!({
        path: ["../wit", "../guest-sdk/python/wit"],
        inline: "package wasm-gateway:kdf-host;
                 world host { import wasm-gateway:python/kdf@0.1.0; }",
        // A derivation waits for a worker and for its thread; a host
        // failure (the thread panicked) traps.
        imports: { default: async | trappable },
    });
}

pub use generated::wasm_gateway::python::kdf::{Digest, Host, KdfError};

/// The derivations crate's name for `digest`.
fn hash(digest: Digest) -> wasm_gateway_kdf::Digest {
    use wasm_gateway_kdf::Digest as D;
    match digest {
        Digest::Md5 => D::Md5,
        Digest::Sha1 => D::Sha1,
        Digest::Sha224 => D::Sha224,
        Digest::Sha256 => D::Sha256,
        Digest::Sha384 => D::Sha384,
        Digest::Sha512 => D::Sha512,
        Digest::Sha512224 => D::Sha512_224,
        Digest::Sha512256 => D::Sha512_256,
        Digest::Sha3224 => D::Sha3_224,
        Digest::Sha3256 => D::Sha3_256,
        Digest::Sha3384 => D::Sha3_384,
        Digest::Sha3512 => D::Sha3_512,
    }
}

/// The guest's error for a refusal: `Stopped` is the deadline (or a
/// request that is gone, which reads nothing).
fn guest_error(refusal: Refusal) -> KdfError {
    match refusal {
        Refusal::Invalid(message) => KdfError::Invalid(message),
        Refusal::MemoryLimit => KdfError::MemoryLimit,
        Refusal::TooCostly(message) => KdfError::TooCostly(message),
        Refusal::Stopped => KdfError::Deadline,
    }
}

/// The interface, without its version, as a component imports it.
pub const INTERFACE: &str = "wasm-gateway:python/kdf";

/// Whether an import of [`INTERFACE`] at `version` is one this host serves:
/// the package's 0.1 series.
pub fn serves_version(version: &str) -> bool {
    version
        .strip_prefix("0.1")
        .is_some_and(|patch| patch.starts_with('.'))
}

/// Adds the interface to `linker`: every application gets it (a component
/// that does not import it is unaffected).
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    generated::wasm_gateway::python::kdf::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)
}

/// The most derivations running at once, all applications together: one
/// per core, at most 8 (scrypt may hold 64 MiB each, so the host memory
/// they take is bounded too).
pub fn workers() -> usize {
    static WORKERS: OnceLock<usize> = OnceLock::new();
    *WORKERS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8)
    })
}

/// The process's workers, one permit each.
fn pool() -> &'static Arc<Semaphore> {
    static POOL: OnceLock<Arc<Semaphore>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(Semaphore::new(workers())))
}

/// The deadline of a derivation asked for by a store whose request set
/// none (a store outside a request; the runtime always sets one).
const NO_DEADLINE: Duration = Duration::from_secs(30);

/// How long after the request's deadline a call gives up on its own. The
/// request's deadline ends the call first: the runtime drops the guest's
/// future, which stops the thread at once ([`Gone`]), and the client gets
/// the deadline's 504. The call's own check is a backstop, a little later,
/// so that it never wins that race and hands the guest an error to turn
/// into a response of its own.
const BACKSTOP: Duration = Duration::from_millis(50);

/// One application's share of the workers: half of them, at least one.
/// Its derivations wait here first (in order), so one tenant's flood of
/// hashing requests queues behind its own share instead of in front of
/// every other tenant's.
#[derive(Debug, Clone)]
pub struct Share(Arc<Semaphore>);

impl Share {
    /// A share for a new application.
    pub fn new() -> Self {
        Share(Arc::new(Semaphore::new(workers().div_ceil(2))))
    }
}

impl Default for Share {
    fn default() -> Self {
        Self::new()
    }
}

/// The password hashing state of one store: its application's share, and
/// the deadline of the request it serves.
pub struct Kdf {
    share: Share,
    deadline: Option<Instant>,
}

impl Kdf {
    /// State for a store of the application holding `share`.
    pub fn new(share: Share) -> Self {
        Kdf {
            share,
            deadline: None,
        }
    }

    /// The deadline of the request the store serves now.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Checks `job`, waits for a worker (within the deadline) and runs it
    /// there. `Err` is a trap: the worker's thread failed.
    async fn run(&self, job: Job) -> wasmtime::Result<Result<Vec<u8>, KdfError>> {
        if let Err(refused) = job.check() {
            return Ok(Err(guest_error(refused)));
        }
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + NO_DEADLINE)
            + BACKSTOP;
        let permits = tokio::time::timeout_at(deadline, async {
            let own = self.share.0.clone().acquire_owned().await;
            let any = pool().clone().acquire_owned().await;
            // The semaphores are never closed.
            (own.expect("never closed"), any.expect("never closed"))
        })
        .await;
        let Ok(permits) = permits else {
            return Ok(Err(KdfError::Deadline));
        };
        let gone = Gone::default();
        let stop = {
            let gone = gone.0.clone();
            let deadline = deadline.into_std();
            move || gone.load(Ordering::Relaxed) || std::time::Instant::now() >= deadline
        };
        let task = lanes::spawn_blocking_slow(move || {
            // Held by the thread, not the request: a derivation still
            // running after its request was dropped keeps its worker
            // until it stops.
            let _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit) = permits;
            job.derive(&stop)
        });
        // `gone` is dropped with this future, telling the thread to stop.
        let result = task.await;
        drop(gone);
        result
            .map(|derived| derived.map_err(guest_error))
            .map_err(|err| wasmtime::format_err!("password hashing failed on the host: {err}"))
    }
}

/// Set when the call's future is dropped (its request ended: deadline,
/// client gone), so that its thread stops too.
#[derive(Default)]
struct Gone(Arc<AtomicBool>);

impl Drop for Gone {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A derivation to run.
enum Job {
    Pbkdf2(Pbkdf2),
    Scrypt(Scrypt),
}

impl Job {
    fn check(&self) -> Result<(), Refusal> {
        match self {
            Job::Pbkdf2(job) => job.check(),
            Job::Scrypt(job) => job.check(),
        }
    }

    fn derive(&self, stop: &dyn Fn() -> bool) -> Result<Vec<u8>, Refusal> {
        match self {
            Job::Pbkdf2(job) => job.derive(stop),
            Job::Scrypt(job) => job.derive(stop),
        }
    }
}

impl Host for StoreData {
    async fn pbkdf2_hmac(
        &mut self,
        hash: Digest,
        password: Vec<u8>,
        salt: Vec<u8>,
        iterations: u32,
        dklen: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, KdfError>> {
        let job = Job::Pbkdf2(Pbkdf2 {
            digest: self::hash(hash),
            password,
            salt,
            iterations,
            dklen,
        });
        self.kdf.run(job).await
    }

    async fn scrypt(
        &mut self,
        password: Vec<u8>,
        salt: Vec<u8>,
        n: u64,
        r: u32,
        p: u32,
        maxmem: u64,
        dklen: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, KdfError>> {
        let job = Job::Scrypt(Scrypt {
            password,
            salt,
            n,
            r,
            p,
            maxmem,
            dklen,
        });
        self.kdf.run(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(iterations: u32) -> Job {
        Job::Pbkdf2(Pbkdf2 {
            digest: wasm_gateway_kdf::Digest::Sha256,
            password: b"password".to_vec(),
            salt: b"salt".to_vec(),
            iterations,
            dklen: 32,
        })
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_interface_is_served_for_the_python_package_s_0_1_series() {
        let wit = include_str!("../../../guest-sdk/python/wit/python.wit");
        assert!(wit.contains("package wasm-gateway:python@0.1.0;"));
        assert!(wit.contains("interface kdf {") && wit.contains("    import kdf;"));
        assert!(serves_version("0.1.0") && serves_version("0.1.3"));
        assert!(!serves_version("0.2.0") && !serves_version("0.10.0"));
    }

    #[tokio::test]
    async fn a_derivation_runs_on_a_worker_and_gives_the_key() {
        let kdf = Kdf::new(Share::new());
        let key = kdf.run(sha256(4096)).await.unwrap().unwrap();
        assert_eq!(
            hex(&key),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[tokio::test]
    async fn a_refused_call_takes_no_worker() {
        let share = Share::new();
        // Every permit of the application's share is taken...
        let _held = share
            .0
            .clone()
            .acquire_many_owned(workers().div_ceil(2) as u32)
            .await
            .unwrap();
        let kdf = Kdf::new(share);
        // ...yet a refusal comes at once.
        let refused = kdf.run(sha256(0)).await.unwrap();
        assert!(matches!(refused, Err(KdfError::Invalid(_))), "{refused:?}");
        let scrypt = Job::Scrypt(Scrypt {
            password: vec![],
            salt: vec![],
            n: 1 << 20,
            r: 8,
            p: 1,
            maxmem: 0,
            dklen: 64,
        });
        assert!(matches!(
            kdf.run(scrypt).await.unwrap(),
            Err(KdfError::MemoryLimit)
        ));
    }

    /// A derivation longer than what is left of the request stops at the
    /// deadline, with `deadline`, and gives its workers back.
    #[tokio::test]
    async fn a_derivation_stops_at_the_request_s_deadline() {
        let share = Share::new();
        let mut kdf = Kdf::new(share.clone());
        kdf.set_deadline(Instant::now() + Duration::from_millis(100));
        let started = std::time::Instant::now();
        let result = kdf
            .run(sha256(wasm_gateway_kdf::MAX_PBKDF2_ROUNDS as u32))
            .await;
        assert!(matches!(result, Ok(Err(KdfError::Deadline))), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(share.0.available_permits(), workers().div_ceil(2));

        // Past the deadline, waiting for a worker ends too.
        let _held = share
            .0
            .clone()
            .acquire_many_owned(workers().div_ceil(2) as u32)
            .await
            .unwrap();
        kdf.set_deadline(Instant::now() + Duration::from_millis(50));
        assert!(matches!(
            kdf.run(sha256(1)).await,
            Ok(Err(KdfError::Deadline))
        ));
    }

    /// A call whose request is dropped (its client left, or the deadline
    /// ended the guest) stops its thread, which then gives its worker back.
    #[tokio::test]
    async fn a_dropped_call_stops_its_thread() {
        let share = Share::new();
        let kdf = Kdf::new(share.clone());
        let call = kdf.run(sha256(wasm_gateway_kdf::MAX_PBKDF2_ROUNDS as u32));
        // Polled long enough to start its thread, then dropped.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), call)
                .await
                .is_err()
        );
        let started = std::time::Instant::now();
        while share.0.available_permits() < workers().div_ceil(2) {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "the thread kept its worker"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
