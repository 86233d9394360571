//! Host capabilities: everything a guest can reach outside its sandbox, each granted explicitly.
//!
//! Nothing is reachable by default. A [`Grants`] value lists what one call may use:
//! - **env**: named environment variables (the host's own environment never leaks in);
//! - **dirs**: host directories mounted at guest paths, read-only or read-write ([`DirGrant`]);
//! - **host functions**: named functions the embedding program registered ([`HostFunctions`]),
//!   reached through capsa's host-call ABI (`docs/abi.md`);
//! - **kv**: one namespace of a key-value store ([`kv::KvGrant`]), reached as the host functions
//!   `kv.get`, `kv.set`, `kv.delete` and `kv.list`;
//! - **http**: outbound HTTP to allowed hosts ([`http::HttpGrant`]), as the host function
//!   `http.fetch`, and as `wasi:http/outgoing-handler` for `wasi:http` components.
//!
//! Capabilities plug into the host-call ABI as named functions under a reserved prefix (`kv.`,
//! `http.`); a host function registered under such a name is never reached.
//!
//! Guest log lines (`capsa::log`) need no grant: they only add to the call's receipt, under its output cap.

mod host_fn;
pub mod http;
pub mod kv;

use std::path::PathBuf;
use std::str::FromStr;

pub(crate) use host_fn::Handler;
pub use host_fn::{HostError, HostFunctions, HostResult};

use capsa_wire::bytes;

use crate::error::Error;

/// What one call may reach outside its sandbox. Empty by default: deny everything.
#[derive(Clone, Default)]
pub struct Grants {
    pub(crate) env: Vec<(String, String)>,
    pub(crate) dirs: Vec<DirGrant>,
    pub(crate) host_functions: HostFunctions,
    /// Functions of granted capabilities (`kv.*`, `http.*`); they win over host functions of the same
    /// name.
    capabilities: HostFunctions,
    /// Per-call caps on the calls of one capability: (name prefix, most calls, what they are).
    pub(crate) call_caps: Vec<(&'static str, u64, &'static str)>,
    /// The HTTP grant, also used for a `wasi:http` component's outgoing requests.
    pub(crate) http: Option<http::HttpGrant>,
}

impl Grants {
    /// No grants at all.
    pub fn new() -> Self {
        Grants::default()
    }

    /// Grants the environment variable `key` with `value`. The guest sees exactly the granted
    /// variables and nothing of the host's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Mounts a host directory in the guest (see [`DirGrant`]).
    pub fn dir(mut self, dir: DirGrant) -> Self {
        self.dirs.push(dir);
        self
    }

    /// Lets the guest call these host functions by name. Calls to any other name fail with
    /// `capability_denied`.
    pub fn host_functions(mut self, functions: HostFunctions) -> Self {
        self.host_functions = functions;
        self
    }

    /// Grants one namespace of a key-value store (see [`kv::KvGrant`]). A later KV grant replaces an
    /// earlier one.
    pub fn kv(mut self, grant: kv::KvGrant) -> Self {
        self.capabilities = self.capabilities.merge(grant.functions());
        self
    }

    /// Grants outbound HTTP to the hosts of an allowlist (see [`http::HttpGrant`]), as the host
    /// function `http.fetch`. A later HTTP grant replaces an earlier one.
    pub fn http(mut self, grant: http::HttpGrant) -> Self {
        self.capabilities = self.capabilities.merge(grant.functions());
        self.call_caps.retain(|(prefix, _, _)| *prefix != "http.");
        self.call_caps
            .push(("http.", grant.caps().max_fetches, "fetches"));
        self.http = Some(grant);
        self
    }

    /// The handler a host call named `name` reaches, if it was granted.
    pub(crate) fn resolve(&self, name: &str) -> Option<&Handler> {
        if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            return self.capabilities.get(name);
        }
        self.host_functions.get(name)
    }
}

/// An HTTP response as JSON, the shape of `http.fetch` answers and of handler responses:
/// `{"status", "headers", "body" | "body_base64"}` (`capsa_wire::bytes`).
pub(crate) fn http_response_json(
    status: u16,
    headers: serde_json::Map<String, serde_json::Value>,
    body: Vec<u8>,
) -> serde_json::Value {
    let mut response = serde_json::Map::new();
    response.insert("status".into(), status.into());
    response.insert("headers".into(), headers.into());
    bytes::insert(&mut response, "body", body);
    response.into()
}

/// The bytes a guest sent as `field` or `{field}_base64` (`capsa_wire::bytes`); `None` when it sent
/// neither (or nulls).
pub(crate) fn bytes_arg(
    args: &serde_json::Value,
    field: &str,
) -> Result<Option<Vec<u8>>, HostError> {
    bytes::decode_value(args, field).map_err(|e| HostError::invalid_input(e.to_string()))
}

/// Name prefixes that belong to capsa's capabilities; custom host functions cannot use them.
const RESERVED_PREFIXES: [&str; 2] = ["kv.", "http."];

/// A host directory mounted in the guest: `HOST[:GUEST][:ro]` on the command line.
///
/// The guest sees the directory at `guest_path` and nothing above it: `..`, absolute paths and
/// symlinks that lead outside the mount are refused by the sandbox's filesystem layer, and the guest
/// cannot create a symlink whose target is absolute or contains `..`. A read-only mount refuses every
/// write, create, rename and delete.
///
/// The host path is opened once per sandbox, one component at a time, without following symlinks: a
/// path through a symlink is refused (grant the directory it points to), so nothing a guest writes
/// under one grant can re-point another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host_path: PathBuf,
    /// Where the guest sees it, e.g. `/data`. By default the host path as written.
    pub guest_path: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

impl DirGrant {
    /// A read-write mount of `host_path` at `guest_path`.
    pub fn new(host_path: impl Into<PathBuf>, guest_path: impl Into<String>) -> Self {
        DirGrant {
            host_path: host_path.into(),
            guest_path: guest_path.into(),
            read_only: false,
        }
    }

    /// Makes the mount read-only.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

impl FromStr for DirGrant {
    type Err = Error;

    /// Parses `HOST[:GUEST][:ro|:rw]`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut parts: Vec<&str> = s.split(':').collect();
        let mut read_only = false;
        if let Some(last) = parts.last().copied().filter(|_| parts.len() > 1)
            && (last == "ro" || last == "rw")
        {
            read_only = last == "ro";
            parts.pop();
        }
        let (host, guest) = match parts.as_slice() {
            [host] => (*host, *host),
            [host, guest] => (*host, *guest),
            _ => {
                return Err(Error::invalid_input(format!(
                    "invalid directory grant `{s}`: expected `HOST[:GUEST][:ro]`"
                )));
            }
        };
        if host.is_empty() || guest.is_empty() {
            return Err(Error::invalid_input(format!(
                "invalid directory grant `{s}`: empty path"
            )));
        }
        Ok(DirGrant {
            host_path: PathBuf::from(host),
            guest_path: guest.to_owned(),
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_grants_parse() {
        let g: DirGrant = "data".parse().unwrap();
        assert_eq!(g, DirGrant::new("data", "data"));
        let g: DirGrant = "./in:/input:ro".parse().unwrap();
        assert_eq!(g, DirGrant::new("./in", "/input").read_only());
        let g: DirGrant = "out:ro".parse().unwrap();
        assert_eq!(g, DirGrant::new("out", "out").read_only());
        let g: DirGrant = "/tmp/x:/x:rw".parse().unwrap();
        assert_eq!(g, DirGrant::new("/tmp/x", "/x"));
        for bad in ["", ":x", "a:", "a:b:c:ro", "a:b:c"] {
            assert!(bad.parse::<DirGrant>().is_err(), "{bad}");
        }
    }
}
