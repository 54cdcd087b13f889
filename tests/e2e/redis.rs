//! A real Redis for the key-value tests: Debian's `redis-server`, started by
//! the tests on a free loopback port, with no persistence.
//!
//! [`shared`] is one server for the whole test process (each test keeps to
//! its own apps' namespaces, or its own database); [`RedisServer::start`]
//! makes one a test may stop and start again (the fault tests).
//!
//! A server runs under a small shell that holds the test process's pipe on
//! its standard input: when the test process ends, however it ends, the
//! pipe closes and the shell stops the server and removes its directory.
//! No server outlives the tests.
//!
//! On a fresh machine [`redis_server`] installs Debian's `redis-server`
//! package itself, as the browser tests install chromium
//! (`browser::install_package`); CI (`.ci/run`) installs it beforehand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `redis-server` binary, installed first when there is none.
pub fn redis_server() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            find().unwrap_or_else(|| {
                crate::browser::install_package(
                    "redis-server",
                    "the key-value tests need redis-server, which is not on PATH",
                    find,
                )
            })
        })
        .clone()
}

fn find() -> Option<PathBuf> {
    crate::browser::find_program("redis-server").or_else(|| {
        let debian = PathBuf::from("/usr/bin/redis-server");
        debian.is_file().then_some(debian)
    })
}

/// The server every test of this process may use.
pub fn shared() -> &'static RedisServer {
    static SHARED: OnceLock<RedisServer> = OnceLock::new();
    SHARED.get_or_init(RedisServer::start)
}

/// A running `redis-server` on 127.0.0.1, stopped when dropped.
pub struct RedisServer {
    /// Its port.
    pub port: u16,
    running: Mutex<Option<Running>>,
}

/// One run of the server: the shell around it, and the server's own pid.
struct Running {
    shell: Child,
    /// Closing it stops the server.
    stdin: ChildStdin,
    pid: u32,
}

impl RedisServer {
    /// A new server on a free port.
    pub fn start() -> RedisServer {
        // A port that was free a moment ago; another process may take it
        // first, so a few tries.
        for _ in 0..5 {
            let port = free_port();
            if let Some(running) = run(port) {
                return RedisServer {
                    port,
                    running: Mutex::new(Some(running)),
                };
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// `redis://127.0.0.1:PORT/DB`.
    pub fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Kills the server at once (`kill -9`): it goes away as a crashed or
    /// unreachable server does.
    pub fn kill(&self) {
        if let Some(running) = self.running.lock().unwrap().take() {
            running.stop();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&self) {
        self.kill();
        let running = run(self.port).unwrap_or_else(|| {
            panic!("redis-server did not start again on its port {}", self.port)
        });
        *self.running.lock().unwrap() = Some(running);
    }

    /// Sends one command (in the inline form) and returns the raw reply.
    pub fn command(&self, line: &str) -> String {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(format!("{line}\r\nQUIT\r\n").as_bytes())
            .unwrap();
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        reply
            .trim_end()
            .trim_end_matches("+OK")
            .trim_end()
            .to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a server on `port`, and waits until it answers; `None` when it
/// does not (the port was taken).
fn run(port: u16) -> Option<Running> {
    let binary = redis_server();
    let mut shell = Command::new("sh")
        .arg("-c")
        // The server in the background in a directory of its own, its pid
        // on stdout; then wait for stdin to close, stop it and remove the
        // directory.
        .arg(
            r#"dir=$(mktemp -d "${TMPDIR:-/tmp}/wasm-gateway-redis-XXXXXX") || exit 1
"$0" "$@" --dir "$dir" & echo $!
cat > /dev/null
kill -9 $! 2> /dev/null
wait
rm -rf "$dir""#,
        )
        .arg(&binary)
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--logfile", "redis.log"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let stdin = shell.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line.trim().parse().expect("the server's pid");
    let running = Running { shell, stdin, pid };
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if answers(port) {
            return Some(running);
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    running.stop();
    None
}

impl Running {
    /// Kills the server (`kill -9`) and lets the shell end.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        drop(self.stdin);
        let _ = self.shell.wait();
    }
}

/// Whether a server on `port` answers `PING`.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = [0; 7];
    conn.write_all(b"PING\r\n").is_ok()
        && conn.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A port no one listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
