//! The outbound-HTTP allowlist: which scheme, host, port and method a request may use, and which
//! special addresses were granted.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::{Host, Url};

use super::address::{AddressClass, classify};
use crate::error::Error;

/// One allowlist entry: `[SCHEME://]HOST[:PORT][;methods=GET,POST]`.
///
/// `HOST` is a name (`api.example.com`, matched case-insensitively, IDN by its punycode, a trailing dot
/// ignored), a wildcard (`*.example.com`: any name *below* `example.com`, not `example.com` itself), or
/// an address range (`127.0.0.1`, `10.0.0.0/8`, `[::1]`, `[fd00::]/8`). Only address entries grant
/// special addresses (loopback, private, link-local, …): a name entry never lets a request reach them,
/// whatever the name resolves to. Without a scheme both `http` and `https` match; without a port, the
/// scheme's default port only; without methods, every method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: Option<u16>,
    methods: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Name(String),
    Below(String),
    Range { net: IpAddr, bits: u8 },
}

impl HostMatch {
    fn range_contains(&self, ip: IpAddr) -> bool {
        let HostMatch::Range { net, bits } = self else {
            return false;
        };
        match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(ip) & mask == u32::from(*net) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*bits)).unwrap_or(0);
                u128::from(ip) & mask == u128::from(*net) & mask
            }
            _ => false,
        }
    }
}

/// A host name as URLs compare it: IDNA-mapped to ASCII, lowercase, without a trailing dot.
fn normalize_name(name: &str) -> Option<String> {
    match Host::parse(name).ok()? {
        Host::Domain(domain) => Some(domain.trim_end_matches('.').to_owned()),
        _ => None,
    }
}

impl HostPattern {
    /// Whether this entry is an address range (`127.0.0.1`, `10.0.0.0/8`, `[::1]`): the only kind that
    /// lets requests reach special addresses (loopback, private, link-local, metadata).
    pub fn is_address_range(&self) -> bool {
        matches!(self.host, HostMatch::Range { .. })
    }
}

impl FromStr for HostPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid_input(format!("invalid allowed host `{s}`: {why}"));
        let (rest, methods) = match s.split_once(";methods=") {
            Some((rest, list)) => {
                let methods: Vec<String> = list
                    .split(',')
                    .map(|m| m.trim().to_ascii_uppercase())
                    .collect();
                if methods
                    .iter()
                    .any(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()))
                {
                    return Err(bad("methods are a comma-separated list such as `GET,POST`"));
                }
                (rest, Some(methods))
            }
            None => (s, None),
        };
        let (scheme, rest) = match rest.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                if scheme != "http" && scheme != "https" {
                    return Err(bad("the scheme must be `http` or `https`"));
                }
                (Some(scheme), rest)
            }
            None => (None, rest),
        };
        if rest.contains(['/', '@', '?', '#']) && !is_cidr(rest) {
            return Err(bad("give a host, not a URL with a path or credentials"));
        }
        // Split off the port: after `]` for IPv6, after the last `:` otherwise (a CIDR has none).
        let (host, port) = if let Some(end) = rest.find(']') {
            let (host, after) = rest.split_at(end + 1);
            let (suffix, port) = match after.split_once(':') {
                Some((suffix, port)) => (suffix, Some(port)),
                None => (after, None),
            };
            (format!("{host}{suffix}"), port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (rest.to_owned(), None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad("the port must be a number up to 65535"))
            })
            .transpose()?;
        let host =
            parse_host(&host).ok_or_else(|| bad("not a host name, `*.domain` or address range"))?;
        Ok(HostPattern {
            scheme,
            host,
            port,
            methods,
        })
    }
}

/// `ADDR/BITS`, optionally followed by `:PORT`.
fn is_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(_, rest)| {
        let bits = rest.split(':').next().unwrap_or("");
        !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn parse_host(host: &str) -> Option<HostMatch> {
    if let Some(domain) = host.strip_prefix("*.") {
        return normalize_name(domain)
            .filter(|d| d.contains('.') || !d.is_empty())
            .map(HostMatch::Below);
    }
    let (addr, bits) = match host.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok()?)),
        None => (host, None),
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = addr.parse::<IpAddr>() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        return (bits <= max).then_some(HostMatch::Range { net: ip, bits });
    }
    if bits.is_some() {
        return None;
    }
    // Whatever URL parsing would turn into an address (`127.1`, `0x7f.1`) is refused as a name.
    match Host::parse(host).ok()? {
        Host::Domain(domain) => Some(HostMatch::Name(domain.trim_end_matches('.').to_owned())),
        Host::Ipv4(_) | Host::Ipv6(_) => None,
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        match &self.host {
            HostMatch::Name(name) => f.write_str(name)?,
            HostMatch::Below(domain) => write!(f, "*.{domain}")?,
            HostMatch::Range {
                net: IpAddr::V6(v6),
                bits: 128,
            } => write!(f, "[{v6}]")?,
            HostMatch::Range {
                net: IpAddr::V6(v6),
                bits,
            } => write!(f, "[{v6}]/{bits}")?,
            HostMatch::Range { net, bits } if *bits == 32 => write!(f, "{net}")?,
            HostMatch::Range { net, bits } => write!(f, "{net}/{bits}")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(methods) = &self.methods {
            write!(f, ";methods={}", methods.join(","))?;
        }
        Ok(())
    }
}

/// Why a request or an address was refused. Reported to the guest as `capability_denied`, naming the
/// host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// A request that passed the allowlist: where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The normalised host: a lowercase ASCII name without a trailing dot, or an address.
    pub host: Host<String>,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: String,
}

/// What an allowlist entry is matched against besides the host.
struct Request<'a> {
    scheme: &'a str,
    port: u16,
    method: &'a str,
}

impl Request<'_> {
    fn matches(&self, p: &HostPattern) -> bool {
        p.scheme.as_deref().is_none_or(|s| s == self.scheme)
            && p.port
                .map_or(Some(self.port) == default_port(self.scheme), |p| {
                    p == self.port
                })
            && p.methods
                .as_ref()
                .is_none_or(|m| m.iter().any(|m| m == self.method))
    }
}

/// The hosts a call may reach over HTTP. Empty: nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<HostPattern>,
}

impl AllowList {
    /// An allowlist of `patterns`.
    pub fn new(patterns: impl IntoIterator<Item = HostPattern>) -> Self {
        AllowList {
            patterns: patterns.into_iter().collect(),
        }
    }

    /// Checks a request before anything is resolved or sent.
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the host when the URL is not `http(s)`, carries credentials, or matches no
    /// entry for its scheme, host, port and method; also for an address host that is special
    /// (loopback, private, …) and not inside a granted range.
    pub fn check(&self, method: &str, url: &str) -> Result<Target, Denied> {
        let url = Url::parse(url).map_err(|e| Denied(format!("invalid URL `{url}`: {e}")))?;
        self.check_url(method, &url)
    }

    /// As [`AllowList::check`], for a parsed URL (a redirect target, say).
    ///
    /// # Errors
    ///
    /// As [`AllowList::check`].
    pub fn check_url(&self, method: &str, url: &Url) -> Result<Target, Denied> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(Denied(format!(
                "scheme `{scheme}` is not allowed: only http and https"
            )));
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => Host::Domain(d.trim_end_matches('.').to_ascii_lowercase()),
            Some(Host::Ipv4(ip)) => Host::Ipv4(ip),
            Some(Host::Ipv6(ip)) => Host::Ipv6(ip),
            None => return Err(Denied(format!("URL `{url}` has no host"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Denied(format!(
                "credentials in the URL for host `{host}` are not allowed"
            )));
        }
        let Some(port) = url.port_or_known_default() else {
            return Err(Denied(format!("URL `{url}` has no port")));
        };
        let method = method.to_ascii_uppercase();
        let request = Request {
            scheme,
            port,
            method: &method,
        };
        let allowed = self.patterns.iter().any(|p| {
            request.matches(p)
                && match (&p.host, &host) {
                    (HostMatch::Name(name), Host::Domain(d)) => name == d,
                    (HostMatch::Below(domain), Host::Domain(d)) => {
                        d.len() > domain.len() + 1
                            && d.ends_with(domain.as_str())
                            && d.as_bytes()[d.len() - domain.len() - 1] == b'.'
                    }
                    (range @ HostMatch::Range { .. }, Host::Ipv4(ip)) => {
                        range.range_contains(IpAddr::V4(*ip))
                    }
                    (range @ HostMatch::Range { .. }, Host::Ipv6(ip)) => {
                        range.range_contains(IpAddr::V6(*ip))
                    }
                    _ => false,
                }
        });
        if !allowed {
            return Err(Denied(format!(
                "host `{host}` (port {port}, {method} over {scheme}) is not in the allowed hosts"
            )));
        }
        match host {
            Host::Ipv4(ip) => self.vet(&host.to_string(), IpAddr::V4(ip), Some(&request))?,
            Host::Ipv6(ip) => self.vet(&host.to_string(), IpAddr::V6(ip), Some(&request))?,
            Host::Domain(_) => {}
        }
        Ok(Target {
            host,
            port,
            scheme: scheme.to_owned(),
        })
    }

    /// Checks an address that `target`'s name resolved to, for a request with `method`: public
    /// addresses pass; special ones only inside a granted address range whose scheme, port and
    /// methods also allow this request.
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the host, the address and its class.
    pub fn check_resolved(&self, target: &Target, method: &str, ip: IpAddr) -> Result<(), Denied> {
        let method = method.to_ascii_uppercase();
        let request = Request {
            scheme: &target.scheme,
            port: target.port,
            method: &method,
        };
        self.vet(&target.host.to_string(), ip, Some(&request))
    }

    /// Checks an address a name resolved to, without knowing the request: special addresses pass only
    /// inside a granted address range (of any port). Prefer [`AllowList::check_resolved`].
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the host, the address and its class.
    pub fn check_address(&self, host: &str, ip: IpAddr) -> Result<(), Denied> {
        self.vet(host, ip, None)
    }

    /// Special addresses pass only inside a granted range, which must also allow `request` when known.
    fn vet(&self, host: &str, ip: IpAddr, request: Option<&Request<'_>>) -> Result<(), Denied> {
        let class = classify(ip);
        let granted =
            |p: &HostPattern| p.host.range_contains(ip) && request.is_none_or(|r| r.matches(p));
        if class == AddressClass::Public || self.patterns.iter().any(granted) {
            return Ok(());
        }
        Err(Denied(format!(
            "host `{host}` is at {ip}, a {class} address; grant that address range to reach it"
        )))
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}
