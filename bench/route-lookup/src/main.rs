//! Route lookup benchmark: the cost of `RouteTable::lookup` with 1 route and
//! with 10,000, on the same kind of request mix.
//!
//! ```sh
//! cargo run --release -p route-lookup            # 5 million lookups per run
//! cargo run --release -p route-lookup -- 20      # 20 million
//! ```
//!
//! Each table is timed over 5 runs (after one warm-up run) and the median is
//! reported, in nanoseconds per lookup, as a Markdown table. Everything is
//! generated arithmetically, so every run does the same work (only the
//! route table's random hash seed differs).
//!
//! The tables:
//! - 1 route: `/tenant0/app` on the default host;
//! - 100, 1,000 and 10,000 routes, mixed: 90% path prefixes `/tenantN/app`
//!   on the default host, 10% virtual hosts (nine in ten
//!   `siteN.example.com/`, one in ten `*.zoneN.example.net/`).
//!
//! The request mix, per eight requests: a prefix hit with no `Host`, a deep
//! hit with a `Host` that has no routes of its own, a deeper hit with a
//! mixed-case `Host` and port, two virtual host hits (one mixed-case with a
//! port), a wildcard hit, and two misses (`/tenantN/apps`, an unknown path).
//! On the 1-route table the same shapes mostly miss: it has no virtual
//! hosts, so it never even looks at the `Host`, and does less work per
//! lookup than the mixed tables. The mixed tables do the same work per
//! lookup whatever their size; what differs between them is how much of
//! the table the CPU caches hold.

use std::hint::black_box;
use std::time::{Duration, Instant};
use wasm_gateway::{RouteTable, RouteTableBuilder};

/// Distinct requests in a mix; lookups cycle through them.
const MIX: usize = 4096;
/// Timed runs per table; the median is reported.
const RUNS: usize = 5;

struct Table {
    name: String,
    table: RouteTable<u32>,
    requests: Vec<(Option<String>, Vec<u8>)>,
}

/// `prefixes` path prefixes on the default host and `hosts` virtual hosts.
fn build(prefixes: usize, hosts: usize) -> RouteTable<u32> {
    let mut builder = RouteTableBuilder::new();
    let mut target = 0;
    let mut add = |route: String| {
        builder
            .add(&route, "bench", target)
            .unwrap_or_else(|err| panic!("{err}"));
        target += 1;
    };
    for i in 0..prefixes {
        add(format!("/tenant{i}/app"));
    }
    for j in 0..hosts {
        if j % 10 == 9 {
            add(format!("*.zone{j}.example.net/"));
        } else {
            add(format!("site{j}.example.com/"));
        }
    }
    builder.build()
}

/// The request mix for a table built by `build(prefixes, hosts)`.
fn requests(prefixes: usize, hosts: usize) -> Vec<(Option<String>, Vec<u8>)> {
    (0..MIX)
        .map(|k| {
            let i = (k * 7919) % prefixes.max(1);
            // A virtual host index; j9 is one of the wildcards.
            let j = (k * 104_729) % hosts.max(10);
            let j = j - j % 10;
            let j9 = j + 9;
            let (host, path) = match k % 8 {
                0 => (None, format!("/tenant{i}/app")),
                1 => (
                    Some("www.example.org".to_owned()),
                    format!("/tenant{i}/app/static/css/site.css"),
                ),
                2 => (
                    Some("Example.ORG:8080".to_owned()),
                    format!("/tenant{i}/app/api/v1/items/{k}/comments"),
                ),
                3 => (
                    Some(format!("site{j}.example.com")),
                    format!("/blog/2026/post-{k}"),
                ),
                4 => (Some(format!("SITE{j}.Example.com:443")), "/".to_owned()),
                5 => (
                    Some(format!("u{k}.zone{j9}.example.net")),
                    "/api/x".to_owned(),
                ),
                6 => (None, format!("/tenant{i}/apps")),
                _ => (
                    Some("www.example.org".to_owned()),
                    format!("/nothing/here/{k}"),
                ),
            };
            (host, path.into_bytes())
        })
        .collect()
}

/// Nanoseconds per lookup over `lookups` lookups, and how many matched.
fn run(table: &Table, lookups: usize) -> (f64, usize) {
    let mut hits = 0;
    let start = Instant::now();
    for (host, path) in table.requests.iter().cycle().take(lookups) {
        let found = black_box(&table.table).lookup(black_box(host.as_deref()), black_box(path));
        hits += usize::from(black_box(found).is_some());
    }
    let elapsed: Duration = start.elapsed();
    (elapsed.as_nanos() as f64 / lookups as f64, hits)
}

fn main() {
    let millions: f64 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .unwrap_or_else(|_| panic!("usage: route-lookup [MILLIONS_OF_LOOKUPS], got {arg:?}")),
        None => 5.0,
    };
    let lookups = (millions * 1e6) as usize;

    let tables = [(1, 0), (90, 10), (900, 100), (9_000, 1_000)].map(|(prefixes, hosts)| {
        let table = build(prefixes, hosts);
        Table {
            name: table.len().to_string(),
            table,
            requests: requests(prefixes, hosts),
        }
    });

    // Runs alternate between the tables, so that a change in the machine's
    // load affects them all alike.
    for table in &tables {
        run(table, lookups.min(1_000_000)); // warm-up
    }
    let mut times = vec![Vec::with_capacity(RUNS); tables.len()];
    let mut hits = vec![0; tables.len()];
    for _ in 0..RUNS {
        for (i, table) in tables.iter().enumerate() {
            let (ns, h) = run(table, lookups);
            times[i].push(ns);
            hits[i] = h;
        }
    }

    println!("{lookups} lookups per run, median of {RUNS} runs\n");
    println!("| routes | ns per lookup | ratio to 1 route | hits |");
    println!("|---:|---:|---:|---:|");
    let mut base = None;
    for ((table, times), hits) in tables.iter().zip(&mut times).zip(hits) {
        times.sort_by(f64::total_cmp);
        let median = times[RUNS / 2];
        let base = *base.get_or_insert(median);
        println!(
            "| {} | {median:.1} | {:.2} | {:.0}% |",
            table.name,
            median / base,
            100.0 * hits as f64 / lookups as f64
        );
    }
}
