//! A real browser for tests of web pages: Debian's `chromium`, headless.
//!
//! [`render`] loads a URL once and returns the DOM as the browser has it
//! after parsing and scripts, and a screenshot, kept as
//! `target/test-artifacts/browser/NAME.png` for a person to look at after
//! the run.
//!
//! On a fresh machine [`chromium`] installs Debian's `chromium` package
//! itself (as root, or through passwordless `sudo`), as the rest of the
//! suite installs what it needs; CI (`.ci/run`) installs it beforehand.
//!
//! Written against Debian bookworm's chromium 156.0.8078.108. Since Chrome
//! 132 `--headless` is the "new" headless mode (the old one moved to a
//! separate `chrome-headless-shell` binary); the flag says `--headless=new`
//! so that older builds (109 and later) run the same mode. In it one run
//! takes both `--dump-dom` and `--screenshot`, from the same page load (so
//! the screenshot shows the DOM a test checks), in 0.6 s on an idle 2-core
//! machine; a page that fails to load still exits 0, with neither.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The names the browser goes by on `PATH`, in order of preference.
const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The browser window, and so the screenshot, in CSS pixels (and device
/// pixels: the scale factor is fixed at 1).
const WINDOW: (u32, u32) = (1280, 900);

/// The longest one browser run may take.
const RENDER_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest one `apt-get` step may take (chromium and its libraries are
/// a few hundred MB to fetch and unpack).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The flags of every run besides the window, profile, host rules and
/// commands.
const FLAGS: &[&str] = &[
    "--headless=new",
    // Root cannot use chromium's sandbox, and containers often lack the
    // user namespaces it needs for anyone else; the pages are the tests' own.
    "--no-sandbox",
    // No display and no GPU: software rendering, the same on every machine.
    "--disable-gpu",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    // Docker's /dev/shm is 64 MB, too small for chromium; /tmp is not.
    "--disable-dev-shm-usage",
    // No first-run work, no updates, extensions, sync, crash reports,
    // metrics or keyring (which waits on D-Bus).
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-component-extensions-with-background-pages",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--password-store=basic",
    "--mute-audio",
];

/// What the browser made of a page.
pub struct Rendered {
    /// The DOM after parsing and scripts, serialized (`--dump-dom`).
    pub dom: String,
    /// The screenshot of the window, a PNG:
    /// `target/test-artifacts/browser/NAME.png`.
    pub screenshot: PathBuf,
}

/// The chromium binary, installed first (Debian's `chromium` package) when
/// there is none on `PATH`.
pub fn chromium() -> PathBuf {
    // Serializes the test threads; `install` serializes the test processes.
    static CHROMIUM: OnceLock<PathBuf> = OnceLock::new();
    CHROMIUM
        .get_or_init(|| find_chromium().unwrap_or_else(install))
        .clone()
}

/// Loads `url` (`http://HOST:PORT/...`) in headless chromium, once: returns
/// the DOM once the page has loaded, and keeps a screenshot taken at the
/// same moment as `target/test-artifacts/browser/NAME.png`.
///
/// The browser resolves no host name but the URL's own, so a page cannot
/// reach out of the test (and chromium's own services stay quiet): what it
/// loads from elsewhere fails at once.
pub fn render(url: &str, name: &str) -> Rendered {
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "a screenshot name is a plain file stem: {name:?}"
    );
    let host = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .map(|authority| match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        })
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| panic!("not an http://HOST:PORT/ URL: {url:?}"));
    let chromium = chromium();
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let screenshot = dir.join(format!("{name}.png"));
    // A screenshot left by an earlier run must not pass for this one's.
    let _ = std::fs::remove_file(&screenshot);

    let scratch = tempfile::Builder::new()
        .prefix("wasm-gateway-chromium-")
        .tempdir()
        .unwrap();
    let mut command = Command::new(&chromium);
    command
        .args(FLAGS)
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .arg(format!(
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host}"
        ))
        .arg("--dump-dom")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(url)
        // Chromium writes `~/.config/chromium` and `~/.cache` whatever the
        // profile directory: keep them in the throwaway directory too.
        .env("HOME", scratch.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME");
    let what = format!("chromium --dump-dom --screenshot {url}");
    let run = Run::start(command, scratch.path()).finish(&what, RENDER_TIMEOUT);
    let stderr = run.stderr;
    assert!(
        run.status.success(),
        "{what} failed ({}):\n{stderr}",
        run.status
    );
    let dom = String::from_utf8(run.stdout).expect("the DOM is UTF-8");
    assert!(
        dom.contains("<html") && dom.contains("</html>"),
        "{what} printed no document (did the page load?):\n{dom}\nstderr:\n{stderr}"
    );
    check_png(&screenshot, &stderr);
    Rendered { dom, screenshot }
}

/// `target/test-artifacts/browser`, in whatever target directory this test
/// binary was built in (cargo's `CARGO_TARGET_TMPDIR` is its `tmp`).
fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts/browser")
}

/// Checks that `path` holds a PNG of the whole window, not of one colour.
fn check_png(path: &Path, stderr: &str) {
    let png = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "chromium wrote no screenshot at {}: {e}\nstderr:\n{stderr}",
            path.display()
        )
    });
    let path = path.display();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 33 && &png[12..16] == b"IHDR",
        "{path} is not a PNG ({} bytes)",
        png.len()
    );
    let be32 = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(
        (be32(16), be32(20)),
        WINDOW,
        "{path}: the screenshot is not of the window"
    );
    // Even an all-white window is 5 KiB of PNG, so size alone says little:
    // the pixels must differ.
    assert!(
        colours_differ(&png),
        "{path}: the screenshot is blank (one colour)"
    );
}

/// Whether an 8-bit RGB or RGBA PNG (what chromium writes) has pixels of
/// more than one colour.
fn colours_differ(png: &[u8]) -> bool {
    use std::io::Read;
    let (width, height) = (WINDOW.0 as usize, WINDOW.1 as usize);
    let (depth, colour, interlace) = (png[24], png[25], png[28]);
    let bpp = match (depth, colour, interlace) {
        (8, 2, 0) => 3,
        (8, 6, 0) => 4,
        _ => panic!(
            "a PNG of depth {depth}, colour type {colour}, interlace {interlace}: not what chromium writes"
        ),
    };
    // The image data: every IDAT chunk's, in order, one zlib stream.
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let data = png.get(at + 8..at + 8 + len).expect("a whole chunk");
        if &png[at + 4..at + 8] == b"IDAT" {
            idat.extend_from_slice(data);
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("the PNG's image data inflates");
    let stride = width * bpp;
    assert_eq!(raw.len(), height * (stride + 1), "the PNG's image data");
    // Undo each row's filter (PNG spec, section 9), against the row above.
    let mut previous = vec![0u8; stride];
    let mut first = None;
    for row in raw.chunks_exact(stride + 1) {
        let (filter, row) = (row[0], &row[1..]);
        let mut current = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= bpp { current[i - bpp] } else { 0 };
            let b = previous[i];
            let c = if i >= bpp { previous[i - bpp] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => panic!("PNG row filter {filter}"),
            };
            current[i] = row[i].wrapping_add(predicted);
        }
        for pixel in current.chunks_exact(bpp) {
            match first {
                None => first = Some(pixel.to_vec()),
                Some(ref colour) if colour != pixel => return true,
                Some(_) => {}
            }
        }
        previous = current;
    }
    false
}

/// A child process with its output going to files (no pipe to fill up, or
/// to stay open in a stray grandchild), in a process group of its own (so
/// the browser's helper processes end with it).
struct Run {
    child: std::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

/// How a [`Run`] ended.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    /// Starts `command`, its output in files in `dir`.
    fn start(mut command: Command, dir: &Path) -> Run {
        use std::os::unix::process::CommandExt;
        let stdout = dir.join("stdout");
        let stderr = dir.join("stderr");
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Run {
            child,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Waits for the process, at most `timeout` from its start, then ends
    /// whatever is left of its process group; panics with its stderr if it
    /// ran out of time.
    fn finish(mut self, what: &str, timeout: Duration) -> Finished {
        let pid = self.child.id();
        let timed_out = loop {
            if self.exited() {
                break false;
            }
            if self.started.elapsed() > timeout {
                break true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Before the child is reaped, so its id, the group's, is still
        // taken and names no one else's processes.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let status = self.child.wait().unwrap();
        let stdout = std::fs::read(&self.stdout).unwrap_or_default();
        // No D-Bus in a container or CI: chromium says so in two dozen
        // lines that would bury the one that matters.
        let stderr = String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default())
            .lines()
            .filter(|line| !line.contains(":ERROR:dbus/"))
            .map(|line| format!("{line}\n"))
            .collect::<String>();
        assert!(
            !timed_out,
            "{what} took longer than {timeout:?} and was killed; stderr:\n{stderr}"
        );
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// Whether the child has exited, without reaping it: a zombie keeps its
    /// process id.
    fn exited(&mut self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())) {
            // `PID (COMMAND) STATE ...`; the command may hold `)` itself.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => self.child.try_wait().unwrap().is_some(),
        }
    }
}

/// The first of [`NAMES`] on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    NAMES.iter().find_map(|name| find_program(name))
}

/// The executable `name` on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| {
            file.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Installs Debian's `chromium` package (see [`install_package`]).
fn install() -> PathBuf {
    install_package(
        "chromium",
        &format!(
            "the browser tests need chromium, which is not on PATH (as {})",
            NAMES.join(", ")
        ),
        find_chromium,
    )
}

/// Installs the Debian package `package`, as root or through `sudo -n`,
/// and returns what `find` then finds; `need` says which tests need it
/// and why it is missing, for the message when it cannot. One test
/// process at a time (a lock file in the target directory); the others
/// wait, then find what it installed.
pub fn install_package(package: &str, need: &str, find: fn() -> Option<PathBuf>) -> PathBuf {
    let fail = |problem: &str| -> ! {
        panic!(
            "{need}, and the test suite could not install it: {problem}\nInstall it with \
             `apt-get install {package}` (as root) and run the tests again."
        )
    };
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{package}-install.lock"));
    let _ = std::fs::create_dir_all(lock_path.parent().unwrap());
    let lock = std::fs::File::create(&lock_path)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", lock_path.display())));
    let waiting = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            // The holder's own apt-get steps time out; this outlasts them.
            Err(std::fs::TryLockError::WouldBlock) if waiting.elapsed() < 3 * INSTALL_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => fail(&format!("waiting for {}: {e}", lock_path.display())),
        }
    }
    // Another test process may have installed it meanwhile.
    if let Some(found) = find() {
        return found;
    }
    if find_program("apt-get").is_none() {
        fail("this is not a Debian-based system (no apt-get)");
    }
    let sudo = if is_root() {
        false
    } else if find_program("sudo").is_some() {
        true
    } else {
        fail("not running as root, and there is no sudo");
    };
    eprintln!(
        "{package} is not installed: installing Debian's package (apt-get install {package})"
    );
    let apt_get = |args: &[&str]| {
        let mut command = if sudo {
            let mut command = Command::new("sudo");
            command.args(["-n", "apt-get"]);
            command
        } else {
            Command::new("apt-get")
        };
        command
            // An apt of someone else's holds dpkg's lock: wait for it.
            .args(["-qq", "-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        let what = format!(
            "{}apt-get {}",
            if sudo { "sudo -n " } else { "" },
            args.join(" ")
        );
        let scratch = tempfile::tempdir().unwrap();
        let run = Run::start(command, scratch.path()).finish(&what, INSTALL_TIMEOUT);
        // That other apt may have been installing the package.
        if !run.status.success() && find().is_none() {
            fail(&format!(
                "`{what}` failed ({}):\n{}",
                run.status, run.stderr
            ));
        }
    };
    apt_get(&["update"]);
    apt_get(&["install", "-y", "--no-install-recommends", package]);
    find().unwrap_or_else(|| {
        fail(&format!(
            "apt-get installed {package}, yet it is not on PATH"
        ))
    })
}

/// Whether this process runs as root (its effective user id, from
/// `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A page from the gateway's static document root, rendered: the DOM is the
/// one after its script ran, and the screenshot is a PNG of the window.
#[test]
fn a_page_renders_in_headless_chromium() {
    let dir = crate::support::temp_dir("browser");
    std::fs::create_dir_all(dir.join("public")).unwrap();
    std::fs::write(
        dir.join("public/index.html"),
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Browser self-test</title>
<style>body { font: 24px sans-serif; margin: 2em; } h1 { color: #0a5; }</style>
</head>
<body>
<h1>Served by wasm-gateway</h1>
<p id="by-script">waiting for the script</p>
<script>document.getElementById("by-script").textContent = "written by a script";</script>
</body>
</html>
"#,
    )
    .unwrap();
    let server =
        crate::support::serve_toml(&dir, "[apps.site]\nstatic = \"public\"\nroutes = [\"/\"]\n");

    let started = Instant::now();
    let page = render(
        &format!("http://{}/", server.addr),
        "a_page_renders_in_headless_chromium",
    );
    eprintln!("rendered in {:?}", started.elapsed());

    assert!(
        page.dom.contains("<title>Browser self-test</title>"),
        "{}",
        page.dom
    );
    assert!(page.dom.contains("Served by wasm-gateway"), "{}", page.dom);
    assert!(
        page.dom.contains(">written by a script</p>"),
        "the DOM is the one after scripts ran:\n{}",
        page.dom
    );
    assert!(
        page.screenshot
            .ends_with("test-artifacts/browser/a_page_renders_in_headless_chromium.png")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
