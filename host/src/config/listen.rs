//! Where the server listens: `--listen` and `[server] listen`.
//!
//! Accepts what operators type elsewhere (nginx's `listen`, gunicorn's
//! `--bind`): an IP address and port, a host name and port resolved at start
//! (`localhost:8000`), or a bare port (`8000`), which listens on the
//! loopback address only, as the default does: exposing a port on every
//! interface is something to ask for (`0.0.0.0:8000`), never a default.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A listen address as written, resolved by [`ListenAddr::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl ListenAddr {
    /// The default, `127.0.0.1:8000`.
    pub const DEFAULT: ListenAddr = ListenAddr {
        host: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port: 8000,
    };

    /// The port as written (0: any free port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address to bind. A host name is looked up now; of its addresses
    /// the first IPv4 one is taken (as gunicorn does), else the first.
    /// This blocks on the resolver: call it at start-up, not on a runtime
    /// thread.
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        match &self.host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            Host::Name(name) => {
                let found: Vec<SocketAddr> = (name.as_str(), self.port)
                    .to_socket_addrs()
                    .map_err(|err| format!("cannot resolve the listen host {name:?}: {err}"))?
                    .collect();
                found
                    .iter()
                    .find(|addr| addr.is_ipv4())
                    .or(found.first())
                    .copied()
                    .ok_or_else(|| format!("the listen host {name:?} has no address"))
            }
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let problem = || {
            format!(
                "{text:?} is not a listen address: use HOST:PORT (127.0.0.1:8000, localhost:8000, [::1]:8000) or a bare PORT (8000, on 127.0.0.1)"
            )
        };
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(addr.into());
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let port = text.parse().map_err(|_| problem())?;
            return Ok(ListenAddr {
                port,
                ..ListenAddr::DEFAULT
            });
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(problem)?;
        let port: u16 = port.parse().map_err(|_| problem())?;
        let name_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        if host.is_empty() || !host.bytes().all(name_char) || host.starts_with(['-', '.']) {
            return Err(problem());
        }
        Ok(ListenAddr {
            host: Host::Name(host.to_ascii_lowercase()),
            port,
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => SocketAddr::new(*ip, self.port).fmt(f),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str) -> Result<SocketAddr, String> {
        text.parse::<ListenAddr>()?.resolve()
    }

    #[test]
    fn addresses_names_and_bare_ports() {
        assert_eq!(
            resolved("127.0.0.1:9000"),
            Ok("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(resolved("[::1]:9000"), Ok("[::1]:9000".parse().unwrap()));
        assert_eq!(resolved("8001"), Ok("127.0.0.1:8001".parse().unwrap()));
        assert_eq!(resolved("0"), Ok("127.0.0.1:0".parse().unwrap()));
        assert_eq!(
            resolved("localhost:8002"),
            Ok("127.0.0.1:8002".parse().unwrap())
        );
        assert_eq!(
            resolved("LocalHost:8002"),
            Ok("127.0.0.1:8002".parse().unwrap())
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        for bad in [
            "",
            "localhost",
            "localhost:",
            ":80",
            "host:99999",
            "a b:80",
            "70000",
            "-x:80",
        ] {
            let err = bad.parse::<ListenAddr>().unwrap_err();
            assert!(err.contains("HOST:PORT"), "{bad:?}: {err}");
        }
        let err = resolved("no-such-host.invalid:80").unwrap_err();
        assert!(err.contains("cannot resolve"), "{err}");
    }
}
