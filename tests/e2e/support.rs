//! Test support: an in-process server on 127.0.0.1:0 per test, the real binary
//! for command-line tests, and a small HTTP/1.1 client over raw sockets (so a
//! test controls every byte it sends and sees every byte it gets).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wasm_gateway::Compiled;
use wasm_gateway::{
    App, AppConfig, Gateway, HttpLimits, Runtime, RuntimeConfig, Server, ServerConfig,
};

/// The real binary, with its compile cache in the test target directory
/// rather than the user's.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasm-gateway"));
    command.env(
        "WASM_GATEWAY_CACHE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"),
    );
    command
}

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wasm-gateway-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `toml` as `gateway.toml` in `dir` and serves it in-process.
pub fn serve_toml(dir: &Path, toml: &str) -> TestServer {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    let config = wasm_gateway::load_config(&path).unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::load(&config, runtime()).unwrap_or_else(|e| panic!("{e}"));
    TestServer::serve_gateway(gateway, ServerConfig::default())
}

/// One engine for the whole test process; components are compiled once each.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // Cached across test runs: the Python components take seconds each
        // to compile.
        let compile_cache = Some(wasm_gateway::CompileCache {
            directory: Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"),
            max_size: wasm_gateway::CompileCache::DEFAULT_MAX_SIZE,
        });
        Runtime::new(&RuntimeConfig {
            compile_cache,
            ..RuntimeConfig::default()
        })
        .expect("engine")
    })
}

/// The component at `path`, compiled once per test process.
pub fn compiled(path: &str) -> Compiled {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(compiled) = cache.lock().unwrap().get(path) {
        return compiled.clone();
    }
    let compiled = runtime()
        .compile(Path::new(path))
        .unwrap_or_else(|e| panic!("{e}"));
    cache
        .lock()
        .unwrap()
        .insert(path.to_owned(), compiled.clone());
    compiled
}

/// A server running in a background thread until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Serves the component at `wasm` with default settings.
    pub fn start(wasm: &str) -> TestServer {
        Self::with_config(wasm, |_| {})
    }

    /// Serves the component at `wasm`, letting the test adjust its settings.
    pub fn with_config(wasm: &str, adjust: impl FnOnce(&mut AppConfig)) -> TestServer {
        Self::with_settings(wasm, adjust, |_| {})
    }

    /// Serves the component at `wasm` with adjusted HTTP limits.
    pub fn with_limits(wasm: &str, adjust: impl FnOnce(&mut HttpLimits)) -> TestServer {
        Self::with_settings(wasm, |_| {}, adjust)
    }

    /// Serves the component at `wasm` with adjusted application settings and
    /// HTTP limits.
    pub fn with_settings(
        wasm: &str,
        adjust: impl FnOnce(&mut AppConfig),
        adjust_limits: impl FnOnce(&mut HttpLimits),
    ) -> TestServer {
        let mut server_config = ServerConfig::default();
        adjust_limits(&mut server_config.limits);
        let mut config = AppConfig::new(
            Path::new(wasm)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
        adjust(&mut config);
        let loaded = runtime()
            .link(&compiled(wasm), &config)
            .unwrap_or_else(|e| panic!("{e}"));
        let app = Arc::new(App::new(runtime(), loaded, config));
        Self::serve_gateway(Gateway::single(app), server_config)
    }

    /// Serves a gateway (say, loaded from a configuration file).
    pub fn serve_gateway(gateway: Gateway, server_config: ServerConfig) -> TestServer {
        let gateway = Arc::new(gateway);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Server::bind("127.0.0.1:0".parse().unwrap(), gateway, server_config)
                    .await
                    .unwrap();
                addr_tx.send(server.local_addr().unwrap()).unwrap();
                server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server start");
        TestServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Sends a GET with `Connection: close` and returns the response.
    pub fn get(&self, path: &str) -> Response {
        self.request(format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Sends raw bytes and reads the response until the server closes.
    pub fn request(&self, raw: impl AsRef<[u8]>) -> Response {
        let mut conn = self.connect();
        conn.write_all(raw.as_ref()).unwrap();
        let mut reader = BufReader::new(conn);
        read_response(&mut reader).expect("a response")
    }

    /// A connection to the server with a generous read timeout.
    pub fn connect(&self) -> TcpStream {
        let conn = TcpStream::connect(self.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        conn
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one final response: status line, headers, then a body framed by
/// Content-Length, chunked encoding, or the end of the connection. Interim
/// responses (`100 Continue`) are skipped, as HTTP clients do.
pub fn read_response(reader: &mut impl BufRead) -> std::io::Result<Response> {
    loop {
        let response = read_response_with(reader, |body: &mut Vec<u8>, data: &[u8]| {
            body.extend_from_slice(data)
        })?;
        if !(100..200).contains(&response.status) {
            return Ok(response);
        }
    }
}

/// Like [`read_response`], but hands each body piece to `sink` (so a test can
/// count a huge body without keeping it).
pub fn read_response_with(
    reader: &mut impl BufRead,
    mut sink: impl FnMut(&mut Vec<u8>, &[u8]),
) -> std::io::Result<Response> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no status line",
        ));
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header line");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
        return Ok(response);
    }
    let mut buf = vec![0; 64 * 1024];
    if let Some(len) = response.header("content-length") {
        let len = len.parse().unwrap();
        read_exact_into(reader, len, &mut buf, &mut |data| {
            sink(&mut response.body, data)
        })?;
    } else if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad chunk size {size:?}"),
                )
            })?;
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end)?;
                break;
            }
            read_exact_into(reader, size, &mut buf, &mut |data| {
                sink(&mut response.body, data)
            })?;
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else {
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sink(&mut response.body, &buf[..n]);
        }
    }
    Ok(response)
}

/// Reads exactly `len` bytes, handing them to `sink` piece by piece.
fn read_exact_into(
    reader: &mut impl BufRead,
    len: usize,
    buf: &mut [u8],
    sink: &mut dyn FnMut(&[u8]),
) -> std::io::Result<()> {
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len());
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "body cut short",
            ));
        }
        sink(&buf[..n]);
        left -= n;
    }
    Ok(())
}

/// Runs `wasm-gateway ARGS...` to completion; returns (exit code, stdout,
/// stderr).
pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = crate::support::binary().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The real binary, started with `serve` on a free port.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: BufReader<ChildStdout>,
}

/// The address on the server's next stdout line, after `prefix`.
fn address_line(stdout: &mut impl BufRead, prefix: &str) -> SocketAddr {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected a line starting {prefix:?}, got {line:?}"))
        .parse()
        .unwrap()
}

impl Binary {
    /// Starts `wasm-gateway serve WASM --listen 127.0.0.1:0 EXTRA...` and waits
    /// for the `http://HOST:PORT` line.
    pub fn serve(wasm: &str, extra: &[&str]) -> Binary {
        let mut args = vec!["serve", wasm, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::spawn(&args, &[])
    }

    /// Starts `wasm-gateway ARGS...` (a `serve` command) with the extra
    /// environment `envs`, and waits for the `http://HOST:PORT` line.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Binary {
        let mut child = crate::support::binary()
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wasm-gateway");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = address_line(&mut stdout, "http://");
        Binary {
            child,
            addr,
            stdout,
        }
    }

    /// `wasm-gateway ARGS... --listen 127.0.0.1:0 --admin-listen
    /// 127.0.0.1:0`: the server and its admin address (the line after the
    /// `http://` one).
    pub fn serve_with_admin(args: &[&str]) -> (Binary, SocketAddr) {
        let mut all = args.to_vec();
        all.extend(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
        let mut bin = Binary::spawn(&all, &[]);
        let admin = address_line(&mut bin.stdout, "admin: http://");
        (bin, admin)
    }

    /// Stops the server (SIGTERM, so it shuts down gracefully) and returns
    /// everything it wrote to stderr.
    pub fn stop(self) -> String {
        self.stop_with_output().1
    }

    /// [`Binary::stop`], also returning what it wrote to stdout after the
    /// lines already read: (stdout, stderr).
    pub fn stop_with_output(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let mut stdout = String::new();
        self.stdout.read_to_string(&mut stdout).unwrap();
        let _ = self.child.wait();
        (stdout, stderr)
    }

    /// Peak and current resident memory of the server, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Binary {
    /// Warms the server up with a small `/?bytes=` request, then streams
    /// `GET /?bytes=N` (the `stream` fixture, possibly behind middleware),
    /// checking every byte is `x`. Returns the response, the bytes received,
    /// and how many MiB the server's peak memory grew meanwhile.
    pub fn stream_bytes(&self, bytes: u64) -> (Response, u64, u64) {
        let warm = request_to(
            self.addr,
            b"GET /?bytes=65536 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(warm.body.len(), 65536);
        let (_, rss_before) = self.memory_kib();
        let mut conn = TcpStream::connect(self.addr).unwrap();
        conn.write_all(
            format!("GET /?bytes={bytes} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut total = 0u64;
        let r = read_response_with(&mut BufReader::new(conn), |_, data| {
            assert!(data.iter().all(|&b| b == b'x'));
            total += data.len() as u64;
        })
        .unwrap();
        let (peak, _) = self.memory_kib();
        (r, total, peak.saturating_sub(rss_before) / 1024)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `raw` to `addr` and reads one response.
/// `GET PATH` on a fresh connection to `addr`.
pub fn get_from(addr: SocketAddr, path: &str) -> Response {
    request_to(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

pub fn request_to(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.write_all(raw).unwrap();
    read_response(&mut BufReader::new(conn)).unwrap()
}
