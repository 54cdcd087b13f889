//! The `outbound-http` grant: which `scheme://host:port` destinations an
//! application may call, in Spin's `allowed_outbound_hosts` syntax (users
//! know it from there).
//!
//! A rule is `scheme://host[:port]`:
//! - scheme: `http`, `https` or `*` (either);
//! - host: a name (`api.example.com`), `*.example.org` (any subdomain, not
//!   the bare domain, as in Spin), `*` (any host), an IP address
//!   (`127.0.0.1`, `[::1]`) or a CIDR range (`10.0.0.0/8`, `[fd00::/8]`);
//! - port: a number, `*` (any), a range (`3000-3010`, both ends included,
//!   or Spin's `3000..3010`, the end excluded), or nothing: the scheme's
//!   default (80 for http, 443 for https; with `*://` whichever the call
//!   uses).
//!
//! Matching is on the request's URL only. Which addresses a name may then
//! resolve to is the address filter's business (`super::addr`); the rules
//! that name an IP or a CIDR also let calls reach those addresses when
//! they are internal ([`AllowList::unlocks`]).

use ipnet::IpNet;
use std::net::IpAddr;

/// The syntax, for error messages.
const SYNTAX: &str = "write scheme://host[:port], e.g. \"https://api.example.com\", \"http://127.0.0.1:8081\", \"https://*.example.org\", \"http://10.0.0.0/8:*\" or \"http://localhost:3000-3010\"";

/// The `outbound-http` grant, parsed: which `scheme://host:port`
/// destinations an application may call. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
}

/// One rule of the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// As the operator wrote it, for log lines.
    text: String,
    /// `None`: any of http and https.
    scheme: Option<Scheme>,
    host: HostRule,
    port: PortRule,
}

/// The two schemes a guest may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https` (any case); anything else is `None`.
    pub fn parse(text: &str) -> Option<Scheme> {
        if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// `*`.
    Any,
    /// A name, lowercase, without a trailing dot.
    Name(String),
    /// `*.example.org`, kept as `.example.org`.
    Subdomains(String),
    /// An address (a range of one) or a CIDR range.
    Net(IpNet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    /// `*`.
    Any,
    /// No port written: the default port of the call's scheme.
    Default,
    /// From, to (both included).
    Range(u16, u16),
}

/// Where a request goes, as its URL says: the host is a name (lowercase,
/// without a trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A name to resolve.
    Name(String),
    /// An IP literal (an IPv4-mapped IPv6 address is kept as its IPv4).
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl AllowList {
    /// Parses the grant's rules; the error names the rule and the syntax.
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<AllowList, String> {
        let rules = rules
            .iter()
            .map(|rule| {
                let rule = rule.as_ref();
                Rule::parse(rule)
                    .map_err(|why| format!("outbound-http rule {rule:?}: {why}; {SYNTAX}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowList { rules })
    }

    /// Whether no destination is allowed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the operator's order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that lets a call reach `scheme://host:port`.
    pub fn allows(&self, scheme: Scheme, host: &Host, port: u16) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|rule| rule.scheme_and_port_match(scheme, port) && rule.host_matches(host))
    }

    /// Whether a rule naming an IP address or a CIDR range contains `ip`
    /// (for `scheme` and `port`): then the call may reach it even if it is
    /// internal (loopback, private...). A name, `*` or `*.domain` never
    /// does: `http://localhost:8080` does not make 127.0.0.1 reachable.
    pub fn unlocks(&self, scheme: Scheme, ip: IpAddr, port: u16) -> bool {
        let ip = canonical(ip);
        self.rules.iter().any(|rule| {
            matches!(&rule.host, HostRule::Net(net) if net.contains(&ip))
                && rule.scheme_and_port_match(scheme, port)
        })
    }
}

impl Rule {
    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn parse(text: &str) -> Result<Rule, String> {
        let trimmed = text.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or("it has no scheme (http://, https:// or *://)")?;
        let scheme = match scheme {
            "*" => None,
            other => Some(Scheme::parse(other).ok_or_else(|| {
                format!("the scheme {other:?} is not one a guest can call: use http, https or *")
            })?),
        };
        // A trailing slash is allowed (Spin allows it); any other path is not.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err("it has no host".to_owned());
        }
        if rest.contains(['@', '?', '#']) {
            return Err(
                "a rule is scheme://host[:port], with no user, query or fragment".to_owned(),
            );
        }
        let (host, port) = split_host_port(rest)?;
        Ok(Rule {
            text: trimmed.to_owned(),
            scheme,
            host: HostRule::parse(&host)?,
            port: PortRule::parse(port)?,
        })
    }

    fn scheme_and_port_match(&self, scheme: Scheme, port: u16) -> bool {
        self.scheme.is_none_or(|s| s == scheme)
            && match self.port {
                PortRule::Any => true,
                PortRule::Default => port == scheme.default_port(),
                PortRule::Range(from, to) => (from..=to).contains(&port),
            }
    }

    fn host_matches(&self, host: &Host) -> bool {
        match (&self.host, host) {
            (HostRule::Any, _) => true,
            (HostRule::Name(name), Host::Name(host)) => name == host,
            (HostRule::Subdomains(suffix), Host::Name(host)) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            (HostRule::Net(net), Host::Ip(ip)) => net.contains(&canonical(*ip)),
            _ => false,
        }
    }
}

/// `host` and the port text after it (empty when none): `[v6]:port`,
/// `[v6/len]`, `[v6]/len:port`, `host:port`, `a.b.c.d/len:port`.
fn split_host_port(rest: &str) -> Result<(String, &str), String> {
    let Some(bracketed) = rest.strip_prefix('[') else {
        return match rest.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                Err("an IPv6 address goes in brackets: http://[::1]:8080".to_owned())
            }
            Some((host, port)) => Ok((host.to_owned(), port)),
            None => Ok((rest.to_owned(), "")),
        };
    };
    let (inside, mut after) = bracketed
        .split_once(']')
        .ok_or("an IPv6 address opens `[` and never closes it")?;
    let mut host = inside.to_owned();
    // `[fd00::]/8`: the prefix length may follow the brackets.
    if let Some(len_and_port) = after.strip_prefix('/') {
        if inside.contains('/') {
            return Err(
                "a prefix length goes inside the brackets or after them, not both".to_owned(),
            );
        }
        let end = len_and_port.find(':').unwrap_or(len_and_port.len());
        host.push('/');
        host.push_str(&len_and_port[..end]);
        after = &len_and_port[end..];
    }
    if after.is_empty() {
        return Ok((host, ""));
    }
    let port = after
        .strip_prefix(':')
        .ok_or_else(|| format!("{after:?} after the host is not :port"))?;
    Ok((host, port))
}

impl HostRule {
    fn parse(host: &str) -> Result<HostRule, String> {
        if host.is_empty() {
            return Err("it has no host".to_owned());
        }
        if host == "*" {
            return Ok(HostRule::Any);
        }
        if let Some((address, _)) = host.split_once('/') {
            if address.parse::<IpAddr>().is_err() {
                return Err(format!(
                    "{host:?}: a rule has no path, only scheme, host and port"
                ));
            }
            let net: IpNet = host.parse().map_err(|_| {
                format!("{host:?} is not a CIDR range such as 10.0.0.0/8 or [fd00::/8]")
            })?;
            return Ok(HostRule::Net(net.trunc()));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(HostRule::Net(IpNet::from(canonical(ip))));
        }
        if let Some(domain) = host.strip_prefix("*.") {
            return Ok(HostRule::Subdomains(format!(".{}", name(domain)?)));
        }
        if host.contains('*') {
            return Err(format!(
                "{host:?}: a wildcard is the whole host (*) or a first label (*.example.org)"
            ));
        }
        Ok(HostRule::Name(name(host)?))
    }
}

/// A host name, checked and normalized: lowercase, no trailing dot.
fn name(text: &str) -> Result<String, String> {
    let text = text.strip_suffix('.').unwrap_or(text);
    let valid = !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid {
        return Err(format!("{text:?} is not a host name"));
    }
    Ok(text.to_ascii_lowercase())
}

impl PortRule {
    fn parse(port: &str) -> Result<PortRule, String> {
        if port.is_empty() {
            return Ok(PortRule::Default);
        }
        if port == "*" {
            return Ok(PortRule::Any);
        }
        let number = |text: &str| -> Result<u16, String> {
            match text.parse::<u16>() {
                Ok(0) | Err(_) => Err(format!("{text:?} is not a port (1 to 65535)")),
                Ok(n) => Ok(n),
            }
        };
        // Spin's `from..to` leaves `to` out; `from-to` includes it.
        let (from, to) = if let Some((from, to)) = port.split_once("..") {
            let to = number(to)?;
            (number(from)?, to.saturating_sub(1))
        } else if let Some((from, to)) = port.split_once('-') {
            (number(from)?, number(to)?)
        } else {
            let port = number(port)?;
            (port, port)
        };
        if from > to {
            return Err(format!("the port range {port:?} is empty"));
        }
        Ok(PortRule::Range(from, to))
    }
}

/// `ip`, with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as its IPv4:
/// both name the same host.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(rules: &[&str]) -> AllowList {
        AllowList::parse(rules).unwrap_or_else(|e| panic!("{e}"))
    }

    fn name(host: &str) -> Host {
        Host::Name(host.to_owned())
    }

    fn ip(text: &str) -> Host {
        Host::Ip(text.parse().unwrap())
    }

    use Scheme::{Http, Https};

    #[test]
    fn an_exact_host_with_the_default_port() {
        let allow = list(&["https://api.example.com"]);
        assert!(allow.allows(Https, &name("api.example.com"), 443).is_some());
        assert!(
            allow
                .allows(Https, &name("api.example.com"), 8443)
                .is_none()
        );
        assert!(
            allow.allows(Http, &name("api.example.com"), 80).is_none(),
            "scheme"
        );
        assert!(allow.allows(Https, &name("example.com"), 443).is_none());
        assert!(
            allow
                .allows(Https, &name("x.api.example.com"), 443)
                .is_none()
        );
        let http = list(&["http://api.example.com/"]);
        assert!(http.allows(Http, &name("api.example.com"), 80).is_some());
        assert!(http.allows(Http, &name("api.example.com"), 443).is_none());
        assert!(!allow.is_empty() && AllowList::default().is_empty());
    }

    #[test]
    fn names_are_case_insensitive() {
        let allow = list(&["https://API.Example.com."]);
        assert!(allow.allows(Https, &name("api.example.com"), 443).is_some());
    }

    #[test]
    fn a_wildcard_subdomain_is_not_the_bare_domain() {
        let allow = list(&["https://*.example.org"]);
        assert!(allow.allows(Https, &name("a.example.org"), 443).is_some());
        assert!(allow.allows(Https, &name("a.b.example.org"), 443).is_some());
        assert!(allow.allows(Https, &name("example.org"), 443).is_none());
        assert!(allow.allows(Https, &name("badexample.org"), 443).is_none());
        assert!(allow.allows(Https, &ip("93.184.216.34"), 443).is_none());
    }

    #[test]
    fn wildcard_schemes_hosts_and_ports() {
        let allow = list(&["*://example.com:*"]);
        assert!(allow.allows(Http, &name("example.com"), 1234).is_some());
        assert!(allow.allows(Https, &name("example.com"), 443).is_some());
        let any = list(&["*://*:*"]);
        assert!(any.allows(Http, &ip("8.8.8.8"), 53).is_some());
        assert!(any.allows(Https, &name("x.y"), 1).is_some());
        // `*://host` means the default port of the scheme used.
        let default = list(&["*://example.com"]);
        assert!(default.allows(Http, &name("example.com"), 80).is_some());
        assert!(default.allows(Https, &name("example.com"), 443).is_some());
        assert!(default.allows(Https, &name("example.com"), 80).is_none());
    }

    #[test]
    fn port_ranges() {
        let allow = list(&["http://localhost:3000-3010"]);
        assert!(allow.allows(Http, &name("localhost"), 3000).is_some());
        assert!(allow.allows(Http, &name("localhost"), 3010).is_some());
        assert!(allow.allows(Http, &name("localhost"), 3011).is_none());
        assert!(allow.allows(Http, &name("localhost"), 2999).is_none());
        // Spin's form leaves the end out.
        let spin = list(&["http://localhost:3000..3010"]);
        assert!(spin.allows(Http, &name("localhost"), 3009).is_some());
        assert!(spin.allows(Http, &name("localhost"), 3010).is_none());
    }

    #[test]
    fn addresses_and_cidr_ranges() {
        let allow = list(&["http://10.0.0.0/8:*", "http://127.0.0.1:8081"]);
        assert!(allow.allows(Http, &ip("10.1.2.3"), 9000).is_some());
        assert!(allow.allows(Http, &ip("11.0.0.1"), 9000).is_none());
        assert!(
            allow.allows(Https, &ip("10.1.2.3"), 443).is_none(),
            "scheme"
        );
        assert!(allow.allows(Http, &ip("127.0.0.1"), 8081).is_some());
        assert!(allow.allows(Http, &ip("127.0.0.1"), 8082).is_none());
        // A name that resolves there is not an address in the URL.
        assert!(allow.allows(Http, &name("localhost"), 8081).is_none());
        // The mapped form of an address is that address.
        assert!(allow.allows(Http, &ip("::ffff:10.0.0.1"), 1).is_some());
        assert!(allow.unlocks(Http, "10.9.9.9".parse().unwrap(), 80));
        assert!(allow.unlocks(Http, "::ffff:127.0.0.1".parse().unwrap(), 8081));
        assert!(!allow.unlocks(Http, "127.0.0.1".parse().unwrap(), 8082));
        assert!(!allow.unlocks(Https, "10.9.9.9".parse().unwrap(), 443));
        // A host name rule unlocks nothing.
        let by_name = list(&["http://localhost:8081", "*://*:*"]);
        assert!(!by_name.unlocks(Http, "127.0.0.1".parse().unwrap(), 8081));
    }

    #[test]
    fn ipv6_in_brackets() {
        let allow = list(&[
            "http://[::1]:8080",
            "https://[fd00::/8]",
            "http://[2001:db8::]/32:*",
        ]);
        assert!(allow.allows(Http, &ip("::1"), 8080).is_some());
        assert!(allow.allows(Http, &ip("::1"), 80).is_none());
        assert!(allow.allows(Https, &ip("fd12::1"), 443).is_some());
        assert!(allow.allows(Https, &ip("fe80::1"), 443).is_none());
        assert!(allow.allows(Http, &ip("2001:db8::5"), 1).is_some());
        assert!(allow.allows(Http, &ip("2001:db9::5"), 1).is_none());
        assert!(
            list(&["http://[::1]"])
                .allows(Http, &ip("::1"), 80)
                .is_some()
        );
    }

    #[test]
    fn bad_rules_name_the_rule_and_the_syntax() {
        for (rule, why) in [
            ("api.example.com", "no scheme"),
            ("ftp://example.com", "\"ftp\""),
            ("https://", "no host"),
            ("https://example.com/api", "no path"),
            ("https://example.com:http", "not a port"),
            ("https://example.com:0", "not a port"),
            ("https://example.com:70000", "not a port"),
            ("https://example.com:90-80", "empty"),
            ("https://api.*.example.com", "wildcard"),
            ("https://*example.com", "wildcard"),
            ("http://::1:80", "brackets"),
            ("http://[::1:80", "never closes"),
            ("http://10.0.0.0/33:*", "CIDR"),
            ("https://user@example.com", "no user"),
            ("https://exa mple.com", "not a host name"),
        ] {
            let err = AllowList::parse(&[rule]).unwrap_err();
            assert!(err.contains(&format!("{rule:?}")), "{rule}: {err}");
            assert!(err.contains(why), "{rule}: {err}");
            assert!(err.contains("scheme://host[:port]"), "{err}");
        }
    }

    #[test]
    fn the_matching_rule_is_named() {
        let allow = list(&["https://a.example", " https://*.example "]);
        let rule = allow.allows(Https, &name("b.example"), 443).unwrap();
        assert_eq!(rule.text(), "https://*.example");
    }
}
