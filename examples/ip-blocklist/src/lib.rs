//! `ip-blocklist`: refuses clients by address, as seed 004's
//! `IPBlacklistMiddleware` meant to, done right.
//!
//! The client is `REMOTE_ADDR`, the peer the server saw, not the `Host`
//! header (which the client writes, and which names the server anyway).
//! `BLOCKLIST` (an environ variable the operator sets in the middleware's
//! `env`) lists IPv4 and IPv6 addresses and CIDR ranges, comma-separated:
//! `"10.0.0.0/8, 192.168.1.7, 2001:db8::/32"`. An IPv4 client reaching an
//! IPv6 socket (`::ffff:10.1.2.3`) is matched as IPv4. A blocked client gets
//! `403 Forbidden`; everyone else passes to the next layer untouched.
//!
//! A list that does not parse blocks everyone (500) and says which entry is
//! wrong in the log: a typo must not silently let a blocked range through.

use std::net::IpAddr;
use wasm_gateway_middleware::{Environ, Error, Next, Response, log};

wasm_gateway_middleware::middleware!(handle);

fn handle(env: Environ, next: Next) -> Result<Response, Error> {
    let ranges = match parse_list(env.var("BLOCKLIST").unwrap_or("")) {
        Ok(ranges) => ranges,
        Err(message) => {
            log(format!(
                "ip-blocklist: {message}; refusing every request until it is fixed"
            ));
            return Err(Error::msg(message));
        }
    };
    let client: Option<IpAddr> = env.remote_addr().parse().ok();
    match client {
        Some(ip) if ranges.iter().any(|range| range.contains(ip)) => Ok(Response::new(403)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body("Forbidden")),
        _ => next.call(env),
    }
}

/// An address range: an address and the number of leading bits that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    network: IpAddr,
    prefix: u32,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn masked(bits: u128, prefix: u32, width: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

/// Parses `"10.0.0.0/8, 192.168.1.7"`; the error names the bad entry.
fn parse_list(list: &str) -> Result<Vec<Range>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            parse_range(entry).ok_or_else(|| {
                format!("BLOCKLIST entry {entry:?} is not an IP address or CIDR range")
            })
        })
        .collect()
}

fn parse_range(entry: &str) -> Option<Range> {
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (entry, None),
    };
    let network: IpAddr = address.parse().ok()?;
    let network = network.to_canonical();
    let width = if network.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) && !prefix.is_empty() => {
            prefix.parse().ok().filter(|&p| p <= width)?
        }
        Some(_) => return None,
        None => width,
    };
    Some(Range { network, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(list: &str, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().unwrap();
        parse_list(list).unwrap().iter().any(|r| r.contains(ip))
    }

    #[test]
    fn matches_addresses_and_ranges() {
        let list = "10.0.0.0/8, 192.168.1.7, 2001:db8::/32";
        assert!(blocked(list, "10.200.3.4"));
        assert!(!blocked(list, "11.0.0.1"));
        assert!(blocked(list, "192.168.1.7"));
        assert!(!blocked(list, "192.168.1.8"));
        assert!(blocked(list, "2001:db8:1::5"));
        assert!(!blocked(list, "2001:db9::5"));
        assert!(blocked(list, "::ffff:10.1.2.3"), "IPv4-mapped IPv6");
        assert!(blocked("0.0.0.0/0", "8.8.8.8"));
        assert!(!blocked("0.0.0.0/0", "::1"));
        assert!(!blocked("", "10.0.0.1"));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "host.example",
            "10.0.0.0/",
            "::1/129",
            "1.2.3.4/-1",
        ] {
            let err = parse_list(&format!("10.0.0.1, {bad}")).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
