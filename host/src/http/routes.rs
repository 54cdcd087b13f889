//! Routing requests to targets by virtual host and path prefix.
//!
//! A route is a string `"[host]/prefix"`:
//!
//! | route | matches |
//! |---|---|
//! | `/` | every path on the default host |
//! | `/blog` | `/blog`, `/blog/`, `/blog/2026/x` on the default host; not `/blogs` |
//! | `blog.example.com/` | every path on `blog.example.com` |
//! | `*.example.org/api` | `/api...` on `a.example.org`, `a.b.example.org`; not on `example.org` |
//!
//! # Hosts
//!
//! The host comes from the request's `Host` header, or from the authority
//! of an absolute-form request target. The port (and any `user@`) is
//! ignored, letters are compared without regard to case, and one trailing
//! dot is ignored. A route without a host belongs to the *default host*.
//! `*.example.com` matches every subdomain of `example.com` at any depth,
//! but not `example.com` itself (route that separately).
//!
//! The host levels that apply to a request are tried from the most to the
//! least specific:
//!
//! 1. the exact host (`a.b.example.com`);
//! 2. the matching wildcards, longest first (`*.b.example.com`, then
//!    `*.example.com`, then `*.com`);
//! 3. the default host (routes with no host).
//!
//! The first level with a route matching the path wins. So a request to a
//! host whose routes do not cover its path **falls back** to the next level:
//! with routes `api.example.com/v1` and `/`, the request
//! `api.example.com/about` is answered by `/`. To keep a host's requests
//! from ever reaching the default host's routes, give that host a root
//! route (`api.example.com/`).
//!
//! # Paths
//!
//! Within a host, the longest matching prefix wins. Prefixes match whole
//! segments of the *raw* request path, as it came on the wire, before
//! percent-decoding: `/api` matches `/api`, `/api/` and `/api/x`, but not
//! `/apix` or `/api%2Fx`. The root (`/`) matches every path. Paths are
//! case-sensitive. The path given to [`RouteTable::lookup`] is the request
//! target's path, without its query. Dot segments in a request path are not
//! resolved here: `/api/../x` goes to `/api` like any other path below it.
//!
//! The matched prefix is the application's `SCRIPT_NAME` (`""` for the
//! root); the rest of the path is its `PATH_INFO`:
//! `path[m.script_name.len()..]`.
//!
//! # Prefix rules
//!
//! Prefixes are normalised when the table is built: one trailing `/` is
//! dropped (the root `/` becomes `""`). A prefix must start with `/` and may
//! not contain `//`, `.` or `..` segments, `%` escapes, `?` or `#`, or
//! anything but visible ASCII: such prefixes could never match a request
//! path as it arrives, or would match it only by accident.
//! [`RouteTableBuilder::add`] refuses them with an error naming the route
//! and the fix.
//!
//! # Cost
//!
//! The table is compiled into hash maps, so the work a lookup does does not
//! depend on the number of routes. Per host level tried, it probes a prefix map once
//! per `/` of the path, longest first; at most one probe for the exact host,
//! and one per `.` of the host for wildcards. Candidates whose length no
//! route has are skipped without hashing, so only as much of the path (or
//! host) as the longest prefix (or wildcard) is ever scanned. A lookup does
//! not allocate.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// The longest host name DNS allows, without its trailing dot. A longer
/// request host can only match the default host.
const MAX_HOST_LEN: usize = 253;

/// A route that cannot be added: it is malformed, or its host and prefix are
/// taken already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    route: String,
    message: String,
}

impl RouteError {
    fn new(route: &str, message: impl Into<String>) -> RouteError {
        RouteError {
            route: route.to_owned(),
            message: message.into(),
        }
    }

    /// The route as it was given.
    pub fn route(&self) -> &str {
        &self.route
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route {:?}: {}", self.route, self.message)
    }
}

impl std::error::Error for RouteError {}

/// The target a request is routed to, and where it is mounted.
#[derive(Debug)]
pub struct Match<'a, T> {
    /// The route's target.
    pub target: &'a T,
    /// The matched prefix: the request's `SCRIPT_NAME` (`b""` for the root).
    /// `PATH_INFO` is the rest of the path, `&path[script_name.len()..]`.
    pub script_name: &'a [u8],
    /// The label the route was added with (the application's name),
    /// shared so that a request's access record can keep it without a copy.
    pub label: &'a Arc<str>,
}

impl<T> Clone for Match<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Match<'_, T> {}

/// One added route.
struct Entry<T> {
    target: T,
    label: Arc<str>,
    /// The normalised host: `""` for the default host, `*.example.org` for
    /// a wildcard.
    host: String,
    /// The normalised prefix: `""` for the root, otherwise `/a/b`.
    prefix: Box<[u8]>,
}

/// Collects routes, checking each, and compiles them into a [`RouteTable`].
pub struct RouteTableBuilder<T> {
    entries: Vec<Entry<T>>,
    /// (host, prefix) to index in `entries`, to refuse duplicates.
    seen: HashMap<(String, Box<[u8]>), usize>,
}

impl<T> Default for RouteTableBuilder<T> {
    fn default() -> Self {
        RouteTableBuilder {
            entries: Vec::new(),
            seen: HashMap::new(),
        }
    }
}

impl<T> RouteTableBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `route` (`"[host]/prefix"`), leading to `target`. `label` names
    /// the target in messages (for example the application's name). Fails
    /// if the route is malformed, or if an earlier route has the same host
    /// and prefix once normalised (the error names both labels).
    pub fn add(&mut self, route: &str, label: &str, target: T) -> Result<(), RouteError> {
        let (host, prefix) = parse_route(route)?;
        let key = (host, prefix);
        if let Some(&earlier) = self.seen.get(&key) {
            let earlier = &self.entries[earlier];
            let normal = display_route(&earlier.host, &earlier.prefix);
            let message = if *earlier.label == *label {
                format!("{normal:?} is listed twice for {label:?}; remove one")
            } else {
                format!(
                    "{normal:?} is routed twice, to {:?} and to {label:?}; \
                     give one of them another prefix or host",
                    earlier.label,
                )
            };
            return Err(RouteError::new(route, message));
        }
        let (host, prefix) = key;
        self.seen
            .insert((host.clone(), prefix.clone()), self.entries.len());
        self.entries.push(Entry {
            target,
            label: Arc::from(label),
            host,
            prefix,
        });
        Ok(())
    }

    /// Compiles the routes into hash maps for lookup.
    pub fn build(self) -> RouteTable<T> {
        let hasher = FastState::new();
        let mut table = RouteTable {
            default: HostRoutes::new(&hasher),
            exact: HashMap::with_hasher(hasher.clone()),
            exact_lens: LengthSet::default(),
            wildcard: HashMap::with_hasher(hasher.clone()),
            wildcard_lens: LengthSet::default(),
            entries: Vec::new(),
        };
        for (index, entry) in self.entries.iter().enumerate() {
            let routes = if entry.host.is_empty() {
                &mut table.default
            } else if let Some(suffix) = entry.host.strip_prefix("*.") {
                table.wildcard_lens.insert(suffix.len());
                table
                    .wildcard
                    .entry(suffix.as_bytes().into())
                    .or_insert_with(|| HostRoutes::new(&hasher))
            } else {
                table.exact_lens.insert(entry.host.len());
                table
                    .exact
                    .entry(entry.host.as_bytes().into())
                    .or_insert_with(|| HostRoutes::new(&hasher))
            };
            routes.insert(&entry.prefix, index);
        }
        table.entries = self.entries;
        table
    }
}

/// A set of lengths (of prefixes or host names) that occur in a map: a
/// candidate of another length is skipped without being hashed. It also
/// bounds how much of a path or host a lookup has to scan.
#[derive(Default)]
struct LengthSet {
    bits: Vec<u64>,
}

impl LengthSet {
    fn insert(&mut self, len: usize) {
        let word = len / 64;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (len % 64);
    }

    fn contains(&self, len: usize) -> bool {
        self.bits
            .get(len / 64)
            .is_some_and(|word| word & (1 << (len % 64)) != 0)
    }

    /// An upper bound for the longest length in the set.
    fn bound(&self) -> usize {
        self.bits.len() * 64
    }
}

/// The routes of one host level (an exact host, a wildcard, or the default
/// host).
struct HostRoutes {
    /// The target of the root prefix, if routed.
    root: Option<usize>,
    /// Every other prefix (`/a/b`) to its index in `RouteTable::entries`.
    prefixes: HashMap<Box<[u8]>, usize, FastState>,
    /// The lengths of the prefixes.
    lens: LengthSet,
}

impl HostRoutes {
    fn new(hasher: &FastState) -> HostRoutes {
        HostRoutes {
            root: None,
            prefixes: HashMap::with_hasher(hasher.clone()),
            lens: LengthSet::default(),
        }
    }

    fn insert(&mut self, prefix: &[u8], index: usize) {
        if prefix.is_empty() {
            self.root = Some(index);
        } else {
            self.lens.insert(prefix.len());
            self.prefixes.insert(prefix.into(), index);
        }
    }

    /// The longest routed prefix of `path`.
    fn find(&self, path: &[u8]) -> Option<usize> {
        if self.prefixes.is_empty() {
            return self.root;
        }
        // The whole path. (A prefix never ends in '/', so a path that does
        // can only match further down.)
        if self.lens.contains(path.len())
            && path.last() != Some(&b'/')
            && let Some(&index) = self.prefixes.get(path)
        {
            return Some(index);
        }
        // Then the path up to each '/', longest first, among the lengths a
        // prefix has: only the first `bound` bytes need scanning. The part
        // before the first '/' is left to the root.
        let mut end = path.len().min(self.lens.bound());
        while let Some(slash) = path[..end].iter().rposition(|&b| b == b'/') {
            if slash == 0 {
                break;
            }
            if self.lens.contains(slash)
                && let Some(&index) = self.prefixes.get(&path[..slash])
            {
                return Some(index);
            }
            end = slash;
        }
        self.root
    }
}

/// Routes compiled for lookup. Built by [`RouteTableBuilder`].
pub struct RouteTable<T> {
    /// Routes without a host.
    default: HostRoutes,
    /// Exact hosts (lowercase, no trailing dot).
    exact: HashMap<Box<[u8]>, HostRoutes, FastState>,
    /// The lengths of the exact hosts.
    exact_lens: LengthSet,
    /// Wildcard hosts, by the suffix after `*.` (`example.org`).
    wildcard: HashMap<Box<[u8]>, HostRoutes, FastState>,
    /// The lengths of the wildcards' suffixes.
    wildcard_lens: LengthSet,
    /// Every route, in the order added.
    entries: Vec<Entry<T>>,
}

impl<T> RouteTable<T> {
    /// Finds the route for a request. `host` is the `Host` header value or
    /// the absolute-form target's authority, as sent (a port is ignored);
    /// `None` or an empty host leaves only the default host's routes. `path`
    /// is the raw request path, without the query. `None`: no route matches
    /// (a 404).
    pub fn lookup(&self, host: Option<&str>, path: &[u8]) -> Option<Match<'_, T>> {
        let mut index = None;
        if !self.exact.is_empty() || !self.wildcard.is_empty() {
            let mut buf = [0u8; MAX_HOST_LEN];
            if let Some(host) = host.and_then(|host| normalize_request_host(host, &mut buf)) {
                index = self.find_virtual(host, path);
            }
        }
        let index = index.or_else(|| self.default.find(path))?;
        let entry = &self.entries[index];
        Some(Match {
            target: &entry.target,
            script_name: &entry.prefix,
            label: &entry.label,
        })
    }

    /// The exact host, then the wildcards from the longest.
    fn find_virtual(&self, host: &[u8], path: &[u8]) -> Option<usize> {
        if self.exact_lens.contains(host.len())
            && let Some(routes) = self.exact.get(host)
            && let Some(index) = routes.find(path)
        {
            return Some(index);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        // The suffixes after each '.', longest first, among the lengths a
        // wildcard has: only the last `bound` bytes need scanning.
        let mut start = host.len().saturating_sub(self.wildcard_lens.bound() + 1);
        while let Some(dot) = host[start..].iter().position(|&b| b == b'.') {
            let rest = &host[start + dot + 1..];
            if self.wildcard_lens.contains(rest.len())
                && let Some(routes) = self.wildcard.get(rest)
                && let Some(index) = routes.find(path)
            {
                return Some(index);
            }
            start += dot + 1;
        }
        None
    }

    /// Every route, normalised (`"*.example.org/api"`, `"/"`), with its
    /// label, sorted by host (the default host first) and then prefix: for
    /// `wasm-gateway check` to print.
    pub fn routes(&self) -> Vec<(String, &str)> {
        let mut entries: Vec<&Entry<T>> = self.entries.iter().collect();
        entries.sort_by(|a, b| (&a.host, &a.prefix).cmp(&(&b.host, &b.prefix)));
        entries
            .into_iter()
            .map(|entry| (display_route(&entry.host, &entry.prefix), &*entry.label))
            .collect()
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no routes (every lookup fails).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T> fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.routes()).finish()
    }
}

/// A normalised route as text: host, then the prefix (`/` for the root).
fn display_route(host: &str, prefix: &[u8]) -> String {
    let prefix = if prefix.is_empty() {
        "/"
    } else {
        // Prefixes are checked to be ASCII.
        std::str::from_utf8(prefix).unwrap_or("?")
    };
    format!("{host}{prefix}")
}

/// Splits and normalises a route: (host, `""` for the default; prefix,
/// `""` for the root).
fn parse_route(route: &str) -> Result<(String, Box<[u8]>), RouteError> {
    let err = |message: String| RouteError::new(route, message);
    if route.is_empty() {
        return Err(err("a route cannot be empty: write \"/\" for every path, \
             or \"[host]/prefix\""
            .into()));
    }
    let slash = route.find('/');
    if let Some(scheme) = route.find("://")
        && slash == Some(scheme + 1)
    {
        return Err(err(format!(
            "a route is \"[host]/prefix\", not a URL: remove \"{}\"",
            &route[..scheme + 3]
        )));
    }
    let Some(slash) = slash else {
        return Err(err(format!(
            "a route is \"[host]/prefix\" and has no '/': write \"{route}/\" \
             for every path of the host {route:?}, or \"/{route}\" for a path \
             on the default host"
        )));
    };
    let (host, prefix) = route.split_at(slash);
    let host = normalize_route_host(host).map_err(err)?;
    let prefix = normalize_prefix(prefix).map_err(err)?;
    Ok((host, prefix.as_bytes().into()))
}

/// Lowercases and checks a route's host (`""`: the default host).
fn normalize_route_host(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Ok(String::new());
    }
    let host = host.to_ascii_lowercase();
    if !host.is_ascii() {
        return Err(format!(
            "the host {host:?} is not ASCII: write an internationalised name \
             in its \"xn--\" form"
        ));
    }
    if let Some(literal) = host.strip_prefix('[') {
        // An IPv6 address literal, as it appears in a Host header.
        let Some((address, port)) = literal.split_once(']') else {
            return Err(format!(
                "the host {host:?} lacks its closing ']': write an IPv6 \
                 address as \"[::1]\""
            ));
        };
        if !port.is_empty() {
            return Err(port_error(&host, port.trim_start_matches(':')));
        }
        if address.is_empty()
            || !address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(format!(
                "the host {host:?} is not an IPv6 address: write it as \"[::1]\""
            ));
        }
        return Ok(host);
    }
    if let Some((name, port)) = host.split_once(':') {
        return Err(port_error(name, port));
    }
    let name = host.strip_suffix('.').unwrap_or(&host);
    let (wildcard, domain) = match name.strip_prefix("*.") {
        Some(domain) => (true, domain),
        None => (false, name),
    };
    if domain.contains('*') || name == "*" {
        return Err(format!(
            "the host {host:?} has a '*' that is not a leading \"*.\" label: \
             write \"*.example.com\" for every subdomain of example.com, or \
             leave the host out for every other host"
        ));
    }
    if domain.is_empty() {
        return Err(format!("the host {host:?} has no name"));
    }
    if name.len() > MAX_HOST_LEN {
        return Err(format!(
            "the host {host:?} is longer than {MAX_HOST_LEN} characters, \
             which DNS does not allow"
        ));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(format!(
                "the host {host:?} has an empty label (\"..\" or a leading \
                 '.'): write names as \"blog.example.com\""
            ));
        }
        if label.len() > 63 {
            return Err(format!(
                "the host {host:?} has a label longer than 63 characters, \
                 which DNS does not allow"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "the host {host:?} contains {bad:?}: host names are letters, \
                 digits, '-', '_' and '.'"
            ));
        }
    }
    let mut normal = String::with_capacity(name.len());
    if wildcard {
        normal.push_str("*.");
    }
    normal.push_str(domain);
    Ok(normal)
}

fn port_error(host: &str, port: &str) -> String {
    format!(
        "routes match host names only and the port is ignored: remove \
         \":{port}\" from {host:?}"
    )
}

/// Normalises and checks a prefix (starting with '/'): `""` for the root,
/// otherwise `/a/b` with no trailing '/'.
fn normalize_prefix(prefix: &str) -> Result<&str, String> {
    debug_assert!(prefix.starts_with('/'));
    if let Some(bad) = prefix.chars().find(|&c| !c.is_ascii_graphic()) {
        return Err(format!(
            "the prefix contains {bad:?}: a request path as sent is visible \
             ASCII only (others arrive percent-encoded, and prefixes match \
             the raw path)"
        ));
    }
    if prefix.contains('%') {
        return Err(
            "the prefix contains '%': prefixes match the raw request path, \
             before percent-decoding, so write the characters themselves"
                .into(),
        );
    }
    if let Some(bad) = prefix.chars().find(|&c| c == '?' || c == '#') {
        return Err(format!(
            "the prefix contains {bad:?}: a prefix matches the path only, \
             never the query or a fragment; remove what starts at {bad:?}"
        ));
    }
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if prefix.contains("//") || prefix.ends_with('/') {
        return Err(
            "the prefix contains \"//\" (an empty segment): write it with \
             single slashes, e.g. \"/a/b\""
                .into(),
        );
    }
    if prefix
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(
            "the prefix has a \".\" or \"..\" segment: write the path it \
             stands for, e.g. \"/a\" instead of \"/a/b/..\""
                .into(),
        );
    }
    Ok(prefix)
}

/// The request's host name, lowercase into `buf`: port, `user@` and one
/// trailing dot removed. `None` if empty or longer than DNS allows (then no
/// virtual host can match).
fn normalize_request_host<'a>(host: &'a str, buf: &'a mut [u8; MAX_HOST_LEN]) -> Option<&'a [u8]> {
    let (name, _port) = crate::http::syntax::split_host_port(host)?;
    let name = name.as_bytes();
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > MAX_HOST_LEN {
        return None;
    }
    if !name.iter().any(u8::is_ascii_uppercase) {
        return Some(name);
    }
    let out = &mut buf[..name.len()];
    out.copy_from_slice(name);
    out.make_ascii_lowercase();
    Some(out)
}

/// A fast hash for the route maps: multiply-and-fold over 8-byte words,
/// seeded at random when a table is built. Keys come from the configuration
/// (lookups cannot add any), so there is no flooding to defend against; the
/// seed only keeps probe patterns from being predictable.
#[derive(Clone)]
struct FastState {
    seed: u64,
}

impl FastState {
    fn new() -> FastState {
        FastState {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher { state: self.seed }
    }
}

struct FastHasher {
    state: u64,
}

const MULTIPLE: u64 = 0x9e37_79b9_7f4a_7c15;

fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, MULTIPLE);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.state, MULTIPLE.rotate_left(32)).rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[&str]) -> RouteTable<String> {
        let mut builder = RouteTableBuilder::new();
        for route in routes {
            builder
                .add(route, route, (*route).to_owned())
                .unwrap_or_else(|err| panic!("{err}"));
        }
        builder.build()
    }

    /// The route chosen for `host` and `path`, and its script name.
    fn at<'a>(
        table: &'a RouteTable<String>,
        host: Option<&str>,
        path: &str,
    ) -> Option<(&'a str, &'a str)> {
        table.lookup(host, path.as_bytes()).map(|m| {
            (
                m.target.as_str(),
                std::str::from_utf8(m.script_name).unwrap(),
            )
        })
    }

    fn route(table: &RouteTable<String>, host: Option<&str>, path: &str) -> Option<String> {
        at(table, host, path).map(|(target, _)| target.to_owned())
    }

    fn error(route: &str) -> String {
        let mut builder = RouteTableBuilder::new();
        match builder.add(route, "app", ()) {
            Ok(()) => panic!("{route:?} was accepted"),
            Err(err) => {
                assert_eq!(err.route(), route);
                let text = err.to_string();
                assert!(text.starts_with(&format!("route {route:?}: ")), "{text}");
                text
            }
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&["/", "/api", "/api/v2", "/api/v2/admin"]);
        assert_eq!(route(&t, None, "/api/v2/admin/x").unwrap(), "/api/v2/admin");
        assert_eq!(route(&t, None, "/api/v2/x").unwrap(), "/api/v2");
        assert_eq!(route(&t, None, "/api/v2").unwrap(), "/api/v2");
        assert_eq!(route(&t, None, "/api/v3").unwrap(), "/api");
        assert_eq!(route(&t, None, "/other").unwrap(), "/");
        // Added in another order: same answers.
        let t = table(&["/api/v2/admin", "/api", "/", "/api/v2"]);
        assert_eq!(route(&t, None, "/api/v2/admin").unwrap(), "/api/v2/admin");
        assert_eq!(route(&t, None, "/api/v2/").unwrap(), "/api/v2");
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let t = table(&["/api"]);
        assert!(route(&t, None, "/api").is_some());
        assert!(route(&t, None, "/api/").is_some());
        assert!(route(&t, None, "/api/x/y").is_some());
        assert!(route(&t, None, "/api//x").is_some());
        assert_eq!(route(&t, None, "/apix"), None);
        assert_eq!(route(&t, None, "/ap"), None);
        assert_eq!(route(&t, None, "/"), None);
        assert_eq!(route(&t, None, ""), None);
        assert_eq!(route(&t, None, "/x/api"), None);
        // The raw path: an escaped '/' is not a segment boundary.
        assert_eq!(route(&t, None, "/api%2Fx"), None);
        // Case-sensitive.
        assert_eq!(route(&t, None, "/API"), None);
    }

    #[test]
    fn root_matches_everything() {
        let t = table(&["/", "/api"]);
        for path in ["/", "", "/apix", "/x/y/z/", "*", "//", "/api%2F"] {
            assert_eq!(at(&t, None, path), Some(("/", "")), "{path:?}");
        }
        assert_eq!(at(&t, None, "/api/x"), Some(("/api", "/api")));
    }

    #[test]
    fn script_name_is_the_normalised_prefix() {
        let t = table(&["/", "/a/b/", "shop.example.com/store", "*.example.com/"]);
        assert_eq!(at(&t, None, "/a/b/c/d"), Some(("/a/b/", "/a/b")));
        assert_eq!(at(&t, None, "/a/b"), Some(("/a/b/", "/a/b")));
        assert_eq!(at(&t, None, "/a"), Some(("/", "")));
        assert_eq!(
            at(&t, Some("shop.example.com"), "/store/item/1"),
            Some(("shop.example.com/store", "/store"))
        );
        assert_eq!(
            at(&t, Some("x.example.com"), "/store/item/1"),
            Some(("*.example.com/", ""))
        );
        // PATH_INFO is the rest.
        let path = b"/a/b/c/d";
        let m = t.lookup(None, path).unwrap();
        assert_eq!(&path[m.script_name.len()..], b"/c/d");
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let t = table(&[
            "/",
            "*.example.com/",
            "*.b.example.com/",
            "a.b.example.com/",
        ]);
        assert_eq!(
            route(&t, Some("a.b.example.com"), "/").unwrap(),
            "a.b.example.com/"
        );
        assert_eq!(
            route(&t, Some("c.b.example.com"), "/").unwrap(),
            "*.b.example.com/"
        );
        assert_eq!(
            route(&t, Some("x.a.b.example.com"), "/").unwrap(),
            "*.b.example.com/"
        );
        assert_eq!(
            route(&t, Some("c.example.com"), "/").unwrap(),
            "*.example.com/"
        );
        assert_eq!(
            route(&t, Some("b.example.com"), "/").unwrap(),
            "*.example.com/"
        );
        assert_eq!(route(&t, Some("example.org"), "/").unwrap(), "/");
        assert_eq!(route(&t, None, "/").unwrap(), "/");
        assert_eq!(route(&t, Some(""), "/").unwrap(), "/");
    }

    #[test]
    fn wildcard_matches_any_depth_but_not_the_bare_domain() {
        let t = table(&["*.example.org/api"]);
        for host in ["a.example.org", "a.b.example.org", "x.y.z.example.org"] {
            assert_eq!(
                route(&t, Some(host), "/api/x").unwrap(),
                "*.example.org/api",
                "{host}"
            );
        }
        assert_eq!(route(&t, Some("example.org"), "/api/x"), None);
        assert_eq!(route(&t, Some("notexample.org"), "/api/x"), None);
        assert_eq!(route(&t, Some("example.org.evil.net"), "/api/x"), None);
        assert_eq!(route(&t, Some("a.example.org"), "/other"), None);
        assert_eq!(route(&t, None, "/api"), None);
    }

    #[test]
    fn host_port_case_and_trailing_dot_are_ignored() {
        let t = table(&["Blog.Example.COM./", "[::1]/v6", "/"]);
        assert_eq!(t.routes()[2].0, "blog.example.com/");
        for host in [
            "blog.example.com",
            "BLOG.example.com",
            "blog.example.com:8080",
            "Blog.Example.Com.:443",
            "blog.example.com.",
            "user@blog.example.com:80",
            "user:secret@blog.example.com",
        ] {
            assert_eq!(
                route(&t, Some(host), "/x").unwrap(),
                "Blog.Example.COM./",
                "{host}"
            );
        }
        assert_eq!(route(&t, Some("[::1]:8000"), "/v6/x").unwrap(), "[::1]/v6");
        assert_eq!(route(&t, Some("[::1]"), "/v6").unwrap(), "[::1]/v6");
        assert_eq!(route(&t, Some("blog.example.com.."), "/x").unwrap(), "/");
        assert_eq!(route(&t, Some("blog.example.co"), "/x").unwrap(), "/");
        // Too long for DNS: only the default host.
        let long = format!("{}.blog.example.com", "a".repeat(250));
        assert_eq!(route(&t, Some(&long), "/x").unwrap(), "/");
    }

    #[test]
    fn falls_back_to_less_specific_hosts() {
        let t = table(&["/", "/about", "api.example.com/v1", "*.example.com/docs"]);
        // The exact host's routes do not cover /about: the default host's do.
        assert_eq!(
            route(&t, Some("api.example.com"), "/about").unwrap(),
            "/about"
        );
        assert_eq!(
            route(&t, Some("api.example.com"), "/v1/x").unwrap(),
            "api.example.com/v1"
        );
        // Exact, then wildcard, then default.
        assert_eq!(
            route(&t, Some("api.example.com"), "/docs").unwrap(),
            "*.example.com/docs"
        );
        assert_eq!(route(&t, Some("api.example.com"), "/v2").unwrap(), "/");
        // Without a default root, nothing.
        let t = table(&["api.example.com/v1"]);
        assert_eq!(route(&t, Some("api.example.com"), "/v2"), None);
        assert_eq!(route(&t, None, "/v1"), None);
        // A host's own root stops the fallback.
        let t = table(&["/about", "api.example.com/"]);
        assert_eq!(
            route(&t, Some("api.example.com"), "/about").unwrap(),
            "api.example.com/"
        );
    }

    #[test]
    fn duplicates_are_refused_naming_both_labels() {
        let mut b = RouteTableBuilder::new();
        b.add("/api", "blog", 1).unwrap();
        b.add("/", "root", 2).unwrap();
        b.add("example.com/api", "other", 3).unwrap();
        let err = b.add("/api/", "shop", 4).unwrap_err().to_string();
        assert!(err.contains("\"/api\""), "{err}");
        assert!(
            err.contains("\"blog\"") && err.contains("\"shop\""),
            "{err}"
        );
        assert!(err.starts_with("route \"/api/\": "), "{err}");
        let err = b
            .add("EXAMPLE.com./api", "shop", 5)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"other\"") && err.contains("\"shop\""),
            "{err}"
        );
        assert!(b.add("/", "again", 6).is_err());
        let err = b.add("/api", "blog", 7).unwrap_err().to_string();
        assert_eq!(
            err,
            "route \"/api\": \"/api\" is listed twice for \"blog\"; remove one"
        );
        // The failed adds left the table as it was.
        let t = b.build();
        assert_eq!(t.len(), 3);
        assert_eq!(*t.lookup(None, b"/api/x").unwrap().target, 1);
    }

    #[test]
    fn invalid_routes_are_refused() {
        let cases = [
            ("", "empty"),
            ("api", "has no '/'"),
            ("example.com", "has no '/'"),
            ("http://example.com/", "not a URL"),
            ("api//v1", "\"//\""),
            ("/api//v1", "\"//\""),
            ("/api//", "\"//\""),
            ("//", "\"//\""),
            ("/./api", "\".\" or \"..\""),
            ("/api/.", "\".\" or \"..\""),
            ("/api/..", "\".\" or \"..\""),
            ("/a/../b", "\".\" or \"..\""),
            ("/a%20b", "'%'"),
            ("/api%2F", "'%'"),
            ("/api?x=1", "'?'"),
            ("/api#top", "'#'"),
            ("/a b", "' '"),
            ("/caf\u{e9}", "visible ASCII"),
            ("/tab\t", "visible ASCII"),
            ("example.com:8080/", "port"),
            ("[::1]:8080/", "port"),
            ("[::1/", "closing"),
            ("[zz]/", "IPv6"),
            ("*/", "'*'"),
            ("*example.com/", "'*'"),
            ("a.*.example.com/", "'*'"),
            ("*.*.example.com/", "'*'"),
            ("*./", "'*'"),
            ("./", "no name"),
            ("*../", "no name"),
            (".example.com/", "empty label"),
            ("a..b/", "empty label"),
            ("exa mple.com/", "' '"),
            ("b\u{fc}cher.de/", "xn--"),
        ];
        for (route, expected) in cases {
            let err = error(route);
            assert!(err.contains(expected), "{route:?}: {err}");
        }
        let long_label = format!("{}.com/", "a".repeat(64));
        assert!(error(&long_label).contains("63"));
        let long_name = format!("{}com/", "abcdefghi.".repeat(26));
        assert!(error(&long_name).contains("253"));
    }

    #[test]
    fn prefixes_are_normalised() {
        let t = table(&["/api/", "/"]);
        assert_eq!(
            t.routes(),
            vec![("/".to_owned(), "/"), ("/api".to_owned(), "/api/")]
        );
        let t = table(&["*.Example.org./api/", "/", "b.example.org/", "/z", "/a"]);
        assert_eq!(
            t.routes(),
            vec![
                ("/".to_owned(), "/"),
                ("/a".to_owned(), "/a"),
                ("/z".to_owned(), "/z"),
                ("*.example.org/api".to_owned(), "*.Example.org./api/"),
                ("b.example.org/".to_owned(), "b.example.org/"),
            ]
        );
        assert_eq!(t.len(), 5);
        assert!(!t.is_empty());
        let empty = RouteTableBuilder::<()>::new().build();
        assert!(empty.is_empty());
        assert!(empty.lookup(Some("x"), b"/").is_none());
    }

    #[test]
    fn ten_thousand_routes() {
        let mut b = RouteTableBuilder::new();
        for i in 0..9_000 {
            b.add(&format!("/tenant{i}/app"), "t", i).unwrap();
        }
        for i in 0..900 {
            b.add(&format!("host{i}.example.com/"), "h", 10_000 + i)
                .unwrap();
        }
        for i in 0..100 {
            b.add(&format!("*.zone{i}.example.net/api"), "w", 20_000 + i)
                .unwrap();
        }
        b.add("/", "root", 99_999).unwrap();
        let t = b.build();
        assert_eq!(t.len(), 10_001);
        for i in (0..9_000).step_by(7) {
            let path = format!("/tenant{i}/app/page/{i}");
            let m = t.lookup(Some("www.example.com"), path.as_bytes()).unwrap();
            assert_eq!(*m.target, i);
            assert_eq!(m.script_name, format!("/tenant{i}/app").as_bytes());
            let path = format!("/tenant{i}/apps");
            assert_eq!(*t.lookup(None, path.as_bytes()).unwrap().target, 99_999);
        }
        for i in 0..900 {
            let host = format!("HOST{i}.example.com:8080");
            assert_eq!(
                *t.lookup(Some(&host), b"/tenant1/app").unwrap().target,
                10_000 + i
            );
        }
        for i in 0..100 {
            let host = format!("a.b.zone{i}.example.net");
            assert_eq!(
                *t.lookup(Some(&host), b"/api/v1").unwrap().target,
                20_000 + i
            );
            // Not under /api: the default host.
            assert_eq!(*t.lookup(Some(&host), b"/tenant5/app").unwrap().target, 5);
            let bare = format!("zone{i}.example.net");
            assert_eq!(*t.lookup(Some(&bare), b"/api/v1").unwrap().target, 99_999);
        }
    }

    #[test]
    fn deep_prefixes() {
        // Deeper than the depth bitmap's 63 distinct bits.
        let deep: String = (0..80).map(|i| format!("/s{i}")).collect();
        let deeper = format!("{deep}/more/and/more");
        let t = table(&[deep.as_str(), "/s0/s1"]);
        assert_eq!(route(&t, None, &deeper).unwrap(), deep);
        assert_eq!(route(&t, None, &deep).unwrap(), deep);
        assert_eq!(route(&t, None, "/s0/s1/s2").unwrap(), "/s0/s1");
        let shallower: String = (0..79).map(|i| format!("/s{i}")).collect();
        assert_eq!(route(&t, None, &shallower).unwrap(), "/s0/s1");
    }

    /// The rules applied by brute force, to check the hash maps against.
    fn naive<'a>(
        routes: &[(&'a str, &'a str)],
        host: Option<&str>,
        path: &str,
    ) -> Option<(&'a str, &'a str)> {
        let host = host.map(|h| {
            let h = h.rsplit_once(':').map_or(h, |(name, _)| name);
            h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
        });
        // Host levels, most specific first: exact, wildcards by length, default.
        let mut levels: Vec<(usize, &str)> = Vec::new();
        for (route_host, _) in routes {
            let rank = if route_host.is_empty() {
                Some(0)
            } else if let Some(suffix) = route_host.strip_prefix("*.") {
                host.as_deref()
                    .filter(|h| h.ends_with(&format!(".{suffix}")))
                    .map(|_| 1 + suffix.len())
            } else {
                (host.as_deref() == Some(route_host)).then_some(usize::MAX)
            };
            if let Some(rank) = rank {
                levels.push((rank, route_host));
            }
        }
        levels.sort_by(|a, b| b.cmp(a));
        levels.dedup();
        levels.into_iter().find_map(|(_, level)| {
            routes
                .iter()
                .filter(|(h, p)| {
                    *h == level
                        && (p.is_empty()
                            || path == *p
                            || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
                })
                .max_by_key(|(_, p)| p.len())
                .copied()
        })
    }

    #[test]
    fn agrees_with_brute_force() {
        // (host, normalised prefix) pairs, generated arithmetically.
        let hosts = [
            "",
            "a.example.com",
            "*.example.com",
            "*.b.example.com",
            "b.example.com",
            "*.com",
        ];
        let segments = ["x", "y", "xy", "x.y", "-"];
        let mut routes: Vec<(String, String)> = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            for k in 0..12 {
                if (k + i) % 3 == 0 {
                    continue;
                }
                let depth = k % 4;
                let prefix: String = (0..depth)
                    .map(|d| format!("/{}", segments[(k * 7 + d * 3 + i) % segments.len()]))
                    .collect();
                if !routes.iter().any(|(h, p)| h == host && *p == prefix) {
                    routes.push((host.to_string(), prefix));
                }
            }
        }
        let routes: Vec<(&str, &str)> = routes
            .iter()
            .map(|(h, p)| (h.as_str(), p.as_str()))
            .collect();
        let mut builder = RouteTableBuilder::new();
        for (host, prefix) in &routes {
            let route = format!("{host}{prefix}/");
            builder
                .add(&route, &route, (host.to_string(), prefix.to_string()))
                .unwrap();
        }
        let table = builder.build();
        let request_hosts = [
            None,
            Some("a.example.com"),
            Some("A.Example.com:80"),
            Some("c.a.example.com"),
            Some("b.example.com."),
            Some("c.b.example.com"),
            Some("example.com"),
            Some("other.org"),
            Some("x.com"),
        ];
        let mut checked = 0;
        for host in request_hosts {
            for n in 0..200 {
                let depth = n % 6;
                let mut path: String = (0..depth)
                    .map(|d| format!("/{}", segments[(n * 5 + d * 7) % segments.len()]))
                    .collect();
                if n % 7 == 0 {
                    path.push('/');
                }
                let expected = naive(&routes, host, &path);
                let found = table.lookup(host, path.as_bytes()).map(|m| {
                    assert_eq!(m.script_name, m.target.1.as_bytes());
                    (m.target.0.as_str(), m.target.1.as_str())
                });
                assert_eq!(found, expected, "{host:?} {path:?}");
                checked += usize::from(found.is_some());
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn hasher_tells_keys_apart() {
        let state = FastState::new();
        let keys: [&[u8]; 6] = [
            b"",
            b"a",
            b"a\0",
            b"/tenant1/app",
            b"/tenant1/apq",
            b"/tenant10/app",
        ];
        let hashes: Vec<u64> = keys.iter().map(|k| state.hash_one(k)).collect();
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                assert_ne!(hashes[i], hashes[j], "{:?} {:?}", keys[i], keys[j]);
            }
        }
        assert_eq!(
            state.hash_one(b"/x".as_slice()),
            state.hash_one(Box::<[u8]>::from(&b"/x"[..]))
        );
    }
}
