//! `http.fetch`: outbound HTTP through the allowlist, with every hop and every address vetted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use url::Host;

use super::allowlist::{AllowList, Denied, Target};
use crate::capability::{HostError, HostFunctions};
use crate::error::ErrorCode;

/// Caps of outbound HTTP. Each holds inside the call's own deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCaps {
    /// Largest request body. By default 1 MiB. Over it: `payload_too_large`.
    pub max_request_bytes: usize,
    /// Largest response body read. By default 4 MiB. Over it: `payload_too_large`.
    pub max_response_bytes: usize,
    /// Fetches per call. By default 100. Over it: `host_call_limit_exceeded`, which ends the call.
    pub max_fetches: u64,
    /// Time to connect. By default 5 s. Over it: `timeout` for the guest to handle.
    pub connect_timeout: Duration,
    /// Time for a whole fetch, redirects and body included. By default 30 s. Over it: `timeout`.
    pub total_timeout: Duration,
    /// Redirects followed, each checked against the allowlist again. By default 5.
    pub max_redirects: usize,
}

impl Default for HttpCaps {
    fn default() -> Self {
        HttpCaps {
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            max_fetches: 100,
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// A grant of outbound HTTP to the hosts of an [`AllowList`] (`--allow-host`).
#[derive(Clone)]
pub struct HttpGrant {
    inner: Arc<GrantInner>,
}

struct GrantInner {
    allow: Arc<AllowList>,
    caps: HttpCaps,
    tls: rustls::ClientConfig,
}

impl HttpGrant {
    /// Grants HTTP to `allow` with the given caps. Build it once and reuse it: it holds the TLS
    /// configuration.
    ///
    /// # Errors
    ///
    /// `internal` when the TLS configuration cannot be built.
    pub fn new(allow: AllowList, caps: HttpCaps) -> crate::error::Result<Self> {
        let allow = Arc::new(allow);
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::error::Error::internal(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(HttpGrant {
            inner: Arc::new(GrantInner { allow, caps, tls }),
        })
    }

    /// The caps this grant enforces.
    pub fn caps(&self) -> HttpCaps {
        self.inner.caps
    }

    /// The host function `http.fetch` over this grant.
    pub(crate) fn functions(&self) -> HostFunctions {
        let inner = self.inner.clone();
        HostFunctions::new().asynchronous("http.fetch", move |args| {
            let inner = inner.clone();
            async move { inner.fetch(args).await }
        })
    }
}

/// Headers that carry credentials: dropped when a redirect leaves the origin they were sent to.
const SENSITIVE_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// A second line of defence behind the per-hop pinning: any name the client resolves by itself keeps
/// only addresses the allowlist accepts for some granted range.
struct VettingResolver {
    allow: Arc<AllowList>,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let vetted = keep_vetted(&host, resolved, |ip| allow.check_address(&host, ip))
                .map_err(|denied| Box::new(denied) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(vetted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolved addresses that `check` accepts; when none is left, the first refusal (or "no address").
fn keep_vetted(
    host: &str,
    resolved: Vec<SocketAddr>,
    check: impl Fn(std::net::IpAddr) -> Result<(), Denied>,
) -> Result<Vec<SocketAddr>, Denied> {
    let mut refused = None;
    let vetted: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| match check(addr.ip()) {
            Ok(()) => true,
            Err(denied) => {
                refused.get_or_insert(denied);
                false
            }
        })
        .collect();
    if vetted.is_empty() {
        return Err(refused.unwrap_or_else(|| Denied(format!("host `{host}` has no address"))));
    }
    Ok(vetted)
}

impl GrantInner {
    async fn fetch(&self, args: Value) -> crate::capability::HostResult {
        let request = Request::parse(&args, &self.caps)?;
        let fetched = self.send_within_time(request, true).await?;
        Ok(fetched.into_json())
    }

    /// [`GrantInner::send`] within the grant's total time.
    async fn send_within_time(
        &self,
        request: Request,
        follow_redirects: bool,
    ) -> Result<Fetched, HostError> {
        match tokio::time::timeout(
            self.caps.total_timeout,
            self.send(request, follow_redirects),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(HostError {
                code: ErrorCode::Timeout,
                message: format!("fetch took longer than {:?}", self.caps.total_timeout),
            }),
        }
    }

    /// A client for one hop: the hop's host name is resolved here, with the request's scheme, port and
    /// method known, and the connection may only go to the addresses that pass.
    async fn client_for(
        &self,
        target: &Target,
        method: &str,
    ) -> Result<reqwest::Client, HostError> {
        let mut builder = reqwest::Client::builder()
            // Never through a proxy from the environment: it would connect (and resolve) for us.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            // Anything not pinned below still goes through the vetting resolver.
            .dns_resolver(Arc::new(VettingResolver {
                allow: self.allow.clone(),
            }))
            .connect_timeout(self.caps.connect_timeout)
            .tls_backend_preconfigured(self.tls.clone());
        if let Host::Domain(name) = &target.host {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), target.port))
                .await
                .map_err(|e| HostError::new(format!("cannot resolve `{name}`: {e}")))?
                .collect();
            let vetted = keep_vetted(name, resolved, |ip| {
                self.allow.check_resolved(target, method, ip)
            })
            .map_err(|denied| HostError::denied(denied.0))?;
            builder = builder.resolve_to_addrs(name, &vetted);
        }
        builder
            .build()
            .map_err(|e| HostError::new(format!("cannot build the HTTP client: {e}")))
    }

    /// Sends `request`, following redirects (each checked again) when `follow_redirects` says so;
    /// otherwise a redirect is the response.
    async fn send(
        &self,
        mut request: Request,
        follow_redirects: bool,
    ) -> Result<Fetched, HostError> {
        let mut url = request.url.clone();
        for hop in 0..=self.caps.max_redirects {
            let target = self
                .allow
                .check_url(request.method.as_str(), &url)
                .map_err(|d| HostError::denied(d.0))?;
            // Send to the normalised name (no trailing dot), the one that was resolved and pinned.
            if let Host::Domain(name) = &target.host {
                url.set_host(Some(name))
                    .map_err(|e| HostError::invalid_input(format!("invalid host `{name}`: {e}")))?;
            }
            let client = self.client_for(&target, request.method.as_str()).await?;
            let mut builder = client.request(request.method.clone(), url.clone());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.map_err(|e| send_error(&url, e))?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let Some(location) = location.filter(|_| follow_redirects && status.is_redirection())
            else {
                return self.read(response).await;
            };
            if hop == self.caps.max_redirects {
                break;
            }
            let next = url
                .join(&location)
                .map_err(|e| HostError::new(format!("invalid redirect `{location}`: {e}")))?;
            if url.scheme() == "https" && next.scheme() == "http" {
                return Err(HostError::denied(format!(
                    "redirect from https to plain http (`{next}`) refused"
                )));
            }
            if next.origin() != url.origin() {
                // Credentials were meant for the first origin only.
                request
                    .headers
                    .retain(|(name, _)| !SENSITIVE_HEADERS.contains(&name.as_str()));
            }
            // 303, and 301/302 after anything but GET/HEAD, continue as a body-less GET.
            let keeps_method = matches!(status.as_u16(), 307 | 308)
                || matches!(request.method, reqwest::Method::GET | reqwest::Method::HEAD);
            if !keeps_method {
                request.method = reqwest::Method::GET;
                request.body = None;
            }
            url = next;
        }
        Err(HostError::new(format!(
            "more than {} redirects",
            self.caps.max_redirects
        )))
    }

    async fn read(&self, mut response: reqwest::Response) -> Result<Fetched, HostError> {
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HostError::new(format!("reading the response: {e}")))?
        {
            if body.len() + chunk.len() > self.caps.max_response_bytes {
                return Err(HostError {
                    code: ErrorCode::PayloadTooLarge,
                    message: format!(
                        "response body is larger than {} bytes",
                        self.caps.max_response_bytes
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }
}

/// A response read whole, within the grant's caps.
pub(crate) struct Fetched {
    pub(crate) status: reqwest::StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Fetched {
    /// The response as `http.fetch` answers: `{status, headers, body | body_base64}`, repeated headers
    /// joined with `, `.
    fn into_json(self) -> Value {
        let headers = capsa_wire::bytes::join_headers(
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        crate::capability::http_response_json(self.status.as_u16(), headers, self.body)
    }
}

impl HttpGrant {
    /// The hosts this grant allows.
    pub(crate) fn allow_list(&self) -> &AllowList {
        &self.inner.allow
    }

    /// Sends one request as a `wasi:http` outgoing request: through the allowlist and the vetted
    /// resolution like `http.fetch`, within the grant's caps, but without following redirects (the
    /// guest follows them itself, each as a new request checked again).
    pub(crate) fn send_once(
        &self,
        method: reqwest::Method,
        url: url::Url,
        headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
        body: Option<Vec<u8>>,
    ) -> impl Future<Output = Result<Fetched, HostError>> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            let request = Request {
                method,
                url,
                headers,
                body,
            };
            inner.send_within_time(request, false).await
        }
    }
}

fn send_error(url: &url::Url, e: reqwest::Error) -> HostError {
    // A refusal by the vetting resolver arrives wrapped in the connect error.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(denied) = err.downcast_ref::<Denied>() {
            return HostError::denied(denied.0.clone());
        }
        source = err.source();
    }
    let host = url.host_str().unwrap_or("?");
    if e.is_timeout() {
        return HostError {
            code: ErrorCode::Timeout,
            message: format!("connecting to `{host}` timed out"),
        };
    }
    HostError::new(format!("fetch from `{host}` failed: {e}"))
}

/// A guest's fetch request, checked.
struct Request {
    method: reqwest::Method,
    url: url::Url,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    body: Option<Vec<u8>>,
}

impl Request {
    fn parse(args: &Value, caps: &HttpCaps) -> Result<Request, HostError> {
        let url = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| HostError::invalid_input("`url` must be a string"))?;
        let url = url::Url::parse(url)
            .map_err(|e| HostError::denied(format!("invalid URL `{url}`: {e}")))?;
        let method = args.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HostError::invalid_input(format!("invalid method `{method}`")))?;
        let mut headers = Vec::new();
        if let Some(map) = args.get("headers").and_then(Value::as_object) {
            for (name, value) in map {
                let lower = name.to_ascii_lowercase();
                // The host and framing come from the URL and the body, never from the guest.
                if ["host", "content-length", "transfer-encoding", "connection"]
                    .contains(&lower.as_str())
                {
                    return Err(HostError::invalid_input(format!(
                        "header `{name}` may not be set"
                    )));
                }
                let value = value.as_str().ok_or_else(|| {
                    HostError::invalid_input(format!("header `{name}` must be a string"))
                })?;
                let name =
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        HostError::invalid_input(format!("invalid header name `{name}`"))
                    })?;
                let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                    HostError::invalid_input(format!("invalid value for header `{name}`"))
                })?;
                headers.push((name, value));
            }
        }
        let body = crate::capability::bytes_arg(args, "body")?;
        if let Some(body) = &body
            && body.len() > caps.max_request_bytes
        {
            return Err(HostError {
                code: ErrorCode::PayloadTooLarge,
                message: format!(
                    "request body is larger than {} bytes",
                    caps.max_request_bytes
                ),
            });
        }
        Ok(Request {
            method,
            url,
            headers,
            body,
        })
    }
}
