//! `GET /` on the admin listener: one HTML page of what the server serves
//! and how it is going. It needs no JavaScript (it refreshes itself every
//! five seconds with a meta refresh), loads nothing else, and escapes every
//! name and path it shows.

use super::Ops;
use crate::gateway::{Entry, Target};
use crate::stats::{AppStats, Failure, Rejection};
use std::fmt::Write;

/// How often the page reloads itself, in seconds.
const REFRESH_SECONDS: u32 = 5;

/// `text` with HTML's special characters escaped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn millis(seconds: Option<f64>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(s) if s.is_infinite() => "&gt; 60 s".to_owned(),
        Some(s) if s < 1.0 => format!("≤ {} ms", s * 1000.0),
        Some(s) => format!("≤ {s} s"),
    }
}

fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d {:02}h {:02}m {:02}s",
        s / 86400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes >> 20)
}

/// The counters' cells of one entry.
fn counters(stats: &AppStats) -> String {
    let statuses = stats.statuses();
    let total: u64 = statuses.iter().map(|(_, n)| n).sum();
    let errors: u64 = statuses
        .iter()
        .filter(|(code, _)| *code >= 500)
        .map(|(_, n)| n)
        .sum();
    let failures: u64 = Failure::ALL.iter().map(|&f| stats.failures(f)).sum();
    let rejected: u64 = Rejection::ALL.iter().map(|&r| stats.rejected(r)).sum();
    let latency = stats.latency();
    format!(
        "<td class=n>{total}</td><td class=n>{errors}</td><td class=n>{failures}</td><td class=n>{rejected}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td>",
        stats.in_flight(),
        millis(latency.quantile(0.5)),
        millis(latency.quantile(0.99)),
    )
}

/// The settings cell of one entry.
fn settings(entry: &Entry) -> String {
    match &entry.target {
        Target::Static(..) => "document root".to_owned(),
        Target::App(layers) => {
            let c = &layers[layers.len() - 1].config;
            let mut grants = Vec::new();
            if let Some(dirs) = &c.grants.dirs {
                for (guest, host) in dirs {
                    grants.push(format!(
                        "dir {}={}",
                        esc(guest),
                        esc(&host.display().to_string())
                    ));
                }
            }
            if !c.grants.env.is_empty() {
                grants.push(format!("{} env vars", c.grants.env.len()));
            }
            if c.grants.stdout {
                grants.push("stdout".into());
            }
            if c.grants.stderr {
                grants.push("stderr".into());
            }
            for rule in c.grants.outbound_http.rules() {
                grants.push(format!("outbound-http {}", esc(rule.text())));
            }
            // Redis URLs without their passwords.
            for kv in &c.grants.kv {
                grants.push(format!(
                    "kv {} ({})",
                    esc(&kv.name),
                    esc(&kv.store.describe())
                ));
            }
            let grants = if grants.is_empty() {
                "none".to_owned()
            } else {
                grants.join(", ")
            };
            format!(
                "timeout {:?}, memory {}, concurrency {} (+{} queued, {:?}), body {}, fuel {}, reuse {}; grants: {grants}",
                c.timeout,
                mib(c.memory),
                c.concurrency,
                c.queue,
                c.queue_timeout,
                mib(c.max_body as usize),
                c.fuel.map_or("off".to_owned(), |f| f.to_string()),
                c.instance_reuse
                    .map_or("off".to_owned(), |r| format!("{} requests", r.requests)),
            )
        }
    }
}

/// The page.
pub fn page(ops: &Ops) -> String {
    let gateway = ops.live.load();
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wasm-gateway status</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}}
h1{{font-size:1.4em;margin:0 0 .3em}}
table{{border-collapse:collapse;margin:1em 0;width:100%}}
th,td{{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.ok{{color:#070}} .bad{{color:#b00}} code{{font-size:.95em}}
</style></head><body>
<h1>wasm-gateway {version}</h1>
<p>Status: <strong class="{state_class}">{state}</strong> · up {uptime} · {conns} connections open · {instances} instances live · reloads: {reloads_ok} ok, {reloads_failed} failed</p>
<table><thead><tr><th>app</th><th>kind</th><th>routes</th><th>source</th><th>settings</th><th>requests</th><th>5xx</th><th>guest failures</th><th>rejected</th><th>in flight</th><th>p50</th><th>p99</th></tr></thead><tbody>
"#,
        version = env!("CARGO_PKG_VERSION"),
        state_class = if ops.ready() { "ok" } else { "bad" },
        state = if ops.ready() {
            "ready"
        } else {
            "not ready (starting or draining)"
        },
        uptime = duration(ops.uptime()),
        conns = ops.server.connections_open(),
        instances = ops.runtime.instances_live(),
        reloads_ok = ops.reloader.ok.load(std::sync::atomic::Ordering::Relaxed),
        reloads_failed = ops
            .reloader
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    for entry in gateway.entries() {
        let kind = entry.kind();
        let mut routes: Vec<String> = entry
            .routes
            .iter()
            .map(|r| format!("<code>{}</code>", esc(r)))
            .collect();
        if !entry.middleware.is_empty() {
            routes.push(format!("behind {}", esc(&entry.middleware.join(", "))));
        }
        let stats = entry.target.stats();
        let _ = writeln!(
            html,
            "<tr><td><strong>{}</strong></td><td>{kind}</td><td>{}</td><td><code>{}</code></td><td>{}</td>{}</tr>",
            esc(&entry.name),
            routes.join("<br>"),
            esc(&entry.source.display().to_string()),
            settings(entry),
            counters(stats),
        );
    }
    html.push_str("</tbody></table>\n");
    recent_failures(&mut html, gateway.entries());
    html.push_str(
        "<p>Guest failures by kind and rejections by reason are in <a href=\"/metrics\">/metrics</a>; liveness at <a href=\"/healthz\">/healthz</a>, readiness at <a href=\"/readyz\">/readyz</a>. Latencies are bucket bounds.</p>\n</body></html>\n",
    );
    html
}

/// The latest guest failures of every app, newest first.
fn recent_failures(html: &mut String, entries: &[Entry]) {
    let mut all: Vec<(&str, crate::stats::RecentFailure)> = entries
        .iter()
        .flat_map(|entry| {
            entry
                .target
                .stats()
                .recent_failures()
                .into_iter()
                .map(move |failure| (&*entry.name, failure))
        })
        .collect();
    all.sort_by_key(|(_, failure)| std::cmp::Reverse(failure.at));
    all.truncate(20);
    html.push_str("<h2>Recent guest failures</h2>\n");
    if all.is_empty() {
        html.push_str("<p>None.</p>\n");
        return;
    }
    html.push_str("<table><thead><tr><th>time (UTC)</th><th>app</th><th>kind</th><th>message</th></tr></thead><tbody>\n");
    for (app, failure) in all {
        let at = time::OffsetDateTime::from(failure.at);
        let _ = writeln!(
            html,
            "<tr><td>{:04}-{:02}-{:02} {:02}:{:02}:{:02}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            esc(app),
            failure.kind.name(),
            esc(&failure.message),
        );
    }
    html.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
