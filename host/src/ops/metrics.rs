//! `GET /metrics`: the counters of [`crate::stats`] in the OpenMetrics text
//! format (which Prometheus scrapes), through `prometheus-client`.
//!
//! One registry per server, holding one collector that reads the counters
//! at each scrape: nothing is copied on the request path, the app label
//! comes from the configuration (never from a request), and the entries
//! reported are those of the gateway served now.

use super::Ops;
use crate::gateway::Target;
use crate::stats::{
    AppStats, Failure, KV_LIMITS, KvResult, LATENCY_BUCKETS, OutboundResult, Rejection,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// A registry reporting `ops`'s counters.
pub fn registry(ops: Arc<Ops>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Gateway(ops)));
    registry
}

#[derive(Debug)]
struct Gateway(Arc<Ops>);

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").finish_non_exhaustive()
    }
}

type Labels<'a> = Vec<(&'static str, Value<'a>)>;

/// A label value, escaped as the text format requires (`\\`, `\"`, `\n`):
/// names come from the configuration, and the one-app form takes a file
/// name, which may hold anything.
#[derive(Debug, Clone, Copy)]
struct Value<'a>(&'a str);

impl prometheus_client::encoding::EncodeLabelValue for Value<'_> {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}
impl Collector for Gateway {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let ops = &self.0;
        let gateway = ops.live.load();
        // Every app and document root once (middleware count their
        // failures and rejections too).
        let apps: Vec<(&str, &Arc<AppStats>)> = gateway
            .entries()
            .iter()
            .map(|entry| (&*entry.name, entry.target.stats()))
            .collect();

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_http_requests",
            "Responses sent, by app and status code.",
            None,
            MetricType::Counter,
        )?;
        for (app, stats) in &apps {
            for (code, n) in stats.statuses() {
                let code = code.to_string();
                let labels: Labels = vec![("app", Value(app)), ("code", Value(&code))];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by app.",
            None,
            MetricType::Histogram,
        )?;
        for (app, stats) in &apps {
            let latency = stats.latency();
            // Per bucket; the encoder sums them into `le` buckets.
            let buckets: Vec<(f64, u64)> = latency
                .buckets
                .iter()
                .enumerate()
                .map(|(i, &n)| (LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::MAX), n))
                .collect();
            let labels: Labels = vec![("app", Value(app))];
            family.encode_family(&labels)?.encode_histogram::<Labels>(
                latency.sum_seconds,
                latency.count,
                &buckets,
                None,
            )?;
        }

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_http_requests_in_flight",
            "Requests being served now, by app.",
            None,
            MetricType::Gauge,
        )?;
        for (app, stats) in &apps {
            let labels: Labels = vec![("app", Value(app))];
            ConstGauge::new(stats.in_flight()).encode(family.encode_family(&labels)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_requests_rejected",
            "Requests turned away through no fault of the app, by app and reason.",
            None,
            MetricType::Counter,
        )?;
        for (app, stats) in &apps {
            for why in Rejection::ALL {
                let labels: Labels = vec![("app", Value(app)), ("reason", Value(why.name()))];
                ConstCounter::new(stats.rejected(why)).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_guest_failures",
            "Requests the guest failed, by app and kind.",
            None,
            MetricType::Counter,
        )?;
        for (app, stats) in &apps {
            for how in Failure::ALL {
                let labels: Labels = vec![("app", Value(app)), ("kind", Value(how.name()))];
                ConstCounter::new(stats.failures(how)).encode(family.encode_family(&labels)?)?;
            }
        }

        outbound_requests(&mut encoder, &apps)?;
        kv_calls(&mut encoder, &apps)?;

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_app_log_lines_dropped",
            "Application log lines dropped by the app's log rate limit.",
            None,
            MetricType::Counter,
        )?;
        for entry in gateway.entries() {
            if let Target::App(layers) = &entry.target {
                let dropped = layers[layers.len() - 1].sandbox.log_budget.dropped_total();
                let labels: Labels = vec![("app", Value(&entry.name))];
                ConstCounter::new(dropped).encode(family.encode_family(&labels)?)?;
            }
        }

        let gauge = |encoder: &mut DescriptorEncoder<'_>, name, help, value: i64| {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)
        };
        gauge(
            &mut encoder,
            "wasm_gateway_instances_live",
            "WebAssembly instances alive now, all apps together.",
            ops.runtime.instances_live(),
        )?;
        gauge(
            &mut encoder,
            "wasm_gateway_connections_open",
            "Client connections open now.",
            ops.server.connections_open(),
        )?;
        gauge(
            &mut encoder,
            "wasm_gateway_ready",
            "1 while the server takes new work (what /readyz says).",
            i64::from(ops.ready()),
        )?;

        let (hits, misses, errors) = ops.runtime.compiles();
        let mut family = encoder.encode_descriptor(
            "wasm_gateway_compile_cache",
            "Components compiled, by result: machine code from the compile cache (hit), compiled (miss), or failed (error).",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in [("hit", hits), ("miss", misses), ("error", errors)] {
            let labels: Labels = vec![("result", Value(result))];
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_config_reloads",
            "Reloads of the configuration, by result.",
            None,
            MetricType::Counter,
        )?;
        let reloads = [
            (
                "ok",
                ops.reloader.ok.load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "error",
                ops.reloader
                    .failed
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        ];
        for (result, n) in reloads {
            let labels: Labels = vec![("result", Value(result))];
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "wasm_gateway_build_info",
            "The running version (always 1).",
            None,
            MetricType::Gauge,
        )?;
        let labels: Labels = vec![("version", Value(env!("CARGO_PKG_VERSION")))];
        ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;

        let uptime = ops.uptime().as_secs_f64();
        ConstGauge::new(uptime).encode(encoder.encode_descriptor(
            "wasm_gateway_uptime_seconds",
            "Seconds since the server started.",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

/// `wasm_gateway_outbound_requests_total{app, result}`: the guests'
/// outbound HTTP calls.
fn outbound_requests(
    encoder: &mut DescriptorEncoder<'_>,
    apps: &[(&str, &Arc<AppStats>)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        "wasm_gateway_outbound_requests",
        "Outbound HTTP calls of the app's guests, by result: sent (a response came back), denied (by the allow-list or the address filter), failed.",
        None,
        MetricType::Counter,
    )?;
    for (app, stats) in apps {
        for result in OutboundResult::ALL {
            let labels: Labels = vec![("app", Value(app)), ("result", Value(result.name()))];
            ConstCounter::new(stats.outbound.calls(result))
                .encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// `wasm_gateway_kv_calls_total{app, result}` and
/// `wasm_gateway_kv_quota_refusals_total{app, limit}`: the guests'
/// key-value calls, and the writes their quota refused.
fn kv_calls(
    encoder: &mut DescriptorEncoder<'_>,
    apps: &[(&str, &Arc<AppStats>)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        "wasm_gateway_kv_calls",
        "Key-value calls of the app's guests, by result: ok, denied (a store not granted), over_quota, invalid (not a counter, too large a batch), failed (the store failed or the deadline passed).",
        None,
        MetricType::Counter,
    )?;
    for (app, stats) in apps {
        for result in KvResult::ALL {
            let labels: Labels = vec![("app", Value(app)), ("result", Value(result.name()))];
            ConstCounter::new(stats.kv.calls(result)).encode(family.encode_family(&labels)?)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "wasm_gateway_kv_quota_refusals",
        "Key-value writes the app's quota refused, by limit.",
        None,
        MetricType::Counter,
    )?;
    for (app, stats) in apps {
        for limit in KV_LIMITS {
            let labels: Labels = vec![("app", Value(app)), ("limit", Value(limit))];
            ConstCounter::new(stats.kv.refusals(limit)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collector of the outbound family alone, over fixed counters.
    #[derive(Debug)]
    struct Outbound(Vec<(&'static str, Arc<AppStats>)>);

    impl Collector for Outbound {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            let apps: Vec<(&str, &Arc<AppStats>)> =
                self.0.iter().map(|(name, stats)| (*name, stats)).collect();
            outbound_requests(&mut encoder, &apps)
        }
    }

    #[test]
    fn outbound_calls_are_exported_by_app_and_result() {
        let api = Arc::new(AppStats::default());
        api.outbound.count(OutboundResult::Sent);
        api.outbound.count(OutboundResult::Denied);
        api.outbound.count(OutboundResult::Denied);
        let quiet = Arc::new(AppStats::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Outbound(vec![("api", api), ("quiet", quiet)])));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "# TYPE wasm_gateway_outbound_requests counter",
            r#"wasm_gateway_outbound_requests_total{app="api",result="sent"} 1"#,
            r#"wasm_gateway_outbound_requests_total{app="api",result="denied"} 2"#,
            r#"wasm_gateway_outbound_requests_total{app="api",result="failed"} 0"#,
            r#"wasm_gateway_outbound_requests_total{app="quiet",result="sent"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }

    /// A collector of the key-value families alone, over fixed counters.
    #[derive(Debug)]
    struct Kv(Vec<(&'static str, Arc<AppStats>)>);

    impl Collector for Kv {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            let apps: Vec<(&str, &Arc<AppStats>)> =
                self.0.iter().map(|(name, stats)| (*name, stats)).collect();
            kv_calls(&mut encoder, &apps)
        }
    }

    #[test]
    fn kv_calls_and_quota_refusals_are_exported_by_app() {
        let shop = Arc::new(AppStats::default());
        shop.kv.count(KvResult::Ok);
        shop.kv.count(KvResult::OverQuota);
        shop.kv.refused("kv-keys");
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Kv(vec![("shop", shop)])));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"wasm_gateway_kv_calls_total{app="shop",result="ok"} 1"#,
            r#"wasm_gateway_kv_calls_total{app="shop",result="over_quota"} 1"#,
            r#"wasm_gateway_kv_calls_total{app="shop",result="denied"} 0"#,
            r#"wasm_gateway_kv_quota_refusals_total{app="shop",limit="kv-keys"} 1"#,
            r#"wasm_gateway_kv_quota_refusals_total{app="shop",limit="kv-value-size"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }
}
